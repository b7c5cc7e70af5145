
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Responses translator: what its parts share (ids, strings, the Response
 * object's envelope, usage) and the error bodies in the OpenAI shape.
 * No nginx headers.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define OLLA_RESP_INTERNAL
#include "olla_resp.h"
#include "olla_rand.h"


#define OLLA_RESP_TEXT_ERRMAX  200
#define OLLA_RESP_JSON_ERRMAX  1024
#define OLLA_RESP_MSG_MAX      4096


static int olla_resp_code_ok(const olla_jdom_t *v);
static char *olla_resp_error_build(int status, const char *code,
    const char *message, size_t mlen, const char *request_id,
    size_t *outlen);


/* ------------------------------------------------------------ strings */


void
olla_resp_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


char *
olla_resp_strndup(const char *p, size_t n)
{
    char  *s;

    s = olla_jdom_malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }

    if (n) {
        memcpy(s, p, n);
    }

    s[n] = '\0';

    return s;
}


/*
 * Appends p[0..n) to o as valid UTF-8 (raw, not escaped): a byte that
 * does not start a valid sequence becomes "?".  With ctl, control
 * characters count as spaces, runs of spaces collapse to one and leading
 * and trailing spaces are dropped.  At most max bytes are appended, cut
 * at a character boundary.  The result is NUL-terminated.  Returns 0, or
 * -1 when out of memory.
 */

int
olla_resp_clean(olla_jout_t *o, const char *s, size_t n, size_t max,
    int ctl)
{
    size_t                i, k, seq, added;
    unsigned char         c, lo, hi;
    const unsigned char  *p;

    p = (const unsigned char *) s;
    added = 0;

    if (olla_jout_grow(o, 0) != 0) {
        return -1;
    }

    for (i = 0; i < n; i += seq) {
        c = p[i];
        seq = 1;

        if (c < 0x80) {
            if (ctl && (c < 0x20 || c == 0x7f || c == ' ')) {
                if (added == 0 || o->p[o->len - 1] == ' ') {
                    continue;
                }

                c = ' ';
            }

            if (added + 1 > max) {
                break;
            }

            olla_jout_ch(o, (char) c);
            added++;
            continue;
        }

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            seq = 2;

        } else if (c >= 0xe0 && c <= 0xef) {
            seq = 3;
            lo = (c == 0xe0) ? 0xa0 : 0x80;
            hi = (c == 0xed) ? 0x9f : 0xbf;

        } else if (c >= 0xf0 && c <= 0xf4) {
            seq = 4;
            lo = (c == 0xf0) ? 0x90 : 0x80;
            hi = (c == 0xf4) ? 0x8f : 0xbf;

        } else {
            seq = 0;
        }

        if (seq && i + seq <= n) {
            if (p[i + 1] < lo || p[i + 1] > hi) {
                seq = 0;
            }

            for (k = 2; seq && k < seq; k++) {
                if (p[i + k] < 0x80 || p[i + k] > 0xbf) {
                    seq = 0;
                }
            }

        } else {
            seq = 0;
        }

        if (seq == 0) {
            seq = 1;

            if (added + 1 > max) {
                break;
            }

            olla_jout_ch(o, '?');
            added++;
            continue;
        }

        if (added + seq > max) {
            break;
        }

        olla_jout_add(o, (const char *) p + i, seq);
        added += seq;
    }

    if (ctl) {
        while (added && o->len && o->p[o->len - 1] == ' ') {
            o->len--;
            added--;
        }
    }

    if (olla_jout_grow(o, 0) != 0) {
        return -1;
    }

    o->p[o->len] = '\0';

    return 0;
}


/* a string that is s up to its first U+0000 */

int
olla_resp_str_is(const olla_jdom_t *v, const char *s, size_t n)
{
    return olla_jdom_is_string(v) && olla_jdom_cstrlen(v) == n
           && memcmp(v->u.str, s, n) == 0;
}


/* optional members: absent and null are the same */

