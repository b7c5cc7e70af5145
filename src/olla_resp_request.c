
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Responses API request -> OpenAI chat completion request (olla_resp.h
 * says what is mapped, dropped and refused).  The body is parsed once
 * into an olla_jdom arena and the chat request is written straight into
 * one buffer.  No nginx headers.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLLA_RESP_INTERNAL
#include "olla_resp.h"


#define OLLA_RESP_NAME_MAX  64     /* of a type name quoted in an error */


/* the assistant message being written */
#define OLLA_ASST_NONE      0
#define OLLA_ASST_OPEN      1      /* content written, object open */
#define OLLA_ASST_CALLS     2      /* "tool_calls":[ open */


typedef struct {
    olla_jout_t          out;
    olla_jout_t          tmp;      /* JSON text that becomes a string */
    size_t               nmsgs;
    size_t               chars;    /* of text, for the token estimate */
    int                  asst;
    size_t               run;      /* function_call_output run: first */
    unsigned             run_open:1;
    unsigned             run_images:1;
    char                *err;
    size_t               errlen;
} olla_resp_req_t;


/* what a content part is */
typedef enum {
    OLLA_PART_TEXT = 1,
    OLLA_PART_IMAGE
} olla_resp_part_e;


/* whose content it is */
typedef enum {
    OLLA_ROLE_USER = 1,
    OLLA_ROLE_SYSTEM,
    OLLA_ROLE_ASSISTANT,
    OLLA_ROLE_TOOL
} olla_resp_role_e;


static int olla_resp_request(const char *body, size_t len, unsigned checked,
    char **out, size_t *outlen, olla_resp_info_t *info, char *err,
    size_t errlen);
static int olla_resp_stateless(const olla_jdom_t *root,
    olla_resp_info_t *info, char *err, size_t errlen);
static int olla_resp_check(const olla_jdom_t *root, char *err,
    size_t errlen);
static void olla_resp_msg_begin(olla_resp_req_t *r);
static void olla_resp_asst_close(olla_resp_req_t *r);
static int olla_resp_role(const olla_jdom_t *item, olla_resp_role_e *role);
static int olla_resp_is_message(const olla_jdom_t *item);
static int olla_resp_part(olla_resp_req_t *r, const olla_jdom_t *part,
    size_t i, size_t j, olla_resp_role_e role, const olla_jdom_t **value);
static long olla_resp_text(olla_resp_req_t *r, const olla_jdom_t *content,
    size_t i, olla_resp_role_e role, const char *sep, olla_jout_t *o);
static int olla_resp_system(olla_resp_req_t *r, const olla_jdom_t *root,
    const olla_jdom_t *input, size_t *lead);
static int olla_resp_input(olla_resp_req_t *r, const olla_jdom_t *input,
    size_t from);
static int olla_resp_message(olla_resp_req_t *r, const olla_jdom_t *item,
    size_t i);
static int olla_resp_user(olla_resp_req_t *r, const olla_jdom_t *content,
    size_t i);
static void olla_resp_image(olla_jout_t *o, const olla_jdom_t *part);
static int olla_resp_call(olla_resp_req_t *r, const olla_jdom_t *item,
    size_t i);
static int olla_resp_call_output(olla_resp_req_t *r,
    const olla_jdom_t *item, size_t i);
static void olla_resp_run_end(olla_resp_req_t *r, const olla_jdom_t *input,
    size_t end);
static int olla_resp_tools(olla_resp_req_t *r, const olla_jdom_t *root);
static int olla_resp_tool_choice(olla_resp_req_t *r,
    const olla_jdom_t *tc, int emit);
static int olla_resp_format(olla_resp_req_t *r, const olla_jdom_t *root);
static void olla_resp_effort(olla_resp_req_t *r, const olla_jdom_t *root);
static size_t olla_resp_name(const olla_jdom_t *v);


#define olla_resp_req_err(r, ...)                                            \
    olla_resp_err((r)->err, (r)->errlen, __VA_ARGS__)

#define olla_resp_type_is(b, lit)                                            \
    (olla_jdom_is_object(b) && olla_resp_is(olla_resp_get(b, "type"), lit))


/*
 * What the translator takes as written (olla_jdom_path_t): a function
 * tool's parameters, a json_schema format's schema, passed on whole, their
 * type checked; and where strings may be left escaped (lazy): the texts
 * it writes as the input has them and counts (a string input or content,
 * text and refusal parts, instructions, a call's arguments, a call
 * output, a tool's description).
 */

#define X  OLLA_JDOM_NOKEY

static const olla_jdom_path_t  olla_resp_asis[] = {
    { 0, 0, { X, X, X, X } },
    /* 1: the root */
    { 0, 0, { { 2, 5, "input" }, { 6, 12, "instructions" },
              { 7, 5, "tools" }, { 9, 4, "text" } } },
    /* 2, 3: input, an item */
    { 3, 1, { X, X, X, X } },
    { 0, 0, { { 4, 7, "content" }, { 4, 6, "output" },
              { 6, 9, "arguments" }, X } },
    /* 4, 5: content or output, a part */
    { 5, 1, { X, X, X, X } },
    { 0, 0, { { 6, 4, "text" }, { 6, 7, "refusal" }, X, X } },
    /* 6: a text */
    { 0, 1, { X, X, X, X } },
    /* 7, 8: tools, a tool */
    { 8, 0, { X, X, X, X } },
    { 0, 0, { { OLLA_JDOM_ASIS, 10, "parameters" },
              { 6, 11, "description" }, X, X } },
    /* 9, 10: text, its format */
    { 0, 0, { { 10, 6, "format" }, X, X, X } },
    { 0, 0, { { OLLA_JDOM_ASIS, 6, "schema" }, X, X, X } }
};

