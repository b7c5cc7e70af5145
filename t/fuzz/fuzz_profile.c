
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target for the profile loader: YAML -> tree -> custom-file
 * merge -> olla_profile_t, through olla_profiles_load_buffers() (the core
 * of the directory loader, without the file system).
 *
 * The input is split at NUL bytes into up to four files named a.yaml,
 * a-custom.yaml, b.yaml and b-custom.yml (two of them from another
 * directory, as an override directory's), so one input can exercise the
 * merge, duplicate names and prefix collisions (libyaml rejects NUL in
 * YAML text, so using it as the separator loses nothing).  Whatever
 * loads is then run through the lookups and the derived limits.
 *
 *   make fuzz          (builds build/fuzz/fuzz_profile, corpus in
 *                       t/fuzz/corpus/fuzz_profile/)
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "olla_profile.h"


#define NFILES  4


static const char  *names[NFILES] = {
    "a.yaml", "a-custom.yaml", "b.yaml", "b-custom.yml"
};

/* a-custom.yaml and b.yaml come from an override directory */
static const char  *dirs[NFILES] = {
    NULL, "fuzz/etc", "fuzz/etc", NULL
};

static const char  *models[] = {
    "ai/llama3.3:70B-Q4_K_M", "ai/llama3.1-8b", "ai/smollm2",
    "ai/smollm2:360M-Q4_K_M", "qwen2.5-1.5b-q8_0", "", "x"
};


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     err[OLLA_PROFILE_ERRLEN], buf[64];
    size_t                   i, j, n, lens[NFILES];
    const char              *texts[NFILES], *p, *end, *nul;
    olla_profile_set_t      *set;
    const olla_profile_t    *prof;

    /* the raw input as a duration */
    (void) olla_parse_duration_ms((const char *) data, size);

    p = (const char *) data;
    end = p + size;
    n = 0;

    while (n < NFILES) {
        nul = memchr(p, '\0', (size_t) (end - p));

        texts[n] = p;
        lens[n] = nul ? (size_t) (nul - p) : (size_t) (end - p);
        n++;

        if (nul == NULL) {
            break;
        }

        p = nul + 1;
    }

    set = olla_profiles_load_buffers("fuzz", dirs, names, texts, lens, n,
                                     err, sizeof(err));
    if (set == NULL) {
        /* an error message is always set and terminated */
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
            __builtin_trap();
        }

        return 0;
    }

    (void) olla_profiles_names(set, buf, sizeof(buf));

    for (i = 0; i < set->n; i++) {
        prof = &set->profiles[i];

        if (olla_profiles_find(set, prof->name, strlen(prof->name)) == NULL
            || prof->version == NULL || prof->model_discovery_path == NULL
            || prof->health_check_path == NULL
            || prof->model_field_paths.n == 0)
        {
            __builtin_trap();
        }

        for (j = 0; j < prof->prefixes.n; j++) {
            if (olla_profiles_find_prefix(set, prof->prefixes.items[j],
                                          strlen(prof->prefixes.items[j]))
                != prof)
            {
                __builtin_trap();
            }
        }

        for (j = 0; j < prof->paths.n; j++) {
            if (!olla_profile_has_path(prof, prof->paths.items[j],
                                       strlen(prof->paths.items[j])))
            {
                __builtin_trap();
            }
        }

        for (j = 0; j < sizeof(models) / sizeof(models[0]); j++) {
            (void) olla_profile_size_class(prof, models[j],
                                           strlen(models[j]));
            (void) olla_profile_model_memory_gb(prof, models[j],
                                                strlen(models[j]));
            (void) olla_profile_concurrency(prof, models[j],
                                            strlen(models[j]));
            (void) olla_profile_timeout_ms(prof, models[j],
                                           strlen(models[j]));
        }

        /* the input itself as a model name */
        (void) olla_profile_concurrency(prof, (const char *) data, size);
        (void) olla_profile_timeout_ms(prof, (const char *) data, size);
        (void) olla_profile_concurrency(prof, NULL, 0);
    }

    olla_profiles_free(set);

    return 0;
}
