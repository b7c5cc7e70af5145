
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * olla_route: a precontent-phase handler for the location it is set in,
 * driven by the route table of olla_routes.c.  It decides everything
 * about a request once (SPEC 3, 4, 5): the route and its dialect, the
 * endpoint types that may serve it, the body's model, the endpoint (asked
 * of ngx_olla_dmr_upstream.c, reserved against its concurrency limit),
 * passthrough or translation on a translating route, the upstream URI and
 * the request headers, and keeps it in the request ctx; proxy_pass then
 * runs, the balancer honours the ctx and the filters read it on the way
 * back.  Requests answered by the module itself (model lists, errors)
 * never reach the proxy.
 */


#include "ngx_olla_dmr.h"
#include "olla_anthropic.h"


typedef struct ngx_olla_dmr_header_rule_s  ngx_olla_dmr_header_rule_t;

struct ngx_olla_dmr_header_rule_s {
    ngx_str_t                    name;
    ngx_uint_t                   drop;       /* bit: when to drop */
    ngx_olla_dmr_header_rule_t  *next;       /* of the same length */
};

/* the rules by the length of their name (ngx_olla_dmr_rules_index) */

#define NGX_OLLA_DMR_RULE_LENS         32

typedef struct {
    ngx_uint_t                   drop;       /* of its rules, or'ed */
    ngx_olla_dmr_header_rule_t  *first;
} ngx_olla_dmr_rule_len_t;

#define NGX_OLLA_DMR_DROP_ALWAYS       1
#define NGX_OLLA_DMR_DROP_CREDENTIALS  2
#define NGX_OLLA_DMR_DROP_TRANSLATION  4
#define NGX_OLLA_DMR_DROP_KEY          8    /* olla_api_keys is on */


static ngx_olla_dmr_header_rule_t  ngx_olla_dmr_header_rules[] = {
    { ngx_string("origin"), NGX_OLLA_DMR_DROP_ALWAYS, NULL },
    { ngx_string("x-request-id"), NGX_OLLA_DMR_DROP_ALWAYS, NULL },
    { ngx_string("authorization"),
      NGX_OLLA_DMR_DROP_CREDENTIALS|NGX_OLLA_DMR_DROP_KEY, NULL },
    { ngx_string("x-api-key"),
      NGX_OLLA_DMR_DROP_CREDENTIALS|NGX_OLLA_DMR_DROP_KEY, NULL },
    { ngx_string("cookie"), NGX_OLLA_DMR_DROP_CREDENTIALS, NULL },
    { ngx_string("proxy-authorization"), NGX_OLLA_DMR_DROP_CREDENTIALS,
      NULL },
    { ngx_string("x-auth-token"), NGX_OLLA_DMR_DROP_CREDENTIALS, NULL },
    { ngx_string("accept-encoding"), NGX_OLLA_DMR_DROP_TRANSLATION, NULL },
    { ngx_string("anthropic-version"), NGX_OLLA_DMR_DROP_TRANSLATION, NULL },
    { ngx_string("anthropic-beta"), NGX_OLLA_DMR_DROP_TRANSLATION, NULL },
    { ngx_string("content-type"), NGX_OLLA_DMR_DROP_TRANSLATION, NULL },
    { ngx_null_string, 0, NULL }
};

static ngx_olla_dmr_rule_len_t  ngx_olla_dmr_rules_by_len[
                                                    NGX_OLLA_DMR_RULE_LENS];
static ngx_uint_t               ngx_olla_dmr_rules_indexed;

/* the hashes of the headers set upstream, counted with the index */
static ngx_uint_t               ngx_olla_dmr_hash_request_id;
static ngx_uint_t               ngx_olla_dmr_hash_content_type;


