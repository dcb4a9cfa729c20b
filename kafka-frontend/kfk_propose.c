/*
 * kfk_propose.c: metadata writes from the frontend (shell of
 * chronik-kafka-frontend): proposals to raftd with a deadline, and topic
 * auto-creation shared by concurrent requests.
 *
 * Owned by kafka-frontend. raftd answers a Propose after the command is
 * committed and applied to the local LMDB, so when the callback reports
 * success the topic is readable (the metadata cache is refreshed first) and
 * its logs exist in walwriter. A proposal whose deadline passes reports
 * REQUEST_TIMED_OUT; its late reply is dropped (the command may still be
 * applied, as with Kafka's controller).
 * Not for: validating what is proposed (kfk_admin_core.c, handlers).
 */
#define CK_LOG_SUBSYSTEM "propose"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_metacmd.h"
#include "kfk_admin_core.h"
#include "kfk_errors.h"
#include "kfk_srv.h"

/*
 * One proposal. raftd answers CK_E_NOT_LEADER only for a command that is in
 * no log and never will be (no leader known for RAFTD_QUEUE_WAIT_MS, a
 * leader that lost its place, a stop before it was proposed), and a call
 * that could not be sent (-ENOTCONN: raftd restarting) never left: both are
 * tried again, after a growing pause, until the deadline, so a client never
 * sees NOT_CONTROLLER (Kafka's brokers forward to the controller the same
 * way). A call in flight when the connection is lost is tried again too
 * when the command is harmless to apply twice (ck_metacmd_idempotent: a
 * topic's creation, a config change); otherwise an answer that leaves the
 * outcome open (CK_E_TIMEOUT, the connection lost) is not tried again: the
 * client hears REQUEST_TIMED_OUT.
 */
typedef struct kfk_prop {
	kfk_srv_t *srv;
	uint64_t call_id;
	bool in_call;         /* else waiting for the next try (on srv->props) */
	struct event *timer;  /* the deadline; while waiting, the next try */
	uint64_t deadline_ms; /* CLOCK_MONOTONIC */
	uint32_t pause_ms;    /* before the next try */
	uint8_t *cmd;         /* the packed command, for another try */
	size_t cmd_len;
	struct kfk_prop *prev, *next; /* srv->props while waiting */
	kfk_propose_fn fn;
	void *arg;
} kfk_prop_t;

#define KFK_PROP_PAUSE_MIN_MS 20
#define KFK_PROP_PAUSE_MAX_MS 500

static void kfk_prop_unlink(kfk_prop_t *p)
{
	kfk_prop_t **head = (kfk_prop_t **)&p->srv->props;

	if (p->prev)
		p->prev->next = p->next;
	else if (*head == p)
		*head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void kfk_prop_done(kfk_prop_t *p, int16_t err, const char *message)
{
	kfk_propose_fn fn = p->fn;
	void *arg = p->arg;

	if (!p->in_call)
		kfk_prop_unlink(p);
	if (p->timer)
		event_free(p->timer);
	free(p->cmd);
	free(p);
	fn(arg, err, message);
}

static void kfk_prop_arm(kfk_prop_t *p, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	(void)evtimer_add(p->timer, &tv);
}

/* Nothing was proposed: waits before trying again (or times out). */
static void kfk_prop_wait(kfk_prop_t *p)
{
	kfk_prop_t **head = (kfk_prop_t **)&p->srv->props;
	uint64_t now = ck_clock_mono_ms();
	uint64_t left = p->deadline_ms > now ? p->deadline_ms - now : 0;

	p->in_call = false;
	p->next = *head;
	p->prev = NULL;
	if (*head)
		(*head)->prev = p;
	*head = p;
	kfk_prop_arm(p, CK_MIN(left, (uint64_t)p->pause_ms));
	p->pause_ms = CK_MIN(p->pause_ms * 2, (uint32_t)KFK_PROP_PAUSE_MAX_MS);
}

static void kfk_prop_reply(void *arg, int err, const void *reply)
{
	kfk_prop_t *p = arg;
	const Chronik__Raftd__RaftdReply *rep = reply;
	kfk_srv_t *s = p->srv;

	if (err) {
		/* raftd went away with the call in flight (it restarts): the
		 * write may or may not be in the log. One that is harmless to
		 * apply twice is sent again once raftd is back; for the others
		 * the outcome is open: REQUEST_TIMED_OUT. */
		if (ck_metacmd_idempotent(p->cmd, p->cmd_len) &&
		    ck_clock_mono_ms() < p->deadline_ms) {
			ck_log(CK_LOG_DEBUG, "the controller connection was lost: trying again");
			return kfk_prop_wait(p);
		}
		return kfk_prop_done(p, kfk_err_from_raftd(err),
		                     "the controller connection was lost");
	}
	if (rep->error == CK_E_NOT_LEADER) {
		ck_log(CK_LOG_DEBUG, "no controller took the proposal yet: trying again");
		return kfk_prop_wait(p);
	}
	if (rep->error)
		return kfk_prop_done(p, kfk_err_from_raftd(rep->error),
		                     rep->error_message && rep->error_message[0]
		                         ? rep->error_message
		                         : ck_strerror(rep->error));
	if (rep->body_case != CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE || !rep->propose)
		return kfk_prop_done(p, KFK_ERR_UNKNOWN_SERVER_ERROR, "malformed controller reply");
	if (rep->propose->index > s->raft_applied)
		s->raft_applied = rep->propose->index;
	/* raftd answers once its LMDB applied the entry: a cache that read an
	 * applied index at least this far (another answer of the same apply
	 * round) shows it already. */
	if (rep->propose->index == 0 || rep->propose->index > s->meta_index)
		kfk_meta_refresh(s);
	if (rep->propose->result)
		return kfk_prop_done(p, kfk_err_from_raftd(rep->propose->result),
		                     rep->propose->message && rep->propose->message[0]
		                         ? rep->propose->message
		                         : NULL);
	kfk_prop_done(p, KFK_ERR_NONE, NULL);
}

/* Sends CMD; the timer then stands for the deadline. */
static int kfk_prop_send(kfk_prop_t *p, const Chronik__Meta__MetadataCommand *cmd)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Propose prop = CHRONIK__RAFTD__PROPOSE__INIT;
	uint64_t now = ck_clock_mono_ms();
	int r;

	prop.command = (Chronik__Meta__MetadataCommand *)cmd;
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
	req.propose = &prop;
	r = kfk_peer_call(p->srv, KFK_PEER_RAFTD, &req.base, &req.correlation_id, kfk_prop_reply, p,
	                  &p->call_id);
	if (r < 0)
		return r;
	p->in_call = true;
	kfk_prop_arm(p, p->deadline_ms > now ? p->deadline_ms - now : 0);
	return 0;
}

