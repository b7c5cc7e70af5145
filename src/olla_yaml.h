
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * A generic YAML node tree (libyaml): parse a document into mappings,
 * sequences and scalars that remember where they came from, look keys
 * up, deep-merge one mapping over another, and write error messages that
 * name a node's position.  olla_profile.c builds profiles on it.
 * No nginx headers.
 */


#ifndef _OLLA_YAML_H_INCLUDED_
#define _OLLA_YAML_H_INCLUDED_


#include <stddef.h>


#define OLLA_YAML_MAX_NODES    100000
#define OLLA_YAML_MAX_DEPTH    64


typedef enum {
    OLLA_YAML_SCALAR = 0,
    OLLA_YAML_MAP,
    OLLA_YAML_SEQ
} olla_yaml_type_e;


typedef struct olla_yaml_s  olla_yaml_t;

struct olla_yaml_s {
    olla_yaml_type_e     type;
    int                  plain;     /* a plain (unquoted) scalar */
    unsigned             height;    /* 1 + height of the deepest child */
    const char          *file;      /* the parse's file name, not copied */
    size_t               line;      /* 1-based */
    size_t               col;       /* 1-based */
    char                *value;     /* scalar text, NUL-terminated */
    size_t               len;
    olla_yaml_t        **keys;      /* mapping keys (scalars) */
    olla_yaml_t        **items;     /* mapping values, sequence items */
    size_t               n;
    size_t               nalloc;
};


/*
 * Parses text[0..len) into *root (NULL for an empty document); file names
 * the text in messages and in every node, and must outlive the tree.
 * Anchors, aliases (deep copies) and merge keys ("<<", the "<<" entry
 * itself stays) work; duplicate keys in a mapping, a key that is not a
 * scalar, more than one document, nesting deeper than OLLA_YAML_MAX_DEPTH
 * levels and more than OLLA_YAML_MAX_NODES nodes are errors.  Returns 0,
 * or -1 with err set to "FILE:LINE:COL: message" ("FILE: out of memory").
 */
int olla_yaml_parse(const char *file, const char *text, size_t len,
    olla_yaml_t **root, char *err, size_t errlen);

/*
 * Merges the mapping over into the mapping base: key by key, mappings
 * recursively; any other node of over (scalar or sequence) replaces the
 * node of base.  Consumes over in every case.  Returns 0, or -1 (out of
 * memory) with err set.
 */
int olla_yaml_merge(olla_yaml_t *base, olla_yaml_t *over, char *err,
    size_t errlen);

void olla_yaml_free(olla_yaml_t *n);

/* NULL, or a plain "", "~", "null", "Null" or "NULL": YAML's null */
int olla_yaml_is_null(const olla_yaml_t *n);

/* "a mapping", "a list", "null" or "a string", for messages */
const char *olla_yaml_kind(const olla_yaml_t *n);

/* the value of a key of a mapping; NULL when map is not a mapping */
olla_yaml_t *olla_yaml_find(const olla_yaml_t *map, const char *key,
    size_t len);
const olla_yaml_t *olla_yaml_get(const olla_yaml_t *map, const char *key);

/*
 * s[0..len) in double quotes, '"' and '\' escaped, control bytes as
 * \xNN, shortened with "..." to fit cap bytes (at least 8); returns buf.
 */
const char *olla_yaml_quote(char *buf, size_t cap, const char *s,
    size_t len);

/*
 * Writes a message into err[errlen] (nothing when err is NULL or errlen
 * is 0), prefixed with "FILE:LINE:COL: " when node is not NULL.
 */
void olla_yaml_error(char *err, size_t errlen, const olla_yaml_t *node,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;


#endif /* _OLLA_YAML_H_INCLUDED_ */
