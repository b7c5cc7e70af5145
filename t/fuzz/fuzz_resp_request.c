
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target: one input through everything in olla_resp_*.c that
 * takes a whole body: the request translator, the non-streaming response
 * translator and the error builders.  Besides the sanitizers it checks
 * that every output is JSON of the promised shape: a chat request whose
 * messages have roles and whose tool_calls are answered by ids, a
 * Response whose items have ids and distinct call_ids, an error body.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "olla_resp.h"
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


static const char *
str(json_t *v, const char *k)
{
    v = json_object_get(v, k);

    return json_string_value(v) ? json_string_value(v) : "";
}


static void
check_request(const char *p, size_t n, olla_resp_info_t *info)
{
    size_t       i, j;
    json_t      *v, *m, *c, *msgs;
    const char  *role;

    v = must_parse(p, n);

    CHECK(strcmp(str(v, "model"), info->model) == 0);
    CHECK(json_is_boolean(json_object_get(v, "stream")));
    CHECK((json_object_get(v, "stream_options") != NULL)
          == (info->stream != 0));
    CHECK(json_object_get(v, "tool_choice") == NULL
          || json_array_size(json_object_get(v, "tools")) > 0);
    CHECK(json_object_get(v, "parallel_tool_calls") == NULL
          || json_array_size(json_object_get(v, "tools")) > 0);
    CHECK(info->input_tokens >= 1);
    CHECK(!info->previous_response_id && !info->conversation);

    msgs = json_object_get(v, "messages");
    CHECK(json_array_size(msgs) > 0);

    json_array_foreach(msgs, i, m) {
        role = str(m, "role");

        CHECK(strcmp(role, "system") == 0 || strcmp(role, "user") == 0
              || strcmp(role, "assistant") == 0 || strcmp(role, "tool") == 0);

        if (strcmp(role, "system") == 0) {
            /* always one non-empty string */
            CHECK(json_is_string(json_object_get(m, "content")));
            CHECK(json_string_length(json_object_get(m, "content")) > 0);
        }

        if (strcmp(role, "tool") == 0) {
            CHECK(strlen(str(m, "tool_call_id")) > 0);
            CHECK(json_is_string(json_object_get(m, "content")));
        }

        if (strcmp(role, "assistant") == 0) {
            c = json_object_get(m, "tool_calls");

            CHECK(json_is_string(json_object_get(m, "content"))
                  || (json_is_null(json_object_get(m, "content"))
                      && json_array_size(c) > 0));

            for (j = 0; j < json_array_size(c); j++) {
                CHECK(strlen(str(json_array_get(c, j), "id")) > 0);
                CHECK(json_is_string(json_object_get(json_object_get(
                      json_array_get(c, j), "function"), "arguments")));
                CHECK(json_string_length(json_object_get(json_object_get(
                      json_array_get(c, j), "function"), "arguments")) > 0);
            }
        }
    }

    json_decref(v);
}


static void
check_response(const char *p, size_t n)
{
    size_t       i, j;
    json_t      *v, *o, *it, *u;
    const char  *type, *status;

    v = must_parse(p, n);

    CHECK(strncmp(str(v, "id"), "resp_", 5) == 0);
    CHECK(strcmp(str(v, "object"), "response") == 0);
    CHECK(json_integer_value(json_object_get(v, "created_at")) > 0);
    CHECK(json_object_get(v, "output_text") == NULL);

    status = str(v, "status");
    CHECK(strcmp(status, "completed") == 0
          || strcmp(status, "incomplete") == 0);
    CHECK((strcmp(status, "incomplete") == 0)
          == json_is_object(json_object_get(v, "incomplete_details")));

    o = json_object_get(v, "output");
    CHECK(json_array_size(o) > 0);

    json_array_foreach(o, i, it) {
        type = str(it, "type");
        CHECK(strlen(str(it, "id")) > 0);
        CHECK(strcmp(str(it, "status"), status) == 0);

        if (strcmp(type, "function_call") == 0) {
            CHECK(strlen(str(it, "call_id")) > 0);
            CHECK(strlen(str(it, "name")) > 0);
            CHECK(json_string_length(json_object_get(it, "arguments")) > 0);

            /* the SDK refuses two items with one call_id */
            for (j = 0; j < i; j++) {
                CHECK(strcmp(str(json_array_get(o, j), "call_id"),
                             str(it, "call_id")) != 0);
            }

        } else {
            CHECK(strcmp(type, "message") == 0
                  || strcmp(type, "reasoning") == 0);
            CHECK(json_array_size(json_object_get(it, "content")) == 1);
        }
    }

    u = json_object_get(v, "usage");
    CHECK(json_object_size(u) == 5);
    CHECK(json_integer_value(json_object_get(u, "total_tokens"))
          == json_integer_value(json_object_get(u, "input_tokens"))
             + json_integer_value(json_object_get(u, "output_tokens")));

    json_decref(v);
}


