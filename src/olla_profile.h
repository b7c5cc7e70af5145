
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Olla endpoint-type profiles: YAML (libyaml) -> plain C structs.
 * No nginx headers here: this file is shared by the module and the
 * unit tests.
 */


#ifndef _OLLA_PROFILE_H_INCLUDED_
#define _OLLA_PROFILE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OLLA_PROFILE_ERRLEN  1024

#define OLLA_PROFILE_PATTERN  ((size_t) -1)     /* a "{id}" path */

/* api.running_models.format */
#define OLLA_PROFILE_RUNNING_NONE     0
#define OLLA_PROFILE_RUNNING_DMR      1     /* DMR's /engines/ps */
#define OLLA_PROFILE_RUNNING_OLLAMA   2     /* Ollama's /api/ps */


/* a list of strings, NULL-free; items are NUL-terminated */
typedef struct {
    char                     **items;
    size_t                     n;
} olla_strlist_t;


/* one resources.model_sizes entry, or resources.defaults */
typedef struct {
    olla_strlist_t             patterns;       /* "70b", "72b", ... */
    double                     min_memory_gb;
    double                     recommended_memory_gb;
    double                     min_gpu_memory_gb;
    uint64_t                   estimated_load_time_ms;
} olla_size_class_t;


/* one resources.quantization.multipliers entry, in file order */
typedef struct {
    char                      *name;           /* "q4" */
    double                     multiplier;     /* 0.5 */
} olla_quant_t;


/* one resources.concurrency_limits entry, in file order */
typedef struct {
    double                     min_memory_gb;
    uint32_t                   max_concurrent;
} olla_concurrency_limit_t;


typedef struct {
    char                      *name;           /* "docker-model-runner" */
    char                      *version;        /* "1.0" unless given */
    char                      *file;           /* base file path */
    char                      *custom_file;    /* NAME-custom.yaml or NULL */

    /* routing */
    olla_strlist_t             prefixes;       /* routing.prefixes */

    /* api */
    olla_strlist_t             paths;          /* api.paths */
    size_t                    *path_lens;      /* or OLLA_PROFILE_PATTERN */
    char                      *model_discovery_path;
    char                      *health_check_path;
    int                        anthropic_enabled;
    char                      *anthropic_messages_path;
    int                        anthropic_token_count;
    char                      *running_models_path;   /* or NULL */
    int                        running_models_format;  /* ..._RUNNING_* */

    /* characteristics; 0 / -1 means "not given" where noted */
    uint64_t                   timeout_ms;               /* 0: not given */
    uint64_t                   stream_idle_timeout_ms;   /* 0: off */
    uint32_t                   max_concurrent_requests;  /* 0: not given */
    int32_t                    default_priority;         /* -1: not given */
    int                        streaming_support;        /* default 1 */

    /* resources */
    olla_size_class_t         *model_sizes;
    size_t                     nmodel_sizes;
    olla_size_class_t          size_defaults;  /* resources.defaults */
    int                        has_size_defaults;
    olla_quant_t              *quant;
    size_t                     nquant;
    olla_concurrency_limit_t  *concurrency_limits;
    size_t                     nconcurrency_limits;
    uint64_t                   base_timeout_ms;  /* timeout_scaling */
    int                        load_time_buffer;

    /* request */
    olla_strlist_t             model_field_paths;  /* default ["model"] */
} olla_profile_t;


typedef struct {
    olla_profile_t            *profiles;
    size_t                     n;
    char                      *dir;
} olla_profile_set_t;


/*
 * Loads every NAME.yaml / NAME.yml in dir; NAME-custom.yaml (or .yml) is
 * merged over NAME.yaml key by key before the profile is built (mappings
 * merge recursively, any other node - scalar or list - replaces).  A
 * custom file without a base file is a profile of its own.
 *
 * Returns NULL on error with err set to "FILE:LINE:COL: message"
 * (or "DIR: message" for directory errors).  Errors: missing or unreadable
 * directory, malformed YAML, a wrong type (a string where a list or a
 * mapping belongs, a non-number where a number belongs, a bad duration or
 * boolean), a profile without "name", two profiles with the same name, a
 * routing prefix claimed by two profiles, a directory without profiles,
 * a custom file whose "name" differs from its base file's.
 * Unknown keys are accepted and ignored.  Hidden files and files not
 * ending in .yaml/.yml are skipped.  Everything is malloc()ed: release it
 * with olla_profiles_free().
 */
olla_profile_set_t *olla_profiles_load(const char *dir, char *err,
    size_t errlen);

/*
 * The same from two directories, as the module reads them: dir (the
 * shipped profiles, olla_profiles) and override (the administrator's,
 * olla_profiles_override; NULL: none).  The files of both make one set:
 * a file of override hides the file of the same name in dir (as /etc
 * over /usr); then the rules above apply to the whole set, whichever
 * directory each file is in: one file per stem ("dmr.yaml" in one and
 * "dmr.yml" in the other is an error naming both), NAME-custom.yaml is
 * merged over NAME.yaml, a custom file without a base file is a profile of
 * its own, and the set must hold at least one profile.  olla_profile_t
 * .file and .custom_file and the messages name each file's own path.
 * A missing override directory (ENOENT, ENOTDIR) means no overrides unless
 * override_required is set; any other failure to read it is an error.
 */
