/*
 * ck_test.h: helpers shared by the libck unit tests (tests/unit/common/):
 * temporary directories removed on teardown and CHRONIK_* environment
 * cleanup, so a developer's shell settings cannot change a result.
 * Not for: anything a production binary links.
 */
#ifndef CK_TEST_H
#define CK_TEST_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static inline int ck_test_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes DIR and everything below it. */
static inline void ck_test_rmtree(const char *dir)
{
	if (dir && dir[0])
		(void)nftw(dir, ck_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* One directory per test binary, made and removed by the parent process
 * (an unchecked fixture), so it goes away even when a forked test fails
 * before its own teardown. */
static char ck_test_root[64];

static inline void ck_test_root_setup(void)
{
	snprintf(ck_test_root, sizeof(ck_test_root), "/tmp/ck-test-XXXXXX");
	if (!mkdtemp(ck_test_root)) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static inline void ck_test_root_teardown(void)
{
	ck_test_rmtree(ck_test_root);
	ck_test_root[0] = '\0';
}

/* Creates a fresh directory into BUF (at least 128 bytes), under the
 * binary's root directory when there is one. */
static inline void ck_test_mkdtemp(char *buf, size_t len, const char *tag)
{
	if (ck_test_root[0])
		snprintf(buf, len, "%s/%s-XXXXXX", ck_test_root, tag);
	else
		snprintf(buf, len, "/tmp/ck-test-%s-XXXXXX", tag);
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

/* Adds the root-directory fixture to TC. */
static inline void ck_test_add_root(TCase *tc)
{
	tcase_add_unchecked_fixture(tc, ck_test_root_setup, ck_test_root_teardown);
}

/* Unsets every CHRONIK_* variable. */
static inline void ck_test_env_clear(void)
{
	for (;;) {
		char name[256];
		char **e;

		for (e = environ; *e && strncmp(*e, "CHRONIK_", 8); e++)
			;
		if (!*e)
			return;
		size_t n = strcspn(*e, "=");
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, *e, n);
		name[n] = '\0';
		ck_assert_int_eq(unsetenv(name), 0);
	}
}

/* Runs SUITE and returns the process exit status. */
static inline int ck_test_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
