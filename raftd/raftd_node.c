/*
 * raftd_node.c: start-up, the Ready cycle and proposals of chronik-raftd's
 * metadata service (see raftd_node.h).
 *
 * Owned by raftd. The Ready cycle follows raft_core.h: take a Ready, save
 * the hard state (only when term or vote changed: commit is advisory),
 * append its entries through raftd_store (asynchronously: the core waits,
 * proposals pile up in the shell queue and form the next append), then
 * send, queue the committed entries for raftd_exec.c, note the soft state
 * and advance. Applying runs beside the cycle, so the next append overlaps
 * the previous apply round.
 * Invariants: proposals in `inflight` are in index order; nothing calls
 * the core between raft_ready() and raft_advance() (ready_pending), and
 * raftd_node_pump() never nests (in_pump).
 * Not for: apply rounds (raftd_exec.c), client sockets (raftd_service.c).
 */
#define CK_LOG_SUBSYSTEM "node"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "raftd_hs.h"
#include "raftd_node_int.h"

#define RAFTD_TICK_MS         100
#define RAFTD_ELECTION_TICKS  10
#define RAFTD_ENTRY_BYTES_MAX (1u << 20)
/* Committed entries waiting for their apply round, at most, before the
 * shell stops feeding proposals to the core. */
#define RAFTD_APPLY_BACKLOG_MAX  16384
#define RAFTD_READER_CHECK_TICKS 100

/* ---- proposals ---- */

static void raftd_list_push(raftd_prop_list_t *l, raftd_prop_t *p)
{
	p->next = NULL;
	if (l->tail)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	l->n++;
}

static raftd_prop_t *raftd_list_pop(raftd_prop_list_t *l)
{
	raftd_prop_t *p = l->head;

	if (!p)
		return NULL;
	l->head = p->next;
	if (!l->head)
		l->tail = NULL;
	l->n--;
	return p;
}

static void raftd_prop_finish(raftd_prop_t *p, int err, uint64_t index,
                              const raftd_apply_result_t *res)
{
	p->cb(p->arg, err, index, res);
	free(p->data);
	free(p);
}

static void raftd_list_fail(raftd_prop_list_t *l, int err)
{
	raftd_prop_t *p;

	while ((p = raftd_list_pop(l)) != NULL)
		raftd_prop_finish(p, err, p->index, NULL);
}

/* Answers proposals whose deadline passed: outcome unknown. Deadlines grow
 * along both lists, so only heads can expire. */
static void raftd_props_expire(struct raftd_node *n, uint64_t now_ms)
{
	raftd_prop_list_t *lists[2] = {&n->queued, &n->inflight};

	for (int i = 0; i < 2; i++) {
		while (lists[i]->head && lists[i]->head->deadline_ms <= now_ms) {
			raftd_prop_t *p = raftd_list_pop(lists[i]);
			raftd_prop_finish(p, CK_E_TIMEOUT, p->index, NULL);
		}
	}
}

static void raftd_node_check_serving(struct raftd_node *n);

void raftd_node_answer(struct raftd_node *n, size_t count)
{
	for (size_t k = 0; k < count; k++) {
		const raftd_item_t *it = &n->items[n->item_head + k];

		while (n->inflight.head && n->inflight.head->index <= it->index) {
			raftd_prop_t *p = raftd_list_pop(&n->inflight);

			/* Another leader's entry took this index: ours is gone. */
			if (p->index == it->index && p->term == it->term)
				raftd_prop_finish(p, 0, it->index, &n->results[k]);
			else
				raftd_prop_finish(p, CK_E_NOT_LEADER, p->index, NULL);
		}
	}
	raftd_node_check_serving(n);
}

void raftd_node_fatal(struct raftd_node *n, int err, const char *why)
{
	int code = err == CK_E_CORRUPT || err == CK_E_CONFIG ? CK_EXIT_FATAL : CK_EXIT_RESTART;

	if (n->failed)
		return;
	n->failed = true;
	ck_log(CK_LOG_ERROR, "%s: %s", why, ck_strerror(err));
	if (n->h.on_fatal)
		n->h.on_fatal(n->arg, err, code);
}

