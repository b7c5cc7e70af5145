
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
static void ngx_olla_dmr_zone_room(ngx_shm_zone_t *shm_zone,
    ngx_olla_dmr_main_conf_t *omcf, ngx_slab_pool_t *shpool);
static void ngx_olla_dmr_mlist_release(ngx_slab_pool_t *shpool,
    ngx_olla_dmr_mlist_t *ml);
static ngx_olla_dmr_mlist_t *ngx_olla_dmr_mlist_find(
    ngx_olla_dmr_shctx_t *sh, u_char *data, size_t len, uint64_t hash);
static size_t ngx_olla_dmr_slab_bytes(size_t size);
static size_t ngx_olla_dmr_zone_need_locked(ngx_olla_dmr_main_conf_t *omcf);


ngx_int_t
ngx_olla_dmr_shm_add(ngx_conf_t *cf, ngx_olla_dmr_main_conf_t *omcf)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *shm_zone;

    /* the layout's version: a module of another layout starts afresh */
    ngx_str_set(&name, "olla_dmr_5");

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
        ngx_queue_init(&sh->queues);
        sh->start = ngx_time();
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

    if (sh->rids == NULL) {
        sh->rids = ngx_slab_calloc_locked(shpool, NGX_OLLA_DMR_RIDS
                                                  * sizeof(ngx_olla_dmr_rid_t));
        if (sh->rids == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "olla_zone \"%V\" is too small for the response "
                          "ids (%uz bytes), raise \"olla_zone\"",
                          &shm_zone->shm.name,
                          NGX_OLLA_DMR_RIDS * sizeof(ngx_olla_dmr_rid_t));
            return NGX_ERROR;
        }
    }

    if (sh->keys == NULL) {
        sh->keys = ngx_slab_calloc_locked(shpool,
                                          (NGX_OLLA_DMR_KEY_SLOTS + 1)
                                          * sizeof(ngx_olla_dmr_kstat_t));
        if (sh->keys == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "olla_zone \"%V\" is too small for the client "
                          "keys' counters, raise \"olla_zone\"",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }
    }

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

    /* the upstreams' wait queues (olla_queue) */

    if (omcf->queue_init_zone
        && omcf->queue_init_zone(shpool, sh, omcf, shm_zone->shm.log)
           != NGX_OK)
    {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    omcf->shpool = shpool;
    omcf->sh = sh;

    ngx_olla_dmr_zone_room(shm_zone, omcf, shpool);

    return NGX_OK;
}


/*
 * What is left for model lists once every endpoint has its node: said at
 * "nginx -t" and at start when it is little.  A list of the DMR shape
 * takes some NGX_OLLA_DMR_MODEL_BYTES a model (70-100 measured: its id,
 * created, the "dmr" metadata; README, olla_zone).
 */

#define NGX_OLLA_DMR_MODEL_BYTES     80
#define NGX_OLLA_DMR_ROOM_MODELS     64     /* per endpoint, at least */

