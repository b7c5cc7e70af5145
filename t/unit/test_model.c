
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of model names and model lists (src/olla_model.c):
 *
 *   - DMR name normalisation, table-driven, with truncation at every
 *     output size and idempotence;
 *   - parsing recorded-looking DMR and Ollama /v1/models lists (DMR's
 *     "dmr" metadata kept in the stored JSON), skipped entries, errors,
 *     the 4096-entry cap;
 *   - the packed blob: round trip, lookup (hash collisions included), the
 *     largest list, and the iterator and the renderer on every truncation
 *     and on corrupted copies (each blob is a malloc'd buffer of exactly
 *     its length, so valgrind or ASan see any read past it);
 *   - the compact form of a model's object: rendered back byte for byte
 *     as jansson writes it, on real list shapes and every kind of value;
 *     objects too large or too deep reduced; bytes a model before/after;
 *   - owner derivation, header-value sanitising, request id validity.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "olla_model.h"


#define S(s)  (s), strlen(s)


/* GET /engines/v1/models as DMR answers it (json.Encoder: trailing LF) */

static const char  dmr_list[] =
    "{\"object\":\"list\",\"data\":["
    "{\"id\":\"ai/smollm2:latest\",\"object\":\"model\","
    "\"created\":1742916473,\"owned_by\":\"docker\","
    "\"dmr\":{\"context_window\":8192,\"architecture\":\"llama\","
    "\"parameters\":\"361.82M\",\"quantization\":\"IQ2_XXS/Q4_K_M\","
    "\"size\":\"256.35MiB\"}},"
    "{\"id\":\"ai/llama3.2:3B-Q4_K_M\",\"object\":\"model\","
    "\"created\":1742816981,\"owned_by\":\"docker\","
    "\"dmr\":{\"context_window\":131072,\"architecture\":\"llama\","
    "\"parameters\":\"3.21B\",\"quantization\":\"Q4_K_M\","
    "\"size\":\"1.87GiB\"}},"
    "{\"id\":\"hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M\","
    "\"object\":\"model\",\"created\":1743000000,\"owned_by\":\"docker\","
    "\"dmr\":{\"architecture\":\"llama\",\"parameters\":\"1.24B\","
    "\"quantization\":\"Q4_K_M\",\"size\":\"770.28MiB\"}},"
    "{\"id\":\"ai/gemma3\",\"object\":\"model\",\"created\":0,"
    "\"owned_by\":\"docker\"}"
    "]}\n";

static const char  dmr_empty[] = "{\"object\":\"list\",\"data\":[]}\n";

/* Ollama's OpenAI-compatible GET /v1/models */

static const char  ollama_list[] =
    "{\"object\":\"list\",\"data\":["
    "{\"id\":\"llama3.2:latest\",\"object\":\"model\","
    "\"created\":1729628826,\"owned_by\":\"library\"},"
    "{\"id\":\"nomic-embed-text:latest\",\"object\":\"model\","
    "\"created\":1722526428,\"owned_by\":\"library\"},"
    "{\"id\":\"hf.co/unsloth/Qwen3-0.6B-GGUF:Q4_K_M\",\"object\":\"model\","
    "\"created\":1746000000,\"owned_by\":\"unsloth\"}"
    "]}\n";


/* ------------------------------------------------------------ normalise */

typedef struct {
    const char  *in;
    const char  *out;
} norm_row_t;

static const norm_row_t  norm_rows[] = {
    { "smollm2", "ai/smollm2:latest" },
    { "AI/SmolLM2", "ai/smollm2:latest" },
    { "ai/smollm2", "ai/smollm2:latest" },
    { "ai/smollm2:latest", "ai/smollm2:latest" },
    { "SMOLLM2", "ai/smollm2:latest" },
    { "smollm2:360M-Q4_K_M", "ai/smollm2:360m-q4_k_m" },
    { "ai/llama3.2:3B-Q4_K_M", "ai/llama3.2:3b-q4_k_m" },
    { "ai/llama3.2:1B-Q8_0", "ai/llama3.2:1b-q8_0" },
    { "ai/qwen2.5:7B-Q4_K_M", "ai/qwen2.5:7b-q4_k_m" },
    { "docker/llama3.2", "docker/llama3.2:latest" },
    { "hf.co/x", "huggingface.co/x:latest" },
    { "HF.CO/x", "huggingface.co/x:latest" },
    { "Hf.Co/X:Y", "huggingface.co/x:y" },
    { "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF",
      "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:latest" },
    { "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
      "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m" },
    { "huggingface.co/unsloth/Qwen3-0.6B-GGUF",
      "huggingface.co/unsloth/qwen3-0.6b-gguf:latest" },
    { "hf.cox/y", "hf.cox/y:latest" },
    { "hf.co", "ai/hf.co:latest" },
    { "xhf.co/y", "xhf.co/y:latest" },
    { "localhost:5000/foo", "localhost:5000/foo:latest" },
    { "localhost:5000/foo:v1", "localhost:5000/foo:v1" },
    { "localhost:5000/team/foo", "localhost:5000/team/foo:latest" },
    { "registry.example.com:443/a/b:c", "registry.example.com:443/a/b:c" },
    { "docker.io/ai/smollm2", "docker.io/ai/smollm2:latest" },
    { "  smollm2  ", "ai/smollm2:latest" },
    { "\t AI/SmolLM2:Latest\r\n", "ai/smollm2:latest" },
    { " hf.co/x", "huggingface.co/x:latest" },
    { "a:b/c", "a:b/c:latest" },
    { "a/b:c:d", "a/b:c:d" },
    { "ai/smollm2:", "ai/smollm2:" },
    { "ai/", "ai/:latest" }
};


static void
check_norm(const char *in, size_t len, const char *want)
{
    char    out[1024];
    size_t  n;

    memset(out, 'X', sizeof(out));
    n = olla_model_normalise(in, len, out, sizeof(out));

    if (n != strlen(want) || strcmp(out, want) != 0) {
        print_error("normalise \"%.*s\": got \"%s\" (%zu), want \"%s\"\n",
                    (int) len, in, out, n, want);
        fail();
    }
}


static void
test_normalise_table(void **state)
{
    size_t  i;

    for (i = 0; i < sizeof(norm_rows) / sizeof(norm_rows[0]); i++) {
        check_norm(S(norm_rows[i].in), norm_rows[i].out);
    }
}


/* the input need not be NUL-terminated: only len bytes are read */

static void
test_normalise_not_terminated(void **state)
{
    char  *p;

    p = malloc(7);
    assert_non_null(p);
    memcpy(p, "smollm2", 7);

    check_norm(p, 7, "ai/smollm2:latest");
    check_norm(p, 5, "ai/smoll:latest");
    free(p);

    /* the tag scan stops at len too */
    check_norm("ai/smollm2:latest", 10, "ai/smollm2:latest");
    check_norm("hf.co/abc", 6, "huggingface.co/:latest");
    check_norm("hf.co/abc", 5, "ai/hf.co:latest");
}


/* every output size: a NUL-terminated prefix, the full length returned */

