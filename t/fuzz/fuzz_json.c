
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target for the JSON scanner (src/olla_json.c).  The input is
 * the document.  It is scanned whole, split in two at a position taken
 * from the input, split in three with a small model buffer (truncation),
 * and one byte at a time (short inputs): verdict, message, error offset
 * and fields must be the same every time.  The verdict and the model are
 * compared with jansson's, except for the documented differences (see
 * t/unit/test_json.c): top-level arrays (jansson accepts them), numbers
 * beyond a double (jansson rejects them), "\u0000" in a member name
 * (jansson rejects it), a raw NUL byte after a number or a literal
 * (jansson skips it), nesting deeper than 512 (jansson allows 2048).
 *
 * The fast paths are held to the byte machine: the scanner built with
 * OLLA_JSON_NO_FAST, with SSE2 only and without SIMD (t/unit/json_*.c)
 * must agree with it on everything, the conversation's opening included
 * (fields that hash it: "system" and "messages"), fed whole and in
 * pieces.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "olla_json.h"
#include "json_variants.h"


#define NF  3


typedef struct {
    int                 rc;
    char                err[160];
    size_t              err_offset;
    olla_json_field_t   f[NF];
} result_t;


static const char  *keys[NF] = { "model", "stream", "max_tokens" };


static void
die(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_json: %s (%zu bytes)\n", what, size);
    abort();
}


static void
scan(result_t *r, const uint8_t *data, size_t size, const size_t *cuts,
    size_t ncuts, char *model, size_t model_cap, size_t max_depth)
{
    int                rc;
    size_t             i, pos, next;
    olla_json_scan_t   s;
    static char        other[NF - 1][32];

    memset(r, 0, sizeof(result_t));

    for (i = 0; i < NF; i++) {
        r->f[i].key = keys[i];
        r->f[i].key_len = strlen(keys[i]);
        r->f[i].value = i ? other[i - 1] : model;
        r->f[i].cap = i ? sizeof(other[0]) : model_cap;
    }

    olla_json_scan_init(&s, r->f, NF, max_depth);

    rc = OLLA_JSON_OK;
    pos = 0;

    for (i = 0; i <= ncuts; i++) {
        next = (i < ncuts) ? cuts[i] : size;

        if (olla_json_scan_feed(&s, (const char *) data + pos, next - pos)
            != OLLA_JSON_OK)
        {
            rc = OLLA_JSON_ERROR;
        }

        pos = next;
    }

    if (olla_json_scan_end(&s) != OLLA_JSON_OK) {
        rc = OLLA_JSON_ERROR;
    }

    r->rc = rc;

    if (rc != OLLA_JSON_OK) {
        if (s.err[0] == '\0' || s.err_offset > size) {
            die("error without a message or with a bad offset", data, size);
        }

        memcpy(r->err, s.err, sizeof(r->err));
        r->err_offset = s.err_offset;
    }
}


static void
same(const result_t *a, const result_t *b, int prefix_only,
    const uint8_t *data, size_t size)
{
    size_t  i, n;

    if (a->rc != b->rc || strcmp(a->err, b->err) != 0
        || a->err_offset != b->err_offset)
    {
        fprintf(stderr, "%d \"%s\" @%zu vs %d \"%s\" @%zu\n", a->rc, a->err,
                a->err_offset, b->rc, b->err, b->err_offset);
        die("verdicts differ between feeding patterns", data, size);
    }

    if (a->rc != OLLA_JSON_OK) {
        return;
    }

    for (i = 0; i < NF; i++) {
        const olla_json_field_t  *x = &a->f[i], *y = &b->f[i];

        if (x->type != y->type || x->len != y->len || x->count != y->count
            || x->start != y->start || x->end != y->end
            || x->elements != y->elements)
        {
            die("fields differ between feeding patterns", data, size);
        }

        n = x->len;

        if (n > x->cap) {
            n = x->cap;
        }

        if (n > y->cap) {
            n = y->cap;
        }

        if ((!prefix_only && x->truncated != y->truncated)
            || memcmp(x->value, y->value, n) != 0)
        {
            die("values differ between feeding patterns", data, size);
        }
    }
}


