
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Anthropic Messages API <-> OpenAI chat completions, with jansson.
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
 * Numbers are written with 15 significant digits, so 0.7 stays 0.7.
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "olla_sse.h"
#include "olla_anthropic.h"


#define OLLA_ANTH_DUMP_FLAGS   (JSON_COMPACT | JSON_REAL_PRECISION(15))
#define OLLA_ANTH_LOAD_FLAGS   JSON_ALLOW_NUL
#define OLLA_ANTH_OOM(jerr)                                                  \
    (json_error_code(&(jerr)) == json_error_out_of_memory)

#define OLLA_ANTH_ID_CHARS     24
#define OLLA_ANTH_DEFAULT_MAX  (1024 * 1024)
#define OLLA_ANTH_OUT_KEEP     (64 * 1024)
#define OLLA_ANTH_TEXT_ERRMAX  200
#define OLLA_ANTH_JSON_ERRMAX  1024

#define OLLA_ANTH_BILLING      "x-anthropic-billing-header:"


/* a growable byte buffer, malloc'd */
typedef struct {
    char      *p;
    size_t     len;
    size_t     cap;
} olla_abuf_t;


static int olla_abuf_add(olla_abuf_t *b, const char *p, size_t n);
static int olla_abuf_str(olla_abuf_t *b, const char *s);
static int olla_abuf_dump_cb(const char *buffer, size_t size, void *data);
static int olla_abuf_json(olla_abuf_t *b, json_t *v, size_t flags);
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

static json_t *olla_anth_load(const char *body, size_t len, const char *what,
    char *err, size_t errlen);
static json_t *olla_anth_opt(json_t *obj, const char *key);
static const char *olla_anth_block_type(json_t *b);
static const char *olla_anth_block_text(json_t *b, size_t *len);
static size_t olla_anth_json_len(json_t *v);
static size_t olla_anth_block_chars(json_t *b);
static size_t olla_anth_content_chars(json_t *c);
static long olla_anth_estimate(json_t *root);
static int olla_anth_check(json_t *root, char *err, size_t errlen);
static int olla_anth_info_fill(json_t *root, olla_anth_info_t *info);

static int olla_anth_system(json_t *out, json_t *system, char *err,
    size_t errlen);
static int olla_anth_message(json_t *out, json_t *m, size_t i, char *err,
    size_t errlen);
static int olla_anth_user_blocks(json_t *out, const char *role,
    json_t *blocks);
static int olla_anth_assistant_blocks(json_t *out, json_t *blocks);
static json_t *olla_anth_tool_result(json_t *b);
static int olla_anth_image(json_t *b, json_t **part);
static int olla_anth_tools(json_t *req, json_t *root, char *err,
    size_t errlen);
static int olla_anth_tool_choice(json_t *tc, json_t **choice, int *parallel,
    char *err, size_t errlen);

static uint64_t olla_anth_rand(void);
static json_t *olla_anth_usage_json(json_int_t in, json_int_t cached,
    json_int_t out);
static json_t *olla_anth_cstring(const char *s);
static const char *olla_anth_known_type(const char *type);
static const char *olla_anth_stop_reason(const char *finish, int tools);
static json_t *olla_anth_args_object(json_t *args);
static int olla_anth_usage(json_t *usage, json_int_t *in, json_int_t *out,
    json_int_t *cached, int *have_in, int *have_out);
static int olla_anth_error_message(json_t *v, olla_abuf_t *msg,
    const char **type);
static int olla_anth_text_message(const char *body, size_t len,
    olla_abuf_t *msg);
static char *olla_anth_error_build(int status, const char *type,
    const char *message, size_t mlen, const char *request_id,
    size_t *outlen);


#define olla_anth_nomem(err, errlen)                                         \
    olla_anth_err(err, errlen, "out of memory")


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

        nb = realloc(b->p, cap);
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


static int
olla_abuf_str(olla_abuf_t *b, const char *s)
{
    return olla_abuf_add(b, s, strlen(s));
}


static int
olla_abuf_dump_cb(const char *buffer, size_t size, void *data)
{
    return olla_abuf_add(data, buffer, size);
}


static int
olla_abuf_json(olla_abuf_t *b, json_t *v, size_t flags)
{
    return json_dump_callback(v, olla_abuf_dump_cb, b,
                              flags | JSON_ENCODE_ANY);
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

    s = malloc(n + 1);
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


static json_t *
olla_anth_load(const char *body, size_t len, const char *what, char *err,
    size_t errlen)
{
    size_t         i;
    json_t        *root;
    json_error_t   jerr;

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

    root = json_loadb(body, len, JSON_DECODE_ANY | OLLA_ANTH_LOAD_FLAGS,
                      &jerr);
    if (root == NULL) {
        if (OLLA_ANTH_OOM(jerr)) {
            olla_anth_nomem(err, errlen);
            return NULL;
        }

        olla_anth_err(err, errlen,
                      "%s is not valid JSON: %s at line %d column %d",
                      what, jerr.text, jerr.line, jerr.column);
        return NULL;
    }

    if (!json_is_object(root)) {
        json_decref(root);
        olla_anth_err(err, errlen, "%s must be a JSON object", what);
        return NULL;
    }

    return root;
}


static const char *
olla_anth_block_type(json_t *b)
{
    const char  *type;

    if (!json_is_object(b)) {
        return "";
    }

    type = json_string_value(json_object_get(b, "type"));

    return type ? type : "";
}


/* the text of a "text" block (or of a block without a type), or NULL */

static const char *
olla_anth_block_text(json_t *b, size_t *len)
{
    json_t  *text, *type;

    if (!json_is_object(b)) {
        return NULL;
    }

    type = json_object_get(b, "type");
    if (type != NULL && !json_is_null(type)
        && (!json_is_string(type)
            || strcmp(json_string_value(type), "text") != 0))
    {
        return NULL;
    }

    text = json_object_get(b, "text");
    if (!json_is_string(text)) {
        return NULL;
    }

    *len = json_string_length(text);

    return json_string_value(text);
}


/* bytes of the compact JSON text of v (keys sorted, as Go marshals it) */

static size_t
olla_anth_json_len(json_t *v)
{
    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    return json_dumpb(v, NULL, 0,
                      JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}


/*
 * count_tokens, after Olla (reference/olla-anthropic.md 4): text blocks
 * count their text; tool_result its string content or its nested blocks;
 * tool_use its name and its input as compact JSON; anything else 0.
 */

static size_t
olla_anth_block_chars(json_t *b)
{
    size_t       n;
    json_t      *v;
    const char  *type;

    if (olla_anth_block_text(b, &n) != NULL) {
        return n;
    }

    type = olla_anth_block_type(b);

    if (strcmp(type, "tool_result") == 0) {
        return olla_anth_content_chars(json_object_get(b, "content"));
    }

    if (strcmp(type, "tool_use") == 0) {
        n = 0;

        v = json_object_get(b, "name");
        if (json_is_string(v)) {
            n += json_string_length(v);
        }

        return n + olla_anth_json_len(json_object_get(b, "input"));
    }

    return 0;
}


static size_t
olla_anth_content_chars(json_t *c)
{
    size_t   i, n;
    json_t  *b;

    if (json_is_string(c)) {
        return json_string_length(c);
    }

    if (json_is_object(c)) {
        return olla_anth_block_chars(c);
    }

    n = 0;

    json_array_foreach(c, i, b) {
        n += olla_anth_block_chars(b);
    }

    return n;
}


static long
olla_anth_estimate(json_t *root)
{
    size_t   i, n;
    json_t  *v, *e, *f;

    n = olla_anth_content_chars(json_object_get(root, "system"));

    v = json_object_get(root, "messages");

    json_array_foreach(v, i, e) {
        if (json_is_object(e)) {
            n += olla_anth_content_chars(json_object_get(e, "content"));
        }
    }

    v = json_object_get(root, "tools");

    json_array_foreach(v, i, e) {
        if (!json_is_object(e)) {
            continue;
        }

        f = json_object_get(e, "name");
        if (json_is_string(f)) {
            n += json_string_length(f);
        }

        f = json_object_get(e, "description");
        if (json_is_string(f)) {
            n += json_string_length(f);
        }

        n += olla_anth_json_len(json_object_get(e, "input_schema"));
    }

    n /= 4;

    if (n < 1) {
        n = 1;
    }

    return (n > (size_t) 0x7fffffff) ? 0x7fffffffL : (long) n;
}


/* optional members: absent and null are the same */

static json_t *
olla_anth_opt(json_t *obj, const char *key)
{
    json_t  *v;

    v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}


static int
olla_anth_check(json_t *root, char *err, size_t errlen)
{
    size_t       i, n;
    double       d;
    json_t      *v;
    const char  *s;

    v = json_object_get(root, "model");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        olla_anth_err(err, errlen, "model must be a non-empty string");
        return -1;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    for (i = 0; i < n; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            olla_anth_err(err, errlen,
                          "model must not contain control characters");
            return -1;
        }
    }

    v = json_object_get(root, "messages");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        olla_anth_err(err, errlen, "messages must be a non-empty array");
        return -1;
    }

    v = json_object_get(root, "max_tokens");
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        olla_anth_err(err, errlen, "max_tokens must be an integer >= 1");
        return -1;
    }

    v = olla_anth_opt(root, "temperature");
    if (v != NULL) {
        d = json_number_value(v);

        if (!json_is_number(v) || d < 0 || d > 2) {
            olla_anth_err(err, errlen,
                          "temperature must be a number between 0 and 2");
            return -1;
        }
    }

    v = olla_anth_opt(root, "top_p");
    if (v != NULL) {
        d = json_number_value(v);

        if (!json_is_number(v) || d < 0 || d > 1) {
            olla_anth_err(err, errlen,
                          "top_p must be a number between 0 and 1");
            return -1;
        }
    }

    v = olla_anth_opt(root, "top_k");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        olla_anth_err(err, errlen, "top_k must be an integer >= 0");
        return -1;
    }

    v = olla_anth_opt(root, "stream");
    if (v != NULL && !json_is_boolean(v)) {
        olla_anth_err(err, errlen, "stream must be a boolean");
        return -1;
    }

    return 0;
}


