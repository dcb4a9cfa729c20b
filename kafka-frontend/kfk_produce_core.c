/*
 * kfk_produce_core.c: record set validation and acks rules
 * (kfk_produce_core.h).
 *
 * Owned by kafka-frontend (pure). The walwriter validates every batch again
 * before writing (CRC, lengths); the checks here exist to give the client
 * Kafka's error code per partition instead of a transport failure, and to
 * keep batches a consumer could not parse out of the log.
 */
#include "kfk_produce_core.h"

#include <errno.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "kfk_decompress.h"
#include "kfk_errors.h"

/* Where a compressed batch's records are decompressed: kept between calls
 * (one per thread), given back when a large batch grew it. */
static __thread ck_buf_t kfk_scratch = CK_BUF_INIT;

void kfk_produce_scratch_free(void)
{
	ck_buf_free(&kfk_scratch);
}
#define KFK_SCRATCH_KEEP ((size_t)4 << 20)

int16_t kfk_produce_acks_check(int16_t acks)
{
	return acks == KFK_ACKS_NONE || acks == KFK_ACKS_LEADER || acks == KFK_ACKS_ALL
	           ? KFK_ERR_NONE
	           : KFK_ERR_INVALID_REQUIRED_ACKS;
}

int16_t kfk_produce_isr_check(int16_t acks, int32_t isr_size, int32_t min_isr)
{
	return acks == KFK_ACKS_ALL && isr_size < min_isr ? KFK_ERR_NOT_ENOUGH_REPLICAS
	                                                  : KFK_ERR_NONE;
}

int16_t kfk_produce_after_append(int32_t isr_size, int32_t min_isr)
{
	return isr_size > 0 && isr_size < min_isr ? KFK_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND
	                                          : KFK_ERR_NONE;
}

static int16_t kfk_fail(const char **ret_reason, const char *reason, int16_t code)
{
	if (ret_reason)
		*ret_reason = reason;
	return code;
}

static void kfk_ts_seen(kfk_records_info_t *info, int64_t ts)
{
	if (ts == -1)
		return; /* RecordBatch.NO_TIMESTAMP */
	if (ts < info->min_ts)
		info->min_ts = ts;
	if (ts > info->max_ts)
		info->max_ts = ts;
}

int16_t kfk_produce_ts_check(const kfk_records_info_t *info, int64_t now_ms, int64_t before_max,
                             int64_t after_max)
{
	if (info->min_ts > info->max_ts)
		return KFK_ERR_NONE; /* no timestamps */
	if (now_ms < 0)
		now_ms = 0;
	/* Written so that nothing overflows: NOW_MS and both bounds are >= 0;
	 * INT64_MAX is no bound at all. */
	if (before_max != INT64_MAX && info->min_ts < now_ms - before_max)
		return KFK_ERR_INVALID_TIMESTAMP;
	if (info->max_ts > now_ms && info->max_ts - now_ms > after_max)
		return KFK_ERR_INVALID_TIMESTAMP;
	return KFK_ERR_NONE;
}

/* Parses every record of the batch with header H whose records are the LEN
 * bytes at RECORDS (decompressed when the batch is compressed). */
static int16_t kfk_records_walk(const uint8_t *records, size_t len, const ck_batch_header_t *h,
                                kfk_records_info_t *info, const char **ret_reason)
{
	ck_record_iter_t it;
	ck_record_t rec;
	int64_t expect = h->base_offset;
	int r;

	ck_record_iter_init_records(&it, h, records, len);
	while ((r = ck_record_iter_next(&it, &rec)) == 1) {
		if (rec.offset != expect)
			return kfk_fail(ret_reason, "record offset delta", KFK_ERR_INVALID_RECORD);
		if (!rec.key)
			info->null_key = true;
		kfk_ts_seen(info, rec.timestamp_ms);
		expect++;
	}
	if (r < 0)
		return kfk_fail(ret_reason, "records", KFK_ERR_CORRUPT_MESSAGE);
	if (expect - h->base_offset != h->records_count)
		return kfk_fail(ret_reason, "record count", KFK_ERR_INVALID_RECORD);
	return KFK_ERR_NONE;
}

