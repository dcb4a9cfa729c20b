/*
 * raftd_node_snap.c: snapshots in chronik-raftd's metadata service:
 * taking them (and compacting the log), sending them to followers the log
 * cannot serve, receiving and installing them (files: raftd_snap.h).
 *
 * Owned by raftd.
 * Taking: between Readies and apply rounds, every raftd_snap_interval()
 * applied entries (snapshot_entries; more for a large state) at this
 * node's own phase of that interval (raftd_snap_due), or when the
 * core asked for one that does not exist yet, a thread copies LMDB
 * (raftd_snap_copy: seconds for a large environment, which the loop does
 * not wait for); the copy holds whatever was applied
 * when it began, and its own applied_index names it. Back on the loop it
 * becomes the snapshot unless a newer one came meanwhile (installed from
 * the leader); the log is then compacted up to compact_keep entries below
 * it ([metadata] keys of ck_config.h), and the store has walwriter drop
 * the compacted prefix (raftd_store_set_snapshot).
 * Sending: the core's SNAPSHOT message starts a transfer: the file is read
 * in RAFTD_SNAP_CHUNK pieces, queued while the peer's backlog is under
 * RAFTD_SNAP_BACKLOG (a timer polls), and the message itself follows the
 * last chunk. A lost connection fails the transfer (reported to the core).
 * Receiving: chunks go to raft/snap-rx.tmp; the SNAPSHOT message is stepped
 * only once the file is complete and checked. From that step until its
 * Ready installed it, chunks of any other transfer are refused (the
 * leader's next try gets through).
 * Installing (a Ready with a snapshot, once no apply round runs): drop the
 * apply backlog, record the snapshot as pending, copy it into LMDB, record
 * it as installed; raftd_node.c then has the store cut the log there.
 * Recovery at start: a snapshot recorded as pending, or one LMDB fell
 * behind (MDB_NOMETASYNC after a power loss), is installed again.
 * Not for: the files' format and LMDB work (raftd_snap.c).
 */
#define CK_LOG_SUBSYSTEM "snapshot"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_crc32c.h"
#include "ck_err.h"
#include "ck_log.h"
#include "raftd_node_int.h"

#define RAFTD_SNAP_CHUNK   ((size_t)256 << 10)
#define RAFTD_SNAP_BACKLOG ((size_t)4 << 20)
#define RAFTD_SNAP_POLL_US 2000

static void raftd_tx_timer_cb(evutil_socket_t fd, short what, void *arg);
static void raftd_mk_done_cb(evutil_socket_t fd, short what, void *arg);

int raftd_node_snap_init(struct raftd_node *n)
{
	int r;

	/* [metadata] (ck_config.h; the old CHRONIK_RAFTD_* names are aliases
	 * there), validated when the configuration was loaded. */
	n->snapshot_entries = (uint64_t)n->cfg->metadata_snapshot_entries;
	n->compact_keep = (uint64_t)n->cfg->metadata_compact_keep;
	if (n->compact_keep == 0)
		n->compact_keep = n->snapshot_entries / 10;
	n->session_ms = (uint64_t)n->cfg->metadata_broker_session_ms;
	raftd_snap_rx_init(&n->rx);
	for (size_t i = 0; i < RAFT_VOTERS_MAX; i++)
		n->tx[i].fd = -1;
	n->tx_timer = evtimer_new(n->base, raftd_tx_timer_cb, n);
	if (!n->tx_timer)
		return -ENOMEM;
	n->mk.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->mk.efd < 0)
		return -errno;
	n->mk.ev = event_new(n->base, n->mk.efd, EV_READ | EV_PERSIST, raftd_mk_done_cb, n);
	if (!n->mk.ev || event_add(n->mk.ev, NULL) < 0)
		return -ENOMEM;
	r = raftd_snap_meta_load(n->cfg->data_dir, &n->snap);
	if (r == CK_E_CORRUPT)
		ck_log(CK_LOG_ERROR, "snapshot record raft/snapshot is damaged");
	return r < 0 ? r : 0;
}

static void raftd_tx_close(struct raftd_node *n, raftd_snap_tx_t *tx, bool ok)
{
	if (!tx->active)
		return;
	if (tx->fd >= 0)
		(void)close(tx->fd);
	tx->fd = -1;
	tx->active = false;
	raftd_node_report(n, ok ? RAFTD_REPORT_SNAPSHOT_OK : RAFTD_REPORT_SNAPSHOT_FAILED, tx->peer,
	                  0);
}

