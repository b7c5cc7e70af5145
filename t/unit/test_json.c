
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the incremental JSON scanner (src/olla_json.c):
 *
 *   - a table of JSONTestSuite-style documents (y_ valid, n_ invalid), each
 *     fed whole, split in two at every byte, split in three at every pair of
 *     positions (short documents), and one byte at a time: same verdict,
 *     same message and offset, same captured fields every time;
 *   - field extraction: escapes, long values and truncation, types,
 *     duplicates, nested members, offsets, element counts;
 *   - a differential test against jansson on the table and on generated
 *     and mutated documents;
 *   - the fast paths (quiet content, strings a block at a time, SSE2, AVX2)
 *     against the byte machine built alone: long strings with every escape,
 *     UTF-8 sequence and error at every offset around the blocks, and
 *     generated documents, fed whole, in pieces and a byte at a time;
 *   - a benchmark (printed, not asserted).
 *
 * Deliberate differences from jansson (json_loadb, flags JSON_ALLOW_NUL |
 * JSON_DECODE_INT_AS_REAL), each asserted where it shows up:
 *
 *   D_TOPLEVEL  jansson accepts a top-level array; a request body must be
 *               an object, so the scanner rejects it.
 *   D_NUMBER    jansson rejects numbers beyond the range of a double
 *               (1e400); RFC 8259 sets no limit and the scanner does not
 *               convert numbers, so it accepts them.
 *   D_NULKEY    jansson rejects "\u0000" in a member name ("NUL byte in
 *               object key not supported"); it is valid JSON.
 *   D_DEPTH     jansson nests up to 2048 levels, the scanner up to
 *               max_depth (128 by default, at most 512).
 *   D_NULBYTE   jansson skips a raw NUL byte that follows a number or a
 *               literal ({"a":1<NUL>} loads: its reader takes a NUL in its
 *               look-ahead buffer for "refill"); the scanner rejects it.
 *
 * Without JSON_ALLOW_NUL jansson would also reject "\u0000" in values; the
 * gateway needs those accepted (the caller sanitises the model name).
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <jansson.h>

#include "olla_json.h"
#include "json_variants.h"


#define NF  5

#define D_TOPLEVEL  1
#define D_NUMBER    2
#define D_NULKEY    3
#define D_DEPTH     4
#define D_NULBYTE   5


typedef struct {
    int                 rc;
    char                err[160];
    size_t              err_offset;
    olla_json_field_t   f[NF];
    char                buf[NF][256];
} result_t;


typedef struct {
    const char         *name;
    const char         *doc;
    size_t              len;
    int                 ok;
    const char         *err;       /* part of the message, NULL: any */
    int                 diff;      /* documented difference from jansson */
} json_case_t;


static const char  *field_keys[NF] = {
    "model", "stream", "max_tokens", "a", "s"
};

static const size_t  field_caps[NF] = { 256, 16, 32, 4, 8 };


#define Y(name, doc)          { name, doc, sizeof(doc) - 1, 1, NULL, 0 }
#define YD(name, doc, d)      { name, doc, sizeof(doc) - 1, 1, NULL, d }
#define N(name, doc, e)       { name, doc, sizeof(doc) - 1, 0, e, 0 }
#define ND(name, doc, e, d)   { name, doc, sizeof(doc) - 1, 0, e, d }


#define E_OBJ    "request body must be a JSON object"
#define E_CHAR   "invalid JSON: unexpected character"
#define E_BYTE   "invalid JSON: unexpected byte"
#define E_END    "invalid JSON: unexpected end of input"
#define E_EMPTY  "invalid JSON: empty body"
#define E_UNTERM "invalid JSON: unterminated string"
#define E_CTRL   "invalid JSON: unescaped control character"
#define E_ESC    "invalid JSON: invalid escape"
#define E_U      "invalid JSON: invalid \\u escape"
#define E_UTF8   "invalid JSON: invalid UTF-8"
#define E_NUM    "invalid JSON: invalid number"
#define E_LIT    "invalid JSON: invalid literal"
#define E_TRAIL  "invalid JSON: trailing data after the object"


static const json_case_t  cases[] = {

    /* structure */

    Y("y_object_empty", "{}"),
    Y("y_object_ws", " \t\r\n{ \t\r\n} \t\r\n"),
    Y("y_object_member", "{\"a\":1}"),
    Y("y_object_members", "{\"a\":1,\"b\":\"x\",\"c\":null}"),
    Y("y_object_ws_everywhere",
      "{ \"a\" : [ 1 , { \"b\" : true } ] , \"c\" :\n\t\"d\" }\n"),
    Y("y_object_nested", "{\"a\":{\"b\":[1,2,{\"c\":null}]}}"),
    Y("y_object_duplicate_key", "{\"a\":1,\"a\":2}"),
    Y("y_object_empty_key", "{\"\":0}"),
    Y("y_object_long_key",
      "{\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
      "kkkkkkkkkkkkkkkkkkkkkkkk\":1,\"a\":2}"),
    Y("y_object_escaped_key", "{\"\\u0061\":\"x\",\"\\\"\":1}"),
    Y("y_array_empty", "{\"a\":[]}"),
    Y("y_array_nested", "{\"a\":[[[]],[{}]]}"),
    Y("y_array_mixed", "{\"a\":[1,\"x\",true,false,null,{},[],-0.5]}"),
    Y("y_literals", "{\"t\":true,\"f\":false,\"n\":null}"),
    Y("y_literals_in_array", "{\"a\":[true,false,null]}"),

    N("n_empty", "", E_EMPTY),
    N("n_ws_only", " \n\t\r ", E_EMPTY),
    ND("n_top_array", "[]", E_OBJ, D_TOPLEVEL),
    ND("n_top_array_object", "[{\"model\":\"x\"}]", E_OBJ, D_TOPLEVEL),
    N("n_top_string", "\"x\"", E_OBJ),
    N("n_top_number", "1", E_OBJ),
    N("n_top_negative", "-1", E_OBJ),
    N("n_top_true", "true", E_OBJ),
    N("n_top_false", "false", E_OBJ),
    N("n_top_null", "null", E_OBJ),
    N("n_top_garbage", "x", E_CHAR " 'x'"),
    N("n_top_bom", "\xef\xbb\xbf{}", E_BYTE " 0xef"),
    N("n_top_nul", "\0{}", E_BYTE " 0x00"),
    N("n_top_formfeed", "\f{}", E_BYTE " 0x0c"),
    N("n_top_vtab", "{\v}", E_BYTE " 0x0b"),
    N("n_top_nbsp", "{\xc2\xa0}", E_BYTE " 0xc2"),
    N("n_object_open", "{", E_END),
    N("n_object_open_ws", "{  ", E_END),
    N("n_object_unclosed_member", "{\"a\":1", E_END),
    N("n_object_unclosed_after_comma", "{\"a\":1,", E_END),
    N("n_object_unclosed_key", "{\"a\"", E_END),
    N("n_object_unclosed_colon", "{\"a\":", E_END),
    N("n_object_trailing_comma", "{\"a\":1,}", E_CHAR " '}'"),
    N("n_object_missing_colon", "{\"a\" 1}", E_CHAR " '1'"),
    N("n_object_double_colon", "{\"a\"::1}", E_CHAR " ':'"),
    N("n_object_missing_value", "{\"a\":}", E_CHAR " '}'"),
    N("n_object_missing_comma", "{\"a\":1 \"b\":2}", E_CHAR " '\"'"),
    N("n_object_number_key", "{1:2}", E_CHAR " '1'"),
    N("n_object_single_quote", "{'a':1}", E_CHAR " '''"),
    N("n_object_bare_key", "{a:1}", E_CHAR " 'a'"),
    N("n_object_double_comma", "{\"a\":1,,\"b\":2}", E_CHAR " ','"),
    N("n_object_leading_comma", "{,\"a\":1}", E_CHAR " ','"),
    N("n_object_closed_by_bracket", "{\"a\":1]", E_CHAR " ']'"),
    N("n_object_comma_instead_of_colon", "{\"a\",1}", E_CHAR " ','"),
    N("n_object_value_as_key", "{\"a\":1:2}", E_CHAR " ':'"),
    N("n_object_comment", "{\"a\":1 /* c */}", E_CHAR " '/'"),
    N("n_object_line_comment", "{\"a\":1}// c", E_TRAIL),
    ND("n_object_nul_after", "{\"a\":1\0}", E_BYTE " 0x00", D_NULBYTE),
    ND("n_object_nul_after_true", "{\"a\":true\0,\"b\":2}", E_BYTE " 0x00",
       D_NULBYTE),
    N("n_object_nul_after_string", "{\"a\":\"x\"\0}", E_BYTE " 0x00"),
    N("n_array_trailing_comma", "{\"a\":[1,]}", E_CHAR " ']'"),
    N("n_array_leading_comma", "{\"a\":[,1]}", E_CHAR " ','"),
    N("n_array_double_comma", "{\"a\":[1,,2]}", E_CHAR " ','"),
    N("n_array_unclosed", "{\"a\":[1}", E_CHAR " '}'"),
    N("n_array_unclosed_end", "{\"a\":[1", E_END),
    N("n_array_colon", "{\"a\":[1:2]}", E_CHAR " ':'"),
    N("n_array_missing_comma", "{\"a\":[1 2]}", E_CHAR " '2'"),
    N("n_array_closed_by_brace", "{\"a\":[}", E_CHAR " '}'"),
    N("n_trailing_garbage", "{}x", E_TRAIL),
    N("n_trailing_object", "{}{}", E_TRAIL),
    N("n_trailing_array", "{} []", E_TRAIL),
    N("n_trailing_comma", "{},", E_TRAIL),
    N("n_trailing_nul", "{}\0", E_TRAIL),
    N("n_trailing_close", "{}}", E_TRAIL),
    N("n_trailing_utf8", "{}\xc3\xa9", E_TRAIL),

    /* strings */

    Y("y_string_empty", "{\"s\":\"\"}"),
    Y("y_string_escapes", "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}"),
    Y("y_string_u_ascii", "{\"s\":\"\\u0041\\u0062\"}"),
    Y("y_string_u_2byte", "{\"s\":\"\\u00e9\\u00E9\\u07ff\"}"),
    Y("y_string_u_3byte", "{\"s\":\"\\u20ac\\uFFFF\\ud7ff\\ue000\"}"),
    Y("y_string_u_nul", "{\"s\":\"a\\u0000b\"}"),
    Y("y_string_surrogate_pair", "{\"s\":\"\\uD83D\\uDE00\"}"),
    Y("y_string_surrogate_pair_lower", "{\"s\":\"\\ud83d\\ude00\"}"),
    Y("y_string_surrogate_max", "{\"s\":\"\\uDBFF\\uDFFF\"}"),
    Y("y_string_surrogate_min", "{\"s\":\"\\uD800\\uDC00\"}"),
    Y("y_string_two_pairs", "{\"s\":\"\\uD83D\\uDE00\\uD83D\\uDE01\"}"),
    Y("y_string_escaped_slash", "{\"s\":\"a\\/b\"}"),
    Y("y_string_del", "{\"s\":\"\x7f\"}"),
    Y("y_string_comment_like", "{\"s\":\"/* x */ // y\"}"),
    Y("y_string_brackets", "{\"s\":\"{[}]:,\"}"),
    Y("y_string_long",
      "{\"s\":\"0123456789abcdefghijklmnopqrstuvwxyz0123456789"
      "abcdefghijklmnopqrstuvwxyz\"}"),
    Y("y_string_escaped_quote_end", "{\"s\":\"\\\\\"}"),
    YD("y_key_u_nul", "{\"\\u0000\":1}", D_NULKEY),

    N("n_string_unterminated", "{\"s\":\"abc", E_UNTERM),
    N("n_string_unterminated_key", "{\"abc", E_UNTERM),
    N("n_string_unterminated_escape", "{\"s\":\"abc\\", E_UNTERM),
    N("n_string_unterminated_u", "{\"s\":\"\\u12", E_UNTERM),
    N("n_string_unterminated_pair", "{\"s\":\"\\uD83D", E_UNTERM),
    N("n_string_unterminated_pair_bs", "{\"s\":\"\\uD83D\\", E_UNTERM),
    N("n_string_unterminated_pair_u", "{\"s\":\"\\uD83D\\u", E_UNTERM),
    N("n_string_unterminated_utf8", "{\"s\":\"\xc3", E_UNTERM),
    N("n_string_single_quote", "{\"s\":'a'}", E_CHAR " '''"),
    N("n_string_ctrl_01", "{\"s\":\"\x01\"}", E_CTRL),
    N("n_string_ctrl_nul", "{\"s\":\"a\0\"}", E_CTRL),
    N("n_string_ctrl_tab", "{\"s\":\"\t\"}", E_CTRL),
    N("n_string_ctrl_newline", "{\"s\":\"a\nb\"}", E_CTRL),
    N("n_string_ctrl_1f", "{\"s\":\"\x1f\"}", E_CTRL),
    N("n_string_ctrl_in_key", "{\"a\nb\":1}", E_CTRL),
    N("n_escape_x", "{\"s\":\"\\x41\"}", E_ESC),
    N("n_escape_quote", "{\"s\":\"\\'\"}", E_ESC),
    N("n_escape_a", "{\"s\":\"\\a\"}", E_ESC),
    N("n_escape_U", "{\"s\":\"\\U0041\"}", E_ESC),
    N("n_escape_0", "{\"s\":\"\\0\"}", E_ESC),
    N("n_escape_space", "{\"s\":\"\\ \"}", E_ESC),
    N("n_escape_utf8", "{\"s\":\"\\\xc3\xa9\"}", E_ESC),
    N("n_escape_in_key", "{\"\\q\":1}", E_ESC),
    N("n_u_short", "{\"s\":\"\\u12\"}", E_U),
    N("n_u_bad_hex", "{\"s\":\"\\u12G4\"}", E_U),
    N("n_u_bad_hex_end", "{\"s\":\"\\u123g\"}", E_U),
    N("n_u_plus", "{\"s\":\"\\u+123\"}", E_U),
    N("n_u_empty", "{\"s\":\"\\u\"}", E_U),
    N("n_surrogate_lone_high", "{\"s\":\"\\uD800\"}", E_U),
    N("n_surrogate_lone_high_text", "{\"s\":\"\\uD800x\"}", E_U),
    N("n_surrogate_high_escape", "{\"s\":\"\\uD800\\n\"}", E_U),
    N("n_surrogate_high_ascii", "{\"s\":\"\\uD800\\u0041\"}", E_U),
    N("n_surrogate_high_high", "{\"s\":\"\\uDBFF\\uDBFF\"}", E_U),
    N("n_surrogate_high_bad_hex", "{\"s\":\"\\uD800\\uDCxx\"}", E_U),
    N("n_surrogate_lone_low", "{\"s\":\"\\uDC00\"}", E_U),
    N("n_surrogate_lone_low_max", "{\"s\":\"\\uDFFF\"}", E_U),
    N("n_surrogate_reversed", "{\"s\":\"\\uDC00\\uD800\"}", E_U),
    N("n_surrogate_in_key", "{\"\\uD800\":1}", E_U),

    /* UTF-8 */

    Y("y_utf8_2", "{\"s\":\"\xc3\xa9\"}"),
    Y("y_utf8_3", "{\"s\":\"\xe2\x82\xac\"}"),
    Y("y_utf8_4", "{\"s\":\"\xf0\x9f\x98\x80\"}"),
    Y("y_utf8_min_2", "{\"s\":\"\xc2\x80\"}"),
    Y("y_utf8_max_2", "{\"s\":\"\xdf\xbf\"}"),
    Y("y_utf8_min_3", "{\"s\":\"\xe0\xa0\x80\"}"),
    Y("y_utf8_before_surrogates", "{\"s\":\"\xed\x9f\xbf\"}"),
    Y("y_utf8_after_surrogates", "{\"s\":\"\xee\x80\x80\"}"),
    Y("y_utf8_max_3", "{\"s\":\"\xef\xbf\xbf\"}"),
    Y("y_utf8_nonchar", "{\"s\":\"\xef\xbf\xbe\"}"),
    Y("y_utf8_min_4", "{\"s\":\"\xf0\x90\x80\x80\"}"),
    Y("y_utf8_max", "{\"s\":\"\xf4\x8f\xbf\xbf\"}"),
    Y("y_utf8_in_key", "{\"\xc3\xa9\":\"\xe4\xb8\xad\xe6\x96\x87\"}"),
    Y("y_utf8_mixed",
      "{\"s\":\"a\xc3\xa9z\xe2\x82\xac_\xf0\x9f\x98\x80-abcdefgh\"}"),

    N("n_utf8_continuation", "{\"s\":\"\x80\"}", E_UTF8),
    N("n_utf8_continuation_bf", "{\"s\":\"a\xbf\"}", E_UTF8),
    N("n_utf8_overlong_c0", "{\"s\":\"\xc0\x80\"}", E_UTF8),
    N("n_utf8_overlong_c1", "{\"s\":\"\xc1\xbf\"}", E_UTF8),
    N("n_utf8_overlong_3", "{\"s\":\"\xe0\x80\x80\"}", E_UTF8),
    N("n_utf8_overlong_3_max", "{\"s\":\"\xe0\x9f\xbf\"}", E_UTF8),
    N("n_utf8_overlong_4", "{\"s\":\"\xf0\x80\x80\x80\"}", E_UTF8),
    N("n_utf8_overlong_4_max", "{\"s\":\"\xf0\x8f\xbf\xbf\"}", E_UTF8),
    N("n_utf8_surrogate_min", "{\"s\":\"\xed\xa0\x80\"}", E_UTF8),
    N("n_utf8_surrogate_max", "{\"s\":\"\xed\xbf\xbf\"}", E_UTF8),
    N("n_utf8_too_big", "{\"s\":\"\xf4\x90\x80\x80\"}", E_UTF8),
    N("n_utf8_f5", "{\"s\":\"\xf5\x80\x80\x80\"}", E_UTF8),
    N("n_utf8_f8", "{\"s\":\"\xf8\x88\x80\x80\x80\"}", E_UTF8),
    N("n_utf8_fe", "{\"s\":\"\xfe\"}", E_UTF8),
    N("n_utf8_ff", "{\"s\":\"\xff\"}", E_UTF8),
    N("n_utf8_truncated_2", "{\"s\":\"\xc3\"}", E_UTF8),
    N("n_utf8_truncated_3", "{\"s\":\"\xe2\x82\"}", E_UTF8),
    N("n_utf8_truncated_4", "{\"s\":\"\xf0\x9f\x98\"}", E_UTF8),
    N("n_utf8_lead_lead", "{\"s\":\"\xc3\xc3\xa9\"}", E_UTF8),
    N("n_utf8_cont_ascii", "{\"s\":\"\xe2\x82" "a\"}", E_UTF8),
    N("n_utf8_in_key", "{\"\xff\":1}", E_UTF8),
    N("n_utf8_after_long_ascii",
      "{\"s\":\"abcdefghijklmnopqrstuvwxyz\xed\xa0\x80\"}", E_UTF8),
    N("n_utf8_outside_string", "{\"a\":\xc3\xa9}", E_BYTE " 0xc3"),

    /* numbers */

    Y("y_number_zero", "{\"a\":0}"),
    Y("y_number_minus_zero", "{\"a\":-0}"),
    Y("y_number_int", "{\"a\":123}"),
    Y("y_number_negative", "{\"a\":-123}"),
    Y("y_number_fraction", "{\"a\":1.5}"),
    Y("y_number_zero_fraction", "{\"a\":0.0}"),
    Y("y_number_minus_zero_exp", "{\"a\":-0.0e0}"),
    Y("y_number_exp", "{\"a\":1e2}"),
    Y("y_number_exp_upper", "{\"a\":1E2}"),
    Y("y_number_exp_plus", "{\"a\":1e+2}"),
    Y("y_number_exp_minus", "{\"a\":1.5e-3}"),
    Y("y_number_zero_exp", "{\"a\":0e0}"),
    Y("y_number_exp_leading_zeros", "{\"a\":1e007}"),
    Y("y_number_big_int", "{\"a\":123456789012345678901234567890}"),
    Y("y_number_tiny", "{\"a\":1e-400}"),
    Y("y_number_in_array", "{\"a\":[0,-0,1,-1.5e3,2E-2]}"),
    Y("y_number_ws_after", "{\"a\":1 }"),
    YD("y_number_huge_exp", "{\"a\":1e400}", D_NUMBER),
    YD("y_number_huge_negative", "{\"a\":-1.5E+999}", D_NUMBER),

    N("n_number_leading_zero", "{\"a\":01}", E_NUM),
    N("n_number_leading_zeros", "{\"a\":00}", E_NUM),
    N("n_number_minus_leading_zero", "{\"a\":-01}", E_NUM),
    N("n_number_dot_end", "{\"a\":1.}", E_NUM),
    N("n_number_dot_exp", "{\"a\":1.e5}", E_NUM),
    N("n_number_zero_dot_exp", "{\"a\":0.e1}", E_NUM),
    N("n_number_dot_start", "{\"a\":.5}", E_CHAR " '.'"),
    N("n_number_plus", "{\"a\":+1}", E_CHAR " '+'"),
    N("n_number_exp_empty", "{\"a\":1e}", E_NUM),
    N("n_number_exp_plus_empty", "{\"a\":1e+}", E_NUM),
    N("n_number_exp_minus_empty", "{\"a\":1E-}", E_NUM),
    N("n_number_exp_double", "{\"a\":1ee2}", E_NUM),
    N("n_number_exp_fraction", "{\"a\":1e2.5}", E_CHAR " '.'"),
    N("n_number_minus", "{\"a\":-}", E_NUM),
    N("n_number_minus_minus", "{\"a\":--1}", E_NUM),
    N("n_number_minus_space", "{\"a\":- 1}", E_NUM),
    N("n_number_hex", "{\"a\":0x1}", E_CHAR " 'x'"),
    N("n_number_nan", "{\"a\":NaN}", E_CHAR " 'N'"),
    N("n_number_infinity", "{\"a\":Infinity}", E_CHAR " 'I'"),
    N("n_number_minus_infinity", "{\"a\":-Infinity}", E_NUM),
    N("n_number_underscore", "{\"a\":1_000}", E_CHAR " '_'"),
    N("n_number_two_dots", "{\"a\":1.2.3}", E_CHAR " '.'"),
    N("n_number_letter", "{\"a\":1a}", E_CHAR " 'a'"),
    N("n_number_unterminated", "{\"a\":12", E_END),
    N("n_number_unterminated_exp", "{\"a\":1e", E_END),

    /* literals */

    N("n_literal_tru", "{\"a\":tru}", E_LIT),
    N("n_literal_case", "{\"a\":True}", E_CHAR " 'T'"),
    N("n_literal_inner_case", "{\"a\":trUe}", E_LIT),
    N("n_literal_nul", "{\"a\":nul}", E_LIT),
    N("n_literal_nulll", "{\"a\":nulll}", E_CHAR " 'l'"),
    N("n_literal_falsee", "{\"a\":falsee}", E_CHAR " 'e'"),
    N("n_literal_t", "{\"a\":t}", E_LIT),
    N("n_literal_truefalse", "{\"a\":truefalse}", E_CHAR " 'f'"),
    N("n_literal_undefined", "{\"a\":undefined}", E_CHAR " 'u'"),
    N("n_literal_unterminated", "{\"a\":fal", E_END),

    /* the fields of a request */

    Y("y_request",
      "{\"model\":\"ai/smollm2\",\"messages\":[{\"role\":\"user\","
      "\"content\":\"hi\"}],\"stream\":true,\"max_tokens\":64}"),
    Y("y_request_model_escapes",
      "{\"model\":\"a\\/b\\n\\u0000\\u00e9\\uD83D\\uDE00\"}"),
    Y("y_request_nested_model",
      "{\"x\":{\"model\":\"no\"},\"messages\":[{\"model\":\"no\"}],"
      "\"model\":\"yes\"}"),
    Y("y_request_model_types",
      "{\"model\":1,\"model\":null,\"model\":{\"a\":[1]},\"stream\":false,"
      "\"a\":\"truncated\",\"s\":12345678901234}"),
    Y("y_request_escaped_key", "{\"mod\\u0065l\":\"x\"}"),
    N("n_request_bad_model", "{\"model\":\"a\x01\"}", E_CTRL),
    N("n_request_model_unterminated", "{\"model\":\"abc", E_UNTERM),
};


static void
run(result_t *r, const char *doc, size_t len, const size_t *cuts,
    size_t ncuts, size_t max_depth)
{
    int                rc;
    char               err[160];
    size_t             i, pos, err_offset;
    olla_json_scan_t   s;

    memset(r, 0, sizeof(result_t));

    for (i = 0; i < NF; i++) {
        r->f[i].key = field_keys[i];
        r->f[i].key_len = strlen(field_keys[i]);
        r->f[i].value = r->buf[i];
        r->f[i].cap = field_caps[i];
    }

    olla_json_scan_init(&s, r->f, NF, max_depth);

    pos = 0;
    rc = OLLA_JSON_OK;
    err[0] = '\0';
    err_offset = 0;

    for (i = 0; i <= ncuts; i++) {
        size_t  next = (i < ncuts) ? cuts[i] : len;

        if (rc == OLLA_JSON_OK) {
            rc = olla_json_scan_feed(&s, doc + pos, next - pos);

            if (rc != OLLA_JSON_OK) {
                memcpy(err, s.err, sizeof(err));
                err_offset = s.err_offset;
            }

        } else {
            /* after an error, feeding keeps failing and changes nothing */
            assert_int_equal(olla_json_scan_feed(&s, doc + pos, next - pos),
                             OLLA_JSON_ERROR);
            assert_string_equal(s.err, err);
            assert_int_equal(s.err_offset, err_offset);
        }

        pos = next;
    }

    if (rc == OLLA_JSON_OK) {
        rc = olla_json_scan_end(&s);

    } else {
        assert_int_equal(olla_json_scan_end(&s), OLLA_JSON_ERROR);
        assert_string_equal(s.err, err);
    }

    assert_int_equal(olla_json_scan_feed(&s, "", 0),
                     rc == OLLA_JSON_OK ? OLLA_JSON_OK : OLLA_JSON_ERROR);

    r->rc = rc;

    if (rc != OLLA_JSON_OK) {
        memcpy(r->err, s.err, sizeof(r->err));
        r->err_offset = s.err_offset;
        assert_true(r->err[0] != '\0');
        assert_true(r->err_offset <= len);
    }
}


static void
same_result(const char *name, const char *mode, const result_t *a,
    const result_t *b)
{
    size_t  i, n;

    if (a->rc != b->rc || strcmp(a->err, b->err) != 0
        || a->err_offset != b->err_offset)
    {
        print_message("%s (%s): %d \"%s\" @%zu vs %d \"%s\" @%zu\n",
                      name, mode, a->rc, a->err, a->err_offset,
                      b->rc, b->err, b->err_offset);
        fail();
    }

    if (a->rc != OLLA_JSON_OK) {
        return;
    }

    for (i = 0; i < NF; i++) {
        const olla_json_field_t  *x = &a->f[i], *y = &b->f[i];

        if (x->type != y->type || x->len != y->len
            || x->truncated != y->truncated || x->count != y->count
            || x->start != y->start || x->end != y->end)
        {
            print_message("%s (%s): field %s differs\n", name, mode,
                          field_keys[i]);
            fail();
        }

        n = x->len < x->cap ? x->len : x->cap;

        if (memcmp(x->value, y->value, n) != 0) {
            print_message("%s (%s): value of %s differs\n", name, mode,
                          field_keys[i]);
            fail();
        }
    }
}


/* every way of feeding doc gives the result of feeding it whole */

static void
check_splits(const char *name, const char *doc, size_t len, size_t max_depth,
    result_t *whole)
{
    size_t     i, j, *cuts;
    result_t   r;

    run(whole, doc, len, NULL, 0, max_depth);

    for (i = 0; i <= len; i++) {
        run(&r, doc, len, &i, 1, max_depth);
        same_result(name, "split in two", whole, &r);
    }

    if (len <= 96) {
        size_t  c[2];

        for (i = 0; i <= len; i++) {
            for (j = i; j <= len; j++) {
                c[0] = i;
                c[1] = j;
                run(&r, doc, len, c, 2, max_depth);
                same_result(name, "split in three", whole, &r);
            }
        }
    }

    if (len > 1) {
        cuts = malloc((len - 1) * sizeof(size_t));
        assert_non_null(cuts);

        for (i = 0; i < len - 1; i++) {
            cuts[i] = i + 1;
        }

        run(&r, doc, len, cuts, len - 1, max_depth);
        same_result(name, "byte at a time", whole, &r);
        free(cuts);
    }
}


static void
test_table(void **state)
{
    size_t     i, ny, nn;
    result_t   r;

    ny = 0;
    nn = 0;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const json_case_t  *c = &cases[i];

        assert_true(c->name[0] == (c->ok ? 'y' : 'n'));

        check_splits(c->name, c->doc, c->len, 0, &r);

        if ((r.rc == OLLA_JSON_OK) != c->ok) {
            print_message("%s: expected %s, got \"%s\" at %zu\n", c->name,
                          c->ok ? "valid" : "invalid", r.err, r.err_offset);
            fail();
        }

        if (!c->ok && c->err && strstr(r.err, c->err) == NULL) {
            print_message("%s: expected \"%s\", got \"%s\"\n", c->name,
                          c->err, r.err);
            fail();
        }

        if (c->ok) {
            ny++;

        } else {
            nn++;
        }
    }

    print_message("table: %zu valid and %zu invalid documents, each fed "
                  "whole, split and byte by byte\n", ny, nn);
}


