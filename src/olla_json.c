
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The incremental JSON scanner.  One pass, one byte of look-ahead at most,
 * no allocation, no recursion: everything it knows lives in the fixed-size
 * olla_json_scan_t, so a body may be fed in pieces of any size (down to one
 * byte at a time) with the same verdict and the same captured fields.
 *
 * The main loop is a state machine over the current byte.  The hot spots
 * have inner loops that stay inside the piece: the body of a string (eight
 * bytes at a time while they are plain ASCII, whole UTF-8 sequences checked
 * in place), runs of whitespace and runs of digits.  Anything that does
 * not fit an inner loop (an escape, a UTF-8 sequence cut by the end of the
 * piece) goes through the byte-at-a-time states.
 *
 * Nesting is a bit stack (1 object, 0 array).  A top-level member name is
 * unescaped into s->key; when it equals a field's key, s->cur points to the
 * field until the member's value ends, and strings and numbers of that
 * value (at depth 1 only) are copied into the field's buffer.  Values that
 * begin at depth 2 while s->cur is set are the elements of the captured
 * array or object: they are counted.
 *
 * Most of a large body is "quiet": nested content that no field captures
 * and no opening hashes (tools, later turns, tool results), where the
 * scanner only validates.  There olla_json_quiet() takes over from the
 * state machine: a parser with one label per grammar position whose
 * strings go through olla_json_str_fast(), 64 bytes at a time (with AVX2
 * where the CPU has it), escapes found with bit masks rather than byte by
 * byte (see olla_json_escaped()); the opening's strings by blocks too
 * (olla_json_str_hash(), SSE2), hashed on the way.  The machine takes a short
 * string in one step (olla_json_short()), a long plain run 32 bytes at a
 * time with AVX2 (olla_json_run()).  Whenever a fast path meets anything
 * it does not handle (an error, a token cut by the end of the piece, a \u
 * escape it cannot finish), it stops before that byte in the equivalent
 * state of the machine, which then decides, with the same verdict,
 * message and offset as if it had read every byte itself.
 * OLLA_JSON_NO_FAST builds the machine alone (the reference the tests
 * compare with).
 */


#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "olla_json.h"


#if !defined(OLLA_JSON_NO_FAST)
#define OLLA_JSON_FAST  1
#else
#define OLLA_JSON_FAST  0
#endif

#if (OLLA_JSON_FAST && defined __SSE2__ && defined __GNUC__                 \
     && !defined OLLA_JSON_NO_SSE2)
#include <emmintrin.h>
#define OLLA_JSON_SSE2  1
#else
#define OLLA_JSON_SSE2  0
#endif

/* AVX2 where the CPU has it, chosen at run time */
#if (OLLA_JSON_SSE2 && defined __x86_64__ && !defined OLLA_JSON_NO_AVX2)
#include <immintrin.h>
#define OLLA_JSON_AVX2  1
#else
#define OLLA_JSON_AVX2  0
#endif


#define OLLA_JSON_MAX_DEPTH  512


/*
 * the error paths: kept out of line, their buffers out of the hot frames;
 * the fast paths too: their loops would crowd the main loop's registers
 */
#if (defined __GNUC__)
#define OLLA_JSON_COLD      __attribute__((noinline, cold))
#define OLLA_JSON_NOINLINE  __attribute__((noinline))
#else
#define OLLA_JSON_COLD
#define OLLA_JSON_NOINLINE
#endif


enum {
    sw_start = 0,           /* before the top-level object */
    sw_obj_first,           /* after '{': a name or '}' */
    sw_obj_key,             /* after ',' in an object: a name */
    sw_colon,               /* after a name */
    sw_arr_first,           /* after '[': a value or ']' */
    sw_value,               /* after ':' or ',' in an array */
    sw_after,               /* after a value: ',' or the close */
    sw_done,                /* after the top-level object: whitespace */
    sw_string,
    sw_esc,                 /* after '\' */
    sw_hex,                 /* \u digits, s->sub of them read */
    sw_low_bs,              /* a high surrogate read: '\' of its pair */
    sw_low_u,               /* 'u' of its pair */
    sw_utf8,                /* UTF-8 continuation bytes */
    sw_minus,               /* '-': a digit */
    sw_zero,                /* a leading '0' */
    sw_int,                 /* integer digits */
    sw_dot,                 /* '.': a digit */
    sw_frac,                /* fraction digits */
    sw_exp,                 /* 'e': sign or digit */
    sw_exp_sign,            /* exponent sign: a digit */
    sw_exp_int,             /* exponent digits */
    sw_literal,             /* true, false, null: s->sub chars read */
    sw_error
};


enum {
    olla_cap_none = 0,
    olla_cap_value,
    olla_cap_key,
    olla_cap_ikey,          /* a name inside an opening member */
    olla_cap_hash           /* a string inside an opening member */
};


#define OLLA_JSON_FNV_INIT   0xcbf29ce484222325ULL
#define OLLA_JSON_FNV_PRIME  0x100000001b3ULL

#define OLLA_JSON_BILLING    "x-anthropic-billing-header:"


/*
 * the opening is being hashed here: inside such a member, not skipped
 * (fast: as olla_json_mode() found it when that last changed)
 */
#define olla_json_hashing_now(s)                                              \
    ((s)->cur && (s)->cur->opening && (s)->skip_depth == 0                   \
     && !((s)->cur->opening == OLLA_JSON_OPENING_TURNS && (s)->turns_done))

#if (OLLA_JSON_FAST)
#define olla_json_hashing(s)  ((s)->hashing)
#else
#define olla_json_hashing(s)  olla_json_hashing_now(s)
#endif


static unsigned olla_json_fail(olla_json_scan_t *s, size_t off,
    const char *msg);
static unsigned olla_json_unexpected(olla_json_scan_t *s, unsigned c,
    size_t off);
static unsigned olla_json_too_deep(olla_json_scan_t *s, size_t off);
static const unsigned char *olla_json_skip(const unsigned char *p,
    const unsigned char *last);
static size_t olla_json_utf8_seq(const unsigned char *p,
    const unsigned char *last);
#if (OLLA_JSON_AVX2)
static const unsigned char *olla_json_run_first(const unsigned char *p,
    const unsigned char *last);
static const unsigned char *(*olla_json_run)(const unsigned char *p,
    const unsigned char *last) = olla_json_run_first;
#else
#define olla_json_run  olla_json_skip
#endif
static int olla_json_utf8_lead(olla_json_scan_t *s, unsigned c);
static void olla_json_put(olla_json_scan_t *s, const unsigned char *p,
    size_t n);
static void olla_json_put_ucs(olla_json_scan_t *s, unsigned cp);
static size_t olla_json_encode(unsigned cp, unsigned char *b);
static unsigned olla_json_begin(olla_json_scan_t *s, unsigned c, size_t off);
static unsigned olla_json_close(olla_json_scan_t *s, unsigned c, size_t off);
static unsigned olla_json_key_begin(olla_json_scan_t *s);
static unsigned olla_json_string_end(olla_json_scan_t *s, size_t end);
static unsigned olla_json_value_end(olla_json_scan_t *s, size_t end);
static void olla_json_hash(olla_json_scan_t *s, const unsigned char *p,
    size_t n);
#if (OLLA_JSON_FAST)
static const unsigned char *olla_json_quiet(olla_json_scan_t *s,
    const unsigned char *p, const unsigned char *last, unsigned *state);
static inline const unsigned char *olla_json_short(const unsigned char *p,
    const unsigned char *last);
static inline void olla_json_put_short(olla_json_scan_t *s,
    const unsigned char *p, size_t n);
static const unsigned char *olla_json_str_fast(const unsigned char *p,
    const unsigned char *last, unsigned *esc);
static const unsigned char *olla_json_str_hash(olla_json_scan_t *s,
    const unsigned char *p, const unsigned char *last, unsigned *esc);
static const unsigned char *olla_json_uesc(const unsigned char *p,
    const unsigned char *last, unsigned *ucs);
static const unsigned char *olla_json_number(const unsigned char *p,
    const unsigned char *last);
#endif
static void olla_json_hash_string_end(olla_json_scan_t *s);
static void olla_json_mode(olla_json_scan_t *s);
static void olla_json_key_end(olla_json_scan_t *s);
static void olla_json_hash_value(olla_json_scan_t *s);


static const char  *olla_json_literals[] = { "true", "false", "null" };

static const olla_json_type_e  olla_json_literal_types[] = {
    OLLA_JSON_TRUE, OLLA_JSON_FALSE, OLLA_JSON_NULL
};


/* 1: a byte that stands for itself inside a string (ASCII, not '"' '\') */

static const unsigned char  olla_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x20 '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,     /* 0x50 '\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


#if (OLLA_JSON_FAST)

/*
 * The byte after a backslash: 1 for an escape that stands alone (\" \\ \/
 * \b \f \n \r \t), 2 for 'u'; 0 is not an escape.  The value each stands for
 * is olla_json_unesc[].
 */

static const unsigned char  olla_json_esc[256] = {
    ['"'] = 1, ['\\'] = 1, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1,
    ['r'] = 1, ['t'] = 1, ['u'] = 2
};

static const unsigned char  olla_json_unesc[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f',
    ['n'] = '\n', ['r'] = '\r', ['t'] = '\t'
};

/* 0x10 and a hex digit's value; 0 is not a hex digit */

static const unsigned char  olla_json_xdigit[256] = {
    ['0'] = 0x10, ['1'] = 0x11, ['2'] = 0x12, ['3'] = 0x13, ['4'] = 0x14,
    ['5'] = 0x15, ['6'] = 0x16, ['7'] = 0x17, ['8'] = 0x18, ['9'] = 0x19,
    ['a'] = 0x1a, ['b'] = 0x1b, ['c'] = 0x1c, ['d'] = 0x1d, ['e'] = 0x1e,
    ['f'] = 0x1f, ['A'] = 0x1a, ['B'] = 0x1b, ['C'] = 0x1c, ['D'] = 0x1d,
    ['E'] = 0x1e, ['F'] = 0x1f
};

#endif


#define olla_json_ws(c)                                                     \
    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

#define olla_json_digit(c)  ((unsigned) (c) - '0' < 10)

#define olla_json_off(p)    (s->offset + (size_t) ((p) - start))

#define OLLA_JSON_ONES   0x0101010101010101ULL
#define OLLA_JSON_HIGHS  0x8080808080808080ULL

