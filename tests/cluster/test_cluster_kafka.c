/*
 * test_cluster_kafka.c: the `cluster_kafka` test (suite `cluster`): the
 * cluster metadata of three full chronik nodes (cluster_harness.h) as a
 * Kafka client sees it. The clients are kafka-python and confluent-kafka in
 * kafka_admin.py (run with /usr/bin/python3), which sends each request to
 * the node the test names and prints what came back, one fact a line; the
 * assertions are here. test_cluster.c covers the same points through
 * raftd.sock and LMDB.
 *
 *   create_forward  KafkaAdminClient.create_topics of 100 topics through
 *                   node 1, then CreateTopics of 100 topics sent to node 2
 *                   (a follower, forwarded): every node's Metadata lists
 *                   them with the same assignments within 1 s; every node
 *                   lists the three brokers with their Kafka endpoints and
 *                   controller_id = the Raft leader; CreateTopics,
 *                   CreatePartitions and DeleteTopics sent to each node
 *                   (followers too) succeed (never NOT_CONTROLLER); a
 *                   repeated create says TOPIC_ALREADY_EXISTS
 *   kill_leader     two clients create topics one by one while the Raft
 *                   leader's node is killed -9: confluent-kafka's
 *                   AdminClient bootstrapped from the survivors (it sends
 *                   to the controller Metadata names; default settings,
 *                   and it resumes within 15 s) and kafka-python's
 *                   CreateTopics sent to one survivor itself. A new leader
 *                   within 3 s; both go on, retrying a failed create under
 *                   its name (a retry may say TOPIC_ALREADY_EXISTS, a first
 *                   try never), never NOT_CONTROLLER; every acknowledged
 *                   topic is listed exactly once by the survivors and by
 *                   the old leader after its restart, nothing else but the
 *                   one in flight
 *   kill_leader_raftd  the leader's raftd alone killed -9 while
 *                   kafka-python creates topics through the leader's node
 *                   and through a follower: both go on within 10 s and
 *                   neither sees an error (the write in flight is sent
 *                   again and applied once); nothing lost or doubled
 *   stall_leader    the leader's walwriter stopped for 12 s (a hung disk)
 *                   while kafka-python creates topics through it (one
 *                   client from before, one from during the stall) and
 *                   through a follower: the others elect a leader; once
 *                   it resumes every client goes on, never NOT_CONTROLLER,
 *                   every acknowledged topic listed exactly once
 *   fence           a killed follower is fenced once its session lapses:
 *                   gone from the survivors' broker lists, its partitions
 *                   led by a live member of their ISR; back in every list
 *                   after its restart
 * Each test runs in its own process with its own cluster on free ports.
 * Run: meson test -C <build> --suite cluster cluster_kafka;
 * CHRONIK_TEST_KEEP=1 keeps the temp dirs (node logs, the clients' output
 * kpy-N.out); CHRONIK_CLUSTER_ONLY=fence runs one test. Exits 77 (skip)
 * when /usr/bin/python3 lacks kafka-python or confluent-kafka.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ck_clock.h"
#include "ck_testlib.h"
#include "cluster_harness.h"

#define PYTHON   "/usr/bin/python3"
#define ARGS_MAX 24

/* Kafka error codes the test expects. */
#define KERR_NONE                 0
#define KERR_TOPIC_ALREADY_EXISTS 36

/* The spec's bounds. */
#define CONVERGE_MS_MAX   1000 /* a created topic on every node */
#define NEW_LEADER_MS_MAX 3000 /* after the leader's kill */
/* confluent-kafka's admin client (default settings) acknowledges a create
 * again at most this long after the leader's kill: an election, a
 * reconnect, and the retries of its stream. */
#define STREAM_RESUME_MS_MAX 15000
/* The broker session (CHRONIK_RAFTD_BROKER_SESSION_MS, 4 s) plus a few
 * seconds for the controller's walk and the commit. */
#define FENCED_MS_MAX 10000
/* stall_leader: how long the leader's walwriter stays stopped (beyond
 * raftd's RAFTD_QUEUE_WAIT_MS), and the bound on the others' election. */
#define STALL_MS                12000
#define STALL_NEW_LEADER_MS_MAX 10000

static cl_t C;
static pid_t stream_pids[3]; /* streams running (teardown kills them) */
static pid_t stalled_pid;    /* a child the test stopped (teardown resumes it) */
static int kpy_runs;

static void teardown(void)
{
	if (stalled_pid > 0)
		(void)kill(stalled_pid, SIGCONT);
	stalled_pid = 0;
	for (size_t k = 0; k < sizeof(stream_pids) / sizeof(stream_pids[0]); k++) {
		if (stream_pids[k] > 0)
			(void)ck_test_stop_pid(stream_pids[k], SIGKILL, 5000);
		stream_pids[k] = 0;
	}
	cl_cleanup(&C);
}

static int kport(int i)
{
	return C.n[i - 1].kafka;
}

/* "p1,p2,..." of the nodes in MASK. */
static void ports_of(unsigned mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 1; i <= CL_NODES; i++) {
		if (mask & CL_MASK(i))
			used += (size_t)snprintf(buf + used, len - used, "%s%d", used ? "," : "",
			                         kport(i));
	}
}

/* ---- running kafka_admin.py ---- */

/* Starts kafka_admin.py with the space-separated arguments in ARGS, its
 * stdout to OUT (stderr shared with the test). Returns its pid, or -1.
 * No check assertions: main() runs it before the suite. */
