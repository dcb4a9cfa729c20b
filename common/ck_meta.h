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
 *                 unknown (read everything).
 *   "topics"      topic name (no NUL) -> packed chronik.meta.TopicRecord
 *   "partitions"  topic name, NUL, partition as big-endian u32
 *                 -> packed chronik.meta.PartitionRecord (so a cursor walks
 *                 one topic's partitions in order)
 *   "brokers"     broker id as big-endian u32 -> packed chronik.meta.BrokerRecord
 *   "offsets"     checkpoints: "wal/<topic>-<p>" (walwriter), "hw/<topic>-<p>"
 *                 (replicator); values are theirs to define.
 * Writers: raftd for state/topics/partitions/brokers (applying the Raft log),
 * walwriter and replicator for their "offsets" keys. Everyone else reads
 * with read transactions. The environment runs with MDB_NOMETASYNC: after a
 * crash raftd re-applies the log from applied_index.
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

/* Calls FN for every record, in key order; FN returning non-zero stops the
 * walk and that value is returned. The record is freed after FN returns. */
typedef int (*ck_meta_topic_fn)(void *arg, const Chronik__Meta__TopicRecord *rec);
typedef int (*ck_meta_partition_fn)(void *arg, const Chronik__Meta__PartitionRecord *rec);
typedef int (*ck_meta_broker_fn)(void *arg, const Chronik__Meta__BrokerRecord *rec);
int ck_meta_topics_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_topic_fn fn, void *arg);
/* The partitions of TOPIC, ascending. */
int ck_meta_partitions_foreach(ck_meta_t *m, MDB_txn *txn, const char *topic,
			       ck_meta_partition_fn fn, void *arg);
int ck_meta_brokers_foreach(ck_meta_t *m, MDB_txn *txn, ck_meta_broker_fn fn, void *arg);

/* Write side, for raftd only: inside a write transaction it began with
 * mdb_txn_begin(ck_meta_env(m), NULL, 0, &txn) (or ck_meta_write_begin).
 * Return 0, CK_E_INVALID (empty name, negative partition or id),
 * CK_E_TOO_LARGE (a name over 255 bytes) or an MDB error (MDB_MAP_FULL ...).
 * ck_meta_topic_del returns CK_E_NOT_FOUND when the topic is missing (its
 * partitions are then left alone). */
int ck_meta_topic_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__TopicRecord *rec);
int ck_meta_topic_del(ck_meta_t *m, MDB_txn *txn, const char *name); /* and its partitions */
int ck_meta_partition_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__PartitionRecord *rec);
int ck_meta_broker_put(ck_meta_t *m, MDB_txn *txn, const Chronik__Meta__BrokerRecord *rec);
int ck_meta_applied_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index);
int ck_meta_parts_index_put(ck_meta_t *m, MDB_txn *txn, uint64_t index);

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

#endif