static int
olla_anth_info_fill(json_t *root, olla_anth_info_t *info)
{
    json_t  *v;

    if (info == NULL) {
        return 0;
    }

    v = json_object_get(root, "model");

    info->model = olla_anth_strndup(json_string_value(v),
                                    json_string_length(v));
    if (info->model == NULL) {
        return -1;
    }

    info->stream = json_is_true(json_object_get(root, "stream"));
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
    json_t  *root;

    if (info) {
        memset(info, 0, sizeof(olla_anth_info_t));
    }

    root = olla_anth_load(body, len, "request body", err, errlen);
    if (root == NULL) {
        return -1;
    }

    if (olla_anth_check(root, err, errlen) != 0) {
        json_decref(root);
        return -1;
    }

    if (olla_anth_info_fill(root, info) != 0) {
        json_decref(root);
        olla_anth_nomem(err, errlen);
        return -1;
    }

    json_decref(root);

    return 0;
}


int
olla_anth_count_tokens(const char *body, size_t len, long *tokens,
    char *err, size_t errlen)
{
    json_t  *root;

    root = olla_anth_load(body, len, "request body", err, errlen);
    if (root == NULL) {
        return -1;
    }

    *tokens = olla_anth_estimate(root);

    json_decref(root);

    return 0;
}


/* ------------------------------------------------------------------ */
/* request: Anthropic Messages -> OpenAI chat completion               */


int
olla_anth_request_to_openai(const char *body, size_t len, char **out,
    size_t *outlen, olla_anth_info_t *info, char *err, size_t errlen)
{
    size_t        i;
    json_t       *root, *req, *msgs, *v, *e, *stop;
    olla_abuf_t   b;

    *out = NULL;

    if (outlen) {
        *outlen = 0;
    }

    if (info) {
        memset(info, 0, sizeof(olla_anth_info_t));
    }

    root = olla_anth_load(body, len, "request body", err, errlen);
    if (root == NULL) {
        return -1;
    }

    req = NULL;

    if (olla_anth_check(root, err, errlen) != 0) {
        goto failed;
    }

    req = json_object();

    if (req == NULL
        || json_object_set(req, "model", json_object_get(root, "model"))
        || json_object_set_new(req, "messages", json_array()))
    {
        goto nomem;
    }

    msgs = json_object_get(req, "messages");

    if (olla_anth_system(msgs, olla_anth_opt(root, "system"), err, errlen)
        != 0)
    {
        goto failed;
    }

    json_array_foreach(json_object_get(root, "messages"), i, e) {
        if (olla_anth_message(msgs, e, i, err, errlen) != 0) {
            goto failed;
        }
    }

    if (json_object_set(req, "max_tokens",
                        json_object_get(root, "max_tokens")))
    {
        goto nomem;
    }

    v = olla_anth_opt(root, "temperature");
    if (v && json_object_set(req, "temperature", v)) {
        goto nomem;
    }

    v = olla_anth_opt(root, "top_p");
    if (v && json_object_set(req, "top_p", v)) {
        goto nomem;
    }

    v = olla_anth_opt(root, "stop_sequences");
    if (v != NULL) {
        if (!json_is_array(v)) {
            olla_anth_err(err, errlen,
                          "stop_sequences must be an array of strings");
            goto failed;
        }

        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                olla_anth_err(err, errlen,
                              "stop_sequences must be an array of strings");
                goto failed;
            }
        }

        if (json_array_size(v)) {
            stop = json_deep_copy(v);
            if (stop == NULL || json_object_set_new(req, "stop", stop)) {
                goto nomem;
            }
        }
    }

    if (json_is_true(json_object_get(root, "stream"))) {
        if (json_object_set_new(req, "stream", json_true())
            || json_object_set_new(req, "stream_options",
                                   json_pack("{s:b}", "include_usage", 1)))
        {
            goto nomem;
        }

    } else if (json_object_set_new(req, "stream", json_false())) {
        goto nomem;
    }

    if (olla_anth_tools(req, root, err, errlen) != 0) {
        goto failed;
    }

    v = olla_anth_opt(root, "metadata");
    v = json_object_get(v, "user_id");

    if (json_is_string(v) && json_string_length(v)
        && json_object_set(req, "user", v))
    {
        goto nomem;
    }

    memset(&b, 0, sizeof(olla_abuf_t));

    if (olla_abuf_json(&b, req, OLLA_ANTH_DUMP_FLAGS) != 0) {
        olla_abuf_free(&b);
        goto nomem;
    }

    if (olla_anth_info_fill(root, info) != 0) {
        olla_abuf_free(&b);
        goto nomem;
    }

    json_decref(req);
    json_decref(root);

    *out = b.p;

    if (outlen) {
        *outlen = b.len;
    }

    return 0;

nomem:

    olla_anth_nomem(err, errlen);

failed:

    json_decref(req);
    json_decref(root);

    return -1;
}


/*
 * system: a string, or text blocks joined with "\n".  Claude Code's
 * attribution block ("x-anthropic-billing-header: ...cch=...") is left
 * out: it means nothing to a local model and, when it changes between
 * requests, it defeats the backend's prompt cache.
 */

