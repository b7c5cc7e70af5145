
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


#define NGX_OLLA_DMR_VERSION          "0.1.0"

#define NGX_OLLA_DMR_LB_LEAST_CONN    0
#define NGX_OLLA_DMR_LB_ROUND_ROBIN   1
#define NGX_OLLA_DMR_LB_PRIORITY      2

#define NGX_OLLA_DMR_CB_CLOSED        0
#define NGX_OLLA_DMR_CB_OPEN          1

#define NGX_OLLA_DMR_CB_THRESHOLD     5
#define NGX_OLLA_DMR_CB_OPEN_MS       30000

#define NGX_OLLA_DMR_MAX_MODEL        (64 * 1024)
#define NGX_OLLA_DMR_HEADER_MODEL     256

/* routes (SPEC 3) */
#define NGX_OLLA_DMR_ROUTE_PROVIDER   1
#define NGX_OLLA_DMR_ROUTE_PROXY      2
#define NGX_OLLA_DMR_ROUTE_ANTHROPIC  3
#define NGX_OLLA_DMR_ROUTE_MODELS     4
#define NGX_OLLA_DMR_ROUTE_BALANCER   5   /* proxy_pass without olla_route */

/* error shapes */
#define NGX_OLLA_DMR_API_OPENAI       0
#define NGX_OLLA_DMR_API_ANTHROPIC    1

/* Anthropic modes */
#define NGX_OLLA_DMR_MODE_NONE        0
#define NGX_OLLA_DMR_MODE_PASSTHROUGH 1
#define NGX_OLLA_DMR_MODE_TRANSLATION 2

/* body filter jobs */
#define NGX_OLLA_DMR_BODY_PASS        0
#define NGX_OLLA_DMR_BODY_REPLACE     1   /* our own JSON instead */
#define NGX_OLLA_DMR_BODY_ERROR       2   /* backend error -> Anthropic */
#define NGX_OLLA_DMR_BODY_JSON        3   /* OpenAI JSON -> Anthropic */
#define NGX_OLLA_DMR_BODY_SSE         4   /* OpenAI SSE -> Anthropic SSE */


typedef struct ngx_olla_dmr_upstream_s  ngx_olla_dmr_upstream_t;
typedef struct ngx_olla_dmr_probe_s     ngx_olla_dmr_probe_t;


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

    /* the last model list, packed (olla_models_pack), under the mutex */
    u_char                      *models;
    size_t                       models_len;
    ngx_uint_t                   nmodels;
    time_t                       models_time;
} ngx_olla_dmr_ep_sh_t;


typedef struct {
    ngx_queue_t                  endpoints;    /* ngx_olla_dmr_ep_sh_t */
    ngx_uint_t                   generation;
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
    ngx_int_t                    priority;     /* -1 until resolved */
    ngx_str_t                    model_url;
    ngx_str_t                    health_url;
    ngx_msec_t                   interval;
    ngx_msec_t                   timeout;
    ngx_uint_t                   max_concurrent;  /* 0: from profile */
    ngx_uint_t                   index;        /* in its upstream */

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
    ngx_uint_t                     lb;
    ngx_uint_t                     lb_set;
    ngx_uint_t                     initialized;
    ngx_uint_t                     cursor;     /* round-robin, ties */
    u_char                        *conf_file;
    ngx_uint_t                     conf_line;
};


/* what a profile says about a model: its concurrency limit and timeout */
typedef struct {
    const olla_profile_t        *profile;
    size_t                       len;
    u_char                       model[96];
    ngx_uint_t                   limit;
    ngx_msec_t                   timeout;
} ngx_olla_dmr_facts_t;

#define NGX_OLLA_DMR_FACTS           16


typedef struct {
    ngx_str_t                    profiles_dir;
    u_char                      *profiles_file;  /* where it was set */
    ngx_uint_t                   profiles_line;
    olla_profile_set_t          *profiles;
    size_t                       zone_size;
    ngx_shm_zone_t              *shm_zone;
    ngx_slab_pool_t             *shpool;
    ngx_olla_dmr_shctx_t        *sh;
    ngx_array_t                  upstreams;    /* ngx_olla_dmr_upstream_t * */
    ngx_array_t                  routes;       /* ngx_olla_dmr_loc_conf_t * */
    ngx_uint_t                   nendpoints;
    ngx_uint_t                   route_used;
#if (NGX_SSL)
    ngx_ssl_t                   *ssl;          /* client side of probes */
#endif

    /* this worker's memory of model facts (model names repeat) */
    ngx_olla_dmr_facts_t         facts[NGX_OLLA_DMR_FACTS];
    ngx_uint_t                   facts_next;
} ngx_olla_dmr_main_conf_t;


typedef struct {
    ngx_olla_dmr_upstream_t     *ups;          /* olla_route */
    ngx_str_t                    route_name;
    ngx_flag_t                   status;       /* olla_status */
    ngx_flag_t                   passthrough;
    ngx_flag_t                   translation;
    size_t                       max_message_size;
    ngx_flag_t                   forward_credentials;
    u_char                      *conf_file;
    ngx_uint_t                   conf_line;
} ngx_olla_dmr_loc_conf_t;


