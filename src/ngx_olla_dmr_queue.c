
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The wait queue of an Olla upstream (olla_queue): a request that finds
 * every endpoint it can use at its concurrency limit waits here, in order
 * of arrival across all workers, for a slot, instead of getting a 429 at
 * once.  The order is in the shared zone (olla_queue.c: tickets, the turn
 * by ticket and signature per epoch); the waiting requests stay in the
 * worker that took them.
 *
 * Waking.  Whoever changes the queue's state (a request done releases a
 * slot and bumps the epoch; a waiter takes a slot, gives up or finds no
 * room) looks up which waiter has the turn now and wakes it: in its own
 * worker by posting the waiter's event, in another worker by a byte on
 * that worker's wake pipe (one per worker, made by the master for the
 * configuration and inherited by the workers; the pipe's handler posts the
 * event of its local waiter that has the turn).  nginx has no wakeup
 * across workers of its own (its channels carry only the master's
 * commands, and a worker does nothing with a message it does not know),
 * hence the pipes.  A worker with waiters also runs a re-check timer
 * (NGX_OLLA_DMR_QUEUE_RECHECK) that bumps the epoch: it catches what
 * frees a slot without a request ending (an endpoint back up, a backend's
 * Retry-After over) and waiters of another configuration's workers during
 * a reload, which the new workers' pipes cannot reach.  The timer is
 * cancelable and armed only while the worker has waiters; each waiter's
 * deadline timer is not, so a worker shutting down after a reload serves
 * its waiters, or times them out, and then exits.
 *
 * A waiting request is not proxied yet: its read event handler watches the
 * client (a closed connection leaves the queue at once, 499), its deadline
 * answers 429 (route.c writes it).  When the request has the turn, the
 * route's resume handler picks again.
 */


#include "ngx_olla_dmr.h"

#include <ngx_channel.h>
#include <jansson.h>


/* defaults: a burst of a few hundred requests, waiting up to a minute */
#define NGX_OLLA_DMR_QUEUE_LEN        512
#define NGX_OLLA_DMR_QUEUE_TIMEOUT    60000
#define NGX_OLLA_DMR_QUEUE_MAX        65536

#define NGX_OLLA_DMR_QUEUE_RECHECK    250     /* ms, while waiters wait */
#define NGX_OLLA_DMR_QUEUE_GRACE      10000   /* past a deadline: gone */

#define NGX_OLLA_DMR_QUEUE_BUCKETS    11


struct ngx_olla_dmr_qsh_s {
    ngx_queue_t                  link;
    uint64_t                     key;          /* hash of the upstream */
    ngx_uint_t                   generation;

    ngx_atomic_t                 epoch;
    olla_queue_t                 q;

    ngx_atomic_t                 joined;
    ngx_atomic_t                 served;
    ngx_atomic_t                 timeouts;
    ngx_atomic_t                 full;
    ngx_atomic_t                 gone;
    ngx_atomic_t                 wait_ms;      /* of the served */
    ngx_atomic_t                 hist[NGX_OLLA_DMR_QUEUE_BUCKETS + 1];
    ngx_atomic_t                 peak;
};


struct ngx_olla_dmr_waiter_s {
    ngx_queue_t                  link;         /* ups->waiters */
    ngx_http_request_t          *request;
    ngx_olla_dmr_ctx_t          *ctx;
    ngx_olla_dmr_upstream_t     *ups;
    ngx_olla_dmr_resume_pt       resume;
    uint64_t                     ticket;       /* 0: not in the queue */
    uint64_t                     sig;
    ngx_msec_t                   since;
    ngx_event_t                  wake;         /* posted: the turn */
    ngx_event_t                  deadline;
};


/* the wait histogram's upper bounds, ms; the last bucket is +Inf */
static const ngx_msec_t  ngx_olla_dmr_queue_bounds[NGX_OLLA_DMR_QUEUE_BUCKETS]
    = { 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000 };


typedef struct {
    uint64_t                     ticket;
    uint32_t                     pid;
    uint32_t                     gen;
    uint32_t                     slot;
} ngx_olla_dmr_turn_t;


static uint64_t ngx_olla_dmr_queue_sig(ngx_olla_dmr_ctx_t *ctx);
static ngx_int_t ngx_olla_dmr_queue_join(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_resume_pt resume, uint64_t sig,
    ngx_olla_dmr_turn_t *turn);
static ngx_olla_dmr_waiter_t *ngx_olla_dmr_queue_waiter(
    ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_resume_pt resume);
static void ngx_olla_dmr_queue_next_locked(ngx_olla_dmr_qsh_t *qsh,
    ngx_olla_dmr_turn_t *turn);
static void ngx_olla_dmr_queue_wake(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_upstream_t *ups, ngx_olla_dmr_turn_t *turn);
static void ngx_olla_dmr_queue_unlink(ngx_olla_dmr_waiter_t *w);
static void ngx_olla_dmr_queue_wake_handler(ngx_event_t *ev);
static void ngx_olla_dmr_queue_deadline_handler(ngx_event_t *ev);
static void ngx_olla_dmr_queue_check_broken(ngx_http_request_t *r);
static void ngx_olla_dmr_queue_cleanup(void *data);
static void ngx_olla_dmr_queue_pipe_handler(ngx_event_t *ev);
static void ngx_olla_dmr_queue_timer_handler(ngx_event_t *ev);
static void ngx_olla_dmr_queue_arm(ngx_olla_dmr_main_conf_t *omcf);
static void ngx_olla_dmr_queue_local_turns(ngx_olla_dmr_main_conf_t *omcf,
    ngx_uint_t bump);
static void ngx_olla_dmr_queue_close_pipes(void *data);


/* ------------------------------------------------------------ config */

/*
 * olla_queue LENGTH [timeout=TIME] | off (upstream): at most LENGTH
 * requests wait, each at most TIME
 */