static int
olla_anth_system(json_t *out, json_t *system, char *err, size_t errlen)
{
    size_t        i, n;
    json_t       *e, *blocks, *m;
    const char   *t;
    olla_abuf_t   b;

    if (system == NULL) {
        return 0;
    }

    if (json_is_string(system)) {
        if (json_string_length(system) == 0) {
            return 0;
        }

        m = json_pack("{s:s,s:O}", "role", "system", "content", system);
        if (m == NULL || json_array_append_new(out, m)) {
            olla_anth_nomem(err, errlen);
            return -1;
        }

        return 0;
    }

    if (json_is_object(system)) {
        blocks = json_pack("[O]", system);
        if (blocks == NULL) {
            olla_anth_nomem(err, errlen);
            return -1;
        }

    } else if (json_is_array(system)) {
        blocks = json_incref(system);

    } else {
        olla_anth_err(err, errlen,
                      "system must be a string or an array of text blocks");
        return -1;
    }

    memset(&b, 0, sizeof(olla_abuf_t));

    json_array_foreach(blocks, i, e) {
        t = olla_anth_block_text(e, &n);

        if (t == NULL || n == 0
            || olla_anth_prefix_ci(t, n, OLLA_ANTH_BILLING))
        {
            continue;
        }

        if ((b.len && olla_abuf_add(&b, "\n", 1))
            || olla_abuf_add(&b, t, n))
        {
            goto nomem;
        }
    }

    json_decref(blocks);
    blocks = NULL;

    if (b.len) {
        m = json_pack("{s:s,s:s%}", "role", "system", "content", b.p, b.len);
        if (m == NULL || json_array_append_new(out, m)) {
            goto nomem;
        }
    }

    olla_abuf_free(&b);

    return 0;

nomem:

    json_decref(blocks);
    olla_abuf_free(&b);
    olla_anth_nomem(err, errlen);

    return -1;
}


static int
olla_anth_message(json_t *out, json_t *m, size_t i, char *err,
    size_t errlen)
{
    int          rc;
    json_t      *role, *content, *blocks, *msg;
    const char  *r;

    if (!json_is_object(m)) {
        olla_anth_err(err, errlen, "messages[%zu] must be an object", i);
        return -1;
    }

    role = json_object_get(m, "role");
    if (!json_is_string(role) || json_string_length(role) == 0) {
        olla_anth_err(err, errlen,
                      "messages[%zu].role must be a non-empty string", i);
        return -1;
    }

    r = json_string_value(role);
    content = json_object_get(m, "content");

    if (json_is_string(content)) {
        if (json_string_length(content) == 0) {
            return 0;
        }

        msg = json_pack("{s:O,s:O}", "role", role, "content", content);
        if (msg == NULL || json_array_append_new(out, msg)) {
            olla_anth_nomem(err, errlen);
            return -1;
        }

        return 0;
    }

    if (json_is_object(content)) {
        blocks = json_pack("[O]", content);
        if (blocks == NULL) {
            olla_anth_nomem(err, errlen);
            return -1;
        }

    } else if (json_is_array(content)) {
        blocks = json_incref(content);

    } else {
        olla_anth_err(err, errlen,
                      "messages[%zu].content must be a string or an array "
                      "of content blocks", i);
        return -1;
    }

    if (strcmp(r, "assistant") == 0) {
        rc = olla_anth_assistant_blocks(out, blocks);

    } else {
        rc = olla_anth_user_blocks(out, r, blocks);
    }

    json_decref(blocks);

    if (rc != 0) {
        olla_anth_nomem(err, errlen);
        return -1;
    }

    return 0;
}


/*
 * A user message's blocks: each tool_result becomes a "tool" message, put
 * first so that they follow the assistant's tool_calls; text and images
 * then make one user message, a plain string when it is one text alone,
 * else OpenAI content parts.  Other blocks are ignored.
 */

static int
olla_anth_user_blocks(json_t *out, const char *role, json_t *blocks)
{
    size_t       i, n, ntext;
    json_t      *b, *parts, *part, *msg, *text;
    const char  *t, *type;

    parts = json_array();
    if (parts == NULL) {
        return -1;
    }

    ntext = 0;
    text = NULL;

    json_array_foreach(blocks, i, b) {
        type = olla_anth_block_type(b);
        part = NULL;

        if (strcmp(type, "text") == 0) {
            t = olla_anth_block_text(b, &n);
            if (t == NULL || n == 0) {
                continue;
            }

            text = json_object_get(b, "text");
            part = json_pack("{s:s,s:O}", "type", "text", "text", text);
            ntext++;

        } else if (strcmp(type, "image") == 0) {
            if (olla_anth_image(b, &part) != 0) {
                goto failed;
            }

            if (part == NULL) {
                continue;
            }

        } else if (strcmp(type, "tool_result") == 0) {
            msg = olla_anth_tool_result(b);
            if (msg == NULL || json_array_append_new(out, msg)) {
                goto failed;
            }

            continue;

        } else {
            continue;
        }

        if (part == NULL || json_array_append_new(parts, part)) {
            goto failed;
        }
    }

    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return 0;
    }

    if (json_array_size(parts) == 1 && ntext == 1) {
        msg = json_pack("{s:s,s:O}", "role", role, "content", text);
        json_decref(parts);

    } else {
        msg = json_pack("{s:s,s:o}", "role", role, "content", parts);
    }

    if (msg == NULL || json_array_append_new(out, msg)) {
        return -1;
    }

    return 0;

failed:

    json_decref(parts);

    return -1;
}


/*
 * An image block -> {"type":"image_url","image_url":{"url":...}}: a data
 * URL for a base64 source, the URL itself for a url source.  *part is
 * NULL for an image that cannot be expressed (it is left out).  Returns
 * -1 when out of memory.
 */

static int
olla_anth_image(json_t *b, json_t **part)
{
    json_t       *src, *url, *media, *data;
    const char   *type;
    olla_abuf_t   u;

    *part = NULL;

    src = json_object_get(b, "source");
    type = olla_anth_block_type(src);

    if (strcmp(type, "url") == 0) {
        url = json_object_get(src, "url");
        if (!json_is_string(url) || json_string_length(url) == 0) {
            return 0;
        }

        *part = json_pack("{s:s,s:{s:O}}", "type", "image_url",
                          "image_url", "url", url);

        return *part ? 0 : -1;
    }

    if (strcmp(type, "base64") != 0) {
        return 0;
    }

    media = json_object_get(src, "media_type");
    data = json_object_get(src, "data");

    if (!json_is_string(media) || !json_is_string(data)
        || json_string_length(data) == 0)
    {
        return 0;
    }

    memset(&u, 0, sizeof(olla_abuf_t));

    if (olla_abuf_str(&u, "data:")
        || olla_abuf_add(&u, json_string_value(media),
                         json_string_length(media))
        || olla_abuf_str(&u, ";base64,")
        || olla_abuf_add(&u, json_string_value(data),
                         json_string_length(data)))
    {
        olla_abuf_free(&u);
        return -1;
    }

    *part = json_pack("{s:s,s:{s:s%}}", "type", "image_url",
                      "image_url", "url", u.p, u.len);

    olla_abuf_free(&u);

    return *part ? 0 : -1;
}


/*
 * tool_result -> {"role":"tool","tool_call_id":...,"content":...}: string
 * content as it is, blocks as their texts joined with "\n", any other
 * value as its JSON text; is_error prefixes "Error: " unless the text
 * already starts with "error".
 */

