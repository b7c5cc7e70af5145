
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Path rules of the routes (see olla_path.h).
 */


#include "olla_path.h"

#include <string.h>


#if (defined __SSE2__ && defined __GNUC__)
#include <emmintrin.h>
#endif


/*
 * No ".", "%" or backslash in p[0..n), and no "//": a path that is safe
 * at once (no dot segment, nothing encoded, no empty segment); sixteen
 * bytes at a time where SSE2 is
 */

static int
olla_path_plain(const char *p, size_t n)
{
    size_t   i;
#if (defined __SSE2__ && defined __GNUC__)
    __m128i  v, w, dot, pct, bsl, sl, x;
#endif

    i = 0;

#if (defined __SSE2__ && defined __GNUC__)

    dot = _mm_set1_epi8('.');
    pct = _mm_set1_epi8('%');
    bsl = _mm_set1_epi8('\\');
    sl = _mm_set1_epi8('/');

    for ( /* void */ ; i + 17 <= n; i += 16) {
        v = _mm_loadu_si128((const __m128i *) (p + i));
        w = _mm_loadu_si128((const __m128i *) (p + i + 1));

        x = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, dot),
                                      _mm_cmpeq_epi8(v, pct)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, bsl),
                                      _mm_and_si128(_mm_cmpeq_epi8(v, sl),
                                                    _mm_cmpeq_epi8(w, sl))));

        if (_mm_movemask_epi8(x)) {
            return 0;
        }
    }

#endif

    for ( /* void */ ; i < n; i++) {
        if (p[i] == '.' || p[i] == '%' || p[i] == '\\'
            || (p[i] == '/' && i + 1 < n && p[i + 1] == '/'))
        {
            return 0;
        }
    }

    return 1;
}


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

    if (olla_path_plain(p, last - p)) {
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
