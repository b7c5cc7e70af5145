
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Streaming: chat completion SSE -> Responses API SSE.
 *
 * One output item is open at a time; items get their output_index in the
 * order they open.  Reasoning and text open a reasoning or a message item
 * (closing the open one when it is of another kind) and go out as they
 * come.  Tool calls are kept in the order they first appear; a call's
 * item opens when every call before it has had its item, and its
 * arguments go out live while its item is open.  Arguments for a later
 * call that arrive while an earlier call's item is open (interleaved
 * parallel calls) are held and go out as one delta when its turn comes.
 * The open call's turn ends when its arguments form a complete JSON value
 * and a later call is ready, when text or reasoning comes, or at the end.
 *
 * Every item keeps its text (escaped for a JSON string): the done events
 * and the final response repeat it.  What the stream holds (items, their
 * texts, names and ids) is counted against max_buffered.
 *
 * Each data line is parsed into the stream's own olla_jdom document,
 * whose arena is kept from line to line, and each event is written into
 * one buffer.  No nginx headers.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "olla_sse.h"

#define OLLA_RESP_INTERNAL
#include "olla_resp.h"


#define OLLA_RESP_OUT_KEEP   (64 * 1024)
#define OLLA_RESP_NONE       ((size_t) -1)


#define OLLA_ITEM_MESSAGE    1
#define OLLA_ITEM_REASONING  2
#define OLLA_ITEM_CALL       3

#define OLLA_ITEM_PENDING    0
#define OLLA_ITEM_OPEN       1
#define OLLA_ITEM_DONE       2


typedef struct {
    olla_jout_t          buf;          /* text or arguments, escaped */
    char                *call_id;      /* calls: the backend's, or made */
    char                *name;         /* calls */
    long long            index;        /* calls: tool_calls[].index */
    size_t               depth;        /* scan of the arguments so far */
    size_t               output_index;
    char                 id[OLLA_RESP_ID_MAX];
    unsigned             kind:2;
    unsigned             state:2;
    unsigned             incomplete:1;
    unsigned             in_str:1;
    unsigned             esc:1;
    unsigned             complete:1;   /* the arguments form one value */
} olla_resp_item_t;


struct olla_resp_stream_s {
    olla_sse_t           sse;
    olla_jout_t          out;          /* the event being emitted */
    olla_jout_t          tmp;
    olla_jdom_doc_t      doc;          /* the data line being read */
    char                *model;        /* cleaned UTF-8, or NULL */
    char                 id[OLLA_RESP_ID_MAX];
    long long            created_at;
    long long            seq;

    olla_resp_emit_pt    emit;
    void                *emit_data;

    size_t               max_buffered;
    size_t               held;
    olla_resp_item_t    *items;        /* in the order they appeared */
    size_t               nitems;
    size_t               nalloc;
    size_t              *order;        /* item of each output_index */
    size_t               norder;
    size_t               order_alloc;
    size_t               next_call;    /* no pending call before it */
    size_t               open;         /* the open item, or NONE */

    long long            input_tokens; /* the local estimate */
    olla_resp_usage_t    usage;
    size_t               out_bytes;    /* for the estimate */
    const char          *finish;

    unsigned             ev_error;      /* "event: error" before data */
    unsigned             started:1;
    unsigned             nstart:2;     /* start events emitted */
    unsigned             saw_finish:1;
    unsigned             done:1;
    unsigned             failed:1;
};


static int olla_resp_stream_line(void *data, const char *line, size_t len);
static int olla_resp_stream_sse_data(void *st, const char *v, size_t n);
static int olla_resp_stream_sse_error(void *st, const char *text, size_t n);
static int olla_resp_stream_data(olla_resp_stream_t *s, const char *v,
    size_t n);
static int olla_resp_stream_chunk(olla_resp_stream_t *s,
    const olla_jdom_t *root);
static int olla_resp_stream_text(olla_resp_stream_t *s, unsigned kind,
    const olla_jdom_t *v);
static int olla_resp_stream_tool(olla_resp_stream_t *s,
    const olla_jdom_t *tc);
static int olla_resp_stream_start(olla_resp_stream_t *s,
    const olla_jdom_t *chunk);
static int olla_resp_stream_end(olla_resp_stream_t *s);
static int olla_resp_stream_upstream_error(olla_resp_stream_t *s,
    const olla_jdom_t *v, const char *text, size_t n);
static int olla_resp_stream_fail(olla_resp_stream_t *s, const char *code,
    const char *msg);
static int olla_resp_stream_nomem(olla_resp_stream_t *s);
static void olla_resp_stream_obj(olla_resp_stream_t *s, olla_resp_obj_t *r,
    const char *status);
static void olla_resp_stream_response(olla_resp_stream_t *s,
    olla_jout_t *o, olla_resp_obj_t *r, int output);
static olla_jout_t *olla_resp_event_start(olla_resp_stream_t *s,
    const char *name, size_t len);
static int olla_resp_event_end(olla_resp_stream_t *s);
static void olla_resp_item_ref(olla_jout_t *o, olla_resp_item_t *it);
static void olla_resp_item_json(olla_jout_t *o, olla_resp_item_t *it,
    int full);
static int olla_resp_item_new(olla_resp_stream_t *s, unsigned kind,
    size_t *ii);
static int olla_resp_item_open(olla_resp_stream_t *s, size_t ii);
static int olla_resp_item_close(olla_resp_stream_t *s, int incomplete);
static int olla_resp_item_append(olla_resp_stream_t *s,
    olla_resp_item_t *it, const char *p, size_t n, const olla_jdom_t *v);
