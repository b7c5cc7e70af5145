
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Anthropic Messages API <-> OpenAI chat completions, on olla_jdom (an
 * arena JSON DOM and writer; jansson only off the per-request paths).
 * Pure C: plain buffers in, malloc'd buffers out, no nginx headers.
 */


#ifndef _OLLA_ANTHROPIC_H_INCLUDED_
#define _OLLA_ANTHROPIC_H_INCLUDED_


#include <stddef.h>

#include "olla_json.h"


#define OLLA_ANTH_ERRLEN  512


/* what the request said, filled by validate / request_to_openai */
typedef struct {
    char      *model;            /* malloc'd, NUL-terminated */
    int        stream;           /* "stream": true */
    long       input_tokens;     /* local estimate (count_tokens rule) */
} olla_anth_info_t;

void olla_anth_info_free(olla_anth_info_t *info);


/*
 * The shape of an Anthropic Messages request: the rule every route
 * applies, the translator (olla_anth_validate) and the passthrough glue
 * alike, so that one fault gets one verdict and one message.  It works on
 * facts a single scan gives (olla_json.h): each member's type, a string's
 * unescaped value or a number's text, an array's element count.
 *
 * The rule, checked in this order (the first fault is reported), with
 * the message for each:
 *
 *   model        a string of at least one byte
 *                    "\"model\" is required and must be a non-empty string"
 *                and no control character (< 0x20, 0x7f)
 *                    "\"model\" must not contain control characters"
 *   max_tokens   an integer (no fraction, no exponent) from 1 to 2^63-1
 *                    "\"max_tokens\" is required and must be an integer >= 1"
 *   messages     an array
 *                    "\"messages\" is required and must be an array"
 *                of at least one element (Anthropic's API rejects an empty
 *                one)
 *                    "\"messages\" must not be empty"
 *   temperature  absent, null, or a number from 0 to 2
 *                    "\"temperature\" must be a number between 0 and 2"
 *   top_p        absent, null, or a number from 0 to 1
 *                    "\"top_p\" must be a number between 0 and 1"
 *   top_k        absent, null, or an integer from 0 to 2^63-1
 *                    "\"top_k\" must be an integer >= 0"
 *   stream       absent, null, true or false
 *                    "\"stream\" must be a boolean"
 *
 * model, messages and max_tokens are required: absent (OLLA_JSON_NONE) or
 * null is the fault.  Numbers compare as the translator reads them
 * (strtod() for reals; an integer beyond 64 bits is a fault, its JSON
 * parser rejects those).  Other members are not looked at.
 *
 * text is the value's bytes: a string's unescaped value or a number's
 * literal text, len bytes of it (no NUL needed).  It may be NULL when the
 * caller could not capture the whole value: the checks that need it are
 * then skipped (a control character in model, the range of a number),
 * except that a number text longer than 19 bytes is never an integer
 * from 0 to 2^63-1, so max_tokens and top_k fail on len alone (a 32-byte
 * buffer is plenty for them).  elements counts an array's values.
 */

typedef struct {
    olla_json_type_e   type;          /* OLLA_JSON_NONE: absent */
    const char        *text;          /* string value or number text */
    size_t             len;           /* bytes of it */
    size_t             elements;      /* array values, object members */
} olla_anth_value_t;


typedef struct {
    olla_anth_value_t  model;
    olla_anth_value_t  messages;
    olla_anth_value_t  max_tokens;
    olla_anth_value_t  temperature;
    olla_anth_value_t  top_p;
    olla_anth_value_t  top_k;
    olla_anth_value_t  stream;
} olla_anth_shape_t;


/*
 * Returns 0 when the shape is right, or -1 with err set to the message of
 * the first fault (for a 400 invalid_request_error).
 *
 * From the glue, with one olla_json scan of the body (a member the scan
 * does not capture stays OLLA_JSON_NONE: absent, which passes for the
 * optional ones):
 *
 *     char                model[512], num[4][32], err[OLLA_ANTH_ERRLEN];
 *     size_t              i;
 *     olla_json_scan_t    scan;
 *     olla_anth_shape_t   shape;
 *     olla_json_field_t   f[7];
 *     static const char  *keys[7] = { "model", "messages", "max_tokens",
 *                                     "temperature", "top_p", "top_k",
 *                                     "stream" };
 *
 *     memset(f, 0, sizeof(f));
 *
 *     for (i = 0; i < 7; i++) {
 *         f[i].key = keys[i];
 *         f[i].key_len = strlen(keys[i]);
 *     }
 *
 *     f[0].value = model;
 *     f[0].cap = sizeof(model);
 *
 *     for (i = 0; i < 4; i++) {
 *         f[2 + i].value = num[i];
 *         f[2 + i].cap = sizeof(num[i]);
 *     }
 *
 *     olla_json_scan_init(&scan, f, 7, 0);
 *     (olla_json_scan_feed() each buffer of the body, olla_json_scan_end();
 *      when f[0].truncated, a long model name, scan again with f[0].value
 *      a buffer of f[0].len bytes, as the glue does now)
 *
 *     olla_anth_shape_value(&shape.model, &f[0]);
 *     olla_anth_shape_value(&shape.messages, &f[1]);
 *     olla_anth_shape_value(&shape.max_tokens, &f[2]);
 *     olla_anth_shape_value(&shape.temperature, &f[3]);
 *     olla_anth_shape_value(&shape.top_p, &f[4]);
 *     olla_anth_shape_value(&shape.top_k, &f[5]);
 *     olla_anth_shape_value(&shape.stream, &f[6]);
 *
 *     if (olla_anth_check_shape(&shape, err, sizeof(err)) != 0) {
 *         (a 400 invalid_request_error whose message is err)
 *     }
 *
 * Limits of the gateway's own (the length of a model name) are not part
 * of the rule: the glue checks them as it does now.
 */
