/*
 * ck_lmdb.c: opening LMDB environments and one-transaction helpers
 * (ck_lmdb.h).
 *
 * Owned by libck. LMDB reports system errors as positive errno values and
 * its own as MDB_* (negative); everything leaving this file is >= 0 success,
 * -errno, CK_E_* or MDB_*, so ck_strerror() names it. Every helper runs its
 * own transaction: callers that need several operations atomically (raftd's
 * apply) use mdb_txn_* directly.
 * Not for: the meaning of keys (raftd's state schema, offset checkpoints).
 */
#include "ck_lmdb.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ck_err.h"
#include "ck_fs.h"

static int ck_lmdb_err(int rc)
{
	if (rc > 0)
		return -rc;
	if (rc == MDB_NOTFOUND)
		return CK_E_NOT_FOUND;
	return rc;
}

int ck_lmdb_open(const char *dir, unsigned int flags, unsigned int max_dbs, size_t map_size,
		 MDB_env **ret_env)
{
	MDB_env *env = NULL;
	int r;

	if (!(flags & MDB_RDONLY)) {
		r = ck_mkdirs(dir, 0755);
		if (r < 0)
			return r;
	}
	r = ck_lmdb_err(mdb_env_create(&env));
	if (r < 0)
		return r;
	r = ck_lmdb_err(mdb_env_set_maxdbs(env, max_dbs));
	if (r < 0)
		goto out;
	r = ck_lmdb_err(mdb_env_set_mapsize(env, map_size ? map_size : CK_LMDB_MAP_SIZE_DEFAULT));
	if (r < 0)
		goto out;
	r = ck_lmdb_err(mdb_env_open(env, dir, flags, 0644));
	if (r < 0)
		goto out;
	*ret_env = env;
	env = NULL;
out:
	if (env)
		mdb_env_close(env);
	return r;
}

int ck_lmdb_dbi(MDB_env *env, const char *name, MDB_dbi *ret_dbi)
{
	unsigned int env_flags = 0;
	MDB_txn *txn;
	MDB_dbi dbi;
	int r;

	(void)mdb_env_get_flags(env, &env_flags);
	r = ck_lmdb_err(mdb_txn_begin(env, NULL, env_flags & MDB_RDONLY, &txn));
	if (r < 0)
		return r;
	r = ck_lmdb_err(mdb_dbi_open(txn, name, (env_flags & MDB_RDONLY) ? 0 : MDB_CREATE, &dbi));
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	r = ck_lmdb_err(mdb_txn_commit(txn));
	if (r < 0)
		return r;
	*ret_dbi = dbi;
	return 0;
}

static int ck_lmdb_key_check(MDB_env *env, size_t key_len)
{
	if (key_len == 0)
		return CK_E_INVALID;
	if (key_len > (size_t)mdb_env_get_maxkeysize(env))
		return CK_E_TOO_LARGE;
	return 0;
}

/* Writes KEY -> *VAL, or deletes KEY when VAL is NULL, in its own
 * transaction. */
static int ck_lmdb_write(MDB_env *env, MDB_dbi dbi, const void *key, size_t key_len,
			 MDB_val *val)
{
	MDB_val k = {key_len, (void *)key};
	MDB_txn *txn;
	int r;

	r = ck_lmdb_key_check(env, key_len);
	if (r < 0)
		return r;
	r = ck_lmdb_err(mdb_txn_begin(env, NULL, 0, &txn));
	if (r < 0)
		return r;
	r = ck_lmdb_err(val ? mdb_put(txn, dbi, &k, val, 0) : mdb_del(txn, dbi, &k, NULL));
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	return ck_lmdb_err(mdb_txn_commit(txn));
}

int ck_lmdb_put(MDB_env *env, MDB_dbi dbi, const void *key, size_t key_len, const void *val,
		size_t val_len)
{
	MDB_val v = {val_len, (void *)val};

	return ck_lmdb_write(env, dbi, key, key_len, &v);
}

int ck_lmdb_get(MDB_env *env, MDB_dbi dbi, const void *key, size_t key_len, void *val,
		size_t val_max, size_t *ret_len)
{
	MDB_val k = {key_len, (void *)key}, v;
	MDB_txn *txn;
	int r;

	r = ck_lmdb_key_check(env, key_len);
	if (r < 0)
		return r;
	r = ck_lmdb_err(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	if (r < 0)
		return r;
	r = ck_lmdb_err(mdb_get(txn, dbi, &k, &v));
	if (r < 0)
		goto out;
	if (ret_len)
		*ret_len = v.mv_size;
	if (v.mv_size > val_max) {
		r = CK_E_TOO_LARGE;
		goto out;
	}
	if (v.mv_size)
		memcpy(val, v.mv_data, v.mv_size);
out:
	mdb_txn_abort(txn);
	return r;
}

int ck_lmdb_del(MDB_env *env, MDB_dbi dbi, const void *key, size_t key_len)
{
	return ck_lmdb_write(env, dbi, key, key_len, NULL);
}
