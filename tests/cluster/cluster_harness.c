/*
 * cluster_harness.c: the 3-node cluster of the `cluster` test suite (see
 * cluster_harness.h). Signals only the supervisors it started and the
 * children it finds under them, by pid; runs `ip` and `iptables` only on
 * the network namespaces it created (named after its runner's pid).
 */
#include "cluster_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "ck_meta.h"
#include "ck_testlib.h"
#include "control.pb-c.h"

/* ---- network namespaces ---- */

#define CL_NETNS_DIR "/run/netns"

static pid_t cl_netns_owner; /* set by cl_netns_usable() in the runner */

/* Runs ARGV (PATH lookup) and waits; its stdout and stderr, cut to OUT_LEN
 * and without the last newline, go into OUT. Returns its ck_test_exit_code() (127: not found),
 * -errno when it could not be started. */
static int cl_run(const char *const *argv, char *out, size_t out_len)
{
	size_t len = 0;
	int fds[2], status = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		(void)close(fds[0]);
		(void)close(fds[1]);
		return err;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "%s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	(void)close(fds[1]);
	for (;;) {
		char buf[256];
		ssize_t r = read(fds[0], buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t k = 0; k < r && len + 1 < out_len; k++)
			out[len++] = buf[k];
		out[len] = '\0';
	}
	if (len > 0 && out[len - 1] == '\n')
		out[len - 1] = '\0';
	(void)close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return ck_test_exit_code(status);
}

/* `ip netns add NAME` and its loopback up. Returns 0, or -1 with WHY. */
static int cl_netns_add(const char *name, char *why, size_t why_len)
{
	const char *add[] = {"ip", "netns", "add", name, NULL};
	const char *lo[] = {"ip", "-n", name, "link", "set", "lo", "up", NULL};
	char out[256];
	int r;

	if ((r = cl_run(add, out, sizeof(out))) != 0) {
		snprintf(why, why_len, "ip netns add %s: exit %d %s", name, r, out);
		return -1;
	}
	if ((r = cl_run(lo, out, sizeof(out))) != 0) {
		snprintf(why, why_len, "ip -n %s link set lo up: exit %d %s", name, r, out);
		return -1;
	}
	return 0;
}

/* Deletes namespace NAME; a failure is reported on stderr (teardown). */
static void cl_netns_delete(const char *name)
{
	const char *del[] = {"ip", "netns", "del", name, NULL};
	char out[256];
	int r = cl_run(del, out, sizeof(out));

	if (r != 0)
		fprintf(stderr, "cluster: ip netns del %s: exit %d %s\n", name, r, out);
}

/* CMD (NULL-terminated) run by `ip netns exec NS`, as cl_run(). */
static int cl_ns_run(const char *ns, const char *const *cmd, char *out, size_t out_len)
{
	const char *argv[24] = {"ip", "netns", "exec", ns};
	int argc = 4;

	/* No ck_assert: cl_netns_usable() runs outside a test. */
	for (int k = 0; cmd[k]; k++) {
		if (argc == 23)
			return -E2BIG;
		argv[argc++] = cmd[k];
	}
	argv[argc] = NULL;
	return cl_run(argv, out, out_len);
}

/* `iptables -A|-D INPUT <RULE...> -j DROP` inside namespace NS. */
static int cl_iptables(const char *ns, bool add, const char *const *rule, char *out, size_t out_len)
{
	const char *cmd[16] = {"iptables", "-w", add ? "-A" : "-D", "INPUT"};
	int n = 4;

	for (int k = 0; rule[k]; k++)
		cmd[n++] = rule[k];
	cmd[n++] = "-j";
	cmd[n++] = "DROP";
	cmd[n] = NULL;
	return cl_ns_run(ns, cmd, out, out_len);
}

static pid_t cl_netns_owner_pid(void)
{
	return cl_netns_owner ? cl_netns_owner : getpid();
}

