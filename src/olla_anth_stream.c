
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Streaming: an OpenAI SSE stream becomes an Anthropic SSE stream through
 * a state machine whose memory is bounded by one SSE line plus the
 * tool-call arguments it holds back.
 *
 * Where this differs from Olla, on purpose: message_start and ping at the
 * first chunk; tool_use blocks start with "input":{}; interleaved
 * parallel calls are held back and emitted in order; "data:" without a
 * space; [DONE] ends the input; upstream error events and "error:" lines
 * become error events; a stream without finish_reason or [DONE] ends with
 * an error event.
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "olla_sse.h"
#include "olla_anth_int.h"


#define OLLA_ANTH_DEFAULT_MAX  (1024 * 1024)
#define OLLA_ANTH_OUT_KEEP     (64 * 1024)


/* ----------------------------------- streaming: OpenAI SSE -> Anthropic SSE */

/*
 * One Anthropic content block is open at a time; its index is always
 * next_block - 1.  Text and thinking go out as they come.  Tool calls are
 * kept in the order they first appear; a tool's block opens when every
 * tool before it has had its block, and its arguments go out live while
 * its block is open.  Arguments for a later tool that arrive while an
 * earlier tool's block is open (interleaved parallel calls) are held
 * back, up to max_buffered bytes in all, and go out as one delta when
 * that tool's turn comes.  The open tool's turn ends when its arguments
 * form a complete JSON value and a later tool is ready, when text or
 * thinking comes, or at the end of the stream.
 *
 * Each data line is parsed into the stream's own olla_jdom document,
 * whose arena is kept from line to line, and each event is written into
 * one buffer: a chunk costs no allocation once the stream has started.
 */

#define OLLA_TOOL_PENDING  0
#define OLLA_TOOL_OPEN     1
#define OLLA_TOOL_DONE     2


typedef enum {
    OLLA_BLK_NONE = 0,
    OLLA_BLK_TEXT,
    OLLA_BLK_THINKING,
    OLLA_BLK_TOOL
} olla_anth_blk_e;


typedef struct {
    long long           index;         /* OpenAI tool_calls[].index */
    char               *id;            /* the backend's id, or NULL */
    char               *name;
    olla_abuf_t         args;          /* arguments held back */
    size_t              depth;         /* scan of the arguments so far */
    unsigned            state:2;
    unsigned            in_str:1;
    unsigned            esc:1;
    unsigned            complete:1;    /* they form one JSON value */
} olla_anth_tool_t;


struct olla_anth_stream_s {
    olla_sse_t          sse;
    olla_jout_t         out;           /* the event being emitted */
    olla_jdom_doc_t     doc;           /* the data line being read */
    char               *model;         /* the client's, or NULL */
    char                id[sizeof("msg_") + OLLA_ANTH_ID_CHARS];

    olla_anth_emit_pt   emit;
    void               *emit_data;

    size_t              max_buffered;
    size_t              held;          /* bytes held for pending tools */
    olla_anth_tool_t   *tools;
    size_t              ntools;
    size_t              nalloc;
    size_t              next_tool;     /* the first tool without a block */
    size_t              open_tool;

    unsigned            next_block;
    olla_anth_blk_e     open;
    unsigned            tool_blocks;

    long long           input_tokens;  /* the local estimate */
    long long           usage_in;
    long long           usage_out;
    long long           usage_cached;
    int                 have_in;
    int                 have_out;
    size_t              out_bytes;     /* text and thinking, for estimates */
    const char         *finish;        /* the backend's finish_reason */

    unsigned            ev_error;      /* "event: error" before data */
    unsigned            started:1;
    unsigned            saw_finish:1;
    unsigned            done:1;
    unsigned            failed:1;
};


static int olla_anth_stream_line(void *data, const char *line, size_t len);
static int olla_anth_stream_sse_data(void *st, const char *v, size_t n);
static int olla_anth_stream_sse_error(void *st, const char *text, size_t n);
static int olla_anth_stream_data(olla_anth_stream_t *s, const char *v,
    size_t n);
static int olla_anth_stream_chunk(olla_anth_stream_t *s,
    const olla_jdom_t *root);
