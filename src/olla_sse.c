
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Server-sent events line assembler.  A line ends at "\n", "\r\n" or "\r";
 * a "\r\n" pair split between two pieces is one line ending.  A line that
 * lies whole inside one piece is handed to the callback in place; only a
 * line that spans pieces is copied, into a buffer that never grows beyond
 * max_line bytes.
 */


#include <stdlib.h>
#include <string.h>

#include "olla_sse.h"


#define OLLA_SSE_DEFAULT_MAX   (1024 * 1024)
#define OLLA_SSE_MIN_CAP       256


static int olla_sse_append(olla_sse_t *s, const char *p, size_t n);


void
olla_sse_init(olla_sse_t *s, size_t max_line)
{
    s->buf = NULL;
    s->len = 0;
    s->cap = 0;
    s->max_line = max_line ? max_line : OLLA_SSE_DEFAULT_MAX;
    s->last_cr = 0;
}


int
olla_sse_feed(olla_sse_t *s, const char *p, size_t n, olla_sse_line_pt cb,
    void *data)
{
    int          rc;
    size_t       seg;
    const char  *end, *q;

    end = p + n;

    if (s->last_cr && p < end) {
        s->last_cr = 0;

        if (*p == '\n') {
            /* the second half of a "\r\n" split between pieces */
            p++;
        }
    }

    while (p < end) {

        for (q = p; q < end && *q != '\n' && *q != '\r'; q++) {
            /* void */
        }

        seg = (size_t) (q - p);

        if (q == end) {
            /* no line ending in the rest of this piece */
            return olla_sse_append(s, p, seg);
        }

        if (s->len == 0) {
            if (seg > s->max_line) {
                return OLLA_SSE_TOO_LONG;
            }

            rc = cb(data, p, seg);

        } else {
            rc = olla_sse_append(s, p, seg);
            if (rc != OLLA_SSE_OK) {
                return rc;
            }

            rc = cb(data, s->buf, s->len);
            s->len = 0;
        }

        if (*q == '\r') {
            if (q + 1 == end) {
                s->last_cr = 1;
                q++;

            } else if (q[1] == '\n') {
                q += 2;

            } else {
                q++;
            }

        } else {
            q++;
        }

        if (rc != 0) {
            return OLLA_SSE_ABORT;
        }

        p = q;
    }

    return OLLA_SSE_OK;
}


int
olla_sse_finish(olla_sse_t *s, olla_sse_line_pt cb, void *data)
{
    int  rc;

    s->last_cr = 0;

    if (s->len == 0) {
        return OLLA_SSE_OK;
    }

    rc = cb(data, s->buf, s->len);
    s->len = 0;

    return rc ? OLLA_SSE_ABORT : OLLA_SSE_OK;
}


void
olla_sse_free(olla_sse_t *s)
{
    free(s->buf);

    s->buf = NULL;
    s->len = 0;
    s->cap = 0;
    s->last_cr = 0;
}


/*
 * Appends to the partial line.  A line over max_line is an error at once,
 * before its end is seen, so an endless line costs max_line bytes at most;
 * the partial line is dropped then.
 */

static int
olla_sse_append(olla_sse_t *s, const char *p, size_t n)
{
    char    *nb;
    size_t   need, cap;

    if (n == 0) {
        return OLLA_SSE_OK;
    }

    if (n > s->max_line - s->len) {
        s->len = 0;
        return OLLA_SSE_TOO_LONG;
    }

    need = s->len + n;

    if (need > s->cap) {
        cap = s->cap ? s->cap : OLLA_SSE_MIN_CAP;

        while (cap < need) {
            cap = (cap > s->max_line / 2) ? s->max_line : cap * 2;
        }

        if (cap > s->max_line) {
            cap = s->max_line;
        }

        nb = realloc(s->buf, cap);
        if (nb == NULL) {
            return OLLA_SSE_NOMEM;
        }

        s->buf = nb;
        s->cap = cap;
    }

    memcpy(s->buf + s->len, p, n);
    s->len += n;

    return OLLA_SSE_OK;
}


void
olla_sse_chat_line(const char *line, size_t len, unsigned *ev_error,
    const olla_sse_chat_t *ops, void *st)
{
    size_t       flen, vlen;
    const char  *colon, *v;

    if (len == 0) {
        /* the end of an event */

        if (*ev_error) {
            *ev_error = 0;
            (void) ops->error(st, NULL, 0);
        }

        return;
    }

    if (line[0] == ':') {
        return;
    }

    colon = memchr(line, ':', len);

    if (colon) {
        flen = (size_t) (colon - line);
        v = colon + 1;
        vlen = len - flen - 1;

        if (vlen && *v == ' ') {
            v++;
            vlen--;
        }

    } else {
        flen = len;
        v = line + len;
        vlen = 0;
    }

    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (*ev_error) {
            *ev_error = 0;
            (void) ops->error(st, v, vlen);

        } else {
            (void) ops->data(st, v, vlen);
        }

    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        *ev_error = (vlen == 5 && memcmp(v, "error", 5) == 0);

    } else if (flen == 5 && memcmp(line, "error", 5) == 0) {
        (void) ops->error(st, v, vlen);
    }
}


int
olla_sse_chat_done(const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }

    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
        n--;
    }

    return n == 6 && memcmp(v, "[DONE]", 6) == 0;
}
