
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * A small, fast JSON DOM and writer (see olla_jdom.h).
 *
 * The parser is one loop over the input with an explicit stack: the
 * values of the open containers wait on it, each container behind a
 * marker node that remembers the enclosing one, and move to the arena in
 * one copy when their container closes.  Strings are scanned eight bytes
 * at a time for '"', '\\', control characters and non-ASCII bytes (whose
 * UTF-8 is then checked); only strings with escapes are copied.  The
 * writer escapes with the same scan, so text without escapes costs a
 * memcpy.
 *
 * Error positions follow jansson's: "position" counts the bytes read
 * including the offending token, "column" the characters of its line.
 */


#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "olla_jdom.h"
#include "olla_json.h"


/*
 * Scans go 16 bytes at a time with SSE2 (every x86-64), else 8 at a time
 * in a 64-bit word where the byte order is known, else byte by byte; a
 * string left escaped 64 bytes a step, with AVX2 where the CPU has it.
 * OLLA_JDOM_NO_AVX2, OLLA_JDOM_NO_SSE2 and OLLA_JDOM_NO_SWAR force the
 * others (for tests).
 */
#if defined(__SSE2__) && !defined(OLLA_JDOM_NO_SSE2)
#include <emmintrin.h>
#define OLLA_JDOM_SSE2  1
#define OLLA_JDOM_SWAR  0
#elif defined(__GNUC__) && defined(__BYTE_ORDER__)                           \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__                             \
    && !defined(OLLA_JDOM_NO_SWAR)
#define OLLA_JDOM_SSE2  0
#define OLLA_JDOM_SWAR  1
#else
#define OLLA_JDOM_SSE2  0
#define OLLA_JDOM_SWAR  0
#endif

/*
 * AVX2 where the CPU has it, chosen at run time, for the 64-byte steps
 * over a string left escaped (olla_jdom_lazy()); OLLA_JDOM_NO_AVX2 keeps
 * SSE2 (for tests)
 */
#if (OLLA_JDOM_SSE2 && defined __x86_64__ && defined __GNUC__               \
     && !defined OLLA_JDOM_NO_AVX2)
#include <immintrin.h>
#define OLLA_JDOM_AVX2  1
#else
#define OLLA_JDOM_AVX2  0
#endif

/* where a call would cost the caller its registers */
#if defined(__GNUC__)
#define OLLA_JDOM_INLINE   inline __attribute__((always_inline))
#define OLLA_JDOM_NOINLINE __attribute__((noinline))
#else
#define OLLA_JDOM_INLINE   inline
#define OLLA_JDOM_NOINLINE
#endif

#define OLLA_JDOM_ONES     0x0101010101010101ULL
#define OLLA_JDOM_HIGHS    0x8080808080808080ULL

#define OLLA_JDOM_KEEP     (16 * 1024)    /* arena kept between parses */
#define OLLA_JDOM_MIN      1024           /* smallest malloc'd chunk */
#define OLLA_JDOM_ALIGN(n) (((n) + 7) & ~((size_t) 7))

#define OLLA_JDOM_NONE     ((size_t) -1)

/*
 * An escaped string's unescaped copy in the arena is led by where its text
 * is in the input and how long it is (olla_jdom_raw()).
 */
typedef struct {
    const char            *text;
    size_t                 len;
} olla_jdom_rawhdr_t;

#define OLLA_JDOM_RAWHDR   OLLA_JDOM_ALIGN(sizeof(olla_jdom_rawhdr_t))


struct olla_jdom_chunk_s {
    olla_jdom_chunk_t  *next;
    size_t              size;          /* bytes after the header */
};

#define OLLA_JDOM_HDR                                                        \
    OLLA_JDOM_ALIGN(sizeof(olla_jdom_chunk_t))


typedef unsigned char  u_char;


static void *(*olla_jdom_alloc_fn)(size_t) = malloc;
static void *(*olla_jdom_resize_fn)(void *, size_t) = realloc;


/* 1 for bytes a string scan stops at: '"', '\\', < 0x20, >= 0x80 */
static const u_char  olla_jdom_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};

/* the escapes jansson writes ('u': \u00XX); 0: none */
static const u_char  olla_jdom_esc[128] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, '\\', 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0
};

/* the byte a one-letter escape stands for, by its letter */
static const u_char  olla_jdom_unesc[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f',
    ['n'] = '\n', ['r'] = '\r', ['t'] = '\t'
};

static const char  olla_jdom_hex[] = "0123456789ABCDEF";

/* 2**1024 - 2**970: decimals from here on round to infinity */
static const char  olla_jdom_dbl_limit[] =
    "179769313486231580793728971405303415079934132710037826936173778980444"
    "968292764750946649017977587207096330286416692887910946555547851940402"
    "630657488671505820681908902000708383676273854845817711531764475730270"
    "069855571366959622842914819860834936475292719074168444365510704342711"
    "559699508093042880177904174497792";


static void olla_jdom_reset(olla_jdom_doc_t *doc);
static void *olla_jdom_chunk(olla_jdom_doc_t *doc, size_t n);
static u_char *olla_jdom_reserve(olla_jdom_doc_t *doc, size_t n);
static olla_jdom_t *olla_jdom_grow_stack(olla_jdom_doc_t *doc, size_t top);
static const u_char *olla_jdom_string_checked(olla_jdom_doc_t *doc,
    const u_char *s, const u_char *p, const u_char *end, olla_jdom_t *v,
    int key);
static const u_char *olla_jdom_string_fast(olla_jdom_doc_t *doc,
    const u_char *s, const u_char *p, const u_char *end, olla_jdom_t *v,
    int key);
static const u_char *olla_jdom_string(olla_jdom_doc_t *doc,
    const u_char *start, const u_char *s, const u_char *p, const u_char *end,
    olla_jdom_t *v, int key);
static const u_char *olla_jdom_number(olla_jdom_doc_t *doc,
    const u_char *start, const u_char *p, const u_char *end, olla_jdom_t *v);
static int olla_jdom_overflows(const u_char *d, size_t nint,
    const u_char *fs, const u_char *fe, long ex);
static size_t olla_jdom_utf8(const u_char *p, const u_char *end);
static OLLA_JDOM_INLINE long olla_jdom_hex4(const u_char *p);
static inline unsigned olla_jdom_ucanon(const u_char *p, long cp);
static size_t olla_jdom_encode(unsigned long cp, u_char *d);
static int olla_jdom_close(olla_jdom_doc_t *doc, olla_jdom_t *st, size_t f,
    size_t top, const u_char *p);
static size_t olla_jdom_dedupe(olla_jdom_doc_t *doc, olla_jdom_t *kv,
    size_t n);
static const u_char *olla_jdom_token_end(const u_char *p, const u_char *end);
static int olla_jdom_fail(olla_jdom_doc_t *doc, const u_char *start,
    const u_char *tok, const u_char *at, const u_char *end, const char *msg);
static size_t olla_jdom_span(const u_char *p, size_t n);
static inline unsigned olla_jdom_step(const olla_jdom_doc_t *doc,
    unsigned state, const olla_jdom_t *key);
static inline unsigned olla_jdom_step_item(const olla_jdom_doc_t *doc,
    unsigned state);
static const u_char *olla_jdom_skip_value(olla_jdom_doc_t *doc,
    const u_char *start, const u_char *p, const u_char *end, size_t depth);
static const u_char *olla_jdom_skip_string(olla_jdom_doc_t *doc,
    const u_char *p, const u_char *end);
static int olla_jdom_opaque(olla_jdom_doc_t *doc, olla_jdom_t *v,
    const u_char *p, const u_char *q);
static const u_char *olla_jdom_lazy(olla_jdom_doc_t *doc, const u_char *s,
    const u_char *p, const u_char *end, olla_jdom_t *v);
static size_t olla_jdom_unescape(const olla_jdom_t *v, u_char *d,
    size_t max);


/* ------------------------------------------------------------ memory */


void
olla_jdom_set_alloc(void *(*alloc)(size_t), void *(*resize)(void *, size_t))
{
    olla_jdom_alloc_fn = alloc ? alloc : malloc;
    olla_jdom_resize_fn = resize ? resize : realloc;
}


void *
olla_jdom_malloc(size_t size)
{
    return olla_jdom_alloc_fn(size);
}


void *
olla_jdom_realloc(void *p, size_t size)
{
    return olla_jdom_resize_fn(p, size);
}


void
olla_jdom_init(olla_jdom_doc_t *doc, void *buf, size_t size)
{
    memset(doc, 0, offsetof(olla_jdom_doc_t, stack0));

    doc->max_depth = OLLA_JDOM_MAX_DEPTH;
    doc->stack = doc->stack0;
    doc->stack_cap = OLLA_JDOM_STACK;

    if (buf != NULL && size >= 64) {
        /* 8-byte aligned */
        doc->buf = (char *) buf + (OLLA_JDOM_ALIGN((uintptr_t) buf)
                                   - (uintptr_t) buf);
        doc->buf_size = (size - (size_t) (doc->buf - (char *) buf))
                        & ~((size_t) 7);
    }

    doc->free = doc->buf;
    doc->avail = doc->buf_size;
}


void
olla_jdom_free(olla_jdom_doc_t *doc)
{
    olla_jdom_chunk_t  *c, *next;

    for (c = doc->chunks; c; c = next) {
        next = c->next;
        free(c);
    }

    doc->chunks = NULL;

    if (doc->stack != doc->stack0) {
        free(doc->stack);
        doc->stack = doc->stack0;
        doc->stack_cap = OLLA_JDOM_STACK;
    }

    free(doc->seen);
    doc->seen = NULL;
    doc->seen_cap = 0;

    doc->free = doc->buf;
    doc->avail = doc->buf_size;
    doc->root = NULL;
}


size_t
olla_jdom_memory(const olla_jdom_doc_t *doc)
{
    size_t              n;
    olla_jdom_chunk_t  *c;

    n = doc->seen_cap * sizeof(uint32_t);

    for (c = doc->chunks; c; c = c->next) {
        n += OLLA_JDOM_HDR + c->size;
    }

    if (doc->stack != doc->stack0) {
        n += doc->stack_cap * sizeof(olla_jdom_t);
    }

    return n;
}


/*
 * Before a parse: what the last one made goes; one malloc'd chunk of at
 * most OLLA_JDOM_KEEP bytes stays when there is no caller's buffer, and
 * the stacks stay when they are small.
 */

static void
olla_jdom_reset(olla_jdom_doc_t *doc)
{
    olla_jdom_chunk_t  *c, *next, *keep;

    keep = NULL;

    for (c = doc->chunks; c; c = next) {
        next = c->next;

        if (keep == NULL && doc->buf == NULL && c->size <= OLLA_JDOM_KEEP) {
            keep = c;
            continue;
        }

        free(c);
    }

    doc->chunks = keep;

    if (keep) {
        keep->next = NULL;
        doc->free = (char *) keep + OLLA_JDOM_HDR;
        doc->avail = keep->size;

    } else {
        doc->free = doc->buf;
        doc->avail = doc->buf_size;
    }

    if (doc->stack != doc->stack0
        && doc->stack_cap * sizeof(olla_jdom_t) > OLLA_JDOM_KEEP)
    {
        free(doc->stack);
        doc->stack = doc->stack0;
        doc->stack_cap = OLLA_JDOM_STACK;
    }

    if (doc->seen_cap * sizeof(uint32_t) > OLLA_JDOM_KEEP) {
        free(doc->seen);
        doc->seen = NULL;
        doc->seen_cap = 0;
    }

    doc->root = NULL;
    doc->dup_at = NULL;
    doc->odd_at = NULL;
    doc->error[0] = '\0';
    doc->position = 0;
    doc->line = 0;
    doc->column = 0;
}


static inline void *
olla_jdom_alloc(olla_jdom_doc_t *doc, size_t n)
{
    char  *p;

    n = OLLA_JDOM_ALIGN(n);

    if (n <= doc->avail) {
        p = doc->free;
        doc->free += n;
        doc->avail -= n;
        return p;
    }

    return olla_jdom_chunk(doc, n);
}


