/*
 * fuzz_records.c: libFuzzer target for the record bytes a client sends
 * (the records of one partition of a Produce) and the subscription bytes a
 * group member sends. Built only with -Dfuzz=true and clang; run with
 * tests/fuzz/run.sh BUILD SECONDS fuzz_records.
 *
 * Input: a record set. It goes through kafka-frontend's produce check
 * (kfk_produce_records_check) and common's batch validation as sent, then
 * again with every whole batch's CRC made right, so that the fuzzer reaches
 * the record parsing behind the CRC check; every record and header of a
 * batch that passes is walked. The same bytes are read as a consumer
 * subscription (kfk_gsub_names). Besides "never crash, never read out of
 * bounds" (ASan/UBSan): a record set the produce check accepts must be one
 * the batch validation (what walwriter checks again) accepts with the same
 * batches and records, else abort(). The bytes are also a legacy message
 * set (Produce v0-2, kfk_legacy.h): what converts up must be a batch the
 * produce check accepts; and the CRC-fixed batches converted down (as
 * Fetch v0-3 does) must convert up again with every message. An accepted
 * set recompressed with a topic's codec (kfk_compress.h) must be accepted
 * with the same records, and go back to none unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "kfk_compress.h"
#include "kfk_group_core.h"
#include "kfk_legacy.h"
#include "kfk_produce_core.h"

#define MAX_BYTES (1u << 20)

static void walk(const uint8_t *p, size_t len)
{
	while (len >= CK_BATCH_HEADER_LEN) {
		ck_batch_header_t h;
		ck_record_iter_t it;
		ck_record_t rec;
		size_t total;

		if (ck_batch_header_parse(p, len, &h) < 0)
			return;
		total = ck_batch_total_len(&h);
		if (total > len || total < CK_BATCH_HEADER_LEN)
			return;
		if (ck_record_iter_init(&it, p, total) == 0) {
			while (ck_record_iter_next(&it, &rec) == 1) {
				ck_span_t hs = rec.headers;
				ck_record_header_t hdr;

				while (ck_record_header_next(&hs, &hdr) == 1)
					;
			}
		}
		p += total;
		len -= total;
	}
}

/* An accepted record set stored with a topic's codec (kfk_compress.h): the
 * result must pass the produce check with the same batches and records,
 * and converted back to none must be the set with every batch
 * uncompressed (byte for byte when P had none compressed). */
static void recompress(const uint8_t *p, size_t len, const kfk_records_info_t *want)
{
	ck_buf_t z = CK_BUF_INIT, back = CK_BUF_INIT;
	kfk_records_info_t info;
	int codec = (int)(len % 5), r = kfk_batches_recompress(p, len, codec, &z);
	const uint8_t *zp = r == 1 ? z.data : p;
	size_t zlen = r == 1 ? z.len : len;

	if (r < 0 && r != -ENOMEM && r != CK_E_TOO_LARGE)
		abort(); /* checked records decompress */
	if (r >= 0 && (kfk_produce_records_check(zp, (int32_t)zlen, SIZE_MAX, &info, NULL) != 0 ||
	               info.batches != want->batches || info.records != want->records))
		abort();
	if (r >= 0) {
		int rb = kfk_batches_recompress(zp, zlen, 0, &back);
		const uint8_t *up = rb == 1 ? back.data : zp;
		size_t ulen = rb == 1 ? back.len : zlen;

		if (rb >= 0 && rb != (codec != 0))
			abort(); /* every batch is of CODEC now */
		if (rb >= 0 && !want->compressed && (ulen != len || memcmp(up, p, len)))
			abort();
	}
	ck_buf_free(&z);
	ck_buf_free(&back);
}

static void check(const uint8_t *p, size_t len)
{
	kfk_records_info_t info;
	int64_t records = 0;
	int16_t err = kfk_produce_records_check(p, (int32_t)len, MAX_BYTES, &info, NULL);
	int v = ck_batch_set_validate(p, len, MAX_BYTES, &records);

	if (err == 0 && (v != info.batches || records != info.records))
		abort();
	walk(p, len);
	if (err == 0)
		recompress(p, len, &info);
}

/* Legacy message sets: up-conversion of P; down-conversion of P's batches
 * and back. */
static void legacy(const uint8_t *p, size_t len)
{
	ck_buf_t out = CK_BUF_INIT, back = CK_BUF_INIT;
	kfk_records_info_t info;
	int n = kfk_legacy_to_batch(p, len, MAX_BYTES, &out);

	if (n > 0 &&
	    (kfk_produce_records_check(out.data, (int32_t)out.len, SIZE_MAX, &info, NULL) != 0 ||
	     info.records != n))
		abort();
	out.len = 0;
	(void)kfk_legacy_from_batches(p, len, 1, 0, MAX_BYTES, &out);
	if (out.len > 0 && kfk_legacy_to_batch(out.data, out.len, MAX_BYTES, &back) <= 0)
		abort();
	ck_buf_free(&out);
	ck_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	size_t off = 0;

	if (size > MAX_BYTES)
		return 0;
	check(data, size);
	legacy(data, size);
	(void)kfk_gsub_names(data, size, (kfk_str_t){"t", 1});
	/* Again with the CRC of every whole batch made right. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	while (size - off >= CK_BATCH_HEADER_LEN) {
		ck_batch_header_t h;
		size_t total;

		if (ck_batch_header_parse(copy + off, size - off, &h) < 0)
			break;
		total = ck_batch_total_len(&h);
		if (total > size - off || total < CK_BATCH_HEADER_LEN)
			break;
		ck_batch_crc_update(copy + off, total);
		off += total;
	}
	check(copy, size);
	legacy(copy, size);
	free(copy);
	return 0;
}
