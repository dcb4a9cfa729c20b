/*
 * kfk_h_groups.c: the group coordinator's membership requests (JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup) and its life on the event loop (shell
 * of chronik-kafka-frontend).
 *
 * Owned by kafka-frontend. The state machine is kfk_group_core.h; this file
 * decodes, checks that this node coordinates the group (the broker
 * FindCoordinator names: kfk_group_coordinator()), and encodes the answers,
 * which the core may give later (held joins and syncs are requests whose
 * response waits). A timer ticks the core every 100 ms and drops the groups
 * this node no longer coordinates (a broker came or went): their members
 * hear NOT_COORDINATOR and find the new coordinator, as after a Kafka
 * coordinator move; the same tick drives offset expiry (kfk_expire.c).
 * A group's membership is stored through Raft at each completed rebalance
 * (and its end when it empties); the first tick or group request after the
 * broker list changed (or after this process started, or dropped its
 * groups) loads the stored groups this node now coordinates, so that a
 * group taken over goes on at its generation instead of rebalancing.
 * Not for: offsets and group listings (kfk_h_group_admin.c).
 */
#define CK_LOG_SUBSYSTEM "groups"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_log.h"
#include "kfk_errors.h"
#include "kfk_group_core.h"
#include "kfk_srv.h"

#define KFK_GROUP_TICK_MS 100
/* The largest StoreGroup proposed: raftd takes entries up to 1 MiB. */
#define KFK_GROUP_STORE_MAX ((1u << 20) - 4096)

/* ---- answers from the core ---- */

/* S for a log line: at most CAP - 1 bytes, bytes outside printable ASCII
 * as '?' (a client's string cannot start a line of its own). */
static const char *kfk_group_log_str(char *buf, size_t cap, kfk_str_t s)
{
	size_t n = s.len > 0 ? (size_t)s.len : 0;

	if (n > cap - 1)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f ? s.ptr[i] : '?';
	buf[n] = '\0';
	return buf;
}

void kfk_group_log_fenced(kfk_req_t *req, const char *api, kfk_str_t group, kfk_str_t member_id,
                          kfk_str_t instance_id)
{
	static ck_log_limit_t lim;
	char g[128], m[160], c[128], i[128];

	ck_log_limited(&lim, CK_LOG_INFO,
	               "%s of group %s answered FENCED_INSTANCE_ID: member %s (client %s at %s) "
	               "claims group.instance.id %s, which another member of the group holds "
	               "(the same group.instance.id given to two consumers?)",
	               api, kfk_group_log_str(g, sizeof(g), group),
	               kfk_group_log_str(m, sizeof(m), member_id),
	               kfk_group_log_str(c, sizeof(c), req->hdr.client_id),
	               req->conn ? kfk_conn_peer(req->conn) : "-",
	               kfk_group_log_str(i, sizeof(i), instance_id));
}

static void kfk_group_join_done(void *arg, void *waiter, const kfk_gjoin_out_t *out)
{
	kfk_req_t *req = waiter;
	kfk_join_group_response_t resp;
	kfk_join_group_response_member_t *items = NULL;
	bool v7 = req->api_version >= 7;

	(void)arg;
	kfk_join_group_response_init(&resp);
	if (out->nmembers > 0) {
		items = kfk_req_alloc(req, (size_t)out->nmembers, sizeof(*items));
		if (!items) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
	}
	for (int i = 0; i < out->nmembers; i++) {
		kfk_join_group_response_member_init(&items[i]);
		items[i].member_id = kfk_str(out->members[i].member_id);
		items[i].group_instance_id = out->members[i].instance_id
		                                 ? kfk_str(out->members[i].instance_id)
		                                 : KFK_STR_NULL;
		items[i].metadata =
		    (kfk_bytes_t){out->members[i].meta, (int32_t)out->members[i].meta_len};
	}
	if (out->err == KFK_ERR_FENCED_INSTANCE_ID) {
		const kfk_join_group_request_t *rq = req->body;

		kfk_group_log_fenced(req, "JoinGroup", rq->group_id, rq->member_id,
		                     rq->group_instance_id);
	}
	resp.error_code = out->err;
	resp.generation_id = out->generation;
	resp.protocol_type = out->protocol_type ? kfk_str(out->protocol_type) : KFK_STR_NULL;
	resp.protocol_name =
	    out->protocol ? kfk_str(out->protocol) : (v7 ? KFK_STR_NULL : kfk_str(""));
	resp.leader = kfk_str(out->leader);
	resp.member_id = kfk_str(out->member_id);
	resp.members.count = out->nmembers;
	resp.members.items = items;
	kfk_req_respond(req, &resp);
}

