
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Active health checks and the passive circuit breaker (SPEC 6).
 *
 * Every worker (or the single process with master_process off) keeps one
 * cancelable timer per endpoint.  When an endpoint's next check is due, the
 * first process to take its lease in the shared zone probes it; the others
 * see the new next_check and sleep until then, so one probe per endpoint
 * per interval reaches the backend whatever worker_processes is.  A probe
 * is a non-blocking GET of the health URL (over TLS for https endpoints),
 * bounded by check_timeout, read into a bounded buffer and classified by
 * olla_probe_classify().  After a healthy answer, the endpoint's running
 * models (DMR's /engines/ps, Ollama's /api/ps) are read under the same
 * lease into its residency, and models it should keep loaded (preload=)
 * that are neither loaded nor loading are loaded: DMR's X-Preload-Only
 * request, Ollama's empty generate.  Such a load request runs on its own
 * connection, bounded by the type's timeout, at most one per model at a
 * time.  Probe connections log through a quiet log: the verdict, not
 * nginx's connect() errors, is what an operator reads.
 */


#include "ngx_olla_dmr.h"


#define NGX_OLLA_DMR_STEP_HEALTH   0
#define NGX_OLLA_DMR_STEP_MODELS   1
#define NGX_OLLA_DMR_STEP_PS       2
#define NGX_OLLA_DMR_STEP_LOAD     3     /* a load request, on its own */


struct ngx_olla_dmr_probe_s {
    ngx_olla_dmr_endpoint_t     *ep;
    ngx_olla_dmr_main_conf_t    *omcf;
    ngx_msec_t                   next;       /* the next probe, once done */
    time_t                       ps_since;   /* when the ps read began */
    ngx_str_t                    load;       /* STEP_LOAD: the model */
    ngx_atomic_t                *load_busy;  /* its in-flight flag */
    ngx_peer_connection_t        peer;
    ngx_pool_t                  *pool;
    ngx_buf_t                   *request;
    ngx_buf_t                   *buffer;
    olla_http_resp_t             resp;
    ngx_msec_t                   start;      /* of the first step */
    ngx_msec_t                   latency;    /* of the health answer */
    int64_t                      retry_after;   /* seconds, -1: none */
    ngx_event_t                  deadline;
    ngx_uint_t                   step;       /* NGX_OLLA_DMR_STEP_* */
    ngx_uint_t                   want_models;
    unsigned                     active:1;
    unsigned                     connected:1;
};


static void ngx_olla_dmr_probe_timer(ngx_event_t *ev);
static void ngx_olla_dmr_probe_arm(ngx_olla_dmr_endpoint_t *ep,
    ngx_msec_t delay);
static void ngx_olla_dmr_probe_start(ngx_olla_dmr_probe_t *pr);
static void ngx_olla_dmr_probe_handler(ngx_event_t *ev);
static void ngx_olla_dmr_probe_deadline(ngx_event_t *ev);
#if (NGX_SSL)
static void ngx_olla_dmr_probe_ssl_done(ngx_connection_t *c);
#endif
static void ngx_olla_dmr_probe_io(ngx_olla_dmr_probe_t *pr);
static void ngx_olla_dmr_probe_close(ngx_olla_dmr_probe_t *pr);
static void ngx_olla_dmr_probe_fail(ngx_olla_dmr_probe_t *pr,
    olla_health_e status, const char *reason);
static void ngx_olla_dmr_probe_response(ngx_olla_dmr_probe_t *pr);
static void ngx_olla_dmr_probe_done(ngx_olla_dmr_probe_t *pr,
    olla_health_e status, const char *reason, olla_model_list_t *models);
static u_char *ngx_olla_dmr_probe_log_handler(ngx_log_t *log, u_char *buf,
    size_t len);
static void ngx_olla_dmr_probe_ps_answer(ngx_olla_dmr_probe_t *pr);
static void ngx_olla_dmr_probe_ps(ngx_olla_dmr_probe_t *pr, ngx_uint_t ok,
    const char *reason);
static ngx_int_t ngx_olla_dmr_load_request(ngx_olla_dmr_probe_t *pr);
static ngx_msec_t ngx_olla_dmr_load_timeout(ngx_olla_dmr_endpoint_t *ep);
static void ngx_olla_dmr_probe_finish(ngx_olla_dmr_probe_t *pr);
static void ngx_olla_dmr_preload_check(ngx_olla_dmr_probe_t *pr);
static ngx_int_t ngx_olla_dmr_load(ngx_olla_dmr_endpoint_t *ep,
    ngx_str_t *model, ngx_atomic_t *busy);
static void ngx_olla_dmr_load_done(ngx_olla_dmr_probe_t *pr, ngx_uint_t ok,
    const char *reason);
static void ngx_olla_dmr_health_set(ngx_olla_dmr_endpoint_t *ep,
    olla_health_e status, const char *reason, size_t len);


static ngx_log_t  ngx_olla_dmr_quiet_log;