static int olla_anth_stream_tool(olla_anth_stream_t *s,
    const olla_jdom_t *tc);
static int olla_anth_stream_text(olla_anth_stream_t *s, olla_anth_blk_e kind,
    const olla_jdom_t *v);
static int olla_anth_stream_start(olla_anth_stream_t *s,
    const olla_jdom_t *chunk);
static int olla_anth_stream_end(olla_anth_stream_t *s);
static int olla_anth_stream_upstream_error(olla_anth_stream_t *s,
    const olla_jdom_t *v, const char *text, size_t n);
static int olla_anth_stream_error(olla_anth_stream_t *s, const char *type,
    const char *msg);
static int olla_anth_stream_nomem(olla_anth_stream_t *s);
static olla_jout_t *olla_anth_event_start(olla_anth_stream_t *s,
    const char *name, size_t len);
static int olla_anth_event_end(olla_anth_stream_t *s);
static int olla_anth_block_start(olla_anth_stream_t *s,
    olla_anth_blk_e kind, const char *id, const char *name);
static int olla_anth_block_stop(olla_anth_stream_t *s);
static int olla_anth_delta(olla_anth_stream_t *s, const char *type,
    const char *key, const char *p, size_t n, const olla_jdom_t *v);
static int olla_anth_tool_find(olla_anth_stream_t *s, long long index,
    const char *id, size_t idlen, int call, size_t *ti);
static int olla_anth_tool_open(olla_anth_stream_t *s, size_t ti);
static int olla_anth_tool_advance(olla_anth_stream_t *s);
static void olla_anth_tool_scan(olla_anth_tool_t *t, const char *p,
    size_t n);
static int olla_anth_hold(olla_anth_stream_t *s, size_t n);


static const olla_sse_chat_t  olla_anth_stream_sse = {
    olla_anth_stream_sse_data,
    olla_anth_stream_sse_error
};


#define olla_anth_event(s, lit)                                              \
    olla_anth_event_start(s, lit, sizeof(lit) - 1)


olla_anth_stream_t *
olla_anth_stream_new(const char *model, long input_tokens, size_t max_line,
    size_t max_buffered)
{
    olla_abuf_t          m;
    olla_anth_stream_t  *s;

    s = olla_jdom_malloc(sizeof(olla_anth_stream_t));
    if (s == NULL) {
        return NULL;
    }

    memset(s, 0, sizeof(olla_anth_stream_t));

    if (model != NULL) {
        memset(&m, 0, sizeof(olla_abuf_t));

        if (olla_abuf_add(&m, "", 0) != 0
            || olla_anth_clean(&m, (const unsigned char *) model,
                               strlen(model), (size_t) -1, 0) != 0)
        {
            olla_abuf_free(&m);
            free(s);
            return NULL;
        }

        s->model = m.p;
    }

    olla_sse_init(&s->sse, max_line ? max_line : OLLA_ANTH_DEFAULT_MAX);
    olla_jdom_init(&s->doc, NULL, 0);
    olla_jout_init(&s->out, 0);

    s->max_buffered = max_buffered ? max_buffered : OLLA_ANTH_DEFAULT_MAX;
    s->input_tokens = input_tokens > 0 ? input_tokens : 0;

    olla_anth_gen_id(s->id, "msg_");

    return s;
}


void
olla_anth_stream_free(olla_anth_stream_t *s)
{
    size_t  i;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < s->ntools; i++) {
        free(s->tools[i].id);
        free(s->tools[i].name);
        olla_abuf_free(&s->tools[i].args);
    }

    free(s->tools);
    free(s->model);
    olla_jout_free(&s->out);
    olla_jdom_free(&s->doc);
    olla_sse_free(&s->sse);
    free(s);
}


