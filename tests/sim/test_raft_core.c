/*
 * test_raft_core.c: focused tests of the pure Raft core of raftd
 * (raftd/raft_core.h), one scripted situation each: configuration checks,
 * elections with pre-vote, vote rules, leases, check-quorum, AppendEntries
 * (accept, reject hints, fast backtracking, conflict truncation, commit),
 * heartbeats, snapshots, leadership transfer, flow control, the Ready
 * contract, both commit modes, restarts, and hostile messages.
 */
#include <signal.h>

#include "ck_testlib.h"
#include "raft_test.h"

/* ---- helpers ---- */

/* Stores for N nodes without starting them (tests preload logs). */
static void rt_prepare(uint32_t n, rt_tweak_t tweak)
{
	rt_teardown();
	rt_n = n;
	rt_tweak = tweak;
	for (uint32_t i = 1; i <= n; i++) {
		sim_store_init(&rt_nodes[i].st);
		ck_rand_seed(&rt_nodes[i].rand, 2000 + i);
	}
}

static void rt_start_all(void)
{
	for (uint32_t i = 1; i <= rt_n; i++)
		rt_start(i, 0);
}

/* Delivers the next message in the network; returns it. */
static raft_msg_t rt_step_one(void)
{
	size_t k = rt_net.head++;
	raft_msg_t m;

	ck_assert_uint_lt(k, rt_net.n);
	m = rt_net.msgs[k];
	rt_deliver(&m, m.type == RAFT_MSG_SNAPSHOT ? &rt_net.snaps[k] : NULL);
	return m;
}

/* Starts an election on ID and delivers messages one by one until it
 * leads; what it sent as leader stays in the network. */
static void rt_elect_only(uint64_t id)
{
	ck_assert_int_eq(raft_campaign(rt_r(id)), 0);
	rt_drain(id, NULL);
	while (raft_role(rt_r(id)) != RAFT_LEADER) {
		size_t k = rt_net.head++;
		raft_msg_t m;

		ck_assert_uint_lt(k, rt_net.n);
		m = rt_net.msgs[k];
		if (!rt_cut[m.from] && !rt_cut[m.to])
			rt_deliver(&m, NULL);
	}
}

static bool rt_same_log(uint64_t a, uint64_t b)
{
	uint64_t ca, cb;
	uint64_t la = sim_store_last(&rt_nodes[a].st), lb = sim_store_last(&rt_nodes[b].st);

	return la == lb && sim_store_cum(&rt_nodes[a].st, la, &ca) &&
	       sim_store_cum(&rt_nodes[b].st, lb, &cb) && ca == cb;
}

static void tweak_no_pre_vote(raft_config_t *c)
{
	c->no_pre_vote = true;
	c->no_check_quorum = true;
}

static void tweak_leader_mode(raft_config_t *c)
{
	c->commit_mode = RAFT_COMMIT_LEADER;
}

static void tweak_one_entry(raft_config_t *c)
{
	c->append_entries_max = 1;
}

static void tweak_flow(raft_config_t *c)
{
	c->append_entries_max = 1;
	c->inflight_max = 2;
}

static void tweak_small_window(raft_config_t *c)
{
	c->window_entries_max = 4;
}

static void tweak_no_check_quorum(raft_config_t *c)
{
	c->no_check_quorum = true;
}

/* ---- configuration ---- */

START_TEST(test_init_rejects_bad_config)
{
	sim_store_t s;
	ck_rand_t rnd;
	raft_storage_t st;
	raft_t *r = NULL;
	raft_config_t c = {.id = 1, .voters = {1, 2, 3}, .n_voters = 3, .rand = &rnd};
	raft_config_t bad;
	raft_hard_state_t hs = {3, 9, 0};

	sim_store_init(&s);
	st = sim_store_storage(&s);
	ck_rand_seed(&rnd, 1);
	bad = c, bad.id = 0;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.id = 4;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.voters[2] = 2;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.n_voters = 0;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.election_ticks = 2, bad.heartbeat_ticks = 2;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.rand = NULL;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.msgs_max = 5;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.window_bytes_max = 100, bad.entry_bytes_max = 200;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	bad = c, bad.commit_mode = (raft_commit_mode_t)7;
	ck_assert_int_eq(raft_init(&r, &bad, NULL, &st, 0), CK_E_CONFIG);
	/* Durable state that cannot be: a vote for a stranger, a commit or
	 * an applied index past the log. */
	ck_assert_int_eq(raft_init(&r, &c, &hs, &st, 0), CK_E_CORRUPT);
	hs.vote = 2, hs.commit = 1;
	ck_assert_int_eq(raft_init(&r, &c, &hs, &st, 0), CK_E_CORRUPT);
	hs.commit = 0;
	ck_assert_int_eq(raft_init(&r, &c, &hs, &st, 5), CK_E_CORRUPT);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(raft_init(&r, &c, &hs, &st, 0), 0);
	ck_assert_int_eq(raft_role(r), RAFT_FOLLOWER);
	ck_assert_uint_eq(raft_leader(r), RAFT_NONE);
	raft_free(r);
	sim_store_free(&s);
}
END_TEST

/* ---- elections ---- */

START_TEST(test_single_node_elects_itself_and_commits)
{
	raft_status_t st;
	uint64_t idx;

	rt_cluster(1, NULL);
	rt_tick(1, 20); /* past any randomized timeout */
	st = rt_status(1);
	ck_assert_int_eq(st.role, RAFT_LEADER);
	ck_assert_uint_eq(st.term, 1);
	ck_assert_uint_eq(st.vote, 1);
	/* The new term's no-op, then the proposal, both applied. */
	idx = rt_propose(1, "hello");
	ck_assert_uint_eq(idx, 2);
	ck_assert_uint_eq(rt_nodes[1].st.applied, 2);
	ck_assert_uint_eq(sim_store_get(&rt_nodes[1].st, 1)->len, 0);
	ck_assert_mem_eq(sim_store_get(&rt_nodes[1].st, 2)->data, "hello", 5);
	ck_assert_uint_eq(rt_nodes[1].st.hs.commit, 2);
}
END_TEST

