
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the JSON DOM and writer (src/olla_jdom.c): documents
 * valid and invalid (structure, strings, escapes, surrogates, UTF-8,
 * numbers, literals, depth), error positions, duplicate keys, lookups,
 * number accessors, the writer's escapes against jansson's, round trips,
 * the arena (growth, reuse, the caller's buffer), allocation failures at
 * every point, and a differential check against jansson on generated and
 * mutated documents.
 *
 * jansson (JSON_DECODE_ANY | JSON_ALLOW_NUL, as the translator used it)
 * is the reference: the DOM must give the same verdict and, converted,
 * values json_equal() finds equal.  One deliberate difference: jansson
 * skips a raw NUL byte that follows a number or a literal ("1<NUL>"
 * loads, see D_NULBYTE in test_json.c); the DOM rejects it, as RFC 8259
 * does.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>
#include <jansson.h>

#include "olla_jdom.h"


#define JFLAGS  (JSON_DECODE_ANY | JSON_ALLOW_NUL)


/* ------------------------------------------------------------ helpers */


static json_t *
to_jansson(const olla_jdom_t *v)
{
    size_t   i;
    json_t  *o;

    switch (v->type) {

    case OLLA_JDOM_NULL:
        return json_null();

    case OLLA_JDOM_TRUE:
        return json_true();

    case OLLA_JDOM_FALSE:
        return json_false();

    case OLLA_JDOM_NUMBER:
        if (v->flags & OLLA_JDOM_INT) {
            return json_integer(olla_jdom_int(v));
        }

        return json_real(olla_jdom_double(v));

    case OLLA_JDOM_STRING:
        return json_stringn(v->u.str, v->len);

    case OLLA_JDOM_ARRAY:
        o = json_array();

        for (i = 0; i < v->len; i++) {
            json_array_append_new(o, to_jansson(&v->u.items[i]));
        }

        return o;

    default:
        o = json_object();

        for (i = 0; i < v->len; i++) {
            /* a key twice would be lost here: the DOM has none */
            assert_null(json_object_getn(o, v->u.members[i].key.u.str,
                                         v->u.members[i].key.len));
            json_object_setn_new(o, v->u.members[i].key.u.str,
                                 v->u.members[i].key.len,
                                 to_jansson(&v->u.members[i].value));
        }

        return o;
    }
}


static char *
write_value(const olla_jdom_t *v, size_t *len)
{
    char         *p;
    olla_jout_t   o;

    olla_jout_init(&o, 0);
    olla_jout_value(&o, v);
    p = olla_jout_finish(&o, len);
    assert_non_null(p);

    return p;
}


/* an array's or object's text in the input, the same in both */

static void
same_text(const olla_jdom_t *a, const olla_jdom_t *b)
{
    size_t       na, nb;
    const char  *ta, *tb;

    ta = olla_jdom_text(a, &na);
    tb = olla_jdom_text(b, &nb);
    assert_int_equal(ta != NULL, tb != NULL);

    if (ta != NULL) {
        assert_int_equal(na, nb);
        assert_memory_equal(ta, tb, na);
    }
}


/* the same values, flags and text of strings in the input */

static void
same_dom(const olla_jdom_t *a, const olla_jdom_t *b)
{
    size_t       i, na, nb;
    const char  *ra, *rb;

    assert_int_equal(a->type, b->type);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->len, b->len);

    switch (a->type) {

    case OLLA_JDOM_STRING:
        assert_memory_equal(a->u.str, b->u.str, a->len);
        ra = olla_jdom_raw(a, &na);
        rb = olla_jdom_raw(b, &nb);
        assert_int_equal(ra != NULL, rb != NULL);

        if (ra != NULL) {
            assert_int_equal(na, nb);
            assert_memory_equal(ra, rb, na);
        }

        break;

    case OLLA_JDOM_NUMBER:
        assert_memory_equal(a->u.str, b->u.str, a->len);
        break;

    case OLLA_JDOM_ARRAY:
        for (i = 0; i < a->len; i++) {
            same_dom(&a->u.items[i], &b->u.items[i]);
        }

        same_text(a, b);
        break;

    case OLLA_JDOM_OBJECT:
        same_text(a, b);

        for (i = 0; i < a->len; i++) {
            same_dom(&a->u.members[i].key, &b->u.members[i].key);
            same_dom(&a->u.members[i].value, &b->u.members[i].value);
        }

        break;
    }
}


/*
 * Parses doc with both; returns the DOM's rc.  Same verdict; when valid,
 * equal values, and the writer's text of the DOM loads in jansson to the
 * same value.
 */

static int
differ(const char *doc, size_t len)
{
    int                rc;
    char              *w, buf[512], cbuf[512];
    size_t             wlen;
    json_t            *j, *c, *back;
    json_error_t       e;
    olla_jdom_doc_t    d, dc;

    j = json_loadb(doc, len, JFLAGS, &e);

    olla_jdom_init(&d, buf, sizeof(buf));
    rc = olla_jdom_parse(&d, doc, len);

    if (memchr(doc, '\0', len) != NULL && j != NULL && rc != OLLA_JDOM_OK) {
        /* D_NULBYTE: jansson skipped a raw NUL */
        json_decref(j);
        olla_jdom_free(&d);
        return rc;
    }

    if ((j != NULL) != (rc == OLLA_JDOM_OK)) {
        print_error("verdicts differ on [%.*s]: jansson %s, jdom %s\n",
                    (int) len, doc, j ? "ok" : e.text,
                    rc == OLLA_JDOM_OK ? "ok" : d.error);
        fail();
    }

    if (rc == OLLA_JDOM_OK) {
        c = to_jansson(d.root);

        if (!json_equal(c, j)) {
            print_error("values differ on [%.*s]\n", (int) len, doc);
            fail();
        }

        /* valid: as the routing scan would have found it, checked */

        olla_jdom_init(&dc, cbuf, sizeof(cbuf));
        dc.checked = 1;
        assert_int_equal(olla_jdom_parse(&dc, doc, len), OLLA_JDOM_OK);
        same_dom(dc.root, d.root);
        olla_jdom_free(&dc);

        w = write_value(d.root, &wlen);
        back = json_loadb(w, wlen, JFLAGS, &e);

        if (back == NULL || !json_equal(back, j)) {
            print_error("written [%s] does not load back for [%.*s]\n", w,
                        (int) len, doc);
            fail();
        }

        json_decref(back);
        json_decref(c);
        free(w);

    } else {
        assert_int_equal(rc, OLLA_JDOM_ERROR);
        assert_true(d.error[0] != '\0');
        assert_true(d.position <= len);
        assert_true(d.line >= 1);
    }

    json_decref(j);
    olla_jdom_free(&d);

    return rc;
}


#define Y(s)  assert_int_equal(differ(s, sizeof(s) - 1), OLLA_JDOM_OK)
#define N(s)  assert_int_equal(differ(s, sizeof(s) - 1), OLLA_JDOM_ERROR)


/* the compact text the DOM writes for doc */

static void
expect_written(const char *doc, const char *want)
{
    char             *w;
    size_t            wlen;
    olla_jdom_doc_t   d;

    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, doc, strlen(doc)), OLLA_JDOM_OK);

    w = write_value(d.root, &wlen);

    if (strcmp(w, want) != 0) {
        print_error("wrote %s\nwant  %s\n", w, want);
        fail();
    }

    assert_int_equal(wlen, strlen(want));

    free(w);
    olla_jdom_free(&d);
}


/* ------------------------------------------------------------ documents */


static void
test_structure(void **state)
{
    Y("{}");
    Y(" \t\r\n{ \t\r\n} \t\r\n");
    Y("{\"a\":1}");
    Y("{\"a\":1,\"b\":\"x\",\"c\":null}");
    Y("{ \"a\" : [ 1 , { \"b\" : true } ] , \"c\" :\n\t\"d\" }\n");
    Y("{\"a\":{\"b\":[1,2,{\"c\":null}]}}");
    Y("{\"\":0}");
    Y("[]");
    Y("[[[]],[{}]]");
    Y("[1,\"x\",true,false,null,{},[],-0.5]");
    Y("\"top\"");
    Y("1");
    Y("-1");
    Y("true");
    Y("false");
    Y("null");
    Y("  null  ");
    Y("{\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
      "kkkkkkkkkkkkkkkkkkkk\":1,\"a\":2}");

    N("");
    N(" \n\t\r ");
    N("x");
    N("\xef\xbb\xbf{}");
    N("\f{}");
    N("{\v}");
    N("{\xc2\xa0}");
    N("{");
    N("{  ");
    N("{\"a\":1");
    N("{\"a\":1,");
    N("{\"a\"");
    N("{\"a\":");
    N("{\"a\":1,}");
    N("{\"a\" 1}");
    N("{\"a\"::1}");
    N("{\"a\":}");
    N("{\"a\":1 \"b\":2}");
    N("{1:2}");
    N("{'a':1}");
    N("{a:1}");
    N("{\"a\":1,,\"b\":2}");
    N("{,\"a\":1}");
    N("{\"a\":1]");
    N("{\"a\",1}");
    N("{\"a\":1:2}");
    N("{\"a\":1 /* c */}");
    N("{\"a\":1}// c");
    N("[1,]");
    N("[,1]");
    N("[1,,2]");
    N("[1}");
    N("[1");
    N("[1:2]");
    N("[1 2]");
    N("[}");
    N("]");
    N("}");
    N(",");
    N(":");
    N("{}x");
    N("{}{}");
    N("{} []");
    N("{},");
    N("{}}");
    N("{}\xc3\xa9");
    N("1 2");
    N("\"a\" \"b\"");
}


