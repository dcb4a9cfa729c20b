/*
 * repl_loop.h: the libevent shell of chronik-replicator.
 *
 * Today the replicator holds its place in the node: it takes its sockets
 * (TCP "replication" for follower fetches from other nodes, Unix
 * "replicator" for local clients), keeps a connection to walwriter, accepts
 * connections and reports READY=1 with a STATUS= saying that partition
 * replication is not implemented yet. The leader/follower state machines
 * (pure) and their I/O arrive with the replication issue; they plug in here.
 * Not for: argument parsing (main.c).
 */
#ifndef REPL_LOOP_H
#define REPL_LOOP_H

#include "ck_config.h"

/* Runs until SIGTERM/SIGINT or the supervisor goes away. Returns the exit
 * code: 0 stopped, 1 cannot set up (restart), 2 fatal. */
int repl_loop_run(const ck_config_t *cfg);

#endif
