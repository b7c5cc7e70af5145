
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the health probe (src/olla_probe.c):
 *
 *   - a table of recorded-looking responses (DMR and Ollama model lists,
 *     chunked with extensions and trailers, bodies to EOF, 1xx interim
 *     responses, errors, bounded bodies, connections closed early), each
 *     fed whole, split in two at every byte, split in three (short ones)
 *     and one byte at a time: the same verdict, status, headers, body and
 *     error every time, and the verdict sticks;
 *   - 4 MiB bodies: exactly the bound is read, one byte more is TOO_BIG,
 *     with Content-Length, chunked and to EOF;
 *   - olla_probe_classify (SPEC 6), Retry-After, the probe backoff.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "olla_probe.h"


#define AGAIN    OLLA_HTTP_AGAIN
#define DONE     OLLA_HTTP_DONE
#define ERROR    OLLA_HTTP_ERROR
#define TOO_BIG  OLLA_HTTP_TOO_BIG

#define HEALTHY    OLLA_HEALTH_HEALTHY
#define UNHEALTHY  OLLA_HEALTH_UNHEALTHY
#define CONFIG     OLLA_HEALTH_CONFIG_ERROR
#define RATE       OLLA_HEALTH_RATE_LIMITED

#define CL_BODY  (-2)         /* content_length: the body's length */

#define S(s)  (s), strlen(s)

#define MIB  (1024 * 1024)


/* GET /engines/v1/models as DMR answers it (json.Encoder: trailing LF) */

#define DMR_LIST                                                              \
    "{\"object\":\"list\",\"data\":["                                         \
    "{\"id\":\"ai/smollm2:latest\",\"object\":\"model\","                     \
    "\"created\":1742916473,\"owned_by\":\"docker\","                         \
    "\"dmr\":{\"context_window\":8192,\"architecture\":\"llama\","            \
    "\"parameters\":\"361.82M\",\"quantization\":\"IQ2_XXS/Q4_K_M\","         \
    "\"size\":\"256.35MiB\"}},"                                               \
    "{\"id\":\"ai/llama3.2:3B-Q4_K_M\",\"object\":\"model\","                 \
    "\"created\":1742816981,\"owned_by\":\"docker\","                         \
    "\"dmr\":{\"context_window\":131072,\"architecture\":\"llama\","          \
    "\"parameters\":\"3.21B\",\"quantization\":\"Q4_K_M\","                   \
    "\"size\":\"1.87GiB\"}},"                                                 \
    "{\"id\":\"hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M\","          \
    "\"object\":\"model\",\"created\":1743000000,\"owned_by\":\"docker\","    \
    "\"dmr\":{\"architecture\":\"llama\",\"parameters\":\"1.24B\","           \
    "\"quantization\":\"Q4_K_M\",\"size\":\"770.28MiB\"}},"                   \
    "{\"id\":\"ai/gemma3\",\"object\":\"model\",\"created\":0,"               \
    "\"owned_by\":\"docker\"}"                                                \
    "]}\n"

#define DMR_EMPTY  "{\"object\":\"list\",\"data\":[]}\n"

/* Ollama's OpenAI-compatible GET /v1/models */

#define OLLAMA_LIST                                                           \
    "{\"object\":\"list\",\"data\":["                                         \
    "{\"id\":\"llama3.2:latest\",\"object\":\"model\","                       \
    "\"created\":1729628826,\"owned_by\":\"library\"},"                       \
    "{\"id\":\"nomic-embed-text:latest\",\"object\":\"model\","               \
    "\"created\":1722526428,\"owned_by\":\"library\"},"                       \
    "{\"id\":\"hf.co/unsloth/Qwen3-0.6B-GGUF:Q4_K_M\",\"object\":\"model\","  \
    "\"created\":1746000000,\"owned_by\":\"unsloth\"}"                        \
    "]}\n"

#define H200  "HTTP/1.1 200 OK\r\n"
#define DATE  "Date: Tue, 15 Apr 2025 10:00:00 GMT\r\n"
#define JSON  "Content-Type: application/json\r\n"
#define TEXT  "Content-Type: text/plain; charset=utf-8\r\n"
#define CHUNKED_HDR  "Transfer-Encoding: chunked\r\n"
#define CLEN  "Content-Length: @LEN@\r\n"


/*
 * A response: text with @BODY@ (the body), @LEN@ (its length) and
 * @CHUNKED@ (the body in chunks of 1, 2, 3, ... bytes, some with
 * extensions; the last chunk is the row's) expanded.
 */

typedef struct {
    const char     *name;
    const char     *text;
    const char     *body;            /* also the expected body; NULL: "" */
    size_t          max_body;        /* 0: the default */

    int             rc;              /* after EOF when it needs one */
    int             eof;             /* ends only when the peer closes */
    int             status;
    int64_t         content_length;  /* CL_BODY: strlen(body) */
    int             chunked;
    const char     *retry_after;     /* NULL: "" */
    const char     *err;             /* NULL: "" */

    olla_health_e   h0;              /* classified, want_models 0 */
    olla_health_e   h1;              /* want_models 1 */
    size_t          models;
} row_t;


