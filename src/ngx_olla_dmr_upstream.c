
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The Olla upstream: olla_endpoint and olla_load_balancer inside
 * "upstream {}", and a balancer in the pattern of nginx's least_conn
 * module (the directive sets init_upstream, init_upstream sets the
 * per-request init, which installs get and free).  The module owns its
 * peer list instead of nginx's round-robin peers: endpoints carry a type,
 * a priority, health and a model list.  ngx_olla_dmr_pick() gathers each
 * endpoint's facts from the shared zone and asks the policy of olla_pick.c
 * which one takes the request; olla_route asks once, before nginx asks
 * for a peer, and "get" asks again for every retry.  The chosen endpoint
 * holds an in-flight slot (its concurrency limit counts across workers)
 * until "free".  Because no round-robin peer is ever handed out, the
 * 1.27.3+ peer reference counting of the round-robin module does not
 * apply here.
 */


#include "ngx_olla_dmr.h"


typedef struct {
    ngx_http_request_t          *request;
    ngx_olla_dmr_ctx_t          *ctx;
    ngx_olla_dmr_upstream_t     *ups;

    /* failover: the request's copy of the proxy conf, what it said */
    ngx_http_upstream_conf_t    *conf;
    ngx_uint_t                   next_upstream;
    ngx_http_upstream_t         *u;
    ngx_int_t                  (*process_header)(ngx_http_request_t *r);
    ngx_int_t                  (*reinit_request)(ngx_http_request_t *r);
    unsigned                     body_wait:1;    /* a 404's body to come */
} ngx_olla_dmr_peer_data_t;


/* the answers olla_failover decides about, as proxy_next_upstream bits */
#define NGX_OLLA_DMR_FT_MASK                                                 \
    (NGX_HTTP_UPSTREAM_FT_HTTP_500|NGX_HTTP_UPSTREAM_FT_HTTP_502              \
     |NGX_HTTP_UPSTREAM_FT_HTTP_503|NGX_HTTP_UPSTREAM_FT_HTTP_504             \
     |NGX_HTTP_UPSTREAM_FT_HTTP_404|NGX_HTTP_UPSTREAM_FT_HTTP_429)

/* a backend's Retry-After keeps its endpoint out at most this long, s */
#define NGX_OLLA_DMR_REST_MAX         300

/* olla_failover defaults: 3 endpoints at most, failures within 5s */
#define NGX_OLLA_DMR_FAILOVER_TRIES   3
#define NGX_OLLA_DMR_FAILOVER_FAST    5000


