
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Types shared by the nginx glue: endpoints, Olla upstreams, the shared
 * zone's per-endpoint state, configuration and the per-request context.
 */


#ifndef _NGX_OLLA_DMR_H_INCLUDED_
#define _NGX_OLLA_DMR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "olla_profile.h"
#include "olla_model.h"
#include "olla_probe.h"
#include "olla_errors.h"
#include "olla_routes.h"
#include "olla_path.h"
#include "olla_xlat.h"
#include "olla_pick.h"
#include "olla_ps.h"
#include "olla_usage.h"
#include "olla_keys.h"
#include "olla_queue.h"
#include "olla_failover.h"
#include "olla_json.h"


#define NGX_OLLA_DMR_VERSION          "0.1.0"

/* olla_body_memory's default, and its range */
#define NGX_OLLA_DMR_BODY_MEMORY      (8 * 1024 * 1024)
#define NGX_OLLA_DMR_BODY_MEMORY_MIN  1024
#define NGX_OLLA_DMR_BODY_MEMORY_MAX  (1024 * 1024 * 1024)

#define NGX_OLLA_DMR_CB_CLOSED        0
#define NGX_OLLA_DMR_CB_OPEN          1

#define NGX_OLLA_DMR_CB_THRESHOLD     5
#define NGX_OLLA_DMR_CB_OPEN_MS       30000

#define NGX_OLLA_DMR_MAX_MODEL        (64 * 1024)
#define NGX_OLLA_DMR_HEADER_MODEL     256

/* Anthropic modes */
#define NGX_OLLA_DMR_MODE_NONE        0
#define NGX_OLLA_DMR_MODE_PASSTHROUGH 1
#define NGX_OLLA_DMR_MODE_TRANSLATION 2

/* body filter jobs */
#define NGX_OLLA_DMR_BODY_PASS        0
#define NGX_OLLA_DMR_BODY_REPLACE     1   /* our own JSON instead */
#define NGX_OLLA_DMR_BODY_ERROR       2   /* backend error -> client API */
#define NGX_OLLA_DMR_BODY_JSON        3   /* OpenAI JSON -> client API */
#define NGX_OLLA_DMR_BODY_SSE         4   /* OpenAI SSE -> client API SSE */

/* why olla_api_keys refused a request (ctx->key_refused) */
#define NGX_OLLA_DMR_KEY_MISSING      1
#define NGX_OLLA_DMR_KEY_MALFORMED    2
#define NGX_OLLA_DMR_KEY_UNKNOWN      3


typedef struct ngx_olla_dmr_upstream_s  ngx_olla_dmr_upstream_t;
typedef struct ngx_olla_dmr_probe_s     ngx_olla_dmr_probe_t;
typedef struct ngx_olla_dmr_qsh_s       ngx_olla_dmr_qsh_t;
typedef struct ngx_olla_dmr_waiter_s    ngx_olla_dmr_waiter_t;


/*
 * Residency: what an endpoint has loaded, per model and runner mode,
 * from its running-models answer (NGX_OLLA_DMR_RES_PROBE) and from the
 * gateway's own traffic (NGX_OLLA_DMR_RES_TRAFFIC: a request sent makes
 * the model loading there until the next answer says otherwise).  Slots
 * are written under the zone's mutex and read without it.
 */

#define NGX_OLLA_DMR_RES_SLOTS        8
#define NGX_OLLA_DMR_RES_NAME         112
#define NGX_OLLA_DMR_RES_PROBE        1
#define NGX_OLLA_DMR_RES_TRAFFIC      2

/* a model the gateway sent traffic for is taken as loaded this long */
#define NGX_OLLA_DMR_RES_TRAFFIC_TTL  300

#define NGX_OLLA_DMR_PRELOADS         8      /* preload= models */

typedef struct {
    uint64_t                     hash;         /* of the name; 0: free */
    ngx_atomic_t                 last;         /* unix s: used, or sent */
    uint8_t                      state;        /* OLLA_RES_LOADING ... */
    uint8_t                      in_use;
    uint8_t                      mode;         /* OLLA_PS_COMPLETION ... */
    uint8_t                      from;
    u_char                       name[NGX_OLLA_DMR_RES_NAME];
} ngx_olla_dmr_res_t;


/*
 * What the answers said, per endpoint and model (ngx_olla_dmr_stats.c):
 * counters updated once per request with atomic adds, no lock held.  A
 * model takes one of NGX_OLLA_DMR_STAT_MODELS slots on first use (under
 * the zone's mutex); later ones share the last slot, "other".  Histogram
 * buckets are counted apart (not cumulative), the last one is +Inf.
 */

#define NGX_OLLA_DMR_STAT_MODELS      8
#define NGX_OLLA_DMR_STAT_SLOTS       (NGX_OLLA_DMR_STAT_MODELS + 1)
#define NGX_OLLA_DMR_STAT_BUCKETS     12
#define NGX_OLLA_DMR_STAT_HLL         64     /* distinct clients, ~13% */

#define NGX_OLLA_DMR_STAT_NOMODEL     1      /* hash of "-": no model */
#define NGX_OLLA_DMR_STAT_OTHER       2      /* hash of "other" */

