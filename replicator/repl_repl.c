/*
 * repl_repl.c: partition data replication between nodes (Kafka's follower
 * fetch; common/proto/replnet.proto over repl_net.h).
 *
 * Owned by replicator. Per partition with activity (a log with data and
 * other replicas, or a notice heard) one repl_rp_t; empty partitions cost
 * nothing, however many there are.
 *   Leader: when a led partition's log end or HW moves (walwriter events,
 *   the core's changes), each follower replica still behind gets a Notice
 *   (repeated every REPL_TICK_MS while one stays behind). A Fetch checks
 *   the follower's epoch against the leader's (the offset where the
 *   follower's last epoch ends here, when it is below the fetch offset, is
 *   sent back to truncate to), then counts as the follower's acknowledgement
 *   of every offset below it (repl_core_follower_fetch: the HW may move) and
 *   is answered with whole batches from that offset up to the log end.
 *   Follower: fetches from the leader of the partition's current epoch
 *   when its log is not known to be a prefix of the leader's yet, when the
 *   leader has more, or to acknowledge what it just appended; one request
 *   at a time per partition (fetch, then append or truncate through
 *   walwriter, whose answer comes after fdatasync, then the next fetch), so
 *   a fetch offset is always durable here. A fetch whose connection to the
 *   leader was lost, or whose leader restarted (a frame of its new
 *   incarnation came), may never be answered: it is asked again as soon
 *   as the leader is connected; one unanswered REPL_FETCH_STUCK_MS on a
 *   connection that stays up is asked again then. The leader's log start comes
 *   with notices and answers: ours moves up to it (never past our end);
 *   a fetch below it is refused with the base of the leader's first batch,
 *   where our log then starts over (walwriter's DeleteRecords start_over).
 * Safety: a follower appends only batches the leader of its current epoch
 * sent for the offset it asked (walwriter refuses a replica append that is
 * not at the log end), truncates only where that leader says its log
 * diverges (never by HW, KIP-101), and the leader's HW counts only offsets
 * every ISR member acknowledged this way.
 * Not for: the HW rule and who leads (repl_core.h), the transport
 * (repl_net.c), reading segment files (ck_seglog.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_seglog.h"
#include "repl_net.h"
#include "raftd.pb-c.h"
#include "repl_shell.h"
#include "walwriter.pb-c.h"

#define REPL_TICK_MS        200
#define REPL_FETCH_BYTES    ((size_t)1 << 20) /* Kafka's replica.fetch.max.bytes */
#define REPL_FETCH_STUCK_MS 3000              /* a fetch unanswered this long is lost */

typedef enum {
	REPL_BUSY_NONE = 0,
	REPL_BUSY_FETCH,
	REPL_BUSY_APPEND,
	REPL_BUSY_TRUNCATE,
	REPL_BUSY_START_OVER, /* below the leader's log start: empty, start there */
	REPL_WAL_LOG_START    /* not a busy state: a log start move in flight */
} repl_busy_t;

typedef struct repl_rp {
	char *topic;
	int32_t partition;
	/* Follower. */
	repl_busy_t busy;
	uint64_t busy_ms;      /* when the request went out */
	int32_t busy_epoch;    /* the leader epoch it went out under */
	int32_t busy_peer;     /* a fetch: the leader it went to */
	int64_t busy_offset;   /* a fetch: its fetch offset */
	int32_t checked_epoch; /* the epoch whose leader confirmed our prefix; -1 */
	int32_t fenced_epoch;  /* the epoch walwriter was fenced with for us; -1 */
	uint64_t fenced_gen;   /* ... by the walwriter of that wal_gen */
	int32_t seen_epoch;    /* the partition's epoch when last run */
	int64_t notice_end;    /* the leader's log end as last heard (notice_epoch) */
	int32_t notice_epoch;
	int64_t local_end; /* our log end per walwriter's last answer; -1 = use the core's */
	bool ack_owed;     /* appended since the last fetch: the next one acknowledges */
	int64_t start_asked; /* the log start last asked of walwriter; -1 */
	int64_t start_done;  /* the log start walwriter last answered; -1 */
	/* Leader. */
	int64_t noticed_start; /* log start last noticed */
	int64_t noticed_end;   /* log end last noticed */
	int64_t noticed_hw;
	bool lagging; /* a follower is behind: notices again on the tick */
	/* Since when each follower (p->followers[i], broker behind_id[i]) has
	 * been behind the log end; 0 = caught up. */
	int32_t behind_id[REPL_REPLICAS_MAX];
	uint64_t behind_ms[REPL_REPLICAS_MAX];
	int32_t isr_pepoch; /* partition epoch an ISR change was proposed at; -1 */
	uint64_t isr_ms;
	bool dirty;
	struct repl_rp *dnext;
} repl_rp_t;

/* A walwriter request of ours in flight. */
typedef struct repl_walreq {
	uint64_t cid;
	repl_busy_t kind;
	char *topic;
	int32_t partition;
	struct repl_walreq *next;
} repl_walreq_t;

/* Counters since the replicator started (GET /metrics). */
typedef struct {
	uint64_t isr_shrinks, isr_expands;                  /* proposed by this node as a leader */
	uint64_t truncations, start_overs, log_start_moves; /* as a follower */
	uint64_t fetched_bytes, appends;                    /* as a follower, sent to walwriter */
	uint64_t served_bytes, served_fetches;              /* as a leader */
} repl_stats_t;

struct repl_repl {
	repl_shell_t *s;
	repl_stats_t stats;
	repl_net_t *net;
	ck_hash_t rps;
	repl_rp_t *dirty;
	repl_walreq_t *walreqs;
	struct event *tick;
	uint64_t wal_gen; /* walwriter connections lost so far */
	/* Envelopes being gathered for each peer during a flush. */
	Chronik__Replnet__Envelope env[CK_CONFIG_PEERS_MAX];
	int32_t env_peer[CK_CONFIG_PEERS_MAX];
	size_t n_env;
	size_t cap_notices[CK_CONFIG_PEERS_MAX];
};

/* ---- partitions ---- */

static uint64_t repl_rp_hash(const char *topic, int32_t partition)
{
	return ck_hash_bytes_add(ck_hash_str(topic), &partition, sizeof(partition));
}

