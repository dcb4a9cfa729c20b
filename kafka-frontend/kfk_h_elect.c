/*
 * kfk_h_elect.c: ElectLeaders (0-2) (shell handler of chronik-kafka-frontend),
 * what kafka-leader-election.sh and AdminClient.electLeaders send.
 *
 * Owned by kafka-frontend. Each partition is checked against this node's
 * metadata (kfk_elect_check: preferred elections; an unclean one is
 * refused), after syncing with the controller on a follower, and the move
 * is proposed to raftd as an UpdatePartition: the preferred replica as
 * leader, the same ISR, leader epoch + 1, compare-and-set on the partition
 * epoch (a partition that changed meanwhile gets REQUEST_TIMED_OUT, and a
 * retry sees the new state), as the controller's own rebalance does
 * (raftd/raftd_rebal.h). The answer comes once every move is applied here.
 * A null partition list means every partition; those whose preferred
 * replica leads already are left out of that answer, as in Kafka. One
 * request handles at most KFK_ELECT_MAX partitions (Kafka's bound on the
 * records of one admin operation): a request naming more gets
 * INVALID_REQUEST as its top-level error (v0, which has none, is closed),
 * one for every partition answers the first KFK_ELECT_MAX that need an
 * election (the next request gets the next ones). The later copies of a
 * partition named twice get INVALID_REQUEST.
 * Not for: the validation itself (kfk_admin_core.c), proposing
 * (kfk_propose.c).
 */
#define CK_LOG_SUBSYSTEM "admin"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_log.h"
#include "kfk_admin_core.h"
#include "kfk_errors.h"
#include "kfk_h_admin.h"
#include "kfk_srv.h"

#define KFK_ELECT_MAX 10000

/* One partition of the answer. */
typedef struct {
	const char *topic; /* NUL-terminated, in the request's arena */
	int32_t partition;
	int32_t group;  /* its topic entry in the answer */
	bool nul_named; /* the request's name has a NUL: no topic has it */
} kfk_el_t;

typedef struct {
	kfk_el_t *v;
	int32_t n;
	int32_t ngroups;
	bool all; /* a null partition list */
} kfk_els_t;

static void kfk_el_respond(kfk_admin_t *ad)
{
	kfk_req_t *req = ad->req;
	const kfk_els_t *els = ad->extra;
	kfk_elect_leaders_response_t resp;
	kfk_elect_leaders_response_replica_election_result_t *groups;
	kfk_elect_leaders_response_partition_result_t *parts;

	groups = kfk_req_alloc(req, (size_t)els->ngroups, sizeof(*groups));
	parts = kfk_req_alloc(req, (size_t)els->n, sizeof(*parts));
	if (!groups || !parts) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	for (int32_t g = 0; g < els->ngroups; g++)
		kfk_elect_leaders_response_replica_election_result_init(&groups[g]);
	/* Entries come grouped: each group's partitions are contiguous. */
	for (int32_t i = 0; i < els->n; i++) {
		kfk_elect_leaders_response_replica_election_result_t *g = &groups[els->v[i].group];
		kfk_elect_leaders_response_partition_result_t *p = &parts[i];

		if (g->partition_result.count == 0) {
			g->topic = kfk_str(els->v[i].topic);
			g->partition_result.items = p;
		}
		g->partition_result.count++;
		kfk_elect_leaders_response_partition_result_init(p);
		p->partition_id = els->v[i].partition;
		p->error_code = ad->ops[i].err;
		p->error_message = ad->ops[i].err ? kfk_str(ad->ops[i].msg) : KFK_STR_NULL;
	}
	if (!els->all) { /* every named topic is answered as named, also one without partitions */
		const kfk_elect_leaders_request_t *rq = req->body;

		for (int32_t g = 0; g < els->ngroups; g++)
			groups[g].topic = rq->topic_partitions.items[g].topic;
	}
	kfk_elect_leaders_response_init(&resp);
	resp.error_code = KFK_ERR_NONE;
	resp.replica_election_results.count = els->ngroups;
	resp.replica_election_results.items = groups;
	kfk_req_respond(req, &resp);
}

/* How many partitions a request names. */
static size_t kfk_el_count(const kfk_elect_leaders_request_t *rq)
{
	size_t n = 0;

	for (int32_t g = 0; g < rq->topic_partitions.count; g++)
		n += (size_t)CK_MAX(rq->topic_partitions.items[g].partitions.count, 0);
	return n;
}

