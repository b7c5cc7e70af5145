
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Olla's own status paths, in Olla's shapes, so that scripts and
 * dashboards written for Olla keep working against the module:
 *
 *   status         the dashboard aggregate: proxy, endpoints, security,
 *                  system
 *   stats/models   per-model request statistics, with the endpoint
 *                  breakdown (?include_endpoints=true) and the per
 *                  endpoint summary (?include_summary=true)
 *   process        the worker process: memory, runtime, connections
 *   version        name, version, capabilities, supported backends
 *
 * Olla's human-readable strings ("100%", "15ms", "1.2 KB", "5s ago") are
 * kept where Olla has them; the module's own counts (tokens, time to
 * first token) are added under keys Olla does not use.  The data is the
 * zone's (ngx_olla_dmr_stats.c): a read of counters, no lock.
 */


#include "ngx_olla_dmr.h"

#include <jansson.h>
#include <sys/utsname.h>


static ngx_int_t ngx_olla_dmr_olla_overview(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf);
static ngx_int_t ngx_olla_dmr_olla_models(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf);
static ngx_int_t ngx_olla_dmr_olla_process(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf);
static ngx_int_t ngx_olla_dmr_olla_version(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf);
static json_t *ngx_olla_dmr_olla_time(time_t t);
static json_t *ngx_olla_dmr_olla_ago(time_t t, time_t now);
static json_t *ngx_olla_dmr_olla_bytes(uint64_t n);
static json_t *ngx_olla_dmr_olla_ms(ngx_msec_t ms);
static json_t *ngx_olla_dmr_olla_span(time_t s);
static double ngx_olla_dmr_olla_rate(ngx_olla_dmr_mstat_t *m,
    ngx_uint_t *total);
static json_t *ngx_olla_dmr_olla_percent(double rate, ngx_uint_t total);
static json_t *ngx_olla_dmr_olla_id(ngx_str_t *url);
static ngx_int_t ngx_olla_dmr_olla_arg_true(ngx_http_request_t *r,
    char *name, size_t len);
static ngx_uint_t ngx_olla_dmr_olla_inflight(ngx_olla_dmr_main_conf_t *omcf);


/* NGX_DECLINED: not one of Olla's paths */

ngx_int_t
ngx_olla_dmr_olla_status(ngx_http_request_t *r, ngx_str_t *rest)
{
    ngx_olla_dmr_main_conf_t  *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    if (omcf->shpool == NULL) {
        return NGX_DECLINED;
    }

    if (rest->len == 6 && ngx_strncmp(rest->data, "status", 6) == 0) {
        return ngx_olla_dmr_olla_overview(r, omcf);
    }

    if (rest->len == 12 && ngx_strncmp(rest->data, "stats/models", 12) == 0)
    {
        return ngx_olla_dmr_olla_models(r, omcf);
    }

    if (rest->len == 7 && ngx_strncmp(rest->data, "process", 7) == 0) {
        return ngx_olla_dmr_olla_process(r, omcf);
    }

    /* "version" under the location, or a location "= /version" */

    if ((rest->len == 7 && ngx_strncmp(rest->data, "version", 7) == 0)
        || (rest->len == 0 && r->uri.len >= 8
            && ngx_strncmp(r->uri.data + r->uri.len - 8, "/version", 8)
               == 0))
    {
        return ngx_olla_dmr_olla_version(r, omcf);
    }

    return NGX_DECLINED;
}


/* Olla's /internal/status */

