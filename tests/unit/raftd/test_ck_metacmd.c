/*
 * test_ck_metacmd.c: unit tests of ck_metacmd_idempotent
 * (common/ck_metacmd.h), the rule raftd and kafka-frontend share for
 * proposing a command again after its answer was lost. Every case of
 * MetadataCommand is packed with protobuf-c (as its proposers do) and
 * classified: the commands whose second application changes nothing
 * (CreateTopic by topic id, AlterTopicConfigs, RegisterBroker,
 * FenceBroker, Noop) and AllocateProducerIds (a second application only
 * skips a block of ids) may be sent again; the others must not (a second
 * DeleteTopic could delete a topic created in between, CreatePartitions
 * and CommitOffsets could undo later changes, UpdatePartition is a
 * compare-and-set whose retry would be refused).
 */
#include <stdlib.h>

#include "ck_err.h"
#include "ck_metacmd.h"
#include "ck_testlib.h"
#include "metadata.pb-c.h"

static bool packed_idempotent(const Chronik__Meta__MetadataCommand *cmd)
{
	size_t len = chronik__meta__metadata_command__get_packed_size(cmd);
	uint8_t *buf = malloc(len ? len : 1);
	bool r;

	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(chronik__meta__metadata_command__pack(cmd, buf), len);
	r = ck_metacmd_idempotent(buf, len);
	free(buf);
	return r;
}

START_TEST(test_each_command)
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
	/* The oneof's members share one pointer (an anonymous union), so
	 * each row sets it through create_topic. */
	const struct {
		Chronik__Meta__MetadataCommand__CmdCase cmd_case;
		void *msg;
		bool idempotent;
	} rows[] = {
	    {CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC, &ct, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC, &dt, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS, &cp, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS, &ac, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER, &rb, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER, &fb, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION, &up, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS, &ap, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_NOOP, &no, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS, &co, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP, &dg, false},
	};

	ct.name = dt.name = cp.name = ac.name = up.topic = "t";
	co.group = dg.group = "g";
	for (size_t i = 0; i < CK_ARRAY_LEN(rows); i++) {
		Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;

		cmd.cmd_case = rows[i].cmd_case;
		cmd.create_topic = rows[i].msg;
		ck_assert_msg(packed_idempotent(&cmd) == rows[i].idempotent, "command case %d",
		              (int)rows[i].cmd_case);
	}
}
END_TEST

START_TEST(test_empty_and_unknown)
{
	static const uint8_t unknown[] = {(12 << 3) | 2, 0};
	static const uint8_t varint[] = {(1 << 3) | 0, 1};

	ck_assert(!ck_metacmd_idempotent(unknown, 0));
	ck_assert(!ck_metacmd_idempotent(unknown, sizeof(unknown)));
	ck_assert(!ck_metacmd_idempotent(varint, sizeof(varint)));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ck_metacmd");
	TCase *tc = tcase_create("idempotent");

	tcase_add_test(tc, test_each_command);
	tcase_add_test(tc, test_empty_and_unknown);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
