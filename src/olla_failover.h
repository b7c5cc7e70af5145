
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Failing over on fast failures (olla_failover): whether a backend's
 * answer, seen before anything was sent to the client, is tried again on
 * another endpoint.  An answer is retried when it is a 429, a 500, 502,
 * 503 or 504, or a 404 whose body says the model is not found (DMR's
 * "model not found" for a model its list still names, Ollama's "model
 * 'x' not found", vLLM's "does not exist"), and when it came fast: within
 * the bound from the moment the request was sent, so that a generation
 * that ran for a while and then failed is not run twice.  Retry-After
 * values (delta seconds) are read here too.  No nginx headers.
 */


#ifndef _OLLA_FAILOVER_H_INCLUDED_
#define _OLLA_FAILOVER_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef enum {
    OLLA_FAILOVER_NONE = 0,           /* not a failure we retry */
    OLLA_FAILOVER_429,
    OLLA_FAILOVER_5XX,
    OLLA_FAILOVER_NOT_FOUND,          /* 404 "model not found" */

    OLLA_FAILOVER_KINDS
} olla_failover_kind_e;


typedef enum {
    OLLA_FAILOVER_RETRY = 0,
    OLLA_FAILOVER_NO_FAILURE,         /* the status is not one we retry */
    OLLA_FAILOVER_SLOW,               /* it failed after the bound */
    OLLA_FAILOVER_NO_TRIES,           /* the tries are used up */
    OLLA_FAILOVER_NEED_BODY           /* a 404: its body decides */
} olla_failover_verdict_e;


typedef struct {
    int                 status;
    uint64_t            elapsed_ms;   /* from sending to the header */
    uint64_t            fast_ms;      /* the bound */
    unsigned            tries_left;   /* other endpoints it may still try */
    int                 body_known;   /* a 404's body was read */
    const char         *body;         /* and here it is */
    size_t              body_len;
} olla_failover_in_t;


/*
 * The verdict, and in *kind what kind of failure it is (for counting
 * retries by reason)
 */
olla_failover_verdict_e olla_failover_decide(const olla_failover_in_t *in,
    olla_failover_kind_e *kind);

/* the body says the model is not found (case-insensitive) */
int olla_failover_model_not_found(const char *body, size_t len);

/*
 * A Retry-After value in delta seconds ("30"): the seconds, or -1 when it
 * is not one (an HTTP date is the caller's to parse)
 */
long olla_failover_retry_after(const char *value, size_t len);

/* "429", "5xx", "model_not_found" */
const char *olla_failover_kind_name(olla_failover_kind_e kind);


#endif /* _OLLA_FAILOVER_H_INCLUDED_ */
