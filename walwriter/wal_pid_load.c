/*
 * wal_pid_load.c: start-up rebuild of a log's idempotent producers' state
 * from its segment files (chronik-walwriter shell, see wal_pid.h).
 *
 * Runs in the main thread after the log's recovery, before the sync thread
 * starts: reads only batch headers, in 64 KiB chunks, from the first
 * segment up to the recovered end. Nothing is written.
 */
#define CK_LOG_SUBSYSTEM "recovery"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_log.h"
#include "wal_loop.h"
#include "wal_pid.h"

#define WAL_PID_CHUNK (64u << 10)

/* Notes every batch of one segment file below END. Returns 0, 1 once END
 * is reached, or -errno. */
static int wal_pids_load_segment(int fd, int64_t end, uint8_t *buf, wal_pids_t *s)
{
	uint64_t pos = 0, buf_pos = 0;
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
		pos += ck_batch_total_len(&h);
	}
}

int wal_pids_load(const char *data_dir, const char *topic, int32_t partition, int64_t end,
                  wal_pids_t *s)
{
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
	r = 0;
	for (int i = 0; i < n && r == 0; i++) {
		int fd;
		r = ck_segment_path(path, sizeof(path), dir, bases[i], CK_SEGMENT_FILE_LOG);
		if (r < 0)
			break;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		r = wal_pids_load_segment(fd, end, buf, s);
		(void)close(fd);
	}
	free(buf);
	free(bases);
	return r < 0 ? r : 0;
}
