/*
 * ck_proc.h: the start-up every chronik child process shares.
 *
 *   chronik-<name> [--config FILE] [--data-dir DIR] [--node-id N]
 *
 * ck_proc_init() parses those flags, loads the configuration (flags override
 * the file and CHRONIK_* variables, applied before validation so a shared
 * cluster.toml with [peer.N] tables works for every --node-id), applies the
 * [log] settings and takes the sockets passed with LISTEN_FDS. A fatal
 * problem is printed to stderr, logged, and sent as STATUS= over
 * NOTIFY_SOCKET so the supervisor can show the reason.
 * Not for: the supervisor's own command line (supervisor/main.c).
 */
#ifndef CK_PROC_H
#define CK_PROC_H

#include <stdbool.h>

#include "ck_config.h"

/* Returns true when the process should run with *CFG filled; false when it
 * should exit with *RET_EXIT_CODE (0 after --help/--version, CK_EXIT_FATAL
 * after an error). NAME is the subsystem ("raftd"), used in messages. */
bool ck_proc_init(int argc, char **argv, const char *name, ck_config_t *cfg, int *ret_exit_code);

/* Reports a fatal start-up error the same way ck_proc_init() does and
 * returns CK_EXIT_FATAL. */
int ck_proc_fatal(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* On the way out, around freeing the libevent signal events (which put the
 * default dispositions back): ck_signals_quiet_exit() blocks SIGTERM,
 * SIGINT and SIGHUP, ck_signals_quiet_exit_done() then ignores them (one
 * pending is discarded). A second SIGTERM during shutdown must not turn a
 * clean exit into death by signal. Used by the supervisor too. */
void ck_signals_quiet_exit(void);
void ck_signals_quiet_exit_done(void);

#endif