static pid_t kpy_exec(const char *out, const char *args)
{
	char copy[1024], *argv[ARGS_MAX + 3], *save = NULL;
	int argc = 0;
	pid_t pid;

	if (snprintf(copy, sizeof(copy), "%s", args) >= (int)sizeof(copy))
		return -1;
	argv[argc++] = PYTHON;
	argv[argc++] = KAFKA_ADMIN_PY;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (argc == ARGS_MAX + 2)
			return -1;
		argv[argc++] = t;
	}
	argv[argc] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int in = open("/dev/null", O_RDONLY);

		/* Never outlives the test process. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || in < 0 || dup2(fd, 1) < 0 || dup2(in, 0) < 0)
			_exit(127);
		execv(PYTHON, argv);
		_exit(127);
	}
	return pid;
}

static pid_t kpy_spawn(const char *out, const char *args)
{
	pid_t pid = kpy_exec(out, args);

	ck_assert_msg(pid > 0, "cannot run kafka_admin.py %s", args);
	return pid;
}

/* Runs kafka_admin.py with the arguments FMT and waits for it; returns
 * its stdout (free()) and asserts exit code 0. */
static char *kpy(int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *kpy(int timeout_ms, const char *fmt, ...)
{
	char args[1024], out[256];
	va_list ap;
	pid_t pid;
	int rc;

	va_start(ap, fmt);
	ck_assert_int_lt(vsnprintf(args, sizeof(args), fmt, ap), (int)sizeof(args));
	va_end(ap);
	snprintf(out, sizeof(out), "%s/kpy-%d.out", C.root, ++kpy_runs);
	pid = kpy_spawn(out, args);
	rc = ck_test_wait_pid(pid, timeout_ms);
	if (rc < 0)
		rc = ck_test_stop_pid(pid, SIGKILL, 5000);
	ck_assert_msg(rc == 0, "kafka_admin.py %s: exit %d (output in %s)", args, rc, out);
	return ck_test_read_text(out, NULL);
}

/* The next whole line of *P (NUL-terminated in place), or NULL at the end
 * (a last line without its newline is still being written). */
static char *next_line(char **p)
{
	char *line = *p, *nl = line ? strchr(line, '\n') : NULL;

	if (!nl)
		return NULL;
	*nl = '\0';
	*p = nl + 1;
	return line;
}

/* ---- Metadata as each node answers it ---- */

#define KM_LIST_MAX    8
#define KM_BROKERS_MAX 8

typedef struct {
	char topic[64];
	int p, err, leader;
	int nrep, rep[KM_LIST_MAX];
	int nisr, isr[KM_LIST_MAX];
} km_part_t;

typedef struct {
	int port, controller, nbrokers;
	int broker[KM_BROKERS_MAX];
	char endpoint[KM_BROKERS_MAX][64];
	km_part_t *parts;
	size_t nparts, parts_cap;
	char (*topics)[64];
	size_t ntopics, topics_cap;
} km_view_t;

typedef struct {
	bool ok; /* the conditions asked for held */
	long waited_ms;
	int nviews;
	km_view_t v[CL_NODES];
} km_t;

static int km_list(const char *text, int *out)
{
	int n = 0;

	if (!strcmp(text, "-"))
		return 0;
	for (const char *p = text; *p && n < KM_LIST_MAX; n++) {
		out[n] = atoi(p);
		p = strchr(p, ',');
		if (!p)
			return n + 1;
		p++;
	}
	return n;
}

static km_view_t *km_view_of_port(km_t *m, int port)
{
	for (int k = 0; k < m->nviews; k++) {
		if (m->v[k].port == port)
			return &m->v[k];
	}
	ck_assert_msg(0, "no Metadata from port %d", port);
	return NULL;
}

static int km_part_cmp(const void *a, const void *b)
{
	const km_part_t *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);

	return c ? c : x->p - y->p;
}

static void km_add_part(km_view_t *v, const km_part_t *p)
{
	if (v->nparts == v->parts_cap) {
		v->parts_cap = v->parts_cap ? v->parts_cap * 2 : 256;
		v->parts = realloc(v->parts, v->parts_cap * sizeof(*v->parts));
		ck_assert_ptr_nonnull(v->parts);
	}
	v->parts[v->nparts++] = *p;
}

static void km_add_topic(km_view_t *v, const char *name)
{
	if (v->ntopics == v->topics_cap) {
		v->topics_cap = v->topics_cap ? v->topics_cap * 2 : 256;
		v->topics = realloc(v->topics, v->topics_cap * sizeof(*v->topics));
		ck_assert_ptr_nonnull(v->topics);
	}
	snprintf(v->topics[v->ntopics++], sizeof(v->topics[0]), "%s", name);
}

static void km_parse_line(km_t *m, char *line)
{
	char a[64], b[64], c[64];
	km_part_t p = {0};
	int port, x, y, z;

	if (sscanf(line, "node %d %d", &port, &x) == 2) {
		ck_assert_int_lt(m->nviews, CL_NODES);
		m->v[m->nviews] = (km_view_t){.port = port, .controller = x};
		m->nviews++;
	} else if (sscanf(line, "broker %d %d %63s", &port, &x, a) == 3) {
		km_view_t *v = km_view_of_port(m, port);

		ck_assert_int_lt(v->nbrokers, KM_BROKERS_MAX);
		v->broker[v->nbrokers] = x;
		snprintf(v->endpoint[v->nbrokers], sizeof(v->endpoint[0]), "%s", a);
		v->nbrokers++;
	} else if (sscanf(line, "topic %d %63s %d %d", &port, a, &x, &y) == 4) {
		km_add_topic(km_view_of_port(m, port), a);
	} else if (sscanf(line, "part %d %63s %d %d %d %63s %63s", &port, p.topic, &x, &y, &z, b,
	                  c) == 7) {
		p.p = x;
		p.err = y;
		p.leader = z;
		p.nrep = km_list(b, p.rep);
		p.nisr = km_list(c, p.isr);
		km_add_part(km_view_of_port(m, port), &p);
	} else if (sscanf(line, "waited_ms %d %63s", &x, a) == 2) {
		m->waited_ms = x;
		m->ok = !strcmp(a, "ok");
	}
}

