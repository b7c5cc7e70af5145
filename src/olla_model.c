
/*
 * Copyright (C) ngx_olla_dmr_module authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "olla_model.h"


static int olla_model_space(int c);
static char *olla_model_dup(const char *p, size_t len);


static int
olla_model_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


size_t
olla_model_normalise(const char *in, size_t len, char *out, size_t cap)
{
    size_t       i, n, tag, slash;
    const char  *p, *last;
    char         c;

#define OLLA_PUT(ch)                                                          \
    do {                                                                      \
        if (n + 1 < cap) {                                                    \
            out[n] = (ch);                                                    \
        }                                                                     \
        n++;                                                                  \
    } while (0)

    while (len && olla_model_space((unsigned char) *in)) {
        in++;
        len--;
    }

    while (len && olla_model_space((unsigned char) in[len - 1])) {
        len--;
    }

    n = 0;
    p = in;
    last = in + len;

    if (len >= 6 && strncasecmp(p, "hf.co/", 6) == 0) {
        for (i = 0; i < sizeof("huggingface.co/") - 1; i++) {
            OLLA_PUT("huggingface.co/"[i]);
        }

        p += 6;
    }

    slash = 0;
    tag = 0;

    for (i = 0; i < (size_t) (last - in); i++) {
        if (in[i] == '/') {
            slash = 1;
            tag = 0;

        } else if (in[i] == ':') {
            tag = 1;
        }
    }

    if (!slash) {
        OLLA_PUT('a');
        OLLA_PUT('i');
        OLLA_PUT('/');
    }

    for ( /* void */ ; p < last; p++) {
        c = *p;

        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }

        OLLA_PUT(c);
    }

    if (!tag) {
        for (i = 0; i < sizeof(":latest") - 1; i++) {
            OLLA_PUT(":latest"[i]);
        }
    }

    if (cap) {
        out[n < cap ? n : cap - 1] = '\0';
    }

#undef OLLA_PUT

    return n;
}


static char *
olla_model_dup(const char *p, size_t len)
{
    char  *s;

    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, p, len);
    s[len] = '\0';

    return s;
}


/* a positive integer member that fits 32 bits, else 0 */

static uint32_t
olla_model_u32(json_t *v)
{
    json_int_t  n;

    if (!json_is_integer(v)) {
        return 0;
    }

    n = json_integer_value(v);

    return (n > 0 && n <= (json_int_t) UINT32_MAX) ? (uint32_t) n : 0;
}


static uint32_t
olla_model_context(json_t *item)
{
    uint32_t  n;

    n = olla_model_u32(json_object_get(item, "context_window"));

    if (n == 0) {
        n = olla_model_u32(json_object_get(json_object_get(item, "dmr"),
                                           "context_window"));
    }

    if (n == 0) {
        n = olla_model_u32(json_object_get(json_object_get(item, "meta"),
                                           "n_ctx_train"));
    }

    if (n == 0) {
        n = olla_model_u32(json_object_get(item, "max_model_len"));
    }

    return n;
}


int
olla_models_parse(const char *body, size_t len, olla_model_list_t *list,
    char *err, size_t errlen)
{
    char          norm[OLLA_MODEL_MAX_ID + 64];
    size_t        i, n, size, idlen, nlen;
    json_t       *root, *data, *item, *id;
    json_error_t  jerr;
    olla_model_t *m;
    const char   *ids;

    list->items = NULL;
    list->n = 0;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "model list is not valid JSON: %s",
                 jerr.text);
        return -1;
    }

    if (!json_is_object(root)) {
        snprintf(err, errlen, "model list is not a JSON object");
        json_decref(root);
        return -1;
    }

    data = json_object_get(root, "data");

    if (!json_is_array(data)) {
        snprintf(err, errlen, "model list has no \"data\" array");
        json_decref(root);
        return -1;
    }

    /* the cap is on the models kept, not on the entries looked at */

    size = json_array_size(data);
    n = size < OLLA_MODEL_MAX_LIST ? size : OLLA_MODEL_MAX_LIST;

    if (n) {
        list->items = calloc(n, sizeof(olla_model_t));
        if (list->items == NULL) {
            snprintf(err, errlen, "out of memory");
            json_decref(root);
            return -1;
        }
    }

    for (i = 0; i < size && list->n < n; i++) {
        item = json_array_get(data, i);
        id = json_object_get(item, "id");

        if (!json_is_string(id)) {
            continue;
        }

        ids = json_string_value(id);
        idlen = json_string_length(id);

        if (idlen == 0 || idlen > OLLA_MODEL_MAX_ID) {
            continue;
        }

        m = &list->items[list->n];

        nlen = olla_model_normalise(ids, idlen, norm, sizeof(norm));

        m->id = olla_model_dup(ids, idlen);
        m->id_len = idlen;
        m->norm = olla_model_dup(norm, nlen);
        m->norm_len = nlen;
        m->json = json_dumps(item, JSON_COMPACT);

        if (m->id == NULL || m->norm == NULL || m->json == NULL) {
            list->n++;
            olla_models_free(list);
            json_decref(root);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        m->json_len = strlen(m->json);
        m->created = json_is_integer(json_object_get(item, "created"))
                     ? json_integer_value(json_object_get(item, "created"))
                     : 0;
        m->context_window = olla_model_context(item);
        list->n++;
    }

    json_decref(root);

    return 0;
}


