/*
 * main.c: chronik-server's command line (the supervisor binary).
 *
 *   chronik-server start  [--config FILE] [--data-dir DIR] [--node-id N]
 *   chronik-server status [--config FILE] [--data-dir DIR] [--json]
 *   chronik-server version
 *   chronik-server config-default
 *
 * Flags override the configuration file and CHRONIK_* environment values.
 * Exit codes: start returns what sup_node_run() returns (0 stopped by
 * SIGTERM/SIGINT, 1 restart burst exceeded, 2 fatal: bad configuration,
 * data dir locked by another supervisor, child binary missing, or a child
 * that exited with status 2); status returns 0 when the node answered and 1
 * otherwise; a usage error returns 2.
 * Not for: anything but parsing arguments and dispatching.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_log.h"
#include "sup_loop.h"
#include "ck_config.h"
#include "sup_status.h"

static void sup_usage(FILE *f)
{
	fprintf(f, "usage: chronik-server start  [--config FILE] [--data-dir DIR] [--node-id N]\n"
	           "       chronik-server status [--config FILE] [--data-dir DIR] [--json]\n"
	           "       chronik-server version\n"
	           "       chronik-server config-default\n"
	           "\n"
	           "start   run a node: the supervisor and its four subsystem processes\n"
	           "status  print the children of the node running on the data dir\n"
	           "version print the version\n"
	           "config-default  print the embedded single-node configuration\n");
}

typedef struct {
	const char *config_path;
	const char *data_dir;
	int32_t node_id;
	bool json;
} sup_args_t;

/* Parses the options after the command. Returns 0, or 2 after printing a
 * usage error. */
static int sup_args_parse(int argc, char **argv, bool is_start, sup_args_t *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"data-dir", required_argument, NULL, 'd'},
	    {"node-id", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	int opt;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:d:n:h", opts, NULL)) != -1) {
		char *end;
		long v;

		switch (opt) {
		case 'c':
			a->config_path = optarg;
			break;
		case 'd':
			a->data_dir = optarg;
			break;
		case 'n':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (!is_start || errno || *end || v < 1 || v > INT32_MAX) {
				fprintf(stderr, "chronik-server: %s\n",
				        is_start ? "--node-id wants a number >= 1"
				                 : "--node-id is for start");
				return 2;
			}
			a->node_id = (int32_t)v;
			break;
		case 'j':
			if (is_start) {
				fprintf(stderr, "chronik-server: --json is for status\n");
				return 2;
			}
			a->json = true;
			break;
		case 'h':
			sup_usage(stdout);
			exit(0);
		default:
			sup_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "chronik-server: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	sup_args_t a;
	int r;

	ck_log_init("supervisor");
	if (!cmd) {
		sup_usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("chronik-server %s\n", CHRONIK_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "config-default")) {
		fputs(ck_config_default_toml, stdout);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		sup_usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "start") && strcmp(cmd, "status")) {
		fprintf(stderr, "chronik-server: unknown command %s\n", cmd);
		sup_usage(stderr);
		return 2;
	}
	r = sup_args_parse(argc - 1, argv + 1, !strcmp(cmd, "start"), &a);
	if (r)
		return r;
	if (!strcmp(cmd, "status"))
		return sup_status_main(a.config_path, a.data_dir, a.json);
	return sup_node_run(&(sup_start_opts_t){
	    .config_path = a.config_path, .data_dir = a.data_dir, .node_id = a.node_id});
}
