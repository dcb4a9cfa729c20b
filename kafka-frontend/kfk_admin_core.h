/*
 * kfk_admin_core.h: the decisions behind CreateTopics, CreatePartitions,
 * DeleteTopics and ElectLeaders: validating topic names, partition counts,
 * replication factors, manual assignments and configs, placing replicas,
 * and whether a partition's preferred replica can take its leadership.
 *
 * Owned by kafka-frontend (pure: no I/O, no clock, no logging). Inputs are
 * decoded requests (kfk_msgs.h) and plain facts the shell looked up (the
 * live brokers, whether a topic exists, its partition count); outputs are a
 * Kafka error code with a message, and on success the resolved numbers and
 * assignments the shell puts into a MetadataCommand.
 * Not for: proposing, LMDB, responses (kfk_h_admin.c).
 */
#ifndef KFK_ADMIN_CORE_H
#define KFK_ADMIN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kfk_msgs.h"
#include "kfk_topic_cfg.h"

/* Most partitions a topic may have (a guard against typos that would
 * create a million logs). */
#define KFK_PARTITIONS_MAX 10000
/* Kafka's default.replication.factor. */
#define KFK_DEFAULT_REPLICATION_FACTOR 1
/* Topic names starting with this are the broker's own (the metadata log is
 * __chronik_metadata-0): clients cannot create or delete them. */
#define KFK_RESERVED_TOPIC_PREFIX "__chronik"

/* Kafka's rules for a topic name (ck_topic_name_valid, as its
 * Topic.validate: not empty, at most CK_TOPIC_NAME_MAX bytes of
 * [A-Za-z0-9._-], not "." or ".."). Returns KFK_ERR_NONE or
 * KFK_ERR_INVALID_TOPIC_EXCEPTION with a message. */
int16_t kfk_topic_name_legal(kfk_str_t name, char *msg, size_t msg_len);
/* Kafka's rules for a topic name (kfk_topic_name_legal) plus the reserved
 * prefix. Returns KFK_ERR_NONE or KFK_ERR_INVALID_TOPIC_EXCEPTION with a
 * message. Copies the name, NUL-terminated, into RET_NAME (at least
 * CK_TOPIC_NAME_MAX + 1 bytes) when valid. */
int16_t kfk_topic_name_check(kfk_str_t name, char *ret_name, char *msg, size_t msg_len);
/* Whether NAME is one of Kafka's internal topics (__consumer_offsets,
 * __transaction_state): Kafka refuses to create them by request
 * (INVALID_REQUEST) or auto-creation; here groups keep their offsets in the
 * metadata, and an ordinary topic of that name would fool tools that read
 * it as Kafka's. */
bool kfk_topic_internal(const char *name);

/* What the shell knows for one CreateTopics entry. */
typedef struct {
	const int32_t *brokers; /* live broker ids, ascending */
	size_t nbrokers;
	const int32_t *fenced; /* registered but fenced broker ids (down) */
	size_t nfenced;
	int32_t default_partitions; /* num.partitions */
	int16_t default_rf;         /* default.replication.factor */
	const kfk_tcfg_defaults_t *cfg_defaults;
} kfk_create_ctx_t;

/* A validated topic, ready to be proposed. */
typedef struct {
	char name[256];
	int32_t partitions;
	int16_t replication_factor;
	int32_t *replicas; /* partitions * replication_factor ids, caller-owned */
	kfk_tcfg_set_t configs;
} kfk_create_plan_t;

/*
 * Validates one CreateTopics entry T (not checking existence: the shell
 * does that) and resolves num_partitions / replication_factor -1 to the
 * defaults. Errors, in Kafka's order: INVALID_TOPIC_EXCEPTION, INVALID_REQUEST
 * (assignments together with explicit counts), INVALID_PARTITIONS,
 * INVALID_REPLICATION_FACTOR (also more replicas than live brokers),
 * INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG. On success fills RET except
 * replicas: call kfk_create_assign() next with room for
 * partitions * replication_factor ids.
 */