static int olla_resp_delta(olla_resp_stream_t *s, const char *p, size_t n,
    const olla_jdom_t *v);
static int olla_resp_tool_find(olla_resp_stream_t *s, long long index,
    const char *id, size_t idlen, int call, size_t *ti);
static int olla_resp_tool_advance(olla_resp_stream_t *s);
static void olla_resp_tool_scan(olla_resp_item_t *t, const char *p,
    size_t n);
static int olla_resp_hold(olla_resp_stream_t *s, size_t n);
static const char *olla_resp_finish_norm(const olla_jdom_t *v);


static const olla_sse_chat_t  olla_resp_stream_sse = {
    olla_resp_stream_sse_data,
    olla_resp_stream_sse_error
};


#define olla_resp_event(s, lit)                                              \
    olla_resp_event_start(s, lit, sizeof(lit) - 1)


olla_resp_stream_t *
olla_resp_stream_new(const char *model, long input_tokens, size_t max_line,
    size_t max_buffered)
{
    olla_jout_t          m;
    olla_resp_stream_t  *s;

    s = olla_jdom_malloc(sizeof(olla_resp_stream_t));
    if (s == NULL) {
        return NULL;
    }

    memset(s, 0, sizeof(olla_resp_stream_t));

    if (model != NULL) {
        olla_jout_init(&m, 0);

        if (olla_resp_clean(&m, model, strlen(model), (size_t) -1, 0) != 0) {
            olla_jout_free(&m);
            free(s);
            return NULL;
        }

        s->model = m.p;
    }

    olla_sse_init(&s->sse, max_line ? max_line : OLLA_RESP_DEFAULT_MAX);
    olla_jdom_init(&s->doc, NULL, 0);
    olla_jout_init(&s->out, 0);
    olla_jout_init(&s->tmp, 0);

    s->max_buffered = max_buffered ? max_buffered : OLLA_RESP_DEFAULT_MAX;
    s->input_tokens = input_tokens > 0 ? input_tokens : 0;
    s->open = OLLA_RESP_NONE;
    s->created_at = olla_resp_now();

    olla_resp_gen_id(s->id, "resp_");

    return s;
}


void
olla_resp_stream_free(olla_resp_stream_t *s)
{
    size_t  i;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < s->nitems; i++) {
        free(s->items[i].call_id);
        free(s->items[i].name);
        olla_jout_free(&s->items[i].buf);
    }

    free(s->items);
    free(s->order);
    free(s->model);
    olla_jout_free(&s->out);
    olla_jout_free(&s->tmp);
    olla_jdom_free(&s->doc);
    olla_sse_free(&s->sse);
    free(s);
}


size_t
olla_resp_stream_memory(const olla_resp_stream_t *s)
{
    size_t  i, n;

    n = sizeof(olla_resp_stream_t) + s->sse.cap + s->out.cap + s->tmp.cap
        + olla_jdom_memory(&s->doc)
        + s->nalloc * sizeof(olla_resp_item_t)
        + s->order_alloc * sizeof(size_t);

    if (s->model) {
        n += strlen(s->model) + 1;
    }

    for (i = 0; i < s->nitems; i++) {
        n += s->items[i].buf.cap;

        if (s->items[i].call_id) {
            n += strlen(s->items[i].call_id) + 1;
        }

        if (s->items[i].name) {
            n += strlen(s->items[i].name) + 1;
        }
    }

    return n;
}


int
olla_resp_stream_feed(olla_resp_stream_t *s, const char *p, size_t n,
    olla_resp_emit_pt emit, void *data)
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

    rc = olla_sse_feed(&s->sse, p, n, olla_resp_stream_line, s);

    if (!s->done) {
        if (rc == OLLA_SSE_TOO_LONG) {
            snprintf(msg, sizeof(msg),
                     "upstream sent an SSE line longer than %zu bytes",
                     s->sse.max_line);
            (void) olla_resp_stream_fail(s, "server_error", msg);

        } else if (rc == OLLA_SSE_NOMEM) {
            (void) olla_resp_stream_nomem(s);
        }
    }

    return s->failed ? -1 : (s->done ? 1 : 0);
}


int
olla_resp_stream_finish(olla_resp_stream_t *s, olla_resp_emit_pt emit,
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

    (void) olla_sse_finish(&s->sse, olla_resp_stream_line, s);

    if (!s->done) {
        if (s->ev_error) {
            (void) olla_resp_stream_upstream_error(s, NULL, NULL, 0);

        } else if (s->saw_finish) {
            (void) olla_resp_stream_end(s);

        } else {
            (void) olla_resp_stream_fail(s, "server_error",
                       "upstream stream ended before the response was "
                       "complete");
        }
    }

    return s->failed ? -1 : 1;
}


/* one SSE line of the chat stream (olla_sse_chat_line()) */

static int
olla_resp_stream_line(void *data, const char *line, size_t len)
{
    olla_resp_stream_t  *s;

    s = data;

    if (!s->done) {
        olla_sse_chat_line(line, len, &s->ev_error, &olla_resp_stream_sse, s);
    }

    return s->done;
}


static int
olla_resp_stream_sse_data(void *st, const char *v, size_t n)
{
    return olla_resp_stream_data(st, v, n);
}


