
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Client keys: "olla_api_keys FILE | off" and its access-phase check on
 * the locations with "olla_route" (olla_status locations are not
 * covered).  The file is read with the configuration (so again on every
 * reload) by the pure olla_keys.c; a request's key, from "Authorization:
 * Bearer KEY" or "x-api-key: KEY", is hashed with SHA-256 and compared
 * with every key's hash in constant time.  A request without a known key
 * is refused with 401 (nginx's own way: "satisfy any" and "auth_delay"
 * apply, "error_page 401" may take it); the response filter writes the
 * JSON in the route's dialect (ngx_olla_dmr_keys_error()).  The key's
 * name is ctx->key_name, $olla_key_name.  The key itself is never logged,
 * and the client's Authorization and x-api-key never go upstream when
 * keys are on (ngx_olla_dmr_route.c drops them).
 */


#include "ngx_olla_dmr.h"

#include <openssl/evp.h>


#define NGX_OLLA_DMR_KEYS_FILE_MAX  (16 * 1024 * 1024)


static ngx_int_t ngx_olla_dmr_keys_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_olla_dmr_loc_conf_t *olcf);
static void ngx_olla_dmr_keys_free(void *data);
static ngx_int_t ngx_olla_dmr_keys_handler(ngx_http_request_t *r);
static ngx_int_t ngx_olla_dmr_keys_refuse(ngx_http_request_t *r,
    ngx_olla_dmr_ctx_t *ctx, ngx_uint_t why);
static ngx_int_t ngx_olla_dmr_key_name_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_olla_dmr_key_name = ngx_string("olla_key_name");


char *
ngx_olla_dmr_api_keys_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_olla_dmr_loc_conf_t  *olcf = conf;

    ngx_str_t                 *value, name;
    ngx_olla_dmr_main_conf_t  *omcf;

    if (olcf->api_keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        olcf->api_keys = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "takes a file or \"off\", not an empty string";
    }

    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_olla_dmr_keys_read(cf, &name, olcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);
    omcf->keys_used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_olla_dmr_keys_read(ngx_conf_t *cf, ngx_str_t *name,
    ngx_olla_dmr_loc_conf_t *olcf)
{
    u_char              *buf;
    size_t               size, line;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_uint_t           done;
    ngx_file_info_t      fi;
    olla_keys_t         *keys;
    ngx_pool_cleanup_t  *cln;
    char                 err[OLLA_KEYS_ERRLEN];

    /* name is NUL-terminated by ngx_conf_full_name() or the parser */

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "olla_api_keys: cannot open \"%s\"", name->data);
        return NGX_ERROR;
    }

    buf = NULL;
    size = 0;
    done = 0;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "olla_api_keys: cannot stat \"%s\"", name->data);
        goto close;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "olla_api_keys: \"%s\" is not a file",
                           name->data);
        goto close;
    }

    if (ngx_file_size(&fi) > NGX_OLLA_DMR_KEYS_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "olla_api_keys: \"%s\" is larger than 16m",
                           name->data);
        goto close;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto close;
    }

    /* the size it had: a file that grows meanwhile is read to there */

    while (size < (size_t) ngx_file_size(&fi)) {
        n = ngx_read_fd(fd, buf + size, (size_t) ngx_file_size(&fi) - size);

        if (n == -1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "olla_api_keys: cannot read \"%s\"",
                               name->data);
            goto close;
        }

        if (n == 0) {
            break;
        }

        size += n;
    }

    done = 1;

close:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", name->data);
    }

    if (!done) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    keys = olla_keys_parse((char *) buf, size, &line, err, sizeof(err));

    if (keys == NULL) {
        if (line) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "olla_api_keys: %s:%uz: %s",
                               name->data, line, err);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "olla_api_keys: %s: %s", name->data, err);
        }

        return NGX_ERROR;
    }

    cln->handler = ngx_olla_dmr_keys_free;
    cln->data = keys;

    if (keys->nkeys == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "olla_api_keys: %s has no keys: every request "
                           "to the Olla routes that use it is refused",
                           name->data);
    }

    olcf->api_keys = keys;

    return NGX_OK;
}


static void
ngx_olla_dmr_keys_free(void *data)
{
    olla_keys_free(data);
}


/* the check runs in the access phase, where nginx checks access */