static ngx_int_t
ngx_olla_dmr_olla_overview(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf)
{
    time_t                      now;
    double                      rate, all_rate;
    json_t                     *root, *list, *e, *issues;
    ngx_str_t                  *lb;
    ngx_uint_t                  i, j, total, n, up, healthy, reqs, fails;
    ngx_uint_t                  conns, all_total, with_traffic;
    ngx_msec_int_t              next;
    ngx_olla_dmr_mstat_t        sum, all;
    ngx_olla_dmr_ep_sh_t       *sh;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;
    const char                 *status;
    u_char                      buf[32];

    now = ngx_time();
    upsp = omcf->upstreams.elts;

    root = json_object();
    list = json_array();

    if (root == NULL || list == NULL) {
        json_decref(root);
        json_decref(list);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;
    up = 0;
    healthy = 0;
    reqs = 0;
    fails = 0;
    conns = 0;
    ngx_memzero(&all, sizeof(ngx_olla_dmr_mstat_t));

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            sh = ep[j].sh;
            n++;

            up += ngx_olla_dmr_routable(&ep[j]);
            healthy += (sh->status == OLLA_HEALTH_HEALTHY);
            reqs += sh->requests;
            fails += sh->failures;
            conns += sh->inflight;

            ngx_olla_dmr_stats_sum(sh, &sum);
            ngx_olla_dmr_stats_add(&all, &sum);

            rate = ngx_olla_dmr_olla_rate(&sum, &total);

            if (sh->status == OLLA_HEALTH_OFFLINE
                || sh->status == OLLA_HEALTH_UNHEALTHY)
            {
                issues = json_string("unavailable");

            } else if (sh->consecutive_failures > 3) {
                issues = json_string("unstable");

            } else if (total > 10 && rate < 90) {
                issues = json_string("low success rate");

            } else {
                issues = json_string("");
            }

            next = (ngx_msec_int_t) (sh->next_check - ngx_current_msec);
            next = ngx_max(next, 0) / 1000;

            (void) ngx_sprintf(buf, "in %Ms%Z", (ngx_msec_t) next);

            e = json_pack("{s:{s:o, s:I}, s:o, s:s, s:o, s:o, s:o, s:o, "
                          "s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I}",
                          "models",
                          "last_updated",
                          ngx_olla_dmr_olla_time(sh->models_time),
                          "count", (json_int_t) sh->nmodels,
                          "name",
                          json_stringn((char *) ep[j].name.data,
                                       ep[j].name.len),
                          "status",
                          olla_health_name((olla_health_e) sh->status),
                          "success_rate",
                          ngx_olla_dmr_olla_percent(rate, total),
                          "avg_latency",
                          ngx_olla_dmr_olla_ms(total ? sum.duration_ms / total
                                                     : 0),
                          "traffic", ngx_olla_dmr_olla_bytes(sum.bytes),
                          "last_check",
                          ngx_olla_dmr_olla_ago(sh->last_check, now),
                          "next_check", (char *) buf,
                          "issues", issues,
                          "url",
                          json_stringn((char *) ep[j].url.data,
                                       ep[j].url.len),
                          "id", ngx_olla_dmr_olla_id(&ep[j].url),
                          "priority", (json_int_t) ep[j].priority,
                          "connections", (json_int_t) sh->inflight,
                          "requests", (json_int_t) sh->requests,
                          "min_latency_ms",
                          (json_int_t) (sum.min_ms ? sum.min_ms - 1 : 0),
                          "max_latency_ms",
                          (json_int_t) (sum.max_ms ? sum.max_ms - 1 : 0));

            if (e && sh->last_check) {
                json_object_set_new(e, "health_check_at",
                                    ngx_olla_dmr_olla_time(sh->last_check));
                json_object_set_new(e, "next_check_at",
                                    ngx_olla_dmr_olla_time(now
                                                           + (time_t) next));
            }

            if (e && total) {
                json_object_set_new(e, "avg_latency_ms",
                                    json_integer((json_int_t)
                                                 (sum.duration_ms / total)));
            }

            if (e == NULL || json_array_append_new(list, e) != 0) {
                json_decref(root);
                json_decref(list);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    /* Olla's verdict: the share healthy, and the success rate if any */

    all_rate = ngx_olla_dmr_olla_rate(&all, &all_total);
    with_traffic = all_total > 0;

    if (n == 0) {
        status = "critical";

    } else if ((double) healthy / n < 0.5
               || (with_traffic && all_rate < 90))
    {
        status = "critical";

    } else if ((double) healthy / n < 0.8
               || (with_traffic && all_rate < 95))
    {
        status = "degraded";

    } else {
        status = "healthy";
    }

    (void) ngx_sprintf(buf, "%ui/%ui%Z", up, n);

    lb = ngx_olla_dmr_lb_name(omcf->upstreams.nelts ? upsp[0]->lb
                                                    : OLLA_PICK_LEAST_CONN);

    if (json_object_set_new(root, "timestamp", ngx_olla_dmr_olla_time(now))
        || json_object_set_new(root, "proxy",
                               json_pack("{s:s, s:s, s:s%}",
                                         "engine", "nginx",
                                         "profile", "auto",
                                         "balancer", lb->data, lb->len))
        || json_object_set_new(root, "endpoints", list)
        || json_object_set_new(root, "security",
                               json_pack("{s:s, s:i, s:{s:i, s:i}}",
                                         "status", "normal",
                                         "blocked_ips", 0,
                                         "violations",
                                         "rate_limits", 0,
                                         "size_limits", 0))
        || json_object_set_new(root, "system",
               json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s, "
                         "s:I, s:i, s:I, s:I, s:b, s:I}",
                         "start_time", ngx_olla_dmr_olla_time(omcf->sh->start),
                         "status", status,
                         "endpoints_up", (char *) buf,
                         "success_rate",
                         ngx_olla_dmr_olla_percent(all_rate, all_total),
                         "avg_latency",
                         ngx_olla_dmr_olla_ms(all_total
                                              ? all.duration_ms / all_total
                                              : 0),
                         "total_traffic", ngx_olla_dmr_olla_bytes(all.bytes),
                         "uptime",
                         ngx_olla_dmr_olla_span(now - omcf->sh->start),
                         "version", NGX_OLLA_DMR_VERSION,
                         "commit", "none",
                         "active_connections", (json_int_t) conns,
                         "security_violations", 0,
                         "total_requests", (json_int_t) reqs,
                         "total_failures", (json_int_t) fails,
                         "has_traffic", (int) with_traffic,
                         "total_tokens",
                         (json_int_t) (all.tokens[0] + all.tokens[1]))))
    {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_olla_dmr_send_jansson(r, NGX_HTTP_OK, root);
}


/*
 * Olla's /internal/stats/models: one record per model name, added up
 * over the endpoints, the most requested first
 */

typedef struct {
    u_char                 *name;
    ngx_olla_dmr_mstat_t    sum;
} ngx_olla_dmr_olla_model_t;


static int ngx_libc_cdecl
ngx_olla_dmr_olla_cmp(const void *a, const void *b)
{
    const ngx_olla_dmr_olla_model_t  *x = a, *y = b;

    ngx_atomic_uint_t  nx, ny;

    nx = x->sum.requests[0] + x->sum.requests[1] + x->sum.requests[2]
         + x->sum.requests[3];
    ny = y->sum.requests[0] + y->sum.requests[1] + y->sum.requests[2]
         + y->sum.requests[3];

    if (nx != ny) {
        return nx > ny ? -1 : 1;
    }

    return ngx_strcmp(x->name, y->name);
}


static ngx_int_t
ngx_olla_dmr_olla_models(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf)
{
    time_t                      now;
    double                      rate, all_rate;
    json_t                     *root, *models, *m, *bd, *eps, *be;
    ngx_uint_t                  i, j, k, s, n, total, active, all_total;
    ngx_uint_t                  with_ep, with_sum, most_n, least_n;
    ngx_olla_dmr_mstat_t       *ms, all, epsum;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;
    ngx_olla_dmr_olla_model_t  *list;
    const char                 *most, *least;

    now = ngx_time();
    upsp = omcf->upstreams.elts;

    with_ep = ngx_olla_dmr_olla_arg_true(r, "include_endpoints", 17);
    with_sum = ngx_olla_dmr_olla_arg_true(r, "include_summary", 15);

    list = ngx_pcalloc(r->pool, (omcf->nendpoints + 1)
                                * NGX_OLLA_DMR_STAT_SLOTS
                                * sizeof(ngx_olla_dmr_olla_model_t));
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            for (s = 0; s < NGX_OLLA_DMR_STAT_SLOTS; s++) {
                ms = &ep[j].sh->mstat[s];

                if (ms->hash == 0) {
                    continue;
                }

                for (k = 0; k < n; k++) {
                    if (ngx_strcmp(list[k].name, ms->name) == 0) {
                        break;
                    }
                }

                if (k == n) {
                    list[n++].name = ms->name;
                }

                ngx_olla_dmr_stats_add(&list[k].sum, ms);
            }
        }
    }

    ngx_qsort(list, n, sizeof(ngx_olla_dmr_olla_model_t),
              ngx_olla_dmr_olla_cmp);

    root = json_object();
    models = json_array();
    eps = json_object();

    if (root == NULL || models == NULL || eps == NULL) {
        goto failed;
    }

    ngx_memzero(&all, sizeof(ngx_olla_dmr_mstat_t));
    active = 0;
    most = "";
    least = "";
    most_n = 0;
    least_n = 0;

    for (k = 0; k < n; k++) {
        ms = &list[k].sum;

        ngx_olla_dmr_stats_add(&all, ms);

        rate = ngx_olla_dmr_olla_rate(ms, &total);

        if (now - (time_t) ms->last < 3600) {
            active++;
        }

        if (total > most_n) {
            most = (char *) list[k].name;
            most_n = total;
        }

        if (total && (least_n == 0 || total <= least_n)) {
            least = (char *) list[k].name;
            least_n = total;
        }

        m = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, "
                      "s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:o, s:I}",
                      "name", (char *) list[k].name,
                      "success_rate",
                      ngx_olla_dmr_olla_percent(rate, total),
                      "total_traffic", ngx_olla_dmr_olla_bytes(ms->bytes),
                      "average_latency",
                      ngx_olla_dmr_olla_ms(total ? ms->duration_ms / total
                                                 : 0),
                      "p95_latency",
                      ngx_olla_dmr_olla_ms(ngx_olla_dmr_stats_quantile(ms, 0,
                                                                       0.95)),
                      "p99_latency",
                      ngx_olla_dmr_olla_ms(ngx_olla_dmr_stats_quantile(ms, 0,
                                                                       0.99)),
                      "last_requested",
                      ngx_olla_dmr_olla_ago((time_t) ms->last, now),
                      "total_requests", (json_int_t) total,
                      "successful_requests",
                      (json_int_t) (ms->requests[0] + ms->requests[1]),
                      "failed_requests",
                      (json_int_t) (ms->requests[2] + ms->requests[3]),
                      "unique_clients",
                      (json_int_t) ngx_olla_dmr_stats_clients(ms),
                      "routing_hits",
                      (json_int_t) (ms->decisions[OLLA_REASON_RESIDENT]
                                    + ms->decisions[OLLA_REASON_AFFINITY]
                                    + ms->decisions[OLLA_REASON_LOADING]),
                      "routing_misses",
                      (json_int_t) ms->decisions[OLLA_REASON_COLD],
                      "routing_fallbacks",
                      (json_int_t) (ms->decisions[OLLA_REASON_FALLBACK]
                                    + ms->decisions[OLLA_REASON_SPILL]),
                      "tokens",
                      "prompt", (json_int_t) ms->tokens[0],
                      "completion", (json_int_t) ms->tokens[1],
                      "cached", (json_int_t) ms->tokens[2],
                      "average_ttft",
                      ngx_olla_dmr_olla_ms(ngx_olla_dmr_stats_quantile(ms, 1,
                                                                       0.5)),
                      "streams_cut",
                      (json_int_t) (ms->cut[0] + ms->cut[1] + ms->cut[2]));

        if (m == NULL || json_array_append_new(models, m) != 0) {
            goto failed;
        }

        if (!with_ep) {
            continue;
        }

        /* endpoint_breakdown: this model at each endpoint */

        bd = json_object();
        if (bd == NULL || json_object_set_new(m, "endpoint_breakdown", bd)) {
            goto failed;
        }

        for (i = 0; i < omcf->upstreams.nelts; i++) {
            ep = upsp[i]->endpoints.elts;

            for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
                for (s = 0; s < NGX_OLLA_DMR_STAT_SLOTS; s++) {
                    ms = &ep[j].sh->mstat[s];

                    if (ms->hash
                        && ngx_strcmp(ms->name, list[k].name) == 0)
                    {
                        break;
                    }
                }

                if (s == NGX_OLLA_DMR_STAT_SLOTS) {
                    continue;
                }

                rate = ngx_olla_dmr_olla_rate(ms, &total);

                be = json_pack("{s:s%, s:o, s:o, s:I, s:f, s:I}",
                               "endpoint_name", ep[j].name.data,
                               ep[j].name.len,
                               "average_latency",
                               ngx_olla_dmr_olla_ms(total
                                                    ? ms->duration_ms / total
                                                    : 0),
                               "last_used",
                               ngx_olla_dmr_olla_ago((time_t) ms->last, now),
                               "request_count", (json_int_t) total,
                               "success_rate", rate,
                               "consecutive_errors",
                               (json_int_t) ep[j].sh->cb_failures);

                if (be == NULL
                    || json_object_setn_new(bd, (char *) ep[j].name.data,
                                            ep[j].name.len, be))
                {
                    goto failed;
                }
            }
        }
    }

    /* endpoints: every model at each endpoint, with include_summary */

    for (i = 0; with_sum && i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            ngx_olla_dmr_stats_sum(ep[j].sh, &epsum);

            rate = ngx_olla_dmr_olla_rate(&epsum, &total);

            be = json_pack("{s:s%, s:o, s:o, s:I, s:f, s:I}",
                           "endpoint_name", ep[j].name.data, ep[j].name.len,
                           "average_latency",
                           ngx_olla_dmr_olla_ms(total
                                                ? epsum.duration_ms / total
                                                : 0),
                           "last_used",
                           ngx_olla_dmr_olla_ago((time_t) epsum.last, now),
                           "request_count", (json_int_t) total,
                           "success_rate", rate,
                           "consecutive_errors",
                           (json_int_t) ep[j].sh->cb_failures);

            if (be == NULL
                || json_object_setn_new(eps, (char *) ep[j].name.data,
                                        ep[j].name.len, be))
            {
                goto failed;
            }
        }
    }

    all_rate = ngx_olla_dmr_olla_rate(&all, &all_total);

    if (json_object_set_new(root, "timestamp", ngx_olla_dmr_olla_time(now))
        || json_object_set_new(root, "endpoints", eps)
        || json_object_set_new(root, "models", models)
        || json_object_set_new(root, "summary",
               json_pack("{s:o, s:o, s:s, s:s, s:I, s:I, s:I}",
                         "overall_success_rate",
                         ngx_olla_dmr_olla_percent(all_rate, all_total),
                         "total_traffic", ngx_olla_dmr_olla_bytes(all.bytes),
                         "most_popular_model", most,
                         "least_popular_model", least,
                         "total_models", (json_int_t) n,
                         "active_models", (json_int_t) active,
                         "total_requests", (json_int_t) all_total)))
    {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_olla_dmr_send_jansson(r, NGX_HTTP_OK, root);

failed:

    json_decref(root);
    json_decref(models);
    json_decref(eps);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* Olla's /internal/process: this worker and the zone */

static ngx_int_t
ngx_olla_dmr_olla_process(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf)
{
    int                fd;
    time_t             now;
    double             used;
    ssize_t            n;
    uint64_t           rss;
    ngx_uint_t         pages, free, conns;
    ngx_core_conf_t   *ccf;
    const char        *pressure;
    u_char             buf[128], *p, *last;

    now = ngx_time();

    /* the resident set: /proc/self/statm's second field, in pages */

    rss = 0;

    fd = open("/proc/self/statm", O_RDONLY);

    if (fd != -1) {
        n = read(fd, buf, sizeof(buf) - 1);
        (void) close(fd);

        if (n > 0) {
            last = buf + n;

            for (p = buf; p < last && *p != ' '; p++) { /* void */ }

            for (p++; p < last && *p >= '0' && *p <= '9'; p++) {
                rss = rss * 10 + (*p - '0');
            }

            rss *= ngx_pagesize;
        }
    }

    pages = (omcf->shpool->end - (u_char *) omcf->shpool) / ngx_pagesize;
    free = omcf->shpool->pfree;
    used = pages ? (double) (pages - ngx_min(free, pages)) / pages : 0;

    pressure = used > 0.9 ? "high" : used > 0.7 ? "medium" : "low";

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    conns = ngx_cycle->connection_n - ngx_cycle->free_connection_n;

    return ngx_olla_dmr_send_jansson(r, NGX_HTTP_OK,
        json_pack("{s:o, s:{s:o, s:I, s:o, s:o, s:s}, "
                  "s:{s:o, s:s, s:s, s:I, s:i, s:I, s:I}, "
                  "s:{s:I, s:I}}",
                  "timestamp", ngx_olla_dmr_olla_time(now),
                  "memory",
                  "rss", ngx_olla_dmr_olla_bytes(rss),
                  "rss_bytes", (json_int_t) rss,
                  "zone_size",
                  ngx_olla_dmr_olla_bytes((uint64_t) pages * ngx_pagesize),
                  "zone_free",
                  ngx_olla_dmr_olla_bytes((uint64_t) free * ngx_pagesize),
                  "memory_pressure", pressure,
                  "runtime",
                  "uptime", ngx_olla_dmr_olla_span(now - omcf->sh->start),
                  "nginx_version", NGINX_VERSION,
                  "module_version", NGX_OLLA_DMR_VERSION,
                  "num_cpu", (json_int_t) ngx_ncpu,
                  "worker_processes",
                  ccf ? (int) ccf->worker_processes : 1,
                  "pid", (json_int_t) ngx_pid,
                  "worker_connections", (json_int_t) ngx_cycle->connection_n,
                  "connections",
                  "active", (json_int_t) conns,
                  "in_flight_to_endpoints",
                  (json_int_t) ngx_olla_dmr_olla_inflight(omcf)));
}


/* Olla's /version */

static ngx_int_t
ngx_olla_dmr_olla_version(ngx_http_request_t *r,
    ngx_olla_dmr_main_conf_t *omcf)
{
    size_t                     i;
    json_t                    *backends;
    struct utsname             u;
    ngx_http_core_loc_conf_t  *clcf;
    u_char                     platform[2 * sizeof(u.machine) + 2];
    u_char                     paths[4][256];

    static const char         *names[] = {
        "health", "status", "process", "version"
    };

    backends = json_array();
    if (backends == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; omcf->profiles && i < omcf->profiles->n; i++) {
        json_array_append_new(backends,
                              json_string(omcf->profiles->profiles[i].name));
    }

    if (uname(&u) == 0) {
        (void) ngx_sprintf(platform, "%s/%s%Z", u.sysname, u.machine);
        ngx_strlow(platform, platform, ngx_strlen(platform));

    } else {
        (void) ngx_cpystrn(platform, (u_char *) "unknown", sizeof(platform));
    }

    /* where the other paths are: beside this one, under its location */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    for (i = 0; i < 4; i++) {
        if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/'
            && clcf->name.len < 200)
        {
            (void) ngx_sprintf(paths[i], "%V%s%Z", &clcf->name, names[i]);

        } else {
            (void) ngx_sprintf(paths[i], "/internal/%s%Z", names[i]);
        }
    }

    return ngx_olla_dmr_send_jansson(r, NGX_HTTP_OK,
        json_pack("{s:{s:{s:s, s:s, s:s, s:s}, s:s}, s:{s:s, s:s, s:s}, "
                  "s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:s, "
                  "s:[s, s, s, s, s, s, s, s, s, s], s:[], s:o}",
                  "api",
                  "endpoints",
                  "health", paths[0], "status", paths[1],
                  "process", paths[2], "version", paths[3],
                  "version", "v1",
                  "links",
                  "homepage", "https://github.com/thushan/olla",
                  "documentation", "https://nginx.org/en/docs/",
                  "releases", "https://nginx.org/en/download.html",
                  "build",
                  "commit", "none",
                  "date", "unknown",
                  "nginx_version", NGINX_VERSION,
                  "platform", (char *) platform,
                  "name", "ngx_olla_dmr",
                  "version", NGX_OLLA_DMR_VERSION,
                  "edition", "nginx",
                  "description", "An Olla-compatible LLM gateway in nginx",
                  "capabilities",
                  "load-balancing", "health-checks", "circuit-breaker",
                  "model-discovery", "streaming", "anthropic-messages",
                  "responses-api", "resident-first-routing",
                  "conversation-affinity", "prometheus-metrics",
                  "capabilities_experimental",
                  "supported_backends", backends));
}