/* the first flagged byte of a word is its lowest bits on little-endian */
#ifndef OLLA_JSON_CTZ
#if (defined __GNUC__ && defined __BYTE_ORDER__                              \
     && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
#define OLLA_JSON_CTZ  1
#else
#define OLLA_JSON_CTZ  0
#endif
#endif


void
olla_json_scan_init(olla_json_scan_t *s, olla_json_field_t *fields,
    size_t nfields, size_t max_depth)
{
    size_t  i;

    memset(s, 0, offsetof(olla_json_scan_t, hacc));

    s->fields = fields;
    s->nfields = fields ? nfields : 0;

    if (max_depth == 0) {
        max_depth = OLLA_JSON_DEFAULT_DEPTH;

    } else if (max_depth > OLLA_JSON_MAX_DEPTH) {
        max_depth = OLLA_JSON_MAX_DEPTH;
    }

    s->max_depth = max_depth;
    s->state = sw_start;
    olla_json_mode(s);

    for (i = 0; i < s->nfields; i++) {
        fields[i].type = OLLA_JSON_NONE;
        fields[i].len = 0;
        fields[i].truncated = 0;
        fields[i].count = 0;
        fields[i].start = 0;
        fields[i].end = 0;
        fields[i].elements = 0;
    }
}


/* a 64-bit mix (splitmix64's finalizer) */

static uint64_t
olla_json_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static uint64_t
olla_json_fnv(uint64_t h, const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= OLLA_JSON_FNV_PRIME;
    }

    return h;
}


/*
 * A string of the opening: its head (the first sizeof(s->head) bytes,
 * held back until it is known not to be a billing stamp), a word at a
 * time, then one byte in OLLA_JSON_HASH_STRIDE of the rest (and its
 * length, at its end).  A conversation is told apart by where its texts
 * begin and how long they are; hashing every byte of a 100 KB prompt
 * would cost more than routing it.
 */

#define OLLA_JSON_HASH_STRIDE  64

static void
olla_json_hash_head(olla_json_scan_t *s)
{
    size_t    i;
    uint64_t  w, h;

    h = s->str_h;

    for (i = 0; i + 8 <= s->head_len; i += 8) {
        memcpy(&w, s->head + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }

    s->str_h = olla_json_fnv(h, (unsigned char *) s->head + i,
                             s->head_len - i);
    s->str_len = s->head_len;
}


static void
olla_json_hash(olla_json_scan_t *s, const unsigned char *p, size_t n)
{
    size_t    i, pos;
    uint64_t  h;

    pos = s->str_len;
    s->str_len += n;
    h = s->str_h;

    for (i = (OLLA_JSON_HASH_STRIDE - pos % OLLA_JSON_HASH_STRIDE)
             % OLLA_JSON_HASH_STRIDE;
         i < n;
         i += OLLA_JSON_HASH_STRIDE)
    {
        h ^= p[i];
        h *= OLLA_JSON_FNV_PRIME;
    }

    s->str_h = h;
}


/*
 * A string of the opening ended: its head, held back until it was known
 * not to be a billing stamp, goes in; a "role" is read.
 */

static void
olla_json_hash_string_end(olla_json_scan_t *s)
{
    if (!s->head_skip) {
        if (s->head_len >= sizeof(OLLA_JSON_BILLING) - 1
            && s->head_len <= sizeof(s->head)
            && memcmp(s->head, OLLA_JSON_BILLING,
                      sizeof(OLLA_JSON_BILLING) - 1)
               == 0)
        {
            s->head_skip = 1;

        } else if (s->head_len <= sizeof(s->head)) {
            olla_json_hash_head(s);
        }
    }

    if (s->is_role && s->head_len == 4 && memcmp(s->head, "user", 4) == 0) {
        s->elem_user = 1;
    }

    s->is_role = 0;
}


/*
 * A value of the opening ended at s->depth: its hash goes into its
 * container, or, for an element of the turns or a member of the opening,
 * into the sum.
 */

static void
olla_json_hash_value(olla_json_scan_t *s)
{
    size_t    d;
    uint64_t  v;

    d = s->depth;

    switch (s->vkind) {

    case OLLA_JSON_STRING:
        v = s->head_skip ? 0x5b111ab5ULL
                         : olla_json_mix(s->str_h ^ s->str_len);
        break;

    case OLLA_JSON_OBJECT:
    case OLLA_JSON_ARRAY:
        if (d >= OLLA_JSON_HASH_DEPTH) {
            return;
        }

        v = olla_json_mix(s->hacc[d] ^ (s->hobj[d] ? 0x0b ^ 0x0bULL << 60
                                                   : 0x0aULL));
        break;

    default:
        /* a number or a literal counts by its kind only */
        v = olla_json_mix(0x6e756dULL + s->vkind);
        break;
    }

    if (d == 1) {
        if (s->cur->opening == OLLA_JSON_OPENING_ALL) {
            s->sys_sum += olla_json_mix(v ^ olla_json_fnv(OLLA_JSON_FNV_INIT,
                                            (unsigned char *) s->cur->key,
                                            s->cur->key_len));

        } else if (s->vkind == OLLA_JSON_STRING) {
            /* the turns as one string ("input": "..."): the first turn */
            s->turns_h = olla_json_mix(s->turns_h ^ v)
                         + 0x9e3779b97f4a7c15ULL;
            s->turns_done = 1;

        } else {
            /* the turns' array itself: its elements are in */
            return;
        }

    } else if (d == 2 && s->cur->opening == OLLA_JSON_OPENING_TURNS) {
        s->turns_h = olla_json_mix(s->turns_h ^ v) + 0x9e3779b97f4a7c15ULL;

        if (s->elem_user) {
            s->turns_done = 1;
        }

    } else if (d - 1 < OLLA_JSON_HASH_DEPTH) {
        if (s->hobj[d - 1]) {
            s->hacc[d - 1] += olla_json_mix(v ^ s->hkey[d - 1]);

        } else {
            s->hacc[d - 1] = olla_json_mix(s->hacc[d - 1] ^ v)
                             + 0x9e3779b97f4a7c15ULL;
        }
    }

    if (d <= 2) {
        /* a member or a turn went in: the sum, never 0 once something did */
        s->opening = s->sys_sum + (s->turns_h ? olla_json_mix(s->turns_h)
                                              : 0);
        if (s->opening == 0) {
            s->opening = 1;
        }
    }
}


int
olla_json_scan_feed(olla_json_scan_t *s, const char *data, size_t n)
{
    unsigned              c, d, state;
    unsigned char         b;
    const unsigned char  *p, *q, *start, *last;
#if (OLLA_JSON_FAST)
    unsigned              esc;
    const unsigned char  *stuck;
#endif

    if (s->failed) {
        return OLLA_JSON_ERROR;
    }

    if (n == 0) {
        return OLLA_JSON_OK;
    }

    start = (const unsigned char *) data;
    p = start;
    last = start + n;
    state = s->state;

#if (OLLA_JSON_FAST)
    stuck = NULL;
#endif

    while (p < last) {

#if (OLLA_JSON_FAST)
        /*
         * quiet content goes to the fast parser; where it stops, the
         * machine reads at least one byte before it is asked again
         */

        if (s->depth >= s->quiet_from
            && p != stuck
            && (state <= sw_after
                || (state == sw_string && s->cap == olla_cap_none)))
        {
            p = olla_json_quiet(s, p, last, &state);
            stuck = p;

            if (p == last) {
                break;
            }
        }
#endif

        c = *p;

        switch (state) {

        case sw_string:

#if (OLLA_JSON_FAST)
            if (s->cap == olla_cap_none) {
                p = olla_json_str_fast(p, last, &esc);
                goto string_stop;
            }

        string_hash:

            if (s->cap == olla_cap_hash
                && (s->head_skip || s->head_len > sizeof(s->head)))
            {
                /* a string of the opening, past its head */
                p = olla_json_str_hash(s, p, last, &esc);
                goto string_stop;
            }
#endif

            /* runs of plain bytes (and, fast, escapes that stand alone) */

            for ( ;; ) {
                q = olla_json_run(p, last);

                if (q != p) {
                    if (s->cap) {
                        olla_json_put(s, p, q - p);
                    }

                    p = q;

                    if (p == last) {
                        goto done;
                    }

                    c = *p;
                }

#if (OLLA_JSON_FAST)
                if (c == '\\' && last - p >= 2 && olla_json_esc[p[1]] == 1) {
                    b = olla_json_unesc[p[1]];
                    olla_json_put(s, &b, 1);
                    p += 2;

                    if (p == last) {
                        goto done;
                    }

                    c = *p;
                    goto string_hash;
                }
#endif

                break;
            }

#if (OLLA_JSON_FAST)
            goto string_special;

        string_stop:

            if (esc) {
                state = sw_esc;
                continue;
            }

            if (p == last) {
                goto done;
            }

            c = *p;

        string_special:
#endif

            /* '"', '\', a control character or irregular UTF-8 */

            if (c == '"') {
                p++;
                state = olla_json_string_end(s, olla_json_off(p));
                continue;
            }

            if (c == '\\') {
                p++;
                state = sw_esc;
                continue;
            }

            if (c < 0x20) {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: unescaped control character "
                               "in string");
                return OLLA_JSON_ERROR;
            }

            /* a UTF-8 sequence cut by the end of the piece, or invalid */

            if (olla_json_utf8_lead(s, c) != 0) {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid UTF-8");
                return OLLA_JSON_ERROR;
            }

            if (s->cap) {
                olla_json_put(s, p, 1);
            }

            p++;
            state = sw_utf8;
            continue;

        case sw_utf8:
            if (c < s->utf8_lo || c > s->utf8_hi) {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid UTF-8");
                return OLLA_JSON_ERROR;
            }

            if (s->cap) {
                olla_json_put(s, p, 1);
            }

            p++;
            s->utf8_lo = 0x80;
            s->utf8_hi = 0xbf;

            if (--s->utf8_need == 0) {
                state = sw_string;
            }

            continue;

        case sw_esc:
            switch (c) {
            case '"':
            case '\\':
            case '/':
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u':
                p++;
                s->sub = 0;
                s->ucs = 0;
                state = sw_hex;
                continue;
            default:
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid escape in string");
                return OLLA_JSON_ERROR;
            }

            if (s->cap) {
                b = (unsigned char) c;
                olla_json_put(s, &b, 1);
            }

            p++;
            state = sw_string;
            continue;

        case sw_hex:
            if (olla_json_digit(c)) {
                d = c - '0';

            } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
                d = (c | 0x20) - 'a' + 10;

            } else {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid \\u escape");
                return OLLA_JSON_ERROR;
            }

            s->ucs = (s->ucs << 4) | d;

            if (++s->sub < 4) {
                p++;
                continue;
            }

            if (s->hi_surrogate) {
                if (s->ucs < 0xdc00 || s->ucs > 0xdfff) {
                    olla_json_fail(s, olla_json_off(p),
                                   "invalid JSON: invalid \\u escape "
                                   "(unpaired surrogate)");
                    return OLLA_JSON_ERROR;
                }

                olla_json_put_ucs(s, 0x10000
                                     + ((s->hi_surrogate - 0xd800) << 10)
                                     + (s->ucs - 0xdc00));
                s->hi_surrogate = 0;

            } else if (s->ucs >= 0xd800 && s->ucs <= 0xdbff) {
                s->hi_surrogate = s->ucs;
                p++;
                state = sw_low_bs;
                continue;

            } else if (s->ucs >= 0xdc00 && s->ucs <= 0xdfff) {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid \\u escape "
                               "(unpaired surrogate)");
                return OLLA_JSON_ERROR;

            } else {
                olla_json_put_ucs(s, s->ucs);
            }

            p++;
            state = sw_string;
            continue;

        case sw_low_bs:
        case sw_low_u:
            if (c != (state == sw_low_bs ? '\\' : 'u')) {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid \\u escape "
                               "(unpaired surrogate)");
                return OLLA_JSON_ERROR;
            }

            p++;

            if (state == sw_low_bs) {
                state = sw_low_u;

            } else {
                s->sub = 0;
                s->ucs = 0;
                state = sw_hex;
            }

            continue;

        case sw_after:
            if (c == ',') {
                p++;
                d = s->depth - 1;
                state = (s->stack[d >> 3] >> (d & 7)) & 1 ? sw_obj_key
                                                           : sw_value;
                continue;
            }

            if (c == '}' || c == ']') {
                state = olla_json_close(s, c, olla_json_off(p));
                if (state == sw_error) {
                    return OLLA_JSON_ERROR;
                }

                p++;
                continue;
            }

            goto whitespace;

        case sw_obj_first:
            if (c == '}') {
                state = olla_json_close(s, c, olla_json_off(p));
                p++;
                continue;
            }

            /* fall through */

        case sw_obj_key:
            if (c == '"') {
                p++;
                state = olla_json_key_begin(s);
#if (OLLA_JSON_FAST)
                goto string_begin;
#else
                continue;
#endif
            }

            goto whitespace;

        case sw_colon:
            if (c == ':') {
                p++;
                state = sw_value;
                continue;
            }

            goto whitespace;

        case sw_arr_first:
            if (c == ']') {
                state = olla_json_close(s, c, olla_json_off(p));
                p++;
                continue;
            }

            /* fall through */

        case sw_value:
            if (olla_json_ws(c)) {
                goto whitespace;
            }