static ngx_int_t ngx_olla_dmr_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_olla_dmr_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_olla_dmr_send_request(void *data, ngx_chain_t *in);
static ngx_int_t ngx_olla_dmr_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_olla_dmr_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static void ngx_olla_dmr_release_cleanup(void *data);
static void ngx_olla_dmr_release_next(ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_failover_check(ngx_http_request_t *r,
    ngx_olla_dmr_peer_data_t *pd);
static ngx_olla_dmr_endpoint_t *ngx_olla_dmr_reserve_next(
    ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx);
static void ngx_olla_dmr_rest(ngx_http_request_t *r,
    ngx_olla_dmr_endpoint_t *ep);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_olla_dmr_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_olla_dmr_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static char *ngx_olla_dmr_parse_url(ngx_conf_t *cf,
    ngx_olla_dmr_endpoint_t *ep, ngx_str_t *url);
static ngx_int_t ngx_olla_dmr_check_order(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_olla_dmr_upstream_t *ups,
    ngx_str_t *name);
static ngx_olla_dmr_facts_t *ngx_olla_dmr_model_facts(
    ngx_olla_dmr_main_conf_t *omcf, const olla_profile_t *p,
    ngx_str_t *model, ngx_olla_dmr_facts_t *tmp);
static ngx_int_t ngx_olla_dmr_reserve(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_endpoint_t *ep, ngx_uint_t limit);
static ngx_uint_t ngx_olla_dmr_param(ngx_str_t *value, const char *name,
    ngx_str_t *arg);
static char *ngx_olla_dmr_parse_preload(ngx_conf_t *cf,
    ngx_olla_dmr_endpoint_t *ep, ngx_str_t *param, ngx_str_t *list);


/* the balancers, by OLLA_PICK_* value */
static ngx_str_t  ngx_olla_dmr_lb_names[] = {
    ngx_string("least-connections"),      /* OLLA_PICK_LEAST_CONN */
    ngx_string("round-robin"),            /* OLLA_PICK_ROUND_ROBIN */
    ngx_string("priority"),               /* OLLA_PICK_PRIORITY */
};


/*
 * Whether the upstream pools connections: a "keepalive" in it wrapped the
 * module's init_upstream
 */

ngx_uint_t
ngx_olla_dmr_upstream_pooled(ngx_olla_dmr_upstream_t *ups)
{
    return ups->uscf->peer.init_upstream != NULL
           && ups->uscf->peer.init_upstream != ngx_olla_dmr_init_upstream;
}


/* the balancer's name, as Olla writes it */

ngx_str_t *
ngx_olla_dmr_lb_name(ngx_uint_t lb)
{
    if (lb >= sizeof(ngx_olla_dmr_lb_names) / sizeof(ngx_str_t)) {
        lb = OLLA_PICK_LEAST_CONN;
    }

    return &ngx_olla_dmr_lb_names[lb];
}


static ngx_int_t
ngx_olla_dmr_check_order(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *uscf,
    ngx_olla_dmr_upstream_t *ups, ngx_str_t *name)
{
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_olla_dmr_upstream_t   **upsp;

    if (uscf->peer.init_upstream
        && uscf->peer.init_upstream != ngx_olla_dmr_init_upstream)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must come before \"keepalive\" and is "
                           "not combined with another balancing method "
                           "(least_conn, hash, ip_hash, random)", name);
        return NGX_ERROR;
    }

    /* each olla_endpoint adds a server entry (nginx wants one at least) */

    if (uscf->servers && uscf->servers->nelts != ups->endpoints.nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be mixed with \"server\" lines "
                           "in one upstream; use \"olla_endpoint\" for "
                           "every backend", name);
        return NGX_ERROR;
    }

    if (ups->uscf == NULL) {
        ups->uscf = uscf;
        ups->conf_file = cf->conf_file->file.name.data;
        ups->conf_line = cf->conf_file->line;

        if (ngx_array_init(&ups->endpoints, cf->pool, 4,
                           sizeof(ngx_olla_dmr_endpoint_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);

        upsp = ngx_array_push(&omcf->upstreams);
        if (upsp == NULL) {
            return NGX_ERROR;
        }

        *upsp = ups;
    }

    uscf->peer.init_upstream = ngx_olla_dmr_init_upstream;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE;

    return NGX_OK;
}


char *
ngx_olla_dmr_load_balancer_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_olla_dmr_upstream_t  *ups = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (ups->lb_set) {
        return "is duplicate";
    }

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (ngx_olla_dmr_check_order(cf, uscf, ups, &cmd->name) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 0; i < sizeof(ngx_olla_dmr_lb_names) / sizeof(ngx_str_t); i++) {
        if (value[1].len == ngx_olla_dmr_lb_names[i].len
            && ngx_strncmp(value[1].data, ngx_olla_dmr_lb_names[i].data,
                           value[1].len)
               == 0)
        {
            ups->lb = i;
            ups->lb_set = 1;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid balancer \"%V\", expected "
                       "\"least-connections\", \"round-robin\" or "
                       "\"priority\"", &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * olla_failover [on] [tries=N] [fast=TIME] | off (upstream): a request
 * whose endpoint answers 429, 5xx or "model not found" within TIME is
 * tried on another endpoint of its type, on N endpoints at most
 */

char *
ngx_olla_dmr_failover_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_olla_dmr_upstream_t  *ups = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_msec_t   ms;

    if (ups->failover_set) {
        return "is duplicate";
    }

    ups->failover_set = 1;
    ups->failover_tries = NGX_OLLA_DMR_FAILOVER_TRIES;
    ups->failover_fast = NGX_OLLA_DMR_FAILOVER_FAST;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (i == 1 && value[i].len == 3
            && ngx_strncmp(value[i].data, "off", 3) == 0)
        {
            if (cf->args->nelts > 2) {
                return "takes no parameters after \"off\"";
            }

            ups->failover_tries = 0;
            return NGX_CONF_OK;
        }

        if (i == 1 && value[i].len == 2
            && ngx_strncmp(value[i].data, "on", 2) == 0)
        {
            continue;
        }

        if (ngx_olla_dmr_param(&value[i], "tries=", &s)) {
            n = ngx_atoi(s.data, s.len);

            if (n == NGX_ERROR || n < 2 || n > 16) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": the endpoints a request "
                                   "may try, the first included, from 2 to "
                                   "16", &value[i]);
                return NGX_CONF_ERROR;
            }

            ups->failover_tries = n;
            continue;
        }

        if (ngx_olla_dmr_param(&value[i], "fast=", &s)) {
            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms > 600 * 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a time up to 10m such "
                                   "as \"5s\" is expected", &value[i]);
                return NGX_CONF_ERROR;
            }

            ups->failover_fast = ms;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; olla_failover takes "
                           "[on] [tries=N] [fast=TIME] or \"off\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_olla_dmr_endpoint_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_olla_dmr_upstream_t  *ups = conf;

    char                          *rv;
    ngx_int_t                      n;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i, is_model, is_interval;
    ngx_msec_t                     ms;
    ngx_olla_dmr_endpoint_t       *ep, *other;
    ngx_http_upstream_server_t    *us;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (ngx_olla_dmr_check_order(cf, uscf, ups, &cmd->name) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ep = ngx_array_push(&ups->endpoints);
    if (ep == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(ep, sizeof(ngx_olla_dmr_endpoint_t));

    ep->index = ups->endpoints.nelts - 1;
    ep->upstream = ups;
    ep->priority = -1;
    ep->interval = NGX_CONF_UNSET_MSEC;
    ep->timeout = NGX_CONF_UNSET_MSEC;
    ep->conf_file = cf->conf_file->file.name.data;
    ep->conf_line = cf->conf_file->line;

    value = cf->args->elts;

    rv = ngx_olla_dmr_parse_url(cf, ep, &value[1]);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len == 0 || s.len > 128) {
                goto invalid;
            }

            for (n = 0; n < (ngx_int_t) s.len; n++) {
                if (s.data[n] <= 0x20 || s.data[n] >= 0x7f
                    || s.data[n] == '"' || s.data[n] == '\\')
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "endpoint name \"%V\" must be "
                                       "visible ASCII without quotes",
                                       &s);
                    return NGX_CONF_ERROR;
                }
            }

            ep->name = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "type=", 5) == 0) {
            ep->type.data = value[i].data + 5;
            ep->type.len = value[i].len - 5;

            if (ep->type.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "priority=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n == NGX_ERROR || n > 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": priority must be an "
                                   "integer from 0 to 1000", &value[i]);
                return NGX_CONF_ERROR;
            }

            ep->priority = n;
            continue;
        }

        is_model = ngx_olla_dmr_param(&value[i], "model_url=", &s);

        if (is_model || ngx_olla_dmr_param(&value[i], "health_check_url=", &s))
        {
            if (s.len == 0 || s.data[0] != '/') {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a path starting with "
                                   "\"/\" is expected", &value[i]);
                return NGX_CONF_ERROR;
            }

            for (n = 0; n < (ngx_int_t) s.len; n++) {
                if (s.data[n] <= 0x20 || s.data[n] >= 0x7f) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid \"%V\": the path has "
                                       "spaces or control characters",
                                       &value[i]);
                    return NGX_CONF_ERROR;
                }
            }

            if (is_model) {
                ep->model_url = s;

            } else {
                ep->health_url = s;
            }

            continue;
        }

        is_interval = ngx_olla_dmr_param(&value[i], "check_interval=", &s);

        if (is_interval
            || ngx_olla_dmr_param(&value[i], "check_timeout=", &s))
        {
            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a time such as \"10s\" "
                                   "is expected", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (is_interval) {
                ep->interval = ms;

            } else {
                ep->timeout = ms;
            }

            continue;
        }

        if (ngx_olla_dmr_param(&value[i], "preload=", &s)) {
            if (ngx_olla_dmr_parse_preload(cf, ep, &value[i], &s)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_concurrent=", 15) == 0) {
            n = ngx_atoi(value[i].data + 15, value[i].len - 15);

            if (n == NGX_ERROR || n < 1 || n > 100000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": max_concurrent must be "
                                   "an integer from 1 to 100000",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            ep->max_concurrent = n;
            continue;
        }

        goto invalid;
    }

    if (ep->interval == NGX_CONF_UNSET_MSEC) {
        ep->interval = 5000;
    }

    if (ep->timeout == NGX_CONF_UNSET_MSEC) {
        ep->timeout = 2000;
    }

    if (ep->interval < 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "check_interval=%Mms is too short, the minimum "
                           "is 1s", ep->interval);
        return NGX_CONF_ERROR;
    }

    if (ep->timeout > 30000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "check_timeout=%Mms is too long, the maximum "
                           "is 30s", ep->timeout);
        return NGX_CONF_ERROR;
    }

    if (ep->timeout >= ep->interval) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "check_timeout (%Mms) must be less than "
                           "check_interval (%Mms)", ep->timeout,
                           ep->interval);
        return NGX_CONF_ERROR;
    }

    if (ep->name.len == 0) {
        ep->name = ep->host;
    }

    ep->id = olla_pick_id((char *) ep->name.data, ep->name.len);

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));

    us->name = ep->url;
    us->addrs = ep->addr;
    us->naddrs = 1;
    us->weight = 1;

    other = ups->endpoints.elts;

    for (i = 0; i + 1 < ups->endpoints.nelts; i++) {
        if (other[i].https != ep->https) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" mixes http and https endpoints in "
                               "one upstream; proxy_pass decides the "
                               "scheme for the whole upstream, so put them "
                               "in separate upstreams", &value[1]);
            return NGX_CONF_ERROR;
        }

        if (other[i].name.len == ep->name.len
            && ngx_strncmp(other[i].name.data, ep->name.data, ep->name.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate endpoint name \"%V\"", &ep->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"; olla_endpoint takes "
                       "URL [name=] [type=] [priority=] [model_url=] "
                       "[health_check_url=] [check_interval=] "
                       "[check_timeout=] [max_concurrent=] [preload=]",
                       &value[i]);

    return NGX_CONF_ERROR;
}