static void
ngx_olla_dmr_zone_room(ngx_shm_zone_t *shm_zone,
    ngx_olla_dmr_main_conf_t *omcf, ngx_slab_pool_t *shpool)
{
    size_t      room, per, want, page;
    ngx_uint_t  n;

    n = omcf->nendpoints;

    if (n == 0) {
        return;
    }

    room = shpool->pfree * ngx_pagesize;
    per = room / n;

    if (per >= NGX_OLLA_DMR_ROOM_MODELS * NGX_OLLA_DMR_MODEL_BYTES) {
        return;
    }

    /* a zone with that much room per endpoint, rounded up to 256k */

    page = ngx_pagesize + sizeof(ngx_slab_page_t);
    want = (NGX_OLLA_DMR_ROOM_MODELS * NGX_OLLA_DMR_MODEL_BYTES - per) * n;
    want = shm_zone->shm.size
           + (want + ngx_pagesize - 1) / ngx_pagesize * page;
    want = ngx_align(want, 256 * 1024);

    if (ngx_test_config) {
        ngx_log_stderr(0, "[warn] olla_zone %uzk leaves %uzk for the model "
                       "lists of %ui endpoints, some %uz models each: a "
                       "list that does not fit is not stored, and its "
                       "endpoint gets no request naming a model; "
                       "olla_zone %uzk holds %d models each",
                       shm_zone->shm.size / 1024, room / 1024, n,
                       per / NGX_OLLA_DMR_MODEL_BYTES, want / 1024,
                       NGX_OLLA_DMR_ROOM_MODELS);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                  "olla_zone %uzk leaves %uzk for the model lists of %ui "
                  "endpoints, some %uz models each: a list that does not "
                  "fit is not stored, and its endpoint gets no request "
                  "naming a model; olla_zone %uzk holds %d models each",
                  shm_zone->shm.size / 1024, room / 1024, n,
                  per / NGX_OLLA_DMR_MODEL_BYTES, want / 1024,
                  NGX_OLLA_DMR_ROOM_MODELS);
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
    ngx_olla_dmr_mlist_release(shpool, node->mlist);
    node->mlist = NULL;

    ngx_slab_free_locked(shpool, node->key);
    ngx_slab_free_locked(shpool, node);
}


static void
ngx_olla_dmr_mlist_release(ngx_slab_pool_t *shpool, ngx_olla_dmr_mlist_t *ml)
{
    if (ml && --ml->refs == 0) {
        ngx_slab_free_locked(shpool, ml);
    }
}


/* a stored list with these bytes, if an endpoint has one */

static ngx_olla_dmr_mlist_t *
ngx_olla_dmr_mlist_find(ngx_olla_dmr_shctx_t *sh, u_char *data, size_t len,
    uint64_t hash)
{
    ngx_queue_t           *q;
    ngx_olla_dmr_mlist_t  *ml;
    ngx_olla_dmr_ep_sh_t  *node;

    for (q = ngx_queue_head(&sh->endpoints);
         q != ngx_queue_sentinel(&sh->endpoints);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_olla_dmr_ep_sh_t, queue);
        ml = node->mlist;

        if (ml && ml->hash == hash && ml->len == len
            && ngx_memcmp(ml->data, data, len) == 0)
        {
            return ml;
        }
    }

    return NULL;
}


/*
 * Every successful list replaces the endpoint's list.  An unchanged list
 * stays where it is; a list another endpoint has stored is shared; else
 * the old one is freed first (its room counts) and the new one copied in.
 * Without room the list is not stored: the endpoint's state says so, and
 * the change is logged once, with the size the zone needs.  NGX_OK when
 * stored, NGX_DECLINED when not.
 */

