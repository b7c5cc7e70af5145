
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The error catalogue: every error the gateway answers itself, by name,
 * with its HTTP status, its OpenAI error type and code, its Anthropic
 * error type and a default message; the status -> type tables for the
 * errors nginx raises (502, 504, 413, ...) and for the translators; and
 * the JSON bodies in each API's shape:
 *
 *   OpenAI:    {"error":{"message":M,"type":T,"code":C,"request_id":ID}}
 *   Anthropic: {"type":"error","error":{"type":T,"message":M},
 *               "request_id":ID}
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
 * catalogue's row for 502, 504, 413, 400, 408 and 503, else a generic
 * row for the status, written into *tmp.
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


#endif /* _OLLA_ERRORS_H_INCLUDED_ */
