
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * What the module does per byte of a request body, measured outside nginx
 * (not run by "make"):
 *
 *   make build/bench/bench_body       (gcc with the module's flags, -O2)
 *   build/bench/bench_body FILE...    ns per byte and µs per call
 *   build/bench/bench_body -c CASE N FILE     CASE N times (for callgrind)
 *
 * The cases, for each body file:
 *   scan    olla_json with the fields ngx_olla_dmr_route.c asks for (the
 *           model, stream, the numbers, the conversation's opening), the
 *           body fed whole, and fed in 8000-byte pieces as nginx reads it;
 *   jdom    olla_jdom_parse() of the body (the translators' parser);
 *   jdom/chk  the same with doc.checked (a body the routing scan read);
 *   anth    olla_anth_request_to_openai() (Anthropic bodies: anth-*);
 *   anth/chk  olla_anth_request_to_openai_checked() (what the glue calls
 *           for a body its scan found valid).
 *   count   olla_anth_count_tokens() (Anthropic bodies);
 *   count/chk  olla_anth_count_tokens_checked() (what the glue calls for
 *           /v1/messages/count_tokens counted locally).
 *
 * The bodies are those of `make bench` (tools/bench/genbodies.pl DIR).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "olla_json.h"
#include "olla_jdom.h"
#include "olla_anthropic.h"


static char    *body;
static size_t   body_len;
static size_t   piece = (size_t) -1;
static size_t   sink;


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
load(const char *name)
{
    long   n;
    FILE  *f;

    f = fopen(name, "rb");
    if (f == NULL) {
        perror(name);
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);

    free(body);
    body = malloc((size_t) n + 1);
    if (body == NULL || fread(body, 1, (size_t) n, f) != (size_t) n) {
        exit(1);
    }

    body[n] = '\0';
    body_len = (size_t) n;
    fclose(f);
}


/* the fields of ngx_olla_dmr_read_model() */

static void
scan(void)
{
    size_t              off, n;
    olla_json_scan_t    s;
    olla_json_field_t   f[13];
    char                model[512], rid[128], num[4][32];
    static const char  *keys[] = {
        "model", "stream", "max_tokens", "messages", "temperature", "top_p",
        "top_k", "system", "instructions", "input", "previous_response_id",
        "include", "service_tier"
    };

    memset(f, 0, sizeof(f));

    for (n = 0; n < 13; n++) {
        f[n].key = keys[n];
        f[n].key_len = strlen(keys[n]);
    }

    f[0].value = model;
    f[0].cap = sizeof(model);
    f[2].value = num[0];
    f[2].cap = 32;
    f[4].value = num[1];
    f[4].cap = 32;
    f[5].value = num[2];
    f[5].cap = 32;
    f[6].value = num[3];
    f[6].cap = 32;
    f[10].value = rid;
    f[10].cap = sizeof(rid);
    f[3].opening = OLLA_JSON_OPENING_TURNS;
    f[7].opening = OLLA_JSON_OPENING_ALL;
    f[8].opening = OLLA_JSON_OPENING_ALL;
    f[9].opening = OLLA_JSON_OPENING_TURNS;

    olla_json_scan_init(&s, f, 13, 0);

    for (off = 0; off < body_len; off += n) {
        n = body_len - off < piece ? body_len - off : piece;

        if (olla_json_scan_feed(&s, body + off, n) != OLLA_JSON_OK) {
            fprintf(stderr, "scan: %s at %zu\n", s.err, s.err_offset);
            exit(1);
        }
    }

    if (olla_json_scan_end(&s) != OLLA_JSON_OK) {
        fprintf(stderr, "scan: %s\n", s.err);
        exit(1);
    }

    sink += s.opening + f[0].len;
}


static int  checked;


static void
jdom(void)
{
    char             arena[16384];
    olla_jdom_doc_t  doc;

    olla_jdom_init(&doc, arena, sizeof(arena));
    doc.checked = checked;

    if (olla_jdom_parse(&doc, body, body_len) != OLLA_JDOM_OK) {
        fprintf(stderr, "jdom: %s\n", doc.error);
        exit(1);
    }

    sink += doc.root->len;
    olla_jdom_free(&doc);
}


static void
anth(void)
{
    char              *out, err[OLLA_ANTH_ERRLEN];
    size_t             outlen;
    olla_anth_info_t   info;

    if ((checked ? olla_anth_request_to_openai_checked
                 : olla_anth_request_to_openai)(body, body_len, &out, &outlen,
                                                &info, err, sizeof(err))
        != 0)
    {
        fprintf(stderr, "anth: %s\n", err);
        exit(1);
    }

    sink += outlen;
    olla_anth_info_free(&info);
    free(out);
}


static void
count(void)
{
    long  tokens;
    char  err[OLLA_ANTH_ERRLEN];

    if ((checked ? olla_anth_count_tokens_checked
                 : olla_anth_count_tokens)(body, body_len, &tokens, err,
                                           sizeof(err))
        != 0)
    {
        fprintf(stderr, "count: %s\n", err);
        exit(1);
    }

    sink += (size_t) tokens;
}


/* the best of 5 runs of as many calls as fill about 0.1 s */

static void
measure(const char *file, const char *name, void (*fn)(void))
{
    int      r;
    long     i, calls;
    double   t, best;

    calls = 1;

    for ( ;; ) {
        t = now();

        for (i = 0; i < calls; i++) {
            fn();
        }

        t = now() - t;

        if (t > 0.02) {
            break;
        }

        calls *= 4;
    }

    calls = (long) (calls * 0.1 / t) + 1;
    best = 1e9;

    for (r = 0; r < 5; r++) {
        t = now();

        for (i = 0; i < calls; i++) {
            fn();
        }

        t = (now() - t) / calls;

        if (t < best) {
            best = t;
        }
    }

    printf("%-22s %-10s %9.2f us %7.3f ns/byte %7.2f MB/s\n", file, name,
           best * 1e6, best * 1e9 / body_len, body_len / best / 1e6);
}


int
main(int argc, char **argv)
{
    int          i;
    long         k, n;
    const char  *base, *c;

    if (argc > 4 && strcmp(argv[1], "-c") == 0) {
        c = argv[2];
        n = atol(argv[3]);

        for (i = 4; i < argc; i++) {
            load(argv[i]);

            for (k = 0; k < n; k++) {
                if (strcmp(c, "scan") == 0) {
                    scan();

                } else if (strcmp(c, "jdom") == 0) {
                    jdom();

                } else if (strcmp(c, "jdom/chk") == 0) {
                    checked = 1;
                    jdom();

                } else if (strcmp(c, "anth/chk") == 0) {
                    checked = 1;
                    anth();

                } else if (strcmp(c, "count") == 0) {
                    count();

                } else if (strcmp(c, "count/chk") == 0) {
                    checked = 1;
                    count();

                } else {
                    anth();
                }
            }
        }

        return sink == 42;
    }

    for (i = 1; i < argc; i++) {
        load(argv[i]);

        base = strrchr(argv[i], '/');
        base = base ? base + 1 : argv[i];

        piece = (size_t) -1;
        measure(base, "scan", scan);
        piece = 8000;
        measure(base, "scan/8000", scan);
        measure(base, "jdom", jdom);
        checked = 1;
        measure(base, "jdom/chk", jdom);
        checked = 0;

        if (strncmp(base, "anth", 4) == 0) {
            measure(base, "anth", anth);
            checked = 1;
            measure(base, "anth/chk", anth);
            measure(base, "count/chk", count);
            checked = 0;
            measure(base, "count", count);
        }
    }

    return sink == 42;
}
