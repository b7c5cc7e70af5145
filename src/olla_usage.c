
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Token counts read from an answer as it passes (see olla_usage.h).
 */


#include "olla_usage.h"

#include <stdlib.h>
#include <string.h>


/* what each key is */
enum {
    OLLA_U_PROMPT_TOKENS = 0,
    OLLA_U_COMPLETION_TOKENS,
    OLLA_U_CACHED_TOKENS,
    OLLA_U_INPUT_TOKENS,
    OLLA_U_OUTPUT_TOKENS,
    OLLA_U_CACHE_READ,
    OLLA_U_PROMPT_N,
    OLLA_U_CACHE_N,
    OLLA_U_PREDICTED_N,
    OLLA_U_EVAL_PROMPT,
    OLLA_U_EVAL,
    OLLA_U_TOTAL,                     /* not kept: a key to step over */
    OLLA_U_PREDICTED_MS,
    OLLA_U_PER_SECOND,
    OLLA_U_EVAL_NS,
    OLLA_U_FINISH,
    OLLA_U_TYPE,
    OLLA_U_DONE,
    OLLA_U_ERROR,
    OLLA_U_SEQ
};


typedef struct {
    const char  *key;
    size_t       len;
    int          what;
} olla_usage_key_t;


#define olla_key(s, w)  { s, sizeof(s) - 1, w }

/* the keys, by their first letter (olla_usage_buckets) */

static const olla_usage_key_t  olla_usage_keys[] = {
    olla_key("cache_n", OLLA_U_CACHE_N),                     /* 0: 'c' */
    olla_key("cached_tokens", OLLA_U_CACHED_TOKENS),
    olla_key("completion_tokens", OLLA_U_COMPLETION_TOKENS),
    olla_key("cache_read_input_tokens", OLLA_U_CACHE_READ),
    olla_key("done", OLLA_U_DONE),                           /* 4: 'd' */
    olla_key("eval_count", OLLA_U_EVAL),                     /* 5: 'e' */
    olla_key("eval_duration", OLLA_U_EVAL_NS),
    olla_key("error", OLLA_U_ERROR),
    olla_key("finish_reason", OLLA_U_FINISH),                /* 8: 'f' */
    olla_key("input_tokens", OLLA_U_INPUT_TOKENS),           /* 9: 'i' */
    olla_key("output_tokens", OLLA_U_OUTPUT_TOKENS),         /* 10: 'o' */
    olla_key("prompt_n", OLLA_U_PROMPT_N),                   /* 11: 'p' */
    olla_key("prompt_tokens", OLLA_U_PROMPT_TOKENS),
    olla_key("predicted_n", OLLA_U_PREDICTED_N),
    olla_key("predicted_ms", OLLA_U_PREDICTED_MS),
    olla_key("prompt_eval_count", OLLA_U_EVAL_PROMPT),
    olla_key("predicted_per_second", OLLA_U_PER_SECOND),
    olla_key("sequence_number", OLLA_U_SEQ),                 /* 17: 's' */
    olla_key("type", OLLA_U_TYPE),                           /* 18: 't' */
    { NULL, 0, 0 }
};


/* the keys that start with a byte: [from, to) in olla_usage_keys */

typedef struct {
    unsigned char  from;
    unsigned char  to;                /* 0: no key starts with it */
} olla_usage_bucket_t;

static const olla_usage_bucket_t  olla_usage_buckets[256] = {
    ['c'] = { 0, 4 }, ['d'] = { 4, 5 }, ['e'] = { 5, 8 }, ['f'] = { 8, 9 },
    ['i'] = { 9, 10 }, ['o'] = { 10, 11 }, ['p'] = { 11, 17 },
    ['s'] = { 17, 18 }, ['t'] = { 18, 19 }
};


