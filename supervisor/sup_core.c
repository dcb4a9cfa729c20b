/*
 * sup_core.c: the supervisor's pure core (see sup_core.h).
 *
 * Owned by chronik-server. Invariant of sup_policy_t: the ring holds at most
 * burst + 1 crash times, oldest at head, all within the window of the most
 * recent call. No syscalls, no clock, no logging here: the shell (sup_loop.c)
 * acts on the results and logs them.
 */
#include "sup_core.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ck_notify.h"

static const char *const sup_state_names[SUP_STATE_COUNT] = {
    [SUP_STATE_STOPPED] = "stopped", [SUP_STATE_STARTING] = "starting",
    [SUP_STATE_READY] = "ready",     [SUP_STATE_STOPPING] = "stopping",
    [SUP_STATE_BACKOFF] = "backoff", [SUP_STATE_FAILED] = "failed",
};

const char *sup_state_name(sup_state_t s)
{
	if ((unsigned)s >= SUP_STATE_COUNT)
		return "?";
	return sup_state_names[s];
}

/* Rows: from; bits: legal targets. */
#define B(s) (1u << (s))
static const unsigned sup_state_edges[SUP_STATE_COUNT] = {
    [SUP_STATE_STOPPED] = B(SUP_STATE_STARTING),
    /* STARTING -> STOPPED/FAILED/BACKOFF: it died before READY=1. */
    [SUP_STATE_STARTING] = B(SUP_STATE_READY) | B(SUP_STATE_STOPPING) | B(SUP_STATE_BACKOFF) |
                           B(SUP_STATE_FAILED) | B(SUP_STATE_STOPPED),
    [SUP_STATE_READY] =
        B(SUP_STATE_STOPPING) | B(SUP_STATE_BACKOFF) | B(SUP_STATE_FAILED) | B(SUP_STATE_STOPPED),
    /* STOPPING -> BACKOFF: stopped for missing its ready timeout. */
    [SUP_STATE_STOPPING] = B(SUP_STATE_STOPPED) | B(SUP_STATE_BACKOFF) | B(SUP_STATE_FAILED),
    [SUP_STATE_BACKOFF] = B(SUP_STATE_STARTING) | B(SUP_STATE_STOPPED),
    [SUP_STATE_FAILED] = 0,
};
#undef B

bool sup_state_transition_ok(sup_state_t from, sup_state_t to)
{
	if ((unsigned)from >= SUP_STATE_COUNT || (unsigned)to >= SUP_STATE_COUNT)
		return false;
	return (sup_state_edges[from] >> to) & 1u;
}

sup_exit_kind_t sup_exit_classify(int wstatus)
{
	if (WIFEXITED(wstatus)) {
		if (WEXITSTATUS(wstatus) == 0)
			return SUP_EXIT_STOPPED;
		if (WEXITSTATUS(wstatus) == 2)
			return SUP_EXIT_FATAL;
	}
	return SUP_EXIT_CRASH;
}

void sup_exit_describe(int wstatus, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (WIFEXITED(wstatus)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
	} else if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		const char *abbrev = sigabbrev_np(sig);

		snprintf(buf, len, "killed by signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
		         WCOREDUMP(wstatus) ? ", core dumped" : "");
	} else {
		snprintf(buf, len, "unknown wait status 0x%x", (unsigned)wstatus);
	}
}

void sup_policy_init(sup_policy_t *p)
{
	memset(p, 0, sizeof(*p));
}

bool sup_policy_cfg_sanitize(sup_policy_cfg_t *cfg)
{
	sup_policy_cfg_t before = *cfg;

	if (cfg->burst > SUP_BURST_MAX)
		cfg->burst = SUP_BURST_MAX;
	if (cfg->backoff_initial_ms == 0)
		cfg->backoff_initial_ms = 1;
	if (cfg->backoff_max_ms < cfg->backoff_initial_ms)
		cfg->backoff_max_ms = cfg->backoff_initial_ms;
	return memcmp(&before, cfg, sizeof(before)) != 0;
}

/* Records NOW_MS and forgets crashes older than the window. Returns how many
 * crashes the window holds. */
static uint32_t sup_policy_record(sup_policy_t *p, const sup_policy_cfg_t *cfg, uint64_t now_ms)
{
	const uint32_t cap = SUP_BURST_MAX + 1;

	if (p->count == cap) { /* full: the oldest can no longer matter */
		p->head = (p->head + 1) % cap;
		p->count--;
	}
	p->crash_ms[(p->head + p->count) % cap] = now_ms;
	p->count++;
	while (p->count > 0 && now_ms - p->crash_ms[p->head] >= cfg->window_ms) {
		p->head = (p->head + 1) % cap;
		p->count--;
	}
	/* Never keep more than burst + 1: enough to see the burst exceeded. */
	while (p->count > cfg->burst + 1) {
		p->head = (p->head + 1) % cap;
		p->count--;
	}
	return p->count;
}

