
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Olla endpoint-type profiles: YAML -> plain C structs.
 *
 * Every file is read into a tree of olla_yaml nodes, each keeping the
 * file, line and column it came from.  NAME-custom.yaml is merged over
 * NAME.yaml (mappings key by key, any other node replaces), and the
 * merged tree is converted into an olla_profile_t with typed checks.
 * Error messages carry the position of the node at fault, so a mistake
 * in a custom file names the custom file.
 *
 * No nginx headers: the module and the unit tests share this file.
 */


#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "olla_yaml.h"
#include "olla_profile.h"
#include "olla_routes.h"


#define OLLA_PROFILE_MAX_FILE  (4 * 1024 * 1024)

#define OLLA_KEYPATH_LEN       256
#define OLLA_SECPATH_LEN       128     /* a list item: "a.b[12]" */
#define OLLA_QUOTE_LEN         64

#define OLLA_TIMEOUT_MIN_MS    1000
#define OLLA_TIMEOUT_MAX_MS    (24 * 3600 * 1000)
#define OLLA_LOAD_TIME_MAX_MS  (24 * 3600 * 1000)
#define OLLA_MEMORY_MAX_GB     1048576
#define OLLA_CONCURRENCY_MAX   1000000
#define OLLA_PRIORITY_MAX      1000
#define OLLA_MULTIPLIER_MAX    100

#define OLLA_CUSTOM_SUFFIX     "-custom"
#define OLLA_CUSTOM_SUFFIX_LEN (sizeof(OLLA_CUSTOM_SUFFIX) - 1)


#if defined(__GNUC__)
#define OLLA_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#else
#define OLLA_PRINTF(f, a)
#endif


typedef struct {
    char                *err;
    size_t               errlen;
} olla_ctx_t;


typedef struct {
    const char          *name;      /* "dmr.yaml" */
    char                *path;      /* "DIR/dmr.yaml", for messages */
    int                  other;     /* from a directory other than dir */
    const char          *text;
    size_t               len;
    size_t               stemlen;   /* "dmr" */
    int                  overlay;   /* NAME-custom.yaml of another file */
    size_t               custom;    /* index of its overlay, or (size_t) -1 */
} olla_file_t;


/* the files read from the directories, for olla_profiles_load_buffers() */
typedef struct {
    char               **names;
    char               **texts;
    const char         **dirs;      /* each file's directory */
    size_t              *lens;
    size_t               n;
    size_t               nalloc;
} olla_dirfiles_t;


typedef int (*olla_item_check_pt)(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path);


static void olla_keypath(char *buf, size_t cap, const char *fmt, ...)
    OLLA_PRINTF(3, 4);

static int olla_conv_map(olla_ctx_t *ctx, const olla_yaml_t *n,
    const char *path);
static int olla_conv_str(olla_ctx_t *ctx, const olla_yaml_t *n,
    const char *path, char **out);
static int olla_conv_strlist(olla_ctx_t *ctx, const olla_yaml_t *n,
    const char *path, olla_strlist_t *out, olla_item_check_pt check);
static int olla_conv_bool(olla_ctx_t *ctx, const olla_yaml_t *n,
    const char *path, int *out);
static int olla_conv_number(olla_ctx_t *ctx, const olla_yaml_t *n,
    const char *path, double min, double max, int integer, double *out);
static int olla_conv_duration(olla_ctx_t *ctx, const olla_yaml_t *n,
    const char *path, uint64_t min, uint64_t max, uint64_t *out);
static int olla_check_nonempty(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path);
static int olla_check_prefix(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path);
static int olla_check_api_path(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path);
static int olla_check_url_path(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path);

static int olla_convert_profile(olla_ctx_t *ctx, const olla_yaml_t *root,
    const char *file, olla_profile_t *p);
static int olla_convert_api(olla_ctx_t *ctx, const olla_yaml_t *api,
    olla_profile_t *p);
static int olla_profile_path_match(const char *pat, const char *path,
    size_t len);
static int olla_convert_running(olla_ctx_t *ctx, const olla_yaml_t *sec,
    olla_profile_t *p);
static int olla_convert_characteristics(olla_ctx_t *ctx,
    const olla_yaml_t *sec, olla_profile_t *p);
static int olla_convert_resources(olla_ctx_t *ctx, const olla_yaml_t *res,
    olla_profile_t *p);
static int olla_convert_size_class(olla_ctx_t *ctx, const olla_yaml_t *map,
    const char *path, int need_patterns, olla_size_class_t *sc);
static int olla_convert_limits(olla_ctx_t *ctx, const olla_yaml_t *seq,
    olla_profile_t *p);
static int olla_convert_quant(olla_ctx_t *ctx, const olla_yaml_t *map,
    olla_profile_t *p);

static int olla_load_one(olla_ctx_t *ctx, olla_profile_set_t *set,
    const olla_file_t *base, const olla_file_t *custom);
static int olla_check_unique(olla_ctx_t *ctx, const olla_profile_set_t *set,
    const olla_yaml_t *root, const olla_profile_t *p);
static int olla_set_append(olla_ctx_t *ctx, olla_profile_set_t *set,
    olla_profile_t *p);
static char *olla_path_join(const char *dir, const char *name);
static size_t olla_stem_len(const char *name, size_t len);
static int olla_file_cmp(const void *a, const void *b);
static void olla_same_profile(olla_ctx_t *ctx, const olla_file_t *f,
    const olla_file_t *g);
static int olla_dirfiles_grow(olla_dirfiles_t *l);
static int olla_read_dir(olla_dirfiles_t *l, const char *dir,
    const char *what, int missing_ok, size_t nhide, char *err,
    size_t errlen);

static void olla_strlist_free(olla_strlist_t *l);
static void olla_profile_free_fields(olla_profile_t *p);
static int olla_token_match(const char *s, size_t slen, const char *pat,
    size_t plen);
static int olla_strncaseeq(const char *a, const char *b, size_t len);
static int olla_isdigit(int c);
static int olla_isalnum(int c);
static int olla_tolower(int c);


#define olla_error(ctx, ...)                                                 \
    olla_yaml_error((ctx)->err, (ctx)->errlen, NULL, __VA_ARGS__)

#define olla_node_error(ctx, node, ...)                                      \
    olla_yaml_error((ctx)->err, (ctx)->errlen, node, __VA_ARGS__)


/* ------------------------------------------------------------ messages */


/* a key path for messages, "resources.model_sizes[2].patterns"; cut if long */

static void
olla_keypath(char *buf, size_t cap, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(buf, cap, fmt, args);
    va_end(args);
}


/* ------------------------------------------------------------ typed */


/* 1: a mapping, 0: absent or null, -1: error */

static int
olla_conv_map(olla_ctx_t *ctx, const olla_yaml_t *n, const char *path)
{
    if (olla_yaml_is_null(n)) {
        return 0;
    }

    if (n->type != OLLA_YAML_MAP) {
        olla_node_error(ctx, n, "%s must be a mapping, not %s", path,
                        olla_yaml_kind(n));
        return -1;
    }

    return 1;
}


/* 1: *out set (replacing what was there), 0: absent or null, -1: error */

static int
olla_conv_str(olla_ctx_t *ctx, const olla_yaml_t *n, const char *path,
    char **out)
{
    char  *s;

    if (olla_yaml_is_null(n)) {
        return 0;
    }

    if (n->type != OLLA_YAML_SCALAR) {
        olla_node_error(ctx, n, "%s must be a string, not %s", path,
                        olla_yaml_kind(n));
        return -1;
    }

    if (strlen(n->value) != n->len) {
        olla_node_error(ctx, n, "%s must not contain a NUL character",
                        path);
        return -1;
    }

    s = strdup(n->value);
    if (s == NULL) {
        olla_node_error(ctx, n, "out of memory");
        return -1;
    }

    free(*out);
    *out = s;

    return 1;
}


