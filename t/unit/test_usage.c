
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the token-count reader (src/olla_usage.c): the answers of
 * llama-server (DMR), OpenAI, Anthropic and the Responses API, each fed
 * whole, split in two at every byte and one byte at a time: the same
 * counts every way.  The SSE2 reader (keys found by their closing quote)
 * is held to the reference that takes every quote (t/unit/usage_ref.c)
 * on every key at every offset and on generated text.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "olla_usage.h"
#include "usage_ref.h"


typedef struct {
    int64_t   prompt, completion, cached;
    double    tps;
    unsigned  done;
} want_t;


static void
check_one(const olla_usage_t *u, const want_t *w, const char *how)
{
    if (u->prompt != w->prompt || u->completion != w->completion
        || u->cached != w->cached || u->done != w->done
        || (w->tps < 0 ? u->tokens_per_second >= 0
                       : (u->tokens_per_second < w->tps - 0.01
                          || u->tokens_per_second > w->tps + 0.01)))
    {
        fail_msg("%s: prompt %lld completion %lld cached %lld tps %.2f "
                 "done %u; want %lld %lld %lld %.2f %u", how,
                 (long long) u->prompt, (long long) u->completion,
                 (long long) u->cached, u->tokens_per_second, u->done,
                 (long long) w->prompt, (long long) w->completion,
                 (long long) w->cached, w->tps, w->done);
    }
}


/* whole, split in two everywhere, byte by byte */

static void
check(const char *text, const want_t *w)
{
    size_t        n, k, i;
    olla_usage_t  u;
    char          how[64];

    n = strlen(text);

    olla_usage_init(&u);
    olla_usage_feed(&u, text, n);
    olla_usage_finish(&u);
    check_one(&u, w, "whole");

    for (k = 1; k < n; k++) {
        olla_usage_init(&u);
        olla_usage_feed(&u, text, k);
        olla_usage_feed(&u, text + k, n - k);
        olla_usage_finish(&u);
        snprintf(how, sizeof(how), "split at %zu", k);
        check_one(&u, w, how);
    }

    olla_usage_init(&u);

    for (i = 0; i < n; i++) {
        olla_usage_feed(&u, text + i, 1);
    }

    olla_usage_finish(&u);
    check_one(&u, w, "byte by byte");
}


/* llama-server through DMR: the final usage chunk and timings */

static void
test_openai_stream(void **state)
{
    static const want_t  w = { 2048, 17, 2030, 123.45, 1 };

    check("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\","
          "\"content\":\"\"},\"index\":0,\"finish_reason\":null}],"
          "\"usage\":null}\n\n"
          "data: {\"choices\":[{\"delta\":{\"content\":\"Hello "
          "\\\"prompt_tokens\\\":99 [DONE]\"},\"index\":0,"
          "\"finish_reason\":null}],\"usage\":null}\n\n"
          "data: {\"choices\":[{\"delta\":{},\"index\":0,"
          "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
          "data: {\"choices\":[],\"usage\":{\"completion_tokens\":17,"
          "\"prompt_tokens\":2048,\"total_tokens\":2065,"
          "\"prompt_tokens_details\":{\"cached_tokens\":2030}},"
          "\"timings\":{\"cache_n\":2030,\"prompt_n\":18,"
          "\"prompt_ms\":52.1,\"predicted_n\":17,\"predicted_ms\":137.7,"
          "\"predicted_per_second\":123.45}}\n\n"
          "data: [DONE]\n\n", &w);
}


/* a stream cut before its end: counts unknown, not done */

static void
test_cut(void **state)
{
    static const want_t  w = { -1, -1, -1, -1, 0 };

    check("data: {\"choices\":[{\"delta\":{\"content\":\"The model "
          "says [DONE] and \\\"finish_reason\\\":\\\"stop\\\"\"},"
          "\"finish_reason\":null}]}\n\n"
          "data: {\"choices\":[{\"delta\":{\"content\":\"more\"},"
          "\"finish_reason\":null}]}\n\n", &w);
}


/* a non-streamed answer: usage and timings at the top level */

static void
test_openai_json(void **state)
{
    static const want_t  w = { 40, 8, 0, 80.0, 1 };

    check("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
          "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
          "\"content\":\"hi\"},\"finish_reason\":\"length\"}],"
          "\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":8,"
          "\"total_tokens\":48,\"prompt_tokens_details\":"
          "{\"cached_tokens\":0}},\"timings\":{\"predicted_n\":8,"
          "\"predicted_ms\":100}}", &w);
}


/* timings alone (no usage object): evaluated + cached is the prompt */

