
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The YAML node tree (olla_yaml.h): libyaml's events become mappings,
 * sequences and scalars, each node keeping the file, line and column it
 * came from, so that messages about it can say where it is.  Aliases are
 * deep copies (counted against the node limit) and merge keys are done
 * when their mapping ends.
 *
 * No nginx headers.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "olla_yaml.h"


#define OLLA_QUOTE_LEN         64


typedef struct {
    char                *err;
    size_t               errlen;
} olla_ctx_t;


typedef struct {
    char                *name;
    olla_yaml_t         *node;
} olla_anchor_t;


typedef struct {
    olla_yaml_t         *node;      /* the open collection */
    olla_yaml_t         *key;       /* mapping: key waiting for a value */
    char                *anchor;
} olla_frame_t;


typedef struct {
    olla_ctx_t          *ctx;
    const char          *file;
    olla_yaml_t         *root;
    olla_frame_t         stack[OLLA_YAML_MAX_DEPTH];
    size_t               depth;
    olla_anchor_t       *anchors;
    size_t               nanchors;
    size_t               nanchors_alloc;
    size_t               nnodes;
    unsigned             ndocs;
} olla_builder_t;


static int olla_yaml_append(olla_yaml_t *n, olla_yaml_t *key,
    olla_yaml_t *value);
static olla_yaml_t *olla_yaml_new(olla_builder_t *b, olla_yaml_type_e type,
    const yaml_mark_t *mark);
static olla_yaml_t *olla_yaml_copy(olla_builder_t *b,
    const olla_yaml_t *src, size_t line, size_t col);

static void olla_yaml_parser_error(olla_ctx_t *ctx, const char *file,
    const yaml_parser_t *parser, const char *text, size_t len);
static int olla_builder_event(olla_builder_t *b, const yaml_event_t *ev);
static int olla_builder_add(olla_builder_t *b, olla_yaml_t *node,
    const char *anchor);
static int olla_builder_merge_keys(olla_builder_t *b, olla_yaml_t *map);
static int olla_builder_merge_from(olla_builder_t *b, olla_yaml_t *map,
    const olla_yaml_t *src, const olla_yaml_t *at);
static void olla_builder_cleanup(olla_builder_t *b);


#define olla_error(ctx, ...)                                                 \
    olla_yaml_error((ctx)->err, (ctx)->errlen, NULL, __VA_ARGS__)

#define olla_node_error(ctx, node, ...)                                      \
    olla_yaml_error((ctx)->err, (ctx)->errlen, node, __VA_ARGS__)


/* ------------------------------------------------------------ errors */


void
olla_yaml_error(char *err, size_t errlen, const olla_yaml_t *node,
    const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    n = 0;

    if (node) {
        n = snprintf(err, errlen, "%s:%zu:%zu: ", node->file, node->line,
                     node->col);

        if (n < 0 || (size_t) n >= errlen) {
            return;
        }
    }

    va_start(args, fmt);
    vsnprintf(err + n, errlen - n, fmt, args);
    va_end(args);
}


/* "text" with non-printable bytes escaped, shortened with "..." */

const char *
olla_yaml_quote(char *buf, size_t cap, const char *s, size_t len)
{
    size_t         i, o;
    unsigned char  c;

    o = 0;
    buf[o++] = '"';

    for (i = 0; i < len; i++) {

        if (o + 8 >= cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }

        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char) c;

        } else if (c < 0x20 || c == 0x7f) {
            o += snprintf(buf + o, cap - o, "\\x%02x", c);

        } else {
            buf[o++] = (char) c;
        }
    }

    buf[o++] = '"';
    buf[o] = '\0';

    return buf;
}


/* ------------------------------------------------------------ nodes */


void
olla_yaml_free(olla_yaml_t *n)
{
    size_t  i;

    if (n == NULL) {
        return;
    }

    for (i = 0; i < n->n; i++) {
        if (n->keys) {
            olla_yaml_free(n->keys[i]);
        }
        olla_yaml_free(n->items[i]);
    }

    free(n->keys);
    free(n->items);
    free(n->value);
    free(n);
}