static int
olla_resp_stream_sse_error(void *st, const char *text, size_t n)
{
    return olla_resp_stream_upstream_error(st, NULL, text, n);
}


static int
olla_resp_stream_data(olla_resp_stream_t *s, const char *v, size_t n)
{
    int                 rc;
    const olla_jdom_t  *root;

    if (olla_sse_chat_done(v, n)) {
        return olla_resp_stream_end(s);
    }

    rc = olla_jdom_parse(&s->doc, v, n);

    if (rc == OLLA_JDOM_NOMEM) {
        return olla_resp_stream_nomem(s);
    }

    root = s->doc.root;

    if (rc != OLLA_JDOM_OK || !olla_jdom_is_object(root)) {
        /* not a chunk: skipped */
        return 0;
    }

    if (olla_resp_optl(root, "error") != NULL) {
        return olla_resp_stream_upstream_error(s, root, NULL, 0);
    }

    return olla_resp_stream_chunk(s, root);
}


static int
olla_resp_stream_chunk(olla_resp_stream_t *s, const olla_jdom_t *root)
{
    size_t              i;
    const olla_jdom_t  *usage, *c, *delta, *v, *tc;

    if (olla_resp_stream_start(s, root) != 0) {
        return -1;
    }

    usage = olla_resp_get(root, "usage");

    if (olla_jdom_is_object(usage)) {
        s->usage.cached = 0;
        s->usage.reasoning = 0;
        olla_resp_usage(usage, &s->usage);
    }

    c = olla_jdom_at(olla_resp_get(root, "choices"), 0);
    if (!olla_jdom_is_object(c)) {
        return 0;
    }

    v = olla_resp_get(c, "finish_reason");
    if (olla_resp_nonempty(v)) {
        s->finish = olla_resp_finish_norm(v);
        s->saw_finish = 1;
    }

    delta = olla_resp_get(c, "delta");
    if (!olla_jdom_is_object(delta)) {
        return 0;
    }

    v = olla_resp_get(delta, "reasoning_content");
    if (!olla_resp_nonempty(v)) {
        v = olla_resp_get(delta, "reasoning");
    }

    if (olla_resp_nonempty(v)
        && olla_resp_stream_text(s, OLLA_ITEM_REASONING, v) != 0)
    {
        return -1;
    }

    v = olla_resp_get(delta, "content");
    if (olla_resp_nonempty(v)
        && olla_resp_stream_text(s, OLLA_ITEM_MESSAGE, v) != 0)
    {
        return -1;
    }

    /* a refusal is text: Codex cannot read refusal parts */

    v = olla_resp_get(delta, "refusal");
    if (olla_resp_nonempty(v)
        && olla_resp_stream_text(s, OLLA_ITEM_MESSAGE, v) != 0)
    {
        return -1;
    }

    v = olla_resp_get(delta, "tool_calls");

    if (olla_jdom_is_array(v)) {
        for (i = 0; i < v->len; i++) {
            tc = &v->u.items[i];

            if (tc->type == OLLA_JDOM_OBJECT
                && olla_resp_stream_tool(s, tc) != 0)
            {
                return -1;
            }
        }
    }

    return 0;
}


/* a finish_reason string -> one of ours (its text up to a U+0000) */

static const char *
olla_resp_finish_norm(const olla_jdom_t *v)
{
    size_t              i;
    static const char  *known[] = {
        "length", "tool_calls", "function_call", "content_filter"
    };

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (olla_resp_str_is(v, known[i], strlen(known[i]))) {
            return known[i];
        }
    }

    return "stop";
}


static int
olla_resp_stream_text(olla_resp_stream_t *s, unsigned kind,
    const olla_jdom_t *v)
{
    size_t             ii;
    olla_resp_item_t  *it;

    if (s->open == OLLA_RESP_NONE || s->items[s->open].kind != kind) {
        if (olla_resp_item_close(s, 0) != 0
            || olla_resp_item_new(s, kind, &ii) != 0
            || olla_resp_item_open(s, ii) != 0)
        {
            return -1;
        }
    }

    it = &s->items[s->open];
    s->out_bytes += v->len;

    if (olla_resp_item_append(s, it, NULL, 0, v) != 0) {
        return -1;
    }

    return olla_resp_delta(s, NULL, 0, v);
}


/*
 * One entry of delta.tool_calls.  An entry belongs to the latest call
 * with its index, unless it starts another call: some servers number
 * every call 0, so a different id, or (without ids) a function name with
 * new arguments after the call's arguments were complete, is a new call.
 */

