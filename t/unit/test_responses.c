
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the Responses API -> chat completions translator
 * (src/olla_resp_*.c): requests, responses, errors and the streaming
 * state machine, with the shapes Codex and the OpenAI SDKs send and read.
 *
 * JSON in this file is written with ' for " and ` for \" (see Q()), and
 * compared parsed (json_equal) wherever key order is free.  Every SSE
 * stream is fed whole, split in two at every byte boundary and one byte
 * at a time; the output must be the same every way, and must follow the
 * Responses event grammar (check_grammar()).  Generated ids are replaced
 * by "<resp>", "<msg>", "<rs>", "<fc>", "<call>", created_at by 0.
 *
 * OLLA_BIG_MB (default 50, 5 under valgrind) sets the size of the
 * long-stream tests.
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

#include <cmocka.h>
#include <jansson.h>

#include "olla_sse.h"
#include "olla_jdom.h"
#include "olla_resp.h"


/* ------------------------------------------------------------ helpers */


/* allocations of one test, freed by its teardown */
static void    *pool[4096];
static size_t   npool;


static void *
keep(void *p)
{
    if (p == NULL) {
        /* abort(): gcc then knows p is not NULL after the call */
        fail_msg("out of memory");
        abort();
    }

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

    olla_resp_set_id_seed(0);

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
is_hex48(const char *s)
{
    size_t  i;

    for (i = 0; i < 48; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return s[48] == '\0';
}


/*
 * Generated ids (prefix + 48 hex digits) -> "<prefix>", created_at (a
 * positive integer) -> 0.
 */

static void
normalise(json_t *v)
{
    size_t        i, k;
    json_t       *e;
    const char   *key, *s;
    static const char  *prefixes[] = { "resp_", "msg_", "rs_", "fc_",
                                       "call_" };
    char          name[16];

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            normalise(e);
        }
        return;
    }

    if (!json_is_object(v)) {
        return;
    }

    json_object_foreach(v, key, e) {
        s = json_string_value(e);

        if (strcmp(key, "created_at") == 0) {
            assert_true(json_is_integer(e) && json_integer_value(e) > 0);
            json_object_set_new(v, key, json_integer(0));
            continue;
        }

        if (s != NULL && (strcmp(key, "id") == 0 || strcmp(key, "item_id") == 0
                          || strcmp(key, "call_id") == 0))
        {
            for (k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
                if (strncmp(s, prefixes[k], strlen(prefixes[k])) == 0
                    && strlen(s) == strlen(prefixes[k]) + 48
                    && is_hex48(s + strlen(prefixes[k])))
                {
                    snprintf(name, sizeof(name), "<%.*s>",
                             (int) strlen(prefixes[k]) - 1, prefixes[k]);
                    json_object_set_new(v, key, json_string(name));
                    break;
                }
            }

            continue;
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


/* compares a JSON text with an expected one (Q notation), normalised */

static void
assert_json_text(const char *got, size_t n, const char *want)
{
    json_t  *g;

    g = jparse(got, n);
    normalise(g);
    assert_json_eq(g, Q(want));
    json_decref(g);
}


static void
assert_contains(const char *s, const char *want)
{
    if (s == NULL || strstr(s, want) == NULL) {
        print_error("\"%s\"\ndoes not contain \"%s\"\n", s ? s : "(null)",
                    want);
        fail();
    }
}


/* ------------------------------------------------------------ requests */


static char *
to_chat(const char *in, olla_resp_info_t *info)
{
    int               rc;
    char              err[OLLA_RESP_ERRLEN], *out, *chk;
    size_t            outlen, chklen;
    olla_resp_info_t  ci;

    err[0] = '\0';
    rc = olla_resp_request_to_openai(in, strlen(in), &out, &outlen, info,
                                     err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error: %s\nfor: %s\n", err, in);
        fail();
    }

    assert_non_null(out);
    assert_int_equal(strlen(out), outlen);

    /* a body the routing scan found valid: the same, its strings unchecked */

    rc = olla_resp_request_to_openai_checked(in, strlen(in), &chk, &chklen,
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
    olla_resp_info_free(&ci);

    return keep(out);
}


static void
expect_req(const char *in, const char *want)
{
    char              *out;
    olla_resp_info_t   info;

    out = to_chat(Q(in), &info);
    assert_json_text(out, strlen(out), want);
    olla_resp_info_free(&info);
}


static void
expect_req_error(const char *in, const char *want)
{
    int                rc;
    char               err[OLLA_RESP_ERRLEN], *out;
    size_t             outlen;
    olla_resp_info_t   info;

    in = Q(in);
    out = (char *) 1;
    outlen = 1;
    err[0] = '\0';

    rc = olla_resp_request_to_openai(in, strlen(in), &out, &outlen, &info,
                                     err, sizeof(err));

    assert_int_equal(rc, -1);
    assert_null(out);
    assert_int_equal(outlen, 0);
    assert_null(info.model);

    if (strstr(err, want) == NULL) {
        print_error("error \"%s\", want \"%s\"\nfor: %s\n", err, want, in);
        fail();
    }
}


#define REQ(extra, input)                                                    \
    "{'model':'ai/qwen3'" extra ",'input':" input "}"

#define HI   "[{'role':'user','content':'Hi'}]"
#define CHAT(msgs, extra)                                                    \
    "{'model':'ai/qwen3','messages':" msgs ",'stream':false" extra "}"
#define UHI  "{'role':'user','content':'Hi'}"


static void
test_req_simple(void **state)
{
    char              *out;
    olla_resp_info_t   info;

    out = to_chat(Q("{'model':'ai/qwen3','input':'Tell me a joke, please.'}"),
                  &info);

    assert_json_text(out, strlen(out),
        CHAT("[{'role':'user','content':'Tell me a joke, please.'}]", ""));

    assert_string_equal(info.model, "ai/qwen3");
    assert_int_equal(info.stream, 0);
    assert_int_equal(info.input_tokens, 5);      /* 23 bytes / 4 */
    assert_int_equal(info.previous_response_id, 0);
    assert_int_equal(info.conversation, 0);

    /* compact, and model first */
    assert_true(strncmp(out, "{\"model\":\"ai/qwen3\",\"messages\":", 31)
                == 0);
    assert_null(strstr(out, "\": "));
    assert_null(strchr(out, '\n'));

    olla_resp_info_free(&info);
    assert_null(info.model);
    olla_resp_info_free(&info);
    olla_resp_info_free(NULL);

    /* info may be NULL; the estimate is at least 1 */
    out = to_chat(Q(REQ("", "'x'")), NULL);
    assert_json_text(out, strlen(out),
                     CHAT("[{'role':'user','content':'x'}]", ""));

    out = to_chat(Q(REQ("", "'x'")), &info);
    assert_int_equal(info.input_tokens, 1);
    olla_resp_info_free(&info);

    /* stream */
    out = to_chat(Q(REQ(",'stream':true", "'x'")), &info);
    assert_json_text(out, strlen(out),
        "{'model':'ai/qwen3','messages':[{'role':'user','content':'x'}],"
        "'stream':true,'stream_options':{'include_usage':true}}");
    assert_int_equal(info.stream, 1);
    olla_resp_info_free(&info);
}


static void
test_req_instructions(void **state)
{
    /* instructions -> the first system message */
    expect_req(REQ(",'instructions':'You are terse.'", HI),
        CHAT("[{'role':'system','content':'You are terse.'}," UHI "]", ""));

    /* empty or null instructions: none */
    expect_req(REQ(",'instructions':''", HI), CHAT("[" UHI "]", ""));
    expect_req(REQ(",'instructions':null", HI), CHAT("[" UHI "]", ""));

    /* the system/developer messages that open the input join them */
    expect_req(REQ(",'instructions':'Base.'",
                   "[{'type':'message','role':'developer','content':["
                   "{'type':'input_text','text':'Sandbox: read-only.'},"
                   "{'type':'input_text','text':'Network: off.'}]},"
                   "{'type':'reasoning','summary':[]},"
                   "{'role':'system','content':'Be kind.'},"
                   "{'role':'developer','content':''},"
                   "{'role':'user','content':'Hi'}]"),
        CHAT("[{'role':'system','content':'Base.\\n\\nSandbox: read-only."
             "\\nNetwork: off.\\n\\nBe kind.'}," UHI "]", ""));

    /* ... also without instructions */
    expect_req(REQ("", "[{'role':'developer','content':'Rules.'},"
                       "{'role':'user','content':'Hi'}]"),
        CHAT("[{'role':'system','content':'Rules.'}," UHI "]", ""));

    /* later ones stay where they are, as system messages */
    expect_req(REQ(",'instructions':'Base.'",
                   "[{'role':'user','content':'Hi'},"
                   "{'role':'developer','content':[{'type':'input_text',"
                   "'text':'Mode changed.'}]},"
                   "{'role':'user','content':'Go on'}]"),
        CHAT("[{'role':'system','content':'Base.'}," UHI ","
             "{'role':'system','content':'Mode changed.'},"
             "{'role':'user','content':'Go on'}]", ""));

    /* instructions with a string input */
    expect_req(REQ(",'instructions':'Base.'", "'Hi'"),
        CHAT("[{'role':'system','content':'Base.'}," UHI "]", ""));

    /* only instructions and an empty input: the system message alone */
    expect_req(REQ(",'instructions':'Base.'", "[]"),
        CHAT("[{'role':'system','content':'Base.'}]", ""));
}


static void
test_req_user_content(void **state)
{
    /* one text part: a plain string */
    expect_req(REQ("", "[{'type':'message','role':'user','content':["
                       "{'type':'input_text','text':'Hi'}]}]"),
        CHAT("[" UHI "]", ""));

    /* several texts and images: parts; empty texts skipped */
    expect_req(REQ("", "[{'role':'user','content':["
                       "{'type':'input_text','text':'Look:'},"
                       "{'type':'input_text','text':''},"
                       "{'type':'input_image','image_url':"
                       "'data:image/png;base64,iVBORw0KGgo=','detail':'low'},"
                       "{'type':'input_image','image_url':"
                       "'https://example.com/a.png','detail':'original'},"
                       "{'type':'input_text','text':'and this.'}]}]"),
        CHAT("[{'role':'user','content':["
             "{'type':'text','text':'Look:'},"
             "{'type':'image_url','image_url':{'url':"
             "'data:image/png;base64,iVBORw0KGgo=','detail':'low'}},"
             "{'type':'image_url','image_url':{'url':"
             "'https://example.com/a.png'}},"
             "{'type':'text','text':'and this.'}]}]", ""));

    /* an image alone: parts */
    expect_req(REQ("", "[{'role':'user','content':["
                       "{'type':'input_image','image_url':'https://x/y.png',"
                       "'detail':'auto'}]}]"),
        CHAT("[{'role':'user','content':[{'type':'image_url','image_url':"
             "{'url':'https://x/y.png','detail':'auto'}}]}]", ""));

    /* empty messages are dropped */
    expect_req(REQ("", "[{'role':'user','content':''},"
                       "{'role':'user','content':[]},"
                       "{'role':'user','content':[{'type':'input_text',"
                       "'text':''}]}," UHI "]"),
        CHAT("[" UHI "]", ""));

    /* an empty string input and nothing else: nothing to send */
    expect_req_error(REQ("", "''"),
                     "input must contain at least one message");
    expect_req_error(REQ("", "[]"),
                     "input must contain at least one message");
    expect_req_error(REQ("", "[{'type':'reasoning','summary':[]}]"),
                     "input must contain at least one message");
}


static void
test_req_assistant_and_calls(void **state)
{
    /* assistant output_text parts are joined; refusal is text */
    expect_req(REQ("", "[" UHI ",{'id':'msg_1','type':'message',"
                       "'role':'assistant','status':'completed','content':["
                       "{'type':'output_text','text':'Hel','annotations':[]},"
                       "{'type':'output_text','text':'lo'},"
                       "{'type':'refusal','refusal':' (no)'}]}]"),
        CHAT("[" UHI ",{'role':'assistant','content':'Hello (no)'}]", ""));

    /* an assistant message and the calls after it make one message; so do
     * consecutive calls, across a reasoning item */
    expect_req(REQ("",
        "[" UHI ","
        "{'type':'reasoning','id':'rs_1','summary':[],"
        "'encrypted_content':'gAAAA'},"
        "{'type':'message','role':'assistant','content':'Let me look.'},"
        "{'type':'function_call','id':'fc_1','call_id':'call_a',"
        "'name':'shell','arguments':'{`command`:[`ls`]}',"
        "'status':'completed'},"
        "{'type':'reasoning','summary':[]},"
        "{'type':'function_call','call_id':'call_b','name':'read',"
        "'arguments':''},"
        "{'type':'function_call_output','call_id':'call_a',"
        "'output':'a.c b.c'},"
        "{'type':'function_call_output','call_id':'call_b','output':'x'},"
        "{'type':'function_call','call_id':'call_c','name':'n',"
        "'arguments':{'k':[1,true]}},"
        "{'type':'function_call','call_id':'call_d','name':'m'},"
        "{'type':'function_call_output','call_id':'call_c','output':''},"
        "{'type':'function_call_output','call_id':'call_d','output':'ok'},"
        "{'role':'assistant','content':'Done.'},"
        "{'role':'assistant','content':'Really.'},"
        "{'role':'assistant','content':''},"
        "{'role':'user','content':'Thanks'}]"),
        CHAT("[" UHI ","
             "{'role':'assistant','content':'Let me look.','tool_calls':["
             "{'id':'call_a','type':'function','function':{'name':'shell',"
             "'arguments':'{`command`:[`ls`]}'}},"
             "{'id':'call_b','type':'function','function':{'name':'read',"
             "'arguments':'{}'}}]},"
             "{'role':'tool','tool_call_id':'call_a','content':'a.c b.c'},"
             "{'role':'tool','tool_call_id':'call_b','content':'x'},"
             "{'role':'assistant','content':null,'tool_calls':["
             "{'id':'call_c','type':'function','function':{'name':'n',"
             "'arguments':'{`k`:[1,true]}'}},"
             "{'id':'call_d','type':'function','function':{'name':'m',"
             "'arguments':'{}'}}]},"
             "{'role':'tool','tool_call_id':'call_c','content':''},"
             "{'role':'tool','tool_call_id':'call_d','content':'ok'},"
             "{'role':'assistant','content':'Done.'},"
             "{'role':'assistant','content':'Really.'},"
             "{'role':'user','content':'Thanks'}]", ""));

    /* a call at the very end closes its message */
    expect_req(REQ("", "[" UHI ",{'type':'function_call','call_id':'c',"
                       "'name':'f','arguments':'{}'}]"),
        CHAT("[" UHI ",{'role':'assistant','content':null,'tool_calls':["
             "{'id':'c','type':'function','function':{'name':'f',"
             "'arguments':'{}'}}]}]", ""));

    /* a user message between an assistant message and a call */
    expect_req(REQ("", "[{'role':'assistant','content':'A'}," UHI ","
                       "{'type':'function_call','call_id':'c','name':'f',"
                       "'arguments':'{}'}]"),
        CHAT("[{'role':'assistant','content':'A'}," UHI ","
             "{'role':'assistant','content':null,'tool_calls':["
             "{'id':'c','type':'function','function':{'name':'f',"
             "'arguments':'{}'}}]}]", ""));
}


static void
test_req_call_outputs(void **state)
{
    /* output parts: texts joined with a newline */
    expect_req(REQ("", "[{'type':'function_call_output','call_id':'c1',"
                       "'output':[{'type':'input_text','text':'line 1'},"
                       "{'type':'input_text','text':''},"
                       "{'type':'output_text','text':'line 2'}]}]"),
        CHAT("[{'role':'tool','tool_call_id':'c1',"
             "'content':'line 1\\nline 2'}]", ""));

    /* images go in one user message after the run of tool messages */
    expect_req(REQ("",
        "[{'type':'function_call','call_id':'c1','name':'view_image',"
        "'arguments':'{`path`:`a.png`}'},"
        "{'type':'function_call','call_id':'c2','name':'shell',"
        "'arguments':'{}'},"
        "{'type':'function_call','call_id':'c3','name':'shot',"
        "'arguments':'{}'},"
        "{'type':'function_call_output','call_id':'c1','output':["
        "{'type':'input_image','image_url':'data:image/png;base64,AAA='}]},"
        "{'type':'function_call_output','call_id':'c2','output':'ok'},"
        "{'type':'reasoning','summary':[]},"
        "{'type':'function_call_output','call_id':'c3','output':["
        "{'type':'input_text','text':'two shots'},"
        "{'type':'input_image','image_url':'https://h/1.png',"
        "'detail':'high'},"
        "{'type':'input_image','image_url':'https://h/2.png'}]},"
        "{'role':'user','content':'What do you see?'}]"),
        CHAT("[{'role':'assistant','content':null,'tool_calls':["
             "{'id':'c1','type':'function','function':{'name':'view_image',"
             "'arguments':'{`path`:`a.png`}'}},"
             "{'id':'c2','type':'function','function':{'name':'shell',"
             "'arguments':'{}'}},"
             "{'id':'c3','type':'function','function':{'name':'shot',"
             "'arguments':'{}'}}]},"
             "{'role':'tool','tool_call_id':'c1','content':''},"
             "{'role':'tool','tool_call_id':'c2','content':'ok'},"
             "{'role':'tool','tool_call_id':'c3','content':'two shots'},"
             "{'role':'user','content':["
             "{'type':'text','text':'The tool call c1 returned this image:'},"
             "{'type':'image_url','image_url':{'url':"
             "'data:image/png;base64,AAA='}},"
             "{'type':'text','text':'The tool call c3 returned this image:'},"
             "{'type':'image_url','image_url':{'url':'https://h/1.png',"
             "'detail':'high'}},"
             "{'type':'image_url','image_url':{'url':'https://h/2.png'}}]},"
             "{'role':'user','content':'What do you see?'}]", ""));

    /* ... also when the run ends the input */
    expect_req(REQ("", "[{'type':'function_call_output','call_id':'c1',"
                       "'output':[{'type':'input_image',"
                       "'image_url':'https://h/1.png'}]}]"),
        CHAT("[{'role':'tool','tool_call_id':'c1','content':''},"
             "{'role':'user','content':["
             "{'type':'text','text':'The tool call c1 returned this image:'},"
             "{'type':'image_url','image_url':{'url':'https://h/1.png'}}]}]",
             ""));

    /* two runs, images in the first only */
    expect_req(REQ("", "[{'type':'function_call_output','call_id':'c1',"
                       "'output':[{'type':'input_image',"
                       "'image_url':'https://h/1.png'}]}," UHI ","
                       "{'type':'function_call_output','call_id':'c2',"
                       "'output':'x'}]"),
        CHAT("[{'role':'tool','tool_call_id':'c1','content':''},"
             "{'role':'user','content':["
             "{'type':'text','text':'The tool call c1 returned this image:'},"
             "{'type':'image_url','image_url':{'url':'https://h/1.png'}}]},"
             UHI ",{'role':'tool','tool_call_id':'c2','content':'x'}]", ""));
}


static void
test_req_tools(void **state)
{
    /* function tools; web_search dropped; tool_choice and
     * parallel_tool_calls with them */
    expect_req(REQ(",'tools':["
                   "{'type':'function','name':'shell','description':'Run.',"
                   "'strict':false,'parameters':{'type':'object',"
                   "'properties':{'command':{'type':'array','items':"
                   "{'type':'string'}}},'required':['command'],"
                   "'additionalProperties':false}},"
                   "{'type':'web_search','external_web_access':false},"
                   "{'type':'web_search_preview_2025_03_11'},"
                   "{'type':'function','name':'ping','strict':true,"
                   "'parameters':null,'description':null}],"
                   "'tool_choice':'auto','parallel_tool_calls':false", HI),
        CHAT("[" UHI "]", ",'tools':["
             "{'type':'function','function':{'name':'shell',"
             "'description':'Run.','parameters':{'type':'object',"
             "'properties':{'command':{'type':'array','items':"
             "{'type':'string'}}},'required':['command'],"
             "'additionalProperties':false},'strict':false}},"
             "{'type':'function','function':{'name':'ping',"
             "'parameters':{'type':'object','properties':{}},"
             "'strict':true}}],"
             "'tool_choice':'auto','parallel_tool_calls':false"));

    /* a schema goes on as the client wrote it, white space and escapes */
    assert_non_null(strstr(
        to_chat(Q(REQ(",'tools':[{'type':'function','name':'f',"
                      "'parameters':{ 'type' : 'object',\n 'properties':"
                      "{'p':{'description':'\\u00e9 \\/'}} }}],"
                      "'text':{'format':{'type':'json_schema','schema':"
                      "{ 'type': 'object' }}}", HI)), NULL),
        Q("'parameters':{ 'type' : 'object',\n 'properties':"
          "{'p':{'description':'\\u00e9 \\/'}} }}")));
    assert_non_null(strstr(
        to_chat(Q(REQ(",'text':{'format':{'type':'json_schema','schema':"
                      "{ 'type': 'object' }}}", HI)), NULL),
        Q("'schema':{ 'type': 'object' }")));

    /* a key given twice: as written too */
    assert_non_null(strstr(
        to_chat(Q(REQ(",'tools':[{'type':'function','name':'f',"
                      "'parameters':{'type':'string', 'type':'object'}}]",
                      HI)), NULL),
        Q("'parameters':{'type':'string', 'type':'object'}")));

    /* Codex's namespace groups are dropped too */
    expect_req(REQ(",'tools':[{'type':'namespace','name':'multi_agent_v1',"
                   "'description':'Sub-agents.','tools':[{'type':'function',"
                   "'name':'close_agent','parameters':{}}]},"
                   "{'type':'function','name':'f'}]", HI),
        CHAT("[" UHI "]", ",'tools':[{'type':'function','function':{"
             "'name':'f','parameters':{'type':'object','properties':{}}}}]"));

    /* tool_choice kinds */
    expect_req(REQ(",'tools':[{'type':'function','name':'f'}],"
                   "'tool_choice':'required'", HI),
        CHAT("[" UHI "]", ",'tools':[{'type':'function','function':{"
             "'name':'f','parameters':{'type':'object','properties':{}}}}],"
             "'tool_choice':'required'"));
    expect_req(REQ(",'tools':[{'type':'function','name':'f'}],"
                   "'tool_choice':'none'", HI),
        CHAT("[" UHI "]", ",'tools':[{'type':'function','function':{"
             "'name':'f','parameters':{'type':'object','properties':{}}}}],"
             "'tool_choice':'none'"));
    expect_req(REQ(",'tools':[{'type':'function','name':'f'}],"
                   "'tool_choice':{'type':'function','name':'f'}", HI),
        CHAT("[" UHI "]", ",'tools':[{'type':'function','function':{"
             "'name':'f','parameters':{'type':'object','properties':{}}}}],"
             "'tool_choice':{'type':'function','function':{'name':'f'}}"));

    /* without tools (none, empty, or only web_search): neither
     * tool_choice nor parallel_tool_calls */
    expect_req(REQ(",'tool_choice':'auto','parallel_tool_calls':true", HI),
               CHAT("[" UHI "]", ""));
    expect_req(REQ(",'tools':[],'tool_choice':'required'", HI),
               CHAT("[" UHI "]", ""));
    expect_req(REQ(",'tools':[{'type':'web_search'}],"
                   "'tool_choice':{'type':'function','name':'f'}", HI),
               CHAT("[" UHI "]", ""));
    expect_req(REQ(",'tools':null,'tool_choice':null", HI),
               CHAT("[" UHI "]", ""));
}


static void
test_req_tool_refusals(void **state)
{
    expect_req_error(REQ(",'tools':[{'type':'file_search',"
                         "'vector_store_ids':['vs_1']}]", HI),
                     "tools[0]: tools of type \"file_search\" are not "
                     "supported: the backend behind this gateway runs "
                     "function tools only");
    expect_req_error(REQ(",'tools':[{'type':'function','name':'f'},"
                         "{'type':'custom','name':'apply_patch',"
                         "'format':{'type':'grammar'}}]", HI),
                     "tools[1]: tools of type \"custom\" are not supported");
    expect_req_error(REQ(",'tools':[{'type':'local_shell'}]", HI),
                     "tools of type \"local_shell\"");
    expect_req_error(REQ(",'tools':[{'type':'computer_use_preview'}]", HI),
                     "tools of type \"computer_use_preview\"");
    expect_req_error(REQ(",'tools':[{'type':'mcp','server_label':'x'}]", HI),
                     "tools of type \"mcp\"");
    expect_req_error(REQ(",'tools':[{'type':'image_generation'}]", HI),
                     "tools of type \"image_generation\"");
    expect_req_error(REQ(",'tools':[{'type':'code_interpreter'}]", HI),
                     "tools of type \"code_interpreter\"");

    /* a very long type name is cut */
    expect_req_error(REQ(",'tools':[{'type':'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}]",
                         HI),
                     "tools of type \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxx\" are not");

    /* tool_choice of other kinds */
    expect_req_error(REQ(",'tools':[{'type':'function','name':'f'}],"
                         "'tool_choice':{'type':'allowed_tools',"
                         "'mode':'auto','tools':[]}", HI),
                     "tool_choice of type \"allowed_tools\" is not "
                     "supported");
    expect_req_error(REQ(",'tool_choice':{'type':'web_search_preview'}", HI),
                     "tool_choice of type \"web_search_preview\"");
    expect_req_error(REQ(",'tool_choice':{'type':'function'}", HI),
                     "tool_choice of type \"function\" requires a name");
    expect_req_error(REQ(",'tool_choice':'any'", HI),
                     "tool_choice must be \"auto\", \"none\", \"required\" "
                     "or {\"type\":\"function\",\"name\":...}");
    expect_req_error(REQ(",'tool_choice':{}", HI),
                     "tool_choice.type must be a string");

    /* malformed tools */
    expect_req_error(REQ(",'tools':{}", HI), "tools must be an array");
    expect_req_error(REQ(",'tools':[1]", HI), "tools[0] must be an object");
    expect_req_error(REQ(",'tools':[{'name':'f'}]", HI),
                     "tools[0].type must be a string");
    expect_req_error(REQ(",'tools':[{'type':'function'}]", HI),
                     "tools[0].name must be a non-empty string");
    expect_req_error(REQ(",'tools':[{'type':'function','name':''}]", HI),
                     "tools[0].name must be a non-empty string");
    expect_req_error(REQ(",'tools':[{'type':'function','name':'f',"
                         "'parameters':[]}]", HI),
                     "tools[0].parameters must be an object");
    expect_req_error(REQ(",'tools':[{'type':'function','name':'f',"
                         "'description':5}]", HI),
                     "tools[0].description must be a string");
    expect_req_error(REQ(",'tools':[{'type':'function','name':'f',"
                         "'strict':'yes'}]", HI),
                     "tools[0].strict must be a boolean");
}


static void
test_req_params(void **state)
{
    expect_req(REQ(",'max_output_tokens':512,'temperature':0.2,'top_p':1,"
                   "'user':'u-1'", HI),
        CHAT("[" UHI "]", ",'max_tokens':512,'temperature':0.2,'top_p':1,"
             "'user':'u-1'"));

    /* numbers keep their text */
    {
        char  *out;

        out = to_chat(Q(REQ(",'temperature':1.50,'top_p':0.9e0", HI)),
                      NULL);
        assert_contains(out, "\"temperature\":1.50,\"top_p\":0.9e0");
    }

    /* text.format */
    expect_req(REQ(",'text':{'format':{'type':'text'},'verbosity':'low'}",
                   HI), CHAT("[" UHI "]", ""));
    expect_req(REQ(",'text':{'format':{'type':'json_object'}}", HI),
        CHAT("[" UHI "]", ",'response_format':{'type':'json_object'}"));
    expect_req(REQ(",'text':{'format':{'type':'json_schema','name':'codex_"
                   "output_schema','strict':true,'description':'d',"
                   "'schema':{'type':'object','properties':{'a':"
                   "{'type':'string'}}}}}", HI),
        CHAT("[" UHI "]", ",'response_format':{'type':'json_schema',"
             "'json_schema':{'name':'codex_output_schema','description':'d',"
             "'schema':{'type':'object','properties':{'a':"
             "{'type':'string'}}},'strict':true}}"));
    expect_req(REQ(",'text':{'format':{'type':'json_schema',"
                   "'schema':{}}}", HI),
        CHAT("[" UHI "]", ",'response_format':{'type':'json_schema',"
             "'json_schema':{'name':'response','schema':{}}}"));
    expect_req(REQ(",'text':{'verbosity':'high'}", HI),
               CHAT("[" UHI "]", ""));

    /* reasoning.effort */
    expect_req(REQ(",'reasoning':{'effort':'high','summary':'auto'}", HI),
        CHAT("[" UHI "]", ",'reasoning_effort':'high'"));
    expect_req(REQ(",'reasoning':{'effort':'minimal'}", HI),
        CHAT("[" UHI "]", ",'reasoning_effort':'low'"));
    expect_req(REQ(",'reasoning':{'effort':'low'}", HI),
        CHAT("[" UHI "]", ",'reasoning_effort':'low'"));
    expect_req(REQ(",'reasoning':{'effort':'medium'}", HI),
        CHAT("[" UHI "]", ",'reasoning_effort':'medium'"));
    expect_req(REQ(",'reasoning':{'effort':'xhigh'}", HI),
        CHAT("[" UHI "]", ",'reasoning_effort':'high'"));
    expect_req(REQ(",'reasoning':{'effort':'none'}", HI),
               CHAT("[" UHI "]", ""));
    expect_req(REQ(",'reasoning':{'summary':'detailed'}", HI),
               CHAT("[" UHI "]", ""));
    expect_req(REQ(",'reasoning':null", HI), CHAT("[" UHI "]", ""));

    /* null optional fields count as absent */
    expect_req(REQ(",'max_output_tokens':null,'temperature':null,"
                   "'top_p':null,'stream':null,'user':null,'text':null,"
                   "'parallel_tool_calls':null,'instructions':null", HI),
               CHAT("[" UHI "]", ""));
}


static void
test_req_dropped_fields(void **state)
{
    expect_req(REQ(",'store':false,'metadata':{'k':'v'},"
                   "'include':['reasoning.encrypted_content'],"
                   "'prompt_cache_key':'019a-uuid',"
                   "'prompt_cache_retention':'24h',"
                   "'safety_identifier':'s','truncation':'auto',"
                   "'service_tier':'flex','top_logprobs':2,"
                   "'max_tool_calls':3,'background':false,"
                   "'stream_options':{'include_obfuscation':false},"
                   "'client_metadata':{'x':1},'previous_response_id':'',"
                   "'conversation':null,'prompt':null,"
                   "'something_new':{'a':[1]}", HI),
               CHAT("[" UHI "]", ""));
}


static void
test_req_stateless(void **state)
{
    int                rc;
    char               err[OLLA_RESP_ERRLEN], *out, *in;
    size_t             outlen;
    olla_resp_info_t   info;

    in = Q(REQ(",'previous_response_id':'resp_abc'", HI));
    rc = olla_resp_request_to_openai(in, strlen(in), &out, &outlen, &info,
                                     err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_null(out);
    assert_null(info.model);
    assert_int_equal(info.previous_response_id, 1);
    assert_int_equal(info.conversation, 0);
    assert_string_equal(err,
        "previous_response_id is not supported: the backend behind this "
        "gateway speaks chat completions and is stateless, so it keeps no "
        "responses; send the whole conversation in input "
        "(with \"store\": false)");

    /* checked before anything else: the input may be partial */
    in = Q("{'model':'','conversation':{'id':'conv_1'},"
           "'input':[{'type':'item_reference','id':'msg_1'}]}");
    rc = olla_resp_request_to_openai(in, strlen(in), &out, &outlen, &info,
                                     err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_int_equal(info.previous_response_id, 0);
    assert_int_equal(info.conversation, 1);
    assert_contains(err, "conversation is not supported: the backend");

    in = Q(REQ(",'conversation':'conv_1','previous_response_id':'r'", HI));
    rc = olla_resp_request_to_openai(in, strlen(in), &out, &outlen, &info,
                                     err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_int_equal(info.previous_response_id, 1);
    assert_int_equal(info.conversation, 1);

    /* info may be NULL */
    rc = olla_resp_request_to_openai(in, strlen(in), &out, &outlen, NULL,
                                     err, sizeof(err));
    assert_int_equal(rc, -1);

    expect_req_error(REQ(",'background':true", HI),
                     "background is not supported: the backend behind this "
                     "gateway is stateless");
    expect_req_error(REQ(",'background':1", HI),
                     "background must be a boolean");
    expect_req_error(REQ(",'prompt':{'id':'pmpt_1'}", HI),
                     "prompt is not supported: prompt templates are stored "
                     "by OpenAI");
    expect_req_error(REQ("", "[{'type':'item_reference','id':'msg_1'}]"),
                     "input[0]: item_reference is not supported: the "
                     "backend behind this gateway is stateless");
}


static void
test_req_validation(void **state)
{
    expect_req_error("{'input':'x'}", "model must be a non-empty string");
    expect_req_error("{'model':'','input':'x'}",
                     "model must be a non-empty string");
    expect_req_error("{'model':7,'input':'x'}",
                     "model must be a non-empty string");
    expect_req_error("{'model':'a\\nb','input':'x'}",
                     "model must not contain control characters");
    expect_req_error("{'model':'m'}",
                     "input must be a string or an array of input items");
    expect_req_error("{'model':'m','input':{'role':'user'}}",
                     "input must be a string or an array of input items");
    expect_req_error(REQ(",'instructions':['a']", "'x'"),
                     "instructions must be a string");
    expect_req_error(REQ(",'max_output_tokens':0", "'x'"),
                     "max_output_tokens must be an integer >= 1");
    expect_req_error(REQ(",'max_output_tokens':1.5", "'x'"),
                     "max_output_tokens must be an integer >= 1");
    expect_req_error(REQ(",'max_output_tokens':'9'", "'x'"),
                     "max_output_tokens must be an integer >= 1");
    expect_req_error(REQ(",'temperature':2.5", "'x'"),
                     "temperature must be a number between 0 and 2");
    expect_req_error(REQ(",'temperature':'hot'", "'x'"),
                     "temperature must be a number between 0 and 2");
    expect_req_error(REQ(",'top_p':-0.1", "'x'"),
                     "top_p must be a number between 0 and 1");
    expect_req_error(REQ(",'stream':'yes'", "'x'"),
                     "stream must be a boolean");
    expect_req_error(REQ(",'parallel_tool_calls':0", "'x'"),
                     "parallel_tool_calls must be a boolean");
    expect_req_error(REQ(",'user':5", "'x'"), "user must be a string");
    expect_req_error(REQ(",'reasoning':'high'", "'x'"),
                     "reasoning must be an object");
    expect_req_error(REQ(",'reasoning':{'effort':3}", "'x'"),
                     "reasoning.effort must be a string");
    expect_req_error(REQ(",'text':'json'", "'x'"), "text must be an object");
    expect_req_error(REQ(",'text':{'format':'json'}", "'x'"),
                     "text.format must be an object");
    expect_req_error(REQ(",'text':{'format':{'type':'grammar'}}", "'x'"),
                     "text.format.type must be \"text\", \"json_object\" or "
                     "\"json_schema\"");
    expect_req_error(REQ(",'text':{'format':{'type':'json_schema'}}", "'x'"),
                     "text.format.schema must be an object");
    expect_req_error(REQ(",'text':{'format':{'type':'json_schema',"
                         "'schema':{},'name':''}}", "'x'"),
                     "text.format.name must be a non-empty string");
    expect_req_error(REQ(",'text':{'format':{'type':'json_schema',"
                         "'schema':{},'description':1}}", "'x'"),
                     "text.format.description must be a string");
    expect_req_error(REQ(",'text':{'format':{'type':'json_schema',"
                         "'schema':{},'strict':'no'}}", "'x'"),
                     "text.format.strict must be a boolean");
}


static void
test_req_bad_items(void **state)
{
    expect_req_error(REQ("", "[5]"), "input[0] must be an object");
    expect_req_error(REQ("", "[" UHI ",{'content':'x'}]"),
                     "input[1] must have a type (or a role)");
    expect_req_error(REQ("", "[{'type':'custom_tool_call','call_id':'c',"
                             "'name':'apply_patch','input':'*** Begin'}]"),
                     "input[0]: items of type \"custom_tool_call\" are not "
                     "supported by a chat-completions backend");
    expect_req_error(REQ("", "[" UHI ",{'type':'local_shell_call',"
                             "'call_id':'c','status':'completed',"
                             "'action':{'type':'exec','command':['ls']}}]"),
                     "input[1]: items of type \"local_shell_call\"");
    expect_req_error(REQ("", "[{'type':'web_search_call','id':'ws_1'}]"),
                     "items of type \"web_search_call\"");
    expect_req_error(REQ("", "[{'role':'tool','content':'x'}]"),
                     "input[0].role must be \"user\", \"assistant\", "
                     "\"system\" or \"developer\"");
    expect_req_error(REQ("", "[{'type':'message','content':'x'}]"),
                     "input[0].role must be");
    expect_req_error(REQ("", "[{'role':'user','content':5}]"),
                     "input[0].content must be a string or an array of "
                     "content parts");
    expect_req_error(REQ("", "[{'role':'assistant'}]"),
                     "input[0].content must be a string or an array");
    expect_req_error(REQ("", "[{'role':'user','content':[5]}]"),
                     "input[0].content[0] must be an object");
    expect_req_error(REQ("", "[{'role':'user','content':[{'text':'x'}]}]"),
                     "input[0].content[0].type must be a string");
    expect_req_error(REQ("", "[{'role':'user','content':["
                             "{'type':'input_text'}]}]"),
                     "input[0].content[0].text must be a string");
    expect_req_error(REQ("", "[{'role':'assistant','content':["
                             "{'type':'refusal','text':'x'}]}]"),
                     "input[0].content[0].refusal must be a string");
    expect_req_error(REQ("", "[{'role':'user','content':["
                             "{'type':'input_text','text':'a'},"
                             "{'type':'input_file','file_id':'file-1'}]}]"),
                     "input[0].content[1]: content parts of type "
                     "\"input_file\" are not supported by a "
                     "chat-completions backend");
    expect_req_error(REQ("", "[{'role':'user','content':["
                             "{'type':'input_audio'}]}]"),
                     "content parts of type \"input_audio\"");
    expect_req_error(REQ("", "[{'role':'user','content':["
                             "{'type':'input_image','file_id':'file-1'}]}]"),
                     "input[0].content[0]: input_image needs an image_url");
    expect_req_error(REQ("", "[{'role':'user','content':["
                             "{'type':'input_image','image_url':''}]}]"),
                     "input_image needs an image_url");
    expect_req_error(REQ("", "[{'role':'developer','content':["
                             "{'type':'input_image','image_url':'u'}]}]"),
                     "input[0].content[0]: images are only supported in "
                     "user messages and function call outputs");
    expect_req_error(REQ("", "[" UHI ",{'role':'system','content':["
                             "{'type':'input_image','image_url':'u'}]}]"),
                     "input[1].content[0]: images are only supported");
    expect_req_error(REQ("", "[{'role':'assistant','content':["
                             "{'type':'input_image','image_url':'u'}]}]"),
                     "images are only supported");
    expect_req_error(REQ("", "[{'type':'function_call','name':'f'}]"),
                     "input[0].call_id must be a non-empty string");
    expect_req_error(REQ("", "[{'type':'function_call','call_id':'c'}]"),
                     "input[0].name must be a non-empty string");
    expect_req_error(REQ("", "[{'type':'function_call','call_id':'c',"
                             "'name':'f','arguments':5}]"),
                     "input[0].arguments must be a string");
    expect_req_error(REQ("", "[{'type':'function_call_output',"
                             "'output':'x'}]"),
                     "input[0].call_id must be a non-empty string");
    expect_req_error(REQ("", "[{'type':'function_call_output',"
                             "'call_id':'c'}]"),
                     "input[0].output must be a string or an array of "
                     "content parts");
    expect_req_error(REQ("", "[{'type':'function_call_output','call_id':'c',"
                             "'output':[{'type':'input_file'}]}]"),
                     "input[0].output[0]: content parts of type "
                     "\"input_file\" are not supported");
    expect_req_error(REQ("", "[{'type':'function_call_output','call_id':'c',"
                             "'output':[{'type':'input_image'}]}]"),
                     "input[0].output[0]: input_image needs an image_url");
}


static void
test_req_bad_json(void **state)
{
    expect_req_error("", "request body is empty");
    expect_req_error(" \r\n\t", "request body is empty");
    expect_req_error("{'model':", "request body is not valid JSON");
    expect_req_error("{'model':'m','input':'x'} x",
                     "request body is not valid JSON");
    expect_req_error("[1]", "request body must be a JSON object");
    expect_req_error("'text'", "request body must be a JSON object");
}


/*
 * What Codex sends (codex-rs ResponsesApiRequest): its instructions, the
 * developer message with the sandbox rules, user messages with
 * AGENTS.md and the environment context, the history with reasoning
 * items (encrypted), function calls and their outputs; function tools
 * and web_search; tool_choice auto, store false, include, reasoning,
 * prompt_cache_key and text.verbosity.
 */

#define CODEX_REQ                                                            \
    "{'model':'gpt-oss:20b','instructions':'You are Codex, a coding agent "  \
    "based on GPT-5.\\nYou and the user share the same workspace.',"         \
    "'input':["                                                              \
    "{'type':'message','role':'developer','content':[{'type':'input_text',"  \
    "'text':'<permissions instructions>\\nFilesystem sandboxing: "           \
    "workspace-write.\\n</permissions instructions>'}]},"                    \
    "{'type':'message','role':'user','content':[{'type':'input_text',"       \
    "'text':'# AGENTS.md instructions for /src\\n\\nRun make test.'}]},"     \
    "{'type':'message','role':'user','content':[{'type':'input_text',"       \
    "'text':'<environment_context>\\n  <cwd>/src</cwd>\\n  <shell>bash"      \
    "</shell>\\n</environment_context>'}]},"                                 \
    "{'type':'message','role':'user','content':[{'type':'input_text',"       \
    "'text':'List the C files.'}]},"                                         \
    "{'type':'reasoning','summary':[{'type':'summary_text',"                 \
    "'text':'**Listing**'}],'content':[{'type':'reasoning_text',"            \
    "'text':'I should run ls.'}],'encrypted_content':null},"                 \
    "{'type':'function_call','name':'shell',"                                \
    "'arguments':'{`command`:[`bash`,`-lc`,`ls *.c`],`workdir`:`/src`}',"    \
    "'call_id':'call_Xy12'},"                                                \
    "{'type':'function_call_output','call_id':'call_Xy12',"                  \
    "'output':'main.c\\nutil.c\\n'},"                                        \
    "{'type':'message','role':'assistant','content':[{'type':'output_text'," \
    "'text':'There are two: main.c and util.c.'}]},"                         \
    "{'type':'message','role':'user','content':[{'type':'input_text',"       \
    "'text':'Thanks. Now count lines.'}]}],"                                 \
    "'tools':[{'type':'function','name':'shell','description':'Runs a "      \
    "shell command and returns its output.','strict':false,'parameters':{"   \
    "'type':'object','properties':{'command':{'type':'array','items':{"      \
    "'type':'string'},'description':'The command to execute'},'workdir':{"   \
    "'type':'string'},'timeout_ms':{'type':'number'}},"                      \
    "'required':['command'],'additionalProperties':false}},"                 \
    "{'type':'function','name':'update_plan','description':'Updates the "    \
    "task plan.','strict':false,'parameters':{'type':'object',"              \
    "'properties':{'plan':{'type':'array','items':{'type':'object',"         \
    "'properties':{'step':{'type':'string'},'status':{'type':'string'}},"    \
    "'required':['step','status'],'additionalProperties':false}}},"          \
    "'required':['plan'],'additionalProperties':false}},"                    \
    "{'type':'web_search','external_web_access':false}],"                    \
    "'tool_choice':'auto','parallel_tool_calls':false,"                      \
    "'reasoning':{'effort':'medium','summary':'auto'},'store':false,"        \
    "'stream':true,'include':['reasoning.encrypted_content'],"               \
    "'prompt_cache_key':'0199f1d2-6b5a-7c3e-9d4f-2a1b3c4d5e6f',"             \
    "'text':{'verbosity':'medium'}}"


static void
test_req_codex(void **state)
{
    char              *out;
    olla_resp_info_t   info;

    out = to_chat(Q(CODEX_REQ), &info);

    assert_json_text(out, strlen(out),
        "{'model':'gpt-oss:20b','messages':["
        "{'role':'system','content':'You are Codex, a coding agent based "
        "on GPT-5.\\nYou and the user share the same workspace.\\n\\n"
        "<permissions instructions>\\nFilesystem sandboxing: "
        "workspace-write.\\n</permissions instructions>'},"
        "{'role':'user','content':'# AGENTS.md instructions for /src\\n\\n"
        "Run make test.'},"
        "{'role':'user','content':'<environment_context>\\n  <cwd>/src"
        "</cwd>\\n  <shell>bash</shell>\\n</environment_context>'},"
        "{'role':'user','content':'List the C files.'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_Xy12',"
        "'type':'function','function':{'name':'shell','arguments':"
        "'{`command`:[`bash`,`-lc`,`ls *.c`],`workdir`:`/src`}'}}]},"
        "{'role':'tool','tool_call_id':'call_Xy12','content':"
        "'main.c\\nutil.c\\n'},"
        "{'role':'assistant','content':'There are two: main.c and util.c.'},"
        "{'role':'user','content':'Thanks. Now count lines.'}],"
        "'stream':true,'stream_options':{'include_usage':true},"
        "'tools':[{'type':'function','function':{'name':'shell',"
        "'description':'Runs a shell command and returns its output.',"
        "'parameters':{'type':'object','properties':{'command':{'type':"
        "'array','items':{'type':'string'},'description':'The command to "
        "execute'},'workdir':{'type':'string'},'timeout_ms':{'type':"
        "'number'}},'required':['command'],'additionalProperties':false},"
        "'strict':false}},"
        "{'type':'function','function':{'name':'update_plan',"
        "'description':'Updates the task plan.','parameters':{'type':"
        "'object','properties':{'plan':{'type':'array','items':{'type':"
        "'object','properties':{'step':{'type':'string'},'status':{'type':"
        "'string'}},'required':['step','status'],"
        "'additionalProperties':false}}},'required':['plan'],"
        "'additionalProperties':false},'strict':false}}],"
        "'tool_choice':'auto','parallel_tool_calls':false,"
        "'reasoning_effort':'medium'}");

    assert_string_equal(info.model, "gpt-oss:20b");
    assert_int_equal(info.stream, 1);
    assert_true(info.input_tokens > 100 && info.input_tokens < 400);

    olla_resp_info_free(&info);
}


/*
 * What Codex 0.171 sent on its second turn (recorded through a stand-in,
 * texts shortened): empty instructions, its base instructions and skills
 * as developer messages, message ids, a reasoning item with its text, a
 * function call and its output with ids, the multi-agent tools in a
 * namespace, live web_search, client_metadata.
 */

#define CODEX_0171_REQ                                                       \
    "{'model':'gpt-oss:20b','instructions':'','input':["                     \
    "{'type':'message','id':'msg_9f43cf0c-9125-5075-b16e-87779bda909d',"     \
    "'role':'developer','content':[{'type':'input_text','text':'You are a "  \
    "coding agent running in the Codex CLI.'}]},"                            \
    "{'type':'message','id':'msg_01a2-1','role':'developer','content':["     \
    "{'type':'input_text','text':'<skills_instructions>none"                 \
    "</skills_instructions>'}]},"                                            \
    "{'type':'message','id':'msg_01a2-2','role':'user','content':["          \
    "{'type':'input_text','text':'<environment_context>\\n  <cwd>/w</cwd>"  \
    "\\n</environment_context>'}]},"                                         \
    "{'type':'message','id':'msg_01a2-3','role':'user','content':["          \
    "{'type':'input_text','text':'Run a shell command that says hello.'}]}," \
    "{'type':'reasoning','id':'rs_7c24','summary':[],'content':["            \
    "{'type':'reasoning_text','text':'I will use exec_command.'}],"          \
    "'encrypted_content':null},"                                             \
    "{'type':'function_call','status':'completed','id':'fc_3aca',"           \
    "'name':'exec_command','arguments':'{`cmd`:`echo hello`}',"              \
    "'call_id':'call_17'},"                                                  \
    "{'type':'function_call_output','id':'fco_01a2-4','call_id':'call_17',"  \
    "'output':'Chunk ID: d94407\\nProcess exited with code 0\\nOutput:"    \
    "\\nhello\\n'}],"                                                       \
    "'tools':[{'type':'function','name':'exec_command','description':"       \
    "'Runs a command in a PTY.','strict':false,'parameters':{'type':"        \
    "'object','properties':{'cmd':{'type':'string'}},'required':['cmd'],"    \
    "'additionalProperties':false}},"                                        \
    "{'type':'namespace','name':'multi_agent_v1','description':'Tools for "  \
    "spawning and managing sub-agents.','tools':[{'type':'function',"        \
    "'name':'close_agent','strict':false,'parameters':{'type':'object',"     \
    "'properties':{'target':{'type':'string'}}}}]},"                         \
    "{'type':'web_search','external_web_access':true}],"                     \
    "'tool_choice':'auto','parallel_tool_calls':true,"                       \
    "'reasoning':{'summary':'auto'},'store':false,'stream':true,"            \
    "'include':['reasoning.encrypted_content'],"                             \
    "'prompt_cache_key':'01a24e25-95c0-7f30-8bba-16a5a9ee537d',"             \
    "'client_metadata':{'x-codex-installation-id':'fa05',"                   \
    "'x-codex-turn-metadata':'{`model`:`gpt-oss:20b`}'}}"


static void
test_req_codex_0171(void **state)
{
    expect_req(CODEX_0171_REQ,
        "{'model':'gpt-oss:20b','messages':["
        "{'role':'system','content':'You are a coding agent running in the "
        "Codex CLI.\\n\\n<skills_instructions>none</skills_instructions>'},"
        "{'role':'user','content':'<environment_context>\\n  <cwd>/w</cwd>"
        "\\n</environment_context>'},"
        "{'role':'user','content':'Run a shell command that says hello.'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'call_17',"
        "'type':'function','function':{'name':'exec_command','arguments':"
        "'{`cmd`:`echo hello`}'}}]},"
        "{'role':'tool','tool_call_id':'call_17','content':'Chunk ID: "
        "d94407\\nProcess exited with code 0\\nOutput:\\nhello\\n'}],"
        "'stream':true,'stream_options':{'include_usage':true},"
        "'tools':[{'type':'function','function':{'name':'exec_command',"
        "'description':'Runs a command in a PTY.','parameters':{'type':"
        "'object','properties':{'cmd':{'type':'string'}},'required':['cmd'],"
        "'additionalProperties':false},'strict':false}}],"
        "'tool_choice':'auto','parallel_tool_calls':true}");
}


/*
 * What the OpenAI Agents SDK sends on its second turn: the items of the
 * first response back as input (message without "type", reasoning,
 * function_call with its id and status, the output), with metadata,
 * truncation and include.
 */

static void
test_req_agents_sdk(void **state)
{
    expect_req("{'model':'ai/qwen3','instructions':'You are a weather "
        "agent.','input':[{'content':'Weather in Oslo?','role':'user'},"
        "{'id':'rs_1','summary':[],'type':'reasoning','content':["
        "{'type':'reasoning_text','text':'Use the tool.'}]},"
        "{'arguments':'{`city`:`Oslo`}','call_id':'call_7','name':"
        "'get_weather','type':'function_call','id':'fc_1','status':"
        "'completed'},"
        "{'call_id':'call_7','output':'Cloudy, 4 C','type':"
        "'function_call_output'}],"
        "'tools':[{'name':'get_weather','parameters':{'properties':{'city':"
        "{'title':'City','type':'string'}},'required':['city'],'title':"
        "'get_weather_args','type':'object','additionalProperties':false},"
        "'strict':true,'type':'function','description':'Get the weather.'}],"
        "'include':[],'truncation':'disabled','store':true,'stream':false,"
        "'top_p':null,'temperature':null,'metadata':{},"
        "'parallel_tool_calls':null,'max_output_tokens':null,"
        "'tool_choice':'auto','text':{'format':{'type':'text'}}}",
        CHAT("[{'role':'system','content':'You are a weather agent.'},"
             "{'role':'user','content':'Weather in Oslo?'},"
             "{'role':'assistant','content':null,'tool_calls':[{'id':'call_7',"
             "'type':'function','function':{'name':'get_weather',"
             "'arguments':'{`city`:`Oslo`}'}}]},"
             "{'role':'tool','tool_call_id':'call_7','content':'Cloudy, 4 C'}"
             "]", ",'tools':[{'type':'function','function':{'name':"
             "'get_weather','description':'Get the weather.','parameters':{"
             "'properties':{'city':{'title':'City','type':'string'}},"
             "'required':['city'],'title':'get_weather_args','type':"
             "'object','additionalProperties':false},'strict':true}}],"
             "'tool_choice':'auto'"));
}


/*
 * Strings are copied as the client escaped them (every kind of escape,
 * canonical or not): the output holds the same text, and decodes to the
 * same values; JSON text made of a value (object arguments) decodes to
 * that value.
 */

#define ESC  "a\\/b \\u00e9 \\ud83d\\ude00 x\\u0000y ` \\\\ \\n \\t "       \
             "\\u001f \\u001F \\b \\r \\f \\u0041 \\u20ac end"

/* the same without U+0000, which keys cannot hold */
#define KEY  "a\\/b \\u00e9 \\ud83d\\ude00 ` \\\\ \\n \\u001f \\u001F \\u0041"

static void
test_req_escapes(void **state)
{
    char              *out;
    json_t            *g, *f, *v;
    olla_resp_info_t   info;

    out = to_chat(Q(REQ(",'instructions':'" ESC "',"
        "'tools':[{'type':'function','name':'f','description':'" ESC "',"
        "'parameters':{'type':'object','properties':{'k" KEY "':{"
        "'description':'" ESC "'}}}}]",
        "[{'role':'user','content':'" ESC "'},"
        "{'role':'user','content':[{'type':'input_text','text':'" ESC "'},"
        "{'type':'input_text','text':'" ESC "'}]},"
        "{'type':'message','role':'assistant','content':["
        "{'type':'output_text','text':'" ESC "'},"
        "{'type':'output_text','text':'" ESC "'}]},"
        "{'type':'function_call','call_id':'c\\u00e9','name':'f',"
        "'arguments':'" ESC "'},"
        "{'type':'function_call','call_id':'d\\u00e9','name':'f',"
        "'arguments':{'k" KEY "':['" ESC "',1]}},"
        "{'type':'function_call_output','call_id':'c\\u00e9',"
        "'output':'" ESC "'},"
        "{'type':'function_call_output','call_id':'d\\u00e9',"
        "'output':[{'type':'input_text','text':'" ESC "'},"
        "{'type':'input_text','text':'" ESC "'}]}]")), &info);
    olla_resp_info_free(&info);

    /* the client's escapes, copied */
    assert_contains(out, "a\\/b \\u00e9 \\ud83d\\ude00 x\\u0000y");

    /* the object arguments: JSON text of the same value */
    g = jparse(out, strlen(out));
    v = json_object_get(json_array_get(json_object_get(g, "messages"), 3),
                        "tool_calls");
    f = json_object_get(json_array_get(v, 1), "function");
    v = json_object_get(f, "arguments");
    assert_true(json_is_string(v));
    v = jparse(json_string_value(v), json_string_length(v));
    assert_json_eq(v, Q("{'k" KEY "':['" ESC "',1]}"));
    json_decref(v);
    json_object_set_new(f, "arguments", json_string("<args>"));

    normalise(g);
    assert_json_eq(g, Q(
        CHAT("[{'role':'system','content':'" ESC "'},"
             "{'role':'user','content':'" ESC "'},"
             "{'role':'user','content':[{'type':'text','text':'" ESC "'},"
             "{'type':'text','text':'" ESC "'}]},"
             "{'role':'assistant','content':'" ESC ESC "','tool_calls':["
             "{'id':'c\\u00e9','type':'function','function':{'name':'f',"
             "'arguments':'" ESC "'}},"
             "{'id':'d\\u00e9','type':'function','function':{'name':'f',"
             "'arguments':'<args>'}}]},"
             "{'role':'tool','tool_call_id':'c\\u00e9','content':'" ESC "'},"
             "{'role':'tool','tool_call_id':'d\\u00e9','content':'"
             ESC "\\n" ESC "'}]",
             ",'tools':[{'type':'function','function':{'name':'f',"
             "'description':'" ESC "','parameters':{'type':'object',"
             "'properties':{'k" KEY "':{'description':'" ESC "'}}}}}]")));
    json_decref(g);
}

/*
 * The same without U+0000, in strings long enough to be read 64 bytes a
 * step: a checked parse leaves them escaped (OLLA_JDOM_LAZY) where it
 * only writes them; the output is the same (to_chat() compares the
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

    out = to_chat(Q(REQ(",'instructions':'" LESC "',"
        "'tools':[{'type':'function','name':'f','description':'" LESC "'}]",
        "[{'role':'user','content':'" LESC "'},"
        "{'role':'user','content':[{'type':'input_text','text':'" LESC "'}]},"
        "{'type':'function_call','call_id':'c','name':'f',"
        "'arguments':'" LESC "'},"
        "{'type':'function_call_output','call_id':'c','output':'" LESC "'},"
        "{'type':'function_call_output','call_id':'c',"
        "'output':[{'type':'input_text','text':'" LESC "'}]}]")), NULL);

    assert_contains(out, "\\\\\\\\\\\" \\u001f \\u001F \\b");

    want = jparse(Q("'" LESC "'"), strlen(Q("'" LESC "'")));
    g = jparse(out, strlen(out));
    m = json_object_get(g, "messages");

    assert_true(json_equal(json_object_get(json_array_get(m, 0), "content"),
                           want));
    assert_true(json_equal(json_object_get(json_array_get(m, 1), "content"),
                           want));
    assert_true(json_equal(json_object_get(json_array_get(m, 4), "content"),
                           want));

    json_decref(g);
    json_decref(want);
}


/* strings survive: escapes, U+0000, non-ASCII */

static void
test_req_unicode(void **state)
{
    char  *out;

    out = to_chat(Q("{'model':'m','instructions':'a\\u0000b\\u0001\\t`',"
                    "'input':[{'role':'user','content':[{'type':"
                    "'input_text','text':'caf\xc3\xa9 \\ud83d\\ude00 "
                    "</script>'},{'type':'input_text','text':'2'}]}]}"),
                  NULL);

    /* as the client wrote them (the same values) */
    assert_contains(out, "\"content\":\"a\\u0000b\\u0001\\t\\\"\"");
    assert_contains(out, "\"text\":\"caf\xc3\xa9 \\ud83d\\ude00 "
                         "</script>\"");
}


/* ------------------------------------------------------------ responses */


#define COMPLETION(msg, extra, usage)                                        \
    "{'id':'chatcmpl-1','object':'chat.completion','created':1700000000,"    \
    "'model':'ai/qwen3','choices':[{'index':0,'message':" msg extra "}]"     \
    usage "}"

#define RESPONSE(status, incomplete, model, output, usage)                   \
    "{'id':'<resp>','object':'response','created_at':0,'status':'" status    \
    "','background':false,'error':null,'incomplete_details':" incomplete     \
    ",'instructions':null,'max_output_tokens':null,'model':'" model "',"     \
    "'output':[" output "],'parallel_tool_calls':true,"                     \
    "'previous_response_id':null,'reasoning':{'effort':null,"                \
    "'summary':null},'store':false,'temperature':null,'text':{'format':"     \
    "{'type':'text'}},'tool_choice':'auto','tools':[],'top_p':null,"         \
    "'truncation':'disabled','usage':" usage ",'metadata':{}}"

#define USAGE(i, c, o, r)                                                    \
    "{'input_tokens':" #i ",'input_tokens_details':{'cached_tokens':" #c     \
    "},'output_tokens':" #o ",'output_tokens_details':{'reasoning_tokens':"  \
    #r "},'total_tokens':" #i "+" #o "}"

#define MSG_ITEM(status, text)                                               \
    "{'id':'<msg>','type':'message','status':'" status "','content':["      \
    "{'type':'output_text','annotations':[],'text':'" text "'}],"            \
    "'role':'assistant'}"

#define RS_ITEM(status, text)                                                \
    "{'id':'<rs>','type':'reasoning','summary':[],'content':["              \
    "{'type':'reasoning_text','text':'" text "'}],'status':'" status "'}"

#define FC_ITEM(status, args, call, name)                                    \
    "{'id':'<fc>','type':'function_call','status':'" status "',"             \
    "'arguments':'" args "','call_id':'" call "','name':'" name "'}"


static char *
from_chat(const char *in, const char *model)
{
    int     rc;
    char    err[OLLA_RESP_ERRLEN], *out;
    size_t  outlen;

    err[0] = '\0';
    rc = olla_resp_response_from_openai(in, strlen(in), model, &out,
                                        &outlen, err, sizeof(err));
    if (rc != 0) {
        print_error("unexpected error: %s\nfor: %s\n", err, in);
        fail();
    }

    assert_non_null(out);
    assert_int_equal(strlen(out), outlen);

    return keep(out);
}


/* the total_tokens of USAGE() is an expression: computed here */

static void
expect_resp(const char *in, const char *model, const char *want)
{
    char    *out, *w, *plus, *end;
    long     a, b;
    size_t   n;

    out = from_chat(Q(in), model);

    w = keep(strdup(want));
    plus = strstr(w, "'total_tokens':");

    if (plus) {
        plus += strlen("'total_tokens':");
        a = strtol(plus, &end, 10);

        if (*end == '+') {
            b = strtol(end + 1, &end, 10);
            n = (size_t) sprintf(plus, "%ld", a + b);
            memmove(plus + n, end, strlen(end) + 1);
        }
    }

    assert_json_text(out, strlen(out), w);
}


static void
expect_resp_error(const char *in, const char *want)
{
    int     rc;
    char    err[OLLA_RESP_ERRLEN], *out;
    size_t  outlen;

    in = Q(in);
    out = (char *) 1;
    outlen = 1;
    err[0] = '\0';

    rc = olla_resp_response_from_openai(in, strlen(in), "m", &out, &outlen,
                                        err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_null(out);
    assert_int_equal(outlen, 0);

    if (strstr(err, want) == NULL) {
        print_error("error \"%s\", want \"%s\"\n", err, want);
        fail();
    }
}


static void
test_resp_text(void **state)
{
    char  *out;

    expect_resp(COMPLETION("{'role':'assistant','content':'Hello there.'}",
                           ",'finish_reason':'stop'",
                           ",'usage':{'prompt_tokens':12,"
                           "'completion_tokens':3,'total_tokens':15}"),
                "gpt-4o",
        RESPONSE("completed", "null", "gpt-4o",
                 MSG_ITEM("completed", "Hello there."), USAGE(12, 0, 3, 0)));

    /* the created time is the completion's; no output_text member */
    out = from_chat(Q(COMPLETION("{'content':'x'}", "", "")), "m");
    assert_contains(out, "\"created_at\":1700000000,");
    assert_null(strstr(out, "output_text\":"));
    assert_true(strncmp(out, "{\"id\":\"resp_", 12) == 0);

    /* content parts are joined; a refusal follows on its own line */
    expect_resp(COMPLETION("{'content':[{'type':'text','text':'A'},"
                           "{'type':'image_url'},{'text':'B'}],"
                           "'refusal':'I cannot.'}", "", ""), "m",
        RESPONSE("completed", "null", "m", MSG_ITEM("completed",
                 "AB\\nI cannot."), USAGE(0, 0, 0, 0)));
    expect_resp(COMPLETION("{'content':null,'refusal':'No.'}", "", ""), "m",
        RESPONSE("completed", "null", "m", MSG_ITEM("completed", "No."),
                 USAGE(0, 0, 0, 0)));

    /* nothing at all: an empty message */
    expect_resp(COMPLETION("{'role':'assistant','content':null}",
                           ",'finish_reason':'stop'", ""), "m",
        RESPONSE("completed", "null", "m", MSG_ITEM("completed", ""),
                 USAGE(0, 0, 0, 0)));
    expect_resp(COMPLETION("{'content':''}", "", ""), "m",
        RESPONSE("completed", "null", "m", MSG_ITEM("completed", ""),
                 USAGE(0, 0, 0, 0)));
}


/* the backend's escapes, copied: the same values (see test_req_escapes) */

static void
test_resp_escapes(void **state)
{
    char         *out;
    const char   *in;

    in = COMPLETION("{'role':'assistant','content':'" ESC "',"
        "'reasoning_content':'" ESC "',"
        "'tool_calls':[{'id':'c\\u00e9','type':'function','function':{"
        "'name':'f\\/','arguments':'" ESC "'}}]}",
        ",'finish_reason':'tool_calls'", "");

    out = from_chat(Q(in), "m");
    assert_contains(out, "a\\/b \\u00e9 \\ud83d\\ude00 x\\u0000y");

    expect_resp(in, "m",
        RESPONSE("completed", "null", "m",
                 RS_ITEM("completed", ESC) "," MSG_ITEM("completed", ESC) ","
                 FC_ITEM("completed", ESC, "c\\u00e9", "f/"),
                 USAGE(0, 0, 0, 0)));
}


static void
test_resp_tools(void **state)
{
    char    *out;
    json_t  *v, *o;

    expect_resp(COMPLETION("{'role':'assistant','content':'Let me check.',"
        "'tool_calls':[{'id':'call_1','type':'function','function':{"
        "'name':'get_weather','arguments':'{`city`:`Oslo`}'}},"
        "{'id':'call_2','type':'function','function':{'name':'now',"
        "'arguments':''}},"
        "{'type':'function','function':{'name':'obj',"
        "'arguments':{'a':[1,{'b':null}]}}},"
        "{'id':'call_9','function':{'name':'','arguments':'{}'}},"
        "{'id':'call_9','function':{'arguments':'{}'}}]}",
        ",'finish_reason':'tool_calls'",
        ",'usage':{'prompt_tokens':40,'completion_tokens':20}"), "m",
        RESPONSE("completed", "null", "m",
                 MSG_ITEM("completed", "Let me check.") ","
                 FC_ITEM("completed", "{`city`:`Oslo`}", "call_1",
                         "get_weather") ","
                 FC_ITEM("completed", "{}", "call_2", "now") ","
                 FC_ITEM("completed", "{`a`:[1,{`b`:null}]}", "<call>",
                         "obj"), USAGE(40, 0, 20, 0)));

    /* tool calls alone: no message item */
    expect_resp(COMPLETION("{'content':null,'tool_calls':[{'id':'c',"
        "'function':{'name':'f','arguments':'{}'}}]}",
        ",'finish_reason':'stop'", ""), "m",
        RESPONSE("completed", "null", "m", FC_ITEM("completed", "{}", "c",
                 "f"), USAGE(0, 0, 0, 0)));

    /* the legacy function_call */
    expect_resp(COMPLETION("{'content':null,'function_call':{'name':'f',"
        "'arguments':'{`x`:1}'}}", ",'finish_reason':'function_call'", ""),
        "m",
        RESPONSE("completed", "null", "m", FC_ITEM("completed", "{`x`:1}",
                 "<call>", "f"), USAGE(0, 0, 0, 0)));

    /* one call_id twice: the second gets its own (the SDK refuses two
     * items with one call_id); so does an empty one */
    out = from_chat(Q(COMPLETION("{'tool_calls':["
        "{'id':'dup','function':{'name':'a','arguments':'{}'}},"
        "{'id':'dup','function':{'name':'b','arguments':'{}'}},"
        "{'id':'','function':{'name':'c','arguments':'{}'}}]}", "", "")),
        "m");
    v = jparse(out, strlen(out));
    o = json_object_get(v, "output");
    assert_int_equal(json_array_size(o), 3);
    assert_string_equal(json_string_value(json_object_get(
                        json_array_get(o, 0), "call_id")), "dup");
    assert_true(strncmp(json_string_value(json_object_get(
                json_array_get(o, 1), "call_id")), "call_", 5) == 0);
    assert_true(strncmp(json_string_value(json_object_get(
                json_array_get(o, 2), "call_id")), "call_", 5) == 0);
    assert_string_not_equal(json_string_value(json_object_get(
                            json_array_get(o, 1), "call_id")),
                            json_string_value(json_object_get(
                            json_array_get(o, 2), "call_id")));
    json_decref(v);
}


static void
test_resp_reasoning(void **state)
{
    expect_resp(COMPLETION("{'content':'42','reasoning_content':"
        "'Think `hard`.'}", ",'finish_reason':'stop'",
        ",'usage':{'prompt_tokens':10,'completion_tokens':30,"
        "'completion_tokens_details':{'reasoning_tokens':25}}"), "m",
        RESPONSE("completed", "null", "m",
                 RS_ITEM("completed", "Think `hard`.") ","
                 MSG_ITEM("completed", "42"), USAGE(10, 0, 30, 25)));

    /* vLLM's newer "reasoning" */
    expect_resp(COMPLETION("{'content':null,'reasoning':'Hmm.',"
        "'tool_calls':[{'id':'c','function':{'name':'f','arguments':'{}'}}]}",
        "", ""), "m",
        RESPONSE("completed", "null", "m",
                 RS_ITEM("completed", "Hmm.") ","
                 FC_ITEM("completed", "{}", "c", "f"), USAGE(0, 0, 0, 0)));

    /* reasoning alone: no message item */
    expect_resp(COMPLETION("{'content':'','reasoning_content':'Hmm.'}",
                           ",'finish_reason':'length'", ""), "m",
        RESPONSE("incomplete", "{'reason':'max_output_tokens'}", "m",
                 RS_ITEM("incomplete", "Hmm."), USAGE(0, 0, 0, 0)));
}


static void
test_resp_status_and_usage(void **state)
{
    expect_resp(COMPLETION("{'content':'Once upon a'}",
                           ",'finish_reason':'length'",
                           ",'usage':{'prompt_tokens':5,"
                           "'completion_tokens':3,'prompt_tokens_details':"
                           "{'cached_tokens':4}}"), "m",
        RESPONSE("incomplete", "{'reason':'max_output_tokens'}", "m",
                 MSG_ITEM("incomplete", "Once upon a"), USAGE(5, 4, 3, 0)));

    expect_resp(COMPLETION("{'content':'x'}",
                           ",'finish_reason':'content_filter'", ""), "m",
        RESPONSE("incomplete", "{'reason':'content_filter'}", "m",
                 MSG_ITEM("incomplete", "x"), USAGE(0, 0, 0, 0)));

    /* unknown reasons, null, none: completed */
    expect_resp(COMPLETION("{'content':'x'}", ",'finish_reason':'eos'", ""),
                "m", RESPONSE("completed", "null", "m",
                              MSG_ITEM("completed", "x"), USAGE(0, 0, 0, 0)));
    expect_resp(COMPLETION("{'content':'x'}", ",'finish_reason':null", ""),
                "m", RESPONSE("completed", "null", "m",
                              MSG_ITEM("completed", "x"), USAGE(0, 0, 0, 0)));

    /* odd usage values are ignored; cached and reasoning never exceed
     * their totals */
    expect_resp(COMPLETION("{'content':'x'}", "",
                           ",'usage':{'prompt_tokens':-1,"
                           "'completion_tokens':2.5,'prompt_tokens_details':"
                           "{'cached_tokens':9}}"), "m",
        RESPONSE("completed", "null", "m", MSG_ITEM("completed", "x"),
                 USAGE(0, 0, 0, 0)));
    expect_resp(COMPLETION("{'content':'x'}", "",
                           ",'usage':{'prompt_tokens':3,'completion_tokens':1,"
                           "'prompt_tokens_details':{'cached_tokens':9},"
                           "'completion_tokens_details':"
                           "{'reasoning_tokens':7}}"), "m",
        RESPONSE("completed", "null", "m", MSG_ITEM("completed", "x"),
                 USAGE(3, 3, 1, 1)));
}


static void
test_resp_model(void **state)
{
    /* the backend's when the client's is not given */
    expect_resp(COMPLETION("{'content':'x'}", "", ""), NULL,
        RESPONSE("completed", "null", "ai/qwen3", MSG_ITEM("completed", "x"),
                 USAGE(0, 0, 0, 0)));
    expect_resp("{'choices':[{'message':{'content':'x'}}]}", NULL,
        RESPONSE("completed", "null", "unknown", MSG_ITEM("completed", "x"),
                 USAGE(0, 0, 0, 0)));

    /* the client's, invalid UTF-8 mended, escaped */
    expect_resp(COMPLETION("{'content':'x'}", "", ""), "a\xff\"b",
        RESPONSE("completed", "null", "a?`b", MSG_ITEM("completed", "x"),
                 USAGE(0, 0, 0, 0)));
}


static void
test_resp_errors(void **state)
{
    expect_resp_error("", "backend response is empty");
    expect_resp_error("{", "backend response is not valid JSON");
    expect_resp_error("[]", "backend response must be a JSON object");
    expect_resp_error("{'error':{'message':'model not loaded'}}",
                      "backend returned an error: model not loaded");
    expect_resp_error("{'error':{}}",
                      "backend returned an error: (no message)");
    expect_resp_error("{'choices':[]}", "backend response has no choices");
    expect_resp_error("{'choices':{}}", "backend response has no choices");
    expect_resp_error("{'choices':[{'text':'x'}]}",
                      "backend response has no message");
}


static void
test_resp_ids(void **state)
{
    char         *a, *b;
    json_t       *va, *vb;
    const char   *in;

    in = Q(COMPLETION("{'content':'x','reasoning_content':'r','tool_calls':"
                      "[{'function':{'name':'f'}}]}", "", ""));

    olla_resp_set_id_seed(42);
    a = from_chat(in, "m");
    olla_resp_set_id_seed(42);
    b = from_chat(in, "m");

    /* a fixed seed, the same ids; all of them distinct */
    assert_string_equal(a, b);

    va = jparse(a, strlen(a));
    vb = json_object_get(va, "output");
    assert_string_not_equal(json_string_value(json_object_get(va, "id")),
        json_string_value(json_object_get(json_array_get(vb, 0), "id")));
    assert_string_not_equal(
        json_string_value(json_object_get(json_array_get(vb, 1), "id")),
        json_string_value(json_object_get(json_array_get(vb, 2), "id")));
    json_decref(va);

    /* random again: different */
    olla_resp_set_id_seed(0);
    a = from_chat(in, "m");
    b = from_chat(in, "m");
    va = jparse(a, strlen(a));
    vb = jparse(b, strlen(b));
    assert_string_not_equal(json_string_value(json_object_get(va, "id")),
                            json_string_value(json_object_get(vb, "id")));
    json_decref(va);
    json_decref(vb);
}


/* ------------------------------------------------------------ errors */


static void
test_error_type(void **state)
{
    assert_string_equal(olla_resp_error_type(400), "invalid_request_error");
    assert_string_equal(olla_resp_error_type(404), "invalid_request_error");
    assert_string_equal(olla_resp_error_type(413), "invalid_request_error");
    assert_string_equal(olla_resp_error_type(401), "authentication_error");
    assert_string_equal(olla_resp_error_type(403), "permission_error");
    assert_string_equal(olla_resp_error_type(429), "rate_limit_error");
    assert_string_equal(olla_resp_error_type(500), "server_error");
    assert_string_equal(olla_resp_error_type(503), "server_error");
    assert_string_equal(olla_resp_error_type(200), "server_error");
}


static void
test_error_json(void **state)
{
    char    *out;
    size_t   n;

    out = keep(olla_resp_error_json(400, "previous_response_id is not "
                                    "supported", "req-1", &n));
    assert_int_equal(strlen(out), n);
    assert_string_equal(out, "{\"error\":{\"message\":\"previous_response_id "
                        "is not supported\",\"type\":\"invalid_request_error\","
                        "\"param\":null,\"code\":null,"
                        "\"request_id\":\"req-1\"}}");

    out = keep(olla_resp_error_json(429, NULL, NULL, &n));
    assert_json_text(out, n, "{'error':{'message':'request failed with HTTP "
                     "status 429','type':'rate_limit_error','param':null,"
                     "'code':'rate_limit_exceeded'}}");

    out = keep(olla_resp_error_json(502, "", "", NULL));
    assert_json_text(out, strlen(out), "{'error':{'message':'request failed "
                     "with HTTP status 502','type':'server_error',"
                     "'param':null,'code':'upstream_error'}}");

    /* invalid UTF-8 mended, quotes escaped, the request id cleaned */
    out = keep(olla_resp_error_json(404, "no \"model\" \xc3(", "a\nb", &n));
    assert_json_text(out, n, "{'error':{'message':'no `model` ?(','type':"
                     "'invalid_request_error','param':null,'code':"
                     "'not_found','request_id':'a b'}}");
}


static void
expect_backend(int status, const char *body, const char *want)
{
    char    *out;
    size_t   n;

    body = Q(body);
    out = keep(olla_resp_error_from_backend(status, body, strlen(body),
                                            "r1", &n));
    assert_int_equal(strlen(out), n);
    assert_json_text(out, n, want);
}


static void
test_error_from_backend(void **state)
{
    char    *out;
    size_t   n;

    /* OpenAI shape, code kept when it is an identifier */
    expect_backend(404, "{'error':{'message':'model `x` not found','type':"
                   "'invalid_request_error','code':'model_not_found'}}",
                   "{'error':{'message':'model `x` not found','type':"
                   "'invalid_request_error','param':null,'code':"
                   "'model_not_found','request_id':'r1'}}");

    /* llama.cpp: the context is full */
    expect_backend(400, "{'error':{'code':400,'message':'the request "
                   "exceeds the available context size, try increasing it',"
                   "'type':'exceed_context_size_error','n_prompt_tokens':"
                   "9000,'n_ctx':8192}}",
                   "{'error':{'message':'the request exceeds the available "
                   "context size, try increasing it','type':"
                   "'invalid_request_error','param':null,'code':"
                   "'context_length_exceeded','request_id':'r1'}}");

    /* vLLM */
    expect_backend(400, "{'object':'error','message':'This model`s maximum "
                   "context length is 4096 tokens. However, you requested "
                   "5000 tokens.','type':'BadRequestError','param':null,"
                   "'code':400}",
                   "{'error':{'message':'This model`s maximum context length "
                   "is 4096 tokens. However, you requested 5000 tokens.',"
                   "'type':'invalid_request_error','param':null,'code':"
                   "'context_length_exceeded','request_id':'r1'}}");

    /* other shapes; a code that is no identifier is not passed on */
    expect_backend(503, "{'error':'Loading model'}",
                   "{'error':{'message':'Loading model','type':"
                   "'server_error','param':null,'code':'service_unavailable',"
                   "'request_id':'r1'}}");
    expect_backend(500, "{'detail':'boom','code':'bad code!'}",
                   "{'error':{'message':'boom','type':'server_error',"
                   "'param':null,'code':'server_error','request_id':'r1'}}");
    expect_backend(401, "{'message':'  bad\\n\\tkey  '}",
                   "{'error':{'message':'bad key','type':"
                   "'authentication_error','param':null,'code':null,"
                   "'request_id':'r1'}}");

    /* text and HTML */
    expect_backend(502, "upstream connect error",
                   "{'error':{'message':'upstream connect error','type':"
                   "'server_error','param':null,'code':'upstream_error',"
                   "'request_id':'r1'}}");
    expect_backend(504, "<html><head><title>504 Gateway Time-out</title>"
                   "</head><body><h1>504</h1></body></html>",
                   "{'error':{'message':'504 Gateway Time-out 504','type':"
                   "'server_error','param':null,'code':'upstream_timeout',"
                   "'request_id':'r1'}}");
    expect_backend(400, "context size exceeded",
                   "{'error':{'message':'context size exceeded','type':"
                   "'invalid_request_error','param':null,'code':"
                   "'context_length_exceeded','request_id':'r1'}}");

    /* nothing usable */
    out = keep(olla_resp_error_from_backend(500, NULL, 0, NULL, &n));
    assert_json_text(out, n, "{'error':{'message':'backend returned HTTP "
                     "500','type':'server_error','param':null,'code':"
                     "'server_error'}}");
    out = keep(olla_resp_error_from_backend(418, "{}", 2, NULL, &n));
    assert_json_text(out, n, "{'error':{'message':'{}','type':"
                     "'invalid_request_error','param':null,'code':null}}");
    out = keep(olla_resp_error_from_backend(400, " \n", 2, NULL, &n));
    assert_json_text(out, n, "{'error':{'message':'backend returned HTTP "
                     "400','type':'invalid_request_error','param':null,"
                     "'code':null}}");
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


static const sopt_t  dflt = { "gpt-oss:20b", 17, 0, 0, 0 };


enum { MODE_WHOLE, MODE_SPLIT, MODE_BYTES };


static int
feed_piece(olla_resp_stream_t *s, const char *p, size_t n, sink_t *k,
    int *done)
{
    int     rc;
    size_t  before;

    before = k->len;
    rc = olla_resp_stream_feed(s, p, n, sink_emit, k);

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
    olla_resp_stream_t  *s;

    memset(&k, 0, sizeof(sink_t));
    k.fail_at = o->fail_at;
    k.p = malloc(1);
    assert_non_null(k.p);
    k.p[0] = '\0';

    olla_resp_set_id_seed(7);

    s = olla_resp_stream_new(o->model, o->est, o->max_line, o->max_buf);
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

    rc = olla_resp_stream_finish(s, sink_emit, &k);

    if (done) {
        assert_int_equal(rc, done);
    }

    assert_true(rc == 1 || rc == -1);

    /* a second finish changes nothing */
    i = k.len;
    assert_int_equal(olla_resp_stream_finish(s, sink_emit, &k), rc);
    assert_int_equal(k.len, i);

    olla_resp_stream_free(s);

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
    char      name[64];
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


static json_int_t
jint(json_t *v, const char *k)
{
    v = json_object_get(v, k);

    assert_true(json_is_integer(v));

    return json_integer_value(v);
}


/* the text an item shows in full: a message's, a reasoning's, a call's */

static const char *
item_text(json_t *item)
{
    const char  *t;

    t = jstr(item, "type", NULL);

    if (strcmp(t, "function_call") == 0) {
        return jstr(item, "arguments", NULL);
    }

    return jstr(json_array_get(json_object_get(item, "content"), 0), "text",
                NULL);
}


/*
 * Checks the Responses event grammar: response.created and
 * response.in_progress first, sequence numbers 0, 1, 2, ...; output
 * items one at a time with output indexes 0, 1, ...: output_item.added
 * (in progress, empty), for a text content_part.added, deltas, the text's
 * done event, content_part.done, for a call the arguments' deltas and
 * done, then output_item.done, every done event repeating the deltas;
 * then response.completed or response.incomplete with every item as it
 * was done and the usage, or response.failed, last.
 */

static void
check_grammar(evs_t *e)
{
    int          open;
    char        *acc;
    size_t       i, nacc, next;
    json_t      *d, *item, *cur, *done, *r, *u;
    const char  *name, *kind, *delta, *id;

    assert_true(e->n >= 3);

    open = -1;
    next = 0;
    acc = NULL;
    nacc = 0;
    cur = NULL;
    kind = "";
    done = json_array();

    id = jstr(e->ev[0].data, "response", "id");
    assert_string_equal(id, "<resp>");

    for (i = 0; i < e->n; i++) {
        name = e->ev[i].name;
        d = e->ev[i].data;

        assert_string_equal(jstr(d, "type", NULL), name);
        assert_int_equal(jint(d, "sequence_number"), (json_int_t) i);

        if (i == 0) {
            assert_string_equal(name, "response.created");
        }

        if (i == 1) {
            assert_string_equal(name, "response.in_progress");
        }

        if (strcmp(name, "response.created") == 0
            || strcmp(name, "response.in_progress") == 0)
        {
            assert_true(i < 2);
            r = json_object_get(d, "response");
            assert_string_equal(jstr(r, "status", NULL), "in_progress");
            assert_int_equal(json_array_size(json_object_get(r, "output")),
                             0);
            assert_true(json_is_null(json_object_get(r, "usage")));
            assert_true(json_is_null(json_object_get(r, "error")));
            continue;
        }

        if (strcmp(name, "response.output_item.added") == 0) {
            assert_int_equal(open, -1);
            assert_int_equal(jint(d, "output_index"), (json_int_t) next);

            cur = json_object_get(d, "item");
            kind = jstr(cur, "type", NULL);
            assert_true(strlen(jstr(cur, "id", NULL)) > 0);

            if (strcmp(kind, "message") == 0) {
                assert_string_equal(jstr(cur, "status", NULL), "in_progress");
                assert_string_equal(jstr(cur, "role", NULL), "assistant");
                assert_int_equal(json_array_size(json_object_get(cur,
                                 "content")), 0);

            } else if (strcmp(kind, "reasoning") == 0) {
                assert_string_equal(jstr(cur, "status", NULL), "in_progress");
                assert_int_equal(json_array_size(json_object_get(cur,
                                 "summary")), 0);
                assert_int_equal(json_array_size(json_object_get(cur,
                                 "content")), 0);

            } else {
                assert_string_equal(kind, "function_call");
                assert_string_equal(jstr(cur, "status", NULL), "in_progress");
                assert_string_equal(jstr(cur, "arguments", NULL), "");
                assert_true(strlen(jstr(cur, "call_id", NULL)) > 0);
                assert_true(strlen(jstr(cur, "name", NULL)) > 0);
            }

            open = (int) next++;
            nacc = 0;
            free(acc);
            acc = calloc(1, 1);
            assert_non_null(acc);
            continue;
        }

        if (strcmp(name, "response.completed") == 0
            || strcmp(name, "response.incomplete") == 0)
        {
            assert_int_equal(open, -1);
            assert_int_equal(i, e->n - 1);

            r = json_object_get(d, "response");
            assert_string_equal(jstr(r, "status", NULL), name + 9);
            assert_true(json_is_null(json_object_get(r, "error")));
            assert_true(json_equal(json_object_get(r, "output"), done));
            assert_string_equal(jstr(r, "id", NULL), id);

            if (strcmp(name, "response.incomplete") == 0) {
                assert_true(strlen(jstr(r, "incomplete_details", "reason"))
                            > 0);

            } else {
                assert_true(json_is_null(json_object_get(r,
                            "incomplete_details")));
            }

            u = json_object_get(r, "usage");
            assert_int_equal(json_object_size(u), 5);
            assert_int_equal(jint(u, "total_tokens"),
                             jint(u, "input_tokens")
                             + jint(u, "output_tokens"));
            assert_true(jint(json_object_get(u, "input_tokens_details"),
                             "cached_tokens") <= jint(u, "input_tokens"));
            continue;
        }

        if (strcmp(name, "response.failed") == 0) {
            assert_int_equal(i, e->n - 1);

            r = json_object_get(d, "response");
            assert_string_equal(jstr(r, "status", NULL), "failed");
            assert_true(strlen(jstr(r, "error", "code")) > 0);
            assert_true(strlen(jstr(r, "error", "message")) > 0);
            assert_string_equal(jstr(r, "id", NULL), id);
            continue;
        }

        /* item events */

        assert_true(open >= 0);

        if (strcmp(name, "response.output_item.done") != 0) {
            assert_int_equal(jint(d, "output_index"), open);
            assert_string_equal(jstr(d, "item_id", NULL),
                                jstr(cur, "id", NULL));
        }

        if (strcmp(name, "response.content_part.added") == 0) {
            assert_true(strcmp(kind, "function_call") != 0);
            assert_int_equal(jint(d, "content_index"), 0);
            assert_string_equal(jstr(d, "part", "type"),
                                strcmp(kind, "message") == 0
                                ? "output_text" : "reasoning_text");
            assert_string_equal(jstr(d, "part", "text"), "");
            continue;
        }

        if (strcmp(name, "response.output_text.delta") == 0
            || strcmp(name, "response.reasoning_text.delta") == 0
            || strcmp(name, "response.function_call_arguments.delta") == 0)
        {
            assert_string_equal(kind,
                name[9] == 'o' ? "message"
                : name[9] == 'r' ? "reasoning" : "function_call");

            if (name[9] != 'f') {
                assert_int_equal(jint(d, "content_index"), 0);
            }

            if (name[9] == 'o') {
                assert_true(json_is_array(json_object_get(d, "logprobs")));
            }

            delta = jstr(d, "delta", NULL);
            assert_true(json_string_length(json_object_get(d, "delta")) > 0);
            acc = realloc(acc, nacc + json_string_length(json_object_get(d,
                                                         "delta")) + 1);
            assert_non_null(acc);
            memcpy(acc + nacc, delta,
                   json_string_length(json_object_get(d, "delta")));
            nacc += json_string_length(json_object_get(d, "delta"));
            acc[nacc] = '\0';
            continue;
        }

        if (strcmp(name, "response.output_text.done") == 0
            || strcmp(name, "response.reasoning_text.done") == 0)
        {
            assert_string_equal(kind, name[9] == 'o' ? "message"
                                                     : "reasoning");
            assert_int_equal(jint(d, "content_index"), 0);
            assert_int_equal(json_string_length(json_object_get(d, "text")),
                             nacc);
            assert_memory_equal(jstr(d, "text", NULL), acc, nacc);
            continue;
        }

        if (strcmp(name, "response.function_call_arguments.done") == 0) {
            assert_string_equal(kind, "function_call");
            assert_string_equal(jstr(d, "name", NULL),
                                jstr(cur, "name", NULL));
            assert_string_equal(jstr(d, "arguments", NULL),
                                nacc ? acc : "{}");
            continue;
        }

        if (strcmp(name, "response.content_part.done") == 0) {
            assert_int_equal(jint(d, "content_index"), 0);
            assert_int_equal(json_string_length(json_object_get(
                             json_object_get(d, "part"), "text")), nacc);
            assert_memory_equal(jstr(d, "part", "text"), acc, nacc);
            continue;
        }

        if (strcmp(name, "response.output_item.done") == 0) {
            assert_int_equal(jint(d, "output_index"), open);

            item = json_object_get(d, "item");
            assert_string_equal(jstr(item, "id", NULL),
                                jstr(cur, "id", NULL));
            assert_string_equal(jstr(item, "type", NULL), kind);
            assert_true(strcmp(jstr(item, "status", NULL), "completed") == 0
                        || strcmp(jstr(item, "status", NULL), "incomplete")
                           == 0);

            if (strcmp(kind, "function_call") == 0) {
                assert_string_equal(item_text(item), nacc ? acc : "{}");
                assert_string_equal(jstr(item, "call_id", NULL),
                                    jstr(cur, "call_id", NULL));

            } else {
                assert_memory_equal(item_text(item), acc, nacc);
            }

            json_array_append(done, item);
            open = -1;
            continue;
        }

        print_error("unexpected event %s\n", name);
        fail();
    }

    assert_true(strcmp(e->ev[e->n - 1].name, "response.completed") == 0
                || strcmp(e->ev[e->n - 1].name, "response.incomplete") == 0
                || strcmp(e->ev[e->n - 1].name, "response.failed") == 0);

    free(acc);
    json_decref(done);
}


/*
 * "start +0:message t0 t0 =0 +1:function_call a1 =1 completed": +N an
 * item added, t/r/a a text/reasoning/arguments delta, =N the item done
 * (its part and done events are checked by check_grammar()).
 */

static char *
summary(evs_t *e)
{
    char         *s, *p;
    size_t        i;
    json_t       *d;
    const char   *name;

    s = keep(malloc(e->n * 64 + 1));
    p = s;
    *p = '\0';

    for (i = 0; i < e->n; i++) {
        name = e->ev[i].name;
        d = e->ev[i].data;

        if (strcmp(name, "response.created") == 0) {
            p += sprintf(p, "start");

        } else if (strcmp(name, "response.in_progress") == 0
                   || strcmp(name, "response.content_part.added") == 0
                   || strcmp(name, "response.content_part.done") == 0
                   || strcmp(name, "response.output_text.done") == 0
                   || strcmp(name, "response.reasoning_text.done") == 0
                   || strcmp(name, "response.function_call_arguments.done")
                      == 0)
        {
            continue;

        } else if (strcmp(name, "response.output_item.added") == 0) {
            p += sprintf(p, " +%lld:%s",
                         (long long) jint(d, "output_index"),
                         jstr(d, "item", "type"));

        } else if (strcmp(name, "response.output_text.delta") == 0) {
            p += sprintf(p, " t%lld", (long long) jint(d, "output_index"));

        } else if (strcmp(name, "response.reasoning_text.delta") == 0) {
            p += sprintf(p, " r%lld", (long long) jint(d, "output_index"));

        } else if (strcmp(name, "response.function_call_arguments.delta")
                   == 0)
        {
            p += sprintf(p, " a%lld", (long long) jint(d, "output_index"));

        } else if (strcmp(name, "response.output_item.done") == 0) {
            p += sprintf(p, " =%lld", (long long) jint(d, "output_index"));

        } else if (strcmp(name, "response.completed") == 0) {
            p += sprintf(p, " completed");

        } else if (strcmp(name, "response.incomplete") == 0) {
            p += sprintf(p, " incomplete:%s",
                         jstr(json_object_get(d, "response"),
                              "incomplete_details", "reason"));

        } else if (strcmp(name, "response.failed") == 0) {
            p += sprintf(p, " failed:%s",
                         jstr(json_object_get(d, "response"), "error",
                              "code"));

        } else {
            p += sprintf(p, " ?%s", name);
        }
    }

    return s;
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


/* the final response (of the last event) */

static json_t *
final(evs_t *e)
{
    return json_object_get(e->ev[e->n - 1].data, "response");
}


/* the item with output index i of the final response */

static json_t *
out_item(evs_t *e, size_t i)
{
    json_t  *v;

    v = json_array_get(json_object_get(final(e), "output"), i);
    assert_non_null(v);

    return v;
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
    "'model':'ai/qwen3','choices':[{'index':0,'delta':" delta "}]}\n\n"

#define CHF(delta, fin)                                                      \
    "data: {'id':'chatcmpl-1','object':'chat.completion.chunk',"             \
    "'model':'ai/qwen3','choices':[{'index':0,'delta':" delta ","            \
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


#define OBJ(status, output, usage)                                           \
    "{'id':'<resp>','object':'response','created_at':0,'status':'" status    \
    "','background':false,'error':null,'incomplete_details':null,"           \
    "'instructions':null,'max_output_tokens':null,'model':'gpt-oss:20b',"    \
    "'output':[" output "],'parallel_tool_calls':true,"                     \
    "'previous_response_id':null,'reasoning':{'effort':null,"                \
    "'summary':null},'store':false,'temperature':null,'text':{'format':"     \
    "{'type':'text'}},'tool_choice':'auto','tools':[],'top_p':null,"         \
    "'truncation':'disabled','usage':" usage ",'metadata':{}}"


static void
test_stream_text(void **state)
{
    size_t   i;
    evs_t    e;
    json_t  *all, *ev;

    e = expect_stream(
        CH("{'role':'assistant','content':null}")
        TEXT("Hello") TEXT(" world") TEXT("!")
        FINISH("stop") DONE,
        NULL, "start +0:message t0 t0 t0 =0 completed");

    /* every event in full */

    all = json_array();

    for (i = 0; i < e.n; i++) {
        ev = json_pack("[s,O]", e.ev[i].name, e.ev[i].data);
        json_array_append_new(all, ev);
    }

    assert_json_eq(all, Q("["
        "['response.created',{'type':'response.created','sequence_number':0,"
        "'response':" OBJ("in_progress", "", "null") "}],"
        "['response.in_progress',{'type':'response.in_progress',"
        "'sequence_number':1,'response':" OBJ("in_progress", "", "null")
        "}],"
        "['response.output_item.added',{'type':'response.output_item.added',"
        "'sequence_number':2,'output_index':0,'item':{'id':'<msg>',"
        "'type':'message','status':'in_progress','content':[],"
        "'role':'assistant'}}],"
        "['response.content_part.added',{'type':"
        "'response.content_part.added','sequence_number':3,'item_id':"
        "'<msg>','output_index':0,'content_index':0,'part':{'type':"
        "'output_text','annotations':[],'text':''}}],"
        "['response.output_text.delta',{'type':'response.output_text.delta',"
        "'sequence_number':4,'item_id':'<msg>','output_index':0,"
        "'content_index':0,'delta':'Hello','logprobs':[]}],"
        "['response.output_text.delta',{'type':'response.output_text.delta',"
        "'sequence_number':5,'item_id':'<msg>','output_index':0,"
        "'content_index':0,'delta':' world','logprobs':[]}],"
        "['response.output_text.delta',{'type':'response.output_text.delta',"
        "'sequence_number':6,'item_id':'<msg>','output_index':0,"
        "'content_index':0,'delta':'!','logprobs':[]}],"
        "['response.output_text.done',{'type':'response.output_text.done',"
        "'sequence_number':7,'item_id':'<msg>','output_index':0,"
        "'content_index':0,'text':'Hello world!','logprobs':[]}],"
        "['response.content_part.done',{'type':'response.content_part.done',"
        "'sequence_number':8,'item_id':'<msg>','output_index':0,"
        "'content_index':0,'part':{'type':'output_text','annotations':[],"
        "'text':'Hello world!'}}],"
        "['response.output_item.done',{'type':'response.output_item.done',"
        "'sequence_number':9,'output_index':0,'item':{'id':'<msg>',"
        "'type':'message','status':'completed','content':[{'type':"
        "'output_text','annotations':[],'text':'Hello world!'}],"
        "'role':'assistant'}}],"
        "['response.completed',{'type':'response.completed',"
        "'sequence_number':10,'response':" OBJ("completed",
        "{'id':'<msg>','type':'message','status':'completed','content':["
        "{'type':'output_text','annotations':[],'text':'Hello world!'}],"
        "'role':'assistant'}",
        "{'input_tokens':17,'input_tokens_details':{'cached_tokens':0},"
        "'output_tokens':3,'output_tokens_details':{'reasoning_tokens':0},"
        "'total_tokens':20}") "}]]"));

    json_decref(all);
    events_free(&e);
}


static void
test_stream_reasoning(void **state)
{
    evs_t  e;

    /* reasoning, then text: two items */
    e = expect_stream(
        THINK("The user") THINK(" greets.") TEXT("Hi") TEXT("!")
        FINISH("stop")
        "data: {'choices':[],'usage':{'prompt_tokens':30,"
        "'completion_tokens':12,'completion_tokens_details':"
        "{'reasoning_tokens':8},'prompt_tokens_details':"
        "{'cached_tokens':16}}}\n\n" DONE,
        NULL, "start +0:reasoning r0 r0 =0 +1:message t1 t1 =1 completed");

    assert_json_eq(out_item(&e, 0), Q("{'id':'<rs>','type':'reasoning',"
        "'summary':[],'content':[{'type':'reasoning_text',"
        "'text':'The user greets.'}],'status':'completed'}"));
    assert_string_equal(item_text(out_item(&e, 1)), "Hi!");
    assert_json_eq(json_object_get(final(&e), "usage"),
        Q("{'input_tokens':30,'input_tokens_details':{'cached_tokens':16},"
          "'output_tokens':12,'output_tokens_details':"
          "{'reasoning_tokens':8},'total_tokens':42}"));
    events_free(&e);

    /* vLLM's "reasoning"; text, reasoning, text: three items */
    e = expect_stream(
        TEXT("a") CH("{'reasoning':'b'}") TEXT("c") FINISH("stop"),
        NULL, "start +0:message t0 =0 +1:reasoning r1 =1 +2:message t2 =2 "
        "completed");
    events_free(&e);

    /* reasoning and content in one chunk: reasoning first */
    e = expect_stream(
        CH("{'reasoning_content':'think','content':'say'}") FINISH("stop"),
        NULL, "start +0:reasoning r0 =0 +1:message t1 =1 completed");
    events_free(&e);
}


static void
test_stream_text_then_tool(void **state)
{
    evs_t  e;

    e = expect_stream(
        TEXT("Let me look.")
        TOOL_START(0, "call_1", "shell")
        TOOL_ARGS(0, "{`command`:") TOOL_ARGS(0, "[`ls`]}")
        FINISH("tool_calls") USAGE_CH(50, 20) DONE,
        NULL, "start +0:message t0 =0 +1:function_call a1 a1 =1 completed");

    assert_json_eq(find_event(&e, "response.output_item.added", 1),
        Q("{'type':'response.output_item.added','sequence_number':8,"
          "'output_index':1,'item':{'id':'<fc>','type':'function_call',"
          "'status':'in_progress','arguments':'','call_id':'call_1',"
          "'name':'shell'}}"));
    assert_json_eq(find_event(&e, "response.function_call_arguments.done",
                              0),
        Q("{'type':'response.function_call_arguments.done',"
          "'sequence_number':11,'item_id':'<fc>','output_index':1,"
          "'name':'shell','arguments':'{`command`:[`ls`]}'}"));
    assert_json_eq(out_item(&e, 1),
        Q("{'id':'<fc>','type':'function_call','status':'completed',"
          "'arguments':'{`command`:[`ls`]}','call_id':'call_1',"
          "'name':'shell'}"));
    assert_int_equal(jint(json_object_get(final(&e), "usage"),
                          "input_tokens"), 50);

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
        NULL, "start +0:function_call a0 a0 =0 +1:function_call a1 a1 =1 "
        "completed");

    assert_string_equal(jstr(out_item(&e, 0), "call_id", NULL), "call_a");
    assert_string_equal(item_text(out_item(&e, 0)), "{\"x\":1}");
    assert_string_equal(jstr(out_item(&e, 1), "name", NULL), "tool_beta");
    assert_string_equal(item_text(out_item(&e, 1)), "{\"y\":2}");
    events_free(&e);

    /* the whole call in one chunk (llama.cpp does that) */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'id':'c1','type':'function',"
           "'function':{'name':'f','arguments':'{`a`:1}'}},"
           "{'index':1,'id':'c2','type':'function',"
           "'function':{'name':'g','arguments':'{}'}}]}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:function_call a1 =1 "
        "completed");
    events_free(&e);
}


static void
test_stream_interleaved_tools(void **state)
{
    evs_t  e;

    /* the second call's arguments come while the first is open: held,
     * then one delta when its turn comes, the rest live */
    e = expect_stream(
        TOOL_START(0, "c0", "read")
        TOOL_START(1, "c1", "shell")
        TOOL_ARGS(0, "{`path`:") TOOL_ARGS(1, "{`cmd`:")
        TOOL_ARGS(0, "`a.c`}") TOOL_ARGS(1, "`make`}")
        FINISH("tool_calls") DONE,
        NULL, "start +0:function_call a0 a0 =0 +1:function_call a1 a1 =1 "
        "completed");

    assert_string_equal(item_text(out_item(&e, 0)), "{\"path\":\"a.c\"}");
    assert_string_equal(item_text(out_item(&e, 1)), "{\"cmd\":\"make\"}");
    assert_string_equal(jstr(find_event(&e,
        "response.function_call_arguments.delta", 2), "delta", NULL),
        "{\"cmd\":");
    events_free(&e);

    /* the first complete and the second ready: the second opens at once */
    e = expect_stream(
        TOOL_START(0, "c0", "read") TOOL_ARGS(0, "{}")
        TOOL_START(1, "c1", "shell") TOOL_ARGS(1, "{`a`")
        TOOL_ARGS(1, ":1}") FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:function_call a1 a1 =1 "
        "completed");
    events_free(&e);

    /* three interleaved, the last named first */
    e = expect_stream(
        CH("{'tool_calls':[{'index':2,'id':'c2','function':{'name':'h',"
           "'arguments':'{`z`:'}}]}")
        TOOL_START(0, "c0", "f")
        TOOL_START(1, "c1", "g")
        TOOL_ARGS(1, "{`y`:2}") TOOL_ARGS(2, "3}") TOOL_ARGS(0, "{`x`:1}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call a0 a0 =0 +1:function_call a1 =1 "
        "+2:function_call a2 =2 completed");
    assert_string_equal(jstr(out_item(&e, 0), "name", NULL), "h");
    assert_string_equal(item_text(out_item(&e, 0)), "{\"z\":3}");
    assert_string_equal(item_text(out_item(&e, 1)), "{\"x\":1}");
    assert_string_equal(item_text(out_item(&e, 2)), "{\"y\":2}");
    events_free(&e);
}


static void
test_stream_tool_edge_cases(void **state)
{
    evs_t  e;

    /* no id: one is made; no arguments at all: "{}" */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'function':{'name':'now'}}]}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call =0 completed");
    assert_json_eq(out_item(&e, 0), Q("{'id':'<fc>','type':'function_call',"
        "'status':'completed','arguments':'{}','call_id':'<call>',"
        "'name':'now'}"));
    events_free(&e);

    /* every call numbered 0, told apart by their ids */
    e = expect_stream(
        TOOL_START(0, "a", "f") TOOL_ARGS(0, "{}")
        TOOL_START(0, "b", "g") TOOL_ARGS(0, "{}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:function_call a1 =1 "
        "completed");
    assert_string_equal(jstr(out_item(&e, 1), "call_id", NULL), "b");
    events_free(&e);

    /* ... or, without ids, by a name after complete arguments */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'function':{'name':'f',"
           "'arguments':'{}'}}]}")
        CH("{'tool_calls':[{'index':0,'function':{'name':'g',"
           "'arguments':'{`a`:1}'}}]}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:function_call a1 =1 "
        "completed");
    assert_string_equal(jstr(out_item(&e, 1), "name", NULL), "g");
    events_free(&e);

    /* one id twice: the second gets its own */
    e = expect_stream(
        TOOL_START(0, "same", "f") TOOL_ARGS(0, "{}")
        TOOL_START(1, "same", "g") TOOL_ARGS(1, "{}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:function_call a1 =1 "
        "completed");
    assert_string_equal(jstr(out_item(&e, 0), "call_id", NULL), "same");
    assert_string_equal(jstr(out_item(&e, 1), "call_id", NULL), "<call>");
    events_free(&e);

    /* the name comes after the arguments; a call never named is dropped */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'id':'c0','function':"
           "{'arguments':'{`a`'}}]}")
        CH("{'tool_calls':[{'index':1,'function':{'arguments':'{}'}}]}")
        CH("{'tool_calls':[{'index':0,'function':{'name':'late',"
           "'arguments':':1}'}}]}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 completed");
    assert_string_equal(item_text(out_item(&e, 0)), "{\"a\":1}");
    assert_string_equal(jstr(out_item(&e, 0), "name", NULL), "late");
    events_free(&e);

    /* arguments as an object (some servers) */
    e = expect_stream(
        CH("{'tool_calls':[{'index':0,'id':'c','function':{'name':'f',"
           "'arguments':{'k':[1,'v']}}}]}") FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 completed");
    assert_string_equal(item_text(out_item(&e, 0)), "{\"k\":[1,\"v\"]}");
    events_free(&e);

    /* text after a call closes it; a pending call waits for its name
     * across text */
    e = expect_stream(
        TOOL_START(0, "c0", "f") TOOL_ARGS(0, "{}")
        CH("{'tool_calls':[{'index':1,'function':{'arguments':'{'}}]}")
        TEXT("x")
        CH("{'tool_calls':[{'index':1,'id':'c1','function':{'name':'g',"
           "'arguments':'}'}}]}")
        FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:message t1 =1 "
        "+2:function_call a2 =2 completed");
    assert_string_equal(item_text(out_item(&e, 2)), "{}");
    events_free(&e);

    /* white space for a closed call is fine; anything else fails */
    e = expect_stream(
        TOOL_START(0, "c0", "f") TOOL_ARGS(0, "{}") TEXT("x")
        TOOL_ARGS(0, " \\n") FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:message t1 =1 completed");
    events_free(&e);

    e = expect_stream(
        TOOL_START(0, "c0", "f") TOOL_ARGS(0, "{}") TEXT("x")
        TOOL_ARGS(0, "{`b`:2}") FINISH("tool_calls"),
        NULL, "start +0:function_call a0 =0 +1:message t1 failed:server_error");
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "arguments for tool call 0 arrived after its item "
                        "was closed");
    /* the failed response keeps the output so far */
    assert_int_equal(json_array_size(json_object_get(final(&e), "output")),
                     2);
    assert_string_equal(jstr(out_item(&e, 1), "status", NULL), "incomplete");
    events_free(&e);
}


static void
test_stream_usage(void **state)
{
    evs_t  e;

    /* no usage from upstream: the local estimate and bytes / 4 */
    e = expect_stream(TEXT("12345678") FINISH("stop"), NULL,
                      "start +0:message t0 =0 completed");
    assert_json_eq(json_object_get(final(&e), "usage"),
        Q("{'input_tokens':17,'input_tokens_details':{'cached_tokens':0},"
          "'output_tokens':2,'output_tokens_details':{'reasoning_tokens':0},"
          "'total_tokens':19}"));
    events_free(&e);

    /* a short answer is at least one token; nothing is none */
    e = expect_stream(TEXT("a") FINISH("stop"), NULL,
                      "start +0:message t0 =0 completed");
    assert_int_equal(jint(json_object_get(final(&e), "usage"),
                          "output_tokens"), 1);
    events_free(&e);

    e = expect_stream(FINISH("stop"), NULL, "start completed");
    assert_int_equal(jint(json_object_get(final(&e), "usage"),
                          "output_tokens"), 0);
    assert_int_equal(json_array_size(json_object_get(final(&e), "output")),
                     0);
    events_free(&e);

    /* usage in the finish chunk itself; the last one counts */
    e = expect_stream(TEXT("a")
        "data: {'choices':[{'delta':{},'finish_reason':'stop'}],"
        "'usage':{'prompt_tokens':9,'completion_tokens':1}}\n\n"
        USAGE_CH(10, 2) DONE, NULL, "start +0:message t0 =0 completed");
    assert_int_equal(jint(json_object_get(final(&e), "usage"),
                          "input_tokens"), 10);
    assert_int_equal(jint(json_object_get(final(&e), "usage"),
                          "output_tokens"), 2);
    events_free(&e);
}


static void
test_stream_incomplete(void **state)
{
    evs_t  e;

    e = expect_stream(TEXT("Once upon") FINISH("length") USAGE_CH(5, 2) DONE,
                      NULL, "start +0:message t0 =0 "
                      "incomplete:max_output_tokens");
    assert_string_equal(jstr(out_item(&e, 0), "status", NULL), "incomplete");
    assert_string_equal(jstr(final(&e), "status", NULL), "incomplete");
    events_free(&e);

    e = expect_stream(TEXT("x") FINISH("content_filter"), NULL,
                      "start +0:message t0 =0 incomplete:content_filter");
    events_free(&e);

    /* calls still waiting are closed incomplete too */
    e = expect_stream(TOOL_START(0, "a", "f") TOOL_ARGS(0, "{`x`:")
                      TOOL_START(1, "b", "g") TOOL_ARGS(1, "{`y`")
                      FINISH("length"), NULL,
                      "start +0:function_call a0 =0 +1:function_call a1 =1 "
                      "incomplete:max_output_tokens");
    assert_string_equal(jstr(out_item(&e, 1), "status", NULL), "incomplete");
    assert_string_equal(item_text(out_item(&e, 1)), "{\"y\"");
    events_free(&e);
}


static void
test_stream_model(void **state)
{
    evs_t   e;
    sopt_t  o;

    /* the backend's model when the client's is not known */
    o = dflt;
    o.model = NULL;
    e = expect_stream(TEXT("x") FINISH("stop"), &o,
                      "start +0:message t0 =0 completed");
    assert_string_equal(jstr(final(&e), "model", NULL), "ai/qwen3");
    assert_string_equal(jstr(json_object_get(e.ev[0].data, "response"),
                             "model", NULL), "ai/qwen3");
    events_free(&e);

    /* ... or "unknown" */
    e = expect_stream("data: {'choices':[{'delta':{'content':'x'}}]}\n\n"
                      FINISH("stop"), &o,
                      "start +0:message t0 =0 completed");
    assert_string_equal(jstr(final(&e), "model", NULL), "unknown");
    events_free(&e);

    /* the client's, mended and escaped */
    o.model = "bad\xff\"m";
    e = expect_stream(TEXT("x") FINISH("stop"), &o,
                      "start +0:message t0 =0 completed");
    assert_string_equal(jstr(final(&e), "model", NULL), "bad?\"m");
    events_free(&e);
}


/* a stream that stops without finish_reason or [DONE] must not look done */

static void
test_stream_cut(void **state)
{
    evs_t  e;

    e = expect_stream(TEXT("Hello") TEXT(" wor"), NULL,
                      "start +0:message t0 t0 failed:server_error");
    assert_json_eq(json_object_get(final(&e), "error"),
        Q("{'code':'server_error','message':'upstream stream ended before "
          "the response was complete'}"));
    assert_json_eq(out_item(&e, 0), Q("{'id':'<msg>','type':'message',"
        "'status':'incomplete','content':[{'type':'output_text',"
        "'annotations':[],'text':'Hello wor'}],'role':'assistant'}"));
    events_free(&e);

    /* cut in the middle of a line */
    e = expect_stream(TEXT("Hello") "data: {'choices':[{'delta':{'cont",
                      NULL, "start +0:message t0 failed:server_error");
    events_free(&e);

    /* cut inside a call */
    e = expect_stream(TOOL_START(0, "c", "f") TOOL_ARGS(0, "{`a`"), NULL,
                      "start +0:function_call a0 failed:server_error");
    events_free(&e);

    /* nothing at all: created (the SDK wants it first), then failed */
    e = expect_stream("", NULL, "start failed:server_error");
    events_free(&e);

    /* a finish_reason and then the end, without [DONE]: complete */
    e = expect_stream(TEXT("Hi") FINISH("stop"), NULL,
                      "start +0:message t0 =0 completed");
    events_free(&e);

    /* ... also when the last line has no line ending */
    e = expect_stream(TEXT("Hi")
        "data: {'choices':[{'delta':{},'finish_reason':'stop'}]}", NULL,
        "start +0:message t0 =0 completed");
    events_free(&e);

    /* [DONE] without a finish_reason: complete */
    e = expect_stream(TEXT("Hi") DONE, NULL,
                      "start +0:message t0 =0 completed");
    events_free(&e);

    /* [DONE] as the very last bytes, without a line ending */
    e = expect_stream(TEXT("Hi") "data: [DONE]", NULL,
                      "start +0:message t0 =0 completed");
    events_free(&e);
}


static void
test_stream_sse_syntax(void **state)
{
    evs_t  e;

    /* "data:" without the space, CRLF and CR endings, comments, event
     * names, ids and retry fields, "[DONE]" with spaces, lines that are
     * not chunks */
    e = expect_stream(
        ": ping\r\n\r\n"
        "event: message\r\n"
        "id: 1\r\n"
        "retry: 1000\r\n"
        "data:{'choices':[{'delta':{'content':'a'}}]}\r\n\r\n"
        "data: {'choices':[{'delta':{'content':'b'}}]}\r\r"
        "data:  {'choices':[{'delta':{'content':'c'}}]}\n\n"
        "data\n\n"
        "data: not json\n\n"
        "data: [1,2]\n\n"
        "nonsense line\n"
        "data: {'choices':[{'delta':{},'finish_reason':'stop'}]}\r\n\r\n"
        "data:  [DONE]  \r\n\r\n", NULL,
        "start +0:message t0 t0 t0 =0 completed");
    assert_string_equal(item_text(out_item(&e, 0)), "abc");
    events_free(&e);

    /* after [DONE] everything is ignored, even an error */
    e = expect_stream(TEXT("a") DONE TEXT("late")
        "data: {'error':{'message':'late error'}}\n\n"
        "event: error\n\n", NULL,
        "start +0:message t0 =0 completed");
    events_free(&e);

    /* chunks without choices, empty deltas, empty strings; a call never
     * named has no item */
    e = expect_stream(
        "data: {'id':'x','choices':[]}\n\n"
        "data: {'choices':[{'delta':null}]}\n\n"
        "data: {'choices':[5]}\n\n"
        CH("{'content':'','reasoning_content':'','tool_calls':[5,{}]}")
        TEXT("z") FINISH("stop"), NULL,
        "start +0:message t0 =0 completed");
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
        "start +0:message t0 failed:server_error");
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "CUDA out of memory");
    events_free(&e);

    /* event: error, first thing */
    e = expect_stream(
        "event: error\n"
        "data: {'error':{'type':'exceed_context_size_error',"
        "'message':'the request exceeds the available context size'}}\n\n",
        NULL, "start failed:context_length_exceeded");
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "the request exceeds the available context size");
    events_free(&e);

    /* llama.cpp's "error:" line */
    e = expect_stream(TEXT("x")
        "error: {'code':500,'message':'slot unavailable'}\n\n", NULL,
        "start +0:message t0 failed:server_error");
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "slot unavailable");
    events_free(&e);

    /* text errors; an error event without data */
    e = expect_stream("event: error\ndata: maximum context length "
                      "exceeded\n\n", NULL,
                      "start failed:context_length_exceeded");
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "maximum context length exceeded");
    events_free(&e);

    e = expect_stream(TEXT("x") "event: error\n\n", NULL,
                      "start +0:message t0 failed:server_error");
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "upstream reported an error");
    events_free(&e);

    e = expect_stream("event: error\n", NULL, "start failed:server_error");
    events_free(&e);
}


static void
test_stream_long_line(void **state)
{
    char    *in, *p;
    evs_t    e;
    sopt_t   o;
    size_t   i;

    o = dflt;
    o.max_line = 256;

    /* a line within the limit, then one over it */
    in = keep(malloc(4096));
    p = in + sprintf(in, "%s", Q(TEXT("ok")));
    p += sprintf(p, "data: {\"choices\":[{\"delta\":{\"content\":\"");

    for (i = 0; i < 400; i++) {
        *p++ = 'x';
    }

    sprintf(p, "\"}}]}\n\n%s", Q(FINISH("stop")));

    e = events(stream_all(in, &o));
    check_grammar(&e);
    assert_string_equal(summary(&e),
                        "start +0:message t0 failed:server_error");
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "upstream sent an SSE line longer than 256 bytes");
    events_free(&e);
}


static void
test_stream_held_limit(void **state)
{
    char         *in, *p;
    evs_t         e;
    sopt_t        o;
    size_t        i;
    const char   *fin;

    static const char  line[] =
        "data: {\"choices\":[{\"delta\":{\"content\":"
        "\"0123456789012345678901234567890123456789\"}}]}\n\n";

    fin = Q(FINISH("stop"));

    /* the output held to repeat it is bounded: an answer longer than
     * max_buffered fails cleanly */
    o = dflt;
    o.max_buf = 2048;

    in = keep(malloc(100 * (sizeof(line) - 1) + 256));
    p = in;

    for (i = 0; i < 100; i++) {
        memcpy(p, line, sizeof(line) - 1);
        p += sizeof(line) - 1;
    }

    memcpy(p, fin, strlen(fin) + 1);

    e = events(keep(stream_once(in, strlen(in), MODE_WHOLE, 0, &o, NULL)));
    check_grammar(&e);
    assert_string_equal(jstr(final(&e), "error", "message"),
                        "the response is longer than the 2048 bytes the "
                        "gateway holds to repeat it in the final events");
    assert_string_equal(jstr(final(&e), "error", "code"), "server_error");
    assert_true(e.n < 100);
    events_free(&e);

    /* held arguments of interleaved calls count the same */
    o.max_buf = 600;
    in = Q(TOOL_START(0, "a", "f") TOOL_START(1, "b", "g")
           TOOL_ARGS(1, "{`k`:`0123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789`}")
           TOOL_ARGS(1, "0123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789")
           TOOL_ARGS(1, "0123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789"
                        "0123456789012345678901234567890123456789")
           TOOL_ARGS(0, "{}") FINISH("tool_calls"));
    e = events(stream_all(in, &o));
    check_grammar(&e);
    assert_string_equal(summary(&e),
                        "start +0:function_call failed:server_error");
    events_free(&e);
}


/* strings survive: escapes, U+0000, non-ASCII */

static void
test_stream_unicode(void **state)
{
    char        *out;
    evs_t        e;
    size_t       n;
    json_t      *t;
    const char  *in;

    in = "data: {\"choices\":[{\"delta\":{\"content\":"
         "\"caf\xc3\xa9 \\u2713 \\ud83d\\ude00 \\\"q\\\" \\\\ \\n\\t"
         "nul:\\u0000:end</script>\"}}]}\n\n"
         "data: {\"choices\":[{\"delta\":{\"content\":"
         "\" \\/\\u0041\\u001f\\u001F\\u00e9\"}}]}\n\n"
         "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}"
         "\n\n";

    out = stream_all(in, &dflt);
    e = events(out);
    check_grammar(&e);

    t = json_object_get(json_array_get(json_object_get(out_item(&e, 0),
                        "content"), 0), "text");
    n = json_string_length(t);
    assert_int_equal(n, 41 + 7);
    assert_memory_equal(json_string_value(t),
                        "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 \"q\" \\ "
                        "\n\tnul:\0:end</script> /A\x1f\x1f\xc3\xa9", n);
    events_free(&e);
}


/* events go out as soon as they are complete */

static void
test_stream_incremental(void **state)
{
    int                  rc;
    sink_t               k;
    const char          *c1, *c2;
    olla_resp_stream_t  *s;

    memset(&k, 0, sizeof(sink_t));

    s = olla_resp_stream_new("m", 3, 0, 0);
    assert_non_null(s);

    c1 = Q(CH("{'role':'assistant'}"));
    c2 = Q(TEXT("first"));

    /* a partial line: nothing yet */
    rc = olla_resp_stream_feed(s, c1, 20, sink_emit, &k);
    assert_int_equal(rc, 0);
    assert_int_equal(k.events, 0);

    /* the first data line: created and in_progress at once */
    rc = olla_resp_stream_feed(s, c1 + 20, strlen(c1) - 20, sink_emit, &k);
    assert_int_equal(rc, 0);
    assert_int_equal(k.events, 2);

    /* the text line: item, part and delta, before anything else comes */
    rc = olla_resp_stream_feed(s, c2, strlen(c2) - 1, sink_emit, &k);
    assert_int_equal(rc, 0);
    assert_int_equal(k.events, 5);
    assert_contains(k.p, "\"delta\":\"first\"");

    rc = olla_resp_stream_feed(s, "data: [DONE]\n", 13, sink_emit, &k);
    assert_int_equal(rc, 1);
    assert_int_equal(k.events, 9);

    rc = olla_resp_stream_feed(s, "data: x\n", 8, sink_emit, &k);
    assert_int_equal(rc, 1);
    assert_int_equal(olla_resp_stream_finish(s, sink_emit, &k), 1);
    assert_int_equal(k.events, 9);

    olla_resp_stream_free(s);
    free(k.p);

    olla_resp_stream_free(NULL);
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

    /* 13 events: created in_progress, +0 part delta text-done part-done
     * =0, +1 delta args-done =1, completed */
    for (mode = MODE_WHOLE; mode <= MODE_BYTES; mode += 2) {
        for (at = 1; at <= 13; at++) {
            o = dflt;
            o.fail_at = at;

            out = stream_once(in, strlen(in), mode, 0, &o, &rc);
            assert_int_equal(rc, -1);

            e = events(out);
            assert_int_equal(e.n, (size_t) at - 1);
            events_free(&e);
            free(out);
        }

        o = dflt;
        o.fail_at = 14;
        out = stream_once(in, strlen(in), mode, 0, &o, &rc);
        assert_int_equal(rc, 1);
        free(out);
    }
}


/* streams of the kind real servers send */

#define LLAMACPP_TOOLS                                                       \
    "data: {'choices':[{'finish_reason':null,'index':0,'delta':{'role':"     \
    "'assistant','content':null}}],'created':1754000000,'id':'chatcmpl-"     \
    "Ab1','model':'gpt-oss-20b','system_fingerprint':'b6100','object':"      \
    "'chat.completion.chunk'}\n\n"                                           \
    "data: {'choices':[{'finish_reason':null,'index':0,'delta':"             \
    "{'reasoning_content':'Need to list'}}],'object':"                       \
    "'chat.completion.chunk'}\n\n"                                           \
    "data: {'choices':[{'finish_reason':null,'index':0,'delta':"             \
    "{'reasoning_content':' files.'}}],'object':'chat.completion.chunk'}"    \
    "\n\n"                                                                   \
    "data: {'choices':[{'finish_reason':null,'index':0,'delta':"             \
    "{'tool_calls':[{'index':0,'id':'XqZ7kP2mN9rT4vW1yB6cD8fG3hJ5lQ0s',"     \
    "'type':'function','function':{'name':'shell','arguments':'{`'}}]}}],"   \
    "'object':'chat.completion.chunk'}\n\n"                                  \
    "data: {'choices':[{'finish_reason':null,'index':0,'delta':"             \
    "{'tool_calls':[{'index':0,'function':{'arguments':'command`:[`bash`,"   \
    "`-lc`,`ls`]'}}]}}],'object':'chat.completion.chunk'}\n\n"               \
    "data: {'choices':[{'finish_reason':null,'index':0,'delta':"             \
    "{'tool_calls':[{'index':0,'function':{'arguments':',`workdir`:`/src`}'" \
    "}}]}}],'object':'chat.completion.chunk'}\n\n"                           \
    "data: {'choices':[{'finish_reason':'tool_calls','index':0,'delta':{}}]" \
    ",'created':1754000001,'id':'chatcmpl-Ab1','model':'gpt-oss-20b',"       \
    "'object':'chat.completion.chunk','usage':{'completion_tokens':31,"      \
    "'prompt_tokens':412,'total_tokens':443},'timings':{'prompt_n':412}}"    \
    "\n\n"                                                                   \
    "data: [DONE]\n\n"


static void
test_stream_llamacpp(void **state)
{
    evs_t  e;

    e = expect_stream(LLAMACPP_TOOLS, NULL,
                      "start +0:reasoning r0 r0 =0 +1:function_call a1 a1 "
                      "a1 =1 completed");
    assert_json_eq(out_item(&e, 1), Q("{'id':'<fc>','type':'function_call',"
        "'status':'completed','arguments':'{`command`:[`bash`,`-lc`,`ls`],"
        "`workdir`:`/src`}','call_id':'XqZ7kP2mN9rT4vW1yB6cD8fG3hJ5lQ0s',"
        "'name':'shell'}"));
    assert_string_equal(item_text(out_item(&e, 0)), "Need to list files.");
    assert_json_eq(json_object_get(final(&e), "usage"),
        Q("{'input_tokens':412,'input_tokens_details':{'cached_tokens':0},"
          "'output_tokens':31,'output_tokens_details':"
          "{'reasoning_tokens':0},'total_tokens':443}"));
    events_free(&e);
}


/* --------------------------------------------- long streams: bounded memory */


typedef struct {
    size_t     events;
    size_t     bytes;
    size_t     longest;
    char       last[64];      /* the name of the last event */
    char       tail[256];     /* the end of the last event */
} count_t;


static int
count_emit(void *data, const char *p, size_t len)
{
    size_t    n;
    count_t  *c;

    c = data;
    c->events++;
    c->bytes += len;

    if (len > c->longest) {
        c->longest = len;
    }

    n = strcspn(p + 7, "\n");
    n = n < sizeof(c->last) - 1 ? n : sizeof(c->last) - 1;
    memcpy(c->last, p + 7, n);
    c->last[n] = '\0';

    n = len < sizeof(c->tail) - 1 ? len : sizeof(c->tail) - 1;
    memcpy(c->tail, p + len - n, n);
    c->tail[n] = '\0';

    return 0;
}


static size_t
heap_used(void)
{
    struct mallinfo2  mi;

    mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}


static size_t
big_mb(void)
{
    const char  *env;

    env = getenv("OLLA_BIG_MB");

    if (env == NULL) {
        /* valgrind runs the program with its preload libraries */
        env = getenv("LD_PRELOAD");
        env = (env && strstr(env, "vgpreload")) ? "5" : "50";
    }

    return (size_t) atol(env);
}


/*
 * Feeds text chunks of 100 bytes, in pieces of odd sizes, until target
 * bytes of text went in or the stream ended; returns the feed's last
 * result and the most memory the stream and the heap held.
 */

static int
feed_long(olla_resp_stream_t *s, size_t target, count_t *c, size_t *text,
    size_t *maxmem, size_t *peak, size_t *fed)
{
    int      rc;
    char     buf[65536], t[101], line[256];
    size_t   i, n, len, base, used, mem;

    for (i = 0; i < 100; i++) {
        t[i] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ"
               "0123456789 .,;:!?"[i % 70];
    }

    t[100] = '\0';

    len = (size_t) snprintf(line, sizeof(line), "data: {\"id\":\"c\","
                            "\"choices\":[{\"index\":0,\"delta\":"
                            "{\"content\":\"%s\"}}]}\n\n", t);

    base = heap_used();
    rc = 0;
    *text = 0;
    *maxmem = 0;
    *peak = 0;
    *fed = 0;

    while (*text < target && rc == 0) {
        n = 0;

        while (n + len < sizeof(buf) - 7919) {
            memcpy(buf + n, line, len);
            n += len;
            *text += 100;
        }

        for (i = 0; i < n && rc == 0; i += 7919) {
            rc = olla_resp_stream_feed(s, buf + i,
                                       n - i < 7919 ? n - i : 7919,
                                       count_emit, c);
        }

        *fed += n;

        mem = olla_resp_stream_memory(s);
        if (mem > *maxmem) {
            *maxmem = mem;
        }

        used = heap_used();
        if (used > base && used - base > *peak) {
            *peak = used - base;
        }
    }

    return rc;
}


static void
test_stream_long(void **state)
{
    int                  rc;
    size_t               target, text, fed, maxmem, peak, limit;
    double               secs;
    count_t              c;
    struct timespec      t0, t1;
    olla_resp_stream_t  *s;

    target = big_mb() * 1024 * 1024;

    /*
     * An answer far longer than max_buffered: the stream fails cleanly
     * once it holds max_buffered bytes, and ignores the rest; memory
     * stays within one line and twice the output held.
     */

    memset(&c, 0, sizeof(count_t));
    limit = 1024 * 1024;

    s = olla_resp_stream_new("gpt-oss:20b", 10, 64 * 1024, limit);
    assert_non_null(s);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = feed_long(s, target, &c, &text, &maxmem, &peak, &fed);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    assert_int_equal(rc, 1);
    assert_string_equal(c.last, "response.failed");
    assert_non_null(strstr(c.tail, "\"usage\":null,\"metadata\":{}}}\n\n"));
    assert_true(text > limit && text < limit + 2 * 65536);
    assert_true(maxmem < 64 * 1024 + 2 * limit + 64 * 1024);
    assert_true(peak < 64 * 1024 + 3 * limit + 64 * 1024);

    /* and it stays ended */
    assert_int_equal(olla_resp_stream_feed(s, "data: x\n\n", 9, count_emit,
                                           &c), 1);
    assert_int_equal(olla_resp_stream_finish(s, count_emit, &c), 1);

    olla_resp_stream_free(s);

    secs = (double) (t1.tv_sec - t0.tv_sec)
           + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("[   INFO   ] over the limit: failed after %zu KB of text "
                  "in %.3f s; stream memory at most %zu bytes, heap growth "
                  "at most %zu bytes\n", text >> 10, secs, maxmem, peak);

    /*
     * A long answer within max_buffered: completed, each text delta
     * costs no more than its own bytes held, and the final events (the
     * largest) repeat it once.
     */

    memset(&c, 0, sizeof(count_t));
    target /= 5;
    limit = 2 * target + 1024 * 1024;

    s = olla_resp_stream_new("gpt-oss:20b", 10, 64 * 1024, limit);
    assert_non_null(s);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = feed_long(s, target, &c, &text, &maxmem, &peak, &fed);
    assert_int_equal(rc, 0);

    rc = olla_resp_stream_feed(s, "data: {\"choices\":[{\"delta\":{},"
                               "\"finish_reason\":\"stop\"}]}\n\n"
                               "data: [DONE]\n\n", 74, count_emit, &c);
    assert_int_equal(rc, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    assert_string_equal(c.last, "response.completed");

    /* start, item added, part added, one delta a chunk, three done
     * events, item done, completed */
    assert_int_equal(c.events, text / 100 + 8);
    assert_true(c.longest > text && c.longest < text + 4096);

    /* while streaming: the text held (its bytes, escaped: the same here,
     * in a buffer that grows by doubling), one line, one event */
    assert_true(maxmem < 2 * text + 64 * 1024 + 2 * 65536 + 64 * 1024);
    assert_true(peak < 2 * text + 1024 * 1024);

    secs = (double) (t1.tv_sec - t0.tv_sec)
           + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("[   INFO   ] within the limit: %zu MB of text (%zu MB of "
                  "SSE) in %.2f s, %.1f MB/s; stream memory at most %zu "
                  "bytes while streaming, heap growth at most %zu bytes\n",
                  text >> 20, fed >> 20, secs,
                  (double) fed / 1048576 / secs, maxmem, peak);

    olla_resp_stream_free(s);
}


/* --------------------- allocation failures: every one, no crash and no leak */


static size_t  fi_count, fi_fail_at;


static void *
fi_malloc(size_t n)
{
    if (fi_fail_at && ++fi_count == fi_fail_at) {
        return NULL;
    }

    return malloc(n);
}


static void *
fi_realloc(void *p, size_t n)
{
    if (fi_fail_at && ++fi_count == fi_fail_at) {
        return NULL;
    }

    return realloc(p, n);
}


/* a stream's output ends as a stream must end, whatever failed */

static int
check_stream_end(const char *out)
{
    evs_t  e;
    int    oom;

    assert_non_null(out);

    e = events(out);
    check_grammar(&e);

    oom = strstr(out, "out of memory") != NULL;

    if (oom) {
        assert_string_equal(e.ev[e.n - 1].name, "response.failed");
        assert_string_equal(jstr(final(&e), "error", "message"),
                            "out of memory");

    } else {
        assert_string_equal(e.ev[e.n - 1].name, "response.completed");
    }

    events_free(&e);

    return oom;
}


static void
test_allocation_failures(void **state)
{
    int                  rc, ok;
    char                *out, err[OLLA_RESP_ERRLEN], *ref, *sse;
    size_t               outlen, k, saved;
    sink_t               sink;
    olla_resp_info_t     info;
    olla_resp_stream_t  *s;
    const char          *body, *resp;

    body = Q(CODEX_REQ);
    sse = Q(LLAMACPP_TOOLS TEXT("and `then` some") THINK("more")
            TOOL_START(1, "c1", "f") TOOL_START(2, "c2", "g")
            TOOL_ARGS(2, "{`b`:2}") TOOL_ARGS(1, "{`a`:1}")
            FINISH("tool_calls") DONE);
    resp = Q(COMPLETION("{'reasoning':'r','content':'c','tool_calls':[{"
                        "'id':'i','function':{'name':'n',"
                        "'arguments':{'a':[1,2,{'b':null}]}}},{"
                        "'id':'i','function':{'name':'m'}}]}",
                        ",'finish_reason':'tool_calls'",
                        ",'usage':{'prompt_tokens':1}"));

    rc = olla_resp_request_to_openai(body, strlen(body), &ref, &outlen, NULL,
                                     err, sizeof(err));
    assert_int_equal(rc, 0);
    keep(ref);

    olla_jdom_set_alloc(fi_malloc, fi_realloc);

    for (k = 1, ok = 0; !ok && k < 200000; k++) {
        fi_count = 0;
        fi_fail_at = k;
        ok = 1;

        rc = olla_resp_request_to_openai(body, strlen(body), &out, &outlen,
                                         &info, err, sizeof(err));
        if (rc == 0) {
            assert_string_equal(out, ref);
            free(out);
            olla_resp_info_free(&info);

        } else {
            assert_null(out);
            assert_null(info.model);
            assert_string_equal(err, "out of memory");
            ok = 0;
        }

        rc = olla_resp_response_from_openai(resp, strlen(resp), "m", &out,
                                            &outlen, err, sizeof(err));
        if (rc == 0) {
            free(out);

        } else {
            assert_null(out);
            assert_string_equal(err, "out of memory");
            ok = 0;
        }

        out = olla_resp_error_from_backend(404, "{\"error\":{\"message\":"
                                           "\"x\",\"code\":\"c\"}}", 36,
                                           "r", &outlen);
        if (out) {
            free(out);

        } else {
            ok = 0;
        }

        out = olla_resp_error_json(400, "bad", "r", &outlen);
        if (out) {
            free(out);

        } else {
            ok = 0;
        }

        memset(&sink, 0, sizeof(sink_t));
        saved = fi_fail_at;
        fi_fail_at = 0;     /* test_allocation_failures_stream_new() */
        s = olla_resp_stream_new(NULL, 1, 0, 0);
        fi_fail_at = saved;
        assert_non_null(s);

        rc = olla_resp_stream_feed(s, sse, strlen(sse), sink_emit, &sink);
        assert_true(rc == 0 || rc == 1);
        rc = olla_resp_stream_finish(s, sink_emit, &sink);
        assert_int_equal(rc, 1);

        saved = fi_fail_at;
        fi_fail_at = 0;     /* the checks allocate */

        if (check_stream_end(sink.p)) {
            ok = 0;
        }

        fi_fail_at = saved;

        olla_resp_stream_free(s);
        free(sink.p);
    }

    olla_jdom_set_alloc(NULL, NULL);
    fi_fail_at = 0;

    assert_true(ok);
    print_message("[   INFO   ] %zu allocation failure points survived\n",
                  k - 1);
}


/*
 * The stream's own allocations fail in turn, from olla_resp_stream_new()
 * (NULL, nothing leaked) through a stream with a client's model name.
 */

static void
test_allocation_failures_stream_new(void **state)
{
    int                  rc, ok;
    char                *sse;
    size_t               k, saved;
    sink_t               sink;
    olla_resp_stream_t  *s;

    sse = Q(TOOL_START(0, "c0", "read") TOOL_START(1, "c1", "shell")
            TOOL_ARGS(0, "{`path`:") TOOL_ARGS(1, "{`cmd`:")
            TOOL_ARGS(0, "`a.c`}") TOOL_ARGS(1, "`make`}")
            FINISH("tool_calls") DONE);

    olla_jdom_set_alloc(fi_malloc, fi_realloc);

    for (k = 1, ok = 0; !ok && k < 100000; k++) {
        fi_count = 0;
        fi_fail_at = k;

        s = olla_resp_stream_new("gpt-\xff-model", 7, 4096, 4096);
        if (s == NULL) {
            continue;
        }

        memset(&sink, 0, sizeof(sink_t));
        rc = olla_resp_stream_feed(s, sse, strlen(sse), sink_emit, &sink);
        assert_true(rc == 0 || rc == 1);
        rc = olla_resp_stream_finish(s, sink_emit, &sink);
        assert_int_equal(rc, 1);

        saved = fi_fail_at;
        fi_fail_at = 0;

        ok = !check_stream_end(sink.p);

        if (ok) {
            assert_non_null(strstr(sink.p, "\"model\":\"gpt-?-model\""));
        }

        fi_fail_at = saved;

        olla_resp_stream_free(s);
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
        cmocka_unit_test_teardown(test_req_instructions, teardown),
        cmocka_unit_test_teardown(test_req_user_content, teardown),
        cmocka_unit_test_teardown(test_req_assistant_and_calls, teardown),
        cmocka_unit_test_teardown(test_req_call_outputs, teardown),
        cmocka_unit_test_teardown(test_req_tools, teardown),
        cmocka_unit_test_teardown(test_req_tool_refusals, teardown),
        cmocka_unit_test_teardown(test_req_params, teardown),
        cmocka_unit_test_teardown(test_req_dropped_fields, teardown),
        cmocka_unit_test_teardown(test_req_stateless, teardown),
        cmocka_unit_test_teardown(test_req_validation, teardown),
        cmocka_unit_test_teardown(test_req_bad_items, teardown),
        cmocka_unit_test_teardown(test_req_bad_json, teardown),
        cmocka_unit_test_teardown(test_req_codex, teardown),
        cmocka_unit_test_teardown(test_req_codex_0171, teardown),
        cmocka_unit_test_teardown(test_req_agents_sdk, teardown),
        cmocka_unit_test_teardown(test_req_unicode, teardown),
        cmocka_unit_test_teardown(test_req_escapes, teardown),
        cmocka_unit_test_teardown(test_req_escapes_lazy, teardown),
        cmocka_unit_test_teardown(test_resp_text, teardown),
        cmocka_unit_test_teardown(test_resp_tools, teardown),
        cmocka_unit_test_teardown(test_resp_escapes, teardown),
        cmocka_unit_test_teardown(test_resp_reasoning, teardown),
        cmocka_unit_test_teardown(test_resp_status_and_usage, teardown),
        cmocka_unit_test_teardown(test_resp_model, teardown),
        cmocka_unit_test_teardown(test_resp_errors, teardown),
        cmocka_unit_test_teardown(test_resp_ids, teardown),
        cmocka_unit_test_teardown(test_error_type, teardown),
        cmocka_unit_test_teardown(test_error_json, teardown),
        cmocka_unit_test_teardown(test_error_from_backend, teardown),
        cmocka_unit_test_teardown(test_stream_text, teardown),
        cmocka_unit_test_teardown(test_stream_reasoning, teardown),
        cmocka_unit_test_teardown(test_stream_text_then_tool, teardown),
        cmocka_unit_test_teardown(test_stream_sequential_tools, teardown),
        cmocka_unit_test_teardown(test_stream_interleaved_tools, teardown),
        cmocka_unit_test_teardown(test_stream_tool_edge_cases, teardown),
        cmocka_unit_test_teardown(test_stream_usage, teardown),
        cmocka_unit_test_teardown(test_stream_incomplete, teardown),
        cmocka_unit_test_teardown(test_stream_model, teardown),
        cmocka_unit_test_teardown(test_stream_cut, teardown),
        cmocka_unit_test_teardown(test_stream_sse_syntax, teardown),
        cmocka_unit_test_teardown(test_stream_upstream_errors, teardown),
        cmocka_unit_test_teardown(test_stream_long_line, teardown),
        cmocka_unit_test_teardown(test_stream_held_limit, teardown),
        cmocka_unit_test_teardown(test_stream_unicode, teardown),
        cmocka_unit_test_teardown(test_stream_incremental, teardown),
        cmocka_unit_test_teardown(test_stream_emit_failure, teardown),
        cmocka_unit_test_teardown(test_stream_llamacpp, teardown),
        cmocka_unit_test_teardown(test_stream_long, teardown),
        cmocka_unit_test_teardown(test_allocation_failures, teardown),
        cmocka_unit_test_teardown(test_allocation_failures_stream_new,
                                  teardown),
    };

    return cmocka_run_group_tests_name("olla_resp", tests, NULL, NULL);
}