/* does not free key or value on failure */

static int
olla_yaml_append(olla_yaml_t *n, olla_yaml_t *key, olla_yaml_t *value)
{
    size_t         nalloc;
    olla_yaml_t  **items, **keys;

    if (n->n == n->nalloc) {
        nalloc = n->nalloc ? n->nalloc * 2 : 4;

        items = realloc(n->items, nalloc * sizeof(olla_yaml_t *));
        if (items == NULL) {
            return -1;
        }

        n->items = items;

        if (n->type == OLLA_YAML_MAP) {
            keys = realloc(n->keys, nalloc * sizeof(olla_yaml_t *));
            if (keys == NULL) {
                return -1;
            }

            n->keys = keys;
        }

        n->nalloc = nalloc;
    }

    if (n->type == OLLA_YAML_MAP) {
        n->keys[n->n] = key;
    }

    n->items[n->n++] = value;

    return 0;
}


static olla_yaml_t *
olla_yaml_new(olla_builder_t *b, olla_yaml_type_e type,
    const yaml_mark_t *mark)
{
    olla_yaml_t  *n;

    if (b->nnodes >= OLLA_YAML_MAX_NODES) {
        olla_error(b->ctx, "%s:%zu:%zu: more than %d YAML nodes", b->file,
                   mark->line + 1, mark->column + 1, OLLA_YAML_MAX_NODES);
        return NULL;
    }

    n = calloc(1, sizeof(olla_yaml_t));
    if (n == NULL) {
        olla_error(b->ctx, "%s: out of memory", b->file);
        return NULL;
    }

    b->nnodes++;

    n->type = type;
    n->height = 1;
    n->file = b->file;
    n->line = mark->line + 1;
    n->col = mark->column + 1;

    return n;
}


/* a deep copy for an alias or a merge key at line:col */

static olla_yaml_t *
olla_yaml_copy(olla_builder_t *b, const olla_yaml_t *src, size_t line,
    size_t col)
{
    size_t        i;
    olla_yaml_t  *n, *k, *v;

    if (b->nnodes >= OLLA_YAML_MAX_NODES) {
        olla_error(b->ctx, "%s:%zu:%zu: more than %d YAML nodes after alias "
                   "expansion", b->file, line, col, OLLA_YAML_MAX_NODES);
        return NULL;
    }

    n = calloc(1, sizeof(olla_yaml_t));
    if (n == NULL) {
        goto nomem;
    }

    b->nnodes++;

    n->type = src->type;
    n->plain = src->plain;
    n->height = src->height;
    n->file = src->file;
    n->line = src->line;
    n->col = src->col;

    if (src->type == OLLA_YAML_SCALAR) {
        n->value = malloc(src->len + 1);
        if (n->value == NULL) {
            goto nomem;
        }

        memcpy(n->value, src->value, src->len + 1);
        n->len = src->len;

        return n;
    }

    for (i = 0; i < src->n; i++) {
        k = NULL;

        if (src->type == OLLA_YAML_MAP) {
            k = olla_yaml_copy(b, src->keys[i], line, col);
            if (k == NULL) {
                olla_yaml_free(n);
                return NULL;
            }
        }

        v = olla_yaml_copy(b, src->items[i], line, col);
        if (v == NULL) {
            olla_yaml_free(k);
            olla_yaml_free(n);
            return NULL;
        }

        if (olla_yaml_append(n, k, v) != 0) {
            olla_yaml_free(k);
            olla_yaml_free(v);
            goto nomem;
        }
    }

    return n;

nomem:

    olla_yaml_free(n);
    olla_error(b->ctx, "%s: out of memory", b->file);

    return NULL;
}


/* a plain "", "~" or "null": YAML's null, taken as "not given" */

