/*
 * wal_store_dir.c: the directories of logs (chronik-walwriter shell, sync
 * thread side; see wal_store.h): grouped creation, grouped deletion, the
 * settings file and the topic id file.
 *
 * Logs deleted together share their work: a deletion group renames every
 * directory away, fsyncs the parent once and only then removes files.
 * Creation writes nothing to disk: a new log is a store in memory whose
 * directory is built with its first append (wal_store_materialize, called
 * by wal_store_activate): "<dir>.creating" with the settings file and the
 * topic id file when its id is known (made durable
 * there), renamed into place, then the segment
 * files and the fsyncs of activation, all before that append is
 * acknowledged. Readers take a missing directory for an empty log, and
 * raftd re-creates the logs LMDB lists for this broker whenever walwriter
 * (re)connects, so a log nobody appended to needs nothing on disk; this
 * keeps CreateTopics free of inode allocation (on ext4 without a journal
 * its scan for recently deleted inodes dominated creation). Settings
 * changed before the first append only change memory. The topic id is
 * written once, at materialization, and never changes (DeleteLog compares
 * it, wal_req.c), so a log whose directory exists carries its incarnation
 * across restarts.
 * Invariants: a directory under its final name is complete (and durable
 * before the append that built it is acknowledged);
 * "<dir>.creating" and "<dir>.deleted" are leftovers that start-up removes
 * (wal_boot.c). Not here: segment writing (wal_store.c), recovery
 * (wal_recover.c), LMDB (the callers').
 */
#define CK_LOG_SUBSYSTEM "store"

#include "wal_store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_hash.h"
#include "ck_log.h"

#define WAL_DIR_CREATING ".creating"
#define WAL_DIR_DELETED  ".deleted"

/* DIR with SUFFIX into BUF (LEN bytes): "<dir><suffix>", or, when its last
 * component would pass NAME_MAX (a topic name of Kafka's longest, 249
 * bytes, and its partition leave no room for ".creating"), the component
 * cut short and "~" and the hash of the whole component put before the
 * suffix: the hash keeps two logs' names apart, and start-up removes
 * leftovers by their suffix alone. Returns 0 or -ENAMETOOLONG. */
