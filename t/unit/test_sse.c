
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the SSE line assembler (src/olla_sse.c).  Every input is
 * fed whole, split in two at every byte boundary and one byte at a time,
 * and must give the same lines and the same result every way.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "olla_sse.h"


/* lines rendered as "[line]" one after another, with the final status */

typedef struct {
    char      *p;
    size_t     len;
    size_t     cap;
    int        stop_at;     /* return non-zero on this line (1-based) */
    int        lines;
    size_t     max_cap;     /* largest buffer capacity seen */
    olla_sse_t *sse;
} sink_t;


static void
sink_add(sink_t *k, const char *p, size_t n)
{
    if (k->len + n + 1 > k->cap) {
        k->cap = (k->len + n + 1) * 2;
        k->p = realloc(k->p, k->cap);
        assert_non_null(k->p);
    }

    memcpy(k->p + k->len, p, n);
    k->len += n;
    k->p[k->len] = '\0';
}


static int
sink_line(void *data, const char *line, size_t len)
{
    size_t   i;
    sink_t  *k;

    k = data;

    for (i = 0; i < len; i++) {
        /* a terminator never reaches the callback */
        assert_true(line[i] != '\n' && line[i] != '\r');
    }

    sink_add(k, "[", 1);
    sink_add(k, line, len);
    sink_add(k, "]", 1);

    k->lines++;

    if (k->sse && k->sse->cap > k->max_cap) {
        k->max_cap = k->sse->cap;
    }

    return (k->stop_at && k->lines == k->stop_at) ? 1 : 0;
}


enum { MODE_WHOLE, MODE_SPLIT, MODE_BYTES };


/* feeds input one way; returns the lines and "|rc" of the first error */

static char *
run(const char *in, size_t n, int mode, size_t k, size_t max_line,
    int stop_at, size_t *max_cap)
{
    int          rc;
    char         tail[32];
    size_t       i;
    sink_t       sink;
    olla_sse_t   s;

    memset(&sink, 0, sizeof(sink_t));
    sink_add(&sink, "", 0);
    sink.stop_at = stop_at;
    sink.sse = &s;

    olla_sse_init(&s, max_line);
    rc = OLLA_SSE_OK;

    switch (mode) {

    case MODE_WHOLE:
        rc = olla_sse_feed(&s, in, n, sink_line, &sink);
        break;

    case MODE_SPLIT:
        rc = olla_sse_feed(&s, in, k, sink_line, &sink);
        if (rc == OLLA_SSE_OK) {
            rc = olla_sse_feed(&s, in + k, n - k, sink_line, &sink);
        }
        break;

    default:
        for (i = 0; i < n && rc == OLLA_SSE_OK; i++) {
            rc = olla_sse_feed(&s, in + i, 1, sink_line, &sink);
            /* an empty piece changes nothing */
            if (rc == OLLA_SSE_OK) {
                rc = olla_sse_feed(&s, in + i, 0, sink_line, &sink);
            }
        }
    }

    if (rc == OLLA_SSE_OK) {
        rc = olla_sse_finish(&s, sink_line, &sink);
    }

    assert_true(s.cap <= s.max_line);
    assert_true(sink.max_cap <= s.max_line);

    if (max_cap) {
        *max_cap = s.cap > sink.max_cap ? s.cap : sink.max_cap;
    }

    olla_sse_free(&s);

    snprintf(tail, sizeof(tail), "|%d", rc);
    sink_add(&sink, tail, strlen(tail));

    return sink.p;
}


/* every way of feeding gives one answer, returned */

static char *
run_all(const char *in, size_t n, size_t max_line, int stop_at)
{
    char    *whole, *other;
    size_t   k;

    whole = run(in, n, MODE_WHOLE, 0, max_line, stop_at, NULL);

    for (k = 0; k <= n; k++) {
        other = run(in, n, MODE_SPLIT, k, max_line, stop_at, NULL);

        if (strcmp(whole, other) != 0) {
            print_error("split at %zu:\n  %s\nwhole:\n  %s\n", k, other,
                        whole);
            fail();
        }

        free(other);
    }

    other = run(in, n, MODE_BYTES, 0, max_line, stop_at, NULL);
    assert_string_equal(whole, other);
    free(other);

    return whole;
}


