
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
    size_t       i, n, k, tag, slash;
    const char  *p, *last;
    char         c;

    /*
     * n counts every byte of the name; those that fit before the NUL
     * (n + 1 < cap) are written: OLLA_ROOM() of the next len of them
     */

#define OLLA_ROOM(len)                                                        \
    ((n + 1 < cap) ? ((len) < cap - 1 - n ? (len) : cap - 1 - n) : 0)

#define OLLA_PUTS(s, len)                                                     \
    do {                                                                      \
        k = OLLA_ROOM(len);                                                   \
                                                                              \
        if (k) {                                                              \
            memcpy(out + n, s, k);                                            \
        }                                                                     \
                                                                              \
        n += (len);                                                           \
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

    if (len >= 6 && (p[0] | 0x20) == 'h' && strncasecmp(p, "hf.co/", 6) == 0)
    {
        OLLA_PUTS("huggingface.co/", sizeof("huggingface.co/") - 1);
        p += 6;
    }

    slash = 0;
    tag = 0;

    for (i = 0; i < len; i++) {
        if (in[i] == '/') {
            slash = 1;
            tag = 0;

        } else if (in[i] == ':') {
            tag = 1;
        }
    }

    if (!slash) {
        OLLA_PUTS("ai/", 3);
    }

    /* the name in lowercase */

    k = OLLA_ROOM((size_t) (last - p));

    for (i = 0; i < k; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }

        out[n + i] = c;
    }

    n += last - p;

    if (!tag) {
        OLLA_PUTS(":latest", sizeof(":latest") - 1);
    }

    if (cap) {
        out[n < cap ? n : cap - 1] = '\0';
    }

#undef OLLA_PUTS
#undef OLLA_ROOM

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


/*
 * The compact form of a model's JSON object.  A value is a tag byte and
 * what the tag needs; an object's member is a key byte (an index into
 * olla_model_keys, or OLLA_MK_LITERAL and the key's bytes) and a value.
 * Lengths and counts are LEB128 varints, integers zigzag varints.
 */

#define OLLA_MT_NULL        0
#define OLLA_MT_TRUE        1
#define OLLA_MT_FALSE       2
#define OLLA_MT_INT         3     /* zigzag varint */
#define OLLA_MT_REAL        4     /* varint length, jansson's text */
#define OLLA_MT_STR         5     /* varint length, bytes */
#define OLLA_MT_ID          6     /* the record's id */
#define OLLA_MT_CREATED     7     /* the record's created */
#define OLLA_MT_ARRAY       8     /* varint count, values */
#define OLLA_MT_OBJECT      9     /* varint count, members */
#define OLLA_MT_WORD        16    /* + index into olla_model_words */

#define OLLA_MK_LITERAL     0xff  /* varint length, bytes */

#define OLLA_MODEL_DEPTH    16    /* containers nested in an object */
#define OLLA_MODEL_SHORT    128   /* a minimal object's longest string */

/* the encoder's modes, from the most faithful */
#define OLLA_ENC_FULL       0
#define OLLA_ENC_KNOWN      1
#define OLLA_ENC_MINIMAL    2

/* OLLA_ENC_MINIMAL keeps the first OLLA_MK_MINIMAL keys */
#define OLLA_MK_MINIMAL     4


/*
 * Keys of the lists the module meets: OpenAI's model object, DMR's "dmr"
 * metadata, llama-server's "meta" and router status, vLLM's permissions,
 * Ollama and LM Studio.  Append only: the order is the stored form.
 */

static const char  *olla_model_keys[] = {
    "id", "object", "created", "owned_by",
    "dmr", "context_window", "architecture", "parameters", "quantization",
    "size",
    "meta", "vocab_type", "n_vocab", "n_ctx_train", "n_embd", "n_params",
    "aliases", "tags", "status", "value", "args", "in_cache", "path",
    "root", "parent", "max_model_len", "permission", "allow_create_engine",
    "allow_sampling", "allow_logprobs", "allow_search_indices",
    "allow_view", "allow_fine_tuning", "organization", "group",
    "is_blocking",
    "name", "model", "modified_at", "digest", "details", "format", "family",
    "families", "parameter_size", "quantization_level", "parent_model",
    "type", "publisher", "arch", "compatibility_type", "state",
    "max_context_length", "loaded_context_length", "capabilities",
    "description", "format_version", "context_size", "gguf", "config"
};