size_t
olla_anth_stream_memory(const olla_anth_stream_t *s)
{
    size_t  i, n;

    n = sizeof(olla_anth_stream_t) + s->sse.cap + s->out.cap
        + olla_jdom_memory(&s->doc) + s->nalloc * sizeof(olla_anth_tool_t);

    if (s->model) {
        n += strlen(s->model) + 1;
    }

    for (i = 0; i < s->ntools; i++) {
        n += s->tools[i].args.cap;

        if (s->tools[i].id) {
            n += strlen(s->tools[i].id) + 1;
        }

        if (s->tools[i].name) {
            n += strlen(s->tools[i].name) + 1;
        }
    }

    return n;
}


int
olla_anth_stream_feed(olla_anth_stream_t *s, const char *p, size_t n,
    olla_anth_emit_pt emit, void *data)
{
    int   rc;
    char  msg[96];

    if (s->failed) {
        return -1;
    }

    if (s->done) {
        return 1;
    }

    s->emit = emit;
    s->emit_data = data;

    rc = olla_sse_feed(&s->sse, p, n, olla_anth_stream_line, s);

    if (!s->done) {
        if (rc == OLLA_SSE_TOO_LONG) {
            snprintf(msg, sizeof(msg),
                     "upstream sent an SSE line longer than %zu bytes",
                     s->sse.max_line);
            (void) olla_anth_stream_error(s, "api_error", msg);

        } else if (rc == OLLA_SSE_NOMEM) {
            (void) olla_anth_stream_nomem(s);
        }
    }

    return s->failed ? -1 : (s->done ? 1 : 0);
}


int
olla_anth_stream_finish(olla_anth_stream_t *s, olla_anth_emit_pt emit,
    void *data)
{
    if (s->failed) {
        return -1;
    }

    if (s->done) {
        return 1;
    }

    s->emit = emit;
    s->emit_data = data;

    (void) olla_sse_finish(&s->sse, olla_anth_stream_line, s);

    if (!s->done) {
        if (s->ev_error) {
            (void) olla_anth_stream_upstream_error(s, NULL, NULL, 0);

        } else if (s->saw_finish) {
            (void) olla_anth_stream_end(s);

        } else {
            (void) olla_anth_stream_error(s, "api_error",
                       "upstream stream ended before the response was "
                       "complete");
        }
    }

    return s->failed ? -1 : 1;
}


/* one SSE line of the chat stream (olla_sse_chat_line()) */

static int
olla_anth_stream_line(void *data, const char *line, size_t len)
{
    olla_anth_stream_t  *s;

    s = data;

    if (!s->done) {
        olla_sse_chat_line(line, len, &s->ev_error, &olla_anth_stream_sse, s);
    }

    return s->done;
}


static int
olla_anth_stream_sse_data(void *st, const char *v, size_t n)
{
    return olla_anth_stream_data(st, v, n);
}


static int
olla_anth_stream_sse_error(void *st, const char *text, size_t n)
{
    return olla_anth_stream_upstream_error(st, NULL, text, n);
}


static int
olla_anth_stream_data(olla_anth_stream_t *s, const char *v, size_t n)
{
    int                 rc;
    const olla_jdom_t  *root;

    if (olla_sse_chat_done(v, n)) {
        return olla_anth_stream_end(s);
    }

    rc = olla_jdom_parse(&s->doc, v, n);

    if (rc == OLLA_JDOM_NOMEM) {
        return olla_anth_stream_nomem(s);
    }

    root = s->doc.root;

    if (rc != OLLA_JDOM_OK || !olla_jdom_is_object(root)) {
        /* not a chunk: skipped */
        return 0;
    }

    if (olla_anth_optl(root, "error") != NULL) {
        return olla_anth_stream_upstream_error(s, root, NULL, 0);
    }

    return olla_anth_stream_chunk(s, root);
}