static int
olla_conv_strlist(olla_ctx_t *ctx, const olla_yaml_t *n, const char *path,
    olla_strlist_t *out, olla_item_check_pt check)
{
    char                ipath[OLLA_KEYPATH_LEN];
    size_t              i;
    olla_strlist_t      l;
    const olla_yaml_t  *item;

    if (olla_yaml_is_null(n)) {
        return 0;
    }

    if (n->type != OLLA_YAML_SEQ) {
        olla_node_error(ctx, n, "%s must be a list of strings, not %s",
                        path, olla_yaml_kind(n));
        return -1;
    }

    l.n = 0;
    l.items = calloc(n->n ? n->n : 1, sizeof(char *));
    if (l.items == NULL) {
        olla_node_error(ctx, n, "out of memory");
        return -1;
    }

    for (i = 0; i < n->n; i++) {
        item = n->items[i];

        olla_keypath(ipath, sizeof(ipath), "%s[%zu]", path, i);

        if (item->type != OLLA_YAML_SCALAR || olla_yaml_is_null(item)) {
            olla_node_error(ctx, item, "%s must be a string, not %s", ipath,
                            olla_yaml_kind(item));
            goto failed;
        }

        if (olla_conv_str(ctx, item, ipath, &l.items[l.n]) < 0) {
            goto failed;
        }

        l.n++;

        if (check && check(ctx, item, ipath) != 0) {
            goto failed;
        }
    }

    olla_strlist_free(out);
    *out = l;

    return 1;

failed:

    olla_strlist_free(&l);

    return -1;
}


static int
olla_conv_bool(olla_ctx_t *ctx, const olla_yaml_t *n, const char *path,
    int *out)
{
    size_t              i;
    char                buf[OLLA_QUOTE_LEN];
    static const char  *yes[] = { "true", "yes", "on" };
    static const char  *no[] = { "false", "no", "off" };

    if (olla_yaml_is_null(n)) {
        return 0;
    }

    if (n->type != OLLA_YAML_SCALAR) {
        olla_node_error(ctx, n, "%s must be true or false, not %s", path,
                        olla_yaml_kind(n));
        return -1;
    }

    for (i = 0; i < 3; i++) {
        if (n->len == strlen(yes[i])
            && olla_strncaseeq(n->value, yes[i], n->len))
        {
            *out = 1;
            return 1;
        }

        if (n->len == strlen(no[i])
            && olla_strncaseeq(n->value, no[i], n->len))
        {
            *out = 0;
            return 1;
        }
    }

    olla_node_error(ctx, n, "%s must be true or false, not %s", path,
                    olla_yaml_quote(buf, sizeof(buf), n->value, n->len));

    return -1;
}


static int
olla_conv_number(olla_ctx_t *ctx, const olla_yaml_t *n, const char *path,
    double min, double max, int integer, double *out)
{
    char    *end, buf[OLLA_QUOTE_LEN];
    double   v;

    if (olla_yaml_is_null(n)) {
        return 0;
    }

    if (n->type != OLLA_YAML_SCALAR) {
        olla_node_error(ctx, n, "%s must be %s between %.15g and %.15g, "
                        "not %s", path, integer ? "an integer" : "a number",
                        min, max, olla_yaml_kind(n));
        return -1;
    }

    v = 0;
    end = NULL;

    if (n->len > 0 && strlen(n->value) == n->len
        && (olla_isdigit(n->value[0]) || n->value[0] == '-'
            || n->value[0] == '+' || n->value[0] == '.'))
    {
        errno = 0;
        v = strtod(n->value, &end);

        if (errno != 0) {
            end = NULL;
        }
    }

    if (end == NULL || *end != '\0' || !isfinite(v) || v < min || v > max
        || (integer && v != (double) (int64_t) v))
    {
        olla_node_error(ctx, n, "%s must be %s between %.15g and %.15g, "
                        "not %s", path, integer ? "an integer" : "a number",
                        min, max,
                        olla_yaml_quote(buf, sizeof(buf), n->value, n->len));
        return -1;
    }

    *out = v;

    return 1;
}


static int
olla_conv_duration(olla_ctx_t *ctx, const olla_yaml_t *n, const char *path,
    uint64_t min, uint64_t max, uint64_t *out)
{
    char     buf[OLLA_QUOTE_LEN];
    int64_t  ms;

    if (olla_yaml_is_null(n)) {
        return 0;
    }

    if (n->type != OLLA_YAML_SCALAR) {
        olla_node_error(ctx, n, "%s must be a duration such as 30s, 5m or "
                        "1h30m, not %s", path, olla_yaml_kind(n));
        return -1;
    }

    ms = olla_parse_duration_ms(n->value, n->len);

    if (ms < 0) {
        olla_node_error(ctx, n, "%s must be a duration such as 30s, 5m or "
                        "1h30m, not %s", path,
                        olla_yaml_quote(buf, sizeof(buf), n->value, n->len));
        return -1;
    }

    if ((uint64_t) ms < min || (uint64_t) ms > max) {
        olla_node_error(ctx, n, "%s must be between %llus and %lluh, "
                        "not %s", path,
                        (unsigned long long) (min / 1000),
                        (unsigned long long) (max / 3600000),
                        olla_yaml_quote(buf, sizeof(buf), n->value, n->len));
        return -1;
    }

    *out = (uint64_t) ms;

    return 1;
}


static int
olla_check_nonempty(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path)
{
    if (item->len == 0) {
        olla_node_error(ctx, item, "%s must not be empty", path);
        return -1;
    }

    return 0;
}


/* a single URL path segment: /olla/<prefix>/... */

static int
olla_check_prefix(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path)
{
    char           buf[OLLA_QUOTE_LEN], routes[128];
    size_t         i;
    unsigned char  c;

    if (item->len == 0) {
        olla_node_error(ctx, item, "%s must not be empty", path);
        return -1;
    }

    for (i = 0; i < item->len; i++) {
        c = (unsigned char) item->value[i];

        if (!olla_isalnum(c) && c != '-' && c != '_' && c != '.'
            && c != '~')
        {
            olla_node_error(ctx, item, "%s must be one path segment of "
                            "letters, digits, '-', '_', '.' or '~', not %s",
                            path, olla_yaml_quote(buf, sizeof(buf),
                                                  item->value, item->len));
            return -1;
        }
    }

    if (strcmp(item->value, ".") == 0 || strcmp(item->value, "..") == 0) {
        olla_node_error(ctx, item, "%s must not be \"%s\"", path,
                        item->value);
        return -1;
    }

    if (olla_route_reserved(item->value, item->len)) {
        (void) olla_route_reserved_text(routes, sizeof(routes));
        olla_node_error(ctx, item, "%s: \"%s\" is reserved for "
                        "olla_route's own routes (%s)", path, item->value,
                        routes);
        return -1;
    }

    return 0;
}


/* an upstream path: "/...", printable, no spaces, no fragment */

static int
olla_check_url_path(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path)
{
    char           buf[OLLA_QUOTE_LEN];
    size_t         i;
    unsigned char  c;

    if (item->len == 0 || item->value[0] != '/') {
        olla_node_error(ctx, item, "%s must be a path starting with \"/\", "
                        "not %s", path,
                        olla_yaml_quote(buf, sizeof(buf), item->value,
                                        item->len));
        return -1;
    }

    for (i = 0; i < item->len; i++) {
        c = (unsigned char) item->value[i];

        if (c <= 0x20 || c >= 0x7f || c == '#') {
            olla_node_error(ctx, item, "%s must not contain spaces, "
                            "control characters, non-ASCII bytes or '#', "
                            "not %s", path,
                            olla_yaml_quote(buf, sizeof(buf), item->value,
                                            item->len));
            return -1;
        }
    }

    return 0;
}


/* an api.paths entry: compared with normalised request paths */

static int
olla_check_api_path(olla_ctx_t *ctx, const olla_yaml_t *item,
    const char *path)
{
    char         buf[OLLA_QUOTE_LEN];
    const char  *s, *seg, *end;

    if (olla_check_url_path(ctx, item, path) != 0) {
        return -1;
    }

    s = item->value;
    end = s + item->len;

    if (memchr(s, '?', item->len) || memchr(s, '%', item->len)) {
        olla_node_error(ctx, item, "%s must be a plain path without '?' or "
                        "'%%', not %s", path,
                        olla_yaml_quote(buf, sizeof(buf), s, item->len));
        return -1;
    }

    for (seg = s + 1; seg <= end; seg++) {
        s = seg;

        while (seg < end && *seg != '/') {
            seg++;
        }

        if ((seg - s == 0 && seg < end)
            || (seg - s == 1 && s[0] == '.')
            || (seg - s == 2 && s[0] == '.' && s[1] == '.'))
        {
            olla_node_error(ctx, item, "%s must be a normalised path "
                            "(no \"//\", \".\" or \"..\"), not %s", path,
                            olla_yaml_quote(buf, sizeof(buf), item->value,
                                            item->len));
            return -1;
        }
    }

    return 0;
}


