
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Failing over on fast failures (see olla_failover.h).
 */


#include "olla_failover.h"

#include <string.h>


static const char  *olla_failover_kinds[OLLA_FAILOVER_KINDS] = {
    "-", "429", "5xx", "model_not_found"
};


const char *
olla_failover_kind_name(olla_failover_kind_e kind)
{
    if ((unsigned) kind >= OLLA_FAILOVER_KINDS) {
        return "-";
    }

    return olla_failover_kinds[kind];
}


olla_failover_verdict_e
olla_failover_decide(const olla_failover_in_t *in, olla_failover_kind_e *kind)
{
    *kind = OLLA_FAILOVER_NONE;

    switch (in->status) {

    case 429:
        *kind = OLLA_FAILOVER_429;
        break;

    case 500:
    case 502:
    case 503:
    case 504:
        *kind = OLLA_FAILOVER_5XX;
        break;

    case 404:
        if (!in->body_known) {
            /* worth reading only when it could be retried */
            if (in->elapsed_ms > in->fast_ms || in->tries_left == 0) {
                return OLLA_FAILOVER_NO_FAILURE;
            }

            return OLLA_FAILOVER_NEED_BODY;
        }

        if (!olla_failover_model_not_found(in->body, in->body_len)) {
            return OLLA_FAILOVER_NO_FAILURE;
        }

        *kind = OLLA_FAILOVER_NOT_FOUND;
        break;

    default:
        return OLLA_FAILOVER_NO_FAILURE;
    }

    if (in->elapsed_ms > in->fast_ms) {
        return OLLA_FAILOVER_SLOW;
    }

    if (in->tries_left == 0) {
        return OLLA_FAILOVER_NO_TRIES;
    }

    return OLLA_FAILOVER_RETRY;
}


/* needle (lower case) in the first len bytes of s, case-insensitively */

static const char *
olla_failover_find(const char *s, size_t len, const char *needle)
{
    size_t  i, j, n;

    n = strlen(needle);

    if (n == 0 || len < n) {
        return NULL;
    }

    for (i = 0; i + n <= len; i++) {
        for (j = 0; j < n; j++) {
            char  c = s[i + j];

            if (c >= 'A' && c <= 'Z') {
                c = (char) (c + ('a' - 'A'));
            }

            if (c != needle[j]) {
                break;
            }
        }

        if (j == n) {
            return s + i;
        }
    }

    return NULL;
}


int
olla_failover_model_not_found(const char *body, size_t len)
{
    const char  *m, *nf;

    if (body == NULL || len == 0) {
        return 0;
    }

    /* DMR (text and Anthropic JSON), llama-swap, LM Studio */

    if (olla_failover_find(body, len, "model not found")) {
        return 1;
    }

    /*
     * Ollama: model "x" not found / model 'x' not found; vLLM and the
     * OpenAI API: The model `x` does not exist
     */

    m = olla_failover_find(body, len, "model");

    if (m == NULL) {
        return 0;
    }

    len -= (size_t) (m - body);

    nf = olla_failover_find(m, len, "not found");

    if (nf && nf - m <= 200) {
        return 1;
    }

    nf = olla_failover_find(m, len, "does not exist");

    return nf && nf - m <= 200;
}


long
olla_failover_retry_after(const char *value, size_t len)
{
    long    n;
    size_t  i;

    while (len && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        len--;
    }

    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t')) {
        len--;
    }

    if (len == 0 || len > 9) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9') {
            return -1;
        }

        n = n * 10 + (value[i] - '0');
    }

    return n;
}
