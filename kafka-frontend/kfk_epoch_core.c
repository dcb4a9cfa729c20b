/*
 * kfk_epoch_core.c: OffsetForLeaderEpoch's answer (kfk_epoch_core.h).
 *
 * Owned by kafka-frontend (pure).
 */
#include "kfk_epoch_core.h"

bool kfk_epoch_end_direct(int32_t requested, int32_t current, int64_t leo, kfk_epoch_end_t *ret)
{
	if (requested < 0 || requested > current) {
		ret->epoch = -1;
		ret->end_offset = -1;
		return true;
	}
	if (requested == current) {
		ret->epoch = current;
		ret->end_offset = leo;
		return true;
	}
	return false;
}

void kfk_epoch_end_found(int32_t requested, int64_t log_start, int64_t end, int32_t prev_epoch,
                         kfk_epoch_end_t *ret)
{
	if (end <= log_start) {
		/* Nothing of the log precedes the end: Kafka answers the epoch
		 * asked, ending where the log starts. */
		ret->epoch = requested;
		ret->end_offset = log_start;
		return;
	}
	ret->epoch = prev_epoch >= 0 && prev_epoch <= requested ? prev_epoch : requested;
	ret->end_offset = end;
}