/* RFC 3339, UTC; null for never */

static json_t *
ngx_olla_dmr_olla_time(time_t t)
{
    ngx_tm_t  tm;
    u_char    buf[sizeof("1970-09-28T12:00:00Z")];

    if (t == 0) {
        return json_null();
    }

    ngx_gmtime(t, &tm);

    (void) ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    return json_string((char *) buf);
}


/* "5s ago", "3m ago", "2h ago", "4d ago"; "never" */

static json_t *
ngx_olla_dmr_olla_ago(time_t t, time_t now)
{
    time_t  d;
    u_char  buf[32];

    if (t == 0) {
        return json_string("never");
    }

    d = now > t ? now - t : 0;

    if (d < 60) {
        (void) ngx_sprintf(buf, "%Ts ago%Z", d);

    } else if (d < 3600) {
        (void) ngx_sprintf(buf, "%Tm ago%Z", d / 60);

    } else if (d < 86400) {
        (void) ngx_sprintf(buf, "%Th ago%Z", d / 3600);

    } else {
        (void) ngx_sprintf(buf, "%Td ago%Z", d / 86400);
    }

    return json_string((char *) buf);
}


/* "0 B", "512 B", "1.2 KB", "3.4 MB", "1.0 GB" (1024s) */

static json_t *
ngx_olla_dmr_olla_bytes(uint64_t n)
{
    double       v;
    ngx_uint_t   u;
    u_char       buf[32];

    static const char  *units[] = { "B", "KB", "MB", "GB", "TB" };

    if (n < 1024) {
        (void) ngx_sprintf(buf, "%uL B%Z", n);
        return json_string((char *) buf);
    }

    v = (double) n;

    for (u = 0; v >= 1024 && u < 4; u++) {
        v /= 1024;
    }

    (void) ngx_sprintf(buf, "%.1f %s%Z", v, units[u]);

    return json_string((char *) buf);
}


