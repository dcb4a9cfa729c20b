/*
 * test_kfk_codec.c: unit tests of the generated Kafka codec (kafka-frontend/protocol).
 *
 * Round trips for every message and every version the schema defines (random
 * values valid for the version: encode, decode, compare, re-encode, compare
 * bytes), truncation at every byte, hostile counts and lengths, unknown
 * tagged fields, defaults of absent fields, hand-made byte layouts (so that a
 * symmetric encode/decode mistake cannot hide), header versions, the dispatch
 * table and the framing helpers. Frames from real clients: test_kfk_golden.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_err.h"
#include "ck_testlib.h"
#include "kfk_msgs_test.h"
#include "kfk_protocol.h"

#define SEEDS_PER_VERSION 40

static kfk_arena_t arena;

static void setup(void) { kfk_arena_init(&arena, 4096, 64u << 20); }
static void teardown(void) { kfk_arena_free(&arena); }

static ck_span_t span_of(const ck_buf_t *b) { return ck_span(b->data, b->len); }

/* ---------------------------------------------------------------- round trips */

static void roundtrip_one(const kfkt_msg_t *d, int16_t v, uint64_t seed)
{
	void *m1 = calloc(1, d->size), *m2 = calloc(1, d->size);
	ck_buf_t b1 = CK_BUF_INIT, b2 = CK_BUF_INIT;
	uint64_t s = seed;
	char why[160] = "";
	ck_span_t in;

	ck_assert_ptr_nonnull(m1);
	ck_assert_ptr_nonnull(m2);
	d->fill(m1, v, &s, &arena);
	ck_assert_msg(d->encode(&b1, v, m1) == 0, "%s v%d seed %llu: encode failed", d->name,
		      v, (unsigned long long)seed);
	in = span_of(&b1);
	ck_assert_msg(d->decode(&in, v, &arena, m2) == 0, "%s v%d seed %llu: decode failed",
		      d->name, v, (unsigned long long)seed);
	ck_assert_msg(in.len == 0, "%s v%d: %zu bytes left", d->name, v, in.len);
	ck_assert_msg(d->eq(m1, m2, why, sizeof(why)), "%s v%d seed %llu: %s differs", d->name,
		      v, (unsigned long long)seed, why);
	ck_assert_int_eq(d->encode(&b2, v, m2), 0);
	ck_assert_msg(b1.len == b2.len && (!b1.len || memcmp(b1.data, b2.data, b1.len) == 0),
		      "%s v%d seed %llu: re-encoding differs", d->name, v,
		      (unsigned long long)seed);
	ck_buf_free(&b1);
	ck_buf_free(&b2);
	free(m1);
	free(m2);
	kfk_arena_reset(&arena);
}

START_TEST(test_roundtrip_every_version)
{
	const kfkt_msg_t *d = &kfkt_msgs[_i];
	int16_t v;
	uint64_t seed;

	for (v = d->min_version; v <= d->max_version; v++)
		for (seed = 1; seed <= SEEDS_PER_VERSION; seed++)
			roundtrip_one(d, v, seed * 7919 + (uint64_t)v);
}
END_TEST

/* Every strict prefix of a valid message must fail cleanly, leaving the input
 * span untouched. */
START_TEST(test_truncation_every_byte)
{
	const kfkt_msg_t *d = &kfkt_msgs[_i];
	void *m = calloc(1, d->size), *out = calloc(1, d->size);
	ck_buf_t b = CK_BUF_INIT;
	int16_t v;

	for (v = d->min_version; v <= d->max_version; v++) {
		uint64_t s = 1000 + (uint64_t)v;
		size_t cut;

		ck_buf_reset(&b);
		d->fill(m, v, &s, &arena);
		ck_assert_int_eq(d->encode(&b, v, m), 0);
		for (cut = 0; cut < b.len; cut++) {
			ck_span_t in = ck_span(b.data, cut);
			int r = d->decode(&in, v, &arena, out);
			ck_assert_msg(r == CK_E_PROTO, "%s v%d cut at %zu of %zu: got %d", d->name,
				      v, cut, b.len, r);
			ck_assert_uint_eq(in.len, cut);
		}
		kfk_arena_reset(&arena);
	}
	ck_buf_free(&b);
	free(m);
	free(out);
}
END_TEST

