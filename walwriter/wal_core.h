/*
 * wal_core.h: the pure core of chronik-walwriter.
 *
 * Decisions without I/O, libevent, LMDB or clocks, unit tested
 * deterministically (tests/unit/walwriter/): validating an append and
 * assigning its offsets, cutting groups for group commit, rolling segments,
 * choosing segments for retention, the cadence of sparse index entries, the
 * checkpoint record, per-log settings and the topic incarnation of a log.
 * Time enters as arguments. The shell (wal_loop.c, wal_sync.c, wal_store.c,
 * wal_recover.c) does the I/O and calls these.
 */
#ifndef WAL_CORE_H
#define WAL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck_batch.h"

/* ---- per-log settings ---- */

typedef struct {
	int64_t segment_bytes;
	int64_t segment_ms;
	int64_t retention_bytes; /* -1 = unlimited */
	int64_t retention_ms;    /* -1 = unlimited */
	int32_t max_message_bytes;
	int32_t index_interval_bytes;
} wal_log_cfg_t;

/* Segments never grow past this: index positions are u32. */
#define WAL_SEGMENT_BYTES_MAX ((int64_t)UINT32_MAX)

/*
 * Fills *RET with REQ, taking each field that is 0 from DEFAULTS. Returns 0
 * or CK_E_INVALID when a resolved value is out of range (segment_bytes not
 * in [CK_BATCH_HEADER_LEN, WAL_SEGMENT_BYTES_MAX], segment_ms <= 0,
 * index_interval_bytes < 0 (0 indexes every batch), retention below -1,
 * max_message_bytes < 1).
 */
int wal_log_cfg_resolve(const wal_log_cfg_t *defaults, const wal_log_cfg_t *req,
                        wal_log_cfg_t *ret);

/* The settings file of a log (WAL_STORE_CONFIG_FILE): the values as asked at
 * creation (0 = node default), WAL_LOG_CFG_LEN bytes with a CRC32C. */
#define WAL_LOG_CFG_LEN 56
void wal_log_cfg_encode(const wal_log_cfg_t *c, uint8_t *out);
/* Returns 0 or CK_E_CORRUPT. */
int wal_log_cfg_decode(const uint8_t *p, size_t len, wal_log_cfg_t *ret);

/* ---- topic incarnation ---- */

/*
 * The topic id a log was created for (raftd's TopicRecord.topic_id,
 * KIP-516): a DeleteLog naming another incarnation of the same name spares
 * the log. KNOWN false = unknown (a log created before ids, or without
 * one); BYTES is then all zero.
 */
#define WAL_TOPIC_ID_LEN 16

typedef struct {
	uint8_t bytes[WAL_TOPIC_ID_LEN];
	bool known;
} wal_topic_id_t;

/*
 * From a walwriter.proto bytes field: LEN 0, or 16 zero bytes, is unknown;
 * 16 bytes otherwise are the id. Returns 0 and *RET, or CK_E_INVALID (any
 * other length; *RET untouched).
 */
int wal_topic_id_from_bytes(const uint8_t *p, size_t len, wal_topic_id_t *ret);

/* Whether a DeleteLog naming REQ must leave a log of incarnation LOG alone:
 * both ids known and different. */
bool wal_topic_id_spares(const wal_topic_id_t *log, const wal_topic_id_t *req);

/* The id as 32 lower-case hex digits, or "unknown", into BUF (at least
 * WAL_TOPIC_ID_HEX_LEN bytes). Returns BUF. */
#define WAL_TOPIC_ID_HEX_LEN (2 * WAL_TOPIC_ID_LEN + 1)
const char *wal_topic_id_hex(const wal_topic_id_t *id, char *buf);

/* The topic id file of a log (WAL_STORE_TOPIC_ID_FILE): magic, the 16
 * bytes, a CRC32C; written only for a known id. */
#define WAL_TOPIC_ID_FILE_LEN 24
void wal_topic_id_encode(const wal_topic_id_t *id, uint8_t *out);
/* Returns 0 and *RET (known, unless the stored bytes are all zero), or
 * CK_E_CORRUPT for a wrong length, magic or CRC. */
int wal_topic_id_decode(const uint8_t *p, size_t len, wal_topic_id_t *ret);

/* The log start file (WAL_STORE_LOG_START_FILE): magic, the offset, a
 * CRC32C. Decode returns 0 and *RET (>= 0), or CK_E_CORRUPT. */
#define WAL_LOG_START_FILE_LEN 16
void wal_log_start_encode(int64_t start, uint8_t *out);
int wal_log_start_decode(const uint8_t *p, size_t len, int64_t *ret);

/* ---- appends ---- */