static ngx_int_t ngx_olla_dmr_route_start(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_route_provider(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_str_t *rest);
static u_char *ngx_olla_dmr_find(u_char *p, size_t len, const char *s,
    size_t n);
static ngx_int_t ngx_olla_dmr_route_not_found(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_str_t *rest);
static ngx_int_t ngx_olla_dmr_method(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_body_too_large(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_read_body(ngx_http_request_t *r);
static void ngx_olla_dmr_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_route_body(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_route_dispatch(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static void ngx_olla_dmr_route_resume(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_queue_refuse(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t timed_out);
static ngx_int_t ngx_olla_dmr_read_model(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_scan_t *bs, off_t size);
static void ngx_olla_dmr_scan_init(ngx_olla_dmr_scan_t *bs);
static ngx_int_t ngx_olla_dmr_scan_whole(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_scan_t *bs, off_t size);
static ngx_int_t ngx_olla_dmr_check_message(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_json_field_t *fields);
static void ngx_olla_dmr_conversation(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_response_path(ngx_olla_dmr_ctx_t *ctx,
    size_t base);
static ngx_int_t ngx_olla_dmr_response_pin(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_candidates(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_uint_t ngx_olla_dmr_serves(ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_endpoint_t *ep);
static ngx_int_t ngx_olla_dmr_pick_error(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_pick_result_e result);
static ngx_int_t ngx_olla_dmr_route_translating(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_endpoint_t *ep);
static ngx_int_t ngx_olla_dmr_translate_body(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_endpoint_t *ep);
static ngx_int_t ngx_olla_dmr_count_locally(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_route_proxy(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_scan_body(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_json_scan_t *scan);
static ngx_int_t ngx_olla_dmr_body_to_memory(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_olla_dmr_body_bytes(ngx_http_request_t *r,
    ngx_str_t *body);
static void ngx_olla_dmr_free(void *data);
static ngx_int_t ngx_olla_dmr_replace_body(ngx_http_request_t *r,
    u_char *data, size_t len);
static ngx_int_t ngx_olla_dmr_set_headers(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static void ngx_olla_dmr_rules_index(void);
static ngx_uint_t ngx_olla_dmr_dropped(ngx_table_elt_t *h, ngx_uint_t mask);
static ngx_int_t ngx_olla_dmr_set_uri(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, const char *path, const char *suffix);
static void ngx_olla_dmr_unpick(ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_append_uri(ngx_http_request_t *r,
    ngx_str_t *id, ngx_str_t *rest);


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

    if (ctx && !ctx->key_checked) {
        if (ctx->phase_done) {
            return ctx->status;
        }

        /* an internal redirect back into an olla location */
        return NGX_DECLINED;
    }

    if (ctx == NULL) {
        ctx = ngx_olla_dmr_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * else the ctx olla_api_keys made in the access phase: the key's
     * name stays, a refusal "satisfy any" overruled is forgotten
     */

    ctx->key_checked = 0;
    ctx->key_refused = 0;

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


/* the route table's row for the path, and what the row says to do */

static ngx_int_t
ngx_olla_dmr_route_start(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    u_char                    *p, *last;
    ngx_int_t                  rc;
    ngx_str_t                  rest;
    const olla_route_t        *row;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

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

    row = olla_route_match((char *) rest.data, rest.len);

    ctx->route = row;
    ctx->kind = row->kind;
    ctx->dialect = row->dialect;
    ctx->route_name.data = (u_char *) olla_route_name(row->kind);
    ctx->route_name.len = ngx_strlen(ctx->route_name.data);

    if (!olla_path_safe((char *) r->unparsed_uri.data, r->unparsed_uri.len))
    {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_PATH, NULL);
    }

    if (row->match == OLLA_MATCH_PROVIDER) {
        rc = ngx_olla_dmr_route_provider(r, ctx, &rest);

        if (rc != NGX_OK) {
            return rc;
        }

        row = ctx->route;

    } else if (row->kind == OLLA_ROUTE_PROXY) {
        /* "proxy/v1/..." -> "/v1/..." */
        ctx->path.data = rest.data + sizeof("proxy") - 1;
        ctx->path.len = rest.len - (sizeof("proxy") - 1);

    } else if (row->kind == OLLA_ROUTE_ANTHROPIC) {
        /* "anthropic/v1/messages" -> "/messages" */
        ctx->path.data = rest.data + sizeof("anthropic/v1") - 1;
        ctx->path.len = rest.len - (sizeof("anthropic/v1") - 1);
    }

    if (row->action == OLLA_ACT_NOT_FOUND) {
        return ngx_olla_dmr_route_not_found(r, ctx, &rest);
    }

    if (row->action == OLLA_ACT_RESPONSE
        && ngx_olla_dmr_response_path(ctx, sizeof("/v1/responses") - 1)
           != NGX_OK)
    {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_PATH_NOT_FOUND,
                                 "\"/proxy%V\" is not a path of the "
                                 "Responses API: /proxy/v1/responses, "
                                 "/proxy/v1/responses/{id} and "
                                 "/proxy/v1/responses/{id}/input_items",
                                 &ctx->path);
    }

    rc = ngx_olla_dmr_method(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (row->action != OLLA_ACT_PROXY && row->action != OLLA_ACT_RESPONSE) {
        /* a model list, answered here */
        ngx_http_finalize_request(r, ngx_olla_dmr_models_list(r, ctx,
                                                              row->action));
        return NGX_DONE;
    }

    if (ctx->kind == OLLA_ROUTE_PROXY && row->xlat == OLLA_XLAT_NONE
        && row->action == OLLA_ACT_PROXY)
    {
        /* some type must serve the path */

        ngx_olla_dmr_endpoint_t  *ep;
        ngx_uint_t                i;

        ep = ctx->ups->endpoints.elts;

        for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
            if (olla_path_map_cached(&ctx->map, ep[i].profile,
                                     (char *) ctx->path.data, ctx->path.len))
            {
                break;
            }
        }

        if (i == ctx->ups->endpoints.nelts) {
            return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_PATH_NOT_FOUND,
                                     "no endpoint type serves \"%V\"",
                                     &ctx->path);
        }
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {

        if (ngx_olla_dmr_body_too_large(r, ctx)) {
            return NGX_DONE;
        }

        rc = ngx_olla_dmr_read_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    return ngx_olla_dmr_route_body(r, ctx);
}


/* "<prefix>/<api path>": a profile's routing prefix and one of its paths */

static ngx_int_t
ngx_olla_dmr_route_provider(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_str_t *rest)
{
    u_char                    *seg;
    ngx_str_t                  prefix;
    ngx_uint_t                 i;
    const olla_profile_t      *prof;
    ngx_olla_dmr_endpoint_t   *ep;
    ngx_olla_dmr_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    seg = ngx_strlchr(rest->data, rest->data + rest->len, '/');

    prefix.data = rest->data;
    prefix.len = seg ? (size_t) (seg - rest->data) : rest->len;

    prof = prefix.len ? olla_profiles_find_prefix(omcf->profiles,
                                                  (char *) prefix.data,
                                                  prefix.len)
                      : NULL;

    if (prof == NULL) {
        u_char  reserved[128];

        (void) olla_route_reserved_text((char *) reserved, sizeof(reserved));

        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_ROUTE_NOT_FOUND,
                                 "unknown route \"%V\": the path must start "
                                 "with a provider prefix of a profile or be "
                                 "one of %s", &r->uri, reserved);
    }

    ctx->route_name = prefix;
    ctx->type = prof;

    ctx->path.data = seg ? seg : rest->data + rest->len;
    ctx->path.len = rest->data + rest->len - ctx->path.data;

    if (!olla_profile_has_path(prof, (char *) ctx->path.data,
                               ctx->path.len))
    {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_PATH_NOT_FOUND,
                                 "\"%V\" is not an API path of endpoint "
                                 "type \"%s\"", &ctx->path, prof->name);
    }

    ep = ctx->ups->endpoints.elts;

    for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
        if (ep[i].profile == prof) {
            break;
        }
    }

    if (i == ctx->ups->endpoints.nelts) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_NO_ENDPOINT,
                                 "upstream \"%V\" has no endpoint of type "
                                 "\"%s\"", &ctx->ups->uscf->host, prof->name);
    }

    /* the Responses API on the type: a response by id, or a new one */

    seg = ngx_olla_dmr_find(ctx->path.data, ctx->path.len, "/responses",
                            sizeof("/responses") - 1);

    if (seg && (size_t) (seg - ctx->path.data) + sizeof("/responses") - 1
               <= ctx->path.len)
    {
        if (ngx_olla_dmr_response_path(ctx, seg + sizeof("/responses") - 1
                                            - ctx->path.data)
            != NGX_OK)
        {
            return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_PATH_NOT_FOUND,
                                     "\"%V\" is not an API path of "
                                     "endpoint type \"%s\"", &ctx->path,
                                     prof->name);
        }

        ctx->learn_rid = (ctx->rid.len == 0);
    }

    /* every models path of the profile is answered locally */

    if (ctx->path.len >= 7
        && ngx_strncmp(ctx->path.data + ctx->path.len - 7, "/models", 7)
           == 0)
    {
        static const olla_route_t  list = {
            "", 0, OLLA_MATCH_PROVIDER, OLLA_ROUTE_PROVIDER,
            OLLA_DIALECT_OPENAI, OLLA_METHOD_GET, OLLA_ACT_LIST_TYPE,
            OLLA_BODY_JSON, OLLA_XLAT_NONE
        };

        ctx->route = &list;
    }

    return NGX_OK;
}


/*
 * The first s[0..n) in p[0..len) before any NUL, or NULL: what
 * ngx_strnstr() finds, without a call per candidate (s holds no NUL)
 */

static u_char *
ngx_olla_dmr_find(u_char *p, size_t len, const char *s, size_t n)
{
    u_char  *last;

    if (n == 0 || len < n) {
        return NULL;
    }

    for (last = p + len - n; p <= last; p++) {
        if (p[0] == (u_char) s[0]) {
            if (ngx_memcmp(p, s, n) == 0) {
                return p;
            }

        } else if (p[0] == '\0') {
            return NULL;
        }
    }

    return NULL;
}


/* a route's 404: what the route serves, from the table */

static ngx_int_t
ngx_olla_dmr_route_not_found(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_str_t *rest)
{
    u_char  paths[256];

    if (ctx->kind == OLLA_ROUTE_PROXY) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_PATH_NOT_FOUND,
                                 "the proxy route serves OpenAI paths under "
                                 "/proxy/v1/, not \"/proxy%V\"", &ctx->path);
    }

    (void) olla_route_paths_text(ctx->kind, (char *) paths, sizeof(paths));

    return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_ROUTE_NOT_FOUND,
                             "unknown %s path \"/%V\"; the route serves %s",
                             ctx->dialect == OLLA_DIALECT_ANTHROPIC
                             ? "Anthropic" : "OpenAI", rest, paths);
}


/* the row's methods; 405 with Allow otherwise */

static ngx_int_t
ngx_olla_dmr_method(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_str_t            allow;
    const olla_route_t  *row;

    row = ctx->route;

    switch (row->methods) {

    case OLLA_METHOD_GET:
        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            rc = ngx_http_discard_request_body(r);
            return rc == NGX_OK ? NGX_OK : rc;
        }

        ngx_str_set(&allow, "GET, HEAD");
        break;

    case OLLA_METHOD_POST:
        if (r->method == NGX_HTTP_POST) {
            return NGX_OK;
        }

        ngx_str_set(&allow, "POST");
        break;

    default:
        return NGX_OK;
    }

    if (ngx_olla_dmr_add_header(r, "Allow", allow.data, allow.len)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (row->methods == OLLA_METHOD_GET) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_METHOD_NOT_ALLOWED,
                                 "this path is read with GET");
    }

    return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_METHOD_NOT_ALLOWED,
                             "use POST for /v1%V", &ctx->path);
}


/*
 * olla_max_message_size on the rows that have it: known before the body
 * is read when the client sent Content-Length, after it for a chunked
 * body.  1 when the request was answered (413).
 */

static ngx_int_t
ngx_olla_dmr_body_too_large(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    size_t  max;

    if (ctx->route->body == OLLA_BODY_JSON) {
        return 0;
    }

    max = ctx->olcf->max_message_size;

    if (r->headers_in.content_length_n <= (off_t) max) {
        return 0;
    }

    (void) ngx_olla_dmr_fail(r, ctx, OLLA_ERR_MESSAGE_TOO_LARGE,
                             "request body exceeds the maximum message size "
                             "(%uz bytes)", max);
    return 1;
}


static ngx_int_t
ngx_olla_dmr_read_body(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (r->headers_in.content_length_n > NGX_OLLA_DMR_LIVE_MIN
        || r->headers_in.content_length_n < 0)
    {
        /* a long body (or chunked): scanned as it arrives, in the filter */

        ctx->live = ngx_palloc(r->pool, sizeof(ngx_olla_dmr_scan_t));
        if (ctx->live == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_olla_dmr_scan_init(ctx->live);
        ctx->live->live = 1;
    }

    if (ctx->route->xlat != OLLA_XLAT_NONE) {
        /*
         * a translator needs the body in one piece: the buffer nginx
         * reads it into gets room for the part that came with the
         * header too, so that ngx_olla_dmr_body_bytes() can join them
         * there rather than copy the whole body elsewhere
         */
        r->request_body_in_single_buf = 1;
    }

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
    off_t                     size;
    ngx_int_t                 rc;
    ngx_chain_t              *cl;
    ngx_olla_dmr_scan_t      *bs, local;

    bs = ctx->live;

    if (bs == NULL) {
        bs = &local;
        bs->live = 0;
        ngx_memzero(bs->fields, sizeof(bs->fields));
    }

    size = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            size += ngx_buf_size(cl->buf);
        }
    }

    if (size) {

        if (r->headers_in.chunked && ngx_olla_dmr_body_too_large(r, ctx)) {
            return NGX_DONE;
        }

        rc = ngx_olla_dmr_read_model(r, ctx, bs, size);
        if (rc != NGX_OK) {
            return rc;
        }

    } else if (r->method == NGX_HTTP_POST
               && ctx->route->action == OLLA_ACT_PROXY
               && ctx->route->dialect == OLLA_DIALECT_OPENAI)
    {
        /* every OpenAI API call the routes take names its model */

        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_MODEL,
                                 "\"model\" is required and must be a "
                                 "non-empty string: the request body is "
                                 "empty");
    }

    if (ctx->route->body == OLLA_BODY_MESSAGE_SHAPE
        || ctx->route->body == OLLA_BODY_MESSAGE)
    {
        rc = ngx_olla_dmr_check_message(r, ctx, bs->fields);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    ngx_olla_dmr_conversation(r, ctx);

    rc = ngx_olla_dmr_response_pin(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_olla_dmr_candidates(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_olla_dmr_route_dispatch(r, ctx);
}


/*
 * The endpoint, when the request's turn comes (olla_queue): at once as a
 * rule; when every endpoint it can use is full, it waits in the upstream's
 * queue and comes back here through ngx_olla_dmr_route_resume()
 */

static ngx_int_t
ngx_olla_dmr_route_dispatch(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_int_t                 rc;
    const char               *path;
    olla_pick_result_e        result;
    ngx_olla_dmr_endpoint_t  *ep;

    rc = ngx_olla_dmr_queue_turn(r, ctx, ngx_olla_dmr_route_resume);

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_AGAIN:
        /* waiting: the queue resumes the request */
        return NGX_DONE;

    case NGX_BUSY:
        return ngx_olla_dmr_queue_refuse(r, ctx, 0);

    case NGX_DECLINED:
        return ngx_olla_dmr_queue_refuse(r, ctx, 1);

    default:
        ngx_olla_dmr_queue_leave(r, ctx, NGX_OLLA_DMR_LEFT_OTHER);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ep = ngx_olla_dmr_pick(r, ctx, &result);

    if (ep == NULL && result == OLLA_PICK_FULL) {
        rc = ngx_olla_dmr_queue_full(r, ctx, ngx_olla_dmr_route_resume);

        switch (rc) {

        case NGX_AGAIN:
            return NGX_DONE;

        case NGX_BUSY:
            return ngx_olla_dmr_queue_refuse(r, ctx, 0);

        case NGX_DECLINED:
            /* olla_queue off: the 429 at once */
            break;

        default:
            ngx_olla_dmr_queue_leave(r, ctx, NGX_OLLA_DMR_LEFT_OTHER);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_olla_dmr_queue_leave(r, ctx, ep ? NGX_OLLA_DMR_LEFT_SERVED
                                        : NGX_OLLA_DMR_LEFT_OTHER);

    if (ep == NULL) {
        return ngx_olla_dmr_pick_error(r, ctx, result);
    }

    ctx->pending = 1;

    /* retries stay with the type chosen, so the path stays right */

    if (ctx->type == NULL) {
        ngx_uint_t                i;
        ngx_olla_dmr_endpoint_t  *all;

        all = ctx->ups->endpoints.elts;

        for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
            if (all[i].profile != ep->profile) {
                ctx->skip[i] = 1;
            }
        }

        ctx->type = ep->profile;
    }

    if (ctx->route->xlat != OLLA_XLAT_NONE) {
        rc = ngx_olla_dmr_route_translating(r, ctx, ep);

        if (rc != NGX_OK) {
            /* the request is finalized: the pool cleanup releases */
            return rc;
        }

    } else if (ctx->route->action == OLLA_ACT_RESPONSE) {
        /* the type's path of the response, by its id */

        path = ep->responses_path;

        if (path == NULL
            || ngx_olla_dmr_set_uri(r, ctx, path, NULL) != NGX_OK
            || ngx_olla_dmr_append_uri(r, &ctx->rid, &ctx->rid_rest)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        if (ctx->kind == OLLA_ROUTE_PROXY) {
            path = olla_path_map_cached(&ctx->map, ep->profile,
                                        (char *) ctx->path.data,
                                        ctx->path.len);

        } else {
            path = NULL;     /* the provider path as it is */
        }

        if (ngx_olla_dmr_set_uri(r, ctx, path, NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_olla_dmr_route_proxy(r, ctx);
}


/* the fields a body is scanned for, and the scanner at its start */

static void
ngx_olla_dmr_scan_init(ngx_olla_dmr_scan_t *bs)
{
    olla_json_field_t  *f;

    f = bs->fields;

    ngx_memzero(f, sizeof(bs->fields));

    /* most names fit; a longer one is read again (ngx_olla_dmr_read_model) */

    f[NGX_OLLA_DMR_F_MODEL].key = "model";
    f[NGX_OLLA_DMR_F_MODEL].key_len = 5;
    f[NGX_OLLA_DMR_F_MODEL].value = (char *) bs->small;
    f[NGX_OLLA_DMR_F_MODEL].cap = sizeof(bs->small);

    f[NGX_OLLA_DMR_F_STREAM].key = "stream";
    f[NGX_OLLA_DMR_F_STREAM].key_len = 6;

    /* the conversation's opening, hashed in the same pass (affinity) */

    f[NGX_OLLA_DMR_F_MESSAGES].key = "messages";
    f[NGX_OLLA_DMR_F_MESSAGES].key_len = 8;
    f[NGX_OLLA_DMR_F_MESSAGES].opening = OLLA_JSON_OPENING_TURNS;
    f[NGX_OLLA_DMR_F_SYSTEM].key = "system";
    f[NGX_OLLA_DMR_F_SYSTEM].key_len = 6;
    f[NGX_OLLA_DMR_F_SYSTEM].opening = OLLA_JSON_OPENING_ALL;
    f[NGX_OLLA_DMR_F_INSTRUCTIONS].key = "instructions";
    f[NGX_OLLA_DMR_F_INSTRUCTIONS].key_len = 12;
    f[NGX_OLLA_DMR_F_INSTRUCTIONS].opening = OLLA_JSON_OPENING_ALL;
    f[NGX_OLLA_DMR_F_INPUT].key = "input";
    f[NGX_OLLA_DMR_F_INPUT].key_len = 5;
    f[NGX_OLLA_DMR_F_INPUT].opening = OLLA_JSON_OPENING_TURNS;

    /* the Responses API's conversation */

    f[NGX_OLLA_DMR_F_PREVIOUS].key = "previous_response_id";
    f[NGX_OLLA_DMR_F_PREVIOUS].key_len = 20;
    f[NGX_OLLA_DMR_F_PREVIOUS].value = (char *) bs->rid;
    f[NGX_OLLA_DMR_F_PREVIOUS].cap = NGX_OLLA_DMR_RID_MAX;

    /* what DMR's Responses layer refuses and Codex sends */

    f[NGX_OLLA_DMR_F_INCLUDE].key = "include";
    f[NGX_OLLA_DMR_F_INCLUDE].key_len = 7;
    f[NGX_OLLA_DMR_F_SERVICE_TIER].key = "service_tier";
    f[NGX_OLLA_DMR_F_SERVICE_TIER].key_len = 12;

    /* numbers, in num[0..3] (the Messages shape rule reads them) */

    f[NGX_OLLA_DMR_F_MAX_TOKENS].key = "max_tokens";
    f[NGX_OLLA_DMR_F_MAX_TOKENS].key_len = 10;
    f[NGX_OLLA_DMR_F_TEMPERATURE].key = "temperature";
    f[NGX_OLLA_DMR_F_TEMPERATURE].key_len = 11;
    f[NGX_OLLA_DMR_F_TOP_P].key = "top_p";
    f[NGX_OLLA_DMR_F_TOP_P].key_len = 5;
    f[NGX_OLLA_DMR_F_TOP_K].key = "top_k";
    f[NGX_OLLA_DMR_F_TOP_K].key_len = 5;

    f[NGX_OLLA_DMR_F_MAX_TOKENS].value = (char *) bs->num[0];
    f[NGX_OLLA_DMR_F_TEMPERATURE].value = (char *) bs->num[1];
    f[NGX_OLLA_DMR_F_TOP_P].value = (char *) bs->num[2];
    f[NGX_OLLA_DMR_F_TOP_K].value = (char *) bs->num[3];

    f[NGX_OLLA_DMR_F_MAX_TOKENS].cap = NGX_OLLA_DMR_NUM;
    f[NGX_OLLA_DMR_F_TEMPERATURE].cap = NGX_OLLA_DMR_NUM;
    f[NGX_OLLA_DMR_F_TOP_P].cap = NGX_OLLA_DMR_NUM;
    f[NGX_OLLA_DMR_F_TOP_K].cap = NGX_OLLA_DMR_NUM;

    olla_json_scan_init(&bs->scan, f, NGX_OLLA_DMR_F_N, 0);

    bs->fed = 0;
    bs->live = 0;
    bs->last = 0;
    bs->failed = 0;
    bs->lost = 0;
}


/*
 * The body through the scanner once: fed as it arrived (a long body, see
 * NGX_OLLA_DMR_LIVE_MIN), finished here; or read whole now
 */

static ngx_int_t
ngx_olla_dmr_scan_whole(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_scan_t *bs, off_t size)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    if (bs->live && bs->failed) {
        /* refused on the way in: what follows cannot mend it */
        return NGX_DECLINED;
    }

    if (bs->live && bs->last && !bs->lost && bs->fed == size) {
        /*
         * a temp file within olla_body_memory, to be sent from memory, or
         * a body in many pieces, to be sent from one
         */

        rc = ngx_olla_dmr_body_to_memory(r, ctx, &body);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        return olla_json_scan_end(&bs->scan) == OLLA_JSON_OK ? NGX_OK
                                                              : NGX_DECLINED;
    }

    if (bs->live) {
        /* not every byte went by the filter: from the start */
        ngx_olla_dmr_scan_init(bs);
    }

    return ngx_olla_dmr_scan_body(r, ctx, &bs->scan);
}


/* the body through the scanner once: valid JSON, its model and stream */

static ngx_int_t
ngx_olla_dmr_read_model(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_scan_t *bs, off_t size)
{
    u_char             *model, *p;
    ngx_int_t           rc;
    olla_json_scan_t   *scan;
    olla_json_field_t  *fields;

    scan = &bs->scan;
    fields = bs->fields;

    if (!bs->live) {
        ngx_olla_dmr_scan_init(bs);
    }

    rc = ngx_olla_dmr_scan_whole(r, ctx, bs, size);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        if (ngx_strncmp(scan->err, "invalid JSON: ", 14) == 0) {
            return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_JSON,
                                     "request body is not valid JSON: %s "
                                     "(at byte %uz)", scan->err + 14,
                                     scan->err_offset);
        }

        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_JSON,
                                 "%s (at byte %uz)", scan->err,
                                 scan->err_offset);
    }

    ctx->key = scan->opening;
    ctx->scanned = 1;

    if (fields[NGX_OLLA_DMR_F_PREVIOUS].type == OLLA_JSON_STRING
        && fields[NGX_OLLA_DMR_F_PREVIOUS].len
        && !ctx->rid_by_path)
    {
        if (fields[NGX_OLLA_DMR_F_PREVIOUS].truncated) {
            return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_REQUEST,
                                     "previous_response_id is longer than "
                                     "%d bytes", NGX_OLLA_DMR_RID_MAX);
        }

        p = ngx_pnalloc(r->pool, fields[NGX_OLLA_DMR_F_PREVIOUS].len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->rid.data = p;
        ctx->rid.len = fields[NGX_OLLA_DMR_F_PREVIOUS].len;
        ngx_memcpy(p, bs->rid, ctx->rid.len);
    }

    if ((fields[NGX_OLLA_DMR_F_INCLUDE].type == OLLA_JSON_ARRAY
         && fields[NGX_OLLA_DMR_F_INCLUDE].elements)
        || (fields[NGX_OLLA_DMR_F_SERVICE_TIER].type == OLLA_JSON_STRING
            && fields[NGX_OLLA_DMR_F_SERVICE_TIER].len))
    {
        ctx->resp_foreign = 1;
    }

    if (fields[NGX_OLLA_DMR_F_STREAM].type == OLLA_JSON_TRUE) {
        ctx->stream = 1;

    } else if (fields[NGX_OLLA_DMR_F_STREAM].type == OLLA_JSON_FALSE) {
        ctx->stream = 0;
    }

    switch (fields[NGX_OLLA_DMR_F_MODEL].type) {

    case OLLA_JSON_NONE:
        return NGX_OK;

    case OLLA_JSON_STRING:
        break;

    default:
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_MODEL,
                                 "\"model\" must be a string");
    }

    if (fields[NGX_OLLA_DMR_F_MODEL].len == 0) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_MODEL,
                                 "\"model\" must not be empty");
    }

    if (fields[NGX_OLLA_DMR_F_MODEL].len > NGX_OLLA_DMR_MAX_MODEL) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_MODEL,
                                 "\"model\" is longer than %d bytes",
                                 NGX_OLLA_DMR_MAX_MODEL);
    }

    model = ngx_pnalloc(r->pool, fields[NGX_OLLA_DMR_F_MODEL].len + 1);
    if (model == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (fields[NGX_OLLA_DMR_F_MODEL].truncated) {
        /* a long name: the body once more, into room for it */

        fields[NGX_OLLA_DMR_F_MODEL].value = (char *) model;
        fields[NGX_OLLA_DMR_F_MODEL].cap = fields[NGX_OLLA_DMR_F_MODEL].len;

        olla_json_scan_init(scan, fields, NGX_OLLA_DMR_F_N, 0);

        if (ngx_olla_dmr_scan_body(r, ctx, scan) != NGX_OK
            || fields[NGX_OLLA_DMR_F_MODEL].truncated)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        ngx_memcpy(model, bs->small, fields[NGX_OLLA_DMR_F_MODEL].len);
    }

    ctx->model.data = model;
    ctx->model.len = fields[NGX_OLLA_DMR_F_MODEL].len;
    model[ctx->model.len] = '\0';

    ctx->norm.data = ngx_pnalloc(r->pool, ctx->model.len + 32);
    if (ctx->norm.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->norm.len = olla_model_normalise((char *) model, ctx->model.len,
                                         (char *) ctx->norm.data,
                                         ctx->model.len + 32);

    ctx->model_hash = olla_pick_hash(OLLA_PICK_HASH_INIT, ctx->norm.data,
                                     ctx->norm.len);
    if (ctx->model_hash == 0) {
        ctx->model_hash = 1;
    }

    return NGX_OK;
}


/*
 * An Anthropic Messages request: a model always; for /messages the one
 * shape rule of olla_anthropic.h, over the same scan (a translation
 * checks the body with the same rule and the same words).
 */

static ngx_int_t
ngx_olla_dmr_check_message(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_json_field_t *fields)
{
    char               err[OLLA_ANTH_ERRLEN];
    olla_anth_shape_t  shape;

    if (ctx->route->body != OLLA_BODY_MESSAGE_SHAPE) {
        if (ctx->model.len == 0) {
            return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_MODEL,
                                     "\"model\" is required and must be a "
                                     "non-empty string");
        }

        return NGX_OK;
    }

    olla_anth_shape_value(&shape.model, &fields[NGX_OLLA_DMR_F_MODEL]);
    olla_anth_shape_value(&shape.messages, &fields[NGX_OLLA_DMR_F_MESSAGES]);
    olla_anth_shape_value(&shape.max_tokens,
                          &fields[NGX_OLLA_DMR_F_MAX_TOKENS]);
    olla_anth_shape_value(&shape.temperature,
                          &fields[NGX_OLLA_DMR_F_TEMPERATURE]);
    olla_anth_shape_value(&shape.top_p, &fields[NGX_OLLA_DMR_F_TOP_P]);
    olla_anth_shape_value(&shape.top_k, &fields[NGX_OLLA_DMR_F_TOP_K]);
    olla_anth_shape_value(&shape.stream, &fields[NGX_OLLA_DMR_F_STREAM]);

    /* the name as read (a long one was read again in full) */

    shape.model.text = (char *) ctx->model.data;
    shape.model.len = ctx->model.len;

    if (olla_anth_check_shape(&shape, err, sizeof(err)) != 0) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_REQUEST, "%s", err);
    }

    return NGX_OK;
}


