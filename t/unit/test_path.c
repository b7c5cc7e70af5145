
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the path rules (src/olla_path.c):
 *
 *   - olla_path_safe(): a table of request targets, safe and unsafe, each
 *     also tried with a query string after it (which must not change the
 *     verdict) and with only a prefix of it passed as the length;
 *   - olla_path_map(): the shortest api.paths entry ending with the path,
 *     exact matches, no match, ties, empty profiles;
 *   - olla_path_chat() and the per-request cache olla_path_map_cached().
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "olla_path.h"


#define S(s)  (s), (sizeof(s) - 1)


/* ------------------------------------------------------------ safe */

typedef struct {
    const char  *target;
    int          safe;
} target_t;


static const target_t  targets[] = {

    /* plain paths */
    { "/", 1 },
    { "/v1/chat/completions", 1 },
    { "/olla/dmr/engines/llama.cpp/v1/chat/completions", 1 },
    { "/olla/models", 1 },
    { "/a-b_c~d/e+f/g@h:i;j=k", 1 },

    /* a trailing "/" is allowed (the last segment may be empty) */
    { "/olla/", 1 },
    { "/olla/proxy/v1/", 1 },

    /* "." segments anywhere */
    { "/.", 0 },
    { "/./olla", 0 },
    { "/olla/./models", 0 },
    { "/olla/models/.", 0 },
    { "/olla/models/./", 0 },

    /* ".." segments anywhere */
    { "/..", 0 },
    { "/../etc/passwd", 0 },
    { "/olla/../models", 0 },
    { "/olla/dmr/engines/..", 0 },
    { "/olla/dmr/engines/../", 0 },
    { "/olla/proxy/v1/../../x", 0 },

    /* encoded dots, any case, any mix */
    { "/%2e", 0 },
    { "/%2E", 0 },
    { "/%2e%2e", 0 },
    { "/%2E%2e", 0 },
    { "/%2e%2E/x", 0 },
    { "/.%2e", 0 },
    { "/%2e.", 0 },
    { "/olla/%2e%2e/models", 0 },
    { "/olla/.%2E/models", 0 },
    { "/olla/models/%2e", 0 },
    { "/olla/models/%2E%2E", 0 },

    /*
     * Segments of three or more dots.  "..." is not a traversal (RFC 3986
     * removes only "." and ".."), but the code refuses every segment made
     * only of dots, plain or encoded: stricter than the header's wording
     * ("a \".\" or \"..\" segment") and safe (no path of ours or of an
     * endpoint has such a segment, and some servers and file systems
     * treat them oddly), so it is kept.
     */
    { "/...", 0 },
    { "/olla/.../x", 0 },
    { "/olla/....", 0 },
    { "/olla/%2e%2e%2e", 0 },
    { "/olla/..%2e./x", 0 },

    /* segments with dots and something else are names */
    { "/.a", 1 },
    { "/a.", 1 },
    { "/olla/.hidden/x", 1 },
    { "/olla/a../x", 1 },
    { "/olla/..a", 1 },
    { "/olla/.%2ea", 1 },
    { "/olla/dmr/engines/llama.cpp/v1/models", 1 },
    { "/olla/ai/smollm2:360M-Q4_K_M", 1 },
    { "/olla/%2e%2ex", 1 },
    { "/olla/. /x", 1 },

    /* encoded slashes and backslashes, any case */
    { "/olla%2fmodels", 0 },
    { "/olla%2Fmodels", 0 },
    { "/olla/%2f", 0 },
    { "/%2F", 0 },
    { "/olla%5cmodels", 0 },
    { "/olla%5Cmodels", 0 },
    { "/olla/%5c", 0 },
    { "/olla/%2e%2e%2fx", 0 },
    { "/olla/%252fx", 1 },           /* "%25" is a '%': no slash here */

    /* a backslash */
    { "/olla\\models", 0 },
    { "/\\", 0 },
    { "/olla/..\\x", 0 },
    { "/olla/models\\", 0 },

    /* empty segments ("//") */
    { "//", 0 },
    { "//olla", 0 },
    { "/olla//models", 0 },
    { "/olla/models//", 0 },
    { "///", 0 },

    /* '%' and "%2" at the end: no escape, no decision on them */
    { "/olla/%", 1 },
    { "/olla/%2", 1 },
    { "/olla/x%", 1 },
    { "/olla/x%2", 1 },
    { "/olla/%e", 1 },
    { "/olla/%%2e", 1 },             /* "%" then "%2e": not only dots */
    { "/olla/%/x", 1 },
    { "/olla/%2/x", 1 },
    { "/%", 1 },
    { "/%2", 1 },

    /* a target that does not start with "/" is left to nginx */
    { "", 1 },
    { "*", 1 },
    { "olla/../x", 1 },
    { "../x", 1 },
    { "http://h/../x", 1 },
    { "?/../x", 1 },
};


