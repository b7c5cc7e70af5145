
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target: the chat SSE -> Responses SSE machine.  The first
 * three bytes choose where the rest is split in two and the limits; the
 * rest is the upstream stream.  It is fed whole, in the two pieces and,
 * when short, a byte at a time: the outputs must be the same.  Every
 * emitted event must be "event: NAME\ndata: JSON\n\n" with a JSON object
 * of type NAME and the next sequence_number, and the events must follow
 * the Responses grammar: response.created and response.in_progress
 * first, one output item open at a time with output indexes 0, 1, ...,
 * deltas of the open item only, done events repeating its deltas, and
 * response.completed (with every item as it was done), .incomplete or
 * .failed last.  Memory must stay within the limits.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "olla_resp.h"


#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #cond, __FILE__,   \
                    __LINE__);                                               \
            abort();                                                         \
        }                                                                    \
    } while (0)


typedef struct {
    char       *p;
    size_t      len;
    size_t      cap;

    /* grammar state */
    size_t      nevents;
    int         ended;
    long long   open;          /* -1 or the open item's output index */
    long long   next;          /* the next output index */
    char        kind;          /* 'm' message, 'r' reasoning, 'f' call */
    char        id[64];        /* the open item's */
    char       *acc;           /* its deltas */
    size_t      nacc;
    json_t     *done;          /* the items done */
} sink_t;


static const char *
str(json_t *v, const char *k1, const char *k2)
{
    v = json_object_get(v, k1);

    if (k2) {
        v = json_object_get(v, k2);
    }

    return json_string_value(v) ? json_string_value(v) : "";
}


/* the text of a string member, compared with the deltas so far */

static int
same_text(sink_t *k, json_t *v)
{
    if (!json_is_string(v)) {
        return 0;
    }

    if (k->kind == 'f' && k->nacc == 0) {
        return strcmp(json_string_value(v), "{}") == 0;
    }

    return json_string_length(v) == k->nacc
           && memcmp(json_string_value(v), k->acc, k->nacc) == 0;
}


