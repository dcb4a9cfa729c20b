/*
 * ck_meta.h: the LMDB `meta` environment (<data_dir>/meta): committed
 * cluster metadata and offset checkpoints.
 *
 * Named databases and their keys:
 *   "state"       "applied_index" -> u64 little-endian: the last Raft index
 *                 applied, written in the same transaction as what it covers.
 *                 "parts_index" -> u64 little-endian: the index of the last
 *                 applied entry that changed partition records (created,
 *                 deleted or updated them); readers that only follow
 *                 partitions skip a re-read while it stays. 0 or missing:
 *                 unknown (read everything). "brokers_index" -> u64
 *                 little-endian: the index of the last applied entry that
 *                 registered, fenced or unfenced a broker (0 or missing:
 *                 none since the key exists).
 *   "topics"      topic name (no NUL) -> packed chronik.meta.TopicRecord
 *   "partitions"  topic name, NUL, partition as big-endian u32
 *                 -> packed chronik.meta.PartitionRecord (so a cursor walks
 *                 one topic's partitions in order)
 *   "brokers"     broker id as big-endian u32 -> packed chronik.meta.BrokerRecord
 *   "offsets"     checkpoints: "wal/<topic>-<p>" (walwriter), "hw/<topic>-<p>"
 *                 (replicator); values are theirs to define.
 *   "changes"     Raft index as big-endian u64 -> the name of the topic (no
 *                 NUL) whose partition records the entry at that index
 *                 changed (the entries that move "parts_index"); an empty
 *                 name: a topic unknown to this writer, read everything.
 *                 Key 0 (no entry has index 0) -> u64 little-endian: the
 *                 floor. Invariant: every partition-changing entry with
 *                 floor <= index <= parts_index has its key here. Missing
 *                 floor: unknown (an environment from before "changes").
 *                 A reader that last read the partitions at parts_index P0
 *                 and now sees P1 > P0 may re-read only the topics of keys
 *                 P0+1 .. P1 when floor != 0, floor <= P0 + 1 and key P1 is
 *                 present; otherwise it reads everything. The floor lives
 *                 in "changes", not in "state", so that the two always
 *                 travel together: raftd's snapshot install replaces
 *                 "state" (parts_index included) but not this database,
 *                 and the key-P1 check then sends readers to a full read
 *                 until raftd restarts the floor (ck_meta_change_put).
 *   "groups"      committed offsets of consumer groups: group name, NUL,
 *                 topic name, NUL, partition as big-endian u32 (names
 *                 1..255 bytes without NUL, the key at most 511) -> packed
 *                 chronik.meta.GroupOffsetRecord. A cursor walks one
 *                 group's offsets by topic, then partition; the keys of
 *                 group G all sort between "G\0" and "G\x01", so the next
 *                 group is one seek away.
 *   "gstates"     group name -> packed chronik.meta.GroupStateRecord: the
 *                 group's membership at its last completed rebalance.
 * Writers: raftd for state/topics/partitions/brokers/changes/groups/gstates
 * (applying the Raft log), walwriter and replicator for their "offsets"
 * keys. Everyone else reads with read transactions. The environment runs with
 * MDB_NOMETASYNC, and raftd's own commits with MDB_NOSYNC (see
 * ck_meta_unsynced_mark): after a crash raftd re-applies the log from
 * applied_index. raftd's handle is also MDB_WRITEMAP: its commits change
 * the pages in the shared map instead of writing each with pwrite. LMDB
 * warns against mixing handles with and without it, for systems whose
 * mmap and file I/O do not share one page cache; Linux's does, so the other
 * processes' handles see the same bytes, and an fdatasync (theirs, or
 * mdb_env_sync at raftd's clean stop) writes back pages however they were
 * dirtied. LMDB sizes data.mdb to the map size (a sparse file: only pages
 * in use take disk space).
 *
 * Records are returned unpacked (protobuf-c); free them with the matching
 * chronik__meta__*__free_unpacked(rec, NULL).
 */
#ifndef CK_META_H
#define CK_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "metadata.pb-c.h"

typedef struct ck_meta ck_meta_t;

