/*
 * ck_meta.c: the LMDB `meta` environment (ck_meta.h): key layout, record
 * (un)packing and ordered walks.
 *
 * Owned by libck. Every process reads through this file; only raftd writes
 * the state/topics/partitions/brokers/changes/groups databases (applying
 * the Raft log), walwriter and replicator write their own "offsets" keys.
 * Keys are built here and nowhere else, so the layout documented in
 * ck_meta.h has one implementation. Values are packed protobuf-c records; a
 * value that does not unpack is CK_E_CORRUPT, never a crash (the "groups"
 * walks skip it instead, and keys of another shape: one bad offset must not
 * hide a group's others). The "changes" database keeps its invariant
 * (ck_meta.h) by itself: ck_meta_change_put checks it against parts_index
 * before every record. The unsynced marker (raftd's commits without
 * fdatasync) and moving a torn-suspect environment aside live here too,
 * next to the path they guard.
 * Not for: what the records mean or when they change (raftd/raftd_apply.c).
 */
#include "ck_meta.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_lmdb.h"
#include "ck_log.h"
#include "ck_segment.h"

#define CK_META_MAX_DBS 16
/* Topic name, NUL, big-endian partition: the longest partitions key. */
#define CK_META_PKEY_MAX  (255 + 1 + 4)
#define CK_META_TOPIC_MAX 255
/* Group, NUL, topic, NUL, big-endian partition: room for the longest
 * names; and the longest "groups" key, LMDB's (its default MDB_MAXKEYSIZE),
 * which a group and a topic of 255 bytes each would pass. */
#define CK_META_GKEY_BUF (CK_META_GROUP_MAX + 1 + CK_META_PKEY_MAX)
#define CK_META_GKEY_MAX 511
_Static_assert(CK_META_GROUP_MAX + 1 + CK_TOPIC_NAME_MAX + 1 + 4 <= CK_META_GKEY_MAX,
               "a group of CK_META_GROUP_MAX bytes must fit with any valid topic");

struct ck_meta {
	MDB_env *env;
	MDB_dbi state;
	MDB_dbi topics;
	MDB_dbi partitions;
	MDB_dbi brokers;
	MDB_dbi offsets;
	MDB_dbi changes;
	MDB_dbi groups;
	MDB_dbi gstates;
};

static const char ck_meta_key_applied[] = "applied_index";
static const char ck_meta_key_parts[] = "parts_index";
static const char ck_meta_key_brokers[] = "brokers_index";
static const char ck_meta_key_next_pid[] = "next_producer_id";
static const char ck_meta_key_pid_block[] = "producer_ids/";

static int ck_meta_err(int rc)
{
	if (rc > 0)
		return -rc;
	if (rc == MDB_NOTFOUND)
		return CK_E_NOT_FOUND;
	return rc;
}

static int ck_meta_dbis_open(ck_meta_t *m)
{
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
	    {"state", &m->state},     {"topics", &m->topics},   {"partitions", &m->partitions},
	    {"brokers", &m->brokers}, {"offsets", &m->offsets}, {"changes", &m->changes},
	    {"groups", &m->groups},   {"gstates", &m->gstates},
	};
	MDB_txn *txn;
	int r;

	CK_ASSERT(CK_ARRAY_LEN(dbs) <= CK_META_MAX_DBS);
	r = ck_meta_err(mdb_txn_begin(m->env, NULL, 0, &txn));
	if (r < 0)
		return r;
	for (size_t i = 0; i < CK_ARRAY_LEN(dbs); i++) {
		r = ck_meta_err(mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi));
		if (r < 0) {
			mdb_txn_abort(txn);
			return r;
		}
	}
	return ck_meta_err(mdb_txn_commit(txn));
}

int ck_meta_open(const char *data_dir, ck_meta_t **ret)
{
	return ck_meta_open_flags(data_dir, 0, ret);
}

