/*
 * kfk_loop.c: the libevent shell of chronik-kafka-frontend (see kfk_loop.h).
 *
 * Owned by kafka-frontend. The shared shell (event base, signals, sockets
 * passed by name or bound standalone, neighbour clients, READY=1/STATUS=)
 * is common/ck_daemon; this file wires the Kafka server (kfk_srv.c) into
 * it. The "kafka" socket comes from the supervisor; standalone (no
 * LISTEN_FDS) the frontend binds [listeners] kafka itself. The neighbours
 * (walwriter, raftd, replicator) reconnect by themselves whenever one
 * restarts; requests in flight to a lost neighbour fail with retriable
 * Kafka errors (kfk_peers.c).
 * Not for: the Kafka protocol (kfk_srv.c and the kfk_h_*.c handlers).
 */
#include "kfk_loop.h"

#include <stdio.h>

#include <event2/event.h>

#include "ck_daemon.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_srv.h"

#define KFK_ROLE "broker"

typedef struct {
	const ck_config_t *cfg;
	ck_daemon_t *d;
	kfk_srv_t *srv;
} kfk_loop_t;

/* SIGTERM or the supervisor gone: answer what is in flight, then leave. */
static void kfk_loop_stop(void *arg)
{
	kfk_loop_t *l = arg;

	if (l->srv)
		kfk_srv_stop(l->srv);
	else
		(void)event_base_loopexit(ck_daemon_base(l->d), NULL);
}

static int kfk_loop_setup(kfk_loop_t *l)
{
	const ck_daemon_opts_t opts = {
	    .name = "kafka-frontend", .cfg = l->cfg, .on_stop = kfk_loop_stop, .arg = l};
	char what[2 * CK_CONFIG_ADDR_MAX + 64];
	int r;

	r = ck_daemon_new(&opts, &l->d);
	if (r < 0)
		return r;
	r = kfk_srv_new(l->d, l->cfg, &l->srv);
	if (r < 0)
		return r;
	(void)snprintf(what, sizeof(what), "serving Kafka clients on %s (advertised %s:%d)",
	               l->cfg->kafka_listen, l->srv->adv_host, (int)l->srv->adv_port);
	ck_daemon_set_status(l->d, what, KFK_ROLE);
	return 0;
}

int kfk_loop_run(const ck_config_t *cfg)
{
	kfk_loop_t l = {.cfg = cfg};
	int r;

	r = kfk_loop_setup(&l);
	if (r == 0) {
		ck_log(CK_LOG_INFO, "ready node_id=%d kafka=%s role=%s", cfg->node_id,
		       cfg->kafka_listen, KFK_ROLE);
		ck_daemon_run(l.d);
	}
	kfk_srv_free(l.srv);
	kfk_arena_cache_drain();
	return ck_daemon_exit(l.d, "kafka-frontend", r);
}