/* values that repeat in every list */

static const char  *olla_model_words[] = {
    "model", "docker", "library", "list", "llama", "gguf", "*", "llamacpp",
    "vllm", "system", "organization_owner", "loaded", "unloaded",
    "not-loaded", "loading", "llm", "vlm", "embeddings", "safetensors",
    "Q4_K_M", "Q4_0", "Q8_0", "F16", "BF16", "MXFP4", "IQ2_XXS/Q4_K_M",
    "qwen2", "qwen3", "gemma3", "phi3", "mistral", "lmstudio-community",
    "openai", "huggingface", "ai", "unsloth", "bartowski",
    "model_permission"
};


typedef struct {
    unsigned char  *p;
    size_t          len;
    size_t          cap;
    int             failed;      /* out of memory */
} olla_mbuf_t;


typedef struct {
    char           *out;
    size_t          cap;
    size_t          len;
} olla_mout_t;


static uint32_t olla_model_u32(json_t *v);
static uint32_t olla_model_context(json_t *item);
static int olla_model_encode(olla_model_t *m, json_t *item);
static int olla_model_enc_value(olla_mbuf_t *b, json_t *v,
    const olla_model_t *m, unsigned mode, unsigned depth);
static int olla_model_keep(const char *key, size_t klen, json_t *v,
    unsigned mode, unsigned depth);
static int olla_model_key_index(const char *key, size_t klen,
    size_t limit);
static unsigned olla_model_depth(json_t *v, unsigned limit);
static void olla_mbuf_put(olla_mbuf_t *b, const void *data, size_t n);
static void olla_mbuf_byte(olla_mbuf_t *b, unsigned c);
static void olla_mbuf_varint(olla_mbuf_t *b, uint64_t v);
static int olla_model_varint(const unsigned char **p,
    const unsigned char *end, uint64_t *v);
static uint32_t olla_model_get32(const unsigned char *p);
static void olla_model_put32(unsigned char *p, uint32_t v);
static const unsigned char *olla_model_render(olla_mout_t *w,
    const unsigned char *p, const unsigned char *end,
    const olla_model_ref_t *m, unsigned depth);
static void olla_mout(olla_mout_t *w, const char *s, size_t n);
static void olla_mout_string(olla_mout_t *w, const char *s, size_t n);
static void olla_mout_int(olla_mout_t *w, int64_t v);


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
        m->created = json_is_integer(json_object_get(item, "created"))
                     ? json_integer_value(json_object_get(item, "created"))
                     : 0;
        m->context_window = olla_model_context(item);

        if (m->id == NULL || m->norm == NULL || m->json == NULL
            || olla_model_encode(m, item) != 0)
        {
            list->n++;
            olla_models_free(list);
            json_decref(root);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        m->json_len = strlen(m->json);
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
        free(list->items[i].rec);
    }

    free(list->items);
    list->items = NULL;
    list->n = 0;
}


/* ------------------------------------------------------------ encoding */

static void
olla_mbuf_put(olla_mbuf_t *b, const void *data, size_t n)
{
    size_t          cap;
    unsigned char  *p;

    if (b->failed) {
        return;
    }

    if (b->cap - b->len < n) {
        cap = b->cap ? b->cap : 128;

        while (cap - b->len < n) {
            cap *= 2;
        }

        p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }

        b->p = p;
        b->cap = cap;
    }

    if (n) {
        memcpy(b->p + b->len, data, n);
        b->len += n;
    }
}


static void
olla_mbuf_byte(olla_mbuf_t *b, unsigned c)
{
    unsigned char  ch;

    ch = (unsigned char) c;
    olla_mbuf_put(b, &ch, 1);
}