static json_t *
olla_anth_tool_result(json_t *b)
{
    size_t        i, n;
    json_t       *c, *e, *id, *msg;
    const char   *t;
    olla_abuf_t   s;

    memset(&s, 0, sizeof(olla_abuf_t));

    if (olla_abuf_add(&s, "", 0) != 0) {
        return NULL;
    }

    c = json_object_get(b, "content");

    if (json_is_string(c)) {
        if (olla_abuf_add(&s, json_string_value(c), json_string_length(c))) {
            goto failed;
        }

    } else if (json_is_array(c)) {
        n = 0;

        json_array_foreach(c, i, e) {
            t = olla_anth_block_text(e, &n);
            if (t == NULL) {
                continue;
            }

            if ((s.len && olla_abuf_add(&s, "\n", 1))
                || olla_abuf_add(&s, t, n))
            {
                goto failed;
            }
        }

    } else if (c != NULL && !json_is_null(c)) {
        if (olla_abuf_json(&s, c, OLLA_ANTH_DUMP_FLAGS) != 0) {
            goto failed;
        }
    }

    if (json_is_true(json_object_get(b, "is_error"))
        && !olla_anth_prefix_ci(s.p, s.len, "error"))
    {
        if (olla_abuf_add(&s, "Error: ", 7) != 0) {
            goto failed;
        }

        memmove(s.p + 7, s.p, s.len - 7);
        memcpy(s.p, "Error: ", 7);
    }

    id = json_object_get(b, "tool_use_id");

    msg = json_pack("{s:s,s:s,s:s%}", "role", "tool",
                    "tool_call_id", json_is_string(id)
                                    ? json_string_value(id) : "",
                    "content", s.p, s.len);

    olla_abuf_free(&s);

    return msg;

failed:

    olla_abuf_free(&s);

    return NULL;
}


/*
 * An assistant message's blocks: texts joined with "\n" make "content"
 * (null when there is none), tool_use blocks make "tool_calls"; thinking,
 * redacted_thinking and anything else are dropped, and so is a message
 * left with nothing.
 */

static int
olla_anth_assistant_blocks(json_t *out, json_t *blocks)
{
    size_t        i, n;
    json_t       *b, *calls, *call, *id, *name, *input, *msg, *content;
    const char   *t, *type;
    olla_abuf_t   text, args;

    calls = json_array();
    if (calls == NULL) {
        return -1;
    }

    memset(&text, 0, sizeof(olla_abuf_t));
    memset(&args, 0, sizeof(olla_abuf_t));

    json_array_foreach(blocks, i, b) {
        type = olla_anth_block_type(b);

        if (strcmp(type, "text") == 0) {
            t = olla_anth_block_text(b, &n);
            if (t == NULL || n == 0) {
                continue;
            }

            if ((text.len && olla_abuf_add(&text, "\n", 1))
                || olla_abuf_add(&text, t, n))
            {
                goto failed;
            }

            continue;
        }

        if (strcmp(type, "tool_use") != 0) {
            continue;
        }

        id = json_object_get(b, "id");
        name = json_object_get(b, "name");

        if (!json_is_string(id) || json_string_length(id) == 0
            || !json_is_string(name) || json_string_length(name) == 0)
        {
            continue;
        }

        input = olla_anth_opt(b, "input");
        args.len = 0;

        if (input == NULL) {
            if (olla_abuf_str(&args, "{}") != 0) {
                goto failed;
            }

        } else if (olla_abuf_json(&args, input, OLLA_ANTH_DUMP_FLAGS) != 0) {
            goto failed;
        }

        call = json_pack("{s:O,s:s,s:{s:O,s:s%}}", "id", id,
                         "type", "function", "function", "name", name,
                         "arguments", args.p, args.len);

        if (call == NULL || json_array_append_new(calls, call)) {
            goto failed;
        }
    }

    olla_abuf_free(&args);

    if (text.len == 0 && json_array_size(calls) == 0) {
        json_decref(calls);
        return 0;
    }

    if (text.len) {
        content = json_stringn(text.p, text.len);
        if (content == NULL) {
            goto failed;
        }

    } else {
        content = json_null();
    }

    msg = json_pack("{s:s,s:o}", "role", "assistant", "content", content);
    if (msg == NULL) {
        goto failed;
    }

    if (json_array_size(calls)) {
        if (json_object_set_new(msg, "tool_calls", calls)) {
            calls = NULL;
            json_decref(msg);
            goto failed;
        }

    } else {
        json_decref(calls);
    }

    calls = NULL;

    if (json_array_append_new(out, msg)) {
        goto failed;
    }

    olla_abuf_free(&text);

    return 0;

failed:

    json_decref(calls);
    olla_abuf_free(&text);
    olla_abuf_free(&args);

    return -1;
}


/*
 * tools -> OpenAI function tools.  Anthropic's own server tools (a "type"
 * other than "custom": web_search_..., bash_..., text_editor_...) are left
 * out: a local model cannot run them and the client does not run them
 * either.  tool_choice goes along only when some tool does.
 */

static int
olla_anth_tools(json_t *req, json_t *root, char *err, size_t errlen)
{
    int          parallel;
    size_t       i;
    json_t      *tools, *out, *t, *name, *desc, *schema, *fn, *tool, *choice;
    const char  *type;

    choice = NULL;
    parallel = 1;

    if (olla_anth_tool_choice(olla_anth_opt(root, "tool_choice"), &choice,
                              &parallel, err, errlen)
        != 0)
    {
        return -1;
    }

    tools = olla_anth_opt(root, "tools");

    if (tools == NULL) {
        json_decref(choice);
        return 0;
    }

    if (!json_is_array(tools)) {
        json_decref(choice);
        olla_anth_err(err, errlen, "tools must be an array");
        return -1;
    }

    out = json_array();
    if (out == NULL) {
        goto nomem;
    }

    json_array_foreach(tools, i, t) {
        if (!json_is_object(t)) {
            olla_anth_err(err, errlen, "tools[%zu] must be an object", i);
            goto failed;
        }

        type = json_string_value(json_object_get(t, "type"));
        if (type != NULL && strcmp(type, "custom") != 0) {
            continue;
        }

        name = json_object_get(t, "name");
        if (!json_is_string(name) || json_string_length(name) == 0) {
            olla_anth_err(err, errlen,
                          "tools[%zu].name must be a non-empty string", i);
            goto failed;
        }

        fn = json_pack("{s:O}", "name", name);
        if (fn == NULL) {
            goto nomem;
        }

        desc = json_object_get(t, "description");
        if (json_is_string(desc) && json_object_set(fn, "description", desc))
        {
            json_decref(fn);
            goto nomem;
        }

        schema = json_object_get(t, "input_schema");

        if (json_is_object(schema)) {
            schema = json_incref(schema);

        } else {
            schema = json_pack("{s:s,s:{}}", "type", "object",
                               "properties");
        }

        if (schema == NULL || json_object_set_new(fn, "parameters", schema))
        {
            json_decref(fn);
            goto nomem;
        }

        tool = json_pack("{s:s,s:o}", "type", "function", "function", fn);
        if (tool == NULL || json_array_append_new(out, tool)) {
            goto nomem;
        }
    }

    if (json_array_size(out) == 0) {
        json_decref(out);
        json_decref(choice);
        return 0;
    }

    if (json_object_set_new(req, "tools", out)) {
        out = NULL;
        goto nomem;
    }

    out = NULL;

    if (choice) {
        if (json_object_set_new(req, "tool_choice", choice)) {
            choice = NULL;
            goto nomem;
        }

        choice = NULL;
    }

    if (!parallel
        && json_object_set_new(req, "parallel_tool_calls", json_false()))
    {
        goto nomem;
    }

    return 0;

nomem:

    olla_anth_nomem(err, errlen);

failed:

    json_decref(out);
    json_decref(choice);

    return -1;
}