#undef X



void
olla_resp_info_free(olla_resp_info_t *info)
{
    if (info == NULL) {
        return;
    }

    free(info->model);
    info->model = NULL;
}


int
olla_resp_request_to_openai(const char *body, size_t len, char **out,
    size_t *outlen, olla_resp_info_t *info, char *err, size_t errlen)
{
    return olla_resp_request(body, len, 0, out, outlen, info, err, errlen);
}


int
olla_resp_request_to_openai_checked(const char *body, size_t len, char **out,
    size_t *outlen, olla_resp_info_t *info, char *err, size_t errlen)
{
    return olla_resp_request(body, len, 1, out, outlen, info, err, errlen);
}


static int
olla_resp_request(const char *body, size_t len, unsigned checked, char **out,
    size_t *outlen, olla_resp_info_t *info, char *err, size_t errlen)
{
    size_t              lead, n;
    char                arena[OLLA_RESP_ARENA];
    olla_jout_t        *o;
    olla_jdom_doc_t     doc;
    olla_resp_req_t     r;
    const olla_jdom_t  *root, *v, *input;

    *out = NULL;

    if (outlen) {
        *outlen = 0;
    }

    if (info) {
        memset(info, 0, sizeof(olla_resp_info_t));
    }

    olla_jdom_init(&doc, arena, sizeof(arena));
    doc.checked = checked;
    doc.paths = olla_resp_asis;
    doc.npaths = sizeof(olla_resp_asis) / sizeof(olla_resp_asis[0]);

    memset(&r, 0, sizeof(olla_resp_req_t));
    r.err = err;
    r.errlen = errlen;
    olla_jout_init(&r.out, len + len / 8 + 512);
    olla_jout_init(&r.tmp, 0);
    o = &r.out;

    root = olla_resp_load(&doc, body, len, "request body", err, errlen);
    if (root == NULL) {
        goto failed;
    }

    if (olla_resp_stateless(root, info, err, errlen) != 0
        || olla_resp_check(root, err, errlen) != 0)
    {
        goto failed;
    }

    /* the output is about as long as the input */
    if (olla_jout_grow(o, len + 256) != 0) {
        goto nomem;
    }

    olla_jout_lit(o, "{\"model\":");
    olla_jout_string(o, olla_resp_get(root, "model"));
    olla_jout_lit(o, ",\"messages\":[");

    input = olla_resp_get(root, "input");

    if (olla_jdom_is_string(input)) {
        if (olla_resp_system(&r, root, NULL, NULL) != 0) {
            goto failed;
        }

        if (input->len) {
            olla_resp_msg_begin(&r);
            olla_jout_lit(o, "{\"role\":\"user\",\"content\":");
            olla_jout_string(o, input);
            olla_jout_ch(o, '}');
            r.chars += input->len;
        }

    } else {
        if (olla_resp_system(&r, root, input, &lead) != 0
            || olla_resp_input(&r, input, lead) != 0)
        {
            goto failed;
        }
    }

    if (r.nmsgs == 0) {
        olla_resp_err(err, errlen,
                      "input must contain at least one message with "
                      "content");
        goto failed;
    }

    olla_jout_ch(o, ']');

    v = olla_resp_optl(root, "max_output_tokens");
    if (v) {
        olla_jout_lit(o, ",\"max_tokens\":");
        olla_jout_value(o, v);
    }

    v = olla_resp_optl(root, "temperature");
    if (v) {
        olla_jout_lit(o, ",\"temperature\":");
        olla_jout_value(o, v);
    }

    v = olla_resp_optl(root, "top_p");
    if (v) {
        olla_jout_lit(o, ",\"top_p\":");
        olla_jout_value(o, v);
    }

    if (olla_jdom_is_true(olla_resp_get(root, "stream"))) {
        olla_jout_lit(o, ",\"stream\":true,"
                         "\"stream_options\":{\"include_usage\":true}");

    } else {
        olla_jout_lit(o, ",\"stream\":false");
    }

    if (olla_resp_tools(&r, root) != 0
        || olla_resp_format(&r, root) != 0)
    {
        goto failed;
    }

    olla_resp_effort(&r, root);

    v = olla_resp_optl(root, "user");
    if (olla_resp_nonempty(v)) {
        olla_jout_lit(o, ",\"user\":");
        olla_jout_string(o, v);
    }

    olla_jout_ch(o, '}');

    if (o->failed || r.tmp.failed) {
        goto nomem;
    }

    if (info) {
        v = olla_resp_get(root, "model");

        info->model = olla_resp_strndup(v->u.str, v->len);
        if (info->model == NULL) {
            goto nomem;
        }

        info->stream = olla_jdom_is_true(olla_resp_get(root, "stream"));

        n = r.chars / 4;
        info->input_tokens = n < 1 ? 1
                             : n > 0x7fffffff ? 0x7fffffffL : (long) n;
    }

    *out = olla_jout_finish(o, outlen);

    olla_jout_free(&r.tmp);
    olla_jdom_free(&doc);

    return 0;

nomem:

    olla_resp_err(err, errlen, "out of memory");

failed:

    olla_jout_free(&r.out);
    olla_jout_free(&r.tmp);
    olla_jdom_free(&doc);

    return -1;
}


/*
 * previous_response_id and conversation name state the backend does not
 * have; so do background responses and stored prompt templates.
 */

