
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Unit tests of the client keys (src/olla_keys.c):
 *
 *   - olla_keys_parse(): a file with every allowed form (comments, blank
 *     lines, CRLF, tabs, upper-case hex, a trailing comment, no final
 *     newline) gives the names, the digests and the lines; files without
 *     keys give an empty set; every mistake gives its line and a message
 *     that says what is wrong (a table);
 *   - olla_keys_find(): every key of a large random set is found at its
 *     index, digests one bit away from a key are not, against a plain
 *     memcmp() search; an empty set finds nothing;
 *   - olla_keys_credential(): Bearer (any case, blanks), x-api-key, which
 *     wins, and what is malformed (a table).
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "olla_keys.h"


#define S(s)  (s), (sizeof(s) - 1)

/* SHA-256 of "abc" and of "" */
#define ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define NONE  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


static void
hex_digest(const char *hex, unsigned char *out)
{
    size_t        i;
    unsigned int  b;

    for (i = 0; i < OLLA_KEY_DIGEST_LEN; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (unsigned char) b;
    }
}


/* ------------------------------------------------------------ parse */

static void
test_parse_forms(void **state)
{
    size_t          line;
    olla_keys_t    *ks;
    unsigned char   d[OLLA_KEY_DIGEST_LEN];
    char            err[OLLA_KEYS_ERRLEN];

    static const char  file[] =
        "# keys of the team\n"
        "\n"
        "alice " ABC "\n"
        "   \t\n"
        "  # indented comment\n"
        "bob\t\t" "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        "\r\n"
        "ci.runner_2-x  0000000000000000000000000000000000000000000000000000000000000001"
        "   # the CI\n"
        "Z 000000000000000000000000000000000000000000000000000000000000000F";

    ks = olla_keys_parse(S(file), &line, err, sizeof(err));
    assert_non_null(ks);
    assert_int_equal(ks->nkeys, 4);

    assert_string_equal(ks->keys[0].name, "alice");
    assert_int_equal(ks->keys[0].name_len, 5);
    assert_int_equal(ks->keys[0].line, 3);
    hex_digest(ABC, d);
    assert_memory_equal(ks->keys[0].digest, d, sizeof(d));

    assert_string_equal(ks->keys[1].name, "bob");
    assert_int_equal(ks->keys[1].line, 6);
    hex_digest(NONE, d);
    assert_memory_equal(ks->keys[1].digest, d, sizeof(d));

    assert_string_equal(ks->keys[2].name, "ci.runner_2-x");
    assert_int_equal(ks->keys[2].line, 7);
    memset(d, 0, sizeof(d));
    d[31] = 1;
    assert_memory_equal(ks->keys[2].digest, d, sizeof(d));

    assert_string_equal(ks->keys[3].name, "Z");
    assert_int_equal(ks->keys[3].line, 8);
    d[31] = 0x0f;
    assert_memory_equal(ks->keys[3].digest, d, sizeof(d));

    olla_keys_free(ks);

    /* the longest name */

    {
        char  buf[256];
        int   n;

        n = snprintf(buf, sizeof(buf), "%.*s %s\n", 64,
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                     ABC);

        ks = olla_keys_parse(buf, n, &line, err, sizeof(err));
        assert_non_null(ks);
        assert_int_equal(ks->nkeys, 1);
        assert_int_equal(ks->keys[0].name_len, 64);
        olla_keys_free(ks);
    }
}


static void
test_parse_empty(void **state)
{
    size_t        i, line;
    olla_keys_t  *ks;
    char          err[OLLA_KEYS_ERRLEN];

    static const char  *empty[] = {
        "",
        "\n",
        "\n\n\r\n",
        "# nobody yet\n",
        "   # nobody\n\t\n# still nobody",
    };

    for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        ks = olla_keys_parse(empty[i], strlen(empty[i]), &line, err,
                             sizeof(err));
        assert_non_null(ks);
        assert_int_equal(ks->nkeys, 0);
        olla_keys_free(ks);
    }
}


typedef struct {
    const char  *file;
    size_t       line;
    const char  *err;          /* a part of the message */
} bad_t;


