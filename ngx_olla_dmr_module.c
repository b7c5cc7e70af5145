
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * ngx_olla_dmr_module: nginx as an Olla-compatible gateway in front of
 * Docker Model Runner and other local LLM servers.  This file holds the
 * directives, the configuration structures and the init hooks; the work is
 * done in src/.
 */


#include "ngx_olla_dmr.h"

#if (defined __GLIBC__)
#include <malloc.h>
#endif


#ifndef NGX_OLLA_DMR_PROFILES_DIR
#define NGX_OLLA_DMR_PROFILES_DIR  "/usr/share/nginx/olla/profiles"
#endif

/* relative to the configuration prefix: /etc/nginx/olla on Debian */
#ifndef NGX_OLLA_DMR_OVERRIDE_DIR
#define NGX_OLLA_DMR_OVERRIDE_DIR  "olla"
#endif


static ngx_int_t ngx_olla_dmr_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_olla_dmr_postconfiguration(ngx_conf_t *cf);
static void *ngx_olla_dmr_create_main_conf(ngx_conf_t *cf);
static char *ngx_olla_dmr_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_olla_dmr_create_srv_conf(ngx_conf_t *cf);
static void *ngx_olla_dmr_create_loc_conf(ngx_conf_t *cf);
static char *ngx_olla_dmr_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_olla_dmr_route_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_olla_dmr_profiles_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_olla_dmr_override_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static size_t ngx_olla_dmr_err_in(const char *err, ngx_str_t *dir);
static ngx_int_t ngx_olla_dmr_load_profiles(ngx_conf_t *cf,
    ngx_olla_dmr_main_conf_t *omcf);
static void ngx_olla_dmr_free_profiles(void *data);
static ngx_int_t ngx_olla_dmr_check_routes(ngx_conf_t *cf,
    ngx_olla_dmr_main_conf_t *omcf);
#if (NGX_SSL)
static ngx_int_t ngx_olla_dmr_init_ssl(ngx_conf_t *cf,
    ngx_olla_dmr_main_conf_t *omcf);