int
olla_yaml_is_null(const olla_yaml_t *n)
{
    if (n == NULL) {
        return 1;
    }

    if (n->type != OLLA_YAML_SCALAR || !n->plain) {
        return 0;
    }

    return n->len == 0
           || (n->len == 1 && n->value[0] == '~')
           || strcmp(n->value, "null") == 0
           || strcmp(n->value, "Null") == 0
           || strcmp(n->value, "NULL") == 0;
}


const char *
olla_yaml_kind(const olla_yaml_t *n)
{
    if (n->type == OLLA_YAML_MAP) {
        return "a mapping";
    }

    if (n->type == OLLA_YAML_SEQ) {
        return "a list";
    }

    return olla_yaml_is_null(n) ? "null" : "a string";
}


olla_yaml_t *
olla_yaml_find(const olla_yaml_t *map, const char *key, size_t len)
{
    size_t  i;

    if (map == NULL || map->type != OLLA_YAML_MAP) {
        return NULL;
    }

    for (i = 0; i < map->n; i++) {
        if (map->keys[i]->len == len
            && memcmp(map->keys[i]->value, key, len) == 0)
        {
            return map->items[i];
        }
    }

    return NULL;
}


const olla_yaml_t *
olla_yaml_get(const olla_yaml_t *map, const char *key)
{
    return olla_yaml_find(map, key, strlen(key));
}


/* ------------------------------------------------------------ YAML */


int
olla_yaml_parse(const char *file, const char *text, size_t len,
    olla_yaml_t **root, char *err, size_t errlen)
{
    int             rc, done;
    size_t          i;
    olla_ctx_t      ctx;
    yaml_event_t    event;
    yaml_parser_t   parser;
    olla_builder_t  b;

    *root = NULL;

    ctx.err = err;
    ctx.errlen = errlen;

    memset(&b, 0, sizeof(olla_builder_t));
    b.ctx = &ctx;
    b.file = file;

    if (!yaml_parser_initialize(&parser)) {
        olla_error(&ctx, "%s: out of memory", file);
        return -1;
    }

    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);

    rc = 0;
    done = 0;

    while (!done) {

        if (!yaml_parser_parse(&parser, &event)) {
            olla_yaml_parser_error(&ctx, file, &parser, text, len);
            rc = -1;
            break;
        }

        done = (event.type == YAML_STREAM_END_EVENT);

        rc = olla_builder_event(&b, &event);

        yaml_event_delete(&event);

        if (rc != 0) {
            break;
        }
    }

    yaml_parser_delete(&parser);

    if (rc != 0) {
        olla_builder_cleanup(&b);
        return -1;
    }

    for (i = 0; i < b.nanchors; i++) {
        free(b.anchors[i].name);
    }

    free(b.anchors);

    *root = b.root;

    return 0;
}


static void
olla_yaml_parser_error(olla_ctx_t *ctx, const char *file,
    const yaml_parser_t *parser, const char *text, size_t len)
{
    size_t       i, line, col, off;
    const char  *problem;

    problem = parser->problem ? parser->problem : "malformed YAML";

    switch (parser->error) {

    case YAML_MEMORY_ERROR:
        olla_error(ctx, "%s: out of memory", file);
        return;

    case YAML_READER_ERROR:
        /* the reader gives a byte offset, not a mark */
        line = 1;
        col = 1;
        off = parser->problem_offset < len ? parser->problem_offset : len;

        for (i = 0; i < off; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;

            } else if (((unsigned char) text[i] & 0xc0) != 0x80) {
                col++;
            }
        }

        olla_error(ctx, "%s:%zu:%zu: %s (byte 0x%02x)", file, line, col,
                   problem, (unsigned) parser->problem_value & 0xff);
        return;

    default:
        if (parser->context) {
            olla_error(ctx, "%s:%zu:%zu: %s (%s at %zu:%zu)", file,
                       parser->problem_mark.line + 1,
                       parser->problem_mark.column + 1, problem,
                       parser->context, parser->context_mark.line + 1,
                       parser->context_mark.column + 1);
            return;
        }

        olla_error(ctx, "%s:%zu:%zu: %s", file,
                   parser->problem_mark.line + 1,
                   parser->problem_mark.column + 1, problem);
        return;
    }
}


