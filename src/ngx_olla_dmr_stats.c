
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * What the answers said: the tokens, the time to the first token and how
 * a stream ended, read from a backend's answer as it passes the body
 * filter (olla_usage: no buffering, no parse), settled once per request
 * and counted in the zone per endpoint and model when the request is
 * logged.  The variables $olla_prompt_tokens, $olla_completion_tokens,
 * $olla_cached_tokens, $olla_ttft, $olla_tokens_per_second and
 * $olla_stream_end, and the Prometheus series of the counts.
 */


#include "ngx_olla_dmr.h"

#include <jansson.h>
#include <math.h>


static ngx_int_t ngx_olla_dmr_stats_log(ngx_http_request_t *r);
static void ngx_olla_dmr_stats_settle(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
static ngx_olla_dmr_mstat_t *ngx_olla_dmr_stats_slot(
    ngx_olla_dmr_main_conf_t *omcf, ngx_olla_dmr_ep_sh_t *sh,
    uint64_t hash, ngx_str_t *name);
static void ngx_olla_dmr_stats_observe(ngx_atomic_t *buckets,
    ngx_atomic_t *sum, ngx_msec_t ms);
static void ngx_olla_dmr_stats_client(ngx_olla_dmr_mstat_t *m,
    ngx_str_t *addr);
static void ngx_olla_dmr_stats_key(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t cls);
static u_char *ngx_olla_dmr_stats_prom_keys(u_char *p,
    ngx_olla_dmr_main_conf_t *omcf);
static ngx_int_t ngx_olla_dmr_stats_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* the histograms' upper bounds, milliseconds; +Inf after the last */
const ngx_msec_t  ngx_olla_dmr_stats_bounds[NGX_OLLA_DMR_STAT_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000
};

static const char  *ngx_olla_dmr_stats_le[NGX_OLLA_DMR_STAT_BUCKETS] = {
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60",
    "120", "300"
};

static const char  *ngx_olla_dmr_stream_ends[] = {
    "-", "complete", "backend_cut", "client_cut", "idle_timeout"
};

static const char  *ngx_olla_dmr_classes[] = { "2xx", "3xx", "4xx", "5xx" };

static const char  *ngx_olla_dmr_kinds[] = { "prompt", "completion", "cached" };


#define NGX_OLLA_DMR_SV_PROMPT      0
#define NGX_OLLA_DMR_SV_COMPLETION  1
#define NGX_OLLA_DMR_SV_CACHED      2
#define NGX_OLLA_DMR_SV_TTFT        3
#define NGX_OLLA_DMR_SV_TPS         4
#define NGX_OLLA_DMR_SV_END         5


static ngx_http_variable_t  ngx_olla_dmr_stats_vars[] = {

    { ngx_string("olla_prompt_tokens"), NULL, ngx_olla_dmr_stats_variable,
      NGX_OLLA_DMR_SV_PROMPT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_completion_tokens"), NULL,
      ngx_olla_dmr_stats_variable, NGX_OLLA_DMR_SV_COMPLETION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_cached_tokens"), NULL, ngx_olla_dmr_stats_variable,
      NGX_OLLA_DMR_SV_CACHED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_ttft"), NULL, ngx_olla_dmr_stats_variable,
      NGX_OLLA_DMR_SV_TTFT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_tokens_per_second"), NULL,
      ngx_olla_dmr_stats_variable, NGX_OLLA_DMR_SV_TPS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("olla_stream_end"), NULL, ngx_olla_dmr_stats_variable,
      NGX_OLLA_DMR_SV_END, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_olla_dmr_stats_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_olla_dmr_stats_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* the log phase counts each request of an Olla route once */

ngx_int_t
ngx_olla_dmr_stats_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_olla_dmr_stats_log;

    return NGX_OK;
}


/*
 * The header filter, for an endpoint's answer: a 2xx answer's bytes are
 * read for their counts; a stream is an event stream or NDJSON
 */

void
ngx_olla_dmr_stats_start(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_str_t  *ct;

    if (r->headers_out.status < 200 || r->headers_out.status >= 300
        || r->err_status || r->header_only)
    {
        return;
    }

    ct = &r->headers_out.content_type;

    if ((ct->len >= sizeof("text/event-stream") - 1
         && ngx_strncasecmp(ct->data, (u_char *) "text/event-stream",
                            sizeof("text/event-stream") - 1)
            == 0)
        || (ct->len >= sizeof("application/x-ndjson") - 1
            && ngx_strncasecmp(ct->data, (u_char *) "application/x-ndjson",
                               sizeof("application/x-ndjson") - 1)
               == 0))
    {
        ctx->resp_stream = 1;
    }

    ctx->usage = ngx_palloc(r->pool, sizeof(olla_usage_t));
    if (ctx->usage == NULL) {
        /* the counts are lost, the answer is not */
        return;
    }

    olla_usage_init(ctx->usage);
}


/* the body filter, before any translation: the backend's own bytes */

void
ngx_olla_dmr_stats_feed(ngx_olla_dmr_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_buf_t  *b;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            olla_usage_feed(ctx->usage, (char *) b->pos, b->last - b->pos);

            if (!ctx->got_byte) {
                ctx->got_byte = 1;
                ctx->first_byte = ngx_current_msec;
            }

            ctx->last_byte = ngx_current_msec;
        }

        if (b->last_buf) {
            ctx->body_last = 1;
        }
    }
}