/* error offsets of a few documents */

static void
test_error_offsets(void **state)
{
    size_t     i;
    result_t   r;

    static const struct {
        const char  *doc;
        size_t       offset;
    } t[] = {
        { "{\"a\":1,}", 7 },
        { "{\"a\":01}", 6 },
        { "{\"s\":\"ab\x01\"}", 8 },
        { "{\"s\":\"ab\\x\"}", 9 },
        { "{\"s\":\"\xc3(\"}", 7 },
        { "{\"s\":\"\xe0\x80\x80\"}", 7 },
        { "{\"s\":\"\xff\"}", 6 },
        { "{} x", 3 },
        { "{\"a\":", 5 },
        { "{\"a\":\"abc", 9 },
        { "[1]", 0 },
        { "  x", 2 },
        { "{\"a\":tx}", 6 },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        check_splits(t[i].doc, t[i].doc, strlen(t[i].doc), 0, &r);
        assert_int_equal(r.rc, OLLA_JSON_ERROR);

        if (r.err_offset != t[i].offset) {
            print_message("%s: offset %zu, expected %zu (%s)\n", t[i].doc,
                          r.err_offset, t[i].offset, r.err);
            fail();
        }
    }
}


static char *
nest(size_t levels, size_t *len)
{
    char    *p;
    size_t   n;

    /* {"a":[[...[0]...]]} with levels containers in all */

    n = 7 + 2 * (levels - 1);
    p = malloc(n + 1);
    assert_non_null(p);

    memcpy(p, "{\"a\":", 5);
    memset(p + 5, '[', levels - 1);
    p[4 + levels] = '0';
    memset(p + 5 + levels, ']', levels - 1);
    p[n - 1] = '}';
    p[n] = '\0';
    *len = n;

    return p;
}


static char *
nest_objects(size_t levels, size_t *len)
{
    char    *p;
    size_t   i, n;

    /* {"a":{"a":...{}...}} */

    n = 5 * (levels - 1) + 2 + (levels - 1);
    p = malloc(n + 1);
    assert_non_null(p);

    for (i = 0; i < levels - 1; i++) {
        memcpy(p + 5 * i, "{\"a\":", 5);
    }

    memcpy(p + 5 * (levels - 1), "{}", 2);
    memset(p + 5 * (levels - 1) + 2, '}', levels - 1);
    p[n] = '\0';
    *len = n;

    return p;
}


