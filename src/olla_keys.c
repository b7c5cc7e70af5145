
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Client keys: the key file and the key a request presents (see
 * olla_keys.h).
 */


#include "olla_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define OLLA_KEYS_SHOW        40          /* a token's length in messages */


static int olla_keys_line(olla_keys_t *ks, size_t *cap, const char *p,
    const char *end, size_t line, char *err, size_t errlen);
static int olla_keys_valid(const char *p, size_t n);
static int olla_keys_blank(char c);
static int olla_keys_hex(char c);
static void olla_keys_show(char *out, const char *p, size_t n);
static const char *olla_keys_token(const char *p, size_t n);


olla_keys_t *
olla_keys_parse(const char *buf, size_t len, size_t *line, char *err,
    size_t errlen)
{
    size_t        cap, n;
    const char   *p, *last, *end;
    olla_keys_t  *ks;

    *line = 0;

    ks = calloc(1, sizeof(olla_keys_t));
    if (ks == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    cap = 0;
    n = 0;
    p = buf;
    last = buf + len;

    while (p < last) {
        n++;

        end = memchr(p, '\n', last - p);
        if (end == NULL) {
            end = last;
        }

        if (olla_keys_line(ks, &cap, p, end, n, err, errlen) != 0) {
            *line = n;
            olla_keys_free(ks);
            return NULL;
        }

        p = end + 1;
    }

    return ks;
}


void
olla_keys_free(olla_keys_t *keys)
{
    if (keys) {
        free(keys->keys);
        free(keys);
    }
}


/* one line: blank, a comment, or NAME HASH [# comment] */

static int
olla_keys_line(olla_keys_t *ks, size_t *cap, const char *p, const char *end,
    size_t line, char *err, size_t errlen)
{
    size_t       i, k, name_len, hash_len;
    olla_key_t  *key, *keys;
    const char  *name, *hash, *q;
    char         shown[OLLA_KEYS_SHOW * 4 + 8], other[OLLA_KEYS_SHOW * 4 + 8];

    while (p < end && olla_keys_blank(*p)) {
        p++;
    }

    if (p == end || *p == '#') {
        return 0;
    }

    /* the name */

    name = p;

    while (p < end && !olla_keys_blank(*p)) {
        p++;
    }

    name_len = p - name;

    olla_keys_show(shown, name, name_len);

    if (name_len > OLLA_KEY_NAME_MAX) {
        snprintf(err, errlen, "the name \"%s\" is longer than %d characters",
                 shown, OLLA_KEY_NAME_MAX);
        return -1;
    }

    for (i = 0; i < name_len; i++) {
        char  c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            snprintf(err, errlen, "the name \"%s\" has a character other "
                     "than A-Z a-z 0-9 . _ - (at %zu)", shown, i + 1);
            return -1;
        }
    }

    if (name_len == 1 && name[0] == '-') {
        snprintf(err, errlen, "the name \"-\" is taken: $olla_key_name is "
                 "\"-\" for a request without a key");
        return -1;
    }

    /* the hash */

    while (p < end && olla_keys_blank(*p)) {
        p++;
    }

    if (p == end || *p == '#') {
        snprintf(err, errlen, "\"%s\" has no hash: a line is "
                 "NAME SHA256-HEX-OF-THE-KEY", shown);
        return -1;
    }

    hash = p;

    while (p < end && !olla_keys_blank(*p)) {
        p++;
    }

    hash_len = p - hash;

    for (i = 0; i < hash_len; i++) {
        if (olla_keys_hex(hash[i]) < 0) {
            olla_keys_show(other, hash + i, 1);
            snprintf(err, errlen, "the hash of \"%s\" has '%s', not a hex "
                     "digit, at %zu (the file holds the SHA-256 of each "
                     "key, not the key)", shown, other, i + 1);
            return -1;
        }
    }

    if (hash_len != OLLA_KEY_DIGEST_LEN * 2) {
        snprintf(err, errlen, "the hash of \"%s\" has %zu hex digits, a "
                 "SHA-256 has %d (the file holds the SHA-256 of each key, "
                 "not the key)", shown, hash_len, OLLA_KEY_DIGEST_LEN * 2);
        return -1;
    }

    /* nothing more but a comment */

    while (p < end && olla_keys_blank(*p)) {
        p++;
    }

    if (p < end && *p != '#') {
        q = p;

        while (q < end && !olla_keys_blank(*q)) {
            q++;
        }

        olla_keys_show(other, p, q - p);

        snprintf(err, errlen, "unexpected \"%s\" after the hash of \"%s\"%s",
                 other, shown, olla_keys_token(p, q - p));
        return -1;
    }

    /* a new key */

    if (ks->nkeys == *cap) {
        *cap = *cap ? *cap * 2 : 16;

        keys = realloc(ks->keys, *cap * sizeof(olla_key_t));
        if (keys == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        ks->keys = keys;
    }

    key = &ks->keys[ks->nkeys];

    memcpy(key->name, name, name_len);
    key->name[name_len] = '\0';
    key->name_len = name_len;
    key->line = line;

    for (i = 0; i < OLLA_KEY_DIGEST_LEN; i++) {
        key->digest[i] = (unsigned char)
                             (olla_keys_hex(hash[2 * i]) << 4
                              | olla_keys_hex(hash[2 * i + 1]));
    }

    for (k = 0; k < ks->nkeys; k++) {

        if (ks->keys[k].name_len == name_len
            && memcmp(ks->keys[k].name, name, name_len) == 0)
        {
            snprintf(err, errlen, "duplicate name \"%s\" (line %zu has it)",
                     shown, ks->keys[k].line);
            return -1;
        }

        if (memcmp(ks->keys[k].digest, key->digest, OLLA_KEY_DIGEST_LEN)
            == 0)
        {
            snprintf(err, errlen, "\"%s\" has the hash of \"%s\" (line %zu): "
                     "the same key twice", shown, ks->keys[k].name,
                     ks->keys[k].line);
            return -1;
        }
    }

    ks->nkeys++;

    return 0;
}


/* sha256sum prints "HASH  -" for its standard input */

static const char *
olla_keys_token(const char *p, size_t n)
{
    if ((n == 1 && p[0] == '-') || (n == 2 && p[0] == '*' && p[1] == '-')) {
        return " (sha256sum's file name: keep the hex digits only)";
    }

    return "";
}


long
olla_keys_find(const olla_keys_t *keys, const unsigned char *digest)
{
    size_t          i, k;
    unsigned long   idx, found, eq, mask;
    unsigned int    diff;

    idx = 0;
    found = 0;

    for (i = 0; i < keys->nkeys; i++) {
        diff = 0;

        for (k = 0; k < OLLA_KEY_DIGEST_LEN; k++) {
            diff |= keys->keys[i].digest[k] ^ digest[k];
        }

        /* 1 when diff (0..255) is 0, without a branch */
        eq = ((diff - 1) >> 8) & 1;
        mask = 0UL - eq;

        idx |= i & mask;
        found |= eq;
    }

    return found ? (long) idx : -1;
}


/* a key: 1 to OLLA_KEY_MAX visible ASCII characters */

static int
olla_keys_valid(const char *p, size_t n)
{
    size_t  i;

    if (n == 0 || n > OLLA_KEY_MAX) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if ((unsigned char) p[i] < 0x21 || (unsigned char) p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


olla_cred_e
olla_keys_credential(const char *authorization, size_t alen,
    const char *api_key, size_t klen, const char **key, size_t *key_len)
{
    size_t       i;
    const char  *p, *last;

    if (authorization) {
        p = authorization;
        last = authorization + alen;

        while (last > p && olla_keys_blank(last[-1])) {
            last--;
        }

        if (last - p > 6) {
            for (i = 0; i < 6; i++) {
                if ((p[i] | 0x20) != "bearer"[i]) {
                    break;
                }
            }

            if (i == 6 && (p[6] == ' ' || p[6] == '\t')) {
                p += 7;

                while (p < last && (*p == ' ' || *p == '\t')) {
                    p++;
                }

                if (olla_keys_valid(p, last - p)) {
                    *key = p;
                    *key_len = last - p;
                    return OLLA_CRED_KEY;
                }
            }
        }
    }

    if (api_key) {
        p = api_key;
        last = api_key + klen;

        while (p < last && olla_keys_blank(*p)) {
            p++;
        }

        while (last > p && olla_keys_blank(last[-1])) {
            last--;
        }

        if (olla_keys_valid(p, last - p)) {
            *key = p;
            *key_len = last - p;
            return OLLA_CRED_KEY;
        }

        return OLLA_CRED_MALFORMED;
    }

    return authorization ? OLLA_CRED_MALFORMED : OLLA_CRED_NONE;
}


static int
olla_keys_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}


static int
olla_keys_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* at most OLLA_KEYS_SHOW bytes of a token, others as \xHH, then "..." */

static void
olla_keys_show(char *out, const char *p, size_t n)
{
    size_t          i;
    unsigned char   c;

    for (i = 0; i < n && i < OLLA_KEYS_SHOW; i++) {
        c = (unsigned char) p[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *out++ = (char) c;

        } else {
            out += sprintf(out, "\\x%02x", c);
        }
    }

    if (n > OLLA_KEYS_SHOW) {
        memcpy(out, "...", 3);
        out += 3;
    }

    *out = '\0';
}