/* the request's numbers, once: for the variables and the counters */

static void
ngx_olla_dmr_stats_settle(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx)
{
    ngx_msec_t  end;

    if (ctx->settled) {
        return;
    }

    ctx->settled = 1;

    if (ctx->usage == NULL) {
        return;
    }

    olla_usage_finish(ctx->usage);

    /* the first token of a stream; the whole of any other answer */

    if (ctx->resp_stream) {
        end = ctx->got_byte ? ctx->first_byte : 0;

    } else {
        end = ctx->got_byte ? ctx->last_byte : 0;
    }

    if (end) {
        ctx->ttft = end - ctx->start;
    }

    if (!ctx->resp_stream) {
        ctx->stream_end = NGX_OLLA_DMR_END_NONE;
        return;
    }

    if (ctx->usage->done) {
        ctx->stream_end = NGX_OLLA_DMR_END_COMPLETE;
        return;
    }

    /*
     * How the upstream ended (ngx_olla_dmr_filter.c wraps its
     * finalize_request): the client went (a write failed, it closed, it
     * did not read in time), or the upstream read timed out - the stream
     * idle timeout once the stream began, the read timeout before - or
     * the backend closed or reset the connection
     */

    if (r->connection->error
        || r->headers_out.status == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || (ctx->upstream_done
            && (ctx->upstream_rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
                || ctx->upstream_rc == NGX_HTTP_REQUEST_TIME_OUT)))
    {
        ctx->stream_end = NGX_OLLA_DMR_END_CLIENT;
        return;
    }

    if (ctx->upstream_timedout) {
        ctx->stream_end = NGX_OLLA_DMR_END_IDLE;
        return;
    }

    ctx->stream_end = NGX_OLLA_DMR_END_BACKEND;
}