ngx_int_t
ngx_olla_dmr_health_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i, j;
    ngx_olla_dmr_probe_t       *pr;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;
    ngx_olla_dmr_main_conf_t   *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_olla_dmr_module);

    if (omcf == NULL || omcf->nendpoints == 0 || omcf->shpool == NULL) {
        return NGX_OK;
    }

    /*
     * probe connections log through a copy of the cycle's log that only
     * lets critical messages through; verdicts are logged by the module
     */

    ngx_olla_dmr_quiet_log = *cycle->log;
    ngx_olla_dmr_quiet_log.log_level = NGX_LOG_CRIT;
    ngx_olla_dmr_quiet_log.handler = ngx_olla_dmr_probe_log_handler;
    ngx_olla_dmr_quiet_log.data = NULL;

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {

            pr = ngx_pcalloc(cycle->pool, sizeof(ngx_olla_dmr_probe_t));
            if (pr == NULL) {
                return NGX_ERROR;
            }

            pr->ep = &ep[j];
            pr->omcf = omcf;
            ep[j].probe = pr;

            ep[j].timer.handler = ngx_olla_dmr_probe_timer;
            ep[j].timer.data = &ep[j];
            ep[j].timer.log = cycle->log;
            ep[j].timer.cancelable = 1;

            pr->deadline.handler = ngx_olla_dmr_probe_deadline;
            pr->deadline.data = pr;
            pr->deadline.log = cycle->log;
            pr->deadline.cancelable = 1;

            /* soon, spread a little so workers do not all race at once */
            ngx_add_timer(&ep[j].timer, 10 + ngx_random() % 90);
        }
    }

    return NGX_OK;
}


static u_char *
ngx_olla_dmr_probe_log_handler(ngx_log_t *log, u_char *buf, size_t len)
{
    return ngx_snprintf(buf, len, " while probing an olla endpoint");
}


static void
ngx_olla_dmr_probe_arm(ngx_olla_dmr_endpoint_t *ep, ngx_msec_t delay)
{
    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* a little jitter keeps workers from waking together */
    delay += ngx_random() % 20;

    ngx_add_timer(&ep->timer, delay);
}


static void
ngx_olla_dmr_probe_timer(ngx_event_t *ev)
{
    ngx_msec_t                 now, stale;
    ngx_atomic_uint_t          lease;
    ngx_olla_dmr_ep_sh_t      *sh;
    ngx_olla_dmr_endpoint_t   *ep;

    ep = ev->data;
    sh = ep->sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (ep->probe->active) {
        return;
    }

    now = ngx_current_msec;

    if ((ngx_msec_int_t) (sh->next_check - now) > 0) {
        ngx_olla_dmr_probe_arm(ep, sh->next_check - now);
        return;
    }

    lease = sh->lease;
    stale = 2 * ep->timeout + 5000;

    if (lease != 0) {
        if ((ngx_msec_int_t) (now - sh->lease_time) < (ngx_msec_int_t) stale)
        {
            /* another process is probing: look again after its timeout */
            ngx_olla_dmr_probe_arm(ep, ep->timeout / 2 + 50);
            return;
        }

        /* its prober died: take the lease over */
    }

    if (!ngx_atomic_cmp_set(&sh->lease, lease, (ngx_atomic_uint_t) ngx_pid)) {
        ngx_olla_dmr_probe_arm(ep, ep->timeout / 2 + 50);
        return;
    }

    if ((ngx_msec_int_t) (sh->next_check - now) > 0) {
        /* a probe finished between our look and the lease */
        sh->lease = 0;
        ngx_olla_dmr_probe_arm(ep, sh->next_check - now);
        return;
    }

    sh->lease_time = now;

    ep->probe->step = 0;
    ngx_olla_dmr_probe_start(ep->probe);
}


