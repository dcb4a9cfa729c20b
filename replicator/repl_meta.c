/*
 * repl_meta.c: the replicator and LMDB `meta`: partition metadata in (read
 * transactions), HW checkpoints out ("offsets" database, "hw/" keys, format
 * in common/ck_hwckpt.h), and the raftd client whose Applied events say when the
 * metadata moved.
 *
 * Owned by replicator. A metadata read runs in one read transaction. When
 * no partition record changed since the last one ("parts_index", see
 * ck_meta.h: a config change costs no walk) it reads nothing; when
 * "changes" lists every entry since then, it re-reads just their topics
 * (plus the topics of logs that appeared without metadata), each handed to
 * the core as a per-topic sweep; otherwise it walks every partition record
 * of every topic as one full sweep. Both give the core what a full sweep
 * would: a topic not listed has the same records as at the last read. A
 * read that fails half-way is abandoned (the core keeps what it had, the
 * topics stay pending) and retried at the next Applied event or timer
 * tick. Checkpoints are written in one write transaction: the deletions
 * of deleted partitions' keys first, then every changed HW; the core
 * learns they are durable only after the commit.
 * Not for: what the records mean for a partition (repl_core.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_dataid.h"
#include "ck_err.h"
#include "ck_log.h"
#include "raftd.pb-c.h"
#include "ck_hwckpt.h"
#include "repl_shell.h"

int repl_meta_open(repl_shell_t *s)
{
	int r = ck_meta_open(s->cfg->data_dir, &s->meta);

	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot open metadata dir=%s/meta: %s", s->cfg->data_dir,
		       ck_strerror(r));
		return r;
	}
	if (ck_dataid_load(s->cfg->data_dir, &s->data_id) < 0)
		ck_log(CK_LOG_WARN, "cannot read the data id: leading as the metadata says");
	s->data_ok = s->data_id == 0;
	return 0;
}

/* Whether this broker's record holds this data dir's id (repl_shell.h). */
static int repl_meta_data_ok(repl_shell_t *s, MDB_txn *txn, bool *ret)
{
	Chronik__Meta__BrokerRecord *b = NULL;
	uint64_t was;
	int r;

	*ret = s->data_id == 0;
	if (*ret)
		return 0;
	r = ck_meta_broker_get(s->meta, txn, s->cfg->node_id, &b);
	if (r == CK_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	was = s->data_id;
	*ret = ck_dataid_matches(s->cfg->data_dir, b->data_id, &s->data_id);
	if (s->data_id != was)
		ck_log(CK_LOG_INFO, "new data id=%016" PRIx64 " (was %016" PRIx64 ")", s->data_id,
		       was);
	chronik__meta__broker_record__free_unpacked(b, NULL);
	return 0;
}

static void repl_meta_topics_clear(repl_shell_t *s);

void repl_meta_close(repl_shell_t *s)
{
	repl_meta_topics_clear(s);
	for (size_t i = 0; i < s->n_ckpt_dels; i++)
		free(s->ckpt_dels[i]);
	free(s->ckpt_dels);
	s->ckpt_dels = NULL;
	s->n_ckpt_dels = s->cap_ckpt_dels = 0;
	ck_meta_close(s->meta);
	s->meta = NULL;
}

/* ---- metadata ---- */

typedef struct {
	repl_shell_t *s;
	MDB_txn *txn;
	const char *topic;
	size_t invalid;
} repl_meta_read_t;

static int repl_meta_partition_cb(void *arg, const Chronik__Meta__PartitionRecord *rec)
{
	repl_meta_read_t *rd = arg;
	repl_meta_t m = {
	    .topic = rec->topic && rec->topic[0] ? rec->topic : rd->topic,
	    .partition = rec->partition,
	    .replicas = rec->replicas,
	    .n_replicas = rec->n_replicas,
	    .isr = rec->isr,
	    .n_isr = rec->n_isr,
	    /* Not registered with this data yet: not the leader (yet). */
	    .leader = rd->s->data_ok || rec->leader != rd->s->cfg->node_id ? rec->leader : -1,
	    .leader_epoch = rec->leader_epoch,
	    .partition_epoch = rec->partition_epoch,
	};
	int r = repl_core_meta_update(rd->s->core, &m);

	if (r == CK_E_INVALID) {
		if (rd->invalid++ == 0)
			ck_log(CK_LOG_WARN,
			       "partition metadata ignored partition=%s-%d replicas=%zu isr=%zu "
			       "epoch=%d",
			       m.topic, (int)m.partition, m.n_replicas, m.n_isr,
			       (int)m.leader_epoch);
		return 0;
	}
	return r;
}

static int repl_meta_topic_cb(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	repl_meta_read_t *rd = arg;

	if (!rec->name || !rec->name[0])
		return 0;
	rd->topic = rec->name;
	return ck_meta_partitions_foreach(rd->s->meta, rd->txn, rec->name, repl_meta_partition_cb,
	                                  rd);
}

/* ---- topics to re-read ---- */

static bool repl_name_eq(const void *key, const void *val)
{
	return !strcmp(key, val);
}

/* Adds TOPIC to meta_topics (once). Returns 0 or -ENOMEM. */
static int repl_meta_topic_add(repl_shell_t *s, const char *topic)
{
	uint64_t h = ck_hash_str(topic);
	char *dup;

	if (ck_hash_find(&s->meta_topics, h, repl_name_eq, topic))
		return 0;
	dup = strdup(topic);
	if (!dup)
		return -ENOMEM;
	if (ck_hash_insert(&s->meta_topics, h, dup) < 0) {
		free(dup);
		return -ENOMEM;
	}
	return 0;
}

static void repl_meta_topics_clear(repl_shell_t *s)
{
	size_t it = 0;
	char *t;

	while ((t = ck_hash_next(&s->meta_topics, &it)) != NULL)
		free(t);
	ck_hash_free(&s->meta_topics);
	s->meta_topics_lost = false;
}

void repl_meta_topic_want(repl_shell_t *s, const char *topic)
{
	if (repl_meta_topic_add(s, topic) < 0)
		s->meta_topics_lost = true;
}

typedef struct {
	repl_shell_t *s;
	uint64_t last; /* the parts_index being read */
	bool saw_last;
	bool unknown; /* an entry of an unknown topic, or no memory */
} repl_changes_t;

static int repl_meta_change_cb(void *arg, uint64_t index, const char *topic)
{
	repl_changes_t *x = arg;

	if (index > x->last)
		return 1;
	x->saw_last = index == x->last;
	if (!topic[0] || repl_meta_topic_add(x->s, topic) < 0) {
		x->unknown = true;
		return 1;
	}
	return 0;
}

/* Adds the topics of the entries meta_parts+1 .. PARTS to meta_topics
 * (ck_meta.h: "changes" covers them when FLOOR <= meta_parts + 1 and key
 * PARTS is there). Returns 1 when they are all in, 0 when only a full read
 * will do, or an error. */
static int repl_meta_changes_collect(repl_shell_t *s, MDB_txn *txn, uint64_t floor, uint64_t parts)
{
	repl_changes_t x = {.s = s, .last = parts};
	uint64_t p0 = s->meta_parts;
	int r;

	if (p0 == 0 || parts <= p0 || floor == 0 || floor > p0 + 1)
		return 0;
	r = ck_meta_changes_foreach(s->meta, txn, p0 + 1, repl_meta_change_cb, &x);
	if (r < 0)
		return r;
	return x.saw_last && !x.unknown;
}

/* Every topic of meta_topics as a per-topic sweep. */
static int repl_meta_read_topics(repl_meta_read_t *rd)
{
	size_t it = 0;
	const char *t;
	int r;

	while ((t = ck_hash_next(&rd->s->meta_topics, &it)) != NULL) {
		rd->topic = t;
		repl_core_meta_topic_begin(rd->s->core, t);
		r = ck_meta_partitions_foreach(rd->s->meta, rd->txn, t, repl_meta_partition_cb, rd);
		if (r < 0)
			return r;
		repl_core_meta_topic_end(rd->s->core, t);
	}
	return 0;
}

static int repl_meta_read_all(repl_meta_read_t *rd)
{
	int r;

	repl_core_meta_sweep_begin(rd->s->core);
	r = ck_meta_topics_foreach(rd->s->meta, rd->txn, repl_meta_topic_cb, rd);
	if (r < 0)
		return r;
	repl_core_meta_sweep_end(rd->s->core);
	return 0;
}

/* What a read does (repl_meta_plan). */
enum {
	REPL_READ_NONE = 0,
	REPL_READ_TOPICS = 1, /* the topics of meta_topics */
	REPL_READ_ALL = 2,
};

/* Returns REPL_READ_* (adding the topics of "changes" to meta_topics for
 * REPL_READ_TOPICS) or an error. */
static int repl_meta_plan(repl_shell_t *s, MDB_txn *txn, bool force, uint64_t applied,
                          uint64_t floor, uint64_t parts)
{
	int r;

	if (force || !s->meta_read || s->meta_topics_lost)
		return REPL_READ_ALL;
	if (applied != s->meta_applied && (parts == 0 || parts != s->meta_parts)) {
		r = repl_meta_changes_collect(s, txn, floor, parts);
		if (r <= 0)
			return r < 0 ? r : REPL_READ_ALL;
	}
	return ck_hash_count(&s->meta_topics) ? REPL_READ_TOPICS : REPL_READ_NONE;
}

int repl_meta_refresh(repl_shell_t *s, bool force)
{
	repl_meta_read_t rd = {.s = s};
	uint64_t applied = 0, parts = 0, floor = 0;
	bool data_ok = false;
	size_t topics = 0;
	int r, plan = REPL_READ_NONE;

	s->meta_read_ms = ck_clock_mono_ms();
	if (s->meta_ev)
		(void)evtimer_del(s->meta_ev); /* this read covers a held one */
	r = ck_meta_read_begin(s->meta, &rd.txn);
	if (r < 0)
		goto out;
	r = ck_meta_applied_index(s->meta, rd.txn, &applied);
	if (r == 0)
		r = ck_meta_parts_index(s->meta, rd.txn, &parts);
	if (r == 0)
		r = ck_meta_changes_floor(s->meta, rd.txn, &floor);
	if (r == 0)
		r = repl_meta_data_ok(s, rd.txn, &data_ok);
	if (r == 0 && (data_ok != s->data_ok || !s->meta_read)) {
		/* Every partition it leads is read again with the gate's new state. */
		ck_log(CK_LOG_INFO, "%s data_id=%016" PRIx64,
		       data_ok ? "broker registered with this data: leading as the metadata says"
		               : "broker not registered with this data yet: leading nothing",
		       s->data_id);
		s->data_ok = data_ok;
		force = true;
	}
	if (r == 0)
		r = plan = repl_meta_plan(s, rd.txn, force, applied, floor, parts);
	if (r < 0)
		goto out;
	if (plan == REPL_READ_NONE) {
		s->meta_applied = applied; /* no partition record moved since */
		goto out;
	}
	topics = ck_hash_count(&s->meta_topics);
	r = plan == REPL_READ_ALL ? repl_meta_read_all(&rd) : repl_meta_read_topics(&rd);
	if (r < 0)
		goto out;
	repl_meta_topics_clear(s);
	s->meta_read_cost_ms = ck_clock_mono_ms() - s->meta_read_ms;
	if (plan == REPL_READ_ALL)
		ck_log(CK_LOG_DEBUG,
		       "metadata read applied_index=%" PRIu64 " topics=all invalid=%zu", applied,
		       rd.invalid);
	else
		ck_log(CK_LOG_DEBUG,
		       "metadata read applied_index=%" PRIu64 " topics=%zu invalid=%zu", applied,
		       topics, rd.invalid);
	s->meta_applied = applied;
	s->meta_parts = parts;
	s->meta_incr = parts != 0 && floor != 0 && floor <= parts + 1;
	s->meta_read = true;
	repl_shell_schedule(s);
out:
	if (rd.txn)
		ck_meta_read_end(rd.txn);
	if (r < 0)
		ck_log(CK_LOG_WARN, "cannot read metadata: %s", ck_strerror(r));
	return r;
}

/* ---- checkpoints ---- */

int repl_ckpt_load(repl_shell_t *s, const char *topic, int32_t partition, repl_ckpt_t *ret)
{
	char key[CK_HWCKPT_KEY_MAX];
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int n = ck_hwckpt_key(key, sizeof(key), topic, partition);
	int r, found = 0;

	if (n < 0)
		return 0;
	r = ck_meta_read_begin(s->meta, &txn);
	if (r < 0)
		goto out;
	k = (MDB_val){(size_t)n, key};
	r = mdb_get(txn, ck_meta_offsets_dbi(s->meta), &k, &v);
	if (r == MDB_NOTFOUND) {
		r = 0;
		goto out;
	}
	if (r != 0) {
		r = r > 0 ? -r : r;
		goto out;
	}
	r = ck_hwckpt_decode(v.mv_data, v.mv_size, ret);
	found = r == 0;
out:
	ck_meta_read_end(txn);
	if (r < 0)
		ck_log(CK_LOG_WARN, "checkpoint ignored key=%s: %s", key, ck_strerror(r));
	return found;
}

void repl_ckpt_forget(repl_shell_t *s, const char *topic, int32_t partition)
{
	char key[CK_HWCKPT_KEY_MAX];
	char *dup;

	if (ck_hwckpt_key(key, sizeof(key), topic, partition) < 0)
		return;
	if (s->n_ckpt_dels == s->cap_ckpt_dels) {
		size_t cap = s->cap_ckpt_dels ? s->cap_ckpt_dels * 2 : 16;
		char **n = realloc(s->ckpt_dels, cap * sizeof(*n));
		if (!n)
			goto fail;
		s->ckpt_dels = n;
		s->cap_ckpt_dels = cap;
	}
	dup = strdup(key);
	if (!dup)
		goto fail;
	s->ckpt_dels[s->n_ckpt_dels++] = dup;
	return;
fail:
	/* A stale key only gives a re-created log a floor its log end
	 * overrides. */
	ck_log(CK_LOG_WARN, "checkpoint not removed key=%s: %s", key, ck_strerror(-ENOMEM));
}

typedef struct {
	repl_shell_t *s;
	MDB_txn *txn;
	size_t puts;
} repl_ckpt_ctx_t;

static int repl_ckpt_put_cb(void *arg, const repl_part_t *p)
{
	repl_ckpt_ctx_t *x = arg;
	char key[CK_HWCKPT_KEY_MAX];
	uint8_t val[CK_HWCKPT_VALUE_LEN];
	repl_ckpt_t ck = {p->hw, p->leader_epoch};
	MDB_val k, v = {sizeof(val), val};
	int n = ck_hwckpt_key(key, sizeof(key), p->topic, p->partition), r;

	if (n < 0)
		return n;
	ck_hwckpt_encode(val, &ck);
	k = (MDB_val){(size_t)n, key};
	r = mdb_put(x->txn, ck_meta_offsets_dbi(x->s->meta), &k, &v, 0);
	if (r != 0)
		return r > 0 ? -r : r;
	x->puts++;
	return 0;
}

static int repl_ckpt_any_cb(void *arg, const repl_part_t *p)
{
	(void)arg;
	(void)p;
	return 1;
}

static int repl_ckpt_dels_apply(repl_shell_t *s, MDB_txn *txn)
{
	for (size_t i = 0; i < s->n_ckpt_dels; i++) {
		MDB_val k = {strlen(s->ckpt_dels[i]), s->ckpt_dels[i]};
		int r = mdb_del(txn, ck_meta_offsets_dbi(s->meta), &k, NULL);
		if (r != 0 && r != MDB_NOTFOUND)
			return r > 0 ? -r : r;
	}
	return 0;
}

int repl_ckpt_write(repl_shell_t *s)
{
	repl_ckpt_ctx_t x = {.s = s};
	size_t dels;
	int r;

	/* Deletions reach the list through a flush: before the puts, so a
	 * re-created partition keeps its new checkpoint. */
	repl_shell_flush(s);
	dels = s->n_ckpt_dels;
	if (dels == 0 && repl_core_ckpt_dirty(s->core, repl_ckpt_any_cb, NULL) == 0) {
		repl_core_ckpt_clean(s->core);
		return 0;
	}
	r = ck_meta_write_begin(s->meta, &x.txn);
	if (r < 0)
		goto out;
	r = repl_ckpt_dels_apply(s, x.txn);
	if (r == 0)
		r = repl_core_ckpt_dirty(s->core, repl_ckpt_put_cb, &x);
	if (r < 0) {
		mdb_txn_abort(x.txn);
		goto out;
	}
	r = ck_meta_write_commit(x.txn);
	if (r < 0)
		goto out;
	repl_core_ckpt_clean(s->core);
	for (size_t i = 0; i < dels; i++)
		free(s->ckpt_dels[i]);
	s->n_ckpt_dels = 0;
	ck_log(CK_LOG_DEBUG, "checkpoint written hw=%zu deleted=%zu", x.puts, dels);
out:
	if (r < 0)
		ck_log(CK_LOG_WARN, "cannot write checkpoint: %s", ck_strerror(r));
	return r;
}

/* ---- raftd ---- */

static void repl_raftd_connect(ck_ipc_client_t *cl, void *arg)
{
	repl_shell_t *s = arg;
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Subscribe sub = CHRONIK__RAFTD__SUBSCRIBE__INIT;
	int r;

	req.correlation_id = s->raftd_sub_id = ck_ipc_client_next_id(cl);
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	sub.partitions_only = true; /* config changes are not ours */
	r = ck_ipc_client_send_msg(cl, &req.base);
	if (r < 0)
		ck_log(CK_LOG_WARN, "cannot subscribe to raftd: %s", ck_strerror(r));
}

void repl_meta_later_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)repl_meta_refresh(arg, false);
}

