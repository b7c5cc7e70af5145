
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The Anthropic translator's private header: what its files share.
 *
 * The translator (olla_anthropic.h is its public face) is made of
 *
 *   olla_anth_common.c    buffers, strings, ids, JSON helpers
 *   olla_anth_request.c   Anthropic request -> OpenAI chat request,
 *                         validation, count_tokens
 *   olla_anth_response.c  OpenAI JSON response -> Anthropic message
 *   olla_anth_stream.c    OpenAI SSE -> Anthropic SSE
 *   olla_anth_errors.c    error types, error JSON, backend errors
 *
 * Each body (and each SSE data line) is parsed once into an olla_jdom
 * arena and the output is written straight into one buffer: there is no
 * tree to build and dump.  The output is what jansson made before, byte
 * for byte (key order, escapes), except that numbers copied from the
 * input keep the text they were written with.  String comparisons that
 * jansson's json_string_value() made up to a U+0000 still stop there.
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#ifndef _OLLA_ANTH_INT_H_INCLUDED_
#define _OLLA_ANTH_INT_H_INCLUDED_


#include <stddef.h>

#include "olla_jdom.h"
#include "olla_anthropic.h"


#define OLLA_ANTH_ID_CHARS     24
#define OLLA_ANTH_ARENA        4096       /* arena on the C stack */
#define OLLA_ANTH_SMALL_ARENA  1024


/* a growable byte buffer, malloc'd, always NUL-terminated */
typedef struct {
    char      *p;
    size_t     len;
    size_t     cap;
} olla_abuf_t;


/* olla_anth_common.c */

int olla_abuf_add(olla_abuf_t *b, const char *p, size_t n);
void olla_abuf_free(olla_abuf_t *b);

char *olla_anth_strndup(const char *p, size_t n);
int olla_anth_clean(olla_abuf_t *b, const unsigned char *p, size_t n,
    size_t max, int ctl);
void olla_anth_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* buf must hold strlen(prefix) + OLLA_ANTH_ID_CHARS + 1 bytes */
void olla_anth_gen_id(char *buf, const char *prefix);

const olla_jdom_t *olla_anth_load(olla_jdom_doc_t *doc, const char *body,
    size_t len, const char *what, char *err, size_t errlen);
const olla_jdom_t *olla_anth_opt(const olla_jdom_t *obj, const char *key,
    size_t len);
int olla_anth_str_is(const olla_jdom_t *v, const char *s, size_t n);
const olla_jdom_t *olla_anth_block_text(const olla_jdom_t *b);

/* olla_anth_response.c */

const char *olla_anth_stop_reason(const char *finish, int tools);
const char *olla_anth_finish_norm(const olla_jdom_t *v);
int olla_anth_usage(const olla_jdom_t *usage, long long *in,
    long long *out, long long *cached, int *have_in, int *have_out);
void olla_anth_usage_json(olla_jout_t *o, long long in, long long cached,
    long long out);

/* olla_anth_errors.c */

int olla_anth_error_message(const olla_jdom_t *v, olla_abuf_t *msg,
    const char **type);
int olla_anth_text_message(const char *body, size_t len, olla_abuf_t *msg);


#define olla_anth_nomem(err, errlen)                                         \
    olla_anth_err(err, errlen, "out of memory")

#define olla_anth_get(obj, lit)   olla_jdom_getl(obj, lit)
#define olla_anth_optl(obj, lit)  olla_anth_opt(obj, lit, sizeof(lit) - 1)
#define olla_anth_is(v, lit)      olla_anth_str_is(v, lit, sizeof(lit) - 1)

/* a non-empty string */
#define olla_anth_nonempty(v)     (olla_jdom_is_string(v) && (v)->len)


#endif /* _OLLA_ANTH_INT_H_INCLUDED_ */
