
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * What the module tells about itself and its endpoints (SPEC 7): the
 * olla_status location (health, status/endpoints, status/models, metrics
 * in Prometheus text).  The data is read from the shared zone; JSON is
 * built with jansson; the model lists are ngx_olla_dmr_models.c's.
 */


#include "ngx_olla_dmr.h"

#include <jansson.h>

#include "ngx_olla_dmr_page.h"


static ngx_int_t ngx_olla_dmr_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_status_page(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_status_health(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf);
static ngx_int_t ngx_olla_dmr_status_endpoints(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf);
static ngx_int_t ngx_olla_dmr_status_metrics(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf);
static ngx_int_t ngx_olla_dmr_status_models(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, json_t *e);
static json_t *ngx_olla_dmr_status_zone(ngx_olla_dmr_main_conf_t *omcf);
static json_t *ngx_olla_dmr_str(ngx_str_t *s);
static json_t *ngx_olla_dmr_residency(ngx_olla_dmr_endpoint_t *ep);
static json_t *ngx_olla_dmr_decisions(ngx_olla_dmr_ep_sh_t *sh);
static json_t *ngx_olla_dmr_failover_json(ngx_olla_dmr_ep_sh_t *sh);


char *
ngx_olla_dmr_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_olla_dmr_loc_conf_t  *olcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (olcf->status != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    olcf->status = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_olla_dmr_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_olla_dmr_status_handler(ngx_http_request_t *r)
{
    u_char                    *p, *last;
    ngx_int_t                  rc;
    ngx_str_t                  rest;
    ngx_olla_dmr_ctx_t        *ctx;
    ngx_olla_dmr_main_conf_t  *omcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ctx = ngx_olla_dmr_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ctx->route_name, "status");
    ctx->local = 1;

    p = r->uri.data;
    last = p + r->uri.len;

    if (r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    while (p < last && *p == '/') {
        p++;
    }

    rest.data = p;
    rest.len = last - p;

    if (omcf->shpool == NULL) {
        if (rest.len == 6 && ngx_strncmp(rest.data, "health", 6) == 0) {
            return ngx_olla_dmr_send_error(r, ctx, OLLA_ERR_NO_ENDPOINTS,
                                           NULL);
        }
    }

    if (rest.len == 6 && ngx_strncmp(rest.data, "health", 6) == 0) {
        return ngx_olla_dmr_status_health(r, omcf);
    }

    if (rest.len == 16 && ngx_strncmp(rest.data, "status/endpoints", 16) == 0)
    {
        return ngx_olla_dmr_status_endpoints(r, omcf);
    }

    if (rest.len == 13 && ngx_strncmp(rest.data, "status/models", 13) == 0) {
        return ngx_olla_dmr_models_status(r);
    }

    if (rest.len == 7 && ngx_strncmp(rest.data, "metrics", 7) == 0) {
        return ngx_olla_dmr_status_metrics(r, omcf);
    }

    if ((rest.len == 2 && ngx_strncmp(rest.data, "ui", 2) == 0)
        || (rest.len == 3 && ngx_strncmp(rest.data, "ui/", 3) == 0))
    {
        return ngx_olla_dmr_status_page(r);
    }

    rc = ngx_olla_dmr_olla_status(r, &rest);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_olla_dmr_send_error(r, ctx, OLLA_ERR_ROUTE_NOT_FOUND,
                                   "unknown status path \"%V\"; try health, "
                                   "status/endpoints, status/models, metrics, "
                                   "ui/, status, stats/models, process or "
                                   "version", &rest);
}


/* the status page: one HTML file, its script and style hashed in its CSP */

static ngx_int_t
ngx_olla_dmr_status_page(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    static u_char     page[] = NGX_OLLA_DMR_PAGE;

    if (ngx_olla_dmr_add_header(r, "Content-Security-Policy",
                                (u_char *) NGX_OLLA_DMR_PAGE_CSP,
                                sizeof(NGX_OLLA_DMR_PAGE_CSP) - 1)
        != NGX_OK
        || ngx_olla_dmr_add_header(r, "X-Content-Type-Options",
                                   (u_char *) "nosniff", 7)
           != NGX_OK
        || ngx_olla_dmr_add_header(r, "Referrer-Policy",
                                   (u_char *) "no-referrer", 11)
           != NGX_OK
        || ngx_olla_dmr_add_header(r, "Cache-Control",
                                   (u_char *) "no-cache", 8)
           != NGX_OK
        || ngx_olla_dmr_add_header(r, "ETag",
                                   (u_char *) NGX_OLLA_DMR_PAGE_ETAG,
                                   sizeof(NGX_OLLA_DMR_PAGE_ETAG) - 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the last header pushed: nginx answers If-None-Match with it */

    h = r->headers_out.headers.last->elts;
    r->headers_out.etag = &h[r->headers_out.headers.last->nelts - 1];

    return ngx_olla_dmr_send_body(r, NGX_HTTP_OK, "text/html; charset=utf-8",
                                  page, sizeof(page) - 1);
}


static ngx_int_t
ngx_olla_dmr_status_health(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_uint_t                  i, j, routable, total;
    json_t                     *root;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;

    routable = 0;
    total = 0;
    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            total++;

            routable += ngx_olla_dmr_routable(&ep[j]);
        }
    }

    root = json_pack("{s:s, s:I, s:I}",
                     "status", routable ? "healthy" : "unhealthy",
                     "endpoints", (json_int_t) total,
                     "routable", (json_int_t) routable);

    return ngx_olla_dmr_send_jansson(r, routable ? NGX_HTTP_OK
                                                 : NGX_HTTP_SERVICE_UNAVAILABLE,
                                     root);
}


/*
 * An endpoint's model list in the zone: "models_state" stored, not_stored
 * (it did not fit: "models_reason", and "models_bytes" it needs) or none
 * (no list read yet); "models_listed" in the last answer; "models_shared"
 * endpoints keeping the same stored list (1: this one alone).
 */

static ngx_int_t
ngx_olla_dmr_status_models(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, json_t *e)
{
    size_t                 bytes;
    json_t                *reason;
    ngx_uint_t             state, listed, shared;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;

    ngx_olla_dmr_shm_lock(omcf);

    state = sh->models_state;
    listed = sh->models_listed;
    shared = sh->mlist ? sh->mlist->refs : 0;
    bytes = sh->mlist ? offsetof(ngx_olla_dmr_mlist_t, data) + sh->mlist->len
                      : sh->models_need;

    ngx_olla_dmr_shm_unlock(omcf);

    if (state == NGX_OLLA_DMR_MODELS_NOT_STORED) {
        reason = json_sprintf("olla_zone is full: the list needs %zu bytes",
                              bytes);

    } else {
        reason = json_null();
    }

    if (json_object_set_new(e, "models_state",
                            json_string(ngx_olla_dmr_models_state_name(state)))
        != 0
        || json_object_set_new(e, "models_reason", reason) != 0
        || json_object_set_new(e, "models_listed",
                               json_integer((json_int_t) listed))
           != 0
        || json_object_set_new(e, "models_bytes",
                               json_integer((json_int_t) bytes))
           != 0
        || json_object_set_new(e, "models_shared",
                               json_integer((json_int_t) shared))
           != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The zone: its size, the bytes in use (whole pages), and the size that
 * would hold it all, the lists that did not fit included (a lower bound)
 */

static json_t *
ngx_olla_dmr_status_zone(ngx_olla_dmr_main_conf_t *omcf)
{
    size_t                     size, pages, nfree;
    ngx_uint_t                 i, n;
    ngx_olla_dmr_upstream_t  **upsp;

    if (omcf->shpool == NULL) {
        return json_null();
    }

    size = omcf->shm_zone->shm.size;
    pages = (omcf->shpool->end - omcf->shpool->start) / ngx_pagesize;
    nfree = ngx_min(omcf->shpool->pfree, pages);

    n = 0;
    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        n += ngx_olla_dmr_models_not_stored(upsp[i]);
    }

    return json_pack("{s:I, s:I, s:I, s:I, s:I}",
                     "size", (json_int_t) size,
                     "used", (json_int_t) ((pages - nfree) * ngx_pagesize),
                     "free", (json_int_t) (nfree * ngx_pagesize),
                     "needed", (json_int_t) ngx_olla_dmr_zone_need(omcf),
                     "lists_not_stored", (json_int_t) n);
}


static ngx_int_t
ngx_olla_dmr_status_endpoints(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf)
{
    u_char                     *blob;
    size_t                      len, pos;
    ngx_uint_t                  i, j;
    ngx_tm_t                    tm;
    ngx_msec_int_t              next;
    json_t                     *root, *list, *e, *models;
    olla_model_ref_t            m;
    ngx_olla_dmr_mstat_t        sum;
    ngx_olla_dmr_ep_sh_t       *sh;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;
    u_char                      ts[sizeof("1970-09-28T12:00:00Z")];

    root = json_object();
    list = json_array();

    if (root == NULL || list == NULL
        || json_object_set_new(root, "endpoints", list) != 0)
    {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            sh = ep[j].sh;

            models = json_array();

            blob = ngx_olla_dmr_models_copy(omcf, &ep[j], r->pool, &len);
            pos = 0;

            while (blob && olla_models_next(blob, len, &pos, &m)) {
                json_array_append_new(models,
                                      json_stringn(m.id, m.id_len));
            }

            next = (ngx_msec_int_t) (sh->next_check - ngx_current_msec);

            if (sh->last_check) {
                ngx_gmtime(sh->last_check, &tm);
                (void) ngx_sprintf(ts, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z",
                                   tm.ngx_tm_year, tm.ngx_tm_mon,
                                   tm.ngx_tm_mday, tm.ngx_tm_hour,
                                   tm.ngx_tm_min, tm.ngx_tm_sec);
            }

            ngx_olla_dmr_stats_sum(sh, &sum);

            e = json_pack("{s:o, s:o, s:o, s:o, s:I, s:s, s:s, s:o, s:I, "
                          "s:I, s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:o, "
                          "s:o, s:I, s:o, s:o}",
                          "name", ngx_olla_dmr_str(&ep[j].name),
                          "url", ngx_olla_dmr_str(&ep[j].url),
                          "type", ngx_olla_dmr_str(&ep[j].type),
                          "upstream", ngx_olla_dmr_str(&upsp[i]->uscf->host),
                          "priority", (json_int_t) ep[j].priority,
                          "status",
                          olla_health_name((olla_health_e) sh->status),
                          "reason", (char *) sh->reason,
                          "last_check",
                          sh->last_check ? json_string((char *) ts)
                                         : json_null(),
                          "last_check_unix", (json_int_t) sh->last_check,
                          "latency_ms", (json_int_t) sh->latency,
                          "consecutive_failures",
                          (json_int_t) sh->consecutive_failures,
                          "circuit", ngx_olla_dmr_circuit_name(sh),
                          "models", models,
                          "model_count", (json_int_t) sh->nmodels,
                          "next_check_ms", (json_int_t) ngx_max(next, 0),
                          "in_flight", (json_int_t) sh->inflight,
                          "requests", (json_int_t) sh->requests,
                          "failures", (json_int_t) sh->failures,
                          "residency", ngx_olla_dmr_residency(&ep[j]),
                          "decisions", ngx_olla_dmr_decisions(sh),
                          "preloads", (json_int_t) sh->preloads,
                          "usage", ngx_olla_dmr_stats_json(&sum),
                          "failover", ngx_olla_dmr_failover_json(sh));

            if (e == NULL
                || ngx_olla_dmr_status_models(omcf, &ep[j], e) != NGX_OK
                || json_object_set_new(e, "probes",
                                       json_integer((json_int_t) sh->probes))
                   != 0
                || json_array_append_new(list, e) != 0)
            {
                json_decref(e);
                json_decref(root);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    if (json_object_set_new(root, "zone", ngx_olla_dmr_status_zone(omcf))
        != 0
        || json_object_set_new(root, "total",
                               json_integer(json_array_size(list)))
           != 0)
    {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* per upstream: its queue (olla_queue) and failover */

    list = json_array();

    if (list == NULL || json_object_set_new(root, "upstreams", list) != 0) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        e = json_pack("{s:o, s:s, s:o, s:{s:b, s:I, s:I}}",
                      "name", ngx_olla_dmr_str(&upsp[i]->uscf->host),
                      "balancer", ngx_olla_dmr_lb_name(upsp[i]->lb)->data,
                      "queue", ngx_olla_dmr_queue_json(upsp[i]),
                      "failover",
                        "enabled", upsp[i]->failover_tries != 0,
                        "tries", (json_int_t) upsp[i]->failover_tries,
                        "fast_ms", (json_int_t) upsp[i]->failover_fast);

        if (e == NULL || json_array_append_new(list, e) != 0) {
            json_decref(root);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_olla_dmr_send_jansson(r, NGX_HTTP_OK, root);
}


/*
 * What the endpoint has loaded: {"state": "known" | "unknown" | "none",
 * "reason": why unknown, "checked": unix time of the last read,
 * "models": [{"model", "state": "resident" | "loading", "in_use",
 * "mode", "last_used", "source": "endpoint" | "gateway"}]}
 */

static json_t *
ngx_olla_dmr_residency(ngx_olla_dmr_endpoint_t *ep)
{
    time_t                 now;
    ngx_uint_t             i;
    json_t                *res, *models, *m;
    const char            *state;
    ngx_olla_dmr_res_t    *r;
    ngx_olla_dmr_ep_sh_t  *sh;

    static const char     *modes[] = { "completion", "embedding", "other" };

    sh = ep->sh;
    now = ngx_time();

    if (ep->ps_url.len == 0) {
        state = "none";

    } else {
        state = sh->res_known ? "known" : "unknown";
    }

    models = json_array();

    res = json_pack("{s:s, s:o, s:I}", "state", state, "models", models,
                    "checked", (json_int_t) sh->res_time);
    if (res == NULL) {
        return NULL;
    }

    if (!sh->res_known) {
        if (ep->ps_url.len) {
            json_object_set_new(res, "reason",
                                json_string(sh->res_reason[0]
                                            ? (char *) sh->res_reason
                                            : "not read yet"));
        }

        return res;
    }

    for (i = 0; i < NGX_OLLA_DMR_RES_SLOTS; i++) {
        r = &sh->res[i];

        if (r->hash == 0
            || (r->state != OLLA_RES_RESIDENT && r->state != OLLA_RES_LOADING)
            || (r->from == NGX_OLLA_DMR_RES_TRAFFIC
                && now - (time_t) r->last > NGX_OLLA_DMR_RES_TRAFFIC_TTL))
        {
            continue;
        }

        m = json_pack("{s:s, s:s, s:b, s:s, s:I, s:s}",
                      "model", (char *) r->name,
                      "state", r->state == OLLA_RES_RESIDENT ? "resident"
                                                             : "loading",
                      "in_use", (int) r->in_use,
                      "mode", modes[r->mode < 3 ? r->mode : 2],
                      "last_used", (json_int_t) r->last,
                      "source", r->from == NGX_OLLA_DMR_RES_PROBE
                                ? "endpoint" : "gateway");

        if (m == NULL || json_array_append_new(models, m) != 0) {
            json_decref(res);
            return NULL;
        }
    }

    return res;
}


/* routing decisions by reason: {"resident": n, ...} */

static json_t *
ngx_olla_dmr_decisions(ngx_olla_dmr_ep_sh_t *sh)
{
    ngx_uint_t   k;
    json_t      *d;

    d = json_object();
    if (d == NULL) {
        return NULL;
    }

    for (k = OLLA_REASON_NONE + 1; k < OLLA_REASON_COUNT; k++) {
        if (json_object_set_new(d, olla_pick_reason_name(k),
                                json_integer((json_int_t)
                                             sh->decisions[k]))
            != 0)
        {
            json_decref(d);
            return NULL;
        }
    }

    return d;
}


/*
 * olla_failover at the endpoint: {"retried": {"429": N, "5xx": N,
 * "model_not_found": N}, "retry_after_ms": ms it still rests, "rests": N}
 */

static json_t *
ngx_olla_dmr_failover_json(ngx_olla_dmr_ep_sh_t *sh)
{
    ngx_uint_t       k;
    json_t          *o, *by;
    ngx_msec_int_t   rest;

    by = json_object();

    for (k = 1; k < OLLA_FAILOVER_KINDS; k++) {
        json_object_set_new(by, olla_failover_kind_name(
                                    (olla_failover_kind_e) k),
                            json_integer((json_int_t) sh->failovers[k]));
    }

    rest = (ngx_msec_int_t) (sh->rest_until - ngx_current_msec);
    rest = (sh->rest_until && rest > 0) ? rest : 0;

    o = json_pack("{s:o, s:I, s:I}",
                  "retried", by,
                  "retry_after_ms", (json_int_t) rest,
                  "rests", (json_int_t) sh->rests);

    return o;
}


static json_t *
ngx_olla_dmr_str(ngx_str_t *s)
{
    return json_stringn((char *) s->data, s->len);
}


/* Prometheus text format */

typedef enum {
    NGX_OLLA_DMR_M_UP = 0,
    NGX_OLLA_DMR_M_HEALTH,
    NGX_OLLA_DMR_M_LATENCY,
    NGX_OLLA_DMR_M_CONSECUTIVE,
    NGX_OLLA_DMR_M_CIRCUIT,
    NGX_OLLA_DMR_M_IN_FLIGHT,
    NGX_OLLA_DMR_M_REQUESTS,
    NGX_OLLA_DMR_M_FAILURES,
    NGX_OLLA_DMR_M_PROBES,
    NGX_OLLA_DMR_M_MODELS,
    NGX_OLLA_DMR_M_MODELS_STORED
} ngx_olla_dmr_metric_e;


typedef struct {
    ngx_olla_dmr_metric_e   id;
    const char             *name;
    const char             *type;
    const char             *help;
    ngx_uint_t              per_state;    /* one series per health state */
} ngx_olla_dmr_metric_t;


static ngx_olla_dmr_metric_t  ngx_olla_dmr_metrics[] = {
    { NGX_OLLA_DMR_M_UP, "olla_endpoint_up", "gauge",
      "1 when the endpoint is routable (healthy or not yet probed, "
      "circuit not open)", 0 },
    { NGX_OLLA_DMR_M_HEALTH, "olla_endpoint_health_status", "gauge",
      "1 for the endpoint's current health status", 1 },
    { NGX_OLLA_DMR_M_LATENCY, "olla_endpoint_probe_latency_seconds", "gauge",
      "duration of the last health probe", 0 },
    { NGX_OLLA_DMR_M_CONSECUTIVE, "olla_endpoint_consecutive_failures",
      "gauge", "failed health probes in a row", 0 },
    { NGX_OLLA_DMR_M_CIRCUIT, "olla_endpoint_circuit_open", "gauge",
      "1 while the passive circuit breaker is open or half-open", 0 },
    { NGX_OLLA_DMR_M_IN_FLIGHT, "olla_endpoint_in_flight", "gauge",
      "requests in flight to the endpoint, across workers", 0 },
    { NGX_OLLA_DMR_M_REQUESTS, "olla_endpoint_requests_total", "counter",
      "requests the endpoint was tried for", 0 },
    { NGX_OLLA_DMR_M_FAILURES, "olla_endpoint_failures_total", "counter",
      "requests that failed to reach the endpoint (transport failures)", 0 },
    { NGX_OLLA_DMR_M_PROBES, "olla_endpoint_probes_total", "counter",
      "health probes of the endpoint", 0 },
    { NGX_OLLA_DMR_M_MODELS, "olla_endpoint_models", "gauge",
      "models in the endpoint's last model list", 0 },
    { NGX_OLLA_DMR_M_MODELS_STORED, "olla_endpoint_models_stored", "gauge",
      "0 while the endpoint's last model list does not fit in olla_zone "
      "(no request naming a model goes there), else 1", 0 },
    { 0, NULL, NULL, NULL, 0 }
};


static u_char *ngx_olla_dmr_status_metrics_residency(u_char *p,
    ngx_olla_dmr_main_conf_t *omcf);


/* the longest label text a series adds besides the three names */
#define NGX_OLLA_DMR_PROM_FIXED                                              \
    (sizeof("{endpoint=\"\",type=\"\",upstream=\"\",status=\"\"} \n")       \
     + sizeof("config_error") + NGX_ATOMIC_T_LEN + 8)


static ngx_int_t
ngx_olla_dmr_status_metrics(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf)
{
    u_char                     *p, *start;
    size_t                      len, labels, per_endpoint;
    ngx_uint_t                  i, j, s, states, series;
    ngx_olla_dmr_ep_sh_t       *sh;
    ngx_olla_dmr_metric_t      *m;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;

    upsp = omcf->upstreams.elts;

    /* the size: every series of every metric, with its labels */

    len = 0;
    series = 0;
    per_endpoint = 0;

    for (m = ngx_olla_dmr_metrics; m->name; m++) {
        len += sizeof("# HELP \n# TYPE \n") + 2 * ngx_strlen(m->name)
               + ngx_strlen(m->help) + ngx_strlen(m->type);

        states = m->per_state ? OLLA_HEALTH_COUNT : 1;
        series += states;
        per_endpoint += states
                        * (ngx_strlen(m->name) + NGX_OLLA_DMR_PROM_FIXED);
    }

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            labels = ngx_olla_dmr_prom_label_len(&ep[j].name)
                     + ngx_olla_dmr_prom_label_len(&ep[j].type)
                     + ngx_olla_dmr_prom_label_len(&upsp[i]->uscf->host);

            len += per_endpoint + series * labels;

            /* residency and decisions: a series per slot and per reason */
            len += (NGX_OLLA_DMR_RES_SLOTS + OLLA_REASON_COUNT)
                   * (labels + 2 * NGX_OLLA_DMR_RES_NAME + 160
                      + NGX_ATOMIC_T_LEN);
        }
    }

    len += ngx_olla_dmr_stats_prom_len(omcf);
    len += ngx_olla_dmr_queue_prom_len(omcf);

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = start;

    for (m = ngx_olla_dmr_metrics; m->name; m++) {

        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help,
                        m->name, m->type);

        states = m->per_state ? OLLA_HEALTH_COUNT : 1;

        for (i = 0; i < omcf->upstreams.nelts; i++) {
            ep = upsp[i]->endpoints.elts;

            for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
                sh = ep[j].sh;

                for (s = 0; s < states; s++) {
                    p = ngx_sprintf(p, "%s{endpoint=\"", m->name);
                    p = ngx_olla_dmr_prom_label(p, &ep[j].name);
                    p = ngx_cpymem(p, "\",type=\"", 8);
                    p = ngx_olla_dmr_prom_label(p, &ep[j].type);
                    p = ngx_cpymem(p, "\",upstream=\"", 12);
                    p = ngx_olla_dmr_prom_label(p, &upsp[i]->uscf->host);

                    if (m->per_state) {
                        p = ngx_sprintf(p, "\",status=\"%s",
                                        olla_health_name((olla_health_e) s));
                    }

                    p = ngx_cpymem(p, "\"} ", 3);

                    switch (m->id) {

                    case NGX_OLLA_DMR_M_UP:
                        p = ngx_sprintf(p, "%ui\n",
                                        ngx_olla_dmr_routable(&ep[j]));
                        break;

                    case NGX_OLLA_DMR_M_HEALTH:
                        p = ngx_sprintf(p, "%d\n", sh->status == s);
                        break;

                    case NGX_OLLA_DMR_M_LATENCY:
                        p = ngx_sprintf(p, "%M.%03M\n", sh->latency / 1000,
                                        sh->latency % 1000);
                        break;

                    case NGX_OLLA_DMR_M_CONSECUTIVE:
                        p = ngx_sprintf(p, "%ui\n", sh->consecutive_failures);
                        break;

                    case NGX_OLLA_DMR_M_CIRCUIT:
                        p = ngx_sprintf(p, "%d\n", sh->cb_state
                                                   != NGX_OLLA_DMR_CB_CLOSED);
                        break;

                    case NGX_OLLA_DMR_M_IN_FLIGHT:
                        p = ngx_sprintf(p, "%A\n", sh->inflight);
                        break;

                    case NGX_OLLA_DMR_M_REQUESTS:
                        p = ngx_sprintf(p, "%A\n", sh->requests);
                        break;

                    case NGX_OLLA_DMR_M_FAILURES:
                        p = ngx_sprintf(p, "%A\n", sh->failures);
                        break;

                    case NGX_OLLA_DMR_M_PROBES:
                        p = ngx_sprintf(p, "%ui\n", sh->probes);
                        break;

                    case NGX_OLLA_DMR_M_MODELS:
                        p = ngx_sprintf(p, "%ui\n", sh->nmodels);
                        break;

                    case NGX_OLLA_DMR_M_MODELS_STORED:
                        p = ngx_sprintf(p, "%d\n",
                                        sh->models_state
                                        != NGX_OLLA_DMR_MODELS_NOT_STORED);
                        break;
                    }
                }
            }
        }
    }

    p = ngx_olla_dmr_status_metrics_residency(p, omcf);
    p = ngx_olla_dmr_stats_prom(p, omcf);
    p = ngx_olla_dmr_queue_prom(p, omcf);

    return ngx_olla_dmr_send_body(r, NGX_HTTP_OK,
                                  "text/plain; version=0.0.4; charset=utf-8",
                                  start, p - start);
}


/* per endpoint and model: what is loaded; per reason: routing decisions */

static u_char *
ngx_olla_dmr_status_metrics_residency(u_char *p,
    ngx_olla_dmr_main_conf_t *omcf)
{
    time_t                      now;
    ngx_str_t                   name;
    ngx_uint_t                  i, j, k;
    ngx_olla_dmr_res_t         *r;
    ngx_olla_dmr_ep_sh_t       *sh;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;

    now = ngx_time();
    upsp = omcf->upstreams.elts;

#define ngx_olla_dmr_prom_labels(p, ep, ups)                                 \
    p = ngx_cpymem(p, "{endpoint=\"", sizeof("{endpoint=\"") - 1);          \
    p = ngx_olla_dmr_prom_label(p, &(ep)->name);                              \
    p = ngx_cpymem(p, "\",type=\"", 8);                                       \
    p = ngx_olla_dmr_prom_label(p, &(ep)->type);                              \
    p = ngx_cpymem(p, "\",upstream=\"", 12);                                  \
    p = ngx_olla_dmr_prom_label(p, &(ups)->uscf->host)

    p = ngx_sprintf(p, "# HELP olla_endpoint_model_resident 1 for a model "
                    "the endpoint has loaded or is loading (from its running "
                    "models and the gateway's own traffic)\n"
                    "# TYPE olla_endpoint_model_resident gauge\n");

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            sh = ep[j].sh;

            if (!sh->res_known) {
                continue;
            }

            for (k = 0; k < NGX_OLLA_DMR_RES_SLOTS; k++) {
                r = &sh->res[k];

                if (r->hash == 0
                    || (r->state != OLLA_RES_RESIDENT
                        && r->state != OLLA_RES_LOADING)
                    || (r->from == NGX_OLLA_DMR_RES_TRAFFIC
                        && now - (time_t) r->last
                           > NGX_OLLA_DMR_RES_TRAFFIC_TTL))
                {
                    continue;
                }

                name.data = r->name;
                name.len = ngx_strlen(r->name);

                p = ngx_cpymem(p, "olla_endpoint_model_resident",
                               sizeof("olla_endpoint_model_resident") - 1);
                ngx_olla_dmr_prom_labels(p, &ep[j], upsp[i]);
                p = ngx_cpymem(p, "\",model=\"", 9);
                p = ngx_olla_dmr_prom_label(p, &name);
                p = ngx_sprintf(p, "\",state=\"%s\"} 1\n",
                                r->state == OLLA_RES_RESIDENT ? "resident"
                                                              : "loading");
            }
        }
    }

#undef ngx_olla_dmr_prom_labels

    return p;
}
