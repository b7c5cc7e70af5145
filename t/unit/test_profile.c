
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the profile loader (src/olla_profile.c, olla_yaml.c): the
 * shipped profiles, the seed's dmr-custom.yaml merged over dmr.yaml, the
 * derived timeouts and concurrency limits, and every error with its
 * position.  Run from the repository root: fixtures are
 * t/unit/fixtures/profiles/.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "olla_profile.h"


#define FIX  "t/unit/fixtures/profiles"

#define assert_double_equal(a, b)                                            \
    assert_true(fabs((double) (a) - (double) (b)) < 1e-9)

#define S(s)  (s), strlen(s)


static const char  *dmr_paths[] = {
    "/engines/v1/models",
    "/engines/v1/chat/completions",
    "/engines/v1/completions",
    "/engines/v1/embeddings",
    "/engines/llama.cpp/v1/models",
    "/engines/llama.cpp/v1/chat/completions",
    "/engines/llama.cpp/v1/completions",
    "/engines/llama.cpp/v1/embeddings",
    "/engines/vllm/v1/models",
    "/engines/vllm/v1/chat/completions",
    "/engines/vllm/v1/completions",
    "/engines/vllm/v1/embeddings",
    "/engines/v1/responses",
    "/engines/v1/responses/{id}",
    "/engines/v1/responses/{id}/input_items",
    "/engines/llama.cpp/v1/responses",
    "/engines/llama.cpp/v1/responses/{id}",
    "/engines/llama.cpp/v1/responses/{id}/input_items",
    "/engines/vllm/v1/responses",
    "/engines/vllm/v1/responses/{id}",
    "/engines/vllm/v1/responses/{id}/input_items"
};


/* the size classes of profiles/dmr.yaml */

typedef struct {
    const char  *patterns[8];
    double       min, rec, gpu;
    uint64_t     load_ms;
} size_row_t;

static const size_row_t  dmr_sizes[] = {
    { { "70b", "72b" }, 80, 96, 80, 180000 },
    { { "34b", "33b", "32b", "30b", "27b", "24b" }, 40, 48, 40, 90000 },
    { { "13b", "14b", "12b" }, 16, 20, 16, 45000 },
    { { "7b", "8b", "9b" }, 10, 12, 8, 30000 },
    { { "3b", "4b" }, 4, 6, 4, 15000 },
    { { "1b", "1.5b", "1.7b", "2b" }, 2, 4, 2, 10000 },
    { { "135m", "270m", "360m", "500m", "600m", "0.5b", "0.6b" },
      1, 2, 1, 5000 }
};


static olla_profile_set_t *
load_ok(const char *dir)
{
    char                 err[OLLA_PROFILE_ERRLEN];
    olla_profile_set_t  *set;

    err[0] = '\0';
    set = olla_profiles_load(dir, err, sizeof(err));

    if (set == NULL) {
        fail_msg("loading %s: %s", dir, err);
    }

    return set;
}


static void
expect_dir_error(const char *dir, const char *expected)
{
    char                 err[OLLA_PROFILE_ERRLEN];
    olla_profile_set_t  *set;

    strcpy(err, "(not set)");
    set = olla_profiles_load(dir, err, sizeof(err));

    if (set != NULL) {
        olla_profiles_free(set);
        fail_msg("%s loaded, expected: %s", dir, expected);
    }

    assert_string_equal(err, expected);
}


/* one or two in-memory files, no directory: messages name "t.yaml" */

static olla_profile_set_t *
load_buf2(const char *name1, const char *text1, const char *name2,
    const char *text2, char *err, size_t errlen)
{
    size_t       lens[2];
    const char  *names[2], *texts[2];

    names[0] = name1;
    texts[0] = text1;
    lens[0] = strlen(text1);
    names[1] = name2;
    texts[1] = text2;
    lens[1] = text2 ? strlen(text2) : 0;

    return olla_profiles_load_buffers(NULL, NULL, names, texts, lens,
                                      text2 ? 2 : 1, err, errlen);
}


static void
expect_buf_error(const char *text, const char *expected)
{
    char                 err[OLLA_PROFILE_ERRLEN];
    olla_profile_set_t  *set;

    strcpy(err, "(not set)");
    set = load_buf2("t.yaml", text, NULL, NULL, err, sizeof(err));

    if (set != NULL) {
        olla_profiles_free(set);
        fail_msg("loaded, expected: %s\n---\n%s", expected, text);
    }

    assert_string_equal(err, expected);
}


static olla_profile_set_t *
buf_ok(const char *text)
{
    char                 err[OLLA_PROFILE_ERRLEN];
    olla_profile_set_t  *set;

    err[0] = '\0';
    set = load_buf2("t.yaml", text, NULL, NULL, err, sizeof(err));

    if (set == NULL) {
        fail_msg("%s\n---\n%s", err, text);
    }

    return set;
}


static void
assert_strlist(const olla_strlist_t *l, const char *const *want, size_t n)
{
    size_t  i;

    assert_int_equal(l->n, n);

    for (i = 0; i < n; i++) {
        assert_non_null(l->items[i]);
        assert_string_equal(l->items[i], want[i]);
    }
}


static void
assert_dmr_sizes(const olla_profile_t *p)
{
    size_t                    i, n;
    const olla_size_class_t  *sc;

    assert_int_equal(p->nmodel_sizes,
                     sizeof(dmr_sizes) / sizeof(dmr_sizes[0]));

    for (i = 0; i < p->nmodel_sizes; i++) {
        sc = &p->model_sizes[i];

        for (n = 0; dmr_sizes[i].patterns[n]; n++) {
            /* count */
        }

        assert_strlist(&sc->patterns, dmr_sizes[i].patterns, n);
        assert_double_equal(sc->min_memory_gb, dmr_sizes[i].min);
        assert_double_equal(sc->recommended_memory_gb, dmr_sizes[i].rec);
        assert_double_equal(sc->min_gpu_memory_gb, dmr_sizes[i].gpu);
        assert_int_equal(sc->estimated_load_time_ms, dmr_sizes[i].load_ms);
    }

    assert_true(p->has_size_defaults);
    assert_int_equal(p->size_defaults.patterns.n, 0);
    assert_double_equal(p->size_defaults.min_memory_gb, 8);
    assert_double_equal(p->size_defaults.recommended_memory_gb, 12);
    assert_double_equal(p->size_defaults.min_gpu_memory_gb, 6);
    assert_int_equal(p->size_defaults.estimated_load_time_ms, 30000);
}


static void
assert_dmr_quant(const olla_profile_t *p)
{
    size_t              i;
    static const char  *names[] = { "q2", "q3", "q4", "q5", "q6", "q8" };
    static double       mult[] = { 0.35, 0.45, 0.5, 0.625, 0.75, 0.875 };

    assert_int_equal(p->nquant, 6);

    for (i = 0; i < 6; i++) {
        assert_string_equal(p->quant[i].name, names[i]);
        assert_double_equal(p->quant[i].multiplier, mult[i]);
    }
}


/* everything of profiles/dmr.yaml but routing.prefixes, timeout, limits */

static void
assert_dmr_common(const olla_profile_t *p)
{
    size_t              i;
    static const char  *model[] = { "model" };

    assert_string_equal(p->name, "docker-model-runner");
    assert_string_equal(p->version, "1.0");

    assert_strlist(&p->paths, dmr_paths, 21);

    for (i = 0; i < 12; i++) {
        assert_true(olla_profile_has_path(p, S(dmr_paths[i])));
    }

    /* "{id}" stands for one non-empty segment */
    assert_true(olla_profile_has_path(p, S("/engines/v1/responses")));
    assert_true(olla_profile_has_path(p, S("/engines/v1/responses/resp_1")));
    assert_true(olla_profile_has_path(p,
                    S("/engines/vllm/v1/responses/resp_1/input_items")));
    assert_false(olla_profile_has_path(p, S("/engines/v1/responses/")));
    assert_false(olla_profile_has_path(p, S("/engines/v1/responses//input_items")));
    assert_false(olla_profile_has_path(p, S("/engines/v1/responses/a/b")));
    assert_false(olla_profile_has_path(p,
                    S("/engines/v1/responses/a/input_itemsX")));
    assert_true(olla_profile_has_path(p, S("/engines/v1/responses/{id}")));

    assert_false(olla_profile_has_path(p, S("/v1/models")));
    assert_false(olla_profile_has_path(p, S("/engines/v1/models/")));
    assert_false(olla_profile_has_path(p, S("/engines/v1/model")));
    assert_false(olla_profile_has_path(p, S("/engines/v1/models/x")));
    assert_false(olla_profile_has_path(p, S("")));
    assert_true(olla_profile_has_path(p, "/engines/v1/modelsXYZ", 18));

    assert_string_equal(p->model_discovery_path, "/engines/v1/models");
    assert_string_equal(p->health_check_path, "/engines/v1/models");
    assert_int_equal(p->anthropic_enabled, 1);
    assert_string_equal(p->anthropic_messages_path,
                        "/anthropic/v1/messages");
    assert_int_equal(p->anthropic_token_count, 1);

    assert_int_equal(p->max_concurrent_requests, 8);
    assert_int_equal(p->default_priority, 95);
    assert_int_equal(p->streaming_support, 1);

    assert_dmr_sizes(p);
    assert_dmr_quant(p);
    assert_int_equal(p->load_time_buffer, 1);

    assert_strlist(&p->model_field_paths, model, 1);
}


/* ------------------------------------------------------------ shipped */


