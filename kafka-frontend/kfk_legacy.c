/*
 * kfk_legacy.c: message formats v0/v1 to and from RecordBatch v2
 * (kfk_legacy.h).
 *
 * Owned by kafka-frontend (pure). Every length of a message set coming in
 * is checked against what remains before it is used; the CRC of each
 * message is checked before its fields are trusted.
 */
#include "kfk_legacy.h"

#include <errno.h>
#include <string.h>

#include <zlib.h>

#include "ck_batch.h"
#include "ck_err.h"
#include "kfk_compress.h"
#include "kfk_decompress.h"

#define KFK_LEGACY_MAGIC_OFF            16
#define KFK_LEGACY_ATTR_CODEC           0x07
#define KFK_LEGACY_ATTR_LOG_APPEND_TIME 0x08
/* crc, magic, attributes, key length, value length */
#define KFK_LEGACY_V0_MIN 14
/* ... and a timestamp */
#define KFK_LEGACY_V1_MIN 22
/* No timestamp given by a wrapper. */
#define KFK_LEGACY_TS_OWN INT64_MIN

int kfk_legacy_is(const uint8_t *p, size_t len)
{
	return len > KFK_LEGACY_MAGIC_OFF &&
	       (p[KFK_LEGACY_MAGIC_OFF] == 0 || p[KFK_LEGACY_MAGIC_OFF] == 1);
}

static uint32_t kfk_crc32(const uint8_t *p, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)crc;
}

/* XXH32 of LEN < 16 bytes, seed 0: what an LZ4 frame's header checksum
 * is taken from (the short-input path of the xxHash specification). */
static uint32_t kfk_xxh32_short(const uint8_t *p, size_t len)
{
	const uint32_t p1 = 2654435761u, p2 = 2246822519u, p3 = 3266489917u, p4 = 668265263u,
	               p5 = 374761393u;
	uint32_t h = p5 + (uint32_t)len;

	for (; len >= 4; p += 4, len -= 4) {
		h += ck_le32_get(p) * p3;
		h = ((h << 17) | (h >> 15)) * p4;
	}
	for (; len > 0; p++, len--) {
		h += *p * p5;
		h = ((h << 11) | (h >> 21)) * p1;
	}
	h ^= h >> 15;
	h *= p2;
	h ^= h >> 13;
	h *= p3;
	h ^= h >> 16;
	return h;
}

/* Kafka clients of magic 0 wrote the LZ4 frame's header checksum over the
 * frame's magic number too (KAFKA-3160); Kafka accepts that for magic 0.
 * Rewrites it in the LEN-byte frame at P as the LZ4 format has it. */
static void kfk_lz4_hc_fix(uint8_t *p, size_t len)
{
	size_t hc;

	if (len < 7 || ck_le32_get(p) != 0x184D2204u)
		return;
	hc = 6 + ((p[4] & 0x08) ? 8 : 0) + ((p[4] & 0x01) ? 4 : 0);
	if (hc < len)
		p[hc] = (uint8_t)(kfk_xxh32_short(p + 4, hc - 4) >> 8);
}

/* One bytes field (i32 length, -1 null) at M + *Q of a SIZE-byte message. */
static int kfk_lg_bytes(const uint8_t *m, size_t size, size_t *q, const uint8_t **ret,
                        size_t *ret_len)
{
	int32_t n;

	if (size - *q < 4)
		return CK_E_CORRUPT;
	n = (int32_t)ck_be32_get(m + *q);
	*q += 4;
	if (n < -1 || (n > 0 && (size_t)n > size - *q))
		return CK_E_CORRUPT;
	*ret = n < 0 ? NULL : m + *q;
	*ret_len = n < 0 ? 0 : (size_t)n;
	*q += *ret_len;
	return 0;
}

/* What the top-level messages of a set are: none yet, all plain, all
 * wrappers of one codec (1-3), or a mix. */
#define KFK_LG_NONE  0
#define KFK_LG_PLAIN (-1)
#define KFK_LG_MIXED (-2)

static void kfk_lg_seen(int *codecs, int codec)
{
	int now = codec ? codec : KFK_LG_PLAIN;

	if (*codecs == KFK_LG_NONE)
		*codecs = now;
	else if (*codecs != now)
		*codecs = KFK_LG_MIXED;
}

/* Adds every message of the LEN-byte set at IN to B; DEPTH 1 inside a
 * compressed wrapper of magic WRAPPER_MAGIC, whose timestamp WRAPPER_TS
 * replaces the inner ones unless it is KFK_LEGACY_TS_OWN; *CODECS tells
 * what the top level held. Returns the records added or an error. */