/* "15ms", "1.25s" */

static json_t *
ngx_olla_dmr_olla_ms(ngx_msec_t ms)
{
    u_char  buf[32];

    if (ms < 1000) {
        (void) ngx_sprintf(buf, "%Mms%Z", ms);

    } else {
        (void) ngx_sprintf(buf, "%M.%02Ms%Z", ms / 1000, (ms % 1000) / 10);
    }

    return json_string((char *) buf);
}


/* "45s", "5m30s", "2h3m4s", "3d4h" */

static json_t *
ngx_olla_dmr_olla_span(time_t s)
{
    u_char  buf[48];

    if (s < 0) {
        s = 0;
    }

    if (s < 60) {
        (void) ngx_sprintf(buf, "%Ts%Z", s);

    } else if (s < 3600) {
        (void) ngx_sprintf(buf, "%Tm%Ts%Z", s / 60, s % 60);

    } else if (s < 86400) {
        (void) ngx_sprintf(buf, "%Th%Tm%Ts%Z", s / 3600, s % 3600 / 60,
                           s % 60);

    } else {
        (void) ngx_sprintf(buf, "%Td%Th%Z", s / 86400, s % 86400 / 3600);
    }

    return json_string((char *) buf);
}


/* the share of answers that were not errors, percent; total: answers */

