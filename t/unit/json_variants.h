
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * src/olla_json.c built three more ways, for the tests that hold its fast
 * paths to the byte machine (t/unit/json_ref.c, json_sse2.c,
 * json_scalar.c): each renames the three functions.
 */


#ifndef _JSON_VARIANTS_H_INCLUDED_
#define _JSON_VARIANTS_H_INCLUDED_


#include "olla_json.h"


#define OLLA_JSON_VARIANT(v)                                                 \
    void olla_json_##v##_scan_init(olla_json_scan_t *s,                       \
        olla_json_field_t *fields, size_t nfields, size_t max_depth);         \
    int olla_json_##v##_scan_feed(olla_json_scan_t *s, const char *p,         \
        size_t n);                                                           \
    int olla_json_##v##_scan_end(olla_json_scan_t *s);

/* the byte machine alone (OLLA_JSON_NO_FAST) */
OLLA_JSON_VARIANT(ref)

/* the fast paths with SSE2 only (OLLA_JSON_NO_AVX2) */
OLLA_JSON_VARIANT(sse2)

/* the fast paths without SIMD (OLLA_JSON_NO_SSE2) */
OLLA_JSON_VARIANT(scalar)


#endif /* _JSON_VARIANTS_H_INCLUDED_ */