typedef struct {
    ngx_olla_dmr_upstream_t     *ups;
    ngx_uint_t                   route;
    ngx_uint_t                   api;
    ngx_uint_t                   mode;
    ngx_str_t                    route_name;   /* $olla_route */

    const olla_profile_t        *type;         /* NULL: any type */
    ngx_str_t                    path;         /* path within the type */
    ngx_olla_dmr_endpoint_t     *endpoint;     /* the current peer */
    ngx_olla_dmr_endpoint_t     *used;         /* the last peer tried */
    ngx_olla_dmr_endpoint_t     *chosen;       /* picked by the route */
    ngx_olla_dmr_endpoint_t     *reserved_ep;  /* holds its inflight slot */
    u_char                      *tried;        /* one byte per endpoint */

    ngx_str_t                    model;        /* as the client sent it */
    ngx_str_t                    norm;         /* normalised */
    ngx_int_t                    stream;       /* -1 unknown, 0, 1 */
    long                         input_tokens; /* translation estimate */
    ngx_olla_dmr_loc_conf_t     *olcf;
    u_char                      *scratch;      /* per endpoint, choose() */
    const olla_profile_t        *limit_profile;
    ngx_uint_t                   limit;
    const olla_profile_t        *map_profile;
    const char                  *map_path;
    ngx_str_t                    request_id;
    ngx_msec_t                   start;
    ngx_msec_t                   upstream_time;   /* headers received */
    ngx_msec_t                   read_timeout;

    ngx_int_t                    status;       /* re-entry of the phase */
    unsigned                     phase_done:1;
    unsigned                     reserved:1;   /* holds an inflight slot */
    unsigned                     cleanup:1;
    unsigned                     trial:1;      /* holds the breaker trial */
    unsigned                     local:1;      /* answered by the module */
    unsigned                     headers_done:1;

    /* response side */
    ngx_uint_t                   body_job;
    ngx_str_t                    replace;      /* BODY_REPLACE */
    ngx_buf_t                   *acc;          /* BODY_JSON, BODY_ERROR */
    size_t                       acc_max;
    int                          backend_status;
    void                        *stream_state; /* olla_anth_stream_t */
    ngx_chain_t                 *in;           /* held back (slow client) */
    ngx_chain_t                 *free;
    ngx_chain_t                 *busy;
    size_t                       busy_size;
    ngx_chain_t                 *out;
    ngx_chain_t                **last_out;
    ngx_buf_t                   *cur;
    unsigned                     sent_last:1;
    unsigned                     emit_failed:1;
} ngx_olla_dmr_ctx_t;


extern ngx_module_t  ngx_olla_dmr_module;


/* ngx_olla_dmr_module.c */
void ngx_olla_dmr_conf_error(ngx_conf_t *cf, u_char *file, ngx_uint_t line,
    const char *fmt, ...);

/* ngx_olla_dmr_upstream.c */
char *ngx_olla_dmr_endpoint_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_olla_dmr_load_balancer_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_olla_dmr_resolve_endpoints(ngx_conf_t *cf,
    ngx_olla_dmr_main_conf_t *omcf);
ngx_uint_t ngx_olla_dmr_endpoint_limit(ngx_olla_dmr_endpoint_t *ep,
    ngx_str_t *model);
ngx_olla_dmr_facts_t *ngx_olla_dmr_model_facts(ngx_olla_dmr_main_conf_t *omcf,
    const olla_profile_t *p, ngx_str_t *model, ngx_olla_dmr_facts_t *tmp);
#if (NGX_HTTP_SSL)
void ngx_olla_dmr_free_sessions(void *data);
#endif
ngx_int_t ngx_olla_dmr_reserve(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_olla_dmr_endpoint_t *ep);
void ngx_olla_dmr_release(ngx_olla_dmr_ctx_t *ctx);

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

/* ngx_olla_dmr_health.c */
ngx_int_t ngx_olla_dmr_health_init_process(ngx_cycle_t *cycle);
void ngx_olla_dmr_health_set(ngx_olla_dmr_endpoint_t *ep,
    olla_health_e status, const char *reason, size_t len);
void ngx_olla_dmr_passive_result(ngx_olla_dmr_endpoint_t *ep,
    ngx_uint_t transport_failure, ngx_uint_t trial);
ngx_int_t ngx_olla_dmr_breaker_allows(ngx_olla_dmr_endpoint_t *ep,
    ngx_uint_t *trial);

/* ngx_olla_dmr_route.c */
ngx_int_t ngx_olla_dmr_route_handler(ngx_http_request_t *r);
ngx_olla_dmr_ctx_t *ngx_olla_dmr_create_ctx(ngx_http_request_t *r);
ngx_int_t ngx_olla_dmr_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);
ngx_int_t ngx_olla_dmr_send_error(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t status, const char *type,
    const char *code, const char *fmt, ...);
size_t ngx_olla_dmr_error_body(ngx_olla_dmr_ctx_t *ctx, ngx_uint_t status,
    const char *type, const char *code, const char *msg, u_char *buf,
    size_t cap);
ngx_olla_dmr_endpoint_t *ngx_olla_dmr_choose(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t *reason);

/* ngx_olla_dmr_filter.c */
ngx_int_t ngx_olla_dmr_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_olla_dmr_add_variables(ngx_conf_t *cf);

/* ngx_olla_dmr_status.c */
char *ngx_olla_dmr_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_olla_dmr_models_response(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t shape);

#define NGX_OLLA_DMR_LIST_DMR        0   /* DMR/OpenAI list of a type */
#define NGX_OLLA_DMR_LIST_UNIFIED    1   /* /models: with endpoints */
#define NGX_OLLA_DMR_LIST_ANTHROPIC  2   /* Anthropic's list shape */
#define NGX_OLLA_DMR_LIST_OPENAI     3   /* proxy/v1/models */


#endif /* _NGX_OLLA_DMR_H_INCLUDED_ */
