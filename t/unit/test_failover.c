
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the fast-failure rules (src/olla_failover.c): which
 * answers are retried, the bound, the tries, the bodies that say a model
 * is not found (DMR, Ollama, vLLM, llama-swap), Retry-After.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "olla_failover.h"


static int
nf(const char *body)
{
    return olla_failover_model_not_found(body, strlen(body));
}


static olla_failover_verdict_e
decide(int status, uint64_t elapsed, unsigned tries, const char *body,
    olla_failover_kind_e *kind)
{
    olla_failover_in_t  in;

    memset(&in, 0, sizeof(in));
    in.status = status;
    in.elapsed_ms = elapsed;
    in.fast_ms = 5000;
    in.tries_left = tries;

    if (body) {
        in.body_known = 1;
        in.body = body;
        in.body_len = strlen(body);
    }

    return olla_failover_decide(&in, kind);
}


static void
test_statuses(void **state)
{
    olla_failover_kind_e  k;

    assert_int_equal(decide(429, 10, 2, NULL, &k), OLLA_FAILOVER_RETRY);
    assert_int_equal(k, OLLA_FAILOVER_429);

    assert_int_equal(decide(500, 10, 2, NULL, &k), OLLA_FAILOVER_RETRY);
    assert_int_equal(k, OLLA_FAILOVER_5XX);
    assert_int_equal(decide(502, 10, 2, NULL, &k), OLLA_FAILOVER_RETRY);
    assert_int_equal(decide(503, 10, 2, NULL, &k), OLLA_FAILOVER_RETRY);
    assert_int_equal(decide(504, 10, 2, NULL, &k), OLLA_FAILOVER_RETRY);

    /* statuses nginx cannot retry, and successes */
    assert_int_equal(decide(501, 10, 2, NULL, &k), OLLA_FAILOVER_NO_FAILURE);
    assert_int_equal(k, OLLA_FAILOVER_NONE);
    assert_int_equal(decide(505, 10, 2, NULL, &k), OLLA_FAILOVER_NO_FAILURE);
    assert_int_equal(decide(200, 10, 2, NULL, &k), OLLA_FAILOVER_NO_FAILURE);
    assert_int_equal(decide(400, 10, 2, NULL, &k), OLLA_FAILOVER_NO_FAILURE);
    assert_int_equal(decide(403, 10, 2, NULL, &k), OLLA_FAILOVER_NO_FAILURE);

    /* the bound: at it still fast, past it slow */
    assert_int_equal(decide(500, 5000, 2, NULL, &k), OLLA_FAILOVER_RETRY);
    assert_int_equal(decide(500, 5001, 2, NULL, &k), OLLA_FAILOVER_SLOW);
    assert_int_equal(k, OLLA_FAILOVER_5XX);
    assert_int_equal(decide(429, 60000, 2, NULL, &k), OLLA_FAILOVER_SLOW);

    /* no other endpoint left to try */
    assert_int_equal(decide(503, 10, 0, NULL, &k), OLLA_FAILOVER_NO_TRIES);
}


static void
test_not_found(void **state)
{
    olla_failover_kind_e  k;

    /* a 404's body decides; not worth reading when slow or out of tries */
    assert_int_equal(decide(404, 10, 1, NULL, &k), OLLA_FAILOVER_NEED_BODY);
    assert_int_equal(decide(404, 9000, 1, NULL, &k),
                     OLLA_FAILOVER_NO_FAILURE);
    assert_int_equal(decide(404, 10, 0, NULL, &k), OLLA_FAILOVER_NO_FAILURE);

    /* DMR's text on the OpenAI paths */
    assert_int_equal(decide(404, 10, 1, "error while getting model: get "
                            "model '\"ai/x\"': model not found\n", &k),
                     OLLA_FAILOVER_RETRY);
    assert_int_equal(k, OLLA_FAILOVER_NOT_FOUND);

    /* DMR's Anthropic endpoint */
    assert_int_equal(decide(404, 10, 1, "{\"type\":\"error\",\"error\":"
                            "{\"type\":\"not_found_error\",\"message\":"
                            "\"Model not found: ai/x\"}}", &k),
                     OLLA_FAILOVER_RETRY);

    /* a 404 for something else passes through */
    assert_int_equal(decide(404, 10, 1, "404 page not found\n", &k),
                     OLLA_FAILOVER_NO_FAILURE);
    assert_int_equal(decide(404, 10, 1, "backend not found", &k),
                     OLLA_FAILOVER_NO_FAILURE);
    assert_int_equal(decide(404, 10, 1, "", &k), OLLA_FAILOVER_NO_FAILURE);

    assert_true(nf("{\"error\":\"model 'llama3' not found, try pulling "
                   "it first\"}"));
    assert_true(nf("{\"error\":{\"message\":\"The model `x` does not "
                   "exist.\",\"type\":\"NotFoundError\",\"code\":404}}"));
    {
        char  far[300];

        /* "model" and "not found" far apart are not one phrase */
        memset(far, ' ', sizeof(far));
        memcpy(far, "model", 5);
        memcpy(far + sizeof(far) - 10, "not found", 9);
        far[sizeof(far) - 1] = '\0';
        assert_false(nf(far));
        far[5] = 'x';
        memcpy(far + 150, "not found", 9);
        assert_true(nf(far));
    }
    assert_false(olla_failover_model_not_found("not found", 9));
    assert_false(olla_failover_model_not_found(NULL, 0));

    /* within the bytes given only */
    assert_false(olla_failover_model_not_found("model not found", 14));
}


static void
test_retry_after(void **state)
{
    assert_int_equal(olla_failover_retry_after("30", 2), 30);
    assert_int_equal(olla_failover_retry_after(" 0 ", 3), 0);
    assert_int_equal(olla_failover_retry_after("120\t", 4), 120);
    assert_int_equal(olla_failover_retry_after("", 0), -1);
    assert_int_equal(olla_failover_retry_after("-1", 2), -1);
    assert_int_equal(olla_failover_retry_after("1.5", 3), -1);
    assert_int_equal(olla_failover_retry_after("1234567890", 10), -1);
    assert_int_equal(olla_failover_retry_after(
        "Wed, 21 Oct 2015 07:28:00 GMT", 29), -1);

    assert_string_equal(olla_failover_kind_name(OLLA_FAILOVER_429), "429");
    assert_string_equal(olla_failover_kind_name(OLLA_FAILOVER_5XX), "5xx");
    assert_string_equal(olla_failover_kind_name(OLLA_FAILOVER_NOT_FOUND),
                        "model_not_found");
    assert_string_equal(olla_failover_kind_name(OLLA_FAILOVER_KINDS), "-");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_retry_after),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