/*
 * The lengths of the keys that start with a byte, as bits (every key is
 * shorter than 32): a quote whose next quote is not at one of them opens
 * none of the keys; and of those that end with a byte (a word that ends
 * a key's length after its opening quote but not with one of its last
 * letters is none: "created", "choices" and "content" are not "cache_n").
 * Built from olla_usage_keys once.
 */

static uint32_t  olla_usage_lens[256];
static uint32_t  olla_usage_ends[256];
static int       olla_usage_lens_built;


static void
olla_usage_build_lens(void)
{
    size_t  i;

    for (i = 0; olla_usage_keys[i].key; i++) {
        olla_usage_lens[(unsigned char) olla_usage_keys[i].key[0]]
            |= (uint32_t) 1 << olla_usage_keys[i].len;
        olla_usage_ends[(unsigned char)
                        olla_usage_keys[i].key[olla_usage_keys[i].len - 1]]
            |= (uint32_t) 1 << olla_usage_keys[i].len;
    }

    olla_usage_lens_built = 1;
}


void
olla_usage_init(olla_usage_t *u)
{
    size_t  i;

    if (!olla_usage_lens_built) {
        olla_usage_build_lens();
    }

    memset(u, 0, sizeof(olla_usage_t));

    for (i = 0; i < sizeof(u->v) / sizeof(u->v[0]); i++) {
        u->v[i] = -1;
    }

    u->prompt = -1;
    u->completion = -1;
    u->cached = -1;
    u->tokens_per_second = -1;
    u->predicted_ms = -1;
    u->per_second = -1;
    u->eval_ns = -1;
    u->seq = -1;
}


/* the value at p is the string literal s (with its quotes) */

static int
olla_usage_is(const char *p, const char *end, const char *s, size_t len)
{
    return (size_t) (end - p) >= len && memcmp(p, s, len) == 0;
}

#define olla_usage_is_lit(p, end, s)  olla_usage_is(p, end, s, sizeof(s) - 1)


/* the value after a key's closing quote, at p; 0 when it is incomplete */

static void
olla_usage_value(olla_usage_t *u, int what, const char *p, const char *end)
{
    char        num[32];
    size_t      n;
    int64_t     v;
    const char  *q;

    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }

    if (p == end || *p != ':') {
        return;
    }

    for (p++; p < end && (*p == ' ' || *p == '\t' || *p == '\r'
                           || *p == '\n');
         p++)
    {
        /* void */
    }

    if (p == end) {
        return;
    }

    switch (what) {

    case OLLA_U_FINISH:
        if (*p == '"') {
            u->done = 1;
        }

        return;

    case OLLA_U_DONE:
        if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            u->done = 1;
        }

        return;

    case OLLA_U_TYPE:
        if (olla_usage_is_lit(p, end, "\"message_stop\"")
            || olla_usage_is_lit(p, end, "\"response.completed\"")
            || olla_usage_is_lit(p, end, "\"response.incomplete\""))
        {
            u->done = 1;

        } else if (olla_usage_is_lit(p, end, "\"error\"")
                   || olla_usage_is_lit(p, end, "\"response.failed\""))
        {
            u->failed = 1;
        }

        return;

    case OLLA_U_ERROR:
        /* an error object (OpenAI, Anthropic) or text (Ollama), not null */
        if (*p == '{' || *p == '"') {
            u->failed = 1;
        }

        return;

    case OLLA_U_PREDICTED_MS:
    case OLLA_U_PER_SECOND:
    case OLLA_U_EVAL_NS:
        for (q = p, n = 0; q < end && n < sizeof(num) - 1
                           && ((*q >= '0' && *q <= '9') || *q == '.'
                               || *q == 'e' || *q == 'E' || *q == '-'
                               || *q == '+');
             q++)
        {
            num[n++] = *q;
        }

        if (n == 0) {
            return;
        }

        num[n] = '\0';

        if (what == OLLA_U_PER_SECOND) {
            u->per_second = strtod(num, NULL);

        } else if (what == OLLA_U_EVAL_NS) {
            u->eval_ns = strtod(num, NULL);

        } else {
            u->predicted_ms = strtod(num, NULL);
        }

        return;

    default:
        if (*p < '0' || *p > '9') {
            return;
        }

        for (v = 0, n = 0; p < end && *p >= '0' && *p <= '9' && n < 18;
             p++, n++)
        {
            v = v * 10 + (*p - '0');
        }

        if (what < OLLA_U_TOTAL) {
            u->v[what] = v;

        } else if (what == OLLA_U_SEQ) {
            u->seq = v;
        }

        return;
    }
}


