
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the route table (src/olla_routes.c):
 *
 *   - olla_route_match() for every row and the paths next to them (a
 *     prefix too short, a segment longer, a trailing slash), each row's
 *     kind, dialect, action, methods, body rule and translator;
 *   - olla_route_reserved(), the reserved first segments;
 *   - olla_route_reserved_text() and olla_route_paths_text(): the exact
 *     texts, and truncation at every capacity (never a byte past cap,
 *     nothing written at cap 0);
 *   - olla_route_name().
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "olla_routes.h"


#define S(s)  (s), (sizeof(s) - 1)


/* ------------------------------------------------------------ match */

typedef struct {
    const char          *rest;
    const char          *row;       /* the row's path */
    unsigned             match;
    olla_route_kind_e    kind;
    olla_dialect_e       dialect;
    unsigned             methods;
    olla_route_act_e     action;
    unsigned             body;
    unsigned             xlat;
} match_t;


#define MODELS                                                               \
    "models", OLLA_MATCH_EXACT, OLLA_ROUTE_MODELS, OLLA_DIALECT_OPENAI,      \
    OLLA_METHOD_GET, OLLA_ACT_LIST_UNIFIED, OLLA_BODY_JSON, OLLA_XLAT_NONE

#define MESSAGES                                                             \
    "anthropic/v1/messages", OLLA_MATCH_EXACT, OLLA_ROUTE_ANTHROPIC,         \
    OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_POST, OLLA_ACT_PROXY,                \
    OLLA_BODY_MESSAGE_SHAPE, OLLA_XLAT_ANTHROPIC

#define COUNT_TOKENS                                                         \
    "anthropic/v1/messages/count_tokens", OLLA_MATCH_EXACT,                  \
    OLLA_ROUTE_ANTHROPIC, OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_POST,          \
    OLLA_ACT_PROXY, OLLA_BODY_MESSAGE, OLLA_XLAT_ANTHROPIC

#define ANTH_MODELS                                                          \
    "anthropic/v1/models", OLLA_MATCH_EXACT, OLLA_ROUTE_ANTHROPIC,           \
    OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_GET, OLLA_ACT_LIST_ANTHROPIC,        \
    OLLA_BODY_JSON, OLLA_XLAT_NONE

#define ANTH_404                                                             \
    "anthropic/", OLLA_MATCH_PREFIX, OLLA_ROUTE_ANTHROPIC,                   \
    OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_ANY, OLLA_ACT_NOT_FOUND,             \
    OLLA_BODY_JSON, OLLA_XLAT_NONE

#define PROXY_MODELS                                                         \
    "proxy/v1/models", OLLA_MATCH_EXACT, OLLA_ROUTE_PROXY,                   \
    OLLA_DIALECT_OPENAI, OLLA_METHOD_GET, OLLA_ACT_LIST_OPENAI,              \
    OLLA_BODY_JSON, OLLA_XLAT_NONE

#define PROXY_V1                                                             \
    "proxy/v1/", OLLA_MATCH_PREFIX, OLLA_ROUTE_PROXY, OLLA_DIALECT_OPENAI,   \
    OLLA_METHOD_ANY, OLLA_ACT_PROXY, OLLA_BODY_JSON, OLLA_XLAT_NONE

#define RESPONSES                                                            \
    "proxy/v1/responses", OLLA_MATCH_EXACT, OLLA_ROUTE_PROXY,                \
    OLLA_DIALECT_OPENAI, OLLA_METHOD_POST, OLLA_ACT_PROXY, OLLA_BODY_JSON,   \
    OLLA_XLAT_RESPONSES

#define RESPONSE_ID                                                          \
    "proxy/v1/responses/", OLLA_MATCH_PREFIX, OLLA_ROUTE_PROXY,              \
    OLLA_DIALECT_OPENAI, OLLA_METHOD_ANY, OLLA_ACT_RESPONSE, OLLA_BODY_JSON, \
    OLLA_XLAT_NONE

