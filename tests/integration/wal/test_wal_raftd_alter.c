/*
 * test_wal_raftd_alter.c: topic configs changed through raftd reach the
 * logs in walwriter. A real walwriter and a real single-node chronik-raftd
 * share a temp data dir; topics are created and altered through
 * run/raftd.sock (Propose) and the effect is checked as a walwriter client
 * sees it: max.message.bytes refuses a batch on every partition,
 * retention.bytes trims a log at once, removing a key goes back to the node
 * default, a change of non-log keys leaves the logs alone, and both
 * processes restarted keep the settings. raftd answers a proposal only once
 * applied, and applies an AlterTopicConfigs only after walwriter took the
 * new settings, so every check follows its proposal without waiting.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_batch.h"
#include "ck_clock.h"
#include "ck_err.h"
#include "ck_ipc.h"
#include "raftd.pb-c.h"
#include "wal_itest.h"

#define T_MS 30000

typedef struct {
	wit_t w;
	ck_test_proc_t rd;
	wcl_t c;
} env_t;

static void raftd_start(env_t *e)
{
	const char *args[] = {"--data-dir", e->w.data, NULL};

	ck_test_proc_start(&e->rd, args);
	ck_assert_msg(ck_test_proc_wait_ready(&e->rd, T_MS) == 0, "raftd not ready, see %s",
	              e->rd.logpath);
}

static void env_start(env_t *e)
{
	char log[300], notify[300], kv[96];

	wit_init(&e->w, "ralter");
	wit_env(&e->w, "CHRONIK_WAL_RETENTION_MS=-1");
	wit_env(&e->w, "CHRONIK_WAL_RETENTION_BYTES=-1");
	wit_env(&e->w, "CHRONIK_WAL_RETENTION_CHECK_MS=3600000");
	wit_start_ready(&e->w);
	snprintf(log, sizeof(log), "%s/raftd.log", e->w.root);
	snprintf(notify, sizeof(notify), "%s/notify-raftd", e->w.root);
	ck_test_proc_init(&e->rd, "raftd/chronik-raftd", log, notify);
	snprintf(kv, sizeof(kv), "CHRONIK_LISTENERS_RAFT=127.0.0.1:%d", ck_test_free_port());
	ck_test_proc_env(&e->rd, kv);
	raftd_start(e);
	wcl_connect(&e->c, &e->w);
}

static void env_end(env_t *e)
{
	wcl_close(&e->c);
	ck_test_proc_cleanup(&e->rd);
	wit_cleanup(&e->w);
}

/* One proposal: the apply result, a transport error, or -1 (no reply). */
static int propose_once(const env_t *e, Chronik__Meta__MetadataCommand *cmd)
{
	Chronik__Raftd__RaftdRequest req = CHRONIK__RAFTD__RAFTD_REQUEST__INIT;
	Chronik__Raftd__Propose pr = CHRONIK__RAFTD__PROPOSE__INIT;
	Chronik__Raftd__RaftdReply *rep;
	ck_buf_t frame = CK_BUF_INIT;
	char sock[300];
	int fd, result = -1;

	snprintf(sock, sizeof(sock), "%s/run/raftd.sock", e->w.data);
	ck_assert_int_eq(ck_ipc_sync_connect(sock, T_MS, &fd), 0);
	pr.command = cmd;
	req.correlation_id = 7;
	req.body_case = CHRONIK__RAFTD__RAFTD_REQUEST__BODY_PROPOSE;
	req.propose = &pr;
	ck_assert_int_eq(ck_ipc_sync_send_msg(fd, &req.base), 0);
	while (ck_ipc_sync_recv(fd, 0, T_MS, &frame) == 0) {
		rep = chronik__raftd__raftd_reply__unpack(NULL, frame.len, frame.data);
		ck_assert_ptr_nonnull(rep);
		if (rep->correlation_id == 7) {
			result = rep->error ? rep->error
			         : rep->body_case == CHRONIK__RAFTD__RAFTD_REPLY__BODY_PROPOSE
			             ? rep->propose->result
			             : -1;
			chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
			break;
		}
		chronik__raftd__raftd_reply__free_unpacked(rep, NULL);
	}
	close(fd);
	ck_buf_free(&frame);
	return result;
}

/* Proposes CMD, retrying while raftd is still electing itself. */
static int propose(const env_t *e, Chronik__Meta__MetadataCommand *cmd)
{
	uint64_t deadline = ck_clock_mono_ms() + T_MS;
	int r;

	while ((r = propose_once(e, cmd)) == CK_E_NOT_LEADER && ck_clock_mono_ms() < deadline)
		usleep(50000);
	return r;
}

static int create_topic(const env_t *e, const char *name, int parts, const char *key,
                        const char *value)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__CreateTopic ct = CHRONIK__META__CREATE_TOPIC__INIT;
	Chronik__Meta__PartitionAssignment as[4], *asp[4];
	Chronik__Meta__ConfigEntry ce = CHRONIK__META__CONFIG_ENTRY__INIT, *cep = &ce;
	int32_t node = 1;
	uint8_t id[16];

	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(0x21 + i);
	for (int i = 0; i < parts; i++) {
		chronik__meta__partition_assignment__init(&as[i]);
		as[i].partition = i;
		as[i].replicas = &node;
		as[i].n_replicas = 1;
		asp[i] = &as[i];
	}
	ce.name = (char *)key;
	ce.value = (char *)value;
	ct.name = (char *)name;
	ct.topic_id.data = id;
	ct.topic_id.len = sizeof(id);
	ct.assignments = asp;
	ct.n_assignments = (size_t)parts;
	ct.configs = &cep;
	ct.n_configs = 1;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC;
	cmd.create_topic = &ct;
	return propose(e, &cmd);
}