/*
 * n bytes at doc->free, not taken yet: the caller takes what it uses
 * (doc->free and doc->avail moved by a multiple of 8).  NULL when out of
 * memory.
 */

static u_char *
olla_jdom_reserve(olla_jdom_doc_t *doc, size_t n)
{
    n = OLLA_JDOM_ALIGN(n);

    if (n > doc->avail) {
        if (olla_jdom_chunk(doc, n) == NULL) {
            return NULL;
        }

        doc->free -= n;
        doc->avail += n;
    }

    return (u_char *) doc->free;
}


/* n is aligned; a new chunk, at least twice the last one */

static void *
olla_jdom_chunk(olla_jdom_doc_t *doc, size_t n)
{
    char               *p;
    size_t              size;
    olla_jdom_chunk_t  *c;

    size = doc->next_chunk;

    if (size < n) {
        size = n;
    }

    if (size > (size_t) -1 / 2) {
        return NULL;
    }

    size = OLLA_JDOM_ALIGN(size);

    c = olla_jdom_alloc_fn(OLLA_JDOM_HDR + size);
    if (c == NULL) {
        return NULL;
    }

    c->next = doc->chunks;
    c->size = size;
    doc->chunks = c;
    doc->next_chunk = size * 2;

    p = (char *) c + OLLA_JDOM_HDR;
    doc->free = p + n;
    doc->avail = size - n;

    return p;
}


/* room for two more nodes above top */

static olla_jdom_t *
olla_jdom_grow_stack(olla_jdom_doc_t *doc, size_t top)
{
    size_t        cap;
    olla_jdom_t  *st;

    cap = doc->stack_cap * 2;

    while (cap < top + 2) {
        cap *= 2;
    }

    if (cap > (size_t) -1 / sizeof(olla_jdom_t)) {
        return NULL;
    }

    if (doc->stack == doc->stack0) {
        st = olla_jdom_alloc_fn(cap * sizeof(olla_jdom_t));
        if (st == NULL) {
            return NULL;
        }

        memcpy(st, doc->stack0, top * sizeof(olla_jdom_t));

    } else {
        st = olla_jdom_resize_fn(doc->stack, cap * sizeof(olla_jdom_t));
        if (st == NULL) {
            return NULL;
        }
    }

    doc->stack = st;
    doc->stack_cap = cap;

    return st;
}


/* ------------------------------------------------------------ parsing */


#define olla_jdom_ws(c)                                                      \
    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

#define olla_jdom_skip_ws(p, end)                                            \
    if (p < end && *p <= ' ') {                                              \
        doc->odd_at = (const char *) p;                                      \
        p = olla_jdom_skip(p, end);                                          \
    }


/*
 * White space from p (*p <= ' '): pretty-printed input has a newline and
 * a run of indentation before most tokens; spaces are taken 8 at a time.
 */

#define OLLA_JDOM_WS_BITS                                                    \
    ((1ULL << ' ') | (1ULL << '\n') | (1ULL << '\r') | (1ULL << '\t'))

static inline const u_char *
olla_jdom_skip(const u_char *p, const u_char *end)
{
#if (OLLA_JDOM_SSE2 || OLLA_JDOM_SWAR)
    uint64_t  w;
#endif

    do {
#if (OLLA_JDOM_SSE2 || OLLA_JDOM_SWAR)
        if (*p == ' ' && end - p >= 8) {
            memcpy(&w, p, 8);
            w ^= OLLA_JDOM_ONES * ' ';

            if (w == 0) {
                p += 8;
                continue;
            }

            /* little-endian: the first byte that is not a space */
            p += __builtin_ctzll(w) >> 3;

            if (*p > ' ') {
                return p;
            }

            continue;
        }
#endif

        if (!((1ULL << *p) & OLLA_JDOM_WS_BITS)) {
            return p;
        }

        p++;

    } while (p < end && *p <= ' ');

    return p;
}


#define olla_jdom_digit(c)  ((u_char) ((c) - '0') < 10)


/* the first byte at p that is '"', '\\', < 0x20 or >= 0x80, or end */

static inline const u_char *
olla_jdom_scan(const u_char *p, const u_char *end)
{
#if (OLLA_JDOM_SSE2)
    int       m;
    __m128i   x, q, b, c;

    q = _mm_set1_epi8('"');
    b = _mm_set1_epi8('\\');
    c = _mm_set1_epi8(0x20);

    while (end - p >= 16) {
        x = _mm_loadu_si128((const __m128i *) p);

        /* signed: bytes >= 0x80 are below 0x20 too */
        m = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q),
                                                        _mm_cmpeq_epi8(x, b)),
                                           _mm_cmplt_epi8(x, c)));
        if (m) {
            return p + __builtin_ctz((unsigned) m);
        }

        p += 16;
    }

#elif (OLLA_JDOM_SWAR)
    uint64_t  w, m;

    /*
     * A byte's high bit is set in w - 0x01.. when it was 0 and in
     * w - 0x20.. when it was below 0x20, or by a borrow from a lower byte
     * that was: the lowest one set is exact.
     */

    while (end - p >= 8) {
        memcpy(&w, p, 8);

        m = ((w ^ (OLLA_JDOM_ONES * '"')) - OLLA_JDOM_ONES)
            | ((w ^ (OLLA_JDOM_ONES * '\\')) - OLLA_JDOM_ONES)
            | (w - OLLA_JDOM_ONES * 0x20) | w;
        m &= OLLA_JDOM_HIGHS;

        if (m) {
            return p + (__builtin_ctzll(m) >> 3);
        }

        p += 8;
    }
#endif

    while (p < end && !olla_jdom_stop[*p]) {
        p++;
    }

    return p;
}


/* the same for a string known valid: the first '"' or '\\', or end */

#if (OLLA_JDOM_SSE2)

/* the first '"' or '\\' in the 64 bytes at p, or 64 */

static inline unsigned
olla_jdom_qb64(const u_char *p, __m128i q, __m128i b)
{
    uint64_t  m;
    __m128i   x0, x1, x2, x3, m0, m1, m2, m3;

    x0 = _mm_loadu_si128((const __m128i *) p);
    x1 = _mm_loadu_si128((const __m128i *) (p + 16));
    x2 = _mm_loadu_si128((const __m128i *) (p + 32));
    x3 = _mm_loadu_si128((const __m128i *) (p + 48));

    m0 = _mm_or_si128(_mm_cmpeq_epi8(x0, q), _mm_cmpeq_epi8(x0, b));
    m1 = _mm_or_si128(_mm_cmpeq_epi8(x1, q), _mm_cmpeq_epi8(x1, b));
    m2 = _mm_or_si128(_mm_cmpeq_epi8(x2, q), _mm_cmpeq_epi8(x2, b));
    m3 = _mm_or_si128(_mm_cmpeq_epi8(x3, q), _mm_cmpeq_epi8(x3, b));

    if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(m0, m1),
                                       _mm_or_si128(m2, m3)))
        == 0)
    {
        return 64;
    }

    m = (uint64_t) (unsigned) _mm_movemask_epi8(m0)
        | (uint64_t) (unsigned) _mm_movemask_epi8(m1) << 16
        | (uint64_t) (unsigned) _mm_movemask_epi8(m2) << 32
        | (uint64_t) (unsigned) _mm_movemask_epi8(m3) << 48;

    return (unsigned) __builtin_ctzll(m);
}

#endif


static OLLA_JDOM_INLINE const u_char *
olla_jdom_scan_checked(const u_char *p, const u_char *end)
{
#if (OLLA_JDOM_SSE2)
    int       m;
    unsigned  k;
    __m128i   x, q, b;

    q = _mm_set1_epi8('"');
    b = _mm_set1_epi8('\\');

    /* most strings end in their first 16 bytes; long ones go 64 at a time */

    if (end - p >= 16) {
        x = _mm_loadu_si128((const __m128i *) p);
        m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, q),
                                           _mm_cmpeq_epi8(x, b)));
        if (m) {
            return p + __builtin_ctz((unsigned) m);
        }

        p += 16;

        while (end - p >= 64) {
            k = olla_jdom_qb64(p, q, b);
            p += k;

            if (k < 64) {
                return p;
            }
        }
    }

    while (end - p >= 16) {
        x = _mm_loadu_si128((const __m128i *) p);
        m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, q),
                                           _mm_cmpeq_epi8(x, b)));
        if (m) {
            return p + __builtin_ctz((unsigned) m);
        }

        p += 16;
    }
#endif

    while (p < end && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}


int
olla_jdom_parse(olla_jdom_doc_t *doc, const char *text, size_t len)
{
    u_char         c;
    size_t         top, cap, frame, c_frame, depth, max_depth;
    unsigned       vs;
    olla_jdom_t   *st, *v;
    const char    *odd;
    const u_char  *p, *q, *end, *start, *tok;

    olla_jdom_reset(doc);

    start = (const u_char *) text;
    p = start;
    end = start + len;

    if (len > 0xffffffffUL) {
        return olla_jdom_fail(doc, start, NULL, start, end,
                              "document too large");
    }

    /*
     * A first chunk as large as the input: text-heavy documents (LLM
     * requests) fit in it whole, their nodes and unescaped strings being
     * smaller than their text.  Node-heavy ones grow by doubling.
     */
    doc->next_chunk = (len > OLLA_JDOM_MIN) ? len : OLLA_JDOM_MIN;

    st = doc->stack;
    cap = doc->stack_cap;
    top = 0;
    frame = OLLA_JDOM_NONE;
    depth = 0;
    max_depth = doc->max_depth;

    /* the path state of the value to read (doc->paths): 0 none, 1 root */
    vs = (doc->paths != NULL);

value:

    olla_jdom_skip_ws(p, end);

    if (depth >= max_depth) {
        return olla_jdom_fail(doc, start, p, olla_jdom_token_end(p, end),
                              end, "maximum parsing depth reached");
    }

    if (p == end) {
        return olla_jdom_fail(doc, start, p, p, end, "unexpected token");
    }

    if (top + 2 > cap) {
        st = olla_jdom_grow_stack(doc, top);
        if (st == NULL) {
            return OLLA_JDOM_NOMEM;
        }

        cap = doc->stack_cap;
    }

    v = &st[top++];
    tok = p;
    c = *p;

    switch (c) {

    case '"':
        p++;
        q = doc->checked ? olla_jdom_scan_checked(p, end)
                         : olla_jdom_scan(p, end);

        if (q < end && *q == '"') {
            /* nothing to check or unescape */
            v->type = OLLA_JDOM_STRING;
            v->flags = 0;
            v->len = (uint32_t) (q - p);
            v->u.str = (const char *) p;
            p = q + 1;
            goto next;
        }

        if (vs && vs < doc->npaths && doc->paths[vs].lazy && doc->checked) {
            /* only written as the input has it: left escaped */
            tok = olla_jdom_lazy(doc, p, q, end, v);

            if (tok != NULL) {
                p = tok;
                goto next;
            }
        }

        p = olla_jdom_string(doc, start, p, q, end, v, 0);
        if (p == NULL) {
            return doc->error[0] ? OLLA_JDOM_ERROR : OLLA_JDOM_NOMEM;
        }

        goto next;

    case '{':
    case '[':
        v->type = (c == '{') ? OLLA_JDOM_OBJECT : OLLA_JDOM_ARRAY;

        if (vs == OLLA_JDOM_ASIS && doc->checked) {
            /* taken as written: found its end, its nodes not made */
            odd = doc->odd_at;
            q = olla_jdom_skip_value(doc, start, p, end, depth);

            if (q != NULL) {
                if (olla_jdom_opaque(doc, v, p, q) != 0) {
                    return OLLA_JDOM_NOMEM;
                }

                p = q;
                goto next;
            }

            /* something in it to be read as the parse reads it */
            doc->odd_at = odd;
            doc->error[0] = '\0';
        }

        /* while it is open its flags keep its path state */
        v->flags = (uint8_t) vs;
        v->len = (uint32_t) (frame + 1);
        v->u.str = (const char *) p;          /* its text, until it closes */
        frame = top - 1;
        depth++;
        p++;

        olla_jdom_skip_ws(p, end);

        if (c == '{') {
            if (p < end && *p == '}') {
                p++;
                goto close;
            }

            goto key;
        }

        if (p < end && *p == ']') {
            p++;
            goto close;
        }

        if (vs) {
            vs = olla_jdom_step_item(doc, vs);
        }

        goto value;

    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
            v->type = OLLA_JDOM_TRUE;
            p += 4;
            goto literal;
        }

        break;

    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
            v->type = OLLA_JDOM_FALSE;
            p += 5;
            goto literal;
        }

        break;

    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            v->type = OLLA_JDOM_NULL;
            p += 4;
            goto literal;
        }

        break;

    default:
        if (c == '-' || olla_jdom_digit(c)) {
            p = olla_jdom_number(doc, start, p, end, v);
            if (p == NULL) {
                return OLLA_JDOM_ERROR;
            }

            goto next;
        }
    }

    return olla_jdom_fail(doc, start, p, olla_jdom_token_end(p, end), end,
                          (c == '}' || c == ']' || c == ',' || c == ':')
                          ? "unexpected token" : "invalid token");