static void
test_strings(void **state)
{
    Y("\"\"");
    Y("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
    Y("\"\\u0041\\u0062\"");
    Y("\"\\u00e9\\u00E9\\u07ff\"");
    Y("\"\\u20ac\\uFFFF\\ud7ff\\ue000\"");
    Y("\"a\\u0000b\"");
    Y("[\"\\u0000\"]");
    Y("\"\\uD83D\\uDE00\"");
    Y("\"\\ud83d\\ude00\"");
    Y("\"\\uDBFF\\uDFFF\"");
    Y("\"\\uD800\\uDC00\"");
    Y("\"\\uD83D\\uDE00\\uD83D\\uDE01\"");
    Y("\"a\\/b\"");
    Y("\"\x7f\"");
    Y("\"/* x */ // y\"");
    Y("\"{[}]:,\"");
    Y("\"\\\\\"");
    Y("{\"\\u0061\":\"x\",\"\\\"\":1}");
    Y("\"0123456789abcdef0123456789abcdef0123456789abcdef\\n0123456789\"");

    N("\"abc");
    N("{\"abc");
    N("\"abc\\");
    N("\"\\u12");
    N("\"\\uD83D");
    N("\"\\uD83D\\");
    N("\"\\uD83D\\u");
    N("\"\xc3");
    N("'a'");
    N("\"\x01\"");
    N("[\"a\0\"]");
    N("\"\t\"");
    N("\"a\nb\"");
    N("\"\x1f\"");
    N("{\"a\nb\":1}");
    N("\"\\x41\"");
    N("\"\\'\"");
    N("\"\\a\"");
    N("\"\\U0041\"");
    N("\"\\0\"");
    N("\"\\ \"");
    N("\"\\\xc3\xa9\"");
    N("{\"\\q\":1}");
    N("\"\\u12\"");
    N("\"\\u12G4\"");
    N("\"\\u123g\"");
    N("\"\\u+123\"");
    N("\"\\u\"");

    /* U+0000 in a key: jansson's limit, kept */
    N("{\"\\u0000\":1}");
    N("{\"a\\u0000b\":1}");
    Y("{\"a\":\"\\u0000\"}");
}


/*
 * Each byte in each of a \\u escape's four places: a document only where
 * it is a hex digit of either case, and then the code point the digits
 * make (jansson decodes it too); the value of every digit and the bytes
 * next to the digits' ranges ('/', ':', '@', 'G', '`', 'g') refused.
 */

static void
test_hex_digits(void **state)
{
    int       k, c, ok;
    unsigned  cp;
    char      doc[] = "[\"\\u0041\"]";

    (void) state;

    for (k = 0; k < 4; k++) {
        for (c = 1; c < 256; c++) {
            doc[4 + k] = (char) c;
            ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                 || (c >= 'A' && c <= 'F');

            /* a lone surrogate is refused for itself, not for its digits */
            cp = 0;
            if (ok) {
                cp = (unsigned) strtoul(doc + 4, NULL, 16);
            }

            if (ok && cp >= 0xd800 && cp <= 0xdfff) {
                continue;
            }

            assert_int_equal(differ(doc, sizeof(doc) - 1),
                             ok ? OLLA_JDOM_OK : OLLA_JDOM_ERROR);
        }

        doc[4 + k] = "0041"[k];
    }
}


static void
test_surrogates(void **state)
{
    olla_jdom_doc_t  d;

    N("\"\\uD800\"");
    N("\"\\uD800x\"");
    N("\"\\uD800\\n\"");
    N("\"\\uD800\\u0041\"");
    N("\"\\uDBFF\\uDBFF\"");
    N("\"\\uD800\\uDCxx\"");
    N("\"\\uDC00\"");
    N("\"\\uDFFF\"");
    N("\"\\uDC00\\uD800\"");
    N("{\"\\uD800\":1}");

    /* the pair is one code point, four bytes */
    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, "\"x\\uD83D\\uDE00y\"", 16),
                     OLLA_JDOM_OK);
    assert_int_equal(d.root->len, 6);
    assert_memory_equal(d.root->u.str, "x\xf0\x9f\x98\x80y", 6);
    assert_true(d.root->flags & OLLA_JDOM_ESCAPED);
    olla_jdom_free(&d);
}


static void
test_utf8(void **state)
{
    Y("\"\xc3\xa9\"");
    Y("\"\xe2\x82\xac\"");
    Y("\"\xf0\x9f\x98\x80\"");
    Y("\"\xc2\x80\"");
    Y("\"\xdf\xbf\"");
    Y("\"\xe0\xa0\x80\"");
    Y("\"\xed\x9f\xbf\"");
    Y("\"\xee\x80\x80\"");
    Y("\"\xef\xbf\xbf\"");
    Y("\"\xef\xbf\xbe\"");
    Y("\"\xf0\x90\x80\x80\"");
    Y("\"\xf4\x8f\xbf\xbf\"");
    Y("{\"\xc3\xa9\":\"\xe4\xb8\xad\xe6\x96\x87\"}");
    Y("\"a\xc3\xa9z\xe2\x82\xac_\xf0\x9f\x98\x80-abcdefgh\"");
    Y("\"\\n\xc3\xa9\\t\xe2\x82\xac\\\"\xf0\x9f\x98\x80\"");

    N("\"\x80\"");
    N("\"a\xbf\"");
    N("\"\xc0\x80\"");
    N("\"\xc1\xbf\"");
    N("\"\xe0\x80\x80\"");
    N("\"\xe0\x9f\xbf\"");
    N("\"\xf0\x80\x80\x80\"");
    N("\"\xf0\x8f\xbf\xbf\"");
    N("\"\xed\xa0\x80\"");
    N("\"\xed\xbf\xbf\"");
    N("\"\xf4\x90\x80\x80\"");
    N("\"\xf5\x80\x80\x80\"");
    N("\"\xf8\x88\x80\x80\x80\"");
    N("\"\xfe\"");
    N("\"\xff\"");
    N("\"\xc3\"");
    N("\"\xe2\x82\"");
    N("\"\xf0\x9f\x98\"");
    N("\"\xc3\xc3\xa9\"");
    N("\"\xe2\x82" "a\"");
    N("{\"\xff\":1}");
    N("\"abcdefghijklmnopqrstuvwxyz\xed\xa0\x80\"");
    N("\"abcdefghijklmnopqrstuvwxyz\\n\xed\xa0\x80\"");
    N("{\"a\":\xc3\xa9}");
}


static void
test_numbers(void **state)
{
    Y("0");
    Y("-0");
    Y("123");
    Y("-123");
    Y("1.5");
    Y("0.0");
    Y("-0.0e0");
    Y("1e2");
    Y("1E2");
    Y("1e+2");
    Y("1.5e-3");
    Y("0e0");
    Y("1e007");
    Y("1e-400");
    Y("[0,-0,1,-1.5e3,2E-2]");
    Y("9223372036854775807");
    Y("-9223372036854775808");
    Y("1.7976931348623157e308");
    Y("1.7976931348623158e308");
    Y("-1.7976931348623158e308");
    Y("0.00000000000000000000000000001e337");
    Y("17976931348623158079372897140530341507993413271003782693617377898044"
      "49682927647509466490179775872070963302864166928879109465555478519404"
      "02630657488671505820681908902000708383676273854845817711531764475730"
      "27006985557136695962284291481986083493647529271907416844436551070434"
      "2711559699508093042880177904174497791.999");
    Y("123456789012345678901234567890.0");
    Y("0.1");
    Y("3.141592653589793238462643383279");
    Y("1e22");
    Y("1e23");
    Y("4.9406564584124654e-324");
    Y("2.2250738585072011e-308");

    /* jansson's limits: 64-bit integers, finite reals */
    N("9223372036854775808");
    N("-9223372036854775809");
    N("123456789012345678901234567890");
    N("1e309");
    N("-1e309");
    N("1.7976931348623159e308");
    N("1e400");
    N("-1.5E+999");
    N("0.1e310");
    N("1e99999999999999999999");
    N("17976931348623158079372897140530341507993413271003782693617377898044"
      "49682927647509466490179775872070963302864166928879109465555478519404"
      "02630657488671505820681908902000708383676273854845817711531764475730"
      "27006985557136695962284291481986083493647529271907416844436551070434"
      "2711559699508093042880177904174497792.0");

    N("01");
    N("00");
    N("-01");
    N("1.");
    N("1.e5");
    N("0.e1");
    N(".5");
    N("+1");
    N("1e");
    N("1e+");
    N("1E-");
    N("1ee2");
    N("1e2.5");
    N("-");
    N("--1");
    N("- 1");
    N("0x1");
    N("NaN");
    N("Infinity");
    N("-Infinity");
    N("1_000");
    N("1.2.3");
    N("1a");
    N("[12");
    N("[1e");
}


static void
test_literals(void **state)
{
    N("tru");
    N("True");
    N("trUe");
    N("nul");
    N("nulll");
    N("falsee");
    N("t");
    N("truefalse");
    N("undefined");
    N("[fal");
    N("[true1]");
    Y("[true,false,null]");
    Y("{\"t\":true,\"f\":false,\"n\":null}");
}


static void
test_depth(void **state)
{
    int               rc;
    char             *p;
    size_t            i, n, k;
    olla_jdom_doc_t   d;

    p = malloc(8 * 2048 + 16);
    assert_non_null(p);

    /* the nesting jansson allows: 2048 values deep */

    for (k = 2046; k <= 2050; k++) {
        for (i = 0; i < k; i++) {
            p[i] = '[';
            p[k + i] = ']';
        }

        assert_int_equal(differ(p, 2 * k),
                         k <= 2048 ? OLLA_JDOM_OK : OLLA_JDOM_ERROR);

        /* a scalar inside is one more */
        for (i = 0; i < k; i++) {
            p[i] = '[';
            p[k + 1 + i] = ']';
        }

        p[k] = '1';
        assert_int_equal(differ(p, 2 * k + 1),
                         k <= 2047 ? OLLA_JDOM_OK : OLLA_JDOM_ERROR);
    }

    /* objects count the same */

    n = 0;

    for (i = 0; i < 2048; i++) {
        memcpy(p + n, "{\"a\":", 5);
        n += 5;
    }

    p[n++] = '1';
    memset(p + n, '}', 2048);
    n += 2048;

    olla_jdom_init(&d, NULL, 0);
    rc = olla_jdom_parse(&d, p, n);
    assert_int_equal(rc, OLLA_JDOM_ERROR);
    assert_non_null(strstr(d.error, "maximum parsing depth"));

    /* a limit of one's own */
    d.max_depth = 3;
    assert_int_equal(olla_jdom_parse(&d, "[[1]]", 5), OLLA_JDOM_OK);
    assert_int_equal(olla_jdom_parse(&d, "[[[]]]", 6), OLLA_JDOM_OK);
    assert_int_equal(olla_jdom_parse(&d, "[[[1]]]", 7), OLLA_JDOM_ERROR);
    assert_int_equal(olla_jdom_parse(&d, "{\"a\":{\"b\":{}}}", 14),
                     OLLA_JDOM_OK);
    assert_int_equal(olla_jdom_parse(&d, "{\"a\":{\"b\":{\"c\":1}}}", 20),
                     OLLA_JDOM_ERROR);

    olla_jdom_free(&d);
    free(p);
}


