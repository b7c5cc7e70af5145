
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The endpoint-choice policy (see olla_pick.h).
 */


#include "olla_pick.h"


/* a candidate's class: higher is better, 0 is not a candidate */

static unsigned
olla_pick_class(const olla_pick_ep_t *e)
{
    if (e->state != OLLA_PICK_UP || e->serve == OLLA_PICK_NO) {
        return 0;
    }

    if (e->limit && e->inflight >= e->limit) {
        return 0;
    }

    return e->serve == OLLA_PICK_LISTED ? 2 : 1;
}


void
olla_pick(const olla_pick_ep_t *eps, size_t n, const olla_pick_req_t *req,
    olla_pick_out_t *out)
{
    size_t     i, k, ties, eligible, routable, full;
    int32_t    prio;
    uint32_t   min;
    unsigned   c, best;

    best = 0;
    prio = 0;
    eligible = 0;
    routable = 0;
    full = 0;

    for (i = 0; i < n; i++) {
        const olla_pick_ep_t  *e = &eps[i];

        if (e->state == OLLA_PICK_SKIP) {
            continue;
        }

        eligible++;

        if (e->state != OLLA_PICK_UP) {
            continue;
        }

        routable++;

        if (e->serve == OLLA_PICK_NO) {
            continue;
        }

        c = olla_pick_class(e);

        if (c == 0) {
            full++;
            continue;
        }

        if (c > best || (c == best && e->priority > prio)) {
            best = c;
            prio = e->priority;
        }
    }

    if (best == 0) {
        out->result = eligible == 0 ? OLLA_PICK_NO_TYPE
                      : routable == 0 ? OLLA_PICK_NONE
                      : full ? OLLA_PICK_FULL
                      : OLLA_PICK_NO_MODEL;
        return;
    }

    /* the tier: the best class at the highest priority */

#define olla_pick_in_tier(e)                                                  \
    (olla_pick_class(e) == best && (e)->priority == prio)

    min = UINT32_MAX;
    ties = 0;

    for (i = 0; i < n; i++) {
        if (!olla_pick_in_tier(&eps[i])) {
            continue;
        }

        ties++;

        if (eps[i].inflight < min) {
            min = eps[i].inflight;
        }
    }

    out->result = OLLA_PICK_OK;

    if (req->lb == OLLA_PICK_PRIORITY) {
        /* weighted random; every endpoint of a tier weighs the same */
        k = req->random % ties;

        for (i = 0; i < n; i++) {
            if (olla_pick_in_tier(&eps[i]) && k-- == 0) {
                out->index = i;
                return;
            }
        }
    }

    /* rotation: the first candidate after the last one chosen */

    for (k = 1; k <= n; k++) {
        i = (req->cursor + k) % n;

        if (!olla_pick_in_tier(&eps[i])) {
            continue;
        }

        if (req->lb == OLLA_PICK_LEAST_CONN && eps[i].inflight != min) {
            continue;
        }

        out->index = i;
        return;
    }

#undef olla_pick_in_tier

    /* not reached: the tier has a member */
    out->index = 0;
}