static void
depth_case(size_t levels, size_t max_depth, int objects, int ok)
{
    char      *doc, name[64], msg[64];
    size_t     len, lim;
    result_t   r;

    doc = objects ? nest_objects(levels, &len) : nest(levels, &len);
    snprintf(name, sizeof(name), "depth %zu/%zu", levels, max_depth);

    run(&r, doc, len, NULL, 0, max_depth);

    if ((r.rc == OLLA_JSON_OK) != ok) {
        print_message("%s: %s\n", name, r.err);
        fail();
    }

    if (!ok) {
        lim = max_depth == 0 ? 128 : max_depth > 512 ? 512 : max_depth;
        snprintf(msg, sizeof(msg), "JSON nested deeper than %zu levels", lim);
        assert_string_equal(r.err, msg);

        /* the offset of the bracket that goes one level too deep */
        assert_int_equal(r.err_offset, objects ? 5 * lim : 5 + lim - 1);
    }

    if (len < 2000) {
        result_t  w;

        check_splits(name, doc, len, max_depth, &w);
        same_result(name, "whole", &r, &w);
    }

    free(doc);
}


static void
test_depth(void **state)
{
    depth_case(1, 0, 0, 1);
    depth_case(2, 0, 0, 1);
    depth_case(128, 0, 0, 1);
    depth_case(129, 0, 0, 0);
    depth_case(128, 0, 1, 1);
    depth_case(129, 0, 1, 0);
    depth_case(1000, 0, 0, 0);
    depth_case(1, 1, 0, 1);
    depth_case(2, 1, 0, 0);
    depth_case(2, 1, 1, 0);
    depth_case(3, 2, 1, 0);
    depth_case(2, 2, 1, 1);
    depth_case(512, 512, 0, 1);
    depth_case(513, 512, 0, 0);
    depth_case(512, 512, 1, 1);
    depth_case(513, 512, 1, 0);
    depth_case(512, 100000, 0, 1);
    depth_case(513, 100000, 0, 0);
    depth_case(300, 300, 0, 1);
    depth_case(301, 300, 0, 0);
    depth_case(5000, 512, 0, 0);
}


/* scans doc whole and split everywhere; returns the whole result */

static int
scan_fields(const char *doc, size_t len, olla_json_field_t *f, size_t nf)
{
    int                rc, rc2;
    size_t             i, k;
    olla_json_scan_t   s;
    olla_json_field_t  g[8];
    char               gbuf[8][64];

    olla_json_scan_init(&s, f, nf, 0);
    rc = olla_json_scan_feed(&s, doc, len);

    if (rc == OLLA_JSON_OK) {
        rc = olla_json_scan_end(&s);
    }

    /* the same document split in two everywhere: same small-cap results */

    assert_true(nf <= 8);

    for (k = 0; k <= len; k += (len > 4096 ? 997 : 1)) {
        for (i = 0; i < nf; i++) {
            g[i] = f[i];
            g[i].value = gbuf[i];
            g[i].cap = f[i].cap < 64 ? f[i].cap : 64;
        }

        olla_json_scan_init(&s, g, nf, 0);
        rc2 = olla_json_scan_feed(&s, doc, k);

        if (rc2 == OLLA_JSON_OK) {
            rc2 = olla_json_scan_feed(&s, doc + k, len - k);
        }

        if (rc2 == OLLA_JSON_OK) {
            rc2 = olla_json_scan_end(&s);
        }

        assert_int_equal(rc, rc2);

        for (i = 0; rc == OLLA_JSON_OK && i < nf; i++) {
            assert_int_equal(g[i].type, f[i].type);
            assert_int_equal(g[i].len, f[i].len);
            assert_int_equal(g[i].count, f[i].count);
            assert_int_equal(g[i].start, f[i].start);
            assert_int_equal(g[i].end, f[i].end);
            assert_memory_equal(g[i].value, f[i].value,
                                g[i].len < g[i].cap ? g[i].len : g[i].cap);
        }
    }

    return rc;
}


static void
field_init(olla_json_field_t *f, const char *key, char *buf, size_t cap)
{
    memset(f, 0xa5, sizeof(olla_json_field_t));
    f->key = key;
    f->key_len = strlen(key);
    f->value = buf;
    f->cap = cap;
    f->opening = OLLA_JSON_OPENING_NONE;
}


/* body[start..end) is the raw token */

static void
assert_token(const char *doc, const olla_json_field_t *f, const char *raw)
{
    assert_int_equal(f->end - f->start, strlen(raw));
    assert_memory_equal(doc + f->start, raw, strlen(raw));
}


static void
test_model_escapes(void **state)
{
    char               buf[64];
    const char        *doc;
    olla_json_field_t  f;

    static const char  want[] = "ai/smollm2:latest\n\r\0\t\"\\x\xc3\xa9"
                                "\xf0\x9f\x98\x80\xe2\x82\xac";

    doc = "{\"messages\":[],\"model\":\"ai\\/smollm2:latest\\n\\r\\u0000\\t"
          "\\\"\\\\x\\u00e9\\uD83D\\uDE00\xe2\x82\xac\",\"stream\":true}";

    field_init(&f, "model", buf, sizeof(buf));
    assert_int_equal(scan_fields(doc, strlen(doc), &f, 1), OLLA_JSON_OK);

    assert_int_equal(f.type, OLLA_JSON_STRING);
    assert_int_equal(f.count, 1);
    assert_int_equal(f.truncated, 0);
    assert_int_equal(f.len, sizeof(want) - 1);
    assert_memory_equal(buf, want, sizeof(want) - 1);
    assert_int_equal(buf[f.len], '\0');
    assert_int_equal(f.start, strstr(doc, "\"model\":") - doc + 8);
    assert_int_equal(doc[f.start], '"');
    assert_int_equal(doc[f.end - 1], '"');
    assert_int_equal(doc[f.end], ',');
    assert_int_equal(f.end, strstr(doc, ",\"stream\"") - doc);

    /* exactly the capacity: not truncated, no room for a NUL */
    field_init(&f, "model", buf, sizeof(want) - 1);
    buf[sizeof(want) - 1] = 'Z';
    assert_int_equal(scan_fields(doc, strlen(doc), &f, 1), OLLA_JSON_OK);
    assert_int_equal(f.len, sizeof(want) - 1);
    assert_int_equal(f.truncated, 0);
    assert_int_equal(buf[sizeof(want) - 1], 'Z');

    /* one byte short: truncated in the middle of a UTF-8 sequence */
    field_init(&f, "model", buf, sizeof(want) - 2);
    assert_int_equal(scan_fields(doc, strlen(doc), &f, 1), OLLA_JSON_OK);
    assert_int_equal(f.len, sizeof(want) - 1);
    assert_int_equal(f.truncated, 1);
    assert_memory_equal(buf, want, sizeof(want) - 2);
}


static void
test_model_long(void **state)
{
    char               *doc, *big, *p;
    size_t              i, len;
    olla_json_field_t   f;
    char                small[4096];

    /* a 10 KB model name, with escapes spread through it */

    doc = malloc(32768);
    big = malloc(16384);
    assert_non_null(doc);
    assert_non_null(big);

    p = doc;
    p += sprintf(p, "{\"stream\":false,\"model\":\"");

    for (i = 0; i < 10240; i++) {
        if (i % 1000 == 999) {
            p += sprintf(p, "\\u%04x", (unsigned) ('A' + i % 26));

        } else if (i % 333 == 0) {
            p += sprintf(p, "\\n");

        } else {
            *p++ = (char) ('a' + i % 26);
        }
    }

    p += sprintf(p, "\",\"max_tokens\":10}");
    len = p - doc;

    field_init(&f, "model", small, sizeof(small));
    assert_int_equal(scan_fields(doc, len, &f, 1), OLLA_JSON_OK);
    assert_int_equal(f.type, OLLA_JSON_STRING);
    assert_int_equal(f.len, 10240);
    assert_int_equal(f.truncated, 1);

    for (i = 0; i < sizeof(small); i++) {
        char  want = (i % 1000 == 999) ? (char) ('A' + i % 26)
                     : (i % 333 == 0) ? '\n' : (char) ('a' + i % 26);

        if (small[i] != want) {
            print_message("byte %zu: %02x, want %02x\n", i,
                          (unsigned char) small[i], (unsigned char) want);
            fail();
        }
    }

    field_init(&f, "model", big, 16384);
    assert_int_equal(scan_fields(doc, len, &f, 1), OLLA_JSON_OK);
    assert_int_equal(f.len, 10240);
    assert_int_equal(f.truncated, 0);
    assert_memory_equal(big, small, sizeof(small));
    assert_int_equal(big[10240], '\0');
    assert_int_equal(big[10239], 'a' + 10239 % 26);
    assert_int_equal(f.start, 24);
    assert_int_equal(f.end, len - 17);

    /* capacity 0, no buffer: type, length and offsets only */
    field_init(&f, "model", NULL, 0);
    assert_int_equal(scan_fields(doc, len, &f, 1), OLLA_JSON_OK);
    assert_int_equal(f.type, OLLA_JSON_STRING);
    assert_int_equal(f.len, 10240);
    assert_int_equal(f.truncated, 1);
    assert_int_equal(f.end, len - 17);

    free(doc);
    free(big);
}


static void
test_field_types(void **state)
{
    size_t             i;
    olla_json_field_t  f[3];
    char               buf[3][32];

    static const struct {
        const char        *doc;
        olla_json_type_e   type;
        const char        *raw;       /* the value token */
        const char        *value;     /* captured, NULL: nothing */
    } t[] = {
        { "{\"model\":12.5e3}", OLLA_JSON_NUMBER, "12.5e3", "12.5e3" },
        { "{\"model\":-0 }", OLLA_JSON_NUMBER, "-0", "-0" },
        { "{\"model\":0}", OLLA_JSON_NUMBER, "0", "0" },
        { "{\"model\":-1.25E+10,\"x\":1}", OLLA_JSON_NUMBER, "-1.25E+10",
          "-1.25E+10" },
        { "{\"model\":null}", OLLA_JSON_NULL, "null", "" },
        { "{\"model\" : true }", OLLA_JSON_TRUE, "true", "" },
        { "{\"model\":false,\"x\":1}", OLLA_JSON_FALSE, "false", "" },
        { "{\"model\":{\"model\":\"x\",\"a\":[1]}}", OLLA_JSON_OBJECT,
          "{\"model\":\"x\",\"a\":[1]}", "" },
        { "{\"model\":{}}", OLLA_JSON_OBJECT, "{}", "" },
        { "{\"model\":[\"a\",{\"model\":\"b\"}] , \"x\":1}",
          OLLA_JSON_ARRAY, "[\"a\",{\"model\":\"b\"}]", "" },
        { "{\"model\":\"\"}", OLLA_JSON_STRING, "\"\"", "" },
        { "{\n  \"model\": \"m\"\n}", OLLA_JSON_STRING, "\"m\"", "m" },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        field_init(&f[0], "model", buf[0], sizeof(buf[0]));
        assert_int_equal(scan_fields(t[i].doc, strlen(t[i].doc), f, 1),
                         OLLA_JSON_OK);
        assert_int_equal(f[0].type, t[i].type);
        assert_int_equal(f[0].count, 1);
        assert_token(t[i].doc, &f[0], t[i].raw);
        assert_int_equal(f[0].len, strlen(t[i].value));
        assert_memory_equal(buf[0], t[i].value, f[0].len);
    }

    /* stream and max_tokens, absent model */

    field_init(&f[0], "model", buf[0], sizeof(buf[0]));
    field_init(&f[1], "stream", buf[1], sizeof(buf[1]));
    field_init(&f[2], "max_tokens", buf[2], sizeof(buf[2]));

    {
        const char  *doc = "{\"stream\":true,\"max_tokens\":4096,"
                           "\"messages\":[{\"role\":\"user\"}]}";

        assert_int_equal(scan_fields(doc, strlen(doc), f, 3), OLLA_JSON_OK);
        assert_int_equal(f[0].type, OLLA_JSON_NONE);
        assert_int_equal(f[0].count, 0);
        assert_int_equal(f[0].len, 0);
        assert_int_equal(f[1].type, OLLA_JSON_TRUE);
        assert_token(doc, &f[1], "true");
        assert_int_equal(f[2].type, OLLA_JSON_NUMBER);
        assert_int_equal(f[2].len, 4);
        assert_memory_equal(buf[2], "4096", 4);
        assert_token(doc, &f[2], "4096");
    }

    /* a number longer than the buffer */

    field_init(&f[0], "max_tokens", buf[0], 4);

    {
        const char  *doc = "{\"max_tokens\":123456789}";

        assert_int_equal(scan_fields(doc, strlen(doc), f, 1), OLLA_JSON_OK);
        assert_int_equal(f[0].type, OLLA_JSON_NUMBER);
        assert_int_equal(f[0].len, 9);
        assert_int_equal(f[0].truncated, 1);
        assert_memory_equal(buf[0], "1234", 4);
        assert_token(doc, &f[0], "123456789");
    }
}


static void
test_duplicates_and_nesting(void **state)
{
    size_t             i;
    const char        *doc;
    olla_json_field_t  f[2];
    char               buf[2][32];

    static const char  *nested[] = {
        "{\"messages\":[{\"model\":\"x\"}],\"a\":{\"model\":\"y\"}}",
        "{\"a\":{\"b\":{\"model\":\"z\"}},\"c\":[[{\"model\":1}]]}",
        "{\"model \":\"x\",\"Model\":\"y\",\"mode\":\"z\",\"modell\":1}",
        "{\"a\":\"model\",\"b\":[\"model\",\"x\"]}",
    };

    /* the last occurrence wins */

    doc = "{\"model\":\"first-long-name\",\"x\":[],\"model\":\"bb\"}";
    field_init(&f[0], "model", buf[0], sizeof(buf[0]));
    assert_int_equal(scan_fields(doc, strlen(doc), f, 1), OLLA_JSON_OK);
    assert_int_equal(f[0].type, OLLA_JSON_STRING);
    assert_int_equal(f[0].count, 2);
    assert_int_equal(f[0].len, 2);
    assert_int_equal(f[0].truncated, 0);
    assert_memory_equal(buf[0], "bb", 3);
    assert_token(doc, &f[0], "\"bb\"");
    assert_int_equal(f[0].start, strlen(doc) - 5);

    doc = "{\"model\":\"a-long-model-name-that-is-truncated\","
          "\"model\":7}";
    field_init(&f[0], "model", buf[0], 8);
    assert_int_equal(scan_fields(doc, strlen(doc), f, 1), OLLA_JSON_OK);
    assert_int_equal(f[0].type, OLLA_JSON_NUMBER);
    assert_int_equal(f[0].count, 2);
    assert_int_equal(f[0].len, 1);
    assert_int_equal(f[0].truncated, 0);
    assert_memory_equal(buf[0], "7", 2);
    assert_token(doc, &f[0], "7");

    doc = "{\"model\":\"x\",\"model\":{\"y\":1},\"model\":null}";
    field_init(&f[0], "model", buf[0], sizeof(buf[0]));
    assert_int_equal(scan_fields(doc, strlen(doc), f, 1), OLLA_JSON_OK);
    assert_int_equal(f[0].type, OLLA_JSON_NULL);
    assert_int_equal(f[0].count, 3);
    assert_token(doc, &f[0], "null");

    /* nested members of the same name do not count */

    for (i = 0; i < sizeof(nested) / sizeof(nested[0]); i++) {
        field_init(&f[0], "model", buf[0], sizeof(buf[0]));
        assert_int_equal(scan_fields(nested[i], strlen(nested[i]), f, 1),
                         OLLA_JSON_OK);
        assert_int_equal(f[0].type, OLLA_JSON_NONE);
        assert_int_equal(f[0].count, 0);
    }

    doc = "{\"x\":{\"model\":\"no\"},\"messages\":[{\"model\":\"no\"}],"
          "\"model\":\"yes\",\"y\":{\"model\":\"no\"}}";
    field_init(&f[0], "model", buf[0], sizeof(buf[0]));
    assert_int_equal(scan_fields(doc, strlen(doc), f, 1), OLLA_JSON_OK);
    assert_int_equal(f[0].count, 1);
    assert_int_equal(f[0].len, 3);
    assert_memory_equal(buf[0], "yes", 4);
    assert_token(doc, &f[0], "\"yes\"");

    /* an escaped member name matches once unescaped */

    doc = "{\"mod\\u0065l\":\"x\",\"\\u0073tream\":false}";
    field_init(&f[0], "model", buf[0], sizeof(buf[0]));
    field_init(&f[1], "stream", buf[1], sizeof(buf[1]));
    assert_int_equal(scan_fields(doc, strlen(doc), f, 2), OLLA_JSON_OK);
    assert_int_equal(f[0].type, OLLA_JSON_STRING);
    assert_memory_equal(buf[0], "x", 2);
    assert_int_equal(f[1].type, OLLA_JSON_FALSE);

    /* a key of 64 bytes fits the key buffer, one of 65 never matches */

    {
        char  key64[65], key65[66], d[256];

        memset(key64, 'k', 64);
        key64[64] = '\0';
        memset(key65, 'k', 65);
        key65[65] = '\0';

        snprintf(d, sizeof(d), "{\"%s\":1,\"%s\":2}", key64, key65);
        field_init(&f[0], key64, buf[0], sizeof(buf[0]));
        field_init(&f[1], key65, buf[1], sizeof(buf[1]));
        assert_int_equal(scan_fields(d, strlen(d), f, 2), OLLA_JSON_OK);
        assert_int_equal(f[0].type, OLLA_JSON_NUMBER);
        assert_memory_equal(buf[0], "1", 2);
        assert_int_equal(f[1].type, OLLA_JSON_NONE);
    }

    /* no fields at all */

    {
        olla_json_scan_t  s;

        doc = "{\"model\":\"x\"}";
        olla_json_scan_init(&s, NULL, 0, 0);
        assert_int_equal(olla_json_scan_feed(&s, doc, strlen(doc)),
                         OLLA_JSON_OK);
        assert_int_equal(olla_json_scan_end(&s), OLLA_JSON_OK);
        assert_int_equal(olla_json_scan_end(&s), OLLA_JSON_OK);
    }

    /* an error in a later member: the verdict is the error */

    doc = "{\"model\":\"x\",\"y\":tru}";
    field_init(&f[0], "model", buf[0], sizeof(buf[0]));
    assert_int_equal(scan_fields(doc, strlen(doc), f, 1), OLLA_JSON_ERROR);
}


