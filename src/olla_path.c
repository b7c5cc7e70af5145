
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Path rules of the routes (see olla_path.h).
 */


#include "olla_path.h"

#include <string.h>


/* the characters olla_path_safe() looks at; the others are a segment's */

static const unsigned char  olla_path_special[256] = {
    ['/'] = 1, ['\\'] = 1, ['%'] = 1, ['.'] = 1
};


int
olla_path_safe(const char *uri, size_t len)
{
    size_t       dots, other;
    const char  *p, *last, *q;

    p = uri;
    last = uri + len;

    q = memchr(p, '?', len);
    if (q) {
        last = q;
    }

    if (p == last || *p != '/') {
        return 1;
    }

    dots = 0;
    other = 0;

    for (p++; p <= last; p++) {

        if (p < last && !olla_path_special[(unsigned char) *p]) {
            /* a run of ordinary characters, at once */

            other++;

            do {
                p++;
            } while (p < last && !olla_path_special[(unsigned char) *p]);
        }

        if (p == last || *p == '/') {
            if ((dots && !other) || (p < last && dots == 0 && other == 0)) {
                return 0;
            }

            dots = 0;
            other = 0;
            continue;
        }

        if (*p == '\\') {
            return 0;
        }

        if (*p == '%' && last - p >= 3) {
            if (p[1] == '2' && (p[2] == 'f' || p[2] == 'F')) {
                return 0;
            }

            if (p[1] == '5' && (p[2] == 'c' || p[2] == 'C')) {
                return 0;
            }

            if (p[1] == '2' && (p[2] == 'e' || p[2] == 'E')) {
                dots++;
                p += 2;
                continue;
            }
        }

        if (*p == '.') {
            dots++;

        } else {
            other++;
        }
    }

    return 1;
}


const char *
olla_path_map(const olla_profile_t *p, const char *path, size_t len)
{
    size_t       i, n, best_len;
    const char  *best, *s;

    best = NULL;
    best_len = 0;

    for (i = 0; i < p->paths.n; i++) {
        s = p->paths.items[i];
        n = strlen(s);

        if (strchr(s, '{')) {
            /* a pattern ("/engines/v1/responses/{id}") maps nothing */
            continue;
        }

        if (n >= len && memcmp(s + n - len, path, len) == 0
            && (best == NULL || n < best_len))
        {
            best = s;
            best_len = n;
        }
    }

    return best;
}


const char *
olla_path_chat(const olla_profile_t *p)
{
    return olla_path_map(p, "/v1/chat/completions",
                         sizeof("/v1/chat/completions") - 1);
}


const char *
olla_path_map_cached(olla_path_cache_t *cache, const olla_profile_t *p,
    const char *path, size_t len)
{
    if (cache->profile != p) {
        cache->profile = p;
        cache->mapped = olla_path_map(p, path, len);
    }

    return cache->mapped;
}