void
olla_models_free(olla_model_list_t *list)
{
    size_t  i;

    for (i = 0; i < list->n; i++) {
        free(list->items[i].id);
        free(list->items[i].norm);
        free(list->items[i].json);
    }

    free(list->items);
    list->items = NULL;
    list->n = 0;
}


size_t
olla_models_pack_size(const olla_model_list_t *list)
{
    size_t  i, size;

    size = 0;

    for (i = 0; i < list->n; i++) {
        size += sizeof(int64_t) + 4 * sizeof(uint32_t) + list->items[i].id_len
                + list->items[i].norm_len + list->items[i].json_len;
    }

    return size;
}


void
olla_models_pack(const olla_model_list_t *list, unsigned char *dst)
{
    size_t         i;
    uint32_t       l;
    olla_model_t  *m;

    for (i = 0; i < list->n; i++) {
        m = &list->items[i];

        memcpy(dst, &m->created, sizeof(int64_t));
        dst += sizeof(int64_t);
        memcpy(dst, &m->context_window, sizeof(uint32_t));
        dst += sizeof(uint32_t);

        l = (uint32_t) m->id_len;
        memcpy(dst, &l, sizeof(l));
        memcpy(dst + sizeof(l), m->id, l);
        dst += sizeof(l) + l;

        l = (uint32_t) m->norm_len;
        memcpy(dst, &l, sizeof(l));
        memcpy(dst + sizeof(l), m->norm, l);
        dst += sizeof(l) + l;

        l = (uint32_t) m->json_len;
        memcpy(dst, &l, sizeof(l));
        memcpy(dst + sizeof(l), m->json, l);
        dst += sizeof(l) + l;
    }
}


int
olla_models_next(const unsigned char *blob, size_t len, size_t *pos,
    olla_model_ref_t *m)
{
    size_t         p;
    uint32_t       l[3];
    const char    *s[3];
    int            k;

    p = *pos;

    if (p > len || len - p < sizeof(int64_t) + sizeof(uint32_t)) {
        return 0;
    }

    memcpy(&m->created, blob + p, sizeof(int64_t));
    p += sizeof(int64_t);
    memcpy(&m->context_window, blob + p, sizeof(uint32_t));
    p += sizeof(uint32_t);

    for (k = 0; k < 3; k++) {
        if (p > len || len - p < sizeof(uint32_t)) {
            return 0;
        }

        memcpy(&l[k], blob + p, sizeof(uint32_t));
        p += sizeof(uint32_t);

        if (len - p < l[k]) {
            return 0;
        }

        s[k] = (const char *) blob + p;
        p += l[k];
    }

    m->id = s[0];
    m->id_len = l[0];
    m->norm = s[1];
    m->norm_len = l[1];
    m->json = s[2];
    m->json_len = l[2];

    *pos = p;

    return 1;
}


int
olla_models_has(const unsigned char *blob, size_t len, const char *norm,
    size_t norm_len)
{
    size_t            pos;
    olla_model_ref_t  m;

    pos = 0;

    while (olla_models_next(blob, len, &pos, &m)) {
        if (m.norm_len == norm_len && memcmp(m.norm, norm, norm_len) == 0) {
            return 1;
        }
    }

    return 0;
}


size_t
olla_model_owner(const char *id, size_t len, const char **owner)
{
    const char  *slash;

    /* memchr() must not see a NULL pointer, even with a zero length */
    slash = len ? memchr(id, '/', len) : NULL;

    if (slash == NULL || slash == id) {
        *owner = "docker";
        return sizeof("docker") - 1;
    }

    *owner = id;
    return (size_t) (slash - id);
}


size_t
olla_header_value(const char *in, size_t len, char *out, size_t cap)
{
    size_t         i, n;
    int            space;
    unsigned char  c;

    n = 0;
    space = 0;

    if (cap == 0) {
        return 0;
    }

    for (i = 0; i < len && n + 1 < cap; i++) {
        c = (unsigned char) in[i];

        if (c == ' ' || c == '\t') {
            space = 1;
            continue;
        }

        if (c < 0x21 || c > 0x7e) {
            continue;
        }

        if (space && n) {
            if (n + 2 >= cap) {
                break;
            }

            out[n++] = ' ';
        }

        space = 0;
        out[n++] = (char) c;
    }

    out[n] = '\0';

    return n;
}


int
olla_request_id_valid(const char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > 128) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) p[i] < 0x21 || (unsigned char) p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}
