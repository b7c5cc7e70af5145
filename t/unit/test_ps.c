
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the running-models reader (src/olla_ps.c): DMR's
 * /engines/ps and Ollama's /api/ps as their sources write them, RFC 3339
 * times, Go durations, and answers that are not what they should be.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "olla_ps.h"


#define S(s)  s, sizeof(s) - 1


/* as DMR's scheduler encodes them (scheduling/api.go BackendStatus) */

static const char  dmr_ps[] =
    "[{\"backend_name\":\"llama.cpp\",\"model_name\":\"smollm2\","
    "\"mode\":\"completion\",\"last_used\":\"2026-07-22T10:22:08.123456789Z\"},"
    "{\"backend_name\":\"llama.cpp\",\"model_name\":\"ai/qwen3\","
    "\"mode\":\"completion\",\"last_used\":\"0001-01-01T00:00:00Z\","
    "\"in_use\":true,\"keep_alive\":\"10m0s\"},"
    "{\"backend_name\":\"llama.cpp\",\"model_name\":\"AI/Gemma3:latest\","
    "\"mode\":\"completion\",\"last_used\":\"0001-01-01T00:00:00Z\","
    "\"loading\":true},"
    "{\"backend_name\":\"llama.cpp\",\"model_name\":\"ai/mxbai-embed-large\","
    "\"mode\":\"embedding\",\"last_used\":\"2026-07-22T12:22:08+02:00\","
    "\"keep_alive\":\"-1\"}]\n";

/* Ollama's /api/ps (api/types.go ProcessModelResponse) */

static const char  ollama_ps[] =
    "{\"models\":[{\"name\":\"llama3:latest\",\"model\":\"llama3:latest\","
    "\"size\":5137025024,\"digest\":\"365c0bd3c000\","
    "\"details\":{\"format\":\"gguf\",\"family\":\"llama\"},"
    "\"expires_at\":\"2026-08-21T10:00:00.123+02:00\","
    "\"size_vram\":5137025024,\"context_length\":8192},"
    "{\"name\":\"qwen3:8b\",\"model\":\"qwen3:8b\"}]}";