static void
test_normalise_truncation(void **state)
{
    char     out[128];
    size_t   i, cap, n, full;
    const char  *want;

    for (i = 0; i < sizeof(norm_rows) / sizeof(norm_rows[0]); i++) {
        want = norm_rows[i].out;
        full = strlen(want);

        for (cap = 1; cap <= full + 2; cap++) {
            memset(out, 'X', sizeof(out));
            n = olla_model_normalise(S(norm_rows[i].in), out, cap);

            assert_int_equal(n, full);
            assert_int_equal(strlen(out), full < cap ? full : cap - 1);
            assert_memory_equal(out, want, strlen(out));
            assert_int_equal(out[cap], 'X');
        }

        /* cap 0: nothing written, out may be NULL */
        assert_int_equal(olla_model_normalise(S(norm_rows[i].in), NULL, 0),
                         full);
    }
}


static void
test_normalise_idempotent(void **state)
{
    char    once[1024], twice[1024];
    size_t  i, n1, n2;

    for (i = 0; i < sizeof(norm_rows) / sizeof(norm_rows[0]); i++) {
        n1 = olla_model_normalise(S(norm_rows[i].in), once, sizeof(once));
        n2 = olla_model_normalise(once, n1, twice, sizeof(twice));

        assert_int_equal(n1, n2);
        assert_string_equal(once, twice);
    }
}


/* the longest id a list keeps still fits the parser's buffer */

static void
test_normalise_long(void **state)
{
    char    in[OLLA_MODEL_MAX_ID + 1], out[OLLA_MODEL_MAX_ID + 64];
    size_t  n;

    memcpy(in, "hf.co/", 6);
    memset(in + 6, 'A', OLLA_MODEL_MAX_ID - 6);
    in[OLLA_MODEL_MAX_ID] = '\0';

    n = olla_model_normalise(in, OLLA_MODEL_MAX_ID, out, sizeof(out));

    assert_int_equal(n, OLLA_MODEL_MAX_ID + 9 + 7);
    assert_true(n < sizeof(out));
    assert_memory_equal(out, "huggingface.co/aaa", 18);
    assert_string_equal(out + n - 7, ":latest");
}


/* ------------------------------------------------------------ parsing */

static void
parse_ok(const char *body, size_t len, olla_model_list_t *list)
{
    char  err[256];
    int   rc;

    err[0] = '\0';
    rc = olla_models_parse(body, len, list, err, sizeof(err));

    if (rc != 0) {
        print_error("parse failed: %s\n", err);
        fail();
    }
}


static void
parse_fail(const char *body, size_t len, const char *want_err)
{
    char               err[256];
    olla_model_list_t  list;

    memset(&list, 0x5a, sizeof(list));
    strcpy(err, "unset");

    assert_int_equal(olla_models_parse(body, len, &list, err, sizeof(err)),
                     -1);
    assert_null(list.items);
    assert_int_equal(list.n, 0);

    if (strstr(err, want_err) == NULL) {
        print_error("parse \"%.*s\": error \"%s\", want \"%s\"\n",
                    (int) len, body, err, want_err);
        fail();
    }

    /* freeing a failed list is harmless */
    olla_models_free(&list);
}


/* the stored JSON is compact and equal to the backend's object */

static void
check_stored_json(const olla_model_t *m, const char *body, size_t index)
{
    json_t        *root, *orig, *stored;
    json_error_t   jerr;

    root = json_loadb(body, strlen(body), 0, &jerr);
    assert_non_null(root);
    orig = json_array_get(json_object_get(root, "data"), index);
    assert_non_null(orig);

    assert_int_equal(strlen(m->json), m->json_len);
    assert_null(strchr(m->json, '\n'));
    assert_null(strstr(m->json, ": "));

    stored = json_loadb(m->json, m->json_len, 0, &jerr);
    assert_non_null(stored);
    assert_true(json_equal(orig, stored));

    json_decref(stored);
    json_decref(root);
}


static void
test_parse_dmr(void **state)
{
    size_t             i;
    olla_model_list_t  list;

    static const char  *ids[] = {
        "ai/smollm2:latest",
        "ai/llama3.2:3B-Q4_K_M",
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        "ai/gemma3"
    };

    static const char  *norms[] = {
        "ai/smollm2:latest",
        "ai/llama3.2:3b-q4_k_m",
        "huggingface.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m",
        "ai/gemma3:latest"
    };

    parse_ok(S(dmr_list), &list);
    assert_int_equal(list.n, 4);

    for (i = 0; i < list.n; i++) {
        assert_string_equal(list.items[i].id, ids[i]);
        assert_int_equal(list.items[i].id_len, strlen(ids[i]));
        assert_string_equal(list.items[i].norm, norms[i]);
        assert_int_equal(list.items[i].norm_len, strlen(norms[i]));
        assert_non_null(strstr(list.items[i].json, "\"owned_by\":\"docker\""));
        check_stored_json(&list.items[i], dmr_list, i);
    }

    /* the dmr metadata survives */
    assert_non_null(strstr(list.items[0].json,
                           "\"dmr\":{\"context_window\":8192,"));
    assert_non_null(strstr(list.items[0].json, "\"size\":\"256.35MiB\""));
    assert_non_null(strstr(list.items[1].json, "\"context_window\":131072"));
    assert_null(strstr(list.items[3].json, "\"dmr\""));

    olla_models_free(&list);
    assert_null(list.items);
    assert_int_equal(list.n, 0);

    /* freeing twice is harmless */
    olla_models_free(&list);
}


static void
test_parse_ollama(void **state)
{
    olla_model_list_t  list;

    parse_ok(S(ollama_list), &list);
    assert_int_equal(list.n, 3);

    assert_string_equal(list.items[0].id, "llama3.2:latest");
    assert_string_equal(list.items[0].norm, "ai/llama3.2:latest");
    assert_string_equal(list.items[1].id, "nomic-embed-text:latest");
    assert_string_equal(list.items[1].norm, "ai/nomic-embed-text:latest");
    assert_string_equal(list.items[2].norm,
                        "huggingface.co/unsloth/qwen3-0.6b-gguf:q4_k_m");
    assert_non_null(strstr(list.items[2].json, "\"owned_by\":\"unsloth\""));

    check_stored_json(&list.items[0], ollama_list, 0);

    olla_models_free(&list);
}


static void
test_parse_empty(void **state)
{
    size_t             i;
    olla_model_list_t  list;

    static const char  *bodies[] = {
        dmr_empty,
        "{\"data\":[]}",
        "  {\"object\" : \"list\" , \"data\" : [ ] }  \r\n",
        "{\"data\":[],\"extra\":{\"x\":[1,2,3]}}",
        /* entries without a usable id: healthy, nothing listed */
        "{\"data\":[null,1,\"ai/smollm2\",[],{}]}"
    };

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        memset(&list, 0x5a, sizeof(list));
        parse_ok(S(bodies[i]), &list);
        assert_int_equal(list.n, 0);
        olla_models_free(&list);
    }
}


