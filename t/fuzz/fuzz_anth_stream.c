
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target: the OpenAI SSE -> Anthropic SSE machine.  The first
 * three bytes choose where the rest is split in two and the limits; the
 * rest is the upstream stream.  It is fed whole, in the two pieces and,
 * when short, a byte at a time: the outputs must be the same.  Every
 * emitted event must be "event: NAME\ndata: JSON\n\n" with a JSON object
 * of type NAME, and the events must follow Anthropic's grammar (blocks
 * numbered from 0, each started before its deltas and stopped before the
 * next, message_delta and message_stop last, or an error last).  Memory
 * must stay within the limits.
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


typedef struct {
    char       *p;
    size_t      len;
    size_t      cap;

    /* grammar state */
    int         started;
    int         ended;
    int         open;          /* -1 or the open block */
    long long   next;          /* the next block index */
    char        kind;          /* 't' text, 'k' thinking, 'j' tool_use */
    size_t      nevents;
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


static void
check_event(sink_t *k, const char *name, json_t *d)
{
    long long    idx;
    const char  *t;

    CHECK(!k->ended);
    CHECK(strcmp(str(d, "type", NULL), name) == 0);

    idx = json_integer_value(json_object_get(d, "index"));

    if (strcmp(name, "error") == 0) {
        CHECK(str(d, "error", "type")[0] != '\0');
        CHECK(str(d, "error", "message")[0] != '\0');
        k->ended = 1;
        return;
    }

    if (strcmp(name, "message_start") == 0) {
        CHECK(k->nevents == 0);
        CHECK(strncmp(str(d, "message", "id"), "msg_", 4) == 0);
        CHECK(json_array_size(json_object_get(json_object_get(d, "message"),
                                              "content")) == 0);
        k->started = 1;
        return;
    }

    CHECK(k->started);

    if (strcmp(name, "ping") == 0) {
        CHECK(k->nevents == 1);

    } else if (strcmp(name, "content_block_start") == 0) {
        CHECK(k->nevents >= 2);
        CHECK(k->open == -1);
        CHECK(idx == k->next);

        t = str(d, "content_block", "type");

        if (strcmp(t, "text") == 0) {
            k->kind = 't';

        } else if (strcmp(t, "thinking") == 0) {
            k->kind = 'k';

        } else {
            CHECK(strcmp(t, "tool_use") == 0);
            CHECK(str(d, "content_block", "id")[0] != '\0');
            CHECK(str(d, "content_block", "name")[0] != '\0');
            CHECK(json_is_object(json_object_get(json_object_get(d,
                                 "content_block"), "input")));
            k->kind = 'j';
        }

        k->open = (int) idx;
        k->next++;

    } else if (strcmp(name, "content_block_delta") == 0) {
        CHECK(k->open >= 0 && idx == k->open);
        t = str(d, "delta", "type");

        if (k->kind == 't') {
            CHECK(strcmp(t, "text_delta") == 0);
            CHECK(json_string_length(json_object_get(json_object_get(d,
                                     "delta"), "text")) > 0);

        } else if (k->kind == 'k') {
            CHECK(strcmp(t, "thinking_delta") == 0);

        } else {
            CHECK(strcmp(t, "input_json_delta") == 0);
            CHECK(json_is_string(json_object_get(json_object_get(d, "delta"),
                                                 "partial_json")));
        }

    } else if (strcmp(name, "content_block_stop") == 0) {
        CHECK(k->open >= 0 && idx == k->open);
        k->open = -1;

    } else if (strcmp(name, "message_delta") == 0) {
        CHECK(k->open == -1);
        CHECK(str(d, "delta", "stop_reason")[0] != '\0');
        CHECK(json_object_size(json_object_get(d, "usage")) == 4);
        CHECK(json_integer_value(json_object_get(json_object_get(d, "usage"),
                                                 "output_tokens")) >= 0);

    } else {
        CHECK(strcmp(name, "message_stop") == 0);
        CHECK(k->nevents >= 3);
        k->ended = 1;
    }
}


static int
sink_emit(void *data, const char *p, size_t len)
{
    char         name[32];
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
    size_t               i, mem, bound;
    olla_anth_stream_t  *s;

    memset(k, 0, sizeof(sink_t));
    k->open = -1;

    olla_anth_set_id_seed(1);

    s = olla_anth_stream_new(model, 5, max_line, max_buf);
    CHECK(s != NULL);

    bound = max_line + 2 * max_buf + 256 * 1024;
    done = 0;

    if (bytes) {
        for (i = 0; i < n; i++) {
            rc = olla_anth_stream_feed(s, p + i, 1, sink_emit, k);
            CHECK(rc == 0 || rc == 1);
            CHECK(!done || rc == 1);
            done = rc;
        }

    } else {
        rc = olla_anth_stream_feed(s, p, split, sink_emit, k);
        CHECK(rc == 0 || rc == 1);
        done = rc;

        mem = olla_anth_stream_memory(s);
        CHECK(mem <= bound);

        rc = olla_anth_stream_feed(s, p + split, n - split, sink_emit, k);
        CHECK(rc == 0 || rc == 1);
        CHECK(!done || rc == 1);
    }

    mem = olla_anth_stream_memory(s);
    CHECK(mem <= bound);

    rc = olla_anth_stream_finish(s, sink_emit, k);
    CHECK(rc == 1);
    CHECK(k->ended);

    olla_anth_stream_free(s);
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
    model = (data[2] & 8) ? NULL : "claude-fuzz";

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