static void
test_dmr(void **state)
{
    char            err[128];
    olla_ps_list_t  l;

    assert_int_equal(olla_ps_parse(S(dmr_ps), OLLA_PS_DMR, &l, err,
                                   sizeof(err)), 0);
    assert_int_equal(l.n, 4);

    assert_string_equal(l.items[0].norm, "ai/smollm2:latest");
    assert_int_equal(l.items[0].mode, OLLA_PS_COMPLETION);
    assert_false(l.items[0].loading);
    assert_false(l.items[0].in_use);
    assert_true(l.items[0].last_used == 1784715728);
    assert_true(l.items[0].keep_alive == -2);

    assert_string_equal(l.items[1].norm, "ai/qwen3:latest");
    assert_true(l.items[1].in_use);
    assert_true(l.items[1].last_used == 0);
    assert_true(l.items[1].keep_alive == 600);

    assert_string_equal(l.items[2].norm, "ai/gemma3:latest");
    assert_true(l.items[2].loading);
    assert_false(l.items[2].in_use);

    assert_string_equal(l.items[3].norm, "ai/mxbai-embed-large:latest");
    assert_int_equal(l.items[3].mode, OLLA_PS_EMBEDDING);
    assert_true(l.items[3].last_used == 1784715728);
    assert_true(l.items[3].keep_alive == -1);

    olla_ps_free(&l);
    assert_null(l.items);

    assert_int_equal(olla_ps_parse(S("[]"), OLLA_PS_DMR, &l, err,
                                   sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    olla_ps_free(&l);
}


static void
test_ollama(void **state)
{
    char            err[128];
    olla_ps_list_t  l;

    assert_int_equal(olla_ps_parse(S(ollama_ps), OLLA_PS_OLLAMA, &l, err,
                                   sizeof(err)), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].norm, "ai/llama3:latest");
    assert_string_equal(l.items[1].norm, "ai/qwen3:8b");
    assert_false(l.items[0].loading);
    olla_ps_free(&l);

    assert_int_equal(olla_ps_parse(S("{\"models\":[]}"), OLLA_PS_OLLAMA, &l,
                                   err, sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    olla_ps_free(&l);
}


/* what a missing, slow or broken endpoint may answer */

static void
test_garbage(void **state)
{
    size_t          i;
    char            err[128];
    olla_ps_list_t  l;

    static const struct {
        const char        *body;
        olla_ps_format_e   format;
    } bad[] = {
        { "404 page not found\n", OLLA_PS_DMR },
        { "", OLLA_PS_DMR },
        { "{}", OLLA_PS_DMR },
        { "{\"models\":[]}", OLLA_PS_DMR },
        { "[", OLLA_PS_DMR },
        { "[]", OLLA_PS_OLLAMA },
        { "{\"models\":{}}", OLLA_PS_OLLAMA },
        { "null", OLLA_PS_OLLAMA },
        { "<html>", OLLA_PS_OLLAMA },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(olla_ps_parse(bad[i].body, strlen(bad[i].body),
                                       bad[i].format, &l, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
        assert_null(l.items);
        assert_int_equal(l.n, 0);
    }

    /* odd entries are skipped, the rest kept */

    assert_int_equal(olla_ps_parse(S("[1,\"x\",null,{},{\"model_name\":5},"
                                     "{\"model_name\":\"\"},"
                                     "{\"model_name\":\"ai/ok\","
                                     "\"last_used\":\"yesterday\","
                                     "\"keep_alive\":\"soon\","
                                     "\"loading\":\"yes\"}]"),
                                   OLLA_PS_DMR, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].norm, "ai/ok:latest");
    assert_true(l.items[0].last_used == 0);
    assert_true(l.items[0].keep_alive == -2);
    assert_false(l.items[0].loading);
    olla_ps_free(&l);
}


/* a long list is bounded */

static void
test_bounded(void **state)
{
    char            *body, *p, err[128];
    size_t           i;
    olla_ps_list_t   l;

    body = malloc(200 * 64 + 16);
    assert_non_null(body);

    p = body;
    *p++ = '[';

    for (i = 0; i < 200; i++) {
        p += sprintf(p, "%s{\"model_name\":\"ai/m%zu\"}", i ? "," : "", i);
    }

    *p++ = ']';

    assert_int_equal(olla_ps_parse(body, p - body, OLLA_PS_DMR, &l, err,
                                   sizeof(err)), 0);
    assert_int_equal(l.n, OLLA_PS_MAX);
    assert_string_equal(l.items[OLLA_PS_MAX - 1].norm, "ai/m63:latest");

    olla_ps_free(&l);
    free(body);
}


static void
test_time(void **state)
{
    assert_true(olla_ps_time(S("1970-01-01T00:00:01Z")) == 1);
    assert_true(olla_ps_time(S("2000-03-01T00:00:00Z")) == 951868800);
    assert_true(olla_ps_time(S("2026-07-22T10:22:08Z")) == 1784715728);
    assert_true(olla_ps_time(S("2026-07-22T10:22:08.5Z")) == 1784715728);
    assert_true(olla_ps_time(S("2026-07-22T12:22:08+02:00")) == 1784715728);
    assert_true(olla_ps_time(S("2026-07-22T08:22:08-02:00")) == 1784715728);
    assert_true(olla_ps_time(S("2024-02-29T00:00:00Z")) == 1709164800);
    assert_true(olla_ps_time(S("0001-01-01T00:00:00Z")) == 0);

    assert_true(olla_ps_time(S("")) == -1);
    assert_true(olla_ps_time(S("2026-07-22")) == -1);
    assert_true(olla_ps_time(S("2026-07-22T10:22:08")) == -1);
    assert_true(olla_ps_time(S("2026-13-22T10:22:08Z")) == -1);
    assert_true(olla_ps_time(S("2026-07-22T25:22:08Z")) == -1);
    assert_true(olla_ps_time(S("2026-07-22T10:22:08Zjunk")) == -1);
    assert_true(olla_ps_time(S("2026-07-22T10:22:08+0200")) == -1);
    assert_true(olla_ps_time(S("abcd-07-22T10:22:08Z")) == -1);
    assert_true(olla_ps_time(S("1969-12-31T23:59:59Z")) == -1);
}


static void
test_duration(void **state)
{
    int64_t  s;

    assert_int_equal(olla_ps_duration(S("5m0s"), &s), 0);
    assert_true(s == 300);
    assert_int_equal(olla_ps_duration(S("1h0m0s"), &s), 0);
    assert_true(s == 3600);
    assert_int_equal(olla_ps_duration(S("90s"), &s), 0);
    assert_true(s == 90);
    assert_int_equal(olla_ps_duration(S("1.5h"), &s), 0);
    assert_true(s == 5400);
    assert_int_equal(olla_ps_duration(S("1m30.5s"), &s), 0);
    assert_true(s == 90);
    assert_int_equal(olla_ps_duration(S("1500ms"), &s), 0);
    assert_true(s == 1);
    assert_int_equal(olla_ps_duration(S("0"), &s), 0);
    assert_true(s == 0);
    assert_int_equal(olla_ps_duration(S("-1"), &s), 0);
    assert_true(s == -1);
    assert_int_equal(olla_ps_duration(S("-5m"), &s), 0);
    assert_true(s == -1);

    assert_int_equal(olla_ps_duration(S(""), &s), -1);
    assert_int_equal(olla_ps_duration(S("5"), &s), -1);
    assert_int_equal(olla_ps_duration(S("5x"), &s), -1);
    assert_int_equal(olla_ps_duration(S("m"), &s), -1);
    assert_int_equal(olla_ps_duration(S("5m junk"), &s), -1);
}


static void
test_format(void **state)
{
    assert_int_equal(olla_ps_format(S("dmr")), OLLA_PS_DMR);
    assert_int_equal(olla_ps_format(S("ollama")), OLLA_PS_OLLAMA);
    assert_int_equal(olla_ps_format(S("DMR")), OLLA_PS_NONE);
    assert_int_equal(olla_ps_format(S("")), OLLA_PS_NONE);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_dmr),
        cmocka_unit_test(test_ollama),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
