/*
 * wal_recover.c: start-up recovery of one log (chronik-walwriter shell).
 *
 * Runs in the main thread before the event loop and the sync thread start.
 * From the checkpointed recovery point on, every batch is verified (length,
 * magic, CRC32C, increasing offsets); the log is cut at the first torn or
 * corrupt byte, later segments are dropped (before the cut, so a crash in
 * between repeats the same decision), and each cut is logged. A zero-filled
 * preallocated tail is normal. Segments before the recovery point were
 * verified when written: only their indexes get a cheap sanity check and
 * are rebuilt when they disagree with their log; broken batch headers there
 * are unrecoverable (CK_E_CORRUPT: exit 2, never silently drop acknowledged
 * data). Recovered bytes are fdatasync'd before they count as durable. A
 * log without any batch (no segment file, or one empty segment) recovers
 * without opening or creating anything: its first append does that
 * (wal_store_activate), so a restart with many idle logs stays cheap.
 * Each segment must start where the one before ends: a hole (a segment file
 * gone) is logged, and cut where other replicas hold the records after it.
 * The log start is the checkpoint's when that is later than the first
 * segment (DeleteRecords); closed segments entirely below it are removed.
 * The settings file and the topic id file are read back (either missing or
 * unreadable: node defaults, unknown id).
 * Not here: writing new batches (wal_store.c), directories (wal_store_dir.c).
 */
#define CK_LOG_SUBSYSTEM "recovery"

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

#define WAL_RECOVER_ZERO_CHUNK (64u << 10)

/* ---- index derivation ---- */

/* Puts entry SLOT of an index file, writing only when it differs.
 * Returns 0, 1 when it wrote, or -errno. */
static int wal_index_put(int fd, uint64_t slot, const uint8_t *e, size_t len)
{
	uint8_t cur[CK_TIMEINDEX_ENTRY_LEN];
	ssize_t n = pread(fd, cur, len, (off_t)(slot * len));
	int r;

	if (n == (ssize_t)len && !memcmp(cur, e, len))
		return 0;
	r = wal_store_pwrite(fd, e, len, slot * len);
	return r < 0 ? r : 1;
}

/* Returns how many entries had to be written, or -errno. */
static int wal_index_put_entries(int index_fd, int time_fd, const wal_index_state_t *idx,
                                 const wal_index_entries_t *e)
{
	uint8_t b[CK_TIMEINDEX_ENTRY_LEN];
	int r = 0, w = 0;

	if (e->index) {
		ck_index_entry_put(b, e->rel_offset, e->position);
		r = wal_index_put(index_fd, idx->index_entries - 1, b, CK_INDEX_ENTRY_LEN);
		w += r > 0;
	}
	if (r >= 0 && e->time) {
		ck_timeindex_entry_put(b, e->timestamp, e->time_rel_offset);
		r = wal_index_put(time_fd, idx->time_entries - 1, b, CK_TIMEINDEX_ENTRY_LEN);
		w += r > 0;
	}
	return r < 0 ? r : w;
}

static int wal_file_size_set(int fd, uint64_t size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) < 0)
		return -errno;
	return 0;
}

int wal_store_index_close(int index_fd, int time_fd, int64_t base, wal_index_state_t *idx)
{
	wal_index_entries_t e;
	int r = 0;

	if (wal_index_final(idx, base, &e))
		r = wal_index_put_entries(index_fd, time_fd, idx, &e);
	if (r > 0)
		r = 0;
	if (r == 0)
		r = wal_file_size_set(index_fd, idx->index_entries * CK_INDEX_ENTRY_LEN);
	if (r == 0)
		r = wal_file_size_set(time_fd, idx->time_entries * CK_TIMEINDEX_ENTRY_LEN);
	return r;
}

