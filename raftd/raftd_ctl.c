/*
 * raftd_ctl.c: the controller of chronik-raftd, run by the Raft leader's
 * raftd: broker liveness, fencing, and partition leaders of fenced brokers.
 *
 * Owned by raftd. Followers send a BrokerHeartbeat every 500 ms over the
 * raft connection (raftd_node_net.c); the leader keeps, per broker, when
 * it last heard one and with which incarnation (never in the log). Every
 * RAFTD_CTL_PERIOD_MS the leader walks the registered brokers in LMDB:
 *   - a broker not fenced whose heartbeats lapsed for session_ms is fenced
 *     (FenceBroker, fenced = true, with the registration's incarnation, so
 *     a broker that re-registered meanwhile is left alone); so is one whose
 *     heartbeats say its data disk is full (walwriter refuses appends there)
 *     while another broker heard from has room, as Kafka's controller fences
 *     a broker whose log directory failed: its partitions get leaders that
 *     can append, its ISR places go; when every disk is full nobody is
 *     fenced for it (reads go on); and so is one shutting down (Kafka's
 *     controlled shutdown, raftd_ctl_depart); a partition whose only live
 *     ISR member is a broker fenced because it asked keeps it as leader;
 *   - a fenced broker heard from recently with its registered incarnation
 *     is unfenced (a broker that restarts registers again, which unfences
 *     it too); the leader's own broker is alive by definition;
 *   - a partition led by a fenced broker gets a new leader: the first ISR
 *     member (in replica order) that is registered and not fenced; the
 *     fenced brokers leave the ISR unless none would remain (then the
 *     leader is -1 and the ISR stays: unclean election is off). One
 *     UpdatePartition per partition (compare-and-set on partition_epoch),
 *     leader_epoch + 1.
 * Every [metadata] leader_imbalance_check_ms (when auto_leader_rebalance is
 * on, and no fencing update is on its way) the leader also moves
 * leadership back to preferred replicas, as Kafka's auto leader rebalance
 * does (raftd_rebal.h): one UpdatePartition per partition, same ISR,
 * leader_epoch + 1.
 * A new leader starts every broker's clock afresh (a grace period of one
 * session), so a leader change never fences anyone by itself. At most one
 * controller proposal per broker and RAFTD_CTL_UPDATES_MAX partition
 * updates are in flight at a time.
 * Not for: proposing in general (raftd_node.c), applying (raftd_apply.c).
 */
#define CK_LOG_SUBSYSTEM "controller"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_notify.h"
#include "raftd_node_int.h"
#include "raftd_rebal.h"

#define RAFTD_CTL_PERIOD_MS   500
#define RAFTD_CTL_UPDATES_MAX 256
#define RAFTD_CTL_FENCED_MAX  64

typedef struct {
	struct raftd_node *n;
	int32_t broker; /* -1: a partition update */
} raftd_ctl_call_t;

/* A proposal decided during the walk, made after it (proposing may run an
 * apply round, and LMDB wants one transaction per thread). */
typedef struct {
	int32_t broker; /* -1: a partition update */
	uint8_t *cmd;
	size_t len;
} raftd_ctl_action_t;

/* The state of the walk over brokers and partitions. */
typedef struct {
	struct raftd_node *n;
	MDB_txn *txn;
	uint64_t now_ms;
	int32_t fenced[RAFTD_CTL_FENCED_MAX];
	size_t n_fenced;
	int32_t live[CK_CONFIG_PEERS_MAX];
	size_t n_live;
	int32_t asking[CK_CONFIG_PEERS_MAX]; /* heard from, asking to be fenced
	                                        (disk full, shutting down) */
	size_t n_asking;
	size_t n_roomy; /* brokers heard from, staying, whose data disk has room */
	int32_t eligible[CK_CONFIG_PEERS_MAX]; /* unfenced and alive: may lead */
	size_t n_eligible;
	raftd_rebal_t rebal; /* preferred leadership per broker (raftd_rebal.h) */
	bool rebal_deciding; /* the rebalance's second pass */
	bool rebal_more;     /* it stopped at RAFTD_CTL_UPDATES_MAX */
	raftd_ctl_action_t *acts;
	size_t n_acts;
	bool isr_pass;     /* the walk over partitions whose leader stays */
	bool stopped;      /* at RAFTD_CTL_UPDATES_MAX, in the topic below */
	char stop_topic[256];
	size_t updates;    /* partition updates decided */
	size_t leaderless; /* partitions left without a leader */
} raftd_ctl_walk_t;

