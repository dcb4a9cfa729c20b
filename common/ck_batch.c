/*
 * ck_batch.c: Kafka RecordBatch v2 parsing, validation, edits, builder and
 * record iterator (ck_batch.h).
 *
 * Pure code (no I/O, no clock). Invariants: a validated batch has magic 2,
 * batchLength >= 49, fits in the bytes given, has non-negative deltas and
 * counts, and a matching CRC32C. The builder only ever produces batches that
 * ck_batch_validate() accepts.
 */
#include "ck_batch.h"

#include <errno.h>
#include <string.h>

#include "ck_crc32c.h"
#include "ck_err.h"

int ck_batch_header_parse(const uint8_t *p, size_t len, ck_batch_header_t *ret)
{
	if (len < CK_BATCH_HEADER_LEN)
		return CK_E_CORRUPT;
	ret->base_offset = (int64_t)ck_be64_get(p + CK_BATCH_OFF_BASE_OFFSET);
	ret->batch_length = (int32_t)ck_be32_get(p + CK_BATCH_OFF_LENGTH);
	ret->partition_leader_epoch = (int32_t)ck_be32_get(p + CK_BATCH_OFF_LEADER_EPOCH);
	ret->magic = (int8_t)p[CK_BATCH_OFF_MAGIC];
	ret->crc = ck_be32_get(p + CK_BATCH_OFF_CRC);
	ret->attributes = (int16_t)ck_be16_get(p + CK_BATCH_OFF_ATTRIBUTES);
	ret->last_offset_delta = (int32_t)ck_be32_get(p + CK_BATCH_OFF_LAST_OFFSET_DELTA);
	ret->base_timestamp = (int64_t)ck_be64_get(p + CK_BATCH_OFF_BASE_TIMESTAMP);
	ret->max_timestamp = (int64_t)ck_be64_get(p + CK_BATCH_OFF_MAX_TIMESTAMP);
	ret->producer_id = (int64_t)ck_be64_get(p + CK_BATCH_OFF_PRODUCER_ID);
	ret->producer_epoch = (int16_t)ck_be16_get(p + CK_BATCH_OFF_PRODUCER_EPOCH);
	ret->base_sequence = (int32_t)ck_be32_get(p + CK_BATCH_OFF_BASE_SEQUENCE);
	ret->records_count = (int32_t)ck_be32_get(p + CK_BATCH_OFF_RECORDS_COUNT);
	return 0;
}

static size_t ck_batch_max(size_t max_bytes)
{
	return max_bytes == 0 || max_bytes > CK_BATCH_TOTAL_MAX ? CK_BATCH_TOTAL_MAX : max_bytes;
}

int ck_batch_size_peek(const uint8_t *p, size_t len, size_t max_bytes, size_t *ret_total)
{
	int32_t blen;
	size_t total;

	if (len < CK_BATCH_LOG_OVERHEAD)
		return CK_E_CORRUPT;
	blen = (int32_t)ck_be32_get(p + CK_BATCH_OFF_LENGTH);
	if (blen < CK_BATCH_LENGTH_MIN)
		return CK_E_CORRUPT;
	total = (size_t)blen + CK_BATCH_LOG_OVERHEAD;
	if (total > ck_batch_max(max_bytes))
		return CK_E_TOO_LARGE;
	*ret_total = total;
	return 0;
}

int ck_batch_header_check(const ck_batch_header_t *h, size_t max_bytes)
{
	if (h->batch_length < CK_BATCH_LENGTH_MIN)
		return CK_E_CORRUPT;
	if (ck_batch_total_len(h) > ck_batch_max(max_bytes))
		return CK_E_TOO_LARGE;
	if (h->magic != CK_BATCH_MAGIC)
		return CK_E_CORRUPT;
	if (h->last_offset_delta < 0 || h->records_count < 0 || h->base_offset < 0)
		return CK_E_CORRUPT;
	if (h->base_offset > INT64_MAX - h->last_offset_delta - 1)
		return CK_E_CORRUPT;
	return 0;
}

uint32_t ck_batch_crc_compute(const uint8_t *p, size_t total)
{
	return ck_crc32c(0, p + CK_BATCH_CRC_START, total - CK_BATCH_CRC_START);
}

int ck_batch_validate(const uint8_t *p, size_t len, size_t max_bytes, ck_batch_header_t *ret_hdr)
{
	ck_batch_header_t h;
	size_t total;
	int r;

	r = ck_batch_header_parse(p, len, &h);
	if (r < 0)
		return r;
	r = ck_batch_header_check(&h, max_bytes);
	if (r < 0)
		return r;
	total = ck_batch_total_len(&h);
	if (total > len)
		return CK_E_CORRUPT;
	if (ck_batch_crc_compute(p, total) != h.crc)
		return CK_E_CORRUPT;
	if (ret_hdr)
		*ret_hdr = h;
	return (int)total;
}