/* AlterTopicConfigs: sets the N_SET pairs of SET (name, value, ...),
 * removes DEL (may be NULL). */
static int alter(const env_t *e, const char *topic, const char *const *set, size_t n_set,
                 const char *del)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AlterTopicConfigs ac = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__ConfigEntry ce[4], *cep[4];
	char *dels[1] = {(char *)del};

	ck_assert_uint_le(n_set, 4);
	for (size_t i = 0; i < n_set; i++) {
		chronik__meta__config_entry__init(&ce[i]);
		ce[i].name = (char *)set[2 * i];
		ce[i].value = (char *)set[2 * i + 1];
		cep[i] = &ce[i];
	}
	ac.name = (char *)topic;
	ac.set = cep;
	ac.n_set = n_set;
	ac.delete_ = del ? dels : NULL;
	ac.n_delete_ = del ? 1 : 0;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
	cmd.alter_topic_configs = &ac;
	return propose(e, &cmd);
}

/* The result of appending one batch of about BYTES bytes to TOPIC-PART. */
static int append_size(wcl_t *c, const char *topic, int32_t part, size_t bytes)
{
	ck_buf_t b = CK_BUF_INIT;
	int r;

	wit_batch(&b, 1, bytes - 80, 3);
	r = wcl_append(c, topic, part, b.data, b.len, false, 0, NULL, NULL);
	ck_buf_free(&b);
	return r;
}

static int settings_changes(const env_t *e, const char *log)
{
	return wit_log_count(&e->w, "log settings changed", log, NULL);
}

START_TEST(test_alter_reaches_walwriter)
{
	const char *const limit[] = {"max.message.bytes", "1000", "retention.bytes", "4096"};
	const char *const policy[] = {"cleanup.policy", "delete"};
	const char *const limit_again[] = {"max.message.bytes", "1000"};
	Chronik__Wal__LogInfo info;
	int changes;
	env_t e;

	env_start(&e);
	ck_assert_int_eq(create_topic(&e, "tx", 2, "segment.bytes", "2048"), 0);
	for (int i = 0; i < 30; i++)
		ck_assert_int_eq(append_size(&e.c, "tx", 0, 300), 0);
	ck_assert_int_eq(append_size(&e.c, "tx", 1, 1500), 0);
	ck_assert_int_eq(wcl_info(&e.c, "tx", 0, &info), 0);
	ck_assert_int_ge(info.segments, 4); /* the topic's segment.bytes */
	ck_assert_int_eq(info.log_start_offset, 0);
	/* Applied means walwriter has it. */
	ck_assert_int_eq(alter(&e, "tx", limit, 2, NULL), 0);
	ck_assert_int_eq(append_size(&e.c, "tx", 0, 1500), CK_E_TOO_LARGE);
	ck_assert_int_eq(append_size(&e.c, "tx", 1, 1500), CK_E_TOO_LARGE);
	ck_assert_int_eq(append_size(&e.c, "tx", 1, 600), 0);
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(wcl_info(&e.c, "tx", 0, &info), 0);
		if (info.log_start_offset > 0)
			break;
		usleep(10000);
	}
	ck_assert_int_gt(info.log_start_offset, 0);
	ck_assert_int_lt(info.size_bytes, 4096 + 2048);
	ck_assert_int_eq(info.log_end_offset, 30);
	/* A key walwriter does not use: the logs are left alone. */
	changes = settings_changes(&e, "log=tx-0");
	ck_assert_int_eq(changes, 1);
	ck_assert_int_eq(alter(&e, "tx", policy, 1, NULL), 0);
	ck_assert_int_eq(settings_changes(&e, "log=tx-0"), changes);
	/* Removing the key: the node default again. */
	ck_assert_int_eq(alter(&e, "tx", NULL, 0, "max.message.bytes"), 0);
	ck_assert_int_eq(append_size(&e.c, "tx", 0, 1500), 0);
	ck_assert_int_eq(settings_changes(&e, "log=tx-1"), 2);
	/* Unknown topic: refused, nothing reaches walwriter. */
	ck_assert_int_eq(alter(&e, "nope", limit, 2, NULL), CK_E_NOT_FOUND);
	/* Both restarted: the settings stay. */
	ck_assert_int_eq(alter(&e, "tx", limit_again, 1, NULL), 0);
	wcl_close(&e.c);
	ck_assert_int_eq(ck_test_proc_stop(&e.rd, SIGTERM, T_MS), 0);
	ck_assert_int_eq(wit_stop(&e.w, SIGTERM, T_MS), 0);
	wit_start_ready(&e.w);
	raftd_start(&e);
	wcl_connect(&e.c, &e.w);
	ck_assert_int_eq(append_size(&e.c, "tx", 0, 1500), CK_E_TOO_LARGE);
	ck_assert_int_eq(append_size(&e.c, "tx", 1, 1500), CK_E_TOO_LARGE);
	ck_assert_int_eq(append_size(&e.c, "tx", 1, 600), 0);
	env_end(&e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wal_raftd_alter");
	TCase *tc = tcase_create("alter");

	tcase_set_timeout(tc, 180);
	ck_test_add_root(tc);
	tcase_add_test(tc, test_alter_reaches_walwriter);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