START_TEST(test_pre_vote_keeps_term_until_majority)
{
	const raft_msg_t *m;
	raft_status_t st;
	raft_msg_t resp;

	rt_cluster(3, NULL);
	rt_tick(1, 20);
	st = rt_status(1);
	ck_assert_int_eq(st.role, RAFT_PRE_CANDIDATE);
	ck_assert_uint_eq(st.term, 0); /* a pre-vote never bumps the term */
	ck_assert_uint_eq(rt_nodes[1].st.hs.term, 0);
	m = rt_find(&rt_net, RAFT_MSG_PRE_VOTE, 2);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->term, 1);
	ck_assert_ptr_nonnull(rt_find(&rt_net, RAFT_MSG_PRE_VOTE, 3));

	/* The receiver grants it without adopting the term either. */
	resp = *m;
	rt_box_clear(&rt_net);
	rt_deliver(&resp, NULL);
	m = rt_find(&rt_net, RAFT_MSG_PRE_VOTE_RESP, 1);
	ck_assert(!m->reject);
	ck_assert_uint_eq(m->term, 1);
	ck_assert_uint_eq(rt_status(2).term, 0);
	ck_assert_uint_eq(rt_status(2).vote, RAFT_NONE);
	rt_box_clear(&rt_net);

	/* One granted pre-vote (with the asked-for term) is a majority. */
	resp = rt_msg(RAFT_MSG_PRE_VOTE_RESP, 2, 1, 1);
	rt_deliver(&resp, NULL);
	st = rt_status(1);
	ck_assert_int_eq(st.role, RAFT_CANDIDATE);
	ck_assert_uint_eq(st.term, 1);
	ck_assert_uint_eq(rt_nodes[1].st.hs.vote, 1); /* persisted */
	m = rt_find(&rt_net, RAFT_MSG_VOTE, 3);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->term, 1);
	ck_assert(!m->transfer);
	rt_box_clear(&rt_net);

	resp = rt_msg(RAFT_MSG_VOTE_RESP, 3, 1, 1);
	rt_deliver(&resp, NULL);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_LEADER);
	/* The new leader appends a no-op of its term and sends it. */
	m = rt_find(&rt_net, RAFT_MSG_APPEND, 2);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n_entries, 1);
	ck_assert_uint_eq(m->entries[0].index, 1);
	ck_assert_uint_eq(m->entries[0].term, 1);
	ck_assert_uint_eq(m->entries[0].len, 0);
}
END_TEST

START_TEST(test_pre_vote_rejected_falls_back)
{
	raft_msg_t resp;

	rt_cluster(3, NULL);
	rt_tick(1, 20);
	rt_box_clear(&rt_net);
	resp = rt_msg(RAFT_MSG_PRE_VOTE_RESP, 2, 1, 0);
	resp.reject = true;
	rt_deliver(&resp, NULL);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_PRE_CANDIDATE);
	resp.from = 3;
	rt_deliver(&resp, NULL);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_FOLLOWER);
	ck_assert_uint_eq(rt_status(1).term, 0);
}
END_TEST

START_TEST(test_vote_requires_up_to_date_log)
{
	static const uint64_t terms[] = {1, 1, 2};
	raft_msg_t req;
	const raft_msg_t *resp;

	rt_prepare(3, NULL);
	rt_preload(2, terms, 3, 2);
	rt_start_all();

	/* Last term 1 < 2: rejected. */
	req = rt_msg(RAFT_MSG_VOTE, 1, 2, 3);
	req.index = 5, req.log_term = 1;
	rt_deliver(&req, NULL);
	resp = rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 1);
	ck_assert_ptr_nonnull(resp);
	ck_assert(resp->reject);
	ck_assert_uint_eq(rt_status(2).term, 3);
	ck_assert_uint_eq(rt_status(2).vote, RAFT_NONE);
	rt_box_clear(&rt_net);

	/* Same last term, shorter log: rejected. */
	req.index = 2, req.log_term = 2;
	rt_deliver(&req, NULL);
	ck_assert(rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 1)->reject);
	rt_box_clear(&rt_net);

	/* As long: granted, and only once per term. */
	req.index = 3;
	rt_deliver(&req, NULL);
	resp = rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 1);
	ck_assert(!resp->reject);
	ck_assert_uint_eq(resp->term, 3);
	ck_assert_uint_eq(rt_nodes[2].st.hs.vote, 1);
	rt_box_clear(&rt_net);
	req.from = 3;
	req.index = 9, req.log_term = 3;
	rt_deliver(&req, NULL);
	ck_assert(rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 3)->reject);
	/* A repeated request from the same candidate is granted again. */
	rt_box_clear(&rt_net);
	req.from = 1, req.index = 3, req.log_term = 2;
	rt_deliver(&req, NULL);
	ck_assert(!rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 1)->reject);
}
END_TEST

START_TEST(test_vote_is_persisted_in_the_ready_that_sends_it)
{
	raft_msg_t req = rt_msg(RAFT_MSG_VOTE, 1, 2, 4);
	raft_ready_t rd;

	rt_cluster(3, NULL);
	ck_assert_int_eq(raft_step(rt_r(2), &req), 0);
	ck_assert(raft_has_ready(rt_r(2)));
	ck_assert_int_eq(raft_ready(rt_r(2), &rd), 0);
	ck_assert(rd.has_hard_state);
	ck_assert_uint_eq(rd.hard_state.term, 4);
	ck_assert_uint_eq(rd.hard_state.vote, 1);
	ck_assert_uint_eq(rd.n_msgs, 1);
	ck_assert_int_eq(rd.msgs[0].type, RAFT_MSG_VOTE_RESP);
	ck_assert(!rd.msgs[0].reject);
	raft_advance(rt_r(2), &rd);
	ck_assert(!raft_has_ready(rt_r(2)));
}
END_TEST

START_TEST(test_restart_keeps_vote)
{
	raft_msg_t req = rt_msg(RAFT_MSG_VOTE, 1, 2, 5);

	rt_cluster(3, NULL);
	rt_deliver(&req, NULL);
	rt_crash(2);
	rt_box_clear(&rt_net);
	rt_start(2, 0);
	ck_assert_uint_eq(rt_status(2).term, 5);
	ck_assert_uint_eq(rt_status(2).vote, 1);
	req.from = 3;
	rt_deliver(&req, NULL);
	ck_assert(rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 3)->reject);
}
END_TEST

/* Entries of term 3 became durable, their hard state (term 1) did not:
 * the restarted node must not run below its log's term (its pre-votes
 * would ask for a term older than its own entries). */
START_TEST(test_restart_term_follows_log)
{
	static const uint64_t terms[] = {1, 3};
	const raft_msg_t *m;

	rt_prepare(3, NULL);
	rt_preload(1, terms, 2, 1);
	rt_start_all();
	ck_assert_uint_eq(rt_status(1).term, 3);
	ck_assert_uint_eq(rt_nodes[1].st.hs.term, 3);
	rt_box_clear(&rt_net);
	rt_tick(1, 20);
	m = rt_find(&rt_net, RAFT_MSG_PRE_VOTE, 2);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->term, 4);
	ck_assert_uint_eq(m->log_term, 3);
	(void)rt_run();
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_LEADER);
}
END_TEST

START_TEST(test_lease_ignores_votes_until_election_timeout)
{
	raft_msg_t req;
	uint64_t term;

	rt_cluster(3, NULL);
	rt_elect(1);
	term = rt_status(3).term;
	req = rt_msg(RAFT_MSG_VOTE, 2, 3, term + 1);
	req.index = rt_status(3).last_index, req.log_term = term;

	/* Node 3 heard from its leader just now: the request is ignored. */
	rt_deliver(&req, NULL);
	ck_assert_ptr_null(rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 2));
	ck_assert_uint_eq(rt_status(3).term, term);
	req.type = RAFT_MSG_PRE_VOTE;
	rt_deliver(&req, NULL);
	ck_assert_ptr_null(rt_find(&rt_net, RAFT_MSG_PRE_VOTE_RESP, 2));

	/* A leadership transfer overrides the lease. */
	req.type = RAFT_MSG_VOTE;
	req.transfer = true;
	rt_deliver(&req, NULL);
	ck_assert_ptr_nonnull(rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 2));
	ck_assert(!rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 2)->reject);
	ck_assert_uint_eq(rt_status(3).term, term + 1);
}
END_TEST