int ck_batch_set_validate(const uint8_t *p, size_t len, size_t max_bytes, int64_t *ret_records)
{
	ck_batch_header_t h;
	int64_t records = 0;
	int count = 0;
	size_t pos = 0;

	if (len == 0)
		return CK_E_CORRUPT;
	while (pos < len) {
		int r = ck_batch_validate(p + pos, len - pos, max_bytes, &h);
		if (r < 0)
			return r;
		pos += (size_t)r;
		records += h.records_count;
		if (count == INT32_MAX)
			return CK_E_TOO_LARGE;
		count++;
	}
	if (ret_records)
		*ret_records = records;
	return count;
}

void ck_batch_base_offset_set(uint8_t *p, int64_t base_offset)
{
	ck_be64_put(p + CK_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void ck_batch_leader_epoch_set(uint8_t *p, int32_t epoch)
{
	ck_be32_put(p + CK_BATCH_OFF_LEADER_EPOCH, (uint32_t)epoch);
}

void ck_batch_crc_update(uint8_t *p, size_t total)
{
	ck_be32_put(p + CK_BATCH_OFF_CRC, ck_batch_crc_compute(p, total));
}

void ck_batch_log_append_time_set(uint8_t *p, size_t total, int64_t ts_ms)
{
	uint16_t attrs = ck_be16_get(p + CK_BATCH_OFF_ATTRIBUTES);

	ck_be16_put(p + CK_BATCH_OFF_ATTRIBUTES, (uint16_t)(attrs | CK_BATCH_ATTR_LOG_APPEND_TIME));
	ck_be64_put(p + CK_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)ts_ms);
	ck_be64_put(p + CK_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)ts_ms);
	ck_batch_crc_update(p, total);
}

/* ---- builder ---- */

int ck_batch_builder_begin(ck_batch_builder_t *b, ck_buf_t *out, const ck_batch_opts_t *opts)
{
	static const ck_batch_opts_t defaults = CK_BATCH_OPTS_INIT;
	uint8_t *hdr;

	memset(b, 0, sizeof(*b));
	b->opts = opts ? *opts : defaults;
	if (b->opts.attributes & CK_BATCH_ATTR_COMPRESSION_MASK)
		return CK_E_INVALID;
	b->out = out;
	b->start = out->len;
	hdr = ck_buf_extend(out, CK_BATCH_HEADER_LEN);
	if (!hdr)
		return -ENOMEM;
	memset(hdr, 0, CK_BATCH_HEADER_LEN);
	return 0;
}

static size_t ck_batch_record_body_len(const ck_batch_record_t *rec, int64_t ts_delta,
                                       int32_t offset_delta)
{
	uint8_t tmp[10];
	size_t n = 1; /* attributes */

	n += ck_varint64_put(tmp, ts_delta);
	n += ck_varint64_put(tmp, offset_delta);
	n += ck_varint64_put(tmp, rec->key ? (int64_t)rec->key_len : -1);
	n += rec->key ? rec->key_len : 0;
	n += ck_varint64_put(tmp, rec->value ? (int64_t)rec->value_len : -1);
	n += rec->value ? rec->value_len : 0;
	n += ck_varint64_put(tmp, (int64_t)rec->header_count);
	for (size_t i = 0; i < rec->header_count; i++) {
		const ck_record_header_t *h = &rec->headers[i];
		n += ck_varint64_put(tmp, (int64_t)h->key_len) + h->key_len;
		n += ck_varint64_put(tmp, h->value ? h->value_len : -1);
		n += h->value ? (size_t)h->value_len : 0;
	}
	return n;
}

static int ck_batch_record_check(const ck_batch_record_t *rec)
{
	if (rec->key_len > INT32_MAX || rec->value_len > INT32_MAX || rec->header_count > INT32_MAX)
		return CK_E_INVALID;
	for (size_t i = 0; i < rec->header_count; i++) {
		const ck_record_header_t *h = &rec->headers[i];
		if (h->key_len > INT32_MAX || (h->value && h->value_len < 0))
			return CK_E_INVALID;
	}
	return 0;
}

static uint8_t *ck_batch_put_bytes(uint8_t *p, const void *data, size_t len, bool null)
{
	p += ck_varint64_put(p, null ? -1 : (int64_t)len);
	if (!null && len) {
		memcpy(p, data, len);
		p += len;
	}
	return p;
}