/*
 * tool_choice: auto -> "auto", any -> "required", none -> "none" (string
 * or object), {"type":"tool","name":X} -> the function X; an unknown kind
 * is "auto".  disable_parallel_tool_use -> parallel_tool_calls false.
 */

static int
olla_anth_tool_choice(json_t *tc, json_t **choice, int *parallel, char *err,
    size_t errlen)
{
    json_t      *name;
    const char  *type;

    *choice = NULL;

    if (tc == NULL) {
        return 0;
    }

    if (json_is_string(tc)) {
        type = json_string_value(tc);

    } else if (json_is_object(tc)) {
        type = olla_anth_block_type(tc);

        if (json_is_true(json_object_get(tc, "disable_parallel_tool_use"))) {
            *parallel = 0;
        }

    } else {
        olla_anth_err(err, errlen,
                      "tool_choice must be a string or an object");
        return -1;
    }

    if (strcmp(type, "any") == 0) {
        *choice = json_string("required");

    } else if (strcmp(type, "none") == 0) {
        *choice = json_string("none");

    } else if (strcmp(type, "tool") == 0) {
        name = json_object_get(tc, "name");

        if (!json_is_string(name) || json_string_length(name) == 0) {
            olla_anth_err(err, errlen,
                          "tool_choice of type \"tool\" requires a name");
            return -1;
        }

        *choice = json_pack("{s:s,s:{s:O}}", "type", "function",
                            "function", "name", name);

    } else {
        *choice = json_string("auto");
    }

    if (*choice == NULL) {
        olla_anth_nomem(err, errlen);
        return -1;
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


/*
 * tool call arguments (JSON text, or an object) -> an object, {} if not;
 * NULL when out of memory
 */

static json_t *
olla_anth_args_object(json_t *args)
{
    json_t        *v;
    json_error_t   jerr;

    if (json_is_object(args)) {
        return json_incref(args);
    }

    if (json_is_string(args)) {
        v = json_loadb(json_string_value(args), json_string_length(args),
                       OLLA_ANTH_LOAD_FLAGS, &jerr);

        if (v == NULL && OLLA_ANTH_OOM(jerr)) {
            return NULL;
        }

        if (json_is_object(v)) {
            return v;
        }

        json_decref(v);
    }

    return json_object();
}


static int
olla_anth_usage(json_t *usage, json_int_t *in, json_int_t *out,
    json_int_t *cached, int *have_in, int *have_out)
{
    json_t  *v;

    if (!json_is_object(usage)) {
        return 0;
    }

    v = json_object_get(usage, "prompt_tokens");
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *in = json_integer_value(v);
        *have_in = 1;
    }

    v = json_object_get(usage, "completion_tokens");
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        *have_out = 1;
    }

    v = json_object_get(json_object_get(usage, "prompt_tokens_details"),
                        "cached_tokens");
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *cached = json_integer_value(v);
    }

    return 1;
}


/*
 * Anthropic usage: input_tokens excludes the prompt tokens the backend
 * read from its cache (OpenAI's prompt_tokens_details.cached_tokens),
 * which are cache_read_input_tokens, as in Anthropic's own accounting.
 */

static json_t *
olla_anth_usage_json(json_int_t in, json_int_t cached, json_int_t out)
{
    if (cached > in) {
        cached = in;
    }

    return json_pack("{s:I,s:I,s:I,s:I}",
                     "input_tokens", in - cached,
                     "cache_creation_input_tokens", (json_int_t) 0,
                     "cache_read_input_tokens", cached,
                     "output_tokens", out);
}


/* a C string from outside as a JSON string (invalid UTF-8 mended) */

static json_t *
olla_anth_cstring(const char *s)
{
    json_t       *v;
    olla_abuf_t   b;

    memset(&b, 0, sizeof(olla_abuf_t));

    if (olla_abuf_add(&b, "", 0) != 0
        || olla_anth_clean(&b, (const unsigned char *) s, strlen(s),
                           (size_t) -1, 0) != 0)
    {
        olla_abuf_free(&b);
        return NULL;
    }

    v = json_stringn(b.p, b.len);

    olla_abuf_free(&b);

    return v;
}


int
olla_anth_response_from_openai(const char *body, size_t len,
    const char *model, char **out, size_t *outlen, char *err,
    size_t errlen)
{
    int           have_in, have_out, r;
    char          id[sizeof("toolu_") + OLLA_ANTH_ID_CHARS];
    size_t        i, n, ntools;
    json_t       *root, *c, *msg, *content, *v, *fn, *name, *blk, *input;
    json_t       *usage, *mod, *res, *calls;
    json_int_t    in, outt, cached;
    const char   *finish, *t;
    olla_abuf_t   b, text;

    *out = NULL;

    if (outlen) {
        *outlen = 0;
    }

    root = olla_anth_load(body, len, "backend response", err, errlen);
    if (root == NULL) {
        return -1;
    }

    content = NULL;
    memset(&text, 0, sizeof(olla_abuf_t));

    v = olla_anth_opt(root, "error");
    if (v != NULL) {
        r = olla_anth_error_message(root, &text, NULL);
        if (r < 0) {
            goto nomem;
        }

        olla_anth_err(err, errlen, "backend returned an error: %s",
                      r ? text.p : "(no message)");
        goto failed;
    }

    v = json_object_get(root, "choices");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        olla_anth_err(err, errlen, "backend response has no choices");
        goto failed;
    }

    c = json_array_get(v, 0);
    msg = json_object_get(c, "message");

    if (!json_is_object(msg)) {
        olla_anth_err(err, errlen, "backend response has no message");
        goto failed;
    }

    content = json_array();
    if (content == NULL) {
        goto nomem;
    }

    /* thinking */

    v = json_object_get(msg, "reasoning_content");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        v = json_object_get(msg, "reasoning");
    }

    if (json_is_string(v) && json_string_length(v)) {
        blk = json_pack("{s:s,s:O,s:s}", "type", "thinking", "thinking", v,
                        "signature", "");
        if (blk == NULL || json_array_append_new(content, blk)) {
            goto nomem;
        }
    }

    /* text: a string, or content parts; then a refusal */

    v = json_object_get(msg, "content");

    if (json_is_string(v)) {
        if (olla_abuf_add(&text, json_string_value(v), json_string_length(v)))
        {
            goto nomem;
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, fn) {
            t = olla_anth_block_text(fn, &n);
            if (t && olla_abuf_add(&text, t, n)) {
                goto nomem;
            }
        }
    }

    v = json_object_get(msg, "refusal");
    if (json_is_string(v) && json_string_length(v)) {
        if ((text.len && olla_abuf_add(&text, "\n", 1))
            || olla_abuf_add(&text, json_string_value(v),
                             json_string_length(v)))
        {
            goto nomem;
        }
    }

    if (text.len) {
        blk = json_pack("{s:s,s:s%}", "type", "text", "text", text.p,
                        text.len);
        if (blk == NULL || json_array_append_new(content, blk)) {
            goto nomem;
        }
    }

    olla_abuf_free(&text);

    /* tool calls, and the legacy function_call */

    ntools = 0;
    calls = json_object_get(msg, "tool_calls");

    for (i = 0; i <= json_array_size(calls); i++) {
        if (i < json_array_size(calls)) {
            c = json_array_get(calls, i);
            fn = json_object_get(c, "function");
            v = json_object_get(c, "id");

        } else {
            c = NULL;
            fn = json_object_get(msg, "function_call");
            v = NULL;
        }

        name = json_object_get(fn, "name");
        if (!json_is_string(name) || json_string_length(name) == 0) {
            continue;
        }

        if (json_is_string(v) && json_string_length(v)) {
            v = json_incref(v);

        } else {
            olla_anth_gen_id(id, "toolu_");
            v = json_string(id);
        }

        input = olla_anth_args_object(json_object_get(fn, "arguments"));

        blk = json_pack("{s:s,s:o,s:O,s:o}", "type", "tool_use", "id", v,
                        "name", name, "input", input);
        if (blk == NULL || json_array_append_new(content, blk)) {
            goto nomem;
        }

        ntools++;
    }

    if (json_array_size(content) == 0) {
        blk = json_pack("{s:s,s:s}", "type", "text", "text", "");
        if (blk == NULL || json_array_append_new(content, blk)) {
            goto nomem;
        }
    }

    finish = json_string_value(
                 json_object_get(json_array_get(json_object_get(root,
                                                                "choices"),
                                                0),
                                 "finish_reason"));

    in = 0;
    outt = 0;
    cached = 0;
    have_in = 0;
    have_out = 0;

    olla_anth_usage(json_object_get(root, "usage"), &in, &outt, &cached,
                    &have_in, &have_out);

    usage = olla_anth_usage_json(in, cached, outt);

    if (model) {
        mod = olla_anth_cstring(model);

    } else {
        v = json_object_get(root, "model");
        mod = json_is_string(v) ? json_incref(v) : json_string("unknown");
    }

    olla_anth_gen_id(id, "msg_");

    res = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:n,s:o}",
                    "id", id, "type", "message", "role", "assistant",
                    "model", mod, "content", content,
                    "stop_reason", olla_anth_stop_reason(finish, ntools > 0),
                    "stop_sequence", "usage", usage);
    content = NULL;

    if (res == NULL) {
        goto nomem;
    }

    memset(&b, 0, sizeof(olla_abuf_t));

    if (olla_abuf_json(&b, res, OLLA_ANTH_DUMP_FLAGS) != 0) {
        json_decref(res);
        olla_abuf_free(&b);
        goto nomem;
    }

    json_decref(res);
    json_decref(root);

    *out = b.p;

    if (outlen) {
        *outlen = b.len;
    }

    return 0;