/* D_NULBYTE: jansson loads these, the DOM does not */

static void
test_nul_bytes(void **state)
{
    size_t            i;
    json_t           *j;
    olla_jdom_doc_t   d;
    static const struct {
        const char  *doc;
        size_t       len;
    } docs[] = {
        { "1\0", 2 },
        { "{\"a\":1\0}", 8 },
        { "{\"a\":true\0,\"b\":2}", 17 },
        { "[null\0]", 7 },
    };

    olla_jdom_init(&d, NULL, 0);

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        j = json_loadb(docs[i].doc, docs[i].len, JFLAGS, NULL);
        assert_non_null(j);
        json_decref(j);

        assert_int_equal(olla_jdom_parse(&d, docs[i].doc, docs[i].len),
                         OLLA_JDOM_ERROR);
    }

    /* elsewhere both reject them */
    N("\0{}");
    N("{\"a\":\"x\"\0}");
    N("{}\0");

    olla_jdom_free(&d);
}


/* ------------------------------------------------------------ errors */


static void
expect_error(const char *doc, const char *msg, size_t line, size_t column,
    size_t position)
{
    olla_jdom_doc_t  d;

    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, doc, strlen(doc)), OLLA_JDOM_ERROR);

    if (strstr(d.error, msg) == NULL || d.line != line
        || d.column != column || d.position != position)
    {
        print_error("for [%s]: \"%s\" at %zu:%zu (%zu), want \"%s\" at "
                    "%zu:%zu (%zu)\n", doc, d.error, d.line, d.column,
                    d.position, msg, line, column, position);
        fail();
    }

    assert_null(d.root);
    olla_jdom_free(&d);
}


static void
test_error_positions(void **state)
{
    /* as jansson reports them: after the token, columns in characters */
    expect_error("{invalid json", "string or '}' expected near 'invalid'",
                 1, 8, 8);
    expect_error("{\"a\":1,\n\"b\":", "unexpected token near end of file",
                 2, 4, 12);
    expect_error("[1,2", "']' expected near end of file", 1, 4, 4);
    expect_error("\"abc", "premature end of input", 1, 4, 4);
    expect_error("@", "invalid token near '@'", 1, 1, 1);
    expect_error("[1,]", "unexpected token near ']'", 1, 4, 4);
    expect_error("{\"a\" 1}", "':' expected near '1'", 1, 6, 6);
    expect_error("", "unexpected token near end of file", 1, 0, 0);
    expect_error("{\"a\":1}x", "end of file expected near 'x'", 1, 8, 8);
    expect_error("[tru]", "invalid token near 'tru'", 1, 4, 4);
    expect_error("[truex]", "invalid token near 'truex'", 1, 6, 6);
    expect_error("[\"\xe2\x82\xac\" , 1x]", "']' expected near 'x'", 1, 9,
                 11);
    expect_error("9223372036854775808", "too big integer", 1, 19, 19);
    expect_error("-9223372036854775809", "too big negative integer", 1, 20,
                 20);
    expect_error("1e309", "real number overflow", 1, 5, 5);
    expect_error("{\"a\\u0000\":1}", "NUL byte in object key", 1, 10, 10);
    expect_error("\"a\xff\"", "invalid UTF-8", 1, 2, 2);
    expect_error("\"\\x\"", "invalid escape", 1, 3, 3);
    expect_error("[\"tab\there\"]", "control character", 1, 5, 5);
    expect_error("{\n  \"a\": [\n    1,\n    2\n  ,]\n}",
                 "unexpected token near ']'", 5, 4, 28);
    expect_error("\"\\ud800\"", "invalid Unicode", 1, 7, 7);

    /* no bytes that are not printable ASCII in a message */
    expect_error("[\xc3\xa9]", "invalid token", 1, 2, 2);
}


/* ------------------------------------------------------------ the DOM */


static void
test_duplicate_keys(void **state)
{
    char              buf[4096];
    size_t            i, n;
    olla_jdom_doc_t   d;

    /* the first place, the last value: as jansson */
    expect_written("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}");
    expect_written("{\"a\":1,\"a\":2,\"a\":3}", "{\"a\":3}");
    expect_written("{\"a\":1,\"\\u0061\":2}", "{\"a\":2}");
    expect_written("{\"x\":{\"k\":1,\"k\":{\"k\":2,\"k\":[3]}},\"y\":0}",
                   "{\"x\":{\"k\":{\"k\":[3]}},\"y\":0}");
    expect_written("{\"\":1,\"\":2}", "{\"\":2}");

    Y("{\"a\":1,\"b\":2,\"a\":3}");
    Y("{\"ab\":1,\"ba\":2,\"ab\":3,\"b\":4,\"a\":5}");

    /* many keys (a hash table finds the duplicates) */

    n = (size_t) sprintf(buf, "{");

    for (i = 0; i < 200; i++) {
        n += (size_t) sprintf(buf + n, "%s\"k%zu\":%zu", i ? "," : "",
                              i % 70, i);
    }

    buf[n++] = '}';
    buf[n] = '\0';

    assert_int_equal(differ(buf, n), OLLA_JDOM_OK);

    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, buf, n), OLLA_JDOM_OK);
    assert_int_equal(d.root->len, 70);
    assert_int_equal(d.root->u.members[0].key.len, 2);
    assert_memory_equal(d.root->u.members[0].key.u.str, "k0", 2);
    assert_memory_equal(d.root->u.members[69].key.u.str, "k69", 3);
    assert_int_equal(olla_jdom_int(olla_jdom_getl(d.root, "k0")), 140);
    assert_int_equal(olla_jdom_int(olla_jdom_getl(d.root, "k69")), 139);
    olla_jdom_free(&d);

    /* 17 distinct keys, then one again */
    n = (size_t) sprintf(buf, "{");

    for (i = 0; i < 17; i++) {
        n += (size_t) sprintf(buf + n, "\"%c\":%zu,", (char) ('a' + i), i);
    }

    n += (size_t) sprintf(buf + n, "\"c\":99}");
    assert_int_equal(differ(buf, n), OLLA_JDOM_OK);
}


static void
test_lookup(void **state)
{
    const char         *doc;
    olla_jdom_doc_t     d;
    const olla_jdom_t  *v, *a;

    doc = "{\"model\":\"m\",\"n\":[1,{\"x\":true}],\"e\":\"\",\"\":null,"
          "\"s\":\"ab\\u0000cd\",\"k\\u0065y\":-7,\"f\":2.5}";

    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, doc, strlen(doc)), OLLA_JDOM_OK);

    v = olla_jdom_getl(d.root, "model");
    assert_true(olla_jdom_is_string(v));
    assert_int_equal(v->len, 1);
    assert_memory_equal(v->u.str, "m", 1);
    assert_false(v->flags & OLLA_JDOM_ESCAPED);

    /* the key as unescaped */
    v = olla_jdom_getl(d.root, "key");
    assert_true(olla_jdom_is_integer(v));
    assert_int_equal(olla_jdom_int(v), -7);
    assert_ptr_equal(olla_jdom_get(d.root, "key", 3), v);

    assert_null(olla_jdom_getl(d.root, "mode"));
    assert_null(olla_jdom_getl(d.root, "models"));
    assert_null(olla_jdom_getl(NULL, "model"));
    assert_null(olla_jdom_getl(olla_jdom_getl(d.root, "model"), "x"));
    assert_non_null(olla_jdom_getl(d.root, ""));
    assert_true(olla_jdom_is_null(olla_jdom_getl(d.root, "")));

    a = olla_jdom_getl(d.root, "n");
    assert_true(olla_jdom_is_array(a));
    assert_int_equal(a->len, 2);
    assert_int_equal(olla_jdom_int(olla_jdom_at(a, 0)), 1);
    assert_true(olla_jdom_is_true(olla_jdom_getl(olla_jdom_at(a, 1), "x")));
    assert_null(olla_jdom_at(a, 2));
    assert_null(olla_jdom_at(d.root, 0));
    assert_null(olla_jdom_at(NULL, 0));

    v = olla_jdom_getl(d.root, "e");
    assert_int_equal(v->len, 0);
    assert_int_equal(olla_jdom_cstrlen(v), 0);

    /* U+0000: the whole value, and what strlen() would see */
    v = olla_jdom_getl(d.root, "s");
    assert_int_equal(v->len, 5);
    assert_memory_equal(v->u.str, "ab\0cd", 5);
    assert_true(v->flags & OLLA_JDOM_HAS_NUL);
    assert_int_equal(olla_jdom_cstrlen(v), 2);

    v = olla_jdom_getl(d.root, "f");
    assert_false(olla_jdom_is_integer(v));
    assert_true(olla_jdom_is_number(v));
    assert_true(olla_jdom_double(v) == 2.5);
    assert_int_equal(olla_jdom_int(v), 0);
    assert_true(olla_jdom_double(olla_jdom_getl(d.root, "model")) == 0);

    assert_true(olla_jdom_is_boolean(olla_jdom_getl(olla_jdom_at(a, 1),
                                                     "x")));
    assert_false(olla_jdom_is_boolean(v));

    olla_jdom_free(&d);
}


