/*
 * sup_control.c: the supervisor's control socket and admin HTTP endpoint.
 *
 * Owned by chronik-server. run/control.sock speaks control.proto (framed by
 * ck_ipc): a ControlRequest/status gets the node's StatusReply, built from
 * the child table at that moment. The admin TCP listener ([listeners]
 * admin) serves the same status as JSON: GET /status, plus GET /health
 * (200 when every child is ready, 503 otherwise) for load balancers, and
 * GET /metrics in Prometheus text format (sup_metrics.c).
 * Invariant: a control connection lives in conns[] from accept to close, so
 * shutdown frees every one of them.
 * Not for: changing the node (no start/stop commands yet).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "control.pb-c.h"
#include "sup_loop.h"
#include "sup_metrics.h"
#include "sup_status.h"

#define CK_LOG_SUBSYSTEM "control"
#include "ck_log.h"

#define SUP_CONTROL_CONNS_MAX 32
#define SUP_CONTROL_FRAME_MAX (64u << 10)
/* Admin HTTP: the largest request header block and body accepted (larger:
 * 400/413 and the connection closed). */
#define SUP_ADMIN_HEADERS_MAX (16 << 10)
#define SUP_ADMIN_BODY_MAX    (4 << 10)
/* After an accept error (out of fds), accepting pauses this long. */
#define SUP_ADMIN_PAUSE_MS 250
/* Admin HTTP connections open at most (see sup_admin_gate), and how often
 * the gate looks for closed ones while it refuses (ten times less often
 * while connections are merely open). */
#define SUP_ADMIN_CONNS_MAX 64
#define SUP_ADMIN_SWEEP_MS  100
/* At the limit, a new connection takes the place of the oldest one open
 * this long (a scrape takes milliseconds: one this old is idle, or a
 * client that trickles its request); the evicted ones still counted until
 * evhttp has closed them are at most this many. */
#define SUP_ADMIN_EVICT_AGE_MS 1000
#define SUP_ADMIN_EVICT_SLACK  64

typedef struct sup_control {
	sup_node_t *node;
	ck_ipc_listener_t *listener;
	char path[PATH_MAX + 32];
	ck_ipc_conn_t *conns[SUP_CONTROL_CONNS_MAX];
	struct evhttp *http;
	sup_metrics_t *metrics;
} sup_control_t;

/* A StatusReply pointing into the node's memory; valid until the loop runs
 * again. */
typedef struct {
	Chronik__Control__StatusReply reply;
	Chronik__Control__ChildStatus children[CK_CHILD_COUNT];
	Chronik__Control__ChildStatus *ptrs[CK_CHILD_COUNT];
} sup_status_msg_t;

static void sup_control_status_fill(sup_node_t *node, sup_status_msg_t *m)
{
	uint64_t now_ms = ck_clock_mono_ms();

	chronik__control__status_reply__init(&m->reply);
	m->reply.node_id = node->cfg.node_id;
	m->reply.supervisor_pid = (int32_t)getpid();
	m->reply.version = (char *)CHRONIK_VERSION;
	m->reply.uptime_ms = (int64_t)(now_ms - node->started_ms);
	m->reply.data_dir = node->data_dir;
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];
		Chronik__Control__ChildStatus *s = &m->children[i];

		chronik__control__child_status__init(s);
		s->name = (char *)c->name;
		s->pid = (int32_t)c->pid;
		s->state = (char *)sup_state_name(c->state);
		s->uptime_ms = (int64_t)sup_child_uptime_ms(c, now_ms);
		s->restarts = c->restarts;
		s->last_exit = c->last_exit;
		s->status_text = c->status_text;
		s->role = c->role;
		s->silent_ms = sup_child_silent_ms(c, now_ms);
		m->ptrs[i] = s;
	}
	m->reply.n_children = CK_CHILD_COUNT;
	m->reply.children = m->ptrs;
}

