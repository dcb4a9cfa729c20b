/*
 * kfk_protocol.h: the Kafka wire codec of kafka-frontend, in one include.
 *
 * Owned by kafka-frontend. Pure: no I/O, no logging, no clock. Brings in the
 * generated message structs and codecs (kfk_msgs.h, made at build time from
 * kafka.schema by gen_codec.py), the arena the decoders allocate from
 * (kfk_arena.h), and the framing helpers below.
 *
 * A request frame on the wire is: int32 size, request header, body. The
 * header version follows from the API key and version (v2 for flexible
 * versions, else v1); a response header is v1 for flexible versions, else v0
 * -- except that ApiVersions responses always use v0.
 *
 * Typical request path:
 *   kfk_frame_size_peek() until a whole frame is buffered;
 *   kfk_request_header_parse() on the bytes after the size;
 *   kfk_api_lookup(hdr.request_api_key) and a version check;
 *   kfk_<api>_request_decode() on what the header left;
 *   ... kfk_frame_begin(), kfk_response_header_write(), kfk_<api>_response_encode(),
 *   kfk_frame_end(); kfk_arena_reset().
 */
#ifndef KFK_PROTOCOL_H
#define KFK_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "ck_buf.h"
#include "kfk_arena.h"
#include "kfk_msgs.h"
#include "kfk_types.h"

/* Request header version for API_KEY at API_VERSION: 2 when that version is
 * flexible (also above the schema's maximum, as Kafka does), else 1. Unknown
 * keys get 1, whose client id every client sends. */
int16_t kfk_request_header_version(int16_t api_key, int16_t api_version);

/* Response header version: 1 when flexible, else 0; always 0 for ApiVersions. */
int16_t kfk_response_header_version(int16_t api_key, int16_t api_version);

/* Decodes the request header at the start of IN (a frame without its size),
 * choosing the header version from the API key and version it carries. The
 * client id is borrowed from IN. On success advances IN to the body and
 * writes *RET_HDR and, when not NULL, *RET_HDR_VERSION. Returns 0 or
 * CK_E_PROTO (truncated or malformed), CK_E_TOO_LARGE / -ENOMEM from ARENA
 * (only for unknown tagged fields in a v2 header). */
int kfk_request_header_parse(ck_span_t *in, kfk_arena_t *arena, kfk_request_header_t *ret_hdr,
			     int16_t *ret_hdr_version);

/* Appends the response header for a response to API_KEY/API_VERSION.
 * Returns 0 or -ENOMEM. */
int kfk_response_header_write(ck_buf_t *out, int16_t api_key, int16_t api_version,
			      int32_t correlation_id);

/* Reads the int32 size at the start of P[0..LEN). Returns 0 with *RET_SIZE
 * (the bytes after the size field), CK_E_AGAIN when fewer than 4 bytes are
 * there, CK_E_PROTO for a negative size, CK_E_TOO_LARGE above MAX_BYTES. */
int kfk_frame_size_peek(const uint8_t *p, size_t len, size_t max_bytes, size_t *ret_size);

/* Starts a frame in OUT by reserving its 4-byte size; *RET_START remembers
 * where. Returns 0 or -ENOMEM. */
int kfk_frame_begin(ck_buf_t *out, size_t *ret_start);

/* Writes the size of the frame begun at START (everything appended since).
 * Returns 0, or CK_E_TOO_LARGE when it exceeds INT32_MAX. */
int kfk_frame_end(ck_buf_t *out, size_t start);

#endif