static int
olla_anth_stream_chunk(olla_anth_stream_t *s, const olla_jdom_t *root)
{
    size_t              i;
    const olla_jdom_t  *usage, *c, *delta, *v, *tc;

    if (olla_anth_stream_start(s, root) != 0) {
        return -1;
    }

    usage = olla_anth_get(root, "usage");

    if (olla_jdom_is_object(usage)) {
        s->usage_cached = 0;
        olla_anth_usage(usage, &s->usage_in, &s->usage_out,
                        &s->usage_cached, &s->have_in, &s->have_out);
    }

    c = olla_jdom_at(olla_anth_get(root, "choices"), 0);
    if (!olla_jdom_is_object(c)) {
        return 0;
    }

    v = olla_anth_get(c, "finish_reason");
    if (olla_anth_nonempty(v)) {
        s->finish = olla_anth_finish_norm(v);
        s->saw_finish = 1;
    }

    delta = olla_anth_get(c, "delta");
    if (!olla_jdom_is_object(delta)) {
        return 0;
    }

    v = olla_anth_get(delta, "reasoning_content");
    if (!olla_anth_nonempty(v)) {
        v = olla_anth_get(delta, "reasoning");
    }

    if (olla_anth_nonempty(v)
        && olla_anth_stream_text(s, OLLA_BLK_THINKING, v) != 0)
    {
        return -1;
    }

    v = olla_anth_get(delta, "content");
    if (olla_anth_nonempty(v)
        && olla_anth_stream_text(s, OLLA_BLK_TEXT, v) != 0)
    {
        return -1;
    }

    v = olla_anth_get(delta, "refusal");
    if (olla_anth_nonempty(v)
        && olla_anth_stream_text(s, OLLA_BLK_TEXT, v) != 0)
    {
        return -1;
    }

    v = olla_anth_get(delta, "tool_calls");

    if (olla_jdom_is_array(v)) {
        for (i = 0; i < v->len; i++) {
            tc = &v->u.items[i];

            if (tc->type == OLLA_JDOM_OBJECT
                && olla_anth_stream_tool(s, tc) != 0)
            {
                return -1;
            }
        }
    }

    return 0;
}


static int
olla_anth_stream_text(olla_anth_stream_t *s, olla_anth_blk_e kind,
    const olla_jdom_t *v)
{
    if (s->open != kind) {
        if (olla_anth_block_stop(s) != 0) {
            return -1;
        }

        if (olla_anth_block_start(s, kind, NULL, NULL) != 0) {
            return -1;
        }
    }

    s->out_bytes += v->len;

    if (kind == OLLA_BLK_TEXT) {
        return olla_anth_delta(s, "text_delta", "text", NULL, 0, v);
    }

    return olla_anth_delta(s, "thinking_delta", "thinking", NULL, 0, v);
}


/*
 * One entry of delta.tool_calls.  An entry belongs to the latest tool
 * with its index, unless it starts another call: some servers number
 * every call 0, so a different id, or (without ids) a function name with
 * new arguments after the tool's arguments were complete, is a new call.
 */