static void
ngx_olla_dmr_probe_start(ngx_olla_dmr_probe_t *pr)
{
    size_t                     len;
    ngx_int_t                  rc;
    ngx_str_t                 *uri;
    ngx_connection_t          *c;
    ngx_peer_connection_t     *pc;
    ngx_olla_dmr_endpoint_t   *ep;

    ep = pr->ep;

    pr->active = 1;
    pr->connected = 0;

    if (pr->step == NGX_OLLA_DMR_STEP_HEALTH) {
        pr->start = ngx_current_msec;
        pr->latency = 0;
        pr->retry_after = -1;
    }

    switch (pr->step) {

    case NGX_OLLA_DMR_STEP_HEALTH:
        pr->want_models = (ep->health_url.len == ep->model_url.len
                           && ngx_strncmp(ep->health_url.data,
                                          ep->model_url.data,
                                          ep->model_url.len)
                              == 0);
        uri = &ep->health_url;
        break;

    case NGX_OLLA_DMR_STEP_MODELS:
        pr->want_models = 1;
        uri = &ep->model_url;
        break;

    case NGX_OLLA_DMR_STEP_PS:
        pr->want_models = 0;
        pr->ps_since = ngx_time();
        uri = &ep->ps_url;
        break;

    default: /* NGX_OLLA_DMR_STEP_LOAD */
        pr->want_models = 0;
        uri = NULL;
        break;
    }

    pr->pool = ngx_create_pool(2048, &ngx_olla_dmr_quiet_log);
    if (pr->pool == NULL) {
        goto failed;
    }

    pr->buffer = ngx_create_temp_buf(pr->pool, 16384);
    if (pr->buffer == NULL) {
        goto failed;
    }

    if (uri) {
        len = sizeof("GET  HTTP/1.0" CRLF "Host: " CRLF
                     "User-Agent: ngx_olla_dmr/" NGX_OLLA_DMR_VERSION CRLF
                     "Accept: application/json" CRLF
                     "Connection: close" CRLF CRLF) - 1
              + uri->len + ep->host.len;

        pr->request = ngx_create_temp_buf(pr->pool, len);
        if (pr->request == NULL) {
            goto failed;
        }

        pr->request->last = ngx_sprintf(pr->request->last,
                                        "GET %V HTTP/1.0" CRLF
                                        "Host: %V" CRLF
                                        "User-Agent: ngx_olla_dmr/"
                                        NGX_OLLA_DMR_VERSION CRLF
                                        "Accept: application/json" CRLF
                                        "Connection: close" CRLF CRLF,
                                        uri, &ep->host);

    } else if (ngx_olla_dmr_load_request(pr) != NGX_OK) {
        goto failed;
    }

    olla_http_resp_init(&pr->resp, OLLA_PROBE_MAX_BODY);

    pc = &pr->peer;
    ngx_memzero(pc, sizeof(ngx_peer_connection_t));

    pc->sockaddr = ep->addr->sockaddr;
    pc->socklen = ep->addr->socklen;
    pc->name = &ep->addr->name;
    pc->get = ngx_event_get_peer;
    pc->log = &ngx_olla_dmr_quiet_log;
    pc->log_error = NGX_ERROR_INFO;

    ngx_add_timer(&pr->deadline, pr->step == NGX_OLLA_DMR_STEP_LOAD
                                 ? ngx_olla_dmr_load_timeout(ep)
                                 : ep->timeout);

    rc = ngx_event_connect_peer(pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                "connection refused");
        return;
    }

    c = pc->connection;
    c->data = pr;
    c->pool = pr->pool;
    c->read->handler = ngx_olla_dmr_probe_handler;
    c->write->handler = ngx_olla_dmr_probe_handler;

    if (rc == NGX_OK) {
        pr->connected = 1;
        ngx_olla_dmr_probe_io(pr);
    }

    /* NGX_AGAIN: the write event tells when the connection is up */

    return;

failed:

    ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_UNHEALTHY,
                            "out of memory starting a probe");
}


static void
ngx_olla_dmr_probe_deadline(ngx_event_t *ev)
{
    ngx_olla_dmr_probe_t  *pr = ev->data;

    ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE, "timed out");
}


static void
ngx_olla_dmr_probe_handler(ngx_event_t *ev)
{
    int                    err;
    socklen_t              len;
    ngx_connection_t      *c;
    ngx_olla_dmr_probe_t  *pr;

    c = ev->data;
    pr = c->data;

    if (!pr->connected) {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                    err == NGX_ECONNREFUSED
                                    ? "connection refused"
                                    : "connection failed");
            return;
        }

        pr->connected = 1;
    }

    ngx_olla_dmr_probe_io(pr);
}


static void
ngx_olla_dmr_probe_io(ngx_olla_dmr_probe_t *pr)
{
    int                 rc;
    ssize_t             n;
    ngx_buf_t          *b;
    ngx_connection_t   *c;

    c = pr->peer.connection;

#if (NGX_SSL)

    if (pr->ep->https && c->ssl == NULL) {

        if (ngx_ssl_create_connection(pr->omcf->ssl, c,
                                      NGX_SSL_BUFFER|NGX_SSL_CLIENT)
            != NGX_OK)
        {
            ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_UNHEALTHY,
                                    "TLS setup failed");
            return;
        }

#ifdef SSL_CTRL_SET_TLSEXT_HOSTNAME
        if (pr->ep->sni.len && pr->ep->sni.data[0] != '[') {
            u_char  sni[256];

            if (pr->ep->sni.len < sizeof(sni)) {
                ngx_memcpy(sni, pr->ep->sni.data, pr->ep->sni.len);
                sni[pr->ep->sni.len] = '\0';

                (void) SSL_set_tlsext_host_name(c->ssl->connection,
                                                (char *) sni);
            }
        }
#endif

        c->log->action = "TLS handshake with an olla endpoint";

        rc = ngx_ssl_handshake(c);

        if (rc == NGX_AGAIN) {
            c->ssl->handler = ngx_olla_dmr_probe_ssl_done;
            return;
        }

        if (rc != NGX_OK || !c->ssl->handshaked) {
            ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                    "TLS handshake failed");
            return;
        }
    }

