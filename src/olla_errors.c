
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The error catalogue and the error bodies (see olla_errors.h).
 */


#include "olla_errors.h"
#include "olla_jdom.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static void olla_err_code(olla_jout_t *o, const olla_err_t *e);


static const olla_err_t  olla_errs[OLLA_ERR_COUNT] = {

    /* OLLA_ERR_INVALID_PATH */
    { 400, "invalid_request_error", "invalid_path", "invalid_request_error",
      "the path must not contain \"..\" or \".\" segments, encoded "
      "slashes or empty segments" },

    /* OLLA_ERR_METHOD_NOT_ALLOWED */
    { 405, "invalid_request_error", "method_not_allowed",
      "invalid_request_error", "method not allowed" },

    /* OLLA_ERR_ROUTE_NOT_FOUND */
    { 404, "not_found_error", "route_not_found", "not_found_error",
      "unknown route" },

    /* OLLA_ERR_PATH_NOT_FOUND */
    { 404, "not_found_error", "path_not_found", "not_found_error",
      "unknown path" },

    /* OLLA_ERR_NO_ENDPOINT */
    { 404, "not_found_error", "no_endpoint", "not_found_error",
      "no endpoint can serve this route" },

    /* OLLA_ERR_MESSAGE_TOO_LARGE */
    { 413, "request_too_large", "request_too_large", "request_too_large",
      "request body exceeds the maximum message size" },

    /* OLLA_ERR_INVALID_JSON */
    { 400, "invalid_request_error", "invalid_json", "invalid_request_error",
      "request body is not valid JSON" },

    /* OLLA_ERR_INVALID_MODEL */
    { 400, "invalid_request_error", "invalid_model", "invalid_request_error",
      "\"model\" must be a non-empty string" },

    /* OLLA_ERR_INVALID_REQUEST */
    { 400, "invalid_request_error", NULL, "invalid_request_error",
      "invalid request" },

    /* OLLA_ERR_MODEL_NOT_FOUND */
    { 404, "invalid_request_error", "model_not_found", "not_found_error",
      "the model is not available on any healthy endpoint" },

    /* OLLA_ERR_CONCURRENCY_LIMIT */
    { 429, "rate_limit_error", "concurrency_limit", "rate_limit_error",
      "every endpoint that can serve this request is at its concurrency "
      "limit; retry shortly" },

    /* OLLA_ERR_QUEUE_FULL */
    { 429, "rate_limit_error", "queue_full", "rate_limit_error",
      "every endpoint that can serve this request is at its concurrency "
      "limit and the queue is full; retry later" },

    /* OLLA_ERR_QUEUE_TIMEOUT */
    { 429, "rate_limit_error", "queue_timeout", "rate_limit_error",
      "the request waited in the queue for a free endpoint until its wait "
      "ran out; retry later" },

    /* OLLA_ERR_NO_HEALTHY_ENDPOINT */
    { 503, "service_unavailable", "no_healthy_endpoint", "api_error",
      "no healthy endpoint is available" },

    /* OLLA_ERR_NOT_TRANSLATABLE */
    { 503, "api_error", NULL, "api_error",
      "the endpoint cannot serve this API" },

    /* OLLA_ERR_NO_ENDPOINTS */
    { 503, "service_unavailable", "no_endpoints", "api_error",
      "no olla_endpoint is configured" },

    /* OLLA_ERR_RESPONSE_NOT_FOUND */
    { 404, "invalid_request_error", "response_not_found", "not_found_error",
      "no such response" },

    /* OLLA_ERR_PREVIOUS_NOT_FOUND */
    { 400, "invalid_request_error", "previous_response_not_found",
      "invalid_request_error", "previous response not found" },

    /* OLLA_ERR_RESPONSE_UNAVAILABLE */
    { 409, "invalid_request_error", "response_unavailable", "api_error",
      "the endpoint holding the response is unavailable" },

    /* OLLA_ERR_API_KEY_MISSING: OpenAI says "code":null for it */
    { 401, "invalid_request_error", NULL, "authentication_error",
      "no API key: send \"Authorization: Bearer KEY\" or "
      "\"x-api-key: KEY\"" },

    /* OLLA_ERR_API_KEY_INVALID */
    { 401, "invalid_request_error", "invalid_api_key", "authentication_error",
      "invalid API key" },

    /* OLLA_ERR_INTERNAL */
    { 500, "server_error", NULL, "api_error",
      "the gateway failed to handle the request" },

    /* OLLA_ERR_UPSTREAM_UNAVAILABLE */
    { 502, "upstream_error", "upstream_unavailable", "api_error",
      "the endpoint could not be reached or failed before answering, and "
      "no other endpoint could take the request" },

    /* OLLA_ERR_UPSTREAM_TIMEOUT */
    { 504, "upstream_error", "upstream_timeout", "timeout_error",
      "the endpoint did not answer in time" },

    /* OLLA_ERR_BODY_TOO_LARGE */
    { 413, "invalid_request_error", "request_too_large", "request_too_large",
      "the request body is larger than client_max_body_size" },

    /* OLLA_ERR_BAD_REQUEST */
    { 400, "invalid_request_error", "bad_request", "invalid_request_error",
      "bad request" },

    /* OLLA_ERR_REQUEST_TIMEOUT */
    { 408, "invalid_request_error", "request_timeout", "timeout_error",
      "the request was not received in time" },

    /* OLLA_ERR_UNAVAILABLE */
    { 503, "service_unavailable", "service_unavailable", "api_error",
      "the service is unavailable" },

    /* OLLA_ERR_UNAUTHORIZED */
    { 401, "authentication_error", "unauthorized", "authentication_error",
      "authentication is required to use this API" },

    /* OLLA_ERR_FORBIDDEN */
    { 403, "permission_error", "forbidden", "permission_error",
      "access to this API is forbidden" },

    /* OLLA_ERR_NOT_FOUND */
    { 404, "not_found_error", "not_found", "not_found_error",
      "not found" },

    /* OLLA_ERR_URI_TOO_LONG */
    { 414, "invalid_request_error", "uri_too_long", "invalid_request_error",
      "the request URI is too long" },

    /* OLLA_ERR_RATE_LIMITED */
    { 429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error",
      "too many requests; retry later" },

    /* OLLA_ERR_ORIGIN_NOT_ALLOWED */
    { 403, "permission_error", "origin_not_allowed", "permission_error",
      "the origin is not allowed to call this API from a browser" },

    /* OLLA_ERR_STREAM_CUT: OpenAI says server_error mid-stream */
    { 502, "server_error", "stream_interrupted", "api_error",
      "the endpoint ended the stream before the response was complete" },

    /* OLLA_ERR_STREAM_IDLE */
    { 504, "server_error", "stream_idle_timeout", "timeout_error",
      "the endpoint sent nothing for longer than the stream idle timeout; "
      "the response is incomplete" },
};


