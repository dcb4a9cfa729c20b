/*
 * test_ck_lmdb.c: unit tests of the LMDB helpers (common/ck_lmdb.h):
 * opening (and creating) an environment, named databases, put/get/del,
 * not found, values larger than the caller's buffer, oversized and empty
 * keys, persistence across reopen, read-only opens and a full map.
 */
#include <errno.h>
#include <sys/stat.h>

#include "ck_err.h"
#include "ck_lmdb.h"
#include "ck_testlib.h"

static char tmpdir[128];
static char envdir[256];
static MDB_env *env;
static MDB_dbi dbi;

static void setup(void)
{
	ck_test_mkdtemp(tmpdir, sizeof(tmpdir), "lmdb");
	/* Two levels that do not exist yet. */
	snprintf(envdir, sizeof(envdir), "%s/data/meta", tmpdir);
	ck_assert_int_eq(ck_lmdb_open(envdir, MDB_NOMETASYNC, 4, 0, &env), 0);
	ck_assert_int_eq(ck_lmdb_dbi(env, "offsets", &dbi), 0);
}

static void teardown(void)
{
	if (env)
		mdb_env_close(env);
	env = NULL;
}

START_TEST(test_put_get_del)
{
	char val[64];
	size_t len = 0;

	ck_assert_int_eq(ck_lmdb_put(env, dbi, "orders-0", 8, "hw=42", 5), 0);
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "orders-0", 8, val, sizeof(val), &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(val, "hw=42", 5);
	/* Overwrite. */
	ck_assert_int_eq(ck_lmdb_put(env, dbi, "orders-0", 8, "hw=1000", 7), 0);
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "orders-0", 8, val, sizeof(val), &len), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_mem_eq(val, "hw=1000", 7);
	/* An empty value is a value. */
	ck_assert_int_eq(ck_lmdb_put(env, dbi, "empty", 5, "", 0), 0);
	len = 99;
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "empty", 5, val, sizeof(val), &len), 0);
	ck_assert_uint_eq(len, 0);
	/* Delete, then it is gone. */
	ck_assert_int_eq(ck_lmdb_del(env, dbi, "orders-0", 8), 0);
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "orders-0", 8, val, sizeof(val), &len),
			 CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_lmdb_del(env, dbi, "orders-0", 8), CK_E_NOT_FOUND);
	/* Keys are bytes, not strings: a prefix is another key. */
	ck_assert_int_eq(ck_lmdb_put(env, dbi, "ab\0c", 4, "1", 1), 0);
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "ab", 2, val, sizeof(val), &len), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "ab\0c", 4, val, sizeof(val), &len), 0);
}
END_TEST

START_TEST(test_named_databases_are_separate)
{
	MDB_dbi other;
	char val[8];
	size_t len;

	ck_assert_int_eq(ck_lmdb_dbi(env, "brokers", &other), 0);
	ck_assert_uint_ne(other, dbi);
	ck_assert_int_eq(ck_lmdb_put(env, other, "k", 1, "b", 1), 0);
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "k", 1, val, sizeof(val), &len), CK_E_NOT_FOUND);
	ck_assert_int_eq(ck_lmdb_get(env, other, "k", 1, val, sizeof(val), &len), 0);
	ck_assert_int_eq(val[0], 'b');
	/* Opening the same name again gives the same handle. */
	MDB_dbi again;
	ck_assert_int_eq(ck_lmdb_dbi(env, "brokers", &again), 0);
	ck_assert_uint_eq(again, other);
}
END_TEST

