/*
 * raftd_loop.h: the libevent shell of chronik-raftd.
 *
 * Wires the metadata service into the process: the shared daemon shell
 * (common/ck_daemon: signals, sockets "raft" and "raftd", the walwriter
 * neighbour, READY=1), the metadata service (raftd_node.h: Raft over the
 * metadata log in walwriter, applied to LMDB `meta`, peers reached over
 * the "raft" TCP listener) and its local IPC service on run/raftd.sock
 * (raftd_service.h). STATUS= tells the supervisor the role, term, leader,
 * commit and applied index, the lag, and on the leader each follower's.
 * Not for: argument parsing (main.c), the service itself.
 */
#ifndef RAFTD_LOOP_H
#define RAFTD_LOOP_H

#include "ck_config.h"

/* Runs until SIGTERM/SIGINT or the supervisor goes away. Returns the exit
 * code: 0 stopped, 1 cannot set up or a transient failure (restart), 2
 * fatal (corrupt metadata state, bad node or peer ids). */
int raftd_loop_run(const ck_config_t *cfg);

#endif
