
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * What the module answers itself, for every part of it: the request
 * context and its request id, JSON answers and errors in the dialect of
 * the request's route (the catalogue of olla_errors.h), response headers,
 * and, at configuration time, messages that name the file and line a
 * directive came from.
 */


#include "ngx_olla_dmr.h"

#include <openssl/rand.h>
#include <jansson.h>


static void ngx_olla_dmr_new_id(u_char *p);
static void ngx_olla_dmr_request_uri(ngx_http_request_t *r, ngx_str_t *uri);
static void ngx_olla_dmr_conf_log(ngx_conf_t *cf, ngx_uint_t level,
    u_char *file, ngx_uint_t line, const char *fmt, va_list args);
static ngx_int_t ngx_olla_dmr_send_errorv(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_err_e err, const char *fmt, va_list args);


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
    ctx->dialect = OLLA_DIALECT_OPENAI;

    /* a valid inbound X-Request-ID is echoed, else a new id */

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

        /* Origin is kept for CORS: the route drops it before proxying */

        if (h[i].key.len == sizeof("Origin") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Origin",
                               sizeof("Origin") - 1)
               == 0)
        {
            ctx->origin = h[i].value;
            continue;
        }

        if (ctx->request_id.len == 0
            && h[i].key.len == sizeof("X-Request-ID") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Request-ID",
                               sizeof("X-Request-ID") - 1)
               == 0
            && olla_request_id_valid((char *) h[i].value.data,
                                     h[i].value.len))
        {
            ctx->request_id = h[i].value;
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
 * A ctx for an error nginx raises on an olla_route location before the
 * route ran (a body over client_max_body_size is refused as soon as the
 * location is found; return, deny, auth_request, limit_req refuse before
 * the route's phase), or before any location was found (a URI or headers
 * too large, a server-level refusal) for a URI under an olla_route
 * location of the server: the route table's row gives the dialect.
 */

ngx_olla_dmr_ctx_t *
ngx_olla_dmr_error_ctx(ngx_http_request_t *r)
{
    u_char                   *p, *last;
    ngx_str_t                 uri;
    ngx_olla_dmr_ctx_t       *ctx;
    const olla_route_t       *row;
    ngx_olla_dmr_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

    if (olcf == NULL) {
        return NULL;
    }

    if (olcf->ups == NULL) {
        olcf = r->err_status ? ngx_olla_dmr_route_by_uri(r) : NULL;

        if (olcf == NULL || olcf->ups == NULL) {
            return NULL;
        }
    }

    ctx = ngx_olla_dmr_create_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    ctx->ups = olcf->ups;
    ctx->olcf = olcf;

    ngx_olla_dmr_request_uri(r, &uri);

    p = uri.data;
    last = uri.data + uri.len;

    if (uri.len >= olcf->loc_name.len) {
        p += olcf->loc_name.len;
    }

    while (p < last && *p == '/') {
        p++;
    }

    row = olla_route_match((char *) p, last - p);

    ctx->route = row;
    ctx->kind = row->kind;
    ctx->dialect = row->dialect;

    return ctx;
}


/*
 * The request's URI, also when nginx refused it before the request line
 * was complete (414): the part of it that was read.
 */

static void
ngx_olla_dmr_request_uri(ngx_http_request_t *r, ngx_str_t *uri)
{
    u_char     *end;
    ngx_buf_t  *b;

    if (r->uri.len) {
        *uri = r->uri;
        return;
    }

    ngx_str_null(uri);

    b = r->header_in;

    if (b == NULL || r->uri_start == NULL
        || r->uri_start < b->start || r->uri_start >= b->last)
    {
        return;
    }

    end = b->last;

    if (r->uri_end && r->uri_end > r->uri_start && r->uri_end < end) {
        end = r->uri_end;
    }

    uri->data = r->uri_start;
    uri->len = end - r->uri_start;
}


/*
 * For an error nginx raised before it found a location: the olla_route
 * location of this server whose prefix the URI has (the longest), as the
 * prefix match would have found it.
 */

ngx_olla_dmr_loc_conf_t *
ngx_olla_dmr_route_by_uri(ngx_http_request_t *r)
{
    ngx_str_t                   uri;
    ngx_uint_t                  i;
    ngx_olla_dmr_loc_conf_t   **routes, *best;
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_http_core_srv_conf_t   *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    if (cscf == NULL || r->loc_conf != cscf->ctx->loc_conf) {
        /* a location was found, and it routes nothing */
        return NULL;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    ngx_olla_dmr_request_uri(r, &uri);

    routes = omcf->routes.elts;
    best = NULL;

    for (i = 0; i < omcf->routes.nelts; i++) {
        if (routes[i]->loc_srv == cscf
            && uri.len >= routes[i]->loc_name.len
            && ngx_strncmp(uri.data, routes[i]->loc_name.data,
                           routes[i]->loc_name.len)
               == 0
            && (best == NULL
                || routes[i]->loc_name.len > best->loc_name.len))
        {
            best = routes[i];
        }
    }

    return best;
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
    uint64_t          n;
    ngx_uint_t        i;
    static ngx_pid_t  pid;
    static uint64_t   prefix, count;
    static u_char     head[16];

    if (pid != ngx_pid) {
        pid = ngx_pid;

        if (RAND_bytes((u_char *) &prefix, sizeof(prefix)) != 1) {
            prefix = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
                     ^ ((uint64_t) ngx_pid << 16) ^ (uint64_t) ngx_time();
        }

        (void) ngx_sprintf(head, "%016uxL", prefix);
        count = 0;
    }

    count++;

    /* the worker's prefix as rendered once, then the count in hex */

    ngx_memcpy(p, head, 16);

    for (n = count, i = 32; i > 16; n >>= 4) {
        p[--i] = "0123456789abcdef"[n & 0xf];
    }
}


/* a response header; key is a literal, value lives in the request pool */

ngx_int_t
ngx_olla_dmr_add_header_n(ngx_http_request_t *r, const char *key,
    size_t key_len, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = key_len;
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


ngx_int_t
ngx_olla_dmr_send_json(ngx_http_request_t *r, ngx_uint_t status, u_char *body,
    size_t len)
{
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);
    if (ctx) {
        ctx->local = 1;
    }

    return ngx_olla_dmr_send_body(r, status, "application/json", body, len);
}


/* a body of the module's own: JSON, Prometheus text, the status page */

/* a jansson document as a JSON answer (the document is released) */

ngx_int_t
ngx_olla_dmr_send_jansson(ngx_http_request_t *r, ngx_uint_t status,
    json_t *root)
{
    u_char  *p;
    char    *s;
    size_t   len;

    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(s);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        free(s);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, s, len);
    p[len] = '\n';
    free(s);

    return ngx_olla_dmr_send_json(r, status, p, len + 1);
}


ngx_int_t
ngx_olla_dmr_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
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


/* the error body in the request's dialect, in the request pool */

u_char *
ngx_olla_dmr_error_json(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    const olla_err_t *e, u_char *msg, size_t msg_len, size_t *len)
{
    char    *json;
    u_char  *p;

    json = olla_err_json(ctx ? ctx->dialect : OLLA_DIALECT_OPENAI, e,
                         (char *) msg, msg_len,
                         ctx ? (char *) ctx->request_id.data : NULL,
                         ctx ? ctx->request_id.len : 0, len);
    if (json == NULL) {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, *len);
    if (p == NULL) {
        free(json);
        return NULL;
    }

    ngx_memcpy(p, json, *len);
    free(json);

    return p;
}


/*
 * An error from the catalogue; fmt (an ngx_sprintf() format) replaces the
 * default message when not NULL.
 */

ngx_int_t
ngx_olla_dmr_send_error(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_err_e err, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_olla_dmr_send_errorv(r, ctx, err, fmt, args);
    va_end(args);

    return rc;
}


/* the same in a phase handler: answer, finalize, NGX_DONE */

ngx_int_t
ngx_olla_dmr_fail(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_err_e err, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_olla_dmr_send_errorv(r, ctx, err, fmt, args);
    va_end(args);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_olla_dmr_send_errorv(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_err_e err, const char *fmt, va_list args)
{
    u_char            *p, *body;
    size_t             len;
    const olla_err_t  *e;
    u_char             msg[1024];

    e = olla_err(err);

    if (fmt) {
        p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
        body = ngx_olla_dmr_error_json(r, ctx, e, msg, p - msg, &len);

    } else {
        body = ngx_olla_dmr_error_json(r, ctx, e, NULL, 0, &len);
    }

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if ((r->headers_in.content_length_n > 0 || r->headers_in.chunked)
        && r->request_body == NULL)
    {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            r->keepalive = 0;
        }
    }

    return ngx_olla_dmr_send_json(r, e->status, body, len);
}


/* configuration: a message that names where a directive was written */

void
ngx_olla_dmr_conf_error(ngx_conf_t *cf, u_char *file, ngx_uint_t line,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_olla_dmr_conf_log(cf, NGX_LOG_EMERG, file, line, fmt, args);
    va_end(args);
}


void
ngx_olla_dmr_conf_warn(ngx_conf_t *cf, u_char *file, ngx_uint_t line,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_olla_dmr_conf_log(cf, NGX_LOG_WARN, file, line, fmt, args);
    va_end(args);
}


static void
ngx_olla_dmr_conf_log(ngx_conf_t *cf, ngx_uint_t level, u_char *file,
    ngx_uint_t line, const char *fmt, va_list args)
{
    u_char  *p, *last;
    u_char   errstr[NGX_MAX_CONF_ERRSTR];

    last = errstr + NGX_MAX_CONF_ERRSTR;

    p = ngx_vslprintf(errstr, last, fmt, args);

    if (file) {
        ngx_log_error(level, cf->log, 0, "%*s in %s:%ui",
                      (size_t) (p - errstr), errstr, file, line);

    } else {
        ngx_log_error(level, cf->log, 0, "%*s", (size_t) (p - errstr),
                      errstr);
    }
}