static void
olla_mbuf_varint(olla_mbuf_t *b, uint64_t v)
{
    size_t         n;
    unsigned char  buf[10];

    n = 0;

    do {
        buf[n] = (unsigned char) (v & 0x7f);
        v >>= 7;

        if (v) {
            buf[n] |= 0x80;
        }

        n++;
    } while (v);

    olla_mbuf_put(b, buf, n);
}


static uint64_t
olla_model_zigzag(int64_t v)
{
    return v < 0 ? ~((uint64_t) v << 1) : (uint64_t) v << 1;
}


static int64_t
olla_model_unzigzag(uint64_t u)
{
    return (int64_t) ((u >> 1) ^ (~(u & 1) + 1));
}


static int
olla_model_key_index(const char *key, size_t klen, size_t limit)
{
    size_t  i;

    for (i = 0; i < limit; i++) {
        if (strlen(olla_model_keys[i]) == klen
            && memcmp(olla_model_keys[i], key, klen) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


/* containers nested in v, counted up to limit + 1 */

static unsigned
olla_model_depth(json_t *v, unsigned limit)
{
    size_t       i;
    unsigned     d, max;
    json_t      *e;
    const char  *k;

    if (!json_is_object(v) && !json_is_array(v)) {
        return 0;
    }

    if (limit == 0) {
        return 1;
    }

    max = 0;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            d = olla_model_depth(e, limit - 1);
            max = d > max ? d : max;
        }

    } else {
        json_object_foreach(v, k, e) {
            d = olla_model_depth(e, limit - 1);
            max = d > max ? d : max;
        }
    }

    return max + 1;
}


/* whether a member is kept in a mode */

static int
olla_model_keep(const char *key, size_t klen, json_t *v, unsigned mode,
    unsigned depth)
{
    switch (mode) {

    case OLLA_ENC_FULL:
        return 1;

    case OLLA_ENC_KNOWN:
        return olla_model_key_index(key, klen,
                                    sizeof(olla_model_keys)
                                    / sizeof(olla_model_keys[0])) >= 0
               && depth + 1 + olla_model_depth(v, OLLA_MODEL_DEPTH)
                  <= OLLA_MODEL_DEPTH;

    default:
        return depth == 0
               && olla_model_key_index(key, klen, OLLA_MK_MINIMAL) >= 0
               && !json_is_object(v) && !json_is_array(v)
               && !(json_is_string(v)
                    && json_string_length(v) > OLLA_MODEL_SHORT);
    }
}


static size_t
olla_model_key_len(json_t *object, const char *key, void *iter)
{
#if (JANSSON_VERSION_HEX >= 0x020e00)
    (void) object;
    (void) key;

    return json_object_iter_key_len(iter);
#else
    (void) object;
    (void) iter;

    return strlen(key);
#endif
}


/*
 * One value; a string equal to the id and an integer equal to created
 * point at the record's (the "id" and "created" members, vLLM's "root").
 * -1 when the value is nested too deep for the mode (only OLLA_ENC_FULL
 * meets that).
 */

static int
olla_model_enc_value(olla_mbuf_t *b, json_t *v, const olla_model_t *m,
    unsigned mode, unsigned depth)
{
    int          k;
    void        *it;
    size_t       i, n, klen, len;
    char        *text;
    json_t      *e;
    const char  *key, *s;

    switch (json_typeof(v)) {

    case JSON_NULL:
        olla_mbuf_byte(b, OLLA_MT_NULL);
        return 0;

    case JSON_TRUE:
        olla_mbuf_byte(b, OLLA_MT_TRUE);
        return 0;

    case JSON_FALSE:
        olla_mbuf_byte(b, OLLA_MT_FALSE);
        return 0;

    case JSON_INTEGER:
        if (json_integer_value(v) == m->created) {
            olla_mbuf_byte(b, OLLA_MT_CREATED);
            return 0;
        }

        olla_mbuf_byte(b, OLLA_MT_INT);
        olla_mbuf_varint(b, olla_model_zigzag(json_integer_value(v)));
        return 0;

    case JSON_REAL:
        /* the text jansson writes for it, as it writes it */
        text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL) {
            b->failed = 1;
            return 0;
        }

        len = strlen(text);
        olla_mbuf_byte(b, OLLA_MT_REAL);
        olla_mbuf_varint(b, len);
        olla_mbuf_put(b, text, len);
        free(text);
        return 0;

    case JSON_STRING:
        s = json_string_value(v);
        len = json_string_length(v);

        if (len == m->id_len && memcmp(s, m->id, len) == 0) {
            olla_mbuf_byte(b, OLLA_MT_ID);
            return 0;
        }

        for (i = 0; i < sizeof(olla_model_words) / sizeof(char *); i++) {
            if (strlen(olla_model_words[i]) == len
                && memcmp(olla_model_words[i], s, len) == 0)
            {
                olla_mbuf_byte(b, OLLA_MT_WORD + i);
                return 0;
            }
        }

        olla_mbuf_byte(b, OLLA_MT_STR);
        olla_mbuf_varint(b, len);
        olla_mbuf_put(b, s, len);
        return 0;

    case JSON_ARRAY:
        if (depth >= OLLA_MODEL_DEPTH) {
            return -1;
        }

        n = 0;

        json_array_foreach(v, i, e) {
            if (mode == OLLA_ENC_FULL
                || depth + 1 + olla_model_depth(e, OLLA_MODEL_DEPTH)
                   <= OLLA_MODEL_DEPTH)
            {
                n++;
            }
        }

        olla_mbuf_byte(b, OLLA_MT_ARRAY);
        olla_mbuf_varint(b, n);

        json_array_foreach(v, i, e) {
            if (mode != OLLA_ENC_FULL
                && depth + 1 + olla_model_depth(e, OLLA_MODEL_DEPTH)
                   > OLLA_MODEL_DEPTH)
            {
                continue;
            }

            if (olla_model_enc_value(b, e, m, mode, depth + 1) != 0) {
                return -1;
            }
        }

        return 0;

    case JSON_OBJECT:
        if (depth >= OLLA_MODEL_DEPTH) {
            return -1;
        }

        n = 0;

        for (it = json_object_iter(v); it; it = json_object_iter_next(v, it))
        {
            key = json_object_iter_key(it);
            klen = olla_model_key_len(v, key, it);

            if (olla_model_keep(key, klen, json_object_iter_value(it), mode,
                                depth))
            {
                n++;
            }
        }

        olla_mbuf_byte(b, OLLA_MT_OBJECT);
        olla_mbuf_varint(b, n);

        for (it = json_object_iter(v); it; it = json_object_iter_next(v, it))
        {
            key = json_object_iter_key(it);
            klen = olla_model_key_len(v, key, it);
            e = json_object_iter_value(it);

            if (!olla_model_keep(key, klen, e, mode, depth)) {
                continue;
            }

            k = olla_model_key_index(key, klen,
                                     sizeof(olla_model_keys)
                                     / sizeof(olla_model_keys[0]));

            if (k >= 0) {
                olla_mbuf_byte(b, (unsigned) k);

            } else {
                olla_mbuf_byte(b, OLLA_MK_LITERAL);
                olla_mbuf_varint(b, klen);
                olla_mbuf_put(b, key, klen);
            }

            if (olla_model_enc_value(b, e, m, mode, depth + 1) != 0) {
                return -1;
            }
        }

        return 0;

    default:
        olla_mbuf_byte(b, OLLA_MT_NULL);
        return 0;
    }
}


