
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Client keys (olla_api_keys): the key file, the key a request presents,
 * and the lookup of its SHA-256 among the file's.  A key file has one key
 * a line,
 *
 *     NAME SHA256-HEX-OF-THE-KEY
 *
 * NAME is 1 to 64 of A-Z a-z 0-9 . _ - ("-" alone is taken: it is what
 * $olla_key_name shows for no key), the hash 64 hex digits in either
 * case; names and hashes are unique; blank lines and "#" comments (a
 * line's rest after a "#" that starts it or follows a blank) are
 * allowed, as are CRLF line ends.  The digest itself is computed by the
 * caller (the nginx side has OpenSSL).  No nginx headers.
 */


#ifndef _OLLA_KEYS_H_INCLUDED_
#define _OLLA_KEYS_H_INCLUDED_


#include <stddef.h>


#define OLLA_KEY_NAME_MAX     64
#define OLLA_KEY_DIGEST_LEN   32          /* SHA-256 */
#define OLLA_KEY_MAX          4096        /* a presented key's length */
#define OLLA_KEYS_ERRLEN      256


typedef struct {
    char                 name[OLLA_KEY_NAME_MAX + 1];
    size_t               name_len;
    unsigned char        digest[OLLA_KEY_DIGEST_LEN];
    size_t               line;
} olla_key_t;


typedef struct {
    olla_key_t          *keys;
    size_t               nkeys;
} olla_keys_t;


/*
 * A key file's contents (len bytes, not NUL-terminated), malloc'd; a
 * file without keys gives an empty set.  NULL on a mistake, with the
 * line (1-based; 0 when out of memory) in *line and what is wrong in
 * err.
 */
olla_keys_t *olla_keys_parse(const char *buf, size_t len, size_t *line,
    char *err, size_t errlen);

void olla_keys_free(olla_keys_t *keys);


/*
 * The index of the key whose digest is digest (OLLA_KEY_DIGEST_LEN
 * bytes), or -1.  Every entry is compared, all of its bytes, whatever
 * matches: the time taken does not depend on the digest.
 */
long olla_keys_find(const olla_keys_t *keys, const unsigned char *digest);


/* what a request presents */
typedef enum {
    OLLA_CRED_NONE = 0,               /* neither header */
    OLLA_CRED_KEY,                    /* a key, in *key */
    OLLA_CRED_MALFORMED               /* a header, but no key in it */
} olla_cred_e;

/*
 * The key of a request from its Authorization and x-api-key headers
 * (NULL when absent): "Authorization: Bearer KEY" first, else
 * "x-api-key: KEY".  A key is 1 to OLLA_KEY_MAX visible ASCII
 * characters.  An Authorization of another scheme is left alone when
 * x-api-key is there (auth_basic may use it), and is MALFORMED else; an
 * empty or invalid x-api-key is MALFORMED.
 */
olla_cred_e olla_keys_credential(const char *authorization, size_t alen,
    const char *api_key, size_t klen, const char **key, size_t *key_len);


#endif /* _OLLA_KEYS_H_INCLUDED_ */
