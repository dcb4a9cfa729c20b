/*
 * raftd_snap.c: metadata snapshot files of chronik-raftd (see
 * raftd_snap.h).
 *
 * Owned by raftd. The snapshot's "state" database is read here with raw
 * LMDB calls (key "applied_index", u64 little-endian: the layout of
 * common/ck_meta.h), because a snapshot file is opened read-only and
 * without a lock file, which ck_meta_open() does not do.
 * Not for: transfers and their scheduling (raftd_node_snap.c).
 */
#define CK_LOG_SUBSYSTEM "snapshot"

#include "raftd_snap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_crc32c.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_lmdb.h"
#include "ck_log.h"

#define RAFTD_SNAP_MAGIC    "CKRAFTSN"
#define RAFTD_SNAP_VERSION  1
#define RAFTD_SNAP_PAYLOAD  28 /* index, term, compact, flags: 44 bytes on disk */
#define RAFTD_SNAP_MAX_DBS  16
#define RAFTD_SNAP_MAP_SIZE ((size_t)1 << 30)

/* raftd's databases in `meta` (ck_meta.h); "offsets" is not raftd's.
 * A snapshot without one of them (from before "groups") installs it
 * empty. */
static const char *const raftd_snap_dbs[] = {"state",   "topics", "partitions",
                                             "brokers", "groups", "gstates"};

static int raftd_mdb_err(int rc)
{
	if (rc > 0)
		return -rc;
	if (rc == MDB_NOTFOUND)
		return CK_E_NOT_FOUND;
	return rc;
}

