
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Anthropic Messages request -> OpenAI chat completion request (SPEC 5,
 * reference/olla-anthropic.md 3.2), the checks of a request, and the
 * count_tokens estimate.
 *
 * Where this differs from Olla, on purpose: images become image_url
 * parts; {"type":"none"} is "none"; stream_options.include_usage is asked
 * for; system blocks and assistant texts are joined with "\n"; several
 * user text blocks stay separate content parts; tool_result blocks become
 * their texts; tool input absent -> "{}"; a tool without input_schema
 * gets an empty object schema; Anthropic server tools (a "type" other
 * than "custom") and Claude Code's "x-anthropic-billing-header" system
 * block are left out; disable_parallel_tool_use -> parallel_tool_calls
 * false; metadata.user_id -> user; null optional fields count as absent.
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "olla_anth_int.h"


#define OLLA_ANTH_BILLING      "x-anthropic-billing-header:"

/* the longest text of an integer from 0 to 2^63-1: "9223372036854775807" */
#define OLLA_ANTH_INT_TEXT     19


/* a request being translated */
typedef struct {
    olla_jout_t   out;
    olla_jout_t   tmp;            /* JSON text that becomes a string */
    size_t        nmsgs;
    char         *err;
    size_t        errlen;
} olla_anth_req_t;


static int olla_anth_count(const char *body, size_t len, unsigned checked,
    long *tokens, char *err, size_t errlen);
static int olla_anth_request(const char *body, size_t len, unsigned checked,
    char **out, size_t *outlen, olla_anth_info_t *info, char *err,
    size_t errlen);
static int olla_anth_prefix_ci(const char *s, size_t n, const char *prefix);
static int olla_anth_type_is(const olla_jdom_t *b, const char *s, size_t n);
static size_t olla_anth_esc_len(const olla_jdom_t *v);
static size_t olla_anth_real_len(double d);
static size_t olla_anth_dump_len(const olla_jdom_t *v);
static size_t olla_anth_opaque_len(const olla_jdom_t *v);
static size_t olla_anth_json_len(const olla_jdom_t *v);
static size_t olla_anth_block_chars(const olla_jdom_t *b);
static size_t olla_anth_content_chars(const olla_jdom_t *c);
static long olla_anth_estimate(const olla_jdom_t *root);
static int olla_anth_number(const char *p, size_t len, long long *n,
    double *d);
static int olla_anth_shape_int(const olla_anth_value_t *v, long long min);
static int olla_anth_shape_real(const olla_anth_value_t *v, double max);
static void olla_anth_shape_node(olla_anth_value_t *v,
    const olla_jdom_t *n);
static int olla_anth_check(const olla_jdom_t *root, char *err,
    size_t errlen);
static int olla_anth_info_fill(const olla_jdom_t *root,
    olla_anth_info_t *info);

static void olla_anth_cstr(olla_jout_t *o, const olla_jdom_t *v);
static void olla_anth_msg_begin(olla_anth_req_t *r);
static int olla_anth_system(olla_anth_req_t *r, const olla_jdom_t *system);
static int olla_anth_message(olla_anth_req_t *r, const olla_jdom_t *m,
    size_t i);
static void olla_anth_user_blocks(olla_anth_req_t *r,
    const olla_jdom_t *role, const olla_jdom_t *blocks, size_t n);
static void olla_anth_assistant_blocks(olla_anth_req_t *r,
    const olla_jdom_t *blocks, size_t n);
static void olla_anth_tool_result(olla_anth_req_t *r, const olla_jdom_t *b);
static void olla_anth_result_text(olla_jout_t *o, const olla_jdom_t *c,
    int raw);
static int olla_anth_image(olla_jout_t *o, const olla_jdom_t *b);
static int olla_anth_tools(olla_anth_req_t *r, const olla_jdom_t *root);
static void olla_anth_as_string(olla_anth_req_t *r, const olla_jdom_t *v);


#define olla_anth_type(b, lit)    olla_anth_type_is(b, lit, sizeof(lit) - 1)


/*
 * What the translator takes as written (olla_jdom_path_t): a tool's
 * schema, a tool call's input, passed on whole, their type checked; and
 * where strings may be left escaped (lazy): the texts it writes as the
 * input has them and counts (a string system or content, text blocks,
 * a tool_result's content, a tool's description), reading the value only
 * through olla_jdom_head() and olla_jout_unescaped().
 */

#define X  OLLA_JDOM_NOKEY

static const olla_jdom_path_t  olla_anth_asis[] = {
    { 0, 0, { X, X, X, X } },
    /* 1: the root */
    { 0, 0, { { 2, 5, "tools" }, { 4, 8, "messages" }, { 8, 6, "system" },
              X } },
    /* 2, 3: tools, a tool */
    { 3, 0, { X, X, X, X } },
    { 0, 0, { { OLLA_JDOM_ASIS, 12, "input_schema" },
              { 10, 11, "description" }, X, X } },
    /* 4, 5, 6, 7: messages, a message, its content, a block */
    { 5, 0, { X, X, X, X } },
    { 0, 0, { { 6, 7, "content" }, X, X, X } },
    { 7, 1, { X, X, X, X } },
    { 0, 0, { { OLLA_JDOM_ASIS, 5, "input" }, { 10, 4, "text" },
              { 11, 7, "content" }, X } },
    /* 8, 9: system, a system block */
    { 9, 1, { X, X, X, X } },
    { 0, 0, { { 10, 4, "text" }, X, X, X } },
    /* 10: a text */
    { 0, 1, { X, X, X, X } },
    /* 11, 12: a tool_result's content, a block in it */
    { 12, 1, { X, X, X, X } },
    { 0, 0, { { 10, 4, "text" }, X, X, X } }
};

#undef X


#define olla_anth_paths(doc)                                                 \
    (doc)->paths = olla_anth_asis;                                           \
    (doc)->npaths = sizeof(olla_anth_asis) / sizeof(olla_anth_asis[0])
#define olla_anth_digit(c)        ((unsigned char) ((c) - '0') < 10)