static const row_t  rows[] = {

    /* ---- model lists */

    { .name = "dmr list, Content-Length",
      .text = H200 JSON DATE CLEN "\r\n@BODY@",
      .body = DMR_LIST,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 4 },

    { .name = "dmr empty list: healthy",
      .text = H200 JSON DATE CLEN "\r\n@BODY@",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 0 },

    { .name = "dmr list, chunked",
      .text = H200 JSON DATE CHUNKED_HDR "\r\n@CHUNKED@0\r\n\r\n",
      .body = DMR_LIST,
      .rc = DONE, .status = 200, .content_length = -1, .chunked = 1,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 4 },

    { .name = "ollama /v1/models",
      .text = H200 JSON DATE "Content-Length: @LEN@\r\n\r\n@BODY@",
      .body = OLLAMA_LIST,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 3 },

    { .name = "chunk extensions and trailers",
      .text = H200 CHUNKED_HDR "Trailer: X-Checksum\r\n\r\n"
              "19;name=value\r\n{\"object\":\"list\",\"data\":[\r\n"
              "2 ; ext=\"q;r\"\r\n]}\r\n"
              "0;last-chunk\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
      .body = "{\"object\":\"list\",\"data\":[]}",
      .rc = DONE, .status = 200, .content_length = -1, .chunked = 1,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 0 },

    { .name = "chunk sizes: upper case, leading zeros, tab before ';'",
      .text = H200 "TRANSFER-ENCODING: Chunked\r\n\r\n"
              "000A\r\n{\"data\": [\r\n"
              "0000000000000000000000000000000000000002\t;x\r\n]}\r\n"
              "000\r\n\r\n",
      .body = "{\"data\": []}",
      .rc = DONE, .status = 200, .content_length = -1, .chunked = 1,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 0 },

    { .name = "body to EOF, HTTP/1.0",
      .text = "HTTP/1.0 200 OK\r\n" JSON "\r\n@BODY@",
      .body = DMR_LIST,
      .rc = DONE, .eof = 1, .status = 200, .content_length = -1,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 4 },

    { .name = "body to EOF, Connection: close",
      .text = H200 JSON "Connection: close\r\n\r\n@BODY@",
      .body = OLLAMA_LIST,
      .rc = DONE, .eof = 1, .status = 200, .content_length = -1,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 3 },

    { .name = "empty body to EOF",
      .text = H200 "Connection: close\r\n\r\n",
      .rc = DONE, .eof = 1, .status = 200, .content_length = -1,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "LF line endings",
      .text = "HTTP/1.1 200 OK\nContent-Type: application/json\n"
              "Content-Length: @LEN@\n\n@BODY@",
      .body = DMR_LIST,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 4 },

    { .name = "no reason phrase",
      .text = "HTTP/1.1 200\r\n" CLEN "\r\n@BODY@",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "header case and whitespace",
      .text = "HTTP/1.1 200 OK\r\ncontent-LENGTH: \t @LEN@ \t\r\n"
              "RETRY-after:   5  \r\nX-Empty:\r\nX-Tab:\tv\r\n\r\n@BODY@",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .retry_after = "5",
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "the same Content-Length twice",
      .text = H200 CLEN CLEN "\r\n@BODY@",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "chunked wins over Content-Length",
      .text = H200 "Content-Length: 3\r\n" CHUNKED_HDR
              "\r\n@CHUNKED@0\r\n\r\n",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = 3, .chunked = 1,
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "bytes after the body are not read",
      .text = H200 CLEN "\r\n@BODY@HTTP/1.1 500 Oops\r\n\r\ngarbage",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "bytes after the last chunk are not read",
      .text = H200 CHUNKED_HDR "\r\n@CHUNKED@0\r\n\r\nzz\r\n",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = -1, .chunked = 1,
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "many headers",
      .text = H200 "Server: nginx/1.22.1\r\n" DATE JSON
              "Vary: Origin\r\nX-Request-Id: 0b4f8e2a\r\n"
              "Cache-Control: no-cache, no-store, must-revalidate\r\n"
              "Set-Cookie: a=b; Path=/; HttpOnly\r\n"
              "Access-Control-Allow-Origin: *\r\n"
              "Keep-Alive: timeout=5\r\nConnection: keep-alive\r\n"
              CLEN "\r\n@BODY@",
      .body = OLLAMA_LIST,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 3 },

    /* ---- interim responses */

    { .name = "100 Continue",
      .text = "HTTP/1.1 100 Continue\r\n\r\n" H200 CLEN "\r\n@BODY@",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "two interim responses",
      .text = "HTTP/1.1 100 Continue\r\n\r\n"
              "HTTP/1.1 102 Processing\r\n\r\n" H200 CLEN "\r\n@BODY@",
      .body = DMR_LIST,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY, .models = 4 },

    { .name = "103 headers are not the final response's",
      .text = "HTTP/1.1 103 Early Hints\r\n"
              "Link: </style.css>; rel=preload; as=style\r\n"
              "Content-Length: 5\r\nRetry-After: 9\r\n\r\n"
              H200 CHUNKED_HDR "\r\n@CHUNKED@0\r\n\r\n",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = -1, .chunked = 1,
      .h0 = HEALTHY, .h1 = HEALTHY },

    { .name = "a 1xx's Transfer-Encoding is not the final response's",
      .text = "HTTP/1.1 102 Processing\r\n" CHUNKED_HDR "\r\n"
              H200 CLEN "\r\n@BODY@",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = HEALTHY },

    /* ---- other statuses */

    { .name = "401",
      .text = "HTTP/1.1 401 Unauthorized\r\n" JSON
              "WWW-Authenticate: Bearer\r\n" CLEN "\r\n@BODY@",
      .body = "{\"error\":{\"message\":\"invalid api key\","
              "\"type\":\"authentication_error\"}}",
      .rc = DONE, .status = 401, .content_length = CL_BODY,
      .h0 = CONFIG, .h1 = CONFIG },

    { .name = "403",
      .text = "HTTP/1.1 403 Forbidden\r\n" TEXT CLEN "\r\n@BODY@",
      .body = "Forbidden\n",
      .rc = DONE, .status = 403, .content_length = CL_BODY,
      .h0 = CONFIG, .h1 = CONFIG },

    { .name = "429, Retry-After seconds",
      .text = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\n" JSON
              CLEN "\r\n@BODY@",
      .body = "{\"error\":\"rate limited\"}",
      .rc = DONE, .status = 429, .content_length = CL_BODY,
      .retry_after = "30",
      .h0 = RATE, .h1 = RATE },

    { .name = "429, Retry-After date",
      .text = "HTTP/1.1 429 Too Many Requests\r\n"
              "Retry-After: Tue, 15 Apr 2025 10:00:30 GMT\r\n"
              "Content-Length: 0\r\n\r\n",
      .rc = DONE, .status = 429, .content_length = 0,
      .retry_after = "Tue, 15 Apr 2025 10:00:30 GMT",
      .h0 = RATE, .h1 = RATE },

    { .name = "429, a Retry-After too long is cut",
      .text = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: "
              "0123456789012345678901234567890123456789"
              "0123456789012345678901234567890123456789\r\n"
              "Content-Length: 0\r\n\r\n",
      .rc = DONE, .status = 429, .content_length = 0,
      .retry_after = "0123456789012345678901234567890123456789"
                     "01234567890123456789012",
      .h0 = RATE, .h1 = RATE },

    { .name = "503 while DMR is busy",
      .text = "HTTP/1.1 503 Service Unavailable\r\n" TEXT
              "X-Content-Type-Options: nosniff\r\n" DATE CLEN
              "\r\n@BODY@",
      .body = "service unavailable: model is loading\n",
      .rc = DONE, .status = 503, .content_length = CL_BODY,
      .h0 = UNHEALTHY, .h1 = UNHEALTHY },

    { .name = "404 from Go's mux",
      .text = "HTTP/1.1 404 Not Found\r\n" TEXT
              "X-Content-Type-Options: nosniff\r\n" DATE
              "Content-Length: 19\r\n\r\n404 page not found\n",
      .body = "404 page not found\n",
      .rc = DONE, .status = 404, .content_length = 19,
      .h0 = UNHEALTHY, .h1 = UNHEALTHY },

    { .name = "500 with a JSON error",
      .text = "HTTP/1.1 500 Internal Server Error\r\n" JSON CLEN
              "\r\n@BODY@",
      .body = "{\"object\":\"list\",\"data\":[]}",
      .rc = DONE, .status = 500, .content_length = CL_BODY,
      .h0 = UNHEALTHY, .h1 = UNHEALTHY },

    { .name = "302",
      .text = "HTTP/1.1 302 Found\r\nLocation: /login\r\n"
              "Content-Length: 0\r\n\r\n",
      .rc = DONE, .status = 302, .content_length = 0,
      .h0 = UNHEALTHY, .h1 = UNHEALTHY },

    { .name = "201 with a list",
      .text = "HTTP/1.1 201 Created\r\n" CLEN "\r\n@BODY@",
      .body = DMR_EMPTY,
      .rc = DONE, .status = 201, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "204",
      .text = "HTTP/1.1 204 No Content\r\n" DATE "\r\n",
      .rc = DONE, .status = 204, .content_length = -1,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "204 has no body whatever Content-Length says",
      .text = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
      .rc = DONE, .status = 204, .content_length = 10,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "304 has no body whatever Transfer-Encoding says",
      .text = "HTTP/1.1 304 Not Modified\r\n" CHUNKED_HDR "\r\n",
      .rc = DONE, .status = 304, .content_length = -1, .chunked = 1,
      .h0 = UNHEALTHY, .h1 = UNHEALTHY },

    /* ---- 200 but not a model list */

    { .name = "200 plain text",
      .text = H200 TEXT "Content-Length: 2\r\n\r\nOK",
      .body = "OK",
      .rc = DONE, .status = 200, .content_length = 2,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "200 HTML",
      .text = H200 "Content-Type: text/html\r\n" CLEN "\r\n@BODY@",
      .body = "<html><head><title>Welcome to nginx!</title></head>"
              "<body><h1>Welcome to nginx!</h1></body></html>\n",
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "200 empty body",
      .text = H200 JSON "Content-Length: 0\r\n\r\n",
      .rc = DONE, .status = 200, .content_length = 0,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "200 data null",
      .text = H200 JSON CLEN "\r\n@BODY@",
      .body = "{\"object\":\"list\",\"data\":null}\n",
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "200 top-level array",
      .text = H200 JSON CLEN "\r\n@BODY@",
      .body = "[{\"id\":\"ai/smollm2:latest\"}]",
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "200 truncated JSON",
      .text = H200 JSON CLEN "\r\n@BODY@",
      .body = "{\"object\":\"list\",\"data\":[{\"id\":\"ai/smol",
      .rc = DONE, .status = 200, .content_length = CL_BODY,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    { .name = "200 binary body",
      .text = H200 "Content-Length: 6\r\n\r\n\x1f\x8b\x08\x08\xff\x01",
      .body = "\x1f\x8b\x08\x08\xff\x01",
      .rc = DONE, .status = 200, .content_length = 6,
      .h0 = HEALTHY, .h1 = UNHEALTHY },

    /* ---- malformed */

    { .name = "HTTP/2", .text = "HTTP/2 200\r\n\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "four digits", .text = "HTTP/1.1 2000 OK\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "two digits", .text = "HTTP/1.1 20 OK\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "status 099", .text = "HTTP/1.1 099 Early\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "lower-case version", .text = "http/1.1 200 OK\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "two spaces", .text = "HTTP/1.1  200 OK\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "no space after code", .text = "HTTP/1.1 200OK\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "minor version not a digit", .text = "HTTP/1.x 200 OK\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "empty line first", .text = "\r\nHTTP/1.1 200 OK\r\n\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "short line", .text = "HTTP/1.1\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "SSH banner",
      .text = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
      .rc = ERROR, .content_length = -1, .err = "invalid HTTP status line" },
    { .name = "a TLS alert: no line at all",
      .text = "\x15\x03\x03\x01\x02\x02\x46",
      .rc = ERROR, .eof = 1, .content_length = -1,
      .err = "connection closed in the middle of the response" },

    { .name = "header without a colon",
      .text = H200 "NoColon\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "header without a name",
      .text = H200 ": value\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "folded header",
      .text = H200 "X-A: b\r\n  folded\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "Content-Length: abc",
      .text = H200 "Content-Length: abc\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "Content-Length: -1",
      .text = H200 "Content-Length: -1\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "Content-Length: +5",
      .text = H200 "Content-Length: +5\r\n\r\nhello",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "Content-Length: 1 2",
      .text = H200 "Content-Length: 1 2\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "Content-Length: 5, 5",
      .text = H200 "Content-Length: 5, 5\r\n\r\nhello",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "Content-Length empty",
      .text = H200 "Content-Length:  \r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "Content-Length past INT64_MAX",
      .text = H200 "Content-Length: 9223372036854775808\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1,
      .err = "invalid response header" },
    { .name = "two different Content-Lengths",
      .text = H200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      .rc = ERROR, .status = 200, .content_length = 5,
      .err = "invalid response header" },

    { .name = "chunk size zz",
      .text = H200 CHUNKED_HDR "\r\nzz\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk size empty",
      .text = H200 CHUNKED_HDR "\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk size -5",
      .text = H200 CHUNKED_HDR "\r\n-5\r\nhello\r\n0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk size +5",
      .text = H200 CHUNKED_HDR "\r\n+5\r\nhello\r\n0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk size 0x5",
      .text = H200 CHUNKED_HDR "\r\n0x5\r\nhello\r\n0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk size with a leading space",
      .text = H200 CHUNKED_HDR "\r\n 5\r\nhello\r\n0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk size 5x",
      .text = H200 CHUNKED_HDR "\r\n5x\r\nhello\r\n0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk size 5 x",
      .text = H200 CHUNKED_HDR "\r\n5 x\r\nhello\r\n0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk size" },
    { .name = "chunk longer than its size",
      .text = H200 CHUNKED_HDR "\r\n5\r\nhelloX\r\n0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk terminator" },
    { .name = "chunk without its CRLF",
      .text = H200 CHUNKED_HDR "\r\n5\r\nhello0\r\n\r\n",
      .rc = ERROR, .status = 200, .content_length = -1, .chunked = 1,
      .err = "invalid chunk terminator" },

    /* ---- bounded bodies (max_body 16) */

    { .name = "Content-Length over the bound: no need to read it",
      .text = H200 "Content-Length: 17\r\n\r\n",
      .max_body = 16,
      .rc = TOO_BIG, .status = 200, .content_length = 17,
      .err = "response body too large" },
    { .name = "Content-Length at the bound",
      .text = H200 "Content-Length: 16\r\n\r\n0123456789abcdef",
      .body = "0123456789abcdef", .max_body = 16,
      .rc = DONE, .status = 200, .content_length = 16,
      .h0 = HEALTHY, .h1 = UNHEALTHY },
    { .name = "chunks over the bound",
      .text = H200 CHUNKED_HDR "\r\na\r\n0123456789\r\n7\r\nabcdefg\r\n"
              "0\r\n\r\n",
      .max_body = 16,
      .rc = TOO_BIG, .status = 200, .content_length = -1, .chunked = 1,
      .err = "response body too large" },
    { .name = "chunks at the bound",
      .text = H200 CHUNKED_HDR "\r\na\r\n0123456789\r\n6\r\nabcdef\r\n"
              "0\r\n\r\n",
      .body = "0123456789abcdef", .max_body = 16,
      .rc = DONE, .status = 200, .content_length = -1, .chunked = 1,
      .h0 = HEALTHY, .h1 = UNHEALTHY },
    { .name = "a chunk size past 64 bits",
      .text = H200 CHUNKED_HDR "\r\nffffffffffffffffffff\r\n",
      .rc = TOO_BIG, .status = 200, .content_length = -1, .chunked = 1,
      .err = "response body too large" },
    { .name = "a chunk size of 2^63",
      .text = H200 CHUNKED_HDR "\r\n8000000000000000\r\n",
      .rc = TOO_BIG, .status = 200, .content_length = -1, .chunked = 1,
      .err = "response body too large" },
    { .name = "body to EOF over the bound",
      .text = H200 "\r\n0123456789abcdefg",
      .max_body = 16,
      .rc = TOO_BIG, .status = 200, .content_length = -1,
      .err = "response body too large" },
    { .name = "body to EOF at the bound",
      .text = H200 "\r\n0123456789abcdef",
      .body = "0123456789abcdef", .max_body = 16,
      .rc = DONE, .eof = 1, .status = 200, .content_length = -1,
      .h0 = HEALTHY, .h1 = UNHEALTHY },
    { .name = "Content-Length INT64_MAX",
      .text = H200 "Content-Length: 9223372036854775807\r\n\r\n",
      .rc = TOO_BIG, .status = 200, .content_length = INT64_MAX,
      .err = "response body too large" },

    /* ---- the peer closes early */

    { .name = "closed without a byte", .text = "",
      .rc = ERROR, .eof = 1, .content_length = -1,
      .err = "connection closed without a response" },
    { .name = "closed in the status line", .text = "HTTP/1.1 200 OK",
      .rc = ERROR, .eof = 1, .content_length = -1,
      .err = "connection closed in the middle of the response" },
    { .name = "closed in the headers",
      .text = H200 JSON "Content-Len",
      .rc = ERROR, .eof = 1, .status = 200, .content_length = -1,
      .err = "connection closed in the middle of the response" },
    { .name = "closed before the empty line",
      .text = H200 JSON,
      .rc = ERROR, .eof = 1, .status = 200, .content_length = -1,
      .err = "connection closed in the middle of the response" },
    { .name = "closed in a Content-Length body",
      .text = H200 JSON "Content-Length: 100\r\n\r\n{\"object\":",
      .rc = ERROR, .eof = 1, .status = 200, .content_length = 100,
      .err = "connection closed before the body ended" },
    { .name = "closed in a chunk",
      .text = H200 CHUNKED_HDR "\r\n1b\r\n{\"object\":",
      .rc = ERROR, .eof = 1, .status = 200, .content_length = -1,
      .chunked = 1,
      .err = "connection closed in the middle of the response" },
    { .name = "closed before the last chunk",
      .text = H200 CHUNKED_HDR "\r\n@CHUNKED@",
      .body = DMR_EMPTY,
      .rc = ERROR, .eof = 1, .status = 200, .content_length = -1,
      .chunked = 1,
      .err = "connection closed in the middle of the response" },
    { .name = "closed in the trailer",
      .text = H200 CHUNKED_HDR "\r\n@CHUNKED@0\r\nX-T: 1\r\n",
      .body = DMR_EMPTY,
      .rc = ERROR, .eof = 1, .status = 200, .content_length = -1,
      .chunked = 1,
      .err = "connection closed in the middle of the response" },
    { .name = "closed after 100 Continue",
      .text = "HTTP/1.1 100 Continue\r\n\r\n",
      .rc = ERROR, .eof = 1, .status = 100, .content_length = -1,
      .err = "connection closed without a response" },
};


/* ------------------------------------------------------------ helpers */

static char *
expand(const char *text, const char *body, size_t *len)
{
    char        *out, *o;
    size_t       blen, cap, k, step;
    const char  *t;

    *len = 0;

    blen = body ? strlen(body) : 0;
    cap = strlen(text) + 4 * blen + 256;

    out = malloc(cap);
    if (out == NULL) {
        fail();
        return NULL;
    }

    o = out;

    for (t = text; *t; ) {
        if (strncmp(t, "@BODY@", 6) == 0) {
            memcpy(o, body, blen);
            o += blen;
            t += 6;

        } else if (strncmp(t, "@LEN@", 5) == 0) {
            o += sprintf(o, "%zu", blen);
            t += 5;

        } else if (strncmp(t, "@CHUNKED@", 9) == 0) {
            for (k = 0, step = 1; k < blen; k += step, step++) {
                if (step > blen - k) {
                    step = blen - k;
                }

                o += sprintf(o, step % 3 ? "%zx\r\n" : "%zX;n=%zu\r\n",
                             step, k);
                memcpy(o, body + k, step);
                o += step;
                *o++ = '\r';
                *o++ = '\n';
            }

            t += 9;

        } else {
            *o++ = *t++;
        }
    }

    *len = (size_t) (o - out);

    return out;
}


/*
 * Feeds p in pieces: of `step` bytes, or (step 0) [0, a), [a, b), [b, n).
 * Then EOF when the reader still wants more.  Returns the verdict.
 */

static int
feed(olla_http_resp_t *r, const char *p, size_t n, size_t step, size_t a,
    size_t b, int *eof)
{
    int     rc;
    size_t  off, k;

    rc = AGAIN;
    *eof = 0;

    if (step) {
        for (off = 0; off < n; off += k) {
            k = n - off < step ? n - off : step;
            rc = olla_http_resp_feed(r, p + off, k);

            if (rc != AGAIN) {
                return rc;
            }
        }

    } else {
        rc = olla_http_resp_feed(r, p, a);

        if (rc == AGAIN) {
            rc = olla_http_resp_feed(r, p + a, b - a);
        }

        if (rc == AGAIN) {
            rc = olla_http_resp_feed(r, p + b, n - b);
        }

        if (rc != AGAIN) {
            return rc;
        }
    }

    *eof = 1;

    return olla_http_resp_eof(r);
}


static void
same(const olla_http_resp_t *a, int rca, int eofa,
    const olla_http_resp_t *b, int rcb, int eofb, const char *what)
{
    if (rca == rcb && eofa == eofb && a->status == b->status
        && a->content_length == b->content_length
        && a->chunked == b->chunked
        && strcmp(a->retry_after, b->retry_after) == 0
        && strcmp(a->err, b->err) == 0
        && (rca != DONE
            || (a->body_len == b->body_len
                && (a->body_len == 0
                    || memcmp(a->body, b->body, a->body_len) == 0))))
    {
        return;
    }

    print_error("%s: rc %d/%d eof %d/%d status %d/%d cl %lld/%lld "
                "chunked %d/%d body %zu/%zu err \"%s\"/\"%s\"\n", what,
                rca, rcb, eofa, eofb, a->status, b->status,
                (long long) a->content_length, (long long) b->content_length,
                a->chunked, b->chunked, a->body_len, b->body_len,
                a->err, b->err);
    fail();
}


/* the verdict sticks: more input and EOF change nothing */

static void
sticky(olla_http_resp_t *r, int rc)
{
    size_t  len;

    len = r->body_len;

    assert_int_equal(olla_http_resp_feed(r, S("HTTP/1.1 200 OK\r\n")), rc);
    assert_int_equal(olla_http_resp_feed(r, "", 0), rc);
    assert_int_equal(olla_http_resp_eof(r), rc);
    assert_int_equal(olla_http_resp_eof(r), rc);
    assert_int_equal(r->body_len, len);
}


static void
check_row(const row_t *row, const char *text, size_t len)
{
    int                rc, eof, rc2, eof2;
    char               reason[160];
    size_t             a, b, blen;
    olla_health_e      h;
    olla_http_resp_t   r, r2;
    olla_model_list_t  models;

    /* whole */

    olla_http_resp_init(&r, row->max_body);
    rc = feed(&r, text, len, len ? len : 1, 0, 0, &eof);

    if (rc != row->rc || eof != row->eof) {
        print_error("%s: rc %d (eof %d), want %d (eof %d); err \"%s\"\n",
                    row->name, rc, eof, row->rc, row->eof, r.err);
        fail();
    }

    if (r.status != row->status || r.chunked != row->chunked
        || strcmp(r.retry_after, row->retry_after ? row->retry_after : "")
        || strcmp(r.err, row->err ? row->err : ""))
    {
        print_error("%s: status %d chunked %d Retry-After \"%s\" "
                    "err \"%s\"\n", row->name, r.status, r.chunked,
                    r.retry_after, r.err);
        fail();
    }

    if (row->content_length == CL_BODY) {
        assert_int_equal(r.content_length, strlen(row->body));

    } else {
        assert_int_equal(r.content_length, row->content_length);
    }

    if (rc == DONE) {
        blen = row->body ? strlen(row->body) : 0;

        assert_int_equal(r.body_len, blen);

        if (blen) {
            assert_non_null(r.body);
            assert_memory_equal(r.body, row->body, blen);
            assert_int_equal(r.body[blen], '\0');
        }

        /* classified */

        memset(&models, 0, sizeof(models));
        h = olla_probe_classify(&r, 0, &models, reason, sizeof(reason));

        if (h != row->h0) {
            print_error("%s: want_models 0: %s (%s), want %s\n", row->name,
                        olla_health_name(h), reason,
                        olla_health_name(row->h0));
            fail();
        }

        assert_null(models.items);

        h = olla_probe_classify(&r, 1, &models, reason, sizeof(reason));

        if (h != row->h1) {
            print_error("%s: want_models 1: %s (%s), want %s\n", row->name,
                        olla_health_name(h), reason,
                        olla_health_name(row->h1));
            fail();
        }

        assert_int_equal(models.n, h == HEALTHY ? row->models : 0);
        olla_models_free(&models);
    }

    /* split in two at every byte */

    for (a = 0; a <= len; a++) {
        olla_http_resp_init(&r2, row->max_body);
        rc2 = feed(&r2, text, len, 0, a, len, &eof2);
        same(&r, rc, eof, &r2, rc2, eof2, row->name);
        sticky(&r2, rc2);
        olla_http_resp_free(&r2);
    }

    /* in three, for the short ones */

    if (len <= 200) {
        for (a = 0; a <= len; a++) {
            for (b = a; b <= len; b++) {
                olla_http_resp_init(&r2, row->max_body);
                rc2 = feed(&r2, text, len, 0, a, b, &eof2);
                same(&r, rc, eof, &r2, rc2, eof2, row->name);
                olla_http_resp_free(&r2);
            }
        }
    }

    /* one byte at a time, and in a few other strides */

    for (a = 1; a <= 7; a++) {
        olla_http_resp_init(&r2, row->max_body);
        rc2 = feed(&r2, text, len, a, 0, 0, &eof2);
        same(&r, rc, eof, &r2, rc2, eof2, row->name);
        olla_http_resp_free(&r2);
    }

    sticky(&r, rc);

    olla_http_resp_free(&r);
    assert_null(r.body);

    /* freeing twice is harmless */
    olla_http_resp_free(&r);
}


/* ------------------------------------------------------------ tests */

static void
test_responses(void **state)
{
    char    *text;
    size_t   i, len;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        text = expand(rows[i].text, rows[i].body, &len);
        check_row(&rows[i], text, len);
        free(text);
    }
}