/* Opens (creating) <DATA_DIR>/meta and its databases. Returns 0 and *RET or
 * -errno / an MDB_* code. */
int ck_meta_open(const char *data_dir, ck_meta_t **ret);
/* The same with extra mdb_env_open FLAGS (raftd: MDB_WRITEMAP). */
int ck_meta_open_flags(const char *data_dir, unsigned int flags, ck_meta_t **ret);

/*
 * raftd commits without fdatasync (MDB_NOSYNC on its handle): what it
 * applies is in the Raft log already, durable on a quorum, and a process
 * crash loses nothing of the page cache. An operating-system crash or a
 * power cut can, and can leave the environment torn (a meta page on disk
 * before the pages it points to). So raftd marks the environment while
 * its unsynced commits may be in the page cache: <DATA_DIR>/meta/unsynced
 * holds the boot id of the running kernel, written durably before its first
 * commit and removed after a full mdb_env_sync at a clean stop. A marker
 * from another boot means a crash of the machine overtook unsynced
 * commits: ck_meta_unsynced_recover moves the environment aside
 * (<DATA_DIR>/meta.torn), and raftd rebuilds it from its snapshot and the
 * Raft log, the offset checkpoints from the logs. Every writer and reader
 * of the environment must start after that check (the supervisor runs it
 * before any child; raftd again, for a raftd started alone).
 * The boot id is /proc/sys/kernel/random/boot_id, or the file named by
 * CHRONIK_BOOT_ID_FILE (for tests that simulate a reboot). Without one,
 * raftd cannot mark and keeps LMDB's synced commits, and a marker found
 * counts as another boot's.
 */
int ck_meta_unsynced_mark(const char *data_dir);
/* Removes the marker (after mdb_env_sync). A missing marker is fine. */
int ck_meta_unsynced_clear(const char *data_dir);
/* Returns 1 when it moved a torn-suspect environment aside, 0 when there
 * was nothing to do, or -errno. */
int ck_meta_unsynced_recover(const char *data_dir);
void ck_meta_close(ck_meta_t *m);
MDB_env *ck_meta_env(ck_meta_t *m);

/* Read transactions: begin, read any number of things, end (abort). A
 * read transaction sees one consistent snapshot. */
int ck_meta_read_begin(ck_meta_t *m, MDB_txn **ret_txn);
void ck_meta_read_end(MDB_txn *txn);

/* The applied index (0 when nothing was applied). */
int ck_meta_applied_index(ck_meta_t *m, MDB_txn *txn, uint64_t *ret);
int ck_meta_parts_index(ck_meta_t *m, MDB_txn *txn, uint64_t *ret); /* 0 when missing */

/* Returns 0 with *RET unpacked, CK_E_NOT_FOUND, CK_E_CORRUPT, or an error. */
int ck_meta_topic_get(ck_meta_t *m, MDB_txn *txn, const char *name,
		      Chronik__Meta__TopicRecord **ret);
int ck_meta_partition_get(ck_meta_t *m, MDB_txn *txn, const char *topic, int32_t partition,
			  Chronik__Meta__PartitionRecord **ret);
int ck_meta_broker_get(ck_meta_t *m, MDB_txn *txn, int32_t id, Chronik__Meta__BrokerRecord **ret);
/* The packed TopicRecord of NAME as stored (valid until TXN ends), for a
 * reader that only needs to know whether it changed. Returns 0,
 * CK_E_NOT_FOUND or an error. */
int ck_meta_topic_raw(ck_meta_t *m, MDB_txn *txn, const char *name, MDB_val *ret);
/* Kafka's name collision rule: two different topic names collide when they
 * are equal once every '.' is read as '_' (metric names cannot tell them
 * apart). Returns 1 and the least stored name that collides with NAME in
 * RET (truncated to RET_SIZE), 0 when none does (NAME itself stored is not
 * a collision), or an error. The cost grows with the stored names sharing
 * NAME's prefixes, not with 2^(dots and underscores in NAME). */
int ck_meta_topic_collision(ck_meta_t *m, MDB_txn *txn, const char *name, char *ret,
                            size_t ret_size);