static uint64_t sup_policy_delay(const sup_policy_cfg_t *cfg, uint32_t consecutive)
{
	uint64_t d = cfg->backoff_initial_ms;

	for (uint32_t i = 0; i < consecutive && d < cfg->backoff_max_ms; i++)
		d *= 2;
	return d < cfg->backoff_max_ms ? d : cfg->backoff_max_ms;
}

void sup_policy_on_exit(sup_policy_t *p, const sup_policy_cfg_t *cfg, sup_exit_kind_t kind,
                        uint64_t uptime_ms, uint64_t now_ms, sup_verdict_t *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (kind == SUP_EXIT_FATAL) {
		ret->decision = SUP_DECISION_FATAL;
		return;
	}
	if (uptime_ms >= cfg->stable_ms)
		p->consecutive = 0;
	ret->crashes_in_window = sup_policy_record(p, cfg, now_ms);
	if (ret->crashes_in_window > cfg->burst) {
		ret->decision = SUP_DECISION_GIVE_UP;
		return;
	}
	ret->decision = SUP_DECISION_RESTART;
	ret->delay_ms = sup_policy_delay(cfg, p->consecutive);
	if (p->consecutive < UINT32_MAX)
		p->consecutive++;
}

int sup_order_next_start(const sup_state_t *states, const bool *started, int n)
{
	for (int i = 0; i < n; i++) {
		if (!started[i])
			return i;
		if (states[i] != SUP_STATE_READY)
			return -1;
	}
	return -1;
}

int sup_order_next_stop(const sup_state_t *states, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		if (states[i] != SUP_STATE_STOPPED && states[i] != SUP_STATE_FAILED)
			return i;
	}
	return -1;
}

bool sup_order_all_ready(const sup_state_t *states, int n)
{
	for (int i = 0; i < n; i++) {
		if (states[i] != SUP_STATE_READY)
			return false;
	}
	return true;
}

bool sup_hang_check(sup_hang_t *h, uint64_t alive_ms, uint64_t now_ms, uint64_t kill_ms)
{
	uint64_t gap =
	    h->last_check_ms && now_ms > h->last_check_ms ? now_ms - h->last_check_ms : 0;
	bool on_time = h->last_check_ms != 0 && gap <= SUP_HANG_CHECK_LATE_MS;

	h->last_check_ms = now_ms;
	if (alive_ms == 0 || now_ms < alive_ms + SUP_HANG_QUIET_MS || !on_time) {
		h->watched_ms = 0;
		return false;
	}
	/* Only the silence past SUP_HANG_QUIET_MS is new at the first count. */
	h->watched_ms += gap < now_ms - alive_ms - SUP_HANG_QUIET_MS
	                     ? gap
	                     : now_ms - alive_ms - SUP_HANG_QUIET_MS;
	return kill_ms > 0 && h->watched_ms + SUP_HANG_QUIET_MS >= kill_ms;
}

/* Parses a decimal int field; false when absent or malformed. */
static bool sup_notify_int(const char *msg, const char *key, int *ret)
{
	char v[32], *end;
	long x;

	if (!ck_notify_field(msg, key, v, sizeof(v)))
		return false;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < INT32_MIN || x > INT32_MAX)
		return false;
	*ret = (int)x;
	return true;
}

/* Parses a decimal unsigned 64-bit field; false when absent or malformed. */
static bool sup_notify_u64(const char *msg, const char *key, uint64_t *ret)
{
	char v[32], *end;
	unsigned long long x;

	if (!ck_notify_field(msg, key, v, sizeof(v)) || v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end)
		return false;
	*ret = (uint64_t)x;
	return true;
}

/* True when KEY is present with value exactly "1". */
static bool sup_notify_flag(const char *msg, const char *key)
{
	char v[4];

	return ck_notify_field(msg, key, v, sizeof(v)) && !strcmp(v, "1");
}