char *
ngx_olla_dmr_queue_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_olla_dmr_upstream_t  *ups = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (ups->queue_set) {
        return "is duplicate";
    }

    ups->queue_set = 1;
    ups->queue_timeout = NGX_OLLA_DMR_QUEUE_TIMEOUT;

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters after \"off\"";
        }

        ups->queue_len = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n < 1 || n > NGX_OLLA_DMR_QUEUE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid queue length \"%V\": a number of "
                           "requests from 1 to %d, or \"off\", is expected",
                           &value[1], NGX_OLLA_DMR_QUEUE_MAX);
        return NGX_CONF_ERROR;
    }

    ups->queue_len = n;

    for (i = 2; i < cf->args->nelts; i++) {

        if (value[i].len > 8 && ngx_strncmp(value[i].data, "timeout=", 8) == 0)
        {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0
                || ms > 3600 * 1000)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": a time from 1ms to 1h "
                                   "such as \"60s\" is expected", &value[i]);
                return NGX_CONF_ERROR;
            }

            ups->queue_timeout = ms;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; olla_queue takes "
                           "LENGTH [timeout=TIME] or \"off\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_olla_dmr_queue_defaults(ngx_olla_dmr_upstream_t *ups)
{
    if (!ups->queue_set) {
        ups->queue_len = NGX_OLLA_DMR_QUEUE_LEN;
        ups->queue_timeout = NGX_OLLA_DMR_QUEUE_TIMEOUT;
    }
}


/*
 * In the zone (its mutex held): the queue of every upstream, found again
 * by name after a reload (waiters of the old workers stay in it), grown
 * when the new length is larger
 */

ngx_int_t
ngx_olla_dmr_queue_init_zone(ngx_slab_pool_t *shpool,
    ngx_olla_dmr_shctx_t *sh, ngx_olla_dmr_main_conf_t *omcf,
    ngx_log_t *log)
{
    uint64_t                   key;
    uint32_t                   cap;
    ngx_uint_t                 i;
    ngx_queue_t               *q, *next;
    ngx_olla_dmr_qsh_t        *qsh;
    olla_queue_entry_t        *entries;
    ngx_olla_dmr_upstream_t  **upsp;

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        upsp[i]->qsh = NULL;

        key = olla_pick_hash(OLLA_PICK_HASH_INIT, upsp[i]->uscf->host.data,
                             upsp[i]->uscf->host.len);

        qsh = NULL;

        for (q = ngx_queue_head(&sh->queues);
             q != ngx_queue_sentinel(&sh->queues);
             q = ngx_queue_next(q))
        {
            qsh = ngx_queue_data(q, ngx_olla_dmr_qsh_t, link);

            if (qsh->key == key) {
                break;
            }

            qsh = NULL;
        }

        /* room for the longest queue any configuration asked for */
        cap = (uint32_t) ngx_max(upsp[i]->queue_len, 1);

        if (qsh == NULL) {
            qsh = ngx_slab_calloc_locked(shpool, sizeof(ngx_olla_dmr_qsh_t));
            entries = qsh ? ngx_slab_alloc_locked(shpool,
                                         cap * sizeof(olla_queue_entry_t))
                          : NULL;

            if (entries == NULL) {
                if (qsh) {
                    ngx_slab_free_locked(shpool, qsh);
                }

                goto nomem;
            }

            qsh->key = key;
            olla_queue_init(&qsh->q, entries, cap);
            ngx_queue_insert_tail(&sh->queues, &qsh->link);

        } else if (cap > qsh->q.cap) {
            entries = ngx_slab_alloc_locked(shpool,
                                            cap * sizeof(olla_queue_entry_t));
            if (entries == NULL) {
                goto nomem;
            }

            ngx_slab_free_locked(shpool, qsh->q.entries);
            (void) olla_queue_move(&qsh->q, entries, cap);
        }

        qsh->generation = sh->generation;
        upsp[i]->qsh = qsh;
    }

    /* queues of upstreams gone for two reloads */

    for (q = ngx_queue_head(&sh->queues);
         q != ngx_queue_sentinel(&sh->queues);
         q = next)
    {
        next = ngx_queue_next(q);
        qsh = ngx_queue_data(q, ngx_olla_dmr_qsh_t, link);

        if (qsh->generation + 1 < sh->generation) {
            ngx_queue_remove(q);
            ngx_slab_free_locked(shpool, qsh->q.entries);
            ngx_slab_free_locked(shpool, qsh);
        }
    }

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, log, 0,
                  "olla_zone is too small for the queue of upstream \"%V\" "
                  "(%uz bytes), raise \"olla_zone\" or lower \"olla_queue\"",
                  &upsp[i]->uscf->host,
                  sizeof(ngx_olla_dmr_qsh_t)
                  + ngx_max(upsp[i]->queue_len, 1)
                    * sizeof(olla_queue_entry_t));

    return NGX_ERROR;
}


/*
 * In the master, once the configuration is read: a non-blocking pipe per
 * worker, inherited by every worker; worker N reads pipe N.  The previous
 * configuration's pipes are closed here (its workers have their copies).
 */