/* "name=value": 1 and the value in *arg when value starts with name */

static ngx_uint_t
ngx_olla_dmr_param(ngx_str_t *value, const char *name, ngx_str_t *arg)
{
    size_t  len;

    len = ngx_strlen(name);

    if (value->len < len || ngx_strncmp(value->data, name, len) != 0) {
        return 0;
    }

    arg->data = value->data + len;
    arg->len = value->len - len;

    return 1;
}


/* preload=MODEL[,MODEL...]: names as the endpoint knows them */

static char *
ngx_olla_dmr_parse_preload(ngx_conf_t *cf, ngx_olla_dmr_endpoint_t *ep,
    ngx_str_t *param, ngx_str_t *list)
{
    u_char                  *p, *last, *comma;
    size_t                   cap;
    ngx_uint_t               i, k;
    ngx_olla_dmr_preload_t  *pl;

    if (ep->preload) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": preload= is given twice; list the "
                           "models in one, separated by commas", param);
        return NGX_CONF_ERROR;
    }

    ep->preload = ngx_array_create(cf->pool, 2,
                                   sizeof(ngx_olla_dmr_preload_t));
    if (ep->preload == NULL) {
        return NGX_CONF_ERROR;
    }

    p = list->data;
    last = list->data + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma == p || comma - p >= NGX_OLLA_DMR_RES_NAME) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\": preload= takes model names "
                               "of 1 to %d characters separated by commas",
                               param, NGX_OLLA_DMR_RES_NAME - 1);
            return NGX_CONF_ERROR;
        }

        for (i = 0; p + i < comma; i++) {
            if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '"'
                || p[i] == '\\')
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a model name is visible "
                                   "ASCII without quotes", param);
                return NGX_CONF_ERROR;
            }
        }

        if (ep->preload->nelts == NGX_OLLA_DMR_PRELOADS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\": at most %d models",
                               param, NGX_OLLA_DMR_PRELOADS);
            return NGX_CONF_ERROR;
        }

        pl = ngx_array_push(ep->preload);
        if (pl == NULL) {
            return NGX_CONF_ERROR;
        }

        pl->name.data = p;
        pl->name.len = comma - p;

        cap = pl->name.len + 32;

        pl->norm.data = ngx_pnalloc(cf->pool, cap);
        if (pl->norm.data == NULL) {
            return NGX_CONF_ERROR;
        }

        pl->norm.len = olla_model_normalise((char *) p, pl->name.len,
                                            (char *) pl->norm.data, cap);
        pl->hash = olla_pick_hash(OLLA_PICK_HASH_INIT, pl->norm.data,
                                  pl->norm.len);

        for (k = 0; k + 1 < ep->preload->nelts; k++) {
            if (((ngx_olla_dmr_preload_t *) ep->preload->elts)[k].hash
                == pl->hash)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": \"%V\" is listed twice",
                                   param, &pl->name);
                return NGX_CONF_ERROR;
            }
        }

        if (comma == last) {
            break;
        }

        p = comma + 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_olla_dmr_parse_url(ngx_conf_t *cf, ngx_olla_dmr_endpoint_t *ep,
    ngx_str_t *url)
{
    u_char     *p, *last;
    ngx_url_t   u;

    if (url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7)
                        == 0)
    {
        p = url->data + 7;

    } else if (url->len > 8
               && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0)
    {
        p = url->data + 8;
        ep->https = 1;

#if !(NGX_SSL)
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "https endpoint \"%V\" needs nginx built with "
                           "SSL", url);
        return NGX_CONF_ERROR;
#endif

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid endpoint URL \"%V\": it must start with "
                           "\"http://\" or \"https://\"", url);
        return NGX_CONF_ERROR;
    }

    last = url->data + url->len;

    if (last > p && last[-1] == '/') {
        last--;
    }

    if (ngx_strlchr(p, last, '@')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "endpoint URL \"%V\" must not carry credentials "
                           "(user:password@host)", url);
        return NGX_CONF_ERROR;
    }

    if (ngx_strlchr(p, last, '/') || ngx_strlchr(p, last, '?')
        || ngx_strlchr(p, last, '#'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "endpoint URL \"%V\" must not have a path: give "
                           "scheme://host[:port], the module adds the API "
                           "paths of the endpoint's type", url);
        return NGX_CONF_ERROR;
    }

    if (p == last) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "endpoint URL \"%V\" has no host", url);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = p;
    u.url.len = last - p;
    u.default_port = ep->https ? 443 : 80;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in endpoint URL \"%V\"", u.err, url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "host of endpoint URL \"%V\" has no address",
                           url);
        return NGX_CONF_ERROR;
    }

    ep->addr = &u.addrs[0];

    ep->url.len = (p - url->data) + (last - p);
    ep->url.data = url->data;

    ep->host.data = p;
    ep->host.len = last - p;

    ep->sni = u.host;

    return NGX_CONF_OK;
}


/* types, profile defaults and the checks that need every endpoint */

