/*
 * prom_text.h: reading Prometheus text (format 0.0.4) the way a scraper
 * does, for the metrics tests (tests/unit/raftd/test_raftd_metrics.c,
 * tests/integration/node/test_metrics.c, tests/cluster/
 * test_cluster_metrics.c): a blocking HTTP GET on a loopback port, a
 * line-by-line syntax check, and looking up one sample's value.
 * Test code only.
 */
#ifndef PROM_TEXT_H
#define PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "ck_buf.h"

/* GET PATH from 127.0.0.1:PORT (HTTP/1.0). Returns 0 with *RET_STATUS, the
 * Content-Type into CTYPE (CTYPE_LEN bytes, "" when absent) and the body
 * (NUL-terminated) into BODY; -1 when no complete answer came within
 * TIMEOUT_MS. */
int prom_http_get(int port, const char *path, int timeout_ms, int *ret_status, char *ctype,
                  size_t ctype_len, ck_buf_t *body);
/* The same with another METHOD ("HEAD", "POST", ...). */
int prom_http_request(int port, const char *method, const char *path, int timeout_ms,
                      int *ret_status, char *ctype, size_t ctype_len, ck_buf_t *body);

/* Checks every line of TEXT: blank, "# HELP name text", "# TYPE name
 * counter|gauge|histogram|summary|untyped", or a sample "name{l="v",...}
 * value" / "name value" with a valid metric name, label names, quoted
 * label values and a float value (or +Inf, -Inf, NaN), whose name has a
 * TYPE line before it (histograms: name_bucket, _sum, _count). Returns the
 * number of samples, or -1 with the first bad line and why in WHY. */
int prom_check(const char *text, char *why, size_t why_len);

/* The value of the sample SERIES ("name" or "name{labels}" exactly as
 * rendered) in TEXT. Returns whether it is there. */
bool prom_value(const char *text, const char *series, double *ret);

/* How many samples in TEXT start with PREFIX (a name, or "name{label=..."). */
int prom_count(const char *text, const char *prefix);

#endif