int olla_anth_check_shape(const olla_anth_shape_t *s, char *err,
    size_t errlen);

/*
 * A scanner field -> a shape value: its type, its element count, and its
 * value as text unless it was truncated (then text is NULL).
 */
void olla_anth_shape_value(olla_anth_value_t *v, const olla_json_field_t *f);


/*
 * Checks an Anthropic Messages request: a JSON object whose shape
 * olla_anth_check_shape() accepts.  Unknown fields are accepted.  Returns
 * 0, or -1 with err set to a message for a 400 invalid_request_error.
 * info may be NULL.
 */
int olla_anth_validate(const char *body, size_t len, olla_anth_info_t *info,
    char *err, size_t errlen);

/*
 * Anthropic Messages request -> OpenAI chat completion request (validates
 * first).  *out is malloc'd JSON (caller frees).  Returns 0 or -1 + err.
 */
int olla_anth_request_to_openai(const char *body, size_t len, char **out,
    size_t *outlen, olla_anth_info_t *info, char *err, size_t errlen);

/*
 * The same for a body olla_json_scan_feed() read whole and found valid
 * (the routing scan): its strings are not checked a second time.  The
 * result is the same; on a body that is not valid JSON it may be wrong
 * (never out of bounds).
 */
int olla_anth_request_to_openai_checked(const char *body, size_t len,
    char **out, size_t *outlen, olla_anth_info_t *info, char *err,
    size_t errlen);

/*
 * OpenAI chat completion response (non-streaming) -> Anthropic message.
 * model is the model the client asked for (used when not NULL).
 * Returns 0, or -1 + err when the body is not a usable completion.
 */
int olla_anth_response_from_openai(const char *body, size_t len,
    const char *model, char **out, size_t *outlen, char *err,
    size_t errlen);

/* 400 invalid_request_error, 401 authentication_error, ... (SPEC 5) */
const char *olla_anth_error_type(int status);

/*
 * {"type":"error","error":{"type":T,"message":M}[,"request_id":ID]}
 * request_id may be NULL.  Returns malloc'd JSON.
 */
char *olla_anth_error_json(int status, const char *message,
    const char *request_id, size_t *outlen);

/*
 * A backend error response (status >= 400, any body: OpenAI JSON error,
 * Anthropic JSON error, text, HTML) -> Anthropic error JSON with the
 * backend's message where one can be found.
 */
char *olla_anth_error_from_backend(int status, const char *body, size_t len,
    const char *request_id, size_t *outlen);

/* count_tokens estimate: bytes of text / 4, at least 1 */
int olla_anth_count_tokens(const char *body, size_t len, long *tokens,
    char *err, size_t errlen);

/*
 * The same for a body olla_json_scan_feed() read whole and found valid:
 * its strings are not checked again, the tools' schemas are skipped to
 * their ends (as olla_anth_request_to_openai_checked() does).  The same
 * count; on a body that is not valid JSON it may be wrong (never out of
 * bounds).
 */
int olla_anth_count_tokens_checked(const char *body, size_t len,
    long *tokens, char *err, size_t errlen);


/*
 * Streaming: OpenAI SSE in, Anthropic SSE out.  Each complete Anthropic
 * event ("event: NAME\ndata: JSON\n\n") is handed to emit as soon as it
 * is produced.  Memory is bounded by max_line (one SSE line) and
 * max_buffered (tool-call arguments held back while another tool block
 * is open); exceeding either ends the stream with an error event.
 */

typedef int (*olla_anth_emit_pt)(void *data, const char *p, size_t len);

typedef struct olla_anth_stream_s  olla_anth_stream_t;

/*
 * model: the model the client asked for (NULL: the backend's);
 * input_tokens: the local estimate reported in message_start (the
 * backend's prompt_tokens, when the stream reports usage, goes in
 * message_delta); max_line, max_buffered: 0 means 1 MiB.  NULL when out
 * of memory.  The bytes handed to emit are valid during the call only.
 */
olla_anth_stream_t *olla_anth_stream_new(const char *model,
    long input_tokens, size_t max_line, size_t max_buffered);

/*
 * Returns 0 to go on; 1 when the stream is complete (message_stop or an
 * error event was emitted; later input is ignored); -1 when emit failed.
 */
int olla_anth_stream_feed(olla_anth_stream_t *s, const char *p, size_t n,
    olla_anth_emit_pt emit, void *data);

/*
 * End of the upstream body.  A stream that had a finish_reason (or
 * "[DONE]") ends with message_delta + message_stop; one that did not ends
 * with an "error" event (a cut must not look like success).
 */
int olla_anth_stream_finish(olla_anth_stream_t *s, olla_anth_emit_pt emit,
    void *data);

void olla_anth_stream_free(olla_anth_stream_t *s);

/* bytes the stream holds now (line buffer, tools, event buffer) */
size_t olla_anth_stream_memory(const olla_anth_stream_t *s);


/*
 * Message and tool ids ("msg_..." and "toolu_..." + 24 base58 characters)
 * come from a generator seeded per process.  A non-zero seed makes the
 * sequence fixed (tests); 0 goes back to random ids.
 */
void olla_anth_set_id_seed(unsigned long long seed);


#endif /* _OLLA_ANTHROPIC_H_INCLUDED_ */
