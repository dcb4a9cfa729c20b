/*
 * wal_store.c: writing the files of one log (chronik-walwriter shell, sync
 * thread side; see wal_store.h).
 *
 * Only the sync thread calls in here once the event loop runs. Every byte
 * reaches the disk through pwrite/pwritev at positions this file tracks;
 * acknowledgements wait for wal_store_sync(). Index files are written with
 * pwrite (never mapped) and made durable before a checkpoint counts them.
 * Decisions (roll, retention, index cadence) come from the pure core.
 * Not here: recovery scanning (wal_recover.c), creating, deleting and
 * configuring log directories (wal_store_dir.c), threads and LMDB
 * (wal_sync.c).
 */
#define CK_LOG_SUBSYSTEM "store"

#include "wal_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_log.h"

#define WAL_ZERO_BUF (64u << 10)
#define WAL_PREALLOC_MIN ((uint64_t)64 << 10) /* a new log's zero tail */

static const uint8_t wal_zeros[WAL_ZERO_BUF];

/* ---- small file helpers ---- */

int wal_store_pwrite(int fd, const void *buf, size_t len, uint64_t pos)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(pos + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

/* pwritev of every iovec (IOV modified on short writes). */
static int wal_store_pwritev(int fd, struct iovec *iov, size_t n, uint64_t pos)
{
	while (n > 0) {
		int cnt = (int)CK_MIN(n, (size_t)IOV_MAX);
		ssize_t w = pwritev(fd, iov, cnt, (off_t)pos);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		pos += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int wal_store_fdatasync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

static void wal_store_close_fd(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
	*fd = -1;
}

int wal_store_seg_open(const char *dir, int64_t base, bool create, int *ret_log, int *ret_index,
                       int *ret_time)
{
	/* Not through a symbolic link: recovery truncates what it finds. */
	int flags = O_RDWR | O_CLOEXEC | O_CREAT | O_NOFOLLOW | (create ? O_TRUNC : 0);
	int fds[3] = {-1, -1, -1}, r = 0;
	char path[PATH_MAX];

	for (int k = 0; k < 3; k++) {
		r = ck_segment_path(path, sizeof(path), dir, base, (ck_segment_file_t)k);
		if (r < 0)
			goto out;
		fds[k] = open(path, flags, 0644);
		if (fds[k] < 0) {
			r = -errno;
			ck_log(CK_LOG_ERROR, "cannot open a segment file path=%s err=\"%s\"%s",
			       path, ck_strerror(r),
			       r == -ELOOP
			           ? " (a symbolic link: segment files must be regular files)"
			           : "");
			goto out;
		}
	}
	*ret_log = fds[0];
	*ret_index = fds[1];
	*ret_time = fds[2];
	return 0;
out:
	for (int k = 0; k < 3; k++)
		wal_store_close_fd(&fds[k]);
	return r;
}

int wal_store_seg_unlink(const char *dir, int64_t base)
{
	char path[PATH_MAX];
	int r = 0;

	for (int k = 0; k < 3; k++) {
		if (ck_segment_path(path, sizeof(path), dir, base, (ck_segment_file_t)k) < 0)
			return -ENAMETOOLONG;
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = -errno;
	}
	return r;
}

/* ---- lifetime ---- */

wal_store_t *wal_store_alloc(const char *dir, const char *topic, int32_t partition,
                             const wal_log_cfg_t *cfg)
{
	size_t len = strlen(dir), tlen = strlen(topic);
	wal_store_t *s;

	if (len >= PATH_MAX || tlen > CK_TOPIC_NAME_MAX)
		return NULL;
	s = calloc(1, sizeof(*s) + len + 1 + tlen + 1);
	if (!s)
		return NULL;
	memcpy(s->dir, dir, len + 1);
	memcpy(s->dir + len + 1, topic, tlen + 1);
	s->topic = s->dir + len + 1;
	s->partition = partition;
	s->cfg = *cfg;
	s->log_fd = s->index_fd = s->time_fd = -1;
	ck_buf_init(&s->idx_stage);
	ck_buf_init(&s->time_stage);
	wal_index_state_init(&s->idx);
	return s;
}

void wal_store_free(wal_store_t *s)
{
	if (!s)
		return;
	wal_store_close_fd(&s->log_fd);
	wal_store_close_fd(&s->index_fd);
	wal_store_close_fd(&s->time_fd);
	ck_buf_free(&s->idx_stage);
	ck_buf_free(&s->time_stage);
	free(s->iov);
	free(s->segs);
	free(s);
}

int wal_store_seg_push(wal_store_t *s, int64_t base, uint64_t size, int64_t max_ts)
{
	if (s->nsegs == s->segs_cap) {
		size_t cap = s->segs_cap ? s->segs_cap * 2 : 8;
		wal_segment_info_t *n = realloc(s->segs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->segs = n;
		s->segs_cap = cap;
	}
	s->segs[s->nsegs++] = (wal_segment_info_t){base, size, max_ts};
	return 0;
}

static int64_t wal_store_base(const wal_store_t *s)
{
	return s->segs[s->nsegs - 1].base_offset;
}

void wal_store_stats(const wal_store_t *s, wal_store_stats_t *ret)
{
	uint64_t size = 0;

	for (size_t i = 0; i + 1 < s->nsegs; i++)
		size += s->segs[i].size;
	ret->start_offset = s->start_offset;
	ret->end_offset = s->next_offset;
	ret->size_bytes = size + s->write_pos;
	ret->segments = (int32_t)s->nsegs;
}

bool wal_store_file_gone(const wal_store_t *s)
{
	struct stat st;

	return s->log_fd >= 0 && fstat(s->log_fd, &st) == 0 && st.st_nlink == 0;
}

const wal_log_cfg_t *wal_store_cfg(const wal_store_t *s)
{
	return &s->cfg;
}

bool wal_store_cfg_lost(const wal_store_t *s)
{
	return s->cfg_lost;
}
const char *wal_store_dir(const wal_store_t *s)
{
	return s->dir;
}
void wal_store_set_prealloc(wal_store_t *s, uint64_t prealloc_bytes)
{
	s->prealloc_bytes = prealloc_bytes;
}
void wal_store_set_owner(wal_store_t *s, void *owner)
{
	s->owner = owner;
}
void *wal_store_owner(const wal_store_t *s)
{
	return s->owner;
}
const char *wal_store_topic(const wal_store_t *s)
{
	return s->topic;
}
int32_t wal_store_partition(const wal_store_t *s)
{
	return s->partition;
}
const wal_topic_id_t *wal_store_topic_id(const wal_store_t *s)
{
	return &s->topic_id;
}

void wal_store_ckpt_set(wal_store_t *s)
{
	s->ckpt.log_start_offset = s->start_offset;
	s->ckpt.segment_base = wal_store_base(s);
	s->ckpt.position = s->write_pos;
	s->ckpt.next_offset = s->next_offset;
	s->ckpt.index = s->idx;
	s->ckpt_seq++;
}

bool wal_store_ckpt(const wal_store_t *s, wal_ckpt_t *ret)
{
	if (s->ckpt_seq == s->ckpt_taken_seq)
		return false;
	*ret = s->ckpt;
	return true;
}

void wal_store_ckpt_taken(wal_store_t *s, const wal_ckpt_t *c)
{
	if (!memcmp(c, &s->ckpt, sizeof(*c)))
		s->ckpt_taken_seq = s->ckpt_seq;
}

bool wal_store_ckpt_mark(wal_store_t *s)
{
	if (s->ckpt_marked)
		return false;
	s->ckpt_marked = true;
	return true;
}

void wal_store_ckpt_unmark(wal_store_t *s)
{
	s->ckpt_marked = false;
}

int wal_store_index_sync(wal_store_t *s)
{
	int r;

	if (!s->index_dirty)
		return 0;
	r = wal_store_fdatasync(s->index_fd);
	if (r == 0)
		r = wal_store_fdatasync(s->time_fd);
	if (r == 0)
		s->index_dirty = false;
	return r;
}

/* ---- group commit ---- */

static int wal_store_stage_iov(wal_store_t *s, const uint8_t *p, size_t len)
{
	if (s->iov_n == s->iov_cap) {
		size_t cap = s->iov_cap ? s->iov_cap * 2 : 16;
		struct iovec *n = realloc(s->iov, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->iov = n;
		s->iov_cap = cap;
	}
	s->iov[s->iov_n++] = (struct iovec){(void *)p, len};
	s->stage_bytes += len;
	return 0;
}

static int wal_store_stage_index(wal_store_t *s, const wal_index_entries_t *e)
{
	uint8_t *p;

	if (e->index) {
		p = ck_buf_extend(&s->idx_stage, CK_INDEX_ENTRY_LEN);
		if (!p)
			return -ENOMEM;
		ck_index_entry_put(p, e->rel_offset, e->position);
	}
	if (e->time) {
		p = ck_buf_extend(&s->time_stage, CK_TIMEINDEX_ENTRY_LEN);
		if (!p)
			return -ENOMEM;
		ck_timeindex_entry_put(p, e->timestamp, e->time_rel_offset);
	}
	return 0;
}

static int wal_store_fail(wal_store_t *s, int r)
{
	if (r < 0 && !s->failed) {
		s->failed = r;
		ck_log(CK_LOG_ERROR, "log write failed log=%s-%d err=\"%s\"", s->topic,
		       s->partition, ck_strerror(r));
	}
	return r;
}

/* Appends the entries staged in STAGE (ENTRY_LEN bytes each) to the index
 * file FD after its *ENTRIES entries. Returns 1 when something was
 * written, 0 when nothing was staged, or -errno. */
static int wal_store_flush_entries(int fd, ck_buf_t *stage, uint64_t *entries, size_t entry_len)
{
	int r;

	if (stage->len == 0)
		return 0;
	r = wal_store_pwrite(fd, stage->data, stage->len, *entries * entry_len);
	if (r < 0)
		return r;
	*entries += stage->len / entry_len;
	ck_buf_reset(stage);
	return 1;
}

int wal_store_flush(wal_store_t *s)
{
	int r;

	if (s->failed)
		return s->failed;
	if (s->stage_bytes > 0) {
		r = wal_store_pwritev(s->log_fd, s->iov, s->iov_n, s->write_pos);
		if (r < 0)
			return wal_store_fail(s, r);
		s->write_pos += s->stage_bytes;
		s->zero_end = CK_MAX(s->zero_end, s->write_pos);
		s->stage_bytes = 0;
		s->iov_n = 0;
		s->log_dirty = true;
		s->segs[s->nsegs - 1].max_timestamp =
		    wal_segment_time(s->idx.max_ts, ck_clock_wall_ms());
	}
	r = wal_store_flush_entries(s->index_fd, &s->idx_stage, &s->index_file_entries,
	                            CK_INDEX_ENTRY_LEN);
	if (r < 0)
		return wal_store_fail(s, r);
	s->index_dirty |= r > 0;
	r = wal_store_flush_entries(s->time_fd, &s->time_stage, &s->time_file_entries,
	                            CK_TIMEINDEX_ENTRY_LEN);
	if (r < 0)
		return wal_store_fail(s, r);
	s->index_dirty |= r > 0;
	s->segs[s->nsegs - 1].size = s->write_pos;
	return 0;
}

int wal_store_sync(wal_store_t *s)
{
	int r;

	if (s->failed)
		return s->failed;
	if (!s->log_dirty)
		return 0;
	r = wal_store_fdatasync(s->log_fd);
	if (r < 0)
		return wal_store_fail(s, r);
	s->log_dirty = false;
	wal_store_ckpt_set(s);
	return 0;
}

/* Makes the active segment closed and durable: final time entry, exact
 * file sizes (the zero tail goes), fdatasync of all three files. */
static int wal_store_close_active(wal_store_t *s)
{
	int r = wal_store_flush(s);

	if (r == 0)
		r = wal_store_index_close(s->index_fd, s->time_fd, wal_store_base(s), &s->idx);
	if (r == 0 && s->zero_end > s->write_pos && ftruncate(s->log_fd, (off_t)s->write_pos) < 0)
		r = -errno;
	if (r == 0)
		r = wal_store_fdatasync(s->log_fd);
	if (r == 0)
		r = wal_store_fdatasync(s->index_fd);
	if (r == 0)
		r = wal_store_fdatasync(s->time_fd);
	if (r < 0)
		return wal_store_fail(s, r);
	s->segs[s->nsegs - 1].size = s->write_pos;
	wal_store_close_fd(&s->log_fd);
	wal_store_close_fd(&s->index_fd);
	wal_store_close_fd(&s->time_fd);
	s->log_dirty = false;
	s->index_dirty = false;
	return 0;
}

/* Starts a new active segment at BASE (after the old one was closed). */
static int wal_store_open_active(wal_store_t *s, int64_t base, int64_t now_ms)
{
	int r = wal_store_seg_open(s->dir, base, true, &s->log_fd, &s->index_fd, &s->time_fd);

	if (r == 0)
		r = ck_fs_dir_sync(s->dir);
	if (r == 0)
		r = wal_store_seg_push(s, base, 0, INT64_MIN);
	if (r < 0)
		return wal_store_fail(s, r);
	s->write_pos = 0;
	s->zero_end = 0;
	s->prealloc_retry_pos = 0; /* a new file: worth another try */
	s->created_ms = now_ms;
	wal_index_state_init(&s->idx);
	s->index_file_entries = 0;
	s->time_file_entries = 0;
	wal_store_ckpt_set(s);
	return 0;
}

static int wal_store_roll(wal_store_t *s, int64_t base, int64_t now_ms)
{
	int r = wal_store_close_active(s);

	if (r < 0)
		return r;
	ck_log(CK_LOG_DEBUG, "segment rolled log=%s-%d base=%lld", s->topic, s->partition,
	       (long long)base);
	r = wal_store_open_active(s, base, now_ms);
	/* The segment just closed may lie below a start that DeleteRecords
	 * set inside it: it goes now, as it would have then. */
	if (r == 0 && s->start_offset >= base) {
		int d = wal_store_drop_below(s);
		if (d < 0)
			ck_log(CK_LOG_WARN,
			       "segment below the log start not removed log=%s-%d "
			       "err=\"%s\"",
			       s->topic, s->partition, ck_strerror(d));
	}
	return r;
}

int wal_store_activate(wal_store_t *s)
{
	int r;

	if (s->log_fd >= 0)
		return 0;
	r = wal_store_materialize(s);
	if (r < 0)
		return r;
	/* The segment holds no batch yet: truncating clears whatever a crash
	 * left in files that may already exist. */
	r = wal_store_seg_open(s->dir, wal_store_base(s), true, &s->log_fd, &s->index_fd,
	                       &s->time_fd);
	if (r == 0)
		r = ck_fs_dir_sync(s->dir);
	/* A log created without fsyncs (wal_store_dir.c) becomes durable here,
	 * before its first append is acknowledged: its files (above), then
	 * its name in <data_dir>/log. */
	if (r == 0 && s->name_unsynced) {
		char parent[PATH_MAX];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", s->dir);
		slash = strrchr(parent, '/');
		if (slash && slash != parent)
			*slash = '\0';
		r = ck_fs_dir_sync(parent);
		if (r == 0)
			s->name_unsynced = false;
	}
	return r;
}

int wal_store_stage(wal_store_t *s, const uint8_t *data, size_t len, int64_t now_ms)
{
	size_t pos = 0, run = 0;
	wal_index_entries_t e;
	int r = s->failed;

	if (r == 0 && s->log_fd < 0)
		r = wal_store_activate(s);

	while (r == 0 && pos < len) {
		ck_batch_header_t h;
		size_t total;
		CK_ASSERT(ck_batch_header_parse(data + pos, len - pos, &h) == 0);
		total = ck_batch_total_len(&h);
		CK_ASSERT(total <= len - pos && h.base_offset == s->next_offset);
		wal_segment_state_t st = {s->write_pos + s->stage_bytes + (pos - run),
		                          wal_store_base(s), s->created_ms};
		if (wal_roll_needed(&st, &s->cfg, total, ck_batch_last_offset(&h), now_ms)) {
			if (pos > run)
				r = wal_store_stage_iov(s, data + run, pos - run);
			run = pos;
			if (r == 0)
				r = wal_store_roll(s, h.base_offset, now_ms);
			if (r < 0)
				break;
		}
		wal_index_track(&s->idx, wal_store_base(s),
		                s->write_pos + s->stage_bytes + (pos - run), &h,
		                (uint32_t)s->cfg.index_interval_bytes, &e);
		r = wal_store_stage_index(s, &e);
		s->next_offset = ck_batch_next_offset(&h);
		pos += total;
	}
	if (r == 0 && pos > run)
		r = wal_store_stage_iov(s, data + run, pos - run);
	s->prealloc_active = true;
	return wal_store_fail(s, r);
}

/* ---- preallocation ---- */

/* The zero tail kept ahead: all of preallocate_bytes once the log filled
 * a segment (it rolled) or wrote that much into this one, else as much as
 * the segment holds, at least WAL_PREALLOC_MIN: a partition holding a few
 * records takes 64 KiB of disk, not 8 MiB (3,000 partitions of replication
 * factor 3 took 12 GB on every node). */
static uint64_t wal_store_prealloc_tail(const wal_store_t *s)
{
	if (s->nsegs > 1 || s->write_pos >= s->prealloc_bytes)
		return s->prealloc_bytes;
	return CK_MIN(s->prealloc_bytes, CK_MAX((uint64_t)WAL_PREALLOC_MIN, s->write_pos));
}

static uint64_t wal_store_prealloc_target(const wal_store_t *s)
{
	uint64_t cap = (uint64_t)s->cfg.segment_bytes;

	return CK_MIN(s->write_pos + wal_store_prealloc_tail(s), cap);
}

bool wal_store_prealloc_wanted(const wal_store_t *s)
{
	if (s->failed || s->prealloc_bytes == 0 || s->log_fd < 0 || !s->prealloc_active ||
	    s->write_pos < s->prealloc_retry_pos)
		return false;
	/* Refill once half of the zero tail is used up. */
	return s->zero_end < s->write_pos + wal_store_prealloc_tail(s) / 2 &&
	       s->zero_end < wal_store_prealloc_target(s);
}

int wal_store_prealloc_step(wal_store_t *s, size_t chunk)
{
	struct iovec iov[16];
	uint64_t target = wal_store_prealloc_target(s);
	size_t n, left;
	int cnt = 0, r;

	if (s->failed || s->prealloc_bytes == 0 || s->zero_end >= target)
		return 0;
	n = (size_t)CK_MIN((uint64_t)chunk, target - s->zero_end);
	n = CK_MIN(n, CK_ARRAY_LEN(iov) * (size_t)WAL_ZERO_BUF);
	for (left = n; left > 0; cnt++) {
		size_t k = CK_MIN(left, (size_t)WAL_ZERO_BUF);
		iov[cnt] = (struct iovec){(void *)wal_zeros, k};
		left -= k;
	}
	r = wal_store_pwritev(s->log_fd, iov, (size_t)cnt, s->zero_end);
	if (r == 0)
		r = wal_store_fdatasync(s->log_fd);
	if (r < 0) {
		/* Only zeros were at stake (every group before was synced): go
		 * on without a zero tail rather than fail the log, and try again
		 * once the log has grown by a tail's length (a full disk refuses
		 * appends, so the next try comes after space was freed). */
		if (s->prealloc_retry_pos == 0)
			ck_log(CK_LOG_WARN,
			       "preallocation failed, paused log=%s-%d err=\"%s\" "
			       "retry_after_bytes=%llu",
			       s->topic, s->partition, ck_strerror(r),
			       (unsigned long long)s->prealloc_bytes);
		s->prealloc_retry_pos = s->write_pos + s->prealloc_bytes;
		return r;
	}
	if (s->prealloc_retry_pos != 0)
		ck_log(CK_LOG_INFO, "preallocation resumed log=%s-%d", s->topic, s->partition);
	s->prealloc_retry_pos = 0;
	s->zero_end += n;
	return 1;
}

/* ---- retention, truncation ---- */

size_t wal_store_retention_due(const wal_store_t *s, int64_t now_ms)
{
	return s->failed ? 0 : wal_retention_count(s->segs, s->nsegs, &s->cfg, now_ms, -1);
}

bool wal_store_retention_empties(const wal_store_t *s, int64_t now_ms, int64_t hw, bool check_hw)
{
	return !s->failed && wal_retention_empties(s->segs, s->nsegs, &s->cfg, now_ms, hw,
	                                           check_hw ? s->next_offset : -1);
}

int wal_store_retention(wal_store_t *s, int64_t now_ms, int64_t hw)
{
	size_t n = wal_retention_count(s->segs, s->nsegs, &s->cfg, now_ms, hw);
	int r = 0;

	if (n == 0 || s->failed)
		return 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		r = wal_store_seg_unlink(s->dir, s->segs[i].base_offset);
		ck_log(CK_LOG_INFO, "segment deleted by retention log=%s-%d base=%lld size=%llu",
		       s->topic, s->partition, (long long)s->segs[i].base_offset,
		       (unsigned long long)s->segs[i].size);
	}
	memmove(s->segs, s->segs + n, (s->nsegs - n) * sizeof(*s->segs));
	s->nsegs -= n;
	s->start_offset = CK_MAX(s->start_offset, s->segs[0].base_offset);
	if (r == 0)
		r = ck_fs_dir_sync(s->dir);
	wal_store_ckpt_set(s);
	return r < 0 ? r : (int)n;
}

int wal_store_drop_below(wal_store_t *s)
{
	size_t n = 0;
	int r = 0;

	/* A closed segment is entirely below the start when the next one
	 * begins at or before it; the active segment always stays. */
	while (n + 1 < s->nsegs && s->segs[n + 1].base_offset <= s->start_offset) {
		r = wal_store_seg_unlink(s->dir, s->segs[n].base_offset);
		if (r < 0)
			break;
		ck_log(CK_LOG_INFO,
		       "segment deleted below the log start log=%s-%d base=%lld "
		       "size=%llu start=%lld",
		       s->topic, s->partition, (long long)s->segs[n].base_offset,
		       (unsigned long long)s->segs[n].size, (long long)s->start_offset);
		n++;
	}
	if (n == 0)
		return r;
	memmove(s->segs, s->segs + n, (s->nsegs - n) * sizeof(*s->segs));
	s->nsegs -= n;
	if (r == 0)
		r = ck_fs_dir_sync(s->dir);
	return r < 0 ? r : (int)n;
}

/* The log start file (WAL_STORE_LOG_START_FILE), replaced durably. */
static int wal_store_log_start_write(wal_store_t *s, int64_t start)
{
	uint8_t buf[WAL_LOG_START_FILE_LEN];
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", s->dir, WAL_STORE_LOG_START_FILE) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	wal_log_start_encode(start, buf);
	return ck_fs_write_atomic(path, buf, sizeof(buf), 0644);
}

int wal_store_delete_records(wal_store_t *s, int64_t before, wal_store_ckpt_fn save, void *arg)
{
	wal_ckpt_t c;
	int r;

	if (s->failed)
		return s->failed;
	if (before < 0)
		return CK_E_INVALID;
	before = CK_MIN(before, s->next_offset);
	if (before <= s->start_offset)
		return 0;
	/* The new start is durable before any file goes: a crash in between
	 * leaves whole segments below it, which recovery removes. The last
	 * recovery point names the active segment, which stays. */
	r = wal_store_index_sync(s);
	if (r < 0)
		return wal_store_fail(s, r);
	c = s->ckpt;
	c.log_start_offset = before;
	r = save(arg, s, &c);
	if (r < 0)
		return r;
	r = wal_store_log_start_write(s, before);
	if (r < 0)
		return r;
	s->start_offset = before;
	s->ckpt = c;
	s->ckpt_seq++;
	wal_store_ckpt_taken(s, &c);
	ck_log(CK_LOG_INFO, "log start moved log=%s-%d start=%lld end=%lld", s->topic, s->partition,
	       (long long)before, (long long)s->next_offset);
	r = wal_store_drop_below(s);
	return r < 0 ? r : 0;
}

int wal_store_start_over(wal_store_t *s, int64_t at, wal_store_ckpt_fn save, void *arg)
{
	int64_t old_end = s->next_offset;
	wal_ckpt_t c;
	size_t i;
	int r;

	if (s->failed)
		return s->failed;
	if (at < 0)
		return CK_E_INVALID;
	/* Done already: one empty segment at AT. A log whose start merely
	 * reached its end (DeleteRecords to the end, a leader's log start
	 * passed on) still holds its files: they go too. */
	if (s->start_offset == at && s->next_offset == at && s->nsegs == 1 &&
	    s->segs[0].base_offset == at && s->write_pos == 0)
		return 0;
	/* A log created lazily gets its directory first: the recovery point
	 * below must belong to a log that exists at a restart. */
	if (s->dir_pending && (r = wal_store_materialize(s)) < 0)
		return wal_store_fail(s, r);
	/* 1. Everything goes for readers, durably (DeleteRecords to the end). */
	r = wal_store_delete_records(s, s->next_offset, save, arg);
	if (r < 0)
		return r;
	/* 2. The files, oldest first: a crash part way leaves a log that
	 * recovers empty at an end no later than the old one. */
	wal_store_close_fd(&s->log_fd);
	wal_store_close_fd(&s->index_fd);
	wal_store_close_fd(&s->time_fd);
	for (i = 0, r = 0; i < s->nsegs && r == 0; i++)
		r = wal_store_seg_unlink(s->dir, s->segs[i].base_offset);
	if (r == 0)
		r = ck_fs_dir_sync(s->dir);
	if (r < 0)
		return wal_store_fail(s, r);
	/* 3. The recovery point of an empty log at AT: with no segment file,
	 * recovery starts the log at its start (wal_recover.c). */
	c = s->ckpt;
	c.log_start_offset = at;
	c.segment_base = at;
	c.position = 0;
	c.next_offset = at;
	wal_index_state_init(&c.index);
	r = save(arg, s, &c);
	if (r == 0) /* AT may be below the old end (a follower starting over) */
		r = wal_store_log_start_write(s, at);
	if (r < 0)
		return wal_store_fail(s, r);
	s->nsegs = 0;
	(void)wal_store_seg_push(s, at, 0, INT64_MIN); /* fits: segs held one */
	s->start_offset = s->next_offset = at;
	s->write_pos = s->zero_end = 0;
	wal_index_state_init(&s->idx);
	s->index_file_entries = s->time_file_entries = 0;
	s->log_dirty = s->index_dirty = false;
	s->prealloc_active = false;
	s->prealloc_retry_pos = 0;
	s->created_ms = ck_clock_wall_ms();
	s->ckpt = c;
	s->ckpt_seq++;
	wal_store_ckpt_taken(s, &c);
	/* 4. The empty active segment's files at AT, as Kafka rolls one before
	 * it deletes the last: the end survives the loss of the recovery
	 * point (a metadata environment rebuilt), offsets never go back. */
	r = wal_store_seg_open(s->dir, at, true, &s->log_fd, &s->index_fd, &s->time_fd);
	if (r == 0)
		r = ck_fs_dir_sync(s->dir);
	wal_store_close_fd(&s->log_fd);
	wal_store_close_fd(&s->index_fd);
	wal_store_close_fd(&s->time_fd);
	if (r < 0)
		ck_log(CK_LOG_WARN, "empty segment not created log=%s-%d base=%lld err=\"%s\"",
		       s->topic, s->partition, (long long)at, ck_strerror(r));
	ck_log(CK_LOG_INFO, "log started over log=%s-%d old_end=%lld start=%lld", s->topic,
	       s->partition, (long long)old_end, (long long)at);
	return 0;
}

/* Where the cut for OFFSET falls in segment K: position and the new end. */
static int wal_store_cut_point(wal_store_t *s, size_t k, int64_t offset, uint64_t *ret_pos,
                               int64_t *ret_end)
{
	ck_segment_t seg;
	ck_batch_header_t h;
	uint64_t pos;
	int r = ck_segment_open(s->dir, s->segs[k].base_offset, &seg);

	if (r < 0)
		return r;
	r = ck_segment_find(&seg, offset, k + 1 == s->nsegs ? s->write_pos : UINT64_MAX, &pos, &h);
	ck_segment_close(&seg);
	if (r < 0)
		return r;
	if (r == 0) { /* OFFSET is past this segment's batches */
		*ret_pos = s->segs[k].size;
		*ret_end = k + 1 < s->nsegs ? s->segs[k + 1].base_offset : s->next_offset;
		return 0;
	}
	*ret_pos = pos;
	*ret_end = h.base_offset;
	return 0;
}

/* Makes segment K active again at POS, with its index re-derived. */
static int wal_store_reopen_at(wal_store_t *s, size_t k, uint64_t pos)
{
	int64_t base = s->segs[k].base_offset;
	wal_scan_t sc;
	int r;

	r = wal_store_seg_open(s->dir, base, false, &s->log_fd, &s->index_fd, &s->time_fd);
	if (r == 0 && ftruncate(s->log_fd, (off_t)pos) < 0)
		r = -errno;
	if (r < 0)
		return r;
	wal_index_state_init(&s->idx);
	r = wal_store_scan(s->log_fd, s->index_fd, s->time_fd, base, 0, base, &s->idx,
	                   (uint32_t)s->cfg.index_interval_bytes, false, &sc);
	if (r < 0)
		return r;
	CK_ASSERT(sc.end_pos == pos);
	if (fdatasync(s->log_fd) < 0 || fdatasync(s->index_fd) < 0 || fdatasync(s->time_fd) < 0)
		return -errno;
	s->nsegs = k + 1;
	s->segs[k].size = pos;
	s->segs[k].max_timestamp = wal_segment_time(s->idx.max_ts, ck_clock_wall_ms());
	s->write_pos = s->zero_end = pos;
	s->next_offset = sc.next_offset;
	s->index_file_entries = s->idx.index_entries;
	s->time_file_entries = s->idx.time_entries;
	return 0;
}

int wal_store_truncate(wal_store_t *s, int64_t offset, wal_store_ckpt_fn save, void *arg)
{
	wal_ckpt_t c;
	uint64_t pos;
	int64_t end;
	ssize_t k;
	int r;

	if (s->failed)
		return s->failed;
	if (offset < s->start_offset || offset > s->next_offset)
		return CK_E_OFFSET_RANGE;
	if (offset == s->next_offset)
		return 0;
	k = -1;
	for (size_t i = 0; i < s->nsegs; i++)
		if (s->segs[i].base_offset <= offset)
			k = (ssize_t)i;
	CK_ASSERT(k >= 0);
	r = wal_store_cut_point(s, (size_t)k, offset, &pos, &end);
	if (r < 0)
		return r;
	/* A recovery point at the start of segment K stays true whatever
	 * happens to the bytes after it. */
	c = s->ckpt;
	c.segment_base = s->segs[k].base_offset;
	c.position = 0;
	c.next_offset = c.segment_base;
	wal_index_state_init(&c.index);
	r = save(arg, s, &c);
	if (r < 0)
		return r;
	wal_store_close_fd(&s->log_fd);
	wal_store_close_fd(&s->index_fd);
	wal_store_close_fd(&s->time_fd);
	for (size_t i = (size_t)k + 1; i < s->nsegs && r == 0; i++)
		r = wal_store_seg_unlink(s->dir, s->segs[i].base_offset);
	if (r == 0)
		r = wal_store_reopen_at(s, (size_t)k, pos);
	if (r == 0)
		r = ck_fs_dir_sync(s->dir);
	if (r < 0)
		return wal_store_fail(s, r);
	ck_log(CK_LOG_INFO,
	       "log truncated log=%s-%d offset=%lld end=%lld segment=%lld position=%llu", s->topic,
	       s->partition, (long long)offset, (long long)end, (long long)s->segs[k].base_offset,
	       (unsigned long long)pos);
	CK_ASSERT(s->next_offset == end);
	wal_store_ckpt_set(s);
	return 0;
}
