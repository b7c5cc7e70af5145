
/*
 * Copyright (C) ngx_olla_dmr_module authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "olla_probe.h"


enum {
    OLLA_RS_STATUS = 0,
    OLLA_RS_HEADER,
    OLLA_RS_BODY,
    OLLA_RS_CHUNK_SIZE,
    OLLA_RS_CHUNK_DATA,
    OLLA_RS_CHUNK_CRLF,
    OLLA_RS_TRAILER,
    OLLA_RS_DONE,
    OLLA_RS_ERROR
};


static int olla_http_line(olla_http_resp_t *r, const char **pp,
    const char *last);
static int olla_http_status_line(olla_http_resp_t *r);
static int olla_http_header_line(olla_http_resp_t *r);
static int olla_http_body(olla_http_resp_t *r, const char *p, size_t n);
static int olla_http_chunk_size(olla_http_resp_t *r);
static int olla_http_headers_done(olla_http_resp_t *r);
static int olla_http_fail(olla_http_resp_t *r, int rc, const char *msg);


void
olla_http_resp_init(olla_http_resp_t *r, size_t max_body)
{
    memset(r, 0, sizeof(olla_http_resp_t));
    r->content_length = -1;
    r->max_body = max_body ? max_body : OLLA_PROBE_MAX_BODY;
    r->state = OLLA_RS_STATUS;
}


void
olla_http_resp_free(olla_http_resp_t *r)
{
    free(r->body);
    r->body = NULL;
    r->body_len = 0;
    r->body_cap = 0;
}


static int
olla_http_fail(olla_http_resp_t *r, int rc, const char *msg)
{
    snprintf(r->err, sizeof(r->err), "%s", msg);
    r->state = OLLA_RS_ERROR;
    return rc;
}


/* collects one CRLF- or LF-terminated line into r->line; 1 when complete */

static int
olla_http_line(olla_http_resp_t *r, const char **pp, const char *last)
{
    const char  *p;

    for (p = *pp; p < last; p++) {
        if (*p == '\n') {
            if (r->line_len && r->line[r->line_len - 1] == '\r') {
                r->line_len--;
            }

            r->line[r->line_len] = '\0';
            *pp = p + 1;
            return 1;
        }

        if (r->line_len + 1 >= sizeof(r->line)) {
            *pp = p;
            return -1;
        }

        r->line[r->line_len++] = *p;
    }

    *pp = p;
    return 0;
}


static int
olla_http_status_line(olla_http_resp_t *r)
{
    int    status;
    char  *p;

    /* HTTP/1.x SP 3DIGIT [SP reason] */

    if (r->line_len < 12 || strncmp(r->line, "HTTP/1.", 7) != 0
        || !isdigit((unsigned char) r->line[7]) || r->line[8] != ' ')
    {
        return -1;
    }

    p = r->line + 9;

    if (!isdigit((unsigned char) p[0]) || !isdigit((unsigned char) p[1])
        || !isdigit((unsigned char) p[2])
        || (p[3] != ' ' && p[3] != '\0'))
    {
        return -1;
    }

    status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');

    if (status < 100) {
        return -1;
    }

    r->status = status;

    return 0;
}


static int
olla_http_header_line(olla_http_resp_t *r)
{
    char     *colon, *v, *end;
    size_t    klen;
    int64_t   n;

    colon = strchr(r->line, ':');
    if (colon == NULL || colon == r->line) {
        return -1;
    }

    klen = (size_t) (colon - r->line);

    v = colon + 1;
    while (*v == ' ' || *v == '\t') {
        v++;
    }

    end = r->line + r->line_len;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        *--end = '\0';
    }

    if (klen == sizeof("content-length") - 1
        && strncasecmp(r->line, "content-length", klen) == 0)
    {
        if (*v == '\0') {
            return -1;
        }

        n = 0;

        for ( /* void */ ; *v; v++) {
            if (!isdigit((unsigned char) *v)
                || n > (INT64_MAX - (*v - '0')) / 10)
            {
                return -1;
            }

            n = n * 10 + (*v - '0');
        }

        /* differing Content-Length headers: the length is unknowable */

        if (r->content_length >= 0 && r->content_length != n) {
            return -1;
        }

        r->content_length = n;

    } else if (klen == sizeof("transfer-encoding") - 1
               && strncasecmp(r->line, "transfer-encoding", klen) == 0)
    {
        for ( /* void */ ; *v; v++) {
            if (strncasecmp(v, "chunked", sizeof("chunked") - 1) == 0) {
                r->chunked = 1;
                break;
            }
        }

    } else if (klen == sizeof("retry-after") - 1
               && strncasecmp(r->line, "retry-after", klen) == 0)
    {
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", v);
    }

    return 0;
}