static ngx_int_t
ngx_olla_dmr_stats_log(ngx_http_request_t *r)
{
    ngx_str_t                   name;
    ngx_uint_t                  status, cls;
    ngx_msec_t                  ms;
    ngx_atomic_uint_t           old;
    ngx_olla_dmr_ctx_t         *ctx;
    ngx_olla_dmr_mstat_t       *m;
    ngx_olla_dmr_main_conf_t   *omcf;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx == NULL || ctx->ep == NULL || ctx->local || r != r->main
        || ctx->ep->sh == NULL)
    {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    ngx_olla_dmr_stats_settle(r, ctx);

    if (ctx->model_hash) {
        name = ctx->norm;
        m = ngx_olla_dmr_stats_slot(omcf, ctx->ep->sh, ctx->model_hash,
                                    &name);

    } else {
        ngx_str_set(&name, "-");
        m = ngx_olla_dmr_stats_slot(omcf, ctx->ep->sh,
                                    NGX_OLLA_DMR_STAT_NOMODEL, &name);
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    cls = 4;

    if (status >= 200 && status < 600) {
        cls = status / 100 - 2;
        (void) ngx_atomic_fetch_add(&m->requests[cls], 1);
    }

    if (ctx->key_name.len && omcf->sh->keys) {
        ngx_olla_dmr_stats_key(omcf, ctx, cls);
    }

    m->last = ngx_time();

    if (r->connection->sent > 0) {
        (void) ngx_atomic_fetch_add(&m->bytes,
                                    (ngx_atomic_int_t) r->connection->sent);
    }

    ms = ngx_current_msec - ctx->start;
    ngx_olla_dmr_stats_observe(m->duration, &m->duration_ms, ms);

    /* the extremes, +1 so that 0 means none yet */

    for (old = m->min_ms; old == 0 || ms + 1 < old; old = m->min_ms) {
        if (ngx_atomic_cmp_set(&m->min_ms, old, ms + 1)) {
            break;
        }
    }

    for (old = m->max_ms; ms + 1 > old; old = m->max_ms) {
        if (ngx_atomic_cmp_set(&m->max_ms, old, ms + 1)) {
            break;
        }
    }

    ngx_olla_dmr_stats_client(m, &r->connection->addr_text);

    if (ctx->reason != OLLA_REASON_NONE) {
        (void) ngx_atomic_fetch_add(&m->decisions[ctx->reason], 1);
    }

    if (ctx->usage == NULL) {
        return NGX_OK;
    }

    if (ctx->usage->prompt > 0) {
        (void) ngx_atomic_fetch_add(&m->tokens[0],
                                    (ngx_atomic_int_t) ctx->usage->prompt);
    }

    if (ctx->usage->completion > 0) {
        (void) ngx_atomic_fetch_add(&m->tokens[1],
                                    (ngx_atomic_int_t) ctx->usage->completion);
    }

    if (ctx->usage->cached > 0) {
        (void) ngx_atomic_fetch_add(&m->tokens[2],
                                    (ngx_atomic_int_t) ctx->usage->cached);
    }

    if (ctx->got_byte) {
        ngx_olla_dmr_stats_observe(m->ttft, &m->ttft_ms, ctx->ttft);
    }

    if (ctx->resp_stream) {
        (void) ngx_atomic_fetch_add(&m->streams, 1);

        if (ctx->stream_end >= NGX_OLLA_DMR_END_BACKEND) {
            (void) ngx_atomic_fetch_add(
                               &m->cut[ctx->stream_end - NGX_OLLA_DMR_END_BACKEND],
                               1);
        }
    }

    return NGX_OK;
}


static void
ngx_olla_dmr_stats_observe(ngx_atomic_t *buckets, ngx_atomic_t *sum,
    ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_OLLA_DMR_STAT_BUCKETS; i++) {
        if (ms <= ngx_olla_dmr_stats_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&buckets[i], 1);
    (void) ngx_atomic_fetch_add(sum, ms);
}


/*
 * The model's slot at the endpoint: found without the lock (the hash is
 * written last), taken under it; when all are taken, "other"
 */

static ngx_olla_dmr_mstat_t *
ngx_olla_dmr_stats_slot(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_ep_sh_t *sh, uint64_t hash, ngx_str_t *name)
{
    size_t                 len;
    ngx_uint_t             i;
    ngx_olla_dmr_mstat_t  *m, *free;

    if (hash == NGX_OLLA_DMR_STAT_OTHER) {
        hash++;
    }

    for (i = 0; i < NGX_OLLA_DMR_STAT_MODELS; i++) {
        if (sh->mstat[i].hash == hash) {
            return &sh->mstat[i];
        }
    }

    m = &sh->mstat[NGX_OLLA_DMR_STAT_MODELS];

    if (sh->mstat[NGX_OLLA_DMR_STAT_MODELS - 1].hash) {
        /* full: the rest share one slot */
        goto other;
    }

    ngx_olla_dmr_shm_lock(omcf);

    free = NULL;

    for (i = 0; i < NGX_OLLA_DMR_STAT_MODELS; i++) {
        if (sh->mstat[i].hash == hash) {
            ngx_olla_dmr_shm_unlock(omcf);
            return &sh->mstat[i];
        }

        if (sh->mstat[i].hash == 0) {
            free = &sh->mstat[i];
            break;
        }
    }

    if (free) {
        len = ngx_min(name->len, NGX_OLLA_DMR_RES_NAME - 1);
        ngx_memcpy(free->name, name->data, len);
        free->name[len] = '\0';

        ngx_memory_barrier();

        free->hash = hash;

        ngx_olla_dmr_shm_unlock(omcf);
        return free;
    }

    ngx_olla_dmr_shm_unlock(omcf);

other:

    if (m->hash != NGX_OLLA_DMR_STAT_OTHER) {
        ngx_memcpy(m->name, "other", sizeof("other"));
        ngx_memory_barrier();
        m->hash = NGX_OLLA_DMR_STAT_OTHER;
    }

    return m;
}


/*
 * A client key's counts (olla_api_keys): its slot found without the lock,
 * taken under it; when all are taken, "other"
 */

static void
ngx_olla_dmr_stats_key(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t cls)
{
    size_t                 len;
    uint64_t               hash;
    ngx_uint_t             i;
    olla_usage_t          *u;
    ngx_olla_dmr_kstat_t  *k, *keys;

    keys = omcf->sh->keys;
    hash = olla_pick_hash(0xcbf29ce484222325ULL, ctx->key_name.data,
                          ctx->key_name.len) | 1;
    k = NULL;

    for (i = 0; i < NGX_OLLA_DMR_KEY_SLOTS && keys[i].hash; i++) {
        if (keys[i].hash == hash) {
            k = &keys[i];
            break;
        }
    }

    if (k == NULL && i < NGX_OLLA_DMR_KEY_SLOTS) {
        ngx_olla_dmr_shm_lock(omcf);

        for (i = 0; i < NGX_OLLA_DMR_KEY_SLOTS; i++) {
            if (keys[i].hash == hash) {
                k = &keys[i];
                break;
            }

            if (keys[i].hash == 0) {
                k = &keys[i];
                len = ngx_min(ctx->key_name.len, NGX_OLLA_DMR_KEY_NAME - 1);
                ngx_memcpy(k->name, ctx->key_name.data, len);
                k->name[len] = '\0';
                ngx_memory_barrier();
                k->hash = hash;
                break;
            }
        }

        ngx_olla_dmr_shm_unlock(omcf);
    }

    if (k == NULL) {
        k = &keys[NGX_OLLA_DMR_KEY_SLOTS];

        if (k->hash == 0) {
            ngx_memcpy(k->name, "other", sizeof("other"));
            ngx_memory_barrier();
            k->hash = 1;
        }
    }

    if (cls < 4) {
        (void) ngx_atomic_fetch_add(&k->requests[cls], 1);
    }

    u = ctx->usage;        /* settled */

    if (u == NULL) {
        return;
    }

    if (u->prompt > 0) {
        (void) ngx_atomic_fetch_add(&k->tokens[0],
                                    (ngx_atomic_int_t) u->prompt);
    }

    if (u->completion > 0) {
        (void) ngx_atomic_fetch_add(&k->tokens[1],
                                    (ngx_atomic_int_t) u->completion);
    }

    if (u->cached > 0) {
        (void) ngx_atomic_fetch_add(&k->tokens[2],
                                    (ngx_atomic_int_t) u->cached);
    }
}


/* an endpoint's models added up */

void
ngx_olla_dmr_stats_sum(ngx_olla_dmr_ep_sh_t *sh, ngx_olla_dmr_mstat_t *sum)
{
    ngx_uint_t  i;

    ngx_memzero(sum, sizeof(ngx_olla_dmr_mstat_t));

    for (i = 0; i < NGX_OLLA_DMR_STAT_SLOTS; i++) {
        if (sh->mstat[i].hash) {
            ngx_olla_dmr_stats_add(sum, &sh->mstat[i]);
        }
    }
}


/* one slot's counts added to another's (a copy in memory) */

void
ngx_olla_dmr_stats_add(ngx_olla_dmr_mstat_t *sum, ngx_olla_dmr_mstat_t *m)
{
    ngx_uint_t  k;

    sum->last = ngx_max(sum->last, m->last);

    for (k = 0; k < 4; k++) {
        sum->requests[k] += m->requests[k];
    }

    for (k = 0; k < 3; k++) {
        sum->tokens[k] += m->tokens[k];
        sum->cut[k] += m->cut[k];
    }

    for (k = 0; k <= NGX_OLLA_DMR_STAT_BUCKETS; k++) {
        sum->ttft[k] += m->ttft[k];
        sum->duration[k] += m->duration[k];
    }

    for (k = 0; k < OLLA_REASON_COUNT; k++) {
        sum->decisions[k] += m->decisions[k];
    }

    for (k = 0; k < NGX_OLLA_DMR_STAT_HLL; k++) {
        sum->clients[k] = ngx_max(sum->clients[k], m->clients[k]);
    }

    if (m->min_ms && (sum->min_ms == 0 || m->min_ms < sum->min_ms)) {
        sum->min_ms = m->min_ms;
    }

    sum->max_ms = ngx_max(sum->max_ms, m->max_ms);
    sum->bytes += m->bytes;
    sum->ttft_ms += m->ttft_ms;
    sum->duration_ms += m->duration_ms;
    sum->streams += m->streams;
}


/*
 * Distinct clients, estimated (HyperLogLog over the client's address:
 * 64 registers, about 13% off; counted exactly by linear counting while
 * few)
 */

static void
ngx_olla_dmr_stats_client(ngx_olla_dmr_mstat_t *m, ngx_str_t *addr)
{
    uint8_t     rank;
    uint64_t    h, w;
    ngx_uint_t  j;

    h = olla_pick_hash(0xcbf29ce484222325ULL, addr->data, addr->len);

    /* a final mix: FNV's high bits are weak for short keys */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;

    j = (ngx_uint_t) (h & (NGX_OLLA_DMR_STAT_HLL - 1));
    w = h >> 6;

    for (rank = 1; rank < 58 && (w & 1) == 0; rank++) {
        w >>= 1;
    }

    if (m->clients[j] < rank) {
        m->clients[j] = rank;
    }
}


ngx_uint_t
ngx_olla_dmr_stats_clients(ngx_olla_dmr_mstat_t *m)
{
    double      sum, est, mm;
    ngx_uint_t  j, zeros;

    mm = NGX_OLLA_DMR_STAT_HLL;
    sum = 0;
    zeros = 0;

    for (j = 0; j < NGX_OLLA_DMR_STAT_HLL; j++) {
        sum += 1.0 / (double) ((uint64_t) 1 << m->clients[j]);
        zeros += (m->clients[j] == 0);
    }

    if (zeros == NGX_OLLA_DMR_STAT_HLL) {
        return 0;
    }

    est = 0.709 * mm * mm / sum;

    if (est <= 2.5 * mm && zeros) {
        est = mm * log(mm / (double) zeros);
    }

    return (ngx_uint_t) (est + 0.5);
}


/*
 * A quantile from a histogram, milliseconds: the bucket's bounds
 * interpolated (the +Inf bucket answers its lower bound); 0 when empty
 */

ngx_msec_t
ngx_olla_dmr_stats_quantile(ngx_olla_dmr_mstat_t *m, ngx_uint_t ttft,
    double q)
{
    double         rank, seen, lo, hi;
    ngx_uint_t     i;
    ngx_atomic_t  *b;
    ngx_atomic_uint_t  total;

    b = ttft ? m->ttft : m->duration;

    total = 0;

    for (i = 0; i <= NGX_OLLA_DMR_STAT_BUCKETS; i++) {
        total += b[i];
    }

    if (total == 0) {
        return 0;
    }

    rank = q * (double) total;
    seen = 0;

    for (i = 0; i <= NGX_OLLA_DMR_STAT_BUCKETS; i++) {
        if (b[i] && seen + (double) b[i] >= rank) {
            break;
        }

        seen += (double) b[i];
    }

    lo = i ? (double) ngx_olla_dmr_stats_bounds[i - 1] : 0;

    if (i >= NGX_OLLA_DMR_STAT_BUCKETS) {
        return (ngx_msec_t) lo;
    }

    hi = (double) ngx_olla_dmr_stats_bounds[i];

    return (ngx_msec_t) (lo + (hi - lo) * (rank - seen) / (double) b[i]);
}


static ngx_int_t
ngx_olla_dmr_stats_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char              *p;
    int64_t              n;
    const char          *s;
    olla_usage_t        *u;
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_olla_dmr_module);

    if (ctx == NULL || ctx->local || ctx->ep == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_olla_dmr_stats_settle(r->main, ctx);

    u = ctx->usage;

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_OLLA_DMR_SV_END:
        s = ngx_olla_dmr_stream_ends[u ? ctx->stream_end : 0];
        v->data = (u_char *) s;
        v->len = ngx_strlen(s);
        return NGX_OK;

    case NGX_OLLA_DMR_SV_TTFT:
        if (u == NULL || !ctx->got_byte) {
            v->not_found = 1;
            return NGX_OK;
        }

        n = (int64_t) ctx->ttft;
        break;

    case NGX_OLLA_DMR_SV_TPS:
        if (u == NULL || u->tokens_per_second < 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 4);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%.2f", u->tokens_per_second) - p;
        return NGX_OK;

    default:
        if (u == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        n = data == NGX_OLLA_DMR_SV_PROMPT ? u->prompt
            : data == NGX_OLLA_DMR_SV_COMPLETION ? u->completion
            : u->cached;

        if (n < 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        break;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%L", n) - p;

    return NGX_OK;
}


/* Prometheus: the per-model series */

#define NGX_OLLA_DMR_STAT_SERIES                                             \
    (4 + 3 + 2 * (NGX_OLLA_DMR_STAT_BUCKETS + 3) + 3 + OLLA_REASON_COUNT)


/* a Prometheus label value: quotes, backslashes and newlines escaped */

size_t
ngx_olla_dmr_prom_label_len(ngx_str_t *s)
{
    size_t  i, n;

    n = s->len;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\' || s->data[i] == '\n') {
            n++;
        }
    }

    return n;
}