static int raftd_raft_path(char *buf, size_t len, const char *data_dir, const char *name)
{
	if (snprintf(buf, len, "%s/raft/%s", data_dir, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int raftd_fsync_raft_dir(const char *data_dir)
{
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s/raft", data_dir) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	return ck_fs_dir_sync(dir);
}

static void raftd_le64_put(uint8_t *p, uint64_t v)
{
	ck_le32_put(p, (uint32_t)v);
	ck_le32_put(p + 4, (uint32_t)(v >> 32));
}

static uint64_t raftd_le64_get(const uint8_t *p)
{
	return (uint64_t)ck_le32_get(p) | ((uint64_t)ck_le32_get(p + 4) << 32);
}

/* ---- the snapshot record ---- */

int raftd_snap_meta_load(const char *data_dir, raftd_snap_meta_t *ret)
{
	uint8_t p[RAFTD_SNAP_PAYLOAD];
	char path[PATH_MAX];
	int r;

	memset(ret, 0, sizeof(*ret));
	r = raftd_raft_path(path, sizeof(path), data_dir, "snapshot");
	if (r < 0)
		return r;
	r = ck_fs_record_load(path, RAFTD_SNAP_MAGIC, RAFTD_SNAP_VERSION, p, sizeof(p));
	if (r <= 0)
		return r;
	ret->index = raftd_le64_get(p);
	ret->term = raftd_le64_get(p + 8);
	ret->compact = raftd_le64_get(p + 16);
	ret->pending = (ck_le32_get(p + 24) & 1) != 0;
	if (ret->compact > ret->index || (ret->index > 0 && ret->term == 0))
		return CK_E_CORRUPT;
	return 1;
}

int raftd_snap_meta_save(const char *data_dir, const raftd_snap_meta_t *m)
{
	uint8_t p[RAFTD_SNAP_PAYLOAD];
	char path[PATH_MAX];
	int r;

	r = raftd_raft_path(path, sizeof(path), data_dir, "snapshot");
	if (r < 0)
		return r;
	raftd_le64_put(p, m->index);
	raftd_le64_put(p + 8, m->term);
	raftd_le64_put(p + 16, m->compact);
	ck_le32_put(p + 24, m->pending ? 1u : 0u);
	return ck_fs_record_save(path, RAFTD_SNAP_MAGIC, RAFTD_SNAP_VERSION, p, sizeof(p), 0644);
}

int raftd_snap_path(char *buf, size_t len, const char *data_dir, uint64_t index)
{
	if (snprintf(buf, len, "%s/raft/snap-%020llu.mdb", data_dir, (unsigned long long)index) >=
	    (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- reading a snapshot file ---- */

/* Opens the snapshot file PATH read-only without a lock file. */
static int raftd_snap_env_open(const char *path, MDB_env **ret)
{
	MDB_env *env = NULL;
	int r = raftd_mdb_err(mdb_env_create(&env));

	if (r < 0)
		return r;
	r = raftd_mdb_err(mdb_env_set_maxdbs(env, RAFTD_SNAP_MAX_DBS));
	if (r == 0)
		r = raftd_mdb_err(mdb_env_set_mapsize(env, RAFTD_SNAP_MAP_SIZE));
	if (r == 0)
		r = raftd_mdb_err(
		    mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0644));
	if (r < 0) {
		mdb_env_close(env);
		/* Not an LMDB file (MDB_INVALID, MDB_VERSION_MISMATCH ...). */
		return r == -ENOENT || r == -EACCES || r == -ENOMEM ? r : CK_E_CORRUPT;
	}
	*ret = env;
	return 0;
}

static int raftd_snap_applied(MDB_txn *txn, uint64_t *ret)
{
	MDB_val k = {sizeof("applied_index") - 1, (void *)"applied_index"}, v;
	MDB_dbi dbi;
	int r = raftd_mdb_err(mdb_dbi_open(txn, "state", 0, &dbi));

	if (r == 0)
		r = raftd_mdb_err(mdb_get(txn, dbi, &k, &v));
	if (r == CK_E_NOT_FOUND || (r == 0 && v.mv_size != 8))
		return CK_E_CORRUPT;
	if (r == 0)
		*ret = raftd_le64_get(v.mv_data);
	return r;
}

int raftd_snap_check(const char *path, uint64_t *ret_applied)
{
	MDB_env *env;
	MDB_txn *txn;
	int r = raftd_snap_env_open(path, &env);

	if (r < 0)
		return r;
	r = raftd_mdb_err(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	if (r == 0) {
		r = raftd_snap_applied(txn, ret_applied);
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return r;
}

/* ---- making one ---- */

#define RAFTD_SNAP_MAKE "snap-make.tmp"

int raftd_snap_copy(ck_meta_t *meta, const char *data_dir, uint64_t *ret_index,
                    uint64_t *ret_bytes)
{
	char tmp[PATH_MAX];
	struct stat sb;
	int fd, r = raftd_raft_path(tmp, sizeof(tmp), data_dir, RAFTD_SNAP_MAKE);

	if (r < 0)
		return r;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = raftd_mdb_err(mdb_env_copyfd2(ck_meta_env(meta), fd, MDB_CP_COMPACT));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && fstat(fd, &sb) < 0)
		r = -errno;
	(void)close(fd);
	/* The copy's own read transaction chose the state: ask it which. */
	if (r == 0)
		r = raftd_snap_check(tmp, ret_index);
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	if (ret_bytes)
		*ret_bytes = (uint64_t)sb.st_size;
	return 0;
}

uint64_t raftd_snap_interval(uint64_t entries, uint64_t last_bytes)
{
	if (last_bytes < RAFTD_SNAP_SCALE_BYTES)
		return entries;
	return CK_MAX(entries, last_bytes / RAFTD_SNAP_BYTES_PER_ENTRY);
}

uint64_t raftd_snap_due(uint64_t floor, uint64_t interval, int32_t node_id)
{
	uint64_t lo, phase, due;

	interval = CK_MAX(interval, 1);
	lo = floor + interval / 2;
	phase = interval / 4 * (uint64_t)((node_id > 0 ? node_id - 1 : 0) % 4);
	due = lo - lo % interval + phase;
	return due < lo ? due + interval : due;
}

int raftd_snap_publish(const char *data_dir, uint64_t index)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int r = raftd_raft_path(tmp, sizeof(tmp), data_dir, RAFTD_SNAP_MAKE);

	if (r == 0)
		r = raftd_snap_path(path, sizeof(path), data_dir, index);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = raftd_fsync_raft_dir(data_dir);
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

void raftd_snap_copy_drop(const char *data_dir)
{
	char tmp[PATH_MAX];

	if (raftd_raft_path(tmp, sizeof(tmp), data_dir, RAFTD_SNAP_MAKE) == 0)
		(void)unlink(tmp);
}

/* ---- installing one ---- */

/* Replaces database NAME in WTXN by the snapshot's (in STXN). */
static int raftd_snap_copy_db(MDB_txn *wtxn, MDB_txn *stxn, const char *name)
{
	MDB_dbi wdbi, sdbi;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int r, rc;

	r = raftd_mdb_err(mdb_dbi_open(wtxn, name, MDB_CREATE, &wdbi));
	if (r == 0)
		r = raftd_mdb_err(mdb_drop(wtxn, wdbi, 0));
	if (r < 0)
		return r;
	r = raftd_mdb_err(mdb_dbi_open(stxn, name, 0, &sdbi));
	if (r == CK_E_NOT_FOUND)
		return 0; /* an empty database is not stored */
	if (r == 0)
		r = raftd_mdb_err(mdb_cursor_open(stxn, sdbi, &cur));
	if (r < 0)
		return r;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		r = raftd_mdb_err(mdb_put(wtxn, wdbi, &k, &v, MDB_APPEND));
		if (r < 0)
			break;
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = raftd_mdb_err(rc);
	mdb_cursor_close(cur);
	return r;
}

int raftd_meta_reserve(MDB_env *env, uint64_t extra, uint64_t *alloc)
{
	uint64_t have = alloc ? *alloc : 0, want;
	MDB_envinfo info;
	MDB_stat st;
	mdb_filehandle_t fd;
	int r;

	if (have == UINT64_MAX || mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0 ||
	    mdb_env_get_fd(env, &fd) != 0)
		return 0;
	want = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize + extra + RAFTD_META_AHEAD_BYTES;
	if (want > info.me_mapsize)
		want = info.me_mapsize;
	if (want <= have)
		return 0;
	want = CK_MIN(want + RAFTD_META_AHEAD_BYTES, (uint64_t)info.me_mapsize);
	r = posix_fallocate(fd, 0, (off_t)want);
	if (r == EOPNOTSUPP || r == EINVAL) {
		if (alloc)
			*alloc = UINT64_MAX;
		return 0;
	}
	if (r != 0) {
		ck_log(CK_LOG_ERROR,
		       "no room for the metadata: %s (need %" PRIu64 " bytes of disk "
		       "for it); free disk space",
		       ck_strerror(-r), want);
		return -r;
	}
	if (alloc)
		*alloc = want;
	return 0;
}

int raftd_snap_install(ck_meta_t *meta, const char *path)
{
	MDB_env *senv;
	MDB_txn *stxn = NULL, *wtxn = NULL;
	uint64_t applied;
	struct stat sst;
	int r = raftd_snap_env_open(path, &senv);

	if (r < 0)
		return r;
	/* Room for the copy: at most the snapshot's size in new pages (the
	 * pages it frees are reused only after this transaction). */
	if (stat(path, &sst) == 0)
		r = raftd_meta_reserve(ck_meta_env(meta), (uint64_t)sst.st_size, NULL);
	if (r == 0)
		r = raftd_mdb_err(mdb_txn_begin(senv, NULL, MDB_RDONLY, &stxn));
	if (r == 0)
		r = raftd_snap_applied(stxn, &applied);
	if (r == 0)
		r = ck_meta_write_begin(meta, &wtxn);
	for (size_t i = 0; r == 0 && i < CK_ARRAY_LEN(raftd_snap_dbs); i++)
		r = raftd_snap_copy_db(wtxn, stxn, raftd_snap_dbs[i]);
	if (r == 0) {
		r = ck_meta_write_commit(wtxn);
		wtxn = NULL;
	}
	if (wtxn)
		mdb_txn_abort(wtxn);
	if (stxn)
		mdb_txn_abort(stxn);
	mdb_env_close(senv);
	if (r == 0)
		r = raftd_mdb_err(mdb_env_sync(ck_meta_env(meta), 1));
	if (r == 0)
		ck_log(CK_LOG_INFO, "snapshot installed applied_index=%llu path=%s",
		       (unsigned long long)applied, path);
	return r;
}

void raftd_snap_prune(const char *data_dir, uint64_t keep)
{
	char dir[PATH_MAX], keep_name[64];
	struct dirent *de;
	DIR *d;

	if (snprintf(dir, sizeof(dir), "%s/raft", data_dir) >= (int)sizeof(dir))
		return;
	snprintf(keep_name, sizeof(keep_name), "snap-%020llu.mdb", (unsigned long long)keep);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (strncmp(de->d_name, "snap-", 5) != 0 || len < 9 ||
		    strcmp(de->d_name + len - 4, ".mdb") != 0 || !strcmp(de->d_name, keep_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			ck_log(CK_LOG_DEBUG, "old snapshot removed name=%s", de->d_name);
	}
	closedir(d);
}

/* ---- receiving one ---- */

void raftd_snap_rx_init(raftd_snap_rx_t *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->fd = -1;
}

void raftd_snap_rx_reset(raftd_snap_rx_t *rx, const char *data_dir)
{
	char tmp[PATH_MAX];

	if (rx->fd >= 0) {
		(void)close(rx->fd);
		if (raftd_raft_path(tmp, sizeof(tmp), data_dir, "snap-rx.tmp") == 0)
			(void)unlink(tmp);
	}
	raftd_snap_rx_init(rx);
}

static int raftd_snap_rx_begin(raftd_snap_rx_t *rx, const char *data_dir,
                               const Chronik__Raftnet__SnapshotChunk *c)
{
	char tmp[PATH_MAX];
	int r;

	raftd_snap_rx_reset(rx, data_dir);
	r = raftd_raft_path(tmp, sizeof(tmp), data_dir, "snap-rx.tmp");
	if (r < 0)
		return r;
	rx->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (rx->fd < 0) {
		rx->fd = -1;
		return -errno;
	}
	rx->index = c->index;
	rx->term = c->term;
	rx->total = c->total_bytes;
	ck_log(CK_LOG_INFO, "receiving snapshot index=%llu term=%llu bytes=%llu",
	       (unsigned long long)c->index, (unsigned long long)c->term,
	       (unsigned long long)c->total_bytes);
	return 0;
}

/* The last chunk arrived: check the file and put it in place. */
static int raftd_snap_rx_finish(raftd_snap_rx_t *rx, const char *data_dir, uint32_t crc)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	uint64_t applied = 0;
	int r = 0;

	if (rx->written != rx->total || rx->crc != crc)
		r = CK_E_CORRUPT;
	if (r == 0 && fdatasync(rx->fd) < 0)
		r = -errno;
	(void)close(rx->fd);
	rx->fd = -1;
	if (r == 0)
		r = raftd_raft_path(tmp, sizeof(tmp), data_dir, "snap-rx.tmp");
	if (r == 0)
		r = raftd_snap_check(tmp, &applied);
	if (r == 0 && applied != rx->index)
		r = CK_E_CORRUPT;
	if (r == 0)
		r = raftd_snap_path(path, sizeof(path), data_dir, rx->index);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r == 0)
		r = raftd_fsync_raft_dir(data_dir);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "received snapshot dropped index=%llu err=\"%s\"",
		       (unsigned long long)rx->index, ck_strerror(r));
		if (raftd_raft_path(tmp, sizeof(tmp), data_dir, "snap-rx.tmp") == 0)
			(void)unlink(tmp);
		raftd_snap_rx_init(rx);
		return r;
	}
	rx->complete = true;
	ck_log(CK_LOG_INFO, "snapshot received index=%llu term=%llu bytes=%llu",
	       (unsigned long long)rx->index, (unsigned long long)rx->term,
	       (unsigned long long)rx->total);
	return 1;
}

int raftd_snap_rx_chunk(raftd_snap_rx_t *rx, const char *data_dir,
                        const Chronik__Raftnet__SnapshotChunk *c)
{
	int r;

	if (c->offset == 0) {
		r = raftd_snap_rx_begin(rx, data_dir, c);
		if (r < 0)
			return r;
	} else if (rx->fd < 0 || c->index != rx->index || c->term != rx->term ||
	           c->offset != rx->written || c->total_bytes != rx->total) {
		return CK_E_OUT_OF_ORDER;
	}
	if (c->data.len > rx->total - rx->written) {
		raftd_snap_rx_reset(rx, data_dir);
		return CK_E_CORRUPT;
	}
	if (c->data.len &&
	    pwrite(rx->fd, c->data.data, c->data.len, (off_t)rx->written) != (ssize_t)c->data.len) {
		r = errno ? -errno : -EIO;
		raftd_snap_rx_reset(rx, data_dir);
		return r;
	}
	rx->written += c->data.len;
	rx->crc = ck_crc32c(rx->crc, c->data.data, c->data.len);
	if (!c->last)
		return 0;
	return raftd_snap_rx_finish(rx, data_dir, c->crc32c);
}
