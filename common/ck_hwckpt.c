/*
 * ck_hwckpt.c: key and value format of the replicator's HW checkpoints
 * (see ck_hwckpt.h). Pure.
 * Not for: reading or writing LMDB (replicator/repl_meta.c,
 * walwriter/wal_sync.c).
 */
#include "ck_hwckpt.h"

#include <stdio.h>
#include <string.h>

#include "ck_buf.h"
#include "ck_err.h"

int ck_hwckpt_key(char *buf, size_t len, const char *topic, int32_t partition)
{
	size_t tlen = topic ? strlen(topic) : 0;
	int n;

	if (tlen == 0 || tlen > CK_HWCKPT_TOPIC_MAX || partition < 0)
		return CK_E_INVALID;
	n = snprintf(buf, len, "hw/%s-%d", topic, (int)partition);
	if (n < 0 || (size_t)n >= len)
		return CK_E_TOO_LARGE;
	return n;
}

void ck_hwckpt_encode(uint8_t out[CK_HWCKPT_VALUE_LEN], const ck_hwckpt_t *ck)
{
	ck_le32_put(out, CK_HWCKPT_VERSION);
	ck_le32_put(out + 4, (uint32_t)ck->leader_epoch);
	ck_le32_put(out + 8, (uint32_t)(uint64_t)ck->hw);
	ck_le32_put(out + 12, (uint32_t)((uint64_t)ck->hw >> 32));
}

int ck_hwckpt_decode(const void *val, size_t len, ck_hwckpt_t *ret)
{
	const uint8_t *p = val;
	int32_t epoch;
	int64_t hw;

	if (len != CK_HWCKPT_VALUE_LEN || ck_le32_get(p) != CK_HWCKPT_VERSION)
		return CK_E_CORRUPT;
	epoch = (int32_t)ck_le32_get(p + 4);
	hw = (int64_t)((uint64_t)ck_le32_get(p + 8) | ((uint64_t)ck_le32_get(p + 12) << 32));
	if (epoch < 0 || hw < 0)
		return CK_E_CORRUPT;
	ret->hw = hw;
	ret->leader_epoch = epoch;
	return 0;
}