bool cl_netns_usable(char *why, size_t why_len)
{
	const char *rule[] = {"-s", "127.0.0.2", "!", "-d", "127.0.0.2", NULL};
	const char *ss[] = {"ss", "-Htn", NULL};
	char name[48], out[256];
	int r;

	cl_netns_owner = getpid();
	snprintf(name, sizeof(name), "ckpart-%d-probe", (int)cl_netns_owner);
	if (cl_netns_add(name, why, why_len) < 0) {
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", CL_NETNS_DIR, name);
		if (access(path, F_OK) == 0)
			cl_netns_delete(name);
		return false;
	}
	r = cl_iptables(name, true, rule, out, sizeof(out));
	if (r != 0)
		snprintf(why, why_len, "iptables in a network namespace: exit %d %s", r, out);
	else if ((r = cl_ns_run(name, ss, out, sizeof(out))) != 0)
		snprintf(why, why_len, "ss in a network namespace: exit %d %s", r, out);
	cl_netns_delete(name);
	return r == 0;
}

static void cl_netns_create(cl_t *c)
{
	char why[512];

	snprintf(c->netns, sizeof(c->netns), "ckpart-%d-%d", (int)cl_netns_owner_pid(),
	         (int)getpid());
	ck_assert_msg(cl_netns_add(c->netns, why, sizeof(why)) == 0, "%s", why);
}

void cl_isolate(cl_t *c, int i, bool on)
{
	char addr[16], out[256];
	const char *from[] = {"-s", addr, "!", "-d", addr, NULL};
	const char *to[] = {"-d", addr, "!", "-s", addr, NULL};
	unsigned bit = 1u << i;
	int r;

	ck_assert_msg(c->netns[0], "cl_isolate needs a cluster in a namespace (cl_init_netns)");
	ck_assert_int_eq(!!(c->isolated & bit), !on);
	snprintf(addr, sizeof(addr), "127.0.0.%d", i);
	r = cl_iptables(c->netns, on, from, out, sizeof(out));
	ck_assert_msg(r == 0, "iptables %s from %s: exit %d %s", on ? "-A" : "-D", addr, r, out);
	r = cl_iptables(c->netns, on, to, out, sizeof(out));
	ck_assert_msg(r == 0, "iptables %s to %s: exit %d %s", on ? "-A" : "-D", addr, r, out);
	c->isolated ^= bit;
}

int cl_netns_run(cl_t *c, const char *const *cmd, char *out, size_t out_len)
{
	ck_assert_msg(c->netns[0], "cl_netns_run needs a cluster in a namespace (cl_init_netns)");
	return cl_ns_run(c->netns, cmd, out, out_len);
}