static int
olla_resp_stateless(const olla_jdom_t *root, olla_resp_info_t *info,
    char *err, size_t errlen)
{
    int                 prev, conv;
    const olla_jdom_t  *v;

    v = olla_resp_optl(root, "previous_response_id");
    prev = v != NULL && !(olla_jdom_is_string(v) && v->len == 0);

    v = olla_resp_optl(root, "conversation");
    conv = v != NULL && !(olla_jdom_is_string(v) && v->len == 0);

    if (info) {
        info->previous_response_id = prev;
        info->conversation = conv;
    }

    if (prev || conv) {
        olla_resp_err(err, errlen,
                      "%s is not supported: the backend behind this "
                      "gateway speaks chat completions and is stateless, "
                      "so it keeps no responses; send the whole "
                      "conversation in input (with \"store\": false)",
                      prev ? "previous_response_id" : "conversation");
        return -1;
    }

    v = olla_resp_optl(root, "background");
    if (v != NULL && !olla_jdom_is_boolean(v)) {
        olla_resp_err(err, errlen, "background must be a boolean");
        return -1;
    }

    if (olla_jdom_is_true(v)) {
        olla_resp_err(err, errlen,
                      "background is not supported: the backend behind "
                      "this gateway is stateless and keeps no responses "
                      "to poll");
        return -1;
    }

    if (olla_resp_optl(root, "prompt") != NULL) {
        olla_resp_err(err, errlen,
                      "prompt is not supported: prompt templates are "
                      "stored by OpenAI, and the backend behind this "
                      "gateway has none; send instructions and input");
        return -1;
    }

    return 0;
}


static int
olla_resp_check(const olla_jdom_t *root, char *err, size_t errlen)
{
    size_t              i;
    double              d;
    const olla_jdom_t  *v;

    v = olla_resp_get(root, "model");
    if (!olla_resp_nonempty(v)) {
        olla_resp_err(err, errlen, "model must be a non-empty string");
        return -1;
    }

    for (i = 0; i < v->len; i++) {
        if ((unsigned char) v->u.str[i] < 0x20 || v->u.str[i] == 0x7f) {
            olla_resp_err(err, errlen,
                          "model must not contain control characters");
            return -1;
        }
    }

    v = olla_resp_get(root, "input");
    if (!olla_jdom_is_string(v) && !olla_jdom_is_array(v)) {
        olla_resp_err(err, errlen,
                      "input must be a string or an array of input items");
        return -1;
    }

    v = olla_resp_optl(root, "instructions");
    if (v != NULL && !olla_jdom_is_string(v)) {
        olla_resp_err(err, errlen, "instructions must be a string");
        return -1;
    }

    v = olla_resp_optl(root, "max_output_tokens");
    if (v != NULL && (!olla_jdom_is_integer(v) || olla_jdom_int(v) < 1)) {
        olla_resp_err(err, errlen,
                      "max_output_tokens must be an integer >= 1");
        return -1;
    }

    v = olla_resp_optl(root, "temperature");
    if (v != NULL) {
        d = olla_jdom_double(v);

        if (!olla_jdom_is_number(v) || d < 0 || d > 2) {
            olla_resp_err(err, errlen,
                          "temperature must be a number between 0 and 2");
            return -1;
        }
    }

    v = olla_resp_optl(root, "top_p");
    if (v != NULL) {
        d = olla_jdom_double(v);

        if (!olla_jdom_is_number(v) || d < 0 || d > 1) {
            olla_resp_err(err, errlen,
                          "top_p must be a number between 0 and 1");
            return -1;
        }
    }

    v = olla_resp_optl(root, "stream");
    if (v != NULL && !olla_jdom_is_boolean(v)) {
        olla_resp_err(err, errlen, "stream must be a boolean");
        return -1;
    }

    v = olla_resp_optl(root, "parallel_tool_calls");
    if (v != NULL && !olla_jdom_is_boolean(v)) {
        olla_resp_err(err, errlen, "parallel_tool_calls must be a boolean");
        return -1;
    }

    v = olla_resp_optl(root, "user");
    if (v != NULL && !olla_jdom_is_string(v)) {
        olla_resp_err(err, errlen, "user must be a string");
        return -1;
    }

    v = olla_resp_optl(root, "reasoning");
    if (v != NULL && !olla_jdom_is_object(v)) {
        olla_resp_err(err, errlen, "reasoning must be an object");
        return -1;
    }

    v = olla_resp_optl(v, "effort");
    if (v != NULL && !olla_jdom_is_string(v)) {
        olla_resp_err(err, errlen, "reasoning.effort must be a string");
        return -1;
    }

    return 0;
}


/* bytes of a type name to quote in an error (the rest is cut) */

static size_t
olla_resp_name(const olla_jdom_t *v)
{
    size_t  n;

    n = olla_jdom_cstrlen(v);

    return n > OLLA_RESP_NAME_MAX ? OLLA_RESP_NAME_MAX : n;
}


static void
olla_resp_msg_begin(olla_resp_req_t *r)
{
    if (r->nmsgs++) {
        olla_jout_ch(&r->out, ',');
    }
}


static void
olla_resp_asst_close(olla_resp_req_t *r)
{
    if (r->asst == OLLA_ASST_CALLS) {
        olla_jout_lit(&r->out, "]}");

    } else if (r->asst == OLLA_ASST_OPEN) {
        olla_jout_ch(&r->out, '}');
    }

    r->asst = OLLA_ASST_NONE;
}


/* an input item that is a message: "type" "message", or none and a role */

static int
olla_resp_is_message(const olla_jdom_t *item)
{
    const olla_jdom_t  *type;

    if (!olla_jdom_is_object(item)) {
        return 0;
    }

    type = olla_resp_optl(item, "type");

    if (type == NULL) {
        return olla_resp_optl(item, "role") != NULL;
    }

    return olla_resp_is(type, "message");
}