/* the model's record: its header and its object in the first mode that fits */

static int
olla_model_encode(olla_model_t *m, json_t *item)
{
    size_t       head;
    unsigned     mode, flags;
    olla_mbuf_t  b;

    for (mode = OLLA_ENC_FULL; mode <= OLLA_ENC_MINIMAL; mode++) {
        memset(&b, 0, sizeof(olla_mbuf_t));

        flags = mode == OLLA_ENC_FULL ? 0
                : mode == OLLA_ENC_KNOWN ? OLLA_MODEL_REDUCED
                : OLLA_MODEL_REDUCED | OLLA_MODEL_MINIMAL;

        olla_mbuf_byte(&b, flags);
        olla_mbuf_varint(&b, m->id_len);
        olla_mbuf_put(&b, m->id, m->id_len);

        olla_mbuf_varint(&b, olla_model_zigzag(m->created));
        olla_mbuf_varint(&b, m->context_window);

        head = b.len;

        if (olla_model_enc_value(&b, item, m, mode, 0) == 0
            && !b.failed
            && (b.len - head <= OLLA_MODEL_MAX_REC
                || mode == OLLA_ENC_MINIMAL))
        {
            m->rec = b.p;
            m->rec_len = b.len;
            m->flags = flags;
            return 0;
        }

        free(b.p);

        if (b.failed) {
            return -1;
        }
    }

    return -1;
}


