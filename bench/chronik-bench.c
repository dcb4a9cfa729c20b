/*
 * chronik-bench.c: a Kafka producer/consumer benchmark on librdkafka, the
 * project's kafka-producer-perf-test / kafka-consumer-perf-test.
 *
 *   chronik-bench produce --brokers H:P --topic T [--size 100]
 *       [--count N | --duration S] [--acks 0|1|all] [--linger-ms 5]
 *       [--batch-size B] [--compression none|gzip|snappy|lz4|zstd]
 *       [--inflight N] [--partitions P] [--idempotence] [--rate N]
 *       [--report-ms 1000]
 *   chronik-bench consume --brokers H:P --topic T [--count N | --duration S]
 *       [--from beginning|end] [--report-ms 1000]
 *
 * Owned by bench/. It works against any Kafka broker. Produce latency is
 * the time from rd_kafka_producev() to the delivery report (so it includes
 * librdkafka's linger and the broker's acknowledgement); with --rate N
 * (messages a second, like kafka-producer-perf-test's --throughput) message
 * i is due at start + i/N and its latency runs from that due time, so a
 * client or broker that falls behind the rate shows it in the latency
 * instead of hiding it (no coordinated omission). The first message is
 * delivered before the clock starts (a warm-up: counted as a message, not in
 * the latencies). Consume latency is
 * now minus the message's CreateTime (meaningful while a producer runs at
 * the same time on this host). Progress goes to stderr once per report
 * interval; the summary and one machine-readable `result ...` line go to
 * stdout. Exit 0 when every message was delivered (produce) or the wanted
 * count was read (consume), 1 otherwise, 2 on bad usage.
 * Not for: percentile arithmetic (kbench_hist.c), librdkafka set-up shared
 * with the test client rdk_e2e (kbench_rdk.c) or the storage benchmark
 * (walbench_*).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "kbench_hist.h"
#include "kbench_rdk.h"

#define KB_SIZE_MAX (64 << 20)
#define KB_PROG     "chronik-bench"

typedef struct {
	bool produce;
	const char *brokers;
	const char *topic;
	int size;
	long count;        /* 0 = until duration (or, consume, until the end) */
	double duration_s; /* 0 = until count */
	const char *acks;
	int linger_ms;
	long batch_size; /* 0 = librdkafka's default */
	const char *compression;
	int inflight;   /* 0 = librdkafka's default */
	int partitions; /* > 0: create the topic first */
	bool idempotence; /* enable.idempotence (InitProducerId, sequences) */
	long rate;        /* messages a second; 0 = as fast as possible */
	bool from_end;
	int report_ms;
} kb_opts_t;

/* Counters of one run; WINDOW is reset at every progress report. */
typedef struct {
	uint64_t sent;
	uint64_t done; /* delivered (produce) or read (consume) */
	uint64_t failed;
	uint64_t bytes;
	uint64_t window_done;
	uint64_t window_bytes;
	kb_hist_t all;
	kb_hist_t window;
	char last_error[256];
} kb_stats_t;

static volatile sig_atomic_t kb_stop;

static void kb_on_signal(int sig)
{
	(void)sig;
	kb_stop = 1;
}

static uint64_t kb_now_us(void)
{
	return ck_clock_mono_ns() / 1000u;
}

static void kb_usage(void)
{
	fprintf(stderr,
	        "usage: chronik-bench produce --brokers H:P --topic T [--size 100]\n"
	        "           [--count N | --duration S] [--acks 0|1|all] [--linger-ms 5]\n"
	        "           [--batch-size B] [--compression none|gzip|snappy|lz4|zstd]\n"
	        "           [--inflight N] [--partitions P] [--idempotence] [--rate N]\n"
	        "           [--report-ms 1000]\n"
	        "       chronik-bench consume --brokers H:P --topic T [--count N | --duration S]\n"
	        "           [--from beginning|end] [--report-ms 1000]\n");
}

