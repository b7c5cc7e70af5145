
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * src/olla_json.c as the byte machine alone (OLLA_JSON_NO_FAST), its
 * functions renamed olla_json_ref_* (t/unit/json_variants.h).
 */


#define OLLA_JSON_NO_FAST  1

#define olla_json_scan_init  olla_json_ref_scan_init
#define olla_json_scan_feed  olla_json_ref_scan_feed
#define olla_json_scan_end   olla_json_ref_scan_end
#define olla_json_str_end    olla_json_ref_str_end

#include "olla_json.c"