static void
test_timings_only(void **state)
{
    static const want_t  w = { 530, 12, 500, 60.0, 1 };

    check("{\"choices\":[{\"finish_reason\":\"stop\"}],\"timings\":"
          "{\"cache_n\":500,\"prompt_n\":30,\"predicted_n\":12,"
          "\"predicted_ms\":200.0}}", &w);
}


/* Ollama's native NDJSON stream: counts and nanoseconds in the last line */

static void
test_ollama_stream(void **state)
{
    static const want_t  w = { 26, 40, -1, 50.0, 1 };
    static const want_t  cut = { -1, -1, -1, -1, 0 };

    check("{\"model\":\"m\",\"message\":{\"content\":\"Hi\"},"
          "\"done\":false}\n"
          "{\"model\":\"m\",\"done\":true,\"done_reason\":\"stop\","
          "\"prompt_eval_count\":26,\"eval_count\":40,"
          "\"eval_duration\":800000000}\n", &w);

    check("{\"model\":\"m\",\"message\":{\"content\":\"Hi\"},"
          "\"done\":false}\n", &cut);
}


/* llama-server's Anthropic stream: input_tokens excludes cache reads */

static void
test_anthropic_stream(void **state)
{
    static const want_t  w = { 30000, 42, 29000, -1, 1 };

    check("event: message_start\ndata: {\"type\":\"message_start\","
          "\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":"
          "\"assistant\",\"content\":[],\"usage\":{\"cache_read_input_tokens"
          "\":29000,\"input_tokens\":1000,\"output_tokens\":0}}}\n\n"
          "event: content_block_delta\ndata: {\"type\":\"content_block_delta"
          "\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
          "\"ok\"}}\n\n"
          "event: message_delta\ndata: {\"type\":\"message_delta\","
          "\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":"
          "{\"output_tokens\":42}}\n\n"
          "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", &w);
}


/* the Responses API: input_tokens includes cached tokens */

static void
test_responses_stream(void **state)
{
    static const want_t  w = { 900, 33, 800, -1, 1 };

    check("event: response.created\ndata: {\"type\":\"response.created\","
          "\"response\":{\"id\":\"resp_1\",\"usage\":null}}\n\n"
          "event: response.output_text.delta\ndata: {\"type\":"
          "\"response.output_text.delta\",\"delta\":\"x\"}\n\n"
          "event: response.completed\ndata: {\"type\":\"response.completed"
          "\",\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":900,"
          "\"input_tokens_details\":{\"cached_tokens\":800},"
          "\"output_tokens\":33,\"total_tokens\":933}}}\n\n", &w);
}


/*
 * How an answer ended, beyond its counts: an error of the backend's own
 * (failed), response.incomplete (done), the last sequence_number; each
 * fed whole, split everywhere and byte by byte
 */

typedef struct {
    unsigned  done, failed;
    int64_t   seq;
} end_t;


static void
check_end(const char *text, const end_t *w)
{
    size_t        n, k, i;
    olla_usage_t  u;

    n = strlen(text);

    for (k = 0; k <= n + 1; k++) {
        olla_usage_init(&u);

        if (k <= n) {
            olla_usage_feed(&u, text, k);
            olla_usage_feed(&u, text + k, n - k);

        } else {
            for (i = 0; i < n; i++) {
                olla_usage_feed(&u, text + i, 1);
            }
        }

        if (u.done != w->done || u.failed != w->failed || u.seq != w->seq) {
            fail_msg("%s (split %zu): done %u failed %u seq %lld; want "
                     "%u %u %lld", text, k, u.done, u.failed,
                     (long long) u.seq, w->done, w->failed,
                     (long long) w->seq);
        }
    }
}