static int kb_opt_long(const char *s, long lo, long hi, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int kb_opt_one(kb_opts_t *o, int ch, const char *arg)
{
	long v = 0;
	int r = 0;

	switch (ch) {
	case 'b':
		o->brokers = arg;
		break;
	case 't':
		o->topic = arg;
		break;
	case 's':
		r = kb_opt_long(arg, 0, KB_SIZE_MAX, &v);
		o->size = (int)v;
		break;
	case 'n':
		r = kb_opt_long(arg, 1, INT64_MAX / 2, &v);
		o->count = v;
		break;
	case 'a':
		o->acks = arg;
		if (strcmp(arg, "0") && strcmp(arg, "1") && strcmp(arg, "all") && strcmp(arg, "-1"))
			r = -EINVAL;
		break;
	case 'l':
		r = kb_opt_long(arg, 0, 900000, &v);
		o->linger_ms = (int)v;
		break;
	case 'B':
		r = kb_opt_long(arg, 1, 2147483647, &v);
		o->batch_size = v;
		break;
	case 'c':
		o->compression = arg;
		break;
	case 'i':
		r = kb_opt_long(arg, 1, 1000000, &v);
		o->inflight = (int)v;
		break;
	case 'p':
		r = kb_opt_long(arg, 1, 100000, &v);
		o->partitions = (int)v;
		break;
	case 'r':
		r = kb_opt_long(arg, 10, 3600000, &v);
		o->report_ms = (int)v;
		break;
	case 'I':
		o->idempotence = true;
		break;
	case 'R':
		r = kb_opt_long(arg, 0, 100000000, &v);
		o->rate = v;
		break;
	case 'f':
		o->from_end = !strcmp(arg, "end");
		r = o->from_end || !strcmp(arg, "beginning") ? 0 : -EINVAL;
		break;
	case 'd': {
		char *end;

		o->duration_s = strtod(arg, &end);
		r = (end == arg || *end || o->duration_s <= 0) ? -EINVAL : 0;
		break;
	}
	default:
		r = -EINVAL;
	}
	return r;
}

static int kb_opts_parse(int argc, char **argv, kb_opts_t *o)
{
	static const struct option longopts[] = {{"brokers", required_argument, NULL, 'b'},
	                                         {"topic", required_argument, NULL, 't'},
	                                         {"size", required_argument, NULL, 's'},
	                                         {"count", required_argument, NULL, 'n'},
	                                         {"duration", required_argument, NULL, 'd'},
	                                         {"acks", required_argument, NULL, 'a'},
	                                         {"linger-ms", required_argument, NULL, 'l'},
	                                         {"batch-size", required_argument, NULL, 'B'},
	                                         {"compression", required_argument, NULL, 'c'},
	                                         {"inflight", required_argument, NULL, 'i'},
	                                         {"partitions", required_argument, NULL, 'p'},
	                                         {"report-ms", required_argument, NULL, 'r'},
	                                         {"from", required_argument, NULL, 'f'},
	                                         {"idempotence", no_argument, NULL, 'I'},
	                                         {"rate", required_argument, NULL, 'R'},
	                                         {NULL, 0, NULL, 0}};
	int ch;

	*o = (kb_opts_t){
	    .size = 100, .acks = "all", .linger_ms = 5, .compression = "none", .report_ms = 1000};
	if (argc < 2)
		return -EINVAL;
	if (!strcmp(argv[1], "produce"))
		o->produce = true;
	else if (strcmp(argv[1], "consume"))
		return -EINVAL;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (kb_opt_one(o, ch, optarg) < 0)
			return -EINVAL;
	}
	if (optind != argc || !o->brokers || !o->topic || (o->count && o->duration_s))
		return -EINVAL;
	if (o->rate && !o->produce)
		return -EINVAL;
	if (o->produce && !o->count && !o->duration_s)
		o->count = 1000000;
	return 0;
}

static void kb_report_window(const char *what, kb_stats_t *st, uint64_t window_us)
{
	kb_rate_t r = kb_rate(st->window_done, st->window_bytes, window_us);

	fprintf(stderr,
	        "%" PRIu64 " records %s, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, "
	        "%.1f ms max latency\n",
	        st->window_done, what, r.msgs_per_s, r.mb_per_s, kb_hist_mean(&st->window) / 1000.0,
	        (double)st->window.max_us / 1000.0);
	st->window_done = 0;
	st->window_bytes = 0;
	kb_hist_init(&st->window);
}