static int
olla_builder_event(olla_builder_t *b, const yaml_event_t *ev)
{
    int                rc;
    char              *anchor;
    size_t             i;
    unsigned           h;
    olla_yaml_t       *node;
    olla_frame_t      *f;
    olla_yaml_type_e   type;
    const char        *name;

    switch (ev->type) {

    case YAML_DOCUMENT_START_EVENT:
        if (++b->ndocs > 1) {
            olla_error(b->ctx, "%s:%zu:%zu: a profile file must hold one "
                       "YAML document, this is a second one", b->file,
                       ev->start_mark.line + 1, ev->start_mark.column + 1);
            return -1;
        }

        return 0;

    case YAML_SCALAR_EVENT:
        node = olla_yaml_new(b, OLLA_YAML_SCALAR, &ev->start_mark);
        if (node == NULL) {
            return -1;
        }

        node->value = malloc(ev->data.scalar.length + 1);
        if (node->value == NULL) {
            olla_yaml_free(node);
            olla_error(b->ctx, "%s: out of memory", b->file);
            return -1;
        }

        memcpy(node->value, ev->data.scalar.value, ev->data.scalar.length);
        node->value[ev->data.scalar.length] = '\0';
        node->len = ev->data.scalar.length;
        node->plain = (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);

        return olla_builder_add(b, node,
                                (const char *) ev->data.scalar.anchor);

    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth == OLLA_YAML_MAX_DEPTH) {
            olla_error(b->ctx, "%s:%zu:%zu: nesting deeper than %d levels",
                       b->file, ev->start_mark.line + 1,
                       ev->start_mark.column + 1, OLLA_YAML_MAX_DEPTH);
            return -1;
        }

        if (ev->type == YAML_SEQUENCE_START_EVENT) {
            type = OLLA_YAML_SEQ;
            name = (const char *) ev->data.sequence_start.anchor;

        } else {
            type = OLLA_YAML_MAP;
            name = (const char *) ev->data.mapping_start.anchor;
        }

        anchor = NULL;

        if (name) {
            anchor = strdup(name);
            if (anchor == NULL) {
                olla_error(b->ctx, "%s: out of memory", b->file);
                return -1;
            }
        }

        node = olla_yaml_new(b, type, &ev->start_mark);
        if (node == NULL) {
            free(anchor);
            return -1;
        }

        f = &b->stack[b->depth++];
        f->node = node;
        f->key = NULL;
        f->anchor = anchor;

        return 0;

    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth == 0) {
            return 0;
        }

        f = &b->stack[--b->depth];
        node = f->node;
        anchor = f->anchor;

        /* a mapping cannot end between a key and its value */
        olla_yaml_free(f->key);

        f->node = NULL;
        f->key = NULL;
        f->anchor = NULL;

        if (node->type == OLLA_YAML_MAP
            && olla_builder_merge_keys(b, node) != 0)
        {
            olla_yaml_free(node);
            free(anchor);
            return -1;
        }

        h = 0;

        for (i = 0; i < node->n; i++) {
            if (node->items[i]->height > h) {
                h = node->items[i]->height;
            }
        }

        node->height = h + 1;

        rc = olla_builder_add(b, node, anchor);
        free(anchor);

        return rc;

    case YAML_ALIAS_EVENT:
        name = (const char *) ev->data.alias.anchor;
        node = NULL;

        for (i = b->nanchors; i > 0; i--) {
            if (strcmp(b->anchors[i - 1].name, name) == 0) {
                node = b->anchors[i - 1].node;
                break;
            }
        }

        if (node == NULL) {
            olla_error(b->ctx, "%s:%zu:%zu: unknown alias *%s", b->file,
                       ev->start_mark.line + 1, ev->start_mark.column + 1,
                       name);
            return -1;
        }

        if (b->depth + node->height > OLLA_YAML_MAX_DEPTH) {
            olla_error(b->ctx, "%s:%zu:%zu: nesting deeper than %d levels",
                       b->file, ev->start_mark.line + 1,
                       ev->start_mark.column + 1, OLLA_YAML_MAX_DEPTH);
            return -1;
        }

        node = olla_yaml_copy(b, node, ev->start_mark.line + 1,
                              ev->start_mark.column + 1);
        if (node == NULL) {
            return -1;
        }

        return olla_builder_add(b, node, NULL);

    default:
        return 0;
    }
}


