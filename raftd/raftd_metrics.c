/*
 * raftd_metrics.c: histograms, counters and the Prometheus text of
 * chronik-raftd's metadata service (see raftd_metrics.h).
 *
 * Owned by raftd. Pure: time enters as now_ms / latency_us arguments.
 * Invariants: a histogram's count is the sum of its buckets; follower
 * slots hold distinct non-zero ids.
 * Not for: reading the node's state (raftd_node_metrics.c), sockets.
 */
#include "raftd_metrics.h"

#include <stdio.h>
#include <string.h>

#include "ck_prom.h"
#include "raftd_apply.h"

static const struct {
	uint64_t us;
	const char *le; /* the same in seconds, as rendered */
} raftd_bounds[RAFTD_METRICS_BOUNDS] = {
    {50, "0.00005"}, {100, "0.0001"},  {200, "0.0002"},  {500, "0.0005"},  {1000, "0.001"},
    {2000, "0.002"}, {5000, "0.005"},  {10000, "0.01"},  {20000, "0.02"},  {50000, "0.05"},
    {100000, "0.1"}, {200000, "0.2"},  {500000, "0.5"},  {1000000, "1"},   {2000000, "2"},
    {5000000, "5"},  {10000000, "10"}, {20000000, "20"}, {30000000, "30"},
};

static const char *const raftd_op_names[RAFTD_OP_COUNT] = {
    "create_topic", "delete_topic",     "create_partitions",     "alter_configs", "register_broker",
    "fence_broker", "update_partition", "allocate_producer_ids", "noop",          "commit_offsets",
    "delete_group", "delete_offsets",   "store_group",           "other",
};

_Static_assert((int)RAFTD_OP_OTHER == (int)RAFTD_CMD_CASE_MAX, "one raftd_op_t per command field");

static const char *const raftd_result_names[RAFTD_RESULT_COUNT] = {"ok", "rejected", "error"};
static const char *const raftd_origin_names[RAFTD_ORIGIN_COUNT] = {"local", "follower"};

void raftd_metrics_init(raftd_metrics_t *m, bool commit_leader)
{
	memset(m, 0, sizeof(*m));
	m->commit_leader = commit_leader;
}

raftd_op_t raftd_metrics_op_of(const uint8_t *data, size_t len)
{
	int c = raftd_apply_cmd_case(data, len);

	/* Field numbers 1 .. RAFTD_CMD_CASE_MAX are the commands, in
	 * raftd_op_t order. */
	return c >= 1 && c <= RAFTD_CMD_CASE_MAX ? (raftd_op_t)(c - 1) : RAFTD_OP_OTHER;
}

const char *raftd_metrics_op_name(raftd_op_t op)
{
	return (unsigned)op < RAFTD_OP_COUNT ? raftd_op_names[op] : "other";
}

void raftd_metrics_proposed(raftd_metrics_t *m, bool remote)
{
	m->proposed[remote ? RAFTD_ORIGIN_FOLLOWER : RAFTD_ORIGIN_LOCAL]++;
}

void raftd_metrics_forward_sent(raftd_metrics_t *m)
{
	m->forwards_sent++;
}