static raftd_ctl_broker_t *raftd_ctl_find(struct raftd_node *n, int32_t id, bool create)
{
	for (size_t i = 0; i < n->n_ctl; i++) {
		if (n->ctl[i].id == id)
			return &n->ctl[i];
	}
	if (!create || n->n_ctl == CK_ARRAY_LEN(n->ctl))
		return NULL;
	n->ctl[n->n_ctl] = (raftd_ctl_broker_t){.id = id, .seen_ms = ck_clock_mono_ms()};
	return &n->ctl[n->n_ctl++];
}

void raftd_ctl_reset(struct raftd_node *n)
{
	n->n_ctl = 0;
	n->ctl_next_ms = 0;
	n->ctl_walk_ms = 0;
	n->ctl_updates = 0;
	n->ctl_leaderless = true; /* a new controller looks once */
	n->ctl_resume[0] = '\0';
	n->ctl_quiet = false;
	n->rebal_next_ms = 0;
}

void raftd_ctl_heartbeat(struct raftd_node *n, uint64_t peer,
                         const Chronik__Raftnet__BrokerHeartbeat *hb)
{
	raftd_ctl_broker_t *b = raftd_ctl_find(n, (int32_t)peer, true);

	if (!b)
		return;
	b->seen_ms = ck_clock_mono_ms();
	b->incarnation = hb->broker_incarnation;
	b->applied = hb->applied_index;
	b->storage_full = hb->storage_full;
	if (hb->shutting_down && !b->departing)
		n->ctl_next_ms = 0; /* a controlled shutdown: at the next tick */
	b->departing = hb->shutting_down;
	raftd_node_held_check(n);
}

bool raftd_ctl_all_applied(struct raftd_node *n, uint64_t index, uint64_t now_ms)
{
	uint64_t session = (uint64_t)n->cfg->metadata_broker_session_ms;

	for (size_t i = 0; i < n->n_voters; i++) {
		raftd_ctl_broker_t *b;

		if (n->voters[i] == (uint64_t)n->cfg->node_id)
			continue;
		b = raftd_ctl_find(n, (int32_t)n->voters[i], false);
		if (b && now_ms - b->seen_ms < session && b->applied < index)
			return false;
	}
	return true;
}

static void raftd_ctl_done(void *arg, int err, uint64_t index, const raftd_apply_result_t *res)
{
	raftd_ctl_call_t *c = arg;
	struct raftd_node *n = c->n;

	(void)index;
	/* A refused or failed proposal: the next walk at the next tick, so
	 * that one refused again and again is not proposed in a tight loop. */
	if (err || res->result != 0)
		n->ctl_refused = true;
	if (c->broker >= 0) {
		raftd_ctl_broker_t *b = raftd_ctl_find(n, c->broker, false);

		if (b)
			b->fence_pending = false;
		n->ctl_next_ms = 0; /* its partitions next */
		if (!n->ctl_refused)
			raftd_node_ctl_soon(n);
	} else if (n->ctl_updates > 0 && --n->ctl_updates == 0) {
		/* A round settled: the next one right away, not a period later
		 * (256 updates a period made a controlled shutdown of a node in
		 * 3,000 partitions time out, helper 5; 256 a tick took 17 s for
		 * a node leading 13,000 partitions, the metadata benchmark's
		 * stop). */
		n->ctl_next_ms = 0;
		if (!n->ctl_refused)
			raftd_node_ctl_soon(n);
	}
	if (err == 0 && res->result != 0)
		ck_log(CK_LOG_INFO, "controller command refused: %s", res->message);
	else if (err && err != CK_E_SHUTDOWN)
		ck_log(CK_LOG_DEBUG, "controller proposal failed: %s", ck_strerror(err));
	free(c);
}

