
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * libFuzzer target for the health probe and the model list
 * (src/olla_probe.c, src/olla_model.c).
 *
 * Input: two control bytes, then the bytes of an HTTP response.
 *
 *   byte 0, bit 7   1: feed the response in pieces of (byte 1 % 64) + 1
 *                   bytes; 0: split it in two at
 *                   ((byte 0 & 0x3f) << 8 | byte 1) % (n + 1)
 *   byte 0, bit 6   1: a body bound of 64 bytes, 0: the default 4 MiB
 *
 * The response goes through the incremental reader that way and, as a
 * reference, in one piece; both get EOF when they still want input and
 * must agree on everything (a difference aborts).  The result is
 * classified with want_models 0 and 1; the body is parsed as a model
 * list, packed, iterated and looked up.  The whole raw input is also
 * walked as a packed blob (it must never be read past), normalised as a
 * model name, sanitised as a header value, and read as Retry-After.
 *
 *   make fuzz          (builds build/fuzz/fuzz_probe, corpus in
 *                       t/fuzz/corpus/fuzz_probe/)
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "olla_probe.h"


#define CHECK(c)  do { if (!(c)) { __builtin_trap(); } } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int
feed(olla_http_resp_t *r, const char *p, size_t n, size_t stride,
    size_t split)
{
    int     rc;
    size_t  off, k;

    rc = OLLA_HTTP_AGAIN;

    if (stride) {
        for (off = 0; off < n && rc == OLLA_HTTP_AGAIN; off += k) {
            k = n - off < stride ? n - off : stride;
            rc = olla_http_resp_feed(r, p + off, k);
        }

    } else {
        rc = olla_http_resp_feed(r, p, split);

        if (rc == OLLA_HTTP_AGAIN) {
            rc = olla_http_resp_feed(r, p + split, n - split);
        }
    }

    if (rc == OLLA_HTTP_AGAIN) {
        rc = olla_http_resp_eof(r);
    }

    /* the verdict sticks */
    CHECK(olla_http_resp_feed(r, "HTTP/1.1 200 OK\r\n", 17) == rc);
    CHECK(olla_http_resp_eof(r) == rc);

    return rc;
}


static void
check_resp(const olla_http_resp_t *r, int rc)
{
    CHECK(rc == OLLA_HTTP_DONE || rc == OLLA_HTTP_ERROR
          || rc == OLLA_HTTP_TOO_BIG);
    CHECK(r->body_len <= r->max_body);
    CHECK(r->body_len == 0 || (r->body && r->body[r->body_len] == '\0'));
    CHECK(memchr(r->err, '\0', sizeof(r->err)) != NULL);
    CHECK(memchr(r->retry_after, '\0', sizeof(r->retry_after)) != NULL);
    CHECK((rc == OLLA_HTTP_DONE) == (r->err[0] == '\0'));
    CHECK(r->status == 0 || (r->status >= 100 && r->status <= 999));
    CHECK(r->content_length >= -1);
}


/* walks a blob; every record must lie inside it, and render within it */

static size_t
walk(const unsigned char *blob, size_t len)
{
    char              out[64];
    size_t            pos, prev, n, jlen;
    olla_model_ref_t  m;

    pos = 0;
    n = 0;

    for ( ;; ) {
        prev = pos;

        if (!olla_models_next(blob, len, &pos, &m)) {
            CHECK(pos == prev);
            break;
        }

        CHECK(pos > prev && pos <= len);
        CHECK((const unsigned char *) m.id >= blob
              && (const unsigned char *) m.id + m.id_len <= blob + len);
        CHECK(m.obj >= blob && m.obj + m.obj_len <= blob + len);

        jlen = olla_model_json(&m, NULL, 0);
        CHECK(olla_model_json(&m, out, sizeof(out)) == jlen);

        n++;
    }

    return n;
}


static void
models(const char *body, size_t len)
{
    char               err[256], *out;
    size_t             i, blen, pos, jlen;
    unsigned char     *blob;
    olla_model_ref_t   m;
    olla_model_list_t  list;

    if (olla_models_parse(body, len, &list, err, sizeof(err)) != 0) {
        CHECK(list.n == 0 && list.items == NULL && err[0] != '\0');
        return;
    }

    blen = olla_models_pack_size(&list);

    /* exactly the size, so that ASan sees a write past it */
    blob = malloc(blen ? blen : 1);
    CHECK(blob != NULL);

    olla_models_pack(&list, blob);

    CHECK(walk(blob, blen) == list.n);
    CHECK(olla_models_count(blob, blen) == list.n);

    pos = 0;

    for (i = 0; i < list.n; i++) {
        CHECK(olla_models_next(blob, blen, &pos, &m) == 1);
        CHECK(m.id_len == list.items[i].id_len
              && memcmp(m.id, list.items[i].id, m.id_len) == 0);
        CHECK(m.created == list.items[i].created);
        CHECK(m.context_window == list.items[i].context_window);
        CHECK(olla_models_has(blob, blen, list.items[i].norm,
                              list.items[i].norm_len));

        /* the object renders as jansson wrote it, unless reduced */

        jlen = olla_model_json(&m, NULL, 0);
        CHECK(jlen >= 2);

        if (list.items[i].flags == 0) {
            out = malloc(jlen);
            CHECK(out != NULL);
            CHECK(olla_model_json(&m, out, jlen) == jlen);
            CHECK(jlen == list.items[i].json_len
                  && memcmp(out, list.items[i].json, jlen) == 0);
            free(out);
        }
    }

    free(blob);
    olla_models_free(&list);
}