#if (OLLA_JSON_FAST)
        value_begin:
#endif

            state = olla_json_begin(s, c, olla_json_off(p));
            if (state == sw_error) {
                return OLLA_JSON_ERROR;
            }

            p++;

#if (OLLA_JSON_FAST)
            if (state == sw_string) {
                goto string_begin;
            }
#endif

            continue;

        case sw_start:
            if (c == '{') {
                state = olla_json_begin(s, c, olla_json_off(p));
                p++;
                continue;
            }

            if (olla_json_ws(c)) {
                goto whitespace;
            }

            if (c == '[' || c == '"' || c == '-' || olla_json_digit(c)
                || c == 't' || c == 'f' || c == 'n')
            {
                olla_json_fail(s, olla_json_off(p),
                               "request body must be a JSON object");
                return OLLA_JSON_ERROR;
            }

            olla_json_unexpected(s, c, olla_json_off(p));
            return OLLA_JSON_ERROR;

        case sw_done:
            if (olla_json_ws(c)) {
                goto whitespace;
            }

            olla_json_fail(s, olla_json_off(p),
                           "invalid JSON: trailing data after the object");
            return OLLA_JSON_ERROR;

        case sw_minus:
            if (c == '0') {
                state = sw_zero;

            } else if (olla_json_digit(c)) {
                state = sw_int;

            } else {
                goto bad_number;
            }

            goto number_char;

        case sw_zero:
            if (olla_json_digit(c)) {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid number "
                               "(leading zero)");
                return OLLA_JSON_ERROR;
            }

            goto number_tail;

        case sw_int:
        case sw_frac:
        case sw_exp_int:
            if (olla_json_digit(c)) {
                q = p + 1;

                while (q < last && olla_json_digit(*q)) {
                    q++;
                }

                if (s->cap) {
                    olla_json_put(s, p, q - p);
                }

                p = q;
                continue;
            }

            if (state == sw_exp_int) {
                goto number_end;
            }

            if (state == sw_frac) {
                goto number_exp;
            }

        number_tail:

            if (c == '.') {
                state = sw_dot;
                goto number_char;
            }

        number_exp:

            if (c == 'e' || c == 'E') {
                state = sw_exp;
                goto number_char;
            }

        number_end:

            state = olla_json_value_end(s, olla_json_off(p));
            continue;

        case sw_dot:
            if (!olla_json_digit(c)) {
                goto bad_number;
            }

            state = sw_frac;
            goto number_char;

        case sw_exp:
            if (c == '+' || c == '-') {
                state = sw_exp_sign;
                goto number_char;
            }

            /* fall through */

        case sw_exp_sign:
            if (!olla_json_digit(c)) {
                goto bad_number;
            }

            state = sw_exp_int;

        number_char:

            if (s->cap) {
                olla_json_put(s, p, 1);
            }

            p++;
            continue;

        bad_number:

            olla_json_fail(s, olla_json_off(p),
                           "invalid JSON: invalid number");
            return OLLA_JSON_ERROR;

        case sw_literal:
            if (c != (unsigned char) olla_json_literals[s->lit][s->sub]) {
                olla_json_fail(s, olla_json_off(p),
                               "invalid JSON: invalid literal");
                return OLLA_JSON_ERROR;
            }

            p++;

            if (olla_json_literals[s->lit][++s->sub] == '\0') {
                state = olla_json_value_end(s, olla_json_off(p));
            }

            continue;

        default: /* sw_error */
            return OLLA_JSON_ERROR;
        }

#if (OLLA_JSON_FAST)

    string_begin:

        /*
         * a short string whose closing quote is in sight, with nothing
         * special before it: put and ended in one go
         */

        q = olla_json_short(p, last);

        if (q == NULL) {
            continue;
        }

        if (s->cap) {
            olla_json_put_short(s, p, q - p);
        }

        p = q + 1;
        state = olla_json_string_end(s, olla_json_off(p));

        /*
         * compact JSON: the ':' or the ',' after it and the token after
         * that at once, as the loop would read them (where quiet content
         * is, the loop hands it to olla_json_quiet())
         */

        if (p == last || s->depth >= s->quiet_from) {
            continue;
        }

        if (state == sw_colon) {
            if (*p != ':') {
                continue;
            }

            p++;
            state = sw_value;

            if (p == last || olla_json_ws(*p)) {
                continue;
            }

            c = *p;
            goto value_begin;
        }

        if (state != sw_after || *p != ',') {
            continue;
        }

        p++;
        d = s->depth - 1;

        if (!((s->stack[d >> 3] >> (d & 7)) & 1)) {
            state = sw_value;

            if (p == last || olla_json_ws(*p)) {
                continue;
            }

            c = *p;
            goto value_begin;
        }

        state = sw_obj_key;

        if (p == last || *p != '"') {
            continue;
        }

        p++;
        state = olla_json_key_begin(s);
        goto string_begin;
#endif

    whitespace:

        if (!olla_json_ws(c)) {
            olla_json_unexpected(s, c, olla_json_off(p));
            return OLLA_JSON_ERROR;
        }

        do {
            p++;
        } while (p < last && olla_json_ws(*p));
    }

done:

    s->state = state;
    s->offset += n;

    return OLLA_JSON_OK;
}


int
olla_json_scan_end(olla_json_scan_t *s)
{
    if (s->failed) {
        return OLLA_JSON_ERROR;
    }

    switch (s->state) {

    case sw_done:
        return OLLA_JSON_OK;

    case sw_start:
        olla_json_fail(s, s->offset, "invalid JSON: empty body");
        break;

    case sw_string:
    case sw_esc:
    case sw_hex:
    case sw_low_bs:
    case sw_low_u:
    case sw_utf8:
        olla_json_fail(s, s->offset, "invalid JSON: unterminated string");
        break;

    default:
        olla_json_fail(s, s->offset, "invalid JSON: unexpected end of input");
        break;
    }

    return OLLA_JSON_ERROR;
}


static unsigned
olla_json_fail(olla_json_scan_t *s, size_t off, const char *msg)
{
    size_t  n;

    n = strlen(msg);

    if (n > sizeof(s->err) - 1) {
        n = sizeof(s->err) - 1;
    }

    memcpy(s->err, msg, n);
    s->err[n] = '\0';
    s->err_offset = off;
    s->failed = 1;
    s->state = sw_error;

    return sw_error;
}


static OLLA_JSON_COLD unsigned
olla_json_unexpected(olla_json_scan_t *s, unsigned c, size_t off)
{
    char  msg[64];

    if (c > 0x20 && c < 0x7f) {
        snprintf(msg, sizeof(msg), "invalid JSON: unexpected character '%c'",
                 (int) c);

    } else {
        snprintf(msg, sizeof(msg), "invalid JSON: unexpected byte 0x%02x", c);
    }

    return olla_json_fail(s, off, msg);
}


/* apart from olla_json_begin(): its buffer would cost every value a check */

static OLLA_JSON_COLD unsigned
olla_json_too_deep(olla_json_scan_t *s, size_t off)
{
    char  msg[64];

    snprintf(msg, sizeof(msg), "JSON nested deeper than %u levels",
             (unsigned) s->max_depth);

    return olla_json_fail(s, off, msg);
}


/*
 * The plain part of a string from p: ASCII other than '"', '\' and control
 * characters, and complete, valid UTF-8 sequences.  Returns where it stops.
 */