static void
test_shipped_dmr(void **state)
{
    char                     names[256];
    olla_profile_set_t      *set;
    const olla_profile_t    *p;
    static const char       *prefixes[] = { "dmr" };

    set = load_ok("profiles");

    assert_int_equal(set->n, 3);
    assert_string_equal(set->dir, "profiles");

    assert_int_equal(olla_profiles_names(set, names, sizeof(names)),
                     strlen("docker-model-runner, ollama, openai-compatible"));
    assert_string_equal(names, "docker-model-runner, ollama, "
                        "openai-compatible");

    p = olla_profiles_find(set, S("docker-model-runner"));
    assert_non_null(p);
    assert_ptr_equal(olla_profiles_find(set, S("Docker-Model-Runner")), p);
    assert_ptr_equal(olla_profiles_find_prefix(set, S("dmr")), p);
    assert_null(olla_profiles_find(set, S("dmr")));
    assert_null(olla_profiles_find(set, "docker-model-runnerX", 19 + 1));
    assert_ptr_equal(olla_profiles_find(set, "docker-model-runnerX", 19), p);
    assert_null(olla_profiles_find_prefix(set, S("docker")));
    assert_null(olla_profiles_find_prefix(set, S("DMR")));

    assert_string_equal(p->file, "profiles/dmr.yaml");
    assert_null(p->custom_file);

    assert_strlist(&p->prefixes, prefixes, 1);
    assert_dmr_common(p);

    assert_int_equal(p->timeout_ms, 5 * 60 * 1000);
    assert_int_equal(p->stream_idle_timeout_ms, 2 * 60 * 1000);
    assert_int_equal(p->base_timeout_ms, 0);

    /* llama-server's 4 parallel slots per model (issue 15) */
    assert_int_equal(p->nconcurrency_limits, 2);
    assert_double_equal(p->concurrency_limits[0].min_memory_gb, 15);
    assert_int_equal(p->concurrency_limits[0].max_concurrent, 4);
    assert_double_equal(p->concurrency_limits[1].min_memory_gb, 0);
    assert_int_equal(p->concurrency_limits[1].max_concurrent, 8);

    olla_profiles_free(set);
}


static void
test_shipped_dmr_derived(void **state)
{
    olla_profile_set_t    *set;
    const olla_profile_t  *p;

    set = load_ok("profiles");
    p = olla_profiles_find(set, S("docker-model-runner"));
    assert_non_null(p);

    /* 70B: 80 GB -> 4 (one model fills the machine: its 4 slots) */
    assert_double_equal(olla_profile_model_memory_gb(p,
                        S("ai/llama3.3:70B")), 80);
    assert_int_equal(olla_profile_concurrency(p, S("ai/llama3.3:70B")), 4);
    assert_double_equal(olla_profile_model_memory_gb(p,
                        S("ai/llama3.3:70B-Q4_K_M")), 40);
    assert_int_equal(olla_profile_timeout_ms(p, S("ai/llama3.3:70B")),
                     300000 + 180000);

    /* 30B q4: 20 GB -> 4 */
    assert_int_equal(olla_profile_concurrency(p,
                     S("ai/qwen3:30B-A3B-UD-Q4_K_XL")), 4);

    /* 8B: 10 GB -> 8; q4: 5 GB -> 8; Olla's example name */
    assert_int_equal(olla_profile_concurrency(p, S("ai/llama3.1-8b")), 8);
    assert_int_equal(olla_profile_concurrency(p,
                     S("ai/llama3.1:8B-Q4_K_M")), 8);
    assert_int_equal(olla_profile_timeout_ms(p, S("ai/llama3.1-8b")),
                     300000 + 30000);

    /* no size in the name: the defaults (8 GB, 30 s) */
    assert_ptr_equal(olla_profile_size_class(p, S("ai/smollm2")),
                     &p->size_defaults);
    assert_int_equal(olla_profile_concurrency(p, S("ai/smollm2")), 8);
    assert_int_equal(olla_profile_timeout_ms(p, S("ai/smollm2")),
                     300000 + 30000);

    /* 360M q4: 0.5 GB -> 8 */
    assert_double_equal(olla_profile_model_memory_gb(p,
                        S("ai/smollm2:360M-Q4_K_M")), 0.5);
    assert_int_equal(olla_profile_concurrency(p,
                     S("ai/smollm2:360M-Q4_K_M")), 8);

    /* no model: max_concurrent_requests, the plain timeout */
    assert_int_equal(olla_profile_concurrency(p, NULL, 0), 8);
    assert_int_equal(olla_profile_concurrency(p, "", 0), 8);
    assert_int_equal(olla_profile_timeout_ms(p, NULL, 0), 300000);
    assert_null(olla_profile_size_class(p, NULL, 0));
    assert_double_equal(olla_profile_model_memory_gb(p, NULL, 0), -1);

    olla_profiles_free(set);
}


static void
test_shipped_others(void **state)
{
    size_t                 i;
    olla_profile_set_t    *set;
    const olla_profile_t  *o, *g;
    static const char     *ollama_paths[] = {
        "/api/generate", "/api/chat", "/api/embeddings", "/api/embed",
        "/api/tags", "/api/show", "/api/ps", "/api/version",
        "/v1/models", "/v1/chat/completions", "/v1/completions",
        "/v1/embeddings"
    };
    static const char     *openai_paths[] = {
        "/v1/models", "/v1/chat/completions", "/v1/completions",
        "/v1/embeddings"
    };
    static const char     *ollama_prefixes[] = { "ollama" };
    static const char     *openai_prefixes[] = {
        "openai-compatible", "openai"
    };

    set = load_ok("profiles");

    o = olla_profiles_find(set, S("ollama"));
    assert_non_null(o);
    assert_string_equal(o->file, "profiles/ollama.yaml");
    assert_strlist(&o->prefixes, ollama_prefixes, 1);
    assert_strlist(&o->paths, ollama_paths, 12);
    assert_string_equal(o->model_discovery_path, "/v1/models");
    assert_string_equal(o->health_check_path, "/v1/models");
    assert_int_equal(o->anthropic_enabled, 1);
    assert_string_equal(o->anthropic_messages_path, "/v1/messages");
    assert_int_equal(o->anthropic_token_count, 0);
    assert_int_equal(o->default_priority, 80);
    assert_int_equal(o->timeout_ms, 300000);
    assert_int_equal(o->stream_idle_timeout_ms, 0);      /* off */
    assert_int_equal(o->max_concurrent_requests, 4);
    assert_int_equal(o->streaming_support, 1);
    assert_ptr_equal(olla_profiles_find_prefix(set, S("ollama")), o);
    assert_true(o->nmodel_sizes > 0 && o->nconcurrency_limits > 0);
    assert_int_equal(olla_profile_concurrency(o, S("llama3.3:70b")), 1);
    assert_int_equal(olla_profile_concurrency(o, S("llama3.1:8b")), 4);

    g = olla_profiles_find(set, S("openai-compatible"));
    assert_non_null(g);
    assert_strlist(&g->prefixes, openai_prefixes, 2);
    assert_strlist(&g->paths, openai_paths, 4);
    assert_string_equal(g->model_discovery_path, "/v1/models");
    assert_string_equal(g->health_check_path, "/v1/models");
    assert_int_equal(g->anthropic_enabled, 0);
    assert_null(g->anthropic_messages_path);
    assert_int_equal(g->default_priority, 50);
    assert_int_equal(g->timeout_ms, 300000);
    assert_int_equal(g->stream_idle_timeout_ms, 120000);
    assert_ptr_equal(olla_profiles_find_prefix(set, S("openai")), g);
    assert_ptr_equal(olla_profiles_find_prefix(set,
                     S("openai-compatible")), g);

    /* every profile: a name, a version, field paths, discovery paths */
    for (i = 0; i < set->n; i++) {
        assert_non_null(set->profiles[i].version);
        assert_true(set->profiles[i].paths.n > 0);
        assert_true(set->profiles[i].prefixes.n > 0);
        assert_true(olla_profile_has_path(&set->profiles[i],
                    S(set->profiles[i].model_discovery_path)));
        assert_true(olla_profile_has_path(&set->profiles[i],
                    S(set->profiles[i].health_check_path)));
    }

    olla_profiles_free(set);
}


/* the seed fixture's dmr.yaml is a copy of the shipped one */

static char *
read_all(const char *path, size_t *len)
{
    FILE  *fp;
    char  *buf;
    long   n;

    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);

    buf = malloc((size_t) n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, fp), (size_t) n);
    buf[n] = '\0';
    fclose(fp);

    *len = (size_t) n;

    return buf;
}


static void
test_seed_copy_is_current(void **state)
{
    char    *a, *b;
    size_t   alen, blen;

    a = read_all("profiles/dmr.yaml", &alen);
    b = read_all(FIX "/seed/dmr.yaml", &blen);

    if (alen != blen || memcmp(a, b, alen) != 0) {
        free(a);
        free(b);
        fail_msg("copy profiles/dmr.yaml to " FIX "/seed/dmr.yaml (and "
                 "custom-error/, custom-name/)");
    }

    free(a);
    free(b);
}


/* ------------------------------------------------------------ seed */


static void
test_seed_custom(void **state)
{
    olla_profile_set_t    *set;
    const olla_profile_t  *p;
    static const char     *prefixes[] = { "dmr", "docker" };

    set = load_ok(FIX "/seed");

    assert_int_equal(set->n, 1);
    p = &set->profiles[0];

    assert_string_equal(p->file, FIX "/seed/dmr.yaml");
    assert_string_equal(p->custom_file, FIX "/seed/dmr-custom.yaml");

    /* replaced by the custom file */
    assert_strlist(&p->prefixes, prefixes, 2);
    assert_ptr_equal(olla_profiles_find_prefix(set, S("docker")), p);
    assert_ptr_equal(olla_profiles_find_prefix(set, S("dmr")), p);
    assert_int_equal(p->timeout_ms, 10 * 60 * 1000);

    assert_int_equal(p->nconcurrency_limits, 3);
    assert_double_equal(p->concurrency_limits[0].min_memory_gb, 30);
    assert_int_equal(p->concurrency_limits[0].max_concurrent, 1);
    assert_double_equal(p->concurrency_limits[1].min_memory_gb, 8);
    assert_int_equal(p->concurrency_limits[1].max_concurrent, 4);
    assert_double_equal(p->concurrency_limits[2].min_memory_gb, 0);
    assert_int_equal(p->concurrency_limits[2].max_concurrent, 6);

    assert_int_equal(p->base_timeout_ms, 300 * 1000);
    assert_int_equal(p->load_time_buffer, 1);

    /* kept from the base: paths, api, the other characteristics, sizes */
    assert_dmr_common(p);

    /* derived */
    assert_int_equal(olla_profile_concurrency(p, S("ai/llama3.3:70B")), 1);
    assert_int_equal(olla_profile_concurrency(p, S("ai/llama3.1:8B")), 4);
    assert_int_equal(olla_profile_concurrency(p, S("ai/llama3.2:1B")), 6);
    assert_int_equal(olla_profile_concurrency(p, S("ai/smollm2")), 4);
    assert_int_equal(olla_profile_concurrency(p, NULL, 0), 8);

    assert_int_equal(olla_profile_timeout_ms(p, S("ai/llama3.3:70B")),
                     600000 + 180000);
    assert_int_equal(olla_profile_timeout_ms(p, S("ai/llama3.1:8B")),
                     600000 + 30000);
    assert_int_equal(olla_profile_timeout_ms(p, NULL, 0), 600000);

    olla_profiles_free(set);
}


