
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Mistakes "nginx -t" would let through, caught with the file and line of
 * the olla_route they spoil: a route without proxy_pass, proxy_pass to
 * another upstream, with a URI part or with variables, an olla_route
 * naming no upstream block; and a warning when a route's requests go out
 * without what the upstream's keepalive pooling needs.
 *
 * The proxy module keeps its configuration to itself, so the module
 * listens to it being written: while nginx parses the http block, the
 * set handlers of proxy_pass, proxy_http_version, proxy_set_header,
 * limit_req_zone and limit_req (the other modules' own command arrays)
 * are wrapped by ours, which record what was written in our location
 * configuration (ngx_olla_dmr_seen_t) and call the original.  The wrappers
 * are put in place by the preconfiguration and taken out again by the
 * postconfiguration, or, when the configuration fails before that, by a
 * cleanup of the cycle's pool, which runs before the module is unloaded.
 * The upstream module's init_main_conf is wrapped the same way: it would
 * resolve an olla_route's name as a host name when no upstream block has
 * it, so the missing block is reported first.
 */


#include "ngx_olla_dmr.h"


#define NGX_OLLA_DMR_H_PROXY_PASS      0
#define NGX_OLLA_DMR_H_HTTP_VERSION    1
#define NGX_OLLA_DMR_H_SET_HEADER      2
#define NGX_OLLA_DMR_H_LIMIT_REQ_ZONE  3
#define NGX_OLLA_DMR_H_LIMIT_REQ       4


typedef char *(*ngx_olla_dmr_set_pt)(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
typedef char *(*ngx_olla_dmr_init_main_pt)(ngx_conf_t *cf, void *conf);


typedef struct {
    const char                 *module;
    ngx_str_t                   name;
    ngx_olla_dmr_set_pt         hook;
    ngx_olla_dmr_set_pt         orig;
    ngx_command_t              *cmd;
} ngx_olla_dmr_hook_t;


static char *ngx_olla_dmr_hook_proxy_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_olla_dmr_hook_http_version(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_olla_dmr_hook_set_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_olla_dmr_hook_limit_req_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_olla_dmr_hook_limit_req(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_olla_dmr_upstream_init_main_conf(ngx_conf_t *cf,
    void *conf);
static ngx_int_t ngx_olla_dmr_check_routes(ngx_conf_t *cf,
    ngx_http_upstream_main_conf_t *umcf);
static ngx_int_t ngx_olla_dmr_check_upstream(ngx_conf_t *cf,
    ngx_http_upstream_main_conf_t *umcf, ngx_olla_dmr_loc_conf_t *route);
static ngx_int_t ngx_olla_dmr_check_proxy(ngx_conf_t *cf,
    ngx_olla_dmr_loc_conf_t *route, ngx_olla_dmr_seen_t *seen);
static void ngx_olla_dmr_hooks_cleanup(void *data);


static ngx_olla_dmr_hook_t  ngx_olla_dmr_hooks[] = {

    { "ngx_http_proxy_module", ngx_string("proxy_pass"),
      ngx_olla_dmr_hook_proxy_pass, NULL, NULL },

    { "ngx_http_proxy_module", ngx_string("proxy_http_version"),
      ngx_olla_dmr_hook_http_version, NULL, NULL },

    { "ngx_http_proxy_module", ngx_string("proxy_set_header"),
      ngx_olla_dmr_hook_set_header, NULL, NULL },

    { "ngx_http_limit_req_module", ngx_string("limit_req_zone"),
      ngx_olla_dmr_hook_limit_req_zone, NULL, NULL },

    { "ngx_http_limit_req_module", ngx_string("limit_req"),
      ngx_olla_dmr_hook_limit_req, NULL, NULL },

    { NULL, ngx_null_string, NULL, NULL, NULL }
};


static ngx_http_module_t         *ngx_olla_dmr_upstream_ctx;
static ngx_olla_dmr_init_main_pt  ngx_olla_dmr_upstream_init_orig;
static ngx_uint_t                 ngx_olla_dmr_proxy_seen;


ngx_int_t
ngx_olla_dmr_hooks_install(ngx_conf_t *cf)
{
    ngx_uint_t            i;
    ngx_module_t         *m;
    ngx_command_t        *cmd;
    ngx_http_module_t    *ctx;
    ngx_pool_cleanup_t   *cln;
    ngx_olla_dmr_hook_t  *h;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_olla_dmr_hooks_cleanup;
    cln->data = NULL;

    ngx_olla_dmr_proxy_seen = 0;

    for (h = ngx_olla_dmr_hooks; h->module; h++) {

        h->cmd = NULL;

        /* by name: an nginx may be built without the module */

        for (i = 0; cf->cycle->modules[i]; i++) {
            m = cf->cycle->modules[i];

            if (m->type != NGX_HTTP_MODULE || m->commands == NULL
                || ngx_strcmp(m->name, h->module) != 0)
            {
                continue;
            }

            for (cmd = m->commands; cmd->name.len; cmd++) {
                if (cmd->name.len == h->name.len
                    && ngx_strncmp(cmd->name.data, h->name.data,
                                   h->name.len)
                       == 0)
                {
                    if (cmd->set != h->hook) {
                        h->orig = cmd->set;
                        cmd->set = h->hook;
                    }

                    h->cmd = cmd;
                    break;
                }
            }

            break;
        }
    }

    /* without the proxy module there is no proxy_pass to check */

    ngx_olla_dmr_proxy_seen =
                    ngx_olla_dmr_hooks[NGX_OLLA_DMR_H_PROXY_PASS].cmd != NULL;

    ctx = ngx_http_upstream_module.ctx;

    if (ctx->init_main_conf != ngx_olla_dmr_upstream_init_main_conf) {
        ngx_olla_dmr_upstream_init_orig = ctx->init_main_conf;
        ctx->init_main_conf = ngx_olla_dmr_upstream_init_main_conf;
    }

    ngx_olla_dmr_upstream_ctx = ctx;

    return NGX_OK;
}


void
ngx_olla_dmr_hooks_remove(void)
{
    ngx_olla_dmr_hook_t  *h;

    for (h = ngx_olla_dmr_hooks; h->module; h++) {
        if (h->cmd && h->cmd->set == h->hook) {
            h->cmd->set = h->orig;
        }

        h->cmd = NULL;
    }

    if (ngx_olla_dmr_upstream_ctx
        && ngx_olla_dmr_upstream_ctx->init_main_conf
           == ngx_olla_dmr_upstream_init_main_conf)
    {
        ngx_olla_dmr_upstream_ctx->init_main_conf =
                                           ngx_olla_dmr_upstream_init_orig;
    }

    ngx_olla_dmr_upstream_ctx = NULL;
}


static void
ngx_olla_dmr_hooks_cleanup(void *data)
{
    ngx_olla_dmr_hooks_remove();
}


/* ---------------------------------------------------------- recording */

void
ngx_olla_dmr_seen_init(ngx_olla_dmr_seen_t *seen)
{
    /*
     * set by ngx_pcalloc():
     *
     *     seen->proxy_pass = { 0, NULL };
     *     seen->proxy_pass_file = NULL;
     *     seen->proxy_pass_line = 0;
     *     seen->limit_req = NULL;
     */

    seen->http_version = NGX_CONF_UNSET;
    seen->connection = NGX_CONF_UNSET;
}


static char *
ngx_olla_dmr_hook_proxy_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                     *rv;
    ngx_str_t                *value;
    ngx_olla_dmr_loc_conf_t  *olcf;

    rv = ngx_olla_dmr_hooks[NGX_OLLA_DMR_H_PROXY_PASS].orig(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    olcf = ngx_http_conf_get_module_loc_conf(cf, ngx_olla_dmr_module);
    value = cf->args->elts;

    olcf->seen.proxy_pass = value[1];
    olcf->seen.proxy_pass_file = cf->conf_file->file.name.data;
    olcf->seen.proxy_pass_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_olla_dmr_hook_http_version(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                     *rv;
    ngx_str_t                *value;
    ngx_olla_dmr_loc_conf_t  *olcf;

    rv = ngx_olla_dmr_hooks[NGX_OLLA_DMR_H_HTTP_VERSION].orig(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    olcf = ngx_http_conf_get_module_loc_conf(cf, ngx_olla_dmr_module);
    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "1.1", 3) == 0) {
        olcf->seen.http_version = NGX_HTTP_VERSION_11;

    } else {
        olcf->seen.http_version = NGX_HTTP_VERSION_10;
    }

    return NGX_CONF_OK;
}


static char *
ngx_olla_dmr_hook_set_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                     *rv;
    ngx_str_t                *value;
    ngx_olla_dmr_loc_conf_t  *olcf;

    rv = ngx_olla_dmr_hooks[NGX_OLLA_DMR_H_SET_HEADER].orig(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    olcf = ngx_http_conf_get_module_loc_conf(cf, ngx_olla_dmr_module);
    value = cf->args->elts;

    /* any proxy_set_header here replaces every one of the level above */

    if (olcf->seen.connection == NGX_CONF_UNSET) {
        olcf->seen.connection = NGX_OLLA_DMR_CONN_NONE;
    }

    if (value[1].len != sizeof("Connection") - 1
        || ngx_strncasecmp(value[1].data, (u_char *) "Connection",
                           sizeof("Connection") - 1)
           != 0)
    {
        return NGX_CONF_OK;
    }

    /* a variable may well be "" (the websocket recipe): taken as meant */

    if (value[2].len == 0
        || ngx_strlchr(value[2].data, value[2].data + value[2].len, '$')
        || (value[2].len == sizeof("keep-alive") - 1
            && ngx_strncasecmp(value[2].data, (u_char *) "keep-alive",
                               sizeof("keep-alive") - 1)
               == 0))
    {
        olcf->seen.connection = NGX_OLLA_DMR_CONN_KEEP;

    } else {
        olcf->seen.connection = NGX_OLLA_DMR_CONN_CLOSE;
    }

    return NGX_CONF_OK;
}


/* "zone=NAME:SIZE" and "rate=Nr/s" or "rate=Nr/m", as nginx reads them */

static char *
ngx_olla_dmr_hook_limit_req_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                       *rv;
    u_char                     *p;
    size_t                      len;
    ngx_int_t                   rate, scale;
    ngx_str_t                  *value, name;
    ngx_uint_t                  i;
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_olla_dmr_limit_zone_t  *z;

    rv = ngx_olla_dmr_hooks[NGX_OLLA_DMR_H_LIMIT_REQ_ZONE].orig(cf, cmd,
                                                                 conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    ngx_str_null(&name);
    rate = 0;
    scale = 1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = ngx_strlchr(name.data, value[i].data + value[i].len, ':');
            name.len = p ? (size_t) (p - name.data) : value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            len = value[i].len;

            if (len > 8) {
                p = value[i].data + len - 3;

                if (ngx_strncmp(p, "r/s", 3) == 0) {
                    len -= 3;

                } else if (ngx_strncmp(p, "r/m", 3) == 0) {
                    scale = 60;
                    len -= 3;
                }
            }

            rate = ngx_atoi(value[i].data + 5, len - 5);
        }
    }

    if (name.len == 0 || rate <= 0) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);

    z = ngx_array_push(&omcf->limit_zones);
    if (z == NULL) {
        return NGX_CONF_ERROR;
    }

    /* when the bucket is full, one more request fits after 1/rate */

    z->name = name;
    z->retry_after = (scale + rate - 1) / rate;

    return NGX_CONF_OK;
}


static char *
ngx_olla_dmr_hook_limit_req(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                     *rv;
    ngx_str_t                *value, *name;
    ngx_uint_t                i;
    ngx_olla_dmr_loc_conf_t  *olcf;

    rv = ngx_olla_dmr_hooks[NGX_OLLA_DMR_H_LIMIT_REQ].orig(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    olcf = ngx_http_conf_get_module_loc_conf(cf, ngx_olla_dmr_module);
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) != 0) {
            continue;
        }

        if (olcf->seen.limit_req == NULL) {
            olcf->seen.limit_req = ngx_array_create(cf->pool, 2,
                                                    sizeof(ngx_str_t));
            if (olcf->seen.limit_req == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        name = ngx_array_push(olcf->seen.limit_req);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = value[i].data + 5;
        name->len = value[i].len - 5;
    }

    return NGX_CONF_OK;
}


/* inherited as the proxy and limit_req modules inherit them */

char *
ngx_olla_dmr_seen_merge(ngx_conf_t *cf, ngx_olla_dmr_loc_conf_t *prev,
    ngx_olla_dmr_loc_conf_t *conf)
{
    /* proxy_pass is not inherited; its check is ngx_olla_dmr_check_proxy() */

    if (conf->seen.http_version == NGX_CONF_UNSET) {
        conf->seen.http_version = prev->seen.http_version;
    }

    if (conf->seen.connection == NGX_CONF_UNSET) {
        conf->seen.connection = prev->seen.connection;
    }

    if (conf->seen.limit_req == NULL) {
        conf->seen.limit_req = prev->seen.limit_req;
    }

    return NGX_CONF_OK;
}


/* ------------------------------------------------------------- checks */

/*
 * The upstream module's init_main_conf, wrapped: it comes first after
 * the http block is read, and it would take an olla_route's name that no
 * upstream block has, or a proxy_pass to a name that is no upstream, for
 * a host name ("host not found in upstream"); so the routes are checked
 * first, and the message says what is wrong.
 */

static char *
ngx_olla_dmr_upstream_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_olla_dmr_init_main_pt  init;

    init = ngx_olla_dmr_upstream_init_orig;

    if (ngx_olla_dmr_upstream_ctx) {
        ngx_olla_dmr_upstream_ctx->init_main_conf = init;
    }

    if (ngx_olla_dmr_check_routes(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return init ? init(cf, conf) : NGX_CONF_OK;
}


static ngx_int_t
ngx_olla_dmr_check_routes(ngx_conf_t *cf, ngx_http_upstream_main_conf_t *umcf)
{
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_olla_dmr_loc_conf_t   **routes, *olcf;
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_http_core_loc_conf_t   *clcf, *c;
    ngx_http_location_queue_t  *lq;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);
    routes = omcf->routes.elts;

    for (i = 0; i < omcf->routes.nelts; i++) {

        if (ngx_olla_dmr_check_upstream(cf, umcf, routes[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (!ngx_olla_dmr_proxy_seen) {
            continue;
        }

        if (ngx_olla_dmr_check_proxy(cf, routes[i], &routes[i]->seen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* "if" and "limit_except" blocks in it that have a proxy_pass */

        clcf = routes[i]->loc_core;

        if (clcf == NULL || clcf->locations == NULL) {
            continue;
        }

        for (q = ngx_queue_head(clcf->locations);
             q != ngx_queue_sentinel(clcf->locations);
             q = ngx_queue_next(q))
        {
            lq = (ngx_http_location_queue_t *) q;
            c = lq->exact ? lq->exact : lq->inclusive;

            if (c == NULL || !c->noname) {
                continue;
            }

            olcf = c->loc_conf[ngx_olla_dmr_module.ctx_index];

            if (olcf->seen.proxy_pass.data
                && ngx_olla_dmr_check_proxy(cf, routes[i], &olcf->seen)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_check_upstream(ngx_conf_t *cf,
    ngx_http_upstream_main_conf_t *umcf, ngx_olla_dmr_loc_conf_t *route)
{
    u_char                          *p, *last;
    ngx_uint_t                       j;
    ngx_olla_dmr_upstream_t        **upsp;
    ngx_olla_dmr_main_conf_t        *omcf;
    ngx_http_upstream_srv_conf_t   **uscfp;
    u_char                           names[256];

    uscfp = umcf->upstreams.elts;

    for (j = 0; j < umcf->upstreams.nelts; j++) {
        if (uscfp[j]->srv_conf
            && uscfp[j]->host.len == route->route_name.len
            && ngx_strncasecmp(uscfp[j]->host.data, route->route_name.data,
                               route->route_name.len)
               == 0)
        {
            return NGX_OK;
        }
    }

    /* the upstreams with olla_endpoint lines, as a hint */

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);

    p = names;
    last = names + sizeof(names);
    upsp = omcf->upstreams.elts;

    for (j = 0; j < omcf->upstreams.nelts; j++) {
        p = ngx_slprintf(p, last, "%s\"%V\"", j ? ", " : "",
                         &upsp[j]->uscf->host);
    }

    if (omcf->upstreams.nelts == 0) {
        p = ngx_slprintf(p, last, "none");
    }

    ngx_olla_dmr_conf_error(cf, route->conf_file, route->conf_line,
                            "\"olla_route %V\" names no upstream block: "
                            "add \"upstream %V { olla_endpoint "
                            "http://HOST:PORT; }\" to the http block, or "
                            "name one that exists (upstreams with "
                            "olla_endpoint: %*s)",
                            &route->route_name, &route->route_name,
                            (size_t) (p - names), names);

    return NGX_ERROR;
}


/*
 * A route's proxy_pass (its location's, or that of an "if" or
 * "limit_except" block in it): "http://NAME" or "https://NAME", NAME the
 * route's upstream, no URI, no variables.
 */

static ngx_int_t
ngx_olla_dmr_check_proxy(ngx_conf_t *cf, ngx_olla_dmr_loc_conf_t *route,
    ngx_olla_dmr_seen_t *seen)
{
    u_char     *p, *host, *last;
    ngx_str_t  *pp, scheme, name, uri;

    pp = &seen->proxy_pass;

    if (pp->data == NULL) {
        ngx_olla_dmr_conf_error(cf, route->conf_file, route->conf_line,
                                "\"olla_route %V\" needs \"proxy_pass "
                                "http://%V;\" in the same location: the "
                                "route chooses the endpoint and the path, "
                                "proxy_pass sends the request there; "
                                "without it every request ends in 404",
                                &route->route_name, &route->route_name);
        return NGX_ERROR;
    }

    ngx_str_set(&scheme, "http://");
    host = pp->data;
    last = pp->data + pp->len;

    if (pp->len > 7 && ngx_strncasecmp(pp->data, (u_char *) "http://", 7)
                       == 0)
    {
        host += 7;

    } else if (pp->len > 8
               && ngx_strncasecmp(pp->data, (u_char *) "https://", 8) == 0)
    {
        ngx_str_set(&scheme, "https://");
        host += 8;
    }

    if (ngx_http_script_variables_count(pp)) {
        ngx_olla_dmr_conf_error(cf, route->conf_file, route->conf_line,
                                "\"proxy_pass %V\" (%s:%ui) uses variables, "
                                "but olla_route chooses the endpoint and "
                                "the upstream path of each request itself: "
                                "write \"proxy_pass %V%V;\"",
                                pp, seen->proxy_pass_file,
                                seen->proxy_pass_line, &scheme,
                                &route->route_name);
        return NGX_ERROR;
    }

    p = ngx_strlchr(host, last, '/');

    name.data = host;
    name.len = (p ? p : last) - host;

    if (name.len != route->route_name.len
        || ngx_strncasecmp(name.data, route->route_name.data, name.len) != 0)
    {
        ngx_olla_dmr_conf_error(cf, route->conf_file, route->conf_line,
                                "\"proxy_pass %V\" (%s:%ui) sends to \"%V\", "
                                "but \"olla_route\" names upstream \"%V\": "
                                "the route reserves an endpoint of \"%V\" "
                                "that the proxy never uses (502); write "
                                "\"proxy_pass %V%V;\"",
                                pp, seen->proxy_pass_file,
                                seen->proxy_pass_line, &name,
                                &route->route_name, &route->route_name,
                                &scheme, &route->route_name);
        return NGX_ERROR;
    }

    if (p) {
        uri.data = p;
        uri.len = last - p;

        ngx_olla_dmr_conf_error(cf, route->conf_file, route->conf_line,
                                "\"proxy_pass %V\" (%s:%ui) has a URI part, "
                                "\"%V\": olla_route sets the upstream path "
                                "of each request, and nginx would put "
                                "\"%V\" in place of the location's prefix "
                                "(the backend answers 404); write "
                                "\"proxy_pass %V%V;\" without a URI",
                                pp, seen->proxy_pass_file,
                                seen->proxy_pass_line, &uri, &uri,
                                &scheme, &route->route_name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Pooling: the upstream's "keepalive" reuses a connection only when the
 * request went out as HTTP/1.1 without "Connection: close".  nginx sent
 * HTTP/1.0 and "Connection: close" unless told otherwise before 1.29.7;
 * since, HTTP/1.1 and no Connection header are the proxy's defaults.
 */

void
ngx_olla_dmr_check_pooling(ngx_conf_t *cf, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_int_t                  version, connection;
    ngx_uint_t                 i;
    const char                *why;
    ngx_olla_dmr_loc_conf_t  **routes;

    routes = omcf->routes.elts;

    for (i = 0; i < omcf->routes.nelts; i++) {

        if (routes[i]->ups == NULL
            || !ngx_olla_dmr_upstream_pooled(routes[i]->ups))
        {
            /* no "keepalive" in the upstream: nothing to pool */
            continue;
        }

        version = routes[i]->seen.http_version;
        connection = routes[i]->seen.connection;

#if (nginx_version >= 1029007)
        if (version == NGX_CONF_UNSET) {
            version = NGX_HTTP_VERSION_11;
        }

        if (connection == NGX_CONF_UNSET
            || connection == NGX_OLLA_DMR_CONN_NONE)
        {
            connection = NGX_OLLA_DMR_CONN_KEEP;
        }
#else
        if (version == NGX_CONF_UNSET) {
            version = NGX_HTTP_VERSION_10;
        }

        if (connection == NGX_CONF_UNSET
            || connection == NGX_OLLA_DMR_CONN_NONE)
        {
            connection = NGX_OLLA_DMR_CONN_CLOSE;
        }
#endif

        if (version == NGX_HTTP_VERSION_11
            && connection == NGX_OLLA_DMR_CONN_KEEP)
        {
            continue;
        }

        if (version != NGX_HTTP_VERSION_11
            && connection != NGX_OLLA_DMR_CONN_KEEP)
        {
            why = "requests go out as HTTP/1.0 with \"Connection: close\"";

        } else if (version != NGX_HTTP_VERSION_11) {
            why = "requests go out as HTTP/1.0";

        } else {
            why = "requests go out with \"Connection: close\"";
        }

        ngx_olla_dmr_conf_warn(cf, routes[i]->conf_file, routes[i]->conf_line,
                               "\"olla_route %V\" in location \"%V\": %s, so "
                               "the upstream's \"keepalive\" cannot reuse "
                               "connections to the endpoints; add "
                               "\"include olla_proxy_params;\" to the "
                               "location (it sets \"proxy_http_version "
                               "1.1;\" and \"proxy_set_header Connection "
                               "\"\";\"), after any other "
                               "\"proxy_set_header\" there",
                               &routes[i]->route_name, &routes[i]->loc_name,
                               why);
    }
}


/* ------------------------------------------------------------ at run time */

/* the longest wait any limit_req zone of the location asks for, or 0 */

ngx_uint_t
ngx_olla_dmr_limit_req_retry(ngx_http_request_t *r,
    ngx_olla_dmr_loc_conf_t *olcf)
{
    ngx_str_t                  *names;
    ngx_uint_t                  i, j, retry;
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_olla_dmr_limit_zone_t  *z;

    if (olcf == NULL || olcf->seen.limit_req == NULL) {
        return 0;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    names = olcf->seen.limit_req->elts;
    z = omcf->limit_zones.elts;
    retry = 0;

    for (i = 0; i < olcf->seen.limit_req->nelts; i++) {
        for (j = 0; j < omcf->limit_zones.nelts; j++) {
            if (z[j].name.len == names[i].len
                && ngx_strncmp(z[j].name.data, names[i].data, names[i].len)
                   == 0)
            {
                retry = ngx_max(retry, z[j].retry_after);
                break;
            }
        }
    }

    return retry;
}