static void
test_parse_skips(void **state)
{
    char               big[OLLA_MODEL_MAX_ID + 64], *body;
    olla_model_list_t  list;

    static const char  skips[] =
        "{\"object\":\"list\",\"data\":["
        "{\"id\":5},"
        "{\"name\":\"ai/llama3.2\"},"
        "{\"id\":null},"
        "{\"id\":[\"ai/x\"]},"
        "{\"id\":\"\"},"
        "\"ai/smollm2:latest\","
        "42,"
        "null,"
        "{\"id\":\"ai/smollm2:latest\",\"owned_by\":\"docker\"},"
        "{\"id\":true},"
        "{\"id\":\"AI/Qwen3\"}"
        "]}";

    parse_ok(S(skips), &list);
    assert_int_equal(list.n, 2);
    assert_string_equal(list.items[0].id, "ai/smollm2:latest");
    assert_string_equal(list.items[1].id, "AI/Qwen3");
    assert_string_equal(list.items[1].norm, "ai/qwen3:latest");
    olla_models_free(&list);

    /* ids of OLLA_MODEL_MAX_ID bytes are kept, longer ones skipped */

    body = malloc(3 * sizeof(big) + 128);
    if (body == NULL) {
        fail();
        return;
    }

    memset(big, 'a', sizeof(big));
    sprintf(body, "{\"data\":[{\"id\":\"%.*s\"},{\"id\":\"%.*s\"}]}",
            OLLA_MODEL_MAX_ID, big, OLLA_MODEL_MAX_ID + 1, big);

    parse_ok(S(body), &list);
    assert_int_equal(list.n, 1);
    assert_int_equal(list.items[0].id_len, OLLA_MODEL_MAX_ID);
    assert_int_equal(list.items[0].norm_len, OLLA_MODEL_MAX_ID + 3 + 7);
    assert_int_equal(strlen(list.items[0].norm), list.items[0].norm_len);
    olla_models_free(&list);

    free(body);
}


/* escapes and UTF-8 in ids are decoded, the stored JSON reloads equal */

static void
test_parse_escapes(void **state)
{
    olla_model_list_t  list;

    static const char  body[] =
        "{\"data\":[{\"id\":\"ai\\/sm\\u00f6llm2:latest\","
        "\"note\":\"a\\\"b\\nc\"}]}";

    parse_ok(S(body), &list);
    assert_int_equal(list.n, 1);
    assert_string_equal(list.items[0].id, "ai/sm\xc3\xb6llm2:latest");
    assert_string_equal(list.items[0].norm, "ai/sm\xc3\xb6llm2:latest");
    check_stored_json(&list.items[0], body, 0);
    olla_models_free(&list);
}


static void
test_parse_errors(void **state)
{
    char                body[64];
    char                err[8];
    olla_model_list_t   list;

    parse_fail("", 0, "not valid JSON");
    parse_fail(S("   \n"), "not valid JSON");
    parse_fail(S("OK"), "not valid JSON");
    parse_fail(S("<html><body>502 Bad Gateway</body></html>"),
               "not valid JSON");
    parse_fail(S("404 page not found\n"), "not valid JSON");
    parse_fail(S("{\"object\":\"list\",\"data\":["), "not valid JSON");
    parse_fail(S("{\"object\":\"list\",\"data\":[]"), "not valid JSON");
    parse_fail(S("{\"data\":[]} {\"data\":[]}"), "not valid JSON");
    parse_fail(S("{\"data\":[]}x"), "not valid JSON");
    parse_fail(S("{\"data\":[\"\xff\"]}"), "not valid JSON");
    parse_fail(S("{\"data\":[],\"data\":[]}"), "not valid JSON");
    parse_fail("{\"data\":[]}\0", 12, "not valid JSON");

    parse_fail(S("[]"), "not a JSON object");
    parse_fail(S("[{\"id\":\"ai/smollm2\"}]"), "not a JSON object");

    parse_fail(S("{}"), "no \"data\" array");
    parse_fail(S("{\"object\":\"list\"}"), "no \"data\" array");
    parse_fail(S("{\"object\":\"list\",\"data\":null}"), "no \"data\" array");
    parse_fail(S("{\"data\":{}}"), "no \"data\" array");
    parse_fail(S("{\"data\":\"[]\"}"), "no \"data\" array");
    parse_fail(S("{\"data\":0}"), "no \"data\" array");
    parse_fail(S("{\"Data\":[]}"), "no \"data\" array");
    parse_fail(S("{\"models\":[{\"name\":\"llama3.2:latest\"}]}"),
               "no \"data\" array");
    parse_fail(S("{\"error\":{\"message\":\"unauthorized\"}}"),
               "no \"data\" array");

    /* only len bytes are read */
    strcpy(body, "{\"data\":[]}");
    parse_fail(body, strlen(body) - 1, "not valid JSON");

    /* a short error buffer is truncated, not overrun */
    memset(err, 'X', sizeof(err));
    assert_int_equal(olla_models_parse(S("nope"), &list, err, 4), -1);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(err[4], 'X');

    /* no error buffer at all */
    assert_int_equal(olla_models_parse(S("{}"), &list, NULL, 0), -1);
}


/* more than OLLA_MODEL_MAX_LIST entries: the first ones are kept */

static void
test_parse_cap(void **state)
{
    char               *body, *p;
    size_t              i, total;
    olla_model_list_t   list;

    total = OLLA_MODEL_MAX_LIST + 300;

    body = malloc(total * 64 + 64);
    assert_non_null(body);

    p = body + sprintf(body, "{\"object\":\"list\",\"data\":[");

    for (i = 0; i < OLLA_MODEL_MAX_LIST + 100; i++) {
        p += sprintf(p, "%s{\"id\":\"ai/model-%zu:Q4_K_M\"}", i ? "," : "",
                     i);
    }

    strcpy(p, "]}");

    parse_ok(S(body), &list);
    assert_int_equal(list.n, OLLA_MODEL_MAX_LIST);
    assert_string_equal(list.items[0].id, "ai/model-0:Q4_K_M");
    assert_string_equal(list.items[OLLA_MODEL_MAX_LIST - 1].norm,
                        "ai/model-4095:q4_k_m");

    olla_models_free(&list);

    /* entries skipped do not count: 200 without an id, then 4100 */

    p = body + sprintf(body, "{\"object\":\"list\",\"data\":[");

    for (i = 0; i < 200; i++) {
        p += sprintf(p, "{\"id\":%zu},", i);
    }

    for (i = 0; i < 4100; i++) {
        p += sprintf(p, "%s{\"id\":\"ai/m-%zu\"}", i ? "," : "", i);
    }

    strcpy(p, "]}");

    parse_ok(S(body), &list);
    assert_int_equal(list.n, OLLA_MODEL_MAX_LIST);
    assert_string_equal(list.items[0].id, "ai/m-0");
    assert_string_equal(list.items[OLLA_MODEL_MAX_LIST - 1].id, "ai/m-4095");
    olla_models_free(&list);

    free(body);
}


/* ------------------------------------------------------------ the blob */

static unsigned char *
pack(const olla_model_list_t *list, size_t *len)
{
    unsigned char  *blob;

    *len = olla_models_pack_size(list);

    /* exactly the size, so that a write past it is caught */
    blob = malloc(*len ? *len : 1);
    assert_non_null(blob);

    olla_models_pack(list, blob);

    return blob;
}


static unsigned char *
copy(const unsigned char *p, size_t len)
{
    unsigned char  *c;

    c = malloc(len ? len : 1);
    assert_non_null(c);

    if (len) {
        memcpy(c, p, len);
    }

    return c;
}


/*
 * iterates; every record, and what it points at, must lie inside the
 * blob, and its object must render within bounds (into a buffer of
 * exactly the size asked, then into short ones); returns the count
 */