static void
strings(const char *p, size_t n)
{
    char         out[1100], ra[129];
    size_t       k, len, cap;
    const char  *owner;

    static const size_t  caps[] = { 0, 1, 2, 8, 64, sizeof(out) };

    len = n < 600 ? n : 600;

    for (k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        cap = caps[k];

        memset(out, 'X', sizeof(out));
        n = olla_model_normalise(p, len, cap ? out : NULL, cap);

        CHECK(n <= len + 16);

        /* input bytes are copied as they are, NULs included */
        if (cap) {
            CHECK(out[n < cap ? n : cap - 1] == '\0');
        }

        if (cap && cap < sizeof(out)) {
            CHECK(out[cap] == 'X');
        }

        n = olla_header_value(p, len, out, cap);

        if (cap) {
            CHECK(n < cap && strlen(out) == n);
        }
    }

    (void) olla_request_id_valid(p, len);

    k = olla_model_owner(p, len, &owner);
    CHECK(owner != NULL && k <= (len > 6 ? len : 6));

    len = len < 128 ? len : 128;
    memcpy(ra, p, len);
    ra[len] = '\0';
    (void) olla_retry_after_seconds(ra, 1744711200);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc, rc2;
    char               reason[160];
    size_t             n, stride, split, max_body;
    uint64_t           interval, ms;
    unsigned           failures;
    const char        *p;
    olla_health_e      h;
    olla_http_resp_t   r, whole;
    olla_model_list_t  list;

    /* the raw input as a packed blob and as strings */

    (void) walk(data, size);
    (void) olla_models_has(data, size, "ai/smollm2:latest", 17);
    (void) olla_models_has(data, size, "", 0);

    strings((const char *) data, size);

    if (size < 2) {
        return 0;
    }

    /* the backoff, from the control bytes */

    interval = (uint64_t) data[0] * 1000 + data[1];
    failures = data[1];
    ms = olla_probe_backoff_ms(interval, failures);
    CHECK(ms >= interval && (ms <= 60000 || ms == interval));

    p = (const char *) data + 2;
    n = size - 2;

    max_body = (data[0] & 0x40) ? 64 : 0;

    if (data[0] & 0x80) {
        stride = (size_t) (data[1] % 64) + 1;
        split = 0;

    } else {
        stride = 0;
        split = ((((size_t) data[0] & 0x3f) << 8) | data[1]) % (n + 1);
    }

    olla_http_resp_init(&r, max_body);
    rc = feed(&r, p, n, stride, split);
    check_resp(&r, rc);

    olla_http_resp_init(&whole, max_body);
    rc2 = feed(&whole, p, n, n ? n : 1, 0);

    /* the same response, however it arrives */

    CHECK(rc == rc2);
    CHECK(r.status == whole.status);
    CHECK(r.content_length == whole.content_length);
    CHECK(r.chunked == whole.chunked);
    CHECK(strcmp(r.retry_after, whole.retry_after) == 0);
    CHECK(strcmp(r.err, whole.err) == 0);

    if (rc == OLLA_HTTP_DONE) {
        CHECK(r.body_len == whole.body_len);
        CHECK(r.body_len == 0 || memcmp(r.body, whole.body, r.body_len) == 0);
    }

    olla_http_resp_free(&whole);

    /* the verdicts */

    memset(&list, 0, sizeof(list));
    h = olla_probe_classify(&r, 0, &list, reason, sizeof(reason));
    CHECK(list.n == 0 && list.items == NULL);
    CHECK(h == OLLA_HEALTH_HEALTHY || h == OLLA_HEALTH_UNHEALTHY
          || h == OLLA_HEALTH_CONFIG_ERROR || h == OLLA_HEALTH_RATE_LIMITED);
    CHECK(strlen(reason) < sizeof(reason));

    h = olla_probe_classify(&r, 1, &list, reason, sizeof(reason));
    CHECK(h == OLLA_HEALTH_HEALTHY || list.n == 0);
    olla_models_free(&list);

    if (h == OLLA_HEALTH_RATE_LIMITED) {
        (void) olla_retry_after_seconds(r.retry_after, 1744711200);
    }

    (void) olla_health_name(h);
    (void) olla_health_routable(h);

    /* the body as a model list */

    if (rc == OLLA_HTTP_DONE) {
        models(r.body ? r.body : "", r.body_len);
    }

    olla_http_resp_free(&r);

    return 0;
}