/* ------------------------------------------------------------ helpers */


static int
olla_anth_prefix_ci(const char *s, size_t n, const char *prefix)
{
    unsigned char  a, c;

    for ( /* void */ ; *prefix; prefix++, s++, n--) {
        if (n == 0) {
            return 0;
        }

        a = (unsigned char) *s;
        c = (unsigned char) *prefix;

        if (a >= 'A' && a <= 'Z') {
            a = (unsigned char) (a - 'A' + 'a');
        }

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');
        }

        if (a != c) {
            return 0;
        }
    }

    return 1;
}


/* an object whose "type" is the string s */

static int
olla_anth_type_is(const olla_jdom_t *b, const char *s, size_t n)
{
    return olla_jdom_is_object(b)
           && olla_anth_str_is(olla_jdom_getl(b, "type"), s, n);
}


/* -------------------------------------------------------- the request shape */


/*
 * A number's text: -1 when it is not a JSON number or is an integer
 * beyond 64 bits; 1 for an integer (*n its value, *d too); 0 for another
 * number (*d its value as the translator reads it).
 */

static int
olla_anth_number(const char *p, size_t len, long long *n, double *d)
{
    int           integer;
    size_t        k, first, nint;
    olla_jdom_t   v;

    if (len == 0 || len > 0xffffffff) {
        return -1;
    }

    k = (p[0] == '-');
    first = k;

    while (k < len && olla_anth_digit(p[k])) {
        k++;
    }

    nint = k - first;

    if (nint == 0 || (nint > 1 && p[first] == '0')) {
        return -1;
    }

    integer = 1;

    if (k < len && p[k] == '.') {
        first = ++k;

        while (k < len && olla_anth_digit(p[k])) {
            k++;
        }

        if (k == first) {
            return -1;
        }

        integer = 0;
    }

    if (k < len && (p[k] == 'e' || p[k] == 'E')) {
        k++;

        if (k < len && (p[k] == '+' || p[k] == '-')) {
            k++;
        }

        first = k;

        while (k < len && olla_anth_digit(p[k])) {
            k++;
        }

        if (k == first) {
            return -1;
        }

        integer = 0;
    }

    if (k != len) {
        return -1;
    }

    /* a number node, read as the translator reads one */

    memset(&v, 0, sizeof(olla_jdom_t));
    v.type = OLLA_JDOM_NUMBER;
    v.len = (uint32_t) len;
    v.u.str = p;

    if (!integer) {
        *d = olla_jdom_double(&v);
        return 0;
    }

    if (nint > 19
        || (nint == 19
            && memcmp(p + (p[0] == '-'), (p[0] == '-') ? "9223372036854775808"
                                                       : "9223372036854775807",
                      19)
               > 0))
    {
        /* the translator's parser rejects such a body */
        return -1;
    }

    v.flags = OLLA_JDOM_INT;
    *n = olla_jdom_int(&v);
    *d = (double) *n;

    return 1;
}


/* an integer >= min; 0, or -1 for a fault */

static int
olla_anth_shape_int(const olla_anth_value_t *v, long long min)
{
    double     d;
    long long  n;

    if (v->type != OLLA_JSON_NUMBER || v->len > OLLA_ANTH_INT_TEXT) {
        return -1;
    }

    if (v->text == NULL) {
        return 0;
    }

    if (olla_anth_number(v->text, v->len, &n, &d) != 1 || n < min) {
        return -1;
    }

    return 0;
}


/* absent, null, or a number from 0 to max; 0, or -1 for a fault */

static int
olla_anth_shape_real(const olla_anth_value_t *v, double max)
{
    double     d;
    long long  n;

    if (v->type == OLLA_JSON_NONE || v->type == OLLA_JSON_NULL) {
        return 0;
    }

    if (v->type != OLLA_JSON_NUMBER) {
        return -1;
    }

    if (v->text == NULL) {
        return 0;
    }

    if (olla_anth_number(v->text, v->len, &n, &d) < 0 || d < 0 || d > max) {
        return -1;
    }

    return 0;
}


int
olla_anth_check_shape(const olla_anth_shape_t *s, char *err, size_t errlen)
{
    size_t                    i;
    const olla_anth_value_t  *v;

    v = &s->model;

    if (v->type != OLLA_JSON_STRING || v->len == 0) {
        olla_anth_err(err, errlen, "\"model\" is required and must be a "
                      "non-empty string");
        return -1;
    }

    for (i = 0; v->text != NULL && i < v->len; i++) {
        if ((unsigned char) v->text[i] < 0x20 || v->text[i] == 0x7f) {
            olla_anth_err(err, errlen,
                          "\"model\" must not contain control characters");
            return -1;
        }
    }

    if (olla_anth_shape_int(&s->max_tokens, 1) != 0) {
        olla_anth_err(err, errlen, "\"max_tokens\" is required and must be "
                      "an integer >= 1");
        return -1;
    }

    v = &s->messages;

    if (v->type != OLLA_JSON_ARRAY) {
        olla_anth_err(err, errlen, "\"messages\" is required and must be "
                      "an array");
        return -1;
    }

    if (v->elements == 0) {
        olla_anth_err(err, errlen, "\"messages\" must not be empty");
        return -1;
    }

    if (olla_anth_shape_real(&s->temperature, 2) != 0) {
        olla_anth_err(err, errlen,
                      "\"temperature\" must be a number between 0 and 2");
        return -1;
    }

    if (olla_anth_shape_real(&s->top_p, 1) != 0) {
        olla_anth_err(err, errlen,
                      "\"top_p\" must be a number between 0 and 1");
        return -1;
    }

    v = &s->top_k;

    if (v->type != OLLA_JSON_NONE && v->type != OLLA_JSON_NULL
        && olla_anth_shape_int(v, 0) != 0)
    {
        olla_anth_err(err, errlen, "\"top_k\" must be an integer >= 0");
        return -1;
    }

    v = &s->stream;

    if (v->type != OLLA_JSON_NONE && v->type != OLLA_JSON_NULL
        && v->type != OLLA_JSON_TRUE && v->type != OLLA_JSON_FALSE)
    {
        olla_anth_err(err, errlen, "\"stream\" must be a boolean");
        return -1;
    }

    return 0;
}


