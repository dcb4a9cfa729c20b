/*
 * kfk_h_producer_id.c: InitProducerId for idempotent producers (shell
 * handler of chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. As Kafka does for a producer without a
 * transactional id, every call gets a new producer id with epoch 0 (the id
 * and epoch v3+ send are not looked at). Ids come from blocks the Raft
 * controller allocates to this broker (AllocateProducerIds through
 * kfk_propose; raftd stores the applied block in LMDB, where it is read
 * back) and are handed out from memory (kfk_pid_core.h) until the block is
 * exhausted. One allocation is in flight at a time: requests that find the
 * block empty wait on srv->pid_wait_* in arrival order and are answered,
 * each once, when it ends -- an orphan (its connection gone) too, which
 * frees it; at shutdown the proposal fails (kfk_peers_stop,
 * kfk_props_free) and the waiters are answered then. A failed allocation
 * is tried again every KFK_PID_RETRY_MS for up to KFK_PID_RETRY_FOR_MS
 * (right after a start this broker's registration may not be applied
 * yet: the controller refuses blocks to unknown brokers); then the waiters
 * get COORDINATOR_LOAD_IN_PROGRESS, what Kafka's broker answers while it
 * waits for a block: clients retry it.
 * Transactions are not supported: a transactional id is refused with
 * KFK_TXN_UNSUPPORTED_ERR (kfk_coord_core.h).
 * Not for: the block arithmetic (kfk_pid_core.c), sequence checks of
 * idempotent batches (walwriter).
 */
#define CK_LOG_SUBSYSTEM "producer-id"

#include <inttypes.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_coord_core.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

/* One request waiting for a block (in its arena). */
typedef struct kfk_pid_wait {
	struct kfk_pid_wait *next;
	kfk_req_t *req;
} kfk_pid_wait_t;

static int kfk_pid_allocate(kfk_srv_t *s);

/* Failed allocations: clients retry every half second or so. */
static ck_log_limit_t kfk_pid_fail_lim;

#define KFK_PID_RETRY_MS     100
#define KFK_PID_RETRY_FOR_MS 5000

static void kfk_pid_respond(kfk_req_t *req, int16_t err, int64_t id)
{
	kfk_init_producer_id_response_t resp;

	kfk_init_producer_id_response_init(&resp);
	resp.throttle_time_ms = 0;
	resp.error_code = err;
	resp.producer_id = err == KFK_ERR_NONE ? id : -1;
	resp.producer_epoch = err == KFK_ERR_NONE ? 0 : -1;
	kfk_req_respond(req, &resp);
}

static kfk_pid_wait_t *kfk_pid_wait_pop(kfk_srv_t *s)
{
	kfk_pid_wait_t *w = s->pid_wait_head;

	if (w) {
		s->pid_wait_head = w->next;
		if (!w->next)
			s->pid_wait_tail = NULL;
	}
	return w;
}

/* Answers every waiter with ERR (no id). The list is taken first: a
 * request that arrives while they are answered waits for a new try. */
static void kfk_pid_fail_all(kfk_srv_t *s, int16_t err)
{
	kfk_pid_wait_t *w = s->pid_wait_head;

	s->pid_wait_head = s->pid_wait_tail = NULL;
	while (w) {
		kfk_pid_wait_t *next = w->next;

		kfk_pid_respond(w->req, err, -1);
		w = next;
	}
}

static bool kfk_pid_retry_later(kfk_srv_t *s);

/* Gives the waiters ids while the block lasts; when some are left waiting,
 * allocates the next block for them. */
static void kfk_pid_serve(kfk_srv_t *s)
{
	int64_t id;
	int r;

	while (s->pid_wait_head && kfk_pid_block_take(&s->pids, &id))
		kfk_pid_respond(kfk_pid_wait_pop(s)->req, KFK_ERR_NONE, id);
	if (s->pid_wait_head && !s->pid_busy) {
		r = kfk_pid_allocate(s);
		if (r < 0 && !kfk_pid_retry_later(s)) {
			s->pid_fail_since_ms = 0;
			ck_log_limited(&kfk_pid_fail_lim, CK_LOG_WARN,
			               "producer id allocation failed: %s: answering "
			               "COORDINATOR_LOAD_IN_PROGRESS",
			               ck_strerror(r));
			kfk_pid_fail_all(s, KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS);
		}
	}
}

/* The block the controller last allocated to this broker, into S->pids. */
static int kfk_pid_block_load(kfk_srv_t *s)
{
	int32_t broker = s->cfg->node_id;
	int64_t start = 0, size = 0;
	MDB_txn *txn;
	int r;

	r = kfk_meta_read(s, &txn);
	if (r < 0)
		return r;
	r = ck_meta_producer_block_get(s->meta, txn, broker, &start, &size);
	ck_meta_read_end(txn);
	if (r < 0)
		return r;
	r = kfk_pid_block_set(&s->pids, start, size);
	if (r < 0)
		return r;
	ck_log(CK_LOG_DEBUG, "producer id block first=%" PRId64 " last=%" PRId64 " broker=%d",
	       start, start + size - 1, (int)broker);
	return 0;
}

