/*
 * test_raftd_hs.c: unit tests of raftd's hard state file and data-dir
 * lock (raftd/raftd_hs.h): a fresh node has none, save/load round trips and
 * replaces atomically, every kind of damage is CK_E_CORRUPT, and a second
 * process cannot take the lock while the first holds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_testlib.h"
#include "raftd_hs.h"

static char dir[128];

static void setup(void)
{
	ck_test_mkdtemp(dir, sizeof(dir), "hs");
}

START_TEST(test_round_trip)
{
	raft_hard_state_t hs = {0, 0, 0}, got = {9, 9, 9};
	int fd = -1;

	ck_assert_int_eq(raftd_hs_load(dir, &got), 0); /* fresh */
	ck_assert_int_eq(got.term, 9);                 /* untouched */
	ck_assert_int_eq(raftd_hs_lock(dir, &fd), 0);
	hs.term = 0x123456789ULL;
	hs.vote = 3;
	hs.commit = 77;
	ck_assert_int_eq(raftd_hs_save(dir, &hs), 0);
	ck_assert_int_eq(raftd_hs_load(dir, &got), 1);
	ck_assert_uint_eq(got.term, hs.term);
	ck_assert_uint_eq(got.vote, 3);
	ck_assert_uint_eq(got.commit, 77);
	hs.term++;
	hs.vote = 0;
	ck_assert_int_eq(raftd_hs_save(dir, &hs), 0);
	ck_assert_int_eq(raftd_hs_load(dir, &got), 1);
	ck_assert_uint_eq(got.term, 0x12345678aULL);
	ck_assert_uint_eq(got.vote, 0);
	(void)close(fd);
}
END_TEST

static void corrupt_at(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	(void)close(fd);
}

START_TEST(test_damage_is_corrupt)
{
	raft_hard_state_t hs = {5, 1, 10}, got;
	char path[256];
	int fd = -1;

	ck_assert_int_eq(raftd_hs_lock(dir, &fd), 0);
	snprintf(path, sizeof(path), "%s/raft/hardstate", dir);
	/* Magic, version, term, CRC: each flipped bit is caught. */
	static const off_t offs[] = {0, 8, 12, 20, 28, 40, 43};
	for (size_t i = 0; i < CK_ARRAY_LEN(offs); i++) {
		ck_assert_int_eq(raftd_hs_save(dir, &hs), 0);
		corrupt_at(path, offs[i]);
		ck_assert_int_eq(raftd_hs_load(dir, &got), CK_E_CORRUPT);
	}
	/* Short and long files. */
	ck_test_write_file(path, "CKRAFTHS", 8);
	ck_assert_int_eq(raftd_hs_load(dir, &got), CK_E_CORRUPT);
	{
		uint8_t big[64] = {0};
		ck_test_write_file(path, big, sizeof(big));
		ck_assert_int_eq(raftd_hs_load(dir, &got), CK_E_CORRUPT);
	}
	(void)close(fd);
}
END_TEST

START_TEST(test_lock_is_exclusive)
{
	int fd = -1, status = 0;
	pid_t pid;

	ck_assert_int_eq(raftd_hs_lock(dir, &fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd2 = -1;
		_exit(raftd_hs_lock(dir, &fd2) == -EWOULDBLOCK ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(ck_test_exit_code(status), 0);
	(void)close(fd);
	/* Released with the fd: the next process gets it. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd2 = -1;
		_exit(raftd_hs_lock(dir, &fd2) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(ck_test_exit_code(status), 0);
}
END_TEST

static Suite *hs_suite(void)
{
	Suite *s = suite_create("raftd_hs");
	TCase *tc = tcase_create("hs");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_damage_is_corrupt);
	tcase_add_test(tc, test_lock_is_exclusive);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(hs_suite());
}