/*
 * The element count of a captured array or object, with a second field
 * captured alongside: the same whole, split in two at every byte, split
 * in three at every pair of positions and fed a byte at a time.
 */

static void
elements_case(const char *doc, olla_json_type_e type, size_t want,
    size_t want_n)
{
    size_t             len, a, b, k, i;
    olla_json_scan_t   s;
    olla_json_field_t  f[2];
    char               buf[2][16];

    len = strlen(doc);

    for (k = 0; k < 4; k++) {
        for (a = 0; a <= len; a++) {
            for (b = a; b <= len; b++) {

                if ((k == 0 && (a || b)) || (k == 1 && b != a)
                    || (k == 3 && (a || b)))
                {
                    continue;
                }

                field_init(&f[0], "messages", buf[0], sizeof(buf[0]));
                field_init(&f[1], "n", buf[1], sizeof(buf[1]));
                olla_json_scan_init(&s, f, 2, 0);

                if (k == 3) {
                    /* one byte at a time */
                    for (i = 0; i < len; i++) {
                        assert_int_equal(olla_json_scan_feed(&s, doc + i, 1),
                                         OLLA_JSON_OK);
                    }

                } else {
                    /* whole (k 0), in two (k 1) or in three (k 2) */
                    assert_int_equal(olla_json_scan_feed(&s, doc, a),
                                     OLLA_JSON_OK);
                    assert_int_equal(olla_json_scan_feed(&s, doc + a, b - a),
                                     OLLA_JSON_OK);
                    assert_int_equal(olla_json_scan_feed(&s, doc + b,
                                                         len - b),
                                     OLLA_JSON_OK);
                }

                assert_int_equal(olla_json_scan_end(&s), OLLA_JSON_OK);

                if (f[0].type != type || f[0].elements != want
                    || f[1].elements != want_n)
                {
                    print_message("%s (mode %zu, cuts %zu %zu): type %d, "
                                  "%zu and %zu elements; want %d, %zu "
                                  "and %zu\n", doc, k, a, b, f[0].type,
                                  f[0].elements, f[1].elements, type, want,
                                  want_n);
                    fail();
                }

                if (len > 160 && k == 2) {
                    /* long documents: every cut in two is enough */
                    break;
                }
            }
        }
    }
}


static void
test_elements(void **state)
{
    size_t  i;

    static const struct {
        const char        *doc;
        olla_json_type_e   type;
        size_t             elements;
        size_t             n;           /* of the member "n" */
    } t[] = {
        { "{\"messages\":[]}", OLLA_JSON_ARRAY, 0, 0 },
        { "{\"messages\":[ ]}", OLLA_JSON_ARRAY, 0, 0 },
        { "{\"messages\":[1]}", OLLA_JSON_ARRAY, 1, 0 },
        { "{\"messages\" : [ 1 , -2.5e3 , \"x\" ] }", OLLA_JSON_ARRAY, 3,
          0 },
        { "{\"messages\":[true,false,null,{},[]]}", OLLA_JSON_ARRAY, 5, 0 },
        { "{\"messages\":[[1,2,3],[4]]}", OLLA_JSON_ARRAY, 2, 0 },
        { "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"text\",\"text\":\"a,b\"},{}]},{\"messages\":[1,2,3]}]}",
          OLLA_JSON_ARRAY, 2, 0 },
        { "{\"messages\":[\"[\",\"]\",\",\",\"\\\"\"]}", OLLA_JSON_ARRAY,
          4, 0 },
        { "{\"messages\":{}}", OLLA_JSON_OBJECT, 0, 0 },
        { "{\"messages\":{\"a\":1,\"b\":{\"c\":[1,2]},\"d\":[]}}",
          OLLA_JSON_OBJECT, 3, 0 },
        { "{\"messages\":{\"a\":1,\"a\":2}}", OLLA_JSON_OBJECT, 2, 0 },
        { "{\"messages\":\"[1,2]\"}", OLLA_JSON_STRING, 0, 0 },
        { "{\"messages\":12}", OLLA_JSON_NUMBER, 0, 0 },
        { "{\"messages\":null}", OLLA_JSON_NULL, 0, 0 },
        { "{\"x\":[1,2,3]}", OLLA_JSON_NONE, 0, 0 },

        /* the last occurrence counts */
        { "{\"messages\":[1,2],\"messages\":[]}", OLLA_JSON_ARRAY, 0, 0 },
        { "{\"messages\":[],\"messages\":[1,2]}", OLLA_JSON_ARRAY, 2, 0 },
        { "{\"messages\":[1,2,3],\"messages\":\"s\"}", OLLA_JSON_STRING, 0,
          0 },

        /* nested members of the same name and other members */
        { "{\"x\":{\"messages\":[1,2,3]},\"messages\":[1],"
          "\"y\":[[\"messages\"]]}", OLLA_JSON_ARRAY, 1, 0 },
        { "{\"n\":[1,[2,3],{\"n\":[4]}],\"messages\":[{}, {}],\"n2\":[1]}",
          OLLA_JSON_ARRAY, 2, 3 },
        { "{\"messages\":[1,2],\"n\":{\"k\":[1,2,3,4]}}", OLLA_JSON_ARRAY,
          2, 1 },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        elements_case(t[i].doc, t[i].type, t[i].elements, t[i].n);
    }

    /* a long array */

    {
        char    *doc, *p;
        size_t   k;

        doc = malloc(16 + 4 * 5000);
        assert_non_null(doc);

        p = doc + sprintf(doc, "{\"messages\":[");

        for (k = 0; k < 5000; k++) {
            p += sprintf(p, k ? ",%zu" : "%zu", k % 10);
        }

        sprintf(p, "]}");
        elements_case(doc, OLLA_JSON_ARRAY, 5000, 0);
        free(doc);
    }
}


/* ------------------------------------------------------------------------
 * differential against jansson
 */


typedef struct {
    uint64_t  s;
} rng_t;


static uint32_t
rnd(rng_t *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;

    return (uint32_t) (r->s >> 11);
}


typedef struct {
    char    *p;
    size_t   len;
    size_t   cap;
} sbuf_t;


static void
sb_add(sbuf_t *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }

    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}


static void
sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}


static void
gen_string(rng_t *r, sbuf_t *b, int key)
{
    char      tmp[16];
    unsigned  i, n, k;

    static const char  *words[] = {
        "model", "stream", "max_tokens", "a", "s", "role", "content",
        "ai/smollm2", "x"
    };

    static const char  *pieces[] = {
        "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
        "\\u0000", "\\u00e9", "\\u20AC", "\\uD83D\\uDE00", "\\uDBFF\\uDFFF",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
        "\xed\x9f\xbf", "\x7f", " ", "{", "}", "[", "]", ":", ",",
        "\\u0041", "\\u07ff", "\\u0800"
    };

    sb_str(b, "\"");

    if (rnd(r) % 3 == 0) {
        sb_str(b, words[rnd(r) % (sizeof(words) / sizeof(words[0]))]);
        sb_str(b, "\"");
        return;
    }

    n = rnd(r) % (key ? 8 : 40);

    for (i = 0; i < n; i++) {
        k = rnd(r) % 4;

        if (k == 0) {
            /* no "\u0000" in member names: jansson rejects it (D_NULKEY) */
            k = rnd(r) % (sizeof(pieces) / sizeof(pieces[0]));
            sb_str(b, key && k == 8 ? "\\u0001" : pieces[k]);

        } else if (k == 1 && !key) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", rnd(r) % 0xd800);
            sb_str(b, tmp);

        } else {
            tmp[0] = (char) (0x20 + rnd(r) % 0x5f);

            if (tmp[0] == '"' || tmp[0] == '\\') {
                tmp[0] = 'q';
            }

            sb_add(b, tmp, 1);
        }
    }

    sb_str(b, "\"");
}


static void
gen_number(rng_t *r, sbuf_t *b)
{
    static const char  *nums[] = {
        "0", "-0", "1", "-1", "12", "0.5", "-0.25", "1e5", "1E+5", "2e-3",
        "123456789", "-98765.4321e-12", "0e0", "1.0E10", "42"
    };

    sb_str(b, nums[rnd(r) % (sizeof(nums) / sizeof(nums[0]))]);
}


static void
gen_ws(rng_t *r, sbuf_t *b)
{
    static const char  *ws[] = { "", "", "", " ", "\n", "\t", "\r\n  " };

    sb_str(b, ws[rnd(r) % (sizeof(ws) / sizeof(ws[0]))]);
}


static void
gen_value(rng_t *r, sbuf_t *b, unsigned depth)
{
    unsigned  i, n, k;

    k = rnd(r) % (depth > 6 ? 6 : 8);

    switch (k) {
    case 0:
    case 1:
        gen_string(r, b, 0);
        break;
    case 2:
        gen_number(r, b);
        break;
    case 3:
        sb_str(b, "true");
        break;
    case 4:
        sb_str(b, "false");
        break;
    case 5:
        sb_str(b, "null");
        break;
    case 6:
        sb_str(b, "[");
        n = rnd(r) % 5;

        for (i = 0; i < n; i++) {
            if (i) {
                sb_str(b, ",");
            }

            gen_ws(r, b);
            gen_value(r, b, depth + 1);
            gen_ws(r, b);
        }

        sb_str(b, "]");
        break;
    default:
        sb_str(b, "{");
        n = rnd(r) % 5;

        for (i = 0; i < n; i++) {
            if (i) {
                sb_str(b, ",");
            }

            gen_ws(r, b);
            gen_string(r, b, 1);
            gen_ws(r, b);
            sb_str(b, ":");
            gen_ws(r, b);
            gen_value(r, b, depth + 1);
            gen_ws(r, b);
        }

        sb_str(b, "}");
        break;
    }
}


static void
gen_doc(rng_t *r, sbuf_t *b)
{
    unsigned  i, n;

    b->len = 0;
    gen_ws(r, b);
    sb_str(b, "{");
    n = rnd(r) % 6;

    for (i = 0; i < n; i++) {
        if (i) {
            sb_str(b, ",");
        }

        gen_ws(r, b);

        if (rnd(r) % 3 == 0) {
            sb_str(b, "\"model\"");

        } else {
            gen_string(r, b, 1);
        }

        sb_str(b, ":");
        gen_ws(r, b);
        gen_value(r, b, 1);
    }

    sb_str(b, "}");
    gen_ws(r, b);
}


static void
mutate(rng_t *r, sbuf_t *b)
{
    char      c;
    size_t    pos;
    unsigned  k;

    static const char  interesting[] = {
        '"', '\\', '{', '}', '[', ']', ',', ':', '0', '1', 'e', '.', '-',
        '+', 'u', 'D', 'n', 't', ' ', '\n', '\x01', '\0', '\x7f',
        '\x80', '\xbf', '\xc0', '\xc3', '\xe0', '\xed', '\xf0', '\xf4',
        '\xf5', '\xff'
    };

    if (b->len == 0) {
        return;
    }

    pos = rnd(r) % b->len;
    k = rnd(r) % 4;
    c = (rnd(r) % 4 == 0) ? (char) rnd(r)
        : interesting[rnd(r) % sizeof(interesting)];

    switch (k) {
    case 0:
        b->p[pos] = c;
        break;
    case 1:
        memmove(b->p + pos, b->p + pos + 1, b->len - pos - 1);
        b->len--;
        break;
    case 2:
        sb_add(b, "", 1);
        memmove(b->p + pos + 1, b->p + pos, b->len - pos - 1);
        b->p[pos] = c;
        break;
    default:
        b->len = pos;
        break;
    }
}


/*
 * jansson's verdict: 1 a valid object, 0 invalid, -1 valid but not an
 * object (D_TOPLEVEL), -2 rejected for a documented difference
 * (D_NUMBER, D_NULKEY), -3 accepted with a raw NUL byte (D_NULBYTE).
 */

static int
jansson_verdict(const char *doc, size_t len, json_t **root)
{
    json_t        *j;
    json_error_t   e;

    *root = NULL;
    j = json_loadb(doc, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);

    if (j == NULL) {
        if (json_error_code(&e) == json_error_numeric_overflow) {
            return -2;
        }

        if (strstr(e.text, "NUL byte in object key") != NULL) {
            return -2;
        }

        return 0;
    }

    if (!json_is_object(j)) {
        json_decref(j);
        return memchr(doc, '\0', len) ? -3 : -1;
    }

    if (memchr(doc, '\0', len) != NULL) {
        json_decref(j);
        return -3;
    }

    *root = j;

    return 1;
}


typedef struct {
    size_t  agree;
    size_t  valid;
    size_t  diffs;
    size_t  models;
} diff_stats_t;