static void kb_summary(const char *mode, const kb_opts_t *o, const kb_stats_t *st,
                       uint64_t elapsed_us)
{
	kb_rate_t r = kb_rate(st->done, st->bytes, elapsed_us);
	const kb_hist_t *h = &st->all;
	double p50 = (double)kb_hist_quantile(h, 0.50) / 1000.0;
	double p95 = (double)kb_hist_quantile(h, 0.95) / 1000.0;
	double p99 = (double)kb_hist_quantile(h, 0.99) / 1000.0;
	double p999 = (double)kb_hist_quantile(h, 0.999) / 1000.0;
	double max = h->n ? (double)h->max_us / 1000.0 : 0.0;

	printf("%" PRIu64 " records %s in %.3f s, %.1f records/sec (%.2f MB/sec), "
	       "%.2f ms avg latency, %.2f ms max latency\n",
	       st->done, o->produce ? "delivered" : "read", (double)elapsed_us / 1e6, r.msgs_per_s,
	       r.mb_per_s, kb_hist_mean(h) / 1000.0, max);
	printf("latency ms: p50 %.2f, p95 %.2f, p99 %.2f, p99.9 %.2f\n", p50, p95, p99, p999);
	if (st->failed)
		printf("%" PRIu64 " records failed, last error: %s\n", st->failed, st->last_error);
	printf("result mode=%s topic=%s msgs=%" PRIu64 " failed=%" PRIu64 " bytes=%" PRIu64
	       " seconds=%.3f msg_per_s=%.1f mb_per_s=%.3f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f"
	       " p999_ms=%.3f max_ms=%.3f\n",
	       mode, o->topic, st->done, st->failed, st->bytes, (double)elapsed_us / 1e6,
	       r.msgs_per_s, r.mb_per_s, p50, p95, p99, p999, max);
	fflush(stdout);
}

/* ------------------------------------------------------------ produce */

static void kb_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	kb_stats_t *st = opaque;
	uint64_t lat = kb_now_us() - (uint64_t)(uintptr_t)m->_private;

	(void)rk;
	if (m->err) {
		st->failed++;
		snprintf(st->last_error, sizeof(st->last_error), "%s", rd_kafka_err2str(m->err));
		return;
	}
	st->done++;
	st->bytes += m->len;
	st->window_done++;
	st->window_bytes += m->len;
	kb_hist_record(&st->all, lat);
	kb_hist_record(&st->window, lat);
}

static rd_kafka_t *kb_producer_new(const kb_opts_t *o, kb_stats_t *st)
{
	char linger[16], batch[24], inflight[16];
	const char *const kv[][2] = {
	    {"bootstrap.servers", o->brokers},
	    {"acks", o->acks},
	    {"linger.ms", linger},
	    {"compression.codec", o->compression},
	    {"queue.buffering.max.messages", "1000000"},
	    {"queue.buffering.max.kbytes", "1048576"},
	    {"batch.size", o->batch_size ? batch : NULL},
	    {"max.in.flight.requests.per.connection", o->inflight ? inflight : NULL},
	    {"enable.idempotence", o->idempotence ? "true" : NULL},
	    {NULL, NULL}};

	snprintf(linger, sizeof(linger), "%d", o->linger_ms);
	snprintf(batch, sizeof(batch), "%ld", o->batch_size);
	snprintf(inflight, sizeof(inflight), "%d", o->inflight);
	return kb_rdk_producer_new(KB_PROG, kv, kb_dr_cb, st);
}

/* Sends one message stamped NOW_US (its latency runs from there), waiting
 * while librdkafka's queue is full (without --rate, the wait is not counted). */
static int kb_send(rd_kafka_t *rk, const kb_opts_t *o, const char *payload, uint64_t now_us,
                   kb_stats_t *st)
{
	for (;;) {
		rd_kafka_resp_err_t err =
		    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic),
		                      RD_KAFKA_V_VALUE((void *)payload, (size_t)o->size),
		                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		                      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)now_us), RD_KAFKA_V_END);

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			st->sent++;
			return 0;
		}
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "chronik-bench: produce: %s\n", rd_kafka_err2str(err));
			return -EIO;
		}
		rd_kafka_poll(rk, 1);
		if (kb_stop)
			return -EINTR;
		if (!o->rate)
			now_us = kb_now_us(); /* the wait is not the broker's */
	}
}

static char *kb_payload_new(int size)
{
	char *p = malloc((size_t)size + 1);

	/* Varied but compressible, like most real payloads. */
	for (int i = 0; p && i < size; i++)
		p[i] = (char)('A' + (i * 7 + i / 13) % 26);
	return p;
}

/* With --rate: the due time of message I, which is its latency's start. */
static uint64_t kb_due_us(const kb_opts_t *o, uint64_t t0, uint64_t i)
{
	return t0 + (uint64_t)((double)i * 1e6 / (double)o->rate);
}

/* With --rate: serves delivery reports until message SENT is due (the
 * messages due meanwhile go out together, within a millisecond of their
 * time; linger.ms batches them anyway). Returns the clock. */
static uint64_t kb_pace(rd_kafka_t *rk, const kb_opts_t *o, uint64_t t0, uint64_t sent,
                        uint64_t now)
{
	uint64_t due = kb_due_us(o, t0, sent);

	while (now < due && !kb_stop) {
		uint64_t wait_ms = (due - now + 999) / 1000;

		rd_kafka_poll(rk, (int)CK_MIN(wait_ms, 100u));
		now = kb_now_us();
	}
	return now;
}

