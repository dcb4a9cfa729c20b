/*
 * ck_clock.h: clocks for shells. Pure cores never call these: time enters a
 * core as ticks or now_ns arguments.
 */
#ifndef CK_CLOCK_H
#define CK_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds: for timeouts, latencies, uptime. */
uint64_t ck_clock_mono_ns(void);
static inline uint64_t ck_clock_mono_ms(void) { return ck_clock_mono_ns() / 1000000u; }
/* Wall clock (CLOCK_REALTIME) in milliseconds since the epoch: for record
 * timestamps and retention only. */
int64_t ck_clock_wall_ms(void);

#endif
