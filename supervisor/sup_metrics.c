/*
 * sup_metrics.c: GET /metrics of the admin HTTP endpoint (see
 * sup_metrics.h).
 *
 * Owned by chronik-server. Each scrape is an object on a list: its evhttp
 * request, one ck_ipc client per source (run/raftd.sock and
 * run/replicator.sock, connecting from the loop) and a timer. The last
 * source done (answered or its client lost), the timer or the HTTP
 * connection's close ends it (sup_scrape_end), which unlinks and frees
 * everything the scrape owns.
 * Invariants: while a scrape waits, its HTTP connection's close callback
 * points at it, and nothing else does: it is cleared before the reply is
 * sent. evhttp keeps a request whose connection failed before the reply
 * (it detaches it, evcon NULL, for the user to free); one it frees itself
 * (evhttp_free with the connection) is never touched after the close
 * callback.
 * Not for: raftd's metrics (raftd/raftd_metrics.c), other admin pages.
 */
#include "sup_metrics.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "raftd.pb-c.h"
#include "replicator.pb-c.h"

#define CK_LOG_SUBSYSTEM "metrics"
#include "ck_log.h"

/* raftd's text is tens of kilobytes; this is a generous cap. */
#define SUP_METRICS_FRAME_MAX (16u << 20)
#define SUP_METRICS_CID       1

/* Who a scrape asks, in the order their text is served. */
enum { SUP_SRC_RAFTD, SUP_SRC_REPLICATOR, SUP_SRC_COUNT };

struct sup_scrape;

typedef struct {
	struct sup_scrape *scrape;
	int kind;            /* SUP_SRC_* */
	ck_ipc_client_t *cl; /* NULL once done */
	char *text;          /* its answer; NULL: none (yet) */
	bool done;           /* answered, refused, or lost */
} sup_source_t;

typedef struct sup_scrape {
	struct sup_scrape *prev;
	struct sup_scrape *next;
	sup_metrics_t *owner;
	struct evhttp_request *req; /* NULL once evhttp has it back */
	sup_source_t src[SUP_SRC_COUNT];
	struct event *timer;
} sup_scrape_t;

struct sup_metrics {
	sup_node_t *node;
	sup_scrape_t *scrapes;
};

/* ---- the supervisor's own metrics ---- */

