/*
 * kbench_hist.c: log-linear latency histogram and rates for chronik-bench
 * (see kbench_hist.h). Pure: no clock, no I/O, no allocation.
 *
 * Bucket layout: values below KB_HIST_SUB map one to one onto the first
 * KB_HIST_SUB buckets; above that, a value with its highest bit at
 * position e (e >= KB_HIST_SUB_BITS) lands in row e - KB_HIST_SUB_BITS + 1,
 * sub-bucket = the KB_HIST_SUB_BITS bits below the top bit. So each row
 * covers one power of two in 64 equal steps.
 */
#include "kbench_hist.h"

#include <string.h>

void kb_hist_init(kb_hist_t *h)
{
	memset(h, 0, sizeof(*h));
	h->min_us = UINT64_MAX;
}

static unsigned kb_hist_index(uint64_t us)
{
	unsigned top, row, sub;

	if (us < KB_HIST_SUB)
		return (unsigned)us;
	top = 63u - (unsigned)__builtin_clzll(us);
	row = top - KB_HIST_SUB_BITS + 1u;
	sub = (unsigned)(us >> (top - KB_HIST_SUB_BITS)) & (KB_HIST_SUB - 1u);
	if (row >= KB_HIST_EXP)
		return KB_HIST_BUCKETS - 1u;
	return row * KB_HIST_SUB + sub;
}

/* Lowest value of bucket I and its width. */
static void kb_hist_bucket_range(unsigned i, uint64_t *ret_lo, uint64_t *ret_width)
{
	unsigned row = i / KB_HIST_SUB, sub = i % KB_HIST_SUB;
	unsigned shift;

	if (row == 0) {
		*ret_lo = sub;
		*ret_width = 1;
		return;
	}
	shift = row - 1u;
	*ret_lo = ((uint64_t)(KB_HIST_SUB + sub)) << shift;
	*ret_width = (uint64_t)1 << shift;
}

void kb_hist_record(kb_hist_t *h, uint64_t us)
{
	h->counts[kb_hist_index(us)]++;
	h->n++;
	h->sum_us += us;
	if (us < h->min_us)
		h->min_us = us;
	if (us > h->max_us)
		h->max_us = us;
}

void kb_hist_merge(kb_hist_t *into, const kb_hist_t *from)
{
	for (unsigned i = 0; i < KB_HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->n += from->n;
	into->sum_us += from->sum_us;
	if (from->n && from->min_us < into->min_us)
		into->min_us = from->min_us;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}

uint64_t kb_hist_quantile(const kb_hist_t *h, double q)
{
	uint64_t rank, seen = 0, lo, width, v;

	if (h->n == 0)
		return 0;
	if (q <= 0.0)
		return h->min_us;
	if (q >= 1.0)
		return h->max_us;
	rank = (uint64_t)(q * (double)h->n + 0.5);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < KB_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen < rank)
			continue;
		kb_hist_bucket_range(i, &lo, &width);
		v = lo + width / 2;
		if (v < h->min_us)
			v = h->min_us;
		if (v > h->max_us)
			v = h->max_us;
		return v;
	}
	return h->max_us;
}

double kb_hist_mean(const kb_hist_t *h)
{
	return h->n ? (double)h->sum_us / (double)h->n : 0.0;
}

kb_rate_t kb_rate(uint64_t msgs, uint64_t bytes, uint64_t elapsed_us)
{
	kb_rate_t r = {0.0, 0.0};
	double s;

	if (elapsed_us == 0)
		return r;
	s = (double)elapsed_us / 1e6;
	r.msgs_per_s = (double)msgs / s;
	r.mb_per_s = (double)bytes / (1024.0 * 1024.0) / s;
	return r;
}
