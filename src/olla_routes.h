
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The route table of olla_route (SPEC 3): what the path after the
 * location's prefix means.  One row per route: its path, how it matches,
 * its kind ($olla_route), the API dialect its answers and errors are
 * written in, the methods it takes, what it does, its body rules and the
 * translator it may use.  The glue (ngx_olla_dmr_route.c) runs the row's
 * action; the error pages of a request the route never saw (a body over
 * client_max_body_size) learn their dialect from the same row; the
 * profile loader refuses routing prefixes the table reserves.
 * No nginx headers.
 */


#ifndef _OLLA_ROUTES_H_INCLUDED_
#define _OLLA_ROUTES_H_INCLUDED_


#include <stddef.h>

#include "olla_errors.h"


/* route kinds */
typedef enum {
    OLLA_ROUTE_BALANCER = 0,     /* proxy_pass to an Olla upstream only */
    OLLA_ROUTE_MODELS,
    OLLA_ROUTE_ANTHROPIC,
    OLLA_ROUTE_PROXY,
    OLLA_ROUTE_PROVIDER
} olla_route_kind_e;

/* how a row's path matches */
#define OLLA_MATCH_EXACT          0
#define OLLA_MATCH_PREFIX         1    /* path is a prefix ending in "/" */
#define OLLA_MATCH_SEGMENT        2    /* path, or path + "/..." */
#define OLLA_MATCH_PROVIDER       3    /* a profile's routing prefix */

/* methods */
#define OLLA_METHOD_ANY           0
#define OLLA_METHOD_GET           1    /* GET and HEAD */
#define OLLA_METHOD_POST          2

/* actions */
typedef enum {
    OLLA_ACT_PROXY = 0,          /* to an endpoint */
    OLLA_ACT_LIST_UNIFIED,       /* every model, with its endpoints */
    OLLA_ACT_LIST_ANTHROPIC,     /* Anthropic's list shape */
    OLLA_ACT_LIST_OPENAI,        /* OpenAI's list shape */
    OLLA_ACT_LIST_TYPE,          /* a type's list, as the type lists it */
    OLLA_ACT_NOT_FOUND,          /* 404 naming what the route serves */
    OLLA_ACT_RESPONSE            /* a stored response, by its id */
} olla_route_act_e;

/* body rules */
#define OLLA_BODY_JSON            0    /* a JSON object when present */
#define OLLA_BODY_MESSAGE         1    /* + olla_max_message_size */
#define OLLA_BODY_MESSAGE_SHAPE   2    /* + the Messages shape rule */

/* translators (olla_xlat.h) */
#define OLLA_XLAT_NONE            0
#define OLLA_XLAT_ANTHROPIC       1
#define OLLA_XLAT_RESPONSES       2


typedef struct {
    const char          *path;
    size_t               len;
    unsigned             match;
    olla_route_kind_e    kind;
    olla_dialect_e       dialect;
    unsigned             methods;
    olla_route_act_e     action;
    unsigned             body;
    unsigned             xlat;
} olla_route_t;


/*
 * The row for rest, the path after the location's prefix and its
 * slashes ("anthropic/v1/messages"); the provider row when no fixed row
 * matches (the glue then looks the first segment up among the profiles'
 * prefixes).  Never NULL.
 */
const olla_route_t *olla_route_match(const char *rest, size_t len);

/* the provider row (a request the table has not matched yet) */
const olla_route_t *olla_route_provider(void);

/* 1 when seg (one path segment) is a first segment the table reserves */
int olla_route_reserved(const char *seg, size_t len);

/*
 * Text for errors, NUL-terminated, at most cap - 1 bytes:
 *  - the first segments the table reserves: "\"models\", \"anthropic/\"
 *    or \"proxy/\"";
 *  - the paths of a kind's rows that do something ("/v1/messages,
 *    /v1/messages/count_tokens and /v1/models" for the Anthropic route),
 *    without the kind's first segment.
 * Return the length.
 */
size_t olla_route_reserved_text(char *buf, size_t cap);
size_t olla_route_paths_text(olla_route_kind_e kind, char *buf, size_t cap);

/* the route's name for $olla_route */
const char *olla_route_name(olla_route_kind_e kind);


#endif /* _OLLA_ROUTES_H_INCLUDED_ */