ngx_int_t
ngx_olla_dmr_queue_init_module(ngx_cycle_t *cycle)
{
    ngx_fd_t                   fds[2];
    ngx_uint_t                 i, n;
    ngx_core_conf_t           *ccf;
    ngx_pool_cleanup_t        *cln;
    ngx_olla_dmr_main_conf_t  *omcf, *old;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_olla_dmr_module);

    if (cycle->old_cycle && cycle->old_cycle->conf_ctx
        && cycle->old_cycle->conf_ctx[ngx_http_module.index]
        && !ngx_is_init_cycle(cycle->old_cycle))
    {
        old = ngx_http_cycle_get_module_main_conf(cycle->old_cycle,
                                                  ngx_olla_dmr_module);

        if (old && old->wake_fds) {
            ngx_olla_dmr_queue_close_pipes(old);
        }
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (omcf == NULL || omcf->shpool == NULL || ngx_test_config
        || !ccf->master || ccf->worker_processes < 2)
    {
        /* one process: every waiter is local */
        return NGX_OK;
    }

    n = (ngx_uint_t) ccf->worker_processes;

    omcf->wake_fds = ngx_pcalloc(cycle->pool, 2 * n * sizeof(ngx_fd_t));
    if (omcf->wake_fds == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 2 * n; i++) {
        omcf->wake_fds[i] = NGX_INVALID_FILE;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_olla_dmr_queue_close_pipes;
    cln->data = omcf;

    omcf->nwake = n;

    do {
        omcf->wake_gen = (uint32_t) ngx_random();
    } while (omcf->wake_gen == 0);

    for (i = 0; i < n; i++) {
        if (pipe(fds) == -1) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "olla: pipe() for the queue's wakeups failed, "
                          "waiters in other workers are woken by timer");
            ngx_olla_dmr_queue_close_pipes(omcf);
            return NGX_OK;
        }

        omcf->wake_fds[2 * i] = fds[0];
        omcf->wake_fds[2 * i + 1] = fds[1];

        if (ngx_nonblocking(fds[0]) == -1 || ngx_nonblocking(fds[1]) == -1
            || fcntl(fds[0], F_SETFD, FD_CLOEXEC) == -1
            || fcntl(fds[1], F_SETFD, FD_CLOEXEC) == -1)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "olla: setting up the queue's wake pipes failed");
            ngx_olla_dmr_queue_close_pipes(omcf);
            return NGX_OK;
        }
    }

    return NGX_OK;
}


static void
ngx_olla_dmr_queue_close_pipes(void *data)
{
    ngx_olla_dmr_main_conf_t  *omcf = data;

    ngx_uint_t  i;

    if (omcf->wake_fds == NULL) {
        return;
    }

    for (i = 0; i < 2 * omcf->nwake; i++) {
        if (omcf->wake_fds[i] != NGX_INVALID_FILE) {
            (void) close(omcf->wake_fds[i]);
            omcf->wake_fds[i] = NGX_INVALID_FILE;
        }
    }

    omcf->wake_fds = NULL;
    omcf->nwake = 0;
}


/* in a worker: its waiters' lists, its pipe's read end, the timer */

ngx_int_t
ngx_olla_dmr_queue_init_process(ngx_cycle_t *cycle)
{
    ngx_fd_t                    fd;
    ngx_uint_t                  i;
    ngx_olla_dmr_upstream_t   **upsp;
    ngx_olla_dmr_main_conf_t   *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_olla_dmr_module);

    if (omcf == NULL || omcf->shpool == NULL) {
        return NGX_OK;
    }

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ngx_queue_init(&upsp[i]->waiters);
        upsp[i]->nwaiters = 0;
    }

    omcf->queue_timer.handler = ngx_olla_dmr_queue_timer_handler;
    omcf->queue_timer.data = omcf;
    omcf->queue_timer.log = cycle->log;
    omcf->queue_timer.cancelable = 1;

    if (omcf->wake_fds == NULL) {
        return NGX_OK;
    }

    if (ngx_process != NGX_PROCESS_WORKER || ngx_worker >= omcf->nwake) {
        ngx_olla_dmr_queue_close_pipes(omcf);
        return NGX_OK;
    }

    /* only this worker's read end stays open, and every write end */

    for (i = 0; i < omcf->nwake; i++) {
        if (i != ngx_worker) {
            (void) close(omcf->wake_fds[2 * i]);
            omcf->wake_fds[2 * i] = NGX_INVALID_FILE;
        }
    }

    fd = omcf->wake_fds[2 * ngx_worker];

    if (ngx_add_channel_event(cycle, fd, NGX_READ_EVENT,
                              ngx_olla_dmr_queue_pipe_handler)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "olla: the queue's wake pipe cannot be watched, "
                      "waiters are woken by timer");
        return NGX_OK;
    }

    return NGX_OK;
}


/* ------------------------------------------------------------ requests */

/*
 * Before a pick: NGX_OK, the request may try for a slot now (the queue is
 * off or empty, or it has the turn); NGX_AGAIN, it waits (it joined, or
 * still waits); NGX_BUSY, it would wait but the queue is full; NGX_DECLINED,
 * its wait ran out; NGX_ERROR.
 */