/* how a streamed answer ended */
#define NGX_OLLA_DMR_END_NONE         0      /* not a stream */
#define NGX_OLLA_DMR_END_COMPLETE     1
#define NGX_OLLA_DMR_END_BACKEND      2
#define NGX_OLLA_DMR_END_CLIENT       3
#define NGX_OLLA_DMR_END_IDLE         4

typedef struct {
    uint64_t                     hash;         /* of the name; 0: free */
    u_char                       name[NGX_OLLA_DMR_RES_NAME];
    ngx_atomic_t                 last;         /* unix s of the last one */
    ngx_atomic_t                 requests[4];  /* 2xx 3xx 4xx 5xx */
    ngx_atomic_t                 tokens[3];    /* prompt completion cached */
    ngx_atomic_t                 bytes;        /* sent to clients */
    ngx_atomic_t                 ttft[NGX_OLLA_DMR_STAT_BUCKETS + 1];
    ngx_atomic_t                 ttft_ms;      /* their sum */
    ngx_atomic_t                 duration[NGX_OLLA_DMR_STAT_BUCKETS + 1];
    ngx_atomic_t                 duration_ms;
    ngx_atomic_t                 streams;
    ngx_atomic_t                 cut[3];       /* backend client idle */
    ngx_atomic_t                 decisions[OLLA_REASON_COUNT];
    ngx_atomic_t                 min_ms;       /* duration, +1; 0: none */
    ngx_atomic_t                 max_ms;
    uint8_t                      clients[NGX_OLLA_DMR_STAT_HLL];
} ngx_olla_dmr_mstat_t;


/*
 * An endpoint's model list in the zone: packed (olla_models_pack), and
 * shared by every endpoint whose last list packed to the same bytes (a
 * fleet of hosts with the same models keeps one copy).  Under the mutex.
 */
typedef struct {
    ngx_uint_t                   refs;         /* endpoints using it */
    uint64_t                     hash;         /* of data */
    size_t                       len;
    u_char                       data[1];
} ngx_olla_dmr_mlist_t;

/* ngx_olla_dmr_ep_sh_t.models_state */
#define NGX_OLLA_DMR_MODELS_NONE        0      /* no list read yet */
#define NGX_OLLA_DMR_MODELS_STORED      1
#define NGX_OLLA_DMR_MODELS_NOT_STORED  2      /* it did not fit */


/* an endpoint's state in the shared zone */
typedef struct {
    ngx_queue_t                  queue;
    u_char                      *key;
    size_t                       key_len;
    ngx_uint_t                   generation;

    ngx_atomic_t                 status;       /* olla_health_e */
    ngx_atomic_t                 inflight;
    ngx_atomic_t                 requests;
    ngx_atomic_t                 failures;     /* transport failures */

    /* the probe lease: one probe per endpoint for the whole nginx */
    ngx_atomic_t                 lease;        /* pid, 0 when free */
    ngx_msec_t                   lease_time;
    ngx_msec_t                   next_check;   /* ngx_current_msec clock */
    time_t                       last_check;   /* wall clock */
    time_t                       last_change;
    ngx_msec_t                   latency;
    ngx_uint_t                   consecutive_failures;
    ngx_uint_t                   probes;
    u_char                       reason[160];

    /* passive circuit breaker */
    ngx_atomic_t                 cb_failures;
    ngx_atomic_t                 cb_state;
    ngx_msec_t                   cb_open_until;
    ngx_atomic_t                 cb_trial;     /* a trial request runs */

    /*
     * the last model list, under the mutex: stored (mlist, nmodels), or
     * not stored because the zone had no room for its models_need bytes;
     * then no request naming a model goes to the endpoint
     */
    ngx_olla_dmr_mlist_t        *mlist;
    ngx_uint_t                   nmodels;      /* models stored */
    time_t                       models_time;
    ngx_atomic_t                 models_state; /* NGX_OLLA_DMR_MODELS_... */
    ngx_uint_t                   models_listed;   /* in the last answer */
    size_t                       models_need;  /* bytes, when not stored */
    uint64_t                     models_hash;  /* of that list */

    /* residency */
    ngx_olla_dmr_res_t           res[NGX_OLLA_DMR_RES_SLOTS];
    ngx_atomic_t                 res_known;    /* the last read worked */
    time_t                       res_time;
    u_char                       res_reason[96];

    /* keeping models warm: preload= by index, and pre-warming */
    ngx_atomic_t                 preload_busy[NGX_OLLA_DMR_PRELOADS];
    time_t                       preload_time[NGX_OLLA_DMR_PRELOADS];
    ngx_atomic_t                 prewarm_busy;
    time_t                       prewarm_time;
    uint64_t                     prewarm_hash;
    ngx_atomic_t                 preloads;     /* sent, all kinds */

    /* routing decisions by reason */
    ngx_atomic_t                 decisions[OLLA_REASON_COUNT];

    /*
     * failover (olla_failover): a backend's Retry-After keeps the endpoint
     * out of the candidates until rest_until (ngx_current_msec clock);
     * requests tried again elsewhere after a fast failure here, by kind
     */
    ngx_msec_t                   rest_until;
    ngx_atomic_t                 rests;
    ngx_atomic_t                 failovers[OLLA_FAILOVER_KINDS];

    /* what the answers said, per model */
    ngx_olla_dmr_mstat_t         mstat[NGX_OLLA_DMR_STAT_SLOTS];
} ngx_olla_dmr_ep_sh_t;


