
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Anthropic errors: the error type of an HTTP status, Anthropic error
 * bodies, and a backend's error response (OpenAI JSON, Anthropic JSON,
 * text, HTML) made an Anthropic error with the backend's message.
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "olla_anth_int.h"
#include "olla_errors.h"


#define OLLA_ANTH_TEXT_ERRMAX  200
#define OLLA_ANTH_JSON_ERRMAX  1024


static const char *olla_anth_known_type(const olla_jdom_t *type);
static int olla_anth_too_long(const olla_jdom_t *root, const olla_abuf_t *msg,
    long long *n, long long *max);
static long long olla_anth_number_after(const char *s, size_t len,
    const char *key);
static char *olla_anth_error_build(const char *type, const char *message,
    size_t mlen, const char *request_id, size_t *outlen);


/* ------------------------------------------------------------ errors */


/* the catalogue's status table (olla_errors.c), one for every route */

const char *
olla_anth_error_type(int status)
{
    return olla_err_anthropic_type(status);
}


/*
 * An error type a backend named (a string; its text up to a U+0000) ->
 * an Anthropic error type, or NULL
 */

static const char *
olla_anth_known_type(const olla_jdom_t *type)
{
    size_t              i, j, n, k;
    const char         *s;
    static const char  *map[][2] = {
        { "invalid_request", "invalid_request_error" },
        { "authentication", "authentication_error" },
        { "permission", "permission_error" },
        { "not_found", "not_found_error" },
        { "too_large", "request_too_large" },
        { "rate_limit", "rate_limit_error" },
        { "timeout", "timeout_error" },
        { "overloaded", "overloaded_error" },
        { "api_error", "api_error" },
    };

    if (!olla_jdom_is_string(type)) {
        return NULL;
    }

    s = type->u.str;
    n = olla_jdom_cstrlen(type);

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        k = strlen(map[i][0]);

        for (j = 0; j + k <= n; j++) {
            if (memcmp(s + j, map[i][0], k) == 0) {
                return map[i][1];
            }
        }
    }

    return NULL;
}


/*
 * The message of an error body: {"error":{"message":M}} (OpenAI and, with
 * "type":"error", Anthropic), {"error":M}, {"message":M}, {"detail":M} or
 * a JSON string.  With type, *type gets the Anthropic error type the body
 * implies (an HTTP "code" or "status", or a known type name), or NULL.
 * Returns 1 when a message was found, 0 when not, -1 when out of memory.
 */

int
olla_anth_error_message(const olla_jdom_t *v, olla_abuf_t *msg,
    const char **type)
{
    long long           c;
    const olla_jdom_t  *e, *m, *code, *t;

    m = NULL;
    code = NULL;
    t = NULL;

    if (olla_jdom_is_object(v)) {
        e = olla_anth_get(v, "error");

        if (olla_jdom_is_object(e)) {
            m = olla_anth_get(e, "message");
            code = olla_anth_get(e, "code");
            t = olla_anth_get(e, "type");

            if (!olla_jdom_is_string(t)) {
                t = NULL;
            }

        } else if (olla_jdom_is_string(e)) {
            m = e;
        }

        if (!olla_anth_nonempty(m)) {
            m = olla_anth_get(v, "message");
        }

        if (!olla_anth_nonempty(m)) {
            m = olla_anth_get(v, "detail");
        }

        if (!olla_jdom_is_integer(code)) {
            code = olla_anth_get(v, "code");
        }

        if (!olla_jdom_is_integer(code)) {
            code = olla_anth_get(v, "status");
        }

        if (t == NULL && !olla_jdom_is_object(e)) {
            t = olla_anth_get(v, "type");
        }

    } else {
        m = v;
    }

    if (type) {
        *type = NULL;
        c = olla_jdom_int(code);

        if (olla_jdom_is_integer(code) && c >= 400 && c <= 599) {
            *type = olla_anth_error_type((int) c);

        } else {
            *type = olla_anth_known_type(t);
        }
    }

    if (!olla_anth_nonempty(m)) {
        return 0;
    }

    msg->len = 0;

    if (olla_abuf_add(msg, "", 0) != 0
        || olla_anth_clean(msg, (const unsigned char *) m->u.str, m->len,
                           OLLA_ANTH_JSON_ERRMAX, 1)
           != 0)
    {
        return -1;
    }

    return msg->len ? 1 : 0;
}


