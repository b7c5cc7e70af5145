
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * OpenAI chat completion (non-streaming) -> Anthropic message, and the
 * stop reason and usage rules the stream shares.
 *
 * Where this differs from Olla, on purpose: the client's model name;
 * "text" and "input" always present; thinking blocks carry
 * "signature":""; content_filter -> "refusal"; tool calls with
 * finish_reason "stop" (or none) -> "tool_use";
 * prompt_tokens_details.cached_tokens -> cache_read_input_tokens (and out
 * of input_tokens).
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#include <stdlib.h>
#include <string.h>

#include "olla_anth_int.h"


static int olla_anth_args_object(olla_jout_t *o, const olla_jdom_t *args);
static int olla_anth_cstring(olla_jout_t *o, const char *s);


/* -------------------- response: OpenAI chat completion -> Anthropic message */


/*
 * finish_reason -> stop_reason.  content_filter becomes "refusal", the
 * stop reason Anthropic's API gives when its safety filter ends a reply.
 * A reply that carries tool calls but says "stop" (or nothing) is a
 * tool_use turn: clients run tools only on stop_reason "tool_use".
 */

const char *
olla_anth_stop_reason(const char *finish, int tools)
{
    if (finish != NULL) {
        if (strcmp(finish, "length") == 0) {
            return "max_tokens";
        }

        if (strcmp(finish, "tool_calls") == 0
            || strcmp(finish, "function_call") == 0)
        {
            return "tool_use";
        }

        if (strcmp(finish, "content_filter") == 0) {
            return "refusal";
        }
    }

    return tools ? "tool_use" : "end_turn";
}


/* a finish_reason string -> one of ours (its text up to a U+0000) */

const char *
olla_anth_finish_norm(const olla_jdom_t *v)
{
    size_t              i, n;
    static const char  *known[] = {
        "length", "tool_calls", "function_call", "content_filter"
    };

    /* none of the known is 4 bytes long: "stop", the common one, at once */

    if (!olla_jdom_is_string(v)) {
        return "stop";
    }

    n = olla_jdom_cstrlen(v);

    if (n == 4) {
        return "stop";
    }

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strlen(known[i]) == n && memcmp(v->u.str, known[i], n) == 0) {
            return known[i];
        }
    }

    return "stop";
}


/*
 * tool call arguments (JSON text, or an object) -> an object, {} if not;
 * -1 when out of memory
 */

static int
olla_anth_args_object(olla_jout_t *o, const olla_jdom_t *args)
{
    int                rc;
    char               arena[OLLA_ANTH_SMALL_ARENA];
    olla_jdom_doc_t    doc;

    if (olla_jdom_is_object(args)) {
        olla_jout_value(o, args);
        return 0;
    }

    if (olla_jdom_is_string(args)) {
        olla_jdom_init(&doc, arena, sizeof(arena));

        rc = olla_jdom_parse(&doc, args->u.str, args->len);

        if (rc == OLLA_JDOM_OK && olla_jdom_is_object(doc.root)) {
            olla_jout_value(o, doc.root);
            olla_jdom_free(&doc);
            return 0;
        }

        olla_jdom_free(&doc);

        if (rc == OLLA_JDOM_NOMEM) {
            return -1;
        }
    }

    olla_jout_lit(o, "{}");

    return 0;
}


int
olla_anth_usage(const olla_jdom_t *usage, long long *in, long long *out,
    long long *cached, int *have_in, int *have_out)
{
    const olla_jdom_t  *v;

    if (!olla_jdom_is_object(usage)) {
        return 0;
    }

    v = olla_anth_get(usage, "prompt_tokens");
    if (olla_jdom_is_integer(v) && olla_jdom_int(v) >= 0) {
        *in = olla_jdom_int(v);
        *have_in = 1;
    }

    v = olla_anth_get(usage, "completion_tokens");
    if (olla_jdom_is_integer(v) && olla_jdom_int(v) >= 0) {
        *out = olla_jdom_int(v);
        *have_out = 1;
    }

    v = olla_anth_get(olla_anth_get(usage, "prompt_tokens_details"),
                      "cached_tokens");
    if (olla_jdom_is_integer(v) && olla_jdom_int(v) >= 0) {
        *cached = olla_jdom_int(v);
    }

    return 1;
}