static void raftd_ctl_propose(struct raftd_node *n, const raftd_ctl_action_t *a, uint64_t term)
{
	raftd_ctl_call_t *c = malloc(sizeof(*c));
	raftd_ctl_broker_t *b = a->broker >= 0 ? raftd_ctl_find(n, a->broker, false) : NULL;

	if (!c)
		return;
	*c = (raftd_ctl_call_t){n, a->broker};
	if (b)
		b->fence_pending = true;
	else if (a->broker < 0)
		n->ctl_updates++;
	if (raftd_node_propose_in_term(n, a->cmd, a->len, raftd_ctl_done, c, term) < 0) {
		if (b)
			b->fence_pending = false;
		else if (a->broker < 0)
			n->ctl_updates--;
		free(c);
	}
}

/* Packs CMD as an action of the walk. */
static void raftd_ctl_decide(raftd_ctl_walk_t *w, const Chronik__Meta__MetadataCommand *cmd,
                             int32_t broker)
{
	size_t len = chronik__meta__metadata_command__get_packed_size(cmd);
	raftd_ctl_action_t *v = realloc(w->acts, (w->n_acts + 1) * sizeof(*v));
	uint8_t *buf = malloc(len ? len : 1);

	if (v)
		w->acts = v;
	if (!v || !buf) {
		free(buf);
		return;
	}
	(void)chronik__meta__metadata_command__pack(cmd, buf);
	w->acts[w->n_acts++] = (raftd_ctl_action_t){broker, buf, len};
}

static void raftd_ctl_fence(raftd_ctl_walk_t *w, const raftd_ctl_broker_t *b,
                            const Chronik__Meta__BrokerRecord *rec, bool fenced)
{
	bool heard = b->seen_ms + w->n->session_ms > w->now_ms;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__FenceBroker fb = CHRONIK__META__FENCE_BROKER__INIT;

	fb.id = rec->id;
	fb.fenced = fenced;
	fb.incarnation = rec->incarnation;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER;
	cmd.fence_broker = &fb;
	ck_log(CK_LOG_INFO, "%s broker id=%d silent_ms=%llu%s", fenced ? "fencing" : "unfencing",
	       rec->id, (unsigned long long)(w->now_ms > b->seen_ms ? w->now_ms - b->seen_ms : 0),
	       !fenced || !heard ? ""
	       : b->departing    ? " reason=\"controlled shutdown\""
	       : b->storage_full ? " reason=\"data disk full\""
	                         : "");
	raftd_ctl_decide(w, &cmd, rec->id);
}

static int raftd_ctl_broker_cb(void *arg, const Chronik__Meta__BrokerRecord *rec)
{
	raftd_ctl_walk_t *w = arg;
	struct raftd_node *n = w->n;
	raftd_ctl_broker_t *b = raftd_ctl_find(n, rec->id, true);
	bool heard, alive;

	if (!b)
		return 0;
	if (!b->walked) {
		b->walked = true;
		b->start_reg = rec->incarnation;
	}
	if (rec->id != n->cfg->node_id && b->incarnation != rec->incarnation) {
		/* Registered anew since its last heartbeat (a restart): what
		 * that heartbeat asked for is over, and the registration is the
		 * new process's first sign of life: its session starts now, as
		 * Kafka's controller starts one at a registration (counted from
		 * the old process's last heartbeat, it fenced a broker just
		 * registered again, before its first heartbeat, and every ISR
		 * shrank and grew back). A controller that never heard the old
		 * process gave every broker a session at its start already; a
		 * registration it did not find at its start is new (helper 3: a
		 * node killed with the old controller and started again 4 s later
		 * was fenced 0.2 s after it registered, before its first
		 * heartbeat, 4 of 6 times). */
		b->storage_full = false;
		b->departing = false;
		if ((b->incarnation != 0 || rec->incarnation != b->start_reg) &&
		    b->graced != rec->incarnation) {
			b->graced = rec->incarnation; /* once: a process that died at
			                               * once is fenced a session on */
			b->seen_ms = w->now_ms;
		}
	}
	heard = b->seen_ms + n->session_ms > w->now_ms;
	alive = heard && !b->departing && !(b->storage_full && w->n_roomy > 0);
	if (heard && (b->storage_full || b->departing) && w->n_asking < CK_ARRAY_LEN(w->asking))
		w->asking[w->n_asking++] = rec->id;
	if (rec->fenced && w->n_fenced < RAFTD_CTL_FENCED_MAX)
		w->fenced[w->n_fenced++] = rec->id;
	else if (!rec->fenced && w->n_live < CK_ARRAY_LEN(w->live))
		w->live[w->n_live++] = rec->id;
	if (!rec->fenced && alive && w->n_eligible < CK_ARRAY_LEN(w->eligible))
		w->eligible[w->n_eligible++] = rec->id;
	if (b->fence_pending)
		return 0;
	if (!rec->fenced && !alive)
		raftd_ctl_fence(w, b, rec, true);
	else if (rec->fenced && alive && b->incarnation == rec->incarnation)
		raftd_ctl_fence(w, b, rec, false);
	return 0;
}