/*
 * Response ids (the OpenAI Responses API): which endpoint made a response,
 * so that its follow-ups and by-id requests go there.  A fixed table in
 * the zone, open addressing by the id's hash; entries expire with DMR's
 * store (an hour) and survive a reload.
 */

#define NGX_OLLA_DMR_RIDS             4096
#define NGX_OLLA_DMR_RID_PROBES       8
#define NGX_OLLA_DMR_RID_TTL          3600

typedef struct {
    uint64_t                     hash;         /* 0: free */
    uint32_t                     ep;           /* the endpoint's id */
    uint32_t                     expires;      /* unix seconds */
} ngx_olla_dmr_rid_t;


/*
 * Per client key (olla_api_keys): requests and tokens, by the key's name;
 * NGX_OLLA_DMR_KEY_SLOTS names, later ones share "other"
 */

#define NGX_OLLA_DMR_KEY_SLOTS        64
#define NGX_OLLA_DMR_KEY_NAME         65

typedef struct {
    uint64_t                     hash;         /* of the name; 0: free */
    u_char                       name[NGX_OLLA_DMR_KEY_NAME];
    ngx_atomic_t                 requests[4];  /* 2xx 3xx 4xx 5xx */
    ngx_atomic_t                 tokens[3];    /* prompt completion cached */
} ngx_olla_dmr_kstat_t;


typedef struct {
    ngx_queue_t                  endpoints;    /* ngx_olla_dmr_ep_sh_t */
    ngx_queue_t                  queues;       /* ngx_olla_dmr_qsh_t */
    ngx_uint_t                   generation;
    ngx_olla_dmr_rid_t          *rids;         /* NGX_OLLA_DMR_RIDS */
    time_t                       start;        /* the zone's first start */
    ngx_olla_dmr_kstat_t        *keys;         /* NGX_OLLA_DMR_KEY_SLOTS + 1 */
} ngx_olla_dmr_shctx_t;


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    url;          /* scheme://host[:port] */
    ngx_str_t                    host;         /* the Host header */
    ngx_str_t                    sni;          /* host without port */
    ngx_addr_t                  *addr;
    ngx_uint_t                   https;
    ngx_str_t                    type;
    const olla_profile_t        *profile;
    const char                  *chat_path;    /* olla_path_chat() */
    const char                  *responses_path;  /* native, or NULL */
    ngx_int_t                    priority;     /* -1 until resolved */
    ngx_str_t                    model_url;
    ngx_str_t                    health_url;
    ngx_str_t                    ps_url;       /* running models, or "" */
    olla_ps_format_e             ps_format;
    ngx_array_t                 *preload;      /* ngx_olla_dmr_preload_t */
    ngx_msec_t                   interval;
    ngx_msec_t                   timeout;
    ngx_uint_t                   max_concurrent;  /* 0: from profile */
    ngx_uint_t                   index;        /* in its upstream */
    uint32_t                     id;           /* olla_pick_id(name) */

    ngx_olla_dmr_upstream_t     *upstream;
    ngx_olla_dmr_ep_sh_t        *sh;

    u_char                      *conf_file;    /* where it was declared */
    ngx_uint_t                   conf_line;

#if (NGX_HTTP_SSL)
    ngx_ssl_session_t           *ssl_session;  /* reused, this worker */
#endif

    /* this process's prober */
    ngx_event_t                  timer;
    ngx_olla_dmr_probe_t        *probe;
} ngx_olla_dmr_endpoint_t;


struct ngx_olla_dmr_upstream_s {
    ngx_http_upstream_srv_conf_t  *uscf;
    ngx_array_t                    endpoints;  /* ngx_olla_dmr_endpoint_t */
    ngx_uint_t                     lb;         /* OLLA_PICK_LEAST_CONN ... */
    ngx_uint_t                     lb_set;
    ngx_flag_t                     resident_first;
    ngx_flag_t                     affinity;
    ngx_flag_t                     prewarm;

    /* olla_queue: 0 waiters when off; the zone's queue, this worker's */
    ngx_uint_t                     queue_len;
    ngx_msec_t                     queue_timeout;
    ngx_uint_t                     queue_set;
    ngx_olla_dmr_qsh_t            *qsh;
    ngx_queue_t                    waiters;    /* ngx_olla_dmr_waiter_t */
    ngx_uint_t                     nwaiters;

    /* olla_failover: endpoints a request may try, the fast bound */
    ngx_uint_t                     failover_tries;  /* 0: off */
    ngx_msec_t                     failover_fast;
    ngx_uint_t                     failover_set;

    ngx_uint_t                     initialized;
    ngx_uint_t                     cursor;     /* round-robin, ties */
    olla_pick_ep_t                *facts;      /* this worker's scratch */
    u_char                        *conf_file;
    ngx_uint_t                     conf_line;
};


/* a preload= model */
typedef struct {
    ngx_str_t                    name;         /* as written */
    ngx_str_t                    norm;
    uint64_t                     hash;
} ngx_olla_dmr_preload_t;


