/*
 * wal_boot.c: start-up of chronik-walwriter (shell): data directories, the
 * data-dir lock (one walwriter per data dir), the LMDB `meta` env and its
 * "offsets" database, recovery of every log under <data_dir>/log, and the
 * listening socket (passed by the supervisor, or bound at
 * <data_dir>/run/walwriter.sock when standalone).
 *
 * Runs before the event loop serves anyone (telling the supervisor every
 * 5 s that recovery goes on: EXTEND_TIMEOUT_USEC); READY=1 is reported by the
 * caller only after this succeeded. Failures map to exit codes: corrupt
 * data below a recovery point is fatal (2), anything else is transient (1).
 * Not here: serving requests (wal_loop.c).
 */
#define CK_LOG_SUBSYSTEM "boot"

#include "wal_loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_dataid.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_hwckpt.h"
#include "ck_listen.h"
#include "ck_lmdb.h"
#include "ck_log.h"
#include "ck_notify.h"
#include "ck_rand.h"

#define WAL_LMDB_MAX_DBS 16
/* Recovery tells the supervisor every this often that it goes on, and
 * asks for this much more time each time. */
#define WAL_BOOT_EXTEND_EVERY_MS 5000
#define WAL_BOOT_EXTEND_MS       30000

static int wal_boot_dirs(wal_server_t *w)
{
	char path[PATH_MAX];
	const char *subs[] = {"log", "run"};
	int r = ck_mkdirs(w->cfg->data_dir, 0755);

	for (size_t i = 0; i < CK_ARRAY_LEN(subs) && r == 0; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", w->cfg->data_dir, subs[i]) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		r = ck_mkdirs(path, 0755);
	}
	if (r < 0)
		ck_log(CK_LOG_ERROR, "cannot create data directories data_dir=%s err=\"%s\"",
		       w->cfg->data_dir, ck_strerror(r));
	return r;
}

/* One walwriter per data dir: two writers would tear each other's files. */
static int wal_boot_lock(wal_server_t *w)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/log/.walwriter.lock", w->cfg->data_dir);
	w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (w->lock_fd < 0 || flock(w->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int r = -errno;
		ck_log(CK_LOG_ERROR, "data dir is locked by another walwriter path=%s err=\"%s\"",
		       path, ck_strerror(r));
		return r;
	}
	return 0;
}

/* Errors a restart cannot mend: a damaged or unreadable file, a directory
 * or a link where a file should be, permissions, a failing device. The
 * node stops (exit 2) and the log says what, instead of walwriter being
 * restarted for ever while no partition is served (Kafka takes such a log
 * directory offline, which stops a broker with one). */
static bool wal_boot_permanent(int r)
{
	return r == CK_E_CORRUPT || r == -EISDIR || r == -ENOTDIR || r == -EPERM || r == -EACCES ||
	       r == -EROFS || r == -ELOOP || r == -EIO || r == MDB_INVALID || r == MDB_CORRUPTED ||
	       r == MDB_VERSION_MISMATCH || r == MDB_PAGE_NOTFOUND;
}

/* Whether the error R of opening DIR's LMDB environment means a damaged
 * data.mdb (of two pages at least: one not written yet is no damage):
 * neither meta page (page size 4096) carries LMDB's magic, or the open ran
 * out of memory or found a value out of range, which is what garbage in a
 * meta page's map size, last page or transaction id gives (the garbage
 * asks for a map of any size; a file mapping takes no memory itself). */
static bool wal_boot_lmdb_garbage(const char *dir, int r)
{
	char path[PATH_MAX];
	uint8_t magic[4];
	bool garbage = true;
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || st.st_size < 2 * 4096)
		garbage = false;
	else if (r == -ENOMEM || r == -EINVAL)
		garbage = true;
	else
		for (off_t page = 0; page < 2 && garbage; page++)
			/* After the 16-byte page header: mm_magic 0xBEEFC0DE, LE. */
			garbage = pread(fd, magic, sizeof(magic), page * 4096 + 16) !=
			              (ssize_t)sizeof(magic) ||
			          magic[0] != 0xde || magic[1] != 0xc0 || magic[2] != 0xef ||
			          magic[3] != 0xbe;
	(void)close(fd);
	return garbage;
}

