/*
 * kfk_srv.c: the Kafka server object of chronik-kafka-frontend (shell):
 * settings, the listening socket, the idle sweep, start and stop.
 *
 * Owned by kafka-frontend. kfk_loop.c creates one server on its event base
 * with the "kafka" socket the supervisor passed; everything else hangs off
 * it (connections, neighbours, partitions, the metadata cache).
 * Not for: signals, readiness (kfk_loop.c), protocol work (handlers).
 */
#define CK_LOG_SUBSYSTEM "server"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "ck_clock.h"
#include "ck_daemon.h"
#include "ck_err.h"
#include "ck_log.h"
#include "ck_notify.h"
#include "kfk_admin_core.h"
#include "kfk_srv.h"

#define KFK_SCRATCH_BYTES     ((size_t)64 << 10)
#define KFK_SWEEP_INTERVAL_MS 10000

static bool kfk_env_bool(const char *name, bool dflt)
{
	const char *v = getenv(name);

	if (!v || !v[0])
		return dflt;
	if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
		return true;
	if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
		return false;
	ck_log(CK_LOG_WARN, "ignoring %s=%s: expected true or false", name, v);
	return dflt;
}

static int32_t kfk_env_int(const char *name, int32_t dflt, int32_t min, int32_t max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !v[0])
		return dflt;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max) {
		ck_log(CK_LOG_WARN, "ignoring %s=%s: expected an integer in [%d, %d]", name, v,
		       (int)min, (int)max);
		return dflt;
	}
	return (int32_t)n;
}

void kfk_settings_load(kfk_settings_t *s)
{
	s->request_bytes_max = KFK_REQUEST_BYTES_MAX_DEFAULT;
	s->idle_timeout_ms = KFK_IDLE_TIMEOUT_MS_DEFAULT;
	s->auto_create = kfk_env_bool("CHRONIK_AUTO_CREATE_TOPICS_ENABLE", KFK_AUTO_CREATE_DEFAULT);
	s->num_partitions = kfk_env_int("CHRONIK_NUM_PARTITIONS", KFK_NUM_PARTITIONS_DEFAULT, 1,
	                                KFK_PARTITIONS_MAX);
	s->default_rf = KFK_DEFAULT_REPLICATION_FACTOR;
}

static void kfk_srv_accept(int fd, void *arg)
{
	kfk_conn_accept(arg, fd);
}

static void kfk_srv_sweep(evutil_socket_t fd, short what, void *arg)
{
	kfk_srv_t *s = arg;

	(void)fd;
	(void)what;
	kfk_conns_sweep(s, ck_clock_mono_ms());
}

/* The host:port clients are told to connect to. */
static void kfk_srv_advertised(kfk_srv_t *s)
{
	const char *addr =
	    s->cfg->kafka_advertised[0] ? s->cfg->kafka_advertised : s->cfg->kafka_listen;
	uint16_t port = 0;

	if (ck_config_split_addr(addr, s->adv_host, sizeof(s->adv_host), &port) < 0)
		(void)snprintf(s->adv_host, sizeof(s->adv_host), "127.0.0.1");
	if (!strcmp(s->adv_host, "0.0.0.0") || !strcmp(s->adv_host, "::")) {
		if (gethostname(s->adv_host, sizeof(s->adv_host)) < 0)
			(void)snprintf(s->adv_host, sizeof(s->adv_host), "127.0.0.1");
		s->adv_host[sizeof(s->adv_host) - 1] = '\0';
	}
	s->adv_port = port;
}

int kfk_srv_new(ck_daemon_t *d, const ck_config_t *cfg, kfk_srv_t **ret)
{
	kfk_srv_t *s = calloc(1, sizeof(*s));
	struct timeval tv = {KFK_SWEEP_INTERVAL_MS / 1000, 0};
	struct event_base *base = ck_daemon_base(d);
	int r = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->base = base;
	s->cfg = cfg;
	kfk_settings_load(&s->set);
	kfk_tcfg_defaults_from_config(cfg, &s->tdefs);
	kfk_srv_advertised(s);
	ck_rand_seed(&s->rand, ck_rand_os_seed());
	s->scratch_len = KFK_SCRATCH_BYTES;
	s->scratch = malloc(s->scratch_len);
	s->sweep_ev = event_new(base, -1, EV_PERSIST, kfk_srv_sweep, s);
	if (!s->scratch || !s->sweep_ev)
		goto fail;
	(void)event_add(s->sweep_ev, &tv);
	kfk_meta_refresh(s);
	r = kfk_peers_start(s, d);
	if (r < 0)
		goto fail;
	r = ck_daemon_listen_tcp(d, "kafka", cfg->kafka_listen, kfk_srv_accept, s);
	if (r < 0)
		goto fail;
	ck_log(CK_LOG_INFO,
	       "kafka server ready advertised=%s:%d auto_create=%s num_partitions=%d "
	       "request_max_bytes=%zu",
	       s->adv_host, (int)s->adv_port, s->set.auto_create ? "true" : "false",
	       (int)s->set.num_partitions, s->set.request_bytes_max);
	*ret = s;
	return 0;
fail:
	kfk_srv_free(s);
	return r;
}

void kfk_srv_free(kfk_srv_t *s)
{
	if (!s)
		return;
	kfk_conns_close_all(s);
	kfk_peers_stop(s);
	kfk_autos_free(s);
	kfk_parts_free_all(s);
	kfk_meta_close(s);
	if (s->sweep_ev)
		event_free(s->sweep_ev);
	if (s->stop_ev)
		event_free(s->stop_ev);
	free(s->scratch);
	free(s);
}

static void kfk_srv_stop_tick(evutil_socket_t fd, short what, void *arg)
{
	kfk_srv_t *s = arg;
	struct timeval tv = {0, 20 * 1000};
	size_t busy = kfk_conns_drain(s);
	uint64_t now = ck_clock_mono_ms();

	(void)fd;
	(void)what;
	if (busy == 0 || now >= s->stop_deadline_ms) {
		if (busy)
			ck_log(CK_LOG_WARN, "stopping with requests in flight connections=%zu",
			       busy);
		(void)event_base_loopexit(s->base, NULL);
		return;
	}
	(void)evtimer_add(s->stop_ev, &tv);
}

void kfk_srv_stop(kfk_srv_t *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->stop_deadline_ms = ck_clock_mono_ms() + KFK_STOP_DRAIN_MS;
	(void)ck_notify("STOPPING=1");
	ck_log(CK_LOG_INFO, "draining connections=%zu", s->nconns);
	s->stop_ev = evtimer_new(s->base, kfk_srv_stop_tick, s);
	if (!s->stop_ev) {
		(void)event_base_loopexit(s->base, NULL);
		return;
	}
	kfk_srv_stop_tick(-1, 0, s);
}

size_t kfk_srv_connections(const kfk_srv_t *s)
{
	return s->nconns;
}