nomem:

    olla_anth_nomem(err, errlen);

failed:

    json_decref(content);
    json_decref(root);
    olla_abuf_free(&text);

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


/* an error type a backend named -> an Anthropic error type, or NULL */

static const char *
olla_anth_known_type(const char *type)
{
    size_t              i;
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

    if (type == NULL) {
        return NULL;
    }

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strstr(type, map[i][0]) != NULL) {
            return map[i][1];
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
olla_anth_error_message(json_t *v, olla_abuf_t *msg, const char **type)
{
    json_t      *e, *m, *code;
    const char  *t;

    m = NULL;
    code = NULL;
    t = NULL;

    if (json_is_object(v)) {
        e = json_object_get(v, "error");

        if (json_is_object(e)) {
            m = json_object_get(e, "message");
            code = json_object_get(e, "code");
            t = json_string_value(json_object_get(e, "type"));

        } else if (json_is_string(e)) {
            m = e;
        }

        if (!json_is_string(m) || json_string_length(m) == 0) {
            m = json_object_get(v, "message");
        }

        if (!json_is_string(m) || json_string_length(m) == 0) {
            m = json_object_get(v, "detail");
        }

        if (!json_is_integer(code)) {
            code = json_object_get(v, "code");
        }

        if (!json_is_integer(code)) {
            code = json_object_get(v, "status");
        }

        if (t == NULL && !json_is_object(e)) {
            t = json_string_value(json_object_get(v, "type"));
        }

    } else {
        m = v;
    }

    if (type) {
        *type = NULL;

        if (json_is_integer(code) && json_integer_value(code) >= 400
            && json_integer_value(code) <= 599)
        {
            *type = olla_anth_error_type((int) json_integer_value(code));

        } else {
            *type = olla_anth_known_type(t);
        }
    }

    if (!json_is_string(m) || json_string_length(m) == 0) {
        return 0;
    }

    msg->len = 0;

    if (olla_abuf_add(msg, "", 0) != 0
        || olla_anth_clean(msg, (const unsigned char *) json_string_value(m),
                           json_string_length(m), OLLA_ANTH_JSON_ERRMAX, 1)
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
    json_t       *e, *rid;
    olla_abuf_t   m, b;

    memset(&m, 0, sizeof(olla_abuf_t));
    memset(&b, 0, sizeof(olla_abuf_t));

    if (olla_abuf_add(&m, "", 0) != 0
        || olla_anth_clean(&m, (const unsigned char *) message, mlen,
                           4096, 0) != 0)
    {
        goto failed;
    }

    e = json_pack("{s:s,s:{s:s,s:s%}}", "type", "error", "error",
                  "type", type, "message", m.p, m.len);
    if (e == NULL) {
        goto failed;
    }

    if (request_id != NULL && request_id[0] != '\0') {
        m.len = 0;

        if (olla_anth_clean(&m, (const unsigned char *) request_id,
                            strlen(request_id), 256, 1) != 0)
        {
            json_decref(e);
            goto failed;
        }

        rid = json_stringn(m.p, m.len);

        if (rid == NULL || json_object_set_new(e, "request_id", rid)) {
            json_decref(e);
            goto failed;
        }
    }

    if (olla_abuf_json(&b, e, OLLA_ANTH_DUMP_FLAGS) != 0) {
        json_decref(e);
        goto failed;
    }

    json_decref(e);
    olla_abuf_free(&m);

    if (outlen) {
        *outlen = b.len;
    }

    return b.p;

failed:

    olla_abuf_free(&m);
    olla_abuf_free(&b);

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
    int           r;
    char         *res, dflt[64];
    json_t       *v;
    olla_abuf_t   msg;

    memset(&msg, 0, sizeof(olla_abuf_t));
    r = 0;

    if (body != NULL && len) {
        v = json_loadb(body, len, JSON_DECODE_ANY | OLLA_ANTH_LOAD_FLAGS,
                       NULL);

        if (v != NULL) {
            r = olla_anth_error_message(v, &msg, NULL);
            json_decref(v);

            if (r < 0) {
                olla_abuf_free(&msg);
                return NULL;
            }
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
    json_int_t          index;         /* OpenAI tool_calls[].index */
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
    olla_abuf_t         out;           /* the event being emitted */
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

    json_int_t          input_tokens;  /* the local estimate */
    json_int_t          usage_in;
    json_int_t          usage_out;
    json_int_t          usage_cached;
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
static int olla_anth_stream_chunk(olla_anth_stream_t *s, json_t *root);
static int olla_anth_stream_tool(olla_anth_stream_t *s, json_t *tc);
static int olla_anth_stream_text(olla_anth_stream_t *s, olla_anth_blk_e kind,
    const char *p, size_t n);
static int olla_anth_stream_start(olla_anth_stream_t *s, json_t *chunk);
static int olla_anth_stream_end(olla_anth_stream_t *s);
static int olla_anth_stream_upstream_error(olla_anth_stream_t *s,
    json_t *v, const char *text, size_t n);
static int olla_anth_stream_error(olla_anth_stream_t *s, const char *type,
    const char *msg);
static int olla_anth_stream_nomem(olla_anth_stream_t *s);
static int olla_anth_event(olla_anth_stream_t *s, const char *name,
    json_t *data);
static int olla_anth_block_start(olla_anth_stream_t *s,
    olla_anth_blk_e kind, json_t *block);
static int olla_anth_block_stop(olla_anth_stream_t *s);
static int olla_anth_delta(olla_anth_stream_t *s, const char *type,
    const char *key, const char *p, size_t n);
static int olla_anth_tool_find(olla_anth_stream_t *s, json_int_t index,
    const char *id, int call, size_t *ti);
static int olla_anth_tool_open(olla_anth_stream_t *s, size_t ti);
static int olla_anth_tool_advance(olla_anth_stream_t *s);
static void olla_anth_tool_scan(olla_anth_tool_t *t, const char *p,
    size_t n);
static int olla_anth_hold(olla_anth_stream_t *s, size_t n);
static const char *olla_anth_finish_norm(const char *fr);


olla_anth_stream_t *
olla_anth_stream_new(const char *model, long input_tokens, size_t max_line,
    size_t max_buffered)
{
    olla_abuf_t          m;
    olla_anth_stream_t  *s;

    s = calloc(1, sizeof(olla_anth_stream_t));
    if (s == NULL) {
        return NULL;
    }

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
    olla_abuf_free(&s->out);
    olla_sse_free(&s->sse);
    free(s);
}


size_t
olla_anth_stream_memory(const olla_anth_stream_t *s)
{
    size_t  i, n;

    n = sizeof(olla_anth_stream_t) + s->sse.cap + s->out.cap
        + s->nalloc * sizeof(olla_anth_tool_t);

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
    int            rc;
    size_t         k;
    json_t        *root;
    const char    *p;
    json_error_t   jerr;

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

    root = json_loadb(v, n, OLLA_ANTH_LOAD_FLAGS, &jerr);

    if (root == NULL && OLLA_ANTH_OOM(jerr)) {
        return olla_anth_stream_nomem(s);
    }

    if (!json_is_object(root)) {
        /* not a chunk: skipped */
        json_decref(root);
        return 0;
    }

    if (olla_anth_opt(root, "error") != NULL) {
        rc = olla_anth_stream_upstream_error(s, root, NULL, 0);

    } else {
        rc = olla_anth_stream_chunk(s, root);
    }

    json_decref(root);

    return rc;
}


static int
olla_anth_stream_chunk(olla_anth_stream_t *s, json_t *root)
{
    size_t   i;
    json_t  *usage, *c, *delta, *v, *tc;

    if (olla_anth_stream_start(s, root) != 0) {
        return -1;
    }

    usage = json_object_get(root, "usage");

    if (json_is_object(usage)) {
        s->usage_cached = 0;
        olla_anth_usage(usage, &s->usage_in, &s->usage_out,
                        &s->usage_cached, &s->have_in, &s->have_out);
    }

    c = json_array_get(json_object_get(root, "choices"), 0);
    if (!json_is_object(c)) {
        return 0;
    }

    v = json_object_get(c, "finish_reason");
    if (json_is_string(v) && json_string_length(v)) {
        s->finish = olla_anth_finish_norm(json_string_value(v));
        s->saw_finish = 1;
    }

    delta = json_object_get(c, "delta");
    if (!json_is_object(delta)) {
        return 0;
    }

    v = json_object_get(delta, "reasoning_content");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        v = json_object_get(delta, "reasoning");
    }

    if (json_is_string(v) && json_string_length(v)
        && olla_anth_stream_text(s, OLLA_BLK_THINKING, json_string_value(v),
                                 json_string_length(v)) != 0)
    {
        return -1;
    }

    v = json_object_get(delta, "content");
    if (json_is_string(v) && json_string_length(v)
        && olla_anth_stream_text(s, OLLA_BLK_TEXT, json_string_value(v),
                                 json_string_length(v)) != 0)
    {
        return -1;
    }

    v = json_object_get(delta, "refusal");
    if (json_is_string(v) && json_string_length(v)
        && olla_anth_stream_text(s, OLLA_BLK_TEXT, json_string_value(v),
                                 json_string_length(v)) != 0)
    {
        return -1;
    }

    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc) {
        if (json_is_object(tc) && olla_anth_stream_tool(s, tc) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
olla_anth_stream_text(olla_anth_stream_t *s, olla_anth_blk_e kind,
    const char *p, size_t n)
{
    json_t  *block;

    if (s->open != kind) {
        if (olla_anth_block_stop(s) != 0) {
            return -1;
        }

        if (kind == OLLA_BLK_TEXT) {
            block = json_pack("{s:s,s:s}", "type", "text", "text", "");

        } else {
            block = json_pack("{s:s,s:s,s:s}", "type", "thinking",
                              "thinking", "", "signature", "");
        }

        if (olla_anth_block_start(s, kind, block) != 0) {
            return -1;
        }
    }

    s->out_bytes += n;

    if (kind == OLLA_BLK_TEXT) {
        return olla_anth_delta(s, "text_delta", "text", p, n);
    }

    return olla_anth_delta(s, "thinking_delta", "thinking", p, n);
}


/*
 * One entry of delta.tool_calls.  An entry belongs to the latest tool
 * with its index, unless it starts another call: some servers number
 * every call 0, so a different id, or (without ids) a function name with
 * new arguments after the tool's arguments were complete, is a new call.
 */

static int
olla_anth_stream_tool(olla_anth_stream_t *s, json_t *tc)
{
    int                rc;
    char               msg[128];
    size_t             ti, n, k;
    json_t            *v, *fn;
    json_int_t         index;
    const char        *id, *name, *args;
    olla_abuf_t        tmp;
    olla_anth_tool_t  *t;

    v = json_object_get(tc, "index");
    index = json_is_integer(v) ? json_integer_value(v) : 0;

    id = json_string_value(json_object_get(tc, "id"));
    if (id != NULL && id[0] == '\0') {
        id = NULL;
    }

    fn = json_object_get(tc, "function");

    name = json_string_value(json_object_get(fn, "name"));
    if (name != NULL && name[0] == '\0') {
        name = NULL;
    }

    memset(&tmp, 0, sizeof(olla_abuf_t));
    args = NULL;
    n = 0;
    ti = 0;

    v = json_object_get(fn, "arguments");

    if (json_is_string(v)) {
        args = json_string_value(v);
        n = json_string_length(v);

    } else if (json_is_object(v) || json_is_array(v)) {
        if (olla_abuf_json(&tmp, v, OLLA_ANTH_DUMP_FLAGS) != 0) {
            olla_abuf_free(&tmp);
            return olla_anth_stream_nomem(s);
        }

        args = tmp.p;
        n = tmp.len;
    }

    if (olla_anth_tool_find(s, index, id, name != NULL && n > 0, &ti)
        != 0)
    {
        goto failed;
    }

    t = &s->tools[ti];

    if (t->state == OLLA_TOOL_PENDING) {
        if (id != NULL && t->id == NULL) {
            if (olla_anth_hold(s, strlen(id) + 1) != 0) {
                goto failed;
            }

            t->id = olla_anth_strndup(id, strlen(id));
            if (t->id == NULL) {
                goto nomem;
            }
        }

        if (name != NULL && t->name == NULL) {
            if (olla_anth_hold(s, strlen(name) + 1) != 0) {
                goto failed;
            }

            t->name = olla_anth_strndup(name, strlen(name));
            if (t->name == NULL) {
                goto nomem;
            }
        }
    }

    if (n == 0) {
        olla_abuf_free(&tmp);
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

        olla_abuf_free(&tmp);

        if (k == n) {
            return 0;
        }

        snprintf(msg, sizeof(msg),
                 "arguments for tool call %lld arrived after its block "
                 "was closed", (long long) index);

        return olla_anth_stream_error(s, "api_error", msg);
    }

    olla_anth_tool_scan(t, args, n);

    if (t->state == OLLA_TOOL_OPEN) {
        rc = olla_anth_delta(s, "input_json_delta", "partial_json", args, n);
        olla_abuf_free(&tmp);

        return rc ? rc : olla_anth_tool_advance(s);
    }

    if (olla_anth_hold(s, n) != 0) {
        goto failed;
    }

    if (olla_abuf_add(&t->args, args, n) != 0) {
        goto nomem;
    }

    olla_abuf_free(&tmp);

    return olla_anth_tool_advance(s);

nomem:

    olla_abuf_free(&tmp);

    return olla_anth_stream_nomem(s);

failed:

    olla_abuf_free(&tmp);

    return -1;
}


static int
olla_anth_tool_find(olla_anth_stream_t *s, json_int_t index, const char *id,
    int call, size_t *ti)
{
    size_t             i, n;
    olla_anth_tool_t  *t, *nt;

    for (i = s->ntools; i > 0; i--) {
        t = &s->tools[i - 1];

        if (t->index != index) {
            continue;
        }

        if (id != NULL && t->id != NULL) {
            if (strcmp(id, t->id) != 0) {
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

        nt = realloc(s->tools, n * sizeof(olla_anth_tool_t));
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
    json_t            *block;
    olla_anth_tool_t  *t;

    if (olla_anth_block_stop(s) != 0) {
        return -1;
    }

    t = &s->tools[ti];

    if (t->id == NULL) {
        olla_anth_gen_id(id, "toolu_");
    }

    block = json_pack("{s:s,s:s,s:s,s:{}}", "type", "tool_use",
                      "id", t->id ? t->id : id, "name", t->name, "input");

    t->state = OLLA_TOOL_OPEN;
    s->open_tool = ti;
    s->next_tool = ti + 1;
    s->tool_blocks++;

    if (olla_anth_block_start(s, OLLA_BLK_TOOL, block) != 0) {
        return -1;
    }

    if (t->args.len == 0) {
        return 0;
    }

    rc = olla_anth_delta(s, "input_json_delta", "partial_json", t->args.p,
                         t->args.len);

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


static const char *
olla_anth_finish_norm(const char *fr)
{
    static const char  *known[] = {
        "length", "tool_calls", "function_call", "content_filter"
    };
    size_t              i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(fr, known[i]) == 0) {
            return known[i];
        }
    }

    return "stop";
}


static int
olla_anth_stream_start(olla_anth_stream_t *s, json_t *chunk)
{
    json_t  *model, *msg;

    if (s->started) {
        return 0;
    }

    s->started = 1;

    if (s->model) {
        model = json_string(s->model);

    } else {
        model = json_object_get(chunk, "model");

        if (json_is_string(model) && json_string_length(model)) {
            model = json_incref(model);

        } else {
            model = json_string("unknown");
        }
    }

    msg = json_pack("{s:s,s:{s:s,s:s,s:s,s:o,s:[],s:n,s:n,"
                    "s:{s:I,s:I,s:I,s:I}}}",
                    "type", "message_start",
                    "message",
                    "id", s->id,
                    "type", "message",
                    "role", "assistant",
                    "model", model,
                    "content",
                    "stop_reason",
                    "stop_sequence",
                    "usage",
                    "input_tokens", s->input_tokens,
                    "cache_creation_input_tokens", (json_int_t) 0,
                    "cache_read_input_tokens", (json_int_t) 0,
                    "output_tokens", (json_int_t) 0);

    if (olla_anth_event(s, "message_start", msg) != 0) {
        return -1;
    }

    return olla_anth_event(s, "ping", json_pack("{s:s}", "type", "ping"));
}


static int
olla_anth_stream_end(olla_anth_stream_t *s)
{
    size_t              i;
    json_t             *ev, *usage;
    json_int_t          in, out, cached;
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
        out = (json_int_t) (s->out_bytes / 4);

        if (out == 0 && s->out_bytes) {
            out = 1;
        }
    }

    usage = olla_anth_usage_json(in, cached, out);

    ev = json_pack("{s:s,s:{s:s,s:n},s:o}",
                   "type", "message_delta",
                   "delta",
                   "stop_reason",
                   olla_anth_stop_reason(s->finish, s->tool_blocks > 0),
                   "stop_sequence",
                   "usage", usage);

    if (olla_anth_event(s, "message_delta", ev) != 0
        || olla_anth_event(s, "message_stop",
                           json_pack("{s:s}", "type", "message_stop"))
           != 0)
    {
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
olla_anth_stream_upstream_error(olla_anth_stream_t *s, json_t *v,
    const char *text, size_t n)
{
    int           r;
    json_t       *j;
    const char   *type;
    olla_abuf_t   msg;

    memset(&msg, 0, sizeof(olla_abuf_t));
    type = NULL;
    r = 0;

    if (v != NULL) {
        r = olla_anth_error_message(v, &msg, &type);

    } else if (n) {
        j = json_loadb(text, n, JSON_DECODE_ANY | OLLA_ANTH_LOAD_FLAGS,
                       NULL);

        if (j != NULL) {
            r = olla_anth_error_message(j, &msg, &type);
            json_decref(j);
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
    json_t  *e;

    e = json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error",
                  "type", type, "message", msg);

    (void) olla_anth_event(s, "error", e);

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


/* emits "event: NAME\ndata: JSON\n\n"; data is consumed */

static int
olla_anth_event(olla_anth_stream_t *s, const char *name, json_t *data)
{
    int  rc;

    if (data == NULL) {
        return olla_anth_stream_nomem(s);
    }

    if (s->done) {
        json_decref(data);
        return -1;
    }

    s->out.len = 0;

    rc = olla_abuf_str(&s->out, "event: ")
         || olla_abuf_str(&s->out, name)
         || olla_abuf_str(&s->out, "\ndata: ")
         || olla_abuf_json(&s->out, data, OLLA_ANTH_DUMP_FLAGS)
         || olla_abuf_add(&s->out, "\n\n", 2);

    json_decref(data);

    if (rc) {
        return olla_anth_stream_nomem(s);
    }

    rc = s->emit(s->emit_data, s->out.p, s->out.len);

    if (s->out.cap > OLLA_ANTH_OUT_KEEP) {
        olla_abuf_free(&s->out);
    }

    if (rc != 0) {
        s->done = 1;
        s->failed = 1;
        return -1;
    }

    return 0;
}


static int
olla_anth_block_start(olla_anth_stream_t *s, olla_anth_blk_e kind,
    json_t *block)
{
    json_t  *ev;

    s->open = kind;

    ev = json_pack("{s:s,s:I,s:o}", "type", "content_block_start",
                   "index", (json_int_t) s->next_block++,
                   "content_block", block);

    return olla_anth_event(s, "content_block_start", ev);
}


static int
olla_anth_block_stop(olla_anth_stream_t *s)
{
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

    return olla_anth_event(s, "content_block_stop",
                           json_pack("{s:s,s:I}",
                                     "type", "content_block_stop",
                                     "index",
                                     (json_int_t) (s->next_block - 1)));
}


static int
olla_anth_delta(olla_anth_stream_t *s, const char *type, const char *key,
    const char *p, size_t n)
{
    json_t  *ev;

    ev = json_pack("{s:s,s:I,s:{s:s,s:s%}}", "type", "content_block_delta",
                   "index", (json_int_t) (s->next_block - 1),
                   "delta", "type", type, key, p, n);

    return olla_anth_event(s, "content_block_delta", ev);
}
