/*
 * walbench_main.c: command line of chronik-walbench, the storage benchmark.
 *
 *   chronik-walbench disk-sync --dir DIR [--iters N] [--block-bytes B]
 *   chronik-walbench disk-seq  --dir DIR [--total-mb N] [--write-kb K] [--sync-mb M]
 *   chronik-walbench wal --socket PATH [--topic T] [--appenders N] [--conns C]
 *                    [--partitions P] [--batch-bytes B] [--secs S] [--warmup-secs W]
 *                    [--total-mb M] [--delete] [--connect-timeout-ms MS]
 *   chronik-walbench free-ports N
 *
 * Each measuring command prints one "kind key=value ..." line on stdout; see
 * walbench.h. bench/run.sh runs them in order, starts and stops the
 * walwriter, and prints the table. Exit status: 0 ok, 1 the run failed,
 * 2 bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_listen.h"
#include "ck_log.h"
#include "walbench.h"

#define WB_PORTS_MAX 16

static void wb_usage(void)
{
	fprintf(stderr,
		"usage: chronik-walbench disk-sync --dir DIR [--iters N] [--block-bytes B]\n"
		"       chronik-walbench disk-seq --dir DIR [--total-mb N] [--write-kb K] "
		"[--sync-mb M]\n"
		"       chronik-walbench wal --socket PATH [--topic T] [--appenders N] [--conns C]\n"
		"                [--partitions P] [--batch-bytes B] [--secs S] [--warmup-secs W]\n"
		"                [--total-mb M] [--delete] [--connect-timeout-ms MS]\n"
		"       chronik-walbench free-ports N\n");
}

/* Parses a non-negative number with an optional fraction into *RET. */
static int wb_num_parse(const char *s, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > max) {
		fprintf(stderr, "chronik-walbench: bad number '%s'\n", s);
		return CK_E_INVALID;
	}
	*ret = v;
	return 0;
}

enum { WB_OPT_DIR = 1, WB_OPT_ITERS, WB_OPT_BLOCK, WB_OPT_TOTAL_MB, WB_OPT_WRITE_KB,
       WB_OPT_SYNC_MB, WB_OPT_SOCKET, WB_OPT_TOPIC, WB_OPT_APPENDERS, WB_OPT_CONNS,
       WB_OPT_PARTITIONS, WB_OPT_BATCH, WB_OPT_SECS, WB_OPT_WARMUP, WB_OPT_DELETE,
       WB_OPT_CONNECT_TIMEOUT };

static const struct option wb_options[] = {
	{"dir", required_argument, NULL, WB_OPT_DIR},
	{"iters", required_argument, NULL, WB_OPT_ITERS},
	{"block-bytes", required_argument, NULL, WB_OPT_BLOCK},
	{"total-mb", required_argument, NULL, WB_OPT_TOTAL_MB},
	{"write-kb", required_argument, NULL, WB_OPT_WRITE_KB},
	{"sync-mb", required_argument, NULL, WB_OPT_SYNC_MB},
	{"socket", required_argument, NULL, WB_OPT_SOCKET},
	{"topic", required_argument, NULL, WB_OPT_TOPIC},
	{"appenders", required_argument, NULL, WB_OPT_APPENDERS},
	{"conns", required_argument, NULL, WB_OPT_CONNS},
	{"partitions", required_argument, NULL, WB_OPT_PARTITIONS},
	{"batch-bytes", required_argument, NULL, WB_OPT_BATCH},
	{"secs", required_argument, NULL, WB_OPT_SECS},
	{"warmup-secs", required_argument, NULL, WB_OPT_WARMUP},
	{"delete", no_argument, NULL, WB_OPT_DELETE},
	{"connect-timeout-ms", required_argument, NULL, WB_OPT_CONNECT_TIMEOUT},
	{NULL, 0, NULL, 0},
};

typedef struct {
	const char *dir;
	double iters, block_bytes, total_mb, write_kb, sync_mb;
	double appenders, conns, partitions, batch_bytes, secs, warmup_secs, connect_timeout_ms;
	wb_wal_opts_t wal;
} wb_args_t;