static void sup_metrics_head(struct evbuffer *b, const char *name, const char *type,
                             const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sup_metrics_self(const sup_node_t *node, struct evbuffer *b)
{
	uint64_t now_ms = ck_clock_mono_ms();
	int32_t id = node->cfg.node_id;

	sup_metrics_head(b, "chronik_node_info", "gauge", "The node's id and version");
	evbuffer_add_printf(b, "chronik_node_info{node=\"%d\",version=\"%s\"} 1\n", id,
	                    CHRONIK_VERSION);
	sup_metrics_head(b, "chronik_supervisor_uptime_seconds", "gauge",
	                 "Seconds since the supervisor started");
	evbuffer_add_printf(b, "chronik_supervisor_uptime_seconds{node=\"%d\"} %.3f\n", id,
	                    (double)(now_ms - node->started_ms) / 1000.0);
	sup_metrics_head(b, "chronik_child_up", "gauge",
	                 "Whether the child process runs, reported ready and sends its keepalives "
	                 "(1) or not (0)");
	for (int i = 0; i < CK_CHILD_COUNT; i++)
		evbuffer_add_printf(b, "chronik_child_up{node=\"%d\",child=\"%s\"} %d\n", id,
		                    node->children[i].name,
		                    sup_child_live(&node->children[i], now_ms) ? 1 : 0);
	sup_metrics_head(b, "chronik_child_restarts_total", "counter",
	                 "Restarts of the child since the supervisor started");
	for (int i = 0; i < CK_CHILD_COUNT; i++)
		evbuffer_add_printf(b,
		                    "chronik_child_restarts_total{node=\"%d\",child=\"%s\"} %u\n",
		                    id, node->children[i].name, node->children[i].restarts);
	sup_metrics_head(b, "chronik_child_uptime_seconds", "gauge",
	                 "Seconds the child's current process has been running (0: none)");
	for (int i = 0; i < CK_CHILD_COUNT; i++)
		evbuffer_add_printf(
		    b, "chronik_child_uptime_seconds{node=\"%d\",child=\"%s\"} %.3f\n", id,
		    node->children[i].name,
		    (double)sup_child_uptime_ms(&node->children[i], now_ms) / 1000.0);
}

/* ---- scrapes ---- */

/* Unlinks S and frees what it owns (not the request). Safe inside the
 * client's callbacks. */
static void sup_scrape_free(sup_scrape_t *s)
{
	sup_metrics_t *m = s->owner;

	if (s->prev)
		s->prev->next = s->next;
	else
		m->scrapes = s->next;
	if (s->next)
		s->next->prev = s->prev;
	for (int k = 0; k < SUP_SRC_COUNT; k++) {
		ck_ipc_client_free(s->src[k].cl);
		free(s->src[k].text);
	}
	if (s->timer)
		event_free(s->timer);
	free(s);
}

/* Answers S's request with the supervisor's metrics and what its sources
 * said (a source without an answer: its "up" metric at 0), then frees S. */
static void sup_scrape_end(sup_scrape_t *s)
{
	static const char *const up[SUP_SRC_COUNT][2] = {
	    {"chronik_raft_up", "Whether raftd answered the scrape"},
	    {"chronik_replication_up", "Whether the replicator answered the scrape"}};
	struct evhttp_request *req = s->req;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct evbuffer *body = evbuffer_new();

	if (evcon)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (!body) {
		evhttp_send_error(req, 500, NULL);
		return sup_scrape_free(s);
	}
	sup_metrics_self(s->owner->node, body);
	for (int k = 0; k < SUP_SRC_COUNT; k++) {
		if (s->src[k].text) {
			evbuffer_add(body, s->src[k].text, strlen(s->src[k].text));
			continue;
		}
		sup_metrics_head(body, up[k][0], "gauge", up[k][1]);
		evbuffer_add_printf(body, "%s 0\n", up[k][0]);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	/* Without a connection evhttp only frees the request. */
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
	sup_scrape_free(s);
}

/* SRC is done with TEXT (NULL: no answer); the scrape ends with the last. */
static void sup_source_done(sup_source_t *src, const char *text)
{
	sup_scrape_t *s = src->scrape;

	if (src->done)
		return;
	src->done = true;
	if (text && !(src->text = strdup(text)))
		ck_log(CK_LOG_WARN, "no memory for a scrape's metrics");
	for (int k = 0; k < SUP_SRC_COUNT; k++)
		if (!s->src[k].done)
			return;
	sup_scrape_end(s);
}

static void sup_scrape_connected(ck_ipc_client_t *cl, void *arg)
{
	sup_source_t *src = arg;
	Chronik__Raftd__RaftdRequest rq = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__GetMetrics gm = CHRONIK__RAFTD__GET_METRICS__INIT;
	Chronik__Repl__ReplRequest pq = CHRONIK__REPL__REPL_REQUEST__INIT;
	Chronik__Repl__GetMetrics pm = CHRONIK__REPL__GET_METRICS__INIT;
	int r;

	if (src->kind == SUP_SRC_RAFTD) {
		rq.correlation_id = SUP_METRICS_CID;
		rq.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_METRICS;
		rq.metrics = &gm;
		r = ck_ipc_client_send_msg(cl, &rq.base);
	} else {
		pq.correlation_id = SUP_METRICS_CID;
		pq.body_case = CHRONIK__REPL__REPL_REQUEST__BODY_METRICS;
		pq.metrics = &pm;
		r = ck_ipc_client_send_msg(cl, &pq.base);
	}
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot ask %s for metrics: %s",
		       src->kind == SUP_SRC_RAFTD ? "raftd" : "the replicator", ck_strerror(r));
		sup_source_done(src, NULL);
	}
}