static void
test_number_access(void **state)
{
    char               lit[64];
    size_t             i, k;
    double             want, got;
    uint64_t           x;
    olla_jdom_doc_t    d;
    static const struct {
        const char  *lit;
        long long    v;
    } ints[] = {
        { "0", 0 }, { "-0", 0 }, { "7", 7 }, { "-7", -7 },
        { "1731000000", 1731000000LL },
        { "9223372036854775807", 9223372036854775807LL },
        { "-9223372036854775808", -9223372036854775807LL - 1 },
        { "-9223372036854775807", -9223372036854775807LL },
        { "100000000000000000", 100000000000000000LL },
    };
    static const char  *reals[] = {
        "0.1", "0.7", "2.5", "-0.0", "1e2", "1E-2", "0.30000000000000004",
        "123456789012345.6", "1234567890123456.7", "9007199254740993.0",
        "1e22", "1e23", "1.7976931348623157e308", "4.9406564584124654e-324",
        "2.2250738585072011e-308", "0.000001", "1e-400",
        "3.141592653589793238462643383279502884197", "100.0", "5e-1",
        "0.00000000000000000000000000000000000000000000000001",
        "12345678901234567890.5", "1.5e+300",
    };

    olla_jdom_init(&d, NULL, 0);

    for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        assert_int_equal(olla_jdom_parse(&d, ints[i].lit,
                                         strlen(ints[i].lit)),
                         OLLA_JDOM_OK);
        assert_true(olla_jdom_is_integer(d.root));
        assert_true(olla_jdom_int(d.root) == ints[i].v);
        assert_true(olla_jdom_double(d.root) == (double) ints[i].v);

        /* the literal is kept */
        assert_int_equal(d.root->len, strlen(ints[i].lit));
        assert_memory_equal(d.root->u.str, ints[i].lit, d.root->len);
    }

    for (i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        assert_int_equal(olla_jdom_parse(&d, reals[i], strlen(reals[i])),
                         OLLA_JDOM_OK);
        assert_false(olla_jdom_is_integer(d.root));

        want = strtod(reals[i], NULL);
        got = olla_jdom_double(d.root);

        if (got != want || signbit(got) != signbit(want)) {
            print_error("%s: %.17g, strtod %.17g\n", reals[i], got, want);
            fail();
        }
    }

    /* random reals: the fast path and strtod() agree */

    x = 88172645463325252ULL;

    for (i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;

        k = (size_t) snprintf(lit, sizeof(lit), "%s%llu.%llue%d",
                              (x & 1) ? "-" : "",
                              (unsigned long long) (x >> 40) % 100000000,
                              (unsigned long long) (x >> 8) % 10000,
                              (int) ((x >> 20) % 60) - 30);

        assert_int_equal(olla_jdom_parse(&d, lit, k), OLLA_JDOM_OK);
        want = strtod(lit, NULL);
        got = olla_jdom_double(d.root);

        if (got != want) {
            print_error("%s: %.17g, strtod %.17g\n", lit, got, want);
            fail();
        }
    }

    olla_jdom_free(&d);
}


/* ------------------------------------------------------------ the writer */


static void
test_escapes(void **state)
{
    int           c;
    char         *want, *w, s[64];
    size_t        len, i, k;
    json_t       *j;
    olla_jout_t   o;

    /* each byte below 0x80, as jansson writes it */

    for (c = 0; c < 0x80; c++) {
        s[0] = 'a';
        s[1] = (char) c;
        s[2] = 'b';

        j = json_stringn(s, 3);
        want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

        olla_jout_init(&o, 0);
        olla_jout_str(&o, s, 3);
        w = olla_jout_finish(&o, &len);

        assert_string_equal(w, want);
        assert_int_equal(len, strlen(want));

        free(w);
        free(want);
        json_decref(j);
    }

    /* UTF-8 as it is; escapes at every place around the 16-byte steps */

    for (k = 0; k < 40; k++) {
        if (k % 36 == 8 || k % 36 == 9) {
            /* not in the middle of the two bytes of U+00E9 */
            continue;
        }

        for (i = 0; i < sizeof(s) - 1; i++) {
            s[i] = "abcdefgh\xc3\xa9jklmnopqrstuvwxyz0123456789"[i % 36];
        }

        s[k] = (k % 3 == 0) ? '"' : (k % 3 == 1) ? '\n' : '\x01';

        j = json_stringn(s, sizeof(s) - 1);
        assert_non_null(j);
        want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

        olla_jout_init(&o, 0);
        olla_jout_str(&o, s, sizeof(s) - 1);
        w = olla_jout_finish(&o, &len);

        assert_string_equal(w, want);

        free(w);
        free(want);
        json_decref(j);
    }

    /* olla_jout_esc() alone, and an empty string */
    olla_jout_init(&o, 0);
    olla_jout_esc(&o, "x\"y\\z\t", 6);
    olla_jout_str(&o, "", 0);
    w = olla_jout_finish(&o, &len);
    assert_string_equal(w, "x\\\"y\\\\z\\t\"\"");
    free(w);
}


static void
test_writer(void **state)
{
    char         *w;
    size_t        len;
    olla_jout_t   o;

    expect_written(" { \"a\" : [ 1 , -0 , 1.50 , 2E+3 , true , false , null"
                   " ] , \"b\" : { } , \"c\" : [ ] , \"d\" : \"\" } ",
                   "{\"a\":[1,-0,1.50,2E+3,true,false,null],\"b\":{},"
                   "\"c\":[],\"d\":\"\"}");

    /* strings as the input wrote them (jansson would unescape and escape) */
    expect_written("\"\\u00e9\\/\\u001f\\u007f\\u000a\\b\\uD83D\\uDE00\"",
                   "\"\\u00e9\\/\\u001f\\u007f\\u000a\\b\\uD83D\\uDE00\"");
    expect_written("{\"\\u0041\":\"x\\u0000y\"}",
                   "{\"\\u0041\":\"x\\u0000y\"}");

    olla_jout_init(&o, 0);
    olla_jout_int(&o, 0);
    olla_jout_ch(&o, ' ');
    olla_jout_int(&o, -1);
    olla_jout_ch(&o, ' ');
    olla_jout_int(&o, 9223372036854775807LL);
    olla_jout_ch(&o, ' ');
    olla_jout_int(&o, -9223372036854775807LL - 1);
    olla_jout_lit(&o, " end");
    w = olla_jout_finish(&o, &len);
    assert_string_equal(w, "0 -1 9223372036854775807 -9223372036854775808 "
                           "end");
    assert_int_equal(len, strlen(w));
    free(w);

    /* nothing written: an empty string */
    olla_jout_init(&o, 16);
    w = olla_jout_finish(&o, &len);
    assert_string_equal(w, "");
    assert_int_equal(len, 0);
    free(w);

    olla_jout_init(&o, 0);
    w = olla_jout_finish(&o, NULL);
    assert_string_equal(w, "");
    free(w);

    /* freed without finishing */
    olla_jout_init(&o, 0);
    olla_jout_lit(&o, "abc");
    olla_jout_free(&o);
    assert_null(o.p);
}


/* v's text in the input (olla_jdom_text()) is want */

static void
expect_text(const olla_jdom_t *v, const char *want)
{
    size_t       n;
    const char  *t;

    t = olla_jdom_text(v, &n);
    assert_non_null(t);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(t, want, n);
}


/* olla_jout_text() writes v as want */

static void
expect_text_written(const olla_jdom_t *v, const char *want)
{
    char         *p;
    size_t        len;
    olla_jout_t   o;

    olla_jout_init(&o, 0);
    olla_jout_text(&o, v);
    p = olla_jout_finish(&o, &len);
    assert_non_null(p);
    assert_string_equal(p, want);
    free(p);
}


/*
 * An array's or object's text in the input (olla_jdom_text()) is kept when
 * it is its value: white space and escapes as they were, and copied so
 * by olla_jout_text(); not for an object with a key given twice nor for
 * the containers around it (the value keeps the key once), nor for empty
 * ones; in both parse modes.
 */

static void
test_text(void **state)
{
    char                *p;
    size_t               n, len;
    unsigned             checked;
    const char          *t;
    olla_jout_t          o;
    olla_jdom_doc_t      d;
    const olla_jdom_t   *v;

    static const char  doc[] =
        "{ \"a\" : [1, {\"b\":\"x\\u00e9\\/\"} ,2.50],"
        "\"d\": {\"k\": 1, \"k\": [3, 4]},"
        "\"e\": {\"s\": [ true ]}, \"f\": [], \"g\": {} }";

    static const char  odd[] =
        "[{\"a\":[1,\"x\\n\\u0001\"]},[2.5],[-0],[\"\\/\"],[\"\\u00e9\"],"
        "[ 1],{\"b\":{}} ]";

    (void) state;

    for (checked = 0; checked < 2; checked++) {
        olla_jdom_init(&d, NULL, 0);
        d.checked = checked;
        assert_int_equal(olla_jdom_parse(&d, doc, sizeof(doc) - 1),
                         OLLA_JDOM_OK);

        /* the root holds "d", whose key is given twice */
        assert_null(olla_jdom_text(d.root, &n));
        assert_false(d.root->flags & OLLA_JDOM_SPAN);

        /* before it: as written, white space, escapes and 2.50 kept */
        v = olla_jdom_get(d.root, "a", 1);
        expect_text(v, "[1, {\"b\":\"x\\u00e9\\/\"} ,2.50]");
        expect_text(olla_jdom_at(v, 1), "{\"b\":\"x\\u00e9\\/\"}");
        expect_text_written(v, "[1, {\"b\":\"x\\u00e9\\/\"} ,2.50]");

        /* the object with "k" twice: no text, written from its value */
        v = olla_jdom_get(d.root, "d", 1);
        assert_null(olla_jdom_text(v, &n));
        assert_int_equal(v->len, 1);

        /* what it holds, and what comes after it, have theirs */
        expect_text(olla_jdom_get(v, "k", 1), "[3, 4]");
        expect_text_written(v, "{\"k\":[3,4]}");

        expect_text(olla_jdom_get(d.root, "e", 1), "{\"s\": [ true ]}");

        /* empty ones: none, and written as the writer writes them */
        v = olla_jdom_get(d.root, "f", 1);
        assert_null(olla_jdom_text(v, &n));

        olla_jout_init(&o, 0);
        olla_jout_text(&o, v);
        olla_jout_text(&o, olla_jdom_get(d.root, "g", 1));
        p = olla_jout_finish(&o, &len);
        assert_non_null(p);
        assert_string_equal(p, "[]{}");
        free(p);

        /* not a container */
        assert_null(olla_jdom_text(olla_jdom_at(olla_jdom_get(d.root, "a",
                                                              1), 0), &n));

        /*
         * the text is the value's compact dump (OLLA_JDOM_COMPACT) unless
         * it has white space, a real, -0 or an escape written otherwise;
         * only what is inside counts
         */
        assert_false(olla_jdom_get(d.root, "a", 1)->flags
                     & OLLA_JDOM_COMPACT);
        assert_true(olla_jdom_get(olla_jdom_get(d.root, "d", 1), "k", 1)
                    ->flags & OLLA_JDOM_SPAN);
        assert_false(olla_jdom_get(olla_jdom_get(d.root, "d", 1), "k", 1)
                     ->flags & OLLA_JDOM_COMPACT);

        assert_int_equal(olla_jdom_parse(&d, odd, sizeof(odd) - 1),
                         OLLA_JDOM_OK);
        assert_int_equal(d.root->len, 7);
        assert_true(olla_jdom_at(d.root, 0)->flags & OLLA_JDOM_COMPACT);
        assert_true(olla_jdom_get(olla_jdom_at(d.root, 0), "a", 1)->flags
                    & OLLA_JDOM_COMPACT);
        assert_false(olla_jdom_at(d.root, 1)->flags & OLLA_JDOM_COMPACT);
        assert_false(olla_jdom_at(d.root, 2)->flags & OLLA_JDOM_COMPACT);
        assert_false(olla_jdom_at(d.root, 3)->flags & OLLA_JDOM_COMPACT);
        assert_false(olla_jdom_at(d.root, 4)->flags & OLLA_JDOM_COMPACT);
        assert_false(olla_jdom_at(d.root, 5)->flags & OLLA_JDOM_COMPACT);
        assert_true(olla_jdom_at(d.root, 5)->flags & OLLA_JDOM_SPAN);
        assert_true(olla_jdom_at(d.root, 6)->flags & OLLA_JDOM_COMPACT);
        assert_false(d.root->flags & OLLA_JDOM_COMPACT);

        /* a document without a key given twice: the whole of it */
        assert_int_equal(olla_jdom_parse(&d, " [ {\"z\":1} ] ", 13),
                         OLLA_JDOM_OK);
        t = olla_jdom_text(d.root, &n);
        assert_non_null(t);
        assert_memory_equal(t, "[ {\"z\":1} ]", n);

        olla_jdom_free(&d);
    }
}


