/*
 * test_ck_metacmd.c: unit tests of ck_metacmd_idempotent
 * (common/ck_metacmd.h), the rule raftd and kafka-frontend share for
 * proposing a command again after its answer was lost. Every case of
 * MetadataCommand is packed with protobuf-c (as its proposers do) and
 * classified: the commands whose second application changes nothing
 * (CreateTopic by topic id, AlterTopicConfigs, RegisterBroker,
 * FenceBroker, Noop) and AllocateProducerIds (a second application only
 * skips a block of ids) may be sent again; the others must not (a second
 * DeleteTopic could delete a topic created in between, CreatePartitions,
 * CommitOffsets and StoreGroup could undo later changes, UpdatePartition is a
 * compare-and-set whose retry would be refused).
 */
#include "ck_err.h"
#include "ck_metacmd.h"
#include "ck_testlib.h"
#include "metacmd_cases.h"

START_TEST(test_each_command)
{
	const struct {
		Chronik__Meta__MetadataCommand__CmdCase cmd_case;
		bool idempotent;
	} rows[] = {
	    {CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_NOOP, true},
	    {CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS, false},
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP, false},
	    /* Not idempotent: a commit made between the two would go too. */
	    {CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS, false},
	    /* Not idempotent: the group's next state (Empty) could be undone. */
	    {CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP, false},
	};
	uint8_t buf[1024];

	ck_assert_uint_eq(CK_ARRAY_LEN(rows), metacmd_n_cases());
	for (size_t i = 0; i < CK_ARRAY_LEN(rows); i++) {
		size_t len = metacmd_pack(rows[i].cmd_case, "t", buf, sizeof(buf));

		ck_assert_msg(ck_metacmd_idempotent(buf, len) == rows[i].idempotent,
		              "command case %d", (int)rows[i].cmd_case);
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