ngx_int_t
ngx_olla_dmr_queue_turn(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_resume_pt resume)
{
    uint64_t                   sig, epoch;
    ngx_int_t                  rc;
    ngx_uint_t                 mine;
    ngx_olla_dmr_turn_t        turn;
    olla_queue_entry_t        *e;
    ngx_olla_dmr_qsh_t        *qsh;
    ngx_olla_dmr_waiter_t     *w;
    ngx_olla_dmr_upstream_t   *ups;
    ngx_olla_dmr_main_conf_t  *omcf;

    ups = ctx->ups;
    qsh = ups->qsh;
    w = ctx->waiter;

    if (qsh == NULL || ups->queue_len == 0) {
        return NGX_OK;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    if (w && w->ticket) {

        if (ctx->q_timed_out) {
            return NGX_DECLINED;
        }

        ngx_olla_dmr_shm_lock(omcf);

        epoch = qsh->epoch;
        e = olla_queue_next(&qsh->q, epoch);
        mine = (e && e->ticket == w->ticket);

        ngx_olla_dmr_shm_unlock(omcf);

        if (!mine) {
            return NGX_AGAIN;
        }

        ctx->q_epoch = epoch;
        return NGX_OK;
    }

    /* a newcomer: passes when nobody waits, as nearly always */

    ctx->q_epoch = qsh->epoch;

    if (qsh->q.waiting == 0) {
        return NGX_OK;
    }

    sig = ngx_olla_dmr_queue_sig(ctx);

    if (ngx_olla_dmr_queue_waiter(r, ctx, resume) == NULL) {
        return NGX_ERROR;
    }

    ngx_olla_dmr_shm_lock(omcf);

    epoch = qsh->epoch;

    if (olla_queue_may_pass(&qsh->q, sig, epoch)) {
        ngx_olla_dmr_shm_unlock(omcf);
        ctx->q_epoch = epoch;
        return NGX_OK;
    }

    rc = ngx_olla_dmr_queue_join(r, ctx, resume, sig, &turn);

    ngx_olla_dmr_shm_unlock(omcf);

    if (rc == NGX_OK) {
        ngx_olla_dmr_queue_wake(omcf, ups, &turn);
        return NGX_AGAIN;
    }

    return rc;
}


/*
 * A pick found every endpoint full: the request waits (NGX_AGAIN), the
 * queue is full (NGX_BUSY) or off (NGX_DECLINED), or NGX_ERROR
 */

ngx_int_t
ngx_olla_dmr_queue_full(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_resume_pt resume)
{
    uint64_t                   sig, epoch;
    ngx_int_t                  rc;
    ngx_olla_dmr_turn_t        turn;
    ngx_olla_dmr_qsh_t        *qsh;
    ngx_olla_dmr_waiter_t     *w;
    ngx_olla_dmr_upstream_t   *ups;
    ngx_olla_dmr_main_conf_t  *omcf;

    ups = ctx->ups;
    qsh = ups->qsh;

    if (qsh == NULL || ups->queue_len == 0) {
        return NGX_DECLINED;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    w = ngx_olla_dmr_queue_waiter(r, ctx, resume);
    if (w == NULL) {
        return NGX_ERROR;
    }

    sig = w->ticket ? w->sig : ngx_olla_dmr_queue_sig(ctx);

    ngx_olla_dmr_shm_lock(omcf);

    epoch = qsh->epoch;

    /*
     * blocked for this epoch; if a slot was freed since the request
     * looked, nothing is marked and the turn comes back to it
     */
    (void) olla_queue_block(&qsh->q, sig, ctx->q_epoch, epoch);

    if (w->ticket == 0) {
        rc = ngx_olla_dmr_queue_join(r, ctx, resume, sig, &turn);

        if (rc != NGX_OK) {
            ngx_olla_dmr_shm_unlock(omcf);
            return rc;
        }
    }

    ngx_olla_dmr_queue_next_locked(qsh, &turn);

    ngx_olla_dmr_shm_unlock(omcf);

    ngx_olla_dmr_queue_wake(omcf, ups, &turn);

    return NGX_AGAIN;
}


/* under the zone's mutex: a place at the end of the queue */

static ngx_int_t
ngx_olla_dmr_queue_join(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_resume_pt resume, uint64_t sig, ngx_olla_dmr_turn_t *turn)
{
    uint64_t                   ticket;
    ngx_olla_dmr_qsh_t        *qsh;
    ngx_olla_dmr_waiter_t     *w;
    ngx_olla_dmr_upstream_t   *ups;
    ngx_olla_dmr_main_conf_t  *omcf;

    ups = ctx->ups;
    qsh = ups->qsh;
    w = ctx->waiter;
    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    (void) olla_queue_expire(&qsh->q, ngx_current_msec,
                             NGX_OLLA_DMR_QUEUE_GRACE);

    if (olla_queue_join(&qsh->q, (uint32_t) ups->queue_len, sig,
                        ngx_current_msec + ups->queue_timeout,
                        (uint32_t) ngx_pid, omcf->wake_gen,
                        (uint32_t) ngx_worker, &ticket)
        != 0)
    {
        (void) ngx_atomic_fetch_add(&qsh->full, 1);
        return NGX_BUSY;
    }

    (void) ngx_atomic_fetch_add(&qsh->joined, 1);

    if (qsh->q.waiting > qsh->peak) {
        qsh->peak = qsh->q.waiting;
    }

    ngx_olla_dmr_queue_next_locked(qsh, turn);

    w->ticket = ticket;
    w->sig = sig;
    w->since = ngx_current_msec;

    ngx_queue_insert_tail(&ups->waiters, &w->link);
    ups->nwaiters++;

    /* the client is watched; the deadline is not cancelable */

    r->read_event_handler = ngx_olla_dmr_queue_check_broken;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_add_timer(&w->deadline, ups->queue_timeout);

    ngx_olla_dmr_queue_arm(omcf);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "olla: request queued in upstream \"%V\" (ticket %uL, "
                  "%uD waiting): every endpoint it can use is at its "
                  "concurrency limit", &ups->uscf->host, ticket,
                  qsh->q.waiting);

    return NGX_OK;
}


/* the request's waiter, made on first use */

static ngx_olla_dmr_waiter_t *
ngx_olla_dmr_queue_waiter(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_olla_dmr_resume_pt resume)
{
    ngx_pool_cleanup_t     *cln;
    ngx_olla_dmr_waiter_t  *w;

    if (ctx->waiter) {
        return ctx->waiter;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_olla_dmr_waiter_t));
    if (w == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_olla_dmr_queue_cleanup;
    cln->data = w;

    w->request = r;
    w->ctx = ctx;
    w->ups = ctx->ups;
    w->resume = resume;

    w->wake.handler = ngx_olla_dmr_queue_wake_handler;
    w->wake.data = w;
    w->wake.log = r->connection->log;

    w->deadline.handler = ngx_olla_dmr_queue_deadline_handler;
    w->deadline.data = w;
    w->deadline.log = r->connection->log;

    ctx->waiter = w;

    return w;
}


/*
 * The request leaves the queue (a slot, its deadline, its client gone, or
 * another answer): the turn passes on
 */

void
ngx_olla_dmr_queue_leave(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t why)
{
    ngx_uint_t                 i;
    ngx_msec_t                 waited;
    ngx_olla_dmr_turn_t        turn;
    ngx_olla_dmr_qsh_t        *qsh;
    ngx_olla_dmr_waiter_t     *w;
    ngx_olla_dmr_upstream_t   *ups;
    ngx_olla_dmr_main_conf_t  *omcf;

    w = ctx->waiter;

    if (w == NULL || w->ticket == 0) {
        return;
    }

    ups = w->ups;
    qsh = ups->qsh;
    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    waited = ngx_current_msec - w->since;
    ctx->q_wait = waited;

    ngx_olla_dmr_shm_lock(omcf);

    (void) olla_queue_leave(&qsh->q, w->ticket);
    ngx_olla_dmr_queue_next_locked(qsh, &turn);

    ngx_olla_dmr_shm_unlock(omcf);

    ngx_olla_dmr_queue_unlink(w);

    switch (why) {

    case NGX_OLLA_DMR_LEFT_SERVED:
        (void) ngx_atomic_fetch_add(&qsh->served, 1);
        (void) ngx_atomic_fetch_add(&qsh->wait_ms, waited);

        for (i = 0; i < NGX_OLLA_DMR_QUEUE_BUCKETS; i++) {
            if (waited <= ngx_olla_dmr_queue_bounds[i]) {
                break;
            }
        }

        (void) ngx_atomic_fetch_add(&qsh->hist[i], 1);
        break;

    case NGX_OLLA_DMR_LEFT_TIMEOUT:
        (void) ngx_atomic_fetch_add(&qsh->timeouts, 1);
        break;

    case NGX_OLLA_DMR_LEFT_CLIENT:
        (void) ngx_atomic_fetch_add(&qsh->gone, 1);
        break;

    default:
        break;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "olla: left the queue of \"%V\" (%ui) after %Mms",
                   &ups->uscf->host, why, waited);

    if (r->read_event_handler == ngx_olla_dmr_queue_check_broken) {
        r->read_event_handler = ngx_http_block_reading;
    }

    ngx_olla_dmr_queue_wake(omcf, ups, &turn);
}


/* this worker forgets the waiter */

static void
ngx_olla_dmr_queue_unlink(ngx_olla_dmr_waiter_t *w)
{
    if (w->ticket == 0) {
        return;
    }

    w->ticket = 0;

    ngx_queue_remove(&w->link);
    w->ups->nwaiters--;

    if (w->deadline.timer_set) {
        ngx_del_timer(&w->deadline);
    }

    if (w->wake.posted) {
        ngx_delete_posted_event(&w->wake);
    }
}


/*
 * A slot was freed in the upstream (a request done, a pick undone): a new
 * epoch, and the waiter that has the turn is woken
 */

void
ngx_olla_dmr_queue_kick(ngx_olla_dmr_upstream_t *ups)
{
    ngx_olla_dmr_turn_t        turn;
    ngx_olla_dmr_qsh_t        *qsh;
    ngx_olla_dmr_main_conf_t  *omcf;

    qsh = ups->qsh;

    if (qsh == NULL) {
        return;
    }

    /*
     * always: a request that looked before the slot was freed and is
     * about to join then sees that the epoch moved on
     */
    (void) ngx_atomic_fetch_add(&qsh->epoch, 1);

    if (qsh->q.waiting == 0) {
        return;
    }

    omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_olla_dmr_module);

    ngx_olla_dmr_shm_lock(omcf);
    ngx_olla_dmr_queue_next_locked(qsh, &turn);
    ngx_olla_dmr_shm_unlock(omcf);

    ngx_olla_dmr_queue_wake(omcf, ups, &turn);
}


