
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The Anthropic translator's common parts: buffers and strings, message
 * and tool ids, and the JSON helpers its files share (olla_anth_int.h).
 *
 * No nginx headers: plain buffers in, malloc'd buffers out.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "olla_anth_int.h"
#include "olla_rand.h"




/* ------------------------------------------------------ buffers and strings */


int
olla_abuf_add(olla_abuf_t *b, const char *p, size_t n)
{
    char    *nb;
    size_t   cap;

    if (n > (size_t) -1 / 2 - b->len) {
        return -1;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 128;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        nb = olla_jdom_realloc(b->p, cap);
        if (nb == NULL) {
            return -1;
        }

        b->p = nb;
        b->cap = cap;
    }

    if (n) {
        memcpy(b->p + b->len, p, n);
    }

    b->len += n;
    b->p[b->len] = '\0';

    return 0;
}


void
olla_abuf_free(olla_abuf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}


char *
olla_anth_strndup(const char *p, size_t n)
{
    char  *s;

    s = olla_jdom_malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, p, n);
    s[n] = '\0';

    return s;
}


/* what olla_anth_clean() takes for a space with ctl */

#define olla_anth_blank(c)  ((c) < 0x20 || (c) == 0x7f || (c) == ' ')


/*
 * Appends p[0..n) as valid UTF-8: a byte that does not start a valid
 * sequence becomes "?".  With ctl, control characters count as spaces,
 * runs of spaces collapse to one and leading spaces are dropped.  At most
 * max bytes are appended, cut at a character boundary.
 */

int
olla_anth_clean(olla_abuf_t *b, const unsigned char *p, size_t n, size_t max,
    int ctl)
{
    size_t          i, k, seq, added;
    unsigned char   c, lo, hi;

    added = 0;

    for (i = 0; i < n; i += seq) {
        c = p[i];
        seq = 1;

        if (c < 0x80 && !(ctl && olla_anth_blank(c))) {
            /* a run of ASCII that stays as it is, in one piece */

            for (k = i + 1;
                 k < n && p[k] < 0x80 && !(ctl && olla_anth_blank(p[k]));
                 k++)
            {
                /* void */
            }

            if (k - i > max - added) {
                /* added <= max: what fits, and no more */

                if (max > added
                    && olla_abuf_add(b, (const char *) p + i, max - added)
                       != 0)
                {
                    return -1;
                }

                added = max;
                break;
            }

            seq = k - i;

            if (olla_abuf_add(b, (const char *) p + i, seq) != 0) {
                return -1;
            }

            added += seq;
            continue;
        }

        if (c < 0x80) {
            /* a control character or a space, with ctl */

            if (added == 0 || b->p[b->len - 1] == ' ') {
                continue;
            }

            if (added + 1 > max) {
                break;
            }

            if (olla_abuf_add(b, " ", 1) != 0) {
                return -1;
            }

            added++;
            continue;
        }

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            seq = 2;

        } else if (c >= 0xe0 && c <= 0xef) {
            seq = 3;
            lo = (c == 0xe0) ? 0xa0 : 0x80;
            hi = (c == 0xed) ? 0x9f : 0xbf;

        } else if (c >= 0xf0 && c <= 0xf4) {
            seq = 4;
            lo = (c == 0xf0) ? 0x90 : 0x80;
            hi = (c == 0xf4) ? 0x8f : 0xbf;

        } else {
            seq = 0;
        }

        if (seq && i + seq <= n) {
            if (p[i + 1] < lo || p[i + 1] > hi) {
                seq = 0;
            }

            for (k = 2; seq && k < seq; k++) {
                if (p[i + k] < 0x80 || p[i + k] > 0xbf) {
                    seq = 0;
                }
            }

        } else {
            seq = 0;
        }

        if (seq == 0) {
            seq = 1;

            if (added + 1 > max) {
                break;
            }

            if (olla_abuf_add(b, "?", 1) != 0) {
                return -1;
            }

            added++;
            continue;
        }

        if (added + seq > max) {
            break;
        }

        if (olla_abuf_add(b, (const char *) p + i, seq) != 0) {
            return -1;
        }

        added += seq;
    }

    if (ctl) {
        while (added && b->p[b->len - 1] == ' ') {
            b->len--;
            b->p[b->len] = '\0';
            added--;
        }
    }

    return 0;
}