/* attaches a finished node to the open collection; frees it on error */

static int
olla_builder_add(olla_builder_t *b, olla_yaml_t *node, const char *anchor)
{
    char           buf[OLLA_QUOTE_LEN];
    size_t         i, nalloc;
    olla_frame_t  *f;
    olla_anchor_t *anchors;
    olla_yaml_t   *k;

    if (anchor) {
        if (b->nanchors == b->nanchors_alloc) {
            nalloc = b->nanchors_alloc ? b->nanchors_alloc * 2 : 8;

            anchors = realloc(b->anchors, nalloc * sizeof(olla_anchor_t));
            if (anchors == NULL) {
                goto nomem;
            }

            b->anchors = anchors;
            b->nanchors_alloc = nalloc;
        }

        b->anchors[b->nanchors].name = strdup(anchor);
        if (b->anchors[b->nanchors].name == NULL) {
            goto nomem;
        }

        b->anchors[b->nanchors++].node = node;
    }

    if (b->depth == 0) {
        if (b->root == NULL) {
            b->root = node;

        } else {
            olla_yaml_free(node);
        }

        return 0;
    }

    f = &b->stack[b->depth - 1];

    if (f->node->type == OLLA_YAML_SEQ) {
        if (olla_yaml_append(f->node, NULL, node) != 0) {
            goto nomem;
        }

        return 0;
    }

    if (f->key == NULL) {

        if (node->type != OLLA_YAML_SCALAR) {
            olla_node_error(b->ctx, node, "a mapping key must be a plain "
                            "string, not %s", olla_yaml_kind(node));
            olla_yaml_free(node);
            return -1;
        }

        for (i = 0; i < f->node->n; i++) {
            k = f->node->keys[i];

            if (k->len == node->len
                && memcmp(k->value, node->value, node->len) == 0)
            {
                olla_node_error(b->ctx, node, "duplicate key %s (first at "
                                "%zu:%zu)",
                                olla_yaml_quote(buf, sizeof(buf), node->value,
                                           node->len),
                                k->line, k->col);
                olla_yaml_free(node);
                return -1;
            }
        }

        f->key = node;

        return 0;
    }

    if (olla_yaml_append(f->node, f->key, node) != 0) {
        goto nomem;
    }

    f->key = NULL;

    return 0;

nomem:

    olla_yaml_free(node);
    olla_error(b->ctx, "%s: out of memory", b->file);

    return -1;
}


/*
 * YAML merge keys: "<<: *base" or "<<: [*a, *b]" add the keys of the
 * given mappings that the mapping does not set itself.  The "<<" entry
 * stays (it is an unknown key, ignored by the conversion).
 */