/*
 * A string is written as the input wrote it, at every place around the
 * 16-byte steps; when its escapes are the ones olla_jout_esc() writes
 * (OLLA_JDOM_RAW, olla_jdom_raw()), that is the same text as escaping its
 * value again.
 */

/* ------------------------------------------------ values taken as written */


/*
 * The paths of test_as_written: "s" of the root, "s" of the object "x" and
 * each item of its array "l".
 */
#define X  OLLA_JDOM_NOKEY

static const olla_jdom_path_t  test_paths[] = {
    { 0, 0, { X, X, X, X } },
    { 0, 0, { { OLLA_JDOM_ASIS, 1, "s" }, { 3, 1, "x" }, { 4, 1, "t" }, X } },
    { OLLA_JDOM_ASIS, 0, { X, X, X, X } },
    { 0, 0, { { OLLA_JDOM_ASIS, 1, "s" }, { 2, 1, "l" }, X, X } },
    { 4, 1, { X, X, X, X } }
};

#undef X



static int
parse_paths(olla_jdom_doc_t *d, const char *doc, unsigned checked,
    size_t max_depth)
{
    olla_jdom_init(d, NULL, 0);
    d->checked = checked;
    d->paths = test_paths;
    d->npaths = sizeof(test_paths) / sizeof(test_paths[0]);

    if (max_depth) {
        d->max_depth = max_depth;
    }

    return olla_jdom_parse(d, doc, strlen(doc));
}


/* as written: its text, SPAN, COMPACT as said, OPAQUE when skipped */

static void
expect_as_written(const olla_jdom_t *v, const char *text, unsigned compact,
    unsigned skipped)
{
    assert_non_null(v);
    expect_text(v, text);
    expect_text_written(v, text);
    assert_true(v->flags & OLLA_JDOM_SPAN);
    assert_true(v->flags & OLLA_JDOM_VERBATIM);
    assert_int_equal(!!(v->flags & OLLA_JDOM_COMPACT), compact);
    assert_int_equal(!!(v->flags & OLLA_JDOM_OPAQUE), skipped);

    if (skipped) {
        assert_int_equal(v->len, 0);
    }
}


/*
 * A value at a path of doc->paths is taken as written: its text is its
 * value, a key given twice inside it too; a document known valid skips
 * it (no nodes), unless something in it is read to be checked (a number
 * out of range, a U+0000, the depth limit), with the same errors; and
 * both parse modes say the same of it, and write the same document.
 */