static void
check_event(sink_t *k, const char *name, json_t *d)
{
    json_t      *r, *item, *delta, *u;
    const char  *t;

    CHECK(!k->ended);
    CHECK(strcmp(str(d, "type", NULL), name) == 0);
    CHECK(json_integer_value(json_object_get(d, "sequence_number"))
          == (long long) k->nevents);

    if (k->nevents == 0) {
        CHECK(strcmp(name, "response.created") == 0);
    }

    if (k->nevents == 1) {
        CHECK(strcmp(name, "response.in_progress") == 0);
    }

    r = json_object_get(d, "response");

    if (strcmp(name, "response.created") == 0
        || strcmp(name, "response.in_progress") == 0)
    {
        CHECK(k->nevents < 2);
        CHECK(strncmp(str(r, "id", NULL), "resp_", 5) == 0);
        CHECK(strcmp(str(r, "status", NULL), "in_progress") == 0);
        CHECK(json_array_size(json_object_get(r, "output")) == 0);
        return;
    }

    if (strcmp(name, "response.completed") == 0
        || strcmp(name, "response.incomplete") == 0)
    {
        CHECK(k->open == -1);
        CHECK(strcmp(str(r, "status", NULL), name + 9) == 0);
        CHECK(json_equal(json_object_get(r, "output"), k->done));

        u = json_object_get(r, "usage");
        CHECK(json_object_size(u) == 5);
        CHECK(json_integer_value(json_object_get(u, "total_tokens"))
              == json_integer_value(json_object_get(u, "input_tokens"))
                 + json_integer_value(json_object_get(u, "output_tokens")));
        k->ended = 1;
        return;
    }

    if (strcmp(name, "response.failed") == 0) {
        CHECK(strcmp(str(r, "status", NULL), "failed") == 0);
        CHECK(str(r, "error", "code")[0] != '\0');
        CHECK(str(r, "error", "message")[0] != '\0');
        k->ended = 1;
        return;
    }

    if (strcmp(name, "response.output_item.added") == 0) {
        CHECK(k->open == -1);
        CHECK(json_integer_value(json_object_get(d, "output_index"))
              == k->next);

        item = json_object_get(d, "item");
        t = str(item, "type", NULL);
        CHECK(strcmp(str(item, "status", NULL), "in_progress") == 0);
        CHECK(strlen(str(item, "id", NULL)) > 0
              && strlen(str(item, "id", NULL)) < sizeof(k->id));

        if (strcmp(t, "message") == 0) {
            k->kind = 'm';

        } else if (strcmp(t, "reasoning") == 0) {
            k->kind = 'r';

        } else {
            CHECK(strcmp(t, "function_call") == 0);
            CHECK(str(item, "call_id", NULL)[0] != '\0');
            CHECK(str(item, "name", NULL)[0] != '\0');
            CHECK(strcmp(str(item, "arguments", NULL), "") == 0);
            k->kind = 'f';
        }

        strcpy(k->id, str(item, "id", NULL));
        k->open = k->next++;
        k->nacc = 0;
        return;
    }

    /* the open item's events */

    CHECK(k->open >= 0);
    CHECK(json_integer_value(json_object_get(d, "output_index")) == k->open);

    if (strcmp(name, "response.output_item.done") == 0) {
        item = json_object_get(d, "item");
        CHECK(strcmp(str(item, "id", NULL), k->id) == 0);

        if (k->kind == 'f') {
            CHECK(same_text(k, json_object_get(item, "arguments")));

        } else {
            CHECK(same_text(k, json_object_get(json_array_get(
                  json_object_get(item, "content"), 0), "text")));
        }

        json_array_append(k->done, item);
        k->open = -1;
        return;
    }

    CHECK(strcmp(str(d, "item_id", NULL), k->id) == 0);

    if (strcmp(name, "response.output_text.delta") == 0
        || strcmp(name, "response.reasoning_text.delta") == 0
        || strcmp(name, "response.function_call_arguments.delta") == 0)
    {
        CHECK(k->kind == (name[9] == 'o' ? 'm' : name[9] == 'r' ? 'r' : 'f'));

        delta = json_object_get(d, "delta");
        CHECK(json_string_length(delta) > 0);

        k->acc = realloc(k->acc, k->nacc + json_string_length(delta));
        CHECK(k->acc != NULL);
        memcpy(k->acc + k->nacc, json_string_value(delta),
               json_string_length(delta));
        k->nacc += json_string_length(delta);
        return;
    }

    if (strcmp(name, "response.output_text.done") == 0
        || strcmp(name, "response.reasoning_text.done") == 0)
    {
        CHECK(k->kind == (name[9] == 'o' ? 'm' : 'r'));
        CHECK(same_text(k, json_object_get(d, "text")));
        return;
    }

    if (strcmp(name, "response.function_call_arguments.done") == 0) {
        CHECK(k->kind == 'f');
        CHECK(same_text(k, json_object_get(d, "arguments")));
        return;
    }

    if (strcmp(name, "response.content_part.added") == 0) {
        CHECK(k->kind != 'f' && k->nacc == 0);
        CHECK(strcmp(str(d, "part", "text"), "") == 0);
        return;
    }

    CHECK(strcmp(name, "response.content_part.done") == 0);
    CHECK(k->kind != 'f');
    CHECK(same_text(k, json_object_get(json_object_get(d, "part"), "text")));
}


