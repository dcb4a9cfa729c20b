/*
 * rdk_e2e.c: an end-to-end check of a Kafka broker with librdkafka's C API,
 * run by test_rdkafka.py against a chronik node it started.
 *
 * Owned by the Kafka integration tests. It produces COUNT small messages
 * (value = "<id>:<filler>", no key) with the given acks and retries, counts
 * delivery reports, then reads every partition of the topic from the
 * beginning with a manually assigned consumer and checks that every
 * acknowledged id came back: count, a checksum (sum of CRC-32 of values) and
 * a bitmap (missing / duplicated ids). Progress lines on stdout let a driver
 * inject faults mid-stream. Exit 0 when everything matches, 1 otherwise, 2
 * on bad usage.
 * The librdkafka set-up (producer, consumer, topic creation, assignment) is
 * bench/kbench_rdk.c, shared with chronik-bench.
 * Not for: node management or fault injection (the Python driver does it).
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
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "kbench_rdk.h"

#define E2E_PROG "rdk_e2e"

typedef struct {
	const char *brokers;
	const char *topic;
	const char *acks;
	int partitions; /* > 0: create the topic with that many */
	long count;
	int size_min;
	int size_max;
	int timeout_s;
	bool allow_dups;
	long progress_every;
} e2e_opts_t;

typedef struct {
	long produced; /* handed to librdkafka */
	long delivered;
	long failed;
	uint64_t checksum;
	uint8_t *acked; /* 1 bit per id */
	char last_error[256];
} e2e_produced_t;

static double e2e_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CRC-32 (IEEE), bitwise: fast enough for short values, no table needed. */
static uint32_t e2e_crc32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* The id at the start of a value ("<id>:..."), or -1. */
static long e2e_value_id(const char *v, size_t len)
{
	long id = 0;
	size_t i = 0;

	for (; i < len && v[i] >= '0' && v[i] <= '9' && i < 18; i++)
		id = id * 10 + (v[i] - '0');
	return (i > 0 && i < len && v[i] == ':') ? id : -1;
}

static void e2e_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	e2e_produced_t *st = opaque;
	long id = e2e_value_id(m->payload, m->len);

	(void)rk;
	if (m->err) {
		st->failed++;
		snprintf(st->last_error, sizeof(st->last_error), "%s", rd_kafka_err2str(m->err));
		return;
	}
	st->delivered++;
	st->checksum += e2e_crc32(m->payload, m->len);
	if (id >= 0)
		st->acked[id / 8] |= (uint8_t)(1u << (id % 8));
}

static rd_kafka_t *e2e_producer_new(const e2e_opts_t *o, e2e_produced_t *st)
{
	const char *const kv[][2] = {{"bootstrap.servers", o->brokers},
	                             {"acks", o->acks},
	                             {"linger.ms", "5"},
	                             {"queue.buffering.max.messages", "1000000"},
	                             {"message.timeout.ms", "300000"},
	                             {"retry.backoff.ms", "200"},
	                             {NULL, NULL}};

	return kb_rdk_producer_new(E2E_PROG, kv, e2e_dr_cb, st);
}