/* Hands queued proposals to the core while it takes them. */
static void raftd_node_feed(struct raftd_node *n)
{
	raft_status_t st;

	if (n->role != RAFT_LEADER || n->stopping)
		return;
	raft_status(n->raft, &st);
	while (n->queued.head && raftd_exec_backlog(n) < RAFTD_APPLY_BACKLOG_MAX) {
		raftd_prop_t *p = n->queued.head;
		uint64_t index;
		int r = raft_propose(n->raft, p->data, p->len, &index);

		if (r == CK_E_AGAIN || r == CK_E_NOT_LEADER)
			break;
		(void)raftd_list_pop(&n->queued);
		if (r < 0) {
			raftd_prop_finish(p, r, 0, NULL);
			continue;
		}
		p->index = index;
		p->term = st.term;
		free(p->data);
		p->data = NULL;
		raftd_list_push(&n->inflight, p);
	}
}

/* ---- the Ready cycle ---- */

static int raftd_node_save_hs(struct raftd_node *n, const raft_hard_state_t *hs)
{
	int r;

	if (n->has_hs && hs->term == n->hs.term && hs->vote == n->hs.vote) {
		n->hs.commit = hs->commit;
		return 0;
	}
	r = raftd_hs_save(n->cfg->data_dir, hs);
	if (r == 0) {
		n->hs = *hs;
		n->has_hs = true;
	}
	return r;
}

static void raftd_node_soft_state(struct raftd_node *n, const raft_soft_state_t *ss)
{
	raft_status_t st;

	raft_status(n->raft, &st);
	if (ss->role != n->role) {
		ck_log(CK_LOG_INFO, "role %s -> %s term=%llu leader=%llu", raft_role_name(n->role),
		       raft_role_name(ss->role), (unsigned long long)st.term,
		       (unsigned long long)ss->leader);
		if (ss->role == RAFT_LEADER) {
			/* Our no-op is the last entry: once it is applied, every
			 * older entry is too (the replay after a restart). */
			n->lead_index = st.last_index;
			n->registered = false;
			n->reconcile_wanted = true;
		}
	}
	n->role = ss->role;
	n->leader = ss->leader;
	if (n->role != RAFT_LEADER && n->leader != RAFT_NONE &&
	    n->leader != (uint64_t)n->cfg->node_id)
		raftd_list_fail(&n->queued, CK_E_NOT_LEADER); /* no forwarding yet */
	if (n->h.on_status)
		n->h.on_status(n->arg);
}

/* The Ready's entries are durable: send, note the soft state, advance. */
static void raftd_node_ready_finish(struct raftd_node *n)
{
	const raft_ready_t *rd = &n->rd;

	for (size_t i = 0; i < rd->n_msgs; i++)
		ck_log(CK_LOG_DEBUG, "no transport yet: dropped %s to=%llu",
		       raft_msg_type_name(rd->msgs[i].type), (unsigned long long)rd->msgs[i].to);
	if (rd->has_soft_state)
		raftd_node_soft_state(n, &rd->soft_state);
	raft_advance(n->raft, rd);
	n->ready_pending = false;
	raftd_exec_kick(n);
}

/* Takes one Ready and starts its work. */
static void raftd_node_ready_take(struct raftd_node *n)
{
	raft_ready_t *rd = &n->rd;
	int r = raft_ready(n->raft, rd);

	if (r < 0)
		return raftd_node_fatal(n, r, "cannot read committed entries");
	n->ready_pending = true;
	if (rd->has_snapshot)
		return raftd_node_fatal(n, CK_E_INVALID, "snapshots are not supported yet");
	if (rd->has_hard_state) {
		r = raftd_node_save_hs(n, &rd->hard_state);
		if (r < 0)
			return raftd_node_fatal(n, r, "cannot save the raft hard state");
	}
	/* Committed entries are durable where it counts already (this node
	 * persisted them in an earlier Ready): applying them need not wait
	 * for this Ready's append, which keeps apply rounds overlapping the
	 * next group's fsync. Applying touches only the local state. */
	r = raftd_exec_push(n, rd->committed, rd->n_committed);
	if (r < 0)
		return raftd_node_fatal(n, r, "cannot queue committed entries");
	raftd_exec_kick(n);
	if (rd->n_entries) {
		r = raftd_store_append(n->store, rd->entries, rd->n_entries);
		if (r < 0)
			raftd_node_fatal(n, r, "cannot append to the metadata log");
		return; /* on_appended finishes */
	}
	raftd_node_ready_finish(n);
}