START_TEST(test_lease_expires_without_leader)
{
	raft_msg_t req;
	uint64_t term;

	rt_cluster(3, NULL);
	rt_elect(1);
	rt_box_clear(&rt_net);
	term = rt_status(3).term;
	/* No word from the leader for an election timeout (node 3's own
	 * pre-vote round may start meanwhile; it keeps the term). */
	rt_tick(3, 10);
	rt_box_clear(&rt_net);
	ck_assert_uint_eq(rt_status(3).term, term);
	req = rt_msg(RAFT_MSG_VOTE, 2, 3, term + 1);
	req.index = rt_status(3).last_index, req.log_term = term;
	rt_deliver(&req, NULL);
	ck_assert_ptr_nonnull(rt_find(&rt_net, RAFT_MSG_VOTE_RESP, 2));
	ck_assert_uint_eq(rt_status(3).term, term + 1);
}
END_TEST

/* leader_silent counts a follower's ticks since it last heard from its
 * leader (raftd stops naming a silent leader as the controller); a
 * heartbeat resets it, and a leader is never silent to itself. */
START_TEST(test_leader_silent_counts_ticks_without_leader)
{
	rt_cluster(3, NULL);
	rt_elect(1);
	rt_box_clear(&rt_net);
	ck_assert_uint_eq(rt_status(1).leader_silent, 0);
	ck_assert_uint_eq(rt_status(3).leader_silent, 0);
	rt_tick(3, 3);
	ck_assert_uint_eq(rt_status(3).leader, 1);
	ck_assert_uint_eq(rt_status(3).leader_silent, 3);
	/* The leader's heartbeat tick reaches node 3 again. */
	rt_tick(1, 1);
	(void)rt_run();
	ck_assert_uint_eq(rt_status(3).leader_silent, 0);
	rt_tick(1, 5);
	ck_assert_uint_eq(rt_status(1).leader_silent, 0);
}
END_TEST

/* The point of pre-vote: a node cut off keeps campaigning, but its term
 * stays put, so it cannot unseat a healthy leader when it comes back. */
START_TEST(test_pre_vote_partitioned_node_rejoins_quietly)
{
	uint64_t term;

	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	term = rt_status(1).term;
	rt_cut[3] = true;
	rt_rounds(200);
	ck_assert_uint_eq(rt_status(3).term, term);
	ck_assert_int_ne(raft_role(rt_r(3)), RAFT_LEADER);
	rt_cut[3] = false;
	rt_rounds(30);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_LEADER);
	ck_assert_uint_eq(rt_status(1).term, term);
	ck_assert_uint_eq(rt_status(3).leader, 1);
}
END_TEST

/* Without pre-vote the same story disrupts the cluster: the test above
 * would fail if pre-vote did nothing. */
START_TEST(test_without_pre_vote_rejoin_disrupts)
{
	uint64_t term;

	rt_cluster(3, tweak_no_pre_vote);
	rt_elect(1);
	(void)rt_run();
	term = rt_status(1).term;
	rt_cut[3] = true;
	rt_rounds(200);
	ck_assert_uint_gt(rt_status(3).term, term + 5);
	rt_cut[3] = false;
	rt_rounds(100);
	ck_assert_uint_gt(rt_status(1).term, term + 5);
}
END_TEST

START_TEST(test_check_quorum_steps_down)
{
	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	/* With its followers answering, the leader stays. */
	rt_rounds(50);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_LEADER);
	/* Cut off from both, it steps down within two election timeouts. */
	rt_cut[1] = true;
	rt_tick(1, 20);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_FOLLOWER);
	ck_assert_uint_eq(raft_leader(rt_r(1)), RAFT_NONE);
	/* One follower answering is a majority with the leader itself. */
	rt_cluster(3, NULL);
	rt_elect(1);
	rt_cut[3] = true;
	rt_rounds(50);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_LEADER);
}
END_TEST

START_TEST(test_stale_leader_learns_new_term)
{
	uint64_t term;

	rt_cluster(3, tweak_no_check_quorum);
	rt_elect(1);
	(void)rt_run();
	term = rt_status(1).term;
	rt_cut[1] = true;
	rt_rounds(60);
	ck_assert_uint_gt(rt_status(2).term, term);
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_LEADER); /* still believes it */
	rt_cut[1] = false;
	/* Its heartbeat at the old term is answered with the new term. */
	rt_tick(1, 1);
	(void)rt_run();
	ck_assert_int_eq(raft_role(rt_r(1)), RAFT_FOLLOWER);
	ck_assert_uint_eq(rt_status(1).term, rt_status(2).term);
}
END_TEST

/* ---- AppendEntries ---- */

static raft_msg_t rt_append(uint64_t term, uint64_t prev, uint64_t prev_term, uint64_t commit,
                            raft_entry_t *ents, const uint64_t *terms, uint32_t n)
{
	raft_msg_t m = rt_msg(RAFT_MSG_APPEND, 1, 2, term);

	for (uint32_t i = 0; i < n; i++) {
		ents[i].index = prev + 1 + i;
		ents[i].term = terms[i];
		ents[i].data = (const uint8_t *)"new";
		ents[i].len = 3;
	}
	m.index = prev;
	m.log_term = prev_term;
	m.commit = commit;
	m.entries = ents;
	m.n_entries = n;
	return m;
}

START_TEST(test_append_accepts_and_commits)
{
	static const uint64_t new_terms[] = {1, 1, 1};
	raft_entry_t ents[3];
	raft_msg_t m = rt_append(1, 0, 0, 2, ents, new_terms, 3);
	const raft_msg_t *resp;

	rt_cluster(3, NULL);
	rt_deliver(&m, NULL);
	resp = rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1);
	ck_assert_ptr_nonnull(resp);
	ck_assert(!resp->reject);
	ck_assert_uint_eq(resp->index, 3);
	ck_assert_uint_eq(sim_store_last(&rt_nodes[2].st), 3);
	ck_assert_uint_eq(rt_status(2).commit, 2);
	ck_assert_uint_eq(rt_nodes[2].st.applied, 2);
	ck_assert_uint_eq(rt_status(2).leader, 1);
	/* A duplicate changes nothing; the answer is the commit index (all
	 * a leader needs to know below it). */
	rt_box_clear(&rt_net);
	rt_deliver(&m, NULL);
	ck_assert(!rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1)->reject);
	ck_assert_uint_eq(rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1)->index, 2);
	ck_assert_uint_eq(sim_store_last(&rt_nodes[2].st), 3);
}
END_TEST