static int
olla_anth_stream_tool(olla_anth_stream_t *s, const olla_jdom_t *tc)
{
    int                 rc;
    char                msg[128];
    size_t              ti, n, k, idlen, namelen;
    long long           index;
    olla_jout_t         tmp;
    const char         *id, *name, *args;
    olla_anth_tool_t   *t;
    const olla_jdom_t  *v, *fn;

    v = olla_anth_get(tc, "index");
    index = olla_jdom_is_integer(v) ? olla_jdom_int(v) : 0;

    /* id and name as C strings were: up to a U+0000, empty is none */

    v = olla_anth_get(tc, "id");
    id = NULL;
    idlen = 0;

    if (olla_jdom_is_string(v) && olla_jdom_cstrlen(v)) {
        id = v->u.str;
        idlen = olla_jdom_cstrlen(v);
    }

    fn = olla_anth_get(tc, "function");

    v = olla_anth_get(fn, "name");
    name = NULL;
    namelen = 0;

    if (olla_jdom_is_string(v) && olla_jdom_cstrlen(v)) {
        name = v->u.str;
        namelen = olla_jdom_cstrlen(v);
    }

    olla_jout_init(&tmp, 0);
    args = NULL;
    n = 0;
    ti = 0;

    v = olla_anth_get(fn, "arguments");

    if (olla_jdom_is_string(v)) {
        args = v->u.str;
        n = v->len;

    } else if (olla_jdom_is_object(v) || olla_jdom_is_array(v)) {
        olla_jout_value(&tmp, v);

        if (olla_jout_grow(&tmp, 0) != 0) {
            return olla_anth_stream_nomem(s);
        }

        args = tmp.p;
        n = tmp.len;
    }

    if (olla_anth_tool_find(s, index, id, idlen, name != NULL && n > 0, &ti)
        != 0)
    {
        goto failed;
    }

    t = &s->tools[ti];

    if (t->state == OLLA_TOOL_PENDING) {
        if (id != NULL && t->id == NULL) {
            if (olla_anth_hold(s, idlen + 1) != 0) {
                goto failed;
            }

            t->id = olla_anth_strndup(id, idlen);
            if (t->id == NULL) {
                goto nomem;
            }
        }

        if (name != NULL && t->name == NULL) {
            if (olla_anth_hold(s, namelen + 1) != 0) {
                goto failed;
            }

            t->name = olla_anth_strndup(name, namelen);
            if (t->name == NULL) {
                goto nomem;
            }
        }
    }

    if (n == 0) {
        olla_jout_free(&tmp);
        return olla_anth_tool_advance(s);
    }

    if (t->state == OLLA_TOOL_DONE) {
        for (k = 0; k < n; k++) {
            if (args[k] != ' ' && args[k] != '\t' && args[k] != '\r'
                && args[k] != '\n')
            {
                break;
            }
        }

        olla_jout_free(&tmp);

        if (k == n) {
            return 0;
        }

        snprintf(msg, sizeof(msg),
                 "arguments for tool call %lld arrived after its block "
                 "was closed", index);

        return olla_anth_stream_error(s, "api_error", msg);
    }

    olla_anth_tool_scan(t, args, n);

    if (t->state == OLLA_TOOL_OPEN) {
        rc = olla_anth_delta(s, "input_json_delta", "partial_json", args, n,
                             NULL);
        olla_jout_free(&tmp);

        return rc ? rc : olla_anth_tool_advance(s);
    }

    if (olla_anth_hold(s, n) != 0) {
        goto failed;
    }

    if (olla_abuf_add(&t->args, args, n) != 0) {
        goto nomem;
    }

    olla_jout_free(&tmp);

    return olla_anth_tool_advance(s);

nomem:

    olla_jout_free(&tmp);

    return olla_anth_stream_nomem(s);

failed:

    olla_jout_free(&tmp);

    return -1;
}


static int
olla_anth_tool_find(olla_anth_stream_t *s, long long index, const char *id,
    size_t idlen, int call, size_t *ti)
{
    size_t             i, n;
    olla_anth_tool_t  *t, *nt;

    for (i = s->ntools; i > 0; i--) {
        t = &s->tools[i - 1];

        if (t->index != index) {
            continue;
        }

        if (id != NULL && t->id != NULL) {
            if (strlen(t->id) != idlen || memcmp(id, t->id, idlen) != 0) {
                break;
            }

        } else if (call && t->name != NULL && t->complete) {
            break;
        }

        *ti = i - 1;
        return 0;
    }

    if (olla_anth_hold(s, sizeof(olla_anth_tool_t)) != 0) {
        return -1;
    }

    if (s->ntools == s->nalloc) {
        n = s->nalloc ? s->nalloc * 2 : 4;

        nt = olla_jdom_realloc(s->tools, n * sizeof(olla_anth_tool_t));
        if (nt == NULL) {
            return olla_anth_stream_nomem(s);
        }

        s->tools = nt;
        s->nalloc = n;
    }

    t = &s->tools[s->ntools];
    memset(t, 0, sizeof(olla_anth_tool_t));
    t->index = index;
    t->state = OLLA_TOOL_PENDING;

    *ti = s->ntools++;

    return 0;
}


/* open the blocks of the tools whose turn has come */