static void kfk_group_sync_done(void *arg, void *waiter, const kfk_gsync_out_t *out)
{
	kfk_req_t *req = waiter;
	kfk_sync_group_response_t resp;

	(void)arg;
	kfk_sync_group_response_init(&resp);
	if (out->err == KFK_ERR_FENCED_INSTANCE_ID) {
		const kfk_sync_group_request_t *rq = req->body;

		kfk_group_log_fenced(req, "SyncGroup", rq->group_id, rq->member_id,
		                     rq->group_instance_id);
	}
	resp.error_code = out->err;
	resp.protocol_type = out->protocol_type ? kfk_str(out->protocol_type) : KFK_STR_NULL;
	resp.protocol_name = out->protocol ? kfk_str(out->protocol) : KFK_STR_NULL;
	resp.assignment = (kfk_bytes_t){out->assignment ? out->assignment : (const uint8_t *)"",
	                                (int32_t)out->assignment_len};
	kfk_req_respond(req, &resp);
}

/* ---- stored membership ---- */

/* A StoreGroup in flight (on srv->gstores): the view it was proposed at,
 * whether it ends the group (Empty), the group. */
typedef struct kfk_gstore {
	kfk_srv_t *srv;
	struct kfk_gstore *prev, *next;
	uint64_t view;
	bool empty;
	char group[];
} kfk_gstore_t;

static void kfk_group_store(void *arg, const kfk_group_t *g);

/* Whether a StoreGroup of GROUP is in flight: what is stored may be about
 * to change (a group that just emptied here must not be loaded back from
 * its membership before). */
static bool kfk_gstore_inflight(const kfk_srv_t *s, const char *group)
{
	for (const kfk_gstore_t *st = s->gstores; st; st = st->next)
		if (strcmp(st->group, group) == 0)
			return true;
	return false;
}

static void kfk_gstore_unlink(kfk_gstore_t *st)
{
	kfk_srv_t *s = st->srv;

	if (st->prev)
		st->prev->next = st->next;
	else
		s->gstores = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->prev = st->next = NULL;
}

static void kfk_group_stored(void *arg, int16_t err, const char *message)
{
	kfk_gstore_t *st = arg;
	kfk_srv_t *s = st->srv;
	const kfk_group_t *g;

	kfk_gstore_unlink(st);
	if (err == KFK_ERR_NOT_COORDINATOR) {
		/* A broker changed after the view it was proposed at: again
		 * from the current view while this node coordinates the
		 * group, as it is now (its end: while it holds no members). */
		kfk_meta_refresh(s);
		g = kfk_gcore_find(&s->groups, kfk_str(st->group));
		if (s->meta_index > st->view && kfk_group_is_mine(s, kfk_str(st->group)) &&
		    (st->empty ? !g || g->nmembers == 0 : g && g->state == KFK_GROUP_STABLE)) {
			kfk_group_t none = {
			    .id = st->group, .state = KFK_GROUP_EMPTY, .protocol_type = ""};

			kfk_group_store(s, g ? g : &none);
			free(st);
			return;
		}
	}
	if (err != KFK_ERR_NONE)
		ck_log(CK_LOG_INFO,
		       "group %s: its membership was not stored (%s%s%s): a coordinator taking it "
		       "over has its members join again",
		       st->group, kfk_err_name(err), message && message[0] ? ": " : "",
		       message ? message : "");
	free(st);
}

