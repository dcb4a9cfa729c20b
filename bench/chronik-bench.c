/*
 * chronik-bench.c: a Kafka producer/consumer benchmark on librdkafka, the
 * project's kafka-producer-perf-test / kafka-consumer-perf-test.
 *
 *   chronik-bench produce --brokers H:P --topic T [--size 100]
 *       [--count N | --duration S] [--acks 0|1|all] [--linger-ms 5]
 *       [--batch-size B] [--compression none|gzip|snappy|lz4|zstd]
 *       [--inflight N] [--partitions P] [--report-ms 1000]
 *   chronik-bench consume --brokers H:P --topic T [--count N | --duration S]
 *       [--from beginning|end] [--report-ms 1000]
 *
 * Owned by bench/. It works against any Kafka broker. Produce latency is
 * the time from rd_kafka_producev() to the delivery report (so it includes
 * librdkafka's linger and the broker's acknowledgement); consume latency is
 * now minus the message's CreateTime (meaningful while a producer runs at
 * the same time on this host). Progress goes to stderr once per report
 * interval; the summary and one machine-readable `result ...` line go to
 * stdout. Exit 0 when every message was delivered (produce) or the wanted
 * count was read (consume), 1 otherwise, 2 on bad usage.
 * Not for: percentile arithmetic (kbench_hist.c) or the storage benchmark
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
#include "kbench_hist.h"

#define KB_SIZE_MAX (64 << 20)

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
	        "           [--inflight N] [--partitions P] [--report-ms 1000]\n"
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
	if (o->produce && !o->count && !o->duration_s)
		o->count = 1000000;
	return 0;
}

static int kb_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[512];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "chronik-bench: %s=%s: %s\n", k, v, err);
		return -EINVAL;
	}
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
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char v[32], err[512];
	int r = 0;
	rd_kafka_t *rk;

	r |= kb_conf_set(conf, "bootstrap.servers", o->brokers);
	r |= kb_conf_set(conf, "acks", o->acks);
	snprintf(v, sizeof(v), "%d", o->linger_ms);
	r |= kb_conf_set(conf, "linger.ms", v);
	r |= kb_conf_set(conf, "compression.codec", o->compression);
	r |= kb_conf_set(conf, "queue.buffering.max.messages", "1000000");
	r |= kb_conf_set(conf, "queue.buffering.max.kbytes", "1048576");
	if (o->batch_size) {
		snprintf(v, sizeof(v), "%ld", o->batch_size);
		r |= kb_conf_set(conf, "batch.size", v);
	}
	if (o->inflight) {
		snprintf(v, sizeof(v), "%d", o->inflight);
		r |= kb_conf_set(conf, "max.in.flight.requests.per.connection", v);
	}
	if (r) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, kb_dr_cb);
	rd_kafka_conf_set_opaque(conf, st);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "chronik-bench: producer: %s\n", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* Creates the topic; one that exists already is fine. */
static int kb_topic_create(rd_kafka_t *rk, const kb_opts_t *o)
{
	char err[512];
	rd_kafka_NewTopic_t *nt =
	    rd_kafka_NewTopic_new(o->topic, o->partitions, 1, err, sizeof(err));
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_topic_result_t **res;
	size_t n = 0;
	int r = -EIO;

	if (!nt) {
		fprintf(stderr, "chronik-bench: %s\n", err);
		goto out;
	}
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = rd_kafka_queue_poll(q, 60000);
	if (!ev || rd_kafka_event_error(ev)) {
		fprintf(stderr, "chronik-bench: CreateTopics: %s\n",
		        ev ? rd_kafka_event_error_string(ev) : "timed out");
		goto out;
	}
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	if (n == 1 && rd_kafka_topic_result_error(res[0]) &&
	    rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		fprintf(stderr, "chronik-bench: CreateTopics %s: %s\n", o->topic,
		        rd_kafka_topic_result_error_string(res[0]));
		goto out;
	}
	r = 0;
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
	rd_kafka_queue_destroy(q);
	return r;
}