static size_t
walk(const unsigned char *blob, size_t len)
{
    char              *out;
    size_t             pos, prev, n, jlen, cap;
    olla_model_ref_t   m;

    pos = 0;
    n = 0;

    for ( ;; ) {
        prev = pos;

        if (!olla_models_next(blob, len, &pos, &m)) {
            assert_int_equal(pos, prev);
            break;
        }

        assert_true(pos > prev);
        assert_true(pos <= len);

        assert_true((const unsigned char *) m.id >= blob);
        assert_true((const unsigned char *) m.id + m.id_len <= blob + len);
        assert_true(m.obj >= blob);
        assert_true(m.obj + m.obj_len <= blob + len);

        jlen = olla_model_json(&m, NULL, 0);

        for (cap = 0; cap <= jlen; cap += (cap < 8 ? 1 : jlen / 3 + 1)) {
            out = malloc(cap ? cap : 1);
            assert_non_null(out);
            assert_int_equal(olla_model_json(&m, out, cap), jlen);
            free(out);
        }

        out = malloc(jlen ? jlen : 1);
        assert_non_null(out);
        assert_int_equal(olla_model_json(&m, out, jlen), jlen);
        free(out);

        n++;
    }

    return n;
}


/* a record's object, rendered, must be what jansson wrote for it */

static void
check_render(const olla_model_ref_t *r, const olla_model_t *m)
{
    char    *out;
    size_t   n;

    n = olla_model_json(r, NULL, 0);

    if (n != m->json_len) {
        print_error("rendered %zu bytes, jansson %zu: %s\n", n, m->json_len,
                    m->json);
        fail();
    }

    out = malloc(n + 1);
    assert_non_null(out);
    memset(out, 'X', n + 1);

    assert_int_equal(olla_model_json(r, out, n), n);
    assert_int_equal(out[n], 'X');

    if (memcmp(out, m->json, n) != 0) {
        print_error("rendered %.*s\n  jansson %s\n", (int) n, out, m->json);
        fail();
    }

    free(out);
}


static void
check_list(const char *body)
{
    size_t             len, pos, i;
    unsigned char     *blob;
    olla_model_ref_t   m;
    olla_model_list_t  list;

    parse_ok(body, strlen(body), &list);
    blob = pack(&list, &len);

    assert_int_equal(olla_models_count(blob, len), list.n);

    pos = 0;

    for (i = 0; i < list.n; i++) {
        assert_int_equal(olla_models_next(blob, len, &pos, &m), 1);

        assert_int_equal(m.id_len, list.items[i].id_len);
        assert_memory_equal(m.id, list.items[i].id, m.id_len);
        assert_int_equal(m.created, list.items[i].created);
        assert_int_equal(m.context_window, list.items[i].context_window);
        assert_int_equal(m.flags, list.items[i].flags);
        assert_int_equal(m.flags, 0);

        check_render(&m, &list.items[i]);

        assert_true(olla_models_has(blob, len, list.items[i].norm,
                                    list.items[i].norm_len));
    }

    assert_int_equal(pos, len - 4 - 4 * list.n);
    assert_int_equal(olla_models_next(blob, len, &pos, &m), 0);
    assert_int_equal(walk(blob, len), list.n);

    free(blob);
    olla_models_free(&list);
}


static void
test_pack_roundtrip(void **state)
{
    size_t             len, pos, i, want;
    unsigned char     *blob;
    olla_model_ref_t   m;
    olla_model_list_t  list;

    parse_ok(S(dmr_list), &list);

    blob = pack(&list, &len);

    want = 4;
    for (i = 0; i < list.n; i++) {
        assert_true(list.items[i].rec_len < 128);
        want += 4 + 1 + list.items[i].rec_len;
    }

    assert_int_equal(len, want);

    pos = 0;

    for (i = 0; i < list.n; i++) {
        assert_int_equal(olla_models_next(blob, len, &pos, &m), 1);

        assert_int_equal(m.id_len, list.items[i].id_len);
        assert_memory_equal(m.id, list.items[i].id, m.id_len);
        assert_int_equal(m.created, list.items[i].created);
        assert_int_equal(m.context_window, list.items[i].context_window);
        check_render(&m, &list.items[i]);
    }

    /* what rendering and routing read without rendering the object */

    assert_int_equal(list.items[0].created, 1742916473);
    assert_int_equal(list.items[0].context_window, 8192);
    assert_int_equal(list.items[1].context_window, 131072);
    assert_int_equal(list.items[2].created, 1743000000);
    assert_int_equal(list.items[2].context_window, 0);
    assert_int_equal(list.items[3].created, 0);

    assert_int_equal(olla_models_next(blob, len, &pos, &m), 0);

    /* lookups by normalised name */
    assert_true(olla_models_has(blob, len, S("ai/smollm2:latest")));
    assert_true(olla_models_has(blob, len, S("ai/llama3.2:3b-q4_k_m")));
    assert_true(olla_models_has(blob, len, S("ai/gemma3:latest")));
    assert_true(olla_models_has(blob, len,
                S("huggingface.co/bartowski/llama-3.2-1b-instruct-gguf"
                  ":q4_k_m")));

    /* not the raw id, not a prefix, not a longer name, not another tag */
    assert_false(olla_models_has(blob, len, S("ai/llama3.2:3B-Q4_K_M")));
    assert_false(olla_models_has(blob, len, S("ai/smollm2:lates")));
    assert_false(olla_models_has(blob, len, S("ai/smollm2:latest2")));
    assert_false(olla_models_has(blob, len, S("ai/smollm2:360m-q4_k_m")));
    assert_false(olla_models_has(blob, len, S("ai/gemma3")));
    assert_false(olla_models_has(blob, len, "", 0));

    /* the records are unaligned: any offset works */
    {
        unsigned char  *odd;

        odd = malloc(len + 1);
        assert_non_null(odd);
        memcpy(odd + 1, blob, len);
        assert_int_equal(walk(odd + 1, len), list.n);
        assert_true(olla_models_has(odd + 1, len, S("ai/gemma3:latest")));
        free(odd);
    }

    free(blob);
    olla_models_free(&list);
}