/* ------------------------------------------------------------ profile */


static int
olla_convert_profile(olla_ctx_t *ctx, const olla_yaml_t *root,
    const char *file, olla_profile_t *p)
{
    int                 rc;
    char                buf[OLLA_QUOTE_LEN];
    size_t              i;
    unsigned char       c;
    const olla_yaml_t  *n, *sec;

    n = olla_yaml_get(root, "name");

    if (olla_yaml_is_null(n)) {
        if (root == NULL) {
            olla_error(ctx, "%s:1:1: name is required", file);

        } else {
            olla_node_error(ctx, root, "name is required");
        }

        return -1;
    }

    if (olla_conv_str(ctx, n, "name", &p->name) < 0) {
        return -1;
    }

    if (p->name[0] == '\0') {
        olla_node_error(ctx, n, "name must not be empty");
        return -1;
    }

    for (i = 0; p->name[i]; i++) {
        c = (unsigned char) p->name[i];

        if (!olla_isalnum(c) && c != '-' && c != '_' && c != '.') {
            olla_node_error(ctx, n, "name must be letters, digits, '-', "
                            "'_' or '.', not %s",
                            olla_yaml_quote(buf, sizeof(buf), n->value,
                                            n->len));
            return -1;
        }
    }

    if (olla_conv_str(ctx, olla_yaml_get(root, "version"), "version",
                      &p->version) < 0)
    {
        return -1;
    }

    /* routing */

    sec = olla_yaml_get(root, "routing");

    rc = olla_conv_map(ctx, sec, "routing");
    if (rc < 0) {
        return -1;
    }

    if (rc > 0
        && olla_conv_strlist(ctx, olla_yaml_get(sec, "prefixes"),
                             "routing.prefixes", &p->prefixes,
                             olla_check_prefix) < 0)
    {
        return -1;
    }

    /* api */

    sec = olla_yaml_get(root, "api");

    rc = olla_conv_map(ctx, sec, "api");
    if (rc < 0) {
        return -1;
    }

    if (rc > 0 && olla_convert_api(ctx, sec, p) != 0) {
        return -1;
    }

    /* characteristics */

    sec = olla_yaml_get(root, "characteristics");

    rc = olla_conv_map(ctx, sec, "characteristics");
    if (rc < 0) {
        return -1;
    }

    if (rc > 0 && olla_convert_characteristics(ctx, sec, p) != 0) {
        return -1;
    }

    /* resources */

    sec = olla_yaml_get(root, "resources");

    rc = olla_conv_map(ctx, sec, "resources");
    if (rc < 0) {
        return -1;
    }

    if (rc > 0 && olla_convert_resources(ctx, sec, p) != 0) {
        return -1;
    }

    /* request */

    sec = olla_yaml_get(root, "request");

    rc = olla_conv_map(ctx, sec, "request");
    if (rc < 0) {
        return -1;
    }

    if (rc > 0
        && olla_conv_strlist(ctx, olla_yaml_get(sec, "model_field_paths"),
                             "request.model_field_paths",
                             &p->model_field_paths, olla_check_nonempty) < 0)
    {
        return -1;
    }

    /* defaults */

    if (p->version == NULL) {
        p->version = strdup("1.0");
        if (p->version == NULL) {
            goto nomem;
        }
    }

    if (p->model_discovery_path == NULL) {
        p->model_discovery_path = strdup("/v1/models");
        if (p->model_discovery_path == NULL) {
            goto nomem;
        }
    }

    if (p->health_check_path == NULL) {
        p->health_check_path = strdup(p->model_discovery_path);
        if (p->health_check_path == NULL) {
            goto nomem;
        }
    }

    if (p->model_field_paths.items == NULL) {
        p->model_field_paths.items = calloc(1, sizeof(char *));
        if (p->model_field_paths.items == NULL) {
            goto nomem;
        }

        p->model_field_paths.items[0] = strdup("model");
        if (p->model_field_paths.items[0] == NULL) {
            goto nomem;
        }

        p->model_field_paths.n = 1;
    }

    return 0;

nomem:

    olla_error(ctx, "%s: out of memory", file);

    return -1;
}


static int
olla_convert_api(olla_ctx_t *ctx, const olla_yaml_t *api, olla_profile_t *p)
{
    int                 rc;
    size_t              i;
    const olla_yaml_t  *sec, *n;

    if (olla_conv_strlist(ctx, olla_yaml_get(api, "paths"), "api.paths",
                          &p->paths, olla_check_api_path) < 0)
    {
        return -1;
    }

    /* their lengths, and which are patterns, known once */

    if (p->paths.n) {
        p->path_lens = calloc(p->paths.n, sizeof(size_t));
        if (p->path_lens == NULL) {
            olla_node_error(ctx, api, "out of memory");
            return -1;
        }

        for (i = 0; i < p->paths.n; i++) {
            p->path_lens[i] = strchr(p->paths.items[i], '{')
                              ? OLLA_PROFILE_PATTERN
                              : strlen(p->paths.items[i]);
        }
    }

    n = olla_yaml_get(api, "model_discovery_path");

    rc = olla_conv_str(ctx, n, "api.model_discovery_path",
                       &p->model_discovery_path);
    if (rc < 0
        || (rc > 0
            && olla_check_url_path(ctx, n, "api.model_discovery_path") != 0))
    {
        return -1;
    }

    n = olla_yaml_get(api, "health_check_path");

    rc = olla_conv_str(ctx, n, "api.health_check_path",
                       &p->health_check_path);
    if (rc < 0
        || (rc > 0
            && olla_check_url_path(ctx, n, "api.health_check_path") != 0))
    {
        return -1;
    }

    if (olla_convert_running(ctx, olla_yaml_get(api, "running_models"), p)
        != 0)
    {
        return -1;
    }

    sec = olla_yaml_get(api, "anthropic_support");

    rc = olla_conv_map(ctx, sec, "api.anthropic_support");
    if (rc <= 0) {
        return rc;
    }

    if (olla_conv_bool(ctx, olla_yaml_get(sec, "enabled"),
                       "api.anthropic_support.enabled",
                       &p->anthropic_enabled) < 0
        || olla_conv_bool(ctx, olla_yaml_get(sec, "token_count"),
                          "api.anthropic_support.token_count",
                          &p->anthropic_token_count) < 0)
    {
        return -1;
    }

    n = olla_yaml_get(sec, "messages_path");

    rc = olla_conv_str(ctx, n, "api.anthropic_support.messages_path",
                       &p->anthropic_messages_path);
    if (rc < 0
        || (rc > 0
            && olla_check_url_path(ctx, n,
                                   "api.anthropic_support.messages_path")
               != 0))
    {
        return -1;
    }

    if (p->anthropic_enabled && p->anthropic_messages_path == NULL) {
        olla_node_error(ctx, sec, "api.anthropic_support.messages_path is "
                        "required when api.anthropic_support.enabled is "
                        "true");
        return -1;
    }

    return 0;
}


/* api.running_models: {path, format} */

