/*
 * prom_text.c: Prometheus text for the metrics tests (see prom_text.h).
 * Test code only: no check assertions here, callers assert on returns.
 */
#include "prom_text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ck_clock.h"

#define PROM_TYPES_MAX 256

static int prom_wait(int fd, short ev, uint64_t deadline_ms)
{
	struct pollfd p = {.fd = fd, .events = ev};
	uint64_t now = ck_clock_mono_ms();
	int r;

	if (now >= deadline_ms)
		return -1;
	do
		r = poll(&p, 1, (int)(deadline_ms - now));
	while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

/* Splits the answer in RAW into status, Content-Type and body. */
static int prom_http_parse(ck_buf_t *raw, int *ret_status, char *ctype, size_t ctype_len,
                           ck_buf_t *body)
{
	char *text = (char *)raw->data, *end = strstr(text, "\r\n\r\n"), *ct;

	if (!end || sscanf(text, "HTTP/1.%*d %d", ret_status) != 1)
		return -1;
	*end = '\0';
	ctype[0] = '\0';
	for (ct = strstr(text, "\r\n"); ct; ct = strstr(ct + 2, "\r\n")) {
		if (!strncasecmp(ct + 2, "Content-Type:", 13)) {
			const char *v = ct + 15 + strspn(ct + 15, " \t"), *e = strstr(v, "\r\n");
			size_t n = e ? (size_t)(e - v) : strlen(v);

			snprintf(ctype, ctype_len, "%.*s", (int)n, v);
			break;
		}
	}
	body->len = 0;
	if (ck_buf_append(body, end + 4, raw->len - 1 - (size_t)(end + 4 - text)) < 0 ||
	    ck_buf_append(body, "", 1) < 0)
		return -1;
	return 0;
}

int prom_http_get(int port, const char *path, int timeout_ms, int *ret_status, char *ctype,
                  size_t ctype_len, ck_buf_t *body)
{
	return prom_http_request(port, "GET", path, timeout_ms, ret_status, ctype, ctype_len, body);
}

int prom_http_request(int port, const char *method, const char *path, int timeout_ms,
                      int *ret_status, char *ctype, size_t ctype_len, ck_buf_t *body)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	ck_buf_t raw = CK_BUF_INIT;
	char req[512];
	int fd, n, r = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, req, (size_t)n) != n)
		goto out;
	for (;;) {
		ssize_t got;

		if (prom_wait(fd, POLLIN, deadline) < 0 || ck_buf_reserve(&raw, 65536) < 0)
			goto out;
		got = read(fd, raw.data + raw.len, raw.cap - raw.len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto out;
		if (got == 0)
			break;
		raw.len += (size_t)got;
	}
	raw.data[raw.len++] = '\0';
	r = prom_http_parse(&raw, ret_status, ctype, ctype_len, body);
out:
	close(fd);
	ck_buf_free(&raw);
	return r;
}

/* ---- syntax ---- */

static const char *prom_name(const char *p, bool metric)
{
	if (!(isalpha((unsigned char)*p) || *p == '_' || (metric && *p == ':')))
		return NULL;
	while (isalnum((unsigned char)*p) || *p == '_' || (metric && *p == ':'))
		p++;
	return p;
}

static bool prom_number(const char *p, const char *end)
{
	char buf[64], *e;
	size_t n = (size_t)(end - p);

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") || !strcmp(buf, "NaN"))
		return true;
	errno = 0;
	(void)strtod(buf, &e);
	return *e == '\0' && errno == 0;
}

/* The labels of a sample, P at '{'. Returns the byte after '}'. */
static const char *prom_labels(const char *p)
{
	p++;
	while (*p != '}') {
		if (!(p = prom_name(p, false)) || *p++ != '=' || *p++ != '"')
			return NULL;
		while (*p && *p != '"' && *p != '\n')
			p += *p == '\\' && p[1] ? 2 : 1;
		if (*p++ != '"')
			return NULL;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	return p + 1;
}

typedef struct {
	char names[PROM_TYPES_MAX][128];
	bool histogram[PROM_TYPES_MAX];
	int n;
} prom_types_t;

static bool prom_typed(const prom_types_t *t, const char *name, size_t len)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};

	for (int i = 0; i < t->n; i++) {
		size_t tl = strlen(t->names[i]);

		if (tl == len && !strncmp(t->names[i], name, len))
			return true;
		if (!t->histogram[i] || len <= tl || strncmp(t->names[i], name, tl))
			continue;
		for (size_t k = 0; k < 3; k++) {
			if (len - tl == strlen(sfx[k]) && !strncmp(name + tl, sfx[k], len - tl))
				return true;
		}
	}
	return false;
}

static const char *prom_comment(prom_types_t *t, const char *p, const char *eol)
{
	const char *name, *end;
	bool type = !strncmp(p, "# TYPE ", 7);

	if (!type && strncmp(p, "# HELP ", 7))
		return "comment is neither HELP nor TYPE";
	name = p + 7;
	if (!(end = prom_name(name, true)) || *end != ' ')
		return "bad metric name in comment";
	if (!type)
		return NULL;
	if (t->n == PROM_TYPES_MAX || (size_t)(end - name) >= sizeof(t->names[0]))
		return "too many metrics";
	end++;
#define PROM_IS(s) ((size_t)(eol - end) == strlen(s) && !strncmp(end, s, strlen(s)))
	if (!PROM_IS("counter") && !PROM_IS("gauge") && !PROM_IS("histogram") &&
	    !PROM_IS("summary") && !PROM_IS("untyped"))
		return "unknown TYPE";
	t->histogram[t->n] = PROM_IS("histogram");
#undef PROM_IS
	snprintf(t->names[t->n], sizeof(t->names[0]), "%.*s", (int)(end - 1 - name), name);
	t->n++;
	return NULL;
}

static const char *prom_sample(const prom_types_t *t, const char *p, const char *eol)
{
	const char *end = prom_name(p, true);

	if (!end)
		return "bad metric name";
	if (!prom_typed(t, p, (size_t)(end - p)))
		return "sample without a TYPE line before it";
	if (*end == '{' && !(end = prom_labels(end)))
		return "bad labels";
	if (*end != ' ')
		return "no space before the value";
	if (!prom_number(end + 1, eol))
		return "bad value";
	return NULL;
}

int prom_check(const char *text, char *why, size_t why_len)
{
	prom_types_t *t = calloc(1, sizeof(*t));
	int samples = 0;

	if (!t) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n'), *bad = NULL;

		if (!eol) {
			bad = "last line without a newline";
			eol = p + strlen(p);
		} else if (*p == '#') {
			bad = prom_comment(t, p, eol);
		} else if (eol != p) {
			bad = prom_sample(t, p, eol);
			samples++;
		}
		if (bad) {
			snprintf(why, why_len, "%s: \"%.*s\"", bad, (int)(eol - p), p);
			free(t);
			return -1;
		}
		p = eol + 1;
	}
	free(t);
	return samples;
}

bool prom_value(const char *text, const char *series, double *ret)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, series, n) && p[n] == ' ') {
			const char *v = p + n + 1;

			if (!strncmp(v, "+Inf", 4))
				*ret = INFINITY;
			else
				*ret = strtod(v, NULL);
			return true;
		}
	}
	return false;
}

int prom_count(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	int count = 0;

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (*p != '#' && !strncmp(p, prefix, n))
			count++;
	}
	return count;
}