START_TEST(test_append_commit_limited_to_verified_entries)
{
	/* Node 2 holds a stale tail (index 4, 5 of term 2). The leader of
	 * term 3 sends entry 4 only, with commit 5: entry 5 of node 2 is
	 * not the leader's and must not be committed. */
	static const uint64_t old_terms[] = {1, 1, 1, 2, 2};
	static const uint64_t new_terms[] = {3};
	raft_entry_t ents[1];
	raft_msg_t m;

	rt_prepare(3, NULL);
	rt_preload(2, old_terms, 5, 2);
	rt_start_all();
	m = rt_append(3, 3, 1, 5, ents, new_terms, 1);
	rt_deliver(&m, NULL);
	ck_assert_uint_eq(rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1)->index, 4);
	ck_assert_uint_eq(rt_status(2).commit, 4);
	/* The conflict replaced the tail: entry 4 is the leader's, 5 is gone. */
	ck_assert_uint_eq(sim_store_last(&rt_nodes[2].st), 4);
	ck_assert_uint_eq(sim_store_get(&rt_nodes[2].st, 4)->term, 3);

	/* Matching entries then a stale one beyond: same rule. */
	rt_prepare(3, NULL);
	rt_preload(2, old_terms, 5, 2);
	rt_start_all();
	m = rt_append(3, 2, 1, 5, ents, old_terms + 2, 1); /* entry 3 of term 1 */
	rt_deliver(&m, NULL);
	ck_assert_uint_eq(rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1)->index, 3);
	ck_assert_uint_eq(rt_status(2).commit, 3);
	ck_assert_uint_eq(sim_store_last(&rt_nodes[2].st), 5); /* no conflict seen */
}
END_TEST

START_TEST(test_append_reject_carries_hint)
{
	static const uint64_t f_terms[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
	static const uint64_t e_terms[] = {1, 1, 1, 4, 4, 4, 4};
	raft_msg_t m;
	const raft_msg_t *resp;

	/* Missing entries: the hint is the follower's last index. */
	rt_prepare(3, NULL);
	rt_preload(2, e_terms, 7, 4);
	rt_start_all();
	m = rt_append(6, 10, 6, 0, NULL, NULL, 0);
	rt_deliver(&m, NULL);
	resp = rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1);
	ck_assert(resp->reject);
	ck_assert_uint_eq(resp->index, 10);
	ck_assert_uint_eq(resp->reject_hint, 7);
	ck_assert_uint_eq(resp->log_term, 4);

	/* A conflicting term: the last index whose term is not above the
	 * leader's there. */
	rt_prepare(3, NULL);
	rt_preload(2, f_terms, 11, 3);
	rt_start_all();
	m = rt_append(6, 10, 6, 0, NULL, NULL, 0);
	rt_deliver(&m, NULL);
	resp = rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1);
	ck_assert(resp->reject);
	ck_assert_uint_eq(resp->reject_hint, 10);
	ck_assert_uint_eq(resp->log_term, 3);
	rt_box_clear(&rt_net);
	m = rt_append(6, 9, 2, 0, NULL, NULL, 0);
	rt_deliver(&m, NULL);
	resp = rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1);
	ck_assert_uint_eq(resp->reject_hint, 6);
	ck_assert_uint_eq(resp->log_term, 2);
}
END_TEST

/*
 * Fast backtracking, with the follower logs of the Raft paper's figure 7
 * against a leader of term 8 whose log has terms 1 1 1 4 4 5 5 6 6 6: every
 * follower catches up within a few APPENDs (one per divergent term at most),
 * where stepping back one index per round trip would need up to 8.
 */
START_TEST(test_fast_backtracking)
{
	static const uint64_t leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
	static const struct {
		uint64_t terms[12];
		size_t n;
		size_t appends_max;
	} cases[] = {
	    {{1, 1, 1, 4, 4, 5, 5, 6, 6}, 9, 3},
	    {{1, 1, 1, 4}, 4, 3},
	    {{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}, 11, 3},
	    {{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}, 12, 3},
	    {{1, 1, 1, 4, 4, 4, 4}, 7, 4},
	    {{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}, 11, 3},
	};

	for (size_t k = 0; k < CK_ARRAY_LEN(cases); k++) {
		size_t appends = 0;
		raft_msg_t m;

		rt_prepare(3, NULL);
		rt_preload(1, leader, 10, 7);
		rt_preload(3, leader, 10, 7);
		rt_preload(2, cases[k].terms, cases[k].n, 7);
		rt_start_all();
		rt_cut[2] = true;
		rt_elect(1); /* with node 3's vote */
		rt_cut[2] = false;
		rt_box_clear(&rt_net);
		rt_tick(1, 1); /* a heartbeat starts the probing */
		while (rt_net.head < rt_net.n) {
			m = rt_step_one();
			appends += m.type == RAFT_MSG_APPEND && m.to == 2;
		}
		rt_box_clear(&rt_net);
		ck_assert_msg(rt_same_log(1, 2), "case %zu: logs differ", k);
		ck_assert_msg(appends <= cases[k].appends_max, "case %zu: %zu appends", k, appends);
	}
}
END_TEST

START_TEST(test_leader_overwrites_conflicting_tail)
{
	static const uint64_t leader[] = {1, 1, 2};
	static const uint64_t stale[] = {1, 1, 1, 1, 1, 1};

	rt_prepare(3, NULL);
	rt_preload(1, leader, 3, 2);
	rt_preload(3, leader, 3, 2);
	rt_preload(2, stale, 6, 1);
	rt_start_all();
	rt_elect(1);
	(void)rt_propose(1, "x");
	(void)rt_run();
	ck_assert(rt_same_log(1, 2));
	ck_assert_uint_eq(sim_store_last(&rt_nodes[2].st), 5);
	ck_assert_uint_eq(sim_store_get(&rt_nodes[2].st, 3)->term, 2);
	ck_assert_uint_eq(rt_nodes[2].st.applied, 5);
}
END_TEST

/* Entries of an earlier term are never committed by counting replicas
 * (Raft paper 5.4.2, figure 8): only with an entry of the leader's term. */
START_TEST(test_old_term_entry_not_committed_by_count)
{
	static const uint64_t n1[] = {1, 2};
	static const uint64_t n23[] = {1};
	raft_msg_t m;
	bool seen = false;

	rt_prepare(3, tweak_one_entry);
	rt_preload(1, n1, 2, 2);
	rt_preload(2, n23, 1, 2);
	rt_preload(3, n23, 1, 2);
	rt_start_all();
	rt_cut[3] = true;
	rt_elect_only(1); /* node 2 votes: term 3, no-op at index 3 */
	ck_assert_uint_eq(rt_status(1).term, 3);
	rt_cut[3] = false;
	while (rt_net.head < rt_net.n) {
		m = rt_step_one();
		if (m.type == RAFT_MSG_APPEND_RESP && m.from == 2 && !m.reject && m.index == 2) {
			/* A majority (1, 2) holds entry 2 of term 2: not enough. */
			ck_assert_uint_eq(rt_status(1).commit, 0);
			seen = true;
		}
	}
	ck_assert(seen);
	ck_assert_uint_eq(rt_status(1).commit, 3);
}
END_TEST

START_TEST(test_heartbeat_commit_bounded_by_match)
{
	const raft_msg_t *hb;
	uint64_t idx;

	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	rt_cut[3] = true;
	idx = rt_propose(1, "x");
	(void)rt_run();
	ck_assert_uint_eq(rt_status(1).commit, idx);
	rt_cut[3] = false;
	rt_tick(1, 1);
	hb = rt_find(&rt_net, RAFT_MSG_HEARTBEAT, 2);
	ck_assert_uint_eq(hb->commit, idx);
	hb = rt_find(&rt_net, RAFT_MSG_HEARTBEAT, 3);
	ck_assert_uint_eq(hb->commit, idx - 1); /* node 3 only has the no-op */
	(void)rt_run();
	ck_assert_uint_eq(rt_nodes[3].st.applied, idx); /* caught up after */
	ck_assert_uint_eq(rt_nodes[2].st.applied, idx);
}
END_TEST

