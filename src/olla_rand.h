
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * The translators' ids: random numbers from splitmix64, seeded from
 * /dev/urandom, the clock and the pid, and seeded again in a child of
 * fork(), so nginx workers forked from one master do not repeat each
 * other's ids.  Each translator keeps its own generator; a fixed seed
 * makes its sequence fixed (tests).  No nginx headers.
 */


#ifndef _OLLA_RAND_H_INCLUDED_
#define _OLLA_RAND_H_INCLUDED_


#include <stdint.h>


typedef struct {
    uint64_t        state;
    int             fixed;    /* a sequence set by olla_rand_seed() */
    unsigned long   epoch;    /* the process that seeded it (olla_rand.c),
                                 0: none */
} olla_rand_t;


#define OLLA_RAND_INIT  { 0, 0, 0 }


/* seed != 0: a fixed sequence from it; 0: random again */
void olla_rand_seed(olla_rand_t *r, unsigned long long seed);

/*
 * Before the draws of one id: seeds the generator when this process has
 * not (a fork() is noted by a pthread_atfork() handler: no system call
 * once it is seeded).
 */
void olla_rand_begin(olla_rand_t *r);

uint64_t olla_rand_next(olla_rand_t *r);


#endif /* _OLLA_RAND_H_INCLUDED_ */
