/*
 * kfk_types.h: value types shared by every generated Kafka message struct.
 *
 * Owned by kafka-frontend (the protocol codec). Decoded strings and bytes are
 * borrowed views into the input frame (zero copy): they stay valid only while
 * the frame's bytes do, and strings are NOT NUL-terminated. A length of -1
 * means null; ptr may be NULL whenever len <= 0. Arrays are
 * { int32_t count; T *items; } members (count -1 = null) whose items live in a
 * kfk_arena_t. Nothing here allocates.
 */
#ifndef KFK_TYPES_H
#define KFK_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A Kafka string: UTF-8 bytes, not NUL-terminated; len -1 = null. */
typedef struct {
	const char *ptr;
	int32_t len;
} kfk_str_t;

/* Kafka bytes or records: len -1 = null. */
typedef struct {
	const uint8_t *ptr;
	int32_t len;
} kfk_bytes_t;

/* A tagged field this codec does not know (or not in this version), kept raw
 * so that re-encoding reproduces it: TAG, then LEN payload bytes at PTR. */
typedef struct {
	uint32_t tag;
	uint32_t len;
	const uint8_t *ptr;
} kfk_raw_tag_t;

/* Unknown tagged fields of one struct, in ascending tag order. */
typedef struct {
	int32_t count;
	kfk_raw_tag_t *items;
} kfk_raw_tags_t;

#define KFK_STR_NULL ((kfk_str_t){NULL, -1})
/* A kfk_str_t view of a C string literal or NUL-terminated string. */
static inline kfk_str_t kfk_str(const char *s)
{
	return (kfk_str_t){s, s ? (int32_t)strlen(s) : -1};
}

/* True when S (not null) holds exactly the C string C. */
static inline bool kfk_str_eq(kfk_str_t s, const char *c)
{
	size_t n = strlen(c);
	return s.len >= 0 && (size_t)s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

/* The length of the well-formed UTF-8 sequence at P (N > 0 bytes left):
 * 1-4, or 0 for an ill-formed one (overlong, surrogate, past U+10FFFF,
 * cut short). */
static inline int32_t kfk_utf8_seq(const unsigned char *p, int32_t n)
{
	unsigned char c = p[0];
	uint32_t cp;
	int32_t more;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		more = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		more = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		more = 3, cp = c & 0x07;
	else
		return 0;
	if (n <= more)
		return 0;
	for (int32_t k = 1; k <= more; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return more + 1;
}

/* Whether S (null counts) is well-formed UTF-8. */
static inline bool kfk_str_utf8(kfk_str_t s)
{
	const unsigned char *p = (const unsigned char *)s.ptr;
	int32_t i = 0;

	while (i < s.len) {
		int32_t k = kfk_utf8_seq(p + i, s.len - i);

		if (!k)
			return false;
		i += k;
	}
	return true;
}

#endif