/* what a profile says about a model: its concurrency limit and timeout */
typedef struct {
    const olla_profile_t        *profile;
    size_t                       len;
    u_char                       model[96];
    ngx_uint_t                   limit;
    ngx_msec_t                   timeout;
} ngx_olla_dmr_facts_t;

#define NGX_OLLA_DMR_FACTS           16


/*
 * olla_malloc_keep: the default and the range; a quarter of it is glibc's
 * mmap threshold, at most its largest (32m)
 */
#define NGX_OLLA_DMR_MALLOC_KEEP_DEFAULT  (128 * 1024 * 1024)
#define NGX_OLLA_DMR_MALLOC_KEEP_MIN      (512 * 1024)
#define NGX_OLLA_DMR_MMAP_MAX             (32 * 1024 * 1024)
#define NGX_OLLA_DMR_MALLOC_KEEP_MAX      (1024 * 1024 * 1024)


typedef struct ngx_olla_dmr_main_conf_s  ngx_olla_dmr_main_conf_t;

/* a part of the zone's layout another file owns (the wait queues) */
typedef ngx_int_t (*ngx_olla_dmr_zone_init_pt)(ngx_slab_pool_t *shpool,
    ngx_olla_dmr_shctx_t *sh, ngx_olla_dmr_main_conf_t *omcf,
    ngx_log_t *log);


struct ngx_olla_dmr_main_conf_s {
    ngx_str_t                    profiles_dir;
    u_char                      *profiles_file;  /* where it was set */
    ngx_uint_t                   profiles_line;
    ngx_str_t                    override_dir;   /* empty: off */
    u_char                      *override_file;  /* NULL: the default */
    ngx_uint_t                   override_line;
    olla_profile_set_t          *profiles;
    size_t                       zone_size;
    size_t                       malloc_keep;  /* 0: off */
    ngx_shm_zone_t              *shm_zone;
    ngx_olla_dmr_zone_init_pt    queue_init_zone;  /* set by the module:
                                                    shm.c calls no glue
                                                    above it */
    ngx_slab_pool_t             *shpool;
    ngx_olla_dmr_shctx_t        *sh;
    ngx_array_t                  upstreams;    /* ngx_olla_dmr_upstream_t * */
    ngx_array_t                  routes;       /* ngx_olla_dmr_loc_conf_t * */
    ngx_uint_t                   nendpoints;
    ngx_uint_t                   route_used;
    ngx_uint_t                   keys_used;    /* olla_api_keys FILE */
    ngx_uint_t                   cors_used;
    ngx_array_t                  limit_zones;  /* ngx_olla_dmr_limit_zone_t */
#if (NGX_SSL)
    ngx_ssl_t                   *ssl;          /* client side of probes */
#endif

    /* this worker's memory of model facts (model names repeat) */
    ngx_olla_dmr_facts_t         facts[NGX_OLLA_DMR_FACTS];
    ngx_uint_t                   facts_next;

    /*
     * waking the queue's waiters in other workers: a pipe per worker,
     * made by the master for this configuration (wake_gen tells them
     * apart from another configuration's); the re-check timer
     */
    ngx_fd_t                    *wake_fds;     /* read, write per worker */
    ngx_uint_t                   nwake;
    uint32_t                     wake_gen;
    ngx_event_t                  queue_timer;
};


/*
 * What other modules' directives said in a block (ngx_olla_dmr_check.c):
 * recorded as nginx parses them, for the checks at "nginx -t" and for
 * the Retry-After of a limit_req refusal.
 */

#define NGX_OLLA_DMR_CONN_NONE        0      /* no Connection header set */
#define NGX_OLLA_DMR_CONN_KEEP        1      /* "", keep-alive, a variable */
#define NGX_OLLA_DMR_CONN_CLOSE       2      /* any other value */

typedef struct {
    ngx_str_t                    proxy_pass;   /* as written; .data: set */
    u_char                      *proxy_pass_file;
    ngx_uint_t                   proxy_pass_line;
    ngx_int_t                    http_version; /* 1000, 1001; or unset */
    ngx_int_t                    connection;   /* NGX_OLLA_DMR_CONN_...;
                                                  unset: no proxy_set_header
                                                  in the block */
    ngx_array_t                 *limit_req;    /* zone names (ngx_str_t) */
} ngx_olla_dmr_seen_t;


/* a limit_req_zone: its name and its rate */
typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   retry_after;  /* s until one more request */
} ngx_olla_dmr_limit_zone_t;


/* olla_cors_origins */
typedef struct {
    ngx_array_t                  origins;      /* ngx_str_t, lower case */
    ngx_uint_t                   any;          /* "*" */
} ngx_olla_dmr_cors_t;


typedef struct {
    ngx_olla_dmr_upstream_t     *ups;          /* olla_route */
    ngx_str_t                    route_name;
    ngx_flag_t                   status;       /* olla_status */
    ngx_flag_t                   passthrough;
    ngx_flag_t                   translation;
    size_t                       max_message_size;
    size_t                       body_memory;  /* olla_body_memory, 0: off */
    ngx_flag_t                   forward_credentials;
    olla_keys_t                 *api_keys;     /* NULL: off */
    ngx_msec_t                   stream_idle_timeout; /* UNSET: profile's,
                                                         0: off */
    u_char                      *conf_file;
    ngx_uint_t                   conf_line;
    ngx_str_t                    loc_name;     /* the route's location */
    void                        *loc_core;     /* its core conf */
    void                        *loc_srv;      /* its server's core conf */
    ngx_olla_dmr_cors_t         *cors;         /* NULL: off */
    ngx_olla_dmr_seen_t          seen;
} ngx_olla_dmr_loc_conf_t;


