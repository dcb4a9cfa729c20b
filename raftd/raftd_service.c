/*
 * raftd_service.c: the run/raftd.sock service of chronik-raftd (see
 * raftd_service.h).
 *
 * Owned by raftd. Each connection (from its first frame) is a client
 * object with a reference count: the connection holds one, every proposal
 * waiting for its answer holds one, so an answer that arrives after the
 * client left finds the object (with conn NULL) and is dropped. At most
 * CK_DAEMON_CONNS_MAX connections exist, so finding a client by its
 * connection is a short walk.
 * Not for: Raft, LMDB.
 */
#define CK_LOG_SUBSYSTEM "service"

#include "raftd_service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_log.h"
#include "raftd.pb-c.h"
#include "raftd_metrics.h"

/* Output queued for one client beyond which it is cut off. */
#define RAFTD_CLIENT_OUTQ_MAX ((size_t)64 << 20)

typedef struct raftd_client {
	struct raftd_client *prev;
	struct raftd_client *next;
	struct raftd_service *svc; /* NULL once the service is gone */
	ck_ipc_conn_t *conn;       /* NULL once closed */
	unsigned refs;
	bool subscribed;
	bool parts_only;    /* Subscribe.partitions_only */
	bool parts_known;   /* parts_sent holds what its last event covered */
	uint64_t parts_sent;
} raftd_client_t;

struct raftd_service {
	raftd_node_t *node;
	raftd_service_close_fn close_fn;
	void *close_arg;
	raftd_client_t *clients;
	size_t n_clients;
};

typedef struct {
	raftd_client_t *client;
	uint64_t correlation_id;
} raftd_call_t;

static void raftd_client_unref(raftd_client_t *c)
{
	if (--c->refs == 0)
		free(c);
}

/* Unlinks C from the service and drops the connection's reference. */
static void raftd_client_gone(raftd_client_t *c)
{
	raftd_service_t *s = c->svc;

	if (s) {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->clients = c->next;
		if (c->next)
			c->next->prev = c->prev;
		s->n_clients--;
		c->svc = NULL;
	}
	c->conn = NULL;
	raftd_client_unref(c);
}

/* Closes C's connection and forgets it. */
static void raftd_client_kill(raftd_client_t *c)
{
	if (c->svc && c->conn)
		c->svc->close_fn(c->svc->close_arg, c->conn);
	raftd_client_gone(c);
}

static void raftd_client_send(raftd_client_t *c, const Chronik__Raftd__RaftdReply *rep)
{
	int r;

	if (!c->conn)
		return;
	r = ck_ipc_conn_send_msg(c->conn, &rep->base);
	if (r == 0 && ck_ipc_conn_outq_bytes(c->conn) <= RAFTD_CLIENT_OUTQ_MAX)
		return;
	ck_log(CK_LOG_WARN, "client cut off: %s",
	       r < 0 ? ck_strerror(r) : "too much output queued");
	raftd_client_kill(c);
}

static void raftd_reply_error(raftd_client_t *c, uint64_t cid, int err, const char *msg)
{
	Chronik__Raftd__RaftdReply rep = CHRONIK__RAFTD__RAFTD_REPLY__INIT;

	rep.correlation_id = cid;
	rep.error = err;
	rep.error_message = (char *)(msg ? msg : ck_strerror(err));
	raftd_client_send(c, &rep);
}

static void raftd_propose_done(void *arg, int err, uint64_t index, const raftd_apply_result_t *res)
{
	raftd_call_t *call = arg;
	Chronik__Raftd__RaftdReply rep = CHRONIK__RAFTD__RAFTD_REPLY__INIT;
	Chronik__Raftd__ProposeResult pr = CHRONIK__RAFTD__PROPOSE_RESULT__INIT;

	if (err < 0) {
		raftd_reply_error(call->client, call->correlation_id, err, NULL);
	} else {
		rep.correlation_id = call->correlation_id;
		rep.body_case = CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE;
		rep.propose = &pr;
		pr.index = index;
		pr.result = res->result;
		pr.message = (char *)res->message;
		raftd_client_send(call->client, &rep);
	}
	raftd_client_unref(call->client);
	free(call);
}