static void ck_batch_record_write(uint8_t *p, const ck_batch_record_t *rec, size_t body,
                                  int64_t ts_delta, int32_t offset_delta)
{
	p += ck_varint64_put(p, (int64_t)body);
	*p++ = 0; /* record attributes: unused */
	p += ck_varint64_put(p, ts_delta);
	p += ck_varint64_put(p, offset_delta);
	p = ck_batch_put_bytes(p, rec->key, rec->key_len, rec->key == NULL);
	p = ck_batch_put_bytes(p, rec->value, rec->value_len, rec->value == NULL);
	p += ck_varint64_put(p, (int64_t)rec->header_count);
	for (size_t i = 0; i < rec->header_count; i++) {
		const ck_record_header_t *h = &rec->headers[i];
		p = ck_batch_put_bytes(p, h->key, h->key_len, false);
		p = ck_batch_put_bytes(p, h->value, h->value ? (size_t)h->value_len : 0,
		                       h->value == NULL);
	}
}

int ck_batch_builder_add(ck_batch_builder_t *b, const ck_batch_record_t *rec)
{
	uint8_t tmp[10];
	int64_t ts_delta;
	size_t body, used;
	uint8_t *p;
	int r;

	if (b->err)
		return b->err;
	r = ck_batch_record_check(rec);
	if (r < 0 || b->count == INT32_MAX)
		return b->err = (r < 0 ? r : CK_E_TOO_LARGE);
	if (b->count == 0)
		b->base_ts = b->max_ts = rec->timestamp_ms;
	ts_delta = (int64_t)((uint64_t)rec->timestamp_ms - (uint64_t)b->base_ts);
	body = ck_batch_record_body_len(rec, ts_delta, b->count);
	used = b->out->len - b->start;
	if (body > INT32_MAX || body + 10 > CK_BATCH_TOTAL_MAX - used)
		return b->err = CK_E_TOO_LARGE;
	p = ck_buf_extend(b->out, body + ck_varint64_put(tmp, (int64_t)body));
	if (!p)
		return b->err = -ENOMEM;
	ck_batch_record_write(p, rec, body, ts_delta, b->count);
	if (rec->timestamp_ms > b->max_ts)
		b->max_ts = rec->timestamp_ms;
	b->count++;
	return 0;
}

void ck_batch_builder_abort(ck_batch_builder_t *b)
{
	if (b->out && b->out->len > b->start)
		b->out->len = b->start;
}

int ck_batch_builder_finish(ck_batch_builder_t *b, size_t *ret_len)
{
	size_t total;
	uint8_t *p;
	int r = b->err ? b->err : (b->count == 0 ? CK_E_INVALID : 0);

	if (r < 0) {
		ck_batch_builder_abort(b);
		return r;
	}
	total = b->out->len - b->start;
	p = b->out->data + b->start;
	ck_be64_put(p + CK_BATCH_OFF_BASE_OFFSET, (uint64_t)b->opts.base_offset);
	ck_be32_put(p + CK_BATCH_OFF_LENGTH, (uint32_t)(total - CK_BATCH_LOG_OVERHEAD));
	ck_be32_put(p + CK_BATCH_OFF_LEADER_EPOCH, (uint32_t)b->opts.partition_leader_epoch);
	p[CK_BATCH_OFF_MAGIC] = CK_BATCH_MAGIC;
	ck_be16_put(p + CK_BATCH_OFF_ATTRIBUTES, (uint16_t)b->opts.attributes);
	ck_be32_put(p + CK_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(b->count - 1));
	ck_be64_put(p + CK_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)b->base_ts);
	ck_be64_put(p + CK_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)b->max_ts);
	ck_be64_put(p + CK_BATCH_OFF_PRODUCER_ID, (uint64_t)b->opts.producer_id);
	ck_be16_put(p + CK_BATCH_OFF_PRODUCER_EPOCH, (uint16_t)b->opts.producer_epoch);
	ck_be32_put(p + CK_BATCH_OFF_BASE_SEQUENCE, (uint32_t)b->opts.base_sequence);
	ck_be32_put(p + CK_BATCH_OFF_RECORDS_COUNT, (uint32_t)b->count);
	ck_batch_crc_update(p, total);
	if (ret_len)
		*ret_len = total;
	return 0;
}

