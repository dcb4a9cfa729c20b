/*
 * raftd_exec.c: apply rounds of chronik-raftd's metadata service (see
 * raftd_node.h, raftd_node_int.h).
 *
 * Owned by raftd. A round takes up to RAFTD_ROUND_MAX committed entries and
 * applies them in one LMDB write transaction. When they have no local side
 * effect, or only logs to create, the transaction commits right away with
 * the new applied_index, and the round's writes are answered; the logs are
 * then created in walwriter (RAFTD_EXEC_POST) before the next round. A
 * client told that its topic exists still finds its log: an append that
 * overtakes the CreateLog waits for it in walwriter (wal_park.c). Between
 * the commit and the creation
 * readers may see a partition whose log is not there yet (kafka-frontend
 * answers UNKNOWN_TOPIC_OR_PARTITION, retriable, as Kafka brokers do before
 * they catch up with the metadata log); a crash in between is repaired by
 * reconciliation. A round that deletes or reconfigures logs is different:
 * its transaction is first aborted (a dry run that listed the effects), the
 * effects are carried out in walwriter, and the same entries are applied
 * again and committed; applying is deterministic and only raftd writes
 * these databases, so the second run sees what the first saw. The write lock of
 * LMDB is never held while waiting for walwriter (walwriter writes its
 * checkpoints into the same environment).
 * Effects run in waves of one kind (creates, then deletes, ...): within a
 * wave order does not matter (creating a log twice or deleting it twice is
 * harmless), across kinds it does (delete then re-create a topic).
 * Besides the creations and deletions raftd_apply.c lists, an
 * AlterTopicConfigs that changes the log settings of a topic (the same
 * mapping as CreateLog's, raftd_apply_log_config) reconfigures this
 * broker's logs of it (ConfigureLog, idempotent), with the same redo
 * discipline: done before the round commits.
 * Reconciliation, at start, whenever walwriter (re)connects, once per
 * leadership and after a snapshot was installed, uses the same machinery to create the logs LMDB
 * lists for this broker but walwriter lacks: it lists them once, then creates them in chunks of
 * RAFTD_RECON_CHUNK that take turns with apply rounds (each chunk checks its logs against LMDB
 * as it is then, so a round that deleted a topic or changed its settings in between wins). After a
 * snapshot was installed it first deletes the logs of topics LMDB no longer has, or has as
 * another incarnation (topic ids differ): their DeleteTopic was compacted away while this node
 * was behind, and such a log must not be taken for the new topic's; then it creates the new
 * incarnations' logs. Not at start: LMDB may then be behind the metadata log, whose entries
 * created the logs (its commits are not synced). A Ready
 * that installs a snapshot waits for the running round (ready_wait_exec) and goes before the next
 * one. Not for: the Ready cycle and proposals (raftd_node.c).
 */
#define CK_LOG_SUBSYSTEM "apply"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "raftd_node_int.h"

#define RAFTD_ROUND_MAX   1024
#define RAFTD_FX_RETRY_MS 50
/* A round of at most this many entries runs its transaction on the loop
 * (raftd_txw_run_here); bigger ones go to the apply thread. */
#define RAFTD_ROUND_HERE_MAX 64
/* A follower nobody waits on applies at most this much later, so that
 * under load its rounds (an LMDB transaction each) take more entries. */
#define RAFTD_FOLLOWER_DEFER_MS 10
/* A leader whose clients have more writes on their way to commit holds a
 * round of fewer than RAFTD_LEADER_GROUP entries until they commit, for at
 * most this long: one transaction then answers them all. */
#define RAFTD_LEADER_DEFER_US 500
#define RAFTD_LEADER_GROUP    8
/* A follower's round that changes what clients route by waits only while
 * its rounds run back to back (the last ended at most BUSY ago), and only
 * this long. */
#define RAFTD_FOLLOWER_ROUTE_MS 5
#define RAFTD_FOLLOWER_BUSY_MS  2
/* Effects with walwriter at a time, at most (raftd_fx_pump). */
#define RAFTD_FX_WINDOW 256
/* Logs re-created per chunk of a reconciliation, at most: between two
 * chunks an apply round may run. */
#define RAFTD_RECON_CHUNK 1024

static void raftd_fx_pump(struct raftd_node *n);
static void raftd_fx_start(struct raftd_node *n);
static void raftd_recon_drop(struct raftd_node *n);
static void raftd_recon_end(struct raftd_node *n);
static void raftd_round_tried(struct raftd_node *n, int r);
static void raftd_round_committed(struct raftd_node *n, int r);

static void raftd_fx_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	raftd_fx_pump(arg);
}

static int raftd_txw_init(struct raftd_node *n);
static void raftd_txw_free(struct raftd_node *n);

static void raftd_defer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;

	(void)fd;
	(void)what;
	n->defer_over = true;
	raftd_exec_kick(n);
	raftd_node_pump(n);
}

int raftd_exec_init(struct raftd_node *n)
{
	n->txw.efd = -1;
	n->fx_timer = evtimer_new(n->base, raftd_fx_timer_cb, n);
	n->defer_timer = evtimer_new(n->base, raftd_defer_timer_cb, n);
	return n->fx_timer && n->defer_timer ? raftd_txw_init(n) : -ENOMEM;
}

void raftd_exec_free(struct raftd_node *n)
{
	raftd_txw_free(n); /* first: its job reads the items */
	for (size_t i = n->item_head; i < n->item_n; i++)
		free(n->items[i].data);
	free(n->items);
	n->items = NULL;
	n->item_head = n->item_n = n->item_cap = 0;
	raftd_recon_drop(n);
	raftd_effects_free(&n->fx);
	free(n->fx_calls);
	n->fx_calls = NULL;
	free(n->results);
	n->results = NULL;
	if (n->fx_timer)
		event_free(n->fx_timer);
	n->fx_timer = NULL;
	if (n->defer_timer)
		event_free(n->defer_timer);
	n->defer_timer = NULL;
}

size_t raftd_exec_backlog(const struct raftd_node *n)
{
	return n->item_n - n->item_head;
}