static void
differential(const char *name, const char *doc, size_t len, int diff,
    diff_stats_t *st)
{
    int                 v, ours, ours2;
    size_t              a, b;
    json_t             *root, *model;
    olla_json_scan_t    s, s2;
    olla_json_field_t   f, f2;
    static char         buf[65536], buf2[65536];

    field_init(&f, "model", buf, sizeof(buf));
    olla_json_scan_init(&s, &f, 1, 512);
    ours = olla_json_scan_feed(&s, doc, len) == OLLA_JSON_OK
           && olla_json_scan_end(&s) == OLLA_JSON_OK;

    /* the same in three pieces */

    a = len / 3;
    b = len - len / 4;
    field_init(&f2, "model", buf2, sizeof(buf2));
    olla_json_scan_init(&s2, &f2, 1, 512);
    ours2 = olla_json_scan_feed(&s2, doc, a) == OLLA_JSON_OK
            && olla_json_scan_feed(&s2, doc + a, b - a) == OLLA_JSON_OK
            && olla_json_scan_feed(&s2, doc + b, len - b) == OLLA_JSON_OK
            && olla_json_scan_end(&s2) == OLLA_JSON_OK;

    assert_int_equal(ours, ours2);

    if (ours) {
        assert_int_equal(f.type, f2.type);
        assert_int_equal(f.len, f2.len);
        assert_int_equal(f.start, f2.start);
        assert_int_equal(f.end, f2.end);
        assert_memory_equal(buf, buf2, f.len);

    } else {
        assert_string_equal(s.err, s2.err);
        assert_int_equal(s.err_offset, s2.err_offset);
    }

    v = jansson_verdict(doc, len, &root);

    if (v == -1) {
        /* D_TOPLEVEL */
        assert_false(ours);
        assert_string_equal(s.err, E_OBJ);
        assert_true(diff == 0 || diff == D_TOPLEVEL);
        st->diffs++;
        return;
    }

    if (v == -3) {
        /* D_NULBYTE */
        assert_false(ours);
        assert_true(strstr(s.err, "0x00") != NULL);
        assert_true(diff == 0 || diff == D_NULBYTE);
        st->diffs++;
        return;
    }

    if (v == -2) {
        /* the rest of such a document might be invalid in other ways */
        assert_true(diff == 0 || diff == D_NUMBER || diff == D_NULKEY);
        st->diffs++;
        return;
    }

    assert_true(diff == 0);

    if (ours != v) {
        print_message("%s: ours %s (%s @%zu), jansson %s\n", name,
                      ours ? "valid" : "invalid", ours ? "" : s.err,
                      s.err_offset, v ? "valid" : "invalid");
        fail();
    }

    st->agree++;

    if (!v) {
        return;
    }

    st->valid++;

    model = json_object_get(root, "model");

    if (model == NULL) {
        assert_int_equal(f.type, OLLA_JSON_NONE);

    } else if (json_is_string(model)) {
        assert_int_equal(f.type, OLLA_JSON_STRING);
        assert_int_equal(f.len, json_string_length(model));
        assert_false(f.truncated);
        assert_memory_equal(buf, json_string_value(model), f.len);
        st->models++;

    } else {
        if (json_is_array(model)) {
            assert_int_equal(f.elements, json_array_size(model));
            assert_int_equal(f2.elements, f.elements);
        }

        assert_int_equal(f.type,
                         json_is_object(model) ? OLLA_JSON_OBJECT
                         : json_is_array(model) ? OLLA_JSON_ARRAY
                         : json_is_true(model) ? OLLA_JSON_TRUE
                         : json_is_false(model) ? OLLA_JSON_FALSE
                         : json_is_null(model) ? OLLA_JSON_NULL
                         : OLLA_JSON_NUMBER);
    }

    json_decref(root);
}


static void
test_differential(void **state)
{
    size_t          i, n, len, valid0;
    char           *doc;
    rng_t           r;
    sbuf_t          b, m;
    diff_stats_t    st;

    memset(&st, 0, sizeof(st));

    /* the table, with its documented differences */

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        differential(cases[i].name, cases[i].doc, cases[i].len,
                     cases[i].diff, &st);
    }

    /* depth within jansson's limit and ours */

    doc = nest(512, &len);
    differential("depth 512", doc, len, 0, &st);
    free(doc);

    doc = nest_objects(400, &len);
    differential("depth 400", doc, len, 0, &st);
    free(doc);

    /* generated documents and their mutants */

    r.s = 0x9e3779b97f4a7c15ULL;
    memset(&b, 0, sizeof(b));
    memset(&m, 0, sizeof(m));
    valid0 = st.valid;
    n = 0;

    for (i = 0; i < 3000; i++) {
        unsigned  k, j;

        gen_doc(&r, &b);
        differential("generated", b.p, b.len, 0, &st);
        n++;

        for (k = 0; k < 8; k++) {
            m.len = 0;
            sb_add(&m, b.p, b.len);

            for (j = 0; j <= rnd(&r) % 3; j++) {
                mutate(&r, &m);
            }

            differential("mutant", m.p, m.len, 0, &st);
            n++;
        }
    }

    print_message("differential: %zu documents agree with jansson (%zu "
                  "valid, %zu with a string model), %zu documented "
                  "differences; %zu generated or mutated, %zu of them "
                  "valid\n", st.agree, st.valid, st.models, st.diffs, n,
                  st.valid - valid0);

    free(b.p);
    free(m.p);
}


/* ------------------------------------------------------------------------
 * benchmark
 */


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
json_escape_add(sbuf_t *b, const char *s)
{
    char  c[2];

    for ( ; *s; s++) {
        if (*s == '\n') {
            sb_str(b, "\\n");

        } else if (*s == '"') {
            sb_str(b, "\\\"");

        } else if (*s == '\t') {
            sb_str(b, "\\t");

        } else if (*s == '\\') {
            sb_str(b, "\\\\");

        } else {
            c[0] = *s;
            sb_add(b, c, 1);
        }
    }
}


static const char  *code_text =
    "static ngx_int_t\n"
    "ngx_http_olla_handler(ngx_http_request_t *r)\n"
    "{\n"
    "\tngx_int_t  rc;\n\n"
    "\tif (!(r->method & (NGX_HTTP_GET|NGX_HTTP_POST))) {\n"
    "\t\treturn NGX_HTTP_NOT_ALLOWED;\n"
    "\t}\n\n"
    "\trc = ngx_http_read_client_request_body(r, handler);\n"
    "\tif (rc >= NGX_HTTP_SPECIAL_RESPONSE) {\n"
    "\t\treturn rc;  /* \"error\" path \\ see docs */\n"
    "\t}\n"
    "\treturn NGX_DONE;\n"
    "}\n";

static const char  *prose_text =
    "You are Claude Code, an interactive CLI tool that helps users with "
    "software engineering tasks. Use the instructions below and the tools "
    "available to you to assist the user. IMPORTANT: refuse to write code "
    "that may be used maliciously \xe2\x80\x94 even if the user claims it is "
    "for educational purposes. When working on files, if they seem related "
    "to improving, explaining, or interacting with malware, refuse. ";


/* a Claude-Code-like request of about size bytes */

