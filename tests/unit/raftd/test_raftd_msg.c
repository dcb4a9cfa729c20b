/*
 * test_raftd_msg.c: unit tests of the wire form of raftd's node-to-node
 * messages (raftd/raftd_msg.h, common/proto/raftnet.proto): every field of
 * every raft_msg_t type survives the round trip, an Envelope built as a
 * header plus packed items decodes as one Envelope holding all of them in
 * order, golden bytes pin the encoding, and hostile input is refused.
 */
#include <string.h>

#include "ck_err.h"
#include "ck_testlib.h"
#include "raftd_msg.h"

/* A message with every field set to something distinct. */
static raft_msg_t full_msg(raft_msg_type_t type, raft_entry_t *ents, uint32_t n)
{
	raft_msg_t m = {0};

	m.type = type;
	m.from = 2;
	m.to = 3;
	m.term = 0x1122334455ull;
	m.index = 1000 + type;
	m.log_term = 7;
	m.commit = 999;
	m.reject_hint = 42;
	m.reject = type % 2 == 0;
	m.need_snapshot = type == RAFT_MSG_APPEND_RESP;
	m.transfer = type == RAFT_MSG_VOTE;
	m.snapshot.index = 777;
	m.snapshot.term = 6;
	m.entries = n ? ents : NULL;
	m.n_entries = n;
	return m;
}

static Chronik__Raftnet__Envelope *unpack(const ck_buf_t *b)
{
	Chronik__Raftnet__Envelope *env = chronik__raftnet__envelope__unpack(NULL, b->len, b->data);

	ck_assert_ptr_nonnull(env);
	return env;
}

static void assert_same(const raft_msg_t *a, const raft_msg_t *b)
{
	ck_assert_int_eq(a->type, b->type);
	ck_assert_uint_eq(a->from, b->from);
	ck_assert_uint_eq(a->to, b->to);
	ck_assert_uint_eq(a->term, b->term);
	ck_assert_uint_eq(a->index, b->index);
	ck_assert_uint_eq(a->log_term, b->log_term);
	ck_assert_uint_eq(a->commit, b->commit);
	ck_assert_uint_eq(a->reject_hint, b->reject_hint);
	ck_assert_int_eq(a->reject, b->reject);
	ck_assert_int_eq(a->need_snapshot, b->need_snapshot);
	ck_assert_int_eq(a->transfer, b->transfer);
	ck_assert_uint_eq(a->snapshot.index, b->snapshot.index);
	ck_assert_uint_eq(a->snapshot.term, b->snapshot.term);
	ck_assert_uint_eq(a->n_entries, b->n_entries);
	for (uint32_t i = 0; i < a->n_entries; i++) {
		ck_assert_uint_eq(a->entries[i].index, b->entries[i].index);
		ck_assert_uint_eq(a->entries[i].term, b->entries[i].term);
		ck_assert_uint_eq(a->entries[i].len, b->entries[i].len);
		if (a->entries[i].len)
			ck_assert_mem_eq(a->entries[i].data, b->entries[i].data, a->entries[i].len);
	}
}

START_TEST(test_round_trip_every_type)
{
	static const uint8_t big[300] = {1, 2, 3};
	raft_entry_t ents[3] = {
	    {1001, 7, (const uint8_t *)"create", 6},
	    {1002, 7, NULL, 0}, /* a no-op */
	    {1003, 8, big, sizeof(big)},
	};

	for (int t = 1; t <= RAFT_MSG_TYPE_MAX; t++) {
		uint32_t n = t == RAFT_MSG_APPEND ? 3 : 0;
		raft_msg_t m = full_msg((raft_msg_type_t)t, ents, n), got;
		raft_entry_t out[3];
		ck_buf_t b = CK_BUF_INIT;
		Chronik__Raftnet__Envelope *env;

		ck_assert_int_eq(raftd_msg_pack(&m, &b), 0);
		env = unpack(&b);
		ck_assert_uint_eq(env->n_msgs, 1);
		ck_assert_int_eq(raftd_msg_unpack(env->msgs[0], &got, out), 0);
		assert_same(&m, &got);
		chronik__raftnet__envelope__free_unpacked(env, NULL);
		ck_buf_free(&b);
	}
}
END_TEST