static int
sink_emit(void *data, const char *p, size_t len)
{
    char         name[64];
    size_t       nlen;
    json_t      *d;
    sink_t      *k;
    const char  *nl;

    k = data;

    CHECK(len > 17);
    CHECK(memcmp(p, "event: ", 7) == 0);
    CHECK(memcmp(p + len - 2, "\n\n", 2) == 0);

    nl = memchr(p, '\n', len);
    CHECK(nl != NULL);
    CHECK(memcmp(nl + 1, "data: ", 6) == 0);
    CHECK(memchr(nl + 7, '\n', (size_t) (p + len - 2 - (nl + 7))) == NULL);

    nlen = (size_t) (nl - p - 7);
    CHECK(nlen < sizeof(name));
    memcpy(name, p + 7, nlen);
    name[nlen] = '\0';

    d = json_loadb(nl + 7, (size_t) (p + len - 2 - (nl + 7)), JSON_ALLOW_NUL,
                   NULL);
    CHECK(json_is_object(d));

    check_event(k, name, d);
    k->nevents++;

    json_decref(d);

    if (k->len + len > k->cap) {
        k->cap = (k->len + len) * 2;
        k->p = realloc(k->p, k->cap);
        CHECK(k->p != NULL);
    }

    memcpy(k->p + k->len, p, len);
    k->len += len;

    return 0;
}


static void
run(const char *p, size_t n, size_t split, int bytes, size_t max_line,
    size_t max_buf, const char *model, sink_t *k)
{
    int                  rc, done;
    size_t               i, mem, bound, line, buf;
    olla_resp_stream_t  *s;

    memset(k, 0, sizeof(sink_t));
    k->open = -1;
    k->done = json_array();

    olla_resp_set_id_seed(1);

    s = olla_resp_stream_new(model, 5, max_line, max_buf);
    CHECK(s != NULL);

    line = max_line ? max_line : 1024 * 1024;
    buf = max_buf ? max_buf : 1024 * 1024;
    bound = 8 * line + 4 * buf + 256 * 1024;
    done = 0;

    if (bytes) {
        for (i = 0; i < n; i++) {
            rc = olla_resp_stream_feed(s, p + i, 1, sink_emit, k);
            CHECK(rc == 0 || rc == 1);
            CHECK(!done || rc == 1);
            done = rc;
        }

    } else {
        rc = olla_resp_stream_feed(s, p, split, sink_emit, k);
        CHECK(rc == 0 || rc == 1);
        done = rc;

        mem = olla_resp_stream_memory(s);
        CHECK(mem <= bound);

        rc = olla_resp_stream_feed(s, p + split, n - split, sink_emit, k);
        CHECK(rc == 0 || rc == 1);
        CHECK(!done || rc == 1);
    }

    mem = olla_resp_stream_memory(s);
    CHECK(mem <= bound);

    rc = olla_resp_stream_finish(s, sink_emit, k);
    CHECK(rc == 1);
    CHECK(k->ended);

    olla_resp_stream_free(s);

    free(k->acc);
    json_decref(k->done);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       split, n, max_line, max_buf;
    sink_t       a, b, c;
    const char  *p, *model;

    if (size < 3) {
        return 0;
    }

    p = (const char *) data + 3;
    n = size - 3;

    split = ((size_t) data[0] | (size_t) data[1] << 8) % (n + 1);

    switch (data[2] & 3) {
    case 0:
        max_line = 0;
        break;
    case 1:
        max_line = 48;
        break;
    case 2:
        max_line = 300;
        break;
    default:
        max_line = 4096;
    }

    max_buf = (data[2] & 4) ? 600 : 0;
    model = (data[2] & 8) ? NULL : "gpt-fuzz";

    run(p, n, n, 0, max_line, max_buf, model, &a);
    run(p, n, split, 0, max_line, max_buf, model, &b);

    CHECK(a.len == b.len);
    CHECK(a.len == 0 || memcmp(a.p, b.p, a.len) == 0);

    if (n <= 512) {
        run(p, n, 0, 1, max_line, max_buf, model, &c);
        CHECK(a.len == c.len);
        CHECK(a.len == 0 || memcmp(a.p, c.p, a.len) == 0);
        free(c.p);
    }

    free(a.p);
    free(b.p);

    return 0;
}
