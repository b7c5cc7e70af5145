
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * A small, fast JSON DOM and writer for the translators.
 *
 * olla_jdom_parse() reads a whole buffer into nodes allocated from one
 * arena (the caller's buffer first, then a few malloc'd chunks, all freed
 * at once).  Objects are ordered arrays of (key, value) looked up
 * linearly; strings without escapes point into the input, others are
 * unescaped into the arena and keep where their text is in the input (the
 * writer copies it); numbers keep their literal text.  The input must stay
 * as it is while the document is read or written.  Validation is RFC
 * 8259's, UTF-8 included, with the limits jansson sets, so that the two
 * agree on every input:
 * nesting of at most OLLA_JDOM_MAX_DEPTH values, integers that fit in 64
 * bits, reals that do not overflow a double, and no U+0000 in object keys
 * (U+0000 in string values is fine).  A key given twice keeps its first
 * place and its last value, as in jansson.
 *
 * olla_jout_t is a growable output buffer with JSON string escaping (the
 * escapes jansson writes: \" \\ \b \f \n \r \t and \u00XX, UTF-8 passed
 * through) and a writer of DOM values in compact form, numbers verbatim and
 * strings as the input wrote them (escapes and all: valid JSON, the same
 * value, copied rather than unescaped and escaped again).
 * An allocation failure is sticky: the buffer is dropped, later writes do
 * nothing, and olla_jout_finish() returns NULL.
 *
 * No nginx headers.
 */


#ifndef _OLLA_JDOM_H_INCLUDED_
#define _OLLA_JDOM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


#define OLLA_JDOM_OK          0
#define OLLA_JDOM_ERROR      -1
#define OLLA_JDOM_NOMEM      -2

#define OLLA_JDOM_MAX_DEPTH   2048        /* jansson's */
#define OLLA_JDOM_STACK       64          /* nodes held inline */
#define OLLA_JDOM_ERRLEN      96


typedef enum {
    OLLA_JDOM_NULL = 1,
    OLLA_JDOM_FALSE,
    OLLA_JDOM_TRUE,
    OLLA_JDOM_NUMBER,
    OLLA_JDOM_STRING,
    OLLA_JDOM_ARRAY,
    OLLA_JDOM_OBJECT
} olla_jdom_type_e;


/* node flags */
#define OLLA_JDOM_ESCAPED     0x01        /* string: unescaped copy */
#define OLLA_JDOM_HAS_NUL     0x02        /* string: contains U+0000 */
#define OLLA_JDOM_INT         0x04        /* number: no fraction/exponent */
#define OLLA_JDOM_RAW         0x08        /* escaped string: its text in
                                             the input is how
                                             olla_jout_esc() writes it */
#define OLLA_JDOM_LAZY        0x10        /* escaped string at a path whose
                                             strings are left escaped
                                             (doc->paths, doc->checked):
                                             u.str is NOT its value (len
                                             is); olla_jout_unescaped()
                                             and olla_jdom_head() read it */
#define OLLA_JDOM_SPAN        0x10        /* array, object: its text in
                                             the input is its value (no
                                             key in it given twice) */
