
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The endpoint-choice policy (see olla_pick.h).
 */


#include "olla_pick.h"


/* residency classes, best first */
#define OLLA_CLASS_IDLE         0     /* resident, nothing running */
#define OLLA_CLASS_BUSY         1     /* resident, running requests */
#define OLLA_CLASS_LOADING      2
#define OLLA_CLASS_COLD         3
#define OLLA_CLASS_NONE         4     /* not a candidate */


static const char  *olla_pick_reasons[OLLA_REASON_COUNT] = {
    "-", "resident", "affinity", "spill", "loading", "cold", "fallback"
};


const char *
olla_pick_reason_name(olla_pick_reason_e reason)
{
    if ((unsigned) reason >= OLLA_REASON_COUNT) {
        return "-";
    }

    return olla_pick_reasons[reason];
}


uint64_t
olla_pick_hash(uint64_t h, const void *p, size_t n)
{
    size_t               i;
    const unsigned char *s;

    s = p;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }

    return h;
}


uint32_t
olla_pick_id(const char *name, size_t len)
{
    uint64_t  h;

    h = olla_pick_hash(OLLA_PICK_HASH_INIT, name, len);

    return (uint32_t) (h ^ (h >> 32));
}


/* the rank of an endpoint for a key: a 64-bit mix of both */