ngx_int_t
ngx_olla_dmr_keys_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_olla_dmr_main_conf_t   *omcf;
    ngx_http_core_main_conf_t  *cmcf;

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_olla_dmr_module);

    if (!omcf->keys_used || !omcf->route_used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_olla_dmr_keys_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_keys_handler(ngx_http_request_t *r)
{
    long                      i;
    size_t                    klen;
    ngx_uint_t                n;
    olla_cred_e               cred;
    const char               *key;
    unsigned int              mdlen;
    ngx_list_part_t          *part;
    ngx_table_elt_t          *h, *auth, *api_key;
    ngx_olla_dmr_ctx_t       *ctx;
    ngx_olla_dmr_loc_conf_t  *olcf;
    u_char                    md[EVP_MAX_MD_SIZE];

    olcf = ngx_http_get_module_loc_conf(r, ngx_olla_dmr_module);

    if (olcf->ups == NULL || olcf->api_keys == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx) {
        if (!ctx->key_checked) {
            /* nothing makes one before this phase: refuse, never let in */
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "olla: a request context before the key check");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the phase once more: the same verdict */
        return ctx->key_refused ? NGX_HTTP_UNAUTHORIZED : NGX_OK;
    }

    /* the route's row (its dialect) and the request id, for the refusal */

    ctx = ngx_olla_dmr_error_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->key_checked = 1;

    auth = r->headers_in.authorization;
    api_key = NULL;

    for (part = &r->headers_in.headers.part; part && api_key == NULL;
         part = part->next)
    {
        h = part->elts;

        for (n = 0; n < part->nelts; n++) {
            if (h[n].key.len == sizeof("x-api-key") - 1
                && ngx_strncasecmp(h[n].key.data, (u_char *) "x-api-key",
                                   sizeof("x-api-key") - 1)
                   == 0)
            {
                api_key = &h[n];
                break;
            }
        }
    }

    key = NULL;
    klen = 0;

    cred = olla_keys_credential(auth ? (char *) auth->value.data : NULL,
                                auth ? auth->value.len : 0,
                                api_key ? (char *) api_key->value.data
                                        : NULL,
                                api_key ? api_key->value.len : 0,
                                &key, &klen);

    if (cred == OLLA_CRED_NONE) {
        return ngx_olla_dmr_keys_refuse(r, ctx, NGX_OLLA_DMR_KEY_MISSING);
    }

    if (cred == OLLA_CRED_MALFORMED) {
        return ngx_olla_dmr_keys_refuse(r, ctx, NGX_OLLA_DMR_KEY_MALFORMED);
    }

    if (EVP_Digest(key, klen, md, &mdlen, EVP_sha256(), NULL) != 1
        || mdlen != OLLA_KEY_DIGEST_LEN)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "olla: SHA-256 of a client key failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    i = olla_keys_find(olcf->api_keys, md);

    ngx_memzero(md, sizeof(md));

    if (i < 0) {
        return ngx_olla_dmr_keys_refuse(r, ctx, NGX_OLLA_DMR_KEY_UNKNOWN);
    }

    ctx->key_name.data = (u_char *) olcf->api_keys->keys[i].name;
    ctx->key_name.len = olcf->api_keys->keys[i].name_len;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "olla: client key \"%V\"", &ctx->key_name);

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_keys_refuse(ngx_http_request_t *r, ngx_olla_dmr_ctx_t *ctx,
    ngx_uint_t why)
{
    ngx_table_elt_t  *h;

    static const char  *reasons[] = {
        "",
        "no client key",
        "no client key in Authorization or x-api-key",
        "unknown client key"
    };

    ctx->key_refused = why;

    /* RFC 6750 3.1: no error code when the request had no credentials */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "WWW-Authenticate");

    switch (why) {

    case NGX_OLLA_DMR_KEY_MISSING:
        ngx_str_set(&h->value, "Bearer");
        break;

    case NGX_OLLA_DMR_KEY_MALFORMED:
        ngx_str_set(&h->value, "Bearer error=\"invalid_request\"");
        break;

    default: /* NGX_OLLA_DMR_KEY_UNKNOWN */
        ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");
        break;
    }

    /* "satisfy any" hides it again when another module lets the request in */
    r->headers_out.www_authenticate = h;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "olla: %s, refused", reasons[why]);

    return NGX_HTTP_UNAUTHORIZED;
}


/* the error body of a refusal: the row, and a message (or none) */

const olla_err_t *
ngx_olla_dmr_keys_error(ngx_olla_dmr_ctx_t *ctx, ngx_str_t *msg)
{
    ngx_str_null(msg);

    switch (ctx->key_refused) {

    case NGX_OLLA_DMR_KEY_MISSING:
        return olla_err(OLLA_ERR_API_KEY_MISSING);

    case NGX_OLLA_DMR_KEY_MALFORMED:
        ngx_str_set(msg, "no API key in the Authorization or x-api-key "
                         "header: send \"Authorization: Bearer KEY\" or "
                         "\"x-api-key: KEY\"");
        return olla_err(OLLA_ERR_API_KEY_INVALID);

    default: /* NGX_OLLA_DMR_KEY_UNKNOWN */
        return olla_err(OLLA_ERR_API_KEY_INVALID);
    }
}


ngx_int_t
ngx_olla_dmr_keys_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_olla_dmr_key_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_olla_dmr_key_name_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_key_name_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_olla_dmr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_olla_dmr_module);

    if (ctx == NULL || ctx->key_name.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->key_name.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = ctx->key_name.data;

    return NGX_OK;
}