int ck_meta_open_flags(const char *data_dir, unsigned int flags, ck_meta_t **ret)
{
	char path[PATH_MAX];
	ck_meta_t *m;
	int r;

	if (snprintf(path, sizeof(path), "%s/meta", data_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = ck_lmdb_open(path, MDB_NOMETASYNC | flags, CK_META_MAX_DBS, 0, &m->env);
	if (r < 0)
		goto out;
	r = ck_meta_dbis_open(m);
	if (r < 0)
		goto out;
	*ret = m;
	m = NULL;
out:
	ck_meta_close(m);
	return r;
}

/* ---- the unsynced marker (ck_meta.h) ---- */

#define CK_META_UNSYNCED "unsynced"
#define CK_BOOT_ID_MAX   64

/* The running kernel's boot id, NUL-terminated, without the newline. */
static int ck_boot_id(char buf[CK_BOOT_ID_MAX])
{
	const char *path = getenv("CHRONIK_BOOT_ID_FILE");
	ssize_t n = ck_fs_read_small(path && *path ? path : "/proc/sys/kernel/random/boot_id", buf,
	                             CK_BOOT_ID_MAX - 1);

	if (n < 0)
		return (int)n;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return n > 0 ? 0 : CK_E_CORRUPT;
}

static int ck_meta_path(char *buf, size_t len, const char *data_dir, const char *name)
{
	int n = name ? snprintf(buf, len, "%s/meta/%s", data_dir, name)
	             : snprintf(buf, len, "%s/meta", data_dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ck_meta_unsynced_mark(const char *data_dir)
{
	char path[PATH_MAX], id[CK_BOOT_ID_MAX];
	int r = ck_meta_path(path, sizeof(path), data_dir, CK_META_UNSYNCED);

	if (r == 0)
		r = ck_boot_id(id);
	if (r == 0)
		r = ck_fs_write_atomic(path, id, strlen(id), 0644);
	return r;
}

int ck_meta_unsynced_clear(const char *data_dir)
{
	char path[PATH_MAX];
	int r = ck_meta_path(path, sizeof(path), data_dir, CK_META_UNSYNCED);

	if (r < 0)
		return r;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	r = ck_meta_path(path, sizeof(path), data_dir, NULL);
	return r < 0 ? r : ck_fs_dir_sync(path);
}

/* Removes DIR and the files in it (an LMDB environment has no subdirectory). */
static int ck_meta_remove_flat(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
			(void)unlink(path);
	}
	(void)closedir(d);
	return rmdir(dir) < 0 ? -errno : 0;
}

int ck_meta_unsynced_recover(const char *data_dir)
{
	char path[PATH_MAX], env[PATH_MAX], torn[PATH_MAX];
	char was[CK_BOOT_ID_MAX], now[CK_BOOT_ID_MAX];
	ssize_t n;
	int r = ck_meta_path(path, sizeof(path), data_dir, CK_META_UNSYNCED);

	if (r < 0)
		return r;
	n = ck_fs_read_small(path, was, sizeof(was) - 1);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return (int)n;
	was[n] = '\0';
	/* No boot id to compare with: assume the worst (a rebuild is slow,
	 * never wrong). */
	if (ck_boot_id(now) < 0)
		snprintf(now, sizeof(now), "unknown");
	else if (!strcmp(was, now))
		return 0; /* the same boot: the page cache kept every commit */
	r = ck_meta_path(env, sizeof(env), data_dir, NULL);
	if (r < 0 || snprintf(torn, sizeof(torn), "%s/meta.torn", data_dir) >= (int)sizeof(torn))
		return r < 0 ? r : -ENAMETOOLONG;
	r = ck_meta_remove_flat(torn);
	if (r < 0)
		return r;
	if (rename(env, torn) < 0)
		return -errno;
	r = ck_fs_dir_sync(data_dir);
	if (r < 0)
		return r;
	ck_log(CK_LOG_WARN,
	       "metadata environment may be torn: the machine restarted (boot %s, now %s) while "
	       "raftd had commits not yet on disk; moved it to %s, raftd rebuilds it from its "
	       "snapshot and the Raft log",
	       was, now, torn);
	return 1;
}

void ck_meta_close(ck_meta_t *m)
{
	if (!m)
		return;
	if (m->env)
		mdb_env_close(m->env);
	free(m);
}

MDB_env *ck_meta_env(ck_meta_t *m)
{
	return m->env;
}

MDB_dbi ck_meta_offsets_dbi(ck_meta_t *m)
{
	return m->offsets;
}

/* The read transaction this thread holds, and on which environment: LMDB
 * gives a thread one at a time per environment, so a second begin fails
 * (MDB_BAD_RSLOT). Such a nesting is a bug of the caller (it once made
 * kafka-frontend read an empty broker list): it is logged, and a sanitized
 * build, which the tests run, aborts so that a test sees it. */
static __thread const ck_meta_t *ck_meta_reading;
static __thread MDB_txn *ck_meta_read_txn;

int ck_meta_read_begin(ck_meta_t *m, MDB_txn **ret_txn)
{
	int r;

	if (ck_meta_reading == m && ck_meta_read_txn) {
		static __thread ck_log_limit_t nested_lim;

		ck_log_limited(&nested_lim, CK_LOG_ERROR,
		               "nested metadata read transaction (a bug): refused");
#if defined(__SANITIZE_ADDRESS__)
		abort();
#endif
		return ck_meta_err(MDB_BAD_RSLOT);
	}
	r = ck_meta_err(mdb_txn_begin(m->env, NULL, MDB_RDONLY, ret_txn));
	if (r == 0) {
		ck_meta_reading = m;
		ck_meta_read_txn = *ret_txn;
	}
	return r;
}

void ck_meta_read_end(MDB_txn *txn)
{
	if (!txn)
		return;
	if (txn == ck_meta_read_txn) {
		ck_meta_reading = NULL;
		ck_meta_read_txn = NULL;
	}
	mdb_txn_abort(txn);
}

int ck_meta_write_begin(ck_meta_t *m, MDB_txn **ret_txn)
{
	return ck_meta_err(mdb_txn_begin(m->env, NULL, 0, ret_txn));
}

int ck_meta_write_commit(MDB_txn *txn)
{
	return ck_meta_err(mdb_txn_commit(txn));
}

int ck_meta_reader_check(ck_meta_t *m, int *ret_dead)
{
	int dead = 0;
	int r = ck_meta_err(mdb_reader_check(m->env, &dead));

	if (r == 0 && ret_dead)
		*ret_dead = dead;
	return r;
}

/* ---- small values in "state" ---- */

static int ck_meta_u64_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len,
                           uint64_t *ret)
{
	MDB_val k = {key_len, (void *)key}, v;
	const uint8_t *p;
	int r = ck_meta_err(mdb_get(txn, dbi, &k, &v));

	if (r < 0)
		return r;
	if (v.mv_size != 8)
		return CK_E_CORRUPT;
	p = v.mv_data;
	*ret = (uint64_t)ck_le32_get(p) | ((uint64_t)ck_le32_get(p + 4) << 32);
	return 0;
}

static int ck_meta_u64_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len,
                           uint64_t value)
{
	uint8_t buf[8];
	MDB_val k = {key_len, (void *)key}, v = {sizeof(buf), buf};

	ck_le32_put(buf, (uint32_t)value);
	ck_le32_put(buf + 4, (uint32_t)(value >> 32));
	return ck_meta_err(mdb_put(txn, dbi, &k, &v, 0));
}

/* A u64 of the "state" database; 0 when missing. */
static int ck_meta_state_u64(ck_meta_t *m, MDB_txn *txn, const char *key, uint64_t *ret)
{
	uint64_t v = 0;
	int r = ck_meta_u64_get(txn, m->state, key, strlen(key), &v);

	if (r == CK_E_NOT_FOUND)
		r = 0;
	if (r == 0)
		*ret = v;
	return r;
}

int ck_meta_applied_index(ck_meta_t *m, MDB_txn *txn, uint64_t *ret)
{
	return ck_meta_state_u64(m, txn, ck_meta_key_applied, ret);
}

int ck_meta_applied_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index)
{
	return ck_meta_u64_put(txn, m->state, ck_meta_key_applied, sizeof(ck_meta_key_applied) - 1,
	                       index);
}

int ck_meta_parts_index(ck_meta_t *m, MDB_txn *txn, uint64_t *ret)
{
	return ck_meta_state_u64(m, txn, ck_meta_key_parts, ret);
}