static void
test_as_written(void **state)
{
    char                *a, *b;
    size_t               n, la, lb;
    unsigned             checked;
    olla_jdom_doc_t      d, u;
    const olla_jdom_t   *v, *l;

    static const char  doc[] =
        "{\"s\":{\"a\":[1,2],\"b\":\"x\\n\\\"\"},"
        "\"x\":{\"s\":[true,false,null,-1],\"l\":[{\"k\":1,\"k\":2},[ 1, 2.5 ],{},{ },[],{\"e\":\"\\u00e9\"},"
        "{\"t\":\"\\/\"},[-0],[\"\\u001F\"],{\"u\":\"\\u001f\"}]},"
        "\"n\":{\"s\":{\"a\":1}}}";

    static const char  *errors[] = {
        "{\"s\":{\"a\":99999999999999999999}}",
        "{\"s\":[1e999]}",
        "{\"s\":{\"a\\u0000\":1}}",
        "{\"s\":[[[[[1]]]]]}"
    };

    (void) state;

    for (checked = 0; checked < 2; checked++) {
        assert_int_equal(parse_paths(&d, doc, checked, 0), OLLA_JDOM_OK);

        v = olla_jdom_get(d.root, "s", 1);
        expect_as_written(v, "{\"a\":[1,2],\"b\":\"x\\n\\\"\"}", 1, checked);

        if (checked) {
            /* no nodes: nothing found in it */
            assert_null(olla_jdom_get(v, "a", 1));

        } else {
            assert_int_equal(v->len, 2);
            assert_non_null(olla_jdom_get(v, "a", 1));
        }

        l = olla_jdom_get(olla_jdom_get(d.root, "x", 1), "l", 1);
        assert_int_equal(l->len, 10);

        /* a key given twice: as written all the same */
        expect_as_written(olla_jdom_at(l, 0), "{\"k\":1,\"k\":2}", 1, checked);

        /* white space, a real, escapes the writer writes otherwise */
        expect_as_written(olla_jdom_at(l, 1), "[ 1, 2.5 ]", 0, checked);
        expect_as_written(olla_jdom_at(l, 5), "{\"e\":\"\\u00e9\"}", 0,
                          checked);
        expect_as_written(olla_jdom_at(l, 6), "{\"t\":\"\\/\"}", 0, checked);
        expect_as_written(olla_jdom_at(l, 7), "[-0]", 0, checked);
        expect_as_written(olla_jdom_at(l, 8), "[\"\\u001F\"]", 1, checked);
        expect_as_written(olla_jdom_at(l, 9), "{\"u\":\"\\u001f\"}", 0,
                          checked);

        /* empty ones as the parse makes them, written as the writer does */
        for (n = 2; n <= 4; n++) {
            v = olla_jdom_at(l, n);
            assert_int_equal(v->flags, 0);
            assert_int_equal(v->len, 0);
            assert_null(olla_jdom_text(v, &la));
        }

        expect_text_written(olla_jdom_at(l, 3), "{}");

        /* "s" of "n" is on no path; "s" of "x" is */
        v = olla_jdom_get(olla_jdom_get(d.root, "n", 1), "s", 1);
        assert_false(v->flags & OLLA_JDOM_OPAQUE);
        assert_int_equal(v->len, 1);

        v = olla_jdom_get(olla_jdom_get(d.root, "x", 1), "s", 1);
        expect_as_written(v, "[true,false,null,-1]", 1, checked);

        /* the containers around them are not known to be their text */
        assert_null(olla_jdom_text(d.root, &n));
        assert_null(olla_jdom_text(l, &n));
        assert_null(olla_jdom_text(olla_jdom_get(d.root, "x", 1), &n));

        olla_jdom_free(&d);
    }

    /* both modes write the same document */

    assert_int_equal(parse_paths(&d, doc, 0, 0), OLLA_JDOM_OK);
    assert_int_equal(parse_paths(&u, doc, 1, 0), OLLA_JDOM_OK);
    a = write_value(d.root, &la);
    b = write_value(u.root, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_non_null(strstr(a, "{\"k\":1,\"k\":2},[ 1, 2.5 ],{},{},[]"));
    free(a);
    free(b);
    olla_jdom_free(&d);
    olla_jdom_free(&u);

    /* read to be checked: the same errors, where they are */

    for (n = 0; n < sizeof(errors) / sizeof(errors[0]); n++) {
        assert_int_equal(parse_paths(&d, errors[n], 0, 5), OLLA_JDOM_ERROR);
        assert_int_equal(parse_paths(&u, errors[n], 1, 5), OLLA_JDOM_ERROR);
        assert_string_equal(d.error, u.error);
        assert_int_equal(d.position, u.position);
        assert_int_equal(d.column, u.column);
        olla_jdom_free(&d);
        olla_jdom_free(&u);
    }

    /* given twice: the last one is kept, as written */
    assert_int_equal(parse_paths(&u, "{\"s\":[1],\"s\":[ 2]}", 1, 0),
                     OLLA_JDOM_OK);
    expect_as_written(olla_jdom_get(u.root, "s", 1), "[ 2]", 0, 1);
    olla_jdom_free(&u);

    /* as deep as the limit allows: skipped */
    assert_int_equal(parse_paths(&u, "{\"s\":[[[1]]]}", 1, 5), OLLA_JDOM_OK);
    expect_as_written(olla_jdom_get(u.root, "s", 1), "[[[1]]]", 1, 1);
    olla_jdom_free(&u);

    /*
     * a U+0000 in a value: read (a key may not have one), as written; what
     * the skip noted before it is forgotten: [1] is compact, [ 2] not
     */
    assert_int_equal(parse_paths(&u, "{\"s\":[[1],[ 2],\"a\\u0000\"]}", 1, 0),
                     OLLA_JDOM_OK);
    v = olla_jdom_get(u.root, "s", 1);
    expect_as_written(v, "[[1],[ 2],\"a\\u0000\"]", 0, 0);
    assert_int_equal(v->len, 3);
    assert_true(olla_jdom_at(v, 0)->flags & OLLA_JDOM_COMPACT);
    assert_false(olla_jdom_at(v, 1)->flags & OLLA_JDOM_COMPACT);
    assert_true(olla_jdom_at(v, 2)->flags & OLLA_JDOM_HAS_NUL);
    olla_jdom_free(&u);

    /* a number inside is read and checked, not a reason to read it all */
    assert_int_equal(parse_paths(&u, "{\"s\":{\"a\":9223372036854775807,"
                                     "\"b\":-1.5e3}}", 1, 0),
                     OLLA_JDOM_OK);
    expect_as_written(olla_jdom_get(u.root, "s", 1),
                      "{\"a\":9223372036854775807,\"b\":-1.5e3}", 0, 1);
    olla_jdom_free(&u);
}


/*
 * A string of escapes in a row, unescaped into the caller's buffer, goes
 * to a chunk of its own when the buffer runs out, and writes nothing
 * past it (the checked parse read escapes in a row without looking at
 * the room left, a fuzzer found); the same value in both modes.
 */

static void
test_escape_runs(void **state)
{
    char              *doc, *buf;
    size_t             i, k, n, len;
    unsigned           checked;
    olla_jdom_doc_t    d, ref;

    static const char  *esc[] = { "\\u20AC", "\\n", "\\uD83D\\uDE00",
                                  "\\u00e8\\t" };

    (void) state;

    doc = malloc(16384);
    buf = malloc(1024);
    assert_non_null(doc);
    assert_non_null(buf);

    for (k = 0; k < sizeof(esc) / sizeof(esc[0]); k++) {
        for (n = 1; n < 600; n += 37) {
            len = 0;
            doc[len++] = '"';

            for (i = 0; i < n; i++) {
                memcpy(doc + len, esc[k], strlen(esc[k]));
                len += strlen(esc[k]);
            }

            doc[len++] = '"';

            olla_jdom_init(&ref, NULL, 0);
            assert_int_equal(olla_jdom_parse(&ref, doc, len), OLLA_JDOM_OK);

            for (checked = 0; checked < 2; checked++) {
                memset(buf, 0xa5, 1024);
                olla_jdom_init(&d, buf, 256);
                d.checked = checked;
                assert_int_equal(olla_jdom_parse(&d, doc, len), OLLA_JDOM_OK);
                assert_int_equal(d.root->len, ref.root->len);
                assert_memory_equal(d.root->u.str, ref.root->u.str,
                                    ref.root->len);

                for (i = 256; i < 1024; i++) {
                    assert_int_equal((unsigned char) buf[i], 0xa5);
                }

                olla_jdom_free(&d);
            }

            olla_jdom_free(&ref);
        }
    }

    free(buf);
    free(doc);
}


/*
 * Strings at a path whose strings may be left escaped (test_paths' "t"):
 * in a checked parse, one with escapes is not unescaped (OLLA_JDOM_LAZY)
 * but has the length and flags of its value, which olla_jout_unescaped()
 * and olla_jdom_head() give; one with U+0000 is read; the unchecked
 * parse reads them all; both write them as written.
 */

static void
test_lazy(void **state)
{
    char                *p, head[64];
    size_t               i, n, len;
    unsigned             checked;
    olla_jout_t          o;
    olla_jdom_doc_t      d;
    const olla_jdom_t   *t, *v;

    static const char  doc[] =
        "{\"t\":[\"plain\",\"a\\nb\",\"caf\\u00e9 \\/\",\"\\ud83d\\ude00x\","
        "\"n\\u0000ul\",\"\\u20ac\\u001F\\t\"],\"u\":\"q\\n\"}";

    static const struct {
        const char  *value;
        size_t       len;
        unsigned     flags;              /* in the checked parse */
    } want[] = {
        { "plain", 5, 0 },
        { "a\nb", 3, OLLA_JDOM_ESCAPED | OLLA_JDOM_RAW | OLLA_JDOM_LAZY },
        { "caf\xc3\xa9 /", 7, OLLA_JDOM_ESCAPED | OLLA_JDOM_LAZY },
        { "\xf0\x9f\x98\x80x", 5, OLLA_JDOM_ESCAPED | OLLA_JDOM_LAZY },
        { "n\0ul", 4, OLLA_JDOM_ESCAPED | OLLA_JDOM_HAS_NUL | OLLA_JDOM_RAW },
        { "\xe2\x82\xac\x1f\t", 5, OLLA_JDOM_ESCAPED | OLLA_JDOM_LAZY }
    };

    (void) state;

    for (checked = 0; checked < 2; checked++) {
        assert_int_equal(parse_paths(&d, doc, checked, 0), OLLA_JDOM_OK);
        t = olla_jdom_get(d.root, "t", 1);
        assert_int_equal(t->len, 6);

        for (i = 0; i < 6; i++) {
            v = olla_jdom_at(t, i);
            assert_int_equal(v->len, want[i].len);
            assert_int_equal(v->flags, checked ? want[i].flags
                                               : want[i].flags
                                                 & ~OLLA_JDOM_LAZY);

            olla_jout_init(&o, 0);
            olla_jout_unescaped(&o, v);
            p = olla_jout_finish(&o, &len);
            assert_non_null(p);
            assert_int_equal(len, want[i].len);
            assert_memory_equal(p, want[i].value, len);
            free(p);

            for (n = 0; n <= want[i].len + 1; n++) {
                assert_int_equal(olla_jdom_head(v, head, n),
                                 n < want[i].len ? n : want[i].len);
                assert_memory_equal(head, want[i].value,
                                    n < want[i].len ? n : want[i].len);
            }
        }

        /* on no such path: read */
        assert_int_equal(olla_jdom_get(d.root, "u", 1)->flags,
                         OLLA_JDOM_ESCAPED | OLLA_JDOM_RAW);

        /* written as written, whatever the parse */
        p = write_value(d.root, &len);
        assert_string_equal(p, doc);
        free(p);

        /* the \u00e9 is written otherwise by a compact dump */
        assert_true(d.root->flags & OLLA_JDOM_SPAN);
        assert_false(d.root->flags & OLLA_JDOM_COMPACT);
        olla_jdom_free(&d);

        assert_int_equal(parse_paths(&d, "{\"t\":[\"a\\nb\"]}", checked, 0),
                         OLLA_JDOM_OK);
        assert_true(d.root->flags & OLLA_JDOM_COMPACT);
        olla_jdom_free(&d);
    }
}


/*
 * Strings left escaped, 64 bytes a step where escapes are (runs of
 * backslashes across blocks, "\\u" escapes split by a block's end, the
 * end quote anywhere): length, flags and value as the full parse reads
 * them, for strings built at random from escapes and plain bytes.
 */

static void
test_lazy_blocks(void **state)
{
    char              *doc, *p;
    size_t             i, k, len, n, plen;
    unsigned           seed, pick;
    olla_jout_t        o;
    olla_jdom_doc_t    d, ref;
    const olla_jdom_t  *a, *b;

    static const char  *piece[] = {
        "a", "bc", " ", "\\n", "\\\\", "\\\"", "\\/", "\\t", "\\u00e9",
        "\\u20ac", "\\ud83d\\ude00", "\\u001F", "\\u0041", "\\\\\\\\",
        "\\\\\\\\\\\\", "\\\\\\\"", "u", "/", "\\b\\f\\r",
        "\\u001f", "\\u007f", "\\u0080", "\\u07FF", "\\u0800", "\\uabcd",
        "\\uABCD", "\\uDBFF\\uDFFF", "\\ud7ff", "\\uE000", "\\u0010"
    };

    (void) state;

    doc = malloc(4096);
    assert_non_null(doc);
    seed = 12345;

    for (i = 0; i < 20000; i++) {
        memcpy(doc, "{\"t\":\"", 6);
        len = 6;

        /* a plain run first: the block steps start anywhere */
        seed = seed * 1103515245 + 12345;
        n = (seed >> 16) % 80;
        memset(doc + len, 'x', n);
        len += n;

        memcpy(doc + len, "\\n", 2);
        len += 2;

        seed = seed * 1103515245 + 12345;
        k = (seed >> 16) % 120;

        while (k--) {
            seed = seed * 1103515245 + 12345;
            pick = (seed >> 16) % (sizeof(piece) / sizeof(piece[0]));

            /* plain bytes more often: escapes dense and sparse */
            if ((seed >> 8) % 3 == 0) {
                pick = (seed >> 16) % 3;
            }

            plen = strlen(piece[pick]);
            memcpy(doc + len, piece[pick], plen);
            len += plen;
        }

        memcpy(doc + len, "\",\"v\":1}", 8);
        len += 8;

        olla_jdom_init(&ref, NULL, 0);
        assert_int_equal(olla_jdom_parse(&ref, doc, len), OLLA_JDOM_OK);

        olla_jdom_init(&d, NULL, 0);
        d.checked = 1;
        d.paths = test_paths;
        d.npaths = sizeof(test_paths) / sizeof(test_paths[0]);
        assert_int_equal(olla_jdom_parse(&d, doc, len), OLLA_JDOM_OK);

        a = olla_jdom_get(d.root, "t", 1);
        b = olla_jdom_get(ref.root, "t", 1);
        assert_true(a->flags & OLLA_JDOM_LAZY);
        assert_int_equal(a->len, b->len);
        assert_int_equal(a->flags & ~OLLA_JDOM_LAZY, b->flags);
        assert_int_equal(d.root->flags, ref.root->flags);

        olla_jout_init(&o, 0);
        olla_jout_unescaped(&o, a);
        p = olla_jout_finish(&o, &n);
        assert_non_null(p);
        assert_int_equal(n, b->len);
        assert_memory_equal(p, b->u.str, n);
        free(p);

        assert_int_equal(olla_jdom_int(olla_jdom_get(d.root, "v", 1)), 1);

        olla_jdom_free(&d);
        olla_jdom_free(&ref);
    }

    free(doc);
}


static void
test_raw(void **state)
{
    char                *a, *b;
    size_t               i, k, n, len, alen, blen;
    const char          *raw;
    olla_jout_t          o;
    olla_jdom_doc_t      d;
    const olla_jdom_t   *v;
    char                 doc[256];

    static const struct {
        const char  *esc;
        int          raw;
    }  escs[] = {
        { "\\\"", 1 }, { "\\\\", 1 }, { "\\b", 1 }, { "\\f", 1 },
        { "\\n", 1 }, { "\\r", 1 }, { "\\t", 1 }, { "\\u0000", 1 },
        { "\\u001F", 1 }, { "\\u0001", 1 }, { "\\u0010", 1 },
        { "\\/", 0 }, { "\\u001f", 0 }, { "\\u000a", 0 }, { "\\u0008", 0 },
        { "\\u0041", 0 }, { "\\u00e9", 0 }, { "\\u007f", 0 },
        { "\\uD83D\\uDE00", 0 }, { "\\u20ac", 0 }
    };

    for (k = 0; k < sizeof(escs) / sizeof(escs[0]); k++) {
        for (i = 0; i < 40; i++) {
            n = 0;
            doc[n++] = '"';
            memset(doc + n, 'x', i);
            n += i;
            memcpy(doc + n, escs[k].esc, strlen(escs[k].esc));
            n += strlen(escs[k].esc);
            memcpy(doc + n, "\xc3\xa9 tail\\n of it", 15);
            n += 15;
            doc[n++] = '"';

            olla_jdom_init(&d, NULL, 0);
            assert_int_equal(olla_jdom_parse(&d, doc, n), OLLA_JDOM_OK);
            v = d.root;

            /* "\n" in the tail: escaped, and raw unless the escape is not */
            assert_true(v->flags & OLLA_JDOM_ESCAPED);
            assert_int_equal(!!(v->flags & OLLA_JDOM_RAW), escs[k].raw);

            raw = olla_jdom_raw(v, &len);

            if (escs[k].raw) {
                assert_non_null(raw);
                assert_int_equal(len, n - 2);
                assert_memory_equal(raw, doc + 1, len);

            } else {
                assert_null(raw);
            }

            olla_jout_init(&o, 0);
            olla_jout_string(&o, v);
            a = olla_jout_finish(&o, &alen);

            olla_jout_init(&o, 0);
            olla_jout_str(&o, v->u.str, v->len);
            b = olla_jout_finish(&o, &blen);

            /* written as the input wrote it; when raw, as escaped again */

            assert_int_equal(alen, n);
            assert_memory_equal(a, doc, n);

            if (escs[k].raw) {
                assert_int_equal(alen, blen);
                assert_memory_equal(a, b, alen);
            }

            free(a);
            free(b);
            olla_jdom_free(&d);
        }
    }

    /* without escapes: the input's text, no flag needed */

    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, "[\"plain \xc3\xa9\",1]", 14),
                     OLLA_JDOM_OK);
    raw = olla_jdom_raw(&d.root->u.items[0], &len);
    assert_non_null(raw);
    assert_int_equal(len, 8);
    assert_memory_equal(raw, "plain \xc3\xa9", 8);
    assert_null(olla_jdom_raw(&d.root->u.items[1], &len));
    olla_jdom_free(&d);
}


