/*
 * walbench.h: the measuring shells of chronik-walbench, called by
 * walbench_main.c. Each run prints exactly one result line on stdout,
 *   "<kind> key=value key=value ..."
 * which bench/run.sh parses; diagnostics go to stderr through ck_log.
 * Every run removes the files it created, also when it fails.
 */
#ifndef WALBENCH_H
#define WALBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raw 4 KiB (BLOCK_BYTES) pwrite + fdatasync latency: a file of ITERS blocks
 * is zero-filled and fsync'd first, then every block is overwritten and
 * synced once. Prints "disk-sync ...". Returns 0 or -errno. */
int wb_disk_sync_run(const char *dir, int iters, size_t block_bytes);

/* Raw sequential bandwidth: TOTAL_BYTES written WRITE_BYTES at a time to a new
 * file, fdatasync every SYNC_BYTES and once at the end (timed). Prints
 * "disk-seq ...". Returns 0 or -errno. */
int wb_disk_seq_run(const char *dir, uint64_t total_bytes, size_t write_bytes,
		    uint64_t sync_bytes);

typedef struct {
	const char *socket_path;
	const char *topic;
	int partitions;          /* appender i writes partition i % partitions */
	int appenders;           /* each keeps exactly one Append in flight */
	int conns;               /* appender i uses connection i % conns */
	size_t batch_bytes;      /* RecordBatch v2 size per Append */
	double warmup_secs;      /* completions before this are not counted */
	double secs;             /* measured period after warm-up (time mode) */
	uint64_t total_bytes;    /* > 0: stop after appending this much instead */
	int connect_timeout_ms;
	bool delete_after;       /* DeleteLog every partition at the end */
} wb_wal_opts_t;

/* Drives a running chronik-walwriter. Prints "wal ...". Returns 0, or a
 * negative code when the run could not complete or any Append failed. */
int wb_wal_run(const wb_wal_opts_t *o);

#endif