int raftd_exec_push(struct raftd_node *n, const raft_entry_t *ents, size_t count)
{
	if (n->item_head && n->exec == RAFTD_EXEC_IDLE) {
		/* No round holds positions: slide the live items down. */
		memmove(n->items, n->items + n->item_head,
		        (n->item_n - n->item_head) * sizeof(*n->items));
		n->item_n -= n->item_head;
		n->item_head = 0;
	}
	if (n->item_n + count > n->item_cap) {
		size_t cap = n->item_cap ? n->item_cap : 256;
		raftd_item_t *v;

		while (cap < n->item_n + count)
			cap *= 2;
		v = realloc(n->items, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		n->items = v;
		n->item_cap = cap;
	}
	for (size_t i = 0; i < count; i++) {
		raftd_item_t *it = &n->items[n->item_n];

		it->data = malloc(ents[i].len ? ents[i].len : 1);
		if (!it->data)
			return -ENOMEM;
		memcpy(it->data, ents[i].data, ents[i].len);
		it->index = ents[i].index;
		it->term = ents[i].term;
		it->len = ents[i].len;
		n->item_n++;
	}
	return 0;
}

/* The effect kind of a ConfigureLog: raftd_apply.h lists creations and
 * deletions only. */
#define RAFTD_FX_CONFIGURE_LOG ((raftd_effect_kind_t)3)

/* Whether the MetadataCommand in P sets alter_topic_configs (field 4). */
static bool raftd_entry_alters(const uint8_t *p, size_t len)
{
	return raftd_apply_cmd_case(p, len) ==
	       CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
}

/* Whether any of the COUNT entries from the round's start is of a kind
 * KIND(cmd_case) picks (an unreadable one has case 0); empty entries (a
 * leader's no-op) never count. */
static bool raftd_items_any(const struct raftd_node *n, size_t count, bool (*kind)(int cmd_case))
{
	for (size_t k = 0; k < count; k++) {
		const raftd_item_t *it = &n->items[n->item_head + k];

		if (it->len && kind(raftd_apply_cmd_case(it->data, it->len)))
			return true;
	}
	return false;
}

static bool raftd_kind_deletes(int cmd_case)
{
	return cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC;
}

/* A kind whose local effect must come before its commit (a log to delete
 * or reconfigure); unknown kinds count. Creations follow the commit
 * (raftd_round_tried). A big round of such kinds runs a dry run on the
 * loop first; a small one just tries its commit there (RAFTD_TXN_TRY
 * aborts and lists the effects). */
static bool raftd_kind_acts_first(int cmd_case)
{
	switch (cmd_case) {
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC:
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS:
	case CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER:
	case CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER:
	case CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION:
	case CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS:
	case CHRONIK__META__METADATA_COMMAND__CMD_NOOP:
	case CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS:
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP:
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS:
	case CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP:
		return false;
	default:
		return true;
	}
}

/* A kind that changes what clients route by (partitions, their leaders,
 * brokers); unknown kinds count. */
bool raftd_exec_routes(int cmd_case)
{
	switch (cmd_case) {
	case CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS:
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC:
	case CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS:
	case CHRONIK__META__METADATA_COMMAND__CMD_NOOP:
	case CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS:
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP:
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS:
	case CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP:
		return false;
	default:
		return true;
	}
}

/* The log settings of TOPIC as TXN sees it: 1 (in *RET), 0 no such topic,
 * or an error. */
static int raftd_topic_log_cfg(struct raftd_node *n, MDB_txn *txn, const char *topic,
                               raftd_log_config_t *ret)
{
	Chronik__Meta__TopicRecord *t = NULL;
	int r = ck_meta_topic_get(n->meta, txn, topic, &t);

	if (r == CK_E_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	/* Stored configs were checked when they were set. */
	if (raftd_apply_log_config(t->configs, t->n_configs, ret, NULL) < 0)
		memset(ret, 0, sizeof(*ret));
	chronik__meta__topic_record__free_unpacked(t, NULL);
	return 1;
}

static bool raftd_log_cfg_same(const raftd_log_config_t *a, const raftd_log_config_t *b)
{
	return a->segment_bytes == b->segment_bytes && a->segment_ms == b->segment_ms &&
	       a->retention_bytes == b->retention_bytes && a->retention_ms == b->retention_ms &&
	       a->max_message_bytes == b->max_message_bytes &&
	       a->index_interval_bytes == b->index_interval_bytes;
}

typedef struct {
	struct raftd_node *n;
	raftd_effect_t e; /* the template: kind, topic, settings */
	int err;
} raftd_alter_t;

static int raftd_alter_partition(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	raftd_alter_t *a = arg;

	if (!raftd_apply_is_replica(p, a->n->apply.local_broker))
		return 0;
	a->e.partition = p->partition;
	a->err = raftd_effects_push(&a->n->fx, &a->e);
	return a->err < 0 ? 1 : 0;
}

/*
 * Applies IT; when it is an AlterTopicConfigs that changed the log settings
 * of its topic, adds a ConfigureLog effect per local partition. Returns as
 * raftd_apply_entry().
 */
static int raftd_exec_apply(struct raftd_node *n, MDB_txn *txn, const raftd_item_t *it,
                            raftd_apply_result_t *res)
{
	Chronik__Meta__MetadataCommand *cmd = NULL;
	raftd_alter_t a = {n, {.kind = RAFTD_FX_CONFIGURE_LOG}, 0};
	raftd_log_config_t before;
	int had = 0, r;

	if (raftd_entry_alters(it->data, it->len))
		cmd = chronik__meta__metadata_command__unpack(NULL, it->len, it->data);
	/* Only a change that may touch a log setting needs the settings
	 * before and after (two reads of the topic record). */
	if (cmd && cmd->cmd_case == CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS &&
	    cmd->alter_topic_configs->name[0] &&
	    raftd_apply_alter_touches_log(cmd->alter_topic_configs)) {
		had = raftd_topic_log_cfg(n, txn, cmd->alter_topic_configs->name, &before);
		if (had < 0) {
			r = had;
			goto out;
		}
	}
	r = cmd ? raftd_apply_entry_cmd(&n->apply, txn, it->index, cmd, &n->fx, res)
	        : raftd_apply_entry(&n->apply, txn, it->index, it->data, it->len, &n->fx, res);
	if (r < 0 || had != 1 || res->result != 0)
		goto out;
	r = raftd_topic_log_cfg(n, txn, cmd->alter_topic_configs->name, &a.e.cfg);
	if (r != 1 || raftd_log_cfg_same(&before, &a.e.cfg)) {
		r = r < 0 ? r : 0;
		goto out;
	}
	snprintf(a.e.topic, sizeof(a.e.topic), "%s", cmd->alter_topic_configs->name);
	r = ck_meta_partitions_foreach(n->meta, txn, a.e.topic, raftd_alter_partition, &a);
	r = a.err < 0 ? a.err : (r < 0 ? r : 0);
out:
	if (cmd)
		chronik__meta__metadata_command__free_unpacked(cmd, NULL);
	return r;
}

/* Whether every effect listed is a log creation (none counts). */
static bool raftd_fx_only_creates(const struct raftd_node *n)
{
	for (size_t i = 0; i < n->fx.n; i++)
		if (n->fx.v[i].kind != RAFTD_EFFECT_CREATE_LOG)
			return false;
	return true;
}

/*
 * Applies the round's items in one transaction. RAFTD_TXN_TRY commits when
 * no entry has a side effect other than creating a log (2: committed, the
 * creations in n->fx still to do), RAFTD_TXN_DRY never commits (a dry run,
 * no fsync: the loop can afford it), RAFTD_TXN_COMMIT always does. Returns
 * 1 (committed, nothing left to do), 2, 0 (aborted: the effects are in
 * n->fx) or an error.
 */
static void raftd_txw_early(struct raftd_node *n);

/* Disk blocks for raftd's LMDB writes, taken ahead (raftd_meta_reserve in
 * raftd_snap.h): a round is refused cleanly when there is no room. */
static int raftd_exec_reserve(struct raftd_node *n)
{
	return raftd_meta_reserve(ck_meta_env(n->meta), 0, &n->meta_alloc);
}

static int raftd_exec_txn(struct raftd_node *n, const raftd_item_t *items, size_t count,
                          raftd_txn_mode_t mode, bool on_worker)
{
	MDB_txn *txn;
	int r, done;

	if (count > n->results_cap) {
		raftd_apply_result_t *v = realloc(n->results, count * sizeof(*v));
		if (!v)
			return -ENOMEM;
		n->results = v;
		n->results_cap = count;
	}
	raftd_effects_reset(&n->fx);
	r = raftd_exec_reserve(n);
	if (r < 0)
		return r;
	r = ck_meta_write_begin(n->meta, &txn);
	if (r < 0)
		return r;
	for (size_t k = 0; k < count; k++) {
		r = raftd_exec_apply(n, txn, &items[k], &n->results[k]);
		if (r < 0)
			goto abort;
	}
	if (mode == RAFTD_TXN_DRY || (mode == RAFTD_TXN_TRY && !raftd_fx_only_creates(n))) {
		r = 0;
		goto abort;
	}
	r = ck_meta_applied_index_put(n->meta, txn, items[count - 1].index);
	if (r < 0)
		goto abort;
	done = mode == RAFTD_TXN_TRY && n->fx.n ? 2 : 1;
	/* Creations go in either order with the commit (a crash between them
	 * is repaired by reconciliation): the loop starts them now, and the
	 * effects are no longer touched here. */
	if (done == 2 && on_worker)
		raftd_txw_early(n);
	r = ck_meta_write_commit(txn);
	return r < 0 ? r : done;
abort:
	mdb_txn_abort(txn);
	return r;
}

/* ---- the apply thread ----
 * A round's transaction (raftd_exec_txn) runs on a thread of its own: its
 * commit writes LMDB's pages (without fdatasync: ck_meta_unsynced_mark;
 * a snapshot's install does sync), and the event loop must go on meanwhile (acks, the
 * next append, proposals). While it runs (RAFTD_EXEC_TXN) the loop touches
 * nothing the transaction uses: the round's items are copied for it (new
 * entries may move n->items), results, effects and the apply state belong
 * to the round, and snapshots wait for it. A small round
 * (RAFTD_ROUND_HERE_MAX entries) runs its transaction on the loop instead
 * (raftd_txw_run_here): two thread hand-offs cost more than its commit. */

static void *raftd_txw_main(void *arg)
{
	struct raftd_node *n = arg;
	raftd_txn_worker_t *w = &n->txw;
	uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->posted && !w->quit)
			pthread_cond_wait(&w->cond, &w->mu);
		if (!w->posted)
			break;
		pthread_mutex_unlock(&w->mu);
		int r = raftd_exec_txn(n, w->items, w->n, w->mode, true);
		pthread_mutex_lock(&w->mu);
		w->result = r;
		w->posted = false;
		if (write(w->efd, &one, sizeof(one)) < 0)
			ck_log(CK_LOG_ERROR, "apply thread cannot signal the loop: %s",
			       ck_strerror(-errno));
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* On the apply thread: the job commits with logs to create; tells the
 * loop it may start them. */
static void raftd_txw_early(struct raftd_node *n)
{
	raftd_txn_worker_t *w = &n->txw;
	uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	w->early = true;
	pthread_mutex_unlock(&w->mu);
	if (write(w->efd, &one, sizeof(one)) < 0)
		ck_log(CK_LOG_ERROR, "apply thread cannot signal the loop: %s",
		       ck_strerror(-errno));
}

static void raftd_txw_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;
	raftd_txn_worker_t *w = &n->txw;
	bool early, finished;
	uint64_t v;
	int r;

	/* EV_TIMEOUT: activated by the loop itself (raftd_txw_run_here),
	 * nothing to read. */
	if (!(what & EV_TIMEOUT) && read(fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&w->mu);
	r = w->result;
	finished = !w->posted;
	early = w->early && !w->early_seen;
	pthread_mutex_unlock(&w->mu);
	if (n->exec != RAFTD_EXEC_TXN || !w->then)
		return;
	if (early) {
		w->early_seen = true;
		n->fx_early = true;
		raftd_fx_start(n);
	}
	if (finished)
		w->then(n, r);
}

static int raftd_txw_init(struct raftd_node *n)
{
	raftd_txn_worker_t *w = &n->txw;
	int r;

	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	w->ev = event_new(n->base, w->efd, EV_READ | EV_PERSIST, raftd_txw_done_cb, n);
	if (!w->ev || event_add(w->ev, NULL) < 0)
		return -ENOMEM;
	(void)pthread_mutex_init(&w->mu, NULL);
	(void)pthread_cond_init(&w->cond, NULL);
	r = pthread_create(&w->thread, NULL, raftd_txw_main, n);
	if (r != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cond);
		return -r;
	}
	w->started = true;
	return 0;
}

/* Stops the thread once its job (if any) is done; the job's answer is
 * dropped (the node is going away). */
static void raftd_txw_free(struct raftd_node *n)
{
	raftd_txn_worker_t *w = &n->txw;

	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->quit = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->mu);
		(void)pthread_join(w->thread, NULL);
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cond);
		w->started = false;
	}
	if (w->ev)
		event_free(w->ev);
	w->ev = NULL;
	if (w->efd > 0)
		(void)close(w->efd);
	w->efd = -1;
	free(w->items);
	w->items = NULL;
	w->cap = 0;
}

