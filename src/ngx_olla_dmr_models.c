
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The model lists the module answers itself: olla_route's local lists
 * (a type's list as the type lists it, the unified list with each model's
 * endpoints, Anthropic's and OpenAI's list shapes) and olla_status's
 * status/models.  Models come from the shared zone; a model is listed
 * once, with every endpoint that has it.  A model's own JSON object is
 * stored in a compact form (olla_model.h) and written back as the
 * endpoint listed it, never parsed again; the rest is built with
 * jansson.  status/models also says where each model is loaded
 * (resident_on) or loading (loading_on).
 */


#include "ngx_olla_dmr.h"

#include <jansson.h>


typedef struct {
    olla_model_ref_t             m;
    json_t                      *endpoints;    /* names */
    json_t                      *types;
    json_t                      *resident;     /* endpoints that have it */
    json_t                      *loading;      /* loaded, or loading */
} ngx_olla_dmr_listed_t;


typedef struct {
    ngx_array_t                  models;       /* ngx_olla_dmr_listed_t */
    json_t                      *byname;       /* norm -> index */
} ngx_olla_dmr_collect_t;


static ngx_int_t ngx_olla_dmr_collect(ngx_http_request_t *r,
    ngx_olla_dmr_upstream_t *only, const olla_profile_t *type,
    ngx_uint_t healthy_only, ngx_olla_dmr_collect_t *c);
static void ngx_olla_dmr_collect_free(ngx_olla_dmr_collect_t *c);
static ngx_int_t ngx_olla_dmr_send_items(ngx_http_request_t *r,
    ngx_olla_dmr_collect_t *c, olla_route_act_e shape, ngx_uint_t status);
static char *ngx_olla_dmr_item(ngx_olla_dmr_listed_t *e,
    olla_route_act_e shape, u_char *ts);
static char *ngx_olla_dmr_model_json(olla_model_ref_t *m, size_t extra,
    size_t *len);
static char *ngx_olla_dmr_dump_string(const char *s, size_t len);
static ngx_int_t ngx_olla_dmr_send_pieces(ngx_http_request_t *r,
    const char *head, char **items, ngx_uint_t n, const char *tail);