int cl_netns_sweep(void)
{
	char prefix[48];
	DIR *d = opendir(CL_NETNS_DIR);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	snprintf(prefix, sizeof(prefix), "ckpart-%d-", (int)cl_netns_owner_pid());
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		cl_netns_delete(de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* ---- set-up ---- */

static void cl_ports(cl_t *c)
{
	int used[CL_NODES * 4];
	int k = 0;

	for (int i = 0; i < CL_NODES; i++) {
		int *p[4] = {&c->n[i].kafka, &c->n[i].repl, &c->n[i].raft, &c->n[i].admin};

		for (int j = 0; j < 4; j++) {
			bool dup;
			int port;

			do {
				port = ck_test_free_port();
				dup = false;
				for (int m = 0; m < k; m++)
					dup |= used[m] == port;
			} while (dup);
			used[k++] = port;
			*p[j] = port;
		}
	}
}

static void cl_write_config(cl_t *c, cl_node_t *n)
{
	char text[4096];
	int len;

	len = snprintf(text, sizeof(text),
	               "[node]\nid = %d\ncluster_id = \"chronik-test\"\ndata_dir = \"%s\"\n\n"
	               "[listeners]\nkafka = \"%s:%d\"\nreplication = \"%s:%d\"\n"
	               "raft = \"%s:%d\"\nadmin = \"%s:%d\"\n\n"
	               "[supervisor]\nrestart_backoff_initial_ms = 100\n"
	               "restart_backoff_max_ms = 1000\n\n",
	               n->id, n->view.data, n->host, n->kafka, n->host, n->repl, n->host, n->raft,
	               n->host, n->admin);
	for (int i = 0; i < CL_NODES; i++) {
		const cl_node_t *p = &c->n[i];

		len += snprintf(text + len, sizeof(text) - (size_t)len,
		                "[peer.%d]\nraft = \"%s:%d\"\n"
		                "replication = \"%s:%d\"\nkafka = \"%s:%d\"\n\n",
		                p->id, p->host, p->raft, p->host, p->repl, p->host, p->kafka);
	}
	ck_assert_int_lt(len, (int)sizeof(text));
	ck_test_write_file(n->config, text, (size_t)len);
}

static void cl_init_in(cl_t *c, const char *tag, uint64_t snapshot_entries, bool netns)
{
	char path[300], kv[300];

	memset(c, 0, sizeof(*c));
	/* Children of a killed supervisor come to us: we reap them. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_test_mkdtemp(c->root, sizeof(c->root), tag);
	c->snapshot_entries = snapshot_entries;
	cl_ports(c);
	for (int i = 0; i < CL_NODES; i++) {
		c->n[i].id = i + 1;
		snprintf(c->n[i].host, sizeof(c->n[i].host), "127.0.0.%d", netns ? i + 1 : 1);
	}
	if (netns)
		cl_netns_create(c);
	for (int i = 0; i < CL_NODES; i++) {
		cl_node_t *n = &c->n[i];
		char dir[128];

		/* Built from copies: the compiler cannot tell the members apart. */
		ck_assert_int_lt(snprintf(dir, sizeof(dir), "%s/node%d", c->root, n->id),
		                 (int)sizeof(dir) - 24);
		snprintf(n->dir, sizeof(n->dir), "%s", dir);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
		snprintf(n->config, sizeof(n->config), "%s.toml", dir);
		snprintf(n->view.root, sizeof(n->view.root), "%s", dir);
		snprintf(n->view.data, sizeof(n->view.data), "%s/data", dir);
		snprintf(n->view.raftd_sock, sizeof(n->view.raftd_sock), "%s/data/run/raftd.sock",
		         dir);
		snprintf(n->control, sizeof(n->control), "%s/data/run/control.sock", dir);
		cl_write_config(c, n);
		snprintf(path, sizeof(path), "%s/node%d.log", c->root, n->id);
		snprintf(kv, sizeof(kv), "%s/node%d.notify", c->root, n->id);
		ck_test_proc_init(&n->sup, "supervisor/chronik-server", path, kv);
		if (netns) {
			/* `ip netns exec NS <server> ...`: ip execs the server. */
			size_t len = strnlen(n->sup.bin, sizeof(n->sup.bin) - 1);

			ck_assert_uint_lt(len, sizeof(n->server));
			memcpy(n->server, n->sup.bin, len);
			n->server[len] = '\0';
			snprintf(n->sup.bin, sizeof(n->sup.bin), "ip");
		}
		ck_test_proc_env(&n->sup, "CHRONIK_WAL_PREALLOCATE_BYTES=4096");
		if (snapshot_entries) {
			snprintf(kv, sizeof(kv), "CHRONIK_RAFTD_SNAPSHOT_ENTRIES=%llu",
			         (unsigned long long)snapshot_entries);
			ck_test_proc_env(&n->sup, kv);
		}
		if (getenv("CHRONIK_TEST_LOG_LEVEL")) {
			snprintf(kv, sizeof(kv), "CHRONIK_LOG_LEVEL=%s",
			         getenv("CHRONIK_TEST_LOG_LEVEL"));
			ck_test_proc_env(&n->sup, kv);
		}
	}
}

void cl_init(cl_t *c, const char *tag, uint64_t snapshot_entries)
{
	cl_init_in(c, tag, snapshot_entries, false);
}

void cl_init_netns(cl_t *c, const char *tag)
{
	cl_init_in(c, tag, 0, true);
}

void cl_env(cl_t *c, const char *kv)
{
	for (int i = 0; i < CL_NODES; i++)
		ck_test_proc_env(&c->n[i].sup, kv);
}

/* A sanitizer's report in node N's log (a sanitized build's children
 * write theirs to stderr, the node's log) fails the test, even when the
 * supervisor restarted the child and the test saw nothing. */
static void cl_sanitizer_check(const cl_node_t *n)
{
	char line[512];

	if (n->sup.logpath[0] && ck_test_sanitizer_report(n->sup.logpath, line, sizeof(line)))
		ck_abort_msg("node %d, sanitizer report in %s: %s", n->id, n->sup.logpath, line);
}

void cl_cleanup(cl_t *c)
{
	for (int i = 0; i < CL_NODES; i++) {
		cl_node_t *n = &c->n[i];

		if (n->sup.pid > 0)
			(void)ck_test_proc_stop(&n->sup, SIGTERM, 20000);
		ck_test_proc_cleanup(&n->sup);
	}
	/* Orphans of killed supervisors (they got SIGTERM from the kernel). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (c->netns[0]) {
		cl_netns_delete(c->netns);
		c->netns[0] = '\0';
	}
	for (int i = 0; i < CL_NODES; i++)
		cl_sanitizer_check(&c->n[i]);
}

/* ---- processes ---- */

/* Starts node N's supervisor, through `ip netns exec` in a netns. */
static void cl_launch(cl_t *c, cl_node_t *n)
{
	const char *args[] = {"start", "--config", n->config, NULL};
	const char *ns_args[] = {"netns", "exec",     c->netns,  n->server,
	                         "start", "--config", n->config, NULL};

	ck_test_proc_start(&n->sup, c->netns[0] ? ns_args : args);
}

/* Waits for node N's READY=1; in a netns, also that the pid is the
 * server's (ip exec'd it), which every signal here relies on. */
static void cl_wait_ready(cl_t *c, cl_node_t *n)
{
	char path[64], *comm;

	ck_assert_msg(ck_test_proc_wait_ready(&n->sup, 60000) == 0,
	              "node %d did not get ready, see %s", n->id, n->sup.logpath);
	if (!c->netns[0])
		return;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)n->sup.pid);
	comm = ck_test_read_text(path, NULL);
	ck_assert_msg(!strcmp(comm, "chronik-server\n"), "node %d pid %d runs %s", n->id,
	              (int)n->sup.pid, comm);
	free(comm);
}