ngx_int_t
ngx_olla_dmr_models_set(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, olla_model_list_t *list)
{
    size_t                 len, size, room, need;
    u_char                *packed;
    uint64_t               hash;
    ngx_uint_t             was, state;
    ngx_slab_pool_t       *shpool;
    ngx_olla_dmr_mlist_t  *ml;
    ngx_olla_dmr_ep_sh_t  *sh;

    shpool = omcf->shpool;
    sh = ep->sh;

    len = olla_models_pack_size(list);
    packed = NULL;
    hash = 0;

    if (len) {
        packed = ngx_alloc(len, ngx_cycle->log);
        if (packed == NULL) {
            return NGX_ERROR;
        }

        olla_models_pack(list, packed);
        hash = olla_pick_hash(OLLA_PICK_HASH_INIT, packed, len);
    }

    size = offsetof(ngx_olla_dmr_mlist_t, data) + len;
    need = 0;
    room = 0;

    ngx_shmtx_lock(&shpool->mutex);

    was = sh->models_state;
    ml = sh->mlist;

    if (len == 0) {
        ngx_olla_dmr_mlist_release(shpool, ml);
        ml = NULL;

    } else if (ml == NULL || ml->hash != hash || ml->len != len
               || ngx_memcmp(ml->data, packed, len) != 0)
    {
        ngx_olla_dmr_mlist_release(shpool, ml);
        sh->mlist = NULL;

        ml = ngx_olla_dmr_mlist_find(omcf->sh, packed, len, hash);

        if (ml) {
            ml->refs++;

        } else {
            ml = ngx_slab_alloc_locked(shpool, size);

            if (ml) {
                ml->refs = 1;
                ml->hash = hash;
                ml->len = len;
                ngx_memcpy(ml->data, packed, len);
            }
        }
    }

    sh->mlist = ml;
    sh->models_listed = list->n;
    sh->models_time = ngx_time();

    if (len && ml == NULL) {
        sh->nmodels = 0;
        sh->models_need = size;
        sh->models_hash = hash;
        sh->models_state = NGX_OLLA_DMR_MODELS_NOT_STORED;

        if (was != NGX_OLLA_DMR_MODELS_NOT_STORED) {
            need = ngx_olla_dmr_zone_need_locked(omcf);
            room = shpool->pfree * ngx_pagesize;
        }

    } else {
        sh->nmodels = list->n;
        sh->models_need = 0;
        sh->models_state = NGX_OLLA_DMR_MODELS_STORED;
    }

    state = sh->models_state;

    ngx_shmtx_unlock(&shpool->mutex);

    if (packed) {
        ngx_free(packed);
    }

    if (state == NGX_OLLA_DMR_MODELS_STORED) {
        if (was == NGX_OLLA_DMR_MODELS_NOT_STORED) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "olla: endpoint \"%V\": its list of %ui models "
                          "is stored again", &ep->name, list->n);
        }

        return NGX_OK;
    }

    if (need) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "olla: endpoint \"%V\": its list of %ui models "
                      "(%uz bytes) does not fit in olla_zone (%uzk, %uzk "
                      "free), it is not stored, and requests naming a "
                      "model do not go to this endpoint until it is; "
                      "olla_zone needs at least %uzk for every endpoint's "
                      "list",
                      &ep->name, list->n, size,
                      omcf->shm_zone->shm.size / 1024, room / 1024,
                      (need + 1023) / 1024);
    }

    return NGX_DECLINED;
}


/* what a slab allocation of size bytes takes */

static size_t
ngx_olla_dmr_slab_bytes(size_t size)
{
    size_t  s;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (s = 8; s < size; s <<= 1) {
        /* void */
    }

    return s;
}


/*
 * The zone size that holds what the zone holds now and every list that
 * did not fit (once, when endpoints have the same list): the pages in use
 * plus those lists' pages, each page with its slab header, plus the
 * zone's own overhead.  A lower bound: lists grow, and a list is one run
 * of pages.
 */

static size_t
ngx_olla_dmr_zone_need_locked(ngx_olla_dmr_main_conf_t *omcf)
{
    size_t                 pages, used, more, page, size, overhead;
    ngx_queue_t           *q, *p;
    ngx_slab_pool_t       *shpool;
    ngx_olla_dmr_ep_sh_t  *node, *prev;

    shpool = omcf->shpool;
    size = omcf->shm_zone->shm.size;
    page = ngx_pagesize + sizeof(ngx_slab_page_t);

    pages = (shpool->end - shpool->start) / ngx_pagesize;
    used = pages - ngx_min(shpool->pfree, pages);
    overhead = size > pages * page ? size - pages * page : 0;

    more = 0;

    for (q = ngx_queue_head(&omcf->sh->endpoints);
         q != ngx_queue_sentinel(&omcf->sh->endpoints);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_olla_dmr_ep_sh_t, queue);

        if (node->models_state != NGX_OLLA_DMR_MODELS_NOT_STORED) {
            continue;
        }

        for (p = ngx_queue_head(&omcf->sh->endpoints);
             p != q;
             p = ngx_queue_next(p))
        {
            prev = ngx_queue_data(p, ngx_olla_dmr_ep_sh_t, queue);

            if (prev->models_state == NGX_OLLA_DMR_MODELS_NOT_STORED
                && prev->models_hash == node->models_hash
                && prev->models_need == node->models_need)
            {
                break;
            }
        }

        if (p == q) {
            more += ngx_olla_dmr_slab_bytes(node->models_need);
        }
    }

    return overhead + (used + (more + ngx_pagesize - 1) / ngx_pagesize)
                      * page;
}