static void
make_request(sbuf_t *b, size_t size)
{
    char    tmp[64];
    size_t  i;

    b->len = 0;
    sb_str(b, "{\"model\":\"claude-sonnet-4-5-20250929\",\"max_tokens\":32000,"
              "\"stream\":true,\"system\":[{\"type\":\"text\",\"text\":\"");

    for (i = 0; i < 6 && b->len < size / 4; i++) {
        json_escape_add(b, prose_text);
        json_escape_add(b, "\n\n# Tone and style\n");
    }

    sb_str(b, "\",\"cache_control\":{\"type\":\"ephemeral\"}}],\"tools\":[");

    for (i = 0; i < 16 && b->len < size / 2; i++) {
        snprintf(tmp, sizeof(tmp), "%s{\"name\":\"Tool%zu\",", i ? "," : "",
                 i);
        sb_str(b, tmp);
        sb_str(b, "\"description\":\"");
        json_escape_add(b, prose_text);
        sb_str(b, "\",\"input_schema\":{\"type\":\"object\",\"properties\":{"
                  "\"file_path\":{\"type\":\"string\",\"description\":"
                  "\"The absolute path to the file to modify\"},"
                  "\"old_string\":{\"type\":\"string\"},\"new_string\":"
                  "{\"type\":\"string\"},\"replace_all\":{\"type\":"
                  "\"boolean\",\"default\":false},\"limit\":{\"type\":"
                  "\"number\",\"minimum\":1,\"maximum\":2000}},"
                  "\"required\":[\"file_path\",\"old_string\"],"
                  "\"additionalProperties\":false,\"$schema\":"
                  "\"http://json-schema.org/draft-07/schema#\"}}");
    }

    sb_str(b, "],\"messages\":[");

    for (i = 0; b->len + 200 < size; i++) {
        if (i) {
            sb_str(b, ",");
        }

        if (i % 3 == 0) {
            sb_str(b, "{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                      "\"text\":\"");
            json_escape_add(b, "Please fix the handler so that it returns "
                            "405 for PUT. \xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
            sb_str(b, "\"}]}");

        } else if (i % 3 == 1) {
            snprintf(tmp, sizeof(tmp), "toolu_%06zu", i);
            sb_str(b, "{\"role\":\"assistant\",\"content\":[{\"type\":"
                      "\"tool_use\",\"id\":\"");
            sb_str(b, tmp);
            sb_str(b, "\",\"name\":\"Read\",\"input\":{\"file_path\":"
                      "\"/work/src/ngx_http_olla_module.c\",\"limit\":200}}"
                      "]}");

        } else {
            sb_str(b, "{\"role\":\"user\",\"content\":[{\"type\":"
                      "\"tool_result\",\"tool_use_id\":\"toolu_1\","
                      "\"content\":\"");
            json_escape_add(b, code_text);
            json_escape_add(b, code_text);
            sb_str(b, "\"}]}");
        }
    }

    sb_str(b, "],\"temperature\":1,\"metadata\":{\"user_id\":\"u_1\"}}");
}


static void
make_chat(sbuf_t *b)
{
    b->len = 0;
    sb_str(b, "{\"model\":\"ai/smollm2\",\"messages\":[{\"role\":\"system\","
              "\"content\":\"You are a helpful assistant. Answer briefly and "
              "precisely; when you do not know, say so.\"},{\"role\":"
              "\"user\",\"content\":\"What is the capital of France?\"},"
              "{\"role\":\"assistant\",\"content\":\"The capital of France "
              "is Paris.\"},{\"role\":\"user\",\"content\":\"And what is "
              "its population, roughly? Please also give the population of "
              "the metropolitan area, the year of the figure, and the "
              "source you would cite for it. Format the answer as a short "
              "list with one item per line.\\nThanks!\"},{\"role\":"
              "\"assistant\",\"content\":\"About 2.1 million people live "
              "in the city proper (2023) and about 12.3 million in the "
              "metropolitan area (INSEE).\"},{\"role\":\"user\",\"content\":"
              "\"Great, and Lyon?\"}],\"stream\":true,\"max_tokens\":512,"
              "\"temperature\":0.7,\"top_p\":0.95,\"stop\":[\"\\n\\n\"],"
              "\"user\":\"bench\",\"seed\":42,\"presence_penalty\":0,"
              "\"frequency_penalty\":0,\"n\":1,\"logprobs\":false,"
              "\"response_format\":{\"type\":\"text\"},\"stream_options\":"
              "{\"include_usage\":true},\"metadata\":{\"session\":"
              "\"b8f7c2d4-61a3-4e0f-9d1e-2c5a7b3e9f10\"}}");
}


static double
bench_one(const char *label, const char *doc, size_t len)
{
    char               buf[3][64];
    double             t0, t, best;
    size_t             iters, i, round;
    olla_json_scan_t   s;
    olla_json_field_t  f[3];

    field_init(&f[0], "model", buf[0], sizeof(buf[0]));
    field_init(&f[1], "stream", buf[1], sizeof(buf[1]));
    field_init(&f[2], "max_tokens", buf[2], sizeof(buf[2]));

    /* check once, then time the best of three rounds of ~0.1 s */

    olla_json_scan_init(&s, f, 3, 0);
    assert_int_equal(olla_json_scan_feed(&s, doc, len), OLLA_JSON_OK);
    assert_int_equal(olla_json_scan_end(&s), OLLA_JSON_OK);
    assert_int_equal(f[0].type, OLLA_JSON_STRING);

    iters = 1;
    best = 1e9;

    for (round = 0; round < 3; round++) {
        for ( ;; ) {
            t0 = now();

            for (i = 0; i < iters; i++) {
                olla_json_scan_init(&s, f, 3, 0);
                (void) olla_json_scan_feed(&s, doc, len);
                (void) olla_json_scan_end(&s);
            }

            t = now() - t0;

            if (t >= 0.1 || round > 0) {
                break;
            }

            iters *= 2;
        }

        if (t / iters < best) {
            best = t / iters;
        }
    }

    print_message("bench: %-26s %8zu bytes  %8.1f MB/s  %9.0f ns/doc\n",
                  label, len, len / best / 1e6, best * 1e9);

    return best;
}


static void
test_bench(void **state)
{
    sbuf_t  b;
    double  t;

    memset(&b, 0, sizeof(b));

    make_chat(&b);
    t = bench_one("1 KB chat request", b.p, b.len);
    print_message("bench: %.0f ns per 1 KB body\n", t * 1e9 * 1024 / b.len);

    make_request(&b, 50 * 1024);
    bench_one("50 KB Claude Code request", b.p, b.len);

    make_request(&b, 1024 * 1024);
    bench_one("1 MB request", b.p, b.len);

    free(b.p);
}


/* the conversation's opening, as olla_route keys affinity on it */

static uint64_t
opening_of(const char *doc, size_t split)
{
    size_t              len, i;
    olla_json_scan_t    s;
    olla_json_field_t   f[4];
    char                model[64];
    static const char  *keys[4] = { "model", "system", "messages",
                                    "instructions" };
    static const unsigned  modes[4] = {
        OLLA_JSON_OPENING_NONE, OLLA_JSON_OPENING_ALL,
        OLLA_JSON_OPENING_TURNS, OLLA_JSON_OPENING_ALL
    };

    memset(f, 0, sizeof(f));

    for (i = 0; i < 4; i++) {
        f[i].key = keys[i];
        f[i].key_len = strlen(keys[i]);
        f[i].opening = modes[i];
    }

    f[0].value = model;
    f[0].cap = sizeof(model);

    len = strlen(doc);

    olla_json_scan_init(&s, f, 4, 0);

    if (split > len) {
        /* one byte at a time */
        for (i = 0; i < len; i++) {
            assert_int_equal(olla_json_scan_feed(&s, doc + i, 1),
                             OLLA_JSON_OK);
        }

    } else {
        assert_int_equal(olla_json_scan_feed(&s, doc, split), OLLA_JSON_OK);
        assert_int_equal(olla_json_scan_feed(&s, doc + split, len - split),
                         OLLA_JSON_OK);
    }

    assert_int_equal(olla_json_scan_end(&s), OLLA_JSON_OK);

    /* the captured model is not disturbed by the hashing */
    assert_string_equal(model, "m");

    return s.opening;
}


/* the same hash however the body is split */

static uint64_t
opening(const char *doc)
{
    size_t    k, len;
    uint64_t  h;

    h = opening_of(doc, 0);
    len = strlen(doc);

    for (k = 1; k <= len; k++) {
        assert_true(opening_of(doc, k) == h);
    }

    assert_true(opening_of(doc, len + 1) == h);

    return h;
}


/* Claude Code's turns: the stamp and cache_control move, the opening not */

#define CC_SYSTEM(cch)                                                       \
    "\"system\":[{\"type\":\"text\",\"text\":\"x-anthropic-billing-header: " \
    "cc_version=2.1.31; cc_entrypoint=cli; cch=" cch ";\"},"                  \
    "{\"type\":\"text\",\"text\":\"You are Claude Code, a CLI.\","           \
    "\"cache_control\":{\"type\":\"ephemeral\"}}]"

#define CC_FIRST(cc)                                                         \
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"           \
    "\"<system-reminder>ctx</system-reminder>\"},{\"type\":\"text\","        \
    "\"text\":\"fix the bug in main.c\"" cc "}]}"

static void
test_opening_claude_code(void **state)
{
    uint64_t  t1, t2, t3, other;

    t1 = opening("{\"model\":\"m\"," CC_SYSTEM("a1b2c")
                 ",\"messages\":[" CC_FIRST(",\"cache_control\":"
                                            "{\"type\":\"ephemeral\"}")
                 "],\"max_tokens\":32000,\"stream\":true}");

    t2 = opening("{\"model\":\"m\"," CC_SYSTEM("99zz0")
                 ",\"messages\":[" CC_FIRST("")
                 ",{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                 "\"text\":\"Let me look.\"}]},{\"role\":\"user\",\"content\":"
                 "[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\","
                 "\"content\":\"int main\",\"cache_control\":{\"type\":"
                 "\"ephemeral\"}}]}],\"max_tokens\":32000,\"stream\":true}");

    t3 = opening("{\"max_tokens\":32000,\"messages\":[" CC_FIRST("")
                 ",{\"role\":\"assistant\",\"content\":\"ok\"}],"
                 CC_SYSTEM("00000") ",\"model\":\"m\"}");

    other = opening("{\"model\":\"m\"," CC_SYSTEM("a1b2c")
                    ",\"messages\":[{\"role\":\"user\",\"content\":"
                    "[{\"type\":\"text\",\"text\":\"<system-reminder>ctx"
                    "</system-reminder>\"},{\"type\":\"text\",\"text\":"
                    "\"write tests\"}]}],\"max_tokens\":32000}");

    assert_true(t1 != 0);
    assert_true(t1 == t2);
    assert_true(other != t1);

    /* members in another order: the same opening */
    assert_true(t3 == t1);
}


static void
test_opening_openai(void **state)
{
    uint64_t  a, b, c, d, e;

    a = opening("{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
                "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                "\"Hello\"}]}");

    b = opening("{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
                "\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                "\"Hello\"},{\"role\":\"assistant\",\"content\":\"Hi!\"},"
                "{\"role\":\"user\",\"content\":\"More\"}],\"stream\":true}");

    /* the same strings escaped otherwise: the same opening */
    c = opening("{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
                "\"content\":\"Be brief\\u002e\"},{\"content\":\"H\\u0065llo\","
                "\"role\":\"user\"}]}");

    /* no system message: the first user message alone */
    d = opening("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"Hello\"}]}");
    e = opening("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"Hello\"},{\"role\":\"assistant\",\"content\":"
                "\"Hi\"},{\"role\":\"user\",\"content\":\"Again\"}]}");

    assert_true(a != 0);
    assert_true(a == b);
    assert_true(d == e);
    assert_true(d != a);

    /* "role" after "content" in an element, and escapes, as in a */
    assert_true(c != 0);
    assert_true(c == opening("{\"model\":\"m\",\"messages\":[{\"role\":"
                             "\"system\",\"content\":\"Be brief.\"},"
                             "{\"content\":\"Hello\",\"role\":\"user\"}]}"));

    /* one byte of the first user message differs: another opening */
    assert_true(a != opening("{\"model\":\"m\",\"messages\":[{\"role\":"
                             "\"system\",\"content\":\"Be brief.\"},"
                             "{\"role\":\"user\",\"content\":\"Hellp\"}]}"));

    /* strings are kept apart: "ab","c" is not "a","bc" */
    assert_true(opening("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                        "\"content\":[\"ab\",\"c\"]}]}")
                != opening("{\"model\":\"m\",\"messages\":[{\"role\":"
                           "\"user\",\"content\":[\"a\",\"bc\"]}]}"));
}


static void
test_opening_none(void **state)
{
    /* nothing of the opening: 0 */
    assert_true(opening("{\"model\":\"m\"}") == 0);
    assert_true(opening("{\"model\":\"m\",\"input\":\"x\"}") == 0);
    assert_true(opening("{\"model\":\"m\",\"messages\":[]}") == 0);
    assert_true(opening("{\"model\":\"m\",\"messages\":7}") == 0);

    /* the turns as one string: that string is the first turn */
    assert_true(opening("{\"model\":\"m\",\"messages\":\"hi\"}") != 0);
    assert_true(opening("{\"model\":\"m\",\"messages\":\"hi\"}")
                != opening("{\"model\":\"m\",\"messages\":\"ho\"}"));

    /* a system prompt alone is an opening; an empty one hashes too */
    assert_true(opening("{\"model\":\"m\",\"system\":\"S\"}") != 0);
    assert_true(opening("{\"model\":\"m\",\"system\":\"\"}") != 0);
    assert_true(opening("{\"model\":\"m\",\"instructions\":\"I\"}") != 0);

    /* numbers count by their kind, not their value; names count */
    assert_true(opening("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                        "\"n\":1,\"content\":\"x\"}]}")
                == opening("{\"model\":\"m\",\"messages\":[{\"role\":"
                           "\"user\",\"n\":2.5,\"content\":\"x\"}]}"));
    assert_true(opening("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                        "\"n\":1,\"content\":\"x\"}]}")
                != opening("{\"model\":\"m\",\"messages\":[{\"role\":"
                           "\"user\",\"k\":1,\"content\":\"x\"}]}"));

    /* the order of names in an object does not matter, at any depth */
    assert_true(opening("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                        "\"content\":[{\"type\":\"text\",\"text\":\"q\"}]}],"
                        "\"system\":[{\"type\":\"text\",\"text\":\"S\"}]}")
                == opening("{\"system\":[{\"text\":\"S\",\"type\":\"text\"}],"
                           "\"messages\":[{\"content\":[{\"text\":\"q\","
                           "\"type\":\"text\"}],\"role\":\"user\"}],"
                           "\"model\":\"m\"}"));

    /* the order of values in an array does */
    assert_true(opening("{\"model\":\"m\",\"system\":[\"a\",\"b\"]}")
                != opening("{\"model\":\"m\",\"system\":[\"b\",\"a\"]}"));

    /* system and instructions are different members */
    assert_true(opening("{\"model\":\"m\",\"system\":\"S\"}")
                != opening("{\"model\":\"m\",\"instructions\":\"S\"}"));

    /* a billing stamp alone is left out: as if there were no system */
    assert_true(opening("{\"model\":\"m\",\"system\":\"x-anthropic-billing-"
                        "header: cch=12345;\",\"messages\":[{\"role\":"
                        "\"user\",\"content\":\"q\"}]}")
                == opening("{\"model\":\"m\",\"system\":\"x-anthropic-billing"
                           "-header: cch=99999;\",\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"q\"}]}"));

    /* long strings (past the held-back head) hash whole */
    assert_true(opening("{\"model\":\"m\",\"system\":\"0123456789012345678901"
                        "23456789012345678901234567890123456789A\"}")
                != opening("{\"model\":\"m\",\"system\":\"012345678901234567"
                           "8901234567890123456789012345678901234567890123456"
                           "789B\"}"));

    /* deep cache_control values of any shape are skipped */
    assert_true(opening("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                        "\"content\":\"q\",\"cache_control\":{\"a\":[\"x\","
                        "{\"b\":\"y\"}],\"c\":\"z\"}}]}")
                == opening("{\"model\":\"m\",\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"q\"}]}"));
}


/* ------------------------------------------------------------------------
 * the fast paths against the byte machine
 */


typedef struct {
    const char  *name;
    void       (*init)(olla_json_scan_t *s, olla_json_field_t *fields,
                       size_t nfields, size_t max_depth);
    int        (*feed)(olla_json_scan_t *s, const char *p, size_t n);
    int        (*end)(olla_json_scan_t *s);
} variant_t;


static const variant_t  variants[] = {
    { "fast", olla_json_scan_init, olla_json_scan_feed, olla_json_scan_end },
    { "sse2", olla_json_sse2_scan_init, olla_json_sse2_scan_feed,
      olla_json_sse2_scan_end },
    { "scalar", olla_json_scalar_scan_init, olla_json_scalar_scan_feed,
      olla_json_scalar_scan_end },
    { "machine", olla_json_ref_scan_init, olla_json_ref_scan_feed,
      olla_json_ref_scan_end },
};

#define NV  (sizeof(variants) / sizeof(variants[0]))


/* as ngx_olla_dmr_route.c reads a body, and two small captures */

#define VF  9

static const char  *vkeys[VF] = {
    "model", "stream", "max_tokens", "messages", "system", "instructions",
    "input", "tools", "x"
};

static const size_t  vcaps[VF] = { 48, 0, 8, 0, 0, 0, 0, 0, 4 };

static const unsigned  vopen[VF] = {
    OLLA_JSON_OPENING_NONE, OLLA_JSON_OPENING_NONE, OLLA_JSON_OPENING_NONE,
    OLLA_JSON_OPENING_TURNS, OLLA_JSON_OPENING_ALL, OLLA_JSON_OPENING_ALL,
    OLLA_JSON_OPENING_TURNS, OLLA_JSON_OPENING_NONE, OLLA_JSON_OPENING_NONE
};


typedef struct {
    int                 rc;
    char                err[160];
    size_t              err_offset;
    uint64_t            opening;
    olla_json_field_t   f[VF];
    char                buf[VF][48];
} vresult_t;


/* piece: 0 whole, else pieces of that size; seed: pieces of random sizes */

static void
vrun(const variant_t *v, vresult_t *r, const char *doc, size_t len,
    size_t piece, uint64_t seed)
{
    int                rc;
    size_t             i, pos, n;
    rng_t              g;
    olla_json_scan_t   s;

    memset(r, 0, sizeof(vresult_t));

    for (i = 0; i < VF; i++) {
        r->f[i].key = vkeys[i];
        r->f[i].key_len = strlen(vkeys[i]);
        r->f[i].value = vcaps[i] ? r->buf[i] : NULL;
        r->f[i].cap = vcaps[i];
        r->f[i].opening = vopen[i];
    }

    v->init(&s, r->f, VF, 0);

    g.s = seed;
    rc = OLLA_JSON_OK;

    for (pos = 0; pos < len; pos += n) {
        n = piece ? piece : len;

        if (seed) {
            n = 1 + rnd(&g) % (piece ? piece : 200);
        }

        if (n > len - pos) {
            n = len - pos;
        }

        if (v->feed(&s, doc + pos, n) != OLLA_JSON_OK) {
            rc = OLLA_JSON_ERROR;
        }
    }

    if (v->end(&s) != OLLA_JSON_OK) {
        rc = OLLA_JSON_ERROR;
    }

    r->rc = rc;
    r->opening = s.opening;

    if (rc != OLLA_JSON_OK) {
        memcpy(r->err, s.err, sizeof(r->err));
        r->err_offset = s.err_offset;
    }
}


static void
vsame(const char *what, const char *doc, size_t len, const vresult_t *a,
    const vresult_t *b)
{
    size_t                    i, n;
    const olla_json_field_t  *x, *y;

    if (a->rc != b->rc || strcmp(a->err, b->err) != 0
        || a->err_offset != b->err_offset)
    {
        print_message("%s: %d \"%s\" @%zu vs the machine's %d \"%s\" @%zu\n"
                      "%.*s\n", what, a->rc, a->err, a->err_offset, b->rc,
                      b->err, b->err_offset, (int) len, doc);
        fail();
    }

    if (a->rc != OLLA_JSON_OK) {
        return;
    }

    if (a->opening != b->opening) {
        print_message("%s: the opening differs\n%.*s\n", what, (int) len,
                      doc);
        fail();
    }

    for (i = 0; i < VF; i++) {
        x = &a->f[i];
        y = &b->f[i];
        n = x->len < x->cap ? x->len : x->cap;

        if (x->type != y->type || x->len != y->len
            || x->truncated != y->truncated || x->count != y->count
            || x->start != y->start || x->end != y->end
            || x->elements != y->elements
            || (n && memcmp(x->value, y->value, n) != 0))
        {
            print_message("%s: field %s differs\n%.*s\n", what, vkeys[i],
                          (int) len, doc);
            fail();
        }
    }
}


/* every variant, fed in every way given, as the machine fed whole */

static void
vcheck(const char *doc, size_t len, int bytes)
{
    size_t           i, k;
    vresult_t        ref, r;
    char             what[64];
    static const size_t  pieces[] = { 0, 64, 65, 63, 17, 1000 };

    vrun(&variants[NV - 1], &ref, doc, len, 0, 0);

    for (i = 0; i < NV; i++) {
        for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            vrun(&variants[i], &r, doc, len, pieces[k], 0);
            snprintf(what, sizeof(what), "%s, pieces of %zu",
                     variants[i].name, pieces[k]);
            vsame(what, doc, len, &r, &ref);
        }

        vrun(&variants[i], &r, doc, len, 90, len * 31 + i);
        snprintf(what, sizeof(what), "%s, random pieces", variants[i].name);
        vsame(what, doc, len, &r, &ref);

        if (bytes) {
            vrun(&variants[i], &r, doc, len, 1, 0);
            snprintf(what, sizeof(what), "%s, a byte at a time",
                     variants[i].name);
            vsame(what, doc, len, &r, &ref);
        }
    }
}


/*
 * A document with the string s in every kind of place: the opening (hashed
 * past its head and within it), quiet content at several depths, a
 * captured value, a top-level value no field reads, a member name.
 */

static void
vdoc(sbuf_t *b, const char *s, size_t n)
{
    b->len = 0;

#define S  sb_add(b, s, n)

    sb_str(b, "{\"model\":\"");
    S;
    sb_str(b, "\",\"system\":[{\"type\":\"text\",\"text\":\"");
    S;
    sb_str(b, "\"}],\"messages\":[{\"role\":\"user\",\"content\":\"");
    S;
    sb_str(b, "\"},{\"role\":\"assistant\",\"content\":[{\"text\":\"");
    S;
    sb_str(b, "\"}]}],\"tools\":[{\"description\":\"");
    S;
    sb_str(b, "\",\"input_schema\":{\"");
    S;
    sb_str(b, "\":[\"");
    S;
    sb_str(b, "\",1.5e3,true]}}],\"x\":\"");
    S;
    sb_str(b, "\",\"other\":\"");
    S;
    sb_str(b, "\"}");

#undef S
}


static const char  *vatoms[] = {
    /* valid */
    "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\\\\\\"",
    "\\\\\\\\\\n", "\\u0041", "\\u00e9", "\\u20AC", "\\uffff", "\\u0000",
    "\\uD83D\\uDE00", "\\udbff\\udfff", "\xc3\xa9", "\xe2\x82\xac",
    "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "\xef\xbf\xbf",
    "\x7f", "'", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
    "\\n\\t\\\"\\\\\\u00e9\xc3\xa9",

    /* invalid */
    "\\x", "\\U0041", "\\u00g1", "\\u12", "\\uD800", "\\uD800\\u0041",
    "\\uD800\\n", "\\uDC00", "\\uDBFF\\uDBFF", "\x01", "\x1f", "\n",
    "\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xc3", "\xc3\x28",
    "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xef\xbf", "\xf0\x80\x80\x80",
    "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\\\xc3\xa9", "\\\x01"
};


/*
 * A backslash before every byte, at the offsets where a 64-byte block and
 * its 16-byte lanes begin and end, in one place of a document at a time:
 * the fast paths take only the bytes an escape may take (AVX2 looks them
 * up in nibble tables, lane by lane)
 */

static void
test_fast_escapes(void **state)
{
    char      s[256];
    size_t    c, o, n, fill, pl;
    sbuf_t    b;
    static const size_t  offs[] = {
        0, 1, 14, 15, 16, 17, 30, 31, 32, 33, 46, 47, 48, 49, 61, 62
    };
    static const char  *places[][2] = {
        /* quiet content */
        { "{\"model\":\"m\",\"tools\":[{\"description\":\"", "\"}]}" },
        /* the opening, hashed */
        { "{\"model\":\"m\",\"system\":\"", "\"}" },
        /* a later turn */
        { "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
          "\"q\"},{\"role\":\"assistant\",\"content\":[{\"text\":\"",
          "\"}]}]}" },
        /* a member no field reads */
        { "{\"other\":\"", "\",\"model\":\"m\"}" }
    };

    memset(&b, 0, sizeof(b));

    for (c = 0; c < 256; c++) {
        for (o = 0; o < sizeof(offs) / sizeof(offs[0]); o++) {
            n = 0;

            for (fill = 0; fill < offs[o]; fill++) {
                s[n++] = (char) ('a' + fill % 26);
            }

            s[n++] = '\\';
            s[n++] = (char) c;

            /* four hex digits after a 'u' */

            for (fill = 0; fill < 140; fill++) {
                s[n++] = (char) ('0' + fill % 10);
            }

            /*
             * one place at a time: an invalid escape in the first place
             * would refuse the document before the others
             */

            for (pl = 0; pl < sizeof(places) / sizeof(places[0]); pl++) {
                b.len = 0;
                sb_str(&b, places[pl][0]);
                sb_add(&b, s, n);
                sb_str(&b, places[pl][1]);
                vcheck(b.p, b.len, 0);
            }
        }
    }

    free(b.p);
}


