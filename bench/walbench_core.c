/*
 * walbench_core.c: batch builder, frame splitter and percentiles of
 * chronik-walbench (walbench_core.h).
 *
 * Pure code: no syscalls, no clock. Batches are built with the shared
 * RecordBatch v2 builder (common/ck_batch.h); this file only decides how many
 * records of which size make a batch of exactly the size asked for.
 */
#include "walbench_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ck_batch.h"
#include "ck_buf.h"
#include "ck_err.h"
#include "ck_ipc.h"

#define WB_BATCH_LEN_MAX (1u << 30)

static size_t wb_varint_len(int64_t v)
{
	uint8_t tmp[10];

	return ck_varint64_put(tmp, v);
}

/* Bytes record OFFSET_DELTA takes with a value of VALUE_LEN, length prefix
 * included. */
static size_t wb_record_body_len(int32_t offset_delta, size_t value_len)
{
	return 1 /* attributes */ + wb_varint_len(0) /* timestampDelta */ +
	       wb_varint_len(offset_delta) + wb_varint_len(-1) /* no key */ +
	       wb_varint_len((int64_t)value_len) + value_len + wb_varint_len(0) /* headers */;
}

static size_t wb_record_len(int32_t offset_delta, size_t value_len)
{
	size_t body = wb_record_body_len(offset_delta, value_len);

	return wb_varint_len((int64_t)body) + body;
}

/* The largest value length whose record fits in TARGET bytes, or -1. */
static long wb_record_value_fit(int32_t offset_delta, size_t target)
{
	size_t v = target > 16 ? target - 16 : 0;

	if (wb_record_len(offset_delta, 0) > target)
		return -1;
	while (wb_record_len(offset_delta, v + 1) <= target)
		v++;
	while (v > 0 && wb_record_len(offset_delta, v) > target)
		v--;
	return (long)v;
}

int wb_batch_build(ck_buf_t *out, size_t batch_len, int64_t timestamp_ms, uint8_t fill,
		   size_t *ret_len, int32_t *ret_records)
{
	ck_batch_record_t *recs = NULL;
	uint8_t *value = NULL;
	size_t remaining, records, len = 0;
	int r = -ENOMEM;

	if (batch_len < WB_BATCH_MIN_LEN || batch_len > WB_BATCH_LEN_MAX)
		return CK_E_INVALID;
	records = CK_MAX(batch_len / WB_RECORD_TARGET_LEN, (size_t)1);
	recs = calloc(records, sizeof(*recs));
	value = malloc(batch_len);
	if (!recs || !value)
		goto out;
	memset(value, fill, batch_len);
	/* Spread the bytes evenly; a varint boundary may leave a record a byte
	 * short, which the next one takes up. */
	remaining = batch_len - CK_BATCH_HEADER_LEN;
	for (size_t i = 0; i < records; i++) {
		size_t target = remaining / (records - i);
		long v = wb_record_value_fit((int32_t)i, target);

		CK_ASSERT(v >= 0);
		recs[i] = (ck_batch_record_t){.value = value, .value_len = (size_t)v,
					      .timestamp_ms = timestamp_ms};
		remaining -= wb_record_len((int32_t)i, (size_t)v);
	}
	ck_buf_reset(out);
	r = ck_batch_build(out, NULL, recs, records, &len);
	if (r < 0)
		goto out;
	CK_ASSERT(len == out->len && len + remaining == batch_len);
	*ret_len = len;
	*ret_records = (int32_t)records;
out:
	free(recs);
	free(value);
	return r;
}

long wb_frame_next(const uint8_t *buf, size_t len, size_t frame_max,
		   const uint8_t **ret_payload, size_t *ret_payload_len)
{
	uint32_t n;

	if (len < CK_IPC_HEADER_LEN)
		return 0;
	n = ck_le32_get(buf);
	if (n == 0 || n > frame_max)
		return CK_E_PROTO;
	if (len - CK_IPC_HEADER_LEN < n)
		return 0;
	*ret_payload = buf + CK_IPC_HEADER_LEN;
	*ret_payload_len = n;
	return (long)n + CK_IPC_HEADER_LEN;
}

int wb_samples_add(wb_samples_t *s, uint64_t v)
{
	if (s->len == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint64_t *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->len++] = v;
	return 0;
}

void wb_samples_free(wb_samples_t *s)
{
	free(s->v);
	s->v = NULL;
	s->len = s->cap = 0;
}

static int wb_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t wb_quantile_sorted(const uint64_t *v, size_t n, double q)
{
	size_t rank;

	if (n == 0)
		return 0;
	/* Nearest rank: the smallest sample with at least Q of all at or below. */
	rank = (size_t)(q * (double)n);
	if ((double)rank < q * (double)n)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

void wb_stats_compute(uint64_t *v, size_t n, wb_stats_t *ret)
{
	double sum = 0;

	memset(ret, 0, sizeof(*ret));
	ret->n = n;
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), wb_u64_cmp);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	ret->min = v[0];
	ret->max = v[n - 1];
	ret->p50 = wb_quantile_sorted(v, n, 0.50);
	ret->p90 = wb_quantile_sorted(v, n, 0.90);
	ret->p99 = wb_quantile_sorted(v, n, 0.99);
	ret->p999 = wb_quantile_sorted(v, n, 0.999);
	ret->mean = sum / (double)n;
}