static int
olla_resp_stream_tool(olla_resp_stream_t *s, const olla_jdom_t *tc)
{
    int                 rc;
    char                msg[128];
    size_t              ti, n, k, idlen, namelen;
    long long           index;
    const char         *id, *name, *args;
    olla_resp_item_t   *t;
    const olla_jdom_t  *v, *fn, *av;

    v = olla_resp_get(tc, "index");
    index = olla_jdom_is_integer(v) ? olla_jdom_int(v) : 0;

    /* id and name as C strings: up to a U+0000, empty is none */

    v = olla_resp_get(tc, "id");
    id = NULL;
    idlen = 0;

    if (olla_jdom_is_string(v) && olla_jdom_cstrlen(v)) {
        id = v->u.str;
        idlen = olla_jdom_cstrlen(v);
    }

    fn = olla_resp_get(tc, "function");

    v = olla_resp_get(fn, "name");
    name = NULL;
    namelen = 0;

    if (olla_jdom_is_string(v) && olla_jdom_cstrlen(v)) {
        name = v->u.str;
        namelen = olla_jdom_cstrlen(v);
    }

    args = NULL;
    av = NULL;
    n = 0;

    v = olla_resp_get(fn, "arguments");

    if (olla_jdom_is_string(v)) {
        av = v;
        args = v->u.str;
        n = v->len;

    } else if (olla_jdom_is_object(v) || olla_jdom_is_array(v)) {
        s->tmp.len = 0;
        olla_jout_value(&s->tmp, v);

        if (olla_jout_grow(&s->tmp, 0) != 0) {
            olla_jout_free(&s->tmp);
            return olla_resp_stream_nomem(s);
        }

        args = s->tmp.p;
        n = s->tmp.len;
    }

    if (olla_resp_tool_find(s, index, id, idlen, name != NULL && n > 0, &ti)
        != 0)
    {
        return -1;
    }

    t = &s->items[ti];

    if (t->state == OLLA_ITEM_PENDING) {
        if (id != NULL && t->call_id == NULL) {
            if (olla_resp_hold(s, idlen + 1) != 0) {
                return -1;
            }

            t->call_id = olla_resp_strndup(id, idlen);
            if (t->call_id == NULL) {
                return olla_resp_stream_nomem(s);
            }
        }

        if (name != NULL && t->name == NULL) {
            if (olla_resp_hold(s, namelen + 1) != 0) {
                return -1;
            }

            t->name = olla_resp_strndup(name, namelen);
            if (t->name == NULL) {
                return olla_resp_stream_nomem(s);
            }
        }
    }

    if (n == 0) {
        return olla_resp_tool_advance(s);
    }

    if (t->state == OLLA_ITEM_DONE) {
        for (k = 0; k < n; k++) {
            if (args[k] != ' ' && args[k] != '\t' && args[k] != '\r'
                && args[k] != '\n')
            {
                break;
            }
        }

        if (k == n) {
            return 0;
        }

        snprintf(msg, sizeof(msg),
                 "arguments for tool call %lld arrived after its item "
                 "was closed", index);

        return olla_resp_stream_fail(s, "server_error", msg);
    }

    olla_resp_tool_scan(t, args, n);
    s->out_bytes += n;

    if (olla_resp_item_append(s, t, args, n, av) != 0) {
        return -1;
    }

    if (t->state == OLLA_ITEM_OPEN) {
        rc = olla_resp_delta(s, args, n, av);

        return rc ? rc : olla_resp_tool_advance(s);
    }

    return olla_resp_tool_advance(s);
}


static int
olla_resp_tool_find(olla_resp_stream_t *s, long long index, const char *id,
    size_t idlen, int call, size_t *ti)
{
    size_t             i;
    olla_resp_item_t  *t;

    for (i = s->nitems; i > 0; i--) {
        t = &s->items[i - 1];

        if (t->kind != OLLA_ITEM_CALL || t->index != index) {
            continue;
        }

        if (id != NULL && t->call_id != NULL) {
            if (strlen(t->call_id) != idlen
                || memcmp(id, t->call_id, idlen) != 0)
            {
                break;
            }

        } else if (call && t->name != NULL && t->complete) {
            break;
        }

        *ti = i - 1;
        return 0;
    }

    if (olla_resp_item_new(s, OLLA_ITEM_CALL, ti) != 0) {
        return -1;
    }

    s->items[*ti].index = index;

    return 0;
}


/* open the items of the calls whose turn has come */

static int
olla_resp_tool_advance(olla_resp_stream_t *s)
{
    olla_resp_item_t  *t;

    for ( ;; ) {
        while (s->next_call < s->nitems
               && (s->items[s->next_call].kind != OLLA_ITEM_CALL
                   || s->items[s->next_call].state != OLLA_ITEM_PENDING))
        {
            s->next_call++;
        }

        if (s->next_call == s->nitems) {
            return 0;
        }

        t = &s->items[s->next_call];

        if (t->name == NULL
            || (s->open != OLLA_RESP_NONE
                && s->items[s->open].kind == OLLA_ITEM_CALL
                && !s->items[s->open].complete))
        {
            return 0;
        }

        if (olla_resp_item_close(s, 0) != 0
            || olla_resp_item_open(s, s->next_call) != 0)
        {
            return -1;
        }
    }
}


/*
 * Follows the arguments' JSON text far enough to tell when it is one
 * complete object or array: strings and nesting, nothing more.
 */

static void
olla_resp_tool_scan(olla_resp_item_t *t, const char *p, size_t n)
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
olla_resp_hold(olla_resp_stream_t *s, size_t n)
{
    char  msg[160];

    if (n <= s->max_buffered - s->held) {
        s->held += n;
        return 0;
    }

    snprintf(msg, sizeof(msg),
             "the response is longer than the %zu bytes the gateway holds "
             "to repeat it in the final events", s->max_buffered);

    return olla_resp_stream_fail(s, "server_error", msg);
}


/* ------------------------------------------------------------ items */


