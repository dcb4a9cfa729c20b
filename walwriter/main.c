/*
 * main.c: chronik-walwriter, the write-ahead log of a chronik node.
 *
 *   chronik-walwriter [--config FILE] [--data-dir DIR] [--node-id N]
 *
 * Arguments, configuration, logging and signal dispositions only; the work
 * is in wal_loop.c (event loop), wal_sync.c (sync thread), wal_store.c and
 * wal_recover.c (files) and the pure core (wal_core.h). Exit codes: 0 after
 * a clean stop, 1 for transient failures (restart me), 2 for fatal ones
 * (bad configuration, unrecoverable data).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_config.h"
#include "ck_err.h"
#include "ck_listen.h"
#include "ck_log.h"
#include "wal_loop.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: chronik-walwriter [--config FILE] [--data-dir DIR] [--node-id N]\n");
}

static int parse_int(const char *s, int32_t *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT32_MAX)
		return -EINVAL;
	*ret = (int32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"data-dir", required_argument, NULL, 'd'},
	    {"node-id", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *data_dir = NULL;
	static ck_config_t cfg;
	int32_t node_id = -1;
	char err[512];
	int c, r;

	ck_log_init("walwriter");
	/* Sockets the supervisor (or systemd) passed: taken before anything
	 * could start a child that would inherit the variables. */
	r = ck_listen_fds_take();
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "bad LISTEN_FDS environment err=\"%s\"", ck_strerror(r));
		return CK_EXIT_FATAL;
	}
	while ((c = getopt_long(argc, argv, "c:d:n:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'n':
			if (parse_int(optarg, &node_id) < 0) {
				ck_log(CK_LOG_ERROR, "bad --node-id value=%s", optarg);
				return CK_EXIT_FATAL;
			}
			break;
		case 'h':
			usage(stdout);
			return CK_EXIT_STOPPED;
		case 'V':
			printf("chronik-walwriter %s\n", CHRONIK_VERSION);
			return CK_EXIT_STOPPED;
		default:
			usage(stderr);
			return CK_EXIT_FATAL;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return CK_EXIT_FATAL;
	}
	r = ck_config_load(&cfg, config, err, sizeof(err));
	if (r < 0) {
		ck_log(CK_LOG_ERROR, "bad configuration: %s", err);
		return CK_EXIT_FATAL;
	}
	if (data_dir && snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir) >=
	                    (int)sizeof(cfg.data_dir)) {
		ck_log(CK_LOG_ERROR, "bad configuration: --data-dir too long");
		return CK_EXIT_FATAL;
	}
	if (node_id >= 0)
		cfg.node_id = node_id;
	ck_log_set_level((ck_log_level_t)cfg.log_level);
	if (cfg.log_file[0] && (r = ck_log_set_file(cfg.log_file)) < 0)
		ck_log(CK_LOG_WARN, "cannot open log file path=%s err=\"%s\"", cfg.log_file,
		       ck_strerror(r));
	(void)signal(SIGPIPE, SIG_IGN);
	return wal_server_run(&cfg);
}
