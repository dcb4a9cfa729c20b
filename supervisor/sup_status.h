/*
 * sup_status.h: `chronik-server status` and the JSON form of a node's
 * status (chronik-server).
 *
 * The CLI side connects to <data_dir>/run/control.sock, sends a
 * ControlRequest/status and prints the StatusReply as a table or as JSON.
 * The JSON renderer is shared with the admin HTTP endpoint (GET /status),
 * so scripts see the same document either way.
 * Not for: building the reply (sup_control.c).
 */
#ifndef SUP_STATUS_H
#define SUP_STATUS_H

#include <stdbool.h>

#include "ck_buf.h"
#include "control.pb-c.h"

/* A ready child silent longer than this (it sends a keepalive every
 * CK_DAEMON_KEEPALIVE_MS) is stuck: /health answers 503, chronik_child_up
 * is 0 and `status` shows it "stuck". */
#define SUP_CHILD_SILENT_MAX_MS 5000

/* Appends R as one JSON object (no trailing newline) to OUT. Returns 0 or
 * -ENOMEM. */
int sup_status_json(const Chronik__Control__StatusReply *r, ck_buf_t *out);

/*
 * Runs `chronik-server status`: CONFIG_PATH (NULL = embedded default) and
 * DATA_DIR (NULL = from the configuration) locate the node. Prints to stdout
 * (JSON when AS_JSON), errors to stderr. Returns the exit code: 0 when the
 * node answered, 1 otherwise (no node running, bad configuration, bad reply).
 */
int sup_status_main(const char *config_path, const char *data_dir, bool as_json);

#endif