static int
olla_resp_item_new(olla_resp_stream_t *s, unsigned kind, size_t *ii)
{
    size_t             n;
    olla_resp_item_t  *it, *ni;

    if (olla_resp_hold(s, sizeof(olla_resp_item_t)) != 0) {
        return -1;
    }

    if (s->nitems == s->nalloc) {
        n = s->nalloc ? s->nalloc * 2 : 4;

        ni = olla_jdom_realloc(s->items, n * sizeof(olla_resp_item_t));
        if (ni == NULL) {
            return olla_resp_stream_nomem(s);
        }

        s->items = ni;
        s->nalloc = n;
    }

    it = &s->items[s->nitems];
    memset(it, 0, sizeof(olla_resp_item_t));
    olla_jout_init(&it->buf, 0);
    it->kind = kind;
    it->state = OLLA_ITEM_PENDING;

    *ii = s->nitems++;

    return 0;
}


/*
 * Opens an item (the caller closed the open one): its id and output
 * index, output_item.added, then content_part.added for a text, or the
 * held arguments for a call.
 */

static int
olla_resp_item_open(olla_resp_stream_t *s, size_t ii)
{
    size_t             i, n, *no;
    char               call[OLLA_RESP_ID_MAX];
    olla_jout_t       *o;
    olla_resp_item_t  *it;

    if (s->norder == s->order_alloc) {
        n = s->order_alloc ? s->order_alloc * 2 : 4;

        if (olla_resp_hold(s, (n - s->order_alloc) * sizeof(size_t)) != 0) {
            return -1;
        }

        no = olla_jdom_realloc(s->order, n * sizeof(size_t));
        if (no == NULL) {
            return olla_resp_stream_nomem(s);
        }

        s->order = no;
        s->order_alloc = n;
    }

    it = &s->items[ii];

    if (it->kind == OLLA_ITEM_CALL) {
        /* the SDK refuses two items with one call_id */

        for (i = 0; it->call_id != NULL && i < s->norder; i++) {
            if (s->items[s->order[i]].kind == OLLA_ITEM_CALL
                && strcmp(s->items[s->order[i]].call_id, it->call_id) == 0)
            {
                s->held -= strlen(it->call_id) + 1;
                free(it->call_id);
                it->call_id = NULL;
            }
        }

        if (it->call_id == NULL) {
            olla_resp_gen_id(call, "call_");

            if (olla_resp_hold(s, strlen(call) + 1) != 0) {
                return -1;
            }

            it = &s->items[ii];

            it->call_id = olla_resp_strndup(call, strlen(call));
            if (it->call_id == NULL) {
                return olla_resp_stream_nomem(s);
            }
        }

        olla_resp_gen_id(it->id, "fc_");

    } else {
        olla_resp_gen_id(it->id, it->kind == OLLA_ITEM_MESSAGE ? "msg_"
                                                               : "rs_");
    }

    it->state = OLLA_ITEM_OPEN;
    it->output_index = s->norder;
    s->order[s->norder++] = ii;
    s->open = ii;

    o = olla_resp_event(s, "response.output_item.added");
    olla_jout_lit(o, ",\"output_index\":");
    olla_jout_int(o, (long long) it->output_index);
    olla_jout_lit(o, ",\"item\":");
    olla_resp_item_json(o, it, 0);

    if (olla_resp_event_end(s) != 0) {
        return -1;
    }

    if (it->kind == OLLA_ITEM_CALL) {
        if (it->buf.len == 0) {
            return 0;
        }

        o = olla_resp_event(s, "response.function_call_arguments.delta");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"delta\":\"");
        olla_jout_add(o, it->buf.p, it->buf.len);
        olla_jout_ch(o, '"');

        return olla_resp_event_end(s);
    }

    o = olla_resp_event(s, "response.content_part.added");
    olla_resp_item_ref(o, it);
    olla_jout_lit(o, ",\"content_index\":0,\"part\":");

    if (it->kind == OLLA_ITEM_MESSAGE) {
        olla_jout_lit(o, "{\"type\":\"output_text\",\"annotations\":[],"
                         "\"text\":\"\"}");

    } else {
        olla_jout_lit(o, "{\"type\":\"reasoning_text\",\"text\":\"\"}");
    }

    return olla_resp_event_end(s);
}


/* the done events of the open item, if any */

static int
olla_resp_item_close(olla_resp_stream_t *s, int incomplete)
{
    olla_jout_t       *o;
    olla_resp_item_t  *it;

    if (s->open == OLLA_RESP_NONE) {
        return 0;
    }

    it = &s->items[s->open];
    it->state = OLLA_ITEM_DONE;
    it->incomplete = incomplete ? 1 : 0;
    s->open = OLLA_RESP_NONE;

    switch (it->kind) {

    case OLLA_ITEM_MESSAGE:
        o = olla_resp_event(s, "response.output_text.done");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"content_index\":0,\"text\":\"");
        olla_jout_add(o, it->buf.p, it->buf.len);
        olla_jout_lit(o, "\",\"logprobs\":[]");

        if (olla_resp_event_end(s) != 0) {
            return -1;
        }

        o = olla_resp_event(s, "response.content_part.done");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"content_index\":0,\"part\":{\"type\":"
                         "\"output_text\",\"annotations\":[],\"text\":\"");
        olla_jout_add(o, it->buf.p, it->buf.len);
        olla_jout_lit(o, "\"}");
        break;

    case OLLA_ITEM_REASONING:
        o = olla_resp_event(s, "response.reasoning_text.done");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"content_index\":0,\"text\":\"");
        olla_jout_add(o, it->buf.p, it->buf.len);
        olla_jout_ch(o, '"');

        if (olla_resp_event_end(s) != 0) {
            return -1;
        }

        o = olla_resp_event(s, "response.content_part.done");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"content_index\":0,\"part\":{\"type\":"
                         "\"reasoning_text\",\"text\":\"");
        olla_jout_add(o, it->buf.p, it->buf.len);
        olla_jout_lit(o, "\"}");
        break;

    default: /* OLLA_ITEM_CALL */
        o = olla_resp_event(s, "response.function_call_arguments.done");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"name\":");
        olla_jout_str(o, it->name, strlen(it->name));
        olla_jout_lit(o, ",\"arguments\":\"");

        if (it->buf.len) {
            olla_jout_add(o, it->buf.p, it->buf.len);

        } else {
            /* no arguments at all: an empty object, as JSON text */
            olla_jout_lit(o, "{}");
        }

        olla_jout_ch(o, '"');
    }

    if (olla_resp_event_end(s) != 0) {
        return -1;
    }

    o = olla_resp_event(s, "response.output_item.done");
    olla_jout_lit(o, ",\"output_index\":");
    olla_jout_int(o, (long long) it->output_index);
    olla_jout_lit(o, ",\"item\":");
    olla_resp_item_json(o, it, 1);

    return olla_resp_event_end(s);
}


