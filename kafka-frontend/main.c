/*
 * main.c: chronik-kafka-frontend, the Kafka protocol process of a node.
 *
 *   chronik-kafka-frontend [--config FILE] [--data-dir DIR] [--node-id N]
 *
 * Started by chronik-server with its sockets passed as LISTEN_FDS, or alone
 * (a systemd unit, a debugging session), when it binds them itself. Flags
 * override the configuration file and CHRONIK_* environment values.
 * Exit codes (ck_err.h): 0 stopped, 1 transient failure, 2 bad arguments or
 * configuration (the reason also goes out as STATUS= so the supervisor can
 * print it).
 * Not for: anything but start-up and dispatching (kfk_loop.c).
 */
#include "ck_config.h"
#include "ck_proc.h"
#include "kfk_loop.h"

int main(int argc, char **argv)
{
	static ck_config_t cfg;
	int code;

	if (!ck_proc_init(argc, argv, "kafka-frontend", &cfg, &code))
		return code;
	return kfk_loop_run(&cfg);
}