/* a line fills r->line: 1023 bytes with its CR fit, 1024 do not */

static void
test_line_bound(void **state)
{
    char    *text, pad[1100];
    size_t   len, fill;
    row_t    row;

    memset(&row, 0, sizeof(row));

    text = malloc(2048);
    if (text == NULL) {
        fail();
        return;
    }

    /* a header line of 1022 bytes + CR */

    fill = 1022 - strlen("X-Pad: ");
    memset(pad, 'p', fill);
    pad[fill] = '\0';

    len = (size_t) sprintf(text, H200 "X-Pad: %s\r\nContent-Length: 2\r\n"
                           "\r\nOK", pad);

    row.name = "longest header line";
    row.body = "OK";
    row.rc = DONE;
    row.status = 200;
    row.content_length = 2;
    row.h0 = HEALTHY;
    row.h1 = UNHEALTHY;
    check_row(&row, text, len);

    /* one byte more */

    len = (size_t) sprintf(text, H200 "X-Pad: p%s\r\nContent-Length: 2\r\n"
                           "\r\nOK", pad);

    memset(&row, 0, sizeof(row));
    row.name = "header line too long";
    row.rc = ERROR;
    row.status = 200;
    row.content_length = -1;
    row.err = "response line too long";
    check_row(&row, text, len);

    /* a status line with a long reason */

    fill = 1022 - strlen("HTTP/1.1 503 ");
    memset(pad, 'r', fill);
    pad[fill] = '\0';

    len = (size_t) sprintf(text, "HTTP/1.1 503 %s\r\nContent-Length: 0\r\n"
                           "\r\n", pad);

    memset(&row, 0, sizeof(row));
    row.name = "longest status line";
    row.rc = DONE;
    row.status = 503;
    row.content_length = 0;
    row.h0 = UNHEALTHY;
    row.h1 = UNHEALTHY;
    check_row(&row, text, len);

    len = (size_t) sprintf(text, "HTTP/1.1 503 r%s\r\nContent-Length: 0\r\n"
                           "\r\n", pad);

    memset(&row, 0, sizeof(row));
    row.name = "status line too long";
    row.rc = ERROR;
    row.content_length = -1;
    row.err = "response line too long";
    check_row(&row, text, len);

    /* a chunk extension too long */

    memset(pad, 'e', 1100);
    pad[1099] = '\0';

    len = (size_t) sprintf(text, H200 CHUNKED_HDR "\r\n2;%s\r\nOK\r\n"
                           "0\r\n\r\n", pad);

    memset(&row, 0, sizeof(row));
    row.name = "chunk extension too long";
    row.rc = ERROR;
    row.status = 200;
    row.content_length = -1;
    row.chunked = 1;
    row.err = "response line too long";
    check_row(&row, text, len);

    free(text);
}