static const unsigned char *
olla_json_skip(const unsigned char *p, const unsigned char *last)
{
    size_t    n;
    uint64_t  v, m, x;

#if (OLLA_JSON_SSE2)
    int       k;
    __m128i   y, vq, vb, vc;

    vq = _mm_set1_epi8('"');
    vb = _mm_set1_epi8('\\');
    vc = _mm_set1_epi8(0x20);
#endif

    for ( ;; ) {

#if (OLLA_JSON_SSE2)
        while (last - p >= 16) {
            y = _mm_loadu_si128((const __m128i *) p);

            /* signed: the bytes above 0x7f are below 0x20 too */
            k = _mm_movemask_epi8(_mm_or_si128(
                                      _mm_or_si128(_mm_cmpeq_epi8(y, vq),
                                                   _mm_cmpeq_epi8(y, vb)),
                                      _mm_cmplt_epi8(y, vc)));
            if (k) {
                p += __builtin_ctz((unsigned) k);
                goto special;
            }

            p += 16;
        }
#endif

        while (last - p >= 8) {
            memcpy(&v, p, 8);

            /*
             * the high bit of a byte that is >= 0x80, < 0x20, '"' or '\';
             * borrows may flag bytes above a flagged one, never below
             */

            m = v | ((v - 0x20 * OLLA_JSON_ONES) & ~v);
            x = v ^ (0x22 * OLLA_JSON_ONES);
            m |= (x - OLLA_JSON_ONES) & ~x;
            x = v ^ (0x5c * OLLA_JSON_ONES);
            m |= (x - OLLA_JSON_ONES) & ~x;
            m &= OLLA_JSON_HIGHS;

            if (m) {
#if (OLLA_JSON_CTZ)
                p += __builtin_ctzll(m) >> 3;
                goto special;
#else
                break;
#endif
            }

            p += 8;
        }

        while (p < last && olla_json_plain[*p]) {
            p++;
        }

        if (p == last) {
            return p;
        }

#if (OLLA_JSON_CTZ || OLLA_JSON_SSE2)
    special:
#endif

        if (*p < 0x80) {
            return p;
        }

        n = olla_json_utf8_seq(p, last);

        if (n == 0) {
            return p;
        }

        p += n;
    }
}


#if (OLLA_JSON_AVX2)

/*
 * The same with AVX2, 32 bytes at a time (a long plain run of the
 * opening's head, or of a string the machine reads), where the CPU has it
 * (olla_json_run, chosen at the first call); the last bytes as above.
 */

__attribute__((target("avx2")))
static const unsigned char *
olla_json_skip_avx2(const unsigned char *p, const unsigned char *last)
{
    size_t    n;
    uint32_t  k;
    __m256i   y, vq, vb, vc;

    vq = _mm256_set1_epi8('"');
    vb = _mm256_set1_epi8('\\');
    vc = _mm256_set1_epi8(0x20);

    while (last - p >= 32) {
        y = _mm256_loadu_si256((const __m256i *) p);

        /* signed: the bytes above 0x7f are below 0x20 too */
        k = (uint32_t) _mm256_movemask_epi8(_mm256_or_si256(
                _mm256_or_si256(_mm256_cmpeq_epi8(y, vq),
                                _mm256_cmpeq_epi8(y, vb)),
                _mm256_cmpgt_epi8(vc, y)));

        if (k == 0) {
            p += 32;
            continue;
        }

        p += __builtin_ctz(k);

        if (*p < 0x80) {
            return p;
        }

        n = olla_json_utf8_seq(p, last);

        if (n == 0) {
            return p;
        }

        p += n;
    }

    return olla_json_skip(p, last);
}


static const unsigned char *
olla_json_run_first(const unsigned char *p, const unsigned char *last)
{
    if (__builtin_cpu_supports("avx2")) {
        olla_json_run = olla_json_skip_avx2;

    } else {
        olla_json_run = olla_json_skip;
    }

    return olla_json_run(p, last);
}

#endif


/* the length of a complete, valid UTF-8 sequence at p, or 0 */

