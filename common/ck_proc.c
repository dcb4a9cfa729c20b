/*
 * ck_proc.c: shared start-up of child processes (ck_proc.h): flags, config,
 * logging, passed sockets. Runs before any event loop exists.
 */
#include "ck_proc.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_listen.h"
#include "ck_log.h"
#include "ck_notify.h"

int ck_proc_fatal(const char *name, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "chronik-%s: %s\n", name, msg);
	ck_log(CK_LOG_ERROR, "cannot start: %s", msg);
	(void)ck_notifyf("STATUS=%s: %s", name, msg);
	return CK_EXIT_FATAL;
}

static void ck_proc_usage(FILE *f, const char *name)
{
	fprintf(f, "usage: chronik-%s [--config FILE] [--data-dir DIR] [--node-id N]\n", name);
}

bool ck_proc_init(int argc, char **argv, const char *name, ck_config_t *cfg, int *ret_exit_code)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},  {"data-dir", required_argument, NULL, 'd'},
	    {"node-id", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	static char data_override[CK_CONFIG_PATH_MAX + 32], id_override[64];
	const char *overrides[3] = {NULL, NULL, NULL};
	const char *config = NULL;
	char err[1024];
	int opt, n = 0, r;

	ck_log_init(name);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:d:n:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			(void)snprintf(data_override, sizeof(data_override), "node.data_dir=%s",
			               optarg);
			overrides[n++] = data_override;
			break;
		case 'n':
			(void)snprintf(id_override, sizeof(id_override), "node.id=%s", optarg);
			overrides[n++] = id_override;
			break;
		case 'h':
			ck_proc_usage(stdout, name);
			*ret_exit_code = CK_EXIT_STOPPED;
			return false;
		case 'V':
			printf("chronik-%s %s\n", name, CHRONIK_VERSION);
			*ret_exit_code = CK_EXIT_STOPPED;
			return false;
		default:
			ck_proc_usage(stderr, name);
			*ret_exit_code = CK_EXIT_FATAL;
			return false;
		}
	}
	if (optind < argc) {
		*ret_exit_code = ck_proc_fatal(name, "unexpected argument %s", argv[optind]);
		return false;
	}
	r = ck_config_load_with(cfg, config, overrides, err, sizeof(err));
	if (r < 0) {
		*ret_exit_code =
		    ck_proc_fatal(name, "config error: %s", err[0] ? err : ck_strerror(r));
		return false;
	}
	ck_log_set_level((ck_log_level_t)cfg->log_level);
	if (cfg->log_file[0] && (r = ck_log_set_file(cfg->log_file)) < 0) {
		*ret_exit_code =
		    ck_proc_fatal(name, "[log] file %s: %s", cfg->log_file, ck_strerror(r));
		return false;
	}
	r = ck_listen_fds_take();
	if (r < 0) {
		*ret_exit_code =
		    ck_proc_fatal(name, "malformed LISTEN_FDS environment: %s", ck_strerror(r));
		return false;
	}
	return true;
}

static const int ck_quiet_sigs[] = {SIGTERM, SIGINT, SIGHUP};

void ck_signals_quiet_exit(void)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(ck_quiet_sigs) / sizeof(ck_quiet_sigs[0]); i++)
		sigaddset(&set, ck_quiet_sigs[i]);
	(void)pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void ck_signals_quiet_exit_done(void)
{
	for (size_t i = 0; i < sizeof(ck_quiet_sigs) / sizeof(ck_quiet_sigs[0]); i++)
		(void)signal(ck_quiet_sigs[i], SIG_IGN);
}