static void
check_fields(const result_t *r, const uint8_t *data, size_t size)
{
    size_t                    i, n;
    const olla_json_field_t  *f;

    if (r->rc != OLLA_JSON_OK) {
        return;
    }

    for (i = 0; i < NF; i++) {
        f = &r->f[i];

        if (f->type == OLLA_JSON_NONE) {
            if (f->count != 0 || f->len != 0 || f->elements != 0) {
                die("absent field with a count", data, size);
            }

            continue;
        }

        if (f->elements != 0 && f->type != OLLA_JSON_OBJECT
            && f->type != OLLA_JSON_ARRAY)
        {
            die("elements of a scalar", data, size);
        }

        if (f->count == 0 || f->start >= f->end || f->end > size) {
            die("bad field offsets", data, size);
        }

        n = f->end - f->start;

        switch (f->type) {

        case OLLA_JSON_STRING:
            if (data[f->start] != '"' || data[f->end - 1] != '"' || n < 2) {
                die("string offsets do not frame the token", data, size);
            }

            break;

        case OLLA_JSON_NUMBER:
            if (f->len != n || (!f->truncated
                                && memcmp(f->value, data + f->start, n) != 0))
            {
                die("number text differs from the token", data, size);
            }

            break;

        case OLLA_JSON_TRUE:
        case OLLA_JSON_FALSE:
        case OLLA_JSON_NULL:
            if (n != (f->type == OLLA_JSON_FALSE ? 5u : 4u)
                || memcmp(data + f->start,
                          f->type == OLLA_JSON_TRUE ? "true"
                          : f->type == OLLA_JSON_FALSE ? "false" : "null", n)
                   != 0)
            {
                die("literal offsets", data, size);
            }

            break;

        case OLLA_JSON_OBJECT:
            if (data[f->start] != '{' || data[f->end - 1] != '}') {
                die("object offsets", data, size);
            }

            break;

        case OLLA_JSON_ARRAY:
            if (data[f->start] != '[' || data[f->end - 1] != ']') {
                die("array offsets", data, size);
            }

            break;

        default:
            die("bad type", data, size);
        }
    }
}


static void
differential(const result_t *r, const char *model, const uint8_t *data,
    size_t size)
{
    int            ours;
    json_t        *root, *m;
    json_error_t   e;

    ours = (r->rc == OLLA_JSON_OK);

    root = json_loadb((const char *) data, size,
                      JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);

    if (root == NULL) {
        if (json_error_code(&e) == json_error_numeric_overflow
            || strstr(e.text, "NUL byte in object key") != NULL
            || (!ours && strstr(r->err, "nested deeper") != NULL))
        {
            return;
        }

        if (ours) {
            fprintf(stderr, "jansson: %s\n", e.text);
            die("valid for us, invalid for jansson", data, size);
        }

        return;
    }

    if (memchr(data, '\0', size) != NULL) {
        /* jansson skips a NUL byte after a number or a literal */
        json_decref(root);

        if (ours || strstr(r->err, "0x00") == NULL) {
            die("a raw NUL byte", data, size);
        }

        return;
    }

    if (!json_is_object(root)) {
        json_decref(root);

        if (ours || strcmp(r->err, "request body must be a JSON object")
                    != 0)
        {
            die("top-level array", data, size);
        }

        return;
    }

    if (!ours) {
        json_decref(root);

        if (strstr(r->err, "nested deeper") != NULL) {
            return;
        }

        fprintf(stderr, "ours: %s @%zu\n", r->err, r->err_offset);
        die("invalid for us, valid for jansson", data, size);
    }

    m = json_object_get(root, "model");

    if (m == NULL) {
        if (r->f[0].type != OLLA_JSON_NONE) {
            die("model found but jansson has none", data, size);
        }

    } else if (json_is_string(m)) {
        if (r->f[0].type != OLLA_JSON_STRING || r->f[0].truncated
            || r->f[0].len != json_string_length(m)
            || memcmp(model, json_string_value(m), r->f[0].len) != 0)
        {
            die("model differs from jansson's", data, size);
        }

    } else if ((json_is_array(m) && r->f[0].elements != json_array_size(m))
               || (json_is_object(m)
                   && r->f[0].elements < json_object_size(m)))
    {
        /* an object's repeated names count each time for us */
        die("model elements differ from jansson's", data, size);

    } else if (r->f[0].type != (json_is_object(m) ? OLLA_JSON_OBJECT
                                : json_is_array(m) ? OLLA_JSON_ARRAY
                                : json_is_true(m) ? OLLA_JSON_TRUE
                                : json_is_false(m) ? OLLA_JSON_FALSE
                                : json_is_null(m) ? OLLA_JSON_NULL
                                : OLLA_JSON_NUMBER))
    {
        die("model type differs from jansson's", data, size);
    }

    json_decref(root);
}


/* ------------------------------------------------------------------------
 * the fast paths against the byte machine
 */

#define VF  6

typedef struct {
    void  (*init)(olla_json_scan_t *s, olla_json_field_t *fields,
                  size_t nfields, size_t max_depth);
    int   (*feed)(olla_json_scan_t *s, const char *p, size_t n);
    int   (*end)(olla_json_scan_t *s);
} variant_t;


typedef struct {
    int                 rc;
    char                err[160];
    size_t              err_offset;
    uint64_t            opening;
    olla_json_field_t   f[VF];
    char                buf[VF][16];
} vresult_t;


static const char  *vkeys[VF] = {
    "model", "stream", "max_tokens", "messages", "system", "tools"
};

static const unsigned  vopen[VF] = {
    OLLA_JSON_OPENING_NONE, OLLA_JSON_OPENING_NONE, OLLA_JSON_OPENING_NONE,
    OLLA_JSON_OPENING_TURNS, OLLA_JSON_OPENING_ALL, OLLA_JSON_OPENING_NONE
};