static void
test_fast_atoms(void **state)
{
    char      s[512];
    size_t    a, off, n, k, fill;
    sbuf_t    b;

    memset(&b, 0, sizeof(b));

    for (a = 0; a < sizeof(vatoms) / sizeof(vatoms[0]); a++) {
        k = strlen(vatoms[a]);

        if (k == 0) {
            /* "\x00" is not in the table: strlen */
            continue;
        }

        for (off = 0; off < 136; off++) {
            /* plain text, the atom at off, plain text past two blocks */

            n = 0;

            for (fill = 0; fill < off; fill++) {
                s[n++] = (char) ('a' + fill % 26);
            }

            memcpy(s + n, vatoms[a], k);
            n += k;

            for (fill = 0; fill < 140 - off % 7; fill++) {
                s[n++] = (char) ('A' + fill % 26);
            }

            vdoc(&b, s, n);
            vcheck(b.p, b.len, off % 17 == 0);

            /* the atom packed: many of it in a row */

            n = 0;

            for (fill = 0; fill < off % 5; fill++) {
                s[n++] = ' ';
            }

            while (n + k < 200) {
                memcpy(s + n, vatoms[a], k);
                n += k;
            }

            if (off < 8) {
                vdoc(&b, s, n);
                vcheck(b.p, b.len, off == 0);
            }
        }
    }

    /* runs of backslashes of every length across the blocks */

    for (k = 1; k < 12; k++) {
        for (off = 50; off < 80; off++) {
            n = 0;

            for (fill = 0; fill < off; fill++) {
                s[n++] = 'z';
            }

            for (fill = 0; fill < k; fill++) {
                s[n++] = '\\';
            }

            s[n++] = (k % 3 == 0) ? 'n' : '"';

            for (fill = 0; fill < 78; fill++) {
                s[n++] = (char) ('a' + fill % 26);
            }

            vdoc(&b, s, n);
            vcheck(b.p, b.len, 0);
        }
    }

    free(b.p);
}


/* long strings of atoms, valid and invalid, in generated documents */

static void
gen_long(rng_t *r, sbuf_t *b, int invalid)
{
    size_t    i, n, a, nvalid;
    char      c;

    nvalid = 27;     /* the valid atoms come first in vatoms[] */
    n = rnd(r) % 300;

    for (i = 0; i < n; i++) {
        if (rnd(r) % 6 == 0) {
            a = (invalid && rnd(r) % 40 == 0)
                ? nvalid + rnd(r) % (sizeof(vatoms) / sizeof(vatoms[0])
                                     - nvalid)
                : rnd(r) % nvalid;
            sb_str(b, vatoms[a]);

        } else {
            c = (char) (0x20 + rnd(r) % 0x5f);
            sb_add(b, c == '"' || c == '\\' ? "q" : &c, 1);
        }
    }
}


static void
gen_vvalue(rng_t *r, sbuf_t *b, unsigned depth, int invalid)
{
    unsigned  i, n, k;

    k = rnd(r) % (depth > 5 ? 3 : 5);

    switch (k) {

    case 0:
    case 1:
        sb_str(b, "\"");
        gen_long(r, b, invalid);
        sb_str(b, "\"");
        break;

    case 2:
        gen_number(r, b);
        break;

    case 3:
        sb_str(b, "[");
        n = rnd(r) % 4;

        for (i = 0; i < n; i++) {
            sb_str(b, i ? "," : "");
            gen_ws(r, b);
            gen_vvalue(r, b, depth + 1, invalid);
        }

        sb_str(b, "]");
        break;

    default:
        sb_str(b, "{");
        n = rnd(r) % 4;

        for (i = 0; i < n; i++) {
            sb_str(b, i ? "," : "");
            sb_str(b, rnd(r) % 4 ? "\"role\"" : "\"cache_control\"");
            sb_str(b, ":");
            gen_ws(r, b);

            if (rnd(r) % 3 == 0) {
                sb_str(b, "\"user\"");

            } else {
                gen_vvalue(r, b, depth + 1, invalid);
            }
        }

        sb_str(b, "}");
        break;
    }
}


static void
test_fast_generated(void **state)
{
    int       i, k;
    rng_t     r;
    sbuf_t    b;

    memset(&b, 0, sizeof(b));
    r.s = 0x9e3779b97f4a7c15ULL;

    for (i = 0; i < 1500; i++) {
        b.len = 0;
        sb_str(&b, "{");

        for (k = 0; k < VF; k++) {
            if (rnd(&r) % 3 == 0) {
                continue;
            }

            sb_str(&b, b.len > 1 ? ",\"" : "\"");
            sb_str(&b, vkeys[rnd(&r) % VF]);
            sb_str(&b, "\":");
            gen_ws(&r, &b);
            gen_vvalue(&r, &b, 1, i % 2);
        }

        sb_str(&b, "}");
        vcheck(b.p, b.len, i % 10 == 0);

        /* and broken at random */

        mutate(&r, &b);
        vcheck(b.p, b.len, 0);
    }

    free(b.p);
}


/*
 * \u escapes in the opening a few bytes apart (the block hasher goes on
 * in the same block after each), with other escapes and UTF-8 between
 * them, pairs ending at and crossing the blocks' ends, and a bad one at
 * the end
 */

static void
test_fast_uesc(void **state)
{
    char        s[600];
    size_t      n, gap, off, k, i;
    sbuf_t      b;
    static const char  *u[] = {
        "\\u00e9", "\\uD83D\\uDE00", "\\u0041", "\\u20AC", "\\n",
        "\xc3\xa9", "\\\\", "\\u12G4", "\\uDBFF\\u0041"
    };

    memset(&b, 0, sizeof(b));

    for (k = 0; k < 7; k++) {
        for (gap = 0; gap < 14; gap++) {
            for (off = 0; off < 70; off += (gap < 3) ? 1 : 5) {
                n = 0;

                for (i = 0; i < off; i++) {
                    s[n++] = (char) ('a' + i % 26);
                }

                for (i = 0; n + 20 < 400; i++) {
                    /* mostly u[k], the others in between */
                    strcpy(s + n, u[(i % 5 == 4) ? (k + i) % 7 : k]);
                    n += strlen(s + n);
                    memset(s + n, 'x', gap);
                    n += gap;
                }

                if (off % 3 == 0) {
                    /* an invalid one at the end, or a lone surrogate */
                    strcpy(s + n, u[7 + off % 2]);
                    n += strlen(s + n);
                }

                vdoc(&b, s, n);
                vcheck(b.p, b.len, 0);
            }
        }
    }

    free(b.p);
}


/*
 * The opening's strings switch between plain runs and blocks: clusters of
 * escapes close together, then stretches without any (plain, or with UTF-8
 * sequences that the blocks' ends cut), of every length around a block,
 * at every alignment, with an invalid sequence or escape now and then
 */

static void
test_fast_modes(void **state)
{
    char        s[2048];
    size_t      n, off, len, i, r, k;
    sbuf_t      b;
    static const char  *cl[] = {
        "\\n", "\\\"", "\\u00e9", "\\\\", "\\uD83D\\uDE00", "\\t"
    };
    static const char  *u8[] = {
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"
    };

    memset(&b, 0, sizeof(b));

    for (off = 0; off < 64; off += 3) {
        for (len = 40; len < 200; len += 9) {
            n = 0;

            for (i = 0; i < off; i++) {
                s[n++] = (char) ('a' + i % 26);
            }

            for (r = 0; r < 3; r++) {
                /* a cluster: escapes a few bytes apart */

                for (k = 0; k < 5 + (off + r) % 4; k++) {
                    strcpy(s + n, cl[(k + r + len) % 6]);
                    n += strlen(s + n);
                    s[n++] = (char) ('A' + k);
                }

                /* a stretch without escapes, UTF-8 in it at times */

                for (i = 0; i < len; i++) {
                    if ((i + off + r) % 23 == 22 && (len + r) % 3) {
                        strcpy(s + n, u8[(i + r) % 3]);
                        n += strlen(s + n);

                    } else {
                        s[n++] = (char) ('a' + (i * 7 + r) % 26);
                    }
                }
            }

            if (off % 7 == 6) {
                /* and a bad one at the end */
                strcpy(s + n, (len % 2) ? "\\x" : "\xe2\x28\xa1");
                n += strlen(s + n);
            }

            vdoc(&b, s, n);
            vcheck(b.p, b.len, off % 21 == 0 && len < 60);
        }
    }

    /* names and values inside the opening of every short length */

    for (len = 0; len < 40; len++) {
        b.len = 0;
        sb_str(&b, "{\"model\":\"m\",\"system\":[{\"");

        for (i = 0; i < len; i++) {
            s[i] = (char) ('a' + (i * 5) % 26);
        }

        sb_add(&b, s, len);
        sb_str(&b, "\":\"");
        sb_add(&b, s, len);
        sb_str(&b, "\",\"role\":\"user\"}],\"messages\":[{\"");
        sb_add(&b, s, len);
        sb_str(&b, "\":\"");
        sb_add(&b, s, len);
        sb_str(&b, "\",\"role\":\"user\",\"cache_control\":{\"");
        sb_add(&b, s, len);
        sb_str(&b, "\":1}}],\"");
        sb_add(&b, s, len);
        sb_str(&b, "\":\"");
        sb_add(&b, s, len);
        sb_str(&b, "\"}");
        vcheck(b.p, b.len, 1);
    }

    free(b.p);
}


/* ------------------------------------------------------------------------
 * the opening's hash, pinned
 *
 * Affinity keys on the opening's value: every worker, a reloaded
 * configuration and, during a rolling upgrade, the version before must
 * give a conversation the same hash.  The tests above hold the fast paths
 * to the byte machine, which is built from the same source; these hold
 * the value itself to what it was when they were written, whatever the
 * code that computes it becomes.  A change of the definition changes
 * these constants, deliberately.
 */


/* the bodies of `make bench` (tools/bench/genbodies.pl), 1 KB ones */

static const char  pin_anth_1k[] =
    "{\"model\":\"ai/smollm2\",\"max_tokens\":256,\"messages\":[{\"role\":\""
    "user\",\"content\":[{\"type\":\"text\",\"text\":\"<system-reminder>\\nM"
    "emory shared read prompt budget retry request. Request shared read resp"
    "onse latency limit object user server check context limit context map l"
    "ist content request \\\"function\\\". Token value message code error pr"
    "ofile map function response server json module result server.\\n</syste"
    "m-reminder>\"},{\"type\":\"text\",\"text\":\"Summarise what this module"
    " does. Shared context map memory schema value. Nginx file budget token "
    "server config tool json event client the xxx xx xx xxx. Stream config c"
    "ache retry memory map cache shared timeout prompt request retry buffer "
    "xcachex. Schema profile scan module json build key system route path me"
    "ssage parse key stream xnginxx. Key timeout upstream latency test open "
    "endpoint budget chunk timeout endpoint read config tool worker function"
    " xrequestx. Response delta error header error build key path result mod"
    "ule string stream schema list limit build.x\"}]}],\"temperature\":1}";

static const char  pin_oai_1k[] =
    "{\"model\":\"ai/smollm2\",\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Summarise what this module does. Window build balancer build string t"
    "ool zone parse schema delta shared latency scan object xxx xx xx xxx. B"
    "udget close module error timeout balancer server write property endpoin"
    "t build. Server prompt build zone timeout schema proxy token function w"
    "indow open user cache xbufferx.xxRequest window request string header m"
    "odel read xfunctionx. Array assistant worker budget result server json "
    "code message number. The client code write number token cache. Function"
    " key object write code endpoint server window parse xvaluex. Test cache"
    " file the result budget limit tool client request.xxZone stream result "
    "context token object retry system test property upstream queue test buf"
    "fer scan module. Tool test header map budget scan assistant test code f"
    "ile memory result header shared server. List write function map value s"
    "chema cache response code error request message number write value shar"
    "ed hea\"}],\"max_tokens\":256,\"temperature\":1}";

static const char  pin_anth_code_1k[] =
    "{\"model\":\"ai/smollm2\",\"max_tokens\":256,\"messages\":[{\"role\":\""
    "user\",\"content\":[{\"type\":\"text\",\"text\":\"<system-reminder>\\nM"
    "emory shared read prompt budget retry request. Request shared read resp"
    "onse latency limit object user server check context limit context map l"
    "ist content request \\\"function\\\". Token value message code error pr"
    "ofile map function response server json module result server.\\n</syste"
    "m-reminder>\"},{\"type\":\"text\",\"text\":\"Summarise what this module"
    " does.     m = re.match(r\\\"^\\\\s*(\\\\d+)\\\\s+\\\\\\\"([^\\\\\\\"]*"
    ")\\\\\\\"\\\\s*$\\\", line)  # delta\\n    print(f\\\"{m.group(1)!r}: '"
    "result' \\u2192 \\u2713 \\u201cdelta\\u201d na\\u00efve caf\\u00e9 \\ud"
    "83d\\ude80\\\")\\n{\\n  \\\"name\\\": \\\"olla-file\\\",\\n  \\\"versio"
    "n\\\": \\\"1.8995.0\\\",\\n  \\\"scripts\\\": {\\\"test\\\": \\\"make t"
    "est && echo \\\\\\\"ok: memory\\\\\\\"\\\", \\\"lint\\\": \\\"eslint 's"
    "rc/**/*.js'\\\"},\\n  \\\"config\\\": \\\"{\\\\\\\"key\\\\\\\": \\\\\\"
    "\"file\\\\\\\", \\\\\\\"n\\\\\\\": 8995}\\\"\\n}\\n@@ -4662,7 +4662,8 @"
    "@ static ngx_int_t\\n-\\tngx_log_error(NGX_LOG_ERR, log, 0, \\\"queue: "
    "\\\\\\\"%V\\\\\\\"\\\", &name);\\n+\\t\"}]}],\"temperature\":1}";

static const char  pin_oai_code_1k[] =
    "{\"model\":\"ai/smollm2\",\"messages\":[{\"role\":\"user\",\"content\":"
    "\"Summarise what this module does.     m = re.match(r\\\"^\\\\s*(\\\\d+"
    ")\\\\s+\\\\\\\"([^\\\\\\\"]*)\\\\\\\"\\\\s*$\\\", line)  # user\\n    p"
    "rint(f\\\"{m.group(1)!r}: 'request' \\u2192 \\u2713 \\u201cuser\\u201d "
    "na\\u00efve caf\\u00e9 \\ud83d\\ude80\\\")\\n{\\n  \\\"name\\\": \\\"ol"
    "la-read\\\",\\n  \\\"version\\\": \\\"1.2980.0\\\",\\n  \\\"scripts\\\""
    ": {\\\"test\\\": \\\"make test && echo \\\\\\\"ok: map\\\\\\\"\\\", \\"
    "\"lint\\\": \\\"eslint 'src/**/*.js'\\\"},\\n  \\\"config\\\": \\\"{\\"
    "\\\\\"key\\\\\\\": \\\\\\\"read\\\\\\\", \\\\\\\"n\\\\\\\": 2980}\\\"\\"
    "n}\\n@@ -2595,7 +2595,8 @@ static ngx_int_t\\n-\\tngx_log_error(NGX_LOG"
    "_ERR, log, 0, \\\"key: \\\\\\\"%V\\\\\\\"\\\", &name);\\n+\\tngx_log_er"
    "ror(NGX_LOG_ERR, log, 0, \\\"parse: \\\\\\\"%V\\\\\\\" (%d)\\\", &name,"
    " rc);\\nPS C:\\\\Users\\\\dev\\\\src\\\\olla\\\\value> type .\\\\schema"
    "\\\\config.json | findstr \\\"\\\\\\\"value\\\\\\\"\\\"\\n\\t\\\"path\\"
    "\": \\\"C:\\\\\\\\Users\\\\\\\\dev\\\\\\\\schema\\\",\\t\\\"ok\\\": tru"
    "e\\n  const s = `${a}\\\\n${b}`.replace(/\\\\\\\\(.)/g, \\\"$1\\\"); //"
    " \\u201cworker\\u201d \\u2014 \\u00e9 \\u00fc \\u2713 \\u65e5\\u672c\\u"
    "8a9e\\n  expect(JS\"}],\"max_tokens\":256,\"temperature\":1}";


/* the opening, the same for every variant however the body is fed */

static uint64_t
pin_opening(const char *doc, size_t len)
{
    size_t               i, k;
    vresult_t            ref, r;
    static const size_t  pieces[] = { 0, 1, 7, 31, 64, 1000, 8000 };

    vrun(&variants[NV - 1], &ref, doc, len, 0, 0);

    if (ref.rc != OLLA_JSON_OK) {
        print_message("pinned body: %s @%zu\n", ref.err, ref.err_offset);
        fail();
    }

    for (i = 0; i < NV; i++) {
        for (k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            if (pieces[k] == 1 && len > 70000) {
                continue;
            }

            vrun(&variants[i], &r, doc, len, pieces[k], 0);
            assert_int_equal(r.rc, OLLA_JSON_OK);
            assert_true(r.opening == ref.opening);
        }

        vrun(&variants[i], &r, doc, len, 300, len * 7 + i);
        assert_true(r.opening == ref.opening);
    }

    return ref.opening;
}


