/*
 * sup_node.c: preparing and tearing down a node (chronik-server start).
 *
 * Owned by the supervisor shell. Before any child runs: load the
 * configuration and apply the command-line overrides, create the data dir
 * and run/, take the data dir lock (<data_dir>/chronik.lock: flock plus our
 * pid, so a second supervisor refuses instead of stealing the sockets),
 * check the data dir's identity (node.identity: started as the node and in
 * the cluster it was made for), move
 * aside an LMDB `meta` a crash of the machine may have torn (ck_meta.h), find
 * the child binaries, open every listening socket and every child's notify
 * socket. Errors are printed to stderr for the operator, once, here.
 * Invariant: the lock is taken before anything under run/ is touched.
 * Not for: the event loop and child lifecycle (sup_loop.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ck_dataid.h"
#include "ck_err.h"
#include "ck_fs.h"
#include "ck_ipc.h"
#include "ck_listen.h"
#include "ck_meta.h"
#include "ck_notify.h"
#include "ck_rand.h"
#include "sup_loop.h"

#define CK_LOG_SUBSYSTEM "setup"
#include "ck_log.h"

#define SUP_TCP_BACKLOG  1024
#define SUP_UNIX_BACKLOG 128

/* Which listening sockets each child gets, and under which names. */
static const struct {
	int count;
	sup_sock_t socks[2];
	const char *names[2];
} sup_child_socks[CK_CHILD_COUNT] = {
    [CK_CHILD_WALWRITER] = {1, {SUP_SOCK_WALWRITER}, {"walwriter"}},
    [CK_CHILD_RAFTD] = {2, {SUP_SOCK_RAFT, SUP_SOCK_RAFTD}, {"raft", "raftd"}},
    [CK_CHILD_REPLICATOR] = {2,
                             {SUP_SOCK_REPLICATION, SUP_SOCK_REPLICATOR},
                             {"replication", "replicator"}},
    [CK_CHILD_KAFKA_FRONTEND] = {1, {SUP_SOCK_KAFKA}, {"kafka"}},
};

static const char *const sup_sock_names[SUP_SOCK_COUNT] = {
    [SUP_SOCK_KAFKA] = "kafka",
    [SUP_SOCK_REPLICATION] = "replication",
    [SUP_SOCK_RAFT] = "raft",
    [SUP_SOCK_ADMIN] = "admin",
    [SUP_SOCK_WALWRITER] = "walwriter",
    [SUP_SOCK_RAFTD] = "raftd",
    [SUP_SOCK_REPLICATOR] = "replicator",
};

static int sup_node_config(sup_node_t *node, const sup_start_opts_t *opts)
{
	static char data_override[CK_CONFIG_PATH_MAX + 32], id_override[64];
	const char *overrides[3] = {NULL, NULL, NULL};
	char err[1024], mismatch[3][512];
	size_t n_mismatch;
	int r;

	if (opts->config_path && !realpath(opts->config_path, node->config_path)) {
		fprintf(stderr, "chronik-server: %s: %s\n", opts->config_path, strerror(errno));
		return 2;
	}
	/* Flags override the file and the environment, before validation, so
	 * one cluster.toml with [peer.N] tables serves every --node-id. */
	if (opts->data_dir)
		(void)snprintf(data_override, sizeof(data_override), "node.data_dir=%s",
			       opts->data_dir);
	if (opts->node_id > 0)
		(void)snprintf(id_override, sizeof(id_override), "node.id=%d", opts->node_id);
	overrides[0] = opts->data_dir ? data_override : NULL;
	overrides[opts->data_dir ? 1 : 0] = opts->node_id > 0 ? id_override : NULL;
	r = ck_config_load_with(&node->cfg, opts->config_path ? node->config_path : NULL,
				overrides, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "chronik-server: %s\n", err[0] ? err : ck_strerror(r));
		return 2;
	}
	ck_log_set_level((ck_log_level_t)node->cfg.log_level);
	if (node->cfg.log_file[0] && (r = ck_log_set_file(node->cfg.log_file)) < 0) {
		fprintf(stderr, "chronik-server: [log] file %s: %s\n", node->cfg.log_file,
		        ck_strerror(r));
		return 2;
	}
	for (char **e = environ; *e; e++) {
		if (ck_config_env_misspelt(*e))
			ck_log(CK_LOG_WARN,
			       "environment %.*s is not a setting (ignored; see chronik-server "
			       "config-default for the keys: CHRONIK_<TABLE>_<KEY>)",
			       (int)strcspn(*e, "="), *e);
	}
	n_mismatch = ck_config_self_peer_mismatch(&node->cfg, mismatch, CK_ARRAY_LEN(mismatch));
	for (size_t i = 0; i < n_mismatch; i++)
		ck_log(CK_LOG_WARN, "%s", mismatch[i]);
	node->policy_cfg = (sup_policy_cfg_t){
	    .backoff_initial_ms = (uint32_t)node->cfg.restart_backoff_initial_ms,
	    .backoff_max_ms = (uint32_t)node->cfg.restart_backoff_max_ms,
	    .stable_ms = (uint32_t)node->cfg.restart_stable_ms,
	    .burst = (uint32_t)node->cfg.restart_burst,
	    .window_ms = (uint32_t)node->cfg.restart_window_ms,
	};
	if (sup_policy_cfg_sanitize(&node->policy_cfg))
		ck_log(CK_LOG_WARN, "restart settings clamped restart_burst=%u",
		       node->policy_cfg.burst);
	return 0;
}