/* Produces every message; returns 0 when the flush completed. */
static int e2e_produce(rd_kafka_t *rk, const e2e_opts_t *o, e2e_produced_t *st)
{
	char buf[4096];
	long next_progress = o->progress_every;
	double t0 = e2e_now();
	unsigned seed = 12345;

	for (long id = 0; id < o->count; id++) {
		int size =
		    o->size_min + (int)(rand_r(&seed) % (unsigned)(o->size_max - o->size_min + 1));
		int n = snprintf(buf, sizeof(buf), "%ld:", id);

		for (; n < size; n++)
			buf[n] = (char)('a' + (id + n) % 26);
		for (;;) {
			rd_kafka_resp_err_t err = rd_kafka_producev(
			    rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_VALUE(buf, (size_t)n),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);

			if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
				break;
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				fprintf(stderr, "rdk_e2e: produce: %s\n", rd_kafka_err2str(err));
				return -EIO;
			}
			rd_kafka_poll(rk, 10);
		}
		st->produced++;
		rd_kafka_poll(rk, 0);
		while (o->progress_every && st->delivered >= next_progress) {
			printf("progress delivered=%ld\n", st->delivered);
			fflush(stdout);
			next_progress += o->progress_every;
		}
		if (e2e_now() - t0 > o->timeout_s)
			break;
	}
	while (rd_kafka_outq_len(rk) > 0 && e2e_now() - t0 < o->timeout_s) {
		rd_kafka_poll(rk, 100);
		while (o->progress_every && st->delivered >= next_progress) {
			printf("progress delivered=%ld\n", st->delivered);
			fflush(stdout);
			next_progress += o->progress_every;
		}
	}
	printf("produced count=%ld delivered=%ld failed=%ld seconds=%.1f%s%s\n", st->produced,
	       st->delivered, st->failed, e2e_now() - t0, st->failed ? " last_error=" : "",
	       st->failed ? st->last_error : "");
	fflush(stdout);
	return rd_kafka_outq_len(rk) == 0 && st->produced == o->count ? 0 : -ETIMEDOUT;
}

typedef struct {
	long consumed;
	long duplicates;
	long foreign; /* values that are not ours */
	uint64_t checksum;
	uint8_t *seen;
} e2e_consumed_t;

static void e2e_consume_one(const rd_kafka_message_t *m, long count, e2e_consumed_t *c)
{
	long id = e2e_value_id(m->payload, m->len);

	if (id < 0 || id >= count) {
		c->foreign++;
		return;
	}
	if (c->seen[id / 8] & (1u << (id % 8))) {
		c->duplicates++;
		return;
	}
	c->seen[id / 8] |= (uint8_t)(1u << (id % 8));
	c->consumed++;
	c->checksum += e2e_crc32(m->payload, m->len);
}

/* Reads every partition from the beginning until WANT distinct ids came
 * back, or nothing new arrived for idle_s after every partition hit EOF. */
static int e2e_consume(const e2e_opts_t *o, long want, e2e_consumed_t *c)
{
	rd_kafka_t *rk = kb_rdk_consumer_new(E2E_PROG, o->brokers, "chronik-rdk-e2e", NULL);
	double t0 = e2e_now(), last_new;
	int np, eofs = 0, r = -EIO;
	bool *eof = NULL;

	if (!rk)
		return -EINVAL;
	np = kb_rdk_assign_all(rk, E2E_PROG, o->topic, RD_KAFKA_OFFSET_BEGINNING);
	if (np < 0 || !(eof = calloc((size_t)np, sizeof(*eof))))
		goto out;
	last_new = e2e_now();
	while (e2e_now() - t0 < o->timeout_s) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (!m) {
			if (c->consumed >= want && eofs == np)
				break;
			if (eofs == np && e2e_now() - last_new > 30)
				break;
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (m->partition >= 0 && m->partition < np && !eof[m->partition]) {
				eof[m->partition] = true;
				eofs++;
			}
		} else if (m->err) {
			fprintf(stderr, "rdk_e2e: consume: %s\n", rd_kafka_message_errstr(m));
		} else {
			e2e_consume_one(m, o->count, c);
			last_new = e2e_now();
		}
		rd_kafka_message_destroy(m);
	}
	printf("consumed partitions=%d distinct=%ld duplicates=%ld foreign=%ld seconds=%.1f\n", np,
	       c->consumed, c->duplicates, c->foreign, e2e_now() - t0);
	r = 0;
out:
	free(eof);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return r;
}

static void e2e_usage(void)
{
	fprintf(stderr,
	        "usage: rdk_e2e --brokers H:P --topic T [--create PARTITIONS] [--count N]\n"
	        "               [--size MIN:MAX] [--acks 0|1|all] [--timeout S] [--allow-dups]\n"
	        "               [--progress N]\n");
}

