/*
 * ck_dataid.h: the id of a node's data: a random 64-bit number kept in
 * <data_dir>/dataid, drawn when the data dir has none (a new node, or a
 * wiped or replaced disk).
 *
 * Why: a broker that comes back with empty logs (its data dir wiped while
 * it was down, even for a second) must not keep its ISR places or lead:
 * the followers would truncate to its empty log, or it would be elected
 * with none of the acknowledged records. raftd carries the id in the
 * broker's registration; a registration whose id differs from the one
 * recorded says the logs are new, and the broker leaves its ISRs there
 * (raftd_apply.c, as Kafka's controller treats a broker whose log
 * directory is new). The replicator leads nothing until the record holds
 * this id.
 * Written by the supervisor before any child starts (and drawn anew by
 * walwriter's recovery when a log lost acknowledged records, before raftd
 * starts); read by raftd, the replicator and kafka-frontend. 0 is never an id (it means unknown: no
 * file, as for a child started alone). Not for: what the controller does with it (raftd_apply.c).
 */
#ifndef CK_DATAID_H
#define CK_DATAID_H

#include <stdbool.h>
#include <stdint.h>

#define CK_DATAID_FILE "dataid"

/* Reads the id of DATA_DIR into *RET. Returns 1, 0 when there is none (no
 * file: *RET = 0), CK_E_CORRUPT or -errno. */
int ck_dataid_load(const char *data_dir, uint64_t *ret);

/* The id of DATA_DIR, drawn from SEED and saved (fsync'd) when there is
 * none or it is unreadable; *RET_NEW says whether it was drawn. Returns 0
 * or -errno. */
int ck_dataid_ensure(const char *data_dir, uint64_t seed, uint64_t *ret, bool *ret_new);

/* Draws a new id for DATA_DIR from SEED and saves it (fsync'd): its logs
 * lost records (walwriter's recovery found one below its checkpointed high
 * watermark). Returns 0 or -errno. */
int ck_dataid_renew(const char *data_dir, uint64_t seed, uint64_t *ret);

/* Whether RECORDED, the id in the broker's metadata record, is this data's
 * id *CUR (0, unknown: any record matches). On a mismatch the file is read
 * again first, for walwriter's recovery may have drawn a new id since *CUR
 * was read; *CUR takes the new one. */
bool ck_dataid_matches(const char *data_dir, uint64_t recorded, uint64_t *cur);

#endif
