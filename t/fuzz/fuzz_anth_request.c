
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target: one input through everything in olla_anthropic.h that
 * takes a whole body: the request translator, validate, count_tokens, the
 * non-streaming response translator and the error builders.  Besides the
 * sanitizers it checks that every output is JSON of the promised shape
 * and that the functions agree with each other.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "olla_anthropic.h"


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

    v = json_loadb(p, n, 0, NULL);
    CHECK(json_is_object(v));

    return v;
}


static void
check_error_body(const char *p, size_t n, int status)
{
    json_t  *v, *e;

    v = must_parse(p, n);
    CHECK(strcmp(json_string_value(json_object_get(v, "type")), "error")
          == 0);

    e = json_object_get(v, "error");
    CHECK(json_is_string(json_object_get(e, "message")));
    CHECK(json_string_length(json_object_get(e, "message")) > 0);
    CHECK(strcmp(json_string_value(json_object_get(e, "type")),
                 olla_anth_error_type(status)) == 0);

    json_decref(v);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc, rv, status;
    long               tokens;
    char               err[OLLA_ANTH_ERRLEN], *out, *msg;
    size_t             outlen, i;
    json_t            *v, *c;
    const char        *body;
    olla_anth_info_t   info, vinfo;

    body = (const char *) data;

    /* request */

    err[0] = '\0';
    rc = olla_anth_request_to_openai(body, size, &out, &outlen, &info, err,
                                     sizeof(err));
    rv = olla_anth_validate(body, size, &vinfo, NULL, 0);

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
    check_error_body(out, outlen, status);
    free(out);

    msg = malloc(size + 1);
    CHECK(msg != NULL);
    memcpy(msg, data, size);
    msg[size] = '\0';

    out = olla_anth_error_json(status, msg, msg, &outlen);
    CHECK(out != NULL);
    check_error_body(out, outlen, status);
    free(out);
    free(msg);

    return 0;
}
