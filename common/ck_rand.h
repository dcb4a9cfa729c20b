/*
 * ck_rand.h: a small deterministic PRNG (xoshiro256**) injected into pure
 * cores and simulations so a seed replays a run exactly. Not cryptographic.
 */
#ifndef CK_RAND_H
#define CK_RAND_H

#include <stdint.h>

typedef struct {
	uint64_t s[4];
} ck_rand_t;

/* Seeds the generator (splitmix64 expands SEED into the state). */
void ck_rand_seed(ck_rand_t *r, uint64_t seed);
uint64_t ck_rand_u64(ck_rand_t *r);
/* Uniform in [0, n); n == 0 returns 0. */
uint64_t ck_rand_below(ck_rand_t *r, uint64_t n);
/* A seed from the OS (getrandom, falling back to time and pid). */
uint64_t ck_rand_os_seed(void);

#endif