/*
 * A DMR list of 5000 models padded to exactly `size` bytes (the
 * whitespace is JSON's, so the list stays valid).
 */

static char *
big_list(size_t size)
{
    char    *b, *p;
    size_t   i;

    b = malloc(size + 1);
    if (b == NULL) {
        fail();
        return NULL;
    }

    p = b + sprintf(b, "{\"object\":\"list\",\"data\":[");

    for (i = 0; i < 5000; i++) {
        p += sprintf(p, "%s{\"id\":\"ai/model-%zu:Q4_K_M\",\"object\":"
                     "\"model\",\"created\":1742916473,\"owned_by\":"
                     "\"docker\",\"dmr\":{\"context_window\":8192,"
                     "\"architecture\":\"llama\",\"parameters\":\"361.82M\","
                     "\"quantization\":\"Q4_K_M\",\"size\":\"256.35MiB\"}}",
                     i ? "," : "", i);
    }

    p += sprintf(p, "]}");

    assert_true((size_t) (p - b) < size);

    memset(p, ' ', size - (size_t) (p - b));
    b[size - 1] = '\n';
    b[size] = '\0';

    return b;
}


static char *
with_head(const char *head, const char *body, size_t blen, size_t *len)
{
    char    *t;
    size_t   h;

    h = strlen(head);
    *len = 0;

    t = malloc(h + blen + 64);
    if (t == NULL) {
        fail();
        return NULL;
    }

    memcpy(t, head, h);
    memcpy(t + h, body, blen);
    memcpy(t + h + blen, "\r\n0\r\n\r\n", 8);

    *len = h + blen;

    return t;
}


