
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The endpoint-choice policy (SPEC 4) over plain facts: the glue gathers,
 * for every endpoint of the upstream, what the shared zone says about it
 * (is it of the route's type and untried, is it routable, can it serve
 * the model, is the model loaded there, how busy is it, what is its limit
 * and priority), and olla_pick() says which one takes the request, or why
 * none can.  Pure: no allocation, no clock, no randomness of its own (the
 * caller hands in a random number and the rotation cursor), O(endpoints).
 * No nginx headers.
 *
 * The order (each step only among what the previous steps kept):
 *
 *  1. candidates: routable, able to serve the model (its catalogue lists
 *     it, or says nothing), under its concurrency limit;
 *  2. the highest priority tier among them;
 *  3. conversation affinity (with a key): among the tier's endpoints that
 *     have the model resident or loading, the one a consistent hash of the
 *     key ranks first, unless it carries more than its share of their load
 *     (consistent hashing with bounded loads, Mirrokni, Thorup and
 *     Zadimoghaddam 2018: the bound is 1.25 times the average load), then
 *     the next in the key's order (a spill);
 *  4. otherwise the best residency class - resident and idle, resident and
 *     busy, loading, cold - and the balancer within it: least-connections
 *     (ties rotate), round-robin or priority (uniform random).
 *
 * Without residency facts (or with resident-first off) a model the
 * endpoint's list names counts as resident and busy, an endpoint that
 * merely may serve it as cold: the catalogue-only rule.  The hash moves a
 * conversation only when its endpoint leaves the set or a joining endpoint
 * ranks first for it.
 */


#ifndef _OLLA_PICK_H_INCLUDED_
#define _OLLA_PICK_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* balancers */
#define OLLA_PICK_LEAST_CONN    0
#define OLLA_PICK_ROUND_ROBIN   1
#define OLLA_PICK_PRIORITY      2     /* uniform random in the tier */

/*
 * llama-server's parallel slots (DMR's default, --parallel auto): below
 * this many requests in flight an endpoint is never over its share
 */
#define OLLA_PICK_SLOTS         4

/* olla_pick_ep_t.state */
#define OLLA_PICK_SKIP          0     /* not of the route, or tried */
#define OLLA_PICK_DOWN          1     /* unhealthy, or its circuit open */
#define OLLA_PICK_UP            2     /* routable */

/* olla_pick_ep_t.serve: the catalogue's answer for the model */
#define OLLA_PICK_NO            0     /* its catalogue lacks the model */
#define OLLA_PICK_MAYBE         1     /* no catalogue, or no model asked */
#define OLLA_PICK_LISTED        2     /* its catalogue has the model */

/* olla_pick_ep_t.resident: the model's residency there */
#define OLLA_RES_UNKNOWN        0     /* no residency facts */
#define OLLA_RES_COLD           1     /* known not to be loaded */
#define OLLA_RES_LOADING        2
#define OLLA_RES_RESIDENT       3


typedef struct {
    uint32_t           inflight;      /* across workers */
    uint32_t           limit;         /* concurrency limit, 0: none */
    int32_t            priority;
    uint32_t           id;            /* a stable hash of its name */
    uint8_t            state;
    uint8_t            serve;
    uint8_t            resident;
    uint8_t            in_use;        /* the backend says it is busy */

    uint8_t            cls;           /* olla_pick()'s own scratch */
} olla_pick_ep_t;


typedef struct {
    unsigned           lb;            /* OLLA_PICK_LEAST_CONN ... */
    unsigned           resident_first:1;
    unsigned           affinity:1;
    unsigned           prewarm:1;
    uint64_t           key;           /* conversation, 0: none */
    size_t             cursor;        /* the last endpoint chosen */
    uint32_t           random;        /* for OLLA_PICK_PRIORITY */
} olla_pick_req_t;


typedef enum {
    OLLA_PICK_OK = 0,
    OLLA_PICK_NO_TYPE,                /* no endpoint of the route */
    OLLA_PICK_NONE,                   /* none routable */
    OLLA_PICK_FULL,                   /* all at their limit */
    OLLA_PICK_NO_MODEL                /* none can serve the model */
} olla_pick_result_e;


/* why the endpoint was chosen ($olla_route_reason) */
typedef enum {
    OLLA_REASON_NONE = 0,
    OLLA_REASON_RESIDENT,             /* the model is loaded there */
    OLLA_REASON_AFFINITY,             /* the conversation's endpoint */
    OLLA_REASON_SPILL,                /* its endpoint was over its bound */
    OLLA_REASON_LOADING,              /* the model is loading there */
    OLLA_REASON_COLD,                 /* it will load the model */
    OLLA_REASON_FALLBACK,             /* no residency facts: catalogue */

    OLLA_REASON_COUNT
} olla_pick_reason_e;


#define OLLA_PICK_NOWHERE       ((size_t) -1)


typedef struct {
    olla_pick_result_e  result;
    size_t              index;        /* with OLLA_PICK_OK */
    olla_pick_reason_e  reason;

    /*
     * With prewarm: an endpoint of the tier where the model is cold, to
     * warm now because every endpoint that has it loaded carries at least
     * its share of the tier's load; OLLA_PICK_NOWHERE when there is none.
     */
    size_t              prewarm;
} olla_pick_out_t;


/*
 * Without a candidate, result says why: no endpoint of the route at all,
 * none routable, all full, or none serving the model - in that order of
 * precedence, the first that explains it.
 */
void olla_pick(olla_pick_ep_t *eps, size_t n, const olla_pick_req_t *req,
    olla_pick_out_t *out);

/* "resident", "affinity", ... ("-" for OLLA_REASON_NONE) */
const char *olla_pick_reason_name(olla_pick_reason_e reason);

/* 64-bit FNV-1a, and the endpoint id of a name */
uint64_t olla_pick_hash(uint64_t h, const void *p, size_t n);
#define OLLA_PICK_HASH_INIT     0xcbf29ce484222325ULL
uint32_t olla_pick_id(const char *name, size_t len);


#endif /* _OLLA_PICK_H_INCLUDED_ */