static int
olla_convert_running(olla_ctx_t *ctx, const olla_yaml_t *sec,
    olla_profile_t *p)
{
    int                 rc;
    char               *fmt, buf[OLLA_QUOTE_LEN];
    const olla_yaml_t  *n, *f;

    rc = olla_conv_map(ctx, sec, "api.running_models");
    if (rc <= 0) {
        return rc;
    }

    n = olla_yaml_get(sec, "path");

    rc = olla_conv_str(ctx, n, "api.running_models.path",
                       &p->running_models_path);
    if (rc < 0
        || (rc > 0
            && olla_check_url_path(ctx, n, "api.running_models.path") != 0))
    {
        return -1;
    }

    f = olla_yaml_get(sec, "format");
    fmt = NULL;

    rc = olla_conv_str(ctx, f, "api.running_models.format", &fmt);
    if (rc < 0) {
        return -1;
    }

    if (fmt == NULL) {
        if (p->running_models_path) {
            olla_node_error(ctx, sec, "api.running_models.format (\"dmr\" "
                            "or \"ollama\") is required with "
                            "api.running_models.path");
            return -1;
        }

        return 0;
    }

    if (strcmp(fmt, "dmr") == 0) {
        p->running_models_format = OLLA_PROFILE_RUNNING_DMR;

    } else if (strcmp(fmt, "ollama") == 0) {
        p->running_models_format = OLLA_PROFILE_RUNNING_OLLAMA;

    } else {
        olla_node_error(ctx, f, "api.running_models.format must be \"dmr\" "
                        "or \"ollama\", not %s",
                        olla_yaml_quote(buf, sizeof(buf), f->value, f->len));
        free(fmt);
        return -1;
    }

    free(fmt);

    if (p->running_models_path == NULL) {
        olla_node_error(ctx, sec, "api.running_models.path is required with "
                        "api.running_models.format");
        return -1;
    }

    return 0;
}


static int
olla_convert_characteristics(olla_ctx_t *ctx, const olla_yaml_t *sec,
    olla_profile_t *p)
{
    char                buf[OLLA_QUOTE_LEN];
    double              v;
    const olla_yaml_t  *n;

    if (olla_conv_duration(ctx, olla_yaml_get(sec, "timeout"),
                           "characteristics.timeout", OLLA_TIMEOUT_MIN_MS,
                           OLLA_TIMEOUT_MAX_MS, &p->timeout_ms) < 0)
    {
        return -1;
    }

    /* between two events of a stream, once it began; "off": none */

    n = olla_yaml_get(sec, "stream_idle_timeout");

    if (n && n->type == OLLA_YAML_SCALAR
        && ((n->len == 3 && olla_strncaseeq(n->value, "off", 3))
            || (n->len == 5 && olla_strncaseeq(n->value, "false", 5))))
    {
        p->stream_idle_timeout_ms = 0;

    } else if (n && n->type == OLLA_YAML_SCALAR && !olla_yaml_is_null(n)
               && olla_parse_duration_ms(n->value, n->len) < 0)
    {
        olla_node_error(ctx, n, "characteristics.stream_idle_timeout must "
                        "be a duration such as 30s, 5m or 1h30m, or off, "
                        "not %s",
                        olla_yaml_quote(buf, sizeof(buf), n->value, n->len));
        return -1;

    } else if (olla_conv_duration(ctx, n,
                                  "characteristics.stream_idle_timeout",
                                  OLLA_TIMEOUT_MIN_MS, OLLA_TIMEOUT_MAX_MS,
                                  &p->stream_idle_timeout_ms)
               < 0)
    {
        return -1;
    }

    switch (olla_conv_number(ctx, olla_yaml_get(sec,
                                                "max_concurrent_requests"),
                             "characteristics.max_concurrent_requests", 1,
                             OLLA_CONCURRENCY_MAX, 1, &v))
    {
    case -1:
        return -1;
    case 1:
        p->max_concurrent_requests = (uint32_t) v;
        break;
    }

    switch (olla_conv_number(ctx, olla_yaml_get(sec, "default_priority"),
                             "characteristics.default_priority", 0,
                             OLLA_PRIORITY_MAX, 1, &v))
    {
    case -1:
        return -1;
    case 1:
        p->default_priority = (int32_t) v;
        break;
    }

    if (olla_conv_bool(ctx, olla_yaml_get(sec, "streaming_support"),
                       "characteristics.streaming_support",
                       &p->streaming_support) < 0)
    {
        return -1;
    }

    return 0;
}


static int
olla_convert_resources(olla_ctx_t *ctx, const olla_yaml_t *res,
    olla_profile_t *p)
{
    int                 rc;
    char                path[OLLA_SECPATH_LEN];
    double              v;
    size_t              i;
    const olla_yaml_t  *n, *item, *sec;

    /* model_sizes */

    n = olla_yaml_get(res, "model_sizes");

    if (!olla_yaml_is_null(n)) {

        if (n->type != OLLA_YAML_SEQ) {
            olla_node_error(ctx, n, "resources.model_sizes must be a list "
                            "of mappings, not %s", olla_yaml_kind(n));
            return -1;
        }

        if (n->n) {
            p->model_sizes = calloc(n->n, sizeof(olla_size_class_t));
            if (p->model_sizes == NULL) {
                olla_node_error(ctx, n, "out of memory");
                return -1;
            }
        }

        for (i = 0; i < n->n; i++) {
            item = n->items[i];

            olla_keypath(path, sizeof(path), "resources.model_sizes[%zu]", i);

            if (item->type != OLLA_YAML_MAP) {
                olla_node_error(ctx, item, "%s must be a mapping, not %s",
                                path, olla_yaml_kind(item));
                return -1;
            }

            p->nmodel_sizes++;

            if (olla_convert_size_class(ctx, item, path, 1,
                                        &p->model_sizes[i])
                != 0)
            {
                return -1;
            }
        }
    }

    /* defaults */

    n = olla_yaml_get(res, "defaults");

    rc = olla_conv_map(ctx, n, "resources.defaults");
    if (rc < 0) {
        return -1;
    }

    if (rc > 0) {
        p->has_size_defaults = 1;

        if (olla_convert_size_class(ctx, n, "resources.defaults", 0,
                                    &p->size_defaults)
            != 0)
        {
            return -1;
        }
    }

    /* quantization.multipliers */

    sec = olla_yaml_get(res, "quantization");

    rc = olla_conv_map(ctx, sec, "resources.quantization");
    if (rc < 0) {
        return -1;
    }

    if (rc > 0) {
        n = olla_yaml_get(sec, "multipliers");

        rc = olla_conv_map(ctx, n, "resources.quantization.multipliers");
        if (rc < 0) {
            return -1;
        }

        if (rc > 0 && olla_convert_quant(ctx, n, p) != 0) {
            return -1;
        }
    }

    /* concurrency_limits */

    n = olla_yaml_get(res, "concurrency_limits");

    if (!olla_yaml_is_null(n) && olla_convert_limits(ctx, n, p) != 0) {
        return -1;
    }

    /* timeout_scaling */

    sec = olla_yaml_get(res, "timeout_scaling");

    rc = olla_conv_map(ctx, sec, "resources.timeout_scaling");
    if (rc <= 0) {
        return rc;
    }

    rc = olla_conv_number(ctx, olla_yaml_get(sec, "base_timeout_seconds"),
                          "resources.timeout_scaling.base_timeout_seconds",
                          0, OLLA_TIMEOUT_MAX_MS / 1000, 1, &v);
    if (rc < 0) {
        return -1;
    }

    if (rc > 0) {
        p->base_timeout_ms = (uint64_t) v * 1000;
    }

    if (olla_conv_bool(ctx, olla_yaml_get(sec, "load_time_buffer"),
                       "resources.timeout_scaling.load_time_buffer",
                       &p->load_time_buffer) < 0)
    {
        return -1;
    }

    return 0;
}


static int
olla_convert_size_class(olla_ctx_t *ctx, const olla_yaml_t *map,
    const char *path, int need_patterns, olla_size_class_t *sc)
{
    int                 rc;
    char                kpath[OLLA_KEYPATH_LEN];
    double              v;
    size_t              i;
    const olla_yaml_t  *n;
    static const char  *mem[] = {
        "min_memory_gb", "recommended_memory_gb", "min_gpu_memory_gb"
    };

    olla_keypath(kpath, sizeof(kpath), "%s.patterns", path);

    n = olla_yaml_get(map, "patterns");

    rc = olla_conv_strlist(ctx, n, kpath, &sc->patterns,
                           olla_check_nonempty);
    if (rc < 0) {
        return -1;
    }

    if (need_patterns && sc->patterns.n == 0) {
        olla_node_error(ctx, n && rc > 0 ? n : map, "%s needs at least one "
                        "pattern", path);
        return -1;
    }

    for (i = 0; i < 3; i++) {
        olla_keypath(kpath, sizeof(kpath), "%s.%s", path, mem[i]);

        rc = olla_conv_number(ctx, olla_yaml_get(map, mem[i]), kpath, 0,
                              OLLA_MEMORY_MAX_GB, 0, &v);
        if (rc < 0) {
            return -1;
        }

        if (rc > 0) {
            if (i == 0) {
                sc->min_memory_gb = v;

            } else if (i == 1) {
                sc->recommended_memory_gb = v;

            } else {
                sc->min_gpu_memory_gb = v;
            }
        }
    }

    olla_keypath(kpath, sizeof(kpath), "%s.estimated_load_time_ms", path);

    rc = olla_conv_number(ctx, olla_yaml_get(map, "estimated_load_time_ms"),
                          kpath, 0, OLLA_LOAD_TIME_MAX_MS, 1, &v);
    if (rc < 0) {
        return -1;
    }

    if (rc > 0) {
        sc->estimated_load_time_ms = (uint64_t) v;
    }

    return 0;
}


