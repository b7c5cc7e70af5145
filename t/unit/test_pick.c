
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
    olla_pick_ep_t       eps[MAX_EPS];   /* inflight, limit, prio, state, serve */
    size_t               n;
    unsigned             lb;
    size_t               cursor;
    uint32_t             random;
    olla_pick_result_e   result;
    size_t               index;
} pick_case_t;


static const pick_case_t  cases[] = {

    /* why nothing: in order of precedence */

    { "no endpoint of the route",
      { { 0, 0, 95, S, MB }, { 0, 0, 95, S, LS } }, 2, LC, 1, 0,
      OLLA_PICK_NO_TYPE, 0 },

    { "none routable",
      { { 0, 0, 95, D, LS }, { 0, 0, 95, S, MB } }, 2, LC, 1, 0,
      OLLA_PICK_NONE, 0 },

    { "all at their limit",
      { { 2, 2, 95, U, LS }, { 5, 5, 80, U, MB }, { 0, 0, 95, D, LS } },
      3, LC, 2, 0, OLLA_PICK_FULL, 0 },

    { "full counts only endpoints that can serve the model",
      { { 2, 2, 95, U, NO }, { 0, 0, 95, U, NO } }, 2, LC, 1, 0,
      OLLA_PICK_NO_MODEL, 0 },

    { "no endpoint lists the model",
      { { 0, 0, 95, U, NO }, { 0, 0, 80, U, NO } }, 2, LC, 1, 0,
      OLLA_PICK_NO_MODEL, 0 },

    /* classes and tiers */

    { "an endpoint listing the model beats an empty list",
      { { 0, 0, 95, U, MB }, { 3, 0, 95, U, LS } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    { "the listing class first, then its highest priority",
      { { 0, 0, 95, U, MB }, { 0, 0, 50, U, LS }, { 0, 0, 80, U, LS } },
      3, LC, 2, 0, OLLA_PICK_OK, 2 },

    { "a lower tier while the higher one is down",
      { { 0, 0, 95, D, LS }, { 0, 0, 80, U, LS } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    { "a lower tier while the higher one is full",
      { { 4, 4, 95, U, LS }, { 9, 0, 80, U, LS } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    { "skipped (tried) endpoints are never chosen",
      { { 0, 0, 95, S, LS }, { 7, 0, 95, U, LS } }, 2, LC, 0, 0,
      OLLA_PICK_OK, 1 },

    /* least-connections */

    { "least-connections: fewest in flight",
      { { 3, 0, 95, U, LS }, { 1, 0, 95, U, LS }, { 2, 0, 95, U, LS } },
      3, LC, 2, 0, OLLA_PICK_OK, 1 },

    { "least-connections: ties rotate from the cursor",
      { { 1, 0, 95, U, LS }, { 1, 0, 95, U, LS }, { 1, 0, 95, U, LS } },
      3, LC, 0, 0, OLLA_PICK_OK, 1 },

    { "least-connections: the rotation wraps",
      { { 1, 0, 95, U, LS }, { 1, 0, 95, U, LS }, { 1, 0, 95, U, LS } },
      3, LC, 2, 0, OLLA_PICK_OK, 0 },

    { "least-connections: only the tier counts",
      { { 0, 0, 80, U, LS }, { 5, 0, 95, U, LS } }, 2, LC, 1, 0,
      OLLA_PICK_OK, 1 },

    /* round-robin */

    { "round-robin: the next after the cursor, busy or not",
      { { 0, 0, 95, U, LS }, { 9, 0, 95, U, LS }, { 0, 0, 95, U, LS } },
      3, RR, 0, 0, OLLA_PICK_OK, 1 },

    { "round-robin: over the tier only",
      { { 0, 0, 95, U, LS }, { 0, 0, 80, U, LS }, { 0, 0, 95, U, LS } },
      3, RR, 0, 0, OLLA_PICK_OK, 2 },

    /* priority: uniform random within the tier */

    { "priority: random 0 is the tier's first",
      { { 0, 0, 80, U, LS }, { 0, 0, 95, U, LS }, { 0, 0, 95, U, LS } },
      3, PR, 0, 0, OLLA_PICK_OK, 1 },

    { "priority: random 3 is the tier's second (3 mod 2)",
      { { 0, 0, 80, U, LS }, { 0, 0, 95, U, LS }, { 0, 0, 95, U, LS } },
      3, PR, 0, 3, OLLA_PICK_OK, 2 },

    { "an unlimited endpoint is never full",
      { { 1000000, 0, 95, U, MB } }, 1, LC, 0, 0, OLLA_PICK_OK, 0 },
};


static void
test_cases(void **state)
{
    size_t              i;
    olla_pick_req_t     req;
    olla_pick_out_t     out;
    const pick_case_t  *c;

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


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_rotation),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