static int
olla_resp_role(const olla_jdom_t *item, olla_resp_role_e *role)
{
    const olla_jdom_t  *v;

    v = olla_resp_get(item, "role");

    if (olla_resp_is(v, "user")) {
        *role = OLLA_ROLE_USER;

    } else if (olla_resp_is(v, "assistant")) {
        *role = OLLA_ROLE_ASSISTANT;

    } else if (olla_resp_is(v, "system") || olla_resp_is(v, "developer")) {
        *role = OLLA_ROLE_SYSTEM;

    } else {
        return -1;
    }

    return 0;
}


/*
 * One content part of input[i] (j: its index, or -1 for a function call
 * output's part): its kind, and in *value its text or the part itself
 * for an image.  Returns the kind, 0 for a part to skip, -1 + err.
 */

static int
olla_resp_part(olla_resp_req_t *r, const olla_jdom_t *part, size_t i,
    size_t j, olla_resp_role_e role, const olla_jdom_t **value)
{
    char                where[64];
    const olla_jdom_t  *type, *v;

    if (role == OLLA_ROLE_TOOL) {
        snprintf(where, sizeof(where), "input[%zu].output[%zu]", i, j);

    } else {
        snprintf(where, sizeof(where), "input[%zu].content[%zu]", i, j);
    }

    if (!olla_jdom_is_object(part)) {
        olla_resp_req_err(r, "%s must be an object", where);
        return -1;
    }

    type = olla_resp_get(part, "type");

    if (olla_resp_is(type, "input_text") || olla_resp_is(type, "output_text")
        || olla_resp_is(type, "text") || olla_resp_is(type, "refusal"))
    {
        v = olla_resp_is(type, "refusal") ? olla_resp_get(part, "refusal")
                                          : olla_resp_get(part, "text");

        if (!olla_jdom_is_string(v)) {
            olla_resp_req_err(r, "%s.%s must be a string", where,
                              olla_resp_is(type, "refusal") ? "refusal"
                                                            : "text");
            return -1;
        }

        *value = v;

        return v->len ? OLLA_PART_TEXT : 0;
    }

    if (olla_resp_is(type, "input_image")) {
        if (role == OLLA_ROLE_SYSTEM || role == OLLA_ROLE_ASSISTANT) {
            olla_resp_req_err(r, "%s: images are only supported in user "
                              "messages and function call outputs", where);
            return -1;
        }

        v = olla_resp_optl(part, "image_url");

        if (!olla_resp_nonempty(v)) {
            olla_resp_req_err(r, "%s: input_image needs an image_url (a "
                              "file_id names a file stored by OpenAI, which "
                              "the backend does not have)", where);
            return -1;
        }

        *value = part;

        return OLLA_PART_IMAGE;
    }

    if (!olla_jdom_is_string(type)) {
        olla_resp_req_err(r, "%s.type must be a string", where);
        return -1;
    }

    olla_resp_req_err(r, "%s: content parts of type \"%.*s\" are not "
                      "supported by a chat-completions backend", where,
                      (int) olla_resp_name(type), type->u.str);

    return -1;
}


/*
 * The text of a content (a string, or parts) joined with sep, written
 * escaped into o, or only measured when o is NULL.  Returns the bytes of
 * text (unescaped, separators included), or -1 + err.
 */

static long
olla_resp_text(olla_resp_req_t *r, const olla_jdom_t *content, size_t i,
    olla_resp_role_e role, const char *sep, olla_jout_t *o)
{
    int                 kind;
    size_t              j, n, slen;
    const olla_jdom_t  *v;

    if (olla_jdom_is_string(content)) {
        if (o) {
            olla_jout_string_esc(o, content);
        }

        return (long) content->len;
    }

    if (!olla_jdom_is_array(content)) {
        olla_resp_req_err(r, "input[%zu].content must be a string or an "
                          "array of content parts", i);
        return -1;
    }

    n = 0;
    slen = strlen(sep);

    for (j = 0; j < content->len; j++) {
        kind = olla_resp_part(r, &content->u.items[j], i, j, role, &v);

        if (kind < 0) {
            return -1;
        }

        if (kind != OLLA_PART_TEXT) {
            continue;
        }

        if (n) {
            n += slen;

            if (o) {
                olla_jout_esc(o, sep, slen);
            }
        }

        if (o) {
            olla_jout_string_esc(o, v);
        }

        n += v->len;
    }

    return n > 0x7fffffffL ? 0x7fffffffL : (long) n;
}


/*
 * The first message: instructions and the system/developer messages that
 * open the input (reasoning items among them skipped), joined with a
 * blank line.  *lead gets the index of the first item after them.
 */

static int
olla_resp_system(olla_resp_req_t *r, const olla_jdom_t *root,
    const olla_jdom_t *input, size_t *lead)
{
    long                 k;
    size_t               i, n, joined;
    olla_jout_t         *o;
    olla_resp_role_e     role;
    const olla_jdom_t   *ins, *item;

    o = &r->out;
    joined = 0;
    n = 0;

    ins = olla_resp_optl(root, "instructions");

    if (input) {
        for (n = 0; n < input->len; n++) {
            item = &input->u.items[n];

            if (olla_resp_type_is(item, "reasoning")) {
                continue;
            }

            if (!olla_resp_is_message(item)
                || olla_resp_role(item, &role) != 0
                || role != OLLA_ROLE_SYSTEM)
            {
                break;
            }
        }

        *lead = n;
    }

    if (ins != NULL && ins->len) {
        olla_resp_msg_begin(r);
        olla_jout_lit(o, "{\"role\":\"system\",\"content\":\"");
        olla_jout_string_esc(o, ins);
        r->chars += ins->len;
        joined++;
    }

    for (i = 0; i < n; i++) {
        item = &input->u.items[i];

        if (olla_resp_type_is(item, "reasoning")) {
            continue;
        }

        k = olla_resp_text(r, olla_resp_get(item, "content"), i,
                           OLLA_ROLE_SYSTEM, "\n", NULL);
        if (k < 0) {
            return -1;
        }

        if (k == 0) {
            continue;
        }

        if (joined++) {
            olla_jout_lit(o, "\\n\\n");

        } else {
            olla_resp_msg_begin(r);
            olla_jout_lit(o, "{\"role\":\"system\",\"content\":\"");
        }

        (void) olla_resp_text(r, olla_resp_get(item, "content"), i,
                              OLLA_ROLE_SYSTEM, "\n", o);
        r->chars += (size_t) k;
    }

    if (joined) {
        olla_jout_lit(o, "\"}");
    }

    return 0;
}