static uint64_t
olla_pick_weight(uint64_t key, uint32_t id)
{
    uint64_t  z;

    z = key ^ ((uint64_t) id * 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static unsigned
olla_pick_class(const olla_pick_ep_t *e, const olla_pick_req_t *req)
{
    unsigned  resident;

    resident = req->resident_first ? e->resident : OLLA_RES_UNKNOWN;

    switch (resident) {

    case OLLA_RES_RESIDENT:
        return (e->in_use || e->inflight) ? OLLA_CLASS_BUSY
                                          : OLLA_CLASS_IDLE;

    case OLLA_RES_LOADING:
        return OLLA_CLASS_LOADING;

    case OLLA_RES_COLD:
        return OLLA_CLASS_COLD;

    default:
        /* the catalogue only: listed counts as loaded */
        return e->serve == OLLA_PICK_LISTED ? OLLA_CLASS_BUSY
                                            : OLLA_CLASS_COLD;
    }
}


/*
 * An endpoint's share: ceil(1.25 * (load + 1) / n), and never less than
 * llama-server's parallel slots (an endpoint whose requests all run at
 * once is not overloaded: moving a conversation away from its cache, or
 * loading the model elsewhere, would cost more than it saves)
 */

static uint64_t
olla_pick_bound(uint64_t load, uint64_t n)
{
    uint64_t  b;

    b = (5 * (load + 1) + 4 * n - 1) / (4 * n);

    return b > OLLA_PICK_SLOTS ? b : OLLA_PICK_SLOTS;
}


void
olla_pick(olla_pick_ep_t *eps, size_t n, const olla_pick_req_t *req,
    olla_pick_out_t *out)
{
    size_t     i, k, ties, eligible, routable, full, tier_n, aff_n;
    unsigned   aff_cls;
    size_t     best_i, top_i, cold_i;
    int32_t    prio;
    uint32_t   min;
    uint64_t   w, best_w, top_w, tier_load, aff_load, bound, fair;
    unsigned   c, best, have, resident_n, resident_over;

    out->result = OLLA_PICK_OK;
    out->index = 0;
    out->reason = OLLA_REASON_NONE;
    out->prewarm = OLLA_PICK_NOWHERE;

    /* 1. the candidates, and why there may be none */

    have = 0;
    prio = 0;
    eligible = 0;
    routable = 0;
    full = 0;

    for (i = 0; i < n; i++) {
        olla_pick_ep_t  *e = &eps[i];

        e->cls = OLLA_CLASS_NONE;

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

        if (e->limit && e->inflight >= e->limit) {
            full++;
            continue;
        }

        e->cls = (uint8_t) olla_pick_class(e, req);

        if (!have || e->priority > prio) {
            prio = e->priority;
            have = 1;
        }
    }

    if (!have) {
        out->result = eligible == 0 ? OLLA_PICK_NO_TYPE
                      : routable == 0 ? OLLA_PICK_NONE
                      : full ? OLLA_PICK_FULL
                      : OLLA_PICK_NO_MODEL;
        return;
    }

    /* 2. the tier: its best class, its load, the affinity set's load */

#define olla_pick_in_tier(e)                                                  \
    ((e)->cls != OLLA_CLASS_NONE && (e)->priority == prio)

    best = OLLA_CLASS_NONE;
    tier_n = 0;
    tier_load = 0;

    for (i = 0; i < n; i++) {
        if (!olla_pick_in_tier(&eps[i])) {
            continue;
        }

        c = eps[i].cls;

        if (c < best) {
            best = c;
        }

        tier_n++;
        tier_load += eps[i].inflight;
    }

    /*
     * The affinity set: where the model is loaded; where it is loading
     * only when it is loaded nowhere (a new conversation would wait for
     * the load while a loaded endpoint idles); every endpoint of the
     * tier without resident-first
     */

    aff_cls = !req->resident_first ? OLLA_CLASS_COLD
              : best <= OLLA_CLASS_BUSY ? OLLA_CLASS_BUSY
              : OLLA_CLASS_LOADING;

    aff_n = 0;
    aff_load = 0;

    for (i = 0; i < n; i++) {
        if (olla_pick_in_tier(&eps[i]) && eps[i].cls <= aff_cls) {
            aff_n++;
            aff_load += eps[i].inflight;
        }
    }

    /* 3. conversation affinity, with bounded loads */

    if (req->affinity && req->key && aff_n) {
        bound = olla_pick_bound(aff_load, aff_n);

        best_i = OLLA_PICK_NOWHERE;
        top_i = OLLA_PICK_NOWHERE;
        best_w = 0;
        top_w = 0;

        for (i = 0; i < n; i++) {
            if (!olla_pick_in_tier(&eps[i])) {
                continue;
            }

            if (eps[i].cls > aff_cls) {
                continue;
            }

            w = olla_pick_weight(req->key, eps[i].id);

            if (top_i == OLLA_PICK_NOWHERE || w > top_w) {
                top_i = i;
                top_w = w;
            }

            if (eps[i].inflight < bound
                && (best_i == OLLA_PICK_NOWHERE || w > best_w))
            {
                best_i = i;
                best_w = w;
            }
        }

        /* the least loaded member is always under the bound */

        if (best_i != OLLA_PICK_NOWHERE) {
            out->index = best_i;
            out->reason = (best_i == top_i) ? OLLA_REASON_AFFINITY
                                            : OLLA_REASON_SPILL;
            goto prewarm;
        }
    }

    /* 4. the best class, then the balancer */

#define olla_pick_in_class(e)                                                 \
    ((e)->cls == best && (e)->priority == prio)

    min = UINT32_MAX;
    ties = 0;

    for (i = 0; i < n; i++) {
        if (!olla_pick_in_class(&eps[i])) {
            continue;
        }

        ties++;

        if (eps[i].inflight < min) {
            min = eps[i].inflight;
        }
    }

    out->index = OLLA_PICK_NOWHERE;

    if (req->lb == OLLA_PICK_PRIORITY) {
        k = req->random % ties;

        for (i = 0; i < n; i++) {
            if (olla_pick_in_class(&eps[i]) && k-- == 0) {
                out->index = i;
                break;
            }
        }

    } else {
        /* rotation: the first candidate after the last one chosen */

        for (k = 1; k <= n; k++) {
            i = (req->cursor + k) % n;

            if (!olla_pick_in_class(&eps[i])) {
                continue;
            }

            if (req->lb == OLLA_PICK_LEAST_CONN && eps[i].inflight != min) {
                continue;
            }

            out->index = i;
            break;
        }
    }

    if (out->index == OLLA_PICK_NOWHERE) {
        /* not reached: the class has a member */
        out->index = 0;
    }

    switch (best) {

    case OLLA_CLASS_IDLE:
    case OLLA_CLASS_BUSY:
        out->reason = (req->resident_first
                       && eps[out->index].resident == OLLA_RES_RESIDENT)
                      ? OLLA_REASON_RESIDENT : OLLA_REASON_FALLBACK;
        break;

    case OLLA_CLASS_LOADING:
        out->reason = OLLA_REASON_LOADING;
        break;

    default:
        out->reason = (req->resident_first
                       && eps[out->index].resident == OLLA_RES_COLD)
                      ? OLLA_REASON_COLD : OLLA_REASON_FALLBACK;
        break;
    }

prewarm:

    /*
     * 5. warm the model on a cold endpoint of the tier before a request
     * has to: when every endpoint that has it loaded or loading already
     * carries its fair share of the tier's load with one more request,
     * and fills its parallel slots
     */

    if (!req->prewarm || !req->resident_first) {
        return;
    }

    fair = olla_pick_bound(tier_load, tier_n);
    resident_n = 0;
    resident_over = 0;
    cold_i = OLLA_PICK_NOWHERE;
    min = UINT32_MAX;

    for (i = 0; i < n; i++) {
        if (!olla_pick_in_tier(&eps[i])) {
            continue;
        }

        switch (eps[i].resident) {

        case OLLA_RES_RESIDENT:
        case OLLA_RES_LOADING:
            resident_n++;
            resident_over += (eps[i].inflight >= fair);
            break;

        case OLLA_RES_COLD:
            if (i != out->index && eps[i].inflight < min) {
                min = eps[i].inflight;
                cold_i = i;
            }

            break;

        default:
            break;
        }
    }

    if (resident_n && resident_over == resident_n) {
        out->prewarm = cold_i;
    }

#undef olla_pick_in_tier
#undef olla_pick_in_class
}