static bool raftd_ctl_in(const int32_t *v, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] == id)
			return true;
	}
	return false;
}

/* Whether some ISR member of P is among the N fenced brokers. */
static bool raftd_ctl_isr_fenced(const raftd_ctl_walk_t *w, const Chronik__Meta__PartitionRecord *p)
{
	for (size_t i = 0; i < p->n_isr; i++)
		if (raftd_ctl_in(w->fenced, w->n_fenced, p->isr[i]))
			return true;
	return false;
}

/* Decides an UpdatePartition of P (compare-and-set on its partition epoch):
 * LEADER and the N_ISR members of ISR, the leader epoch one up when the
 * leader changes; logged with WHY. */
static void raftd_ctl_update(raftd_ctl_walk_t *w, const Chronik__Meta__PartitionRecord *p,
                             int32_t leader, int32_t *isr, size_t n_isr, const char *why)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__UpdatePartition up = CHRONIK__META__UPDATE_PARTITION__INIT;

	up.topic = p->topic;
	up.partition = p->partition;
	up.leader = leader;
	up.n_isr = n_isr;
	up.isr = isr;
	up.leader_epoch = leader == p->leader ? p->leader_epoch : p->leader_epoch + 1;
	up.partition_epoch = p->partition_epoch;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION;
	cmd.update_partition = &up;
	raftd_ctl_decide(w, &cmd, -1);
	w->updates++;
	ck_log(CK_LOG_INFO, "partition %s-%d: leader %d -> %d%s leader_epoch=%d isr=%zu -> %zu",
	       p->topic, p->partition, p->leader, leader, why, up.leader_epoch, p->n_isr, n_isr);
}

/*
 * Updates P when a broker in its ISR is fenced, as Kafka's controller does:
 * a fenced leader is replaced by the first live ISR member in replica order
 * (leader epoch + 1; none live: no leader, the ISR stays, no unclean
 * election); a fenced follower leaves the ISR (same leader and epoch). A
 * partition without a leader gets one when an ISR member is live again.
 */
static int raftd_ctl_partition_cb(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	raftd_ctl_walk_t *w = arg;
	int32_t isr[64];
	size_t n_isr = 0;
	int32_t leader = -1;
	bool leader_gone = p->leader < 0 || raftd_ctl_in(w->fenced, w->n_fenced, p->leader);

	if (p->n_isr > CK_ARRAY_LEN(isr) || p->n_isr == 0)
		return 0;
	/* Leaders in the first pass, ISRs in the second (raftd_ctl_tick). */
	if (leader_gone == w->isr_pass || (!leader_gone && !raftd_ctl_isr_fenced(w, p)))
		return 0;
	for (size_t i = 0; i < p->n_isr; i++) {
		if (raftd_ctl_in(w->live, w->n_live, p->isr[i]))
			isr[n_isr++] = p->isr[i];
	}
	if (leader_gone) {
		for (size_t i = 0; i < p->n_replicas && leader < 0; i++) {
			if (raftd_ctl_in(isr, n_isr, p->replicas[i]))
				leader = p->replicas[i];
		}
	} else {
		leader = p->leader;
	}
	if (n_isr == 0) {
		/* No live ISR member: no leader, the ISR stays (no unclean
		 * election); a leader fenced only because it asked (a full
		 * disk, a controlled shutdown) stays: it still serves reads. */
		w->leaderless++;
		if (p->leader < 0 || raftd_ctl_in(w->asking, w->n_asking, p->leader))
			return 0; /* nothing changes */
		memcpy(isr, p->isr, p->n_isr * sizeof(*isr));
		n_isr = p->n_isr;
	}
	if (w->updates >= RAFTD_CTL_UPDATES_MAX)
		return 1;
	raftd_ctl_update(w, p, leader, isr, n_isr, "");
	return 0;
}

