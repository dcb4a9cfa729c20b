/*
 * kfk_wire.c: the out-of-line Kafka wire primitives (kfk_wire.h).
 *
 * Owned by kafka-frontend. Pure code: no I/O, no logging. Strings, bytes and
 * counts are validated against the remaining input before anything is
 * borrowed or allocated; tagged-field entries must ascend strictly by tag
 * (KIP-482), which also makes re-encoding of kept raw entries byte-identical.
 */
#include "kfk_wire.h"

/* Length prefix of a string, bytes or array: int16/int32, or compact
 * (uvarint N+1, 0 = null). Returns -1 for null, -2 on error (recorded). */
static int64_t rd_len(kfk_rd_t *r, bool compact, bool wide, bool nullable)
{
	int64_t n;

	if (compact)
		n = (int64_t)kfk_rd_uvarint(r) - 1;
	else if (wide)
		n = kfk_rd_i32(r);
	else
		n = kfk_rd_i16(r);
	if (r->err)
		return -2;
	if (n < -1 || (n == -1 && !nullable)) {
		kfk_rd_fail(r, CK_E_PROTO);
		return -2;
	}
	return n;
}

kfk_str_t kfk_rd_str(kfk_rd_t *r, bool compact, bool nullable)
{
	kfk_str_t s = {NULL, 0};
	int64_t n = rd_len(r, compact, false, nullable);
	const uint8_t *p;

	if (n == -1)
		s.len = -1;
	if (n <= 0)
		return s;
	if (n > KFK_STRING_LEN_MAX) {
		kfk_rd_fail(r, CK_E_PROTO);
		return s;
	}
	p = kfk_rd_take(r, (size_t)n);
	if (p) {
		s.ptr = (const char *)p;
		s.len = (int32_t)n;
	}
	return s;
}

kfk_bytes_t kfk_rd_bytes(kfk_rd_t *r, bool compact, bool nullable)
{
	kfk_bytes_t b = {NULL, 0};
	int64_t n = rd_len(r, compact, true, nullable);
	const uint8_t *p;

	if (n == -1)
		b.len = -1;
	if (n <= 0)
		return b;
	p = kfk_rd_take(r, (size_t)n);
	if (p) {
		b.ptr = p;
		b.len = (int32_t)n;
	}
	return b;
}

int32_t kfk_rd_count(kfk_rd_t *r, bool compact, bool nullable, size_t min_elem_bytes)
{
	int64_t n = rd_len(r, compact, true, nullable);

	if (n < 0)
		return n == -1 ? -1 : 0;
	if (n > INT32_MAX || (uint64_t)n > r->len / (min_elem_bytes ? min_elem_bytes : 1)) {
		kfk_rd_fail(r, CK_E_PROTO);
		return 0;
	}
	return (int32_t)n;
}

void *kfk_rd_alloc(kfk_rd_t *r, size_t count, size_t size)
{
	void *p = NULL;
	int err;

	if (!r->arena) {
		kfk_rd_fail(r, CK_E_INVALID);
		return NULL;
	}
	err = kfk_arena_alloc(r->arena, count, size, &p);
	if (err < 0) {
		kfk_rd_fail(r, err);
		return NULL;
	}
	return p;
}

uint32_t kfk_rd_tags_begin(kfk_rd_t *r)
{
	uint32_t n = kfk_rd_uvarint(r);

	/* Every entry takes at least a tag byte and a size byte. */
	if (n > r->len / 2) {
		kfk_rd_fail(r, CK_E_PROTO);
		return 0;
	}
	return n;
}

bool kfk_rd_tag_next(kfk_rd_t *r, int64_t *prev_tag, uint32_t *ret_tag, kfk_rd_t *ret_sub)
{
	uint32_t tag = kfk_rd_uvarint(r);
	uint32_t size = kfk_rd_uvarint(r);

	if (r->err)
		return false;
	if ((int64_t)tag <= *prev_tag || size > r->len) {
		kfk_rd_fail(r, CK_E_PROTO);
		return false;
	}
	*prev_tag = tag;
	*ret_tag = tag;
	*ret_sub = *r;
	ret_sub->len = size;
	r->p += size;
	r->len -= size;
	return true;
}

void kfk_rd_tag_done(kfk_rd_t *r, const kfk_rd_t *sub)
{
	if (sub->err)
		kfk_rd_fail(r, sub->err);
	else if (sub->len)
		kfk_rd_fail(r, CK_E_PROTO);
}

