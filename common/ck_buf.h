/*
 * ck_buf.h: growable byte buffers and bounds-checked readers.
 *
 * ck_buf_t owns heap memory and grows geometrically. ck_span_t is a borrowed,
 * read-only view used to parse hostile bytes: every getter checks what remains
 * before it reads and returns -EMSGSIZE without
 * moving on failure. Big-endian helpers serve the Kafka wire format; the IPC
 * frame length is little-endian.
 */
#ifndef CK_BUF_H
#define CK_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* 0, or the length it may not grow beyond (CK_E_TOO_LARGE) */
} ck_buf_t;

#define CK_BUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void ck_buf_init(ck_buf_t *b);
void ck_buf_free(ck_buf_t *b);
/* Keeps the memory, forgets the contents. */
static inline void ck_buf_reset(ck_buf_t *b) { b->len = 0; }
/* Ensures room for EXTRA more bytes. Returns 0, -ENOMEM, or CK_E_TOO_LARGE
 * past B->max. */
int ck_buf_reserve(ck_buf_t *b, size_t extra);
/* Appends LEN bytes. Returns 0 or an error of ck_buf_reserve (B unchanged). */
int ck_buf_append(ck_buf_t *b, const void *data, size_t len);
/* Appends LEN bytes of uninitialised space and returns a pointer to it, or
 * NULL on allocation failure. The pointer is valid until the next growth. */
uint8_t *ck_buf_extend(ck_buf_t *b, size_t len);

static inline uint16_t ck_be16_get(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t ck_be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t ck_be64_get(const uint8_t *p)
{
	return ((uint64_t)ck_be32_get(p) << 32) | ck_be32_get(p + 4);
}
static inline void ck_be16_put(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void ck_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void ck_be64_put(uint8_t *p, uint64_t v)
{
	ck_be32_put(p, (uint32_t)(v >> 32));
	ck_be32_put(p + 4, (uint32_t)v);
}
static inline uint32_t ck_le32_get(const uint8_t *p)
{
	return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}
static inline void ck_le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

typedef struct {
	const uint8_t *p;
	size_t len;
} ck_span_t;

static inline ck_span_t ck_span(const void *p, size_t len) { return (ck_span_t){(const uint8_t *)p, len}; }
/* Each getter returns 0, or -EMSGSIZE when fewer bytes remain than needed
 * (the span is then left unchanged). */
int ck_span_skip(ck_span_t *s, size_t n);
int ck_span_u8(ck_span_t *s, uint8_t *ret);
int ck_span_be16(ck_span_t *s, uint16_t *ret);
int ck_span_be32(ck_span_t *s, uint32_t *ret);
int ck_span_be64(ck_span_t *s, uint64_t *ret);
/* Borrows N bytes from the span. */
int ck_span_bytes(ck_span_t *s, size_t n, const uint8_t **ret);
/* Unsigned LEB128 varint of at most 5 (u32) / 10 (u64) bytes; -EBADMSG when
 * too long. Zig-zag signed variants for Kafka record fields. */
int ck_span_uvarint32(ck_span_t *s, uint32_t *ret);
int ck_span_uvarint64(ck_span_t *s, uint64_t *ret);
int ck_span_varint32(ck_span_t *s, int32_t *ret);
int ck_span_varint64(ck_span_t *s, int64_t *ret);

/* Writes a varint into P (at least 10 bytes of room); returns bytes written. */
size_t ck_uvarint64_put(uint8_t *p, uint64_t v);
size_t ck_varint64_put(uint8_t *p, int64_t v);

#endif
