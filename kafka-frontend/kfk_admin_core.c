/*
 * kfk_admin_core.c: validation and replica placement for topic admin
 * requests (kfk_admin_core.h).
 *
 * Owned by kafka-frontend (pure). Checks follow Kafka's controller in order
 * and wording closely enough that admin tools show familiar messages.
 */
#include "kfk_admin_core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_segment.h"
#include "kfk_errors.h"

#define KFK_SHOW(len) ((int)((len) > 64 ? 64 : ((len) < 0 ? 0 : (len))))

static int16_t kfk_fail(int16_t code, char *msg, size_t msg_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int16_t kfk_fail(int16_t code, char *msg, size_t msg_len, const char *fmt, ...)
{
	va_list ap;

	if (msg_len) {
		va_start(ap, fmt);
		(void)vsnprintf(msg, msg_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

int16_t kfk_topic_name_legal(kfk_str_t name, char *msg, size_t msg_len)
{
	char buf[CK_TOPIC_NAME_MAX + 1];

	if (name.len <= 0)
		return kfk_fail(KFK_ERR_INVALID_TOPIC_EXCEPTION, msg, msg_len,
		                "topic name is empty");
	if (name.len > CK_TOPIC_NAME_MAX)
		return kfk_fail(KFK_ERR_INVALID_TOPIC_EXCEPTION, msg, msg_len,
		                "topic name is longer than %d characters", CK_TOPIC_NAME_MAX);
	memcpy(buf, name.ptr, (size_t)name.len);
	buf[name.len] = '\0';
	if (strlen(buf) != (size_t)name.len || !ck_topic_name_valid(buf))
		return kfk_fail(KFK_ERR_INVALID_TOPIC_EXCEPTION, msg, msg_len,
		                "topic name \"%.*s\" is illegal: it may contain only ASCII "
		                "alphanumerics, '.', '_' and '-', and may not be \".\" or \"..\"",
		                KFK_SHOW(name.len), name.ptr);
	return KFK_ERR_NONE;
}

int16_t kfk_topic_name_check(kfk_str_t name, char *ret_name, char *msg, size_t msg_len)
{
	char buf[CK_TOPIC_NAME_MAX + 1];
	int16_t err = kfk_topic_name_legal(name, msg, msg_len);

	if (err != KFK_ERR_NONE)
		return err;
	memcpy(buf, name.ptr, (size_t)name.len);
	buf[name.len] = '\0';
	if (!strncmp(buf, KFK_RESERVED_TOPIC_PREFIX, strlen(KFK_RESERVED_TOPIC_PREFIX)))
		return kfk_fail(KFK_ERR_INVALID_TOPIC_EXCEPTION, msg, msg_len,
		                "topic name \"%s\" is reserved for the broker (prefix %s)", buf,
		                KFK_RESERVED_TOPIC_PREFIX);
	memcpy(ret_name, buf, (size_t)name.len + 1);
	return KFK_ERR_NONE;
}

bool kfk_topic_internal(const char *name)
{
	return !strcmp(name, "__consumer_offsets") || !strcmp(name, "__transaction_state");
}

static bool kfk_broker_known(const int32_t *brokers, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (brokers[i] == id)
			return true;
	}
	return false;
}

/* One partition's replica list: non-empty, registered brokers, no repeats,
 * at least one of them live. A fenced broker (registered, down) may be
 * named, as Kafka's controller allows: it starts outside the ISR. */
static int16_t kfk_replicas_check(const int32_t *ids, int32_t n, const kfk_create_ctx_t *ctx,
                                  int32_t partition, char *msg, size_t msg_len)
{
	bool live = false;

	if (n <= 0)
		return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
		                "partition %d has an empty replica assignment", partition);
	for (int32_t i = 0; i < n; i++) {
		bool up = kfk_broker_known(ctx->brokers, ctx->nbrokers, ids[i]);

		if (!up && !kfk_broker_known(ctx->fenced, ctx->nfenced, ids[i]))
			return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
			                "partition %d is assigned to broker %d, but no such "
			                "broker is registered",
			                partition, ids[i]);
		live = live || up;
		for (int32_t j = 0; j < i; j++) {
			if (ids[j] == ids[i])
				return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
				                "partition %d lists broker %d more than once",
				                partition, ids[i]);
		}
	}
	if (!live)
		return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
		                "all brokers assigned to partition %d are fenced (down)",
		                partition);
	return KFK_ERR_NONE;
}