static int
olla_http_body(olla_http_resp_t *r, const char *p, size_t n)
{
    char    *nb;
    size_t   cap;

    if (n == 0) {
        return 0;
    }

    if (r->body_len + n > r->max_body) {
        return -1;
    }

    if (r->body_len + n + 1 > r->body_cap) {
        cap = r->body_cap ? r->body_cap : 4096;

        while (cap < r->body_len + n + 1) {
            cap *= 2;
        }

        if (cap > r->max_body + 1) {
            cap = r->max_body + 1;
        }

        nb = realloc(r->body, cap);
        if (nb == NULL) {
            return -1;
        }

        r->body = nb;
        r->body_cap = cap;
    }

    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';

    return 0;
}


/* the empty line after the headers: where the body is, if anywhere */

static int
olla_http_headers_done(olla_http_resp_t *r)
{
    if (r->status < 200) {
        /* 1xx: another status line follows, with headers of its own */
        r->state = OLLA_RS_STATUS;
        r->content_length = -1;
        r->chunked = 0;
        r->retry_after[0] = '\0';
        return 0;
    }

    if (r->status == 204 || r->status == 304) {
        /* never a body, whatever the headers say (RFC 9112, 6.3) */
        r->state = OLLA_RS_DONE;
        return 0;
    }

    if (r->chunked) {
        r->state = OLLA_RS_CHUNK_SIZE;
        return 0;
    }

    if (r->content_length >= 0) {
        if ((uint64_t) r->content_length > r->max_body) {
            return olla_http_fail(r, OLLA_HTTP_TOO_BIG,
                                  "response body too large");
        }

        r->chunk_left = r->content_length;
        r->state = r->content_length ? OLLA_RS_BODY : OLLA_RS_DONE;
        return 0;
    }

    r->eof_body = 1;
    r->state = OLLA_RS_BODY;

    return 0;
}


/* chunk-size [BWS ";" chunk-ext]: hex digits only, no sign, no "0x" */

static int
olla_http_chunk_size(olla_http_resp_t *r)
{
    int          d;
    uint64_t     size;
    const char  *p;

    size = 0;

    for (p = r->line; isxdigit((unsigned char) *p); p++) {
        d = isdigit((unsigned char) *p) ? *p - '0'
                                        : (*p | 0x20) - 'a' + 10;

        if (size > (UINT64_MAX >> 4)) {
            return olla_http_fail(r, OLLA_HTTP_TOO_BIG,
                                  "response body too large");
        }

        size = (size << 4) | (uint64_t) d;
    }

    if (p == r->line) {
        return olla_http_fail(r, OLLA_HTTP_ERROR, "invalid chunk size");
    }

    while (*p == ' ' || *p == '\t') {
        p++;
    }

    if (*p != '\0' && *p != ';') {
        return olla_http_fail(r, OLLA_HTTP_ERROR, "invalid chunk size");
    }

    if (size > r->max_body - r->body_len) {
        return olla_http_fail(r, OLLA_HTTP_TOO_BIG,
                              "response body too large");
    }

    r->chunk_left = (int64_t) size;
    r->state = size ? OLLA_RS_CHUNK_DATA : OLLA_RS_TRAILER;

    return 0;
}


