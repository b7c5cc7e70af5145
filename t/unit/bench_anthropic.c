
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * A benchmark of the Anthropic <-> OpenAI translator, not run by "make":
 *
 *   gcc -O2 -Isrc -o build/bench_anthropic t/unit/bench_anthropic.c \
 *       src/olla_anth_*.c src/olla_sse.c src/olla_jdom.c -lm
 *   build/bench_anthropic                 # microseconds per call
 *   build/bench_anthropic CASE N          # CASE N times (for callgrind)
 *
 * Run from the repository root (it reads the Claude Code fixture).  The
 * cases: req1k (a 1 KB request, as tools/bench makes them), req48k
 * (t/unit/fixtures/anthropic/claude_code_request.json), count48k
 * (count_tokens of it), resp (a small non-streaming completion) and
 * stream50 (a 50-event stream: role chunk, 48 content deltas, finish
 * with usage, [DONE], fed whole).  Instructions per call:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *       build/bench_anthropic CASE 1000     (and with 2000: the difference
 *                                            / 1000 is one call)
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "olla_anthropic.h"


static const char  req1k[] =
    "{\"model\":\"ai/smollm2\",\"max_tokens\":256,\"messages\":[{\"role\":"
    "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"<system-reminder>"
    "\\nMemory shared read prompt budget retry request. Request shared "
    "read response latency limit object user server check context limit "
    "context map list content request \\\"function\\\". Token value "
    "message code error profile map function response server json module "
    "result server.\\n</system-reminder>\"},{\"type\":\"text\",\"text\":"
    "\"Summarise what this module does. Shared context map memory schema "
    "value. Nginx file budget token server config tool json event client "
    "the xxx xx xx xxx. Stream config cache retry memory map cache shared "
    "timeout prompt request retry buffer xcachex. Schema profile scan "
    "module json build key system route path message parse key stream "
    "xnginxx. Key timeout upstream latency test open endpoint budget "
    "chunk timeout endpoint read config tool worker function xrequestx. "
    "Response delta error header error build key path result module "
    "string stream schema list limit build.x\"}]}],\"temperature\":1}";

static const char  resp[] =
    "{\"id\":\"chatcmpl-8Xq3bR7\",\"object\":\"chat.completion\","
    "\"created\":1731000000,\"model\":\"ai/smollm2\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"This "
    "module makes nginx an Olla-compatible gateway: it routes OpenAI and "
    "Anthropic requests to Docker Model Runner endpoints, balances them "
    "and translates between the two APIs.\"},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":241,"
    "\"completion_tokens\":38,\"total_tokens\":279},"
    "\"system_fingerprint\":\"b6100-3f1c2a9\"}";


static char    *big;
static size_t   big_len;
static char    *sse;
static size_t   sse_len;
static size_t   sink_bytes;


static int
sink(void *data, const char *p, size_t len)
{
    sink_bytes += len + (unsigned char) p[0];
    return 0;
}


static void
load_fixture(void)
{
    long   n;
    FILE  *f;

    f = fopen("t/unit/fixtures/anthropic/claude_code_request.json", "rb");
    if (f == NULL) {
        fprintf(stderr, "run from the repository root\n");
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);

    big = malloc((size_t) n + 1);
    if (big == NULL || fread(big, 1, (size_t) n, f) != (size_t) n) {
        exit(1);
    }

    big[n] = '\0';
    big_len = (size_t) n;
    fclose(f);
}