literal:

    /* "truex" is one bad token, as jansson reads it */
    if (p < end && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) {
        return olla_jdom_fail(doc, start, tok, olla_jdom_token_end(p, end),
                              end, "invalid token");
    }

    v->flags = 0;
    v->len = 0;
    v->u.str = NULL;

next:

    if (frame == OLLA_JDOM_NONE) {
        goto done;
    }

    olla_jdom_skip_ws(p, end);

    if (p < end) {
        c = *p;

        if (c == ',') {
            p++;

            if (st[frame].type == OLLA_JDOM_ARRAY) {
                if (st[frame].flags) {
                    vs = olla_jdom_step_item(doc, st[frame].flags);
                }

                goto value;
            }

            olla_jdom_skip_ws(p, end);
            goto key;
        }

        if (c == ']' && st[frame].type == OLLA_JDOM_ARRAY) {
            p++;
            goto close;
        }

        if (c == '}' && st[frame].type == OLLA_JDOM_OBJECT) {
            p++;
            goto close;
        }
    }

    return olla_jdom_fail(doc, start, p, olla_jdom_token_end(p, end), end,
                          st[frame].type == OLLA_JDOM_ARRAY
                          ? "']' expected" : "'}' expected");

key:

    if (p == end || *p != '"') {
        return olla_jdom_fail(doc, start, p, olla_jdom_token_end(p, end),
                              end, "string or '}' expected");
    }

    if (top + 2 > cap) {
        st = olla_jdom_grow_stack(doc, top);
        if (st == NULL) {
            return OLLA_JDOM_NOMEM;
        }

        cap = doc->stack_cap;
    }

    v = &st[top++];
    p++;
    q = doc->checked ? olla_jdom_scan_checked(p, end)
                     : olla_jdom_scan(p, end);

    if (q < end && *q == '"') {
        v->type = OLLA_JDOM_STRING;
        v->flags = 0;
        v->len = (uint32_t) (q - p);
        v->u.str = (const char *) p;
        p = q + 1;

    } else {
        p = olla_jdom_string(doc, start, p, q, end, v, 1);
        if (p == NULL) {
            return doc->error[0] ? OLLA_JDOM_ERROR : OLLA_JDOM_NOMEM;
        }
    }

    olla_jdom_skip_ws(p, end);

    if (p == end || *p != ':') {
        return olla_jdom_fail(doc, start, p, olla_jdom_token_end(p, end),
                              end, "':' expected");
    }

    vs = st[frame].flags ? olla_jdom_step(doc, st[frame].flags, v) : 0;

    p++;
    goto value;

close:

    /* the marker's len has the enclosing frame + 1 until now */
    c_frame = (size_t) st[frame].len;

    if (olla_jdom_close(doc, st, frame, top, p) != 0) {
        return OLLA_JDOM_NOMEM;
    }

    top = frame + 1;
    frame = c_frame - 1;
    depth--;

    goto next;

done:

    olla_jdom_skip_ws(p, end);

    if (p != end) {
        return olla_jdom_fail(doc, start, p, olla_jdom_token_end(p, end),
                              end, "end of file expected");
    }

    v = olla_jdom_alloc(doc, sizeof(olla_jdom_t));
    if (v == NULL) {
        return OLLA_JDOM_NOMEM;
    }

    *v = st[0];
    doc->root = v;
    doc->position = len;

    return OLLA_JDOM_OK;
}


/*
 * The path state of an object's member named key in an object in state
 * (doc->paths); 0: on no path.
 */

static inline unsigned
olla_jdom_step(const olla_jdom_doc_t *doc, unsigned state,
    const olla_jdom_t *key)
{
    const olla_jdom_path_t  *s;

    if (state >= doc->npaths) {
        /* OLLA_JDOM_ASIS: nothing goes on from a value taken as written */
        return 0;
    }

    s = &doc->paths[state];

    /*
     * OLLA_JDOM_PATH_KEYS of them, an unused one with len 0 and to 0;
     * written out: a loop over them costs more here
     */

    if (s->key[0].len == key->len
        && memcmp(s->key[0].name, key->u.str, key->len) == 0)
    {
        return s->key[0].to;
    }

    if (s->key[1].len == key->len
        && memcmp(s->key[1].name, key->u.str, key->len) == 0)
    {
        return s->key[1].to;
    }

    if (s->key[2].len == key->len
        && memcmp(s->key[2].name, key->u.str, key->len) == 0)
    {
        return s->key[2].to;
    }

    if (s->key[3].len == key->len
        && memcmp(s->key[3].name, key->u.str, key->len) == 0)
    {
        return s->key[3].to;
    }

    return 0;
}


/* the same for an array's item */

static inline unsigned
olla_jdom_step_item(const olla_jdom_doc_t *doc, unsigned state)
{
    return (state < doc->npaths) ? doc->paths[state].item : 0;
}


/*
 * The end of the array or object at p, in a document known valid
 * (doc->checked), its nodes not made: brackets counted outside strings,
 * strings searched for their end 16 and 64 bytes at a time.  What makes
 * a compact dump differ from its text is noted (doc->odd_at) as the parse
 * notes it: white space, a real or -0 (numbers are read by the parse's
 * reader, which also checks their range), an escape olla_jout_esc() does
 * not write.  NULL, before its end, for what the parse must read to check
 * or to report as it does: a number out of range, a U+0000 (not allowed
 * in a key), nesting as deep as the limit, and input that is not valid.
 */

static const u_char *
olla_jdom_skip_value(olla_jdom_doc_t *doc, const u_char *start,
    const u_char *p, const u_char *end, size_t depth)
{
    size_t       d;
    olla_jdom_t  num;

    d = 0;

    while (p < end) {

        /*
         * a string and what usually follows it, a key's ':' or an item's
         * ',' and the next string's quote, without the switch: in a
         * compact schema (the usual value taken as written) these are
         * most of the bytes outside strings
         */

        if (*p == '"') {
            do {
                p = olla_jdom_skip_string(doc, p + 1, end);
                if (p == NULL) {
                    return NULL;
                }

                if (end - p < 2 || (*p != ':' && *p != ',')) {
                    break;
                }

                p++;

            } while (*p == '"');

            continue;
        }

        switch (*p) {

        case ',':
        case ':':
            p++;
            continue;

        case '{':
        case '[':
            d++;

            if (depth + d >= doc->max_depth) {
                return NULL;
            }

            p++;
            continue;

        case '}':
        case ']':
            p++;

            if (--d == 0) {
                return p;
            }

            continue;

        case ' ':
        case '\n':
        case '\r':
        case '\t':
            doc->odd_at = (const char *) p;
            p = olla_jdom_skip(p, end);
            continue;

        case 't':
        case 'n':
            if (end - p < 4) {
                return NULL;
            }

            p += 4;
            continue;

        case 'f':
            if (end - p < 5) {
                return NULL;
            }

            p += 5;
            continue;

        default:
            if (*p != '-' && !olla_jdom_digit(*p)) {
                return NULL;
            }

            p = olla_jdom_number(doc, start, p, end, &num);
            if (p == NULL) {
                return NULL;
            }
        }
    }

    return NULL;
}


/* the same for a string from p (after its opening quote): after its end */

static const u_char *
olla_jdom_skip_string(olla_jdom_doc_t *doc, const u_char *p,
    const u_char *end)
{
    long  cp;

    for ( ;; ) {
        p = olla_jdom_scan_checked(p, end);

        if (p == end) {
            return NULL;
        }

        if (*p == '"') {
            return p + 1;
        }

        /* an escape */

        if (end - p < 2) {
            return NULL;
        }

        if (p[1] == 'u') {
            cp = (end - p >= 6) ? olla_jdom_hex4(p + 2) : -1;

            if (cp <= 0) {
                /* U+0000, which a key may not have, or not valid */
                return NULL;
            }

            if (!olla_jdom_ucanon(p, cp)) {
                doc->odd_at = (const char *) p;
            }

            p += 6;
            continue;
        }

        switch (p[1]) {

        case '"':
        case '\\':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            break;

        case '/':
            doc->odd_at = (const char *) p;
            break;

        default:
            return NULL;
        }

        p += 2;
    }
}


/*
 * v (its type set) becomes the array or object p[0..q) taken as written:
 * no items, its text (olla_jdom_text()); an empty one is as the parse
 * makes it.
 */

static int
olla_jdom_opaque(olla_jdom_doc_t *doc, olla_jdom_t *v, const u_char *p,
    const u_char *q)
{
    const u_char        *s;
    olla_jdom_rawhdr_t  *hdr;

    /* as at its close: its ancestors' text is not known to be theirs */
    doc->dup_at = (const char *) p;

    v->len = 0;

    for (s = p + 1; olla_jdom_ws(*s); s++) { /* void */ }

    if (s == q - 1) {
        v->flags = 0;
        v->u.items = NULL;
        return 0;
    }

    hdr = olla_jdom_alloc(doc, OLLA_JDOM_RAWHDR);
    if (hdr == NULL) {
        return -1;
    }

    hdr->text = (const char *) p;
    hdr->len = (size_t) (q - p);

    v->flags = OLLA_JDOM_SPAN | OLLA_JDOM_VERBATIM | OLLA_JDOM_OPAQUE;

    if ((uintptr_t) doc->odd_at < (uintptr_t) p) {
        v->flags |= OLLA_JDOM_COMPACT;
    }

    v->u.items = (olla_jdom_t *) ((char *) hdr + OLLA_JDOM_RAWHDR);

    return 0;
}


/*
 * An unescaped copy of n bytes at d0, in the arena's free space (led by
 * room for its header), is done: it takes the space it uses (what was
 * reserved and not used stays free), remembers where its text is in the
 * input (s, len: olla_jdom_raw()), and becomes v's value.
 */

static void
olla_jdom_take(olla_jdom_doc_t *doc, olla_jdom_t *v, u_char *d0, size_t n,
    const u_char *s, size_t len, unsigned flags)
{
    olla_jdom_rawhdr_t  *hdr;

    d0[n] = '\0';

    if (!(flags & OLLA_JDOM_RAW)) {
        /* escapes a compact dump writes otherwise */
        doc->odd_at = (const char *) s;
    }

    doc->free += OLLA_JDOM_RAWHDR + OLLA_JDOM_ALIGN(n + 1);
    doc->avail -= OLLA_JDOM_RAWHDR + OLLA_JDOM_ALIGN(n + 1);

    hdr = (olla_jdom_rawhdr_t *) (d0 - OLLA_JDOM_RAWHDR);
    hdr->text = (const char *) s;
    hdr->len = len;

    v->type = OLLA_JDOM_STRING;
    v->flags = (uint8_t) flags;
    v->len = (uint32_t) n;
    v->u.str = (const char *) d0;
}


/*
 * Whether the \\u escape at p (of code point cp) is written as olla_jout
 * writes it: \\u00XX (upper case hex) for the controls it has no letter
 * for; everything else it writes as it is.
 */

