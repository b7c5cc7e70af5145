
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The reference token-count reader (t/unit/usage_ref.c).
 */


#ifndef _USAGE_REF_H_INCLUDED_
#define _USAGE_REF_H_INCLUDED_


#include "olla_usage.h"


void olla_usage_ref_init(olla_usage_t *u);
void olla_usage_ref_feed(olla_usage_t *u, const char *p, size_t n);
void olla_usage_ref_finish(olla_usage_t *u);


#endif /* _USAGE_REF_H_INCLUDED_ */
