
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * olla_route: a precontent-phase handler for the location it is set in.
 * It decides everything about a request once (SPEC 3, 4, 5): the route,
 * the endpoint type, the endpoint (reserved against its concurrency limit),
 * the mode on the Anthropic route, the upstream URI and the request
 * headers, and stores it in the request ctx; proxy_pass then runs, the
 * balancer honours the ctx and the filters read it on the way back.
 * Requests answered by the module itself (model lists, errors) never reach
 * the proxy.
 */


#include "ngx_olla_dmr.h"
#include "olla_json.h"
#include "olla_anthropic.h"

#include <openssl/rand.h>


#define NGX_OLLA_DMR_PICK_NONE       1
#define NGX_OLLA_DMR_PICK_FULL       2
#define NGX_OLLA_DMR_PICK_NO_MODEL   3
#define NGX_OLLA_DMR_PICK_NO_TYPE    4


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   drop;       /* bit: when to drop */
} ngx_olla_dmr_header_rule_t;

#define NGX_OLLA_DMR_DROP_ALWAYS       1
#define NGX_OLLA_DMR_DROP_CREDENTIALS  2
#define NGX_OLLA_DMR_DROP_TRANSLATION  4


static ngx_olla_dmr_header_rule_t  ngx_olla_dmr_header_rules[] = {
    { ngx_string("origin"), NGX_OLLA_DMR_DROP_ALWAYS },
    { ngx_string("x-request-id"), NGX_OLLA_DMR_DROP_ALWAYS },
    { ngx_string("authorization"), NGX_OLLA_DMR_DROP_CREDENTIALS },
    { ngx_string("x-api-key"), NGX_OLLA_DMR_DROP_CREDENTIALS },
    { ngx_string("cookie"), NGX_OLLA_DMR_DROP_CREDENTIALS },
    { ngx_string("proxy-authorization"), NGX_OLLA_DMR_DROP_CREDENTIALS },
    { ngx_string("x-auth-token"), NGX_OLLA_DMR_DROP_CREDENTIALS },
    { ngx_string("accept-encoding"), NGX_OLLA_DMR_DROP_TRANSLATION },
    { ngx_string("anthropic-version"), NGX_OLLA_DMR_DROP_TRANSLATION },
    { ngx_string("anthropic-beta"), NGX_OLLA_DMR_DROP_TRANSLATION },
    { ngx_string("content-type"), NGX_OLLA_DMR_DROP_TRANSLATION },
    { ngx_null_string, 0 }
};


