/*
 * sup_spawn.c: starting one child process (chronik-server).
 *
 * Owned by the supervisor shell. Finds the child binaries and forks+execs a
 * child the way systemd socket activation would start it: its listening
 * sockets as fds 3.. with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, the
 * "supervisor" socketpair end last, NOTIFY_SOCKET pointing at its own notify
 * socket, GLIBC_TUNABLES for its allocator unless the operator set it,
 * SCHED_BATCH unless configured otherwise, optionally under a [wrapper]
 * command prefix.
 * Invariants: every fd the supervisor holds is close-on-exec, so a child
 * inherits exactly stdin/stdout/stderr, the fds laid out here and, right
 * after them (not counted in LISTEN_FDS), the data dir lock: a supervisor
 * killed with SIGKILL leaves the lock held until its last child has exited,
 * so a new node never runs next to the old one's leftovers. A child dies
 * with the supervisor (PR_SET_PDEATHSIG, plus the socketpair EOF it watches
 * itself).
 * Not for: deciding when to start or restart (sup_loop.c, sup_core.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ck_err.h"
#include "ck_listen.h"
#include "ck_notify.h"
#include "sup_loop.h"

#define CK_LOG_SUBSYSTEM "spawn"
#include "ck_log.h"

#ifndef CHRONIK_LIBEXECDIR
#define CHRONIK_LIBEXECDIR "/usr/local/libexec"
#endif
#ifndef CHRONIK_BINDIR
#define CHRONIK_BINDIR "/usr/local/bin"
#endif

#define SUP_ARGV_MAX 64

/* glibc's allocator in every child unless the operator set GLIBC_TUNABLES
 * (even empty): the heap in transparent huge pages where the kernel allows
 * them on request (THP "madvise"), and one arena, so that a helper thread's
 * allocations come from that heap too (a thread arena grows 4 KiB at a time
 * by mprotect and would not get huge pages). A process whose memory grows
 * with the metadata (a store per log, a cache entry per topic) otherwise
 * takes a page fault per 4 KiB; on a VM with shadow paging each costs
 * 10-20 µs (docs/BENCHMARKS.md). */
#define SUP_MALLOC_TUNABLES "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=1"

/* The children hand every write on to one another (frontend -> raftd ->
 * walwriter and the peers' raftd, and back): under SCHED_OTHER each wakeup
 * of the next hop on a busy CPU preempts the process that is still sending
 * (a leader's raftd is preempted by its first follower before it has
 * written to the second, or to its own walwriter). SCHED_BATCH is the
 * same fair share without wakeup preemption (sched(7)). Only a child that
 * would run under SCHED_OTHER is moved: a supervisor started under another
 * policy (chrt) passes that on. Failure is not fatal: the policy is a
 * matter of speed. */
static void sup_spawn_sched_batch(void)
{
	struct sched_param sp = {.sched_priority = 0};

	if (sched_getscheduler(0) == SCHED_OTHER)
		(void)sched_setscheduler(0, SCHED_BATCH, &sp);
}

/* Appends "DIR/FILE" to the candidate list if it fits. */
static void sup_binary_candidate(char (*cands)[PATH_MAX], int *n, const char *dir, const char *file)
{
	if (*n >= 4 || !dir || !*dir)
		return;
	if (snprintf(cands[*n], PATH_MAX, "%s/%s", dir, file) < PATH_MAX)
		(*n)++;
}

int sup_binary_find(const char *name, char *ret, char *tried, size_t tried_len)
{
	char cands[4][PATH_MAX], self[PATH_MAX], file[128], tree[PATH_MAX + 160];
	const char *env = getenv("CHRONIK_LIBEXEC_DIR");
	size_t used = 0;
	ssize_t n;
	int count = 0;

	snprintf(file, sizeof(file), "chronik-%s", name);
	if (env && *env) {
		/* An explicit directory is the only place looked at. */
		sup_binary_candidate(cands, &count, env, file);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			char *dir;

			self[n] = '\0';
			dir = dirname(self);
			sup_binary_candidate(cands, &count, dir, file);
			snprintf(tree, sizeof(tree), "%s/../%s", dir, name);
			sup_binary_candidate(cands, &count, tree, file);
		}
		sup_binary_candidate(cands, &count, CHRONIK_LIBEXECDIR, file);
		sup_binary_candidate(cands, &count, CHRONIK_BINDIR, file);
	}
	if (tried_len)
		tried[0] = '\0';
	for (int i = 0; i < count; i++) {
		if (access(cands[i], X_OK) == 0 && realpath(cands[i], ret))
			return 0;
		if (used < tried_len) {
			int w = snprintf(tried + used, tried_len - used, "%s%s", i ? ", " : "",
			                 cands[i]);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	return -ENOENT;
}

/* Splits the wrapper prefix and appends the child's own arguments. Returns
 * the argument count, or -E2BIG. ARGV points into WORDS and NODE. */
static int sup_spawn_argv(sup_node_t *node, sup_child_t *c, char *words, size_t words_len,
                          char *node_id, size_t node_id_len, char **argv)
{
	char *save = NULL, *tok;
	int argc = 0;

	snprintf(words, words_len, "%s", node->cfg.wrapper[c->id]);
	for (tok = strtok_r(words, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc >= SUP_ARGV_MAX - 8)
			return -E2BIG;
		argv[argc++] = tok;
	}
	snprintf(node_id, node_id_len, "%d", node->cfg.node_id);
	argv[argc++] = c->binary;
	if (node->config_path[0]) {
		argv[argc++] = "--config";
		argv[argc++] = node->config_path;
	}
	argv[argc++] = "--data-dir";
	argv[argc++] = node->data_dir;
	argv[argc++] = "--node-id";
	argv[argc++] = node_id;
	argv[argc] = NULL;
	return argc;
}

/* In the forked child: moves FDS[0..N) to 3.. (clearing close-on-exec).
 * Sources may themselves sit in 3..: they are first copied above the
 * target range. Returns 0 or -errno. */
static int sup_spawn_layout_fds(const int *fds, int n)
{
	int tmp[SUP_CHILD_FDS_MAX + 2];

	for (int i = 0; i < n; i++) {
		tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, CK_LISTEN_FDS_START + n);
		if (tmp[i] < 0)
			return -errno;
	}
	for (int i = 0; i < n; i++) {
		if (dup2(tmp[i], CK_LISTEN_FDS_START + i) < 0)
			return -errno;
	}
	return 0;
}