static void sup_control_reply(sup_control_t *ctl, ck_ipc_conn_t *c,
                              const Chronik__Control__ControlRequest *req)
{
	Chronik__Control__ControlReply reply = CHRONIK__CONTROL__CONTROL_REPLY__INIT;
	sup_status_msg_t st;
	int r;

	reply.correlation_id = req ? req->correlation_id : 0;
	if (!req) {
		reply.error = CK_E_PROTO;
		reply.error_message = "malformed ControlRequest";
	} else if (req->body_case == CHRONIK__CONTROL__CONTROL_REQUEST__BODY_STATUS) {
		sup_control_status_fill(ctl->node, &st);
		reply.body_case = CHRONIK__CONTROL__CONTROL_REPLY__BODY_STATUS;
		reply.status = &st.reply;
	} else {
		reply.error = CK_E_INVALID;
		reply.error_message = "unknown request";
	}
	r = ck_ipc_conn_send_msg(c, &reply.base);
	if (r < 0)
		ck_log(CK_LOG_WARN, "cannot send control reply: %s", ck_strerror(r));
}

static void sup_control_forget(sup_control_t *ctl, ck_ipc_conn_t *c)
{
	for (int i = 0; i < SUP_CONTROL_CONNS_MAX; i++) {
		if (ctl->conns[i] == c)
			ctl->conns[i] = NULL;
	}
}

static void sup_control_on_frame(ck_ipc_conn_t *c, const uint8_t *data, size_t len, void *arg)
{
	Chronik__Control__ControlRequest *req;

	req = chronik__control__control_request__unpack(NULL, len, data);
	sup_control_reply(arg, c, req);
	if (req) {
		chronik__control__control_request__free_unpacked(req, NULL);
		return;
	}
	sup_control_forget(arg, c);
	ck_ipc_conn_close_after_flush(c);
}

static void sup_control_on_close(ck_ipc_conn_t *c, int err, void *arg)
{
	(void)err;
	sup_control_forget(arg, c);
}

static const ck_ipc_handlers_t sup_control_handlers = {
    .on_frame = sup_control_on_frame,
    .on_close = sup_control_on_close,
};

static void sup_control_accept(int fd, void *arg)
{
	sup_control_t *ctl = arg;
	ck_ipc_conn_t *c;

	for (int i = 0; i < SUP_CONTROL_CONNS_MAX; i++) {
		if (ctl->conns[i])
			continue;
		c = ck_ipc_conn_new(ctl->node->base, fd, SUP_CONTROL_FRAME_MAX,
		                    &sup_control_handlers, ctl);
		ctl->conns[i] = c;
		return;
	}
	ck_log(CK_LOG_WARN, "too many control connections max=%d", SUP_CONTROL_CONNS_MAX);
	(void)close(fd);
}

static void sup_admin_cb(struct evhttp_request *req, void *arg)
{
	sup_control_t *ctl = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	/* The path alone: a query string ("/metrics?x=1") is ignored. */
	const char *uri = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "";
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *body = evbuffer_new();
	ck_buf_t json = CK_BUF_INIT;
	sup_status_msg_t st;
	int code = 200;

	if (!body) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	/* HEAD is answered as GET without the body (libevent would send it). */
	if (cmd == EVHTTP_REQ_GET && !strcmp(uri, "/metrics")) {
		evbuffer_free(body);
		sup_metrics_serve(ctl->metrics, req); /* answers later */
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		code = 405;
		evbuffer_add_printf(body, "only GET and HEAD\n");
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
	} else if (!strcmp(uri, "/metrics")) { /* HEAD */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "text/plain; version=0.0.4; charset=utf-8");
	} else if (!strcmp(uri, "/status")) {
		sup_control_status_fill(ctl->node, &st);
		if (sup_status_json(&st.reply, &json) == 0) {
			evbuffer_add(body, json.data, json.len);
			evbuffer_add(body, "\n", 1);
		} else {
			code = 500;
		}
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "application/json");
	} else if (!strcmp(uri, "/health")) {
		uint64_t now = ck_clock_mono_ms();
		bool ready = ctl->node->phase == SUP_PHASE_RUNNING;
		const sup_child_t *stuck = NULL;

		for (int i = 0; i < CK_CHILD_COUNT; i++) {
			const sup_child_t *c = &ctl->node->children[i];

			ready &= c->state == SUP_STATE_READY;
			if (!stuck && c->state == SUP_STATE_READY && !sup_child_live(c, now))
				stuck = c;
		}
		code = ready && !stuck ? 200 : 503;
		if (stuck)
			evbuffer_add_printf(body, "not responding: %s (silent %lld ms)\n",
			                    stuck->name,
			                    (long long)sup_child_silent_ms(stuck, now));
		else
			evbuffer_add_printf(body, "%s\n", ready ? "ok" : "not ready");
	} else {
		code = 404;
		evbuffer_add_printf(body, "not found; try /status, /health or /metrics\n");
	}
	if (!evhttp_find_header(evhttp_request_get_output_headers(req), "Content-Type"))
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "text/plain; charset=utf-8");
	if (cmd == EVHTTP_REQ_HEAD)
		(void)evbuffer_drain(body, evbuffer_get_length(body));
	/* NULL: libevent's standard reason phrase for CODE. */
	evhttp_send_reply(req, code, NULL, body);
	evbuffer_free(body);
	ck_buf_free(&json);
}

