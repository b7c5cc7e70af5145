
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the wait queue (src/olla_queue.c): tickets in order of
 * arrival, the turn by ticket and signature across epochs, leaving from
 * anywhere, the length limit, expiry, moving to a larger array.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "olla_queue.h"


#define CAP  8


static uint64_t
join(olla_queue_t *q, uint64_t sig, uint64_t deadline)
{
    uint64_t  t;

    assert_int_equal(olla_queue_join(q, CAP, sig, deadline, 100, 1, 0, &t), 0);

    return t;
}


static void
test_order(void **state)
{
    uint64_t            a, b, c, epoch;
    olla_queue_t        q;
    olla_queue_entry_t  e[CAP];

    olla_queue_init(&q, e, CAP);
    epoch = 1;

    assert_null(olla_queue_next(&q, epoch));
    assert_true(olla_queue_may_pass(&q, 7, epoch));

    a = join(&q, 7, 1000);
    b = join(&q, 7, 1000);
    c = join(&q, 7, 1000);

    assert_true(a < b && b < c);
    assert_int_equal(q.waiting, 3);
    assert_int_equal(olla_queue_ahead(&q, a), 0);
    assert_int_equal(olla_queue_ahead(&q, c), 2);

    /* the oldest has the turn; a newcomer may not pass it */
    assert_int_equal(olla_queue_next(&q, epoch)->ticket, a);
    assert_false(olla_queue_may_pass(&q, 7, epoch));
    assert_false(olla_queue_may_pass(&q, 9, epoch));

    /* it found no slot: its kind is blocked for the epoch, nobody's turn */
    assert_int_equal(olla_queue_block(&q, 7, epoch, epoch), 1);
    assert_null(olla_queue_next(&q, epoch));

    /* a newcomer of the same kind joins; of another kind it may try */
    assert_false(olla_queue_may_pass(&q, 7, epoch));
    assert_true(olla_queue_may_pass(&q, 9, epoch));

    /* a slot freed: a new epoch, the oldest again */
    epoch++;
    assert_int_equal(olla_queue_next(&q, epoch)->ticket, a);

    /* served: the next in line */
    assert_int_equal(olla_queue_leave(&q, a), 1);
    assert_int_equal(olla_queue_leave(&q, a), 0);
    assert_int_equal(olla_queue_next(&q, epoch)->ticket, b);

    /* one in the middle leaves (its client went away) */
    assert_int_equal(olla_queue_leave(&q, c), 1);
    assert_int_equal(q.waiting, 1);
    assert_int_equal(olla_queue_next(&q, epoch)->ticket, b);
    assert_int_equal(olla_queue_leave(&q, b), 1);
    assert_null(olla_queue_next(&q, epoch));
    assert_true(olla_queue_may_pass(&q, 7, epoch));

    /* tickets go on from where they were */
    assert_true(join(&q, 7, 1000) > c);
}


static void
test_kinds(void **state)
{
    uint64_t            a, b, c, d, epoch;
    olla_queue_t        q;
    olla_queue_entry_t  e[CAP];

    olla_queue_init(&q, e, CAP);
    epoch = 10;

    /* a big model's waiters first, then a small model's */
    a = join(&q, 70, 1000);
    b = join(&q, 70, 1000);
    c = join(&q, 1, 1000);
    d = join(&q, 70, 1000);

    assert_int_equal(olla_queue_next(&q, epoch)->ticket, a);

    /* the big model's endpoints are full: the turn passes over b and d */
    assert_int_equal(olla_queue_block(&q, 70, epoch, epoch), 1);
    assert_int_equal(olla_queue_next(&q, epoch)->ticket, c);

    /* the small one found room */
    assert_int_equal(olla_queue_leave(&q, c), 1);
    assert_null(olla_queue_next(&q, epoch));

    /* a later epoch starts from the oldest again */
    assert_int_equal(olla_queue_next(&q, epoch + 1)->ticket, a);
    (void) b;
    (void) d;
}