static const bad_t  bads[] = {

    /* the hash */
    { "alice " ABC "0\n", 1,
      "the hash of \"alice\" has 65 hex digits, a SHA-256 has 64 (the file "
      "holds the SHA-256 of each key, not the key)" },
    { "# c\nalice ba7816bf\n", 2,
      "the hash of \"alice\" has 8 hex digits, a SHA-256 has 64" },
    { "alice sk-0123\n", 1,
      "the hash of \"alice\" has 's', not a hex digit, at 1 (the file "
      "holds the SHA-256 of each key, not the key)" },
    { "alice ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag\n",
      1, "has 'g', not a hex digit, at 64" },
    { "alice 0x7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n",
      1, "has 'x', not a hex digit, at 2" },
    { "alice\n", 1,
      "\"alice\" has no hash: a line is NAME SHA256-HEX-OF-THE-KEY" },
    { "alice   # later\n", 1, "\"alice\" has no hash" },
    { "\n\nalice\r\n", 3, "\"alice\" has no hash" },

    /* after the hash */
    { "alice " ABC "  -\n", 1,
      "unexpected \"-\" after the hash of \"alice\" (sha256sum's file "
      "name: keep the hex digits only)" },
    { "alice " ABC " *-\n", 1, "(sha256sum's file name" },
    { "alice " ABC " laptop\n", 1,
      "unexpected \"laptop\" after the hash of \"alice\"" },
    { "alice " ABC "#x\n", 1, "'#', not a hex digit, at 65" },

    /* the name */
    { "al!ce " ABC "\n", 1,
      "the name \"al!ce\" has a character other than A-Z a-z 0-9 . _ - "
      "(at 3)" },
    { "al\"ce " ABC "\n", 1, "the name \"al\\x22ce\" has a character" },
    { "\xc3\xa9t\xc3\xa9 " ABC "\n", 1,
      "the name \"\\xc3\\xa9t\\xc3\\xa9\" has a character other" },
    { "a\001b " ABC "\n", 1, "the name \"a\\x01b\" has" },
    { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
      ABC "\n", 1,
      "the name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is longer "
      "than 64 characters" },
    { "- " ABC "\n", 1, "the name \"-\" is taken" },

    /* uniqueness */
    { "alice " ABC "\n# x\nalice " NONE "\n", 3,
      "duplicate name \"alice\" (line 1 has it)" },
    { "alice " ABC "\nbob " NONE "\ncarol "
      "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\n", 3,
      "\"carol\" has the hash of \"alice\" (line 1): the same key twice" },
    { "alice " ABC "\nAlice " NONE "\n", 0, NULL },   /* names: case counts */
};


static void
test_parse_errors(void **state)
{
    size_t        i, len, line;
    olla_keys_t  *ks;
    char          err[OLLA_KEYS_ERRLEN];

    for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        len = strlen(bads[i].file);
        err[0] = '\0';
        line = 99;

        ks = olla_keys_parse(bads[i].file, len, &line, err, sizeof(err));

        if (bads[i].err == NULL) {
            if (ks == NULL) {
                fail_msg("case %zu: refused: line %zu: %s", i, line, err);
            }

            olla_keys_free(ks);
            continue;
        }

        if (ks != NULL) {
            fail_msg("case %zu: accepted", i);
        }

        if (line != bads[i].line || strstr(err, bads[i].err) == NULL) {
            fail_msg("case %zu: line %zu \"%s\", expected line %zu \"%s\"",
                     i, line, err, bads[i].line, bads[i].err);
        }
    }

    /* a NUL byte is a byte like another */

    {
        static const char  nul[] = "ok " NONE "\na\0b " ABC "\n";

        ks = olla_keys_parse(S(nul), &line, err, sizeof(err));
        assert_null(ks);
        assert_int_equal(line, 2);
        assert_non_null(strstr(err, "the name \"a\\x00b\" has a character"));
    }
}


/* every prefix of a good file parses or fails cleanly (ASan watches) */

static void
test_parse_prefixes(void **state)
{
    size_t        n, line;
    char         *copy;
    olla_keys_t  *ks;
    char          err[OLLA_KEYS_ERRLEN];

    static const char  file[] =
        "# c\r\nalice " ABC "  # x\n\nbob " NONE;

    for (n = 0; n <= sizeof(file) - 1; n++) {
        copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, file, n);

        ks = olla_keys_parse(copy, n, &line, err, sizeof(err));

        if (ks) {
            assert_true(ks->nkeys <= 2);
            olla_keys_free(ks);

        } else {
            assert_true(line >= 2);
            assert_true(strlen(err) > 0);
        }

        free(copy);
    }
}


/* ------------------------------------------------------------ find */

static long
ref_find(const olla_keys_t *ks, const unsigned char *d)
{
    size_t  i;

    for (i = 0; i < ks->nkeys; i++) {
        if (memcmp(ks->keys[i].digest, d, OLLA_KEY_DIGEST_LEN) == 0) {
            return (long) i;
        }
    }

    return -1;
}