const olla_jdom_t *
olla_resp_opt(const olla_jdom_t *obj, const char *key, size_t len)
{
    const olla_jdom_t  *v;

    v = olla_jdom_get(obj, key, len);

    return olla_jdom_is_null(v) ? NULL : v;
}


const olla_jdom_t *
olla_resp_load(olla_jdom_doc_t *doc, const char *body, size_t len,
    const char *what, char *err, size_t errlen)
{
    int     rc;
    size_t  i;

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len) {
        olla_resp_err(err, errlen, "%s is empty", what);
        return NULL;
    }

    rc = olla_jdom_parse(doc, body, len);

    if (rc == OLLA_JDOM_NOMEM) {
        olla_resp_err(err, errlen, "out of memory");
        return NULL;
    }

    if (rc != OLLA_JDOM_OK) {
        olla_resp_err(err, errlen,
                      "%s is not valid JSON: %s at line %zu column %zu",
                      what, doc->error, doc->line, doc->column);
        return NULL;
    }

    if (!olla_jdom_is_object(doc->root)) {
        olla_resp_err(err, errlen, "%s must be a JSON object", what);
        return NULL;
    }

    return doc->root;
}


/* ------------------------------------------------------------ ids and time */

/* Ids are a prefix and 48 lowercase hex digits drawn from olla_rand. */

static olla_rand_t  olla_resp_rng = OLLA_RAND_INIT;


void
olla_resp_set_id_seed(unsigned long long seed)
{
    olla_rand_seed(&olla_resp_rng, seed);
}


/* buf must hold strlen(prefix) + OLLA_RESP_ID_HEX + 1 bytes */

void
olla_resp_gen_id(char *buf, const char *prefix)
{
    size_t             i, n;
    uint64_t           r;
    static const char  hex[] = "0123456789abcdef";

    n = strlen(prefix);
    memcpy(buf, prefix, n);
    r = 0;

    olla_rand_begin(&olla_resp_rng);

    for (i = 0; i < OLLA_RESP_ID_HEX; i++) {
        if (i % 16 == 0) {
            r = olla_rand_next(&olla_resp_rng);
        }

        buf[n + i] = hex[r & 0xf];
        r >>= 4;
    }

    buf[n + OLLA_RESP_ID_HEX] = '\0';
}


/* with a fixed id sequence (tests), a fixed time too */

long long
olla_resp_now(void)
{
    return olla_resp_rng.fixed ? 1700000000LL : (long long) time(NULL);
}


/* ------------------------------------------------------ the Response object */


void
olla_resp_usage(const olla_jdom_t *usage, olla_resp_usage_t *u)
{
    const olla_jdom_t  *v;

    if (!olla_jdom_is_object(usage)) {
        return;
    }

    v = olla_resp_get(usage, "prompt_tokens");
    if (olla_jdom_is_integer(v) && olla_jdom_int(v) >= 0) {
        u->in = olla_jdom_int(v);
        u->have_in = 1;
    }

    v = olla_resp_get(usage, "completion_tokens");
    if (olla_jdom_is_integer(v) && olla_jdom_int(v) >= 0) {
        u->out = olla_jdom_int(v);
        u->have_out = 1;
    }

    v = olla_resp_get(olla_resp_get(usage, "prompt_tokens_details"),
                      "cached_tokens");
    if (olla_jdom_is_integer(v) && olla_jdom_int(v) >= 0) {
        u->cached = olla_jdom_int(v);
    }

    v = olla_resp_get(olla_resp_get(usage, "completion_tokens_details"),
                      "reasoning_tokens");
    if (olla_jdom_is_integer(v) && olla_jdom_int(v) >= 0) {
        u->reasoning = olla_jdom_int(v);
    }
}


/*
 * Everything of a Response up to the items of "output", then the rest.
 * The fields the SDK types require and a chat reply cannot know (the
 * request's) have neutral values.
 */