static void km_free(km_t *m)
{
	for (int k = 0; k < m->nviews; k++) {
		free(m->v[k].parts);
		free(m->v[k].topics);
	}
	memset(m, 0, sizeof(*m));
}

/* Every node in MASK's Metadata (all topics), after waiting up to
 * TIMEOUT_S for the kafka_admin.py metadata conditions in OPTS. */
static void km_fetch(km_t *m, unsigned mask, int timeout_s, const char *opts)
{
	char ports[64], *text, *p, *line;

	km_free(m);
	ports_of(mask, ports, sizeof(ports));
	text = kpy((timeout_s + 30) * 1000, "metadata %s --timeout %d %s", ports, timeout_s, opts);
	p = text;
	while ((line = next_line(&p)) != NULL)
		km_parse_line(m, line);
	free(text);
	for (int k = 0; k < m->nviews; k++)
		if (m->v[k].nparts > 1) /* no parts: no array (qsort wants one) */
			qsort(m->v[k].parts, m->v[k].nparts, sizeof(km_part_t), km_part_cmp);
	ck_assert_int_eq(m->nviews, __builtin_popcount(mask));
}

static const km_part_t *km_part(const km_view_t *v, const char *topic, int p)
{
	km_part_t key = {.p = p};

	snprintf(key.topic, sizeof(key.topic), "%s", topic);
	return bsearch(&key, v->parts, v->nparts, sizeof(km_part_t), km_part_cmp);
}

/* How often V lists TOPIC. */
static int km_listed(const km_view_t *v, const char *topic)
{
	int n = 0;

	for (size_t k = 0; k < v->ntopics; k++)
		n += !strcmp(v->topics[k], topic);
	return n;
}

static size_t km_prefixed(const km_view_t *v, const char *prefix)
{
	size_t n = 0;

	for (size_t k = 0; k < v->ntopics; k++)
		n += !strncmp(v->topics[k], prefix, strlen(prefix));
	return n;
}

static bool km_in(const int *list, int n, int id)
{
	for (int k = 0; k < n; k++) {
		if (list[k] == id)
			return true;
	}
	return false;
}

/* Every node lists the same partitions with the same leaders and replicas. */
static void km_assert_same(const km_t *m)
{
	const km_view_t *a = &m->v[0];

	for (int k = 1; k < m->nviews; k++) {
		const km_view_t *b = &m->v[k];

		ck_assert_msg(a->nparts == b->nparts, "port %d lists %zu partitions, port %d %zu",
		              a->port, a->nparts, b->port, b->nparts);
		for (size_t j = 0; j < a->nparts; j++) {
			const km_part_t *x = &a->parts[j], *y = &b->parts[j];

			ck_assert_msg(!strcmp(x->topic, y->topic) && x->p == y->p &&
			                  x->leader == y->leader && x->nrep == y->nrep &&
			                  !memcmp(x->rep, y->rep, sizeof(int) * (size_t)x->nrep),
			              "%s-%d (leader %d) on port %d, %s-%d (leader %d) on port %d",
			              x->topic, x->p, x->leader, a->port, y->topic, y->p, y->leader,
			              b->port);
		}
	}
}

/* Every node lists exactly the brokers in LIVE, each with its own Kafka
 * endpoint, and names CONTROLLER. */
static void km_assert_cluster(const km_t *m, unsigned live, int controller)
{
	for (int k = 0; k < m->nviews; k++) {
		const km_view_t *v = &m->v[k];
		int n = 0;

		ck_assert_msg(v->controller == controller, "port %d: controller_id %d, want %d",
		              v->port, v->controller, controller);
		for (int i = 1; i <= CL_NODES; i++) {
			char ep[64];

			if (!(live & CL_MASK(i)))
				continue;
			snprintf(ep, sizeof(ep), "%.15s:%d", C.n[i - 1].host, kport(i));
			ck_assert_msg(n < v->nbrokers && v->broker[n] == i &&
			                  !strcmp(v->endpoint[n], ep),
			              "port %d: broker %d of %d is not %d at %s", v->port, n,
			              v->nbrokers, i, ep);
			n++;
		}
		ck_assert_msg(n == v->nbrokers, "port %d lists %d brokers, want %d", v->port,
		              v->nbrokers, n);
	}
}

/* Waits until every node in MASK lists the brokers LIVE and CONTROLLER
 * (the frontends learn the leader from raftd every 2 s) and asserts it. */