static inline size_t
olla_json_utf8_seq(const unsigned char *p, const unsigned char *last)
{
    unsigned  c, lo, hi;

    c = p[0];

    if (c < 0xc2) {
        return 0;
    }

    if (c < 0xe0) {
        if (last - p < 2 || (p[1] & 0xc0) != 0x80) {
            return 0;
        }

        return 2;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c < 0xf0) {
        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

        if (last - p < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80) {
            return 0;
        }

        return 3;
    }

    if (c < 0xf5) {
        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

        if (last - p < 4 || p[1] < lo || p[1] > hi
            || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
        {
            return 0;
        }

        return 4;
    }

    return 0;
}


/* sets up the continuation of a UTF-8 sequence led by c; -1: invalid lead */

static int
olla_json_utf8_lead(olla_json_scan_t *s, unsigned c)
{
    s->utf8_lo = 0x80;
    s->utf8_hi = 0xbf;

    if (c < 0xc2) {
        return -1;
    }

    if (c < 0xe0) {
        s->utf8_need = 1;
        return 0;
    }

    if (c < 0xf0) {
        s->utf8_need = 2;

        if (c == 0xe0) {
            s->utf8_lo = 0xa0;

        } else if (c == 0xed) {
            s->utf8_hi = 0x9f;
        }

        return 0;
    }

    if (c < 0xf5) {
        s->utf8_need = 3;

        if (c == 0xf0) {
            s->utf8_lo = 0x90;

        } else if (c == 0xf4) {
            s->utf8_hi = 0x8f;
        }

        return 0;
    }

    return -1;
}


/* appends unescaped bytes to the key or to the captured field */

static void
olla_json_put(olla_json_scan_t *s, const unsigned char *p, size_t n)
{
    size_t              room;
    olla_json_field_t  *f;

    if (s->cap == olla_cap_key) {
        if (s->key_overflow || n > sizeof(s->key) - s->key_len) {
            s->key_overflow = 1;
            return;
        }

        memcpy(s->key + s->key_len, p, n);
        s->key_len += n;
        return;
    }

    if (s->cap == olla_cap_ikey) {
        s->key_h = olla_json_fnv(s->key_h, p, n);

        if (s->ikey_len > sizeof(s->ikey)
            || n > sizeof(s->ikey) - s->ikey_len)
        {
            s->ikey_len = sizeof(s->ikey) + 1;     /* too long to matter */
            return;
        }

        memcpy(s->ikey + s->ikey_len, p, n);
        s->ikey_len += n;
        return;
    }

    if (s->cap == olla_cap_hash) {
        if (s->head_skip) {
            return;
        }

        if (s->head_len < sizeof(s->head)) {
            /* the head waits: a billing stamp is left out whole */
            room = sizeof(s->head) - s->head_len;
            room = n < room ? n : room;

            memcpy(s->head + s->head_len, p, room);
            s->head_len += room;
            p += room;
            n -= room;

            if (s->head_len < sizeof(s->head)) {
                return;
            }

            if (memcmp(s->head, OLLA_JSON_BILLING,
                       sizeof(OLLA_JSON_BILLING) - 1)
                == 0)
            {
                s->head_skip = 1;
                return;
            }

            olla_json_hash_head(s);
            s->head_len = sizeof(s->head) + 1;     /* flushed */
        }

        olla_json_hash(s, p, n);
        return;
    }

    f = s->cur;

    if (f->len < f->cap) {
        room = f->cap - f->len;
        memcpy(f->value + f->len, p, n < room ? n : room);
    }

    f->len += n;

    if (f->len > f->cap) {
        f->truncated = 1;
    }
}


static void
olla_json_put_ucs(olla_json_scan_t *s, unsigned cp)
{
    unsigned char  b[4];

    if (!s->cap) {
        return;
    }

    olla_json_put(s, b, olla_json_encode(cp, b));
}


/* a code point in UTF-8: b[0..3], returns the length */

static size_t
olla_json_encode(unsigned cp, unsigned char *b)
{
    size_t  n;

    if (cp < 0x80) {
        b[0] = (unsigned char) cp;
        n = 1;

    } else if (cp < 0x800) {
        b[0] = (unsigned char) (0xc0 | (cp >> 6));
        b[1] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 2;

    } else if (cp < 0x10000) {
        b[0] = (unsigned char) (0xe0 | (cp >> 12));
        b[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 3;

    } else {
        b[0] = (unsigned char) (0xf0 | (cp >> 18));
        b[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char) (0x80 | (cp & 0x3f));
        n = 4;
    }

    return n;
}


/* the first byte c of a value at offset off; returns the next state */

static inline unsigned
olla_json_begin(olla_json_scan_t *s, unsigned c, size_t off)
{
    size_t              d;
    unsigned            state;
    unsigned char       b;
    olla_json_type_e    type;
    olla_json_field_t  *f;

    switch (c) {

    case '{':
        type = OLLA_JSON_OBJECT;
        state = sw_obj_first;
        break;

    case '[':
        type = OLLA_JSON_ARRAY;
        state = sw_arr_first;
        break;

    case '"':
        type = OLLA_JSON_STRING;
        state = sw_string;
        break;

    case '-':
        type = OLLA_JSON_NUMBER;
        state = sw_minus;
        break;

    case '0':
        type = OLLA_JSON_NUMBER;
        state = sw_zero;
        break;

    case 't':
    case 'f':
    case 'n':
        s->lit = (c == 't') ? 0 : (c == 'f') ? 1 : 2;
        s->sub = 1;
        type = olla_json_literal_types[s->lit];
        state = sw_literal;
        break;

    default:
        if (!olla_json_digit(c)) {
            return olla_json_unexpected(s, c, off);
        }

        type = OLLA_JSON_NUMBER;
        state = sw_int;
        break;
    }

    f = (s->depth == 1) ? s->cur : NULL;

    if (f) {
        f->type = type;
        f->count++;
        f->start = off;
        f->end = off;
        f->len = 0;
        f->truncated = 0;
        f->elements = 0;

    } else if (s->depth == 2 && s->cur) {
        /* a value directly inside the captured array or object */
        s->cur->elements++;
    }

    s->str_key = 0;
    s->cap = olla_cap_none;

    s->is_role = s->want_role;
    s->want_role = 0;
    s->vkind = type;

    if (olla_json_hashing(s)) {

        if (s->depth == 2 && s->cur->opening == OLLA_JSON_OPENING_TURNS) {
            /* an element of the turns begins */
            s->elem_user = 0;
        }

        if (type == OLLA_JSON_OBJECT || type == OLLA_JSON_ARRAY) {
            if (s->depth < OLLA_JSON_HASH_DEPTH) {
                s->hacc[s->depth] = 0;
                s->hobj[s->depth] = (type == OLLA_JSON_OBJECT);
            }

        } else if (type == OLLA_JSON_STRING && (f == NULL || f->cap == 0)) {
            s->cap = olla_cap_hash;
            s->str_h = OLLA_JSON_FNV_INIT;
            s->str_len = 0;
            s->head_len = 0;
            s->head_skip = 0;
        }
    }

    if (type == OLLA_JSON_OBJECT || type == OLLA_JSON_ARRAY) {
        d = s->depth;

        if (d >= s->max_depth) {
            return olla_json_too_deep(s, off);
        }

        if (type == OLLA_JSON_OBJECT) {
            s->stack[d >> 3] |= (unsigned char) (1 << (d & 7));

        } else {
            s->stack[d >> 3] &= (unsigned char) ~(1 << (d & 7));
        }

        s->depth = d + 1;

    } else if (f && (type == OLLA_JSON_STRING || type == OLLA_JSON_NUMBER)
               && s->cap != olla_cap_hash)
    {
        s->cap = olla_cap_value;

        if (type == OLLA_JSON_NUMBER) {
            b = (unsigned char) c;
            olla_json_put(s, &b, 1);
        }
    }

    return state;
}


/* '}' or ']' at offset off */

static inline unsigned
olla_json_close(olla_json_scan_t *s, unsigned c, size_t off)
{
    size_t  d;

    d = s->depth - 1;

    if ((c == '}') != ((s->stack[d >> 3] >> (d & 7)) & 1)) {
        return olla_json_unexpected(s, c, off);
    }

    s->depth = d;
    s->vkind = (c == '}') ? OLLA_JSON_OBJECT : OLLA_JSON_ARRAY;

    return olla_json_value_end(s, off + 1);
}


/* after the opening quote of a member name */

static inline unsigned
olla_json_key_begin(olla_json_scan_t *s)
{
    s->str_key = 1;

    if (s->depth == 1 && s->nfields) {
        s->cap = olla_cap_key;
        s->key_len = 0;
        s->key_overflow = 0;

    } else if (olla_json_hashing(s)) {
        s->cap = olla_cap_ikey;
        s->ikey_len = 0;
        s->key_h = OLLA_JSON_FNV_INIT;

    } else {
        s->cap = olla_cap_none;
    }

    return sw_string;
}


/* after the closing quote of a string; end is the offset after it */

static inline unsigned
olla_json_string_end(olla_json_scan_t *s, size_t end)
{
    if (!s->str_key) {
        if (s->cap == olla_cap_hash) {
            olla_json_hash_string_end(s);
        }

        return olla_json_value_end(s, end);
    }

    if (s->cap == olla_cap_ikey) {
        s->cap = olla_cap_none;

        if (s->depth - 1 < OLLA_JSON_HASH_DEPTH) {
            s->hkey[s->depth - 1] = s->key_h;
        }

        if (s->ikey_len == sizeof("cache_control") - 1
            && memcmp(s->ikey, "cache_control", s->ikey_len) == 0)
        {
            /* its value is left out, whatever it holds */
            s->skip_depth = s->depth;
            olla_json_mode(s);

        } else if (s->ikey_len == 4 && memcmp(s->ikey, "role", 4) == 0
                   && s->depth == 3
                   && s->cur->opening == OLLA_JSON_OPENING_TURNS)
        {
            s->want_role = 1;
        }

        return sw_colon;
    }

    if (s->cap == olla_cap_key) {
        olla_json_key_end(s);
    }

    return sw_colon;
}


/*
 * a top-level member name ended: the field it names, if any (apart from
 * olla_json_string_end(), which its loop would make costlier for every
 * string)
 */

static OLLA_JSON_NOINLINE void
olla_json_key_end(olla_json_scan_t *s)
{
    size_t              i;
    olla_json_field_t  *f;

    s->cap = olla_cap_none;
    s->cur = NULL;

    if (!s->key_overflow) {
        for (i = 0; i < s->nfields; i++) {
            f = &s->fields[i];

            if (f->key_len == s->key_len
                && memcmp(f->key, s->key, s->key_len) == 0)
            {
                s->cur = f;
                break;
            }
        }
    }

    olla_json_mode(s);
}


/* a value ended just before offset end */

static inline unsigned
olla_json_value_end(olla_json_scan_t *s, size_t end)
{
    unsigned            done;
    olla_json_field_t  *f;

    s->cap = olla_cap_none;

    if (s->depth == 0) {
        return sw_done;
    }

    if (s->skip_depth) {
        if (s->depth == s->skip_depth) {
            s->skip_depth = 0;
            olla_json_mode(s);
        }

    } else if (olla_json_hashing(s)) {
        done = s->turns_done;
        olla_json_hash_value(s);

        if (s->turns_done != done) {
            olla_json_mode(s);
        }
    }

    if (s->depth == 1 && s->cur) {
        f = s->cur;
        f->end = end;

        /* a courtesy NUL when the value fits with room to spare */

        if (f->len < f->cap
            && (f->type == OLLA_JSON_STRING || f->type == OLLA_JSON_NUMBER))
        {
            f->value[f->len] = '\0';
        }

        s->cur = NULL;
        olla_json_mode(s);
    }

    return sw_after;
}


/*
 * Quiet: no field captures what follows and no opening hashes it, so it is
 * only validated.  That is the case inside a container that begins below
 * the top level (depth 2 and deeper) when no field is being read, and
 * below a captured member's elements (depth 3 and deeper), unless the
 * member is an opening still being hashed.  s->quiet_from is that depth,
 * and s->hashing whether the opening is hashed (olla_json_hashing()),
 * set again whenever what they depend on changes (the member being read,
 * a value left out, the turns hashed), so that the main loop asks once a
 * token with one comparison, and the machine once a value with a flag.
 */

static void
olla_json_mode(olla_json_scan_t *s)
{
#if (OLLA_JSON_FAST)
    olla_json_field_t  *f;

    f = s->cur;

    s->hashing = olla_json_hashing_now(s);

    if (f == NULL) {
        s->quiet_from = 2;

    } else if (s->skip_depth == 0
               && (f->opening == OLLA_JSON_OPENING_NONE
                   || (f->opening == OLLA_JSON_OPENING_TURNS
                       && s->turns_done)))
    {
        s->quiet_from = 3;

    } else {
        s->quiet_from = (size_t) -1;
    }
#else
    (void) s;
#endif
}


#if (OLLA_JSON_FAST)

/*
 * A short string's closing quote: the first byte from p that is '"', '\',
 * below 0x20 or above 0x7f, within 32 bytes, when it is '"'; else NULL.
 */

static inline const unsigned char *
olla_json_short(const unsigned char *p, const unsigned char *last)
{
#if (OLLA_JSON_SSE2)
    int      i, k;
    __m128i  y;

    for (i = 0; i < 32 && last - p >= 16; i += 16, p += 16) {
        y = _mm_loadu_si128((const __m128i *) p);

        /* signed: the bytes above 0x7f are below 0x20 too */
        k = _mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(y, _mm_set1_epi8('"')),
                             _mm_cmpeq_epi8(y, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(y, _mm_set1_epi8(0x20))));

        if (k) {
            p += __builtin_ctz((unsigned) k);
            return (*p == '"') ? p : NULL;
        }
    }

#else
    (void) p;
    (void) last;
#endif

    return NULL;
}


/*
 * The bytes of a string just begun that olla_json_short() found whole (n
 * of them, fewer than 32; 16 bytes from p can be read, 32 when n >= 16):
 * as olla_json_put() takes them, with copies of a fixed size (what they
 * write past n is never read).
 */

static inline void
olla_json_put_short(olla_json_scan_t *s, const unsigned char *p, size_t n)
{
    size_t  w;

    w = (n < 16) ? 16 : 32;

    switch (s->cap) {

    case olla_cap_key:
        memcpy(s->key, p, w);
        s->key_len = n;
        return;

    case olla_cap_ikey:
        s->key_h = olla_json_fnv(s->key_h, p, n);

        if (n > sizeof(s->ikey)) {
            s->ikey_len = sizeof(s->ikey) + 1;     /* too long to matter */
            return;
        }

        memcpy(s->ikey, p, sizeof(s->ikey));
        s->ikey_len = n;
        return;

    case olla_cap_hash:
        memcpy(s->head, p, w);
        s->head_len = n;
        return;

    default:
        if (n) {
            olla_json_put(s, p, n);
        }
    }
}


/*
 * Quiet content from p in state *state (a position between tokens, or
 * inside a string that captures nothing): parsed with one label per
 * grammar position until the piece ends, the container the quiet part
 * began in closes, or something comes that the machine must see (an
 * error, a token the piece cuts); returns there with *state, s->depth,
 * the stack, s->str_key and s->cap as the machine would have them.
 */

static OLLA_JSON_NOINLINE const unsigned char *
olla_json_quiet(olla_json_scan_t *s, const unsigned char *p,
    const unsigned char *last, unsigned *state)
{
    size_t                depth, floor, max;
    unsigned              c, esc, key, obj, st;
    const unsigned char  *q;

    /*
     * the depth and whether the innermost container is an object are kept
     * here, s->depth is set on the way out (the stack's stores are of
     * bytes, which alias everything: the fields would be read again)
     */

    floor = s->cur ? 2 : 1;
    max = s->max_depth;
    key = s->str_key;
    depth = s->depth;
    obj = (s->stack[(depth - 1) >> 3] >> ((depth - 1) & 7)) & 1;

    switch (*state) {

    case sw_obj_first:
        goto obj_first;

    case sw_obj_key:
        goto obj_key;

    case sw_colon:
        goto colon;

    case sw_arr_first:
        goto arr_first;

    case sw_value:
        goto value;

    case sw_after:
        goto after;

    case sw_string:
        goto string;

    default:
        return p;
    }

    /*
     * at each position the byte expected without whitespace before it is
     * tried first: compact JSON has none
     */

value:

    if (p < last && (c = *p) > ' ') {
        goto value_c;
    }

    while (p < last && olla_json_ws(*p)) {
        p++;
    }

value_nows:

    if (p == last) {
        st = sw_value;
        goto out;
    }

    c = *p;

value_c:

    if (c == '"') {
        p++;
        key = 0;
        goto string;
    }

    if (c == '{' || c == '[') {
        if (depth >= max) {
            st = sw_value;
            goto out;
        }

        obj = (c == '{');

        if (obj) {
            s->stack[depth >> 3] |= (unsigned char) (1 << (depth & 7));

        } else {
            s->stack[depth >> 3] &= (unsigned char) ~(1 << (depth & 7));
        }

        depth++;
        p++;

        if (obj) {
            goto obj_first;
        }

        goto arr_first;
    }

    if (c == '-' || olla_json_digit(c)) {
        q = olla_json_number(p, last);

    } else if (c == 't' && last - p >= 4 && memcmp(p, "true", 4) == 0) {
        q = p + 4;

    } else if (c == 'f' && last - p >= 5 && memcmp(p, "false", 5) == 0) {
        q = p + 5;

    } else if (c == 'n' && last - p >= 4 && memcmp(p, "null", 4) == 0) {
        q = p + 4;

    } else {
        q = NULL;
    }

    if (q == NULL) {
        /* the machine reads the token: an error, or the piece cuts it */
        st = sw_value;
        goto out;
    }

    p = q;
    goto after;

arr_first:

    while (p < last && olla_json_ws(*p)) {
        p++;
    }

    if (p == last) {
        st = sw_arr_first;
        goto out;
    }

    if (*p == ']') {
        goto close;
    }

    goto value_nows;

obj_first:

    while (p < last && olla_json_ws(*p)) {
        p++;
    }

    if (p == last) {
        st = sw_obj_first;
        goto out;
    }

    if (*p == '}') {
        goto close;
    }

    goto obj_key_nows;

obj_key:

    if (p < last && *p == '"') {
        goto obj_key_quote;
    }

    while (p < last && olla_json_ws(*p)) {
        p++;
    }

obj_key_nows:

    if (p == last || *p != '"') {
        st = sw_obj_key;
        goto out;
    }

obj_key_quote:

    p++;
    key = 1;

string:

    q = olla_json_short(p, last);

    if (q == NULL) {
        q = olla_json_str_fast(p, last, &esc);

        if (q == last || esc || *q != '"') {
            s->str_key = key;
            s->cap = olla_cap_none;
            p = q;
            st = esc ? sw_esc : sw_string;
            goto out;
        }
    }

    p = q + 1;

    if (!key) {
        goto after;
    }

colon:

    if (p < last && *p == ':') {
        p++;
        goto value;
    }

    while (p < last && olla_json_ws(*p)) {
        p++;
    }

    if (p == last || *p != ':') {
        st = sw_colon;
        goto out;
    }

    p++;
    goto value;

after:

    if (p < last && (c = *p) > ' ') {
        goto after_c;
    }

    while (p < last && olla_json_ws(*p)) {
        p++;
    }

    if (p == last) {
        st = sw_after;
        goto out;
    }

    c = *p;

after_c:

    if (c == ',') {
        p++;

        if (obj) {
            goto obj_key;
        }

        goto value;
    }

    if (c != '}' && c != ']') {
        st = sw_after;
        goto out;
    }

    if ((c == '}') != obj) {
        st = sw_after;
        goto out;
    }

close:

    /* '}' or ']' of the innermost container, checked */

    depth--;
    p++;

    if (depth > floor) {
        obj = (s->stack[(depth - 1) >> 3] >> ((depth - 1) & 7)) & 1;
        goto after;
    }

    /*
     * back at the level the quiet part began at: what value_end() does
     * there for a container is nothing but the state (no field ends at
     * depth 2, none is read at depth 1, nothing is hashed)
     */

    s->vkind = (p[-1] == '}') ? OLLA_JSON_OBJECT : OLLA_JSON_ARRAY;
    s->cap = olla_cap_none;
    st = sw_after;

out:

    s->depth = depth;
    *state = st;

    return p;
}


/*
 * The content of a string that captures nothing, from p (never just after
 * a backslash) on: returns its closing quote with *esc 0, or the byte the
 * machine must read, with *esc 1 when that byte follows a backslash (then
 * in state sw_esc, else sw_string); last when the piece ends.
 *
 * 64 bytes at a time (olla_json_blocks()) while they are plain text and
 * escapes that stand alone; a UTF-8 sequence or a \u escape is checked in
 * place and the blocks go on after it.  The last bytes of the piece go a
 * plain run or an escape at a time.
 */

#if (OLLA_JSON_SSE2)

#define OLLA_JSON_STOP   1        /* olla_json_blocks() met a stop */
#define OLLA_JSON_TAKEN  2        /* an escape takes that byte */

/*
 * The bytes that escapes take in a 64-byte block: b has a bit for each
 * backslash, carry is 1 when the block's first byte is taken by a
 * backslash at the end of the block before.  In a run of backslashes the
 * first, the third, ... begin escapes (each takes the byte after it, a
 * backslash or not): the run's bits at its start's parity.  Runs are told
 * apart by that parity: adding a run's lowest bit to b clears the run (the
 * carry goes through it and out), so b & ~(b + its even starts) are the
 * runs that begin at even positions.  *next is the carry for the block
 * after.
 */

static inline uint64_t
olla_json_escaped(uint64_t b, uint64_t carry, uint64_t *next)
{
    uint64_t  starts, even_runs, lead;

    b &= ~carry;
    starts = b & ~(b << 1);
    even_runs = b & ~(b + (starts & 0x5555555555555555ULL));
    lead = (even_runs & 0x5555555555555555ULL)
           | (b & ~even_runs & 0xaaaaaaaaaaaaaaaaULL);

    *next = lead >> 63;

    return (lead << 1) | carry;
}


/*
 * 64-byte blocks from p (which no escape takes) while 64 bytes are left:
 * returns the first byte that stops them, with *how OLLA_JSON_STOP (and
 * OLLA_JSON_TAKEN when an escape takes it), or where fewer than 64 bytes
 * are left, with *how OLLA_JSON_TAKEN when the last block's last escape
 * takes that byte (never inside a UTF-8 sequence).  A stop is a quote no
 * escape takes, a byte below 0x20, an irregular UTF-8 sequence or one the
 * piece cuts, or a byte an escape takes that is not one of " \ / b f n r
 * t (AVX2 lets the \u escapes of code points outside the surrogates
 * through when their four digits are in the block).  With SSE2 (every
 * x86-64), and with AVX2 where the CPU has it (olla_json_blocks_avx2(),
 * chosen at the first call).
 */

static const unsigned char *olla_json_blocks_sse2(const unsigned char *p,
    const unsigned char *last, unsigned *how);
static const unsigned char *olla_json_blocks_first(const unsigned char *p,
    const unsigned char *last, unsigned *how);

static const unsigned char *(*olla_json_blocks)(const unsigned char *p,
    const unsigned char *last, unsigned *how) = olla_json_blocks_first;


/*
 * The first stop of a block below the stops in stop: the UTF-8 sequences
 * led by the bytes in hi are checked in place, and an irregular one, or
 * one the piece cuts, stops there; *cont is how many bytes of the block
 * after belong to the block's last sequence.  Returns the stop's position,
 * or 64.
 */

static inline unsigned
olla_json_block_stop(const unsigned char *p, const unsigned char *last,
    uint64_t stop, uint64_t hi, unsigned *cont)
{
    size_t    n;
    unsigned  i, lim;

    lim = stop ? (unsigned) __builtin_ctzll(stop) : 64;
    *cont = 0;

    while (hi) {
        i = (unsigned) __builtin_ctzll(hi);

        if (i >= lim) {
            break;
        }

        n = olla_json_utf8_seq(p + i, last);

        if (n == 0) {
            return i;
        }

        if (i + n >= 64) {
            *cont = i + (unsigned) n - 64;
            break;
        }

        hi &= ~0ULL << (i + n);
    }

    return lim;
}


/*
 * A 64-byte block's backslashes, quotes, bytes below 0x20 or above 0x7f
 * (sp: signed, the bytes above 0x7f are below 0x20 too) and bytes above
 * 0x7f, a bit each, with SSE2
 */

static inline void
olla_json_classify(const unsigned char *p, uint64_t *bs, uint64_t *qt,
    uint64_t *sp, uint64_t *hi)
{
    __m128i  x0, x1, x2, x3, vq, vb, vc;

    vq = _mm_set1_epi8('"');
    vb = _mm_set1_epi8('\\');
    vc = _mm_set1_epi8(0x20);

    x0 = _mm_loadu_si128((const __m128i *) p);
    x1 = _mm_loadu_si128((const __m128i *) (p + 16));
    x2 = _mm_loadu_si128((const __m128i *) (p + 32));
    x3 = _mm_loadu_si128((const __m128i *) (p + 48));

#define olla_json_mask(f, v)                                                  \
    ((uint64_t) (unsigned) _mm_movemask_epi8(f(x0, v))                        \
     | (uint64_t) (unsigned) _mm_movemask_epi8(f(x1, v)) << 16                \
     | (uint64_t) (unsigned) _mm_movemask_epi8(f(x2, v)) << 32                \
     | (uint64_t) (unsigned) _mm_movemask_epi8(f(x3, v)) << 48)

    *bs = olla_json_mask(_mm_cmpeq_epi8, vb);
    *qt = olla_json_mask(_mm_cmpeq_epi8, vq);
    *sp = olla_json_mask(_mm_cmplt_epi8, vc);

#undef olla_json_mask

    *hi = (uint64_t) (unsigned) _mm_movemask_epi8(x0)
          | (uint64_t) (unsigned) _mm_movemask_epi8(x1) << 16
          | (uint64_t) (unsigned) _mm_movemask_epi8(x2) << 32
          | (uint64_t) (unsigned) _mm_movemask_epi8(x3) << 48;
}


#if (OLLA_JSON_AVX2)

/*
 * The same with AVX2 (two loads, six compares, eight mask moves where
 * SSE2 takes four, twelve and sixteen), for the loop that hashes the
 * opening (olla_json_str_hash()): called through olla_json_classify_run,
 * chosen at the first call, as the string loop's olla_json_blocks is.
 */

__attribute__((target("avx2")))
static void
olla_json_classify_avx2(const unsigned char *p, uint64_t *bs, uint64_t *qt,
    uint64_t *sp, uint64_t *hi)
{
    __m256i  x0, x1, vq, vb, vc;

    vq = _mm256_set1_epi8('"');
    vb = _mm256_set1_epi8('\\');
    vc = _mm256_set1_epi8(0x20);

    x0 = _mm256_loadu_si256((const __m256i *) p);
    x1 = _mm256_loadu_si256((const __m256i *) (p + 32));

    *bs = (uint64_t) (uint32_t) _mm256_movemask_epi8(_mm256_cmpeq_epi8(x0, vb))
          | (uint64_t) (uint32_t) _mm256_movemask_epi8(
                                      _mm256_cmpeq_epi8(x1, vb)) << 32;
    *qt = (uint64_t) (uint32_t) _mm256_movemask_epi8(_mm256_cmpeq_epi8(x0, vq))
          | (uint64_t) (uint32_t) _mm256_movemask_epi8(
                                      _mm256_cmpeq_epi8(x1, vq)) << 32;

    /* signed: the bytes above 0x7f are below 0x20 too */
    *sp = (uint64_t) (uint32_t) _mm256_movemask_epi8(_mm256_cmpgt_epi8(vc, x0))
          | (uint64_t) (uint32_t) _mm256_movemask_epi8(
                                      _mm256_cmpgt_epi8(vc, x1)) << 32;

    *hi = (uint64_t) (uint32_t) _mm256_movemask_epi8(x0)
          | (uint64_t) (uint32_t) _mm256_movemask_epi8(x1) << 32;
}


static void
olla_json_classify_sse2(const unsigned char *p, uint64_t *bs, uint64_t *qt,
    uint64_t *sp, uint64_t *hi)
{
    olla_json_classify(p, bs, qt, sp, hi);
}


static void olla_json_classify_first(const unsigned char *p, uint64_t *bs,
    uint64_t *qt, uint64_t *sp, uint64_t *hi);

static void (*olla_json_classify_run)(const unsigned char *p, uint64_t *bs,
    uint64_t *qt, uint64_t *sp, uint64_t *hi) = olla_json_classify_first;


static void
olla_json_classify_first(const unsigned char *p, uint64_t *bs, uint64_t *qt,
    uint64_t *sp, uint64_t *hi)
{
    if (__builtin_cpu_supports("avx2")) {
        olla_json_classify_run = olla_json_classify_avx2;

    } else {
        olla_json_classify_run = olla_json_classify_sse2;
    }

    olla_json_classify_run(p, bs, qt, sp, hi);
}

#else

#define olla_json_classify_run  olla_json_classify

#endif


static const unsigned char *
olla_json_blocks_sse2(const unsigned char *p, const unsigned char *last,
    unsigned *how)
{
    unsigned  i, cont;
    uint64_t  bs, qt, sp, hi, x, carry, next, stop, e;

    carry = 0;
    cont = 0;

    while (last - p >= 64) {
        olla_json_classify(p, &bs, &qt, &sp, &hi);

        if ((bs | qt | sp | carry) == 0) {
            /*
             * plain ASCII: nothing stops, nothing is escaped (and no
             * sequence of the block before ends here: its bytes are above
             * 0x7f, so cont is 0)
             */
            p += 64;
            continue;
        }

        if (bs | carry) {
            x = olla_json_escaped(bs, carry, &next);

        } else {
            x = 0;
            next = 0;
        }

        stop = (qt & ~x) | (sp & ~hi);

        /* escaped bytes other than '"' and '\' before the first stop */

        e = x & ~(qt | bs);

        if (stop) {
            e &= (stop & (0 - stop)) - 1;
        }

        while (e) {
            i = (unsigned) __builtin_ctzll(e);

            if (olla_json_esc[p[i]] != 1) {
                stop = 1ULL << i;
                break;
            }

            e &= e - 1;
        }

        /* the last block's last sequence may end in this one */

        i = olla_json_block_stop(p, last, stop, hi & (~0ULL << cont), &cont);

        if (i < 64) {
            *how = OLLA_JSON_STOP | (((x >> i) & 1) ? OLLA_JSON_TAKEN : 0);
            return p + i;
        }

        p += 64;
        carry = next;
    }

    *how = carry ? OLLA_JSON_TAKEN : 0;

    return p + cont;
}


#if (OLLA_JSON_AVX2)

/*
 * The same with AVX2: two loads a block, and the bytes escapes take
 * checked all at once: a byte is one of " \ / b f n r t when the table of
 * its low nibble and the table of its high nibble share a bit (one bit
 * per high nibble that has such bytes: 2, 5, 6, 7).
 */

__attribute__((target("avx2")))
static inline uint64_t
olla_json_not_esc(__m256i v, __m256i lo, __m256i hi)
{
    __m256i  m4, b;

    m4 = _mm256_set1_epi8(0x0f);
    b = _mm256_and_si256(
            _mm256_shuffle_epi8(lo, _mm256_and_si256(v, m4)),
            _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(v, 4),
                                                     m4)));

    return (uint32_t) _mm256_movemask_epi8(
                          _mm256_cmpeq_epi8(b, _mm256_setzero_si256()));
}


