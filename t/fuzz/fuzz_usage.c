
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target for the token-count reader (src/olla_usage.c).  The
 * input's first byte sets where it is cut (none, or up to three pieces at
 * positions taken from the next bytes); the rest is the answer.  The SSE2
 * reader, which finds a key by its closing quote, must say what the
 * reference that takes every quote says (t/unit/usage_ref.c): the counts,
 * the tokens a second, the last sequence number, whether the answer
 * ended and whether it failed; fed whole and in the pieces.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "olla_usage.h"
#include "usage_ref.h"


static void
feed(const char *text, size_t n, const size_t *cuts, size_t ncuts,
    olla_usage_t *a, olla_usage_t *b)
{
    size_t  i, from, to;

    olla_usage_init(a);
    olla_usage_ref_init(b);

    for (i = 0, from = 0; i <= ncuts; i++, from = to) {
        to = i < ncuts ? cuts[i] : n;
        olla_usage_feed(a, text + from, to - from);
        olla_usage_ref_feed(b, text + from, to - from);
    }

    olla_usage_finish(a);
    olla_usage_ref_finish(b);

    if (a->prompt != b->prompt || a->completion != b->completion
        || a->cached != b->cached || a->seq != b->seq
        || a->done != b->done || a->failed != b->failed
        || (a->tokens_per_second != b->tokens_per_second
            && !(a->tokens_per_second != a->tokens_per_second
                 && b->tokens_per_second != b->tokens_per_second)))
    {
        fprintf(stderr, "fuzz_usage: the readers differ (%zu bytes, %zu "
                "cuts): prompt %lld/%lld completion %lld/%lld cached "
                "%lld/%lld seq %lld/%lld done %u/%u failed %u/%u\n", n,
                ncuts, (long long) a->prompt, (long long) b->prompt,
                (long long) a->completion, (long long) b->completion,
                (long long) a->cached, (long long) b->cached,
                (long long) a->seq, (long long) b->seq, a->done, b->done,
                a->failed, b->failed);
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t        i, n, ncuts, cuts[3];
    const char   *text;
    olla_usage_t  a, b;

    if (size < 4) {
        return 0;
    }

    ncuts = data[0] % 4;
    text = (const char *) data + 4;
    n = size - 4;

    feed(text, n, NULL, 0, &a, &b);

    if (ncuts == 0 || n == 0) {
        return 0;
    }

    for (i = 0; i < ncuts; i++) {
        cuts[i] = (data[1 + i] * n) / 256;

        if (i > 0 && cuts[i] < cuts[i - 1]) {
            cuts[i] = cuts[i - 1];
        }
    }

    feed(text, n, cuts, ncuts, &a, &b);

    return 0;
}