/* Calls FN for every record, in key order; FN returning non-zero stops the
 * walk and that value is returned. The record is freed after FN returns. */
typedef int (*ck_meta_topic_fn)(void *arg, const Chronik__Meta__TopicRecord *rec);
typedef int (*ck_meta_partition_fn)(void *arg, const Chronik__Meta__PartitionRecord *rec);
typedef int (*ck_meta_broker_fn)(void *arg, const Chronik__Meta__BrokerRecord *rec);
int ck_meta_topics_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_topic_fn fn, void *arg);
/* The same from the topic FROM (or the first after it, when it is gone;
 * NULL: from the first). */
int ck_meta_topics_foreach_from(ck_meta_t *m, MDB_txn *txn, const char *from, ck_meta_topic_fn fn,
                                void *arg);
/* The partitions of TOPIC, ascending. */
int ck_meta_partitions_foreach(ck_meta_t *m, MDB_txn *txn, const char *topic,
			       ck_meta_partition_fn fn, void *arg);
int ck_meta_brokers_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_broker_fn fn, void *arg);
/* The "brokers" database as one byte string (each key and value with its
 * length before it), malloc'd into *RET and *RET_LEN: equal strings, equal
 * databases. For a reader that only needs to know whether it changed.
 * Returns 0 or an error. */
int ck_meta_brokers_image(ck_meta_t *m, MDB_txn *txn, uint8_t **ret, size_t *ret_len);

/* Write side, for raftd only: inside a write transaction it began with
 * mdb_txn_begin(ck_meta_env(m), NULL, 0, &txn) (or ck_meta_write_begin).
 * Return 0, CK_E_INVALID (empty name, negative partition or id),
 * CK_E_TOO_LARGE (a name over 255 bytes) or an MDB error (MDB_MAP_FULL ...).
 * ck_meta_topic_del returns CK_E_NOT_FOUND when the topic is missing (its
 * partitions are then left alone). */
int ck_meta_topic_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__TopicRecord *rec);
/* Stores LEN bytes of DATA, a packed TopicRecord of NAME, as they are. */
int ck_meta_topic_put_raw(ck_meta_t *m, MDB_txn *txn, const char *name, const void *data,
                          size_t len);
int ck_meta_topic_del(ck_meta_t *m, MDB_txn *txn, const char *name); /* and its partitions */
int ck_meta_partition_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__PartitionRecord *rec);
int ck_meta_broker_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__BrokerRecord *rec);
int ck_meta_applied_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index);
int ck_meta_parts_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index);
/* "brokers_index": the index of the last applied entry that registered,
 * fenced or unfenced a broker (0 when missing): what decides which broker
 * coordinates a group. */
int ck_meta_brokers_index(ck_meta_t *m, MDB_txn *txn, uint64_t *ret);
int ck_meta_brokers_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index);

/*
 * Additions (all additive to the contract above).
 */
/* Write transactions with ck error codes: begin returns 0 or an error;
 * commit returns 0 or an error (the transaction is gone either way). */
int ck_meta_write_begin(ck_meta_t *m, MDB_txn **ret_txn);
int ck_meta_write_commit(MDB_txn *txn);
/* The "offsets" database handle, for the checkpoint writers and readers. */
MDB_dbi ck_meta_offsets_dbi(ck_meta_t *m);
/* Clears reader slots of dead processes (mdb_reader_check): a reader killed
 * inside a read transaction would otherwise pin old pages forever. The
 * writer calls it now and then. Returns 0 (and *RET_DEAD, may be NULL) or
 * an error. */
int ck_meta_reader_check(ck_meta_t *m, int *ret_dead);
/*
 * Producer-id blocks ("state" database): "next_producer_id" -> u64 LE, the
 * first id never handed out (0 when missing); "producer_ids/" + broker id
 * as big-endian u32 -> start and size as two big-endian i64: the block
 * last allocated to that broker (AllocateProducerIds).
 * ck_meta_producer_block_get returns 0, CK_E_NOT_FOUND, CK_E_CORRUPT or an
 * error; the others 0 or an error (put of a negative next: CK_E_INVALID).
 */