static void
test_end(void **state)
{
    /* OpenAI's error event mid-stream; a null error is no error */
    check_end("data: {\"choices\":[{\"delta\":{\"content\":\"a\"},"
              "\"finish_reason\":null}],\"error\":null}\n\n"
              "data: {\"error\":{\"message\":\"boom\","
              "\"type\":\"server_error\"}}\n\n",
              &(end_t) { 0, 1, -1 });

    /* text that only looks like one is none */
    check_end("data: {\"choices\":[{\"delta\":{\"content\":"
              "\"\\\"error\\\":{\\\"type\\\":\\\"error\\\"\"},"
              "\"finish_reason\":null}]}\n\n",
              &(end_t) { 0, 0, -1 });

    /* Anthropic's error event */
    check_end("event: message_start\ndata: {\"type\":\"message_start\"}"
              "\n\nevent: error\ndata: {\"type\":\"error\",\"error\":"
              "{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n",
              &(end_t) { 0, 1, -1 });

    /* the Responses API: failed, incomplete, the last sequence number */
    check_end("event: response.created\ndata: {\"type\":"
              "\"response.created\",\"sequence_number\":0,\"response\":"
              "{\"id\":\"resp_1\",\"error\":null}}\n\n"
              "event: response.output_text.delta\ndata: {\"type\":"
              "\"response.output_text.delta\",\"sequence_number\":17,"
              "\"delta\":\"x\"}\n\n",
              &(end_t) { 0, 0, 17 });
    check_end("data: {\"type\":\"response.failed\",\"sequence_number\":"
              "3,\"response\":{\"status\":\"failed\"}}\n\n",
              &(end_t) { 0, 1, 3 });
    check_end("data: {\"type\":\"response.incomplete\",\"sequence_number"
              "\":9}\n\n", &(end_t) { 1, 0, 9 });
    check_end("data: {\"type\":\"error\",\"code\":\"server_error\","
              "\"message\":\"m\",\"sequence_number\":2}\n\n",
              &(end_t) { 0, 1, 2 });

    /* Ollama's error line */
    check_end("{\"model\":\"m\",\"done\":false}\n{\"error\":\"out of "
              "memory\"}\n", &(end_t) { 0, 1, -1 });
}


/* odd spacing, a null finish_reason, keys with other values */

static void
test_odd(void **state)
{
    static const want_t  none = { -1, -1, -1, -1, 0 };
    static const want_t  w = { 7, 3, -1, -1, 1 };

    check("{\"finish_reason\" : null, \"prompt_tokens\" : \"7\", "
          "\"type\":\"message\"}", &none);
    check("{ \"prompt_tokens\" :\t7 ,\n\"completion_tokens\"\n:\n3,"
          "\"finish_reason\" :\"stop\" }", &w);
    check("", &none);
    check("\"", &none);
    check("data:[DONE]", &(want_t) { -1, -1, -1, -1, 1 });
    check("x[DONE]", &none);
}


/* an endless answer: the carry stays bounded, counts still found */

static void
test_long(void **state)
{
    size_t        i;
    olla_usage_t  u;
    char          chunk[] = "data: {\"choices\":[{\"delta\":{\"content\":"
                            "\"abc\"},\"finish_reason\":null}]}\n\n";

    olla_usage_init(&u);

    for (i = 0; i < 100000; i++) {
        olla_usage_feed(&u, chunk, sizeof(chunk) - 1);
        assert_true(u.carry_len <= OLLA_USAGE_CARRY);
    }

    olla_usage_feed(&u, "data: {\"usage\":{\"prompt_tokens\":1,"
                    "\"completion_tokens\":100000}}\n\ndata: [DONE]\n\n",
                    76);
    olla_usage_finish(&u);

    assert_true(u.completion == 100000);
    assert_true(u.done);
}


/* what the two readers said, field by field */

static void
same(const olla_usage_t *a, const olla_usage_t *b, const char *text,
    size_t n, const char *how)
{
    if (a->prompt != b->prompt || a->completion != b->completion
        || a->cached != b->cached || a->seq != b->seq
        || a->done != b->done || a->failed != b->failed
        || a->tokens_per_second != b->tokens_per_second)
    {
        fail_msg("%s: \"%.*s\": prompt %lld/%lld completion %lld/%lld "
                 "cached %lld/%lld seq %lld/%lld done %u/%u failed %u/%u "
                 "tps %g/%g", how, (int) n, text,
                 (long long) a->prompt, (long long) b->prompt,
                 (long long) a->completion, (long long) b->completion,
                 (long long) a->cached, (long long) b->cached,
                 (long long) a->seq, (long long) b->seq,
                 a->done, b->done, a->failed, b->failed,
                 a->tokens_per_second, b->tokens_per_second);
    }
}


/* text fed to both readers in the pieces cuts[] makes */

static void
both(const char *text, size_t n, const size_t *cuts, size_t ncuts,
    olla_usage_t *a)
{
    size_t        i, from, to;
    olla_usage_t  b;

    olla_usage_init(a);
    olla_usage_ref_init(&b);

    for (i = 0, from = 0; i <= ncuts; i++, from = to) {
        to = i < ncuts ? cuts[i] : n;
        olla_usage_feed(a, text + from, to - from);
        olla_usage_ref_feed(&b, text + from, to - from);
    }

    olla_usage_finish(a);
    olla_usage_ref_finish(&b);

    same(a, &b, text, n, ncuts ? "in pieces" : "whole");
}


/*
 * Every key after 0-47 bytes of padding (the 16-byte blocks, the 64 bytes
 * of quotes kept, the tail), written compactly, with white space before
 * its colon, escaped inside a string and run into a longer word: the
 * value found where a key is, not elsewhere, as the reference says.
 */

