
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The translators' operation tables (see olla_xlat.h).
 */


#include "olla_xlat.h"
#include "olla_anthropic.h"
#include "olla_resp.h"
#include "olla_routes.h"

#include <stdlib.h>
#include <string.h>


void
olla_xlat_info_free(olla_xlat_info_t *info)
{
    free(info->model);
    info->model = NULL;
}


static int
olla_xlat_anth_request(const char *body, size_t len, unsigned checked,
    char **out, size_t *outlen, olla_xlat_info_t *info, char *err,
    size_t errlen)
{
    int               rc;
    olla_anth_info_t  ai;

    ai.model = NULL;
    ai.stream = 0;
    ai.input_tokens = 0;

    rc = checked ? olla_anth_request_to_openai_checked(body, len, out,
                                                       outlen, &ai, err,
                                                       errlen)
                 : olla_anth_request_to_openai(body, len, out, outlen, &ai,
                                               err, errlen);

    info->model = ai.model;
    info->stream = ai.stream;
    info->input_tokens = ai.input_tokens;
    info->stateful = 0;

    return rc;
}


static int
olla_xlat_anth_count(const char *body, size_t len, unsigned checked,
    long *tokens, char *err, size_t errlen)
{
    return checked ? olla_anth_count_tokens_checked(body, len, tokens, err,
                                                    errlen)
                   : olla_anth_count_tokens(body, len, tokens, err, errlen);
}


static char *
olla_xlat_anth_error(int status, const char *message, const char *request_id,
    size_t *outlen)
{
    return olla_anth_error_json(status, message, request_id, outlen);
}


static void *
olla_xlat_anth_stream_new(const char *model, long input_tokens,
    size_t max_line, size_t max_buffered)
{
    return olla_anth_stream_new(model, input_tokens, max_line, max_buffered);
}


static int
olla_xlat_anth_stream_feed(void *st, const char *p, size_t n,
    olla_xlat_emit_pt emit, void *data)
{
    return olla_anth_stream_feed(st, p, n, emit, data);
}


static int
olla_xlat_anth_stream_finish(void *st, olla_xlat_emit_pt emit, void *data)
{
    return olla_anth_stream_finish(st, emit, data);
}


static void
olla_xlat_anth_stream_free(void *st)
{
    olla_anth_stream_free(st);
}


const olla_xlat_t  olla_xlat_anthropic = {
    "anthropic",
    0,
    olla_xlat_anth_request,
    olla_anth_response_from_openai,
    olla_xlat_anth_error,
    olla_anth_error_from_backend,
    olla_xlat_anth_stream_new,
    olla_xlat_anth_stream_feed,
    olla_xlat_anth_stream_finish,
    olla_xlat_anth_stream_free,
    olla_xlat_anth_count,
};


const olla_xlat_t *
olla_xlat_get(unsigned id)
{
    switch (id) {

    case OLLA_XLAT_ANTHROPIC:
        return &olla_xlat_anthropic;

    case OLLA_XLAT_RESPONSES:
        return &olla_xlat_responses;

    default:
        return NULL;
    }
}


/* the Responses API: a stream holds the whole output (its done events
 * and response.completed repeat it), so it may hold more */

static int
olla_xlat_resp_request(const char *body, size_t len, unsigned checked,
    char **out, size_t *outlen, olla_xlat_info_t *info, char *err,
    size_t errlen)
{
    int               rc;
    olla_resp_info_t  ri;

    memset(&ri, 0, sizeof(olla_resp_info_t));

    rc = checked ? olla_resp_request_to_openai_checked(body, len, out,
                                                       outlen, &ri, err,
                                                       errlen)
                 : olla_resp_request_to_openai(body, len, out, outlen, &ri,
                                               err, errlen);

    info->model = ri.model;
    info->stream = ri.stream;
    info->input_tokens = ri.input_tokens;
    info->stateful = ri.previous_response_id || ri.conversation;

    return rc;
}


static void *
olla_xlat_resp_stream_new(const char *model, long input_tokens,
    size_t max_line, size_t max_buffered)
{
    return olla_resp_stream_new(model, input_tokens, max_line, max_buffered);
}


static int
olla_xlat_resp_stream_feed(void *st, const char *p, size_t n,
    olla_xlat_emit_pt emit, void *data)
{
    return olla_resp_stream_feed(st, p, n, emit, data);
}


static int
olla_xlat_resp_stream_finish(void *st, olla_xlat_emit_pt emit, void *data)
{
    return olla_resp_stream_finish(st, emit, data);
}


static void
olla_xlat_resp_stream_free(void *st)
{
    olla_resp_stream_free(st);
}


const olla_xlat_t  olla_xlat_responses = {
    "responses",
    64 * 1024 * 1024,
    olla_xlat_resp_request,
    olla_resp_response_from_openai,
    olla_resp_error_json,
    olla_resp_error_from_backend,
    olla_xlat_resp_stream_new,
    olla_xlat_resp_stream_feed,
    olla_xlat_resp_stream_finish,
    olla_xlat_resp_stream_free,
    NULL,
};