int ck_meta_parts_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index)
{
	return ck_meta_u64_put(txn, m->state, ck_meta_key_parts, sizeof(ck_meta_key_parts) - 1,
	                       index);
}

int ck_meta_brokers_index(ck_meta_t *m, MDB_txn *txn, uint64_t *ret)
{
	return ck_meta_state_u64(m, txn, ck_meta_key_brokers, ret);
}

int ck_meta_brokers_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index)
{
	return ck_meta_u64_put(txn, m->state, ck_meta_key_brokers, sizeof(ck_meta_key_brokers) - 1,
	                       index);
}

int ck_meta_producer_id_next(ck_meta_t *m, MDB_txn *txn, int64_t *ret)
{
	uint64_t v = 0;
	int r = ck_meta_u64_get(txn, m->state, ck_meta_key_next_pid,
	                        sizeof(ck_meta_key_next_pid) - 1, &v);

	if (r == CK_E_NOT_FOUND)
		r = 0;
	if (r == 0 && v > INT64_MAX)
		r = CK_E_CORRUPT;
	if (r == 0)
		*ret = (int64_t)v;
	return r;
}

int ck_meta_producer_id_next_put(ck_meta_t *m, MDB_txn *txn, int64_t next)
{
	if (next < 0)
		return CK_E_INVALID;
	return ck_meta_u64_put(txn, m->state, ck_meta_key_next_pid,
	                       sizeof(ck_meta_key_next_pid) - 1, (uint64_t)next);
}

static size_t ck_meta_pid_key(uint8_t *key, int32_t broker_id)
{
	size_t n = sizeof(ck_meta_key_pid_block) - 1;

	memcpy(key, ck_meta_key_pid_block, n);
	ck_be32_put(key + n, (uint32_t)broker_id);
	return n + 4;
}

int ck_meta_producer_block_get(ck_meta_t *m, MDB_txn *txn, int32_t broker_id, int64_t *ret_start,
                               int64_t *ret_size)
{
	uint8_t key[sizeof(ck_meta_key_pid_block) + 4];
	size_t klen = ck_meta_pid_key(key, broker_id);
	MDB_val k = {klen, key}, v;
	const uint8_t *p;
	int r = ck_meta_err(mdb_get(txn, m->state, &k, &v));

	if (r < 0)
		return r;
	if (v.mv_size != 16)
		return CK_E_CORRUPT;
	p = v.mv_data;
	*ret_start = (int64_t)ck_be64_get(p);
	*ret_size = (int64_t)ck_be64_get(p + 8);
	return 0;
}

int ck_meta_producer_block_put(ck_meta_t *m, MDB_txn *txn, int32_t broker_id, int64_t start,
                               int64_t size)
{
	uint8_t key[sizeof(ck_meta_key_pid_block) + 4], val[16];
	size_t klen = ck_meta_pid_key(key, broker_id);
	MDB_val k = {klen, key}, v = {sizeof(val), val};

	ck_be64_put(val, (uint64_t)start);
	ck_be64_put(val + 8, (uint64_t)size);
	return ck_meta_err(mdb_put(txn, m->state, &k, &v, 0));
}

/* ---- keys ---- */

static int ck_meta_topic_key(const char *name, MDB_val *ret)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return CK_E_INVALID;
	if (n > CK_META_TOPIC_MAX)
		return CK_E_TOO_LARGE;
	ret->mv_size = n;
	ret->mv_data = (void *)name;
	return 0;
}

/* "<topic>\0" into BUF (a group name too: same limits); returns its length
 * or an error. */
static int ck_meta_pkey_prefix(uint8_t *buf, const char *topic)
{
	size_t n = topic ? strlen(topic) : 0;

	if (n == 0)
		return CK_E_INVALID;
	if (n > CK_META_TOPIC_MAX)
		return CK_E_TOO_LARGE;
	memcpy(buf, topic, n);
	buf[n] = '\0';
	return (int)n + 1;
}

static int ck_meta_pkey(uint8_t *buf, const char *topic, int32_t partition, MDB_val *ret)
{
	int n = ck_meta_pkey_prefix(buf, topic);

	if (n < 0)
		return n;
	if (partition < 0)
		return CK_E_INVALID;
	ck_be32_put(buf + n, (uint32_t)partition);
	ret->mv_size = (size_t)n + 4;
	ret->mv_data = buf;
	return 0;
}

/* ---- packing ---- */

static int ck_meta_put_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	MDB_val v = {len, NULL};
	int r;

	/* Reserve the value in place: one copy, straight into the page. An
	 * all-default record packs to zero bytes, which LMDB stores fine. */
	r = ck_meta_err(mdb_put(txn, dbi, key, &v, MDB_RESERVE));
	if (r < 0)
		return r;
	if (len)
		(void)protobuf_c_message_pack(msg, v.mv_data);
	return 0;
}

static int ck_meta_get_msg(MDB_txn *txn, MDB_dbi dbi, MDB_val *key,
                           const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
	MDB_val v;
	ProtobufCMessage *msg;
	int r = ck_meta_err(mdb_get(txn, dbi, key, &v));

	if (r < 0)
		return r;
	msg = protobuf_c_message_unpack(desc, NULL, v.mv_size, v.mv_data);
	if (!msg)
		return CK_E_CORRUPT;
	*ret = msg;
	return 0;
}

int ck_meta_topic_get(ck_meta_t *m, MDB_txn *txn, const char *name,
                      Chronik__Meta__TopicRecord **ret)
{
	MDB_val k;
	int r = ck_meta_topic_key(name, &k);

	if (r < 0)
		return r == CK_E_TOO_LARGE ? CK_E_NOT_FOUND : r;
	return ck_meta_get_msg(txn, m->topics, &k, &chronik__meta__topic_record__descriptor,
	                       (ProtobufCMessage **)ret);
}

int ck_meta_topic_raw(ck_meta_t *m, MDB_txn *txn, const char *name, MDB_val *ret)
{
	MDB_val k;
	int r = ck_meta_topic_key(name, &k);

	if (r < 0)
		return r == CK_E_TOO_LARGE ? CK_E_NOT_FOUND : r;
	return ck_meta_err(mdb_get(txn, m->topics, &k, ret));
}