void raftd_node_pump(struct raftd_node *n)
{
	if (!n->raft || n->in_pump)
		return;
	n->in_pump = true;
	while (!n->ready_pending && !n->failed) {
		for (; n->ticks_pending; n->ticks_pending--)
			raft_tick(n->raft);
		raftd_node_feed(n);
		if (!raft_has_ready(n->raft))
			break;
		raftd_node_ready_take(n);
	}
	n->in_pump = false;
}

/* ---- the broker's own registration ---- */

static void raftd_register_cb(void *arg, int err, uint64_t index, const raftd_apply_result_t *res)
{
	struct raftd_node *n = arg;

	if (err == 0 && res->result == 0) {
		ck_log(CK_LOG_INFO, "broker registered id=%d index=%llu", n->cfg->node_id,
		       (unsigned long long)index);
		return;
	}
	if (err == CK_E_SHUTDOWN)
		return;
	ck_log(CK_LOG_WARN, "broker registration failed, retrying: %s",
	       err ? ck_strerror(err) : res->message);
	n->registered = false;
}

static void raftd_node_register(struct raftd_node *n)
{
	const ck_config_t *cfg = n->cfg;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__RegisterBroker reg = CHRONIK__META__REGISTER_BROKER__INIT;
	Chronik__Meta__BrokerRecord b = CHRONIK__META__BROKER_RECORD__INIT;
	const char *kafka = cfg->kafka_advertised[0] ? cfg->kafka_advertised : cfg->kafka_listen;
	char host[CK_CONFIG_ADDR_MAX];
	uint8_t buf[1024];
	uint16_t port = 0;
	size_t len;
	int r;

	if (ck_config_split_addr(kafka, host, sizeof(host), &port) < 0)
		snprintf(host, sizeof(host), "%s", kafka);
	b.id = cfg->node_id;
	b.kafka_host = host;
	b.kafka_port = port;
	b.replication = (char *)cfg->replication_listen;
	b.raft = (char *)cfg->raft_listen;
	do
		b.incarnation = ck_rand_u64(&n->rand);
	while (b.incarnation == 0);
	reg.broker = &b;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER;
	cmd.register_broker = &reg;
	len = chronik__meta__metadata_command__get_packed_size(&cmd);
	CK_ASSERT(len <= sizeof(buf));
	(void)chronik__meta__metadata_command__pack(&cmd, buf);
	n->registered = true;
	r = raftd_node_propose(n, buf, len, raftd_register_cb, n);
	if (r < 0) {
		n->registered = false;
		ck_log(CK_LOG_WARN, "cannot propose the broker registration: %s", ck_strerror(r));
	}
}

static void raftd_node_check_serving(struct raftd_node *n)
{
	if (!n->raft || n->failed)
		return;
	if (!n->serving &&
	    (n->n_voters > 1 || (n->role == RAFT_LEADER && n->applied >= n->lead_index))) {
		n->serving = true;
		ck_log(CK_LOG_INFO, "serving role=%s applied_index=%llu", raft_role_name(n->role),
		       (unsigned long long)n->applied);
		if (n->h.on_ready)
			n->h.on_ready(n->arg);
		if (n->h.on_status)
			n->h.on_status(n->arg);
	}
	if (n->serving && n->role == RAFT_LEADER && !n->registered && !n->stopping &&
	    n->applied >= n->lead_index)
		raftd_node_register(n);
}

/* ---- events ---- */

static void raftd_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;

	(void)fd;
	(void)what;
	if (n->failed)
		return;
	if (n->ticks_pending < RAFTD_ELECTION_TICKS)
		n->ticks_pending++;
	raftd_props_expire(n, ck_clock_mono_ms());
	if (++n->ticks % RAFTD_READER_CHECK_TICKS == 0) {
		int dead = 0;
		if (ck_meta_reader_check(n->meta, &dead) == 0 && dead)
			ck_log(CK_LOG_INFO, "cleared stale lmdb readers count=%d", dead);
	}
	raftd_node_check_serving(n);
	raftd_node_pump(n);
}