u_char *
ngx_olla_dmr_prom_label(u_char *p, ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\') {
            *p++ = '\\';
            *p++ = s->data[i];

        } else if (s->data[i] == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = s->data[i];
        }
    }

    return p;
}


size_t
ngx_olla_dmr_stats_prom_len(ngx_olla_dmr_main_conf_t *omcf)
{
    size_t                      len, labels;
    ngx_uint_t                  i, j;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;

    /* the keys' series: 7 per key, a name of at most 64 bytes escaped */
    len = 4096 + (NGX_OLLA_DMR_KEY_SLOTS + 1) * 7
                 * (2 * NGX_OLLA_DMR_KEY_NAME + 64 + NGX_ATOMIC_T_LEN);
    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            labels = ngx_olla_dmr_prom_label_len(&ep[j].name)
                     + ngx_olla_dmr_prom_label_len(&ep[j].type)
                     + ngx_olla_dmr_prom_label_len(&upsp[i]->uscf->host)
                     + 2 * NGX_OLLA_DMR_RES_NAME + 200;

            len += NGX_OLLA_DMR_STAT_SLOTS * NGX_OLLA_DMR_STAT_SERIES
                   * (labels + NGX_ATOMIC_T_LEN + 24);
        }
    }

    return len;
}


typedef struct {
    const char  *name;
    const char  *type;
    const char  *help;
} ngx_olla_dmr_prom_head_t;


