
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * CORS on olla_route locations, for browser clients (olla_cors_origins,
 * off by default).  A preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) from an allowed origin is answered 204
 * in the rewrite phase, before access checks (a browser sends no
 * credentials with it); from another origin it is refused with a 403 in
 * the route's dialect.  Every answer on the location, errors included,
 * gets Access-Control-Allow-Origin for an allowed origin, and Vary: Origin
 * when the answer depends on it; a backend's own Access-Control-* headers
 * are dropped.
 */


#include "ngx_olla_dmr.h"


#define NGX_OLLA_DMR_CORS_METHODS  "GET, POST, DELETE, OPTIONS"
#define NGX_OLLA_DMR_CORS_MAX_AGE  "7200"      /* Chromium's cap */
#define NGX_OLLA_DMR_CORS_HEADERS_MAX  2048

/* what the OpenAI and Anthropic SDKs send, when a preflight names none */
#define NGX_OLLA_DMR_CORS_HEADERS                                            \
    "authorization, content-type, x-api-key, anthropic-version, "            \
    "anthropic-beta, anthropic-dangerous-direct-browser-access, "            \
    "openai-organization, openai-project, openai-beta, x-request-id, "       \
    "x-olla-session-id, x-stainless-arch, x-stainless-lang, "                \
    "x-stainless-os, x-stainless-package-version, x-stainless-retry-count, " \
    "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout"

/* response headers a script may read besides the safelisted ones */
#define NGX_OLLA_DMR_CORS_EXPOSE                                             \
    "Retry-After, X-Olla-Request-ID, X-Olla-Endpoint, "                     \
    "X-Olla-Backend-Type, X-Olla-Model, X-Olla-Mode, X-Olla-Response-Time"