static ngx_int_t ngx_olla_dmr_route_start(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_read_body(ngx_http_request_t *r);
static void ngx_olla_dmr_new_id(u_char *p);
static ngx_int_t ngx_olla_dmr_fail(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t status, const char *type,
    const char *code, const char *fmt, ...);
static ngx_int_t ngx_olla_dmr_answer(ngx_http_request_t *r, ngx_int_t rc);
static ngx_int_t ngx_olla_dmr_send_errorv(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t status, const char *type,
    const char *code, const char *fmt, va_list args);
static void ngx_olla_dmr_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_route_body(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_route_proxy(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_route_anthropic(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_endpoint_t *ep);
static ngx_int_t ngx_olla_dmr_pick_error(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t reason);
static ngx_int_t ngx_olla_dmr_scan_body(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_json_scan_t *scan);
static ngx_int_t ngx_olla_dmr_body_bytes(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_olla_dmr_replace_body(ngx_http_request_t *r,
    u_char *data, size_t len);
static ngx_int_t ngx_olla_dmr_set_headers(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_uint_t ngx_olla_dmr_dropped(ngx_table_elt_t *h, ngx_uint_t mask);
static ngx_int_t ngx_olla_dmr_check_path(ngx_http_request_t *r);
static ngx_uint_t ngx_olla_dmr_type_ok(ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_endpoint_t *ep);
static const char *ngx_olla_dmr_type_path(ngx_olla_dmr_ctx_t *ctx,
    const olla_profile_t *p, ngx_str_t *path);
static const char *ngx_olla_dmr_chat_path(const olla_profile_t *p);
static ngx_int_t ngx_olla_dmr_set_uri(ngx_http_request_t *r,
    const char *path, const char *suffix);
static ngx_int_t ngx_olla_dmr_method_get(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_uint_t ngx_olla_dmr_retry_after(ngx_olla_dmr_ctx_t *ctx);
static u_char *ngx_olla_dmr_json_str(u_char *dst, const u_char *src,
    size_t len);
static size_t ngx_olla_dmr_json_str_len(const u_char *src, size_t len);




ngx_int_t
ngx_olla_dmr_route_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_olla_dmr_ctx_t       *ctx;
    ngx_olla_dmr_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

    if (olcf->ups == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx) {
        if (ctx->phase_done) {
            return ctx->status;
        }

        /* an internal redirect back into an olla location */
        return NGX_DECLINED;
    }

    ctx = ngx_olla_dmr_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->ups = olcf->ups;
    ctx->olcf = olcf;

    rc = ngx_olla_dmr_route_start(r, ctx);

    if (rc == NGX_DONE) {
        /* the body is being read, or the module answered itself */
        return NGX_DONE;
    }

    ctx->phase_done = 1;
    ctx->status = rc;

    return rc;
}


ngx_olla_dmr_ctx_t *
ngx_olla_dmr_create_ctx(ngx_http_request_t *r)
{
    u_char              *p;
    ngx_str_t           *id;
    ngx_uint_t           i;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_olla_dmr_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->stream = -1;
    ctx->start = ngx_current_msec;

    /* a valid inbound X-Request-ID is echoed, else nginx's $request_id */

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("X-Request-ID") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Request-ID",
                               sizeof("X-Request-ID") - 1)
               == 0
            && olla_request_id_valid((char *) h[i].value.data,
                                     h[i].value.len))
        {
            ctx->request_id = h[i].value;
            break;
        }
    }

    /* NUL-terminated: the pure-C side takes it as a C string */

    id = &ctx->request_id;

    p = ngx_pnalloc(r->pool, ngx_max(id->len, 32) + 1);
    if (p == NULL) {
        return NULL;
    }

    if (id->len) {
        ngx_memcpy(p, id->data, id->len);

    } else {
        ngx_olla_dmr_new_id(p);
        id->len = 32;
    }

    p[id->len] = '\0';
    id->data = p;

    ngx_http_set_ctx(r, ctx, ngx_olla_dmr_module);

    return ctx;
}


/*
 * A request id: 32 hex digits, a random 64-bit prefix drawn once per
 * process and a counter.  Unique without asking OpenSSL for randomness on
 * every request (nginx's $request_id does that, and it is the dearest
 * part of a request's bookkeeping).
 */

static void
ngx_olla_dmr_new_id(u_char *p)
{
    static ngx_pid_t  pid;
    static uint64_t   prefix, count;

    if (pid != ngx_pid) {
        pid = ngx_pid;

        if (RAND_bytes((u_char *) &prefix, sizeof(prefix)) != 1) {
            prefix = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
                     ^ ((uint64_t) ngx_pid << 16) ^ (uint64_t) ngx_time();
        }

        count = 0;
    }

    count++;

    (void) ngx_sprintf(p, "%016uxL%016uxL", prefix, count);
}



/* the route table (SPEC 3) */

static ngx_int_t
ngx_olla_dmr_route_start(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    u_char                    *p, *last, *seg;
    ngx_int_t                  rc;
    ngx_str_t                  rest, prefix;
    ngx_uint_t                 i;
    const olla_profile_t      *prof;
    ngx_olla_dmr_endpoint_t   *ep;
    ngx_olla_dmr_main_conf_t  *omcf;
    ngx_http_core_loc_conf_t  *clcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ctx->api = NGX_OLLA_DMR_API_OPENAI;

    if (r->uri.len < clcf->name.len
        || ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) != 0)
    {
        return NGX_DECLINED;
    }

    p = r->uri.data + clcf->name.len;
    last = r->uri.data + r->uri.len;

    while (p < last && *p == '/') {
        p++;
    }

    rest.data = p;
    rest.len = last - p;

    if (rest.len > 10 && ngx_strncmp(rest.data, "anthropic/", 10) == 0) {
        ctx->api = NGX_OLLA_DMR_API_ANTHROPIC;
    }

    rc = ngx_olla_dmr_check_path(r);
    if (rc != NGX_OK) {
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request_error",
                                       "invalid_path",
                                       "the path must not contain \"..\" "
                                       "or \".\" segments, encoded "
                                       "slashes or empty segments");
    }

    /* models: every model of every endpoint, with its endpoints */

    if (rest.len == 6 && ngx_strncmp(rest.data, "models", 6) == 0) {
        ngx_str_set(&ctx->route_name, "models");
        ctx->route = NGX_OLLA_DMR_ROUTE_MODELS;

        rc = ngx_olla_dmr_method_get(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_olla_dmr_answer(r, ngx_olla_dmr_models_response(r, ctx,
                                            NGX_OLLA_DMR_LIST_UNIFIED));
    }

    /* anthropic/v1/{messages, messages/count_tokens, models} */

    if (ctx->api == NGX_OLLA_DMR_API_ANTHROPIC) {
        ngx_str_set(&ctx->route_name, "anthropic");
        ctx->route = NGX_OLLA_DMR_ROUTE_ANTHROPIC;

        rest.data += 10;
        rest.len -= 10;

        if (rest.len == sizeof("v1/models") - 1
            && ngx_strncmp(rest.data, "v1/models", rest.len) == 0)
        {
            rc = ngx_olla_dmr_method_get(r, ctx);
            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_olla_dmr_answer(r, ngx_olla_dmr_models_response(r,
                                                ctx,
                                                NGX_OLLA_DMR_LIST_ANTHROPIC));
        }

        if ((rest.len == sizeof("v1/messages") - 1
             && ngx_strncmp(rest.data, "v1/messages", rest.len) == 0)
            || (rest.len == sizeof("v1/messages/count_tokens") - 1
                && ngx_strncmp(rest.data, "v1/messages/count_tokens",
                               rest.len)
                   == 0))
        {
            ctx->path.data = rest.data + 2;      /* "/messages..." */
            ctx->path.len = rest.len - 2;

            if (r->method != NGX_HTTP_POST) {
                ngx_table_elt_t  *h;

                h = ngx_list_push(&r->headers_out.headers);
                if (h) {
                    h->hash = 1;
#if (nginx_version >= 1023000)
                    h->next = NULL;
#endif
                    ngx_str_set(&h->key, "Allow");
                    ngx_str_set(&h->value, "POST");
                }

                return ngx_olla_dmr_fail(r, ctx,
                                               NGX_HTTP_NOT_ALLOWED,
                                               "invalid_request_error",
                                               "method_not_allowed",
                                               "use POST for /v1/messages");
            }

            goto body;
        }

        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                       "not_found_error", "route_not_found",
                                       "unknown Anthropic path "
                                       "\"/anthropic/%V\"; the Anthropic "
                                       "route serves /v1/messages, "
                                       "/v1/messages/count_tokens and "
                                       "/v1/models", &rest);
    }

    /* proxy/v1/...: the OpenAI route over every endpoint type */

    if (rest.len >= 5 && ngx_strncmp(rest.data, "proxy", 5) == 0
        && (rest.len == 5 || rest.data[5] == '/'))
    {
        ngx_str_set(&ctx->route_name, "proxy");
        ctx->route = NGX_OLLA_DMR_ROUTE_PROXY;

        ctx->path.data = rest.data + 5;
        ctx->path.len = rest.len - 5;

        if (ctx->path.len == sizeof("/v1/models") - 1
            && ngx_strncmp(ctx->path.data, "/v1/models", ctx->path.len)
               == 0)
        {
            rc = ngx_olla_dmr_method_get(r, ctx);
            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_olla_dmr_answer(r, ngx_olla_dmr_models_response(r,
                                                ctx,
                                                NGX_OLLA_DMR_LIST_OPENAI));
        }

        if (ctx->path.len < 4
            || ngx_strncmp(ctx->path.data, "/v1/", 4) != 0)
        {
            return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                           "not_found_error",
                                           "path_not_found",
                                           "the proxy route serves OpenAI "
                                           "paths under /proxy/v1/, not "
                                           "\"/proxy%V\"", &ctx->path);
        }

        ep = ctx->ups->endpoints.elts;

        for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
            if (ngx_olla_dmr_type_path(ctx, ep[i].profile, &ctx->path)) {
                goto body;
            }
        }

        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                       "not_found_error", "path_not_found",
                                       "no endpoint type serves \"%V\"",
                                       &ctx->path);
    }

    /* <prefix>/<api path>: a provider route */

    seg = ngx_strlchr(rest.data, rest.data + rest.len, '/');

    prefix.data = rest.data;
    prefix.len = seg ? (size_t) (seg - rest.data) : rest.len;

    prof = prefix.len ? olla_profiles_find_prefix(omcf->profiles,
                                                  (char *) prefix.data,
                                                  prefix.len)
                      : NULL;

    if (prof == NULL) {
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                       "not_found_error", "route_not_found",
                                       "unknown route \"%V\": the path "
                                       "must start with a provider prefix "
                                       "of a profile, \"proxy/\", "
                                       "\"anthropic/\" or be \"models\"",
                                       &r->uri);
    }

    ctx->route = NGX_OLLA_DMR_ROUTE_PROVIDER;
    ctx->route_name = prefix;
    ctx->type = prof;

    ctx->path.data = seg ? seg : rest.data + rest.len;
    ctx->path.len = rest.data + rest.len - ctx->path.data;

    if (!olla_profile_has_path(prof, (char *) ctx->path.data,
                               ctx->path.len))
    {
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                       "not_found_error", "path_not_found",
                                       "\"%V\" is not an API path of "
                                       "endpoint type \"%s\"",
                                       &ctx->path, prof->name);
    }

    ep = ctx->ups->endpoints.elts;

    for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
        if (ep[i].profile == prof) {
            break;
        }
    }

    if (i == ctx->ups->endpoints.nelts) {
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                       "not_found_error", "no_endpoint",
                                       "upstream \"%V\" has no endpoint of "
                                       "type \"%s\"", &ctx->ups->uscf->host,
                                       prof->name);
    }

    /* every models path of the profile is answered locally */

    if (ctx->path.len >= 7
        && ngx_strncmp(ctx->path.data + ctx->path.len - 7, "/models", 7)
           == 0)
    {
        rc = ngx_olla_dmr_method_get(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_olla_dmr_answer(r, ngx_olla_dmr_models_response(r, ctx,
                                                     NGX_OLLA_DMR_LIST_DMR));
    }

body:

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {

        if (ctx->route == NGX_OLLA_DMR_ROUTE_ANTHROPIC) {
            ngx_olla_dmr_loc_conf_t  *olcf;

            olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

            if (r->headers_in.content_length_n
                > (off_t) olcf->max_message_size)
            {
                return ngx_olla_dmr_fail(r, ctx,
                                    NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "request_too_large", "request_too_large",
                                    "request body exceeds the maximum "
                                    "message size (%uz bytes)",
                                    olcf->max_message_size);
            }
        }

        rc = ngx_olla_dmr_read_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    return ngx_olla_dmr_route_body(r, ctx);
}


static ngx_int_t
ngx_olla_dmr_read_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_read_client_request_body(r, ngx_olla_dmr_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_olla_dmr_body_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    rc = ngx_olla_dmr_route_body(r, ctx);

    if (rc == NGX_DONE) {
        /* answered by the module: finalized already */
        return;
    }

    ctx->phase_done = 1;
    ctx->status = rc;

    r->preserve_body = 1;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* with the body read (or none): the model, the endpoint, the upstream */

static ngx_int_t
ngx_olla_dmr_route_body(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    u_char                    *model;
    ngx_int_t                  rc;
    ngx_uint_t                 reason;
    const char                *path;
    u_char                     num[32], small[512];
    olla_json_scan_t           scan;
    olla_json_field_t          fields[4];
    ngx_olla_dmr_endpoint_t   *ep;
    ngx_olla_dmr_loc_conf_t   *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

    ngx_memzero(fields, sizeof(fields));

    /* most names fit the stack; a longer one is read again below */

    fields[0].key = "model";
    fields[0].key_len = 5;
    fields[0].value = (char *) small;
    fields[0].cap = sizeof(small);

    fields[1].key = "stream";
    fields[1].key_len = 6;

    fields[2].key = "max_tokens";
    fields[2].key_len = 10;
    fields[2].value = (char *) num;
    fields[2].cap = sizeof(num);

    fields[3].key = "messages";
    fields[3].key_len = 8;

    olla_json_scan_init(&scan, fields, 4, 0);

    if (r->request_body && r->request_body->bufs) {

        if (ctx->route == NGX_OLLA_DMR_ROUTE_ANTHROPIC
            && (size_t) r->headers_in.content_length_n
               > olcf->max_message_size)
        {
            return ngx_olla_dmr_fail(r, ctx,
                                    NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                    "request_too_large", "request_too_large",
                                    "request body exceeds the maximum "
                                    "message size (%uz bytes)",
                                    olcf->max_message_size);
        }

        rc = ngx_olla_dmr_scan_body(r, ctx, &scan);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            if (ngx_strncmp(scan.err, "invalid JSON: ", 14) == 0) {
                return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request_error",
                                         "invalid_json",
                                         "request body is not valid JSON: "
                                         "%s (at byte %uz)", scan.err + 14,
                                         scan.err_offset);
            }

            return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request_error", "invalid_json",
                                     "%s (at byte %uz)", scan.err,
                                     scan.err_offset);
        }

        if (fields[0].type != OLLA_JSON_NONE
            && fields[0].type != OLLA_JSON_STRING)
        {
            return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_request_error",
                                           "invalid_model",
                                           "\"model\" must be a string");
        }

        if (fields[0].type == OLLA_JSON_STRING) {
            if (fields[0].len == 0) {
                return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request_error",
                                         "invalid_model",
                                         "\"model\" must not be empty");
            }

            if (fields[0].len > NGX_OLLA_DMR_MAX_MODEL) {
                return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request_error",
                                         "invalid_model",
                                         "\"model\" is longer than "
                                         "%d bytes", NGX_OLLA_DMR_MAX_MODEL);
            }

            model = ngx_pnalloc(r->pool, fields[0].len + 1);
            if (model == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (fields[0].truncated) {
                /* a long name: the body once more, into room for it */

                fields[0].value = (char *) model;
                fields[0].cap = fields[0].len;

                olla_json_scan_init(&scan, fields, 4, 0);

                if (ngx_olla_dmr_scan_body(r, ctx, &scan) != NGX_OK
                    || fields[0].truncated)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

            } else {
                ngx_memcpy(model, small, fields[0].len);
            }

            ctx->model.data = model;
            ctx->model.len = fields[0].len;
            model[ctx->model.len] = '\0';

            ctx->norm.data = ngx_pnalloc(r->pool, ctx->model.len + 32);
            if (ctx->norm.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ctx->norm.len = olla_model_normalise((char *) model,
                                                 ctx->model.len,
                                                 (char *) ctx->norm.data,
                                                 ctx->model.len + 32);
        }

        if (fields[1].type == OLLA_JSON_TRUE) {
            ctx->stream = 1;

        } else if (fields[1].type == OLLA_JSON_FALSE) {
            ctx->stream = 0;
        }
    }

    if (ctx->route == NGX_OLLA_DMR_ROUTE_ANTHROPIC) {

        if (ctx->model.len == 0) {
            return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_request_error",
                                           "invalid_model",
                                           "\"model\" is required and must "
                                           "be a non-empty string");
        }

        if (ctx->path.len == sizeof("/messages") - 1) {
            /* the shape checks a passthrough needs, from the same scan */

            if (fields[2].type != OLLA_JSON_NUMBER || fields[2].truncated
                || fields[2].len == 0 || num[0] == '-'
                || ngx_strlchr(num, num + fields[2].len, '.')
                || ngx_strlchr(num, num + fields[2].len, 'e')
                || ngx_strlchr(num, num + fields[2].len, 'E')
                || (fields[2].len == 1 && num[0] == '0'))
            {
                return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                               "invalid_request_error",
                                               "invalid_max_tokens",
                                               "\"max_tokens\" is required "
                                               "and must be an integer "
                                               ">= 1");
            }

            if (fields[3].type != OLLA_JSON_ARRAY) {
                return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                               "invalid_request_error",
                                               "invalid_messages",
                                               "\"messages\" is required "
                                               "and must be an array");
            }
        }
    }

    ctx->tried = ngx_pcalloc(r->pool, ctx->ups->endpoints.nelts);
    if (ctx->tried == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ep = ngx_olla_dmr_choose(r, ctx, &reason);

    if (ep == NULL) {
        return ngx_olla_dmr_pick_error(r, ctx, reason);
    }

    ctx->chosen = ep;
    ctx->type = ep->profile;

    if (ctx->route == NGX_OLLA_DMR_ROUTE_ANTHROPIC) {
        rc = ngx_olla_dmr_route_anthropic(r, ctx, ep);

        if (rc != NGX_OK) {
            /* the request is finalized: the pool cleanup releases */
            return rc;
        }

    } else {
        if (ctx->route == NGX_OLLA_DMR_ROUTE_PROXY) {
            path = ngx_olla_dmr_type_path(ctx, ep->profile, &ctx->path);

        } else {
            path = NULL;     /* the provider path as it is */
        }

        if (path && ngx_olla_dmr_set_uri(r, path, NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (path == NULL
            && ngx_olla_dmr_set_uri(r, NULL, NULL) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_olla_dmr_route_proxy(r, ctx);
}


/* the request leaves for the chosen endpoint */

static ngx_int_t
ngx_olla_dmr_route_proxy(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_olla_dmr_facts_t       facts;
    ngx_olla_dmr_endpoint_t   *ep;
    ngx_olla_dmr_main_conf_t  *omcf;

    ep = ctx->chosen;
    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    ctx->read_timeout = ngx_olla_dmr_model_facts(omcf, ep->profile,
                                                 &ctx->model, &facts)
                        ->timeout;

    if (ngx_olla_dmr_set_headers(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "olla: route %V -> \"%V\" (%s) %V model \"%V\"",
                   &ctx->route_name, &ep->name, ep->profile->name, &r->uri,
                   &ctx->model);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_olla_dmr_route_anthropic(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_endpoint_t *ep)
{
    char                      err[OLLA_ANTH_ERRLEN];
    long                      tokens;
    u_char                   *p;
    size_t                    outlen;
    ngx_str_t                 body;
    ngx_uint_t                count_tokens;
    const char               *chat;
    char                     *out;
    olla_anth_info_t          info;
    const olla_profile_t     *prof;
    ngx_olla_dmr_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);
    prof = ep->profile;

    count_tokens = (ctx->path.len > sizeof("/messages") - 1);

    if (olcf->passthrough && prof->anthropic_enabled
        && (!count_tokens || prof->anthropic_token_count))
    {
        ctx->mode = NGX_OLLA_DMR_MODE_PASSTHROUGH;

        if (ngx_olla_dmr_set_uri(r, prof->anthropic_messages_path
                                    ? prof->anthropic_messages_path
                                    : "/v1/messages",
                                 count_tokens ? "/count_tokens" : NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_olla_dmr_body_bytes(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (count_tokens) {
        /* no native counter: the local estimate */

        if (olla_anth_count_tokens((char *) body.data, body.len, &tokens,
                                   err, sizeof(err))
            != 0)
        {
            return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           "invalid_request_error", NULL,
                                           "%s", err);
        }

        p = ngx_pnalloc(r->pool,
                        sizeof("{\"input_tokens\":}\n") + NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        outlen = ngx_sprintf(p, "{\"input_tokens\":%l}\n", tokens) - p;

        ngx_olla_dmr_release(ctx);
        ctx->chosen = NULL;
        ctx->mode = NGX_OLLA_DMR_MODE_TRANSLATION;
        ctx->local = 1;

        ngx_http_finalize_request(r, ngx_olla_dmr_send_json(r, NGX_HTTP_OK,
                                                            p, outlen));
        return NGX_DONE;
    }

    if (!olcf->translation) {
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "api_error", NULL,
                                       "endpoint \"%V\" (type %s) does not "
                                       "speak the Anthropic API and "
                                       "olla_translation is off",
                                       &ep->name, prof->name);
    }

    chat = ngx_olla_dmr_chat_path(prof);

    if (chat == NULL) {
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "api_error", NULL,
                                       "endpoint type %s has no chat "
                                       "completions path to translate to",
                                       prof->name);
    }

    ngx_memzero(&info, sizeof(olla_anth_info_t));

    if (olla_anth_request_to_openai((char *) body.data, body.len, &out,
                                    &outlen, &info, err, sizeof(err))
        != 0)
    {
        olla_anth_info_free(&info);
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request_error", NULL,
                                       "%s", err);
    }

    ctx->stream = info.stream;
    ctx->input_tokens = info.input_tokens;
    olla_anth_info_free(&info);

    p = ngx_pnalloc(r->pool, outlen);
    if (p == NULL) {
        free(out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, out, outlen);
    free(out);

    if (ngx_olla_dmr_replace_body(r, p, outlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_olla_dmr_set_uri(r, chat, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->mode = NGX_OLLA_DMR_MODE_TRANSLATION;

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_pick_error(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t reason)
{
    u_char            *p;
    ngx_uint_t         secs;
    ngx_table_elt_t   *h;
    const char        *type;

    type = ctx->type ? ctx->type->name : "any";

    switch (reason) {

    case NGX_OLLA_DMR_PICK_NO_MODEL:
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                       ctx->api == NGX_OLLA_DMR_API_ANTHROPIC
                                       ? "not_found_error"
                                       : "invalid_request_error",
                                       "model_not_found",
                                       "model \"%V\" is not available on "
                                       "any healthy endpoint", &ctx->norm);

    case NGX_OLLA_DMR_PICK_NO_TYPE:
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                       "not_found_error", "no_endpoint",
                                       "no endpoint can serve this route");

    default:
        break;
    }

    secs = (reason == NGX_OLLA_DMR_PICK_FULL) ? 1
                                              : ngx_olla_dmr_retry_after(ctx);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%ui", secs) - p;

    if (reason == NGX_OLLA_DMR_PICK_FULL) {
        return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                                       "rate_limit_error",
                                       "concurrency_limit",
                                       "every %s endpoint that can serve "
                                       "this request is at its concurrency "
                                       "limit; retry shortly", type);
    }

    return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   ctx->api == NGX_OLLA_DMR_API_ANTHROPIC
                                   ? "api_error" : "service_unavailable",
                                   "no_healthy_endpoint",
                                   "no healthy %s endpoint is available "
                                   "in upstream \"%V\"", type,
                                   &ctx->ups->uscf->host);
}


/* seconds until the next health check of the route's endpoints */

static ngx_uint_t
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
        if (ctx->type && ep[i].profile != ctx->type) {
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
 * Endpoint choice (SPEC 4): candidates of the route's type that were not
 * tried; routable (healthy or not yet probed, circuit closed or due a
 * trial); model-aware (listing the model first, else an empty list - DMR
 * loads lazily); under the concurrency limit; the highest priority tier;
 * then the balancer.  The endpoint returned holds an inflight slot.
 */

ngx_olla_dmr_endpoint_t *
ngx_olla_dmr_choose(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t *reason)
{
    u_char                    *cls, c;
    ngx_int_t                  best_prio;
    ngx_uint_t                 i, n, attempt, routable, full, eligible;
    ngx_uint_t                 best, ties, k, limit, trial, locked;
    ngx_olla_dmr_facts_t       facts;
    ngx_atomic_uint_t          min;
    ngx_olla_dmr_upstream_t   *ups;
    ngx_olla_dmr_endpoint_t   *ep, *e;
    ngx_olla_dmr_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);
    ups = ctx->ups;
    ep = ups->endpoints.elts;
    n = ups->endpoints.nelts;

    if (ctx->scratch == NULL) {
        ctx->scratch = ngx_pnalloc(r->pool, n);
        if (ctx->scratch == NULL) {
            *reason = NGX_OLLA_DMR_PICK_NONE;
            return NULL;
        }
    }

    cls = ctx->scratch;

    for (attempt = 0; attempt < 8; attempt++) {

        best = 0;
        best_prio = -1;
        routable = 0;
        full = 0;
        eligible = 0;
        locked = 0;

        for (i = 0; i < n; i++) {
            e = &ep[i];
            cls[i] = 0;

            if ((ctx->tried && ctx->tried[i]) || !ngx_olla_dmr_type_ok(ctx, e))
            {
                continue;
            }

            eligible++;

            if (!olla_health_routable((olla_health_e) e->sh->status)
                || !ngx_olla_dmr_breaker_allows(e, &trial))
            {
                continue;
            }

            routable++;

            /* 2: lists the model, 1: can serve any (empty list) */

            c = 1;

            if (ctx->norm.len && e->sh->nmodels) {
                if (!locked) {
                    /* the lists change under the zone's mutex */
                    ngx_olla_dmr_shm_lock(omcf);
                    locked = 1;
                }

                c = ngx_olla_dmr_models_has_locked(e, &ctx->norm) ? 2 : 0;
            }

            if (c == 0) {
                continue;
            }

            if (ctx->limit_profile != e->profile) {
                ctx->limit_profile = e->profile;
                ctx->limit = ngx_olla_dmr_model_facts(omcf, e->profile,
                                                      &ctx->model, &facts)
                             ->limit;
            }

            limit = e->max_concurrent ? e->max_concurrent : ctx->limit;

            if (limit && e->sh->inflight >= limit) {
                full++;
                continue;
            }

            cls[i] = c;

            if (c > best || (c == best && e->priority > best_prio)) {
                best = c;
                best_prio = e->priority;
            }
        }

        if (locked) {
            ngx_olla_dmr_shm_unlock(omcf);
        }

        if (best == 0) {
            if (eligible == 0) {
                *reason = NGX_OLLA_DMR_PICK_NO_TYPE;

            } else if (routable == 0) {
                *reason = NGX_OLLA_DMR_PICK_NONE;

            } else if (full) {
                *reason = NGX_OLLA_DMR_PICK_FULL;

            } else {
                *reason = NGX_OLLA_DMR_PICK_NO_MODEL;
            }

            return NULL;
        }

        /* the tier: best class, highest priority; then the balancer */

        ties = 0;
        min = (ngx_atomic_uint_t) -1;

        for (i = 0; i < n; i++) {
            if (cls[i] != best || ep[i].priority != best_prio) {
                cls[i] = 0;
                continue;
            }

            if (ups->lb == NGX_OLLA_DMR_LB_LEAST_CONN) {
                if (ep[i].sh->inflight < min) {
                    min = ep[i].sh->inflight;
                    ties = 0;
                }
            }

            ties++;
        }

        if (ups->lb == NGX_OLLA_DMR_LB_LEAST_CONN) {
            for (i = 0; i < n; i++) {
                if (cls[i] && ep[i].sh->inflight != min) {
                    cls[i] = 0;
                }
            }

            /* the count may have moved meanwhile: recount */
            ties = 0;

            for (i = 0; i < n; i++) {
                ties += (cls[i] != 0);
            }

            if (ties == 0) {
                continue;
            }
        }

        if (ups->lb == NGX_OLLA_DMR_LB_PRIORITY) {
            /* weighted random; every endpoint of a tier weighs the same */
            k = ngx_random() % ties;

            for (i = 0; i < n; i++) {
                if (cls[i] && k-- == 0) {
                    break;
                }
            }

        } else {
            /* rotation: the first candidate after the last one chosen */
            for (k = 1; k <= n; k++) {
                i = (ups->cursor + k) % n;

                if (cls[i]) {
                    break;
                }
            }
        }

        ups->cursor = i;

        e = &ep[i];

        if (!ngx_olla_dmr_breaker_allows(e, &trial)) {
            continue;
        }

        if (trial && !ngx_atomic_cmp_set(&e->sh->cb_trial, 0, 1)) {
            continue;
        }

        if (ngx_olla_dmr_reserve(r, ctx, e) != NGX_OK) {
            if (trial) {
                e->sh->cb_trial = 0;
            }

            continue;
        }

        ctx->trial = trial;

        return e;
    }

    *reason = NGX_OLLA_DMR_PICK_FULL;

    return NULL;
}


static ngx_uint_t
ngx_olla_dmr_type_ok(ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_endpoint_t *ep)
{
    ngx_olla_dmr_loc_conf_t  *olcf;

    if (ctx->type) {
        return ep->profile == ctx->type;
    }

    switch (ctx->route) {

    case NGX_OLLA_DMR_ROUTE_PROXY:
        return ngx_olla_dmr_type_path(ctx, ep->profile, &ctx->path) != NULL;

    case NGX_OLLA_DMR_ROUTE_ANTHROPIC:
        olcf = ctx->olcf;

        if (olcf->passthrough && ep->profile->anthropic_enabled) {
            return 1;
        }

        return olcf->translation
               && ngx_olla_dmr_chat_path(ep->profile) != NULL;

    default:
        return 1;
    }
}


/*
 * The path a type serves an OpenAI path under: the shortest of the
 * profile's api.paths ending with it ("/v1/chat/completions" is
 * "/engines/v1/chat/completions" on DMR, itself elsewhere).
 */

static const char *
ngx_olla_dmr_type_path(ngx_olla_dmr_ctx_t *ctx, const olla_profile_t *p,
    ngx_str_t *path)
{
    size_t       i, len, best_len;
    const char  *best, *s;

    if (ctx->map_profile == p) {
        return ctx->map_path;
    }

    best = NULL;
    best_len = 0;

    for (i = 0; i < p->paths.n; i++) {
        s = p->paths.items[i];
        len = ngx_strlen(s);

        if (len >= path->len
            && ngx_strncmp(s + len - path->len, path->data, path->len) == 0
            && (best == NULL || len < best_len))
        {
            best = s;
            best_len = len;
        }
    }

    ctx->map_profile = p;
    ctx->map_path = best;

    return best;
}


static const char *
ngx_olla_dmr_chat_path(const olla_profile_t *p)
{
    size_t       i, len, best_len;
    const char  *best, *s;

    best = NULL;
    best_len = 0;

    for (i = 0; i < p->paths.n; i++) {
        s = p->paths.items[i];
        len = ngx_strlen(s);

        if (len >= sizeof("/v1/chat/completions") - 1
            && ngx_strcmp(s + len - (sizeof("/v1/chat/completions") - 1),
                          "/v1/chat/completions")
               == 0
            && (best == NULL || len < best_len))
        {
            best = s;
            best_len = len;
        }
    }

    return best;
}


static ngx_int_t
ngx_olla_dmr_set_uri(ngx_http_request_t *r, const char *path,
    const char *suffix)
{
    u_char              *p;
    size_t               len, slen;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (path == NULL) {
        /* the provider path, which is a suffix of r->uri */
        r->uri = ctx->path;
        r->valid_unparsed_uri = 0;
        return NGX_OK;
    }

    len = ngx_strlen(path);
    slen = suffix ? ngx_strlen(suffix) : 0;

    p = ngx_pnalloc(r->pool, len + slen);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, path, len);

    if (slen) {
        ngx_memcpy(p + len, suffix, slen);
    }

    r->uri.data = p;
    r->uri.len = len + slen;
    r->valid_unparsed_uri = 0;

    return NGX_OK;
}


/* dot segments, encoded slashes and empty segments are refused */

static ngx_int_t
ngx_olla_dmr_check_path(ngx_http_request_t *r)
{
    u_char  *p, *last, *seg;
    size_t   dots, other;

    p = r->unparsed_uri.data;
    last = p + r->unparsed_uri.len;

    seg = ngx_strlchr(p, last, '?');
    if (seg) {
        last = seg;
    }

    if (p == last || *p != '/') {
        return NGX_OK;
    }

    dots = 0;
    other = 0;

    for (p++; p <= last; p++) {

        if (p == last || *p == '/') {
            if ((dots && !other) || (p < last && dots == 0 && other == 0)) {
                return NGX_DECLINED;
            }

            dots = 0;
            other = 0;
            continue;
        }

        if (*p == '\\') {
            return NGX_DECLINED;
        }

        if (*p == '%' && last - p >= 3) {
            if (p[1] == '2' && (p[2] == 'f' || p[2] == 'F')) {
                return NGX_DECLINED;
            }

            if (p[1] == '5' && (p[2] == 'c' || p[2] == 'C')) {
                return NGX_DECLINED;
            }

            if (p[1] == '2' && (p[2] == 'e' || p[2] == 'E')) {
                dots++;
                p += 2;
                continue;
            }
        }

        if (*p == '.') {
            dots++;

        } else {
            other++;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_method_get(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, HEAD");

    return ngx_olla_dmr_fail(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                   "invalid_request_error",
                                   "method_not_allowed",
                                   "this path is read with GET");
}


/* the body, in memory or in a temp file, through the JSON scanner once */

static ngx_int_t
ngx_olla_dmr_scan_body(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_json_scan_t *scan)
{
    u_char       *buf;
    off_t         pos;
    size_t        size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    buf = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            if (olla_json_scan_feed(scan, (char *) b->pos, b->last - b->pos)
                != OLLA_JSON_OK)
            {
                return NGX_DECLINED;
            }

            continue;
        }

        if (buf == NULL) {
            buf = ngx_palloc(r->pool, 65536);
            if (buf == NULL) {
                return NGX_ERROR;
            }
        }

        for (pos = b->file_pos; pos < b->file_last; pos += n) {
            size = (size_t) ngx_min(b->file_last - pos, 65536);

            n = ngx_read_file(b->file, buf, size, pos);

            if (n == NGX_ERROR || n == 0) {
                return NGX_ERROR;
            }

            if (olla_json_scan_feed(scan, (char *) buf, n) != OLLA_JSON_OK) {
                return NGX_DECLINED;
            }
        }
    }

    if (olla_json_scan_end(scan) != OLLA_JSON_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the whole body as one piece of memory (the Anthropic route needs it) */

static ngx_int_t
ngx_olla_dmr_body_bytes(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->data = (u_char *) "";
    body->len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    p = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                    - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                return NGX_ERROR;
            }

            p += n;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/* the translated body replaces the client's, before proxy_pass reads it */

static ngx_int_t
ngx_olla_dmr_replace_body(ngx_http_request_t *r, u_char *data, size_t len)
{
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_request_body_t   *rb;

    rb = r->request_body;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->start = data;
    b->end = data + len;
    b->memory = 1;
    b->last_buf = 1;
    b->tag = (ngx_buf_tag_t) &ngx_olla_dmr_module;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;

    r->headers_in.content_length_n = len;
    r->request_body_in_file_only = 0;

    return NGX_OK;
}


/* a request header the rules in force drop before proxying */

static ngx_uint_t
ngx_olla_dmr_dropped(ngx_table_elt_t *h, ngx_uint_t mask)
{
    ngx_olla_dmr_header_rule_t  *rule;

    for (rule = ngx_olla_dmr_header_rules; rule->name.len; rule++) {
        if ((rule->drop & mask)
            && h->key.len == rule->name.len
            && ngx_strncasecmp(h->key.data, rule->name.data, rule->name.len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* Origin and client credentials stay here; X-Request-ID goes upstream */

static ngx_int_t
ngx_olla_dmr_set_headers(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_uint_t                i, mask, rebuild;
    ngx_list_t                headers;
    ngx_list_part_t          *part;
    ngx_table_elt_t          *h, *nh;
    ngx_olla_dmr_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

    mask = NGX_OLLA_DMR_DROP_ALWAYS;

    if (!olcf->forward_credentials) {
        mask |= NGX_OLLA_DMR_DROP_CREDENTIALS;
    }

    if (ctx->mode == NGX_OLLA_DMR_MODE_TRANSLATION) {
        mask |= NGX_OLLA_DMR_DROP_TRANSLATION;
    }

    /* first pass: is there anything to drop? */

    rebuild = 0;

    for (part = &r->headers_in.headers.part; part && !rebuild;
         part = part->next)
    {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_olla_dmr_dropped(&h[i], mask)) {
                rebuild = 1;
                break;
            }
        }
    }

    if (rebuild) {
        /*
         * a new list in place: ngx_list_t points into itself, so it is
         * never copied by value; the old parts stay valid in the pool
         */

        headers = r->headers_in.headers;

        if (ngx_list_init(&r->headers_in.headers, r->pool, 20,
                          sizeof(ngx_table_elt_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (part = &headers.part; part; part = part->next) {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (ngx_olla_dmr_dropped(&h[i], mask)) {
                    continue;
                }

                nh = ngx_list_push(&r->headers_in.headers);
                if (nh == NULL) {
                    return NGX_ERROR;
                }

                *nh = h[i];
            }
        }

        if (mask & NGX_OLLA_DMR_DROP_CREDENTIALS) {
            r->headers_in.authorization = NULL;
        }
    }

    nh = ngx_list_push(&r->headers_in.headers);
    if (nh == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&nh->key, "X-Request-ID");
    nh->lowcase_key = (u_char *) "x-request-id";
    nh->hash = ngx_hash_key(nh->lowcase_key, nh->key.len);
    nh->value = ctx->request_id;
#if (nginx_version >= 1023000)
    nh->next = NULL;
#endif

    if (ctx->mode == NGX_OLLA_DMR_MODE_TRANSLATION) {
        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&nh->key, "Content-Type");
        nh->lowcase_key = (u_char *) "content-type";
        nh->hash = ngx_hash_key(nh->lowcase_key, nh->key.len);
        ngx_str_set(&nh->value, "application/json");
#if (nginx_version >= 1023000)
        nh->next = NULL;
#endif
    }

    return NGX_OK;
}


/* responses made by the module */

ngx_int_t
ngx_olla_dmr_send_json(ngx_http_request_t *r, ngx_uint_t status, u_char *body,
    size_t len)
{
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t          out;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);
    if (ctx) {
        ctx->local = 1;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_olla_dmr_send_error(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t status, const char *type, const char *code,
    const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_olla_dmr_send_errorv(r, ctx, status, type, code, fmt, args);
    va_end(args);

    return rc;
}


/* in the precontent phase: answer and finalize */

static ngx_int_t
ngx_olla_dmr_fail(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t status, const char *type, const char *code,
    const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_olla_dmr_send_errorv(r, ctx, status, type, code, fmt, args);
    va_end(args);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_olla_dmr_answer(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_olla_dmr_send_errorv(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t status, const char *type, const char *code,
    const char *fmt, va_list args)
{
    u_char   *p, *body;
    size_t    len;
    u_char    msg[1024];

    p = ngx_vslprintf(msg, msg + sizeof(msg) - 1, fmt, args);
    *p = '\0';

    len = ngx_olla_dmr_error_body(ctx, status, type, code, (char *) msg,
                                  NULL, 0);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_olla_dmr_error_body(ctx, status, type, code, (char *) msg,
                                  body, len);

    if ((r->headers_in.content_length_n > 0 || r->headers_in.chunked)
        && r->request_body == NULL)
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }
    }

    return ngx_olla_dmr_send_json(r, status, body, len);
}


/*
 * OpenAI:    {"error":{"message":M,"type":T,"code":C,"request_id":ID}}
 * Anthropic: {"type":"error","error":{"type":T,"message":M},
 *             "request_id":ID}
 * With buf NULL, returns the length needed.
 */

size_t
ngx_olla_dmr_error_body(ngx_olla_dmr_ctx_t *ctx, ngx_uint_t status,
    const char *type, const char *code, const char *msg, u_char *buf,
    size_t cap)
{
    u_char       *p;
    size_t        len, mlen, idlen;
    ngx_uint_t    anthropic;
    const char   *t;

    anthropic = (ctx && ctx->api == NGX_OLLA_DMR_API_ANTHROPIC);

    if (anthropic) {
        t = olla_anth_error_type((int) status);
        if (type && ngx_strcmp(type, "request_too_large") != 0
            && ngx_strncmp(type, "invalid_request", 15) != 0
            && ngx_strcmp(type, "not_found_error") != 0)
        {
            type = t;
        }

        if (type == NULL) {
            type = t;
        }
    }

    if (type == NULL) {
        type = "api_error";
    }

    mlen = ngx_strlen(msg);
    idlen = ctx ? ctx->request_id.len : 0;

    len = sizeof("{\"error\":{\"message\":\"\",\"type\":\"\",\"code\":\"\","
                 "\"request_id\":\"\"},\"type\":\"error\"}") + 16
          + ngx_olla_dmr_json_str_len((u_char *) msg, mlen)
          + ngx_strlen(type) + (code ? ngx_strlen(code) : 4)
          + (ctx ? ngx_olla_dmr_json_str_len(ctx->request_id.data, idlen)
                 : 0);

    if (buf == NULL) {
        return len;
    }

    p = buf;

    if (anthropic) {
        p = ngx_cpymem(p, "{\"type\":\"error\",\"error\":{\"type\":\"",
                       sizeof("{\"type\":\"error\",\"error\":{\"type\":\"")
                       - 1);
        p = ngx_cpymem(p, type, ngx_strlen(type));
        p = ngx_cpymem(p, "\",\"message\":\"",
                       sizeof("\",\"message\":\"") - 1);
        p = ngx_olla_dmr_json_str(p, (u_char *) msg, mlen);
        *p++ = '"';
        *p++ = '}';

        if (idlen) {
            p = ngx_cpymem(p, ",\"request_id\":\"",
                           sizeof(",\"request_id\":\"") - 1);
            p = ngx_olla_dmr_json_str(p, ctx->request_id.data, idlen);
            *p++ = '"';
        }

        *p++ = '}';

    } else {
        p = ngx_cpymem(p, "{\"error\":{\"message\":\"",
                       sizeof("{\"error\":{\"message\":\"") - 1);
        p = ngx_olla_dmr_json_str(p, (u_char *) msg, mlen);
        p = ngx_cpymem(p, "\",\"type\":\"", sizeof("\",\"type\":\"") - 1);
        p = ngx_cpymem(p, type, ngx_strlen(type));
        p = ngx_cpymem(p, "\",\"code\":", sizeof("\",\"code\":") - 1);

        if (code) {
            *p++ = '"';
            p = ngx_cpymem(p, code, ngx_strlen(code));
            *p++ = '"';

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        if (idlen) {
            p = ngx_cpymem(p, ",\"request_id\":\"",
                           sizeof(",\"request_id\":\"") - 1);
            p = ngx_olla_dmr_json_str(p, ctx->request_id.data, idlen);
            *p++ = '"';
        }

        *p++ = '}';
        *p++ = '}';
    }

    *p++ = '\n';

    return p - buf;
}


/* JSON string contents: ASCII only, other bytes become "?" */

static size_t
ngx_olla_dmr_json_str_len(const u_char *src, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (src[i] == '"' || src[i] == '\\') {
            n += 2;

        } else if (src[i] < 0x20) {
            n += 6;

        } else {
            n++;
        }
    }

    return n;
}


static u_char *
ngx_olla_dmr_json_str(u_char *dst, const u_char *src, size_t len)
{
    size_t                 i;
    static const u_char    hex[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        if (src[i] == '"' || src[i] == '\\') {
            *dst++ = '\\';
            *dst++ = src[i];

        } else if (src[i] < 0x20) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[src[i] >> 4];
            *dst++ = hex[src[i] & 0xf];

        } else if (src[i] >= 0x7f) {
            *dst++ = '?';

        } else {
            *dst++ = src[i];
        }
    }

    return dst;
}