/*
 * What the request runs on an endpoint (a chat model or an embedding
 * runner) and the conversation it belongs to: a client's X-Olla-Session-ID
 * names it; otherwise the body's opening does (ctx->key from the scan).
 * Either way the model is part of the key.
 */

static void
ngx_olla_dmr_conversation(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    uint64_t          h;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *hd;

    ctx->runner = OLLA_PS_COMPLETION;

    if (ctx->path.len >= sizeof("/embeddings") - 1
        && ngx_strncmp(ctx->path.data + ctx->path.len
                       - (sizeof("/embeddings") - 1),
                       "/embeddings", sizeof("/embeddings") - 1)
           == 0)
    {
        ctx->runner = OLLA_PS_EMBEDDING;
    }

    if (ctx->model_hash == 0) {
        ctx->key = 0;
        return;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        hd = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (hd[i].key.len == sizeof("X-Olla-Session-ID") - 1
                && hd[i].value.len
                && ngx_strncasecmp(hd[i].key.data,
                                   (u_char *) "X-Olla-Session-ID",
                                   sizeof("X-Olla-Session-ID") - 1)
                   == 0)
            {
                h = olla_pick_hash(ctx->model_hash, "session", 7);
                ctx->key = olla_pick_hash(h, hd[i].value.data,
                                          hd[i].value.len) | 1;
                return;
            }
        }
    }

    if (ctx->key) {
        ctx->key = (olla_pick_hash(ctx->model_hash, &ctx->key,
                                   sizeof(ctx->key)))
                   | 1;
    }
}