/* the text (p[0..n), or the string node v) appended, escaped, and held */

static int
olla_resp_item_append(olla_resp_stream_t *s, olla_resp_item_t *it,
    const char *p, size_t n, const olla_jdom_t *v)
{
    size_t  before;

    before = it->buf.len;

    if (v) {
        olla_jout_string_esc(&it->buf, v);

    } else {
        olla_jout_esc(&it->buf, p, n);
    }

    if (it->buf.failed) {
        return olla_resp_stream_nomem(s);
    }

    return olla_resp_hold(s, it->buf.len - before);
}


/* a delta of the open item */

static int
olla_resp_delta(olla_resp_stream_t *s, const char *p, size_t n,
    const olla_jdom_t *v)
{
    olla_jout_t       *o;
    olla_resp_item_t  *it;

    it = &s->items[s->open];

    switch (it->kind) {

    case OLLA_ITEM_MESSAGE:
        o = olla_resp_event(s, "response.output_text.delta");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"content_index\":0,\"delta\":");
        olla_jout_string(o, v);
        olla_jout_lit(o, ",\"logprobs\":[]");
        break;

    case OLLA_ITEM_REASONING:
        o = olla_resp_event(s, "response.reasoning_text.delta");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"content_index\":0,\"delta\":");
        olla_jout_string(o, v);
        break;

    default: /* OLLA_ITEM_CALL */
        o = olla_resp_event(s, "response.function_call_arguments.delta");
        olla_resp_item_ref(o, it);
        olla_jout_lit(o, ",\"delta\":");

        if (v) {
            olla_jout_string(o, v);

        } else {
            olla_jout_str(o, p, n);
        }
    }

    return olla_resp_event_end(s);
}


/* "item_id" and "output_index" of an item's events */

static void
olla_resp_item_ref(olla_jout_t *o, olla_resp_item_t *it)
{
    olla_jout_lit(o, ",\"item_id\":\"");
    olla_jout_add(o, it->id, strlen(it->id));
    olla_jout_lit(o, "\",\"output_index\":");
    olla_jout_int(o, (long long) it->output_index);
}


/*
 * An item as output_item.added (not full: empty, in progress) or as
 * output_item.done and the final output show it.
 */

static void
olla_resp_item_json(olla_jout_t *o, olla_resp_item_t *it, int full)
{
    const char  *status;

    if (!full) {
        status = "in_progress";

    } else if (it->state != OLLA_ITEM_DONE || it->incomplete) {
        status = "incomplete";

    } else {
        status = "completed";
    }

    olla_jout_lit(o, "{\"id\":\"");
    olla_jout_add(o, it->id, strlen(it->id));

    switch (it->kind) {

    case OLLA_ITEM_MESSAGE:
        olla_jout_lit(o, "\",\"type\":\"message\",\"status\":\"");
        olla_jout_add(o, status, strlen(status));
        olla_jout_lit(o, "\",\"content\":[");

        if (full) {
            olla_jout_lit(o, "{\"type\":\"output_text\",\"annotations\":[],"
                             "\"text\":\"");
            olla_jout_add(o, it->buf.p, it->buf.len);
            olla_jout_lit(o, "\"}");
        }

        olla_jout_lit(o, "],\"role\":\"assistant\"}");
        return;

    case OLLA_ITEM_REASONING:
        olla_jout_lit(o, "\",\"type\":\"reasoning\",\"summary\":[],"
                         "\"content\":[");

        if (full) {
            olla_jout_lit(o, "{\"type\":\"reasoning_text\",\"text\":\"");
            olla_jout_add(o, it->buf.p, it->buf.len);
            olla_jout_lit(o, "\"}");
        }

        olla_jout_lit(o, "],\"status\":\"");
        olla_jout_add(o, status, strlen(status));
        olla_jout_lit(o, "\"}");
        return;

    default: /* OLLA_ITEM_CALL */
        olla_jout_lit(o, "\",\"type\":\"function_call\",\"status\":\"");
        olla_jout_add(o, status, strlen(status));
        olla_jout_lit(o, "\",\"arguments\":\"");

        if (full && it->buf.len) {
            olla_jout_add(o, it->buf.p, it->buf.len);

        } else if (full) {
            olla_jout_lit(o, "{}");
        }

        olla_jout_lit(o, "\",\"call_id\":");
        olla_jout_str(o, it->call_id, strlen(it->call_id));
        olla_jout_lit(o, ",\"name\":");
        olla_jout_str(o, it->name, strlen(it->name));
        olla_jout_ch(o, '}');
    }
}


