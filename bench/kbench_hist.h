/*
 * kbench_hist.h: the pure part of chronik-bench (bench/chronik-bench.c):
 * a fixed-size log-linear latency histogram and the throughput arithmetic.
 *
 * Owned by chronik-bench. Recording is O(1) and allocation-free so it can
 * run inside librdkafka's delivery-report callback for millions of
 * messages; percentiles are exact to within one sub-bucket (1/64 of a
 * power of two, under 1.6 %). No clock reads, no I/O: the shell hands in
 * microseconds and byte counts. Unit tested by bench/kbench_test_hist.c.
 * Not for: option parsing or anything librdkafka (chronik-bench.c).
 */
#ifndef KBENCH_HIST_H
#define KBENCH_HIST_H

#include <stdint.h>

#define KB_HIST_SUB_BITS 6 /* 64 linear sub-buckets per power of two */
#define KB_HIST_SUB      (1u << KB_HIST_SUB_BITS)
#define KB_HIST_EXP      40 /* values up to 2^40 us (~12 days) */
#define KB_HIST_BUCKETS  (KB_HIST_EXP * KB_HIST_SUB)

typedef struct {
	uint64_t counts[KB_HIST_BUCKETS];
	uint64_t n;
	uint64_t sum_us;
	uint64_t min_us;
	uint64_t max_us;
} kb_hist_t;

/* Empties H. */
void kb_hist_init(kb_hist_t *h);

/* Records one sample of US microseconds (larger values are clamped to the
 * top bucket; max_us keeps the true value). */
void kb_hist_record(kb_hist_t *h, uint64_t us);

/* Adds every sample of FROM to INTO. */
void kb_hist_merge(kb_hist_t *into, const kb_hist_t *from);

/* The value (microseconds) below which a fraction Q (0 < Q <= 1) of the
 * samples lie: the midpoint of the sub-bucket holding that rank, clamped to
 * [min_us, max_us]. 0 when H is empty. */
uint64_t kb_hist_quantile(const kb_hist_t *h, double q);

/* Mean in microseconds; 0 when empty. */
double kb_hist_mean(const kb_hist_t *h);

typedef struct {
	double msgs_per_s;
	double mb_per_s; /* 1 MB = 2^20 bytes, as Kafka's perf tools print */
} kb_rate_t;

/* Rates of MSGS messages and BYTES bytes over ELAPSED_US (0 when
 * ELAPSED_US is 0). */
kb_rate_t kb_rate(uint64_t msgs, uint64_t bytes, uint64_t elapsed_us);

#endif