/* Runs the current round's transaction on the apply thread; THEN(n, r)
 * follows on the loop with raftd_exec_txn's result. */
static int raftd_txw_post(struct raftd_node *n, raftd_txn_mode_t mode,
                          void (*then)(struct raftd_node *n, int result))
{
	raftd_txn_worker_t *w = &n->txw;

	if (n->round_n > w->cap) {
		raftd_item_t *v = realloc(w->items, n->round_n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->items = v;
		w->cap = n->round_n;
	}
	memcpy(w->items, n->items + n->item_head, n->round_n * sizeof(*w->items));
	n->exec = RAFTD_EXEC_TXN;
	n->fx_early = n->fx_early_done = false;
	w->early_seen = false;
	pthread_mutex_lock(&w->mu);
	w->n = n->round_n;
	w->mode = mode;
	w->then = then;
	w->early = false;
	w->posted = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* Runs the current round's transaction on the loop itself (a small round:
 * its commit writes a few pages, no fdatasync): the same THEN follows
 * through the apply thread's completion event, activated here (it runs
 * once the callbacks ready now have run), with no thread hand-off. The
 * apply thread is idle (no round runs). */
static void raftd_txw_run_here(struct raftd_node *n, raftd_txn_mode_t mode,
                               void (*then)(struct raftd_node *n, int result))
{
	raftd_txn_worker_t *w = &n->txw;
	int r;

	n->exec = RAFTD_EXEC_TXN;
	n->fx_early = n->fx_early_done = false;
	w->early_seen = false;
	r = raftd_exec_txn(n, n->items + n->item_head, n->round_n, mode, false);
	pthread_mutex_lock(&w->mu);
	w->then = then;
	w->early = false;
	w->result = r;
	pthread_mutex_unlock(&w->mu);
	event_active(w->ev, EV_TIMEOUT, 0);
}

