/*
 * test_kfk_fetch_core.c: unit tests of the piecewise Fetch response encoder,
 * the fetch sizing rules and where a consumer's offset stands
 * (kafka-frontend/kfk_fetch_core.h).
 *
 * The encoder's output, with the record bytes spliced in where sendfile
 * would put them, must be byte for byte what the generated codec encodes
 * for the same response, in every version served (0-12), and decode back.
 */
#include <check.h>
#include <string.h>

#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_fetch_core.h"
#include "kfk_protocol.h"

typedef struct {
	const char *topic;
	int32_t partition;
	int16_t err;
	int64_t hw;
	int64_t log_start;
	const char *records; /* NULL: none (empty) */
} part_t;

static const part_t parts[] = {
    {"alpha", 0, 0, 42, 0, "batch-bytes-0"},
    {"alpha", 1, 1 /* OFFSET_OUT_OF_RANGE */, -1, -1, NULL},
    {"alpha", 2, 0, 7, 3, ""},
    {"beta", 0, 0, 100, 10, "a longer run of record batch bytes .................."},
};

/* Topic groups of PARTS: [start, end). */
static const int groups[][2] = {{0, 3}, {3, 4}};

static void encode_codec(int16_t v, ck_buf_t *out)
{
	kfk_fetch_response_t resp;
	kfk_fetch_response_fetchable_topic_response_t topics[2];
	kfk_fetch_response_partition_data_t pd[4];

	kfk_fetch_response_init(&resp);
	resp.throttle_time_ms = 5;
	resp.session_id = 0;
	for (int t = 0; t < 2; t++) {
		kfk_fetch_response_fetchable_topic_response_init(&topics[t]);
		topics[t].topic = kfk_str(parts[groups[t][0]].topic);
		topics[t].partitions.count = groups[t][1] - groups[t][0];
		topics[t].partitions.items = &pd[groups[t][0]];
	}
	for (int i = 0; i < 4; i++) {
		const part_t *p = &parts[i];

		kfk_fetch_response_partition_data_init(&pd[i]);
		pd[i].partition_index = p->partition;
		pd[i].error_code = p->err;
		pd[i].high_watermark = p->hw;
		pd[i].last_stable_offset = p->hw;
		pd[i].log_start_offset = p->log_start;
		pd[i].aborted_transactions.count = -1;
		pd[i].preferred_read_replica = -1;
		pd[i].records.ptr = (const uint8_t *)(p->records ? p->records : "");
		pd[i].records.len = p->records ? (int32_t)strlen(p->records) : 0;
	}
	resp.responses.count = 2;
	resp.responses.items = topics;
	ck_assert_int_eq(kfk_fetch_response_encode(out, v, &resp), 0);
}

static void encode_pieces(int16_t v, ck_buf_t *out)
{
	kfk_fw_t w;

	ck_assert_int_eq(kfk_fw_begin(&w, out, v, 5, 0, 0, 2), 0);
	for (int t = 0; t < 2; t++) {
		kfk_fw_topic(&w, kfk_str(parts[groups[t][0]].topic), groups[t][1] - groups[t][0]);
		for (int i = groups[t][0]; i < groups[t][1]; i++) {
			const part_t *p = &parts[i];
			kfk_fw_part_t fp = {p->partition, p->err, p->hw, p->hw, p->log_start, -1};
			size_t n = p->records ? strlen(p->records) : 0;

			kfk_fw_partition(&w, &fp, (int64_t)n);
			/* Where the shell would send a file range. */
			ck_assert_int_eq(ck_buf_append(out, p->records ? p->records : "", n), 0);
			kfk_fw_partition_end(&w);
		}
		kfk_fw_topic_end(&w);
	}
	ck_assert_int_eq(kfk_fw_end(&w), 0);
}