void cl_start(cl_t *c, int i)
{
	cl_launch(c, &c->n[i - 1]);
	cl_wait_ready(c, &c->n[i - 1]);
}

void cl_start_all(cl_t *c)
{
	for (int i = 1; i <= CL_NODES; i++)
		cl_launch(c, &c->n[i - 1]);
	for (int i = 1; i <= CL_NODES; i++)
		cl_wait_ready(c, &c->n[i - 1]);
}

void cl_stop(cl_t *c, int i)
{
	cl_node_t *n = &c->n[i - 1];

	ck_assert_int_eq(ck_test_proc_stop(&n->sup, SIGTERM, 30000), 0);
}

/* The children of PARENT whose command is COMM (NULL: any): their pids. */
static int cl_children(pid_t parent, const char *comm, pid_t *ret, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL && n < max) {
		char path[300], *text, *rp;
		pid_t pid = (pid_t)atoi(de->d_name), ppid = 0;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		text = ck_test_read_text(path, NULL);
		rp = strrchr(text, ')');
		if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == parent) {
			char *lp = strchr(text, '(');
			size_t len = lp ? (size_t)(rp - lp - 1) : 0;

			/* comm is the executable's name cut to 15 bytes. */
			size_t want = comm ? CK_MIN(strlen(comm), (size_t)15) : 0;

			if (!comm || (lp && len == want && !strncmp(lp + 1, comm, len)))
				ret[n++] = pid;
		}
		free(text);
	}
	closedir(d);
	return n;
}