static int raftd_node_start_raft(struct raftd_node *n)
{
	raft_config_t rc;
	raft_storage_t st;
	struct timeval tv = {0, RAFTD_TICK_MS * 1000};
	uint64_t last = raftd_store_last_index(n->store);
	int r;

	if (n->applied > last) {
		ck_log(CK_LOG_ERROR, "lmdb applied_index=%llu is past the metadata log end=%llu",
		       (unsigned long long)n->applied, (unsigned long long)last);
		return CK_E_CORRUPT;
	}
	memset(&rc, 0, sizeof(rc));
	rc.id = (uint64_t)n->cfg->node_id;
	memcpy(rc.voters, n->voters, sizeof(rc.voters));
	rc.n_voters = n->n_voters;
	rc.election_ticks = RAFTD_ELECTION_TICKS;
	rc.heartbeat_ticks = 1;
	rc.commit_mode = n->cfg->metadata_commit_leader ? RAFT_COMMIT_LEADER : RAFT_COMMIT_QUORUM;
	rc.entry_bytes_max = RAFTD_ENTRY_BYTES_MAX;
	rc.rand = &n->rand;
	raftd_store_storage(n->store, &st);
	r = raft_init(&n->raft, &rc, n->has_hs ? &n->hs : NULL, &st, n->applied);
	if (r < 0)
		return r;
	ck_log(CK_LOG_INFO,
	       "raft started node_id=%d voters=%u term=%llu applied_index=%llu "
	       "last_index=%llu",
	       n->cfg->node_id, n->n_voters, (unsigned long long)n->hs.term,
	       (unsigned long long)n->applied, (unsigned long long)last);
	if (n->n_voters == 1)
		(void)raft_campaign(n->raft);
	n->tick_ev = event_new(n->base, -1, EV_PERSIST, raftd_tick_cb, n);
	if (!n->tick_ev || event_add(n->tick_ev, &tv) < 0)
		return -ENOMEM;
	raftd_node_check_serving(n);
	raftd_node_pump(n);
	return 0;
}

static void raftd_store_loaded_cb(void *arg, int err)
{
	struct raftd_node *n = arg;

	if (err == 0)
		err = raftd_node_start_raft(n);
	if (err < 0)
		raftd_node_fatal(n, err, "cannot start the metadata log");
}

static void raftd_store_appended_cb(void *arg, int err)
{
	struct raftd_node *n = arg;

	if (err < 0)
		return raftd_node_fatal(n, err, "metadata log append failed");
	if (!n->ready_pending)
		return;
	raftd_node_ready_finish(n);
	raftd_node_pump(n);
}

static void raftd_wal_connect_cb(void *arg)
{
	struct raftd_node *n = arg;

	raftd_store_wal_connected(n->store);
	raftd_exec_wal_connected(n);
}

static void raftd_wal_disconnect_cb(void *arg, int err)
{
	struct raftd_node *n = arg;

	(void)err;
	raftd_store_wal_lost(n->store);
}

/* ---- life cycle ---- */

static int raftd_node_voters(struct raftd_node *n)
{
	const ck_config_t *cfg = n->cfg;

	if (cfg->node_id <= 0)
		return CK_E_CONFIG;
	if (cfg->peer_count == 0) {
		n->voters[0] = (uint64_t)cfg->node_id;
		n->n_voters = 1;
		return 0;
	}
	if (cfg->peer_count > RAFT_VOTERS_MAX)
		return CK_E_CONFIG;
	for (int32_t i = 0; i < cfg->peer_count; i++) {
		if (cfg->peers[i].id <= 0)
			return CK_E_CONFIG;
		n->voters[i] = (uint64_t)cfg->peers[i].id;
	}
	n->n_voters = (uint32_t)cfg->peer_count;
	return 0;
}

static int raftd_node_open(struct raftd_node *n)
{
	static const raftd_store_hooks_t store_hooks = {raftd_store_loaded_cb,
	                                                raftd_store_appended_cb};
	static const raftd_wal_handlers_t wal_hooks = {raftd_wal_connect_cb,
	                                               raftd_wal_disconnect_cb, NULL};
	MDB_txn *txn;
	int r;

	r = raftd_node_voters(n);
	if (r < 0)
		return r;
	r = raftd_hs_lock(n->cfg->data_dir, &n->lock_fd);
	if (r < 0)
		return r;
	r = ck_meta_open(n->cfg->data_dir, &n->meta);
	if (r < 0)
		return r;
	r = ck_meta_read_begin(n->meta, &txn);
	if (r < 0)
		return r;
	r = ck_meta_applied_index(n->meta, txn, &n->applied);
	ck_meta_read_end(txn);
	if (r < 0)
		return r;
	r = raftd_hs_load(n->cfg->data_dir, &n->hs);
	if (r < 0)
		return r;
	n->has_hs = r == 1;
	n->apply.meta = n->meta;
	n->apply.local_broker = n->cfg->node_id;
	r = raftd_exec_init(n);
	if (r < 0)
		return r;
	raftd_wal_set_handlers(n->wal, &wal_hooks, n);
	return raftd_store_new(&n->store, n->base, n->cfg->data_dir, n->wal, &store_hooks, n);
}

