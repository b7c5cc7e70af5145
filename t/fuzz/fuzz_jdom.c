
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target: the JSON DOM (src/olla_jdom.c) against jansson.  The
 * input is parsed by both (jansson with JSON_DECODE_ANY | JSON_ALLOW_NUL,
 * as the translator used it): the verdicts must be the same and, when it
 * is valid, the DOM converted to jansson must be json_equal() to
 * jansson's value.  The writer's text of the DOM must load back to the
 * same value and be a fixed point of parse + write, every string written
 * alone must load back to itself (and so must the text the writer copies
 * from the input, and an array's or object's text in the input where the
 * DOM says it is its value, and jansson's compact dump where it says it is
 * that), and an error must have a message and a
 * position inside the input.  The first byte (when the input is longer
 * than one) picks the arena: the caller's buffer or none, and whether the
 * document is parsed again in the same doc.
 *
 * One documented difference: jansson skips a raw NUL byte that follows a
 * number or a literal ("1<NUL>" loads); the DOM rejects it.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "olla_jdom.h"


#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #cond, __FILE__,   \
                    __LINE__);                                               \
            abort();                                                         \
        }                                                                    \
    } while (0)


/*
 * an array's or object's text in the input, when the DOM says it is its
 * value (olla_jdom_text()), loads to the value converted (and the writer
 * copies it as it is)
 */

