/*
 * ck_prom.c: the Prometheus text format writer (see ck_prom.h).
 */
#include "ck_prom.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void ck_prom_printf(ck_prom_t *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err)
		return;
	for (size_t room = 256;;) {
		if (ck_buf_reserve(t->out, room) < 0) {
			t->err = -ENOMEM;
			return;
		}
		room = t->out->cap - t->out->len;
		va_start(ap, fmt);
		n = vsnprintf((char *)t->out->data + t->out->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			t->out->len += (size_t)n;
			return;
		}
		room = (size_t)n + 1;
	}
}

void ck_prom_head(ck_prom_t *t, const char *name, const char *type, const char *help)
{
	ck_prom_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void ck_prom_u64(ck_prom_t *t, const char *name, const char *type, const char *help, uint64_t v)
{
	ck_prom_head(t, name, type, help);
	ck_prom_printf(t, "%s %llu\n", name, (unsigned long long)v);
}
