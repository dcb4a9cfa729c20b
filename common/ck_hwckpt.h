/*
 * ck_hwckpt.h: the replicator's high-watermark checkpoints in LMDB `meta`
 * ("offsets" database, see common/ck_meta.h): key and value format.
 *
 * Written only by replicator ("hw/" keys); read by replicator (a restart's
 * HW floor) and walwriter (retention deletes no segment above a log's HW,
 * as in Kafka).
 *   key   "hw/<topic>-<partition>" (partition in decimal)
 *   value 16 bytes, little-endian: u32 version (1), i32 leader epoch,
 *         i64 high watermark (>= 0)
 * A value that does not decode is ignored by the reader (the HW is then
 * rebuilt from the log), never trusted.
 * Pure: formatting only. Not for: the LMDB transactions (repl_meta.c).
 */
#ifndef CK_HWCKPT_H
#define CK_HWCKPT_H

#include <stddef.h>
#include <stdint.h>

/* A checkpointed HW. */
typedef struct {
	int64_t hw;
	int32_t leader_epoch;
} ck_hwckpt_t;

#define CK_HWCKPT_VERSION   1
#define CK_HWCKPT_VALUE_LEN 16
/* "hw/" + topic + "-" + up to 10 digits + NUL. */
#define CK_HWCKPT_TOPIC_MAX 249 /* Kafka's longest topic name */
#define CK_HWCKPT_KEY_MAX   (3 + CK_HWCKPT_TOPIC_MAX + 1 + 10 + 1)

/* Writes the key of TOPIC-PARTITION into BUF (LEN bytes, NUL-terminated).
 * Returns its length (without the NUL), or CK_E_INVALID (empty or too long
 * topic, negative partition) or CK_E_TOO_LARGE (BUF too small). */
int ck_hwckpt_key(char *buf, size_t len, const char *topic, int32_t partition);
/* Encodes CK into OUT. */
void ck_hwckpt_encode(uint8_t out[CK_HWCKPT_VALUE_LEN], const ck_hwckpt_t *ck);
/* Decodes LEN bytes at VAL. Returns 0 with *RET, or CK_E_CORRUPT (wrong
 * length or version, a negative HW or epoch; *RET untouched). */
int ck_hwckpt_decode(const void *val, size_t len, ck_hwckpt_t *ret);

#endif
