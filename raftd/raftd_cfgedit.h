/*
 * raftd_cfgedit.h: a topic's config entries changed in its packed record,
 * without unpacking and packing the whole record (pure; raftd_apply.c's
 * fast path for AlterTopicConfigs).
 *
 * Owned by raftd. The packed record is protobuf-c's packing of a
 * chronik.meta.TopicRecord (metadata.proto): fields in number order, the
 * config entries (field 4) between partitions (3) and created_index (5).
 * Not for: validating values (raftd_apply_log_config does that).
 */
#ifndef RAFTD_CFGEDIT_H
#define RAFTD_CFGEDIT_H

#include <stddef.h>
#include <stdint.h>

#include "metadata.pb-c.h"

/*
 * The record IN (LEN bytes) after the AlterTopicConfigs C, which must not be
 * replace_all: the entries whose names C sets or deletes are dropped, the
 * others kept in their order, C's set entries appended in theirs. For a
 * canonical IN this is byte for byte what protobuf-c packs for the record
 * raftd_apply.c's merge builds. Writes into OUT (CAP bytes) and returns
 * the length with *RET_N = the entries the record now has; when CAP is too
 * small, returns the length needed (OUT then holds a part of it).
 * CK_E_CORRUPT when IN does not parse or has more than 63 fields (the
 * caller then unpacks it), CK_E_INVALID for replace_all.
 */
long raftd_cfgedit(const uint8_t *in, size_t len, const Chronik__Meta__AlterTopicConfigs *c,
                   uint8_t *out, size_t cap, size_t *ret_n);

#endif
