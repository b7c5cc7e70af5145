
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target for the path rules (src/olla_path.c).  The input is a
 * request target as a client sends it.
 *
 *   - olla_path_safe() must agree with a straightforward reimplementation
 *     written here: the path is the target up to the first '?'; it is
 *     split on '/'; each segment is refused when it holds a backslash,
 *     "%2f" or "%5c" (any case), or when, with "%2e" (any case) decoded
 *     to '.', it is made only of dots; an empty segment is refused but
 *     for the last one (a trailing "/"); a target not starting with "/"
 *     is safe (left to nginx).
 *   - What it calls safe must be safe after one full percent-decoding of
 *     the path (what nginx and an endpoint see): no "." or ".." segment,
 *     no backslash, no empty segment but the last.
 *   - olla_path_map() of the input against a fixed profile must not crash
 *     and must give the shortest entry ending with the input (the first
 *     of equal ones), or NULL when none does; the cached variant and
 *     olla_path_chat() must agree with it.
 *
 *   make fuzz          (builds build/fuzz/fuzz_path, corpus in
 *                       t/fuzz/corpus/fuzz_path/)
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "olla_path.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const char  *paths[] = {
    "/engines/llama.cpp/v1/chat/completions",
    "/engines/v1/chat/completions",
    "/engines/llama.cpp/v1/models",
    "/engines/v1/models",
    "/engines/v1/completions",
    "/engines/v1/embeddings",
    "/engines/vllm/v1/chat/completions",
    "/engines/vllm/v1/models",
    "/models",
    "/a/v1/x",
    "/b/v1/x",
};

#define NPATHS  (sizeof(paths) / sizeof(paths[0]))

static const char  *other_paths[] = {
    "/v1/models",
    "/v1/chat/completions",
};


static void
die(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_path: %s: \"%.*s\" (%zu bytes)\n", what,
            (int) size, (const char *) data, size);
    abort();
}


static int
esc(const char *p, size_t n, char a, char b)
{
    /* p[0..2] is "%" a b, b in either case */
    return n >= 3 && p[0] == '%' && p[1] == a
           && (p[2] == b || p[2] == b - ('a' - 'A'));
}


/* the reference: split on '/', decode "%2e" per segment, check */

static int
ref_safe(const char *uri, size_t len)
{
    int      last;
    char    *seg;
    size_t   end, start, i, j, k, dots;

    for (end = 0; end < len && uri[end] != '?'; end++) {
        /* void */
    }

    if (end == 0 || uri[0] != '/') {
        return 1;
    }

    seg = malloc(end + 1);
    if (seg == NULL) {
        abort();
    }

    start = 1;

    for ( ;; ) {
        i = start;

        while (i < end && uri[i] != '/') {
            i++;
        }

        last = (i == end);

        if (i == start) {
            if (last) {
                break;              /* a trailing "/" */
            }

            goto unsafe;            /* "//" */
        }

        /* the segment uri[start..i), decoded into seg[0..k) */

        k = 0;

        for (j = start; j < i; j++) {
            if (uri[j] == '\\'
                || esc(uri + j, i - j, '2', 'f')
                || esc(uri + j, i - j, '5', 'c'))
            {
                goto unsafe;
            }

            if (esc(uri + j, i - j, '2', 'e')) {
                seg[k++] = '.';
                j += 2;
                continue;
            }

            seg[k++] = uri[j];
        }

        for (dots = 0; dots < k && seg[dots] == '.'; dots++) {
            /* void */
        }

        if (dots == k) {
            goto unsafe;            /* ".", "..", "...", encoded or not */
        }

        if (last) {
            break;
        }

        start = i + 1;
    }

    free(seg);
    return 1;

unsafe:

    free(seg);
    return 0;
}


static int
hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/* a safe target, percent-decoded once, has no traversal in it */

static void
check_decoded(const char *uri, size_t len, const uint8_t *data, size_t size)
{
    char    *d;
    size_t   end, i, n, s;

    for (end = 0; end < len && uri[end] != '?'; end++) {
        /* void */
    }

    if (end == 0 || uri[0] != '/') {
        return;
    }

    d = malloc(end + 1);
    if (d == NULL) {
        abort();
    }

    n = 0;

    for (i = 0; i < end; i++) {
        if (uri[i] == '%' && i + 2 < end && hex(uri[i + 1]) >= 0
            && hex(uri[i + 2]) >= 0)
        {
            d[n++] = (char) (hex(uri[i + 1]) * 16 + hex(uri[i + 2]));
            i += 2;

        } else {
            d[n++] = uri[i];
        }
    }

    if (memchr(d, '\\', n) != NULL) {
        die("safe, but a backslash once decoded", data, size);
    }

    /* the segments after the leading '/' */

    for (s = 1; s <= n; s = i + 1) {
        for (i = s; i < n && d[i] != '/'; i++) {
            /* void */
        }

        if (i == s && i < n) {
            die("safe, but an empty segment once decoded", data, size);
        }

        if ((i - s == 1 && d[s] == '.')
            || (i - s == 2 && d[s] == '.' && d[s + 1] == '.'))
        {
            die("safe, but a dot segment once decoded", data, size);
        }
    }

    free(d);
}


static void
check_map(const olla_profile_t *p, const char *path, size_t len,
    const uint8_t *data, size_t size)
{
    size_t              i, n, best_len;
    const char         *got, *want;
    olla_path_cache_t   cache;

    got = olla_path_map(p, path, len);

    want = NULL;
    best_len = 0;

    for (i = 0; i < p->paths.n; i++) {
        n = strlen(p->paths.items[i]);

        if (n < len) {
            continue;
        }

        if (strncmp(p->paths.items[i] + n - len, path, len) != 0
            || memchr(path, '\0', len) != NULL)
        {
            continue;
        }

        if (want == NULL || n < best_len) {
            want = p->paths.items[i];
            best_len = n;
        }
    }

    if (got != want) {
        die("olla_path_map differs from the reference", data, size);
    }

    memset(&cache, 0, sizeof(olla_path_cache_t));

    if (olla_path_map_cached(&cache, p, path, len) != got
        || olla_path_map_cached(&cache, p, path, len) != got)
    {
        die("olla_path_map_cached differs from olla_path_map", data, size);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              got, want;
    char            *uri;
    olla_profile_t   p, q;

    /* an exactly sized copy: a read past it is an ASan report */

    uri = malloc(size ? size : 1);
    if (uri == NULL) {
        abort();
    }

    memcpy(uri, data, size);

    got = olla_path_safe(uri, size);
    want = ref_safe(uri, size);

    if (got != want) {
        fprintf(stderr, "olla_path_safe %d, reference %d\n", got, want);
        die("verdicts differ", data, size);
    }

    if (got) {
        check_decoded(uri, size, data, size);
    }

    memset(&p, 0, sizeof(olla_profile_t));
    p.name = (char *) "fuzz";
    p.paths.items = (char **) paths;
    p.paths.n = NPATHS;

    memset(&q, 0, sizeof(olla_profile_t));
    q.name = (char *) "other";
    q.paths.items = (char **) other_paths;
    q.paths.n = sizeof(other_paths) / sizeof(other_paths[0]);

    check_map(&p, uri, size, data, size);
    check_map(&q, uri, size, data, size);

    if (olla_path_chat(&p) != paths[1] || olla_path_chat(&q) != other_paths[1])
    {
        die("olla_path_chat", data, size);
    }

    free(uri);

    return 0;
}