static int16_t kfk_create_check_manual(const kfk_create_topics_request_creatable_topic_t *t,
                                       const kfk_create_ctx_t *ctx, kfk_create_plan_t *ret,
                                       char *msg, size_t msg_len)
{
	int32_t n = t->assignments.count;
	int32_t rf = 0;

	if (n > KFK_PARTITIONS_MAX)
		return kfk_fail(KFK_ERR_INVALID_PARTITIONS, msg, msg_len,
		                "%d partitions is more than the maximum of %d", n,
		                KFK_PARTITIONS_MAX);
	for (int32_t i = 0; i < n; i++) {
		const kfk_create_topics_request_creatable_replica_assignment_t *a = NULL;
		int16_t err;

		/* Partitions must be exactly 0..n-1, in any order. */
		for (int32_t j = 0; j < n && !a; j++) {
			if (t->assignments.items[j].partition_index == i)
				a = &t->assignments.items[j];
		}
		if (!a)
			return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
			                "partitions should be a consecutive 0-based integer "
			                "sequence: %d is missing",
			                i);
		err = kfk_replicas_check(a->broker_ids.items, a->broker_ids.count, ctx, i, msg,
		                         msg_len);
		if (err != KFK_ERR_NONE)
			return err;
		if (i == 0)
			rf = a->broker_ids.count;
		else if (a->broker_ids.count != rf)
			return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
			                "all partitions should have the same number of replicas");
	}
	if (rf > INT16_MAX)
		return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
		                "too many replicas");
	ret->partitions = n;
	ret->replication_factor = (int16_t)rf;
	return KFK_ERR_NONE;
}

static int16_t kfk_create_check_counts(const kfk_create_topics_request_creatable_topic_t *t,
                                       const kfk_create_ctx_t *ctx, kfk_create_plan_t *ret,
                                       char *msg, size_t msg_len)
{
	int32_t np = t->num_partitions == -1 ? ctx->default_partitions : t->num_partitions;
	int32_t rf = t->replication_factor == -1 ? ctx->default_rf : t->replication_factor;

	if (np <= 0)
		return kfk_fail(KFK_ERR_INVALID_PARTITIONS, msg, msg_len,
		                "number of partitions was set to an invalid non-positive value");
	if (np > KFK_PARTITIONS_MAX)
		return kfk_fail(KFK_ERR_INVALID_PARTITIONS, msg, msg_len,
		                "%d partitions is more than the maximum of %d", np,
		                KFK_PARTITIONS_MAX);
	if (rf <= 0)
		return kfk_fail(KFK_ERR_INVALID_REPLICATION_FACTOR, msg, msg_len,
		                "replication factor must be larger than 0, or -1 to use the "
		                "default value");
	if ((size_t)rf > ctx->nbrokers)
		return kfk_fail(KFK_ERR_INVALID_REPLICATION_FACTOR, msg, msg_len,
		                "unable to replicate the partition %d time(s): the target "
		                "replication factor of %d cannot be reached because only %zu "
		                "broker(s) are registered",
		                rf, rf, ctx->nbrokers);
	ret->partitions = np;
	ret->replication_factor = (int16_t)rf;
	return KFK_ERR_NONE;
}

int16_t kfk_create_check(const kfk_create_topics_request_creatable_topic_t *t,
                         const kfk_create_ctx_t *ctx, kfk_create_plan_t *ret, char *msg,
                         size_t msg_len)
{
	int16_t err;

	memset(ret, 0, sizeof(*ret));
	err = kfk_topic_name_check(t->name, ret->name, msg, msg_len);
	if (err != KFK_ERR_NONE)
		return err;
	if (kfk_topic_internal(ret->name)) /* Kafka's words */
		return kfk_fail(KFK_ERR_INVALID_REQUEST, msg, msg_len,
		                "Creation of internal topic %s is prohibited.", ret->name);
	if (t->assignments.count > 0) {
		if (t->num_partitions != -1 || t->replication_factor != -1)
			return kfk_fail(KFK_ERR_INVALID_REQUEST, msg, msg_len,
			                "both numPartitions or replicationFactor and "
			                "replicasAssignments were set: both cannot be used at "
			                "the same time");
		err = kfk_create_check_manual(t, ctx, ret, msg, msg_len);
	} else {
		err = kfk_create_check_counts(t, ctx, ret, msg, msg_len);
	}
	if (err != KFK_ERR_NONE)
		return err;
	kfk_tcfg_set_init(&ret->configs);
	for (int32_t i = 0; i < t->configs.count; i++) {
		const kfk_create_topics_request_creatable_topic_config_t *c = &t->configs.items[i];

		err = kfk_tcfg_set_put(&ret->configs, ctx->cfg_defaults, c->name, c->value, msg,
		                       msg_len);
		if (err != KFK_ERR_NONE)
			return err;
	}
	return KFK_ERR_NONE;
}