/* the hex digits of v (from 8 on, with from 8), as a 32-bit mask */

__attribute__((target("avx2")))
static inline uint64_t
olla_json_hex(__m256i v, int from8)
{
    __m256i  l, d;

    /* signed: the bytes above 0x7f are below '0' */

    l = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
    l = _mm256_and_si256(_mm256_cmpgt_epi8(l, _mm256_set1_epi8('a' - 1)),
                         _mm256_cmpgt_epi8(_mm256_set1_epi8('f' + 1), l));
    d = _mm256_and_si256(_mm256_cmpgt_epi8(v, _mm256_set1_epi8(
                                                  from8 ? '7' : '0' - 1)),
                         _mm256_cmpgt_epi8(_mm256_set1_epi8('9' + 1), v));

    return (uint32_t) _mm256_movemask_epi8(_mm256_or_si256(l, d));
}


/* 'd' or 'D' */

__attribute__((target("avx2")))
static inline __m256i
olla_json_dd(__m256i v, __m256i d)
{
    return _mm256_cmpeq_epi8(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), d);
}


__attribute__((target("avx2")))
static const unsigned char *
olla_json_blocks_avx2(const unsigned char *p, const unsigned char *last,
    unsigned *how)
{
    unsigned  i, cont;
    __m256i   x0, x1, vq, vb, vc, vu, vl, lo, hi;
    uint64_t  bs, qt, sp, h8, x, carry, next, stop, bad, u, hex, hex8, dd;

    vq = _mm256_set1_epi8('"');
    vb = _mm256_set1_epi8('\\');
    vc = _mm256_set1_epi8(0x20);
    vu = _mm256_set1_epi8('u');
    vl = _mm256_set1_epi8('d');

    /*
     * low nibble 2: '"' 'b' 'r'; 4: 't'; 5: 'u'; 6: 'f'; c: '\'; e: 'n';
     * f: '/'
     */

    lo = _mm256_setr_epi8(0, 0, 0x0d, 0, 0x08, 0x08, 0x04, 0,
                          0, 0, 0, 0, 0x02, 0, 0x04, 0x01,
                          0, 0, 0x0d, 0, 0x08, 0x08, 0x04, 0,
                          0, 0, 0, 0, 0x02, 0, 0x04, 0x01);
    hi = _mm256_setr_epi8(0, 0, 0x01, 0, 0, 0x02, 0x04, 0x08,
                          0, 0, 0, 0, 0, 0, 0, 0,
                          0, 0, 0x01, 0, 0, 0x02, 0x04, 0x08,
                          0, 0, 0, 0, 0, 0, 0, 0);

    carry = 0;
    cont = 0;

    while (last - p >= 64) {
        x0 = _mm256_loadu_si256((const __m256i *) p);
        x1 = _mm256_loadu_si256((const __m256i *) (p + 32));

#define olla_json_mask(f, v)                                                  \
    ((uint64_t) (uint32_t) _mm256_movemask_epi8(f(x0, v))                     \
     | (uint64_t) (uint32_t) _mm256_movemask_epi8(f(x1, v)) << 32)

        bs = olla_json_mask(_mm256_cmpeq_epi8, vb);
        qt = olla_json_mask(_mm256_cmpeq_epi8, vq);

        /* signed: the bytes above 0x7f are below 0x20 too */
        sp = ((uint64_t) (uint32_t) _mm256_movemask_epi8(
                                        _mm256_cmpgt_epi8(vc, x0)))
             | ((uint64_t) (uint32_t) _mm256_movemask_epi8(
                                        _mm256_cmpgt_epi8(vc, x1)) << 32);

        h8 = (uint64_t) (uint32_t) _mm256_movemask_epi8(x0)
             | (uint64_t) (uint32_t) _mm256_movemask_epi8(x1) << 32;

        if (bs | carry) {
            x = olla_json_escaped(bs, carry, &next);

            bad = x & (olla_json_not_esc(x0, lo, hi)
                       | olla_json_not_esc(x1, lo, hi) << 32);

            u = x & olla_json_mask(_mm256_cmpeq_epi8, vu);

            if (u) {
                /*
                 * \u: four hex digits in the block, and not half of a
                 * surrogate pair ('d' or 'D', then 8 to f: those stop)
                 */

                hex = olla_json_hex(x0, 0) | olla_json_hex(x1, 0) << 32;
                hex8 = olla_json_hex(x0, 8) | olla_json_hex(x1, 8) << 32;
                dd = olla_json_mask(olla_json_dd, vl);

                bad |= u & ~((hex >> 1) & (hex >> 2) & (hex >> 3) & (hex >> 4)
                             & ~((dd >> 1) & (hex8 >> 2)));
            }

        } else {
            x = 0;
            next = 0;
            bad = 0;
        }

#undef olla_json_mask

        stop = (qt & ~x) | (sp & ~h8) | bad;

        /* the last block's last sequence may end in this one */

        i = olla_json_block_stop(p, last, stop, h8 & (~0ULL << cont), &cont);

        if (i < 64) {
            *how = OLLA_JSON_STOP | (((x >> i) & 1) ? OLLA_JSON_TAKEN : 0);
            return p + i;
        }

        p += 64;
        carry = next;
    }

    *how = carry ? OLLA_JSON_TAKEN : 0;

    return p + cont;
}

