
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Anthropic Messages API <-> OpenAI chat completions, on olla_jdom.
 *
 * Requests: an Anthropic Messages body becomes an OpenAI chat completion
 * body (SPEC 5, reference/olla-anthropic.md 3.2).  Responses: an OpenAI
 * completion becomes an Anthropic message, and an OpenAI SSE stream
 * becomes an Anthropic SSE stream through a state machine whose memory is
 * bounded by one SSE line plus the tool-call arguments it holds back.
 * Errors of either side become Anthropic error bodies.
 *
 * Where this differs from Olla, on purpose:
 *  - requests: images become image_url parts; {"type":"none"} is "none";
 *    stream_options.include_usage is asked for; system blocks and
 *    assistant texts are joined with "\n"; several user text blocks stay
 *    separate content parts; tool_result blocks become their texts; tool
 *    input absent -> "{}"; a tool without input_schema gets an empty
 *    object schema; Anthropic server tools (a "type" other than "custom")
 *    and Claude Code's "x-anthropic-billing-header" system block are left
 *    out; disable_parallel_tool_use -> parallel_tool_calls false;
 *    metadata.user_id -> user; null optional fields count as absent;
 *  - responses: the client's model name; "text" and "input" always
 *    present; thinking blocks carry "signature":""; content_filter ->
 *    "refusal"; tool calls with finish_reason "stop" (or none) ->
 *    "tool_use"; prompt_tokens_details.cached_tokens ->
 *    cache_read_input_tokens (and out of input_tokens);
 *  - streams: message_start and ping at the first chunk; tool_use blocks
 *    start with "input":{}; interleaved parallel calls are held back and
 *    emitted in order; "data:" without a space; [DONE] ends the input;
 *    upstream error events and "error:" lines become error events; a
 *    stream without finish_reason or [DONE] ends with an error event.
 *
 * Each body (and each SSE data line) is parsed once into an olla_jdom
 * arena and the output is written straight into one buffer: there is no
 * tree to build and dump.  The output is what jansson made before, byte
 * for byte (key order, escapes), except that numbers copied from the
 * input keep the text they were written with.  String comparisons that
 * jansson's json_string_value() made up to a U+0000 still stop there.
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "olla_jdom.h"
#include "olla_sse.h"
#include "olla_anthropic.h"


#define OLLA_ANTH_ID_CHARS     24
#define OLLA_ANTH_DEFAULT_MAX  (1024 * 1024)
#define OLLA_ANTH_OUT_KEEP     (64 * 1024)
#define OLLA_ANTH_TEXT_ERRMAX  200
#define OLLA_ANTH_JSON_ERRMAX  1024
#define OLLA_ANTH_ARENA        4096       /* arena on the C stack */
#define OLLA_ANTH_SMALL_ARENA  1024

#define OLLA_ANTH_BILLING      "x-anthropic-billing-header:"


/* a growable byte buffer, malloc'd, always NUL-terminated */
typedef struct {
    char      *p;
    size_t     len;
    size_t     cap;
} olla_abuf_t;


/* a request being translated */
typedef struct {
    olla_jout_t   out;
    olla_jout_t   tmp;            /* JSON text that becomes a string */
    size_t        nmsgs;
    char         *err;
    size_t        errlen;
} olla_anth_req_t;


typedef olla_jdom_t  olla_anth_node_t;


static int olla_abuf_add(olla_abuf_t *b, const char *p, size_t n);
static void olla_abuf_free(olla_abuf_t *b);

static char *olla_anth_strndup(const char *p, size_t n);
static int olla_anth_prefix_ci(const char *s, size_t n, const char *prefix);
static int olla_anth_clean(olla_abuf_t *b, const unsigned char *p, size_t n,
    size_t max, int ctl);
static void olla_anth_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void olla_anth_gen_id(char *buf, const char *prefix);

static const olla_jdom_t *olla_anth_load(olla_jdom_doc_t *doc,
    const char *body, size_t len, const char *what, char *err,
    size_t errlen);
static const olla_jdom_t *olla_anth_opt(const olla_jdom_t *obj,
    const char *key, size_t len);
