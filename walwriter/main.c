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
#include <signal.h>

#include "ck_config.h"
#include "ck_proc.h"
#include "wal_loop.h"

int main(int argc, char **argv)
{
	static ck_config_t cfg;
	int code;

	if (!ck_proc_init(argc, argv, "walwriter", &cfg, &code))
		return code;
	(void)signal(SIGPIPE, SIG_IGN);
	return wal_server_run(&cfg);
}