/* the scanner's fields of a body (route.c) */
#define NGX_OLLA_DMR_F_MODEL         0
#define NGX_OLLA_DMR_F_STREAM        1
#define NGX_OLLA_DMR_F_MAX_TOKENS    2
#define NGX_OLLA_DMR_F_MESSAGES      3
#define NGX_OLLA_DMR_F_TEMPERATURE   4
#define NGX_OLLA_DMR_F_TOP_P         5
#define NGX_OLLA_DMR_F_TOP_K         6
#define NGX_OLLA_DMR_F_SYSTEM        7
#define NGX_OLLA_DMR_F_INSTRUCTIONS  8
#define NGX_OLLA_DMR_F_INPUT         9
#define NGX_OLLA_DMR_F_PREVIOUS      10
#define NGX_OLLA_DMR_F_INCLUDE       11
#define NGX_OLLA_DMR_F_SERVICE_TIER  12
#define NGX_OLLA_DMR_F_N             13

#define NGX_OLLA_DMR_RID_MAX         128    /* a response id's length */

#define NGX_OLLA_DMR_NUM             32     /* a number's text */

/*
 * A body longer than this is scanned as it arrives: nginx reads it in
 * several pieces, and by the time the last one is in, the first ones have
 * left the CPU's caches for other connections' bytes; scanned after, the
 * whole body would be read from memory once more (BENCHMARKS.md).  A
 * shorter one comes with the request's head or in a read or two.
 */
#define NGX_OLLA_DMR_LIVE_MIN        16384


/*
 * A body in memory in more pieces than this (a client's small chunks) is
 * joined into one buffer before the proxy sends it: nginx writes at most 64
 * buffers (NGX_IOVS_PREALLOCATE) a call, the joined body goes in one
 */
#define NGX_OLLA_DMR_BODY_PIECES     32


/*
 * A body's scan and what it captures: on the stack of route.c for a short
 * body, scanned once it is read; in the request's pool for a longer one,
 * fed by the request body filter (filter.c) a piece at a time as nginx
 * reads it (live), and finished by route.c
 */
typedef struct {
    olla_json_scan_t             scan;
    olla_json_field_t            fields[NGX_OLLA_DMR_F_N];
    u_char                       num[4][NGX_OLLA_DMR_NUM];
    u_char                       small[512];   /* most model names */
    u_char                       rid[NGX_OLLA_DMR_RID_MAX];
    off_t                        fed;          /* bytes fed */
    unsigned                     live:1;       /* fed by the filter */
    unsigned                     last:1;       /* the body's end fed */
    unsigned                     failed:1;     /* refused: no more fed */
    unsigned                     lost:1;       /* a piece not in memory */
} ngx_olla_dmr_scan_t;


