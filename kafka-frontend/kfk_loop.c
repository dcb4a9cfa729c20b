/*
 * kfk_loop.c: the libevent shell of chronik-kafka-frontend (see kfk_loop.h).
 *
 * Owned by kafka-frontend. The "kafka" socket comes from the supervisor;
 * standalone (no LISTEN_FDS) the frontend binds [listeners] kafka itself.
 * One ck_ipc_client per neighbour keeps a connection to run/walwriter.sock,
 * run/raftd.sock and run/replicator.sock, reconnecting with backoff whenever
 * a neighbour restarts; each change is reported as STATUS=.
 * Not for: the Kafka protocol (later: protocol/, handlers, groups).
 */
#include "kfk_loop.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_listen.h"
#include "ck_log.h"
#include "ck_notify.h"

#define KFK_ROLE "none"

typedef enum {
	KFK_PEER_WALWRITER = 0,
	KFK_PEER_RAFTD,
	KFK_PEER_REPLICATOR,
	KFK_PEER_COUNT,
} kfk_peer_t;

static const char *const kfk_peer_names[KFK_PEER_COUNT] = {"walwriter", "raftd", "replicator"};

typedef struct kfk_loop kfk_loop_t;

typedef struct {
	kfk_loop_t *loop;
	kfk_peer_t id;
	ck_ipc_client_t *client;
} kfk_peer_conn_t;

struct kfk_loop {
	struct event_base *base;
	const ck_config_t *cfg;
	ck_ipc_listener_t *kafka_listener;
	kfk_peer_conn_t peers[KFK_PEER_COUNT];
	struct event *sig_evs[3];
};

/* Tells the supervisor what this process serves; READY=1 travels in the
 * same datagram, so nobody sees the process ready without its status. */
static void kfk_loop_status(kfk_loop_t *l, bool ready)
{
	char peers[128] = "";
	size_t len = 0;

	for (int i = 0; i < KFK_PEER_COUNT; i++) {
		bool up = l->peers[i].client && ck_ipc_client_connected(l->peers[i].client);

		len += (size_t)snprintf(peers + len, sizeof(peers) - len, "%s%s %s", i ? ", " : "",
		                        kfk_peer_names[i], up ? "connected" : "connecting");
		if (len >= sizeof(peers))
			break;
	}
	(void)ck_notifyf("%sSTATUS=kafka-frontend: Kafka protocol not implemented yet (role: %s); "
	                 "%s\nCHRONIK_ROLE=%s",
	                 ready ? "READY=1\n" : "", KFK_ROLE, peers, KFK_ROLE);
}

/* Kafka clients: nothing to serve yet, so a polite FIN instead of a reset. */
static void kfk_kafka_accept(int fd, void *arg)
{
	(void)arg;
	ck_log(CK_LOG_DEBUG, "kafka connection closed: protocol not implemented yet");
	(void)shutdown(fd, SHUT_WR);
	(void)close(fd);
}

static void kfk_peer_connect(ck_ipc_client_t *cl, void *arg)
{
	kfk_peer_conn_t *p = arg;

	(void)cl;
	ck_log(CK_LOG_INFO, "connected to %s", kfk_peer_names[p->id]);
	kfk_loop_status(p->loop, false);
}

static void kfk_peer_frame(ck_ipc_client_t *cl, const uint8_t *data, size_t len, void *arg)
{
	kfk_peer_conn_t *p = arg;

	(void)cl;
	(void)data;
	ck_log(CK_LOG_DEBUG, "frame from %s ignored bytes=%zu", kfk_peer_names[p->id], len);
}

static void kfk_peer_disconnect(ck_ipc_client_t *cl, int err, void *arg)
{
	kfk_peer_conn_t *p = arg;

	(void)cl;
	ck_log(CK_LOG_INFO, "%s connection lost: %s", kfk_peer_names[p->id],
	       err ? ck_strerror(err) : "closed");
	kfk_loop_status(p->loop, false);
}