static int wb_opt_apply(wb_args_t *a, int opt, const char *v)
{
	switch (opt) {
	case WB_OPT_DIR: a->dir = v; return 0;
	case WB_OPT_SOCKET: a->wal.socket_path = v; return 0;
	case WB_OPT_TOPIC: a->wal.topic = v; return 0;
	case WB_OPT_DELETE: a->wal.delete_after = true; return 0;
	case WB_OPT_ITERS: return wb_num_parse(v, 1e8, &a->iters);
	case WB_OPT_BLOCK: return wb_num_parse(v, 1 << 30, &a->block_bytes);
	case WB_OPT_TOTAL_MB: return wb_num_parse(v, 1 << 24, &a->total_mb);
	case WB_OPT_WRITE_KB: return wb_num_parse(v, 1 << 20, &a->write_kb);
	case WB_OPT_SYNC_MB: return wb_num_parse(v, 1 << 20, &a->sync_mb);
	case WB_OPT_APPENDERS: return wb_num_parse(v, 65535, &a->appenders);
	case WB_OPT_CONNS: return wb_num_parse(v, 65535, &a->conns);
	case WB_OPT_PARTITIONS: return wb_num_parse(v, 100000, &a->partitions);
	case WB_OPT_BATCH: return wb_num_parse(v, 1 << 30, &a->batch_bytes);
	case WB_OPT_SECS: return wb_num_parse(v, 86400, &a->secs);
	case WB_OPT_WARMUP: return wb_num_parse(v, 86400, &a->warmup_secs);
	case WB_OPT_CONNECT_TIMEOUT: return wb_num_parse(v, 3600000, &a->connect_timeout_ms);
	default: return CK_E_INVALID;
	}
}

static int wb_args_parse(int argc, char **argv, wb_args_t *a)
{
	int opt;

	*a = (wb_args_t){.iters = 2000, .block_bytes = 4096, .total_mb = 0, .write_kb = 1024,
			 .sync_mb = 16, .appenders = 1, .conns = 0, .partitions = 1,
			 .batch_bytes = 1024, .secs = 5, .warmup_secs = 1,
			 .connect_timeout_ms = 10000};
	a->wal.topic = "walbench";
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", wb_options, NULL)) != -1)
		if (opt == '?' || wb_opt_apply(a, opt, optarg) < 0)
			return CK_E_INVALID;
	if (optind != argc) {
		fprintf(stderr, "chronik-walbench: unexpected argument '%s'\n", argv[optind]);
		return CK_E_INVALID;
	}
	return 0;
}

static int wb_cmd_wal(wb_args_t *a)
{
	wb_wal_opts_t *o = &a->wal;

	if (!o->socket_path) {
		fprintf(stderr, "chronik-walbench: wal needs --socket\n");
		return CK_E_INVALID;
	}
	o->appenders = (int)a->appenders;
	/* Default: one connection per appender up to 16, then shared. */
	o->conns = a->conns > 0 ? (int)a->conns : (o->appenders < 16 ? o->appenders : 16);
	o->partitions = (int)a->partitions;
	o->batch_bytes = (size_t)a->batch_bytes;
	o->secs = a->secs;
	o->warmup_secs = a->warmup_secs;
	o->total_bytes = (uint64_t)(a->total_mb * 1048576.0);
	o->connect_timeout_ms = (int)a->connect_timeout_ms;
	return wb_wal_run(o);
}

/* Prints N distinct loopback TCP ports that were free a moment ago, below
 * the kernel's ephemeral range (ck_free_ports). */
static int wb_cmd_free_ports(const char *arg)
{
	int ports[WB_PORTS_MAX], n = atoi(arg), r;

	if (n < 1 || n > WB_PORTS_MAX)
		return CK_E_INVALID;
	r = ck_free_ports(ports, n);
	if (r < 0)
		return r;
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? " " : "", ports[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	wb_args_t a;
	int r;

	ck_log_init("walbench");
	if (strcmp(cmd, "free-ports") == 0 && argc == 3)
		return wb_cmd_free_ports(argv[2]) < 0 ? 1 : 0;
	if (argc < 2 || wb_args_parse(argc, argv, &a) < 0) {
		wb_usage();
		return 2;
	}
	if ((strcmp(cmd, "disk-sync") == 0 || strcmp(cmd, "disk-seq") == 0) && !a.dir) {
		fprintf(stderr, "chronik-walbench: %s needs --dir\n", cmd);
		return 2;
	}
	if (strcmp(cmd, "disk-sync") == 0)
		r = wb_disk_sync_run(a.dir, (int)a.iters, (size_t)a.block_bytes);
	else if (strcmp(cmd, "disk-seq") == 0)
		r = wb_disk_seq_run(a.dir, (uint64_t)((a.total_mb > 0 ? a.total_mb : 1024) * 1048576.0),
				    (size_t)(a.write_kb * 1024), (uint64_t)(a.sync_mb * 1048576.0));
	else if (strcmp(cmd, "wal") == 0)
		r = wb_cmd_wal(&a);
	else {
		wb_usage();
		return 2;
	}
	if (r == CK_E_INVALID) {
		fprintf(stderr, "chronik-walbench: invalid arguments for %s\n", cmd);
		return 2;
	}
	return r < 0 ? 1 : 0;
}