void raftd_node_snap_free(struct raftd_node *n)
{
	for (size_t i = 0; i < RAFT_VOTERS_MAX; i++) {
		if (n->tx[i].fd >= 0)
			(void)close(n->tx[i].fd);
		n->tx[i].fd = -1;
		n->tx[i].active = false;
	}
	if (n->tx_timer)
		event_free(n->tx_timer);
	n->tx_timer = NULL;
	if (n->rx.fd >= 0)
		raftd_snap_rx_reset(&n->rx, n->cfg->data_dir);
	/* A copy in progress finishes first (it reads LMDB); it is not used. */
	if (n->mk.running) {
		(void)pthread_join(n->mk.thread, NULL);
		n->mk.running = false;
		raftd_snap_copy_drop(n->cfg->data_dir);
	}
	if (n->mk.ev)
		event_free(n->mk.ev);
	n->mk.ev = NULL;
	if (n->mk.efd > 0)
		(void)close(n->mk.efd);
	n->mk.efd = -1;
}

int raftd_node_snap_recover(struct raftd_node *n)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t applied = 0;
	MDB_txn *txn;
	int r;

	if (n->snap.index == 0)
		return 0;
	if (raftd_snap_path(path, sizeof(path), n->cfg->data_dir, n->snap.index) == 0 &&
	    stat(path, &st) == 0)
		n->snap_bytes = (uint64_t)st.st_size;
	r = ck_meta_read_begin(n->meta, &txn);
	if (r < 0)
		return r;
	r = ck_meta_applied_index(n->meta, txn, &applied);
	ck_meta_read_end(txn);
	if (r < 0)
		return r;
	if (!n->snap.pending && applied >= n->snap.compact)
		return 0;
	ck_log(CK_LOG_WARN, "installing snapshot at start index=%llu applied_index=%llu pending=%d",
	       (unsigned long long)n->snap.index, (unsigned long long)applied, n->snap.pending);
	r = raftd_snap_path(path, sizeof(path), n->cfg->data_dir, n->snap.index);
	if (r == 0)
		r = raftd_snap_install(n->meta, path);
	if (r == -ENOENT)
		r = CK_E_CORRUPT; /* recorded, but its file is gone */
	if (r == 0 && n->snap.pending) {
		n->snap.pending = false;
		r = raftd_snap_meta_save(n->cfg->data_dir, &n->snap);
	}
	return r;
}

/* ---- taking snapshots ---- */

static void *raftd_mk_main(void *arg)
{
	struct raftd_node *n = arg;
	uint64_t one = 1;

	n->mk.result = raftd_snap_copy(n->meta, n->cfg->data_dir, &n->mk.index, &n->mk.bytes);
	if (write(n->mk.efd, &one, sizeof(one)) < 0) {
		/* An eventfd takes a write until its counter overflows: never. */
	}
	return NULL;
}

void raftd_node_snap_maybe(struct raftd_node *n)
{
	bool wanted = n->store && raftd_store_snapshot_wanted(n->store);
	uint64_t floor = CK_MAX(n->snap.index, n->snap_tried);
	int r;

	if (!n->raft || n->mk.running || n->ready_pending || RAFTD_EXEC_BUSY(n) ||
	    n->applied == 0 || n->applied <= floor)
		return;
	if (!wanted &&
	    n->applied < raftd_snap_due(floor,
	                                raftd_snap_interval(n->snapshot_entries, n->snap_bytes),
	                                n->cfg->node_id))
		return;
	r = pthread_create(&n->mk.thread, NULL, raftd_mk_main, n);
	if (r != 0) {
		ck_log(CK_LOG_WARN, "cannot start a snapshot: %s", ck_strerror(-r));
		n->snap_tried = n->applied; /* not again before snapshot_entries more */
		return;
	}
	n->mk.running = true;
}

/* The copy is done: it becomes the snapshot. */
static void raftd_snap_taken(struct raftd_node *n)
{
	raftd_snap_meta_t m;
	uint64_t index = n->mk.index, term = 0, keep = n->compact_keep;
	int r = n->mk.result;

	if (r == 0 && index <= n->snap.index) {
		raftd_snap_copy_drop(n->cfg->data_dir); /* one as new came meanwhile */
		return;
	}
	if (r == 0)
		r = raftd_store_term(n->store, index, &term);
	if (r == 0)
		r = raftd_snap_publish(n->cfg->data_dir, index);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot take a snapshot index=%llu: %s",
		       (unsigned long long)index, ck_strerror(r));
		raftd_snap_copy_drop(n->cfg->data_dir);
		n->snap_tried = n->applied; /* not again before snapshot_entries more */
		return;
	}
	m.index = index;
	m.term = term;
	m.compact = CK_MAX(n->snap.compact, index > keep ? index - keep : 0);
	m.pending = false;
	r = raftd_snap_meta_save(n->cfg->data_dir, &m);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot record a snapshot: %s", ck_strerror(r));
		n->snap_tried = n->applied;
		return;
	}
	n->snap = m;
	n->snap_bytes = n->mk.bytes;
	raftd_store_set_snapshot(n->store, m.index, m.term, m.compact);
	raftd_snap_prune(n->cfg->data_dir, m.index);
	ck_log(CK_LOG_INFO, "snapshot taken index=%llu term=%llu bytes=%llu compact_index=%llu",
	       (unsigned long long)m.index, (unsigned long long)m.term,
	       (unsigned long long)n->mk.bytes, (unsigned long long)m.compact);
}