static void kfk_prop_timer(evutil_socket_t fd, short what, void *arg)
{
	kfk_prop_t *p = arg;
	Chronik__Meta__MetadataCommand *cmd;
	int r;

	(void)fd;
	(void)what;
	if (p->in_call) {
		kfk_peer_cancel(p->srv, KFK_PEER_RAFTD, p->call_id);
		return kfk_prop_done(p, KFK_ERR_REQUEST_TIMED_OUT,
		                     "timed out waiting for the controller");
	}
	if (ck_clock_mono_ms() >= p->deadline_ms)
		return kfk_prop_done(p, KFK_ERR_REQUEST_TIMED_OUT,
		                     "no controller took the change within the timeout");
	cmd = chronik__meta__metadata_command__unpack(NULL, p->cmd_len, p->cmd);
	if (!cmd)
		return kfk_prop_done(p, KFK_ERR_UNKNOWN_SERVER_ERROR, "out of memory");
	kfk_prop_unlink(p);
	r = kfk_prop_send(p, cmd);
	chronik__meta__metadata_command__free_unpacked(cmd, NULL);
	if (r == -ENOTCONN)
		return kfk_prop_wait(p);
	if (r < 0)
		kfk_prop_done(p, kfk_err_from_raftd(r), ck_strerror(r));
}

int kfk_propose(kfk_srv_t *s, const Chronik__Meta__MetadataCommand *cmd, int64_t timeout_ms,
                kfk_propose_fn fn, void *arg)
{
	kfk_prop_t *p = calloc(1, sizeof(*p));
	int r = -ENOMEM;

	if (!p)
		return -ENOMEM;
	if (timeout_ms <= 0)
		timeout_ms = s->set.request_timeout_ms;
	p->srv = s;
	p->fn = fn;
	p->arg = arg;
	p->deadline_ms = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	p->pause_ms = KFK_PROP_PAUSE_MIN_MS;
	p->cmd_len = protobuf_c_message_get_packed_size(&cmd->base);
	p->cmd = malloc(p->cmd_len ? p->cmd_len : 1);
	p->timer = evtimer_new(s->base, kfk_prop_timer, p);
	if (!p->cmd || !p->timer)
		goto fail;
	(void)protobuf_c_message_pack(&cmd->base, p->cmd);
	r = kfk_prop_send(p, cmd);
	if (r == -ENOTCONN) {
		kfk_prop_wait(p);
		return 0;
	}
	if (r == 0)
		return 0;
fail:
	if (p->timer)
		event_free(p->timer);
	free(p->cmd);
	free(p);
	return r;
}

/* ---- syncs (read-your-writes) ---- */

