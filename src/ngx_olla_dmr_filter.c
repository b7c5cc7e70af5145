
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The response side: the X-Olla-* headers (SPEC 7), JSON instead of
 * nginx's HTML error pages on Olla routes (in the route's dialect), unbuffered
 * SSE, and the translation of responses back into the client's API
 * (SPEC 5), through the translator the route chose (ctx->xlat).  Requests
 * without an Olla ctx pass straight through.
 *
 * The body filter copies and consumes every upstream buffer at once and
 * emits its own buffers, tagged and recycled through free/busy chains, so
 * memory per request stays bounded however long a stream runs.
 *
 * A stream passed through as it is (SSE or NDJSON) is never buffered:
 * only its end is watched (ctx->usage->done, read as it passes).  When it
 * ends without its end marker - the backend closed or reset the
 * connection, or went quiet past the stream idle timeout - its last event
 * says so, in the stream's API (olla_err_stream()), before the
 * connection closes.  How the upstream ended comes from its
 * finalize_request, wrapped: nginx calls it before it closes the upstream
 * connection and flushes what the client has not had yet.
 *
 * On the way in, a request body filter feeds a long request body to the
 * scanner route.c set up for it (ctx->live), a piece at a time as nginx
 * reads it, while the piece is still in the CPU's caches; route.c
 * finishes the scan once the body is in.
 */


#include "ngx_olla_dmr.h"


#define NGX_OLLA_DMR_OUT_SIZE       8192
#define NGX_OLLA_DMR_ERR_BODY_MAX   (1024 * 1024)
#define NGX_OLLA_DMR_JSON_BODY_MAX  (64 * 1024 * 1024)
#define NGX_OLLA_DMR_SSE_LINE_MAX   (1024 * 1024)
#define NGX_OLLA_DMR_SSE_HELD_MAX   (4 * 1024 * 1024)
#define NGX_OLLA_DMR_BUSY_MAX       (64 * 1024)
#define NGX_OLLA_DMR_RID_HEAD       8192    /* where a response id is */

/* r->main->limit_req_status, limit_conn_status (nginx's private values) */
#define NGX_OLLA_DMR_LIMIT_REQ_REJECTED   3
#define NGX_OLLA_DMR_LIMIT_CONN_REJECTED  2

/* r->buffered: input held back while the client is slow */
#define NGX_OLLA_DMR_BUFFERED       0x08