static int olla_anth_str_is(const olla_jdom_t *v, const char *s, size_t n);
static int olla_anth_type_is(const olla_jdom_t *b, const char *s, size_t n);
static const olla_jdom_t *olla_anth_block_text(const olla_jdom_t *b);
static size_t olla_anth_esc_len(const olla_jdom_t *v);
static size_t olla_anth_real_len(double d);
static size_t olla_anth_dump_len(const olla_jdom_t *v);
static size_t olla_anth_json_len(const olla_jdom_t *v);
static size_t olla_anth_block_chars(const olla_jdom_t *b);
static size_t olla_anth_content_chars(const olla_jdom_t *c);
static long olla_anth_estimate(const olla_jdom_t *root);
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

static uint64_t olla_anth_rand(void);
static void olla_anth_usage_json(olla_jout_t *o, long long in,
    long long cached, long long out);
static const char *olla_anth_known_type(const olla_jdom_t *type);
static const char *olla_anth_stop_reason(const char *finish, int tools);
static int olla_anth_args_object(olla_jout_t *o, const olla_jdom_t *args);
static int olla_anth_usage(const olla_jdom_t *usage, long long *in,
    long long *out, long long *cached, int *have_in, int *have_out);
static int olla_anth_error_message(const olla_jdom_t *v, olla_abuf_t *msg,
    const char **type);
static int olla_anth_text_message(const char *body, size_t len,
    olla_abuf_t *msg);
static char *olla_anth_error_build(int status, const char *type,
    const char *message, size_t mlen, const char *request_id,
    size_t *outlen);


#define olla_anth_nomem(err, errlen)                                         \
    olla_anth_err(err, errlen, "out of memory")

#define olla_anth_get(obj, lit)   olla_jdom_getl(obj, lit)
#define olla_anth_optl(obj, lit)  olla_anth_opt(obj, lit, sizeof(lit) - 1)
#define olla_anth_is(v, lit)      olla_anth_str_is(v, lit, sizeof(lit) - 1)
#define olla_anth_type(b, lit)    olla_anth_type_is(b, lit, sizeof(lit) - 1)

/* a non-empty string */
#define olla_anth_nonempty(v)     (olla_jdom_is_string(v) && (v)->len)


/* ------------------------------------------------------------------ */
/* buffers and strings                                                 */


static int
olla_abuf_add(olla_abuf_t *b, const char *p, size_t n)
{
    char    *nb;
    size_t   cap;

    if (n > (size_t) -1 / 2 - b->len) {
        return -1;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 128;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        nb = olla_jdom_realloc(b->p, cap);
        if (nb == NULL) {
            return -1;
        }

        b->p = nb;
        b->cap = cap;
    }

    if (n) {
        memcpy(b->p + b->len, p, n);
    }

    b->len += n;
    b->p[b->len] = '\0';

    return 0;
}


static void
olla_abuf_free(olla_abuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}


static char *
olla_anth_strndup(const char *p, size_t n)
{
    char  *s;

    s = olla_jdom_malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, p, n);
    s[n] = '\0';

    return s;
}


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


/*
 * Appends p[0..n) as valid UTF-8: a byte that does not start a valid
 * sequence becomes "?".  With ctl, control characters count as spaces,
 * runs of spaces collapse to one and leading spaces are dropped.  At most
 * max bytes are appended, cut at a character boundary.
 */

static int
olla_anth_clean(olla_abuf_t *b, const unsigned char *p, size_t n, size_t max,
    int ctl)
{
    size_t          i, k, seq, added;
    unsigned char   c, lo, hi;

    added = 0;

    for (i = 0; i < n; i += seq) {
        c = p[i];
        seq = 1;

        if (c < 0x80) {
            if (ctl && (c < 0x20 || c == 0x7f || c == ' ')) {
                if (added == 0 || b->p[b->len - 1] == ' ') {
                    continue;
                }

                c = ' ';
            }

            if (added + 1 > max) {
                break;
            }

            if (olla_abuf_add(b, (const char *) &c, 1) != 0) {
                return -1;
            }

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

            if (olla_abuf_add(b, "?", 1) != 0) {
                return -1;
            }

            added++;
            continue;
        }

        if (added + seq > max) {
            break;
        }

        if (olla_abuf_add(b, (const char *) p + i, seq) != 0) {
            return -1;
        }

        added += seq;
    }

    if (ctl) {
        while (added && b->p[b->len - 1] == ' ') {
            b->len--;
            b->p[b->len] = '\0';
            added--;
        }
    }

    return 0;
}


static void
olla_anth_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


/* ------------------------------------------------------------------ */
/* ids                                                                 */

