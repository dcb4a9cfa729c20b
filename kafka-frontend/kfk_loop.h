/*
 * kfk_loop.h: the libevent shell of chronik-kafka-frontend.
 *
 * It takes the "kafka" listening socket, keeps connections to its
 * neighbours (walwriter, raftd, replicator: they reconnect by themselves
 * when a neighbour restarts), serves Kafka clients (kfk_srv.h) and reports
 * READY=1 with a STATUS= naming the Kafka address. The group coordinator
 * arrives with a later issue and plugs in here.
 * Not for: argument parsing (main.c).
 */
#ifndef KFK_LOOP_H
#define KFK_LOOP_H

#include "ck_config.h"

/* Runs until SIGTERM/SIGINT or the supervisor goes away. Returns the exit
 * code: 0 stopped, 1 cannot set up (restart), 2 fatal. */
int kfk_loop_run(const ck_config_t *cfg);

#endif
