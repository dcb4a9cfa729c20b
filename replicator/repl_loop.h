/*
 * repl_loop.h: the libevent shell of chronik-replicator.
 *
 * The replicator owns every local partition's high watermark: it follows
 * walwriter's logs (LogEvents), reads partition metadata from LMDB when
 * raftd reports progress (Applied events), computes HW with its pure core
 * (repl_core.h), pushes PartitionState to local subscribers
 * (replicator.proto on run/replicator.sock) and checkpoints HW in LMDB.
 * The follower fetch protocol (TCP "replication") arrives with the next
 * issue; until then connections there are closed politely.
 * Not for: argument parsing (main.c).
 */
#ifndef REPL_LOOP_H
#define REPL_LOOP_H

#include "ck_config.h"

/* Runs until SIGTERM/SIGINT or the supervisor goes away; checkpoints on the
 * way out. Returns the exit code: 0 stopped, 1 cannot set up (restart). */
int repl_loop_run(const ck_config_t *cfg);

#endif