static int wal_boot_lmdb(wal_server_t *w)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/meta", w->cfg->data_dir);
	r = ck_lmdb_open(path, 0, WAL_LMDB_MAX_DBS, 0, &w->env);
	if (r < 0 && !wal_boot_permanent(r) && wal_boot_lmdb_garbage(path, r)) {
		ck_log(CK_LOG_ERROR, "lmdb environment damaged path=%s/data.mdb err=\"%s\"", path,
		       ck_strerror(r));
		r = MDB_CORRUPTED;
	}
	if (r == 0)
		r = ck_lmdb_dbi(w->env, "offsets", &w->dbi);
	if (r < 0)
		ck_log(CK_LOG_ERROR, "cannot open lmdb path=%s err=\"%s\"", path, ck_strerror(r));
	return r;
}

/* Removes what a crash left of a create or a delete. */
static void wal_boot_leftover(const char *logdir, const char *name)
{
	char path[PATH_MAX], file[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (snprintf(path, sizeof(path), "%s/%s", logdir, name) >= (int)sizeof(path))
		return;
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if (snprintf(file, sizeof(file), "%s/%s", path, de->d_name) < (int)sizeof(file))
			(void)unlink(file);
	}
	(void)closedir(d);
	if (rmdir(path) == 0)
		ck_log(CK_LOG_INFO, "removed leftover directory path=%s", path);
}

static bool wal_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && !strcmp(s + n - m, suffix);
}