static int
olla_builder_merge_keys(olla_builder_t *b, olla_yaml_t *map)
{
    size_t        i, j;
    olla_yaml_t  *v;

    for (i = 0; i < map->n; i++) {
        if (!map->keys[i]->plain || map->keys[i]->len != 2
            || memcmp(map->keys[i]->value, "<<", 2) != 0)
        {
            continue;
        }

        v = map->items[i];

        if (v->type == OLLA_YAML_MAP) {
            return olla_builder_merge_from(b, map, v, map->keys[i]);
        }

        if (v->type == OLLA_YAML_SEQ) {
            for (j = 0; j < v->n; j++) {
                if (v->items[j]->type != OLLA_YAML_MAP) {
                    olla_node_error(b->ctx, v->items[j], "the merge key "
                                    "\"<<\" takes mappings, not %s",
                                    olla_yaml_kind(v->items[j]));
                    return -1;
                }

                if (olla_builder_merge_from(b, map, v->items[j],
                                            map->keys[i])
                    != 0)
                {
                    return -1;
                }
            }

            return 0;
        }

        olla_node_error(b->ctx, v, "the merge key \"<<\" takes a mapping "
                        "or a list of mappings, not %s", olla_yaml_kind(v));
        return -1;
    }

    return 0;
}


static int
olla_builder_merge_from(olla_builder_t *b, olla_yaml_t *map,
    const olla_yaml_t *src, const olla_yaml_t *at)
{
    size_t        i, n;
    olla_yaml_t  *k, *v;

    n = src->n;

    for (i = 0; i < n; i++) {
        if (olla_yaml_find(map, src->keys[i]->value, src->keys[i]->len)) {
            continue;
        }

        k = olla_yaml_copy(b, src->keys[i], at->line, at->col);
        if (k == NULL) {
            return -1;
        }

        v = olla_yaml_copy(b, src->items[i], at->line, at->col);
        if (v == NULL) {
            olla_yaml_free(k);
            return -1;
        }

        if (olla_yaml_append(map, k, v) != 0) {
            olla_yaml_free(k);
            olla_yaml_free(v);
            olla_error(b->ctx, "%s: out of memory", b->file);
            return -1;
        }
    }

    return 0;
}


static void
olla_builder_cleanup(olla_builder_t *b)
{
    size_t  i;

    for (i = 0; i < b->depth; i++) {
        olla_yaml_free(b->stack[i].node);
        olla_yaml_free(b->stack[i].key);
        free(b->stack[i].anchor);
    }

    for (i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
    }

    free(b->anchors);
    olla_yaml_free(b->root);

    b->depth = 0;
    b->anchors = NULL;
    b->nanchors = 0;
    b->root = NULL;
}


/* ------------------------------------------------------------ merge */


/*
 * Merges over into base: mappings key by key, recursively; any other
 * node of over replaces the node of base.  Consumes over in every case.
 */

int
olla_yaml_merge(olla_yaml_t *base, olla_yaml_t *over, char *err,
    size_t errlen)
{
    int           rc;
    size_t        i, j;
    olla_yaml_t  *k, *v;

    rc = 0;

    for (i = 0; i < over->n; i++) {
        k = over->keys[i];
        v = over->items[i];

        over->keys[i] = NULL;
        over->items[i] = NULL;

        if (rc != 0) {
            olla_yaml_free(k);
            olla_yaml_free(v);
            continue;
        }

        for (j = 0; j < base->n; j++) {
            if (base->keys[j]->len == k->len
                && memcmp(base->keys[j]->value, k->value, k->len) == 0)
            {
                break;
            }
        }

        if (j == base->n) {
            if (olla_yaml_append(base, k, v) != 0) {
                olla_yaml_free(k);
                olla_yaml_free(v);
                olla_yaml_error(err, errlen, NULL, "%s: out of memory",
                                base->file);
                rc = -1;
            }

            continue;
        }

        olla_yaml_free(k);

        if (base->items[j]->type == OLLA_YAML_MAP
            && v->type == OLLA_YAML_MAP)
        {
            rc = olla_yaml_merge(base->items[j], v, err, errlen);
            continue;
        }

        olla_yaml_free(base->items[j]);
        base->items[j] = v;
    }

    over->n = 0;
    olla_yaml_free(over);

    return rc;
}