static void cl_reap(pid_t pid)
{
	uint64_t deadline = ck_clock_mono_ms() + 10000;

	while (ck_clock_mono_ms() < deadline) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return;
		ck_test_sleep_ms(10);
	}
}

void cl_kill9(cl_t *c, int i)
{
	cl_node_t *n = &c->n[i - 1];
	pid_t kids[16];
	int nk;

	ck_assert_int_gt(n->sup.pid, 0);
	ck_assert_int_eq(kill(n->sup.pid, SIGSTOP), 0);
	nk = cl_children(n->sup.pid, NULL, kids, 16);
	for (int k = 0; k < nk; k++)
		(void)kill(kids[k], SIGKILL);
	ck_assert_int_eq(kill(n->sup.pid, SIGKILL), 0);
	ck_assert_int_eq(ck_test_proc_wait_exit(&n->sup, 10000), 128 + SIGKILL);
	for (int k = 0; k < nk; k++)
		cl_reap(kids[k]);
}

void cl_wipe(cl_t *c, int i)
{
	cl_node_t *n = &c->n[i - 1];

	ck_assert_int_eq(n->sup.pid, 0);
	ck_assert_int_eq(ck_test_rmtree(n->view.data), 0);
}

pid_t cl_child_pid(cl_t *c, int i, const char *exe)
{
	pid_t pid = 0;

	if (c->n[i - 1].sup.pid <= 0)
		return 0;
	return cl_children(c->n[i - 1].sup.pid, exe, &pid, 1) == 1 ? pid : 0;
}

pid_t cl_raftd_pid(cl_t *c, int i)
{
	return cl_child_pid(c, i, "chronik-raftd");
}

/* ---- raftd status ---- */

/* One request/reply on raftd.sock of node I without assertions (for
 * threads and for nodes that may be down). */
static Chronik__Raftd__RaftdReply *cl_call(const char *sock, Chronik__Raftd__RaftdRequest *req,
                                           int timeout_ms)
{
	Chronik__Raftd__RaftdReply *rep = NULL;
	ck_buf_t frame = CK_BUF_INIT;
	int fd;

	if (ck_ipc_sync_connect(sock, 200, &fd) < 0)
		return NULL;
	req->correlation_id = 1;
	if (ck_ipc_sync_send_msg(fd, &req->base) == 0 &&
	    ck_ipc_sync_recv(fd, 0, timeout_ms, &frame) == 0)
		rep = chronik__raftd__raftd_reply__unpack(NULL, frame.len, frame.data);
	(void)close(fd);
	ck_buf_free(&frame);
	return rep;
}

bool cl_status(cl_t *c, int i, Chronik__Raftd__RaftStatus *ret, char *role, size_t role_len)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__GetStatus gs = CHRONIK__RAFTD__GET_STATUS__INIT;
	Chronik__Raftd__RaftdReply *rep;
	bool ok;

	role[0] = '\0';
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_STATUS;
	req.status = &gs;
	rep = cl_call(c->n[i - 1].view.raftd_sock, &req, 1000);
	ok = rep && rep->error == 0 && rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_STATUS;
	if (ok) {
		*ret = *rep->status;
		ret->role = NULL;
		snprintf(role, role_len, "%s", rep->status->role);
	}
	if (rep)
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	return ok;
}

int cl_other(int a, int b)
{
	for (int i = 1; i <= CL_NODES; i++) {
		if (i != a && i != b)
			return i;
	}
	return 0;
}

int cl_leader_of(cl_t *c, int i, uint64_t *ret_term)
{
	Chronik__Raftd__RaftStatus st;
	char role[32];

	if (!cl_status(c, i, &st, role, sizeof(role)))
		return 0;
	if (ret_term)
		*ret_term = st.term;
	return st.leader_id > 0 ? st.leader_id : 0;
}

