
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The error catalogue: every error the gateway answers itself, by name,
 * with its HTTP status, its OpenAI error type and code, its Anthropic
 * error type and a default message; the status -> type tables for the
 * errors nginx raises (502, 504, 413, ...) and for the translators; and
 * the JSON bodies in each API's shape:
 *
 *   OpenAI:    {"error":{"message":M,"type":T,"param":null,"code":C,
 *               "request_id":ID}}
 *   Anthropic: {"type":"error","error":{"type":T,"message":M},
 *               "request_id":ID}
 *
 * and the last event of a stream that failed after its header went out,
 * in the stream's own format (olla_err_stream()).
 *
 * Messages may hold any bytes (a path, a model name): invalid UTF-8
 * becomes U+FFFD, U+0000 and other controls are escaped, valid UTF-8
 * stays as it is.  No nginx headers.
 */


#ifndef _OLLA_ERRORS_H_INCLUDED_
#define _OLLA_ERRORS_H_INCLUDED_


#include <stddef.h>


/* the API dialect an answer is written in */
typedef enum {
    OLLA_DIALECT_OPENAI = 0,
    OLLA_DIALECT_ANTHROPIC
} olla_dialect_e;


typedef enum {
    OLLA_ERR_INVALID_PATH = 0,
    OLLA_ERR_METHOD_NOT_ALLOWED,
    OLLA_ERR_ROUTE_NOT_FOUND,
    OLLA_ERR_PATH_NOT_FOUND,
    OLLA_ERR_NO_ENDPOINT,
    OLLA_ERR_MESSAGE_TOO_LARGE,      /* olla_max_message_size */
    OLLA_ERR_INVALID_JSON,
    OLLA_ERR_INVALID_MODEL,
    OLLA_ERR_INVALID_REQUEST,        /* a translator refused the body */
    OLLA_ERR_MODEL_NOT_FOUND,
    OLLA_ERR_CONCURRENCY_LIMIT,
    OLLA_ERR_QUEUE_FULL,             /* olla_queue: no place left */
    OLLA_ERR_QUEUE_TIMEOUT,          /* olla_queue: the wait ran out */
    OLLA_ERR_NO_HEALTHY_ENDPOINT,
    OLLA_ERR_NOT_TRANSLATABLE,       /* no way to speak the API there */
    OLLA_ERR_NO_ENDPOINTS,           /* olla_status without endpoints */
    OLLA_ERR_RESPONSE_NOT_FOUND,     /* a response id nobody holds */
    OLLA_ERR_PREVIOUS_NOT_FOUND,     /* previous_response_id, likewise */
    OLLA_ERR_RESPONSE_UNAVAILABLE,   /* its endpoint cannot be reached */
    OLLA_ERR_API_KEY_MISSING,        /* olla_api_keys: no key */
    OLLA_ERR_API_KEY_INVALID,        /* olla_api_keys: not a known key */
    OLLA_ERR_INTERNAL,

    /* errors nginx raises on an Olla route */
    OLLA_ERR_UPSTREAM_UNAVAILABLE,   /* 502 */
    OLLA_ERR_UPSTREAM_TIMEOUT,       /* 504 */
    OLLA_ERR_BODY_TOO_LARGE,         /* 413: client_max_body_size */
    OLLA_ERR_BAD_REQUEST,            /* 400 */
    OLLA_ERR_REQUEST_TIMEOUT,        /* 408 */
    OLLA_ERR_UNAVAILABLE,            /* 503 */
    OLLA_ERR_UNAUTHORIZED,           /* 401: return, auth_request */
    OLLA_ERR_FORBIDDEN,              /* 403: deny, auth_request */
    OLLA_ERR_NOT_FOUND,              /* 404: return */
    OLLA_ERR_URI_TOO_LONG,           /* 414 */
    OLLA_ERR_RATE_LIMITED,           /* 429: limit_req, limit_conn */

    OLLA_ERR_ORIGIN_NOT_ALLOWED,     /* 403: a CORS preflight */

    /* a stream that failed after its header: its last event */
    OLLA_ERR_STREAM_CUT,             /* closed before its end */
    OLLA_ERR_STREAM_IDLE,            /* silent past its idle timeout */

    OLLA_ERR_COUNT
} olla_err_e;


