/*
 * sup_metrics.h: GET /metrics on the supervisor's admin HTTP endpoint
 * (chronik-server).
 *
 * A scrape is answered 200 "text/plain; version=0.0.4" with the
 * supervisor's own metrics (node info and uptime; per child: up, restarts,
 * uptime) followed by raftd's (GetMetrics on run/raftd.sock, see
 * raftd/raftd_metrics.h) and the replicator's (GetMetrics on
 * run/replicator.sock: partitions, under-replicated, follower lag, ISR
 * changes, replication traffic). Both are asked at once and asynchronously,
 * each over a connection of the scrape's own: the event loop never waits.
 * One that does not answer within SUP_METRICS_RAFTD_TIMEOUT_MS (down,
 * restarting, stopped) is left out, with `chronik_raft_up 0` or
 * `chronik_replication_up 0` in its place.
 * A client that goes away meanwhile ends its scrape; nothing touches its
 * request afterwards.
 * Not for: the other admin pages and the control socket (sup_control.c).
 */
#ifndef SUP_METRICS_H
#define SUP_METRICS_H

#include "sup_loop.h"

struct evhttp_request;

#define SUP_METRICS_RAFTD_TIMEOUT_MS 2000

typedef struct sup_metrics sup_metrics_t;

/* The scrape service of NODE (borrowed). NULL when out of memory. */
sup_metrics_t *sup_metrics_new(sup_node_t *node);
/* Answers REQ (a GET /metrics) once raftd and the replicator answered or
 * timed out. */
void sup_metrics_serve(sup_metrics_t *m, struct evhttp_request *req);
/* Ends every scrape still waiting without answering (their requests stay
 * with evhttp, which frees them with its connections) and frees M. Call it
 * before evhttp_free(). NULL is fine. */
void sup_metrics_free(sup_metrics_t *m);

#endif