typedef struct {
	const char *topic;
	int32_t partition;
} repl_rp_key_t;

static bool repl_rp_eq(const void *key, const void *val)
{
	const repl_rp_key_t *k = key;
	const repl_rp_t *rp = val;

	return rp->partition == k->partition && !strcmp(rp->topic, k->topic);
}

static repl_rp_t *repl_rp_find(struct repl_repl *r, const char *topic, int32_t partition)
{
	repl_rp_key_t k = {topic, partition};

	return ck_hash_find(&r->rps, repl_rp_hash(topic, partition), repl_rp_eq, &k);
}

static repl_rp_t *repl_rp_get(struct repl_repl *r, const char *topic, int32_t partition)
{
	repl_rp_t *rp = repl_rp_find(r, topic, partition);

	if (rp)
		return rp;
	rp = calloc(1, sizeof(*rp));
	if (!rp || !(rp->topic = strdup(topic))) {
		free(rp);
		return NULL;
	}
	rp->partition = partition;
	rp->checked_epoch = -1;
	rp->fenced_epoch = -1;
	rp->seen_epoch = -1;
	rp->notice_end = -1;
	rp->notice_epoch = -1;
	rp->local_end = -1;
	rp->start_asked = -1;
	rp->start_done = -1;
	rp->noticed_start = -1;
	rp->noticed_end = -1;
	rp->noticed_hw = -1;
	rp->isr_pepoch = -1;
	if (ck_hash_insert(&r->rps, repl_rp_hash(topic, partition), rp) < 0) {
		free(rp->topic);
		free(rp);
		return NULL;
	}
	return rp;
}

static void repl_rp_mark(struct repl_repl *r, repl_rp_t *rp)
{
	if (rp->dirty)
		return;
	rp->dirty = true;
	rp->dnext = r->dirty;
	r->dirty = rp;
}

static bool repl_rp_wanted(const repl_part_t *p)
{
	if (!p || !p->have_log)
		return false;
	/* A leader with data, or with a replica out of the ISR (to take it
	 * back once it has fetched, also when there is no data); a follower
	 * with data (to check it against a new leader). */
	if (p->role == REPL_ROLE_LEADER)
		return p->n_followers > 0 && (p->log_end > 0 || p->n_isr < p->n_replicas);
	return p->role == REPL_ROLE_FOLLOWER && p->log_end > 0;
}

void repl_repl_touch(repl_shell_t *s, const char *topic, int32_t partition)
{
	struct repl_repl *r = s->repl;
	repl_rp_t *rp;

	if (!r)
		return;
	rp = repl_rp_find(r, topic, partition);
	if (!rp && repl_rp_wanted(repl_core_find(s->core, topic, partition)))
		rp = repl_rp_get(r, topic, partition);
	if (rp)
		repl_rp_mark(r, rp);
}

void repl_repl_forget(repl_shell_t *s, const char *topic, int32_t partition)
{
	struct repl_repl *r = s->repl;
	repl_rp_t *rp = r ? repl_rp_find(r, topic, partition) : NULL;

	if (!rp)
		return;
	if (rp->dirty) { /* unlink from the dirty list */
		for (repl_rp_t **pp = &r->dirty; *pp; pp = &(*pp)->dnext) {
			if (*pp == rp) {
				*pp = rp->dnext;
				break;
			}
		}
	}
	(void)ck_hash_remove(&r->rps, repl_rp_hash(topic, partition), rp);
	free(rp->topic);
	free(rp);
}

/* ---- sending ---- */

static Chronik__Replnet__Envelope *repl_env_for(struct repl_repl *r, int32_t peer)
{
	for (size_t i = 0; i < r->n_env; i++)
		if (r->env_peer[i] == peer)
			return &r->env[i];
	if (r->n_env == CK_CONFIG_PEERS_MAX)
		return NULL;
	chronik__replnet__envelope__init(&r->env[r->n_env]);
	r->env_peer[r->n_env] = peer;
	return &r->env[r->n_env++];
}

/* Sends and frees the gathered envelopes. */
static void repl_env_send_all(struct repl_repl *r)
{
	for (size_t i = 0; i < r->n_env; i++) {
		Chronik__Replnet__Envelope *env = &r->env[i];

		if (env->n_notices)
			(void)repl_net_send(r->net, r->env_peer[i], env);
		for (size_t k = 0; k < env->n_notices; k++)
			free(env->notices[k]);
		free(env->notices);
		r->cap_notices[i] = 0;
	}
	r->n_env = 0;
}

/* A notice of P to PEER; ACK: we do not know it holds our log end (it
 * fetches even when it has all the notice says: a leader that restarted
 * learns where its caught-up followers are). */
static void repl_notice_add(struct repl_repl *r, int32_t peer, const repl_part_t *p, bool ack)
{
	Chronik__Replnet__Envelope *env = repl_env_for(r, peer);
	Chronik__Replnet__Notice *nt;
	size_t i;

	if (!env || !repl_net_connected(r->net, peer))
		return;
	i = (size_t)(env - r->env);
	if (env->n_notices == r->cap_notices[i]) {
		size_t cap = r->cap_notices[i] ? r->cap_notices[i] * 2 : 16;
		Chronik__Replnet__Notice **g = realloc(env->notices, cap * sizeof(*g));

		if (!g)
			return;
		env->notices = g;
		r->cap_notices[i] = cap;
	}
	nt = malloc(sizeof(*nt));
	if (!nt)
		return;
	chronik__replnet__notice__init(nt);
	nt->topic = (char *)p->topic;
	nt->partition = p->partition;
	nt->leader_epoch = p->leader_epoch;
	nt->log_end = p->log_end;
	nt->high_watermark = p->hw;
	nt->log_start = p->log_start;
	nt->ack_wanted = ack;
	env->notices[env->n_notices++] = nt;
}

/* ---- leader ---- */

/* Notices for the followers of P that are behind or have not heard its HW
 * or log start (FORCE: every follower behind, again). */