/* Whether a key of the topics database starts with PAT[0..LEN). */
static int ck_meta_prefix_held(MDB_cursor *cur, const char *pat, size_t len)
{
	MDB_val k = {len, (void *)pat}, v;
	int r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

	if (r == MDB_NOTFOUND)
		return 0;
	if (r)
		return ck_meta_err(r);
	return k.mv_size >= len && !memcmp(k.mv_data, pat, len);
}

/* Depth first over the '.' / '_' choices of PAT from POS on, '.' first, so
 * the first name found is the least; a branch is taken only while some
 * stored name starts with the prefix chosen so far, which bounds the walk
 * by the names stored rather than by 2^(collision characters). */
static int ck_meta_collide_walk(MDB_cursor *cur, char *pat, size_t len, size_t pos,
                                const char *name)
{
	static const char alt[2] = {'.', '_'};
	size_t i = pos;

	while (i < len && pat[i] != '.' && pat[i] != '_')
		i++;
	if (i == len) { /* a whole name: stored, and not NAME itself? */
		MDB_val k = {len, pat}, v;
		int r = mdb_cursor_get(cur, &k, &v, MDB_SET);

		if (r == MDB_NOTFOUND)
			return 0;
		if (r)
			return ck_meta_err(r);
		return memcmp(pat, name, len) != 0;
	}
	for (int c = 0; c < 2; c++) {
		int r;

		pat[i] = alt[c];
		r = ck_meta_prefix_held(cur, pat, i + 1);
		if (r > 0)
			r = ck_meta_collide_walk(cur, pat, len, i + 1, name);
		if (r != 0)
			return r;
	}
	pat[i] = name[i];
	return 0;
}

int ck_meta_topic_collision(ck_meta_t *m, MDB_txn *txn, const char *name, char *ret,
                            size_t ret_size)
{
	char pat[CK_META_TOPIC_MAX + 1];
	MDB_cursor *cur;
	size_t n = name ? strlen(name) : 0;
	int r;

	if (n == 0 || n > CK_META_TOPIC_MAX || !strpbrk(name, "._"))
		return 0;
	memcpy(pat, name, n + 1);
	r = ck_meta_err(mdb_cursor_open(txn, m->topics, &cur));
	if (r < 0)
		return r;
	r = ck_meta_collide_walk(cur, pat, n, 0, name);
	mdb_cursor_close(cur);
	if (r > 0 && ret_size > 0)
		(void)snprintf(ret, ret_size, "%s", pat);
	return r;
}

int ck_meta_partition_get(ck_meta_t *m, MDB_txn *txn, const char *topic, int32_t partition,
                          Chronik__Meta__PartitionRecord **ret)
{
	uint8_t buf[CK_META_PKEY_MAX];
	MDB_val k;
	int r = ck_meta_pkey(buf, topic, partition, &k);

	if (r < 0)
		return r == CK_E_TOO_LARGE ? CK_E_NOT_FOUND : r;
	return ck_meta_get_msg(txn, m->partitions, &k, &chronik__meta__partition_record__descriptor,
	                       (ProtobufCMessage **)ret);
}

int ck_meta_broker_get(ck_meta_t *m, MDB_txn *txn, int32_t id, Chronik__Meta__BrokerRecord **ret)
{
	uint8_t buf[4];
	MDB_val k = {sizeof(buf), buf};

	ck_be32_put(buf, (uint32_t)id);
	return ck_meta_get_msg(txn, m->brokers, &k, &chronik__meta__broker_record__descriptor,
	                       (ProtobufCMessage **)ret);
}

int ck_meta_topic_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__TopicRecord *rec)
{
	MDB_val k;
	int r = ck_meta_topic_key(rec->name, &k);

	if (r < 0)
		return r;
	return ck_meta_put_msg(txn, m->topics, &k, &rec->base);
}

int ck_meta_topic_put_raw(ck_meta_t *m, MDB_txn *txn, const char *name, const void *data,
                          size_t len)
{
	MDB_val k, v = {len, (void *)data};
	int r = ck_meta_topic_key(name, &k);

	if (r < 0)
		return r;
	return ck_meta_err(mdb_put(txn, m->topics, &k, &v, 0));
}

int ck_meta_partition_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__PartitionRecord *rec)
{
	uint8_t buf[CK_META_PKEY_MAX];
	MDB_val k;
	int r = ck_meta_pkey(buf, rec->topic, rec->partition, &k);

	if (r < 0)
		return r;
	return ck_meta_put_msg(txn, m->partitions, &k, &rec->base);
}

int ck_meta_broker_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__BrokerRecord *rec)
{
	uint8_t buf[4];
	MDB_val k = {sizeof(buf), buf};

	if (rec->id < 0)
		return CK_E_INVALID;
	ck_be32_put(buf, (uint32_t)rec->id);
	return ck_meta_put_msg(txn, m->brokers, &k, &rec->base);
}

/* ---- walks ---- */

/* One step of a walk: CUR moves with *OP (then MDB_NEXT). Returns 1 with
 * K and V set, 0 past the last record, or an error. */
static int ck_meta_cursor_next(MDB_cursor *cur, MDB_val *k, MDB_val *v, MDB_cursor_op *op)
{
	int r = ck_meta_err(mdb_cursor_get(cur, k, v, *op));

	*op = MDB_NEXT;
	if (r == CK_E_NOT_FOUND)
		return 0;
	return r < 0 ? r : 1;
}

/* Moves CUR with OP (MDB_SET_RANGE: to the first key >= PREFIX) and
 * checks that it sits on a key starting with the PREFIX_LEN bytes of
 * PREFIX. Returns 1 with K and V set, 0 past them, or an error. */