/* ------------------------------------------------------------ errors */


static void
test_error_bad_indent(void **state)
{
    expect_dir_error(FIX "/bad-indent", FIX "/bad-indent/dmr.yaml:5:2: "
                     "did not find expected key (while parsing a block "
                     "mapping at 1:1)");
}


static void
test_error_unclosed_quote(void **state)
{
    expect_dir_error(FIX "/unclosed-quote", FIX "/unclosed-quote/dmr.yaml"
                     ":7:1: found unexpected end of stream (while scanning "
                     "a quoted scalar at 5:22)");
}


static void
test_error_string_for_list(void **state)
{
    expect_dir_error(FIX "/prefix-string", FIX "/prefix-string/dmr.yaml"
                     ":3:13: routing.prefixes must be a list of strings, "
                     "not a string");
}


static void
test_error_mapping_for_string(void **state)
{
    expect_dir_error(FIX "/map-for-string", FIX "/map-for-string/"
                     "ollama.yaml:7:5: api.health_check_path must be a "
                     "string, not a mapping");
}


static void
test_error_bad_duration(void **state)
{
    expect_dir_error(FIX "/bad-duration", FIX "/bad-duration/dmr.yaml:4:12: "
                     "characteristics.timeout must be a duration such as "
                     "30s, 5m or 1h30m, not \"5 minutes\"");
}


static void
test_error_bad_bool(void **state)
{
    expect_dir_error(FIX "/bad-bool", FIX "/bad-bool/dmr.yaml:4:14: "
                     "api.anthropic_support.enabled must be true or false, "
                     "not \"maybe\"");
}


static void
test_error_missing_name(void **state)
{
    expect_dir_error(FIX "/no-name", FIX "/no-name/vllm.yaml:2:1: name is "
                     "required");
}


static void
test_error_duplicate_name(void **state)
{
    expect_dir_error(FIX "/dup-name", FIX "/dup-name/b-second.yaml:2:7: "
                     "profile name \"LlamaCpp\" is already used by "
                     FIX "/dup-name/a-first.yaml");
}


static void
test_error_prefix_collision(void **state)
{
    expect_dir_error(FIX "/prefix-collision", FIX "/prefix-collision/"
                     "vllm.yaml:5:7: routing prefix \"local\" is already "
                     "claimed by profile \"lm-studio\" (" FIX
                     "/prefix-collision/lmstudio.yaml)");
}


static void
test_error_missing_dir(void **state)
{
    expect_dir_error(FIX "/no-such-dir", FIX "/no-such-dir: cannot open "
                     "profiles directory: No such file or directory");
    expect_dir_error(FIX "/seed/dmr.yaml", FIX "/seed/dmr.yaml: cannot "
                     "open profiles directory: Not a directory");
}


static void
test_error_empty_dir(void **state)
{
    expect_dir_error(FIX "/empty", FIX "/empty: no profiles (NAME.yaml "
                     "files) in the profiles directory");
}


static void
test_error_in_custom_file(void **state)
{
    expect_dir_error(FIX "/custom-error", FIX "/custom-error/"
                     "dmr-custom.yaml:6:28: "
                     "characteristics.max_concurrent_requests must be an "
                     "integer between 1 and 1000000, not \"many\"");
}


static void
test_error_custom_name_differs(void **state)
{
    expect_dir_error(FIX "/custom-name", FIX "/custom-name/dmr-custom.yaml"
                     ":2:7: name \"dmr\" differs from the name "
                     "\"docker-model-runner\" of " FIX "/custom-name/"
                     "dmr.yaml; a custom file must keep the name of the "
                     "profile it changes");
}


/* wrong types and values, from memory */

