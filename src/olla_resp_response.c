
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * A chat completion (non-streaming) -> a Responses API Response object:
 * a reasoning item, a message item and function_call items, usage, and
 * the status the finish_reason implies.  No nginx headers.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLLA_RESP_INTERNAL
#include "olla_resp.h"


static const olla_jdom_t *olla_resp_part_text(const olla_jdom_t *part);
static int olla_resp_call_item(olla_jout_t *o, const olla_jdom_t *fn,
    const olla_jdom_t *id, const char *status, olla_jout_t *ids);
static int olla_resp_id_seen(olla_jout_t *ids, const char *id, size_t n);


int
olla_resp_response_from_openai(const char *body, size_t len,
    const char *model, char **out, size_t *outlen, char *err,
    size_t errlen)
{
    int                 r;
    char                id[OLLA_RESP_ID_MAX], item[OLLA_RESP_ID_MAX];
    char                arena[OLLA_RESP_ARENA];
    size_t              i, n, nitems, total;
    olla_jout_t         o, m, ids;
    olla_jdom_doc_t     doc;
    olla_resp_obj_t     obj;
    olla_resp_usage_t   u;
    const olla_jdom_t  *root, *c, *msg, *v, *parts, *t, *refusal, *calls;

    *out = NULL;

    if (outlen) {
        *outlen = 0;
    }

    olla_jdom_init(&doc, arena, sizeof(arena));
    olla_jout_init(&o, 0);
    olla_jout_init(&m, 0);
    olla_jout_init(&ids, 0);

    root = olla_resp_load(&doc, body, len, "backend response", err, errlen);
    if (root == NULL) {
        goto failed;
    }

    if (olla_resp_optl(root, "error") != NULL) {
        r = olla_resp_error_message(root, &m, NULL, NULL);
        if (r < 0) {
            goto nomem;
        }

        olla_resp_err(err, errlen, "backend returned an error: %s",
                      r ? m.p : "(no message)");
        goto failed;
    }

    v = olla_resp_get(root, "choices");
    if (!olla_jdom_is_array(v) || v->len == 0) {
        olla_resp_err(err, errlen, "backend response has no choices");
        goto failed;
    }

    c = &v->u.items[0];
    msg = olla_resp_get(c, "message");

    if (!olla_jdom_is_object(msg)) {
        olla_resp_err(err, errlen, "backend response has no message");
        goto failed;
    }

    if (olla_jout_grow(&o, len + 1024) != 0) {
        goto nomem;
    }

    memset(&obj, 0, sizeof(olla_resp_obj_t));
    memset(&u, 0, sizeof(olla_resp_usage_t));

    olla_resp_gen_id(id, "resp_");
    obj.id = id;

    v = olla_resp_get(root, "created");
    obj.created_at = olla_jdom_is_integer(v) && olla_jdom_int(v) > 0
                     ? olla_jdom_int(v) : olla_resp_now();

    v = olla_resp_get(c, "finish_reason");

    if (olla_resp_is(v, "length")) {
        obj.incomplete = "max_output_tokens";

    } else if (olla_resp_is(v, "content_filter")) {
        obj.incomplete = "content_filter";
    }

    obj.status = obj.incomplete ? "incomplete" : "completed";

    /* the model: the client's, else the backend's */

    if (model) {
        v = NULL;

    } else {
        v = olla_resp_get(root, "model");
        model = olla_resp_nonempty(v) ? v->u.str : "unknown";
    }

    if (olla_resp_clean(&m, model,
                        v ? olla_jdom_cstrlen(v) : strlen(model),
                        (size_t) -1, 0)
        != 0)
    {
        goto nomem;
    }

    obj.model = m.p;
    obj.model_len = m.len;

    olla_resp_usage(olla_resp_get(root, "usage"), &u);
    obj.usage = 1;
    obj.input_tokens = u.in;
    obj.cached_tokens = u.cached;
    obj.output_tokens = u.out;
    obj.reasoning_tokens = u.reasoning;

    olla_resp_obj_begin(&o, &obj);
    nitems = 0;

    /* reasoning */

    v = olla_resp_get(msg, "reasoning_content");
    if (!olla_resp_nonempty(v)) {
        v = olla_resp_get(msg, "reasoning");
    }

    if (olla_resp_nonempty(v)) {
        olla_resp_gen_id(item, "rs_");
        olla_jout_lit(&o, "{\"id\":\"");
        olla_jout_add(&o, item, strlen(item));
        olla_jout_lit(&o, "\",\"type\":\"reasoning\",\"summary\":[],"
                          "\"content\":[{\"type\":\"reasoning_text\","
                          "\"text\":");
        olla_jout_string(&o, v);
        olla_jout_lit(&o, "}],\"status\":\"");
        olla_jout_add(&o, obj.status, strlen(obj.status));
        olla_jout_lit(&o, "\"}");
        nitems++;
    }

    /* text: a string, or content parts; then a refusal */

    parts = olla_resp_get(msg, "content");
    refusal = olla_resp_get(msg, "refusal");
    total = 0;

    if (olla_jdom_is_string(parts)) {
        total = parts->len;

    } else if (olla_jdom_is_array(parts)) {
        for (i = 0; i < parts->len; i++) {
            t = olla_resp_part_text(&parts->u.items[i]);
            total += t ? t->len : 0;
        }
    }

    calls = olla_resp_get(msg, "tool_calls");
    n = olla_jdom_is_array(calls) ? calls->len : 0;

    for (i = 0; i < n; i++) {
        if (olla_resp_nonempty(olla_resp_get(olla_resp_get(&calls->u.items[i],
                                                            "function"),
                                              "name")))
        {
            break;
        }
    }

    if (total || olla_resp_nonempty(refusal)
        || (nitems == 0 && i == n
            && !olla_resp_nonempty(olla_resp_get(olla_resp_get(msg,
                                                       "function_call"),
                                                  "name"))))
    {
        if (nitems++) {
            olla_jout_ch(&o, ',');
        }

        olla_resp_gen_id(item, "msg_");
        olla_jout_lit(&o, "{\"id\":\"");
        olla_jout_add(&o, item, strlen(item));
        olla_jout_lit(&o, "\",\"type\":\"message\",\"status\":\"");
        olla_jout_add(&o, obj.status, strlen(obj.status));
        olla_jout_lit(&o, "\",\"content\":[{\"type\":\"output_text\","
                          "\"annotations\":[],\"text\":\"");

        if (olla_jdom_is_string(parts)) {
            olla_jout_string_esc(&o, parts);

        } else if (olla_jdom_is_array(parts)) {
            for (i = 0; i < parts->len; i++) {
                t = olla_resp_part_text(&parts->u.items[i]);

                if (t) {
                    olla_jout_string_esc(&o, t);
                }
            }
        }

        if (olla_resp_nonempty(refusal)) {
            if (total) {
                olla_jout_lit(&o, "\\n");
            }

            olla_jout_string_esc(&o, refusal);
        }

        olla_jout_lit(&o, "\"}],\"role\":\"assistant\"}");
    }

    /* tool calls, and the legacy function_call */

    for (i = 0; i <= n; i++) {
        if (i < n) {
            c = &calls->u.items[i];
            t = olla_resp_get(c, "function");
            v = olla_resp_get(c, "id");

        } else {
            t = olla_resp_get(msg, "function_call");
            v = NULL;
        }

        if (!olla_resp_nonempty(olla_resp_get(t, "name"))) {
            continue;
        }

        if (nitems++) {
            olla_jout_ch(&o, ',');
        }

        if (olla_resp_call_item(&o, t, v, obj.status, &ids) != 0) {
            goto nomem;
        }
    }

    olla_resp_obj_end(&o, &obj);

    if (o.failed || m.failed || ids.failed) {
        goto nomem;
    }

    *out = olla_jout_finish(&o, outlen);

    olla_jout_free(&m);
    olla_jout_free(&ids);
    olla_jdom_free(&doc);

    return 0;

nomem:

    olla_resp_err(err, errlen, "out of memory");

failed:

    olla_jout_free(&o);
    olla_jout_free(&m);
    olla_jout_free(&ids);
    olla_jdom_free(&doc);

    return -1;
}


