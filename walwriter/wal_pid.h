/*
 * wal_pid.h: idempotent producers' state of one log (pure core of
 * chronik-walwriter, ARCHITECTURE.md section 5).
 *
 * Per producer id: its epoch and its last WAL_PID_BATCHES batches (sequence
 * range and offsets), so that a batch a producer sends again (a retry after
 * a lost reply or a leader change) is answered with the offsets it already
 * has instead of being written twice, and a batch that skips sequences or
 * comes from an older epoch is refused. Leader appends are checked, then
 * recorded; replica appends are only recorded, so a follower that becomes
 * leader already knows what its old leader wrote. Start-up rebuilds the
 * state from the log's batch headers (wal_pid_load.c).
 *
 * Kafka's rules (ProducerStateManager), for a batch with producerId >= 0:
 *   unknown producer        any sequence starts it;
 *   epoch older than known  CK_E_FENCED (INVALID_PRODUCER_EPOCH);
 *   epoch newer than known  baseSequence must be 0 (else CK_E_SEQUENCE);
 *   same epoch              one of the kept batches again: a duplicate;
 *                           else baseSequence must follow the last batch's
 *                           last sequence (wrapping after INT32_MAX), else
 *                           CK_E_SEQUENCE (OUT_OF_ORDER_SEQUENCE_NUMBER).
 * A leader append holding a producer's batch must hold just that batch (as
 * Kafka's produce path requires of v2 record sets), and a producer's batch
 * needs baseSequence and producerEpoch >= 0: else CK_E_INVALID.
 * Bounds: a log keeps at most WAL_PID_MAX producers; when it is full,
 * those unheard of for WAL_PID_EXPIRE_MS (by their batches' max
 * timestamps, Kafka's producer.id.expiration.ms) go, then the least
 * recent. Logs may share a budget (wal_pid_budget_t: walwriter's, over
 * every log, so that producer ids made up by a client cannot fill the
 * memory): at its end a new producer takes the place of the log's least
 * recent one, and a log without any tracks none (its batches pass as an
 * unknown producer's).
 * No I/O, no clock (time enters as arguments), no logging.
 */
#ifndef WAL_PID_H
#define WAL_PID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_batch.h"

#define WAL_PID_BATCHES   5
#define WAL_PID_EXPIRE_MS (24 * 3600 * 1000LL)
#define WAL_PID_MAX       20000

typedef struct {
	int32_t first_seq;
	int32_t last_seq;
	int64_t base_offset;
	int64_t last_offset;
} wal_pid_batch_t;

typedef struct {
	int64_t producer_id;
	int64_t last_ts; /* max timestamp of its newest batch */
	int16_t epoch;
	uint8_t n; /* batches kept in b, oldest first */
	wal_pid_batch_t b[WAL_PID_BATCHES];
} wal_pid_entry_t;

/* Producers kept over several logs, at most MAX. */
typedef struct {
	size_t used;
	size_t max;
} wal_pid_budget_t;

/* The producers of one log, sorted by producer id. Zero-initialized = empty,
 * without a shared budget; BUDGET may be set before the first use. */
typedef struct {
	wal_pid_entry_t *v;
	size_t n;
	size_t cap;
	wal_pid_budget_t *budget;
} wal_pids_t;

/* The last sequence of a batch of BASE_SEQ holding LAST_DELTA + 1 records,
 * wrapping after INT32_MAX as Kafka's sequences do. */
int32_t wal_pid_seq_add(int32_t base_seq, int32_t last_delta);

/*
 * Checks a leader append: LEN bytes of whole, validated batches at P
 * (offsets not yet relevant). Returns 0 (append it), 1 (a duplicate of a
 * batch kept: *RET holds its base and last offsets; write nothing), or
 * CK_E_INVALID, CK_E_FENCED, CK_E_SEQUENCE. Batches without a producer id
 * always pass.
 */
int wal_pids_check(const wal_pids_t *s, const uint8_t *p, size_t len, wal_pid_batch_t *ret);

/*
 * Records the LEN bytes of batches at P (whole, validated, offsets final)
 * at NOW_MS: each producer's batch becomes its newest (a newer epoch
 * starts its list over). Replica appends come here unchecked.
 */
void wal_pids_update(wal_pids_t *s, const uint8_t *p, size_t len, int64_t now_ms);

/* Records one batch header (start-up rebuild, wal_pid_load.c), aged by
 * its max timestamp. */
void wal_pids_note(wal_pids_t *s, const ck_batch_header_t *h);

/* The log was cut at END (every batch ending at or after END is gone):
 * their records go; a producer left without any is forgotten. */
void wal_pids_truncate(wal_pids_t *s, int64_t end);

/* Forgets producers whose newest batch is older than NOW_MS - MAX_AGE_MS. */
void wal_pids_expire(wal_pids_t *s, int64_t now_ms, int64_t max_age_ms);

/* The entry of PRODUCER_ID, or NULL. */
const wal_pid_entry_t *wal_pids_find(const wal_pids_t *s, int64_t producer_id);

/* Forgets everything and frees the memory (S stays usable, with its
 * budget). */
void wal_pids_clear(wal_pids_t *s);

#endif
