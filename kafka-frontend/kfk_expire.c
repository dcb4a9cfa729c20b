/*
 * kfk_expire.c: offset expiry on the coordinator (shell of
 * kfk_offexp.h; Kafka's offsets.retention.minutes and
 * offsets.retention.check.interval.ms, here [kafka] offsets_retention_ms
 * and offsets_retention_check_interval_ms).
 *
 * Every group tick marks the groups with live state as seen; every check
 * interval a sweep walks the groups with stored offsets that this node
 * coordinates and, for each without live state whose wait is over,
 * proposes one DeleteOffsets naming its offsets committed before the
 * cutoff, with expired_before_ms = the cutoff: raftd deletes only those
 * still older then, so a commit that races the sweep is kept. A group
 * whose offsets all go is gone (groups exist through their offsets). A
 * Stable consumer group loses only the offsets of topics none of its
 * members subscribes to, a retention after their commit.
 * A sweep proposes at most KFK_EXPIRE_GROUPS_MAX groups and
 * KFK_EXPIRE_PARTS_MAX offsets; what is left waits for the next, one
 * second later. No sweep starts while one's proposals are in flight.
 * Not for: the rule itself (kfk_offexp.c), OffsetDelete (kfk_h_group_admin.c).
 */
#define CK_LOG_SUBSYSTEM "groups"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

#define KFK_EXPIRE_GROUPS_MAX 1000
#define KFK_EXPIRE_PARTS_MAX  100000
#define KFK_EXPIRE_AGAIN_MS   1000

/* One group's expired offsets, gathered inside the read transaction. */
typedef struct {
	char *group;
	int64_t cutoff;
	const kfk_group_t *live; /* a Stable consumer group: unsubscribed topics only */
	Chronik__Meta__GroupPartition *parts;
	size_t n, cap;
} kfk_expire_group_t;

typedef struct {
	kfk_srv_t *s;
	MDB_txn *txn;
	int64_t now_ms;
	kfk_expire_group_t *groups;
	size_t n, cap;
	size_t parts; /* in all groups */
	bool full;    /* a limit was reached: sweep again soon */
	int err;
} kfk_expire_walk_t;

static void kfk_expire_group_free(kfk_expire_group_t *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->parts[i].topic);
	free(g->parts);
	free(g->group);
}

/* Adds TOPIC/PARTITION of the walk's last group when committed before the
 * cutoff. */
static int kfk_expire_offset(void *arg, const char *topic, int32_t partition,
                             const Chronik__Meta__GroupOffsetRecord *rec)
{
	kfk_expire_walk_t *w = arg;
	kfk_expire_group_t *g = &w->groups[w->n - 1];
	Chronik__Meta__GroupPartition *gp;

	if (rec->commit_ms >= g->cutoff ||
	    (g->live && kfk_gcore_offset_delete_check(g->live, kfk_str(topic)) != KFK_ERR_NONE))
		return 0;
	if (w->parts >= KFK_EXPIRE_PARTS_MAX) {
		w->full = true;
		return 1;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		void *p = realloc(g->parts, cap * sizeof(*g->parts));

		if (!p)
			return -ENOMEM;
		g->parts = p;
		g->cap = cap;
	}
	gp = &g->parts[g->n];
	chronik__meta__group_partition__init(gp);
	gp->partition = partition;
	gp->topic = strdup(topic);
	if (!gp->topic)
		return -ENOMEM;
	g->n++;
	w->parts++;
	return 0;
}

/* Whether G, held by the core, keeps its offsets from expiring: an Empty
 * group (kept a while after its last member left, as Kafka's) waits as
 * one not held does, from when it emptied. */
static bool kfk_expire_holds(const kfk_group_t *g)
{
	return g && (g->state != KFK_GROUP_EMPTY || g->nmembers > 0);
}

/* One stored group: live, waiting, or with offsets to expire. A live
 * group keeps them, except a Stable consumer group those of topics no
 * member subscribes to, once committed a retention ago (Kafka's rule). */