static int raftd_ctl_topic_cb(void *arg, const Chronik__Meta__TopicRecord *t)
{
	raftd_ctl_walk_t *w = arg;
	int r = ck_meta_partitions_foreach(w->n->meta, w->txn, t->name, raftd_ctl_partition_cb, w);

	if (r != 0 && w->updates >= RAFTD_CTL_UPDATES_MAX &&
	    strlen(t->name) < sizeof(w->stop_topic)) {
		w->stopped = true;
		strcpy(w->stop_topic, t->name);
	}
	return r != 0;
}

/* What the walk over partitions decides from besides the partitions (the
 * fenced, live and asking brokers of W), as one number: a walk resumed
 * for another view starts again from the first topic, and one that found
 * nothing to do is not repeated for the same view and partitions. */
static uint64_t raftd_ctl_print(const raftd_ctl_walk_t *w)
{
	const int32_t *sets[3] = {w->fenced, w->live, w->asking};
	size_t lens[3] = {w->n_fenced, w->n_live, w->n_asking};
	uint64_t h = 1469598103934665603ULL;

	for (size_t s = 0; s < 3; s++) {
		h = (h ^ lens[s]) * 1099511628211ULL;
		for (size_t i = 0; i < lens[s]; i++)
			h = (h ^ (uint32_t)sets[s][i]) * 1099511628211ULL;
	}
	return h;
}

/* The walk over partitions: those that need a leader first, then the ISRs
 * of those whose leader stays (a controlled shutdown waits for the former
 * only). A round stops at RAFTD_CTL_UPDATES_MAX updates; the next one
 * resumes in the topic it stopped in, so that moving many partitions reads
 * each about once, not once per round. Returns the walk's result; *FULL:
 * it covered every partition in this round. */
static int raftd_ctl_partitions(raftd_ctl_walk_t *w, uint64_t print, bool *full)
{
	struct raftd_node *n = w->n;
	const char *from = NULL;
	int r = 0;

	if (n->ctl_resume[0] && n->ctl_resume_print == print) {
		from = n->ctl_resume;
		w->isr_pass = n->ctl_resume_isr;
	}
	*full = from == NULL;
	if (!w->isr_pass) {
		r = ck_meta_topics_foreach_from(n->meta, w->txn, from, raftd_ctl_topic_cb, w);
		from = NULL;
		if (r == 0 && w->n_fenced)
			w->isr_pass = true;
	}
	if (r == 0 && w->isr_pass)
		r = ck_meta_topics_foreach_from(n->meta, w->txn, from, raftd_ctl_topic_cb, w);
	n->ctl_resume[0] = '\0';
	if (r > 0 && w->stopped) {
		memcpy(n->ctl_resume, w->stop_topic, sizeof(n->ctl_resume));
		n->ctl_resume_isr = w->isr_pass;
		n->ctl_resume_print = print;
	}
	return r;
}

/* The walk over partitions of one tick, unless neither the partitions nor
 * the brokers changed since one over all of them that found nothing to do
 * (it read every partition each period while a broker was down). */
static int raftd_ctl_partitions_check(raftd_ctl_walk_t *w)
{
	struct raftd_node *n = w->n;
	uint64_t print = raftd_ctl_print(w), parts = 0;
	bool full;
	int r;

	(void)ck_meta_parts_index(n->meta, w->txn, &parts);
	if (n->ctl_quiet && n->ctl_quiet_print == print && n->ctl_quiet_parts == parts)
		return 0;
	r = raftd_ctl_partitions(w, print, &full);
	/* Only a walk over every partition that changed none counts them. */
	n->ctl_quiet = r == 0 && full && w->updates == 0;
	n->ctl_quiet_print = print;
	n->ctl_quiet_parts = parts;
	n->ctl_leaderless = n->ctl_quiet ? w->leaderless > 0 : true;
	return r;
}

/* The rebalance's passes over one topic's partitions: first the counts per
 * preferred broker, then, for brokers over the imbalance percentage, the
 * leadership moves (raftd_rebal.h). */