/* The first message is sent and delivered before the clock starts: the
 * connection, the topic's metadata and its leader are known by then, so the
 * timed messages do not wait for them (a second or more right after
 * --partitions created the topic). It counts as sent and delivered, but
 * not in the latencies. */
static int kb_warm_up(rd_kafka_t *rk, const kb_opts_t *o, const char *payload, kb_stats_t *st)
{
	if (kb_send(rk, o, payload, kb_now_us(), st) < 0)
		return -EIO;
	(void)rd_kafka_flush(rk, 60000);
	if (st->done != 1) {
		fprintf(stderr,
		        "chronik-bench: produce: the warm-up message was not delivered: %s\n",
		        st->failed ? st->last_error : "timed out");
		return -EIO;
	}
	st->window_done = 0;
	st->window_bytes = 0;
	kb_hist_init(&st->all);
	kb_hist_init(&st->window);
	return 0;
}

static int kb_produce(const kb_opts_t *o)
{
	kb_stats_t *st = calloc(1, sizeof(*st));
	char *payload = kb_payload_new(o->size);
	rd_kafka_t *rk = NULL;
	uint64_t t0, last_report, end_us = 0;
	int rc = 1;

	if (!st || !payload)
		goto out;
	kb_hist_init(&st->all);
	kb_hist_init(&st->window);
	rk = kb_producer_new(o, st);
	if (!rk || (o->partitions &&
	            kb_rdk_topic_create(rk, KB_PROG, o->topic, o->partitions, 60000, true) < 0))
		goto out;
	printf("chronik-bench produce: topic=%s size=%d acks=%s linger_ms=%d compression=%s%s%s",
	       o->topic, o->size, o->acks, o->linger_ms, o->compression,
	       o->inflight ? " inflight set" : "", o->idempotence ? " idempotence" : "");
	if (o->rate)
		printf(" rate=%ld", o->rate);
	printf("\n");
	if (kb_warm_up(rk, o, payload, st) < 0)
		goto out;
	t0 = last_report = kb_now_us();
	if (o->duration_s)
		end_us = t0 + (uint64_t)(o->duration_s * 1e6);
	/* One clock read per message: it stamps the message and serves the
	 * duration and report checks (three reads per message were about 12 %
	 * of the client's CPU in a profile, BENCHMARKS.md). */
	for (;;) {
		uint64_t now = kb_now_us();

		if (o->rate)
			now = kb_pace(rk, o, t0, st->sent, now);
		if (kb_stop || (o->count ? st->sent >= (uint64_t)o->count : now >= end_us))
			break;
		if (now - last_report >= (uint64_t)o->report_ms * 1000u) {
			kb_report_window("delivered", st, now - last_report);
			last_report = now;
		}
		if (kb_send(rk, o, payload, o->rate ? kb_due_us(o, t0, st->sent) : now, st) < 0)
			break;
		if ((st->sent & 1023) == 0)
			rd_kafka_poll(rk, 0);
	}
	while (rd_kafka_outq_len(rk) > 0 && !kb_stop) {
		rd_kafka_poll(rk, 100);
		if (kb_now_us() - last_report >= (uint64_t)o->report_ms * 1000u) {
			kb_report_window("delivered", st, kb_now_us() - last_report);
			last_report = kb_now_us();
		}
	}
	kb_summary("produce", o, st, kb_now_us() - t0);
	rc = (st->failed == 0 && st->done == st->sent && st->sent > 0 &&
	      (!o->count || st->sent == (uint64_t)o->count))
	         ? 0
	         : 1;
out:
	if (rk)
		rd_kafka_destroy(rk);
	free(payload);
	free(st);
	return rc;
}

/* ------------------------------------------------------------ consume */

/* The consumer keeps up to a million messages (1 GiB) fetched ahead, as the
 * producer above queues a million: with librdkafka's defaults (100,000 and
 * 64 MiB) its fetcher waits on the application thread, and the run measures
 * that wait instead of the broker. */
static rd_kafka_t *kb_consumer_new(const kb_opts_t *o)
{
	static const char *const extra[][2] = {{"queued.min.messages", "1000000"},
	                                       {"queued.max.messages.kbytes", "1048576"},
	                                       {NULL, NULL}};
	char group[64];

	snprintf(group, sizeof(group), "chronik-bench-%d", (int)getpid());
	return kb_rdk_consumer_new(KB_PROG, o->brokers, group, extra);
}