void
olla_anth_shape_value(olla_anth_value_t *v, const olla_json_field_t *f)
{
    v->type = f->type;
    v->len = f->len;
    v->elements = f->elements;
    v->text = NULL;

    if ((f->type == OLLA_JSON_STRING || f->type == OLLA_JSON_NUMBER)
        && !f->truncated)
    {
        v->text = f->value;
    }
}


/* a member of the request body -> a shape value */

static void
olla_anth_shape_node(olla_anth_value_t *v, const olla_jdom_t *n)
{
    memset(v, 0, sizeof(olla_anth_value_t));

    if (n == NULL) {
        v->type = OLLA_JSON_NONE;
        return;
    }

    switch (n->type) {

    case OLLA_JDOM_NULL:
        v->type = OLLA_JSON_NULL;
        break;

    case OLLA_JDOM_TRUE:
        v->type = OLLA_JSON_TRUE;
        break;

    case OLLA_JDOM_FALSE:
        v->type = OLLA_JSON_FALSE;
        break;

    case OLLA_JDOM_NUMBER:
    case OLLA_JDOM_STRING:
        v->type = (n->type == OLLA_JDOM_NUMBER) ? OLLA_JSON_NUMBER
                                                : OLLA_JSON_STRING;
        v->text = n->u.str;
        v->len = n->len;
        break;

    case OLLA_JDOM_ARRAY:
        v->type = OLLA_JSON_ARRAY;
        v->elements = n->len;
        break;

    default: /* OLLA_JDOM_OBJECT */
        v->type = OLLA_JSON_OBJECT;
        v->elements = n->len;
        break;
    }
}


static int
olla_anth_check(const olla_jdom_t *root, char *err, size_t errlen)
{
    olla_anth_shape_t  shape;

    olla_anth_shape_node(&shape.model, olla_anth_get(root, "model"));
    olla_anth_shape_node(&shape.messages, olla_anth_get(root, "messages"));
    olla_anth_shape_node(&shape.max_tokens,
                         olla_anth_get(root, "max_tokens"));
    olla_anth_shape_node(&shape.temperature,
                         olla_anth_get(root, "temperature"));
    olla_anth_shape_node(&shape.top_p, olla_anth_get(root, "top_p"));
    olla_anth_shape_node(&shape.top_k, olla_anth_get(root, "top_k"));
    olla_anth_shape_node(&shape.stream, olla_anth_get(root, "stream"));

    return olla_anth_check_shape(&shape, err, errlen);
}


/* --------------------------------- token estimate, validation, count_tokens */


/* bytes of a string's value escaped as jansson escapes it */

static size_t
olla_anth_esc_len(const olla_jdom_t *v)
{
    size_t          i, n;
    unsigned char   c;

    if (!(v->flags & OLLA_JDOM_ESCAPED)) {
        /* no escapes in the input: nothing that needs one */
        return v->len;
    }

    if (olla_jdom_raw(v, &n) != NULL) {
        /* the input's text, escaped as the writer escapes */
        return n;
    }

    n = v->len;

    for (i = 0; i < v->len; i++) {
        c = (unsigned char) v->u.str[i];

        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n'
            || c == '\r' || c == '\t')
        {
            n += 1;

        } else if (c < 0x20) {
            n += 5;
        }
    }

    return n;
}


/* bytes of jansson's text of a real: "%.17g", ".0" added, exponent bare */

static size_t
olla_anth_real_len(double d)
{
    int     n;
    char    buf[64], *e;
    size_t  len;

    n = snprintf(buf, sizeof(buf), "%.17g", d);
    if (n < 0 || (size_t) n >= sizeof(buf)) {
        return 0;
    }

    len = (size_t) n;
    e = strchr(buf, 'e');

    if (e == NULL) {
        if (strchr(buf, '.') == NULL
            && strchr(buf, localeconv()->decimal_point[0]) == NULL)
        {
            len += 2;
        }

        return len;
    }

    e++;

    if (*e == '+') {
        len--;
    }

    if (*e == '+' || *e == '-') {
        e++;
    }

    while (*e == '0' && e[1] != '\0') {
        len--;
        e++;
    }

    return len;
}


/*
 * Bytes of the compact JSON text jansson writes for v (keys sorted, as Go
 * marshals it; their order does not change the length).  Counted, not
 * written: integers are their text ("-0" is "0"), reals jansson's.
 */

static size_t
olla_anth_dump_len(const olla_jdom_t *v)
{
    size_t  i, n;

    if (v->flags & OLLA_JDOM_COMPACT) {
        /* its text in the input is that already */
        (void) olla_jdom_text(v, &n);
        return n;
    }

    if (v->flags & OLLA_JDOM_OPAQUE) {
        return olla_anth_opaque_len(v);
    }

    switch (v->type) {

    case OLLA_JDOM_NULL:
    case OLLA_JDOM_TRUE:
        return 4;

    case OLLA_JDOM_FALSE:
        return 5;

    case OLLA_JDOM_NUMBER:
        if (v->flags & OLLA_JDOM_INT) {
            return (v->len == 2 && v->u.str[0] == '-' && v->u.str[1] == '0')
                   ? 1 : v->len;
        }

        return olla_anth_real_len(olla_jdom_double(v));

    case OLLA_JDOM_STRING:
        return 2 + olla_anth_esc_len(v);

    case OLLA_JDOM_ARRAY:
        n = v->len ? 1 + v->len : 2;

        for (i = 0; i < v->len; i++) {
            n += olla_anth_dump_len(&v->u.items[i]);
        }

        return n;

    default: /* OLLA_JDOM_OBJECT */
        n = v->len ? 1 + v->len : 2;

        for (i = 0; i < v->len; i++) {
            n += 3 + olla_anth_esc_len(&v->u.members[i].key)
                 + olla_anth_dump_len(&v->u.members[i].value);
        }

        return n;
    }
}