static int wal_boot_store_add(wal_server_t *w, wal_store_t *st)
{
	wal_store_t **n = realloc(w->boot_stores, (w->boot_nstores + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	w->boot_stores = n;
	w->boot_stores[w->boot_nstores++] = st;
	return 0;
}

static int wal_boot_log(wal_server_t *w, const char *topic, int32_t partition)
{
	wal_store_cut_t cut;
	wal_store_stats_t st;
	wal_store_t *store = NULL;
	wal_ckpt_t ck;
	wal_log_t *l;
	int32_t epoch = 0;
	int r;

	r = wal_ckpt_load(w->env, w->dbi, topic, partition, &ck);
	if (r == CK_E_CORRUPT)
		ck_log(CK_LOG_WARN, "checkpoint unreadable, scanning whole log log=%s-%d", topic,
		       partition);
	/* A hole between segments is cut where other replicas may hold the
	 * records after it (wal_recover_holes). */
	r = wal_store_recover(w->cfg->data_dir, topic, partition, r == 0 ? &ck : NULL, &w->defaults,
	                      w->cfg->peer_count > 1, &store, &cut);
	if (r < 0)
		return r;
	l = wal_log_new(topic, partition);
	if (!l || wal_boot_store_add(w, store) < 0) {
		free(l);
		wal_store_free(store);
		return -ENOMEM;
	}
	wal_store_stats(store, &st);
	l->store = store;
	l->cfg = *wal_store_cfg(store);
	l->topic_id = *wal_store_topic_id(store);
	l->cfg_lost = wal_store_cfg_lost(store);
	l->start_offset = st.start_offset;
	l->next_offset = l->written_end = l->durable_end = st.end_offset;
	l->size_bytes = st.size_bytes;
	l->segments = st.segments;
	l->holds_files = st.segments > 0; /* the active segment is open */
	w->files_logs += l->holds_files;
	wal_store_set_owner(store, l);
	(void)wal_log_insert(w, l);
	r = wal_pids_load(w->cfg->data_dir, topic, partition, l->next_offset, &l->pids, &epoch);
	if (r < 0)
		ck_log(CK_LOG_WARN,
		       "idempotent producers' state not fully rebuilt log=%s err=\"%s\"", l->name,
		       ck_strerror(r));
	/* The fence against a former leader's late appends (wal_req.c) is
	 * kept in memory; a restart takes it back up to the last batch's
	 * epoch, which every current leader's epoch is at least. raftd's
	 * metadata log is not fenced by partition epochs. */
	if (strcmp(topic, WAL_META_TOPIC) != 0)
		l->fence_epoch = epoch;
	ck_log(CK_LOG_INFO, "log recovered log=%s start=%lld end=%lld segments=%d producers=%zu",
	       l->name, (long long)l->start_offset, (long long)l->next_offset, l->segments,
	       l->pids.n);
	return 0;
}

/* Every WAL_BOOT_EXTEND_EVERY_MS of recovery: EXTEND_TIMEOUT_USEC to the
 * supervisor, so that a node with many or large logs is not stopped by
 * its ready timeout while it makes progress (*TOLD_MS: the last time). */
static void wal_boot_progress(const wal_server_t *w, uint64_t *told_ms)
{
	uint64_t now = ck_clock_mono_ms();

	if (*told_ms == 0)
		*told_ms = now;
	if (now - *told_ms < WAL_BOOT_EXTEND_EVERY_MS)
		return;
	*told_ms = now;
	(void)ck_notifyf("EXTEND_TIMEOUT_USEC=%llu\nSTATUS=recovering: %zu logs so far",
	                 (unsigned long long)WAL_BOOT_EXTEND_MS * 1000, ck_hash_count(&w->logs));
}

static int wal_boot_logs(wal_server_t *w)
{
	char logdir[PATH_MAX], topic[CK_TOPIC_NAME_MAX + 1];
	struct dirent *de;
	int32_t partition;
	uint64_t told_ms = 0;
	DIR *d;
	int r = 0;

	snprintf(logdir, sizeof(logdir), "%s/log", w->cfg->data_dir);
	d = opendir(logdir);
	if (!d)
		return -errno;
	while (r == 0 && (de = readdir(d)) != NULL) {
		wal_boot_progress(w, &told_ms);
		if (wal_has_suffix(de->d_name, ".creating") ||
		    wal_has_suffix(de->d_name, ".deleted")) {
			wal_boot_leftover(logdir, de->d_name);
			continue;
		}
		if (ck_segment_log_dir_parse(de->d_name, topic, sizeof(topic), &partition) < 0)
			continue;
		r = wal_boot_log(w, topic, partition);
	}
	(void)closedir(d);
	return r;
}

/* Parses an "hw/<topic>-<partition>" key (ck_hwckpt.h) of LEN bytes at K
 * into TOPIC (LEN_T bytes) and *RET_P. Returns false when it is none. */
static bool wal_boot_hw_key(const char *k, size_t len, char *topic, size_t len_t, int32_t *ret_p)
{
	size_t dash = len;
	int64_t p = 0;

	if (len < 6 || memcmp(k, "hw/", 3) != 0)
		return false;
	while (dash > 3 && k[dash - 1] != '-')
		dash--;
	if (dash <= 4 || dash == len || dash - 4 >= len_t || len - dash > 10)
		return false;
	for (size_t i = dash; i < len; i++) {
		if (k[i] < '0' || k[i] > '9')
			return false;
		p = p * 10 + (k[i] - '0');
	}
	if (p > INT32_MAX)
		return false;
	memcpy(topic, k + 3, dash - 4);
	topic[dash - 4] = '\0';
	*ret_p = (int32_t)p;
	return true;
}

/*
 * Whether a log lost records this broker had acknowledged: one the
 * replicator checkpointed a high watermark above 0 for (ck_hwckpt.h) that
 * is missing or ends below it (deleted, cut by hand or by a broken disk).
 * Then the data id is drawn anew before raftd starts (it starts after this
 * process is ready), so the broker leaves its ISRs before it may lead
 * (ck_dataid.h): as a follower it fetches the records back. The checkpoint
 * lags the live HW by up to a second: a loss of only the last records
 * written before a crash is not seen here.
 */
static int wal_boot_hw_check(wal_server_t *w)
{
	char topic[CK_TOPIC_NAME_MAX + 1];
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k = {3, "hw/"}, v;
	size_t lost = 0;
	uint64_t id = 0;
	int r = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn);

	if (r == 0)
		r = mdb_cursor_open(txn, w->dbi, &cur);
	for (int op = MDB_SET_RANGE; r == 0; op = MDB_NEXT) {
		const wal_log_t *l;
		ck_hwckpt_t ck;
		int32_t partition;

		r = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
		if (r != 0 || k.mv_size < 3 || memcmp(k.mv_data, "hw/", 3) != 0)
			break;
		if (!wal_boot_hw_key(k.mv_data, k.mv_size, topic, sizeof(topic), &partition) ||
		    ck_hwckpt_decode(v.mv_data, v.mv_size, &ck) < 0 || ck.hw <= 0)
			continue;
		l = wal_log_find(w, topic, partition);
		if (l && l->next_offset >= ck.hw)
			continue;
		ck_log(CK_LOG_WARN, "log %s below its high watermark log=%s-%d end=%lld hw=%lld",
		       l ? "ends" : "missing,", topic, (int)partition,
		       (long long)(l ? l->next_offset : -1), (long long)ck.hw);
		lost++;
	}
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	if (r != 0 && r != MDB_NOTFOUND) {
		ck_log(CK_LOG_WARN, "cannot check the logs against their checkpoints: %s",
		       mdb_strerror(r));
		return 0; /* the data id stays; nothing was found lost */
	}
	if (lost == 0)
		return 0;
	r = ck_dataid_renew(w->cfg->data_dir, ck_rand_os_seed(), &id);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot draw a new data id: %s", ck_strerror(r));
		return r;
	}
	ck_log(CK_LOG_WARN,
	       "%zu logs lost acknowledged records: new data id=%016llx, the broker leaves its "
	       "isrs and fetches them back",
	       lost, (unsigned long long)id);
	return 0;
}