/* ------------------------------------------------------------ the response */


static void
olla_resp_stream_obj(olla_resp_stream_t *s, olla_resp_obj_t *r,
    const char *status)
{
    memset(r, 0, sizeof(olla_resp_obj_t));

    r->id = s->id;
    r->created_at = s->created_at;
    r->model = s->model ? s->model : "unknown";
    r->model_len = strlen(r->model);
    r->status = status;
}


/* {"response": the Response, with its output when asked} */

static void
olla_resp_stream_response(olla_resp_stream_t *s, olla_jout_t *o,
    olla_resp_obj_t *r, int output)
{
    size_t  i;

    olla_jout_lit(o, ",\"response\":");
    olla_resp_obj_begin(o, r);

    for (i = 0; output && i < s->norder; i++) {
        if (i) {
            olla_jout_ch(o, ',');
        }

        olla_resp_item_json(o, &s->items[s->order[i]], 1);
    }

    olla_resp_obj_end(o, r);
}


/* response.created and response.in_progress, once, at the first chunk */

static int
olla_resp_stream_start(olla_resp_stream_t *s, const olla_jdom_t *chunk)
{
    olla_jout_t        *o;
    olla_resp_obj_t     r;
    const olla_jdom_t  *model;

    if (s->started) {
        return 0;
    }

    s->started = 1;

    if (s->model == NULL) {
        model = olla_resp_get(chunk, "model");

        if (olla_jdom_is_string(model) && olla_jdom_cstrlen(model)) {
            s->tmp.len = 0;

            if (olla_resp_clean(&s->tmp, model->u.str,
                                olla_jdom_cstrlen(model), 1024, 0)
                != 0)
            {
                olla_jout_free(&s->tmp);
                return olla_resp_stream_nomem(s);
            }

            s->model = olla_resp_strndup(s->tmp.p, s->tmp.len);
            if (s->model == NULL) {
                return olla_resp_stream_nomem(s);
            }
        }
    }

    olla_resp_stream_obj(s, &r, "in_progress");

    o = olla_resp_event(s, "response.created");
    olla_resp_stream_response(s, o, &r, 0);

    if (olla_resp_event_end(s) != 0) {
        return -1;
    }

    s->nstart = 1;

    o = olla_resp_event(s, "response.in_progress");
    olla_resp_stream_response(s, o, &r, 0);

    if (olla_resp_event_end(s) != 0) {
        return -1;
    }

    s->nstart = 2;

    return 0;
}


/*
 * The end: the open item closed, the calls still waiting opened and
 * closed in order (a call never named has no item to give it), then
 * response.completed, or response.incomplete when the backend stopped at
 * its token limit or its content filter.
 */

static int
olla_resp_stream_end(olla_resp_stream_t *s)
{
    int                 incomplete;
    size_t              i;
    long long           out;
    olla_jout_t        *o;
    olla_resp_obj_t     r;
    olla_resp_item_t   *t;

    if (olla_resp_stream_start(s, NULL) != 0) {
        return -1;
    }

    incomplete = s->finish != NULL
                 && (strcmp(s->finish, "length") == 0
                     || strcmp(s->finish, "content_filter") == 0);

    if (olla_resp_item_close(s, incomplete) != 0) {
        return -1;
    }

    for (i = s->next_call; i < s->nitems; i++) {
        t = &s->items[i];

        if (t->kind != OLLA_ITEM_CALL || t->state != OLLA_ITEM_PENDING) {
            continue;
        }

        if (t->name == NULL) {
            t->state = OLLA_ITEM_DONE;
            continue;
        }

        if (olla_resp_item_open(s, i) != 0
            || olla_resp_item_close(s, incomplete) != 0)
        {
            return -1;
        }
    }

    olla_resp_stream_obj(s, &r, incomplete ? "incomplete" : "completed");

    if (incomplete) {
        r.incomplete = strcmp(s->finish, "length") == 0 ? "max_output_tokens"
                                                        : "content_filter";
    }

    if (s->usage.have_out) {
        out = s->usage.out;

    } else {
        out = (long long) (s->out_bytes / 4);

        if (out == 0 && s->out_bytes) {
            out = 1;
        }
    }

    r.usage = 1;
    r.input_tokens = s->usage.have_in ? s->usage.in : s->input_tokens;
    r.cached_tokens = s->usage.have_in ? s->usage.cached : 0;
    r.output_tokens = out;
    r.reasoning_tokens = s->usage.reasoning;

    if (incomplete) {
        o = olla_resp_event(s, "response.incomplete");

    } else {
        o = olla_resp_event(s, "response.completed");
    }

    olla_resp_stream_response(s, o, &r, 1);

    if (olla_resp_event_end(s) != 0) {
        return -1;
    }

    s->done = 1;

    return -1;
}


/*
 * An error from upstream: a JSON error value (v), or the text of an
 * "error:" line or of the data after "event: error".  It ends the stream
 * with response.failed.
 */