uint32_t
olla_model_hash(const char *norm, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 0x811c9dc5;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) norm[i];
        h *= 0x01000193;
    }

    return h;
}


static uint32_t
olla_model_get32(const unsigned char *p)
{
    uint32_t  v;

    memcpy(&v, p, sizeof(v));

    return v;
}


static void
olla_model_put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}


static size_t
olla_model_varint_len(uint64_t v)
{
    size_t  n;

    n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }

    return n;
}


size_t
olla_models_pack_size(const olla_model_list_t *list)
{
    size_t  i, size;

    if (list->n == 0) {
        return 0;
    }

    size = sizeof(uint32_t) + sizeof(uint32_t) * list->n;

    for (i = 0; i < list->n; i++) {
        size += olla_model_varint_len(list->items[i].rec_len)
                + list->items[i].rec_len;
    }

    return size;
}


void
olla_models_pack(const olla_model_list_t *list, unsigned char *dst)
{
    size_t          i;
    uint64_t        v;
    unsigned char  *hash, *rec;
    olla_model_t   *m;

    if (list->n == 0) {
        return;
    }

    olla_model_put32(dst, (uint32_t) list->n);

    hash = dst + sizeof(uint32_t);
    rec = hash + sizeof(uint32_t) * list->n;

    for (i = 0; i < list->n; i++) {
        m = &list->items[i];

        olla_model_put32(hash + 4 * i, olla_model_hash(m->norm, m->norm_len));

        v = m->rec_len;

        while (v >= 0x80) {
            *rec++ = (unsigned char) (v | 0x80);
            v >>= 7;
        }

        *rec++ = (unsigned char) v;

        memcpy(rec, m->rec, m->rec_len);
        rec += m->rec_len;
    }
}


/* ------------------------------------------------------------ reading */

static int
olla_model_varint(const unsigned char **p, const unsigned char *end,
    uint64_t *v)
{
    unsigned              shift;
    const unsigned char  *q;

    *v = 0;
    shift = 0;

    for (q = *p; q < end && shift < 64; q++, shift += 7) {
        *v |= (uint64_t) (*q & 0x7f) << shift;

        if (!(*q & 0x80)) {
            *p = q + 1;
            return 0;
        }
    }

    return -1;
}


size_t
olla_models_count(const unsigned char *blob, size_t len)
{
    uint32_t  n;

    if (blob == NULL || len < sizeof(uint32_t)) {
        return 0;
    }

    n = olla_model_get32(blob);

    if (n > (len - sizeof(uint32_t)) / (sizeof(uint32_t) + 1)) {
        /* a record takes its length and 4 bytes of hash at least */
        return 0;
    }

    return n;
}


/*
 * pos is the offset of the next record from the first record's start; a
 * record's hash is not looked at here
 */