typedef struct {
	bool replica;           /* keep the batches' offsets (follower) */
	int64_t log_end;        /* the next offset of the log */
	int32_t leader_epoch;   /* leader appends: stamped into every batch */
	int64_t append_time_ms; /* leader appends: > 0 stamps LogAppendTime */
	size_t max_bytes;       /* largest batch accepted (total size) */
} wal_append_args_t;

typedef struct {
	int64_t base_offset; /* first offset appended */
	int64_t last_offset; /* last offset appended */
	int64_t next_offset; /* the log end afterwards */
	int32_t batches;
	int64_t records;
} wal_append_plan_t;

/*
 * Validates every batch of an append (LEN bytes at BATCHES, one or more
 * RecordBatch v2 back to back) and, only when all pass, prepares them in
 * place: a leader append gets baseOffsets assigned from ARGS->log_end,
 * partitionLeaderEpoch set and, when asked, LogAppendTime stamped (CRC
 * recomputed); a replica append keeps its bytes and must continue the log
 * exactly (first baseOffset == log_end, each next baseOffset == previous last
 * offset + 1).
 * Returns 0 and *RET, or CK_E_CORRUPT (a bad batch, or nothing), CK_E_TOO_LARGE
 * (a batch over max_bytes), CK_E_OUT_OF_ORDER (replica not contiguous),
 * CK_E_OFFSET_RANGE (offsets would overflow). On failure BATCHES is untouched.
 */
int wal_append_prepare(uint8_t *batches, size_t len, const wal_append_args_t *args,
                       wal_append_plan_t *ret);

/* ---- group commit ---- */

typedef struct {
	uint64_t window_ns;   /* how long an idle writer waits to gather */
	uint64_t bytes_max;   /* cut a group at this many bytes (0 = no cap) */
	uint32_t appends_max; /* ... or this many appends (0 = no cap) */
} wal_group_limits_t;

typedef enum {
	WAL_GROUP_NOTHING = 0, /* nothing pending, or the sync thread is busy */
	WAL_GROUP_WAIT,        /* wait *ret_wait_ns, then decide again */
	WAL_GROUP_CUT,         /* hand a group to the sync thread now */
} wal_group_action_t;

/* Groups handed to the sync thread and not yet done, at most. */
#define WAL_GROUPS_QUEUED_MAX 8

/*
 * What to do with PENDING_APPENDS appends (PENDING_BYTES) of which the oldest
 * arrived at FIRST_NS, while JOBS_INFLIGHT jobs are with the sync thread.
 * Appends arriving while a sync runs form the next group: it is cut when the
 * sync thread is idle again, or earlier once a cap is reached (queued behind,
 * up to WAL_GROUPS_QUEUED_MAX, so that the sync thread can write several
 * queued groups and cover them with one fdatasync). An idle writer cuts at
 * once when a cap is reached or the window has passed, otherwise waits for
 * the rest of the window (*RET_WAIT_NS). It also cuts at once when as many
 * appends are pending as the last group held (LAST_GROUP_APPENDS, 0 = none
 * yet): clients that wait for their acknowledgement have all sent again, so
 * waiting longer would only add latency, never batching.
 */
wal_group_action_t wal_group_decide(const wal_group_limits_t *lim, uint64_t pending_bytes,
                                    uint32_t pending_appends, uint64_t first_ns, uint64_t now_ns,
                                    int jobs_inflight, uint32_t last_group_appends,
                                    uint64_t *ret_wait_ns);

/*
 * Whether an append of NEXT_BYTES joins a group already holding
 * GROUP_APPENDS appends and GROUP_BYTES: the first always does; then the caps
 * apply.
 */
bool wal_group_fits(const wal_group_limits_t *lim, uint64_t group_bytes, uint32_t group_appends,
                    uint64_t next_bytes);

/* ---- segments ---- */

typedef struct {
	uint64_t size; /* bytes of batches in the active segment */
	int64_t base_offset;
	int64_t created_ms; /* wall time the segment counts its age from */
} wal_segment_state_t;

/*
 * Whether the batch (TOTAL bytes, last offset LAST_OFFSET) must go to a new
 * segment: never for an empty segment; otherwise when it would pass
 * segment_bytes or the u32 position limit, when the segment is older than
 * segment_ms, or when its relative offset would not fit an index entry.
 */
bool wal_roll_needed(const wal_segment_state_t *seg, const wal_log_cfg_t *cfg, size_t total,
                     int64_t last_offset, int64_t now_ms);

typedef struct {
	int64_t base_offset;
	uint64_t size;
	int64_t max_timestamp; /* what time retention judges: wal_segment_time() */
} wal_segment_info_t;