static void raftd_mk_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 || !n->mk.running)
		return;
	(void)pthread_join(n->mk.thread, NULL);
	n->mk.running = false;
	raftd_snap_taken(n);
	/* The core may have waited for it (a follower the log cannot serve). */
	raftd_node_pump(n);
}

/* ---- sending ---- */

static raftd_snap_tx_t *raftd_tx_slot(struct raftd_node *n, uint64_t peer)
{
	raftd_snap_tx_t *free_slot = NULL;

	for (size_t i = 0; i < RAFT_VOTERS_MAX; i++) {
		if (n->tx[i].active && n->tx[i].peer == peer)
			return &n->tx[i];
		if (!n->tx[i].active && !free_slot)
			free_slot = &n->tx[i];
	}
	return free_slot;
}

static void raftd_tx_arm(struct raftd_node *n)
{
	struct timeval tv = {0, RAFTD_SNAP_POLL_US};

	(void)evtimer_add(n->tx_timer, &tv);
}

void raftd_node_snap_send(struct raftd_node *n, const raft_msg_t *m)
{
	raftd_snap_tx_t *tx = raftd_tx_slot(n, m->to);
	char path[PATH_MAX];
	struct stat sb;
	int fd = -1, r;

	if (!tx)
		return;
	if (tx->active) {
		if (tx->msg.snapshot.index == m->snapshot.index &&
		    tx->msg.snapshot.term == m->snapshot.term)
			return; /* on its way already */
		raftd_tx_close(n, tx, false);
	}
	r = raftd_snap_path(path, sizeof(path), n->cfg->data_dir, m->snapshot.index);
	if (r == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		r = -errno;
	if (r == 0 && fstat(fd, &sb) < 0)
		r = -errno;
	if (r < 0 || !raftd_net_connected(n->net, m->to)) {
		if (fd >= 0)
			(void)close(fd);
		ck_log(CK_LOG_WARN, "cannot send snapshot index=%llu to=%llu: %s",
		       (unsigned long long)m->snapshot.index, (unsigned long long)m->to,
		       r < 0 ? ck_strerror(r) : "not connected");
		raftd_node_report(n, RAFTD_REPORT_SNAPSHOT_FAILED, m->to, 0);
		return;
	}
	*tx = (raftd_snap_tx_t){
	    true, m->to, raftd_net_generation(n->net, m->to), fd, (uint64_t)sb.st_size, 0, 0, *m};
	tx->msg.entries = NULL;
	tx->msg.n_entries = 0;
	ck_log(CK_LOG_INFO, "sending snapshot index=%llu term=%llu bytes=%llu to=%llu",
	       (unsigned long long)m->snapshot.index, (unsigned long long)m->snapshot.term,
	       (unsigned long long)tx->size, (unsigned long long)m->to);
	raftd_tx_arm(n);
}

/* Queues the next chunks of TX. Returns 1 while more is to come. */
static int raftd_tx_pump(struct raftd_node *n, raftd_snap_tx_t *tx, uint8_t *buf)
{
	Chronik__Raftnet__Envelope item = CHRONIK__RAFTNET__ENVELOPE__INIT;
	Chronik__Raftnet__SnapshotChunk c = CHRONIK__RAFTNET__SNAPSHOT_CHUNK__INIT;
	Chronik__Raftnet__SnapshotChunk *cp = &c;

	if (!raftd_net_connected(n->net, tx->peer) ||
	    raftd_net_generation(n->net, tx->peer) != tx->gen)
		return CK_E_CLOSED;
	item.n_chunks = 1;
	item.chunks = &cp;
	while (tx->off < tx->size && raftd_net_backlog(n->net, tx->peer) < RAFTD_SNAP_BACKLOG) {
		size_t len = (size_t)CK_MIN((uint64_t)RAFTD_SNAP_CHUNK, tx->size - tx->off);
		ssize_t got = pread(tx->fd, buf, len, (off_t)tx->off);

		if (got != (ssize_t)len)
			return got < 0 ? -errno : -EIO;
		tx->crc = ck_crc32c(tx->crc, buf, len);
		c.index = tx->msg.snapshot.index;
		c.term = tx->msg.snapshot.term;
		c.offset = tx->off;
		c.data.data = buf;
		c.data.len = len;
		c.total_bytes = tx->size;
		c.last = tx->off + len == tx->size;
		c.crc32c = c.last ? tx->crc : 0;
		if (raftd_net_send_item(n->net, tx->peer, &item) < 0)
			return CK_E_AGAIN;
		tx->off += len;
		raftd_net_flush(n->net);
	}
	if (tx->off < tx->size)
		return 1;
	/* The message goes after the chunks (raftd_net writes waiting items
	 * before Raft messages). */
	if (raftd_net_send_raft(n->net, &tx->msg) < 0)
		return CK_E_AGAIN;
	raftd_net_flush(n->net);
	return 0;
}

static void raftd_tx_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raftd_node *n = arg;
	uint8_t *buf = malloc(RAFTD_SNAP_CHUNK);
	bool more = false;

	(void)fd;
	(void)what;
	for (size_t i = 0; buf && i < RAFT_VOTERS_MAX; i++) {
		raftd_snap_tx_t *tx = &n->tx[i];
		int r;

		if (!tx->active)
			continue;
		r = raftd_tx_pump(n, tx, buf);
		if (r == 1) {
			more = true;
			continue;
		}
		if (r == 0)
			ck_log(CK_LOG_INFO, "snapshot sent index=%llu to=%llu",
			       (unsigned long long)tx->msg.snapshot.index,
			       (unsigned long long)tx->peer);
		else
			ck_log(CK_LOG_WARN, "snapshot transfer failed index=%llu to=%llu: %s",
			       (unsigned long long)tx->msg.snapshot.index,
			       (unsigned long long)tx->peer, ck_strerror(r));
		raftd_tx_close(n, tx, r == 0);
	}
	if (!buf || more)
		raftd_tx_arm(n);
	free(buf);
	raftd_node_pump(n);
}