void
olla_resp_obj_begin(olla_jout_t *o, const olla_resp_obj_t *r)
{
    olla_jout_lit(o, "{\"id\":\"");
    olla_jout_add(o, r->id, strlen(r->id));
    olla_jout_lit(o, "\",\"object\":\"response\",\"created_at\":");
    olla_jout_int(o, r->created_at);
    olla_jout_lit(o, ",\"status\":\"");
    olla_jout_add(o, r->status, strlen(r->status));
    olla_jout_lit(o, "\",\"background\":false,\"error\":");

    if (r->error_message) {
        olla_jout_lit(o, "{\"code\":\"");
        olla_jout_add(o, r->error_code, strlen(r->error_code));
        olla_jout_lit(o, "\",\"message\":");
        olla_jout_str(o, r->error_message, strlen(r->error_message));
        olla_jout_ch(o, '}');

    } else {
        olla_jout_lit(o, "null");
    }

    olla_jout_lit(o, ",\"incomplete_details\":");

    if (r->incomplete) {
        olla_jout_lit(o, "{\"reason\":\"");
        olla_jout_add(o, r->incomplete, strlen(r->incomplete));
        olla_jout_lit(o, "\"}");

    } else {
        olla_jout_lit(o, "null");
    }

    olla_jout_lit(o, ",\"instructions\":null,\"max_output_tokens\":null,"
                     "\"model\":");
    olla_jout_str(o, r->model, r->model_len);
    olla_jout_lit(o, ",\"output\":[");
}


void
olla_resp_obj_end(olla_jout_t *o, const olla_resp_obj_t *r)
{
    long long  in, out, cached;

    olla_jout_lit(o, "],\"parallel_tool_calls\":true,"
                     "\"previous_response_id\":null,"
                     "\"reasoning\":{\"effort\":null,\"summary\":null},"
                     "\"store\":false,\"temperature\":null,"
                     "\"text\":{\"format\":{\"type\":\"text\"}},"
                     "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":null,"
                     "\"truncation\":\"disabled\",\"usage\":");

    if (!r->usage) {
        olla_jout_lit(o, "null,\"metadata\":{}}");
        return;
    }

    in = r->input_tokens;
    out = r->output_tokens;
    cached = r->cached_tokens < in ? r->cached_tokens : in;

    olla_jout_lit(o, "{\"input_tokens\":");
    olla_jout_int(o, in);
    olla_jout_lit(o, ",\"input_tokens_details\":{\"cached_tokens\":");
    olla_jout_int(o, cached);
    olla_jout_lit(o, "},\"output_tokens\":");
    olla_jout_int(o, out);
    olla_jout_lit(o, ",\"output_tokens_details\":{\"reasoning_tokens\":");
    olla_jout_int(o, r->reasoning_tokens < out ? r->reasoning_tokens : out);
    olla_jout_lit(o, "},\"total_tokens\":");
    olla_jout_int(o, in > (long long) 0x3fffffffffffffffLL
                     || out > (long long) 0x3fffffffffffffffLL
                     ? (long long) 0x7fffffffffffffffLL : in + out);
    olla_jout_lit(o, "},\"metadata\":{}}");
}


/* ------------------------------------------------------------ errors */


const char *
olla_resp_error_type(int status)
{
    if (status == 401) {
        return "authentication_error";
    }

    if (status == 403) {
        return "permission_error";
    }

    if (status == 429) {
        return "rate_limit_error";
    }

    if (status >= 500 || status < 400) {
        return "server_error";
    }

    return "invalid_request_error";
}


/* the code an error body gets when nothing better is known */

static const char *
olla_resp_status_code(int status)
{
    switch (status) {
    case 404:
        return "not_found";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_exceeded";
    case 502:
        return "upstream_error";
    case 503:
        return "service_unavailable";
    case 504:
        return "upstream_timeout";
    default:
        return status >= 500 ? "server_error" : NULL;
    }
}


/* does an error message say that the prompt did not fit the context? */

