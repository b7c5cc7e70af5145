
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * A translator, as the glue sees it: a table of operations that turn a
 * client API's request into an OpenAI chat completion request and the
 * backend's answers (JSON, SSE, errors) back into the client's API.  A
 * route-table row that translates points at one; the body filter calls
 * through it.  No nginx headers.
 */


#ifndef _OLLA_XLAT_H_INCLUDED_
#define _OLLA_XLAT_H_INCLUDED_


#include <stddef.h>


typedef int (*olla_xlat_emit_pt)(void *data, const char *p, size_t len);


/* what a translated request said */
typedef struct {
    char      *model;            /* malloc'd, NUL-terminated, or NULL */
    int        stream;
    long       input_tokens;     /* local estimate */
    int        stateful;         /* it needs a stored conversation */
} olla_xlat_info_t;


typedef struct {
    const char  *name;

    /* what a stream may hold (0: the glue's default) */
    size_t       max_buffered;

    /*
     * client request -> OpenAI chat request; 0, or -1 with err (a 400);
     * checked: olla_json_scan_feed() read the body whole and found it
     * valid, its strings need no second check
     */
    int        (*request)(const char *body, size_t len, unsigned checked,
                          char **out, size_t *outlen, olla_xlat_info_t *info,
                          char *err, size_t errlen);

    /* OpenAI chat response (JSON) -> the client's; 0, or -1 with err */
    int        (*response)(const char *body, size_t len, const char *model,
                           char **out, size_t *outlen, char *err,
                           size_t errlen);

    /* the client API's error body for a status and a message */
    char      *(*error)(int status, const char *message,
                        const char *request_id, size_t *outlen);

    /* a backend's error answer (any body) -> the client API's error */
    char      *(*backend_error)(int status, const char *body, size_t len,
                                const char *request_id, size_t *outlen);

    /* OpenAI SSE -> the client API's SSE, event by event */
    void      *(*stream_new)(const char *model, long input_tokens,
                             size_t max_line, size_t max_buffered);
    int        (*stream_feed)(void *st, const char *p, size_t n,
                              olla_xlat_emit_pt emit, void *data);
    int        (*stream_finish)(void *st, olla_xlat_emit_pt emit,
                                void *data);
    void       (*stream_free)(void *st);

    /*
     * a local token count of a request, or NULL when the API has none;
     * checked as for request
     */
    int        (*count_tokens)(const char *body, size_t len,
                               unsigned checked, long *tokens, char *err,
                               size_t errlen);
} olla_xlat_t;


void olla_xlat_info_free(olla_xlat_info_t *info);


/* Anthropic Messages <-> OpenAI chat completions (olla_anthropic.h) */
extern const olla_xlat_t  olla_xlat_anthropic;

/* OpenAI Responses <-> OpenAI chat completions (olla_resp.h) */
extern const olla_xlat_t  olla_xlat_responses;

/* a route-table row's translator (OLLA_XLAT_*), NULL for none */
const olla_xlat_t *olla_xlat_get(unsigned id);


#endif /* _OLLA_XLAT_H_INCLUDED_ */