/* The partitions a request names, in its order, one group per topic entry. */
static int kfk_el_named(kfk_req_t *req, kfk_els_t *els)
{
	const kfk_elect_leaders_request_t *rq = req->body;
	int32_t k = 0;

	els->v = kfk_req_alloc(req, kfk_el_count(rq), sizeof(*els->v));
	if (!els->v)
		return -ENOMEM;
	for (int32_t g = 0; g < rq->topic_partitions.count; g++) {
		const kfk_elect_leaders_request_topic_partitions_t *tp =
		    &rq->topic_partitions.items[g];
		char *name = kfk_req_strdup(req, tp->topic);
		bool nul = tp->topic.len > 0 && memchr(tp->topic.ptr, 0, (size_t)tp->topic.len);

		if (!name)
			return -ENOMEM;
		for (int32_t i = 0; i < tp->partitions.count; i++)
			els->v[k++] = (kfk_el_t){name, tp->partitions.items[i], g, nul};
	}
	els->n = k;
	els->ngroups = rq->topic_partitions.count;
	return 0;
}

/* Whether partition PM of a topic belongs in the answer to a request for
 * every partition (Kafka leaves out those that need no election). */
static bool kfk_el_wanted(int8_t type, const kfk_pmeta_t *pm, const int32_t *live, size_t nlive)
{
	char msg[8];

	return kfk_elect_check(type, pm->leader, pm->replicas, pm->nreplicas, pm->isr, pm->nisr,
	                       live, nlive, msg, sizeof(msg)) != KFK_ERR_ELECTION_NOT_NEEDED;
}

/* Every partition that needs an election, topic by topic, one group per
 * topic with any: two walks, the first counting. */
static int kfk_el_all(kfk_req_t *req, kfk_els_t *els, int8_t type, const int32_t *live,
                      size_t nlive)
{
	char **names = NULL;
	int nn = kfk_meta_topic_names(req->srv, &names);
	int32_t k = 0;
	size_t n = 0;
	int r = 0;

	if (nn < 0)
		return nn;
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		if (pass == 1 && !(els->v = kfk_req_alloc(req, n, sizeof(*els->v)))) {
			r = -ENOMEM;
			break;
		}
		for (int i = 0; i < nn && r == 0; i++) {
			kfk_topic_t *t = NULL;
			const char *copy = NULL;
			bool any = false;

			if (kfk_meta_topic(req->srv, kfk_str(names[i]), &t) <= 0)
				continue;
			for (int32_t p = 0; p < t->npart; p++) {
				if (pass == 0 ? n == KFK_ELECT_MAX : (size_t)k == n)
					break;
				if (!kfk_el_wanted(type, &t->parts[p], live, nlive))
					continue;
				if (pass == 0) {
					n++;
					continue;
				}
				if (!any && !(copy = kfk_req_strdup(req, kfk_str(t->name)))) {
					r = -ENOMEM;
					break;
				}
				els->v[k++] = (kfk_el_t){copy, p, els->ngroups, false};
				any = true;
			}
			if (any)
				els->ngroups++;
		}
	}
	kfk_meta_names_free(names, nn);
	els->n = k;
	els->all = true;
	return r;
}

static int kfk_el_cmp(const void *a, const void *b)
{
	const kfk_el_t *x = *(const kfk_el_t *const *)a, *y = *(const kfk_el_t *const *)b;
	int c = strcmp(x->topic, y->topic);

	if (c)
		return c;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* RET[i] = whether entry i repeats an earlier one. */
static int kfk_el_dups(const kfk_els_t *els, bool *ret)
{
	const kfk_el_t **order = malloc((size_t)CK_MAX(els->n, 1) * sizeof(*order));

	if (!order)
		return -ENOMEM;
	for (int32_t i = 0; i < els->n; i++)
		order[i] = &els->v[i];
	qsort(order, (size_t)els->n, sizeof(*order), kfk_el_cmp);
	for (int32_t i = 1; i < els->n; i++)
		if (!strcmp(order[i]->topic, order[i - 1]->topic) &&
		    order[i]->partition == order[i - 1]->partition)
			ret[order[i] - els->v] = true;
	free(order);
	return 0;
}

static void kfk_el_propose(kfk_aop_t *op, const kfk_topic_t *t, const kfk_pmeta_t *pm)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__UpdatePartition up = CHRONIK__META__UPDATE_PARTITION__INIT;

	up.topic = (char *)t->name;
	up.partition = pm->partition;
	up.leader = pm->replicas[0];
	up.n_isr = (size_t)pm->nisr;
	up.isr = pm->isr;
	up.leader_epoch = pm->leader_epoch + 1;
	up.partition_epoch = pm->partition_epoch;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION;
	cmd.update_partition = &up;
	ck_log(CK_LOG_INFO, "electing the preferred leader partition=%s-%d leader %d -> %d",
	       t->name, pm->partition, pm->leader, pm->replicas[0]);
	kfk_aop_propose(op, &cmd);
}

