
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the endpoint-choice policy (src/olla_pick.c), table by
 * table: each case is a row of endpoint facts, a request and the
 * expected verdict.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "olla_pick.h"


#define S   OLLA_PICK_SKIP
#define D   OLLA_PICK_DOWN
#define U   OLLA_PICK_UP
#define NO  OLLA_PICK_NO
#define MB  OLLA_PICK_MAYBE
#define LS  OLLA_PICK_LISTED

#define LC  OLLA_PICK_LEAST_CONN
#define RR  OLLA_PICK_ROUND_ROBIN
#define PR  OLLA_PICK_PRIORITY

#define MAX_EPS  8


typedef struct {
    const char          *name;
    olla_pick_ep_t       eps[MAX_EPS];   /* inflight, limit, prio, id,
                                            state, serve, resident, in_use */
    size_t               n;
    unsigned             lb;
    size_t               cursor;
    uint32_t             random;
    olla_pick_result_e   result;
    size_t               index;
} pick_case_t;


static pick_case_t  cases[] = {

    /* why nothing: in order of precedence */

    { "no endpoint of the route",
      { { 0, 0, 95, 0, S, MB, 0, 0, 0 }, { 0, 0, 95, 0, S, LS, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_NO_TYPE, 0 },

    { "none routable",
      { { 0, 0, 95, 0, D, LS, 0, 0, 0 }, { 0, 0, 95, 0, S, MB, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_NONE, 0 },

    { "all at their limit",
      { { 2, 2, 95, 0, U, LS, 0, 0, 0 }, { 5, 5, 80, 0, U, MB, 0, 0, 0 }, { 0, 0, 95, 0, D, LS, 0, 0, 0 } },
      3, LC, 2, 0, OLLA_PICK_FULL, 0 },

    { "full counts only endpoints that can serve the model",
      { { 2, 2, 95, 0, U, NO, 0, 0, 0 }, { 0, 0, 95, 0, U, NO, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_NO_MODEL, 0 },

    { "no endpoint lists the model",
      { { 0, 0, 95, 0, U, NO, 0, 0, 0 }, { 0, 0, 80, 0, U, NO, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_NO_MODEL, 0 },

    /* classes and tiers */

    { "an endpoint listing the model beats an empty list",
      { { 0, 0, 95, 0, U, MB, 0, 0, 0 }, { 3, 0, 95, 0, U, LS, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    { "priority tiers come first: the top tier even with an empty list",
      { { 0, 0, 95, 0, U, MB, 0, 0, 0 }, { 0, 0, 50, 0, U, LS, 0, 0, 0 }, { 0, 0, 80, 0, U, LS, 0, 0, 0 } },
      3, LC, 2, 0, OLLA_PICK_OK, 0 },

    { "within the tier the endpoint listing the model",
      { { 0, 0, 95, 0, U, MB, 0, 0, 0 }, { 0, 0, 50, 0, U, LS, 0, 0, 0 }, { 5, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, LC, 2, 0, OLLA_PICK_OK, 2 },

    { "a lower tier while the higher one is down",
      { { 0, 0, 95, 0, D, LS, 0, 0, 0 }, { 0, 0, 80, 0, U, LS, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    { "a lower tier while the higher one is full",
      { { 4, 4, 95, 0, U, LS, 0, 0, 0 }, { 9, 0, 80, 0, U, LS, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    { "skipped (tried) endpoints are never chosen",
      { { 0, 0, 95, 0, S, LS, 0, 0, 0 }, { 7, 0, 95, 0, U, LS, 0, 0, 0 } }, 2, LC, 0, 0,
      OLLA_PICK_OK, 1 },

    /* least-connections */

    { "least-connections: fewest in flight",
      { { 3, 0, 95, 0, U, LS, 0, 0, 0 }, { 1, 0, 95, 0, U, LS, 0, 0, 0 }, { 2, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, LC, 2, 0, OLLA_PICK_OK, 1 },

    { "least-connections: ties rotate from the cursor",
      { { 1, 0, 95, 0, U, LS, 0, 0, 0 }, { 1, 0, 95, 0, U, LS, 0, 0, 0 }, { 1, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, LC, 0, 0, OLLA_PICK_OK, 1 },

    { "least-connections: the rotation wraps",
      { { 1, 0, 95, 0, U, LS, 0, 0, 0 }, { 1, 0, 95, 0, U, LS, 0, 0, 0 }, { 1, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, LC, 2, 0, OLLA_PICK_OK, 0 },

    { "least-connections: only the tier counts",
      { { 0, 0, 80, 0, U, LS, 0, 0, 0 }, { 5, 0, 95, 0, U, LS, 0, 0, 0 } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    /* round-robin */

    { "round-robin: the next after the cursor, busy or not",
      { { 0, 0, 95, 0, U, LS, 0, 0, 0 }, { 9, 0, 95, 0, U, LS, 0, 0, 0 }, { 0, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, RR, 0, 0, OLLA_PICK_OK, 1 },

    { "round-robin: over the tier only",
      { { 0, 0, 95, 0, U, LS, 0, 0, 0 }, { 0, 0, 80, 0, U, LS, 0, 0, 0 }, { 0, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, RR, 0, 0, OLLA_PICK_OK, 2 },

    /* priority: uniform random within the tier */

    { "priority: random 0 is the tier's first",
      { { 0, 0, 80, 0, U, LS, 0, 0, 0 }, { 0, 0, 95, 0, U, LS, 0, 0, 0 }, { 0, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, PR, 0, 0, OLLA_PICK_OK, 1 },

    { "priority: random 3 is the tier's second (3 mod 2)",
      { { 0, 0, 80, 0, U, LS, 0, 0, 0 }, { 0, 0, 95, 0, U, LS, 0, 0, 0 }, { 0, 0, 95, 0, U, LS, 0, 0, 0 } },
      3, PR, 0, 3, OLLA_PICK_OK, 2 },

    { "an unlimited endpoint is never full",
      { { 1000000, 0, 95, 0, U, MB, 0, 0, 0 } }, 1, LC, 0, 0, OLLA_PICK_OK, 0 },
};


static void
test_cases(void **state)
{
    size_t              i;
    olla_pick_req_t     req;
    olla_pick_out_t     out;
    pick_case_t        *c;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        c = &cases[i];

        memset(&req, 0, sizeof(req));
        req.lb = c->lb;
        req.cursor = c->cursor;
        req.random = c->random;

        memset(&out, 0xa5, sizeof(out));

        olla_pick(c->eps, c->n, &req, &out);

        if (out.result != c->result
            || (c->result == OLLA_PICK_OK && out.index != c->index))
        {
            fail_msg("case \"%s\": result %d index %zu, expected %d %zu",
                     c->name, (int) out.result, out.index, (int) c->result,
                     c->index);
        }
    }
}


/* no endpoints at all */

static void
test_empty(void **state)
{
    olla_pick_req_t  req;
    olla_pick_out_t  out;

    memset(&req, 0, sizeof(req));

    olla_pick(NULL, 0, &req, &out);

    assert_int_equal(out.result, OLLA_PICK_NO_TYPE);
}


/* a rotation visits every endpoint of the tier in turn */

static void
test_rotation(void **state)
{
    size_t           i, seen[4];
    olla_pick_ep_t   eps[4];
    olla_pick_req_t  req;
    olla_pick_out_t  out;

    memset(eps, 0, sizeof(eps));

    for (i = 0; i < 4; i++) {
        eps[i].state = OLLA_PICK_UP;
        eps[i].serve = OLLA_PICK_LISTED;
        eps[i].priority = (i == 2) ? 50 : 95;
    }

    memset(seen, 0, sizeof(seen));
    memset(&req, 0, sizeof(req));
    req.lb = OLLA_PICK_ROUND_ROBIN;
    req.cursor = 3;

    for (i = 0; i < 9; i++) {
        olla_pick(eps, 4, &req, &out);
        assert_int_equal(out.result, OLLA_PICK_OK);
        seen[out.index]++;
        req.cursor = out.index;
    }

    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 3);
    assert_int_equal(seen[2], 0);
    assert_int_equal(seen[3], 3);
}


/* residency classes, resident-first on, no conversation key */

#define RU  OLLA_RES_UNKNOWN
#define RC  OLLA_RES_COLD
#define RL  OLLA_RES_LOADING
#define RR_ OLLA_RES_RESIDENT

typedef struct {
    const char          *name;
    olla_pick_ep_t       eps[MAX_EPS];
    size_t               n;
    unsigned             resident_first;
    size_t               index;
    olla_pick_reason_e   reason;
} class_case_t;


static class_case_t  class_cases[] = {

    { "resident and idle beats resident and busy",
      { { 1, 0, 95, 1, U, LS, RR_, 0, 0 }, { 0, 0, 95, 2, U, LS, RR_, 0, 0 } },
      2, 1, 1, OLLA_REASON_RESIDENT },

    { "the backend's in_use makes a resident endpoint busy",
      { { 0, 0, 95, 1, U, LS, RR_, 1, 0 }, { 0, 0, 95, 2, U, LS, RR_, 0, 0 } },
      2, 1, 1, OLLA_REASON_RESIDENT },

    { "resident and busy beats loading",
      { { 0, 0, 95, 1, U, LS, RL, 0, 0 }, { 3, 0, 95, 2, U, LS, RR_, 0, 0 } },
      2, 1, 1, OLLA_REASON_RESIDENT },

    { "loading beats cold",
      { { 0, 0, 95, 1, U, MB, RC, 0, 0 }, { 2, 0, 95, 2, U, MB, RL, 0, 0 } },
      2, 1, 1, OLLA_REASON_LOADING },

    { "a cold endpoint when nothing has the model",
      { { 4, 0, 95, 1, U, MB, RC, 0, 0 }, { 2, 0, 95, 2, U, MB, RC, 0, 0 } },
      2, 1, 1, OLLA_REASON_COLD },

    { "the tier first: a cold top tier over a resident lower tier",
      { { 0, 0, 80, 1, U, LS, RR_, 0, 0 }, { 0, 0, 95, 2, U, MB, RC, 0, 0 } },
      2, 1, 1, OLLA_REASON_COLD },

    { "a resident endpoint at its limit gives way to a cold one",
      { { 4, 4, 95, 1, U, LS, RR_, 0, 0 }, { 0, 4, 95, 2, U, MB, RC, 0, 0 } },
      2, 1, 1, OLLA_REASON_COLD },

    { "unknown residency: the catalogue's listing counts as loaded",
      { { 0, 0, 95, 1, U, MB, RU, 0, 0 }, { 5, 0, 95, 2, U, LS, RU, 0, 0 } },
      2, 1, 1, OLLA_REASON_FALLBACK },

    { "unknown residency and listed beats known cold",
      { { 0, 0, 95, 1, U, MB, RC, 0, 0 }, { 5, 0, 95, 2, U, LS, RU, 0, 0 } },
      2, 1, 1, OLLA_REASON_FALLBACK },

    { "known resident beats unknown and listed when idle",
      { { 0, 0, 95, 1, U, LS, RU, 0, 0 }, { 0, 0, 95, 2, U, MB, RR_, 0, 0 } },
      2, 1, 1, OLLA_REASON_RESIDENT },

    { "resident-first off: residency is ignored, least-connections",
      { { 3, 0, 95, 1, U, LS, RR_, 0, 0 }, { 0, 0, 95, 2, U, LS, RC, 0, 0 } },
      2, 0, 1, OLLA_REASON_FALLBACK },

    { "resident-first off: the listing still counts",
      { { 0, 0, 95, 1, U, MB, RR_, 0, 0 }, { 3, 0, 95, 2, U, LS, RC, 0, 0 } },
      2, 0, 1, OLLA_REASON_FALLBACK },
};


static void
test_classes(void **state)
{
    size_t               i;
    olla_pick_req_t      req;
    olla_pick_out_t      out;
    class_case_t        *c;

    for (i = 0; i < sizeof(class_cases) / sizeof(class_cases[0]); i++) {
        c = &class_cases[i];

        memset(&req, 0, sizeof(req));
        req.lb = OLLA_PICK_LEAST_CONN;
        req.cursor = c->n - 1;
        req.resident_first = c->resident_first;
        req.affinity = 1;                     /* no key: no effect */

        olla_pick(c->eps, c->n, &req, &out);

        if (out.result != OLLA_PICK_OK || out.index != c->index
            || out.reason != c->reason)
        {
            fail_msg("case \"%s\": result %d index %zu reason %s, expected "
                     "%zu %s", c->name, (int) out.result, out.index,
                     olla_pick_reason_name(out.reason), c->index,
                     olla_pick_reason_name(c->reason));
        }
    }
}


/* a fleet for the affinity tests: n resident, idle, same tier */

static void
fleet(olla_pick_ep_t *eps, size_t n)
{
    size_t  i;
    char    name[32];

    memset(eps, 0, n * sizeof(olla_pick_ep_t));

    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "dmr-%zu", i);
        eps[i].id = olla_pick_id(name, strlen(name));
        eps[i].priority = 95;
        eps[i].state = OLLA_PICK_UP;
        eps[i].serve = OLLA_PICK_LISTED;
        eps[i].resident = OLLA_RES_RESIDENT;
    }
}


static size_t
pick_key(olla_pick_ep_t *eps, size_t n, uint64_t key,
    olla_pick_reason_e *reason)
{
    olla_pick_req_t  req;
    olla_pick_out_t  out;

    memset(&req, 0, sizeof(req));
    req.lb = OLLA_PICK_LEAST_CONN;
    req.resident_first = 1;
    req.affinity = 1;
    req.key = key;
    req.cursor = key % 7;

    olla_pick(eps, n, &req, &out);

    assert_int_equal(out.result, OLLA_PICK_OK);

    if (reason) {
        *reason = out.reason;
    }

    return out.index;
}


static uint64_t
key_of(unsigned i)
{
    return olla_pick_hash(OLLA_PICK_HASH_INIT, &i, sizeof(i)) | 1;
}


#define KEYS  2000


/* the same conversation, the same endpoint; keys spread evenly */

static void
test_affinity_spread(void **state)
{
    size_t              i, j, count[5];
    olla_pick_ep_t      eps[5];
    olla_pick_reason_e  reason;

    fleet(eps, 5);
    memset(count, 0, sizeof(count));

    for (i = 0; i < KEYS; i++) {
        j = pick_key(eps, 5, key_of(i), &reason);
        assert_int_equal(reason, OLLA_REASON_AFFINITY);
        assert_int_equal(pick_key(eps, 5, key_of(i), NULL), j);
        count[j]++;
    }

    for (j = 0; j < 5; j++) {
        /* 400 expected each */
        assert_in_range(count[j], 300, 500);
    }
}


/* an endpoint leaves: only its conversations move; one joins: only to it */

static void
test_affinity_leave_join(void **state)
{
    size_t          i, before[KEYS], after, moved;
    olla_pick_ep_t  eps[6];

    fleet(eps, 5);

    for (i = 0; i < KEYS; i++) {
        before[i] = pick_key(eps, 5, key_of(i), NULL);
    }

    /* dmr-2 goes down */

    eps[2].state = OLLA_PICK_DOWN;
    moved = 0;

    for (i = 0; i < KEYS; i++) {
        after = pick_key(eps, 5, key_of(i), NULL);
        assert_int_not_equal(after, 2);

        if (before[i] != 2) {
            assert_int_equal(after, before[i]);

        } else {
            moved++;
        }
    }

    assert_in_range(moved, 300, 500);

    /* it unloads the model instead: the same */

    eps[2].state = OLLA_PICK_UP;
    eps[2].resident = OLLA_RES_COLD;

    for (i = 0; i < KEYS; i++) {
        after = pick_key(eps, 5, key_of(i), NULL);

        if (before[i] != 2) {
            assert_int_equal(after, before[i]);
        }
    }

    /*
     * it loads the model again: nothing waits for that load while the
     * others have it; loaded, its conversations come back, only those
     */

    eps[2].resident = OLLA_RES_LOADING;

    for (i = 0; i < KEYS; i++) {
        assert_int_not_equal(pick_key(eps, 5, key_of(i), NULL), 2);
    }

    eps[2].resident = OLLA_RES_RESIDENT;

    for (i = 0; i < KEYS; i++) {
        assert_int_equal(pick_key(eps, 5, key_of(i), NULL), before[i]);
    }

    /* a sixth endpoint joins: a sixth of the keys move, all to it */

    fleet(eps, 6);
    moved = 0;

    for (i = 0; i < KEYS; i++) {
        after = pick_key(eps, 6, key_of(i), NULL);

        if (after != before[i]) {
            assert_int_equal(after, 5);
            moved++;
        }
    }

    assert_in_range(moved, 250, 420);
}


/* a hot conversation spills to its next endpoint, never above the bound */

static void
test_affinity_bound(void **state)
{
    size_t              i, top, next;
    uint64_t            key;
    olla_pick_ep_t      eps[3];
    olla_pick_reason_e  reason;

    fleet(eps, 3);
    key = key_of(42);

    top = pick_key(eps, 3, key, &reason);
    assert_int_equal(reason, OLLA_REASON_AFFINITY);

    /*
     * below llama-server's parallel slots an endpoint is never over its
     * share: loads 3,0,0 (bound max(ceil(1.25 * 4 / 3), 4) = 4), the top
     */

    eps[top].inflight = OLLA_PICK_SLOTS - 1;

    assert_int_equal(pick_key(eps, 3, key, &reason), top);
    assert_int_equal(reason, OLLA_REASON_AFFINITY);

    /* loads 4,0,0: the top is at the bound: the next in its order */

    eps[top].inflight = OLLA_PICK_SLOTS;

    next = pick_key(eps, 3, key, &reason);
    assert_int_not_equal(next, top);
    assert_int_equal(reason, OLLA_REASON_SPILL);

    /* the others busy too: the bound grows, the top again */

    for (i = 0; i < 3; i++) {
        eps[i].inflight = 4;
    }

    assert_int_equal(pick_key(eps, 3, key, &reason), top);
    assert_int_equal(reason, OLLA_REASON_AFFINITY);

    /* busier: loads 8,4,4: bound ceil(1.25 * 17 / 3) = 8: spill */

    eps[top].inflight = 8;

    assert_int_not_equal(pick_key(eps, 3, key, &reason), top);
    assert_int_equal(reason, OLLA_REASON_SPILL);

    for (i = 0; i < 3; i++) {
        eps[i].inflight = 4;
    }

    /* at its concurrency limit: never, whatever the hash says */

    for (i = 0; i < 3; i++) {
        eps[i].limit = 4;
    }

    eps[(top + 1) % 3].inflight = 3;

    assert_int_equal(pick_key(eps, 3, key, &reason), (top + 1) % 3);

    /* a single resident endpoint keeps a conversation until its limit */

    fleet(eps, 3);
    eps[1].resident = OLLA_RES_COLD;
    eps[2].resident = OLLA_RES_COLD;
    eps[0].inflight = 7;
    eps[0].limit = 8;

    for (i = 0; i < 50; i++) {
        assert_int_equal(pick_key(eps, 3, key_of(i), &reason), 0);
        assert_int_equal(reason, OLLA_REASON_AFFINITY);
    }
}


/* affinity only where the model is loaded; cold everywhere: one load */

static void
test_affinity_cold(void **state)
{
    size_t              i, first;
    olla_pick_ep_t      eps[3];
    olla_pick_reason_e  reason;

    fleet(eps, 3);

    for (i = 0; i < 3; i++) {
        eps[i].resident = OLLA_RES_COLD;
        eps[i].serve = OLLA_PICK_MAYBE;
    }

    first = pick_key(eps, 3, key_of(1), &reason);
    assert_int_equal(reason, OLLA_REASON_COLD);

    /* the gateway marks it loading: every conversation follows it */

    eps[first].resident = OLLA_RES_LOADING;
    eps[first].inflight = 1;

    for (i = 2; i < 100; i++) {
        assert_int_equal(pick_key(eps, 3, key_of(i), &reason), first);
        assert_int_equal(reason, OLLA_REASON_AFFINITY);
    }
}


/* pre-warming: when the loaded endpoints carry their share of the load */

static void
test_prewarm(void **state)
{
    olla_pick_ep_t   eps[3];
    olla_pick_req_t  req;
    olla_pick_out_t  out;

    fleet(eps, 3);
    eps[1].resident = OLLA_RES_COLD;
    eps[2].resident = OLLA_RES_COLD;
    eps[2].inflight = 1;              /* serving another model */

    memset(&req, 0, sizeof(req));
    req.lb = OLLA_PICK_LEAST_CONN;
    req.resident_first = 1;
    req.prewarm = 1;
    req.cursor = 2;

    /* idle: the resident endpoint, nothing to warm */

    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.index, 0);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /*
     * a few requests: they fit in its parallel slots, nothing to warm
     * (loads 2,0,1: fair share ceil(1.25 * 4 / 3) = 2, but slots 4)
     */

    eps[0].inflight = 2;

    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.index, 0);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /* its slots full: loads 4,0,1: warm dmr-1 */

    eps[0].inflight = OLLA_PICK_SLOTS;

    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.index, 0);
    assert_int_equal(out.reason, OLLA_REASON_RESIDENT);
    assert_int_equal(out.prewarm, 1);

    /* off: never */

    req.prewarm = 0;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /* loading somewhere already, and idle there: nothing to warm */

    req.prewarm = 1;
    eps[1].resident = OLLA_RES_LOADING;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.index, 0);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /* both busy: loads 2,2,1, fair share ceil(1.25 * 6 / 3) = 3: not yet */

    eps[1].inflight = 2;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /* loads 3,3,1: fair share ceil(1.25 * 8 / 3) = 4: not yet either */

    eps[0].inflight = 3;
    eps[1].inflight = 3;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /* loads 3,3,0: fair share ceil(1.25 * 7 / 3) = 3, slots 4: not yet */

    eps[2].inflight = 0;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /* loads 4,4,0: both fill their slots: warm dmr-2 */

    eps[0].inflight = OLLA_PICK_SLOTS;
    eps[1].inflight = OLLA_PICK_SLOTS;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.prewarm, 2);

    eps[1].inflight = 0;
    eps[2].resident = OLLA_RES_UNKNOWN;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);

    /* without residency facts: never */

    fleet(eps, 3);
    eps[0].resident = OLLA_RES_UNKNOWN;
    eps[1].resident = OLLA_RES_UNKNOWN;
    eps[2].resident = OLLA_RES_UNKNOWN;
    eps[0].inflight = 5;
    olla_pick(eps, 3, &req, &out);
    assert_int_equal(out.prewarm, OLLA_PICK_NOWHERE);
}


static void
test_names(void **state)
{
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_NONE), "-");
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_RESIDENT),
                        "resident");
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_AFFINITY),
                        "affinity");
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_SPILL), "spill");
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_LOADING),
                        "loading");
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_COLD), "cold");
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_FALLBACK),
                        "fallback");
    assert_string_equal(olla_pick_reason_name(OLLA_REASON_COUNT), "-");

    /* FNV-1a 64 of "a" */
    assert_true(olla_pick_hash(OLLA_PICK_HASH_INIT, "a", 1)
                == 0xaf63dc4c8601ec8cULL);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_affinity_spread),
        cmocka_unit_test(test_affinity_leave_join),
        cmocka_unit_test(test_affinity_bound),
        cmocka_unit_test(test_affinity_cold),
        cmocka_unit_test(test_prewarm),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