void kfk_assign_round_robin(const int32_t *brokers, size_t n, int32_t first, int32_t count,
                            int16_t rf, uint32_t start, int32_t *ret)
{
	for (int32_t i = 0; i < count; i++) {
		for (int16_t j = 0; j < rf; j++) {
			uint64_t k = (uint64_t)start + (uint64_t)first + (uint64_t)i + (uint64_t)j;

			ret[(size_t)i * (size_t)rf + (size_t)j] = brokers[k % n];
		}
	}
}

void kfk_create_assign(const kfk_create_topics_request_creatable_topic_t *t,
                       const kfk_create_ctx_t *ctx, uint32_t start, kfk_create_plan_t *plan)
{
	int16_t rf = plan->replication_factor;

	if (t->assignments.count <= 0) {
		kfk_assign_round_robin(ctx->brokers, ctx->nbrokers, 0, plan->partitions, rf, start,
		                       plan->replicas);
		return;
	}
	for (int32_t i = 0; i < t->assignments.count; i++) {
		const kfk_create_topics_request_creatable_replica_assignment_t *a =
		    &t->assignments.items[i];

		memcpy(&plan->replicas[(size_t)a->partition_index * (size_t)rf],
		       a->broker_ids.items, (size_t)rf * sizeof(int32_t));
	}
}

int16_t kfk_partitions_check(const kfk_create_partitions_request_create_partitions_topic_t *t,
                             int32_t current, int16_t rf, const kfk_create_ctx_t *ctx,
                             uint32_t start, int32_t *ret_replicas, char *msg, size_t msg_len)
{
	int32_t add;

	if (t->count < current)
		return kfk_fail(KFK_ERR_INVALID_PARTITIONS, msg, msg_len,
		                "topic currently has %d partitions, which is higher than the "
		                "requested %d",
		                current, t->count);
	if (t->count == current)
		return kfk_fail(KFK_ERR_INVALID_PARTITIONS, msg, msg_len,
		                "topic already has %d partitions", current);
	if (t->count > KFK_PARTITIONS_MAX)
		return kfk_fail(KFK_ERR_INVALID_PARTITIONS, msg, msg_len,
		                "%d partitions is more than the maximum of %d", t->count,
		                KFK_PARTITIONS_MAX);
	add = t->count - current;
	if (t->assignments.count < 0) {
		if (rf <= 0 || (size_t)rf > ctx->nbrokers)
			return kfk_fail(KFK_ERR_INVALID_REPLICATION_FACTOR, msg, msg_len,
			                "unable to place %d replica(s): only %zu broker(s) are "
			                "registered",
			                rf, ctx->nbrokers);
		kfk_assign_round_robin(ctx->brokers, ctx->nbrokers, current, add, rf, start,
		                       ret_replicas);
		return KFK_ERR_NONE;
	}
	if (t->assignments.count != add)
		return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
		                "increasing the number of partitions by %d but %d assignments "
		                "provided",
		                add, t->assignments.count);
	for (int32_t i = 0; i < add; i++) {
		const kfk_create_partitions_request_create_partitions_assignment_t *a =
		    &t->assignments.items[i];
		int16_t err = kfk_replicas_check(a->broker_ids.items, a->broker_ids.count, ctx,
		                                 current + i, msg, msg_len);

		if (err != KFK_ERR_NONE)
			return err;
		if (a->broker_ids.count != rf)
			return kfk_fail(KFK_ERR_INVALID_REPLICA_ASSIGNMENT, msg, msg_len,
			                "partition %d has %d replicas but the topic has "
			                "replication factor %d",
			                current + i, a->broker_ids.count, rf);
		memcpy(&ret_replicas[(size_t)i * (size_t)rf], a->broker_ids.items,
		       (size_t)rf * sizeof(int32_t));
	}
	return KFK_ERR_NONE;
}

