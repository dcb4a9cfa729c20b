/*
 * ck_seglog.c: record batches and leader epochs read from segment files (see
 * ck_seglog.h).
 */
#include "ck_seglog.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_segment.h"

/* The segments of a log, and one of them open. */
typedef struct {
	char dir[PATH_MAX];
	int64_t *bases;
	ssize_t n;
	ssize_t open_i; /* -1: none */
	ck_segment_t seg;
} ck_seglog_t;

static int ck_seglog_open(ck_seglog_t *l, const char *data_dir, const char *topic,
                             int32_t partition)
{
	int r;

	l->bases = NULL;
	l->n = 0;
	l->open_i = -1;
	r = ck_segment_log_dir(l->dir, sizeof(l->dir), data_dir, topic, partition);
	if (r < 0)
		return r;
	l->n = ck_segment_list(l->dir, &l->bases);
	return l->n < 0 ? (int)l->n : 0;
}

static void ck_seglog_close(ck_seglog_t *l)
{
	if (l->open_i >= 0)
		ck_segment_close(&l->seg);
	l->open_i = -1;
	free(l->bases);
	l->bases = NULL;
}

/* Opens segment I (closing another). Returns 0 or an error. */
static int ck_seglog_use(ck_seglog_t *l, ssize_t i)
{
	int r;

	if (l->open_i == i)
		return 0;
	if (l->open_i >= 0)
		ck_segment_close(&l->seg);
	l->open_i = -1;
	r = ck_segment_open(l->dir, l->bases[i], &l->seg);
	if (r < 0)
		return r;
	l->open_i = i;
	return 0;
}

/* The first segment to look at for OFFSET (the first one when below). */
static ssize_t ck_seglog_first(const ck_seglog_t *l, int64_t offset)
{
	ssize_t i = ck_segment_pick(l->bases, (size_t)l->n, offset);

	return i < 0 ? 0 : i;
}

int64_t ck_seglog_read(const char *data_dir, const char *topic, int32_t partition, int64_t offset,
                      int64_t end, size_t max_bytes, ck_buf_t *out)
{
	ck_seglog_t l;
	ck_segment_range_t rg;
	int64_t got = 0;
	int r = ck_seglog_open(&l, data_dir, topic, partition);

	for (ssize_t i = r == 0 ? ck_seglog_first(&l, offset) : l.n; r == 0 && i < l.n; i++) {
		r = ck_seglog_use(&l, i);
		if (r < 0)
			break;
		r = ck_segment_range(&l.seg, offset, end, UINT64_MAX, max_bytes ? max_bytes : 1, 0,
		                     &rg);
		if (r < 0)
			break;
		if (r == 0)
			continue; /* nothing from OFFSET in this segment: the next one */
		r = ck_buf_reserve(out, rg.length);
		if (r == 0) {
			ssize_t n =
			    pread(rg.fd, out->data + out->len, rg.length, (off_t)rg.position);

			if (n < 0)
				r = -errno;
			else if ((uint64_t)n != rg.length)
				r = CK_E_CORRUPT; /* the file changed under us */
			else
				out->len += rg.length;
		}
		got = r == 0 ? (int64_t)rg.length : 0;
		break;
	}
	ck_seglog_close(&l);
	return r < 0 ? r : got;
}

/* The batch holding OFFSET or the first after it, in the open log L. */
static int ck_seglog_batch(ck_seglog_t *l, int64_t offset, ck_batch_header_t *ret)
{
	uint64_t pos;
	int r = 0;

	for (ssize_t i = ck_seglog_first(l, offset); i < l->n; i++) {
		r = ck_seglog_use(l, i);
		if (r < 0)
			return r;
		r = ck_segment_find(&l->seg, offset, UINT64_MAX, &pos, ret);
		if (r != 0)
			return r;
	}
	return 0;
}

int ck_seglog_batch_at(const char *data_dir, const char *topic, int32_t partition, int64_t offset,
                      int32_t *ret_epoch, int64_t *ret_base, int64_t *ret_last)
{
	ck_seglog_t l;
	ck_batch_header_t h;
	int r = ck_seglog_open(&l, data_dir, topic, partition);

	if (r == 0)
		r = ck_seglog_batch(&l, offset, &h);
	ck_seglog_close(&l);
	if (r == 1) {
		*ret_epoch = h.partition_leader_epoch;
		*ret_base = h.base_offset;
		*ret_last = h.base_offset + h.last_offset_delta;
	}
	return r;
}

int ck_seglog_epoch_end(const char *data_dir, const char *topic, int32_t partition, int64_t start,
                       int64_t end, int32_t epoch, int64_t *ret)
{
	ck_seglog_t l;
	ck_batch_header_t h;
	int64_t lo = start, hi = end;
	int r = ck_seglog_open(&l, data_dir, topic, partition);

	/* Batches wholly below LO have epochs <= EPOCH; batches starting at
	 * or above HI have greater ones (or there are none). */
	while (r == 0 && lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;

		r = ck_seglog_batch(&l, mid, &h);
		if (r < 0)
			break;
		if (r == 0 || h.base_offset >= hi) {
			hi = mid; /* no batch starts in [mid, hi) */
		} else if (h.partition_leader_epoch > epoch) {
			hi = h.base_offset;
		} else {
			lo = h.base_offset + h.last_offset_delta + 1;
		}
		r = 0;
	}
	ck_seglog_close(&l);
	if (r < 0)
		return r;
	*ret = hi;
	return 0;
}