START_TEST(test_inflight_limit_pauses_replication)
{
	raft_msg_t hb;

	rt_cluster(3, tweak_flow);
	rt_elect(1);
	(void)rt_run();
	for (int i = 0; i < 5; i++)
		(void)rt_propose(1, "x");
	/* inflight_max = 2, one entry per APPEND: two to each follower. */
	ck_assert_uint_eq(rt_count(&rt_net, RAFT_MSG_APPEND), 4);
	rt_box_clear(&rt_net);
	/* A heartbeat answer frees one slot. */
	hb = rt_msg(RAFT_MSG_HEARTBEAT_RESP, 2, 1, rt_status(1).term);
	hb.index = 1;
	rt_deliver(&hb, NULL);
	ck_assert_uint_eq(rt_count(&rt_net, RAFT_MSG_APPEND), 1);
	rt_box_clear(&rt_net);
	rt_tick(1, 1);
	(void)rt_run();
	rt_rounds(5);
	ck_assert(rt_same_log(1, 2));
	ck_assert(rt_same_log(1, 3));
	ck_assert_uint_eq(rt_nodes[2].st.applied, 6);
}
END_TEST

/* ---- snapshots ---- */

START_TEST(test_snapshot_for_compacted_follower)
{
	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	rt_cut[3] = true;
	for (int i = 0; i < 10; i++)
		(void)rt_propose(1, "entry");
	(void)rt_run();
	ck_assert_uint_eq(rt_nodes[1].st.applied, 11);
	sim_store_compact(&rt_nodes[1].st, 0);
	ck_assert_uint_eq(rt_nodes[1].st.base, 11);
	/* The snapshot cannot be had at first: the leader tries again. */
	rt_nodes[1].st.snapshot_again = 2;
	rt_cut[3] = false;
	rt_rounds(10);
	ck_assert_uint_eq(rt_nodes[3].st.snap.index, 11);
	ck_assert_uint_eq(rt_nodes[3].st.applied, 11);
	ck_assert_uint_eq(rt_nodes[3].st.sm_cum, rt_nodes[1].st.sm_cum);
	(void)rt_propose(1, "after");
	(void)rt_run();
	rt_rounds(2);
	ck_assert(rt_same_log(1, 3));
	ck_assert_uint_eq(rt_nodes[3].st.applied, 12);
}
END_TEST

START_TEST(test_snapshot_follower_side)
{
	raft_msg_t m = rt_msg(RAFT_MSG_SNAPSHOT, 1, 2, 2);
	sim_snap_t snap = {7, 2, 0x1234};
	const raft_msg_t *resp;

	rt_cluster(3, NULL);
	m.snapshot.index = 7;
	m.snapshot.term = 2;
	rt_deliver(&m, &snap);
	resp = rt_find(&rt_net, RAFT_MSG_SNAPSHOT_RESP, 1);
	ck_assert_ptr_nonnull(resp);
	ck_assert_uint_eq(resp->index, 7);
	ck_assert_uint_eq(rt_status(2).commit, 7);
	ck_assert_uint_eq(rt_status(2).applied, 7);
	ck_assert_uint_eq(rt_status(2).last_index, 7);
	ck_assert_uint_eq(rt_nodes[2].st.sm_cum, 0x1234);
	/* An older snapshot is answered, not installed. */
	rt_box_clear(&rt_net);
	m.snapshot.index = 5;
	rt_deliver(&m, NULL);
	ck_assert_uint_eq(rt_find(&rt_net, RAFT_MSG_SNAPSHOT_RESP, 1)->index, 7);
	ck_assert_uint_eq(rt_nodes[2].st.snap.index, 7);
}
END_TEST

/* A stepped snapshot is pending, and named, until the Ready that installs
 * it was advanced: the shell keeps its data that long. */
START_TEST(test_snapshot_pending_until_ready)
{
	raft_msg_t m = rt_msg(RAFT_MSG_SNAPSHOT, 1, 2, 2);
	sim_snap_t snap = {7, 2, 0x1234};
	raft_snapshot_meta_t held = {0};

	rt_cluster(3, NULL);
	ck_assert(!raft_snapshot_pending(rt_r(2), &held));
	m.snapshot.index = 7;
	m.snapshot.term = 2;
	ck_assert_int_eq(raft_step(rt_r(2), &m), 0);
	ck_assert(raft_snapshot_pending(rt_r(2), &held));
	ck_assert_uint_eq(held.index, 7);
	ck_assert_uint_eq(held.term, 2);
	/* A covered snapshot stepped meanwhile does not replace it. */
	m.snapshot.index = 5;
	ck_assert_int_eq(raft_step(rt_r(2), &m), 0);
	ck_assert(raft_snapshot_pending(rt_r(2), &held));
	ck_assert_uint_eq(held.index, 7);
	rt_nodes[2].rx_snap = snap;
	rt_drain(2, NULL);
	ck_assert(!raft_snapshot_pending(rt_r(2), NULL));
	ck_assert_uint_eq(rt_nodes[2].st.snap.index, 7);
}
END_TEST

/* ---- leadership transfer ---- */

/* A follower that lost its log (a wiped data dir): the leader believes it
 * still holds what it acknowledged and would never resend, until the shell
 * reports the restart with the log's new end. */
START_TEST(test_restart_report_resets_progress)
{
	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	for (int i = 0; i < 5; i++)
		(void)rt_propose(1, "entry");
	(void)rt_run();
	ck_assert(rt_same_log(1, 3));
	rt_crash(3);
	sim_store_free(&rt_nodes[3].st);
	sim_store_init(&rt_nodes[3].st);
	rt_start(3, 0);
	(void)rt_propose(1, "after");
	rt_rounds(5);
	ck_assert_uint_eq(sim_store_last(&rt_nodes[3].st), 0);
	/* Reports with a log end at or above the match change nothing. */
	raft_report_restart(rt_r(1), 3, 100);
	raft_report_restart(rt_r(2), 3, 0); /* not the leader */
	rt_drain(1, NULL);
	rt_drain(2, NULL);
	rt_rounds(3);
	ck_assert_uint_eq(sim_store_last(&rt_nodes[3].st), 0);
	raft_report_restart(rt_r(1), 3, 0);
	rt_drain(1, NULL);
	rt_rounds(5);
	ck_assert(rt_same_log(1, 3));
	ck_assert_uint_eq(rt_nodes[3].st.applied, rt_nodes[1].st.applied);
	ck_assert_uint_eq(rt_nodes[3].st.sm_cum, rt_nodes[1].st.sm_cum);
}
END_TEST

START_TEST(test_transfer_leader)
{
	const raft_msg_t *m;
	uint64_t term, idx;

	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	term = rt_status(1).term;
	ck_assert_int_eq(raft_transfer_leader(rt_r(1), 1), CK_E_INVALID);
	ck_assert_int_eq(raft_transfer_leader(rt_r(1), 7), CK_E_INVALID);
	ck_assert_int_eq(raft_transfer_leader(rt_r(2), 3), CK_E_NOT_LEADER);
	ck_assert_int_eq(raft_transfer_leader(rt_r(1), 2), 0);
	rt_drain(1, NULL);
	m = rt_find(&rt_net, RAFT_MSG_TIMEOUT_NOW, 2);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(raft_propose(rt_r(1), "x", 1, &idx), CK_E_AGAIN);
	(void)rt_run();
	/* Node 3 was in its lease but the transfer overrides it. */
	ck_assert_int_eq(raft_role(rt_r(2)), RAFT_LEADER);
	ck_assert_uint_eq(rt_status(2).term, term + 1);
	ck_assert_uint_eq(rt_status(1).leader, 2);
	ck_assert_uint_eq(rt_status(3).leader, 2);
}
END_TEST