int16_t kfk_create_check(const kfk_create_topics_request_creatable_topic_t *t,
                         const kfk_create_ctx_t *ctx, kfk_create_plan_t *ret, char *msg,
                         size_t msg_len);

/*
 * Fills PLAN->replicas: the manual assignment of T when it has one (already
 * validated), else round robin over CTX's brokers starting at START (any
 * number: the shell passes a random one so leaders spread over brokers).
 */
void kfk_create_assign(const kfk_create_topics_request_creatable_topic_t *t,
                       const kfk_create_ctx_t *ctx, uint32_t start, kfk_create_plan_t *plan);

/*
 * Round robin placement of COUNT partitions from FIRST: partition FIRST + i
 * gets brokers[(start + FIRST + i + j) % n] for replica j. RF <= N.
 * RET holds COUNT * RF ids.
 */
void kfk_assign_round_robin(const int32_t *brokers, size_t n, int32_t first, int32_t count,
                            int16_t rf, uint32_t start, int32_t *ret);

/*
 * Validates one CreatePartitions entry: the topic has CURRENT partitions
 * with replication factor RF; T asks for T->count in total. Errors:
 * INVALID_PARTITIONS (count not above current, or above the maximum),
 * INVALID_REPLICA_ASSIGNMENT (wrong number of assignments, a wrong replica
 * count, an unknown or repeated broker), INVALID_REPLICATION_FACTOR (RF
 * above the live brokers when placing automatically). On success fills
 * RET_REPLICAS ((count - current) * rf ids, caller-sized) from the manual
 * assignment or round robin from START.
 */
int16_t kfk_partitions_check(const kfk_create_partitions_request_create_partitions_topic_t *t,
                             int32_t current, int16_t rf, const kfk_create_ctx_t *ctx,
                             uint32_t start, int32_t *ret_replicas, char *msg, size_t msg_len);

/* What kfk_names_dups() says of one name of a request. */
enum {
	KFK_NAME_UNIQUE = 0,    /* named once (or a null name: never a duplicate) */
	KFK_NAME_DUP_FIRST = 1, /* named more than once; this is the first copy */
	KFK_NAME_DUP_LATER = 2, /* named more than once; an earlier copy exists */
};

/* Classifies each of the N NAMES (a topic named twice in one request gets
 * INVALID_REQUEST: CreateTopics and DeleteTopics answer every copy,
 * CreatePartitions names the topic once) into RET[i]. O(N log N): a
 * request may name hundreds of thousands of topics. Returns 0 or -ENOMEM. */
int kfk_names_dups(const kfk_str_t *names, size_t n, uint8_t *ret);
/* The same for N (topic NAMES[i], partition PARTS[i]) pairs (ListOffsets
 * answers a partition named twice INVALID_REQUEST, every copy). */
int kfk_parts_dups(const kfk_str_t *names, const int32_t *parts, size_t n, uint8_t *ret);

/* ElectLeaders' election types (KIP-460). */
enum {
	KFK_ELECTION_PREFERRED = 0,
	KFK_ELECTION_UNCLEAN = 1,
};

/*
 * One partition of an ElectLeaders request of election TYPE: its LEADER
 * (-1: none), NREPLICAS REPLICAS (the first is the preferred leader), NISR
 * ISR members and the NLIVE LIVE (registered, unfenced) brokers. Returns
 * KFK_ERR_NONE when REPLICAS[0] is to become the leader (the shell
 * proposes it), or: ELECTION_NOT_NEEDED (preferred: it leads already;
 * unclean: the partition has a leader); PREFERRED_LEADER_NOT_AVAILABLE
 * (the preferred replica is not in the ISR or not live);
 * ELIGIBLE_LEADERS_NOT_AVAILABLE (an unclean election of a partition
 * without a leader: not done here, a replica outside the ISR may lack
 * acknowledged records; a live ISR member is elected by the controller
 * by itself); INVALID_REQUEST (another type). With a message in MSG.
 */
int16_t kfk_elect_check(int8_t type, int32_t leader, const int32_t *replicas, int32_t nreplicas,
                        const int32_t *isr, int32_t nisr, const int32_t *live, size_t nlive,
                        char *msg, size_t msg_len);

#endif
