/*
 * raftd_feed.h: when a leader's raftd hands its queued proposals to the
 * Raft core (pure; raftd_node.c applies it with a timer).
 *
 * Clients that are answered mostly write again at once. A leader that
 * feeds the first of them to the core alone starts a round (an APPEND per
 * follower, an fsync on every node) that the others, arriving a moment
 * later, must wait out: with 16 clients in lockstep the rounds split into
 * 1 + 15 and a third of the throughput is lost. So the queue is held while
 * it holds fewer proposals than are expected soon: this node's writes in
 * the log (on their way to their answers) and those answered since the
 * queue was last fed, if the last answer was within RAFTD_FEED_RECENT_US
 * (longer than the hold: 16 answered creations take kafka-frontend and the
 * clients 1-2 ms to come back here on two busy vCPUs, and a window of the
 * hold's length then let the first of them start a round alone). A lone
 * client never waits (it is the one answered), nor do clients that pause
 * between writes. A hold that waits only for answered clients ends once
 * no proposal came for RAFTD_FEED_GAP_US (a client that stays away); one
 * that waits for writes still in the log waits for them (their round may
 * be slow: creations make logs on every node); every hold ends after
 * RAFTD_FEED_HOLD_US at the latest.
 * Not for: the timer and the lists (raftd_node.c).
 */
#ifndef RAFTD_FEED_H
#define RAFTD_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFTD_FEED_HOLD_US   1000
#define RAFTD_FEED_GAP_US    200
#define RAFTD_FEED_RECENT_US 5000

typedef struct {
	size_t queued;   /* proposals waiting to enter the log */
	size_t inflight; /* this node's proposals in the log, not yet answered */
	size_t answered; /* proposals answered since the queue was last fed */
	uint64_t answered_us; /* when the last of them was (monotonic µs) */
} raftd_feed_t;

/* Whether to hold the queue back at NOW_US (a hold may start). */
bool raftd_feed_hold(const raftd_feed_t *f, uint64_t now_us);

/* With a hold running since HOLD_US and the last proposal queued at
 * QUEUED_US: how long to wait before looking again, in µs, or 0 to feed
 * now. */
uint64_t raftd_feed_wait_us(const raftd_feed_t *f, uint64_t hold_us, uint64_t queued_us,
                            uint64_t now_us);

#endif