#endif

    /* send the request */

    b = pr->request;

    while (b->pos < b->last) {
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                        "send failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                    "connection reset while sending");
            return;
        }

        b->pos += n;
    }

    /* read the response */

    b = pr->buffer;

    for ( ;; ) {
        n = c->recv(c, b->start, b->end - b->start);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                        "recv failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                    "connection reset");
            return;
        }

        if (n == 0) {
            rc = olla_http_resp_eof(&pr->resp);

        } else {
            rc = olla_http_resp_feed(&pr->resp, (char *) b->start, n);
        }

        if (rc == OLLA_HTTP_AGAIN && n > 0) {
            continue;
        }

        if (rc == OLLA_HTTP_DONE) {
            ngx_olla_dmr_probe_response(pr);
            return;
        }

        if (rc == OLLA_HTTP_TOO_BIG) {
            ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_UNHEALTHY,
                                    "response body too large");
            return;
        }

        ngx_olla_dmr_probe_fail(pr, pr->resp.status ? OLLA_HEALTH_UNHEALTHY
                                                    : OLLA_HEALTH_OFFLINE,
                                pr->resp.err[0] ? pr->resp.err
                                                : "invalid response");
        return;
    }
}


#if (NGX_SSL)

static void
ngx_olla_dmr_probe_ssl_done(ngx_connection_t *c)
{
    ngx_olla_dmr_probe_t  *pr = c->data;

    if (!c->ssl->handshaked) {
        ngx_olla_dmr_probe_fail(pr, OLLA_HEALTH_OFFLINE,
                                "TLS handshake failed");
        return;
    }

    c->read->handler = ngx_olla_dmr_probe_handler;
    c->write->handler = ngx_olla_dmr_probe_handler;

    ngx_olla_dmr_probe_io(pr);
}

#endif


/*
 * A worker that exits with probes under way: their connections, pools and
 * the bodies read so far (malloc'd by the core) go, as a probe's end does
 */

void
ngx_olla_dmr_health_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i, j;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;
    ngx_olla_dmr_main_conf_t   *omcf;

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_olla_dmr_module);

    if (omcf == NULL || omcf->nendpoints == 0) {
        return;
    }

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            if (ep[j].probe) {
                ngx_olla_dmr_probe_close(ep[j].probe);
            }
        }
    }
}


static void
ngx_olla_dmr_probe_close(ngx_olla_dmr_probe_t *pr)
{
    ngx_connection_t  *c;

    if (pr->deadline.timer_set) {
        ngx_del_timer(&pr->deadline);
    }

    c = pr->peer.connection;

    if (c) {
#if (NGX_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        ngx_close_connection(c);
        pr->peer.connection = NULL;
    }

    olla_http_resp_free(&pr->resp);

    if (pr->pool) {
        ngx_destroy_pool(pr->pool);
        pr->pool = NULL;
    }
}


static void
ngx_olla_dmr_probe_fail(ngx_olla_dmr_probe_t *pr, olla_health_e status,
    const char *reason)
{
    u_char  buf[160];

    ngx_olla_dmr_probe_close(pr);

    switch (pr->step) {

    case NGX_OLLA_DMR_STEP_LOAD:
        ngx_olla_dmr_load_done(pr, 0, reason);
        return;

    case NGX_OLLA_DMR_STEP_PS:
        ngx_olla_dmr_probe_ps(pr, 0, reason);
        return;

    case NGX_OLLA_DMR_STEP_MODELS:
        ngx_snprintf(buf, sizeof(buf) - 1,
                     "healthy, but the model list failed: %s%Z", reason);
        ngx_olla_dmr_probe_done(pr, OLLA_HEALTH_HEALTHY, (char *) buf, NULL);
        return;

    default:
        ngx_olla_dmr_probe_done(pr, status, reason, NULL);
        return;
    }
}


static void
ngx_olla_dmr_probe_response(ngx_olla_dmr_probe_t *pr)
{
    char               reason[160];
    olla_health_e      status;
    olla_model_list_t  models;

    if (pr->step == NGX_OLLA_DMR_STEP_LOAD) {
        ngx_snprintf((u_char *) reason, sizeof(reason) - 1, "HTTP %d%Z",
                     pr->resp.status);
        status = (pr->resp.status >= 200 && pr->resp.status < 300)
                 ? OLLA_HEALTH_HEALTHY : OLLA_HEALTH_UNHEALTHY;

        ngx_olla_dmr_probe_close(pr);
        ngx_olla_dmr_load_done(pr, status == OLLA_HEALTH_HEALTHY, reason);
        return;
    }

    if (pr->step == NGX_OLLA_DMR_STEP_PS) {
        ngx_olla_dmr_probe_ps_answer(pr);
        return;
    }

    ngx_memzero(&models, sizeof(olla_model_list_t));

    status = olla_probe_classify(&pr->resp, pr->want_models, &models,
                                 reason, sizeof(reason));

    if (pr->step == NGX_OLLA_DMR_STEP_HEALTH) {
        pr->latency = ngx_current_msec - pr->start;
    }

    if (status == OLLA_HEALTH_RATE_LIMITED && pr->resp.retry_after[0]) {
        pr->retry_after = olla_retry_after_seconds(pr->resp.retry_after,
                                                   ngx_time());
    }

    ngx_olla_dmr_probe_close(pr);

    if (status == OLLA_HEALTH_HEALTHY && !pr->want_models) {
        /* health answered, the model list lives elsewhere: fetch it */
        pr->step = NGX_OLLA_DMR_STEP_MODELS;
        ngx_olla_dmr_probe_start(pr);
        return;
    }

    if (pr->step == NGX_OLLA_DMR_STEP_MODELS
        && status != OLLA_HEALTH_HEALTHY)
    {
        ngx_olla_dmr_probe_done(pr, OLLA_HEALTH_HEALTHY,
                                "healthy, but the model list could not be "
                                "read", NULL);
        return;
    }

    ngx_olla_dmr_probe_done(pr, status, reason,
                            status == OLLA_HEALTH_HEALTHY ? &models : NULL);

    olla_models_free(&models);
}


