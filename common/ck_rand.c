/* ck_rand.c: xoshiro256** seeded with splitmix64 (ck_rand.h). */
#include "ck_rand.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t ck_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void ck_rand_seed(ck_rand_t *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = ck_splitmix64(&seed);
}

static inline uint64_t ck_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t ck_rand_u64(ck_rand_t *r)
{
	uint64_t *s = r->s;
	uint64_t result = ck_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = ck_rotl(s[3], 45);
	return result;
}

uint64_t ck_rand_below(ck_rand_t *r, uint64_t n)
{
	if (n == 0)
		return 0;
	/* Lemire's nearly-divisionless method would be faster; bias here is
	 * below 2^-32 for the ranges we use, and rejection removes it. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t v;
	do {
		v = ck_rand_u64(r);
	} while (v >= limit);
	return v % n;
}

uint64_t ck_rand_os_seed(void)
{
	uint64_t seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
}