static json_t *
check_text(const olla_jdom_t *v, json_t *o)
{
    char         *p;
    size_t        n, len;
    json_t       *j;
    const char   *text;
    olla_jout_t   w;

    text = olla_jdom_text(v, &n);

    if (text == NULL) {
        CHECK(v->len == 0 || !(v->flags & OLLA_JDOM_SPAN));
        return o;
    }

    CHECK(v->len > 0 && n >= 2);
    CHECK(text[0] == (v->type == OLLA_JDOM_ARRAY ? '[' : '{'));
    CHECK(text[n - 1] == (v->type == OLLA_JDOM_ARRAY ? ']' : '}'));

    j = json_loadb(text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(j != NULL);
    CHECK(json_equal(j, o));
    json_decref(j);

    if (v->flags & OLLA_JDOM_COMPACT) {
        /* the text is jansson's compact dump of the value, byte for byte */
        p = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
        CHECK(p != NULL && strlen(p) == n && memcmp(p, text, n) == 0);
        free(p);
    }

    olla_jout_init(&w, 0);
    olla_jout_text(&w, v);
    p = olla_jout_finish(&w, &len);
    CHECK(p != NULL && len == n && memcmp(p, text, n) == 0);
    free(p);

    return o;
}


static json_t *
convert(const olla_jdom_t *v)
{
    size_t   i;
    json_t  *o, *e;

    switch (v->type) {

    case OLLA_JDOM_NULL:
        return json_null();

    case OLLA_JDOM_TRUE:
        return json_true();

    case OLLA_JDOM_FALSE:
        return json_false();

    case OLLA_JDOM_NUMBER:
        CHECK(v->len > 0);

        if (v->flags & OLLA_JDOM_INT) {
            return json_integer(olla_jdom_int(v));
        }

        return json_real(olla_jdom_double(v));

    case OLLA_JDOM_STRING:
        CHECK(((v->flags & OLLA_JDOM_HAS_NUL) != 0)
              == (memchr(v->u.str, '\0', v->len) != NULL));
        CHECK(olla_jdom_cstrlen(v) <= v->len);

        return json_stringn(v->u.str, v->len);

    case OLLA_JDOM_ARRAY:
        o = json_array();
        CHECK(o != NULL);

        for (i = 0; i < v->len; i++) {
            CHECK(olla_jdom_at(v, i) == &v->u.items[i]);
            CHECK(json_array_append_new(o, convert(&v->u.items[i])) == 0);
        }

        CHECK(olla_jdom_at(v, v->len) == NULL);

        return check_text(v, o);

    default:
        CHECK(v->type == OLLA_JDOM_OBJECT);

        o = json_object();
        CHECK(o != NULL);

        for (i = 0; i < v->len; i++) {
            /* unique keys, each found where it is */
            CHECK(json_object_getn(o, v->u.members[i].key.u.str,
                                   v->u.members[i].key.len) == NULL);
            CHECK(olla_jdom_get(v, v->u.members[i].key.u.str,
                                v->u.members[i].key.len)
                  == &v->u.members[i].value);

            e = convert(&v->u.members[i].value);
            CHECK(json_object_setn_new(o, v->u.members[i].key.u.str,
                                       v->u.members[i].key.len, e) == 0);
        }

        return check_text(v, o);
    }
}


static char *
written(const olla_jdom_t *v, size_t *len)
{
    char         *p;
    olla_jout_t   o;

    olla_jout_init(&o, 0);
    olla_jout_value(&o, v);
    p = olla_jout_finish(&o, len);
    CHECK(p != NULL);
    CHECK(strlen(p) == *len);

    return p;
}


/* each string written alone loads back to itself */

static void
check_strings(const olla_jdom_t *v)
{
    char         *p, *q;
    size_t        i, len, qlen, rlen;
    json_t       *j;
    const char   *raw;
    olla_jout_t   o;

    if (v->type == OLLA_JDOM_ARRAY) {
        for (i = 0; i < v->len; i++) {
            check_strings(&v->u.items[i]);
        }
    }

    if (v->type == OLLA_JDOM_OBJECT) {
        for (i = 0; i < v->len; i++) {
            check_strings(&v->u.members[i].key);
            check_strings(&v->u.members[i].value);
        }
    }

    if (v->type != OLLA_JDOM_STRING) {
        return;
    }

    olla_jout_init(&o, 0);
    olla_jout_str(&o, v->u.str, v->len);
    p = olla_jout_finish(&o, &len);
    CHECK(p != NULL);

    j = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(json_is_string(j));
    CHECK(json_string_length(j) == v->len);
    CHECK(memcmp(json_string_value(j), v->u.str, v->len) == 0);

    json_decref(j);

    /*
     * the node written as the input wrote it loads back to the same value;
     * when its escapes are the writer's (olla_jdom_raw()), it is the same
     * text as escaped again
     */

    olla_jout_init(&o, 0);
    olla_jout_string(&o, v);
    q = olla_jout_finish(&o, &qlen);
    CHECK(q != NULL);

    j = json_loadb(q, qlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(json_is_string(j));
    CHECK(json_string_length(j) == v->len);
    CHECK(memcmp(json_string_value(j), v->u.str, v->len) == 0);

    raw = olla_jdom_raw(v, &rlen);
    CHECK(raw == NULL || (rlen + 2 == len && memcmp(raw, p + 1, rlen) == 0
                          && qlen == len && memcmp(p, q, len) == 0));
    CHECK(raw != NULL || (v->flags & OLLA_JDOM_ESCAPED));

    json_decref(j);
    free(p);
    free(q);
}


/* the same values, flags and input text */

static void
same(const olla_jdom_t *a, const olla_jdom_t *b)
{
    size_t       i, na, nb;
    const char  *ra, *rb;

    CHECK(a->type == b->type && a->flags == b->flags && a->len == b->len);

    switch (a->type) {

    case OLLA_JDOM_STRING:
    case OLLA_JDOM_NUMBER:
        CHECK(memcmp(a->u.str, b->u.str, a->len) == 0);

        ra = olla_jdom_raw(a, &na);
        rb = olla_jdom_raw(b, &nb);
        CHECK((ra == NULL) == (rb == NULL));
        CHECK(ra == NULL || (na == nb && memcmp(ra, rb, na) == 0));
        break;

    case OLLA_JDOM_ARRAY:
        for (i = 0; i < a->len; i++) {
            same(&a->u.items[i], &b->u.items[i]);
        }

        break;

    case OLLA_JDOM_OBJECT:
        for (i = 0; i < a->len; i++) {
            same(&a->u.members[i].key, &b->u.members[i].key);
            same(&a->u.members[i].value, &b->u.members[i].value);
        }

        break;
    }
}


/*
 * Values taken as written (olla_jdom_path_t) on paths that meet most
 * shapes: "a" of the root, and of any object reached through "b" and ""
 * and array items, is; so is any item of an array reached so.
 */
#define X  OLLA_JDOM_NOKEY

static const olla_jdom_path_t  fuzz_paths[] = {
    { 0, 0, { X, X, X, X } },
    { 2, 0, { { OLLA_JDOM_ASIS, 1, "a" }, { 2, 1, "b" }, { 3, 1, "t" }, X } },
    { OLLA_JDOM_ASIS, 0, { { OLLA_JDOM_ASIS, 1, "c" }, { 1, 0, "" },
                           { 3, 1, "t" }, X } },
    { 3, 1, { { 1, 1, "o" }, X, X, X } }
};

#undef X



/*
 * a (parsed with fuzz_paths, checked) and b (not checked) hold the same
 * values: strings left escaped (OLLA_JDOM_LAZY) unescape to b's, with the
 * same length and flags; what a skipped (OLLA_JDOM_OPAQUE) is not walked
 */

static void
same_lazy(const olla_jdom_t *a, const olla_jdom_t *b)
{
    char         *p, head[64];
    size_t        i, n, len;
    olla_jout_t   o;

    CHECK(a->type == b->type);

    if (a->type == OLLA_JDOM_STRING) {
        CHECK(a->len == b->len);
        CHECK((a->flags & ~OLLA_JDOM_LAZY) == b->flags);

        olla_jout_init(&o, 0);
        olla_jout_unescaped(&o, a);
        p = olla_jout_finish(&o, &len);
        CHECK(p != NULL && len == b->len);
        CHECK(memcmp(p, b->u.str, len) == 0);
        free(p);

        n = olla_jdom_head(a, head, 27);
        CHECK(n == (b->len < 27 ? b->len : 27));
        CHECK(memcmp(head, b->u.str, n) == 0);
        return;
    }

    if (a->flags & OLLA_JDOM_OPAQUE) {
        return;
    }

    CHECK(a->len == b->len);

    if (a->type == OLLA_JDOM_ARRAY) {
        for (i = 0; i < a->len; i++) {
            same_lazy(&a->u.items[i], &b->u.items[i]);
        }

    } else if (a->type == OLLA_JDOM_OBJECT) {
        for (i = 0; i < a->len; i++) {
            same_lazy(&a->u.members[i].value, &b->u.members[i].value);
        }
    }
}


/*
 * Parsed with fuzz_paths, checked or not: what it gives is what the parse
 * without them gives, written out the same in both modes, and the same
 * value (a key given twice inside a value taken as written is written
 * twice: jansson keeps the last, as it did reading the input).
 */

static void
as_written(const char *doc, size_t size, int rc, const olla_jdom_doc_t *d,
    json_t *j)
{
    char             *w, *w2;
    size_t            wlen, wlen2;
    json_t           *back;
    olla_jdom_doc_t   p, q;

    olla_jdom_init(&p, NULL, 0);
    p.paths = fuzz_paths;
    p.npaths = sizeof(fuzz_paths) / sizeof(fuzz_paths[0]);

    CHECK(olla_jdom_parse(&p, doc, size) == rc);

    if (rc != OLLA_JDOM_OK) {
        CHECK(strcmp(p.error, d->error) == 0);
        CHECK(p.position == d->position && p.column == d->column);
        olla_jdom_free(&p);
        return;
    }

    olla_jdom_init(&q, NULL, 0);
    q.paths = fuzz_paths;
    q.npaths = p.npaths;
    q.checked = 1;
    CHECK(olla_jdom_parse(&q, doc, size) == OLLA_JDOM_OK);
    same_lazy(q.root, p.root);

    w = written(p.root, &wlen);
    w2 = written(q.root, &wlen2);
    CHECK(wlen == wlen2 && memcmp(w, w2, wlen) == 0);

    back = json_loadb(w, wlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(back != NULL);
    CHECK(json_equal(back, j));
    json_decref(back);

    free(w);
    free(w2);
    olla_jdom_free(&p);
    olla_jdom_free(&q);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc;
    char              *w, *w2, buf[256], cbuf[256];
    size_t             wlen, wlen2;
    json_t            *j, *c, *back;
    unsigned           mode;
    const char        *doc;
    olla_jdom_doc_t    d, d2;

    mode = (size > 1) ? data[0] : 0;
    doc = (const char *) data + (size > 1);
    size -= (size > 1);

    j = json_loadb(doc, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    if (mode & 1) {
        olla_jdom_init(&d, buf, sizeof(buf));

    } else {
        olla_jdom_init(&d, NULL, 0);
    }

    if (mode & 2) {
        /* something else first: the doc is reused */
        (void) olla_jdom_parse(&d, "{\"a\":[1,\"b\\n\"]}", 15);
    }

    rc = olla_jdom_parse(&d, doc, size);
    CHECK(rc == OLLA_JDOM_OK || rc == OLLA_JDOM_ERROR);

    if (rc != OLLA_JDOM_OK && j != NULL && memchr(doc, '\0', size) != NULL) {
        /* jansson skipped a raw NUL */
        rc = OLLA_JDOM_ERROR;
        json_decref(j);
        j = NULL;
        goto done;
    }

    CHECK((rc == OLLA_JDOM_OK) == (j != NULL));

    as_written(doc, size, rc, &d, j);

    if (rc != OLLA_JDOM_OK) {
        CHECK(d.root == NULL);
        CHECK(d.error[0] != '\0');
        CHECK(strlen(d.error) < OLLA_JDOM_ERRLEN);
        CHECK(d.position <= size);
        CHECK(d.line >= 1 && d.column <= size);
        goto done;
    }

    c = convert(d.root);
    CHECK(json_equal(c, j));
    json_decref(c);

    w = written(d.root, &wlen);

    back = json_loadb(w, wlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(back != NULL);
    CHECK(json_equal(back, j));
    json_decref(back);

    olla_jdom_init(&d2, NULL, 0);
    CHECK(olla_jdom_parse(&d2, w, wlen) == OLLA_JDOM_OK);
    w2 = written(d2.root, &wlen2);
    CHECK(wlen == wlen2 && memcmp(w, w2, wlen) == 0);
    free(w2);
    olla_jdom_free(&d2);
    free(w);

    check_strings(d.root);

    /* valid: parsed as a body the routing scan read, the same document */

    olla_jdom_init(&d2, (mode & 4) ? cbuf : NULL,
                   (mode & 4) ? sizeof(cbuf) : 0);
    d2.checked = 1;
    CHECK(olla_jdom_parse(&d2, doc, size) == OLLA_JDOM_OK);
    same(d2.root, d.root);
    olla_jdom_free(&d2);

done:

    json_decref(j);
    olla_jdom_free(&d);

    return 0;
}