static int kfk_lg_parse(const uint8_t *in, size_t len, int depth, int wrapper_magic,
                        int64_t wrapper_ts, size_t max, ck_batch_builder_t *b, int *codecs)
{
	size_t pos = 0;
	int count = 0;

	if (len == 0)
		return CK_E_CORRUPT;
	while (pos < len) {
		const uint8_t *m, *key, *value;
		size_t size, key_len, value_len, q;
		int64_t ts = CK_BATCH_NO_TIMESTAMP;
		int32_t size_field;
		uint8_t magic, attr;
		int r;

		if (len - pos < KFK_LEGACY_LOG_OVERHEAD)
			return CK_E_CORRUPT;
		size_field = (int32_t)ck_be32_get(in + pos + 8);
		if (size_field < KFK_LEGACY_V0_MIN ||
		    (size_t)size_field > len - pos - KFK_LEGACY_LOG_OVERHEAD)
			return CK_E_CORRUPT;
		size = (size_t)size_field;
		m = in + pos + KFK_LEGACY_LOG_OVERHEAD;
		if (kfk_crc32(m + 4, size - 4) != ck_be32_get(m))
			return CK_E_CORRUPT;
		magic = m[4];
		attr = m[5];
		q = 6;
		if (magic > 1 || (magic == 1 && size < KFK_LEGACY_V1_MIN))
			return CK_E_CORRUPT;
		/* Kafka: "Log record magic does not match outer magic". */
		if (depth > 0 && magic != wrapper_magic)
			return CK_E_INVALID;
		if (magic == 1) {
			ts = (int64_t)ck_be64_get(m + 6);
			q = 14;
		}
		if (wrapper_ts != KFK_LEGACY_TS_OWN)
			ts = wrapper_ts;
		r = kfk_lg_bytes(m, size, &q, &key, &key_len);
		if (r == 0)
			r = kfk_lg_bytes(m, size, &q, &value, &value_len);
		if (r < 0 || q != size)
			return CK_E_CORRUPT;
		if (depth == 0)
			kfk_lg_seen(codecs, attr & KFK_LEGACY_ATTR_CODEC);
		if ((attr & KFK_LEGACY_ATTR_CODEC) == 0) {
			ck_batch_record_t rec = {key, key_len, value, value_len, ts, NULL, 0};

			r = ck_batch_builder_add(b, &rec);
			if (r < 0)
				return r;
			if (b->out->len - b->start > max)
				return CK_E_TOO_LARGE;
			count++;
		} else {
			int codec = attr & KFK_LEGACY_ATTR_CODEC;
			ck_buf_t inner = CK_BUF_INIT;

			/* Kafka's v0/v1 codecs are gzip, snappy and lz4; a wrapper
			 * holds plain messages only. */
			if (depth > 0 || codec > 3 || !value)
				return CK_E_CORRUPT;
			if (magic == 0 && codec == 3) {
				ck_buf_t fixed = CK_BUF_INIT;

				r = ck_buf_append(&fixed, value, value_len);
				if (r == 0) {
					kfk_lz4_hc_fix(fixed.data, fixed.len);
					r = kfk_decompress(codec, fixed.data, fixed.len, max,
					                   &inner);
				}
				ck_buf_free(&fixed);
			} else {
				r = kfk_decompress(codec, value, value_len, max, &inner);
			}
			if (r == 0)
				r = kfk_lg_parse(inner.data, inner.len, 1, magic,
				                 magic == 1 &&
				                         (attr & KFK_LEGACY_ATTR_LOG_APPEND_TIME)
				                     ? ts
				                     : KFK_LEGACY_TS_OWN,
				                 max, b, codecs);
			ck_buf_free(&inner);
			if (r < 0)
				return r;
			count += r;
		}
		pos += KFK_LEGACY_LOG_OVERHEAD + size;
	}
	return count;
}

/* The records of the uncompressed batch at OUT's START compressed with
 * CODEC, in place: length, attributes and CRC follow. */
static int kfk_lg_recompress(ck_buf_t *out, size_t start, int codec)
{
	size_t recs = start + CK_BATCH_HEADER_LEN;
	ck_buf_t z = CK_BUF_INIT;
	uint8_t *p;
	int r = kfk_compress(codec, out->data + recs, out->len - recs, &z);

	if (r == 0 && CK_BATCH_HEADER_LEN + z.len - CK_BATCH_LOG_OVERHEAD > INT32_MAX)
		r = CK_E_TOO_LARGE;
	if (r == 0) {
		out->len = recs;
		r = ck_buf_append(out, z.data, z.len);
	}
	ck_buf_free(&z);
	if (r < 0)
		return r;
	p = out->data + start;
	ck_be32_put(p + CK_BATCH_OFF_LENGTH, (uint32_t)(out->len - start - CK_BATCH_LOG_OVERHEAD));
	ck_be16_put(p + CK_BATCH_OFF_ATTRIBUTES,
	            (uint16_t)(ck_be16_get(p + CK_BATCH_OFF_ATTRIBUTES) | (uint16_t)codec));
	ck_batch_crc_update(p, out->len - start);
	return 0;
}