size_t
ngx_olla_dmr_zone_need(ngx_olla_dmr_main_conf_t *omcf)
{
    size_t  need;

    ngx_shmtx_lock(&omcf->shpool->mutex);
    need = ngx_olla_dmr_zone_need_locked(omcf);
    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return need;
}


/* endpoints of an upstream whose last list is not stored */

ngx_uint_t
ngx_olla_dmr_models_not_stored(ngx_olla_dmr_upstream_t *ups)
{
    ngx_uint_t                i, n;
    ngx_olla_dmr_endpoint_t  *ep;

    n = 0;
    ep = ups->endpoints.elts;

    for (i = 0; i < ups->endpoints.nelts; i++) {
        if (ep[i].sh
            && ep[i].sh->models_state == NGX_OLLA_DMR_MODELS_NOT_STORED)
        {
            n++;
        }
    }

    return n;
}


const char *
ngx_olla_dmr_models_state_name(ngx_uint_t state)
{
    switch (state) {

    case NGX_OLLA_DMR_MODELS_STORED:
        return "stored";

    case NGX_OLLA_DMR_MODELS_NOT_STORED:
        return "not_stored";

    default:
        return "none";
    }
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
    ngx_olla_dmr_mlist_t  *ml;

    ml = ep->sh->mlist;

    if (ml == NULL) {
        return 0;
    }

    return olla_models_has(ml->data, ml->len, (const char *) norm->data,
                           norm->len);
}