static int
olla_resp_input(olla_resp_req_t *r, const olla_jdom_t *input, size_t from)
{
    size_t              i;
    const olla_jdom_t  *item, *type;

    for (i = from; i < input->len; i++) {
        item = &input->u.items[i];

        if (!olla_jdom_is_object(item)) {
            olla_resp_req_err(r, "input[%zu] must be an object", i);
            return -1;
        }

        if (olla_resp_type_is(item, "reasoning")) {
            /* a chat backend cannot take reasoning back */
            continue;
        }

        if (r->run_open && !olla_resp_type_is(item, "function_call_output")) {
            olla_resp_run_end(r, input, i);
        }

        if (olla_resp_is_message(item)) {
            if (olla_resp_message(r, item, i) != 0) {
                return -1;
            }

            continue;
        }

        if (olla_resp_type_is(item, "function_call")) {
            if (olla_resp_call(r, item, i) != 0) {
                return -1;
            }

            continue;
        }

        if (olla_resp_type_is(item, "function_call_output")) {
            if (!r->run_open) {
                r->run_open = 1;
                r->run = i;
            }

            if (olla_resp_call_output(r, item, i) != 0) {
                return -1;
            }

            continue;
        }

        type = olla_resp_optl(item, "type");

        if (!olla_jdom_is_string(type)) {
            olla_resp_req_err(r, "input[%zu] must have a type (or a role)",
                              i);
            return -1;
        }

        if (olla_resp_is(type, "item_reference")) {
            olla_resp_req_err(r, "input[%zu]: item_reference is not "
                              "supported: the backend behind this gateway "
                              "is stateless and keeps no items; send the "
                              "items themselves", i);
            return -1;
        }

        olla_resp_req_err(r, "input[%zu]: items of type \"%.*s\" are not "
                          "supported by a chat-completions backend", i,
                          (int) olla_resp_name(type), type->u.str);
        return -1;
    }

    olla_resp_asst_close(r);

    if (r->run_open) {
        olla_resp_run_end(r, input, input->len);
    }

    return 0;
}


static int
olla_resp_message(olla_resp_req_t *r, const olla_jdom_t *item, size_t i)
{
    long                k;
    olla_jout_t        *o;
    olla_resp_role_e    role;
    const olla_jdom_t  *content;

    o = &r->out;

    if (olla_resp_role(item, &role) != 0) {
        olla_resp_req_err(r, "input[%zu].role must be \"user\", "
                          "\"assistant\", \"system\" or \"developer\"", i);
        return -1;
    }

    content = olla_resp_get(item, "content");

    if (role == OLLA_ROLE_USER) {
        olla_resp_asst_close(r);
        return olla_resp_user(r, content, i);
    }

    k = olla_resp_text(r, content, i, role, role == OLLA_ROLE_SYSTEM ? "\n"
                                                                     : "",
                       NULL);
    if (k < 0) {
        return -1;
    }

    olla_resp_asst_close(r);

    if (k == 0) {
        return 0;
    }

    r->chars += (size_t) k;

    olla_resp_msg_begin(r);

    if (role == OLLA_ROLE_SYSTEM) {
        olla_jout_lit(o, "{\"role\":\"system\",\"content\":\"");
        (void) olla_resp_text(r, content, i, role, "\n", o);
        olla_jout_lit(o, "\"}");
        return 0;
    }

    /* left open: function calls that follow join it */

    olla_jout_lit(o, "{\"role\":\"assistant\",\"content\":\"");
    (void) olla_resp_text(r, content, i, role, "", o);
    olla_jout_ch(o, '"');

    r->asst = OLLA_ASST_OPEN;

    return 0;
}


/*
 * A user message: one text alone is a plain string, anything else
 * content parts (text and image_url); nothing at all, no message.
 */

static int
olla_resp_user(olla_resp_req_t *r, const olla_jdom_t *content, size_t i)
{
    int                 kind;
    size_t              j, ntext, nimg, n;
    olla_jout_t        *o;
    const olla_jdom_t  *v, *text;

    o = &r->out;

    if (olla_jdom_is_string(content)) {
        if (content->len == 0) {
            return 0;
        }

        olla_resp_msg_begin(r);
        olla_jout_lit(o, "{\"role\":\"user\",\"content\":");
        olla_jout_string(o, content);
        olla_jout_ch(o, '}');
        r->chars += content->len;

        return 0;
    }

    if (!olla_jdom_is_array(content)) {
        olla_resp_req_err(r, "input[%zu].content must be a string or an "
                          "array of content parts", i);
        return -1;
    }

    ntext = 0;
    nimg = 0;
    text = NULL;

    for (j = 0; j < content->len; j++) {
        kind = olla_resp_part(r, &content->u.items[j], i, j, OLLA_ROLE_USER,
                              &v);
        if (kind < 0) {
            return -1;
        }

        if (kind == OLLA_PART_TEXT) {
            text = v;
            ntext++;
            r->chars += v->len;

        } else if (kind == OLLA_PART_IMAGE) {
            nimg++;
        }
    }

    if (ntext + nimg == 0) {
        return 0;
    }

    olla_resp_msg_begin(r);
    olla_jout_lit(o, "{\"role\":\"user\",\"content\":");

    if (ntext == 1 && nimg == 0) {
        olla_jout_string(o, text);
        olla_jout_ch(o, '}');
        return 0;
    }

    olla_jout_ch(o, '[');
    n = 0;

    for (j = 0; j < content->len; j++) {
        kind = olla_resp_part(r, &content->u.items[j], i, j, OLLA_ROLE_USER,
                              &v);
        if (kind <= 0) {
            continue;
        }

        if (n++) {
            olla_jout_ch(o, ',');
        }

        if (kind == OLLA_PART_TEXT) {
            olla_jout_lit(o, "{\"type\":\"text\",\"text\":");
            olla_jout_string(o, v);
            olla_jout_ch(o, '}');

        } else {
            olla_resp_image(o, v);
        }
    }

    olla_jout_lit(o, "]}");

    return 0;
}