static void
test_pack_empty(void **state)
{
    size_t             len, pos;
    unsigned char     *blob;
    olla_model_ref_t   m;
    olla_model_list_t  list;

    parse_ok(S(dmr_empty), &list);

    blob = pack(&list, &len);
    assert_int_equal(len, 0);
    free(blob);

    pos = 0;
    assert_int_equal(olla_models_next(NULL, 0, &pos, &m), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(olla_models_count(NULL, 0), 0);
    assert_false(olla_models_has(NULL, 0, S("ai/smollm2:latest")));
    assert_false(olla_models_has(NULL, 0, "", 0));

    olla_models_free(&list);
}


/*
 * The lists as backends send them render byte for byte as jansson wrote
 * the object: DMR (with and without "dmr"), Ollama, llama-server's
 * "meta", vLLM's permissions, LM Studio; and every kind of JSON value.
 */

static void
test_render_shapes(void **state)
{
    size_t  i;
    char    body[2048];

    static const char  *lists[] = {
        dmr_list,
        ollama_list,

        "{\"object\":\"list\",\"data\":[{\"id\":\"Llama-3.2-3B-Instruct-"
        "Q4_K_M.gguf\",\"object\":\"model\",\"created\":1735142223,"
        "\"owned_by\":\"llamacpp\",\"meta\":{\"vocab_type\":2,"
        "\"n_vocab\":128256,\"n_ctx_train\":131072,\"n_embd\":3072,"
        "\"n_params\":3212749888,\"size\":1922985984}}]}",

        "{\"object\":\"list\",\"data\":[{\"id\":\"meta-llama/Llama-3.1-8B-"
        "Instruct\",\"object\":\"model\",\"created\":1735142223,"
        "\"owned_by\":\"vllm\",\"root\":\"meta-llama/Llama-3.1-8B-"
        "Instruct\",\"parent\":null,\"max_model_len\":131072,"
        "\"permission\":[{\"id\":\"modelperm-6c4b3f0e1f9a4a3c8e2b5d7f9a1c"
        "3e5b\",\"object\":\"model_permission\",\"created\":1735142223,"
        "\"allow_create_engine\":false,\"allow_sampling\":true,"
        "\"allow_logprobs\":true,\"allow_search_indices\":false,"
        "\"allow_view\":true,\"allow_fine_tuning\":false,"
        "\"organization\":\"*\",\"group\":null,\"is_blocking\":false}]}]}",

        "{\"data\":[{\"id\":\"qwen2.5-7b-instruct\",\"object\":\"model\","
        "\"owned_by\":\"organization_owner\"}]}",

        /* every kind of value, keys the form does not know */
        "{\"data\":[{\"id\":\"ai/x\",\"n\":-1,\"big\":9223372036854775807,"
        "\"small\":-9223372036854775808,\"zero\":0,\"r\":1.5,\"e\":1e300,"
        "\"neg\":-0.25,\"third\":0.3333333333333333,\"t\":true,"
        "\"f\":false,\"z\":null,\"a\":[],\"o\":{},\"aa\":[[1,[2,[3]]],"
        "{\"k\":[{}]}],\"created\":12,\"again\":12,\"self\":\"ai/x\","
        "\"\":\"empty key\",\"words\":[\"model\",\"docker\",\"Model\","
        "\"model \",\"\"]}]}",

        /* escapes, control characters, UTF-8, in keys and values */
        "{\"data\":[{\"id\":\"ai/\\u00e9t\\u00e9\",\"q\\\"k\":\"a\\\"b\\\\c"
        "\\/d\",\"ctl\":\"\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f "
        "\\u007f\",\"u\":\"\\u2028\\u2029\\ud83d\\ude00\\u00ff\","
        "\"k\\n\":1}]}",

        /* ids that are not normalised, and look-alikes */
        "{\"data\":[{\"id\":\"SmolLM2\"},{\"id\":\"hf.co/A/B:C\"},"
        "{\"id\":\"ai/smollm2\",\"x\":\"ai/smollm2:latest\"}]}",
    };

    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        check_list(lists[i]);
    }

    /* each control character and each ASCII byte, alone, as a value */

    for (i = 1; i < 128; i++) {
        if (i == '"' || i == '\\' || i < 0x20) {
            sprintf(body, "{\"data\":[{\"id\":\"m\",\"v\":\"a\\u%04zxb\"}]}",
                    i);

        } else {
            sprintf(body, "{\"data\":[{\"id\":\"m\",\"v\":\"a%cb\"}]}",
                    (int) i);
        }

        check_list(body);
    }

    /* (a NUL is refused by the list's parser: jansson without ALLOW_NUL) */
}


/*
 * Bytes a model takes in the zone, before (a record with the id, the
 * normalised name and the raw object: 24 + id + norm + json) and now, on
 * real list shapes; printed for docs/zone.md, and held to a bound.
 */

static void
test_bytes_per_model(void **state)
{
    size_t             i, before, now;
    olla_model_t      *m;
    olla_model_list_t  list;

    static const struct {
        const char  *name;
        const char  *body;
        size_t       most;          /* bytes now, at most */
    } shapes[] = {
        { "DMR, dmr metadata with context_window",
          "{\"object\":\"list\",\"data\":[{\"id\":\"ai/smollm2:latest\","
          "\"object\":\"model\",\"created\":1742816981,\"owned_by\":"
          "\"docker\",\"dmr\":{\"context_window\":8192,\"architecture\":"
          "\"llama\",\"parameters\":\"361.82 M\",\"quantization\":"
          "\"IQ2_XXS/Q4_K_M\",\"size\":\"256.35 MiB\"}}]}", 80 },
        { "DMR, dmr metadata",
          "{\"object\":\"list\",\"data\":[{\"id\":\"ai/qwen3:8B-Q4_K_M\","
          "\"object\":\"model\",\"created\":1746010000,\"owned_by\":"
          "\"docker\",\"dmr\":{\"architecture\":\"qwen3\",\"parameters\":"
          "\"8.19 B\",\"quantization\":\"Q4_K_M\",\"size\":\"4.68 GiB\"}}]}",
          70 },
        { "DMR, a Hugging Face model",
          "{\"object\":\"list\",\"data\":[{\"id\":\"hf.co/bartowski/Llama-"
          "3.2-1B-Instruct-GGUF:Q4_K_M\",\"object\":\"model\",\"created\":"
          "1743000000,\"owned_by\":\"docker\",\"dmr\":{\"architecture\":"
          "\"llama\",\"parameters\":\"1.24 B\",\"quantization\":\"Q4_K_M\","
          "\"size\":\"770.28 MiB\"}}]}", 105 },
        { "DMR before dmr metadata",
          "{\"object\":\"list\",\"data\":[{\"id\":\"ai/smollm2:latest\","
          "\"object\":\"model\",\"created\":1742816981,\"owned_by\":"
          "\"docker\"}]}", 42 },
        { "Ollama /v1/models",
          "{\"object\":\"list\",\"data\":[{\"id\":\"llama3.2:latest\","
          "\"object\":\"model\",\"created\":1729628826,\"owned_by\":"
          "\"library\"}]}", 40 },
        { "llama-server /v1/models",
          "{\"object\":\"list\",\"data\":[{\"id\":\"Llama-3.2-3B-Instruct-"
          "Q4_K_M.gguf\",\"object\":\"model\",\"created\":1735142223,"
          "\"owned_by\":\"llamacpp\",\"meta\":{\"vocab_type\":2,"
          "\"n_vocab\":128256,\"n_ctx_train\":131072,\"n_embd\":3072,"
          "\"n_params\":3212749888,\"size\":1922985984}}]}", 95 },
        { "vLLM /v1/models",
          "{\"object\":\"list\",\"data\":[{\"id\":\"meta-llama/Llama-3.1-"
          "8B-Instruct\",\"object\":\"model\",\"created\":1735142223,"
          "\"owned_by\":\"vllm\",\"root\":\"meta-llama/Llama-3.1-8B-"
          "Instruct\",\"parent\":null,\"max_model_len\":131072,"
          "\"permission\":[{\"id\":\"modelperm-6c4b3f0e1f9a4a3c8e2b5d7f9a1c"
          "3e5b\",\"object\":\"model_permission\",\"created\":1735142223,"
          "\"allow_create_engine\":false,\"allow_sampling\":true,"
          "\"allow_logprobs\":true,\"allow_search_indices\":false,"
          "\"allow_view\":true,\"allow_fine_tuning\":false,"
          "\"organization\":\"*\",\"group\":null,\"is_blocking\":false}]}]}",
          145 },
    };

    for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        parse_ok(S(shapes[i].body), &list);
        assert_int_equal(list.n, 1);

        m = &list.items[0];
        before = 24 + m->id_len + m->norm_len + m->json_len;
        now = olla_models_pack_size(&list) - 4;

        print_message("bytes a model: %-40s json %3zu, before %3zu, "
                      "now %3zu (%.1fx)\n", shapes[i].name, m->json_len,
                      before, now, (double) before / now);

        assert_true(now <= shapes[i].most);
        assert_true(now * 5 <= before * 2);

        check_list(shapes[i].body);
        olla_models_free(&list);
    }
}