static int wal_dir_aside(char *buf, size_t len, const char *dir, const char *suffix)
{
	const char *slash = strrchr(dir, '/');
	const char *leaf = slash ? slash + 1 : dir;
	size_t leaf_len = strlen(leaf), sfx = strlen(suffix), keep;
	int n;

	if (leaf_len + sfx <= NAME_MAX) {
		n = snprintf(buf, len, "%s%s", dir, suffix);
	} else {
		keep = NAME_MAX - sfx - 17; /* "~" and 16 hex digits */
		n = snprintf(buf, len, "%.*s~%016llx%s", (int)((size_t)(leaf - dir) + keep), dir,
		             (unsigned long long)ck_hash_str(leaf), suffix);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Removes DIR and the files in it (log directories hold no subdirectories). */
static int wal_dir_remove(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = -errno;
	}
	(void)closedir(d);
	if (rmdir(dir) < 0 && r == 0)
		r = -errno;
	return r;
}

static int wal_dir_file(char *buf, size_t len, const char *dir, const char *name)
{
	return snprintf(buf, len, "%s/%s", dir, name) >= (int)len ? -ENAMETOOLONG : 0;
}

/* Writes LEN bytes of BUF to the new file NAME in DIR, not yet fsync'd
 * (writeback starts). */
static int wal_dir_small_write(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[PATH_MAX];
	int fd, r;

	r = wal_dir_file(path, sizeof(path), dir, name);
	if (r < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = wal_store_pwrite(fd, buf, len, 0);
	if (r == 0)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	(void)close(fd);
	return r;
}

/* Fdatasyncs the file NAME in DIR. */
static int wal_dir_small_sync(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd, r;

	r = wal_dir_file(path, sizeof(path), dir, name);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fdatasync(fd) < 0 ? -errno : 0;
	(void)close(fd);
	return r;
}

/* Builds the skeleton of S's directory in TMP: the directory, the settings
 * file (also of node defaults: a missing one means lost, wal_recover.c),
 * the topic id file when the id is known (the segment files come with
 * activation). Nothing fsync'd. */
static int wal_dir_build(const char *tmp, const wal_store_t *s)
{
	uint8_t cfg[WAL_LOG_CFG_LEN], id[WAL_TOPIC_ID_FILE_LEN];
	int r = 0;

	(void)wal_dir_remove(tmp); /* a crashed attempt's */
	if (mkdir(tmp, 0755) < 0)
		return -errno;
	wal_log_cfg_encode(&s->req, cfg);
	r = wal_dir_small_write(tmp, WAL_STORE_CONFIG_FILE, cfg, sizeof(cfg));
	if (r == 0 && s->topic_id.known) {
		wal_topic_id_encode(&s->topic_id, id);
		r = wal_dir_small_write(tmp, WAL_STORE_TOPIC_ID_FILE, id, sizeof(id));
	}
	return r;
}

/* Makes what wal_dir_build wrote durable: its files, then the names in
 * TMP. */
static int wal_dir_settle(const char *tmp, const wal_store_t *s)
{
	int r = wal_dir_small_sync(tmp, WAL_STORE_CONFIG_FILE);

	if (r == 0 && s->topic_id.known)
		r = wal_dir_small_sync(tmp, WAL_STORE_TOPIC_ID_FILE);
	return r < 0 ? r : ck_fs_dir_sync(tmp);
}

int wal_store_materialize(wal_store_t *s)
{
	char tmp[PATH_MAX];
	int r;

	if (!s->dir_pending)
		return 0;
	if (wal_dir_aside(tmp, sizeof(tmp), s->dir, WAL_DIR_CREATING) < 0)
		return -ENAMETOOLONG;
	r = wal_dir_build(tmp, s);
	if (r == 0)
		r = wal_dir_settle(tmp, s);
	if (r == 0 && rename(tmp, s->dir) < 0)
		r = -errno;
	if (r < 0) {
		(void)wal_dir_remove(tmp);
		return r;
	}
	s->dir_pending = false;
	return 0;
}

/* The in-memory store of a new log: no directory yet, its empty first
 * segment not open (wal_store_activate builds both with the first
 * append). */
static int wal_dir_store_new(const char *dir, wal_store_new_t *l)
{
	wal_store_t *s = wal_store_alloc(dir, l->topic, l->partition, &l->cfg);
	int r;

	if (!s)
		return -ENOMEM;
	r = wal_store_seg_push(s, 0, 0, INT64_MIN);
	if (r < 0) {
		wal_store_free(s);
		return r;
	}
	s->created_ms = ck_clock_wall_ms();
	s->dir_pending = true;
	s->req = l->req;
	s->topic_id = l->topic_id;
	wal_store_ckpt_set(s);
	l->store = s;
	return 0;
}

/* Phase 1 for L: its name free, its store allocated. */
static int wal_dir_prepare(const char *data_dir, wal_store_new_t *l)
{
	char dir[PATH_MAX];
	struct stat st;
	int r = ck_segment_log_dir(dir, sizeof(dir), data_dir, l->topic, l->partition);

	if (r < 0)
		return r;
	if (!l->name_free && stat(dir, &st) == 0)
		return CK_E_EXISTS;
	return wal_dir_store_new(dir, l);
}

int wal_store_create_group(const char *data_dir, wal_store_new_t *logs, size_t n,
                           wal_store_group_fn before, void *arg)
{
	size_t ready = 0;

	for (size_t i = 0; i < n; i++) {
		logs[i].store = NULL;
		logs[i].err = wal_dir_prepare(data_dir, &logs[i]);
		ready += logs[i].err == 0;
	}
	if (ready == 0)
		return 0;
	if (before)
		before(arg, logs, n);
	/* Visible now (in memory); on disk and durable with the first append
	 * (wal_store_activate). */
	for (size_t i = 0; i < n; i++)
		if (logs[i].err == 0)
			logs[i].store->name_unsynced = true;
	return 0;
}

int wal_store_create(const char *data_dir, const char *topic, int32_t partition,
                     const wal_log_cfg_t *req, const wal_log_cfg_t *cfg,
                     const wal_topic_id_t *topic_id, wal_store_t **ret)
{
	wal_store_new_t l = {.topic = topic, .partition = partition, .req = *req, .cfg = *cfg};
	int r;

	if (topic_id)
		l.topic_id = *topic_id;
	r = wal_store_create_group(data_dir, &l, 1, NULL, NULL);
	if (r < 0)
		return r;
	if (l.err < 0)
		return l.err;
	*ret = l.store;
	return 0;
}

/* ---- deletion ---- */

/* The directory holding DIR into BUF. */
static void wal_dir_parent(const char *dir, char *buf, size_t len)
{
	if (ck_fs_dirname(dir, buf, len) < 0)
		snprintf(buf, len, ".");
}

/* Fsyncs the parent of every renamed log (errs[i] == 0) once. Returns 0 or
 * the first error. */
static int wal_dir_sync_parents(char (*gone)[PATH_MAX + 16], const int *errs, size_t n)
{
	char parent[PATH_MAX], last[PATH_MAX] = "";
	int r = 0, e;

	for (size_t i = 0; i < n; i++) {
		if (errs[i] < 0 || !gone[i][0])
			continue;
		wal_dir_parent(gone[i], parent, sizeof(parent));
		if (!strcmp(parent, last))
			continue;
		e = ck_fs_dir_sync(parent);
		if (e < 0 && r == 0)
			r = e;
		snprintf(last, sizeof(last), "%s", parent);
	}
	return r;
}

/* Deletes S alone (when a group's bookkeeping cannot be allocated). */
static int wal_dir_delete_one(wal_store_t *s)
{
	char gone[1][PATH_MAX + 16];
	int err = 0;

	if (s->dir_pending) {
		wal_store_free(s);
		return 0;
	}
	(void)wal_dir_aside(gone[0], sizeof(gone[0]), s->dir, WAL_DIR_DELETED);
	(void)wal_dir_remove(gone[0]);
	if (rename(s->dir, gone[0]) < 0)
		err = -errno;
	if (err == 0)
		err = wal_dir_sync_parents(gone, &err, 1);
	if (err == 0)
		err = wal_dir_remove(gone[0]);
	wal_store_free(s);
	return err;
}

void wal_store_delete_group(wal_store_t **stores, size_t n, int *errs)
{
	char(*gone)[PATH_MAX + 16] = calloc(n ? n : 1, sizeof(*gone));
	int r;

	if (!gone) {
		for (size_t i = 0; i < n; i++)
			errs[i] = wal_dir_delete_one(stores[i]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		errs[i] = 0;
		if (stores[i]->dir_pending)
			continue; /* nothing on disk: gone[i] stays "" */
		(void)wal_dir_aside(gone[i], sizeof(gone[i]), stores[i]->dir, WAL_DIR_DELETED);
		(void)wal_dir_remove(gone[i]); /* a crashed attempt's */
		errs[i] = rename(stores[i]->dir, gone[i]) < 0 ? -errno : 0;
	}
	r = wal_dir_sync_parents(gone, errs, n);
	for (size_t i = 0; i < n; i++) {
		if (errs[i] == 0 && gone[i][0])
			errs[i] = r < 0 ? r : wal_dir_remove(gone[i]);
		wal_store_free(stores[i]);
	}
	/* The leftovers' removal need not be durable: start-up finishes it. */
	if (r == 0)
		(void)wal_dir_sync_parents(gone, errs, n);
	free(gone);
}

int wal_store_delete(wal_store_t *s)
{
	int err;

	wal_store_delete_group(&s, 1, &err);
	return err;
}

/* ---- settings ---- */

int wal_store_configure(wal_store_t *s, const wal_log_cfg_t *req, const wal_log_cfg_t *cfg)
{
	uint8_t buf[WAL_LOG_CFG_LEN];
	char path[PATH_MAX];
	int r;

	if (s->failed)
		return s->failed;
	if (s->dir_pending) { /* written with the directory (wal_store_materialize) */
		s->req = *req;
		s->cfg = *cfg;
		return 0;
	}
	r = wal_dir_file(path, sizeof(path), s->dir, WAL_STORE_CONFIG_FILE);
	if (r < 0)
		return r;
	wal_log_cfg_encode(req, buf);
	r = ck_fs_write_atomic(path, buf, sizeof(buf), 0644);
	if (r < 0)
		return r;
	s->cfg = *cfg;
	s->cfg_lost = false;
	return 0;
}