START_TEST(test_pieces_match_codec)
{
	int16_t v = (int16_t)_i;
	ck_buf_t a = CK_BUF_INIT, b = CK_BUF_INIT;
	kfk_fetch_response_t dec;
	kfk_arena_t arena;
	ck_span_t in;

	encode_codec(v, &a);
	encode_pieces(v, &b);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_msg(memcmp(a.data, b.data, a.len) == 0, "version %d differs", v);

	kfk_arena_init(&arena, 0, 0);
	in = ck_span(b.data, b.len);
	ck_assert_int_eq(kfk_fetch_response_decode(&in, v, &arena, &dec), 0);
	ck_assert_uint_eq(in.len, 0);
	ck_assert_int_eq(dec.responses.count, 2);
	ck_assert_int_eq(dec.responses.items[1].partitions.items[0].high_watermark, 100);
	ck_assert_int_eq(dec.responses.items[0].partitions.items[1].error_code, 1);
	ck_assert_int_eq(dec.responses.items[1].partitions.items[0].records.len,
	                 (int32_t)strlen(parts[3].records));
	kfk_arena_free(&arena);
	ck_buf_free(&a);
	ck_buf_free(&b);
}
END_TEST

/* READ_COMMITTED (isolation_level 1) gets an empty aborted_transactions
 * array, as from Kafka; READ_UNCOMMITTED null. */
START_TEST(test_aborted_transactions_by_isolation)
{
	for (int rc = 0; rc <= 1; rc++) {
		for (int16_t v = 4; v <= KFK_FETCH_VERSION_MAX; v++) {
			ck_buf_t b = CK_BUF_INIT;
			kfk_fw_part_t fp = {0, 0, 9, 9, 0, -1};
			kfk_fetch_response_t dec;
			kfk_arena_t arena;
			kfk_fw_t w;
			ck_span_t in;

			ck_assert_int_eq(kfk_fw_begin(&w, &b, v, 0, 0, 0, 1), 0);
			w.read_committed = rc;
			kfk_fw_topic(&w, kfk_str("t"), 1);
			kfk_fw_partition(&w, &fp, 0);
			kfk_fw_partition_end(&w);
			kfk_fw_topic_end(&w);
			ck_assert_int_eq(kfk_fw_end(&w), 0);
			kfk_arena_init(&arena, 0, 0);
			in = ck_span(b.data, b.len);
			ck_assert_int_eq(kfk_fetch_response_decode(&in, v, &arena, &dec), 0);
			ck_assert_uint_eq(in.len, 0);
			ck_assert_int_eq(
			    dec.responses.items[0].partitions.items[0].aborted_transactions.count,
			    rc ? 0 : -1);
			kfk_arena_free(&arena);
			ck_buf_free(&b);
		}
	}
}
END_TEST

START_TEST(test_top_level_error_and_versions)
{
	ck_buf_t b = CK_BUF_INIT;
	kfk_fw_t w;
	kfk_fetch_response_t dec;
	kfk_arena_t arena;
	ck_span_t in;

	ck_assert_int_eq(kfk_fw_begin(&w, &b, -1, 0, 0, 0, 0), CK_E_INVALID);
	ck_buf_reset(&b);
	ck_assert_int_eq(kfk_fw_begin(&w, &b, 13, 0, 0, 0, 0), CK_E_INVALID);
	ck_buf_reset(&b);
	ck_assert_int_eq(kfk_fw_begin(&w, &b, 11, 0, 70, 0, 0), 0);
	ck_assert_int_eq(kfk_fw_end(&w), 0);
	kfk_arena_init(&arena, 0, 0);
	in = ck_span(b.data, b.len);
	ck_assert_int_eq(kfk_fetch_response_decode(&in, 11, &arena, &dec), 0);
	ck_assert_int_eq(dec.error_code, 70);
	ck_assert_int_eq(dec.responses.count, 0);
	kfk_arena_free(&arena);
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_sizing_rules)
{
	/* Budget: the smaller of what is left and the partition's max. */
	ck_assert_uint_eq(kfk_fetch_part_limit(1000, 300), 300);
	ck_assert_uint_eq(kfk_fetch_part_limit(200, 300), 200);
	ck_assert_uint_eq(kfk_fetch_part_limit(0, 300), 0);
	ck_assert_uint_eq(kfk_fetch_part_limit(-5, 300), 0);
	ck_assert_uint_eq(kfk_fetch_part_limit(100, 0), 0);
	/* Within the limit: taken. */
	ck_assert(kfk_fetch_range_take(300, 3, 300, false));
	/* One oversized batch: only as the response's first data (KIP-74). */
	ck_assert(kfk_fetch_range_take(5000, 1, 300, true));
	ck_assert(!kfk_fetch_range_take(5000, 1, 300, false));
	ck_assert(!kfk_fetch_range_take(5000, 2, 300, true));
	ck_assert(!kfk_fetch_range_take(0, 0, 300, true));
}
END_TEST