int wal_store_scan(int log_fd, int index_fd, int time_fd, int64_t base, uint64_t pos,
                   int64_t next_offset, wal_index_state_t *idx, uint32_t interval, bool verify,
                   wal_scan_t *ret)
{
	ck_segment_t seg = {base, log_fd, -1, -1};
	wal_index_entries_t e;
	ck_segment_iter_t it;
	int r;

	r = ck_segment_iter_init(&it, &seg, pos, UINT64_MAX, INT64_MAX,
	                         verify ? CK_SEGMENT_VERIFY_CRC : 0);
	if (r < 0)
		return r;
	it.next_offset = next_offset;
	ret->first_max_ts = INT64_MIN;
	ret->index_fixed = 0;
	for (;;) {
		int64_t prev_next = it.next_offset;
		r = ck_segment_iter_next(&it);
		if (r != 1)
			break;
		if (ck_batch_last_offset(&it.hdr) - base > INT32_MAX ||
		    it.batch_pos + it.batch_len > WAL_SEGMENT_BYTES_MAX) {
			/* Unreachable for files we wrote: positions and
			 * relative offsets must fit the index. */
			it.pos = it.batch_pos;
			it.next_offset = prev_next;
			it.reason = "offset";
			r = CK_E_CORRUPT;
			break;
		}
		if (it.batch_pos == 0)
			ret->first_max_ts = it.hdr.max_timestamp;
		wal_index_track(idx, base, it.batch_pos, &it.hdr, interval, &e);
		r = wal_index_put_entries(index_fd, time_fd, idx, &e);
		if (r < 0)
			break;
		ret->index_fixed += (uint32_t)r;
	}
	ret->end_pos = it.pos;
	ret->next_offset = it.next_offset;
	ret->end = it.end;
	ret->reason = r == CK_E_CORRUPT ? it.reason : NULL;
	ck_segment_iter_done(&it);
	if (r < 0 && r != CK_E_CORRUPT)
		return r;
	r = wal_file_size_set(index_fd, idx->index_entries * CK_INDEX_ENTRY_LEN);
	if (r == 0)
		r = wal_file_size_set(time_fd, idx->time_entries * CK_TIMEINDEX_ENTRY_LEN);
	return r;
}

/* ---- helpers ---- */

static const char *wal_seg_name(char *buf, size_t len, int64_t base)
{
	snprintf(buf, len, "%020lld.log", (long long)base);
	return buf;
}

/* Whether [POS, SIZE) of FD is all zero. */
static int wal_tail_is_zero(int fd, uint64_t pos, uint64_t size)
{
	uint8_t *buf = malloc(WAL_RECOVER_ZERO_CHUNK);
	int r = 1;

	if (!buf)
		return -ENOMEM;
	while (pos < size && r == 1) {
		size_t want = (size_t)CK_MIN(size - pos, (uint64_t)WAL_RECOVER_ZERO_CHUNK);
		ssize_t n = pread(fd, buf, want, (off_t)pos);
		if (n < 0) {
			r = errno == EINTR ? 1 : -errno;
			continue;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i]) {
				r = 0;
				break;
			}
		pos += (uint64_t)n;
	}
	free(buf);
	return r;
}

/* The time retention judges segment file FD by (wal_segment_time()): its
 * newest record timestamp MAX_TS, or the file's mtime when no record has one. */