/* feeds a big response whole, bytewise and split at some places */

static void
big_run(const char *text, size_t len, int want_rc, int want_eof,
    size_t want_body, olla_http_resp_t *out)
{
    int               rc, eof;
    size_t            i, at;
    olla_http_resp_t  r;

    static const size_t  cuts[] = {
        0, 1, 17, 18, 19, 40, 60, 61, 62, 63, 64, 65, 100, 4095, 4096,
        4097, 65536, MIB, 2 * MIB + 3, 4 * MIB - 1, 4 * MIB, 4 * MIB + 1
    };

    olla_http_resp_init(out, 0);
    rc = feed(out, text, len, len, 0, 0, &eof);
    assert_int_equal(rc, want_rc);
    assert_int_equal(eof, want_eof);

    if (rc == DONE) {
        assert_int_equal(out->body_len, want_body);
    }

    olla_http_resp_init(&r, 0);
    assert_int_equal(feed(&r, text, len, 1, 0, 0, &eof), rc);
    same(out, rc, want_eof, &r, rc, eof, "big, bytewise");
    olla_http_resp_free(&r);

    olla_http_resp_init(&r, 0);
    assert_int_equal(feed(&r, text, len, 1500, 0, 0, &eof), rc);
    same(out, rc, want_eof, &r, rc, eof, "big, 1500-byte reads");
    olla_http_resp_free(&r);

    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        at = cuts[i] < len ? cuts[i] : len;

        olla_http_resp_init(&r, 0);
        assert_int_equal(feed(&r, text, len, 0, at, len, &eof), rc);
        same(out, rc, want_eof, &r, rc, eof, "big, split");
        olla_http_resp_free(&r);
    }
}