static void repl_lead_notice(struct repl_repl *r, repl_rp_t *rp, const repl_part_t *p, bool force,
                             uint64_t now)
{
	bool started = p->log_start != rp->noticed_start && rp->noticed_start >= 0;
	bool moved = p->log_end != rp->noticed_end || p->hw != rp->noticed_hw || started;

	rp->lagging = false;
	for (size_t i = 0; i < p->n_followers && i < REPL_REPLICAS_MAX; i++) {
		const repl_follower_t *f = &p->followers[i];
		bool behind = f->ack_offset < p->log_end;

		if (!behind)
			rp->behind_ms[i] = 0;
		else if (rp->behind_id[i] != f->broker_id || rp->behind_ms[i] == 0)
			rp->behind_ms[i] = now;
		rp->behind_id[i] = f->broker_id;
		rp->lagging |= behind;
		if ((behind && (moved || force)) || (moved && p->hw != rp->noticed_hw) || started)
			repl_notice_add(r, f->broker_id, p, behind);
	}
	rp->noticed_start = p->log_start;
	rp->noticed_end = p->log_end;
	rp->noticed_hw = p->hw;
}

/* Whether broker ID is in P's ISR. */
static bool repl_in_isr(const repl_part_t *p, int32_t id)
{
	for (size_t i = 0; i < p->n_isr; i++)
		if (p->isr[i] == id)
			return true;
	return false;
}

/* The ISR without the followers behind for longer than the lag limit
 * (Kafka's replica.lag.time.max.ms): behind the log end for that long
 * (an idle follower is not behind, whenever it last fetched) and not
 * caught up for that long by Kafka's rule (the core's last_caught_up_ms:
 * a fetch at the log end of the fetch before counts, and it restarts with
 * a leadership and at an ISR join, so neither a follower that keeps up
 * under load nor one behind since an earlier leadership or before it
 * rejoined is dropped). Returns whether it differs. */
static bool repl_isr_lagging(const repl_rp_t *rp, const repl_part_t *p, int32_t self, uint64_t now,
                             uint64_t lag_ms, int32_t *isr, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < p->n_isr; i++) {
		bool out = false;

		for (size_t j = 0; j < p->n_followers && j < REPL_REPLICAS_MAX; j++) {
			const repl_follower_t *f = &p->followers[j];

			out |= p->isr[i] != self && f->broker_id == p->isr[i] &&
			       rp->behind_id[j] == p->isr[i] && rp->behind_ms[j] != 0 &&
			       now > rp->behind_ms[j] && now - rp->behind_ms[j] > lag_ms &&
			       now > f->last_caught_up_ms && now - f->last_caught_up_ms > lag_ms;
		}
		if (!out)
			isr[(*n)++] = p->isr[i];
	}
	return *n != p->n_isr;
}

/* Drops from ISR (N members) the ones P's ISR lacks whose broker the
 * metadata here shows fenced or unknown (the controller would refuse them,
 * KIP-841). Returns whether one is left that P's ISR lacks. */
static bool repl_isr_live(repl_shell_t *s, const repl_part_t *p, int32_t *isr, size_t *n)
{
	MDB_txn *txn;
	size_t k = 0;
	bool grows = false;

	if (ck_meta_read_begin(s->meta, &txn) < 0)
		return false;
	for (size_t i = 0; i < *n; i++) {
		Chronik__Meta__BrokerRecord *b = NULL;
		bool live = repl_in_isr(p, isr[i]);

		if (!live && ck_meta_broker_get(s->meta, txn, isr[i], &b) == 0) {
			live = !b->fenced;
			grows |= live;
			chronik__meta__broker_record__free_unpacked(b, NULL);
		}
		if (live)
			isr[k++] = isr[i];
	}
	ck_meta_read_end(txn);
	*n = k;
	return grows;
}

/* Proposes P's new ISR to the controller (through raftd), one change at a
 * time per partition: the next waits until the metadata shows this one or
 * a few seconds passed. */
static void repl_lead_isr(struct repl_repl *r, repl_rp_t *rp, const repl_part_t *p, uint64_t now)
{
	repl_shell_t *s = r->s;
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Propose pr = CHRONIK__RAFTD__PROPOSE__INIT;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__UpdatePartition up = CHRONIK__META__UPDATE_PARTITION__INIT;
	int32_t isr[REPL_REPLICAS_MAX];
	size_t n = 0;
	bool shrink;

	if (rp->isr_pepoch == p->partition_epoch && now - rp->isr_ms < 5000)
		return;
	shrink = repl_isr_lagging(rp, p, s->cfg->node_id, now,
	                          (uint64_t)s->cfg->replica_lag_time_max_ms, isr, &n);
	if (!shrink &&
	    (!repl_isr_expand(p, s->cfg->node_id, isr, &n) || !repl_isr_live(s, p, isr, &n)))
		return;
	if (n == 0 || !repl_in_isr(p, s->cfg->node_id) || !ck_ipc_client_connected(s->raftd))
		return;
	up.topic = (char *)p->topic;
	up.partition = p->partition;
	up.leader = s->cfg->node_id;
	up.isr = isr;
	up.n_isr = n;
	up.leader_epoch = p->leader_epoch;
	up.partition_epoch = p->partition_epoch;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION;
	cmd.update_partition = &up;
	pr.command = &cmd;
	req.correlation_id = ck_ipc_client_next_id(s->raftd);
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
	req.propose = &pr;
	if (ck_ipc_client_send_msg(s->raftd, &req.base) < 0)
		return;
	if (!shrink)
		repl_core_isr_adding(s->core, p->topic, p->partition, isr, n);
	rp->isr_pepoch = p->partition_epoch;
	rp->isr_ms = now;
	if (shrink)
		r->stats.isr_shrinks++;
	else
		r->stats.isr_expands++;
	ck_log(CK_LOG_INFO, "ISR %s partition=%s-%d epoch=%d isr_size=%zu -> %zu",
	       shrink ? "shrink" : "expand", p->topic, (int)p->partition, (int)p->leader_epoch,
	       p->n_isr, n);
}

static void repl_reply_send(struct repl_repl *r, int32_t peer, Chronik__Replnet__FetchReply *rep)
{
	Chronik__Replnet__Envelope env = CHRONIK__REPLNET__ENVELOPE__INIT;
	Chronik__Replnet__FetchReply *reps[1] = {rep};

	env.n_replies = 1;
	env.replies = reps;
	(void)repl_net_send(r->net, peer, &env);
}

