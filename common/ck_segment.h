/*
 * ck_segment.h: the on-disk log format and its reader.
 *
 * Layout: <data_dir>/log/<topic>-<partition>/<base offset, 20 digits>.log,
 * .index and .timeindex, one set per segment; the base offset is the offset
 * of the segment's first batch.
 *   .log       RecordBatch v2 bytes exactly as served to consumers.
 *   .index     sparse entries (relative offset u32, file position u32), both
 *              big-endian: the batch starting at that position has baseOffset
 *              = segment base + relative offset. Entries increase strictly
 *              in both fields and never point at position 0.
 *   .timeindex entries (timestamp i64, relative offset u32), big-endian,
 *              increasing: batches from that offset on hold timestamps >=
 *              the entry's (the segment's max timestamp is the last entry).
 * A trailing all-zero region (preallocation) in any of them means "end".
 * Only walwriter writes these files (walwriter/); everything here reads.
 *
 * Readers use pread on fds they own, never mmap, so a writer truncating or a
 * retention deleting a segment never faults them: a deleted segment stays
 * readable through an open fd, a truncated one simply ends earlier. A batch
 * that is incomplete (being written, torn) ends iteration: it is never
 * returned. Where asked, the CRC is verified too.
 *
 * The index helpers (ck_index_*) are pure; the rest does file I/O but keeps
 * no global state. Not here: writing, recovery, retention (walwriter).
 */
#ifndef CK_SEGMENT_H
#define CK_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ck_batch.h"
#include "ck_buf.h"

#define CK_SEGMENT_DIGITS      20
#define CK_SEGMENT_NAME_MAX    40 /* "<20 digits>.timeindex" and a NUL, with room */
#define CK_TOPIC_NAME_MAX      249
#define CK_INDEX_ENTRY_LEN     8
#define CK_TIMEINDEX_ENTRY_LEN 12

typedef enum {
	CK_SEGMENT_FILE_LOG = 0,
	CK_SEGMENT_FILE_INDEX = 1,
	CK_SEGMENT_FILE_TIMEINDEX = 2,
} ck_segment_file_t;

/* ".log", ".index", ".timeindex". */
const char *ck_segment_file_ext(ck_segment_file_t kind);

/* Kafka's rule: 1..249 characters of [A-Za-z0-9._-], not "." or "..". */
bool ck_topic_name_valid(const char *topic);

/*
 * "<data_dir>/log/<topic>-<partition>" into BUF. Returns 0, CK_E_INVALID (bad
 * topic or negative partition) or -ENAMETOOLONG.
 */
int ck_segment_log_dir(char *buf, size_t len, const char *data_dir, const char *topic,
                       int32_t partition);
/*
 * Splits a log directory name "<topic>-<partition>" (no path). Returns 0, or
 * CK_E_INVALID when NAME is not one (bad topic, partition not a canonical
 * non-negative decimal i32, or TOPIC_LEN too small).
 */
int ck_segment_log_dir_parse(const char *name, char *ret_topic, size_t topic_len,
                             int32_t *ret_partition);
/* "<log_dir>/<20 digits><ext>" into BUF. Returns 0 or -ENAMETOOLONG. */
int ck_segment_path(char *buf, size_t len, const char *log_dir, int64_t base_offset,
                    ck_segment_file_t kind);
/* Parses "<20 digits>.log|.index|.timeindex". Returns 0 or CK_E_INVALID. */
int ck_segment_name_parse(const char *name, int64_t *ret_base, ck_segment_file_t *ret_kind);

/*
 * Lists the segments of LOG_DIR: the base offsets of its .log files,
 * ascending, in a malloc'd array (*RET_BASES, free() it; NULL when empty).
 * Returns the count, or -errno (-ENOENT for a missing directory).
 */
int ck_segment_list(const char *log_dir, int64_t **ret_bases);