START_TEST(test_transfer_waits_for_catch_up)
{
	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	rt_cut[3] = true;
	(void)rt_propose(1, "x");
	(void)rt_run();
	ck_assert_int_eq(raft_transfer_leader(rt_r(1), 3), 0);
	rt_drain(1, NULL);
	ck_assert_ptr_null(rt_find(&rt_net, RAFT_MSG_TIMEOUT_NOW, 3));
	rt_cut[3] = false;
	(void)rt_run(); /* the catch-up APPEND, then TimeoutNow */
	ck_assert_int_eq(raft_role(rt_r(3)), RAFT_LEADER);
	/* An unfinished transfer is abandoned after an election timeout. */
	rt_cut[1] = true;
	ck_assert_int_eq(raft_transfer_leader(rt_r(3), 1), 0);
	rt_rounds(12);
	ck_assert_uint_eq(rt_status(3).transferee, RAFT_NONE);
}
END_TEST

/* ---- proposals and the Ready contract ---- */

START_TEST(test_propose_errors)
{
	uint64_t idx = 77;
	char big[300];

	rt_cluster(3, tweak_small_window);
	ck_assert_int_eq(raft_propose(rt_r(1), "x", 1, &idx), CK_E_NOT_LEADER);
	rt_elect(1);
	(void)rt_run();
	ck_assert_int_eq(raft_propose(rt_r(2), "x", 1, &idx), CK_E_NOT_LEADER);
	ck_assert_uint_eq(raft_leader(rt_r(2)), 1);
	ck_assert_uint_eq(idx, 77); /* not written on failure */
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(raft_propose(rt_r(1), big, sizeof(big), &idx), CK_E_TOO_LARGE);
	ck_assert_int_eq(raft_propose(rt_r(1), "", 0, &idx), CK_E_INVALID);
	/* Four window slots, one kept for a no-op: the fourth waits. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(raft_propose(rt_r(1), "x", 1, &idx), 0);
	ck_assert_int_eq(raft_propose(rt_r(1), "x", 1, &idx), CK_E_AGAIN);
	rt_drain(1, NULL);
	ck_assert_int_eq(raft_propose(rt_r(1), "x", 1, &idx), 0);
	ck_assert_uint_eq(idx, 5);
}
END_TEST

START_TEST(test_quorum_commit_waits_for_majority)
{
	raft_ready_t rd;
	uint64_t idx;

	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	rt_box_clear(&rt_net);
	ck_assert_int_eq(raft_propose(rt_r(1), "q", 1, &idx), 0);
	ck_assert_int_eq(raft_ready(rt_r(1), &rd), 0);
	/* Persist and send in one Ready; nothing to apply yet. */
	ck_assert_uint_eq(rd.n_entries, 1);
	ck_assert_uint_eq(rd.entries[0].index, idx);
	ck_assert_uint_eq(rd.n_msgs, 2);
	ck_assert_uint_eq(rd.n_committed, 0);
	ck_assert(sim_store_append(&rt_nodes[1].st, rd.entries, rd.n_entries));
	for (size_t i = 0; i < rd.n_msgs; i++)
		rt_box_add(&rt_net, &rd.msgs[i], NULL);
	raft_advance(rt_r(1), &rd);
	rt_drain(1, NULL);
	ck_assert_uint_lt(rt_status(1).commit, idx);
	(void)rt_step_one(); /* APPEND to 2 */
	(void)rt_step_one(); /* APPEND to 3 */
	(void)rt_step_one(); /* 2's answer: a majority */
	ck_assert_uint_eq(rt_status(1).commit, idx);
	ck_assert_uint_eq(rt_nodes[1].st.applied, idx);
}
END_TEST

/* What came between two Readies leaves in one APPEND per follower: five
 * proposals in one message, then a new commit together with the next
 * proposal (no commit-only APPEND before it). */
START_TEST(test_append_carries_all_since_last_ready)
{
	raft_ready_t rd;
	raft_msg_t m;
	uint64_t idx = 0, last = 0;

	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	rt_box_clear(&rt_net);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(raft_propose(rt_r(1), "b", 1, &idx), 0);
	ck_assert_int_eq(raft_ready(rt_r(1), &rd), 0);
	ck_assert_uint_eq(rd.n_entries, 5);
	ck_assert_uint_eq(rd.n_msgs, 2);
	for (size_t i = 0; i < rd.n_msgs; i++) {
		ck_assert_int_eq(rd.msgs[i].type, RAFT_MSG_APPEND);
		ck_assert_uint_eq(rd.msgs[i].n_entries, 5);
		ck_assert_uint_eq(rd.msgs[i].entries[4].index, idx);
		rt_box_add(&rt_net, &rd.msgs[i], NULL);
	}
	ck_assert(sim_store_append(&rt_nodes[1].st, rd.entries, rd.n_entries));
	raft_advance(rt_r(1), &rd);
	rt_drain(1, NULL);
	(void)rt_step_one(); /* APPEND to one follower, which answers */
	m = rt_net.msgs[rt_net.head++];
	if (m.type != RAFT_MSG_APPEND_RESP) /* the other APPEND came first */
		m = rt_net.msgs[rt_net.head++];
	ck_assert_int_eq(m.type, RAFT_MSG_APPEND_RESP);
	ck_assert_int_eq(raft_step(rt_r(1), &m), 0);
	ck_assert_uint_eq(rt_status(1).commit, idx);
	ck_assert_int_eq(raft_propose(rt_r(1), "c", 1, &last), 0);
	ck_assert_int_eq(raft_ready(rt_r(1), &rd), 0);
	ck_assert_uint_eq(rd.n_msgs, 2);
	for (size_t i = 0; i < rd.n_msgs; i++) {
		ck_assert_int_eq(rd.msgs[i].type, RAFT_MSG_APPEND);
		ck_assert_uint_ge(rd.msgs[i].n_entries, 1);
		ck_assert_uint_eq(rd.msgs[i].entries[rd.msgs[i].n_entries - 1].index, last);
		ck_assert_uint_eq(rd.msgs[i].commit, idx);
	}
	ck_assert(sim_store_append(&rt_nodes[1].st, rd.entries, rd.n_entries));
	raft_advance(rt_r(1), &rd);
	rt_drain(1, NULL);
}
END_TEST

/* A held commit makes no APPEND of its own: the next entries carry it,
 * raft_commit_owed() tells that one is owed meanwhile, and releasing the
 * hold sends it alone with the next Ready. */