static void
test_safe_table(void **state)
{
    int      got;
    char     buf[256];
    size_t   i, k, n;

    static const char  *queries[] = {
        "?", "?x=1", "?p=/../../etc", "?p=%2e%2e%2f%5c", "?a//b", "?\\",
        "?..", "?.", "?/x/./y", "?x?/..",
    };

    for (i = 0; i < sizeof(targets) / sizeof(target_t); i++) {
        n = strlen(targets[i].target);

        got = olla_path_safe(targets[i].target, n);

        if (got != targets[i].safe) {
            print_error("\"%s\": %d, want %d\n", targets[i].target, got,
                        targets[i].safe);
            fail();
        }

        /* only the path counts: a query string changes nothing */

        for (k = 0; k < sizeof(queries) / sizeof(char *); k++) {
            snprintf(buf, sizeof(buf), "%s%s", targets[i].target,
                     queries[k]);

            got = olla_path_safe(buf, strlen(buf));

            if (got != targets[i].safe) {
                print_error("\"%s\": %d, want %d\n", buf, got,
                            targets[i].safe);
                fail();
            }
        }

        /* only len bytes are looked at: the target beyond len is junk */

        memcpy(buf, targets[i].target, n);
        memcpy(buf + n, "/../%2f\\", sizeof("/../%2f\\"));
        assert_int_equal(olla_path_safe(buf, n), targets[i].safe);
    }
}


static void
test_safe_query(void **state)
{
    /* the query may hold anything */
    assert_true(olla_path_safe(S("/v1/models?x=/../..")));
    assert_true(olla_path_safe(S("/v1/models?x=%2e%2e%2f")));
    assert_true(olla_path_safe(S("/v1/models?x=%5c\\")));
    assert_true(olla_path_safe(S("/v1/models?x=a//b")));
    assert_true(olla_path_safe(S("/v1/models?")));
    assert_true(olla_path_safe(S("/?../..")));

    /* a bad segment before the query is still bad */
    assert_false(olla_path_safe(S("/v1/..?x=1")));
    assert_false(olla_path_safe(S("/v1/.?x=1")));
    assert_false(olla_path_safe(S("/v1/%2e%2e?x=1")));
    assert_false(olla_path_safe(S("/v1/%2E?")));
    assert_false(olla_path_safe(S("/v1/..%2f?x")));
    assert_false(olla_path_safe(S("/v1//models?x")));
    assert_false(olla_path_safe(S("//?x")));

    /* the last segment before the query may be empty */
    assert_true(olla_path_safe(S("/v1/?x=1")));
    assert_true(olla_path_safe(S("/?x=1")));

    /* an escape cut by the length is no escape: nothing read past it */
    assert_true(olla_path_safe("/v1/%2f", 6));
    assert_true(olla_path_safe("/v1/%2F", 6));
    assert_true(olla_path_safe("/v1/%5c", 6));
    assert_true(olla_path_safe("/v1/x%2e", 7));
    assert_true(olla_path_safe("/%2e", 3));
    assert_false(olla_path_safe("/%2e", 4));
    assert_true(olla_path_safe("/v1/%", 5));

    /* an escape cut by the query is no escape */
    assert_true(olla_path_safe(S("/v1/%2?e")));
    assert_true(olla_path_safe(S("/v1/%?2e")));
    assert_true(olla_path_safe(S("/v1/%2?f")));
    assert_true(olla_path_safe(S("/v1/%5?c")));
}


/* every byte as a one-character segment, in the middle and at the end */

