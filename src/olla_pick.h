
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The endpoint-choice policy (SPEC 4) over plain facts: the glue gathers,
 * for every endpoint of the upstream, what the shared zone says about it
 * (is it of the route's type and untried, is it routable, can it serve
 * the model, how busy is it, what is its limit and priority), and
 * olla_pick() says which one takes the request, or why none can.
 * Pure: no allocation, no clock, no randomness of its own (the caller
 * hands in a random number and the rotation cursor), O(endpoints).
 * No nginx headers.
 */


#ifndef _OLLA_PICK_H_INCLUDED_
#define _OLLA_PICK_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* balancers */
#define OLLA_PICK_LEAST_CONN    0
#define OLLA_PICK_ROUND_ROBIN   1
#define OLLA_PICK_PRIORITY      2     /* weighted random in the tier */

/* olla_pick_ep_t.state */
#define OLLA_PICK_SKIP          0     /* not of the route, or tried */
#define OLLA_PICK_DOWN          1     /* unhealthy, or its circuit open */
#define OLLA_PICK_UP            2     /* routable */

/* olla_pick_ep_t.serve: the catalogue's answer for the model */
#define OLLA_PICK_NO            0     /* its list lacks the model */
#define OLLA_PICK_MAYBE         1     /* no list, or no model asked */
#define OLLA_PICK_LISTED        2     /* its list has the model */


typedef struct {
    uint32_t           inflight;      /* across workers */
    uint32_t           limit;         /* concurrency limit, 0: none */
    int32_t            priority;
    uint8_t            state;
    uint8_t            serve;
} olla_pick_ep_t;


typedef struct {
    unsigned           lb;            /* OLLA_PICK_LEAST_CONN ... */
    size_t             cursor;        /* the last endpoint chosen */
    uint32_t           random;        /* for OLLA_PICK_PRIORITY */
} olla_pick_req_t;


/* olla_pick_out_t.result */
typedef enum {
    OLLA_PICK_OK = 0,
    OLLA_PICK_NO_TYPE,                /* no endpoint of the route */
    OLLA_PICK_NONE,                   /* none routable */
    OLLA_PICK_FULL,                   /* all at their limit */
    OLLA_PICK_NO_MODEL                /* none can serve the model */
} olla_pick_result_e;


typedef struct {
    olla_pick_result_e  result;
    size_t              index;        /* with OLLA_PICK_OK */
} olla_pick_out_t;


/*
 * Candidates: state UP, serve not NO, under the limit.  The best class
 * (LISTED over MAYBE) and, within it, the highest priority; then the
 * balancer: least-connections (fewest in flight; ties rotate from the
 * cursor), round-robin (rotation from the cursor) or priority (uniform
 * random by req->random).  Without a candidate, result says why: no
 * endpoint of the route at all, none routable, all full, or none serving
 * the model - in that order of precedence, the first that explains it.
 */
void olla_pick(const olla_pick_ep_t *eps, size_t n,
    const olla_pick_req_t *req, olla_pick_out_t *out);


#endif /* _OLLA_PICK_H_INCLUDED_ */
