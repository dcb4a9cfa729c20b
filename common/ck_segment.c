/*
 * ck_segment.c: names, listing, index search and the batch reader of the
 * on-disk log format (ck_segment.h).
 *
 * Readers only: every access is a pread on an fd the caller's ck_segment_t
 * owns, and every length read from a file is checked against the bytes that
 * actually exist before it is trusted. An incomplete batch ends iteration;
 * it is never handed out. Writing is walwriter's job (walwriter/wal_store.c).
 */
#include "ck_segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_crc32c.h"
#include "ck_err.h"

#define CK_SEGMENT_LOAD_MAX (1u << 20)  /* batches up to this are read whole when verifying */
#define CK_SEGMENT_CHUNK    (64u << 10) /* streaming CRC chunk */

static const char *const ck_segment_exts[] = {".log", ".index", ".timeindex"};

const char *ck_segment_file_ext(ck_segment_file_t kind)
{
	CK_ASSERT((unsigned)kind < CK_ARRAY_LEN(ck_segment_exts));
	return ck_segment_exts[kind];
}

bool ck_topic_name_valid(const char *topic)
{
	size_t n = strlen(topic);

	if (n == 0 || n > CK_TOPIC_NAME_MAX || !strcmp(topic, ".") || !strcmp(topic, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = topic[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int ck_segment_log_dir(char *buf, size_t len, const char *data_dir, const char *topic,
                       int32_t partition)
{
	int n;

	if (!ck_topic_name_valid(topic) || partition < 0)
		return CK_E_INVALID;
	n = snprintf(buf, len, "%s/log/%s-%" PRId32, data_dir, topic, partition);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int ck_segment_log_dir_parse(const char *name, char *ret_topic, size_t topic_len,
                             int32_t *ret_partition)
{
	const char *dash = strrchr(name, '-');
	size_t tlen;
	int64_t part = 0;
	const char *p;

	if (!dash || dash == name || dash[1] == '\0')
		return CK_E_INVALID;
	if (dash[1] == '0' && dash[2] != '\0')
		return CK_E_INVALID; /* not canonical */
	for (p = dash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return CK_E_INVALID;
		part = part * 10 + (*p - '0');
		if (part > INT32_MAX)
			return CK_E_INVALID;
	}
	tlen = (size_t)(dash - name);
	if (tlen >= topic_len || tlen > CK_TOPIC_NAME_MAX)
		return CK_E_INVALID;
	memcpy(ret_topic, name, tlen);
	ret_topic[tlen] = '\0';
	if (!ck_topic_name_valid(ret_topic))
		return CK_E_INVALID;
	*ret_partition = (int32_t)part;
	return 0;
}

int ck_segment_path(char *buf, size_t len, const char *log_dir, int64_t base_offset,
                    ck_segment_file_t kind)
{
	int n = snprintf(buf, len, "%s/%020" PRId64 "%s", log_dir, base_offset,
	                 ck_segment_file_ext(kind));

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int ck_segment_name_parse(const char *name, int64_t *ret_base, ck_segment_file_t *ret_kind)
{
	uint64_t v = 0;

	for (int i = 0; i < CK_SEGMENT_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return CK_E_INVALID;
		v = v * 10 + (uint64_t)(name[i] - '0');
		if (v > INT64_MAX)
			return CK_E_INVALID;
	}
	for (unsigned k = 0; k < CK_ARRAY_LEN(ck_segment_exts); k++) {
		if (!strcmp(name + CK_SEGMENT_DIGITS, ck_segment_exts[k])) {
			*ret_base = (int64_t)v;
			*ret_kind = (ck_segment_file_t)k;
			return 0;
		}
	}
	return CK_E_INVALID;
}

static int ck_segment_base_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int ck_segment_list(const char *log_dir, int64_t **ret_bases)
{
	DIR *d = opendir(log_dir);
	int64_t *bases = NULL, *nb;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	while ((errno = 0, de = readdir(d)) != NULL) {
		int64_t base;
		ck_segment_file_t kind;
		if (ck_segment_name_parse(de->d_name, &base, &kind) < 0 ||
		    kind != CK_SEGMENT_FILE_LOG)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			nb = realloc(bases, cap * sizeof(*bases));
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			bases = nb;
		}
		bases[n++] = base;
	}
	if (errno) {
		r = -errno;
		goto out;
	}
	if (n > INT32_MAX) {
		r = -EOVERFLOW;
		goto out;
	}
	if (n > 1)
		qsort(bases, n, sizeof(*bases), ck_segment_base_cmp);
	*ret_bases = bases;
	bases = NULL;
	r = (int)n;
out:
	free(bases);
	(void)closedir(d);
	return r;
}

ssize_t ck_segment_pick(const int64_t *bases, size_t n, int64_t offset)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bases[mid] <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ssize_t)lo - 1;
}

/* ---- index math ---- */

int ck_index_search(size_t n, int64_t target, ck_index_probe_fn probe, void *arg, size_t *ret_i)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int64_t key = 0;
		int r = probe(arg, mid, &key);
		if (r < 0)
			return r;
		if (r == 0 && key <= target)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	*ret_i = lo - 1;
	return 1;
}

size_t ck_index_valid_count(const uint8_t *p, size_t len)
{
	size_t n = len / CK_INDEX_ENTRY_LEN, i;
	ck_index_entry_t prev = {0, 0};

	for (i = 0; i < n; i++) {
		ck_index_entry_t e = ck_index_entry_get(p + i * CK_INDEX_ENTRY_LEN);
		if (e.position == 0 ||
		    (i > 0 && (e.rel_offset <= prev.rel_offset || e.position <= prev.position)))
			break;
		prev = e;
	}
	return i;
}

static bool ck_segment_is_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

size_t ck_timeindex_valid_count(const uint8_t *p, size_t len)
{
	size_t n = len / CK_TIMEINDEX_ENTRY_LEN, i;
	ck_timeindex_entry_t prev = {0, 0};

	for (i = 0; i < n; i++) {
		const uint8_t *q = p + i * CK_TIMEINDEX_ENTRY_LEN;
		ck_timeindex_entry_t e = ck_timeindex_entry_get(q);
		if (ck_segment_is_zero(q, CK_TIMEINDEX_ENTRY_LEN) ||
		    (i > 0 && (e.timestamp < prev.timestamp || e.rel_offset < prev.rel_offset)))
			break;
		prev = e;
	}
	return i;
}

/* ---- files ---- */

/* Reads up to LEN bytes at POS; fewer only at the end of the file. */
static ssize_t ck_segment_pread(int fd, void *buf, size_t len, uint64_t pos)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(pos + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int ck_segment_open_one(const char *log_dir, int64_t base, ck_segment_file_t kind)
{
	char path[4096];
	int fd;

	if (ck_segment_path(path, sizeof(path), log_dir, base, kind) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int ck_segment_open(const char *log_dir, int64_t base_offset, ck_segment_t *ret)
{
	int fd = ck_segment_open_one(log_dir, base_offset, CK_SEGMENT_FILE_LOG);

	if (fd < 0)
		return fd;
	ret->base_offset = base_offset;
	ret->log_fd = fd;
	ret->index_fd = ck_segment_open_one(log_dir, base_offset, CK_SEGMENT_FILE_INDEX);
	ret->timeindex_fd = ck_segment_open_one(log_dir, base_offset, CK_SEGMENT_FILE_TIMEINDEX);
	if (ret->index_fd < 0)
		ret->index_fd = -1;
	if (ret->timeindex_fd < 0)
		ret->timeindex_fd = -1;
	return 0;
}

void ck_segment_close(ck_segment_t *s)
{
	if (s->log_fd >= 0)
		(void)close(s->log_fd);
	if (s->index_fd >= 0)
		(void)close(s->index_fd);
	if (s->timeindex_fd >= 0)
		(void)close(s->timeindex_fd);
	s->log_fd = s->index_fd = s->timeindex_fd = -1;
}

/* ---- iteration ---- */

int ck_segment_iter_init(ck_segment_iter_t *it, const ck_segment_t *s, uint64_t start_pos,
                         uint64_t end_pos, int64_t end_offset, unsigned flags)
{
	struct stat st;

	memset(it, 0, sizeof(*it));
	ck_buf_init(&it->buf);
	if (fstat(s->log_fd, &st) < 0)
		return -errno;
	it->seg = s;
	it->pos = start_pos;
	it->end_is_file = (uint64_t)st.st_size <= end_pos;
	it->end_pos = it->end_is_file ? (uint64_t)st.st_size : end_pos;
	it->end_offset = end_offset;
	it->next_offset = s->base_offset;
	it->batch_max = CK_BATCH_TOTAL_MAX;
	it->flags = flags;
	return 0;
}

void ck_segment_iter_done(ck_segment_iter_t *it)
{
	ck_buf_free(&it->buf);
}

static int ck_segment_iter_end(ck_segment_iter_t *it, ck_segment_end_t end)
{
	it->end = end;
	return 0;
}

static int ck_segment_iter_corrupt(ck_segment_iter_t *it, const char *reason)
{
	it->reason = reason;
	return CK_E_CORRUPT;
}

/* Verifies the CRC of the current batch, loading it whole when small.
 * Returns 0, 1 when the file ended inside the batch (it->end set), or an error. */
static int ck_segment_iter_crc(ck_segment_iter_t *it)
{
	uint64_t pos = it->batch_pos + CK_BATCH_CRC_START;
	size_t left = it->batch_len - CK_BATCH_CRC_START, chunk;
	uint32_t crc = 0;
	ssize_t n;

	ck_buf_reset(&it->buf);
	if (it->batch_len <= CK_SEGMENT_LOAD_MAX) {
		const uint8_t *p;
		size_t len;
		int r = ck_segment_iter_bytes(it, &p, &len);
		if (r == CK_E_CORRUPT && !strcmp(it->reason, "torn"))
			return ck_segment_iter_end(it, CK_SEGMENT_END_TORN) + 1;
		return r;
	}
	if (ck_buf_reserve(&it->buf, CK_SEGMENT_CHUNK) < 0)
		return -ENOMEM;
	while (left > 0) {
		chunk = CK_MIN(left, (size_t)CK_SEGMENT_CHUNK);
		n = ck_segment_pread(it->seg->log_fd, it->buf.data, chunk, pos);
		if (n < 0)
			return (int)n;
		if ((size_t)n < chunk)
			return ck_segment_iter_end(it, CK_SEGMENT_END_TORN) + 1;
		crc = ck_crc32c(crc, it->buf.data, chunk);
		pos += chunk;
		left -= chunk;
	}
	if (crc != it->hdr.crc)
		return ck_segment_iter_corrupt(it, "crc");
	return 0;
}

/* Classifies the header bytes at it->pos. Returns 1 (it->hdr valid), 0 (end) or an error. */
static int ck_segment_iter_header(ck_segment_iter_t *it)
{
	uint8_t h[CK_BATCH_HEADER_LEN];
	size_t want = (size_t)CK_MIN((uint64_t)sizeof(h), it->end_pos - it->pos);
	ssize_t got = ck_segment_pread(it->seg->log_fd, h, want, it->pos);
	bool file_end = it->end_is_file || (size_t)got < want;
	int r;

	if (got < 0)
		return (int)got;
	if (got == 0)
		return ck_segment_iter_end(it,
		                           file_end ? CK_SEGMENT_END_EOF : CK_SEGMENT_END_BOUND);
	/* Less than a header left: a torn write, unless those bytes are all
	 * zero: the end of the space preallocated up to segment.bytes (a
	 * clean stop leaves it), taken as a longer zero tail is. No batch can
	 * hide in it (a torn one's zero high baseOffset bytes are cut by no
	 * one either way: the next append writes over them). */
	if ((size_t)got < sizeof(h) && !(file_end && ck_segment_is_zero(h, (size_t)got)))
		return ck_segment_iter_end(it,
		                           file_end ? CK_SEGMENT_END_TORN : CK_SEGMENT_END_BOUND);
	if (ck_segment_is_zero(h, (size_t)got))
		return ck_segment_iter_end(it, CK_SEGMENT_END_ZERO);
	(void)ck_batch_header_parse(h, sizeof(h), &it->hdr);
	r = ck_batch_header_check(&it->hdr, it->batch_max);
	if (r == CK_E_TOO_LARGE || it->hdr.batch_length < CK_BATCH_LENGTH_MIN)
		return ck_segment_iter_corrupt(it, "length");
	if (it->hdr.magic != CK_BATCH_MAGIC)
		return ck_segment_iter_corrupt(it, "magic");
	if (r < 0)
		return ck_segment_iter_corrupt(it, "header");
	return 1;
}

int ck_segment_iter_next(ck_segment_iter_t *it)
{
	size_t total;
	int r;

	if (it->end != CK_SEGMENT_END_NONE)
		return 0;
	it->reason = NULL;
	if (it->pos >= it->end_pos)
		return ck_segment_iter_end(it, it->end_is_file ? CK_SEGMENT_END_EOF
		                                               : CK_SEGMENT_END_BOUND);
	r = ck_segment_iter_header(it);
	if (r <= 0)
		return r;
	total = ck_batch_total_len(&it->hdr);
	if (total > it->end_pos - it->pos)
		return ck_segment_iter_end(it, it->end_is_file ? CK_SEGMENT_END_TORN
		                                               : CK_SEGMENT_END_BOUND);
	if (it->hdr.base_offset < it->next_offset)
		return ck_segment_iter_corrupt(it, "offset");
	if (ck_batch_last_offset(&it->hdr) >= it->end_offset)
		return ck_segment_iter_end(it, CK_SEGMENT_END_BOUND);
	it->batch_pos = it->pos;
	it->batch_len = total;
	if (it->flags & CK_SEGMENT_VERIFY_CRC) {
		r = ck_segment_iter_crc(it);
		if (r != 0)
			return r > 0 ? 0 : r;
	} else {
		ck_buf_reset(&it->buf);
	}
	it->pos += total;
	it->next_offset = ck_batch_next_offset(&it->hdr);
	return 1;
}

int ck_segment_iter_bytes(ck_segment_iter_t *it, const uint8_t **ret, size_t *ret_len)
{
	ssize_t n;

	if (it->buf.len != it->batch_len) {
		ck_buf_reset(&it->buf);
		if (ck_buf_reserve(&it->buf, it->batch_len) < 0)
			return -ENOMEM;
		n = ck_segment_pread(it->seg->log_fd, it->buf.data, it->batch_len, it->batch_pos);
		if (n < 0)
			return (int)n;
		if ((size_t)n < it->batch_len)
			return ck_segment_iter_corrupt(it, "torn");
		it->buf.len = it->batch_len;
		if ((it->flags & CK_SEGMENT_VERIFY_CRC) &&
		    ck_batch_crc_compute(it->buf.data, it->batch_len) != it->hdr.crc) {
			it->buf.len = 0;
			return ck_segment_iter_corrupt(it, "crc");
		}
	}
	*ret = it->buf.data;
	*ret_len = it->buf.len;
	return 0;
}

int ck_segment_iter_read(ck_segment_iter_t *it, ck_buf_t *out)
{
	const uint8_t *p;
	size_t len;
	int r = ck_segment_iter_bytes(it, &p, &len);

	if (r < 0)
		return r;
	return ck_buf_append(out, p, len);
}

/* ---- lookups ---- */

typedef struct {
	int fd;
	size_t entry_len;
} ck_segment_probe_t;

static int ck_segment_index_probe(void *arg, size_t i, int64_t *ret_key)
{
	ck_segment_probe_t *pr = arg;
	uint8_t e[CK_TIMEINDEX_ENTRY_LEN];
	ssize_t n = ck_segment_pread(pr->fd, e, pr->entry_len, (uint64_t)i * pr->entry_len);

	if (n < 0)
		return (int)n;
	if ((size_t)n < pr->entry_len || ck_segment_is_zero(e, pr->entry_len))
		return 1;
	if (pr->entry_len == CK_INDEX_ENTRY_LEN) {
		ck_index_entry_t ie = ck_index_entry_get(e);
		if (ie.position == 0)
			return 1;
		*ret_key = ie.rel_offset;
	} else {
		*ret_key = ck_timeindex_entry_get(e).timestamp;
	}
	return 0;
}

/* Looks up an index file: 1 and the entry bytes of the last key <= TARGET, 0, or an error. */
static int ck_segment_index_lookup(int fd, size_t entry_len, int64_t target, uint8_t *ret_entry)
{
	ck_segment_probe_t pr = {fd, entry_len};
	struct stat st;
	size_t i;
	int r;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	r = ck_index_search((size_t)st.st_size / entry_len, target, ck_segment_index_probe, &pr,
	                    &i);
	if (r <= 0)
		return r;
	if (ck_segment_pread(fd, ret_entry, entry_len, (uint64_t)i * entry_len) !=
	    (ssize_t)entry_len)
		return 0;
	return 1;
}

/* Start position for a scan towards OFFSET, and the base offset expected there. */
static int ck_segment_index_start(const ck_segment_t *s, int64_t offset, uint64_t *ret_pos,
                                  int64_t *ret_base)
{
	uint8_t e[CK_INDEX_ENTRY_LEN];
	int64_t rel = offset - s->base_offset;
	ck_index_entry_t ie;
	int r;

	*ret_pos = 0;
	*ret_base = s->base_offset;
	if (rel <= 0)
		return 0;
	r = ck_segment_index_lookup(s->index_fd, CK_INDEX_ENTRY_LEN,
	                            CK_MIN(rel, (int64_t)UINT32_MAX), e);
	if (r <= 0)
		return r;
	ie = ck_index_entry_get(e);
	*ret_pos = ie.position;
	*ret_base = s->base_offset + ie.rel_offset;
	return 0;
}

typedef bool (*ck_segment_match_fn)(const ck_batch_header_t *h, int64_t key);

static bool ck_segment_match_offset(const ck_batch_header_t *h, int64_t offset)
{
	return ck_batch_last_offset(h) >= offset;
}

static bool ck_segment_match_time(const ck_batch_header_t *h, int64_t ts)
{
	return h->max_timestamp >= ts;
}

/* Scans from START (whose batch must have base offset EXPECT) for the first match. */
static int ck_segment_scan(const ck_segment_t *s, uint64_t start, int64_t expect, uint64_t end_pos,
                           ck_segment_match_fn match, int64_t key, uint64_t *ret_pos,
                           ck_batch_header_t *ret_hdr)
{
	ck_segment_iter_t it;
	int r = ck_segment_iter_init(&it, s, start, end_pos, INT64_MAX, 0);

	if (r < 0)
		return r;
	it.next_offset = expect;
	r = ck_segment_iter_next(&it);
	if (r == 0 && start != 0)
		r = ck_segment_iter_corrupt(&it, "index"); /* an entry past the data */
	for (; r == 1; r = ck_segment_iter_next(&it)) {
		if (it.batch_pos == start && it.hdr.base_offset != expect) {
			r = ck_segment_iter_corrupt(&it, "index");
			break;
		}
		if (match(&it.hdr, key)) {
			*ret_pos = it.batch_pos;
			if (ret_hdr)
				*ret_hdr = it.hdr;
			break;
		}
	}
	ck_segment_iter_done(&it);
	return r;
}

static int ck_segment_locate(const ck_segment_t *s, uint64_t start, int64_t expect,
                             uint64_t end_pos, ck_segment_match_fn match, int64_t key,
                             uint64_t *ret_pos, ck_batch_header_t *ret_hdr)
{
	int r = ck_segment_scan(s, start, expect, end_pos, match, key, ret_pos, ret_hdr);

	/* An index that disagrees with its log (being rebuilt, stale) must
	 * not hide data: fall back to a scan from the start. */
	if (r == CK_E_CORRUPT && start != 0)
		r = ck_segment_scan(s, 0, s->base_offset, end_pos, match, key, ret_pos, ret_hdr);
	return r;
}

int ck_segment_find(const ck_segment_t *s, int64_t offset, uint64_t end_pos, uint64_t *ret_pos,
                    ck_batch_header_t *ret_hdr)
{
	uint64_t start;
	int64_t expect;
	int r = ck_segment_index_start(s, offset, &start, &expect);

	if (r < 0)
		return r;
	return ck_segment_locate(s, start, expect, end_pos, ck_segment_match_offset, offset,
	                         ret_pos, ret_hdr);
}

int ck_segment_find_time(const ck_segment_t *s, int64_t timestamp, uint64_t end_pos,
                         uint64_t *ret_pos, ck_batch_header_t *ret_hdr)
{
	uint8_t e[CK_TIMEINDEX_ENTRY_LEN];
	uint64_t start = 0;
	int64_t expect = s->base_offset;
	int r = 0;

	/* Entries strictly below TIMESTAMP: batches before such an entry's
	 * offset all hold smaller timestamps. */
	if (timestamp > INT64_MIN)
		r = ck_segment_index_lookup(s->timeindex_fd, CK_TIMEINDEX_ENTRY_LEN, timestamp - 1,
		                            e);
	if (r < 0)
		return r;
	if (r == 1) {
		int64_t off = s->base_offset + ck_timeindex_entry_get(e).rel_offset;
		r = ck_segment_index_start(s, off, &start, &expect);
		if (r < 0)
			return r;
	}
	return ck_segment_locate(s, start, expect, end_pos, ck_segment_match_time, timestamp,
	                         ret_pos, ret_hdr);
}

int ck_segment_range(const ck_segment_t *s, int64_t offset, int64_t end_offset, uint64_t end_pos,
                     uint64_t max_bytes, unsigned flags, ck_segment_range_t *ret)
{
	ck_segment_range_t rg = {s->log_fd, 0, 0, 0, 0, 0};
	ck_batch_header_t h;
	ck_segment_iter_t it;
	uint64_t pos;
	int r = ck_segment_find(s, offset, end_pos, &pos, &h);

	if (r <= 0)
		return r;
	r = ck_segment_iter_init(&it, s, pos, end_pos, end_offset, flags);
	if (r < 0)
		return r;
	it.next_offset = h.base_offset;
	rg.position = pos;
	rg.first_offset = h.base_offset;
	while ((r = ck_segment_iter_next(&it)) == 1) {
		if (rg.batches > 0 && rg.length + it.batch_len > max_bytes)
			break;
		rg.length += it.batch_len;
		rg.next_offset = ck_batch_next_offset(&it.hdr);
		rg.batches++;
	}
	ck_segment_iter_done(&it);
	if (r < 0 && rg.batches == 0)
		return r;
	if (rg.batches == 0)
		return 0;
	*ret = rg;
	return 1;
}