START_TEST(test_version_outside_schema_refused)
{
	const kfkt_msg_t *d = &kfkt_msgs[_i];
	void *m = calloc(1, d->size);
	ck_buf_t b = CK_BUF_INIT;
	ck_span_t in = ck_span("\0\0\0\0", 4);

	d->init(m);
	ck_assert_int_eq(d->encode(&b, (int16_t)(d->max_version + 1), m), CK_E_INVALID);
	ck_assert_int_eq(d->encode(&b, -1, m), CK_E_INVALID);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(d->decode(&in, (int16_t)(d->max_version + 1), &arena, m), CK_E_INVALID);
	ck_buf_free(&b);
	free(m);
}
END_TEST

/* ---------------------------------------------------------------- exact bytes */

static void assert_bytes(const ck_buf_t *b, const void *want, size_t n)
{
	ck_assert_uint_eq(b->len, n);
	ck_assert_mem_eq(b->data, want, n);
}

START_TEST(test_metadata_v1_bytes)
{
	static const uint8_t want[] = {0, 0, 0, 1, 0, 2, 'a', 'b'};
	kfk_metadata_request_topic_t topic;
	kfk_metadata_request_t req, back;
	ck_buf_t b = CK_BUF_INIT;
	ck_span_t in;

	kfk_metadata_request_init(&req);
	kfk_metadata_request_topic_init(&topic);
	topic.name = kfk_str("ab");
	req.topics.count = 1;
	req.topics.items = &topic;
	ck_assert_int_eq(kfk_metadata_request_encode(&b, 1, &req), 0);
	assert_bytes(&b, want, sizeof(want));

	/* v1+: null means all topics; v0 cannot say null. */
	req.topics.count = -1;
	ck_buf_reset(&b);
	ck_assert_int_eq(kfk_metadata_request_encode(&b, 1, &req), 0);
	assert_bytes(&b, "\xff\xff\xff\xff", 4);
	in = span_of(&b);
	ck_assert_int_eq(kfk_metadata_request_decode(&in, 1, &arena, &back), 0);
	ck_assert_int_eq(back.topics.count, -1);
	ck_assert_int_eq(kfk_metadata_request_encode(&b, 0, &req), CK_E_INVALID);
	ck_assert_uint_eq(b.len, 4); /* restored after the failed encode */
	in = ck_span("\xff\xff\xff\xff", 4);
	ck_assert_int_eq(kfk_metadata_request_decode(&in, 0, &arena, &back), CK_E_PROTO);
	ck_buf_free(&b);
}
END_TEST

/* ApiVersions v3 response as librdkafka parses it: header v0, compact array,
 * a tag section per entry and at the end; defaults of tagged fields are not
 * written. */
START_TEST(test_api_versions_v3_bytes)
{
	static const uint8_t want[] = {
		0, 0,                   /* error code */
		3,                      /* compact count 2 */
		0, 0, 0, 3, 0, 7, 0,    /* Produce 3-7, no tags */
		0, 18, 0, 0, 0, 3, 0,   /* ApiVersions 0-3, no tags */
		0, 0, 0, 0,             /* throttle time */
		0,                      /* no tagged fields */
	};
	kfk_api_versions_response_api_version_t keys[2];
	kfk_api_versions_response_t resp, back;
	ck_buf_t b = CK_BUF_INIT;
	ck_span_t in;

	kfk_api_versions_response_init(&resp);
	ck_assert_int_eq(resp.finalized_features_epoch, -1);
	kfk_api_versions_response_api_version_init(&keys[0]);
	kfk_api_versions_response_api_version_init(&keys[1]);
	keys[0].api_key = 0, keys[0].min_version = 3, keys[0].max_version = 7;
	keys[1].api_key = 18, keys[1].min_version = 0, keys[1].max_version = 3;
	resp.api_keys.count = 2;
	resp.api_keys.items = keys;
	ck_assert_int_eq(kfk_api_versions_response_encode(&b, 3, &resp), 0);
	assert_bytes(&b, want, sizeof(want));
	in = span_of(&b);
	ck_assert_int_eq(kfk_api_versions_response_decode(&in, 3, &arena, &back), 0);
	ck_assert_int_eq(back.api_keys.count, 2);
	ck_assert_int_eq(back.api_keys.items[1].api_key, 18);
	ck_assert_int_eq(back.api_keys.items[1].max_version, 3);
	ck_assert_int_eq(back.finalized_features_epoch, -1);

	/* v0: int32 count, no throttle time, no tags. */
	ck_buf_reset(&b);
	ck_assert_int_eq(kfk_api_versions_response_encode(&b, 0, &resp), 0);
	ck_assert_uint_eq(b.len, 2 + 4 + 2 * 6);
	ck_assert_mem_eq(b.data, "\0\0\0\0\0\2\0\0\0\3\0\7", 12);
	ck_buf_free(&b);
}
END_TEST