static void
ngx_olla_dmr_probe_done(ngx_olla_dmr_probe_t *pr, olla_health_e status,
    const char *reason, olla_model_list_t *models)
{
    size_t                    len;
    u_char                    buf[160];
    ngx_msec_t                now, next;
    ngx_olla_dmr_ep_sh_t     *sh;
    ngx_olla_dmr_endpoint_t  *ep;

    ep = pr->ep;
    sh = ep->sh;
    now = ngx_current_msec;

    pr->active = 0;

    sh->probes++;
    sh->last_check = ngx_time();
    sh->latency = pr->latency ? pr->latency : now - pr->start;

    if (status == OLLA_HEALTH_HEALTHY) {
        sh->consecutive_failures = 0;
        next = ep->interval;

        /*
         * every successful list replaces the endpoint's list; one that
         * does not fit is logged once by models_set, and said by the
         * reason at every probe
         */

        if (models
            && ngx_olla_dmr_models_set(pr->omcf, ep, models) == NGX_DECLINED)
        {
            ngx_snprintf(buf, sizeof(buf) - 1,
                         "%s; list not stored: olla_zone is full%Z", reason);
            reason = (char *) buf;
        }

    } else {
        sh->consecutive_failures++;
        next = (ngx_msec_t) olla_probe_backoff_ms(ep->interval,
                                                  sh->consecutive_failures);

        if (status == OLLA_HEALTH_RATE_LIMITED) {
            if (pr->retry_after >= 0
                && (uint64_t) pr->retry_after * 1000 > next)
            {
                next = (ngx_msec_t) ngx_min(pr->retry_after, 3600) * 1000;
            }
        }
    }

    len = ngx_min(ngx_strlen(reason), sizeof(sh->reason) - 1);
    ngx_memcpy(sh->reason, reason, len);
    sh->reason[len] = '\0';

    ngx_olla_dmr_health_set(ep, status, reason, len);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "olla: probe of \"%V\": %s (%s) %Mms, next in %Mms",
                   &ep->name, olla_health_name(status), reason,
                   sh->latency, next);

    pr->next = next;

    if (status == OLLA_HEALTH_HEALTHY && ep->ps_url.len) {
        /* what it has loaded, under the same lease */
        pr->step = NGX_OLLA_DMR_STEP_PS;
        ngx_olla_dmr_probe_start(pr);
        return;
    }

    ngx_olla_dmr_probe_finish(pr);
}


static void
ngx_olla_dmr_probe_finish(ngx_olla_dmr_probe_t *pr)
{
    ngx_olla_dmr_endpoint_t  *ep;

    ep = pr->ep;
    pr->active = 0;

    ep->sh->next_check = ngx_current_msec + pr->next;
    ep->sh->lease = 0;

    ngx_olla_dmr_probe_arm(ep, pr->next);
}


/* the running-models answer */

static void
ngx_olla_dmr_probe_ps_answer(ngx_olla_dmr_probe_t *pr)
{
    char            err[96];
    u_char          reason[128];
    olla_ps_list_t  list;

    if (pr->resp.status != 200) {
        ngx_snprintf(reason, sizeof(reason) - 1, "HTTP %d%Z",
                     pr->resp.status);
        ngx_olla_dmr_probe_close(pr);
        ngx_olla_dmr_probe_ps(pr, 0, (char *) reason);
        return;
    }

    if (olla_ps_parse(pr->resp.body ? pr->resp.body : "", pr->resp.body_len,
                      pr->ep->ps_format, &list, err, sizeof(err))
        != 0)
    {
        ngx_snprintf(reason, sizeof(reason) - 1, "invalid answer: %s%Z", err);
        ngx_olla_dmr_probe_close(pr);
        ngx_olla_dmr_probe_ps(pr, 0, (char *) reason);
        return;
    }

    ngx_olla_dmr_probe_close(pr);

    ngx_olla_dmr_res_set(pr->omcf, pr->ep, &list, pr->ps_since);
    olla_ps_free(&list);

    ngx_olla_dmr_probe_ps(pr, 1, NULL);
}


static void
ngx_olla_dmr_probe_ps(ngx_olla_dmr_probe_t *pr, ngx_uint_t ok,
    const char *reason)
{
    ngx_uint_t                was;
    ngx_olla_dmr_endpoint_t  *ep;

    ep = pr->ep;

    if (!ok) {
        was = ep->sh->res_known;

        if (ngx_olla_dmr_res_unknown(ep, reason)) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "olla: endpoint \"%V\" (%V): its running models "
                          "cannot be read from %V (%s)%s; it is routed "
                          "without residency", &ep->name, &ep->url,
                          &ep->ps_url, reason,
                          was ? "" : ", since the first probe");
        }

    } else {
        ngx_olla_dmr_preload_check(pr);
    }

    ngx_olla_dmr_probe_finish(pr);
}