/* a quote that may start a key: one of the table's keys at q */

static void
olla_usage_key(olla_usage_t *u, const char *q, const char *end)
{
    size_t                      i;
    uint32_t                    a, b;
    const olla_usage_key_t     *k;
    const olla_usage_bucket_t  *bucket;

    bucket = &olla_usage_buckets[(unsigned char) q[1]];

    for (i = bucket->from; i < bucket->to; i++) {
        k = &olla_usage_keys[i];

        if ((size_t) (end - q) <= k->len + 1 || q[k->len + 1] != '"') {
            continue;
        }

        /* every key has 4 bytes or more: those first, without a call */

        memcpy(&a, q + 1, 4);
        memcpy(&b, k->key, 4);

        if (a == b && memcmp(q + 5, k->key + 4, k->len - 4) == 0) {
            olla_usage_value(u, k->what, q + k->len + 2, end);
            return;
        }
    }
}


/*
 * OpenAI's "data: [DONE]": the stream's last event, so at the end of the
 * bytes seen so far (the carry holds the last ones), white space after it
 */

static void
olla_usage_done(olla_usage_t *u)
{
    const char  *b, *e;

    b = u->carry;
    e = b + u->carry_len;

    while (e > b && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ')) {
        e--;
    }

    if (e - b >= 11 && memcmp(e - 6, "[DONE]", 6) == 0
        && (memcmp(e - 11, "data:", 5) == 0
            || (e - b >= 12 && memcmp(e - 12, "data: ", 6) == 0)))
    {
        u->done = 1;
    }
}


/*
 * A quote that may open a key: after '{', ',' or white space (not a
 * value's, not a closing one), before a letter some key starts with
 */

#define olla_usage_opens(p, q)                                                \
    ((q) == (p) || (q)[-1] == ',' || (q)[-1] == '{' || (q)[-1] == ' '        \
     || (q)[-1] == '\n' || (q)[-1] == '\t' || (q)[-1] == '\r')

#define olla_usage_candidate(p, q, end)                                       \
    ((q) + 1 < (end) && olla_usage_buckets[(unsigned char) (q)[1]].to        \
     && olla_usage_opens(p, q))


#if (defined __SSE2__ && defined __GNUC__ && !defined OLLA_USAGE_NO_SIMD)

#include <emmintrin.h>

/*
 * A closing quote with a byte after it and o, the nearest quote before
 * it, len bytes before it: o opens a key when one of that length starts
 * with o[1] and ends with o[len] (keys hold no quote) and o follows '{',
 * ',' or white space.  A test in the loop, the call only for a key.
 */

#define olla_usage_may_open(p, o, len)                                        \
    ((len) < 32                                                               \
     && (olla_usage_lens[(unsigned char) (o)[1]]                              \
         & olla_usage_ends[(unsigned char) (o)[len]]                          \
         & ((uint32_t) 1 << (len)))                                           \
     && olla_usage_opens(p, o))


/*
 * Sixteen bytes at a time, a key found by its closing quote: a quote
 * followed by ':' or white space (or another byte up to 0x20: the value
 * reader looks for the colon), where a value's closing quote is followed
 * by ',', '}' or ']' and a quote inside a string is escaped.  The quotes
 * of the last 64 bytes are kept as bits (bit k: q - 48 + k), so the
 * opening quote is the highest bit below the closing one, in this block
 * or an earlier one, without a look back.  One candidate a key of the
 * answer, where a quote-by-quote reader takes every quote of every
 * value.
 */