ngx_int_t
ngx_olla_dmr_resolve_endpoints(ngx_conf_t *cf, ngx_olla_dmr_main_conf_t *omcf)
{
    char                        names[512];
    const char                 *alt, *alt_end;
    ngx_uint_t                  i, j, k, l;
    const olla_profile_t       *p;
    ngx_olla_dmr_upstream_t   **upsp, *ups;
    ngx_olla_dmr_endpoint_t    *ep, *other;

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ups = upsp[i];

        if (!ups->initialized) {
            ngx_olla_dmr_conf_error(cf, ups->conf_file, ups->conf_line,
                                    "upstream \"%V\" uses \"olla_endpoint\", "
                                    "which cannot be combined with "
                                    "another balancing method (least_conn, "
                                    "hash, ip_hash, random)",
                                    &ups->uscf->host);
            return NGX_ERROR;
        }

        ep = ups->endpoints.elts;

        for (j = 0; j < ups->endpoints.nelts; j++) {

            if (ep[j].type.len == 0) {
                ngx_str_set(&ep[j].type, "docker-model-runner");
            }

            p = olla_profiles_find(omcf->profiles,
                                   (const char *) ep[j].type.data,
                                   ep[j].type.len);

            if (p == NULL) {
                olla_profiles_names(omcf->profiles, names, sizeof(names));

                /* NAME.yaml may go in either directory */

                alt = omcf->override_dir.len ? " or \"" : "";
                alt_end = omcf->override_dir.len ? "\"" : "";

                p = olla_profiles_find_prefix(omcf->profiles,
                                              (const char *) ep[j].type.data,
                                              ep[j].type.len);

                if (p) {
                    ngx_olla_dmr_conf_error(cf, ep[j].conf_file,
                                            ep[j].conf_line,
                                            "unknown endpoint type \"%V\": "
                                            "no profile of that name in "
                                            "\"%V\"%s%V%s (known types: "
                                            "%s); \"%V\" is a routing "
                                            "prefix of type \"%s\"",
                                            &ep[j].type, &omcf->profiles_dir,
                                            alt, &omcf->override_dir, alt_end,
                                            names, &ep[j].type, p->name);

                } else {
                    ngx_olla_dmr_conf_error(cf, ep[j].conf_file,
                                            ep[j].conf_line,
                                            "unknown endpoint type \"%V\": "
                                            "no profile of that name in "
                                            "\"%V\"%s%V%s (known types: "
                                            "%s)",
                                            &ep[j].type, &omcf->profiles_dir,
                                            alt, &omcf->override_dir, alt_end,
                                            names);
                }

                return NGX_ERROR;
            }

            ep[j].profile = p;

            /* the paths requests are sent to, looked up once */

            ep[j].chat_path = olla_path_chat(p);
            ep[j].responses_path = olla_path_map(p, "/v1/responses",
                                                 sizeof("/v1/responses") - 1);

            if (ep[j].priority < 0) {
                ep[j].priority = p->default_priority >= 0
                                 ? p->default_priority : 50;
            }

            if (ep[j].model_url.len == 0) {
                if (p->model_discovery_path) {
                    ep[j].model_url.data = (u_char *) p->model_discovery_path;
                    ep[j].model_url.len = ngx_strlen(p->model_discovery_path);

                } else {
                    ngx_str_set(&ep[j].model_url, "/v1/models");
                }
            }

            if (p->running_models_path) {
                ep[j].ps_url.data = (u_char *) p->running_models_path;
                ep[j].ps_url.len = ngx_strlen(p->running_models_path);
                ep[j].ps_format = (p->running_models_format
                                   == OLLA_PROFILE_RUNNING_OLLAMA)
                                  ? OLLA_PS_OLLAMA : OLLA_PS_DMR;
            }

            if (ep[j].preload && ep[j].ps_format == OLLA_PS_NONE) {
                ngx_olla_dmr_conf_error(cf, ep[j].conf_file, ep[j].conf_line,
                                        "endpoint \"%V\" has preload= but "
                                        "its type \"%s\" cannot tell which "
                                        "models are loaded (no "
                                        "api.running_models in its "
                                        "profile); remove preload=",
                                        &ep[j].name, p->name);
                return NGX_ERROR;
            }

            if (ep[j].preload && ep[j].ps_format == OLLA_PS_DMR
                && ep[j].chat_path == NULL)
            {
                ngx_olla_dmr_conf_error(cf, ep[j].conf_file, ep[j].conf_line,
                                        "endpoint \"%V\" has preload= but "
                                        "its type \"%s\" has no chat "
                                        "completions path to load models "
                                        "through", &ep[j].name, p->name);
                return NGX_ERROR;
            }

            if (ep[j].health_url.len == 0) {
                if (p->health_check_path) {
                    ep[j].health_url.data = (u_char *) p->health_check_path;
                    ep[j].health_url.len = ngx_strlen(p->health_check_path);

                } else {
                    ep[j].health_url = ep[j].model_url;
                }
            }

            /* names are unique across every Olla upstream */

            for (k = 0; k < i; k++) {
                other = upsp[k]->endpoints.elts;

                for (l = 0; l < upsp[k]->endpoints.nelts; l++) {
                    if (other[l].name.len == ep[j].name.len
                        && ngx_strncmp(other[l].name.data, ep[j].name.data,
                                       ep[j].name.len)
                           == 0)
                    {
                        ngx_olla_dmr_conf_error(cf, ep[j].conf_file,
                                                ep[j].conf_line,
                                                "duplicate endpoint name "
                                                "\"%V\" (also used in "
                                                "upstream \"%V\")",
                                                &ep[j].name,
                                                &upsp[k]->uscf->host);
                        return NGX_ERROR;
                    }
                }
            }

            omcf->nendpoints++;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_init_upstream(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    ngx_olla_dmr_upstream_t  *ups;

    ups = ngx_http_conf_upstream_srv_conf(us, ngx_olla_dmr_module);

    if (us->servers && us->servers->nelts != ups->endpoints.nelts) {
        ngx_olla_dmr_conf_error(cf, ups->conf_file, ups->conf_line,
                                "upstream \"%V\" mixes \"server\" lines with "
                                "\"olla_endpoint\"; use \"olla_endpoint\" "
                                "for every backend", &us->host);
        return NGX_ERROR;
    }

#if (NGX_HTTP_UPSTREAM_ZONE)
    if (us->shm_zone) {
        ngx_olla_dmr_conf_error(cf, ups->conf_file, ups->conf_line,
                                "upstream \"%V\" has a \"zone\": Olla "
                                "upstreams keep their shared state in "
                                "\"olla_zone\", remove the \"zone\" line",
                                &us->host);
        return NGX_ERROR;
    }
#endif

    us->peer.init = ngx_olla_dmr_init_peer;
    us->peer.data = ups;

    ngx_conf_init_value(ups->resident_first, 1);
    ngx_conf_init_value(ups->affinity, 1);
    ngx_conf_init_value(ups->prewarm, 1);

    ngx_olla_dmr_queue_defaults(ups);

    if (!ups->failover_set) {
        ups->failover_tries = NGX_OLLA_DMR_FAILOVER_TRIES;
        ups->failover_fast = NGX_OLLA_DMR_FAILOVER_FAST;
    }

    /* the facts a pick gathers: one array per upstream and process */

    ups->facts = ngx_pcalloc(cf->pool, ups->endpoints.nelts
                                       * sizeof(olla_pick_ep_t));
    if (ups->facts == NULL) {
        return NGX_ERROR;
    }

    /* rotation starts at the first endpoint */
    ups->cursor = ups->endpoints.nelts - 1;

    ups->initialized = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                   i, n, failover;
    ngx_olla_dmr_ctx_t          *ctx;
    ngx_http_upstream_t         *u;
    ngx_http_upstream_conf_t    *conf;
    ngx_olla_dmr_upstream_t     *ups;
    ngx_olla_dmr_peer_data_t    *pd;
    ngx_http_core_loc_conf_t    *clcf;

    ups = ngx_http_conf_upstream_srv_conf(us, ngx_olla_dmr_module);
    u = r->upstream;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx == NULL || ctx->ups != ups) {

        if (ctx && ctx->ups) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "olla: the location routes with \"olla_route "
                          "%V\" but proxies to upstream \"%V\"; "
                          "use \"proxy_pass http://%V\"",
                          &ctx->ups->uscf->host, &us->host,
                          &ctx->ups->uscf->host);

            ngx_olla_dmr_release(ctx);
        }

        /* a plain proxy_pass to an Olla upstream: balance over all */

        if (ctx == NULL) {
            ctx = ngx_olla_dmr_create_ctx(r);
            if (ctx == NULL) {
                return NGX_ERROR;
            }

            ctx->kind = OLLA_ROUTE_BALANCER;
            ngx_str_set(&ctx->route_name, "balancer");
        }

        ctx->ups = ups;
        ctx->type = NULL;
        ctx->ep = NULL;
        ctx->pending = 0;
        ctx->skip = NULL;
    }

    if (ctx->skip == NULL) {
        ctx->skip = ngx_pcalloc(r->pool, ups->endpoints.nelts);
        if (ctx->skip == NULL) {
            return NGX_ERROR;
        }
    }

    pd = ngx_pcalloc(r->pool, sizeof(ngx_olla_dmr_peer_data_t));
    if (pd == NULL) {
        return NGX_ERROR;
    }

    pd->request = r;
    pd->ctx = ctx;
    pd->ups = ups;

    u->peer.data = pd;
    u->peer.get = ngx_olla_dmr_get_peer;
    u->peer.free = ngx_olla_dmr_free_peer;