typedef struct {
    ngx_olla_dmr_upstream_t     *ups;
    ngx_olla_dmr_loc_conf_t     *olcf;         /* NULL: balancer route */
    olla_route_kind_e            kind;
    olla_dialect_e               dialect;
    const olla_route_t          *route;        /* the route table's row */
    const olla_xlat_t           *xlat;         /* when translating */
    ngx_uint_t                   mode;
    ngx_str_t                    route_name;   /* $olla_route */

    const olla_profile_t        *type;         /* NULL: any type */
    ngx_str_t                    path;         /* path within the type */
    olla_path_cache_t            map;

    /*
     * The endpoint of the last try: picked by the route (pending until
     * nginx asks for a peer) or by a retry; it holds an in-flight slot
     * while reserved.  skip: one byte per endpoint of the upstream, set
     * for endpoints not of the route's types and for those tried.
     */
    ngx_olla_dmr_endpoint_t     *ep;
    u_char                      *skip;

    /*
     * failover: the endpoint of the next try, reserved when an answer was
     * found worth trying again, until nginx asks for it
     */
    ngx_olla_dmr_endpoint_t     *next_ep;
    void                        *peer;         /* the balancer's data */

    /* olla_queue: the request's place in the queue, the epoch it tried */
    ngx_olla_dmr_waiter_t       *waiter;
    uint64_t                     q_epoch;
    ngx_msec_t                   q_wait;       /* how long it waited */

    ngx_str_t                    model;        /* as the client sent it */
    ngx_str_t                    norm;         /* normalised */
    uint64_t                     model_hash;   /* of norm, 0: no model */
    ngx_uint_t                   runner;       /* OLLA_PS_COMPLETION ... */

    /*
     * The Responses API: the response a request names (a by-id request,
     * or previous_response_id), the endpoint that holds it, and what the
     * answer teaches (a new id to learn, an id deleted)
     */
    ngx_str_t                    rid;
    ngx_str_t                    rid_rest;     /* "", "/input_items" */
    uint64_t                     rid_hash;
    uint32_t                     pin;          /* its endpoint's id */
    unsigned                     rid_by_path:1;
    unsigned                     learn_rid:1;
    unsigned                     resp_foreign:1; /* what DMR refuses */
    ngx_buf_t                   *rid_head;     /* the answer's first bytes */
    uint64_t                     key;          /* conversation, 0: none */
    unsigned                     scanned:1;    /* the body read whole, valid */
    ngx_olla_dmr_scan_t         *live;         /* scanned as it arrives */
    olla_pick_reason_e           reason;       /* $olla_route_reason */
    ngx_int_t                    stream;       /* -1 unknown, 0, 1 */
    long                         input_tokens; /* translation estimate */
    ngx_str_t                    request_id;
    ngx_str_t                    key_name;     /* $olla_key_name */
    ngx_str_t                    origin;       /* the client's Origin */
    ngx_msec_t                   start;
    ngx_msec_t                   read_timeout;

    ngx_int_t                    status;       /* re-entry of the phase */
    unsigned                     phase_done:1;
    unsigned                     pending:1;    /* ep not handed out yet */
    unsigned                     reserved:1;   /* ep holds a slot */
    unsigned                     cleanup:1;
    unsigned                     trial:1;      /* holds the breaker trial */
    unsigned                     next_reserved:1;
    unsigned                     next_trial:1;
    unsigned                     q_timed_out:1;
    unsigned                     local:1;      /* answered by the module */
    unsigned                     headers_done:1;
    unsigned                     key_checked:1; /* olla_api_keys, no route */
    unsigned                     key_refused:2; /* NGX_OLLA_DMR_KEY_... */

    /* response side */
    ngx_uint_t                   body_job;
    ngx_str_t                    replace;      /* BODY_REPLACE */
    ngx_buf_t                   *acc;          /* BODY_JSON, BODY_ERROR */
    size_t                       acc_max;
    int                          backend_status;
    void                        *stream_state; /* the translator's */
    ngx_chain_t                 *in;           /* held back (slow client) */
    ngx_chain_t                 *free;
    ngx_chain_t                 *busy;
    size_t                       busy_size;
    ngx_chain_t                 *out;
    ngx_chain_t                **last_out;
    ngx_buf_t                   *cur;
    unsigned                     sent_last:1;
    unsigned                     emit_failed:1;

    /* what the answer says (ngx_olla_dmr_stats.c) */
    olla_usage_t                *usage;        /* an endpoint's 2xx answer */
    ngx_msec_t                   first_byte;
    ngx_msec_t                   last_byte;
    unsigned                     got_byte:1;
    unsigned                     resp_stream:1;
    unsigned                     body_last:1;  /* the answer's end passed */
    unsigned                     settled:1;
    unsigned                     stream_end:3; /* NGX_OLLA_DMR_END_... */
    ngx_msec_t                   ttft;         /* settled */

    /*
     * How the upstream ended (its finalize_request, wrapped) and the end
     * of a passed-through stream (ngx_olla_dmr_filter.c)
     */
    void                       (*upstream_finalize)(ngx_http_request_t *r,
                                                    ngx_int_t rc);
    ngx_int_t                    upstream_rc;
    ngx_msec_t                   idle_timeout; /* in force; 0: none */
    ngx_str_t                    resp_id;      /* the Responses API's id */
    u_char                       tail[2];      /* the last bytes, no CR */
    unsigned                     tail_len:2;
    unsigned                     upstream_done:1;
    unsigned                     upstream_timedout:1;
    unsigned                     idle_armed:1;
    unsigned                     end_done:1;   /* the stream's end seen */
} ngx_olla_dmr_ctx_t;


extern ngx_module_t  ngx_olla_dmr_module;


/*
 * The glue's calls go down only, never back up:
 *
 *   module.c                      directives, configuration, init
 *   route.c  filter.c  status.c   a request's way in, its way out, status
 *   olla.c                        Olla's status paths and shapes
 *   check.c                       what nginx -t checks
 *   upstream.c  models.c          endpoint choice; the model lists
 *   keys.c  cors.c                client keys, CORS (nginx's phases call
 *                                 them too)
 *   reply.c  health.c  stats.c    answers and ctx; probes and breaker;
 *                                 what the answers said
 *   shm.c                         the shared zone
 */

/* ngx_olla_dmr_route.c */
ngx_int_t ngx_olla_dmr_route_handler(ngx_http_request_t *r);

/* ngx_olla_dmr_filter.c */
ngx_int_t ngx_olla_dmr_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_olla_dmr_add_variables(ngx_conf_t *cf);
char *ngx_olla_dmr_stream_idle_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_olla_dmr_status.c */
char *ngx_olla_dmr_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_olla_dmr_keys.c */
char *ngx_olla_dmr_api_keys_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_olla_dmr_keys_init(ngx_conf_t *cf);
ngx_int_t ngx_olla_dmr_keys_variables(ngx_conf_t *cf);
const olla_err_t *ngx_olla_dmr_keys_error(ngx_olla_dmr_ctx_t *ctx,
    ngx_str_t *msg);

/* ngx_olla_dmr_olla.c */
ngx_int_t ngx_olla_dmr_olla_status(ngx_http_request_t *r, ngx_str_t *rest);

