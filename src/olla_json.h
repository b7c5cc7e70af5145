
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * An incremental, validating JSON scanner that allocates nothing: it checks
 * that a request body is one well-formed JSON object (RFC 8259, UTF-8,
 * bounded nesting) and picks out chosen top-level members (the "model" a
 * request names, "stream", "max_tokens", ...) in the same single pass:
 * their type, a string's or a number's value, an array's or an object's
 * element count.  The body may arrive in pieces of any size.  No nginx
 * headers.
 */


#ifndef _OLLA_JSON_H_INCLUDED_
#define _OLLA_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OLLA_JSON_OK      0
#define OLLA_JSON_ERROR  -1

#define OLLA_JSON_DEFAULT_DEPTH  128
#define OLLA_JSON_HASH_DEPTH     32     /* opening: deeper is not hashed */


typedef enum {
    OLLA_JSON_NONE = 0,          /* member not present */
    OLLA_JSON_STRING,
    OLLA_JSON_NUMBER,
    OLLA_JSON_TRUE,
    OLLA_JSON_FALSE,
    OLLA_JSON_NULL,
    OLLA_JSON_OBJECT,
    OLLA_JSON_ARRAY
} olla_json_type_e;


/*
 * A top-level member to capture; the caller owns value[].  For an array
 * or an object, elements counts the values directly inside it (a member
 * name given twice counts twice); it is 0 for the other types.
 *
 * opening: the member is part of the conversation's opening, hashed into
 * olla_json_scan_t.opening in the same pass (its strings, unescaped):
 *   OLLA_JSON_OPENING_ALL    every string in it ("system", "instructions");
 *   OLLA_JSON_OPENING_TURNS  an array's elements up to and including the
 *                            first whose "role" is "user" ("messages").
 * The hash is structural: strings by their unescaped bytes (all of their
 * first 32, then one in 64, and their length), numbers and
 * literals by their kind, arrays in order, objects by their members
 * whatever their order, the members of the opening whatever their order.
 * What a client changes from turn to turn of one conversation is left
 * out: subtrees under "cache_control" (moved to the newest message each
 * turn) and strings that begin "x-anthropic-billing-header:" (Claude
 * Code's per-request stamp).  Levels deeper than OLLA_JSON_HASH_DEPTH are
 * not hashed.
 */
typedef struct {
    const char        *key;         /* compared byte for byte, unescaped */
    size_t             key_len;
    char              *value;       /* string (unescaped) or number text */
    size_t             cap;         /* size of value[] */

    /* results */
    olla_json_type_e   type;        /* of the last occurrence */
    size_t             len;         /* bytes of the value, even if > cap */
    int                truncated;   /* len > cap: value[] holds cap bytes */
    unsigned           count;       /* occurrences */
    size_t             start;       /* offset of the value's first byte */
    size_t             end;         /* offset just after its last byte */
    size_t             elements;    /* array values, object members */

    unsigned           opening;     /* OLLA_JSON_OPENING_* */
} olla_json_field_t;

#define OLLA_JSON_OPENING_NONE    0
#define OLLA_JSON_OPENING_ALL     1
#define OLLA_JSON_OPENING_TURNS   2


typedef struct {
    olla_json_field_t  *fields;
    size_t              nfields;
    size_t              max_depth;

    /* error: message and byte offset */
    char                err[160];
    size_t              err_offset;

    /* the opening's hash (64-bit FNV-1a), 0 when nothing was hashed */
    uint64_t            opening;

    /* private state */
    size_t              offset;        /* bytes fed before this piece */
    size_t              depth;         /* objects and arrays open */
    size_t              quiet_from;    /* depth where quiet content is */
    unsigned            hashing;       /* the opening is hashed here */
    unsigned char       stack[64];     /* bit per level: 1 object, 0 array */
    unsigned            state;
    unsigned            sub;           /* \u digits read, literal position */
    unsigned            lit;           /* literal: true, false, null */
    unsigned            ucs;           /* \u code unit being read */
    unsigned            hi_surrogate;  /* high surrogate awaiting its pair */
    unsigned            utf8_need;     /* UTF-8 continuation bytes due */
    unsigned            utf8_lo;       /* range of the next one */
    unsigned            utf8_hi;
    unsigned            str_key;       /* the string is a member name */
    unsigned            cap;           /* capturing: nothing, value, key */
    int                 failed;

    /* top-level key being read and member being captured */
    char                key[64];
    size_t              key_len;
    int                 key_overflow;
    olla_json_field_t  *cur;

    /*
     * the opening's structural hash: a stack of containers (objects sum
     * their members, so the order of names does not matter; arrays fold
     * their values in order), the string and the name being read
     */
    uint64_t            str_h;
    size_t              str_len;
    uint64_t            key_h;
    uint64_t            sys_sum;       /* ALL members, summed */
    uint64_t            turns_h;       /* TURNS elements, in order */
    unsigned            vkind;         /* what ended: string, container */
    char                ikey[16];
    size_t              ikey_len;
    char                head[32];
    size_t              head_len;
    unsigned            head_skip;     /* a string left out */
    size_t              skip_depth;    /* a "cache_control" value's */
    unsigned            elem_user;     /* the element's role is "user" */
    unsigned            want_role;     /* the next value is a "role" */
    unsigned            is_role;
    unsigned            turns_done;    /* the first user element is in */

    /* last: the stack is set as containers open, not zeroed at init */
    uint64_t            hacc[OLLA_JSON_HASH_DEPTH];
    uint64_t            hkey[OLLA_JSON_HASH_DEPTH];
    unsigned char       hobj[OLLA_JSON_HASH_DEPTH];
} olla_json_scan_t;


/* max_depth 0 means OLLA_JSON_DEFAULT_DEPTH; at most 512 */
void olla_json_scan_init(olla_json_scan_t *s, olla_json_field_t *fields,
    size_t nfields, size_t max_depth);
int olla_json_scan_feed(olla_json_scan_t *s, const char *p, size_t n);
/* end of input: the document must be complete */
int olla_json_scan_end(olla_json_scan_t *s);

/*
 * The closing quote of a string whose content from p (just after its
 * opening quote, or after a byte of it that no escape takes) is valid
 * JSON string content: escapes (surrogate pairs paired), UTF-8 (RFC 3629),
 * no byte below 0x20; NULL when it is not, is not closed before last, or
 * the fast paths leave it to a byte at a time (then read it yourself).
 */
const char *olla_json_str_end(const char *p, const char *last);


#endif /* _OLLA_JSON_H_INCLUDED_ */