static void
test_safe_bytes(void **state)
{
    int    c, want;
    char   mid[5], end[3];

    for (c = 0; c < 256; c++) {
        if (c == '?') {
            continue;
        }

        want = !(c == '.' || c == '\\' || c == '/');

        mid[0] = '/';
        mid[1] = 'a';
        mid[2] = '/';
        mid[3] = (char) c;
        mid[4] = '/';

        if (olla_path_safe(mid, 5) != want) {
            print_error("byte 0x%02x in the middle\n", c);
            fail();
        }

        end[0] = '/';
        end[1] = 'a';
        end[2] = (char) c;

        /* "/a/" ends with an empty segment: allowed */
        if (olla_path_safe(end, 3) != (c != '\\')) {
            print_error("byte 0x%02x at the end\n", c);
            fail();
        }
    }

    /* a NUL byte is an ordinary byte here (nginx refuses it earlier) */
    assert_true(olla_path_safe("/a\0b", 4));
    assert_true(olla_path_safe("/\0", 2));
}


/* every "%XY": only 2E, 2F and 5C (either case) are refused */

static void
test_safe_escapes(void **state)
{
    int          a, b, want;
    char         t[8];
    const char  *hex = "0123456789abcdefABCDEF";

    for (a = 0; hex[a]; a++) {
        for (b = 0; hex[b]; b++) {
            t[0] = '/';
            t[1] = '%';
            t[2] = hex[a];
            t[3] = hex[b];
            t[4] = '/';
            t[5] = 'x';

            want = !(hex[a] == '2'
                     && (hex[b] == 'e' || hex[b] == 'E' || hex[b] == 'f'
                         || hex[b] == 'F'))
                   && !(hex[a] == '5' && (hex[b] == 'c' || hex[b] == 'C'));

            if (olla_path_safe(t, 6) != want) {
                print_error("\"%.6s\": want %d\n", t, want);
                fail();
            }

            /* with a letter before it, only the slashes are refused */
            t[1] = 'a';
            t[2] = '%';
            t[3] = hex[a];
            t[4] = hex[b];
            t[5] = '/';

            want = !(hex[a] == '2' && (hex[b] == 'f' || hex[b] == 'F'))
                   && !(hex[a] == '5' && (hex[b] == 'c' || hex[b] == 'C'));

            if (olla_path_safe(t, 6) != want) {
                print_error("\"%.6s\": want %d\n", t, want);
                fail();
            }
        }
    }
}


/*
 * Long paths, where olla_path_safe() looks at sixteen bytes at a time: a
 * path of plain segments is safe at every length, and one thing that
 * makes it unsafe ("//", a dot segment, an encoded slash or dot, a
 * backslash) is found at every place, in every 16-byte lane
 */

static void
test_safe_long(void **state)
{
    size_t       len, at, k, n;
    char         t[128];
    static const struct {
        const char  *text;
        int          safe;
    } bad[] = {
        { "/", 0 },             /* with the '/' before it: "//" */
        { "./", 0 },            /* "/./" */
        { "../", 0 },
        { "%2e/", 0 },
        { "%2E%2e/", 0 },
        { "%2f", 0 },
        { "%5C", 0 },
        { "\\", 0 },
        { "a.b/", 1 },          /* a dot inside a name */
        { "%41/", 1 },          /* an escape of another byte */
        { "...", 1 },           /* three dots are a name */
    };

    for (len = 1; len < 80; len++) {

        /* "/abcd/abcd/...": plain segments, a slash every fifth byte */

        t[0] = '/';

        for (k = 1; k < len; k++) {
            t[k] = (k % 5 == 0) ? '/' : (char) ('a' + k % 5);
        }

        if (!olla_path_safe(t, len)) {
            print_error("plain \"%.*s\": unsafe\n", (int) len, t);
            fail();
        }

        for (at = 1; at < len; at++) {
            if (t[at - 1] != '/') {
                continue;
            }

            /* at a segment's start: one of bad[] in place of the rest */

            for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
                char  u[128];

                n = strlen(bad[k].text);
                memcpy(u, t, at);
                memcpy(u + at, bad[k].text, n);
                memcpy(u + at + n, "xyz/abcdefghijklmnopq", 21);

                if (olla_path_safe(u, at + n + 21) != bad[k].safe) {
                    print_error("\"%.*s\": want %d\n", (int) (at + n + 21),
                                u, bad[k].safe);
                    fail();
                }
            }
        }
    }
}