static ngx_int_t
ngx_olla_dmr_collect(ngx_http_request_t *r, ngx_olla_dmr_upstream_t *only,
    const olla_profile_t *type, ngx_uint_t healthy_only,
    ngx_olla_dmr_collect_t *c)
{
    u_char                     *blob;
    size_t                      len, pos, t, klen;
    ngx_uint_t                  i, j, state, in_use;
    json_t                     *idx;
    olla_model_ref_t            m;
    ngx_olla_dmr_listed_t      *e;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_upstream_t   **upsp;
    ngx_olla_dmr_main_conf_t   *omcf;
    char                        key[OLLA_MODEL_MAX_ID + 64];

    omcf = ngx_http_get_module_main_conf(r, ngx_olla_dmr_module);

    if (ngx_array_init(&c->models, r->pool, 16,
                       sizeof(ngx_olla_dmr_listed_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    c->byname = json_object();
    if (c->byname == NULL) {
        return NGX_ERROR;
    }

    if (omcf->shpool == NULL) {
        return NGX_OK;
    }

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        if (only && upsp[i] != only) {
            continue;
        }

        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {
            if (type && ep[j].profile != type) {
                continue;
            }

            if (healthy_only && ep[j].sh->status != OLLA_HEALTH_HEALTHY) {
                continue;
            }

            blob = ngx_olla_dmr_models_copy(omcf, &ep[j], r->pool, &len);
            pos = 0;

            while (blob && olla_models_next(blob, len, &pos, &m)) {

                if (m.id_len > OLLA_MODEL_MAX_ID || m.obj_len < 2) {
                    continue;
                }

                klen = olla_model_normalise(m.id, m.id_len, key,
                                            sizeof(key));

                idx = json_object_get(c->byname, key);

                if (idx) {
                    e = (ngx_olla_dmr_listed_t *) c->models.elts
                        + json_integer_value(idx);

                } else {
                    e = ngx_array_push(&c->models);
                    if (e == NULL) {
                        return NGX_ERROR;
                    }

                    e->m = m;
                    e->endpoints = json_array();
                    e->types = json_array();
                    e->resident = json_array();
                    e->loading = json_array();

                    if (e->endpoints == NULL || e->types == NULL
                        || e->resident == NULL || e->loading == NULL
                        || json_object_set_new(c->byname, key,
                                               json_integer(c->models.nelts
                                                            - 1))
                           != 0)
                    {
                        json_decref(e->endpoints);
                        json_decref(e->types);
                        json_decref(e->resident);
                        json_decref(e->loading);
                        c->models.nelts--;
                        return NGX_ERROR;
                    }
                }

                if (json_array_append_new(e->endpoints,
                                          json_stringn((char *) ep[j].name.data,
                                                       ep[j].name.len))
                    != 0)
                {
                    return NGX_ERROR;
                }

                /* where it is loaded now */

                state = ngx_olla_dmr_res_lookup(&ep[j],
                                  olla_pick_hash(OLLA_PICK_HASH_INIT, key,
                                                 klen),
                                  OLLA_PS_COMPLETION, &in_use);

                if ((state == OLLA_RES_RESIDENT || state == OLLA_RES_LOADING)
                    && json_array_append_new(state == OLLA_RES_RESIDENT
                                             ? e->resident : e->loading,
                                             json_stringn(
                                                 (char *) ep[j].name.data,
                                                 ep[j].name.len))
                       != 0)
                {
                    return NGX_ERROR;
                }

                for (t = 0; t < json_array_size(e->types); t++) {
                    if (ngx_strcmp(json_string_value(json_array_get(e->types,
                                                                    t)),
                                   ep[j].profile->name)
                        == 0)
                    {
                        break;
                    }
                }

                if (t == json_array_size(e->types)
                    && json_array_append_new(e->types,
                                             json_string(ep[j].profile->name))
                       != 0)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


static void
ngx_olla_dmr_collect_free(ngx_olla_dmr_collect_t *c)
{
    ngx_uint_t              i;
    ngx_olla_dmr_listed_t  *e;

    e = c->models.elts;

    for (i = 0; i < c->models.nelts; i++) {
        json_decref(e[i].endpoints);
        json_decref(e[i].types);
        json_decref(e[i].resident);
        json_decref(e[i].loading);
    }

    c->models.nelts = 0;

    json_decref(c->byname);
    c->byname = NULL;
}


/* olla_route's local lists */

ngx_int_t
ngx_olla_dmr_models_list(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    olla_route_act_e shape)
{
    ngx_int_t               rc;
    ngx_olla_dmr_collect_t  c;

    ngx_memzero(&c, sizeof(ngx_olla_dmr_collect_t));

    if (ngx_olla_dmr_collect(r, ctx->ups,
                             shape == OLLA_ACT_LIST_TYPE ? ctx->type : NULL,
                             1, &c)
        != NGX_OK)
    {
        ngx_olla_dmr_collect_free(&c);
        return ngx_olla_dmr_send_error(r, ctx, OLLA_ERR_INTERNAL,
                                       "out of memory listing models");
    }

    rc = ngx_olla_dmr_send_items(r, &c, shape, NGX_HTTP_OK);

    ngx_olla_dmr_collect_free(&c);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return ngx_olla_dmr_send_error(r, ctx, OLLA_ERR_INTERNAL,
                                       "out of memory listing models");
    }

    return rc;
}


/* olla_status: status/models, every model of every endpoint */

ngx_int_t
ngx_olla_dmr_models_status(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_olla_dmr_collect_t  c;

    ngx_memzero(&c, sizeof(ngx_olla_dmr_collect_t));

    if (ngx_olla_dmr_collect(r, NULL, NULL, 0, &c) != NGX_OK) {
        ngx_olla_dmr_collect_free(&c);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_olla_dmr_send_items(r, &c, OLLA_ACT_NOT_FOUND, NGX_HTTP_OK);

    ngx_olla_dmr_collect_free(&c);

    return rc;
}


/*
 * The answer: the items in the shape asked (OLLA_ACT_NOT_FOUND stands for
 * olla_status's shape), inside the list's envelope.
 */

static ngx_int_t
ngx_olla_dmr_send_items(ngx_http_request_t *r, ngx_olla_dmr_collect_t *c,
    olla_route_act_e shape, ngx_uint_t status)
{
    char                   **items, *head, *tail, *first, *last;
    size_t                   len;
    ngx_tm_t                 tm;
    ngx_int_t                rc;
    ngx_uint_t               i, n;
    ngx_olla_dmr_listed_t   *e;
    u_char                   ts[sizeof("1970-09-28T12:00:00Z")];
    u_char                   tail_buf[128];

    n = c->models.nelts;
    e = c->models.elts;

    ngx_gmtime(ngx_time(), &tm);
    (void) ngx_sprintf(ts, "%4d-%02d-%02dT%02d:%02d:%02dZ%Z",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    items = ngx_pcalloc(r->pool, (n + 1) * sizeof(char *));
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    first = NULL;
    last = NULL;

    for (i = 0; i < n; i++) {
        items[i] = ngx_olla_dmr_item(&e[i], shape, ts);
        if (items[i] == NULL) {
            goto done;
        }
    }

    switch (shape) {

    case OLLA_ACT_LIST_ANTHROPIC:
        head = "{\"data\":[";

        if (n) {
            first = ngx_olla_dmr_dump_string(e[0].m.id, e[0].m.id_len);
            last = ngx_olla_dmr_dump_string(e[n - 1].m.id,
                                            e[n - 1].m.id_len);

            if (first == NULL || last == NULL) {
                goto done;
            }
        }

        len = sizeof("],\"has_more\":false,\"first_id\":,\"last_id\":}\n")
              + (first ? ngx_strlen(first) + ngx_strlen(last) : 8);

        tail = ngx_pnalloc(r->pool, len);
        if (tail == NULL) {
            goto done;
        }

        (void) ngx_sprintf((u_char *) tail,
                           "],\"has_more\":false,\"first_id\":%s,"
                           "\"last_id\":%s}\n%Z",
                           first ? first : "null", last ? last : "null");
        break;

    case OLLA_ACT_NOT_FOUND:
        head = "{\"models\":[";
        (void) ngx_sprintf(tail_buf, "],\"total\":%ui}\n%Z", n);
        tail = (char *) tail_buf;
        break;

    default:
        head = "{\"object\":\"list\",\"data\":[";
        tail = "]}\n";
        break;
    }

    rc = ngx_olla_dmr_send_pieces(r, head, items, n, tail);

done:

    for (i = 0; i < n; i++) {
        free(items[i]);
    }

    free(first);
    free(last);

    return rc;
}


/* one model in a shape, malloc'd */

static char *
ngx_olla_dmr_item(ngx_olla_dmr_listed_t *e, olla_route_act_e shape,
    u_char *ts)
{
    char        *s, *olla, *p, *m;
    size_t       olen, slen;
    json_t      *item;
    const char  *owner;

    switch (shape) {

    case OLLA_ACT_LIST_TYPE:
        /* as the endpoint lists it, metadata included */
        return ngx_olla_dmr_model_json(&e->m, 0, &slen);

    case OLLA_ACT_LIST_ANTHROPIC:
        item = json_pack("{s:s, s:s#, s:s#, s:s}", "type", "model",
                         "id", e->m.id, (int) e->m.id_len,
                         "display_name", e->m.id, (int) e->m.id_len,
                         "created_at", (char *) ts);

        if (item && e->m.context_window) {
            /*
             * the fields Anthropic's model objects carry for the window
             * (what Claude Code's model-capabilities reader parses): the
             * whole context, for the prompt and for the answer
             */
            json_object_set_new(item, "max_input_tokens",
                                json_integer(e->m.context_window));
            json_object_set_new(item, "max_tokens",
                                json_integer(e->m.context_window));
        }

        break;

    case OLLA_ACT_LIST_OPENAI:
        olen = olla_model_owner(e->m.id, e->m.id_len, &owner);
        item = json_pack("{s:s#, s:s, s:I, s:s#}",
                         "id", e->m.id, (int) e->m.id_len,
                         "object", "model",
                         "created", (json_int_t) e->m.created,
                         "owned_by", owner, (int) olen);
        break;

    default:
        /*
         * the unified list: the model's own object with "olla" added;
         * status/models: {"model": its object, "endpoints", "types"}
         */

        if (shape == OLLA_ACT_LIST_UNIFIED) {
            item = json_pack("{s:O, s:O}", "endpoints", e->endpoints,
                             "types", e->types);

        } else {
            item = json_pack("{s:O, s:O, s:O, s:O}", "endpoints",
                             e->endpoints, "types", e->types,
                             "resident_on", e->resident,
                             "loading_on", e->loading);
        }

        if (item == NULL) {
            return NULL;
        }

        olla = json_dumps(item, JSON_COMPACT);
        json_decref(item);

        if (olla == NULL) {
            return NULL;
        }

        olen = ngx_strlen(olla);

        /* the model's object, with room for what follows it */
        m = ngx_olla_dmr_model_json(&e->m, sizeof(",\"olla\":{\"model\":,")
                                           + olen + 1,
                                    &slen);
        if (m == NULL) {
            free(olla);
            return NULL;
        }

        if (shape == OLLA_ACT_LIST_UNIFIED) {
            /* {...} -> {...,"olla":{...}} */
            s = m;
            p = s + slen - 1;

            if (slen > 2) {
                *p++ = ',';
            }

            p = (char *) ngx_cpymem(p, "\"olla\":", sizeof("\"olla\":") - 1);
            p = (char *) ngx_cpymem(p, olla, olen);

        } else {
            /* {"model":{...},"endpoints":[...],"types":[...]} */
            s = m;
            ngx_memmove(s + sizeof("{\"model\":") - 1, s, slen);
            ngx_memcpy(s, "{\"model\":", sizeof("{\"model\":") - 1);
            p = s + sizeof("{\"model\":") - 1 + slen;
            *p++ = ',';
            p = (char *) ngx_cpymem(p, olla + 1, olen - 2);
        }

        *p++ = '}';
        *p = '\0';
        free(olla);

        return s;
    }

    if (item == NULL) {
        return NULL;
    }

    s = json_dumps(item, JSON_COMPACT);
    json_decref(item);

    return s;
}


/*
 * A model's object as the endpoint listed it, malloc'd with room for
 * extra more bytes and a NUL; NULL when out of memory or the record is
 * corrupted (its length is at least 2: "{}")
 */

static char *
ngx_olla_dmr_model_json(olla_model_ref_t *m, size_t extra, size_t *len)
{
    char    *s;
    size_t   n;

    n = olla_model_json(m, NULL, 0);

    if (n < 2) {
        return NULL;
    }

    s = malloc(n + extra + 1);
    if (s == NULL) {
        return NULL;
    }

    (void) olla_model_json(m, s, n);
    s[n] = '\0';
    *len = n;

    return s;
}


/* a JSON string, malloc'd */

static char *
ngx_olla_dmr_dump_string(const char *s, size_t len)
{
    char    *out;
    json_t  *v;

    v = json_stringn(s, len);
    if (v == NULL) {
        return NULL;
    }

    out = json_dumps(v, JSON_ENCODE_ANY);
    json_decref(v);

    return out;
}


/* head, the items separated by commas, tail: one buffer, one answer */

static ngx_int_t
ngx_olla_dmr_send_pieces(ngx_http_request_t *r, const char *head,
    char **items, ngx_uint_t n, const char *tail)
{
    u_char      *body, *p;
    size_t       len;
    ngx_uint_t   i;

    len = ngx_strlen(head) + ngx_strlen(tail) + n;

    for (i = 0; i < n; i++) {
        len += ngx_strlen(items[i]);
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, head, ngx_strlen(head));

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, items[i], ngx_strlen(items[i]));
    }

    p = ngx_cpymem(p, tail, ngx_strlen(tail));

    return ngx_olla_dmr_send_json(r, NGX_HTTP_OK, body, p - body);
}
