
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


#define OLLA_ANTH_ERRLEN  512


/* what the request said, filled by validate / request_to_openai */
typedef struct {
    char      *model;            /* malloc'd, NUL-terminated */
    int        stream;           /* "stream": true */
    long       input_tokens;     /* local estimate (count_tokens rule) */
} olla_anth_info_t;

void olla_anth_info_free(olla_anth_info_t *info);


/*
 * Checks an Anthropic Messages request: a JSON object, "model" a non-empty
 * string, "messages" a non-empty array, "max_tokens" an integer >= 1,
 * "temperature" 0..2, "top_p" 0..1, "top_k" >= 0, "stream" a boolean, when
 * present.  Unknown fields are accepted.  Returns 0, or -1 with err set to
 * a message for a 400 invalid_request_error.  info may be NULL.
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