/*
 * The same for a value taken as written whose text is not its compact
 * dump (white space, a real, an escape written otherwise): its text read
 * now (known valid), counted as the nodes a full parse makes would be;
 * its length when that cannot be done (out of memory).
 */

static size_t
olla_anth_opaque_len(const olla_jdom_t *v)
{
    char             arena[1024];
    size_t           n, len;
    const char      *text;
    olla_jdom_doc_t  doc;

    text = olla_jdom_text(v, &len);

    olla_jdom_init(&doc, arena, sizeof(arena));
    doc.checked = 1;

    n = (olla_jdom_parse(&doc, text, len) == OLLA_JDOM_OK)
        ? olla_anth_dump_len(doc.root) : len;

    olla_jdom_free(&doc);

    return n;
}


static size_t
olla_anth_json_len(const olla_jdom_t *v)
{
    if (v == NULL || v->type == OLLA_JDOM_NULL) {
        return 0;
    }

    return olla_anth_dump_len(v);
}


/*
 * count_tokens, after Olla (reference/olla-anthropic.md 4): text blocks
 * count their text; tool_result its string content or its nested blocks;
 * tool_use its name and its input as compact JSON; anything else 0.
 */

static size_t
olla_anth_block_chars(const olla_jdom_t *b)
{
    size_t              n;
    const olla_jdom_t  *v;

    v = olla_anth_block_text(b);
    if (v != NULL) {
        return v->len;
    }

    if (olla_anth_type(b, "tool_result")) {
        return olla_anth_content_chars(olla_anth_get(b, "content"));
    }

    if (olla_anth_type(b, "tool_use")) {
        n = 0;

        v = olla_anth_get(b, "name");
        if (olla_jdom_is_string(v)) {
            n += v->len;
        }

        return n + olla_anth_json_len(olla_anth_get(b, "input"));
    }

    return 0;
}


static size_t
olla_anth_content_chars(const olla_jdom_t *c)
{
    size_t  i, n;

    if (c == NULL) {
        return 0;
    }

    if (c->type == OLLA_JDOM_STRING) {
        return c->len;
    }

    if (c->type == OLLA_JDOM_OBJECT) {
        return olla_anth_block_chars(c);
    }

    if (c->type != OLLA_JDOM_ARRAY) {
        return 0;
    }

    n = 0;

    for (i = 0; i < c->len; i++) {
        n += olla_anth_block_chars(&c->u.items[i]);
    }

    return n;
}


static long
olla_anth_estimate(const olla_jdom_t *root)
{
    size_t              i, n;
    const olla_jdom_t  *v, *e, *f;

    n = olla_anth_content_chars(olla_anth_get(root, "system"));

    v = olla_anth_get(root, "messages");

    if (olla_jdom_is_array(v)) {
        for (i = 0; i < v->len; i++) {
            e = &v->u.items[i];

            if (e->type == OLLA_JDOM_OBJECT) {
                n += olla_anth_content_chars(olla_anth_get(e, "content"));
            }
        }
    }

    v = olla_anth_get(root, "tools");

    if (olla_jdom_is_array(v)) {
        for (i = 0; i < v->len; i++) {
            e = &v->u.items[i];

            if (e->type != OLLA_JDOM_OBJECT) {
                continue;
            }

            f = olla_anth_get(e, "name");
            if (olla_jdom_is_string(f)) {
                n += f->len;
            }

            f = olla_anth_get(e, "description");
            if (olla_jdom_is_string(f)) {
                n += f->len;
            }

            n += olla_anth_json_len(olla_anth_get(e, "input_schema"));
        }
    }

    n /= 4;

    if (n < 1) {
        n = 1;
    }

    return (n > (size_t) 0x7fffffff) ? 0x7fffffffL : (long) n;
}


static int
olla_anth_info_fill(const olla_jdom_t *root, olla_anth_info_t *info)
{
    const olla_jdom_t  *v;

    if (info == NULL) {
        return 0;
    }

    v = olla_anth_get(root, "model");

    info->model = olla_anth_strndup(v->u.str, v->len);
    if (info->model == NULL) {
        return -1;
    }

    info->stream = olla_jdom_is_true(olla_anth_get(root, "stream"));
    info->input_tokens = olla_anth_estimate(root);

    return 0;
}


void
olla_anth_info_free(olla_anth_info_t *info)
{
    if (info == NULL) {
        return;
    }

    free(info->model);
    info->model = NULL;
}


int
olla_anth_validate(const char *body, size_t len, olla_anth_info_t *info,
    char *err, size_t errlen)
{
    int                 rc;
    char                arena[OLLA_ANTH_ARENA];
    olla_jdom_doc_t     doc;
    const olla_jdom_t  *root;

    if (info) {
        memset(info, 0, sizeof(olla_anth_info_t));
    }

    olla_jdom_init(&doc, arena, sizeof(arena));

    rc = -1;

    root = olla_anth_load(&doc, body, len, "request body", err, errlen);

    if (root != NULL && olla_anth_check(root, err, errlen) == 0) {
        if (olla_anth_info_fill(root, info) != 0) {
            olla_anth_nomem(err, errlen);

        } else {
            rc = 0;
        }
    }

    olla_jdom_free(&doc);

    return rc;
}


int
olla_anth_count_tokens(const char *body, size_t len, long *tokens,
    char *err, size_t errlen)
{
    return olla_anth_count(body, len, 0, tokens, err, errlen);
}


int
olla_anth_count_tokens_checked(const char *body, size_t len, long *tokens,
    char *err, size_t errlen)
{
    return olla_anth_count(body, len, 1, tokens, err, errlen);
}


/*
 * checked: the routing scan read the body whole and found it valid, so
 * the tools' schemas are skipped to their ends, not made into nodes
 * (OLLA_JDOM_OPAQUE), as for a translation
 */

