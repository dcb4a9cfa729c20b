/*
 * fuzz_kfk_request.c: libFuzzer target for Kafka request decoding
 * (kafka-frontend/protocol). Built only with -Dfuzz=true and clang; run with
 * tests/fuzz/run.sh.
 *
 * Input: one request frame without its 4-byte size, as the frontend sees it.
 * The header is parsed, then the body is decoded by the API key and version
 * the header names. Besides "never crash, never leak, never read out of
 * bounds" (ASan/UBSan), whatever decodes must re-encode, decode again and
 * re-encode to the same bytes; a violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kfk_protocol.h"

static _Alignas(16) uint8_t msg1[8192];
static _Alignas(16) uint8_t msg2[8192];

static void check_stable(const kfk_api_t *api, int16_t version, kfk_arena_t *arena)
{
	ck_buf_t b1 = CK_BUF_INIT, b2 = CK_BUF_INIT;
	ck_span_t in;

	if (api->request_encode(&b1, version, msg1) != 0)
		abort();
	in = ck_span(b1.data, b1.len);
	if (api->request_decode(&in, version, arena, msg2) != 0 || in.len != 0)
		abort();
	if (api->request_encode(&b2, version, msg2) != 0 || b1.len != b2.len ||
	    (b1.len && memcmp(b1.data, b2.data, b1.len) != 0))
		abort();
	ck_buf_free(&b1);
	ck_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static kfk_arena_t arena;
	static int ready;
	kfk_request_header_t hdr;
	const kfk_api_t *api;
	ck_span_t in = ck_span(data, size);

	if (!ready) {
		kfk_arena_init(&arena, 0, 32u << 20);
		ready = 1;
	}
	if (kfk_request_header_parse(&in, &arena, &hdr, NULL) == 0) {
		api = kfk_api_lookup(hdr.request_api_key);
		if (api && hdr.request_api_version >= api->min_version &&
		    hdr.request_api_version <= api->max_version) {
			if (api->request_size > sizeof(msg1))
				abort();
			if (api->request_decode(&in, hdr.request_api_version, &arena, msg1) == 0)
				check_stable(api, hdr.request_api_version, &arena);
		}
	}
	kfk_arena_reset(&arena);
	return 0;
}
