
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * OpenAI Responses API -> OpenAI chat completions, for backends that only
 * speak chat completions (llama.cpp's llama-server, vLLM, LM Studio), so
 * that Codex CLI and the OpenAI Agents SDK work through the gateway.  The
 * second translator beside olla_anthropic.h, with the same operations, on
 * olla_jdom (arena JSON DOM and writer) and olla_sse (bounded SSE lines).
 * Pure C: plain buffers in, malloc'd buffers out, no nginx headers.
 *
 * Design note
 *
 * The translation is stateless: a chat backend keeps no responses, so
 * every request must carry its whole conversation (Codex sends
 * "store":false and its full history; so does the Agents SDK without a
 * previous_response_id).
 *
 * Request (Responses -> chat):
 *  - model; instructions, then the leading system/developer messages of
 *    the input, joined with a blank line into one first system message
 *    (several system messages in a row break common chat templates);
 *    later system/developer messages stay where they are as "system";
 *  - input: a string (one user message) or items.  message items (with
 *    or without "type"; roles user, assistant, system, developer; content
 *    a string or parts: input_text, output_text, text, refusal (as text),
 *    input_image with an image_url (-> an image_url part, detail kept));
 *    a user message of one text is a plain string, else content parts;
 *    system and assistant texts are joined.  function_call items ->
 *    assistant tool_calls: consecutive calls, and an assistant message
 *    just before them, make one assistant message; arguments "" -> "{}".
 *    function_call_output -> a "tool" message with tool_call_id; output a
 *    string or parts: texts joined with "\n", and images (a chat tool
 *    message cannot hold them) in one user message after the run of tool
 *    messages.  reasoning items are dropped (a chat backend cannot take
 *    them back).  Empty messages are dropped.
 *  - tools: type "function" (name, description, parameters (none: an
 *    empty object schema), strict) -> chat function tools.  Dropped, as
 *    Codex sends them by default: web_search and web_search_preview
 *    (dated variants too), a hosted tool the backend cannot run, and
 *    "namespace" groups (Codex's multi-agent tools): a chat reply's call
 *    cannot say which namespace it belongs to, and Codex looks a
 *    namespaced tool up by both.  The model is not offered them.  Every
 *    other type (file_search, code_interpreter, computer_use_preview,
 *    mcp, image_generation, local_shell, shell, apply_patch, custom, ...)
 *    is a 400 naming it: the model would call a tool nobody runs, or
 *    (custom) the answer would need a custom_tool_call item the chat
 *    reply cannot express.
 *  - tool_choice auto/none/required and {type:function,name} (sent only
 *    with tools); parallel_tool_calls; max_output_tokens -> max_tokens;
 *    temperature; top_p; user; stream -> stream +
 *    stream_options.include_usage; text.format json_object / json_schema
 *    -> response_format ("text" -> nothing); reasoning.effort low, medium,
 *    high -> reasoning_effort (minimal -> low, xhigh -> high, none and
 *    others dropped).  Tolerated and dropped: store, metadata, include,
 *    prompt_cache_key, prompt_cache_retention, safety_identifier,
 *    truncation, service_tier, text.verbosity, reasoning.summary,
 *    top_logprobs, max_tool_calls, stream_options, background false, and
 *    any unknown field.
 *  - refused (400, err names the field): previous_response_id and
 *    conversation (the backend is stateless: info says which was given),
 *    background true, prompt (stored templates), item_reference and every
 *    other input item type (custom_tool_call, local_shell_call,
 *    web_search_call, computer_call, ...), input_file and input_audio
 *    parts, input_image without image_url, images outside user messages,
 *    tool_choice of another kind (allowed_tools, hosted tools), and bad
 *    values of the fields above.
 *
 * Response (chat completion -> Response object): "resp_" id, created_at
 * (the completion's "created"), status "completed", or "incomplete" with
 * incomplete_details.reason "max_output_tokens" (finish_reason length) or
 * "content_filter"; output: a reasoning item from reasoning_content (or
 * "reasoning") as a reasoning_text content part with an empty summary, a
 * message item (output_text with annotations []; a refusal is appended
 * to the text: Codex cannot read refusal parts), then function_call items
 * (call_id the tool call's id, or a made one).  usage: input_tokens
 * (prompt_tokens, cached ones included, as OpenAI counts), cached_tokens,
 * output_tokens, reasoning_tokens, total_tokens.  The request fields the
 * SDK types require are given neutral values (tools [], tool_choice
 * "auto", parallel_tool_calls true, temperature/top_p/instructions null):
 * the reply does not see the request.  output_text is not sent (the SDKs
 * compute it).
 *
 * Streaming (chat SSE -> Responses SSE), each event "event: NAME\ndata:
 * JSON\n\n" with "type" and a sequence_number from 0:
 *   response.created, response.in_progress            (at the first chunk)
 *   per output item, one open at a time, in output order:
 *     reasoning: output_item.added, content_part.added (reasoning_text),
 *       reasoning_text.delta..., reasoning_text.done, content_part.done,
 *       output_item.done
 *     message: output_item.added, content_part.added (output_text),
 *       output_text.delta..., output_text.done, content_part.done,
 *       output_item.done
 *     function_call: output_item.added, function_call_arguments.delta...,
 *       function_call_arguments.done, output_item.done
 *   response.completed (or response.incomplete, as above), with the whole
 *   response: every output item and the usage of the final usage chunk.
 * Interleaved parallel tool calls are held back and emitted in order, as
 * olla_anthropic does.  A stream without finish_reason or [DONE], an
 * upstream error, an overlong line or too much held output ends with
 * response.failed (response.error {code, message}; code
 * "context_length_exceeded" when the backend says the context is full),
 * never with response.completed.  The done events and the final response
 * repeat the whole output (Codex reads the items of output_item.done, the
 * Agents SDK the output of response.completed), so the stream holds what
 * it has emitted: memory is bounded by max_line (one SSE line) and
 * max_buffered (the output held), and an answer longer than max_buffered
 * fails cleanly.
 */


#ifndef _OLLA_RESP_H_INCLUDED_
#define _OLLA_RESP_H_INCLUDED_


#include <stddef.h>


#define OLLA_RESP_ERRLEN  512


/* what the request said, filled by request_to_openai */
typedef struct {
    char      *model;            /* malloc'd, NUL-terminated; NULL on error */
    int        stream;           /* "stream": true */
    long       input_tokens;     /* local estimate: bytes of text / 4 */

    /* set even when the request is refused because of them */
    unsigned   previous_response_id:1;
    unsigned   conversation:1;
} olla_resp_info_t;

void olla_resp_info_free(olla_resp_info_t *info);


/*
 * Responses request -> chat completion request.  *out is malloc'd JSON
 * (the caller frees it).  Returns 0, or -1 with err set to a message for
 * a 400 invalid_request_error (or "out of memory").  info may be NULL.
 */
int olla_resp_request_to_openai(const char *body, size_t len, char **out,
    size_t *outlen, olla_resp_info_t *info, char *err, size_t errlen);

/*
 * The same for a body olla_json_scan_feed() read whole and found valid
 * (the routing scan): its strings are not checked a second time.
 */
int olla_resp_request_to_openai_checked(const char *body, size_t len,
    char **out, size_t *outlen, olla_resp_info_t *info, char *err,
    size_t errlen);

/*
 * Chat completion (non-streaming) -> Response object.  model is the model
 * the client asked for (the backend's when NULL).  Returns 0, or -1 + err
 * when the body is not a usable completion.
 */
int olla_resp_response_from_openai(const char *body, size_t len,
    const char *model, char **out, size_t *outlen, char *err,
    size_t errlen);

/* invalid_request_error, authentication_error, ..., server_error */
const char *olla_resp_error_type(int status);

/*
 * {"error":{"message":M,"type":T,"param":null,"code":C[,"request_id":ID]}}
 * request_id may be NULL.  Returns malloc'd JSON (NULL: out of memory).
 */
char *olla_resp_error_json(int status, const char *message,
    const char *request_id, size_t *outlen);

/*
 * A backend error response (any body: OpenAI JSON error, other JSON,
 * text, HTML) -> the error JSON above with the backend's message where
 * one can be found; code "context_length_exceeded" when it says the
 * context is full.
 */
char *olla_resp_error_from_backend(int status, const char *body, size_t len,
    const char *request_id, size_t *outlen);


/*
 * Streaming: chat SSE in, Responses SSE out.  Each complete event is
 * handed to emit as soon as it is produced; the bytes are valid during
 * the call only.
 */

typedef int (*olla_resp_emit_pt)(void *data, const char *p, size_t len);

typedef struct olla_resp_stream_s  olla_resp_stream_t;

/*
 * model: the model the client asked for (NULL: the backend's);
 * input_tokens: the local estimate used when the backend reports no
 * usage; max_line, max_buffered: 0 means 1 MiB.  NULL when out of memory.
 */
olla_resp_stream_t *olla_resp_stream_new(const char *model,
    long input_tokens, size_t max_line, size_t max_buffered);

/*
 * Returns 0 to go on; 1 when the stream is complete (a terminal event was
 * emitted; later input is ignored); -1 when emit failed.
 */
int olla_resp_stream_feed(olla_resp_stream_t *s, const char *p, size_t n,
    olla_resp_emit_pt emit, void *data);

/*
 * End of the upstream body.  A stream that had a finish_reason (or
 * "[DONE]") ends with response.completed (or .incomplete); one that did
 * not ends with response.failed.  Returns 1, or -1 when emit failed.
 */
int olla_resp_stream_finish(olla_resp_stream_t *s, olla_resp_emit_pt emit,
    void *data);

void olla_resp_stream_free(olla_resp_stream_t *s);

/* bytes the stream holds now (line, event buffer, items) */
size_t olla_resp_stream_memory(const olla_resp_stream_t *s);


/*
 * Ids ("resp_", "msg_", "rs_", "fc_", "call_" + 48 hex digits) come from
 * a generator seeded per process.  A non-zero seed makes the sequence
 * fixed, and created_at a fixed time (tests); 0 goes back to random ids
 * and the clock.
 */
void olla_resp_set_id_seed(unsigned long long seed);


#ifdef OLLA_RESP_INTERNAL

/* shared by the olla_resp_*.c files only */

#include "olla_jdom.h"


#define OLLA_RESP_ID_HEX       48
#define OLLA_RESP_ID_MAX       (sizeof("resp_") + OLLA_RESP_ID_HEX)
#define OLLA_RESP_DEFAULT_MAX  (1024 * 1024)
#define OLLA_RESP_ARENA        4096       /* arena on the C stack */
#define OLLA_RESP_SMALL_ARENA  1024


/* a Response object's envelope */
typedef struct {
    const char   *id;
    long long     created_at;
    const char   *model;          /* valid UTF-8 */
    size_t        model_len;
    const char   *status;         /* completed, incomplete, failed, ... */
    const char   *incomplete;     /* incomplete_details.reason, or NULL */
    const char   *error_code;     /* with error_message: "error" */
    const char   *error_message;  /* valid UTF-8 */
    int           usage;          /* write usage (else null) */
    long long     input_tokens;
    long long     cached_tokens;
    long long     output_tokens;
    long long     reasoning_tokens;
} olla_resp_obj_t;


/* the usage of a chat completion or chunk */
typedef struct {
    long long     in;
    long long     out;
    long long     cached;
    long long     reasoning;
    unsigned      have_in:1;
    unsigned      have_out:1;
} olla_resp_usage_t;


void olla_resp_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
char *olla_resp_strndup(const char *p, size_t n);
void olla_resp_gen_id(char *buf, const char *prefix);
long long olla_resp_now(void);
int olla_resp_clean(olla_jout_t *o, const char *p, size_t n, size_t max,
    int ctl);
int olla_resp_str_is(const olla_jdom_t *v, const char *s, size_t n);
const olla_jdom_t *olla_resp_opt(const olla_jdom_t *obj, const char *key,
    size_t len);
const olla_jdom_t *olla_resp_load(olla_jdom_doc_t *doc, const char *body,
    size_t len, const char *what, char *err, size_t errlen);
void olla_resp_usage(const olla_jdom_t *usage, olla_resp_usage_t *u);
void olla_resp_obj_begin(olla_jout_t *o, const olla_resp_obj_t *r);
void olla_resp_obj_end(olla_jout_t *o, const olla_resp_obj_t *r);
int olla_resp_error_message(const olla_jdom_t *v, olla_jout_t *msg,
    const olla_jdom_t **code, int *context);
int olla_resp_text_message(const char *body, size_t len, olla_jout_t *msg);
int olla_resp_is_context_error(const char *msg, size_t len);


#define olla_resp_is(v, lit)      olla_resp_str_is(v, lit, sizeof(lit) - 1)
#define olla_resp_optl(obj, lit)  olla_resp_opt(obj, lit, sizeof(lit) - 1)
#define olla_resp_get(obj, lit)   olla_jdom_getl(obj, lit)
#define olla_resp_nonempty(v)     (olla_jdom_is_string(v) && (v)->len)

#endif /* OLLA_RESP_INTERNAL */


#endif /* _OLLA_RESP_H_INCLUDED_ */