static inline unsigned
olla_jdom_ucanon(const u_char *p, long cp)
{
    return cp < 0x20 && olla_jdom_esc[cp] == 'u'
           && p[2] == '0' && p[3] == '0'
           && p[4] == (u_char) olla_jdom_hex[cp >> 4]
           && p[5] == (u_char) olla_jdom_hex[cp & 0xf];
}


/*
 * The \\u escape at p (and its low surrogate's when it is a high one)
 * decoded into d: returns the bytes read (6 or 12), *n the bytes written;
 * 0 when its digits or its pair are not valid.  U+0000 sets
 * OLLA_JDOM_HAS_NUL in *flags; *canon is cleared when olla_jout would
 * not write it so.
 */

static OLLA_JDOM_INLINE size_t
olla_jdom_uesc(const u_char *p, const u_char *end, u_char *d, size_t *n,
    unsigned *flags, unsigned *canon)
{
    long  cp, lo;

    cp = (end - p >= 6) ? olla_jdom_hex4(p + 2) : -1;

    if (cp < 0) {
        return 0;
    }

    *canon &= olla_jdom_ucanon(p, cp);

    if (cp == 0) {
        *flags |= OLLA_JDOM_HAS_NUL;

    } else if (cp >= 0xd800 && cp <= 0xdfff) {
        lo = (cp <= 0xdbff && end - p >= 12 && p[6] == '\\' && p[7] == 'u')
             ? olla_jdom_hex4(p + 8) : -1;

        if (lo < 0xdc00 || lo > 0xdfff) {
            return 0;
        }

        *n = olla_jdom_encode(0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00),
                              d);
        return 12;
    }

    *n = olla_jdom_encode((unsigned long) cp, d);

    return 6;
}


#if (OLLA_JDOM_SSE2)

/* the '"' and the '\\' of the 64 bytes at p, a bit a byte */

static inline void
olla_jdom_qb_masks(const u_char *p, uint64_t *q, uint64_t *b)
{
    uint64_t  q0, q1, q2, q3, b0, b1, b2, b3;
    __m128i   x0, x1, x2, x3, vq, vb;

    vq = _mm_set1_epi8('"');
    vb = _mm_set1_epi8('\\');

    x0 = _mm_loadu_si128((const __m128i *) p);
    x1 = _mm_loadu_si128((const __m128i *) (p + 16));
    x2 = _mm_loadu_si128((const __m128i *) (p + 32));
    x3 = _mm_loadu_si128((const __m128i *) (p + 48));

    q0 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x0, vq));
    q1 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x1, vq));
    q2 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x2, vq));
    q3 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x3, vq));

    b0 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x0, vb));
    b1 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x1, vb));
    b2 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x2, vb));
    b3 = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(x3, vb));

    *q = q0 | q1 << 16 | q2 << 32 | q3 << 48;
    *b = b0 | b1 << 16 | b2 << 32 | b3 << 48;
}


/*
 * The bits set in x: one instruction where the CPU is known to have it,
 * else a few without a call (the x86-64 baseline calls libgcc for it)
 */

static inline unsigned
olla_jdom_popcount(uint64_t x)
{
#if defined(__POPCNT__)
    return (unsigned) __builtin_popcountll(x);
#else
    x -= (x >> 1) & 0x5555555555555555ULL;
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;

    return (unsigned) ((x * 0x0101010101010101ULL) >> 56);
#endif
}


/* the '/' and the 'u' of the 64 bytes at p */

static inline uint64_t
olla_jdom_su_mask(const u_char *p)
{
    int       i;
    uint64_t  m;
    __m128i   x, vs, vu;

    vs = _mm_set1_epi8('/');
    vu = _mm_set1_epi8('u');
    m = 0;

    for (i = 0; i < 4; i++) {
        x = _mm_loadu_si128((const __m128i *) (p + 16 * i));
        m |= (uint64_t) (unsigned) _mm_movemask_epi8(
                 _mm_or_si128(_mm_cmpeq_epi8(x, vs), _mm_cmpeq_epi8(x, vu)))
             << (16 * i);
    }

    return m;
}


/*
 * The escaped bytes of a block whose backslashes are b, *carry saying
 * whether its first byte is escaped (by the last backslash of the block
 * before), and set for the next block.  A run of backslashes escapes the
 * byte after it when its length is odd: with the runs' starts on even
 * and on odd bits told apart, one addition carries each run's start to
 * the byte after its end, and the bits of the runs that start on odd
 * bits are flipped to count from their start.
 */

static inline uint64_t
olla_jdom_escaped(uint64_t b, uint64_t *carry)
{
    uint64_t  follows, odd_starts, sum, even, flip;

    even = 0x5555555555555555ULL;

    /* an escaped backslash escapes nothing */
    b &= ~*carry;

    follows = (b << 1) | *carry;

    /* runs starting on odd bits */
    odd_starts = b & ~even & ~follows;

    sum = odd_starts + b;

    /* a run that starts on an odd bit and ends the block is odd */
    *carry = (sum < b);

    /* the runs that start on odd bits now set the bit after their end */
    flip = sum << 1;

    return (even ^ flip) & follows;
}

#endif


#if (OLLA_JDOM_SSE2)

/*
 * The 64-byte steps of olla_jdom_lazy(): where escapes are dense (code),
 * which bytes are escaped, from runs of backslashes (an odd run escapes
 * the byte after it), by masks; the escapes counted, only "\/" and "\u"
 * looked at one by one.  st->carry: the first byte of the next block is
 * escaped.  Returns the closing quote (st->found), or where fewer than 64
 * bytes are left; NULL for a U+0000 or a \u escape that is not valid.
 * One body, built twice: with SSE2 and with AVX2 (the masks and the
 * bit count given as functions, inlined).
 */

typedef struct {
    size_t    less;
    unsigned  canon;
    unsigned  found;
    uint64_t  carry;
} olla_jdom_lazy_t;


static OLLA_JDOM_INLINE const u_char *
olla_jdom_lazy_steps(const u_char *p, const u_char *end, olla_jdom_lazy_t *st,
    void (*qb_masks)(const u_char *p, uint64_t *q, uint64_t *b),
    uint64_t (*su_mask)(const u_char *p), unsigned (*popcount)(uint64_t x))
{
    int       esc;
    long      cp;
    size_t    less;
    unsigned  canon;
    uint64_t  q, b, e, odd, carry, x;

    less = st->less;
    canon = st->canon;
    carry = st->carry;

    while (end - p >= 64) {
        qb_masks(p, &q, &b);

        if ((b | carry) == 0) {
            if (q) {
                p += __builtin_ctzll(q);
                st->found = 1;
                goto done;
            }

            p += 64;
            continue;
        }

        e = olla_jdom_escaped(b, &carry);
        x = q & ~e;

        if (x) {
            /* the string ends in this block: its escapes before that */
            e &= (x & -x) - 1;
            carry = 0;
        }

        less += popcount(e);

        /* "\/" and "\u": the escaped byte is '/' or 'u' */
        odd = e & su_mask(p);

        while (odd) {
            esc = __builtin_ctzll(odd);
            odd &= odd - 1;

            if (p[esc] == '/') {
                canon = 0;
                continue;
            }

            /* the 'u' of \uHHHH at p + esc: the escape at p + esc - 1 */

            cp = (end - (p + esc) >= 5) ? olla_jdom_hex4(p + esc - 1 + 2) : -1;

            if (cp <= 0) {
                /* U+0000 (olla_jdom_cstrlen() reads the value), or bad */
                return NULL;
            }

            canon &= olla_jdom_ucanon(p + esc - 1, cp);

            /* 6 bytes for 1 to 3; a surrogate, half of 12 for 4 */
            less += (cp < 0x80) ? 4 : (cp < 0x800) ? 3
                    : (cp >= 0xd800 && cp <= 0xdfff) ? 3 : 2;
        }

        if (x) {
            p += __builtin_ctzll(x);
            st->found = 1;
            goto done;
        }

        p += 64;
    }

done:

    st->less = less;
    st->canon = canon;
    st->carry = carry;

    return p;
}


static const u_char *olla_jdom_lazy_first(const u_char *p, const u_char *end,
    olla_jdom_lazy_t *st);

static const u_char *(*olla_jdom_lazy_run)(const u_char *p,
    const u_char *end, olla_jdom_lazy_t *st) = olla_jdom_lazy_first;


static const u_char *
olla_jdom_lazy_sse2(const u_char *p, const u_char *end, olla_jdom_lazy_t *st)
{
    return olla_jdom_lazy_steps(p, end, st, olla_jdom_qb_masks,
                                olla_jdom_su_mask, olla_jdom_popcount);
}


#if (OLLA_JDOM_AVX2)

/* the same masks with AVX2: two loads where SSE2 takes four */

__attribute__((target("avx2,popcnt")))
static inline void
olla_jdom_qb_masks_avx2(const u_char *p, uint64_t *q, uint64_t *b)
{
    __m256i  x0, x1, vq, vb;

    vq = _mm256_set1_epi8('"');
    vb = _mm256_set1_epi8('\\');

    x0 = _mm256_loadu_si256((const __m256i *) p);
    x1 = _mm256_loadu_si256((const __m256i *) (p + 32));

    *q = (uint64_t) (uint32_t) _mm256_movemask_epi8(_mm256_cmpeq_epi8(x0, vq))
         | (uint64_t) (uint32_t) _mm256_movemask_epi8(
                                     _mm256_cmpeq_epi8(x1, vq)) << 32;
    *b = (uint64_t) (uint32_t) _mm256_movemask_epi8(_mm256_cmpeq_epi8(x0, vb))
         | (uint64_t) (uint32_t) _mm256_movemask_epi8(
                                     _mm256_cmpeq_epi8(x1, vb)) << 32;
}


__attribute__((target("avx2,popcnt")))
static inline uint64_t
olla_jdom_su_mask_avx2(const u_char *p)
{
    __m256i  x0, x1, vs, vu;

    vs = _mm256_set1_epi8('/');
    vu = _mm256_set1_epi8('u');

    x0 = _mm256_loadu_si256((const __m256i *) p);
    x1 = _mm256_loadu_si256((const __m256i *) (p + 32));

    return (uint64_t) (uint32_t) _mm256_movemask_epi8(
               _mm256_or_si256(_mm256_cmpeq_epi8(x0, vs),
                               _mm256_cmpeq_epi8(x0, vu)))
           | (uint64_t) (uint32_t) _mm256_movemask_epi8(
                 _mm256_or_si256(_mm256_cmpeq_epi8(x1, vs),
                                 _mm256_cmpeq_epi8(x1, vu))) << 32;
}


__attribute__((target("avx2,popcnt")))
static inline unsigned
olla_jdom_popcnt(uint64_t x)
{
    return (unsigned) __builtin_popcountll(x);
}


__attribute__((target("avx2,popcnt")))
static const u_char *
olla_jdom_lazy_avx2(const u_char *p, const u_char *end, olla_jdom_lazy_t *st)
{
    return olla_jdom_lazy_steps(p, end, st, olla_jdom_qb_masks_avx2,
                                olla_jdom_su_mask_avx2, olla_jdom_popcnt);
}

#endif


static const u_char *
olla_jdom_lazy_first(const u_char *p, const u_char *end, olla_jdom_lazy_t *st)
{
#if (OLLA_JDOM_AVX2)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) {
        olla_jdom_lazy_run = olla_jdom_lazy_avx2;

    } else
#endif
    {
        olla_jdom_lazy_run = olla_jdom_lazy_sse2;
    }

    return olla_jdom_lazy_run(p, end, st);
}

#endif


/*
 * A string of a document known valid (doc->checked) from s (after its
 * opening quote), its first escape at p, left escaped (OLLA_JDOM_LAZY):
 * its end found, its escapes read only for the length and the flags the
 * unescaped copy would have (olla_jdom_take()), nothing copied.  NULL
 * for one with a U+0000 (olla_jdom_cstrlen() reads the value), for one
 * that is not valid, or out of memory: the caller reads it as any other.
 */