START_TEST(test_too_large)
{
	char big[1000], val[16];
	size_t len = 0;

	memset(big, 'v', sizeof(big));
	ck_assert_int_eq(ck_lmdb_put(env, dbi, "k", 1, big, sizeof(big)), 0);
	/* The caller's buffer is too small: the stored size is reported. */
	memset(val, 0, sizeof(val));
	ck_assert_int_eq(ck_lmdb_get(env, dbi, "k", 1, val, sizeof(val), &len), CK_E_TOO_LARGE);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert_int_eq(val[0], 0);
	/* Keys beyond LMDB's limit, and empty keys, are refused up front. */
	int max = mdb_env_get_maxkeysize(env);
	char key[2048];
	memset(key, 'k', sizeof(key));
	ck_assert_int_lt(max, (int)sizeof(key));
	ck_assert_int_eq(ck_lmdb_put(env, dbi, key, (size_t)max, "x", 1), 0);
	ck_assert_int_eq(ck_lmdb_put(env, dbi, key, (size_t)max + 1, "x", 1), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_lmdb_get(env, dbi, key, (size_t)max + 1, val, sizeof(val), &len),
			 CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_lmdb_del(env, dbi, key, (size_t)max + 1), CK_E_TOO_LARGE);
	ck_assert_int_eq(ck_lmdb_put(env, dbi, "", 0, "x", 1), CK_E_INVALID);
}
END_TEST

START_TEST(test_persists_and_read_only)
{
	MDB_env *ro;
	MDB_dbi rodbi;
	char val[16];
	size_t len;

	ck_assert_int_eq(ck_lmdb_put(env, dbi, "applied_index", 13, "\x07", 1), 0);
	mdb_env_close(env);
	env = NULL;
	ck_assert_int_eq(ck_lmdb_open(envdir, MDB_RDONLY, 4, 0, &ro), 0);
	ck_assert_int_eq(ck_lmdb_dbi(ro, "offsets", &rodbi), 0);
	ck_assert_int_eq(ck_lmdb_get(ro, rodbi, "applied_index", 13, val, sizeof(val), &len), 0);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(val[0], 7);
	/* A read-only environment refuses writes and unknown databases. */
	ck_assert_int_eq(ck_lmdb_put(ro, rodbi, "x", 1, "y", 1), -EACCES);
	ck_assert_int_eq(ck_lmdb_dbi(ro, "never-created", &rodbi), CK_E_NOT_FOUND);
	mdb_env_close(ro);
}
END_TEST

START_TEST(test_open_errors)
{
	char path[300];
	MDB_env *e = NULL;
	FILE *f;

	/* A read-only open of a missing directory fails and creates nothing. */
	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	ck_assert_int_eq(ck_lmdb_open(path, MDB_RDONLY, 1, 0, &e), -ENOENT);
	ck_assert_ptr_null(e);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), -1);
	/* A regular file where the directory should be. */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(ck_lmdb_open(path, 0, 1, 0, &e), -ENOTDIR);
	ck_assert_ptr_null(e);
	/* Too many named databases. */
	MDB_dbi d;
	ck_assert_int_eq(ck_lmdb_dbi(env, "a", &d), 0);
	ck_assert_int_eq(ck_lmdb_dbi(env, "b", &d), 0);
	ck_assert_int_eq(ck_lmdb_dbi(env, "c", &d), 0);
	ck_assert_int_eq(ck_lmdb_dbi(env, "d", &d), MDB_DBS_FULL);
	ck_assert_str_eq(ck_strerror(MDB_DBS_FULL), mdb_strerror(MDB_DBS_FULL));
}
END_TEST

START_TEST(test_map_full)
{
	char path[300], val[4000], key[16];
	MDB_env *small;
	MDB_dbi d;
	int r = 0, i;

	snprintf(path, sizeof(path), "%s/small", tmpdir);
	ck_assert_int_eq(ck_lmdb_open(path, 0, 1, 256 << 10, &small), 0);
	ck_assert_int_eq(ck_lmdb_dbi(small, "x", &d), 0);
	memset(val, 'z', sizeof(val));
	for (i = 0; i < 1000 && r == 0; i++) {
		snprintf(key, sizeof(key), "%08d", i);
		r = ck_lmdb_put(small, d, key, 8, val, sizeof(val));
	}
	ck_assert_int_eq(r, MDB_MAP_FULL);
	ck_assert_int_gt(i, 10);
	/* Earlier writes are intact. */
	size_t len;
	ck_assert_int_eq(ck_lmdb_get(small, d, "00000000", 8, val, sizeof(val), &len), 0);
	ck_assert_uint_eq(len, sizeof(val));
	mdb_env_close(small);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_lmdb");
	TCase *tc = tcase_create("lmdb");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_get_del);
	tcase_add_test(tc, test_named_databases_are_separate);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_persists_and_read_only);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_map_full);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