/* Sends one message, waiting while librdkafka's queue is full. */
static int kb_send(rd_kafka_t *rk, const kb_opts_t *o, const char *payload, kb_stats_t *st)
{
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(o->topic),
		    RD_KAFKA_V_VALUE((void *)payload, (size_t)o->size),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_OPAQUE((void *)(uintptr_t)kb_now_us()), RD_KAFKA_V_END);

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
	if (!rk || (o->partitions && kb_topic_create(rk, o) < 0))
		goto out;
	printf("chronik-bench produce: topic=%s size=%d acks=%s linger_ms=%d compression=%s%s\n",
	       o->topic, o->size, o->acks, o->linger_ms, o->compression,
	       o->inflight ? " inflight set" : "");
	t0 = last_report = kb_now_us();
	if (o->duration_s)
		end_us = t0 + (uint64_t)(o->duration_s * 1e6);
	while (!kb_stop && (o->count ? st->sent < (uint64_t)o->count : kb_now_us() < end_us)) {
		if (kb_send(rk, o, payload, st) < 0)
			break;
		if ((st->sent & 1023) == 0)
			rd_kafka_poll(rk, 0);
		if (kb_now_us() - last_report >= (uint64_t)o->report_ms * 1000u) {
			kb_report_window("delivered", st, kb_now_us() - last_report);
			last_report = kb_now_us();
		}
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

static rd_kafka_t *kb_consumer_new(const kb_opts_t *o)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char group[64], err[512];
	rd_kafka_t *rk;

	snprintf(group, sizeof(group), "chronik-bench-%d", (int)getpid());
	if (kb_conf_set(conf, "bootstrap.servers", o->brokers) ||
	    kb_conf_set(conf, "group.id", group) ||
	    kb_conf_set(conf, "enable.auto.commit", "false") ||
	    kb_conf_set(conf, "enable.partition.eof", "true")) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "chronik-bench: consumer: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* Assigns every partition of the topic; returns their count or < 0. */
static int kb_assign_all(rd_kafka_t *rk, const kb_opts_t *o)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
	rd_kafka_topic_partition_list_t *tps = NULL;
	int n = -1;

	if (rd_kafka_metadata(rk, 0, rkt, &md, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
		fprintf(stderr, "chronik-bench: no metadata for topic %s\n", o->topic);
		goto out;
	}
	n = md->topics[0].partition_cnt;
	tps = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(tps, o->topic, p)->offset =
		    o->from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
	if (rd_kafka_assign(rk, tps)) {
		fprintf(stderr, "chronik-bench: assign failed\n");
		n = -1;
	}
out:
	if (tps)
		rd_kafka_topic_partition_list_destroy(tps);
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

static void kb_consume_one(const rd_kafka_message_t *m, kb_stats_t *st)
{
	int64_t ts = rd_kafka_message_timestamp(m, NULL);
	int64_t now_ms = ck_clock_wall_ms();
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
	bool *eof = NULL;
	uint64_t t0, first = 0, last = 0, last_report;
	int np, at_end = 0, rc = 1;

	if (!st || !(rk = kb_consumer_new(o)))
		goto out;
	kb_hist_init(&st->all);
	kb_hist_init(&st->window);
	np = kb_assign_all(rk, o);
	if (np < 0 || !(eof = calloc((size_t)np, sizeof(*eof))))
		goto out;
	printf("chronik-bench consume: topic=%s partitions=%d from=%s\n", o->topic, np,
	       o->from_end ? "end" : "beginning");
	t0 = last_report = kb_now_us();
	while (!kb_stop && !kb_consume_done(o, st, t0, last ? last : t0, at_end, np)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m && m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			fprintf(stderr, "chronik-bench: consume: %s\n", rd_kafka_message_errstr(m));
		if (m && (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF))
			kb_eof_track(eof, np, m, &at_end);
		if (m && !m->err) {
			kb_consume_one(m, st);
			last = kb_now_us();
			if (!first)
				first = last;
		}
		if (m)
			rd_kafka_message_destroy(m);
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
	if (rk) {
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
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