static size_t raftd_hist_bucket(uint64_t us)
{
	size_t lo = 0, hi = RAFTD_METRICS_BOUNDS;

	/* The first bound >= US (Prometheus' le is inclusive). */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (raftd_bounds[mid].us < us)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void raftd_metrics_observe(raftd_metrics_t *m, raftd_op_t op, bool remote, int err,
                           int apply_result, uint64_t latency_us)
{
	raftd_result_t res = err < 0             ? RAFTD_RESULT_ERROR
	                     : apply_result != 0 ? RAFTD_RESULT_REJECTED
	                                         : RAFTD_RESULT_OK;
	raftd_hist_t *h;

	if ((unsigned)op >= RAFTD_OP_COUNT)
		op = RAFTD_OP_OTHER;
	h = &m->hist[op][remote ? RAFTD_ORIGIN_FOLLOWER : RAFTD_ORIGIN_LOCAL][res];
	h->buckets[raftd_hist_bucket(latency_us)]++;
	h->count++;
	h->sum_us += latency_us;
}

static bool raftd_role_campaigns(raft_role_t role)
{
	return role == RAFT_CANDIDATE || role == RAFT_PRE_CANDIDATE;
}

void raftd_metrics_soft_state(raftd_metrics_t *m, raft_role_t old_role, uint64_t old_leader,
                              raft_role_t role, uint64_t leader, uint64_t now_ms)
{
	if (raftd_role_campaigns(role) && !raftd_role_campaigns(old_role))
		m->elections++;
	if (leader != old_leader && leader != RAFT_NONE)
		m->leader_changes++;
	if (role == RAFT_LEADER && old_role != RAFT_LEADER) {
		memset(m->followers, 0, sizeof(m->followers));
		m->lead_start_ms = now_ms;
	}
}

static raftd_metrics_follower_t *raftd_follower_slot(raftd_metrics_t *m, uint64_t id)
{
	raftd_metrics_follower_t *free_slot = NULL;

	for (size_t i = 0; i < RAFT_VOTERS_MAX; i++) {
		if (m->followers[i].id == id)
			return &m->followers[i];
		if (!free_slot && m->followers[i].id == 0)
			free_slot = &m->followers[i];
	}
	if (free_slot)
		free_slot->id = id;
	return free_slot;
}

static const raftd_metrics_follower_t *raftd_follower_find(const raftd_metrics_t *m, uint64_t id)
{
	for (size_t i = 0; i < RAFT_VOTERS_MAX; i++) {
		if (m->followers[i].id == id)
			return &m->followers[i];
	}
	return NULL;
}

void raftd_metrics_follower_report(raftd_metrics_t *m, uint64_t id, uint64_t follower_last,
                                   uint64_t leader_last, uint64_t now_ms)
{
	raftd_metrics_follower_t *f;

	if (id == RAFT_NONE || !(f = raftd_follower_slot(m, id)))
		return;
	if (follower_last >= leader_last)
		f->caught_up_ms = now_ms;
	else if (f->seen && follower_last >= f->prev_leader_last)
		f->caught_up_ms = f->prev_ms;
	else if (!f->seen)
		f->caught_up_ms = m->lead_start_ms;
	f->match = follower_last < leader_last ? follower_last : leader_last;
	f->prev_ms = now_ms;
	f->prev_leader_last = leader_last;
	f->seen = true;
}

const raftd_hist_t *raftd_metrics_hist(const raftd_metrics_t *m, raftd_op_t op,
                                       raftd_origin_t origin, raftd_result_t result)
{
	if ((unsigned)op >= RAFTD_OP_COUNT || (unsigned)origin >= RAFTD_ORIGIN_COUNT ||
	    (unsigned)result >= RAFTD_RESULT_COUNT)
		return NULL;
	return &m->hist[op][origin][result];
}

uint64_t raftd_hist_bound_us(size_t i)
{
	return i < RAFTD_METRICS_BOUNDS ? raftd_bounds[i].us : UINT64_MAX;
}

uint64_t raftd_hist_quantile_us(const raftd_hist_t *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		q = 0;
	if (q > 1)
		q = 1;
	/* The rank-th smallest observation, 1-based. */
	rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank == 0)
		rank = 1;
	for (size_t i = 0; i <= RAFTD_METRICS_BOUNDS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return raftd_hist_bound_us(i);
	}
	return UINT64_MAX;
}

void raftd_metrics_follower_lag(const raftd_metrics_t *m, const raftd_metrics_live_t *live,
                                uint64_t id, uint64_t now_ms, uint64_t *ret_entries,
                                double *ret_seconds)
{
	const raftd_metrics_follower_t *f = raftd_follower_find(m, id);
	uint64_t match = f && f->seen ? f->match : 0;
	uint64_t since = f && f->seen ? f->caught_up_ms : m->lead_start_ms;

	*ret_entries = live->last_index > match ? live->last_index - match : 0;
	*ret_seconds = 0;
	if (*ret_entries && now_ms > since)
		*ret_seconds = (double)(now_ms - since) / 1000.0;
}