static void
olla_usage_scan(olla_usage_t *u, const char *p, size_t n)
{
    size_t       k, lim, len;
    unsigned     m, i, o;
    uint64_t     hist, below;
    __m128i      quote, colon, space, v, w;
    const char  *q, *end, *x;

    end = p + n;
    quote = _mm_set1_epi8('"');
    colon = _mm_set1_epi8(':');
    space = _mm_set1_epi8(' ');
    hist = 0;

    /* a block and the block one byte on (the bytes after its quotes) */

    for (q = p; end - q >= 17; q += 16) {
        v = _mm_loadu_si128((const __m128i *) q);
        w = _mm_loadu_si128((const __m128i *) (q + 1));

        m = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
        hist = (hist >> 16) | ((uint64_t) m << 48);

        if (m == 0) {
            continue;
        }

        m &= (unsigned) _mm_movemask_epi8(
                 _mm_or_si128(_mm_cmpeq_epi8(w, colon),
                              _mm_cmpeq_epi8(_mm_min_epu8(w, space), w)));

        while (m) {
            i = (unsigned) __builtin_ctz(m) + 48;
            m &= m - 1;

            below = hist & (((uint64_t) 1 << i) - 1);

            if (below == 0) {
                continue;
            }

            o = 63 - (unsigned) __builtin_clzll(below);
            x = q + ((ptrdiff_t) o - 48);
            len = i - o - 1;

            if (olla_usage_may_open(p, x, len)) {
                olla_usage_key(u, x, end);
            }
        }
    }

    /* the last bytes: each closing quote looks back for its opening one */

    for ( /* void */ ; end - q >= 2; q++) {
        if (*q != '"' || (q[1] != ':' && (unsigned char) q[1] > ' ')) {
            continue;
        }

        lim = (size_t) (q - p) < 32 ? (size_t) (q - p) : 32;

        for (k = 1; k <= lim; k++) {
            x = q - k;

            if (*x == '"') {
                if (olla_usage_may_open(p, x, k - 1)) {
                    olla_usage_key(u, x, end);
                }

                break;
            }
        }
    }
}

#elif (defined __GNUC__ && defined __BYTE_ORDER__                            \
       && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__                           \
       && !defined OLLA_USAGE_NO_SIMD)

/*
 * Eight bytes at a time: the high bit of each byte that is c (exact: no
 * borrow from one byte into the next)
 */

#define OLLA_U_LOW7   0x7f7f7f7f7f7f7f7fULL

static uint64_t
olla_usage_bytes(uint64_t w, uint64_t c)
{
    uint64_t  x;

    x = w ^ c;

    return ~(((x & OLLA_U_LOW7) + OLLA_U_LOW7) | x | OLLA_U_LOW7);
}


static void
olla_usage_scan(olla_usage_t *u, const char *p, size_t n)
{
    uint64_t     w, m;
    const char  *q, *end, *x;

    end = p + n;

    for (q = p; end - q >= 8; q += 8) {
        memcpy(&w, q, 8);

        m = olla_usage_bytes(w, 0x2222222222222222ULL);         /* '"' */

        while (m) {
            x = q + (__builtin_ctzll(m) >> 3);
            m &= m - 1;

            if (olla_usage_candidate(p, x, end)) {
                olla_usage_key(u, x, end);
            }
        }
    }

    for ( /* void */ ; q < end; q++) {
        if (*q == '"' && olla_usage_candidate(p, q, end)) {
            olla_usage_key(u, q, end);
        }
    }
}

#else

static void
olla_usage_scan(olla_usage_t *u, const char *p, size_t n)
{
    const char  *q, *end;

    end = p + n;

    for (q = p; q < end; q++) {
        if (*q == '"' && olla_usage_candidate(p, q, end)) {
            olla_usage_key(u, q, end);
        }
    }
}