static int
olla_convert_limits(olla_ctx_t *ctx, const olla_yaml_t *seq,
    olla_profile_t *p)
{
    int                        rc;
    char                       path[OLLA_SECPATH_LEN];
    char                       kpath[OLLA_KEYPATH_LEN];
    double                     v;
    size_t                     i;
    const olla_yaml_t         *item, *n;
    olla_concurrency_limit_t  *l;

    if (seq->type != OLLA_YAML_SEQ) {
        olla_node_error(ctx, seq, "resources.concurrency_limits must be a "
                        "list of mappings, not %s", olla_yaml_kind(seq));
        return -1;
    }

    if (seq->n == 0) {
        return 0;
    }

    p->concurrency_limits = calloc(seq->n,
                                   sizeof(olla_concurrency_limit_t));
    if (p->concurrency_limits == NULL) {
        olla_node_error(ctx, seq, "out of memory");
        return -1;
    }

    for (i = 0; i < seq->n; i++) {
        item = seq->items[i];
        l = &p->concurrency_limits[i];

        olla_keypath(path, sizeof(path), "resources.concurrency_limits[%zu]",
                     i);

        if (item->type != OLLA_YAML_MAP) {
            olla_node_error(ctx, item, "%s must be a mapping, not %s", path,
                            olla_yaml_kind(item));
            return -1;
        }

        olla_keypath(kpath, sizeof(kpath), "%s.min_memory_gb", path);

        rc = olla_conv_number(ctx, olla_yaml_get(item, "min_memory_gb"),
                              kpath, 0, OLLA_MEMORY_MAX_GB, 0, &v);
        if (rc < 0) {
            return -1;
        }

        if (rc > 0) {
            l->min_memory_gb = v;
        }

        olla_keypath(kpath, sizeof(kpath), "%s.max_concurrent", path);

        n = olla_yaml_get(item, "max_concurrent");

        rc = olla_conv_number(ctx, n, kpath, 1, OLLA_CONCURRENCY_MAX, 1,
                              &v);
        if (rc < 0) {
            return -1;
        }

        if (rc == 0) {
            olla_node_error(ctx, item, "%s is required", kpath);
            return -1;
        }

        l->max_concurrent = (uint32_t) v;

        p->nconcurrency_limits++;
    }

    return 0;
}


static int
olla_convert_quant(olla_ctx_t *ctx, const olla_yaml_t *map,
    olla_profile_t *p)
{
    char                path[OLLA_KEYPATH_LEN];
    size_t              i;
    olla_quant_t       *q;
    const olla_yaml_t  *k;

    if (map->n == 0) {
        return 0;
    }

    p->quant = calloc(map->n, sizeof(olla_quant_t));
    if (p->quant == NULL) {
        olla_node_error(ctx, map, "out of memory");
        return -1;
    }

    for (i = 0; i < map->n; i++) {
        k = map->keys[i];
        q = &p->quant[p->nquant];

        olla_keypath(path, sizeof(path),
                     "resources.quantization.multipliers.%s", k->value);

        if (k->len == 0 || strlen(k->value) != k->len) {
            olla_node_error(ctx, k, "%s: a quantization name must be a "
                            "non-empty string", path);
            return -1;
        }

        if (k->plain && k->len == 2 && memcmp(k->value, "<<", 2) == 0) {
            continue;
        }

        if (olla_conv_number(ctx, map->items[i], path, 0,
                             OLLA_MULTIPLIER_MAX, 0, &q->multiplier)
            <= 0)
        {
            if (olla_yaml_is_null(map->items[i])) {
                olla_node_error(ctx, k, "%s needs a multiplier", path);
            }

            return -1;
        }

        if (q->multiplier <= 0) {
            olla_node_error(ctx, map->items[i], "%s must be greater than 0",
                            path);
            return -1;
        }

        q->name = strdup(k->value);
        if (q->name == NULL) {
            olla_node_error(ctx, k, "out of memory");
            return -1;
        }

        p->nquant++;
    }

    return 0;
}


/* ------------------------------------------------------------ loading */


static int
olla_load_one(olla_ctx_t *ctx, olla_profile_set_t *set,
    const olla_file_t *base, const olla_file_t *custom)
{
    int                 rc;
    char                b1[OLLA_QUOTE_LEN], b2[OLLA_QUOTE_LEN];
    olla_yaml_t        *root, *over;
    olla_profile_t      p;
    const olla_yaml_t  *bn, *cn;

    root = NULL;
    over = NULL;

    memset(&p, 0, sizeof(olla_profile_t));
    p.default_priority = -1;
    p.streaming_support = 1;

    if (olla_yaml_parse(base->path, base->text, base->len, &root, ctx->err,
                        ctx->errlen)
        != 0)
    {
        return -1;
    }

    if (!olla_yaml_is_null(root) && root->type != OLLA_YAML_MAP) {
        olla_node_error(ctx, root, "a profile must be a mapping of keys, "
                        "not %s", olla_yaml_kind(root));
        goto failed;
    }

    if (olla_yaml_is_null(root)) {
        olla_yaml_free(root);
        root = NULL;
    }

    if (custom) {
        if (olla_yaml_parse(custom->path, custom->text, custom->len, &over,
                            ctx->err, ctx->errlen)
            != 0)
        {
            goto failed;
        }

        if (!olla_yaml_is_null(over) && over->type != OLLA_YAML_MAP) {
            olla_node_error(ctx, over, "a profile must be a mapping of "
                            "keys, not %s", olla_yaml_kind(over));
            goto failed;
        }

        if (olla_yaml_is_null(over)) {
            olla_yaml_free(over);
            over = NULL;
        }
    }

    if (over) {
        bn = olla_yaml_get(root, "name");
        cn = olla_yaml_get(over, "name");

        if (bn && cn && bn->type == OLLA_YAML_SCALAR
            && cn->type == OLLA_YAML_SCALAR && !olla_yaml_is_null(bn)
            && (bn->len != cn->len
                || memcmp(bn->value, cn->value, bn->len) != 0))
        {
            olla_node_error(ctx, cn, "name %s differs from the name %s of "
                            "%s; a custom file must keep the name of the "
                            "profile it changes",
                            olla_yaml_quote(b1, sizeof(b1), cn->value,
                                            cn->len),
                            olla_yaml_quote(b2, sizeof(b2), bn->value,
                                            bn->len),
                            base->path);
            goto failed;
        }

        if (root == NULL) {
            root = over;

        } else {
            rc = olla_yaml_merge(root, over, ctx->err, ctx->errlen);
            if (rc != 0) {
                over = NULL;
                goto failed;
            }
        }

        over = NULL;
    }

    p.file = strdup(base->path);
    if (p.file == NULL) {
        olla_error(ctx, "%s: out of memory", base->path);
        goto failed;
    }

    if (custom) {
        p.custom_file = strdup(custom->path);
        if (p.custom_file == NULL) {
            olla_error(ctx, "%s: out of memory", custom->path);
            goto failed;
        }
    }

    if (olla_convert_profile(ctx, root, base->path, &p) != 0
        || olla_check_unique(ctx, set, root, &p) != 0
        || olla_set_append(ctx, set, &p) != 0)
    {
        goto failed;
    }

    olla_yaml_free(root);

    return 0;

failed:

    olla_yaml_free(root);
    olla_yaml_free(over);
    olla_profile_free_fields(&p);

    return -1;
}


/* no two profiles share a name (ignoring case) or a routing prefix */

