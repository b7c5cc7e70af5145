
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the error catalogue and the error bodies
 * (src/olla_errors.c):
 *
 *   - every catalogue row is complete, and agrees with the Anthropic
 *     status -> type table (but for the documented 405);
 *   - the exact bodies in both dialects, with and without a request id,
 *     with a code and with "code":null, "param":null in OpenAI's;
 *   - nginx's refusals (401, 403, 429) and the CORS refusal;
 *   - escaping: quotes, backslashes, every control byte, U+0000 (escaped,
 *     never a truncation), valid UTF-8 kept byte for byte, invalid UTF-8
 *     (lone continuations, overlongs, surrogates, beyond U+10FFFF,
 *     truncated sequences, 0xF5..0xFF) replaced by U+FFFD one byte at a
 *     time;
 *   - every body parses with jansson and gives back the message after the
 *     same replacement, computed here by an independent decoder: for
 *     every message of one and two bytes, and for random messages;
 *   - olla_err_for_status() and olla_err_anthropic_type().
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

#include "olla_errors.h"


#define S(s)    (s), (sizeof(s) - 1)
#define FFFD    "\xef\xbf\xbd"


/* ------------------------------------------------------------ reference */

/*
 * The expected message: valid UTF-8 kept, any byte that does not start a
 * valid sequence replaced by U+FFFD, and the decoder moves on by one byte
 * (so "\xe6\x97" at the end gives two U+FFFD).  Written as a decoder
 * (code point value, then range checks), not as olla_errors.c's table of
 * continuation ranges.
 */

static char *
ref_sanitise(const unsigned char *p, size_t n, size_t *out_len)
{
    char      *out;
    size_t     i, k, need, len;
    uint32_t   cp, min;

    out = malloc(n * 3 + 1);
    assert_non_null(out);

    len = 0;
    i = 0;

    while (i < n) {

        if (p[i] < 0x80) {
            out[len++] = (char) p[i++];
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            need = 1;
            cp = p[i] & 0x1f;
            min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            need = 2;
            cp = p[i] & 0x0f;
            min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            need = 3;
            cp = p[i] & 0x07;
            min = 0x10000;

        } else {
            goto bad;
        }

        if (i + need >= n) {
            goto bad;
        }

        for (k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                goto bad;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            goto bad;
        }

        memcpy(out + len, p + i, need + 1);
        len += need + 1;
        i += need + 1;
        continue;

    bad:

        memcpy(out + len, FFFD, 3);
        len += 3;
        i++;
    }

    out[len] = '\0';
    *out_len = len;

    return out;
}


/* ------------------------------------------------------------ helpers */

static char *
body(olla_dialect_e d, olla_err_e e, const char *msg, size_t msg_len,
    const char *id, size_t id_len, size_t *len)
{
    char    *b;
    size_t   n;

    b = olla_err_json(d, olla_err(e), msg, msg_len, id, id_len, &n);
    assert_non_null(b);

    /* '\n'-terminated, one line, NUL after it */
    assert_true(n > 2);
    assert_int_equal(b[n - 1], '\n');
    assert_int_equal(b[n], '\0');
    assert_ptr_equal(memchr(b, '\n', n), b + n - 1);

    if (len) {
        *len = n;
    }

    return b;
}


static void
expect_body(olla_dialect_e d, olla_err_e e, const char *msg, size_t msg_len,
    const char *id, size_t id_len, const char *want)
{
    char    *b;
    size_t   n;

    b = body(d, e, msg, msg_len, id, id_len, &n);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    free(b);
}


/*
 * Parses a body with jansson and checks its whole shape; returns the
 * message (a copy, with its length) and, when want_id, checks the id.
 */

static char *
parse(olla_dialect_e d, const olla_err_t *row, const char *b, size_t n,
    const char *want_id, size_t want_id_len, size_t *msg_len)
{
    char          *m;
    json_t        *root, *err, *v;
    const char    *key;
    json_error_t   je;

    root = json_loadb(b, n, JSON_ALLOW_NUL, &je);

    if (root == NULL) {
        print_error("jansson: %s at %d in %.*s\n", je.text, je.position,
                    (int) n, b);
        fail();
    }

    assert_true(json_is_object(root));

    err = json_object_get(root, "error");
    assert_true(json_is_object(err));

    if (d == OLLA_DIALECT_ANTHROPIC) {
        assert_int_equal(json_object_size(root), want_id ? 3 : 2);
        assert_string_equal(json_string_value(json_object_get(root, "type")),
                            "error");
        assert_int_equal(json_object_size(err), 2);
        assert_string_equal(json_string_value(json_object_get(err, "type")),
                            row->anthropic_type);
        v = json_object_get(root, "request_id");

    } else {
        assert_int_equal(json_object_size(root), 1);
        assert_int_equal(json_object_size(err), want_id ? 5 : 4);
        assert_string_equal(json_string_value(json_object_get(err, "type")),
                            row->openai_type);

        /* OpenAI's own shape has "param": null, no parameter at fault */
        v = json_object_get(err, "param");
        assert_non_null(v);
        assert_true(json_is_null(v));

        v = json_object_get(err, "code");

        if (row->code) {
            assert_string_equal(json_string_value(v), row->code);

        } else {
            assert_true(json_is_null(v));
        }

        v = json_object_get(err, "request_id");
    }

    if (want_id) {
        assert_true(json_is_string(v));
        assert_int_equal(json_string_length(v), want_id_len);
        assert_memory_equal(json_string_value(v), want_id, want_id_len);

    } else {
        assert_null(v);
    }

    /* no other member */

    json_object_foreach(err, key, v) {
        assert_true(strcmp(key, "message") == 0 || strcmp(key, "type") == 0
                    || strcmp(key, "code") == 0
                    || strcmp(key, "param") == 0
                    || strcmp(key, "request_id") == 0);
    }

    v = json_object_get(err, "message");
    assert_true(json_is_string(v));

    *msg_len = json_string_length(v);
    m = malloc(*msg_len + 1);
    assert_non_null(m);
    memcpy(m, json_string_value(v), *msg_len + 1);

    json_decref(root);

    return m;
}