/* The offset where FOLLOWER's log diverges from ours, or -1 when it does not
 * (KIP-101: the end of its last epoch here, when below its fetch offset). */
static int64_t repl_lead_divergence(struct repl_repl *r, const repl_part_t *p,
                                    const Chronik__Replnet__Fetch *f)
{
	int64_t end;

	if (f->last_epoch < 0 || f->fetch_offset == 0)
		return f->fetch_offset > p->log_end ? p->log_end : -1;
	if (f->last_epoch >= p->leader_epoch)
		end = p->log_end;
	else if (ck_seglog_epoch_end(r->s->cfg->data_dir, p->topic, p->partition, p->log_start,
	                            p->log_end, f->last_epoch, &end) < 0)
		return -1; /* unreadable: no truncation on a guess; the reply fails */
	return end < f->fetch_offset ? end : -1;
}

/* Whether the follower's log is of another incarnation of the topic than
 * ours (both ids known): a log of a deleted topic the follower has not
 * deleted yet (it was away), which must not be truncated to ours and grown
 * as if it were the new topic's. Refused as no such log; the follower asks
 * again once raftd has replaced its log. */
static bool repl_lead_other_incarnation(const repl_part_t *p, const Chronik__Replnet__Fetch *f)
{
	static ck_log_limit_t lim;

	if (!p->has_topic_id || f->topic_id.len != REPL_TOPIC_ID_LEN ||
	    !memcmp(p->topic_id, f->topic_id.data, REPL_TOPIC_ID_LEN))
		return false;
	ck_log_limited(&lim, CK_LOG_INFO,
	               "follower fetch refused: its log is of another incarnation of the topic "
	               "partition=%s-%d",
	               p->topic, (int)p->partition);
	return true;
}

static void repl_lead_fetch(struct repl_repl *r, int32_t peer, const Chronik__Replnet__Fetch *f)
{
	repl_shell_t *s = r->s;
	const repl_part_t *p = f->topic ? repl_core_find(s->core, f->topic, f->partition) : NULL;
	Chronik__Replnet__FetchReply rep = CHRONIK__REPLNET__FETCH_REPLY__INIT;
	ck_buf_t buf;
	int64_t div, n;
	int err = 0;

	ck_buf_init(&buf);
	rep.topic = f->topic;
	rep.partition = f->partition;
	rep.leader_epoch = f->leader_epoch;
	rep.fetch_offset = f->fetch_offset;
	rep.truncate_to = -1;
	if (!p || !p->have_log || repl_lead_other_incarnation(p, f))
		err = CK_E_NOT_FOUND;
	else if (p->role != REPL_ROLE_LEADER || p->leader_epoch != f->leader_epoch)
		err = CK_E_NOT_LEADER;
	if (err)
		goto out;
	rep.log_start = p->log_start;
	rep.log_end = p->log_end;
	/* Below our log start the follower holds nothing we still have: it
	 * starts over at the base of the batch holding our start (batches are
	 * whole), unless it is there already. No epoch check there: what lies
	 * below our start is gone for every reader anyway. */
	if (f->fetch_offset < p->log_start) {
		int32_t epoch;
		int64_t base, last;

		rep.start_at = p->log_start;
		if (ck_seglog_batch_at(s->cfg->data_dir, p->topic, p->partition, p->log_start,
		                      &epoch, &base, &last) == 1 &&
		    base <= p->log_start)
			rep.start_at = base;
		if (f->fetch_offset != rep.start_at) {
			err = CK_E_OFFSET_RANGE;
			goto out;
		}
	}
	div = f->fetch_offset < p->log_start ? -1 : repl_lead_divergence(r, p, f);
	if (div >= 0) {
		rep.truncate_to = div;
		rep.high_watermark = p->hw;
		goto out;
	}
	(void)repl_core_follower_start(s->core, f->topic, f->partition, peer, f->log_start);
	err = repl_core_follower_fetch(s->core, f->topic, f->partition, peer, f->fetch_offset);
	if (err)
		goto out;
	repl_shell_schedule(s); /* the HW may have moved */
	p = repl_core_find(s->core, f->topic, f->partition);
	rep.high_watermark = p->hw;
	if (f->fetch_offset < p->log_end) {
		size_t max = f->max_bytes > 0
		                 ? (size_t)CK_MIN(f->max_bytes, (int64_t)REPL_FETCH_BYTES)
		                 : REPL_FETCH_BYTES;

		n = ck_seglog_read(s->cfg->data_dir, p->topic, p->partition, f->fetch_offset,
		                  p->log_end, max, &buf);
		if (n < 0) {
			static ck_log_limit_t lim;

			err = (int)n;
			ck_log_limited(
			    &lim, CK_LOG_WARN,
			    "cannot read for a follower partition=%s-%d offset=%" PRId64 ": %s",
			    p->topic, (int)p->partition, f->fetch_offset, ck_strerror(err));
		}
		rep.records.data = buf.data;
		rep.records.len = buf.len;
		r->stats.served_bytes += buf.len;
	}
out:
	rep.error = err;
	r->stats.served_fetches++;
	repl_reply_send(r, peer, &rep);
	ck_buf_free(&buf);
}

/* ---- follower ---- */

static int repl_wal_send(struct repl_repl *r, repl_busy_t kind, const char *topic,
                         int32_t partition, Chronik__Wal__WalRequest *req)
{
	repl_walreq_t *w = calloc(1, sizeof(*w));
	int e;

	if (!w || !(w->topic = strdup(topic))) {
		free(w);
		return -ENOMEM;
	}
	if (!ck_ipc_client_connected(r->s->walwriter)) {
		free(w->topic);
		free(w);
		return -ENOTCONN;
	}
	req->correlation_id = w->cid = ck_ipc_client_next_id(r->s->walwriter);
	e = ck_ipc_client_send_msg(r->s->walwriter, &req->base);
	if (e < 0) {
		free(w->topic);
		free(w);
		return e;
	}
	w->kind = kind;
	w->partition = partition;
	w->next = r->walreqs;
	r->walreqs = w;
	return 0;
}

/* Sends REQ to walwriter for RP (the leader epoch EPOCH) and waits for its
 * answer before anything else (KIND: append, truncate, start over). */