static ngx_olla_dmr_prom_head_t  ngx_olla_dmr_stat_heads[] = {
    { "olla_requests_total", "counter",
      "requests answered through the endpoint, by model and status class" },
    { "olla_tokens_total", "counter",
      "tokens the answers reported, by model and kind (prompt counts "
      "cached ones too)" },
    { "olla_time_to_first_token_seconds", "histogram",
      "time from the request to the first byte of a streamed answer, or "
      "to the whole answer when not streamed" },
    { "olla_request_duration_seconds", "histogram",
      "time from the request to its end" },
    { "olla_streams_cut_total", "counter",
      "streamed answers that did not reach their end, by why" },
    { "olla_routing_decisions_total", "counter",
      "requests answered through the endpoint, by model and why the "
      "endpoint was chosen" },
    { NULL, NULL, NULL }
};


u_char *
ngx_olla_dmr_stats_prom(u_char *p, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_str_t                   model;
    ngx_uint_t                  i, j, s, k, h;
    ngx_atomic_t               *b;
    ngx_atomic_uint_t           acc, sum;
    ngx_olla_dmr_mstat_t       *m;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;
    ngx_olla_dmr_prom_head_t   *head;

    upsp = omcf->upstreams.elts;

#define ngx_olla_dmr_stat_labels(p, metric)                                   \
    p = ngx_sprintf(p, "%s{endpoint=\"", metric);                             \
    p = ngx_olla_dmr_prom_label(p, &ep[j].name);                              \
    p = ngx_cpymem(p, "\",type=\"", 8);                                       \
    p = ngx_olla_dmr_prom_label(p, &ep[j].type);                              \
    p = ngx_cpymem(p, "\",upstream=\"", 12);                                  \
    p = ngx_olla_dmr_prom_label(p, &upsp[i]->uscf->host);                     \
    p = ngx_cpymem(p, "\",model=\"", 9);                                      \
    p = ngx_olla_dmr_prom_label(p, &model);                                   \
    *p++ = '"'

    for (h = 0, head = ngx_olla_dmr_stat_heads; head->name; h++, head++) {

        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", head->name,
                        head->help, head->name, head->type);

        for (i = 0; i < omcf->upstreams.nelts; i++) {
            ep = upsp[i]->endpoints.elts;

            for (j = 0; j < upsp[i]->endpoints.nelts; j++) {

                for (s = 0; s < NGX_OLLA_DMR_STAT_SLOTS; s++) {
                    m = &ep[j].sh->mstat[s];

                    if (m->hash == 0) {
                        continue;
                    }

                    ngx_memory_barrier();

                    model.data = m->name;
                    model.len = ngx_strlen(m->name);

                    switch (h) {

                    case 0:
                        for (k = 0; k < 4; k++) {
                            ngx_olla_dmr_stat_labels(p, head->name);
                            p = ngx_sprintf(p, ",status_class=\"%s\"} %uA\n",
                                            ngx_olla_dmr_classes[k],
                                            m->requests[k]);
                        }

                        break;

                    case 1:
                        for (k = 0; k < 3; k++) {
                            ngx_olla_dmr_stat_labels(p, head->name);
                            p = ngx_sprintf(p, ",kind=\"%s\"} %uA\n",
                                            ngx_olla_dmr_kinds[k],
                                            m->tokens[k]);
                        }

                        break;

                    case 2:
                    case 3:
                        b = h == 2 ? m->ttft : m->duration;
                        sum = h == 2 ? m->ttft_ms : m->duration_ms;

                        for (acc = 0, k = 0; k <= NGX_OLLA_DMR_STAT_BUCKETS;
                             k++)
                        {
                            acc += b[k];

                            p = ngx_sprintf(p, "%s_bucket{endpoint=\"",
                                            head->name);
                            p = ngx_olla_dmr_prom_label(p, &ep[j].name);
                            p = ngx_cpymem(p, "\",type=\"", 8);
                            p = ngx_olla_dmr_prom_label(p, &ep[j].type);
                            p = ngx_cpymem(p, "\",upstream=\"", 12);
                            p = ngx_olla_dmr_prom_label(p,
                                                        &upsp[i]->uscf->host);
                            p = ngx_cpymem(p, "\",model=\"", 9);
                            p = ngx_olla_dmr_prom_label(p, &model);
                            p = ngx_sprintf(p, "\",le=\"%s\"} %uA\n",
                                            k < NGX_OLLA_DMR_STAT_BUCKETS
                                            ? ngx_olla_dmr_stats_le[k]
                                            : "+Inf",
                                            acc);
                        }

                        ngx_olla_dmr_stat_labels(p, (h == 2
                                     ? "olla_time_to_first_token_seconds_sum"
                                     : "olla_request_duration_seconds_sum"));
                        p = ngx_sprintf(p, "} %uA.%03uA\n", sum / 1000,
                                        sum % 1000);

                        ngx_olla_dmr_stat_labels(p, (h == 2
                                     ? "olla_time_to_first_token_seconds_count"
                                     : "olla_request_duration_seconds_count"));
                        p = ngx_sprintf(p, "} %uA\n", acc);
                        break;

                    case 4:
                        for (k = 0; k < 3; k++) {
                            ngx_olla_dmr_stat_labels(p, head->name);
                            p = ngx_sprintf(p, ",reason=\"%s\"} %uA\n",
                                        ngx_olla_dmr_stream_ends[k
                                                  + NGX_OLLA_DMR_END_BACKEND],
                                        m->cut[k]);
                        }

                        break;

                    default:
                        for (k = OLLA_REASON_NONE + 1; k < OLLA_REASON_COUNT;
                             k++)
                        {
                            ngx_olla_dmr_stat_labels(p, head->name);
                            p = ngx_sprintf(p, ",reason=\"%s\"} %uA\n",
                                            olla_pick_reason_name(k),
                                            m->decisions[k]);
                        }

                        break;
                    }
                }
            }
        }
    }