/* the rows that stand for a status nginx raised */

static const olla_err_e  olla_err_statuses[] = {
    OLLA_ERR_UPSTREAM_UNAVAILABLE,
    OLLA_ERR_UPSTREAM_TIMEOUT,
    OLLA_ERR_BODY_TOO_LARGE,
    OLLA_ERR_BAD_REQUEST,
    OLLA_ERR_REQUEST_TIMEOUT,
    OLLA_ERR_UNAVAILABLE,
    OLLA_ERR_UNAUTHORIZED,
    OLLA_ERR_FORBIDDEN,
    OLLA_ERR_NOT_FOUND,
    OLLA_ERR_URI_TOO_LONG,
    OLLA_ERR_RATE_LIMITED,
};


const olla_err_t *
olla_err(olla_err_e e)
{
    if ((unsigned) e >= OLLA_ERR_COUNT) {
        e = OLLA_ERR_INTERNAL;
    }

    return &olla_errs[e];
}


const olla_err_t *
olla_err_for_status(int status, olla_err_t *tmp)
{
    size_t  i;

    for (i = 0; i < sizeof(olla_err_statuses) / sizeof(olla_err_e); i++) {
        if (olla_errs[olla_err_statuses[i]].status == status) {
            return &olla_errs[olla_err_statuses[i]];
        }
    }

    tmp->status = status;
    tmp->code = NULL;
    tmp->anthropic_type = olla_err_anthropic_type(status);

    if (status >= 500) {
        tmp->openai_type = "server_error";
        tmp->message = "the gateway failed to handle the request";

    } else {
        tmp->openai_type = "invalid_request_error";
        tmp->message = "the request was refused";
    }

    return tmp;
}