typedef struct {
    int                  status;
    const char          *openai_type;
    const char          *code;            /* NULL: "code":null */
    const char          *anthropic_type;
    const char          *message;         /* the default message */
} olla_err_t;


/* the catalogue's row */
const olla_err_t *olla_err(olla_err_e e);

/*
 * For a status nginx raised (an error page on an Olla route): the
 * catalogue's row for 400, 401, 403, 404, 408, 413, 414, 429, 502, 503
 * and 504, else a generic row for the status, written into *tmp.
 */
const olla_err_t *olla_err_for_status(int status, olla_err_t *tmp);

/* 400 invalid_request_error, 401 authentication_error, ... */
const char *olla_err_anthropic_type(int status);

/*
 * The error body, '\n'-terminated, malloc'd (the caller frees), or NULL
 * when out of memory.  msg (msg_len bytes, any bytes) replaces the
 * row's default message when not NULL; request_id may be NULL.
 */
char *olla_err_json(olla_dialect_e dialect, const olla_err_t *e,
    const char *msg, size_t msg_len, const char *request_id, size_t id_len,
    size_t *len);


/*
 * A client's string (a model name, an id) as an error message shows it
 * between quotes: '"' and '\\' escaped with a backslash, C0 controls and
 * DEL as \u00XX, so that a U+0000 shows instead of cutting the message
 * where a reader stops at it.  out holds at least 6 * len bytes; returns
 * the length written.
 */
size_t olla_err_quote(const char *in, size_t len, char *out);


/* the format of a stream, for its last event */
typedef enum {
    OLLA_STREAM_OPENAI = 0,          /* SSE: data: {"error":{...}} */
    OLLA_STREAM_ANTHROPIC,           /* SSE: event: error */
    OLLA_STREAM_RESPONSES,           /* SSE: response.failed, or error */
    OLLA_STREAM_NDJSON               /* a line {"error":"..."} (Ollama) */
} olla_stream_e;


typedef struct {
    const char          *request_id;      /* may be NULL */
    size_t               request_id_len;
    const char          *response_id;     /* Responses: NULL if not seen */
    size_t               response_id_len;
    const char          *model;           /* Responses: may be NULL */
    size_t               model_len;
    long long            sequence;        /* the last one seen, or -1 */
    long long            created_at;      /* unix seconds */
} olla_stream_info_t;


/*
 * The event that ends a stream with an error, malloc'd (the caller
 * frees), or NULL when out of memory; msg (msg_len bytes, any bytes) as
 * in olla_err_json().  In each API's shape:
 *
 *   OpenAI:     data: {"error":{"message":M,"type":T,"code":C,
 *               "request_id":ID}}
 *   Anthropic:  event: error
 *               data: {"type":"error","error":{"type":T,"message":M},
 *               "request_id":ID}
 *   Responses:  event: response.failed
 *               data: {"type":"response.failed","sequence_number":N,
 *               "response":{"id":ID,"object":"response","created_at":S,
 *               "status":"failed","error":{"code":T,"message":M},
 *               "incomplete_details":null,"model":MODEL,"output":[]}}
 *               when the response's id is known; before it (no
 *               response.created yet), the error event, with its fields
 *               both flat (as documented) and in an "error" object (as
 *               OpenAI sends it, and as the SDK reads it):
 *               event: error
 *               data: {"type":"error","code":C,"message":M,"param":null,
 *               "sequence_number":N,"error":{"type":T,"code":C,
 *               "message":M,"param":null}}
 *   NDJSON:     {"error":M}
 *
 * N is the last sequence number seen plus one.  SSE events end with a
 * blank line, the NDJSON line with '\n'.
 */
char *olla_err_stream(olla_stream_e shape, const olla_err_t *e,
    const char *msg, size_t msg_len, const olla_stream_info_t *info,
    size_t *len);


#endif /* _OLLA_ERRORS_H_INCLUDED_ */