/* How long a start waits for a live lock owner to go (it may be dying). */
#define SUP_LOCK_GRACE_MS 2000

/* Whether PID has exited (gone, or a zombie not yet reaped). */
static bool sup_pid_gone(pid_t pid)
{
	char path[64], buf[256], *end;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	buf[n > 0 ? n : 0] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	end = strrchr(buf, ')');
	return end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
}

/* Reads the pid written into the lock file (0 if none). */
static pid_t sup_lock_owner(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return (pid_t)atoi(buf);
}

/* Polls for the lock while its holder is gone: its children still hold it
 * until they exit (they inherit the lock, see sup_spawn.c). Returns 0 with
 * the lock, or -EWOULDBLOCK after WAIT_MS. */
static int sup_lock_wait(int fd, pid_t owner, int wait_ms, bool quiet)
{
	struct timespec ts = {0, 50 * 1000 * 1000};

	if (!quiet)
		ck_log(CK_LOG_WARN,
		       "waiting for processes of a stopped node to exit pid=%d wait_ms=%d",
		       (int)owner, wait_ms);
	for (int waited = 0; waited < wait_ms; waited += 50) {
		(void)nanosleep(&ts, NULL);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
	}
	return -EWOULDBLOCK;
}

/* Takes <data_dir>/chronik.lock. Returns 0 or an exit code (printed). */
static int sup_node_lock(sup_node_t *node)
{
	char path[PATH_MAX + 16], pid[32];
	bool owner_gone = false;
	pid_t owner = 0;
	int fd, r = 0, n;

	snprintf(path, sizeof(path), "%s/chronik.lock", node->data_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "chronik-server: cannot open %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		owner = sup_lock_owner(fd);
		owner_gone = sup_pid_gone(owner);
		/* One killed a moment ago (kill -9, then start at once) may still
		 * be exiting: a short wait before calling the data dir busy. */
		if (r == -EWOULDBLOCK && !owner_gone) {
			r = sup_lock_wait(fd, owner, SUP_LOCK_GRACE_MS, true);
			owner_gone = r == -EWOULDBLOCK && sup_pid_gone(owner);
		}
		/* A dead owner: only its children are left, and they are exiting. */
		if (r == -EWOULDBLOCK && owner_gone)
			r = sup_lock_wait(fd, owner, node->cfg.stop_timeout_ms + 1000, false);
	}
	if (r == -EWOULDBLOCK) {
		fprintf(stderr,
		        "chronik-server: data dir %s is in use by another chronik-server "
		        "(pid %d%s); stop it first or use another --data-dir\n",
		        node->data_dir, (int)owner,
		        owner_gone ? ", gone, but its children still run" : "");
	} else if (r < 0) {
		fprintf(stderr, "chronik-server: cannot lock %s: %s\n", path, strerror(-r));
	}
	if (r < 0) {
		(void)close(fd);
		return 2;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		ck_log(CK_LOG_WARN, "cannot write pid into lock file path=%s", path);
	node->lock_fd = fd;
	return 0;
}

/* The configuration's Raft voters as sup_voters_format writes them into
 * BUF (LEN bytes): the [peer.N] ids, or the node alone. */
static int sup_node_voters(const sup_node_t *node, char *buf, size_t len)
{
	int32_t ids[SUP_VOTERS_MAX];
	int n = 0;

	if (node->cfg.peer_count == 0)
		ids[n++] = node->cfg.node_id;
	for (int32_t i = 0; i < node->cfg.peer_count && n < SUP_VOTERS_MAX; i++)
		ids[n++] = node->cfg.peers[i].id;
	return sup_voters_format(ids, n, buf, len);
}

/* Writes the identity file from the configuration (VOTERS: the voters
 * line, NULL for none). Returns 0 or -errno. */
static int sup_identity_write(const sup_node_t *node, const char *voters)
{
	char path[PATH_MAX + 32], text[SUP_IDENTITY_MAX];
	int n = sup_identity_format(text, sizeof(text), node->cfg.cluster_id, node->cfg.node_id,
	                            voters);

	snprintf(path, sizeof(path), "%s/%s", node->data_dir, SUP_IDENTITY_FILE);
	return n < 0 ? -ENAMETOOLONG : ck_fs_write_atomic(path, text, (size_t)n, 0644);
}

/* The data dir's identity (sup_core.h): recorded at its first start;
 * afterwards a start as another node, in another cluster or with other
 * Raft voters is refused. A file of an earlier version, without voters,
 * is left so: nothing tells whether this start's peer list is the one its
 * Raft state was formed with (recording a wrong one would refuse the right
 * one next time). Returns 0 or an exit code (printed). */
static int sup_node_identity(sup_node_t *node)
{
	char path[PATH_MAX + 32], text[SUP_IDENTITY_MAX], cluster[sizeof(node->cfg.cluster_id)];
	char voters[SUP_IDENTITY_MAX], stored[SUP_IDENTITY_MAX], norm[SUP_IDENTITY_MAX];
	int32_t id = 0;
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "%s/%s", node->data_dir, SUP_IDENTITY_FILE);
	if (sup_node_voters(node, voters, sizeof(voters)) < 0) {
		fprintf(stderr, "chronik-server: too many [peer.N] tables (at most %d)\n",
		        SUP_VOTERS_MAX);
		return 2;
	}
	n = ck_fs_read_small(path, text, sizeof(text));
	if (n == -ENOENT) {
		r = sup_identity_write(node, voters);
		if (r < 0) {
			fprintf(stderr, "chronik-server: cannot write %s: %s\n", path,
			        ck_strerror(r));
			return 2;
		}
		ck_log(CK_LOG_INFO,
		       "data dir identity recorded node_id=%d cluster_id=\"%s\" voters=%s file=%s",
		       (int)node->cfg.node_id, node->cfg.cluster_id, voters, path);
		return 0;
	}
	if (n < 0 || sup_identity_parse(text, (size_t)n, cluster, sizeof(cluster), &id) < 0 ||
	    (r = sup_identity_voters(text, (size_t)n, stored, sizeof(stored))) < 0 ||
	    (r == 1 && sup_voters_normalize(stored, norm, sizeof(norm)) < 0)) {
		fprintf(
		    stderr,
		    "chronik-server: %s is %s: it names the node and cluster this data dir "
		    "belongs to (lines cluster_id=... and node_id=N, and voters=1,2,3: the Raft "
		    "voters, distinct ids); repair it, or remove it to have it written again "
		    "from the configuration\n",
		    path, n < 0 ? ck_strerror((int)n) : "not readable");
		return 2;
	}
	if (id != node->cfg.node_id || strcmp(cluster, node->cfg.cluster_id) != 0) {
		fprintf(
		    stderr,
		    "chronik-server: data dir %s belongs to node %d of cluster \"%s\" (%s), but "
		    "the configuration says node %d of cluster \"%s\"; not starting: its "
		    "replicas and Raft state would be taken for another broker's (use the "
		    "configuration it was made with, or an empty data dir)\n",
		    node->data_dir, (int)id, cluster, SUP_IDENTITY_FILE, (int)node->cfg.node_id,
		    node->cfg.cluster_id);
		return 2;
	}
	if (r == 0) {
		ck_log(CK_LOG_INFO,
		       "%s has no voters line (an earlier version wrote it): the peer list is not "
		       "checked against the Raft state; to have it checked, remove the file at a "
		       "start with the configuration the data dir was made with",
		       path);
		return 0;
	}
	if (strcmp(norm, voters) != 0) {
		fprintf(
		    stderr,
		    "chronik-server: data dir %s was formed in a Raft cluster of voters %s (%s), "
		    "but the configuration%s %s; not starting: Raft's voters do not change by "
		    "editing the configuration (nodes that disagree on the voters disagree on "
		    "what a majority is, and may elect no leader). Use the peer list it was formed "
		    "with, or an empty data dir for a new cluster (should the configuration be "
		    "right and the record wrong, correct the voters line)\n",
		    node->data_dir, norm, SUP_IDENTITY_FILE,
		    node->cfg.peer_count ? "'s [peer.N] tables name"
		                         : " has no [peer.N] tables: the "
		                           "node alone,",
		    voters);
		return 2;
	}
	return 0;
}