const char *
olla_err_anthropic_type(int status)
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


/* the length of a valid UTF-8 sequence at p, 0 when it is not one */

static size_t
olla_err_utf8(const unsigned char *p, size_t n)
{
    unsigned char  c, lo, hi;
    size_t         need, i;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;            /* no surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if (n < need + 1) {
        return 0;
    }

    for (i = 1; i <= need; i++) {
        if (p[i] < lo || p[i] > hi) {
            return 0;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    return need + 1;
}


/* any bytes as JSON string contents: invalid UTF-8 becomes U+FFFD */

static void
olla_err_esc(olla_jout_t *o, const char *s, size_t n)
{
    size_t                i, k;
    const unsigned char  *p;

    p = (const unsigned char *) s;
    i = 0;

    while (i < n) {
        k = i;

        while (k < n) {
            size_t  l;

            l = olla_err_utf8(p + k, n - k);

            if (l == 0) {
                break;
            }

            k += l;
        }

        olla_jout_esc(o, (const char *) p + i, k - i);

        if (k < n) {
            olla_jout_add(o, "\xef\xbf\xbd", 3);
            k++;
        }

        i = k;
    }
}


char *
olla_err_json(olla_dialect_e dialect, const olla_err_t *e, const char *msg,
    size_t msg_len, const char *request_id, size_t id_len, size_t *len)
{
    olla_jout_t  o;

    if (msg == NULL) {
        msg = e->message;
        msg_len = strlen(msg);
    }

    olla_jout_init(&o, msg_len + id_len + 128);

    if (dialect == OLLA_DIALECT_ANTHROPIC) {
        olla_jout_add(&o, "{\"type\":\"error\",\"error\":{\"type\":\"",
                      sizeof("{\"type\":\"error\",\"error\":{\"type\":\"")
                      - 1);
        olla_jout_add(&o, e->anthropic_type, strlen(e->anthropic_type));
        olla_jout_add(&o, "\",\"message\":\"",
                      sizeof("\",\"message\":\"") - 1);
        olla_err_esc(&o, msg, msg_len);
        olla_jout_add(&o, "\"}", 2);

    } else {
        olla_jout_add(&o, "{\"error\":{\"message\":\"",
                      sizeof("{\"error\":{\"message\":\"") - 1);
        olla_err_esc(&o, msg, msg_len);
        olla_jout_add(&o, "\",\"type\":\"", sizeof("\",\"type\":\"") - 1);
        olla_jout_add(&o, e->openai_type, strlen(e->openai_type));
        olla_jout_add(&o, "\",\"param\":null,\"code\":",
                      sizeof("\",\"param\":null,\"code\":") - 1);

        if (e->code) {
            olla_jout_ch(&o, '"');
            olla_jout_add(&o, e->code, strlen(e->code));
            olla_jout_ch(&o, '"');

        } else {
            olla_jout_add(&o, "null", 4);
        }
    }

    if (request_id && id_len) {
        olla_jout_add(&o, ",\"request_id\":\"",
                      sizeof(",\"request_id\":\"") - 1);
        olla_err_esc(&o, request_id, id_len);
        olla_jout_ch(&o, '"');
    }

    if (dialect == OLLA_DIALECT_ANTHROPIC) {
        olla_jout_add(&o, "}\n", 2);

    } else {
        olla_jout_add(&o, "}}\n", 3);
    }

    return olla_jout_finish(&o, len);
}


size_t
olla_err_quote(const char *in, size_t len, char *out)
{
    char                 *p;
    size_t                i;
    unsigned char         c;
    static const char     hex[] = "0123456789abcdef";

    p = out;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char) c;

        } else if (c < 0x20 || c == 0x7f) {
            *p++ = '\\';
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = (char) c;
        }
    }

    return p - out;
}


