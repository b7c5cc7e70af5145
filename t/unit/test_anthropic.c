
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the Anthropic <-> OpenAI translator (src/olla_anth_*.c,
 * olla_anthropic.h): requests, responses, errors, count_tokens and the
 * streaming state machine.  The cases re-express
 * reference/olla-anthropic.md 7 in our own data, with our deliberate
 * differences asserted, plus our own.
 *
 * JSON in this file is written with ' for " and ` for \" (see Q()), and
 * compared parsed (json_equal) wherever key order is free.  Every SSE
 * stream is fed whole, split in two at every byte boundary and one byte
 * at a time; the output must be the same every way.  Ids are made
 * deterministic with olla_anth_set_id_seed().
 *
 * OLLA_BIG_MB (default 50, 5 under valgrind) sets the size of the
 * long-stream test.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <malloc.h>
#include <dlfcn.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "olla_sse.h"
#include "olla_jdom.h"
#include "olla_anthropic.h"


#define FIXTURES  "t/unit/fixtures/anthropic/"


/* ------------------------------------------------------------ helpers */


/* allocations of one test, freed by its teardown */
static void    *pool[4096];
static size_t   npool;


static void *
keep(void *p)
{
    assert_non_null(p);
    assert_true(npool < sizeof(pool) / sizeof(pool[0]));
    pool[npool++] = p;
    return p;
}


static int
teardown(void **state)
{
    while (npool) {
        free(pool[--npool]);
    }

    olla_anth_set_id_seed(0);

    return 0;
}


/* ' -> ", ` -> \" */

static char *
Q(const char *s)
{
    char    *r, *p;
    size_t   n;

    n = strlen(s);
    r = keep(malloc(2 * n + 1));

    for (p = r; *s; s++) {
        if (*s == '\'') {
            *p++ = '"';

        } else if (*s == '`') {
            *p++ = '\\';
            *p++ = '"';

        } else {
            *p++ = *s;
        }
    }

    *p = '\0';

    return r;
}


static char *
fixture(const char *name, size_t *len)
{
    char    path[256], *buf;
    long    n;
    FILE   *f;

    snprintf(path, sizeof(path), FIXTURES "%s", name);

    f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s (run from the repository root)\n", path);
        fail();
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);

    buf = keep(malloc((size_t) n + 1));
    assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);

    if (len) {
        *len = (size_t) n;
    }

    return buf;
}


static json_t *
jparse(const char *s, size_t n)
{
    json_t        *v;
    json_error_t   e;

    v = json_loadb(s, n, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);
    if (v == NULL) {
        print_error("bad JSON (%s): %.*s\n", e.text, (int) n, s);
        fail();
    }

    return v;
}


static int
is_b58(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr("0OIl", s[i]) != NULL
            || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')
                 || (s[i] >= 'A' && s[i] <= 'Z')))
        {
            return 0;
        }
    }

    return 1;
}


/* generated ids ("msg_"/"toolu_" + 24 base58) -> "<msg>" / "<toolu>" */

static void
normalise(json_t *v)
{
    size_t       i;
    json_t      *e;
    const char  *k, *s;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            normalise(e);
        }
        return;
    }

    if (!json_is_object(v)) {
        return;
    }

    json_object_foreach(v, k, e) {
        s = json_string_value(e);

        if (strcmp(k, "id") == 0 && s != NULL) {
            if (strncmp(s, "msg_", 4) == 0 && strlen(s) == 28
                && is_b58(s + 4, 24))
            {
                json_object_set_new(v, k, json_string("<msg>"));
                continue;
            }

            if (strncmp(s, "toolu_", 6) == 0 && strlen(s) == 30
                && is_b58(s + 6, 24))
            {
                json_object_set_new(v, k, json_string("<toolu>"));
                continue;
            }
        }

        normalise(e);
    }
}


static void
assert_json_eq(json_t *got, const char *want)
{
    char    *g;
    json_t  *w;

    w = jparse(want, strlen(want));

    if (!json_equal(got, w)) {
        g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("got:  %s\nwant: %s\n", g, want);
        free(g);
        json_decref(w);
        fail();
    }

    json_decref(w);
}


/* compares a JSON text with an expected one (Q notation), ids normalised */

static void
assert_json_text(const char *got, size_t n, const char *want)
{
    json_t  *g;

    g = jparse(got, n);
    normalise(g);
    assert_json_eq(g, Q(want));
    json_decref(g);
}


/* ------------------------------------------------------------ requests */