static void
test_error_types_and_ranges(void **state)
{
    expect_buf_error("name: x\nrouting: [a]\n",
                     "t.yaml:2:10: routing must be a mapping, not a list");
    expect_buf_error("name: [x]\n",
                     "t.yaml:1:7: name must be a string, not a list");
    expect_buf_error("name: \"\"\n",
                     "t.yaml:1:7: name must not be empty");
    expect_buf_error("name: a b\n",
                     "t.yaml:1:7: name must be letters, digits, '-', '_' "
                     "or '.', not \"a b\"");
    expect_buf_error("- name: x\n",
                     "t.yaml:1:1: a profile must be a mapping of keys, "
                     "not a list");
    expect_buf_error("just a string\n",
                     "t.yaml:1:1: a profile must be a mapping of keys, "
                     "not a string");
    expect_buf_error("",
                     "t.yaml:1:1: name is required");
    expect_buf_error("name: x\nrouting:\n  prefixes: [a, {b: c}]\n",
                     "t.yaml:3:17: routing.prefixes[1] must be a string, "
                     "not a mapping");
    expect_buf_error("name: x\nrouting:\n  prefixes: [a, ~]\n",
                     "t.yaml:3:17: routing.prefixes[1] must be a string, "
                     "not null");
    expect_buf_error("name: x\nrouting:\n  prefixes: [a/b]\n",
                     "t.yaml:3:14: routing.prefixes[0] must be one path "
                     "segment of letters, digits, '-', '_', '.' or '~', "
                     "not \"a/b\"");
    expect_buf_error("name: x\nrouting:\n  prefixes: [\"\"]\n",
                     "t.yaml:3:14: routing.prefixes[0] must not be empty");
    expect_buf_error("name: x\nrouting:\n  prefixes: [..]\n",
                     "t.yaml:3:14: routing.prefixes[0] must not be \"..\"");
    expect_buf_error("name: x\nrouting:\n  prefixes: [proxy]\n",
                     "t.yaml:3:14: routing.prefixes[0]: \"proxy\" is "
                     "reserved for olla_route's own routes (\"models\", "
                     "\"anthropic/\" or \"proxy/\")");
    expect_buf_error("name: x\nrouting:\n  prefixes: [models]\n",
                     "t.yaml:3:14: routing.prefixes[0]: \"models\" is "
                     "reserved for olla_route's own routes (\"models\", "
                     "\"anthropic/\" or \"proxy/\")");
    expect_buf_error("name: x\napi:\n  running_models: /engines/ps\n",
                     "t.yaml:3:19: api.running_models must be a mapping, "
                     "not a string");
    expect_buf_error("name: x\napi:\n  running_models:\n"
                     "    path: /engines/ps\n",
                     "t.yaml:4:5: api.running_models.format (\"dmr\" or "
                     "\"ollama\") is required with api.running_models.path");
    expect_buf_error("name: x\napi:\n  running_models:\n"
                     "    path: /engines/ps\n    format: vllm\n",
                     "t.yaml:5:13: api.running_models.format must be "
                     "\"dmr\" or \"ollama\", not \"vllm\"");
    expect_buf_error("name: x\napi:\n  running_models:\n"
                     "    format: dmr\n",
                     "t.yaml:4:5: api.running_models.path is required with "
                     "api.running_models.format");
    expect_buf_error("name: x\napi:\n  running_models:\n"
                     "    path: engines/ps\n    format: dmr\n",
                     "t.yaml:4:11: api.running_models.path must be a path "
                     "starting with \"/\", not \"engines/ps\"");
    expect_buf_error("name: x\nrouting:\n  prefixes: [a, b, a]\n",
                     "t.yaml:3:20: routing.prefixes[2]: \"a\" is listed "
                     "twice");
    expect_buf_error("name: x\napi:\n  paths: [v1/models]\n",
                     "t.yaml:3:11: api.paths[0] must be a path starting "
                     "with \"/\", not \"v1/models\"");
    expect_buf_error("name: x\napi:\n  paths: [/v1//models]\n",
                     "t.yaml:3:11: api.paths[0] must be a normalised path "
                     "(no \"//\", \".\" or \"..\"), not \"/v1//models\"");
    expect_buf_error("name: x\napi:\n  paths: [/v1/../models]\n",
                     "t.yaml:3:11: api.paths[0] must be a normalised path "
                     "(no \"//\", \".\" or \"..\"), not \"/v1/../models\"");
    expect_buf_error("name: x\napi:\n  paths: [\"/v1/models?x=1\"]\n",
                     "t.yaml:3:11: api.paths[0] must be a plain path "
                     "without '?' or '%', not \"/v1/models?x=1\"");
    expect_buf_error("name: x\napi:\n  paths: [\"/v1/mo dels\"]\n",
                     "t.yaml:3:11: api.paths[0] must not contain spaces, "
                     "control characters, non-ASCII bytes or '#', not "
                     "\"/v1/mo dels\"");
    expect_buf_error("name: x\napi:\n  model_discovery_path: models\n",
                     "t.yaml:3:25: api.model_discovery_path must be a path "
                     "starting with \"/\", not \"models\"");
    expect_buf_error("name: x\napi:\n  anthropic_support:\n"
                     "    enabled: yes\n",
                     "t.yaml:4:5: api.anthropic_support.messages_path is "
                     "required when api.anthropic_support.enabled is true");
    expect_buf_error("name: x\ncharacteristics:\n  default_priority: 1001\n",
                     "t.yaml:3:21: characteristics.default_priority must "
                     "be an integer between 0 and 1000, not \"1001\"");
    expect_buf_error("name: x\ncharacteristics:\n  default_priority: -1\n",
                     "t.yaml:3:21: characteristics.default_priority must "
                     "be an integer between 0 and 1000, not \"-1\"");
    expect_buf_error("name: x\ncharacteristics:\n  default_priority: 9.5\n",
                     "t.yaml:3:21: characteristics.default_priority must "
                     "be an integer between 0 and 1000, not \"9.5\"");
    expect_buf_error("name: x\ncharacteristics:\n"
                     "  max_concurrent_requests: 0\n",
                     "t.yaml:3:28: characteristics.max_concurrent_requests "
                     "must be an integer between 1 and 1000000, not \"0\"");
    expect_buf_error("name: x\ncharacteristics:\n"
                     "  max_concurrent_requests: [8]\n",
                     "t.yaml:3:28: characteristics.max_concurrent_requests "
                     "must be an integer between 1 and 1000000, not a list");
    expect_buf_error("name: x\ncharacteristics:\n  timeout: 0s\n",
                     "t.yaml:3:12: characteristics.timeout must be between "
                     "1s and 24h, not \"0s\"");
    expect_buf_error("name: x\ncharacteristics:\n  timeout: 25h\n",
                     "t.yaml:3:12: characteristics.timeout must be between "
                     "1s and 24h, not \"25h\"");
    expect_buf_error("name: x\ncharacteristics:\n"
                     "  stream_idle_timeout: 0s\n",
                     "t.yaml:3:24: characteristics.stream_idle_timeout must "
                     "be between 1s and 24h, not \"0s\"");
    expect_buf_error("name: x\ncharacteristics:\n"
                     "  stream_idle_timeout: soon\n",
                     "t.yaml:3:24: characteristics.stream_idle_timeout must "
                     "be a duration such as 30s, 5m or 1h30m, or off, not "
                     "\"soon\"");
    expect_buf_error("name: x\ncharacteristics:\n"
                     "  stream_idle_timeout: [1m]\n",
                     "t.yaml:3:24: characteristics.stream_idle_timeout must "
                     "be a duration such as 30s, 5m or 1h30m, not a list");
    expect_buf_error("name: x\ncharacteristics:\n  timeout: {m: 5}\n",
                     "t.yaml:3:12: characteristics.timeout must be a "
                     "duration such as 30s, 5m or 1h30m, not a mapping");
    expect_buf_error("name: x\ncharacteristics:\n"
                     "  streaming_support: 1\n",
                     "t.yaml:3:22: characteristics.streaming_support must "
                     "be true or false, not \"1\"");
    expect_buf_error("name: x\nresources:\n  model_sizes: {a: 1}\n",
                     "t.yaml:3:16: resources.model_sizes must be a list of "
                     "mappings, not a mapping");
    expect_buf_error("name: x\nresources:\n  model_sizes: [7b]\n",
                     "t.yaml:3:17: resources.model_sizes[0] must be a "
                     "mapping, not a string");
    expect_buf_error("name: x\nresources:\n  model_sizes:\n"
                     "    - min_memory_gb: 4\n",
                     "t.yaml:4:7: resources.model_sizes[0] needs at least "
                     "one pattern");
    expect_buf_error("name: x\nresources:\n  model_sizes:\n"
                     "    - patterns: 7b\n",
                     "t.yaml:4:17: resources.model_sizes[0].patterns must "
                     "be a list of strings, not a string");
    expect_buf_error("name: x\nresources:\n  model_sizes:\n"
                     "    - patterns: [7b]\n      min_memory_gb: -4\n",
                     "t.yaml:5:22: resources.model_sizes[0].min_memory_gb "
                     "must be a number between 0 and 1048576, not \"-4\"");
    expect_buf_error("name: x\nresources:\n  model_sizes:\n"
                     "    - patterns: [7b]\n"
                     "      estimated_load_time_ms: 1.5\n",
                     "t.yaml:5:31: resources.model_sizes[0]."
                     "estimated_load_time_ms must be an integer between 0 "
                     "and 86400000, not \"1.5\"");
    expect_buf_error("name: x\nresources:\n  defaults:\n"
                     "    recommended_memory_gb: .nan\n",
                     "t.yaml:4:28: resources.defaults.recommended_memory_gb "
                     "must be a number between 0 and 1048576, not "
                     "\".nan\"");
    expect_buf_error("name: x\nresources:\n  defaults:\n"
                     "    min_gpu_memory_gb: inf\n",
                     "t.yaml:4:24: resources.defaults.min_gpu_memory_gb "
                     "must be a number between 0 and 1048576, not \"inf\"");
    expect_buf_error("name: x\nresources:\n  quantization: [q4]\n",
                     "t.yaml:3:17: resources.quantization must be a "
                     "mapping, not a list");
    expect_buf_error("name: x\nresources:\n  quantization:\n"
                     "    multipliers:\n      q4: half\n",
                     "t.yaml:5:11: resources.quantization.multipliers.q4 "
                     "must be a number between 0 and 100, not \"half\"");
    expect_buf_error("name: x\nresources:\n  quantization:\n"
                     "    multipliers:\n      q4: 0\n",
                     "t.yaml:5:11: resources.quantization.multipliers.q4 "
                     "must be greater than 0");
    expect_buf_error("name: x\nresources:\n  quantization:\n"
                     "    multipliers:\n      q4:\n",
                     "t.yaml:5:7: resources.quantization.multipliers.q4 "
                     "needs a multiplier");
    expect_buf_error("name: x\nresources:\n  concurrency_limits: 4\n",
                     "t.yaml:3:23: resources.concurrency_limits must be a "
                     "list of mappings, not a string");
    expect_buf_error("name: x\nresources:\n  concurrency_limits:\n"
                     "    - min_memory_gb: 30\n",
                     "t.yaml:4:7: resources.concurrency_limits[0]."
                     "max_concurrent is required");
    expect_buf_error("name: x\nresources:\n  concurrency_limits:\n"
                     "    - {min_memory_gb: 30, max_concurrent: 0}\n",
                     "t.yaml:4:43: resources.concurrency_limits[0]."
                     "max_concurrent must be an integer between 1 and "
                     "1000000, not \"0\"");
    expect_buf_error("name: x\nresources:\n  timeout_scaling:\n"
                     "    base_timeout_seconds: 5m\n",
                     "t.yaml:4:27: resources.timeout_scaling."
                     "base_timeout_seconds must be an integer between 0 "
                     "and 86400, not \"5m\"");
    expect_buf_error("name: x\nresources:\n  timeout_scaling:\n"
                     "    load_time_buffer: sure\n",
                     "t.yaml:4:23: resources.timeout_scaling."
                     "load_time_buffer must be true or false, not \"sure\"");
    expect_buf_error("name: x\nrequest:\n  model_field_paths: model\n",
                     "t.yaml:3:22: request.model_field_paths must be a list "
                     "of strings, not a string");
    expect_buf_error("name: x\nrequest:\n  model_field_paths: [\"\"]\n",
                     "t.yaml:3:23: request.model_field_paths[0] must not be "
                     "empty");
    expect_buf_error("name: \"a\\0b\"\n",
                     "t.yaml:1:7: name must not contain a NUL character");
}


/* "a: &a" n nested lists, "b:" 10 nested lists around *a */

static char *
nested_alias(size_t n)
{
    char    *text;
    size_t   i;

    text = malloc(2 * n + 64);
    assert_non_null(text);
    strcpy(text, "name: x\na: &a ");

    for (i = 0; i < n; i++) {
        strcat(text, "[");
    }

    for (i = 0; i < n; i++) {
        strcat(text, "]");
    }

    strcat(text, "\nb: [[[[[[[[[[*a]]]]]]]]]]\n");

    return text;
}


/* YAML structure: duplicates, documents, aliases, nesting, encoding */

static void
test_error_yaml_structure(void **state)
{
    char  *text;
    size_t i, n;

    expect_buf_error("name: x\nrouting:\n  prefixes: [a]\nname: y\n",
                     "t.yaml:4:1: duplicate key \"name\" (first at 1:1)");
    expect_buf_error("name: x\n---\nname: y\n",
                     "t.yaml:2:1: a profile file must hold one YAML "
                     "document, this is a second one");
    expect_buf_error("name: x\nversion: *nope\n",
                     "t.yaml:2:10: unknown alias *nope");
    expect_buf_error("name: x\n? [a, b]\n: c\n",
                     "t.yaml:2:3: a mapping key must be a plain string, "
                     "not a list");
    expect_buf_error("name: x\nresources:\n  <<: [1]\n",
                     "t.yaml:3:8: the merge key \"<<\" takes mappings, "
                     "not a string");
    expect_buf_error("name: x\nresources:\n  <<: 1\n",
                     "t.yaml:3:7: the merge key \"<<\" takes a mapping or "
                     "a list of mappings, not a string");
    expect_buf_error("name: x\nversion: \"\xff\"\n",
                     "t.yaml:2:11: invalid leading UTF-8 octet "
                     "(byte 0xff)");
    expect_buf_error("name: x\n\tversion: 1\n",
                     "t.yaml:2:1: found a tab character that violates "
                     "indentation (while scanning a plain scalar at 1:7)");

    /* 65 nested lists */
    n = 65;
    text = malloc(2 * n + 16);
    assert_non_null(text);
    strcpy(text, "name: x\nd: ");

    for (i = 0; i < n; i++) {
        strcat(text, "[");
    }

    for (i = 0; i < n; i++) {
        strcat(text, "]");
    }

    expect_buf_error(text, "t.yaml:2:67: nesting deeper than 64 levels");
    free(text);

    /* aliases may not nest past the limit: root mapping + 10 + 60 levels */
    text = nested_alias(60);
    expect_buf_error(text, "t.yaml:3:14: nesting deeper than 64 levels");
    free(text);

    /* 1 + 10 + 53 = 64 is fine */
    text = nested_alias(53);
    olla_profiles_free(buf_ok(text));
    free(text);

    /* a "billion laughs" alias bomb stops at the node budget */
    expect_buf_error("name: x\n"
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
        "t.yaml:6:36: more than 100000 YAML nodes after alias expansion");
}


/* messages quote values safely; the node budget holds without aliases */