static OLLA_JDOM_NOINLINE const u_char *
olla_jdom_lazy(olla_jdom_doc_t *doc, const u_char *s, const u_char *p,
    const u_char *end, olla_jdom_t *v)
{
    long                 cp, lo;
    size_t               less;
    unsigned             canon;
    olla_jdom_rawhdr_t  *hdr;
#if (OLLA_JDOM_SSE2)
    olla_jdom_lazy_t     st;
#endif

    less = 0;
    canon = 1;

#if (OLLA_JDOM_SSE2)

    st.less = 0;
    st.canon = 1;
    st.carry = 0;
    st.found = 0;

    p = olla_jdom_lazy_run(p, end, &st);

    if (p == NULL) {
        return NULL;
    }

    less = st.less;
    canon = st.canon;

    if (st.found) {
        goto found;
    }

    if (st.carry) {
        /* the escape that goes on in the last bytes */
        p--;

    } else {
        p = olla_jdom_scan_checked(p, end);

        if (p == end) {
            return NULL;
        }

        if (*p == '"') {
            goto found;
        }
    }

#endif

    for ( ;; ) {

        /* an escape at p */

        if (end - p < 2) {
            return NULL;
        }

        if (p[1] != 'u') {
            canon &= (p[1] != '/');
            less += 1;
            p += 2;

        } else {
            cp = (end - p >= 6) ? olla_jdom_hex4(p + 2) : -1;

            if (cp <= 0) {
                return NULL;
            }

            canon &= olla_jdom_ucanon(p, cp);

            if (cp >= 0xdc00 && cp <= 0xdfff) {
                /* the low half of a pair the 64-byte steps read half of */
                less += 4;
                p += 6;

            } else if (cp >= 0xd800 && cp <= 0xdbff) {
                lo = (end - p >= 12 && p[6] == '\\' && p[7] == 'u')
                     ? olla_jdom_hex4(p + 8) : -1;

                if (lo < 0xdc00 || lo > 0xdfff) {
                    return NULL;
                }

                /* 12 bytes for 4 */
                less += 8;
                p += 12;

            } else {
                less += (cp < 0x80) ? 5 : (cp < 0x800) ? 4 : 3;
                p += 6;
            }
        }

        if (p < end && *p == '\\') {
            continue;
        }

        p = olla_jdom_scan_checked(p, end);

        if (p == end) {
            return NULL;
        }

        if (*p == '"') {
            break;
        }
    }

#if (OLLA_JDOM_SSE2)
found:
#endif

    hdr = olla_jdom_alloc(doc, OLLA_JDOM_RAWHDR + 8);
    if (hdr == NULL) {
        return NULL;
    }

    hdr->text = (const char *) s;
    hdr->len = (size_t) (p - s);

    if (!canon) {
        /* escapes a compact dump writes otherwise */
        doc->odd_at = (const char *) s;
    }

    v->type = OLLA_JDOM_STRING;
    v->flags = OLLA_JDOM_ESCAPED | OLLA_JDOM_LAZY | (canon ? OLLA_JDOM_RAW : 0);
    v->len = (uint32_t) ((size_t) (p - s) - less);

    /* not its value: an empty C string, for what reads it all the same */
    v->u.str = (char *) hdr + OLLA_JDOM_RAWHDR;
    ((char *) hdr)[OLLA_JDOM_RAWHDR] = '\0';

    return p + 1;
}


/*
 * The value of a string left escaped, from its text in the input (valid:
 * olla_jdom_lazy() read it), into d: up to max bytes and the last escape's
 * (d has room for max + 3); returns the bytes written.
 */

static size_t
olla_jdom_unescape(const olla_jdom_t *v, u_char *d, size_t max)
{
    size_t                     n, k;
    unsigned                   flags, canon;
    const u_char              *p, *q, *end;
    u_char                    *d0;
    const olla_jdom_rawhdr_t  *hdr;

    hdr = (const olla_jdom_rawhdr_t *) (v->u.str - OLLA_JDOM_RAWHDR);
    p = (const u_char *) hdr->text;
    end = p + hdr->len;
    d0 = d;
    flags = 0;
    canon = 1;

    while (p < end && (size_t) (d - d0) < max) {
        q = memchr(p, '\\', (size_t) (end - p));
        n = (size_t) ((q ? q : end) - p);

        if (n > max - (size_t) (d - d0)) {
            n = max - (size_t) (d - d0);
            memcpy(d, p, n);
            return (size_t) (d - d0) + n;
        }

        memcpy(d, p, n);
        d += n;
        p += n;

        if (p == end) {
            break;
        }

        if (p[1] != 'u') {
            *d++ = olla_jdom_unesc[p[1]];
            p += 2;
            continue;
        }

        k = olla_jdom_uesc(p, end, d, &n, &flags, &canon);

        if (k == 0) {
            /* never: olla_jdom_lazy() read it */
            break;
        }

        p += k;
        d += n;
    }

    return (size_t) (d - d0);
}


void
olla_jout_unescaped(olla_jout_t *o, const olla_jdom_t *v)
{
    if (!(v->flags & OLLA_JDOM_LAZY)) {
        olla_jout_add(o, v->u.str, v->len);
        return;
    }

    if (v->len + 3 >= o->cap - o->len && olla_jout_grow(o, v->len + 3) != 0) {
        return;
    }

    o->len += olla_jdom_unescape(v, (u_char *) o->p + o->len, v->len);
}


size_t
olla_jdom_head(const olla_jdom_t *v, char *buf, size_t n)
{
    u_char  tmp[64 + 3];

    if (n > 64) {
        n = 64;
    }

    if (n > v->len) {
        n = v->len;
    }

    if (!(v->flags & OLLA_JDOM_LAZY)) {
        memcpy(buf, v->u.str, n);
        return n;
    }

    (void) olla_jdom_unescape(v, tmp, n);
    memcpy(buf, tmp, n);

    return n;
}


/*
 * A string of a document known valid (doc->checked), from s (after its
 * opening quote) with its first escape at p: one pass, the escapes read,
 * the runs between them copied 16 bytes at a time up to the next '"' or
 * '\\', straight into the arena's free space.  NULL when that is too
 * small, or on anything a valid string does not have (the caller then
 * reads the string as it reads any other).
 */

static const u_char *
olla_jdom_string_checked(olla_jdom_doc_t *doc, const u_char *s,
    const u_char *p, const u_char *end, olla_jdom_t *v, int key)
{
    u_char              *d, *d0, c;
    size_t               n, k, room;
    unsigned             flags, canon, reserved;
    const u_char        *p0, *pend;
#if (OLLA_JDOM_SSE2)
    int                  m;
    __m128i              x, vq, vb;

    vq = _mm_set1_epi8('"');
    vb = _mm_set1_epi8('\\');
#endif

    p0 = p;
    reserved = 0;

again:

    /* what may be written before the last 16 bytes and the NUL */

    if (doc->avail < OLLA_JDOM_RAWHDR + 17 + (size_t) (p0 - s)) {
        goto reserve;
    }

    room = doc->avail - OLLA_JDOM_RAWHDR - 17;

    /*
     * an escape writes fewer bytes than it reads: up to pend the copy has
     * room for escapes in a row whatever they are, and no check is made
     * for each
     */
    pend = (room < (size_t) (end - s)) ? s + room : end;

    d0 = (u_char *) doc->free + OLLA_JDOM_RAWHDR;
    memcpy(d0, s, (size_t) (p0 - s));
    d = d0 + (p0 - s);
    p = p0;

    flags = OLLA_JDOM_ESCAPED;
    canon = 1;

    for ( ;; ) {

        /* an escape at p */

        if (pend - p < 2) {
            if (pend != end) {
                /* the room ran out, not the input */
                goto reserve;
            }

            return NULL;
        }

        c = p[1];

        if (c != 'u') {
            canon &= (c != '/');
            *d++ = olla_jdom_unesc[c];
            p += 2;

        } else {
            k = olla_jdom_uesc(p, end, d, &n, &flags, &canon);

            if (k == 0) {
                return NULL;
            }

            p += k;
            d += n;
        }

        /* escapes in a row (code): the next one straight away */

        if (p < end && *p == '\\') {
            continue;
        }

        /* the run up to the next '"' or '\\' */

        for ( ;; ) {
            if ((size_t) (d - d0) > room) {
                goto reserve;
            }

#if (OLLA_JDOM_SSE2)
            if (end - p >= 16) {
                x = _mm_loadu_si128((const __m128i *) p);
                _mm_storeu_si128((__m128i *) d, x);

                m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, vq),
                                                   _mm_cmpeq_epi8(x, vb)));
                if (m == 0) {
                    p += 16;
                    d += 16;
                    continue;
                }

                m = __builtin_ctz((unsigned) m);
                p += m;
                d += m;
                break;
            }
#endif

            n = (size_t) (olla_jdom_scan_checked(p, end) - p);

            if (n > room - (size_t) (d - d0)) {
                goto reserve;
            }

            memcpy(d, p, n);
            p += n;
            d += n;
            break;
        }

        if (p == end) {
            return NULL;
        }

        if (*p == '"') {
            break;
        }
    }

    if (key && (flags & OLLA_JDOM_HAS_NUL)) {
        return NULL;
    }

    olla_jdom_take(doc, v, d0, (size_t) (d - d0), s, (size_t) (p - s),
                   flags | (canon ? OLLA_JDOM_RAW : 0));

    return p + 1;

reserve:

    /*
     * the free space ran out: a chunk with room for the rest of the input,
     * which the string cannot be longer than (no larger than the next
     * chunk would be: chunks grow from the input's length)
     */

    if (reserved
        || olla_jdom_reserve(doc, OLLA_JDOM_RAWHDR + (size_t) (end - s) + 17)
           == NULL)
    {
        return NULL;
    }

    reserved = 1;
    goto again;
}


/*
 * The same when the string is valid: olla_json_str_end() checks it (64
 * bytes at a time) and finds its closing quote, then only the escapes are
 * read, the bytes between them copied 16 at a time.  NULL when the string
 * is not valid or not closed, a key holds U+0000, or memory runs out:
 * olla_jdom_string() then reads it again and says which.
 */

static const u_char *
olla_jdom_string_fast(olla_jdom_doc_t *doc, const u_char *s, const u_char *p,
    const u_char *end, olla_jdom_t *v, int key)
{
    u_char              *d, *d0;
    size_t               n, k;
    unsigned             flags, canon;
    const u_char        *q, *b;
#if (OLLA_JDOM_SSE2)
    int                  m;
    __m128i              x, vb;

    vb = _mm_set1_epi8('\\');
#endif

    if (doc->checked && p < end && *p == '\\') {
        q = olla_jdom_string_checked(doc, s, p, end, v, key);
        if (q != NULL) {
            return q;
        }
    }

    q = (const u_char *) olla_json_str_end((const char *) p,
                                           (const char *) end);
    if (q == NULL) {
        return NULL;
    }

    v->type = OLLA_JDOM_STRING;

    b = memchr(p, '\\', (size_t) (q - p));

    if (b == NULL) {
        /* valid UTF-8, nothing to unescape */
        v->flags = 0;
        v->len = (uint32_t) (q - s);
        v->u.str = (const char *) s;

        return q + 1;
    }

    /* room for the vector copies' last 16 bytes, which may pass the end */

    d0 = olla_jdom_reserve(doc, OLLA_JDOM_RAWHDR + (size_t) (q - s) + 16 + 1);
    if (d0 == NULL) {
        return NULL;
    }

    d0 += OLLA_JDOM_RAWHDR;
    memcpy(d0, s, (size_t) (b - s));
    d = d0 + (b - s);
    p = b;

    flags = OLLA_JDOM_ESCAPED;
    canon = 1;

    while (p < q) {

        if (*p == '\\') {
            if (p[1] != 'u') {
                canon &= (p[1] != '/');
                *d++ = olla_jdom_unesc[p[1]];
                p += 2;
                continue;
            }

            k = olla_jdom_uesc(p, end, d, &n, &flags, &canon);

            if (k == 0) {
                /* checked already: never */
                return NULL;
            }

            p += k;
            d += n;
            continue;
        }

        /* up to the next backslash; past q, d is set back below */

#if (OLLA_JDOM_SSE2)
        while (end - p >= 16) {
            x = _mm_loadu_si128((const __m128i *) p);
            _mm_storeu_si128((__m128i *) d, x);

            m = _mm_movemask_epi8(_mm_cmpeq_epi8(x, vb));

            if (m) {
                m = __builtin_ctz((unsigned) m);
                p += m;
                d += m;
                goto next;
            }

            p += 16;
            d += 16;

            if (p >= q) {
                goto next;
            }
        }
#endif

        while (p < q && *p != '\\') {
            *d++ = *p++;
        }

#if (OLLA_JDOM_SSE2)
    next:
#endif

        continue;
    }

    d -= p - q;

    if (key && (flags & OLLA_JDOM_HAS_NUL)) {
        return NULL;
    }

    olla_jdom_take(doc, v, d0, (size_t) (d - d0), s, (size_t) (q - s),
                   flags | (canon ? OLLA_JDOM_RAW : 0));

    return q + 1;
}