typedef struct kfk_sync {
	struct kfk_sync *next;
	kfk_req_t *req;
	void (*handler)(kfk_req_t *req);
} kfk_sync_t;

static int kfk_sync_start(kfk_srv_t *s);

/* Runs the handlers of the waiters in LIST (their requests are alive: an
 * orphan waits for its handler to answer), in the order they came: the
 * list has the newest first, and a connection's requests must run in
 * turn (an idempotent producer's pipelined batches reversed are sequence
 * numbers out of order, fatal for it). */
static void kfk_sync_run(kfk_sync_t *list, int16_t err)
{
	kfk_sync_t *rev = NULL;

	while (list) {
		kfk_sync_t *sy = list;

		list = sy->next;
		sy->next = rev;
		rev = sy;
	}
	list = rev;
	while (list) {
		kfk_sync_t *sy = list;

		list = sy->next;
		sy->req->sync_err = err;
		sy->handler(sy->req);
	}
}

static void kfk_sync_done(void *arg, int16_t err, const char *message)
{
	kfk_srv_t *s = arg;
	kfk_sync_t *done = s->sync_cur;

	if (err != KFK_ERR_NONE)
		ck_log(CK_LOG_INFO,
		       "metadata sync failed error=%s message=\"%s\": answering with what "
		       "this node knows (OffsetFetch: COORDINATOR_NOT_AVAILABLE)",
		       kfk_err_name(err), message ? message : "");
	s->sync_cur = NULL;
	s->sync_busy = false;
	if (!s->meta_caught_up)
		ck_log(err == KFK_ERR_NONE ? CK_LOG_INFO : CK_LOG_WARN,
		       "metadata %s: serving requests%s",
		       err == KFK_ERR_NONE ? "caught up" : "sync failed",
		       err == KFK_ERR_NONE ? "" : " with what this node knows");
	/* Caught up (or no quorum in time: answering from what this node
	 * knows, as before the gate, rather than holding every request): the
	 * requests that came while the sync was in flight run too, right after
	 * the earlier ones, not after another sync: a request arriving once
	 * the gate is open runs at once and must not overtake them. Before
	 * the gate opens every waiter is one of its own (a handler that syncs
	 * again runs only after it). */
	if (!s->meta_caught_up) {
		kfk_sync_t *late = s->sync_next;

		s->sync_next = NULL;
		s->meta_caught_up = true;
		kfk_sync_run(done, err);
		kfk_sync_run(late, err);
		return;
	}
	if (s->sync_next && kfk_sync_start(s) < 0) {
		kfk_sync_t *late = s->sync_next;

		s->sync_next = NULL;
		kfk_sync_run(late, KFK_ERR_COORDINATOR_NOT_AVAILABLE);
	}
	kfk_sync_run(done, err);
}

/* Proposes the no-op for the waiters of the next sync. */
static int kfk_sync_start(kfk_srv_t *s)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__Noop noop = CHRONIK__META__NOOP__INIT;
	int r;

	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_NOOP;
	cmd.noop = &noop;
	s->sync_cur = s->sync_next;
	s->sync_next = NULL;
	s->sync_busy = true;
	r = kfk_propose(s, &cmd, 0, kfk_sync_done, s);
	if (r < 0) {
		s->sync_next = s->sync_cur;
		s->sync_cur = NULL;
		s->sync_busy = false;
	}
	return r;
}

bool kfk_req_sync_first(kfk_req_t *req, void (*handler)(kfk_req_t *req))
{
	kfk_srv_t *s = req->srv;
	kfk_sync_t *sy;

	if (req->synced)
		return false;
	req->synced = true;
	/* Not synced unless the sync below ends well. */
	req->sync_err = KFK_ERR_COORDINATOR_NOT_AVAILABLE;
	sy = kfk_req_alloc(req, 1, sizeof(*sy));
	if (!sy)
		return false;
	sy->req = req;
	sy->handler = handler;
	sy->next = s->sync_next;
	s->sync_next = sy;
	if (!s->sync_busy && kfk_sync_start(s) < 0) {
		s->sync_next = sy->next; /* it was the only one: none waits */
		return false;
	}
	return true;
}

void kfk_props_free(kfk_srv_t *s)
{
	while (s->props)
		kfk_prop_done(s->props, KFK_ERR_REQUEST_TIMED_OUT, "the broker is stopping");
}

void kfk_topic_id_new(kfk_srv_t *s, uint8_t id[16])
{
	uint64_t a = ck_rand_u64(&s->rand), b = ck_rand_u64(&s->rand);

	ck_be64_put(id, a);
	ck_be64_put(id + 8, b);
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* variant 1 */
}

uint32_t kfk_srv_rand(kfk_srv_t *s)
{
	return (uint32_t)ck_rand_u64(&s->rand);
}

/* ---- auto-creation ---- */

