/*
 * kfk_wire.h: Kafka wire primitives behind the generated codec.
 *
 * Owned by kafka-frontend. Internal to kafka-frontend/protocol: only the
 * generated kfk_msgs_*.c files (and white-box tests) include it.
 *
 * kfk_rd_t reads hostile bytes with a sticky error: the first failure records
 * its code and empties the reader, so every later read fails cheaply and
 * returns zero values, and generated code checks the error once per struct or
 * loop instead of once per field. Every length, count and varint is checked
 * against the bytes that remain BEFORE anything is borrowed or allocated; a
 * count is rejected when the remaining bytes cannot hold that many elements of
 * the element's minimal wire size.
 *
 * kfk_wr_t appends big-endian to a ck_buf_t with the same sticky error
 * (-ENOMEM, or CK_E_INVALID for values the wire cannot carry: strings over
 * 32767 bytes, null where the version does not allow null).
 */
#ifndef KFK_WIRE_H
#define KFK_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "kfk_arena.h"
#include "kfk_types.h"

#define KFK_STRING_LEN_MAX 0x7fff

typedef struct {
	const uint8_t *p;
	size_t len;
	int err;       /* first error, 0 while all is well */
	int16_t v;     /* message version */
	bool flex;     /* the version is flexible */
	kfk_arena_t *arena;
} kfk_rd_t;

typedef struct {
	ck_buf_t *b;
	int err;
	int16_t v;
	bool flex;
} kfk_wr_t;

static inline void kfk_rd_fail(kfk_rd_t *r, int err)
{
	if (!r->err)
		r->err = err;
	r->len = 0;
}

static inline const uint8_t *kfk_rd_take(kfk_rd_t *r, size_t n)
{
	const uint8_t *p = r->p;

	if (__builtin_expect(r->len < n, 0)) {
		kfk_rd_fail(r, CK_E_PROTO);
		return NULL;
	}
	r->p += n;
	r->len -= n;
	return p;
}

static inline int8_t kfk_rd_i8(kfk_rd_t *r)
{
	const uint8_t *p = kfk_rd_take(r, 1);
	return p ? (int8_t)p[0] : 0;
}

static inline bool kfk_rd_bool(kfk_rd_t *r)
{
	const uint8_t *p = kfk_rd_take(r, 1);
	return p ? p[0] != 0 : false;
}

static inline uint16_t kfk_rd_u16(kfk_rd_t *r)
{
	const uint8_t *p = kfk_rd_take(r, 2);
	return p ? ck_be16_get(p) : 0;
}

static inline uint32_t kfk_rd_u32(kfk_rd_t *r)
{
	const uint8_t *p = kfk_rd_take(r, 4);
	return p ? ck_be32_get(p) : 0;
}

static inline uint64_t kfk_rd_u64(kfk_rd_t *r)
{
	const uint8_t *p = kfk_rd_take(r, 8);
	return p ? ck_be64_get(p) : 0;
}

static inline int16_t kfk_rd_i16(kfk_rd_t *r) { return (int16_t)kfk_rd_u16(r); }
static inline int32_t kfk_rd_i32(kfk_rd_t *r) { return (int32_t)kfk_rd_u32(r); }
static inline int64_t kfk_rd_i64(kfk_rd_t *r) { return (int64_t)kfk_rd_u64(r); }

static inline double kfk_rd_f64(kfk_rd_t *r)
{
	uint64_t u = kfk_rd_u64(r);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static inline void kfk_rd_uuid(kfk_rd_t *r, uint8_t out[16])
{
	const uint8_t *p = kfk_rd_take(r, 16);

	if (p)
		memcpy(out, p, 16);
	else
		memset(out, 0, 16);
}

/* Unsigned varint of at most 5 bytes whose value fits 32 bits. */
static inline uint32_t kfk_rd_uvarint(kfk_rd_t *r)
{
	uint32_t v = 0;
	size_t i;

	for (i = 0; i < 5 && i < r->len; i++) {
		uint8_t b = r->p[i];
		if (i == 4 && b > 0x0f)
			break;
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			r->p += i + 1;
			r->len -= i + 1;
			return v;
		}
	}
	kfk_rd_fail(r, CK_E_PROTO);
	return 0;
}

kfk_str_t kfk_rd_str(kfk_rd_t *r, bool compact, bool nullable);
kfk_bytes_t kfk_rd_bytes(kfk_rd_t *r, bool compact, bool nullable);
/* Array count: -1 for null (only when NULLABLE), else 0..N where N elements of
 * MIN_ELEM_BYTES (>= 1) still fit in what remains. 0 on error. */
int32_t kfk_rd_count(kfk_rd_t *r, bool compact, bool nullable, size_t min_elem_bytes);
/* COUNT elements of SIZE bytes from the arena; NULL (error recorded) when
 * the arena refuses. */
void *kfk_rd_alloc(kfk_rd_t *r, size_t count, size_t size);

/* Tagged-field section: kfk_rd_tags_begin() reads the entry count;
 * kfk_rd_tag_next() reads one entry's tag and size, checks that tags ascend,
 * and splits the payload off into *RET_SUB (a reader of exactly that many
 * bytes). A known field is decoded from the sub-reader and closed with
 * kfk_rd_tag_done(), which requires it to be consumed exactly; any other entry
 * is kept raw with kfk_rd_tag_keep(). kfk_rd_tags() does all of it for a
 * struct without known tagged fields. */
