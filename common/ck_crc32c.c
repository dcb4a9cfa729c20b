/*
 * ck_crc32c.c: CRC-32C, hardware and table implementations (ck_crc32c.h).
 * The table is built once on first use; the dispatch is decided once.
 */
#include "ck_crc32c.h"

#include <pthread.h>
#include <string.h>

#define CK_CRC32C_POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t ck_crc32c_table[8][256];
static pthread_once_t ck_crc32c_once = PTHREAD_ONCE_INIT;
static int ck_crc32c_hw;

static void ck_crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CK_CRC32C_POLY & (0u - (c & 1)));
		ck_crc32c_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			ck_crc32c_table[t][i] = (ck_crc32c_table[t - 1][i] >> 8) ^
						ck_crc32c_table[0][ck_crc32c_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	__builtin_cpu_init();
	ck_crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t ck_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	(void)pthread_once(&ck_crc32c_once, ck_crc32c_init);
	crc = ~crc;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= crc; /* little-endian load: low byte first */
		crc = ck_crc32c_table[7][w & 0xff] ^ ck_crc32c_table[6][(w >> 8) & 0xff] ^
		      ck_crc32c_table[5][(w >> 16) & 0xff] ^ ck_crc32c_table[4][(w >> 24) & 0xff] ^
		      ck_crc32c_table[3][(w >> 32) & 0xff] ^ ck_crc32c_table[2][(w >> 40) & 0xff] ^
		      ck_crc32c_table[1][(w >> 48) & 0xff] ^ ck_crc32c_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ ck_crc32c_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t ck_crc32c_hw_run(uint32_t crc, const uint8_t *p,
								    size_t len)
{
	uint64_t c = ~crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

uint32_t ck_crc32c(uint32_t crc, const void *data, size_t len)
{
	(void)pthread_once(&ck_crc32c_once, ck_crc32c_init);
#if defined(__x86_64__)
	if (ck_crc32c_hw)
		return ck_crc32c_hw_run(crc, data, len);
#endif
	return ck_crc32c_sw(crc, data, len);
}

int ck_crc32c_hw_available(void)
{
	(void)pthread_once(&ck_crc32c_once, ck_crc32c_init);
	return ck_crc32c_hw;
}
