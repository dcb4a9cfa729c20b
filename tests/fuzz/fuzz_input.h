/*
 * fuzz_input.h: reading a fuzzer's input as a program (fuzz_raft.c,
 * fuzz_apply.c): bytes taken one at a time from the front, big-endian
 * numbers of N bytes, and zeros once the input is exhausted, so that every
 * input is a complete program.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	const uint8_t *p;
	size_t len;
} rd_t;

static inline uint8_t u8(rd_t *r)
{
	uint8_t v = 0;

	if (r->len) {
		v = *r->p++;
		r->len--;
	}
	return v;
}

/* N (<= 8) bytes, big-endian. */
static inline uint64_t un(rd_t *r, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | u8(r);
	return v;
}

#endif