#define PROXY_404                                                            \
    "proxy", OLLA_MATCH_SEGMENT, OLLA_ROUTE_PROXY, OLLA_DIALECT_OPENAI,      \
    OLLA_METHOD_ANY, OLLA_ACT_NOT_FOUND, OLLA_BODY_JSON, OLLA_XLAT_NONE

#define PROVIDER                                                             \
    "", OLLA_MATCH_PROVIDER, OLLA_ROUTE_PROVIDER, OLLA_DIALECT_OPENAI,       \
    OLLA_METHOD_ANY, OLLA_ACT_PROXY, OLLA_BODY_JSON, OLLA_XLAT_NONE


static const match_t  matches[] = {

    /* the unified model list, exactly */
    { "models", MODELS },
    { "models/", PROVIDER },
    { "models/x", PROVIDER },
    { "modelsx", PROVIDER },
    { "model", PROVIDER },
    { "Models", PROVIDER },

    /* Anthropic */
    { "anthropic/v1/messages", MESSAGES },
    { "anthropic/v1/messages/count_tokens", COUNT_TOKENS },
    { "anthropic/v1/models", ANTH_MODELS },
    { "anthropic/v1/other", ANTH_404 },
    { "anthropic/v1/messages/", ANTH_404 },
    { "anthropic/v1/messagesx", ANTH_404 },
    { "anthropic/v1/messages/count_tokens/x", ANTH_404 },
    { "anthropic/v1/models/x", ANTH_404 },
    { "anthropic/v1", ANTH_404 },
    { "anthropic/", ANTH_404 },
    { "anthropic/v2/messages", ANTH_404 },

    /*
     * "anthropic" alone is no Anthropic path: the provider row (the glue
     * then finds no profile with that prefix, as the table reserves it,
     * and answers an OpenAI-shaped 404).
     */
    { "anthropic", PROVIDER },
    { "anthropicx/v1/messages", PROVIDER },

    /* proxy */
    { "proxy/v1/models", PROXY_MODELS },
    { "proxy/v1/chat/completions", PROXY_V1 },
    { "proxy/v1/embeddings", PROXY_V1 },
    { "proxy/v1/models/x", PROXY_V1 },
    { "proxy/v1/responses", RESPONSES },
    { "proxy/v1/responses/resp_1", RESPONSE_ID },
    { "proxy/v1/responses/resp_1/input_items", RESPONSE_ID },
    { "proxy/v1/responses/", RESPONSE_ID },
    { "proxy/v1/responsesx", PROXY_V1 },
    { "proxy/v1/", PROXY_V1 },
    { "proxy/v1", PROXY_404 },
    { "proxy/v2/chat/completions", PROXY_404 },
    { "proxy/", PROXY_404 },
    { "proxy", PROXY_404 },
    { "proxyx/v1/chat/completions", PROVIDER },
    { "proxyx", PROVIDER },
    { "prox", PROVIDER },

    /* providers */
    { "", PROVIDER },
    { "dmr/engines/v1/chat/completions", PROVIDER },
    { "dmr/engines/llama.cpp/v1/models", PROVIDER },
    { "ollama/api/tags", PROVIDER },
    { "v1/chat/completions", PROVIDER },
};


static void
test_match(void **state)
{
    size_t               i;
    const match_t       *m;
    const olla_route_t  *r;

    for (i = 0; i < sizeof(matches) / sizeof(match_t); i++) {
        m = &matches[i];
        r = olla_route_match(m->rest, strlen(m->rest));

        assert_non_null(r);

        if (strcmp(r->path, m->row) != 0 || r->match != m->match) {
            print_error("\"%s\": row \"%s\" (%u), want \"%s\" (%u)\n",
                        m->rest, r->path, r->match, m->row, m->match);
            fail();
        }

        assert_int_equal(r->len, strlen(r->path));
        assert_int_equal(r->kind, m->kind);
        assert_int_equal(r->dialect, m->dialect);
        assert_int_equal(r->methods, m->methods);
        assert_int_equal(r->action, m->action);
        assert_int_equal(r->body, m->body);
        assert_int_equal(r->xlat, m->xlat);

        if (m->match == OLLA_MATCH_PROVIDER) {
            assert_ptr_equal(r, olla_route_provider());
        }
    }
}


