/*
 * wal_pid_load.c: start-up rebuild of a log's idempotent producers' state
 * from its segment files (chronik-walwriter shell, see wal_pid.h).
 *
 * Runs in the main thread after the log's recovery, before the sync thread
 * starts: reads only batch headers, in 64 KiB chunks, of the log's last
 * WAL_PID_SCAN_BYTES up to the recovered end. Nothing is written.
 *
 * Why only the tail: reading every header of a large log made start-up
 * grow with the data (0.8 s per GiB of small batches from a cold cache
 * here), beyond the supervisor's ready timeout for tens of GiB. What the
 * state is for after a restart is the producers still sending: a batch
 * sent again is one of a producer's last five, written moments before the
 * restart, far inside the tail. A producer whose last batch lies before
 * the tail is unknown afterwards and starts over with whatever sequence
 * it sends (as after Kafka's producer.id.expiration.ms), which can only
 * matter for a retry older than everything written since.
 */
#define CK_LOG_SUBSYSTEM "recovery"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_log.h"
#include "wal_loop.h"
#include "wal_pid.h"

#define WAL_PID_CHUNK      (64u << 10)
#define WAL_PID_SCAN_BYTES (32ull << 20)

/* Notes every batch of one segment file from POS (a batch boundary) below
 * END, and raises *EPOCH to their highest leader epoch. Returns 0, 1 once
 * END is reached, or -errno. */
static int wal_pids_load_segment(int fd, uint64_t pos, int64_t end, uint8_t *buf, wal_pids_t *s,
                                 int32_t *epoch)
{
	uint64_t buf_pos = 0;
	size_t buf_len = 0;

	for (;;) {
		ck_batch_header_t h;
		if (pos < buf_pos || pos + CK_BATCH_HEADER_LEN > buf_pos + buf_len) {
			ssize_t n = pread(fd, buf, WAL_PID_CHUNK, (off_t)pos);
			if (n < 0)
				return -errno;
			buf_pos = pos;
			buf_len = (size_t)n;
			if (buf_len < CK_BATCH_HEADER_LEN)
				return 0;
		}
		(void)ck_batch_header_parse(buf + (pos - buf_pos), CK_BATCH_HEADER_LEN, &h);
		/* A zero-filled (preallocated) tail or the recovered cut. */
		if (ck_batch_header_check(&h, 0) < 0)
			return 0;
		if (h.base_offset >= end)
			return 1;
		wal_pids_note(s, &h);
		*epoch = CK_MAX(*epoch, h.partition_leader_epoch);
		pos += ck_batch_total_len(&h);
	}
}

/* ck_index_search's probe over an open .index file (ARG: its fd), keyed
 * by file position. */
static int wal_pids_index_probe(void *arg, size_t i, int64_t *ret_key)
{
	uint8_t e[CK_INDEX_ENTRY_LEN];
	ssize_t n = pread(*(const int *)arg, e, sizeof(e), (off_t)(i * CK_INDEX_ENTRY_LEN));

	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(e) || ck_index_entry_get(e).position == 0)
		return 1;
	*ret_key = ck_index_entry_get(e).position;
	return 0;
}

/* A batch boundary at or before TARGET in the segment BASE of DIR, from
 * its .index (0 without one). */
static uint64_t wal_pids_index_pos(const char *dir, int64_t base, uint64_t target)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i;
	uint64_t pos = 0;
	int fd;

	if (ck_segment_path(path, sizeof(path), dir, base, CK_SEGMENT_FILE_INDEX) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(fd, &st) == 0 &&
	    ck_index_search((size_t)st.st_size / CK_INDEX_ENTRY_LEN, (int64_t)target,
	                    wal_pids_index_probe, &fd, &i) == 1) {
		uint8_t e[CK_INDEX_ENTRY_LEN];

		if (pread(fd, e, sizeof(e), (off_t)(i * CK_INDEX_ENTRY_LEN)) == (ssize_t)sizeof(e))
			pos = ck_index_entry_get(e).position;
	}
	(void)close(fd);
	return pos;
}

/* Where the scan of the last BUDGET bytes of the N segments BASES of DIR
 * starts: *RET_FIRST (an index into BASES) and *RET_POS in it. Sizes come
 * from the files (the active one's preallocated tail counts too, which
 * only makes the scan shorter). */
static void wal_pids_tail(const char *dir, const int64_t *bases, int n, uint64_t budget,
                          int *ret_first, uint64_t *ret_pos)
{
	uint64_t total = 0;

	*ret_first = 0;
	*ret_pos = 0;
	for (int i = n - 1; i >= 0; i--) {
		char path[PATH_MAX];
		struct stat st;

		if (ck_segment_path(path, sizeof(path), dir, bases[i], CK_SEGMENT_FILE_LOG) < 0 ||
		    stat(path, &st) < 0)
			return; /* the loader reports it */
		total += (uint64_t)st.st_size;
		if (total >= budget) {
			*ret_first = i;
			*ret_pos = wal_pids_index_pos(dir, bases[i], total - budget);
			return;
		}
	}
}

int wal_pids_load(const char *data_dir, const char *topic, int32_t partition, int64_t end,
                  wal_pids_t *s, int32_t *ret_epoch)
{
	uint64_t pos;
	int first;
	char dir[PATH_MAX], path[PATH_MAX];
	int64_t *bases = NULL;
	uint8_t *buf;
	int n, r = 0;

	if (end <= 0)
		return 0;
	r = ck_segment_log_dir(dir, sizeof(dir), data_dir, topic, partition);
	if (r < 0)
		return r;
	n = ck_segment_list(dir, &bases);
	if (n <= 0)
		return n == -ENOENT ? 0 : n;
	buf = malloc(WAL_PID_CHUNK);
	if (!buf) {
		free(bases);
		return -ENOMEM;
	}
	wal_pids_tail(dir, bases, n, WAL_PID_SCAN_BYTES, &first, &pos);
	r = 0;
	for (int i = first; i < n && r == 0; i++) {
		int fd;
		r = ck_segment_path(path, sizeof(path), dir, bases[i], CK_SEGMENT_FILE_LOG);
		if (r < 0)
			break;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		r = wal_pids_load_segment(fd, i == first ? pos : 0, end, buf, s, ret_epoch);
		(void)close(fd);
	}
	free(buf);
	free(bases);
	return r < 0 ? r : 0;
}