static void
ngx_olla_dmr_queue_next_locked(ngx_olla_dmr_qsh_t *qsh,
    ngx_olla_dmr_turn_t *turn)
{
    olla_queue_entry_t  *e;

    e = olla_queue_next(&qsh->q, qsh->epoch);

    if (e == NULL) {
        /* nobody: the whole turn says so (its pid is compared with ours) */
        ngx_memzero(turn, sizeof(ngx_olla_dmr_turn_t));
        return;
    }

    turn->ticket = e->ticket;
    turn->pid = e->pid;
    turn->gen = e->gen;
    turn->slot = e->slot;
}


/* the waiter that has the turn: posted here, or its worker's pipe */

static void
ngx_olla_dmr_queue_wake(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_upstream_t *ups, ngx_olla_dmr_turn_t *turn)
{
    ngx_queue_t            *q;
    ngx_olla_dmr_waiter_t  *w;

    if (turn->ticket == 0) {
        return;
    }

    if (turn->pid == (uint32_t) ngx_pid) {

        for (q = ngx_queue_head(&ups->waiters);
             q != ngx_queue_sentinel(&ups->waiters);
             q = ngx_queue_next(q))
        {
            w = ngx_queue_data(q, ngx_olla_dmr_waiter_t, link);

            if (w->ticket == turn->ticket) {
                ngx_post_event(&w->wake, &ngx_posted_events);
                return;
            }
        }

        return;
    }

    if (omcf->wake_fds == NULL || turn->gen != omcf->wake_gen
        || turn->slot >= omcf->nwake)
    {
        /* another configuration's worker: its re-check timer wakes it */
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "olla: queue ticket %uL has the turn in worker %uD",
                   turn->ticket, turn->slot);

    if (write(omcf->wake_fds[2 * turn->slot + 1], "q", 1) == -1) {
        /* EAGAIN: the pipe is full, a wakeup is pending there already */
        return;
    }
}


/* the waiter's turn (or its client closed on it, or its deadline) */