static void
test_match_len(void **state)
{
    const olla_route_t  *r;

    /* only len bytes: "models" out of "models/extra" */
    r = olla_route_match("models/extra", 6);
    assert_int_equal(r->kind, OLLA_ROUTE_MODELS);

    r = olla_route_match("anthropic/v1/messages/count_tokens", 21);
    assert_int_equal(r->body, OLLA_BODY_MESSAGE_SHAPE);

    r = olla_route_match("proxyx", 5);
    assert_int_equal(r->action, OLLA_ACT_NOT_FOUND);
    assert_int_equal(r->kind, OLLA_ROUTE_PROXY);

    r = olla_route_match("proxy/v1/x", 9);
    assert_int_equal(r->action, OLLA_ACT_PROXY);

    r = olla_route_match("proxy/v1/x", 8);
    assert_int_equal(r->action, OLLA_ACT_NOT_FOUND);

    /* no length: the provider row, whatever the pointer */
    assert_ptr_equal(olla_route_match("models", 0), olla_route_provider());
    assert_ptr_equal(olla_route_match(NULL, 0), olla_route_provider());

    /* a NUL byte is a byte */
    r = olla_route_match("models\0", 7);
    assert_ptr_equal(r, olla_route_provider());

    r = olla_route_match("proxy\0/v1/x", 11);
    assert_ptr_equal(r, olla_route_provider());
}


static void
test_provider(void **state)
{
    const olla_route_t  *r;

    r = olla_route_provider();

    assert_non_null(r);
    assert_int_equal(r->match, OLLA_MATCH_PROVIDER);
    assert_int_equal(r->kind, OLLA_ROUTE_PROVIDER);
    assert_int_equal(r->dialect, OLLA_DIALECT_OPENAI);
    assert_int_equal(r->action, OLLA_ACT_PROXY);
    assert_int_equal(r->methods, OLLA_METHOD_ANY);
    assert_int_equal(r->len, 0);
    assert_string_equal(r->path, "");
    assert_ptr_equal(r, olla_route_provider());
}


/* ------------------------------------------------------------ reserved */

static void
test_reserved(void **state)
{
    assert_true(olla_route_reserved(S("models")));
    assert_true(olla_route_reserved(S("anthropic")));
    assert_true(olla_route_reserved(S("proxy")));

    assert_false(olla_route_reserved(S("dmr")));
    assert_false(olla_route_reserved(S("ollama")));
    assert_false(olla_route_reserved(S("prox")));
    assert_false(olla_route_reserved(S("proxyx")));
    assert_false(olla_route_reserved(S("modelsx")));
    assert_false(olla_route_reserved(S("model")));
    assert_false(olla_route_reserved(S("Models")));
    assert_false(olla_route_reserved(S("anthropic/")));
    assert_false(olla_route_reserved(S("anthropic/v1")));
    assert_false(olla_route_reserved(S("proxy/v1")));
    assert_false(olla_route_reserved(S("v1")));
    assert_false(olla_route_reserved(S("/")));
    assert_false(olla_route_reserved("", 0));
    assert_false(olla_route_reserved(NULL, 0));

    /* only len bytes */
    assert_true(olla_route_reserved("proxyx", 5));
    assert_false(olla_route_reserved("models", 5));
    assert_false(olla_route_reserved("proxy\0", 6));
}


/* ------------------------------------------------------------ texts */

#define GUARD  0x5a


/*
 * The text at every capacity from 0 to past its length: the longest
 * prefix that fits, NUL-terminated, its length returned, and no byte
 * written at buf[cap] or after.
 */

typedef size_t (*text_pt)(char *buf, size_t cap, int kind);


static size_t
text_reserved(char *buf, size_t cap, int kind)
{
    return olla_route_reserved_text(buf, cap);
}