static void raftd_req_propose(raftd_client_t *c, uint64_t cid, const Chronik__Raftd__Propose *p)
{
	raftd_call_t *call;
	uint8_t *buf;
	size_t len;
	int r;

	if (!p->command || p->command->cmd_case == CHRONIK__META__METADATA_COMMAND__CMD__NOT_SET)
		return raftd_reply_error(c, cid, CK_E_INVALID, "propose without a command");
	/* Re-packed: the log holds only what this build understands. */
	len = chronik__meta__metadata_command__get_packed_size(p->command);
	buf = malloc(len);
	call = malloc(sizeof(*call));
	if (!buf || !call) {
		free(buf);
		free(call);
		return raftd_reply_error(c, cid, -ENOMEM, NULL);
	}
	(void)chronik__meta__metadata_command__pack(p->command, buf);
	call->client = c;
	call->correlation_id = cid;
	c->refs++;
	r = raftd_node_propose(c->svc->node, buf, len, raftd_propose_done, call);
	free(buf);
	if (r < 0) {
		c->refs--;
		free(call);
		raftd_reply_error(c, cid, r, NULL);
	}
}

static void raftd_send_applied(raftd_client_t *c, uint64_t cid, uint64_t applied)
{
	Chronik__Raftd__RaftdReply rep = CHRONIK__RAFTD__RAFTD_REPLY__INIT;
	Chronik__Raftd__Applied ap = CHRONIK__RAFTD__APPLIED__INIT;

	rep.correlation_id = cid;
	rep.body_case = CHRONIK__RAFTD__RAFTD_REPLY__BODY_APPLIED;
	rep.applied = &ap;
	ap.applied_index = applied;
	raftd_client_send(c, &rep);
}

static void raftd_req_status(raftd_client_t *c, uint64_t cid)
{
	Chronik__Raftd__RaftdReply rep = CHRONIK__RAFTD__RAFTD_REPLY__INIT;
	Chronik__Raftd__RaftStatus st = CHRONIK__RAFTD__RAFT_STATUS__INIT;
	raftd_node_status_t ns;

	raftd_node_status(c->svc->node, &ns);
	rep.correlation_id = cid;
	rep.body_case = CHRONIK__RAFTD__RAFTD_REPLY__BODY_STATUS;
	rep.status = &st;
	st.role = (char *)ns.role;
	st.term = ns.term;
	st.leader_id = ns.leader_id;
	st.leader_contact = ns.leader_contact;
	st.commit_index = ns.commit_index;
	st.applied_index = ns.applied_index;
	st.last_index = ns.last_index;
	raftd_client_send(c, &rep);
}

/* The node's metrics as Prometheus text (GET /metrics of the admin port). */
static void raftd_req_metrics(raftd_client_t *c, uint64_t cid)
{
	Chronik__Raftd__RaftdReply rep = CHRONIK__RAFTD__RAFTD_REPLY__INIT;
	Chronik__Raftd__Metrics mt = CHRONIK__RAFTD__METRICS__INIT;
	ck_buf_t text = CK_BUF_INIT;

	if (raftd_node_metrics_render(c->svc->node, &text) < 0 || ck_buf_append(&text, "", 1) < 0) {
		ck_buf_free(&text);
		return raftd_reply_error(c, cid, -ENOMEM, NULL);
	}
	rep.correlation_id = cid;
	rep.body_case = CHRONIK__RAFTD__RAFTD_REPLY__BODY_METRICS;
	rep.metrics = &mt;
	mt.text = (char *)text.data;
	raftd_client_send(c, &rep);
	ck_buf_free(&text);
}