int ck_meta_producer_id_next(ck_meta_t *m, MDB_txn *txn, int64_t *ret);
int ck_meta_producer_id_next_put(ck_meta_t *m, MDB_txn *txn, int64_t next);
int ck_meta_producer_block_get(ck_meta_t *m, MDB_txn *txn, int32_t broker_id,
			       int64_t *ret_start, int64_t *ret_size);
int ck_meta_producer_block_put(ck_meta_t *m, MDB_txn *txn, int32_t broker_id, int64_t start,
			       int64_t size);

/*
 * The partition change log ("changes" above). Write side for raftd only,
 * inside its apply transaction.
 * ck_meta_change_put records that the entry at INDEX (>= 1) changed the
 * partition records of TOPIC (NULL or "": unknown). Call it before
 * ck_meta_parts_index_put(INDEX) of the same entry: it checks the
 * invariant against the previous parts_index P and, when the floor is
 * missing or P >= floor has no key (entries went by without being
 * recorded: an environment from before "changes", a snapshot installed,
 * an older raftd in between), restarts the floor at P + 1 (the entries
 * after P changed no partition record), or at INDEX when P is 0 or not
 * below INDEX. Returns 0, CK_E_INVALID (index 0), CK_E_TOO_LARGE (a name
 * over 255 bytes), CK_E_CORRUPT (a floor that is not 8 bytes) or an MDB
 * error.
 * ck_meta_changes_trim deletes the keys 1 .. KEEP_FROM-1 and raises the
 * floor to KEEP_FROM (a missing floor stays missing). Returns 0 or an
 * error.
 * ck_meta_changes_floor: 0 in *RET when missing. Returns 0, CK_E_CORRUPT
 * or an error.
 * ck_meta_changes_foreach calls FN for every key >= FROM_INDEX (at least
 * 1), ascending, with TOPIC NUL-terminated ("" = unknown); FN returning
 * non-zero stops the walk and that value is returned. Returns 0,
 * CK_E_CORRUPT (a key that is not 8 bytes, a name over 255 bytes) or an
 * error.
 */
typedef int (*ck_meta_change_fn)(void *arg, uint64_t index, const char *topic);
int ck_meta_change_put(ck_meta_t *m, MDB_txn *txn, uint64_t index, const char *topic);
int ck_meta_changes_trim(ck_meta_t *m, MDB_txn *txn, uint64_t keep_from);
int ck_meta_changes_floor(ck_meta_t *m, MDB_txn *txn, uint64_t *ret);
int ck_meta_changes_foreach(ck_meta_t *m, MDB_txn *txn, uint64_t from_index, ck_meta_change_fn fn,
			    void *arg);

/*
 * Committed offsets of consumer groups ("groups" above). Names are
 * NUL-terminated C strings, so a name holding a NUL byte cannot be
 * expressed here: callers that get names as counted bytes (Kafka requests,
 * protobuf fields) must refuse those themselves.
 * Argument errors, for every function below: CK_E_INVALID (NULL group,
 * NULL or empty topic, negative partition; the empty group is one, as in
 * Kafka), CK_E_TOO_LARGE (a group over CK_META_GROUP_MAX bytes, a topic
 * over 255, or both over 505 together: LMDB's keys end at 511 bytes;
 * topic names that pass ck_topic_name_valid, 249 bytes at most, fit with
 * any group). Other errors: MDB errors as above (MDB_MAP_FULL ...),
 * -ENOMEM. Keys of another shape (not written by this file) are skipped by
 * the walks, never an error; so is a value that does not unpack.
 *
 * ck_meta_group_offset_put stores REC (packed; the caller keeps REC) as
 * the offset of GROUP for TOPIC/PARTITION, replacing any. Write side, for
 * raftd only. Returns 0 or an error.
 * ck_meta_group_offset_get returns 0 with *RET unpacked (free it with
 * chronik__meta__group_offset_record__free_unpacked), CK_E_NOT_FOUND,
 * CK_E_CORRUPT (a value that does not unpack) or an error.
 */