#endif
static ngx_int_t ngx_olla_dmr_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_olla_dmr_init_process(ngx_cycle_t *cycle);
static void ngx_olla_dmr_exit_process(ngx_cycle_t *cycle);
static char *ngx_olla_dmr_size_or_off(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_olla_dmr_malloc_keep(ngx_cycle_t *cycle);


/* a "size | off" directive: its range, as said in its messages */

typedef struct {
    size_t       min;
    size_t       max;
    const char  *range;
    const char  *example;
} ngx_olla_dmr_size_range_t;


static ngx_olla_dmr_size_range_t  ngx_olla_dmr_malloc_keep_range = {
    NGX_OLLA_DMR_MALLOC_KEEP_MIN, NGX_OLLA_DMR_MALLOC_KEEP_MAX,
    "from 512k to 1024m", "128m"
};

static ngx_olla_dmr_size_range_t  ngx_olla_dmr_body_memory_range = {
    NGX_OLLA_DMR_BODY_MEMORY_MIN, NGX_OLLA_DMR_BODY_MEMORY_MAX,
    "from 1k to 1024m", "8m"
};


static char *ngx_olla_dmr_check_message_size(ngx_conf_t *cf, void *post,
    void *data);

static ngx_conf_post_t  ngx_olla_dmr_message_size_post = {
    ngx_olla_dmr_check_message_size
};


static ngx_command_t  ngx_olla_dmr_commands[] = {

    { ngx_string("olla_profiles"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_profiles_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_profiles_override"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_override_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_olla_dmr_main_conf_t, zone_size),
      NULL },

    { ngx_string("olla_malloc_keep"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_size_or_off,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_olla_dmr_main_conf_t, malloc_keep),
      &ngx_olla_dmr_malloc_keep_range },

    { ngx_string("olla_endpoint"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_olla_dmr_endpoint_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_load_balancer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_load_balancer_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_resident_first"),
      NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_olla_dmr_upstream_t, resident_first),
      NULL },

    { ngx_string("olla_affinity"),
      NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_olla_dmr_upstream_t, affinity),
      NULL },

    { ngx_string("olla_prewarm"),
      NGX_HTTP_UPS_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_olla_dmr_upstream_t, prewarm),
      NULL },

    { ngx_string("olla_queue"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE12,
      ngx_olla_dmr_queue_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_failover"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE123,
      ngx_olla_dmr_failover_directive,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_route_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_olla_dmr_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_passthrough"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_olla_dmr_loc_conf_t, passthrough),
      NULL },

    { ngx_string("olla_translation"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_olla_dmr_loc_conf_t, translation),
      NULL },

    { ngx_string("olla_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_olla_dmr_loc_conf_t, max_message_size),
      &ngx_olla_dmr_message_size_post },

    { ngx_string("olla_body_memory"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_size_or_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_olla_dmr_loc_conf_t, body_memory),
      &ngx_olla_dmr_body_memory_range },

    { ngx_string("olla_forward_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_olla_dmr_loc_conf_t, forward_credentials),
      NULL },

    { ngx_string("olla_stream_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_stream_idle_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_api_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_olla_dmr_api_keys_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("olla_cors_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_olla_dmr_cors_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_olla_dmr_module_ctx = {
    ngx_olla_dmr_preconfiguration,         /* preconfiguration */
    ngx_olla_dmr_postconfiguration,        /* postconfiguration */

    ngx_olla_dmr_create_main_conf,         /* create main configuration */
    ngx_olla_dmr_init_main_conf,           /* init main configuration */

    ngx_olla_dmr_create_srv_conf,          /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_olla_dmr_create_loc_conf,          /* create location configuration */
    ngx_olla_dmr_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_olla_dmr_module = {
    NGX_MODULE_V1,
    &ngx_olla_dmr_module_ctx,              /* module context */
    ngx_olla_dmr_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_olla_dmr_init_module,              /* init module */
    ngx_olla_dmr_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_olla_dmr_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_olla_dmr_preconfiguration(ngx_conf_t *cf)
{
    /* what proxy_pass and others write, for the checks (check.c) */

    if (ngx_olla_dmr_hooks_install(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_olla_dmr_add_variables(cf) != NGX_OK
        || ngx_olla_dmr_keys_variables(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_olla_dmr_stats_variables(cf);
}


static ngx_int_t
ngx_olla_dmr_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_olla_dmr_hooks_remove();

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);

    if (omcf->route_used) {
        ngx_olla_dmr_check_pooling(cf, omcf);

        if (omcf->cors_used && ngx_olla_dmr_cors_init(cf) != NGX_OK) {
            return NGX_ERROR;
        }

        cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_olla_dmr_route_handler;

        if (ngx_olla_dmr_stats_init(cf) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_olla_dmr_keys_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the filters pass through at once for requests without an Olla ctx */

    return ngx_olla_dmr_filter_init(cf);
}


static void *
ngx_olla_dmr_create_main_conf(ngx_conf_t *cf)
{
    ngx_olla_dmr_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_olla_dmr_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->profiles_dir = { 0, NULL };
     *     omcf->override_dir = { 0, NULL };
     *     omcf->override_file = NULL;
     *     omcf->profiles = NULL;
     *     omcf->shm_zone = NULL;
     *     omcf->nendpoints = 0;
     *     omcf->route_used = 0;
     */

    omcf->zone_size = NGX_CONF_UNSET_SIZE;
    omcf->malloc_keep = NGX_CONF_UNSET_SIZE;

    if (ngx_array_init(&omcf->upstreams, cf->pool, 4,
                       sizeof(ngx_olla_dmr_upstream_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&omcf->routes, cf->pool, 4,
                       sizeof(ngx_olla_dmr_loc_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&omcf->limit_zones, cf->pool, 2,
                       sizeof(ngx_olla_dmr_limit_zone_t))
        != NGX_OK)
    {
        return NULL;
    }

    return omcf;
}


static char *
ngx_olla_dmr_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_olla_dmr_main_conf_t  *omcf = conf;

    ngx_conf_init_size_value(omcf->zone_size, 1024 * 1024);
    ngx_conf_init_size_value(omcf->malloc_keep,
                             NGX_OLLA_DMR_MALLOC_KEEP_DEFAULT);

    if (omcf->zone_size < 64 * 1024) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"olla_zone\" size %uz is too small, "
                      "at least 64k is needed", omcf->zone_size);
        return NGX_CONF_ERROR;
    }

    if (omcf->upstreams.nelts == 0 && !omcf->route_used
        && omcf->profiles_dir.len == 0 && omcf->override_dir.len == 0)
    {
        /* the module is loaded but not used: nothing to pay for */
        return NGX_CONF_OK;
    }

    if (ngx_olla_dmr_load_profiles(cf, omcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_olla_dmr_resolve_endpoints(cf, omcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_olla_dmr_check_routes(cf, omcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (omcf->nendpoints == 0) {
        return NGX_CONF_OK;
    }


#if (NGX_SSL)
    if (ngx_olla_dmr_init_ssl(cf, omcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
#endif

    /* the zone's init lays out the upstreams' wait queues too */
    omcf->queue_init_zone = ngx_olla_dmr_queue_init_zone;

    if (ngx_olla_dmr_shm_add(cf, omcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_olla_dmr_create_srv_conf(ngx_conf_t *cf)
{
    ngx_olla_dmr_upstream_t  *ups;

    ups = ngx_pcalloc(cf->pool, sizeof(ngx_olla_dmr_upstream_t));
    if (ups == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ups->uscf = NULL;
     *     ups->endpoints = { 0 };
     *     ups->lb_set = 0;
     *     ups->initialized = 0;
     */

    ups->lb = OLLA_PICK_LEAST_CONN;
    ups->resident_first = NGX_CONF_UNSET;
    ups->affinity = NGX_CONF_UNSET;
    ups->prewarm = NGX_CONF_UNSET;

    return ups;
}


static void *
ngx_olla_dmr_create_loc_conf(ngx_conf_t *cf)
{
    ngx_olla_dmr_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_olla_dmr_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     olcf->ups = NULL;
     *     olcf->route_name = { 0, NULL };
     */

    olcf->status = NGX_CONF_UNSET;
    olcf->passthrough = NGX_CONF_UNSET;
    olcf->translation = NGX_CONF_UNSET;
    olcf->max_message_size = NGX_CONF_UNSET_SIZE;
    olcf->body_memory = NGX_CONF_UNSET_SIZE;
    olcf->forward_credentials = NGX_CONF_UNSET;
    olcf->api_keys = NGX_CONF_UNSET_PTR;
    olcf->cors = NGX_CONF_UNSET_PTR;
    olcf->stream_idle_timeout = NGX_CONF_UNSET_MSEC;

    ngx_olla_dmr_seen_init(&olcf->seen);

    return olcf;
}


static char *
ngx_olla_dmr_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_olla_dmr_loc_conf_t  *prev = parent;
    ngx_olla_dmr_loc_conf_t  *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    /*
     * olla_route and olla_status are not inherited, as proxy_pass is not;
     * but an "if" or "limit_except" block of an olla_route location routes
     * too, as proxy_pass goes on in it
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->noname && conf->route_name.data == NULL
        && prev->route_name.data)
    {
        conf->ups = prev->ups;
        conf->route_name = prev->route_name;
        conf->conf_file = prev->conf_file;
        conf->conf_line = prev->conf_line;
        conf->loc_name = prev->loc_name;
        conf->loc_srv = prev->loc_srv;
        conf->loc_core = prev->loc_core;
    }

    if (conf->status == NGX_CONF_UNSET) {
        conf->status = 0;
    }

    ngx_conf_merge_value(conf->passthrough, prev->passthrough, 1);
    ngx_conf_merge_value(conf->translation, prev->translation, 1);
    ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size,
                              10 * 1024 * 1024);
    ngx_conf_merge_size_value(conf->body_memory, prev->body_memory,
                              NGX_OLLA_DMR_BODY_MEMORY);
    ngx_conf_merge_value(conf->forward_credentials,
                         prev->forward_credentials, 0);
    ngx_conf_merge_ptr_value(conf->api_keys, prev->api_keys, NULL);
    ngx_conf_merge_ptr_value(conf->cors, prev->cors, NULL);

    /* unset: each endpoint's profile says (stream_idle_timeout) */
    ngx_conf_merge_msec_value(conf->stream_idle_timeout,
                              prev->stream_idle_timeout, NGX_CONF_UNSET_MSEC);

    return ngx_olla_dmr_seen_merge(cf, prev, conf);
}


static char *
ngx_olla_dmr_check_message_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp < 1 || *sp > 100 * 1024 * 1024) {
        return "must be between 1 and 100m";
    }

    return NGX_CONF_OK;
}


static char *
ngx_olla_dmr_profiles_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_olla_dmr_main_conf_t  *omcf = conf;

    ngx_str_t  *value;

    if (omcf->profiles_dir.data) {
        return "is duplicate";
    }

    if (omcf->upstreams.nelts) {
        return "must come before the upstream blocks that use "
               "\"olla_endpoint\"";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a directory, not an empty string";
    }

    omcf->profiles_dir = value[1];
    omcf->profiles_file = cf->conf_file->file.name.data;
    omcf->profiles_line = cf->conf_file->line;

    if (ngx_conf_full_name(cf->cycle, &omcf->profiles_dir, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_olla_dmr_override_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_olla_dmr_main_conf_t  *omcf = conf;

    ngx_str_t  *value;

    if (omcf->override_file) {
        return "is duplicate";
    }

    if (omcf->upstreams.nelts) {
        return "must come before the upstream blocks that use "
               "\"olla_endpoint\"";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a directory or \"off\", not an empty string";
    }

    omcf->override_file = cf->conf_file->file.name.data;
    omcf->override_line = cf->conf_file->line;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        return NGX_CONF_OK;
    }

    omcf->override_dir = value[1];

    if (ngx_conf_full_name(cf->cycle, &omcf->override_dir, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_olla_dmr_route_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_olla_dmr_loc_conf_t  *olcf = conf;

    ngx_str_t                  *value;
    ngx_url_t                   u;
    ngx_olla_dmr_loc_conf_t   **rp;
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_http_core_loc_conf_t   *clcf;

    if (olcf->route_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->exact_match || clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
        return "is only allowed in a prefix location such as "
               "\"location /olla/\"";
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 80;
    u.no_resolve = 1;

    /* the same upstream "proxy_pass http://NAME" refers to */

    if (ngx_http_upstream_add(cf, &u, 0) == NULL) {
        return NGX_CONF_ERROR;
    }

    olcf->route_name = value[1];
    olcf->conf_file = cf->conf_file->file.name.data;
    olcf->conf_line = cf->conf_file->line;
    olcf->loc_name = clcf->name;
    olcf->loc_core = clcf;
    olcf->loc_srv = ngx_http_conf_get_module_srv_conf(cf,
                                                      ngx_http_core_module);

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);
    omcf->route_used = 1;

    /* resolved in init_main_conf, once every upstream block is known */

    rp = ngx_array_push(&omcf->routes);
    if (rp == NULL) {
        return NGX_CONF_ERROR;
    }

    *rp = olcf;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_olla_dmr_load_profiles(ngx_conf_t *cf, ngx_olla_dmr_main_conf_t *omcf)
{
    char                  err[OLLA_PROFILE_ERRLEN];
    u_char               *dir, *over;
    ngx_pool_cleanup_t   *cln;

    if (omcf->profiles_dir.len == 0) {
        ngx_str_set(&omcf->profiles_dir, NGX_OLLA_DMR_PROFILES_DIR);
    }

    if (omcf->override_file == NULL) {
        ngx_str_set(&omcf->override_dir, NGX_OLLA_DMR_OVERRIDE_DIR);

        if (ngx_conf_full_name(cf->cycle, &omcf->override_dir, 1) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    dir = ngx_pnalloc(cf->pool, omcf->profiles_dir.len + 1);
    if (dir == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dir, omcf->profiles_dir.data, omcf->profiles_dir.len);
    dir[omcf->profiles_dir.len] = '\0';

    over = NULL;

    if (omcf->override_dir.len) {
        over = ngx_pnalloc(cf->pool, omcf->override_dir.len + 1);
        if (over == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(over, omcf->override_dir.data, omcf->override_dir.len);
        over[omcf->override_dir.len] = '\0';
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* a missing default directory means no overrides, as does "off" */

    omcf->profiles = olla_profiles_load_dirs((char *) dir, (char *) over,
                                             omcf->override_file != NULL,
                                             err, sizeof(err));

    if (omcf->profiles == NULL) {

        /* named after the directory at fault, and where it was set */

        if (ngx_olla_dmr_err_in(err, &omcf->override_dir)
            > ngx_olla_dmr_err_in(err, &omcf->profiles_dir))
        {
            ngx_olla_dmr_conf_error(cf, omcf->override_file,
                                    omcf->override_line,
                                    "olla_profiles_override: %s", err);

        } else {
            ngx_olla_dmr_conf_error(cf, omcf->profiles_file,
                                    omcf->profiles_line,
                                    "olla_profiles: %s", err);
        }

        return NGX_ERROR;
    }

    cln->handler = ngx_olla_dmr_free_profiles;
    cln->data = omcf->profiles;

    return NGX_OK;
}


/*
 * whether a loader message is about dir or a file in it ("DIR: ...",
 * "DIR/NAME.yaml:3:1: ..."): the length of dir matched, or 0
 */

static size_t
ngx_olla_dmr_err_in(const char *err, ngx_str_t *dir)
{
    size_t  len;

    len = dir->len;

    while (len > 1 && dir->data[len - 1] == '/') {
        len--;
    }

    if (len == 0 || ngx_strncmp(err, dir->data, len) != 0) {
        return 0;
    }

    if (err[len] == ':' || err[len] == '/' || dir->data[len - 1] == '/') {
        return len;
    }

    return 0;
}


static void
ngx_olla_dmr_free_profiles(void *data)
{
    olla_profiles_free(data);
}


static ngx_int_t
ngx_olla_dmr_check_routes(ngx_conf_t *cf, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_uint_t                      i, j;
    ngx_olla_dmr_upstream_t        *ups;
    ngx_olla_dmr_loc_conf_t       **routes;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;
    routes = omcf->routes.elts;

    for (i = 0; i < omcf->routes.nelts; i++) {

        ups = NULL;

        for (j = 0; j < umcf->upstreams.nelts; j++) {
            if (uscfp[j]->host.len == routes[i]->route_name.len
                && ngx_strncasecmp(uscfp[j]->host.data,
                                   routes[i]->route_name.data,
                                   routes[i]->route_name.len)
                   == 0
                && uscfp[j]->srv_conf)
            {
                ups = ngx_http_conf_upstream_srv_conf(uscfp[j],
                                                      ngx_olla_dmr_module);
                break;
            }
        }

        if (ups == NULL || ups->endpoints.nelts == 0) {
            ngx_olla_dmr_conf_error(cf, routes[i]->conf_file,
                                    routes[i]->conf_line,
                                    "\"olla_route\" needs an upstream block "
                                    "with \"olla_endpoint\" lines, "
                                    "\"%V\" has none",
                                    &routes[i]->route_name);
            return NGX_ERROR;
        }

        routes[i]->ups = ups;
    }

    return NGX_OK;
}


#if (NGX_SSL)

static ngx_int_t
ngx_olla_dmr_init_ssl(ngx_conf_t *cf, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_uint_t                 i, j, https;
    ngx_pool_cleanup_t        *cln;
    ngx_olla_dmr_upstream_t  **upsp;
    ngx_olla_dmr_endpoint_t   *ep;

#if (NGX_HTTP_SSL)

    /* TLS sessions kept for reuse with https endpoints */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_olla_dmr_free_sessions;
    cln->data = omcf;

#endif

    https = 0;
    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            https |= ep[j].https;
        }
    }

    if (!https) {
        return NGX_OK;
    }

    omcf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (omcf->ssl == NULL) {
        return NGX_ERROR;
    }

    omcf->ssl->log = cf->log;

    if (ngx_ssl_create(omcf->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(omcf->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = omcf->ssl;

    return NGX_OK;
}

#endif


static ngx_int_t
ngx_olla_dmr_init_module(ngx_cycle_t *cycle)
{
    return ngx_olla_dmr_queue_init_module(cycle);
}


static ngx_int_t
ngx_olla_dmr_init_process(ngx_cycle_t *cycle)
{
    ngx_olla_dmr_malloc_keep(cycle);

    if (ngx_olla_dmr_queue_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_olla_dmr_health_init_process(cycle);
}


static void
ngx_olla_dmr_exit_process(ngx_cycle_t *cycle)
{
    ngx_olla_dmr_health_exit_process(cycle);
}


/*
 * "olla_malloc_keep" and "olla_body_memory": a size within the command's
 * range (cmd->post), or off (0)
 */

static char *
ngx_olla_dmr_size_or_off(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    size_t                     *sp;
    ssize_t                     size;
    ngx_str_t                  *value;
    ngx_olla_dmr_size_range_t  *range;

    sp = (size_t *) (p + cmd->offset);
    range = cmd->post;

    if (*sp != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcasecmp(value[1].data, (u_char *) "off") == 0) {
        *sp = 0;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" in \"%V\", a size such as "
                           "%s or \"off\" is expected",
                           &value[1], &cmd->name, range->example);
        return NGX_CONF_ERROR;
    }

    if ((size_t) size < range->min || (size_t) size > range->max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" size \"%V\" is out of range: %s, or "
                           "\"off\"", &cmd->name, &value[1], range->range);
        return NGX_CONF_ERROR;
    }

    *sp = (size_t) size;

    return NGX_CONF_OK;
}


/*
 * olla_malloc_keep SIZE | off: a worker's heap keeps up to SIZE of freed
 * memory for the next requests, and blocks up to a quarter of SIZE (32m
 * at most) come from it.  With glibc's defaults a block above its mmap
 * threshold (128k at first, raised as such blocks are freed) is a fresh
 * mapping, and the heap goes back to the kernel as soon as twice that
 * threshold is free at its top: requests that read a body of hundreds of
 * kilobytes, parse it and write a new one (translation) paid for every
 * page of those blocks in page faults, each time (BENCHMARKS.md).
 */

static void
ngx_olla_dmr_malloc_keep(ngx_cycle_t *cycle)
{
    size_t                     keep, block;
    ngx_olla_dmr_main_conf_t  *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_olla_dmr_module);

    if (omcf == NULL || omcf->malloc_keep == 0
        || (omcf->upstreams.nelts == 0 && !omcf->route_used))
    {
        /* off, or the module is loaded and not used */
        return;
    }

    keep = omcf->malloc_keep;
    block = ngx_min(keep / 4, NGX_OLLA_DMR_MMAP_MAX);

#if (defined __GLIBC__ && defined M_MMAP_THRESHOLD && defined M_TRIM_THRESHOLD)

    /* setting either ends glibc's own adjustment of both: set both */

    if (mallopt(M_MMAP_THRESHOLD, (int) block) == 0
        || mallopt(M_TRIM_THRESHOLD, (int) keep) == 0)
    {
        /* an allocator in glibc's place (AddressSanitizer's) */
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "olla_malloc_keep %uz: the allocator refused it, "
                      "its defaults stay", keep);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "olla_malloc_keep %uz: the heap keeps up to that much "
                  "freed, blocks up to %uz come from it", keep, block);

#else

    ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                  "olla_malloc_keep %uz: not glibc, the C library's "
                  "defaults stay", keep);

#endif
}