/* an input_image part with an image_url -> a chat image_url part */

static void
olla_resp_image(olla_jout_t *o, const olla_jdom_t *part)
{
    const olla_jdom_t  *d;

    olla_jout_lit(o, "{\"type\":\"image_url\",\"image_url\":{\"url\":");
    olla_jout_string(o, olla_resp_get(part, "image_url"));

    d = olla_resp_get(part, "detail");

    if (olla_resp_is(d, "low") || olla_resp_is(d, "high")
        || olla_resp_is(d, "auto"))
    {
        olla_jout_lit(o, ",\"detail\":");
        olla_jout_string(o, d);
    }

    olla_jout_lit(o, "}}");
}


/*
 * function_call -> an entry of the open assistant message's tool_calls:
 * consecutive calls, and the assistant message just before them, make
 * one assistant message.
 */

static int
olla_resp_call(olla_resp_req_t *r, const olla_jdom_t *item, size_t i)
{
    olla_jout_t        *o;
    const olla_jdom_t  *id, *name, *args;

    o = &r->out;

    id = olla_resp_get(item, "call_id");
    if (!olla_resp_nonempty(id)) {
        olla_resp_req_err(r, "input[%zu].call_id must be a non-empty string",
                          i);
        return -1;
    }

    name = olla_resp_get(item, "name");
    if (!olla_resp_nonempty(name)) {
        olla_resp_req_err(r, "input[%zu].name must be a non-empty string",
                          i);
        return -1;
    }

    args = olla_resp_optl(item, "arguments");
    if (args != NULL && !olla_jdom_is_string(args)
        && !olla_jdom_is_object(args))
    {
        olla_resp_req_err(r, "input[%zu].arguments must be a string", i);
        return -1;
    }

    switch (r->asst) {

    case OLLA_ASST_NONE:
        olla_resp_msg_begin(r);
        olla_jout_lit(o, "{\"role\":\"assistant\",\"content\":null,"
                         "\"tool_calls\":[");
        break;

    case OLLA_ASST_OPEN:
        olla_jout_lit(o, ",\"tool_calls\":[");
        break;

    default:
        olla_jout_ch(o, ',');
    }

    r->asst = OLLA_ASST_CALLS;

    olla_jout_lit(o, "{\"id\":");
    olla_jout_string(o, id);
    olla_jout_lit(o, ",\"type\":\"function\",\"function\":{\"name\":");
    olla_jout_string(o, name);
    olla_jout_lit(o, ",\"arguments\":");

    r->chars += name->len;

    if (args == NULL || (olla_jdom_is_string(args) && args->len == 0)) {
        /* templates parse the arguments: "" is not JSON */
        olla_jout_lit(o, "\"{}\"");

    } else if (olla_jdom_is_string(args)) {
        olla_jout_string(o, args);
        r->chars += args->len;

    } else {
        r->tmp.len = 0;
        olla_jout_value(&r->tmp, args);
        olla_jout_str(o, r->tmp.p, r->tmp.len);
        r->chars += r->tmp.len;
    }

    olla_jout_lit(o, "}}");

    return 0;
}


/*
 * function_call_output -> {"role":"tool","tool_call_id":...,"content":T}:
 * a string output as it is, parts as their texts joined with "\n".
 * Images wait for the end of the run of tool messages.
 */

static int
olla_resp_call_output(olla_resp_req_t *r, const olla_jdom_t *item,
    size_t i)
{
    int                 kind;
    size_t              j, n;
    olla_jout_t        *o;
    const olla_jdom_t  *id, *out, *v;

    o = &r->out;

    olla_resp_asst_close(r);

    id = olla_resp_get(item, "call_id");
    if (!olla_resp_nonempty(id)) {
        olla_resp_req_err(r, "input[%zu].call_id must be a non-empty string",
                          i);
        return -1;
    }

    out = olla_resp_get(item, "output");

    if (!olla_jdom_is_string(out) && !olla_jdom_is_array(out)) {
        olla_resp_req_err(r, "input[%zu].output must be a string or an "
                          "array of content parts", i);
        return -1;
    }

    olla_resp_msg_begin(r);
    olla_jout_lit(o, "{\"role\":\"tool\",\"tool_call_id\":");
    olla_jout_string(o, id);
    olla_jout_lit(o, ",\"content\":\"");

    if (olla_jdom_is_string(out)) {
        olla_jout_string_esc(o, out);
        r->chars += out->len;
        olla_jout_lit(o, "\"}");
        return 0;
    }

    n = 0;

    for (j = 0; j < out->len; j++) {
        kind = olla_resp_part(r, &out->u.items[j], i, j, OLLA_ROLE_TOOL, &v);

        if (kind < 0) {
            return -1;
        }

        if (kind == OLLA_PART_IMAGE) {
            r->run_images = 1;
            continue;
        }

        if (kind != OLLA_PART_TEXT) {
            continue;
        }

        if (n++) {
            olla_jout_lit(o, "\\n");
        }

        olla_jout_string_esc(o, v);
        r->chars += v->len;
    }

    olla_jout_lit(o, "\"}");

    return 0;
}