static int
olla_anth_count(const char *body, size_t len, unsigned checked, long *tokens,
    char *err, size_t errlen)
{
    char                arena[OLLA_ANTH_ARENA];
    olla_jdom_doc_t     doc;
    const olla_jdom_t  *root;

    olla_jdom_init(&doc, arena, sizeof(arena));
    doc.checked = checked;

    olla_anth_paths(&doc);

    root = olla_anth_load(&doc, body, len, "request body", err, errlen);

    if (root != NULL) {
        *tokens = olla_anth_estimate(root);
    }

    olla_jdom_free(&doc);

    return root ? 0 : -1;
}


/* -------------------- request: Anthropic Messages -> OpenAI chat completion */


int
olla_anth_request_to_openai(const char *body, size_t len, char **out,
    size_t *outlen, olla_anth_info_t *info, char *err, size_t errlen)
{
    return olla_anth_request(body, len, 0, out, outlen, info, err, errlen);
}


int
olla_anth_request_to_openai_checked(const char *body, size_t len, char **out,
    size_t *outlen, olla_anth_info_t *info, char *err, size_t errlen)
{
    return olla_anth_request(body, len, 1, out, outlen, info, err, errlen);
}


static int
olla_anth_request(const char *body, size_t len, unsigned checked, char **out,
    size_t *outlen, olla_anth_info_t *info, char *err, size_t errlen)
{
    size_t              i;
    char                arena[OLLA_ANTH_ARENA];
    olla_jout_t        *o;
    olla_jdom_doc_t     doc;
    olla_anth_req_t     r;
    const olla_jdom_t  *root, *v;

    *out = NULL;

    if (outlen) {
        *outlen = 0;
    }

    if (info) {
        memset(info, 0, sizeof(olla_anth_info_t));
    }

    olla_jdom_init(&doc, arena, sizeof(arena));
    doc.checked = checked;
    olla_anth_paths(&doc);

    r.nmsgs = 0;
    r.err = err;
    r.errlen = errlen;
    olla_jout_init(&r.out, len + len / 8 + 512);
    olla_jout_init(&r.tmp, 0);
    o = &r.out;

    root = olla_anth_load(&doc, body, len, "request body", err, errlen);
    if (root == NULL) {
        goto failed;
    }

    if (olla_anth_check(root, err, errlen) != 0) {
        goto failed;
    }

    /* the output is about as long as the input */
    if (olla_jout_grow(o, len + 256) != 0) {
        goto nomem;
    }

    olla_jout_lit(o, "{\"model\":");
    olla_jout_string(o, olla_anth_get(root, "model"));
    olla_jout_lit(o, ",\"messages\":[");

    if (olla_anth_system(&r, olla_anth_optl(root, "system")) != 0) {
        goto failed;
    }

    v = olla_anth_get(root, "messages");

    for (i = 0; i < v->len; i++) {
        if (olla_anth_message(&r, &v->u.items[i], i) != 0) {
            goto failed;
        }
    }

    olla_jout_lit(o, "],\"max_tokens\":");
    olla_jout_value(o, olla_anth_get(root, "max_tokens"));

    v = olla_anth_optl(root, "temperature");
    if (v) {
        olla_jout_lit(o, ",\"temperature\":");
        olla_jout_value(o, v);
    }

    v = olla_anth_optl(root, "top_p");
    if (v) {
        olla_jout_lit(o, ",\"top_p\":");
        olla_jout_value(o, v);
    }

    v = olla_anth_optl(root, "stop_sequences");
    if (v != NULL) {
        if (!olla_jdom_is_array(v)) {
            olla_anth_err(err, errlen,
                          "stop_sequences must be an array of strings");
            goto failed;
        }

        for (i = 0; i < v->len; i++) {
            if (v->u.items[i].type != OLLA_JDOM_STRING) {
                olla_anth_err(err, errlen,
                              "stop_sequences must be an array of strings");
                goto failed;
            }
        }

        if (v->len) {
            olla_jout_lit(o, ",\"stop\":");
            olla_jout_value(o, v);
        }
    }

    if (olla_jdom_is_true(olla_anth_get(root, "stream"))) {
        olla_jout_lit(o, ",\"stream\":true,"
                         "\"stream_options\":{\"include_usage\":true}");

    } else {
        olla_jout_lit(o, ",\"stream\":false");
    }

    if (olla_anth_tools(&r, root) != 0) {
        goto failed;
    }

    v = olla_anth_optl(root, "metadata");
    v = olla_anth_get(v, "user_id");

    if (olla_anth_nonempty(v)) {
        olla_jout_lit(o, ",\"user\":");
        olla_jout_string(o, v);
    }

    olla_jout_ch(o, '}');

    if (o->failed || r.tmp.failed) {
        goto nomem;
    }

    if (olla_anth_info_fill(root, info) != 0) {
        goto nomem;
    }

    *out = olla_jout_finish(o, outlen);

    olla_jout_free(&r.tmp);
    olla_jdom_free(&doc);

    return 0;

nomem:

    olla_anth_nomem(err, errlen);

failed:

    olla_jout_free(&r.out);
    olla_jout_free(&r.tmp);
    olla_jdom_free(&doc);

    return -1;
}


/*
 * A string as jansson's json_string_value() gave it to "s" in json_pack():
 * up to its first U+0000.
 */

static void
olla_anth_cstr(olla_jout_t *o, const olla_jdom_t *v)
{
    if (v->flags & OLLA_JDOM_HAS_NUL) {
        olla_jout_str(o, v->u.str, strlen(v->u.str));

    } else {
        olla_jout_string(o, v);
    }
}


static void
olla_anth_msg_begin(olla_anth_req_t *r)
{
    if (r->nmsgs++) {
        olla_jout_ch(&r->out, ',');
    }
}


/* the JSON text of v as a JSON string (tool arguments, tool results) */

static void
olla_anth_as_string(olla_anth_req_t *r, const olla_jdom_t *v)
{
    r->tmp.len = 0;
    olla_jout_text(&r->tmp, v);

    olla_jout_str(&r->out, r->tmp.p, r->tmp.len);
}