/*
 * preload=: a model neither loaded nor loading is loaded, at most once
 * per check interval, never twice at a time (the flag is in the zone:
 * every process sees it)
 */

static void
ngx_olla_dmr_preload_check(ngx_olla_dmr_probe_t *pr)
{
    time_t                    now;
    ngx_uint_t                i, state, in_use;
    ngx_atomic_uint_t         busy;
    ngx_olla_dmr_ep_sh_t     *sh;
    ngx_olla_dmr_preload_t   *pl;
    ngx_olla_dmr_endpoint_t  *ep;

    ep = pr->ep;
    sh = ep->sh;

    if (ep->preload == NULL) {
        return;
    }

    now = ngx_time();
    pl = ep->preload->elts;

    for (i = 0; i < ep->preload->nelts && i < NGX_OLLA_DMR_PRELOADS; i++) {

        state = ngx_olla_dmr_res_lookup(ep, pl[i].hash, OLLA_PS_COMPLETION,
                                        &in_use);

        if (state == OLLA_RES_RESIDENT || state == OLLA_RES_LOADING) {
            continue;
        }

        if (now - sh->preload_time[i] < (time_t) (ep->interval / 1000)) {
            continue;
        }

        busy = sh->preload_busy[i];

        if (busy
            && now - sh->preload_time[i]
               < (time_t) (ngx_olla_dmr_load_timeout(ep) / 1000 + 10))
        {
            continue;
        }

        if (!ngx_atomic_cmp_set(&sh->preload_busy[i], busy, ngx_pid)) {
            continue;
        }

        sh->preload_time[i] = now;

        if (ngx_olla_dmr_load(ep, &pl[i].name, &sh->preload_busy[i])
            != NGX_OK)
        {
            sh->preload_busy[i] = 0;
            continue;
        }

        ngx_olla_dmr_res_mark(pr->omcf, ep, pl[i].hash, OLLA_PS_COMPLETION,
                              &pl[i].norm, OLLA_RES_LOADING);

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "olla: endpoint \"%V\": loading model \"%V\" "
                      "(preload=)", &ep->name, &pl[i].name);
    }
}


/*
 * Pre-warming: the pick saw every endpoint that has the model loaded busy
 * and named a cold one; one load per endpoint at a time, the same model
 * at most once per check interval.
 */

void
ngx_olla_dmr_prewarm(ngx_olla_dmr_endpoint_t *ep, ngx_str_t *model,
    uint64_t hash)
{
    time_t                     now;
    u_char                     norm[NGX_OLLA_DMR_RES_NAME];
    ngx_str_t                  n;
    ngx_uint_t                 i;
    ngx_olla_dmr_ep_sh_t      *sh;
    ngx_olla_dmr_main_conf_t  *omcf;

    sh = ep->sh;
    now = ngx_time();

    if (ep->ps_format == OLLA_PS_NONE || model->len == 0
        || model->len >= NGX_OLLA_DMR_RES_NAME)
    {
        return;
    }

    for (i = 0; i < model->len; i++) {
        if (model->data[i] < 0x20 || model->data[i] >= 0x7f
            || model->data[i] == '"' || model->data[i] == '\\')
        {
            return;
        }
    }

    if (sh->prewarm_hash == hash
        && now - sh->prewarm_time < (time_t) (ep->interval / 1000))
    {
        return;
    }

    if (!ngx_atomic_cmp_set(&sh->prewarm_busy, 0, ngx_pid)) {
        return;
    }

    sh->prewarm_hash = hash;
    sh->prewarm_time = now;

    if (ngx_olla_dmr_load(ep, model, &sh->prewarm_busy) != NGX_OK) {
        sh->prewarm_busy = 0;
        return;
    }

    omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_olla_dmr_module);

    n.data = norm;
    n.len = olla_model_normalise((char *) model->data, model->len,
                                 (char *) norm, sizeof(norm));
    n.len = ngx_min(n.len, sizeof(norm) - 1);

    ngx_olla_dmr_res_mark(omcf, ep, hash, OLLA_PS_COMPLETION, &n,
                          OLLA_RES_LOADING);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "olla: endpoint \"%V\": pre-warming model \"%V\": the "
                  "endpoints that have it loaded are busy", &ep->name, model);
}


/* a load request on its own connection (ep's prober keeps its lease) */

static ngx_int_t
ngx_olla_dmr_load(ngx_olla_dmr_endpoint_t *ep, ngx_str_t *model,
    ngx_atomic_t *busy)
{
    ngx_olla_dmr_probe_t  *pr;

    if (ngx_exiting || ngx_quit || ngx_terminate || ep->probe == NULL) {
        return NGX_DECLINED;
    }

    pr = ngx_calloc(sizeof(ngx_olla_dmr_probe_t) + model->len,
                    ngx_cycle->log);
    if (pr == NULL) {
        return NGX_ERROR;
    }

    pr->ep = ep;
    pr->omcf = ep->probe->omcf;
    pr->step = NGX_OLLA_DMR_STEP_LOAD;
    pr->load.data = (u_char *) (pr + 1);
    pr->load.len = model->len;
    ngx_memcpy(pr->load.data, model->data, model->len);
    pr->load_busy = busy;
    pr->start = ngx_current_msec;

    pr->deadline.handler = ngx_olla_dmr_probe_deadline;
    pr->deadline.data = pr;
    pr->deadline.log = ngx_cycle->log;
    pr->deadline.cancelable = 1;

    (void) ngx_atomic_fetch_add(&ep->sh->preloads, 1);

    ngx_olla_dmr_probe_start(pr);

    return NGX_OK;
}