int
olla_models_next(const unsigned char *blob, size_t len, size_t *pos,
    olla_model_ref_t *m)
{
    size_t                n, recs;
    uint64_t              v;
    const unsigned char  *p, *end, *start;

    n = olla_models_count(blob, len);

    if (n == 0) {
        return 0;
    }

    recs = sizeof(uint32_t) + sizeof(uint32_t) * n;

    if (*pos >= len - recs) {
        return 0;
    }

    start = blob + recs;
    p = start + *pos;
    end = blob + len;

    if (olla_model_varint(&p, end, &v) != 0 || v == 0
        || v > (uint64_t) (end - p))
    {
        return 0;
    }

    end = p + v;

    m->flags = *p++;

    if (olla_model_varint(&p, end, &v) != 0 || v > (uint64_t) (end - p)) {
        return 0;
    }

    m->id = (const char *) p;
    m->id_len = (size_t) v;
    p += v;

    if (olla_model_varint(&p, end, &v) != 0) {
        return 0;
    }

    m->created = olla_model_unzigzag(v);

    if (olla_model_varint(&p, end, &v) != 0 || v > UINT32_MAX) {
        return 0;
    }

    m->context_window = (uint32_t) v;
    m->obj = p;
    m->obj_len = (size_t) (end - p);

    *pos = (size_t) (end - start);

    return 1;
}