static void
test_error_quoting_and_budget(void **state)
{
    char    *text;
    size_t   i;

    expect_buf_error("name: \"a\\tb\\\"c\\\\\"\n",
                     "t.yaml:1:7: name must be letters, digits, '-', '_' "
                     "or '.', not \"a\\x09b\\\"c\\\\\"");
    expect_buf_error("name: x\ncharacteristics:\n  timeout: "
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                     "t.yaml:3:12: characteristics.timeout must be a "
                     "duration such as 30s, 5m or 1h30m, not "
                     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aa...\"");
    expect_buf_error("name: x\na: b: c\n",
                     "t.yaml:2:5: mapping values are not allowed in this "
                     "context");
    expect_buf_error("name: x\napi:\n  anthropic_support:\n"
                     "    enabled: [true]\n",
                     "t.yaml:4:14: api.anthropic_support.enabled must be "
                     "true or false, not a list");

    /* root, 2 keys, a value, the list and 99996 items: node 100001 */
    text = malloc(16 + 2 * 100001);
    assert_non_null(text);
    strcpy(text, "name: x\nl: [");

    for (i = 0; i < 100000; i++) {
        memcpy(text + 12 + 2 * i, "0,", 2);
    }

    strcpy(text + 12 + 2 * 100000, "]\n");

    expect_buf_error(text, "t.yaml:2:199995: more than 100000 YAML nodes");
    free(text);
}


static void
test_error_more_sections(void **state)
{
    expect_buf_error("name: x\nresources:\n  concurrency_limits: [4]\n",
                     "t.yaml:3:24: resources.concurrency_limits[0] must be a "
                     "mapping, not a string");
    expect_buf_error("name: x\nresources:\n  quantization:\n"
                     "    multipliers:\n      \"\": 0.5\n",
                     "t.yaml:5:7: resources.quantization.multipliers.: a "
                     "quantization name must be a non-empty string");
    expect_buf_error("name: x\nresources:\n  quantization:\n"
                     "    multipliers: [q4]\n",
                     "t.yaml:4:18: resources.quantization.multipliers must "
                     "be a mapping, not a list");
    expect_buf_error("name: x\nresources: 5\n",
                     "t.yaml:2:12: resources must be a mapping, not a "
                     "string");
    expect_buf_error("name: x\nrequest: [model]\n",
                     "t.yaml:2:10: request must be a mapping, not a list");
    expect_buf_error("name: x\napi: 1\n",
                     "t.yaml:2:6: api must be a mapping, not a string");
    expect_buf_error("name: x\ncharacteristics: 1\n",
                     "t.yaml:2:18: characteristics must be a mapping, not a "
                     "string");
    expect_buf_error("name: x\napi: {anthropic_support: on}\n",
                     "t.yaml:2:26: api.anthropic_support must be a mapping, "
                     "not a string");
    expect_buf_error("name: x\nresources: {timeout_scaling: [1]}\n",
                     "t.yaml:2:30: resources.timeout_scaling must be a "
                     "mapping, not a list");
    expect_buf_error("name: x\nresources: {defaults: [1]}\n",
                     "t.yaml:2:23: resources.defaults must be a mapping, "
                     "not a list");
}


static void
test_quant_edges(void **state)
{
    olla_profile_set_t    *set;
    const olla_profile_t  *p;

    /* an empty multipliers mapping; merge keys inside multipliers */
    set = buf_ok("name: x\nbase: &q {q4: 0.5}\nresources:\n"
                 "  quantization:\n    multipliers: {}\n");
    assert_int_equal(set->profiles[0].nquant, 0);
    olla_profiles_free(set);

    set = buf_ok("name: x\nbase: &q {q4: 0.5}\nresources:\n"
                 "  model_sizes: [{patterns: [70b], min_memory_gb: 40}]\n"
                 "  quantization:\n    multipliers:\n      <<: *q\n"
                 "      q8: 0.875\n");
    p = &set->profiles[0];
    assert_int_equal(p->nquant, 2);
    assert_string_equal(p->quant[0].name, "q8");
    assert_string_equal(p->quant[1].name, "q4");
    assert_double_equal(olla_profile_model_memory_gb(p, S("m-70b-q4_0")),
                        20);

    /* "q4.1" is not the token q4: a '.' between digits */
    assert_double_equal(olla_profile_model_memory_gb(p, S("m-70b-q4.1")),
                        40);
    olla_profiles_free(set);
}


static void
test_custom_of_custom(void **state)
{
    char                 err[OLLA_PROFILE_ERRLEN];
    size_t               lens[3];
    const char          *names[3], *texts[3];
    olla_profile_set_t  *set;

    names[0] = "x.yaml";
    names[1] = "x-custom.yaml";
    names[2] = "x-custom-custom.yaml";
    texts[0] = texts[1] = texts[2] = "name: x\n";
    lens[0] = lens[1] = lens[2] = 8;

    set = olla_profiles_load_buffers("d/", NULL, names, texts, lens, 3,
                                     err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "d/x-custom-custom.yaml: a custom file of the "
                        "custom file d/x-custom.yaml is not supported");

    /* a name without .yaml is taken as it is (from memory only) */
    names[0] = "plain";
    set = olla_profiles_load_buffers("/", NULL, names, texts, lens, 1,
                                     err, sizeof(err));
    assert_non_null(set);
    assert_string_equal(set->profiles[0].file, "/plain");
    olla_profiles_free(set);
}


/* the directory loader's file handling, in a temporary directory */

static void
write_file(const char *path, const char *text)
{
    FILE  *fp;

    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}


static void
test_directory_files(void **state)
{
    int                  fd;
    char                 dir[64], path[128], err[OLLA_PROFILE_ERRLEN];
    char                 want[256];
    olla_profile_set_t  *set;

    strcpy(dir, "/tmp/olla-profile-test-XXXXXX");
    assert_non_null(mkdtemp(dir));

    /* a trailing slash, a directory named *.yaml, other files skipped */
    snprintf(path, sizeof(path), "%s/x.yaml", dir);
    write_file(path, "name: x\n");
    snprintf(path, sizeof(path), "%s/sub.yaml", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    write_file(path, "name: [\n");
    snprintf(path, sizeof(path), "%s/x.yaml.bak", dir);
    write_file(path, "name: [\n");

    snprintf(path, sizeof(path), "%s//", dir);
    set = olla_profiles_load(path, err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(set->n, 1);
    snprintf(want, sizeof(want), "%s/x.yaml", dir);
    assert_string_equal(set->profiles[0].file, want);
    olla_profiles_free(set);

    /* a dangling symlink */
    snprintf(path, sizeof(path), "%s/gone.yaml", dir);
    assert_int_equal(symlink("/nonexistent/olla/gone.yaml", path), 0);
    set = olla_profiles_load(dir, err, sizeof(err));
    assert_null(set);
    snprintf(want, sizeof(want), "%s/gone.yaml: cannot read profile: No "
             "such file or directory", dir);
    assert_string_equal(err, want);
    assert_int_equal(unlink(path), 0);

    /* a file over 4 MiB */
    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * 1024 * 1024 + 1), 0);
    close(fd);
    set = olla_profiles_load(dir, err, sizeof(err));
    assert_null(set);
    snprintf(want, sizeof(want), "%s/big.yaml: a profile must be smaller "
             "than 4194304 bytes", dir);
    assert_string_equal(err, want);
    assert_int_equal(unlink(path), 0);

    snprintf(path, sizeof(path), "%s/x.yaml", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/x.yaml.bak", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/sub.yaml", dir);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(rmdir(dir), 0);
}


/* ------------------------------------------------------------ overrides */


/*
 * olla_profiles_load_dirs(): a profiles directory and an override
 * directory, both temporary
 */

typedef struct {
    char  prof[64];
    char  over[128];
} dirs_t;


static void
dirs_make(dirs_t *d)
{
    strcpy(d->prof, "/tmp/olla-profile-test-XXXXXX");
    assert_non_null(mkdtemp(d->prof));
    strcpy(d->over, "/tmp/olla-override-test-XXXXXX");
    assert_non_null(mkdtemp(d->over));
}


static void
put(const char *dir, const char *name, const char *text)
{
    char  path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, text);
}


static void
del(const char *dir, const char *name)
{
    char  path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}


static const char *
in(const char *dir, const char *name)
{
    static char  path[4][256];
    static int   i;

    i = (i + 1) % 4;
    snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);

    return path[i];
}


static olla_profile_set_t *
dirs_ok(const dirs_t *d, int required)
{
    char                 err[OLLA_PROFILE_ERRLEN];
    olla_profile_set_t  *set;

    strcpy(err, "(not set)");
    set = olla_profiles_load_dirs(d->prof, d->over, required, err,
                                  sizeof(err));
    if (set == NULL) {
        fail_msg("loading %s and %s: %s", d->prof, d->over, err);
    }

    return set;
}


static void
dirs_error(const dirs_t *d, const char *expected)
{
    char                 err[OLLA_PROFILE_ERRLEN];
    olla_profile_set_t  *set;

    strcpy(err, "(not set)");
    set = olla_profiles_load_dirs(d->prof, d->over, 1, err, sizeof(err));

    if (set != NULL) {
        olla_profiles_free(set);
        fail_msg("%s and %s loaded, expected: %s", d->prof, d->over,
                 expected);
    }

    assert_string_equal(err, expected);
}