static void repl_fol_wal(struct repl_repl *r, repl_rp_t *rp, repl_busy_t kind, int32_t epoch,
                         Chronik__Wal__WalRequest *req)
{
	if (repl_wal_send(r, kind, rp->topic, rp->partition, req) < 0)
		return;
	rp->busy = kind;
	rp->busy_ms = ck_clock_mono_ms();
	rp->busy_epoch = epoch;
}

/* Our log end as a fetch offset: walwriter's last answer, else the core's
 * when all of it is durable; -1 when not settled yet. */
static int64_t repl_fol_end(const repl_rp_t *rp, const repl_part_t *p)
{
	if (rp->local_end >= 0)
		return rp->local_end;
	return p->durable_end >= p->log_end ? p->log_end : -1;
}

/* Moves our log start up to the leader's LEADER_START (its DeleteRecords
 * or retention), never past our log end or the HW we know (a start past
 * the HW would delete what is not committed yet): below that our fetches
 * get OFFSET_RANGE and the log starts over instead (repl_fol_start_over). */
static void repl_fol_log_start(struct repl_repl *r, repl_rp_t *rp, const repl_part_t *p,
                               int64_t leader_start)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__DeleteRecords dr = CHRONIK__WAL__DELETE_RECORDS__INIT;
	int64_t end = repl_fol_end(rp, p), to = CK_MIN(CK_MIN(leader_start, end), p->hw);
	static ck_log_limit_t lim;

	if (end < 0 || to <= p->log_start || to <= rp->start_asked ||
	    rp->busy == REPL_BUSY_TRUNCATE || rp->busy == REPL_BUSY_START_OVER)
		return;
	dr.topic = (char *)p->topic;
	dr.partition = p->partition;
	dr.before_offset = to;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_RECORDS;
	req.delete_records = &dr;
	if (repl_wal_send(r, REPL_WAL_LOG_START, p->topic, p->partition, &req) < 0)
		return;
	rp->start_asked = to;
	r->stats.log_start_moves++;
	ck_log_limited(&lim, CK_LOG_INFO,
	               "follower log start moves with the leader's partition=%s-%d start=%" PRId64
	               " -> %" PRId64,
	               p->topic, (int)p->partition, p->log_start, to);
}

/* Our whole log lies below the leader's log start (retention or
 * DeleteRecords there while we were away): it empties and starts at the
 * base of the leader's first batch (Kafka's truncate-fully-and-start-at),
 * fetches on from there, and moves its start up to the leader's. */
static void repl_fol_start_over(struct repl_repl *r, repl_rp_t *rp, int32_t peer,
                                const Chronik__Replnet__FetchReply *rep)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__DeleteRecords dr = CHRONIK__WAL__DELETE_RECORDS__INIT;

	ck_log(CK_LOG_INFO,
	       "follower log below the leader's log start, starting over partition=%s-%d "
	       "leader=%d epoch=%d end=%" PRId64 " leader_start=%" PRId64 " at=%" PRId64,
	       rep->topic, (int)rep->partition, (int)peer, (int)rep->leader_epoch,
	       rep->fetch_offset, rep->log_start, rep->start_at);
	dr.topic = rep->topic;
	dr.partition = rep->partition;
	dr.before_offset = rep->start_at;
	dr.start_over = true;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_RECORDS;
	req.delete_records = &dr;
	r->stats.start_overs++;
	repl_fol_wal(r, rp, REPL_BUSY_START_OVER, rep->leader_epoch, &req);
}

/* First thing of a leadership this node follows: walwriter refuses leader
 * appends of older epochs from now on (kafka-frontend may still send some
 * of the leadership this node had), and answers the log end with every
 * append it took before, written: what the first fetch's divergence check
 * is made from. A stray old-epoch append left out of that end stayed in
 * the log for good, its offsets holding other records than the leader's
 * (helper 1: a batch twice, acknowledged records lost, once this replica
 * led). */
static void repl_fol_fence(struct repl_repl *r, repl_rp_t *rp, const repl_part_t *p)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Truncate tr = CHRONIK__WAL__TRUNCATE__INIT;

	tr.topic = (char *)p->topic;
	tr.partition = p->partition;
	tr.to_end = true;
	tr.leader_epoch = p->leader_epoch;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_TRUNCATE;
	req.truncate = &tr;
	rp->fenced_epoch = p->leader_epoch;
	rp->fenced_gen = r->wal_gen;
	rp->checked_epoch = -1;
	repl_fol_wal(r, rp, REPL_BUSY_TRUNCATE, p->leader_epoch, &req);
}

static void repl_fol_fetch(struct repl_repl *r, repl_rp_t *rp, const repl_part_t *p, uint64_t now)
{
	Chronik__Replnet__Envelope env = CHRONIK__REPLNET__ENVELOPE__INIT;
	Chronik__Replnet__Fetch f = CHRONIK__REPLNET__FETCH__INIT;
	Chronik__Replnet__Fetch *fs[1] = {&f};
	int64_t end = repl_fol_end(rp, p), base, last;
	int32_t epoch = -1;
	bool check, more;

	if (p->role == REPL_ROLE_FOLLOWER && rp->busy == REPL_BUSY_NONE &&
	    (rp->fenced_epoch != p->leader_epoch || rp->fenced_gen != r->wal_gen)) {
		repl_fol_fence(r, rp, p);
		return;
	}
	if (p->role != REPL_ROLE_FOLLOWER || p->leader <= 0 || rp->busy != REPL_BUSY_NONE ||
	    end < 0 || !repl_net_connected(r->net, p->leader))
		return;
	/* Once per leadership (also with an empty log: the leader counts the
	 * fetch to take us back into the ISR), more when the leader has it, and
	 * to acknowledge an append. */
	check = rp->checked_epoch != p->leader_epoch;
	more = rp->notice_epoch == p->leader_epoch && rp->notice_end > end;
	if (!check && !more && !rp->ack_owed)
		return;
	if (check && end > p->log_start &&
	    ck_seglog_batch_at(r->s->cfg->data_dir, p->topic, p->partition, end - 1, &epoch, &base,
	                      &last) != 1)
		epoch = -1;
	f.topic = (char *)p->topic;
	f.partition = p->partition;
	if (p->has_topic_id)
		f.topic_id = (ProtobufCBinaryData){REPL_TOPIC_ID_LEN, (uint8_t *)p->topic_id};
	f.leader_epoch = p->leader_epoch;
	f.fetch_offset = end;
	f.last_epoch = check ? epoch : -1;
	f.max_bytes = (int64_t)REPL_FETCH_BYTES;
	/* walwriter's answer may come before its log event: the later of the
	 * two (a start past our end is an older log's). */
	f.log_start = p->log_start;
	if (rp->start_done > f.log_start && rp->start_done <= end)
		f.log_start = rp->start_done;
	env.n_fetches = 1;
	env.fetches = fs;
	if (repl_net_send(r->net, p->leader, &env) < 0)
		return;
	rp->busy = REPL_BUSY_FETCH;
	rp->busy_ms = now;
	rp->busy_epoch = p->leader_epoch;
	rp->busy_peer = p->leader;
	rp->busy_offset = end;
	rp->ack_owed = false;
}