#define OLLA_JDOM_COMPACT     0x20        /* and that text is the value's
                                             compact dump (jansson's):
                                             no white space, no real, no
                                             -0, every escape as
                                             olla_jout_esc() writes it */
#define OLLA_JDOM_VERBATIM    0x40        /* array, object taken as
                                             written (a path of
                                             doc->paths): its text is its
                                             value (SPAN), and what
                                             olla_jout_value() writes */
#define OLLA_JDOM_OPAQUE      0x80        /* and its items were not read
                                             (doc->checked): len is 0,
                                             its type and text are all it
                                             has */


typedef struct olla_jdom_s         olla_jdom_t;
typedef struct olla_jdom_member_s  olla_jdom_member_t;
typedef struct olla_jdom_chunk_s   olla_jdom_chunk_t;


struct olla_jdom_s {
    uint8_t                 type;
    uint8_t                 flags;
    uint32_t                len;          /* bytes, or items, or members */
    union {
        const char          *str;         /* string value, number text */
        olla_jdom_t         *items;
        olla_jdom_member_t  *members;
    } u;
};


struct olla_jdom_member_s {
    olla_jdom_t             key;          /* a string */
    olla_jdom_t             value;
};


/*
 * Values the caller takes as written: a tool's schema, a call's input,
 * which it passes on whole and reads no further than their type.  Paths
 * to them are given as states: the root value is in state 1; in an array
 * in state s the items are in state paths[s].item, in an object in state s
 * a member named as one of paths[s].key[] is in that key's state ("to"),
 * up to OLLA_JDOM_PATH_KEYS of them,
 * anything else in state 0, which no path goes on from (an unused key is
 * OLLA_JDOM_NOKEY).  An array or
 * object in state OLLA_JDOM_ASIS is taken as written.  Such a value's text
 * is its value (OLLA_JDOM_SPAN) even with a key given twice inside it (a
 * JSON parser keeps one of them; the backend's reads the text as
 * written); in a document known valid (doc->checked) it is skipped to its
 * end, its nodes not made (OLLA_JDOM_OPAQUE), unless something in it is to
 * be read as the parse reads it to check it or to report it as it does (a
 * number out of range, a U+0000, nesting as deep as the limit).
 */
#define OLLA_JDOM_ASIS        0xff
#define OLLA_JDOM_PATH_KEYS   4
#define OLLA_JDOM_NOKEY       { 0, 0, "" }

typedef struct {
    uint8_t                 item;
    uint8_t                 lazy;         /* a string in this state is
                                             left escaped (OLLA_JDOM_LAZY)
                                             in a checked parse: the
                                             caller only writes it as
                                             written and counts it */
    struct {
        uint8_t             to;
        uint8_t             len;
        const char         *name;
    }                       key[OLLA_JDOM_PATH_KEYS];
} olla_jdom_path_t;


typedef struct {
    olla_jdom_t            *root;
    size_t                  max_depth;    /* OLLA_JDOM_MAX_DEPTH by init */

    /*
     * 1: the input is known to be valid JSON by olla_json's rules (the
     * routing scan read it): strings are not checked again, only their
     * ends found and their escapes read.  On input that is not valid the
     * values may be wrong, never out of bounds.  0 by init.
     */
    unsigned                checked;

    /* values taken as written (above): states paths[1..npaths); NULL
       by init */
    const olla_jdom_path_t *paths;
    size_t                  npaths;

    /* after OLLA_JDOM_ERROR: what, and where (as jansson counts: bytes
     * read, the line, and the character in the line of the last one) */
    char                    error[OLLA_JDOM_ERRLEN];
    size_t                  position;
    size_t                  line;
    size_t                  column;

    /* private */
    char                   *free;         /* arena: the current chunk */
    size_t                  avail;
    size_t                  next_chunk;   /* size of the next malloc */
    olla_jdom_chunk_t      *chunks;       /* malloc'd ones */
    char                   *buf;          /* the caller's first chunk */
    size_t                  buf_size;
    olla_jdom_t            *stack;        /* values of open containers */
    size_t                  stack_cap;
    uint32_t               *seen;         /* duplicate key search */
    size_t                  seen_cap;
    const char             *dup_at;       /* the last object closed with
                                             a key given twice */
    const char             *odd_at;       /* the last byte a compact dump
                                             writes otherwise */
    olla_jdom_t             stack0[OLLA_JDOM_STACK];
} olla_jdom_doc_t;


/*
 * buf (may be NULL) is memory the arena uses before it mallocs any; it
 * must stay valid while the document is used.
 */
void olla_jdom_init(olla_jdom_doc_t *doc, void *buf, size_t size);

/*
 * Parses p[0..len) (any JSON value) into doc->root, dropping what an
 * earlier parse of the same doc made.  Returns OLLA_JDOM_OK, OLLA_JDOM_ERROR
 * (doc->error and the position say why) or OLLA_JDOM_NOMEM.
 */
int olla_jdom_parse(olla_jdom_doc_t *doc, const char *p, size_t len);

/* frees what the document holds (not the caller's buffer) */
void olla_jdom_free(olla_jdom_doc_t *doc);

/* bytes malloc'd for the document now */
size_t olla_jdom_memory(const olla_jdom_doc_t *doc);


/* NULL when obj is NULL, not an object, or has no such key */
const olla_jdom_t *olla_jdom_get(const olla_jdom_t *obj, const char *key,
    size_t len);

/*
 * The same for a string literal: inlined, the compiler compares the key
 * with a load or two instead of a call to memcmp().
 */
#define olla_jdom_getl(obj, lit)                                             \
    olla_jdom_get_inline(obj, lit, sizeof(lit) - 1)


static inline const olla_jdom_t *
olla_jdom_get_inline(const olla_jdom_t *obj, const char *key, size_t len)
{
    uint32_t                   i;
    const olla_jdom_member_t  *m;

    if (obj == NULL || obj->type != OLLA_JDOM_OBJECT) {
        return NULL;
    }

    m = obj->u.members;

    for (i = 0; i < obj->len; i++) {
        if (m[i].key.len == len && memcmp(m[i].key.u.str, key, len) == 0) {
            return &m[i].value;
        }
    }

    return NULL;
}

/* NULL when arr is NULL, not an array, or too short */
const olla_jdom_t *olla_jdom_at(const olla_jdom_t *arr, size_t i);

#define olla_jdom_is(v, t)       ((v) != NULL && (v)->type == (t))
#define olla_jdom_is_string(v)   olla_jdom_is(v, OLLA_JDOM_STRING)
#define olla_jdom_is_object(v)   olla_jdom_is(v, OLLA_JDOM_OBJECT)
#define olla_jdom_is_array(v)    olla_jdom_is(v, OLLA_JDOM_ARRAY)
#define olla_jdom_is_number(v)   olla_jdom_is(v, OLLA_JDOM_NUMBER)
#define olla_jdom_is_true(v)     olla_jdom_is(v, OLLA_JDOM_TRUE)
#define olla_jdom_is_null(v)     olla_jdom_is(v, OLLA_JDOM_NULL)
#define olla_jdom_is_boolean(v)                                              \
    ((v) != NULL                                                             \
     && ((v)->type == OLLA_JDOM_TRUE || (v)->type == OLLA_JDOM_FALSE))
#define olla_jdom_is_integer(v)                                              \
    (olla_jdom_is_number(v) && ((v)->flags & OLLA_JDOM_INT))

/*
 * The bytes of a string up to its first U+0000 (what strlen() of
 * jansson's json_string_value() gives).
 */
size_t olla_jdom_cstrlen(const olla_jdom_t *v);

/*
 * A string's text as olla_jout_esc() writes it, without the quotes, when
 * that is its text in the input (a string without escapes, or one whose
 * escapes are the ones olla_jout_esc() writes: OLLA_JDOM_RAW); NULL
 * otherwise.  Its length is what jansson would write.
 */
const char *olla_jdom_raw(const olla_jdom_t *v, size_t *len);

/*
 * An array's or object's text in the input, brackets included, when that
 * text is its value (OLLA_JDOM_SPAN: no key in it is given twice, which
 * the value keeps once); NULL otherwise, and for empty ones.
 */
const char *olla_jdom_text(const olla_jdom_t *v, size_t *len);

/* the value of an integer number (0 for anything else) */
long long olla_jdom_int(const olla_jdom_t *v);

/* the value of any number, as strtod() reads it (0 for anything else) */
double olla_jdom_double(const olla_jdom_t *v);


/*
 * All memory the DOM, the writer and the translators allocate comes from
 * these; NULL restores malloc and realloc.  Whatever they return must be
 * memory free() accepts.  For tests (allocation failure injection).
 */
void olla_jdom_set_alloc(void *(*alloc)(size_t),
    void *(*resize)(void *, size_t));
void *olla_jdom_malloc(size_t size);
void *olla_jdom_realloc(void *p, size_t size);


/* ------------------------------------------------------------ output */


typedef struct {
    char                   *p;            /* malloc'd */
    size_t                  len;
    size_t                  cap;
    unsigned                failed;       /* an allocation failed */
} olla_jout_t;


/* with room for hint bytes (0: none yet) */
void olla_jout_init(olla_jout_t *o, size_t hint);

/* room for n more bytes (and a NUL); 0, or -1 when out of memory */
int olla_jout_grow(olla_jout_t *o, size_t n);

/* p[0..n) as a JSON string, quotes included; p must be valid UTF-8 */
void olla_jout_str(olla_jout_t *o, const char *p, size_t n);

/* the same without the quotes */
void olla_jout_esc(olla_jout_t *o, const char *p, size_t n);

/* a string node as a JSON string: its text in the input */
void olla_jout_string(olla_jout_t *o, const olla_jdom_t *v);

/* the same without the quotes */
void olla_jout_string_esc(olla_jout_t *o, const olla_jdom_t *v);

/* a string node's value, its len bytes, unescaped (OLLA_JDOM_LAZY too) */
void olla_jout_unescaped(olla_jout_t *o, const olla_jdom_t *v);

/*
 * The first bytes of a string node's value (OLLA_JDOM_LAZY too) into buf:
 * at most n (n <= 64), fewer when it is shorter; returns how many.
 */
size_t olla_jdom_head(const olla_jdom_t *v, char *buf, size_t n);

/* any node, compact, numbers and strings as they were written */
void olla_jout_value(olla_jout_t *o, const olla_jdom_t *v);

/*
 * The same, an array or object whose text is its value (olla_jdom_text())
 * copied as the input has it, white space and all: for values passed on
 * whole (a tool's schema, a call's arguments)
 */
void olla_jout_text(olla_jout_t *o, const olla_jdom_t *v);

void olla_jout_int(olla_jout_t *o, long long n);

/*
 * NUL-terminates and hands over the buffer (the caller frees it); NULL
 * when an allocation failed.  The olla_jout_t is then empty.
 */
char *olla_jout_finish(olla_jout_t *o, size_t *len);

void olla_jout_free(olla_jout_t *o);


static inline void
olla_jout_add(olla_jout_t *o, const char *p, size_t n)
{
    if (n < o->cap - o->len || olla_jout_grow(o, n) == 0) {
        memcpy(o->p + o->len, p, n);
        o->len += n;
    }
}


static inline void
olla_jout_ch(olla_jout_t *o, char c)
{
    if (o->cap - o->len > 1 || olla_jout_grow(o, 1) == 0) {
        o->p[o->len++] = c;
    }
}


#define olla_jout_lit(o, lit)  olla_jout_add(o, lit, sizeof(lit) - 1)


#endif /* _OLLA_JDOM_H_INCLUDED_ */