uint32_t kfk_rd_tags_begin(kfk_rd_t *r);
bool kfk_rd_tag_next(kfk_rd_t *r, int64_t *prev_tag, uint32_t *ret_tag, kfk_rd_t *ret_sub);
void kfk_rd_tag_done(kfk_rd_t *r, const kfk_rd_t *sub);
void kfk_rd_tag_keep(kfk_rd_t *r, kfk_raw_tags_t *tags, uint32_t entries_left, uint32_t tag,
		     const kfk_rd_t *sub);
void kfk_rd_tags(kfk_rd_t *r, kfk_raw_tags_t *tags);

static inline uint8_t *kfk_wr_room(kfk_wr_t *w, size_t n)
{
	uint8_t *p;
	int e;

	if (w->err)
		return NULL;
	e = ck_buf_reserve(w->b, n);
	if (e < 0) {
		w->err = e; /* -ENOMEM, or CK_E_TOO_LARGE past the buffer's max */
		return NULL;
	}
	p = w->b->data + w->b->len;
	w->b->len += n;
	return p;
}

static inline void kfk_wr_fail(kfk_wr_t *w, int err)
{
	if (!w->err)
		w->err = err;
}

static inline void kfk_wr_i8(kfk_wr_t *w, int8_t v)
{
	uint8_t *p = kfk_wr_room(w, 1);
	if (p)
		p[0] = (uint8_t)v;
}

static inline void kfk_wr_bool(kfk_wr_t *w, bool v) { kfk_wr_i8(w, v ? 1 : 0); }

static inline void kfk_wr_u16(kfk_wr_t *w, uint16_t v)
{
	uint8_t *p = kfk_wr_room(w, 2);
	if (p)
		ck_be16_put(p, v);
}

static inline void kfk_wr_u32(kfk_wr_t *w, uint32_t v)
{
	uint8_t *p = kfk_wr_room(w, 4);
	if (p)
		ck_be32_put(p, v);
}

static inline void kfk_wr_u64(kfk_wr_t *w, uint64_t v)
{
	uint8_t *p = kfk_wr_room(w, 8);
	if (p)
		ck_be64_put(p, v);
}

static inline void kfk_wr_i16(kfk_wr_t *w, int16_t v) { kfk_wr_u16(w, (uint16_t)v); }
static inline void kfk_wr_i32(kfk_wr_t *w, int32_t v) { kfk_wr_u32(w, (uint32_t)v); }
static inline void kfk_wr_i64(kfk_wr_t *w, int64_t v) { kfk_wr_u64(w, (uint64_t)v); }

static inline void kfk_wr_f64(kfk_wr_t *w, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	kfk_wr_u64(w, u);
}

static inline bool kfk_uuid_is_zero(const uint8_t u[16])
{
	static const uint8_t zero[16];

	return memcmp(u, zero, 16) == 0;
}

static inline void kfk_wr_uuid(kfk_wr_t *w, const uint8_t v[16])
{
	uint8_t *p = kfk_wr_room(w, 16);
	if (p)
		memcpy(p, v, 16);
}

static inline void kfk_wr_uvarint(kfk_wr_t *w, uint32_t v)
{
	uint8_t tmp[5];
	size_t n = 0;
	uint8_t *p;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	p = kfk_wr_room(w, n);
	if (p)
		memcpy(p, tmp, n);
}

void kfk_wr_str(kfk_wr_t *w, kfk_str_t s, bool compact, bool nullable);
void kfk_wr_bytes(kfk_wr_t *w, kfk_bytes_t b, bool compact, bool nullable);
/* Writes an array count (COUNT -1 = null). Returns false when the count is
 * invalid for the version (error recorded): then write no elements. */
bool kfk_wr_count(kfk_wr_t *w, int32_t count, const void *items, bool compact, bool nullable);

/* Tagged-field section: write the entry count, then for each entry in
 * ascending tag order either a known field framed by kfk_wr_tag_begin() /
 * kfk_wr_tag_end() (which inserts the payload size), or the kept raw entries
 * below a tag with kfk_wr_tags_raw_below(). */
size_t kfk_wr_tag_begin(kfk_wr_t *w, uint32_t tag);
void kfk_wr_tag_end(kfk_wr_t *w, size_t start);
int32_t kfk_wr_tags_raw_below(kfk_wr_t *w, const kfk_raw_tags_t *tags, int32_t next,
			      uint64_t below_tag);

/* Reader/writer set-up and the final error for the public wrappers. */
static inline void kfk_rd_init(kfk_rd_t *r, const ck_span_t *in, int16_t v, bool flex,
			       kfk_arena_t *arena)
{
	r->p = in->p;
	r->len = in->len;
	r->err = 0;
	r->v = v;
	r->flex = flex;
	r->arena = arena;
}

static inline void kfk_wr_init(kfk_wr_t *w, ck_buf_t *b, int16_t v, bool flex)
{
	w->b = b;
	w->err = 0;
	w->v = v;
	w->flex = flex;
}

/* On error, drops whatever the failed encode appended after START. */
static inline int kfk_wr_finish(kfk_wr_t *w, size_t start)
{
	if (w->err) {
		if (w->b->len > start)
			w->b->len = start;
		return w->err;
	}
	return 0;
}

#endif