#undef ngx_olla_dmr_stat_labels

    return ngx_olla_dmr_stats_prom_keys(p, omcf);
}


/* per client key: olla_key_requests_total, olla_key_tokens_total */

static u_char *
ngx_olla_dmr_stats_prom_keys(u_char *p, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_str_t              name;
    ngx_uint_t             i, k;
    ngx_olla_dmr_kstat_t  *ks;

    p = ngx_sprintf(p, "# HELP olla_key_requests_total requests a client "
                    "key (olla_api_keys) made, by status class\n"
                    "# TYPE olla_key_requests_total counter\n");

    for (i = 0; omcf->sh->keys && i <= NGX_OLLA_DMR_KEY_SLOTS; i++) {
        ks = &omcf->sh->keys[i];

        if (ks->hash == 0) {
            continue;
        }

        ngx_memory_barrier();

        name.data = ks->name;
        name.len = ngx_strlen(ks->name);

        for (k = 0; k < 4; k++) {
            p = ngx_cpymem(p, "olla_key_requests_total{key=\"",
                           sizeof("olla_key_requests_total{key=\"") - 1);
            p = ngx_olla_dmr_prom_label(p, &name);
            p = ngx_sprintf(p, "\",status_class=\"%s\"} %uA\n",
                            ngx_olla_dmr_classes[k], ks->requests[k]);
        }
    }

    p = ngx_sprintf(p, "# HELP olla_key_tokens_total tokens the answers to "
                    "a client key reported, by kind\n"
                    "# TYPE olla_key_tokens_total counter\n");

    for (i = 0; omcf->sh->keys && i <= NGX_OLLA_DMR_KEY_SLOTS; i++) {
        ks = &omcf->sh->keys[i];

        if (ks->hash == 0) {
            continue;
        }

        name.data = ks->name;
        name.len = ngx_strlen(ks->name);

        for (k = 0; k < 3; k++) {
            p = ngx_cpymem(p, "olla_key_tokens_total{key=\"",
                           sizeof("olla_key_tokens_total{key=\"") - 1);
            p = ngx_olla_dmr_prom_label(p, &name);
            p = ngx_sprintf(p, "\",kind=\"%s\"} %uA\n",
                            ngx_olla_dmr_kinds[k], ks->tokens[k]);
        }
    }

    return p;
}