/* RP's fetch in flight will not be answered (or not in time): the next
 * one may go out, and acknowledges again what the lost one did. An answer
 * to the lost one that still comes is taken only while it answers the
 * fetch then in flight (same leader, epoch and offset). */
static void repl_fol_fetch_lost(repl_rp_t *rp)
{
	rp->busy = REPL_BUSY_NONE;
	rp->ack_owed = true;
}

static void repl_fol_notice(struct repl_repl *r, int32_t peer, const Chronik__Replnet__Notice *nt)
{
	repl_shell_t *s = r->s;
	const repl_part_t *p;
	repl_rp_t *rp;

	if (!nt->topic || !nt->topic[0])
		return;
	/* Only for a partition known here (the leader says it again while we
	 * are behind, so one that arrives before our metadata is not lost):
	 * notices never make state for names nobody created. */
	p = repl_core_find(s->core, nt->topic, nt->partition);
	if (!p || p->role == REPL_ROLE_LEADER)
		return;
	rp = repl_rp_get(r, nt->topic, nt->partition);
	if (!rp)
		return;
	if (nt->leader_epoch >= rp->notice_epoch) {
		rp->notice_epoch = nt->leader_epoch;
		rp->notice_end = nt->log_end;
	}
	/* The leader's HW counts only once this leadership's fetch confirmed
	 * our log (checked_epoch): before that our end may be a tail the new
	 * leader has not, and min(its HW, our end) would put HW above the
	 * truncation to come (checkpointed at a stop in between, the next
	 * boot finds the log short of its HW and leaves the ISRs). */
	if (p->leader == peer && rp->checked_epoch == nt->leader_epoch &&
	    repl_core_leader_hw(s->core, nt->topic, nt->partition, nt->leader_epoch,
	                        nt->high_watermark) == 0)
		repl_shell_schedule(s);
	if (p->leader == peer && p->leader_epoch == nt->leader_epoch) {
		repl_fol_log_start(r, rp, p, nt->log_start);
		rp->ack_owed |= nt->ack_wanted;
	}
	repl_rp_mark(r, rp);
}

static void repl_fol_reply(struct repl_repl *r, int32_t peer,
                           const Chronik__Replnet__FetchReply *rep)
{
	repl_shell_t *s = r->s;
	repl_rp_t *rp = rep->topic ? repl_rp_find(r, rep->topic, rep->partition) : NULL;
	const repl_part_t *p = rp ? repl_core_find(s->core, rep->topic, rep->partition) : NULL;
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__Append ap = CHRONIK__WAL__APPEND__INIT;
	Chronik__Wal__Truncate tr = CHRONIK__WAL__TRUNCATE__INIT;

	if (!rp || rp->busy != REPL_BUSY_FETCH || rep->leader_epoch != rp->busy_epoch ||
	    peer != rp->busy_peer || rep->fetch_offset != rp->busy_offset)
		return; /* stale: not the answer we wait for */
	rp->busy = REPL_BUSY_NONE;
	if (!p || p->role != REPL_ROLE_FOLLOWER || p->leader != peer ||
	    p->leader_epoch != rep->leader_epoch) {
		repl_rp_mark(r, rp); /* the leadership moved meanwhile */
		return;
	}
	if (rep->error == CK_E_OFFSET_RANGE && rep->start_at != rep->fetch_offset &&
	    rep->start_at >= 0 && rep->start_at <= rep->log_start) {
		repl_fol_start_over(r, rp, peer, rep);
		return;
	}
	if (rep->error) {
		/* Asked again on the tick, not at once: the leader's metadata
		 * may lag ours for a moment. */
		static ck_log_limit_t lim;

		ck_log_limited(&lim, CK_LOG_INFO,
		               "follower fetch refused partition=%s-%d leader=%d epoch=%d "
		               "offset=%" PRId64 ": %s",
		               rep->topic, (int)rep->partition, (int)peer, (int)rep->leader_epoch,
		               rep->fetch_offset, ck_strerror(rep->error));
		return;
	}
	repl_rp_mark(r, rp);
	if (rep->leader_epoch >= rp->notice_epoch) {
		rp->notice_epoch = rep->leader_epoch;
		rp->notice_end = rep->log_end;
	}
	if (rep->truncate_to >= 0) {
		int64_t to = CK_MIN(rep->truncate_to, rep->fetch_offset);

		ck_log(CK_LOG_INFO,
		       "follower log diverges from the leader's, truncating partition=%s-%d "
		       "leader=%d epoch=%d from=%" PRId64 " to=%" PRId64,
		       rep->topic, (int)rep->partition, (int)peer, (int)rep->leader_epoch,
		       rep->fetch_offset, to);
		tr.topic = rep->topic;
		tr.partition = rep->partition;
		tr.offset = to;
		tr.leader_epoch = rep->leader_epoch;
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_TRUNCATE;
		req.truncate = &tr;
		r->stats.truncations++;
		repl_fol_wal(r, rp, REPL_BUSY_TRUNCATE, rep->leader_epoch, &req);
		return;
	}
	rp->checked_epoch = rep->leader_epoch;
	if (repl_core_leader_hw(s->core, rep->topic, rep->partition, rep->leader_epoch,
	                        rep->high_watermark) == 0)
		repl_shell_schedule(s);
	repl_fol_log_start(r, rp, p, rep->log_start);
	if (rep->records.len == 0)
		return;
	ap.topic = rep->topic;
	ap.partition = rep->partition;
	ap.replica = true;
	ap.leader_epoch = rep->leader_epoch;
	ap.batches = rep->records;
	r->stats.fetched_bytes += rep->records.len;
	r->stats.appends++;
	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_APPEND;
	req.append = &ap;
	repl_fol_wal(r, rp, REPL_BUSY_APPEND, rep->leader_epoch, &req);
}

