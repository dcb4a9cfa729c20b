/*
 * ck_buf.c: growable buffers and bounds-checked span readers (ck_buf.h).
 * Pure code: no I/O. Every read checks the remaining length first.
 */
#include "ck_buf.h"
#include "ck_err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ck_buf_init(ck_buf_t *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = 0;
}

void ck_buf_free(ck_buf_t *b)
{
	free(b->data);
	ck_buf_init(b);
}

int ck_buf_reserve(ck_buf_t *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	if (b->max && need > b->max)
		return CK_E_TOO_LARGE;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->max && cap > b->max)
		cap = b->max;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int ck_buf_append(ck_buf_t *b, const void *data, size_t len)
{
	int r = ck_buf_reserve(b, len);
	if (r < 0)
		return r;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

uint8_t *ck_buf_extend(ck_buf_t *b, size_t len)
{
	uint8_t *p;

	if (ck_buf_reserve(b, len) < 0)
		return NULL;
	p = b->data + b->len;
	b->len += len;
	return p;
}

int ck_span_skip(ck_span_t *s, size_t n)
{
	if (s->len < n)
		return -EMSGSIZE;
	s->p += n;
	s->len -= n;
	return 0;
}

int ck_span_bytes(ck_span_t *s, size_t n, const uint8_t **ret)
{
	if (s->len < n)
		return -EMSGSIZE;
	*ret = s->p;
	s->p += n;
	s->len -= n;
	return 0;
}

int ck_span_u8(ck_span_t *s, uint8_t *ret)
{
	if (s->len < 1)
		return -EMSGSIZE;
	*ret = s->p[0];
	return ck_span_skip(s, 1);
}

int ck_span_be16(ck_span_t *s, uint16_t *ret)
{
	if (s->len < 2)
		return -EMSGSIZE;
	*ret = ck_be16_get(s->p);
	return ck_span_skip(s, 2);
}

int ck_span_be32(ck_span_t *s, uint32_t *ret)
{
	if (s->len < 4)
		return -EMSGSIZE;
	*ret = ck_be32_get(s->p);
	return ck_span_skip(s, 4);
}

int ck_span_be64(ck_span_t *s, uint64_t *ret)
{
	if (s->len < 8)
		return -EMSGSIZE;
	*ret = ck_be64_get(s->p);
	return ck_span_skip(s, 8);
}

static int ck_span_uvarint(ck_span_t *s, unsigned max_bytes, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < max_bytes; i++) {
		if (i >= s->len)
			return -EMSGSIZE;
		/* The 10th byte of a u64 holds bit 63 only. */
		if (i == 9 && s->p[i] > 1)
			return -EBADMSG;
		v |= (uint64_t)(s->p[i] & 0x7f) << (7 * i);
		if (!(s->p[i] & 0x80)) {
			s->p += i + 1;
			s->len -= i + 1;
			*ret = v;
			return 0;
		}
	}
	return -EBADMSG;
}

int ck_span_uvarint32(ck_span_t *s, uint32_t *ret)
{
	uint64_t v;
	ck_span_t save = *s;
	int r = ck_span_uvarint(s, 5, &v);

	if (r < 0)
		return r;
	if (v > UINT32_MAX) {
		*s = save;
		return -EBADMSG;
	}
	*ret = (uint32_t)v;
	return 0;
}

int ck_span_uvarint64(ck_span_t *s, uint64_t *ret)
{
	return ck_span_uvarint(s, 10, ret);
}

int ck_span_varint32(ck_span_t *s, int32_t *ret)
{
	uint32_t u;
	int r = ck_span_uvarint32(s, &u);

	if (r < 0)
		return r;
	*ret = (int32_t)((u >> 1) ^ (~(u & 1) + 1));
	return 0;
}

int ck_span_varint64(ck_span_t *s, int64_t *ret)
{
	uint64_t u;
	int r = ck_span_uvarint64(s, &u);

	if (r < 0)
		return r;
	*ret = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
	return 0;
}

size_t ck_uvarint64_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t ck_varint64_put(uint8_t *p, int64_t v)
{
	return ck_uvarint64_put(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
