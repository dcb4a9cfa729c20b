/*
 * repl_ckpt.c: key and value format of the replicator's HW checkpoints
 * (see repl_ckpt.h). Owned by replicator. Pure.
 * Not for: reading or writing LMDB (repl_meta.c).
 */
#include "repl_ckpt.h"

#include <stdio.h>
#include <string.h>

#include "ck_buf.h"
#include "ck_err.h"

int repl_ckpt_key(char *buf, size_t len, const char *topic, int32_t partition)
{
	size_t tlen = topic ? strlen(topic) : 0;
	int n;

	if (tlen == 0 || tlen > REPL_TOPIC_MAX || partition < 0)
		return CK_E_INVALID;
	n = snprintf(buf, len, "hw/%s-%d", topic, (int)partition);
	if (n < 0 || (size_t)n >= len)
		return CK_E_TOO_LARGE;
	return n;
}

void repl_ckpt_encode(uint8_t out[REPL_CKPT_VALUE_LEN], const repl_ckpt_t *ck)
{
	ck_le32_put(out, REPL_CKPT_VERSION);
	ck_le32_put(out + 4, (uint32_t)ck->leader_epoch);
	ck_le32_put(out + 8, (uint32_t)(uint64_t)ck->hw);
	ck_le32_put(out + 12, (uint32_t)((uint64_t)ck->hw >> 32));
}

int repl_ckpt_decode(const void *val, size_t len, repl_ckpt_t *ret)
{
	const uint8_t *p = val;
	int32_t epoch;
	int64_t hw;

	if (len != REPL_CKPT_VALUE_LEN || ck_le32_get(p) != REPL_CKPT_VERSION)
		return CK_E_CORRUPT;
	epoch = (int32_t)ck_le32_get(p + 4);
	hw = (int64_t)((uint64_t)ck_le32_get(p + 8) | ((uint64_t)ck_le32_get(p + 12) << 32));
	if (epoch < 0 || hw < 0)
		return CK_E_CORRUPT;
	ret->hw = hw;
	ret->leader_epoch = epoch;
	return 0;
}