/*
 * ctx->path past its first base bytes ("/v1/responses", or a type's
 * ".../responses"): nothing (a new response), or "/{id}" and maybe
 * "/input_items" (a response by its id)
 */

static ngx_int_t
ngx_olla_dmr_response_path(ngx_olla_dmr_ctx_t *ctx, size_t base)
{
    u_char  *p, *last, *slash;

    p = ctx->path.data + base;
    last = ctx->path.data + ctx->path.len;

    if (p == last) {
        return NGX_OK;
    }

    if (*p != '/' || p + 1 == last) {
        return NGX_DECLINED;
    }

    p++;
    slash = ngx_strlchr(p, last, '/');

    ctx->rid.data = p;
    ctx->rid.len = (slash ? slash : last) - p;
    ctx->rid_rest.data = slash ? slash : last;
    ctx->rid_rest.len = last - ctx->rid_rest.data;
    ctx->rid_by_path = 1;

    if (ctx->rid.len == 0 || ctx->rid.len > NGX_OLLA_DMR_RID_MAX
        || (ctx->rid_rest.len
            && (ctx->rid_rest.len != sizeof("/input_items") - 1
                || ngx_strncmp(ctx->rid_rest.data, "/input_items",
                               ctx->rid_rest.len)
                   != 0)))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A response named by the request goes where it was made: the zone says
 * which endpoint that is.  The gateway learns it from the response's id
 * on its way back; an id it does not know is refused, never sent to an
 * endpoint that would answer without the conversation.
 */

static ngx_int_t
ngx_olla_dmr_response_pin(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    uint32_t                   ep;
    ngx_olla_dmr_main_conf_t  *omcf;

    if (ctx->rid.len == 0) {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    ctx->rid_hash = olla_pick_hash(OLLA_PICK_HASH_INIT, ctx->rid.data,
                                   ctx->rid.len) | 1;

    if (ngx_olla_dmr_rid_get(omcf, ctx->rid_hash, &ep) == NGX_OK) {
        ctx->pin = ep;
        return NGX_OK;
    }

    if (ctx->rid_by_path) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_RESPONSE_NOT_FOUND,
                                 "no response with id \"%V\" is known: a "
                                 "response is kept for an hour, by the "
                                 "endpoint that made it", &ctx->rid);
    }

    return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_PREVIOUS_NOT_FOUND,
                             "previous_response_id \"%V\" is not known: a "
                             "response is kept for an hour, by the endpoint "
                             "that made it; send the whole conversation "
                             "instead", &ctx->rid);
}


