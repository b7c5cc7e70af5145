
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target: one input through everything in olla_anthropic.h that
 * takes a whole body: the request translator, validate, count_tokens, the
 * non-streaming response translator and the error builders.  Besides the
 * sanitizers it checks that every output is JSON of the promised shape
 * and that the functions agree with each other, and that the request
 * shape rule gives validate's verdict and message when it is fed what an
 * olla_json scan of the body finds (the passthrough glue's way).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "olla_anthropic.h"
#include "olla_json.h"


#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #cond, __FILE__,   \
                    __LINE__);                                               \
            abort();                                                         \
        }                                                                    \
    } while (0)


static json_t *
must_parse(const char *p, size_t n)
{
    json_t  *v;

    CHECK(p != NULL);
    CHECK(strlen(p) == n);

    /* a client's \u0000 in a string is passed on as written: valid JSON */
    v = json_loadb(p, n, JSON_ALLOW_NUL, NULL);
    CHECK(json_is_object(v));

    return v;
}


/*
 * The shape rule from a scan of the body must say what validate said,
 * whenever both parsers take the body.
 */

static void
check_shape_by_scan(const char *body, size_t size, int rv, const char *verr)
{
    int                 rc;
    char                err[OLLA_ANTH_ERRLEN], *bufs;
    size_t              i;
    olla_json_scan_t    scan;
    olla_anth_shape_t   shape;
    olla_json_field_t   f[7];

    static const char  *keys[7] = {
        "model", "messages", "max_tokens", "temperature", "top_p", "top_k",
        "stream"
    };

    if (rv != 0 && (strncmp(verr, "request body ", 13) == 0
                    || strcmp(verr, "out of memory") == 0))
    {
        /* not a JSON object for the translator's parser */
        return;
    }

    bufs = malloc(5 * (size + 1));
    CHECK(bufs != NULL);

    memset(f, 0, sizeof(f));

    for (i = 0; i < 7; i++) {
        f[i].key = keys[i];
        f[i].key_len = strlen(keys[i]);

        if (i != 1 && i != 6) {
            f[i].value = bufs + (i ? i - 1 : 0) * (size + 1);
            f[i].cap = size + 1;
        }
    }

    olla_json_scan_init(&scan, f, 7, 512);

    if (olla_json_scan_feed(&scan, body, size) != OLLA_JSON_OK
        || olla_json_scan_end(&scan) != OLLA_JSON_OK)
    {
        /* the scanner's own limits (nesting) */
        free(bufs);
        return;
    }

    memset(&shape, 0, sizeof(olla_anth_shape_t));
    olla_anth_shape_value(&shape.model, &f[0]);
    olla_anth_shape_value(&shape.messages, &f[1]);
    olla_anth_shape_value(&shape.max_tokens, &f[2]);
    olla_anth_shape_value(&shape.temperature, &f[3]);
    olla_anth_shape_value(&shape.top_p, &f[4]);
    olla_anth_shape_value(&shape.top_k, &f[5]);
    olla_anth_shape_value(&shape.stream, &f[6]);

    CHECK(shape.model.type != OLLA_JSON_STRING || shape.model.text != NULL);

    err[0] = '\0';
    rc = olla_anth_check_shape(&shape, err, sizeof(err));

    if (rc != rv || (rc != 0 && strcmp(err, verr) != 0)) {
        fprintf(stderr, "shape: %d \"%s\", validate: %d \"%s\"\n", rc, err,
                rv, verr);
        CHECK(0);
    }

    free(bufs);
}


static void
check_error_body(const char *p, size_t n, int status, int backend)
{
    json_t  *v, *e;

    v = must_parse(p, n);
    CHECK(strcmp(json_string_value(json_object_get(v, "type")), "error")
          == 0);

    e = json_object_get(v, "error");
    CHECK(json_is_string(json_object_get(e, "message")));
    CHECK(json_string_length(json_object_get(e, "message")) > 0);
    /*
     * a backend's prompt-too-long answer is said in Anthropic's words, an
     * invalid_request_error whatever the status (a text body that starts
     * so keeps the status's type)
     */
    if (backend
        && strncmp(json_string_value(json_object_get(e, "message")),
                   "prompt is too long: ", 20) == 0)
    {
        CHECK(strcmp(json_string_value(json_object_get(e, "type")),
                     "invalid_request_error") == 0
              || strcmp(json_string_value(json_object_get(e, "type")),
                        olla_anth_error_type(status)) == 0);

    } else {
        CHECK(strcmp(json_string_value(json_object_get(e, "type")),
                     olla_anth_error_type(status)) == 0);
    }

    json_decref(v);
}


/* whether the routing scan finds the body valid JSON */

static int
scan_accepts(const char *body, size_t size)
{
    olla_json_scan_t  scan;

    olla_json_scan_init(&scan, NULL, 0, 0);

    return olla_json_scan_feed(&scan, body, size) == OLLA_JSON_OK
           && olla_json_scan_end(&scan) == OLLA_JSON_OK;
}


/*
 * A body the routing scan finds valid goes to the translator "checked"
 * (its strings not checked again): the same verdict, output and info.
 */