static void
test_block_race(void **state)
{
    uint64_t            a;
    olla_queue_t        q;
    olla_queue_entry_t  e[CAP];

    olla_queue_init(&q, e, CAP);

    a = join(&q, 5, 1000);

    /* tried in epoch 3, a slot was freed meanwhile (now 4): not blocked */
    assert_int_equal(olla_queue_block(&q, 5, 3, 4), 0);
    assert_int_equal(olla_queue_next(&q, 4)->ticket, a);
    assert_false(olla_queue_blocked(&q, 5, 4));

    /* blocking twice is harmless */
    assert_int_equal(olla_queue_block(&q, 5, 4, 4), 1);
    assert_int_equal(olla_queue_block(&q, 5, 4, 4), 1);
    assert_int_equal(q.nblocked, 1);
    assert_null(olla_queue_next(&q, 4));
}


static void
test_many_kinds(void **state)
{
    uint64_t            i, t[CAP], epoch;
    olla_queue_t        q;
    olla_queue_entry_t  e[CAP];

    /* more kinds blocked than remembered: the turn waits for an epoch */

    olla_queue_entry_t  big[OLLA_QUEUE_BLOCKED + 4];
    olla_queue_t        q2;

    olla_queue_init(&q2, big, OLLA_QUEUE_BLOCKED + 4);
    epoch = 1;

    for (i = 0; i < OLLA_QUEUE_BLOCKED + 2; i++) {
        assert_int_equal(olla_queue_join(&q2, 100, 1000 + i, 50, 1, 1, 0,
                                         &t[i % CAP]), 0);
    }

    for (i = 0; i < OLLA_QUEUE_BLOCKED; i++) {
        assert_non_null(olla_queue_next(&q2, epoch));
        assert_int_equal(olla_queue_next(&q2, epoch)->sig, 1000 + i);
        assert_int_equal(olla_queue_block(&q2, 1000 + i, epoch, epoch), 1);
    }

    assert_null(olla_queue_next(&q2, epoch));
    assert_false(olla_queue_may_pass(&q2, 5000, epoch));
    assert_int_equal(olla_queue_next(&q2, epoch + 1)->sig, 1000);

    /* the limit and a full array */

    olla_queue_init(&q, e, CAP);

    for (i = 0; i < 3; i++) {
        assert_int_equal(olla_queue_join(&q, 3, 1, 50, 1, 1, 0, &t[i]), 0);
    }

    assert_int_equal(olla_queue_join(&q, 3, 1, 50, 1, 1, 0, &t[3]), -1);

    for (i = 3; i < CAP; i++) {
        assert_int_equal(olla_queue_join(&q, 100, 1, 50, 1, 1, 0, &t[i]), 0);
    }

    assert_int_equal(olla_queue_join(&q, 100, 1, 50, 1, 1, 0, &t[0]), -1);
    assert_int_equal(q.waiting, CAP);
}


static void
test_expire_move(void **state)
{
    uint64_t            a, b, c;
    olla_queue_t        q;
    olla_queue_entry_t  e[CAP], e2[2 * CAP], e3[1];

    olla_queue_init(&q, e, CAP);

    a = join(&q, 1, 1000);
    b = join(&q, 1, 5000);
    c = join(&q, 1, 1200);

    /* past the deadline but within the grace: stays */
    assert_int_equal(olla_queue_expire(&q, 1500, 1000), 0);

    /* a and c well past: their owners are gone */
    assert_int_equal(olla_queue_expire(&q, 2300, 1000), 2);
    assert_int_equal(q.waiting, 1);
    assert_int_equal(olla_queue_next(&q, 1)->ticket, b);
    assert_null(olla_queue_find(&q, a));
    assert_null(olla_queue_find(&q, c));

    /* a larger array: the waiters move, tickets and order kept */
    a = join(&q, 2, 9000);
    assert_int_equal(olla_queue_move(&q, e3, 1), -1);
    assert_int_equal(olla_queue_move(&q, e2, 2 * CAP), 0);
    assert_int_equal(q.cap, 2 * CAP);
    assert_int_equal(q.waiting, 2);
    assert_int_equal(olla_queue_next(&q, 1)->ticket, b);
    assert_int_equal(olla_queue_find(&q, a)->sig, 2);
    assert_int_equal(olla_queue_find(&q, a)->deadline, 9000);
    assert_true(join(&q, 3, 1) > a);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_block_race),
        cmocka_unit_test(test_many_kinds),
        cmocka_unit_test(test_expire_move),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