#endif


static const unsigned char *
olla_json_blocks_first(const unsigned char *p, const unsigned char *last,
    unsigned *how)
{
#if (OLLA_JSON_AVX2)
    if (__builtin_cpu_supports("avx2")) {
        olla_json_blocks = olla_json_blocks_avx2;

    } else
#endif
    {
        olla_json_blocks = olla_json_blocks_sse2;
    }

    return olla_json_blocks(p, last, how);
}

#endif


static const unsigned char *
olla_json_str_fast(const unsigned char *p, const unsigned char *last,
    unsigned *esc)
{
    unsigned              c, ucs;
    const unsigned char  *q;
#if (OLLA_JSON_SSE2)
    size_t                n;
    unsigned              how;

    for ( ;; ) {
        q = olla_json_blocks(p, last, &how);
        c = (q < last) ? *q : 0;

        if (!(how & OLLA_JSON_STOP)) {
            p = q;

            if (!(how & OLLA_JSON_TAKEN)) {
                break;
            }

            /* the last block's last escape takes this byte */

            if (q == last) {
                *esc = 1;
                return q;
            }

            if (olla_json_esc[c] == 1) {
                p = q + 1;
                break;
            }
        }

        if (how & OLLA_JSON_TAKEN) {
            /* a \u escape, or the machine's */

            if (c == 'u') {
                p = olla_json_uesc(q, last, &ucs);

                if (p != NULL) {
                    continue;
                }
            }

            *esc = 1;
            return q;
        }

        if (c >= 0x80) {
            n = olla_json_utf8_seq(q, last);

            if (n) {
                p = q + n;
                continue;
            }
        }

        /* the closing quote, a control byte, or irregular UTF-8 */

        *esc = 0;
        return q;
    }

#endif

    /* the rest, a plain run or an escape at a time */

    for ( ;; ) {
        p = olla_json_skip(p, last);

        if (p == last) {
            *esc = 0;
            return p;
        }

        c = *p;

        if (c != '\\') {
            /* '"', a control byte, or UTF-8 the piece cuts or irregular */
            *esc = 0;
            return p;
        }

        if (last - p < 2) {
            *esc = 1;
            return last;
        }

        c = p[1];

        if (olla_json_esc[c] == 1) {
            p += 2;
            continue;
        }

        if (c == 'u') {
            q = olla_json_uesc(p + 1, last, &ucs);

            if (q != NULL) {
                p = q;
                continue;
            }
        }

        *esc = 1;
        return p + 1;
    }
}