static void
check_checked(const char *body, size_t size, int rc, const char *out,
    size_t outlen, const char *err, const olla_anth_info_t *info)
{
    int                rc2;
    char               err2[OLLA_ANTH_ERRLEN], *out2;
    size_t             outlen2;
    olla_anth_info_t   info2;

    if (!scan_accepts(body, size)) {
        return;
    }

    err2[0] = '\0';
    rc2 = olla_anth_request_to_openai_checked(body, size, &out2, &outlen2,
                                              &info2, err2, sizeof(err2));
    CHECK(rc2 == rc);

    if (rc != 0) {
        CHECK(strcmp(err2, err) == 0);
        return;
    }

    CHECK(outlen2 == outlen && memcmp(out2, out, outlen) == 0);
    CHECK(strcmp(info2.model, info->model) == 0);
    CHECK(info2.stream == info->stream);
    CHECK(info2.input_tokens == info->input_tokens);

    free(out2);
    olla_anth_info_free(&info2);
}


/* the same for count_tokens: the same verdict, count and message */

static void
check_count_checked(const char *body, size_t size, int rc, long tokens,
    const char *err)
{
    int                rc2;
    long               tokens2;
    char               err2[OLLA_ANTH_ERRLEN];

    if (!scan_accepts(body, size)) {
        return;
    }

    err2[0] = '\0';
    tokens2 = -1;
    rc2 = olla_anth_count_tokens_checked(body, size, &tokens2, err2,
                                         sizeof(err2));
    CHECK(rc2 == rc);

    if (rc != 0) {
        CHECK(strcmp(err2, err) == 0);
        return;
    }

    CHECK(tokens2 == tokens);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc, rv, status;
    long               tokens;
    char               err[OLLA_ANTH_ERRLEN], verr[OLLA_ANTH_ERRLEN];
    char              *out, *msg;
    size_t             outlen, i;
    json_t            *v, *c;
    const char        *body;
    olla_anth_info_t   info, vinfo;

    body = (const char *) data;

    /* request */

    err[0] = '\0';
    rc = olla_anth_request_to_openai(body, size, &out, &outlen, &info, err,
                                     sizeof(err));
    check_checked(body, size, rc, out, outlen, err, &info);
    verr[0] = '\0';
    rv = olla_anth_validate(body, size, &vinfo, verr, sizeof(verr));
    check_shape_by_scan(body, size, rv, verr);

    if (rc == 0) {
        CHECK(rv == 0);
        CHECK(info.model != NULL && info.model[0] != '\0');
        CHECK(strcmp(info.model, vinfo.model) == 0);
        CHECK(info.stream == vinfo.stream);
        CHECK(info.input_tokens == vinfo.input_tokens);
        CHECK(info.input_tokens >= 1);

        v = must_parse(out, outlen);
        CHECK(strcmp(json_string_value(json_object_get(v, "model")),
                     info.model) == 0);
        CHECK(json_is_array(json_object_get(v, "messages")));
        CHECK(json_is_integer(json_object_get(v, "max_tokens")));
        CHECK(json_is_boolean(json_object_get(v, "stream")));
        CHECK((json_object_get(v, "stream_options") != NULL)
              == (info.stream != 0));
        CHECK(json_object_get(v, "tool_choice") == NULL
              || json_object_get(v, "tools") != NULL);

        json_array_foreach(json_object_get(v, "messages"), i, c) {
            CHECK(json_is_string(json_object_get(c, "role")));
        }

        json_decref(v);
        free(out);
        olla_anth_info_free(&info);

    } else {
        CHECK(rc == -1);
        CHECK(out == NULL);
        CHECK(info.model == NULL);
        CHECK(err[0] != '\0');
    }

    if (rv == 0) {
        olla_anth_info_free(&vinfo);
    }

    rc = olla_anth_count_tokens(body, size, &tokens, err, sizeof(err));
    if (rc == 0) {
        CHECK(tokens >= 1);
    }

    check_count_checked(body, size, rc, tokens, err);

    /* response */

    rc = olla_anth_response_from_openai(body, size,
                                        size & 1 ? "claude-x" : NULL, &out,
                                        &outlen, err, sizeof(err));
    if (rc == 0) {
        v = must_parse(out, outlen);
        CHECK(strcmp(json_string_value(json_object_get(v, "type")),
                     "message") == 0);
        CHECK(json_array_size(json_object_get(v, "content")) > 0);
        CHECK(json_is_string(json_object_get(v, "stop_reason")));
        CHECK(json_is_null(json_object_get(v, "stop_sequence")));

        json_array_foreach(json_object_get(v, "content"), i, c) {
            if (strcmp(json_string_value(json_object_get(c, "type")),
                       "tool_use") == 0)
            {
                CHECK(json_is_object(json_object_get(c, "input")));
            }
        }

        json_decref(v);
        free(out);

    } else {
        CHECK(out == NULL);
    }

    /* errors */

    status = size ? 400 + data[0] % 200 : 500;

    out = olla_anth_error_from_backend(status, body, size,
                                       size & 2 ? "req-1" : NULL, &outlen);
    CHECK(out != NULL);

    if (outlen == size && memcmp(out, body, size) == 0) {
        /*
         * the backend's body kept byte for byte: only when it is the
         * Messages API's own error already (an object whose "type" is
         * "error" with an "error" object), and not a prompt-too-long one
         */
        v = json_loadb(body, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        CHECK(v != NULL && json_is_object(v));
        CHECK(json_is_string(json_object_get(v, "type"))
              && strcmp(json_string_value(json_object_get(v, "type")),
                        "error") == 0);
        CHECK(json_is_object(json_object_get(v, "error")));
        json_decref(v);

    } else {
        check_error_body(out, outlen, status, 1);
    }

    free(out);

    msg = malloc(size + 1);
    CHECK(msg != NULL);
    memcpy(msg, data, size);
    msg[size] = '\0';

    out = olla_anth_error_json(status, msg, msg, &outlen);
    CHECK(out != NULL);
    check_error_body(out, outlen, status, 0);
    free(out);
    free(msg);

    return 0;
}