static void
test_override_custom(void **state)
{
    dirs_t                 d;
    olla_profile_set_t    *set;
    const olla_profile_t  *p;

    dirs_make(&d);

    put(d.prof, "x.yaml", "name: x\nrouting:\n  prefixes: [x]\n"
                          "characteristics:\n  timeout: 5m\n");
    put(d.prof, "y.yaml", "name: y\n");
    put(d.over, "README", "not a profile: [\n");

    /* an override directory without profiles changes nothing */
    set = dirs_ok(&d, 1);
    assert_int_equal(set->n, 2);
    assert_string_equal(set->dir, d.prof);
    p = olla_profiles_find(set, S("x"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.prof, "x.yaml"));
    assert_null(p->custom_file);
    olla_profiles_free(set);

    /* NAME-custom.yaml in the override directory, NAME.yaml in the other */
    put(d.over, "x-custom.yaml", "name: x\nrouting:\n  prefixes: [myx]\n");
    set = dirs_ok(&d, 1);
    assert_int_equal(set->n, 2);
    p = olla_profiles_find(set, S("x"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.prof, "x.yaml"));
    assert_string_equal(p->custom_file, in(d.over, "x-custom.yaml"));
    assert_int_equal(p->prefixes.n, 1);
    assert_string_equal(p->prefixes.items[0], "myx");
    assert_int_equal(p->timeout_ms, 300000);
    assert_ptr_equal(olla_profiles_find_prefix(set, S("myx")), p);
    assert_null(olla_profiles_find_prefix(set, S("x")));
    olla_profiles_free(set);

    /* a custom file without a base file anywhere is a profile of its own */
    put(d.over, "z-custom.yml", "name: z\nrouting:\n  prefixes: [z]\n");
    set = dirs_ok(&d, 0);
    assert_int_equal(set->n, 3);
    p = olla_profiles_find(set, S("z"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.over, "z-custom.yml"));
    assert_null(p->custom_file);
    olla_profiles_free(set);

    /* a new profile in the override directory */
    put(d.over, "new.yaml", "name: new\nrouting:\n  prefixes: [new]\n");
    set = dirs_ok(&d, 0);
    assert_int_equal(set->n, 4);
    p = olla_profiles_find_prefix(set, S("new"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.over, "new.yaml"));
    olla_profiles_free(set);

    /* the override directory alone can hold every profile */
    del(d.prof, "x.yaml");
    del(d.prof, "y.yaml");
    set = dirs_ok(&d, 1);
    assert_int_equal(set->n, 3);
    p = olla_profiles_find(set, S("x"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.over, "x-custom.yaml"));
    olla_profiles_free(set);

    del(d.over, "README");
    del(d.over, "x-custom.yaml");
    del(d.over, "z-custom.yml");
    del(d.over, "new.yaml");
    assert_int_equal(rmdir(d.prof), 0);
    assert_int_equal(rmdir(d.over), 0);
}


static void
test_override_hides(void **state)
{
    char                   path[256];
    dirs_t                 d;
    olla_profile_set_t    *set;
    const olla_profile_t  *p;

    dirs_make(&d);

    /* the shipped files are not even read when hidden */
    put(d.prof, "x.yaml", "name: [\n");
    snprintf(path, sizeof(path), "%s/gone.yaml", d.prof);
    assert_int_equal(symlink("/nonexistent/olla/gone.yaml", path), 0);

    put(d.over, "x.yaml", "name: x\nrouting:\n  prefixes: [x]\n");
    put(d.over, "gone.yaml", "name: gone\n");

    set = dirs_ok(&d, 1);
    assert_int_equal(set->n, 2);
    p = olla_profiles_find(set, S("x"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.over, "x.yaml"));
    assert_null(p->custom_file);
    p = olla_profiles_find(set, S("gone"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.over, "gone.yaml"));
    olla_profiles_free(set);

    /* the override directory off: the shipped files are read */
    set = olla_profiles_load_dirs(d.prof, NULL, 1, path, sizeof(path));
    assert_null(set);
    snprintf(path + 128, 128, "%s/gone.yaml: cannot read profile: No such "
             "file or directory", d.prof);
    assert_string_equal(path, path + 128);
    del(d.prof, "gone.yaml");

    /* a shipped custom file overlays the override's base file */
    put(d.prof, "x-custom.yaml", "name: x\nrouting:\n  prefixes: [shipped]\n");
    set = dirs_ok(&d, 1);
    p = olla_profiles_find(set, S("x"));
    assert_non_null(p);
    assert_string_equal(p->file, in(d.over, "x.yaml"));
    assert_string_equal(p->custom_file, in(d.prof, "x-custom.yaml"));
    assert_string_equal(p->prefixes.items[0], "shipped");
    olla_profiles_free(set);

    /* and a custom file of the same name in the override hides it */
    put(d.over, "x-custom.yaml", "name: x\nrouting:\n  prefixes: [mine]\n");
    set = dirs_ok(&d, 1);
    p = olla_profiles_find(set, S("x"));
    assert_non_null(p);
    assert_string_equal(p->custom_file, in(d.over, "x-custom.yaml"));
    assert_string_equal(p->prefixes.items[0], "mine");
    olla_profiles_free(set);

    del(d.prof, "x.yaml");
    del(d.prof, "x-custom.yaml");
    del(d.over, "x.yaml");
    del(d.over, "x-custom.yaml");
    del(d.over, "gone.yaml");
    assert_int_equal(rmdir(d.prof), 0);
    assert_int_equal(rmdir(d.over), 0);
}


static void
test_override_clash(void **state)
{
    char                 err[OLLA_PROFILE_ERRLEN], want[512];
    dirs_t               d;
    size_t               lens[2];
    const char          *names[2], *texts[2], *dirs[2];
    olla_profile_set_t  *set;

    dirs_make(&d);

    /* .yaml in one directory, .yml in the other: both named */
    put(d.prof, "y.yaml", "name: y\n");
    put(d.over, "y.yml", "name: y\n");
    snprintf(want, sizeof(want), "%s/y.yml: %s/y.yaml is the same profile; "
             "name it y.yaml to replace that file", d.over, d.prof);
    dirs_error(&d, want);
    del(d.over, "y.yml");

    put(d.prof, "w.yml", "name: w\n");
    put(d.over, "w.yaml", "name: w\n");
    snprintf(want, sizeof(want), "%s/w.yaml: %s/w.yml is the same profile; "
             "name it w.yml to replace that file", d.over, d.prof);
    dirs_error(&d, want);
    del(d.over, "w.yaml");

    /* in the override directory alone */
    put(d.over, "v.yaml", "name: v\n");
    put(d.over, "v.yml", "name: v\n");
    snprintf(want, sizeof(want), "%s/v.yml: %s/v.yaml is the same profile; "
             "keep one of them", d.over, d.over);
    dirs_error(&d, want);
    del(d.over, "v.yaml");
    del(d.over, "v.yml");

    del(d.prof, "y.yaml");
    del(d.prof, "w.yml");
    assert_int_equal(rmdir(d.prof), 0);
    assert_int_equal(rmdir(d.over), 0);

    /* from memory: the same name twice is a pair too, nothing is hidden */
    names[0] = names[1] = "x.yaml";
    texts[0] = texts[1] = "name: x\n";
    lens[0] = lens[1] = 8;
    dirs[0] = "etc";
    dirs[1] = NULL;

    set = olla_profiles_load_buffers("usr", dirs, names, texts, lens, 2,
                                     err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "etc/x.yaml: usr/x.yaml is the same profile; "
                        "name it x.yaml to replace that file");

    /* a dirs[i] equal to dir is dir */
    dirs[0] = "usr";
    set = olla_profiles_load_buffers("usr", dirs, names, texts, lens, 2,
                                     err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "usr/x.yaml: usr/x.yaml is the same profile; "
                        "keep one of them");

    /* custom of custom across directories */
    names[1] = "x-custom.yaml";
    dirs[0] = "etc";
    dirs[1] = NULL;
    set = olla_profiles_load_buffers(NULL, dirs, names, texts, lens, 2,
                                     err, sizeof(err));
    assert_non_null(set);
    assert_string_equal(set->profiles[0].file, "etc/x.yaml");
    assert_string_equal(set->profiles[0].custom_file, "x-custom.yaml");
    olla_profiles_free(set);
}


static void
test_override_missing(void **state)
{
    char                 err[OLLA_PROFILE_ERRLEN], want[512];
    dirs_t               d;
    olla_profile_set_t  *set;

    dirs_make(&d);
    put(d.prof, "x.yaml", "name: x\n");
    assert_int_equal(rmdir(d.over), 0);

    /* the default directory missing: no overrides, no error */
    set = dirs_ok(&d, 0);
    assert_int_equal(set->n, 1);
    olla_profiles_free(set);

    /* a file where the directory would be (ENOTDIR): the same */
    put(d.prof, "notes.txt", "x\n");
    snprintf(d.over, sizeof(d.over), "%s/notes.txt/olla", d.prof);
    set = dirs_ok(&d, 0);
    assert_int_equal(set->n, 1);
    olla_profiles_free(set);

    /* given explicitly, it must exist */
    snprintf(want, sizeof(want), "%s: cannot open profile override "
             "directory: Not a directory", d.over);
    dirs_error(&d, want);

    snprintf(d.over, sizeof(d.over), "%s/olla", d.prof);
    snprintf(want, sizeof(want), "%s: cannot open profile override "
             "directory: No such file or directory", d.over);
    dirs_error(&d, want);

    /* a missing override directory does not excuse an empty one */
    del(d.prof, "x.yaml");
    snprintf(want, sizeof(want), "%s: no profiles (NAME.yaml files) in the "
             "profiles directory", d.prof);
    set = olla_profiles_load_dirs(d.prof, d.over, 0, err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, want);

    /* nor does an override directory excuse a missing profiles one */
    assert_int_equal(mkdir(d.over, 0700), 0);
    put(d.over, "x.yaml", "name: x\n");
    set = olla_profiles_load_dirs("/nonexistent/olla/profiles", d.over, 1,
                                  err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "/nonexistent/olla/profiles: cannot open "
                        "profiles directory: No such file or directory");

    del(d.over, "x.yaml");
    assert_int_equal(rmdir(d.over), 0);
    del(d.prof, "notes.txt");
    assert_int_equal(rmdir(d.prof), 0);
}