/* NOW_MS: the wall clock read once for the batch M came in. */
static void kb_consume_one(const rd_kafka_message_t *m, int64_t now_ms, kb_stats_t *st)
{
	int64_t ts = rd_kafka_message_timestamp(m, NULL);
	uint64_t lat = ts > 0 && now_ms >= ts ? (uint64_t)(now_ms - ts) * 1000u : 0;

	st->done++;
	st->bytes += m->len + m->key_len;
	st->window_done++;
	st->window_bytes += m->len + m->key_len;
	kb_hist_record(&st->all, lat);
	kb_hist_record(&st->window, lat);
}

/* Whether the consume loop is done: count reached, duration over, or (with
 * neither) every partition at its end. With a count, also when every
 * partition is at its end and nothing came for KB_IDLE_US (the count will
 * not be reached: exit 1 rather than wait forever). */
#define KB_IDLE_US (30u * 1000000u)

/* Messages taken from the consumer queue per call. */
#define KB_CONSUME_BATCH 1024

static bool kb_consume_done(const kb_opts_t *o, const kb_stats_t *st, uint64_t t0, uint64_t last_us,
                            int at_end, int np)
{
	if (o->duration_s)
		return kb_now_us() - t0 >= (uint64_t)(o->duration_s * 1e6);
	if (o->count)
		return st->done >= (uint64_t)o->count ||
		       (at_end >= np && kb_now_us() - last_us > KB_IDLE_US);
	return at_end >= np;
}

/* Counts partitions at their end: set by an EOF event, cleared by a
 * message (a partition can hit its end many times while producers run). */
static void kb_eof_track(bool *eof, int np, const rd_kafka_message_t *m, int *at_end)
{
	bool is_eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;

	if (m->partition < 0 || m->partition >= np || eof[m->partition] == is_eof)
		return;
	eof[m->partition] = is_eof;
	*at_end += is_eof ? 1 : -1;
}

static int kb_consume(const kb_opts_t *o)
{
	kb_stats_t *st = calloc(1, sizeof(*st));
	rd_kafka_t *rk = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_message_t **msgs = NULL;
	bool *eof = NULL;
	uint64_t t0, first = 0, last = 0, last_report;
	int np, at_end = 0, rc = 1;

	if (!st || !(msgs = calloc(KB_CONSUME_BATCH, sizeof(*msgs))) || !(rk = kb_consumer_new(o)))
		goto out;
	kb_hist_init(&st->all);
	kb_hist_init(&st->window);
	np = kb_rdk_assign_all(rk, KB_PROG, o->topic,
	                       o->from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING);
	if (np < 0 || !(eof = calloc((size_t)np, sizeof(*eof))) ||
	    !(q = rd_kafka_queue_get_consumer(rk)))
		goto out;
	printf("chronik-bench consume: topic=%s partitions=%d from=%s\n", o->topic, np,
	       o->from_end ? "end" : "beginning");
	t0 = last_report = kb_now_us();
	while (!kb_stop && !kb_consume_done(o, st, t0, last ? last : t0, at_end, np)) {
		/* A batch per call: one clock read per batch, not per message. */
		ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, KB_CONSUME_BATCH);
		int64_t now_ms = ck_clock_wall_ms();
		bool got = false;

		for (ssize_t i = 0; i < n; i++) {
			rd_kafka_message_t *m = msgs[i];

			if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "chronik-bench: consume: %s\n",
				        rd_kafka_message_errstr(m));
			if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				kb_eof_track(eof, np, m, &at_end);
			if (!m->err) {
				kb_consume_one(m, now_ms, st);
				got = true;
			}
			rd_kafka_message_destroy(m);
		}
		if (got) {
			last = kb_now_us();
			if (!first)
				first = last;
		}
		if (kb_now_us() - last_report >= (uint64_t)o->report_ms * 1000u) {
			kb_report_window("read", st, kb_now_us() - last_report);
			last_report = kb_now_us();
		}
	}
	/* Throughput from the first to the last message read: connection and
	 * the final wait for the end of the partitions do not count. */
	kb_summary("consume", o, st, first && last > first ? last - first : kb_now_us() - t0);
	rc = st->done > 0 && (!o->count || st->done >= (uint64_t)o->count) ? 0 : 1;
out:
	if (q)
		rd_kafka_queue_destroy(q);
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	free(msgs);
	free(eof);
	free(st);
	return rc;
}

int main(int argc, char **argv)
{
	kb_opts_t o;
	struct sigaction sa = {.sa_handler = kb_on_signal};

	if (kb_opts_parse(argc, argv, &o) < 0) {
		kb_usage();
		return 2;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return o.produce ? kb_produce(&o) : kb_consume(&o);
}