static ngx_int_t ngx_olla_dmr_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_olla_dmr_drop_backend_headers(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_setup_error(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_setup_translation(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_body_replace(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_olla_dmr_body_collect(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_olla_dmr_body_sse(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_chain_t *in);
static int ngx_olla_dmr_emit(void *data, const char *p, size_t len);
static ngx_int_t ngx_olla_dmr_flush_out(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t last);
static void ngx_olla_dmr_stream_cleanup(void *data);
static ngx_int_t ngx_olla_dmr_is_sse(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_olla_dmr_learn_rid(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_chain_t *in);
static void ngx_olla_dmr_upstream_finalize(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_olla_dmr_stream_idle(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_chain_t *ngx_olla_dmr_stream_end(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_chain_t *in);
static ngx_buf_t *ngx_olla_dmr_stream_event(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static olla_stream_e ngx_olla_dmr_stream_shape(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static u_char *ngx_olla_dmr_duration(u_char *p, u_char *last,
    ngx_msec_t ms);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;
static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;

static ngx_int_t ngx_olla_dmr_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


#define NGX_OLLA_DMR_VAR_ENDPOINT   0
#define NGX_OLLA_DMR_VAR_TYPE       1
#define NGX_OLLA_DMR_VAR_MODEL      2
#define NGX_OLLA_DMR_VAR_MODE       3
#define NGX_OLLA_DMR_VAR_REQUEST_ID 4
#define NGX_OLLA_DMR_VAR_ROUTE      5
#define NGX_OLLA_DMR_VAR_REASON     6


static ngx_http_variable_t  ngx_olla_dmr_vars[] = {

    { ngx_string("olla_endpoint"), NULL, ngx_olla_dmr_variable,
      NGX_OLLA_DMR_VAR_ENDPOINT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_backend_type"), NULL, ngx_olla_dmr_variable,
      NGX_OLLA_DMR_VAR_TYPE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_model"), NULL, ngx_olla_dmr_variable,
      NGX_OLLA_DMR_VAR_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_mode"), NULL, ngx_olla_dmr_variable,
      NGX_OLLA_DMR_VAR_MODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_request_id"), NULL, ngx_olla_dmr_variable,
      NGX_OLLA_DMR_VAR_REQUEST_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_route"), NULL, ngx_olla_dmr_variable,
      NGX_OLLA_DMR_VAR_ROUTE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_route_reason"), NULL, ngx_olla_dmr_variable,
      NGX_OLLA_DMR_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_olla_dmr_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_olla_dmr_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_olla_dmr_body_filter;

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_olla_dmr_request_body_filter;

    return NGX_OK;
}


/*
 * The request body's pieces, decoded (chunked or not), on their way to
 * memory or the temp file: each one through the scanner while it is
 * still in the CPU's caches.  The scan stops at the first error (what
 * follows cannot mend it); a piece not in memory (none is, before the
 * save filter) leaves the scan to route.c, from the start.
 */

static ngx_int_t
ngx_olla_dmr_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                n;
    ngx_buf_t            *b;
    ngx_chain_t          *cl;
    ngx_olla_dmr_ctx_t   *ctx;
    ngx_olla_dmr_scan_t  *bs;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx == NULL || ctx->live == NULL || !ctx->live->live) {
        return ngx_http_next_request_body_filter(r, in);
    }

    bs = ctx->live;

    for (cl = in; cl && !bs->last && !bs->lost; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b)) {
            if (ngx_buf_size(b)) {
                bs->lost = 1;
                break;
            }

            n = 0;

        } else {
            n = b->last - b->pos;
        }

        if (n) {
            bs->fed += n;

            if (!bs->failed
                && olla_json_scan_feed(&bs->scan, (char *) b->pos, n)
                   != OLLA_JSON_OK)
            {
                bs->failed = 1;
            }
        }

        if (b->last_buf) {
            bs->last = 1;
        }
    }

    return ngx_http_next_request_body_filter(r, in);
}


ngx_int_t
ngx_olla_dmr_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_olla_dmr_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_header_filter(ngx_http_request_t *r)
{
    u_char               *p, *last;
    size_t                len;
    ngx_msec_t            n;
    ngx_msec_int_t        ms;
    ngx_olla_dmr_ctx_t   *ctx;
    u_char                buf[NGX_OLLA_DMR_HEADER_MODEL];

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx == NULL && r->err_status && r == r->main) {
        /*
         * an error nginx raised before the route ran (a body over
         * client_max_body_size is refused while the location is found)
         */
        ctx = ngx_olla_dmr_error_ctx(r);
    }

    if (ctx == NULL || r != r->main || ctx->headers_done) {
        return ngx_http_next_header_filter(r);
    }

    ctx->headers_done = 1;

    if (r->upstream) {
        ngx_olla_dmr_drop_backend_headers(r);
    }

    if (r->headers_out.status < 200 || r->headers_out.status >= 300
        || r->err_status || ctx->local || ctx->ep == NULL)
    {
        ctx->learn_rid = 0;

    } else if (ctx->rid_by_path && r->method == NGX_HTTP_DELETE) {
        /* a response deleted: its id leads nowhere now */
        ngx_olla_dmr_rid_delete(ngx_http_get_module_main_conf(r,
                                                    ngx_olla_dmr_module),
                                ctx->rid_hash);
    }

    if (r->upstream && ctx->ep && !ctx->local) {
        /* the answer's counts, read from the backend's own bytes */
        ngx_olla_dmr_stats_start(r, ctx);

        if (ctx->usage && ctx->upstream_finalize == NULL) {
            /* how the answer ends: the upstream's own finalization */
            ctx->upstream_finalize = r->upstream->finalize_request;
            r->upstream->finalize_request = ngx_olla_dmr_upstream_finalize;
        }
    }

    if (r->err_status && !ctx->local) {
        /* nginx's own error (502, 504, 413...): JSON in the route's shape */

        if (ngx_olla_dmr_setup_error(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ctx->xlat && ctx->mode == NGX_OLLA_DMR_MODE_TRANSLATION
               && r->upstream && !ctx->local)
    {
        if (ngx_olla_dmr_setup_translation(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ctx->kind == OLLA_ROUTE_ANTHROPIC
               && ctx->mode == NGX_OLLA_DMR_MODE_PASSTHROUGH
               && r->upstream && !ctx->local
               && r->headers_out.status >= NGX_HTTP_BAD_REQUEST)
    {
        /*
         * a native Messages API's error: kept when it is in the API's
         * shape; llama-server's OpenAI-shaped errors (and a prompt over
         * the context, in Anthropic's words) made the API's own
         */
        ctx->xlat = olla_xlat_get(OLLA_XLAT_ANTHROPIC);

        if (ngx_olla_dmr_setup_translation(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (r->upstream && r->upstream->buffering && ngx_olla_dmr_is_sse(r)) {
        /* tokens reach the client as they come, whatever the location */
        r->upstream->buffering = 0;
    }

    if (ngx_olla_dmr_add_header(r, "X-Olla-Request-ID",
                                ctx->request_id.data, ctx->request_id.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_olla_dmr_cors_headers(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->ep && !ctx->local) {
        if (ngx_olla_dmr_add_header(r, "X-Olla-Endpoint",
                                    ctx->ep->name.data, ctx->ep->name.len)
            != NGX_OK
            || ngx_olla_dmr_add_header(r, "X-Olla-Backend-Type",
                                       ctx->ep->type.data,
                                       ctx->ep->type.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        ms = (ngx_msec_int_t) (ngx_current_msec - ctx->start);

        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 2);
        if (p == NULL) {
            return NGX_ERROR;
        }

        /* "%Mms", the digits from the end of the room back */

        last = p + NGX_INT_T_LEN;
        last[0] = 'm';
        last[1] = 's';

        n = (ngx_msec_t) ngx_max(ms, 0);

        do {
            *--last = (u_char) ('0' + n % 10);
            n /= 10;
        } while (n);

        len = p + NGX_INT_T_LEN + 2 - last;

        if (ngx_olla_dmr_add_header(r, "X-Olla-Response-Time", last, len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ctx->model.len) {

        /* visible ASCII that fits is its own header value, as it is */

        for (len = 0; len < ctx->model.len && len + 1 < sizeof(buf); len++) {
            if (ctx->model.data[len] < 0x21 || ctx->model.data[len] > 0x7e) {
                break;
            }
        }

        if (len == ctx->model.len) {
            p = ctx->model.data;

        } else {
            len = olla_header_value((char *) ctx->model.data, ctx->model.len,
                                    (char *) buf, sizeof(buf));
            p = NULL;
        }

        if (len) {
            if (p == NULL) {
                p = ngx_pnalloc(r->pool, len);
                if (p == NULL) {
                    return NGX_ERROR;
                }

                ngx_memcpy(p, buf, len);
            }

            if (ngx_olla_dmr_add_header(r, "X-Olla-Model", p, len)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (ctx->mode != NGX_OLLA_DMR_MODE_NONE
        && (!ctx->local || ctx->kind == OLLA_ROUTE_ANTHROPIC))
    {
        if (ctx->mode == NGX_OLLA_DMR_MODE_PASSTHROUGH) {
            p = (u_char *) "passthrough";

        } else {
            p = (u_char *) "translation";
        }

        if (ngx_olla_dmr_add_header(r, "X-Olla-Mode", p, ngx_strlen(p))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ctx->body_job == NGX_OLLA_DMR_BODY_JSON
        || ctx->body_job == NGX_OLLA_DMR_BODY_ERROR)
    {
        /* the header goes out with the translated body */
        return NGX_OK;
    }

    return ngx_http_next_header_filter(r);
}


/* a backend cannot speak for the gateway */

static void
ngx_olla_dmr_drop_backend_headers(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len >= sizeof("X-Olla-") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Olla-",
                                   sizeof("X-Olla-") - 1)
                   == 0)
            {
                h[i].hash = 0;
            }
        }
    }
}


/*
 * nginx's own error, in the route's shape: the type follows the status
 * (401 authentication_error, 403 permission_error, 429 rate_limit_error,
 * ...); a refusal by limit_req or limit_conn is a rate_limit_error
 * whatever status they were told to use, and limit_req's carries
 * Retry-After: the time its zone's rate allows one more request in (a
 * limit_conn slot frees when another request ends: nobody knows when).
 */

static ngx_int_t
ngx_olla_dmr_setup_error(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    u_char            *body, *p;
    size_t             len, msg_len;
    ngx_str_t          kmsg;
    ngx_uint_t         retry;
    olla_err_t         tmp;
    const olla_err_t  *e;
    u_char             msg[256];

    e = olla_err_for_status((int) r->err_status, &tmp);
    msg_len = 0;
    retry = 0;

    if (ctx->key_refused && r->err_status == NGX_HTTP_UNAUTHORIZED) {
        /* olla_api_keys refused it */
        e = ngx_olla_dmr_keys_error(ctx, &kmsg);

        msg_len = ngx_min(kmsg.len, sizeof(msg));
        ngx_memcpy(msg, kmsg.data, msg_len);
    }

#if (nginx_version >= 1017006)

    if (r->main->limit_req_status == NGX_OLLA_DMR_LIMIT_REQ_REJECTED) {
        e = olla_err(OLLA_ERR_RATE_LIMITED);
        retry = ngx_olla_dmr_limit_req_retry(r, ctx->olcf);

        if (retry) {
            p = ngx_snprintf(msg, sizeof(msg),
                             "too many requests: over the gateway's request "
                             "rate limit; retry after %ui s", retry);

        } else {
            p = ngx_snprintf(msg, sizeof(msg),
                             "too many requests: over the gateway's request "
                             "rate limit");
        }

        msg_len = p - msg;

    } else if (r->main->limit_conn_status
               == NGX_OLLA_DMR_LIMIT_CONN_REJECTED)
    {
        e = olla_err(OLLA_ERR_RATE_LIMITED);
        p = ngx_snprintf(msg, sizeof(msg),
                         "too many requests at once: over the gateway's "
                         "limit of concurrent requests; retry when one has "
                         "finished");
        msg_len = p - msg;
    }

#endif

    body = ngx_olla_dmr_error_json(r, ctx, e, msg_len ? msg : NULL, msg_len,
                                   &len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    if (retry) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ngx_olla_dmr_add_header(r, "Retry-After", p,
                                    ngx_sprintf(p, "%ui", retry) - p)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ctx->replace.data = body;
    ctx->replace.len = len;
    ctx->body_job = NGX_OLLA_DMR_BODY_REPLACE;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_setup_translation(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    void                *st;
    ngx_pool_cleanup_t  *cln;

    ctx->backend_status = (int) r->headers_out.status;

    if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST) {
        ctx->body_job = NGX_OLLA_DMR_BODY_ERROR;
        ctx->acc_max = NGX_OLLA_DMR_ERR_BODY_MAX;

    } else if (ngx_olla_dmr_is_sse(r)) {
        st = ctx->xlat->stream_new((char *) ctx->model.data,
                                   ctx->input_tokens,
                                   NGX_OLLA_DMR_SSE_LINE_MAX,
                                   ctx->xlat->max_buffered
                                   ? ctx->xlat->max_buffered
                                   : NGX_OLLA_DMR_SSE_HELD_MAX);
        if (st == NULL) {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            ctx->xlat->stream_free(st);
            return NGX_ERROR;
        }

        cln->handler = ngx_olla_dmr_stream_cleanup;
        cln->data = ctx;

        ctx->stream_state = st;
        ctx->body_job = NGX_OLLA_DMR_BODY_SSE;
        ctx->last_out = &ctx->out;

        if (r->upstream) {
            r->upstream->buffering = 0;
        }

        ngx_str_set(&r->headers_out.content_type, "text/event-stream");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;

    } else {
        ctx->body_job = NGX_OLLA_DMR_BODY_JSON;
        ctx->acc_max = NGX_OLLA_DMR_JSON_BODY_MAX;
    }

    if (ctx->body_job != NGX_OLLA_DMR_BODY_SSE) {
        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    r->headers_out.charset.len = 0;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    r->filter_need_in_memory = 1;

    return NGX_OK;
}


static void
ngx_olla_dmr_stream_cleanup(void *data)
{
    ngx_olla_dmr_ctx_t  *ctx = data;

    ctx->xlat->stream_free(ctx->stream_state);
}


static ngx_int_t
ngx_olla_dmr_is_sse(ngx_http_request_t *r)
{
    ngx_str_t  *ct;

    ct = &r->headers_out.content_type;

    return ct->len >= sizeof("text/event-stream") - 1
           && ngx_strncasecmp(ct->data, (u_char *) "text/event-stream",
                              sizeof("text/event-stream") - 1)
              == 0;
}


static ngx_int_t
ngx_olla_dmr_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx && r == r->main) {
        if (ctx->usage) {
            ngx_olla_dmr_stats_feed(ctx, in);
        }

        if (ctx->learn_rid) {
            ngx_olla_dmr_learn_rid(r, ctx, in);
        }

        if (ctx->usage && ctx->resp_stream) {

            if (ctx->got_byte && !ctx->idle_armed) {
                ngx_olla_dmr_stream_idle(r, ctx);
            }

            if (ctx->body_job == NGX_OLLA_DMR_BODY_PASS && !ctx->end_done) {
                in = ngx_olla_dmr_stream_end(r, ctx, in);

                if (in == NGX_CHAIN_ERROR) {
                    return NGX_ERROR;
                }
            }
        }
    }

    if (ctx == NULL || ctx->body_job == NGX_OLLA_DMR_BODY_PASS
        || r != r->main)
    {
        return ngx_http_next_body_filter(r, in);
    }

    switch (ctx->body_job) {

    case NGX_OLLA_DMR_BODY_REPLACE:
        return ngx_olla_dmr_body_replace(r, ctx, in);

    case NGX_OLLA_DMR_BODY_SSE:
        return ngx_olla_dmr_body_sse(r, ctx, in);

    default: /* NGX_OLLA_DMR_BODY_JSON, NGX_OLLA_DMR_BODY_ERROR */
        return ngx_olla_dmr_body_collect(r, ctx, in);
    }
}


static ngx_int_t
ngx_olla_dmr_body_replace(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_uint_t    last;
    ngx_chain_t   out;

    last = 0;

    for ( /* void */ ; in; in = in->next) {
        in->buf->pos = in->buf->last;

        if (in->buf->file) {
            in->buf->file_pos = in->buf->file_last;
        }

        if (in->buf->last_buf) {
            last = 1;
        }
    }

    if (!last || ctx->sent_last) {
        return NGX_OK;
    }

    ctx->sent_last = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->replace.data;
    b->last = ctx->replace.data + ctx->replace.len;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* non-streaming translation: the whole backend body, then one answer */

static ngx_int_t
ngx_olla_dmr_body_collect(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_chain_t *in)
{
    char          err[512];
    char         *out;
    size_t        size, outlen, cap;
    ngx_int_t     rc;
    ngx_buf_t    *b, *nb;
    ngx_uint_t    last, status;
    ngx_chain_t   cl;

    last = 0;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;
        size = b->last - b->pos;

        if (size && !ctx->sent_last) {
            if (ctx->acc == NULL
                || (size_t) (ctx->acc->end - ctx->acc->last) < size)
            {
                cap = ctx->acc ? (size_t) (ctx->acc->end - ctx->acc->start)
                               : 16384;

                while (cap - (ctx->acc ? (size_t) (ctx->acc->last
                                                   - ctx->acc->start)
                                       : 0)
                       < size)
                {
                    cap *= 2;
                }

                if (cap > ctx->acc_max) {
                    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                                  "olla: backend response larger than %uz "
                                  "bytes, cannot translate it",
                                  ctx->acc_max);
                    return NGX_ERROR;
                }

                nb = ngx_create_temp_buf(r->pool, cap);
                if (nb == NULL) {
                    return NGX_ERROR;
                }

                if (ctx->acc) {
                    nb->last = ngx_cpymem(nb->last, ctx->acc->pos,
                                          ctx->acc->last - ctx->acc->pos);
                    ngx_pfree(r->pool, ctx->acc->start);
                }

                ctx->acc = nb;
            }

            ctx->acc->last = ngx_cpymem(ctx->acc->last, b->pos, size);
        }

        b->pos = b->last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last || ctx->sent_last) {
        return NGX_OK;
    }

    ctx->sent_last = 1;

    status = ctx->backend_status;

    if (ctx->body_job == NGX_OLLA_DMR_BODY_ERROR) {
        out = ctx->xlat->backend_error(ctx->backend_status,
                                    ctx->acc ? (char *) ctx->acc->pos : "",
                                    ctx->acc ? (size_t) (ctx->acc->last
                                                         - ctx->acc->pos)
                                             : 0,
                                    (char *) ctx->request_id.data,
                                    &outlen);
        if (out == NULL) {
            return NGX_ERROR;
        }

    } else if (ctx->xlat->response(
                   ctx->acc ? (char *) ctx->acc->pos : "",
                   ctx->acc ? (size_t) (ctx->acc->last - ctx->acc->pos) : 0,
                   ctx->model.len ? (char *) ctx->model.data : NULL,
                   &out, &outlen, err, sizeof(err))
               != 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "olla: endpoint \"%V\" sent a response that cannot be "
                      "translated: %s", &ctx->ep->name, err);

        status = NGX_HTTP_BAD_GATEWAY;
        out = ctx->xlat->error(NGX_HTTP_BAD_GATEWAY, err,
                               (char *) ctx->request_id.data, &outlen);
        if (out == NULL) {
            return NGX_ERROR;
        }
    }

    b = ngx_create_temp_buf(r->pool, outlen ? outlen : 1);
    if (b == NULL) {
        free(out);
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, out, outlen);
    b->last_buf = 1;
    free(out);

    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = outlen;

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    cl.buf = b;
    cl.next = NULL;

    return ngx_http_next_body_filter(r, &cl);
}


/*
 * streaming translation: events go out as soon as they are complete.
 * Upstream buffers are consumed only while the client keeps up: with more
 * than NGX_OLLA_DMR_BUSY_MAX bytes of our output unsent, input waits in
 * ctx->in, unconsumed, so nginx stops reading the backend (its buffer is
 * not freed) until the client drains - memory stays bounded.
 */

static ngx_int_t
ngx_olla_dmr_body_sse(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_chain_t *in)
{
    int           rc;
    ngx_int_t     frc;
    ngx_buf_t    *b;
    ngx_uint_t    last, flush;
    ngx_chain_t  *cl, **ll;

    /* queue the new input */

    for (ll = &ctx->in; *ll; ll = &(*ll)->next) { /* void */ }

    for ( /* void */ ; in; in = in->next) {
        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = in->buf;
        cl->next = NULL;
        *ll = cl;
        ll = &cl->next;
    }

    frc = NGX_OK;

    for ( ;; ) {
        last = 0;
        flush = 0;

        while (ctx->in && ctx->busy_size < NGX_OLLA_DMR_BUSY_MAX) {
            cl = ctx->in;
            b = cl->buf;

            if (!ctx->sent_last && b->last > b->pos) {
                rc = ctx->xlat->stream_feed(ctx->stream_state,
                                           (char *) b->pos, b->last - b->pos,
                                           ngx_olla_dmr_emit, r);
                if (rc < 0 || ctx->emit_failed) {
                    return NGX_ERROR;
                }

                if (rc == 1) {
                    /* message_stop or an error event: the answer is done */
                    last = 1;
                }
            }

            b->pos = b->last;

            if (b->flush) {
                flush = 1;
            }

            if (b->last_buf) {
                last = 1;
            }

            ctx->in = cl->next;
            ngx_free_chain(r->pool, cl);

            if (ctx->out && ctx->cur && ctx->cur->last - ctx->cur->pos
                                        >= NGX_OLLA_DMR_OUT_SIZE / 2)
            {
                break;
            }
        }

        /*
         * the upstream connection is gone without an end of body: nginx
         * only flushes after a cut, so the stream ends here, with an error
         * event when the backend never finished its answer
         */

        if (!last && flush && ctx->in == NULL && r->upstream
            && r->upstream->peer.connection == NULL && !ctx->sent_last)
        {
            last = 1;
        }

        if (last && !ctx->sent_last) {
            if (ctx->xlat->stream_finish(ctx->stream_state,
                                         ngx_olla_dmr_emit, r)
                < 0
                || ctx->emit_failed)
            {
                return NGX_ERROR;
            }
        }

        frc = ngx_olla_dmr_flush_out(r, ctx, last);

        if (frc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (ctx->in == NULL || ctx->busy_size >= NGX_OLLA_DMR_BUSY_MAX) {
            break;
        }
    }

    if (ctx->in) {
        r->buffered |= NGX_OLLA_DMR_BUFFERED;

    } else {
        r->buffered &= ~NGX_OLLA_DMR_BUFFERED;
    }

    return frc;
}


static int
ngx_olla_dmr_emit(void *data, const char *p, size_t len)
{
    ngx_http_request_t  *r = data;

    size_t               n;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    while (len) {
        b = ctx->cur;

        if (b == NULL || b->last == b->end) {
            cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
            if (cl == NULL) {
                ctx->emit_failed = 1;
                return -1;
            }

            b = cl->buf;

            if (b->start == NULL) {
                b->start = ngx_palloc(r->pool, NGX_OLLA_DMR_OUT_SIZE);
                if (b->start == NULL) {
                    ctx->emit_failed = 1;
                    return -1;
                }

                b->end = b->start + NGX_OLLA_DMR_OUT_SIZE;
            }

            b->pos = b->start;
            b->last = b->start;
            b->temporary = 1;
            b->tag = (ngx_buf_tag_t) &ngx_olla_dmr_module;
            b->flush = 0;
            b->last_buf = 0;

            *ctx->last_out = cl;
            ctx->last_out = &cl->next;
            ctx->cur = b;
        }

        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, p, n);
        p += n;
        len -= n;
    }

    return 0;
}


static ngx_int_t
ngx_olla_dmr_flush_out(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t last)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (last && !ctx->sent_last) {
        ctx->sent_last = 1;

        if (ctx->cur == NULL) {
            cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            b = cl->buf;
            ngx_memzero(b, sizeof(ngx_buf_t));
            b->tag = (ngx_buf_tag_t) &ngx_olla_dmr_module;
            b->sync = 1;

            *ctx->last_out = cl;
            ctx->last_out = &cl->next;
            ctx->cur = b;
        }

        ctx->cur->last_buf = 1;
    }

    if (ctx->cur) {
        ctx->cur->flush = 1;
    }

    if (ctx->out == NULL && !r->connection->buffered) {
        return NGX_OK;
    }

    *ctx->last_out = NULL;

    rc = ngx_http_next_body_filter(r, ctx->out);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &ctx->out,
                            (ngx_buf_tag_t) &ngx_olla_dmr_module);

    ctx->busy_size = 0;

    for (cl = ctx->busy; cl; cl = cl->next) {
        ctx->busy_size += ngx_buf_size(cl->buf);
    }

    ctx->out = NULL;
    ctx->last_out = &ctx->out;
    ctx->cur = NULL;

    return rc;
}


static ngx_int_t
ngx_olla_dmr_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char              *p;
    size_t               len;
    ngx_str_t            s;
    ngx_olla_dmr_ctx_t  *ctx;
    u_char               buf[NGX_OLLA_DMR_HEADER_MODEL];

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_str_null(&s);

    switch (data) {

    case NGX_OLLA_DMR_VAR_ENDPOINT:
        if (ctx->ep) {
            s = ctx->ep->name;
        }
        break;

    case NGX_OLLA_DMR_VAR_TYPE:
        if (ctx->ep) {
            s = ctx->ep->type;
        }
        break;

    case NGX_OLLA_DMR_VAR_MODEL:
        if (ctx->model.len) {
            len = olla_header_value((char *) ctx->model.data, ctx->model.len,
                                    (char *) buf, sizeof(buf));
            p = ngx_pnalloc(r->pool, len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(p, buf, len);
            s.data = p;
            s.len = len;
        }
        break;

    case NGX_OLLA_DMR_VAR_MODE:
        if (ctx->mode == NGX_OLLA_DMR_MODE_PASSTHROUGH) {
            ngx_str_set(&s, "passthrough");

        } else if (ctx->mode == NGX_OLLA_DMR_MODE_TRANSLATION) {
            ngx_str_set(&s, "translation");
        }
        break;

    case NGX_OLLA_DMR_VAR_REQUEST_ID:
        s = ctx->request_id;
        break;

    case NGX_OLLA_DMR_VAR_REASON:
        if (ctx->reason != OLLA_REASON_NONE) {
            s.data = (u_char *) olla_pick_reason_name(ctx->reason);
            s.len = ngx_strlen(s.data);
        }
        break;

    default: /* NGX_OLLA_DMR_VAR_ROUTE */
        s = ctx->route_name;
        break;
    }

    if (s.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s.data;

    return NGX_OK;
}


/*
 * A new response's id, from the head of the answer on its way (a JSON
 * response's "id", or the response in response.created, the stream's
 * first event): the endpoint that made it is remembered in the zone.
 * The buffers pass on untouched.
 */

static void
ngx_olla_dmr_learn_rid(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_chain_t *in)
{
    u_char     *p, *last, *q, *id;
    size_t      n;
    ngx_buf_t  *h;

    h = ctx->rid_head;

    if (h == NULL) {
        h = ngx_create_temp_buf(r->pool, NGX_OLLA_DMR_RID_HEAD);
        if (h == NULL) {
            ctx->learn_rid = 0;
            return;
        }

        ctx->rid_head = h;
    }

    for ( /* void */ ; in; in = in->next) {
        if (in->buf->in_file || ngx_buf_special(in->buf)) {
            continue;
        }

        n = ngx_min((size_t) (in->buf->last - in->buf->pos),
                    (size_t) (h->end - h->last));
        h->last = ngx_cpymem(h->last, in->buf->pos, n);
    }

    /* "id" as a name, then ':', then the string */

    last = h->last;

    for (p = h->pos; p + 4 < last; p++) {
        p = ngx_strlchr(p, last, '"');
        if (p == NULL || last - p < 4) {
            break;
        }

        if (ngx_strncmp(p, "\"id\"", 4) != 0) {
            continue;
        }

        q = p + 4;

        while (q < last && (*q == ' ' || *q == '\t' || *q == '\r'
                            || *q == '\n'))
        {
            q++;
        }

        if (q == last) {
            break;                      /* more to come */
        }

        if (*q != ':') {
            continue;
        }

        for (q++; q < last && (*q == ' ' || *q == '\t'); q++) {
            /* void */
        }

        if (q == last) {
            break;
        }

        if (*q != '"') {
            continue;
        }

        id = ++q;

        while (q < last && *q != '"' && *q != '\\' && q - id <= 128) {
            q++;
        }

        if (q == last) {
            break;
        }

        ctx->learn_rid = 0;

        if (*q != '"' || q == id) {
            return;
        }

        /* for a stream's last event (response.failed) */

        ctx->resp_id.data = ngx_pnalloc(r->pool, q - id);
        if (ctx->resp_id.data) {
            ctx->resp_id.len = q - id;
            ngx_memcpy(ctx->resp_id.data, id, q - id);
        }

        ngx_olla_dmr_rid_set(ngx_http_get_module_main_conf(r,
                                                     ngx_olla_dmr_module),
                             olla_pick_hash(OLLA_PICK_HASH_INIT, id, q - id)
                             | 1,
                             ctx->ep->id);
        return;
    }

    if (h->last == h->end) {
        /* not in the head: not a response this gateway can pin */
        ctx->learn_rid = 0;
    }
}


/*
 * The upstream's finalize_request (the proxy module's), wrapped: nginx
 * calls it once, with the reason, before it closes the upstream
 * connection.  A read timeout shows on that connection's read event.
 */

static void
ngx_olla_dmr_upstream_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx == NULL || ctx->upstream_finalize == NULL) {
        /* the ctx went (an internal redirect): the proxy's only logs */
        return;
    }

    ctx->upstream_done = 1;
    ctx->upstream_rc = rc;

    c = r->upstream ? r->upstream->peer.connection : NULL;

    if (c && c->read->timedout) {
        ctx->upstream_timedout = 1;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "olla: upstream finalized: %i, timed out: %ui", rc,
                   (ngx_uint_t) ctx->upstream_timedout);

    ctx->upstream_finalize(r, rc);
}


/*
 * The stream began: from now on a silence longer than the stream idle
 * timeout (olla_stream_idle_timeout, else the endpoint's profile) is a
 * failure.  It becomes the upstream read timeout, on a copy of the
 * request's upstream configuration, when it is the shorter.
 */

static void
ngx_olla_dmr_stream_idle(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_msec_t                 t;
    ngx_http_upstream_t       *u;
    ngx_olla_dmr_loc_conf_t   *olcf;
    ngx_http_upstream_conf_t  *conf;

    ctx->idle_armed = 1;

    u = r->upstream;

    if (u == NULL || ctx->ep == NULL || ctx->upstream_done) {
        return;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

    t = olcf->stream_idle_timeout;

    if (t == NGX_CONF_UNSET_MSEC) {
        t = (ngx_msec_t) ctx->ep->profile->stream_idle_timeout_ms;
    }

    if (t == 0 || t >= u->conf->read_timeout) {
        return;
    }

    conf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
    if (conf == NULL) {
        return;
    }

    ngx_memcpy(conf, u->conf, sizeof(ngx_http_upstream_conf_t));
    conf->read_timeout = t;
    u->conf = conf;

    if (u->pipe) {
        /* proxy_buffering on: the pipe keeps its own copy */
        u->pipe->read_timeout = t;
    }

    ctx->idle_timeout = t;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "olla: stream idle timeout %M", t);
}


/*
 * A passed-through stream, at its end: the last buffer (the upstream
 * ended it cleanly), or the flush nginx sends after an upstream error.
 * Without the stream's end marker (and without an error event of the
 * backend's own) an error event goes out first.  The caller's chain is
 * not changed: a new one is returned, or NGX_CHAIN_ERROR.
 */

static ngx_chain_t *
ngx_olla_dmr_stream_end(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_chain_t *in)
{
    u_char        *p;
    u_char         got[2];
    ngx_buf_t     *b;
    ngx_uint_t     n;
    ngx_chain_t   *cl, *ev, *out, **ll;
    ngx_chain_t   *last;

    last = NULL;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = cl;
        }

        if (!ngx_buf_in_memory(b)) {
            continue;
        }

        /* the stream's last two bytes (CR aside): where the event starts */

        n = 0;

        for (p = b->last; p > b->pos && n < 2; /* void */) {
            p--;

            if (*p != CR) {
                got[n++] = *p;
            }
        }

        if (n == 2) {
            ctx->tail[0] = got[1];
            ctx->tail[1] = got[0];
            ctx->tail_len = 2;

        } else if (n == 1) {
            ctx->tail[0] = ctx->tail[1];
            ctx->tail[1] = got[0];
            ctx->tail_len = ctx->tail_len ? 2 : 1;
        }
    }

    if (last == NULL && !ctx->upstream_done) {
        return in;
    }

    /* the upstream ended: with an error, nginx only flushes from here */

    ctx->end_done = 1;

    if (ctx->usage->done || ctx->usage->failed || r->header_only
        || r->connection->error
        || (ctx->upstream_done
            && (ctx->upstream_rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
                || ctx->upstream_rc == NGX_HTTP_REQUEST_TIME_OUT)))
    {
        return in;
    }

    if (last && !ctx->upstream_timedout) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "olla: endpoint \"%V\" ended a stream without its "
                      "end marker; an error event ends it", &ctx->ep->name);
    }

    b = ngx_olla_dmr_stream_event(r, ctx);
    if (b == NULL) {
        return NGX_CHAIN_ERROR;
    }

    ev = ngx_alloc_chain_link(r->pool);
    if (ev == NULL) {
        return NGX_CHAIN_ERROR;
    }

    ev->buf = b;
    ev->next = NULL;

    /* the event before the last buffer (after it, when it holds data) */

    out = NULL;
    ll = &out;

    if (last == NULL) {
        *ll = ev;
        ll = &ev->next;
    }

    for (cl = in; cl; cl = cl->next) {

        if (cl == last && ngx_buf_size(cl->buf) == 0) {
            *ll = ev;
            ll = &ev->next;
        }

        *ll = ngx_alloc_chain_link(r->pool);
        if (*ll == NULL) {
            return NGX_CHAIN_ERROR;
        }

        (*ll)->buf = cl->buf;
        (*ll)->next = NULL;
        ll = &(*ll)->next;

        if (cl == last && ngx_buf_size(cl->buf)) {
            cl->buf->last_buf = 0;
            b->last_buf = 1;
            *ll = ev;
            ll = &ev->next;
        }
    }

    return out;
}


/* the error event for the stream's end, in the request pool */

static ngx_buf_t *
ngx_olla_dmr_stream_event(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    char                *ev;
    u_char              *p, *last;
    size_t               len;
    ngx_buf_t           *b;
    ngx_uint_t           nl;
    olla_err_e           err;
    ngx_msec_t           t;
    olla_stream_e        shape;
    olla_stream_info_t   info;
    u_char               msg[512];

    last = msg + sizeof(msg);

    if (ctx->upstream_timedout) {
        err = OLLA_ERR_STREAM_IDLE;

        t = ctx->idle_timeout ? ctx->idle_timeout
                              : (r->upstream ? r->upstream->conf->read_timeout
                                             : 0);

        p = ngx_slprintf(msg, last, "endpoint \"%V\" sent nothing for ",
                         &ctx->ep->name);
        p = ngx_olla_dmr_duration(p, last, t);
        p = ngx_slprintf(p, last, " (the %s timeout): the response is "
                         "incomplete",
                         ctx->idle_timeout ? "stream idle" : "read");

    } else {
        err = OLLA_ERR_STREAM_CUT;

        p = ngx_slprintf(msg, last, "endpoint \"%V\" ended the stream "
                         "before the response was complete",
                         &ctx->ep->name);
    }

    ngx_memzero(&info, sizeof(olla_stream_info_t));

    info.request_id = (char *) ctx->request_id.data;
    info.request_id_len = ctx->request_id.len;
    info.response_id = (char *) ctx->resp_id.data;
    info.response_id_len = ctx->resp_id.len;
    info.model = ctx->model.len ? (char *) ctx->model.data : NULL;
    info.model_len = ctx->model.len;
    info.sequence = ctx->usage->seq;
    info.created_at = ngx_time();

    shape = ngx_olla_dmr_stream_shape(r, ctx);

    ev = olla_err_stream(shape, olla_err(err), (char *) msg, p - msg, &info,
                         &len);
    if (ev == NULL) {
        return NULL;
    }

    /*
     * a stream cut within a line or an event: the line and the event end
     * first, so that the error event is one of its own
     */

    nl = 0;

    if (ctx->tail_len && ctx->tail[1] != LF) {
        nl = (shape == OLLA_STREAM_NDJSON) ? 1 : 2;

    } else if (ctx->tail_len && shape != OLLA_STREAM_NDJSON
               && (ctx->tail_len < 2 || ctx->tail[0] != LF))
    {
        nl = 1;
    }

    b = ngx_create_temp_buf(r->pool, nl + len);
    if (b == NULL) {
        free(ev);
        return NULL;
    }

    while (nl--) {
        *b->last++ = LF;
    }

    b->last = ngx_cpymem(b->last, ev, len);
    b->flush = 1;

    free(ev);

    return b;
}


/* the API a passed-through stream speaks */

static olla_stream_e
ngx_olla_dmr_stream_shape(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_str_t  *path;

    if (!ngx_olla_dmr_is_sse(r)) {
        /* NDJSON: Ollama's native API */
        return OLLA_STREAM_NDJSON;
    }

    if (ctx->kind == OLLA_ROUTE_ANTHROPIC) {
        return OLLA_STREAM_ANTHROPIC;
    }

    /* the path on the endpoint, or as the client sent it */

    path = ctx->path.len ? &ctx->path : &r->uri;

    if (ngx_strlcasestrn(path->data, path->data + path->len,
                         (u_char *) "/responses", sizeof("/responses") - 2)
        != NULL)
    {
        return OLLA_STREAM_RESPONSES;
    }

    if (path->len >= sizeof("/messages") - 1
        && ngx_strncmp(path->data + path->len - (sizeof("/messages") - 1),
                       "/messages", sizeof("/messages") - 1)
           == 0)
    {
        return OLLA_STREAM_ANTHROPIC;
    }

    return OLLA_STREAM_OPENAI;
}


/* "2m", "30s", "1500ms" */

static u_char *
ngx_olla_dmr_duration(u_char *p, u_char *last, ngx_msec_t ms)
{
    if (ms >= 60000 && ms % 60000 == 0) {
        return ngx_slprintf(p, last, "%Mm", ms / 60000);
    }

    if (ms >= 1000 && ms % 1000 == 0) {
        return ngx_slprintf(p, last, "%Ms", ms / 1000);
    }

    return ngx_slprintf(p, last, "%Mms", ms);
}


/* olla_stream_idle_timeout TIME | off */

char *
ngx_olla_dmr_stream_idle_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_olla_dmr_loc_conf_t  *olcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   t;

    if (olcf->stream_idle_timeout != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3
        && ngx_strncasecmp(value[1].data, (u_char *) "off", 3) == 0)
    {
        olcf->stream_idle_timeout = 0;
        return NGX_CONF_OK;
    }

    t = ngx_parse_time(&value[1], 0);

    if (t == (ngx_msec_t) NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"olla_stream_idle_timeout\": invalid value "
                           "\"%V\": a time such as 30s or 2m, or off",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (t < 1000 || t > 24 * 3600 * 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"olla_stream_idle_timeout\" must be between "
                           "1s and 24h (or off), not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    olcf->stream_idle_timeout = t;

    return NGX_CONF_OK;
}