static int e2e_opts_parse(int argc, char **argv, e2e_opts_t *o)
{
	static const struct option longopts[] = {
	    {"brokers", required_argument, NULL, 'b'},  {"topic", required_argument, NULL, 't'},
	    {"create", required_argument, NULL, 'c'},   {"count", required_argument, NULL, 'n'},
	    {"size", required_argument, NULL, 's'},     {"acks", required_argument, NULL, 'a'},
	    {"timeout", required_argument, NULL, 'T'},  {"allow-dups", no_argument, NULL, 'd'},
	    {"progress", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
	int ch;

	*o = (e2e_opts_t){
	    .acks = "all", .count = 1000000, .size_min = 16, .size_max = 100, .timeout_s = 600};
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o->brokers = optarg;
			break;
		case 't':
			o->topic = optarg;
			break;
		case 'c':
			o->partitions = atoi(optarg);
			break;
		case 'n':
			o->count = atol(optarg);
			break;
		case 'a':
			o->acks = optarg;
			break;
		case 'T':
			o->timeout_s = atoi(optarg);
			break;
		case 'd':
			o->allow_dups = true;
			break;
		case 'p':
			o->progress_every = atol(optarg);
			break;
		case 's':
			if (sscanf(optarg, "%d:%d", &o->size_min, &o->size_max) != 2)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!o->brokers || !o->topic || o->count <= 0 || o->size_min < 1 ||
	    o->size_max < o->size_min || o->size_max > 4000 || o->timeout_s <= 0)
		return -EINVAL;
	return 0;
}

/* Compares what was acknowledged with what came back; 0 when they match. */
static int e2e_verify(const e2e_opts_t *o, const e2e_produced_t *p, const e2e_consumed_t *c)
{
	long missing = 0, first_missing = -1;

	for (long id = 0; id < o->count; id++) {
		bool acked = p->acked[id / 8] & (1u << (id % 8));
		bool seen = c->seen[id / 8] & (1u << (id % 8));

		if (acked && !seen && missing++ == 0)
			first_missing = id;
	}
	printf("result acked=%ld consumed=%ld missing=%ld first_missing=%ld duplicates=%ld "
	       "checksum_acked=%" PRIu64 " checksum_consumed=%" PRIu64 "\n",
	       p->delivered, c->consumed, missing, first_missing, c->duplicates, p->checksum,
	       c->checksum);
	if (missing || p->failed || c->foreign || (!o->allow_dups && c->duplicates))
		return -1;
	/* Unacknowledged messages may have been written (a retry after a lost
	 * reply): the consumed set may be larger, but never smaller. */
	if (!o->allow_dups && (c->consumed != p->delivered || c->checksum != p->checksum))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	e2e_opts_t o;
	e2e_produced_t p = {0};
	e2e_consumed_t c = {0};
	rd_kafka_t *rk = NULL;
	int r, rc = 1;

	if (e2e_opts_parse(argc, argv, &o) < 0) {
		e2e_usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	p.acked = calloc((size_t)o.count / 8 + 1, 1);
	c.seen = calloc((size_t)o.count / 8 + 1, 1);
	if (!p.acked || !c.seen)
		goto out;
	rk = e2e_producer_new(&o, &p);
	if (!rk)
		goto out;
	if (o.partitions > 0 &&
	    kb_rdk_topic_create(rk, E2E_PROG, o.topic, o.partitions, o.timeout_s * 1000, false) < 0)
		goto out;
	r = e2e_produce(rk, &o, &p);
	rd_kafka_destroy(rk);
	rk = NULL;
	if (r < 0) {
		fprintf(stderr, "rdk_e2e: producer did not finish: %ld messages still queued\n",
		        o.count - p.delivered - p.failed);
		printf("result produced=%ld of %ld delivered=%ld failed=%ld\n", p.produced, o.count,
		       p.delivered, p.failed);
		goto out;
	}
	if (e2e_consume(&o, p.delivered, &c) < 0)
		goto out;
	rc = e2e_verify(&o, &p, &c) == 0 ? 0 : 1;
out:
	if (rk)
		rd_kafka_destroy(rk);
	free(p.acked);
	free(c.seen);
	printf("%s\n", rc == 0 ? "OK" : "FAILED");
	return rc;
}
