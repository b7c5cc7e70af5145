
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The shared zone (olla_zone): one node per endpoint with its health,
 * counters, circuit breaker and last model list.  Nodes are keyed by
 * upstream, endpoint name, URL and type, so "nginx -s reload" keeps the
 * state of every endpoint that still exists; nodes no configuration has
 * used for two reloads are freed (old workers may still read the ones of
 * the previous configuration while they finish).
 */


#include "ngx_olla_dmr.h"


static ngx_int_t ngx_olla_dmr_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_olla_dmr_ep_sh_t *ngx_olla_dmr_node(ngx_slab_pool_t *shpool,
    ngx_olla_dmr_shctx_t *sh, u_char *key, size_t len);
static void ngx_olla_dmr_node_free(ngx_slab_pool_t *shpool,
    ngx_olla_dmr_ep_sh_t *node);


ngx_int_t
ngx_olla_dmr_shm_add(ngx_conf_t *cf, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *shm_zone;

    ngx_str_set(&name, "olla_dmr");

    shm_zone = ngx_shared_memory_add(cf, &name, omcf->zone_size,
                                     &ngx_olla_dmr_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_olla_dmr_init_zone;
    shm_zone->data = omcf;

    omcf->shm_zone = shm_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_olla_dmr_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                      len;
    u_char                     *key, *p;
    ngx_uint_t                  i, j, gen;
    ngx_queue_t                *q, *next;
    ngx_slab_pool_t            *shpool;
    ngx_olla_dmr_shctx_t       *sh;
    ngx_olla_dmr_ep_sh_t       *node;
    ngx_olla_dmr_upstream_t   **upsp;
    ngx_olla_dmr_endpoint_t    *ep;
    ngx_olla_dmr_main_conf_t   *omcf;

    omcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    if (shpool->data && (data || shm_zone->shm.exists)) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc_locked(shpool, sizeof(ngx_olla_dmr_shctx_t));
        if (sh == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_ERROR;
        }

        ngx_queue_init(&sh->endpoints);
        shpool->data = sh;

        len = sizeof(" in olla_zone \"\"") + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc_locked(shpool, len);
        if (shpool->log_ctx == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in olla_zone \"%V\"%Z",
                    &shm_zone->shm.name);
    }

    /* a full zone is reported by the module, not by the slab allocator */
    shpool->log_nomem = 0;

    gen = ++sh->generation;

    upsp = omcf->upstreams.elts;

    for (i = 0; i < omcf->upstreams.nelts; i++) {
        ep = upsp[i]->endpoints.elts;

        for (j = 0; j < upsp[i]->endpoints.nelts; j++) {

            len = upsp[i]->uscf->host.len + ep[j].name.len + ep[j].url.len
                  + ep[j].type.len + 3;

            key = ngx_alloc(len, shm_zone->shm.log);
            if (key == NULL) {
                ngx_shmtx_unlock(&shpool->mutex);
                return NGX_ERROR;
            }

            p = ngx_sprintf(key, "%V/%V %V %V", &upsp[i]->uscf->host,
                            &ep[j].name, &ep[j].url, &ep[j].type);

            node = ngx_olla_dmr_node(shpool, sh, key, p - key);

            ngx_free(key);

            if (node == NULL) {
                ngx_shmtx_unlock(&shpool->mutex);
                ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                              "olla_zone \"%V\" is too small for %ui "
                              "endpoints, raise \"olla_zone\"",
                              &shm_zone->shm.name, omcf->nendpoints);
                return NGX_ERROR;
            }

            node->generation = gen;

            /* a prober of the old configuration may hold the lease */
            node->lease = 0;

            ep[j].sh = node;
        }
    }

    for (q = ngx_queue_head(&sh->endpoints);
         q != ngx_queue_sentinel(&sh->endpoints);
         q = next)
    {
        next = ngx_queue_next(q);
        node = ngx_queue_data(q, ngx_olla_dmr_ep_sh_t, queue);

        if (node->generation + 1 < gen) {
            ngx_queue_remove(q);
            ngx_olla_dmr_node_free(shpool, node);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    omcf->shpool = shpool;
    omcf->sh = sh;

    return NGX_OK;
}


static ngx_olla_dmr_ep_sh_t *
ngx_olla_dmr_node(ngx_slab_pool_t *shpool, ngx_olla_dmr_shctx_t *sh,
    u_char *key, size_t len)
{
    ngx_queue_t           *q;
    ngx_olla_dmr_ep_sh_t  *node;

    for (q = ngx_queue_head(&sh->endpoints);
         q != ngx_queue_sentinel(&sh->endpoints);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_olla_dmr_ep_sh_t, queue);

        if (node->key_len == len && ngx_memcmp(node->key, key, len) == 0) {
            return node;
        }
    }

    node = ngx_slab_calloc_locked(shpool, sizeof(ngx_olla_dmr_ep_sh_t));
    if (node == NULL) {
        return NULL;
    }

    node->key = ngx_slab_alloc_locked(shpool, len);
    if (node->key == NULL) {
        ngx_slab_free_locked(shpool, node);
        return NULL;
    }

    ngx_memcpy(node->key, key, len);
    node->key_len = len;
    node->status = OLLA_HEALTH_UNKNOWN;
    node->cb_state = NGX_OLLA_DMR_CB_CLOSED;

    ngx_queue_insert_tail(&sh->endpoints, &node->queue);

    return node;
}


static void
ngx_olla_dmr_node_free(ngx_slab_pool_t *shpool, ngx_olla_dmr_ep_sh_t *node)
{
    if (node->models) {
        ngx_slab_free_locked(shpool, node->models);
    }

    ngx_slab_free_locked(shpool, node->key);
    ngx_slab_free_locked(shpool, node);
}


ngx_int_t
ngx_olla_dmr_models_set(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, olla_model_list_t *list)
{
    size_t                 len;
    u_char                *blob;
    ngx_slab_pool_t       *shpool;
    ngx_olla_dmr_ep_sh_t  *sh;

    shpool = omcf->shpool;
    sh = ep->sh;

    len = olla_models_pack_size(list);

    ngx_shmtx_lock(&shpool->mutex);

    blob = NULL;

    if (len) {
        blob = ngx_slab_alloc_locked(shpool, len);

        if (blob == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_DECLINED;
        }

        olla_models_pack(list, blob);
    }

    if (sh->models) {
        ngx_slab_free_locked(shpool, sh->models);
    }

    sh->models = blob;
    sh->models_len = len;
    sh->nmodels = list->n;
    sh->models_time = ngx_time();

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


void
ngx_olla_dmr_shm_lock(ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_shmtx_lock(&omcf->shpool->mutex);
}


void
ngx_olla_dmr_shm_unlock(ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


/* with the zone locked */

ngx_int_t
ngx_olla_dmr_models_has_locked(ngx_olla_dmr_endpoint_t *ep, ngx_str_t *norm)
{
    if (ep->sh->models == NULL) {
        return 0;
    }

    return olla_models_has(ep->sh->models, ep->sh->models_len,
                           (const char *) norm->data, norm->len);
}


u_char *
ngx_olla_dmr_models_copy(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, ngx_pool_t *pool, size_t *len)
{
    u_char  *p;

    p = NULL;
    *len = 0;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    if (ep->sh->models_len) {
        p = ngx_pnalloc(pool, ep->sh->models_len);

        if (p) {
            ngx_memcpy(p, ep->sh->models, ep->sh->models_len);
            *len = ep->sh->models_len;
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return p;
}
