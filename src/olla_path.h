
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Path rules of the routes (SPEC 3, 9): which request paths are safe to
 * route, and which path an endpoint type serves an OpenAI path under.
 * No nginx headers.
 */


#ifndef _OLLA_PATH_H_INCLUDED_
#define _OLLA_PATH_H_INCLUDED_


#include <stddef.h>

#include "olla_profile.h"


/*
 * The request target as the client sent it (query string allowed): 0
 * when it holds a "." or ".." segment (also as "%2e"), an encoded slash
 * or backslash ("%2f", "%5c"), a backslash, or an empty segment ("//");
 * 1 when it is safe.  A target that does not start with "/" is left to
 * nginx (1).
 */
int olla_path_safe(const char *uri, size_t len);


/*
 * The path a type serves an OpenAI path under: the shortest of the
 * profile's api.paths that ends with it ("/v1/chat/completions" is
 * "/engines/v1/chat/completions" on DMR, itself on an OpenAI-compatible
 * server); NULL when none does.
 */
const char *olla_path_map(const olla_profile_t *p, const char *path,
    size_t len);

/* the type's chat completions path (the translators' target), or NULL */
const char *olla_path_chat(const olla_profile_t *p);


/*
 * olla_path_map() for the endpoints of one request: the answer for the
 * last profile asked, kept (a request asks once per endpoint, and
 * endpoints share profiles).  Zero it before the first use.
 */
typedef struct {
    const olla_profile_t  *profile;
    const char            *mapped;
} olla_path_cache_t;

const char *olla_path_map_cached(olla_path_cache_t *cache,
    const olla_profile_t *p, const char *path, size_t len);


#endif /* _OLLA_PATH_H_INCLUDED_ */