static double
ngx_olla_dmr_olla_rate(ngx_olla_dmr_mstat_t *m, ngx_uint_t *total)
{
    ngx_uint_t  ok;

    ok = m->requests[0] + m->requests[1];
    *total = ok + m->requests[2] + m->requests[3];

    return *total ? 100.0 * ok / *total : 0;
}


/* Olla's "%.1f%%", "0%", "100%"; "N/A" without traffic */

static json_t *
ngx_olla_dmr_olla_percent(double rate, ngx_uint_t total)
{
    u_char  buf[16];

    if (total == 0) {
        return json_string("N/A");
    }

    if (rate >= 100) {
        return json_string("100%");
    }

    if (rate <= 0) {
        return json_string("0%");
    }

    (void) ngx_sprintf(buf, "%.1f%%%Z", rate);

    return json_string((char *) buf);
}


/* Olla's endpoint id: FNV-1a (32 bits) of the URL, in base 36 */

static json_t *
ngx_olla_dmr_olla_id(ngx_str_t *url)
{
    size_t    i;
    u_char    buf[16], *p;
    uint32_t  h;

    h = 0x811c9dc5;

    for (i = 0; i < url->len; i++) {
        h ^= url->data[i];
        h *= 0x01000193;
    }

    p = buf + sizeof(buf);
    *--p = '\0';

    do {
        *--p = "0123456789abcdefghijklmnopqrstuvwxyz"[h % 36];
        h /= 36;
    } while (h);

    return json_string((char *) p);
}


static ngx_int_t
ngx_olla_dmr_olla_arg_true(ngx_http_request_t *r, char *name, size_t len)
{
    ngx_str_t  v;

    if (ngx_http_arg(r, (u_char *) name, len, &v) != NGX_OK) {
        return 0;
    }

    return v.len == 4 && ngx_strncasecmp(v.data, (u_char *) "true", 4) == 0;
}


static ngx_uint_t
ngx_olla_dmr_olla_inflight(ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_uint_t                  i, j, n;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;

    n = 0;
    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            n += ep[j].sh->inflight;
        }
    }

    return n;
}