bool repl_repl_wal_reply(repl_shell_t *s, const Chronik__Wal__WalReply *rep)
{
	struct repl_repl *r = s->repl;
	repl_walreq_t **pp, *w = NULL;
	repl_rp_t *rp;

	if (!r || rep->correlation_id == 0)
		return false;
	for (pp = &r->walreqs; *pp; pp = &(*pp)->next) {
		if ((*pp)->cid == rep->correlation_id) {
			w = *pp;
			*pp = w->next;
			break;
		}
	}
	if (!w)
		return false;
	rp = repl_rp_find(r, w->topic, w->partition);
	if (rp && w->kind == REPL_WAL_LOG_START && rep->error) {
		static ck_log_limit_t lim;

		ck_log_limited(&lim, CK_LOG_WARN,
		               "follower log start not moved partition=%s-%d: %s (again later)",
		               w->topic, (int)w->partition, ck_strerror(rep->error));
		rp->start_asked = -1;
	} else if (rp && w->kind == REPL_WAL_LOG_START && rep->log_info) {
		/* The leader counts our start in its low watermark: tell it. */
		rp->start_done = rep->log_info->log_start_offset;
		rp->ack_owed = true;
		repl_rp_mark(r, rp);
	}
	if (rp && rp->busy == w->kind) {
		rp->busy = REPL_BUSY_NONE;
		if (!rep->error)
			repl_rp_mark(r, rp); /* after an error: again on the tick */
		if (rep->error) {
			static ck_log_limit_t lim;

			ck_log_limited(&lim, CK_LOG_WARN, "replica %s failed partition=%s-%d: %s",
			               w->kind == REPL_BUSY_APPEND     ? "append"
			               : w->kind == REPL_BUSY_TRUNCATE ? "truncate"
			                                               : "start over",
			               w->topic, (int)w->partition, ck_strerror(rep->error));
			rp->local_end = -1; /* the core's view, once settled */
			/* ... checked against the leader again: a leader append
			 * of this node's older epoch may have got in before the
			 * fence (walwriter Append). */
			rp->checked_epoch = -1;
		} else if (w->kind == REPL_BUSY_APPEND && rep->append) {
			rp->local_end = rep->append->last_offset + 1;
			rp->ack_owed = true;
		} else if ((w->kind == REPL_BUSY_TRUNCATE || w->kind == REPL_BUSY_START_OVER) &&
		           rep->log_info) {
			rp->local_end = rep->log_info->log_end_offset;
		}
	}
	free(w->topic);
	free(w);
	repl_shell_schedule(s);
	return true;
}

void repl_repl_wal_lost(repl_shell_t *s)
{
	struct repl_repl *r = s->repl;

	if (!r)
		return;
	r->wal_gen++; /* the next walwriter is fenced again */
	while (r->walreqs) {
		repl_walreq_t *w = r->walreqs;
		repl_rp_t *rp = repl_rp_find(r, w->topic, w->partition);

		r->walreqs = w->next;
		if (rp && rp->busy == w->kind) {
			rp->busy = REPL_BUSY_NONE;
			rp->local_end = -1;
			repl_rp_mark(r, rp);
		}
		free(w->topic);
		free(w);
	}
}

/* ---- events ---- */

/* One partition's due work. Returns the partition (NULL: none here). */
static const repl_part_t *repl_rp_run(struct repl_repl *r, repl_rp_t *rp, uint64_t now, bool tick)
{
	const repl_part_t *p = repl_core_find(r->s->core, rp->topic, rp->partition);

	if (!p || !p->have_log)
		return p;
	if (p->role == REPL_ROLE_LEADER) {
		rp->busy = REPL_BUSY_NONE;
		rp->checked_epoch = -1;
		rp->fenced_epoch = -1;
		rp->local_end = -1;
		if (p->n_followers > 0) {
			repl_lead_notice(r, rp, p, tick && rp->lagging, now);
			repl_lead_isr(r, rp, p, now);
		}
		return p;
	}
	if (rp->busy_epoch != p->leader_epoch && rp->busy == REPL_BUSY_FETCH)
		rp->busy = REPL_BUSY_NONE; /* asked another leader: its answer is ignored */
	/* Unanswered on a connection still up (the leader's connection to us
	 * broke, or it dropped the answer): ask again. */
	if (rp->busy == REPL_BUSY_FETCH && now - rp->busy_ms >= REPL_FETCH_STUCK_MS)
		repl_fol_fetch_lost(rp);
	if (rp->seen_epoch != p->leader_epoch && rp->busy == REPL_BUSY_NONE) {
		/* A new leadership: our log is checked against it again, from
		 * walwriter's view of it. */
		rp->seen_epoch = p->leader_epoch;
		rp->checked_epoch = -1;
		rp->local_end = -1;
		rp->ack_owed = false;
	}
	repl_fol_fetch(r, rp, p, now);
	return p;
}

void repl_repl_flush(repl_shell_t *s)
{
	struct repl_repl *r = s->repl;
	uint64_t now = ck_clock_mono_ms();

	if (!r)
		return;
	while (r->dirty) {
		repl_rp_t *rp = r->dirty;

		r->dirty = rp->dnext;
		rp->dirty = false;
		(void)repl_rp_run(r, rp, now, false);
	}
	repl_env_send_all(r);
}

static void repl_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct repl_repl *r = arg;
	uint64_t now = ck_clock_mono_ms();
	size_t it = 0;
	repl_rp_t *rp;

	size_t under = 0;

	(void)fd;
	(void)what;
	while ((rp = ck_hash_next(&r->rps, &it))) {
		const repl_part_t *p = repl_rp_run(r, rp, now, true);

		under += p && p->role == REPL_ROLE_LEADER && p->n_isr < p->n_replicas;
	}
	repl_env_send_all(r);
	r->s->under_replicated = under;
}

