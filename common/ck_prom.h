/*
 * ck_prom.h: writing the Prometheus text exposition format (0.0.4) into a
 * ck_buf_t: "# HELP" / "# TYPE" heads and sample lines, for the metrics a
 * subsystem hands the supervisor's GET /metrics.
 *
 * The writer remembers its first error (out of memory, a bad format) and
 * writes nothing after it: render everything, then check err once.
 * Pure code: no I/O, no locking, no logging.
 */
#ifndef CK_PROM_H
#define CK_PROM_H

#include <stdint.h>

#include "ck_buf.h"

typedef struct {
	ck_buf_t *out;
	int err; /* 0, or the first error (-ENOMEM, -EINVAL) */
} ck_prom_t;

/* Appends printf-style text. */
void ck_prom_printf(ck_prom_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP NAME HELP" and "# TYPE NAME TYPE" (gauge, counter, histogram). */
void ck_prom_head(ck_prom_t *t, const char *name, const char *type, const char *help);
/* A head and one unlabelled sample NAME V. */
void ck_prom_u64(ck_prom_t *t, const char *name, const char *type, const char *help, uint64_t v);

#endif
