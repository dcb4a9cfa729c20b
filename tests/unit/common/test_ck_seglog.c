/*
 * test_ck_seglog.c: unit tests of common/ck_seglog.c: record batches read
 * for a follower's fetch and leader epochs found in segment files.
 *
 * A log of two segments written here, without index files (lookups scan):
 *   segment 0:  offsets 0-2 epoch 0, 3-4 epoch 0, 5-9 epoch 2
 *   segment 10: offsets 10-11 epoch 2, 12-14 epoch 5, 15 epoch 7
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_seglog.h"
#include "ck_segment.h"
#include "ck_testlib.h"

typedef struct {
	int64_t base;
	int n;
	int32_t epoch;
} t_batch_t;

static const t_batch_t T_SEG0[] = {{0, 3, 0}, {3, 2, 0}, {5, 5, 2}};
static const t_batch_t T_SEG10[] = {{10, 2, 2}, {12, 3, 5}, {15, 1, 7}};

static char data_dir[256];
static size_t len_of[16]; /* bytes of the batch starting at each offset */

static void t_segment(const char *dir, int64_t base, const t_batch_t *b, size_t n)
{
	ck_buf_t log = CK_BUF_INIT;
	char path[512];

	for (size_t i = 0; i < n; i++) {
		ck_batch_opts_t o = CK_BATCH_OPTS_INIT;
		ck_batch_record_t recs[8];
		size_t len;

		memset(recs, 0, sizeof(recs));
		for (int k = 0; k < b[i].n; k++) {
			recs[k].value = "v";
			recs[k].value_len = 1;
			recs[k].timestamp_ms = 1000 + k;
		}
		o.base_offset = b[i].base;
		o.partition_leader_epoch = b[i].epoch;
		ck_assert_int_eq(ck_batch_build(&log, &o, recs, (size_t)b[i].n, &len), 0);
		len_of[b[i].base] = len;
	}
	ck_assert_int_eq(ck_segment_path(path, sizeof(path), dir, base, CK_SEGMENT_FILE_LOG), 0);
	ck_test_write_file(path, log.data, log.len);
	ck_buf_free(&log);
}

static void setup(void)
{
	char dir[512];

	ck_test_mkdtemp(data_dir, sizeof(data_dir), "replseg");
	ck_assert_int_eq(ck_segment_log_dir(dir, sizeof(dir), data_dir, "t", 0), 0);
	ck_assert_int_eq(ck_mkdirs(dir, 0755), 0);
	t_segment(dir, 0, T_SEG0, CK_ARRAY_LEN(T_SEG0));
	t_segment(dir, 10, T_SEG10, CK_ARRAY_LEN(T_SEG10));
}

static void teardown(void)
{
	(void)ck_test_rmtree(data_dir);
}

static int64_t epoch_end(int64_t start, int32_t epoch)
{
	int64_t end = -2;

	ck_assert_int_eq(ck_seglog_epoch_end(data_dir, "t", 0, start, 16, epoch, &end), 0);
	return end;
}

START_TEST(test_epoch_end)
{
	/* The base offset of the first batch of a greater epoch, or the end. */
	ck_assert_int_eq(epoch_end(0, -1), 0);
	ck_assert_int_eq(epoch_end(0, 0), 5);
	ck_assert_int_eq(epoch_end(0, 1), 5);
	ck_assert_int_eq(epoch_end(0, 2), 12); /* across the segment boundary */
	ck_assert_int_eq(epoch_end(0, 3), 12);
	ck_assert_int_eq(epoch_end(0, 4), 12);
	ck_assert_int_eq(epoch_end(0, 5), 15);
	ck_assert_int_eq(epoch_end(0, 6), 15);
	ck_assert_int_eq(epoch_end(0, 7), 16);
	ck_assert_int_eq(epoch_end(0, 100), 16);
	/* A log start after retention. */
	ck_assert_int_eq(epoch_end(3, 0), 5);
	ck_assert_int_eq(epoch_end(10, 2), 12);
	ck_assert_int_eq(epoch_end(12, 5), 15);
}
END_TEST

START_TEST(test_batch_at)
{
	int32_t epoch = -9;
	int64_t base = -9, last = -9;

	ck_assert_int_eq(ck_seglog_batch_at(data_dir, "t", 0, 4, &epoch, &base, &last), 1);
	ck_assert_int_eq(epoch, 0);
	ck_assert_int_eq(base, 3);
	ck_assert_int_eq(last, 4);
	ck_assert_int_eq(ck_seglog_batch_at(data_dir, "t", 0, 11, &epoch, &base, &last), 1);
	ck_assert_int_eq(epoch, 2);
	ck_assert_int_eq(base, 10);
	ck_assert_int_eq(last, 11);
	ck_assert_int_eq(ck_seglog_batch_at(data_dir, "t", 0, 15, &epoch, &base, &last), 1);
	ck_assert_int_eq(epoch, 7);
	ck_assert_int_eq(ck_seglog_batch_at(data_dir, "t", 0, 16, &epoch, &base, &last), 0);
	/* No such log. */
	ck_assert_int_lt(ck_seglog_batch_at(data_dir, "u", 0, 0, &epoch, &base, &last), 0);
}
END_TEST

static int64_t t_read(int64_t offset, int64_t end, size_t max, ck_buf_t *out)
{
	ck_buf_reset(out);
	return ck_seglog_read(data_dir, "t", 0, offset, end, max, out);
}

START_TEST(test_read)
{
	ck_buf_t out = CK_BUF_INIT;
	ck_batch_header_t h;

	/* At least one whole batch, from the one holding the offset. */
	ck_assert_int_eq(t_read(4, 16, 1, &out), (int64_t)len_of[3]);
	ck_assert_int_eq(ck_batch_header_parse(out.data, out.len, &h), 0);
	ck_assert_int_eq(h.base_offset, 3);
	/* One segment per read; END leaves out the batches reaching it. */
	ck_assert_int_eq(t_read(0, 16, 1 << 20, &out),
	                 (int64_t)(len_of[0] + len_of[3] + len_of[5]));
	ck_assert_int_eq(t_read(0, 5, 1 << 20, &out), (int64_t)(len_of[0] + len_of[3]));
	ck_assert_int_eq(t_read(10, 16, 1 << 20, &out),
	                 (int64_t)(len_of[10] + len_of[12] + len_of[15]));
	ck_assert_int_eq(t_read(12, 15, 1 << 20, &out), (int64_t)len_of[12]);
	/* Nothing below END. */
	ck_assert_int_eq(t_read(12, 12, 1 << 20, &out), 0);
	ck_assert_int_eq(t_read(16, 20, 1 << 20, &out), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_buf_free(&out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ck_seglog");
	TCase *tc = tcase_create("seg");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_epoch_end);
	tcase_add_test(tc, test_batch_at);
	tcase_add_test(tc, test_read);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(suite());
}
