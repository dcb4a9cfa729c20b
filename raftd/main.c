/*
 * main.c: chronik-raftd, the metadata (Raft) process of a chronik node.
 *
 *   chronik-raftd [--config FILE] [--data-dir DIR] [--node-id N]
 *
 * Started by chronik-server with its sockets passed as LISTEN_FDS, or alone
 * (a systemd unit, a debugging session), when it binds them itself. Flags
 * override the configuration file and CHRONIK_* environment values.
 * Exit codes (ck_err.h): 0 stopped, 1 transient failure, 2 bad arguments or
 * configuration (the reason also goes out as STATUS= so the supervisor can
 * print it).
 * Not for: anything but start-up and dispatching (raftd_loop.c).
 */
#include "ck_config.h"
#include "ck_proc.h"
#include "raftd_loop.h"

int main(int argc, char **argv)
{
	static ck_config_t cfg;
	int code;

	if (!ck_proc_init(argc, argv, "raftd", &cfg, &code))
		return code;
	return raftd_loop_run(&cfg);
}
