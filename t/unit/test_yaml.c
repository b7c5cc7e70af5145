
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the YAML node tree (src/olla_yaml.c) on its own: node
 * positions, anchors, aliases and merge keys, the deep merge, null
 * detection, the structural errors with their positions, and the message
 * helpers.  test_profile.c covers it again through the profile loader.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "olla_yaml.h"


static olla_yaml_t *
parse_ok(const char *text)
{
    char          err[256];
    olla_yaml_t  *root;

    err[0] = '\0';

    if (olla_yaml_parse("t.yaml", text, strlen(text), &root, err,
                        sizeof(err))
        != 0)
    {
        print_message("unexpected error: %s\n", err);
        fail();
    }

    return root;
}


static void
parse_fails(const char *text, const char *want)
{
    char          err[256];
    olla_yaml_t  *root;

    err[0] = '\0';
    root = (olla_yaml_t *) 1;

    assert_int_equal(olla_yaml_parse("t.yaml", text, strlen(text), &root,
                                     err, sizeof(err)),
                     -1);
    assert_null(root);

    if (strstr(err, want) == NULL) {
        print_message("error \"%s\" does not contain \"%s\"\n", err, want);
        fail();
    }
}


static const char *
scalar(const olla_yaml_t *map, const char *key)
{
    const olla_yaml_t  *v;

    v = olla_yaml_get(map, key);
    assert_non_null(v);
    assert_int_equal(v->type, OLLA_YAML_SCALAR);

    return v->value;
}


static void
test_tree_and_positions(void **state)
{
    olla_yaml_t        *root;
    const olla_yaml_t  *v, *seq;

    root = parse_ok("name: dmr\n"
                    "api:\n"
                    "  paths: [/a, \"/b\"]\n"
                    "  n: 3\n");

    assert_int_equal(root->type, OLLA_YAML_MAP);
    assert_int_equal(root->n, 2);
    assert_string_equal(root->file, "t.yaml");
    assert_string_equal(scalar(root, "name"), "dmr");

    v = olla_yaml_get(root, "api");
    assert_non_null(v);
    assert_int_equal(v->type, OLLA_YAML_MAP);
    assert_int_equal(v->line, 3);
    assert_int_equal(v->col, 3);
    assert_int_equal(v->height, 3);

    seq = olla_yaml_get(v, "paths");
    assert_int_equal(seq->type, OLLA_YAML_SEQ);
    assert_int_equal(seq->n, 2);
    assert_string_equal(seq->items[0]->value, "/a");
    assert_true(seq->items[0]->plain);
    assert_string_equal(seq->items[1]->value, "/b");
    assert_false(seq->items[1]->plain);
    assert_int_equal(seq->items[1]->line, 3);
    assert_int_equal(seq->items[1]->col, 15);

    assert_null(olla_yaml_get(root, "missing"));
    assert_null(olla_yaml_get(seq, "paths"));
    assert_null(olla_yaml_get(NULL, "name"));
    assert_ptr_equal(olla_yaml_find(root, "nameX", 4),
                     olla_yaml_get(root, "name"));

    olla_yaml_free(root);

    /* an empty document is no tree */

    root = (olla_yaml_t *) 1;
    assert_int_equal(olla_yaml_parse("e.yaml", "", 0, &root, NULL, 0), 0);
    assert_null(root);
}


static void
test_anchors_and_merge_keys(void **state)
{
    olla_yaml_t        *root;
    const olla_yaml_t  *a, *b;

    root = parse_ok("base: &b\n"
                    "  x: 1\n"
                    "  y: 2\n"
                    "copy: *b\n"
                    "over:\n"
                    "  <<: *b\n"
                    "  y: 3\n");

    a = olla_yaml_get(root, "copy");
    assert_int_equal(a->type, OLLA_YAML_MAP);
    assert_string_equal(scalar(a, "x"), "1");
    assert_string_equal(scalar(a, "y"), "2");

    /* a copy, not the same nodes */
    assert_ptr_not_equal(a, olla_yaml_get(root, "base"));

    b = olla_yaml_get(root, "over");
    assert_string_equal(scalar(b, "x"), "1");
    assert_string_equal(scalar(b, "y"), "3");
    assert_non_null(olla_yaml_get(b, "<<"));

    olla_yaml_free(root);
}


static void
test_merge(void **state)
{
    char                err[128];
    olla_yaml_t        *base, *over;
    const olla_yaml_t  *v;

    base = parse_ok("a: 1\n"
                    "m:\n"
                    "  k: base\n"
                    "  keep: yes\n"
                    "l: [1, 2, 3]\n");

    over = parse_ok("m:\n"
                    "  k: over\n"
                    "  new: 1\n"
                    "l: [9]\n"
                    "b: added\n");

    assert_int_equal(olla_yaml_merge(base, over, err, sizeof(err)), 0);

    assert_string_equal(scalar(base, "a"), "1");
    assert_string_equal(scalar(base, "b"), "added");

    v = olla_yaml_get(base, "m");
    assert_string_equal(scalar(v, "k"), "over");
    assert_string_equal(scalar(v, "keep"), "yes");
    assert_string_equal(scalar(v, "new"), "1");

    /* a sequence replaces, it is not appended to */
    v = olla_yaml_get(base, "l");
    assert_int_equal(v->type, OLLA_YAML_SEQ);
    assert_int_equal(v->n, 1);
    assert_string_equal(v->items[0]->value, "9");

    /* a scalar over a mapping replaces it too */
    over = parse_ok("m: gone\n");
    assert_int_equal(olla_yaml_merge(base, over, err, sizeof(err)), 0);
    assert_string_equal(scalar(base, "m"), "gone");

    olla_yaml_free(base);
}