static ngx_int_t ngx_olla_dmr_cors_preflight(ngx_http_request_t *r);
static ngx_table_elt_t *ngx_olla_dmr_cors_header_in(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_uint_t ngx_olla_dmr_cors_allowed(ngx_olla_dmr_cors_t *cors,
    ngx_str_t *origin);
static ngx_uint_t ngx_olla_dmr_cors_token_list(ngx_str_t *s);


/*
 * olla_cors_origins off | * | ORIGIN ...;   an origin is SCHEME://HOST or
 * SCHEME://HOST:PORT, as browsers send it: no path, no trailing slash
 */

char *
ngx_olla_dmr_cors_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_olla_dmr_loc_conf_t  *olcf = conf;

    u_char                    *p, *last, *host;
    ngx_str_t                 *value, *o;
    ngx_uint_t                 i;
    ngx_olla_dmr_cors_t       *cors;
    ngx_olla_dmr_main_conf_t  *omcf;

    if (olcf->cors != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        olcf->cors = NULL;
        return NGX_CONF_OK;
    }

    cors = ngx_pcalloc(cf->pool, sizeof(ngx_olla_dmr_cors_t));
    if (cors == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&cors->origins, cf->pool, cf->args->nelts,
                       sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if ((value[i].len == 1 && value[i].data[0] == '*')
            || (value[i].len == 3
                && ngx_strncmp(value[i].data, "off", 3) == 0))
        {
            if (cf->args->nelts != 2) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\" stands alone in "
                                   "\"olla_cors_origins\": write "
                                   "\"olla_cors_origins %V;\" or list "
                                   "origins", &value[i], &value[i]);
                return NGX_CONF_ERROR;
            }

            cors->any = 1;
            continue;
        }

        p = value[i].data;
        last = p + value[i].len;

        /* SCHEME "://" */

        host = ngx_strlchr(p, last, ':');

        if (host == NULL || host == p || last - host < 4
            || host[1] != '/' || host[2] != '/')
        {
            goto invalid;
        }

        for ( /* void */ ; p < host; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'
                  || *p == '.'))
            {
                goto invalid;
            }
        }

        /* HOST[:PORT]: no path, no query, no credentials, no wildcard */

        for (p = host + 3; p < last; p++) {
            if (*p == '/' || *p == '?' || *p == '#' || *p == '@'
                || *p == '*' || *p <= ' ' || *p >= 0x7f)
            {
                goto invalid;
            }
        }

        o = ngx_array_push(&cors->origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        o->len = value[i].len;
        o->data = ngx_pnalloc(cf->pool, o->len);
        if (o->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(o->data, value[i].data, o->len);
    }

    olcf->cors = cors;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);
    omcf->cors_used = 1;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid origin \"%V\" in \"olla_cors_origins\": an "
                       "origin is SCHEME://HOST or SCHEME://HOST:PORT, as a "
                       "browser sends it in \"Origin\" (no path, no "
                       "trailing slash, no wildcard), e.g. "
                       "\"https://chat.example.com\"", &value[i]);

    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_olla_dmr_cors_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* the last added runs first: before rewrite's return and if */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_olla_dmr_cors_preflight;

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_cors_preflight(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_int_t                 rc;
    ngx_str_t                 origin;
    ngx_table_elt_t          *h, *method, *headers;
    ngx_olla_dmr_ctx_t       *ctx;
    ngx_olla_dmr_loc_conf_t  *olcf;

    if (r != r->main || r->method != NGX_HTTP_OPTIONS) {
        return NGX_DECLINED;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

    if (olcf->cors == NULL || olcf->ups == NULL
        || ngx_http_get_module_ctx(r, ngx_olla_dmr_module))
    {
        return NGX_DECLINED;
    }

    h = ngx_olla_dmr_cors_header_in(r, "Origin", sizeof("Origin") - 1);
    method = ngx_olla_dmr_cors_header_in(r, "Access-Control-Request-Method",
                                 sizeof("Access-Control-Request-Method") - 1);

    if (h == NULL || method == NULL) {
        /* not a preflight: OPTIONS goes on as without CORS */
        return NGX_DECLINED;
    }

    origin = h->value;

    if (!ngx_olla_dmr_cors_allowed(olcf->cors, &origin)) {
        ctx = ngx_olla_dmr_error_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_ORIGIN_NOT_ALLOWED,
                                 "the origin \"%V\" is not allowed to call "
                                 "this API from a browser", &origin);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    headers = ngx_olla_dmr_cors_header_in(r,
                                 "Access-Control-Request-Headers",
                                 sizeof("Access-Control-Request-Headers") - 1);

    if (ngx_olla_dmr_add_header(r, "Access-Control-Allow-Origin",
                      olcf->cors->any ? (u_char *) "*" : origin.data,
                      olcf->cors->any ? 1 : origin.len)
        != NGX_OK
        || ngx_olla_dmr_add_header(r, "Access-Control-Allow-Methods",
                         (u_char *) NGX_OLLA_DMR_CORS_METHODS,
                         sizeof(NGX_OLLA_DMR_CORS_METHODS) - 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the headers the browser asks for: the origin is trusted anyway */

    if (headers && ngx_olla_dmr_cors_token_list(&headers->value)) {
        rc = ngx_olla_dmr_add_header(r, "Access-Control-Allow-Headers",
                           headers->value.data, headers->value.len);

    } else {
        rc = ngx_olla_dmr_add_header(r, "Access-Control-Allow-Headers",
                           (u_char *) NGX_OLLA_DMR_CORS_HEADERS,
                           sizeof(NGX_OLLA_DMR_CORS_HEADERS) - 1);
    }

    if (rc != NGX_OK
        || ngx_olla_dmr_add_header(r, "Access-Control-Max-Age",
                         (u_char *) NGX_OLLA_DMR_CORS_MAX_AGE,
                         sizeof(NGX_OLLA_DMR_CORS_MAX_AGE) - 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = (u_char *) (olcf->cors->any
                    ? "Access-Control-Request-Headers"
                    : "Origin, Access-Control-Request-Headers");

    if (ngx_olla_dmr_add_header(r, "Vary", p, ngx_strlen(p)) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/* on every answer of a location with olla_cors_origins */

ngx_int_t
ngx_olla_dmr_cors_headers(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_uint_t                i;
    ngx_list_part_t          *part;
    ngx_table_elt_t          *h;
    ngx_olla_dmr_cors_t      *cors;

    if (ctx->olcf == NULL || ctx->olcf->cors == NULL) {
        return NGX_OK;
    }

    cors = ctx->olcf->cors;

    if (r->upstream) {
        /* the gateway answers for CORS, not the backend */

        for (part = &r->headers_out.headers.part; part; part = part->next) {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (h[i].key.len > sizeof("Access-Control-") - 1
                    && ngx_strncasecmp(h[i].key.data,
                                       (u_char *) "Access-Control-",
                                       sizeof("Access-Control-") - 1)
                       == 0)
                {
                    h[i].hash = 0;
                }
            }
        }
    }

    if (!cors->any
        && ngx_olla_dmr_add_header(r, "Vary", (u_char *) "Origin",
                         sizeof("Origin") - 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->origin.len == 0 || !ngx_olla_dmr_cors_allowed(cors, &ctx->origin))
    {
        return NGX_OK;
    }

    if (ngx_olla_dmr_add_header(r, "Access-Control-Allow-Origin",
                      cors->any ? (u_char *) "*" : ctx->origin.data,
                      cors->any ? 1 : ctx->origin.len)
        != NGX_OK
        || ngx_olla_dmr_add_header(r, "Access-Control-Expose-Headers",
                         (u_char *) NGX_OLLA_DMR_CORS_EXPOSE,
                         sizeof(NGX_OLLA_DMR_CORS_EXPOSE) - 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_olla_dmr_cors_header_in(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len == len
                && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
            {
                return &h[i];
            }
        }
    }

    return NULL;
}


static ngx_uint_t
ngx_olla_dmr_cors_allowed(ngx_olla_dmr_cors_t *cors, ngx_str_t *origin)
{
    ngx_str_t   *o;
    ngx_uint_t   i;

    if (cors->any) {
        return 1;
    }

    o = cors->origins.elts;

    for (i = 0; i < cors->origins.nelts; i++) {
        if (o[i].len == origin->len
            && ngx_strncasecmp(o[i].data, origin->data, o[i].len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* header names separated by commas: echoed back as they are */

static ngx_uint_t
ngx_olla_dmr_cors_token_list(ngx_str_t *s)
{
    u_char  *p, *last;

    if (s->len == 0 || s->len > NGX_OLLA_DMR_CORS_HEADERS_MAX) {
        return 0;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
              || *p == ',' || *p == ' ' || *p == '.'))
        {
            return 0;
        }
    }

    return 1;
}