/* ngx_olla_dmr_upstream.c */
char *ngx_olla_dmr_failover_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_olla_dmr_endpoint_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_olla_dmr_load_balancer_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_olla_dmr_resolve_endpoints(ngx_conf_t *cf,
    ngx_olla_dmr_main_conf_t *omcf);
#if (NGX_HTTP_SSL)
void ngx_olla_dmr_free_sessions(void *data);
#endif
ngx_olla_dmr_endpoint_t *ngx_olla_dmr_pick(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_pick_result_e *result);
void ngx_olla_dmr_release(ngx_olla_dmr_ctx_t *ctx);
ngx_msec_t ngx_olla_dmr_model_timeout(ngx_olla_dmr_main_conf_t *omcf,
    const olla_profile_t *p, ngx_str_t *model);
ngx_uint_t ngx_olla_dmr_retry_after(ngx_olla_dmr_ctx_t *ctx);
ngx_str_t *ngx_olla_dmr_lb_name(ngx_uint_t lb);
ngx_uint_t ngx_olla_dmr_upstream_pooled(ngx_olla_dmr_upstream_t *ups);

/* ngx_olla_dmr_reply.c */
ngx_olla_dmr_ctx_t *ngx_olla_dmr_create_ctx(ngx_http_request_t *r);
ngx_olla_dmr_ctx_t *ngx_olla_dmr_error_ctx(ngx_http_request_t *r);
/* a response header named by a string literal, its length counted once */
#define ngx_olla_dmr_add_header(r, key, value, len)                         \
    ngx_olla_dmr_add_header_n(r, "" key, sizeof(key) - 1, value, len)
ngx_int_t ngx_olla_dmr_add_header_n(ngx_http_request_t *r, const char *key,
    size_t key_len, u_char *value, size_t len);
struct json_t;     /* jansson's json_t, for the files that do not use it */
ngx_int_t ngx_olla_dmr_send_jansson(ngx_http_request_t *r,
    ngx_uint_t status, struct json_t *root);
ngx_int_t ngx_olla_dmr_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);
ngx_int_t ngx_olla_dmr_send_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *body, size_t len);
ngx_int_t ngx_olla_dmr_send_error(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_err_e err, const char *fmt, ...);
ngx_int_t ngx_olla_dmr_fail(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_err_e err, const char *fmt, ...);
u_char *ngx_olla_dmr_error_json(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, const olla_err_t *e, u_char *msg,
    size_t msg_len, size_t *len);
void ngx_olla_dmr_conf_error(ngx_conf_t *cf, u_char *file, ngx_uint_t line,
    const char *fmt, ...);
void ngx_olla_dmr_conf_warn(ngx_conf_t *cf, u_char *file, ngx_uint_t line,
    const char *fmt, ...);
ngx_olla_dmr_loc_conf_t *ngx_olla_dmr_route_by_uri(ngx_http_request_t *r);

/* ngx_olla_dmr_check.c */
ngx_int_t ngx_olla_dmr_hooks_install(ngx_conf_t *cf);
void ngx_olla_dmr_hooks_remove(void);
void ngx_olla_dmr_seen_init(ngx_olla_dmr_seen_t *seen);
char *ngx_olla_dmr_seen_merge(ngx_conf_t *cf, ngx_olla_dmr_loc_conf_t *prev,
    ngx_olla_dmr_loc_conf_t *conf);
void ngx_olla_dmr_check_pooling(ngx_conf_t *cf,
    ngx_olla_dmr_main_conf_t *omcf);
ngx_uint_t ngx_olla_dmr_limit_req_retry(ngx_http_request_t *r,
    ngx_olla_dmr_loc_conf_t *olcf);

/* ngx_olla_dmr_cors.c */
char *ngx_olla_dmr_cors_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_olla_dmr_cors_init(ngx_conf_t *cf);
ngx_int_t ngx_olla_dmr_cors_headers(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);

/* ngx_olla_dmr_models.c */
ngx_int_t ngx_olla_dmr_models_list(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, olla_route_act_e shape);
ngx_int_t ngx_olla_dmr_models_status(ngx_http_request_t *r);

/* ngx_olla_dmr_health.c */
ngx_int_t ngx_olla_dmr_health_init_process(ngx_cycle_t *cycle);
void ngx_olla_dmr_health_exit_process(ngx_cycle_t *cycle);
void ngx_olla_dmr_passive_result(ngx_olla_dmr_endpoint_t *ep,
    ngx_uint_t transport_failure, ngx_uint_t trial);
ngx_int_t ngx_olla_dmr_breaker_allows(ngx_olla_dmr_endpoint_t *ep,
    ngx_uint_t *trial);
const char *ngx_olla_dmr_circuit_name(ngx_olla_dmr_ep_sh_t *sh);
size_t ngx_olla_dmr_circuit_reason(ngx_olla_dmr_ctx_t *ctx, u_char *buf,
    size_t len);
void ngx_olla_dmr_prewarm(ngx_olla_dmr_endpoint_t *ep, ngx_str_t *norm,
    uint64_t hash);
ngx_uint_t ngx_olla_dmr_routable(ngx_olla_dmr_endpoint_t *ep);

