
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Running-models answers (see olla_ps.h), read with jansson: probe time,
 * not the request path.
 */


#include "olla_ps.h"
#include "olla_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>


olla_ps_format_e
olla_ps_format(const char *name, size_t len)
{
    if (len == 3 && memcmp(name, "dmr", 3) == 0) {
        return OLLA_PS_DMR;
    }

    if (len == 6 && memcmp(name, "ollama", 6) == 0) {
        return OLLA_PS_OLLAMA;
    }

    return OLLA_PS_NONE;
}


static int
olla_ps_digits(const char *p, size_t n, int *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        *v = *v * 10 + (p[i] - '0');
    }

    return 0;
}


/* days since 1970-01-01 of a civil date (Howard Hinnant's algorithm) */

static int64_t
olla_ps_days(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t) doe - 719468;
}


int64_t
olla_ps_time(const char *s, size_t len)
{
    int          y, mo, d, h, mi, sec, oh, om, sign;
    size_t       i;
    int64_t      t;

    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */

    if (len < 20 || s[4] != '-' || s[7] != '-'
        || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || s[13] != ':' || s[16] != ':')
    {
        return -1;
    }

    if (olla_ps_digits(s, 4, &y) || olla_ps_digits(s + 5, 2, &mo)
        || olla_ps_digits(s + 8, 2, &d) || olla_ps_digits(s + 11, 2, &h)
        || olla_ps_digits(s + 14, 2, &mi) || olla_ps_digits(s + 17, 2, &sec))
    {
        return -1;
    }

    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
        || sec > 60)
    {
        return -1;
    }

    i = 19;

    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            /* void */
        }
    }

    if (i >= len) {
        return -1;
    }

    oh = 0;
    om = 0;
    sign = 0;

    if (s[i] == 'Z' || s[i] == 'z') {
        i++;

    } else if ((s[i] == '+' || s[i] == '-') && len - i >= 6
               && s[i + 3] == ':')
    {
        sign = (s[i] == '-') ? -1 : 1;

        if (olla_ps_digits(s + i + 1, 2, &oh)
            || olla_ps_digits(s + i + 4, 2, &om))
        {
            return -1;
        }

        i += 6;

    } else {
        return -1;
    }

    if (i != len) {
        return -1;
    }

    if (y == 1 && mo == 1 && d == 1 && h == 0 && mi == 0 && sec == 0) {
        /* Go's zero time: in use, or loading */
        return 0;
    }

    t = olla_ps_days(y, (unsigned) mo, (unsigned) d) * 86400
        + h * 3600 + mi * 60 + sec;

    t -= sign * (oh * 3600 + om * 60);

    return t > 0 ? t : -1;
}


int
olla_ps_duration(const char *s, size_t len, int64_t *seconds)
{
    size_t       i;
    double       v, total, scale, frac;
    const char  *u;

    if (len == 0) {
        return -1;
    }

    if (s[0] == '-') {
        /* a negative keep-alive: forever */
        *seconds = -1;
        return 0;
    }

    total = 0;
    i = 0;

    if (len == 1 && s[0] == '0') {
        *seconds = 0;
        return 0;
    }

    while (i < len) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = 0;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (s[i++] - '0');
        }

        if (i < len && s[i] == '.') {
            frac = 0.1;

            for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
                v += (s[i] - '0') * frac;
                frac /= 10;
            }
        }

        u = s + i;

        if (len - i >= 2 && memcmp(u, "ms", 2) == 0) {
            scale = 0.001;
            i += 2;

        } else if (len - i >= 2 && (memcmp(u, "us", 2) == 0
                                    || memcmp(u, "ns", 2) == 0))
        {
            scale = (u[0] == 'u') ? 0.000001 : 0.000000001;
            i += 2;

        } else if (len - i >= 3 && memcmp(u, "\xc2\xb5s", 3) == 0) {
            scale = 0.000001;
            i += 3;

        } else if (i < len && (*u == 'h' || *u == 'm' || *u == 's')) {
            scale = (*u == 'h') ? 3600 : (*u == 'm') ? 60 : 1;
            i++;

        } else {
            return -1;
        }

        total += v * scale;
    }

    if (total > 100.0 * 365 * 86400) {
        total = 100.0 * 365 * 86400;
    }

    *seconds = (int64_t) total;

    return 0;
}


