/*
 * sup_status.c: `chronik-server status` and the JSON form of a node's
 * status (see sup_status.h).
 *
 * Owned by chronik-server (the CLI side; it never starts a loop). A missing
 * or refusing control socket means no node runs on that data dir: one clear
 * line on stderr and exit 1. Every byte of the reply is checked by
 * protobuf-c before it is printed.
 * Not for: the server side of the control socket (sup_control.c).
 */
#include "sup_status.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_config.h"
#include "ck_err.h"
#include "ck_ipc.h"

#define SUP_STATUS_CONNECT_MS 500
#define SUP_STATUS_REPLY_MS   5000
#define SUP_STATUS_FRAME_MAX  (1u << 20)

static int sup_json_str(ck_buf_t *out, const char *s)
{
	int r = ck_buf_append(out, "\"", 1);

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && !r; p++) {
		char esc[8];

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			r = ck_buf_append(out, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			r = ck_buf_append(out, esc, 6);
		} else {
			r = ck_buf_append(out, p, 1);
		}
	}
	return r ? r : ck_buf_append(out, "\"", 1);
}

static int __attribute__((format(printf, 2, 3))) sup_json_raw(ck_buf_t *out, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -EINVAL;
	return ck_buf_append(out, tmp, (size_t)n);
}

static int sup_json_child(ck_buf_t *out, const Chronik__Control__ChildStatus *c)
{
	int r = 0;

	r |= sup_json_raw(out, "{\"name\":");
	r |= sup_json_str(out, c->name);
	r |= sup_json_raw(out, ",\"pid\":%d,\"state\":", c->pid);
	r |= sup_json_str(out, c->state);
	r |= sup_json_raw(out,
	                  ",\"uptime_ms\":%" PRId64 ",\"restarts\":%u,\"last_exit\":", c->uptime_ms,
	                  c->restarts);
	r |= sup_json_str(out, c->last_exit);
	r |= sup_json_raw(out, ",\"status\":");
	r |= sup_json_str(out, c->status_text);
	r |= sup_json_raw(out, ",\"role\":");
	r |= sup_json_str(out, c->role);
	r |= sup_json_raw(out, ",\"silent_ms\":%" PRId64 "}", c->silent_ms);
	return r ? -ENOMEM : 0;
}

int sup_status_json(const Chronik__Control__StatusReply *r, ck_buf_t *out)
{
	int e = 0;

	e |= sup_json_raw(out, "{\"node_id\":%d,\"supervisor_pid\":%d,\"version\":", r->node_id,
	                  r->supervisor_pid);
	e |= sup_json_str(out, r->version);
	e |= sup_json_raw(out, ",\"uptime_ms\":%" PRId64 ",\"data_dir\":", r->uptime_ms);
	e |= sup_json_str(out, r->data_dir);
	e |= sup_json_raw(out, ",\"children\":[");
	for (size_t i = 0; i < r->n_children && !e; i++) {
		if (i)
			e |= sup_json_raw(out, ",");
		e |= sup_json_child(out, r->children[i]);
	}
	e |= sup_json_raw(out, "]}");
	return e ? -ENOMEM : 0;
}

static void sup_status_uptime(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (ms <= 0)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s / 60) % 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s / 3600) % 24);
}

static void sup_status_print_text(const Chronik__Control__StatusReply *r)
{
	char up[32];

	sup_status_uptime(r->uptime_ms, up, sizeof(up));
	printf("node %d: supervisor pid %d, up %s, version %s\n", r->node_id, r->supervisor_pid, up,
	       r->version);
	printf("data dir: %s\n", r->data_dir);
	printf("%-15s %-8s %-9s %8s %8s  %-30s %-6s %s\n", "CHILD", "PID", "STATE", "UPTIME",
	       "RESTARTS", "LAST EXIT", "ROLE", "STATUS");
	for (size_t i = 0; i < r->n_children; i++) {
		const Chronik__Control__ChildStatus *c = r->children[i];
		char pid[16];

		sup_status_uptime(c->uptime_ms, up, sizeof(up));
		snprintf(pid, sizeof(pid), "%d", c->pid);
		printf("%-15s %-8s %-9s %8s %8u  %-30s %-6s %s\n", c->name, c->pid ? pid : "-",
		       c->silent_ms > SUP_CHILD_SILENT_MAX_MS && !strcmp(c->state, "ready")
		           ? "stuck"
		           : c->state,
		       up, c->restarts, c->last_exit[0] ? c->last_exit : "-",
		       c->role[0] ? c->role : "-", c->status_text[0] ? c->status_text : "-");
	}
}

