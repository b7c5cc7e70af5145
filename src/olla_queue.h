
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The wait queue of an upstream (olla_queue): requests that found every
 * endpoint they can use at its concurrency limit wait here, in the order
 * they came, for a slot.  The queue lives in memory the caller provides
 * (the shared zone) and is changed under the caller's lock; nothing here
 * sleeps, allocates or reads a clock.  No nginx headers.
 *
 * Order and fairness.  Every waiter holds a ticket (1, 2, 3, ... in the
 * order of arrival, whichever worker it arrived at).  Waiters that can use
 * the same endpoints with the same limits (the same model on the same
 * route) share a signature.  An epoch counts the events that may have
 * freed a slot (a request done, a periodic re-check); it is the caller's.
 * At any time one waiter has the turn: the lowest ticket whose signature
 * has not been found blocked in the current epoch (olla_queue_next()).
 * It tries to take a slot; if every endpoint it can use is still full, its
 * signature is marked blocked for the epoch and the turn passes to the
 * next waiter with another signature.  So a freed slot goes to the oldest
 * waiter that can use it, and a waiter for a model whose endpoints are
 * full never holds up one whose endpoints have room.  A newcomer tries
 * at once only when nobody has the turn and its signature is not blocked
 * (olla_queue_may_pass()); otherwise it joins at the end.
 */


#ifndef _OLLA_QUEUE_H_INCLUDED_
#define _OLLA_QUEUE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* distinct signatures remembered as blocked per epoch */
#define OLLA_QUEUE_BLOCKED      16


typedef struct {
    uint64_t           ticket;        /* 0: a free entry */
    uint64_t           sig;
    uint64_t           deadline;      /* the caller's clock, in ms */
    uint32_t           pid;           /* whose waiter: the caller's words */
    uint32_t           gen;
    uint32_t           slot;
    uint32_t           reserved;
} olla_queue_entry_t;


typedef struct {
    olla_queue_entry_t *entries;
    uint32_t           cap;           /* entries */
    uint32_t           waiting;       /* entries in use */
    uint64_t           next_ticket;   /* the next ticket handed out */

    uint64_t           blocked_epoch; /* the epoch blocked[] is for */
    uint32_t           nblocked;
    uint32_t           pad;
    uint64_t           blocked[OLLA_QUEUE_BLOCKED];
} olla_queue_t;


/* an empty queue over cap entries */
void olla_queue_init(olla_queue_t *q, olla_queue_entry_t *entries,
    uint32_t cap);

/*
 * Another array (a larger olla_queue): the waiters move over, in place
 * order kept; 0, or -1 when they do not fit (nothing changes then).
 */
int olla_queue_move(olla_queue_t *q, olla_queue_entry_t *entries,
    uint32_t cap);

/*
 * A new waiter at the end: its ticket in *ticket and 0, or -1 when limit
 * waiters (or every entry) are taken.
 */
int olla_queue_join(olla_queue_t *q, uint32_t limit, uint64_t sig,
    uint64_t deadline, uint32_t pid, uint32_t gen, uint32_t slot,
    uint64_t *ticket);

/* the waiter leaves (served, timed out, gone): 1, or 0 if not there */
int olla_queue_leave(olla_queue_t *q, uint64_t ticket);

/* the waiter's entry, or NULL */
olla_queue_entry_t *olla_queue_find(olla_queue_t *q, uint64_t ticket);

/*
 * The waiter that has the turn in this epoch: the lowest ticket whose
 * signature is not blocked; NULL when every waiter is blocked (or there
 * is none).  When more signatures were blocked than are remembered, the
 * turn waits for the next epoch.
 */
olla_queue_entry_t *olla_queue_next(olla_queue_t *q, uint64_t epoch);

/*
 * A waiter (or a newcomer) of signature sig tried in epoch "seen" and
 * found no slot.  If the epoch is still "now", sig is blocked for it and
 * 1 is returned; otherwise something may have freed a slot since, nothing
 * is marked and 0 says: try again.
 */
int olla_queue_block(olla_queue_t *q, uint64_t sig, uint64_t seen,
    uint64_t now);

/* sig is blocked in this epoch */
int olla_queue_blocked(olla_queue_t *q, uint64_t sig, uint64_t epoch);

/*
 * A newcomer may try for a slot now: nobody waits, or nobody has the turn
 * and its own signature is not blocked
 */
int olla_queue_may_pass(olla_queue_t *q, uint64_t sig, uint64_t epoch);

/* waiters ahead of the ticket */
uint32_t olla_queue_ahead(olla_queue_t *q, uint64_t ticket);

/*
 * Waiters whose owner must be gone (their deadline passed by more than
 * grace ms and they are still here): removed, their count returned
 */
uint32_t olla_queue_expire(olla_queue_t *q, uint64_t now, uint64_t grace);


#endif /* _OLLA_QUEUE_H_INCLUDED_ */
