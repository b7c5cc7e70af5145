
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * t/unit/test_jdom.c against src/olla_jdom.c built without AVX2
 * (OLLA_JDOM_NO_AVX2): the 64-byte steps over a string left escaped on
 * SSE2, as on a CPU without AVX2; test_jdom holds the AVX2 ones where the
 * CPU has it.
 */


#define OLLA_JDOM_NO_AVX2  1

#include "olla_jdom.c"
#include "test_jdom.c"