#define pin_check(what, got, want)                                           \
    do {                                                                     \
        uint64_t  got_ = (got);                                              \
                                                                             \
        if (got_ != (uint64_t) (want)) {                                     \
            print_message("opening of %s: 0x%016llxULL, pinned 0x%016llxULL" \
                          "\n", what, (unsigned long long) got_,             \
                          (unsigned long long) (want));                      \
            fail();                                                          \
        }                                                                    \
    } while (0)

#define pin_doc(what, doc, want)                                             \
    pin_check(what, pin_opening(doc, sizeof(doc) - 1), want)


/*
 * Prompt-like text of about n bytes, JSON-escaped: words, punctuation,
 * newlines and tabs, quotes and backslashes, UTF-8 of every length; dense
 * escapes and \u escapes (surrogate pairs too) when code is set.
 */

static void
pin_text(rng_t *r, sbuf_t *b, size_t n, int code)
{
    size_t               end;
    unsigned             k;
    static const char   *words[] = {
        "the", "request", "module", "nginx", "shared", "context", "token",
        "upstream", "balancer", "x", "configuration", "response", "a",
        "memory", "schema", "function", "worker", "of", "latency", "json"
    };
    static const char   *plain[] = {
        " ", " ", " ", " ", ". ", ", ", "\\n", "\\n\\n", "\\t", "\\\"",
        "\\\\", "\xc3\xa9", "\xe2\x80\x94", "\xf0\x9f\x98\x80", "/", ": "
    };
    static const char   *dense[] = {
        "\\\"", "\\\\", "\\n", "\\t", "\\u00e9", "\\u2014", "\\ud83d\\ude00",
        "\\/", "\\r\\n", "\\b", "\\f", "\\u0041", "(\\\"%s\\\")", "\\\\n"
    };

    end = b->len + n;

    while (b->len < end) {
        sb_str(b, words[rnd(r) % (sizeof(words) / sizeof(words[0]))]);
        k = rnd(r);

        if (code && k % 3 == 0) {
            sb_str(b, dense[(k >> 8) % (sizeof(dense) / sizeof(dense[0]))]);

        } else {
            sb_str(b, plain[(k >> 8) % (sizeof(plain) / sizeof(plain[0]))]);
        }
    }
}


static void
pin_str(rng_t *r, sbuf_t *b, size_t n, int code)
{
    sb_str(b, "\"");
    pin_text(r, b, n, code);
    sb_str(b, "\"");
}


static void
pin_tools_oai(rng_t *r, sbuf_t *b, int code)
{
    int  i;

    sb_str(b, "\"tools\":[");

    for (i = 0; i < 12; i++) {
        sb_str(b, i ? ",{" : "{");
        sb_str(b, "\"type\":\"function\",\"function\":{\"name\":\"Tool\","
                  "\"description\":");
        pin_str(r, b, 600, code);
        sb_str(b, ",\"parameters\":{\"type\":\"object\",\"properties\":{"
                  "\"path\":{\"type\":\"string\",\"description\":\"The "
                  "path\"},\"limit\":{\"type\":\"number\",\"minimum\":1}},"
                  "\"required\":[\"path\"]}}}");
    }

    sb_str(b, "]");
}


/* OpenAI chat completions: a system message, the first user turn, more */

static void
pin_oai(rng_t *r, sbuf_t *b, size_t sys, size_t user, int code)
{
    b->len = 0;
    sb_str(b, "{\"model\":\"ai/smollm2\",\"messages\":[{\"role\":\"system\","
              "\"content\":");
    pin_str(r, b, sys, code);
    sb_str(b, "},{\"role\":\"user\",\"content\":");
    pin_str(r, b, user, code);
    sb_str(b, "},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
              "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
              "\"Read\",\"arguments\":\"{\\\"path\\\":\\\"/a.c\\\"}\"}}]},"
              "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":");
    pin_str(r, b, user, code);
    sb_str(b, "},{\"role\":\"user\",\"content\":");
    pin_str(r, b, 200, code);
    sb_str(b, "}],");
    pin_tools_oai(r, b, code);
    sb_str(b, ",\"max_tokens\":256,\"temperature\":0.7,\"stream\":false}");
}


/*
 * Anthropic Messages as Claude Code sends it: the billing stamp, the
 * system prompt as blocks with cache_control, the first user turn as
 * blocks (a system reminder, the prompt), tool use and results
 */

static void
pin_anth(rng_t *r, sbuf_t *b, size_t sys, size_t user, int code)
{
    b->len = 0;
    sb_str(b, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":32000,"
              "\"system\":[{\"type\":\"text\",\"text\":\"x-anthropic-billing"
              "-header: cc_version=2.0.14.8e1; cc_entrypoint=cli; "
              "cch=7f3a1;\"},{\"type\":\"text\",\"text\":\"You are Claude "
              "Code, Anthropic's official CLI for Claude.\"},{\"type\":"
              "\"text\",\"text\":");
    pin_str(r, b, sys, code);
    sb_str(b, ",\"cache_control\":{\"type\":\"ephemeral\"}}],\"messages\":"
              "[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
              "\"text\":\"<system-reminder>\\n");
    pin_text(r, b, user / 3, code);
    sb_str(b, "\\n</system-reminder>\"},{\"type\":\"text\",\"text\":");
    pin_str(r, b, user - user / 3, code);
    sb_str(b, ",\"cache_control\":{\"type\":\"ephemeral\"}}]},{\"role\":"
              "\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":"
              "\"toolu_01\",\"name\":\"Read\",\"input\":{\"file_path\":"
              "\"/src/a.c\",\"limit\":200}}]},{\"role\":\"user\",\"content\":"
              "[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01\","
              "\"content\":");
    pin_str(r, b, user, code);
    sb_str(b, "}]}],\"tools\":[{\"name\":\"Read\",\"description\":");
    pin_str(r, b, 800, code);
    sb_str(b, ",\"input_schema\":{\"type\":\"object\",\"properties\":{"
              "\"file_path\":{\"type\":\"string\"}},\"required\":"
              "[\"file_path\"],\"additionalProperties\":false}}],"
              "\"stream\":true,\"temperature\":1,\"top_k\":40}");
}


/* OpenAI Responses: instructions, and the input as items or a string */

static void
pin_resp(rng_t *r, sbuf_t *b, size_t ins, size_t user, int items)
{
    b->len = 0;
    sb_str(b, "{\"model\":\"ai/smollm2\",\"instructions\":");
    pin_str(r, b, ins, 0);

    if (items) {
        sb_str(b, ",\"input\":[{\"role\":\"developer\",\"content\":");
        pin_str(r, b, 100, 0);
        sb_str(b, "},{\"type\":\"message\",\"role\":\"user\",\"content\":[{"
                  "\"type\":\"input_text\",\"text\":");
        pin_str(r, b, user, 1);
        sb_str(b, "}]},{\"type\":\"function_call_output\",\"call_id\":"
                  "\"c1\",\"output\":");
        pin_str(r, b, user, 0);
        sb_str(b, "}]");

    } else {
        sb_str(b, ",\"input\":");
        pin_str(r, b, user, 1);
    }

    sb_str(b, ",\"stream\":true,\"store\":false}");
}


static void
test_opening_pinned(void **state)
{
    char       s[256];
    size_t     i, n, a;
    rng_t      r;
    sbuf_t     b;
    uint64_t   h, d;

    memset(&b, 0, sizeof(b));

    /* the bench's 1 KB bodies, byte for byte */

    assert_int_equal(sizeof(pin_anth_1k) - 1, 1024);
    assert_int_equal(sizeof(pin_oai_1k) - 1, 1024);
    assert_int_equal(sizeof(pin_anth_code_1k) - 1, 1024);
    assert_int_equal(sizeof(pin_oai_code_1k) - 1, 1024);

    pin_doc("anth-1k.json", pin_anth_1k, 0x3f313c123ffc3f40ULL);
    pin_doc("oai-1k.json", pin_oai_1k, 0xfa164623baaa07cfULL);
    pin_doc("anth-code-1k.json", pin_anth_code_1k, 0xeb6144434254544dULL);
    pin_doc("oai-code-1k.json", pin_oai_code_1k, 0x659cd229b1ebd655ULL);

    /* shapes */

    pin_doc("system string",
            "{\"model\":\"m\",\"system\":\"You are a helpful assistant.\","
            "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
            0x041e0df64eec77a3ULL);

    pin_doc("Claude Code",
            "{\"model\":\"m\"," CC_SYSTEM("a1b2c") ",\"messages\":["
            CC_FIRST(",\"cache_control\":{\"type\":\"ephemeral\"}")
            "],\"max_tokens\":32000,\"stream\":true}",
            0x203c71caa37408f3ULL);

    pin_doc("a billing stamp alone",
            "{\"model\":\"m\",\"system\":\"x-anthropic-billing-header: "
            "cch=12345;\"}",
            0x49d30d72fc56c3fcULL);

    pin_doc("the stamp's prefix alone",
            "{\"model\":\"m\",\"system\":[\"x-anthropic-billing-header:\","
            "\"x-anthropic-billing-header\",\"x-anthropic-billing-header:"
            "\\u0020\\u00e9\\n\\\"01234567890123456789012345678901"
            "23456789\"]}",
            0x384be453eff311b1ULL);

    pin_doc("OpenAI",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
            "\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hello\"},"
            "{\"role\":\"assistant\",\"content\":\"Hi!\"}],\"stream\":true}",
            0xe5a2820215ac92f8ULL);

    pin_doc("OpenAI content parts",
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            "[{\"type\":\"text\",\"text\":\"What is in this image?\"},"
            "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
            "png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUl"
            "EQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\",\"detail\":"
            "\"low\"}}],\"name\":\"u1\",\"n\":-1.5e3,\"x\":[true,false,null,"
            "{}]}]}",
            0x765c8e1d1a091658ULL);

    pin_doc("Responses, input a string",
            "{\"model\":\"m\",\"instructions\":\"Answer in French.\","
            "\"input\":\"Bonjour \\u00e0 tous \xe2\x9c\x93\"}",
            0xc833e1d7cd15eec0ULL);

    pin_doc("Responses, input items",
            "{\"model\":\"m\",\"input\":[{\"role\":\"system\",\"content\":"
            "\"S\"},{\"type\":\"message\",\"role\":\"user\",\"content\":[{"
            "\"type\":\"input_text\",\"text\":\"q\"}]},{\"role\":\"user\","
            "\"content\":\"later\"}]}",
            0xa2685e034bea4bd1ULL);

    pin_doc("nested and deep",
            "{\"model\":\"m\",\"system\":{\"a\":[[[[{\"b\":\"c\",\"d\":[1,"
            "\"e\"]}]]]],\"role\":\"user\",\"\":\"\",\"k\\u0000\":\"\\u0000"
            "\"},\"messages\":[[\"x\"],{\"role\":\"us\\u0065r\"}]}",
            0xfdbcff0b556d5b3bULL);

    /*
     * a string of every length around the head and the stride: plain,
     * with escapes, with UTF-8; in the system prompt, after the billing
     * stamp's prefix or a part of it
     */

    d = 0xcbf29ce484222325ULL;

    for (n = 0; n < 200; n++) {
        for (a = 0; a < 6; a++) {
            b.len = 0;
            sb_str(&b, a < 4 ? "{\"model\":\"m\",\"messages\":[{\"role\":"
                               "\"user\",\"content\":\""
                             : "{\"model\":\"m\",\"system\":[\"");

            if (a == 4) {
                sb_str(&b, "x-anthropic-billing-header:");

            } else if (a == 5) {
                sb_add(&b, "x-anthropic-billing-header:", n % 28);
            }

            for (i = 0; i < n; i++) {
                switch ((i * 7 + a * 13) % (a == 0 ? 1 : 11)) {

                case 3:
                    sb_str(&b, a == 1 ? "\\n" : a == 2 ? "\xc3\xa9" : "\\\"");
                    break;

                case 8:
                    sb_str(&b, a == 1 ? "\\u20ac" : a == 2 ? "\\\\" : "\\t");
                    break;

                default:
                    s[0] = (char) ('a' + (i * 5 + a) % 26);
                    sb_add(&b, s, 1);
                }
            }

            sb_str(&b, a < 4 ? "\"}]}" : "\",\"S\"]}");
            h = pin_opening(b.p, b.len);
            d = (d ^ h) * 0x100000001b3ULL;
        }
    }

    pin_check("strings of 0 to 199 bytes", d, 0x6c98ef320180e71bULL);

    /* bodies shaped like the bench's larger ones */

    r.s = 0x2545f4914f6cdd1dULL;

    pin_oai(&r, &b, 15000, 7600, 0);
    h = pin_opening(b.p, b.len);
    pin_check("OpenAI, 50 KB", h, 0xf8ee595929d98b34ULL);

    pin_oai(&r, &b, 15000, 7600, 1);
    h = pin_opening(b.p, b.len);
    pin_check("OpenAI, 50 KB of code", h, 0x9b5711855d84f3cfULL);

    pin_anth(&r, &b, 15000, 7600, 0);
    h = pin_opening(b.p, b.len);
    pin_check("Anthropic, 50 KB", h, 0xcb36b63f56460dffULL);

    pin_anth(&r, &b, 15000, 7600, 1);
    h = pin_opening(b.p, b.len);
    pin_check("Anthropic, 50 KB of code", h, 0x5507fb72733bec06ULL);

    pin_anth(&r, &b, 300000, 200000, 1);
    h = pin_opening(b.p, b.len);
    pin_check("Anthropic, 1 MB of code", h, 0x34d97a412a15cedfULL);

    pin_resp(&r, &b, 4000, 3000, 1);
    h = pin_opening(b.p, b.len);
    pin_check("Responses, items", h, 0xd79ee5c643389fa6ULL);

    pin_resp(&r, &b, 1000, 500, 0);
    h = pin_opening(b.p, b.len);
    pin_check("Responses, a string", h, 0xc58912ea6c314deaULL);

    make_request(&b, 50 * 1024);
    h = pin_opening(b.p, b.len);
    pin_check("make_request(50 KB)", h, 0x77c5706795143e1dULL);

    make_chat(&b);
    h = pin_opening(b.p, b.len);
    pin_check("make_chat()", h, 0xb249a255e4c0a7bbULL);

    /* generated documents, valid ones, their openings folded */

    r.s = 0x853c49e6748fea9bULL;
    d = 0xcbf29ce484222325ULL;

    for (i = 0; i < 600; i++) {
        b.len = 0;
        sb_str(&b, "{");

        for (n = 0; n < VF; n++) {
            if (rnd(&r) % 3 == 0) {
                continue;
            }

            sb_str(&b, b.len > 1 ? ",\"" : "\"");
            sb_str(&b, vkeys[rnd(&r) % VF]);
            sb_str(&b, "\":");
            gen_ws(&r, &b);
            gen_vvalue(&r, &b, 1, 0);
        }

        sb_str(&b, "}");
        h = pin_opening(b.p, b.len);
        d = (d ^ h) * 0x100000001b3ULL;
    }

    pin_check("600 generated documents", d, 0xea3e6db0c3eb26daULL);

    free(b.p);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_error_offsets),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_model_escapes),
        cmocka_unit_test(test_model_long),
        cmocka_unit_test(test_opening_claude_code),
        cmocka_unit_test(test_opening_openai),
        cmocka_unit_test(test_opening_none),
        cmocka_unit_test(test_field_types),
        cmocka_unit_test(test_duplicates_and_nesting),
        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_fast_atoms),
        cmocka_unit_test(test_fast_escapes),
        cmocka_unit_test(test_fast_generated),
        cmocka_unit_test(test_fast_uesc),
        cmocka_unit_test(test_fast_modes),
        cmocka_unit_test(test_opening_pinned),
        cmocka_unit_test(test_bench),
    };

    return cmocka_run_group_tests_name("olla_json", tests, NULL, NULL);
}
