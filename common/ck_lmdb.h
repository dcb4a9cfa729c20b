/*
 * ck_lmdb.h: opening LMDB environments and small typed helpers.
 *
 * The `meta` environment under <data_dir>/meta holds committed cluster state
 * (writer: raftd) and partition offset checkpoints (named database
 * "offsets"; writers: walwriter and replicator, each for its own keys).
 * LMDB allows several writer processes; its lock serialises them.
 *
 * Errors: LMDB's positive errno values come back as -errno, MDB_NOTFOUND as
 * CK_E_NOT_FOUND, other MDB_* codes unchanged (ck_strerror() names all).
 * The key helpers refuse an empty key (CK_E_INVALID) and one longer than
 * mdb_env_get_maxkeysize() (CK_E_TOO_LARGE) before touching LMDB.
 */
#ifndef CK_LMDB_H
#define CK_LMDB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#define CK_LMDB_MAP_SIZE_DEFAULT ((size_t)1 << 30)

/* Creates DIR (and its parents, mode 0755, with ck_mkdirs()) if needed, unless FLAGS has MDB_RDONLY, and
 * opens the environment with FLAGS (MDB_*), room for MAX_DBS named
 * databases and MAP_SIZE bytes (0 = default). Returns 0 and *RET_ENV, or
 * -errno / an MDB_* code. */
int ck_lmdb_open(const char *dir, unsigned int flags, unsigned int max_dbs, size_t map_size,
		 MDB_env **ret_env);

/* Opens (creating, unless the environment is read-only) the named database
 * NAME. Returns 0, CK_E_NOT_FOUND (read-only and missing), MDB_DBS_FULL, or
 * an error. */
int ck_lmdb_dbi(MDB_env *env, const char *name, MDB_dbi *ret_dbi);

/* Writes KEY -> VAL in its own transaction. Returns 0 or an error. */
int ck_lmdb_put(MDB_env *env, MDB_dbi dbi, const void *key, size_t key_len, const void *val,
		size_t val_len);
/* Reads KEY into VAL (at most VAL_MAX bytes; *RET_LEN gets the stored size).
 * Returns 0, CK_E_NOT_FOUND, CK_E_TOO_LARGE, or an error. */
int ck_lmdb_get(MDB_env *env, MDB_dbi dbi, const void *key, size_t key_len, void *val,
		size_t val_max, size_t *ret_len);
/* Deletes KEY in its own transaction. Returns 0, CK_E_NOT_FOUND, or an
 * error. */
int ck_lmdb_del(MDB_env *env, MDB_dbi dbi, const void *key, size_t key_len);

#endif