int cl_wait_leader(cl_t *c, unsigned mask, uint64_t min_term, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	do {
		int leader = 0;
		uint64_t term = 0;
		bool agree = true;

		for (int i = 1; i <= CL_NODES && agree; i++) {
			Chronik__Raftd__RaftStatus st;
			char role[32];

			if (!(mask & (1u << i)))
				continue;
			if (!cl_status(c, i, &st, role, sizeof(role)) || st.term <= min_term ||
			    st.leader_id <= 0) {
				agree = false;
				break;
			}
			if (leader == 0) {
				leader = st.leader_id;
				term = st.term;
			}
			agree = st.leader_id == leader && st.term == term;
		}
		if (agree && leader > 0 && (mask & (1u << leader)))
			return leader;
		ck_test_sleep_ms(20);
	} while (ck_clock_mono_ms() < deadline);
	return 0;
}

/* ---- proposals ---- */

void cl_create_cmd(rit_create_t *b, const char *name, size_t i)
{
	rit_create_cmd(b, name, 1);
	b->replicas[0] = 1 + (int32_t)(i % 3);
}

typedef struct {
	const char *prefix;
	size_t first;
} cl_make_t;

static void cl_make(size_t i, rit_create_t *b, void *arg)
{
	const cl_make_t *m = arg;
	char name[64];

	snprintf(name, sizeof(name), "%s%05zu", m->prefix, m->first + i);
	cl_create_cmd(b, name, m->first + i);
}

void cl_create_many(cl_t *c, int i, const char *prefix, size_t first, size_t n, int nconn)
{
	cl_make_t m = {prefix, first};
	rit_answer_t *ans = calloc(n, sizeof(*ans));
	size_t ok = 0;

	ck_assert_ptr_nonnull(ans);
	(void)rit_propose_many(&c->n[i - 1].view, nconn, n, cl_make, &m, NULL, NULL, ans, 120000);
	for (size_t k = 0; k < n; k++) {
		ck_assert_msg(ans[k].err == 0 && ans[k].result == 0,
		              "%s%05zu on node %d: err=%d (%s) result=%d", prefix, first + k, i,
		              ans[k].err, ans[k].err ? ck_strerror(ans[k].err) : "-",
		              ans[k].result);
		ok++;
	}
	ck_assert_uint_eq(ok, n);
	free(ans);
}

/* ---- LMDB ---- */

size_t cl_topics(cl_t *c, int i, const char *prefix)
{
	return rit_meta_topics(&c->n[i - 1].view, prefix, NULL, NULL);
}

static int cl_topic_match(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	return strcmp(rec->name, arg) == 0;
}