/* a message (and the same bytes as a request id) survive a round trip */

static void
roundtrip(const char *msg, size_t msg_len)
{
    int            d;
    char        *b, *got, *want;
    size_t       n, got_len, want_len, id_len;
    const char  *id;

    want = ref_sanitise((const unsigned char *) msg, msg_len, &want_len);

    for (d = OLLA_DIALECT_OPENAI; d <= OLLA_DIALECT_ANTHROPIC; d++) {

        /* without an id, then the message as the id too */

        id = NULL;
        id_len = 0;

        for ( ;; ) {
            b = body(d, OLLA_ERR_INVALID_REQUEST, msg, msg_len, id, id_len,
                     &n);
            got = parse(d, olla_err(OLLA_ERR_INVALID_REQUEST), b, n,
                        id ? want : NULL, want_len, &got_len);

            if (got_len != want_len || memcmp(got, want, want_len) != 0) {
                print_error("message of %zu bytes: got %zu bytes, want "
                            "%zu\n", msg_len, got_len, want_len);
                fail();
            }

            free(got);
            free(b);

            if (id || msg_len == 0) {
                break;
            }

            id = msg;
            id_len = msg_len;
        }
    }

    free(want);
}


/* the message written into the OpenAI body, as bytes in the body */

static void
expect_msg(const char *msg, size_t msg_len, const char *want)
{
    char    *b, *w;
    size_t   n, pre, post;

    static const char  head[] = "{\"error\":{\"message\":\"";
    static const char  tail[] = "\",\"type\":\"invalid_request_error\","
                                "\"param\":null,\"code\":null}}\n";

    pre = sizeof(head) - 1;
    post = sizeof(tail) - 1;

    b = body(OLLA_DIALECT_OPENAI, OLLA_ERR_INVALID_REQUEST, msg, msg_len,
             NULL, 0, &n);

    w = malloc(pre + strlen(want) + post + 1);
    assert_non_null(w);
    memcpy(w, head, pre);
    memcpy(w + pre, want, strlen(want));
    memcpy(w + pre + strlen(want), tail, post + 1);

    if (n != strlen(w) || memcmp(b, w, n) != 0) {
        print_error("got:  %.*s\nwant: %s\n", (int) n, b, w);
        fail();
    }

    free(w);
    free(b);

    roundtrip(msg, msg_len);
}


/* ------------------------------------------------------------ catalogue */