static int sup_node_dirs(sup_node_t *node)
{
	char run[PATH_MAX + 8];
	uint64_t data_id;
	bool data_new;
	int r;

	r = ck_mkdirs(node->cfg.data_dir, 0755);
	if (r < 0 || !realpath(node->cfg.data_dir, node->data_dir)) {
		fprintf(stderr, "chronik-server: cannot create data dir %s: %s\n",
		        node->cfg.data_dir, ck_strerror(r < 0 ? r : -errno));
		return 2;
	}
	r = sup_node_lock(node);
	if (r)
		return r;
	r = sup_node_identity(node);
	if (r)
		return r;
	/* Before any child opens LMDB `meta`: an environment a crash of the
	 * machine may have torn goes aside (ck_meta.h). */
	r = ck_meta_unsynced_recover(node->data_dir);
	if (r < 0) {
		fprintf(stderr, "chronik-server: cannot check the metadata environment in %s: %s\n",
		        node->data_dir, ck_strerror(r));
		return 2;
	}
	/* The data's id, before raftd registers the broker with it: a data dir
	 * without one is new (a first start, or wiped), and the broker then
	 * leaves its ISRs before it may lead (ck_dataid.h). */
	r = ck_dataid_ensure(node->data_dir, ck_rand_os_seed(), &data_id, &data_new);
	if (r < 0) {
		fprintf(stderr, "chronik-server: cannot keep the data id in %s: %s\n",
		        node->data_dir, ck_strerror(r));
		return 2;
	}
	ck_log(CK_LOG_INFO, "data id=%016llx%s", (unsigned long long)data_id,
	       data_new ? " drawn (a new data dir: the broker leaves every ISR it had)" : "");
	snprintf(run, sizeof(run), "%s/run", node->data_dir);
	if (strlen(run) >= sizeof(node->run_dir) || (r = ck_mkdirs(run, 0750)) < 0) {
		fprintf(stderr, "chronik-server: cannot create %s: %s\n", run,
		        ck_strerror(r < 0 ? r : -ENAMETOOLONG));
		return 2;
	}
	memcpy(node->run_dir, run, strlen(run) + 1); /* length checked above */
	return 0;
}

