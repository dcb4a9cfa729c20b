/*
 * raftd_node_metrics.c: the node's side of chronik-raftd's metrics (see
 * raftd_metrics.h): the live state a scrape renders, and follower reports.
 *
 * Owned by raftd. The node keeps its raftd_metrics_t in struct raftd_node;
 * the node's hooks (raftd_node.c, raftd_node_net.c) count into it, this
 * file reads the node and the clock for it.
 * Not for: the metrics themselves (raftd_metrics.c), sockets.
 */
#include "ck_clock.h"
#include "raftd_metrics.h"
#include "raftd_node_int.h"

int raftd_node_metrics_render(const struct raftd_node *n, ck_buf_t *out)
{
	raftd_metrics_live_t live = {0};
	raftd_node_status_t ns;
	raft_status_t st;

	raftd_node_status(n, &ns);
	live.node_id = (uint64_t)n->cfg->node_id;
	live.applied_index = ns.applied_index;
	live.apply_lag = ns.lag;
	live.pending = ns.queued + ns.inflight;
	live.storage_full = n->storage_full;
	live.voters = n->voters;
	live.n_voters = n->n_voters;
	if (n->raft) {
		raft_status(n->raft, &st);
		live.started = true;
		live.role = st.role;
		live.term = st.term;
		live.leader = st.leader;
		live.commit_index = st.commit;
		live.last_index = st.last_index;
	}
	return raftd_metrics_render(&n->metrics, &live, ck_clock_mono_ms(), out);
}

void raftd_node_metrics_peer(struct raftd_node *n, uint64_t peer, uint64_t last_index)
{
	raft_status_t st;

	if (!n->raft || n->role != RAFT_LEADER)
		return;
	raft_status(n->raft, &st);
	raftd_metrics_follower_report(&n->metrics, peer, last_index, st.last_index,
	                              ck_clock_mono_ms());
}