static void
vscan(const variant_t *v, vresult_t *r, const uint8_t *data, size_t size,
    size_t piece)
{
    size_t            i, pos, n;
    olla_json_scan_t  s;

    memset(r, 0, sizeof(vresult_t));

    for (i = 0; i < VF; i++) {
        r->f[i].key = vkeys[i];
        r->f[i].key_len = strlen(vkeys[i]);
        r->f[i].value = r->buf[i];
        r->f[i].cap = (i < 3) ? sizeof(r->buf[i]) : 0;
        r->f[i].opening = vopen[i];
    }

    v->init(&s, r->f, VF, 64);
    r->rc = OLLA_JSON_OK;

    for (pos = 0; pos < size; pos += n) {
        n = (piece && piece < size - pos) ? piece : size - pos;

        if (v->feed(&s, (const char *) data + pos, n) != OLLA_JSON_OK) {
            r->rc = OLLA_JSON_ERROR;
        }
    }

    if (v->end(&s) != OLLA_JSON_OK) {
        r->rc = OLLA_JSON_ERROR;
    }

    r->opening = s.opening;

    if (r->rc != OLLA_JSON_OK) {
        memcpy(r->err, s.err, sizeof(r->err));
        r->err_offset = s.err_offset;
    }
}


static void
vsame(const vresult_t *a, const vresult_t *b, const uint8_t *data,
    size_t size)
{
    size_t                    i, n;
    const olla_json_field_t  *x, *y;

    if (a->rc != b->rc || strcmp(a->err, b->err) != 0
        || a->err_offset != b->err_offset)
    {
        fprintf(stderr, "%d \"%s\" @%zu vs the machine's %d \"%s\" @%zu\n",
                a->rc, a->err, a->err_offset, b->rc, b->err, b->err_offset);
        die("a fast path and the machine differ", data, size);
    }

    if (a->rc != OLLA_JSON_OK) {
        return;
    }

    if (a->opening != b->opening) {
        die("the opening differs from the machine's", data, size);
    }

    for (i = 0; i < VF; i++) {
        x = &a->f[i];
        y = &b->f[i];
        n = x->len < x->cap ? x->len : x->cap;

        if (x->type != y->type || x->len != y->len
            || x->truncated != y->truncated || x->count != y->count
            || x->start != y->start || x->end != y->end
            || x->elements != y->elements
            || memcmp(x->value, y->value, n) != 0)
        {
            die("a field differs from the machine's", data, size);
        }
    }
}


static void
variants(const uint8_t *data, size_t size, size_t cut)
{
    size_t           i, k;
    vresult_t        ref, r;
    static const variant_t  v[] = {
        { olla_json_scan_init, olla_json_scan_feed, olla_json_scan_end },
        { olla_json_sse2_scan_init, olla_json_sse2_scan_feed,
          olla_json_sse2_scan_end },
        { olla_json_scalar_scan_init, olla_json_scalar_scan_feed,
          olla_json_scalar_scan_end }
    };
    static const variant_t  machine = {
        olla_json_ref_scan_init, olla_json_ref_scan_feed,
        olla_json_ref_scan_end
    };
    const size_t     pieces[] = { 0, 64, cut % 97 + 1 };

    vscan(&machine, &ref, data, size, 0);

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            vscan(&v[i], &r, data, size, pieces[k]);
            vsame(&r, &ref, data, size);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         *model, *model2, small[7];
    size_t        i, cut, cuts[2], *bytes;
    result_t      whole, r, d;

    model = malloc(size + 1);
    model2 = malloc(size + 1);

    if (model == NULL || model2 == NULL) {
        abort();
    }

    /* whole, at the deepest nesting allowed */

    scan(&whole, data, size, NULL, 0, model, size + 1, 512);
    check_fields(&whole, data, size);

    /* split in two where the input says */

    cut = size ? ((size_t) data[0] * 256 + data[size - 1]) % (size + 1) : 0;
    scan(&r, data, size, &cut, 1, model2, size + 1, 512);
    same(&whole, &r, 0, data, size);

    /* split in three, with a small model buffer */

    cuts[0] = cut / 2;
    cuts[1] = cut + (size - cut) / 3;
    scan(&r, data, size, cuts, 2, small, sizeof(small), 512);
    same(&whole, &r, 1, data, size);

    if (whole.rc == OLLA_JSON_OK && whole.f[0].len > sizeof(small)
        && !r.f[0].truncated)
    {
        die("long model not truncated", data, size);
    }

    /* one byte at a time */

    if (size > 1 && size <= 4096) {
        bytes = malloc((size - 1) * sizeof(size_t));

        if (bytes == NULL) {
            abort();
        }

        for (i = 0; i < size - 1; i++) {
            bytes[i] = i + 1;
        }

        scan(&r, data, size, bytes, size - 1, model2, size + 1, 512);
        same(&whole, &r, 0, data, size);
        free(bytes);
    }

    /* the default depth only adds a depth error */

    scan(&d, data, size, NULL, 0, model2, size + 1, 0);

    if (d.rc != whole.rc
        && strcmp(d.err, "JSON nested deeper than 128 levels") != 0)
    {
        die("default depth", data, size);
    }

    differential(&whole, model, data, size);

    variants(data, size, cut);

    free(model);
    free(model2);

    return 0;
}