/*
 * Ids are "msg_" or "toolu_" and 24 characters of the base58 alphabet
 * drawn from splitmix64.  The generator is seeded from /dev/urandom, the
 * clock and the pid, and seeded again when the pid changes, so nginx
 * workers forked from one master do not repeat each other's ids.
 * olla_anth_set_id_seed() makes the sequence fixed, for tests.
 */

static const char  olla_anth_b58[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static uint64_t    olla_anth_rng;
static int         olla_anth_rng_fixed;
static long        olla_anth_rng_pid = -1;


void
olla_anth_set_id_seed(unsigned long long seed)
{
    if (seed == 0) {
        olla_anth_rng_fixed = 0;
        olla_anth_rng_pid = -1;
        return;
    }

    olla_anth_rng = (uint64_t) seed;
    olla_anth_rng_fixed = 1;
}


static uint64_t
olla_anth_rand(void)
{
    long       pid;
    FILE      *f;
    uint64_t   z, seed;

    if (!olla_anth_rng_fixed) {
        pid = (long) getpid();

        if (pid != olla_anth_rng_pid) {
            seed = 0;

            f = fopen("/dev/urandom", "rb");
            if (f != NULL) {
                if (fread(&seed, sizeof(seed), 1, f) != 1) {
                    seed = 0;
                }

                fclose(f);
            }

            seed ^= (uint64_t) time(NULL) * 0x9e3779b97f4a7c15ULL;
            seed ^= (uint64_t) clock() << 20;
            seed ^= (uint64_t) pid << 40;
            seed ^= (uint64_t) (uintptr_t) &seed;

            olla_anth_rng ^= seed;
            olla_anth_rng_pid = pid;
        }
    }

    olla_anth_rng += 0x9e3779b97f4a7c15ULL;
    z = olla_anth_rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


/* buf must hold strlen(prefix) + OLLA_ANTH_ID_CHARS + 1 bytes */

static void
olla_anth_gen_id(char *buf, const char *prefix)
{
    size_t  i, n;

    n = strlen(prefix);
    memcpy(buf, prefix, n);

    for (i = 0; i < OLLA_ANTH_ID_CHARS; i++) {
        buf[n + i] = olla_anth_b58[olla_anth_rand() % 58];
    }

    buf[n + OLLA_ANTH_ID_CHARS] = '\0';
}



/* ------------------------------------------------------------------ */
/* parsing, validation, token estimate                                 */


static const olla_jdom_t *
olla_anth_load(olla_jdom_doc_t *doc, const char *body, size_t len,
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
        olla_anth_err(err, errlen, "%s is empty", what);
        return NULL;
    }

    rc = olla_jdom_parse(doc, body, len);

    if (rc == OLLA_JDOM_NOMEM) {
        olla_anth_nomem(err, errlen);
        return NULL;
    }

    if (rc != OLLA_JDOM_OK) {
        olla_anth_err(err, errlen,
                      "%s is not valid JSON: %s at line %zu column %zu",
                      what, doc->error, doc->line, doc->column);
        return NULL;
    }

    if (!olla_jdom_is_object(doc->root)) {
        olla_anth_err(err, errlen, "%s must be a JSON object", what);
        return NULL;
    }

    return doc->root;
}


/* optional members: absent and null are the same */

static const olla_jdom_t *
olla_anth_opt(const olla_jdom_t *obj, const char *key, size_t len)
{
    const olla_jdom_t  *v;

    v = olla_jdom_get(obj, key, len);

    return olla_jdom_is_null(v) ? NULL : v;
}


/* a string that is s up to its first U+0000, as strcmp() saw it */

static int
olla_anth_str_is(const olla_jdom_t *v, const char *s, size_t n)
{
    return olla_jdom_is_string(v) && olla_jdom_cstrlen(v) == n
           && memcmp(v->u.str, s, n) == 0;
}


/* an object whose "type" is the string s */

static int
olla_anth_type_is(const olla_jdom_t *b, const char *s, size_t n)
{
    return olla_jdom_is_object(b)
           && olla_anth_str_is(olla_jdom_getl(b, "type"), s, n);
}


/* the text of a "text" block (or of a block without a type), or NULL */

static const olla_jdom_t *
olla_anth_block_text(const olla_jdom_t *b)
{
    const olla_jdom_t  *text, *type;

    if (!olla_jdom_is_object(b)) {
        return NULL;
    }

    type = olla_anth_get(b, "type");

    if (type != NULL && type->type != OLLA_JDOM_NULL
        && !olla_anth_is(type, "text"))
    {
        return NULL;
    }

    text = olla_anth_get(b, "text");

    return olla_jdom_is_string(text) ? text : NULL;
}


/* bytes of a string's value escaped as jansson escapes it */

static size_t
olla_anth_esc_len(const olla_jdom_t *v)
{
    size_t          i, n;
    unsigned char   c;

    if (!(v->flags & OLLA_JDOM_ESCAPED)) {
        /* the input's text, which had nothing to escape */
        return v->len;
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
olla_anth_check(const olla_jdom_t *root, char *err, size_t errlen)
{
    size_t              i;
    double              d;
    const olla_jdom_t  *v;

    v = olla_anth_get(root, "model");
    if (!olla_anth_nonempty(v)) {
        olla_anth_err(err, errlen, "model must be a non-empty string");
        return -1;
    }

    for (i = 0; i < v->len; i++) {
        if ((unsigned char) v->u.str[i] < 0x20 || v->u.str[i] == 0x7f) {
            olla_anth_err(err, errlen,
                          "model must not contain control characters");
            return -1;
        }
    }

    v = olla_anth_get(root, "messages");
    if (!olla_jdom_is_array(v) || v->len == 0) {
        olla_anth_err(err, errlen, "messages must be a non-empty array");
        return -1;
    }

    v = olla_anth_get(root, "max_tokens");
    if (!olla_jdom_is_integer(v) || olla_jdom_int(v) < 1) {
        olla_anth_err(err, errlen, "max_tokens must be an integer >= 1");
        return -1;
    }

    v = olla_anth_optl(root, "temperature");
    if (v != NULL) {
        d = olla_jdom_double(v);

        if (!olla_jdom_is_number(v) || d < 0 || d > 2) {
            olla_anth_err(err, errlen,
                          "temperature must be a number between 0 and 2");
            return -1;
        }
    }

    v = olla_anth_optl(root, "top_p");
    if (v != NULL) {
        d = olla_jdom_double(v);

        if (!olla_jdom_is_number(v) || d < 0 || d > 1) {
            olla_anth_err(err, errlen,
                          "top_p must be a number between 0 and 1");
            return -1;
        }
    }

    v = olla_anth_optl(root, "top_k");
    if (v != NULL && (!olla_jdom_is_integer(v) || olla_jdom_int(v) < 0)) {
        olla_anth_err(err, errlen, "top_k must be an integer >= 0");
        return -1;
    }

    v = olla_anth_optl(root, "stream");
    if (v != NULL && !olla_jdom_is_boolean(v)) {
        olla_anth_err(err, errlen, "stream must be a boolean");
        return -1;
    }

    return 0;
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
    char                arena[OLLA_ANTH_ARENA];
    olla_jdom_doc_t     doc;
    const olla_jdom_t  *root;

    olla_jdom_init(&doc, arena, sizeof(arena));

    root = olla_anth_load(&doc, body, len, "request body", err, errlen);

    if (root != NULL) {
        *tokens = olla_anth_estimate(root);
    }

    olla_jdom_free(&doc);

    return root ? 0 : -1;
}



/* ------------------------------------------------------------------ */
/* request: Anthropic Messages -> OpenAI chat completion               */


int
olla_anth_request_to_openai(const char *body, size_t len, char **out,
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

    r.nmsgs = 0;
    r.err = err;
    r.errlen = errlen;
    olla_jout_init(&r.out, 0);
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
    olla_jout_value(&r->tmp, v);

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
    size_t              i, n, joined;
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

        if (t == NULL || t->len == 0
            || olla_anth_prefix_ci(t->u.str, t->len, OLLA_ANTH_BILLING))
        {
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
            olla_jout_add(o, c->u.str, c->len);

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
            olla_jout_add(o, t->u.str, t->len);

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
            olla_jout_value(o, v);

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



/* ------------------------------------------------------------------ */
/* response: OpenAI chat completion -> Anthropic message               */


/*
 * finish_reason -> stop_reason.  content_filter becomes "refusal", the
 * stop reason Anthropic's API gives when its safety filter ends a reply.
 * A reply that carries tool calls but says "stop" (or nothing) is a
 * tool_use turn: clients run tools only on stop_reason "tool_use".
 */

static const char *
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

static const char *
olla_anth_finish_norm(const olla_jdom_t *v)
{
    size_t              i;
    static const char  *known[] = {
        "length", "tool_calls", "function_call", "content_filter"
    };

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (olla_anth_str_is(v, known[i], strlen(known[i]))) {
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


static int
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

static void
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
    olla_abuf_t  b;

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


/* ------------------------------------------------------------------ */
/* errors                                                              */


const char *
olla_anth_error_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 408:
    case 504:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    default:
        return "api_error";
    }
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

static int
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

static int
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
olla_anth_error_build(int status, const char *type, const char *message,
    size_t mlen, const char *request_id, size_t *outlen)
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

    return olla_anth_error_build(status, olla_anth_error_type(status),
                                 message, strlen(message), request_id,
                                 outlen);
}


char *
olla_anth_error_from_backend(int status, const char *body, size_t len,
    const char *request_id, size_t *outlen)
{
    int               r, rc;
    char             *res, dflt[64], arena[OLLA_ANTH_SMALL_ARENA];
    olla_abuf_t       msg;
    olla_jdom_doc_t   doc;

    memset(&msg, 0, sizeof(olla_abuf_t));
    r = 0;

    if (body != NULL && len) {
        olla_jdom_init(&doc, arena, sizeof(arena));

        rc = olla_jdom_parse(&doc, body, len);

        if (rc == OLLA_JDOM_OK) {
            r = olla_anth_error_message(doc.root, &msg, NULL);
        }

        olla_jdom_free(&doc);

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
        res = olla_anth_error_build(status, olla_anth_error_type(status),
                                    dflt, strlen(dflt), request_id, outlen);

    } else {
        res = olla_anth_error_build(status, olla_anth_error_type(status),
                                    msg.p, msg.len, request_id, outlen);
    }

    olla_abuf_free(&msg);

    return res;
}


/* ------------------------------------------------------------------ */
/* streaming: OpenAI SSE -> Anthropic SSE                              */

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

    unsigned            started:1;
    unsigned            saw_finish:1;
    unsigned            ev_error:1;    /* "event: error" before data */
    unsigned            done:1;
    unsigned            failed:1;
};


static int olla_anth_stream_line(void *data, const char *line, size_t len);
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


/*
 * One SSE line.  "data:" lines carry the chunks; "event: error" makes
 * the next data (or the end of the event) an error, and so does an
 * "error:" line (llama.cpp's server writes those); comments and other
 * fields are ignored.
 */

static int
olla_anth_stream_line(void *data, const char *line, size_t len)
{
    size_t               flen, vlen;
    const char          *colon, *v;
    olla_anth_stream_t  *s;

    s = data;

    if (s->done) {
        return 1;
    }

    if (len == 0) {
        if (s->ev_error) {
            s->ev_error = 0;
            (void) olla_anth_stream_upstream_error(s, NULL, NULL, 0);
        }

        return s->done;
    }

    if (line[0] == ':') {
        return 0;
    }

    colon = memchr(line, ':', len);

    if (colon) {
        flen = (size_t) (colon - line);
        v = colon + 1;
        vlen = len - flen - 1;

        if (vlen && *v == ' ') {
            v++;
            vlen--;
        }

    } else {
        flen = len;
        v = line + len;
        vlen = 0;
    }

    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (s->ev_error) {
            s->ev_error = 0;
            (void) olla_anth_stream_upstream_error(s, NULL, v, vlen);

        } else {
            (void) olla_anth_stream_data(s, v, vlen);
        }

    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        s->ev_error = (vlen == 5 && memcmp(v, "error", 5) == 0);

    } else if (flen == 5 && memcmp(line, "error", 5) == 0) {
        (void) olla_anth_stream_upstream_error(s, NULL, v, vlen);
    }

    return s->done;
}


static int
olla_anth_stream_data(olla_anth_stream_t *s, const char *v, size_t n)
{
    int                 rc;
    size_t              k;
    const char         *p;
    const olla_jdom_t  *root;

    p = v;
    k = n;

    while (k && (*p == ' ' || *p == '\t')) {
        p++;
        k--;
    }

    while (k && (p[k - 1] == ' ' || p[k - 1] == '\t')) {
        k--;
    }

    if (k == 6 && memcmp(p, "[DONE]", 6) == 0) {
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
