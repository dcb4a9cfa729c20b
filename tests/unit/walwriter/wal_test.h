/*
 * wal_test.h: helpers of the walwriter unit tests (tests/unit/walwriter/):
 * temporary directories, small file helpers, batch building shortcuts.
 * Test code only; nothing a production binary links.
 */
#ifndef WAL_TEST_H
#define WAL_TEST_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_buf.h"

static inline int wal_test_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void wal_test_rmtree(const char *dir)
{
	if (dir && dir[0])
		(void)nftw(dir, wal_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* One root directory per test case, made and removed by the parent
 * process (an unchecked fixture), so temp dirs go away even when a forked
 * test fails before its own cleanup. */
static char wal_test_root[64];

static inline void wal_test_root_setup(void)
{
	snprintf(wal_test_root, sizeof(wal_test_root), "/tmp/wal-test-XXXXXX");
	if (!mkdtemp(wal_test_root)) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static inline void wal_test_root_teardown(void)
{
	wal_test_rmtree(wal_test_root);
	wal_test_root[0] = '\0';
}

static inline void wal_test_add_root(TCase *tc)
{
	tcase_add_unchecked_fixture(tc, wal_test_root_setup, wal_test_root_teardown);
}

/* A fresh temp directory in BUF (>= 64 bytes). */
static inline void wal_test_mkdtemp(char *buf, size_t len, const char *tag)
{
	if (wal_test_root[0])
		snprintf(buf, len, "%s/%s-XXXXXX", wal_test_root, tag);
	else
		snprintf(buf, len, "/tmp/wal-test-%s-XXXXXX", tag);
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

static inline void wal_test_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* Reads a whole file into OUT (replacing it). Returns 0 or -errno. */
static inline int wal_test_read_file(const char *path, ck_buf_t *out)
{
	int fd = open(path, O_RDONLY);
	uint8_t tmp[65536];
	ssize_t n;

	if (fd < 0)
		return -errno;
	ck_buf_reset(out);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		ck_assert_int_eq(ck_buf_append(out, tmp, (size_t)n), 0);
	close(fd);
	return 0;
}

static inline off_t wal_test_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

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

static inline int wal_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
