
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * src/olla_usage.c without SIMD (OLLA_USAGE_NO_SIMD): the reader that
 * takes every quote and looks ahead for a key, the reference the SSE2
 * reader (which finds keys by their closing quote) is held to; its
 * functions renamed olla_usage_ref_*.
 */


#define OLLA_USAGE_NO_SIMD  1

#define olla_usage_init    olla_usage_ref_init
#define olla_usage_feed    olla_usage_ref_feed
#define olla_usage_finish  olla_usage_ref_finish

#include "olla_usage.c"