static size_t
text_paths(char *buf, size_t cap, int kind)
{
    return olla_route_paths_text((olla_route_kind_e) kind, buf, cap);
}


static void
expect_text(text_pt text, int kind, const char *want)
{
    char     buf[512];
    size_t   cap, n, len, i;

    len = strlen(want);
    assert_true(len + 8 < sizeof(buf));

    for (cap = 0; cap <= len + 4; cap++) {
        memset(buf, GUARD, sizeof(buf));

        n = text(buf, cap, kind);

        if (cap == 0) {
            /* nothing written at all */
            assert_int_equal(n, 0);

            for (i = 0; i < sizeof(buf); i++) {
                assert_int_equal((unsigned char) buf[i], GUARD);
            }

            continue;
        }

        assert_int_equal(n, len < cap - 1 ? len : cap - 1);
        assert_int_equal(strlen(buf), n);
        assert_memory_equal(buf, want, n);

        for (i = n + 1; i < sizeof(buf); i++) {
            if ((unsigned char) buf[i] != GUARD) {
                print_error("cap %zu: byte %zu written\n", cap, i);
                fail();
            }
        }
    }

    /* cap 0 with no buffer at all */
    assert_int_equal(text(NULL, 0, kind), 0);
}


static void
test_reserved_text(void **state)
{
    char    buf[128];
    size_t  n;

    n = olla_route_reserved_text(buf, sizeof(buf));
    assert_string_equal(buf, "\"models\", \"anthropic/\" or \"proxy/\"");
    assert_int_equal(n, strlen(buf));

    expect_text(text_reserved, 0,
                "\"models\", \"anthropic/\" or \"proxy/\"");

    /* cap 1: an empty string */
    memset(buf, GUARD, sizeof(buf));
    assert_int_equal(olla_route_reserved_text(buf, 1), 0);
    assert_int_equal(buf[0], '\0');
    assert_int_equal((unsigned char) buf[1], GUARD);
}


static void
test_paths_text(void **state)
{
    char    buf[128];
    size_t  n;

    n = olla_route_paths_text(OLLA_ROUTE_ANTHROPIC, buf, sizeof(buf));
    assert_string_equal(buf, "/v1/messages, /v1/messages/count_tokens and "
                        "/v1/models");
    assert_int_equal(n, strlen(buf));

    expect_text(text_paths, OLLA_ROUTE_ANTHROPIC,
                "/v1/messages, /v1/messages/count_tokens and /v1/models");

    /* the proxy route's one exact row (its prefix row is not listed) */
    expect_text(text_paths, OLLA_ROUTE_PROXY,
                "/v1/models and /v1/responses");

    /* "models" is all first segment; the others have no exact rows */
    expect_text(text_paths, OLLA_ROUTE_MODELS, "");
    expect_text(text_paths, OLLA_ROUTE_PROVIDER, "");
    expect_text(text_paths, OLLA_ROUTE_BALANCER, "");
    expect_text(text_paths, 99, "");
}


/* ------------------------------------------------------------ names */

static void
test_name(void **state)
{
    assert_string_equal(olla_route_name(OLLA_ROUTE_BALANCER), "balancer");
    assert_string_equal(olla_route_name(OLLA_ROUTE_MODELS), "models");
    assert_string_equal(olla_route_name(OLLA_ROUTE_ANTHROPIC), "anthropic");
    assert_string_equal(olla_route_name(OLLA_ROUTE_PROXY), "proxy");
    assert_string_equal(olla_route_name(OLLA_ROUTE_PROVIDER), "provider");
    assert_string_equal(olla_route_name((olla_route_kind_e) 5), "unknown");
    assert_string_equal(olla_route_name((olla_route_kind_e) 1000),
                        "unknown");
    assert_string_equal(olla_route_name((olla_route_kind_e) -1), "unknown");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_match_len),
        cmocka_unit_test(test_provider),
        cmocka_unit_test(test_reserved),
        cmocka_unit_test(test_reserved_text),
        cmocka_unit_test(test_paths_text),
        cmocka_unit_test(test_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
