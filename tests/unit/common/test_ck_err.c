/*
 * test_ck_err.c: unit tests of ck_strerror() and the exit codes
 * (common/ck_err.h): every CK_E_* code has its own text, errno and LMDB
 * codes are named by their owners, unknown codes say so.
 */
#include <errno.h>
#include <lmdb.h>
#include <signal.h>

#include "ck_err.h"
#include "ck_testlib.h"

START_TEST(test_every_code_has_text)
{
	for (int e = CK_E_FIRST; e >= CK_E_LAST; e--) {
		const char *t = ck_strerror(e);
		ck_assert_ptr_nonnull(t);
		ck_assert_msg(t[0] != '\0', "code %d has empty text", e);
		ck_assert_msg(!strstr(t, "unknown"), "code %d is unknown: %s", e, t);
		for (int o = CK_E_FIRST; o > e; o--)
			ck_assert_msg(strcmp(t, ck_strerror(o)), "codes %d and %d share \"%s\"", e,
				      o, t);
	}
	ck_assert_str_eq(ck_strerror(CK_E_TIMEOUT), "timed out");
	ck_assert_str_eq(ck_strerror(CK_E_COLLISION), "name collides with another");
	ck_assert_str_eq(ck_strerror(CK_E_SEQUENCE), "producer sequence out of order");
	ck_assert_str_eq(ck_strerror(CK_E_FENCED), "producer epoch fenced");
	ck_assert_str_eq(ck_strerror(CK_E_STALE), "proposed from a stale view");
	ck_assert_str_eq(ck_strerror(CK_E_CORRUPT), "corrupt data");
}
END_TEST

START_TEST(test_errno_and_mdb)
{
	char expect[128];

	ck_assert_str_eq(ck_strerror(0), "success");
	ck_assert_str_eq(ck_strerror(5), "success");
	snprintf(expect, sizeof(expect), "%s", strerror(ENOENT));
	ck_assert_str_eq(ck_strerror(-ENOENT), expect);
	snprintf(expect, sizeof(expect), "%s", strerror(EPIPE));
	ck_assert_str_eq(ck_strerror(-EPIPE), expect);
	ck_assert_str_eq(ck_strerror(MDB_NOTFOUND), mdb_strerror(MDB_NOTFOUND));
	ck_assert_str_eq(ck_strerror(MDB_MAP_FULL), mdb_strerror(MDB_MAP_FULL));
	ck_assert_str_eq(ck_strerror(MDB_KEYEXIST), mdb_strerror(MDB_KEYEXIST));
	ck_assert_str_eq(ck_strerror(MDB_LAST_ERRCODE), mdb_strerror(MDB_LAST_ERRCODE));
}
END_TEST

START_TEST(test_unknown_codes)
{
	ck_assert_str_eq(ck_strerror(-5000), "unknown error -5000");
	ck_assert_str_eq(ck_strerror(CK_E_LAST - 1), "unknown error -10018");
	ck_assert_str_eq(ck_strerror(CK_E_FIRST + 1), "unknown error -9999");
	ck_assert_str_eq(ck_strerror(-40000), "unknown error -40000");
}
END_TEST

START_TEST(test_exit_codes)
{
	ck_assert_int_eq(CK_EXIT_STOPPED, 0);
	ck_assert_int_eq(CK_EXIT_RESTART, 1);
	ck_assert_int_eq(CK_EXIT_FATAL, 2);
}
END_TEST

START_TEST(test_assert_aborts)
{
	CK_ASSERT(1 + 1 == 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_err");
	TCase *tc = tcase_create("err");

	tcase_add_test(tc, test_every_code_has_text);
	tcase_add_test(tc, test_errno_and_mdb);
	tcase_add_test(tc, test_unknown_codes);
	tcase_add_test(tc, test_exit_codes);
	tcase_add_test_raise_signal(tc, test_assert_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