void raftd_node_snap_peer_down(struct raftd_node *n, uint64_t peer)
{
	for (size_t i = 0; i < RAFT_VOTERS_MAX; i++) {
		if (n->tx[i].active && n->tx[i].peer == peer)
			raftd_tx_close(n, &n->tx[i], false);
	}
}

/* ---- receiving and installing ---- */

void raftd_node_snap_chunk(struct raftd_node *n, uint64_t peer,
                           const Chronik__Raftnet__SnapshotChunk *c)
{
	raft_snapshot_meta_t held;
	int r;

	/* A stepped snapshot's data stays until its Ready installed it. */
	if (raft_snapshot_pending(n->raft, &held)) {
		if (c->offset == 0)
			ck_log(CK_LOG_INFO,
			       "snapshot index=%llu from=%llu refused: index=%llu awaits its "
			       "installation",
			       (unsigned long long)c->index, (unsigned long long)peer,
			       (unsigned long long)held.index);
		return;
	}
	r = raftd_snap_rx_chunk(&n->rx, n->cfg->data_dir, c);
	if (r < 0 && r != CK_E_OUT_OF_ORDER)
		ck_log(CK_LOG_WARN, "snapshot chunk refused index=%llu offset=%llu from=%llu: %s",
		       (unsigned long long)c->index, (unsigned long long)c->offset,
		       (unsigned long long)peer, ck_strerror(r));
}

bool raftd_node_snap_received(struct raftd_node *n, const raft_msg_t *m)
{
	return n->rx.complete && n->rx.index == m->snapshot.index && n->rx.term == m->snapshot.term;
}

int raftd_node_snap_install(struct raftd_node *n, const raft_snapshot_meta_t *s)
{
	raftd_snap_meta_t m = {s->index, s->term, s->index, true};
	char path[PATH_MAX];
	int r;

	if (!n->rx.complete || n->rx.index != s->index || n->rx.term != s->term || s->index == 0)
		return CK_E_INVALID; /* the core restores only what was stepped */
	/* The snapshot covers every committed entry not applied yet. */
	for (size_t i = n->item_head; i < n->item_n; i++)
		free(n->items[i].data);
	n->item_head = n->item_n = 0;
	r = raftd_snap_path(path, sizeof(path), n->cfg->data_dir, s->index);
	if (r == 0)
		r = raftd_snap_meta_save(n->cfg->data_dir, &m);
	if (r == 0)
		r = raftd_snap_install(n->meta, path);
	if (r < 0)
		return r;
	n->applied = s->index;
	m.pending = false;
	r = raftd_snap_meta_save(n->cfg->data_dir, &m);
	if (r < 0)
		return r;
	n->snap = m;
	n->snap_bytes = n->rx.total;
	raftd_snap_rx_init(&n->rx);
	raftd_snap_prune(n->cfg->data_dir, s->index);
	raftd_node_answer_covered(n, s->index);
	n->reconcile_wanted = true;
	n->recon_prune = true; /* logs of topics the snapshot no longer has */
	ck_log(CK_LOG_INFO, "snapshot applied index=%llu term=%llu", (unsigned long long)s->index,
	       (unsigned long long)s->term);
	if (n->h.on_applied)
		n->h.on_applied(n->arg, s->index);
	return 0;
}