static char *
to_openai(const char *in, olla_anth_info_t *info)
{
    int               rc;
    char              err[OLLA_ANTH_ERRLEN], *out, *chk;
    size_t            outlen, chklen;
    olla_anth_info_t  ci;

    err[0] = '\0';
    rc = olla_anth_request_to_openai(in, strlen(in), &out, &outlen, info,
                                     err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error: %s\nfor: %s\n", err, in);
        fail();
    }

    assert_non_null(out);
    assert_int_equal(strlen(out), outlen);

    /* a body the routing scan found valid: the same, its strings unchecked */

    rc = olla_anth_request_to_openai_checked(in, strlen(in), &chk, &chklen,
                                             &ci, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(chklen, outlen);
    assert_string_equal(chk, out);

    if (info != NULL) {
        assert_string_equal(ci.model, info->model);
        assert_int_equal(ci.stream, info->stream);
        assert_int_equal(ci.input_tokens, info->input_tokens);
    }

    free(chk);
    olla_anth_info_free(&ci);

    return keep(out);
}


static void
expect_req(const char *in, const char *want)
{
    char              *out;
    olla_anth_info_t   info;

    out = to_openai(Q(in), &info);
    assert_json_text(out, strlen(out), want);
    olla_anth_info_free(&info);
}


static void
expect_req_error(const char *in, const char *want)
{
    int                rc;
    char               err[OLLA_ANTH_ERRLEN], *out;
    size_t             outlen;
    olla_anth_info_t   info;

    in = Q(in);
    out = (char *) 1;
    outlen = 1;
    err[0] = '\0';

    rc = olla_anth_request_to_openai(in, strlen(in), &out, &outlen, &info,
                                     err, sizeof(err));

    assert_int_equal(rc, -1);
    assert_null(out);
    assert_int_equal(outlen, 0);
    assert_null(info.model);

    if (strstr(err, want) == NULL) {
        print_error("error \"%s\", want \"%s\"\nfor: %s\n", err, want, in);
        fail();
    }

    /* validate() agrees when the fault is one it checks */
    rc = olla_anth_validate(in, strlen(in), &info, err, sizeof(err));
    if (rc == 0) {
        olla_anth_info_free(&info);
    }
}


#define REQ(extra, msgs)                                                     \
    "{'model':'ai/smollm2','max_tokens':64" extra ",'messages':" msgs "}"

#define HI  "[{'role':'user','content':'Hi'}]"


static void
test_req_simple(void **state)
{
    char              *out;
    olla_anth_info_t   info;

    out = to_openai(Q("{'model':'ai/smollm2','max_tokens':256,"
                      "'messages':[{'role':'user',"
                      "'content':'Hi there, model.'}]}"), &info);

    assert_json_text(out, strlen(out),
        "{'model':'ai/smollm2','messages':[{'role':'user',"
        "'content':'Hi there, model.'}],'max_tokens':256,'stream':false}");

    assert_string_equal(info.model, "ai/smollm2");
    assert_int_equal(info.stream, 0);
    assert_int_equal(info.input_tokens, 4);      /* 16 bytes / 4 */

    /* compact, and model first */
    assert_true(strncmp(out, "{\"model\":\"ai/smollm2\",\"messages\":", 33)
                == 0);
    assert_null(strstr(out, "\": "));
    assert_null(strchr(out, '\n'));

    olla_anth_info_free(&info);
    assert_null(info.model);
    olla_anth_info_free(&info);
    olla_anth_info_free(NULL);
}


static void
test_req_system(void **state)
{
    expect_req(REQ(",'system':'You answer in French.'",
                   "[{'role':'user','content':'Bonjour'}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'You answer in French.'},"
        "{'role':'user','content':'Bonjour'}]}");

    /* blocks joined with a newline (Olla joins with nothing) */
    expect_req(REQ(",'system':[{'type':'text','text':'You write haiku.'},"
                   "{'type':'text','text':'Keep it short.',"
                   "'cache_control':{'type':'ephemeral'}}]", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'You write haiku.\\nKeep it short.'},"
        "{'role':'user','content':'Hi'}]}");

    /* empty texts and other blocks are skipped; typeless text counts */
    expect_req(REQ(",'system':[{'type':'text','text':''},"
                   "{'type':'image','source':{}},{'text':'Only this'}]", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'Only this'},"
        "{'role':'user','content':'Hi'}]}");

    /* nothing left, empty string, null: no system message */
    expect_req(REQ(",'system':[]", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");
    expect_req(REQ(",'system':''", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");
    expect_req(REQ(",'system':null", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    /* Claude Code's attribution block is left out */
    expect_req(REQ(",'system':[{'type':'text','text':"
                   "'x-anthropic-billing-header: cc_version=2.1; cch=a1b2c;'},"
                   "{'type':'text','text':'Be terse.'}]", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'Be terse.'},"
        "{'role':'user','content':'Hi'}]}");

    /* escaped, in its first bytes and after them (the text may be left
       escaped by the checked parse: its head is read unescaped) */
    expect_req(REQ(",'system':[{'type':'text','text':"
                   "'X\\u002danthropic-billing-header:\\ncch=a1b2c;'},"
                   "{'type':'text','text':'Be\\nterse.'},"
                   "{'type':'text','text':'x-anthropic-billing\\t'}]", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'Be\\nterse.\\nx-anthropic-billing\\t'},"
        "{'role':'user','content':'Hi'}]}");

    /* a single block object */
    expect_req(REQ(",'system':{'type':'text','text':'Solo.'}", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'Solo.'},{'role':'user','content':'Hi'}]}");

    expect_req_error(REQ(",'system':42", HI),
                     "system must be a string or an array of text blocks");
    expect_req_error(REQ(",'system':true", HI),
                     "system must be a string or an array of text blocks");
}


#define FORECAST_TOOL                                                        \
    "{'name':'get_forecast','description':'Forecast for a city',"            \
    "'input_schema':{'type':'object','properties':{'city':{'type':'string'," \
    "'description':'City name'}},'required':['city']}}"

#define FORECAST_FN                                                          \
    "{'type':'function','function':{'name':'get_forecast',"                  \
    "'description':'Forecast for a city','parameters':{'type':'object',"     \
    "'properties':{'city':{'type':'string','description':'City name'}},"     \
    "'required':['city']}}}"


static void
test_req_tools(void **state)
{
    expect_req(REQ(",'tools':[" FORECAST_TOOL ",{'name':'now',"
                   "'description':'Current time'}],'tool_choice':"
                   "{'type':'auto'}",
                   "[{'role':'user','content':'Weather in Oslo?'}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':[{'role':'user','content':'Weather in Oslo?'}],"
        "'tools':[" FORECAST_FN ",{'type':'function','function':{"
        "'name':'now','description':'Current time','parameters':"
        "{'type':'object','properties':{}}}}],'tool_choice':'auto'}");

    /* no tool_choice given: none sent (the backend's default is auto) */
    expect_req(REQ(",'tools':[" FORECAST_TOOL "]", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI ",'tools':[" FORECAST_FN "]}");

    /* Anthropic server tools are left out; type custom is kept */
    expect_req(REQ(",'tools':[{'type':'web_search_20250305',"
                   "'name':'web_search','max_uses':3},{'type':'custom',"
                   "'name':'now'}],'tool_choice':{'type':'any'}", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI ",'tools':[{'type':'function','function':{"
        "'name':'now','parameters':{'type':'object','properties':{}}}}],"
        "'tool_choice':'required'}");

    /* only server tools: neither tools nor tool_choice */
    expect_req(REQ(",'tools':[{'type':'bash_20250124','name':'bash'}],"
                   "'tool_choice':{'type':'any'}", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    /* empty or null tools */
    expect_req(REQ(",'tools':[],'tool_choice':'any'", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");
    expect_req(REQ(",'tools':null", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    expect_req_error(REQ(",'tools':'all'", HI), "tools must be an array");
    expect_req_error(REQ(",'tools':[7]", HI), "tools[0] must be an object");
    expect_req_error(REQ(",'tools':[" FORECAST_TOOL ",{'description':'x'}]",
                         HI),
                     "tools[1].name must be a non-empty string");
    expect_req_error(REQ(",'tools':[{'name':''}]", HI),
                     "tools[0].name must be a non-empty string");
}


/* the tool_choice a request with one tool ends up with */

static void
expect_choice(const char *tc, const char *want)
{
    char     req[1024], *out;
    json_t  *v;

    snprintf(req, sizeof(req),
             REQ(",'tools':[{'name':'now'}],'tool_choice':%s", HI), tc);

    out = to_openai(Q(req), NULL);
    v = jparse(out, strlen(out));

    if (want == NULL) {
        assert_null(json_object_get(v, "tool_choice"));

    } else {
        assert_json_eq(json_object_get(v, "tool_choice"), Q(want));
    }

    json_decref(v);
}


static void
test_req_tool_choice(void **state)
{
    char     *out;
    json_t   *v;

    expect_choice("'auto'", "'auto'");
    expect_choice("'any'", "'required'");
    expect_choice("'none'", "'none'");
    expect_choice("{'type':'auto'}", "'auto'");
    expect_choice("{'type':'any'}", "'required'");
    /* Olla maps the object form of none to auto; we keep none */
    expect_choice("{'type':'none'}", "'none'");
    expect_choice("{'type':'tool','name':'now'}",
                  "{'type':'function','function':{'name':'now'}}");
    expect_choice("'sometimes'", "'auto'");
    expect_choice("{'type':'later'}", "'auto'");
    expect_choice("null", NULL);

    expect_req_error(REQ(",'tools':[{'name':'now'}],'tool_choice':"
                         "{'type':'tool'}", HI),
                     "tool_choice of type \"tool\" requires a name");
    expect_req_error(REQ(",'tools':[{'name':'now'}],'tool_choice':"
                         "{'type':'tool','name':''}", HI),
                     "requires a name");
    expect_req_error(REQ(",'tools':[{'name':'now'}],'tool_choice':7", HI),
                     "tool_choice must be a string or an object");

    /* checked even when no tool goes along, but then not sent */
    expect_req_error(REQ(",'tool_choice':{'type':'tool'}", HI),
                     "requires a name");
    expect_req(REQ(",'tool_choice':{'type':'any'}", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    /* disable_parallel_tool_use -> parallel_tool_calls false */
    out = to_openai(Q(REQ(",'tools':[{'name':'now'}],'tool_choice':"
                          "{'type':'any','disable_parallel_tool_use':true}",
                          HI)), NULL);
    v = jparse(out, strlen(out));
    assert_json_eq(json_object_get(v, "tool_choice"), "\"required\"");
    assert_true(json_is_false(json_object_get(v, "parallel_tool_calls")));
    json_decref(v);

    out = to_openai(Q(REQ(",'tools':[{'name':'now'}],'tool_choice':"
                          "{'type':'auto','disable_parallel_tool_use':false}",
                          HI)), NULL);
    v = jparse(out, strlen(out));
    assert_null(json_object_get(v, "parallel_tool_calls"));
    json_decref(v);
}


/*
 * A tool's schema and a call's input are passed on as the client wrote
 * them: white space and escapes too, and a key given twice (the backend's
 * parser reads them as it would have from the client).
 */

static void
test_req_tools_as_written(void **state)
{
    char  *out;

    out = to_openai(Q(REQ(",'tools':[{'name':'t','input_schema':"
                          "{ 'type' : 'object',\n 'properties':{'p':{"
                          "'description':'caf\\u00e9 \\/ `q`'}} }}]",
                          "[{'role':'user','content':'Go'},"
                          "{'role':'assistant','content':[{'type':'tool_use',"
                          "'id':'t1','name':'t','input':{ 'p' : [ 1, 2.50 ] }"
                          "}]}]")), NULL);

    assert_non_null(strstr(out, Q("'parameters':{ 'type' : 'object',\n "
                                  "'properties':{'p':{'description':"
                                  "'caf\\u00e9 \\/ `q`'}} }}")));
    assert_non_null(strstr(out, Q("'arguments':'{ `p` : [ 1, 2.50 ] }'")));

    out = to_openai(Q(REQ(",'tools':[{'name':'t','input_schema':"
                          "{'type':'string', 'type':'object',"
                          " 'properties':{ }}}]",
                          "[{'role':'user','content':'Go'},"
                          "{'role':'assistant','content':[{'type':'tool_use',"
                          "'id':'t1','name':'t','input':{'a':1, 'a':[ 2 ]}"
                          "}]}]")), NULL);

    assert_non_null(strstr(out, Q("'parameters':{'type':'string', "
                                  "'type':'object', 'properties':{ }}}")));
    assert_non_null(strstr(out, Q("'arguments':'{`a`:1, `a`:[ 2 ]}'")));
}


static void
test_req_tool_round_trip(void **state)
{
    expect_req(REQ("", "["
        "{'role':'user','content':'Weather in Oslo?'},"
        "{'role':'assistant','content':[{'type':'text',"
        "'text':'Checking the forecast.'},{'type':'tool_use',"
        "'id':'toolu_w1','name':'get_forecast','input':{'city':'Oslo',"
        "'days':2}}]},"
        "{'role':'user','content':[{'type':'tool_result',"
        "'tool_use_id':'toolu_w1','content':'Rain, 9 \\u00b0C'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'Weather in Oslo?'},"
        "{'role':'assistant','content':'Checking the forecast.',"
        "'tool_calls':[{'id':'toolu_w1','type':'function','function':{"
        "'name':'get_forecast','arguments':'{`city`:`Oslo`,`days`:2}'}}]},"
        "{'role':'tool','tool_call_id':'toolu_w1',"
        "'content':'Rain, 9 \\u00b0C'}]}");

    /* two tool_use blocks keep their order; no text -> content null */
    expect_req(REQ("", "[{'role':'user','content':'Go'},"
        "{'role':'assistant','content':["
        "{'type':'tool_use','id':'t1','name':'get_forecast',"
        "'input':{'city':'Lima'}},"
        "{'type':'tool_use','id':'t2','name':'get_time',"
        "'input':{'tz':'PET','exact':true,'n':[1,2.5]}}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'Go'},"
        "{'role':'assistant','content':null,'tool_calls':["
        "{'id':'t1','type':'function','function':{'name':'get_forecast',"
        "'arguments':'{`city`:`Lima`}'}},"
        "{'id':'t2','type':'function','function':{'name':'get_time',"
        "'arguments':'{`tz`:`PET`,`exact`:true,`n`:[1,2.5]}'}}]}]}");

    /* input absent or null -> "{}"; no id or no name -> skipped */
    expect_req(REQ("", "[{'role':'user','content':'Go'},"
        "{'role':'assistant','content':["
        "{'type':'tool_use','id':'t1','name':'ping'},"
        "{'type':'tool_use','id':'t2','name':'ping','input':null},"
        "{'type':'tool_use','name':'lost','input':{}},"
        "{'type':'tool_use','id':'t4','input':{}}]},"
        "{'role':'assistant','content':[{'type':'tool_use','id':'t5'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'Go'},"
        "{'role':'assistant','content':null,'tool_calls':["
        "{'id':'t1','type':'function','function':{'name':'ping',"
        "'arguments':'{}'}},"
        "{'id':'t2','type':'function','function':{'name':'ping',"
        "'arguments':'{}'}}]}]}");
}


/*
 * Strings are copied as the client escaped them (every kind of escape,
 * canonical or not): the output holds the same text, and decodes to the
 * same values.  Tool arguments (the JSON text of tool_use input) are
 * compared decoded.
 */

#define ESC  "a\\/b \\u00e9 \\ud83d\\ude00 x\\u0000y ` \\\\ \\n \\t "       \
             "\\u001f \\u001F \\b \\r \\f \\u0041 \\u20ac end"

/* the same without U+0000, which keys cannot hold */
#define KEY  "a\\/b \\u00e9 \\ud83d\\ude00 ` \\\\ \\n \\u001f \\u001F \\u0041"

static void
args_decoded(json_t *v)
{
    size_t       i;
    json_t      *e, *a;
    const char  *k;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            args_decoded(e);
        }
        return;
    }

    if (!json_is_object(v)) {
        return;
    }

    json_object_foreach(v, k, e) {
        if (strcmp(k, "arguments") == 0 && json_is_string(e)) {
            a = jparse(json_string_value(e), json_string_length(e));
            json_object_set_new(v, k, a);
            continue;
        }

        args_decoded(e);
    }
}


static void
expect_req_decoded(const char *in, const char *want)
{
    char              *out;
    json_t            *g;
    olla_anth_info_t   info;

    out = to_openai(Q(in), &info);
    g = jparse(out, strlen(out));
    args_decoded(g);
    assert_json_eq(g, Q(want));
    json_decref(g);
    olla_anth_info_free(&info);

    /* the client's escapes, copied */
    assert_non_null(strstr(out, "a\\/b \\u00e9 \\ud83d\\ude00 x\\u0000y"));
}


static void
test_req_escapes(void **state)
{
    long               n1, n2, n3;
    char              *out, err[OLLA_ANTH_ERRLEN], body[512];
    size_t             i, k;
    json_t            *g, *v;
    const char        *e;
    olla_anth_info_t   info;

    static const struct {
        const char    *client;
        const char    *jansson;
    }  escs[] = {
        { "\\/", "/" }, { "\\u00e9", "\xc3\xa9" }, { "\\u000a", "\\n" },
        { "\\u0041", "A" }, { "\\ud83d\\ude00", "\xf0\x9f\x98\x80" },
        { "\\u007f", "\x7f" }, { "\\u001f", "\\u001F" },
        { "\\u0009", "\\t" }, { "\\u0022", "\\\"" }, { "\\u005c", "\\\\" },
        { "\\u0001", "\\u0001" }, { "\\b\\\"", "\\b\\\"" }
    };

    expect_req_decoded("{'model':'m','max_tokens':64,'system':'" ESC "',"
        "'metadata':{'user_id':'" ESC "'},"
        "'tools':[{'name':'t','description':'" ESC "','input_schema':{"
        "'type':'object','properties':{'k" KEY "':{'type':'string',"
        "'description':'" ESC "'}}}}],"
        "'messages':[{'role':'user','content':'" ESC "'},"
        "{'role':'user','content':[{'type':'text','text':'" ESC "'},"
        "{'type':'text','text':'" ESC "'}]},"
        "{'role':'assistant','content':[{'type':'text','text':'" ESC "'},"
        "{'type':'text','text':'" ESC "'},"
        "{'type':'tool_use','id':'t\\u00e91','name':'t',"
        "'input':{'k" KEY "':'" ESC "','n':[1,'" ESC "',{'" KEY "':null}]}}"
        "]},"
        "{'role':'user','content':[{'type':'tool_result',"
        "'tool_use_id':'t\\u00e91','content':'" ESC "'}]},"
        "{'role':'user','content':[{'type':'tool_result',"
        "'tool_use_id':'t\\u00e91','content':[{'type':'text','text':'"
        ESC "'},{'type':'text','text':'" ESC "'}]}]},"
        "{'role':'user','content':[{'type':'tool_result',"
        "'tool_use_id':'t\\u00e91','is_error':true,'content':'" ESC "'}]}"
        "]}",

        "{'model':'m','max_tokens':64,'stream':false,'user':'" ESC "',"
        "'tools':[{'type':'function','function':{'name':'t',"
        "'description':'" ESC "','parameters':{'type':'object',"
        "'properties':{'k" KEY "':{'type':'string',"
        "'description':'" ESC "'}}}}}],"
        "'messages':[{'role':'system','content':'" ESC "'},"
        "{'role':'user','content':'" ESC "'},"
        "{'role':'user','content':[{'type':'text','text':'" ESC "'},"
        "{'type':'text','text':'" ESC "'}]},"
        "{'role':'assistant','content':'" ESC "\\n" ESC "',"
        "'tool_calls':[{'id':'t\\u00e91','type':'function','function':{"
        "'name':'t','arguments':{'k" KEY "':'" ESC "','n':[1,'" ESC "',{'"
        KEY "':null}]}}}]},"
        "{'role':'tool','tool_call_id':'t\\u00e91','content':'" ESC "'},"
        "{'role':'tool','tool_call_id':'t\\u00e91','content':'"
        ESC "\\n" ESC "'},"
        "{'role':'tool','tool_call_id':'t\\u00e91','content':'Error: "
        ESC "'}]}");

    /* a tool_result's content of another kind: its JSON text */
    out = to_openai(Q("{'model':'m','max_tokens':64,'messages':["
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t',"
        "'content':{'k" KEY "':['" ESC "']}}]}]}"), &info);
    olla_anth_info_free(&info);
    g = jparse(out, strlen(out));
    v = json_object_get(json_array_get(json_object_get(g, "messages"), 0),
                        "content");
    assert_true(json_is_string(v));
    v = jparse(json_string_value(v), json_string_length(v));
    assert_json_eq(v, Q("{'k" KEY "':['" ESC "']}"));
    json_decref(v);
    json_decref(g);

    /* system blocks joined */
    expect_req_decoded("{'model':'m','max_tokens':64,'system':["
        "{'type':'text','text':'" ESC "'},{'type':'text','text':'" ESC "'}],"
        "'messages':[{'role':'user','content':'x'}]}",
        "{'model':'m','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'" ESC "\\n" ESC "'},"
        "{'role':'user','content':'x'}]}");

    /*
     * count_tokens counts tool input as jansson writes it, whatever the
     * client's escapes: the same values escaped two ways count the same
     */

    for (i = 0; i < sizeof(escs) / sizeof(escs[0]); i++) {
        for (k = 0; k < 2; k++) {
            e = k ? escs[i].jansson : escs[i].client;
            snprintf(body, sizeof(body),
                     "{\"messages\":[{\"role\":\"assistant\",\"content\":"
                     "[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"t\","
                     "\"input\":{\"%s%s\":\"%s%s%s%s%s%s%s%s\"}}]}]}",
                     e, e, e, e, e, e, e, e, e, e);

            assert_int_equal(olla_anth_count_tokens(body, strlen(body),
                                                    k ? &n2 : &n1, err,
                                                    sizeof(err)), 0);
            assert_int_equal(olla_anth_count_tokens_checked(body,
                                 strlen(body), &n3, err, sizeof(err)), 0);
            assert_int_equal(n3, k ? n2 : n1);
        }

        assert_int_equal(n1, n2);
    }
}

/*
 * The same without U+0000, in strings long enough to be read 64 bytes a
 * step: a checked parse leaves them escaped (OLLA_JDOM_LAZY) where it
 * only writes them; the output is the same (to_openai() compares the
 * checked translation with the other) and holds the same values.
 */

#define LESC  "a\\/b \\u00e9 \\ud83d\\ude00 ` \\\\ \\n \\t \\\\\\\\\\\" "      \
              "\\u001f \\u001F \\b \\r \\f \\u0041 \\u20ac \\\\\\\\\\\\ end " \
              "\\\"quoted\\\" \\u00e9\\u00e9\\u00e9 \\ud83d\\ude00\\n\\n"

static void
test_req_escapes_lazy(void **state)
{
    char        *out;
    json_t      *g, *m, *want;

    out = to_openai(Q(REQ(",'system':[{'type':'text','text':'" LESC "'}],"
        "'tools':[{'name':'f','description':'" LESC "'}]",
        "[{'role':'user','content':'" LESC "'},"
        "{'role':'user','content':[{'type':'text','text':'" LESC "'}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t',"
        "'content':'" LESC "'},{'type':'tool_result','tool_use_id':'u',"
        "'is_error':true,'content':[{'type':'text','text':'" LESC "'}]}]}"
        "]")), NULL);

    assert_non_null(strstr(out, "\\\\\\\\\\\" \\u001f \\u001F \\b"));

    want = jparse(Q("'" LESC "'"), strlen(Q("'" LESC "'")));
    g = jparse(out, strlen(out));
    m = json_object_get(g, "messages");

    assert_true(json_equal(json_object_get(json_array_get(m, 0), "content"),
                           want));
    assert_true(json_equal(json_object_get(json_array_get(m, 1), "content"),
                           want));
    assert_true(json_equal(json_object_get(json_array_get(m, 3), "content"),
                           want));

    json_decref(g);
    json_decref(want);
}



static void
test_req_user_blocks(void **state)
{
    /* one text block -> a string; several -> content parts */
    expect_req(REQ("", "[{'role':'user','content':[{'type':'text',"
                   "'text':'Just one.'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'Just one.'}]}");

    expect_req(REQ("", "[{'role':'user','content':[{'type':'text',"
                   "'text':'First part.'},{'type':'text',"
                   "'text':'Second part.','cache_control':{'type':"
                   "'ephemeral'}}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':[{'type':'text','text':'First part.'},"
        "{'type':'text','text':'Second part.'}]}]}");

    /* a single block object counts as an array of one */
    expect_req(REQ("", "[{'role':'user','content':{'type':'text',"
                   "'text':'Object.'}}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'Object.'}]}");

    /* empty content: the message is dropped */
    expect_req(REQ("", "[{'role':'user','content':''},"
                   "{'role':'user','content':[{'type':'text','text':''}]},"
                   "{'role':'user','content':[]},"
                   "{'role':'user','content':'kept'}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'kept'}]}");

    /* unknown blocks are ignored, not turned into empty messages */
    expect_req(REQ("", "[{'role':'user','content':[{'type':'document',"
                   "'source':{}},{'type':'search_result'},"
                   "{'type':'text','text':'left'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'left'}]}");

    /* another role with string content is passed as it is */
    expect_req(REQ("", "[{'role':'system','content':'extra rules'},"
                   "{'role':'user','content':'Hi'}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'system','content':'extra rules'},"
        "{'role':'user','content':'Hi'}]}");
}


static void
test_req_images(void **state)
{
    /* images are kept (Olla drops them) */
    expect_req(REQ("", "[{'role':'user','content':["
        "{'type':'text','text':'What is this?'},"
        "{'type':'image','source':{'type':'base64','media_type':"
        "'image/png','data':'iVBORw0KGgo='}},"
        "{'type':'image','source':{'type':'url',"
        "'url':'https://example.com/cat.jpg'}}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':[{'type':'text','text':'What is this?'},"
        "{'type':'image_url','image_url':{'url':"
        "'data:image/png;base64,iVBORw0KGgo='}},"
        "{'type':'image_url','image_url':{'url':"
        "'https://example.com/cat.jpg'}}]}]}");

    /* an image alone is still content parts */
    expect_req(REQ("", "[{'role':'user','content':[{'type':'image',"
                   "'source':{'type':'base64','media_type':'image/jpeg',"
                   "'data':'/9j/4AAQ'}}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':[{'type':'image_url','image_url':{"
        "'url':'data:image/jpeg;base64,/9j/4AAQ'}}]}]}");

    /* an image that cannot be expressed is left out */
    expect_req(REQ("", "[{'role':'user','content':["
        "{'type':'text','text':'See file.'},"
        "{'type':'image','source':{'type':'file','file_id':'f_1'}},"
        "{'type':'image','source':{'type':'base64','data':'AAAA'}},"
        "{'type':'image'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'See file.'}]}");
}


static void
test_req_tool_results(void **state)
{
    /* tool messages come first, then the user's text */
    expect_req(REQ("", "[{'role':'user','content':["
        "{'type':'text','text':'Here is the result:'},"
        "{'type':'tool_result','tool_use_id':'tm','content':'Data'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'tool','tool_call_id':'tm','content':'Data'},"
        "{'role':'user','content':'Here is the result:'}]}");

    expect_req(REQ("", "[{'role':'user','content':["
        "{'type':'tool_result','tool_use_id':'r1','content':'one'},"
        "{'type':'tool_result','tool_use_id':'r2','content':'two'},"
        "{'type':'text','text':'go on'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'tool','tool_call_id':'r1','content':'one'},"
        "{'role':'tool','tool_call_id':'r2','content':'two'},"
        "{'role':'user','content':'go on'}]}");

    /* only a tool_result: no user message */
    expect_req(REQ("", "[{'role':'user','content':[{'type':'tool_result',"
                   "'tool_use_id':'only','content':'Result data here'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'tool','tool_call_id':'only',"
        "'content':'Result data here'}]}");

    /* blocks -> their texts joined with \n (Olla sends their JSON) */
    expect_req(REQ("", "[{'role':'user','content':[{'type':'tool_result',"
        "'tool_use_id':'b','content':[{'type':'text','text':'line one'},"
        "{'type':'image','source':{}},{'type':'text','text':'line two'}]}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'tool','tool_call_id':'b',"
        "'content':'line one\\nline two'}]}");

    /* another JSON value -> its JSON text; none -> "" */
    expect_req(REQ("", "[{'role':'user','content':[{'type':'tool_result',"
        "'tool_use_id':'s','content':{'temperature':18,"
        "'conditions':'cloudy'}},{'type':'tool_result','tool_use_id':'e'}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'tool','tool_call_id':'s',"
        "'content':'{`temperature`:18,`conditions`:`cloudy`}'},"
        "{'role':'tool','tool_call_id':'e','content':''}]}");

    /* is_error */
    expect_req(REQ("", "[{'role':'user','content':["
        "{'type':'tool_result','tool_use_id':'a','is_error':true,"
        "'content':'file not found'},"
        "{'type':'tool_result','tool_use_id':'b','is_error':true,"
        "'content':'Error: already prefixed'},"
        "{'type':'tool_result','tool_use_id':'c','is_error':true,"
        "'content':'ERROR 42'},"
        "{'type':'tool_result','tool_use_id':'d','is_error':false,"
        "'content':'fine'},"
        "{'type':'tool_result','tool_use_id':'e','is_error':true,"
        "'content':[{'type':'text','text':'exit 2'}]},"
        "{'type':'tool_result','tool_use_id':'f','is_error':true},"
        "{'type':'tool_result','tool_use_id':'g','is_error':true,"
        "'content':'\\u0065rror:\\n\\u00e9'},"
        "{'type':'tool_result','tool_use_id':'h','is_error':true,"
        "'content':[{'type':'text','text':'a\\tb'},{'type':'text',"
        "'text':'\\ud83d\\ude00'}]}]}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'tool','tool_call_id':'a','content':'Error: file not found'},"
        "{'role':'tool','tool_call_id':'b',"
        "'content':'Error: already prefixed'},"
        "{'role':'tool','tool_call_id':'c','content':'ERROR 42'},"
        "{'role':'tool','tool_call_id':'d','content':'fine'},"
        "{'role':'tool','tool_call_id':'e','content':'Error: exit 2'},"
        "{'role':'tool','tool_call_id':'f','content':'Error: '},"
        "{'role':'tool','tool_call_id':'g','content':'error:\\n\xc3\xa9'},"
        "{'role':'tool','tool_call_id':'h',"
        "'content':'Error: a\\tb\\n\xf0\x9f\x98\x80'}]}");
}


static void
test_req_assistant_blocks(void **state)
{
    /* thinking and redacted_thinking are dropped, texts joined */
    expect_req(REQ("", "[{'role':'user','content':'Q'},"
        "{'role':'assistant','content':["
        "{'type':'thinking','thinking':'hmm','signature':'sig'},"
        "{'type':'redacted_thinking','data':'xyz'},"
        "{'type':'text','text':'Part A.'},{'type':'text','text':'Part B.'}]},"
        "{'role':'assistant','content':[{'type':'thinking',"
        "'thinking':'only this'}]},"
        "{'role':'assistant','content':''},"
        "{'role':'user','content':'more'}]"),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,'messages':["
        "{'role':'user','content':'Q'},"
        "{'role':'assistant','content':'Part A.\\nPart B.'},"
        "{'role':'user','content':'more'}]}");
}


static void
test_req_params(void **state)
{
    char              *out;
    olla_anth_info_t   info;

    out = to_openai(Q(REQ(",'temperature':0.7,'top_p':0.9,'top_k':40,"
                          "'stop_sequences':['END','STOP'],'stream':true",
                          HI)), &info);

    assert_json_text(out, strlen(out),
        "{'model':'ai/smollm2','max_tokens':64,'messages':" HI ","
        "'temperature':0.7,'top_p':0.9,'stop':['END','STOP'],"
        "'stream':true,'stream_options':{'include_usage':true}}");

    /* numbers as a person wrote them, not 0.69999999999999996 */
    assert_non_null(strstr(out, "\"temperature\":0.7,"));
    assert_non_null(strstr(out, "\"top_p\":0.9,"));
    assert_int_equal(info.stream, 1);
    olla_anth_info_free(&info);

    /* empty stop_sequences: no stop; nulls are absent */
    expect_req(REQ(",'stop_sequences':[],'temperature':null,'top_p':null,"
                   "'stream':null", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    expect_req_error(REQ(",'stop_sequences':'END'", HI),
                     "stop_sequences must be an array of strings");
    expect_req_error(REQ(",'stop_sequences':['END',3]", HI),
                     "stop_sequences must be an array of strings");
}


static void
test_req_dropped_fields(void **state)
{
    expect_req(REQ(",'thinking':{'type':'enabled','budget_tokens':2048},"
                   "'context_management':{'edits':[]},"
                   "'output_config':{'effort':'high'},"
                   "'service_tier':'auto','top_k':5,'container':null,"
                   "'mcp_servers':[],'metadata':{'purpose':'x'},"
                   "'some_future_field':{'a':[1,2,3]}", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    expect_req(REQ(",'thinking':'on'", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");
    expect_req(REQ(",'thinking':true", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    /* metadata.user_id -> user */
    expect_req(REQ(",'metadata':{'user_id':'u-42'}", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI ",'user':'u-42'}");
    expect_req(REQ(",'metadata':{'user_id':''}", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");
    expect_req(REQ(",'metadata':'nope'", HI),
        "{'model':'ai/smollm2','max_tokens':64,'stream':false,"
        "'messages':" HI "}");

    /* an unknown field does not excuse a bad known one */
    expect_req_error(REQ(",'unknown':1,'temperature':5.0", HI),
                     "\"temperature\" must be a number between 0 and 2");
}


static void
test_req_validation(void **state)
{
    expect_req_error("{'max_tokens':64,'messages':" HI "}",
                     "\"model\" is required and must be a non-empty string");
    expect_req_error("{'model':'','max_tokens':64,'messages':" HI "}",
                     "\"model\" is required and must be a non-empty string");
    expect_req_error("{'model':5,'max_tokens':64,'messages':" HI "}",
                     "\"model\" is required and must be a non-empty string");
    expect_req_error("{'model':null,'max_tokens':64,'messages':" HI "}",
                     "\"model\" is required and must be a non-empty string");
    expect_req_error("{'model':'a\\nb','max_tokens':64,'messages':" HI "}",
                     "\"model\" must not contain control characters");
    expect_req_error("{'model':'a\\u0000b','max_tokens':64,'messages':"
                     HI "}",
                     "\"model\" must not contain control characters");

    expect_req_error("{'model':'m','max_tokens':64}",
                     "\"messages\" is required and must be an array");
    expect_req_error("{'model':'m','max_tokens':64,'messages':[]}",
                     "\"messages\" must not be empty");
    expect_req_error("{'model':'m','max_tokens':64,'messages':'Hi'}",
                     "\"messages\" is required and must be an array");

    expect_req_error("{'model':'m','messages':" HI "}",
                     "\"max_tokens\" is required and must be an integer >= 1");
    expect_req_error("{'model':'m','max_tokens':-1,'messages':" HI "}",
                     "\"max_tokens\" is required and must be an integer >= 1");
    expect_req_error("{'model':'m','max_tokens':0,'messages':" HI "}",
                     "\"max_tokens\" is required and must be an integer >= 1");
    expect_req_error("{'model':'m','max_tokens':1.5,'messages':" HI "}",
                     "\"max_tokens\" is required and must be an integer >= 1");
    expect_req_error("{'model':'m','max_tokens':'10','messages':" HI "}",
                     "\"max_tokens\" is required and must be an integer >= 1");

    expect_req_error(REQ(",'temperature':2.1", HI),
                     "\"temperature\" must be a number between 0 and 2");
    expect_req_error(REQ(",'temperature':-0.1", HI),
                     "\"temperature\" must be a number between 0 and 2");
    expect_req_error(REQ(",'temperature':'hot'", HI),
                     "\"temperature\" must be a number between 0 and 2");
    expect_req_error(REQ(",'top_p':1.1", HI),
                     "\"top_p\" must be a number between 0 and 1");
    expect_req_error(REQ(",'top_p':-0.1", HI),
                     "\"top_p\" must be a number between 0 and 1");
    expect_req_error(REQ(",'top_k':-1", HI), "\"top_k\" must be an integer >= 0");
    expect_req_error(REQ(",'top_k':2.5", HI),
                     "\"top_k\" must be an integer >= 0");
    expect_req_error(REQ(",'stream':'true'", HI), "\"stream\" must be a boolean");

    /* the limits themselves are fine */
    to_openai(Q(REQ(",'temperature':0,'top_p':0,'top_k':0", HI)), NULL);
    to_openai(Q(REQ(",'temperature':2,'top_p':1", HI)), NULL);
    to_openai(Q("{'model':'m','max_tokens':1,'messages':" HI "}"), NULL);

    /* message structure */
    expect_req_error(REQ("", "[{'role':'user','content':'Hi'},"
                         "{'role':'user','content':42}]"),
                     "messages[1].content must be a string or an array of "
                     "content blocks");
    expect_req_error(REQ("", "[{'role':'user','content':null}]"),
                     "messages[0].content must be a string");
    expect_req_error(REQ("", "[{'role':'user'}]"),
                     "messages[0].content must be a string");
    expect_req_error(REQ("", "['Hi']"), "messages[0] must be an object");
    expect_req_error(REQ("", "[{'content':'Hi'}]"),
                     "messages[0].role must be a non-empty string");
    expect_req_error(REQ("", "[{'role':7,'content':'Hi'}]"),
                     "messages[0].role must be a non-empty string");
}


static void
test_req_bad_json(void **state)
{
    int                rc;
    char               err[OLLA_ANTH_ERRLEN];
    olla_anth_info_t   info;

    expect_req_error("{invalid json", "request body is not valid JSON: ");
    expect_req_error("{invalid json", " at line 1 column 8");
    expect_req_error("{'model':'m',\n'max_tokens':", "at line 2 column");
    expect_req_error("", "request body is empty");
    expect_req_error(" \r\n\t", "request body is empty");
    expect_req_error("[1,2]", "request body must be a JSON object");
    expect_req_error("'text'", "request body must be a JSON object");
    expect_req_error("{'model':'m'} trailing", "not valid JSON");

    /* validate: the same checks, and info */
    rc = olla_anth_validate("{", 1, &info, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_null(info.model);
    assert_non_null(strstr(err, "not valid JSON"));

    rc = olla_anth_validate("{}", 2, NULL, NULL, 0);
    assert_int_equal(rc, -1);

    /* a tiny error buffer is fine */
    rc = olla_anth_validate("{}", 2, NULL, err, 5);
    assert_int_equal(rc, -1);
    assert_string_equal(err, "\"mod");
}


static void
test_validate_info(void **state)
{
    int                rc;
    char               err[OLLA_ANTH_ERRLEN];
    const char        *in;
    olla_anth_info_t   info;

    in = Q("{'model':'ai/qwen3','max_tokens':10,'stream':true,"
           "'system':'You are a careful reviewer.',"
           "'messages':[{'role':'user','content':'Check my code please'}],"
           "'anything':{'goes':true}}");

    rc = olla_anth_validate(in, strlen(in), &info, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_string_equal(info.model, "ai/qwen3");
    assert_int_equal(info.stream, 1);
    assert_int_equal(info.input_tokens, 11);     /* 47 bytes / 4 */
    olla_anth_info_free(&info);

    rc = olla_anth_validate(in, strlen(in), NULL, err, sizeof(err));
    assert_int_equal(rc, 0);

    /* validate is lenient about what only translation needs */
    in = Q(REQ(",'tools':'x'", "[{'role':'user','content':42}]"));
    rc = olla_anth_validate(in, strlen(in), &info, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(info.stream, 0);
    olla_anth_info_free(&info);
}


/*
 * The request shape rule.  A body goes through olla_anth_validate() and
 * through what the passthrough glue has: one olla_json scan (whole and in
 * pieces, the model name into a small buffer and, when it does not fit,
 * scanned again into one of its size), olla_anth_shape_value() and
 * olla_anth_check_shape().  Both must give one verdict and one message.
 */

#define SHAPE_KEYS  7

static int
shape_by_scan(const char *in, size_t len, size_t piece, char *err,
    size_t errlen)
{
    int                 rc;
    char                small[8], num[4][32], *big;
    size_t              i, k, n;
    olla_json_scan_t    scan;
    olla_anth_shape_t   shape;
    olla_json_field_t   f[SHAPE_KEYS];

    static const char  *keys[SHAPE_KEYS] = {
        "model", "messages", "max_tokens", "temperature", "top_p", "top_k",
        "stream"
    };

    memset(f, 0, sizeof(f));

    for (i = 0; i < SHAPE_KEYS; i++) {
        f[i].key = keys[i];
        f[i].key_len = strlen(keys[i]);
    }

    f[0].value = small;
    f[0].cap = sizeof(small);

    for (i = 0; i < 4; i++) {
        f[2 + i].value = num[i];
        f[2 + i].cap = sizeof(num[i]);
    }

    big = NULL;

    for (k = 0; k < 2; k++) {
        olla_json_scan_init(&scan, f, SHAPE_KEYS, 0);

        for (i = 0; i < len; i += n) {
            n = (len - i < piece) ? len - i : piece;
            assert_int_equal(olla_json_scan_feed(&scan, in + i, n),
                             OLLA_JSON_OK);
        }

        assert_int_equal(olla_json_scan_end(&scan), OLLA_JSON_OK);

        if (!f[0].truncated) {
            break;
        }

        /* a long model name: once more, into room for it */
        assert_null(big);
        big = malloc(f[0].len);
        assert_non_null(big);
        f[0].value = big;
        f[0].cap = f[0].len;
    }

    assert_false(f[0].truncated);

    memset(&shape, 0, sizeof(olla_anth_shape_t));
    olla_anth_shape_value(&shape.model, &f[0]);
    olla_anth_shape_value(&shape.messages, &f[1]);
    olla_anth_shape_value(&shape.max_tokens, &f[2]);
    olla_anth_shape_value(&shape.temperature, &f[3]);
    olla_anth_shape_value(&shape.top_p, &f[4]);
    olla_anth_shape_value(&shape.top_k, &f[5]);
    olla_anth_shape_value(&shape.stream, &f[6]);

    rc = olla_anth_check_shape(&shape, err, errlen);

    free(big);

    return rc;
}


/* want NULL: the shape is right */

static void
expect_shape(const char *in, const char *want)
{
    int     rc, rc2;
    char    err[OLLA_ANTH_ERRLEN], err2[OLLA_ANTH_ERRLEN];
    size_t  len, i;

    static const size_t  pieces[] = { (size_t) -1, 1, 2, 7 };

    in = Q(in);
    len = strlen(in);

    err[0] = '\0';
    rc = olla_anth_validate(in, len, NULL, err, sizeof(err));

    if (want == NULL ? rc != 0 : (rc != -1 || strcmp(err, want) != 0)) {
        print_error("validate: %d \"%s\", want \"%s\"\nfor: %s\n", rc, err,
                    want ? want : "(accepted)", in);
        fail();
    }

    for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        err2[0] = '\0';
        rc2 = shape_by_scan(in, len, pieces[i], err2, sizeof(err2));

        if (rc2 != rc || (rc && strcmp(err, err2) != 0)) {
            print_error("scan in pieces of %zu: %d \"%s\", validate %d "
                        "\"%s\"\nfor: %s\n", pieces[i], rc2, err2, rc, err,
                        in);
            fail();
        }
    }
}


#define SHAPE(model, max, msgs, extra)                                       \
    "{'model':" model ",'max_tokens':" max ",'messages':" msgs extra "}"

#define M1  "[{'role':'user','content':'Hi'}]"

#define E_MODEL  "\"model\" is required and must be a non-empty string"
#define E_CTL    "\"model\" must not contain control characters"
#define E_MSGS   "\"messages\" is required and must be an array"
#define E_MSGS0  "\"messages\" must not be empty"
#define E_MAX    "\"max_tokens\" is required and must be an integer >= 1"
#define E_TEMP   "\"temperature\" must be a number between 0 and 2"
#define E_TOPP   "\"top_p\" must be a number between 0 and 1"
#define E_TOPK   "\"top_k\" must be an integer >= 0"
#define E_STREAM "\"stream\" must be a boolean"


static void
test_check_shape_agrees(void **state)
{
    size_t  i;

    static const struct {
        const char  *in;
        const char  *want;
    } t[] = {
        /* right */
        { SHAPE("'m'", "1", M1, ""), NULL },
        { SHAPE("'m'", "9223372036854775807", "[1]", ""), NULL },
        { SHAPE("'ai/smollm2:360M-Q4_K_M'", "4096", "[{},{}]",
                ",'stream':true"), NULL },
        { SHAPE("'a\\u00e9\\/b'", "1", M1, ",'stream':false"), NULL },
        { SHAPE("'a-model-name-longer-than-the-buffer'", "1", M1, ""),
          NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':0,'top_p':0,'top_k':0"),
          NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':2,'top_p':1"), NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':2.0,'top_p':1.0"), NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':20e-1,'top_p':1E0"),
          NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':-0.0,'top_p':-0"), NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':1e-400,'top_p':0.5"),
          NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':"
                "1.99999999999999999999999999999"), NULL },
        { SHAPE("'m'", "1", M1, ",'top_k':-0"), NULL },
        { SHAPE("'m'", "1", M1, ",'top_k':9223372036854775807"), NULL },
        { SHAPE("'m'", "1", M1, ",'temperature':null,'top_p':null,"
                "'top_k':null,'stream':null"), NULL },
        { SHAPE("'m'", "1", M1, ",'unknown':[],'system':7"), NULL },

        /* the body the passthrough used to let through */
        { "{'model':'m','max_tokens':1,'messages':[]}", E_MSGS0 },

        /* model */
        { "{'max_tokens':1,'messages':" M1 "}", E_MODEL },
        { SHAPE("''", "1", M1, ""), E_MODEL },
        { SHAPE("null", "1", M1, ""), E_MODEL },
        { SHAPE("7", "1", M1, ""), E_MODEL },
        { SHAPE("['m']", "1", M1, ""), E_MODEL },
        { SHAPE("{}", "1", M1, ""), E_MODEL },
        { SHAPE("'a\\tb'", "1", M1, ""), E_CTL },
        { SHAPE("'a\\u0000'", "1", M1, ""), E_CTL },
        { SHAPE("'\\u007f'", "1", M1, ""), E_CTL },
        { SHAPE("'a-long-model-name-with-a-control\\u001f'", "1", M1, ""),
          E_CTL },

        /* messages */
        { "{'model':'m','max_tokens':1}", E_MSGS },
        { SHAPE("'m'", "1", "null", ""), E_MSGS },
        { SHAPE("'m'", "1", "{}", ""), E_MSGS },
        { SHAPE("'m'", "1", "{'role':'user'}", ""), E_MSGS },
        { SHAPE("'m'", "1", "'Hi'", ""), E_MSGS },
        { SHAPE("'m'", "1", "[ ]", ""), E_MSGS0 },

        /* max_tokens */
        { "{'model':'m','messages':" M1 "}", E_MAX },
        { SHAPE("'m'", "0", M1, ""), E_MAX },
        { SHAPE("'m'", "-0", M1, ""), E_MAX },
        { SHAPE("'m'", "-1", M1, ""), E_MAX },
        { SHAPE("'m'", "1.0", M1, ""), E_MAX },
        { SHAPE("'m'", "1e2", M1, ""), E_MAX },
        { SHAPE("'m'", "10E0", M1, ""), E_MAX },
        { SHAPE("'m'", "'10'", M1, ""), E_MAX },
        { SHAPE("'m'", "true", M1, ""), E_MAX },
        { SHAPE("'m'", "null", M1, ""), E_MAX },
        { SHAPE("'m'", "[1]", M1, ""), E_MAX },
        { SHAPE("'m'", "-9223372036854775808", M1, ""), E_MAX },
        { SHAPE("'m'", "1.000000000000000000000000000000000001", M1, ""),
          E_MAX },

        /* temperature, top_p, top_k, stream */
        { SHAPE("'m'", "1", M1, ",'temperature':2.0000001"), E_TEMP },
        { SHAPE("'m'", "1", M1, ",'temperature':3e0"), E_TEMP },
        { SHAPE("'m'", "1", M1, ",'temperature':-1e-300"), E_TEMP },
        { SHAPE("'m'", "1", M1, ",'temperature':'1'"), E_TEMP },
        { SHAPE("'m'", "1", M1, ",'temperature':true"), E_TEMP },
        { SHAPE("'m'", "1", M1, ",'top_p':1.0000001"), E_TOPP },
        { SHAPE("'m'", "1", M1, ",'top_p':-0.5"), E_TOPP },
        { SHAPE("'m'", "1", M1, ",'top_p':[]"), E_TOPP },
        { SHAPE("'m'", "1", M1, ",'top_k':-1"), E_TOPK },
        { SHAPE("'m'", "1", M1, ",'top_k':1.5"), E_TOPK },
        { SHAPE("'m'", "1", M1, ",'top_k':1e1"), E_TOPK },
        { SHAPE("'m'", "1", M1, ",'top_k':'3'"), E_TOPK },
        { SHAPE("'m'", "1", M1, ",'stream':'true'"), E_STREAM },
        { SHAPE("'m'", "1", M1, ",'stream':1"), E_STREAM },
        { SHAPE("'m'", "1", M1, ",'stream':{}"), E_STREAM },

        /* the first fault is the one reported */
        { "{'model':'','max_tokens':0,'messages':[]}", E_MODEL },
        { "{'stream':0,'max_tokens':0,'messages':[],'model':'m'}", E_MAX },
        { SHAPE("'m'", "0", M1, ",'temperature':9,'stream':0"), E_MAX },
        { SHAPE("'m'", "1", M1, ",'stream':0,'top_k':-1,'top_p':2,"
                "'temperature':9"), E_TEMP },

        /* a member given twice: its last value, for both */
        { "{'model':'m','max_tokens':1,'messages':[],'messages':[1]}",
          NULL },
        { "{'model':'m','max_tokens':1,'messages':[1],'messages':[]}",
          E_MSGS0 },
        { "{'model':'','model':'m','max_tokens':0,'max_tokens':2,"
          "'messages':" M1 "}", NULL },

        /* members of the same name deeper down do not count */
        { "{'model':'m','max_tokens':1,'messages':[{'messages':[],"
          "'model':'','stream':'x'}],'x':{'max_tokens':0}}", NULL },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        expect_shape(t[i].in, t[i].want);
    }

    /* the same messages from request_to_openai */
    expect_req_error("{'model':'m','max_tokens':1,'messages':[]}", E_MSGS0);
}


static void
set_value(olla_anth_value_t *v, olla_json_type_e type, const char *text)
{
    memset(v, 0, sizeof(olla_anth_value_t));
    v->type = type;
    v->text = text;
    v->len = text ? strlen(text) : 0;
}


static int
check(const olla_anth_shape_t *s, const char *want)
{
    int   rc;
    char  err[OLLA_ANTH_ERRLEN];

    err[0] = '\0';
    rc = olla_anth_check_shape(s, err, sizeof(err));

    if (want == NULL ? rc != 0 : (rc != -1 || strcmp(err, want) != 0)) {
        print_error("check_shape: %d \"%s\", want \"%s\"\n", rc, err,
                    want ? want : "(accepted)");
        fail();
    }

    return rc;
}


/* what only the rule sees: unknown texts, JSON the translator rejects */

static void
test_check_shape_direct(void **state)
{
    char               buf[4];
    olla_anth_shape_t  s, base;
    olla_json_field_t  f;

    memset(&base, 0, sizeof(olla_anth_shape_t));
    set_value(&base.model, OLLA_JSON_STRING, "m");
    set_value(&base.messages, OLLA_JSON_ARRAY, NULL);
    base.messages.elements = 1;
    set_value(&base.max_tokens, OLLA_JSON_NUMBER, "16");

    s = base;
    check(&s, NULL);

    /* nothing at all: the first required member */
    memset(&s, 0, sizeof(olla_anth_shape_t));
    check(&s, E_MODEL);

    /* an empty array, and an object with members */
    s = base;
    s.messages.elements = 0;
    check(&s, E_MSGS0);
    s.messages.type = OLLA_JSON_OBJECT;
    s.messages.elements = 3;
    check(&s, E_MSGS);

    /* a model name not captured whole: its control check is skipped */
    s = base;
    s.model.text = NULL;
    s.model.len = 300;
    check(&s, NULL);
    s.model.len = 0;
    check(&s, E_MODEL);

    /* numbers whose text is not known */
    s = base;
    s.max_tokens.text = NULL;
    s.max_tokens.len = 19;
    check(&s, NULL);
    s.max_tokens.len = 20;
    check(&s, E_MAX);
    s = base;
    set_value(&s.temperature, OLLA_JSON_NUMBER, NULL);
    s.temperature.len = 400;
    set_value(&s.top_p, OLLA_JSON_NUMBER, NULL);
    s.top_p.len = 40;
    check(&s, NULL);
    set_value(&s.top_k, OLLA_JSON_NUMBER, NULL);
    s.top_k.len = 20;
    check(&s, E_TOPK);

    /* integers beyond 64 bits, reals beyond a double: faults */
    s = base;
    set_value(&s.max_tokens, OLLA_JSON_NUMBER, "9223372036854775808");
    check(&s, E_MAX);
    set_value(&s.max_tokens, OLLA_JSON_NUMBER, "18446744073709551617");
    check(&s, E_MAX);
    s = base;
    set_value(&s.top_k, OLLA_JSON_NUMBER, "9223372036854775808");
    check(&s, E_TOPK);
    s = base;
    set_value(&s.temperature, OLLA_JSON_NUMBER, "18446744073709551617");
    check(&s, E_TEMP);
    set_value(&s.temperature, OLLA_JSON_NUMBER, "1e400");
    check(&s, E_TEMP);
    set_value(&s.temperature, OLLA_JSON_NUMBER, "-1e400");
    check(&s, E_TEMP);
    set_value(&s.temperature, OLLA_JSON_NUMBER, "1e-400");
    check(&s, NULL);

    /* texts that are not JSON numbers */
    s = base;
    set_value(&s.max_tokens, OLLA_JSON_NUMBER, "");
    check(&s, E_MAX);
    set_value(&s.max_tokens, OLLA_JSON_NUMBER, "01");
    check(&s, E_MAX);
    set_value(&s.max_tokens, OLLA_JSON_NUMBER, "+1");
    check(&s, E_MAX);
    set_value(&s.max_tokens, OLLA_JSON_NUMBER, "1 ");
    check(&s, E_MAX);
    set_value(&s.max_tokens, OLLA_JSON_NUMBER, "-");
    check(&s, E_MAX);
    s = base;
    set_value(&s.top_p, OLLA_JSON_NUMBER, "1.");
    check(&s, E_TOPP);
    set_value(&s.top_p, OLLA_JSON_NUMBER, ".5");
    check(&s, E_TOPP);
    set_value(&s.top_p, OLLA_JSON_NUMBER, "0.5e");
    check(&s, E_TOPP);
    set_value(&s.top_p, OLLA_JSON_NUMBER, "0.5e+");
    check(&s, E_TOPP);
    set_value(&s.top_p, OLLA_JSON_NUMBER, "nan");
    check(&s, E_TOPP);
    set_value(&s.top_p, OLLA_JSON_NUMBER, "0.5E-1");
    check(&s, NULL);

    /* the text is len bytes: no NUL needed, none looked past */
    s = base;
    s.max_tokens.text = "12345";
    s.max_tokens.len = 2;
    check(&s, NULL);
    s.model.text = "m\n";
    s.model.len = 1;
    check(&s, NULL);
    s.model.len = 2;
    check(&s, E_CTL);

    /* no room for the message is fine */
    memset(&s, 0, sizeof(olla_anth_shape_t));
    assert_int_equal(olla_anth_check_shape(&s, NULL, 0), -1);

    /* scanner fields */
    memset(&f, 0, sizeof(olla_json_field_t));
    f.type = OLLA_JSON_STRING;
    f.value = buf;
    f.cap = sizeof(buf);
    f.len = 3;
    f.elements = 0;
    olla_anth_shape_value(&s.model, &f);
    assert_int_equal(s.model.type, OLLA_JSON_STRING);
    assert_ptr_equal(s.model.text, buf);
    assert_int_equal(s.model.len, 3);

    f.len = 9;
    f.truncated = 1;
    olla_anth_shape_value(&s.model, &f);
    assert_null(s.model.text);
    assert_int_equal(s.model.len, 9);

    f.type = OLLA_JSON_ARRAY;
    f.truncated = 0;
    f.len = 0;
    f.elements = 5;
    olla_anth_shape_value(&s.messages, &f);
    assert_int_equal(s.messages.type, OLLA_JSON_ARRAY);
    assert_int_equal(s.messages.elements, 5);
    assert_null(s.messages.text);
}


/*
 * A Claude Code request of ~50 KB: 12 tools with JSON schemas, system
 * blocks with cache_control and an attribution block, thinking, metadata,
 * context_management, output_config, images, and a history of tool_use
 * and tool_result turns.
 */

static void
test_req_claude_code(void **state)
{
    size_t             len, i;
    char              *body, *out;
    json_t            *in, *o, *msgs, *m, *tools, *t, *args;
    olla_anth_info_t   info;
    const char        *s;

    body = fixture("claude_code_request.json", &len);
    assert_true(len > 40000);

    out = to_openai(body, &info);

    assert_string_equal(info.model, "ai/qwen3-coder");
    assert_int_equal(info.stream, 1);
    assert_true(info.input_tokens > 8000 && info.input_tokens < 13000);

    in = jparse(body, len);
    o = jparse(out, strlen(out));

    /* top level: what goes, what stays behind */
    assert_string_equal(json_string_value(json_object_get(o, "model")),
                        "ai/qwen3-coder");
    assert_int_equal(json_integer_value(json_object_get(o, "max_tokens")),
                     32000);
    assert_int_equal(json_integer_value(json_object_get(o, "temperature")),
                     1);
    assert_true(json_is_true(json_object_get(o, "stream")));
    assert_json_eq(json_object_get(o, "stream_options"),
                   "{\"include_usage\":true}");
    assert_json_eq(json_object_get(o, "tool_choice"), "\"auto\"");
    assert_string_equal(json_string_value(json_object_get(o, "user")),
                        "user_0f3c9a_account__session_5b1e");

    assert_null(json_object_get(o, "thinking"));
    assert_null(json_object_get(o, "context_management"));
    assert_null(json_object_get(o, "output_config"));
    assert_null(json_object_get(o, "metadata"));
    assert_null(json_object_get(o, "service_tier"));
    assert_null(json_object_get(o, "system"));
    assert_null(strstr(out, "cache_control"));
    assert_null(strstr(out, "x-anthropic-billing-header"));
    assert_null(strstr(out, "signature"));
    assert_null(strstr(out, "redacted_thinking"));

    /* 12 tools, their schemas untouched */
    tools = json_object_get(o, "tools");
    assert_int_equal(json_array_size(tools), 12);

    json_array_foreach(tools, i, t) {
        m = json_array_get(json_object_get(in, "tools"), i);
        assert_string_equal(json_string_value(json_object_get(t, "type")),
                            "function");
        t = json_object_get(t, "function");
        assert_true(json_equal(json_object_get(t, "name"),
                               json_object_get(m, "name")));
        assert_true(json_equal(json_object_get(t, "description"),
                               json_object_get(m, "description")));
        assert_true(json_equal(json_object_get(t, "parameters"),
                               json_object_get(m, "input_schema")));
    }

    /* the conversation */
    msgs = json_object_get(o, "messages");
    assert_int_equal(json_array_size(msgs), 11);

    m = json_array_get(msgs, 0);
    assert_string_equal(json_string_value(json_object_get(m, "role")),
                        "system");
    s = json_string_value(json_object_get(m, "content"));
    assert_true(strncmp(s, "You are a helpful command-line coding agent.\n"
                           "You are a coding assistant", 71) == 0);

    /* user: two texts and a screenshot -> parts */
    m = json_array_get(msgs, 1);
    assert_string_equal(json_string_value(json_object_get(m, "role")),
                        "user");
    m = json_object_get(m, "content");
    assert_int_equal(json_array_size(m), 3);
    s = json_string_value(json_object_get(
            json_object_get(json_array_get(m, 2), "image_url"), "url"));
    assert_true(strncmp(s, "data:image/png;base64,AAECAwQF", 30) == 0);

    /* assistant: text + Read; the thinking block is gone */
    m = json_array_get(msgs, 2);
    assert_json_eq(json_object_get(m, "content"),
                   "\"Let me read the file.\"");
    t = json_array_get(json_object_get(m, "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "id")),
                        "toolu_01ReadA");
    t = json_object_get(t, "function");
    args = jparse(json_string_value(json_object_get(t, "arguments")),
                  json_string_length(json_object_get(t, "arguments")));
    assert_json_eq(args, "{\"file_path\":\"/home/dev/proj/src/util.c\"}");
    json_decref(args);

    /* the file, as the tool's text */
    m = json_array_get(msgs, 3);
    assert_string_equal(json_string_value(json_object_get(m, "role")),
                        "tool");
    s = json_string_value(json_object_get(m, "content"));
    assert_true(strncmp(s, "   1\tstatic int olla_line_1(void)", 33) == 0);
    assert_true(strlen(s) > 9000);

    /* two parallel calls, then their results before the user's text */
    m = json_array_get(msgs, 4);
    assert_true(json_is_null(json_object_get(m, "content")));
    assert_int_equal(json_array_size(json_object_get(m, "tool_calls")), 2);

    t = json_object_get(json_array_get(json_object_get(m, "tool_calls"), 0),
                        "function");
    args = jparse(json_string_value(json_object_get(t, "arguments")),
                  json_string_length(json_object_get(t, "arguments")));
    assert_json_eq(args, "{\"pattern\":\"olla_line_1[0-9]\\\\b\","
                         "\"path\":\"src\",\"-n\":true}");
    json_decref(args);

    assert_json_eq(json_array_get(msgs, 5),
                   Q("{'role':'tool','tool_call_id':'toolu_01GrepB',"
                     "'content':'src/util.c:10:static int olla_line_10(void) "
                     "{ return 10; }'}"));
    assert_json_eq(json_array_get(msgs, 6),
                   Q("{'role':'tool','tool_call_id':'toolu_01BashC',"
                     "'content':'Error: make: *** [Makefile:12: util.o] "
                     "Error 1'}"));
    assert_json_eq(json_array_get(msgs, 7),
                   Q("{'role':'user','content':"
                     "'It also prints a warning about line 10.'}"));

    m = json_array_get(msgs, 8);
    t = json_object_get(json_array_get(json_object_get(m, "tool_calls"), 0),
                        "function");
    args = jparse(json_string_value(json_object_get(t, "arguments")),
                  json_string_length(json_object_get(t, "arguments")));
    assert_true(json_equal(args, json_object_get(json_array_get(
        json_object_get(json_array_get(json_object_get(in, "messages"), 5),
                        "content"), 1), "input")));
    json_decref(args);

    assert_json_eq(json_array_get(msgs, 9),
                   Q("{'role':'tool','tool_call_id':'toolu_01EditD',"
                     "'content':'The file was updated.'}"));
    assert_json_eq(json_array_get(msgs, 10),
                   Q("{'role':'user','content':'Thanks. Now run the tests.'}"));

    json_decref(in);
    json_decref(o);
    olla_anth_info_free(&info);
}


/* ------------------------------------------------------------ count_tokens */


/*
 * the count, which is the same for the body taken as checked (what the
 * glue asks for a body its scan found valid: every body here is valid)
 */

static long
count(const char *in)
{
    int     rc;
    long    n, c;
    char    err[OLLA_ANTH_ERRLEN];

    in = Q(in);
    n = -1;
    c = -2;

    rc = olla_anth_count_tokens(in, strlen(in), &n, err, sizeof(err));
    if (rc != 0) {
        print_error("count_tokens failed: %s\n", err);
        fail();
    }

    rc = olla_anth_count_tokens_checked(in, strlen(in), &c, err,
                                        sizeof(err));
    if (rc != 0) {
        print_error("count_tokens (checked) failed: %s\n", err);
        fail();
    }

    assert_int_equal(c, n);

    return n;
}


static void
test_count_tokens(void **state)
{
    int     rc;
    long    n;
    char    err[OLLA_ANTH_ERRLEN], sys[151];

    /* user string: 13 bytes */
    assert_int_equal(count("{'messages':[{'role':'user',"
                           "'content':'Good morning!'}]}"), 3);

    /* system 27 + user 20 */
    assert_int_equal(count("{'system':'You are a careful reviewer.',"
                           "'messages':[{'role':'user',"
                           "'content':'Check my code please'}]}"), 11);

    /* three turns: 13 + 5 + 11 */
    assert_int_equal(count("{'messages':["
                           "{'role':'user','content':'Alpha message'},"
                           "{'role':'assistant','content':'Reply'},"
                           "{'role':'user','content':'Another one'}]}"), 7);

    /* a text block: 20 */
    assert_int_equal(count("{'messages':[{'role':'user','content':["
                           "{'type':'text','text':'A block of text here'}]}]}"),
                     5);

    /* text 11 + tool_use name 11 + input as compact JSON 12 */
    assert_int_equal(count("{'messages':[{'role':'assistant','content':["
                           "{'type':'text','text':'Call it now'},"
                           "{'type':'tool_use','id':'t','name':'lookup_city',"
                           "'input':{'q':'Lima'}}]}]}"), 8);

    /* tool_result string 20; nested blocks 4 + 4 */
    assert_int_equal(count("{'messages':[{'role':'user','content':["
                           "{'type':'tool_result','tool_use_id':'t',"
                           "'content':'The sky is very blue'}]}]}"), 5);
    assert_int_equal(count("{'messages':[{'role':'user','content':["
                           "{'type':'tool_result','tool_use_id':'t',"
                           "'content':[{'type':'text','text':'abcd'},"
                           "{'type':'text','text':'efgh'}]}]}]}"), 2);

    /*
     * tool input and schemas count as jansson writes them compact, white
     * space or not: the same value written two ways counts the same
     */
    assert_int_equal(
        count("{'messages':[{'role':'assistant','content':[{'type':"
              "'tool_use','id':'t','name':'n','input':{'q':[1,2,{'r':"
              "'Lima'}]}}]}],'tools':[{'name':'n','input_schema':{'type':"
              "'object','properties':{'q':{'type':'array'}}}}]}"),
        count("{'messages':[{'role':'assistant','content':[{'type':"
              "'tool_use','id':'t','name':'n','input':{ 'q' : [1, 2,\n"
              " {'r': 'Lima'}] }}]}],'tools':[{'name':'n','input_schema':"
              "{\t'type': 'object', 'properties': {'q': {'type': "
              "'array'}}}}]}"));

    /* a real as jansson writes it: name 1 + {"x":0.10000000000000001} 25 */
    assert_int_equal(count("{'messages':[{'role':'assistant','content':["
                           "{'type':'tool_use','id':'t','name':'n',"
                           "'input':{'x':0.1}}]}]}"), 6);

    /* -0 as 0: name 1 + {"x":[0,0]} 11 */
    assert_int_equal(count("{'messages':[{'role':'assistant','content':["
                           "{'type':'tool_use','id':'t','name':'n',"
                           "'input':{'x':[-0,0]}}]}]}"), 3);

    /* at least 1; nothing else is required */
    assert_int_equal(count("{'messages':[]}"), 1);
    assert_int_equal(count("{}"), 1);
    assert_int_equal(count("{'messages':[{'role':'user','content':["
                           "{'type':'image','source':{'type':'base64',"
                           "'media_type':'image/png','data':'QUJDRA=='}}]}]}"),
                     1);

    /* 150-byte system + 6 */
    memset(sys, 's', 150);
    sys[150] = '\0';
    {
        char  req[512];

        snprintf(req, sizeof(req), "{'system':'%s','messages':[{'role':"
                 "'user','content':'Hello!'}]}", sys);
        assert_int_equal(count(req), 39);
    }

    /* typeless system block 27 + 5 */
    assert_int_equal(count("{'system':[{'text':'You are a helpful assistant'}],"
                           "'messages':[{'role':'user','content':'Hello'}]}"),
                     8);

    /* tool: name 6 + description 14 + schema as sorted compact JSON 58,
     * + user 2 */
    assert_int_equal(count("{'tools':[{'name':'search','description':"
                           "'Search the web','input_schema':{'type':'object',"
                           "'properties':{'query':{'type':'string'}}}}],"
                           "'messages':[{'role':'user','content':'hi'}]}"),
                     20);

    /* bytes, not characters: 17 */
    assert_int_equal(count("{'messages':[{'role':'user',"
                           "'content':'h\\u00e9llo w\\u00f6rld \\u2713'}]}"),
                     4);

    /* system 15 + user 5 + assistant block 8 */
    assert_int_equal(count("{'system':'You are helpful','messages':["
                           "{'role':'user','content':'Hello'},"
                           "{'role':'assistant','content':[{'type':'text',"
                           "'text':'Hi there'}]}]}"), 7);

    rc = olla_anth_count_tokens("{invalid json", 13, &n, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "not valid JSON"));
    rc = olla_anth_count_tokens("", 0, &n, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "empty"));
    rc = olla_anth_count_tokens("[]", 2, &n, err, sizeof(err));
    assert_int_equal(rc, -1);
}


/* -------------------------------------------------- non-streaming responses */


static char *
from_openai(const char *in, const char *model)
{
    int     rc;
    char    err[OLLA_ANTH_ERRLEN], *out;
    size_t  outlen;

    rc = olla_anth_response_from_openai(in, strlen(in), model, &out, &outlen,
                                        err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error: %s\nfor: %s\n", err, in);
        fail();
    }

    assert_int_equal(strlen(out), outlen);

    return keep(out);
}


static void
expect_resp(const char *in, const char *model, const char *want)
{
    char  *out;

    out = from_openai(Q(in), model);
    assert_json_text(out, strlen(out), want);
}


static void
expect_resp_error(const char *in, const char *want)
{
    int     rc;
    char    err[OLLA_ANTH_ERRLEN], *out;
    size_t  outlen;

    in = Q(in);
    out = (char *) 1;
    outlen = 1;

    rc = olla_anth_response_from_openai(in, strlen(in), "m", &out, &outlen,
                                        err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_null(out);
    assert_int_equal(outlen, 0);

    if (strstr(err, want) == NULL) {
        print_error("error \"%s\", want \"%s\"\n", err, want);
        fail();
    }
}


#define COMPLETION(msg, fin, usage)                                          \
    "{'id':'chatcmpl-9','object':'chat.completion','created':1700000000,"    \
    "'model':'ai/smollm2:latest','choices':[{'index':0,'message':" msg       \
    fin "}]" usage "}"

#define USAGE(i, o)                                                          \
    "{'input_tokens':" #i ",'cache_creation_input_tokens':0,"                \
    "'cache_read_input_tokens':0,'output_tokens':" #o "}"

#define MESSAGE(model, content, stop, usage)                                 \
    "{'id':'<msg>','type':'message','role':'assistant','model':'" model "'," \
    "'content':" content ",'stop_reason':" stop ",'stop_sequence':null,"     \
    "'usage':" usage "}"


static void
test_resp_text(void **state)
{
    const char  *in;

    in = COMPLETION("{'role':'assistant','content':'Hi! What can I do?'}",
                    ",'finish_reason':'stop'",
                    ",'usage':{'prompt_tokens':12,'completion_tokens':7,"
                    "'total_tokens':19}");

    /* the model the client asked for, when given */
    expect_resp(in, "claude-sonnet-4-5",
        MESSAGE("claude-sonnet-4-5",
                "[{'type':'text','text':'Hi! What can I do?'}]",
                "'end_turn'", USAGE(12, 7)));

    /* else the backend's */
    expect_resp(in, NULL,
        MESSAGE("ai/smollm2:latest",
                "[{'type':'text','text':'Hi! What can I do?'}]",
                "'end_turn'", USAGE(12, 7)));

    /* no model anywhere */
    expect_resp("{'choices':[{'message':{'content':'x'}}]}", NULL,
        MESSAGE("unknown", "[{'type':'text','text':'x'}]", "'end_turn'",
                USAGE(0, 0)));

    /* content parts; a refusal */
    expect_resp(COMPLETION("{'content':[{'type':'text','text':'a'},"
                           "{'type':'text','text':'b'}]}", "", ""), "m",
        MESSAGE("m", "[{'type':'text','text':'ab'}]", "'end_turn'",
                USAGE(0, 0)));
    expect_resp(COMPLETION("{'content':null,'refusal':'I cannot do that.'}",
                           "", ""), "m",
        MESSAGE("m", "[{'type':'text','text':'I cannot do that.'}]",
                "'end_turn'", USAGE(0, 0)));
}


/* the backend's escapes, copied: the same values (see test_req_escapes) */

static void
test_resp_escapes(void **state)
{
    char  *out;

    out = from_openai(Q(COMPLETION("{'role':'assistant','content':'" ESC "',"
        "'tool_calls':[{'id':'c\\u00e9','type':'function','function':{"
        "'name':'f\\/','arguments':'{`k\\\\u00e9\\\\/`:"
        "`\\\\u0041\\\\n\\\\u001f\\\\\\\\`}'}}]}",
        ",'finish_reason':'tool_calls'", "")), "m");

    assert_non_null(strstr(out, "a\\/b \\u00e9 \\ud83d\\ude00 x\\u0000y"));

    assert_json_text(out, strlen(out),
        MESSAGE("m", "[{'type':'text','text':'" ESC "'},"
                "{'type':'tool_use','id':'c\\u00e9','name':'f/',"
                "'input':{'k\\u00e9/':'A\\n\\u001f\\\\'}}]", "'tool_use'",
                USAGE(0, 0)));
}


static void
test_resp_tools(void **state)
{
    char  *out;

    expect_resp(COMPLETION("{'role':'assistant','content':'Let me check.',"
        "'tool_calls':[{'id':'call_7','type':'function','function':{"
        "'name':'get_forecast','arguments':'{`city`:`Oslo`,`days`:2}'}}]}",
        ",'finish_reason':'tool_calls'", ""), "m",
        MESSAGE("m", "[{'type':'text','text':'Let me check.'},"
                "{'type':'tool_use','id':'call_7','name':'get_forecast',"
                "'input':{'city':'Oslo','days':2}}]", "'tool_use'",
                USAGE(0, 0)));

    /* two calls, no content */
    expect_resp(COMPLETION("{'content':null,'tool_calls':["
        "{'id':'c1','type':'function','function':{'name':'a',"
        "'arguments':'{`x`:1}'}},"
        "{'id':'c2','type':'function','function':{'name':'b',"
        "'arguments':'{`y`:[true,null]}'}}]}",
        ",'finish_reason':'tool_calls'", ""), "m",
        MESSAGE("m", "[{'type':'tool_use','id':'c1','name':'a',"
                "'input':{'x':1}},{'type':'tool_use','id':'c2','name':'b',"
                "'input':{'y':[true,null]}}]", "'tool_use'", USAGE(0, 0)));

    /* bad or odd arguments -> {}; an object is taken as it is; no id ->
     * a generated one; no function name -> skipped; "input" always there */
    out = from_openai(Q(COMPLETION("{'content':'','tool_calls':["
        "{'id':'c1','function':{'name':'a','arguments':'{invalid json'}},"
        "{'id':'c2','function':{'name':'b','arguments':'{}'}},"
        "{'id':'c3','function':{'name':'c','arguments':'[1,2]'}},"
        "{'id':'c4','function':{'name':'d','arguments':{'k':'v'}}},"
        "{'function':{'name':'e','arguments':''}},"
        "{'id':'c6','function':{'arguments':'{}'}},"
        "{'id':'c7'}, 'junk']}",
        ",'finish_reason':'tool_calls'", "")), "m");

    assert_json_text(out, strlen(out),
        MESSAGE("m", "[{'type':'tool_use','id':'c1','name':'a','input':{}},"
                "{'type':'tool_use','id':'c2','name':'b','input':{}},"
                "{'type':'tool_use','id':'c3','name':'c','input':{}},"
                "{'type':'tool_use','id':'c4','name':'d','input':{'k':'v'}},"
                "{'type':'tool_use','id':'<toolu>','name':'e','input':{}}]",
                "'tool_use'", USAGE(0, 0)));
    assert_non_null(strstr(out, "\"name\":\"b\",\"input\":{}"));

    /* the legacy function_call */
    expect_resp(COMPLETION("{'content':null,'function_call':{'name':'f',"
                           "'arguments':'{`a`:1}'}}",
                           ",'finish_reason':'function_call'", ""), "m",
        MESSAGE("m", "[{'type':'tool_use','id':'<toolu>','name':'f',"
                "'input':{'a':1}}]", "'tool_use'", USAGE(0, 0)));
}


static void
test_resp_empty_and_usage(void **state)
{
    /* content "": the empty text block, with its "text" key */
    expect_resp(COMPLETION("{'content':''}", ",'finish_reason':'stop'", ""),
        "m", MESSAGE("m", "[{'type':'text','text':''}]", "'end_turn'",
                     USAGE(0, 0)));
    expect_resp(COMPLETION("{}", "", ""), "m",
        MESSAGE("m", "[{'type':'text','text':''}]", "'end_turn'",
                USAGE(0, 0)));

    /* content null + a tool call: only the tool_use */
    expect_resp(COMPLETION("{'content':null,'tool_calls':[{'id':'c',"
                           "'function':{'name':'n','arguments':'{}'}}]}",
                           ",'finish_reason':'tool_calls'", ""), "m",
        MESSAGE("m", "[{'type':'tool_use','id':'c','name':'n','input':{}}]",
                "'tool_use'", USAGE(0, 0)));

    /* usage: absent, partial, cached prompt tokens */
    expect_resp(COMPLETION("{'content':'x'}", "",
                           ",'usage':{'prompt_tokens':15}"), "m",
        MESSAGE("m", "[{'type':'text','text':'x'}]", "'end_turn'",
                USAGE(15, 0)));
    expect_resp(COMPLETION("{'content':'x'}", "",
                           ",'usage':{'prompt_tokens':15,"
                           "'completion_tokens':3,'prompt_tokens_details':"
                           "{'cached_tokens':10}}"), "m",
        MESSAGE("m", "[{'type':'text','text':'x'}]", "'end_turn'",
                "{'input_tokens':5,'cache_creation_input_tokens':0,"
                "'cache_read_input_tokens':10,'output_tokens':3}"));
    expect_resp(COMPLETION("{'content':'x'}", "",
                           ",'usage':{'prompt_tokens':'many',"
                           "'completion_tokens':-3}"), "m",
        MESSAGE("m", "[{'type':'text','text':'x'}]", "'end_turn'",
                USAGE(0, 0)));
}


static void
expect_stop(const char *finish, const char *calls, const char *want)
{
    char   in[1024], *out;
    json_t *v;

    snprintf(in, sizeof(in),
             "{'choices':[{'message':{'content':'t'%s}%s}]}", calls, finish);

    out = from_openai(Q(in), "m");
    v = jparse(out, strlen(out));

    assert_string_equal(json_string_value(json_object_get(v, "stop_reason")),
                        want);
    assert_true(json_is_null(json_object_get(v, "stop_sequence")));
    assert_non_null(json_object_get(v, "stop_sequence"));

    json_decref(v);
}


static void
test_resp_stop_reasons(void **state)
{
    const char  *call;

    call = ",'tool_calls':[{'id':'c','function':{'name':'n'}}]";

    expect_stop(",'finish_reason':'stop'", "", "end_turn");
    expect_stop(",'finish_reason':'length'", "", "max_tokens");
    expect_stop(",'finish_reason':'tool_calls'", call, "tool_use");
    expect_stop(",'finish_reason':'function_call'", "", "tool_use");
    /* content_filter -> refusal (Olla: end_turn) */
    expect_stop(",'finish_reason':'content_filter'", "", "refusal");
    expect_stop("", "", "end_turn");
    expect_stop(",'finish_reason':null", "", "end_turn");
    expect_stop(",'finish_reason':'eos'", "", "end_turn");
    /* tool calls said "stop": still a tool_use turn */
    expect_stop(",'finish_reason':'stop'", call, "tool_use");
    expect_stop("", call, "tool_use");
    expect_stop(",'finish_reason':'length'", call, "max_tokens");
}


static void
test_resp_reasoning(void **state)
{
    expect_resp(COMPLETION("{'reasoning':'First, add 3 and 4.',"
                           "'content':'It is 7.'}", "", ""), "m",
        MESSAGE("m", "[{'type':'thinking','thinking':'First, add 3 and 4.',"
                "'signature':''},{'type':'text','text':'It is 7.'}]",
                "'end_turn'", USAGE(0, 0)));

    expect_resp(COMPLETION("{'reasoning_content':'Hmm.','reasoning':'Other.',"
                           "'content':'Yes.'}", "", ""), "m",
        MESSAGE("m", "[{'type':'thinking','thinking':'Hmm.','signature':''},"
                "{'type':'text','text':'Yes.'}]", "'end_turn'",
                USAGE(0, 0)));

    expect_resp(COMPLETION("{'reasoning_content':'','reasoning':'Other.',"
                           "'content':null}", "", ""), "m",
        MESSAGE("m", "[{'type':'thinking','thinking':'Other.',"
                "'signature':''}]", "'end_turn'", USAGE(0, 0)));
}


static void
test_resp_errors(void **state)
{
    expect_resp_error("not json", "backend response is not valid JSON: ");
    expect_resp_error("", "backend response is empty");
    expect_resp_error("[]", "backend response must be a JSON object");
    expect_resp_error("{}", "backend response has no choices");
    expect_resp_error("{'choices':[]}", "backend response has no choices");
    expect_resp_error("{'choices':'x'}", "backend response has no choices");
    expect_resp_error("{'choices':[{}]}", "backend response has no message");
    expect_resp_error("{'choices':[7]}", "backend response has no message");
    expect_resp_error("{'choices':[{'message':'hi'}]}",
                      "backend response has no message");
    expect_resp_error("{'error':{'message':'model not loaded','code':503}}",
                      "backend returned an error: model not loaded");
    expect_resp_error("{'error':{}}", "backend returned an error");
}


static void
test_resp_ids(void **state)
{
    int           rc;
    char         *out, *ids[1000], a[40], b[40];
    size_t        i, j, outlen;
    json_t       *v;
    const char   *in, *id;

    in = Q("{'choices':[{'message':{'content':'x'}}]}");

    for (i = 0; i < 1000; i++) {
        rc = olla_anth_response_from_openai(in, strlen(in), "m", &out,
                                            &outlen, NULL, 0);
        assert_int_equal(rc, 0);

        v = jparse(out, outlen);
        id = json_string_value(json_object_get(v, "id"));

        assert_int_equal(strlen(id), 28);
        assert_true(strncmp(id, "msg_", 4) == 0);
        assert_true(is_b58(id + 4, 24));

        ids[i] = keep(strdup(id));
        json_decref(v);
        free(out);
    }

    for (i = 0; i < 1000; i++) {
        for (j = i + 1; j < 1000; j++) {
            assert_string_not_equal(ids[i], ids[j]);
        }
    }

    /* a seed makes them repeat */
    for (i = 0; i < 2; i++) {
        olla_anth_set_id_seed(99);
        rc = olla_anth_response_from_openai(in, strlen(in), "m", &out,
                                            &outlen, NULL, 0);
        assert_int_equal(rc, 0);
        v = jparse(out, outlen);
        snprintf(i ? b : a, 40, "%s",
                 json_string_value(json_object_get(v, "id")));
        json_decref(v);
        free(out);
    }

    assert_string_equal(a, b);

    /*
     * a child of fork() (an nginx worker) seeds again: its next id is not
     * its parent's, although both start from the same state
     */
    olla_anth_set_id_seed(0);

    for (i = 0; i < 8; i++) {
        int    fd[2], st;
        pid_t  pid;

        rc = olla_anth_response_from_openai(in, strlen(in), "m", &out,
                                            &outlen, NULL, 0);
        assert_int_equal(rc, 0);
        free(out);

        assert_int_equal(pipe(fd), 0);

        pid = fork();
        assert_true(pid >= 0);

        if (pid == 0) {
            rc = olla_anth_response_from_openai(in, strlen(in), "m", &out,
                                                &outlen, NULL, 0);
            v = jparse(out, outlen);
            snprintf(b, 40, "%s", json_string_value(json_object_get(v, "id")));
            _exit(rc == 0 && write(fd[1], b, 40) == 40 ? 0 : 1);
        }

        close(fd[1]);
        assert_int_equal(read(fd[0], b, 40), 40);
        close(fd[0]);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

        rc = olla_anth_response_from_openai(in, strlen(in), "m", &out,
                                            &outlen, NULL, 0);
        assert_int_equal(rc, 0);
        v = jparse(out, outlen);
        snprintf(a, 40, "%s", json_string_value(json_object_get(v, "id")));
        json_decref(v);
        free(out);

        assert_string_not_equal(a, b);
    }
}


/* ------------------------------------------------------------ errors */


static void
test_error_type(void **state)
{
    assert_string_equal(olla_anth_error_type(400), "invalid_request_error");
    assert_string_equal(olla_anth_error_type(401), "authentication_error");
    assert_string_equal(olla_anth_error_type(403), "permission_error");
    assert_string_equal(olla_anth_error_type(404), "not_found_error");
    assert_string_equal(olla_anth_error_type(413), "request_too_large");
    assert_string_equal(olla_anth_error_type(429), "rate_limit_error");
    assert_string_equal(olla_anth_error_type(408), "timeout_error");
    assert_string_equal(olla_anth_error_type(504), "timeout_error");
    assert_string_equal(olla_anth_error_type(529), "overloaded_error");
    assert_string_equal(olla_anth_error_type(500), "api_error");
    assert_string_equal(olla_anth_error_type(502), "api_error");
    assert_string_equal(olla_anth_error_type(503), "api_error");
    assert_string_equal(olla_anth_error_type(422), "api_error");
    assert_string_equal(olla_anth_error_type(0), "api_error");
}


static void
test_error_json(void **state)
{
    char    *out;
    size_t   len;

    out = keep(olla_anth_error_json(400, "max_tokens must be an integer >= 1",
                                    NULL, &len));
    assert_int_equal(strlen(out), len);
    assert_json_text(out, len,
        "{'type':'error','error':{'type':'invalid_request_error',"
        "'message':'max_tokens must be an integer >= 1'}}");

    out = keep(olla_anth_error_json(413, "too big", "req-7f", &len));
    assert_json_text(out, len,
        "{'type':'error','error':{'type':'request_too_large',"
        "'message':'too big'},'request_id':'req-7f'}");

    out = keep(olla_anth_error_json(503, NULL, "", NULL));
    assert_json_text(out, strlen(out),
        "{'type':'error','error':{'type':'api_error',"
        "'message':'request failed with HTTP status 503'}}");

    /* bytes that are not UTF-8 are mended, not fatal */
    out = keep(olla_anth_error_json(404, "no \xff model\n\"x\"", "r\x01", &len));
    assert_json_text(out, len,
        "{'type':'error','error':{'type':'not_found_error',"
        "'message':'no ? model\\n`x`'},'request_id':'r'}");
}


static void
expect_backend(int status, const char *body, size_t len, const char *type,
    const char *msg)
{
    char    *out, want[1024];
    size_t   olen;
    json_t  *v, *e;

    out = keep(olla_anth_error_from_backend(status, body, len, NULL, &olen));
    assert_int_equal(strlen(out), olen);

    v = jparse(out, olen);
    assert_string_equal(json_string_value(json_object_get(v, "type")),
                        "error");
    e = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);

    snprintf(want, sizeof(want), "%s", msg);
    if (strcmp(json_string_value(json_object_get(e, "message")), want) != 0)
    {
        print_error("message \"%s\", want \"%s\"\n",
                    json_string_value(json_object_get(e, "message")), want);
        json_decref(v);
        fail();
    }

    assert_int_equal(json_object_size(v), 2);
    json_decref(v);
}


#define BACKEND(status, body, type, msg)                                     \
    expect_backend(status, body, sizeof(body) - 1, type, msg)


static void
test_error_from_backend(void **state)
{
    char    big[1000], *out;
    size_t  len;

    BACKEND(404, "{\"error\":{\"message\":\"model ai/x not found\","
                 "\"type\":\"not_found_error\",\"code\":404}}",
            "not_found_error", "model ai/x not found");
    BACKEND(400, "{\"type\":\"error\",\"error\":{\"type\":"
                 "\"invalid_request_error\",\"message\":\"bad thing\"}}",
            "invalid_request_error", "bad thing");
    BACKEND(500, "{\"error\":\"something broke\"}", "api_error",
            "something broke");
    BACKEND(503, "{\"message\":\"Loading model\",\"object\":\"error\"}",
            "api_error", "Loading model");
    BACKEND(422, "{\"detail\":\"Field required\"}", "api_error",
            "Field required");
    BACKEND(429, "Too many requests\r\n\tslow  down\n", "rate_limit_error",
            "Too many requests slow down");
    BACKEND(502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
                 "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
                 "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            "api_error", "502 Bad Gateway 502 Bad Gateway nginx");
    BACKEND(500, "", "api_error", "backend returned HTTP 500");
    BACKEND(500, "  \r\n ", "api_error", "backend returned HTTP 500");
    BACKEND(403, "\xff\xfe\x00" "abc", "permission_error", "?? abc");
    BACKEND(504, "{\"foo\":1}", "timeout_error", "{\"foo\":1}");
    BACKEND(529, "{\"error\":{\"message\":\"\"}}", "overloaded_error",
            "{\"error\":{\"message\":\"\"}}");
    BACKEND(413, "\"plain json string\"", "request_too_large",
            "plain json string");
    BACKEND(401, "<html></html>", "authentication_error",
            "backend returned HTTP 401");
    BACKEND(500, "Origin not allowed", "api_error", "Origin not allowed");

    expect_backend(500, NULL, 0, "api_error", "backend returned HTTP 500");

    /* a prompt over the context, in Anthropic's words with the numbers */
    BACKEND(400, "{\"error\":{\"code\":400,\"message\":\"request (31000 "
                 "tokens) exceeds the available context size (8192 tokens)"
                 "\",\"type\":\"exceed_context_size_error\","
                 "\"n_prompt_tokens\":31000,\"n_ctx\":8192}}",
            "invalid_request_error",
            "prompt is too long: 31000 tokens > 8192 maximum");
    BACKEND(400, "{\"object\":\"error\",\"message\":\"This model's maximum "
                 "context length is 4096 tokens. However, you requested 5000 "
                 "tokens (4000 in the messages, 1000 in the completion).\","
                 "\"type\":\"BadRequestError\",\"code\":400}",
            "invalid_request_error",
            "prompt is too long: 4000 tokens > 4096 maximum");
    BACKEND(400, "{\"error\":{\"message\":\"This model's maximum context "
                 "length is 8192 tokens. However, your messages resulted in "
                 "9000 tokens.\",\"type\":\"invalid_request_error\"}}",
            "invalid_request_error",
            "prompt is too long: 9000 tokens > 8192 maximum");
    BACKEND(400, "{\"error\":{\"message\":\"maximum context length is "
                 "soon\"}}", "invalid_request_error",
            "maximum context length is soon");

    /* the Messages API's own error is kept as it is: its own type */
    BACKEND(529, "{\"type\":\"error\",\"error\":{\"type\":"
                 "\"overloaded_error\",\"message\":\"busy\"}}",
            "overloaded_error", "busy");

    /* about 200 bytes of a long text, cut at a character boundary */
    memset(big, 'a', sizeof(big));
    expect_backend(500, big, sizeof(big), "api_error",
                   Q("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    memcpy(big + 199, "\xc3\xa9", 2);
    expect_backend(500, big, sizeof(big), "api_error",
                   Q("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

    /* request_id */
    out = keep(olla_anth_error_from_backend(429, "slow", 4, "rid-1", &len));
    assert_json_text(out, len,
        "{'type':'error','error':{'type':'rate_limit_error',"
        "'message':'slow'},'request_id':'rid-1'}");
}


/* ------------------------------------------------------------ streaming */


typedef struct {
    char      *p;
    size_t     len;
    size_t     cap;
    int        events;
    int        fail_at;       /* emit fails at this event (1-based) */
} sink_t;


static int
sink_emit(void *data, const char *p, size_t len)
{
    size_t       i;
    sink_t      *k;
    const char  *nl;

    k = data;

    /* exactly one whole event: "event: NAME\ndata: JSON\n\n" */
    assert_true(len > 17);
    assert_memory_equal(p, "event: ", 7);
    assert_memory_equal(p + len - 2, "\n\n", 2);

    nl = memchr(p, '\n', len);
    assert_non_null(nl);
    assert_memory_equal(nl + 1, "data: ", 6);

    for (i = (size_t) (nl - p) + 7; i < len - 2; i++) {
        assert_true(p[i] != '\n' && p[i] != '\r');
    }

    k->events++;

    if (k->fail_at && k->events == k->fail_at) {
        return -1;
    }

    if (k->len + len + 1 > k->cap) {
        k->cap = (k->len + len + 1) * 2;
        k->p = realloc(k->p, k->cap);
        assert_non_null(k->p);
    }

    memcpy(k->p + k->len, p, len);
    k->len += len;
    k->p[k->len] = '\0';

    return 0;
}


typedef struct {
    const char  *model;
    long         est;
    size_t       max_line;
    size_t       max_buf;
    int          fail_at;
} sopt_t;


static const sopt_t  dflt = { "claude-test", 17, 0, 0, 0 };


enum { MODE_WHOLE, MODE_SPLIT, MODE_BYTES };


static int
feed_piece(olla_anth_stream_t *s, const char *p, size_t n, sink_t *k,
    int *done)
{
    int     rc;
    size_t  before;

    before = k->len;
    rc = olla_anth_stream_feed(s, p, n, sink_emit, k);

    if (*done) {
        /* after the end, input is ignored */
        assert_int_equal(rc, *done);
        assert_int_equal(k->len, before);
    }

    if (rc != 0) {
        *done = rc;
    }

    return rc;
}


static char *
stream_once(const char *in, size_t n, int mode, size_t split,
    const sopt_t *o, int *rc_out)
{
    int                  rc, done;
    size_t               i;
    sink_t               k;
    olla_anth_stream_t  *s;

    memset(&k, 0, sizeof(sink_t));
    k.fail_at = o->fail_at;
    k.p = malloc(1);
    assert_non_null(k.p);
    k.p[0] = '\0';

    olla_anth_set_id_seed(7);

    s = olla_anth_stream_new(o->model, o->est, o->max_line, o->max_buf);
    assert_non_null(s);

    done = 0;

    switch (mode) {

    case MODE_WHOLE:
        feed_piece(s, in, n, &k, &done);
        break;

    case MODE_SPLIT:
        feed_piece(s, in, split, &k, &done);
        feed_piece(s, in + split, n - split, &k, &done);
        break;

    default:
        for (i = 0; i < n; i++) {
            feed_piece(s, in + i, 1, &k, &done);
        }
    }

    rc = olla_anth_stream_finish(s, sink_emit, &k);

    if (done) {
        assert_int_equal(rc, done);
    }

    assert_true(rc == 1 || rc == -1);

    /* a second finish changes nothing */
    i = k.len;
    assert_int_equal(olla_anth_stream_finish(s, sink_emit, &k), rc);
    assert_int_equal(k.len, i);

    olla_anth_stream_free(s);

    if (rc_out) {
        *rc_out = rc;
    }

    return k.p;
}


/* the same output whole, split anywhere, byte by byte */

static char *
stream_all(const char *in, const sopt_t *o)
{
    int      rc, rc2;
    char    *whole, *other;
    size_t   n, k;

    n = strlen(in);
    whole = keep(stream_once(in, n, MODE_WHOLE, 0, o, &rc));

    for (k = 0; k <= n; k++) {
        other = stream_once(in, n, MODE_SPLIT, k, o, &rc2);

        if (strcmp(whole, other) != 0 || rc != rc2) {
            print_error("split at %zu differs:\n%s\nwhole:\n%s\n", k, other,
                        whole);
            free(other);
            fail();
        }

        free(other);
    }

    other = stream_once(in, n, MODE_BYTES, 0, o, &rc2);
    assert_string_equal(whole, other);
    assert_int_equal(rc, rc2);
    free(other);

    return whole;
}


typedef struct {
    char      name[32];
    json_t   *data;
} ev_t;


typedef struct {
    ev_t     *ev;
    size_t    n;
} evs_t;


static evs_t
events(const char *out)
{
    size_t       cap;
    evs_t        e;
    const char  *p, *nl, *end;

    e.n = 0;
    cap = 16;
    e.ev = malloc(cap * sizeof(ev_t));
    assert_non_null(e.ev);

    for (p = out; *p; p = end + 2) {
        assert_memory_equal(p, "event: ", 7);
        nl = strchr(p, '\n');
        end = strstr(nl, "\n\n");
        assert_non_null(end);

        if (e.n == cap) {
            cap *= 2;
            e.ev = realloc(e.ev, cap * sizeof(ev_t));
            assert_non_null(e.ev);
        }

        assert_true((size_t) (nl - p - 7) < sizeof(e.ev[0].name));
        memcpy(e.ev[e.n].name, p + 7, (size_t) (nl - p - 7));
        e.ev[e.n].name[nl - p - 7] = '\0';
        e.ev[e.n].data = jparse(nl + 7, (size_t) (end - nl - 7));
        normalise(e.ev[e.n].data);
        e.n++;
    }

    return e;
}


static void
events_free(evs_t *e)
{
    size_t  i;

    for (i = 0; i < e->n; i++) {
        json_decref(e->ev[i].data);
    }

    free(e->ev);
}


static const char *
jstr(json_t *v, const char *k1, const char *k2)
{
    v = json_object_get(v, k1);

    if (k2) {
        v = json_object_get(v, k2);
    }

    return json_string_value(v) ? json_string_value(v) : "";
}


/*
 * Checks the Anthropic event grammar: message_start, ping, blocks with
 * indexes 0, 1, ... each started before its deltas (of its own kind) and
 * stopped before the next starts, message_delta with no block open, then
 * message_stop; or an error event, last.
 */

static void
check_grammar(evs_t *e)
{
    int          open, started, ended;
    size_t       i, next;
    json_int_t   idx;
    const char  *name, *btype, *dtype, *kinds[64];
    json_t      *d, *u;

    open = -1;
    started = 0;
    ended = 0;
    next = 0;

    assert_true(e->n > 0);

    for (i = 0; i < e->n; i++) {
        name = e->ev[i].name;
        d = e->ev[i].data;

        assert_false(ended);
        assert_string_equal(jstr(d, "type", NULL), name);
        idx = json_integer_value(json_object_get(d, "index"));

        if (strcmp(name, "error") == 0) {
            assert_int_equal(i, e->n - 1);
            assert_true(strlen(jstr(d, "error", "type")) > 0);
            assert_true(strlen(jstr(d, "error", "message")) > 0);
            ended = 1;
            continue;
        }

        if (strcmp(name, "message_start") == 0) {
            assert_int_equal(i, 0);
            assert_true(i + 1 < e->n);
            assert_string_equal(e->ev[i + 1].name, "ping");
            assert_string_equal(jstr(d, "message", "id"), "<msg>");
            u = json_object_get(json_object_get(d, "message"), "usage");
            assert_int_equal(json_object_size(u), 4);
            assert_true(json_is_integer(json_object_get(u,
                                        "cache_read_input_tokens")));
            started = 1;
            continue;
        }

        assert_true(started);

        if (strcmp(name, "ping") == 0) {
            assert_int_equal(i, 1);

        } else if (strcmp(name, "content_block_start") == 0) {
            assert_int_equal(open, -1);
            assert_int_equal(idx, (json_int_t) next);
            assert_true(next < 64);
            btype = jstr(d, "content_block", "type");
            kinds[next] = btype;
            open = (int) next++;

            if (strcmp(btype, "tool_use") == 0) {
                assert_json_eq(json_object_get(json_object_get(d,
                               "content_block"), "input"), "{}");
                assert_true(strlen(jstr(d, "content_block", "id")) > 0);
                assert_true(strlen(jstr(d, "content_block", "name")) > 0);

            } else if (strcmp(btype, "text") == 0) {
                assert_string_equal(jstr(d, "content_block", "text"), "");

            } else {
                assert_string_equal(btype, "thinking");
            }

        } else if (strcmp(name, "content_block_delta") == 0) {
            assert_int_equal(idx, open);
            dtype = jstr(d, "delta", "type");

            if (strcmp(kinds[open], "text") == 0) {
                assert_string_equal(dtype, "text_delta");
                assert_true(json_string_length(json_object_get(
                            json_object_get(d, "delta"), "text")) > 0);

            } else if (strcmp(kinds[open], "thinking") == 0) {
                assert_string_equal(dtype, "thinking_delta");

            } else {
                assert_string_equal(dtype, "input_json_delta");
                assert_true(json_string_length(json_object_get(
                            json_object_get(d, "delta"), "partial_json")) > 0);
            }

        } else if (strcmp(name, "content_block_stop") == 0) {
            assert_int_equal(idx, open);
            open = -1;

        } else if (strcmp(name, "message_delta") == 0) {
            assert_int_equal(open, -1);
            assert_true(i + 1 < e->n);
            assert_string_equal(e->ev[i + 1].name, "message_stop");
            assert_true(strlen(jstr(d, "delta", "stop_reason")) > 0);
            assert_true(json_is_null(json_object_get(json_object_get(d,
                        "delta"), "stop_sequence")));
            assert_int_equal(json_object_size(json_object_get(d, "usage")),
                             4);

        } else if (strcmp(name, "message_stop") == 0) {
            assert_int_equal(i, e->n - 1);
            ended = 1;

        } else {
            print_error("unexpected event %s\n", name);
            fail();
        }
    }
}


/* "start ping +0:text d0:text -0 delta:end_turn stop" */

static char *
summary(evs_t *e)
{
    char        *s, *p;
    size_t       i;
    json_t      *d;
    const char  *name, *t;

    s = keep(malloc(e->n * 48 + 1));
    p = s;
    *p = '\0';

    for (i = 0; i < e->n; i++) {
        name = e->ev[i].name;
        d = e->ev[i].data;

        if (i) {
            *p++ = ' ';
        }

        if (strcmp(name, "message_start") == 0) {
            p += sprintf(p, "start");

        } else if (strcmp(name, "ping") == 0) {
            p += sprintf(p, "ping");

        } else if (strcmp(name, "content_block_start") == 0) {
            p += sprintf(p, "+%lld:%s",
                         (long long) json_integer_value(json_object_get(d,
                                                        "index")),
                         jstr(d, "content_block", "type"));

        } else if (strcmp(name, "content_block_delta") == 0) {
            t = jstr(d, "delta", "type");
            p += sprintf(p, "d%lld:%s",
                         (long long) json_integer_value(json_object_get(d,
                                                        "index")),
                         strcmp(t, "text_delta") == 0 ? "text"
                         : strcmp(t, "thinking_delta") == 0 ? "thinking"
                         : "json");

        } else if (strcmp(name, "content_block_stop") == 0) {
            p += sprintf(p, "-%lld",
                         (long long) json_integer_value(json_object_get(d,
                                                        "index")));

        } else if (strcmp(name, "message_delta") == 0) {
            p += sprintf(p, "delta:%s", jstr(d, "delta", "stop_reason"));

        } else if (strcmp(name, "message_stop") == 0) {
            p += sprintf(p, "stop");

        } else if (strcmp(name, "error") == 0) {
            p += sprintf(p, "error:%s", jstr(d, "error", "type"));

        } else {
            p += sprintf(p, "?%s", name);
        }
    }

    return s;
}


/* the concatenated deltas of block i */

static char *
block_text(evs_t *e, json_int_t index, size_t *len)
{
    char         *s;
    size_t        i, n, cap;
    json_t       *d, *v;
    const char   *key;

    s = NULL;
    n = 0;
    cap = 0;

    for (i = 0; i < e->n; i++) {
        d = e->ev[i].data;

        if (strcmp(e->ev[i].name, "content_block_delta") != 0
            || json_integer_value(json_object_get(d, "index")) != index)
        {
            continue;
        }

        d = json_object_get(d, "delta");
        key = strcmp(jstr(d, "type", NULL), "text_delta") == 0 ? "text"
              : strcmp(jstr(d, "type", NULL), "thinking_delta") == 0
                ? "thinking" : "partial_json";
        v = json_object_get(d, key);

        if (n + json_string_length(v) + 1 > cap) {
            cap = (n + json_string_length(v) + 1) * 2;
            s = realloc(s, cap);
            assert_non_null(s);
        }

        memcpy(s + n, json_string_value(v), json_string_length(v));
        n += json_string_length(v);
    }

    if (s == NULL) {
        s = malloc(1);
        assert_non_null(s);
    }

    s[n] = '\0';

    if (len) {
        *len = n;
    }

    return keep(s);
}


static json_t *
find_event(evs_t *e, const char *name, size_t nth)
{
    size_t  i;

    for (i = 0; i < e->n; i++) {
        if (strcmp(e->ev[i].name, name) == 0 && nth-- == 0) {
            return e->ev[i].data;
        }
    }

    print_error("no %s event\n", name);
    fail();

    return NULL;
}


/* runs a stream every way, checks its grammar and its summary */

static evs_t
expect_stream(const char *in, const sopt_t *o, const char *want)
{
    char   *out, *sum;
    evs_t   e;

    out = stream_all(Q(in), o ? o : &dflt);
    e = events(out);
    check_grammar(&e);

    sum = summary(&e);

    if (strcmp(sum, want) != 0) {
        print_error("events: %s\nwant:   %s\n", sum, want);
        events_free(&e);
        fail();
    }

    return e;
}


#define CH(delta)                                                            \
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk',"             \
    "'model':'ai/smollm2','choices':[{'index':0,'delta':" delta "}]}\n\n"

#define CHF(delta, fin)                                                      \
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk',"             \
    "'model':'ai/smollm2','choices':[{'index':0,'delta':" delta ","          \
    "'finish_reason':" fin "}]}\n\n"

#define TEXT(t)      CH("{'content':'" t "'}")
#define THINK(t)     CH("{'reasoning_content':'" t "'}")
#define FINISH(f)    CHF("{}", "'" f "'")
#define DONE         "data: [DONE]\n\n"
#define USAGE_CH(i, o)                                                       \
    "data: {'id':'chatcmpl-1','choices':[],'usage':{'prompt_tokens':" #i     \
    ",'completion_tokens':" #o "}}\n\n"

#define TOOL_START(i, id, name)                                              \
    CH("{'tool_calls':[{'index':" #i ",'id':'" id "','type':'function',"     \
       "'function':{'name':'" name "','arguments':''}}]}")
#define TOOL_ARGS(i, a)                                                      \
    CH("{'tool_calls':[{'index':" #i ",'function':{'arguments':'" a "'}}]}")


static void
test_stream_text(void **state)
{
    evs_t  e;

    e = expect_stream(
        CH("{'role':'assistant','content':null}")
        TEXT("Hello") TEXT(" world") TEXT("!")
        FINISH("stop") DONE,
        NULL,
        "start ping +0:text d0:text d0:text d0:text -0 delta:end_turn stop");

    /* every event in full */
    {
        size_t   i;
        json_t  *all, *ev;

        all = json_array();
        for (i = 0; i < e.n; i++) {
            ev = json_pack("[s,O]", e.ev[i].name, e.ev[i].data);
            json_array_append_new(all, ev);
        }

        assert_json_eq(all, Q("["
            "['message_start',{'type':'message_start','message':{"
            "'id':'<msg>','type':'message','role':'assistant',"
            "'model':'claude-test','content':[],'stop_reason':null,"
            "'stop_sequence':null,'usage':{'input_tokens':17,"
            "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
            "'output_tokens':0}}}],"
            "['ping',{'type':'ping'}],"
            "['content_block_start',{'type':'content_block_start','index':0,"
            "'content_block':{'type':'text','text':''}}],"
            "['content_block_delta',{'type':'content_block_delta','index':0,"
            "'delta':{'type':'text_delta','text':'Hello'}}],"
            "['content_block_delta',{'type':'content_block_delta','index':0,"
            "'delta':{'type':'text_delta','text':' world'}}],"
            "['content_block_delta',{'type':'content_block_delta','index':0,"
            "'delta':{'type':'text_delta','text':'!'}}],"
            "['content_block_stop',{'type':'content_block_stop','index':0}],"
            "['message_delta',{'type':'message_delta','delta':{"
            "'stop_reason':'end_turn','stop_sequence':null},'usage':{"
            "'input_tokens':17,'cache_creation_input_tokens':0,"
            "'cache_read_input_tokens':0,'output_tokens':3}}],"
            "['message_stop',{'type':'message_stop'}]]"));

        json_decref(all);
    }

    events_free(&e);
}


static void
test_stream_text_then_tool(void **state)
{
    evs_t  e;

    e = expect_stream(
        TEXT("Let me look.")
        TOOL_START(0, "call_1", "get_forecast")
        TOOL_ARGS(0, "{`city`:") TOOL_ARGS(0, "`Oslo`}")
        FINISH("tool_calls") USAGE_CH(50, 20) DONE,
        NULL,
        "start ping +0:text d0:text -0 +1:tool_use d1:json d1:json -1 "
        "delta:tool_use stop");

    assert_json_eq(find_event(&e, "content_block_start", 1),
        Q("{'type':'content_block_start','index':1,'content_block':{"
          "'type':'tool_use','id':'call_1','name':'get_forecast',"
          "'input':{}}}"));
    assert_string_equal(block_text(&e, 1, NULL), "{\"city\":\"Oslo\"}");
    assert_json_eq(json_object_get(find_event(&e, "message_delta", 0),
                                   "usage"), Q(USAGE(50, 20)));

    events_free(&e);
}


static void
test_stream_sequential_tools(void **state)
{
    evs_t  e;

    e = expect_stream(
        TOOL_START(0, "call_a", "tool_alpha")
        TOOL_ARGS(0, "{") TOOL_ARGS(0, "`x`:1}")
        TOOL_START(1, "call_b", "tool_beta")
        TOOL_ARGS(1, "{") TOOL_ARGS(1, "`y`:2}")
        FINISH("tool_calls") DONE,
        NULL,
        "start ping +0:tool_use d0:json d0:json -0 "
        "+1:tool_use d1:json d1:json -1 delta:tool_use stop");

    assert_string_equal(jstr(find_event(&e, "content_block_start", 1),
                             "content_block", "name"), "tool_beta");
    assert_string_equal(block_text(&e, 0, NULL), "{\"x\":1}");
    assert_string_equal(block_text(&e, 1, NULL), "{\"y\":2}");

    events_free(&e);

    /* fifteen tools after text: sixteen blocks, all streamed live */
    {
        char    in[16384], *p;
        int     i;

        p = in;
        p += sprintf(p, "%s", TEXT("Running them all."));

        for (i = 0; i < 15; i++) {
            p += sprintf(p, "data: {'choices':[{'delta':{'tool_calls':[{"
                         "'index':%d,'id':'c%d','function':{'name':'t%d',"
                         "'arguments':'{`n`:%d}'}}]}}]}\n\n", i, i, i, i);
        }

        sprintf(p, "%s%s", FINISH("tool_calls"), DONE);

        e = expect_stream(in, NULL,
            "start ping +0:text d0:text -0 "
            "+1:tool_use d1:json -1 +2:tool_use d2:json -2 "
            "+3:tool_use d3:json -3 +4:tool_use d4:json -4 "
            "+5:tool_use d5:json -5 +6:tool_use d6:json -6 "
            "+7:tool_use d7:json -7 +8:tool_use d8:json -8 "
            "+9:tool_use d9:json -9 +10:tool_use d10:json -10 "
            "+11:tool_use d11:json -11 +12:tool_use d12:json -12 "
            "+13:tool_use d13:json -13 +14:tool_use d14:json -14 "
            "+15:tool_use d15:json -15 delta:tool_use stop");

        assert_string_equal(block_text(&e, 15, NULL), "{\"n\":14}");
        events_free(&e);
    }
}


static void
test_stream_reasoning(void **state)
{
    evs_t  e;

    e = expect_stream(
        THINK("Think") THINK("ing...") TEXT("Answer.") FINISH("stop") DONE,
        NULL,
        "start ping +0:thinking d0:thinking d0:thinking -0 "
        "+1:text d1:text -1 delta:end_turn stop");

    assert_json_eq(json_object_get(find_event(&e, "content_block_start", 0),
                                   "content_block"),
                   Q("{'type':'thinking','thinking':'','signature':''}"));
    assert_string_equal(block_text(&e, 0, NULL), "Thinking...");

    /* output estimate counts thinking and text: (11 + 7) / 4 */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
        find_event(&e, "message_delta", 0), "usage"), "output_tokens")), 4);
    events_free(&e);

    /* the "reasoning" field, as vLLM and Ollama name it */
    e = expect_stream(
        CH("{'reasoning':'Hm.'}") TEXT("Yes.") FINISH("stop") DONE, NULL,
        "start ping +0:thinking d0:thinking -0 +1:text d1:text -1 "
        "delta:end_turn stop");
    events_free(&e);

    /* thinking, text and a tool call in one chunk: three blocks */
    e = expect_stream(
        CH("{'reasoning_content':'plan','content':'Doing it.',"
           "'tool_calls':[{'index':0,'id':'c9','type':'function',"
           "'function':{'name':'run','arguments':'{}'}}]}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:thinking d0:thinking -0 +1:text d1:text -1 "
        "+2:tool_use d2:json -2 delta:tool_use stop");
    events_free(&e);

    /* thinking only */
    e = expect_stream(THINK("just thinking") FINISH("stop") DONE, NULL,
        "start ping +0:thinking d0:thinking -0 delta:end_turn stop");
    events_free(&e);
}


/* interleaved parallel calls: buffered per tool, emitted in order */

static void
test_stream_interleaved_tools(void **state)
{
    evs_t  e;

    e = expect_stream(
        TOOL_START(0, "call_a", "get_forecast")
        TOOL_START(1, "call_b", "get_time")
        TOOL_ARGS(0, "{`city`:") TOOL_ARGS(1, "{`tz`:")
        TOOL_ARGS(0, "`Oslo`}") TOOL_ARGS(1, "`CET`}")
        FINISH("tool_calls") DONE,
        NULL,
        "start ping +0:tool_use d0:json d0:json -0 "
        "+1:tool_use d1:json d1:json -1 delta:tool_use stop");

    assert_string_equal(jstr(find_event(&e, "content_block_start", 0),
                             "content_block", "id"), "call_a");
    assert_string_equal(jstr(find_event(&e, "content_block_start", 1),
                             "content_block", "id"), "call_b");
    assert_string_equal(block_text(&e, 0, NULL), "{\"city\":\"Oslo\"}");
    assert_string_equal(block_text(&e, 1, NULL), "{\"tz\":\"CET\"}");
    events_free(&e);

    /* three calls round robin, the first one finishing last */
    e = expect_stream(
        TOOL_START(0, "a", "one") TOOL_START(1, "b", "two")
        TOOL_START(2, "c", "three")
        TOOL_ARGS(0, "{`a`:[1,") TOOL_ARGS(1, "{`b`:`}`") TOOL_ARGS(2, "{")
        TOOL_ARGS(1, "}") TOOL_ARGS(2, "`c`:{`d`:`\\\\``}")
        TOOL_ARGS(2, "}") TOOL_ARGS(0, "2]")
        TOOL_ARGS(0, "}")
        FINISH("tool_calls") USAGE_CH(5, 6) DONE,
        NULL,
        "start ping +0:tool_use d0:json d0:json d0:json -0 "
        "+1:tool_use d1:json -1 +2:tool_use d2:json -2 "
        "delta:tool_use stop");

    assert_string_equal(block_text(&e, 0, NULL), "{\"a\":[1,2]}");
    assert_string_equal(block_text(&e, 1, NULL), "{\"b\":\"}\"}");
    assert_string_equal(block_text(&e, 2, NULL),
                        "{\"c\":{\"d\":\"\\\"\"}}");
    events_free(&e);

    /* the second finishes first: it waits for the first */
    e = expect_stream(
        TOOL_START(0, "a", "one") TOOL_ARGS(0, "{`x`:")
        TOOL_START(1, "b", "two") TOOL_ARGS(1, "{`y`:2}")
        TOOL_ARGS(0, "1}") TEXT("done")
        FINISH("tool_calls") DONE,
        NULL,
        "start ping +0:tool_use d0:json d0:json -0 +1:tool_use d1:json -1 "
        "+2:text d2:text -2 delta:tool_use stop");
    events_free(&e);
}


static void
test_stream_tool_edge_cases(void **state)
{
    evs_t   e;
    size_t  n;

    /* arguments before id and name: held, then sent after the start */
    e = expect_stream(
        TOOL_ARGS(0, "{`q`:")
        TOOL_START(0, "call_q", "search")
        TOOL_ARGS(0, "`nginx`}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json d0:json -0 delta:tool_use stop");
    assert_string_equal(block_text(&e, 0, NULL), "{\"q\":\"nginx\"}");
    events_free(&e);

    /* id and name repeated on every chunk: one block */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'id':'call_r','type':'function',"
           "'function':{'name':'lookup','arguments':'{'}}]}")
        CH("{'tool_calls':[{'index':0,'id':'call_r','type':'function',"
           "'function':{'name':'lookup','arguments':'`k`:1'}}]}")
        CH("{'tool_calls':[{'index':0,'id':'call_r','type':'function',"
           "'function':{'name':'lookup','arguments':'}'}}]}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json d0:json d0:json -0 "
        "delta:tool_use stop");
    events_free(&e);

    /* tool, text, tool */
    e = expect_stream(
        TOOL_START(0, "t1", "first") TOOL_ARGS(0, "{}")
        TEXT("between")
        TOOL_START(1, "t2", "second") TOOL_ARGS(1, "{}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 +1:text d1:text -1 "
        "+2:tool_use d2:json -2 delta:tool_use stop");
    events_free(&e);

    /* seven one-character pieces: seven deltas, not coalesced */
    e = expect_stream(
        TOOL_START(0, "t", "n")
        TOOL_ARGS(0, "{") TOOL_ARGS(0, "`") TOOL_ARGS(0, "a")
        TOOL_ARGS(0, "`") TOOL_ARGS(0, ":") TOOL_ARGS(0, "1")
        TOOL_ARGS(0, "}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json d0:json d0:json d0:json d0:json "
        "d0:json d0:json -0 delta:tool_use stop");
    events_free(&e);

    /* malformed arguments are streamed as they are */
    e = expect_stream(
        TOOL_START(0, "t", "n") TOOL_ARGS(0, "{invalid json here")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 delta:tool_use stop");
    assert_string_equal(block_text(&e, 0, NULL), "{invalid json here");
    events_free(&e);

    /* no name: no block, and the turn is not a tool turn */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'id':'nameless','function':{"
           "'arguments':'{}'}}]}")
        TEXT("ok") FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);

    /* no id: a generated toolu_ id */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'type':'function','function':{"
           "'name':'anon','arguments':'{}'}}]}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 delta:tool_use stop");
    assert_string_equal(jstr(find_event(&e, "content_block_start", 0),
                             "content_block", "id"), "<toolu>");
    events_free(&e);

    /* content plus an empty tool_calls array is text (LiteLLM #29286);
     * a missing index is 0; arguments given as an object */
    e = expect_stream(
        CH("{'content':'plain','tool_calls':[]}")
        CH("{'tool_calls':[{'id':'x','function':{'name':'obj',"
           "'arguments':{'k':[1]}}}]}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:text d0:text -0 +1:tool_use d1:json -1 "
        "delta:tool_use stop");
    assert_string_equal(block_text(&e, 1, &n), "{\"k\":[1]}");
    events_free(&e);

    /* every call numbered 0, each with its own id (as some servers do) */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'id':'o1','function':{'name':'a',"
           "'arguments':'{`p`:1}'}}]}")
        CH("{'tool_calls':[{'index':0,'id':'o2','function':{'name':'b',"
           "'arguments':'{`p`:2}'}}]}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 +1:tool_use d1:json -1 "
        "delta:tool_use stop");
    assert_string_equal(jstr(find_event(&e, "content_block_start", 1),
                             "content_block", "id"), "o2");
    events_free(&e);

    /* ... or numbered 0 without ids, each call whole in one chunk */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'function':{'name':'a',"
           "'arguments':'{`p`:1}'}}]}")
        CH("{'tool_calls':[{'index':0,'function':{'name':'a',"
           "'arguments':'{`p`:2}'}}]}")
        CH("{'tool_calls':[{'index':0,'function':{'name':'a',"
           "'arguments':''}}]}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 +1:tool_use d1:json -1 "
        "delta:tool_use stop");
    assert_string_equal(block_text(&e, 1, NULL), "{\"p\":2}");
    events_free(&e);

    /* two calls in one chunk */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'id':'p1','function':{'name':'a',"
           "'arguments':'{}'}},{'index':1,'id':'p2','function':{'name':'b',"
           "'arguments':'{}'}}]}")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 +1:tool_use d1:json -1 "
        "delta:tool_use stop");
    events_free(&e);

    /* stop_reason: "stop" with tool calls is still tool_use */
    e = expect_stream(
        TOOL_START(0, "t", "n") TOOL_ARGS(0, "{}") FINISH("stop") DONE,
        NULL, "start ping +0:tool_use d0:json -0 delta:tool_use stop");
    events_free(&e);
}


static void
test_stream_tool_errors(void **state)
{
    char    in[8192], *p;
    evs_t   e;
    sopt_t  o;
    int     i;

    /* arguments for a tool whose block text already closed */
    e = expect_stream(
        TOOL_START(0, "t", "n") TOOL_ARGS(0, "{`a`:")
        TEXT("x") TOOL_ARGS(0, "1}") FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 +1:text d1:text error:api_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "arguments for tool call 0 arrived after its block "
                        "was closed");
    events_free(&e);

    /* white space after the end is no harm */
    e = expect_stream(
        TOOL_START(0, "t", "n") TOOL_ARGS(0, "{}")
        TOOL_START(1, "u", "m") TOOL_ARGS(0, " \\n")
        FINISH("tool_calls") DONE, NULL,
        "start ping +0:tool_use d0:json -0 +1:tool_use -1 "
        "delta:tool_use stop");
    events_free(&e);

    /* more held back than max_buffered allows */
    o = dflt;
    o.max_buf = 1024;

    p = in;
    p += sprintf(p, "%s%s%s", TOOL_START(0, "a", "one"),
                 TOOL_ARGS(0, "{`x`:"), TOOL_START(1, "b", "two"));

    for (i = 0; i < 20; i++) {
        p += sprintf(p, "%s", TOOL_ARGS(1, "0123456789012345678901234567890"
                                           "1234567890123456789"));
    }

    sprintf(p, "%s%s", FINISH("tool_calls"), DONE);

    e = expect_stream(in, &o,
        "start ping +0:tool_use d0:json error:api_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "parallel tool calls held back more than 1024 "
                        "bytes");
    events_free(&e);

    /* the same within the limit is fine */
    o.max_buf = 4096;
    e = expect_stream(in, &o,
        "start ping +0:tool_use d0:json -0 +1:tool_use d1:json -1 "
        "delta:tool_use stop");
    events_free(&e);
}


static void
test_stream_empty_and_odd_chunks(void **state)
{
    evs_t  e;

    /* [DONE] only */
    e = expect_stream(DONE, NULL, "start ping delta:end_turn stop");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
        find_event(&e, "message_delta", 0), "usage"), "output_tokens")), 0);
    events_free(&e);

    /* role only, null and empty content: no blocks */
    e = expect_stream(
        CH("{'role':'assistant'}") CH("{'content':null}")
        CH("{'content':''}") CH("{'tool_calls':null}") CH("null")
        "data: {'choices':[{'index':0}]}\n\n"
        "data: {'choices':null}\n\n"
        "data: {'choices':[]}\n\n"
        TEXT("x") FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);

    /* a malformed line between good ones is skipped, and so are data
     * values that are not objects */
    e = expect_stream(
        TEXT("before") "data: {not json\n\n" "data: [1,2]\n\n"
        "data: 42\n\n" "data: \n\n" "data:\n\n" TEXT("after")
        FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text d0:text -0 delta:end_turn stop");
    assert_string_equal(block_text(&e, 0, NULL), "beforeafter");
    events_free(&e);

    /* finish_reason null first, then stop */
    e = expect_stream(
        CHF("{'content':'a'}", "null") FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);

    /* other stop reasons */
    e = expect_stream(TEXT("a") FINISH("length") DONE, NULL,
        "start ping +0:text d0:text -0 delta:max_tokens stop");
    events_free(&e);
    e = expect_stream(TEXT("a") FINISH("content_filter") DONE, NULL,
        "start ping +0:text d0:text -0 delta:refusal stop");
    events_free(&e);
    e = expect_stream(TEXT("a") FINISH("something_new") DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);

    /* a refusal delta is text */
    e = expect_stream(CH("{'refusal':'No.'}") FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);
}


static void
test_stream_usage(void **state)
{
    evs_t   e;
    json_t  *u;

    /* finish, then the usage-only chunk include_usage asks for */
    e = expect_stream(
        TEXT("Hello") FINISH("stop")
        "data: {'id':'c','choices':[],'usage':{'prompt_tokens':37,"
        "'completion_tokens':14,'total_tokens':51,'prompt_tokens_details':"
        "{'cached_tokens':30}}}\n\n" DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");

    /* message_start: the estimate; message_delta: the backend's count */
    u = json_object_get(json_object_get(find_event(&e, "message_start", 0),
                                        "message"), "usage");
    assert_json_eq(u, Q(USAGE(17, 0)));
    assert_json_eq(json_object_get(find_event(&e, "message_delta", 0),
                                   "usage"),
                   Q("{'input_tokens':7,'cache_creation_input_tokens':0,"
                     "'cache_read_input_tokens':30,'output_tokens':14}"));
    events_free(&e);

    /* usage on the finish chunk */
    e = expect_stream(
        TEXT("Hi")
        "data: {'choices':[{'index':0,'delta':{},'finish_reason':'stop'}],"
        "'usage':{'prompt_tokens':10,'completion_tokens':5}}\n\n" DONE,
        NULL, "start ping +0:text d0:text -0 delta:end_turn stop");
    assert_json_eq(json_object_get(find_event(&e, "message_delta", 0),
                                   "usage"), Q(USAGE(10, 5)));
    events_free(&e);

    /* no usage: output estimated from the text, bytes / 4 */
    e = expect_stream(
        TEXT("Hello, world! This is synthesised.") FINISH("stop") DONE,
        NULL, "start ping +0:text d0:text -0 delta:end_turn stop");
    assert_json_eq(json_object_get(find_event(&e, "message_delta", 0),
                                   "usage"), Q(USAGE(17, 8)));
    events_free(&e);

    /* a little text is at least 1 */
    e = expect_stream(TEXT("a") FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    assert_json_eq(json_object_get(find_event(&e, "message_delta", 0),
                                   "usage"), Q(USAGE(17, 1)));
    events_free(&e);
}


static void
test_stream_model(void **state)
{
    evs_t   e;
    sopt_t  o;

    o = dflt;
    o.model = NULL;
    o.est = 0;

    /* no model given: the backend's */
    e = expect_stream(TEXT("x") FINISH("stop") DONE, &o,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    assert_string_equal(jstr(find_event(&e, "message_start", 0), "message",
                             "model"), "ai/smollm2");
    assert_json_eq(json_object_get(json_object_get(find_event(&e,
                   "message_start", 0), "message"), "usage"),
                   Q(USAGE(0, 0)));
    events_free(&e);

    /* nobody names one */
    e = expect_stream(DONE, &o, "start ping delta:end_turn stop");
    assert_string_equal(jstr(find_event(&e, "message_start", 0), "message",
                             "model"), "unknown");
    events_free(&e);

    /* a model name with bytes that are not UTF-8 */
    o.model = "bad\xc3(";
    e = expect_stream(DONE, &o, "start ping delta:end_turn stop");
    assert_string_equal(jstr(find_event(&e, "message_start", 0), "message",
                             "model"), "bad?(");
    events_free(&e);
}


/* a stream that stops without finish_reason or [DONE] must not look done */

static void
test_stream_cut(void **state)
{
    evs_t  e;

    e = expect_stream(TEXT("Hello") TEXT(" wor"), NULL,
        "start ping +0:text d0:text d0:text error:api_error");
    assert_json_eq(find_event(&e, "error", 0),
        Q("{'type':'error','error':{'type':'api_error','message':"
          "'upstream stream ended before the response was complete'}}"));
    events_free(&e);

    /* cut in the middle of a line */
    e = expect_stream(TEXT("Hello") "data: {'choices':[{'delta':{'cont",
        NULL, "start ping +0:text d0:text error:api_error");
    events_free(&e);

    /* nothing at all */
    e = expect_stream("", NULL, "error:api_error");
    events_free(&e);

    /* a finish_reason and then the end, without [DONE]: complete */
    e = expect_stream(TEXT("Hi") FINISH("stop"), NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);

    /* ... also when the last line has no line ending */
    e = expect_stream(TEXT("Hi")
        "data: {'choices':[{'delta':{},'finish_reason':'stop'}]}", NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);

    /* [DONE] without a finish_reason: complete */
    e = expect_stream(TEXT("Hi") DONE, NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);

    /* [DONE] as the very last bytes, without a line ending */
    e = expect_stream(TEXT("Hi") "data: [DONE]", NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);
}


static void
test_stream_sse_syntax(void **state)
{
    evs_t  e;

    /* "data:" without the space, CRLF and CR endings, comments, event
     * names, ids and retry fields, "[DONE]" with spaces */
    e = expect_stream(
        ": ping\r\n\r\n"
        "event: message\r\n"
        "id: 1\r\n"
        "retry: 1000\r\n"
        "data:{'choices':[{'delta':{'content':'a'}}]}\r\n\r\n"
        "data: {'choices':[{'delta':{'content':'b'}}]}\r\r"
        "data:  {'choices':[{'delta':{'content':'c'}}]}\n\n"
        "data\n\n"
        "nonsense line\n"
        "data: {'choices':[{'delta':{},'finish_reason':'stop'}]}\r\n\r\n"
        "data:  [DONE]  \r\n\r\n", NULL,
        "start ping +0:text d0:text d0:text d0:text -0 delta:end_turn stop");
    assert_string_equal(block_text(&e, 0, NULL), "abc");
    events_free(&e);

    /* after [DONE] everything is ignored, even an error */
    e = expect_stream(TEXT("a") DONE TEXT("late")
        "data: {'error':{'message':'late error'}}\n\n"
        "event: error\n\n", NULL,
        "start ping +0:text d0:text -0 delta:end_turn stop");
    events_free(&e);
}


static void
test_stream_upstream_errors(void **state)
{
    evs_t  e;

    /* an error object in the data (vLLM, OpenAI) */
    e = expect_stream(TEXT("partial")
        "data: {'error':{'message':'CUDA out of memory','type':"
        "'server_error','code':500}}\n\n" TEXT("never"), NULL,
        "start ping +0:text d0:text error:api_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "CUDA out of memory");
    events_free(&e);

    /* event: error, an Anthropic-shaped error, first thing */
    e = expect_stream(
        "event: error\n"
        "data: {'type':'error','error':{'type':'overloaded_error',"
        "'message':'busy'}}\n\n", NULL, "error:overloaded_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "busy");
    events_free(&e);

    /* llama.cpp's "error:" line */
    e = expect_stream(TEXT("x")
        "error: {'code':429,'message':'too many requests',"
        "'type':'unavailable_error'}\n\n", NULL,
        "start ping +0:text d0:text error:rate_limit_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "too many requests");
    events_free(&e);

    /* event: error without data */
    e = expect_stream(TEXT("x") "event: error\n\n", NULL,
        "start ping +0:text d0:text error:api_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "upstream reported an error");
    events_free(&e);

    /* event: error, then the end */
    e = expect_stream("event: error\n", NULL, "error:api_error");
    events_free(&e);

    /* event: error with text data */
    e = expect_stream("event: error\ndata: plain\ttext failure\n\n", NULL,
        "error:api_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "plain text failure");
    events_free(&e);

    /* an error type named by the backend */
    e = expect_stream("data: {'error':{'message':'slow down',"
                      "'type':'rate_limit_exceeded'}}\n\n", NULL,
                      "error:rate_limit_error");
    events_free(&e);
    e = expect_stream("data: {'error':'bad request','code':400}\n\n", NULL,
                      "error:invalid_request_error");
    events_free(&e);

    /* "error": null is no error; another event name resets */
    e = expect_stream(
        "data: {'error':null,'choices':[{'delta':{'content':'x'}}]}\n\n"
        "event: error\nevent: message\n"
        TEXT("y") FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text d0:text -0 delta:end_turn stop");
    events_free(&e);
}


static void
test_stream_long_line(void **state)
{
    char    in[4096];
    evs_t   e;
    sopt_t  o;

    o = dflt;
    o.max_line = 64;

    snprintf(in, sizeof(in), "%s%s%s", "data: {'choices':[{'delta':{"
             "'content':'hi'}}]}\n\n", TEXT("this line is longer than "
             "sixty-four bytes, so it ends the stream"), DONE);

    e = expect_stream(in, &o, "start ping +0:text d0:text error:api_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "upstream sent an SSE line longer than 64 bytes");
    events_free(&e);

    /* an endless line, no line ending at all */
    memset(in, 'x', 200);
    in[200] = '\0';
    e = expect_stream(in, &o, "error:api_error");
    events_free(&e);

    /* 500 KiB arguments in one line are fine under the default 1 MiB */
    {
        char    *big, *p;
        size_t   n;
        json_t   *v;

        n = 500 * 1024;
        big = keep(malloc(n + 512));
        p = big;
        p += sprintf(p, "%s", Q(TOOL_START(0, "t", "write")));
        p += sprintf(p, "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{"
                     "\"index\":0,\"function\":{\"arguments\":\"{\\\"s\\\":"
                     "\\\"");
        memset(p, 'z', n);
        p += n;
        p += sprintf(p, "\\\"}\"}}]}}]}\n\n");
        p += sprintf(p, "%s%s", Q(FINISH("tool_calls")), DONE);

        {
            char    *out;
            int      rc;

            out = keep(stream_once(big, strlen(big), MODE_WHOLE, 0, &dflt,
                                   &rc));
            e = events(out);
        }

        check_grammar(&e);
        assert_string_equal(summary(&e),
            "start ping +0:tool_use d0:json -0 delta:tool_use stop");
        v = jparse(block_text(&e, 0, NULL), n + 8);
        assert_int_equal(json_string_length(json_object_get(v, "s")), n);
        json_decref(v);
        events_free(&e);
    }
}


static void
test_stream_unicode(void **state)
{
    evs_t    e;
    size_t   n;
    char    *t;

    e = expect_stream(
        TEXT("caf\\u00e9 \\u2713 \\ud83d\\ude00 ") TEXT("nul:\\u0000:end")
        TEXT("<script>&amp;</script>") TEXT(" \\/\\u0041\\u001f\\u00e9")
        FINISH("stop") DONE, NULL,
        "start ping +0:text d0:text d0:text d0:text d0:text -0 "
        "delta:end_turn stop");

    t = block_text(&e, 0, &n);
    assert_int_equal(n, 15 + 9 + 22 + 6);
    assert_memory_equal(t, "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 "
                           "nul:\0:end<script>&amp;</script> /A\x1f\xc3\xa9",
                        n);
    events_free(&e);
}


/* events go out as soon as they are complete */

static void
test_stream_incremental(void **state)
{
    int                  rc;
    sink_t               k;
    const char          *c1, *c2;
    olla_anth_stream_t  *s;

    memset(&k, 0, sizeof(sink_t));

    s = olla_anth_stream_new("m", 3, 0, 0);
    assert_non_null(s);

    c1 = Q(CH("{'role':'assistant'}"));
    c2 = Q(TEXT("first"));

    /* a partial line: nothing yet */
    rc = olla_anth_stream_feed(s, c1, 20, sink_emit, &k);
    assert_int_equal(rc, 0);
    assert_int_equal(k.events, 0);

    /* the first data line: message_start and ping at once */
    rc = olla_anth_stream_feed(s, c1 + 20, strlen(c1) - 20, sink_emit, &k);
    assert_int_equal(rc, 0);
    assert_int_equal(k.events, 2);

    /* the text line: block start and delta, before anything else comes */
    rc = olla_anth_stream_feed(s, c2, strlen(c2) - 1, sink_emit, &k);
    assert_int_equal(rc, 0);
    assert_int_equal(k.events, 4);
    assert_non_null(strstr(k.p, "\"text\":\"first\""));

    rc = olla_anth_stream_feed(s, "data: [DONE]\n", 13, sink_emit, &k);
    assert_int_equal(rc, 1);
    assert_int_equal(k.events, 7);

    rc = olla_anth_stream_feed(s, "data: x\n", 8, sink_emit, &k);
    assert_int_equal(rc, 1);
    assert_int_equal(olla_anth_stream_finish(s, sink_emit, &k), 1);
    assert_int_equal(k.events, 7);

    olla_anth_stream_free(s);
    free(k.p);

    olla_anth_stream_free(NULL);
}


/* emit failing: -1, then -1 for every later call, nothing more emitted */

static void
test_stream_emit_failure(void **state)
{
    int          at, rc, mode;
    char        *out;
    evs_t        e;
    sopt_t       o;
    const char  *in;

    in = Q(TEXT("Hello") TOOL_START(0, "t", "n") TOOL_ARGS(0, "{}")
           FINISH("tool_calls") DONE);

    /* ten events: start ping +0 d0 -0 +1 d1 -1 delta stop */
    for (mode = MODE_WHOLE; mode <= MODE_BYTES; mode += 2) {
        for (at = 1; at <= 10; at++) {
            o = dflt;
            o.fail_at = at;

            out = stream_once(in, strlen(in), mode, 0, &o, &rc);
            assert_int_equal(rc, -1);

            e = events(out);
            assert_int_equal(e.n, (size_t) at - 1);
            events_free(&e);
            free(out);
        }
    }
}


/* recorded-style streams of real servers */

static void
test_stream_fixtures(void **state)
{
    char    *in;
    evs_t    e;
    json_t  *v;

    /* llama.cpp (DMR's default engine): text, then two tool calls */
    in = fixture("llamacpp_tools.sse", NULL);
    e = events(stream_all(in, &dflt));
    check_grammar(&e);
    assert_string_equal(summary(&e),
        "start ping +0:text d0:text d0:text -0 "
        "+1:tool_use d1:json d1:json d1:json -1 "
        "+2:tool_use d2:json d2:json -2 delta:tool_use stop");
    assert_string_equal(block_text(&e, 0, NULL),
                        "I will list the files first.");
    v = jparse(block_text(&e, 1, NULL), strlen(block_text(&e, 1, NULL)));
    assert_json_eq(v, "{\"path\":\"/srv/app\",\"ignore\":[\"*.o\"]}");
    json_decref(v);
    assert_json_eq(json_object_get(find_event(&e, "message_delta", 0),
                                   "usage"), Q(USAGE(412, 61)));
    events_free(&e);

    /* vLLM with a reasoning parser, cached prompt tokens */
    in = fixture("vllm_reasoning.sse", NULL);
    e = events(stream_all(in, &dflt));
    check_grammar(&e);
    assert_string_equal(summary(&e),
        "start ping +0:thinking d0:thinking d0:thinking -0 "
        "+1:text d1:text d1:text -1 delta:end_turn stop");
    assert_json_eq(json_object_get(find_event(&e, "message_delta", 0),
                                   "usage"),
                   Q("{'input_tokens':20,'cache_creation_input_tokens':0,"
                     "'cache_read_input_tokens':64,'output_tokens':31}"));
    events_free(&e);

    /* parallel calls whose arguments interleave */
    in = fixture("interleaved_tools.sse", NULL);
    e = events(stream_all(in, &dflt));
    check_grammar(&e);
    assert_string_equal(summary(&e),
        "start ping +0:tool_use d0:json d0:json d0:json -0 "
        "+1:tool_use d1:json d1:json -1 delta:tool_use stop");
    v = jparse(block_text(&e, 0, NULL), strlen(block_text(&e, 0, NULL)));
    assert_json_eq(v, "{\"file_path\":\"/srv/app/main.c\"}");
    json_decref(v);
    v = jparse(block_text(&e, 1, NULL), strlen(block_text(&e, 1, NULL)));
    assert_json_eq(v, "{\"command\":\"make test\",\"timeout\":60000}");
    json_decref(v);
    events_free(&e);

    /* a backend that died mid-answer */
    in = fixture("cut_midway.sse", NULL);
    e = events(stream_all(in, &dflt));
    check_grammar(&e);
    assert_string_equal(summary(&e),
        "start ping +0:text d0:text d0:text error:api_error");
    events_free(&e);

    /* llama.cpp reporting an error inside the stream */
    in = fixture("llamacpp_error.sse", NULL);
    e = events(stream_all(in, &dflt));
    check_grammar(&e);
    assert_string_equal(summary(&e),
        "start ping +0:text d0:text error:api_error");
    assert_string_equal(jstr(find_event(&e, "error", 0), "error", "message"),
                        "the request exceeds the available context size");
    events_free(&e);
}


/* -------------------------------------------- a long stream: bounded memory */


typedef struct {
    size_t     events;
    size_t     bytes;
    size_t     text;
} count_t;


static int
count_emit(void *data, const char *p, size_t len)
{
    count_t  *c;

    c = data;
    c->events++;
    c->bytes += len;

    return 0;
}


static size_t
heap_used(void)
{
    struct mallinfo2  mi;

    mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}


static void
test_stream_50mb(void **state)
{
    int                  rc;
    char                 buf[65536], text[101];
    size_t               target, fed, used, base, peak, mem, maxmem, i, n;
    count_t              c;
    double               secs;
    const char          *env;
    struct timespec      t0, t1;
    olla_anth_stream_t  *s;

    env = getenv("OLLA_BIG_MB");

    if (env == NULL) {
        /* valgrind runs the program with its preload libraries */
        env = getenv("LD_PRELOAD");
        env = (env && strstr(env, "vgpreload")) ? "5" : "50";
    }

    target = (size_t) atol(env) * 1024 * 1024;

    for (i = 0; i < 100; i++) {
        text[i] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789 .,;:!?"[i % 70];
    }
    text[100] = '\0';

    memset(&c, 0, sizeof(count_t));

    s = olla_anth_stream_new("claude-test", 10, 64 * 1024, 1024 * 1024);
    assert_non_null(s);

    base = heap_used();
    peak = 0;
    maxmem = 0;
    fed = 0;
    rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* pieces of odd sizes, so lines span pieces */
    while (c.text < target && rc == 0) {
        n = 0;

        while (n + 200 < sizeof(buf) - 7919) {
            n += (size_t) sprintf(buf + n, "data: {\"id\":\"c\",\"choices\":"
                                  "[{\"index\":0,\"delta\":{\"content\":"
                                  "\"%s\"}}]}\n\n", text);
            c.text += 100;
        }

        for (i = 0; i < n && rc == 0; i += 7919) {
            rc = olla_anth_stream_feed(s, buf + i,
                                       n - i < 7919 ? n - i : 7919,
                                       count_emit, &c);
        }

        fed += n;

        mem = olla_anth_stream_memory(s);
        if (mem > maxmem) {
            maxmem = mem;
        }

        used = heap_used();
        if (used > base && used - base > peak) {
            peak = used - base;
        }
    }

    assert_int_equal(rc, 0);

    rc = olla_anth_stream_feed(s, "data: {\"choices\":[{\"delta\":{},"
                               "\"finish_reason\":\"stop\"}]}\n\n"
                               "data: [DONE]\n\n", 74, count_emit, &c);
    assert_int_equal(rc, 1);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double) (t1.tv_sec - t0.tv_sec)
           + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;

    /* one delta per chunk, plus start, ping, block start/stop, end */
    assert_int_equal(c.events, c.text / 100 + 6);

    /* nothing accumulates: the stream holds about one line and one event */
    assert_true(maxmem < 64 * 1024 + 64 * 1024 + 4096);
    assert_true(peak < 1024 * 1024);

    print_message("[   INFO   ] %zu MB of text (%zu MB of SSE) in %.2f s, "
                  "%.1f MB/s; stream memory at most %zu bytes, heap growth "
                  "at most %zu bytes\n", c.text >> 20, fed >> 20, secs,
                  (double) fed / 1048576 / secs, maxmem, peak);

    olla_anth_stream_free(s);
}


/* --------------------- allocation failures: every one, no crash and no leak */


/*
 * jansson's lexer does not survive its own allocations failing (an
 * assertion in lex_scan_string), so failures are injected everywhere but
 * inside json_loadb: the test interposes json_loadb to know when.
 */

static size_t  fi_count, fi_fail_at;
static int     fi_parsing;


typedef json_t *(*json_loadb_pt)(const char *buffer, size_t buflen,
    size_t flags, json_error_t *error);


json_t *
json_loadb(const char *buffer, size_t buflen, size_t flags,
    json_error_t *error)
{
    json_t                *v;
    static json_loadb_pt   real;

    if (real == NULL) {
        *(void **) &real = dlsym(RTLD_NEXT, "json_loadb");
        assert_non_null(real);
    }

    fi_parsing++;
    v = real(buffer, buflen, flags, error);
    fi_parsing--;

    return v;
}


static void *
fi_malloc(size_t n)
{
    if (fi_fail_at && !fi_parsing && ++fi_count == fi_fail_at) {
        return NULL;
    }

    return malloc(n);
}


static void
fi_free(void *p)
{
    free(p);
}


/* the translator's own allocations (olla_jdom_set_alloc) fail the same */

static void *
fi_realloc(void *p, size_t n)
{
    if (fi_fail_at && !fi_parsing && ++fi_count == fi_fail_at) {
        return NULL;
    }

    return realloc(p, n);
}


static void
test_allocation_failures(void **state)
{
    int                  rc, ok;
    char                *body, *out, err[OLLA_ANTH_ERRLEN], *ref, *sse;
    size_t               len, outlen, k, fi_saved;
    sink_t               sink;
    olla_anth_info_t     info;
    olla_anth_stream_t  *s;
    const char          *resp;

    body = fixture("claude_code_request.json", &len);
    sse = fixture("llamacpp_tools.sse", NULL);
    resp = Q(COMPLETION("{'reasoning':'r','content':'c','tool_calls':[{"
                        "'id':'i','function':{'name':'n',"
                        "'arguments':'{`a`:[1,2,{`b`:null}]}'}}]}",
                        ",'finish_reason':'tool_calls'",
                        ",'usage':{'prompt_tokens':1}"));

    rc = olla_anth_request_to_openai(body, len, &ref, &outlen, NULL, err,
                                     sizeof(err));
    assert_int_equal(rc, 0);
    keep(ref);

    json_set_alloc_funcs(fi_malloc, fi_free);
    olla_jdom_set_alloc(fi_malloc, fi_realloc);

    for (k = 1, ok = 0; !ok && k < 200000; k++) {
        fi_count = 0;
        fi_fail_at = k;
        ok = 1;

        rc = olla_anth_request_to_openai(body, len, &out, &outlen, &info,
                                         err, sizeof(err));
        if (rc == 0) {
            assert_string_equal(out, ref);
            free(out);
            olla_anth_info_free(&info);

        } else {
            assert_null(out);
            assert_null(info.model);
            ok = 0;
        }

        rc = olla_anth_response_from_openai(resp, strlen(resp), "m", &out,
                                            &outlen, err, sizeof(err));
        if (rc == 0) {
            free(out);
        } else {
            ok = 0;
        }

        out = olla_anth_error_from_backend(404, "{\"error\":{\"message\":"
                                           "\"x\"}}", 26, "r", &outlen);
        if (out) {
            free(out);
        } else {
            ok = 0;
        }

        memset(&sink, 0, sizeof(sink_t));
        fi_saved = fi_fail_at;
        fi_fail_at = 0;     /* test_allocation_failures_stream_new() */
        s = olla_anth_stream_new(NULL, 1, 0, 0);
        fi_fail_at = fi_saved;
        assert_non_null(s);
        rc = olla_anth_stream_feed(s, sse, strlen(sse), sink_emit, &sink);
        rc = olla_anth_stream_finish(s, sink_emit, &sink);
        assert_int_equal(rc, 1);

        /* whatever failed, the output ends as a stream must end */
        assert_non_null(sink.p);
        if (strstr(sink.p, "out of memory") != NULL) {
            assert_non_null(strstr(sink.p, "event: error\n"));
            ok = 0;

        } else {
            assert_non_null(strstr(sink.p, "event: message_stop\n"));
        }

        olla_anth_stream_free(s);
        free(sink.p);
    }

    json_set_alloc_funcs(malloc, free);
    olla_jdom_set_alloc(NULL, NULL);
    fi_fail_at = 0;

    assert_true(ok);
    print_message("[   INFO   ] %zu allocation failure points survived\n",
                  k - 1);
}


/*
 * The stream's own allocations fail in turn, from olla_anth_stream_new()
 * (NULL, nothing leaked) through a stream with a client's model name.
 */

static void
test_allocation_failures_stream_new(void **state)
{
    int                  rc, ok;
    char                *sse;
    size_t               k;
    sink_t               sink;
    olla_anth_stream_t  *s;

    sse = fixture("interleaved_tools.sse", NULL);

    olla_jdom_set_alloc(fi_malloc, fi_realloc);

    for (k = 1, ok = 0; !ok && k < 100000; k++) {
        fi_count = 0;
        fi_fail_at = k;

        s = olla_anth_stream_new("claude-\xff-model", 7, 4096, 4096);
        if (s == NULL) {
            continue;
        }

        memset(&sink, 0, sizeof(sink_t));
        rc = olla_anth_stream_feed(s, sse, strlen(sse), sink_emit, &sink);
        assert_true(rc == 0 || rc == 1);
        rc = olla_anth_stream_finish(s, sink_emit, &sink);
        assert_int_equal(rc, 1);

        assert_non_null(sink.p);
        ok = (strstr(sink.p, "out of memory") == NULL);

        if (ok) {
            assert_non_null(strstr(sink.p, "event: message_stop\n"));
            assert_non_null(strstr(sink.p, "\"model\":\"claude-?-model\""));

        } else {
            assert_non_null(strstr(sink.p, "event: error\n"));
        }

        olla_anth_stream_free(s);
        free(sink.p);
    }

    olla_jdom_set_alloc(NULL, NULL);
    fi_fail_at = 0;

    assert_true(ok);
    print_message("[   INFO   ] %zu allocation failure points survived\n",
                  k - 1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_teardown(test_req_simple, teardown),
        cmocka_unit_test_teardown(test_req_system, teardown),
        cmocka_unit_test_teardown(test_req_tools, teardown),
        cmocka_unit_test_teardown(test_req_tool_choice, teardown),
        cmocka_unit_test_teardown(test_req_tool_round_trip, teardown),
        cmocka_unit_test_teardown(test_req_tools_as_written, teardown),
        cmocka_unit_test_teardown(test_req_escapes, teardown),
        cmocka_unit_test_teardown(test_req_escapes_lazy, teardown),
        cmocka_unit_test_teardown(test_req_user_blocks, teardown),
        cmocka_unit_test_teardown(test_req_images, teardown),
        cmocka_unit_test_teardown(test_req_tool_results, teardown),
        cmocka_unit_test_teardown(test_req_assistant_blocks, teardown),
        cmocka_unit_test_teardown(test_req_params, teardown),
        cmocka_unit_test_teardown(test_req_dropped_fields, teardown),
        cmocka_unit_test_teardown(test_req_validation, teardown),
        cmocka_unit_test_teardown(test_req_bad_json, teardown),
        cmocka_unit_test_teardown(test_validate_info, teardown),
        cmocka_unit_test_teardown(test_check_shape_agrees, teardown),
        cmocka_unit_test_teardown(test_check_shape_direct, teardown),
        cmocka_unit_test_teardown(test_req_claude_code, teardown),
        cmocka_unit_test_teardown(test_count_tokens, teardown),
        cmocka_unit_test_teardown(test_resp_text, teardown),
        cmocka_unit_test_teardown(test_resp_tools, teardown),
        cmocka_unit_test_teardown(test_resp_escapes, teardown),
        cmocka_unit_test_teardown(test_resp_empty_and_usage, teardown),
        cmocka_unit_test_teardown(test_resp_stop_reasons, teardown),
        cmocka_unit_test_teardown(test_resp_reasoning, teardown),
        cmocka_unit_test_teardown(test_resp_errors, teardown),
        cmocka_unit_test_teardown(test_resp_ids, teardown),
        cmocka_unit_test_teardown(test_error_type, teardown),
        cmocka_unit_test_teardown(test_error_json, teardown),
        cmocka_unit_test_teardown(test_error_from_backend, teardown),
        cmocka_unit_test_teardown(test_stream_text, teardown),
        cmocka_unit_test_teardown(test_stream_text_then_tool, teardown),
        cmocka_unit_test_teardown(test_stream_sequential_tools, teardown),
        cmocka_unit_test_teardown(test_stream_reasoning, teardown),
        cmocka_unit_test_teardown(test_stream_interleaved_tools, teardown),
        cmocka_unit_test_teardown(test_stream_tool_edge_cases, teardown),
        cmocka_unit_test_teardown(test_stream_tool_errors, teardown),
        cmocka_unit_test_teardown(test_stream_empty_and_odd_chunks,
                                  teardown),
        cmocka_unit_test_teardown(test_stream_usage, teardown),
        cmocka_unit_test_teardown(test_stream_model, teardown),
        cmocka_unit_test_teardown(test_stream_cut, teardown),
        cmocka_unit_test_teardown(test_stream_sse_syntax, teardown),
        cmocka_unit_test_teardown(test_stream_upstream_errors, teardown),
        cmocka_unit_test_teardown(test_stream_long_line, teardown),
        cmocka_unit_test_teardown(test_stream_unicode, teardown),
        cmocka_unit_test_teardown(test_stream_incremental, teardown),
        cmocka_unit_test_teardown(test_stream_emit_failure, teardown),
        cmocka_unit_test_teardown(test_stream_fixtures, teardown),
        cmocka_unit_test_teardown(test_stream_50mb, teardown),
        cmocka_unit_test_teardown(test_allocation_failures, teardown),
        cmocka_unit_test_teardown(test_allocation_failures_stream_new,
                                  teardown),
    };

    return cmocka_run_group_tests_name("olla_anthropic", tests, NULL, NULL);
}
