/*
 * ck_crc32c.h: CRC-32C (Castagnoli), the checksum of Kafka RecordBatch v2.
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a slicing-by-8
 * table otherwise. Pure code.
 */
#ifndef CK_CRC32C_H
#define CK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends CRC (0 for a new checksum) over LEN bytes of DATA. */
uint32_t ck_crc32c(uint32_t crc, const void *data, size_t len);
/* The portable implementation, exposed so tests can compare the two. */
uint32_t ck_crc32c_sw(uint32_t crc, const void *data, size_t len);
/* 1 when ck_crc32c() uses the hardware instruction. */
int ck_crc32c_hw_available(void);

#endif
