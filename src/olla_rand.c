
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * Random numbers for ids (see olla_rand.h).
 */


#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "olla_rand.h"


/*
 * Which process this is: 1 at first, one more in each child of a fork()
 * (pthread_atfork(), registered before the first seed), so a generator
 * knows it was seeded in another process without a getpid() system call
 * an id.
 */

static volatile unsigned long  olla_rand_epoch = 1;
static pthread_once_t          olla_rand_once = PTHREAD_ONCE_INIT;


static void
olla_rand_forked(void)
{
    olla_rand_epoch++;
}


static void
olla_rand_watch(void)
{
    (void) pthread_atfork(NULL, NULL, olla_rand_forked);
}


void
olla_rand_seed(olla_rand_t *r, unsigned long long seed)
{
    if (seed == 0) {
        r->fixed = 0;
        r->epoch = 0;
        return;
    }

    r->state = (uint64_t) seed;
    r->fixed = 1;
}


void
olla_rand_begin(olla_rand_t *r)
{
    long       pid;
    FILE      *f;
    uint64_t   seed;

    if (r->fixed || r->epoch == olla_rand_epoch) {
        return;
    }

    /* from now on a fork() is seen */
    (void) pthread_once(&olla_rand_once, olla_rand_watch);

    pid = (long) getpid();
    seed = 0;

    f = fopen("/dev/urandom", "rb");
    if (f != NULL) {
        if (fread(&seed, sizeof(seed), 1, f) != 1) {
            seed = 0;
        }

        fclose(f);
    }

    seed ^= (uint64_t) time(NULL) * 0x9e3779b97f4a7c15ULL;
    seed ^= (uint64_t) clock() << 20;
    seed ^= (uint64_t) pid << 40;
    seed ^= (uint64_t) (uintptr_t) &seed;

    r->state ^= seed;
    r->epoch = olla_rand_epoch;
}


/* splitmix64 */

uint64_t
olla_rand_next(olla_rand_t *r)
{
    uint64_t  z;

    r->state += 0x9e3779b97f4a7c15ULL;
    z = r->state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}