static int raftd_rebal_partition_cb(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	raftd_ctl_walk_t *w = arg;
	int32_t leader;

	if (!w->rebal_deciding) {
		raftd_rebal_count(&w->rebal, p->replicas, p->n_replicas, p->leader);
		return 0;
	}
	if (p->n_replicas == 0 || !raftd_rebal_over(&w->rebal, p->replicas[0],
	                                            w->n->cfg->metadata_leader_imbalance_percent))
		return 0;
	leader = raftd_rebal_candidate(p->leader, p->replicas, p->n_replicas, p->isr, p->n_isr,
	                               w->eligible, w->n_eligible);
	if (leader < 0)
		return 0;
	if (w->updates >= RAFTD_CTL_UPDATES_MAX) {
		w->rebal_more = true;
		return 1;
	}
	raftd_ctl_update(w, p, leader, p->isr, p->n_isr, " (preferred replica)");
	return 0;
}

static int raftd_rebal_topic_cb(void *arg, const Chronik__Meta__TopicRecord *t)
{
	raftd_ctl_walk_t *w = arg;

	return ck_meta_partitions_foreach(w->n->meta, w->txn, t->name, raftd_rebal_partition_cb,
	                                  w) != 0;
}

/* Whether a rebalance is due at NOW_MS: the first one a check interval
 * after this node became the controller, then every interval; sooner
 * when the last one stopped at the update limit. */
static bool raftd_rebal_due(struct raftd_node *n, uint64_t now_ms)
{
	uint64_t every = (uint64_t)n->cfg->metadata_leader_imbalance_check_ms;

	if (!n->cfg->metadata_auto_leader_rebalance)
		return false;
	if (n->rebal_next_ms == 0)
		n->rebal_next_ms = now_ms + every;
	if (now_ms < n->rebal_next_ms)
		return false;
	n->rebal_next_ms = now_ms + every;
	return true;
}

/* The rebalance, inside W's read transaction, after the fencing walk
 * decided nothing. */
static void raftd_rebalance(raftd_ctl_walk_t *w)
{
	struct raftd_node *n = w->n;
	size_t moves;

	if (ck_meta_topics_foreach(n->meta, w->txn, raftd_rebal_topic_cb, w) < 0)
		return;
	w->rebal_deciding = true;
	for (size_t i = 0; i < w->rebal.n; i++) {
		const raftd_rebal_count_t *c = &w->rebal.v[i];
		raftd_ctl_broker_t *b = raftd_ctl_find(n, c->broker, false);
		bool over = raftd_rebal_over(&w->rebal, c->broker,
		                             n->cfg->metadata_leader_imbalance_percent);

		/* Once per state: a broker gone for good is not reported every
		 * check interval. */
		if (over && (!b || b->imbalance_preferred != c->preferred ||
		             b->imbalance_elsewhere != c->elsewhere))
			ck_log(CK_LOG_INFO,
			       "leader imbalance: broker %d is preferred for %u partitions, %u led "
			       "elsewhere",
			       c->broker, c->preferred, c->elsewhere);
		if (b) {
			b->imbalance_preferred = over ? c->preferred : 0;
			b->imbalance_elsewhere = over ? c->elsewhere : 0;
		}
	}
	moves = w->updates;
	(void)ck_meta_topics_foreach(n->meta, w->txn, raftd_rebal_topic_cb, w);
	if (w->rebal_more) /* the rest once these settled */
		n->rebal_next_ms = w->now_ms + RAFTD_CTL_PERIOD_MS;
	if (w->updates > moves)
		ck_log(CK_LOG_INFO,
		       "leader rebalance: %zu partitions to their preferred replicas%s",
		       w->updates - moves, w->rebal_more ? " (more to follow)" : "");
}

/* The controller's own broker: alive by definition, its disk as looked at. */
static void raftd_ctl_self(struct raftd_node *n, uint64_t now_ms)
{
	raftd_ctl_broker_t *b = raftd_ctl_find(n, n->cfg->node_id, true);

	if (!b)
		return;
	b->seen_ms = now_ms;
	b->incarnation = n->incarnation;
	b->applied = n->applied;
	b->storage_full = n->storage_full;
	b->departing = n->departing;
}

/* A walk later than RAFTD_CTL_PERIOD_MS + a quarter session after the last
 * one: this process did not run meanwhile (SIGSTOP, a paused VM, a swap
 * storm), and the heartbeats of that time still wait unread in its
 * sockets. Every broker's session starts afresh rather than every broker
 * being fenced on silence that was this process's own. */
