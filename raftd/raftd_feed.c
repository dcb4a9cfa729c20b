/*
 * raftd_feed.c: when a leader's raftd hands its queued proposals to the
 * Raft core (see raftd_feed.h). Pure: the caller passes the clock.
 */
#include "raftd_feed.h"

#include "ck_err.h"

bool raftd_feed_hold(const raftd_feed_t *f, uint64_t now_us)
{
	size_t expected = f->inflight;

	if (f->queued == 0)
		return false;
	if (f->answered && now_us >= f->answered_us &&
	    now_us - f->answered_us <= RAFTD_FEED_RECENT_US)
		expected += f->answered;
	return f->queued < expected;
}

uint64_t raftd_feed_wait_us(const raftd_feed_t *f, uint64_t hold_us, uint64_t queued_us,
                            uint64_t now_us)
{
	uint64_t held = now_us > hold_us ? now_us - hold_us : 0;
	uint64_t quiet = now_us > queued_us ? now_us - queued_us : 0;

	if (held >= RAFTD_FEED_HOLD_US)
		return 0;
	if (f->queued < f->inflight) /* writes in the log: their clients come back */
		return RAFTD_FEED_HOLD_US - held;
	if (quiet >= RAFTD_FEED_GAP_US)
		return 0;
	return CK_MIN(RAFTD_FEED_HOLD_US - held, RAFTD_FEED_GAP_US - quiet);
}