static void
expect(const char *in, size_t max_line, int stop_at, const char *want)
{
    char  *got;

    got = run_all(in, strlen(in), max_line, stop_at);
    assert_string_equal(got, want);
    free(got);
}


static void
test_line_endings(void **state)
{
    expect("a\nb\r\nc\rd", 0, 0, "[a][b][c][d]|0");
    expect("one\n", 0, 0, "[one]|0");
    expect("one", 0, 0, "[one]|0");
    expect("", 0, 0, "|0");
    expect("data: x\r\n\r\ndata: y\r\n\r\n", 0, 0,
           "[data: x][][data: y][]|0");
    expect("x\r\r\ny\n\rz", 0, 0, "[x][][y][][z]|0");
}


static void
test_empty_lines(void **state)
{
    expect("\n\n\r\n\r\r\n", 0, 0, "[][][][][]|0");
    expect("\r", 0, 0, "[]|0");
    expect("\r\n", 0, 0, "[]|0");
    expect("\n\r", 0, 0, "[][]|0");
}


static void
test_crlf_across_pieces(void **state)
{
    char        *got;
    sink_t       sink;
    olla_sse_t   s;

    memset(&sink, 0, sizeof(sink_t));
    sink_add(&sink, "", 0);

    olla_sse_init(&s, 0);

    /* "\r" ends one piece, "\n" starts the next, empty pieces between */
    assert_int_equal(olla_sse_feed(&s, "a\r", 2, sink_line, &sink), 0);
    assert_int_equal(olla_sse_feed(&s, "", 0, sink_line, &sink), 0);
    assert_int_equal(olla_sse_feed(&s, "\nb\r", 3, sink_line, &sink), 0);
    assert_int_equal(olla_sse_feed(&s, "c\n", 2, sink_line, &sink), 0);
    assert_int_equal(olla_sse_finish(&s, sink_line, &sink), 0);

    assert_string_equal(sink.p, "[a][b][c]");

    /* finish forgets a pending "\r": a new stream starts clean */
    sink.len = 0;
    assert_int_equal(olla_sse_feed(&s, "d\r", 2, sink_line, &sink), 0);
    assert_int_equal(olla_sse_finish(&s, sink_line, &sink), 0);
    assert_int_equal(olla_sse_feed(&s, "\ne\n", 3, sink_line, &sink), 0);
    assert_int_equal(olla_sse_finish(&s, sink_line, &sink), 0);
    sink.p[sink.len] = '\0';
    assert_string_equal(sink.p, "[d][][e]");

    olla_sse_free(&s);
    free(sink.p);

    got = run_all("a\r\nb", 4, 0, 0);
    assert_string_equal(got, "[a][b]|0");
    free(got);
}


static void
test_sse_stream_any_split(void **state)
{
    static const char  in[] =
        ": keep-alive comment\r\n"
        "event: message\r\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n"
        "\r\n"
        "data:{\"choices\":[{\"delta\":{\"content\":\"lo\\r\\n\"}}]}\n"
        "\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9}}\r"
        "\r"
        "data: [DONE]\n\n";

    expect(in, 0, 0,
           "[: keep-alive comment][event: message]"
           "[data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}][]"
           "[data:{\"choices\":[{\"delta\":{\"content\":\"lo\\r\\n\"}}]}][]"
           "[data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9}}][]"
           "[data: [DONE]][]|0");
}


static void
test_nul_bytes_kept(void **state)
{
    char  *got;

    got = run_all("a\0b\nc\0", 6, 0, 0);
    assert_memory_equal(got, "[a\0b][c\0]|0", 11);
    free(got);
}


static void
test_max_line(void **state)
{
    /* exactly max_line is a line; one more is too long */
    expect("12345678\nabc\n", 8, 0, "[12345678][abc]|0");
    expect("ab\n123456789\nabc\n", 8, 0, "[ab]|-1");
    expect("ab\r\n123456789", 8, 0, "[ab]|-1");

    /* the last, unterminated line counts too */
    expect("12345678", 8, 0, "[12345678]|0");

    /* a line of max_line bytes assembled from many pieces */
    expect("0123456789abcdef0123456789abcdef\n", 32, 0,
           "[0123456789abcdef0123456789abcdef]|0");
    expect("0123456789abcdef0123456789abcdef!\n", 32, 0, "|-1");
}


