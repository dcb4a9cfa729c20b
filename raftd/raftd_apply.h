/*
 * raftd_apply.h: the metadata state machine of chronik-raftd: one committed
 * MetadataCommand (a Raft log entry) applied to the LMDB `meta` environment.
 *
 * Deterministic: the result depends only on the entry (its index and
 * bytes) and the LMDB state before it, so every node that applies the same
 * log gets the same LMDB contents. A command that does not fit the current
 * state is applied as a no-op whose result code goes back to the proposer:
 *   CreateTopic        0 without a change when the topic exists with the
 *                      same topic id (a retry), CK_E_EXISTS (topic exists
 *                      with another id), CK_E_COLLISION (with
 *                      refuse_collision: the name equals an existing
 *                      topic's once '.' and '_' are equated), CK_E_INVALID (bad name,
 *                      reserved name, topic id not 16 non-zero bytes,
 *                      partitions not exactly 0..n-1, empty or duplicate
 *                      replicas, duplicate config keys, a bad value for a
 *                      log config key)
 *   DeleteTopic        CK_E_NOT_FOUND; on success the topic's committed
 *                      offsets go too, in every group
 *   CreatePartitions   CK_E_NOT_FOUND, CK_E_OUT_OF_ORDER (the new ones
 *                      numbered from another count than the current: one
 *                      committed since), CK_E_INVALID (no new partition,
 *                      not exactly current..current+k-1, bad replicas)
 *   AlterTopicConfigs  CK_E_NOT_FOUND, CK_E_INVALID (duplicate or empty
 *                      key, bad value for a log config key)
 *   RegisterBroker     CK_E_INVALID (no record, negative id, bad port)
 *   FenceBroker        CK_E_NOT_FOUND, CK_E_INVALID (incarnation given and
 *                      not the registered one)
 *   UpdatePartition    CK_E_NOT_FOUND, CK_E_AGAIN (partition_epoch is not
 *                      the current one: re-read and retry), CK_E_INVALID
 *                      (leader not in the ISR, ISR not within the replicas,
 *                      leader epoch going back)
 *   AllocateProducerIds CK_E_NOT_FOUND (broker), CK_E_INVALID (block size
 *                      outside 1..2^20, ids exhausted)
 *   CommitOffsets      CK_E_INVALID (group over RAFTD_GROUP_NAME_MAX bytes
 *                      ("" is one), or a group or topic name holding a NUL
 *                      byte), CK_E_STALE (view_index set and below the
 *                      index of the last RegisterBroker or FenceBroker
 *                      applied: the proposer may no longer coordinate the
 *                      group); else 0, storing the offsets of the
 *                      partitions that exist and skipping the others
 *   DeleteGroup        CK_E_INVALID (group as above), CK_E_NOT_FOUND (the
 *                      group holds no offset)
 *   Noop, an empty entry (a new leader's no-op): 0
 *   bytes that are no MetadataCommand, no command set: CK_E_INVALID
 * Every check runs before the first write, so a rejected command leaves no
 * trace in the transaction.
 *
 * Besides LMDB, applying has local side effects: the partition logs of this
 * broker (partitions whose replicas hold local_broker) are created or
 * deleted in walwriter. They are returned as a list of effects for the
 * shell to carry out (raftd_node.c) BEFORE it commits the transaction that
 * advances applied_index, so a crash in between re-applies the command and
 * redoes the effects (CreateLog of an existing log and DeleteLog of a
 * missing one count as done). Each effect names the topic id of its
 * record: a DeleteLog re-done after the topic was created again (an LMDB
 * rebuilt from a snapshot replays old entries) names the old id, and
 * walwriter keeps the new incarnation's log.
 *
 * Owned by raftd. Uses LMDB (through ck_meta) but no sockets, no clock, no
 * randomness. Not for: transactions and their commit (the caller's), Raft.
 */
#ifndef RAFTD_APPLY_H
#define RAFTD_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_meta.h"
#include "ck_segment.h"

/* Topic name the metadata log uses; no topic may take it. */
#define RAFTD_METADATA_TOPIC     "__chronik_metadata"
#define RAFTD_PRODUCER_BLOCK_MAX (1 << 20)
/* The longest consumer group name, in bytes (the "groups" keys of
 * ck_meta.h). */
#define RAFTD_GROUP_NAME_MAX CK_META_GROUP_MAX