static void sup_scrape_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	sup_source_t *src = arg;

	(void)cl;
	if (src->kind == SUP_SRC_RAFTD) {
		Chronik__Raftd__RaftdReply *rep =
		    chronik__raftd__raftd_reply__unpack(NULL, len, data);

		if (rep && rep->correlation_id != SUP_METRICS_CID) {
			chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
			return; /* not ours (raftd pushes nothing unasked, but be lenient) */
		}
		sup_source_done(src,
		                rep && rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_METRICS
		                    ? rep->metrics->text
		                    : NULL);
		if (rep)
			chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
		return;
	}
	Chronik__Repl__ReplReply *rep = chronik__repl__repl_reply__unpack(NULL, len, data);

	if (rep && rep->correlation_id != SUP_METRICS_CID) {
		chronik__repl__repl_reply__free_unpacked(rep, NULL);
		return;
	}
	sup_source_done(src, rep && rep->body_case == CHRONIK__REPL__REPL_REPLY__BODY_METRICS
	                         ? rep->metrics->text
	                         : NULL);
	if (rep)
		chronik__repl__repl_reply__free_unpacked(rep, NULL);
}

static void sup_scrape_lost(ck_ipc_client_t *cl, int err, void *arg)
{
	(void)cl;
	(void)err;
	sup_source_done(arg, NULL);
}

static const ck_ipc_client_handlers_t sup_scrape_handlers = {
    .on_connect = sup_scrape_connected,
    .on_frame = sup_scrape_frame,
    .on_disconnect = sup_scrape_lost,
};

static void sup_scrape_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sup_scrape_end(arg);
}

/* The HTTP client went away before the answer. */
static void sup_scrape_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	sup_scrape_t *s = arg;

	(void)evcon;
	ck_log(CK_LOG_DEBUG, "scrape client went away before the answer");
	/* Detached from its connection: nobody but us will free it. */
	if (!evhttp_request_get_connection(s->req))
		evhttp_request_free(s->req);
	s->req = NULL;
	sup_scrape_free(s);
}

void sup_metrics_serve(sup_metrics_t *m, struct evhttp_request *req)
{
	struct timeval tv = {SUP_METRICS_RAFTD_TIMEOUT_MS / 1000,
	                     (SUP_METRICS_RAFTD_TIMEOUT_MS % 1000) * 1000};
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	sup_scrape_t *s = calloc(1, sizeof(*s));

	if (!s) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	s->owner = m;
	s->req = req;
	s->next = m->scrapes;
	if (m->scrapes)
		m->scrapes->prev = s;
	m->scrapes = s;
	s->timer = evtimer_new(m->node->base, sup_scrape_timeout, s);
	if (!s->timer || evtimer_add(s->timer, &tv) < 0)
		return sup_scrape_end(s);
	for (int k = 0; k < SUP_SRC_COUNT; k++) {
		sup_source_t *src = &s->src[k];

		src->scrape = s;
		src->kind = k;
		src->cl = ck_ipc_client_new(
		    m->node->base,
		    m->node->sock_paths[k == SUP_SRC_RAFTD ? SUP_SOCK_RAFTD : SUP_SOCK_REPLICATOR],
		    SUP_METRICS_FRAME_MAX, &sup_scrape_handlers, src);
		if (!src->cl)
			return sup_scrape_end(s);
	}
	if (evcon)
		evhttp_connection_set_closecb(evcon, sup_scrape_conn_closed, s);
}

sup_metrics_t *sup_metrics_new(sup_node_t *node)
{
	sup_metrics_t *m = calloc(1, sizeof(*m));

	if (m)
		m->node = node;
	return m;
}

void sup_metrics_free(sup_metrics_t *m)
{
	if (!m)
		return;
	while (m->scrapes) {
		sup_scrape_t *s = m->scrapes;
		struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);

		if (evcon)
			evhttp_connection_set_closecb(evcon, NULL, NULL);
		else
			evhttp_request_free(s->req); /* detached: ours */
		sup_scrape_free(s);
	}
	free(m);
}