/*
 * A string from s (just after its opening quote) to its closing quote,
 * checked: escapes, surrogate pairs, control characters, UTF-8; p is
 * where olla_jdom_scan() stopped.  From the first escape on, the string
 * is unescaped as it is scanned, into arena space reserved for its raw
 * length (the value is never longer): the closing quote is the first one
 * after an even run of backslashes.  Returns the byte after the closing
 * quote; NULL on an error (doc->error set) or when out of memory
 * (doc->error empty).
 */

static const u_char *
olla_jdom_string(olla_jdom_doc_t *doc, const u_char *start, const u_char *s,
    const u_char *p, const u_char *end, olla_jdom_t *v, int key)
{
    u_char               c, *d, *d0;
    long                 cp, lo;
    size_t               n, k;
    unsigned             flags, canon;
    const u_char        *q, *lim;
#if (OLLA_JDOM_SSE2)
    int                  m;
    __m128i              x, vq, vb, vc;

    vq = _mm_set1_epi8('"');
    vb = _mm_set1_epi8('\\');
    vc = _mm_set1_epi8(0x20);
#endif

    q = olla_jdom_string_fast(doc, s, p, end, v, key);
    if (q != NULL) {
        return q;
    }

    /* an error to report, or what the fast path leaves: byte by byte */

    flags = 0;
    canon = 1;
    d = NULL;
    d0 = NULL;
    lim = end;

    for ( ;; ) {

        if (d == NULL) {
            p = olla_jdom_scan(p, end);

        } else {
            /* d is where p's byte goes: copy up to the next stop */

#if (OLLA_JDOM_SSE2)
            for ( ;; ) {
                if (lim - p < 16) {
                    while (p < end && !olla_jdom_stop[*p]) {
                        *d++ = *p++;
                    }

                    break;
                }

                /* the reserved space reaches as far as lim */

                x = _mm_loadu_si128((const __m128i *) p);
                _mm_storeu_si128((__m128i *) d, x);

                m = _mm_movemask_epi8(
                        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, vq),
                                                  _mm_cmpeq_epi8(x, vb)),
                                     _mm_cmplt_epi8(x, vc)));
                if (m) {
                    m = __builtin_ctz((unsigned) m);
                    p += m;
                    d += m;
                    break;
                }

                p += 16;
                d += 16;
            }
#else
            q = olla_jdom_scan(p, end);
            memcpy(d, p, (size_t) (q - p));
            d += q - p;
            p = q;
#endif
        }

        if (p == end) {
            olla_jdom_fail(doc, start, s - 1, end, end,
                           "premature end of input");
            return NULL;
        }

        c = *p;

        if (c == '"') {
            break;
        }

        if (c == '\\') {
            if (end - p < 2) {
                olla_jdom_fail(doc, start, s - 1, end, end,
                               "premature end of input");
                return NULL;
            }

            if (d == NULL) {
                flags |= OLLA_JDOM_ESCAPED;

                for (q = p + 1; q < end; q++) {
                    q = memchr(q, '"', (size_t) (end - q));

                    if (q == NULL) {
                        q = end;
                        break;
                    }

                    for (k = 0; q - k > p && q[-1 - (long) k] == '\\'; k++) {
                        /* void */
                    }

                    if (k % 2 == 0) {
                        break;
                    }
                }

                /* up to the closing quote (or the end when none) */
                lim = (q < end) ? q + 1 : end;

                d0 = olla_jdom_reserve(doc, OLLA_JDOM_RAWHDR
                                            + (size_t) (lim - s) + 1);
                if (d0 == NULL) {
                    return NULL;
                }

                d0 += OLLA_JDOM_RAWHDR;
                memcpy(d0, s, (size_t) (p - s));
                d = d0 + (p - s);
            }

            switch (p[1]) {

            case '/':
                /* olla_jout writes '/' as it is */
                canon = 0;

                /* fall through */

            case '"':
            case '\\':
                *d++ = p[1];
                p += 2;
                continue;

            case 'b':
                *d++ = '\b';
                p += 2;
                continue;

            case 'f':
                *d++ = '\f';
                p += 2;
                continue;

            case 'n':
                *d++ = '\n';
                p += 2;
                continue;

            case 'r':
                *d++ = '\r';
                p += 2;
                continue;

            case 't':
                *d++ = '\t';
                p += 2;
                continue;

            case 'u':
                cp = (end - p >= 6) ? olla_jdom_hex4(p + 2) : -1;

                if (cp < 0) {
                    olla_jdom_fail(doc, start, s - 1,
                                   p + (end - p < 6 ? end - p : 6), end,
                                   "invalid escape");
                    return NULL;
                }

                /*
                 * olla_jout writes \u00XX (upper case hex) for the controls
                 * it has no letter for, everything else as it is
                 */

                canon &= olla_jdom_ucanon(p, cp);

                p += 6;

                if (cp == 0) {
                    flags |= OLLA_JDOM_HAS_NUL;

                } else if (cp >= 0xd800 && cp <= 0xdbff) {
                    lo = (end - p >= 6 && p[0] == '\\' && p[1] == 'u')
                         ? olla_jdom_hex4(p + 2) : -1;

                    if (lo < 0xdc00 || lo > 0xdfff) {
                        olla_jdom_fail(doc, start, s - 1,
                                       p + (lo >= 0 ? 6 : 0), end,
                                       "invalid Unicode surrogate");
                        return NULL;
                    }

                    p += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);

                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    olla_jdom_fail(doc, start, s - 1, p, end,
                                   "invalid Unicode surrogate");
                    return NULL;
                }

                d += olla_jdom_encode((unsigned long) cp, d);
                continue;

            default:
                olla_jdom_fail(doc, start, s - 1, p + 2, end,
                               "invalid escape");
                return NULL;
            }
        }

        if (c < 0x20) {
            olla_jdom_fail(doc, start, s - 1, p, end,
                           c == '\n' ? "unexpected newline"
                                     : "control character in string");
            return NULL;
        }

        n = olla_jdom_utf8(p, end);

        if (n == 0) {
            olla_jdom_fail(doc, start, NULL, p, end, "invalid UTF-8");
            return NULL;
        }

        if (d) {
            q = p + n;

            while (p < q) {
                *d++ = *p++;
            }

        } else {
            p += n;
        }
    }

    v->type = OLLA_JDOM_STRING;
    v->flags = (uint8_t) flags;

    if (d == NULL) {
        v->len = (uint32_t) (p - s);
        v->u.str = (const char *) s;

        return p + 1;
    }

    if (key && (flags & OLLA_JDOM_HAS_NUL)) {
        olla_jdom_fail(doc, start, s - 1, p + 1, end,
                       "NUL byte in object key not supported");
        return NULL;
    }

    olla_jdom_take(doc, v, d0, (size_t) (d - d0), s, (size_t) (p - s),
                   flags | (canon ? OLLA_JDOM_RAW : 0));

    return p + 1;
}


/* the length of the valid UTF-8 sequence at p (p[0] >= 0x80), or 0 */

static size_t
olla_jdom_utf8(const u_char *p, const u_char *end)
{
    u_char  c, lo, hi;
    size_t  n;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = (c == 0xe0) ? 0xa0 : 0x80;
        hi = (c == 0xed) ? 0x9f : 0xbf;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    if (n > 2 && (p[2] & 0xc0) != 0x80) {
        return 0;
    }

    if (n > 3 && (p[3] & 0xc0) != 0x80) {
        return 0;
    }

    return n;
}


/*
 * A hex digit's value plus one, 0 for a byte that is not one: four digits
 * read without a branch a digit (a \\u escape in nearly every 64 bytes of
 * a body written with non-ASCII escaped, as Python's json.dumps does)
 */

static const u_char  olla_jdom_hexval[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
    ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16
};


static OLLA_JDOM_INLINE long
olla_jdom_hex4(const u_char *p)
{
    int  a, b, c, d;

    a = olla_jdom_hexval[p[0]] - 1;
    b = olla_jdom_hexval[p[1]] - 1;
    c = olla_jdom_hexval[p[2]] - 1;
    d = olla_jdom_hexval[p[3]] - 1;

    if ((a | b | c | d) < 0) {
        return -1;
    }

    return (long) ((a << 12) | (b << 8) | (c << 4) | d);
}