/* The longest group name: its key (group, NUL, topic, NUL, partition)
 * fits LMDB's 511 bytes with any topic name ck_topic_name_valid takes. */
#define CK_META_GROUP_MAX 256
int ck_meta_group_offset_put(ck_meta_t *m, MDB_txn *txn, const char *group, const char *topic,
                             int32_t partition, const Chronik__Meta__GroupOffsetRecord *rec);
int ck_meta_group_offset_get(ck_meta_t *m, MDB_txn *txn, const char *group, const char *topic,
                             int32_t partition, Chronik__Meta__GroupOffsetRecord **ret);
/* Deletes the offset of GROUP for TOPIC/PARTITION (OffsetDelete). Write
 * side, for raftd only. Returns 0, CK_E_NOT_FOUND when there was none
 * (also for names no key can hold), or an error. */
int ck_meta_group_offset_del(ck_meta_t *m, MDB_txn *txn, const char *group, const char *topic,
                             int32_t partition);
/* Calls FN for every offset of GROUP, by topic (bytewise) then partition
 * (ascending), with TOPIC NUL-terminated; REC is freed after FN returns.
 * FN returning non-zero stops the walk and that value is returned.
 * Returns 0 (also for a group without offsets), that value or an error. */
typedef int (*ck_meta_group_offset_fn)(void *arg, const char *topic, int32_t partition,
                                       const Chronik__Meta__GroupOffsetRecord *rec);
int ck_meta_group_offsets_foreach(ck_meta_t *m, MDB_txn *txn, const char *group,
                                  ck_meta_group_offset_fn fn, void *arg);
/* Calls FN once for every group holding at least one offset, in key order
 * (bytewise), with GROUP NUL-terminated. One seek per group, not a visit
 * of each of its keys. FN returning non-zero stops the walk and that value
 * is returned. FN may change the group it is given (and nothing else)
 * through TXN. Returns 0, that value or an error. */
typedef int (*ck_meta_group_fn)(void *arg, const char *group);
int ck_meta_groups_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_group_fn fn, void *arg);
/* Write side, for raftd only. ck_meta_group_del deletes every key of
 * GROUP (DeleteGroups): returns 0, CK_E_NOT_FOUND when it had none, or an
 * error. ck_meta_topic_offsets_del deletes the offsets of TOPIC in every
 * group (its DeleteTopic, so that a topic created again under the name
 * starts without them): returns 0 (also when there were none) or an
 * error. Its cost is one seek per group holding offsets plus the keys
 * deleted, whatever the group holds of other topics. */
int ck_meta_group_del(ck_meta_t *m, MDB_txn *txn, const char *group);
int ck_meta_topic_offsets_del(ck_meta_t *m, MDB_txn *txn, const char *topic);

/*
 * Stored group states ("gstates"): a consumer group's membership at its
 * last completed rebalance, by group name (1..CK_META_GROUP_MAX bytes, no
 * NUL), for the coordinator that takes the group over. Argument errors
 * as for the offsets above. put (raftd only) replaces any; get returns 0
 * with *RET (free with chronik__meta__group_state_record__free_unpacked),
 * CK_E_NOT_FOUND, CK_E_CORRUPT or an error; del (raftd only) returns 0,
 * CK_E_NOT_FOUND (also for names no key can hold) or an error. foreach calls FN for every state in
 * name order (REC freed after FN returns; values that do not unpack skipped); FN returning non-zero
 * stops the walk and that value is returned.
 */
int ck_meta_group_state_put(ck_meta_t *m, MDB_txn *txn, const char *group,
                            const Chronik__Meta__GroupStateRecord *rec);
int ck_meta_group_state_get(ck_meta_t *m, MDB_txn *txn, const char *group,
                            Chronik__Meta__GroupStateRecord **ret);
int ck_meta_group_state_del(ck_meta_t *m, MDB_txn *txn, const char *group);
typedef int (*ck_meta_group_state_fn)(void *arg, const char *group,
                                      const Chronik__Meta__GroupStateRecord *rec);
int ck_meta_group_states_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_group_state_fn fn, void *arg);

#endif