static void
test_offsets(void **state)
{
    size_t        i, pad, form, n, cut;
    olla_usage_t  u;
    char          text[256];

    static const char  *keys[] = {
        "prompt_tokens", "completion_tokens", "cached_tokens",
        "input_tokens", "output_tokens", "cache_read_input_tokens",
        "prompt_n", "cache_n", "predicted_n", "prompt_eval_count",
        "eval_count", "sequence_number", "predicted_ms",
        "predicted_per_second", "eval_duration", "finish_reason", "type",
        "done", "error", "total_tokens"
    };

    static const char  *forms[] = {
        "{\"x\":\"y\",\"%s\":42,\"z\":1}",
        "{\"%s\" :\t42}",
        "{\"%s\"\n:42}",
        "{\"c\":\"a \\\"%s\\\":42 b\"}",
        "{\"x%s\":42}",
        "{\"%sx\":42}",
        "[\"%s\":42]",
        "{\"a\":\"\\\\\",\"%s\":42}",
        "{\"%s\":\"stop\",\"type\":\"message_stop\"}",
    };

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        for (form = 0; form < sizeof(forms) / sizeof(forms[0]); form++) {
            for (pad = 0; pad < 48; pad++) {
                memset(text, ' ', pad);
                n = pad + (size_t) snprintf(text + pad, sizeof(text) - pad,
                                            forms[form], keys[i]);

                both(text, n, NULL, 0, &u);

                for (cut = 1; cut < n; cut += 7) {
                    both(text, n, &cut, 1, &u);
                }

                if (form == 0 && i == 0 && u.prompt != 42) {
                    fail_msg("prompt_tokens after %zu bytes: %lld", pad,
                             (long long) u.prompt);
                }

                if (form == 3 && u.prompt != -1) {
                    fail_msg("a key inside a string was read: %.*s",
                             (int) n, text);
                }
            }
        }
    }
}


/*
 * Generated text: keys, near misses, quotes, escapes, colons, numbers and
 * white space in any order, fed whole and in up to four pieces: the two
 * readers agree on everything.
 */

static uint64_t  rng = 0x9e3779b97f4a7c15ULL;

static unsigned
next(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return (unsigned) (rng % n);
}


static void
test_generated(void **state)
{
    size_t        i, j, n, len, ncuts, cuts[3];
    olla_usage_t  u;
    char          text[512];

    static const char  *bits[] = {
        "\"prompt_tokens\"", "\"completion_tokens\"", "\"cached_tokens\"",
        "\"input_tokens\"", "\"output_tokens\"", "\"predicted_n\"",
        "\"predicted_ms\"", "\"predicted_per_second\"", "\"cache_n\"",
        "\"prompt_n\"", "\"eval_count\"", "\"eval_duration\"",
        "\"prompt_eval_count\"", "\"cache_read_input_tokens\"",
        "\"sequence_number\"", "\"finish_reason\"", "\"type\"", "\"done\"",
        "\"error\"", "\"total_tokens\"", "\"prompt_tokenz\"", "\"usage\"",
        "\"message_stop\"", "\"response.completed\"", "\"response.failed\"",
        "\"stop\"", "\"", "\\\"", "\\\\", "\\", ":", ": ", " :", ",", "{", "}",
        "[", "]", " ", "  ", "\n", "\t", "\r", "12", "7", "3.5", "1e3", "-",
        "true", "null", "data: ", "[DONE]", "\n\n", "abc", "x", "p", "_",
        "\x01", "\xc3\xa9"
    };

    for (i = 0; i < 20000; i++) {
        len = 1 + next(300);

        for (n = 0; n < len; n += strlen(bits[j])) {
            j = next(sizeof(bits) / sizeof(bits[0]));

            if (n + strlen(bits[j]) >= sizeof(text)) {
                break;
            }

            memcpy(text + n, bits[j], strlen(bits[j]));
        }

        both(text, n, NULL, 0, &u);

        if (n < 2) {
            continue;
        }

        ncuts = 1 + next(3);

        for (j = 0; j < ncuts; j++) {
            cuts[j] = 1 + next((unsigned) n - 1);
        }

        /* in order; equal cuts make empty pieces, as nginx may */

        for (j = 1; j < ncuts; j++) {
            if (cuts[j] < cuts[j - 1]) {
                cuts[j] = cuts[j - 1];
            }
        }

        both(text, n, cuts, ncuts, &u);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_openai_stream),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_ollama_stream),
        cmocka_unit_test(test_openai_json),
        cmocka_unit_test(test_timings_only),
        cmocka_unit_test(test_anthropic_stream),
        cmocka_unit_test(test_responses_stream),
        cmocka_unit_test(test_end),
        cmocka_unit_test(test_odd),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_generated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