/*
 * What the answers said, as JSON: {"requests": {"2xx": n, ...},
 * "tokens": {"prompt": n, "completion": n, "cached": n}, "ttft_ms":
 * {"avg", "p50", "p95"}, "duration_ms": {...}, "streams": n,
 * "streams_cut": {"backend_cut": n, ...}, "bytes": n, "last": unix}
 */

json_t *
ngx_olla_dmr_stats_json(ngx_olla_dmr_mstat_t *m)
{
    ngx_uint_t         k;
    ngx_atomic_uint_t  n, d;

    for (n = 0, d = 0, k = 0; k <= NGX_OLLA_DMR_STAT_BUCKETS; k++) {
        n += m->ttft[k];
        d += m->duration[k];
    }

    return json_pack("{s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, "
                     "s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, "
                     "s:I, s:{s:I, s:I, s:I}, s:I, s:I}",
                     "requests",
                     "2xx", (json_int_t) m->requests[0],
                     "3xx", (json_int_t) m->requests[1],
                     "4xx", (json_int_t) m->requests[2],
                     "5xx", (json_int_t) m->requests[3],
                     "tokens",
                     "prompt", (json_int_t) m->tokens[0],
                     "completion", (json_int_t) m->tokens[1],
                     "cached", (json_int_t) m->tokens[2],
                     "ttft_ms",
                     "count", (json_int_t) n,
                     "avg", (json_int_t) (n ? m->ttft_ms / n : 0),
                     "p50", (json_int_t) ngx_olla_dmr_stats_quantile(m, 1,
                                                                     0.5),
                     "p95", (json_int_t) ngx_olla_dmr_stats_quantile(m, 1,
                                                                     0.95),
                     "duration_ms",
                     "count", (json_int_t) d,
                     "avg", (json_int_t) (d ? m->duration_ms / d : 0),
                     "p50", (json_int_t) ngx_olla_dmr_stats_quantile(m, 0,
                                                                     0.5),
                     "p95", (json_int_t) ngx_olla_dmr_stats_quantile(m, 0,
                                                                     0.95),
                     "streams", (json_int_t) m->streams,
                     "streams_cut",
                     "backend_cut", (json_int_t) m->cut[0],
                     "client_cut", (json_int_t) m->cut[1],
                     "idle_timeout", (json_int_t) m->cut[2],
                     "bytes", (json_int_t) m->bytes,
                     "last", (json_int_t) m->last);
}