/*
 * Anthropic usage: input_tokens excludes the prompt tokens the backend
 * read from its cache (OpenAI's prompt_tokens_details.cached_tokens),
 * which are cache_read_input_tokens, as in Anthropic's own accounting.
 */

void
olla_anth_usage_json(olla_jout_t *o, long long in, long long cached,
    long long out)
{
    if (cached > in) {
        cached = in;
    }

    olla_jout_lit(o, "{\"input_tokens\":");
    olla_jout_int(o, in - cached);
    olla_jout_lit(o, ",\"cache_creation_input_tokens\":0,"
                     "\"cache_read_input_tokens\":");
    olla_jout_int(o, cached);
    olla_jout_lit(o, ",\"output_tokens\":");
    olla_jout_int(o, out);
    olla_jout_ch(o, '}');
}


/* a C string from outside as a JSON string (invalid UTF-8 mended) */

static int
olla_anth_cstring(olla_jout_t *o, const char *s)
{
    size_t       n;
    olla_abuf_t  b;

    /* ASCII needs no mending (the client's model name, as a rule) */

    for (n = 0; s[n] != '\0' && (unsigned char) s[n] < 0x80; n++) {
        /* void */
    }

    if (s[n] == '\0') {
        olla_jout_str(o, s, n);
        return 0;
    }

    memset(&b, 0, sizeof(olla_abuf_t));

    if (olla_abuf_add(&b, "", 0) != 0
        || olla_anth_clean(&b, (const unsigned char *) s, strlen(s),
                           (size_t) -1, 0) != 0)
    {
        olla_abuf_free(&b);
        return -1;
    }

    olla_jout_str(o, b.p, b.len);
    olla_abuf_free(&b);

    return 0;
}