/*
 * The start of a text body as a message: markup dropped when it looks
 * like HTML, control characters and runs of white space made one space,
 * at most OLLA_ANTH_TEXT_ERRMAX bytes.
 */

int
olla_anth_text_message(const char *body, size_t len, olla_abuf_t *msg)
{
    int           rc;
    size_t        i, start;
    olla_abuf_t   t;

    msg->len = 0;

    if (olla_abuf_add(msg, "", 0) != 0) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len || body[i] != '<') {
        return olla_anth_clean(msg, (const unsigned char *) body, len,
                               OLLA_ANTH_TEXT_ERRMAX, 1);
    }

    memset(&t, 0, sizeof(olla_abuf_t));

    if (len > 65536) {
        len = 65536;
    }

    while (i < len && t.len < 4 * OLLA_ANTH_TEXT_ERRMAX) {
        if (body[i] == '<') {
            while (i < len && body[i] != '>') {
                i++;
            }

            i++;

            if (olla_abuf_add(&t, " ", 1) != 0) {
                olla_abuf_free(&t);
                return -1;
            }

            continue;
        }

        start = i;

        while (i < len && body[i] != '<') {
            i++;
        }

        if (olla_abuf_add(&t, body + start, i - start) != 0) {
            olla_abuf_free(&t);
            return -1;
        }
    }

    rc = 0;

    if (t.len) {
        rc = olla_anth_clean(msg, (const unsigned char *) t.p, t.len,
                             OLLA_ANTH_TEXT_ERRMAX, 1);
    }

    olla_abuf_free(&t);

    return rc;
}


static char *
olla_anth_error_build(const char *type, const char *message, size_t mlen,
    const char *request_id, size_t *outlen)
{
    char         *p;
    olla_jout_t   o;
    olla_abuf_t   m;

    memset(&m, 0, sizeof(olla_abuf_t));
    olla_jout_init(&o, 0);

    if (olla_abuf_add(&m, "", 0) != 0
        || olla_anth_clean(&m, (const unsigned char *) message, mlen,
                           4096, 0) != 0)
    {
        goto failed;
    }

    olla_jout_lit(&o, "{\"type\":\"error\",\"error\":{\"type\":");
    olla_jout_str(&o, type, strlen(type));
    olla_jout_lit(&o, ",\"message\":");
    olla_jout_str(&o, m.p, m.len);
    olla_jout_ch(&o, '}');

    if (request_id != NULL && request_id[0] != '\0') {
        m.len = 0;

        if (olla_anth_clean(&m, (const unsigned char *) request_id,
                            strlen(request_id), 256, 1) != 0)
        {
            goto failed;
        }

        olla_jout_lit(&o, ",\"request_id\":");
        olla_jout_str(&o, m.p, m.len);
    }

    olla_jout_ch(&o, '}');

    olla_abuf_free(&m);

    p = olla_jout_finish(&o, outlen);

    if (p == NULL && outlen) {
        *outlen = 0;
    }

    return p;

failed:

    olla_abuf_free(&m);
    olla_jout_free(&o);

    return NULL;
}


char *
olla_anth_error_json(int status, const char *message,
    const char *request_id, size_t *outlen)
{
    char  dflt[64];

    if (message == NULL || message[0] == '\0') {
        snprintf(dflt, sizeof(dflt), "request failed with HTTP status %d",
                 status);
        message = dflt;
    }

    return olla_anth_error_build(olla_anth_error_type(status), message,
                                 strlen(message), request_id, outlen);
}


/*
 * A prompt over the context: llama-server's exceed_context_size_error
 * ({"error":{"n_prompt_tokens":N,"n_ctx":M,...}}) or the OpenAI / vLLM
 * wording ("maximum context length is M tokens. However, your messages
 * resulted in N tokens" / "you requested N tokens (P in the messages").
 * Returns 1 with the counts, else 0.
 */