/* Index of the segment holding OFFSET among N ascending BASES: the last
 * base <= OFFSET, or -1 when OFFSET is below the first base. */
ssize_t ck_segment_pick(const int64_t *bases, size_t n, int64_t offset);

/*
 * Index entries (pure).
 */
typedef struct {
	uint32_t rel_offset;
	uint32_t position;
} ck_index_entry_t;

typedef struct {
	int64_t timestamp;
	uint32_t rel_offset;
} ck_timeindex_entry_t;

static inline void ck_index_entry_put(uint8_t *p, uint32_t rel_offset, uint32_t position)
{
	ck_be32_put(p, rel_offset);
	ck_be32_put(p + 4, position);
}
static inline ck_index_entry_t ck_index_entry_get(const uint8_t *p)
{
	return (ck_index_entry_t){ck_be32_get(p), ck_be32_get(p + 4)};
}
static inline void ck_timeindex_entry_put(uint8_t *p, int64_t timestamp, uint32_t rel_offset)
{
	ck_be64_put(p, (uint64_t)timestamp);
	ck_be32_put(p + 8, rel_offset);
}
static inline ck_timeindex_entry_t ck_timeindex_entry_get(const uint8_t *p)
{
	return (ck_timeindex_entry_t){(int64_t)ck_be64_get(p), ck_be32_get(p + 8)};
}

/*
 * Reads entry I of an index for ck_index_search(): returns 0 and *RET_KEY
 * (relative offset, or timestamp), 1 when entry I is not a valid entry (zero
 * padding, past the end), or a negative error.
 */
typedef int (*ck_index_probe_fn)(void *arg, size_t i, int64_t *ret_key);

/*
 * Binary search over N entries whose valid prefix is sorted by key: the last
 * entry with key <= TARGET. Returns 1 and its index in *RET_I, 0 when there
 * is none, or the probe's error.
 */
int ck_index_search(size_t n, int64_t target, ck_index_probe_fn probe, void *arg, size_t *ret_i);

/* How many leading entries of an in-memory .index (LEN bytes) are valid:
 * position != 0 and both fields strictly increasing. */
size_t ck_index_valid_count(const uint8_t *p, size_t len);
/* Same for a .timeindex: not all-zero, timestamps and offsets
 * non-decreasing. */
size_t ck_timeindex_valid_count(const uint8_t *p, size_t len);

/*
 * An open segment. The fds belong to the struct; .index and .timeindex are
 * optional (-1 when missing: lookups then scan from the start).
 */
typedef struct {
	int64_t base_offset;
	int log_fd;
	int index_fd;
	int timeindex_fd;
} ck_segment_t;

/* Opens the segment BASE_OFFSET of LOG_DIR read-only. Returns 0, -ENOENT
 * (no .log: e.g. deleted by retention), or -errno. */
int ck_segment_open(const char *log_dir, int64_t base_offset, ck_segment_t *ret);
void ck_segment_close(ck_segment_t *s);

/* Why an iteration ended (ck_segment_iter_t.end). */
typedef enum {
	CK_SEGMENT_END_NONE = 0,
	CK_SEGMENT_END_EOF,   /* the file ended exactly after a batch */
	CK_SEGMENT_END_ZERO,  /* an all-zero header: preallocated space */
	CK_SEGMENT_END_TORN,  /* an incomplete batch at the end of the file */
	CK_SEGMENT_END_BOUND, /* the caller's end position or end offset */
} ck_segment_end_t;

#define CK_SEGMENT_VERIFY_CRC 0x1u /* check every batch's CRC32C */