/* Produce v3: records are opaque bytes borrowed from the input. */
START_TEST(test_produce_v3_bytes_zero_copy)
{
	static const uint8_t frame[] = {
		0xff, 0xff,             /* transactional id null */
		0, 1, 0, 0, 0x75, 0x30, /* acks 1, timeout 30000 */
		0, 0, 0, 1, 0, 1, 't',  /* 1 topic "t" */
		0, 0, 0, 1, 0, 0, 0, 2, /* 1 partition, index 2 */
		0, 0, 0, 3, 9, 8, 7,    /* records: 3 bytes */
	};
	kfk_produce_request_t req;
	ck_buf_t b = CK_BUF_INIT;
	ck_span_t in = ck_span(frame, sizeof(frame));

	ck_assert_int_eq(kfk_produce_request_decode(&in, 3, &arena, &req), 0);
	ck_assert_int_eq(req.transactional_id.len, -1);
	ck_assert_int_eq(req.acks, 1);
	ck_assert_int_eq(req.timeout_ms, 30000);
	ck_assert_int_eq(req.topic_data.count, 1);
	ck_assert(kfk_str_eq(req.topic_data.items[0].name, "t"));
	ck_assert_int_eq(req.topic_data.items[0].partition_data.items[0].index, 2);
	ck_assert_ptr_eq(req.topic_data.items[0].partition_data.items[0].records.ptr, frame + 27);
	ck_assert_int_eq(req.topic_data.items[0].partition_data.items[0].records.len, 3);
	ck_assert_int_eq(kfk_produce_request_encode(&b, 3, &req), 0);
	assert_bytes(&b, frame, sizeof(frame));
	ck_buf_free(&b);
}
END_TEST

/* Fields a version lacks come back with the schema's defaults. */
START_TEST(test_defaults_for_absent_fields)
{
	static const uint8_t fetch_v0[] = {
		0, 0, 0, 5,             /* replica id */
		0, 0, 1, 0,             /* max wait */
		0, 0, 0, 1,             /* min bytes */
		0, 0, 0, 0,             /* no topics */
	};
	static const uint8_t metadata_v0[] = {0, 0, 0, 0};
	kfk_fetch_request_t f;
	kfk_metadata_request_t m;
	kfk_produce_request_t p;
	ck_span_t in = ck_span(fetch_v0, sizeof(fetch_v0));

	ck_assert_int_eq(kfk_fetch_request_decode(&in, 0, &arena, &f), 0);
	ck_assert_int_eq(f.replica_id, 5);
	ck_assert_int_eq(f.max_wait_ms, 256);
	ck_assert_int_eq(f.max_bytes, 0x7fffffff);
	ck_assert_int_eq(f.isolation_level, 0);
	ck_assert_int_eq(f.session_epoch, -1);
	ck_assert_int_eq(f.cluster_id.len, -1);
	ck_assert_int_eq(f.replica_state.replica_id, -1);
	ck_assert_int_eq(f.replica_state.replica_epoch, -1);
	ck_assert_int_eq(f.rack_id.len, 0);
	ck_assert_int_eq(f.forgotten_topics_data.count, 0);
	in = ck_span(metadata_v0, sizeof(metadata_v0));
	ck_assert_int_eq(kfk_metadata_request_decode(&in, 0, &arena, &m), 0);
	ck_assert(m.allow_auto_topic_creation);
	ck_assert_int_eq(m.topics.count, 0);
	kfk_produce_request_init(&p);
	ck_assert_int_eq(p.transactional_id.len, -1);
}
END_TEST

/* ---------------------------------------------------------------- hostile input */

static int decode_produce(const void *p, size_t n, int16_t v)
{
	kfk_produce_request_t req;
	ck_span_t in = ck_span(p, n);

	return kfk_produce_request_decode(&in, v, &arena, &req);
}

