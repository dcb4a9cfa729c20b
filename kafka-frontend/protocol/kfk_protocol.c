/*
 * kfk_protocol.c: header-version rules and framing (kfk_protocol.h).
 *
 * Owned by kafka-frontend. Pure code on top of the generated codec; the
 * per-message work lives in the generated kfk_msgs_*.c.
 */
#include "kfk_protocol.h"

#include <errno.h>

#include "ck_err.h"

int16_t kfk_request_header_version(int16_t api_key, int16_t api_version)
{
	const kfk_api_t *api = kfk_api_lookup(api_key);

	if (api && api->flexible_version >= 0 && api_version >= api->flexible_version)
		return 2;
	return 1;
}

int16_t kfk_response_header_version(int16_t api_key, int16_t api_version)
{
	const kfk_api_t *api = kfk_api_lookup(api_key);

	if (api_key == KFK_API_API_VERSIONS)
		return 0;
	if (api && api->flexible_version >= 0 && api_version >= api->flexible_version)
		return 1;
	return 0;
}

int kfk_request_header_parse(ck_span_t *in, kfk_arena_t *arena, kfk_request_header_t *ret_hdr,
			     int16_t *ret_hdr_version)
{
	int16_t key, version, hv;
	int r;

	/* api key, api version, correlation id: present in every version. */
	if (in->len < 8)
		return CK_E_PROTO;
	key = (int16_t)ck_be16_get(in->p);
	version = (int16_t)ck_be16_get(in->p + 2);
	hv = kfk_request_header_version(key, version);
	r = kfk_request_header_decode(in, hv, arena, ret_hdr);
	if (r < 0)
		return r;
	if (ret_hdr_version)
		*ret_hdr_version = hv;
	return 0;
}

int kfk_response_header_write(ck_buf_t *out, int16_t api_key, int16_t api_version,
			      int32_t correlation_id)
{
	kfk_response_header_t hdr;

	kfk_response_header_init(&hdr);
	hdr.correlation_id = correlation_id;
	return kfk_response_header_encode(out, kfk_response_header_version(api_key, api_version),
					  &hdr);
}

int kfk_frame_size_peek(const uint8_t *p, size_t len, size_t max_bytes, size_t *ret_size)
{
	int32_t size;

	if (len < 4)
		return CK_E_AGAIN;
	size = (int32_t)ck_be32_get(p);
	if (size < 0)
		return CK_E_PROTO;
	if ((size_t)size > max_bytes)
		return CK_E_TOO_LARGE;
	*ret_size = (size_t)size;
	return 0;
}

int kfk_frame_begin(ck_buf_t *out, size_t *ret_start)
{
	size_t start = out->len;

	if (!ck_buf_extend(out, 4))
		return -ENOMEM;
	*ret_start = start;
	return 0;
}

int kfk_frame_end(ck_buf_t *out, size_t start)
{
	size_t size = out->len - start - 4;

	if (size > INT32_MAX)
		return CK_E_TOO_LARGE;
	ck_be32_put(out->data + start, (uint32_t)size);
	return 0;
}