static size_t
olla_jdom_encode(unsigned long cp, u_char *d)
{
    if (cp < 0x80) {
        d[0] = (u_char) cp;
        return 1;
    }

    if (cp < 0x800) {
        d[0] = (u_char) (0xc0 | (cp >> 6));
        d[1] = (u_char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        d[0] = (u_char) (0xe0 | (cp >> 12));
        d[1] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        d[2] = (u_char) (0x80 | (cp & 0x3f));
        return 3;
    }

    d[0] = (u_char) (0xf0 | (cp >> 18));
    d[1] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
    d[2] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
    d[3] = (u_char) (0x80 | (cp & 0x3f));

    return 4;
}


/*
 * A number: RFC 8259's grammar; an integer must fit in 64 bits and a
 * real must not round to infinity (jansson's limits).  Returns the byte
 * after it, or NULL (doc->error set).
 */

static const u_char *
olla_jdom_number(olla_jdom_doc_t *doc, const u_char *start, const u_char *p,
    const u_char *end, olla_jdom_t *v)
{
    long           ex;
    size_t         nint;
    unsigned       flags;
    const u_char  *s, *d, *fs, *fe;
    int            eneg, has_exp;

    s = p;

    if (*p == '-') {
        p++;
    }

    if (p == end || !olla_jdom_digit(*p)) {
        goto invalid;
    }

    d = p;

    if (*p == '0') {
        p++;

        if (p < end && olla_jdom_digit(*p)) {
            goto invalid;
        }

    } else {
        while (p < end && olla_jdom_digit(*p)) {
            p++;
        }
    }

    nint = (size_t) (p - d);
    flags = OLLA_JDOM_INT;
    fs = NULL;
    fe = NULL;
    ex = 0;
    has_exp = 0;

    if (p < end && *p == '.') {
        p++;

        if (p == end || !olla_jdom_digit(*p)) {
            goto invalid;
        }

        fs = p;

        while (p < end && olla_jdom_digit(*p)) {
            p++;
        }

        fe = p;
        flags = 0;
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        eneg = 0;

        if (p < end && (*p == '+' || *p == '-')) {
            eneg = (*p == '-');
            p++;
        }

        if (p == end || !olla_jdom_digit(*p)) {
            goto invalid;
        }

        while (p < end && olla_jdom_digit(*p)) {
            if (ex < 100000000) {
                ex = ex * 10 + (*p - '0');
            }

            p++;
        }

        if (eneg) {
            ex = -ex;
        }

        flags = 0;
        has_exp = 1;
    }

    v->type = OLLA_JDOM_NUMBER;
    v->flags = (uint8_t) flags;
    v->len = (uint32_t) (p - s);
    v->u.str = (const char *) s;

    if (!(flags & OLLA_JDOM_INT) || (p - s == 2 && *s == '-' && s[1] == '0')) {
        /* a compact dump writes reals its own way, -0 as 0 */
        doc->odd_at = (const char *) s;
    }

    if (flags & OLLA_JDOM_INT) {
        if (nint > 18
            && (nint > 19
                || memcmp(d, (*s == '-') ? "9223372036854775808"
                                         : "9223372036854775807", 19) > 0))
        {
            olla_jdom_fail(doc, start, s, p, end,
                           (*s == '-') ? "too big negative integer"
                                       : "too big integer");
            return NULL;
        }

    } else if ((has_exp || nint > 308)
               && olla_jdom_overflows(d, nint, fs, fe, ex))
    {
        olla_jdom_fail(doc, start, s, p, end, "real number overflow");
        return NULL;
    }

    return p;

invalid:

    olla_jdom_fail(doc, start, s, olla_jdom_token_end(s, end), end,
                   "invalid token");
    return NULL;
}


/*
 * Whether d[0..nint) . fs..fe e ex is at least 2**1024 - 2**970, where
 * strtod() rounds to infinity: compared digit by digit.
 */

static int
olla_jdom_overflows(const u_char *d, size_t nint, const u_char *fs,
    const u_char *fe, long ex)
{
    long           e10;
    size_t         i, k, nfrac;
    const u_char  *dig;

    nfrac = fs ? (size_t) (fe - fs) : 0;

    /* the first significant digit, and its power of ten */

    if (d[0] != '0') {
        e10 = (long) nint - 1 + ex;
        k = 0;

    } else {
        for (k = 0; k < nfrac && fs[k] == '0'; k++) {
            /* void */
        }

        if (k == nfrac) {
            return 0;
        }

        e10 = -(long) k - 1 + ex;
        k += nint;
    }

    if (e10 != 308) {
        return e10 > 308;
    }

    /* digit k of the significand (integer digits, then fraction) */

    for (i = 0; i < sizeof(olla_jdom_dbl_limit) - 1; i++, k++) {
        if (k < nint) {
            dig = &d[k];

        } else if (k - nint < nfrac) {
            dig = &fs[k - nint];

        } else {
            /* no more digits: less unless the rest of the limit is 0s */
            for ( /* void */ ; i < sizeof(olla_jdom_dbl_limit) - 1; i++) {
                if (olla_jdom_dbl_limit[i] != '0') {
                    return 0;
                }
            }

            return 1;
        }

        if ((char) *dig != olla_jdom_dbl_limit[i]) {
            return (char) *dig > olla_jdom_dbl_limit[i];
        }
    }

    return 1;
}


/*
 * Closes the container whose marker is st[f]: its values move to the
 * arena (an object's keys first made unique).
 */

static int
olla_jdom_close(olla_jdom_doc_t *doc, olla_jdom_t *st, size_t f, size_t top,
    const u_char *p)
{
    size_t               i, n, pairs;
    unsigned             state;
    olla_jdom_t         *m, *items, *c;
    const char          *text;
    olla_jdom_rawhdr_t  *hdr;

    m = &st[f];
    n = top - f - 1;
    text = m->u.str;
    state = m->flags;

    if (state == OLLA_JDOM_ASIS) {
        /*
         * its text is its value, whatever is in it; its ancestors' are
         * not known to be theirs: the checked parse that skips it cannot
         * tell whether it holds a key given twice
         */
        doc->dup_at = text;
    }

    if (m->type == OLLA_JDOM_OBJECT) {
        pairs = n / 2;
        n = olla_jdom_dedupe(doc, m + 1, pairs);
        if (n == (size_t) -1) {
            return -1;
        }

        if (n != pairs) {
            /* a key given twice: its text is not its value, nor theirs */
            doc->dup_at = text;
        }

        m->len = (uint32_t) n;
        n *= 2;

    } else {
        m->len = (uint32_t) n;
    }

    if (n == 0) {
        m->flags = 0;
        m->u.items = NULL;
        return 0;
    }

    /* where its text is, ahead of its items (olla_jdom_text()) */

    items = olla_jdom_alloc(doc, OLLA_JDOM_RAWHDR + n * sizeof(olla_jdom_t));
    if (items == NULL) {
        return -1;
    }

    hdr = (olla_jdom_rawhdr_t *) items;
    hdr->text = text;
    hdr->len = (size_t) ((const char *) p - text);
    items = (olla_jdom_t *) ((char *) items + OLLA_JDOM_RAWHDR);

    c = m + 1;

    if (n <= 8) {
        /* small ones, most of them: no call */
        for (i = 0; i < n; i++) {
            items[i] = c[i];
        }

    } else {
        memcpy(items, c, n * sizeof(olla_jdom_t));
    }

    /*
     * the last object closed with a key given twice opened at doc->dup_at,
     * the last byte a compact dump writes otherwise is at doc->odd_at:
     * inside this one when they are not before its text
     */

    m->flags = 0;

    if (state == OLLA_JDOM_ASIS) {
        m->flags = OLLA_JDOM_SPAN | OLLA_JDOM_VERBATIM;

    } else if ((uintptr_t) doc->dup_at < (uintptr_t) text) {
        m->flags = OLLA_JDOM_SPAN;
    }

    if (m->flags && (uintptr_t) doc->odd_at < (uintptr_t) text) {
        /* nothing in it that a compact dump writes otherwise */
        m->flags |= OLLA_JDOM_COMPACT;
    }

    m->u.items = items;

    return 0;
}


static inline int
olla_jdom_same_key(const olla_jdom_t *a, const olla_jdom_t *b)
{
    return a->len == b->len
           && (a->len == 0 || (a->u.str[0] == b->u.str[0]
                               && memcmp(a->u.str, b->u.str, a->len) == 0));
}


/*
 * n key/value pairs at kv: a key given again keeps its first place and
 * takes the later value.  Returns the pairs left, or -1 when out of memory.
 */

static size_t
olla_jdom_dedupe(olla_jdom_doc_t *doc, olla_jdom_t *kv, size_t n)
{
    size_t         i, j, w, size, mask, h, k;
    uint32_t      *seen;
    const u_char  *s;

    if (n < 2) {
        return n;
    }

    if (n <= 16) {
        for (i = 1; i < n; i++) {
            for (j = 0; j < i; j++) {
                if (olla_jdom_same_key(&kv[2 * i], &kv[2 * j])) {
                    goto dup;
                }
            }
        }

        return n;

    dup:

        w = i;

        for ( /* void */ ; i < n; i++) {
            for (j = 0; j < w; j++) {
                if (olla_jdom_same_key(&kv[2 * i], &kv[2 * j])) {
                    break;
                }
            }

            if (j < w) {
                kv[2 * j + 1] = kv[2 * i + 1];
                continue;
            }

            kv[2 * w] = kv[2 * i];
            kv[2 * w + 1] = kv[2 * i + 1];
            w++;
        }

        return w;
    }

    /* a hash table of the pairs kept, 1-based */

    for (size = 64; size < 2 * n; size *= 2) {
        /* void */
    }

    if (size > doc->seen_cap) {
        seen = olla_jdom_resize_fn(doc->seen, size * sizeof(uint32_t));
        if (seen == NULL) {
            return (size_t) -1;
        }

        doc->seen = seen;
        doc->seen_cap = size;
    }

    seen = doc->seen;
    memset(seen, 0, size * sizeof(uint32_t));
    mask = size - 1;
    w = 0;

    for (i = 0; i < n; i++) {
        s = (const u_char *) kv[2 * i].u.str;
        h = 2166136261u;

        for (k = 0; k < kv[2 * i].len; k++) {
            h = (h ^ s[k]) * 16777619u;
        }

        for (h &= mask; seen[h]; h = (h + 1) & mask) {
            if (olla_jdom_same_key(&kv[2 * i], &kv[2 * (seen[h] - 1)])) {
                break;
            }
        }

        if (seen[h]) {
            /* a key kept before: it takes the later value */
            kv[2 * (seen[h] - 1) + 1] = kv[2 * i + 1];
            continue;
        }

        kv[2 * w] = kv[2 * i];
        kv[2 * w + 1] = kv[2 * i + 1];
        seen[h] = (uint32_t) (w + 1);
        w++;
    }

    return w;
}


/* the end of the token at p, for messages: a word, a number, one byte */

static const u_char *
olla_jdom_token_end(const u_char *p, const u_char *end)
{
    const u_char  *q;

    if (p == end) {
        return p;
    }

    q = p;

    if (((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z')) {
        while (q < end && ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z')) {
            q++;
        }

        return q;
    }

    if (*q == '-' || olla_jdom_digit(*q)) {
        while (q < end
               && (olla_jdom_digit(*q) || *q == '-' || *q == '+'
                   || *q == '.' || *q == 'e' || *q == 'E'))
        {
            q++;
        }

        return q;
    }

    return q + 1;
}


/*
 * Sets the error: msg, "near" the token tok..at when it is short and
 * printable (or "near end of file"), and the position after at.
 */

static int
olla_jdom_fail(olla_jdom_doc_t *doc, const u_char *start, const u_char *tok,
    const u_char *at, const u_char *end, const char *msg)
{
    size_t         line, column, i, n;
    const u_char  *p;

    n = 0;

    if (tok != NULL && tok < at && at - tok <= 20) {
        for (p = tok; p < at; p++) {
            if (*p < 0x20 || *p >= 0x7f || *p == '\'') {
                break;
            }
        }

        if (p == at) {
            n = (size_t) (at - tok);
        }
    }

    if (n) {
        snprintf(doc->error, OLLA_JDOM_ERRLEN, "%s near '%.*s'", msg, (int) n,
                 (const char *) tok);

    } else if (tok != NULL && tok == end) {
        snprintf(doc->error, OLLA_JDOM_ERRLEN, "%s near end of file", msg);

    } else if (tok == NULL && at < end) {
        snprintf(doc->error, OLLA_JDOM_ERRLEN, "%s: byte 0x%02x", msg, *at);

    } else {
        snprintf(doc->error, OLLA_JDOM_ERRLEN, "%s", msg);
    }

    line = 1;
    column = 0;

    for (i = 0; start + i < at; i++) {
        if (start[i] == '\n') {
            line++;
            column = 0;

        } else if ((start[i] & 0xc0) != 0x80) {
            column++;
        }
    }

    doc->position = (size_t) (at - start);
    doc->line = line;
    doc->column = column;

    return OLLA_JDOM_ERROR;
}


/* ------------------------------------------------------------ access */


const olla_jdom_t *
olla_jdom_get(const olla_jdom_t *obj, const char *key, size_t len)
{
    size_t                     i, k, n;
    const char                *s;
    const olla_jdom_member_t  *m;

    if (obj == NULL || obj->type != OLLA_JDOM_OBJECT) {
        return NULL;
    }

    m = obj->u.members;
    n = obj->len;

    for (i = 0; i < n; i++) {
        if (m[i].key.len != len) {
            continue;
        }

        /* keys are short: no call to memcmp() */

        s = m[i].key.u.str;

        for (k = 0; k < len && s[k] == key[k]; k++) {
            /* void */
        }

        if (k == len) {
            return &m[i].value;
        }
    }

    return NULL;
}


const olla_jdom_t *
olla_jdom_at(const olla_jdom_t *arr, size_t i)
{
    if (arr == NULL || arr->type != OLLA_JDOM_ARRAY || i >= arr->len) {
        return NULL;
    }

    return &arr->u.items[i];
}


size_t
olla_jdom_cstrlen(const olla_jdom_t *v)
{
    if (v->flags & OLLA_JDOM_HAS_NUL) {
        return strlen(v->u.str);
    }

    return v->len;
}


long long
olla_jdom_int(const olla_jdom_t *v)
{
    size_t               i;
    const char          *s;
    unsigned long long   u;

    if (!olla_jdom_is_integer(v)) {
        return 0;
    }

    s = v->u.str;
    i = (s[0] == '-');
    u = 0;

    for ( /* void */ ; i < v->len; i++) {
        u = u * 10 + (unsigned) (s[i] - '0');
    }

    if (s[0] != '-') {
        return (long long) u;
    }

    if (u > 0x7fffffffffffffffULL) {
        return (long long) -0x7fffffffffffffffLL - 1;
    }

    return -(long long) u;
}


double
olla_jdom_double(const olla_jdom_t *v)
{
    int                  neg, frac, eneg;
    char                *end, *b, buf[512];
    long                 e, x;
    double               d;
    size_t               i, n, digits;
    const char          *s;
    unsigned long long   m;
    static const double  pow10[] = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
    };

    if (!olla_jdom_is_number(v)) {
        return 0;
    }

    if (v->flags & OLLA_JDOM_INT) {
        return (double) olla_jdom_int(v);
    }

    /*
     * Up to 15 significant digits and a power of ten up to 22: both are
     * exact doubles, so one multiplication or division rounds correctly
     * (Clinger's fast path).
     */

    s = v->u.str;
    n = v->len;
    neg = (s[0] == '-');
    m = 0;
    e = 0;
    digits = 0;
    frac = 0;

    for (i = (size_t) neg; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') {
            frac = 1;
            continue;
        }

        if (digits || s[i] != '0') {
            digits++;
            m = m * 10 + (unsigned) (s[i] - '0');
        }

        if (frac) {
            e--;
        }

        if (digits > 15) {
            goto slow;
        }
    }

    if (i < n) {
        i++;
        eneg = (s[i] == '-');

        if (s[i] == '-' || s[i] == '+') {
            i++;
        }

        for (x = 0; i < n; i++) {
            if (x < 100000) {
                x = x * 10 + (s[i] - '0');
            }
        }

        e += eneg ? -x : x;
    }

    if (m == 0) {
        return neg ? -0.0 : 0.0;
    }

    if (e >= -22 && e <= 22) {
        d = (double) m;
        d = (e < 0) ? d / pow10[-e] : d * pow10[e];

        return neg ? -d : d;
    }

slow:

    /* strtod(), with the locale's decimal point, as jansson does */

    b = (n < sizeof(buf)) ? buf : olla_jdom_alloc_fn(n + 1);

    if (b == NULL) {
        /* out of memory for a number of over 511 bytes: its start */
        b = buf;
        n = sizeof(buf) - 1;
    }

    memcpy(b, s, n);
    b[n] = '\0';

    end = memchr(b, '.', n);
    if (end != NULL) {
        *end = localeconv()->decimal_point[0];
    }

    d = strtod(b, &end);

    if (b != buf) {
        free(b);
    }

    return d;
}


/* ------------------------------------------------------------ output */


void
olla_jout_init(olla_jout_t *o, size_t hint)
{
    o->p = NULL;
    o->len = 0;
    o->cap = 0;
    o->failed = 0;

    if (hint) {
        (void) olla_jout_grow(o, hint);
    }
}


int
olla_jout_grow(olla_jout_t *o, size_t n)
{
    char    *p;
    size_t   cap;

    if (o->failed) {
        return -1;
    }

    if (n < o->cap - o->len) {
        return 0;
    }

    if (n > (size_t) -1 / 4 - o->len) {
        goto failed;
    }

    cap = o->cap ? o->cap : 256;

    while (cap <= o->len + n) {
        cap *= 2;
    }

    p = olla_jdom_resize_fn(o->p, cap);
    if (p == NULL) {
        goto failed;
    }

    o->p = p;
    o->cap = cap;

    return 0;

failed:

    free(o->p);
    o->p = NULL;
    o->len = 0;
    o->cap = 0;
    o->failed = 1;

    return -1;
}


void
olla_jout_free(olla_jout_t *o)
{
    free(o->p);
    o->p = NULL;
    o->len = 0;
    o->cap = 0;
    o->failed = 0;
}


char *
olla_jout_finish(olla_jout_t *o, size_t *len)
{
    char  *p;

    if (olla_jout_grow(o, 0) != 0) {
        o->failed = 0;

        if (len) {
            *len = 0;
        }

        return NULL;
    }

    p = o->p;
    p[o->len] = '\0';

    if (len) {
        *len = o->len;
    }

    o->p = NULL;
    o->len = 0;
    o->cap = 0;

    return p;
}


/* the bytes at p that need no escape ('"', '\\', < 0x20 do) */

static size_t
olla_jdom_span(const u_char *p, size_t n)
{
    size_t    i;
#if (OLLA_JDOM_SSE2)
    int       m;
    __m128i   x, q, b, c;
#elif (OLLA_JDOM_SWAR)
    uint64_t  w, m;
#endif

    i = 0;

#if (OLLA_JDOM_SSE2)

    q = _mm_set1_epi8('"');
    b = _mm_set1_epi8('\\');
    c = _mm_set1_epi8(0x1f);

    for ( /* void */ ; n - i >= 16; i += 16) {
        x = _mm_loadu_si128((const __m128i *) (p + i));

        /* unsigned x <= 0x1f: min(x, 0x1f) == x */
        m = _mm_movemask_epi8(
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q),
                                          _mm_cmpeq_epi8(x, b)),
                             _mm_cmpeq_epi8(_mm_min_epu8(x, c), x)));
        if (m) {
            return i + (size_t) __builtin_ctz((unsigned) m);
        }
    }