static void
test_catalogue(void **state)
{
    int               e;
    const olla_err_t  *row;

    for (e = 0; e < OLLA_ERR_COUNT; e++) {
        row = olla_err((olla_err_e) e);

        assert_non_null(row);
        assert_true(row->status >= 400 && row->status <= 599);
        assert_non_null(row->openai_type);
        assert_true(row->openai_type[0] != '\0');
        assert_non_null(row->anthropic_type);
        assert_true(row->anthropic_type[0] != '\0');
        assert_non_null(row->message);
        assert_true(row->message[0] != '\0');
        assert_true(row->code == NULL || row->code[0] != '\0');

        /* nothing in the catalogue needs escaping in a type or a code */
        assert_null(strpbrk(row->openai_type, "\"\\"));
        assert_null(strpbrk(row->anthropic_type, "\"\\"));
        assert_true(row->code == NULL || strpbrk(row->code, "\"\\") == NULL);

        /*
         * The Anthropic type is the status table's, but for 405 and 414:
         * the table (Olla's) says api_error for them, the catalogue says
         * invalid_request_error (a client mistake).
         */
        if (row->status != 405 && row->status != 414) {
            if (strcmp(row->anthropic_type,
                       olla_err_anthropic_type(row->status)) != 0)
            {
                print_error("row %d (%d): %s, table %s\n", e, row->status,
                            row->anthropic_type,
                            olla_err_anthropic_type(row->status));
                fail();
            }
        }
    }

    /* some rows by name */

    row = olla_err(OLLA_ERR_MODEL_NOT_FOUND);
    assert_int_equal(row->status, 404);
    assert_string_equal(row->openai_type, "invalid_request_error");
    assert_string_equal(row->code, "model_not_found");
    assert_string_equal(row->anthropic_type, "not_found_error");

    row = olla_err(OLLA_ERR_CONCURRENCY_LIMIT);
    assert_int_equal(row->status, 429);
    assert_string_equal(row->code, "concurrency_limit");

    row = olla_err(OLLA_ERR_QUEUE_FULL);
    assert_int_equal(row->status, 429);
    assert_string_equal(row->code, "queue_full");
    assert_string_equal(row->anthropic_type, "rate_limit_error");

    row = olla_err(OLLA_ERR_QUEUE_TIMEOUT);
    assert_int_equal(row->status, 429);
    assert_string_equal(row->code, "queue_timeout");

    row = olla_err(OLLA_ERR_INVALID_PATH);
    assert_int_equal(row->status, 400);
    assert_string_equal(row->code, "invalid_path");

    row = olla_err(OLLA_ERR_MESSAGE_TOO_LARGE);
    assert_int_equal(row->status, 413);
    assert_string_equal(row->anthropic_type, "request_too_large");

    row = olla_err(OLLA_ERR_UPSTREAM_UNAVAILABLE);
    assert_int_equal(row->status, 502);
    assert_string_equal(row->anthropic_type, "api_error");

    row = olla_err(OLLA_ERR_UPSTREAM_TIMEOUT);
    assert_int_equal(row->status, 504);
    assert_string_equal(row->anthropic_type, "timeout_error");

    /* a client key missing or wrong: OpenAI's and Anthropic's shapes */

    row = olla_err(OLLA_ERR_API_KEY_MISSING);
    assert_int_equal(row->status, 401);
    assert_string_equal(row->openai_type, "invalid_request_error");
    assert_null(row->code);
    assert_string_equal(row->anthropic_type, "authentication_error");

    row = olla_err(OLLA_ERR_API_KEY_INVALID);
    assert_int_equal(row->status, 401);
    assert_string_equal(row->openai_type, "invalid_request_error");
    assert_string_equal(row->code, "invalid_api_key");
    assert_string_equal(row->anthropic_type, "authentication_error");

    /* a stream's last event: OpenAI's mid-stream type */

    row = olla_err(OLLA_ERR_STREAM_CUT);
    assert_string_equal(row->openai_type, "server_error");
    assert_string_equal(row->code, "stream_interrupted");
    assert_string_equal(row->anthropic_type, "api_error");

    row = olla_err(OLLA_ERR_STREAM_IDLE);
    assert_string_equal(row->openai_type, "server_error");
    assert_string_equal(row->code, "stream_idle_timeout");
    assert_string_equal(row->anthropic_type, "timeout_error");

    assert_int_equal(olla_err(OLLA_ERR_BODY_TOO_LARGE)->status, 413);
    assert_int_equal(olla_err(OLLA_ERR_BAD_REQUEST)->status, 400);
    assert_int_equal(olla_err(OLLA_ERR_REQUEST_TIMEOUT)->status, 408);
    assert_int_equal(olla_err(OLLA_ERR_UNAVAILABLE)->status, 503);
    assert_int_equal(olla_err(OLLA_ERR_INTERNAL)->status, 500);
    assert_null(olla_err(OLLA_ERR_INTERNAL)->code);
    assert_int_equal(olla_err(OLLA_ERR_METHOD_NOT_ALLOWED)->status, 405);

    /* out of range: the internal error, never past the table */
    assert_ptr_equal(olla_err(OLLA_ERR_COUNT), olla_err(OLLA_ERR_INTERNAL));
    assert_ptr_equal(olla_err((olla_err_e) 1000),
                     olla_err(OLLA_ERR_INTERNAL));
    assert_ptr_equal(olla_err((olla_err_e) -1), olla_err(OLLA_ERR_INTERNAL));
}


/* every row's default body in both dialects parses and says the row */

static void
test_catalogue_bodies(void **state)
{
    int                e, d;
    char              *b, *m;
    size_t             n, mlen;
    const olla_err_t  *row;

    for (e = 0; e < OLLA_ERR_COUNT; e++) {
        row = olla_err((olla_err_e) e);

        for (d = OLLA_DIALECT_OPENAI; d <= OLLA_DIALECT_ANTHROPIC; d++) {
            b = body(d, (olla_err_e) e, NULL, 0, S("req-7"), &n);
            m = parse(d, row, b, n, "req-7", 5, &mlen);
            assert_string_equal(m, row->message);
            assert_int_equal(mlen, strlen(row->message));
            free(m);
            free(b);
        }
    }
}


/* ------------------------------------------------------------ bodies */

static void
test_body_openai(void **state)
{
    /* with a code and a request id */
    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_MODEL_NOT_FOUND,
                S("model \"x\" not found"), S("req-1"),
                "{\"error\":{\"message\":\"model \\\"x\\\" not found\","
                "\"type\":\"invalid_request_error\","
                "\"param\":null,\"code\":\"model_not_found\","
                "\"request_id\":\"req-1\"}}\n");

    /* without a request id: NULL, or an empty one */
    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_MODEL_NOT_FOUND,
                S("m"), NULL, 0,
                "{\"error\":{\"message\":\"m\","
                "\"type\":\"invalid_request_error\","
                "\"param\":null,\"code\":\"model_not_found\"}}\n");

    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_MODEL_NOT_FOUND,
                S("m"), "req-1", 0,
                "{\"error\":{\"message\":\"m\","
                "\"type\":\"invalid_request_error\","
                "\"param\":null,\"code\":\"model_not_found\"}}\n");

    /* code null, default message */
    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_INTERNAL, NULL, 0, S("r"),
                "{\"error\":{\"message\":\"the gateway failed to handle "
                "the request\",\"type\":\"server_error\","
                "\"param\":null,\"code\":null,"
                "\"request_id\":\"r\"}}\n");

    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_INVALID_REQUEST, NULL, 0,
                NULL, 0,
                "{\"error\":{\"message\":\"invalid request\","
                "\"type\":\"invalid_request_error\","
                "\"param\":null,\"code\":null}}\n");

    /* a default message with quotes is escaped too */
    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_INVALID_MODEL, NULL, 0,
                NULL, 0,
                "{\"error\":{\"message\":\"\\\"model\\\" must be a "
                "non-empty string\",\"type\":\"invalid_request_error\","
                "\"param\":null,\"code\":\"invalid_model\"}}\n");

    /* an empty message is an empty string, not the default */
    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_BAD_REQUEST, "", 0, NULL, 0,
                "{\"error\":{\"message\":\"\","
                "\"type\":\"invalid_request_error\","
                "\"param\":null,\"code\":\"bad_request\"}}\n");

    /* only msg_len bytes of the message */
    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_BAD_REQUEST, "abcdef", 3,
                "idXYZ", 2,
                "{\"error\":{\"message\":\"abc\","
                "\"type\":\"invalid_request_error\","
                "\"param\":null,\"code\":\"bad_request\","
                "\"request_id\":\"id\"}}\n");
}