/* Header + items as separately packed pieces: one Envelope. */
START_TEST(test_envelope_of_items)
{
	raftd_env_header_t h = {"chronik-x", 1, 0xfeedfacecafebeefull, 2, 55, 66};
	Chronik__Raftnet__Envelope item = CHRONIK__RAFTNET__ENVELOPE__INIT, *env;
	Chronik__Raftnet__Forward fw = CHRONIK__RAFTNET__FORWARD__INIT, *fwp = &fw;
	Chronik__Raftnet__BrokerHeartbeat hb = CHRONIK__RAFTNET__BROKER_HEARTBEAT__INIT;
	ck_buf_t b = CK_BUF_INIT;
	raft_msg_t m1 = full_msg(RAFT_MSG_HEARTBEAT, NULL, 0);
	raft_msg_t m2 = full_msg(RAFT_MSG_VOTE, NULL, 0), got;

	ck_assert_int_eq(raftd_env_header_pack(&h, &b), 0);
	ck_assert_int_eq(raftd_msg_pack(&m1, &b), 0);
	fw.id = 9;
	fw.command.data = (uint8_t *)"cmd";
	fw.command.len = 3;
	item.n_forwards = 1;
	item.forwards = &fwp;
	ck_assert_int_eq(raftd_env_item_pack(&item, &b), 0);
	ck_assert_int_eq(raftd_msg_pack(&m2, &b), 0);
	memset(&item, 0, sizeof(item));
	chronik__raftnet__envelope__init(&item);
	hb.broker_incarnation = 77;
	hb.applied_index = 88;
	item.heartbeat = &hb;
	ck_assert_int_eq(raftd_env_item_pack(&item, &b), 0);

	env = unpack(&b);
	ck_assert_str_eq(env->cluster_id, "chronik-x");
	ck_assert_uint_eq(env->from, 1);
	ck_assert_uint_eq(env->incarnation, 0xfeedfacecafebeefull);
	ck_assert_uint_eq(env->to, 2);
	ck_assert_uint_eq(env->commit, 55);
	ck_assert_uint_eq(env->last_index, 66);
	ck_assert_uint_eq(env->n_msgs, 2);
	ck_assert_int_eq(raftd_msg_unpack(env->msgs[0], &got, NULL), 0);
	assert_same(&m1, &got);
	ck_assert_int_eq(raftd_msg_unpack(env->msgs[1], &got, NULL), 0);
	assert_same(&m2, &got);
	ck_assert_uint_eq(env->n_forwards, 1);
	ck_assert_uint_eq(env->forwards[0]->id, 9);
	ck_assert_mem_eq(env->forwards[0]->command.data, "cmd", 3);
	ck_assert_ptr_nonnull(env->heartbeat);
	ck_assert_uint_eq(env->heartbeat->broker_incarnation, 77);
	ck_assert_uint_eq(env->heartbeat->applied_index, 88);
	chronik__raftnet__envelope__free_unpacked(env, NULL);
	ck_buf_free(&b);
}
END_TEST

/* The bytes of a small message, as protobuf lays them out: a change of
 * field numbers or types shows here. */
START_TEST(test_golden_bytes)
{
	static const uint8_t want[] = {
	    0x3a, 0x12,             /* Envelope.msgs (7), 18 bytes */
	    0x08, 0x05,             /* type 5 (append) */
	    0x10, 0x01, 0x18, 0x02, /* from 1, to 2 */
	    0x20, 0x03, 0x28, 0x04, /* term 3, index 4 */
	    0x30, 0x03,             /* log_term 3 */
	    0x72, 0x04,             /* entries (14), 4 bytes */
	    0x08, 0x05, 0x10, 0x03, /* index 5, term 3; empty data is left out */
	};
	raft_entry_t e = {5, 3, NULL, 0};
	raft_msg_t m = {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 3, .index = 4,
	                .log_term = 3, .entries = &e, .n_entries = 1};
	ck_buf_t b = CK_BUF_INIT;

	ck_assert_int_eq(raftd_msg_pack(&m, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.data, want, sizeof(want));
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_unpack_refuses)
{
	Chronik__Raftnet__RaftMessage pm = CHRONIK__RAFTNET__RAFT_MESSAGE__INIT;
	raft_msg_t got;

	pm.type = 0;
	ck_assert_int_eq(raftd_msg_unpack(&pm, &got, NULL), CK_E_INVALID);
	pm.type = RAFT_MSG_TYPE_MAX + 1;
	ck_assert_int_eq(raftd_msg_unpack(&pm, &got, NULL), CK_E_INVALID);
	pm.type = RAFT_MSG_APPEND;
	pm.n_entries = RAFTD_MSG_ENTRIES_MAX + 1;
	ck_assert_int_eq(raftd_msg_unpack(&pm, &got, NULL), CK_E_INVALID);
	pm.n_entries = 0;
	ck_assert_int_eq(raftd_msg_unpack(&pm, &got, NULL), 0);
	/* Garbage is no Envelope. */
	ck_assert_ptr_null(chronik__raftnet__envelope__unpack(NULL, 3, (const uint8_t *)"\x3a\x7f\x01"));
}
END_TEST

static Suite *msg_suite(void)
{
	Suite *s = suite_create("raftd_msg");
	TCase *tc = tcase_create("msg");

	tcase_add_test(tc, test_round_trip_every_type);
	tcase_add_test(tc, test_envelope_of_items);
	tcase_add_test(tc, test_golden_bytes);
	tcase_add_test(tc, test_unpack_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_test_run(msg_suite());
}
