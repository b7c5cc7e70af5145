
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Model names and model lists: DMR name normalisation, the {"data":[...]}
 * list a backend reports, a packed form of it for shared memory, and small
 * string rules (request ids, header values).  No nginx headers.
 */


#ifndef _OLLA_MODEL_H_INCLUDED_
#define _OLLA_MODEL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OLLA_MODEL_MAX_LIST    4096     /* models kept per endpoint */
#define OLLA_MODEL_MAX_ID      512      /* longer ids are skipped */


/*
 * DMR's rules, case-insensitive: trimmed, lower-cased, "hf.co/" is
 * "huggingface.co/", a name without "/" gets the "ai/" namespace, a name
 * without a tag (":" after the last "/") gets ":latest".
 *   "smollm2" -> "ai/smollm2:latest", "AI/SmolLM2" -> "ai/smollm2:latest"
 * Writes at most cap - 1 bytes and a NUL; returns the full length.
 */
size_t olla_model_normalise(const char *in, size_t len, char *out,
    size_t cap);


/*
 * One model of a list.  Besides its names and the numbers the lists read
 * (created, context window) the model keeps its own JSON object, as the
 * endpoint listed it, in a compact binary form (rec): known keys and
 * common values are one byte, numbers are varints, the id is not written
 * twice.  It renders back to the exact compact JSON jansson writes
 * (json_dumps(JSON_COMPACT)), so a list "as the endpoint lists it" reads
 * the same as the raw object would.  An object whose form is larger than
 * OLLA_MODEL_MAX_REC keeps only the keys the form knows (flag
 * OLLA_MODEL_REDUCED), and if that is still too large only its top-level
 * id, object, created and owned_by.
 */

#define OLLA_MODEL_MAX_REC     1024     /* a model's object, compact form */

#define OLLA_MODEL_REDUCED     0x01     /* unknown keys were left out */
#define OLLA_MODEL_MINIMAL     0x02     /* only id, object, created, owner */

typedef struct {
    char          *id;            /* as the backend listed it */
    size_t         id_len;
    char          *norm;          /* normalised */
    size_t         norm_len;
    char          *json;          /* the model object, compact JSON */
    size_t         json_len;
    unsigned char *rec;           /* its packed record (see below) */
    size_t         rec_len;
    int64_t        created;       /* "created", 0 when absent */
    uint32_t       context_window;   /* tokens, 0 when not listed */
    unsigned       flags;         /* OLLA_MODEL_REDUCED ... */
} olla_model_t;


typedef struct {
    olla_model_t  *items;
    size_t         n;
} olla_model_list_t;


/*
 * Parses a backend's model list: a JSON object whose "data" is an array
 * (empty is fine).  Entries without a string "id" are skipped.  An entry's
 * context window is read from "context_window", "dmr.context_window"
 * (DMR), "meta.n_ctx_train" (llama-server) or "max_model_len" (vLLM),
 * the first that is a positive integer.  Returns 0,
 * or -1 with err set when the body is not such an object.
 */
int olla_models_parse(const char *body, size_t len, olla_model_list_t *list,
    char *err, size_t errlen);
void olla_models_free(olla_model_list_t *list);


/*
 * The packed form, safe to copy into shared memory (numbers in host
 * order, no alignment needed):
 *
 *   u32 n
 *   u32 hash[n]     olla_model_hash() of each normalised name (lookups)
 *   records         in list order, each a varint length and:
 *     u8 flags, varint id_len, id, varint zigzag(created),
 *     varint context_window, the object's compact form
 *
 * The normalised name is not stored: it is the id's, computed where a
 * hash matches.  Every read of a blob is bounds-checked: a corrupted or
 * truncated blob yields fewer models, never a read outside it.
 */
size_t olla_models_pack_size(const olla_model_list_t *list);
void olla_models_pack(const olla_model_list_t *list, unsigned char *dst);

typedef struct {
    const char           *id;
    size_t                id_len;
    const unsigned char  *obj;        /* the object's compact form */
    size_t                obj_len;
    int64_t               created;
    uint32_t              context_window;
    unsigned              flags;
} olla_model_ref_t;

/* the number of records a blob says it holds (0: not well-formed) */
size_t olla_models_count(const unsigned char *blob, size_t len);
/*
 * iterate: pos starts at 0 (an offset into the records); returns 1 with
 * *m filled, 0 at the end or at a record that is not well-formed
 */
int olla_models_next(const unsigned char *blob, size_t len, size_t *pos,
    olla_model_ref_t *m);
/* 1 if a record's normalised name equals norm */
int olla_models_has(const unsigned char *blob, size_t len, const char *norm,
    size_t norm_len);

/*
 * The model's object as compact JSON: writes at most cap bytes (no NUL)
 * and returns the full length, or 0 when the record is corrupted.
 */
size_t olla_model_json(const olla_model_ref_t *m, char *out, size_t cap);

/* the hash of the lookups (FNV-1a, 32 bits) */
uint32_t olla_model_hash(const char *norm, size_t len);


/* owner of a DMR id for listings: the namespace before "/", else "docker" */
size_t olla_model_owner(const char *id, size_t len, const char **owner);

/*
 * A header-safe copy: visible ASCII (0x21-0x7e) and spaces between words
 * only, at most cap - 1 bytes, NUL-terminated; returns the length written.
 */
size_t olla_header_value(const char *in, size_t len, char *out, size_t cap);

/* a client-supplied request id is echoed when 1-128 bytes of 0x21-0x7e */
int olla_request_id_valid(const char *p, size_t len);


#endif /* _OLLA_MODEL_H_INCLUDED_ */