/*
 * The end of a run of function_call_output items (input[run..end)): the
 * images they returned go in one user message, each call's introduced
 * by a line that names it.  (Parts were checked when the run was read.)
 */

static void
olla_resp_run_end(olla_resp_req_t *r, const olla_jdom_t *input, size_t end)
{
    size_t              i, j, n;
    olla_jout_t        *o;
    const olla_jdom_t  *item, *out, *part, *first;

    r->run_open = 0;

    if (!r->run_images) {
        return;
    }

    r->run_images = 0;
    o = &r->out;

    olla_resp_msg_begin(r);
    olla_jout_lit(o, "{\"role\":\"user\",\"content\":[");
    n = 0;

    for (i = r->run; i < end; i++) {
        item = &input->u.items[i];

        if (!olla_resp_type_is(item, "function_call_output")) {
            continue;
        }

        out = olla_resp_get(item, "output");

        if (!olla_jdom_is_array(out)) {
            continue;
        }

        first = NULL;

        for (j = 0; j < out->len; j++) {
            part = &out->u.items[j];

            if (!olla_resp_type_is(part, "input_image")) {
                continue;
            }

            if (first == NULL) {
                first = part;

                if (n++) {
                    olla_jout_ch(o, ',');
                }

                olla_jout_lit(o, "{\"type\":\"text\",\"text\":\"The tool "
                                 "call ");
                olla_jout_string_esc(o, olla_resp_get(item, "call_id"));
                olla_jout_lit(o, " returned this image:\"}");
            }

            olla_jout_ch(o, ',');
            olla_resp_image(o, part);
        }
    }

    olla_jout_lit(o, "]}");
}


/*
 * tools -> chat function tools.  Dropped: web_search (a hosted tool Codex
 * adds by default) and namespace groups (Codex puts its multi-agent tools
 * in one; a call of a chat reply cannot say which namespace it belongs
 * to, and Codex finds a namespaced tool by both).  Any other kind is
 * refused.  tool_choice and parallel_tool_calls go along only when some
 * tool does.
 */

static int
olla_resp_tools(olla_resp_req_t *r, const olla_jdom_t *root)
{
    size_t              i, k, before;
    olla_jout_t        *o;
    const olla_jdom_t  *tools, *t, *v, *type;

    o = &r->out;

    tools = olla_resp_optl(root, "tools");

    if (tools != NULL && !olla_jdom_is_array(tools)) {
        olla_resp_req_err(r, "tools must be an array");
        return -1;
    }

    k = 0;

    for (i = 0; tools != NULL && i < tools->len; i++) {
        t = &tools->u.items[i];

        if (!olla_jdom_is_object(t)) {
            olla_resp_req_err(r, "tools[%zu] must be an object", i);
            return -1;
        }

        type = olla_resp_get(t, "type");

        if (!olla_jdom_is_string(type)) {
            olla_resp_req_err(r, "tools[%zu].type must be a string", i);
            return -1;
        }

        if ((olla_jdom_cstrlen(type) >= 10
             && memcmp(type->u.str, "web_search", 10) == 0)
            || olla_resp_is(type, "namespace"))
        {
            continue;
        }

        if (!olla_resp_is(type, "function")) {
            olla_resp_req_err(r, "tools[%zu]: tools of type \"%.*s\" are "
                              "not supported: the backend behind this "
                              "gateway runs function tools only", i,
                              (int) olla_resp_name(type), type->u.str);
            return -1;
        }

        v = olla_resp_get(t, "name");
        if (!olla_resp_nonempty(v)) {
            olla_resp_req_err(r, "tools[%zu].name must be a non-empty string",
                              i);
            return -1;
        }

        if (k++) {
            olla_jout_ch(o, ',');

        } else {
            olla_jout_lit(o, ",\"tools\":[");
        }

        olla_jout_lit(o, "{\"type\":\"function\",\"function\":{\"name\":");
        olla_jout_string(o, v);
        r->chars += v->len;

        v = olla_resp_optl(t, "description");

        if (olla_jdom_is_string(v)) {
            olla_jout_lit(o, ",\"description\":");
            olla_jout_string(o, v);
            r->chars += v->len;

        } else if (v != NULL) {
            olla_resp_req_err(r, "tools[%zu].description must be a string",
                              i);
            return -1;
        }

        olla_jout_lit(o, ",\"parameters\":");

        v = olla_resp_optl(t, "parameters");
        before = o->len;

        if (olla_jdom_is_object(v)) {
            olla_jout_text(o, v);

        } else if (v == NULL) {
            olla_jout_lit(o, "{\"type\":\"object\",\"properties\":{}}");

        } else {
            olla_resp_req_err(r, "tools[%zu].parameters must be an object",
                              i);
            return -1;
        }

        r->chars += o->len - before;

        v = olla_resp_optl(t, "strict");

        if (olla_jdom_is_boolean(v)) {
            olla_jout_lit(o, ",\"strict\":");
            olla_jout_value(o, v);

        } else if (v != NULL) {
            olla_resp_req_err(r, "tools[%zu].strict must be a boolean", i);
            return -1;
        }

        olla_jout_lit(o, "}}");
    }

    v = olla_resp_optl(root, "tool_choice");

    if (k == 0) {
        /* checked all the same */
        return olla_resp_tool_choice(r, v, 0);
    }

    olla_jout_ch(o, ']');

    if (olla_resp_tool_choice(r, v, 1) != 0) {
        return -1;
    }

    v = olla_resp_optl(root, "parallel_tool_calls");

    if (v != NULL) {
        olla_jout_lit(o, ",\"parallel_tool_calls\":");
        olla_jout_value(o, v);
    }

    return 0;
}