int ck_batch_build(ck_buf_t *out, const ck_batch_opts_t *opts, const ck_batch_record_t *recs,
                   size_t n, size_t *ret_len)
{
	ck_batch_builder_t b;
	int r = ck_batch_builder_begin(&b, out, opts);

	if (r < 0) {
		ck_batch_builder_abort(&b);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		(void)ck_batch_builder_add(&b, &recs[i]);
	return ck_batch_builder_finish(&b, ret_len);
}

/* ---- record iterator ---- */

int ck_record_iter_init(ck_record_iter_t *it, const uint8_t *p, size_t len)
{
	int r;

	r = ck_batch_header_parse(p, len, &it->hdr);
	if (r < 0)
		return r;
	r = ck_batch_header_check(&it->hdr, 0);
	if (r < 0)
		return CK_E_CORRUPT;
	if (ck_batch_total_len(&it->hdr) != len)
		return CK_E_CORRUPT;
	if (it->hdr.attributes & CK_BATCH_ATTR_COMPRESSION_MASK)
		return -ENOTSUP;
	it->rest = ck_span(p + CK_BATCH_HEADER_LEN, len - CK_BATCH_HEADER_LEN);
	it->remaining = it->hdr.records_count;
	return 0;
}

void ck_record_iter_init_records(ck_record_iter_t *it, const ck_batch_header_t *hdr,
                                 const uint8_t *records, size_t len)
{
	it->hdr = *hdr;
	it->rest = ck_span(records, len);
	it->remaining = hdr->records_count;
}

/* A varint length then that many bytes; -1 is null. */
static int ck_record_bytes_get(ck_span_t *s, const uint8_t **ret_p, int32_t *ret_len)
{
	int32_t n;

	if (ck_span_varint32(s, &n) < 0 || n < -1)
		return CK_E_CORRUPT;
	if (n == -1) {
		*ret_p = NULL;
		*ret_len = -1;
		return 0;
	}
	if (ck_span_bytes(s, (size_t)n, ret_p) < 0)
		return CK_E_CORRUPT;
	*ret_len = n;
	return 0;
}

static int ck_record_body_parse(const ck_record_iter_t *it, ck_span_t *s, ck_record_t *ret)
{
	int64_t ts_delta;
	int32_t off_delta, hcount;
	uint8_t attrs;

	if (ck_span_u8(s, &attrs) < 0 || ck_span_varint64(s, &ts_delta) < 0 ||
	    ck_span_varint32(s, &off_delta) < 0)
		return CK_E_CORRUPT;
	if (off_delta < 0 || off_delta > it->hdr.last_offset_delta)
		return CK_E_CORRUPT;
	if (ck_record_bytes_get(s, &ret->key, &ret->key_len) < 0 ||
	    ck_record_bytes_get(s, &ret->value, &ret->value_len) < 0)
		return CK_E_CORRUPT;
	if (ck_span_varint32(s, &hcount) < 0 || hcount < 0)
		return CK_E_CORRUPT;
	ret->headers = *s;
	for (int32_t i = 0; i < hcount; i++) {
		ck_record_header_t h;
		if (ck_record_header_next(s, &h) != 1)
			return CK_E_CORRUPT;
	}
	if (s->len != 0)
		return CK_E_CORRUPT;
	ret->headers.len -= s->len;
	ret->header_count = (uint32_t)hcount;
	ret->attributes = attrs;
	ret->offset = it->hdr.base_offset + off_delta;
	if (it->hdr.attributes & CK_BATCH_ATTR_LOG_APPEND_TIME)
		ret->timestamp_ms = it->hdr.max_timestamp;
	else
		ret->timestamp_ms =
		    (int64_t)((uint64_t)it->hdr.base_timestamp + (uint64_t)ts_delta);
	return 0;
}

int ck_record_iter_next(ck_record_iter_t *it, ck_record_t *ret)
{
	ck_record_t rec;
	ck_span_t body;
	const uint8_t *p;
	int32_t len;

	/* A negative count (a hostile header not validated first) is corrupt,
	 * not a record count to count down from. */
	if (it->remaining <= 0)
		return it->remaining == 0 && it->rest.len == 0 ? 0 : CK_E_CORRUPT;
	if (ck_span_varint32(&it->rest, &len) < 0 || len < 1)
		return CK_E_CORRUPT;
	if (ck_span_bytes(&it->rest, (size_t)len, &p) < 0)
		return CK_E_CORRUPT;
	body = ck_span(p, (size_t)len);
	if (ck_record_body_parse(it, &body, &rec) < 0)
		return CK_E_CORRUPT;
	it->remaining--;
	*ret = rec;
	return 1;
}

int ck_record_header_next(ck_span_t *headers, ck_record_header_t *ret)
{
	ck_span_t s = *headers;
	const uint8_t *key, *val;
	int32_t key_len, val_len;

	if (s.len == 0)
		return 0;
	if (ck_record_bytes_get(&s, &key, &key_len) < 0 || key_len < 0)
		return CK_E_CORRUPT;
	if (ck_record_bytes_get(&s, &val, &val_len) < 0)
		return CK_E_CORRUPT;
	ret->key = (const char *)key;
	ret->key_len = (size_t)key_len;
	ret->value = val;
	ret->value_len = val_len;
	*headers = s;
	return 1;
}