static void
test_big_bodies(void **state)
{
    char               head[256], reason[160], *body, *text;
    size_t             len;
    olla_health_e      h;
    olla_http_resp_t   r;
    olla_model_list_t  models;

    body = big_list(OLLA_PROBE_MAX_BODY + 1);

    /* exactly the bound, Content-Length: read, parsed, 4096 models kept */

    sprintf(head, H200 JSON "Content-Length: %d\r\n\r\n",
            OLLA_PROBE_MAX_BODY);
    text = with_head(head, body, OLLA_PROBE_MAX_BODY, &len);

    big_run(text, len, DONE, 0, OLLA_PROBE_MAX_BODY, &r);

    memset(&models, 0, sizeof(models));
    h = olla_probe_classify(&r, 1, &models, reason, sizeof(reason));
    assert_int_equal(h, HEALTHY);
    assert_int_equal(models.n, OLLA_MODEL_MAX_LIST);
    assert_string_equal(reason, "HTTP 200, 4096 models");
    assert_string_equal(models.items[4095].norm, "ai/model-4095:q4_k_m");
    olla_models_free(&models);
    olla_http_resp_free(&r);
    free(text);

    /* one byte over, Content-Length: refused before the body is read */

    sprintf(head, H200 JSON "Content-Length: %d\r\n\r\n",
            OLLA_PROBE_MAX_BODY + 1);
    text = with_head(head, body, OLLA_PROBE_MAX_BODY + 1, &len);
    big_run(text, len, TOO_BIG, 0, 0, &r);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(r.err, "response body too large");
    olla_http_resp_free(&r);
    free(text);

    /* exactly the bound, chunked in one chunk */

    sprintf(head, H200 JSON CHUNKED_HDR "\r\n%x\r\n",
            (unsigned) OLLA_PROBE_MAX_BODY);
    text = with_head(head, body, OLLA_PROBE_MAX_BODY, &len);
    len += 7;
    big_run(text, len, DONE, 0, OLLA_PROBE_MAX_BODY, &r);
    olla_http_resp_free(&r);
    free(text);

    /* one byte over, chunked: two chunks, the second refused */

    sprintf(head, H200 JSON CHUNKED_HDR "\r\n%x\r\n",
            (unsigned) OLLA_PROBE_MAX_BODY);
    text = with_head(head, body, OLLA_PROBE_MAX_BODY, &len);
    memcpy(text + len, "\r\n1\r\nx\r\n0\r\n\r\n", 13);
    len += 13;
    big_run(text, len, TOO_BIG, 0, 0, &r);
    assert_int_equal(r.body_len, OLLA_PROBE_MAX_BODY);
    olla_http_resp_free(&r);
    free(text);

    /* to EOF: exactly the bound, then one byte over */

    text = with_head(H200 JSON "\r\n", body, OLLA_PROBE_MAX_BODY, &len);
    big_run(text, len, DONE, 1, OLLA_PROBE_MAX_BODY, &r);
    olla_http_resp_free(&r);
    free(text);

    text = with_head(H200 JSON "\r\n", body, OLLA_PROBE_MAX_BODY + 1, &len);
    big_run(text, len, TOO_BIG, 0, 0, &r);
    assert_string_equal(r.err, "response body too large");
    olla_http_resp_free(&r);
    free(text);

    free(body);
}


/* max_body 0 is the default bound, any other is honoured */

static void
test_init(void **state)
{
    olla_http_resp_t  r;

    olla_http_resp_init(&r, 0);
    assert_int_equal(r.max_body, OLLA_PROBE_MAX_BODY);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.content_length, -1);
    assert_int_equal(r.chunked, 0);
    assert_string_equal(r.retry_after, "");
    assert_string_equal(r.err, "");
    assert_null(r.body);
    assert_int_equal(r.body_len, 0);
    olla_http_resp_free(&r);

    olla_http_resp_init(&r, 10);
    assert_int_equal(r.max_body, 10);
    olla_http_resp_free(&r);
}


/* ------------------------------------------------------------ classify */

typedef struct {
    int             status;
    const char     *body;            /* NULL: none */
    const char     *retry_after;
    int             want_models;
    olla_health_e   health;
    size_t          models;
    const char     *reason;          /* exact */
} class_row_t;