int
olla_http_resp_feed(olla_http_resp_t *r, const char *p, size_t n)
{
    int          rc;
    size_t       k;
    const char  *last;

    last = p + n;

    while (p < last || r->state == OLLA_RS_DONE
           || r->state == OLLA_RS_ERROR)
    {
        switch (r->state) {

        case OLLA_RS_STATUS:
        case OLLA_RS_HEADER:
        case OLLA_RS_CHUNK_SIZE:
        case OLLA_RS_CHUNK_CRLF:
        case OLLA_RS_TRAILER:

            rc = olla_http_line(r, &p, last);

            if (rc < 0) {
                return olla_http_fail(r, OLLA_HTTP_ERROR,
                                      "response line too long");
            }

            if (rc == 0) {
                return OLLA_HTTP_AGAIN;
            }

            if (r->state == OLLA_RS_STATUS) {
                if (olla_http_status_line(r) != 0) {
                    return olla_http_fail(r, OLLA_HTTP_ERROR,
                                          "invalid HTTP status line");
                }

                r->state = OLLA_RS_HEADER;

            } else if (r->state == OLLA_RS_HEADER) {

                if (r->line_len == 0) {
                    rc = olla_http_headers_done(r);

                } else if (olla_http_header_line(r) != 0) {
                    rc = olla_http_fail(r, OLLA_HTTP_ERROR,
                                        "invalid response header");

                } else {
                    rc = 0;
                }

                if (rc != 0) {
                    return rc;
                }

            } else if (r->state == OLLA_RS_CHUNK_SIZE) {
                rc = olla_http_chunk_size(r);

                if (rc != 0) {
                    return rc;
                }

            } else if (r->state == OLLA_RS_CHUNK_CRLF) {
                if (r->line_len != 0) {
                    return olla_http_fail(r, OLLA_HTTP_ERROR,
                                          "invalid chunk terminator");
                }

                r->state = OLLA_RS_CHUNK_SIZE;

            } else {
                /* trailer: ends with an empty line */
                if (r->line_len == 0) {
                    r->state = OLLA_RS_DONE;
                }
            }

            r->line_len = 0;
            break;

        case OLLA_RS_BODY:
        case OLLA_RS_CHUNK_DATA:

            /* chunk_left: what the chunk or Content-Length has left */

            k = (size_t) (last - p);

            if (!r->eof_body && (int64_t) k > r->chunk_left) {
                k = (size_t) r->chunk_left;
            }

            if (olla_http_body(r, p, k) != 0) {
                return olla_http_fail(r, OLLA_HTTP_TOO_BIG,
                                      "response body too large");
            }

            p += k;

            if (!r->eof_body) {
                r->chunk_left -= (int64_t) k;

                if (r->chunk_left == 0) {
                    r->state = (r->state == OLLA_RS_CHUNK_DATA)
                               ? OLLA_RS_CHUNK_CRLF : OLLA_RS_DONE;
                }
            }

            break;

        case OLLA_RS_DONE:
            return OLLA_HTTP_DONE;

        default: /* OLLA_RS_ERROR */
            return strcmp(r->err, "response body too large") == 0
                   ? OLLA_HTTP_TOO_BIG : OLLA_HTTP_ERROR;
        }
    }

    return OLLA_HTTP_AGAIN;
}


int
olla_http_resp_eof(olla_http_resp_t *r)
{
    switch (r->state) {

    case OLLA_RS_DONE:
        return OLLA_HTTP_DONE;

    case OLLA_RS_BODY:
        if (r->eof_body) {
            r->state = OLLA_RS_DONE;
            return OLLA_HTTP_DONE;
        }

        return olla_http_fail(r, OLLA_HTTP_ERROR,
                              "connection closed before the body ended");

    case OLLA_RS_ERROR:
        return strcmp(r->err, "response body too large") == 0
               ? OLLA_HTTP_TOO_BIG : OLLA_HTTP_ERROR;

    case OLLA_RS_STATUS:
        if (r->line_len == 0) {
            return olla_http_fail(r, OLLA_HTTP_ERROR,
                                  "connection closed without a response");
        }

        /* fall through */

    default:
        return olla_http_fail(r, OLLA_HTTP_ERROR,
                              "connection closed in the middle of "
                              "the response");
    }
}