/* the endpoints that may serve the route: the others are skipped */

static ngx_int_t
ngx_olla_dmr_candidates(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_uint_t                i, n;
    ngx_olla_dmr_endpoint_t  *ep, *pinned;

    n = ctx->ups->endpoints.nelts;
    ep = ctx->ups->endpoints.elts;

    ctx->skip = ngx_pnalloc(r->pool, n);
    if (ctx->skip == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        ctx->skip[i] = !ngx_olla_dmr_serves(ctx, &ep[i]);
    }

    if (ctx->pin == 0) {
        return NGX_OK;
    }

    /* a response's endpoint, and no other */

    pinned = NULL;

    for (i = 0; i < n; i++) {
        if (ep[i].id != ctx->pin) {
            ctx->skip[i] = 1;

        } else if (ctx->skip[i]) {
            return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_RESPONSE_NOT_FOUND,
                                     "response \"%V\" was made by endpoint "
                                     "\"%V\" (type %s), which this route "
                                     "does not serve", &ctx->rid,
                                     &ep[i].name, ep[i].profile->name);

        } else {
            pinned = &ep[i];
        }
    }

    if (pinned == NULL) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_RESPONSE_NOT_FOUND,
                                 "response \"%V\" was made by an endpoint "
                                 "of another upstream", &ctx->rid);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_olla_dmr_serves(ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_endpoint_t *ep)
{
    ngx_olla_dmr_loc_conf_t  *olcf;

    if (ctx->type) {
        return ep->profile == ctx->type;
    }

    if (ctx->route->xlat == OLLA_XLAT_RESPONSES) {
        /* native, or translated to its chat completions */
        return ep->responses_path != NULL
               || (ctx->olcf->translation && ep->chat_path != NULL);
    }

    if (ctx->route->action == OLLA_ACT_RESPONSE) {
        return ep->responses_path != NULL;
    }

    switch (ctx->kind) {

    case OLLA_ROUTE_PROXY:
        return olla_path_map_cached(&ctx->map, ep->profile,
                                    (char *) ctx->path.data, ctx->path.len)
               != NULL;

    case OLLA_ROUTE_ANTHROPIC:
        olcf = ctx->olcf;

        if (olcf->passthrough && ep->profile->anthropic_enabled) {
            return 1;
        }

        return olcf->translation && ep->chat_path != NULL;

    default:
        return 1;
    }
}