static int wal_boot_socket(wal_server_t *w)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/run/walwriter.sock", w->cfg->data_dir);
	r = ck_listen_fd_or_unix("walwriter", path, 512, &w->listen_fd);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot listen path=%s err=\"%s\"", path, ck_strerror(r));
		return r;
	}
	ck_log(CK_LOG_INFO, "listening socket=%s", r == 1 ? "passed by supervisor" : path);
	if (r == 0)
		snprintf(w->sock_path, sizeof(w->sock_path), "%s", path);
	return 0;
}

int wal_boot(wal_server_t *w)
{
	int r = wal_boot_dirs(w);

	if (r == 0)
		r = wal_boot_lock(w);
	if (r == 0) {
		r = wal_boot_lmdb(w);
		if (wal_boot_permanent(r)) {
			ck_log(
			    CK_LOG_FATAL,
			    "the metadata environment cannot be opened, not starting path=%s/meta "
			    "err=\"%s\"",
			    w->cfg->data_dir, ck_strerror(r));
			return CK_EXIT_FATAL;
		}
	}
	if (r == 0) {
		r = wal_boot_logs(w);
		if (wal_boot_permanent(r)) {
			ck_log(CK_LOG_FATAL,
			       "unrecoverable data, not starting data_dir=%s err=\"%s\"",
			       w->cfg->data_dir, ck_strerror(r));
			return CK_EXIT_FATAL;
		}
	}
	if (r == 0)
		r = wal_boot_hw_check(w);
	if (r == 0)
		r = wal_boot_socket(w);
	return r < 0 ? CK_EXIT_RESTART : 0;
}

void wal_boot_release(wal_server_t *w)
{
	for (size_t i = 0; i < w->boot_nstores; i++)
		wal_store_free(w->boot_stores[i]);
	free(w->boot_stores);
	w->boot_stores = NULL;
	w->boot_nstores = 0;
	if (w->env)
		mdb_env_close(w->env);
	w->env = NULL;
	if (w->sock_path[0])
		(void)unlink(w->sock_path);
	w->sock_path[0] = '\0';
	if (w->lock_fd >= 0)
		(void)close(w->lock_fd);
	w->lock_fd = -1;
}