/* ------------------------------------------------------------ map */

/* a profile with paths only, as olla_path needs it */

static olla_profile_t *
profile(const char **paths, size_t n)
{
    olla_profile_t  *p;

    p = calloc(1, sizeof(olla_profile_t));
    assert_non_null(p);

    p->name = (char *) "test";
    p->paths.items = (char **) paths;
    p->paths.n = n;

    return p;
}


static const char  *dmr_paths[] = {
    "/engines/llama.cpp/v1/chat/completions",
    "/engines/v1/chat/completions",
    "/engines/llama.cpp/v1/models",
    "/engines/v1/models",
    "/engines/v1/completions",
    "/engines/v1/embeddings",
    "/engines/vllm/v1/chat/completions",
    "/models",
};

static const char  *openai_paths[] = {
    "/v1/models",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
};

/* the exact path and a longer one: the exact one is the shortest */
static const char  *both_paths[] = {
    "/engines/v1/chat/completions",
    "/v1/chat/completions",
};

/* two of the same length: the first in file order */
static const char  *tie_paths[] = {
    "/a/v1/models",
    "/b/v1/models",
    "/c/d/v1/models",
};

static const char  *no_chat_paths[] = {
    "/api/tags",
    "/api/chat",
    "/v1/models",
};


static void
test_map(void **state)
{
    olla_profile_t  *dmr, *oai, *both, *tie, *none, *empty;

    dmr = profile(dmr_paths, 8);
    oai = profile(openai_paths, 4);
    both = profile(both_paths, 2);
    tie = profile(tie_paths, 3);
    none = profile(no_chat_paths, 3);
    empty = profile(NULL, 0);

    /* the shortest path ending with it, whatever the order */
    assert_ptr_equal(olla_path_map(dmr, S("/v1/chat/completions")),
                     dmr_paths[1]);
    assert_ptr_equal(olla_path_map(dmr, S("/v1/models")), dmr_paths[3]);
    assert_ptr_equal(olla_path_map(dmr, S("/v1/completions")),
                     dmr_paths[4]);
    assert_ptr_equal(olla_path_map(dmr, S("/v1/embeddings")), dmr_paths[5]);

    /* "/v1/completions" is not a suffix of ".../chat/completions" */
    assert_string_equal(olla_path_map(dmr, S("/v1/completions")),
                        "/engines/v1/completions");

    /* a longer suffix picks the longer path */
    assert_ptr_equal(olla_path_map(dmr, S("/llama.cpp/v1/chat/completions")),
                     dmr_paths[0]);
    assert_ptr_equal(olla_path_map(dmr, S("/vllm/v1/chat/completions")),
                     dmr_paths[6]);

    /* an exact match */
    assert_ptr_equal(olla_path_map(dmr, S("/engines/v1/models")),
                     dmr_paths[3]);
    assert_ptr_equal(olla_path_map(dmr, S("/models")), dmr_paths[7]);
    assert_ptr_equal(olla_path_map(oai, S("/v1/chat/completions")),
                     openai_paths[1]);
    assert_ptr_equal(olla_path_map(oai, S("/v1/models")), openai_paths[0]);
    assert_ptr_equal(olla_path_map(both, S("/v1/chat/completions")),
                     both_paths[1]);

    /* ties: the first */
    assert_ptr_equal(olla_path_map(tie, S("/v1/models")), tie_paths[0]);
    assert_ptr_equal(olla_path_map(tie, S("/d/v1/models")), tie_paths[2]);

    /* no match */
    assert_null(olla_path_map(dmr, S("/v1/audio/speech")));
    assert_null(olla_path_map(dmr, S("/v1/chat/completion")));
    assert_null(olla_path_map(dmr, S("/v1/chat/completions/")));
    assert_null(olla_path_map(dmr, S("/x/engines/v1/chat/completions")));
    assert_null(olla_path_map(oai, S("/engines/v1/chat/completions")));
    assert_null(olla_path_map(none, S("/v1/chat/completions")));
    assert_null(olla_path_map(empty, S("/v1/models")));
    assert_null(olla_path_map(empty, "", 0));

    /* case matters */
    assert_null(olla_path_map(oai, S("/V1/models")));

    /* only len bytes of the path */
    assert_ptr_equal(olla_path_map(oai, "/v1/modelsXYZ", 10),
                     openai_paths[0]);

    /*
     * The match is a plain suffix, not a segment match: "models" (no
     * leading "/") matches "/v1/models", and an empty path matches the
     * shortest path.  The glue only asks with paths that start with "/"
     * ("/v1/..." after "proxy"), so a match always starts a segment.
     */
    assert_ptr_equal(olla_path_map(oai, S("models")), openai_paths[0]);
    assert_ptr_equal(olla_path_map(dmr, "", 0), dmr_paths[7]);

    free(dmr);
    free(oai);
    free(both);
    free(tie);
    free(none);
    free(empty);
}