static int64_t wal_fd_segment_time(int fd, int64_t max_ts)
{
	struct stat st;

	if (max_ts >= 0 || fstat(fd, &st) < 0)
		return wal_segment_time(max_ts, ck_clock_wall_ms());
	return wal_segment_time(max_ts,
	                        (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
}

static int wal_fd_size(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*ret = (uint64_t)st.st_size;
	return 0;
}

static void wal_close3(int *fds)
{
	for (int k = 0; k < 3; k++) {
		if (fds[k] >= 0)
			(void)close(fds[k]);
		fds[k] = -1;
	}
}

/* Reads the stored settings. Every log's directory has its settings file
 * (since 2026-12-06; before, a log of node defaults had none): one missing
 * or unreadable lost the topic's settings, which may have kept records
 * that the node defaults would delete. Such a log gets the node defaults
 * with retention suspended, and says so (*RET_LOST) until a ConfigureLog
 * (raftd's reconciliation, from the metadata) gives it its own again. */
static void wal_recover_cfg(const char *dir, const char *name, const wal_log_cfg_t *defaults,
                            wal_log_cfg_t *ret, bool *ret_lost)
{
	uint8_t buf[WAL_LOG_CFG_LEN];
	wal_log_cfg_t req = {0, 0, 0, 0, 0, 0};
	char path[PATH_MAX];
	ssize_t n = -ENAMETOOLONG;

	*ret_lost = false;
	if (snprintf(path, sizeof(path), "%s/%s", dir, WAL_STORE_CONFIG_FILE) < (int)sizeof(path))
		n = ck_fs_read_small(path, buf, sizeof(buf));
	if (n < 0 || wal_log_cfg_decode(buf, (size_t)n, &req) < 0) {
		ck_log(CK_LOG_WARN,
		       "log settings %s: node defaults, retention suspended until the metadata "
		       "service sets them log=%s file=%s/%s",
		       n == -ENOENT ? "missing" : "unreadable", name, dir, WAL_STORE_CONFIG_FILE);
		memset(&req, 0, sizeof(req));
		*ret_lost = true;
	}
	if (wal_log_cfg_resolve(defaults, &req, ret) < 0) {
		ck_log(CK_LOG_WARN, "log settings out of range, using node defaults log=%s", name);
		*ret = *defaults;
	}
	if (*ret_lost)
		ret->retention_bytes = ret->retention_ms = -1;
}

/* The log start file's offset (WAL_STORE_LOG_START_FILE), or -1 when there
 * is none (a bad one is ignored, with a warning). */
static int64_t wal_recover_log_start(const char *dir, const char *name)
{
	uint8_t buf[WAL_LOG_START_FILE_LEN];
	char path[PATH_MAX];
	ssize_t n = -ENAMETOOLONG;
	int64_t v = -1;

	if (snprintf(path, sizeof(path), "%s/%s", dir, WAL_STORE_LOG_START_FILE) <
	    (int)sizeof(path))
		n = ck_fs_read_small(path, buf, sizeof(buf));
	if (n == -ENOENT)
		return -1;
	if (n < 0 || wal_log_start_decode(buf, (size_t)n, &v) < 0) {
		ck_log(CK_LOG_WARN, "log start file unreadable, ignored log=%s file=%s", name,
		       path);
		return -1;
	}
	return v;
}

/* Reads the topic id file: a missing one means unknown (a log created
 * before ids, or without one), a bad one too, with a warning. */
static void wal_recover_topic_id(const char *dir, const char *name, wal_topic_id_t *ret)
{
	uint8_t buf[WAL_TOPIC_ID_FILE_LEN];
	char path[PATH_MAX];
	ssize_t n = -ENAMETOOLONG;

	memset(ret, 0, sizeof(*ret));
	if (snprintf(path, sizeof(path), "%s/%s", dir, WAL_STORE_TOPIC_ID_FILE) < (int)sizeof(path))
		n = ck_fs_read_small(path, buf, sizeof(buf));
	if (n == -ENOENT)
		return;
	if (n < 0 || wal_topic_id_decode(buf, (size_t)n, ret) < 0) {
		ck_log(CK_LOG_WARN, "log topic id unreadable, taking it for unknown log=%s", name);
		memset(ret, 0, sizeof(*ret));
	}
}

/* ---- segments before the recovery point ---- */

/* Kafka-style sanity check of a closed segment's indexes. Returns 1 when
 * they agree with the log (and *RET_MAX_TS), 0 when they must be rebuilt. */
static int wal_index_sane(const int *fds, int64_t base, uint64_t log_size, int64_t *ret_max_ts)
{
	uint8_t e[CK_TIMEINDEX_ENTRY_LEN], h[CK_BATCH_HEADER_LEN];
	uint64_t isize = 0, tsize = 0;
	ck_index_entry_t ie;
	ck_batch_header_t bh;

	if (wal_fd_size(fds[1], &isize) < 0 || wal_fd_size(fds[2], &tsize) < 0)
		return 0;
	if (isize % CK_INDEX_ENTRY_LEN || tsize % CK_TIMEINDEX_ENTRY_LEN)
		return 0;
	if (log_size > 0 && tsize == 0)
		return 0;
	if (isize > 0) {
		if (pread(fds[1], e, CK_INDEX_ENTRY_LEN, (off_t)(isize - CK_INDEX_ENTRY_LEN)) !=
		    CK_INDEX_ENTRY_LEN)
			return 0;
		ie = ck_index_entry_get(e);
		if (ie.position == 0 || ie.position >= log_size ||
		    pread(fds[0], h, sizeof(h), ie.position) != (ssize_t)sizeof(h) ||
		    ck_batch_header_parse(h, sizeof(h), &bh) < 0 ||
		    bh.base_offset != base + ie.rel_offset)
			return 0;
	}
	*ret_max_ts = INT64_MIN;
	if (tsize > 0) {
		if (pread(fds[2], e, CK_TIMEINDEX_ENTRY_LEN,
		          (off_t)(tsize - CK_TIMEINDEX_ENTRY_LEN)) != CK_TIMEINDEX_ENTRY_LEN ||
		    ck_timeindex_valid_count(e, sizeof(e)) != 1)
			return 0;
		*ret_max_ts = ck_timeindex_entry_get(e).timestamp;
	}
	return 1;
}

static bool wal_index_files_present(const char *dir, int64_t base)
{
	char path[PATH_MAX];
	struct stat st;

	for (int k = CK_SEGMENT_FILE_INDEX; k <= CK_SEGMENT_FILE_TIMEINDEX; k++)
		if (ck_segment_path(path, sizeof(path), dir, base, (ck_segment_file_t)k) < 0 ||
		    stat(path, &st) < 0)
			return false;
	return true;
}

static int wal_recover_closed(wal_store_t *s, const char *name, int64_t base)
{
	int fds[3] = {-1, -1, -1}, r;
	char sname[CK_SEGMENT_NAME_MAX];
	wal_index_state_t idx;
	uint64_t size = 0;
	int64_t max_ts;
	wal_scan_t sc;

	bool present = wal_index_files_present(s->dir, base);

	r = wal_store_seg_open(s->dir, base, false, &fds[0], &fds[1], &fds[2]);
	if (r == 0)
		r = wal_fd_size(fds[0], &size);
	if (r < 0)
		goto out;
	if (present && wal_index_sane(fds, base, size, &max_ts) == 1)
		goto done;
	ck_log(CK_LOG_INFO, "rebuilding index log=%s segment=%s", name,
	       wal_seg_name(sname, sizeof(sname), base));
	wal_index_state_init(&idx);
	r = wal_store_scan(fds[0], fds[1], fds[2], base, 0, base, &idx,
	                   (uint32_t)s->cfg.index_interval_bytes, false, &sc);
	if (r == 0 && (sc.reason || sc.end == CK_SEGMENT_END_TORN)) {
		ck_log(CK_LOG_ERROR,
		       "corrupt segment below the recovery point log=%s segment=%s "
		       "position=%llu reason=%s",
		       name, sname, (unsigned long long)sc.end_pos, sc.reason ? sc.reason : "torn");
		r = CK_E_CORRUPT;
	}
	if (r == 0 && sc.end_pos < size && ftruncate(fds[0], (off_t)sc.end_pos) < 0)
		r = -errno;
	if (r == 0)
		r = wal_store_index_close(fds[1], fds[2], base, &idx);
	if (r == 0 && (fdatasync(fds[0]) < 0 || fdatasync(fds[1]) < 0 || fdatasync(fds[2]) < 0))
		r = -errno;
	size = sc.end_pos;
	max_ts = idx.max_ts;
done:
	if (r == 0)
		r = wal_store_seg_push(s, base, size, wal_fd_segment_time(fds[0], max_ts));
out:
	wal_close3(fds);
	return r;
}

/* ---- segments from the recovery point on ---- */

typedef struct {
	uint64_t pos;
	int64_t next_offset;
	wal_index_state_t idx;
} wal_resume_t;

/* Whether the checkpoint's position can be trusted for the files as they
 * are; otherwise the segment is scanned from its start. */
static bool wal_ckpt_usable(const int *fds, const wal_ckpt_t *c)
{
	uint8_t h[CK_BATCH_HEADER_LEN];
	uint64_t lsize = 0, isize = 0, tsize = 0;
	ssize_t n;

	if (wal_fd_size(fds[0], &lsize) < 0 || wal_fd_size(fds[1], &isize) < 0 ||
	    wal_fd_size(fds[2], &tsize) < 0)
		return false;
	if (c->position > lsize || isize < c->index.index_entries * CK_INDEX_ENTRY_LEN ||
	    tsize < c->index.time_entries * CK_TIMEINDEX_ENTRY_LEN)
		return false;
	if (c->position == lsize)
		return true;
	n = pread(fds[0], h, sizeof(h), (off_t)c->position);
	if (n < 12)
		return false;
	if (ck_be32_get(h + CK_BATCH_OFF_LENGTH) == 0)
		return true; /* the zero tail */
	return n == (ssize_t)sizeof(h) && (int64_t)ck_be64_get(h) == c->next_offset;
}

/* Removes segments BASES[from..n) (after a cut). */
static int wal_drop_after(wal_store_t *s, const char *name, const int64_t *bases, size_t from,
                          size_t n)
{
	char sname[CK_SEGMENT_NAME_MAX], path[PATH_MAX];
	struct stat st;
	int r = 0;

	for (size_t j = from; j < n && r == 0; j++) {
		(void)ck_segment_path(path, sizeof(path), s->dir, bases[j], CK_SEGMENT_FILE_LOG);
		ck_log(CK_LOG_WARN, "dropped segment after a cut log=%s segment=%s size=%lld", name,
		       wal_seg_name(sname, sizeof(sname), bases[j]),
		       stat(path, &st) == 0 ? (long long)st.st_size : -1LL);
		r = wal_store_seg_unlink(s->dir, bases[j]);
	}
	if (r == 0 && from < n)
		r = ck_fs_dir_sync(s->dir);
	return r;
}

/* Classifies the end of a scan: NULL when clean, else the reason to cut. */
static const char *wal_scan_verdict(int log_fd, const wal_scan_t *sc, uint64_t size, int *ret_err)
{
	int z;

	*ret_err = 0;
	if (sc->reason)
		return sc->reason;
	if (sc->end == CK_SEGMENT_END_TORN)
		return "torn";
	if (sc->end == CK_SEGMENT_END_ZERO) {
		z = wal_tail_is_zero(log_fd, sc->end_pos, size);
		if (z < 0)
			*ret_err = z;
		if (z == 0)
			return "garbage";
	}
	return NULL;
}

/* Scans segment BASES[i] from RS; cuts and drops later segments when bad.
 * Returns 1 when this segment is now the last, 0 to go on, or an error. */
static int wal_recover_scan_one(wal_store_t *s, const char *name, const int64_t *bases, size_t i,
                                size_t n, int *fds, wal_resume_t *rs, wal_store_cut_t *cut)
{
	char sname[CK_SEGMENT_NAME_MAX];
	const char *why;
	uint64_t size = 0;
	wal_scan_t sc;
	int r;

	r = wal_fd_size(fds[0], &size);
	if (r < 0)
		return r;
	if (rs->pos == 0 && bases[i] < rs->next_offset) {
		/* Only a hand-made directory gets here: segments overlap. */
		ck_log(CK_LOG_ERROR, "segments overlap log=%s segment=%s expected_base>=%lld", name,
		       wal_seg_name(sname, sizeof(sname), bases[i]), (long long)rs->next_offset);
		return CK_E_CORRUPT;
	}
	r = wal_store_scan(fds[0], fds[1], fds[2], bases[i], rs->pos,
	                   rs->pos == 0 ? bases[i] : rs->next_offset, &rs->idx,
	                   (uint32_t)s->cfg.index_interval_bytes, true, &sc);
	if (r < 0)
		return r;
	if (sc.index_fixed > 0)
		ck_log(CK_LOG_INFO, "index entries rewritten log=%s segment=%s entries=%u", name,
		       wal_seg_name(sname, sizeof(sname), bases[i]), sc.index_fixed);
	why = wal_scan_verdict(fds[0], &sc, size, &r);
	if (r < 0)
		return r;
	rs->pos = sc.end_pos;
	rs->next_offset = sc.next_offset;
	if (!why)
		return i + 1 == n ? 1 : 0;
	r = wal_drop_after(s, name, bases, i + 1, n);
	if (r == 0 && ftruncate(fds[0], (off_t)sc.end_pos) < 0)
		r = -errno;
	if (r < 0)
		return r;
	ck_log(CK_LOG_WARN,
	       "truncated torn tail log=%s segment=%s position=%lu bytes_cut=%lu "
	       "reason=%s",
	       name, wal_seg_name(sname, sizeof(sname), bases[i]), (unsigned long)sc.end_pos,
	       (unsigned long)(size - sc.end_pos), why);
	*cut =
	    (wal_store_cut_t){true, bases[i], sc.end_pos, size - sc.end_pos, why, (int)(n - i - 1)};
	return 1;
}

/* Makes the scanned segment I closed (LAST false) or the active one. */
static int wal_recover_settle(wal_store_t *s, int64_t base, int *fds, wal_resume_t *rs, bool last)
{
	uint64_t size = 0;
	int r = wal_fd_size(fds[0], &size);

	if (r == 0 && !last && size > rs->pos && ftruncate(fds[0], (off_t)rs->pos) < 0)
		r = -errno;
	if (r == 0 && !last)
		r = wal_store_index_close(fds[1], fds[2], base, &rs->idx);
	if (r == 0 && (fdatasync(fds[0]) < 0 || fdatasync(fds[1]) < 0 || fdatasync(fds[2]) < 0))
		r = -errno;
	if (r == 0)
		r = wal_store_seg_push(s, base, rs->pos,
		                       wal_fd_segment_time(fds[0], rs->idx.max_ts));
	if (r < 0 || !last)
		return r;
	s->log_fd = fds[0];
	s->index_fd = fds[1];
	s->time_fd = fds[2];
	fds[0] = fds[1] = fds[2] = -1;
	s->write_pos = rs->pos;
	s->zero_end = CK_MAX(size, rs->pos);
	s->next_offset = rs->next_offset;
	s->idx = rs->idx;
	s->index_file_entries = rs->idx.index_entries;
	s->time_file_entries = rs->idx.time_entries;
	return 0;
}

/* Scans segments K0.. of BASES from the checkpoint (or from K0's start). */
static int wal_recover_tail(wal_store_t *s, const char *name, const int64_t *bases, size_t k0,
                            size_t n, const wal_ckpt_t *ckpt, wal_store_cut_t *cut)
{
	int fds[3] = {-1, -1, -1}, r = 0;
	wal_resume_t rs = {0, bases[k0], {0}};

	wal_index_state_init(&rs.idx);
	for (size_t i = k0; i < n && r == 0; i++) {
		bool last;
		r = wal_store_seg_open(s->dir, bases[i], false, &fds[0], &fds[1], &fds[2]);
		if (r < 0)
			break;
		if (i == k0 && ckpt && ckpt->segment_base == bases[i] &&
		    wal_ckpt_usable(fds, ckpt)) {
			rs.pos = ckpt->position;
			rs.next_offset = ckpt->next_offset;
			rs.idx = ckpt->index;
		} else {
			rs.pos = 0;
			wal_index_state_init(&rs.idx);
		}
		r = wal_recover_scan_one(s, name, bases, i, n, fds, &rs, cut);
		if (r < 0)
			break;
		last = r == 1;
		r = wal_recover_settle(s, bases[i], fds, &rs, last);
		wal_close3(fds);
		if (last)
			break;
	}
	wal_close3(fds);
	return r;
}

/* ---- holes between segments ---- */

/* The offset after the last batch of segment BASE of DIR, read from its
 * last index entry on (that entry checked against the batch it names, else
 * from the start). Returns 1 and *RET_END, 0 when the segment's end cannot
 * be read (torn, damaged: recovery proper judges it), or -errno. */
static int wal_seg_end(const char *dir, int64_t base, int64_t *ret_end)
{
	uint8_t e[CK_INDEX_ENTRY_LEN], h[CK_BATCH_HEADER_LEN];
	uint64_t isize = 0, start = 0;
	ck_batch_header_t bh;
	ck_segment_iter_t it;
	ck_segment_t seg;
	int64_t end = base;
	int r = ck_segment_open(dir, base, &seg);

	if (r < 0)
		return r;
	if (seg.index_fd >= 0 && wal_fd_size(seg.index_fd, &isize) == 0 &&
	    isize >= CK_INDEX_ENTRY_LEN &&
	    pread(seg.index_fd, e, sizeof(e), (off_t)(isize - sizeof(e))) == (ssize_t)sizeof(e)) {
		ck_index_entry_t ie = ck_index_entry_get(e);

		if (ie.position > 0 &&
		    pread(seg.log_fd, h, sizeof(h), ie.position) == (ssize_t)sizeof(h) &&
		    ck_batch_header_parse(h, sizeof(h), &bh) == 0 &&
		    bh.base_offset == base + ie.rel_offset)
			start = ie.position;
	}
	r = ck_segment_iter_init(&it, &seg, start, UINT64_MAX, INT64_MAX, 0);
	if (r == 0) {
		while ((r = ck_segment_iter_next(&it)) == 1)
			end = it.hdr.base_offset + it.hdr.last_offset_delta + 1;
		ck_segment_iter_done(&it);
	}
	ck_segment_close(&seg);
	if (r == CK_E_CORRUPT || (r == 0 && it.end == CK_SEGMENT_END_TORN))
		return 0;
	if (r < 0)
		return r;
	*ret_end = end;
	return 1;
}

/*
 * Checks that each of the N segments of BASES starts where the one before
 * ends. A hole (a segment file deleted by hand or lost with a broken disk)
 * would otherwise be served as if the records in it never existed:
 * consumers skip it, and a replica holding it would lead with it. Each
 * hole gets an ERROR line naming the missing offsets. With CUT (a node
 * with peers) the log is cut at the first hole: the segments after it are
 * removed, so the log ends below its high watermark, the broker takes a
 * new data id (wal_boot.c) and fetches the records back from the leader.
 * Without (a single node, where nobody else holds them) the records on
 * either side are kept. Returns how many segments to recover, or -errno.
 */
static int wal_recover_holes(wal_store_t *s, const char *name, const int64_t *bases, int n,
                             bool cut)
{
	for (int i = 0; i + 1 < n; i++) {
		int64_t end = 0;
		int r = wal_seg_end(s->dir, bases[i], &end);

		if (r < 0)
			return r;
		if (r == 0 || end >= bases[i + 1])
			continue; /* unreadable or overlapping: judged by the scans */
		ck_log(CK_LOG_ERROR,
		       "records missing from the log, a segment file is gone log=%s from=%lld "
		       "to=%lld action=%s",
		       name, (long long)end, (long long)bases[i + 1] - 1,
		       cut ? "cut at the hole, fetched again from the leader" : "none");
		if (!cut)
			continue;
		r = wal_drop_after(s, name, bases, (size_t)i + 1, (size_t)n);
		return r < 0 ? r : i + 1;
	}
	return n;
}

/* ---- the whole log ---- */

static int64_t wal_recover_created_ms(const wal_store_t *s)
{
	uint8_t h[CK_BATCH_HEADER_LEN];
	int64_t now = ck_clock_wall_ms(), ts;

	if (s->write_pos == 0 || pread(s->log_fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return now;
	ts = (int64_t)ck_be64_get(h + CK_BATCH_OFF_MAX_TIMESTAMP);
	return ts < 0 || ts > now ? now : ts;
}

/* The first segment to scan: the checkpoint's, or the first one. */
static size_t wal_recover_first(const int64_t *bases, size_t n, const wal_ckpt_t *ckpt)
{
	if (!ckpt)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (bases[i] == ckpt->segment_base)
			return i;
	return 0;
}

/*
 * Whether the log holds no batch at all: no segment file, or a single empty
 * one that no recovery point goes beyond. Such a log recovers without
 * opening anything (its first append creates the files, wal_store_activate);
 * *RET_BASE gets the offset it starts at.
 */
static bool wal_recover_is_empty(const char *dir, const int64_t *bases, int n,
                                 const wal_ckpt_t *ckpt, int64_t *ret_base)
{
	char path[PATH_MAX];
	struct stat st;

	if (n == 0) {
		*ret_base = ckpt ? ckpt->log_start_offset : 0;
		return true;
	}
	if (n != 1 || (ckpt && ckpt->next_offset > bases[0]))
		return false;
	if (ck_segment_path(path, sizeof(path), dir, bases[0], CK_SEGMENT_FILE_LOG) < 0 ||
	    stat(path, &st) < 0 || st.st_size != 0)
		return false;
	*ret_base = bases[0];
	return true;
}

/* Recovers the segments of BASES (N > 0) from the checkpoint. */
static int wal_recover_segments(wal_store_t *s, const char *name, const int64_t *bases, size_t n,
                                const wal_ckpt_t *ckpt, wal_store_cut_t *cut)
{
	size_t k0 = wal_recover_first(bases, n, ckpt);
	int r = 0;

	for (size_t i = 0; i < k0 && r >= 0; i++)
		r = wal_recover_closed(s, name, bases[i]);
	if (r >= 0)
		r = wal_recover_tail(s, name, bases, k0, n, ckpt, cut);
	return r;
}

int wal_store_recover(const char *data_dir, const char *topic, int32_t partition,
                      const wal_ckpt_t *ckpt, const wal_log_cfg_t *defaults, bool cut_at_hole,
                      wal_store_t **ret, wal_store_cut_t *ret_cut)
{
	char dir[PATH_MAX], name[CK_TOPIC_NAME_MAX + 16];
	wal_store_cut_t cut = {false, 0, 0, 0, NULL, 0};
	int64_t *bases = NULL;
	wal_store_t *s = NULL;
	wal_log_cfg_t cfg;
	int64_t empty_base = 0, file_start;
	bool cfg_lost;
	int r, n;

	r = ck_segment_log_dir(dir, sizeof(dir), data_dir, topic, partition);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s-%d", topic, partition);
	wal_recover_cfg(dir, name, defaults, &cfg, &cfg_lost);
	s = wal_store_alloc(dir, topic, partition, &cfg);
	if (!s)
		return -ENOMEM;
	s->cfg_lost = cfg_lost;
	wal_recover_topic_id(dir, name, &s->topic_id);
	n = r = ck_segment_list(dir, &bases);
	if (r > 1)
		n = r = wal_recover_holes(s, name, bases, n, cut_at_hole);
	if (r < 0)
		goto out;
	if (wal_recover_is_empty(dir, bases, n, ckpt, &empty_base)) {
		r = wal_store_seg_push(s, empty_base, 0, INT64_MIN);
		s->next_offset = empty_base;
	} else {
		r = wal_recover_segments(s, name, bases, (size_t)n, ckpt, &cut);
	}
	if (r < 0)
		goto out;
	s->start_offset = s->segs[0].base_offset;
	if (ckpt && ckpt->log_start_offset > s->start_offset)
		s->start_offset = CK_MIN(ckpt->log_start_offset, s->next_offset);
	/* The start DeleteRecords moved it to, also without the recovery
	 * point (its LMDB rebuilt). */
	if ((file_start = wal_recover_log_start(dir, name)) > s->start_offset)
		s->start_offset = CK_MIN(file_start, s->next_offset);
	/* A crash after DeleteRecords made its start durable may have left
	 * whole segments below it: they are gone for readers already. */
	n = wal_store_drop_below(s);
	if (n < 0)
		ck_log(CK_LOG_WARN, "segments below the log start not removed log=%s err=\"%s\"",
		       name, ck_strerror(n));
	s->created_ms = wal_recover_created_ms(s);
	wal_store_ckpt_set(s);
	*ret = s;
	s = NULL;
	if (ret_cut)
		*ret_cut = cut;
out:
	if (r < 0)
		ck_log(CK_LOG_ERROR, "recovery failed log=%s err=\"%s\"", name, ck_strerror(r));
	free(bases);
	wal_store_free(s);
	return r < 0 ? r : 0;
}