/* The core's Stable or Empty: proposes the group's membership (none when
 * Empty) for a successor, without waiting (members are answered now; a
 * successor that finds an older generation has them join again). */
static void kfk_group_store(void *arg, const kfk_group_t *g)
{
	static ck_log_limit_t big_lim;
	kfk_srv_t *s = arg;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__StoreGroup sg = CHRONIK__META__STORE_GROUP__INIT;
	Chronik__Meta__GroupStateRecord st = CHRONIK__META__GROUP_STATE_RECORD__INIT;
	Chronik__Meta__GroupMemberRecord *recs = NULL, **ptrs = NULL;
	Chronik__Meta__GroupProtocolRecord *prs = NULL, **pptrs = NULL;
	int n = g->state == KFK_GROUP_STABLE ? g->nmembers : 0;
	size_t idlen = strlen(g->id), np = 0, k = 0;
	kfk_gstore_t *name = NULL;

	for (int i = 0; i < n; i++)
		np += (size_t)g->members[i]->nprotos;
	if (n > 0) {
		recs = calloc((size_t)n, sizeof(*recs));
		ptrs = calloc((size_t)n, sizeof(*ptrs));
		prs = calloc(np ? np : 1, sizeof(*prs));
		pptrs = calloc(np ? np : 1, sizeof(*pptrs));
	}
	name = malloc(sizeof(*name) + idlen + 1);
	if ((n > 0 && (!recs || !ptrs || !prs || !pptrs)) || !name)
		goto out;
	name->srv = s;
	name->prev = name->next = NULL;
	name->view = s->meta_index; /* the view this node coordinates by */
	name->empty = n == 0;
	memcpy(name->group, g->id, idlen + 1);
	for (int i = 0; i < n; i++) {
		const kfk_gmember_t *m = g->members[i];

		chronik__meta__group_member_record__init(&recs[i]);
		recs[i].protocols = &pptrs[k];
		recs[i].n_protocols = (size_t)m->nprotos;
		for (int j = 0; j < m->nprotos; j++, k++) {
			chronik__meta__group_protocol_record__init(&prs[k]);
			prs[k].name = m->protos[j].name;
			prs[k].metadata =
			    (ProtobufCBinaryData){m->protos[j].meta_len, m->protos[j].meta};
			pptrs[k] = &prs[k];
		}
		recs[i].member_id = m->id;
		recs[i].instance_id = m->instance_id ? m->instance_id : "";
		recs[i].client_id = m->client_id;
		recs[i].client_host = m->client_host;
		recs[i].session_ms = m->session_ms;
		recs[i].rebalance_ms = m->rebalance_ms;
		recs[i].assignment = (ProtobufCBinaryData){m->assignment_len, m->assignment};
		ptrs[i] = &recs[i];
	}
	st.generation = g->generation;
	st.protocol_type = g->protocol_type;
	st.protocol = n > 0 && g->protocol ? g->protocol : "";
	st.leader = n > 0 && g->leader ? g->leader : "";
	st.n_members = (size_t)n;
	st.members = ptrs;
	sg.group = g->id;
	sg.state = &st;
	sg.view_index = name->view;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP;
	cmd.store_group = &sg;
	if (protobuf_c_message_get_packed_size(&cmd.base) > KFK_GROUP_STORE_MAX) {
		ck_log_limited(&big_lim, CK_LOG_WARN,
		               "group %s: membership of %d members too large to store: a "
		               "coordinator taking it over has its members join again",
		               g->id, n);
		goto out;
	}
	if (kfk_propose(s, &cmd, 0, kfk_group_stored, name) == 0) {
		name->next = s->gstores;
		if (name->next)
			name->next->prev = name;
		s->gstores = name;
		name = NULL; /* the callback's */
	} else {
		ck_log_limited(&big_lim, CK_LOG_WARN,
		               "group %s: membership not proposed: a coordinator taking it over "
		               "has its members join again",
		               g->id);
	}
out:
	free(name);
	free(recs);
	free(ptrs);
	free(prs);
	free(pptrs);
}