#if (NGX_HTTP_SSL)
    u->peer.set_session = ngx_olla_dmr_set_session;
    u->peer.save_session = ngx_olla_dmr_save_session;
#endif

    /* retries stay within the route's type, so the path stays right */

    n = 0;

    for (i = 0; i < ups->endpoints.nelts; i++) {
        n += !ctx->skip[i];
    }

    if (ctx->pending) {
        /* the route's pick is marked tried when nginx takes it */
        n++;
    }

    /* olla_failover: on olla_route requests, at most its tries */

    failover = (ups->failover_tries && ctx->olcf && u->process_header
                && u->reinit_request);

    if (failover && n > ups->failover_tries) {
        n = ups->failover_tries;
    }

    u->peer.tries = n ? n : 1;

    /*
     * the request goes out without Nagle's delay (tcp_nodelay, as nginx
     * does for an unbuffered body): ngx_http_upstream_init_request() has
     * set the proxy's writer before it calls this
     */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay
        && u->output.output_filter == ngx_chain_writer
        && u->output.filter_ctx == &u->writer)
    {
        u->output.output_filter = ngx_olla_dmr_send_request;
    }

    /*
     * the profile's read timeout (SPEC 8), and the retries failover
     * decides per answer, on a copy of the conf
     */

    if ((ctx->read_timeout && ctx->read_timeout != u->conf->read_timeout)
        || failover)
    {
        conf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
        if (conf == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(conf, u->conf, sizeof(ngx_http_upstream_conf_t));

        if (ctx->read_timeout) {
            conf->read_timeout = ctx->read_timeout;
        }

        u->conf = conf;
    }

    if (failover) {
        /*
         * the answer's header is seen before nginx decides about a next
         * try: the proxy module's parser is wrapped (again after each
         * reinit, which puts the proxy's own back)
         */

        pd->conf = u->conf;
        pd->next_upstream = u->conf->next_upstream;
        pd->u = u;
        pd->process_header = u->process_header;
        pd->reinit_request = u->reinit_request;

        u->process_header = ngx_olla_dmr_process_header;
        u->reinit_request = ngx_olla_dmr_reinit_request;

        ctx->peer = pd;
    }

    return NGX_OK;
}


/*
 * The proxy's writer of the request to the backend, on a connection with
 * TCP_NODELAY.  nginx sets it upstream only for an unbuffered body (and
 * for SSL): a buffered request that goes out in more than one write (the
 * head, then a body from a temp file; more than 64 buffers) has its last
 * short segment wait for the backend's delayed ACK, about 40 ms a time.
 * Set once a connection: a kept-alive one keeps it, a UNIX-domain one
 * has it disabled.
 */

static ngx_int_t
ngx_olla_dmr_send_request(void *data, ngx_chain_t *in)
{
    ngx_chain_writer_ctx_t  *wr = data;

    ngx_connection_t  *c;

    c = wr->connection;

    if (c->tcp_nodelay == NGX_TCP_NODELAY_UNSET) {
        if (ngx_tcp_nodelay(c) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "olla: tcp_nodelay on the upstream connection");
    }

    return ngx_chain_writer(data, in);
}


static ngx_int_t
ngx_olla_dmr_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_olla_dmr_peer_data_t  *pd = data;

    olla_pick_result_e        result;
    ngx_olla_dmr_ctx_t       *ctx;
    ngx_olla_dmr_endpoint_t  *ep;

    ctx = pd->ctx;

    if (pd->conf) {
        /* each try starts with the location's proxy_next_upstream */
        pd->conf->next_upstream = pd->next_upstream;
    }

    if (ctx->pending) {
        /* picked (and reserved) by olla_route */
        ctx->pending = 0;
        ep = ctx->ep;

    } else if (ctx->next_reserved) {
        /* reserved when the last try's answer was found worth retrying */
        ep = ctx->next_ep;

        ctx->ep = ep;
        ctx->trial = ctx->next_trial;
        ctx->reserved = 1;

        ctx->next_ep = NULL;
        ctx->next_reserved = 0;
        ctx->next_trial = 0;

    } else {
        ep = ngx_olla_dmr_pick(pd->request, ctx, &result);

        if (ep == NULL) {
            pc->name = &pd->ups->uscf->host;
            return NGX_BUSY;
        }
    }

    ctx->skip[ep->index] = 1;

    pc->sockaddr = ep->addr->sockaddr;
    pc->socklen = ep->addr->socklen;
    pc->name = &ep->addr->name;
    pc->cached = 0;
    pc->connection = NULL;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "olla: peer \"%V\" %V, in flight %A",
                   &ep->name, &ep->addr->name, ep->sh->inflight);

    return NGX_OK;
}


static void
ngx_olla_dmr_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_olla_dmr_peer_data_t  *pd = data;

    ngx_uint_t                transport;
    ngx_http_request_t       *r;
    ngx_olla_dmr_ctx_t       *ctx;
    ngx_olla_dmr_endpoint_t  *ep;

    ctx = pd->ctx;
    ep = ctx->ep;
    r = pd->request;

    if (ep == NULL || !ctx->reserved) {
        return;
    }

    /*
     * a transport failure: nginx gave up on the peer before any response
     * header arrived (refused, reset, timed out); an HTTP error answer from
     * the backend (a DMR 503 while a model loads) is not one
     */

    transport = (state & NGX_PEER_FAILED)
                && r->upstream->headers_in.status_n == 0;

    (void) ngx_atomic_fetch_add(&ep->sh->requests, 1);

    if (transport) {
        (void) ngx_atomic_fetch_add(&ep->sh->failures, 1);
    }

    ngx_olla_dmr_passive_result(ep, transport, ctx->trial);
    ctx->trial = 0;

    if (ctx->model_hash && !transport
        && r->upstream->headers_in.status_n >= 200
        && r->upstream->headers_in.status_n < 300)
    {
        /* it answered: the model is loaded there */
        ngx_olla_dmr_res_mark(ngx_http_get_module_main_conf(r,
                                                      ngx_olla_dmr_module),
                              ep, ctx->model_hash, ctx->runner, &ctx->norm,
                              OLLA_RES_RESIDENT);
    }

    ngx_olla_dmr_release(ctx);

    if (pc->tries) {
        pc->tries--;
    }
}