/*
 * The admin port's gate. libevent 2.1's evhttp has no connection limit, and
 * out of fds its listener retries accept() at once and logs each failure (a
 * busy loop that fills the log). So:
 * - each connection's bufferevent is made here (evhttp_set_bevcb) without
 *   BEV_OPT_CLOSE_ON_FREE (evhttp then closes the fd itself) and with one
 *   reference of ours: bufferevent_free() clears its callbacks, which is
 *   how a sweep tells the connections evhttp is done with, and drops them;
 * - at SUP_ADMIN_CONNS_MAX open, a new connection takes the place of the
 *   oldest one open SUP_ADMIN_EVICT_AGE_MS or longer: its socket is shut
 *   down, so evhttp reads the end and closes it (a client trickling its
 *   request, which evhttp's inactivity timeout never ends, cannot keep
 *   scrapers out); with none that old, the listener stops accepting (the
 *   kernel's backlog holds the next ones) until a sweep finds one gone or
 *   old enough;
 * - an accept error pauses accepting for SUP_ADMIN_PAUSE_MS; one failure in
 *   a thousand is logged.
 * Static, not in sup_control_t: the listener's error callback gets evhttp's
 * argument, not ours (there is one control per process).
 */
static struct {
	struct evconnlistener *listener; /* evhttp's; NULL once it is freed */
	struct event *tick;              /* sweeps; ends a pause */
	struct bufferevent *conns[SUP_ADMIN_CONNS_MAX + SUP_ADMIN_EVICT_SLACK];
	uint64_t opened_ms[SUP_ADMIN_CONNS_MAX + SUP_ADMIN_EVICT_SLACK];
	bool evicted[SUP_ADMIN_CONNS_MAX + SUP_ADMIN_EVICT_SLACK];
	int n, n_evicted;
	uint64_t pause_until_ms, errors, full_times, evictions;
	bool accepting;
} sup_admin_gate;

static void sup_admin_gate_sweep(void)
{
	int k = 0;

	for (int i = 0; i < sup_admin_gate.n; i++) {
		struct bufferevent *b = sup_admin_gate.conns[i];
		bufferevent_data_cb r, w;
		bufferevent_event_cb e;
		void *a;

		bufferevent_getcb(b, &r, &w, &e, &a);
		if (!r && !w && !e) { /* freed by evhttp: ours alone now */
			(void)bufferevent_decref(b);
			sup_admin_gate.n_evicted -= sup_admin_gate.evicted[i];
			continue;
		}
		sup_admin_gate.opened_ms[k] = sup_admin_gate.opened_ms[i];
		sup_admin_gate.evicted[k] = sup_admin_gate.evicted[i];
		sup_admin_gate.conns[k++] = b;
	}
	sup_admin_gate.n = k;
}

/* The oldest connection not evicted yet if it is old enough, or -1 (the
 * list is in accept order). */
static int sup_admin_gate_victim(uint64_t now_ms)
{
	if (sup_admin_gate.n_evicted >= SUP_ADMIN_EVICT_SLACK)
		return -1;
	for (int i = 0; i < sup_admin_gate.n; i++) {
		if (sup_admin_gate.evicted[i])
			continue;
		return now_ms - sup_admin_gate.opened_ms[i] >= SUP_ADMIN_EVICT_AGE_MS ? i : -1;
	}
	return -1;
}