static void
make_stream(void)
{
    int     i;
    size_t  n;

    sse = malloc(64 * 1024);
    if (sse == NULL) {
        exit(1);
    }

    n = (size_t) sprintf(sse, "data: {\"id\":\"chatcmpl-1\",\"object\":"
                         "\"chat.completion.chunk\",\"created\":1731000000,"
                         "\"model\":\"ai/smollm2\",\"choices\":[{\"index\":0,"
                         "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                         "\"finish_reason\":null}]}\n\n");

    for (i = 0; i < 48; i++) {
        n += (size_t) sprintf(sse + n, "data: {\"id\":\"chatcmpl-1\","
                              "\"object\":\"chat.completion.chunk\","
                              "\"created\":1731000000,\"model\":"
                              "\"ai/smollm2\",\"choices\":[{\"index\":0,"
                              "\"delta\":{\"content\":\" word%d, and\"},"
                              "\"finish_reason\":null}]}\n\n", i);
    }

    n += (size_t) sprintf(sse + n, "data: {\"id\":\"chatcmpl-1\",\"object\":"
                          "\"chat.completion.chunk\",\"created\":1731000000,"
                          "\"model\":\"ai/smollm2\",\"choices\":[{\"index\":0,"
                          "\"delta\":{},\"finish_reason\":\"stop\"}],"
                          "\"usage\":{\"prompt_tokens\":241,"
                          "\"completion_tokens\":48,\"total_tokens\":289}}"
                          "\n\ndata: [DONE]\n\n");
    sse_len = n;
}


static void
run(const char *name, long iterations)
{
    long                 i, tokens;
    char                *out, err[OLLA_ANTH_ERRLEN];
    size_t               outlen;
    olla_anth_info_t     info;
    olla_anth_stream_t  *s;

    for (i = 0; i < iterations; i++) {
        if (strcmp(name, "req1k") == 0) {
            if (olla_anth_request_to_openai(req1k, sizeof(req1k) - 1, &out,
                                            &outlen, &info, err,
                                            sizeof(err))
                != 0)
            {
                fprintf(stderr, "req1k: %s\n", err);
                exit(1);
            }

            olla_anth_info_free(&info);
            free(out);

        } else if (strcmp(name, "req48k") == 0) {
            if (olla_anth_request_to_openai(big, big_len, &out, &outlen,
                                            &info, err, sizeof(err))
                != 0)
            {
                fprintf(stderr, "req48k: %s\n", err);
                exit(1);
            }

            olla_anth_info_free(&info);
            free(out);

        } else if (strcmp(name, "count48k") == 0) {
            if (olla_anth_count_tokens(big, big_len, &tokens, err,
                                       sizeof(err))
                != 0)
            {
                exit(1);
            }

        } else if (strcmp(name, "resp") == 0) {
            if (olla_anth_response_from_openai(resp, sizeof(resp) - 1,
                                               "claude-sonnet-4-5", &out,
                                               &outlen, err, sizeof(err))
                != 0)
            {
                fprintf(stderr, "resp: %s\n", err);
                exit(1);
            }

            free(out);

        } else if (strcmp(name, "stream50") == 0) {
            s = olla_anth_stream_new("claude-sonnet-4-5", 241, 0, 0);
            if (s == NULL
                || olla_anth_stream_feed(s, sse, sse_len, sink, NULL) != 1)
            {
                fprintf(stderr, "stream50 failed\n");
                exit(1);
            }

            olla_anth_stream_free(s);

        } else {
            fprintf(stderr, "unknown case %s\n", name);
            exit(2);
        }
    }
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


int
main(int argc, char **argv)
{
    int          c, r;
    long         n;
    double       t0, best, t;
    const char  *cases[] = { "req1k", "req48k", "count48k", "resp",
                             "stream50" };

    load_fixture();
    make_stream();
    olla_anth_set_id_seed(42);

    if (argc == 3) {
        run(argv[1], atol(argv[2]));
        return 0;
    }

    printf("request 1 KB: %zu bytes, request 48 KB: %zu bytes, "
           "response: %zu bytes, stream: %zu bytes\n",
           sizeof(req1k) - 1, big_len, sizeof(resp) - 1, sse_len);

    for (c = 0; c < (int) (sizeof(cases) / sizeof(cases[0])); c++) {
        n = 1;

        /* about 50 ms a round */
        for ( ;; ) {
            t0 = now();
            run(cases[c], n);
            t = now() - t0;

            if (t > 0.05) {
                break;
            }

            n *= 2;
        }

        best = t / (double) n;

        for (r = 0; r < 10; r++) {
            t0 = now();
            run(cases[c], n);
            t = (now() - t0) / (double) n;

            if (t < best) {
                best = t;
            }
        }

        printf("%-10s %10.2f us/call\n", cases[c], best * 1e6);
    }

    return 0;
}