static void kfk_pid_retry(evutil_socket_t fd, short what, void *arg)
{
	kfk_srv_t *s = arg;

	(void)fd;
	(void)what;
	if (s->stopping)
		kfk_pid_fail_all(s, KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS);
	else if (!s->pid_busy)
		kfk_pid_serve(s);
}

/* After a failed allocation: whether the waiters wait for another try
 * (scheduled here). */
static bool kfk_pid_retry_later(kfk_srv_t *s)
{
	struct timeval tv = {0, KFK_PID_RETRY_MS * 1000};
	uint64_t now = ck_clock_mono_ms();

	if (!s->pid_wait_head || s->stopping)
		return false;
	if (!s->pid_fail_since_ms)
		s->pid_fail_since_ms = now;
	if (now - s->pid_fail_since_ms >= KFK_PID_RETRY_FOR_MS)
		return false;
	if (!s->pid_retry_ev)
		s->pid_retry_ev = evtimer_new(s->base, kfk_pid_retry, s);
	return s->pid_retry_ev && evtimer_add(s->pid_retry_ev, &tv) == 0;
}

void kfk_pids_free(kfk_srv_t *s)
{
	if (s->pid_retry_ev)
		event_free(s->pid_retry_ev);
	s->pid_retry_ev = NULL;
}

static void kfk_pid_allocated(void *arg, int16_t err, const char *message)
{
	kfk_srv_t *s = arg;
	int r;

	s->pid_busy = false;
	if (err != KFK_ERR_NONE && kfk_pid_retry_later(s)) {
		ck_log(CK_LOG_DEBUG,
		       "producer id allocation failed error=%s message=\"%s\": trying again",
		       kfk_err_name(err), message ? message : "");
		return;
	}
	if (err != KFK_ERR_NONE) {
		s->pid_fail_since_ms = 0;
		ck_log_limited(&kfk_pid_fail_lim, CK_LOG_WARN,
		               "producer id allocation failed error=%s message=\"%s\": answering "
		               "COORDINATOR_LOAD_IN_PROGRESS",
		               kfk_err_name(err), message ? message : "");
		kfk_pid_fail_all(s, KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS);
		return;
	}
	s->pid_fail_since_ms = 0;
	r = kfk_pid_block_load(s);
	if (r < 0) {
		ck_log_limited(&kfk_pid_fail_lim, CK_LOG_WARN,
		               "producer id block unreadable after its allocation: %s: answering "
		               "COORDINATOR_LOAD_IN_PROGRESS",
		               ck_strerror(r));
		kfk_pid_fail_all(s, KFK_ERR_COORDINATOR_LOAD_IN_PROGRESS);
		return;
	}
	kfk_pid_serve(s);
}

/* Proposes AllocateProducerIds for this broker. 0, or a negative error when
 * nothing could be proposed (the waiters are the caller's to answer). */
static int kfk_pid_allocate(kfk_srv_t *s)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AllocateProducerIds ap = CHRONIK__META__ALLOCATE_PRODUCER_IDS__INIT;
	int r;

	CK_ASSERT(!s->pid_busy);
	ap.broker_id = s->cfg->node_id;
	ap.block_size = KFK_PID_BLOCK_SIZE;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS;
	cmd.allocate_producer_ids = &ap;
	s->pid_busy = true;
	r = kfk_propose(s, &cmd, s->set.request_timeout_ms, kfk_pid_allocated, s);
	if (r < 0)
		s->pid_busy = false;
	return r;
}

void kfk_h_init_producer_id(kfk_req_t *req)
{
	static ck_log_limit_t txn_lim;
	const kfk_init_producer_id_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_pid_wait_t *w;
	int64_t id;

	if (rq->transactional_id.len == 0) {
		/* Kafka: "" is no transactional id, and not null either. */
		kfk_pid_respond(req, KFK_ERR_INVALID_REQUEST, -1);
		return;
	}
	if (rq->transactional_id.len > 0) {
		ck_log_limited(&txn_lim, CK_LOG_INFO,
		               "transactions are not supported: InitProducerId refused peer=%s "
		               "transactional_id=\"%.*s\"",
		               req->conn ? kfk_conn_peer(req->conn) : "-",
		               (int)CK_MIN(rq->transactional_id.len, 128),
		               rq->transactional_id.ptr);
		kfk_pid_respond(req, KFK_TXN_UNSUPPORTED_ERR, -1);
		return;
	}
	if (!s->pid_wait_head && kfk_pid_block_take(&s->pids, &id)) {
		kfk_pid_respond(req, KFK_ERR_NONE, id);
		return;
	}
	w = kfk_req_alloc(req, 1, sizeof(*w));
	if (!w) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	w->req = req;
	if (s->pid_wait_tail)
		s->pid_wait_tail->next = w;
	else
		s->pid_wait_head = w;
	s->pid_wait_tail = w;
	if (!s->pid_busy)
		kfk_pid_serve(s);
}