static void
test_find(void **state)
{
    char           *file, *p;
    size_t          i, k, n, line;
    olla_keys_t    *ks, empty;
    unsigned char   d[OLLA_KEY_DIGEST_LEN];
    char            err[OLLA_KEYS_ERRLEN];

    n = 600;

    file = malloc(n * 100);
    assert_non_null(file);

    srand(14);
    p = file;

    for (i = 0; i < n; i++) {
        p += sprintf(p, "key-%zu ", i);

        for (k = 0; k < OLLA_KEY_DIGEST_LEN; k++) {
            /* the index in the first bytes: unique hashes */
            p += sprintf(p, "%02x", k < 2 ? (unsigned) (i >> (8 * k)) & 0xff
                                          : (unsigned) (rand() & 0xff));
        }

        *p++ = '\n';
    }

    ks = olla_keys_parse(file, p - file, &line, err, sizeof(err));
    if (ks == NULL) {
        fail_msg("line %zu: %s", line, err);
    }

    assert_int_equal(ks->nkeys, n);

    for (i = 0; i < n; i++) {
        assert_int_equal(olla_keys_find(ks, ks->keys[i].digest), (long) i);

        /* one bit away, in every byte */
        for (k = 0; k < OLLA_KEY_DIGEST_LEN; k++) {
            memcpy(d, ks->keys[i].digest, sizeof(d));
            d[k] ^= (unsigned char) (1u << (k % 8));
            assert_int_equal(olla_keys_find(ks, d), ref_find(ks, d));
        }
    }

    for (i = 0; i < 2000; i++) {
        for (k = 0; k < OLLA_KEY_DIGEST_LEN; k++) {
            d[k] = (unsigned char) rand();
        }

        assert_int_equal(olla_keys_find(ks, d), ref_find(ks, d));
    }

    empty.keys = NULL;
    empty.nkeys = 0;
    assert_int_equal(olla_keys_find(&empty, d), -1);

    olla_keys_free(ks);
    free(file);
}


/* ------------------------------------------------------------ credential */

typedef struct {
    const char  *authorization;       /* NULL: absent */
    const char  *api_key;
    olla_cred_e  cred;
    const char  *key;
} cred_t;


static const cred_t  creds[] = {
    { NULL, NULL, OLLA_CRED_NONE, NULL },

    /* Bearer */
    { "Bearer sk-abc", NULL, OLLA_CRED_KEY, "sk-abc" },
    { "bearer sk-abc", NULL, OLLA_CRED_KEY, "sk-abc" },
    { "BEARER sk-abc", NULL, OLLA_CRED_KEY, "sk-abc" },
    { "Bearer \t  sk-abc \t", NULL, OLLA_CRED_KEY, "sk-abc" },
    { "Bearer\tsk-abc", NULL, OLLA_CRED_KEY, "sk-abc" },
    { "Bearer a~!@#$%^&*()_+=/", NULL, OLLA_CRED_KEY, "a~!@#$%^&*()_+=/" },
    { "Bearer ", NULL, OLLA_CRED_MALFORMED, NULL },
    { "Bearer", NULL, OLLA_CRED_MALFORMED, NULL },
    { "Bearersk-abc", NULL, OLLA_CRED_MALFORMED, NULL },
    { "Bearer sk abc", NULL, OLLA_CRED_MALFORMED, NULL },
    { "Bearer sk-\x80", NULL, OLLA_CRED_MALFORMED, NULL },
    { "Basic YWxpY2U6cHc=", NULL, OLLA_CRED_MALFORMED, NULL },
    { "sk-abc", NULL, OLLA_CRED_MALFORMED, NULL },
    { "", NULL, OLLA_CRED_MALFORMED, NULL },

    /* x-api-key */
    { NULL, "sk-abc", OLLA_CRED_KEY, "sk-abc" },
    { NULL, "  sk-abc  ", OLLA_CRED_KEY, "sk-abc" },
    { NULL, "", OLLA_CRED_MALFORMED, NULL },
    { NULL, "sk abc", OLLA_CRED_MALFORMED, NULL },
    { NULL, "Bearer sk-abc", OLLA_CRED_MALFORMED, NULL },

    /* both: Bearer first; another scheme leaves x-api-key its turn */
    { "Bearer one", "two", OLLA_CRED_KEY, "one" },
    { "Basic YWxpY2U6cHc=", "two", OLLA_CRED_KEY, "two" },
    { "Bearer ", "two", OLLA_CRED_KEY, "two" },
    { "Basic YWxpY2U6cHc=", "", OLLA_CRED_MALFORMED, NULL },
};


static void
test_credential(void **state)
{
    size_t        i, len;
    olla_cred_e   c;
    const char   *key;

    for (i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
        key = NULL;
        len = 0;

        c = olla_keys_credential(creds[i].authorization,
                                 creds[i].authorization
                                 ? strlen(creds[i].authorization) : 0,
                                 creds[i].api_key,
                                 creds[i].api_key
                                 ? strlen(creds[i].api_key) : 0,
                                 &key, &len);

        if (c != creds[i].cred) {
            fail_msg("case %zu: %d, expected %d", i, c, creds[i].cred);
        }

        if (creds[i].key) {
            assert_int_equal(len, strlen(creds[i].key));
            assert_memory_equal(key, creds[i].key, len);
        }
    }

    /* the longest key, and one more */

    {
        char  buf[OLLA_KEY_MAX + 9];

        memcpy(buf, "Bearer ", 7);
        memset(buf + 7, 'k', OLLA_KEY_MAX + 1);

        assert_int_equal(olla_keys_credential(buf, 7 + OLLA_KEY_MAX, NULL, 0,
                                              &key, &len),
                         OLLA_CRED_KEY);
        assert_int_equal(len, OLLA_KEY_MAX);

        assert_int_equal(olla_keys_credential(buf, 8 + OLLA_KEY_MAX, NULL, 0,
                                              &key, &len),
                         OLLA_CRED_MALFORMED);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_prefixes),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_credential),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