int sup_notify_parse(const char *msg, sup_notify_t *ret)
{
	int v;

	memset(ret, 0, sizeof(*ret));
	if (!msg || !strchr(msg, '='))
		return -EINVAL;
	ret->ready = sup_notify_flag(msg, "READY");
	ret->stopping = sup_notify_flag(msg, "STOPPING");
	ret->reloading = sup_notify_flag(msg, "RELOADING");
	ret->watchdog = sup_notify_flag(msg, "WATCHDOG");
	ret->drained = sup_notify_flag(msg, "CHRONIK_DRAINED");
	ret->has_status = ck_notify_field(msg, "STATUS", ret->status, sizeof(ret->status));
	ret->has_role = ck_notify_field(msg, "CHRONIK_ROLE", ret->role, sizeof(ret->role));
	if (sup_notify_int(msg, "ERRNO", &v)) {
		ret->has_errno = true;
		ret->errno_value = v;
	}
	if (sup_notify_int(msg, "MAINPID", &v) && v > 0) {
		ret->has_main_pid = true;
		ret->main_pid = v;
	}
	ret->has_extend = sup_notify_u64(msg, "EXTEND_TIMEOUT_USEC", &ret->extend_usec);
	return 0;
}

/* ---- the data directory's identity ---- */

int sup_identity_format(char *buf, size_t len, const char *cluster, int32_t node,
                        const char *voters)
{
	int n = snprintf(buf, len,
	                 "# chronik: the node and cluster this data directory belongs to\n"
	                 "cluster_id=%s\nnode_id=%d\n%s%s%s",
	                 cluster, (int)node, voters ? "voters=" : "", voters ? voters : "",
	                 voters ? "\n" : "");

	return n < 0 || (size_t)n >= len ? -1 : n;
}

static int sup_id_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

int sup_voters_format(const int32_t *ids, int n, char *buf, size_t len)
{
	int32_t sorted[SUP_VOTERS_MAX];
	size_t used = 0;

	if (n < 1 || n > SUP_VOTERS_MAX || len == 0)
		return -1;
	memcpy(sorted, ids, (size_t)n * sizeof(*ids));
	qsort(sorted, (size_t)n, sizeof(*sorted), sup_id_cmp);
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%d", i ? "," : "", (int)sorted[i]);

		if (w < 0 || (size_t)w >= len - used)
			return -1;
		used += (size_t)w;
	}
	return (int)used;
}

int sup_voters_normalize(const char *text, char *out, size_t out_len)
{
	int32_t ids[SUP_VOTERS_MAX];
	int n = 0;
	const char *p = text;

	for (;;) {
		int64_t v = 0;
		const char *start = p;

		while (*p >= '0' && *p <= '9' && p - start < 11)
			v = v * 10 + (*p++ - '0');
		if (p == start || v < 1 || v > INT32_MAX || n == SUP_VOTERS_MAX)
			return -1;
		for (int i = 0; i < n; i++)
			if (ids[i] == (int32_t)v)
				return -1;
		ids[n++] = (int32_t)v;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			return -1;
	}
	return sup_voters_format(ids, n, out, out_len);
}

int sup_identity_voters(const char *text, size_t len, char *out, size_t out_len)
{
	size_t i = 0;
	int found = 0;

	while (i < len) {
		size_t end = i;

		while (end < len && text[end] != '\n')
			end++;
		if (end - i >= 7 && !memcmp(text + i, "voters=", 7)) {
			size_t vlen = end - i - 7;

			if (found || vlen == 0 || vlen >= out_len)
				return -1;
			for (size_t k = 0; k < vlen; k++) {
				char c = text[i + 7 + k];

				if (!(c >= '0' && c <= '9') && c != ',')
					return -1;
			}
			memcpy(out, text + i + 7, vlen);
			out[vlen] = '\0';
			found = 1;
		}
		i = end + 1;
	}
	return found;
}

int sup_identity_parse(const char *text, size_t len, char *cluster, size_t cluster_len,
                       int32_t *node)
{
	bool have_cluster = false, have_node = false;
	size_t i = 0;

	while (i < len) {
		size_t end = i, eq;

		while (end < len && text[end] != '\n')
			end++;
		for (eq = i; eq < end && text[eq] != '='; eq++)
			;
		if (end > i && text[i] != '#' && eq < end) {
			const char *v = text + eq + 1;
			size_t vlen = end - eq - 1;

			if (eq - i == 10 && !memcmp(text + i, "cluster_id", 10)) {
				if (have_cluster || vlen >= cluster_len || memchr(v, '\0', vlen))
					return -1;
				memcpy(cluster, v, vlen);
				cluster[vlen] = '\0';
				have_cluster = true;
			} else if (eq - i == 7 && !memcmp(text + i, "node_id", 7)) {
				int64_t id = 0;

				if (have_node || vlen == 0 || vlen > 10)
					return -1;
				for (size_t k = 0; k < vlen; k++) {
					if (v[k] < '0' || v[k] > '9')
						return -1;
					id = id * 10 + (v[k] - '0');
				}
				if (id < 1 || id > INT32_MAX)
					return -1;
				*node = (int32_t)id;
				have_node = true;
			}
		}
		i = end + 1;
	}
	return have_cluster && have_node ? 0 : -1;
}