static const class_row_t  class_rows[] = {
    { 200, DMR_EMPTY, "", 1, HEALTHY, 0, "HTTP 200, 0 models" },
    { 200, "{\"data\":[]}", "", 1, HEALTHY, 0, "HTTP 200, 0 models" },
    { 200, "{\"data\":[{\"id\":\"ai/smollm2\"}]}", "", 1, HEALTHY, 1,
      "HTTP 200, 1 model" },
    { 200, DMR_LIST, "", 1, HEALTHY, 4, "HTTP 200, 4 models" },
    { 200, OLLAMA_LIST, "", 1, HEALTHY, 3, "HTTP 200, 3 models" },
    { 200, "{\"data\":[{\"name\":\"x\"}]}", "", 1, HEALTHY, 0,
      "HTTP 200, 0 models" },
    { 200, DMR_LIST, "", 0, HEALTHY, 0, "HTTP 200" },

    { 200, "garbage", "", 0, HEALTHY, 0, "HTTP 200" },
    { 200, NULL, "", 0, HEALTHY, 0, "HTTP 200" },
    { 200, "garbage", "", 1, UNHEALTHY, 0,
      "HTTP 200 but model list is not valid JSON: "
      "'[' or '{' expected near 'garbage'" },
    { 200, NULL, "", 1, UNHEALTHY, 0,
      "HTTP 200 but model list is not valid JSON: "
      "'[' or '{' expected near end of file" },
    { 200, "{}", "", 1, UNHEALTHY, 0,
      "HTTP 200 but model list has no \"data\" array" },
    { 200, "{\"data\":{}}", "", 1, UNHEALTHY, 0,
      "HTTP 200 but model list has no \"data\" array" },
    { 200, "[]", "", 1, UNHEALTHY, 0,
      "HTTP 200 but model list is not a JSON object" },

    { 201, DMR_EMPTY, "", 0, HEALTHY, 0, "HTTP 201" },
    { 202, NULL, "", 0, HEALTHY, 0, "HTTP 202" },
    { 204, NULL, "", 0, HEALTHY, 0, "HTTP 204" },
    { 299, NULL, "", 0, HEALTHY, 0, "HTTP 299" },
    { 201, DMR_EMPTY, "", 1, UNHEALTHY, 0, "HTTP 201" },
    { 204, NULL, "", 1, UNHEALTHY, 0, "HTTP 204" },

    { 100, NULL, "", 0, UNHEALTHY, 0, "HTTP 100" },
    { 199, NULL, "", 1, UNHEALTHY, 0, "HTTP 199" },
    { 300, NULL, "", 0, UNHEALTHY, 0, "HTTP 300" },
    { 301, NULL, "", 1, UNHEALTHY, 0, "HTTP 301" },
    { 304, NULL, "", 0, UNHEALTHY, 0, "HTTP 304" },
    { 400, NULL, "", 0, UNHEALTHY, 0, "HTTP 400" },
    { 404, "404 page not found\n", "", 1, UNHEALTHY, 0, "HTTP 404" },
    { 500, DMR_EMPTY, "", 1, UNHEALTHY, 0, "HTTP 500" },
    { 502, NULL, "", 0, UNHEALTHY, 0, "HTTP 502" },
    { 503, NULL, "", 1, UNHEALTHY, 0, "HTTP 503" },
    { 0, NULL, "", 0, UNHEALTHY, 0, "HTTP 0" },
    { 0, NULL, "", 1, UNHEALTHY, 0, "HTTP 0" },

    { 401, NULL, "", 0, CONFIG, 0,
      "HTTP 401: the endpoint refuses the gateway's credentials" },
    { 401, DMR_EMPTY, "", 1, CONFIG, 0,
      "HTTP 401: the endpoint refuses the gateway's credentials" },
    { 403, NULL, "", 0, CONFIG, 0,
      "HTTP 403: the endpoint refuses the gateway's credentials" },
    { 403, NULL, "", 1, CONFIG, 0,
      "HTTP 403: the endpoint refuses the gateway's credentials" },

    { 429, NULL, "30", 0, RATE, 0, "HTTP 429: rate limited, Retry-After: 30" },
    { 429, DMR_EMPTY, "30", 1, RATE, 0,
      "HTTP 429: rate limited, Retry-After: 30" },
    { 429, NULL, "", 1, RATE, 0, "HTTP 429: rate limited" },
    { 429, NULL, "Tue, 15 Apr 2025 10:00:30 GMT", 0, RATE, 0,
      "HTTP 429: rate limited, Retry-After: Tue, 15 Apr 2025 10:00:30 GMT" }
};


static void
fake(olla_http_resp_t *r, int status, const char *body, const char *ra)
{
    olla_http_resp_init(r, 0);
    r->status = status;
    snprintf(r->retry_after, sizeof(r->retry_after), "%s", ra);

    if (body) {
        r->body_len = strlen(body);
        r->body = malloc(r->body_len + 1);
        assert_non_null(r->body);
        memcpy(r->body, body, r->body_len + 1);
    }
}


static void
test_classify(void **state)
{
    char                reason[256];
    size_t              i;
    olla_health_e       h;
    olla_http_resp_t    r;
    olla_model_list_t   models;
    const class_row_t  *c;

    for (i = 0; i < sizeof(class_rows) / sizeof(class_rows[0]); i++) {
        c = &class_rows[i];

        fake(&r, c->status, c->body, c->retry_after);

        memset(&models, 0, sizeof(models));
        strcpy(reason, "unset");

        h = olla_probe_classify(&r, c->want_models, &models, reason,
                                sizeof(reason));

        if (h != c->health || strcmp(reason, c->reason) != 0) {
            print_error("classify row %zu: %s \"%s\", want %s \"%s\"\n", i,
                        olla_health_name(h), reason,
                        olla_health_name(c->health), c->reason);
            fail();
        }

        assert_int_equal(models.n, c->models);

        if (h != HEALTHY || !c->want_models) {
            assert_null(models.items);
        }

        olla_models_free(&models);
        olla_http_resp_free(&r);
    }
}


/* the models of a healthy verdict, and short reason buffers */

static void
test_classify_models(void **state)
{
    char               reason[160];
    olla_http_resp_t   r;
    olla_model_list_t  models;

    fake(&r, 200, DMR_LIST, "");

    memset(&models, 0, sizeof(models));
    assert_int_equal(olla_probe_classify(&r, 1, &models, reason,
                                         sizeof(reason)),
                     HEALTHY);
    assert_int_equal(models.n, 4);
    assert_string_equal(models.items[0].norm, "ai/smollm2:latest");
    assert_string_equal(models.items[1].id, "ai/llama3.2:3B-Q4_K_M");
    assert_non_null(strstr(models.items[1].json, "\"dmr\":{"));
    olla_models_free(&models);

    /* reason truncated, never overrun */
    memset(reason, 'X', sizeof(reason));
    assert_int_equal(olla_probe_classify(&r, 1, &models, reason, 8),
                     HEALTHY);
    assert_string_equal(reason, "HTTP 20");
    assert_int_equal(reason[8], 'X');
    olla_models_free(&models);

    assert_int_equal(olla_probe_classify(&r, 0, &models, reason, 1),
                     HEALTHY);
    assert_string_equal(reason, "");

    olla_http_resp_free(&r);

    fake(&r, 200, "nope", "");
    memset(reason, 'X', sizeof(reason));
    assert_int_equal(olla_probe_classify(&r, 1, &models, reason, 12),
                     UNHEALTHY);
    assert_string_equal(reason, "HTTP 200 bu");
    assert_int_equal(models.n, 0);
    assert_null(models.items);
    olla_http_resp_free(&r);
}