static void
test_override_errors(void **state)
{
    int     fd;
    char    want[512];
    dirs_t  d;

    dirs_make(&d);
    put(d.prof, "x.yaml", "name: x\n");

    /* the messages name the file in the override directory */
    put(d.over, "x-custom.yaml", "name: x\ncharacteristics:\n"
                                 "  timeout: soon\n");
    snprintf(want, sizeof(want), "%s:3:12: characteristics.timeout must "
             "be a duration such as 30s, 5m or 1h30m, not \"soon\"",
             in(d.over, "x-custom.yaml"));
    dirs_error(&d, want);

    put(d.over, "x-custom.yaml", "name: xx\n");
    snprintf(want, sizeof(want), "%s:1:7: name \"xx\" differs from the name "
             "\"x\" of %s; a custom file must keep the name of the profile "
             "it changes", in(d.over, "x-custom.yaml"),
             in(d.prof, "x.yaml"));
    dirs_error(&d, want);

    put(d.over, "x-custom.yaml", "name: x\nrouting: [\n");
    snprintf(want, sizeof(want), "%s:3:1: did not find expected node "
             "content (while parsing a flow node at 3:1)",
             in(d.over, "x-custom.yaml"));
    dirs_error(&d, want);
    del(d.over, "x-custom.yaml");

    /* a prefix claimed in both directories */
    put(d.prof, "x.yaml", "name: x\nrouting:\n  prefixes: [p]\n");
    put(d.over, "y.yaml", "name: y\nrouting:\n  prefixes: [p]\n");
    snprintf(want, sizeof(want), "%s:3:14: routing prefix \"p\" is already "
             "claimed by profile \"x\" (%s)", in(d.over, "y.yaml"),
             in(d.prof, "x.yaml"));
    dirs_error(&d, want);
    del(d.over, "y.yaml");

    /* the same size limit */
    snprintf(want, sizeof(want), "%s/big.yaml", d.over);
    fd = open(want, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * 1024 * 1024 + 1), 0);
    close(fd);
    snprintf(want, sizeof(want), "%s/big.yaml: a profile must be smaller "
             "than 4194304 bytes", d.over);
    dirs_error(&d, want);
    del(d.over, "big.yaml");

    /* no profiles in either */
    del(d.prof, "x.yaml");
    put(d.over, "README", "x\n");
    snprintf(want, sizeof(want), "%s: no profiles (NAME.yaml files) in the "
             "profiles directory or in the profile override directory %s",
             d.prof, d.over);
    dirs_error(&d, want);
    del(d.over, "README");

    assert_int_equal(rmdir(d.prof), 0);
    assert_int_equal(rmdir(d.over), 0);
}


/* ------------------------------------------------------------ features */


static void
test_unknown_keys_defaults_and_yaml(void **state)
{
    olla_profile_set_t    *set;
    const olla_profile_t  *p;
    static const char     *model[] = { "model" };
    static const char     *ab[] = { "a", "b" };

    /* Olla's extra keys are ignored; defaults fill the rest */
    set = buf_ok("name: lm-studio\n"
                 "detection:\n  path_indicators: [/v1/models]\n"
                 "models:\n  capability_patterns:\n    vision: [\"*llava*\"]\n"
                 "request:\n  response_format: lmstudio\n"
                 "metrics:\n  extraction:\n    enabled: true\n"
                 "characteristics:\n  single_model_server: false\n"
                 "resources:\n  defaults:\n    requires_gpu: false\n"
                 "  model_sizes: []\n  concurrency_limits: []\n"
                 "api:\n  openai_compatible: true\n");
    p = &set->profiles[0];
    assert_string_equal(p->name, "lm-studio");
    assert_string_equal(p->version, "1.0");
    assert_string_equal(p->file, "t.yaml");
    assert_null(p->custom_file);
    assert_int_equal(p->prefixes.n, 0);
    assert_int_equal(p->paths.n, 0);
    assert_string_equal(p->model_discovery_path, "/v1/models");
    assert_string_equal(p->health_check_path, "/v1/models");
    assert_int_equal(p->anthropic_enabled, 0);
    assert_null(p->anthropic_messages_path);
    assert_int_equal(p->timeout_ms, 0);
    assert_int_equal(p->max_concurrent_requests, 0);
    assert_int_equal(p->default_priority, -1);
    assert_int_equal(p->streaming_support, 1);
    assert_int_equal(p->nmodel_sizes, 0);
    assert_true(p->has_size_defaults);
    assert_int_equal(p->nconcurrency_limits, 0);
    assert_int_equal(p->nquant, 0);
    assert_strlist(&p->model_field_paths, model, 1);
    assert_int_equal(olla_profile_timeout_ms(p, S("x-70b")), 0);
    assert_int_equal(olla_profile_concurrency(p, S("x-70b")), 0);
    olla_profiles_free(set);

    /* a health path defaults to the discovery path; booleans; quoting */
    set = buf_ok("name: 'x'\nversion: 2\n"
                 "api:\n  model_discovery_path: /api/tags\n"
                 "  anthropic_support: {enabled: On, token_count: YES,\n"
                 "    messages_path: \"/v1/messages\"}\n"
                 "characteristics:\n  streaming_support: off\n"
                 "  timeout: \"90\"\n  default_priority: 0\n");
    p = &set->profiles[0];
    assert_string_equal(p->version, "2");
    assert_string_equal(p->health_check_path, "/api/tags");
    assert_int_equal(p->anthropic_enabled, 1);
    assert_int_equal(p->anthropic_token_count, 1);
    assert_int_equal(p->streaming_support, 0);
    assert_int_equal(p->timeout_ms, 90000);
    assert_int_equal(p->default_priority, 0);
    olla_profiles_free(set);

    /* anchors, aliases and merge keys */
    set = buf_ok("name: x\n"
                 "common: &common\n  min_memory_gb: 4\n"
                 "  estimated_load_time_ms: 1000\n"
                 "routing:\n  prefixes: &p [a, b]\n"
                 "request:\n  model_field_paths: *p\n"
                 "resources:\n  model_sizes:\n"
                 "    - <<: *common\n      patterns: [7b]\n"
                 "      min_memory_gb: 6\n"
                 "  defaults:\n    <<: [*common, {min_gpu_memory_gb: 2}]\n");
    p = &set->profiles[0];
    assert_strlist(&p->prefixes, ab, 2);
    assert_strlist(&p->model_field_paths, ab, 2);
    assert_int_equal(p->nmodel_sizes, 1);
    assert_double_equal(p->model_sizes[0].min_memory_gb, 6);
    assert_int_equal(p->model_sizes[0].estimated_load_time_ms, 1000);
    assert_double_equal(p->size_defaults.min_memory_gb, 4);
    assert_double_equal(p->size_defaults.min_gpu_memory_gb, 2);
    assert_int_equal(p->size_defaults.estimated_load_time_ms, 1000);
    olla_profiles_free(set);

    /* the larger of timeout and base_timeout_seconds */
    set = buf_ok("name: x\ncharacteristics: {timeout: 1m}\n"
                 "resources:\n  timeout_scaling: {base_timeout_seconds: 120}\n"
                 "  model_sizes: [{patterns: [7b],"
                 " estimated_load_time_ms: 5000}]\n");
    p = &set->profiles[0];
    assert_int_equal(olla_profile_timeout_ms(p, S("m-7b")), 120000);
    olla_profiles_free(set);

    set = buf_ok("name: x\ncharacteristics: {timeout: 1h}\n"
                 "resources:\n  timeout_scaling: {base_timeout_seconds: 120,"
                 " load_time_buffer: true}\n"
                 "  model_sizes: [{patterns: [7b],"
                 " estimated_load_time_ms: 5000}]\n");
    p = &set->profiles[0];
    assert_int_equal(olla_profile_timeout_ms(p, S("m-7b")), 3605000);
    assert_int_equal(olla_profile_timeout_ms(p, S("m-13b")), 3600000);
    olla_profiles_free(set);
}


