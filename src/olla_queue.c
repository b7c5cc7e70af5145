
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The wait queue of an upstream (see olla_queue.h).  The entries are an
 * unordered array (a free entry has ticket 0); every operation is a scan
 * of it, which for the few hundred entries a queue has costs less than
 * keeping an order would.
 */


#include "olla_queue.h"

#include <string.h>


void
olla_queue_init(olla_queue_t *q, olla_queue_entry_t *entries, uint32_t cap)
{
    memset(q, 0, sizeof(olla_queue_t));
    memset(entries, 0, (size_t) cap * sizeof(olla_queue_entry_t));

    q->entries = entries;
    q->cap = cap;
    q->next_ticket = 1;
}


int
olla_queue_move(olla_queue_t *q, olla_queue_entry_t *entries, uint32_t cap)
{
    uint32_t  i, n;

    if (cap < q->waiting) {
        return -1;
    }

    memset(entries, 0, (size_t) cap * sizeof(olla_queue_entry_t));

    n = 0;

    for (i = 0; i < q->cap; i++) {
        if (q->entries[i].ticket) {
            entries[n++] = q->entries[i];
        }
    }

    q->entries = entries;
    q->cap = cap;

    return 0;
}


int
olla_queue_join(olla_queue_t *q, uint32_t limit, uint64_t sig,
    uint64_t deadline, uint32_t pid, uint32_t gen, uint32_t slot,
    uint64_t *ticket)
{
    uint32_t             i;
    olla_queue_entry_t  *e;

    if (q->waiting >= limit || q->waiting >= q->cap) {
        return -1;
    }

    for (i = 0; i < q->cap; i++) {
        e = &q->entries[i];

        if (e->ticket == 0) {
            e->ticket = q->next_ticket++;
            e->sig = sig;
            e->deadline = deadline;
            e->pid = pid;
            e->gen = gen;
            e->slot = slot;

            if (q->next_ticket == 0) {
                /* after 2^64 tickets: never 0 */
                q->next_ticket = 1;
            }

            q->waiting++;
            *ticket = e->ticket;

            return 0;
        }
    }

    return -1;
}


olla_queue_entry_t *
olla_queue_find(olla_queue_t *q, uint64_t ticket)
{
    uint32_t  i;

    if (ticket == 0) {
        return NULL;
    }

    for (i = 0; i < q->cap; i++) {
        if (q->entries[i].ticket == ticket) {
            return &q->entries[i];
        }
    }

    return NULL;
}


int
olla_queue_leave(olla_queue_t *q, uint64_t ticket)
{
    olla_queue_entry_t  *e;

    e = olla_queue_find(q, ticket);

    if (e == NULL) {
        return 0;
    }

    memset(e, 0, sizeof(olla_queue_entry_t));
    q->waiting--;

    return 1;
}


int
olla_queue_blocked(olla_queue_t *q, uint64_t sig, uint64_t epoch)
{
    uint32_t  i;

    if (q->blocked_epoch != epoch) {
        return 0;
    }

    for (i = 0; i < q->nblocked; i++) {
        if (q->blocked[i] == sig) {
            return 1;
        }
    }

    return 0;
}


olla_queue_entry_t *
olla_queue_next(olla_queue_t *q, uint64_t epoch)
{
    uint32_t             i;
    olla_queue_entry_t  *e, *best;

    if (q->waiting == 0) {
        return NULL;
    }

    if (q->blocked_epoch == epoch && q->nblocked == OLLA_QUEUE_BLOCKED) {
        /* too many kinds blocked to tell: wait for the next epoch */
        return NULL;
    }

    best = NULL;

    for (i = 0; i < q->cap; i++) {
        e = &q->entries[i];

        if (e->ticket == 0 || (best && e->ticket > best->ticket)) {
            continue;
        }

        if (olla_queue_blocked(q, e->sig, epoch)) {
            continue;
        }

        best = e;
    }

    return best;
}


int
olla_queue_block(olla_queue_t *q, uint64_t sig, uint64_t seen, uint64_t now)
{
    if (seen != now) {
        return 0;
    }

    if (q->blocked_epoch != now) {
        q->blocked_epoch = now;
        q->nblocked = 0;
    }

    if (olla_queue_blocked(q, sig, now)) {
        return 1;
    }

    if (q->nblocked < OLLA_QUEUE_BLOCKED) {
        q->blocked[q->nblocked++] = sig;
    }

    return 1;
}


int
olla_queue_may_pass(olla_queue_t *q, uint64_t sig, uint64_t epoch)
{
    if (q->waiting == 0) {
        return 1;
    }

    if (olla_queue_next(q, epoch) != NULL) {
        /* a waiter has the turn */
        return 0;
    }

    if (q->blocked_epoch == epoch && q->nblocked == OLLA_QUEUE_BLOCKED) {
        return 0;
    }

    return !olla_queue_blocked(q, sig, epoch);
}


uint32_t
olla_queue_ahead(olla_queue_t *q, uint64_t ticket)
{
    uint32_t  i, n;

    n = 0;

    for (i = 0; i < q->cap; i++) {
        if (q->entries[i].ticket && q->entries[i].ticket < ticket) {
            n++;
        }
    }

    return n;
}


uint32_t
olla_queue_expire(olla_queue_t *q, uint64_t now, uint64_t grace)
{
    uint32_t             i, n;
    olla_queue_entry_t  *e;

    n = 0;

    for (i = 0; i < q->cap; i++) {
        e = &q->entries[i];

        if (e->ticket && (int64_t) (now - e->deadline) > (int64_t) grace) {
            memset(e, 0, sizeof(olla_queue_entry_t));
            q->waiting--;
            n++;
        }
    }

    return n;
}
