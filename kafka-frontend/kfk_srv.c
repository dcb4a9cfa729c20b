/*
 * kfk_srv.c: the Kafka server object of chronik-kafka-frontend (shell):
 * settings, the listening socket, the idle sweep (which also gives freed
 * heap back to the kernel), start and stop.
 *
 * Owned by kafka-frontend. kfk_loop.c creates one server on its event base
 * with the "kafka" socket the supervisor passed; everything else hangs off
 * it (connections, neighbours, partitions, the metadata cache).
 * Not for: signals, readiness (kfk_loop.c), protocol work (handlers).
 */
#define CK_LOG_SUBSYSTEM "server"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
/* The idle sweep runs every quarter of the idle timeout, within these. */
#define KFK_SWEEP_INTERVAL_MS_MIN 100
#define KFK_SWEEP_INTERVAL_MS_MAX 10000

void kfk_settings_from_config(const ck_config_t *cfg, kfk_settings_t *ret)
{
	ret->request_bytes_max = (size_t)cfg->kafka_max_request_bytes;
	ret->idle_timeout_ms = (uint64_t)cfg->kafka_idle_timeout_ms;
	ret->auto_create = cfg->kafka_auto_create_topics;
	ret->num_partitions = cfg->kafka_num_partitions;
	ret->default_rf = (int16_t)cfg->kafka_default_replication_factor;
	ret->request_timeout_ms = cfg->kafka_request_timeout_ms;
	ret->pipeline_max = (size_t)cfg->kafka_max_inflight_requests;
	ret->out_bytes_max = (uint64_t)cfg->kafka_max_queued_response_bytes;
	ret->response_bytes_max = (size_t)cfg->kafka_max_response_bytes;
	ret->in_bytes_max = (uint64_t)cfg->kafka_max_inflight_request_bytes;
	ret->rx_budget = (uint64_t)cfg->kafka_queued_max_request_bytes;
	ret->resp_budget = (uint64_t)cfg->kafka_queued_max_response_bytes;
	ret->drain_ms = (uint64_t)cfg->kafka_drain_timeout_ms;
	ret->group_min_session_ms = cfg->kafka_group_min_session_ms;
	ret->group_max_session_ms = cfg->kafka_group_max_session_ms;
	ret->group_initial_delay_ms = cfg->kafka_group_initial_delay_ms;
	ret->group_max_size = cfg->kafka_group_max_size;
	ret->offsets_retention_ms = cfg->kafka_offsets_retention_ms;
	ret->offsets_check_ms = cfg->kafka_offsets_check_ms;
}

static void kfk_srv_accept(int fd, void *arg)
{
	kfk_conn_accept(arg, fd);
}

/* Free heap beyond this goes back to the kernel at the next sweep: after a
 * load glibc keeps the pages of freed chunks that are not at the top of the
 * heap, and the process's RSS stayed well above idle (18 MB after a 43 MB
 * peak, against 4 MB idle; 6-8 MB with the trim). */
#define KFK_TRIM_FREE_BYTES (1u << 20)

static void kfk_srv_trim(void)
{
	struct mallinfo2 mi = mallinfo2();

	if (mi.fordblks > KFK_TRIM_FREE_BYTES)
		(void)malloc_trim(0);
}

static void kfk_srv_sweep(evutil_socket_t fd, short what, void *arg)
{
	kfk_srv_t *s = arg;

	(void)fd;
	(void)what;
	kfk_conns_sweep(s, ck_clock_mono_ms());
	kfk_srv_trim();
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

/* How many client connections fit in this process's fds: all but a
 * quarter (at least 32, at most 1024) kept for logs, IPC and accepting. */
static size_t kfk_conns_max_from_rlimit(void)
{
	struct rlimit rl;
	rlim_t reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (rlim_t)1 << 30)
		return (size_t)1 << 30;
	reserve = CK_MAX(CK_MIN(rl.rlim_cur / 4, (rlim_t)1024), (rlim_t)32);
	return rl.rlim_cur > reserve + 16 ? (size_t)(rl.rlim_cur - reserve) : 16;
}

int kfk_srv_new(ck_daemon_t *d, const ck_config_t *cfg, kfk_srv_t **ret)
{
	kfk_srv_t *s = calloc(1, sizeof(*s));
	struct event_base *base = ck_daemon_base(d);
	uint64_t sweep_ms;
	struct timeval tv;
	int r = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->base = base;
	s->cfg = cfg;
	kfk_settings_from_config(cfg, &s->set);
	s->meta_caught_up = cfg->peer_count <= 1;
	/* Without an idle timeout the sweep still cuts slow requests that
	 * hold request memory others wait for (kfk_conns_sweep). */
	sweep_ms = s->set.idle_timeout_ms ? s->set.idle_timeout_ms / 4 : KFK_SWEEP_INTERVAL_MS_MAX;
	sweep_ms = sweep_ms < KFK_SWEEP_INTERVAL_MS_MIN ? KFK_SWEEP_INTERVAL_MS_MIN
	         : sweep_ms > KFK_SWEEP_INTERVAL_MS_MAX ? KFK_SWEEP_INTERVAL_MS_MAX
	                                                : sweep_ms;
	tv.tv_sec = (time_t)(sweep_ms / 1000);
	tv.tv_usec = (suseconds_t)(sweep_ms % 1000) * 1000;
	kfk_tcfg_defaults_from_config(cfg, &s->tdefs);
	kfk_srv_advertised(s);
	ck_rand_seed(&s->rand, ck_rand_os_seed());
	s->scratch_len = KFK_SCRATCH_BYTES;
	s->scratch = malloc(s->scratch_len);
	s->sweep_ev = event_new(base, -1, EV_PERSIST, kfk_srv_sweep, s);
	if (!s->scratch || !s->sweep_ev)
		goto fail;
	(void)event_add(s->sweep_ev, &tv);
	r = kfk_groups_start(s);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	s->conns_max = kfk_conns_max_from_rlimit();
	kfk_meta_refresh(s);
	r = kfk_peers_start(s, d);
	if (r < 0)
		goto fail;
	r = ck_daemon_listen_tcp(d, "kafka", cfg->kafka_listen, kfk_srv_accept, s);
	if (r < 0)
		goto fail;
	ck_log(CK_LOG_INFO,
	       "kafka server ready advertised=%s:%d auto_create=%s num_partitions=%d "
	       "default_replication_factor=%d max_request_bytes=%zu idle_timeout_ms=%" PRIu64,
	       s->adv_host, (int)s->adv_port, s->set.auto_create ? "true" : "false",
	       (int)s->set.num_partitions, (int)s->set.default_rf, s->set.request_bytes_max,
	       s->set.idle_timeout_ms);
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
	/* First: its jobs read requests' bytes. */
	ck_worker_free(s->worker);
	kfk_groups_free(s);
	kfk_pids_free(s);
	kfk_conns_close_all(s);
	kfk_peers_stop(s);
	kfk_props_free(s);
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
	kfk_groups_stop(s);
	s->stop_deadline_ms = ck_clock_mono_ms() + s->set.drain_ms;
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