/* At the limit: shuts the oldest connection down so that evhttp closes it.
 * Returns whether there was one old enough. */
static bool sup_admin_gate_evict(uint64_t now_ms)
{
	int i = sup_admin_gate_victim(now_ms);
	evutil_socket_t fd;

	if (i < 0)
		return false;
	fd = bufferevent_getfd(sup_admin_gate.conns[i]);
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
	sup_admin_gate.evicted[i] = true;
	sup_admin_gate.n_evicted++;
	if (sup_admin_gate.evictions++ % 1000 == 0)
		ck_log(CK_LOG_WARN,
		       "admin HTTP: %d connections open, closing the oldest for a new one "
		       "(%llu times)",
		       sup_admin_gate.n - sup_admin_gate.n_evicted + 1,
		       (unsigned long long)sup_admin_gate.evictions);
	return true;
}

/* Whether a new connection has room, or can make some. */
static bool sup_admin_gate_room(uint64_t now_ms)
{
	return sup_admin_gate.n - sup_admin_gate.n_evicted < SUP_ADMIN_CONNS_MAX ||
	       sup_admin_gate_victim(now_ms) >= 0;
}

/* Accepting or not, as the count and a pause say; arms the next sweep. */
static void sup_admin_gate_update(void)
{
	uint64_t now_ms = ck_clock_mono_ms();
	bool full = !sup_admin_gate_room(now_ms);
	bool accept = !full && now_ms >= sup_admin_gate.pause_until_ms;
	/* Often while refusing, slowly while connections are merely open. */
	int ms = accept ? 10 * SUP_ADMIN_SWEEP_MS : SUP_ADMIN_SWEEP_MS;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (!sup_admin_gate.listener)
		return;
	if (accept != sup_admin_gate.accepting) {
		if (full && sup_admin_gate.full_times++ % 1000 == 0)
			ck_log(CK_LOG_WARN,
			       "admin HTTP: %d connections open, not accepting more (%llu times)",
			       sup_admin_gate.n, (unsigned long long)sup_admin_gate.full_times);
		if (accept)
			(void)evconnlistener_enable(sup_admin_gate.listener);
		else
			(void)evconnlistener_disable(sup_admin_gate.listener);
		sup_admin_gate.accepting = accept;
	}
	if (sup_admin_gate.n > 0 || !accept)
		(void)evtimer_add(sup_admin_gate.tick, &tv);
}

static void sup_admin_gate_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sup_admin_gate_sweep();
	sup_admin_gate_update();
}

static struct bufferevent *sup_admin_bev(struct event_base *base, void *arg)
{
	uint64_t now_ms = ck_clock_mono_ms();
	struct bufferevent *b;

	(void)arg;
	sup_admin_gate_sweep();
	if (sup_admin_gate.n - sup_admin_gate.n_evicted >= SUP_ADMIN_CONNS_MAX &&
	    !sup_admin_gate_evict(now_ms))
		return NULL; /* accepted in the same batch: evhttp makes its own */
	b = bufferevent_socket_new(base, -1, 0);
	if (!b)
		return NULL;
	bufferevent_incref(b);
	sup_admin_gate.opened_ms[sup_admin_gate.n] = now_ms;
	sup_admin_gate.evicted[sup_admin_gate.n] = false;
	sup_admin_gate.conns[sup_admin_gate.n++] = b;
	sup_admin_gate_update();
	return b;
}

static void sup_admin_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	if (sup_admin_gate.errors++ % 1000 == 0)
		ck_log(CK_LOG_WARN, "admin HTTP: accept failed, pausing %d ms: %s (%llu so far)",
		       SUP_ADMIN_PAUSE_MS, strerror(err),
		       (unsigned long long)sup_admin_gate.errors);
	sup_admin_gate.pause_until_ms = ck_clock_mono_ms() + SUP_ADMIN_PAUSE_MS;
	sup_admin_gate_update();
}