static void raftd_ctl_late(struct raftd_node *n, uint64_t now_ms)
{
	uint64_t late = n->ctl_walk_ms ? now_ms - n->ctl_walk_ms : 0;

	n->ctl_walk_ms = now_ms;
	if (late <= RAFTD_CTL_PERIOD_MS + n->session_ms / 4)
		return;
	ck_log(CK_LOG_WARN,
	       "controller did not run for %llu ms: every broker's session starts afresh",
	       (unsigned long long)late);
	for (size_t i = 0; i < n->n_ctl; i++)
		n->ctl[i].seen_ms = now_ms;
}

void raftd_ctl_tick(struct raftd_node *n, uint64_t now_ms)
{
	raftd_ctl_walk_t w = {.n = n, .now_ms = now_ms};
	raft_status_t st;
	int r;

	if (now_ms < n->ctl_next_ms || n->stopping)
		return;
	n->ctl_next_ms = now_ms + RAFTD_CTL_PERIOD_MS;
	if (n->ctl_refused)
		n->ctl_resume[0] = '\0'; /* the refused update is retried first */
	n->ctl_refused = false;
	raftd_ctl_late(n, now_ms);
	raft_status(n->raft, &st);
	raftd_ctl_self(n, now_ms);
	for (size_t i = 0; i < n->n_ctl; i++)
		if (n->ctl[i].seen_ms + n->session_ms > now_ms && !n->ctl[i].storage_full &&
		    !n->ctl[i].departing)
			w.n_roomy++;
	r = ck_meta_read_begin(n->meta, &w.txn);
	if (r < 0)
		return;
	r = ck_meta_brokers_foreach(n->meta, w.txn, raftd_ctl_broker_cb, &w);
	/* Partition leaders only once the last round of updates settled; the
	 * walk is needed while a broker is fenced or a partition may still
	 * wait for a leader. */
	if (r >= 0 && (w.n_fenced || n->ctl_leaderless) && n->ctl_updates == 0)
		r = raftd_ctl_partitions_check(&w);
	if (r >= 0 && w.n_acts == 0 && n->ctl_updates == 0 && raftd_rebal_due(n, now_ms))
		raftd_rebalance(&w);
	ck_meta_read_end(w.txn);
	for (size_t i = 0; i < w.n_acts; i++) {
		if (n->role == RAFT_LEADER && !n->stopping)
			raftd_ctl_propose(n, &w.acts[i], st.term);
		free(w.acts[i].cmd);
	}
	free(w.acts);
}