int
olla_resp_is_context_error(const char *msg, size_t len)
{
    size_t              i, j, k;
    static const char  *marks[] = {
        "context length", "context size", "context window",
        "maximum context", "exceed_context", "context_length_exceeded"
    };

    for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        k = strlen(marks[i]);

        for (j = 0; j + k <= len; j++) {
            if (strncasecmp(msg + j, marks[i], k) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* a backend's string "code" worth passing on: an identifier */

static int
olla_resp_code_ok(const olla_jdom_t *v)
{
    size_t  i;
    char    c;

    if (!olla_jdom_is_string(v) || v->len == 0 || v->len > 64) {
        return 0;
    }

    for (i = 0; i < v->len; i++) {
        c = v->u.str[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.'
              || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * The message of an error value: {"error":{"message":M}} (OpenAI, and
 * Anthropic's), {"error":M}, {"message":M}, {"detail":M}, or a JSON
 * string.  *code gets the backend's string code when it is an identifier
 * (else NULL): a node of v's document, not NUL-terminated; *context is
 * set when the error says the context is full.
 * Returns 1 when a message was found, 0 when not, -1 when out of memory.
 */

int
olla_resp_error_message(const olla_jdom_t *v, olla_jout_t *msg,
    const olla_jdom_t **code, int *context)
{
    const olla_jdom_t  *e, *m, *c, *t;

    m = NULL;
    c = NULL;
    t = NULL;

    if (olla_jdom_is_object(v)) {
        e = olla_resp_get(v, "error");

        if (olla_jdom_is_object(e)) {
            m = olla_resp_get(e, "message");
            c = olla_resp_get(e, "code");
            t = olla_resp_get(e, "type");

        } else if (olla_jdom_is_string(e)) {
            m = e;
        }

        if (!olla_resp_nonempty(m)) {
            m = olla_resp_get(v, "message");
        }

        if (!olla_resp_nonempty(m)) {
            m = olla_resp_get(v, "detail");
        }

        if (c == NULL) {
            c = olla_resp_get(v, "code");
        }

        if (t == NULL) {
            t = olla_resp_get(v, "type");
        }

    } else {
        m = v;
    }

    if (code) {
        *code = NULL;

        if (olla_resp_code_ok(c)) {
            *code = c;
        }
    }

    if (context) {
        *context = (olla_jdom_is_string(t)
                    && olla_resp_is_context_error(t->u.str, t->len))
                   || (olla_jdom_is_string(c)
                       && olla_resp_is_context_error(c->u.str, c->len))
                   || (olla_jdom_is_string(m)
                       && olla_resp_is_context_error(m->u.str, m->len));
    }

    if (!olla_resp_nonempty(m)) {
        return 0;
    }

    msg->len = 0;

    if (olla_resp_clean(msg, m->u.str, m->len, OLLA_RESP_JSON_ERRMAX, 1)
        != 0)
    {
        return -1;
    }

    return msg->len ? 1 : 0;
}


/*
 * The start of a text body as a message: markup dropped when it looks
 * like HTML, control characters and runs of white space made one space,
 * at most OLLA_RESP_TEXT_ERRMAX bytes.
 */

int
olla_resp_text_message(const char *body, size_t len, olla_jout_t *msg)
{
    int          rc;
    size_t       i, start;
    olla_jout_t  t;

    msg->len = 0;

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len || body[i] != '<') {
        return olla_resp_clean(msg, body, len, OLLA_RESP_TEXT_ERRMAX, 1);
    }

    olla_jout_init(&t, 0);

    if (len > 65536) {
        len = 65536;
    }

    while (i < len && t.len < 4 * OLLA_RESP_TEXT_ERRMAX) {
        if (body[i] == '<') {
            while (i < len && body[i] != '>') {
                i++;
            }

            i++;
            olla_jout_ch(&t, ' ');
            continue;
        }

        start = i;

        while (i < len && body[i] != '<') {
            i++;
        }

        olla_jout_add(&t, body + start, i - start);
    }

    if (t.failed) {
        return -1;
    }

    rc = olla_resp_clean(msg, t.p ? t.p : "", t.len, OLLA_RESP_TEXT_ERRMAX,
                         1);

    olla_jout_free(&t);

    return rc;
}


static char *
olla_resp_error_build(int status, const char *code, const char *message,
    size_t mlen, const char *request_id, size_t *outlen)
{
    char         *p;
    olla_jout_t   o, m;

    olla_jout_init(&o, 0);
    olla_jout_init(&m, 0);

    if (olla_resp_clean(&m, message, mlen, OLLA_RESP_MSG_MAX, 0) != 0) {
        goto failed;
    }

    olla_jout_lit(&o, "{\"error\":{\"message\":");
    olla_jout_str(&o, m.p, m.len);
    olla_jout_lit(&o, ",\"type\":\"");
    olla_jout_add(&o, olla_resp_error_type(status),
                  strlen(olla_resp_error_type(status)));
    olla_jout_lit(&o, "\",\"param\":null,\"code\":");

    if (code) {
        olla_jout_str(&o, code, strlen(code));

    } else {
        olla_jout_lit(&o, "null");
    }

    if (request_id != NULL && request_id[0] != '\0') {
        m.len = 0;

        if (olla_resp_clean(&m, request_id, strlen(request_id), 256, 1)
            != 0)
        {
            goto failed;
        }

        olla_jout_lit(&o, ",\"request_id\":");
        olla_jout_str(&o, m.p, m.len);
    }

    olla_jout_lit(&o, "}}");

    olla_jout_free(&m);

    p = olla_jout_finish(&o, outlen);

    if (p == NULL && outlen) {
        *outlen = 0;
    }

    return p;

failed:

    olla_jout_free(&m);
    olla_jout_free(&o);

    if (outlen) {
        *outlen = 0;
    }

    return NULL;
}


char *
olla_resp_error_json(int status, const char *message,
    const char *request_id, size_t *outlen)
{
    char  dflt[64];

    if (message == NULL || message[0] == '\0') {
        snprintf(dflt, sizeof(dflt), "request failed with HTTP status %d",
                 status);
        message = dflt;
    }

    return olla_resp_error_build(status, olla_resp_status_code(status),
                                 message, strlen(message), request_id,
                                 outlen);
}


char *
olla_resp_error_from_backend(int status, const char *body, size_t len,
    const char *request_id, size_t *outlen)
{
    int                 r, rc, context;
    char               *res, dflt[64], code[72];
    char                arena[OLLA_RESP_SMALL_ARENA];
    const char         *c;
    olla_jout_t         msg;
    olla_jdom_doc_t     doc;
    const olla_jdom_t  *cv;

    olla_jout_init(&msg, 0);
    r = 0;
    cv = NULL;
    context = 0;
    code[0] = '\0';

    if (body != NULL && len) {
        olla_jdom_init(&doc, arena, sizeof(arena));

        rc = olla_jdom_parse(&doc, body, len);

        if (rc == OLLA_JDOM_OK) {
            r = olla_resp_error_message(doc.root, &msg, &cv, &context);

            if (r >= 0 && cv != NULL) {
                /* an identifier of at most 64 bytes */
                snprintf(code, sizeof(code), "%.*s", (int) cv->len,
                         cv->u.str);
            }
        }

        olla_jdom_free(&doc);

        if (rc == OLLA_JDOM_NOMEM || r < 0) {
            goto nomem;
        }

        if (r == 0) {
            if (olla_resp_text_message(body, len, &msg) != 0) {
                goto nomem;
            }

            context = olla_resp_is_context_error(msg.p, msg.len);
        }
    }

    c = context ? "context_length_exceeded"
                : code[0] ? code : olla_resp_status_code(status);

    if (msg.len == 0) {
        snprintf(dflt, sizeof(dflt), "backend returned HTTP %d", status);
        res = olla_resp_error_build(status, c, dflt, strlen(dflt),
                                    request_id, outlen);

    } else {
        res = olla_resp_error_build(status, c, msg.p, msg.len, request_id,
                                    outlen);
    }

    olla_jout_free(&msg);

    return res;

nomem:

    olla_jout_free(&msg);

    if (outlen) {
        *outlen = 0;
    }

    return NULL;
}