#if (NGX_HTTP_SSL)

/* TLS session reuse per endpoint, in this worker */

static ngx_int_t
ngx_olla_dmr_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_olla_dmr_peer_data_t  *pd = data;

    ngx_olla_dmr_endpoint_t  *ep;

    ep = pd->ctx->ep;

    if (ep == NULL || ep->ssl_session == NULL) {
        return NGX_OK;
    }

    return ngx_ssl_set_session(pc->connection, ep->ssl_session);
}


static void
ngx_olla_dmr_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_olla_dmr_peer_data_t  *pd = data;

    ngx_ssl_session_t        *session, *old;
    ngx_olla_dmr_endpoint_t  *ep;

    ep = pd->ctx->ep;

    if (ep == NULL) {
        return;
    }

    session = ngx_ssl_get_session(pc->connection);
    if (session == NULL) {
        return;
    }

    old = ep->ssl_session;
    ep->ssl_session = session;

    if (old) {
        ngx_ssl_free_session(old);
    }
}


void
ngx_olla_dmr_free_sessions(void *data)
{
    ngx_olla_dmr_main_conf_t  *omcf = data;

    ngx_uint_t                  i, j;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            if (ep[j].ssl_session) {
                ngx_ssl_free_session(ep[j].ssl_session);
                ep[j].ssl_session = NULL;
            }
        }
    }
}

#endif


/*
 * Endpoint choice (SPEC 4): the facts of every endpoint of the upstream,
 * as the shared zone has them now, and the policy's verdict.  Endpoints
 * the route does not use, and those tried, are skipped; a model is looked
 * up in the endpoints' lists under the zone's mutex.  The endpoint
 * returned holds an in-flight slot and, when its circuit is half-open,
 * the breaker's one trial.
 */

ngx_olla_dmr_endpoint_t *
ngx_olla_dmr_pick(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_pick_result_e *result)
{
    ngx_uint_t                 i, n, attempt, trial, locked, limit, in_use;
    olla_pick_ep_t            *f;
    olla_pick_req_t            req;
    olla_pick_out_t            out;
    const olla_profile_t      *last;
    ngx_olla_dmr_facts_t       facts;
    ngx_olla_dmr_upstream_t   *ups;
    ngx_olla_dmr_endpoint_t   *ep, *e;
    ngx_olla_dmr_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);
    ups = ctx->ups;
    ep = ups->endpoints.elts;
    n = ups->endpoints.nelts;
    f = ups->facts;

    last = NULL;
    limit = 0;

    for (attempt = 0; attempt < 8; attempt++) {

        locked = 0;

        for (i = 0; i < n; i++) {
            e = &ep[i];

            f[i].inflight = (uint32_t) e->sh->inflight;
            f[i].priority = (int32_t) e->priority;
            f[i].id = e->id;
            f[i].serve = OLLA_PICK_MAYBE;
            f[i].resident = OLLA_RES_UNKNOWN;
            f[i].in_use = 0;
            f[i].limit = 0;

            if (ctx->model_hash) {
                f[i].resident = (uint8_t) ngx_olla_dmr_res_lookup(e,
                                                        ctx->model_hash,
                                                        ctx->runner, &in_use);
                f[i].in_use = (uint8_t) in_use;
            }

            if (ctx->skip[i]) {
                f[i].state = OLLA_PICK_SKIP;
                continue;
            }

            if (!ngx_olla_dmr_routable(e)) {
                f[i].state = OLLA_PICK_DOWN;
                continue;
            }

            f[i].state = OLLA_PICK_UP;

            if (ctx->norm.len
                && e->sh->models_state == NGX_OLLA_DMR_MODELS_NOT_STORED)
            {
                /*
                 * its list did not fit in the zone: what it serves is not
                 * known, and a guess is a model it may not have (or one a
                 * single-model server answers as its own)
                 */
                f[i].serve = OLLA_PICK_NO;

            } else if (ctx->norm.len && e->sh->nmodels) {
                if (!locked) {
                    /* the lists change under the zone's mutex */
                    ngx_olla_dmr_shm_lock(omcf);
                    locked = 1;
                }

                f[i].serve = ngx_olla_dmr_models_has_locked(e, &ctx->norm)
                             ? OLLA_PICK_LISTED : OLLA_PICK_NO;
            }

            if (e->max_concurrent) {
                f[i].limit = (uint32_t) e->max_concurrent;

            } else {
                if (e->profile != last) {
                    last = e->profile;
                    limit = ngx_olla_dmr_model_facts(omcf, e->profile,
                                                     &ctx->model, &facts)
                            ->limit;
                }

                f[i].limit = (uint32_t) limit;
            }

            if (e->sh->rest_until
                && (ngx_msec_int_t) (e->sh->rest_until - ngx_current_msec)
                   > 0)
            {
                /* its backend said Retry-After: full until then */
                f[i].limit = 1;
                f[i].inflight = ngx_max(f[i].inflight, 1);
            }
        }

        if (locked) {
            ngx_olla_dmr_shm_unlock(omcf);
        }

        ngx_memzero(&req, sizeof(olla_pick_req_t));

        req.lb = ups->lb;
        req.resident_first = (ups->resident_first != 0);
        req.affinity = (ups->affinity != 0);
        req.prewarm = (ups->prewarm != 0);
        req.key = ctx->key;
        req.cursor = ups->cursor;
        req.random = (uint32_t) ngx_random();

        olla_pick(f, n, &req, &out);

        if (out.result != OLLA_PICK_OK) {
            *result = out.result;
            return NULL;
        }

        i = out.index;
        ups->cursor = i;
        e = &ep[i];

        if (!ngx_olla_dmr_breaker_allows(e, &trial)) {
            continue;
        }

        if (trial && !ngx_atomic_cmp_set(&e->sh->cb_trial, 0, 1)) {
            continue;
        }

        if (ngx_olla_dmr_reserve(r, ctx, e, f[i].limit) != NGX_OK) {
            if (trial) {
                e->sh->cb_trial = 0;
            }

            continue;
        }

        ctx->trial = trial;
        ctx->reason = out.reason;
        *result = OLLA_PICK_OK;

        (void) ngx_atomic_fetch_add(&e->sh->decisions[out.reason], 1);

        if (ctx->model_hash) {
            /* the model is loading there now, if it was not loaded */
            ngx_olla_dmr_res_mark(omcf, e, ctx->model_hash, ctx->runner,
                                  &ctx->norm, OLLA_RES_LOADING);

            if (out.prewarm != OLLA_PICK_NOWHERE) {
                ngx_olla_dmr_prewarm(&ep[out.prewarm], &ctx->model,
                                     ctx->model_hash);
            }
        }

        return e;
    }

    *result = OLLA_PICK_FULL;

    return NULL;
}