START_TEST(test_huge_counts_rejected_before_allocation)
{
	static const uint8_t top[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff,
				      0, 1, 't', 0, 0, 0, 0};
	static const uint8_t compact[] = {0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f,
					  2, 't', 0, 0};
	static const uint8_t nested[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 't',
					 0x10, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t negative[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe};
	static const uint8_t null_topics[] = {0xff, 0xff, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};

	ck_assert_int_eq(decode_produce(top, sizeof(top), 3), CK_E_PROTO);
	ck_assert_uint_eq(kfk_arena_used(&arena), 0);
	ck_assert_int_eq(decode_produce(compact, sizeof(compact), 9), CK_E_PROTO);
	ck_assert_uint_eq(kfk_arena_used(&arena), 0);
	ck_assert_int_eq(decode_produce(negative, sizeof(negative), 3), CK_E_PROTO);
	ck_assert_int_eq(decode_produce(null_topics, sizeof(null_topics), 3), CK_E_PROTO);
	ck_assert_uint_eq(kfk_arena_used(&arena), 0);
	/* Only the one-element topic array gets allocated. */
	ck_assert_int_eq(decode_produce(nested, sizeof(nested), 3), CK_E_PROTO);
	ck_assert_uint_le(kfk_arena_used(&arena), 256);
}
END_TEST

/* A count is accepted exactly while the remaining bytes can hold it. */
START_TEST(test_count_boundary)
{
	static const uint8_t three[] = {0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0};
	static const uint8_t four[] = {0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0};
	kfk_sasl_handshake_response_t r;
	ck_span_t in = ck_span(three, sizeof(three));

	ck_assert_int_eq(kfk_sasl_handshake_response_decode(&in, 0, &arena, &r), 0);
	ck_assert_int_eq(r.mechanisms.count, 3);
	ck_assert_int_eq(r.mechanisms.items[2].len, 0);
	in = ck_span(four, sizeof(four));
	ck_assert_int_eq(kfk_sasl_handshake_response_decode(&in, 0, &arena, &r), CK_E_PROTO);
}
END_TEST

START_TEST(test_bad_lengths_and_varints)
{
	/* String longer than the input. */
	static const uint8_t long_str[] = {0, 9, 'a', 'b'};
	/* Negative string length other than -1, on a nullable string. */
	static const uint8_t neg_str[] = {0xff, 0xfe, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
	/* Uvarint running past five bytes. */
	static const uint8_t long_varint[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0};
	/* Uvarint whose fifth byte overflows 32 bits. */
	static const uint8_t wide_varint[] = {0xff, 0xff, 0xff, 0xff, 0x1f, 0};
	/* Compact bytes (records) longer than the input: Produce v9. */
	static const uint8_t long_records[] = {0, 0, 1, 0, 0, 0, 1, 2, 2, 't', 2, 0, 0, 0, 1,
					       0x7f, 1, 2};
	kfk_sasl_handshake_request_t sh;
	kfk_api_versions_request_t av;
	ck_span_t in = ck_span(long_str, sizeof(long_str));

	ck_assert_int_eq(kfk_sasl_handshake_request_decode(&in, 0, &arena, &sh), CK_E_PROTO);
	ck_assert_int_eq(decode_produce(neg_str, sizeof(neg_str), 3), CK_E_PROTO);
	in = ck_span(long_varint, sizeof(long_varint));
	ck_assert_int_eq(kfk_api_versions_request_decode(&in, 3, &arena, &av), CK_E_PROTO);
	in = ck_span(wide_varint, sizeof(wide_varint));
	ck_assert_int_eq(kfk_api_versions_request_decode(&in, 3, &arena, &av), CK_E_PROTO);
	ck_assert_int_eq(decode_produce(long_records, sizeof(long_records), 9), CK_E_PROTO);
	ck_assert_uint_le(kfk_arena_used(&arena), 512);
}
END_TEST

START_TEST(test_arena_cap_reported)
{
	static const uint8_t three[] = {0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0};
	kfk_sasl_handshake_response_t r;
	kfk_arena_t tiny;
	ck_span_t in = ck_span(three, sizeof(three));

	kfk_arena_init(&tiny, 16, 16);
	ck_assert_int_eq(kfk_sasl_handshake_response_decode(&in, 0, &tiny, &r), CK_E_TOO_LARGE);
	ck_assert_uint_eq(in.len, sizeof(three));
	kfk_arena_free(&tiny);
}
END_TEST

/* ---------------------------------------------------------------- tagged fields */

/* ApiVersions v3 request with two unknown tagged fields at the top level. */
START_TEST(test_unknown_tags_preserved)
{
	static const uint8_t frame[] = {
		4, 'r', 'd', 'k',       /* client software name */
		4, '2', '.', '0',       /* client software version */
		2,                      /* two tagged fields */
		5, 3, 'a', 'b', 'c',    /* tag 5, 3 bytes */
		9, 0,                   /* tag 9, empty */
		0xee,                   /* trailing byte, left to the caller */
	};
	kfk_api_versions_request_t req;
	ck_buf_t b = CK_BUF_INIT;
	ck_span_t in = ck_span(frame, sizeof(frame));

	ck_assert_int_eq(kfk_api_versions_request_decode(&in, 3, &arena, &req), 0);
	ck_assert_uint_eq(in.len, 1);
	ck_assert(kfk_str_eq(req.client_software_name, "rdk"));
	ck_assert_int_eq(req.unknown_tags.count, 2);
	ck_assert_uint_eq(req.unknown_tags.items[0].tag, 5);
	ck_assert_uint_eq(req.unknown_tags.items[0].len, 3);
	ck_assert_mem_eq(req.unknown_tags.items[0].ptr, "abc", 3);
	ck_assert_uint_eq(req.unknown_tags.items[1].tag, 9);
	ck_assert_uint_eq(req.unknown_tags.items[1].len, 0);
	ck_assert_int_eq(kfk_api_versions_request_encode(&b, 3, &req), 0);
	assert_bytes(&b, frame, sizeof(frame) - 1);
	ck_buf_free(&b);
}
END_TEST

/* Known and unknown tagged fields interleave in tag order on re-encoding. */
START_TEST(test_known_and_unknown_tags_interleave)
{
	static const uint8_t tags[] = {
		4,                                  /* four tagged fields */
		1, 8, 0, 0, 0, 0, 0, 0, 0, 7,       /* FinalizedFeaturesEpoch = 7 */
		3, 1, 1,                            /* ZkMigrationReady = true */
		4, 2, 0xaa, 0xbb,                   /* unknown tag 4 */
		20, 1, 0xcc,                        /* unknown tag 20 */
	};
	uint8_t frame[64] = {0, 0, 1, 0, 0, 0, 0}; /* no error, no keys, throttle 0 */
	kfk_api_versions_response_t resp;
	ck_buf_t b = CK_BUF_INIT;
	ck_span_t in;

	memcpy(frame + 7, tags, sizeof(tags));
	in = ck_span(frame, 7 + sizeof(tags));
	ck_assert_int_eq(kfk_api_versions_response_decode(&in, 3, &arena, &resp), 0);
	ck_assert_int_eq(resp.finalized_features_epoch, 7);
	ck_assert(resp.zk_migration_ready);
	ck_assert_int_eq(resp.unknown_tags.count, 2);
	ck_assert_uint_eq(resp.unknown_tags.items[1].tag, 20);
	ck_assert_int_eq(kfk_api_versions_response_encode(&b, 3, &resp), 0);
	assert_bytes(&b, frame, 7 + sizeof(tags));

	/* An unknown tag below the known ones goes first. */
	resp.unknown_tags.items[0].tag = 0;
	resp.finalized_features_epoch = -1; /* default: not written */
	ck_buf_reset(&b);
	ck_assert_int_eq(kfk_api_versions_response_encode(&b, 3, &resp), 0);
	ck_assert_mem_eq(b.data + 7, "\x03\x00\x02\xaa\xbb\x03\x01\x01\x14\x01\xcc", 11);
	ck_buf_free(&b);
}
END_TEST

/* A tag known only in later versions is kept raw in earlier ones (Fetch tag 1
 * is ReplicaState from v15). */
START_TEST(test_tag_known_later_kept_raw)
{
	kfk_fetch_request_t req, back;
	kfk_raw_tag_t raw = {1, 2, (const uint8_t *)"zz"};
	ck_buf_t b = CK_BUF_INIT, b2 = CK_BUF_INIT;
	ck_span_t in;

	kfk_fetch_request_init(&req);
	req.cluster_id = kfk_str("c1");
	req.unknown_tags.count = 1;
	req.unknown_tags.items = &raw;
	ck_assert_int_eq(kfk_fetch_request_encode(&b, 12, &req), 0);
	ck_assert_mem_eq(b.data + b.len - 10, "\x02\x00\x03\x03" "c1" "\x01\x02" "zz", 10);
	in = span_of(&b);
	ck_assert_int_eq(kfk_fetch_request_decode(&in, 12, &arena, &back), 0);
	ck_assert(kfk_str_eq(back.cluster_id, "c1"));
	ck_assert_int_eq(back.unknown_tags.count, 1);
	ck_assert_uint_eq(back.unknown_tags.items[0].tag, 1);
	ck_assert_int_eq(kfk_fetch_request_encode(&b2, 12, &back), 0);
	assert_bytes(&b2, b.data, b.len);
	ck_buf_free(&b);
	ck_buf_free(&b2);
}
END_TEST

static int decode_av_request_tags(const void *tags, size_t n)
{
	uint8_t frame[64] = {1, 1}; /* two empty compact strings */
	kfk_api_versions_request_t req;
	ck_span_t in;

	memcpy(frame + 2, tags, n);
	in = ck_span(frame, 2 + n);
	return kfk_api_versions_request_decode(&in, 3, &arena, &req);
}

static int decode_av_response_tags(const void *tags, size_t n)
{
	uint8_t frame[64] = {0, 0, 1, 0, 0, 0, 0};
	kfk_api_versions_response_t resp;
	ck_span_t in;

	memcpy(frame + 7, tags, n);
	in = ck_span(frame, 7 + n);
	return kfk_api_versions_response_decode(&in, 3, &arena, &resp);
}

START_TEST(test_bad_tag_sections_rejected)
{
	ck_assert_int_eq(decode_av_request_tags("\x02\x05\x00\x03\x00", 5), CK_E_PROTO);
	ck_assert_int_eq(decode_av_request_tags("\x02\x05\x00\x05\x00", 5), CK_E_PROTO);
	ck_assert_int_eq(decode_av_request_tags("\x01\x05\x04\x00", 4), CK_E_PROTO);
	ck_assert_int_eq(decode_av_request_tags("\x7f\x05\x00", 3), CK_E_PROTO);
	ck_assert_int_eq(decode_av_request_tags("\x02\x03\x00\x05\x00", 5), 0);
	/* A known field must fill its entry exactly. */
	ck_assert_int_eq(decode_av_response_tags("\x01\x03\x02\x01\x00", 5), CK_E_PROTO);
	ck_assert_int_eq(decode_av_response_tags("\x01\x01\x04\x00\x00\x00\x07", 7), CK_E_PROTO);
	ck_assert_int_eq(decode_av_response_tags("\x01\x03\x01\x01", 4), 0);
}
END_TEST

/* ---------------------------------------------------------------- encoding errors */

START_TEST(test_encode_refuses_what_the_wire_cannot_carry)
{
	static char big[40000];
	kfk_sasl_handshake_request_t req;
	kfk_produce_request_t p;
	ck_buf_t b = CK_BUF_INIT;

	ck_assert_int_eq(ck_buf_append(&b, "keep", 4), 0);
	kfk_sasl_handshake_request_init(&req);
	req.mechanism = KFK_STR_NULL;
	ck_assert_int_eq(kfk_sasl_handshake_request_encode(&b, 1, &req), CK_E_INVALID);
	ck_assert_uint_eq(b.len, 4);
	memset(big, 'x', sizeof(big));
	req.mechanism.ptr = big;
	req.mechanism.len = (int32_t)sizeof(big);
	ck_assert_int_eq(kfk_sasl_handshake_request_encode(&b, 1, &req), CK_E_INVALID);
	req.mechanism.len = 0x7fff;
	ck_assert_int_eq(kfk_sasl_handshake_request_encode(&b, 1, &req), 0);
	ck_assert_uint_eq(b.len, 4 + 2 + 0x7fff);
	kfk_produce_request_init(&p);
	p.topic_data.count = 2; /* items NULL */
	ck_assert_int_eq(kfk_produce_request_encode(&b, 3, &p), CK_E_INVALID);
	ck_assert_uint_eq(b.len, 4 + 2 + 0x7fff);
	ck_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- headers, table */

START_TEST(test_header_versions)
{
	ck_assert_int_eq(kfk_request_header_version(KFK_API_API_VERSIONS, 3), 2);
	ck_assert_int_eq(kfk_request_header_version(KFK_API_API_VERSIONS, 2), 1);
	ck_assert_int_eq(kfk_request_header_version(KFK_API_API_VERSIONS, 99), 2);
	ck_assert_int_eq(kfk_request_header_version(KFK_API_PRODUCE, 9), 2);
	ck_assert_int_eq(kfk_request_header_version(KFK_API_PRODUCE, 8), 1);
	ck_assert_int_eq(kfk_request_header_version(KFK_API_SASL_HANDSHAKE, 1), 1);
	ck_assert_int_eq(kfk_request_header_version(KFK_API_DESCRIBE_CLUSTER, 0), 2);
	ck_assert_int_eq(kfk_request_header_version(1000, 5), 1);
	ck_assert_int_eq(kfk_response_header_version(KFK_API_API_VERSIONS, 3), 0);
	ck_assert_int_eq(kfk_response_header_version(KFK_API_PRODUCE, 9), 1);
	ck_assert_int_eq(kfk_response_header_version(KFK_API_METADATA, 8), 0);
	ck_assert_int_eq(kfk_response_header_version(KFK_API_FETCH, 12), 1);
}
END_TEST

START_TEST(test_request_header_parse)
{
	static const uint8_t v2[] = {0, 18, 0, 3, 0, 0, 0, 1, 0, 3, 'r', 'd', 'k', 0, 0xb0};
	static const uint8_t v1_null[] = {0, 3, 0, 1, 0x7f, 0, 0, 0, 0xff, 0xff, 0xb1};
	kfk_request_header_t hdr;
	int16_t hv = -1;
	ck_span_t in = ck_span(v2, sizeof(v2));
	ck_buf_t b = CK_BUF_INIT;

	ck_assert_int_eq(kfk_request_header_parse(&in, &arena, &hdr, &hv), 0);
	ck_assert_int_eq(hv, 2);
	ck_assert_int_eq(hdr.request_api_key, 18);
	ck_assert_int_eq(hdr.request_api_version, 3);
	ck_assert_int_eq(hdr.correlation_id, 1);
	ck_assert(kfk_str_eq(hdr.client_id, "rdk"));
	ck_assert_uint_eq(in.len, 1);
	ck_assert_uint_eq(in.p[0], 0xb0);
	ck_assert_int_eq(kfk_request_header_encode(&b, 2, &hdr), 0);
	assert_bytes(&b, v2, sizeof(v2) - 1);

	in = ck_span(v1_null, sizeof(v1_null));
	ck_assert_int_eq(kfk_request_header_parse(&in, &arena, &hdr, &hv), 0);
	ck_assert_int_eq(hv, 1);
	ck_assert_int_eq(hdr.correlation_id, 0x7f000000);
	ck_assert_int_eq(hdr.client_id.len, -1);
	ck_assert_uint_eq(in.len, 1);

	in = ck_span(v2, 7);
	ck_assert_int_eq(kfk_request_header_parse(&in, &arena, &hdr, &hv), CK_E_PROTO);
	in = ck_span(v2, 12);
	ck_assert_int_eq(kfk_request_header_parse(&in, &arena, &hdr, &hv), CK_E_PROTO);
	ck_assert_uint_eq(in.len, 12);
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_response_header_and_frame)
{
	ck_buf_t b = CK_BUF_INIT;
	size_t start = 99, size = 0;

	ck_assert_int_eq(kfk_frame_begin(&b, &start), 0);
	ck_assert_uint_eq(start, 0);
	ck_assert_int_eq(kfk_response_header_write(&b, KFK_API_API_VERSIONS, 3, 0x01020304), 0);
	ck_assert_int_eq(kfk_frame_end(&b, start), 0);
	assert_bytes(&b, "\0\0\0\4\1\2\3\4", 8);
	ck_assert_int_eq(kfk_frame_begin(&b, &start), 0);
	ck_assert_uint_eq(start, 8);
	ck_assert_int_eq(kfk_response_header_write(&b, KFK_API_FETCH, 12, 5), 0);
	ck_assert_int_eq(kfk_frame_end(&b, start), 0);
	ck_assert_mem_eq(b.data + 8, "\0\0\0\5\0\0\0\5\0", 9);
	ck_assert_int_eq(kfk_frame_size_peek(b.data, 3, 100, &size), CK_E_AGAIN);
	ck_assert_int_eq(kfk_frame_size_peek(b.data + 8, 9, 100, &size), 0);
	ck_assert_uint_eq(size, 5);
	ck_assert_int_eq(kfk_frame_size_peek(b.data + 8, 9, 4, &size), CK_E_TOO_LARGE);
	ck_assert_int_eq(kfk_frame_size_peek((const uint8_t *)"\x80\0\0\0", 4, 100, &size),
			 CK_E_PROTO);
	ck_buf_free(&b);
}
END_TEST

START_TEST(test_api_table)
{
	static const struct {
		int16_t key, max, flex;
		const char *name;
	} want[] = {
	    {0, 11, 9, "Produce"},
	    {1, 17, 12, "Fetch"},
	    {2, 10, 6, "ListOffsets"},
	    {3, 12, 9, "Metadata"},
	    {8, 9, 8, "OffsetCommit"},
	    {9, 9, 6, "OffsetFetch"},
	    {10, 6, 3, "FindCoordinator"},
	    {11, 9, 6, "JoinGroup"},
	    {12, 4, 4, "Heartbeat"},
	    {13, 5, 4, "LeaveGroup"},
	    {14, 5, 4, "SyncGroup"},
	    {15, 5, 5, "DescribeGroups"},
	    {16, 5, 3, "ListGroups"},
	    {17, 1, -1, "SaslHandshake"},
	    {18, 4, 3, "ApiVersions"},
	    {19, 7, 5, "CreateTopics"},
	    {20, 6, 4, "DeleteTopics"},
	    {21, 2, 2, "DeleteRecords"},
	    {22, 5, 2, "InitProducerId"},
	    {23, 4, 4, "OffsetForLeaderEpoch"},
	    {29, 3, 2, "DescribeAcls"},
	    {30, 3, 2, "CreateAcls"},
	    {31, 3, 2, "DeleteAcls"},
	    {32, 4, 4, "DescribeConfigs"},
	    {33, 2, 2, "AlterConfigs"},
	    {35, 4, 2, "DescribeLogDirs"},
	    {36, 2, 2, "SaslAuthenticate"},
	    {37, 3, 2, "CreatePartitions"},
	    {42, 2, 2, "DeleteGroups"},
	    {43, 2, 2, "ElectLeaders"},
	    {44, 1, 1, "IncrementalAlterConfigs"},
	    {47, 0, -1, "OffsetDelete"},
	    {60, 1, 0, "DescribeCluster"},
	};
	size_t i;

	ck_assert_uint_eq(kfk_api_count, CK_ARRAY_LEN(want));
	for (i = 0; i < CK_ARRAY_LEN(want); i++) {
		const kfk_api_t *api = kfk_api_lookup(want[i].key);
		ck_assert_ptr_nonnull(api);
		ck_assert_ptr_eq(api, &kfk_apis[i]);
		ck_assert_int_eq(api->api_key, want[i].key);
		ck_assert_str_eq(api->name, want[i].name);
		ck_assert_int_eq(api->min_version, 0);
		ck_assert_int_eq(api->max_version, want[i].max);
		ck_assert_int_eq(api->flexible_version, want[i].flex);
		ck_assert_ptr_nonnull(api->request_decode);
		ck_assert_ptr_nonnull(api->response_encode);
	}
	ck_assert_ptr_null(kfk_api_lookup(24));
	ck_assert_ptr_null(kfk_api_lookup(-1));
	ck_assert_ptr_null(kfk_api_lookup(61));
}
END_TEST

/* Decoding through the table reaches the typed codec. */
START_TEST(test_api_table_dispatch)
{
	static const uint8_t body[] = {0, 0, 0, 1, 0, 2, 'a', 'b'};
	const kfk_api_t *api = kfk_api_lookup(KFK_API_METADATA);
	kfk_metadata_request_t req;
	ck_buf_t b = CK_BUF_INIT;
	ck_span_t in = ck_span(body, sizeof(body));

	ck_assert_uint_eq(api->request_size, sizeof(req));
	ck_assert_int_eq(api->request_decode(&in, 1, &arena, &req), 0);
	ck_assert(kfk_str_eq(req.topics.items[0].name, "ab"));
	ck_assert_int_eq(api->request_encode(&b, 1, &req), 0);
	assert_bytes(&b, body, sizeof(body));
	ck_buf_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kfk_codec");
	TCase *rt = tcase_create("roundtrip"), *tc = tcase_create("codec");

	tcase_add_checked_fixture(rt, setup, teardown);
	tcase_set_timeout(rt, 60);
	tcase_add_loop_test(rt, test_roundtrip_every_version, 0, (int)kfkt_msg_count);
	tcase_add_loop_test(rt, test_truncation_every_byte, 0, (int)kfkt_msg_count);
	tcase_add_loop_test(rt, test_version_outside_schema_refused, 0, (int)kfkt_msg_count);
	suite_add_tcase(s, rt);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_metadata_v1_bytes);
	tcase_add_test(tc, test_api_versions_v3_bytes);
	tcase_add_test(tc, test_produce_v3_bytes_zero_copy);
	tcase_add_test(tc, test_defaults_for_absent_fields);
	tcase_add_test(tc, test_huge_counts_rejected_before_allocation);
	tcase_add_test(tc, test_count_boundary);
	tcase_add_test(tc, test_bad_lengths_and_varints);
	tcase_add_test(tc, test_arena_cap_reported);
	tcase_add_test(tc, test_unknown_tags_preserved);
	tcase_add_test(tc, test_known_and_unknown_tags_interleave);
	tcase_add_test(tc, test_tag_known_later_kept_raw);
	tcase_add_test(tc, test_bad_tag_sections_rejected);
	tcase_add_test(tc, test_encode_refuses_what_the_wire_cannot_carry);
	tcase_add_test(tc, test_header_versions);
	tcase_add_test(tc, test_request_header_parse);
	tcase_add_test(tc, test_response_header_and_frame);
	tcase_add_test(tc, test_api_table);
	tcase_add_test(tc, test_api_table_dispatch);
	suite_add_tcase(s, tc);

	return ck_test_run(s);
}