/*
 * system: a string, or text blocks joined with "\n".  Claude Code's
 * attribution block ("x-anthropic-billing-header: ...cch=...") is left
 * out: it means nothing to a local model and, when it changes between
 * requests, it defeats the backend's prompt cache.
 */

static int
olla_anth_system(olla_anth_req_t *r, const olla_jdom_t *system)
{
    char                head[sizeof(OLLA_ANTH_BILLING)];
    size_t              i, k, n, joined;
    olla_jout_t        *o;
    const olla_jdom_t  *blocks, *t;

    if (system == NULL) {
        return 0;
    }

    o = &r->out;

    if (system->type == OLLA_JDOM_STRING) {
        if (system->len == 0) {
            return 0;
        }

        olla_anth_msg_begin(r);
        olla_jout_lit(o, "{\"role\":\"system\",\"content\":");
        olla_jout_string(o, system);
        olla_jout_ch(o, '}');

        return 0;
    }

    if (system->type == OLLA_JDOM_OBJECT) {
        blocks = system;
        n = 1;

    } else if (system->type == OLLA_JDOM_ARRAY) {
        blocks = system->u.items;
        n = system->len;

    } else {
        olla_anth_err(r->err, r->errlen,
                      "system must be a string or an array of text blocks");
        return -1;
    }

    joined = 0;

    for (i = 0; i < n; i++) {
        t = olla_anth_block_text(&blocks[i]);

        if (t == NULL || t->len == 0) {
            continue;
        }

        /* the text may be left escaped: its first bytes unescaped */
        k = olla_jdom_head(t, head, sizeof(OLLA_ANTH_BILLING) - 1);

        if (olla_anth_prefix_ci(head, k, OLLA_ANTH_BILLING)) {
            continue;
        }

        if (joined++ == 0) {
            olla_anth_msg_begin(r);
            olla_jout_lit(o, "{\"role\":\"system\",\"content\":\"");

        } else {
            olla_jout_lit(o, "\\n");
        }

        olla_jout_string_esc(o, t);
    }

    if (joined) {
        olla_jout_lit(o, "\"}");
    }

    return 0;
}


static int
olla_anth_message(olla_anth_req_t *r, const olla_jdom_t *m, size_t i)
{
    size_t              n;
    olla_jout_t        *o;
    const olla_jdom_t  *role, *content, *blocks;

    if (!olla_jdom_is_object(m)) {
        olla_anth_err(r->err, r->errlen, "messages[%zu] must be an object",
                      i);
        return -1;
    }

    role = olla_anth_get(m, "role");
    if (!olla_anth_nonempty(role)) {
        olla_anth_err(r->err, r->errlen,
                      "messages[%zu].role must be a non-empty string", i);
        return -1;
    }

    content = olla_anth_get(m, "content");

    if (olla_jdom_is_string(content)) {
        if (content->len == 0) {
            return 0;
        }

        o = &r->out;

        olla_anth_msg_begin(r);
        olla_jout_lit(o, "{\"role\":");
        olla_jout_string(o, role);
        olla_jout_lit(o, ",\"content\":");
        olla_jout_string(o, content);
        olla_jout_ch(o, '}');

        return 0;
    }

    if (olla_jdom_is_object(content)) {
        blocks = content;
        n = 1;

    } else if (olla_jdom_is_array(content)) {
        blocks = content->u.items;
        n = content->len;

    } else {
        olla_anth_err(r->err, r->errlen,
                      "messages[%zu].content must be a string or an array "
                      "of content blocks", i);
        return -1;
    }

    if (olla_anth_is(role, "assistant")) {
        olla_anth_assistant_blocks(r, blocks, n);

    } else {
        olla_anth_user_blocks(r, role, blocks, n);
    }

    return 0;
}


/*
 * A user message's blocks: each tool_result becomes a "tool" message, put
 * first so that they follow the assistant's tool_calls; text and images
 * then make one user message, a plain string when it is one text alone,
 * else OpenAI content parts.  Other blocks are ignored.
 */

static void
olla_anth_user_blocks(olla_anth_req_t *r, const olla_jdom_t *role,
    const olla_jdom_t *blocks, size_t n)
{
    size_t              i, nparts, ntext;
    olla_jout_t        *o;
    const olla_jdom_t  *b, *t, *text;

    nparts = 0;
    ntext = 0;
    text = NULL;

    for (i = 0; i < n; i++) {
        b = &blocks[i];

        if (olla_anth_type(b, "text")) {
            t = olla_anth_block_text(b);

            if (t != NULL && t->len) {
                text = t;
                nparts++;
                ntext++;
            }

        } else if (olla_anth_type(b, "image")) {
            if (olla_anth_image(NULL, b)) {
                nparts++;
            }

        } else if (olla_anth_type(b, "tool_result")) {
            olla_anth_tool_result(r, b);
        }
    }

    if (nparts == 0) {
        return;
    }

    o = &r->out;

    olla_anth_msg_begin(r);
    olla_jout_lit(o, "{\"role\":");
    olla_anth_cstr(o, role);
    olla_jout_lit(o, ",\"content\":");

    if (nparts == 1 && ntext == 1) {
        olla_jout_string(o, text);
        olla_jout_ch(o, '}');
        return;
    }

    olla_jout_ch(o, '[');
    nparts = 0;

    for (i = 0; i < n; i++) {
        b = &blocks[i];

        if (olla_anth_type(b, "text")) {
            t = olla_anth_block_text(b);

            if (t == NULL || t->len == 0) {
                continue;
            }

            if (nparts++) {
                olla_jout_ch(o, ',');
            }

            olla_jout_lit(o, "{\"type\":\"text\",\"text\":");
            olla_jout_string(o, t);
            olla_jout_ch(o, '}');

        } else if (olla_anth_type(b, "image") && olla_anth_image(NULL, b)) {
            if (nparts++) {
                olla_jout_ch(o, ',');
            }

            (void) olla_anth_image(o, b);
        }
    }

    olla_jout_lit(o, "]}");
}