/* seconds until the next health check of the route's endpoints */

ngx_uint_t
ngx_olla_dmr_retry_after(ngx_olla_dmr_ctx_t *ctx)
{
    ngx_uint_t                i;
    ngx_msec_t                now;
    ngx_msec_int_t            d, best;
    ngx_olla_dmr_endpoint_t  *ep;

    now = ngx_current_msec;
    best = 60000;
    ep = ctx->ups->endpoints.elts;

    for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
        if (ctx->skip && ctx->skip[i]) {
            continue;
        }

        d = (ngx_msec_int_t) (ep[i].sh->next_check - now);

        if (ep[i].sh->cb_state == NGX_OLLA_DMR_CB_OPEN) {
            d = ngx_min(d, (ngx_msec_int_t) (ep[i].sh->cb_open_until - now));
        }

        if (d < best) {
            best = d;
        }
    }

    return best <= 1000 ? 1 : (ngx_uint_t) (best + 999) / 1000;
}


/*
 * The concurrency limit and read timeout a profile gives a model (SPEC 8).
 * Matching a name against the size classes is the dearest step of
 * routing, and the same few model names come again and again, so each
 * worker remembers the last NGX_OLLA_DMR_FACTS answers.
 */

static ngx_olla_dmr_facts_t *
ngx_olla_dmr_model_facts(ngx_olla_dmr_main_conf_t *omcf,
    const olla_profile_t *p, ngx_str_t *model, ngx_olla_dmr_facts_t *tmp)
{
    char                  *name;
    uint64_t               ms;
    ngx_uint_t             i;
    ngx_olla_dmr_facts_t  *f;

    if (model->len <= sizeof(f->model)) {
        for (i = 0; i < NGX_OLLA_DMR_FACTS; i++) {
            f = &omcf->facts[i];

            if (f->profile == p && f->len == model->len
                && ngx_memcmp(f->model, model->data, model->len) == 0)
            {
                return f;
            }
        }

        f = &omcf->facts[omcf->facts_next++ % NGX_OLLA_DMR_FACTS];

    } else {
        f = tmp;
    }

    name = model->len ? (char *) model->data : NULL;

    ms = olla_profile_timeout_ms(p, name, model->len);

    f->profile = p;
    f->len = ngx_min(model->len, sizeof(f->model));
    ngx_memcpy(f->model, model->data, f->len);
    f->limit = olla_profile_concurrency(p, name, model->len);
    f->timeout = (ngx_msec_t) ngx_min(ms, (uint64_t) 86400000);

    return f;
}


ngx_msec_t
ngx_olla_dmr_model_timeout(ngx_olla_dmr_main_conf_t *omcf,
    const olla_profile_t *p, ngx_str_t *model)
{
    ngx_olla_dmr_facts_t  tmp;

    return ngx_olla_dmr_model_facts(omcf, p, model, &tmp)->timeout;
}


static ngx_int_t
ngx_olla_dmr_reserve(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_endpoint_t *ep, ngx_uint_t limit)
{
    ngx_atomic_uint_t    n;
    ngx_pool_cleanup_t  *cln;

    for ( ;; ) {
        n = ep->sh->inflight;

        if (limit && n >= limit) {
            return NGX_BUSY;
        }

        if (ngx_atomic_cmp_set(&ep->sh->inflight, n, n + 1)) {
            break;
        }
    }

    if (!ctx->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            (void) ngx_atomic_fetch_add(&ep->sh->inflight, -1);
            return NGX_ERROR;
        }

        cln->handler = ngx_olla_dmr_release_cleanup;
        cln->data = ctx;
        ctx->cleanup = 1;
    }

    ctx->ep = ep;
    ctx->reserved = 1;

    return NGX_OK;
}


/*
 * the endpoint's in-flight slot (and the breaker's trial) go back; a
 * request waiting in the upstream's queue may take the slot
 */

void
ngx_olla_dmr_release(ngx_olla_dmr_ctx_t *ctx)
{
    ngx_olla_dmr_endpoint_t  *ep;

    if (!ctx->reserved) {
        return;
    }

    ep = ctx->ep;
    ctx->reserved = 0;

    (void) ngx_atomic_fetch_add(&ep->sh->inflight, -1);

    if (ctx->trial) {
        ep->sh->cb_trial = 0;
        ctx->trial = 0;
    }

    ngx_olla_dmr_queue_kick(ep->upstream);
}


/* the next try's endpoint, reserved but never asked for */

static void
ngx_olla_dmr_release_next(ngx_olla_dmr_ctx_t *ctx)
{
    ngx_olla_dmr_endpoint_t  *ep;

    if (!ctx->next_reserved) {
        return;
    }

    ep = ctx->next_ep;

    ctx->next_reserved = 0;
    ctx->next_ep = NULL;

    (void) ngx_atomic_fetch_add(&ep->sh->inflight, -1);

    if (ctx->next_trial) {
        ep->sh->cb_trial = 0;
        ctx->next_trial = 0;
    }

    ngx_olla_dmr_queue_kick(ep->upstream);
}


static void
ngx_olla_dmr_release_cleanup(void *data)
{
    ngx_olla_dmr_ctx_t  *ctx = data;

    ngx_olla_dmr_release(ctx);
    ngx_olla_dmr_release_next(ctx);
}


/* ------------------------------------------------------------ failover */

/*
 * The proxy module's header parser, then, once the header is in, the
 * failover verdict (NGX_AGAIN while a 404's body is still to come)
 */

static ngx_int_t
ngx_olla_dmr_process_header(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_upstream_t       *u;
    ngx_olla_dmr_ctx_t        *ctx;
    ngx_olla_dmr_peer_data_t  *pd;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);
    pd = ctx->peer;

    if (!pd->body_wait) {
        rc = pd->process_header(r);

        /* the proxy moves on from the status line to the headers */

        if (u->process_header != ngx_olla_dmr_process_header) {
            pd->process_header = u->process_header;
            u->process_header = ngx_olla_dmr_process_header;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_olla_dmr_failover_check(r, pd);
}


static ngx_int_t
ngx_olla_dmr_reinit_request(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_upstream_t       *u;
    ngx_olla_dmr_ctx_t        *ctx;
    ngx_olla_dmr_peer_data_t  *pd;

    u = r->upstream;
    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);
    pd = ctx->peer;

    rc = pd->reinit_request(r);

    pd->process_header = u->process_header;
    u->process_header = ngx_olla_dmr_process_header;
    pd->body_wait = 0;

    return rc;
}


/*
 * A try's answer header (SPEC 4.7, issue 15): a Retry-After on a 429 or
 * 503 rests the endpoint; a fast 429, 5xx or "model not found" is tried
 * on another endpoint of the type when one can take it now (its slot is
 * reserved here, so nginx's next try cannot find every endpoint busy and
 * turn the backend's answer into its own 502).  nginx retries through
 * proxy_next_upstream: the answer's bit (and non_idempotent, for a POST)
 * is set on the request's copy of the conf for this try only.
 */