static void
test_body_anthropic(void **state)
{
    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_MODEL_NOT_FOUND,
                S("model \"x\" not found"), S("req-1"),
                "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
                "\"message\":\"model \\\"x\\\" not found\"},"
                "\"request_id\":\"req-1\"}\n");

    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_MODEL_NOT_FOUND,
                S("m"), NULL, 0,
                "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
                "\"message\":\"m\"}}\n");

    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_MODEL_NOT_FOUND,
                S("m"), "req-1", 0,
                "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
                "\"message\":\"m\"}}\n");

    /* a row without a code: Anthropic bodies never carry one */
    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_INTERNAL, NULL, 0, S("r"),
                "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                "\"message\":\"the gateway failed to handle the request\"},"
                "\"request_id\":\"r\"}\n");

    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_UPSTREAM_TIMEOUT, S("slow"),
                NULL, 0,
                "{\"type\":\"error\",\"error\":{\"type\":\"timeout_error\","
                "\"message\":\"slow\"}}\n");

    /* a request id is escaped like a message */
    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_BAD_REQUEST, S("m"),
                S("a\"b\\c\x01\xff"),
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"invalid_request_error\",\"message\":\"m\"},"
                "\"request_id\":\"a\\\"b\\\\c\\u0001" FFFD "\"}\n");
}


/* a generic row (olla_err_for_status) is written like a catalogue row */

static void
test_body_generic_row(void **state)
{
    char        *b;
    size_t       n;
    olla_err_t   tmp;

    b = olla_err_json(OLLA_DIALECT_OPENAI, olla_err_for_status(418, &tmp),
                      S("no tea"), S("q"), &n);
    assert_non_null(b);
    assert_string_equal(b, "{\"error\":{\"message\":\"no tea\","
                        "\"type\":\"invalid_request_error\","
                        "\"param\":null,\"code\":null,"
                        "\"request_id\":\"q\"}}\n");
    assert_int_equal(n, strlen(b));
    free(b);

    b = olla_err_json(OLLA_DIALECT_ANTHROPIC, olla_err_for_status(418, &tmp),
                      NULL, 0, NULL, 0, &n);
    assert_non_null(b);
    assert_string_equal(b, "{\"type\":\"error\",\"error\":{\"type\":"
                        "\"api_error\",\"message\":\"the request "
                        "was refused\"}}\n");
    free(b);

    /* len may be NULL */
    b = olla_err_json(OLLA_DIALECT_OPENAI, olla_err(OLLA_ERR_INTERNAL), NULL,
                      0, NULL, 0, NULL);
    assert_non_null(b);
    assert_int_equal(b[strlen(b) - 1], '\n');
    free(b);
}


/* nginx's own refusals: 401, 403, 429 in both shapes */

static void
test_body_refusals(void **state)
{
    olla_err_t  tmp;

    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_UNAUTHORIZED, NULL, 0, S("r"),
                "{\"error\":{\"message\":\"authentication is required "
                "to use this API\",\"type\":\"authentication_error\","
                "\"param\":null,\"code\":\"unauthorized\","
                "\"request_id\":\"r\"}}\n");

    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_UNAUTHORIZED, NULL, 0,
                NULL, 0,
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"authentication_error\",\"message\":\"authentication "
                "is required to use this API\"}}\n");

    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_FORBIDDEN, S("no"), NULL, 0,
                "{\"error\":{\"message\":\"no\","
                "\"type\":\"permission_error\",\"param\":null,"
                "\"code\":\"forbidden\"}}\n");

    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_RATE_LIMITED, S("slow"),
                NULL, 0,
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"rate_limit_error\",\"message\":\"slow\"}}\n");

    expect_body(OLLA_DIALECT_OPENAI, OLLA_ERR_RATE_LIMITED, S("slow"),
                NULL, 0,
                "{\"error\":{\"message\":\"slow\","
                "\"type\":\"rate_limit_error\",\"param\":null,"
                "\"code\":\"rate_limit_exceeded\"}}\n");

    expect_body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_ORIGIN_NOT_ALLOWED, S("o"),
                NULL, 0,
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"permission_error\",\"message\":\"o\"}}\n");

    /* the CORS refusal is no status row: a 403 from nginx is "forbidden" */
    assert_ptr_equal(olla_err_for_status(403, &tmp),
                     olla_err(OLLA_ERR_FORBIDDEN));
}


/* ------------------------------------------------------------ escaping */

static void
test_escape_ascii(void **state)
{
    expect_msg(S("plain text"), "plain text");
    expect_msg(S("say \"hi\""), "say \\\"hi\\\"");
    expect_msg(S("C:\\path\\x"), "C:\\\\path\\\\x");
    expect_msg(S("\\\""), "\\\\\\\"");
    expect_msg(S("/v1/models?x=1&y=<a>"), "/v1/models?x=1&y=<a>");

    /* the short escapes */
    expect_msg(S("a\bb\tc\nd\fe\rf"), "a\\bb\\tc\\nd\\fe\\rf");

    /* the other controls as \u00XX, DEL as it is */
    expect_msg(S("\x01\x0b\x0e\x1b\x1f\x20\x7f"),
               "\\u0001\\u000B\\u000E\\u001B\\u001F \x7f");

    /* a CR LF cannot split the line */
    expect_msg(S("x\r\nX-Evil: 1"), "x\\r\\nX-Evil: 1");
}