void kfk_rd_tag_keep(kfk_rd_t *r, kfk_raw_tags_t *tags, uint32_t entries_left, uint32_t tag,
		     const kfk_rd_t *sub)
{
	kfk_raw_tag_t *t;

	/* The first kept entry sizes the array for every entry still to come,
	 * a count already checked against the remaining bytes. */
	if (!tags->items) {
		tags->items = kfk_rd_alloc(r, entries_left, sizeof(*tags->items));
		if (!tags->items)
			return;
		tags->count = 0;
	}
	t = &tags->items[tags->count++];
	t->tag = tag;
	t->len = (uint32_t)sub->len;
	t->ptr = sub->p;
}

void kfk_rd_tags(kfk_rd_t *r, kfk_raw_tags_t *tags)
{
	uint32_t n = kfk_rd_tags_begin(r), i, tag;
	int64_t prev = -1;
	kfk_rd_t sub;

	for (i = 0; i < n; i++) {
		if (!kfk_rd_tag_next(r, &prev, &tag, &sub))
			return;
		kfk_rd_tag_keep(r, tags, n - i, tag, &sub);
	}
}

/* Writes a length prefix; false (error recorded) when LEN is not allowed. */
static bool wr_len(kfk_wr_t *w, int64_t len, bool compact, bool wide, bool nullable)
{
	if (len < -1 || (len == -1 && !nullable) || len > INT32_MAX - 1) {
		kfk_wr_fail(w, CK_E_INVALID);
		return false;
	}
	if (compact)
		kfk_wr_uvarint(w, (uint32_t)(len + 1));
	else if (wide)
		kfk_wr_i32(w, (int32_t)len);
	else
		kfk_wr_i16(w, (int16_t)len);
	return true;
}

void kfk_wr_str(kfk_wr_t *w, kfk_str_t s, bool compact, bool nullable)
{
	uint8_t *p;

	if (s.len > KFK_STRING_LEN_MAX || (s.len > 0 && !s.ptr)) {
		kfk_wr_fail(w, CK_E_INVALID);
		return;
	}
	if (!wr_len(w, s.len, compact, false, nullable) || s.len <= 0)
		return;
	p = kfk_wr_room(w, (size_t)s.len);
	if (p)
		memcpy(p, s.ptr, (size_t)s.len);
}

void kfk_wr_bytes(kfk_wr_t *w, kfk_bytes_t b, bool compact, bool nullable)
{
	uint8_t *p;

	if (b.len > 0 && !b.ptr) {
		kfk_wr_fail(w, CK_E_INVALID);
		return;
	}
	if (!wr_len(w, b.len, compact, true, nullable) || b.len <= 0)
		return;
	p = kfk_wr_room(w, (size_t)b.len);
	if (p)
		memcpy(p, b.ptr, (size_t)b.len);
}

bool kfk_wr_count(kfk_wr_t *w, int32_t count, const void *items, bool compact, bool nullable)
{
	if (count > 0 && !items) {
		kfk_wr_fail(w, CK_E_INVALID);
		return false;
	}
	return wr_len(w, count, compact, true, nullable) && !w->err;
}

size_t kfk_wr_tag_begin(kfk_wr_t *w, uint32_t tag)
{
	kfk_wr_uvarint(w, tag);
	return w->b->len;
}

void kfk_wr_tag_end(kfk_wr_t *w, size_t start)
{
	size_t size, k = 0;
	uint8_t tmp[5];
	uint32_t v;

	if (w->err)
		return;
	size = w->b->len - start;
	if (size > UINT32_MAX) {
		kfk_wr_fail(w, CK_E_INVALID);
		return;
	}
	v = (uint32_t)size;
	while (v >= 0x80) {
		tmp[k++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[k++] = (uint8_t)v;
	if (!kfk_wr_room(w, k))
		return;
	memmove(w->b->data + start + k, w->b->data + start, size);
	memcpy(w->b->data + start, tmp, k);
}

int32_t kfk_wr_tags_raw_below(kfk_wr_t *w, const kfk_raw_tags_t *tags, int32_t next,
			      uint64_t below_tag)
{
	uint8_t *p;

	for (; next < tags->count && tags->items[next].tag < below_tag; next++) {
		const kfk_raw_tag_t *t = &tags->items[next];
		kfk_wr_uvarint(w, t->tag);
		kfk_wr_uvarint(w, t->len);
		if (!t->len)
			continue;
		if (!t->ptr) {
			kfk_wr_fail(w, CK_E_INVALID);
			return tags->count;
		}
		p = kfk_wr_room(w, t->len);
		if (p)
			memcpy(p, t->ptr, t->len);
	}
	return next;
}