static int ck_meta_prefix_step(MDB_cursor *cur, const uint8_t *prefix, size_t prefix_len,
                               MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
	int r;

	if (op == MDB_SET_RANGE)
		*k = (MDB_val){prefix_len, (void *)prefix};
	r = ck_meta_err(mdb_cursor_get(cur, k, v, op));
	if (r == CK_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	return k->mv_size >= prefix_len && !memcmp(k->mv_data, prefix, prefix_len);
}

/* ck_meta_prefix_step on the partitions of the topic whose PREFIX_LEN-byte
 * prefix ("<topic>\0") is PREFIX: 0 at the first key that is not one. */
static int ck_meta_pcursor_first(MDB_cursor *cur, const uint8_t *prefix, size_t prefix_len,
                                 MDB_val *key, MDB_val *val, MDB_cursor_op op)
{
	int r = ck_meta_prefix_step(cur, prefix, prefix_len, key, val, op);

	return r == 1 && key->mv_size != prefix_len + 4 ? 0 : r;
}

int ck_meta_topic_del(ck_meta_t *m, MDB_txn *txn, const char *name)
{
	uint8_t prefix[CK_META_PKEY_MAX];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int n, r;

	r = ck_meta_topic_key(name, &k);
	if (r < 0)
		return r == CK_E_TOO_LARGE ? CK_E_NOT_FOUND : r;
	r = ck_meta_err(mdb_del(txn, m->topics, &k, NULL));
	if (r < 0)
		return r;
	n = ck_meta_pkey_prefix(prefix, name);
	CK_ASSERT(n > 0);
	r = ck_meta_err(mdb_cursor_open(txn, m->partitions, &cur));
	if (r < 0)
		return r;
	for (;;) {
		/* After a delete the cursor sits on the next key: SET_RANGE again
		 * is the simplest way to stay correct. */
		r = ck_meta_pcursor_first(cur, prefix, (size_t)n, &k, &v, MDB_SET_RANGE);
		if (r <= 0)
			break;
		r = ck_meta_err(mdb_cursor_del(cur, 0));
		if (r < 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

/* The caller's callback for one walk, whichever record type it takes. */
typedef struct {
	ck_meta_topic_fn topic;
	ck_meta_broker_fn broker;
	void *arg;
} ck_meta_walk_t;

static int ck_meta_walk_call(const ck_meta_walk_t *w, const ProtobufCMessage *msg)
{
	if (w->topic)
		return w->topic(w->arg, (const Chronik__Meta__TopicRecord *)msg);
	return w->broker(w->arg, (const Chronik__Meta__BrokerRecord *)msg);
}

/* Walks every record of DBI in key order, from the first key at or after
 * FROM (NULL: the first). */
static int ck_meta_walk(MDB_txn *txn, MDB_dbi dbi, const ProtobufCMessageDescriptor *desc,
                        const ck_meta_walk_t *w, const MDB_val *from)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	MDB_cursor_op op = from ? MDB_SET_RANGE : MDB_FIRST;
	int r;

	if (from)
		k = *from;

	r = ck_meta_err(mdb_cursor_open(txn, dbi, &cur));
	if (r < 0)
		return r;
	while ((r = ck_meta_cursor_next(cur, &k, &v, &op)) == 1) {
		ProtobufCMessage *msg;

		msg = protobuf_c_message_unpack(desc, NULL, v.mv_size, v.mv_data);
		if (!msg) {
			r = CK_E_CORRUPT;
			break;
		}
		r = ck_meta_walk_call(w, msg);
		protobuf_c_message_free_unpacked(msg, NULL);
		if (r != 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

int ck_meta_topics_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_topic_fn fn, void *arg)
{
	ck_meta_walk_t w = {.topic = fn, .arg = arg};

	CK_ASSERT(fn != NULL);
	return ck_meta_walk(txn, m->topics, &chronik__meta__topic_record__descriptor, &w, NULL);
}

int ck_meta_topics_foreach_from(ck_meta_t *m, MDB_txn *txn, const char *from, ck_meta_topic_fn fn,
                                void *arg)
{
	ck_meta_walk_t w = {.topic = fn, .arg = arg};
	MDB_val k;
	int r;

	CK_ASSERT(fn != NULL);
	if (!from)
		return ck_meta_topics_foreach(m, txn, fn, arg);
	r = ck_meta_topic_key(from, &k);
	if (r < 0)
		return r;
	return ck_meta_walk(txn, m->topics, &chronik__meta__topic_record__descriptor, &w, &k);
}

int ck_meta_brokers_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_broker_fn fn, void *arg)
{
	ck_meta_walk_t w = {.broker = fn, .arg = arg};

	CK_ASSERT(fn != NULL);
	return ck_meta_walk(txn, m->brokers, &chronik__meta__broker_record__descriptor, &w, NULL);
}

/* Appends a length (u32, little-endian) and LEN bytes of P to IMG. */
static int ck_meta_image_add(uint8_t **img, size_t *len, size_t *cap, const void *p, size_t n)
{
	size_t need = *len + 4 + n;

	if (n > UINT32_MAX)
		return CK_E_CORRUPT;
	if (need > *cap) {
		size_t c = *cap ? *cap : 256;
		uint8_t *b;

		while (c < need)
			c *= 2;
		b = realloc(*img, c);
		if (!b)
			return -ENOMEM;
		*img = b;
		*cap = c;
	}
	for (int i = 0; i < 4; i++)
		(*img)[*len + (size_t)i] = (uint8_t)(n >> (8 * i));
	if (n)
		memcpy(*img + *len + 4, p, n);
	*len = need;
	return 0;
}

int ck_meta_brokers_image(ck_meta_t *m, MDB_txn *txn, uint8_t **ret, size_t *ret_len)
{
	MDB_cursor *cur = NULL;
	MDB_cursor_op op = MDB_FIRST;
	MDB_val k, v;
	uint8_t *img = NULL;
	size_t len = 0, cap = 0;
	int r;

	r = ck_meta_err(mdb_cursor_open(txn, m->brokers, &cur));
	if (r < 0)
		return r;
	while ((r = ck_meta_cursor_next(cur, &k, &v, &op)) == 1) {
		r = ck_meta_image_add(&img, &len, &cap, k.mv_data, k.mv_size);
		if (r == 0)
			r = ck_meta_image_add(&img, &len, &cap, v.mv_data, v.mv_size);
		if (r < 0)
			break;
	}
	mdb_cursor_close(cur);
	if (r < 0) {
		free(img);
		return r;
	}
	*ret = img;
	*ret_len = len;
	return 0;
}

int ck_meta_partitions_foreach(ck_meta_t *m, MDB_txn *txn, const char *topic,
                               ck_meta_partition_fn fn, void *arg)
{
	uint8_t prefix[CK_META_PKEY_MAX];
	MDB_cursor *cur = NULL;
	MDB_cursor_op op = MDB_SET_RANGE;
	MDB_val k, v;
	int n, r;

	n = ck_meta_pkey_prefix(prefix, topic);
	if (n < 0)
		return n == CK_E_TOO_LARGE ? 0 : n;
	r = ck_meta_err(mdb_cursor_open(txn, m->partitions, &cur));
	if (r < 0)
		return r;
	for (;;) {
		Chronik__Meta__PartitionRecord *rec;

		r = ck_meta_pcursor_first(cur, prefix, (size_t)n, &k, &v, op);
		op = MDB_NEXT;
		if (r <= 0)
			break;
		rec = chronik__meta__partition_record__unpack(NULL, v.mv_size, v.mv_data);
		if (!rec) {
			r = CK_E_CORRUPT;
			break;
		}
		r = fn(arg, rec);
		chronik__meta__partition_record__free_unpacked(rec, NULL);
		if (r != 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

/* ---- the partition change log ("changes") ---- */

/* Key 0 is the floor; entries are 1 and up. */
int ck_meta_changes_floor(ck_meta_t *m, MDB_txn *txn, uint64_t *ret)
{
	uint8_t key[8];
	uint64_t v = 0;
	int r;

	ck_be64_put(key, 0);
	r = ck_meta_u64_get(txn, m->changes, key, sizeof(key), &v);
	if (r == CK_E_NOT_FOUND)
		r = 0;
	if (r == 0)
		*ret = v;
	return r;
}

static int ck_meta_changes_floor_put(ck_meta_t *m, MDB_txn *txn, uint64_t floor)
{
	uint8_t key[8];

	ck_be64_put(key, 0);
	return ck_meta_u64_put(txn, m->changes, key, sizeof(key), floor);
}

/* Whether every partition-changing entry from the floor up to PREV (the
 * previous parts_index) is recorded, so that recording INDEX keeps the
 * invariant: 1, 0 (the floor must restart), or an error. */
static int ck_meta_changes_intact(ck_meta_t *m, MDB_txn *txn, uint64_t index, uint64_t prev)
{
	uint8_t key[8];
	uint64_t floor = 0;
	MDB_val k = {sizeof(key), key}, v;
	int r = ck_meta_changes_floor(m, txn, &floor);

	if (r < 0)
		return r;
	if (floor == 0 || floor > index || prev >= index)
		return 0;
	if (prev < floor)
		return 1;
	ck_be64_put(key, prev);
	r = ck_meta_err(mdb_get(txn, m->changes, &k, &v));
	if (r == CK_E_NOT_FOUND)
		return 0;
	return r < 0 ? r : 1;
}

int ck_meta_change_put(ck_meta_t *m, MDB_txn *txn, uint64_t index, const char *topic)
{
	uint8_t key[8];
	size_t n = topic ? strlen(topic) : 0;
	MDB_val k = {sizeof(key), key}, v = {n, (void *)(n ? topic : "")};
	uint64_t prev = 0;
	int r;

	if (index == 0)
		return CK_E_INVALID;
	if (n > CK_META_TOPIC_MAX)
		return CK_E_TOO_LARGE;
	r = ck_meta_parts_index(m, txn, &prev);
	if (r == 0)
		r = ck_meta_changes_intact(m, txn, index, prev);
	/* The entries between PREV and INDEX changed no partition record
	 * (parts_index says so), so only PREV and what came before may be
	 * missing. PREV 0: not even parts_index was kept. */
	if (r == 0)
		r = ck_meta_changes_floor_put(m, txn, prev != 0 && prev < index ? prev + 1 : index);
	if (r < 0)
		return r;
	ck_be64_put(key, index);
	return ck_meta_err(mdb_put(txn, m->changes, &k, &v, 0));
}

int ck_meta_changes_trim(ck_meta_t *m, MDB_txn *txn, uint64_t keep_from)
{
	uint8_t key[8];
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint64_t floor = 0;
	int r;

	r = ck_meta_changes_floor(m, txn, &floor);
	if (r == 0)
		r = ck_meta_err(mdb_cursor_open(txn, m->changes, &cur));
	if (r < 0)
		return r;
	for (;;) {
		/* SET_RANGE after every delete: the cursor's position after one
		 * is LMDB's business. */
		ck_be64_put(key, 1);
		k = (MDB_val){sizeof(key), key};
		r = ck_meta_err(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
		if (r == CK_E_NOT_FOUND) {
			r = 0;
			break;
		}
		if (r < 0)
			break;
		if (k.mv_size != 8) {
			r = CK_E_CORRUPT;
			break;
		}
		if (ck_be64_get(k.mv_data) >= keep_from)
			break;
		r = ck_meta_err(mdb_cursor_del(cur, 0));
		if (r < 0)
			break;
	}
	mdb_cursor_close(cur);
	if (r == 0 && floor != 0 && keep_from > floor)
		r = ck_meta_changes_floor_put(m, txn, keep_from);
	return r;
}

int ck_meta_changes_foreach(ck_meta_t *m, MDB_txn *txn, uint64_t from_index, ck_meta_change_fn fn,
                            void *arg)
{
	uint8_t key[8];
	char name[CK_META_TOPIC_MAX + 1];
	MDB_cursor *cur = NULL;
	MDB_cursor_op op = MDB_SET_RANGE;
	MDB_val k = {sizeof(key), key}, v;
	int r;

	CK_ASSERT(fn != NULL);
	ck_be64_put(key, from_index ? from_index : 1);
	r = ck_meta_err(mdb_cursor_open(txn, m->changes, &cur));
	if (r < 0)
		return r;
	while ((r = ck_meta_cursor_next(cur, &k, &v, &op)) == 1) {
		if (k.mv_size != 8 || v.mv_size > CK_META_TOPIC_MAX) {
			r = CK_E_CORRUPT;
			break;
		}
		if (v.mv_size)
			memcpy(name, v.mv_data, v.mv_size);
		name[v.mv_size] = '\0';
		r = fn(arg, ck_be64_get(k.mv_data), name);
		if (r != 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

/* ---- committed offsets of consumer groups ("groups") ---- */

/* "<group>\0" into BUF (CK_META_GROUP_MAX + 1 bytes); returns its length
 * or an error. The empty group is one (Kafka keeps offsets of ""). */
static int ck_meta_gkey_prefix(uint8_t *buf, const char *group)
{
	size_t n;

	if (!group)
		return CK_E_INVALID;
	n = strlen(group);
	if (n > CK_META_GROUP_MAX)
		return CK_E_TOO_LARGE;
	memcpy(buf, group, n);
	buf[n] = '\0';
	return (int)n + 1;
}

/* The key of GROUP, TOPIC, PARTITION into BUF (CK_META_GKEY_BUF bytes). */
static int ck_meta_gkey(uint8_t *buf, const char *group, const char *topic, int32_t partition,
                        MDB_val *ret)
{
	MDB_val pk;
	int n = ck_meta_gkey_prefix(buf, group), r;

	if (n < 0)
		return n;
	r = ck_meta_pkey(buf + n, topic, partition, &pk);
	if (r < 0)
		return r;
	if ((size_t)n + pk.mv_size > CK_META_GKEY_MAX)
		return CK_E_TOO_LARGE;
	ret->mv_size = (size_t)n + pk.mv_size;
	ret->mv_data = buf;
	return 0;
}

/* A "groups" key taken apart; the names point into the key. */
typedef struct {
	const uint8_t *group;
	size_t group_len;
	const uint8_t *topic;
	size_t topic_len;
	int32_t partition;
} ck_meta_gkey_t;

/* Whether K has the shape ck_meta_gkey writes; fills *RET when it has. */
static bool ck_meta_gkey_parse(const MDB_val *k, ck_meta_gkey_t *ret)
{
	const uint8_t *p = k->mv_data, *nul = memchr(p, 0, k->mv_size);
	size_t g, t;
	uint32_t part;

	if (!nul || (size_t)(nul - p) > CK_META_GROUP_MAX)
		return false;
	g = (size_t)(nul - p);
	/* What follows the group's NUL: topic, NUL, 4 bytes. */
	if (k->mv_size < g + 1 + 1 + 1 + 4)
		return false;
	t = k->mv_size - g - 1 - 1 - 4;
	if (t > CK_META_TOPIC_MAX || p[g + 1 + t] != 0 || memchr(p + g + 1, 0, t))
		return false;
	part = ck_be32_get(p + g + 1 + t + 1);
	if (part > INT32_MAX)
		return false;
	*ret = (ck_meta_gkey_t){p, g, p + g + 1, t, (int32_t)part};
	return true;
}

int ck_meta_group_offset_put(ck_meta_t *m, MDB_txn *txn, const char *group, const char *topic,
                             int32_t partition, const Chronik__Meta__GroupOffsetRecord *rec)
{
	uint8_t buf[CK_META_GKEY_BUF];
	MDB_val k;
	int r = ck_meta_gkey(buf, group, topic, partition, &k);

	if (r < 0)
		return r;
	return ck_meta_put_msg(txn, m->groups, &k, &rec->base);
}

int ck_meta_group_offset_get(ck_meta_t *m, MDB_txn *txn, const char *group, const char *topic,
                             int32_t partition, Chronik__Meta__GroupOffsetRecord **ret)
{
	uint8_t buf[CK_META_GKEY_BUF];
	MDB_val k;
	int r = ck_meta_gkey(buf, group, topic, partition, &k);

	if (r < 0)
		return r;
	return ck_meta_get_msg(txn, m->groups, &k, &chronik__meta__group_offset_record__descriptor,
	                       (ProtobufCMessage **)ret);
}

/* Calls FN with the offset at K, V when both have their shape. */
int ck_meta_group_offset_del(ck_meta_t *m, MDB_txn *txn, const char *group, const char *topic,
                             int32_t partition)
{
	uint8_t buf[CK_META_GKEY_BUF];
	MDB_val k;
	int r = ck_meta_gkey(buf, group, topic, partition, &k);

	if (r < 0) /* no key of that shape is ever stored */
		return r == -ENOMEM ? r : CK_E_NOT_FOUND;
	return ck_meta_err(mdb_del(txn, m->groups, &k, NULL));
}

static int ck_meta_group_offset_call(const MDB_val *k, const MDB_val *v, ck_meta_group_offset_fn fn,
                                     void *arg)
{
	char topic[CK_META_TOPIC_MAX + 1];
	Chronik__Meta__GroupOffsetRecord *rec;
	ck_meta_gkey_t g;
	int r;

	if (!ck_meta_gkey_parse(k, &g))
		return 0;
	rec = chronik__meta__group_offset_record__unpack(NULL, v->mv_size, v->mv_data);
	if (!rec)
		return 0;
	memcpy(topic, g.topic, g.topic_len);
	topic[g.topic_len] = '\0';
	r = fn(arg, topic, g.partition, rec);
	chronik__meta__group_offset_record__free_unpacked(rec, NULL);
	return r;
}

int ck_meta_group_offsets_foreach(ck_meta_t *m, MDB_txn *txn, const char *group,
                                  ck_meta_group_offset_fn fn, void *arg)
{
	uint8_t prefix[CK_META_GROUP_MAX + 1];
	MDB_cursor *cur = NULL;
	MDB_cursor_op op = MDB_SET_RANGE;
	MDB_val k, v;
	int n, r;

	CK_ASSERT(fn != NULL);
	n = ck_meta_gkey_prefix(prefix, group);
	if (n < 0)
		return n;
	r = ck_meta_err(mdb_cursor_open(txn, m->groups, &cur));
	if (r < 0)
		return r;
	while ((r = ck_meta_prefix_step(cur, prefix, (size_t)n, &k, &v, op)) == 1) {
		op = MDB_NEXT;
		r = ck_meta_group_offset_call(&k, &v, fn, arg);
		if (r != 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}

int ck_meta_groups_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_group_fn fn, void *arg)
{
	char group[CK_META_GROUP_MAX + 2];
	MDB_cursor *cur = NULL;
	MDB_cursor_op op = MDB_FIRST;
	MDB_val k, v;
	ck_meta_gkey_t g;
	int r;

	CK_ASSERT(fn != NULL);
	r = ck_meta_err(mdb_cursor_open(txn, m->groups, &cur));
	if (r < 0)
		return r;
	while ((r = ck_meta_cursor_next(cur, &k, &v, &op)) == 1) {
		if (!ck_meta_gkey_parse(&k, &g))
			continue; /* the next key, of this group or another */
		memcpy(group, g.group, g.group_len);
		group[g.group_len] = '\0';
		r = fn(arg, group);
		if (r != 0)
			break;
		/* Past every key of the group: "<group>\x01" sorts after all
		 * of "<group>\0...". The seek also resets the cursor, which FN
		 * may have moved under it by changing the group. */
		group[g.group_len] = '\x01';
		k = (MDB_val){g.group_len + 1, group};
		op = MDB_SET_RANGE;
	}
	mdb_cursor_close(cur);
	return r;
}

/* Deletes every key starting with the PREFIX_LEN bytes of PREFIX. Returns
 * how many it deleted (capped at INT_MAX) or an error. */
static int ck_meta_prefix_del(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int n = 0, r = ck_meta_err(mdb_cursor_open(txn, dbi, &cur));

	if (r < 0)
		return r;
	/* SET_RANGE after every delete: the cursor's position after one is
	 * LMDB's business. */
	while ((r = ck_meta_prefix_step(cur, prefix, prefix_len, &k, &v, MDB_SET_RANGE)) == 1) {
		r = ck_meta_err(mdb_cursor_del(cur, 0));
		if (r < 0)
			break;
		n += n < INT_MAX;
	}
	mdb_cursor_close(cur);
	return r < 0 ? r : n;
}

int ck_meta_group_del(ck_meta_t *m, MDB_txn *txn, const char *group)
{
	uint8_t prefix[CK_META_GROUP_MAX + 1];
	int n = ck_meta_gkey_prefix(prefix, group);

	if (n < 0)
		return n;
	n = ck_meta_prefix_del(txn, m->groups, prefix, (size_t)n);
	return n == 0 ? CK_E_NOT_FOUND : (n < 0 ? n : 0);
}

typedef struct {
	ck_meta_t *m;
	MDB_txn *txn;
	const char *topic;
} ck_meta_topic_offsets_t;

/* Deletes the offsets of one group for the walk's topic. */
static int ck_meta_group_topic_del(void *arg, const char *group)
{
	ck_meta_topic_offsets_t *d = arg;
	uint8_t prefix[CK_META_GKEY_BUF];
	int g = ck_meta_gkey_prefix(prefix, group), t;

	CK_ASSERT(g > 0);
	t = ck_meta_pkey_prefix(prefix + g, d->topic);
	CK_ASSERT(t > 0);
	if ((size_t)(g + t) + 4 > CK_META_GKEY_MAX)
		return 0; /* no key of the group can name the topic */
	t = ck_meta_prefix_del(d->txn, d->m->groups, prefix, (size_t)(g + t));
	return t < 0 ? t : 0;
}

int ck_meta_topic_offsets_del(ck_meta_t *m, MDB_txn *txn, const char *topic)
{
	uint8_t check[CK_META_TOPIC_MAX + 1];
	ck_meta_topic_offsets_t d = {m, txn, topic};
	int r = ck_meta_pkey_prefix(check, topic);

	return r < 0 ? r : ck_meta_groups_foreach(m, txn, ck_meta_group_topic_del, &d);
}

/* ---- stored group states ("gstates") ---- */

/* The key of GROUP's state, or an argument error. */
static int ck_meta_gstate_key(const char *group, MDB_val *k)
{
	size_t n;

	if (!group || !group[0])
		return CK_E_INVALID;
	n = strlen(group);
	if (n > CK_META_GROUP_MAX)
		return CK_E_TOO_LARGE;
	*k = (MDB_val){n, (void *)group};
	return 0;
}

int ck_meta_group_state_put(ck_meta_t *m, MDB_txn *txn, const char *group,
                            const Chronik__Meta__GroupStateRecord *rec)
{
	MDB_val k;
	int r = ck_meta_gstate_key(group, &k);

	return r < 0 ? r : ck_meta_put_msg(txn, m->gstates, &k, &rec->base);
}

int ck_meta_group_state_get(ck_meta_t *m, MDB_txn *txn, const char *group,
                            Chronik__Meta__GroupStateRecord **ret)
{
	MDB_val k;
	int r = ck_meta_gstate_key(group, &k);

	if (r < 0)
		return r;
	return ck_meta_get_msg(txn, m->gstates, &k, &chronik__meta__group_state_record__descriptor,
	                       (ProtobufCMessage **)ret);
}

int ck_meta_group_state_del(ck_meta_t *m, MDB_txn *txn, const char *group)
{
	MDB_val k;
	int r = ck_meta_gstate_key(group, &k);

	if (r < 0) /* no key of that shape is ever stored */
		return CK_E_NOT_FOUND;
	return ck_meta_err(mdb_del(txn, m->gstates, &k, NULL));
}

int ck_meta_group_states_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_group_state_fn fn, void *arg)
{
	char name[CK_META_GROUP_MAX + 1];
	MDB_cursor *cur = NULL;
	MDB_cursor_op op = MDB_FIRST;
	MDB_val k, v;
	int r;

	CK_ASSERT(fn != NULL);
	r = ck_meta_err(mdb_cursor_open(txn, m->gstates, &cur));
	if (r < 0)
		return r;
	while ((r = ck_meta_cursor_next(cur, &k, &v, &op)) == 1) {
		Chronik__Meta__GroupStateRecord *rec;

		if (k.mv_size == 0 || k.mv_size > CK_META_GROUP_MAX ||
		    memchr(k.mv_data, '\0', k.mv_size))
			continue; /* not a key of this file's */
		rec = chronik__meta__group_state_record__unpack(NULL, v.mv_size, v.mv_data);
		if (!rec)
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		r = fn(arg, name, rec);
		chronik__meta__group_state_record__free_unpacked(rec, NULL);
		if (r != 0)
			break;
	}
	mdb_cursor_close(cur);
	return r;
}