static int
olla_ps_add(olla_ps_list_t *list, const char *name, size_t len,
    olla_ps_entry_t *tmpl)
{
    char              norm[OLLA_MODEL_MAX_ID + 64];
    size_t            n;
    olla_ps_entry_t  *e;

    if (len == 0 || len > OLLA_MODEL_MAX_ID || list->n >= OLLA_PS_MAX) {
        return 0;
    }

    n = olla_model_normalise(name, len, norm, sizeof(norm));

    if (n >= sizeof(norm)) {
        return 0;
    }

    e = &list->items[list->n];
    *e = *tmpl;

    e->norm = malloc(n + 1);
    if (e->norm == NULL) {
        return -1;
    }

    memcpy(e->norm, norm, n);
    e->norm[n] = '\0';
    e->norm_len = n;

    list->n++;

    return 0;
}


static unsigned
olla_ps_mode(json_t *mode)
{
    const char  *s;

    s = json_string_value(mode);

    if (s == NULL || strcmp(s, "completion") == 0) {
        return OLLA_PS_COMPLETION;
    }

    if (strcmp(s, "embedding") == 0) {
        return OLLA_PS_EMBEDDING;
    }

    return OLLA_PS_OTHER;
}


int
olla_ps_parse(const char *body, size_t len, olla_ps_format_e format,
    olla_ps_list_t *list, char *err, size_t errlen)
{
    size_t            i, size;
    json_t           *root, *arr, *item, *name, *v;
    json_error_t      jerr;
    olla_ps_entry_t   tmpl;

    list->items = NULL;
    list->n = 0;

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        snprintf(err, errlen, "not JSON: %s", jerr.text);
        return -1;
    }

    if (format == OLLA_PS_OLLAMA) {
        arr = json_object_get(root, "models");

        if (!json_is_array(arr)) {
            snprintf(err, errlen, "no \"models\" array");
            json_decref(root);
            return -1;
        }

    } else {
        arr = root;

        if (!json_is_array(arr)) {
            snprintf(err, errlen, "not a JSON array");
            json_decref(root);
            return -1;
        }
    }

    size = json_array_size(arr);

    if (size) {
        list->items = calloc(size < OLLA_PS_MAX ? size : OLLA_PS_MAX,
                             sizeof(olla_ps_entry_t));
        if (list->items == NULL) {
            snprintf(err, errlen, "out of memory");
            json_decref(root);
            return -1;
        }
    }

    for (i = 0; i < size; i++) {
        item = json_array_get(arr, i);

        if (!json_is_object(item)) {
            continue;
        }

        memset(&tmpl, 0, sizeof(tmpl));
        tmpl.keep_alive = -2;

        if (format == OLLA_PS_OLLAMA) {
            name = json_object_get(item, "model");

            if (!json_is_string(name)) {
                name = json_object_get(item, "name");
            }

            v = json_object_get(item, "expires_at");

            if (json_is_string(v)) {
                /* the time it unloads; how long is not said */
                tmpl.last_used = 0;
            }

        } else {
            name = json_object_get(item, "model_name");

            tmpl.mode = olla_ps_mode(json_object_get(item, "mode"));
            tmpl.loading = json_is_true(json_object_get(item, "loading"));
            tmpl.in_use = json_is_true(json_object_get(item, "in_use"));

            v = json_object_get(item, "last_used");

            if (json_is_string(v)) {
                tmpl.last_used = olla_ps_time(json_string_value(v),
                                              json_string_length(v));
                if (tmpl.last_used < 0) {
                    tmpl.last_used = 0;
                }
            }

            v = json_object_get(item, "keep_alive");

            if (json_is_string(v)
                && olla_ps_duration(json_string_value(v),
                                    json_string_length(v), &tmpl.keep_alive)
                   != 0)
            {
                tmpl.keep_alive = -2;
            }
        }

        if (!json_is_string(name)) {
            continue;
        }

        if (olla_ps_add(list, json_string_value(name),
                        json_string_length(name), &tmpl)
            != 0)
        {
            olla_ps_free(list);
            snprintf(err, errlen, "out of memory");
            json_decref(root);
            return -1;
        }
    }

    json_decref(root);

    return 0;
}


void
olla_ps_free(olla_ps_list_t *list)
{
    size_t  i;

    for (i = 0; i < list->n; i++) {
        free(list->items[i].norm);
    }

    free(list->items);
    list->items = NULL;
    list->n = 0;
}