static int16_t kfk_batch_check(const uint8_t *p, size_t avail, size_t max_message_bytes,
                               kfk_records_info_t *info, size_t *ret_total, const char **ret_reason)
{
	ck_batch_header_t h;
	size_t total;
	int r;

	if (avail < CK_BATCH_HEADER_LEN)
		return kfk_fail(ret_reason, "truncated batch", KFK_ERR_CORRUPT_MESSAGE);
	if (p[CK_BATCH_OFF_MAGIC] != CK_BATCH_MAGIC)
		return kfk_fail(ret_reason, "magic (record batch v2 required)",
		                KFK_ERR_INVALID_RECORD);
	r = ck_batch_size_peek(p, avail, 0, &total);
	if (r < 0)
		return kfk_fail(ret_reason, "batch length", KFK_ERR_CORRUPT_MESSAGE);
	if (total > max_message_bytes)
		return kfk_fail(ret_reason, "batch larger than max.message.bytes",
		                KFK_ERR_MESSAGE_TOO_LARGE);
	r = ck_batch_validate(p, avail, 0, &h);
	if (r < 0)
		return kfk_fail(ret_reason, total > avail ? "truncated batch" : "crc",
		                KFK_ERR_CORRUPT_MESSAGE);
	if (h.attributes & CK_BATCH_ATTR_CONTROL)
		return kfk_fail(ret_reason, "control batch", KFK_ERR_INVALID_RECORD);
	/* Transactions are not served (no producer gets a transactional id):
	 * stored, such a batch would read as committed data. Refused with the
	 * code InitProducerId and FindCoordinator give a transactional id, as
	 * Kafka answers transactional records without an authorized one. */
	if (h.attributes & CK_BATCH_ATTR_TRANSACTIONAL)
		return kfk_fail(ret_reason, "transactional batch (transactions are not supported)",
		                KFK_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
	if (h.records_count <= 0 || (int64_t)h.last_offset_delta + 1 != h.records_count)
		return kfk_fail(ret_reason, "record count", KFK_ERR_INVALID_RECORD);
	if ((h.attributes & CK_BATCH_ATTR_COMPRESSION_MASK) > 4)
		return kfk_fail(ret_reason, "compression codec", KFK_ERR_CORRUPT_MESSAGE);
	if (h.attributes & CK_BATCH_ATTR_COMPRESSION_MASK) {
		int16_t err;

		info->compressed = true;
		info->zstd = info->zstd || (h.attributes & CK_BATCH_ATTR_COMPRESSION_MASK) == 4;
		kfk_scratch.len = 0;
		r = kfk_decompress(h.attributes & CK_BATCH_ATTR_COMPRESSION_MASK,
		                   p + CK_BATCH_HEADER_LEN, total - CK_BATCH_HEADER_LEN,
		                   KFK_DECOMPRESS_MAX, &kfk_scratch);
		if (r == CK_E_TOO_LARGE)
			err = kfk_fail(ret_reason, "records decompress to more than 64 MiB",
			               KFK_ERR_MESSAGE_TOO_LARGE);
		else if (r == -ENOMEM)
			err = kfk_fail(ret_reason, "out of memory", KFK_ERR_UNKNOWN_SERVER_ERROR);
		else if (r < 0)
			err = kfk_fail(ret_reason, "compressed records", KFK_ERR_CORRUPT_MESSAGE);
		else
			err = kfk_records_walk(kfk_scratch.data, kfk_scratch.len, &h, info,
			                       ret_reason);
		if (kfk_scratch.cap > KFK_SCRATCH_KEEP)
			ck_buf_free(&kfk_scratch);
		if (err != KFK_ERR_NONE)
			return err;
	} else {
		int16_t err = kfk_records_walk(p + CK_BATCH_HEADER_LEN, total - CK_BATCH_HEADER_LEN,
		                               &h, info, ret_reason);
		if (err != KFK_ERR_NONE)
			return err;
	}
	info->batches++;
	info->records += h.records_count;
	info->offsets += (int64_t)h.last_offset_delta + 1;
	*ret_total = total;
	return KFK_ERR_NONE;
}

int16_t kfk_produce_records_check(const uint8_t *p, int32_t len, size_t max_message_bytes,
                                  kfk_records_info_t *ret_info, const char **ret_reason)
{
	kfk_records_info_t info = {0, 0, 0, false, false, false, INT64_MAX, INT64_MIN};
	size_t pos = 0;

	if (len <= 0)
		return kfk_fail(ret_reason, "no record batch", KFK_ERR_INVALID_RECORD);
	while (pos < (size_t)len) {
		size_t total = 0;
		int16_t err = kfk_batch_check(p + pos, (size_t)len - pos, max_message_bytes, &info,
		                              &total, ret_reason);

		if (err != KFK_ERR_NONE)
			return err;
		pos += total;
	}
	if (ret_info)
		*ret_info = info;
	if (ret_reason)
		*ret_reason = NULL;
	return KFK_ERR_NONE;
}