/* ngx_olla_dmr_stats.c */
ngx_int_t ngx_olla_dmr_stats_init(ngx_conf_t *cf);
ngx_int_t ngx_olla_dmr_stats_variables(ngx_conf_t *cf);
void ngx_olla_dmr_stats_start(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx);
void ngx_olla_dmr_stats_feed(ngx_olla_dmr_ctx_t *ctx, ngx_chain_t *in);
size_t ngx_olla_dmr_stats_prom_len(ngx_olla_dmr_main_conf_t *omcf);
u_char *ngx_olla_dmr_stats_prom(u_char *p, ngx_olla_dmr_main_conf_t *omcf);
void ngx_olla_dmr_stats_sum(ngx_olla_dmr_ep_sh_t *sh,
    ngx_olla_dmr_mstat_t *sum);
ngx_msec_t ngx_olla_dmr_stats_quantile(ngx_olla_dmr_mstat_t *m,
    ngx_uint_t ttft, double q);
void ngx_olla_dmr_stats_add(ngx_olla_dmr_mstat_t *sum,
    ngx_olla_dmr_mstat_t *m);
ngx_uint_t ngx_olla_dmr_stats_clients(ngx_olla_dmr_mstat_t *m);
struct json_t *ngx_olla_dmr_stats_json(ngx_olla_dmr_mstat_t *m);
extern const ngx_msec_t ngx_olla_dmr_stats_bounds[];
size_t ngx_olla_dmr_prom_label_len(ngx_str_t *s);
u_char *ngx_olla_dmr_prom_label(u_char *p, ngx_str_t *s);

/* ngx_olla_dmr_queue.c */
typedef void (*ngx_olla_dmr_resume_pt)(ngx_http_request_t *r);

#define NGX_OLLA_DMR_LEFT_SERVED      0      /* it got a slot */
#define NGX_OLLA_DMR_LEFT_TIMEOUT     1
#define NGX_OLLA_DMR_LEFT_CLIENT      2      /* the client went away */
#define NGX_OLLA_DMR_LEFT_OTHER       3      /* answered otherwise */

char *ngx_olla_dmr_queue_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_olla_dmr_queue_defaults(ngx_olla_dmr_upstream_t *ups);
ngx_int_t ngx_olla_dmr_queue_init_zone(ngx_slab_pool_t *shpool,
    ngx_olla_dmr_shctx_t *sh, ngx_olla_dmr_main_conf_t *omcf,
    ngx_log_t *log);
ngx_int_t ngx_olla_dmr_queue_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_olla_dmr_queue_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_olla_dmr_queue_turn(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_resume_pt resume);
ngx_int_t ngx_olla_dmr_queue_full(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_resume_pt resume);
void ngx_olla_dmr_queue_leave(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t why);
void ngx_olla_dmr_queue_kick(ngx_olla_dmr_upstream_t *ups);
ngx_uint_t ngx_olla_dmr_queue_retry_after(ngx_olla_dmr_upstream_t *ups);
struct json_t *ngx_olla_dmr_queue_json(ngx_olla_dmr_upstream_t *ups);
size_t ngx_olla_dmr_queue_prom_len(ngx_olla_dmr_main_conf_t *omcf);
u_char *ngx_olla_dmr_queue_prom(u_char *p, ngx_olla_dmr_main_conf_t *omcf);

/* ngx_olla_dmr_shm.c */
ngx_int_t ngx_olla_dmr_shm_add(ngx_conf_t *cf,
    ngx_olla_dmr_main_conf_t *omcf);
void ngx_olla_dmr_shm_lock(ngx_olla_dmr_main_conf_t *omcf);
void ngx_olla_dmr_shm_unlock(ngx_olla_dmr_main_conf_t *omcf);
ngx_int_t ngx_olla_dmr_models_has_locked(ngx_olla_dmr_endpoint_t *ep,
    ngx_str_t *norm);
ngx_int_t ngx_olla_dmr_models_set(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, olla_model_list_t *list);
u_char *ngx_olla_dmr_models_copy(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, ngx_pool_t *pool, size_t *len);
ngx_uint_t ngx_olla_dmr_models_not_stored(ngx_olla_dmr_upstream_t *ups);
size_t ngx_olla_dmr_zone_need(ngx_olla_dmr_main_conf_t *omcf);
const char *ngx_olla_dmr_models_state_name(ngx_uint_t state);
ngx_uint_t ngx_olla_dmr_res_lookup(ngx_olla_dmr_endpoint_t *ep,
    uint64_t hash, ngx_uint_t mode, ngx_uint_t *in_use);
void ngx_olla_dmr_res_mark(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, uint64_t hash, ngx_uint_t mode,
    ngx_str_t *norm, ngx_uint_t state);
void ngx_olla_dmr_res_set(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, olla_ps_list_t *list, time_t since);
ngx_uint_t ngx_olla_dmr_res_unknown(ngx_olla_dmr_endpoint_t *ep,
    const char *reason);
void ngx_olla_dmr_rid_set(ngx_olla_dmr_main_conf_t *omcf, uint64_t hash,
    uint32_t ep);
ngx_int_t ngx_olla_dmr_rid_get(ngx_olla_dmr_main_conf_t *omcf,
    uint64_t hash, uint32_t *ep);
void ngx_olla_dmr_rid_delete(ngx_olla_dmr_main_conf_t *omcf,
    uint64_t hash);


#endif /* _NGX_OLLA_DMR_H_INCLUDED_ */
