
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
 */


#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "olla_json.h"


#define OLLA_JSON_MAX_DEPTH  512


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


/* the opening is being hashed here: inside such a member, not skipped */
#define olla_json_hashing(s)                                                  \
    ((s)->cur && (s)->cur->opening && (s)->skip_depth == 0                   \
     && !((s)->cur->opening == OLLA_JSON_OPENING_TURNS && (s)->turns_done))


static unsigned olla_json_fail(olla_json_scan_t *s, size_t off,
    const char *msg);
static unsigned olla_json_unexpected(olla_json_scan_t *s, unsigned c,
    size_t off);
static const unsigned char *olla_json_skip(const unsigned char *p,
    const unsigned char *last);
static size_t olla_json_utf8_seq(const unsigned char *p,
    const unsigned char *last);
static int olla_json_utf8_lead(olla_json_scan_t *s, unsigned c);
static void olla_json_put(olla_json_scan_t *s, const unsigned char *p,
    size_t n);
static void olla_json_put_ucs(olla_json_scan_t *s, unsigned cp);
static unsigned olla_json_begin(olla_json_scan_t *s, unsigned c, size_t off);
static unsigned olla_json_close(olla_json_scan_t *s, unsigned c, size_t off);
static unsigned olla_json_key_begin(olla_json_scan_t *s);
static unsigned olla_json_string_end(olla_json_scan_t *s, size_t end);
static unsigned olla_json_value_end(olla_json_scan_t *s, size_t end);
static void olla_json_hash(olla_json_scan_t *s, const unsigned char *p,
    size_t n);
static void olla_json_hash_string_end(olla_json_scan_t *s);
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

    while (p < last) {
        c = *p;

        switch (state) {

        case sw_string:
            q = olla_json_skip(p, last);

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
                continue;
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

            state = olla_json_begin(s, c, olla_json_off(p));
            if (state == sw_error) {
                return OLLA_JSON_ERROR;
            }

            p++;
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


static unsigned
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


/*
 * The plain part of a string from p: ASCII other than '"', '\' and control
 * characters, and complete, valid UTF-8 sequences.  Returns where it stops.
 */

static const unsigned char *
olla_json_skip(const unsigned char *p, const unsigned char *last)
{
    size_t    n;
    uint64_t  v, m, x;

    for ( ;; ) {

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

#if (OLLA_JSON_CTZ)
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


/* the length of a complete, valid UTF-8 sequence at p, or 0 */

static size_t
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
    size_t         n;
    unsigned char  b[4];

    if (!s->cap) {
        return;
    }

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

    olla_json_put(s, b, n);
}


/* the first byte c of a value at offset off; returns the next state */

static unsigned
olla_json_begin(olla_json_scan_t *s, unsigned c, size_t off)
{
    char                msg[64];
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
            snprintf(msg, sizeof(msg), "JSON nested deeper than %u levels",
                     (unsigned) s->max_depth);

            return olla_json_fail(s, off, msg);
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

static unsigned
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

static unsigned
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

static unsigned
olla_json_string_end(olla_json_scan_t *s, size_t end)
{
    size_t              i;
    olla_json_field_t  *f;

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

        } else if (s->ikey_len == 4 && memcmp(s->ikey, "role", 4) == 0
                   && s->depth == 3
                   && s->cur->opening == OLLA_JSON_OPENING_TURNS)
        {
            s->want_role = 1;
        }

        return sw_colon;
    }

    if (s->cap == olla_cap_key) {
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
    }

    return sw_colon;
}


/* a value ended just before offset end */

static unsigned
olla_json_value_end(olla_json_scan_t *s, size_t end)
{
    olla_json_field_t  *f;

    s->cap = olla_cap_none;

    if (s->depth == 0) {
        return sw_done;
    }

    if (s->skip_depth) {
        if (s->depth == s->skip_depth) {
            s->skip_depth = 0;
        }

    } else if (olla_json_hashing(s)) {
        olla_json_hash_value(s);
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
    }

    return sw_after;
}