bool cl_topic_exists(cl_t *c, int i, const char *name)
{
	ck_meta_t *m;
	MDB_txn *txn;
	int r;

	ck_assert_int_eq(ck_meta_open(c->n[i - 1].view.data, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	r = ck_meta_topics_foreach(m, txn, cl_topic_match, (void *)name);
	ck_meta_read_end(txn);
	ck_meta_close(m);
	ck_assert_int_ge(r, 0);
	return r == 1;
}

uint64_t cl_applied(cl_t *c, int i)
{
	return rit_meta_applied(&c->n[i - 1].view);
}

int cl_broker_fenced(cl_t *c, int i, int32_t b)
{
	Chronik__Meta__BrokerRecord *rec = NULL;
	ck_meta_t *m;
	MDB_txn *txn;
	int r;

	ck_assert_int_eq(ck_meta_open(c->n[i - 1].view.data, &m), 0);
	ck_assert_int_eq(ck_meta_read_begin(m, &txn), 0);
	r = ck_meta_broker_get(m, txn, b, &rec);
	ck_meta_read_end(txn);
	ck_meta_close(m);
	if (r == CK_E_NOT_FOUND)
		return -1;
	ck_assert_int_eq(r, 0);
	r = rec->fenced ? 1 : 0;
	chronik__meta__broker_record__free_unpacked(rec, NULL);
	return r;
}

typedef struct {
	ck_meta_t *m;
	MDB_txn *txn;
	ck_buf_t *out;
} cl_dump_t;

static void cl_dump_msg(ck_buf_t *out, char kind, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *p = ck_buf_extend(out, len + 1);

	ck_assert_ptr_nonnull(p);
	p[0] = (uint8_t)kind;
	(void)protobuf_c_message_pack(msg, p + 1);
}

static int cl_dump_part(void *arg, const Chronik__Meta__PartitionRecord *rec)
{
	cl_dump_msg(((cl_dump_t *)arg)->out, 'P', &rec->base);
	return 0;
}

static int cl_dump_topic(void *arg, const Chronik__Meta__TopicRecord *rec)
{
	cl_dump_t *d = arg;

	cl_dump_msg(d->out, 'T', &rec->base);
	return ck_meta_partitions_foreach(d->m, d->txn, rec->name, cl_dump_part, d) < 0;
}

static int cl_dump_broker(void *arg, const Chronik__Meta__BrokerRecord *rec)
{
	cl_dump_msg(((cl_dump_t *)arg)->out, 'B', &rec->base);
	return 0;
}

void cl_dump(cl_t *c, int i, ck_buf_t *out)
{
	cl_dump_t d = {NULL, NULL, out};
	uint64_t applied = 0;
	int64_t next_pid = 0;

	ck_buf_reset(out);
	ck_assert_int_eq(ck_meta_open(c->n[i - 1].view.data, &d.m), 0);
	ck_assert_int_eq(ck_meta_read_begin(d.m, &d.txn), 0);
	ck_assert_int_eq(ck_meta_applied_index(d.m, d.txn, &applied), 0);
	ck_assert_int_eq(ck_meta_producer_id_next(d.m, d.txn, &next_pid), 0);
	ck_assert_int_eq(ck_buf_append(out, &applied, sizeof(applied)), 0);
	ck_assert_int_eq(ck_buf_append(out, &next_pid, sizeof(next_pid)), 0);
	ck_assert_int_eq(ck_meta_topics_foreach(d.m, d.txn, cl_dump_topic, &d), 0);
	ck_assert_int_eq(ck_meta_brokers_foreach(d.m, d.txn, cl_dump_broker, &d), 0);
	ck_meta_read_end(d.txn);
	ck_meta_close(d.m);
}

void cl_wait_same(cl_t *c, unsigned mask, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;
	ck_buf_t a = CK_BUF_INIT, b = CK_BUF_INIT;
	bool same = false;

	while (!same) {
		int first = 0;

		same = true;
		for (int i = 1; i <= CL_NODES && same; i++) {
			if (!(mask & (1u << i)))
				continue;
			if (!first) {
				first = i;
				cl_dump(c, i, &a);
				continue;
			}
			cl_dump(c, i, &b);
			same = a.len == b.len && !memcmp(a.data, b.data, a.len);
		}
		if (same)
			break;
		ck_assert_msg(ck_clock_mono_ms() < deadline,
		              "node states differ: applied %llu / %llu / %llu",
		              (unsigned long long)((mask & 2) ? cl_applied(c, 1) : 0),
		              (unsigned long long)((mask & 4) ? cl_applied(c, 2) : 0),
		              (unsigned long long)((mask & 8) ? cl_applied(c, 3) : 0));
		ck_test_sleep_ms(50);
	}
	ck_buf_free(&a);
	ck_buf_free(&b);
}

/* ---- the supervisor's view ---- */

void cl_raftd_status_text(cl_t *c, int i, char *buf, size_t len)
{
	Chronik__Control__ControlRequest req = CHRONIK__CONTROL__CONTROL_REQUEST__INIT;
	Chronik__Control__StatusRequest sr = CHRONIK__CONTROL__STATUS_REQUEST__INIT;
	Chronik__Control__ControlReply *rep;
	ck_buf_t frame = CK_BUF_INIT;
	int fd;

	buf[0] = '\0';
	ck_assert_int_eq(ck_ipc_sync_connect(c->n[i - 1].control, 5000, &fd), 0);
	req.correlation_id = 7;
	req.body_case = CHRONIK__CONTROL__CONTROL_REQUEST__BODY_STATUS;
	req.status = &sr;
	ck_assert_int_eq(ck_ipc_sync_send_msg(fd, &req.base), 0);
	ck_assert_int_eq(ck_ipc_sync_recv(fd, 0, 5000, &frame), 0);
	(void)close(fd);
	rep = chronik__control__control_reply__unpack(NULL, frame.len, frame.data);
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->body_case, CHRONIK__CONTROL__CONTROL_REPLY__BODY_STATUS);
	for (size_t k = 0; k < rep->status->n_children; k++) {
		if (!strcmp(rep->status->children[k]->name, "raftd"))
			snprintf(buf, len, "%s", rep->status->children[k]->status_text);
	}
	chronik__control__control_reply__free_unpacked(rep, NULL);
	ck_buf_free(&frame);
}

/* ---- a stream of CreateTopics ---- */

struct cl_stream {
	cl_t *c;
	int node;
	char prefix[32];
	pthread_t th;
	atomic_bool stop;
	atomic_size_t acked;
	size_t bad;
};

/* One CreateTopic; returns the transport error, the apply result in
 * *RET_RESULT (CK_E_CLOSED when there was no answer). */
static int cl_stream_one(cl_stream_t *s, size_t i, int *ret_result)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Propose p = CHRONIK__RAFTD__PROPOSE__INIT;
	Chronik__Raftd__RaftdReply *rep;
	rit_create_t b;
	char name[64];
	int err;

	snprintf(name, sizeof(name), "%s%05zu", s->prefix, i);
	cl_create_cmd(&b, name, i);
	p.command = &b.cmd;
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
	req.propose = &p;
	rep = cl_call(s->c->n[s->node - 1].view.raftd_sock, &req, 40000);
	if (!rep || rep->correlation_id != 1)
		err = CK_E_CLOSED;
	else if ((err = rep->error) == 0)
		*ret_result = rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE
		                  ? rep->propose->result
		                  : CK_E_PROTO;
	if (rep)
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	return err;
}