static void
test_endless_line_bounded(void **state)
{
    int          rc;
    char         chunk[1000];
    size_t       i;
    sink_t       sink;
    olla_sse_t   s;

    memset(&sink, 0, sizeof(sink_t));
    memset(chunk, 'x', sizeof(chunk));

    olla_sse_init(&s, 64 * 1024);
    rc = OLLA_SSE_OK;

    for (i = 0; i < 10000 && rc == OLLA_SSE_OK; i++) {
        rc = olla_sse_feed(&s, chunk, sizeof(chunk), sink_line, &sink);
        assert_true(s.cap <= 64 * 1024);
        assert_true(s.len <= 64 * 1024);
    }

    assert_int_equal(rc, OLLA_SSE_TOO_LONG);
    assert_int_equal(i, 66);        /* the 66th piece passes 64 KiB */
    assert_int_equal(sink.lines, 0);

    olla_sse_free(&s);
    free(sink.p);
}


static void
test_buffer_only_for_spanning_lines(void **state)
{
    size_t   cap;
    char    *got;

    /* whole lines inside one piece are not copied */
    got = run("aaaa\nbbbb\n", 10, MODE_WHOLE, 0, 0, 0, &cap);
    assert_string_equal(got, "[aaaa][bbbb]|0");
    assert_int_equal(cap, 0);
    free(got);

    /* a spanning line is, in a buffer of at most max_line */
    got = run("aaaa\nbbbb\n", 10, MODE_BYTES, 0, 6, 0, &cap);
    assert_string_equal(got, "[aaaa][bbbb]|0");
    assert_true(cap > 0 && cap <= 6);
    free(got);
}


static void
test_abort(void **state)
{
    expect("a\nb\nc\n", 0, 2, "[a][b]|-2");
    expect("a\nb\nc", 0, 3, "[a][b][c]|-2");
    expect("a\r\nb\r\nc", 0, 1, "[a]|-2");
}


static void
test_default_max_line(void **state)
{
    olla_sse_t  s;

    olla_sse_init(&s, 0);
    assert_int_equal(s.max_line, 1024 * 1024);
    assert_null(s.buf);
    assert_int_equal(s.cap, 0);
    olla_sse_free(&s);
    olla_sse_free(&s);
}


static void
test_big_line_over_pieces(void **state)
{
    int          rc;
    char        *line, *p;
    size_t       n, i, step;
    sink_t       sink;
    olla_sse_t   s;

    n = 1024 * 1024;
    line = malloc(n + 1);
    assert_non_null(line);
    memset(line, 'q', n);
    line[n] = '\n';

    for (step = 1000; step <= 300000; step *= 17) {
        memset(&sink, 0, sizeof(sink_t));
        sink_add(&sink, "", 0);
        olla_sse_init(&s, n);

        for (i = 0, rc = 0; i < n + 1 && rc == 0; i += step) {
            rc = olla_sse_feed(&s, line + i,
                               (n + 1 - i < step) ? n + 1 - i : step,
                               sink_line, &sink);
        }

        assert_int_equal(rc, OLLA_SSE_OK);
        assert_int_equal(sink.lines, 1);
        assert_int_equal(sink.len, n + 2);
        assert_true(s.cap <= n);

        for (p = sink.p + 1; p < sink.p + n + 1; p++) {
            assert_int_equal(*p, 'q');
        }

        olla_sse_free(&s);
        free(sink.p);
    }

    free(line);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_empty_lines),
        cmocka_unit_test(test_crlf_across_pieces),
        cmocka_unit_test(test_sse_stream_any_split),
        cmocka_unit_test(test_nul_bytes_kept),
        cmocka_unit_test(test_max_line),
        cmocka_unit_test(test_endless_line_bounded),
        cmocka_unit_test(test_buffer_only_for_spanning_lines),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_default_max_line),
        cmocka_unit_test(test_big_line_over_pieces),
    };

    return cmocka_run_group_tests_name("olla_sse", tests, NULL, NULL);
}