void raftd_ctl_describe(const struct raftd_node *n, char *buf, size_t len)
{
	uint64_t now = ck_clock_mono_ms();
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n->n_voters && used < len; i++) {
		uint64_t id = n->voters[i];
		const raftd_ctl_broker_t *b = NULL;
		int w;

		if (id == (uint64_t)n->cfg->node_id)
			continue;
		for (size_t k = 0; k < n->n_ctl; k++) {
			if (n->ctl[k].id == (int32_t)id)
				b = &n->ctl[k];
		}
		if (!b || b->incarnation == 0 || b->seen_ms + n->session_ms <= now)
			w = snprintf(buf + used, len - used, "%s%llu:down", used ? " " : "",
			             (unsigned long long)id);
		else
			w = snprintf(buf + used, len - used, "%s%llu:lag=%llu%s", used ? " " : "",
			             (unsigned long long)id,
			             (unsigned long long)(n->applied > b->applied
			                                      ? n->applied - b->applied
			                                      : 0),
			             b->storage_full ? ":disk-full" : "");
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

uint64_t raftd_ctl_successor(const struct raftd_node *n)
{
	uint64_t now = ck_clock_mono_ms(), best = RAFT_NONE, best_applied = 0;

	for (uint32_t i = 0; i < n->n_voters; i++) {
		uint64_t id = n->voters[i], applied = 0;

		if (id == (uint64_t)n->cfg->node_id || !raftd_net_connected(n->net, id))
			continue;
		for (size_t k = 0; k < n->n_ctl; k++) {
			if (n->ctl[k].id == (int32_t)id && n->ctl[k].seen_ms + n->session_ms > now)
				applied = n->ctl[k].applied + 1;
		}
		if (best == RAFT_NONE || applied > best_applied) {
			best = id;
			best_applied = applied;
		}
	}
	return best;
}

/* ---- controlled shutdown (this node's side) ---- */

#define RAFTD_DEPART_LOOK_MS   250
#define RAFTD_DEPART_NOBODY_MS 1000 /* no leader known this long: nobody to ask */
/* While fewer partitions need this node at each look, the supervisor waits
 * at least this much longer (EXTEND_TIMEOUT_USEC): a node in thousands of
 * partitions takes the controller rounds of RAFTD_CTL_UPDATES_MAX updates
 * for longer than the supervisor's first wait (a session and a second). */
#define RAFTD_DEPART_EXTEND_MS 3000

void raftd_ctl_depart(struct raftd_node *n)
{
	if (n->departing)
		return;
	n->departing = true;
	n->depart_ms = ck_clock_mono_ms();
	n->depart_next_ms = 0;
	n->depart_needed = SIZE_MAX;
	ck_log(CK_LOG_INFO, "controlled shutdown: the broker asks to be fenced");
	n->ctl_next_ms = 0;          /* as the controller: at the next tick */
	raftd_node_net_heartbeat(n); /* as a follower: tell the controller now */
}

typedef struct {
	struct raftd_node *n;
	MDB_txn *txn;
	int32_t live[CK_CONFIG_PEERS_MAX]; /* other brokers, not fenced */
	size_t n_live;
	size_t needed; /* partitions whose ISR holds us and a live other */
} raftd_depart_walk_t;

static int raftd_depart_broker_cb(void *arg, const Chronik__Meta__BrokerRecord *rec)
{
	raftd_depart_walk_t *w = arg;

	if (!rec->fenced && rec->id != w->n->cfg->node_id && w->n_live < CK_ARRAY_LEN(w->live))
		w->live[w->n_live++] = rec->id;
	return 0;
}

static int raftd_depart_partition_cb(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	raftd_depart_walk_t *w = arg;
	bool ours = false, other = false;

	for (size_t i = 0; i < p->n_isr; i++) {
		if (p->isr[i] == w->n->cfg->node_id)
			ours = true;
		else if (raftd_ctl_in(w->live, w->n_live, p->isr[i]))
			other = true;
	}
	w->needed += ours && other;
	return 0;
}

static int raftd_depart_topic_cb(void *arg, const Chronik__Meta__TopicRecord *t)
{
	raftd_depart_walk_t *w = arg;

	return ck_meta_partitions_foreach(w->n->meta, w->txn, t->name, raftd_depart_partition_cb,
	                                  w) != 0;
}

void raftd_ctl_depart_check(struct raftd_node *n, uint64_t now_ms)
{
	raftd_depart_walk_t w = {.n = n};
	const char *why = NULL;
	int r;

	if (!n->departing || n->depart_done || now_ms < n->depart_next_ms)
		return;
	n->depart_next_ms = now_ms + RAFTD_DEPART_LOOK_MS;
	if (n->role != RAFT_LEADER && n->leader == RAFT_NONE &&
	    now_ms - n->depart_ms >= RAFTD_DEPART_NOBODY_MS) {
		why = "no controller known";
	} else {
		r = ck_meta_read_begin(n->meta, &w.txn);
		if (r < 0)
			return;
		r = ck_meta_brokers_foreach(n->meta, w.txn, raftd_depart_broker_cb, &w);
		if (r >= 0)
			r = ck_meta_topics_foreach(n->meta, w.txn, raftd_depart_topic_cb, &w);
		ck_meta_read_end(w.txn);
		if (r >= 0 && w.needed && w.needed < n->depart_needed) {
			/* Progress: the supervisor waits on (RAFTD_DEPART_EXTEND_MS). */
			if (n->depart_needed != SIZE_MAX)
				(void)ck_notifyf("EXTEND_TIMEOUT_USEC=%llu",
				                 (unsigned long long)RAFTD_DEPART_EXTEND_MS * 1000);
			n->depart_needed = w.needed;
		}
		if (r < 0 || w.needed)
			return;
		why = "no partition needs this node";
	}
	n->depart_done = true;
	ck_log(CK_LOG_INFO, "controlled shutdown: %s ms=%llu", why,
	       (unsigned long long)(now_ms - n->depart_ms));
	(void)ck_notify("CHRONIK_DRAINED=1");
}