static int
olla_check_unique(olla_ctx_t *ctx, const olla_profile_set_t *set,
    const olla_yaml_t *root, const olla_profile_t *p)
{
    size_t                i, j, k;
    const olla_yaml_t    *n;
    const olla_profile_t *q;

    for (i = 0; i < set->n; i++) {
        q = &set->profiles[i];

        if (strlen(q->name) == strlen(p->name)
            && olla_strncaseeq(q->name, p->name, strlen(p->name)))
        {
            olla_node_error(ctx, olla_yaml_get(root, "name"), "profile name "
                            "\"%s\" is already used by %s", p->name,
                            q->file);
            return -1;
        }
    }

    if (p->prefixes.n == 0) {
        return 0;
    }

    n = olla_yaml_get(olla_yaml_get(root, "routing"), "prefixes");

    for (j = 0; j < p->prefixes.n; j++) {

        for (k = 0; k < j; k++) {
            if (strcmp(p->prefixes.items[k], p->prefixes.items[j]) == 0) {
                olla_node_error(ctx, n->items[j], "routing.prefixes[%zu]: "
                                "\"%s\" is listed twice", j,
                                p->prefixes.items[j]);
                return -1;
            }
        }

        q = olla_profiles_find_prefix(set, p->prefixes.items[j],
                                      strlen(p->prefixes.items[j]));
        if (q) {
            olla_node_error(ctx, n->items[j], "routing prefix \"%s\" is "
                            "already claimed by profile \"%s\" (%s)",
                            p->prefixes.items[j], q->name,
                            q->custom_file ? q->custom_file : q->file);
            return -1;
        }
    }

    return 0;
}


/* moves *p into the set; *p is cleared */

static int
olla_set_append(olla_ctx_t *ctx, olla_profile_set_t *set, olla_profile_t *p)
{
    olla_profile_t  *profiles;

    profiles = realloc(set->profiles, (set->n + 1) * sizeof(olla_profile_t));
    if (profiles == NULL) {
        olla_error(ctx, "%s: out of memory", p->file);
        return -1;
    }

    set->profiles = profiles;
    set->profiles[set->n++] = *p;

    memset(p, 0, sizeof(olla_profile_t));

    return 0;
}


static char *
olla_path_join(const char *dir, const char *name)
{
    char    *s;
    size_t   dlen, nlen;

    nlen = strlen(name);
    dlen = dir ? strlen(dir) : 0;

    while (dlen > 1 && dir[dlen - 1] == '/') {
        dlen--;
    }

    s = malloc(dlen + nlen + 2);
    if (s == NULL) {
        return NULL;
    }

    if (dlen == 0) {
        memcpy(s, name, nlen + 1);
        return s;
    }

    memcpy(s, dir, dlen);

    if (dir[dlen - 1] != '/') {
        s[dlen++] = '/';
    }

    memcpy(s + dlen, name, nlen + 1);

    return s;
}


/* "dmr.yaml" -> 3; 0 when the name does not end in .yaml or .yml */

static size_t
olla_stem_len(const char *name, size_t len)
{
    if (len > 5 && memcmp(name + len - 5, ".yaml", 5) == 0) {
        return len - 5;
    }

    if (len > 4 && memcmp(name + len - 4, ".yml", 4) == 0) {
        return len - 4;
    }

    return 0;
}


static int
olla_file_cmp(const void *a, const void *b)
{
    int                 rc;
    const olla_file_t  *f, *g;

    f = a;
    g = b;

    rc = strcmp(f->name, g->name);

    return rc ? rc : strcmp(f->path, g->path);
}


/*
 * f and g (f first in name order) have the same stem: "dmr.yaml" and
 * "dmr.yml", in one directory or in two
 */

static void
olla_same_profile(olla_ctx_t *ctx, const olla_file_t *f,
    const olla_file_t *g)
{
    const olla_file_t  *base, *over;

    if (f->other == g->other) {
        olla_error(ctx, "%s: %s is the same profile; keep one of them",
                   g->path, f->path);
        return;
    }

    /* a file of the override directory does not hide this one */

    base = f->other ? g : f;
    over = f->other ? f : g;

    olla_error(ctx, "%s: %s is the same profile; name it %s to replace "
               "that file", over->path, base->path, base->name);
}


olla_profile_set_t *
olla_profiles_load_buffers(const char *dir, const char *const *dirs,
    const char *const *names, const char *const *texts, const size_t *lens,
    size_t n, char *err, size_t errlen)
{
    size_t               i, j, slen;
    olla_ctx_t           ctx;
    const char          *fdir;
    olla_file_t         *files, *f, *g;
    olla_profile_set_t  *set;

    ctx.err = err;
    ctx.errlen = errlen;

    if (err && errlen) {
        err[0] = '\0';
    }

    set = calloc(1, sizeof(olla_profile_set_t));
    files = calloc(n ? n : 1, sizeof(olla_file_t));

    if (set == NULL || files == NULL) {
        free(set);
        free(files);
        olla_error(&ctx, "%s: out of memory", dir ? dir : "profiles");
        return NULL;
    }

    set->dir = strdup(dir ? dir : "");
    if (set->dir == NULL) {
        olla_error(&ctx, "%s: out of memory", dir ? dir : "profiles");
        goto failed;
    }

    for (i = 0; i < n; i++) {
        f = &files[i];

        f->name = names[i];
        f->text = texts[i];
        f->len = lens[i];
        f->custom = (size_t) -1;

        slen = strlen(f->name);
        f->stemlen = olla_stem_len(f->name, slen);

        if (f->stemlen == 0) {
            f->stemlen = slen;
        }

        fdir = (dirs && dirs[i]) ? dirs[i] : dir;

        f->other = fdir != dir
                   && (fdir == NULL || dir == NULL || strcmp(fdir, dir) != 0);

        f->path = olla_path_join(fdir, f->name);
        if (f->path == NULL) {
            olla_error(&ctx, "%s: out of memory", dir ? dir : "profiles");
            goto failed;
        }
    }

    qsort(files, n, sizeof(olla_file_t), olla_file_cmp);

    /* one file per stem; NAME-custom is the overlay of NAME */

    for (i = 0; i < n; i++) {
        f = &files[i];

        for (j = i + 1; j < n; j++) {
            g = &files[j];

            if (g->stemlen == f->stemlen
                && memcmp(g->name, f->name, f->stemlen) == 0)
            {
                olla_same_profile(&ctx, f, g);
                goto failed;
            }
        }

        for (j = 0; j < n; j++) {
            g = &files[j];

            if (g->stemlen == f->stemlen + OLLA_CUSTOM_SUFFIX_LEN
                && memcmp(g->name, f->name, f->stemlen) == 0
                && memcmp(g->name + f->stemlen, OLLA_CUSTOM_SUFFIX,
                          OLLA_CUSTOM_SUFFIX_LEN) == 0)
            {
                g->overlay = 1;
                f->custom = j;
            }
        }
    }

    for (i = 0; i < n; i++) {
        f = &files[i];

        if (f->overlay && f->custom != (size_t) -1) {
            olla_error(&ctx, "%s: a custom file of the custom file %s is "
                       "not supported", files[f->custom].path, f->path);
            goto failed;
        }
    }

    for (i = 0; i < n; i++) {
        f = &files[i];

        if (f->overlay) {
            continue;
        }

        if (olla_load_one(&ctx, set, f,
                          f->custom == (size_t) -1 ? NULL
                                                   : &files[f->custom])
            != 0)
        {
            goto failed;
        }
    }

    if (set->n == 0) {
        olla_error(&ctx, "%s: no profiles (NAME.yaml files) in the profiles "
                   "directory", dir ? dir : "profiles");
        goto failed;
    }

    for (i = 0; i < n; i++) {
        free(files[i].path);
    }

    free(files);

    return set;

failed:

    for (i = 0; i < n; i++) {
        free(files[i].path);
    }

    free(files);
    olla_profiles_free(set);

    return NULL;
}