static void
ngx_olla_dmr_load_done(ngx_olla_dmr_probe_t *pr, ngx_uint_t ok,
    const char *reason)
{
    ngx_olla_dmr_endpoint_t  *ep;

    ep = pr->ep;

    *pr->load_busy = 0;

    if (ok) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "olla: endpoint \"%V\" loaded model \"%V\" in %Mms",
                      &ep->name, &pr->load, ngx_current_msec - pr->start);

    } else {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "olla: endpoint \"%V\" did not load model \"%V\": %s",
                      &ep->name, &pr->load, reason);
    }

    ngx_free(pr);
}


/* a load takes as long as the type allows a request to wait */

static ngx_msec_t
ngx_olla_dmr_load_timeout(ngx_olla_dmr_endpoint_t *ep)
{
    uint64_t  ms;

    ms = olla_profile_timeout_ms(ep->profile, NULL, 0);

    if (ms < 60000) {
        ms = ep->profile->timeout_ms ? 60000 : 300000;
    }

    return (ngx_msec_t) ngx_min(ms, (uint64_t) 3600000);
}


/*
 * DMR: the type's chat path with "X-Preload-Only: true" loads the model
 * and answers 200 without generating; Ollama: an empty generate loads it.
 */

static ngx_int_t
ngx_olla_dmr_load_request(ngx_olla_dmr_probe_t *pr)
{
    size_t                    len, blen;
    u_char                    body[NGX_OLLA_DMR_RES_NAME + 64];
    const char               *path, *extra;
    ngx_olla_dmr_endpoint_t  *ep;

    ep = pr->ep;

    if (ep->ps_format == OLLA_PS_OLLAMA) {
        path = "/api/generate";
        extra = "";
        blen = ngx_snprintf(body, sizeof(body), "{\"model\":\"%V\"}",
                            &pr->load) - body;

    } else {
        path = ep->chat_path;
        extra = "X-Preload-Only: true" CRLF;
        blen = ngx_snprintf(body, sizeof(body),
                            "{\"model\":\"%V\",\"messages\":[]}",
                            &pr->load) - body;
    }

    if (path == NULL) {
        return NGX_ERROR;
    }

    len = sizeof("POST  HTTP/1.0" CRLF "Host: " CRLF
                 "User-Agent: ngx_olla_dmr/" NGX_OLLA_DMR_VERSION CRLF
                 "Content-Type: application/json" CRLF
                 "Content-Length: " CRLF
                 "Connection: close" CRLF CRLF) - 1
          + ngx_strlen(path) + ep->host.len + NGX_SIZE_T_LEN
          + ngx_strlen(extra) + blen;

    pr->request = ngx_create_temp_buf(pr->pool, len);
    if (pr->request == NULL) {
        return NGX_ERROR;
    }

    pr->request->last = ngx_sprintf(pr->request->last,
                                    "POST %s HTTP/1.0" CRLF
                                    "Host: %V" CRLF
                                    "User-Agent: ngx_olla_dmr/"
                                    NGX_OLLA_DMR_VERSION CRLF
                                    "Content-Type: application/json" CRLF
                                    "Content-Length: %uz" CRLF
                                    "%s"
                                    "Connection: close" CRLF CRLF
                                    "%*s",
                                    path, &ep->host, blen, extra, blen, body);

    return NGX_OK;
}


/* the one place an endpoint's health changes; logs transitions once */

static void
ngx_olla_dmr_health_set(ngx_olla_dmr_endpoint_t *ep, olla_health_e status,
    const char *reason, size_t len)
{
    ngx_uint_t             old, level;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;
    old = sh->status;

    if (old == (ngx_uint_t) status) {
        return;
    }

    if (!ngx_atomic_cmp_set(&sh->status, old, status)) {
        return;
    }

    sh->last_change = ngx_time();

    /*
     * what an operator must act on reaches Debian's default error log
     * (error and above); a recovery is a notice, the first verdict info
     */

    switch (status) {

    case OLLA_HEALTH_OFFLINE:
    case OLLA_HEALTH_CONFIG_ERROR:
        level = NGX_LOG_ERR;
        break;

    case OLLA_HEALTH_HEALTHY:
        level = (old == OLLA_HEALTH_UNKNOWN) ? NGX_LOG_INFO : NGX_LOG_NOTICE;
        break;

    default:
        level = NGX_LOG_WARN;
    }

    ngx_log_error(level, ngx_cycle->log, 0,
                  "olla: endpoint \"%V\" (%V) is %s, was %s: %*s",
                  &ep->name, &ep->url, olla_health_name(status),
                  olla_health_name((olla_health_e) old), len, reason);
}