int
olla_models_has(const unsigned char *blob, size_t len, const char *norm,
    size_t norm_len)
{
    char              buf[OLLA_MODEL_MAX_ID + 64];
    size_t            n, i, at, pos, nlen;
    uint32_t          h;
    olla_model_ref_t  m;

    n = olla_models_count(blob, len);

    if (n == 0 || norm_len >= sizeof(buf)) {
        return 0;
    }

    h = olla_model_hash(norm, norm_len);

    /* the hashes first; a record is read only where its hash matches */

    at = 0;
    pos = 0;

    for (i = 0; i < n; i++) {
        if (olla_model_get32(blob + sizeof(uint32_t) * (1 + i)) != h) {
            continue;
        }

        for ( /* void */ ; at <= i; at++) {
            if (!olla_models_next(blob, len, &pos, &m)) {
                return 0;
            }
        }

        if (m.id_len > OLLA_MODEL_MAX_ID) {
            continue;
        }

        nlen = olla_model_normalise(m.id, m.id_len, buf, sizeof(buf));

        if (nlen == norm_len && memcmp(buf, norm, norm_len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* ------------------------------------------------------------ rendering */

static void
olla_mout(olla_mout_t *w, const char *s, size_t n)
{
    size_t  room;

    if (w->len < w->cap) {
        room = w->cap - w->len;
        memcpy(w->out + w->len, s, n < room ? n : room);
    }

    w->len += n;
}


/* a JSON string as jansson writes it (no ensure-ascii, no slash escape) */

static void
olla_mout_string(olla_mout_t *w, const char *s, size_t n)
{
    char           esc[8];
    size_t         i, from;
    unsigned char  c;

    static const char  hex[] = "0123456789ABCDEF";

    olla_mout(w, "\"", 1);

    from = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c != '"' && c != '\\' && c >= 0x20) {
            continue;
        }

        olla_mout(w, s + from, i - from);
        from = i + 1;

        switch (c) {
        case '"':  olla_mout(w, "\\\"", 2); break;
        case '\\': olla_mout(w, "\\\\", 2); break;
        case '\b': olla_mout(w, "\\b", 2); break;
        case '\f': olla_mout(w, "\\f", 2); break;
        case '\n': olla_mout(w, "\\n", 2); break;
        case '\r': olla_mout(w, "\\r", 2); break;
        case '\t': olla_mout(w, "\\t", 2); break;

        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            olla_mout(w, esc, 6);
            break;
        }
    }

    olla_mout(w, s + from, n - from);
    olla_mout(w, "\"", 1);
}


static void
olla_mout_int(olla_mout_t *w, int64_t v)
{
    char      buf[24], *p;
    uint64_t  u;

    u = v < 0 ? ~(uint64_t) v + 1 : (uint64_t) v;

    p = buf + sizeof(buf);

    do {
        *--p = (char) ('0' + u % 10);
        u /= 10;
    } while (u);

    if (v < 0) {
        *--p = '-';
    }

    olla_mout(w, p, (size_t) (buf + sizeof(buf) - p));
}


/* one value; the position after it, or NULL on a corrupted form */

static const unsigned char *
olla_model_render(olla_mout_t *w, const unsigned char *p,
    const unsigned char *end, const olla_model_ref_t *m, unsigned depth)
{
    unsigned    tag;
    uint64_t    v, n, i;
    const char  *s;

    if (p >= end) {
        return NULL;
    }

    tag = *p++;

    switch (tag) {

    case OLLA_MT_NULL:
        olla_mout(w, "null", 4);
        return p;

    case OLLA_MT_TRUE:
        olla_mout(w, "true", 4);
        return p;

    case OLLA_MT_FALSE:
        olla_mout(w, "false", 5);
        return p;

    case OLLA_MT_INT:
        if (olla_model_varint(&p, end, &v) != 0) {
            return NULL;
        }

        olla_mout_int(w, olla_model_unzigzag(v));
        return p;

    case OLLA_MT_CREATED:
        olla_mout_int(w, m->created);
        return p;

    case OLLA_MT_ID:
        olla_mout_string(w, m->id, m->id_len);
        return p;

    case OLLA_MT_REAL:
    case OLLA_MT_STR:
        if (olla_model_varint(&p, end, &v) != 0
            || v > (uint64_t) (end - p))
        {
            return NULL;
        }

        if (tag == OLLA_MT_REAL) {
            olla_mout(w, (const char *) p, (size_t) v);

        } else {
            olla_mout_string(w, (const char *) p, (size_t) v);
        }

        return p + v;

    case OLLA_MT_ARRAY:
    case OLLA_MT_OBJECT:
        if (depth >= OLLA_MODEL_DEPTH
            || olla_model_varint(&p, end, &n) != 0
            || n > (uint64_t) (end - p))
        {
            return NULL;
        }

        olla_mout(w, tag == OLLA_MT_ARRAY ? "[" : "{", 1);

        for (i = 0; i < n; i++) {
            if (i) {
                olla_mout(w, ",", 1);
            }

            if (tag == OLLA_MT_OBJECT) {
                if (p >= end) {
                    return NULL;
                }

                if (*p == OLLA_MK_LITERAL) {
                    p++;

                    if (olla_model_varint(&p, end, &v) != 0
                        || v > (uint64_t) (end - p))
                    {
                        return NULL;
                    }

                    olla_mout_string(w, (const char *) p, (size_t) v);
                    p += v;

                } else if (*p < sizeof(olla_model_keys) / sizeof(char *)) {
                    s = olla_model_keys[*p++];
                    olla_mout_string(w, s, strlen(s));

                } else {
                    return NULL;
                }

                olla_mout(w, ":", 1);
            }

            p = olla_model_render(w, p, end, m, depth + 1);
            if (p == NULL) {
                return NULL;
            }
        }

        olla_mout(w, tag == OLLA_MT_ARRAY ? "]" : "}", 1);
        return p;

    default:
        if (tag < OLLA_MT_WORD
            || tag - OLLA_MT_WORD
               >= sizeof(olla_model_words) / sizeof(char *))
        {
            return NULL;
        }

        s = olla_model_words[tag - OLLA_MT_WORD];
        olla_mout_string(w, s, strlen(s));
        return p;
    }
}


size_t
olla_model_json(const olla_model_ref_t *m, char *out, size_t cap)
{
    const unsigned char  *p;
    olla_mout_t           w;

    w.out = out;
    w.cap = out ? cap : 0;
    w.len = 0;

    p = olla_model_render(&w, m->obj, m->obj + m->obj_len, m, 0);

    if (p != m->obj + m->obj_len) {
        return 0;
    }

    return w.len;
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