static void repl_on_envelope(void *arg, int32_t sender, const Chronik__Replnet__Envelope *env)
{
	struct repl_repl *r = arg;

	for (size_t i = 0; i < env->n_notices; i++)
		repl_fol_notice(r, sender, env->notices[i]);
	for (size_t i = 0; i < env->n_fetches; i++)
		repl_lead_fetch(r, sender, env->fetches[i]);
	for (size_t i = 0; i < env->n_replies; i++)
		repl_fol_reply(r, sender, env->replies[i]);
	repl_shell_schedule(r->s);
}

static void repl_on_peer_up(void *arg, int32_t peer)
{
	struct repl_repl *r = arg;
	size_t it = 0;
	repl_rp_t *rp;

	(void)peer;
	while ((rp = ck_hash_next(&r->rps, &it)))
		repl_rp_mark(r, rp);
	repl_shell_schedule(r->s);
}

/* The fetches in flight to PEER are lost: asked again as soon as it is
 * connected (at once, or from repl_on_peer_up), not REPL_FETCH_STUCK_MS
 * later. */
static void repl_on_peer_lost(void *arg, int32_t peer)
{
	struct repl_repl *r = arg;
	size_t it = 0;
	repl_rp_t *rp;

	while ((rp = ck_hash_next(&r->rps, &it))) {
		if (rp->busy == REPL_BUSY_FETCH && rp->busy_peer == peer) {
			repl_fol_fetch_lost(rp);
			repl_rp_mark(r, rp);
		}
	}
	repl_shell_schedule(r->s);
}

int repl_repl_start(repl_shell_t *s)
{
	static const repl_net_hooks_t hooks = {repl_on_envelope, repl_on_peer_up,
	                                       repl_on_peer_lost};
	struct repl_repl *r = calloc(1, sizeof(*r));
	struct timeval tv = {REPL_TICK_MS / 1000, (REPL_TICK_MS % 1000) * 1000};
	int e;

	if (!r)
		return -ENOMEM;
	r->s = s;
	ck_hash_init(&r->rps);
	s->repl = r;
	e = repl_net_new(s->base, s->cfg, &hooks, r, &r->net);
	if (e < 0)
		return e;
	r->tick = event_new(s->base, -1, EV_PERSIST, repl_tick_cb, r);
	if (!r->tick || event_add(r->tick, &tv) < 0)
		return -ENOMEM;
	return ck_daemon_listen_tcp(s->d, "replication", s->cfg->replication_listen,
	                            repl_net_accept, r->net);
}

void repl_repl_stop(repl_shell_t *s)
{
	struct repl_repl *r = s->repl;
	size_t it = 0;
	repl_rp_t *rp;

	if (!r)
		return;
	repl_repl_wal_lost(s);
	if (r->tick)
		event_free(r->tick);
	repl_net_free(r->net);
	while ((rp = ck_hash_next(&r->rps, &it))) {
		free(rp->topic);
		free(rp);
	}
	ck_hash_free(&r->rps);
	free(r);
	s->repl = NULL;
}

/* ---- metrics ---- */

/* The largest gap between a leader's log end (as last heard) and ours over
 * the partitions this node follows (Kafka's MaxLag), in offsets. */
static int64_t repl_max_lag(struct repl_repl *r)
{
	size_t it = 0;
	int64_t max = 0;
	repl_rp_t *rp;

	while ((rp = ck_hash_next(&r->rps, &it))) {
		const repl_part_t *p = repl_core_find(r->s->core, rp->topic, rp->partition);
		int64_t end = p ? repl_fol_end(rp, p) : -1;

		if (p && p->role == REPL_ROLE_FOLLOWER && rp->notice_epoch == p->leader_epoch &&
		    end >= 0 && rp->notice_end - end > max)
			max = rp->notice_end - end;
	}
	return max;
}

void repl_repl_metrics(repl_shell_t *s, ck_prom_t *t)
{
	struct repl_repl *r = s->repl;
	repl_stats_t st = r ? r->stats : (repl_stats_t){0};
	size_t led = 0, parts = repl_core_count(s->core, &led);
	const struct {
		const char *name, *help; /* "_total": a counter */
		uint64_t v;
	} m[] = {
	    {"up", "Whether the replicator answered the scrape", 1},
	    {"partitions", "Partitions with a log on this node", parts},
	    {"leader_partitions", "Partitions this node leads", led},
	    {"under_replicated_partitions",
	     "Partitions this node leads with a replica out of the ISR", s->under_replicated},
	    {"follower_max_lag_offsets",
	     "Largest gap between a leader's log end and this node's copy (offsets)",
	     r ? (uint64_t)repl_max_lag(r) : 0},
	    {"isr_shrinks_total", "ISR shrinks this node proposed as a leader", st.isr_shrinks},
	    {"isr_expands_total", "ISR expansions this node proposed as a leader", st.isr_expands},
	    {"follower_truncations_total",
	     "Follower logs cut where they diverged from the leader's", st.truncations},
	    {"follower_start_overs_total", "Follower logs started over at the leader's log start",
	     st.start_overs},
	    {"follower_log_start_moves_total", "Follower log starts moved up to the leader's",
	     st.log_start_moves},
	    {"follower_fetched_bytes_total", "Record bytes this node fetched from leaders",
	     st.fetched_bytes},
	    {"follower_appends_total", "Fetch answers with records this node appended", st.appends},
	    {"leader_served_fetches_total", "Follower fetches this node answered as a leader",
	     st.served_fetches},
	    {"leader_served_bytes_total", "Record bytes this node sent to followers",
	     st.served_bytes},
	};
	char name[96];

	for (size_t i = 0; i < CK_ARRAY_LEN(m); i++) {
		size_t n = strlen(m[i].name);

		snprintf(name, sizeof(name), "chronik_replication_%s", m[i].name);
		ck_prom_u64(t, name,
		            n > 6 && !strcmp(m[i].name + n - 6, "_total") ? "counter" : "gauge",
		            m[i].help, m[i].v);
	}
}