/* the text of a content part {"type":"text","text":T} (or without type) */

static const olla_jdom_t *
olla_resp_part_text(const olla_jdom_t *part)
{
    const olla_jdom_t  *type, *text;

    if (!olla_jdom_is_object(part)) {
        return NULL;
    }

    type = olla_resp_get(part, "type");

    if (type != NULL && type->type != OLLA_JDOM_NULL
        && !olla_resp_is(type, "text") && !olla_resp_is(type, "output_text"))
    {
        return NULL;
    }

    text = olla_resp_get(part, "text");

    return olla_jdom_is_string(text) ? text : NULL;
}


/*
 * A function_call item.  call_id is the tool call's id, or a made one
 * when there is none or it was used already (the SDK refuses two items
 * with one call_id); ids collects those used, NUL-separated.  Arguments
 * that are not a string are written as their JSON text, none as "{}".
 */

static int
olla_resp_call_item(olla_jout_t *o, const olla_jdom_t *fn,
    const olla_jdom_t *id, const char *status, olla_jout_t *ids)
{
    char                item[OLLA_RESP_ID_MAX], call[OLLA_RESP_ID_MAX];
    size_t              n;
    olla_jout_t         text;
    const char         *cid;
    const olla_jdom_t  *args;

    olla_resp_gen_id(item, "fc_");
    olla_jout_lit(o, "{\"id\":\"");
    olla_jout_add(o, item, strlen(item));
    olla_jout_lit(o, "\",\"type\":\"function_call\",\"status\":\"");
    olla_jout_add(o, status, strlen(status));
    olla_jout_lit(o, "\",\"arguments\":");

    args = olla_resp_get(fn, "arguments");

    if (olla_resp_nonempty(args)) {
        olla_jout_string(o, args);

    } else if (olla_jdom_is_object(args) || olla_jdom_is_array(args)) {
        olla_jout_init(&text, 0);
        olla_jout_value(&text, args);

        if (text.failed) {
            return -1;
        }

        olla_jout_str(o, text.p, text.len);
        olla_jout_free(&text);

    } else {
        olla_jout_lit(o, "\"{}\"");
    }

    olla_jout_lit(o, ",\"call_id\":");

    cid = NULL;
    n = 0;

    if (olla_jdom_is_string(id) && olla_jdom_cstrlen(id)) {
        cid = id->u.str;
        n = olla_jdom_cstrlen(id);
    }

    if (cid == NULL || olla_resp_id_seen(ids, cid, n)) {
        olla_resp_gen_id(call, "call_");
        cid = call;
        n = strlen(call);
    }

    olla_jout_add(ids, cid, n);
    olla_jout_ch(ids, '\0');

    olla_jout_str(o, cid, n);
    olla_jout_lit(o, ",\"name\":");
    olla_jout_str(o, olla_resp_get(fn, "name")->u.str,
                  olla_jdom_cstrlen(olla_resp_get(fn, "name")));
    olla_jout_ch(o, '}');

    return ids->failed ? -1 : 0;
}


static int
olla_resp_id_seen(olla_jout_t *ids, const char *id, size_t n)
{
    size_t       k;
    const char  *p, *end;

    if (ids->len == 0) {
        return 0;
    }

    p = ids->p;
    end = ids->p + ids->len;

    while (p < end) {
        k = strlen(p);

        if (k == n && memcmp(p, id, n) == 0) {
            return 1;
        }

        p += k + 1;
    }

    return 0;
}