static void
test_null_and_kind(void **state)
{
    size_t              i;
    olla_yaml_t        *root;
    const olla_yaml_t  *v;

    static const struct {
        const char  *key;
        int          null;
        const char  *kind;
    } t[] = {
        { "empty", 1, "null" },
        { "tilde", 1, "null" },
        { "lower", 1, "null" },
        { "title", 1, "null" },
        { "upper", 1, "null" },
        { "quoted", 0, "a string" },
        { "mixed", 0, "a string" },
        { "text", 0, "a string" },
        { "map", 0, "a mapping" },
        { "seq", 0, "a list" },
    };

    root = parse_ok("empty:\n"
                    "tilde: ~\n"
                    "lower: null\n"
                    "title: Null\n"
                    "upper: NULL\n"
                    "quoted: \"null\"\n"
                    "mixed: nUll\n"
                    "text: x\n"
                    "map: {a: 1}\n"
                    "seq: []\n");

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        v = olla_yaml_get(root, t[i].key);
        assert_non_null(v);
        assert_int_equal(olla_yaml_is_null(v), t[i].null);
        assert_string_equal(olla_yaml_kind(v), t[i].kind);
    }

    assert_true(olla_yaml_is_null(NULL));

    olla_yaml_free(root);
}


static void
test_errors(void **state)
{
    char         *big;
    size_t        i;

    parse_fails("a: 1\nb: 2\na: 3\n",
                "t.yaml:3:1: duplicate key \"a\" (first at 1:1)");
    parse_fails("a: 1\n---\nb: 2\n",
                "t.yaml:2:1: a profile file must hold one YAML document");
    parse_fails("? [x]\n: 1\n",
                "t.yaml:1:3: a mapping key must be a plain string, not a "
                "list");
    parse_fails("a: *nope\n", "t.yaml:1:4: unknown alias *nope");
    parse_fails("a: [1, 2\n", "t.yaml:");
    parse_fails("m:\n  <<: 1\n",
                "t.yaml:2:7: the merge key \"<<\" takes a mapping or a "
                "list of mappings, not a string");

    /* nesting */

    big = malloc(4 * OLLA_YAML_MAX_DEPTH + 8);
    assert_non_null(big);

    for (i = 0; i < OLLA_YAML_MAX_DEPTH + 1; i++) {
        big[i] = '[';
    }

    for (i = 0; i < OLLA_YAML_MAX_DEPTH + 1; i++) {
        big[OLLA_YAML_MAX_DEPTH + 1 + i] = ']';
    }

    big[2 * (OLLA_YAML_MAX_DEPTH + 1)] = '\0';
    parse_fails(big, "nesting deeper than 64 levels");

    big[OLLA_YAML_MAX_DEPTH] = '1';
    big[OLLA_YAML_MAX_DEPTH + 1] = '\0';
    memset(big + OLLA_YAML_MAX_DEPTH + 1, ']', OLLA_YAML_MAX_DEPTH);
    big[2 * OLLA_YAML_MAX_DEPTH + 1] = '\0';
    olla_yaml_free(parse_ok(big));

    free(big);
}


static void
test_messages(void **state)
{
    char          err[64], buf[16];
    olla_yaml_t  *root;

    root = parse_ok("a:\n  b: 1\n");

    olla_yaml_error(err, sizeof(err), olla_yaml_get(root, "a"), "x %d", 7);
    assert_string_equal(err, "t.yaml:2:3: x 7");

    olla_yaml_error(err, sizeof(err), NULL, "plain %s", "text");
    assert_string_equal(err, "plain text");

    /* cut to the buffer, and no buffer at all */
    olla_yaml_error(err, 8, root, "long message");
    assert_string_equal(err, "t.yaml:");
    olla_yaml_error(NULL, 0, root, "nothing");

    assert_string_equal(olla_yaml_quote(buf, sizeof(buf), "a\"b\\c", 5),
                        "\"a\\\"b\\\\c\"");
    assert_string_equal(olla_yaml_quote(buf, sizeof(buf), "\x01", 1),
                        "\"\\x01\"");
    assert_string_equal(olla_yaml_quote(buf, sizeof(buf), "0123456789abc",
                                        13),
                        "\"0123456...\"");

    olla_yaml_free(root);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_tree_and_positions),
        cmocka_unit_test(test_anchors_and_merge_keys),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_null_and_kind),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