/*
 * The content of a string of the opening whose head is hashed already (or
 * left out: then only checked), from p (never just after a backslash):
 * as olla_json_str_fast(), and what olla_json_put() would hash goes into
 * s->str_h and s->str_len on the way, a block at a time: the block's
 * unescaped length is the count of its bytes that no escape begins (the
 * escapes of olla_json_escaped() stand alone), and the one unescaped byte
 * of the block that olla_json_hash() would take, if any, is found by its
 * rank among them.
 */

static OLLA_JSON_NOINLINE const unsigned char *
olla_json_str_hash(olla_json_scan_t *s, const unsigned char *p,
    const unsigned char *last, unsigned *esc)
{
    unsigned              c, ucs;
    unsigned char         b[4];
    const unsigned char  *q;
#if (OLLA_JSON_SSE2)
    unsigned              i, k, r, from;
    unsigned              cont;
    size_t                n, u, t;
    uint64_t              bs, qt, sp, hi, x, carry, next, stop, e, lead, m;
    uint64_t              above;
#endif

    if (s->head_skip) {
        return olla_json_str_fast(p, last, esc);
    }

#if (OLLA_JSON_SSE2)

    carry = 0;
    cont = 0;

    while (last - p >= 64) {
        olla_json_classify_run(p, &bs, &qt, &sp, &hi);

        if ((bs | qt | sp | carry) == 0) {
            /*
             * plain ASCII (cont is 0, see olla_json_blocks_sse2()): 64
             * bytes of the value, and the one byte of them that
             * olla_json_hash() takes
             */

            u = s->str_len;
            t = (OLLA_JSON_HASH_STRIDE - u % OLLA_JSON_HASH_STRIDE)
                % OLLA_JSON_HASH_STRIDE;
            s->str_h = (s->str_h ^ p[t]) * OLLA_JSON_FNV_PRIME;
            s->str_len = u + 64;
            p += 64;
            continue;
        }

        if (bs | carry) {
            x = olla_json_escaped(bs, carry, &next);

        } else {
            x = 0;
            next = 0;
        }

        /*
         * from r on: the bytes before r are taken (the block's first r,
         * after a \u escape the block goes on from the byte after it,
         * the escapes' parity found for the whole block holds)
         */

        r = 0;
        from = cont;

    resume:

        above = ~0ULL << r;
        stop = ((qt & ~x) | (sp & ~hi)) & above;
        e = x & ~(qt | bs) & above;

        if (stop) {
            e &= (stop & (0 - stop)) - 1;
        }

        while (e) {
            i = (unsigned) __builtin_ctzll(e);

            if (olla_json_esc[p[i]] != 1) {
                stop = 1ULL << i;
                break;
            }

            e &= e - 1;
        }

        /*
         * the bytes from r to the stop stand for a byte of the value
         * each, but the backslashes that begin escapes
         */

        k = olla_json_block_stop(p, last, stop, hi & (~0ULL << from),
                                 &cont);
        lead = bs & ~x & above;

        if (k < 64) {
            lead &= (1ULL << k) - 1;
        }

        n = k - r;

        for (m = lead; m; m &= m - 1) {
            n--;
        }

        u = s->str_len;
        t = (u + OLLA_JSON_HASH_STRIDE - 1)
            & ~(size_t) (OLLA_JSON_HASH_STRIDE - 1);

        if (t - u < n) {
            /* the byte of the value at t: past as many escapes as before */

            i = r + (unsigned) (t - u);

            for (m = lead; m && (unsigned) __builtin_ctzll(m) <= i;
                 m &= m - 1)
            {
                i++;
            }

            c = ((x >> i) & 1) ? olla_json_unesc[p[i]] : p[i];
            s->str_h = (s->str_h ^ c) * OLLA_JSON_FNV_PRIME;
        }

        s->str_len = u + n;

        if (k == 64) {
            p += 64;
            carry = next;
            continue;
        }

        q = p + k;
        c = *q;

        if ((x >> k) & 1) {
            if (c == 'u') {
                q = olla_json_uesc(q, last, &ucs);

                if (q != NULL) {
                    olla_json_hash(s, b, olla_json_encode(ucs, b));

                    if (q - p < 64) {
                        /* the rest of the block */
                        r = (unsigned) (q - p);
                        from = r;
                        goto resume;
                    }

                    p = q;
                    carry = 0;
                    continue;
                }

                q = p + k;
            }

            *esc = 1;
            return q;
        }

        /* the closing quote, a control byte, or irregular or cut UTF-8 */

        *esc = 0;
        return q;
    }

    if (carry) {
        /* the machine unescapes the byte the last block's escape takes */
        *esc = 1;
        return p;
    }

    /* the rest of the last block's last sequence, checked already */

    olla_json_hash(s, p, cont);
    p += cont;

#endif

    for ( ;; ) {
        q = olla_json_skip(p, last);

        if (q != p) {
            olla_json_hash(s, p, q - p);
            p = q;
        }

        if (p == last) {
            *esc = 0;
            return p;
        }

        c = *p;

        if (c != '\\') {
            *esc = 0;
            return p;
        }

        if (last - p < 2) {
            *esc = 1;
            return last;
        }

        c = p[1];

        if (olla_json_esc[c] == 1) {
            b[0] = olla_json_unesc[c];
            olla_json_hash(s, b, 1);
            p += 2;
            continue;
        }

        if (c == 'u') {
            q = olla_json_uesc(p + 1, last, &ucs);

            if (q != NULL) {
                olla_json_hash(s, b, olla_json_encode(ucs, b));
                p = q;
                continue;
            }
        }

        *esc = 1;
        return p + 1;
    }
}


/*
 * A \u escape whose 'u' is at p, with the low half of a surrogate pair:
 * returns the byte after it and its code point in *ucs, or NULL when it is
 * invalid or the piece cuts it (the machine reads it then).
 */

static const unsigned char *
olla_json_uesc(const unsigned char *p, const unsigned char *last,
    unsigned *ucs)
{
    int       k;
    unsigned  d0, d1, d2, d3, cp[2];

    for (k = 0; k < 2; k++) {
        if (last - p < 5) {
            return NULL;
        }

        d0 = olla_json_xdigit[p[1]];
        d1 = olla_json_xdigit[p[2]];
        d2 = olla_json_xdigit[p[3]];
        d3 = olla_json_xdigit[p[4]];

        if ((d0 & d1 & d2 & d3 & 0x10) == 0) {
            return NULL;
        }

        cp[k] = (d0 & 0xf) << 12 | (d1 & 0xf) << 8 | (d2 & 0xf) << 4
                | (d3 & 0xf);

        p += 5;

        if (k == 0) {
            if (cp[0] < 0xd800 || cp[0] > 0xdfff) {
                *ucs = cp[0];
                return p;
            }

            if (cp[0] > 0xdbff || last - p < 6 || p[0] != '\\'
                || p[1] != 'u')
            {
                return NULL;
            }

            p++;
        }
    }

    if (cp[1] < 0xdc00 || cp[1] > 0xdfff) {
        return NULL;
    }

    *ucs = 0x10000 + ((cp[0] - 0xd800) << 10) + (cp[1] - 0xdc00);

    return p;
}


/*
 * A number from p, valid and ended before the end of the piece: returns
 * the byte after it; NULL otherwise (the machine reads it).
 */

static const unsigned char *
olla_json_number(const unsigned char *p, const unsigned char *last)
{
    if (*p == '-') {
        p++;

        if (p == last) {
            return NULL;
        }
    }

    if (*p == '0') {
        p++;

    } else if (olla_json_digit(*p)) {
        do {
            p++;
        } while (p < last && olla_json_digit(*p));

    } else {
        return NULL;
    }

    if (p < last && *p == '.') {
        p++;

        if (p == last || !olla_json_digit(*p)) {
            return NULL;
        }

        do {
            p++;
        } while (p < last && olla_json_digit(*p));
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == last || !olla_json_digit(*p)) {
            return NULL;
        }

        do {
            p++;
        } while (p < last && olla_json_digit(*p));
    }

    /* the piece must show where it ends; a digit after a 0 is an error */

    if (p == last || olla_json_digit(*p)) {
        return NULL;
    }

    return p;
}

#endif


/*
 * For the translators' DOM (olla_jdom.c), which checks strings by the same
 * rules: the closing quote of a string whose content from p (a byte no
 * escape takes) is valid, found with the fast paths; NULL when it is not
 * valid, not closed before last, or takes the byte machine (the caller
 * then reads it itself and says why).
 */

const char *
olla_json_str_end(const char *p, const char *last)
{
#if (OLLA_JSON_FAST)
    unsigned              esc;
    const unsigned char  *q;

    q = olla_json_str_fast((const unsigned char *) p,
                           (const unsigned char *) last, &esc);

    if (!esc && q < (const unsigned char *) last && *q == '"') {
        return (const char *) q;
    }
#endif

    return NULL;
}
