
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * src/olla_json.c as the fast paths with SSE2 only (OLLA_JSON_NO_AVX2), its
 * functions renamed olla_json_sse2_* (t/unit/json_variants.h).
 */


#define OLLA_JSON_NO_AVX2  1

#define olla_json_scan_init  olla_json_sse2_scan_init
#define olla_json_scan_feed  olla_json_sse2_scan_feed
#define olla_json_scan_end   olla_json_sse2_scan_end
#define olla_json_str_end    olla_json_sse2_str_end

#include "olla_json.c"