static void
check_error_body(const char *p, size_t n, int status)
{
    json_t  *v, *e;

    v = must_parse(p, n);
    e = json_object_get(v, "error");

    CHECK(json_object_size(v) == 1);
    CHECK(json_string_length(json_object_get(e, "message")) > 0);
    CHECK(strcmp(str(e, "type"), olla_resp_error_type(status)) == 0);
    CHECK(json_is_null(json_object_get(e, "param")));
    CHECK(json_is_null(json_object_get(e, "code"))
          || json_string_length(json_object_get(e, "code")) > 0);

    json_decref(v);
}


/*
 * A body the routing scan finds valid goes to the translator "checked"
 * (its strings not checked again): the same verdict, output and info.
 */

static void
check_checked(const char *body, size_t size, int rc, const char *out,
    size_t outlen, const char *err, const olla_resp_info_t *info)
{
    int                rc2;
    char               err2[OLLA_RESP_ERRLEN], *out2;
    size_t             outlen2;
    olla_json_scan_t   scan;
    olla_resp_info_t   info2;

    olla_json_scan_init(&scan, NULL, 0, 0);

    if (olla_json_scan_feed(&scan, body, size) != OLLA_JSON_OK
        || olla_json_scan_end(&scan) != OLLA_JSON_OK)
    {
        return;
    }

    err2[0] = '\0';
    rc2 = olla_resp_request_to_openai_checked(body, size, &out2, &outlen2,
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
    olla_resp_info_free(&info2);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc, status;
    char               err[OLLA_RESP_ERRLEN], *out, *msg;
    size_t             outlen;
    const char        *body;
    olla_resp_info_t   info;

    body = (const char *) data;

    /* request */

    err[0] = '\0';
    rc = olla_resp_request_to_openai(body, size, &out, &outlen, &info, err,
                                     sizeof(err));
    check_checked(body, size, rc, out, outlen, err, &info);

    if (rc == 0) {
        CHECK(info.model != NULL && info.model[0] != '\0');
        check_request(out, outlen, &info);
        free(out);
        olla_resp_info_free(&info);

    } else {
        CHECK(rc == -1);
        CHECK(out == NULL);
        CHECK(info.model == NULL);
        CHECK(err[0] != '\0');
    }

    /* response */

    rc = olla_resp_response_from_openai(body, size,
                                        size & 1 ? "gpt-x" : NULL, &out,
                                        &outlen, err, sizeof(err));
    if (rc == 0) {
        check_response(out, outlen);
        free(out);

    } else {
        CHECK(out == NULL);
    }

    /* errors */

    status = size ? 400 + data[0] % 200 : 500;

    out = olla_resp_error_from_backend(status, body, size,
                                       size & 2 ? "req-1" : NULL, &outlen);
    CHECK(out != NULL);
    check_error_body(out, outlen, status);
    free(out);

    msg = malloc(size + 1);
    CHECK(msg != NULL);
    memcpy(msg, data, size);
    msg[size] = '\0';

    out = olla_resp_error_json(status, msg, msg, &outlen);
    CHECK(out != NULL);
    check_error_body(out, outlen, status);
    free(out);
    free(msg);

    return 0;
}