#elif (OLLA_JDOM_SWAR)

    for ( /* void */ ; n - i >= 8; i += 8) {
        memcpy(&w, p + i, 8);

        /* as in olla_jdom_scan(), high bytes masked out of the test */
        m = ((w ^ (OLLA_JDOM_ONES * '"')) - OLLA_JDOM_ONES)
            | ((w ^ (OLLA_JDOM_ONES * '\\')) - OLLA_JDOM_ONES)
            | (w - OLLA_JDOM_ONES * 0x20);
        m &= ~w & OLLA_JDOM_HIGHS;

        if (m) {
            return i + (__builtin_ctzll(m) >> 3);
        }
    }

#endif

    for ( /* void */ ; i < n; i++) {
        if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\') {
            break;
        }
    }

    return i;
}


void
olla_jout_esc(olla_jout_t *o, const char *s, size_t n)
{
    u_char         c, e;
    size_t         k;
    const u_char  *p;

    p = (const u_char *) s;

    if (olla_jout_grow(o, n) != 0) {
        return;
    }

    for ( ;; ) {
        k = olla_jdom_span(p, n);

        if (k) {
            olla_jout_add(o, (const char *) p, k);
            p += k;
            n -= k;
        }

        if (n == 0) {
            return;
        }

        if (o->cap - o->len <= n + 6 && olla_jout_grow(o, n + 6) != 0) {
            return;
        }

        c = *p++;
        n--;
        e = olla_jdom_esc[c];

        o->p[o->len++] = '\\';

        if (e != 'u') {
            o->p[o->len++] = (char) e;
            continue;
        }

        o->p[o->len++] = 'u';
        o->p[o->len++] = '0';
        o->p[o->len++] = '0';
        o->p[o->len++] = olla_jdom_hex[c >> 4];
        o->p[o->len++] = olla_jdom_hex[c & 0xf];
    }
}


void
olla_jout_str(olla_jout_t *o, const char *p, size_t n)
{
    if (olla_jout_grow(o, n + 2) != 0) {
        return;
    }

    o->p[o->len++] = '"';
    olla_jout_esc(o, p, n);
    olla_jout_ch(o, '"');
}


/* a string node's text in the input, between its quotes */

static inline const char *
olla_jdom_input(const olla_jdom_t *v, size_t *len)
{
    const olla_jdom_rawhdr_t  *hdr;

    if (!(v->flags & OLLA_JDOM_ESCAPED)) {
        /* nothing to escape: the value is the text */
        *len = v->len;
        return v->u.str;
    }

    hdr = (const olla_jdom_rawhdr_t *) (v->u.str - OLLA_JDOM_RAWHDR);
    *len = hdr->len;

    return hdr->text;
}


const char *
olla_jdom_raw(const olla_jdom_t *v, size_t *len)
{
    if (v->type != OLLA_JDOM_STRING
        || (v->flags & (OLLA_JDOM_ESCAPED|OLLA_JDOM_RAW)) == OLLA_JDOM_ESCAPED)
    {
        return NULL;
    }

    return olla_jdom_input(v, len);
}


const char *
olla_jdom_text(const olla_jdom_t *v, size_t *len)
{
    const olla_jdom_rawhdr_t  *hdr;

    if (v->type < OLLA_JDOM_ARRAY || !(v->flags & OLLA_JDOM_SPAN)) {
        return NULL;
    }

    hdr = (const olla_jdom_rawhdr_t *) ((const char *) v->u.items
                                        - OLLA_JDOM_RAWHDR);
    *len = hdr->len;

    return hdr->text;
}


void
olla_jout_text(olla_jout_t *o, const olla_jdom_t *v)
{
    size_t       n;
    const char  *text;

    text = olla_jdom_text(v, &n);

    if (text != NULL) {
        olla_jout_add(o, text, n);
        return;
    }

    olla_jout_value(o, v);
}


void
olla_jout_string_esc(olla_jout_t *o, const olla_jdom_t *v)
{
    size_t       n;
    const char  *text;

    /* as the input wrote it: valid escapes, the same value */

    text = olla_jdom_input(v, &n);
    olla_jout_add(o, text, n);
}


void
olla_jout_string(olla_jout_t *o, const olla_jdom_t *v)
{
    size_t       n;
    const char  *text;

    text = olla_jdom_input(v, &n);

    if (n + 2 >= o->cap - o->len && olla_jout_grow(o, n + 2) != 0) {
        return;
    }

    o->p[o->len++] = '"';
    memcpy(o->p + o->len, text, n);
    o->len += n;
    o->p[o->len++] = '"';
}


void
olla_jout_value(olla_jout_t *o, const olla_jdom_t *v)
{
    char                      *p;
    size_t                     i, n, k;
    const char                *text, *vtext;
    const olla_jdom_member_t  *m;

    switch (v->type) {

    case OLLA_JDOM_NULL:
        olla_jout_lit(o, "null");
        return;

    case OLLA_JDOM_FALSE:
        olla_jout_lit(o, "false");
        return;

    case OLLA_JDOM_TRUE:
        olla_jout_lit(o, "true");
        return;

    case OLLA_JDOM_NUMBER:
        olla_jout_add(o, v->u.str, v->len);
        return;

    case OLLA_JDOM_STRING:
        olla_jout_string(o, v);
        return;

    case OLLA_JDOM_ARRAY:
        if (v->flags & OLLA_JDOM_VERBATIM) {
            olla_jout_text(o, v);
            return;
        }

        olla_jout_ch(o, '[');

        for (i = 0; i < v->len; i++) {
            if (i) {
                olla_jout_ch(o, ',');
            }

            olla_jout_value(o, &v->u.items[i]);
        }

        olla_jout_ch(o, ']');
        return;

    default: /* OLLA_JDOM_OBJECT */
        if (v->flags & OLLA_JDOM_VERBATIM) {
            olla_jout_text(o, v);
            return;
        }

        olla_jout_ch(o, '{');

        for (i = 0; i < v->len; i++) {
            m = &v->u.members[i];

            /* ',', the name and ':' at once; a string value with them */

            text = olla_jdom_input(&m->key, &n);
            vtext = NULL;
            k = 0;

            if (m->value.type == OLLA_JDOM_STRING) {
                vtext = olla_jdom_input(&m->value, &k);
                k += 2;
            }

            if (n + k + 4 >= o->cap - o->len
                && olla_jout_grow(o, n + k + 4) != 0)
            {
                return;
            }

            p = o->p + o->len;

            if (i) {
                *p++ = ',';
            }

            *p++ = '"';
            memcpy(p, text, n);
            p += n;
            *p++ = '"';
            *p++ = ':';

            if (k) {
                *p++ = '"';
                memcpy(p, vtext, k - 2);
                p += k - 2;
                *p++ = '"';
                o->len = (size_t) (p - o->p);
                continue;
            }

            o->len = (size_t) (p - o->p);
            olla_jout_value(o, &m->value);
        }

        olla_jout_ch(o, '}');
        return;
    }
}


void
olla_jout_int(olla_jout_t *o, long long n)
{
    char                 buf[24], *p;
    unsigned long long   u;

    p = buf + sizeof(buf);
    u = (n < 0) ? 0 - (unsigned long long) n : (unsigned long long) n;

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (n < 0) {
        *--p = '-';
    }

    olla_jout_add(o, p, (size_t) (buf + sizeof(buf) - p));
}