/*
 * An image block -> {"type":"image_url","image_url":{"url":...}}: a data
 * URL for a base64 source, the URL itself for a url source.  Returns 0
 * for an image that cannot be expressed (it is left out), else 1, having
 * written the part when o is not NULL.
 */

static int
olla_anth_image(olla_jout_t *o, const olla_jdom_t *b)
{
    const olla_jdom_t  *src, *url, *media, *data;

    src = olla_anth_get(b, "source");

    if (olla_anth_type(src, "url")) {
        url = olla_anth_get(src, "url");

        if (!olla_anth_nonempty(url)) {
            return 0;
        }

        if (o) {
            olla_jout_lit(o, "{\"type\":\"image_url\","
                             "\"image_url\":{\"url\":");
            olla_jout_string(o, url);
            olla_jout_lit(o, "}}");
        }

        return 1;
    }

    if (!olla_anth_type(src, "base64")) {
        return 0;
    }

    media = olla_anth_get(src, "media_type");
    data = olla_anth_get(src, "data");

    if (!olla_jdom_is_string(media) || !olla_anth_nonempty(data)) {
        return 0;
    }

    if (o) {
        olla_jout_lit(o, "{\"type\":\"image_url\","
                         "\"image_url\":{\"url\":\"data:");
        olla_jout_string_esc(o, media);
        olla_jout_lit(o, ";base64,");
        olla_jout_string_esc(o, data);
        olla_jout_lit(o, "\"}}");
    }

    return 1;
}


/*
 * tool_result -> {"role":"tool","tool_call_id":...,"content":...}: string
 * content as it is, blocks as their texts joined with "\n", any other
 * value as its JSON text; is_error prefixes "Error: " unless the text
 * already starts with "error".
 */

static void
olla_anth_tool_result(olla_anth_req_t *r, const olla_jdom_t *b)
{
    olla_jout_t        *o, *t;
    const olla_jdom_t  *c, *id;

    o = &r->out;

    olla_anth_msg_begin(r);
    olla_jout_lit(o, "{\"role\":\"tool\",\"tool_call_id\":");

    id = olla_anth_get(b, "tool_use_id");

    if (olla_jdom_is_string(id)) {
        olla_anth_cstr(o, id);

    } else {
        olla_jout_lit(o, "\"\"");
    }

    olla_jout_lit(o, ",\"content\":");

    c = olla_anth_get(b, "content");

    if (!olla_jdom_is_true(olla_anth_get(b, "is_error"))) {
        if (c != NULL && (c->type == OLLA_JDOM_OBJECT
                          || c->type == OLLA_JDOM_NUMBER
                          || c->type == OLLA_JDOM_TRUE
                          || c->type == OLLA_JDOM_FALSE))
        {
            olla_anth_as_string(r, c);

        } else {
            olla_jout_ch(o, '"');
            olla_anth_result_text(o, c, 0);
            olla_jout_ch(o, '"');
        }

        olla_jout_ch(o, '}');
        return;
    }

    /* the text is needed whole to see how it starts */

    t = &r->tmp;
    t->len = 0;
    olla_anth_result_text(t, c, 1);

    if (olla_jout_grow(t, 0) == 0
        && olla_anth_prefix_ci(t->p, t->len, "error"))
    {
        olla_jout_str(o, t->p, t->len);

    } else {
        olla_jout_lit(o, "\"Error: ");
        olla_jout_esc(o, t->p, t->len);
        olla_jout_ch(o, '"');
    }

    olla_jout_ch(o, '}');
}


/*
 * The text of a tool_result's content, escaped for a JSON string or (raw)
 * as it is: a string, the texts of blocks joined with "\n", or the JSON
 * text of another value.
 */

static void
olla_anth_result_text(olla_jout_t *o, const olla_jdom_t *c, int raw)
{
    size_t              i, n;
    const olla_jdom_t  *t;

    if (c == NULL || c->type == OLLA_JDOM_NULL) {
        return;
    }

    if (c->type == OLLA_JDOM_STRING) {
        if (raw) {
            olla_jout_unescaped(o, c);

        } else {
            olla_jout_string_esc(o, c);
        }

        return;
    }

    if (c->type != OLLA_JDOM_ARRAY) {
        /* only raw comes here: olla_anth_as_string() does the others */
        olla_jout_value(o, c);
        return;
    }

    n = 0;

    for (i = 0; i < c->len; i++) {
        t = olla_anth_block_text(&c->u.items[i]);
        if (t == NULL) {
            continue;
        }

        if (n) {
            if (raw) {
                olla_jout_ch(o, '\n');

            } else {
                olla_jout_lit(o, "\\n");
            }

            n++;
        }

        if (raw) {
            olla_jout_unescaped(o, t);

        } else {
            olla_jout_string_esc(o, t);
        }

        n += t->len;
    }
}


/*
 * An assistant message's blocks: texts joined with "\n" make "content"
 * (null when there is none), tool_use blocks make "tool_calls"; thinking,
 * redacted_thinking and anything else are dropped, and so is a message
 * left with nothing.
 */

#define olla_anth_call_ok(b)                                                 \
    (olla_anth_type(b, "tool_use")                                           \
     && olla_anth_nonempty(olla_anth_get(b, "id"))                           \
     && olla_anth_nonempty(olla_anth_get(b, "name")))