static void
ngx_olla_dmr_queue_wake_handler(ngx_event_t *ev)
{
    ngx_olla_dmr_waiter_t  *w = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (w->ticket == 0) {
        return;
    }

    r = w->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    w->resume(r);

    ngx_http_run_posted_requests(c);
}


static void
ngx_olla_dmr_queue_deadline_handler(ngx_event_t *ev)
{
    ngx_olla_dmr_waiter_t  *w = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (w->ticket == 0) {
        return;
    }

    r = w->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    w->ctx->q_timed_out = 1;

    w->resume(r);

    ngx_http_run_posted_requests(c);
}


/*
 * The client while its request waits: a connection closed (or an HTTP/2
 * stream reset) takes the request out of the queue at once
 */

static void
ngx_olla_dmr_queue_check_broken(ngx_http_request_t *r)
{
    int                  n;
    char                 buf[1];
    ngx_err_t            err;
    ngx_event_t         *ev;
    ngx_connection_t    *c;
    ngx_olla_dmr_ctx_t  *ctx;

    c = r->connection;
    ev = c->read;

    if (c->error) {
        goto gone;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return;
    }
#endif

#if (NGX_HAVE_EPOLLRDHUP)

    if ((ngx_event_flags & NGX_USE_EPOLL_EVENT) && ngx_use_epoll_rdhup) {
        socklen_t  len;

        if (!ev->pending_eof) {
            return;
        }

        ev->eof = 1;
        c->error = 1;

        err = 0;
        len = sizeof(ngx_err_t);

        /* pending errors go to the log */

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ev->error = 1;
        }

        goto gone;
    }

#endif

    n = recv(c->fd, buf, 1, MSG_PEEK);

    err = ngx_socket_errno;

    if (n > 0) {
        /* the client sent more (a pipelined request): not a close */

        if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && ev->active) {
            if (ngx_del_event(ev, NGX_READ_EVENT, 0) != NGX_OK) {
                goto gone;
            }
        }

        return;
    }

    if (n == -1 && err == NGX_EAGAIN) {
        return;
    }

    ev->eof = 1;
    c->error = 1;

gone:

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "olla: the client closed the connection while its "
                  "request waited in the queue");

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx) {
        ngx_olla_dmr_queue_leave(r, ctx, NGX_OLLA_DMR_LEFT_CLIENT);
    }

    ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
}


/* the request is freed while it waits (a shutdown, an error) */

static void
ngx_olla_dmr_queue_cleanup(void *data)
{
    ngx_olla_dmr_waiter_t  *w = data;

    if (w->ticket) {
        ngx_olla_dmr_queue_leave(w->request, w->ctx,
                                 NGX_OLLA_DMR_LEFT_CLIENT);
    }
}


/* another worker said: a waiter here may have the turn */

static void
ngx_olla_dmr_queue_pipe_handler(ngx_event_t *ev)
{
    u_char                     buf[64];
    ssize_t                    n;
    ngx_connection_t          *c;
    ngx_olla_dmr_main_conf_t  *omcf;

    c = ev->data;

    for ( ;; ) {
        n = read(c->fd, buf, sizeof(buf));

        if (n <= 0) {
            break;
        }
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0, "olla: queue wake pipe");

    omcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_olla_dmr_module);

    ngx_olla_dmr_queue_local_turns(omcf, 0);
}


/* while this worker has waiters: a new epoch every little while */

static void
ngx_olla_dmr_queue_timer_handler(ngx_event_t *ev)
{
    ngx_olla_dmr_main_conf_t  *omcf = ev->data;

    ngx_olla_dmr_queue_local_turns(omcf, 1);
    ngx_olla_dmr_queue_arm(omcf);
}


static void
ngx_olla_dmr_queue_arm(ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_uint_t                 i, n;
    ngx_olla_dmr_upstream_t  **upsp;

    if (omcf->queue_timer.timer_set) {
        return;
    }

    n = 0;
    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        n += upsp[i]->nwaiters;
    }

    if (n) {
        ngx_add_timer(&omcf->queue_timer, NGX_OLLA_DMR_QUEUE_RECHECK);
    }
}


/*
 * For every upstream with waiters here: who has the turn (after a new
 * epoch when bump), woken if it is here or in a worker of this
 * configuration; a waiter whose process is gone is dropped
 */

static void
ngx_olla_dmr_queue_local_turns(ngx_olla_dmr_main_conf_t *omcf,
    ngx_uint_t bump)
{
    ngx_uint_t                 i, k;
    ngx_olla_dmr_turn_t        turn;
    ngx_olla_dmr_qsh_t        *qsh;
    ngx_olla_dmr_upstream_t  **upsp;

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        qsh = upsp[i]->qsh;

        if (upsp[i]->nwaiters == 0 || qsh == NULL) {
            continue;
        }

        if (bump) {
            (void) ngx_atomic_fetch_add(&qsh->epoch, 1);
        }

        for (k = 0; k < 4; k++) {
            ngx_olla_dmr_shm_lock(omcf);

            (void) olla_queue_expire(&qsh->q, ngx_current_msec,
                                     NGX_OLLA_DMR_QUEUE_GRACE);
            ngx_olla_dmr_queue_next_locked(qsh, &turn);

            if (bump && turn.ticket && turn.pid != (uint32_t) ngx_pid
                && kill((pid_t) turn.pid, 0) == -1 && ngx_errno == NGX_ESRCH)
            {
                /* a worker that died with waiters */
                (void) olla_queue_leave(&qsh->q, turn.ticket);
                ngx_olla_dmr_shm_unlock(omcf);
                continue;
            }

            ngx_olla_dmr_shm_unlock(omcf);
            break;
        }

        if (bump || turn.pid == (uint32_t) ngx_pid) {
            ngx_olla_dmr_queue_wake(omcf, upsp[i], &turn);
        }
    }
}


/* ------------------------------------------------------------ answers */

/*
 * The request's signature: requests with the same candidates, model and
 * runner see the same endpoints full or free
 */