static void
test_merge_rules(void **state)
{
    char                   err[OLLA_PROFILE_ERRLEN];
    olla_profile_set_t    *set;
    const olla_profile_t  *p;
    static const char     *c[] = { "c" };

    /* a null in the custom file resets a key; new keys are added */
    set = load_buf2("x.yaml", "name: x\nrouting: {prefixes: [a, b]}\n"
                    "characteristics: {timeout: 5m, default_priority: 10}\n"
                    "api: {paths: [/a], anthropic_support: {enabled: true,"
                    " messages_path: /m}}\n",
                    "x-custom.yaml", "characteristics:\n  timeout: ~\n"
                    "  max_concurrent_requests: 3\n"
                    "routing: {prefixes: [c]}\n"
                    "api: {anthropic_support: {enabled: false}}\n",
                    err, sizeof(err));
    assert_non_null(set);
    p = &set->profiles[0];
    assert_string_equal(p->custom_file, "x-custom.yaml");
    assert_strlist(&p->prefixes, c, 1);
    assert_int_equal(p->timeout_ms, 0);
    assert_int_equal(p->default_priority, 10);
    assert_int_equal(p->max_concurrent_requests, 3);
    assert_int_equal(p->anthropic_enabled, 0);
    assert_string_equal(p->anthropic_messages_path, "/m");
    assert_int_equal(p->paths.n, 1);
    olla_profiles_free(set);

    /* stream_idle_timeout: off in the custom file, or a value over off */
    set = load_buf2("x.yaml", "name: x\ncharacteristics:\n"
                    "  stream_idle_timeout: 2m\n",
                    "x-custom.yaml", "characteristics:\n"
                    "  stream_idle_timeout: OFF\n", err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(set->profiles[0].stream_idle_timeout_ms, 0);
    olla_profiles_free(set);

    set = load_buf2("x.yaml", "name: x\ncharacteristics:\n"
                    "  stream_idle_timeout: false\n",
                    "x-custom.yaml", "characteristics:\n"
                    "  stream_idle_timeout: 1m30s\n", err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(set->profiles[0].stream_idle_timeout_ms, 90000);
    olla_profiles_free(set);

    set = load_buf2("x.yaml", "name: x\ncharacteristics:\n"
                    "  stream_idle_timeout: 45s\n",
                    "x-custom.yaml", "characteristics:\n"
                    "  stream_idle_timeout: ~\n", err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(set->profiles[0].stream_idle_timeout_ms, 0);
    olla_profiles_free(set);

    /* an empty custom file changes nothing; .yml works */
    set = load_buf2("x.yml", "name: x\n", "x-custom.yaml", "# nothing\n",
                    err, sizeof(err));
    assert_non_null(set);
    assert_string_equal(set->profiles[0].custom_file, "x-custom.yaml");
    olla_profiles_free(set);

    /* a custom file without a base is a profile of its own */
    set = load_buf2("y-custom.yaml", "name: y\n", "x.yaml", "name: x\n",
                    err, sizeof(err));
    assert_non_null(set);
    assert_int_equal(set->n, 2);
    assert_string_equal(set->profiles[0].name, "x");
    assert_string_equal(set->profiles[1].name, "y");
    assert_string_equal(set->profiles[1].file, "y-custom.yaml");
    assert_null(set->profiles[1].custom_file);
    olla_profiles_free(set);

    /* an empty base takes everything from the custom file */
    set = load_buf2("x.yaml", "", "x-custom.yaml", "name: x\n",
                    err, sizeof(err));
    assert_non_null(set);
    assert_string_equal(set->profiles[0].name, "x");
    olla_profiles_free(set);

    /* errors */
    set = load_buf2("x.yaml", "name: x\n", "x.yml", "name: y\n",
                    err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "x.yml: x.yaml is the same profile; keep one "
                        "of them");

    set = load_buf2("x.yaml", "name: x\n", "x-custom.yaml", "[a]\n",
                    err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "x-custom.yaml:1:1: a profile must be a "
                        "mapping of keys, not a list");

    set = load_buf2("x.yaml", "name: x\nrouting:\n  prefixes: [a]\n",
                    "x-custom.yaml", "routing:\n  prefixes: {a: b}\n",
                    err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "x-custom.yaml:2:13: routing.prefixes must be "
                        "a list of strings, not a mapping");

    set = load_buf2("x.yaml", "name: x\n", "x-custom.yaml", "a: 'b\n",
                    err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "x-custom.yaml:2:1: found unexpected end of "
                        "stream (while scanning a quoted scalar at 1:4)");

    set = load_buf2("x-custom.yaml", "name: x\n", "x-custom-custom.yaml",
                    "name: x\n", err, sizeof(err));
    assert_non_null(set);
    assert_string_equal(set->profiles[0].custom_file,
                        "x-custom-custom.yaml");
    olla_profiles_free(set);

    set = olla_profiles_load_buffers("some/dir", NULL, NULL, NULL, NULL, 0,
                                     err, sizeof(err));
    assert_null(set);
    assert_string_equal(err, "some/dir: no profiles (NAME.yaml files) in "
                        "the profiles directory");
}


static void
test_duration(void **state)
{
    size_t  i;
    static const struct {
        const char  *s;
        int64_t      ms;
    } cases[] = {
        { "5m", 300000 },
        { "10m", 600000 },
        { "30s", 30000 },
        { "1h", 3600000 },
        { "1h30m", 5400000 },
        { "500ms", 500 },
        { "1m500ms", 60500 },
        { "90", 90000 },
        { "0", 0 },
        { "1.5s", 1500 },
        { "1.5", 1500 },
        { ".5h", 1800000 },
        { "2h0m10s", 7210000 },
        { "", -1 },
        { "m", -1 },
        { "5", 5000 },
        { "5x", -1 },
        { "5 m", -1 },
        { " 5m", -1 },
        { "5m ", -1 },
        { "-5m", -1 },
        { "+5m", -1 },
        { "5mm", -1 },
        { "1h30", -1 },
        { "1.2.3", -1 },
        { ".", -1 },
        { "5M", -1 },
        { "1d", -1 },
        { "99999999999999999999h", -1 },
        { "2562047h", 9223369200000LL },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (olla_parse_duration_ms(cases[i].s, strlen(cases[i].s))
            != cases[i].ms)
        {
            fail_msg("\"%s\": %lld, expected %lld", cases[i].s,
                     (long long) olla_parse_duration_ms(cases[i].s,
                                                        strlen(cases[i].s)),
                     (long long) cases[i].ms);
        }
    }

    /* the length bounds the string */
    assert_int_equal(olla_parse_duration_ms("5m30s", 2), 300000);
    assert_int_equal(olla_parse_duration_ms(NULL, 0), -1);
}


static void
test_size_tokens(void **state)
{
    olla_profile_set_t    *set;
    const olla_profile_t  *p;

    set = buf_ok("name: x\nresources:\n  model_sizes:\n"
                 "    - {patterns: [70b], min_memory_gb: 40}\n"
                 "    - {patterns: [8b, 7b], min_memory_gb: 8}\n"
                 "    - {patterns: [1b, 1.5b], min_memory_gb: 2}\n"
                 "    - {patterns: [135m, 360m], min_memory_gb: 1}\n"
                 "  quantization:\n    multipliers: {q4: 0.5, Q8: 0.875,"
                 " q4_k_m: 0.1}\n");
    p = &set->profiles[0];

#define CLASS(m)  olla_profile_size_class(p, S(m))

    assert_ptr_equal(CLASS("ai/llama3.1-8b"), &p->model_sizes[1]);
    assert_ptr_equal(CLASS("ai/llama3.1:8B-Q4_K_M"), &p->model_sizes[1]);
    assert_ptr_equal(CLASS("8b"), &p->model_sizes[1]);
    assert_ptr_equal(CLASS("x_7b_y"), &p->model_sizes[1]);
    assert_ptr_equal(CLASS("LLAMA-70B"), &p->model_sizes[0]);
    assert_ptr_equal(CLASS("ai/smollm2:135M-Q4_0"), &p->model_sizes[3]);
    assert_ptr_equal(CLASS("ai/smollm2:360m"), &p->model_sizes[3]);
    assert_ptr_equal(CLASS("qwen2.5-1.5b"), &p->model_sizes[2]);
    assert_ptr_equal(CLASS("llama3.2:1b"), &p->model_sizes[2]);

    /* no token: smollm2, a3b, 8bit, 18b, "1.8b" (a decimal) */
    assert_null(CLASS("ai/smollm2"));
    assert_null(CLASS("qwen3-a3b"));
    assert_null(CLASS("x-8bit"));
    assert_null(CLASS("x-18b"));
    assert_null(CLASS("x-1.8b"));
    assert_null(CLASS("x-170b"));
    assert_null(CLASS("7"));
    assert_null(CLASS(""));

#undef CLASS

    /* the first multiplier in file order; case-insensitive */
    assert_double_equal(olla_profile_model_memory_gb(p, S("m-8b-Q4_K_M")),
                        4);
    assert_double_equal(olla_profile_model_memory_gb(p, S("m-70b-q8_0")),
                        35);
    assert_double_equal(olla_profile_model_memory_gb(p, S("m-70b")), 40);
    assert_double_equal(olla_profile_model_memory_gb(p, S("m-70bq4")), -1);
    assert_double_equal(olla_profile_model_memory_gb(p, S("smollm2")), -1);

    /* no size class, no concurrency limits: max_concurrent_requests */
    assert_int_equal(olla_profile_concurrency(p, S("smollm2")), 0);

    olla_profiles_free(set);
}


static void
test_misc_api(void **state)
{
    char                 buf[16];
    olla_profile_set_t  *set;

    olla_profiles_free(NULL);
    assert_null(olla_profiles_find(NULL, S("x")));
    assert_null(olla_profiles_find_prefix(NULL, S("x")));
    assert_int_equal(olla_profiles_names(NULL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_false(olla_profile_has_path(NULL, S("/")));
    assert_int_equal(olla_profile_concurrency(NULL, S("x")), 0);
    assert_int_equal(olla_profile_timeout_ms(NULL, S("x")), 0);
    assert_null(olla_profile_size_class(NULL, S("x")));

    set = load_ok("profiles");

    /* names are cut to fit and always NUL-terminated */
    assert_int_equal(olla_profiles_names(set, buf, sizeof(buf)), 15);
    assert_string_equal(buf, "docker-model-ru");
    assert_int_equal(olla_profiles_names(set, buf, 1), 0);
    assert_string_equal(buf, "");
    assert_int_equal(olla_profiles_names(set, buf, 0), 0);

    olla_profiles_free(set);

    /* a NULL or short err buffer is fine */
    assert_null(olla_profiles_load(FIX "/empty", NULL, 0));
    assert_null(olla_profiles_load(FIX "/bad-indent", buf, 8));
    assert_string_equal(buf, "t/unit/");
    assert_null(olla_profiles_load(FIX "/bad-indent", buf, 1));
    assert_string_equal(buf, "");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_shipped_dmr),
        cmocka_unit_test(test_shipped_dmr_derived),
        cmocka_unit_test(test_shipped_others),
        cmocka_unit_test(test_seed_copy_is_current),
        cmocka_unit_test(test_seed_custom),
        cmocka_unit_test(test_error_bad_indent),
        cmocka_unit_test(test_error_unclosed_quote),
        cmocka_unit_test(test_error_string_for_list),
        cmocka_unit_test(test_error_mapping_for_string),
        cmocka_unit_test(test_error_bad_duration),
        cmocka_unit_test(test_error_bad_bool),
        cmocka_unit_test(test_error_missing_name),
        cmocka_unit_test(test_error_duplicate_name),
        cmocka_unit_test(test_error_prefix_collision),
        cmocka_unit_test(test_error_missing_dir),
        cmocka_unit_test(test_error_empty_dir),
        cmocka_unit_test(test_error_in_custom_file),
        cmocka_unit_test(test_error_custom_name_differs),
        cmocka_unit_test(test_error_types_and_ranges),
        cmocka_unit_test(test_error_yaml_structure),
        cmocka_unit_test(test_error_quoting_and_budget),
        cmocka_unit_test(test_error_more_sections),
        cmocka_unit_test(test_quant_edges),
        cmocka_unit_test(test_custom_of_custom),
        cmocka_unit_test(test_directory_files),
        cmocka_unit_test(test_override_custom),
        cmocka_unit_test(test_override_hides),
        cmocka_unit_test(test_override_clash),
        cmocka_unit_test(test_override_missing),
        cmocka_unit_test(test_override_errors),
        cmocka_unit_test(test_unknown_keys_defaults_and_yaml),
        cmocka_unit_test(test_merge_rules),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_size_tokens),
        cmocka_unit_test(test_misc_api),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