static void
olla_anth_assistant_blocks(olla_anth_req_t *r, const olla_jdom_t *blocks,
    size_t n)
{
    size_t              i, ntext, ncalls;
    olla_jout_t        *o;
    const olla_jdom_t  *b, *t, *input;

    ntext = 0;
    ncalls = 0;

    for (i = 0; i < n; i++) {
        b = &blocks[i];

        if (olla_anth_type(b, "text")) {
            t = olla_anth_block_text(b);

            if (t != NULL && t->len) {
                ntext++;
            }

        } else if (olla_anth_call_ok(b)) {
            ncalls++;
        }
    }

    if (ntext == 0 && ncalls == 0) {
        return;
    }

    o = &r->out;

    olla_anth_msg_begin(r);
    olla_jout_lit(o, "{\"role\":\"assistant\",\"content\":");

    if (ntext == 0) {
        olla_jout_lit(o, "null");

    } else {
        olla_jout_ch(o, '"');
        ntext = 0;

        for (i = 0; i < n; i++) {
            b = &blocks[i];

            if (!olla_anth_type(b, "text")) {
                continue;
            }

            t = olla_anth_block_text(b);

            if (t == NULL || t->len == 0) {
                continue;
            }

            if (ntext++) {
                olla_jout_lit(o, "\\n");
            }

            olla_jout_string_esc(o, t);
        }

        olla_jout_ch(o, '"');
    }

    if (ncalls) {
        olla_jout_lit(o, ",\"tool_calls\":[");
        ncalls = 0;

        for (i = 0; i < n; i++) {
            b = &blocks[i];

            if (!olla_anth_call_ok(b)) {
                continue;
            }

            if (ncalls++) {
                olla_jout_ch(o, ',');
            }

            olla_jout_lit(o, "{\"id\":");
            olla_jout_string(o, olla_anth_get(b, "id"));
            olla_jout_lit(o, ",\"type\":\"function\",\"function\":"
                             "{\"name\":");
            olla_jout_string(o, olla_anth_get(b, "name"));
            olla_jout_lit(o, ",\"arguments\":");

            input = olla_anth_optl(b, "input");

            if (input == NULL) {
                olla_jout_lit(o, "\"{}\"");

            } else {
                olla_anth_as_string(r, input);
            }

            olla_jout_lit(o, "}}");
        }

        olla_jout_ch(o, ']');
    }

    olla_jout_ch(o, '}');
}


/*
 * tools -> OpenAI function tools.  Anthropic's own server tools (a "type"
 * other than "custom": web_search_..., bash_..., text_editor_...) are left
 * out: a local model cannot run them and the client does not run them
 * either.  tool_choice goes along only when some tool does.
 *
 * tool_choice: auto -> "auto", any -> "required", none -> "none" (string
 * or object), {"type":"tool","name":X} -> the function X; an unknown kind
 * is "auto".  disable_parallel_tool_use -> parallel_tool_calls false.
 */

static int
olla_anth_tools(olla_anth_req_t *r, const olla_jdom_t *root)
{
    int                 parallel;
    size_t              i, k;
    olla_jout_t        *o;
    const char         *choice;
    const olla_jdom_t  *tc, *type, *name, *tools, *t, *v;

    o = &r->out;
    parallel = 1;
    choice = NULL;
    name = NULL;

    tc = olla_anth_optl(root, "tool_choice");

    if (tc != NULL) {
        if (tc->type == OLLA_JDOM_STRING) {
            type = tc;

        } else if (tc->type == OLLA_JDOM_OBJECT) {
            type = olla_anth_get(tc, "type");

            if (olla_jdom_is_true(olla_anth_get(tc,
                                                "disable_parallel_tool_use")))
            {
                parallel = 0;
            }

        } else {
            olla_anth_err(r->err, r->errlen,
                          "tool_choice must be a string or an object");
            return -1;
        }

        if (olla_anth_is(type, "any")) {
            choice = "\"required\"";

        } else if (olla_anth_is(type, "none")) {
            choice = "\"none\"";

        } else if (olla_anth_is(type, "tool")) {
            name = olla_anth_get(tc, "name");

            if (!olla_anth_nonempty(name)) {
                olla_anth_err(r->err, r->errlen,
                              "tool_choice of type \"tool\" requires a name");
                return -1;
            }

        } else {
            choice = "\"auto\"";
        }
    }

    tools = olla_anth_optl(root, "tools");

    if (tools == NULL) {
        return 0;
    }

    if (tools->type != OLLA_JDOM_ARRAY) {
        olla_anth_err(r->err, r->errlen, "tools must be an array");
        return -1;
    }

    k = 0;

    for (i = 0; i < tools->len; i++) {
        t = &tools->u.items[i];

        if (t->type != OLLA_JDOM_OBJECT) {
            olla_anth_err(r->err, r->errlen, "tools[%zu] must be an object",
                          i);
            return -1;
        }

        v = olla_anth_get(t, "type");
        if (olla_jdom_is_string(v) && !olla_anth_is(v, "custom")) {
            continue;
        }

        v = olla_anth_get(t, "name");
        if (!olla_anth_nonempty(v)) {
            olla_anth_err(r->err, r->errlen,
                          "tools[%zu].name must be a non-empty string", i);
            return -1;
        }

        if (k++) {
            olla_jout_ch(o, ',');

        } else {
            olla_jout_lit(o, ",\"tools\":[");
        }

        olla_jout_lit(o, "{\"type\":\"function\",\"function\":{\"name\":");
        olla_jout_string(o, v);

        v = olla_anth_get(t, "description");
        if (olla_jdom_is_string(v)) {
            olla_jout_lit(o, ",\"description\":");
            olla_jout_string(o, v);
        }

        olla_jout_lit(o, ",\"parameters\":");

        v = olla_anth_get(t, "input_schema");

        if (olla_jdom_is_object(v)) {
            olla_jout_text(o, v);

        } else {
            olla_jout_lit(o, "{\"type\":\"object\",\"properties\":{}}");
        }

        olla_jout_lit(o, "}}");
    }

    if (k == 0) {
        return 0;
    }

    olla_jout_ch(o, ']');

    if (tc != NULL) {
        olla_jout_lit(o, ",\"tool_choice\":");

        if (choice) {
            olla_jout_add(o, choice, strlen(choice));

        } else {
            olla_jout_lit(o, "{\"type\":\"function\",\"function\":{\"name\":");
            olla_jout_string(o, name);
            olla_jout_lit(o, "}}");
        }
    }

    if (!parallel) {
        olla_jout_lit(o, ",\"parallel_tool_calls\":false");
    }

    return 0;
}