#endif


void
olla_usage_feed(olla_usage_t *u, const char *p, size_t n)
{
    size_t  head, keep;
    char    window[2 * OLLA_USAGE_CARRY];

    if (n == 0) {
        return;
    }

    /* what spans the pieces: the carry and the head of this one */

    if (u->carry_len) {
        head = n < OLLA_USAGE_CARRY ? n : OLLA_USAGE_CARRY;

        memcpy(window, u->carry, u->carry_len);
        memcpy(window + u->carry_len, p, head);

        olla_usage_scan(u, window, u->carry_len + head);
    }

    olla_usage_scan(u, p, n);

    /* the last bytes, for the next piece */

    if (n >= OLLA_USAGE_CARRY) {
        memcpy(u->carry, p + n - OLLA_USAGE_CARRY, OLLA_USAGE_CARRY);
        u->carry_len = OLLA_USAGE_CARRY;

    } else {
        keep = OLLA_USAGE_CARRY - n;
        keep = u->carry_len < keep ? u->carry_len : keep;

        memmove(u->carry, u->carry + u->carry_len - keep, keep);
        memcpy(u->carry + keep, p, n);
        u->carry_len = keep + n;
    }

    if (!u->done) {
        olla_usage_done(u);
    }
}


void
olla_usage_finish(olla_usage_t *u)
{
    int64_t  *v;

    v = u->v;

    /* prompt: OpenAI's total, else the Messages API's parts */

    if (v[OLLA_U_PROMPT_TOKENS] >= 0) {
        u->prompt = v[OLLA_U_PROMPT_TOKENS];

    } else if (v[OLLA_U_INPUT_TOKENS] >= 0) {
        /* Anthropic counts cache reads apart; Responses includes them */
        u->prompt = v[OLLA_U_INPUT_TOKENS]
                    + (v[OLLA_U_CACHE_READ] > 0 ? v[OLLA_U_CACHE_READ] : 0);

    } else if (v[OLLA_U_PROMPT_N] >= 0) {
        u->prompt = v[OLLA_U_PROMPT_N]
                    + (v[OLLA_U_CACHE_N] > 0 ? v[OLLA_U_CACHE_N] : 0);

    } else if (v[OLLA_U_EVAL_PROMPT] >= 0) {
        u->prompt = v[OLLA_U_EVAL_PROMPT];
    }

    if (v[OLLA_U_COMPLETION_TOKENS] >= 0) {
        u->completion = v[OLLA_U_COMPLETION_TOKENS];

    } else if (v[OLLA_U_OUTPUT_TOKENS] >= 0) {
        u->completion = v[OLLA_U_OUTPUT_TOKENS];

    } else if (v[OLLA_U_PREDICTED_N] >= 0) {
        u->completion = v[OLLA_U_PREDICTED_N];

    } else if (v[OLLA_U_EVAL] >= 0) {
        u->completion = v[OLLA_U_EVAL];
    }

    if (v[OLLA_U_CACHED_TOKENS] >= 0) {
        u->cached = v[OLLA_U_CACHED_TOKENS];

    } else if (v[OLLA_U_CACHE_READ] >= 0) {
        u->cached = v[OLLA_U_CACHE_READ];

    } else if (v[OLLA_U_CACHE_N] >= 0) {
        u->cached = v[OLLA_U_CACHE_N];
    }

    if (u->per_second >= 0) {
        u->tokens_per_second = u->per_second;

    } else if (v[OLLA_U_PREDICTED_N] > 0 && u->predicted_ms > 0) {
        u->tokens_per_second = (double) v[OLLA_U_PREDICTED_N] * 1000
                               / u->predicted_ms;

    } else if (v[OLLA_U_EVAL] > 0 && u->eval_ns > 0) {
        u->tokens_per_second = (double) v[OLLA_U_EVAL] * 1e9 / u->eval_ns;
    }
}