static ngx_int_t
ngx_olla_dmr_failover_check(ngx_http_request_t *r,
    ngx_olla_dmr_peer_data_t *pd)
{
    off_t                     need;
    ngx_uint_t                bit;
    ngx_msec_t                timeout;
    olla_failover_in_t        in;
    ngx_http_upstream_t      *u;
    olla_failover_kind_e      kind;
    ngx_olla_dmr_ctx_t       *ctx;
    olla_failover_verdict_e   verdict;
    ngx_olla_dmr_endpoint_t  *ep, *next;

    u = r->upstream;
    ctx = pd->ctx;
    ep = ctx->ep;

    pd->conf->next_upstream = pd->next_upstream;

    if (u->headers_in.status_n < 400 || ep == NULL || !ctx->reserved) {
        pd->body_wait = 0;
        return NGX_OK;
    }

    if (!pd->body_wait
        && (u->headers_in.status_n == NGX_HTTP_TOO_MANY_REQUESTS
            || u->headers_in.status_n == NGX_HTTP_SERVICE_UNAVAILABLE))
    {
        ngx_olla_dmr_rest(r, ep);
    }

    ngx_memzero(&in, sizeof(olla_failover_in_t));

    in.status = (int) u->headers_in.status_n;
    in.elapsed_ms = ngx_current_msec - u->start_time;
    in.fast_ms = pd->ups->failover_fast;
    in.tries_left = u->peer.tries > 1 ? u->peer.tries - 1 : 0;

    /* what would keep nginx from trying again anyway */

    timeout = u->conf->next_upstream_timeout;

    if ((u->request_sent && r->request_body_no_buffering)
        || (timeout && ngx_current_msec - u->peer.start_time >= timeout)
        || r->connection->error)
    {
        in.tries_left = 0;
    }

    verdict = olla_failover_decide(&in, &kind);

    if (verdict == OLLA_FAILOVER_NEED_BODY) {

        /* DMR's 404 is short; all of it, if it fits the buffer */

        need = u->headers_in.content_length_n;

        if (!u->headers_in.chunked && need > 0
            && u->buffer.last - u->buffer.pos < need
            && u->buffer.end - u->buffer.pos >= need)
        {
            pd->body_wait = 1;
            return NGX_AGAIN;
        }

        in.body_known = 1;
        in.body = (const char *) u->buffer.pos;
        in.body_len = u->buffer.last - u->buffer.pos;

        if (need >= 0 && (off_t) in.body_len > need) {
            in.body_len = (size_t) need;
        }

        verdict = olla_failover_decide(&in, &kind);
    }

    pd->body_wait = 0;

    if (verdict != OLLA_FAILOVER_RETRY) {
        if (kind != OLLA_FAILOVER_NONE) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "olla: endpoint \"%V\" answered %ui after %Mms, "
                          "not tried elsewhere: %s", &ep->name,
                          u->headers_in.status_n, (ngx_msec_t) in.elapsed_ms,
                          verdict == OLLA_FAILOVER_SLOW
                          ? "slower than olla_failover fast="
                          : "no other try left");
        }

        return NGX_OK;
    }

    next = ngx_olla_dmr_reserve_next(r, ctx);

    if (next == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "olla: endpoint \"%V\" answered %ui after %Mms, and "
                      "no other endpoint can take the request now",
                      &ep->name, u->headers_in.status_n,
                      (ngx_msec_t) in.elapsed_ms);
        return NGX_OK;
    }

    switch (u->headers_in.status_n) {
    case 404:
        bit = NGX_HTTP_UPSTREAM_FT_HTTP_404;
        break;
    case 429:
        bit = NGX_HTTP_UPSTREAM_FT_HTTP_429;
        break;
    case 500:
        bit = NGX_HTTP_UPSTREAM_FT_HTTP_500;
        break;
    case 502:
        bit = NGX_HTTP_UPSTREAM_FT_HTTP_502;
        break;
    case 503:
        bit = NGX_HTTP_UPSTREAM_FT_HTTP_503;
        break;
    default: /* 504 */
        bit = NGX_HTTP_UPSTREAM_FT_HTTP_504;
        break;
    }

    pd->conf->next_upstream = (pd->next_upstream & ~NGX_OLLA_DMR_FT_MASK)
                              | bit | NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT;

    (void) ngx_atomic_fetch_add(&ep->sh->failovers[kind], 1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "olla: endpoint \"%V\" answered %ui after %Mms (%s): "
                  "trying endpoint \"%V\"", &ep->name,
                  u->headers_in.status_n, (ngx_msec_t) in.elapsed_ms,
                  olla_failover_kind_name(kind), &next->name);

    return NGX_OK;
}


/*
 * Another endpoint of the request's type, reserved for the next try; the
 * current try keeps its own reservation until nginx frees it
 */

static ngx_olla_dmr_endpoint_t *
ngx_olla_dmr_reserve_next(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_uint_t                trial;
    olla_pick_result_e        result;
    olla_pick_reason_e        reason;
    ngx_olla_dmr_endpoint_t  *ep, *next;

    ep = ctx->ep;
    trial = ctx->trial;
    reason = ctx->reason;

    ngx_olla_dmr_release_next(ctx);

    ctx->reserved = 0;
    ctx->trial = 0;

    next = ngx_olla_dmr_pick(r, ctx, &result);

    if (next) {
        ctx->next_ep = next;
        ctx->next_trial = ctx->trial;
        ctx->next_reserved = 1;

    } else {
        ctx->reason = reason;
    }

    ctx->ep = ep;
    ctx->trial = trial;
    ctx->reserved = 1;

    return next;
}


/* a backend's Retry-After (seconds or a date): the endpoint rests */

static void
ngx_olla_dmr_rest(ngx_http_request_t *r, ngx_olla_dmr_endpoint_t *ep)
{
    time_t            t;
    ngx_uint_t        i;
    ngx_msec_t        until;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->upstream->headers_in.headers.part; part;
         part = part->next)
    {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len != sizeof("Retry-After") - 1
                || ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                                   sizeof("Retry-After") - 1)
                   != 0)
            {
                continue;
            }

            t = olla_failover_retry_after((char *) h[i].value.data,
                                          h[i].value.len);

            if (t < 0) {
                t = ngx_parse_http_time(h[i].value.data, h[i].value.len);
                t = (t == NGX_ERROR) ? 0 : t - ngx_time();
            }

            if (t <= 0) {
                return;
            }

            t = ngx_min(t, NGX_OLLA_DMR_REST_MAX);
            until = ngx_current_msec + (ngx_msec_t) t * 1000;

            if (ep->sh->rest_until == 0
                || (ngx_msec_int_t) (until - ep->sh->rest_until) > 0)
            {
                ep->sh->rest_until = until;
            }

            (void) ngx_atomic_fetch_add(&ep->sh->rests, 1);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "olla: endpoint \"%V\" answered %ui with "
                          "Retry-After: %V; it takes no request for %Ts",
                          &ep->name, r->upstream->headers_in.status_n,
                          &h[i].value, t);
            return;
        }
    }
}
