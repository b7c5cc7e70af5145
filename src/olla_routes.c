
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The route table of olla_route (see olla_routes.h).
 */


#include "olla_routes.h"

#include <string.h>


#define olla_row(path, match, kind, dialect, methods, action, body, xlat)    \
    { path, sizeof(path) - 1, match, kind, dialect, methods, action, body,   \
      xlat }


static const olla_route_t  olla_routes[] = {

    olla_row("models", OLLA_MATCH_EXACT, OLLA_ROUTE_MODELS,
             OLLA_DIALECT_OPENAI, OLLA_METHOD_GET, OLLA_ACT_LIST_UNIFIED,
             OLLA_BODY_JSON, OLLA_XLAT_NONE),

    olla_row("anthropic/v1/messages", OLLA_MATCH_EXACT, OLLA_ROUTE_ANTHROPIC,
             OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_POST, OLLA_ACT_PROXY,
             OLLA_BODY_MESSAGE_SHAPE, OLLA_XLAT_ANTHROPIC),

    olla_row("anthropic/v1/messages/count_tokens", OLLA_MATCH_EXACT,
             OLLA_ROUTE_ANTHROPIC, OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_POST,
             OLLA_ACT_PROXY, OLLA_BODY_MESSAGE, OLLA_XLAT_ANTHROPIC),

    olla_row("anthropic/v1/models", OLLA_MATCH_EXACT, OLLA_ROUTE_ANTHROPIC,
             OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_GET,
             OLLA_ACT_LIST_ANTHROPIC, OLLA_BODY_JSON, OLLA_XLAT_NONE),

    olla_row("anthropic/", OLLA_MATCH_PREFIX, OLLA_ROUTE_ANTHROPIC,
             OLLA_DIALECT_ANTHROPIC, OLLA_METHOD_ANY, OLLA_ACT_NOT_FOUND,
             OLLA_BODY_JSON, OLLA_XLAT_NONE),

    olla_row("proxy/v1/models", OLLA_MATCH_EXACT, OLLA_ROUTE_PROXY,
             OLLA_DIALECT_OPENAI, OLLA_METHOD_GET, OLLA_ACT_LIST_OPENAI,
             OLLA_BODY_JSON, OLLA_XLAT_NONE),

    olla_row("proxy/v1/responses", OLLA_MATCH_EXACT, OLLA_ROUTE_PROXY,
             OLLA_DIALECT_OPENAI, OLLA_METHOD_POST, OLLA_ACT_PROXY,
             OLLA_BODY_JSON, OLLA_XLAT_RESPONSES),

    olla_row("proxy/v1/responses/", OLLA_MATCH_PREFIX, OLLA_ROUTE_PROXY,
             OLLA_DIALECT_OPENAI, OLLA_METHOD_ANY, OLLA_ACT_RESPONSE,
             OLLA_BODY_JSON, OLLA_XLAT_NONE),

    olla_row("proxy/v1/", OLLA_MATCH_PREFIX, OLLA_ROUTE_PROXY,
             OLLA_DIALECT_OPENAI, OLLA_METHOD_ANY, OLLA_ACT_PROXY,
             OLLA_BODY_JSON, OLLA_XLAT_NONE),

    olla_row("proxy", OLLA_MATCH_SEGMENT, OLLA_ROUTE_PROXY,
             OLLA_DIALECT_OPENAI, OLLA_METHOD_ANY, OLLA_ACT_NOT_FOUND,
             OLLA_BODY_JSON, OLLA_XLAT_NONE),

    /* last: a profile's routing prefix */

    olla_row("", OLLA_MATCH_PROVIDER, OLLA_ROUTE_PROVIDER,
             OLLA_DIALECT_OPENAI, OLLA_METHOD_ANY, OLLA_ACT_PROXY,
             OLLA_BODY_JSON, OLLA_XLAT_NONE),
};

#define OLLA_ROUTES_N  (sizeof(olla_routes) / sizeof(olla_route_t))


static const char  *olla_route_names[] = {
    "balancer", "models", "anthropic", "proxy", "provider"
};