static int sup_admin_gate_start(struct event_base *base, struct evhttp *http,
                                struct evhttp_bound_socket *bound)
{
	sup_admin_gate.listener = evhttp_bound_socket_get_listener(bound);
	sup_admin_gate.tick = evtimer_new(base, sup_admin_gate_tick, NULL);
	if (!sup_admin_gate.listener || !sup_admin_gate.tick)
		return -ENOMEM;
	sup_admin_gate.accepting = true;
	evconnlistener_set_error_cb(sup_admin_gate.listener, sup_admin_accept_error);
	evhttp_set_bevcb(http, sup_admin_bev, NULL);
	return 0;
}

/* Before evhttp_free(); the references are dropped after it. */
static void sup_admin_gate_stop(void)
{
	sup_admin_gate.listener = NULL;
	if (sup_admin_gate.tick)
		event_free(sup_admin_gate.tick);
	sup_admin_gate.tick = NULL;
}

static void sup_admin_gate_release(void)
{
	for (int i = 0; i < sup_admin_gate.n; i++)
		(void)bufferevent_decref(sup_admin_gate.conns[i]);
	sup_admin_gate.n = sup_admin_gate.n_evicted = 0;
}

/* Serves admin HTTP on a duplicate of the admin socket: the original stays
 * with the node table whatever evhttp does with its copy. */
static int sup_admin_start(sup_control_t *ctl)
{
	int fd = dup(ctl->node->socks[SUP_SOCK_ADMIN]);
	struct evhttp_bound_socket *bound = NULL;

	if (fd < 0)
		return -errno;
	(void)evutil_make_socket_closeonexec(fd);
	ctl->metrics = sup_metrics_new(ctl->node);
	ctl->http = evhttp_new(ctl->node->base);
	if (!ctl->metrics || !ctl->http ||
	    !(bound = evhttp_accept_socket_with_handle(ctl->http, fd))) {
		(void)close(fd);
		return -ENOMEM;
	}
	/* Every method reaches sup_admin_cb, which answers all but GET and HEAD
	 * 405 Method Not Allowed (libevent would answer 501). */
	evhttp_set_allowed_methods(ctl->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                          EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                          EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(ctl->http, sup_admin_cb, ctl);
	evhttp_set_timeout(ctl->http, 10);
	/* libevent buffers a request's header and body without a bound by
	 * default: a client streaming one endless header line would grow
	 * the supervisor until the kernel kills it. Scrapers send a few
	 * hundred bytes and no body. */
	evhttp_set_max_headers_size(ctl->http, SUP_ADMIN_HEADERS_MAX);
	evhttp_set_max_body_size(ctl->http, SUP_ADMIN_BODY_MAX);
	return sup_admin_gate_start(ctl->node->base, ctl->http, bound);
}

int sup_control_start(sup_node_t *node)
{
	sup_control_t *ctl = calloc(1, sizeof(*ctl));
	int fd = -1, r;

	if (!ctl)
		return -ENOMEM;
	ctl->node = node;
	node->control = ctl;
	snprintf(ctl->path, sizeof(ctl->path), "%s/control.sock", node->run_dir);
	r = ck_ipc_unix_listen(ctl->path, 16, &fd);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot listen on control socket path=%s: %s", ctl->path,
		       ck_strerror(r));
		return r;
	}
	ctl->listener = ck_ipc_listener_new(node->base, fd, sup_control_accept, ctl);
	if (!ctl->listener)
		return -ENOMEM;
	r = sup_admin_start(ctl);
	if (r < 0)
		return r;
	ck_log(CK_LOG_INFO, "control socket path=%s admin=http://%s/status", ctl->path,
	       node->cfg.admin_listen);
	return 0;
}

void sup_control_stop(sup_node_t *node)
{
	sup_control_t *ctl = node->control;

	if (!ctl)
		return;
	for (int i = 0; i < SUP_CONTROL_CONNS_MAX; i++) {
		if (ctl->conns[i])
			ck_ipc_conn_close(ctl->conns[i]);
	}
	if (ctl->listener) {
		ck_ipc_listener_free(ctl->listener);
		(void)unlink(ctl->path);
	}
	/* Waiting scrapes first: evhttp_free() frees their requests. */
	sup_metrics_free(ctl->metrics);
	sup_admin_gate_stop();
	if (ctl->http)
		evhttp_free(ctl->http);
	sup_admin_gate_release();
	free(ctl);
	node->control = NULL;
}