int kfk_legacy_to_batch(const uint8_t *in, size_t len, size_t max, ck_buf_t *out)
{
	ck_batch_builder_t b;
	size_t start = out->len;
	int r = ck_batch_builder_begin(&b, out, NULL);
	int n, codecs = KFK_LG_NONE;

	if (r < 0)
		return r;
	n = kfk_lg_parse(in, len, 0, -1, KFK_LEGACY_TS_OWN, max, &b, &codecs);
	if (n <= 0) {
		ck_batch_builder_abort(&b);
		return n < 0 ? n : CK_E_CORRUPT;
	}
	r = ck_batch_builder_finish(&b, NULL);
	/* Wrappers of one codec: the batch keeps it, as Kafka keeps the
	 * producer's codec. */
	if (r == 0 && codecs > 0)
		r = kfk_lg_recompress(out, start, codecs);
	if (r < 0)
		out->len = start;
	return r < 0 ? r : n;
}

/* Appends one message of MAGIC for REC at OFFSET to OUT. */
static int kfk_lg_emit(ck_buf_t *out, int magic, bool log_append_time, const ck_record_t *rec)
{
	size_t key_len = rec->key_len < 0 ? 0 : (size_t)rec->key_len;
	size_t value_len = rec->value_len < 0 ? 0 : (size_t)rec->value_len;
	size_t size = KFK_LEGACY_V0_MIN + (magic == 1 ? 8 : 0) + key_len + value_len;
	uint8_t *p, *m;
	size_t q;

	if (size > INT32_MAX)
		return CK_E_TOO_LARGE;
	p = ck_buf_extend(out, KFK_LEGACY_LOG_OVERHEAD + size);
	if (!p)
		return -ENOMEM;
	ck_be64_put(p, (uint64_t)rec->offset);
	ck_be32_put(p + 8, (uint32_t)size);
	m = p + KFK_LEGACY_LOG_OVERHEAD;
	m[4] = (uint8_t)magic;
	m[5] = magic == 1 && log_append_time ? KFK_LEGACY_ATTR_LOG_APPEND_TIME : 0;
	q = 6;
	if (magic == 1) {
		ck_be64_put(m + q, (uint64_t)rec->timestamp_ms);
		q += 8;
	}
	ck_be32_put(m + q, (uint32_t)rec->key_len);
	q += 4;
	if (key_len)
		memcpy(m + q, rec->key, key_len);
	q += key_len;
	ck_be32_put(m + q, (uint32_t)rec->value_len);
	q += 4;
	if (value_len)
		memcpy(m + q, rec->value, value_len);
	ck_be32_put(m, kfk_crc32(m + 4, size - 4));
	return 0;
}

/* The records of the TOTAL-byte batch at P (header H) from offset FROM
 * on, as messages of MAGIC appended to OUT, until OUT holds FULL bytes
 * (and one message); DEC is scratch. */
static int kfk_lg_batch(const uint8_t *p, size_t total, const ck_batch_header_t *h, int magic,
                        int64_t from, size_t full, ck_buf_t *dec, ck_buf_t *out)
{
	bool lat = (h->attributes & CK_BATCH_ATTR_LOG_APPEND_TIME) != 0;
	int codec = h->attributes & CK_BATCH_ATTR_COMPRESSION_MASK;
	ck_record_iter_t it;
	ck_record_t rec;
	int r;

	if (codec == 0) {
		r = ck_record_iter_init(&it, p, total);
		if (r < 0)
			return CK_E_CORRUPT;
	} else {
		ck_buf_reset(dec);
		r = kfk_decompress(codec, p + CK_BATCH_HEADER_LEN, total - CK_BATCH_HEADER_LEN,
		                   KFK_DECOMPRESS_MAX, dec);
		if (r < 0)
			return r;
		ck_record_iter_init_records(&it, h, dec->data, dec->len);
	}
	while ((r = ck_record_iter_next(&it, &rec)) == 1) {
		if (rec.offset < from)
			continue;
		if (out->len >= full)
			return 0; /* the rest in the next fetch */
		r = kfk_lg_emit(out, magic, lat, &rec);
		if (r < 0)
			return r;
	}
	return r < 0 ? CK_E_CORRUPT : 0;
}

int kfk_legacy_from_batches(const uint8_t *in, size_t len, int magic, int64_t from, size_t max,
                            ck_buf_t *out)
{
	ck_buf_t dec = CK_BUF_INIT;
	size_t pos = 0, start = out->len;
	int r = 0;

	while (r == 0 && len - pos >= CK_BATCH_HEADER_LEN) {
		ck_batch_header_t h;
		size_t total, before = out->len;

		if (out->len > start && out->len - start >= max)
			break;
		if (ck_batch_size_peek(in + pos, len - pos, 0, &total) < 0 || total > len - pos ||
		    total < CK_BATCH_HEADER_LEN)
			break; /* cut off by the read's end */
		(void)ck_batch_header_parse(in + pos, len - pos, &h);
		if (h.magic != CK_BATCH_MAGIC) {
			r = CK_E_CORRUPT;
			break;
		}
		if (!(h.attributes & CK_BATCH_ATTR_CONTROL))
			r = kfk_lg_batch(in + pos, total, &h, magic, from,
			                 start + (max > 0 ? max : 1), &dec, out);
		if (r < 0)
			out->len = before;
		pos += total;
	}
	ck_buf_free(&dec);
	return r;
}