static int kfk_expire_visit(void *arg, const char *group)
{
	kfk_expire_walk_t *w = arg;
	kfk_srv_t *s = w->s;
	const kfk_group_t *held = kfk_gcore_find(&s->groups, kfk_str(group));
	const kfk_group_t *live = kfk_expire_holds(held) ? held : NULL;
	kfk_expire_group_t *g;
	int64_t cutoff;
	int r;

	if (!kfk_group_is_mine(s, kfk_str(group)))
		return 0; /* forgotten: met again, it waits anew */
	if (live) {
		if (kfk_offexp_live(&s->offexp, group, w->now_ms) < 0)
			return -ENOMEM;
		if (live->state != KFK_GROUP_STABLE || live->nmembers == 0 ||
		    strcmp(live->protocol_type, "consumer") != 0)
			return 0;
		cutoff = w->now_ms - s->set.offsets_retention_ms + 1;
	} else {
		cutoff =
		    kfk_offexp_cutoff(&s->offexp, group, w->now_ms, s->set.offsets_retention_ms);
	}
	if (cutoff <= 0)
		return cutoff < 0 ? (int)cutoff : 0;
	if (w->n >= KFK_EXPIRE_GROUPS_MAX || w->parts >= KFK_EXPIRE_PARTS_MAX) {
		w->full = true;
		return 0;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		void *p = realloc(w->groups, cap * sizeof(*w->groups));

		if (!p)
			return -ENOMEM;
		w->groups = p;
		w->cap = cap;
	}
	g = &w->groups[w->n++];
	memset(g, 0, sizeof(*g));
	g->cutoff = cutoff;
	g->live = live;
	g->group = strdup(group);
	if (!g->group)
		return -ENOMEM;
	r = ck_meta_group_offsets_foreach(s->meta, w->txn, group, kfk_expire_offset, w);
	return r < 0 ? r : 0;
}

static void kfk_expire_done(void *arg, int16_t err, const char *message)
{
	kfk_srv_t *s = arg;

	if (s->expire_inflight > 0)
		s->expire_inflight--;
	if (err != KFK_ERR_NONE)
		ck_log(CK_LOG_WARN,
		       "offset expiry not applied error=%s message=\"%s\": tried again "
		       "at the next sweep",
		       kfk_err_name(err), message ? message : "");
}

/* Proposes the expiry of G's gathered offsets. */
static void kfk_expire_propose(kfk_srv_t *s, const kfk_expire_group_t *g)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__DeleteOffsets del = CHRONIK__META__DELETE_OFFSETS__INIT;
	Chronik__Meta__GroupPartition **ptrs = calloc(g->n, sizeof(*ptrs));
	int r;

	if (!ptrs)
		return;
	for (size_t i = 0; i < g->n; i++)
		ptrs[i] = &g->parts[i];
	del.group = g->group;
	del.partitions = ptrs;
	del.n_partitions = g->n;
	del.expired_before_ms = g->cutoff;
	del.view_index = s->meta_index; /* the sweep's: it runs at once */
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS;
	cmd.delete_offsets = &del;
	r = kfk_propose(s, &cmd, 0, kfk_expire_done, s);
	free(ptrs);
	if (r < 0)
		ck_log(CK_LOG_WARN, "offset expiry of group %s not proposed: %s", g->group,
		       ck_strerror(r));
	else
		s->expire_inflight++;
}

/* A sweep; returns whether it stopped at a limit. */
static bool kfk_expire_sweep(kfk_srv_t *s)
{
	kfk_expire_walk_t w = {.s = s, .now_ms = ck_clock_wall_ms()};
	size_t groups = 0;

	kfk_meta_refresh(s);
	if (kfk_meta_read(s, &w.txn) != 0)
		return false;
	kfk_offexp_sweep_begin(&s->offexp);
	w.err = ck_meta_groups_foreach(s->meta, w.txn, kfk_expire_visit, &w);
	ck_meta_read_end(w.txn);
	/* After a failed walk the groups not reached are forgotten: safe,
	 * they only wait longer. */
	kfk_offexp_sweep_end(&s->offexp);
	if (w.err < 0)
		ck_log(CK_LOG_WARN, "offset expiry sweep stopped: %s", ck_strerror(w.err));
	for (size_t i = 0; i < w.n; i++) {
		if (w.err == 0 && w.groups[i].n > 0) {
			kfk_expire_propose(s, &w.groups[i]);
			groups++;
		}
		kfk_expire_group_free(&w.groups[i]);
	}
	free(w.groups);
	if (groups > 0)
		ck_log(CK_LOG_INFO,
		       "expiring %zu offsets of %zu groups: committed more than %" PRId64
		       " ms ago, groups without members as long",
		       w.parts, groups, s->set.offsets_retention_ms);
	return w.full;
}

void kfk_expire_tick(kfk_srv_t *s, uint64_t mono_ms)
{
	kfk_group_t *g;
	size_t it = 0;
	int64_t wall;

	if (s->set.offsets_retention_ms <= 0)
		return;
	wall = ck_clock_wall_ms();
	while ((g = ck_hash_next(&s->groups.groups, &it)) != NULL) {
		if (kfk_expire_holds(g))
			(void)kfk_offexp_live(&s->offexp, g->id, wall);
	}
	if (mono_ms < s->expire_next_ms || s->expire_inflight > 0)
		return;
	s->expire_next_ms = mono_ms + (kfk_expire_sweep(s) ? KFK_EXPIRE_AGAIN_MS
	                                                   : (uint64_t)s->set.offsets_check_ms);
}