static const ck_ipc_client_handlers_t kfk_peer_handlers = {
    .on_connect = kfk_peer_connect,
    .on_frame = kfk_peer_frame,
    .on_disconnect = kfk_peer_disconnect,
};

static void kfk_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	kfk_loop_t *l = arg;

	(void)what;
	if (sig == SIGHUP) {
		int r = ck_log_reopen();
		if (r < 0)
			ck_log(CK_LOG_WARN, "cannot reopen log: %s", ck_strerror(r));
		return;
	}
	ck_log(CK_LOG_INFO, "stopping signal=SIG%s", sigabbrev_np((int)sig));
	(void)ck_notify("STOPPING=1");
	(void)event_base_loopexit(l->base, NULL);
}

static int kfk_loop_peers(kfk_loop_t *l)
{
	char path[PATH_MAX + 32];

	for (int i = 0; i < KFK_PEER_COUNT; i++) {
		kfk_peer_conn_t *p = &l->peers[i];

		if (snprintf(path, sizeof(path), "%s/run/%s.sock", l->cfg->data_dir,
		             kfk_peer_names[i]) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		p->loop = l;
		p->id = (kfk_peer_t)i;
		p->client = ck_ipc_client_new(l->base, path, (size_t)l->cfg->ipc_frame_max_bytes,
		                              &kfk_peer_handlers, p);
		if (!p->client)
			return -ENOMEM;
	}
	return 0;
}

static int kfk_loop_setup(kfk_loop_t *l)
{
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
	int fd, r;

	l->base = event_base_new();
	if (!l->base)
		return -ENOMEM;
	for (int i = 0; i < 3; i++) {
		l->sig_evs[i] = evsignal_new(l->base, sigs[i], kfk_signal_cb, l);
		if (!l->sig_evs[i] || evsignal_add(l->sig_evs[i], NULL) < 0)
			return -ENOMEM;
	}
	r = ck_listen_watch_supervisor(l->base, NULL, NULL);
	if (r < 0)
		return r;
	r = ck_listen_fd_or_tcp("kafka", l->cfg->kafka_listen, 1024, &fd);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot listen on kafka addr=%s: %s", l->cfg->kafka_listen,
		       ck_strerror(r));
		return r;
	}
	l->kafka_listener = ck_ipc_listener_new(l->base, fd, kfk_kafka_accept, l);
	if (!l->kafka_listener)
		return -ENOMEM;
	return kfk_loop_peers(l);
}

static void kfk_loop_free(kfk_loop_t *l)
{
	for (int i = 0; i < KFK_PEER_COUNT; i++) {
		if (l->peers[i].client)
			ck_ipc_client_free(l->peers[i].client);
	}
	if (l->kafka_listener)
		ck_ipc_listener_free(l->kafka_listener);
	ck_listen_unwatch_supervisor();
	for (int i = 0; i < 3; i++) {
		if (l->sig_evs[i])
			event_free(l->sig_evs[i]);
	}
	if (l->base)
		event_base_free(l->base);
}

int kfk_loop_run(const ck_config_t *cfg)
{
	kfk_loop_t l = {.cfg = cfg};
	int r;

	(void)signal(SIGPIPE, SIG_IGN);
	r = kfk_loop_setup(&l);
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "cannot start: %s", ck_strerror(r));
		(void)ck_notifyf("STATUS=kafka-frontend: cannot start: %s", ck_strerror(r));
		kfk_loop_free(&l);
		return CK_EXIT_RESTART;
	}
	ck_log(CK_LOG_INFO, "ready node_id=%d kafka=%s role=%s", cfg->node_id, cfg->kafka_listen,
	       KFK_ROLE);
	kfk_loop_status(&l, true);
	(void)event_base_dispatch(l.base);
	kfk_loop_free(&l);
	ck_log(CK_LOG_INFO, "stopped");
	return CK_EXIT_STOPPED;
}