static void *cl_stream_main(void *arg)
{
	cl_stream_t *s = arg;
	size_t i = 0;

	while (!atomic_load(&s->stop)) {
		int result = 0, err = cl_stream_one(s, i, &result);

		if (err == 0 && result == 0) {
			atomic_store(&s->acked, ++i);
			continue;
		}
		if (err == 0 || (err != CK_E_NOT_LEADER && err != CK_E_TIMEOUT &&
		                 err != CK_E_CLOSED && err != CK_E_AGAIN)) {
			fprintf(stderr, "stream: %s%05zu err=%d result=%d\n", s->prefix, i, err,
			        result);
			s->bad++;
		}
		ck_test_sleep_ms(20); /* then the same topic again */
	}
	return NULL;
}

cl_stream_t *cl_stream_start(cl_t *c, int i, const char *prefix)
{
	cl_stream_t *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->c = c;
	s->node = i;
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	atomic_init(&s->stop, false);
	atomic_init(&s->acked, 0);
	ck_assert_int_eq(pthread_create(&s->th, NULL, cl_stream_main, s), 0);
	return s;
}

size_t cl_stream_acked(cl_stream_t *s)
{
	return atomic_load(&s->acked);
}

size_t cl_stream_stop(cl_stream_t *s, size_t *ret_bad)
{
	size_t acked;

	atomic_store(&s->stop, true);
	ck_assert_int_eq(pthread_join(s->th, NULL), 0);
	acked = atomic_load(&s->acked);
	*ret_bad = s->bad;
	free(s);
	return acked;
}

/* ---- test selection ---- */

void cl_add_test(TCase *tc, const TTest *t, const char *name)
{
	const char *only = getenv("CHRONIK_CLUSTER_ONLY");

	if (!only || !*only || strncmp(name, "test_", 5) != 0 || !strcmp(only, name + 5))
		tcase_add_test(tc, t);
}