int
olla_anth_response_from_openai(const char *body, size_t len,
    const char *model, char **out, size_t *outlen, char *err,
    size_t errlen)
{
    int                 have_in, have_out, r;
    char                id[sizeof("toolu_") + OLLA_ANTH_ID_CHARS];
    char                arena[OLLA_ANTH_ARENA];
    size_t              i, n, ntools, nblocks, idpos, total;
    long long           in, outt, cached;
    olla_jout_t         o;
    olla_abuf_t         text;
    const char         *finish;
    olla_jdom_doc_t     doc;
    const olla_jdom_t  *root, *c, *msg, *v, *fn, *name, *calls, *parts, *t;

    *out = NULL;

    if (outlen) {
        *outlen = 0;
    }

    olla_jdom_init(&doc, arena, sizeof(arena));
    olla_jout_init(&o, 0);
    memset(&text, 0, sizeof(olla_abuf_t));

    root = olla_anth_load(&doc, body, len, "backend response", err, errlen);
    if (root == NULL) {
        goto failed;
    }

    v = olla_anth_optl(root, "error");
    if (v != NULL) {
        r = olla_anth_error_message(root, &text, NULL);
        if (r < 0) {
            goto nomem;
        }

        olla_anth_err(err, errlen, "backend returned an error: %s",
                      r ? text.p : "(no message)");
        goto failed;
    }

    v = olla_anth_get(root, "choices");
    if (!olla_jdom_is_array(v) || v->len == 0) {
        olla_anth_err(err, errlen, "backend response has no choices");
        goto failed;
    }

    c = &v->u.items[0];
    msg = olla_anth_get(c, "message");

    if (!olla_jdom_is_object(msg)) {
        olla_anth_err(err, errlen, "backend response has no message");
        goto failed;
    }

    if (olla_jout_grow(&o, len + 256) != 0) {
        goto nomem;
    }

    /* the id goes in once the content has drawn its tool ids */

    olla_jout_lit(&o, "{\"id\":\"");
    idpos = o.len;
    olla_jout_lit(&o, "msg_........................\",\"type\":\"message\","
                      "\"role\":\"assistant\",\"model\":");

    if (model) {
        if (olla_anth_cstring(&o, model) != 0) {
            goto nomem;
        }

    } else {
        v = olla_anth_get(root, "model");

        if (olla_jdom_is_string(v)) {
            olla_jout_string(&o, v);

        } else {
            olla_jout_lit(&o, "\"unknown\"");
        }
    }

    olla_jout_lit(&o, ",\"content\":[");
    nblocks = 0;

    /* thinking */

    v = olla_anth_get(msg, "reasoning_content");
    if (!olla_anth_nonempty(v)) {
        v = olla_anth_get(msg, "reasoning");
    }

    if (olla_anth_nonempty(v)) {
        olla_jout_lit(&o, "{\"type\":\"thinking\",\"thinking\":");
        olla_jout_string(&o, v);
        olla_jout_lit(&o, ",\"signature\":\"\"}");
        nblocks++;
    }

    /* text: a string, or content parts; then a refusal */

    parts = olla_anth_get(msg, "content");
    v = olla_anth_get(msg, "refusal");

    total = 0;

    if (olla_jdom_is_string(parts)) {
        total = parts->len;

    } else if (olla_jdom_is_array(parts)) {
        for (i = 0; i < parts->len; i++) {
            t = olla_anth_block_text(&parts->u.items[i]);
            total += t ? t->len : 0;
        }
    }

    if (total || olla_anth_nonempty(v)) {
        if (nblocks++) {
            olla_jout_ch(&o, ',');
        }

        olla_jout_lit(&o, "{\"type\":\"text\",\"text\":\"");

        if (olla_jdom_is_string(parts)) {
            olla_jout_string_esc(&o, parts);

        } else if (olla_jdom_is_array(parts)) {
            for (i = 0; i < parts->len; i++) {
                t = olla_anth_block_text(&parts->u.items[i]);

                if (t) {
                    olla_jout_string_esc(&o, t);
                }
            }
        }

        if (olla_anth_nonempty(v)) {
            if (total) {
                olla_jout_lit(&o, "\\n");
            }

            olla_jout_string_esc(&o, v);
        }

        olla_jout_lit(&o, "\"}");
    }

    /* tool calls, and the legacy function_call */

    ntools = 0;
    calls = olla_anth_get(msg, "tool_calls");
    n = olla_jdom_is_array(calls) ? calls->len : 0;

    for (i = 0; i <= n; i++) {
        if (i < n) {
            c = &calls->u.items[i];
            fn = olla_anth_get(c, "function");
            v = olla_anth_get(c, "id");

        } else {
            fn = olla_anth_get(msg, "function_call");
            v = NULL;
        }

        name = olla_anth_get(fn, "name");
        if (!olla_anth_nonempty(name)) {
            continue;
        }

        if (nblocks++) {
            olla_jout_ch(&o, ',');
        }

        olla_jout_lit(&o, "{\"type\":\"tool_use\",\"id\":");

        if (olla_anth_nonempty(v)) {
            olla_jout_string(&o, v);

        } else {
            olla_anth_gen_id(id, "toolu_");
            olla_jout_str(&o, id, strlen(id));
        }

        olla_jout_lit(&o, ",\"name\":");
        olla_jout_string(&o, name);
        olla_jout_lit(&o, ",\"input\":");

        if (olla_anth_args_object(&o, olla_anth_get(fn, "arguments")) != 0) {
            goto nomem;
        }

        olla_jout_ch(&o, '}');

        ntools++;
    }

    if (nblocks == 0) {
        olla_jout_lit(&o, "{\"type\":\"text\",\"text\":\"\"}");
    }

    v = olla_anth_get(olla_jdom_at(olla_anth_get(root, "choices"), 0),
                      "finish_reason");
    finish = olla_jdom_is_string(v) ? olla_anth_finish_norm(v) : NULL;

    olla_jout_lit(&o, "],\"stop_reason\":\"");
    olla_jout_add(&o, olla_anth_stop_reason(finish, ntools > 0),
                  strlen(olla_anth_stop_reason(finish, ntools > 0)));
    olla_jout_lit(&o, "\",\"stop_sequence\":null,\"usage\":");

    in = 0;
    outt = 0;
    cached = 0;
    have_in = 0;
    have_out = 0;

    olla_anth_usage(olla_anth_get(root, "usage"), &in, &outt, &cached,
                    &have_in, &have_out);

    olla_anth_usage_json(&o, in, cached, outt);
    olla_jout_ch(&o, '}');

    olla_anth_gen_id(id, "msg_");

    if (o.failed) {
        goto nomem;
    }

    memcpy(o.p + idpos, id, sizeof("msg_") - 1 + OLLA_ANTH_ID_CHARS);

    *out = olla_jout_finish(&o, outlen);

    olla_jdom_free(&doc);

    return 0;

nomem:

    olla_anth_nomem(err, errlen);

failed:

    olla_jout_free(&o);
    olla_abuf_free(&text);
    olla_jdom_free(&doc);

    return -1;
}