/* ---- rendering ---- */

#define RAFTD_LAT "chronik_raft_write_latency_seconds"

static void tx_hist(ck_prom_t *t, const raftd_metrics_t *m, raftd_op_t op, raftd_origin_t o,
                    raftd_result_t r)
{
	const raftd_hist_t *h = &m->hist[op][o][r];
	char labels[160];
	uint64_t cum = 0;

	snprintf(labels, sizeof(labels), "op=\"%s\",commit_mode=\"%s\",origin=\"%s\",result=\"%s\"",
	         raftd_op_names[op], m->commit_leader ? "leader" : "quorum", raftd_origin_names[o],
	         raftd_result_names[r]);
	for (size_t i = 0; i <= RAFTD_METRICS_BOUNDS; i++) {
		cum += h->buckets[i];
		ck_prom_printf(t, RAFTD_LAT "_bucket{%s,le=\"%s\"} %llu\n", labels,
		               i < RAFTD_METRICS_BOUNDS ? raftd_bounds[i].le : "+Inf",
		               (unsigned long long)cum);
	}
	ck_prom_printf(t, RAFTD_LAT "_sum{%s} %llu.%06llu\n", labels,
	               (unsigned long long)(h->sum_us / 1000000),
	               (unsigned long long)(h->sum_us % 1000000));
	ck_prom_printf(t, RAFTD_LAT "_count{%s} %llu\n", labels, (unsigned long long)h->count);
}

static void tx_histograms(ck_prom_t *t, const raftd_metrics_t *m)
{
	ck_prom_head(t, RAFTD_LAT, "histogram",
	             "Metadata write latency from proposal to answer (committed and applied here), "
	             "by operation, commit mode, origin and result");
	for (int op = 0; op < RAFTD_OP_COUNT; op++) {
		for (int o = 0; o < RAFTD_ORIGIN_COUNT; o++) {
			for (int r = 0; r < RAFTD_RESULT_COUNT; r++) {
				bool always = o == RAFTD_ORIGIN_LOCAL && r == RAFTD_RESULT_OK;

				/* Empty series beyond the local ok ones would only
				 * add lines: they appear with their first write. */
				if (always || m->hist[op][o][r].count)
					tx_hist(t, m, (raftd_op_t)op, (raftd_origin_t)o,
					        (raftd_result_t)r);
			}
		}
	}
}

static void tx_counters(ck_prom_t *t, const raftd_metrics_t *m)
{
	ck_prom_u64(t, "chronik_raft_writes_proposed_total", "counter",
	            "Metadata writes proposed by clients of this node",
	            m->proposed[RAFTD_ORIGIN_LOCAL]);
	ck_prom_u64(
	    t, "chronik_raft_forwards_sent_total", "counter",
	    "Metadata writes this follower forwarded to the leader (a write re-sent after a "
	    "leader change counts again)",
	    m->forwards_sent);
	ck_prom_u64(t, "chronik_raft_forwards_received_total", "counter",
	            "Metadata writes followers forwarded to this node as leader",
	            m->proposed[RAFTD_ORIGIN_FOLLOWER]);
	ck_prom_u64(t, "chronik_raft_elections_total", "counter",
	            "Elections this node started (became pre-candidate or candidate)",
	            m->elections);
	ck_prom_u64(t, "chronik_raft_leader_changes_total", "counter",
	            "Times this node learned of a new leader", m->leader_changes);
}