/* Per-log settings as walwriter's LogConfig: 0 = the node default. */
typedef struct {
	int64_t segment_bytes;
	int64_t segment_ms;
	int64_t retention_bytes;
	int64_t retention_ms;
	int32_t max_message_bytes;
	int32_t index_interval_bytes;
} raftd_log_config_t;

typedef enum {
	RAFTD_EFFECT_CREATE_LOG = 1,
	RAFTD_EFFECT_DELETE_LOG = 2,
} raftd_effect_kind_t;

/* A topic id (TopicRecord.topic_id) is 16 bytes. */
#define RAFTD_TOPIC_ID_LEN 16

typedef struct {
	raftd_effect_kind_t kind;
	char topic[CK_TOPIC_NAME_MAX + 1];
	int32_t partition;
	raftd_log_config_t cfg; /* CREATE_LOG only */
	/* The incarnation: the topic record's id (CREATE_LOG: the topic
	 * created or grown; DELETE_LOG: the record being deleted), so that
	 * walwriter spares a log of a newer incarnation when an old
	 * DeleteTopic is applied again (replay). HAS_TOPIC_ID false when the
	 * record carries no 16-byte id. */
	uint8_t topic_id[RAFTD_TOPIC_ID_LEN];
	bool has_topic_id;
} raftd_effect_t;

typedef struct {
	raftd_effect_t *v;
	size_t n;
	size_t cap;
} raftd_effects_t;

void raftd_effects_reset(raftd_effects_t *fx);
void raftd_effects_free(raftd_effects_t *fx);
/* Appends a copy of E. Returns 0 or -ENOMEM. */
int raftd_effects_push(raftd_effects_t *fx, const raftd_effect_t *e);

typedef struct {
	ck_meta_t *meta;
	int32_t local_broker; /* this node's broker id */
} raftd_apply_t;

#define RAFTD_APPLY_MSG_MAX 320

typedef struct {
	int result; /* 0 or a CK_E_* code (see the file comment) */
	char message[RAFTD_APPLY_MSG_MAX];
} raftd_apply_result_t;

/*
 * Applies the entry at INDEX (DATA, LEN bytes; LEN 0 = a no-op) inside the
 * write transaction TXN, appending its local side effects to FX.
 * Returns 0 with *RET filled (the command's own result, 0 or a code above),
 * or a negative error when LMDB itself failed (MDB_MAP_FULL, -EIO ...) or
 * -ENOMEM: TXN must then be aborted and nothing of the round is applied.
 */
int raftd_apply_entry(const raftd_apply_t *a, MDB_txn *txn, uint64_t index, const uint8_t *data,
                      size_t len, raftd_effects_t *fx, raftd_apply_result_t *ret);
/* The same for an entry its caller decoded already (CMD, not NULL), of a
 * kind other than CommitOffsets and DeleteGroup: their names are checked
 * in the packed entry, so those go through raftd_apply_entry. */
int raftd_apply_entry_cmd(const raftd_apply_t *a, MDB_txn *txn, uint64_t index,
                          const Chronik__Meta__MetadataCommand *cmd, raftd_effects_t *fx,
                          raftd_apply_result_t *ret);

/*
 * Maps the configs of a topic to walwriter's per-log settings (keys
 * retention.ms, retention.bytes, segment.bytes, segment.ms,
 * max.message.bytes, index.interval.bytes; a cleanup.policy without the
 * item "delete" makes both retentions -1, unlimited; other keys are only
 * stored).
 * Returns 0, or CK_E_INVALID with *RET_BAD (may be NULL) naming the key
 * whose value is not a decimal integer in range.
 */
int raftd_apply_log_config(Chronik__Meta__ConfigEntry *const *configs, size_t n,
                           raftd_log_config_t *ret, const char **ret_bad);

/* Whether the AlterTopicConfigs C may change a per-log setting (above):
 * it sets or deletes one of their keys, or replaces every config. */
bool raftd_apply_alter_touches_log(const Chronik__Meta__AlterTopicConfigs *c);

/* True when the partition record lists BROKER among its replicas. */
int raftd_apply_is_replica(const Chronik__Meta__PartitionRecord *p, int32_t broker);

/* The last MetadataCommand oneof case (metadata.proto: the commands are
 * fields 1 .. this one). */
#define RAFTD_CMD_CASE_MAX CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP

/* The MetadataCommand oneof case the packed command P (LEN bytes) sets,
 * from its top-level fields alone (the last member wins, as in decoding);
 * 0 when P does not parse. Cheap enough for every entry. */
int raftd_apply_cmd_case(const uint8_t *p, size_t len);

#endif
