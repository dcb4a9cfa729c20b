/*
 * main.c: chronik-replicator, the partition replication process of a node.
 *
 *   chronik-replicator [--config FILE] [--data-dir DIR] [--node-id N]
 *
 * Started by chronik-server with its sockets passed as LISTEN_FDS, or alone
 * (a systemd unit, a debugging session), when it binds them itself. Flags
 * override the configuration file and CHRONIK_* environment values.
 * Exit codes (ck_err.h): 0 stopped, 1 transient failure, 2 bad arguments or
 * configuration (the reason also goes out as STATUS= so the supervisor can
 * print it).
 * Not for: anything but parsing arguments and dispatching (repl_loop.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_config.h"
#include "ck_err.h"
#include "ck_listen.h"
#include "ck_log.h"
#include "ck_notify.h"
#include "repl_loop.h"

#define REPL_PROG "chronik-replicator"

static int __attribute__((format(printf, 1, 2))) repl_fatal(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", REPL_PROG, msg);
	(void)ck_notifyf("STATUS=replicator: %s", msg);
	return CK_EXIT_FATAL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"data-dir", required_argument, NULL, 'd'},
	    {"node-id", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *data_dir = NULL;
	static ck_config_t cfg;
	char err[1024], *end;
	long node_id = 0;
	int opt, r;

	ck_log_init("replicator");
	while ((opt = getopt_long(argc, argv, "c:d:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'n':
			errno = 0;
			node_id = strtol(optarg, &end, 10);
			if (errno || *end || node_id < 1 || node_id > INT32_MAX)
				return repl_fatal("--node-id wants a number >= 1, got %s", optarg);
			break;
		case 'h':
			printf("usage: %s [--config FILE] [--data-dir DIR] [--node-id N]\n",
			       REPL_PROG);
			return 0;
		case 'V':
			printf("%s %s\n", REPL_PROG, CHRONIK_VERSION);
			return 0;
		default:
			return repl_fatal("bad arguments (try --help)");
		}
	}
	if (optind < argc)
		return repl_fatal("unexpected argument %s", argv[optind]);
	r = ck_config_load(&cfg, config_path, err, sizeof(err));
	if (r < 0)
		return repl_fatal("config error: %s", err[0] ? err : ck_strerror(r));
	if (data_dir)
		snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
	if (node_id > 0)
		cfg.node_id = (int32_t)node_id;
	ck_log_set_level((ck_log_level_t)cfg.log_level);
	if (cfg.log_file[0] && (r = ck_log_set_file(cfg.log_file)) < 0)
		return repl_fatal("[log] file %s: %s", cfg.log_file, ck_strerror(r));
	r = ck_listen_fds_take();
	if (r < 0)
		return repl_fatal("malformed LISTEN_FDS environment: %s", ck_strerror(r));
	return repl_loop_run(&cfg);
}