static void
test_chat(void **state)
{
    olla_profile_t  *dmr, *oai, *both, *none, *empty;

    dmr = profile(dmr_paths, 8);
    oai = profile(openai_paths, 4);
    both = profile(both_paths, 2);
    none = profile(no_chat_paths, 3);
    empty = profile(NULL, 0);

    assert_ptr_equal(olla_path_chat(dmr), dmr_paths[1]);
    assert_string_equal(olla_path_chat(dmr), "/engines/v1/chat/completions");
    assert_ptr_equal(olla_path_chat(oai), openai_paths[1]);
    assert_ptr_equal(olla_path_chat(both), both_paths[1]);
    assert_null(olla_path_chat(none));
    assert_null(olla_path_chat(empty));

    free(dmr);
    free(oai);
    free(both);
    free(none);
    free(empty);
}


static void
test_map_cached(void **state)
{
    olla_profile_t     *dmr, *oai, *none;
    olla_path_cache_t   cache;

    static const char  *other_paths[] = {
        "/x/v1/models",
        "/y/v1/chat/completions",
    };

    dmr = profile(dmr_paths, 8);
    oai = profile(openai_paths, 4);
    none = profile(no_chat_paths, 3);

    memset(&cache, 0, sizeof(olla_path_cache_t));

    /* a zeroed cache: a NULL profile is "the same" and is not looked at */
    assert_null(olla_path_map_cached(&cache, NULL, S("/v1/models")));

    /* the first ask computes */
    assert_ptr_equal(olla_path_map_cached(&cache, dmr, S("/v1/models")),
                     dmr_paths[3]);
    assert_ptr_equal(cache.profile, dmr);

    /*
     * The same profile again: the answer kept, not recomputed (the
     * profile's paths are changed under it to see that).
     */
    dmr->paths.items = (char **) other_paths;
    dmr->paths.n = 2;

    assert_ptr_equal(olla_path_map_cached(&cache, dmr, S("/v1/models")),
                     dmr_paths[3]);

    /*
     * The cache is per request, keyed by the profile only: the path is
     * the request's and is not compared.
     */
    assert_ptr_equal(olla_path_map_cached(&cache, dmr, S("/v1/embeddings")),
                     dmr_paths[3]);

    /* another profile: recomputed */
    assert_ptr_equal(olla_path_map_cached(&cache, oai, S("/v1/models")),
                     openai_paths[0]);
    assert_ptr_equal(cache.profile, oai);

    /* back to the first: recomputed, with its new paths */
    assert_ptr_equal(olla_path_map_cached(&cache, dmr, S("/v1/models")),
                     other_paths[0]);

    /* a NULL answer is kept too */
    assert_null(olla_path_map_cached(&cache, none,
                                     S("/v1/chat/completions")));

    none->paths.items = (char **) openai_paths;
    none->paths.n = 4;

    assert_null(olla_path_map_cached(&cache, none,
                                     S("/v1/chat/completions")));

    /* and recomputed after another profile */
    assert_ptr_equal(olla_path_map_cached(&cache, oai,
                                          S("/v1/chat/completions")),
                     openai_paths[1]);
    assert_ptr_equal(olla_path_map_cached(&cache, none,
                                          S("/v1/chat/completions")),
                     openai_paths[1]);

    free(dmr);
    free(oai);
    free(none);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_safe_table),
        cmocka_unit_test(test_safe_query),
        cmocka_unit_test(test_safe_bytes),
        cmocka_unit_test(test_safe_escapes),
        cmocka_unit_test(test_safe_long),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_chat),
        cmocka_unit_test(test_map_cached),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