static int
olla_dirfiles_grow(olla_dirfiles_t *l)
{
    char         **tmp;
    size_t         nalloc, *ltmp;
    const char   **dtmp;

    if (l->n < l->nalloc) {
        return 0;
    }

    nalloc = l->nalloc ? l->nalloc * 2 : 8;

    tmp = realloc(l->names, nalloc * sizeof(char *));
    if (tmp == NULL) {
        return -1;
    }

    l->names = tmp;

    tmp = realloc(l->texts, nalloc * sizeof(char *));
    if (tmp == NULL) {
        return -1;
    }

    l->texts = tmp;

    dtmp = realloc(l->dirs, nalloc * sizeof(char *));
    if (dtmp == NULL) {
        return -1;
    }

    l->dirs = dtmp;

    ltmp = realloc(l->lens, nalloc * sizeof(size_t));
    if (ltmp == NULL) {
        return -1;
    }

    l->lens = ltmp;
    l->nalloc = nalloc;

    return 0;
}


/*
 * Appends the NAME.yaml / NAME.yml files of dir to l, except those whose
 * name is one of the first nhide names of l (a file of the override
 * directory hides the profiles directory's file of the same name).
 * Returns 0, 1 when dir does not exist and missing_ok is set, -1 on error
 * with err set.
 */

static int
olla_read_dir(olla_dirfiles_t *l, const char *dir, const char *what,
    int missing_ok, size_t nhide, char *err, size_t errlen)
{
    int              e, rc;
    DIR             *d;
    FILE            *fp;
    char            *path, *buf, *name;
    size_t           i, len, got;
    struct stat      st;
    struct dirent   *de;

    d = opendir(dir);
    if (d == NULL) {
        e = errno;

        if (missing_ok && (e == ENOENT || e == ENOTDIR)) {
            return 1;
        }

        if (err && errlen) {
            snprintf(err, errlen, "%s: cannot open %s: %s", dir, what,
                     strerror(e));
        }

        return -1;
    }

    rc = -1;

    for ( ;; ) {
        errno = 0;
        de = readdir(d);

        if (de == NULL) {
            if (errno != 0) {
                if (err && errlen) {
                    snprintf(err, errlen, "%s: cannot read %s: %s", dir,
                             what, strerror(errno));
                }

                goto done;
            }

            break;
        }

        len = strlen(de->d_name);

        if (de->d_name[0] == '.' || olla_stem_len(de->d_name, len) == 0) {
            continue;
        }

        for (i = 0; i < nhide; i++) {
            if (strcmp(l->names[i], de->d_name) == 0) {
                break;
            }
        }

        if (i < nhide) {
            continue;
        }

        path = olla_path_join(dir, de->d_name);
        if (path == NULL) {
            goto nomem;
        }

        if (stat(path, &st) != 0) {
            e = errno;

            if (err && errlen) {
                snprintf(err, errlen, "%s: cannot read profile: %s", path,
                         strerror(e));
            }

            free(path);
            goto done;
        }

        if (!S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }

        if (st.st_size > OLLA_PROFILE_MAX_FILE) {
            if (err && errlen) {
                snprintf(err, errlen, "%s: a profile must be smaller than "
                         "%d bytes", path, OLLA_PROFILE_MAX_FILE);
            }

            free(path);
            goto done;
        }

        if (olla_dirfiles_grow(l) != 0) {
            free(path);
            goto nomem;
        }

        name = strdup(de->d_name);
        buf = malloc((size_t) st.st_size + 1);

        if (name == NULL || buf == NULL) {
            free(name);
            free(buf);
            free(path);
            goto nomem;
        }

        fp = fopen(path, "rb");
        got = 0;

        if (fp) {
            got = fread(buf, 1, (size_t) st.st_size + 1, fp);
            e = ferror(fp) ? EIO : 0;
            fclose(fp);

        } else {
            e = errno;
        }

        if (fp == NULL || e != 0 || got > (size_t) st.st_size) {
            if (err && errlen) {
                snprintf(err, errlen, "%s: cannot read profile: %s", path,
                         fp == NULL || e != 0 ? strerror(e)
                                              : "file changed while read");
            }

            free(name);
            free(buf);
            free(path);
            goto done;
        }

        free(path);

        buf[got] = '\0';

        l->names[l->n] = name;
        l->texts[l->n] = buf;
        l->dirs[l->n] = dir;
        l->lens[l->n] = got;
        l->n++;
    }

    rc = 0;
    goto done;

nomem:

    if (err && errlen) {
        snprintf(err, errlen, "%s: out of memory", dir);
    }

done:

    closedir(d);

    return rc;
}


olla_profile_set_t *
olla_profiles_load_dirs(const char *dir, const char *override,
    int override_required, char *err, size_t errlen)
{
    int                  rc;
    size_t               i, nover;
    olla_dirfiles_t      l;
    olla_profile_set_t  *set;

    if (err && errlen) {
        err[0] = '\0';
    }

    memset(&l, 0, sizeof(olla_dirfiles_t));
    set = NULL;

    /* the override directory first: its files hide those of dir */

    rc = 1;

    if (override) {
        rc = olla_read_dir(&l, override, "profile override directory",
                           !override_required, 0, err, errlen);
        if (rc < 0) {
            goto done;
        }
    }

    nover = l.n;

    if (olla_read_dir(&l, dir, "profiles directory", 0, nover, err, errlen)
        != 0)
    {
        goto done;
    }

    if (l.n == 0 && rc == 0) {
        if (err && errlen) {
            snprintf(err, errlen, "%s: no profiles (NAME.yaml files) in the "
                     "profiles directory or in the profile override "
                     "directory %s", dir, override);
        }

        goto done;
    }

    set = olla_profiles_load_buffers(dir, l.dirs,
                                     (const char *const *) l.names,
                                     (const char *const *) l.texts, l.lens,
                                     l.n, err, errlen);

done:

    for (i = 0; i < l.n; i++) {
        free(l.names[i]);
        free(l.texts[i]);
    }

    free(l.names);
    free(l.texts);
    free(l.dirs);
    free(l.lens);

    return set;
}


olla_profile_set_t *
olla_profiles_load(const char *dir, char *err, size_t errlen)
{
    return olla_profiles_load_dirs(dir, NULL, 0, err, errlen);
}


static void
olla_strlist_free(olla_strlist_t *l)
{
    size_t  i;

    if (l->items == NULL) {
        return;
    }

    for (i = 0; i < l->n; i++) {
        free(l->items[i]);
    }

    free(l->items);

    l->items = NULL;
    l->n = 0;
}


static void
olla_profile_free_fields(olla_profile_t *p)
{
    size_t  i;

    free(p->name);
    free(p->version);
    free(p->file);
    free(p->custom_file);
    olla_strlist_free(&p->prefixes);
    olla_strlist_free(&p->paths);
    free(p->path_lens);
    free(p->model_discovery_path);
    free(p->health_check_path);
    free(p->anthropic_messages_path);
    free(p->running_models_path);

    for (i = 0; i < p->nmodel_sizes; i++) {
        olla_strlist_free(&p->model_sizes[i].patterns);
    }

    free(p->model_sizes);
    olla_strlist_free(&p->size_defaults.patterns);

    for (i = 0; i < p->nquant; i++) {
        free(p->quant[i].name);
    }

    free(p->quant);
    free(p->concurrency_limits);
    olla_strlist_free(&p->model_field_paths);

    memset(p, 0, sizeof(olla_profile_t));
}


void
olla_profiles_free(olla_profile_set_t *set)
{
    size_t  i;

    if (set == NULL) {
        return;
    }

    for (i = 0; i < set->n; i++) {
        olla_profile_free_fields(&set->profiles[i]);
    }

    free(set->profiles);
    free(set->dir);
    free(set);
}


/* ------------------------------------------------------------ lookups */


const olla_profile_t *
olla_profiles_find(const olla_profile_set_t *set, const char *name,
    size_t len)
{
    size_t  i;

    if (set == NULL || name == NULL) {
        return NULL;
    }

    for (i = 0; i < set->n; i++) {
        if (strlen(set->profiles[i].name) == len
            && olla_strncaseeq(set->profiles[i].name, name, len))
        {
            return &set->profiles[i];
        }
    }

    return NULL;
}


const olla_profile_t *
olla_profiles_find_prefix(const olla_profile_set_t *set, const char *prefix,
    size_t len)
{
    size_t                 i, j;
    const olla_strlist_t  *l;

    if (set == NULL || prefix == NULL) {
        return NULL;
    }

    for (i = 0; i < set->n; i++) {
        l = &set->profiles[i].prefixes;

        for (j = 0; j < l->n; j++) {
            if (strlen(l->items[j]) == len
                && memcmp(l->items[j], prefix, len) == 0)
            {
                return &set->profiles[i];
            }
        }
    }

    return NULL;
}