static void km_wait_cluster(km_t *m, unsigned mask, unsigned live, int controller, int timeout_s)
{
	char opts[128], ids[16] = "";
	size_t used = 0;

	for (int i = 1; i <= CL_NODES; i++) {
		if (live & CL_MASK(i))
			used += (size_t)snprintf(ids + used, sizeof(ids) - used, "%s%d",
			                         used ? "," : "", i);
	}
	snprintf(opts, sizeof(opts), "--controller %d --brokers %s --same", controller, ids);
	km_fetch(m, mask, timeout_s, opts);
	ck_assert_msg(m->ok, "Metadata did not show brokers %s and controller %d within %d s", ids,
	              controller, timeout_s);
	km_assert_cluster(m, live, controller);
	km_assert_same(m);
}

/* ---- writes ---- */

typedef struct {
	size_t n, n_ok;
	int first_err;
	char first_bad[64];
	bool converged;
	long converge_ms;
} kw_t;

/* Runs a write command of kafka_admin.py with --converge over all nodes. */
static void kw_run(kw_t *w, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kw_run(kw_t *w, const char *what, const char *fmt, ...)
{
	char args[512], ports[64], name[64], why[256], *text, *p, *line;
	va_list ap;
	int code;
	long ms;

	memset(w, 0, sizeof(*w));
	w->converge_ms = -1;
	va_start(ap, fmt);
	ck_assert_int_lt(vsnprintf(args, sizeof(args), fmt, ap), (int)sizeof(args));
	va_end(ap);
	ports_of(CL_ALL, ports, sizeof(ports));
	text = kpy(120000, "%s --converge %s", args, ports);
	p = text;
	while ((line = next_line(&p)) != NULL) {
		if (sscanf(line, "result %63s %d", name, &code) == 2) {
			w->n++;
			if (code == KERR_NONE) {
				w->n_ok++;
			} else if (!w->first_bad[0]) {
				w->first_err = code;
				snprintf(w->first_bad, sizeof(w->first_bad), "%s", name);
			}
		} else if (sscanf(line, "converged_ms %ld", &ms) == 1) {
			w->converged = true;
			w->converge_ms = ms;
		} else if (sscanf(line, "diverged_ms %ld %255[^\n]", &ms, why) == 2) {
			fprintf(stderr, "%s: not the same on every node after %ld ms: %s\n", what,
			        ms, why);
		}
	}
	free(text);
	printf("%s: %zu results, %zu ok, on every node after %ld ms\n", what, w->n, w->n_ok,
	       w->converge_ms);
	fflush(stdout);
}

/* Asserts all N entries succeeded and every node showed them in time. */
static void kw_assert_ok(const kw_t *w, const char *what, size_t n, long converge_ms_max)
{
	ck_assert_msg(w->n == n, "%s: %zu results, want %zu", what, w->n, n);
	ck_assert_msg(w->n_ok == n, "%s: %s failed with error %d", what, w->first_bad,
	              w->first_err);
	ck_assert_msg(w->converged, "%s: the nodes did not agree", what);
	ck_assert_msg(w->converge_ms <= converge_ms_max, "%s: every node after %ld ms, want <= %ld",
	              what, w->converge_ms, converge_ms_max);
}

/* ---- tests ---- */

/* Starts the three nodes; once every node's Metadata lists the three
 * brokers and names the Raft leader as controller, returns its id. */
static int start_cluster(const char *tag, km_t *m)
{
	int leader;

	cl_init(&C, tag, 0);
	cl_start_all(&C);
	leader = cl_wait_leader(&C, CL_ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	km_wait_cluster(m, CL_ALL, CL_ALL, leader, 20);
	return leader;
}

START_TEST(test_create_forward)
{
	km_t m = {0};
	kw_t w;
	int leader, f2, f3;

	leader = start_cluster("kafka-create", &m);

	/* The seed's test: kafka-python's admin client through node 1. */
	kw_run(&w, "create_topics x100 via node 1", "create %d one- 100 1 1 --admin", kport(1));
	kw_assert_ok(&w, "create_topics via node 1", 100, CONVERGE_MS_MAX);

	/* CreateTopics sent to a follower (node 2 unless it leads). */
	f2 = leader == 2 ? 3 : 2;
	kw_run(&w, "CreateTopics x100 to a follower", "create %d fwd- 100 2 3", kport(f2));
	kw_assert_ok(&w, "CreateTopics to a follower", 100, CONVERGE_MS_MAX);

	/* What a client sees on every node. */
	ck_assert_int_eq(cl_leader_of(&C, leader, NULL), leader);
	km_wait_cluster(&m, CL_ALL, CL_ALL, leader, 10);
	for (int k = 0; k < m.nviews; k++) {
		const km_view_t *v = &m.v[k];

		ck_assert_uint_eq(km_prefixed(v, "one-"), 100);
		ck_assert_uint_eq(km_prefixed(v, "fwd-"), 100);
		ck_assert_uint_eq(v->nparts, 100 + 200);
		for (size_t j = 0; j < v->nparts; j++) {
			const km_part_t *p = &v->parts[j];

			ck_assert_int_eq(km_listed(v, p->topic), 1);
			ck_assert_msg(p->err == KERR_NONE && km_in(p->rep, p->nrep, p->leader),
			              "port %d: %s-%d err %d leader %d", v->port, p->topic, p->p,
			              p->err, p->leader);
			ck_assert_int_eq(p->nrep, strncmp(p->topic, "fwd-", 4) ? 1 : 3);
		}
	}

	/* Each admin API through each node, followers included: a success,
	 * never NOT_CONTROLLER. */
	for (int i = 1; i <= CL_NODES; i++) {
		char what[64];

		snprintf(what, sizeof(what), "CreateTopics to node %d", i);
		kw_run(&w, what, "create %d n%d- 5 1 3", kport(i), i);
		kw_assert_ok(&w, what, 5, CONVERGE_MS_MAX);
		snprintf(what, sizeof(what), "CreatePartitions to node %d", i);
		kw_run(&w, what, "partitions %d n%d- 5 3", kport(i), i);
		kw_assert_ok(&w, what, 5, CONVERGE_MS_MAX);
		snprintf(what, sizeof(what), "DeleteTopics to node %d", i);
		kw_run(&w, what, "delete %d n%d- 5", kport(i), i);
		kw_assert_ok(&w, what, 5, CONVERGE_MS_MAX);
	}
	/* A producer right behind the creation (kafka-python does not retry
	 * by default): every node leading a new partition knows it by then. */
	kw_run(&w, "create then produce at once x20", "produce %d pr- 20 3", kport(leader));
	kw_assert_ok(&w, "create then produce at once", 60, CONVERGE_MS_MAX);
	f3 = cl_other(leader, f2);
	kw_run(&w, "DeleteTopics x10 to a follower", "delete %d one- 10", kport(f3));
	kw_assert_ok(&w, "DeleteTopics to a follower", 10, CONVERGE_MS_MAX);

	/* Read-your-writes across nodes: a write naming a topic on another
	 * node right after the creation's answer finds it (the node catches up
	 * with the controller first), and so do a CreatePartitions and a
	 * re-creation back on the first node right after that write, leader
	 * and follower, and follower and follower. */
	kw_run(&w, "create, then at once a write on another node x30", "ryw %d %d ryw- 30",
	       kport(leader), kport(f2));
	kw_assert_ok(&w, "create, then at once a write on another node", 80, CONVERGE_MS_MAX);
	kw_run(&w, "create on a follower, then at once a write on the other x30",
	       "ryw %d %d ryf- 30", kport(f2), kport(f3));
	kw_assert_ok(&w, "create on a follower, then at once a write on the other", 80,
	             CONVERGE_MS_MAX);

	/* A create repeated (a client's retry) on a follower: exists, once. */
	kw_run(&w, "CreateTopics again", "create %d fwd- 3 2 3", kport(f2));
	ck_assert_uint_eq(w.n, 3);
	ck_assert_int_eq(w.first_err, KERR_TOPIC_ALREADY_EXISTS);
	ck_assert_uint_eq(w.n_ok, 0);
	km_wait_cluster(&m, CL_ALL, CL_ALL, leader, 10);
	for (int k = 0; k < m.nviews; k++) {
		ck_assert_int_eq(km_listed(&m.v[k], "fwd-00000"), 1);
		ck_assert_uint_eq(km_prefixed(&m.v[k], "fwd-"), 100);
		ck_assert_uint_eq(km_prefixed(&m.v[k], "one-"), 90);
		ck_assert_uint_eq(km_prefixed(&m.v[k], "n"), 0);
	}
	km_free(&m);
}
END_TEST

/* ---- the stream of creates ---- */

typedef struct {
	int slot; /* in stream_pids */
	char prefix[16];
	char out[256];
	size_t acked, bad, retries, not_controller;
	char last[64]; /* the last acknowledged topic */
	char first_bad[128];
} ks_t;

/* Starts `kafka_admin.py CMD TARGET PREFIX` (stream or dstream). */
static void ks_start(ks_t *s, int slot, const char *cmd, const char *target, const char *prefix)
{
	char args[256];

	memset(s, 0, sizeof(*s));
	s->slot = slot;
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	snprintf(s->out, sizeof(s->out), "%s/%s.%s.out", C.root, cmd, prefix);
	snprintf(args, sizeof(args), "%s %s %s", cmd, target, prefix);
	stream_pids[slot] = kpy_spawn(s->out, args);
}

/* Reads what the stream printed so far. */
static void ks_read(ks_t *s)
{
	char *text = ck_test_read_text(s->out, NULL), *p = text, *line, name[64], how[32];

	s->acked = s->bad = s->retries = s->not_controller = 0;
	while ((line = next_line(&p)) != NULL) {
		if (sscanf(line, "acked %63s %31s", name, how) == 2) {
			s->acked++;
			snprintf(s->last, sizeof(s->last), "%s", name);
		} else if (sscanf(line, "retry %63s %31s", name, how) == 2) {
			s->retries++;
			s->not_controller += !strcmp(how, "NOT_CONTROLLER");
		} else if (!strncmp(line, "bad ", 4)) {
			if (!s->bad++)
				snprintf(s->first_bad, sizeof(s->first_bad), "%s", line);
		}
	}
	free(text);
}

/* Waits until the stream acknowledged N topics in all. */
static void ks_wait_acked(ks_t *s, size_t n, int timeout_ms)
{
	uint64_t deadline = ck_clock_mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		ks_read(s);
		if (s->acked >= n)
			return;
		ck_assert_msg(ck_clock_mono_ms() < deadline,
		              "the stream acknowledged %zu topics, want %zu (see %s)", s->acked, n,
		              s->out);
		ck_test_sleep_ms(50);
	}
}

static void ks_stop(ks_t *s)
{
	char last[64];

	ck_assert_int_gt(stream_pids[s->slot], 0);
	ck_assert_int_eq(ck_test_stop_pid(stream_pids[s->slot], SIGTERM, 60000), 0);
	stream_pids[s->slot] = 0;
	ks_read(s);
	ck_assert_msg(s->bad == 0, "%s: %zu bad answers, first: %s", s->out, s->bad, s->first_bad);
	ck_assert_msg(s->not_controller == 0, "%s: the client saw NOT_CONTROLLER %zu times", s->out,
	              s->not_controller);
	ck_assert_uint_gt(s->acked, 0);
	/* In order, none skipped. */
	snprintf(last, sizeof(last), "%s%05zu", s->prefix, s->acked - 1);
	ck_assert_str_eq(s->last, last);
}

/* Every topic the stream acknowledged (PREFIX00000 .. the last, in order)
 * is listed exactly once by every view; of the others only the one that
 * was in flight may be there. */
static void ks_check(const ks_t *s, const km_t *m)
{
	const char *prefix = s->prefix;

	char name[64];

	for (int k = 0; k < m->nviews; k++) {
		const km_view_t *v = &m->v[k];
		size_t listed = km_prefixed(v, prefix);

		for (size_t i = 0; i < s->acked; i++) {
			snprintf(name, sizeof(name), "%s%05zu", prefix, i);
			ck_assert_msg(km_listed(v, name) == 1, "port %d lists %s %d times", v->port,
			              name, km_listed(v, name));
		}
		snprintf(name, sizeof(name), "%s%05zu", prefix, s->acked);
		ck_assert_msg(listed == s->acked + (size_t)km_listed(v, name),
		              "port %d lists %zu topics %s*, %zu acknowledged", v->port, listed,
		              prefix, s->acked);
	}
}

/* kafka-python streams "l-" to LTARGET and "f-" to FTARGET (dstream),
 * each with N topics acknowledged. */
static void ks_start_pair(ks_t *l, const char *ltarget, ks_t *f, const char *ftarget, size_t n)
{
	ks_start(l, 0, "dstream", ltarget, "l-");
	ks_start(f, 1, "dstream", ftarget, "f-");
	ks_wait_acked(l, n, 60000);
	ks_wait_acked(f, n, 60000);
}

/* Once all three nodes are up with a leader and agree: ks_check of
 * streams A and B on every node; frees M. */
static void ks_check_converged(const ks_t *a, const ks_t *b, km_t *m)
{
	int next = cl_wait_leader(&C, CL_ALL, 0, 30000);

	ck_assert_int_gt(next, 0);
	km_wait_cluster(m, CL_ALL, CL_ALL, next, 30);
	ks_check(a, m);
	ks_check(b, m);
	km_free(m);
}

START_TEST(test_kill_leader)
{
	Chronik__Raftd__RaftStatus st;
	char role[32], bootstrap[128], port[16];
	km_t m = {0};
	ks_t s, d;
	uint64_t t_kill, t_new, t_s = 0, t_d = 0;
	size_t s_kill, d_kill;
	int leader, a, b, next;

	leader = start_cluster("kafka-kill", &m);
	ck_assert(cl_status(&C, leader, &st, role, sizeof(role)));
	a = leader == 1 ? 2 : 1;
	b = cl_other(leader, a);
	snprintf(bootstrap, sizeof(bootstrap), "127.0.0.1:%d,127.0.0.1:%d", kport(a), kport(b));
	snprintf(port, sizeof(port), "%d", kport(b));

	/* confluent-kafka's admin client (it picks the controller), and
	 * kafka-python's CreateTopics sent to survivor B itself. */
	ks_start(&s, 0, "stream", bootstrap, "s-");
	ks_start(&d, 1, "dstream", port, "d-");
	ks_wait_acked(&s, 50, 60000);
	ks_wait_acked(&d, 50, 60000);
	cl_kill9(&C, leader);
	t_kill = ck_clock_mono_ms();
	ks_read(&s);
	ks_read(&d);
	s_kill = s.acked;
	d_kill = d.acked;
	/* A new leader, and both clients go on through the survivors. */
	next = 0;
	t_new = 0;
	while (!t_new || !t_s || !t_d) {
		uint64_t now = ck_clock_mono_ms();

		ck_assert_msg(t_new || now - t_kill < 10000, "no new leader after the kill");
		ck_assert_msg(now - t_kill < 60000,
		              "no acknowledgement within 60 s of the kill: stream %zu -> %zu, "
		              "dstream %zu -> %zu",
		              s_kill, s.acked, d_kill, d.acked);
		if (!t_new && (next = cl_wait_leader(&C, CL_MASK(a) | CL_MASK(b), st.term, 0)) > 0)
			t_new = ck_clock_mono_ms();
		ks_read(&s);
		ks_read(&d);
		if (!t_s && s.acked > s_kill)
			t_s = ck_clock_mono_ms();
		if (!t_d && d.acked > d_kill)
			t_d = ck_clock_mono_ms();
		ck_test_sleep_ms(10);
	}
	ck_assert_msg(t_new - t_kill <= NEW_LEADER_MS_MAX, "new leader after %llu ms",
	              (unsigned long long)(t_new - t_kill));
	/* librdkafka waits for the controller it was told of; the survivors
	 * make it reconnect and learn a live one. Without that it would wait
	 * for its next periodic metadata refresh, 5 minutes later. */
	ck_assert_msg(t_s - t_kill <= STREAM_RESUME_MS_MAX,
	              "confluent-kafka's admin client resumed %llu ms after the kill",
	              (unsigned long long)(t_s - t_kill));
	printf("kill_leader: node %d killed, node %d leads after %llu ms\n", leader, next,
	       (unsigned long long)(t_new - t_kill));
	ks_wait_acked(&s, s_kill + 20, 30000);
	ks_wait_acked(&d, d_kill + 20, 30000);
	ks_stop(&s);
	ks_stop(&d);
	printf("kill_leader: next acknowledgement after the kill: confluent-kafka %llu ms, "
	       "CreateTopics to node %d %llu ms; acknowledged %zu / %zu, retries %zu / %zu\n",
	       (unsigned long long)(t_s - t_kill), b, (unsigned long long)(t_d - t_kill), s.acked,
	       d.acked, s.retries, d.retries);
	fflush(stdout);

	km_wait_cluster(&m, CL_MASK(a) | CL_MASK(b), CL_MASK(a) | CL_MASK(b), next, 20);
	ks_check(&s, &m);
	ks_check(&d, &m);

	cl_start(&C, leader);
	ks_check_converged(&s, &d, &m);
}
END_TEST

/* The leader's raftd alone killed -9 (its supervisor restarts it at once)
 * while kafka-python creates topics through the leader's node and through
 * a follower: both go on within 10 s, and neither client sees an error: a
 * creation in flight is sent again by kafka-frontend (or by the follower's
 * raftd) once a raftd takes it, and applied once. */
START_TEST(test_kill_leader_raftd)
{
	char lport[16], fport[16];
	km_t m = {0};
	ks_t l, f;
	size_t l_kill, f_kill;
	uint64_t t_kill;
	int leader, fol;
	pid_t pid;

	leader = start_cluster("kafka-killr", &m);
	fol = leader == 1 ? 2 : 1;
	snprintf(lport, sizeof(lport), "%d", kport(leader));
	snprintf(fport, sizeof(fport), "%d", kport(fol));
	ks_start_pair(&l, lport, &f, fport, 50);
	pid = cl_raftd_pid(&C, leader);
	ck_assert_int_gt(pid, 0);
	ks_read(&l);
	ks_read(&f);
	l_kill = l.acked;
	f_kill = f.acked;
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	t_kill = ck_clock_mono_ms();
	ks_wait_acked(&l, l_kill + 20, 10000);
	ks_wait_acked(&f, f_kill + 20, 10000);
	printf("kill_leader_raftd: raftd of node %d killed; 20 more creations through it and "
	       "through node %d within %llu ms\n",
	       leader, fol, (unsigned long long)(ck_clock_mono_ms() - t_kill));
	fflush(stdout);
	ks_stop(&l);
	ks_stop(&f);
	ck_assert_msg(l.retries == 0 && f.retries == 0,
	              "the clients saw errors: %zu retries through node %d, %zu through node %d",
	              l.retries, leader, f.retries, fol);
	ks_check_converged(&l, &f, &m);
}
END_TEST

/* The leader's disk hangs (its walwriter stopped) beyond raftd's wait
 * for a leader (10 s): the leader's raftd cannot finish its append, the
 * others elect a new leader, and once the disk is back the old leader steps
 * down. Clients of the old leader (one with a create in flight when the
 * disk stops, one that starts while it hangs) and of a follower see their
 * creates through, or a retriable error, never NOT_CONTROLLER; nothing is
 * lost or doubled. */
START_TEST(test_stall_leader)
{
	Chronik__Raftd__RaftStatus st;
	char role[32], lport[64], fport[64];
	km_t m = {0};
	ks_t l, f, q;
	size_t l_stop, f_stop;
	int leader, other, next;
	pid_t wal;

	leader = start_cluster("kafka-stall", &m);
	ck_assert(cl_status(&C, leader, &st, role, sizeof(role)));
	other = leader == 1 ? 2 : 1;
	/* A deadline beyond raftd's 10 s, so that its answer decides. */
	snprintf(lport, sizeof(lport), "%d --timeout-ms 25000", kport(leader));
	snprintf(fport, sizeof(fport), "%d --timeout-ms 25000", kport(other));
	ks_start_pair(&l, lport, &f, fport, 20);
	wal = cl_child_pid(&C, leader, "chronik-walwriter");
	ck_assert_int_gt(wal, 0);
	stalled_pid = wal;
	ck_assert_int_eq(kill(wal, SIGSTOP), 0);
	ks_read(&l);
	ks_read(&f);
	l_stop = l.acked;
	f_stop = f.acked;
	/* Its creates wait in the old leader's raftd, which hears no leader. */
	ks_start(&q, 2, "dstream", lport, "q-");
	/* The others go on without it. */
	next = cl_wait_leader(&C, CL_ALL & ~CL_MASK(leader), st.term, STALL_NEW_LEADER_MS_MAX);
	ck_assert_msg(next > 0, "no new leader while node %d's walwriter is stopped", leader);
	ck_test_sleep_ms(STALL_MS);
	ck_assert_int_eq(kill(wal, SIGCONT), 0);
	stalled_pid = 0;
	ks_wait_acked(&l, l_stop + 20, 60000);
	ks_wait_acked(&f, f_stop + 20, 60000);
	ks_wait_acked(&q, 20, 60000);
	ks_stop(&l);
	ks_stop(&f);
	ks_stop(&q);
	printf("stall_leader: node %d's walwriter stopped %d ms, node %d led; acknowledged "
	       "%zu / %zu / %zu, retries %zu / %zu / %zu\n",
	       leader, STALL_MS, next, l.acked, f.acked, q.acked, l.retries, f.retries, q.retries);
	fflush(stdout);
	next = cl_wait_leader(&C, CL_ALL, 0, 30000);
	ck_assert_int_gt(next, 0);
	km_wait_cluster(&m, CL_ALL, CL_ALL, next, 30);
	ks_check(&l, &m);
	ks_check(&f, &m);
	ks_check(&q, &m);
	km_free(&m);
}
END_TEST

START_TEST(test_fence)
{
	km_t before = {0}, m = {0};
	kw_t w;
	char opts[96];
	uint64_t t_kill, t_gone, t_moved, t_start;
	int leader, victim, other, moved = 0, in_isr = 0;
	unsigned survivors;

	leader = start_cluster("kafka-fence", &m);
	victim = leader == 3 ? 2 : 3;
	other = cl_other(leader, victim);
	survivors = CL_MASK(leader) | CL_MASK(other);
	kw_run(&w, "CreateTopics 4 x 6 partitions", "create %d rep- 4 6 3", kport(other));
	kw_assert_ok(&w, "CreateTopics rep-", 4, CONVERGE_MS_MAX);
	km_wait_cluster(&before, CL_ALL, CL_ALL, leader, 10);

	cl_kill9(&C, victim);
	t_kill = ck_clock_mono_ms();
	km_wait_cluster(&m, survivors, survivors, leader, 30);
	t_gone = ck_clock_mono_ms();
	/* The broker list may shrink before the partitions move. */
	snprintf(opts, sizeof(opts), "--not-leader %d --not-in-isr %d --offline %d --same", victim,
	         victim, victim);
	km_fetch(&m, survivors, 30, opts);
	ck_assert_msg(m.ok, "partitions still led by the fenced broker %d", victim);
	t_moved = ck_clock_mono_ms();
	printf("fence: broker %d killed; gone from the broker lists after %llu ms, its "
	       "partitions moved after %llu ms\n",
	       victim, (unsigned long long)(t_gone - t_kill),
	       (unsigned long long)(t_moved - t_kill));
	ck_assert_msg(t_moved - t_kill <= FENCED_MS_MAX, "fenced and moved after %llu ms",
	              (unsigned long long)(t_moved - t_kill));
	km_assert_cluster(&m, survivors, leader);
	km_assert_same(&m);

	/* Partitions it led: a leader from their ISR, itself out of it; the
	 * others keep their leader. */
	for (int k = 0; k < m.nviews; k++) {
		const km_view_t *v = &m.v[k], *v0 = km_view_of_port(&before, v->port);

		ck_assert_uint_eq(v->nparts, v0->nparts);
		for (size_t j = 0; j < v0->nparts; j++) {
			const km_part_t *p0 = &v0->parts[j], *p = km_part(v, p0->topic, p0->p);

			ck_assert_ptr_nonnull(p);
			/* Fenced: out of every ISR, as with Kafka's controller. */
			ck_assert_msg(!km_in(p->isr, p->nisr, victim), "%s-%d: %d still in the ISR",
			              p->topic, p->p, victim);
			if (p0->leader != victim) {
				ck_assert_int_eq(p->leader, p0->leader);
				in_isr += k == 0 && km_in(p0->isr, p0->nisr, victim);
				continue;
			}
			moved++;
			ck_assert_msg(p->err == KERR_NONE && p->leader > 0 && p->leader != victim &&
			                  km_in(p0->isr, p0->nisr, p->leader),
			              "%s-%d: leader %d -> %d (err %d)", p->topic, p->p, p0->leader,
			              p->leader, p->err);
		}
	}
	ck_assert_msg(moved > 0, "broker %d led no partition", victim);
	printf("fence: %d partitions moved; %d partitions it followed dropped it from the ISR\n",
	       moved / m.nviews, in_isr);

	/* Back: in every node's broker list again. */
	t_start = ck_clock_mono_ms();
	cl_start(&C, victim);
	leader = cl_wait_leader(&C, CL_ALL, 0, 30000);
	ck_assert_int_gt(leader, 0);
	km_wait_cluster(&m, CL_ALL, CL_ALL, leader, 30);
	printf("fence: broker %d listed everywhere %llu ms after its start began\n", victim,
	       (unsigned long long)(ck_clock_mono_ms() - t_start));
	km_free(&before);
	km_free(&m);
}
END_TEST

/* Whether /usr/bin/python3 has both clients (77: skip). */
static int probe(void)
{
	char out[] = "/tmp/ck-kafka-probe-XXXXXX";
	int fd = mkstemp(out), rc = -1;
	char *text;

	if (access(PYTHON, X_OK) != 0) {
		printf("SKIP: %s is not installed\n", PYTHON);
		return 77;
	}
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	(void)close(fd);
	rc = ck_test_wait_pid(kpy_exec(out, "probe"), 60000);
	text = ck_test_read_text(out, NULL);
	if (rc == 77)
		printf("SKIP: %s", text);
	else if (rc != 0)
		printf("kafka_admin.py probe: exit %d\n", rc);
	free(text);
	(void)unlink(out);
	return rc == 0 || rc == 77 ? rc : 1;
}

int main(void)
{
	int rc = probe();
	Suite *s;
	TCase *tc;

	if (rc != 0)
		return rc;
	s = suite_create("cluster_kafka");
	tc = tcase_create("cluster_kafka");
	/* The nodes get a clean CHRONIK_* environment (ck_testproc.h). */
	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 240);
	CL_ADD_TEST(tc, test_create_forward);
	CL_ADD_TEST(tc, test_kill_leader);
	CL_ADD_TEST(tc, test_kill_leader_raftd);
	CL_ADD_TEST(tc, test_fence);
	CL_ADD_TEST(tc, test_stall_leader);
	suite_add_tcase(s, tc);
	return ck_test_run_mode(s, CK_FORK);
}