static int
olla_anth_tool_advance(olla_anth_stream_t *s)
{
    while (s->next_tool < s->ntools
           && s->tools[s->next_tool].name != NULL
           && (s->open != OLLA_BLK_TOOL
               || s->tools[s->open_tool].complete))
    {
        if (olla_anth_tool_open(s, s->next_tool) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
olla_anth_tool_open(olla_anth_stream_t *s, size_t ti)
{
    int                rc;
    char               id[sizeof("toolu_") + OLLA_ANTH_ID_CHARS];
    olla_anth_tool_t  *t;

    if (olla_anth_block_stop(s) != 0) {
        return -1;
    }

    t = &s->tools[ti];

    if (t->id == NULL) {
        olla_anth_gen_id(id, "toolu_");
    }

    t->state = OLLA_TOOL_OPEN;
    s->open_tool = ti;
    s->next_tool = ti + 1;
    s->tool_blocks++;

    if (olla_anth_block_start(s, OLLA_BLK_TOOL, t->id ? t->id : id, t->name)
        != 0)
    {
        return -1;
    }

    if (t->args.len == 0) {
        return 0;
    }

    rc = olla_anth_delta(s, "input_json_delta", "partial_json", t->args.p,
                         t->args.len, NULL);

    s->held -= t->args.len;
    olla_abuf_free(&t->args);

    return rc;
}


/*
 * Follows the arguments' JSON text far enough to tell when it is one
 * complete object or array: strings and nesting, nothing more.
 */

static void
olla_anth_tool_scan(olla_anth_tool_t *t, const char *p, size_t n)
{
    size_t  i;
    char    c;

    for (i = 0; i < n; i++) {
        c = p[i];

        if (t->in_str) {
            if (t->esc) {
                t->esc = 0;

            } else if (c == '\\') {
                t->esc = 1;

            } else if (c == '"') {
                t->in_str = 0;
            }

            continue;
        }

        switch (c) {
        case '"':
            t->in_str = 1;
            t->complete = 0;
            break;

        case '{':
        case '[':
            t->depth++;
            t->complete = 0;
            break;

        case '}':
        case ']':
            if (t->depth) {
                t->depth--;
                t->complete = (t->depth == 0);
            }
            break;

        case ' ':
        case '\t':
        case '\r':
        case '\n':
            break;

        default:
            if (t->depth == 0) {
                t->complete = 0;
            }
        }
    }
}


static int
olla_anth_hold(olla_anth_stream_t *s, size_t n)
{
    char  msg[128];

    if (n <= s->max_buffered - s->held) {
        s->held += n;
        return 0;
    }

    snprintf(msg, sizeof(msg),
             "parallel tool calls held back more than %zu bytes",
             s->max_buffered);

    return olla_anth_stream_error(s, "api_error", msg);
}


static int
olla_anth_stream_start(olla_anth_stream_t *s, const olla_jdom_t *chunk)
{
    olla_jout_t        *o;
    const olla_jdom_t  *model;

    if (s->started) {
        return 0;
    }

    s->started = 1;

    o = olla_anth_event(s, "message_start");

    olla_jout_lit(o, "{\"type\":\"message_start\",\"message\":{\"id\":");
    olla_jout_str(o, s->id, strlen(s->id));
    olla_jout_lit(o, ",\"type\":\"message\",\"role\":\"assistant\","
                     "\"model\":");

    model = olla_anth_get(chunk, "model");

    if (s->model) {
        olla_jout_str(o, s->model, strlen(s->model));

    } else if (olla_anth_nonempty(model)) {
        olla_jout_string(o, model);

    } else {
        olla_jout_lit(o, "\"unknown\"");
    }

    olla_jout_lit(o, ",\"content\":[],\"stop_reason\":null,"
                     "\"stop_sequence\":null,\"usage\":{\"input_tokens\":");
    olla_jout_int(o, s->input_tokens);
    olla_jout_lit(o, ",\"cache_creation_input_tokens\":0,"
                     "\"cache_read_input_tokens\":0,\"output_tokens\":0}}}");

    if (olla_anth_event_end(s) != 0) {
        return -1;
    }

    o = olla_anth_event(s, "ping");
    olla_jout_lit(o, "{\"type\":\"ping\"}");

    return olla_anth_event_end(s);
}


static int
olla_anth_stream_end(olla_anth_stream_t *s)
{
    size_t              i;
    long long           in, out, cached;
    const char         *reason;
    olla_jout_t        *o;
    olla_anth_tool_t   *t;

    if (olla_anth_stream_start(s, NULL) != 0
        || olla_anth_block_stop(s) != 0)
    {
        return -1;
    }

    for (i = s->next_tool; i < s->ntools; i++) {
        t = &s->tools[i];

        if (t->name == NULL) {
            /* never named: there is no block to give it */
            s->held -= t->args.len;
            olla_abuf_free(&t->args);
            t->state = OLLA_TOOL_DONE;
            continue;
        }

        if (olla_anth_tool_open(s, i) != 0 || olla_anth_block_stop(s) != 0) {
            return -1;
        }
    }

    if (s->have_in) {
        in = s->usage_in;
        cached = s->usage_cached;

    } else {
        in = s->input_tokens;
        cached = 0;
    }

    if (s->have_out) {
        out = s->usage_out;

    } else {
        out = (long long) (s->out_bytes / 4);

        if (out == 0 && s->out_bytes) {
            out = 1;
        }
    }

    reason = olla_anth_stop_reason(s->finish, s->tool_blocks > 0);

    o = olla_anth_event(s, "message_delta");
    olla_jout_lit(o, "{\"type\":\"message_delta\",\"delta\":"
                     "{\"stop_reason\":\"");
    olla_jout_add(o, reason, strlen(reason));
    olla_jout_lit(o, "\",\"stop_sequence\":null},\"usage\":");
    olla_anth_usage_json(o, in, cached, out);
    olla_jout_ch(o, '}');

    if (olla_anth_event_end(s) != 0) {
        return -1;
    }

    o = olla_anth_event(s, "message_stop");
    olla_jout_lit(o, "{\"type\":\"message_stop\"}");

    if (olla_anth_event_end(s) != 0) {
        return -1;
    }

    s->done = 1;

    return -1;
}


/*
 * An error from upstream: a JSON error value (v), or the text of an
 * "error:" line or of the data after "event: error".  It ends the stream
 * with an Anthropic error event.
 */

static int
olla_anth_stream_upstream_error(olla_anth_stream_t *s, const olla_jdom_t *v,
    const char *text, size_t n)
{
    int           r, rc;
    const char   *type;
    olla_abuf_t   msg;

    memset(&msg, 0, sizeof(olla_abuf_t));
    type = NULL;
    r = 0;

    if (v != NULL) {
        r = olla_anth_error_message(v, &msg, &type);

    } else if (n) {
        /* the text is not in the document: it can be reused */
        rc = olla_jdom_parse(&s->doc, text, n);

        if (rc == OLLA_JDOM_NOMEM) {
            r = -1;

        } else if (rc == OLLA_JDOM_OK) {
            r = olla_anth_error_message(s->doc.root, &msg, &type);
        }

        if (r == 0) {
            r = olla_anth_text_message(text, n, &msg);
        }
    }

    if (r < 0) {
        olla_abuf_free(&msg);
        return olla_anth_stream_nomem(s);
    }

    r = olla_anth_stream_error(s, type ? type : "api_error",
                               msg.len ? msg.p : "upstream reported an error");

    olla_abuf_free(&msg);

    return r;
}


/* msg must be valid UTF-8 */

static int
olla_anth_stream_error(olla_anth_stream_t *s, const char *type,
    const char *msg)
{
    olla_jout_t  *o;

    o = olla_anth_event(s, "error");
    olla_jout_lit(o, "{\"type\":\"error\",\"error\":{\"type\":");
    olla_jout_str(o, type, strlen(type));
    olla_jout_lit(o, ",\"message\":");
    olla_jout_str(o, msg, strlen(msg));
    olla_jout_lit(o, "}}");

    (void) olla_anth_event_end(s);

    s->done = 1;

    return -1;
}


static int
olla_anth_stream_nomem(olla_anth_stream_t *s)
{
    static const char  oom[] =
        "event: error\n"
        "data: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
        "\"message\":\"out of memory\"}}\n\n";

    if (!s->done) {
        s->done = 1;

        if (s->emit(s->emit_data, oom, sizeof(oom) - 1) != 0) {
            s->failed = 1;
        }
    }

    return -1;
}


/*
 * An event is "event: NAME\ndata: JSON\n\n": event_start() writes up to
 * the JSON, which the caller writes into the buffer it returns, and
 * event_end() finishes and emits it.
 */

static olla_jout_t *
olla_anth_event_start(olla_anth_stream_t *s, const char *name, size_t len)
{
    olla_jout_t  *o;

    o = &s->out;
    o->len = 0;

    olla_jout_lit(o, "event: ");
    olla_jout_add(o, name, len);
    olla_jout_lit(o, "\ndata: ");

    return o;
}


static int
olla_anth_event_end(olla_anth_stream_t *s)
{
    int  rc;

    if (s->done) {
        s->out.len = 0;
        return -1;
    }

    olla_jout_lit(&s->out, "\n\n");

    if (s->out.failed) {
        olla_jout_free(&s->out);
        return olla_anth_stream_nomem(s);
    }

    rc = s->emit(s->emit_data, s->out.p, s->out.len);

    if (s->out.cap > OLLA_ANTH_OUT_KEEP) {
        olla_jout_free(&s->out);
    }

    if (rc != 0) {
        s->done = 1;
        s->failed = 1;
        return -1;
    }

    return 0;
}


/* text and thinking blocks start empty, tool_use ones with "input":{} */

static int
olla_anth_block_start(olla_anth_stream_t *s, olla_anth_blk_e kind,
    const char *id, const char *name)
{
    olla_jout_t  *o;

    s->open = kind;

    o = olla_anth_event(s, "content_block_start");
    olla_jout_lit(o, "{\"type\":\"content_block_start\",\"index\":");
    olla_jout_int(o, s->next_block++);
    olla_jout_lit(o, ",\"content_block\":");

    switch (kind) {

    case OLLA_BLK_TEXT:
        olla_jout_lit(o, "{\"type\":\"text\",\"text\":\"\"}}");
        break;

    case OLLA_BLK_THINKING:
        olla_jout_lit(o, "{\"type\":\"thinking\",\"thinking\":\"\","
                         "\"signature\":\"\"}}");
        break;

    default: /* OLLA_BLK_TOOL */
        olla_jout_lit(o, "{\"type\":\"tool_use\",\"id\":");
        olla_jout_str(o, id, strlen(id));
        olla_jout_lit(o, ",\"name\":");
        olla_jout_str(o, name, strlen(name));
        olla_jout_lit(o, ",\"input\":{}}}");
    }

    return olla_anth_event_end(s);
}


static int
olla_anth_block_stop(olla_anth_stream_t *s)
{
    olla_jout_t       *o;
    olla_anth_tool_t  *t;

    if (s->open == OLLA_BLK_NONE) {
        return 0;
    }

    if (s->open == OLLA_BLK_TOOL) {
        t = &s->tools[s->open_tool];
        t->state = OLLA_TOOL_DONE;
        s->held -= t->args.len;
        olla_abuf_free(&t->args);
    }

    s->open = OLLA_BLK_NONE;

    o = olla_anth_event(s, "content_block_stop");
    olla_jout_lit(o, "{\"type\":\"content_block_stop\",\"index\":");
    olla_jout_int(o, (long long) s->next_block - 1);
    olla_jout_ch(o, '}');

    return olla_anth_event_end(s);
}


/* the text is the string node v, or p[0..n) */

static int
olla_anth_delta(olla_anth_stream_t *s, const char *type, const char *key,
    const char *p, size_t n, const olla_jdom_t *v)
{
    olla_jout_t  *o;

    o = olla_anth_event(s, "content_block_delta");
    olla_jout_lit(o, "{\"type\":\"content_block_delta\",\"index\":");
    olla_jout_int(o, (long long) s->next_block - 1);
    olla_jout_lit(o, ",\"delta\":{\"type\":\"");
    olla_jout_add(o, type, strlen(type));
    olla_jout_lit(o, "\",\"");
    olla_jout_add(o, key, strlen(key));
    olla_jout_lit(o, "\":");

    if (v) {
        olla_jout_string(o, v);

    } else {
        olla_jout_str(o, p, n);
    }

    olla_jout_lit(o, "}}");

    return olla_anth_event_end(s);
}