START_TEST(test_held_commit_rides_with_entries)
{
	raft_ready_t rd;
	uint64_t idx = 0, next = 0;

	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	rt_box_clear(&rt_net);
	raft_hold_commit(rt_r(1), true);
	ck_assert_int_eq(raft_propose(rt_r(1), "h", 1, &idx), 0);
	rt_drain(1, NULL);
	for (int i = 0; i < 4; i++) /* both APPENDs, both answers */
		(void)rt_step_one();
	ck_assert_uint_eq(rt_status(1).commit, idx);
	ck_assert_uint_eq(rt_nodes[1].st.applied, idx);
	ck_assert_uint_eq(rt_count(&rt_net, RAFT_MSG_APPEND), 0);
	ck_assert(raft_commit_owed(rt_r(1)));
	/* The next proposal's APPENDs carry it. */
	rt_box_clear(&rt_net);
	ck_assert_int_eq(raft_propose(rt_r(1), "i", 1, &next), 0);
	ck_assert_int_eq(raft_ready(rt_r(1), &rd), 0);
	ck_assert_uint_eq(rd.n_msgs, 2);
	for (size_t i = 0; i < rd.n_msgs; i++) {
		ck_assert_uint_eq(rd.msgs[i].n_entries, 1);
		ck_assert_uint_eq(rd.msgs[i].commit, idx);
		rt_box_add(&rt_net, &rd.msgs[i], NULL);
	}
	ck_assert(sim_store_append(&rt_nodes[1].st, rd.entries, rd.n_entries));
	raft_advance(rt_r(1), &rd);
	ck_assert(!raft_commit_owed(rt_r(1)));
	for (int i = 0; i < 4; i++)
		(void)rt_step_one();
	ck_assert_uint_eq(rt_status(1).commit, next);
	ck_assert_uint_eq(rt_count(&rt_net, RAFT_MSG_APPEND), 0);
	ck_assert(raft_commit_owed(rt_r(1)));
	/* Released: the commit alone, to both. */
	raft_hold_commit(rt_r(1), false);
	ck_assert(raft_has_ready(rt_r(1)));
	ck_assert_int_eq(raft_ready(rt_r(1), &rd), 0);
	ck_assert_uint_eq(rd.n_msgs, 2);
	for (size_t i = 0; i < rd.n_msgs; i++) {
		ck_assert_int_eq(rd.msgs[i].type, RAFT_MSG_APPEND);
		ck_assert_uint_eq(rd.msgs[i].n_entries, 0);
		ck_assert_uint_eq(rd.msgs[i].commit, next);
	}
	raft_advance(rt_r(1), &rd);
	ck_assert(!raft_commit_owed(rt_r(1)));
}
END_TEST

START_TEST(test_leader_commit_mode_commits_locally)
{
	uint64_t idx;

	rt_cluster(3, tweak_leader_mode);
	rt_elect(1);
	(void)rt_run();
	rt_cut[2] = rt_cut[3] = true;
	idx = rt_propose(1, "fast");
	/* Durable on the leader alone: committed and applied. */
	ck_assert_uint_eq(rt_status(1).commit, idx);
	ck_assert_uint_eq(rt_nodes[1].st.applied, idx);
	/* The same in quorum mode waits. */
	rt_cluster(3, NULL);
	rt_elect(1);
	(void)rt_run();
	rt_cut[2] = rt_cut[3] = true;
	idx = rt_propose(1, "slow");
	(void)rt_run();
	ck_assert_uint_lt(rt_status(1).commit, idx);
}
END_TEST

/* Commit mode "leader": a leader commits alone, is cut off, and the others
 * move on. When it returns its committed entry conflicts with the new
 * leader's log: it asks for a snapshot and converges. */
START_TEST(test_leader_mode_diverged_node_converges)
{
	uint64_t idx;
	bool asked = false;

	rt_cluster(3, tweak_leader_mode);
	rt_elect(1);
	(void)rt_run();
	rt_cut[1] = true;
	idx = rt_propose(1, "lost");
	ck_assert_uint_eq(rt_nodes[1].st.applied, idx);
	rt_rounds(40);
	ck_assert(raft_role(rt_r(2)) == RAFT_LEADER || raft_role(rt_r(3)) == RAFT_LEADER);
	{
		uint64_t l = raft_role(rt_r(2)) == RAFT_LEADER ? 2 : 3;

		(void)rt_propose(l, "kept");
		(void)rt_run();
		rt_cut[1] = false;
		for (int i = 0; i < 40; i++) {
			for (uint64_t id = 1; id <= 3; id++)
				rt_tick(id, 1);
			while (rt_net.head < rt_net.n) {
				raft_msg_t m = rt_step_one();

				asked |= m.from == 1 && m.need_snapshot;
			}
			rt_box_clear(&rt_net);
		}
		(void)rt_propose(l, "later");
		rt_rounds(5);
		ck_assert(asked);
		ck_assert(!rt_status(1).diverged);
		ck_assert_uint_gt(rt_nodes[1].st.snap.index, 0);
		ck_assert(rt_same_log(1, l));
		ck_assert_uint_eq(rt_nodes[1].st.applied, rt_nodes[l].st.applied);
		ck_assert_uint_eq(rt_nodes[1].st.sm_cum, rt_nodes[l].st.sm_cum);
	}
}
END_TEST

/* ---- hostile messages ---- */

START_TEST(test_step_rejects_malformed_messages)
{
	raft_entry_t ents[2] = {{1, 1, (const uint8_t *)"a", 1}, {3, 1, (const uint8_t *)"b", 1}};
	raft_msg_t m;
	char big[300] = {0};

	rt_cluster(3, NULL);
	m = rt_msg(RAFT_MSG_HEARTBEAT, 1, 3, 1); /* to another node */
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_HEARTBEAT, 9, 2, 1); /* from a stranger */
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_HEARTBEAT, 2, 2, 1); /* from itself */
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg((raft_msg_type_t)0, 1, 2, 1);
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg((raft_msg_type_t)99, 1, 2, 1);
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_APPEND, 1, 2, 1); /* a gap between entries */
	m.entries = ents, m.n_entries = 2;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	ents[1].index = 2, ents[1].term = 5; /* an entry from the future */
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	ents[1].term = 1, ents[1].len = sizeof(big), ents[1].data = (const uint8_t *)big;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	ents[1].len = 1, ents[1].data = NULL;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m.n_entries = 0, m.log_term = 4; /* previous term above the message's */
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_HEARTBEAT, 1, 2, 1); /* entries on a heartbeat */
	m.entries = ents, m.n_entries = 1;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_SNAPSHOT, 1, 2, 1);
	m.snapshot.index = 4, m.snapshot.term = 2;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m.snapshot.term = 0;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	/* Terms and indexes past RAFT_NUM_MAX: a TIMEOUT_NOW at term 2^64 - 1
	 * made the node campaign at term 0 (found by fuzz_raft). */
	m = rt_msg(RAFT_MSG_TIMEOUT_NOW, 1, 2, UINT64_MAX);
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_HEARTBEAT, 1, 2, RAFT_NUM_MAX + 1);
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_HEARTBEAT, 1, 2, 1);
	m.commit = UINT64_MAX;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_VOTE, 1, 2, 1);
	m.index = UINT64_MAX - 1;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_APPEND_RESP, 1, 2, 1);
	m.reject_hint = RAFT_NUM_MAX + 1;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_SNAPSHOT, 1, 2, 1);
	m.snapshot.index = UINT64_MAX, m.snapshot.term = 1;
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	/* A term far above the node's own (one heartbeat at 2^62 left the
	 * cluster without a leader for good: no term above it to campaign at;
	 * helper 3, session 57). */
	m = rt_msg(RAFT_MSG_HEARTBEAT, 1, 2, RAFT_NUM_MAX);
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	m = rt_msg(RAFT_MSG_VOTE, 1, 2, RAFT_TERM_JUMP_MAX + 1);
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	/* None of it changed anything. */
	ck_assert_uint_eq(rt_status(2).term, 0);
	ck_assert(!raft_has_ready(rt_r(2)));
	/* A jump of RAFT_TERM_JUMP_MAX is taken. */
	m = rt_msg(RAFT_MSG_HEARTBEAT, 1, 2, RAFT_TERM_JUMP_MAX);
	ck_assert_int_eq(raft_step(rt_r(2), &m), 0);
	ck_assert_uint_eq(rt_status(2).term, RAFT_TERM_JUMP_MAX);
}
END_TEST