static void raftd_exec_round_done(struct raftd_node *n)
{
	uint64_t last = n->items[n->item_head + n->round_n - 1].index;

	n->applied = last;
	n->round_end_ms = ck_clock_mono_ms();
	ck_log(CK_LOG_DEBUG, "applied entries=%zu effects=%zu applied_index=%llu us=%llu",
	       n->round_n, n->fx.n, (unsigned long long)last,
	       (unsigned long long)((ck_clock_mono_ns() - n->round_start_ns) / 1000));
	/* Answers may re-enter the node (a proposal, a Ready pushing more
	 * entries): the round stays busy until its items are gone. */
	n->exec = RAFTD_EXEC_ROUND;
	/* The controller holds a deletion's answer until the brokers have
	 * applied it (raftd_node_hold): tell it now, not at the next beat. */
	if (n->role != RAFT_LEADER && raftd_items_any(n, n->round_n, raftd_kind_deletes))
		raftd_node_net_heartbeat(n);
	raftd_node_answer(n, n->round_n);
	for (size_t k = 0; k < n->round_n; k++)
		free(n->items[n->item_head + k].data);
	n->item_head += n->round_n;
	if (n->item_head == n->item_n)
		n->item_head = n->item_n = 0;
	n->round_n = 0;
	n->exec = RAFTD_EXEC_IDLE;
	raftd_store_release(n->store, last);
	if (n->h.on_applied)
		n->h.on_applied(n->arg, last);
}

/* Sets the wave that starts at fx_wave_lo: the run of effects of its kind. */
static void raftd_fx_wave(struct raftd_node *n)
{
	size_t hi = n->fx_wave_lo;

	while (hi < n->fx.n && n->fx.v[hi].kind == n->fx.v[n->fx_wave_lo].kind)
		hi++;
	n->fx_wave_hi = hi;
	n->fx_wave_next = n->fx_wave_sent = n->fx_wave_lo;
	n->fx_resend = false;
}

static void raftd_fx_start(struct raftd_node *n)
{
	raftd_fx_call_t *calls = realloc(n->fx_calls, n->fx.n * sizeof(*calls));

	if (!calls)
		return raftd_node_fatal(n, -ENOMEM, "no memory for log effects");
	n->fx_calls = calls;
	n->round++;
	for (size_t i = 0; i < n->fx.n; i++)
		calls[i] = (raftd_fx_call_t){n, i, RAFTD_FX_PENDING, n->round};
	n->fx_inflight = 0;
	n->fx_wave_lo = 0;
	raftd_fx_wave(n);
	raftd_fx_pump(n);
}

static void raftd_fx_finished(struct raftd_node *n)
{
	int r;

	if (n->exec == RAFTD_EXEC_TXN) {
		n->fx_early_done = true; /* the commit's end finishes the round */
		return;
	}
	if (n->exec == RAFTD_EXEC_ROUND) {
		if (n->round_n <= RAFTD_ROUND_HERE_MAX) {
			raftd_txw_run_here(n, RAFTD_TXN_COMMIT, raftd_round_committed);
			return; /* raftd_round_committed goes on */
		}
		r = raftd_txw_post(n, RAFTD_TXN_COMMIT, raftd_round_committed);
		if (r < 0)
			return raftd_node_fatal(n, r, "cannot apply to lmdb");
		return; /* raftd_round_committed goes on */
	} else if (n->exec == RAFTD_EXEC_POST) {
		raftd_exec_round_done(n);
	} else {
		/* A chunk of the reconciliation: the next one, or a round,
		 * comes from raftd_exec_kick. */
		n->recon_done += n->fx.n;
		n->exec = RAFTD_EXEC_IDLE;
		if (n->recon_next >= n->recon_n)
			raftd_recon_end(n);
	}
	raftd_exec_kick(n);
	raftd_node_pump(n);
}

/* Whether the reply REP completes effect E. */
static bool raftd_fx_outcome(const raftd_effect_t *e, const Chronik__Wal__WalReply *rep)
{
	int err = rep->error;

	const char *what = e->kind == RAFTD_EFFECT_CREATE_LOG   ? "create"
	                   : e->kind == RAFTD_EFFECT_DELETE_LOG ? "delete"
	                                                        : "configure";

	if (err == 0)
		return true;
	if (e->kind == RAFTD_EFFECT_CREATE_LOG && err == CK_E_EXISTS)
		return true;
	/* A log to configure that is not there: nothing to do (a creation
	 * walwriter refused, or reconciliation re-creates it with the
	 * topic's current settings). */
	if (e->kind != RAFTD_EFFECT_CREATE_LOG && err == CK_E_NOT_FOUND)
		return true;
	if (e->kind != RAFTD_EFFECT_DELETE_LOG && err == CK_E_INVALID) {
		/* Nothing will make walwriter take it: the log stays without
		 * it rather than blocking the metadata log forever. */
		ck_log(CK_LOG_ERROR, "walwriter refuses to %s log=%s-%d: %s", what, e->topic,
		       e->partition, rep->error_message[0] ? rep->error_message : ck_strerror(err));
		return true;
	}
	if (err != CK_E_AGAIN)
		ck_log(CK_LOG_WARN, "log %s failed, retrying log=%s-%d err=\"%s\"", what, e->topic,
		       e->partition, ck_strerror(err));
	return false;
}