static uint64_t
ngx_olla_dmr_queue_sig(ngx_olla_dmr_ctx_t *ctx)
{
    uint64_t  h;

    h = olla_pick_hash(OLLA_PICK_HASH_INIT, ctx->skip,
                       ctx->skip ? ctx->ups->endpoints.nelts : 0);
    h = olla_pick_hash(h, ctx->norm.data, ctx->norm.len);
    h = olla_pick_hash(h, &ctx->pin, sizeof(ctx->pin));
    h = olla_pick_hash(h, &ctx->runner, sizeof(ctx->runner));

    return h ? h : 1;
}


/*
 * Retry-After for a request the queue turned away: about how long a
 * request waits now (the mean wait of those served), 1 to 60 seconds
 */

ngx_uint_t
ngx_olla_dmr_queue_retry_after(ngx_olla_dmr_upstream_t *ups)
{
    ngx_uint_t           s;
    ngx_atomic_uint_t    served, ms;
    ngx_olla_dmr_qsh_t  *qsh;

    qsh = ups->qsh;

    if (qsh == NULL) {
        return 1;
    }

    served = qsh->served;
    ms = qsh->wait_ms;

    s = served ? (ngx_uint_t) ((ms / served + 999) / 1000)
               : (ngx_uint_t) ((ups->queue_timeout + 999) / 1000 / 2);

    return ngx_max(1, ngx_min(s, 60));
}


/* status/endpoints: the upstream's queue */

json_t *
ngx_olla_dmr_queue_json(ngx_olla_dmr_upstream_t *ups)
{
    ngx_olla_dmr_qsh_t  *qsh;

    qsh = ups->qsh;

    if (qsh == NULL) {
        return json_null();
    }

    return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I}, "
                     "s:I, s:I, s:I}",
                     "enabled", ups->queue_len != 0,
                     "length", (json_int_t) qsh->q.waiting,
                     "limit", (json_int_t) ups->queue_len,
                     "timeout_ms", (json_int_t) ups->queue_timeout,
                     "waiting_here", (json_int_t) ups->nwaiters,
                     "peak", (json_int_t) qsh->peak,
                     "queued", (json_int_t) qsh->joined,
                     "served", (json_int_t) qsh->served,
                     "rejected",
                       "full", (json_int_t) qsh->full,
                       "timeout", (json_int_t) qsh->timeouts,
                     "abandoned", (json_int_t) qsh->gone,
                     "wait_ms_sum", (json_int_t) qsh->wait_ms,
                     "epoch", (json_int_t) qsh->epoch);
}


/* ------------------------------------------------------------ metrics */

/* the series, each family in one group as the text format wants */

typedef enum {
    NGX_OLLA_DMR_Q_LENGTH = 0,
    NGX_OLLA_DMR_Q_LIMIT,
    NGX_OLLA_DMR_Q_REQUESTS,
    NGX_OLLA_DMR_Q_REJECTED,
    NGX_OLLA_DMR_Q_ABANDONED,
    NGX_OLLA_DMR_Q_WAIT,
    NGX_OLLA_DMR_Q_FAILOVER,             /* per endpoint */
    NGX_OLLA_DMR_Q_REST                  /* per endpoint */
} ngx_olla_dmr_qmetric_e;


typedef struct {
    ngx_olla_dmr_qmetric_e       id;
    const char                  *name;
    const char                  *type;
    const char                  *help;
} ngx_olla_dmr_qmetric_t;


static ngx_olla_dmr_qmetric_t  ngx_olla_dmr_qmetrics[] = {
    { NGX_OLLA_DMR_Q_LENGTH, "olla_queue_length", "gauge",
      "requests waiting for a slot in the upstream's queue" },
    { NGX_OLLA_DMR_Q_LIMIT, "olla_queue_limit", "gauge",
      "the upstream's olla_queue length (0: off)" },
    { NGX_OLLA_DMR_Q_REQUESTS, "olla_queue_requests_total", "counter",
      "requests that waited in the queue" },
    { NGX_OLLA_DMR_Q_REJECTED, "olla_queue_rejected_total", "counter",
      "requests the queue turned away with 429: it was full, or their "
      "wait ran out (timeout)" },
    { NGX_OLLA_DMR_Q_ABANDONED, "olla_queue_abandoned_total", "counter",
      "requests whose client went away while they waited" },
    { NGX_OLLA_DMR_Q_WAIT, "olla_queue_wait_seconds", "histogram",
      "how long the requests that got a slot waited for it" },
    { NGX_OLLA_DMR_Q_FAILOVER, "olla_failover_total", "counter",
      "requests tried again on another endpoint after a fast failure of "
      "this one, by kind (429, 5xx, model_not_found)" },
    { NGX_OLLA_DMR_Q_REST, "olla_endpoint_retry_after_seconds", "gauge",
      "how long the endpoint stays out of the candidates after the "
      "Retry-After of its last 429 or 503" },
    { 0, NULL, NULL, NULL }
};


size_t
ngx_olla_dmr_queue_prom_len(ngx_olla_dmr_main_conf_t *omcf)
{
    size_t                     len, label;
    ngx_uint_t                 i, j;
    ngx_olla_dmr_qmetric_t    *m;
    ngx_olla_dmr_endpoint_t   *ep;
    ngx_olla_dmr_upstream_t  **upsp;

    len = 0;

    for (m = ngx_olla_dmr_qmetrics; m->name; m++) {
        len += sizeof("# HELP \n# TYPE \n") + 2 * ngx_strlen(m->name)
               + ngx_strlen(m->type) + ngx_strlen(m->help);
    }

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        label = ngx_olla_dmr_prom_label_len(&upsp[i]->uscf->host);

        len += (NGX_OLLA_DMR_QUEUE_BUCKETS + 10)
               * (label + 96 + NGX_ATOMIC_T_LEN);

        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            len += (OLLA_FAILOVER_KINDS + 1)
                   * (label + ngx_olla_dmr_prom_label_len(&ep[j].name)
                      + ngx_olla_dmr_prom_label_len(&ep[j].type)
                      + 128 + NGX_ATOMIC_T_LEN);
        }
    }

    return len;
}