static int sup_node_binaries(sup_node_t *node)
{
	char tried[4 * PATH_MAX];

	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];

		if (sup_binary_find(c->name, c->binary, tried, sizeof(tried)) < 0) {
			fprintf(stderr,
			        "chronik-server: cannot find chronik-%s (looked at: %s); "
			        "set CHRONIK_LIBEXEC_DIR to the directory holding it\n",
			        c->name, tried);
			return 2;
		}
		ck_log(CK_LOG_DEBUG, "child binary child=%s path=%s", c->name, c->binary);
	}
	return 0;
}

/* Opens one listening socket. Returns 0 or an exit code (printed). */
static int sup_node_open_sock(sup_node_t *node, sup_sock_t s, const char *addr)
{
	int r;

	if (s >= SUP_SOCK_WALWRITER) {
		if (snprintf(node->sock_paths[s], PATH_MAX, "%s/%s.sock", node->run_dir,
		             sup_sock_names[s]) >= PATH_MAX)
			r = -ENAMETOOLONG;
		else
			r = ck_ipc_unix_listen(node->sock_paths[s], SUP_UNIX_BACKLOG,
			                       &node->socks[s]);
		addr = node->sock_paths[s];
	} else {
		r = ck_tcp_listen(addr, SUP_TCP_BACKLOG, &node->socks[s]);
	}
	if (r < 0) {
		fprintf(stderr, "chronik-server: cannot listen for %s on %s: %s\n",
		        sup_sock_names[s], addr, ck_strerror(r));
		return r == -EADDRINUSE || r == -EADDRNOTAVAIL ? 1 : 2;
	}
	ck_log(CK_LOG_DEBUG, "listening name=%s addr=%s fd=%d", sup_sock_names[s], addr,
	       node->socks[s]);
	return 0;
}