/* objects too large or too deep keep what they can, flagged */

static void
test_render_reduced(void **state)
{
    char              *body, *p, out[4096];
    size_t             i, len, pos, n;
    unsigned char     *blob;
    json_t            *o;
    json_error_t       jerr;
    olla_model_ref_t   m;
    olla_model_list_t  list;

    body = malloc(64 * 1024);
    assert_non_null(body);

    /* a large unknown member: dropped, the known keys stay */

    p = body + sprintf(body, "{\"data\":[{\"id\":\"ai/big\",\"object\":"
                       "\"model\",\"created\":5,\"owned_by\":\"docker\","
                       "\"dmr\":{\"architecture\":\"llama\"},"
                       "\"template\":\"");
    memset(p, 't', 3000);
    p += 3000;
    strcpy(p, "\",\"size\":\"1 GiB\"}]}");

    parse_ok(S(body), &list);
    assert_int_equal(list.items[0].flags, OLLA_MODEL_REDUCED);
    assert_true(list.items[0].rec_len < 200);

    blob = pack(&list, &len);
    pos = 0;
    assert_int_equal(olla_models_next(blob, len, &pos, &m), 1);
    assert_int_equal(m.flags, OLLA_MODEL_REDUCED);

    n = olla_model_json(&m, out, sizeof(out));
    assert_true(n < sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "{\"id\":\"ai/big\",\"object\":\"model\","
                        "\"created\":5,\"owned_by\":\"docker\","
                        "\"dmr\":{\"architecture\":\"llama\"},"
                        "\"size\":\"1 GiB\"}");
    assert_true(olla_models_has(blob, len, S("ai/big:latest")));
    free(blob);
    olla_models_free(&list);

    /* a large known member: only id, object, created, owned_by */

    p = body + sprintf(body, "{\"data\":[{\"id\":\"ai/big\",\"dmr\":{"
                       "\"architecture\":\"");
    memset(p, 'a', 3000);
    p += 3000;
    strcpy(p, "\"},\"object\":\"model\",\"created\":7,\"owned_by\":\"x\"}]}");

    parse_ok(S(body), &list);
    assert_int_equal(list.items[0].flags,
                     OLLA_MODEL_REDUCED | OLLA_MODEL_MINIMAL);

    blob = pack(&list, &len);
    pos = 0;
    assert_int_equal(olla_models_next(blob, len, &pos, &m), 1);
    n = olla_model_json(&m, out, sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "{\"id\":\"ai/big\",\"object\":\"model\","
                        "\"created\":7,\"owned_by\":\"x\"}");
    free(blob);
    olla_models_free(&list);

    /* long strings in the minimal keys are left out too */

    p = body + sprintf(body, "{\"data\":[{\"id\":\"ai/big\",\"owned_by\":\"");
    memset(p, 'o', 2000);
    p += 2000;
    strcpy(p, "\"}]}");

    parse_ok(S(body), &list);
    assert_true(list.items[0].rec_len < 32);
    blob = pack(&list, &len);
    pos = 0;
    assert_int_equal(olla_models_next(blob, len, &pos, &m), 1);
    n = olla_model_json(&m, out, sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "{\"id\":\"ai/big\"}");
    free(blob);
    olla_models_free(&list);

    /* nested 40 deep: the deep member goes, the rest renders as listed */

    p = body + sprintf(body, "{\"data\":[{\"id\":\"ai/deep\",\"meta\":"
                       "{\"n_ctx_train\":4096},\"deep\":");
    for (i = 0; i < 40; i++) {
        *p++ = '[';
    }
    for (i = 0; i < 40; i++) {
        *p++ = ']';
    }
    strcpy(p, "}]}");

    parse_ok(S(body), &list);
    assert_int_equal(list.items[0].flags, OLLA_MODEL_REDUCED);
    assert_int_equal(list.items[0].context_window, 4096);

    blob = pack(&list, &len);
    pos = 0;
    assert_int_equal(olla_models_next(blob, len, &pos, &m), 1);
    n = olla_model_json(&m, out, sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "{\"id\":\"ai/deep\",\"meta\":"
                        "{\"n_ctx_train\":4096}}");
    free(blob);
    olla_models_free(&list);

    /* 15 containers deep fits as it is, and renders as jansson writes it */

    p = body + sprintf(body, "{\"data\":[{\"id\":\"ai/deep\",\"x\":");
    for (i = 0; i < 7; i++) {
        p += sprintf(p, "{\"k%zu\":[", i);
    }
    for (i = 0; i < 7; i++) {
        p += sprintf(p, "]}");
    }
    strcpy(p, "}]}");

    parse_ok(S(body), &list);
    assert_int_equal(list.items[0].flags, 0);
    olla_models_free(&list);
    check_list(body);

    /* whatever is kept is valid JSON with the id */

    o = json_loadb(out, strlen(out), 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")),
                        "ai/deep");
    json_decref(o);

    free(body);
}


/* names whose hashes collide are told apart by the names */

static void
test_has_collision(void **state)
{
    size_t             len;
    unsigned char     *blob;
    olla_model_list_t  list;

    /* FNV-1a 32: both 0x02b049e8 */
    assert_int_equal(olla_model_hash(S("ai/m831219:latest")),
                     olla_model_hash(S("ai/m1026296:latest")));

    parse_ok(S("{\"data\":[{\"id\":\"ai/a\"},{\"id\":\"ai/m831219\"},"
               "{\"id\":\"ai/b\"}]}"), &list);
    blob = pack(&list, &len);

    assert_true(olla_models_has(blob, len, S("ai/m831219:latest")));
    assert_false(olla_models_has(blob, len, S("ai/m1026296:latest")));
    assert_true(olla_models_has(blob, len, S("ai/b:latest")));

    free(blob);
    olla_models_free(&list);

    parse_ok(S("{\"data\":[{\"id\":\"ai/m831219\"},"
               "{\"id\":\"AI/M1026296\"}]}"), &list);
    blob = pack(&list, &len);

    assert_true(olla_models_has(blob, len, S("ai/m831219:latest")));
    assert_true(olla_models_has(blob, len, S("ai/m1026296:latest")));

    free(blob);
    olla_models_free(&list);
}


/* the largest list: every model found, the others not */

static void
test_pack_large(void **state)
{
    char               *body, *p, name[64];
    size_t              i, len;
    unsigned char      *blob;
    olla_model_list_t   list;

    body = malloc(OLLA_MODEL_MAX_LIST * 256);
    assert_non_null(body);

    p = body + sprintf(body, "{\"object\":\"list\",\"data\":[");

    for (i = 0; i < OLLA_MODEL_MAX_LIST; i++) {
        p += sprintf(p, "%s{\"id\":\"ai/model-%zu:Q4_K_M\",\"object\":"
                     "\"model\",\"created\":%zu,\"owned_by\":\"docker\","
                     "\"dmr\":{\"architecture\":\"llama\",\"parameters\":"
                     "\"%zu.5 B\",\"size\":\"%zu MiB\"}}",
                     i ? "," : "", i, 1742816981 + i, i % 70, i * 3);
    }

    strcpy(p, "]}");

    parse_ok(S(body), &list);
    assert_int_equal(list.n, OLLA_MODEL_MAX_LIST);

    blob = pack(&list, &len);
    assert_int_equal(olla_models_count(blob, len), OLLA_MODEL_MAX_LIST);
    assert_int_equal(walk(blob, len), OLLA_MODEL_MAX_LIST);

    print_message("bytes a model: %zu models of the DMR shape: %zu bytes, "
                  "%zu a model (the raw JSON: %zu)\n", list.n, len,
                  len / list.n, strlen(body) / list.n);

    for (i = 0; i < OLLA_MODEL_MAX_LIST; i++) {
        sprintf(name, "ai/model-%zu:q4_k_m", i);
        assert_true(olla_models_has(blob, len, S(name)));
    }

    assert_false(olla_models_has(blob, len, S("ai/model-4096:q4_k_m")));
    assert_false(olla_models_has(blob, len, S("ai/model-1:latest")));

    free(blob);
    olla_models_free(&list);
    free(body);
}