static void raftd_fx_cb(void *arg, int err, const Chronik__Wal__WalReply *rep)
{
	raftd_fx_call_t *c = arg;
	struct raftd_node *n = c->node;
	struct timeval tv = {0, RAFTD_FX_RETRY_MS * 1000};

	CK_ASSERT(c->state == RAFTD_FX_INFLIGHT && c->round == n->round);
	c->state = RAFTD_FX_PENDING;
	n->fx_inflight--;
	if (err < 0) {
		n->fx_resend = true;
		return; /* lost connection or shutdown: resent on reconnect */
	}
	if (!raftd_fx_outcome(&n->fx.v[c->i], rep)) {
		n->fx_resend = true;
		(void)evtimer_add(n->fx_timer, &tv);
		return;
	}
	c->state = RAFTD_FX_DONE;
	while (n->fx_wave_next < n->fx_wave_hi &&
	       n->fx_calls[n->fx_wave_next].state == RAFTD_FX_DONE)
		n->fx_wave_next++;
	if (n->fx_wave_next < n->fx_wave_hi)
		return raftd_fx_pump(n);
	n->fx_wave_lo = n->fx_wave_hi;
	if (n->fx_wave_lo == n->fx.n)
		return raftd_fx_finished(n);
	raftd_fx_wave(n);
	raftd_fx_pump(n);
}

static int raftd_fx_send(struct raftd_node *n, size_t i)
{
	const raftd_effect_t *e = &n->fx.v[i];
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__CreateLog cl = CHRONIK__WAL__CREATE_LOG__INIT;
	Chronik__Wal__DeleteLog dl = CHRONIK__WAL__DELETE_LOG__INIT;
	Chronik__Wal__ConfigureLog co = CHRONIK__WAL__CONFIGURE_LOG__INIT;
	Chronik__Wal__LogConfig cfg = CHRONIK__WAL__LOG_CONFIG__INIT;

	cfg.segment_bytes = e->cfg.segment_bytes;
	cfg.segment_ms = e->cfg.segment_ms;
	cfg.retention_bytes = e->cfg.retention_bytes;
	cfg.retention_ms = e->cfg.retention_ms;
	cfg.max_message_bytes = e->cfg.max_message_bytes;
	cfg.index_interval_bytes = e->cfg.index_interval_bytes;
	if (e->kind == RAFTD_FX_CONFIGURE_LOG) {
		co.topic = (char *)e->topic;
		co.partition = e->partition;
		co.config = &cfg;
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CONFIGURE_LOG;
		req.configure_log = &co;
	} else if (e->kind == RAFTD_EFFECT_CREATE_LOG) {
		cl.topic = (char *)e->topic;
		cl.partition = e->partition;
		cl.config = &cfg;
		if (e->has_topic_id)
			cl.topic_id =
			    (ProtobufCBinaryData){RAFTD_TOPIC_ID_LEN, (uint8_t *)e->topic_id};
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_CREATE_LOG;
		req.create_log = &cl;
	} else {
		/* The deleted record's id: walwriter keeps a log of another
		 * incarnation (an old DeleteTopic replayed). */
		dl.topic = (char *)e->topic;
		dl.partition = e->partition;
		if (e->has_topic_id)
			dl.topic_id =
			    (ProtobufCBinaryData){RAFTD_TOPIC_ID_LEN, (uint8_t *)e->topic_id};
		req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_DELETE_LOG;
		req.delete_log = &dl;
	}
	return raftd_wal_call(n->wal, &req, raftd_fx_cb, &n->fx_calls[i]);
}

/* Sends effect I of the current wave. Returns false when it could not go
 * (it goes again on reconnect or after the retry timer). */
static bool raftd_fx_send_one(struct raftd_node *n, size_t i)
{
	if (!raftd_wal_connected(n->wal) || raftd_fx_send(n, i) < 0)
		return false;
	n->fx_calls[i].state = RAFTD_FX_INFLIGHT;
	n->fx_inflight++;
	return true;
}

/* Sends the current wave's effects that are pending again, then new ones
 * while fewer than RAFTD_FX_WINDOW are with walwriter. */
static void raftd_fx_pump(struct raftd_node *n)
{
	if (n->exec != RAFTD_EXEC_ROUND && n->exec != RAFTD_EXEC_RECONCILE &&
	    n->exec != RAFTD_EXEC_POST && !(n->exec == RAFTD_EXEC_TXN && n->fx_early))
		return;
	if (n->fx_resend) {
		/* Between next and sent: at most a window's worth not done. */
		n->fx_resend = false;
		for (size_t i = n->fx_wave_next; i < n->fx_wave_sent; i++) {
			if (n->fx_calls[i].state != RAFTD_FX_PENDING)
				continue;
			if (!raftd_fx_send_one(n, i)) {
				n->fx_resend = true;
				return;
			}
		}
	}
	while (n->fx_wave_sent < n->fx_wave_hi && n->fx_inflight < RAFTD_FX_WINDOW) {
		if (!raftd_fx_send_one(n, n->fx_wave_sent))
			return;
		n->fx_wave_sent++;
	}
}

/* ---- reconciliation ---- */

typedef struct {
	struct raftd_node *n;
	MDB_txn *txn;
	Chronik__Wal__LogInfo **logs; /* sorted by (topic, partition) */
	size_t n_logs;
	size_t cap; /* of n->recon */
	int err;
} raftd_reconcile_t;

static int raftd_log_cmp(const char *ta, int32_t pa, const char *tb, int32_t pb)
{
	int c = strcmp(ta, tb);

	if (c)
		return c;
	return pa < pb ? -1 : pa > pb;
}

static int raftd_log_sort_cb(const void *a, const void *b)
{
	const Chronik__Wal__LogInfo *x = *(Chronik__Wal__LogInfo *const *)a;
	const Chronik__Wal__LogInfo *y = *(Chronik__Wal__LogInfo *const *)b;

	return raftd_log_cmp(x->topic, x->partition, y->topic, y->partition);
}