typedef struct kfk_auto_waiter {
	struct kfk_auto_waiter *next;
	kfk_propose_fn fn;
	void *arg;
} kfk_auto_waiter_t;

typedef struct kfk_auto {
	kfk_srv_t *srv;
	char name[CK_TOPIC_NAME_MAX + 1];
	kfk_auto_waiter_t *waiters;
} kfk_auto_t;

static void kfk_auto_done(void *arg, int16_t err, const char *message)
{
	kfk_auto_t *a = arg;
	kfk_srv_t *s = a->srv;

	(void)ck_hash_remove(&s->autos, ck_hash_str(a->name), a);
	/* Somebody else created it meanwhile: as good as ours. */
	if (err == KFK_ERR_TOPIC_ALREADY_EXISTS)
		err = KFK_ERR_NONE;
	if (err != KFK_ERR_NONE)
		ck_log(CK_LOG_INFO, "auto-creation failed topic=%s error=%s message=\"%s\"",
		       a->name, kfk_err_name(err), message ? message : "");
	else
		ck_log(CK_LOG_INFO, "topic auto-created topic=%s", a->name);
	while (a->waiters) {
		kfk_auto_waiter_t *w = a->waiters;

		a->waiters = w->next;
		w->fn(w->arg, err, message);
		free(w);
	}
	free(a);
}

/* Builds and proposes the CreateTopic of an auto-created topic. */
static int kfk_auto_propose(kfk_srv_t *s, kfk_auto_t *a)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__CreateTopic ct = CHRONIK__META__CREATE_TOPIC__INIT;
	int32_t np = s->set.num_partitions, rf = s->set.default_rf;
	int32_t brokers[CK_CONFIG_PEERS_MAX + 1];
	int nb = kfk_meta_live_broker_ids(s, brokers, (int)CK_ARRAY_LEN(brokers));
	Chronik__Meta__PartitionAssignment *pa = NULL, **pas = NULL;
	int32_t *ids = NULL;
	uint8_t id[16];
	int r = -ENOMEM;

	if (nb <= 0 || rf > nb)
		return CK_E_INVALID;
	pa = calloc((size_t)np, sizeof(*pa));
	pas = calloc((size_t)np, sizeof(*pas));
	ids = calloc((size_t)np * (size_t)rf, sizeof(*ids));
	if (!pa || !pas || !ids)
		goto out;
	kfk_assign_round_robin(brokers, (size_t)nb, 0, np, (int16_t)rf, kfk_srv_rand(s), ids);
	for (int32_t i = 0; i < np; i++) {
		chronik__meta__partition_assignment__init(&pa[i]);
		pa[i].partition = i;
		pa[i].n_replicas = (size_t)rf;
		pa[i].replicas = &ids[(size_t)i * (size_t)rf];
		pas[i] = &pa[i];
	}
	kfk_topic_id_new(s, id);
	ct.name = a->name;
	ct.refuse_collision = true;
	ct.topic_id.data = id;
	ct.topic_id.len = 16;
	ct.n_assignments = (size_t)np;
	ct.assignments = pas;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC;
	cmd.create_topic = &ct;
	r = kfk_propose(s, &cmd, s->set.request_timeout_ms, kfk_auto_done, a);
out:
	free(pa);
	free(pas);
	free(ids);
	return r;
}

static bool kfk_auto_named(const void *key, const void *val)
{
	return !strcmp(((const kfk_auto_t *)val)->name, key);
}

int kfk_auto_create(kfk_srv_t *s, const char *name, kfk_propose_fn fn, void *arg)
{
	uint64_t hash = ck_hash_str(name);
	kfk_auto_waiter_t *w;
	kfk_auto_t *a;
	int r;

	if (strlen(name) > CK_TOPIC_NAME_MAX || kfk_topic_internal(name))
		return CK_E_INVALID;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->arg = arg;
	a = ck_hash_find(&s->autos, hash, kfk_auto_named, name);
	if (a) {
		w->next = a->waiters;
		a->waiters = w;
		return 0;
	}
	a = calloc(1, sizeof(*a));
	if (!a || ck_hash_insert(&s->autos, hash, a) < 0) {
		free(a);
		free(w);
		return -ENOMEM;
	}
	a->srv = s;
	strcpy(a->name, name);
	a->waiters = w;
	r = kfk_auto_propose(s, a);
	if (r < 0) {
		(void)ck_hash_remove(&s->autos, hash, a);
		free(a);
		free(w);
		return r;
	}
	return 0;
}

void kfk_autos_free(kfk_srv_t *s)
{
	/* Each pending proposal owns its kfk_auto_t and fails it when the
	 * raftd calls are drained (kfk_peers_stop()), which empties the
	 * table. */
	ck_hash_free(&s->autos);
}