olla_health_e
olla_probe_classify(const olla_http_resp_t *r, int want_models,
    olla_model_list_t *models, char *reason, size_t reasonlen)
{
    char  err[256];

    if (r->status == 401 || r->status == 403) {
        snprintf(reason, reasonlen, "HTTP %d: the endpoint refuses the "
                 "gateway's credentials", r->status);
        return OLLA_HEALTH_CONFIG_ERROR;
    }

    if (r->status == 429) {
        snprintf(reason, reasonlen, "HTTP 429: rate limited%s%s",
                 r->retry_after[0] ? ", Retry-After: " : "",
                 r->retry_after);
        return OLLA_HEALTH_RATE_LIMITED;
    }

    if (want_models) {
        if (r->status != 200) {
            snprintf(reason, reasonlen, "HTTP %d", r->status);
            return OLLA_HEALTH_UNHEALTHY;
        }

        if (olla_models_parse(r->body ? r->body : "", r->body_len, models,
                              err, sizeof(err))
            != 0)
        {
            snprintf(reason, reasonlen, "HTTP 200 but %s", err);
            return OLLA_HEALTH_UNHEALTHY;
        }

        snprintf(reason, reasonlen, "HTTP 200, %zu model%s", models->n,
                 models->n == 1 ? "" : "s");
        return OLLA_HEALTH_HEALTHY;
    }

    if (r->status >= 200 && r->status < 300) {
        snprintf(reason, reasonlen, "HTTP %d", r->status);
        return OLLA_HEALTH_HEALTHY;
    }

    snprintf(reason, reasonlen, "HTTP %d", r->status);
    return OLLA_HEALTH_UNHEALTHY;
}


const char *
olla_health_name(olla_health_e h)
{
    static const char  *names[OLLA_HEALTH_COUNT] = {
        "unknown", "healthy", "unhealthy", "offline", "config_error",
        "rate_limited"
    };

    if ((unsigned) h >= OLLA_HEALTH_COUNT) {
        return "unknown";
    }

    return names[h];
}


int
olla_health_routable(olla_health_e h)
{
    return h == OLLA_HEALTH_HEALTHY || h == OLLA_HEALTH_UNKNOWN;
}


int64_t
olla_retry_after_seconds(const char *v, time_t now)
{
    static const char  *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
                                     "Jun", "Jul", "Aug", "Sep", "Oct",
                                     "Nov", "Dec" };
    int                 i, day, year, hh, mm, ss, end;
    char                mon[4];
    int64_t             n;
    struct tm           tm;
    time_t              t;
    const char         *p;

    while (*v == ' ') {
        v++;
    }

    if (*v == '\0') {
        return -1;
    }

    if (isdigit((unsigned char) *v)) {
        n = 0;

        for (p = v; *p; p++) {
            if (!isdigit((unsigned char) *p)) {
                return -1;
            }

            if (n > 100000000) {
                return -1;
            }

            n = n * 10 + (*p - '0');
        }

        return n;
    }

    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */

    p = strchr(v, ',');
    if (p == NULL) {
        return -1;
    }

    /*
     * a literal after the last conversion does not count in sscanf()'s
     * result: %n tells whether "GMT" matched, and where the date ends
     */

    end = 0;

    if (sscanf(p + 1, " %2d %3s %4d %2d:%2d:%2d GMT%n", &day, mon, &year,
               &hh, &mm, &ss, &end)
        != 6 || end == 0)
    {
        return -1;
    }

    for (p = p + 1 + end; *p == ' ' || *p == '\t'; p++) {
        /* void */
    }

    if (*p != '\0') {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));

    for (i = 0; i < 12; i++) {
        if (strcmp(mon, months[i]) == 0) {
            break;
        }
    }

    if (i == 12 || day < 1 || day > 31 || year < 1970 || hh < 0 || hh > 23
        || mm < 0 || mm > 59 || ss < 0 || ss > 60)
    {
        return -1;
    }

    tm.tm_mday = day;
    tm.tm_mon = i;
    tm.tm_year = year - 1900;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;

    t = timegm(&tm);
    if (t == (time_t) -1) {
        return -1;
    }

    return t > now ? (int64_t) (t - now) : 0;
}


uint64_t
olla_probe_backoff_ms(uint64_t interval_ms, unsigned failures)
{
    static const unsigned  mult[] = { 1, 1, 2, 4, 8, 12 };
    uint64_t               ms;

    ms = interval_ms * mult[failures < 5 ? failures : 5];

    if (ms > 60000) {
        ms = 60000;
    }

    if (ms < interval_ms) {
        ms = interval_ms;
    }

    return ms;
}