/* The listed log TOPIC-PART, or NULL. */
static const Chronik__Wal__LogInfo *raftd_log_listed(const raftd_reconcile_t *rc, const char *topic,
                                                     int32_t part)
{
	size_t lo = 0, hi = rc->n_logs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = raftd_log_cmp(rc->logs[mid]->topic, rc->logs[mid]->partition, topic, part);

		if (c == 0)
			return rc->logs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void raftd_recon_drop(struct raftd_node *n)
{
	for (size_t i = 0; i < n->recon_n; i++)
		free(n->recon[i].topic);
	free(n->recon);
	n->recon = NULL;
	n->recon_n = n->recon_next = n->recon_done = n->recon_deleted = 0;
}

/* The reconciliation is over: every listed log went to walwriter, or was
 * no longer this broker's. */
static void raftd_recon_end(struct raftd_node *n)
{
	ck_log(CK_LOG_INFO, "partition logs re-created count=%zu stale_deleted=%zu",
	       n->recon_done - CK_MIN(n->recon_deleted, n->recon_done), n->recon_deleted);
	/* Done pruning, unless another pass is wanted already (a snapshot
	 * installed meanwhile: its stale logs; pruning stays safe once a
	 * snapshot was installed, LMDB being at least that new). */
	if (!n->reconcile_wanted)
		n->recon_prune = false;
	raftd_recon_drop(n);
}

/* Queues TOPIC-PARTITION: a log to create, or with STALE (a walwriter
 * LogInfo) a stale log to delete. */
static int raftd_recon_push(struct raftd_node *n, const char *topic, int32_t partition,
                            const Chronik__Wal__LogInfo *stale, size_t *cap)
{
	raftd_recon_log_t *l;
	char *t;

	if (n->recon_n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		raftd_recon_log_t *v = realloc(n->recon, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		n->recon = v;
		*cap = c;
	}
	t = strdup(topic);
	if (!t)
		return -ENOMEM;
	l = &n->recon[n->recon_n++];
	*l = (raftd_recon_log_t){.topic = t, .partition = partition, .stale = stale != NULL};
	if (stale && stale->topic_id.len == RAFTD_TOPIC_ID_LEN) {
		memcpy(l->topic_id, stale->topic_id.data, RAFTD_TOPIC_ID_LEN);
		l->has_topic_id = true;
	}
	return 0;
}

/* Whether TOPIC_ID (has_id: known) names another incarnation than T's. */
static bool raftd_recon_other_incarnation(const Chronik__Meta__TopicRecord *t, bool has_id,
                                          const uint8_t *topic_id)
{
	return has_id && t->topic_id.len == RAFTD_TOPIC_ID_LEN &&
	       memcmp(t->topic_id.data, topic_id, RAFTD_TOPIC_ID_LEN) != 0;
}

/* Whether the listed log L is stale in LMDB as TXN sees it: no topic of its
 * name, or one of another incarnation (both ids known); *RET_REPLACED: the
 * name exists (as the other incarnation). Returns 1, 0 or a CK_E_* code. */
static int raftd_recon_stale(struct raftd_node *n, MDB_txn *txn, const char *topic, bool has_id,
                             const uint8_t *topic_id, bool *ret_replaced)
{
	Chronik__Meta__TopicRecord *t = NULL;
	int r = ck_meta_topic_get(n->meta, txn, topic, &t);
	bool other;

	*ret_replaced = false;
	if (r == CK_E_NOT_FOUND)
		return 1;
	if (r < 0)
		return r;
	other = raftd_recon_other_incarnation(t, has_id, topic_id);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	*ret_replaced = other;
	return other ? 1 : 0;
}

/* After a snapshot was installed: queues this broker's logs whose topic
 * the metadata no longer has, or has as another incarnation (deleted, or
 * deleted and created again, while this node was away and before the
 * entries saying so were compacted), then the new incarnations' logs. */
static int raftd_recon_push_stale(raftd_reconcile_t *rc)
{
	struct raftd_node *n = rc->n;
	size_t first = n->recon_n, last;
	bool replaced;
	int r;

	for (size_t i = 0; i < rc->n_logs; i++) {
		const Chronik__Wal__LogInfo *l = rc->logs[i];
		bool has_id = l->topic_id.len == RAFTD_TOPIC_ID_LEN;

		if (!l->topic || !strcmp(l->topic, RAFTD_METADATA_TOPIC))
			continue;
		r = raftd_recon_stale(n, rc->txn, l->topic, has_id, l->topic_id.data, &replaced);
		if (r == 1)
			r = raftd_recon_push(n, l->topic, l->partition, l, &rc->cap);
		if (r < 0)
			return r;
	}
	last = n->recon_n;
	for (size_t i = first; i < last; i++) {
		raftd_recon_log_t *l = &n->recon[i];

		r = raftd_recon_stale(n, rc->txn, l->topic, l->has_topic_id, l->topic_id,
		                      &replaced);
		if (r < 0)
			return r;
		if (replaced) {
			r = raftd_recon_push(n, l->topic, l->partition, NULL, &rc->cap);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* A replica of this broker: created when walwriter lacks it, configured
 * when its log lost its settings file (walwriter suspends its retention
 * meanwhile: the node defaults could delete what the topic keeps). */
static int raftd_reconcile_partition(void *arg, const Chronik__Meta__PartitionRecord *p)
{
	raftd_reconcile_t *rc = arg;
	struct raftd_node *n = rc->n;
	const Chronik__Wal__LogInfo *l;

	if (!raftd_apply_is_replica(p, n->apply.local_broker))
		return 0;
	l = raftd_log_listed(rc, p->topic, p->partition);
	if (l && !l->settings_lost)
		return 0;
	rc->err = raftd_recon_push(n, p->topic, p->partition, NULL, &rc->cap);
	if (rc->err == 0 && l)
		n->recon[n->recon_n - 1].configure = true;
	return rc->err < 0 ? 1 : 0;
}

static int raftd_reconcile_topic(void *arg, const Chronik__Meta__TopicRecord *t)
{
	raftd_reconcile_t *rc = arg;
	int r = ck_meta_partitions_foreach(rc->n->meta, rc->txn, t->name, raftd_reconcile_partition,
	                                   rc);

	if (rc->err < 0)
		return 1;
	rc->err = r;
	return r < 0 ? 1 : 0;
}

/* The DeleteLog of the stale log L into n->fx, when LMDB as it is now
 * still lacks its incarnation (a round since the list may have created the
 * name again: that log is a new incarnation, which walwriter spares when
 * L's id is known, and a log without an id is deleted only while no topic
 * has its name). */
static int raftd_recon_stale_effect(struct raftd_node *n, MDB_txn *txn, const raftd_recon_log_t *l)
{
	raftd_effect_t e = {.kind = RAFTD_EFFECT_DELETE_LOG, .partition = l->partition};
	bool replaced;
	int r = raftd_recon_stale(n, txn, l->topic, l->has_topic_id, l->topic_id, &replaced);

	if (r <= 0)
		return r;
	memcpy(e.topic_id, l->topic_id, RAFTD_TOPIC_ID_LEN);
	e.has_topic_id = l->has_topic_id;
	snprintf(e.topic, sizeof(e.topic), "%s", l->topic);
	ck_log(CK_LOG_INFO, "deleting a stale log log=%s-%d reason=\"%s\"", l->topic,
	       (int)l->partition,
	       replaced ? "its topic was created again" : "its topic was deleted");
	r = raftd_effects_push(&n->fx, &e);
	if (r == 0)
		n->recon_deleted++;
	return r;
}

/* The CreateLog (CONFIGURE: ConfigureLog) of TOPIC-PARTITION as LMDB
 * describes it now, into n->fx; nothing when this broker no longer holds a
 * replica of it (the topic was deleted, or replaced, by a round that ran
 * after the list was made). */
static int raftd_recon_effect(struct raftd_node *n, MDB_txn *txn, const char *topic,
                              int32_t partition, bool configure)
{
	Chronik__Meta__PartitionRecord *p = NULL;
	Chronik__Meta__TopicRecord *t = NULL;
	raftd_effect_t e = {.kind = configure ? RAFTD_FX_CONFIGURE_LOG : RAFTD_EFFECT_CREATE_LOG,
	                    .partition = partition};
	int r = ck_meta_partition_get(n->meta, txn, topic, partition, &p);

	if (r == 0 && !raftd_apply_is_replica(p, n->apply.local_broker))
		r = CK_E_NOT_FOUND;
	if (r == 0)
		r = ck_meta_topic_get(n->meta, txn, topic, &t);
	if (p)
		chronik__meta__partition_record__free_unpacked(p, NULL);
	if (r < 0)
		return r == CK_E_NOT_FOUND ? 0 : r;
	if (raftd_apply_log_config(t->configs, t->n_configs, &e.cfg, NULL) < 0) {
		if (configure) { /* its retention stays suspended */
			chronik__meta__topic_record__free_unpacked(t, NULL);
			return 0;
		}
		memset(&e.cfg, 0, sizeof(e.cfg));
	}
	if (configure)
		ck_log(CK_LOG_WARN, "log settings lost: set again from the metadata log=%s-%d",
		       topic, (int)partition);
	if (t->topic_id.len == RAFTD_TOPIC_ID_LEN) {
		memcpy(e.topic_id, t->topic_id.data, RAFTD_TOPIC_ID_LEN);
		e.has_topic_id = true;
	}
	chronik__meta__topic_record__free_unpacked(t, NULL);
	snprintf(e.topic, sizeof(e.topic), "%s", topic);
	return raftd_effects_push(&n->fx, &e);
}

/* Starts the next chunk of the reconciliation: up to RAFTD_RECON_CHUNK of
 * the listed logs that LMDB still gives this broker, with their settings
 * and topic ids as they are now (a round between two chunks may have
 * deleted a topic, made another of its name or changed its settings; its
 * own effects went to walwriter before this chunk's). Returns whether a
 * chunk went out; when none is left, the reconciliation is over. */
static bool raftd_recon_chunk(struct raftd_node *n)
{
	MDB_txn *txn = NULL;
	int r = ck_meta_read_begin(n->meta, &txn);

	raftd_effects_reset(&n->fx);
	while (r == 0 && n->recon_next < n->recon_n && n->fx.n < RAFTD_RECON_CHUNK) {
		const raftd_recon_log_t *l = &n->recon[n->recon_next];

		r = l->stale ? raftd_recon_stale_effect(n, txn, l)
		             : raftd_recon_effect(n, txn, l->topic, l->partition, l->configure);
		if (r == 0)
			n->recon_next++;
	}
	if (txn)
		ck_meta_read_end(txn);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot check partition logs: %s", ck_strerror(r));
		raftd_recon_drop(n);
		return false;
	}
	if (n->fx.n == 0) {
		raftd_recon_end(n);
		return false;
	}
	n->exec = RAFTD_EXEC_RECONCILE;
	raftd_fx_start(n);
	return true;
}

/* The first few reconciliation logs that are STALE (or not) as
 * "topic-p,...", for the log line that counts them. */
static const char *raftd_recon_names(const struct raftd_node *n, bool stale, char *buf, size_t cap)
{
	size_t len = 0, shown = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n->recon_n && len + 1 < cap; i++) {
		const raftd_recon_log_t *l = &n->recon[i];
		int w;

		if (l->stale != stale)
			continue;
		if (shown == 5) {
			(void)snprintf(buf + len, cap - len, ",...");
			break;
		}
		w = snprintf(buf + len, cap - len, "%s%s-%d", shown ? "," : "", l->topic,
		             (int)l->partition);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
		shown++;
	}
	return buf;
}

static void raftd_reconcile_list_cb(void *arg, int err, const Chronik__Wal__WalReply *rep)
{
	struct raftd_node *n = arg;
	raftd_reconcile_t rc = {n, NULL, NULL, 0, 0, 0};

	n->exec = RAFTD_EXEC_IDLE;
	if (err < 0 || rep->body_case != CHRONIK__WAL__WAL_REPLY__BODY_LOG_LIST) {
		/* Lost connection: again on reconnect; refused: give up. */
		n->reconcile_wanted = err == CK_E_CLOSED;
		return;
	}
	/* The list is the reply's: sorting its pointer array in place is fine
	 * (it is freed right after this call). */
	rc.logs = rep->log_list->logs;
	rc.n_logs = rep->log_list->n_logs;
	if (rc.n_logs)
		qsort(rc.logs, rc.n_logs, sizeof(*rc.logs), raftd_log_sort_cb);
	raftd_recon_drop(n);
	err = ck_meta_read_begin(n->meta, &rc.txn);
	if (err == 0) {
		if (n->recon_prune)
			err = raftd_recon_push_stale(&rc);
		if (err == 0)
			err = ck_meta_topics_foreach(n->meta, rc.txn, raftd_reconcile_topic, &rc);
		ck_meta_read_end(rc.txn);
	}
	if (err < 0 || rc.err < 0) {
		ck_log(CK_LOG_WARN, "cannot check partition logs: %s",
		       ck_strerror(err < 0 ? err : rc.err));
		raftd_recon_drop(n);
	} else {
		size_t stale = 0;
		char names[400];

		for (size_t i = 0; i < n->recon_n; i++)
			stale += n->recon[i].stale;
		/* Pruning stays asked until the stale logs went to walwriter
		 * (raftd_recon_end): a list that replaces this one before
		 * (reconcile_wanted again: a snapshot installed while this
		 * list was in flight, a leader change, walwriter back) must
		 * find them again. */
		n->recon_prune = stale != 0;
		if (stale)
			ck_log(CK_LOG_WARN,
			       "partition logs of deleted or re-created topics count=%zu: deleting "
			       "logs=%s",
			       stale, raftd_recon_names(n, true, names, sizeof(names)));
		/* Mostly partitions never written to, which live in
		 * walwriter's memory only: after its restart, the normal case. */
		if (n->recon_n > stale)
			ck_log(CK_LOG_INFO,
			       "partition logs walwriter does not hold (never written to since it "
			       "started, or lost) count=%zu: re-creating logs=%s",
			       n->recon_n - stale,
			       raftd_recon_names(n, false, names, sizeof(names)));
	}
	raftd_exec_kick(n); /* the first chunk */
	raftd_node_pump(n);
}

static void raftd_reconcile_start(struct raftd_node *n)
{
	Chronik__Wal__WalRequest req = CHRONIK__WAL__WAL_REQUEST__INIT;
	Chronik__Wal__ListLogs ll = CHRONIK__WAL__LIST_LOGS__INIT;

	req.body_case = CHRONIK__WAL__WAL_REQUEST__BODY_LIST_LOGS;
	req.list_logs = &ll;
	n->reconcile_wanted = false;
	if (raftd_wal_call(n->wal, &req, raftd_reconcile_list_cb, n) < 0) {
		n->reconcile_wanted = true;
		return;
	}
	n->exec = RAFTD_EXEC_LIST;
}

/*
 * How long the next round of COUNT entries may wait for more, in µs (0:
 * not at all; defer_timer ends the wait by setting defer_over):
 *   a leader's, when its clients' writes beyond these are in the log, not
 *   yet committed, and the round is small: RAFTD_LEADER_DEFER_US;
 *   a follower's, when no client of this node waits for an answer:
 *   RAFTD_FOLLOWER_DEFER_MS, but when the entries change what clients route
 *   by, only while rounds run back to back (a producer told by the
 *   controller's node that its topic exists may come here next, and
 *   kafka-python does not retry by default) and only RAFTD_FOLLOWER_ROUTE_MS.
 */
static uint64_t raftd_round_wait_us(const struct raftd_node *n, size_t count)
{
	if (n->defer_over || n->stopping)
		return 0;
	if (n->role == RAFT_LEADER)
		return count < RAFTD_LEADER_GROUP && n->inflight.n > count ? RAFTD_LEADER_DEFER_US
		                                                           : 0;
	if (count >= RAFTD_ROUND_MAX || n->queued.n + n->forwarded.n + n->inflight.n != 0)
		return 0;
	if (!raftd_items_any(n, count, raftd_exec_routes))
		return RAFTD_FOLLOWER_DEFER_MS * 1000;
	if (ck_clock_mono_ms() > n->round_end_ms + RAFTD_FOLLOWER_BUSY_MS)
		return 0;
	return RAFTD_FOLLOWER_ROUTE_MS * 1000;
}

void raftd_exec_kick(struct raftd_node *n)
{
	while (!n->failed) {
		size_t count = CK_MIN(raftd_exec_backlog(n), (size_t)RAFTD_ROUND_MAX);
		int r;

		if (n->ready_wait_exec && !RAFTD_EXEC_BUSY(n)) {
			/* A Ready waits to install a snapshot: it goes first (and
			 * drops the backlog, which the snapshot covers). */
			n->ready_wait_exec = false;
			raftd_node_ready_continue(n);
			return;
		}
		if (n->exec != RAFTD_EXEC_IDLE)
			return;

		if (n->reconcile_wanted && raftd_wal_connected(n->wal)) {
			raftd_reconcile_start(n);
			continue;
		}
		/* A reconciliation's chunks take turns with apply rounds (and
		 * do not wait for a round that waits for more entries). */
		if (n->recon_next < n->recon_n &&
		    (count == 0 || n->recon_turn || raftd_round_wait_us(n, count) > 0) &&
		    raftd_wal_connected(n->wal)) {
			n->recon_turn = false;
			if (raftd_recon_chunk(n))
				return; /* raftd_fx_finished comes back */
			continue;
		}
		if (count == 0)
			return;
		uint64_t wait_us = raftd_round_wait_us(n, count);
		if (wait_us) {
			uint64_t due = ck_clock_mono_ns() / 1000 + wait_us;
			if (!evtimer_pending(n->defer_timer, NULL) || due < n->defer_due_us) {
				struct timeval tv = {(time_t)(wait_us / 1000000),
				                     (suseconds_t)(wait_us % 1000000)};
				n->defer_due_us = due;
				(void)evtimer_add(n->defer_timer, &tv);
			}
			return;
		}
		n->defer_over = false;
		(void)evtimer_del(n->defer_timer);
		CK_ASSERT(n->items[n->item_head].index == n->applied + 1);
		n->round_n = count;
		n->round_start_ns = ck_clock_mono_ns();
		n->recon_turn = true;
		/* A small round tries its commit on the loop, whatever its
		 * kinds: a round with effects other than log creations aborts
		 * and lists them, as a dry run would. */
		if (n->round_n <= RAFTD_ROUND_HERE_MAX) {
			raftd_txw_run_here(n, RAFTD_TXN_TRY, raftd_round_tried);
			return; /* raftd_round_tried goes on */
		}
		if (!raftd_items_any(n, n->round_n, raftd_kind_acts_first)) {
			r = raftd_txw_post(n, RAFTD_TXN_TRY, raftd_round_tried);
			if (r < 0)
				return raftd_node_fatal(n, r, "cannot apply to lmdb");
			return; /* raftd_round_tried goes on */
		}
		/* Entries that may need walwriter: their dry run here (no fsync,
		 * no hop to the apply thread and back), then the effects. */
		r = raftd_exec_txn(n, n->items + n->item_head, count, RAFTD_TXN_DRY, false);
		if (r < 0)
			return raftd_node_fatal(n, r, "cannot apply to lmdb");
		if (n->fx.n) {
			n->exec = RAFTD_EXEC_ROUND;
			raftd_fx_start(n);
			return;
		}
		r = raftd_txw_post(n, RAFTD_TXN_COMMIT, raftd_round_committed);
		if (r < 0)
			return raftd_node_fatal(n, r, "cannot apply to lmdb");
		return; /* raftd_round_committed goes on */
	}
}

/* A round's first transaction is done: committed (no local effects), or
 * aborted with its effects listed. */
static void raftd_round_tried(struct raftd_node *n, int r)
{
	if (r < 0)
		return raftd_node_fatal(n, r, "cannot apply to lmdb");
	if (r == 1) {
		raftd_exec_round_done(n);
	} else {
		/* 2: committed, its logs to create: the writes are answered now
		 * (the CreateLogs are on their way; an append that overtakes
		 * one waits for it in walwriter, wal_park.c), the round ends
		 * when the logs exist; 0: aborted, the effects go first, then
		 * the commit. */
		if (r == 2 && n->fx_early_done) {
			raftd_exec_round_done(n);
		} else if (r == 2) {
			/* The CreateLogs first, so they leave before the answers
			 * (raftd_fx_finished ends the round). */
			n->exec = RAFTD_EXEC_POST;
			if (n->fx_early)
				raftd_fx_pump(n);
			else
				raftd_fx_start(n);
			raftd_node_answer(n, n->round_n);
		} else {
			n->exec = RAFTD_EXEC_ROUND;
			raftd_fx_start(n);
		}
	}
	raftd_exec_kick(n);
	raftd_node_pump(n);
}

/* The round's effects were carried out and its transaction committed. */
static void raftd_round_committed(struct raftd_node *n, int r)
{
	if (r < 0)
		return raftd_node_fatal(n, r, "cannot apply to lmdb");
	raftd_exec_round_done(n);
	raftd_exec_kick(n);
	raftd_node_pump(n);
}

void raftd_exec_wal_connected(struct raftd_node *n)
{
	/* A walwriter that restarted lost the logs nobody appended to yet
	 * (they live in its memory until then, wal_store.h). */
	n->reconcile_wanted = true;
	if (n->exec == RAFTD_EXEC_IDLE)
		raftd_exec_kick(n);
	else
		raftd_fx_pump(n);
}
