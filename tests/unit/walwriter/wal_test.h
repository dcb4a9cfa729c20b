/*
 * wal_test.h: helpers of the walwriter unit tests (tests/unit/walwriter/)
 * beyond the shared ones in tests/lib/ck_testlib.h (temp dirs, files,
 * running a suite): batch building shortcuts.
 * Test code only; nothing a production binary links.
 */
#ifndef WAL_TEST_H
#define WAL_TEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_batch.h"
#include "ck_buf.h"
#include "ck_testlib.h"

/*
 * Appends one uncompressed batch of NRECS records to OUT: record i has key
 * "k<i>", a value of VALUE_LEN bytes derived from SEED and i, timestamp
 * TS + i. Returns the batch length.
 */
static inline size_t wal_test_batch(ck_buf_t *out, int64_t base_offset, int nrecs, size_t value_len,
                                    unsigned seed, int64_t ts)
{
	ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
	ck_batch_builder_t b;
	char key[32];
	uint8_t *val = malloc(value_len ? value_len : 1);
	size_t len = 0;

	ck_assert_ptr_nonnull(val);
	o.base_offset = base_offset;
	ck_assert_int_eq(ck_batch_builder_begin(&b, out, &o), 0);
	for (int i = 0; i < nrecs; i++) {
		ck_batch_record_t r = {0};
		for (size_t k = 0; k < value_len; k++)
			val[k] = (uint8_t)(seed * 131 + (unsigned)i * 7 + k);
		snprintf(key, sizeof(key), "k%d", i);
		r.key = key;
		r.key_len = strlen(key);
		r.value = val;
		r.value_len = value_len;
		r.timestamp_ms = ts + i;
		ck_assert_int_eq(ck_batch_builder_add(&b, &r), 0);
	}
	ck_assert_int_eq(ck_batch_builder_finish(&b, &len), 0);
	free(val);
	return len;
}

#endif