typedef struct {
	const ck_segment_t *seg;
	uint64_t pos;        /* where the next batch starts */
	uint64_t end_pos;    /* bytes at or after this are not read */
	bool end_is_file;    /* end_pos is the file size, not the caller's */
	int64_t end_offset;  /* batches with last offset >= this are not returned */
	int64_t next_offset; /* a batch below this is corrupt (offsets increase) */
	size_t batch_max;    /* larger batches are corrupt */
	unsigned flags;
	/* The current batch after ck_segment_iter_next() returned 1: */
	ck_batch_header_t hdr;
	uint64_t batch_pos;
	size_t batch_len;
	/* After the iteration ended (0) or failed: */
	ck_segment_end_t end;
	const char *reason; /* on CK_E_CORRUPT: "length", "magic", "crc", ... */
	ck_buf_t buf;       /* scratch, owned */
} ck_segment_iter_t;

/*
 * Starts iterating the batches of S from START_POS (a batch boundary) to
 * END_POS (UINT64_MAX = the file size now) and END_OFFSET (INT64_MAX = no
 * bound). FLAGS: CK_SEGMENT_VERIFY_CRC. Returns 0 or -errno (fstat).
 */
int ck_segment_iter_init(ck_segment_iter_t *it, const ck_segment_t *s, uint64_t start_pos,
                         uint64_t end_pos, int64_t end_offset, unsigned flags);
/*
 * Moves to the next batch. Returns 1 (it->hdr, batch_pos, batch_len set),
 * 0 at the end (it->end says why), CK_E_CORRUPT (it->reason says why; the
 * batch at it->pos is bad), or -errno.
 */
int ck_segment_iter_next(ck_segment_iter_t *it);
/*
 * The current batch's bytes, read on demand into the iterator's buffer
 * (valid until the next call). Returns 0, CK_E_CORRUPT when the file changed
 * under us (short read or CRC mismatch with VERIFY_CRC), or -errno.
 */
int ck_segment_iter_bytes(ck_segment_iter_t *it, const uint8_t **ret, size_t *ret_len);
/* Appends the current batch to OUT. Returns as ck_segment_iter_bytes(). */
int ck_segment_iter_read(ck_segment_iter_t *it, ck_buf_t *out);
void ck_segment_iter_done(ck_segment_iter_t *it);

/*
 * File position of the batch holding OFFSET (its last offset >= OFFSET) or,
 * in a gap, of the first batch after it, looked up through the index and a
 * short scan of batch headers (CRCs are not checked). END_POS bounds the
 * scan (UINT64_MAX = file size). Returns 1 and *RET_POS (and *RET_HDR, may
 * be NULL), 0 when no batch in the segment reaches OFFSET, CK_E_CORRUPT, or
 * -errno.
 */
int ck_segment_find(const ck_segment_t *s, int64_t offset, uint64_t end_pos, uint64_t *ret_pos,
                    ck_batch_header_t *ret_hdr);

/*
 * Position and header of the first batch whose maxTimestamp >= TIMESTAMP,
 * through the time index. Returns 1, 0 when none, CK_E_CORRUPT or -errno.
 */
int ck_segment_find_time(const ck_segment_t *s, int64_t timestamp, uint64_t end_pos,
                         uint64_t *ret_pos, ck_batch_header_t *ret_hdr);

/* A byte range of whole batches, ready for sendfile(fd, &position, length). */
typedef struct {
	int fd; /* the segment's .log fd (still owned by it) */
	uint64_t position;
	uint64_t length;
	int64_t first_offset; /* base offset of the first batch */
	int64_t next_offset;  /* the offset after the last batch */
	uint32_t batches;
} ck_segment_range_t;

/*
 * The whole batches from the one holding OFFSET up to END_OFFSET (batches
 * whose last offset >= END_OFFSET are left out) and END_POS, at most
 * MAX_BYTES but always at least one batch (as Kafka's fetch). FLAGS:
 * CK_SEGMENT_VERIFY_CRC. Returns 1 and *RET, 0 when no batch qualifies,
 * CK_E_CORRUPT, or -errno.
 */
int ck_segment_range(const ck_segment_t *s, int64_t offset, int64_t end_offset, uint64_t end_pos,
                     uint64_t max_bytes, unsigned flags, ck_segment_range_t *ret);

#endif