/* every prefix of a blob: nothing read past it */

static void
test_blob_truncated(void **state)
{
    size_t             len, cut;
    unsigned char     *blob, *t;
    olla_model_list_t  list;

    parse_ok(S(dmr_list), &list);
    blob = pack(&list, &len);

    for (cut = 0; cut <= len; cut++) {
        t = copy(blob, cut);

        /* the count says 4 records: a shorter blob keeps fewer */
        assert_true(walk(t, cut) <= list.n);
        assert_int_equal(walk(t, cut) == list.n, cut == len);

        assert_int_equal(olla_models_has(t, cut, S("ai/gemma3:latest")),
                         cut == len);

        free(t);
    }

    free(blob);
    olla_models_free(&list);
}


static void
put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v));
}


static void
test_blob_corrupt(void **state)
{
    size_t             len, pos, i, j;
    uint32_t           seed;
    unsigned char      raw[64], *blob, *t;
    olla_model_ref_t   m;
    olla_model_list_t  list;

    static const uint32_t  evil[] = {
        0xffffffff, 0xfffffffe, 0x80000000, 0x7fffffff, 0x10000, 61, 12, 11,
        1, 0
    };

    /* counts that do not fit the length */

    for (j = 0; j < sizeof(evil) / sizeof(evil[0]); j++) {
        memset(raw, 0xff, sizeof(raw));
        put32(raw, evil[j]);

        t = copy(raw, sizeof(raw));
        (void) walk(t, sizeof(raw));
        (void) olla_models_has(t, sizeof(raw), "", 0);
        (void) olla_models_has(t, sizeof(raw), S("ai/x:latest"));
        free(t);
    }

    /*
     * a record that fits exactly: the count, a hash, then at 8 the
     * record's length and at 9 the record: flags, id, created, window,
     * and at 16 the object
     */
    memset(raw, 0, sizeof(raw));
    put32(raw, 1);
    put32(raw + 4, olla_model_hash(S("ai/abc:latest")));
    i = 8;
    raw[i++] = 8;               /* the record's length */
    raw[i++] = 0;               /* flags */
    raw[i++] = 3;               /* id */
    memcpy(raw + i, "abc", 3);
    i += 3;
    raw[i++] = 0;               /* created */
    raw[i++] = 0;               /* context window */
    raw[i++] = 0;               /* the object: null */

    assert_int_equal(i, 17);

    t = copy(raw, i);
    assert_int_equal(walk(t, i), 1);
    assert_true(olla_models_has(t, i, S("ai/abc:latest")));
    pos = 0;
    assert_int_equal(olla_models_next(t, i, &pos, &m), 1);
    assert_int_equal(olla_model_json(&m, NULL, 0), 4);
    free(t);

    /* one byte short */
    t = copy(raw, i - 1);
    assert_int_equal(walk(t, i - 1), 0);
    assert_false(olla_models_has(t, i - 1, S("ai/abc:latest")));
    free(t);

    /* a record length of zero, of too much, an id past the record */
    raw[8] = 0;
    t = copy(raw, i);
    assert_int_equal(walk(t, i), 0);
    free(t);

    raw[8] = 0x80;
    t = copy(raw, i);
    assert_int_equal(walk(t, i), 0);
    free(t);

    raw[8] = 8;
    raw[10] = 7;
    t = copy(raw, i);
    assert_int_equal(walk(t, i), 0);
    assert_false(olla_models_has(t, i, S("ai/abc:latest")));
    free(t);

    /* objects that do not parse render nothing */
    raw[10] = 3;

    {
        static const unsigned char  objs[][4] = {
            { 9, 1, 200, 0 },               /* an unknown key */
            { 9, 5, 0, 0 },                 /* a count past the end */
            { 5, 9, 'a', 0 },               /* a string past the end */
            { 4, 0x80, 0x80, 0x80 },        /* an endless varint */
            { 15, 0, 0, 0 },                /* an unknown tag */
            { 0xff, 0, 0, 0 },              /* a word past the table */
            { 0, 0, 0, 0 }                  /* null, then junk */
        };

        for (j = 0; j < sizeof(objs) / sizeof(objs[0]); j++) {
            memcpy(raw + 16, objs[j], 4);
            raw[8] = 11;
            t = copy(raw, 20);
            pos = 0;
            assert_int_equal(olla_models_next(t, 20, &pos, &m), 1);
            assert_int_equal(olla_model_json(&m, NULL, 0), 0);
            (void) walk(t, 20);
            free(t);
        }
    }

    /* nested past the depth the renderer takes */
    {
        unsigned char  deep[64];

        memcpy(deep, raw, 16);
        memset(deep + 16, 0, sizeof(deep) - 16);

        for (j = 16; j < 16 + 2 * 20; j += 2) {
            deep[j] = 8;            /* an array of one */
            deep[j + 1] = 1;
        }

        deep[j++] = 0;
        deep[8] = (unsigned char) (j - 9);

        t = copy(deep, j);
        pos = 0;
        assert_int_equal(olla_models_next(t, j, &pos, &m), 1);
        assert_int_equal(olla_model_json(&m, NULL, 0), 0);
        free(t);
    }

    /* a position at or past the end of the records (9 bytes of them) */
    raw[8] = 8;
    memset(raw + 16, 0, 4);
    t = copy(raw, 17);
    for (pos = 9; pos < 40; pos++) {
        i = pos;
        assert_int_equal(olla_models_next(t, 17, &i, &m), 0);
        assert_int_equal(i, pos);
    }

    i = SIZE_MAX;
    assert_int_equal(olla_models_next(t, 17, &i, &m), 0);
    i = SIZE_MAX - 3;
    assert_int_equal(olla_models_next(t, 17, &i, &m), 0);
    free(t);

    /* random corruption of a real blob, each copy exactly sized */

    parse_ok(S(dmr_list), &list);
    blob = pack(&list, &len);

    seed = 12345;

    for (i = 0; i < 4000; i++) {
        t = copy(blob, len);

        for (j = 0; j < 1 + i % 4; j++) {
            seed = seed * 1103515245 + 12345;
            t[(seed >> 8) % len] = (unsigned char) (seed >> 20);
        }

        seed = seed * 1103515245 + 12345;
        pos = (seed >> 8) % (len + 1);

        (void) walk(t, pos);
        (void) walk(t, len);
        (void) olla_models_has(t, len, S("ai/smollm2:latest"));

        free(t);
    }

    free(blob);
    olla_models_free(&list);
}


/* ------------------------------------------------------------ owner */