static raftd_client_t *raftd_client_find(raftd_service_t *s, const ck_ipc_conn_t *conn)
{
	for (raftd_client_t *c = s->clients; c; c = c->next) {
		if (c->conn == conn)
			return c;
	}
	return NULL;
}

static raftd_client_t *raftd_client_new(raftd_service_t *s, ck_ipc_conn_t *conn)
{
	raftd_client_t *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->svc = s;
	c->conn = conn;
	c->refs = 1;
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	return c;
}

static void raftd_dispatch(raftd_client_t *c, const Chronik__Raftd__RaftdRequest *req)
{
	switch (req->body_case) {
	case CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE:
		raftd_req_propose(c, req->correlation_id, req->propose);
		break;
	case CHRONIK__RAFTD__RAFTD_REQUEST__BODY_SUBSCRIBE:
		c->subscribed = true;
		c->parts_only = req->subscribe->partitions_only;
		c->parts_known = c->parts_only &&
		                 raftd_node_parts_index(c->svc->node, &c->parts_sent) == 0;
		raftd_send_applied(c, req->correlation_id, raftd_node_applied(c->svc->node));
		break;
	case CHRONIK__RAFTD__RAFTD_REQUEST__BODY_METRICS:
		raftd_req_metrics(c, req->correlation_id);
		break;
	default:
		raftd_req_status(c, req->correlation_id);
		break;
	}
}

void raftd_service_frame(raftd_service_t *s, ck_ipc_conn_t *conn, const uint8_t *data, size_t len)
{
	raftd_client_t *c = raftd_client_find(s, conn);
	Chronik__Raftd__RaftdRequest *req;

	if (!c && !(c = raftd_client_new(s, conn))) {
		s->close_fn(s->close_arg, conn);
		return;
	}
	req = chronik__raftd__raftd_request__unpack(NULL, len, data);
	if (!req || req->body_case == CHRONIK__RAFTD__RAFTD_REQUEST__BODY__NOT_SET) {
		ck_log(CK_LOG_WARN, "closing client: %s bytes=%zu",
		       req ? "request without body" : "unparsable request", len);
		if (req)
			chronik__raftd__raftd_request__free_unpacked(req, NULL);
		raftd_client_kill(c);
		return;
	}
	c->refs++; /* the client must outlive its own dispatch */
	raftd_dispatch(c, req);
	raftd_client_unref(c);
	chronik__raftd__raftd_request__free_unpacked(req, NULL);
}

void raftd_service_closed(raftd_service_t *s, ck_ipc_conn_t *conn)
{
	raftd_client_t *c = raftd_client_find(s, conn);

	if (c)
		raftd_client_gone(c);
}

void raftd_service_applied(raftd_service_t *s, uint64_t applied)
{
	raftd_client_t *c = s->clients;
	uint64_t parts = 0;
	int have = 0; /* 0 not read yet, 1 read, -1 unreadable */

	while (c) {
		raftd_client_t *next = c->next; /* C may be cut off */

		if (c->subscribed && c->parts_only) {
			if (!have)
				have = raftd_node_parts_index(s->node, &parts) == 0 ? 1 : -1;
			/* Unreadable: tell them anyway; they will look. */
			if (have < 0 || !c->parts_known || parts != c->parts_sent) {
				c->parts_known = have > 0;
				c->parts_sent = parts;
				raftd_send_applied(c, 0, applied);
			}
		} else if (c->subscribed) {
			raftd_send_applied(c, 0, applied);
		}
		c = next;
	}
}

size_t raftd_service_clients(const raftd_service_t *s)
{
	return s->n_clients;
}

raftd_service_t *raftd_service_new(raftd_node_t *node, raftd_service_close_fn close_fn,
                                   void *close_arg)
{
	raftd_service_t *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->node = node;
	s->close_fn = close_fn;
	s->close_arg = close_arg;
	return s;
}

void raftd_service_free(raftd_service_t *s)
{
	if (!s)
		return;
	while (s->clients)
		raftd_client_gone(s->clients);
	free(s);
}