/* In the forked child: never returns. */
static void __attribute__((noreturn))
sup_spawn_exec(sup_node_t *node, sup_child_t *c, char **argv, const int *fds, int nfds,
               const char *names, pid_t parent)
{
	static const int reset[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGQUIT};
	char num[32];
	sigset_t none;
	int r;

	/* Die with the supervisor; if it is already gone, do not start. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(CK_EXIT_RESTART);
	/* Own process group: a terminal's ^C reaches only the supervisor, which
	 * stops the children in order; the group also catches wrapper forks. */
	(void)setpgid(0, 0);
	/* Signals are blocked since before fork: the supervisor's handlers
	 * (which would feed its own loop) are replaced before any arrives. */
	for (size_t i = 0; i < CK_ARRAY_LEN(reset); i++)
		(void)signal(reset[i], SIG_DFL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);

	/* The passed fds, then the lock (inherited, but not announced). */
	r = sup_spawn_layout_fds(fds, nfds + 1);
	snprintf(num, sizeof(num), "%d", nfds);
	if (r == 0 && (setenv("LISTEN_FDS", num, 1) < 0 || setenv("LISTEN_FDNAMES", names, 1) < 0 ||
	               setenv("NOTIFY_SOCKET", c->notify_path, 1) < 0))
		r = -errno;
	snprintf(num, sizeof(num), "%d", (int)getpid());
	if (r == 0 && setenv("LISTEN_PID", num, 1) < 0)
		r = -errno;
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
	if (r == 0 && setenv("GLIBC_TUNABLES", SUP_MALLOC_TUNABLES, 0) < 0)
		r = -errno;
	if (r == 0 && node->cfg.sched_batch)
		sup_spawn_sched_batch();
	if (r == 0) {
		(void)close_range(CK_LISTEN_FDS_START + (unsigned)nfds + 1, ~0U, 0);
		if (strchr(argv[0], '/'))
			execv(argv[0], argv);
		else
			execvp(argv[0], argv);
		r = -errno;
	}
	/* Tell the supervisor why, through the channel it reads. */
	(void)ck_notifyf("STATUS=cannot execute %s: %s", argv[0], ck_strerror(r));
	fprintf(stderr, "chronik-server: %s: cannot execute %s: %s\n", c->name, argv[0],
	        ck_strerror(r));
	_exit(CK_EXIT_FATAL);
}

int sup_child_spawn(sup_node_t *node, sup_child_t *c)
{
	char words[CK_CONFIG_WRAPPER_MAX], node_id[16], names[256] = "";
	char *argv[SUP_ARGV_MAX];
	int fds[SUP_CHILD_FDS_MAX + 2], sp[2] = {-1, -1}, nfds = 0, r;
	pid_t parent = getpid(), pid;
	sigset_t all, old;

	if (sup_spawn_argv(node, c, words, sizeof(words), node_id, sizeof(node_id), argv) < 0)
		return -E2BIG;
	for (int i = 0; i < c->sock_count; i++) {
		fds[nfds++] = node->socks[c->socks[i]];
		strcat(names, c->sock_names[i]);
		strcat(names, ":");
	}
	strcat(names, "supervisor");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	fds[nfds++] = sp[1];
	fds[nfds] = node->lock_fd; /* laid out after the counted ones */
	fflush(NULL);
	sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		sup_spawn_exec(node, c, argv, fds, nfds, names, parent);
	r = pid < 0 ? -errno : 0;
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	(void)close(sp[1]);
	c->pid = pid;
	c->supervisor_fd = sp[0];
	ck_log(CK_LOG_DEBUG, "spawned child=%s pid=%d fds=%s%s%s", c->name, (int)pid, names,
	       node->cfg.wrapper[c->id][0] ? " wrapper=" : "", node->cfg.wrapper[c->id]);
	return 0;
fail:
	(void)close(sp[0]);
	(void)close(sp[1]);
	return r;
}