const olla_route_t *
olla_route_match(const char *rest, size_t len)
{
    size_t               i;
    const olla_route_t  *r;

    for (i = 0; i < OLLA_ROUTES_N - 1; i++) {
        r = &olla_routes[i];

        /* the rows' paths are not empty: the first byte before a call */

        switch (r->match) {

        case OLLA_MATCH_EXACT:
            if (len == r->len && rest[0] == r->path[0]
                && memcmp(rest, r->path, len) == 0)
            {
                return r;
            }

            break;

        case OLLA_MATCH_PREFIX:
            if (len >= r->len && rest[0] == r->path[0]
                && memcmp(rest, r->path, r->len) == 0)
            {
                return r;
            }

            break;

        default: /* OLLA_MATCH_SEGMENT */
            if (len >= r->len && rest[0] == r->path[0]
                && memcmp(rest, r->path, r->len) == 0
                && (len == r->len || rest[r->len] == '/'))
            {
                return r;
            }

            break;
        }
    }

    return &olla_routes[OLLA_ROUTES_N - 1];
}


const olla_route_t *
olla_route_provider(void)
{
    return &olla_routes[OLLA_ROUTES_N - 1];
}


/* the first segment of a row's path and whether more follows it */

static size_t
olla_route_first(const olla_route_t *r, int *more)
{
    const char  *slash;

    slash = memchr(r->path, '/', r->len);

    *more = (slash != NULL);

    return slash ? (size_t) (slash - r->path) : r->len;
}


int
olla_route_reserved(const char *seg, size_t len)
{
    int     more;
    size_t  i, n;

    for (i = 0; i < OLLA_ROUTES_N; i++) {
        n = olla_route_first(&olla_routes[i], &more);

        if (n && n == len && memcmp(olla_routes[i].path, seg, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* appends s to buf[*pos] within cap - 1 bytes */

static void
olla_route_add(char *buf, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (*pos + 1 >= cap) {
        return;
    }

    if (n > cap - 1 - *pos) {
        n = cap - 1 - *pos;
    }

    memcpy(buf + *pos, s, n);
    *pos += n;
    buf[*pos] = '\0';
}


/* "a", "a and b", "a, b and c" (or "a, b or c") */

static void
olla_route_sep(char *buf, size_t cap, size_t *pos, size_t i, size_t n,
    const char *last)
{
    if (i == 0) {
        return;
    }

    if (i + 1 == n) {
        olla_route_add(buf, cap, pos, last, strlen(last));

    } else {
        olla_route_add(buf, cap, pos, ", ", 2);
    }
}


size_t
olla_route_reserved_text(char *buf, size_t cap)
{
    int          more;
    size_t       i, j, n, count, pos;
    const char  *seen[OLLA_ROUTES_N];

    pos = 0;
    count = 0;

    if (cap) {
        buf[0] = '\0';
    }

    /* the distinct first segments, in table order */

    for (i = 0; i < OLLA_ROUTES_N; i++) {
        n = olla_route_first(&olla_routes[i], &more);

        if (n == 0) {
            continue;
        }

        for (j = 0; j < count; j++) {
            if (strcspn(seen[j], "/") == n
                && memcmp(seen[j], olla_routes[i].path, n) == 0)
            {
                break;
            }
        }

        if (j == count) {
            seen[count++] = olla_routes[i].path;
        }
    }

    for (i = 0; i < count; i++) {
        n = strcspn(seen[i], "/");
        more = seen[i][n] == '/';

        olla_route_sep(buf, cap, &pos, i, count, " or ");
        olla_route_add(buf, cap, &pos, "\"", 1);
        olla_route_add(buf, cap, &pos, seen[i], n);
        olla_route_add(buf, cap, &pos, more ? "/\"" : "\"", more ? 2 : 1);
    }

    return pos;
}


size_t
olla_route_paths_text(olla_route_kind_e kind, char *buf, size_t cap)
{
    int                  more;
    size_t               i, n, count, k, pos;
    const olla_route_t  *r;

    pos = 0;

    if (cap) {
        buf[0] = '\0';
    }

    count = 0;

    for (i = 0; i < OLLA_ROUTES_N; i++) {
        r = &olla_routes[i];
        count += (r->kind == kind && r->action != OLLA_ACT_NOT_FOUND
                  && r->match == OLLA_MATCH_EXACT);
    }

    k = 0;

    for (i = 0; i < OLLA_ROUTES_N; i++) {
        r = &olla_routes[i];

        if (r->kind != kind || r->action == OLLA_ACT_NOT_FOUND
            || r->match != OLLA_MATCH_EXACT)
        {
            continue;
        }

        n = olla_route_first(r, &more);

        olla_route_sep(buf, cap, &pos, k++, count, " and ");
        olla_route_add(buf, cap, &pos, r->path + n, r->len - n);
    }

    return pos;
}


const char *
olla_route_name(olla_route_kind_e kind)
{
    if ((unsigned) kind >= sizeof(olla_route_names) / sizeof(char *)) {
        return "unknown";
    }

    return olla_route_names[kind];
}