/* In quorum mode no elected leader conflicts with a committed entry: an
 * APPEND that does is refused, and the log, the commit and the state
 * machine stay; no snapshot is asked for (before, the node marked itself
 * diverged and would have installed a snapshot below what it applied;
 * found by fuzz_raft). Commit mode "leader": test_leader_mode_diverged_*. */
START_TEST(test_quorum_refuses_conflict_with_committed)
{
	static const uint64_t t1[] = {1, 1, 1}, t2[] = {2, 2};
	raft_entry_t ents[3];
	raft_msg_t m = rt_append(1, 0, 0, 2, ents, t1, 3);
	uint64_t cum;

	rt_cluster(3, NULL);
	rt_deliver(&m, NULL);
	ck_assert_uint_eq(rt_status(2).commit, 2);
	ck_assert(sim_store_cum(&rt_nodes[2].st, 3, &cum));
	rt_box_clear(&rt_net);
	/* Below the commit index an APPEND is answered with the commit index
	 * (its entries unread). */
	m = rt_append(2, 1, 1, 3, ents, t2, 2);
	rt_deliver(&m, NULL);
	ck_assert(!rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1)->reject);
	ck_assert_uint_eq(rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1)->index, 2);
	rt_box_clear(&rt_net);
	/* The previous entry at the commit index with another term. */
	m = rt_append(2, 2, 2, 3, ents, t2, 1);
	ck_assert_int_eq(raft_step(rt_r(2), &m), CK_E_INVALID);
	rt_drain(2, &rt_net);
	ck_assert_ptr_null(rt_find(&rt_net, RAFT_MSG_APPEND_RESP, 1));
	ck_assert(!rt_status(2).diverged);
	ck_assert_uint_eq(rt_status(2).commit, 2);
	ck_assert_uint_eq(rt_nodes[2].st.applied, 2);
	ck_assert_uint_eq(sim_store_last(&rt_nodes[2].st), 3);
	ck_assert(sim_store_cum(&rt_nodes[2].st, 3, &m.index) && m.index == cum);
	/* The leader's own log still goes on. */
	m = rt_append(2, 3, 1, 3, ents, t2, 1);
	rt_deliver(&m, NULL);
	ck_assert_uint_eq(rt_status(2).commit, 3);
	ck_assert_uint_eq(sim_store_last(&rt_nodes[2].st), 4);
}
END_TEST

/* Stepping the core while a Ready is out is the shell's bug: it aborts. */
START_TEST(test_step_during_ready_aborts)
{
	raft_msg_t m = rt_msg(RAFT_MSG_VOTE, 1, 2, 4);
	raft_ready_t rd;

	rt_cluster(3, NULL);
	ck_assert_int_eq(raft_step(rt_r(2), &m), 0);
	ck_assert_int_eq(raft_ready(rt_r(2), &rd), 0);
	m.from = 3;
	(void)raft_step(rt_r(2), &m);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(raft_role_name(RAFT_PRE_CANDIDATE), "pre-candidate");
	ck_assert_str_eq(raft_role_name(RAFT_LEADER), "leader");
	ck_assert_str_eq(raft_msg_type_name(RAFT_MSG_APPEND_RESP), "append-resp");
	ck_assert_str_eq(raft_msg_type_name(RAFT_MSG_TIMEOUT_NOW), "timeout-now");
	ck_assert_str_eq(raft_msg_type_name((raft_msg_type_t)0), "unknown");
	ck_assert_str_eq(raft_msg_type_name((raft_msg_type_t)42), "unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("raft_core");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, rt_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_init_rejects_bad_config);
	tcase_add_test(tc, test_single_node_elects_itself_and_commits);
	tcase_add_test(tc, test_pre_vote_keeps_term_until_majority);
	tcase_add_test(tc, test_pre_vote_rejected_falls_back);
	tcase_add_test(tc, test_vote_requires_up_to_date_log);
	tcase_add_test(tc, test_vote_is_persisted_in_the_ready_that_sends_it);
	tcase_add_test(tc, test_restart_keeps_vote);
	tcase_add_test(tc, test_restart_term_follows_log);
	tcase_add_test(tc, test_lease_ignores_votes_until_election_timeout);
	tcase_add_test(tc, test_lease_expires_without_leader);
	tcase_add_test(tc, test_leader_silent_counts_ticks_without_leader);
	tcase_add_test(tc, test_pre_vote_partitioned_node_rejoins_quietly);
	tcase_add_test(tc, test_without_pre_vote_rejoin_disrupts);
	tcase_add_test(tc, test_check_quorum_steps_down);
	tcase_add_test(tc, test_stale_leader_learns_new_term);
	tcase_add_test(tc, test_append_accepts_and_commits);
	tcase_add_test(tc, test_append_commit_limited_to_verified_entries);
	tcase_add_test(tc, test_append_reject_carries_hint);
	tcase_add_test(tc, test_fast_backtracking);
	tcase_add_test(tc, test_leader_overwrites_conflicting_tail);
	tcase_add_test(tc, test_old_term_entry_not_committed_by_count);
	tcase_add_test(tc, test_heartbeat_commit_bounded_by_match);
	tcase_add_test(tc, test_inflight_limit_pauses_replication);
	tcase_add_test(tc, test_snapshot_for_compacted_follower);
	tcase_add_test(tc, test_snapshot_follower_side);
	tcase_add_test(tc, test_snapshot_pending_until_ready);
	tcase_add_test(tc, test_restart_report_resets_progress);
	tcase_add_test(tc, test_transfer_leader);
	tcase_add_test(tc, test_transfer_waits_for_catch_up);
	tcase_add_test(tc, test_propose_errors);
	tcase_add_test(tc, test_quorum_commit_waits_for_majority);
	tcase_add_test(tc, test_append_carries_all_since_last_ready);
	tcase_add_test(tc, test_held_commit_rides_with_entries);
	tcase_add_test(tc, test_leader_commit_mode_commits_locally);
	tcase_add_test(tc, test_leader_mode_diverged_node_converges);
	tcase_add_test(tc, test_quorum_refuses_conflict_with_committed);
	tcase_add_test(tc, test_step_rejects_malformed_messages);
	tcase_add_test_raise_signal(tc, test_step_during_ready_aborts, SIGABRT);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