/*
 * The time retention judges a segment by: its newest record timestamp
 * MAX_TS, or, when no record has one (MAX_TS < 0: records of pre-0.10
 * clients or batches sent with timestamp -1; or no record yet), its last
 * modification MODIFIED_MS, as Kafka falls back to the file's mtime. Without
 * that fallback, -1 would be older than any retention_ms and such records
 * would go at the next retention pass.
 */
int64_t wal_segment_time(int64_t max_ts, int64_t modified_ms);

/*
 * How many of the oldest of N segments (ascending; the last is the active
 * one and is never chosen) retention deletes at NOW_MS: segments are taken
 * in order while their newest timestamp is older than retention_ms, or while
 * the log without them would still hold at least retention_bytes, and (HW
 * >= 0) only while every record of the segment is below the high watermark
 * HW, i.e. the next segment begins at or below it (Kafka's rule: retention
 * never deletes what the ISR has not replicated). HW -1: no such bound.
 */
size_t wal_retention_count(const wal_segment_info_t *segs, size_t n, const wal_log_cfg_t *cfg,
                           int64_t now_ms, int64_t hw);

/*
 * Whether retention_ms has passed for every record of the log, the active
 * segment's too (a topic that went quiet): Kafka then rolls and deletes
 * them all, leaving an empty log at its end. Only once the high watermark HW
 * covers the log's END (every record replicated); END -1: that bound not
 * checked (a cheap first look), else HW -1 (unknown) never empties.
 */
bool wal_retention_empties(const wal_segment_info_t *segs, size_t n, const wal_log_cfg_t *cfg,
                           int64_t now_ms, int64_t hw, int64_t end);

/* ---- sparse indexes ---- */

/*
 * The indexing state of one segment. Entries are a deterministic function
 * of the batches (position, offsets, timestamps) and the interval, so
 * recovery rebuilds exactly what the writer wrote.
 */
typedef struct {
	uint64_t last_index_pos; /* position of the last indexed batch (0 = none) */
	int64_t max_ts;          /* largest maxTimestamp so far (INT64_MIN = none) */
	int64_t max_ts_offset;   /* base offset of the batch holding it */
	int64_t last_time_ts;    /* timestamp of the last timeindex entry */
	uint64_t index_entries;  /* entries written to .index */
	uint64_t time_entries;   /* entries written to .timeindex */
} wal_index_state_t;

typedef struct {
	bool index; /* append (rel_offset, position) to .index */
	uint32_t rel_offset;
	uint32_t position;
	bool time; /* append (timestamp, time_rel_offset) to .timeindex */
	int64_t timestamp;
	uint32_t time_rel_offset;
} wal_index_entries_t;

void wal_index_state_init(wal_index_state_t *s);

/*
 * Accounts the batch H at POS of the segment based at SEG_BASE and says
 * which entries to append: an index entry when POS is at least INTERVAL
 * bytes past the last indexed batch, together with a time entry when the
 * maximum timestamp grew since the last one.
 */
void wal_index_track(wal_index_state_t *s, int64_t seg_base, uint64_t pos,
                     const ck_batch_header_t *h, uint32_t interval, wal_index_entries_t *ret);

/*
 * The time entry that closes a segment: the segment's maximum timestamp, when
 * not yet recorded. Returns true and fills *RET (time fields only).
 */
bool wal_index_final(wal_index_state_t *s, int64_t seg_base, wal_index_entries_t *ret);

/* ---- checkpoints ---- */

/*
 * The recovery point of a log, stored in LMDB `meta`, database "offsets",
 * key "wal/<topic>-<partition>" (WAL_CKPT_KEY_PREFIX). Everything before
 * POSITION of segment SEGMENT_BASE (and every earlier segment) is fdatasync'd
 * and verified, and so are INDEX.index_entries/time_entries entries of that
 * segment's index files.
 */
#define WAL_CKPT_KEY_PREFIX "wal/"
#define WAL_CKPT_LEN        96

typedef struct {
	int64_t log_start_offset;
	int64_t segment_base;
	uint64_t position;
	int64_t next_offset;     /* the offset of the batch at POSITION */
	wal_index_state_t index; /* the indexing state at POSITION */
} wal_ckpt_t;

/* Writes the WAL_CKPT_LEN-byte record (big-endian, with a CRC32C). */
void wal_ckpt_encode(const wal_ckpt_t *c, uint8_t *out);
/* Returns 0, or CK_E_CORRUPT for a wrong length, magic or CRC. */
int wal_ckpt_decode(const uint8_t *p, size_t len, wal_ckpt_t *ret);
/* "wal/<topic>-<partition>" into BUF. Returns the length or -ENAMETOOLONG. */
int wal_ckpt_key(char *buf, size_t len, const char *topic, int32_t partition);

#endif
