/*
 * metacmd_cases.h: a packed MetadataCommand of any case, for the unit tests
 * of the code that sorts commands by their case without unpacking them
 * (raftd_metrics_op_of, ck_metacmd_idempotent). Each test keeps its own
 * table of cases and what it expects of them, and checks with
 * metacmd_n_cases() that the table names every case there is, so that a
 * command added to metadata.proto is not left out unnoticed.
 */
#ifndef METACMD_CASES_H
#define METACMD_CASES_H

#include <stdint.h>

#include "ck_testlib.h"
#include "metadata.pb-c.h"

/* How many cases the MetadataCommand oneof has (its only fields). */
static inline size_t metacmd_n_cases(void)
{
	return chronik__meta__metadata_command__descriptor.n_fields;
}

/* Packs a command of case C into BUF (CAP bytes) and returns its length;
 * NAME is its topic or group name where it has one. */
static inline size_t metacmd_pack(Chronik__Meta__MetadataCommand__CmdCase c, const char *name,
                                  uint8_t *buf, size_t cap)
{
	Chronik__Meta__CreateTopic ct = CHRONIK__META__CREATE_TOPIC__INIT;
	Chronik__Meta__DeleteTopic dt = CHRONIK__META__DELETE_TOPIC__INIT;
	Chronik__Meta__CreatePartitions cp = CHRONIK__META__CREATE_PARTITIONS__INIT;
	Chronik__Meta__AlterTopicConfigs ac = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__RegisterBroker rb = CHRONIK__META__REGISTER_BROKER__INIT;
	Chronik__Meta__FenceBroker fb = CHRONIK__META__FENCE_BROKER__INIT;
	Chronik__Meta__UpdatePartition up = CHRONIK__META__UPDATE_PARTITION__INIT;
	Chronik__Meta__AllocateProducerIds ap = CHRONIK__META__ALLOCATE_PRODUCER_IDS__INIT;
	Chronik__Meta__Noop no = CHRONIK__META__NOOP__INIT;
	Chronik__Meta__CommitOffsets co = CHRONIK__META__COMMIT_OFFSETS__INIT;
	Chronik__Meta__DeleteGroup dg = CHRONIK__META__DELETE_GROUP__INIT;
	Chronik__Meta__DeleteOffsets dof = CHRONIK__META__DELETE_OFFSETS__INIT;
	Chronik__Meta__StoreGroup sg = CHRONIK__META__STORE_GROUP__INIT;
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	void *msg = NULL;
	size_t len;

	ct.name = dt.name = cp.name = ac.name = up.topic = (char *)name;
	co.group = dg.group = dof.group = sg.group = (char *)name;
	switch (c) {
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC:
		msg = &ct;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC:
		msg = &dt;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS:
		msg = &cp;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS:
		msg = &ac;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER:
		msg = &rb;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER:
		msg = &fb;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION:
		msg = &up;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS:
		msg = &ap;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_NOOP:
		msg = &no;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS:
		msg = &co;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP:
		msg = &dg;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS:
		msg = &dof;
		break;
	case CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP:
		msg = &sg;
		break;
	default:
		ck_abort_msg("metacmd_pack: no message for command case %d", (int)c);
	}
	cmd.cmd_case = c;
	cmd.create_topic = msg; /* the oneof's members share one pointer (a union) */
	len = chronik__meta__metadata_command__get_packed_size(&cmd);
	ck_assert_uint_le(len, cap);
	return chronik__meta__metadata_command__pack(&cmd, buf);
}

#endif