static ngx_int_t
ngx_olla_dmr_pick_error(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_pick_result_e result)
{
    u_char      *p;
    size_t       n;
    ngx_str_t    name;
    ngx_uint_t   secs, nz;
    const char  *type;
    u_char       why[256];

    type = ctx->type ? ctx->type->name : "any";

    switch (result) {

    case OLLA_PICK_NO_MODEL:
        /* the name escaped: a U+0000 in it must not cut the message */

        name.data = ngx_pnalloc(r->pool, 6 * ctx->norm.len + 1);
        if (name.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        name.len = olla_err_quote((char *) ctx->norm.data, ctx->norm.len,
                                  (char *) name.data);

        nz = ngx_olla_dmr_models_not_stored(ctx->ups);

        if (nz) {
            return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_MODEL_NOT_FOUND,
                                     "model \"%V\" is not available on any "
                                     "healthy endpoint whose model list is "
                                     "known (endpoints whose model list "
                                     "does not fit in olla_zone: %ui)",
                                     &name, nz);
        }

        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_MODEL_NOT_FOUND,
                                 "model \"%V\" is not available on any "
                                 "healthy endpoint", &name);

    case OLLA_PICK_NO_TYPE:
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_NO_ENDPOINT, NULL);

    default:
        break;
    }

    if (ctx->pin && result == OLLA_PICK_NONE) {
        ngx_uint_t                i;
        ngx_olla_dmr_endpoint_t  *ep;

        ep = ctx->ups->endpoints.elts;

        for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
            if (ep[i].id == ctx->pin) {
                return ngx_olla_dmr_fail(r, ctx,
                                         OLLA_ERR_RESPONSE_UNAVAILABLE,
                                         "response \"%V\" is held by "
                                         "endpoint \"%V\", which is "
                                         "unavailable (%s, circuit %s); "
                                         "retry when it is back",
                                         &ctx->rid, &ep[i].name,
                                         olla_health_name((olla_health_e)
                                                          ep[i].sh->status),
                                         ngx_olla_dmr_circuit_name(ep[i].sh));
            }
        }
    }

    secs = (result == OLLA_PICK_FULL) ? 1 : ngx_olla_dmr_retry_after(ctx);

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_olla_dmr_add_header(r, "Retry-After", p,
                                ngx_sprintf(p, "%ui", secs) - p)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (result == OLLA_PICK_FULL) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_CONCURRENCY_LIMIT,
                                 "every %s endpoint that can serve this "
                                 "request is at its concurrency limit; "
                                 "retry shortly", type);
    }

    /* an open circuit says why, rather than "no healthy endpoint" */

    n = ngx_olla_dmr_circuit_reason(ctx, why, sizeof(why));

    if (n) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_NO_HEALTHY_ENDPOINT,
                                 "no %s endpoint is available in upstream "
                                 "\"%V\": %*s", type,
                                 &ctx->ups->uscf->host, n, why);
    }

    return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_NO_HEALTHY_ENDPOINT,
                             "no healthy %s endpoint is available in "
                             "upstream \"%V\"", type, &ctx->ups->uscf->host);
}


/*
 * The queue's turn came (or the wait ran out): the request goes on from
 * where the phase handler left it, as after reading the body
 */

static void
ngx_olla_dmr_route_resume(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    rc = ngx_olla_dmr_route_dispatch(r, ctx);

    if (rc == NGX_DONE) {
        /* still waiting, or answered by the module */
        return;
    }

    ctx->phase_done = 1;
    ctx->status = rc;

    if (r->request_body) {
        r->preserve_body = 1;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* 429 from the queue: full, or the request's wait ran out */

static ngx_int_t
ngx_olla_dmr_queue_refuse(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t timed_out)
{
    u_char      *p;
    ngx_uint_t   secs;
    const char  *type;

    if (timed_out) {
        ngx_olla_dmr_queue_leave(r, ctx, NGX_OLLA_DMR_LEFT_TIMEOUT);
    }

    secs = ngx_olla_dmr_queue_retry_after(ctx->ups);

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_olla_dmr_add_header(r, "Retry-After", p,
                                ngx_sprintf(p, "%ui", secs) - p)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    type = ctx->type ? ctx->type->name : "any";

    if (timed_out) {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_QUEUE_TIMEOUT,
                                 "the request waited %M.%03Ms in the queue "
                                 "of upstream \"%V\" for a free %s endpoint "
                                 "and its wait ran out (olla_queue "
                                 "timeout=%Mms); retry later",
                                 ctx->q_wait / 1000, ctx->q_wait % 1000,
                                 &ctx->ups->uscf->host, type,
                                 ctx->ups->queue_timeout);
    }

    return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_QUEUE_FULL,
                             "every %s endpoint that can serve this request "
                             "is at its concurrency limit and the queue of "
                             "upstream \"%V\" is full (olla_queue %ui); "
                             "retry later", type, &ctx->ups->uscf->host,
                             ctx->ups->queue_len);
}


/*
 * A translating route (the Anthropic Messages API, the OpenAI Responses
 * API): passed through when the endpoint speaks the API natively, else
 * translated to its chat completions path; a count without a native
 * counter is answered here.
 */