/* documents without reals (which jansson reformats) are written as it does */

static void
test_round_trip(void **state)
{
    char             *w, *w2, *jd;
    size_t            i, len, len2;
    olla_jdom_doc_t   d, d2;
    json_t           *j, *j2;
    static const char  *docs[] = {
        "{\"model\":\"ai/smollm2\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"Hi \\\"there\\\"\\n\\u00e9\"}],\"max_tokens\":64,"
        "\"stream\":true,\"x\":[null,false,{}]}",
        " [ \"\\ud83d\\ude00\" , { \"\\t\" : -12 } ] ",
        "\"\\u0001\\u001f\\u0020\\u007e\\u007f\"",
        "{\"a\":{\"b\":{\"c\":{\"d\":[[[[\"deep\"]]]]}}}}",
    };

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        olla_jdom_init(&d, NULL, 0);
        olla_jdom_init(&d2, NULL, 0);

        assert_int_equal(olla_jdom_parse(&d, docs[i], strlen(docs[i])),
                         OLLA_JDOM_OK);
        w = write_value(d.root, &len);

        /* jansson's value (its text escapes strings its own way) */
        j = json_loads(docs[i], JFLAGS, NULL);
        assert_non_null(j);
        jd = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        j2 = json_loadb(w, len, JFLAGS, NULL);
        assert_non_null(j2);
        assert_true(json_equal(j, j2));
        json_decref(j2);

        /* and the written text is a fixed point */
        assert_int_equal(olla_jdom_parse(&d2, w, len), OLLA_JDOM_OK);
        w2 = write_value(d2.root, &len2);
        assert_string_equal(w, w2);

        free(w);
        free(w2);
        free(jd);
        json_decref(j);
        olla_jdom_free(&d);
        olla_jdom_free(&d2);
    }
}


/* ------------------------------------------------------------ the arena */


static size_t  n_allocs;
static size_t  fail_at;


static void *
count_malloc(size_t n)
{
    if (fail_at && ++n_allocs == fail_at) {
        return NULL;
    }

    if (!fail_at) {
        n_allocs++;
    }

    return malloc(n);
}


static void *
count_realloc(void *p, size_t n)
{
    if (fail_at && ++n_allocs == fail_at) {
        return NULL;
    }

    if (!fail_at) {
        n_allocs++;
    }

    return realloc(p, n);
}


/* a document of about n bytes: objects, arrays, escaped strings */

static char *
make_doc(size_t n, size_t *len)
{
    char    *p;
    size_t   k, i;

    p = malloc(n + 256);
    assert_non_null(p);

    k = (size_t) sprintf(p, "{\"items\":[");

    for (i = 0; k < n; i++) {
        k += (size_t) sprintf(p + k, "%s{\"id\":%zu,\"text\":\"line %zu\\n"
                              "with \\\"quotes\\\" and \\u00e9\",\"ok\":%s,"
                              "\"v\":[%zu,%zu.5]}", i ? "," : "", i, i,
                              (i & 1) ? "true" : "null", i * 7, i);
    }

    k += (size_t) sprintf(p + k, "],\"n\":%zu}", i);
    *len = k;

    return p;
}


static void
test_arena(void **state)
{
    char             *doc, buf[4096];
    size_t            len, mem;
    olla_jdom_doc_t   d;

    olla_jdom_set_alloc(count_malloc, count_realloc);
    fail_at = 0;

    /* a small document in the caller's buffer: no allocation */

    n_allocs = 0;
    olla_jdom_init(&d, buf, sizeof(buf));
    assert_int_equal(olla_jdom_parse(&d, "{\"a\":[1,2,\"x\\ny\"]}", 18),
                     OLLA_JDOM_OK);
    assert_int_equal(n_allocs, 0);
    assert_int_equal(olla_jdom_memory(&d), 0);
    olla_jdom_free(&d);

    /* an unaligned buffer is fine */
    olla_jdom_init(&d, buf + 3, sizeof(buf) - 3);
    assert_int_equal(olla_jdom_parse(&d, "[\"a\\tb\",{\"c\":\"\\u00e9\"}]",
                                     23),
                     OLLA_JDOM_OK);
    assert_memory_equal(d.root->u.items[0].u.str, "a\tb", 3);
    olla_jdom_free(&d);

    /* a big one grows the arena in a few chunks */

    doc = make_doc(300 * 1024, &len);

    assert_int_equal(differ(doc, len), OLLA_JDOM_OK);

    n_allocs = 0;
    olla_jdom_init(&d, buf, sizeof(buf));
    assert_int_equal(olla_jdom_parse(&d, doc, len), OLLA_JDOM_OK);
    print_message("[   INFO   ] %zu KB in %zu allocations, %zu KB held\n",
                  len >> 10, n_allocs, olla_jdom_memory(&d) >> 10);
    assert_true(n_allocs < 24);
    assert_true(olla_jdom_memory(&d) > len / 2);
    assert_true(olla_jdom_memory(&d) < 8 * len);
    olla_jdom_free(&d);
    assert_int_equal(olla_jdom_memory(&d), 0);

    /*
     * Without a buffer, a doc used again keeps one small chunk: parsing
     * small documents then costs no allocation.
     */

    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, doc, len), OLLA_JDOM_OK);
    assert_int_equal(olla_jdom_parse(&d, "{\"a\":\"b\\n\"}", 11),
                     OLLA_JDOM_OK);

    n_allocs = 0;

    for (len = 0; len < 100; len++) {
        assert_int_equal(olla_jdom_parse(&d, "{\"choices\":[{\"delta\":"
                                         "{\"content\":\"x\\ny\"}}]}", 42),
                         OLLA_JDOM_OK);
    }

    assert_int_equal(n_allocs, 0);

    mem = olla_jdom_memory(&d);
    assert_true(mem > 0 && mem <= 16 * 1024 + 64);

    /* a failed parse leaves no root and the doc usable */
    assert_int_equal(olla_jdom_parse(&d, "{\"a\":", 5), OLLA_JDOM_ERROR);
    assert_null(d.root);
    assert_int_equal(olla_jdom_parse(&d, "[1]", 3), OLLA_JDOM_OK);
    assert_int_equal(d.root->len, 1);

    olla_jdom_free(&d);
    free(doc);

    /* wide arrays and objects grow the value stack */

    doc = malloc(200000);
    assert_non_null(doc);

    len = 0;
    doc[len++] = '[';

    while (len < 199990) {
        len += (size_t) sprintf(doc + len, "%s[1,{\"k\":2}]",
                                len > 1 ? "," : "");
    }

    doc[len++] = ']';

    olla_jdom_init(&d, NULL, 0);
    assert_int_equal(olla_jdom_parse(&d, doc, len), OLLA_JDOM_OK);
    assert_true(d.root->len > 10000);
    olla_jdom_free(&d);
    free(doc);

    olla_jdom_set_alloc(NULL, NULL);
}


/* every allocation failing in turn: NOMEM, no crash, no leak */

static void
test_allocation_failures(void **state)
{
    int               rc, ok;
    char             *doc, *w, *docs[4], buf[1024];
    size_t            len, lens[4], i, k, points;
    olla_jout_t       o;
    olla_jdom_doc_t   d;

    docs[0] = make_doc(40 * 1024, &lens[0]);
    docs[1] = strdup("{\"a\":\"\\u00e9\\n\",\"b\":[1,2,3],\"c\":{\"d\":null}}");
    lens[1] = strlen(docs[1]);

    /* 40 keys: the duplicate search allocates its table */
    doc = malloc(4096);
    assert_non_null(doc);
    len = (size_t) sprintf(doc, "{");

    for (i = 0; i < 40; i++) {
        len += (size_t) sprintf(doc + len, "\"k%zu\":[%zu,\"s\\t\"],", i % 30,
                                i);
    }

    doc[len - 1] = '}';
    docs[2] = doc;
    lens[2] = len;

    /* wide: the value stack grows */
    doc = malloc(8192);
    assert_non_null(doc);
    len = 0;
    doc[len++] = '[';

    for (i = 0; i < 1000; i++) {
        len += (size_t) sprintf(doc + len, "%s%zu", i ? "," : "", i);
    }

    doc[len++] = ']';
    docs[3] = doc;
    lens[3] = len;

    olla_jdom_set_alloc(count_malloc, count_realloc);
    points = 0;

    for (i = 0; i < 4; i++) {
        for (k = 1, ok = 0; !ok; k++) {
            n_allocs = 0;
            fail_at = k;

            olla_jdom_init(&d, (i & 1) ? buf : NULL, (i & 1) ? sizeof(buf)
                                                             : 0);
            rc = olla_jdom_parse(&d, docs[i], lens[i]);

            if (rc == OLLA_JDOM_OK) {
                ok = (n_allocs < k);

                /* the writer fails whole, or writes it all */
                olla_jout_init(&o, 0);
                olla_jout_value(&o, d.root);
                olla_jout_str(&o, "tail\n", 5);
                w = olla_jout_finish(&o, NULL);

                if (w == NULL) {
                    ok = 0;
                    assert_null(o.p);

                } else {
                    assert_non_null(strstr(w, "\"tail\\n\""));
                    free(w);
                }

            } else {
                assert_int_equal(rc, OLLA_JDOM_NOMEM);
                assert_null(d.root);
            }

            olla_jdom_free(&d);
            points++;
        }
    }

    fail_at = 0;
    olla_jdom_set_alloc(NULL, NULL);

    print_message("[   INFO   ] %zu allocation failure points survived\n",
                  points);

    for (i = 0; i < 4; i++) {
        free(docs[i]);
    }
}


