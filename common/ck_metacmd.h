/*
 * ck_metacmd.h: facts about a packed chronik.meta.MetadataCommand shared
 * by raftd (forwarding) and kafka-frontend (proposing).
 *
 * Owned by common. Pure, header only.
 * Not for: applying commands (raftd_apply.c) or building them.
 */
#ifndef CK_METACMD_H
#define CK_METACMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Whether proposing the packed command DATA (LEN bytes) twice does no harm:
 * the second application changes nothing and reports success (CreateTopic
 * by topic id, AlterTopicConfigs, RegisterBroker, FenceBroker, Noop), or
 * only skips something (AllocateProducerIds: the block the lost answer
 * named is never handed out, the next one is). A sender that lost the
 * answer may then propose it again; the others' outcome is unknown until
 * their entry is seen. A MetadataCommand holds one field, its oneof
 * member, so its first byte is that field's tag
 * (common/proto/metadata.proto: fields 1, 4, 5, 6, 8 and 9).
 */
static inline bool ck_metacmd_idempotent(const uint8_t *data, size_t len)
{
	static const uint8_t tags[] = {(1 << 3) | 2, (4 << 3) | 2, (5 << 3) | 2,
	                               (6 << 3) | 2, (8 << 3) | 2, (9 << 3) | 2};

	return len > 0 && memchr(tags, data[0], sizeof(tags)) != NULL;
}

#endif