static void kfk_el_one(kfk_admin_t *ad, int32_t i, int8_t type, const int32_t *live, size_t nlive)
{
	const kfk_el_t *e = &((const kfk_els_t *)ad->extra)->v[i];
	kfk_aop_t *op = &ad->ops[i];
	kfk_topic_t *t = NULL;
	const kfk_pmeta_t *pm;
	int16_t err;

	if (e->nul_named || kfk_meta_topic(ad->req->srv, kfk_str(e->topic), &t) <= 0 ||
	    e->partition < 0 || e->partition >= t->npart)
		return kfk_aop_set(op, KFK_ERR_UNKNOWN_TOPIC_OR_PARTITION,
		                   "this server does not host this topic-partition");
	pm = &t->parts[e->partition];
	err = kfk_elect_check(type, pm->leader, pm->replicas, pm->nreplicas, pm->isr, pm->nisr,
	                      live, nlive, op->msg, sizeof(op->msg));
	if (err != KFK_ERR_NONE)
		return kfk_aop_set(op, err, op->msg);
	kfk_aop_set(op, KFK_ERR_NONE, NULL);
	kfk_el_propose(op, t, pm);
}

/* A request naming more than KFK_ELECT_MAX partitions. */
static void kfk_el_too_many(kfk_req_t *req)
{
	kfk_elect_leaders_response_t resp;

	ck_log(CK_LOG_INFO, "ElectLeaders refused: more than %d partitions in one request peer=%s",
	       KFK_ELECT_MAX, req->conn ? kfk_conn_peer(req->conn) : "-");
	if (req->api_version == 0) {
		kfk_req_fail_conn(req, "ElectLeaders v0 naming too many partitions");
		return;
	}
	kfk_elect_leaders_response_init(&resp);
	resp.error_code = KFK_ERR_INVALID_REQUEST;
	kfk_req_respond(req, &resp);
}

void kfk_h_elect_leaders(kfk_req_t *req)
{
	const kfk_elect_leaders_request_t *rq = req->body;
	int32_t live[CK_CONFIG_PEERS_MAX + 1];
	size_t nlive;
	kfk_els_t *els = kfk_req_alloc(req, 1, sizeof(*els));
	kfk_admin_t *ad;
	bool *dup;
	int r;

	/* Leaders and ISRs move often: decide on the controller's view. */
	kfk_meta_refresh(req->srv);
	if (kfk_meta_controller(req->srv) != req->srv->cfg->node_id &&
	    kfk_req_sync_first(req, kfk_h_elect_leaders))
		return;
	if (!els) {
		kfk_req_fail_conn(req, "out of memory");
		return;
	}
	if (kfk_el_count(rq) > KFK_ELECT_MAX)
		return kfk_el_too_many(req);
	nlive = (size_t)kfk_meta_live_broker_ids(req->srv, live, (int)CK_ARRAY_LEN(live));
	r = rq->topic_partitions.count < 0 ? kfk_el_all(req, els, rq->election_type, live, nlive)
	                                   : kfk_el_named(req, els);
	dup = r == 0 ? kfk_req_alloc(req, (size_t)els->n, sizeof(*dup)) : NULL;
	ad = dup ? kfk_admin_new(req, els->n, rq->timeout_ms, kfk_el_respond) : NULL;
	if (!ad || kfk_el_dups(els, dup) < 0) {
		kfk_req_fail_conn(req, r < 0 && r != -ENOMEM ? ck_strerror(r) : "out of memory");
		return;
	}
	ad->extra = els;
	for (int32_t i = 0; i < els->n; i++) {
		if (dup[i])
			kfk_aop_set(&ad->ops[i], KFK_ERR_INVALID_REQUEST,
			            "partition named more than once in the request");
		else
			kfk_el_one(ad, i, rq->election_type, live, nlive);
	}
	kfk_admin_release(ad);
}