int raftd_node_new(raftd_node_t **ret, struct event_base *base, const ck_config_t *cfg,
                   raftd_wal_t *wal, const raftd_node_hooks_t *h, void *arg)
{
	struct raftd_node *n = calloc(1, sizeof(*n));
	int r;

	if (!n)
		return -ENOMEM;
	n->base = base;
	n->cfg = cfg;
	n->h = *h;
	n->arg = arg;
	n->lock_fd = -1;
	n->wal = wal;
	n->role = RAFT_FOLLOWER;
	ck_rand_seed(&n->rand, ck_rand_os_seed());
	r = raftd_node_open(n);
	if (r < 0) {
		raftd_node_free(n);
		return r;
	}
	ck_log(CK_LOG_INFO, "metadata state applied_index=%llu term=%llu",
	       (unsigned long long)n->applied, (unsigned long long)n->hs.term);
	*ret = n;
	return 0;
}

void raftd_node_stop(raftd_node_t *n)
{
	n->stopping = true;
	raftd_list_fail(&n->queued, CK_E_NOT_LEADER);
}

void raftd_node_free(raftd_node_t *n)
{
	if (!n)
		return;
	n->stopping = true;
	n->failed = true; /* nothing new starts from the callbacks below */
	if (n->wal) {
		static const raftd_wal_handlers_t none = {NULL, NULL, NULL};

		raftd_wal_cancel(n->wal);
		raftd_wal_set_handlers(n->wal, &none, NULL);
	}
	raftd_list_fail(&n->queued, CK_E_SHUTDOWN);
	raftd_list_fail(&n->inflight, CK_E_SHUTDOWN);
	if (n->tick_ev)
		event_free(n->tick_ev);
	raft_free(n->raft);
	raftd_store_free(n->store);
	raftd_exec_free(n);
	ck_meta_close(n->meta);
	if (n->lock_fd >= 0)
		(void)close(n->lock_fd);
	free(n);
}

int raftd_node_propose(raftd_node_t *n, const uint8_t *data, size_t len, raftd_propose_cb cb,
                       void *arg)
{
	raftd_prop_t *p;

	if (n->stopping || n->failed)
		return CK_E_SHUTDOWN;
	if (len == 0)
		return CK_E_INVALID;
	if (len > RAFTD_ENTRY_BYTES_MAX)
		return CK_E_TOO_LARGE;
	if (n->role != RAFT_LEADER && n->leader != RAFT_NONE &&
	    n->leader != (uint64_t)n->cfg->node_id)
		return CK_E_NOT_LEADER;
	/* A lone voter leads as soon as it has loaded its log: wait for it.
	 * With peers and no leader known, the caller retries. */
	if (n->role != RAFT_LEADER && n->n_voters > 1 && n->leader == RAFT_NONE)
		return CK_E_NOT_LEADER;
	if (n->queued.n >= RAFTD_QUEUE_MAX)
		return CK_E_AGAIN;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->data = malloc(len))) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p->data, data, len);
	p->len = len;
	p->cb = cb;
	p->arg = arg;
	p->deadline_ms = ck_clock_mono_ms() + RAFTD_PROPOSE_TIMEOUT_MS;
	raftd_list_push(&n->queued, p);
	raftd_node_pump(n);
	return 0;
}

void raftd_node_status(const raftd_node_t *n, raftd_node_status_t *ret)
{
	raft_status_t st;

	memset(ret, 0, sizeof(*ret));
	ret->role = "starting";
	ret->leader_id = -1;
	ret->applied_index = n->applied;
	ret->serving = n->serving;
	ret->queued = n->queued.n;
	ret->inflight = n->inflight.n;
	if (!n->raft)
		return;
	raft_status(n->raft, &st);
	ret->role = raft_role_name(st.role);
	ret->term = st.term;
	ret->leader_id = st.leader == RAFT_NONE ? -1 : (int32_t)st.leader;
	ret->commit_index = st.commit;
	ret->last_index = st.last_index;
}

uint64_t raftd_node_applied(const raftd_node_t *n)
{
	return n->applied;
}