olla_profile_set_t *olla_profiles_load_dirs(const char *dir,
    const char *override, int override_required, char *err, size_t errlen);

/*
 * The same from memory (olla_profiles_load_dirs() reads the directories
 * and calls this): names[i] is a file name ("dmr.yaml",
 * "dmr-custom.yaml"), texts[i] its content of lens[i] bytes (NUL not
 * needed), dirs[i] its directory (dirs, or dirs[i], NULL: dir).  The
 * directories only prefix the file names in messages and in
 * olla_profile_t.file; dir may be NULL.  A file whose directory is not
 * dir counts as an override in the message about two files of one stem.
 * Nothing is hidden here: the same name twice is such a pair.
 * Used by the fuzzer and the unit tests.
 *
 * Details common to both loaders:
 *  - files are processed in name order; a null value ("key:", "~") is the
 *    same as an absent key (so a custom file can reset a key with it);
 *  - YAML anchors, aliases and merge keys ("<<") work; duplicate keys in a
 *    mapping, more than one document, nesting deeper than 64 levels and
 *    more than 100000 nodes are errors;
 *  - defaults: version "1.0", model_discovery_path "/v1/models",
 *    health_check_path = model_discovery_path, model_field_paths
 *    ["model"], streaming_support 1;
 *  - checks beyond types: name is letters, digits, '-', '_', '.'; a
 *    routing prefix is one path segment and not "proxy", "anthropic" or
 *    "models" (olla_route's own routes) nor listed twice; api.paths are
 *    normalised absolute paths (no "//", ".", "..", '?', '%'); the other
 *    paths start with "/"; timeout and stream_idle_timeout 1s..24h
 *    (stream_idle_timeout may also be off); max_concurrent_requests and
 *    max_concurrent 1..1000000; default_priority 0..1000; memory
 *    0..1048576 GB; estimated_load_time_ms 0..86400000;
 *    base_timeout_seconds 0..86400; multipliers > 0 and <= 100; a
 *    model_sizes entry needs patterns; a concurrency_limits entry needs
 *    max_concurrent; anthropic_support.enabled needs messages_path.
 */
olla_profile_set_t *olla_profiles_load_buffers(const char *dir,
    const char *const *dirs, const char *const *names,
    const char *const *texts, const size_t *lens, size_t n, char *err,
    size_t errlen);
void olla_profiles_free(olla_profile_set_t *set);

/*
 * Names compare ASCII case-insensitively (as the duplicate check does),
 * prefixes exactly (they are URL path segments).
 */
const olla_profile_t *olla_profiles_find(const olla_profile_set_t *set,
    const char *name, size_t len);
const olla_profile_t *olla_profiles_find_prefix(const olla_profile_set_t *set,
    const char *prefix, size_t len);

/* "a, b, c": the profile names, for error messages */
size_t olla_profiles_names(const olla_profile_set_t *set, char *buf,
    size_t cap);

/*
 * api.paths membership: exact, except that a "{name}" segment of an entry
 * ("/engines/v1/responses/{id}") matches any one non-empty segment
 */
int olla_profile_has_path(const olla_profile_t *p, const char *path,
    size_t len);

/*
 * The size class of a model name: the first model_sizes entry one of
 * whose patterns occurs in the lower-cased name as a token (bounded by
 * non-alphanumeric characters or the ends), else resources.defaults,
 * else NULL.  A '.' between digits counts as part of a number, so "8b"
 * does not match "qwen-1.8b".  A NULL or empty model has no size class.
 */
const olla_size_class_t *olla_profile_size_class(const olla_profile_t *p,
    const char *model, size_t len);

/*
 * Memory estimate of a model in GB: its size class min_memory_gb times
 * the multiplier of the first quantization entry (file order) occurring
 * as a token in the name; -1 when no size class applies.
 */
double olla_profile_model_memory_gb(const olla_profile_t *p,
    const char *model, size_t len);

/*
 * Concurrency limit for a model (SPEC 8): the first concurrency_limits
 * entry (file order) with memory >= min_memory_gb, else
 * max_concurrent_requests, else 0 (no limit).  model may be NULL.
 */
uint32_t olla_profile_concurrency(const olla_profile_t *p,
    const char *model, size_t len);

/*
 * Upstream read timeout for a model (SPEC 8), in ms: the larger of
 * characteristics.timeout and timeout_scaling.base_timeout_seconds, plus,
 * when load_time_buffer is true, the estimated_load_time_ms of the model's
 * size class; 0 when the profile sets no timeout.  model may be NULL.
 */
uint64_t olla_profile_timeout_ms(const olla_profile_t *p,
    const char *model, size_t len);

/* "10m", "5s", "300ms", "1h30m", "90" (seconds) -> ms; -1 on error */
int64_t olla_parse_duration_ms(const char *s, size_t len);


#endif /* _OLLA_PROFILE_H_INCLUDED_ */