static int sup_node_sockets(sup_node_t *node)
{
	const char *tcp[SUP_SOCK_COUNT] = {
	    [SUP_SOCK_KAFKA] = node->cfg.kafka_listen,
	    [SUP_SOCK_REPLICATION] = node->cfg.replication_listen,
	    [SUP_SOCK_RAFT] = node->cfg.raft_listen,
	    [SUP_SOCK_ADMIN] = node->cfg.admin_listen,
	};
	int r;

	for (int s = 0; s < SUP_SOCK_COUNT; s++) {
		r = sup_node_open_sock(node, (sup_sock_t)s, tcp[s]);
		if (r)
			return r;
	}
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];

		if (snprintf(c->notify_path, sizeof(c->notify_path), "%s/notify-%s.sock",
		             node->run_dir, c->name) >= (int)sizeof(c->notify_path))
			r = -ENAMETOOLONG;
		else
			r = ck_notify_listen(c->notify_path, &c->notify_fd);
		if (r < 0) {
			fprintf(stderr, "chronik-server: cannot bind notify socket %s: %s\n",
			        c->notify_path, ck_strerror(r));
			return 2;
		}
	}
	return 0;
}

void sup_node_init(sup_node_t *node)
{
	memset(node, 0, sizeof(*node));
	node->lock_fd = -1;
	for (int s = 0; s < SUP_SOCK_COUNT; s++)
		node->socks[s] = -1;
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];

		c->id = (ck_child_t)i;
		c->name = ck_child_name(c->id);
		c->node = node;
		c->state = SUP_STATE_STOPPED;
		c->notify_fd = -1;
		c->supervisor_fd = -1;
		sup_policy_init(&c->policy);
		c->sock_count = sup_child_socks[i].count;
		for (int k = 0; k < c->sock_count; k++) {
			c->socks[k] = sup_child_socks[i].socks[k];
			c->sock_names[k] = sup_child_socks[i].names[k];
		}
	}
}

int sup_node_setup(sup_node_t *node, const sup_start_opts_t *opts)
{
	int r;

	r = sup_node_config(node, opts);
	if (!r)
		r = sup_node_dirs(node);
	if (!r)
		r = sup_node_binaries(node);
	if (!r)
		r = sup_node_sockets(node);
	return r;
}

void sup_node_teardown(sup_node_t *node)
{
	for (int i = 0; i < CK_CHILD_COUNT; i++) {
		sup_child_t *c = &node->children[i];

		if (c->notify_fd >= 0) {
			(void)close(c->notify_fd);
			(void)unlink(c->notify_path);
		}
		if (c->supervisor_fd >= 0)
			(void)close(c->supervisor_fd);
	}
	for (int s = 0; s < SUP_SOCK_COUNT; s++) {
		if (node->socks[s] < 0)
			continue;
		(void)close(node->socks[s]);
		if (node->sock_paths[s][0])
			(void)unlink(node->sock_paths[s]);
	}
	/* The lock goes last, after the sockets are gone: a successor that
	 * gets the lock finds a clean run/. */
	if (node->lock_fd >= 0)
		(void)close(node->lock_fd);
}