void
olla_anth_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}


/* ------------------------------------------------------------ ids */

/*
 * Ids are "msg_" or "toolu_" and 24 characters of the base58 alphabet
 * drawn from olla_rand; olla_anth_set_id_seed() makes the sequence fixed,
 * for tests.
 */

static const char  olla_anth_b58[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static olla_rand_t  olla_anth_rng = OLLA_RAND_INIT;


void
olla_anth_set_id_seed(unsigned long long seed)
{
    olla_rand_seed(&olla_anth_rng, seed);
}


/* buf must hold strlen(prefix) + OLLA_ANTH_ID_CHARS + 1 bytes */

void
olla_anth_gen_id(char *buf, const char *prefix)
{
    char      *p, *last, *stop;
    size_t     n;
    uint64_t   z;

    n = strlen(prefix);
    memcpy(buf, prefix, n);

    olla_rand_begin(&olla_anth_rng);

    /*
     * nine characters from each draw: 58^9 is 1/2483 of 2^64, so the
     * ninth is uniform within 0.05%
     */

    p = buf + n;
    last = p + OLLA_ANTH_ID_CHARS;

    while (p < last) {
        z = olla_rand_next(&olla_anth_rng);
        stop = (last - p > 9) ? p + 9 : last;

        while (p < stop) {
            *p++ = olla_anth_b58[z % 58];
            z /= 58;
        }
    }

    buf[n + OLLA_ANTH_ID_CHARS] = '\0';
}


/* ------------------------------------------------------------ JSON helpers */


const olla_jdom_t *
olla_anth_load(olla_jdom_doc_t *doc, const char *body, size_t len,
    const char *what, char *err, size_t errlen)
{
    int     rc;
    size_t  i;

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len) {
        olla_anth_err(err, errlen, "%s is empty", what);
        return NULL;
    }

    rc = olla_jdom_parse(doc, body, len);

    if (rc == OLLA_JDOM_NOMEM) {
        olla_anth_nomem(err, errlen);
        return NULL;
    }

    if (rc != OLLA_JDOM_OK) {
        olla_anth_err(err, errlen,
                      "%s is not valid JSON: %s at line %zu column %zu",
                      what, doc->error, doc->line, doc->column);
        return NULL;
    }

    if (!olla_jdom_is_object(doc->root)) {
        olla_anth_err(err, errlen, "%s must be a JSON object", what);
        return NULL;
    }

    return doc->root;
}


/* optional members: absent and null are the same */

const olla_jdom_t *
olla_anth_opt(const olla_jdom_t *obj, const char *key, size_t len)
{
    const olla_jdom_t  *v;

    v = olla_jdom_get(obj, key, len);

    return olla_jdom_is_null(v) ? NULL : v;
}


/* a string that is s up to its first U+0000, as strcmp() saw it */

int
olla_anth_str_is(const olla_jdom_t *v, const char *s, size_t n)
{
    return olla_jdom_is_string(v) && olla_jdom_cstrlen(v) == n
           && memcmp(v->u.str, s, n) == 0;
}



/* the text of a "text" block (or of a block without a type), or NULL */

const olla_jdom_t *
olla_anth_block_text(const olla_jdom_t *b)
{
    const olla_jdom_t  *text, *type;

    if (!olla_jdom_is_object(b)) {
        return NULL;
    }

    type = olla_anth_get(b, "type");

    if (type != NULL && type->type != OLLA_JDOM_NULL
        && !olla_anth_is(type, "text"))
    {
        return NULL;
    }

    text = olla_anth_get(b, "text");

    return olla_jdom_is_string(text) ? text : NULL;
}