static void
test_health_names(void **state)
{
    assert_string_equal(olla_health_name(OLLA_HEALTH_UNKNOWN), "unknown");
    assert_string_equal(olla_health_name(HEALTHY), "healthy");
    assert_string_equal(olla_health_name(UNHEALTHY), "unhealthy");
    assert_string_equal(olla_health_name(OLLA_HEALTH_OFFLINE), "offline");
    assert_string_equal(olla_health_name(CONFIG), "config_error");
    assert_string_equal(olla_health_name(RATE), "rate_limited");
    assert_string_equal(olla_health_name((olla_health_e) 99), "unknown");

    assert_true(olla_health_routable(OLLA_HEALTH_UNKNOWN));
    assert_true(olla_health_routable(HEALTHY));
    assert_false(olla_health_routable(UNHEALTHY));
    assert_false(olla_health_routable(OLLA_HEALTH_OFFLINE));
    assert_false(olla_health_routable(CONFIG));
    assert_false(olla_health_routable(RATE));
}


/* ------------------------------------------------------------ Retry-After */

#define T_1994  784111777           /* Sun, 06 Nov 1994 08:49:37 GMT */
#define T_2025  1744711200          /* Tue, 15 Apr 2025 10:00:00 GMT */

static void
test_retry_after(void **state)
{
    size_t  i;

    static const struct {
        const char  *v;
        time_t       now;
        int64_t      want;
    } rows[] = {
        { "30", T_2025, 30 },
        { "0", T_2025, 0 },
        { "120", 0, 120 },
        { "  120", T_2025, 120 },
        { "007", T_2025, 7 },
        { "86400", T_2025, 86400 },
        { "1000000000", T_2025, 1000000000 },
        { "10000000000", T_2025, -1 },
        { "99999999999999999999999", T_2025, -1 },
        { "", T_2025, -1 },
        { "   ", T_2025, -1 },
        { "abc", T_2025, -1 },
        { "-5", T_2025, -1 },
        { "+5", T_2025, -1 },
        { "1.5", T_2025, -1 },
        { "30s", T_2025, -1 },
        { "30 ", T_2025, -1 },

        { "Sun, 06 Nov 1994 08:49:37 GMT", T_1994 - 30, 30 },
        { "Sun, 06 Nov 1994 08:49:37 GMT", T_1994, 0 },
        { "Sun, 06 Nov 1994 08:49:37 GMT", T_1994 + 3600, 0 },
        { "Tue, 15 Apr 2025 10:00:30 GMT", T_2025, 30 },
        { "Tue, 15 Apr 2025 11:00:00 GMT", T_2025, 3600 },
        { "Wed, 16 Apr 2025 10:00:00 GMT", T_2025, 86400 },
        { "Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 120, 120 },
        { "Thu, 01 Jan 1970 00:00:00 GMT", 0, 0 },
        { "Tue, 15 Apr 2025 10:00:30 GMT  ", T_2025, 30 },
        { "Tue, 31 Dec 2024 23:59:60 GMT", 1735689600 - 10, 10 },

        { "Tue, 15 Apr 2025 10:00:30 UTC", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:00:30", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:00:30 GMTx", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:00:30 GMT junk", T_2025, -1 },
        { "Tue, 15 Foo 2025 10:00:30 GMT", T_2025, -1 },
        { "Tue, 15 apr 2025 10:00:30 GMT", T_2025, -1 },
        { "Tue, 32 Apr 2025 10:00:30 GMT", T_2025, -1 },
        { "Tue, 00 Apr 2025 10:00:30 GMT", T_2025, -1 },
        { "Tue, 15 Apr 1969 10:00:30 GMT", T_2025, -1 },
        { "Tue, 15 Apr 2025 24:00:30 GMT", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:60:30 GMT", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:00:61 GMT", T_2025, -1 },
        { "Tue, 15 Apr 2025 -1:00:30 GMT", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:-1:30 GMT", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:00:-1 GMT", T_2025, -1 },
        { "Tue, 15 Apr 2025 10:00 GMT", T_2025, -1 },
        { "Tue, 15 Apr", T_2025, -1 },
        { "Tue,", T_2025, -1 },
        /* RFC 850 and asctime dates: not supported */
        { "Sunday, 06-Nov-94 08:49:37 GMT", T_1994 - 30, -1 },
        { "Sun Nov  6 08:49:37 1994", T_1994 - 30, -1 }
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (olla_retry_after_seconds(rows[i].v, rows[i].now) != rows[i].want)
        {
            print_error("Retry-After \"%s\": %lld, want %lld\n", rows[i].v,
                        (long long) olla_retry_after_seconds(rows[i].v,
                                                             rows[i].now),
                        (long long) rows[i].want);
            fail();
        }
    }
}


/* ------------------------------------------------------------ backoff */

static void
test_backoff(void **state)
{
    size_t  i;

    static const struct {
        uint64_t  interval;
        unsigned  failures;
        uint64_t  want;
    } rows[] = {
        /* 1x, 2x, 4x, 8x, 12x for 1..5+ failures, at most 60 s */
        { 2000, 0, 2000 },
        { 2000, 1, 2000 },
        { 2000, 2, 4000 },
        { 2000, 3, 8000 },
        { 2000, 4, 16000 },
        { 2000, 5, 24000 },
        { 2000, 6, 24000 },
        { 2000, 100, 24000 },
        { 2000, 0xffffffff, 24000 },

        { 5000, 0, 5000 },
        { 5000, 1, 5000 },
        { 5000, 2, 10000 },
        { 5000, 3, 20000 },
        { 5000, 4, 40000 },
        { 5000, 5, 60000 },
        { 5000, 9, 60000 },

        { 10000, 3, 40000 },
        { 10000, 4, 60000 },
        { 30000, 2, 60000 },
        { 60000, 1, 60000 },
        { 60000, 5, 60000 },

        /* never below the interval, even above 60 s */
        { 90000, 0, 90000 },
        { 90000, 1, 90000 },
        { 90000, 5, 90000 },

        /* no overflow */
        { UINT64_MAX, 5, UINT64_MAX },
        { UINT64_MAX / 2 + 1, 2, UINT64_MAX / 2 + 1 },
        { UINT64_MAX / 12 + 1, 5, UINT64_MAX / 12 + 1 },

        { 1, 0, 1 },
        { 1, 5, 12 },
        { 0, 0, 0 },
        { 0, 5, 0 }
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (olla_probe_backoff_ms(rows[i].interval, rows[i].failures)
            != rows[i].want)
        {
            print_error("backoff %llu ms, %u failures: %llu, want %llu\n",
                        (unsigned long long) rows[i].interval,
                        rows[i].failures,
                        (unsigned long long)
                            olla_probe_backoff_ms(rows[i].interval,
                                                  rows[i].failures),
                        (unsigned long long) rows[i].want);
            fail();
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_responses),
        cmocka_unit_test(test_line_bound),
        cmocka_unit_test(test_big_bodies),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_classify_models),
        cmocka_unit_test(test_health_names),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
