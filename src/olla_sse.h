
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Server-sent events: a line assembler with a bounded buffer.  Bytes go in
 * in pieces of any size; complete lines (without their "\n", "\r\n" or
 * "\r" terminator) come out through a callback.  No nginx headers.
 */


#ifndef _OLLA_SSE_H_INCLUDED_
#define _OLLA_SSE_H_INCLUDED_


#include <stddef.h>


#define OLLA_SSE_OK         0
#define OLLA_SSE_TOO_LONG  -1    /* a line exceeded max_line */
#define OLLA_SSE_ABORT     -2    /* the callback returned non-zero */
#define OLLA_SSE_NOMEM     -3


/* return 0 to go on, non-zero to stop (olla_sse_feed returns ABORT) */
typedef int (*olla_sse_line_pt)(void *data, const char *line, size_t len);


typedef struct {
    char      *buf;        /* the partial line, malloc'd, grows to max */
    size_t     len;
    size_t     cap;
    size_t     max_line;
    int        last_cr;    /* the previous piece ended with "\r" */
} olla_sse_t;


/* max_line 0 means 1 MiB; after an error the assembler is only freed */
void olla_sse_init(olla_sse_t *s, size_t max_line);
int olla_sse_feed(olla_sse_t *s, const char *p, size_t n,
    olla_sse_line_pt cb, void *data);
/* end of input: a pending partial line is delivered as a last line */
int olla_sse_finish(olla_sse_t *s, olla_sse_line_pt cb, void *data);
void olla_sse_free(olla_sse_t *s);


/*
 * The lines of an OpenAI chat completion stream, as both translators read
 * them: "data:" lines carry the chunks (data()); "event: error" makes the
 * next data, or the end of the event without any, an error (error(), text
 * NULL for none), and so does an "error:" line (llama.cpp's server writes
 * those); comments and other fields are ignored.  *ev_error carries the
 * "event: error" seen from one line to the next (0 to begin with).
 */

typedef struct {
    int       (*data)(void *st, const char *v, size_t n);
    int       (*error)(void *st, const char *text, size_t n);
} olla_sse_chat_t;

void olla_sse_chat_line(const char *line, size_t len, unsigned *ev_error,
    const olla_sse_chat_t *ops, void *st);

/* "[DONE]", blanks around it allowed: the end of a chat stream */
int olla_sse_chat_done(const char *v, size_t n);


#endif /* _OLLA_SSE_H_INCLUDED_ */