char *
olla_err_stream(olla_stream_e shape, const olla_err_t *e, const char *msg,
    size_t msg_len, const olla_stream_info_t *info, size_t *len)
{
    char         *body;
    size_t        n;
    long long     seq;
    olla_jout_t   o;

    if (msg == NULL) {
        msg = e->message;
        msg_len = strlen(msg);
    }

    seq = info->sequence >= 0 ? info->sequence + 1 : 0;

    olla_jout_init(&o, 2 * msg_len + info->request_id_len
                       + info->response_id_len + info->model_len + 256);

    switch (shape) {

    case OLLA_STREAM_OPENAI:
    case OLLA_STREAM_ANTHROPIC:

        /* the body of olla_err_json(), less its '\n' */

        body = olla_err_json(shape == OLLA_STREAM_ANTHROPIC
                             ? OLLA_DIALECT_ANTHROPIC : OLLA_DIALECT_OPENAI,
                             e, msg, msg_len, info->request_id,
                             info->request_id_len, &n);
        if (body == NULL) {
            olla_jout_free(&o);
            return NULL;
        }

        if (shape == OLLA_STREAM_ANTHROPIC) {
            olla_jout_lit(&o, "event: error\n");
        }

        olla_jout_lit(&o, "data: ");
        olla_jout_add(&o, body, n - 1);
        olla_jout_lit(&o, "\n\n");

        free(body);
        break;

    case OLLA_STREAM_RESPONSES:

        if (info->response_id && info->response_id_len) {
            olla_jout_lit(&o, "event: response.failed\n"
                          "data: {\"type\":\"response.failed\","
                          "\"sequence_number\":");
            olla_jout_int(&o, seq);
            olla_jout_lit(&o, ",\"response\":{\"id\":\"");
            olla_err_esc(&o, info->response_id, info->response_id_len);
            olla_jout_lit(&o, "\",\"object\":\"response\",\"created_at\":");
            olla_jout_int(&o, info->created_at);
            olla_jout_lit(&o, ",\"status\":\"failed\",\"error\":{"
                          "\"code\":\"");
            olla_jout_add(&o, e->openai_type, strlen(e->openai_type));
            olla_jout_lit(&o, "\",\"message\":\"");
            olla_err_esc(&o, msg, msg_len);
            olla_jout_lit(&o, "\"},\"incomplete_details\":null,"
                          "\"model\":");

            if (info->model) {
                olla_jout_ch(&o, '"');
                olla_err_esc(&o, info->model, info->model_len);
                olla_jout_ch(&o, '"');

            } else {
                olla_jout_lit(&o, "null");
            }

            olla_jout_lit(&o, ",\"output\":[]}}\n\n");
            break;
        }

        olla_jout_lit(&o, "event: error\ndata: {\"type\":\"error\","
                      "\"code\":");
        olla_err_code(&o, e);
        olla_jout_lit(&o, ",\"message\":\"");
        olla_err_esc(&o, msg, msg_len);
        olla_jout_lit(&o, "\",\"param\":null,\"sequence_number\":");
        olla_jout_int(&o, seq);
        olla_jout_lit(&o, ",\"error\":{\"type\":\"");
        olla_jout_add(&o, e->openai_type, strlen(e->openai_type));
        olla_jout_lit(&o, "\",\"code\":");
        olla_err_code(&o, e);
        olla_jout_lit(&o, ",\"message\":\"");
        olla_err_esc(&o, msg, msg_len);
        olla_jout_lit(&o, "\",\"param\":null}}\n\n");
        break;

    default: /* OLLA_STREAM_NDJSON */
        olla_jout_lit(&o, "{\"error\":\"");
        olla_err_esc(&o, msg, msg_len);
        olla_jout_lit(&o, "\"}\n");
        break;
    }

    return olla_jout_finish(&o, len);
}


/* "code": the row's, or null */

static void
olla_err_code(olla_jout_t *o, const olla_err_t *e)
{
    if (e->code) {
        olla_jout_ch(o, '"');
        olla_jout_add(o, e->code, strlen(e->code));
        olla_jout_ch(o, '"');

    } else {
        olla_jout_lit(o, "null");
    }
}