size_t
olla_profiles_names(const olla_profile_set_t *set, char *buf, size_t cap)
{
    size_t  i, n, l;

    if (buf == NULL || cap == 0) {
        return 0;
    }

    buf[0] = '\0';
    n = 0;

    if (set == NULL) {
        return 0;
    }

    for (i = 0; i < set->n; i++) {

        if (i > 0) {
            l = cap - 1 - n < 2 ? cap - 1 - n : 2;
            memcpy(buf + n, ", ", l);
            n += l;
        }

        l = strlen(set->profiles[i].name);

        if (l > cap - 1 - n) {
            l = cap - 1 - n;
        }

        memcpy(buf + n, set->profiles[i].name, l);
        n += l;
    }

    buf[n] = '\0';

    return n;
}


int
olla_profile_has_path(const olla_profile_t *p, const char *path, size_t len)
{
    size_t  i;

    if (p == NULL || path == NULL) {
        return 0;
    }

    for (i = 0; i < p->paths.n; i++) {
        if (p->path_lens == NULL || p->path_lens[i] == OLLA_PROFILE_PATTERN) {
            if (olla_profile_path_match(p->paths.items[i], path, len)) {
                return 1;
            }

        } else if (p->path_lens[i] == len
                   && memcmp(p->paths.items[i], path, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * An api.paths entry against a request path: byte for byte, except that a
 * segment written "{name}" ("/engines/v1/responses/{id}") stands for any
 * one non-empty segment.
 */

static int
olla_profile_path_match(const char *pat, const char *path, size_t len)
{
    const char  *p, *end, *close, *seg;

    p = path;
    end = path + len;

    while (*pat) {
        if (*pat == '{' && (close = strchr(pat, '}')) != NULL
            && (close[1] == '/' || close[1] == '\0')
            && pat[-1] == '/')
        {
            seg = p;

            while (p < end && *p != '/') {
                p++;
            }

            if (p == seg) {
                return 0;
            }

            pat = close + 1;
            continue;
        }

        if (p == end || *p != *pat) {
            return 0;
        }

        p++;
        pat++;
    }

    return p == end;
}


const olla_size_class_t *
olla_profile_size_class(const olla_profile_t *p, const char *model,
    size_t len)
{
    size_t                    i, j;
    const olla_size_class_t  *sc;

    if (p == NULL || model == NULL || len == 0) {
        return NULL;
    }

    for (i = 0; i < p->nmodel_sizes; i++) {
        sc = &p->model_sizes[i];

        for (j = 0; j < sc->patterns.n; j++) {
            if (olla_token_match(model, len, sc->patterns.items[j],
                                 strlen(sc->patterns.items[j])))
            {
                return sc;
            }
        }
    }

    return p->has_size_defaults ? &p->size_defaults : NULL;
}


double
olla_profile_model_memory_gb(const olla_profile_t *p, const char *model,
    size_t len)
{
    size_t                    i;
    double                    m;
    const olla_size_class_t  *sc;

    sc = olla_profile_size_class(p, model, len);
    if (sc == NULL) {
        return -1;
    }

    m = 1.0;

    for (i = 0; i < p->nquant; i++) {
        if (olla_token_match(model, len, p->quant[i].name,
                             strlen(p->quant[i].name)))
        {
            m = p->quant[i].multiplier;
            break;
        }
    }

    return sc->min_memory_gb * m;
}


uint32_t
olla_profile_concurrency(const olla_profile_t *p, const char *model,
    size_t len)
{
    size_t  i;
    double  mem;

    if (p == NULL) {
        return 0;
    }

    if (p->nconcurrency_limits) {
        mem = olla_profile_model_memory_gb(p, model, len);

        if (mem >= 0) {
            for (i = 0; i < p->nconcurrency_limits; i++) {
                if (mem >= p->concurrency_limits[i].min_memory_gb) {
                    return p->concurrency_limits[i].max_concurrent;
                }
            }
        }
    }

    return p->max_concurrent_requests;
}


uint64_t
olla_profile_timeout_ms(const olla_profile_t *p, const char *model,
    size_t len)
{
    uint64_t                  t;
    const olla_size_class_t  *sc;

    if (p == NULL) {
        return 0;
    }

    t = p->timeout_ms > p->base_timeout_ms ? p->timeout_ms
                                           : p->base_timeout_ms;
    if (t == 0) {
        return 0;
    }

    if (p->load_time_buffer) {
        sc = olla_profile_size_class(p, model, len);

        if (sc) {
            t += sc->estimated_load_time_ms;
        }
    }

    return t;
}


/*
 * Go-style durations: one or more <number><unit> with units h, m, s, ms
 * ("1h30m", "500ms", "1.5s"), or a bare number of seconds ("90").
 */

int64_t
olla_parse_duration_ms(const char *s, size_t len)
{
    int          bare, digits;
    uint64_t     ip, frac, den, unit, total, part;
    const char  *p, *end;

    if (s == NULL || len == 0) {
        return -1;
    }

    end = s + len;

    for (p = s; p < end && (olla_isdigit(*p) || *p == '.'); p++) {
        /* void */
    }

    bare = (p == end);

    p = s;
    total = 0;

    while (p < end) {
        ip = 0;
        frac = 0;
        den = 1;
        digits = 0;

        while (p < end && olla_isdigit(*p)) {
            if (ip > 1000000000000ULL) {
                return -1;
            }

            ip = ip * 10 + (uint64_t) (*p++ - '0');
            digits++;
        }

        if (p < end && *p == '.') {
            p++;

            while (p < end && olla_isdigit(*p)) {
                if (den < 1000000000ULL) {
                    frac = frac * 10 + (uint64_t) (*p - '0');
                    den *= 10;
                }

                p++;
                digits++;
            }
        }

        if (digits == 0) {
            return -1;
        }

        if (bare) {
            if (p != end) {
                return -1;
            }

            unit = 1000;

        } else if (end - p >= 2 && p[0] == 'm' && p[1] == 's') {
            unit = 1;
            p += 2;

        } else if (p < end && *p == 'h') {
            unit = 3600000;
            p++;

        } else if (p < end && *p == 'm') {
            unit = 60000;
            p++;

        } else if (p < end && *p == 's') {
            unit = 1000;
            p++;

        } else {
            return -1;
        }

        part = ip * unit + frac * unit / den;

        if (part > (uint64_t) INT64_MAX - total) {
            return -1;
        }

        total += part;
    }

    return (int64_t) total;
}


/* ------------------------------------------------------------ tokens */


/*
 * pat occurs in s (ASCII case-insensitively) with a non-alphanumeric
 * character or an end on both sides; a '.' between digits is part of a
 * number, so "8b" does not match "1.8b".
 */

static int
olla_token_match(const char *s, size_t slen, const char *pat, size_t plen)
{
    size_t  i, j;

    if (plen == 0 || plen > slen) {
        return 0;
    }

    for (i = 0; i + plen <= slen; i++) {

        if (!olla_strncaseeq(s + i, pat, plen)) {
            continue;
        }

        if (i > 0) {
            if (olla_isalnum(s[i - 1])) {
                continue;
            }

            if (s[i - 1] == '.' && i > 1 && olla_isdigit(s[i - 2])
                && olla_isdigit(pat[0]))
            {
                continue;
            }
        }

        j = i + plen;

        if (j < slen) {
            if (olla_isalnum(s[j])) {
                continue;
            }

            if (s[j] == '.' && j + 1 < slen && olla_isdigit(s[j + 1])
                && olla_isdigit(pat[plen - 1]))
            {
                continue;
            }
        }

        return 1;
    }

    return 0;
}


static int
olla_strncaseeq(const char *a, const char *b, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (olla_tolower((unsigned char) a[i])
            != olla_tolower((unsigned char) b[i]))
        {
            return 0;
        }
    }

    return 1;
}


static int
olla_isdigit(int c)
{
    return c >= '0' && c <= '9';
}


static int
olla_isalnum(int c)
{
    return olla_isdigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static int
olla_tolower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}