static int
olla_resp_stream_upstream_error(olla_resp_stream_t *s, const olla_jdom_t *v,
    const char *text, size_t n)
{
    int          r, rc, context;
    olla_jout_t  msg;

    olla_jout_init(&msg, 0);
    context = 0;
    r = 0;

    if (v != NULL) {
        r = olla_resp_error_message(v, &msg, NULL, &context);

    } else if (n) {
        /* the text is not in the document: it can be reused */
        rc = olla_jdom_parse(&s->doc, text, n);

        if (rc == OLLA_JDOM_NOMEM) {
            r = -1;

        } else if (rc == OLLA_JDOM_OK) {
            r = olla_resp_error_message(s->doc.root, &msg, NULL, &context);
        }

        if (r == 0) {
            r = olla_resp_text_message(text, n, &msg);

            if (r == 0) {
                context = olla_resp_is_context_error(msg.p, msg.len);
                r = msg.len ? 1 : 0;
            }
        }
    }

    if (r < 0) {
        olla_jout_free(&msg);
        return olla_resp_stream_nomem(s);
    }

    r = olla_resp_stream_fail(s, context ? "context_length_exceeded"
                                         : "server_error",
                              r > 0 && msg.len ? msg.p
                                     : "upstream reported an error");

    olla_jout_free(&msg);

    return r;
}


/*
 * response.failed (after response.created, which the SDK wants first),
 * with the output so far; msg must be valid UTF-8.
 */

static int
olla_resp_stream_fail(olla_resp_stream_t *s, const char *code,
    const char *msg)
{
    olla_jout_t      *o;
    olla_resp_obj_t   r;

    if (s->done) {
        return -1;
    }

    if (olla_resp_stream_start(s, NULL) != 0 || s->done) {
        return -1;
    }

    olla_resp_stream_obj(s, &r, "failed");
    r.error_code = code;
    r.error_message = msg;

    o = olla_resp_event(s, "response.failed");
    olla_resp_stream_response(s, o, &r, 1);

    (void) olla_resp_event_end(s);

    s->done = 1;

    return -1;
}


/*
 * Out of memory: response.failed written without allocating, after
 * response.created and response.in_progress when they are not out yet.
 */

static int
olla_resp_stream_nomem(olla_resp_stream_t *s)
{
    int          k, n;
    char         buf[1024];
    const char  *model;
    size_t       i, len;

    static const char  fmt[] =
        "event: %s\n"
        "data: {\"type\":\"%s\",\"sequence_number\":%lld,"
        "\"response\":{\"id\":\"%s\",\"object\":\"response\","
        "\"created_at\":%lld,\"status\":\"%s\",\"background\":false,"
        "\"error\":%s,\"incomplete_details\":null,\"instructions\":null,"
        "\"max_output_tokens\":null,\"model\":\"%s\",\"output\":[],"
        "\"parallel_tool_calls\":true,\"previous_response_id\":null,"
        "\"reasoning\":{\"effort\":null,\"summary\":null},\"store\":false,"
        "\"temperature\":null,\"text\":{\"format\":{\"type\":\"text\"}},"
        "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":null,"
        "\"truncation\":\"disabled\",\"usage\":null,\"metadata\":{}}}\n\n";

    static const char  *events[] = {
        "response.created", "response.in_progress", "response.failed"
    };

    if (s->done) {
        return -1;
    }

    s->done = 1;

    /* the model only when it needs no escaping */

    model = s->model ? s->model : "unknown";
    len = strlen(model);

    for (i = 0; i < len; i++) {
        if (model[i] == '"' || model[i] == '\\'
            || (unsigned char) model[i] < 0x20)
        {
            break;
        }
    }

    if (i < len || len > 256) {
        model = "unknown";
    }

    for (k = s->nstart; k < 3; k++) {
        n = snprintf(buf, sizeof(buf), fmt, events[k], events[k], s->seq++,
                     s->id, s->created_at,
                     k == 2 ? "failed" : "in_progress",
                     k == 2 ? "{\"code\":\"server_error\","
                              "\"message\":\"out of memory\"}"
                            : "null",
                     model);

        if (n < 0 || (size_t) n >= sizeof(buf)) {
            break;
        }

        if (s->emit(s->emit_data, buf, (size_t) n) != 0) {
            s->failed = 1;
            break;
        }
    }

    s->started = 1;
    s->nstart = 2;

    return -1;
}


/*
 * An event is "event: NAME\ndata: {"type":NAME,"sequence_number":N...}":
 * event_start() writes up to the sequence number, the caller writes the
 * other members (each with its leading comma) into the buffer it returns,
 * and event_end() closes and emits it.
 */

static olla_jout_t *
olla_resp_event_start(olla_resp_stream_t *s, const char *name, size_t len)
{
    olla_jout_t  *o;

    o = &s->out;
    o->len = 0;

    olla_jout_lit(o, "event: ");
    olla_jout_add(o, name, len);
    olla_jout_lit(o, "\ndata: {\"type\":\"");
    olla_jout_add(o, name, len);
    olla_jout_lit(o, "\",\"sequence_number\":");
    olla_jout_int(o, s->seq++);

    return o;
}


static int
olla_resp_event_end(olla_resp_stream_t *s)
{
    int  rc;

    if (s->done) {
        s->out.len = 0;
        return -1;
    }

    olla_jout_lit(&s->out, "}\n\n");

    if (s->out.failed) {
        olla_jout_free(&s->out);
        s->seq--;
        return olla_resp_stream_nomem(s);
    }

    rc = s->emit(s->emit_data, s->out.p, s->out.len);

    if (s->out.cap > OLLA_RESP_OUT_KEEP) {
        olla_jout_free(&s->out);
    }

    if (rc != 0) {
        s->done = 1;
        s->failed = 1;
        return -1;
    }

    return 0;
}