/* One lag gauge (SECONDS: the time, else the entries) per follower. */
static void tx_lag(ck_prom_t *t, const raftd_metrics_t *m, const raftd_metrics_live_t *live,
                   uint64_t now_ms, bool seconds)
{
	for (uint32_t i = 0; i < live->n_voters; i++) {
		uint64_t e;
		double s;

		if (live->voters[i] == live->node_id)
			continue;
		raftd_metrics_follower_lag(m, live, live->voters[i], now_ms, &e, &s);
		if (seconds)
			ck_prom_printf(
			    t, "chronik_raft_follower_lag_seconds{follower=\"%llu\"} %.3f\n",
			    (unsigned long long)live->voters[i], s);
		else
			ck_prom_printf(
			    t, "chronik_raft_follower_lag_entries{follower=\"%llu\"} %llu\n",
			    (unsigned long long)live->voters[i], (unsigned long long)e);
	}
}

static void tx_followers(ck_prom_t *t, const raftd_metrics_t *m, const raftd_metrics_live_t *live,
                         uint64_t now_ms)
{
	if (!live->started || live->role != RAFT_LEADER)
		return;
	ck_prom_head(
	    t, "chronik_raft_follower_lag_entries", "gauge",
	    "Leader only: entries of the leader's log a follower has not reported holding");
	tx_lag(t, m, live, now_ms, false);
	ck_prom_head(
	    t, "chronik_raft_follower_lag_seconds", "gauge",
	    "Leader only: seconds since a follower last held the leader's whole log (0 when "
	    "caught up)");
	tx_lag(t, m, live, now_ms, true);
}

static void tx_gauges(ck_prom_t *t, const raftd_metrics_t *m, const raftd_metrics_live_t *live)
{
	static const raft_role_t roles[] = {RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE,
	                                    RAFT_LEADER};

	ck_prom_head(t, "chronik_raft_commit_mode", "gauge",
	             "The metadata commit mode (1 for the mode in use)");
	ck_prom_printf(t, "chronik_raft_commit_mode{mode=\"quorum\"} %d\n",
	               m->commit_leader ? 0 : 1);
	ck_prom_printf(t, "chronik_raft_commit_mode{mode=\"leader\"} %d\n",
	               m->commit_leader ? 1 : 0);
	if (!live->started)
		return;
	ck_prom_u64(t, "chronik_raft_term", "gauge", "The current Raft term", live->term);
	ck_prom_u64(t, "chronik_raft_leader_id", "gauge", "The leader's node id (0: none known)",
	            live->leader);
	ck_prom_head(t, "chronik_raft_role", "gauge",
	             "This node's Raft role (1 for the current one)");
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		ck_prom_printf(t, "chronik_raft_role{role=\"%s\"} %d\n", raft_role_name(roles[i]),
		               live->role == roles[i]);
	ck_prom_u64(t, "chronik_raft_commit_index", "gauge", "The highest index known committed",
	            live->commit_index);
	ck_prom_u64(t, "chronik_raft_applied_index", "gauge", "The index applied to the local LMDB",
	            live->applied_index);
	ck_prom_u64(t, "chronik_raft_last_index", "gauge",
	            "The last index of the local metadata log", live->last_index);
	ck_prom_u64(t, "chronik_raft_apply_lag_entries", "gauge",
	            "Entries committed (as the leader says) not yet applied here", live->apply_lag);
	ck_prom_u64(t, "chronik_raft_proposals_pending", "gauge",
	            "Metadata writes waiting for their answer here", live->pending);
	ck_prom_u64(t, "chronik_node_data_disk_full", "gauge",
	            "Whether the data disk is too full for appends (the broker asks to be fenced)",
	            live->storage_full);
}

int raftd_metrics_render(const raftd_metrics_t *m, const raftd_metrics_live_t *live,
                         uint64_t now_ms, ck_buf_t *out)
{
	ck_prom_t t = {out, 0};

	ck_prom_u64(&t, "chronik_raft_up", "gauge", "Whether raftd answered the scrape", 1);
	tx_gauges(&t, m, live);
	tx_followers(&t, m, live, now_ms);
	tx_counters(&t, m);
	tx_histograms(&t, m);
	return t.err;
}