static int
olla_anth_too_long(const olla_jdom_t *root, const olla_abuf_t *msg,
    long long *n, long long *max)
{
    long long           p;
    const olla_jdom_t  *e, *tn, *tc;

    e = olla_jdom_is_object(root) ? olla_anth_get(root, "error") : NULL;

    if (olla_jdom_is_object(e)) {
        tn = olla_anth_get(e, "n_prompt_tokens");
        tc = olla_anth_get(e, "n_ctx");

        if (olla_jdom_is_integer(tn) && olla_jdom_is_integer(tc)
            && olla_jdom_int(tn) > 0 && olla_jdom_int(tc) > 0)
        {
            *n = olla_jdom_int(tn);
            *max = olla_jdom_int(tc);
            return 1;
        }
    }

    if (msg == NULL || msg->len == 0) {
        return 0;
    }

    *max = olla_anth_number_after(msg->p, msg->len,
                                  "maximum context length is ");
    if (*max <= 0) {
        return 0;
    }

    p = olla_anth_number_after(msg->p, msg->len, "(");

    if (p > 0
        && olla_anth_number_after(msg->p, msg->len, " in the messages") >= 0)
    {
        *n = p;
        return 1;
    }

    *n = olla_anth_number_after(msg->p, msg->len, "resulted in ");

    if (*n <= 0) {
        *n = olla_anth_number_after(msg->p, msg->len, "you requested ");
    }

    return *n > 0;
}


/*
 * The number right after the first occurrence of key in s, -1 when the
 * key is not there, 0 when no number follows it ("in the messages" only
 * tells it is there)
 */

static long long
olla_anth_number_after(const char *s, size_t len, const char *key)
{
    size_t     k, i;
    long long  v;

    k = strlen(key);

    for (i = 0; i + k <= len; i++) {
        if (memcmp(s + i, key, k) != 0) {
            continue;
        }

        v = 0;

        for (i += k; i < len && s[i] >= '0' && s[i] <= '9'
                     && v < 1000000000000LL; i++)
        {
            v = v * 10 + (s[i] - '0');
        }

        return v;
    }

    return -1;
}


char *
olla_anth_error_from_backend(int status, const char *body, size_t len,
    const char *request_id, size_t *outlen)
{
    int                 r, rc, shaped, too_long;
    char               *res, dflt[96], arena[OLLA_ANTH_SMALL_ARENA];
    long long           n, max;
    olla_abuf_t         msg;
    olla_jdom_doc_t     doc;
    const olla_jdom_t  *t;

    memset(&msg, 0, sizeof(olla_abuf_t));
    r = 0;
    shaped = 0;
    too_long = 0;

    if (body != NULL && len) {
        olla_jdom_init(&doc, arena, sizeof(arena));

        rc = olla_jdom_parse(&doc, body, len);

        if (rc == OLLA_JDOM_OK) {
            r = olla_anth_error_message(doc.root, &msg, NULL);

            if (r >= 0) {
                too_long = olla_anth_too_long(doc.root, &msg, &n, &max);
            }

            /* already the Messages API's own error: kept as it is */
            t = olla_jdom_is_object(doc.root)
                ? olla_anth_get(doc.root, "type") : NULL;

            shaped = olla_jdom_is_string(t) && t->len == 5
                     && memcmp(t->u.str, "error", 5) == 0
                     && olla_jdom_is_object(olla_anth_get(doc.root,
                                                          "error"));
        }

        olla_jdom_free(&doc);

        if (rc == OLLA_JDOM_NOMEM || r < 0) {
            olla_abuf_free(&msg);
            return NULL;
        }

        if (too_long) {
            /*
             * Anthropic's own words: Claude Code reads the two numbers
             * to size its compaction
             */
            olla_abuf_free(&msg);

            snprintf(dflt, sizeof(dflt),
                     "prompt is too long: %lld tokens > %lld maximum",
                     n, max);

            return olla_anth_error_build("invalid_request_error", dflt,
                                         strlen(dflt), request_id, outlen);
        }

        if (shaped) {
            olla_abuf_free(&msg);

            res = malloc(len + 1);
            if (res != NULL) {
                memcpy(res, body, len);
                res[len] = '\0';
                *outlen = len;
            }

            return res;
        }

        if (rc == OLLA_JDOM_NOMEM || r < 0) {
            olla_abuf_free(&msg);
            return NULL;
        }

        if (r == 0) {
            if (olla_anth_text_message(body, len, &msg) != 0) {
                olla_abuf_free(&msg);
                return NULL;
            }
        }
    }

    if (msg.len == 0) {
        snprintf(dflt, sizeof(dflt), "backend returned HTTP %d", status);
        res = olla_anth_error_build(olla_anth_error_type(status), dflt,
                                    strlen(dflt), request_id, outlen);

    } else {
        res = olla_anth_error_build(olla_anth_error_type(status), msg.p,
                                    msg.len, request_id, outlen);
    }

    olla_abuf_free(&msg);

    return res;
}
