/*
 * mock_cluster.c: runs librdkafka's built-in mock Kafka cluster on 127.0.0.1
 * for capture.py (golden frames of tests/unit/protocol). Capture tool only:
 * not built by meson, not part of chronik.
 *
 *   mock_cluster BROKERS TOPIC:PARTITIONS...
 *
 * Prints the bootstrap list ("127.0.0.1:port,...") on one line of stdout, then
 * serves until stdin reaches EOF or SIGTERM/SIGINT arrives.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	char err[256];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	int i, brokers;
	char buf[64];

	if (argc < 2) {
		fprintf(stderr, "usage: mock_cluster BROKERS [TOPIC:PARTITIONS...]\n");
		return 2;
	}
	brokers = atoi(argv[1]);
	conf = rd_kafka_conf_new();
	(void)rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "rd_kafka_new: %s\n", err);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "mock cluster failed\n");
		return 1;
	}
	for (i = 2; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		int parts = colon ? atoi(colon + 1) : 1;
		if (colon)
			*colon = '\0';
		rd_kafka_mock_topic_create(mc, argv[i], parts, 1);
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop && read(0, buf, sizeof(buf)) > 0)
		;
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