static u_char *
ngx_olla_dmr_queue_prom_upstream(u_char *p, ngx_olla_dmr_qmetric_t *m,
    ngx_olla_dmr_upstream_t *ups)
{
    ngx_uint_t           k;
    ngx_atomic_uint_t    cum;
    ngx_olla_dmr_qsh_t  *qsh;

    qsh = ups->qsh;

#define ngx_olla_dmr_ups_label(p, suffix)                                     \
    p = ngx_sprintf(p, "%s" suffix "{upstream=\"", m->name);                  \
    p = ngx_olla_dmr_prom_label(p, &ups->uscf->host)

    switch (m->id) {

    case NGX_OLLA_DMR_Q_LENGTH:
        ngx_olla_dmr_ups_label(p, "");
        return ngx_sprintf(p, "\"} %uD\n", qsh->q.waiting);

    case NGX_OLLA_DMR_Q_LIMIT:
        ngx_olla_dmr_ups_label(p, "");
        return ngx_sprintf(p, "\"} %ui\n", ups->queue_len);

    case NGX_OLLA_DMR_Q_REQUESTS:
        ngx_olla_dmr_ups_label(p, "");
        return ngx_sprintf(p, "\"} %A\n", qsh->joined);

    case NGX_OLLA_DMR_Q_REJECTED:
        ngx_olla_dmr_ups_label(p, "");
        p = ngx_sprintf(p, "\",reason=\"full\"} %A\n", qsh->full);
        ngx_olla_dmr_ups_label(p, "");
        return ngx_sprintf(p, "\",reason=\"timeout\"} %A\n", qsh->timeouts);

    case NGX_OLLA_DMR_Q_ABANDONED:
        ngx_olla_dmr_ups_label(p, "");
        return ngx_sprintf(p, "\"} %A\n", qsh->gone);

    case NGX_OLLA_DMR_Q_WAIT:
        cum = 0;

        for (k = 0; k <= NGX_OLLA_DMR_QUEUE_BUCKETS; k++) {
            cum += qsh->hist[k];

            ngx_olla_dmr_ups_label(p, "_bucket");

            if (k == NGX_OLLA_DMR_QUEUE_BUCKETS) {
                p = ngx_sprintf(p, "\",le=\"+Inf\"} %A\n", cum);

            } else {
                p = ngx_sprintf(p, "\",le=\"%M.%03M\"} %A\n",
                                ngx_olla_dmr_queue_bounds[k] / 1000,
                                ngx_olla_dmr_queue_bounds[k] % 1000, cum);
            }
        }

        ngx_olla_dmr_ups_label(p, "_sum");
        p = ngx_sprintf(p, "\"} %A.%03A\n", qsh->wait_ms / 1000,
                        qsh->wait_ms % 1000);

        ngx_olla_dmr_ups_label(p, "_count");
        return ngx_sprintf(p, "\"} %A\n", cum);

    default:
        return p;
    }

#undef ngx_olla_dmr_ups_label
}


static u_char *
ngx_olla_dmr_queue_prom_endpoint(u_char *p, ngx_olla_dmr_qmetric_t *m,
    ngx_olla_dmr_upstream_t *ups, ngx_olla_dmr_endpoint_t *ep)
{
    ngx_uint_t             k, n;
    ngx_msec_int_t         rest;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;
    n = (m->id == NGX_OLLA_DMR_Q_FAILOVER) ? OLLA_FAILOVER_KINDS : 2;

    for (k = 1; k < n; k++) {
        p = ngx_sprintf(p, "%s{endpoint=\"", m->name);
        p = ngx_olla_dmr_prom_label(p, &ep->name);
        p = ngx_cpymem(p, "\",type=\"", 8);
        p = ngx_olla_dmr_prom_label(p, &ep->type);
        p = ngx_cpymem(p, "\",upstream=\"", 12);
        p = ngx_olla_dmr_prom_label(p, &ups->uscf->host);

        if (m->id == NGX_OLLA_DMR_Q_FAILOVER) {
            p = ngx_sprintf(p, "\",reason=\"%s\"} %A\n",
                            olla_failover_kind_name((olla_failover_kind_e) k),
                            sh->failovers[k]);
            continue;
        }

        rest = (ngx_msec_int_t) (sh->rest_until - ngx_current_msec);
        rest = (sh->rest_until && rest > 0) ? rest : 0;

        p = ngx_sprintf(p, "\"} %M.%03M\n", (ngx_msec_t) rest / 1000,
                        (ngx_msec_t) rest % 1000);
    }

    return p;
}


u_char *
ngx_olla_dmr_queue_prom(u_char *p, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_uint_t                 i, j;
    ngx_olla_dmr_qmetric_t    *m;
    ngx_olla_dmr_endpoint_t   *ep;
    ngx_olla_dmr_upstream_t  **upsp;

    upsp = omcf->upstreams.elts;

    for (m = ngx_olla_dmr_qmetrics; m->name; m++) {

        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help,
                        m->name, m->type);

        for (i = 0; i < omcf->upstreams.nelts; i++) {

            if (m->id < NGX_OLLA_DMR_Q_FAILOVER) {
                if (upsp[i]->qsh) {
                    p = ngx_olla_dmr_queue_prom_upstream(p, m, upsp[i]);
                }

                continue;
            }

            ep = upsp[i]->endpoints.elts;

            for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
                p = ngx_olla_dmr_queue_prom_endpoint(p, m, upsp[i], &ep[j]);
            }
        }
    }

    return p;
}