u_char *
ngx_olla_dmr_models_copy(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, ngx_pool_t *pool, size_t *len)
{
    u_char                *p;
    ngx_olla_dmr_mlist_t  *ml;

    p = NULL;
    *len = 0;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    ml = ep->sh->mlist;

    if (ml && ml->len) {
        p = ngx_pnalloc(pool, ml->len);

        if (p) {
            ngx_memcpy(p, ml->data, ml->len);
            *len = ml->len;
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return p;
}


/*
 * Residency of a model (by the hash of its normalised name) and runner
 * mode on an endpoint whose running models are known: OLLA_RES_RESIDENT
 * or OLLA_RES_LOADING from a slot, else OLLA_RES_COLD; OLLA_RES_UNKNOWN
 * when they are not (no running-models path, or its last read failed: the
 * routing falls back to the catalogue).  Read without the mutex: a slot
 * being rewritten gives a stale answer at worst, never a crash.
 */

ngx_uint_t
ngx_olla_dmr_res_lookup(ngx_olla_dmr_endpoint_t *ep, uint64_t hash,
    ngx_uint_t mode, ngx_uint_t *in_use)
{
    time_t                 now;
    ngx_uint_t             i, state;
    ngx_olla_dmr_res_t    *r;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;
    now = ngx_time();
    *in_use = 0;

    if (!sh->res_known) {
        /* no running-models answer: routing as without residency */
        return OLLA_RES_UNKNOWN;
    }

    for (i = 0; i < NGX_OLLA_DMR_RES_SLOTS; i++) {
        r = &sh->res[i];

        if (r->hash != hash || r->mode != mode) {
            continue;
        }

        if (r->from == NGX_OLLA_DMR_RES_TRAFFIC
            && now - (time_t) r->last > NGX_OLLA_DMR_RES_TRAFFIC_TTL)
        {
            continue;
        }

        state = r->state;

        if (state == OLLA_RES_RESIDENT || state == OLLA_RES_LOADING) {
            *in_use = r->in_use;
            return state;
        }
    }

    return sh->res_known ? OLLA_RES_COLD : OLLA_RES_UNKNOWN;
}


/* a slot for a new model: a free one, else the least recently used */

static ngx_olla_dmr_res_t *
ngx_olla_dmr_res_slot(ngx_olla_dmr_ep_sh_t *sh)
{
    ngx_uint_t           i;
    ngx_olla_dmr_res_t  *r, *lru;

    lru = NULL;

    for (i = 0; i < NGX_OLLA_DMR_RES_SLOTS; i++) {
        r = &sh->res[i];

        if (r->hash == 0) {
            return r;
        }

        if (r->in_use || r->state == OLLA_RES_LOADING) {
            continue;
        }

        if (lru == NULL || r->last < lru->last) {
            lru = r;
        }
    }

    return lru ? lru : &sh->res[0];
}


static void
ngx_olla_dmr_res_fill(ngx_olla_dmr_res_t *r, uint64_t hash, ngx_uint_t mode,
    const char *name, size_t len, ngx_uint_t state, ngx_uint_t from)
{
    r->hash = hash;
    r->mode = (uint8_t) mode;
    r->state = (uint8_t) state;
    r->from = (uint8_t) from;
    r->in_use = 0;

    len = ngx_min(len, NGX_OLLA_DMR_RES_NAME - 1);
    ngx_memcpy(r->name, name, len);
    r->name[len] = '\0';
}


/*
 * The gateway's own traffic: a request for the model was sent to the
 * endpoint (state OLLA_RES_LOADING) or answered by it (OLLA_RES_RESIDENT).
 */

void
ngx_olla_dmr_res_mark(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, uint64_t hash, ngx_uint_t mode,
    ngx_str_t *norm, ngx_uint_t state)
{
    time_t                 now;
    ngx_uint_t             i;
    ngx_olla_dmr_res_t    *r;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;
    now = ngx_time();

    /* known: touch it; an answer upgrades the gateway's own guess */

    for (i = 0; i < NGX_OLLA_DMR_RES_SLOTS; i++) {
        r = &sh->res[i];

        if (r->hash == hash && r->mode == mode) {
            r->last = (ngx_atomic_uint_t) now;

            if (state == OLLA_RES_RESIDENT && r->state == OLLA_RES_LOADING
                && r->from == NGX_OLLA_DMR_RES_TRAFFIC)
            {
                r->state = OLLA_RES_RESIDENT;
            }

            return;
        }
    }

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (i = 0; i < NGX_OLLA_DMR_RES_SLOTS; i++) {
        if (sh->res[i].hash == hash && sh->res[i].mode == mode) {
            break;
        }
    }

    if (i == NGX_OLLA_DMR_RES_SLOTS) {
        r = ngx_olla_dmr_res_slot(sh);
        ngx_olla_dmr_res_fill(r, hash, mode, (char *) norm->data, norm->len,
                              state, NGX_OLLA_DMR_RES_TRAFFIC);
        r->last = (ngx_atomic_uint_t) now;
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


/*
 * A running-models answer replaces the slots; the gateway's own marks
 * made since the read began stay (the answer may predate them).
 */

void
ngx_olla_dmr_res_set(ngx_olla_dmr_main_conf_t *omcf,
    ngx_olla_dmr_endpoint_t *ep, olla_ps_list_t *list, time_t since)
{
    time_t                 now;
    uint64_t               hash;
    ngx_uint_t             i, j, n;
    olla_ps_entry_t       *e;
    ngx_olla_dmr_res_t     keep[NGX_OLLA_DMR_RES_SLOTS], *r;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;
    now = ngx_time();

    ngx_shmtx_lock(&omcf->shpool->mutex);

    n = 0;

    for (i = 0; i < NGX_OLLA_DMR_RES_SLOTS; i++) {
        r = &sh->res[i];

        if (r->hash && r->from == NGX_OLLA_DMR_RES_TRAFFIC
            && (time_t) r->last >= since)
        {
            keep[n++] = *r;
        }
    }

    ngx_memzero(sh->res, sizeof(sh->res));

    /* the answer first: loads in progress and models in use lead */

    j = 0;

    for (i = 0; i < list->n && j < NGX_OLLA_DMR_RES_SLOTS; i++) {
        e = &list->items[i];
        hash = olla_pick_hash(OLLA_PICK_HASH_INIT, e->norm, e->norm_len);

        r = &sh->res[j++];

        ngx_olla_dmr_res_fill(r, hash, e->mode, e->norm, e->norm_len,
                              e->loading ? OLLA_RES_LOADING
                                         : OLLA_RES_RESIDENT,
                              NGX_OLLA_DMR_RES_PROBE);

        r->in_use = e->in_use;
        r->last = (ngx_atomic_uint_t) (e->last_used ? e->last_used : now);
    }

    for (i = 0; i < n && j < NGX_OLLA_DMR_RES_SLOTS; i++) {
        for (r = sh->res; r < sh->res + j; r++) {
            if (r->hash == keep[i].hash && r->mode == keep[i].mode) {
                break;
            }
        }

        if (r == sh->res + j) {
            sh->res[j++] = keep[i];
        }
    }

    sh->res_time = now;
    sh->res_reason[0] = '\0';
    sh->res_known = 1;

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


/* the running models could not be read: 1 when that is news */

ngx_uint_t
ngx_olla_dmr_res_unknown(ngx_olla_dmr_endpoint_t *ep, const char *reason)
{
    size_t                 len;
    ngx_uint_t             news;
    ngx_olla_dmr_ep_sh_t  *sh;

    sh = ep->sh;

    len = ngx_min(ngx_strlen(reason), sizeof(sh->res_reason) - 1);

    news = sh->res_known
           || ngx_strncmp(sh->res_reason, reason, len) != 0
           || sh->res_reason[len] != '\0';

    ngx_memcpy(sh->res_reason, reason, len);
    sh->res_reason[len] = '\0';
    sh->res_time = ngx_time();
    sh->res_known = 0;

    return news;
}


/* response ids: set, get, delete, under the mutex */

void
ngx_olla_dmr_rid_set(ngx_olla_dmr_main_conf_t *omcf, uint64_t hash,
    uint32_t ep)
{
    time_t               now;
    ngx_uint_t           i, k;
    ngx_olla_dmr_rid_t  *r, *victim;

    now = ngx_time();
    victim = NULL;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (i = 0; i < NGX_OLLA_DMR_RID_PROBES; i++) {
        k = (hash + i) % NGX_OLLA_DMR_RIDS;
        r = &omcf->sh->rids[k];

        if (r->hash == hash) {
            victim = r;
            break;
        }

        if (r->hash == 0 || (time_t) r->expires <= now) {
            if (victim == NULL || victim->hash != 0) {
                victim = r;
            }

            continue;
        }

        if (victim == NULL
            || (victim->hash != 0 && r->expires < victim->expires))
        {
            /* all taken: the one that expires first makes room */
            victim = r;
        }
    }

    victim->hash = hash;
    victim->ep = ep;
    victim->expires = (uint32_t) (now + NGX_OLLA_DMR_RID_TTL);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "olla: response %016uxL on endpoint %uD, slot %ui",
                   hash, ep, (ngx_uint_t) (victim - omcf->sh->rids));

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}


ngx_int_t
ngx_olla_dmr_rid_get(ngx_olla_dmr_main_conf_t *omcf, uint64_t hash,
    uint32_t *ep)
{
    time_t               now;
    ngx_int_t            rc;
    ngx_uint_t           i;
    ngx_olla_dmr_rid_t  *r;

    now = ngx_time();
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (i = 0; i < NGX_OLLA_DMR_RID_PROBES; i++) {
        r = &omcf->sh->rids[(hash + i) % NGX_OLLA_DMR_RIDS];

        if (r->hash == hash && (time_t) r->expires > now) {
            *ep = r->ep;
            rc = NGX_OK;
            break;
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);

    return rc;
}


void
ngx_olla_dmr_rid_delete(ngx_olla_dmr_main_conf_t *omcf, uint64_t hash)
{
    ngx_uint_t           i;
    ngx_olla_dmr_rid_t  *r;

    ngx_shmtx_lock(&omcf->shpool->mutex);

    for (i = 0; i < NGX_OLLA_DMR_RID_PROBES; i++) {
        r = &omcf->sh->rids[(hash + i) % NGX_OLLA_DMR_RIDS];

        if (r->hash == hash) {
            r->hash = 0;
            r->expires = 0;
        }
    }

    ngx_shmtx_unlock(&omcf->shpool->mutex);
}
