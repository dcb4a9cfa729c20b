/*
 * test_ck_fs.c: unit tests of the file-system helpers (common/ck_fs.h):
 * mkdir -p and its errors, directory fsync, the directory part of a path,
 * atomic replacement of a file (contents, mode, no temporary left behind,
 * failures that leave the old file alone), reading small files, and the
 * data dir's id (common/ck_dataid.h: drawn once, kept, redrawn when torn).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_dataid.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_testlib.h"

static char tmpdir[128];

static void setup(void)
{
	(void)umask(022);
	ck_test_mkdtemp(tmpdir, sizeof(tmpdir), "fs");
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

START_TEST(test_mkdirs)
{
	char path[512], file[512], deep[PATH_MAX + 8];
	struct stat st;

	snprintf(path, sizeof(path), "%s/a/b/c", tmpdir);
	ck_assert_int_eq(ck_mkdirs(path, 0750), 0);
	ck_assert(is_dir(path));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0750);
	/* Existing directories are fine, trailing slash too. */
	ck_assert_int_eq(ck_mkdirs(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a/b/", tmpdir);
	ck_assert_int_eq(ck_mkdirs(path, 0755), 0);
	/* A file in the way. */
	snprintf(file, sizeof(file), "%s/a/file", tmpdir);
	ck_test_write_file(file, "x", 1);
	snprintf(path, sizeof(path), "%s/a/file/sub", tmpdir);
	ck_assert_int_eq(ck_mkdirs(path, 0755), -ENOTDIR);
	ck_assert_int_eq(ck_mkdirs(file, 0755), -ENOTDIR);
	ck_assert_int_eq(ck_mkdirs("", 0755), -EINVAL);
	memset(deep, 'd', sizeof(deep) - 1);
	deep[0] = '/';
	deep[sizeof(deep) - 1] = '\0';
	ck_assert_int_eq(ck_mkdirs(deep, 0755), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_dir_sync_and_dirname)
{
	char path[512], buf[64];

	ck_assert_int_eq(ck_fs_dir_sync(tmpdir), 0);
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	ck_assert_int_eq(ck_fs_dir_sync(path), -ENOENT);
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	ck_test_write_file(path, "x", 1);
	ck_assert_int_eq(ck_fs_dir_sync(path), -ENOTDIR);

	ck_assert_int_eq(ck_fs_dirname("/var/lib/x.conf", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/var/lib");
	ck_assert_int_eq(ck_fs_dirname("x.conf", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ".");
	ck_assert_int_eq(ck_fs_dirname("/x.conf", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/");
	ck_assert_int_eq(ck_fs_dirname("a/b", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "a");
	ck_assert_int_eq(ck_fs_dirname("", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(ck_fs_dirname("/long/directory/name/f", buf, 8), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_write_atomic)
{
	char path[512], tmp[600], buf[64];
	struct stat st;

	snprintf(path, sizeof(path), "%s/settings", tmpdir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(ck_fs_write_atomic(path, "first", 5, 0640), 0);
	ck_assert_int_eq(ck_fs_read_small(path, buf, sizeof(buf)), 5);
	ck_assert_mem_eq(buf, "first", 5);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640 & ~022);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	/* A crashed write's leftover temporary is simply overwritten. */
	ck_test_write_file(tmp, "garbage from a crash, longer than the rest", 42);
	ck_assert_int_eq(ck_fs_write_atomic(path, "second!", 7, 0640), 0);
	ck_assert_int_eq(ck_fs_read_small(path, buf, sizeof(buf)), 7);
	ck_assert_mem_eq(buf, "second!", 7);
	ck_assert_int_ne(access(tmp, F_OK), 0);
	/* Empty contents are contents. */
	ck_assert_int_eq(ck_fs_write_atomic(path, "", 0, 0640), 0);
	ck_assert_int_eq(ck_fs_read_small(path, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_write_atomic_failures)
{
	char path[512], dir[512], buf[64];

	/* No such directory: nothing is created. */
	snprintf(path, sizeof(path), "%s/nodir/settings", tmpdir);
	ck_assert_int_eq(ck_fs_write_atomic(path, "x", 1, 0644), -ENOENT);
	/* The target is a non-empty directory: the rename fails, the
	 * directory stays and the temporary goes. */
	snprintf(dir, sizeof(dir), "%s/busy", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/busy/inside", tmpdir);
	ck_test_write_file(path, "keep", 4);
	ck_assert_int_lt(ck_fs_write_atomic(dir, "x", 1, 0644), 0);
	ck_assert(is_dir(dir));
	ck_assert_int_eq(ck_fs_read_small(path, buf, sizeof(buf)), 4);
	snprintf(path, sizeof(path), "%s/busy.tmp", tmpdir);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_read_small)
{
	char path[512], buf[8];

	snprintf(path, sizeof(path), "%s/small", tmpdir);
	ck_test_write_file(path, "12345678", 8);
	ck_assert_int_eq(ck_fs_read_small(path, buf, 8), 8);
	ck_assert_mem_eq(buf, "12345678", 8);
	ck_assert_int_eq(ck_fs_read_small(path, buf, 7), -EFBIG);
	ck_test_write_file(path, "", 0);
	ck_assert_int_eq(ck_fs_read_small(path, buf, 8), 0);
	snprintf(path, sizeof(path), "%s/none", tmpdir);
	ck_assert_int_eq(ck_fs_read_small(path, buf, 8), -ENOENT);
	ck_assert_int_eq(ck_fs_read_small(tmpdir, buf, 8), -EISDIR);
}
END_TEST

/* The data id: none in a new dir, drawn once and kept; a torn file is
 * redrawn (a new id is always safe: the broker only leaves its ISRs). */
START_TEST(test_dataid)
{
	char path[512];
	uint64_t id = 7, id2 = 0, id3 = 0;
	bool drawn = false;

	ck_assert_int_eq(ck_dataid_load(tmpdir, &id), 0);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(ck_dataid_ensure(tmpdir, 1, &id, &drawn), 0);
	ck_assert(drawn);
	ck_assert_uint_ne(id, 0);
	ck_assert_int_eq(ck_dataid_load(tmpdir, &id2), 1);
	ck_assert_uint_eq(id2, id);
	ck_assert_int_eq(ck_dataid_ensure(tmpdir, 2, &id2, &drawn), 0);
	ck_assert(!drawn);
	ck_assert_uint_eq(id2, id);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, CK_DATAID_FILE);
	ck_test_write_file(path, "torn", 4);
	ck_assert_int_eq(ck_dataid_load(tmpdir, &id3), CK_E_CORRUPT);
	ck_assert_int_eq(ck_dataid_ensure(tmpdir, 2, &id3, &drawn), 0);
	ck_assert(drawn);
	ck_assert_uint_ne(id3, 0);
	ck_assert_uint_ne(id3, id);
	snprintf(path, sizeof(path), "%s/missing/dir", tmpdir);
	ck_assert_int_eq(ck_dataid_ensure(path, 3, &id3, &drawn), -ENOENT);
}
END_TEST

/* A broker record's id against the one read before: equal matches; 0
 * (unknown here) matches anything; else the file is read again (drawn
 * anew by walwriter since?) and its id taken. */
START_TEST(test_dataid_matches)
{
	uint64_t id = 0, cur, renewed = 0;
	bool drawn;

	ck_assert_int_eq(ck_dataid_ensure(tmpdir, 5, &id, &drawn), 0);
	cur = id;
	ck_assert(ck_dataid_matches(tmpdir, id, &cur));
	ck_assert(!ck_dataid_matches(tmpdir, id + 1, &cur));
	ck_assert_uint_eq(cur, id);
	ck_assert_int_eq(ck_dataid_renew(tmpdir, 6, &renewed), 0);
	ck_assert_uint_ne(renewed, id);
	/* raftd registers the new id: the record differs, the file is read. */
	ck_assert(ck_dataid_matches(tmpdir, renewed, &cur));
	ck_assert_uint_eq(cur, renewed);
	ck_assert(!ck_dataid_matches(tmpdir, id, &cur));
	ck_assert_uint_eq(cur, renewed);
	cur = 0;
	ck_assert(ck_dataid_matches(tmpdir, 12345, &cur));
	ck_assert_uint_eq(cur, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_fs");
	TCase *tc = tcase_create("fs");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_mkdirs);
	tcase_add_test(tc, test_dir_sync_and_dirname);
	tcase_add_test(tc, test_write_atomic);
	tcase_add_test(tc, test_write_atomic_failures);
	tcase_add_test(tc, test_read_small);
	tcase_add_test(tc, test_dataid);
	tcase_add_test(tc, test_dataid_matches);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
