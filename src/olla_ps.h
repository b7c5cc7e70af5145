
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * What an endpoint has loaded: its running-models answer (DMR's
 * GET /engines/ps, Ollama's GET /api/ps) read into plain entries.
 *
 * DMR: a JSON array of {"backend_name", "model_name", "mode",
 * "last_used", "in_use", "loading", "keep_alive"}; model_name is the name
 * the first request used (normalised here), last_used an RFC 3339 time
 * (the zero time "0001-01-01T00:00:00Z" while in use or loading),
 * in_use and loading absent when false, keep_alive a Go duration
 * ("5m0s", "-1" forever) present when configured.  Loads in progress are
 * listed with loading true.
 *
 * Ollama: {"models":[{"name", "model", "expires_at", ...}]}; a model still
 * loading is listed too (Ollama has no in-use or loading flag).
 *
 * No nginx headers.
 */


#ifndef _OLLA_PS_H_INCLUDED_
#define _OLLA_PS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OLLA_PS_MAX            64      /* entries kept */

typedef enum {
    OLLA_PS_NONE = 0,
    OLLA_PS_DMR,
    OLLA_PS_OLLAMA
} olla_ps_format_e;

/* modes of DMR's runners */
#define OLLA_PS_COMPLETION     0
#define OLLA_PS_EMBEDDING      1
#define OLLA_PS_OTHER          2


typedef struct {
    char         *norm;          /* normalised name, malloc'd */
    size_t        norm_len;
    unsigned      mode;          /* OLLA_PS_COMPLETION ... */
    unsigned      loading:1;
    unsigned      in_use:1;
    int64_t       last_used;     /* unix seconds, 0 when unknown or busy */
    int64_t       keep_alive;    /* seconds, -1 forever, -2 not given */
} olla_ps_entry_t;


typedef struct {
    olla_ps_entry_t  *items;
    size_t            n;
} olla_ps_list_t;


/* "dmr" / "ollama" -> the format, OLLA_PS_NONE when unknown */
olla_ps_format_e olla_ps_format(const char *name, size_t len);

/*
 * Reads a running-models answer.  Entries without a usable name are
 * skipped; at most OLLA_PS_MAX are kept.  Returns 0, or -1 with err set
 * when the body is not the format's shape.
 */
int olla_ps_parse(const char *body, size_t len, olla_ps_format_e format,
    olla_ps_list_t *list, char *err, size_t errlen);
void olla_ps_free(olla_ps_list_t *list);

/* an RFC 3339 time -> unix seconds; 0 for the zero time; -1 on error */
int64_t olla_ps_time(const char *s, size_t len);

/* a Go duration ("5m0s", "1h", "90s", "0", "-1") -> seconds, -1 forever */
int olla_ps_duration(const char *s, size_t len, int64_t *seconds);


#endif /* _OLLA_PS_H_INCLUDED_ */
