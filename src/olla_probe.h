
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Health probes: an incremental reader for the HTTP/1.x response to a probe
 * (status line, the few headers that matter, a body delimited by
 * Content-Length, chunked coding or close, bounded in size) and the rules
 * that turn it into a health verdict (SPEC 6).  No nginx headers.
 */


#ifndef _OLLA_PROBE_H_INCLUDED_
#define _OLLA_PROBE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "olla_model.h"


#define OLLA_PROBE_MAX_BODY  (4 * 1024 * 1024)

#define OLLA_HTTP_AGAIN    0       /* more input wanted */
#define OLLA_HTTP_DONE     1       /* the response is complete */
#define OLLA_HTTP_ERROR   -1       /* malformed; reason in err */
#define OLLA_HTTP_TOO_BIG -2       /* the body exceeds max_body */


typedef enum {
    OLLA_HEALTH_UNKNOWN = 0,       /* not probed yet: routable */
    OLLA_HEALTH_HEALTHY,
    OLLA_HEALTH_UNHEALTHY,
    OLLA_HEALTH_OFFLINE,
    OLLA_HEALTH_CONFIG_ERROR,
    OLLA_HEALTH_RATE_LIMITED,

    OLLA_HEALTH_COUNT              /* the number of states */
} olla_health_e;


typedef struct {
    int         status;            /* 200 */
    int64_t     content_length;    /* -1 when absent */
    int         chunked;
    char        retry_after[64];   /* raw header value, "" when absent */
    char       *body;              /* malloc'd, NUL-terminated */
    size_t      body_len;
    size_t      max_body;
    char        err[128];

    /* private */
    int         state;
    char        line[1024];
    size_t      line_len;
    int64_t     chunk_left;
    int         eof_body;          /* body runs to the end of input */
    size_t      body_cap;
} olla_http_resp_t;


void olla_http_resp_init(olla_http_resp_t *r, size_t max_body);
int olla_http_resp_feed(olla_http_resp_t *r, const char *p, size_t n);
/* the peer closed the connection */
int olla_http_resp_eof(olla_http_resp_t *r);
void olla_http_resp_free(olla_http_resp_t *r);


/*
 * The verdict on a complete response (SPEC 6).  want_models: the body must
 * be a model list (the health URL is the model URL); then on a healthy
 * verdict *models is filled (caller frees).  Otherwise any 2xx is healthy.
 * reason gets a short explanation for status pages and logs.
 */
olla_health_e olla_probe_classify(const olla_http_resp_t *r, int want_models,
    olla_model_list_t *models, char *reason, size_t reasonlen);

const char *olla_health_name(olla_health_e h);
int olla_health_routable(olla_health_e h);

/* Retry-After: delay-seconds or an HTTP-date; seconds from now, -1 bad */
int64_t olla_retry_after_seconds(const char *v, time_t now);

/*
 * The wait before the next probe after `failures` consecutive failures:
 * 0 -> interval, then 2x, 4x, 8x, 12x the interval, never above 60 s
 * (nor below the interval).
 */
uint64_t olla_probe_backoff_ms(uint64_t interval_ms, unsigned failures);


#endif /* _OLLA_PROBE_H_INCLUDED_ */