static ngx_int_t
ngx_olla_dmr_route_translating(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_endpoint_t *ep)
{
    ngx_uint_t                count;
    const char               *path;
    const olla_profile_t     *prof;
    ngx_olla_dmr_loc_conf_t  *olcf;

    olcf = ctx->olcf;
    prof = ep->profile;

    if (ctx->route->xlat == OLLA_XLAT_RESPONSES) {
        path = ep->responses_path;

        if (path && ctx->resp_foreign && ctx->rid.len == 0) {
            /*
             * DMR's Responses layer refuses "include" and "service_tier"
             * (Codex sends "include"); a request that does not continue a
             * stored response loses nothing by the stateless translation
             */
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "olla: a Responses request with \"include\" or "
                          "\"service_tier\" is translated for endpoint "
                          "\"%V\": its native Responses API refuses them",
                          &ep->name);
            path = NULL;
        }

        if (path) {
            /* native, stateful: the response's id is learned */
            ctx->mode = NGX_OLLA_DMR_MODE_PASSTHROUGH;
            ctx->learn_rid = 1;

            return ngx_olla_dmr_set_uri(r, ctx, path, NULL) == NGX_OK
                   ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->xlat = olla_xlat_get(ctx->route->xlat);

        return ngx_olla_dmr_translate_body(r, ctx, ep);
    }

    count = (ctx->path.len > sizeof("/messages") - 1);

    if (olcf->passthrough && prof->anthropic_enabled
        && (!count || prof->anthropic_token_count))
    {
        ctx->mode = NGX_OLLA_DMR_MODE_PASSTHROUGH;

        if (ngx_olla_dmr_set_uri(r, ctx, prof->anthropic_messages_path
                                         ? prof->anthropic_messages_path
                                         : "/v1/messages",
                                 count ? "/count_tokens" : NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_OK;
    }

    ctx->xlat = olla_xlat_get(ctx->route->xlat);

    if (count) {
        return ngx_olla_dmr_count_locally(r, ctx);
    }

    return ngx_olla_dmr_translate_body(r, ctx, ep);
}


static ngx_int_t
ngx_olla_dmr_translate_body(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_endpoint_t *ep)
{
    char                *out;
    size_t               outlen;
    ngx_str_t            body;
    const char          *chat;
    olla_xlat_info_t     info;
    ngx_pool_cleanup_t  *cln;
    char                 err[512];

    if (!ctx->olcf->translation) {
        ngx_olla_dmr_unpick(ctx);
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_NOT_TRANSLATABLE,
                                 "endpoint \"%V\" (type %s) does not speak "
                                 "the %s API and olla_translation is off",
                                 &ep->name, ep->profile->name,
                                 ctx->route->xlat == OLLA_XLAT_RESPONSES
                                 ? "Responses" : "Anthropic");
    }

    chat = ep->chat_path;

    if (chat == NULL) {
        ngx_olla_dmr_unpick(ctx);
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_NOT_TRANSLATABLE,
                                 "endpoint type %s has no chat completions "
                                 "path to translate to", ep->profile->name);
    }

    if (ngx_olla_dmr_body_bytes(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&info, sizeof(olla_xlat_info_t));

    /* the scan checked the body's strings: the translator need not */

    if (ctx->xlat->request((char *) body.data, body.len, ctx->scanned, &out,
                           &outlen, &info, err, sizeof(err))
        != 0)
    {
        olla_xlat_info_free(&info);
        ngx_olla_dmr_unpick(ctx);
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_REQUEST, "%s", err);
    }

    ctx->stream = info.stream;
    ctx->input_tokens = info.input_tokens;
    olla_xlat_info_free(&info);

    /* the translator's buffer is the new body, freed with the request */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        free(out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_olla_dmr_free;
    cln->data = out;

    if (ngx_olla_dmr_replace_body(r, (u_char *) out, outlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_olla_dmr_set_uri(r, ctx, chat, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * the client's query is for the API it spoke (Claude Code's
     * "?beta=true"), not for the chat completions it becomes
     */
    r->args.len = 0;

    ctx->mode = NGX_OLLA_DMR_MODE_TRANSLATION;

    return NGX_OK;
}


/* no native counter: the translator's local estimate */

static ngx_int_t
ngx_olla_dmr_count_locally(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    long        tokens;
    u_char     *p;
    size_t      len;
    ngx_str_t   body;
    char        err[512];

    ngx_olla_dmr_unpick(ctx);
    ctx->mode = NGX_OLLA_DMR_MODE_TRANSLATION;

    if (ngx_olla_dmr_body_bytes(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the scan checked the body: its tools' schemas are skipped */

    if (ctx->xlat->count_tokens((char *) body.data, body.len, ctx->scanned,
                                &tokens, err, sizeof(err))
        != 0)
    {
        return ngx_olla_dmr_fail(r, ctx, OLLA_ERR_INVALID_REQUEST, "%s", err);
    }

    p = ngx_pnalloc(r->pool, sizeof("{\"input_tokens\":}\n") + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_sprintf(p, "{\"input_tokens\":%l}\n", tokens) - p;

    ngx_http_finalize_request(r, ngx_olla_dmr_send_json(r, NGX_HTTP_OK, p,
                                                        len));
    return NGX_DONE;
}


/* r->uri + "/" + id + rest */

static ngx_int_t
ngx_olla_dmr_append_uri(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *rest)
{
    u_char  *p;
    size_t   len;

    len = r->uri.len + 1 + id->len + rest->len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    r->uri.data = ngx_cpymem(p, r->uri.data, r->uri.len);
    *r->uri.data++ = '/';
    r->uri.data = ngx_cpymem(r->uri.data, id->data, id->len);
    r->uri.data = ngx_cpymem(r->uri.data, rest->data, rest->len);

    r->uri.data = p;
    r->uri.len = len;

    return NGX_OK;
}


/* a pick the route does not use after all: the slot goes back */

static void
ngx_olla_dmr_unpick(ngx_olla_dmr_ctx_t *ctx)
{
    ngx_olla_dmr_release(ctx);

    ctx->ep = NULL;
    ctx->pending = 0;
}


/* the request leaves for the chosen endpoint */

static ngx_int_t
ngx_olla_dmr_route_proxy(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_olla_dmr_endpoint_t   *ep;
    ngx_olla_dmr_main_conf_t  *omcf;

    ep = ctx->ep;
    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    ctx->read_timeout = ngx_olla_dmr_model_timeout(omcf, ep->profile,
                                                   &ctx->model);

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
ngx_olla_dmr_set_uri(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    const char *path, const char *suffix)
{
    u_char  *p;
    size_t   len, slen;

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


/* the body, in memory or in a temp file, through the JSON scanner once */

static ngx_int_t
ngx_olla_dmr_scan_body(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_json_scan_t *scan)
{
    u_char       *buf;
    off_t         pos;
    size_t        size;
    ssize_t       n;
    ngx_int_t     rc;
    ngx_str_t     body;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    /*
     * a temp file within olla_body_memory (or a body in many pieces): read
     * into one buffer, scanned there
     */

    rc = ngx_olla_dmr_body_to_memory(r, ctx, &body);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        if (olla_json_scan_feed(scan, (char *) body.data, body.len)
            != OLLA_JSON_OK
            || olla_json_scan_end(scan) != OLLA_JSON_OK)
        {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

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


/*
 * A body nginx wrote to its temp file (longer than client_body_buffer_size)
 * and no longer than olla_body_memory is read back once, into memory, and
 * becomes the request's body: the scan reads it there and the proxy sends
 * it from there, in one write with the request's head: no file read while
 * it is sent (a 50 KB body 0.22 ms from memory, 0.62 ms from the file on a
 * TCP_NODELAY connection: BENCHMARKS.md, eleventh pass).  The same for a
 * body in memory in more than NGX_OLLA_DMR_BODY_PIECES pieces (sent
 * chunked, in small chunks: a buffer a chunk): one write instead of one
 * for each 64 buffers.  NGX_DECLINED: the body is in memory in few
 * pieces, or is longer.
 */

static ngx_int_t
ngx_olla_dmr_body_to_memory(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_str_t *body)
{
    u_char       *p, *d, *last;
    off_t         len, pos;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_uint_t    file, pieces;
    ngx_chain_t  *cl;

    if (ctx->olcf->body_memory == 0 || r->request_body == NULL) {
        return NGX_DECLINED;
    }

    len = 0;
    file = 0;
    pieces = 0;
    last = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            file = 1;
            len += b->file_last - b->file_pos;
            continue;
        }

        if (b->last == b->pos) {
            continue;
        }

        /* buffers that follow each other in memory go out as one */

        if (b->pos != last) {
            pieces++;
        }

        last = b->last;
        len += b->last - b->pos;
    }

    if ((!file && pieces <= NGX_OLLA_DMR_BODY_PIECES)
        || len > (off_t) ctx->olcf->body_memory)
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    d = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            d = ngx_cpymem(d, b->pos, b->last - b->pos);
            continue;
        }

        for (pos = b->file_pos; pos < b->file_last; pos += n) {
            n = ngx_read_file(b->file, d, (size_t) (b->file_last - pos), pos);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (n == 0) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "olla: the request body's temp file \"%V\" "
                              "ended at %O of %O bytes",
                              &b->file->name, pos, b->file_last);
                return NGX_ERROR;
            }

            d += n;
        }
    }

    if (ngx_olla_dmr_replace_body(r, p, (size_t) len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (file) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "olla: the request body (%O bytes, over "
                      "client_body_buffer_size) was read from its temp file "
                      "into memory and is sent from there (olla_body_memory)",
                      len);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "olla: the request body (%O bytes in %ui pieces) "
                      "was joined into one buffer and is sent from there "
                      "(olla_body_memory)",
                      len, pieces);
    }

    body->data = p;
    body->len = (size_t) len;

    return NGX_OK;
}


/*
 * The whole body as one piece of memory (the translators need it).  nginx
 * keeps a body read into memory as the part that came with the request
 * header (in r->header_in) followed by the parts read after it, which are
 * consecutive in one buffer (rb->buf): pieces that follow each other in
 * memory need no copy; when the buffer has room for the first part (see
 * ngx_olla_dmr_read_body()), the rest moves up in it and the first part
 * goes in front; anything else (a temp file) is copied into new memory.
 */

static ngx_int_t
ngx_olla_dmr_body_bytes(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char                   *p;
    off_t                     len;
    size_t                    first, rest;
    ssize_t                   n;
    ngx_buf_t                *b, *rb_buf;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    body->data = (u_char *) "";
    body->len = 0;

    rb = r->request_body;

    if (rb == NULL || rb->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;
    p = rb->bufs->buf->in_file ? NULL : rb->bufs->buf->pos;

    for (cl = rb->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (p != NULL && (b->in_file || b->pos != p + len)) {
            p = NULL;
        }

        len += ngx_buf_size(b);
    }

    if (p != NULL) {
        /* in memory, in one piece already */
        body->data = p;
        body->len = (size_t) len;
        return NGX_OK;
    }

    /* the first part apart, the rest in one piece in rb->buf with room */

    cl = rb->bufs;
    rb_buf = rb->buf;

    if (rb_buf != NULL && cl->next != NULL && !cl->buf->in_file
        && cl->next->buf->pos == rb_buf->start)
    {
        first = cl->buf->last - cl->buf->pos;
        rest = 0;

        for (cl = cl->next; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file || b->pos != rb_buf->start + rest) {
                break;
            }

            rest += b->last - b->pos;
        }

        if (cl == NULL
            && (size_t) (rb_buf->end - rb_buf->start) >= first + rest)
        {
            p = rb_buf->start;

            ngx_memmove(p + first, p, rest);
            ngx_memcpy(p, rb->bufs->buf->pos, first);

            /* the body is one buffer now, for whoever reads it next */

            b = rb->bufs->buf;
            b->start = p;
            b->pos = p;
            b->last = p + first + rest;
            b->end = rb_buf->end;
            b->last_buf = 1;
            rb->bufs->next = NULL;

            body->data = p;
            body->len = first + rest;

            return NGX_OK;
        }
    }

    p = ngx_pnalloc(r->pool, (size_t) len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = rb->bufs; cl; cl = cl->next) {
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


static void
ngx_olla_dmr_free(void *data)
{
    free(data);
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


/*
 * The rules chained by the length of their name, once per process: a
 * header is compared with the few of its length, and with none when no
 * rule of its length applies
 */

static void
ngx_olla_dmr_rules_index(void)
{
    ngx_olla_dmr_header_rule_t  *rule, **last;
    ngx_olla_dmr_rule_len_t     *bucket;

    for (rule = ngx_olla_dmr_header_rules; rule->name.len; rule++) {
        /* every name is shorter than NGX_OLLA_DMR_RULE_LENS */

        bucket = &ngx_olla_dmr_rules_by_len[rule->name.len];
        bucket->drop |= rule->drop;

        for (last = &bucket->first; *last; last = &(*last)->next) {
            /* void */
        }

        rule->next = NULL;
        *last = rule;
    }

    ngx_olla_dmr_hash_request_id = ngx_hash_key((u_char *) "x-request-id",
                                            sizeof("x-request-id") - 1);
    ngx_olla_dmr_hash_content_type = ngx_hash_key((u_char *) "content-type",
                                            sizeof("content-type") - 1);

    ngx_olla_dmr_rules_indexed = 1;
}


/* a request header the rules in force drop before proxying */

static ngx_uint_t
ngx_olla_dmr_dropped(ngx_table_elt_t *h, ngx_uint_t mask)
{
    u_char                       c;
    ngx_uint_t                   i;
    ngx_olla_dmr_header_rule_t  *rule;
    ngx_olla_dmr_rule_len_t     *bucket;

    if (h->key.len >= NGX_OLLA_DMR_RULE_LENS) {
        return 0;
    }

    bucket = &ngx_olla_dmr_rules_by_len[h->key.len];

    if (!(bucket->drop & mask)) {
        return 0;
    }

    for (rule = bucket->first; rule; rule = rule->next) {
        if (!(rule->drop & mask)) {
            continue;
        }

        if (h->lowcase_key) {
            /* the name in lowercase, as nginx's own lookups use it */

            if (h->lowcase_key[0] == rule->name.data[0]
                && ngx_memcmp(h->lowcase_key, rule->name.data,
                              rule->name.len)
                   == 0)
            {
                return 1;
            }

            continue;
        }

        for (i = 0; i < rule->name.len; i++) {
            c = h->key.data[i];

            if (c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            if (c != rule->name.data[i]) {
                break;
            }
        }

        if (i == rule->name.len) {
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

    if (olcf->api_keys) {
        /* the client's key is the gateway's, whatever forwarding says */
        mask |= NGX_OLLA_DMR_DROP_KEY;
    }

    if (ctx->mode == NGX_OLLA_DMR_MODE_TRANSLATION) {
        mask |= NGX_OLLA_DMR_DROP_TRANSLATION;
    }

    if (!ngx_olla_dmr_rules_indexed) {
        ngx_olla_dmr_rules_index();
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

        if (mask & (NGX_OLLA_DMR_DROP_CREDENTIALS|NGX_OLLA_DMR_DROP_KEY)) {
            r->headers_in.authorization = NULL;
        }
    }

    nh = ngx_list_push(&r->headers_in.headers);
    if (nh == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&nh->key, "X-Request-ID");
    nh->lowcase_key = (u_char *) "x-request-id";
    nh->hash = ngx_olla_dmr_hash_request_id;
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
        nh->hash = ngx_olla_dmr_hash_content_type;
        ngx_str_set(&nh->value, "application/json");
#if (nginx_version >= 1023000)
        nh->next = NULL;
#endif
    }

    return NGX_OK;
}