/* tool_choice, checked, and written when emit is set */

static int
olla_resp_tool_choice(olla_resp_req_t *r, const olla_jdom_t *tc, int emit)
{
    olla_jout_t        *o;
    const olla_jdom_t  *type, *name;

    if (tc == NULL) {
        return 0;
    }

    o = &r->tmp;
    o->len = 0;

    if (olla_resp_is(tc, "auto") || olla_resp_is(tc, "none")
        || olla_resp_is(tc, "required"))
    {
        olla_jout_string(o, tc);

    } else if (olla_jdom_is_object(tc)) {
        type = olla_resp_get(tc, "type");

        if (!olla_resp_is(type, "function")) {
            if (!olla_jdom_is_string(type)) {
                olla_resp_req_err(r, "tool_choice.type must be a string");

            } else {
                olla_resp_req_err(r, "tool_choice of type \"%.*s\" is not "
                                  "supported: the backend behind this "
                                  "gateway runs function tools only",
                                  (int) olla_resp_name(type), type->u.str);
            }

            return -1;
        }

        name = olla_resp_get(tc, "name");

        if (!olla_resp_nonempty(name)) {
            olla_resp_req_err(r, "tool_choice of type \"function\" requires "
                              "a name");
            return -1;
        }

        olla_jout_lit(o, "{\"type\":\"function\",\"function\":{\"name\":");
        olla_jout_string(o, name);
        olla_jout_lit(o, "}}");

    } else {
        olla_resp_req_err(r, "tool_choice must be \"auto\", \"none\", "
                          "\"required\" or {\"type\":\"function\","
                          "\"name\":...}");
        return -1;
    }

    if (emit && !o->failed) {
        olla_jout_lit(&r->out, ",\"tool_choice\":");
        olla_jout_add(&r->out, o->p, o->len);
    }

    return 0;
}


/* text.format -> response_format */

static int
olla_resp_format(olla_resp_req_t *r, const olla_jdom_t *root)
{
    olla_jout_t        *o;
    const olla_jdom_t  *text, *f, *type, *v;

    o = &r->out;

    text = olla_resp_optl(root, "text");

    if (text == NULL) {
        return 0;
    }

    if (!olla_jdom_is_object(text)) {
        olla_resp_req_err(r, "text must be an object");
        return -1;
    }

    f = olla_resp_optl(text, "format");

    if (f == NULL) {
        return 0;
    }

    if (!olla_jdom_is_object(f)) {
        olla_resp_req_err(r, "text.format must be an object");
        return -1;
    }

    type = olla_resp_get(f, "type");

    if (olla_resp_is(type, "text")) {
        return 0;
    }

    if (olla_resp_is(type, "json_object")) {
        olla_jout_lit(o, ",\"response_format\":{\"type\":\"json_object\"}");
        return 0;
    }

    if (!olla_resp_is(type, "json_schema")) {
        olla_resp_req_err(r, "text.format.type must be \"text\", "
                          "\"json_object\" or \"json_schema\"");
        return -1;
    }

    v = olla_resp_get(f, "schema");

    if (!olla_jdom_is_object(v)) {
        olla_resp_req_err(r, "text.format.schema must be an object");
        return -1;
    }

    olla_jout_lit(o, ",\"response_format\":{\"type\":\"json_schema\","
                     "\"json_schema\":{\"name\":");

    v = olla_resp_optl(f, "name");

    if (olla_resp_nonempty(v)) {
        olla_jout_string(o, v);

    } else if (v == NULL) {
        olla_jout_lit(o, "\"response\"");

    } else {
        olla_resp_req_err(r, "text.format.name must be a non-empty string");
        return -1;
    }

    v = olla_resp_optl(f, "description");

    if (olla_jdom_is_string(v)) {
        olla_jout_lit(o, ",\"description\":");
        olla_jout_string(o, v);

    } else if (v != NULL) {
        olla_resp_req_err(r, "text.format.description must be a string");
        return -1;
    }

    olla_jout_lit(o, ",\"schema\":");
    olla_jout_text(o, olla_resp_get(f, "schema"));

    v = olla_resp_optl(f, "strict");

    if (olla_jdom_is_boolean(v)) {
        olla_jout_lit(o, ",\"strict\":");
        olla_jout_value(o, v);

    } else if (v != NULL) {
        olla_resp_req_err(r, "text.format.strict must be a boolean");
        return -1;
    }

    olla_jout_lit(o, "}}");

    return 0;
}


/*
 * reasoning.effort -> reasoning_effort, in the values chat servers take
 * (vLLM checks them): low, medium, high; minimal is low, xhigh is high;
 * none and anything else ask for nothing.
 */

static void
olla_resp_effort(olla_resp_req_t *r, const olla_jdom_t *root)
{
    const char         *e;
    const olla_jdom_t  *v;

    v = olla_resp_optl(olla_resp_optl(root, "reasoning"), "effort");

    if (olla_resp_is(v, "low") || olla_resp_is(v, "minimal")) {
        e = "low";

    } else if (olla_resp_is(v, "medium")) {
        e = "medium";

    } else if (olla_resp_is(v, "high") || olla_resp_is(v, "xhigh")) {
        e = "high";

    } else {
        return;
    }

    olla_jout_lit(&r->out, ",\"reasoning_effort\":\"");
    olla_jout_add(&r->out, e, strlen(e));
    olla_jout_ch(&r->out, '"');
}