static void
test_owner(void **state)
{
    size_t       i, n;
    const char  *owner;

    static const struct {
        const char  *id;
        const char  *owner;
    } rows[] = {
        { "ai/smollm2:latest", "ai" },
        { "ai/llama3.2:3B-Q4_K_M", "ai" },
        { "docker/llama3.2", "docker" },
        { "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co" },
        { "huggingface.co/unsloth/Qwen3-0.6B-GGUF", "huggingface.co" },
        { "localhost:5000/foo", "localhost:5000" },
        { "smollm2", "docker" },
        { "llama3.2:latest", "docker" },
        { "simple-model", "docker" },
        { "/leading-slash", "docker" },
        { "a/", "a" },
        { "", "docker" }
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        owner = NULL;
        n = olla_model_owner(S(rows[i].id), &owner);

        assert_non_null(owner);
        assert_int_equal(n, strlen(rows[i].owner));
        assert_memory_equal(owner, rows[i].owner, n);
    }

    /* only len bytes are looked at */
    n = olla_model_owner("smollm2/x", 7, &owner);
    assert_int_equal(n, 6);
    assert_memory_equal(owner, "docker", 6);

    n = olla_model_owner(NULL, 0, &owner);
    assert_int_equal(n, 6);
    assert_memory_equal(owner, "docker", 6);
}


/* ------------------------------------------------------------ headers */

typedef struct {
    const char  *in;
    size_t       cap;
    const char  *out;
} hv_row_t;

static const hv_row_t  hv_rows[] = {
    { "ai/smollm2:latest", 256, "ai/smollm2:latest" },
    { "ai/smollm2\r\nX-Injected: 1", 256, "ai/smollm2X-Injected: 1" },
    { "ai/smollm2\r\n X-Injected: 1", 256, "ai/smollm2 X-Injected: 1" },
    { "a\nb\rc\0d", 256, "abcd" },
    { "  leading and   trailing  ", 256, "leading and trailing" },
    { "tab\there", 256, "tab here" },
    { "\x01\x02\x1b[31mred\x7f", 256, "[31mred" },
    { "caf\xc3\xa9 model", 256, "caf model" },
    { "\xff\xfe", 256, "" },
    { "", 256, "" },
    { "   ", 256, "" },
    { "abcdef", 4, "abc" },
    { "ab cd", 4, "ab" },
    { "ab cd", 5, "ab c" },
    { "ab cd", 3, "ab" },
    { "a b", 2, "a" },
    { "a b", 3, "a" },
    { "a b", 4, "a b" },
    { "abc", 1, "" }
};


static void
test_header_value(void **state)
{
    char    out[300];
    size_t  i, n, len;

    for (i = 0; i < sizeof(hv_rows) / sizeof(hv_rows[0]); i++) {
        len = strlen(hv_rows[i].in);

        if (strcmp(hv_rows[i].in, "a\nb\rc") == 0) {
            len = 7;
        }

        memset(out, 'X', sizeof(out));
        n = olla_header_value(hv_rows[i].in, len, out, hv_rows[i].cap);

        if (n != strlen(hv_rows[i].out) || strcmp(out, hv_rows[i].out) != 0)
        {
            print_error("header value row %zu: got \"%s\" (%zu), "
                        "want \"%s\"\n", i, out, n, hv_rows[i].out);
            fail();
        }

        assert_int_equal(out[hv_rows[i].cap], 'X');
    }

    /* cap 0: nothing written */
    out[0] = 'X';
    assert_int_equal(olla_header_value(S("abc"), out, 0), 0);
    assert_int_equal(out[0], 'X');
}


/* 10 KB of hostile input: bounded, only 0x20-0x7e, no double spaces */

static void
test_header_value_big(void **state)
{
    char      *in, out[512], big[12000];
    size_t     i, n, cap;
    uint32_t   seed;

    in = malloc(10240);
    assert_non_null(in);

    seed = 777;

    for (i = 0; i < 10240; i++) {
        seed = seed * 1103515245 + 12345;
        in[i] = (char) (seed >> 16);
    }

    for (cap = 1; cap <= sizeof(out); cap += 37) {
        memset(out, 'X', sizeof(out));
        n = olla_header_value(in, 10240, out, cap);

        assert_true(n < cap);
        assert_int_equal(strlen(out), n);

        for (i = 0; i < n; i++) {
            assert_true(out[i] >= 0x20 && out[i] <= 0x7e);
            assert_false(out[i] == ' ' && (i == 0 || i == n - 1
                                           || out[i + 1] == ' '));
        }

        if (cap < sizeof(out)) {
            assert_int_equal(out[cap], 'X');
        }
    }

    /* 10 KB of visible text into a large buffer: all of it */
    memset(in, 'm', 10240);
    n = olla_header_value(in, 10240, big, sizeof(big));
    assert_int_equal(n, 10240);

    /* and into a small one: cap - 1 bytes */
    n = olla_header_value(in, 10240, out, 256);
    assert_int_equal(n, 255);

    /* only CR, LF and NUL */
    for (i = 0; i < 10240; i++) {
        in[i] = "\r\n\0"[i % 3];
    }

    n = olla_header_value(in, 10240, out, sizeof(out));
    assert_int_equal(n, 0);
    assert_string_equal(out, "");

    free(in);
}


/* ------------------------------------------------------------ request id */

static void
test_request_id(void **state)
{
    char  id[200];

    assert_true(olla_request_id_valid(S("a")));
    assert_true(olla_request_id_valid(
                    S("3f2a9c1e-7b4d-4e8a-9c2f-1d3e5f7a9b0c")));
    assert_true(olla_request_id_valid(S("req_01HXYZ!~")));

    assert_false(olla_request_id_valid("", 0));
    assert_false(olla_request_id_valid(S("with space")));
    assert_false(olla_request_id_valid(S("tab\there")));
    assert_false(olla_request_id_valid(S("crlf\r\nX-Evil: 1")));
    assert_false(olla_request_id_valid(S("del\x7f")));
    assert_false(olla_request_id_valid(S("caf\xc3\xa9")));
    assert_false(olla_request_id_valid("nul\0x", 5));

    memset(id, 'r', sizeof(id));
    assert_true(olla_request_id_valid(id, 128));
    assert_false(olla_request_id_valid(id, 129));
    assert_false(olla_request_id_valid(id, sizeof(id)));

    /* only len bytes are looked at */
    assert_true(olla_request_id_valid("abc def", 3));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_normalise_table),
        cmocka_unit_test(test_normalise_not_terminated),
        cmocka_unit_test(test_normalise_truncation),
        cmocka_unit_test(test_normalise_idempotent),
        cmocka_unit_test(test_normalise_long),
        cmocka_unit_test(test_parse_dmr),
        cmocka_unit_test(test_parse_ollama),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_skips),
        cmocka_unit_test(test_parse_escapes),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_cap),
        cmocka_unit_test(test_pack_roundtrip),
        cmocka_unit_test(test_pack_empty),
        cmocka_unit_test(test_render_shapes),
        cmocka_unit_test(test_bytes_per_model),
        cmocka_unit_test(test_render_reduced),
        cmocka_unit_test(test_has_collision),
        cmocka_unit_test(test_pack_large),
        cmocka_unit_test(test_blob_truncated),
        cmocka_unit_test(test_blob_corrupt),
        cmocka_unit_test(test_owner),
        cmocka_unit_test(test_header_value),
        cmocka_unit_test(test_header_value_big),
        cmocka_unit_test(test_request_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
