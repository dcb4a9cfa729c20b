/*
 * walbench_core.h: the pure part of chronik-walbench (bench/).
 *
 * Builds the RecordBatch v2 payloads the benchmark appends, splits the IPC
 * byte stream into frames, and turns latency samples into percentiles. No
 * syscalls, no clock reads, no sockets: the shell files (walbench_disk.c,
 * walbench_wal.c) do the I/O and hand the numbers in. Unit tested by
 * bench/test_walbench_core.c.
 */
#ifndef WALBENCH_CORE_H
#define WALBENCH_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"

/* Smallest batch wb_batch_build() accepts (header plus one small record). */
#define WB_BATCH_MIN_LEN 80
/* Aimed-at size of one record inside a batch: a 64 KiB batch holds 64. */
#define WB_RECORD_TARGET_LEN 1024

/*
 * Replaces the contents of OUT with one valid, uncompressed RecordBatch v2 of
 * BATCH_LEN bytes (or at most a byte or two less when a varint boundary makes
 * the exact length impossible), built with ck_batch_build(). The batch holds
 * max(1, BATCH_LEN / WB_RECORD_TARGET_LEN) records without keys or headers,
 * values filled with FILL, all stamped TIMESTAMP_MS; baseOffset 0, no
 * producer id.
 * Returns 0 with *RET_LEN (the batch's size) and *RET_RECORDS; CK_E_INVALID
 * when BATCH_LEN < WB_BATCH_MIN_LEN or > 1 GiB; -ENOMEM.
 */
int wb_batch_build(ck_buf_t *out, size_t batch_len, int64_t timestamp_ms, uint8_t fill,
		   size_t *ret_len, int32_t *ret_records);

/*
 * Finds the first IPC frame (4-byte little-endian length, then payload) in
 * LEN bytes at BUF. Returns the bytes the whole frame takes (> 0) and sets
 * *RET_PAYLOAD / *RET_PAYLOAD_LEN; 0 when more bytes are needed; CK_E_PROTO
 * when the length is 0 or larger than FRAME_MAX.
 */
long wb_frame_next(const uint8_t *buf, size_t len, size_t frame_max,
		   const uint8_t **ret_payload, size_t *ret_payload_len);

/* Latency samples, in nanoseconds. */
typedef struct {
	uint64_t *v;
	size_t len;
	size_t cap;
} wb_samples_t;

/* Appends V. Returns 0 or -ENOMEM (the samples are unchanged). */
int wb_samples_add(wb_samples_t *s, uint64_t v);
void wb_samples_free(wb_samples_t *s);

typedef struct {
	size_t n;
	uint64_t min, p50, p90, p99, p999, max; /* nanoseconds; 0 when n == 0 */
	double mean;
} wb_stats_t;

/* Sorts the N samples at V in place and fills *RET with nearest-rank
 * percentiles. N may be 0. */
void wb_stats_compute(uint64_t *v, size_t n, wb_stats_t *ret);

/* The nearest-rank Q-quantile (0 < Q <= 1) of N sorted samples; 0 if N == 0. */
uint64_t wb_quantile_sorted(const uint64_t *v, size_t n, double q);

#endif