/* The metadata moved to APPLIED. A few entries through "changes" are read
 * at once; anything bigger (a full read, many topics) is spaced
 * REPL_META_GAP_MS apart at least: a burst of writes (thousands of topics
 * created) costs a few reads, not one per write. */
static void repl_meta_changed(repl_shell_t *s, uint64_t applied)
{
	uint64_t now = ck_clock_mono_ms();
	uint64_t due = s->meta_read_ms + CK_MAX((uint64_t)REPL_META_GAP_MS,
	                                        REPL_META_GAP_COST * s->meta_read_cost_ms);
	bool small = s->meta_read && s->meta_incr && applied > s->meta_applied &&
	             applied - s->meta_applied <= REPL_META_NOW_MAX;
	struct timeval tv;

	if (small || now >= due) {
		(void)repl_meta_refresh(s, false);
		return;
	}
	if (evtimer_pending(s->meta_ev, NULL))
		return;
	tv = (struct timeval){0, (suseconds_t)((due - now) * 1000)};
	(void)evtimer_add(s->meta_ev, &tv);
}

static void repl_raftd_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	repl_shell_t *s = arg;
	Chronik__Raftd__RaftdReply *rep = chronik__raftd__raftd_reply__unpack(NULL, len, data);

	(void)cl;
	if (!rep) {
		ck_log(CK_LOG_WARN, "raftd frame does not decode bytes=%zu", len);
		return;
	}
	if (rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED) {
		if (!s->meta_read || rep->applied->applied_index != s->meta_applied)
			repl_meta_changed(s, rep->applied->applied_index);
	} else if (rep->correlation_id != 0 && rep->correlation_id == s->raftd_sub_id &&
	           rep->error != 0) {
		ck_log(CK_LOG_WARN, "raftd refused the subscription: %s", ck_strerror(rep->error));
	}
	chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
}

const ck_ipc_client_handlers_t repl_raftd_handlers = {
    .on_connect = repl_raftd_connect,
    .on_frame = repl_raftd_frame,
};