static void
test_escape_controls_all(void **state)
{
    int    c;
    char   in[3], want[16];

    for (c = 0; c < 0x20; c++) {
        in[0] = '<';
        in[1] = (char) c;
        in[2] = '>';

        /* the short escapes, else \u00XX with capital hex digits */

        if (c >= '\b' && c <= '\r' && c != '\v') {
            snprintf(want, sizeof(want), "<\\%c>", "btn?fr"[c - '\b']);

        } else {
            snprintf(want, sizeof(want), "<\\u%04X>", c);
        }

        expect_msg(in, 3, want);
    }
}


static void
test_escape_nul(void **state)
{
    /* U+0000 is escaped, and what follows it is kept */
    expect_msg("a\0b", 3, "a\\u0000b");
    expect_msg("\0", 1, "\\u0000");
    expect_msg("\0\0x\0", 4, "\\u0000\\u0000x\\u0000");
    expect_msg("model\0\"\\\n", 9, "model\\u0000\\\"\\\\\\n");
}


static void
test_escape_utf8_valid(void **state)
{
    /* é, 日本, an emoji (4 bytes): as they are */
    expect_msg(S("caf\xc3\xa9"), "caf\xc3\xa9");
    expect_msg(S("\xe6\x97\xa5\xe6\x9c\xac"), "\xe6\x97\xa5\xe6\x9c\xac");
    expect_msg(S("\xf0\x9f\x98\x80!"), "\xf0\x9f\x98\x80!");
    expect_msg(S("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"x"),
               "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\\\"x");

    /* the edges of every range */
    expect_msg(S("\xc2\x80"), "\xc2\x80");                  /* U+0080 */
    expect_msg(S("\xdf\xbf"), "\xdf\xbf");                  /* U+07FF */
    expect_msg(S("\xe0\xa0\x80"), "\xe0\xa0\x80");          /* U+0800 */
    expect_msg(S("\xed\x9f\xbf"), "\xed\x9f\xbf");          /* U+D7FF */
    expect_msg(S("\xee\x80\x80"), "\xee\x80\x80");          /* U+E000 */
    expect_msg(S("\xef\xbf\xbf"), "\xef\xbf\xbf");          /* U+FFFF */
    expect_msg(S("\xef\xbf\xbd"), "\xef\xbf\xbd");          /* U+FFFD */
    expect_msg(S("\xf0\x90\x80\x80"), "\xf0\x90\x80\x80");  /* U+10000 */
    expect_msg(S("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");  /* U+10FFFF */

    /* U+2028 and U+2029 are valid JSON as they are */
    expect_msg(S("\xe2\x80\xa8\xe2\x80\xa9"), "\xe2\x80\xa8\xe2\x80\xa9");
}


static void
test_escape_utf8_invalid(void **state)
{
    int    c;
    char   in[3];

    /* a lone continuation byte */
    expect_msg(S("a\x80z"), "a" FFFD "z");
    expect_msg(S("\xbf"), FFFD);
    expect_msg(S("\xc3\xa9\xa9"), "\xc3\xa9" FFFD);

    /* overlongs: each byte replaced */
    expect_msg(S("\xc0\xaf"), FFFD FFFD);
    expect_msg(S("\xc1\xbf"), FFFD FFFD);
    expect_msg(S("\xe0\x80\xaf"), FFFD FFFD FFFD);
    expect_msg(S("\xe0\x9f\xbf"), FFFD FFFD FFFD);
    expect_msg(S("\xf0\x80\x80\xaf"), FFFD FFFD FFFD FFFD);
    expect_msg(S("\xf0\x8f\xbf\xbf"), FFFD FFFD FFFD FFFD);

    /* surrogates (U+D800, U+DFFF, a CESU-8 pair) */
    expect_msg(S("\xed\xa0\x80"), FFFD FFFD FFFD);
    expect_msg(S("\xed\xbf\xbf"), FFFD FFFD FFFD);
    expect_msg(S("\xed\xa0\xbd\xed\xb8\x80"),
               FFFD FFFD FFFD FFFD FFFD FFFD);

    /* beyond U+10FFFF */
    expect_msg(S("\xf4\x90\x80\x80"), FFFD FFFD FFFD FFFD);

    /*
     * A truncated sequence: every byte of it replaced (one U+FFFD per
     * byte; WHATWG's decoder would give one U+FFFD for the whole
     * truncated prefix; both are valid UTF-8 and keep the rest).
     */
    expect_msg(S("ok\xe6\x97"), "ok" FFFD FFFD);
    expect_msg(S("ok\xe6"), "ok" FFFD);
    expect_msg(S("ok\xf0\x9f\x98"), "ok" FFFD FFFD FFFD);
    expect_msg(S("ok\xc3"), "ok" FFFD);
    expect_msg(S("\xe6\x97z\xe6\x97\xa5"), FFFD FFFD "z\xe6\x97\xa5");
    expect_msg(S("\xf0\x9f\x98\"x"), FFFD FFFD FFFD "\\\"x");

    /* 0xF5..0xFF never start anything */
    for (c = 0xf5; c <= 0xff; c++) {
        in[0] = 'x';
        in[1] = (char) c;
        in[2] = 'y';
        expect_msg(in, 3, "x" FFFD "y");
    }

    expect_msg(S("\xf5\x80\x80\x80"), FFFD FFFD FFFD FFFD);
    expect_msg(S("\xfe\xff"), FFFD FFFD);

    /* the rest is kept: valid UTF-8, escapes and NUL around bad bytes */
    expect_msg("\x80\"\0\xc3\xa9\xff\\", 7,
               FFFD "\\\"\\u0000\xc3\xa9" FFFD "\\\\");
}


/* every message of one and two bytes, between two letters */

static void
test_roundtrip_short(void **state)
{
    int    a, b;
    char   m[4];

    for (a = 0; a < 256; a++) {
        m[0] = (char) a;
        roundtrip(m, 1);

        for (b = 0; b < 256; b++) {
            m[0] = 'x';
            m[1] = (char) a;
            m[2] = (char) b;
            m[3] = 'y';
            roundtrip(m, 4);
        }
    }
}


/* three-byte messages whose first byte leads a sequence */

static void
test_roundtrip_three(void **state)
{
    int    a, b, c;
    char   m[3];

    for (a = 0xe0; a <= 0xf4; a++) {
        for (b = 0x70; b <= 0xcf; b++) {
            for (c = 0x70; c <= 0xcf; c += 3) {
                m[0] = (char) a;
                m[1] = (char) b;
                m[2] = (char) c;
                roundtrip(m, 3);
            }
        }
    }
}


/* random messages biased to UTF-8-ish bytes, and long ones */

static void
test_roundtrip_random(void **state)
{
    int        i;
    char       m[64];
    size_t     n, k;
    uint32_t   x;

    static const unsigned char  pick[] = {
        0x00, 0x01, 0x1f, '"', '\\', 'a', '/', 0x7f, 0x80, 0x8f, 0x90,
        0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0,
        0xf4, 0xf5, 0xff
    };

    x = 12345;

    for (i = 0; i < 50000; i++) {
        x = x * 1103515245 + 12345;
        n = (x >> 16) % sizeof(m);

        for (k = 0; k < n; k++) {
            x = x * 1103515245 + 12345;

            m[k] = (x >> 24) & 1
                   ? (char) pick[(x >> 16) % sizeof(pick)]
                   : (char) (x >> 8);
        }

        roundtrip(m, n);
    }
}


static void
test_long_message(void **state)
{
    char    *m, *b, *got;
    size_t   i, n, len, got_len;

    /* 100000 bytes: é, a quote, a NUL and a bad byte, over and over */

    len = 100000;
    m = malloc(len);
    assert_non_null(m);

    for (i = 0; i < len; i += 5) {
        memcpy(m + i, "\xc3\xa9\"\0\xff", 5);
    }

    b = body(OLLA_DIALECT_ANTHROPIC, OLLA_ERR_INVALID_REQUEST, m, len,
             S("id"), &n);
    got = parse(OLLA_DIALECT_ANTHROPIC, olla_err(OLLA_ERR_INVALID_REQUEST),
                b, n, "id", 2, &got_len);

    assert_int_equal(got_len, len / 5 * 7);

    for (i = 0; i < got_len; i += 7) {
        assert_memory_equal(got + i, "\xc3\xa9\"\0" FFFD, 7);
    }

    free(got);
    free(b);
    free(m);
}


/* ------------------------------------------------------------ statuses */

static void
test_for_status_catalogue(void **state)
{
    size_t       i;
    olla_err_t   tmp, zero;

    static const struct {
        int          status;
        olla_err_e   e;
    }  rows[] = {
        { 502, OLLA_ERR_UPSTREAM_UNAVAILABLE },
        { 504, OLLA_ERR_UPSTREAM_TIMEOUT },
        { 413, OLLA_ERR_BODY_TOO_LARGE },
        { 400, OLLA_ERR_BAD_REQUEST },
        { 408, OLLA_ERR_REQUEST_TIMEOUT },
        { 503, OLLA_ERR_UNAVAILABLE },
        { 401, OLLA_ERR_UNAUTHORIZED },
        { 403, OLLA_ERR_FORBIDDEN },
        { 404, OLLA_ERR_NOT_FOUND },
        { 414, OLLA_ERR_URI_TOO_LONG },
        { 429, OLLA_ERR_RATE_LIMITED },
    };

    memset(&zero, 0, sizeof(olla_err_t));

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        memset(&tmp, 0, sizeof(olla_err_t));

        assert_ptr_equal(olla_err_for_status(rows[i].status, &tmp),
                         olla_err(rows[i].e));

        /* tmp is left alone */
        assert_memory_equal(&tmp, &zero, sizeof(olla_err_t));
    }
}


static void
test_for_status_generic(void **state)
{
    size_t             i;
    olla_err_t         tmp;
    const olla_err_t  *row;

    static const struct {
        int           status;
        const char   *openai;
        const char   *anthropic;
    }  rows[] = {
        { 402, "invalid_request_error", "api_error" },
        { 405, "invalid_request_error", "api_error" },
        { 411, "invalid_request_error", "api_error" },
        { 418, "invalid_request_error", "api_error" },
        { 499, "invalid_request_error", "api_error" },
        { 500, "server_error", "api_error" },
        { 501, "server_error", "api_error" },
        { 507, "server_error", "api_error" },
        { 529, "server_error", "overloaded_error" },
        { 599, "server_error", "api_error" },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        memset(&tmp, 0xa5, sizeof(olla_err_t));

        row = olla_err_for_status(rows[i].status, &tmp);

        assert_ptr_equal(row, &tmp);
        assert_int_equal(row->status, rows[i].status);
        assert_null(row->code);
        assert_string_equal(row->openai_type, rows[i].openai);
        assert_string_equal(row->anthropic_type, rows[i].anthropic);
        assert_ptr_equal(row->anthropic_type,
                         olla_err_anthropic_type(rows[i].status));
        assert_non_null(row->message);
        assert_true(row->message[0] != '\0');
    }

    /* the messages differ between client and server errors */
    assert_string_equal(olla_err_for_status(418, &tmp)->message,
                        "the request was refused");
    assert_string_equal(olla_err_for_status(500, &tmp)->message,
                        "the gateway failed to handle the request");
}


static void
test_anthropic_type(void **state)
{
    size_t  i;

    static const struct {
        int          status;
        const char  *type;
    }  rows[] = {
        { 400, "invalid_request_error" },
        { 401, "authentication_error" },
        { 403, "permission_error" },
        { 404, "not_found_error" },
        { 413, "request_too_large" },
        { 429, "rate_limit_error" },
        { 408, "timeout_error" },
        { 504, "timeout_error" },
        { 529, "overloaded_error" },

        /* everything else; 503 deliberately not overloaded_error */
        { 500, "api_error" },
        { 502, "api_error" },
        { 503, "api_error" },
        { 405, "api_error" },
        { 409, "api_error" },
        { 422, "api_error" },
        { 200, "api_error" },
        { 0, "api_error" },
        { -1, "api_error" },
        { 999, "api_error" },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (strcmp(olla_err_anthropic_type(rows[i].status), rows[i].type)
            != 0)
        {
            print_error("%d: %s, want %s\n", rows[i].status,
                        olla_err_anthropic_type(rows[i].status),
                        rows[i].type);
            fail();
        }
    }
}


/* ------------------------------------------------------------ reference */

/* the reference itself, so that a wrong expectation cannot pass twice */

static void
test_reference(void **state)
{
    char    *r;
    size_t   n;

    r = ref_sanitise((const unsigned char *) S("a\xc3\xa9\xe6\x97\xa5"
                                               "\xf0\x9f\x98\x80"), &n);
    assert_string_equal(r, "a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80");
    free(r);

    r = ref_sanitise((const unsigned char *) S("\xc0\xaf\xed\xa0\x80\xe6\x97"
                                               "\xf4\x90\x80\x80\xff"), &n);
    assert_int_equal(n, 12 * 3);
    free(r);
}

/* ------------------------------------------------------------ streams */

static void
expect_stream(olla_stream_e shape, olla_err_e err, const char *msg,
    size_t msg_len, const olla_stream_info_t *info, const char *want)
{
    char    *b;
    size_t   n;

    b = olla_err_stream(shape, olla_err(err), msg, msg_len, info, &n);
    assert_non_null(b);

    if (n != strlen(want) || memcmp(b, want, n) != 0) {
        print_error("got  %.*s\nwant %s\n", (int) n, b, want);
        fail();
    }

    free(b);
}


/* the JSON of an SSE event ("data: " up to the blank line), parsed */

static json_t *
stream_json(const char *b, size_t n)
{
    const char    *d, *end;
    json_t        *j;
    json_error_t   je;

    d = strstr(b, "data: ");
    assert_non_null(d);
    d += 6;

    assert_true(n >= 2 && b[n - 1] == '\n' && b[n - 2] == '\n');
    end = b + n - 2;

    j = json_loadb(d, end - d, JSON_ALLOW_NUL, &je);
    if (j == NULL) {
        print_error("%s: %.*s\n", je.text, (int) (end - d), d);
        fail();
    }

    return j;
}


static void
test_stream_events(void **state)
{
    olla_stream_info_t  info;

    memset(&info, 0, sizeof(info));
    info.request_id = "req-9";
    info.request_id_len = 5;
    info.sequence = -1;
    info.created_at = 1700000000;

    expect_stream(OLLA_STREAM_OPENAI, OLLA_ERR_STREAM_CUT, S("cut"), &info,
                  "data: {\"error\":{\"message\":\"cut\","
                  "\"type\":\"server_error\",\"param\":null,"
                  "\"code\":\"stream_interrupted\","
                  "\"request_id\":\"req-9\"}}\n\n");

    expect_stream(OLLA_STREAM_ANTHROPIC, OLLA_ERR_STREAM_IDLE, S("quiet"),
                  &info,
                  "event: error\ndata: {\"type\":\"error\",\"error\":"
                  "{\"type\":\"timeout_error\",\"message\":\"quiet\"},"
                  "\"request_id\":\"req-9\"}\n\n");

    /* Responses, before response.created: the error event */
    expect_stream(OLLA_STREAM_RESPONSES, OLLA_ERR_STREAM_CUT, S("cut"),
                  &info,
                  "event: error\ndata: {\"type\":\"error\","
                  "\"code\":\"stream_interrupted\",\"message\":\"cut\","
                  "\"param\":null,\"sequence_number\":0,\"error\":{"
                  "\"type\":\"server_error\",\"code\":\"stream_interrupted\","
                  "\"message\":\"cut\",\"param\":null}}\n\n");

    /* after it: response.failed, the next sequence number */
    info.response_id = "resp_abc";
    info.response_id_len = 8;
    info.model = "ai/smollm2";
    info.model_len = 10;
    info.sequence = 41;

    expect_stream(OLLA_STREAM_RESPONSES, OLLA_ERR_STREAM_IDLE, S("quiet"),
                  &info,
                  "event: response.failed\ndata: {\"type\":\"response.failed\","
                  "\"sequence_number\":42,\"response\":{\"id\":\"resp_abc\","
                  "\"object\":\"response\",\"created_at\":1700000000,"
                  "\"status\":\"failed\",\"error\":{\"code\":\"server_error\","
                  "\"message\":\"quiet\"},\"incomplete_details\":null,"
                  "\"model\":\"ai/smollm2\",\"output\":[]}}\n\n");

    info.model = NULL;
    info.model_len = 0;

    expect_stream(OLLA_STREAM_RESPONSES, OLLA_ERR_STREAM_CUT, S("x"), &info,
                  "event: response.failed\ndata: {\"type\":\"response.failed\","
                  "\"sequence_number\":42,\"response\":{\"id\":\"resp_abc\","
                  "\"object\":\"response\",\"created_at\":1700000000,"
                  "\"status\":\"failed\",\"error\":{\"code\":\"server_error\","
                  "\"message\":\"x\"},\"incomplete_details\":null,"
                  "\"model\":null,\"output\":[]}}\n\n");

    expect_stream(OLLA_STREAM_NDJSON, OLLA_ERR_STREAM_CUT, S("a \"b\""),
                  &info, "{\"error\":\"a \\\"b\\\"\"}\n");

    /* the row's message by default */
    expect_stream(OLLA_STREAM_NDJSON, OLLA_ERR_STREAM_CUT, NULL, 0, &info,
                  "{\"error\":\"the endpoint ended the stream before the "
                  "response was complete\"}\n");
}


/* any bytes in the message, the model and the ids: every event parses */

static void
test_stream_parse(void **state)
{
    int                 shape;
    char               *b;
    size_t              n;
    json_t             *j, *v;
    olla_stream_info_t  info;
    static const char   msg[] = "model \"ai/x\0y\" \xff\x01 \xe6\x97\xa5";

    memset(&info, 0, sizeof(info));
    info.request_id = "r\"\0";
    info.request_id_len = 3;
    info.response_id = "resp_\0\xc3";
    info.response_id_len = 7;
    info.model = "m\0\n";
    info.model_len = 3;
    info.sequence = 7;
    info.created_at = 1;

    for (shape = OLLA_STREAM_OPENAI; shape <= OLLA_STREAM_NDJSON; shape++) {
        b = olla_err_stream((olla_stream_e) shape,
                            olla_err(OLLA_ERR_STREAM_CUT), msg,
                            sizeof(msg) - 1, &info, &n);
        assert_non_null(b);

        /* one event: no blank line inside, nothing raw below 0x20 */
        assert_null(memchr(b, '\0', n));

        if (shape == OLLA_STREAM_NDJSON) {
            json_error_t  je;

            assert_true(b[n - 1] == '\n');
            assert_null(memchr(b, '\n', n - 1));
            j = json_loadb(b, n - 1, JSON_ALLOW_NUL, &je);
            assert_non_null(j);
            v = json_object_get(j, "error");

        } else {
            assert_true(strstr(b, "\n\n") == b + n - 2);
            j = stream_json(b, n);

            if (shape == OLLA_STREAM_RESPONSES) {
                assert_string_equal(json_string_value(json_object_get(j,
                                        "type")), "response.failed");
                assert_int_equal(json_integer_value(json_object_get(j,
                                        "sequence_number")), 8);
                v = json_object_get(json_object_get(j, "response"),
                                    "error");
                v = json_object_get(v, "message");

            } else {
                v = json_object_get(json_object_get(j, "error"), "message");
            }
        }

        assert_non_null(v);
        assert_true(json_string_length(v) > 14);
        /* U+0000 escaped, kept: never a truncation */
        assert_memory_equal(json_string_value(v), "model \"ai/x\0y\"", 14);

        json_decref(j);
        free(b);
    }
}


/* a client's string in a message: escaped, never cut at a U+0000 */

static void
test_quote(void **state)
{
    size_t  n;
    char    out[6 * 32];

    n = olla_err_quote(S("ai/x\0y"), out);
    assert_int_equal(n, 11);
    assert_memory_equal(out, "ai/x\\u0000y", 11);

    n = olla_err_quote(S("a\"b\\c\x01\x1f\x7f\xc3\xa9"), out);
    assert_int_equal(n, strlen("a\\\"b\\\\c\\u0001\\u001f\\u007f\xc3\xa9"));
    assert_memory_equal(out, "a\\\"b\\\\c\\u0001\\u001f\\u007f\xc3\xa9", n);

    /* the worst case: 6 bytes out for each byte in */
    memset(out, 'z', sizeof(out));
    n = olla_err_quote("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                       "\0\0\0\0\0\0\0\0\0\0\0", 32, out);
    assert_int_equal(n, sizeof(out));

    assert_int_equal(olla_err_quote("", 0, out), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_reference),
        cmocka_unit_test(test_catalogue),
        cmocka_unit_test(test_catalogue_bodies),
        cmocka_unit_test(test_body_openai),
        cmocka_unit_test(test_body_anthropic),
        cmocka_unit_test(test_body_generic_row),
        cmocka_unit_test(test_body_refusals),
        cmocka_unit_test(test_escape_ascii),
        cmocka_unit_test(test_escape_controls_all),
        cmocka_unit_test(test_escape_nul),
        cmocka_unit_test(test_escape_utf8_valid),
        cmocka_unit_test(test_escape_utf8_invalid),
        cmocka_unit_test(test_roundtrip_short),
        cmocka_unit_test(test_roundtrip_three),
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_long_message),
        cmocka_unit_test(test_for_status_catalogue),
        cmocka_unit_test(test_for_status_generic),
        cmocka_unit_test(test_anthropic_type),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_stream_events),
        cmocka_unit_test(test_stream_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