/* ---------------------------- differential: generated and mutated documents */


static uint64_t  rng = 0x9e3779b97f4a7c15ULL;


static uint32_t
rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return (uint32_t) ((rng >> 11) % n);
}


typedef struct {
    char    *p;
    size_t   len;
    size_t   cap;
} gbuf_t;


static void
gadd(gbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }

    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}


static void
gstr(gbuf_t *b, const char *s)
{
    gadd(b, s, strlen(s));
}


static void
gws(gbuf_t *b)
{
    static const char  *ws[] = { "", "", "", "", " ", "\n", "\t", "\r\n  ",
                                 "\n    " };

    gstr(b, ws[rnd(9)]);
}


static void
gstring(gbuf_t *b)
{
    size_t              i, n;
    char                e[16];
    static const char  *pieces[] = {
        "a", "model", " ", "0123456789abcdef", "\\n", "\\\"", "\\\\", "\\/",
        "\\t", "\\b", "\\f", "\\r", "\\u0000", "\\u001f", "\\u00e9",
        "\\u20AC", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\x7f", "text with some words in it",
        "{[:,]}", "\\u0041"
    };

    gstr(b, "\"");
    n = rnd(8);

    for (i = 0; i < n; i++) {
        if (rnd(20) == 0) {
            snprintf(e, sizeof(e), "\\u%04x", rnd(0xd800));
            gstr(b, e);

        } else {
            gstr(b, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
        }
    }

    gstr(b, "\"");
}


/*
 * Long strings (the fast path checks them 64 bytes at a time and copies
 * the runs between escapes 16 at a time): as a value, as a key, alone, each
 * ending at or near the end of the input, dense in escapes or not, with
 * their mutations.  Beyond differ(): OLLA_JDOM_RAW says whether every
 * escape of the text is one the writer writes.
 */

static int
canonical(const char *t, size_t n)
{
    size_t  i;
    char    h[8];

    for (i = 0; i < n; i++) {
        if (t[i] != '\\') {
            continue;
        }

        if (t[i + 1] != 'u') {
            if (t[i + 1] == '/') {
                return 0;
            }

            i++;
            continue;
        }

        memcpy(h, t + i + 2, 4);
        h[4] = '\0';

        if (!(h[0] == '0' && h[1] == '0' && strtol(h, NULL, 16) < 0x20
              && memchr("\b\t\n\f\r", (int) strtol(h, NULL, 16), 5) == NULL
              && strspn(h, "0123456789ABCDEF") == 4))
        {
            return 0;
        }

        i += 5;
    }

    return 1;
}


static void
test_long_strings(void **state)
{
    int                 rc;
    char                buf[256];
    size_t              i, k, n, pos, at, valid;
    gbuf_t              b, t;
    const char         *raw;
    olla_jdom_doc_t     d;
    const olla_jdom_t  *v;
    static const char  *forms[] = { "[%s]", "{%s:1}", "%s", "{\"k\":%s}",
                                    "[%s,\"x\"]" };
    static const char  *dense[] = {
        "\\n", "\\\"", "\\\\", "\\/", "\\t", "ab", "\\u00e9",
        "\\u001F", "\\u001f", "\\u0000", "\\ud83d\\ude00", "\xc3\xa9", "x",
        "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\\u000A", "\\u0041"
    };
    static const char  *sparse[] = {
        "the quick brown fox jumps over the lazy dog ",
        "0123456789abcdef0123456789abcdef0123456789", "\xc3\xa9t\xc3\xa9 ",
        "\\n", "\\\"quoted\\\"", "    indented code();\\n"
    };

    memset(&b, 0, sizeof(gbuf_t));
    memset(&t, 0, sizeof(gbuf_t));
    valid = 0;

    for (i = 0; i < 6000; i++) {
        t.len = 0;
        gstr(&t, "\"");
        n = rnd(60);

        for (k = 0; k < n; k++) {
            if (i & 1) {
                gstr(&t, dense[rnd(sizeof(dense) / sizeof(dense[0]))]);

            } else {
                gstr(&t, sparse[rnd(sizeof(sparse) / sizeof(sparse[0]))]);
            }
        }

        gstr(&t, "\"");

        b.len = 0;
        k = rnd(sizeof(forms) / sizeof(forms[0]));
        at = strstr(forms[k], "%s") - forms[k];
        gadd(&b, forms[k], at);
        gadd(&b, t.p, t.len);
        gstr(&b, forms[k] + at + 2);

        if (differ(b.p, b.len) == OLLA_JDOM_OK) {
            valid++;

            olla_jdom_init(&d, buf, sizeof(buf));
            assert_int_equal(olla_jdom_parse(&d, b.p, b.len), OLLA_JDOM_OK);

            v = d.root;

            if (k == 0 || k == 4) {
                v = olla_jdom_at(v, 0);

            } else if (k == 3) {
                v = olla_jdom_getl(v, "k");

            } else if (k == 1) {
                v = &v->u.members[0].key;
            }

            assert_non_null(v);
            assert_int_equal(v->type, OLLA_JDOM_STRING);

            raw = olla_jdom_raw(v, &n);
            assert_int_equal(raw != NULL, canonical(t.p + 1, t.len - 2));

            if (raw != NULL) {
                assert_int_equal(n, t.len - 2);
                assert_memory_equal(raw, t.p + 1, n);
            }

            olla_jdom_free(&d);
        }

        /* a byte changed, a cut: the same verdict as jansson's */

        pos = rnd((uint32_t) b.len);
        b.p[pos] = "\"\\\x01\x80\xc3\xed\xff un0"[rnd(11)];
        rc = differ(b.p, b.len);
        (void) rc;
        (void) differ(b.p, rnd((uint32_t) b.len + 1));
    }

    assert_true(valid > 2000);

    free(b.p);
    free(t.p);
}


static void
gnumber(gbuf_t *b)
{
    char  n[64];

    switch (rnd(6)) {
    case 0:
        snprintf(n, sizeof(n), "%d", (int) rnd(1000) - 500);
        break;
    case 1:
        snprintf(n, sizeof(n), "%u%u%u", rnd(100000), rnd(100000),
                 rnd(100000));
        break;
    case 2:
        snprintf(n, sizeof(n), "%d.%u", (int) rnd(100) - 50, rnd(100000));
        break;
    case 3:
        snprintf(n, sizeof(n), "%ue%s%u", rnd(10), rnd(2) ? "-" : "+",
                 rnd(330));
        break;
    case 4:
        snprintf(n, sizeof(n), "-0.%u%uE%u", rnd(1000), rnd(1000), rnd(40));
        break;
    default:
        snprintf(n, sizeof(n), "%s", rnd(2) ? "-0" : "0");
    }

    gstr(b, n);
}


static void
gvalue(gbuf_t *b, int depth)
{
    size_t  i, n;
    int     k;

    k = (int) rnd(depth < 6 ? 10 : 6);

    switch (k) {
    case 0:
    case 1:
        gstring(b);
        break;
    case 2:
        gnumber(b);
        break;
    case 3:
        gstr(b, rnd(2) ? "true" : "false");
        break;
    case 4:
        gstr(b, "null");
        break;
    case 5:
        gnumber(b);
        break;
    case 6:
    case 7:
        gstr(b, "[");
        n = rnd(5);

        for (i = 0; i < n; i++) {
            gws(b);
            gvalue(b, depth + 1);
            gws(b);

            if (i + 1 < n) {
                gstr(b, ",");
            }
        }

        gstr(b, "]");
        break;
    default:
        gstr(b, "{");
        n = rnd(6);

        for (i = 0; i < n; i++) {
            gws(b);

            if (rnd(4) == 0) {
                /* keys meet again */
                gstr(b, rnd(2) ? "\"a\"" : "\"b\"");

            } else {
                gstring(b);
            }

            gws(b);
            gstr(b, ":");
            gws(b);
            gvalue(b, depth + 1);
            gws(b);

            if (i + 1 < n) {
                gstr(b, ",");
            }
        }

        gstr(b, "}");
    }
}


static void
test_differential(void **state)
{
    size_t  i, k, pos, valid, invalid;
    char    saved;
    gbuf_t  b;

    memset(&b, 0, sizeof(gbuf_t));
    valid = 0;
    invalid = 0;

    for (i = 0; i < 20000; i++) {
        b.len = 0;
        gws(&b);
        gvalue(&b, 0);
        gws(&b);

        if (differ(b.p, b.len) == OLLA_JDOM_OK) {
            valid++;

        } else {
            invalid++;
        }

        /* mutations: a byte changed, a cut */

        for (k = 0; k < 3 && b.len; k++) {
            pos = rnd((uint32_t) b.len);
            saved = b.p[pos];
            b.p[pos] = "\"\\{}[],:0-e.tuxn \x80\xc3\xff\x01"[rnd(22)];

            if (differ(b.p, b.len) == OLLA_JDOM_OK) {
                valid++;

            } else {
                invalid++;
            }

            b.p[pos] = saved;
        }

        if (differ(b.p, rnd((uint32_t) b.len + 1)) == OLLA_JDOM_OK) {
            valid++;

        } else {
            invalid++;
        }
    }

    print_message("[   INFO   ] %zu documents agreed with jansson (%zu "
                  "valid, %zu invalid)\n", valid + invalid, valid, invalid);

    assert_true(valid > 20000);
    assert_true(invalid > 20000);

    free(b.p);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_hex_digits),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_number_access),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_as_written),
        cmocka_unit_test(test_escape_runs),
        cmocka_unit_test(test_lazy),
        cmocka_unit_test(test_lazy_blocks),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_long_strings),
    };

    return cmocka_run_group_tests_name("olla_jdom", tests, NULL, NULL);
}