START_TEST(test_ready_rules)
{
	ck_assert(kfk_fetch_ready(0, 0, false, false)); /* min_bytes 0: at once */
	ck_assert(kfk_fetch_ready(1, 1, false, false));
	ck_assert(!kfk_fetch_ready(0, 1, false, false)); /* nothing yet: wait */
	ck_assert(!kfk_fetch_ready(99, 100, false, false));
	ck_assert(kfk_fetch_ready(0, 100, true, false)); /* an error answers */
	ck_assert(kfk_fetch_ready(0, 100, false, true)); /* the wait is over */
}
END_TEST

/* A consumer's offset against a log of [10, LEO) with HW 20: out of range
 * only below the log start or past the log end (Kafka), whatever the log
 * end the replicator last pushed (LEO_SEEN) says. */
START_TEST(test_offset_rules)
{
	ck_assert_int_eq(kfk_fetch_at(9, 10, 20, 30), KFK_FETCH_AT_OUT_OF_RANGE);
	ck_assert_int_eq(kfk_fetch_at(-1, 10, 20, 30), KFK_FETCH_AT_OUT_OF_RANGE);
	ck_assert_int_eq(kfk_fetch_at(10, 10, 20, 30), KFK_FETCH_AT_READ);
	ck_assert_int_eq(kfk_fetch_at(19, 10, 20, 30), KFK_FETCH_AT_READ);
	/* [HW, LEO]: nothing committed there yet, no error. */
	ck_assert_int_eq(kfk_fetch_at(20, 10, 20, 30), KFK_FETCH_AT_EMPTY);
	ck_assert_int_eq(kfk_fetch_at(25, 10, 20, 30), KFK_FETCH_AT_EMPTY);
	ck_assert_int_eq(kfk_fetch_at(30, 10, 20, 30), KFK_FETCH_AT_EMPTY);
	/* Past the log end seen: the log decides, not the push. */
	ck_assert_int_eq(kfk_fetch_at(31, 10, 20, 30), KFK_FETCH_AT_PAST_SEEN);
	ck_assert_int_eq(kfk_fetch_at(21, 10, 20, 20), KFK_FETCH_AT_PAST_SEEN);
	ck_assert_int_eq(kfk_fetch_at(21, 10, 20, -1), KFK_FETCH_AT_PAST_SEEN);
	ck_assert_int_eq(kfk_fetch_at_end(true), KFK_FETCH_AT_EMPTY);
	ck_assert_int_eq(kfk_fetch_at_end(false), KFK_FETCH_AT_OUT_OF_RANGE);
	/* A log end not pushed yet (-1): the high watermark bounds what is
	 * known; an empty log (all deleted: log start = HW = LEO). */
	ck_assert_int_eq(kfk_fetch_at(20, 10, 20, -1), KFK_FETCH_AT_EMPTY);
	ck_assert_int_eq(kfk_fetch_at(10, 10, 10, 10), KFK_FETCH_AT_EMPTY);
	ck_assert_int_eq(kfk_fetch_at(9, 10, 10, 10), KFK_FETCH_AT_OUT_OF_RANGE);
	ck_assert_int_eq(kfk_fetch_at(11, 10, 10, 10), KFK_FETCH_AT_PAST_SEEN);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_fetch_core");
	TCase *tc = tcase_create("fetch");

	tcase_add_loop_test(tc, test_pieces_match_codec, KFK_FETCH_VERSION_MIN,
	                    KFK_FETCH_VERSION_MAX + 1);
	tcase_add_test(tc, test_top_level_error_and_versions);
	tcase_add_test(tc, test_aborted_transactions_by_isolation);
	tcase_add_test(tc, test_sizing_rules);
	tcase_add_test(tc, test_ready_rules);
	tcase_add_test(tc, test_offset_rules);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