typedef struct {
	kfk_srv_t *srv;
	uint64_t now;
	bool deferred; /* a group skipped while its store is in flight */
} kfk_gload_walk_t;

static int kfk_group_load_one(void *arg, const char *group,
                              const Chronik__Meta__GroupStateRecord *rec)
{
	kfk_gload_walk_t *w = arg;
	kfk_srv_t *s = w->srv;
	kfk_gload_member_t *ms;
	kfk_gproto_in_t *ps;
	size_t np = 0, k = 0;
	kfk_gload_t in = {
	    .group = kfk_str(group),
	    .generation = rec->generation,
	    .protocol_type = rec->protocol_type,
	    .protocol = rec->protocol,
	    .leader = rec->leader,
	    .nmembers = (int)rec->n_members,
	};
	int r;

	if (rec->n_members == 0 || rec->n_members > INT32_MAX ||
	    kfk_gcore_find(&s->groups, in.group) || !kfk_group_is_mine(s, in.group))
		return 0;
	if (kfk_gstore_inflight(s, group)) {
		w->deferred = true; /* the next tick looks again */
		return 0;
	}
	for (size_t i = 0; i < rec->n_members; i++)
		np += rec->members[i]->n_protocols;
	ms = calloc(rec->n_members, sizeof(*ms));
	ps = calloc(np ? np : 1, sizeof(*ps));
	if (!ms || !ps) {
		free(ms);
		free(ps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rec->n_members; i++) {
		const Chronik__Meta__GroupMemberRecord *m = rec->members[i];

		for (size_t j = 0; j < m->n_protocols; j++)
			ps[k + j] = (kfk_gproto_in_t){kfk_str(m->protocols[j]->name),
			                              {m->protocols[j]->metadata.data,
			                               (int32_t)m->protocols[j]->metadata.len}};
		ms[i] = (kfk_gload_member_t){
		    .id = m->member_id,
		    .instance_id = m->instance_id,
		    .client_id = m->client_id,
		    .client_host = m->client_host,
		    .session_ms = m->session_ms,
		    .rebalance_ms = m->rebalance_ms,
		    .protos = &ps[k],
		    .nprotos = (int)m->n_protocols,
		    .assignment = m->assignment.data,
		    .assignment_len = m->assignment.len,
		};
		k += m->n_protocols;
	}
	in.members = ms;
	r = kfk_gcore_load(&s->groups, &in, w->now);
	free(ms);
	free(ps);
	if (r == 0) {
		ck_log(CK_LOG_INFO, "group %s taken over at generation %d with %d members", group,
		       (int)rec->generation, (int)rec->n_members);
	} else if (r != -EEXIST) {
		ck_log(CK_LOG_WARN, "group %s: stored membership not loaded: %s", group,
		       r == -EINVAL ? "not valid" : ck_strerror(r));
	}
	return r == -ENOMEM ? r : 0;
}

void kfk_groups_load(kfk_srv_t *s)
{
	kfk_gload_walk_t w = {.srv = s, .now = ck_clock_mono_ms()};
	const kfk_broker_t *b;
	MDB_txn *txn;
	int nb, r;

	if (s->self_fenced || !s->meta_caught_up || !s->meta)
		return;
	/* Reads the broker list first: the walk below picks coordinators
	 * from it without a transaction of its own. */
	if (kfk_meta_brokers(s, &b, &nb) < 0 || s->groups_loaded_gen == s->brokers_gen + 1)
		return; /* (+ 1: 0 is "not loaded", brokers_gen may be 0) */
	r = ck_meta_read_begin(s->meta, &txn);
	if (r < 0)
		return; /* the next request tries again */
	r = ck_meta_group_states_foreach(s->meta, txn, kfk_group_load_one, &w);
	ck_meta_read_end(txn);
	if (r < 0) {
		ck_log(CK_LOG_WARN, "cannot load stored groups: %s", ck_strerror(r));
		return;
	}
	if (!w.deferred)
		s->groups_loaded_gen = s->brokers_gen + 1;
}

/* ---- coordination ---- */

bool kfk_group_is_mine(kfk_srv_t *s, kfk_str_t group)
{
	return kfk_group_coordinator(s, group) == s->cfg->node_id;
}

bool kfk_group_id_ok(kfk_str_t group, bool empty_ok)
{
	/* Stored and listed again: bytes that are not UTF-8 would make
	 * ListGroups unreadable to clients (kafka-python) for good. */
	return group.len >= (empty_ok ? 0 : 1) && group.len <= KFK_GROUP_ID_MAX &&
	       (group.len == 0 || memchr(group.ptr, '\0', (size_t)group.len) == NULL) &&
	       kfk_str_utf8(group);
}

int16_t kfk_group_precheck(kfk_srv_t *s, kfk_str_t group, bool empty_ok)
{
	if (!kfk_group_id_ok(group, empty_ok))
		return KFK_ERR_INVALID_GROUP_ID;
	kfk_groups_raftd_check(s, ck_clock_mono_ms());
	/* Not caught up: just back in contact, the sync not yet run. */
	if (s->self_fenced || !s->meta_caught_up)
		return KFK_ERR_COORDINATOR_NOT_AVAILABLE;
	kfk_meta_refresh(s);
	kfk_groups_load(s);
	if (!kfk_group_is_mine(s, group))
		return KFK_ERR_NOT_COORDINATOR;
	return KFK_ERR_NONE;
}

void kfk_groups_stall_check(kfk_srv_t *s, uint64_t now)
{
	uint64_t session = (uint64_t)s->cfg->metadata_broker_session_ms;
	/* The controller counts a broker's silence from the last heartbeat of
	 * its raftd it received, sent up to a heartbeat (500 ms) before this
	 * process stopped running: a stall a second shorter than the session
	 * may already have had the broker fenced and its groups moved. */
	uint64_t limit = session > 2000 ? session - 1000 : session / 2;
	uint64_t last = s->groups_tick_ms;
	size_t n = ck_hash_count(&s->groups.groups);

	s->groups_tick_ms = now;
	if (s->cfg->peer_count <= 1 || last == 0 || now <= last || now - last <= limit)
		return; /* alone, no other node could have taken a group over */
	/* A member of before the stall must not commit over what its group's
	 * coordinator meanwhile acknowledged to its successors: Kafka's
	 * coordinator reloads a group it takes (back) over; here the members
	 * of the memory copy join again, after the sync. */
	ck_log(CK_LOG_WARN,
	       "kafka-frontend did not run for %llu ms (near broker_session_ms or more): its "
	       "groups may have moved meanwhile; dropping %zu groups' members, syncing the "
	       "metadata first",
	       (unsigned long long)(now - last), n);
	kfk_gcore_free(&s->groups, KFK_ERR_NOT_COORDINATOR);
	ck_hash_init(&s->groups.groups);
	s->groups_loaded_gen = 0;
	s->meta_caught_up = false;
}

void kfk_groups_raftd_check(kfk_srv_t *s, uint64_t now)
{
	uint64_t session = (uint64_t)s->cfg->metadata_broker_session_ms;
	uint64_t limit = session > 2000 ? session - 1000 : session / 2;
	bool silent =
	    s->status_wait_ms && now > s->status_wait_ms && now - s->status_wait_ms > limit;
	bool cut =
	    s->contact_lost_ms && now > s->contact_lost_ms && now - s->contact_lost_ms > session;

	if (s->cfg->peer_count <= 1)
		return;
	if (!silent && !cut) {
		if (s->self_fenced && s->raft_contact) {
			ck_log(CK_LOG_INFO, "raftd answers in contact with the Raft leader again: "
			                    "coordinating groups after a metadata sync");
			s->self_fenced = false;
			/* Its copy may still name this broker coordinator of groups
			 * moved meanwhile: the next request syncs first. */
			s->meta_caught_up = false;
		}
		return;
	}
	if (s->self_fenced)
		return;
	/* Its raftd's heartbeats to the controller stop with it: the broker
	 * is fenced a session after the last, and another coordinator takes
	 * its groups over, while this node's metadata still names it theirs:
	 * two coordinators would hand the same partitions out. */
	ck_log(CK_LOG_WARN,
	       "%s for %llu ms: this broker may be fenced, its partitions and groups moved; "
	       "dropping %zu groups' members, group requests get COORDINATOR_NOT_AVAILABLE and "
	       "produce requests NOT_LEADER_OR_FOLLOWER until it is back",
	       silent ? "raftd has not answered" : "raftd has had no contact with the Raft leader",
	       (unsigned long long)(now - (silent ? s->status_wait_ms : s->contact_lost_ms)),
	       ck_hash_count(&s->groups.groups));
	s->self_fenced = true;
	kfk_parts_wake_all(s); /* produces waiting for a high watermark */
	kfk_gcore_free(&s->groups, KFK_ERR_NOT_COORDINATOR);
	ck_hash_init(&s->groups.groups);
	s->groups_loaded_gen = 0;
	/* No sync now: one would hold every request until it timed out, a
	 * Metadata request too; the other requests are served from what this
	 * node knows, as a Kafka broker cut off from its controller does. */
}

static void kfk_groups_tick(evutil_socket_t fd, short what, void *arg)
{
	kfk_srv_t *s = arg;
	kfk_group_t *g;
	size_t it = 0;
	uint64_t now = ck_clock_mono_ms();

	(void)fd;
	(void)what;
	kfk_groups_stall_check(s, now);
	kfk_groups_raftd_check(s, now);
	kfk_parts_sweep(s, now); /* not groups': this tick is the only one */
	/* Groups taken over are loaded also when no member asks (yet): their
	 * sessions run, and a group whose members are gone empties (its
	 * stored membership goes) instead of lingering. */
	if (s->cfg->peer_count > 1 || s->groups_loaded_gen == 0) {
		kfk_meta_refresh(s);
		kfk_groups_load(s);
	}
	/* First: a group that became Empty since the last tick is seen once
	 * more before the core drops it. */
	kfk_expire_tick(s, now);
	kfk_gcore_tick(&s->groups, now);
	if (ck_hash_count(&s->groups.groups) == 0)
		return;
	kfk_meta_refresh(s);
	while ((g = ck_hash_next(&s->groups.groups, &it)) != NULL) {
		if (kfk_group_is_mine(s, kfk_str(g->id)))
			continue;
		ck_log(CK_LOG_INFO, "group %s moved to broker %d members=%d", g->id,
		       (int)kfk_group_coordinator(s, kfk_str(g->id)), g->nmembers);
		kfk_gcore_drop(&s->groups, g, KFK_ERR_NOT_COORDINATOR);
	}
}

int kfk_groups_start(kfk_srv_t *s)
{
	kfk_gcore_settings_t set = {
	    .min_session_ms = s->set.group_min_session_ms,
	    .max_session_ms = s->set.group_max_session_ms,
	    .initial_delay_ms = s->set.group_initial_delay_ms,
	    .max_members = s->set.group_max_size,
	    .empty_keep_ms = s->set.offsets_check_ms,
	};
	struct timeval tv = {0, KFK_GROUP_TICK_MS * 1000};

	kfk_gcore_init(&s->groups, &set, kfk_group_join_done, kfk_group_sync_done, s);
	kfk_gcore_on_state(&s->groups, kfk_group_store);
	s->groups_tick_ms = ck_clock_mono_ms();
	kfk_offexp_init(&s->offexp);
	s->groups_ev = event_new(s->base, -1, EV_PERSIST, kfk_groups_tick, s);
	if (!s->groups_ev)
		return -ENOMEM;
	(void)event_add(s->groups_ev, &tv);
	return 0;
}

void kfk_groups_stop(kfk_srv_t *s)
{
	/* Held joins and syncs are answered: their members look for the
	 * coordinator again (another node, or this one after its restart). */
	kfk_gcore_free(&s->groups, KFK_ERR_NOT_COORDINATOR);
	ck_hash_init(&s->groups.groups);
	if (s->groups_ev)
		(void)event_del(s->groups_ev);
}

void kfk_groups_free(kfk_srv_t *s)
{
	kfk_gcore_free(&s->groups, KFK_ERR_NOT_COORDINATOR);
	kfk_offexp_free(&s->offexp);
	if (s->groups_ev)
		event_free(s->groups_ev);
	s->groups_ev = NULL;
}

/* ---- JoinGroup ---- */

/* A member id as Kafka makes them: the client id, '-', a random UUID. */
static const char *kfk_group_member_id(kfk_req_t *req)
{
	kfk_srv_t *s = req->srv;
	kfk_str_t cid = req->hdr.client_id;
	int n = cid.len > 0 ? (cid.len > 200 ? 200 : cid.len) : 0;
	uint64_t a = kfk_srv_rand(s) | (uint64_t)kfk_srv_rand(s) << 32;
	uint64_t b = kfk_srv_rand(s) | (uint64_t)kfk_srv_rand(s) << 32;
	char *id = kfk_req_alloc(req, (size_t)n + 40, 1);

	if (!id)
		return NULL;
	(void)snprintf(id, (size_t)n + 40,
	               "%.*s-%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
	               n, n ? cid.ptr : "", a >> 32, (a >> 16) & 0xffff, a & 0xffff, b >> 48,
	               (uint64_t)(b & 0xffffffffffffu));
	return id;
}

/* The client's host as Kafka shows it ("/127.0.0.1"). */
static const char *kfk_group_client_host(kfk_req_t *req)
{
	const char *peer = req->conn ? kfk_conn_peer(req->conn) : "";
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
	char *h = kfk_req_alloc(req, n + 2, 1);

	if (h)
		(void)snprintf(h, n + 2, "/%.*s", (int)n, peer);
	return h ? h : "";
}

static char *kfk_group_client_id(kfk_req_t *req)
{
	return kfk_req_strdup(req, req->hdr.client_id);
}

void kfk_h_join_group(kfk_req_t *req)
{
	const kfk_join_group_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_gjoin_in_t in = {0};
	kfk_gproto_in_t *protos = NULL;
	int16_t err = kfk_group_precheck(s, rq->group_id, false);

	if (err != KFK_ERR_NONE) {
		kfk_gjoin_out_t out = {.err = err, .generation = -1, .leader = "", .member_id = ""};

		kfk_group_join_done(s, req, &out);
		return;
	}
	if (rq->protocols.count > 0) {
		protos = kfk_req_alloc(req, (size_t)rq->protocols.count, sizeof(*protos));
		if (!protos) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
	}
	for (int32_t i = 0; i < rq->protocols.count; i++) {
		protos[i].name = rq->protocols.items[i].name;
		protos[i].meta = rq->protocols.items[i].metadata;
	}
	in.group = rq->group_id;
	in.member_id = rq->member_id;
	in.instance_id = rq->group_instance_id;
	in.protocol_type = rq->protocol_type;
	in.protos = protos;
	in.nprotos = rq->protocols.count > 0 ? rq->protocols.count : 0;
	in.session_ms = rq->session_timeout_ms;
	in.rebalance_ms = req->api_version >= 1 ? rq->rebalance_timeout_ms : -1;
	in.require_known_id = req->api_version >= 4;
	in.new_member_id = kfk_group_member_id(req);
	in.client_id = kfk_group_client_id(req);
	in.client_host = kfk_group_client_host(req);
	if (!in.new_member_id || !in.client_id) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	(void)kfk_gcore_join(&s->groups, &in, req, ck_clock_mono_ms());
}

/* ---- SyncGroup ---- */

void kfk_h_sync_group(kfk_req_t *req)
{
	const kfk_sync_group_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_gsync_in_t in = {0};
	kfk_gassign_in_t *as = NULL;
	int16_t err = kfk_group_precheck(s, rq->group_id, false);

	if (err != KFK_ERR_NONE) {
		kfk_gsync_out_t out = {.err = err};

		kfk_group_sync_done(s, req, &out);
		return;
	}
	if (rq->assignments.count > 0) {
		as = kfk_req_alloc(req, (size_t)rq->assignments.count, sizeof(*as));
		if (!as) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
	}
	for (int32_t i = 0; i < rq->assignments.count; i++) {
		as[i].member_id = rq->assignments.items[i].member_id;
		as[i].assignment = rq->assignments.items[i].assignment;
	}
	in.group = rq->group_id;
	in.member_id = rq->member_id;
	in.instance_id = rq->group_instance_id;
	in.generation = rq->generation_id;
	in.protocol_type = rq->protocol_type;
	in.protocol = rq->protocol_name;
	in.assignments = as;
	in.nassignments = rq->assignments.count > 0 ? rq->assignments.count : 0;
	(void)kfk_gcore_sync(&s->groups, &in, req, ck_clock_mono_ms());
}

/* ---- Heartbeat, LeaveGroup ---- */

void kfk_h_heartbeat(kfk_req_t *req)
{
	const kfk_heartbeat_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_heartbeat_response_t resp;
	int16_t err = kfk_group_precheck(s, rq->group_id, false);

	kfk_heartbeat_response_init(&resp);
	resp.error_code =
	    err != KFK_ERR_NONE
	        ? err
	        : kfk_gcore_heartbeat(&s->groups, rq->group_id, rq->member_id,
	                              rq->group_instance_id, rq->generation_id, ck_clock_mono_ms());
	if (resp.error_code == KFK_ERR_FENCED_INSTANCE_ID)
		kfk_group_log_fenced(req, "Heartbeat", rq->group_id, rq->member_id,
		                     rq->group_instance_id);
	kfk_req_respond(req, &resp);
}

void kfk_h_leave_group(kfk_req_t *req)
{
	const kfk_leave_group_request_t *rq = req->body;
	kfk_srv_t *s = req->srv;
	kfk_leave_group_response_t resp;
	kfk_leave_group_response_member_response_t *out = NULL;
	int16_t err = kfk_group_precheck(s, rq->group_id, false);
	uint64_t now = ck_clock_mono_ms();

	kfk_leave_group_response_init(&resp);
	resp.error_code = err;
	if (err == KFK_ERR_NONE && req->api_version < 3) {
		resp.error_code =
		    kfk_gcore_leave(&s->groups, rq->group_id, rq->member_id, KFK_STR_NULL, now);
	} else if (err == KFK_ERR_NONE && rq->members.count > 0) {
		out = kfk_req_alloc(req, (size_t)rq->members.count, sizeof(*out));
		if (!out) {
			kfk_req_fail_conn(req, "out of memory");
			return;
		}
		for (int32_t i = 0; i < rq->members.count; i++) {
			const kfk_leave_group_request_member_identity_t *m = &rq->members.items[i];

			kfk_leave_group_response_member_response_init(&out[i]);
			out[i].member_id = m->member_id;
			out[i].group_instance_id = m->group_instance_id;
			out[i].error_code = kfk_gcore_leave(&s->groups, rq->group_id, m->member_id,
			                                    m->group_instance_id, now);
			if (out[i].error_code == KFK_ERR_FENCED_INSTANCE_ID)
				kfk_group_log_fenced(req, "LeaveGroup", rq->group_id, m->member_id,
				                     m->group_instance_id);
		}
		resp.members.count = rq->members.count;
		resp.members.items = out;
	}
	kfk_req_respond(req, &resp);
}