/* Sends one status request on FD and reads the reply. Returns 0 with
 * *RET_REPLY (free with chronik__control__control_reply__free_unpacked), or
 * a negative code. */
static int sup_status_ask(int fd, Chronik__Control__ControlReply **ret_reply)
{
	Chronik__Control__ControlRequest req = CHRONIK__CONTROL__CONTROL_REQUEST__INIT;
	Chronik__Control__StatusRequest st = CHRONIK__CONTROL__STATUS_REQUEST__INIT;
	Chronik__Control__ControlReply *reply;
	ck_buf_t frame = CK_BUF_INIT;
	int r;

	req.correlation_id = (uint64_t)getpid();
	req.body_case = CHRONIK__CONTROL__CONTROL_REQUEST__BODY_STATUS;
	req.status = &st;
	r = ck_ipc_sync_send_msg(fd, &req.base);
	if (r == 0)
		r = ck_ipc_sync_recv(fd, SUP_STATUS_FRAME_MAX, SUP_STATUS_REPLY_MS, &frame);
	if (r < 0)
		goto out;
	reply = chronik__control__control_reply__unpack(NULL, frame.len, frame.data);
	if (!reply) {
		r = CK_E_PROTO;
		goto out;
	}
	if (reply->correlation_id != req.correlation_id ||
	    (reply->error == 0 &&
	     reply->body_case != CHRONIK__CONTROL__CONTROL_REPLY__BODY_STATUS)) {
		chronik__control__control_reply__free_unpacked(reply, NULL);
		r = CK_E_PROTO;
		goto out;
	}
	*ret_reply = reply;
	r = 0;
out:
	ck_buf_free(&frame);
	return r;
}

static int sup_status_print(const Chronik__Control__ControlReply *reply, bool as_json)
{
	ck_buf_t out = CK_BUF_INIT;

	if (reply->error != 0) {
		fprintf(stderr, "chronik-server: the node refused the status request: %s\n",
		        reply->error_message[0] ? reply->error_message : ck_strerror(reply->error));
		return 1;
	}
	if (!as_json) {
		sup_status_print_text(reply->status);
		return 0;
	}
	if (sup_status_json(reply->status, &out) < 0 || ck_buf_append(&out, "\n", 1) < 0) {
		ck_buf_free(&out);
		fprintf(stderr, "chronik-server: out of memory\n");
		return 1;
	}
	fwrite(out.data, 1, out.len, stdout);
	ck_buf_free(&out);
	return 0;
}

int sup_status_main(const char *config_path, const char *data_dir, bool as_json)
{
	Chronik__Control__ControlReply *reply = NULL;
	char err[1024], path[PATH_MAX + 32];
	static ck_config_t cfg;
	struct stat st;
	int fd = -1, r;

	r = ck_config_load(&cfg, config_path, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "chronik-server: %s\n", err[0] ? err : ck_strerror(r));
		return 1;
	}
	if (!data_dir)
		data_dir = cfg.data_dir;
	snprintf(path, sizeof(path), "%s/run/control.sock", data_dir);
	r = stat(path, &st) < 0 ? -errno : 0;
	if (r == 0)
		r = ck_ipc_sync_connect(path, SUP_STATUS_CONNECT_MS, &fd);
	if (r == CK_E_TIMEOUT)
		r = -ECONNREFUSED; /* a socket file left by a node that is gone */
	if (r < 0) {
		fprintf(stderr, "chronik-server: no node is running with data dir %s (%s: %s)\n",
		        data_dir, path, ck_strerror(r));
		return 1;
	}
	r = sup_status_ask(fd, &reply);
	(void)close(fd);
	if (r < 0) {
		fprintf(stderr, "chronik-server: no status from the node at %s: %s\n", path,
		        ck_strerror(r));
		return 1;
	}
	r = sup_status_print(reply, as_json);
	chronik__control__control_reply__free_unpacked(reply, NULL);
	return r;
}
