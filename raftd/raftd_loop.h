/*
 * raftd_loop.h: the libevent shell of chronik-raftd.
 *
 * Today raftd holds its place in the node: it takes its sockets (TCP "raft"
 * for other nodes, Unix "raftd" for local clients), keeps a connection to
 * walwriter, accepts connections and reports READY=1 with a STATUS= saying
 * that the metadata service is not implemented yet. The Raft core (pure)
 * and its I/O arrive with the metadata issue; they plug in here.
 * Not for: argument parsing (main.c).
 */
#ifndef RAFTD_LOOP_H
#define RAFTD_LOOP_H

#include "ck_config.h"

/* Runs until SIGTERM/SIGINT or the supervisor goes away. Returns the exit
 * code: 0 stopped, 1 cannot set up (restart), 2 fatal. */
int raftd_loop_run(const ck_config_t *cfg);

#endif