typedef struct {
	kfk_str_t name;
	int32_t partition;
	size_t index;
} kfk_name_ref_t;

static bool kfk_name_ref_same(const kfk_name_ref_t *x, const kfk_name_ref_t *y)
{
	return x->partition == y->partition && x->name.len == y->name.len &&
	       (x->name.len <= 0 || !memcmp(x->name.ptr, y->name.ptr, (size_t)x->name.len));
}

static int kfk_name_ref_cmp(const void *a, const void *b)
{
	const kfk_name_ref_t *x = a, *y = b;
	int c;

	if (x->name.len != y->name.len)
		return x->name.len < y->name.len ? -1 : 1;
	c = x->name.len > 0 ? memcmp(x->name.ptr, y->name.ptr, (size_t)x->name.len) : 0;
	if (c != 0)
		return c;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* kfk_names_dups, of (name, PARTS[i]) pairs when PARTS is not NULL. */
static int kfk_refs_dups(const kfk_str_t *names, const int32_t *parts, size_t n, uint8_t *ret)
{
	kfk_name_ref_t *refs;
	size_t m = 0;

	memset(ret, KFK_NAME_UNIQUE, n);
	if (n < 2)
		return 0;
	refs = malloc(n * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (names[i].len >= 0)
			refs[m++] = (kfk_name_ref_t){names[i], parts ? parts[i] : 0, i};
	/* Equal names end up next to each other, lowest index first. */
	qsort(refs, m, sizeof(*refs), kfk_name_ref_cmp);
	for (size_t i = 1; i < m; i++) {
		if (!kfk_name_ref_same(&refs[i - 1], &refs[i]))
			continue;
		if (ret[refs[i - 1].index] == KFK_NAME_UNIQUE)
			ret[refs[i - 1].index] = KFK_NAME_DUP_FIRST;
		ret[refs[i].index] = KFK_NAME_DUP_LATER;
	}
	free(refs);
	return 0;
}

int kfk_names_dups(const kfk_str_t *names, size_t n, uint8_t *ret)
{
	return kfk_refs_dups(names, NULL, n, ret);
}

int kfk_parts_dups(const kfk_str_t *names, const int32_t *parts, size_t n, uint8_t *ret)
{
	return kfk_refs_dups(names, parts, n, ret);
}

int16_t kfk_elect_check(int8_t type, int32_t leader, const int32_t *replicas, int32_t nreplicas,
                        const int32_t *isr, int32_t nisr, const int32_t *live, size_t nlive,
                        char *msg, size_t msg_len)
{
	if (type == KFK_ELECTION_UNCLEAN) {
		if (leader >= 0)
			return kfk_fail(KFK_ERR_ELECTION_NOT_NEEDED, msg, msg_len,
			                "the partition has a leader");
		return kfk_fail(
		    KFK_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE, msg, msg_len,
		    "no in-sync replica is live, and unclean leader election is not "
		    "supported: a replica outside the ISR may lack acknowledged records");
	}
	if (type != KFK_ELECTION_PREFERRED)
		return kfk_fail(KFK_ERR_INVALID_REQUEST, msg, msg_len, "unknown election type %d",
		                (int)type);
	if (nreplicas <= 0)
		return kfk_fail(KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE, msg, msg_len,
		                "the partition has no replicas");
	if (leader == replicas[0])
		return kfk_fail(KFK_ERR_ELECTION_NOT_NEEDED, msg, msg_len,
		                "the preferred replica %d leads already", replicas[0]);
	if (nisr < 0 || !kfk_broker_known(isr, (size_t)nisr, replicas[0]))
		return kfk_fail(KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE, msg, msg_len,
		                "the preferred replica %d is not in the ISR", replicas[0]);
	if (!kfk_broker_known(live, nlive, replicas[0]))
		return kfk_fail(KFK_ERR_PREFERRED_LEADER_NOT_AVAILABLE, msg, msg_len,
		                "the preferred replica %d is not live", replicas[0]);
	if (msg_len)
		msg[0] = '\0';
	return KFK_ERR_NONE;
}