/* passive circuit breaker (SPEC 6) */

ngx_int_t
ngx_olla_dmr_breaker_allows(ngx_olla_dmr_endpoint_t *ep, ngx_uint_t *trial)
{
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;
    *trial = 0;

    if (sh->cb_state == NGX_OLLA_DMR_CB_CLOSED) {
        return 1;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - sh->cb_open_until) < 0) {
        return 0;
    }

    /* half-open: one trial request at a time */

    if (sh->cb_trial) {
        return 0;
    }

    *trial = 1;

    return 1;
}


void
ngx_olla_dmr_passive_result(ngx_olla_dmr_endpoint_t *ep,
    ngx_uint_t transport_failure, ngx_uint_t trial)
{
    ngx_atomic_uint_t      n;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;

    if (transport_failure) {
        n = ngx_atomic_fetch_add(&sh->cb_failures, 1) + 1;

        if (trial || n >= NGX_OLLA_DMR_CB_THRESHOLD) {
            sh->cb_open_until = ngx_current_msec + NGX_OLLA_DMR_CB_OPEN_MS;

            if (ngx_atomic_cmp_set(&sh->cb_state, NGX_OLLA_DMR_CB_CLOSED,
                                   NGX_OLLA_DMR_CB_OPEN))
            {
                ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                              "olla: circuit of endpoint \"%V\" (%V) "
                              "opened after %A consecutive connection "
                              "failures; retrying in %ds", &ep->name,
                              &ep->url, n, NGX_OLLA_DMR_CB_OPEN_MS / 1000);
            }
        }

        if (trial) {
            sh->cb_trial = 0;
        }

        return;
    }

    sh->cb_failures = 0;

    if (sh->cb_state == NGX_OLLA_DMR_CB_OPEN) {
        if (ngx_atomic_cmp_set(&sh->cb_state, NGX_OLLA_DMR_CB_OPEN,
                               NGX_OLLA_DMR_CB_CLOSED))
        {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "olla: circuit of endpoint \"%V\" (%V) closed: "
                          "a request succeeded", &ep->name, &ep->url);
        }
    }

    if (trial) {
        sh->cb_trial = 0;
    }
}


const char *
ngx_olla_dmr_circuit_name(ngx_olla_dmr_ep_sh_t *sh)
{
    if (sh->cb_state == NGX_OLLA_DMR_CB_CLOSED) {
        return "closed";
    }

    if ((ngx_msec_int_t) (ngx_current_msec - sh->cb_open_until) < 0) {
        return "open";
    }

    return "half-open";
}


/*
 * Why a route has no routable endpoint, when a circuit is why: the first
 * candidate whose circuit holds it back, in words, written into buf (the
 * length, 0 when no circuit is open)
 */

size_t
ngx_olla_dmr_circuit_reason(ngx_olla_dmr_ctx_t *ctx, u_char *buf, size_t len)
{
    u_char                   *p, *last;
    time_t                    at;
    ngx_tm_t                  tm;
    ngx_uint_t                i, n;
    ngx_msec_int_t            left;
    ngx_olla_dmr_ep_sh_t     *sh;
    ngx_olla_dmr_endpoint_t  *ep, *first;

    ep = ctx->ups->endpoints.elts;
    first = NULL;
    n = 0;

    for (i = 0; i < ctx->ups->endpoints.nelts; i++) {
        if ((ctx->skip && ctx->skip[i]) || ep[i].sh == NULL
            || ep[i].sh->cb_state != NGX_OLLA_DMR_CB_OPEN
            || !olla_health_routable((olla_health_e) ep[i].sh->status))
        {
            continue;
        }

        if (first == NULL) {
            first = &ep[i];
        }

        n++;
    }

    if (first == NULL) {
        return 0;
    }

    sh = first->sh;
    last = buf + len;

    left = (ngx_msec_int_t) (sh->cb_open_until - ngx_current_msec);

    if (left > 0) {
        at = ngx_time() + (left + 999) / 1000;
        ngx_gmtime(at, &tm);

        p = ngx_slprintf(buf, last, "endpoint \"%V\"'s circuit is open "
                         "after %A consecutive connection failures; it "
                         "gets a trial request at "
                         "%4d-%02d-%02dT%02d:%02d:%02dZ (in %Ms)",
                         &first->name, sh->cb_failures,
                         tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                         tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                         (ngx_msec_t) (left + 999) / 1000);

    } else {
        p = ngx_slprintf(buf, last, "endpoint \"%V\"'s circuit is "
                         "half-open after %A consecutive connection "
                         "failures: a trial request is on its way",
                         &first->name, sh->cb_failures);
    }

    if (n > 1) {
        p = ngx_slprintf(p, last, " (and %ui more open circuits)", n - 1);
    }

    return p - buf;
}


/* routable now: healthy or not yet probed, and the circuit lets it try */

ngx_uint_t
ngx_olla_dmr_routable(ngx_olla_dmr_endpoint_t *ep)
{
    ngx_uint_t  trial;

    return olla_health_routable((olla_health_e) ep->sh->status)
           && ngx_olla_dmr_breaker_allows(ep, &trial);
}
