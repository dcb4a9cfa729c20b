/*
 * test_raftd_apply.c: unit tests of raftd's metadata state machine
 * (raftd/raftd_apply.h) on a temporary LMDB: every command with every
 * result code, the records and the local log effects it leaves, rejected
 * commands that write nothing, and determinism: the same log applied in
 * one go, in small rounds, or with rounds aborted and redone (a crash
 * before the commit) gives byte-identical LMDB contents and results
 * (the partition change log "changes" included); "changes" lists exactly
 * the entries that changed partition records, with their topics, and is
 * trimmed at fixed indexes; committed offsets of consumer groups: stored
 * for partitions that exist only, refused whole for a bad group or a NUL
 * byte in a name, deleted by group and with their topic.
 */
#include <string.h>

#include "ck_buf.h"
#include "ck_err.h"
#include "ck_meta.h"
#include "ck_testlib.h"
#include "raftd_apply.h"

#define LOCAL_BROKER 1

static char dir[128];
static ck_meta_t *meta;
static raftd_apply_t ap;
static raftd_effects_t fx;

static void open_env(const char *tag)
{
	ck_test_mkdtemp(dir, sizeof(dir), tag);
	ck_assert_int_eq(ck_meta_open(dir, &meta), 0);
	ap.meta = meta;
	ap.local_broker = LOCAL_BROKER;
}

static void setup(void)
{
	open_env("apply");
	raftd_effects_reset(&fx);
}

static void teardown(void)
{
	ck_meta_close(meta);
	meta = NULL;
	raftd_effects_free(&fx);
}

/* ---- building commands ---- */

static ck_buf_t packed;

static const ck_buf_t *pack(const Chronik__Meta__MetadataCommand *cmd)
{
	size_t len = chronik__meta__metadata_command__get_packed_size(cmd);

	ck_buf_reset(&packed);
	ck_assert_ptr_nonnull(ck_buf_extend(&packed, len));
	(void)chronik__meta__metadata_command__pack(cmd, packed.data);
	return &packed;
}

/* A CreateTopic of PARTS partitions, partition p on replicas
 * {base + p % 3, ...} (N_REPL of them), with up to two configs. */
typedef struct {
	Chronik__Meta__MetadataCommand cmd;
	Chronik__Meta__CreateTopic ct;
	Chronik__Meta__PartitionAssignment as[8];
	Chronik__Meta__PartitionAssignment *asp[8];
	int32_t replicas[8][3];
	Chronik__Meta__ConfigEntry ce[2];
	Chronik__Meta__ConfigEntry *cep[2];
	uint8_t id[16];
} create_t;

static void create_init(create_t *c, const char *name, int parts, int n_repl, int32_t base)
{
	memset(c, 0, sizeof(*c));
	chronik__meta__metadata_command__init(&c->cmd);
	chronik__meta__create_topic__init(&c->ct);
	c->cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_TOPIC;
	c->cmd.create_topic = &c->ct;
	c->ct.name = (char *)name;
	memset(c->id, 0x5a, sizeof(c->id));
	c->id[0] = (uint8_t)strlen(name);
	c->ct.topic_id.data = c->id;
	c->ct.topic_id.len = sizeof(c->id);
	for (int p = 0; p < parts; p++) {
		chronik__meta__partition_assignment__init(&c->as[p]);
		c->as[p].partition = p;
		for (int r = 0; r < n_repl; r++)
			c->replicas[p][r] = base + (p + r) % 3;
		c->as[p].replicas = c->replicas[p];
		c->as[p].n_replicas = (size_t)n_repl;
		c->asp[p] = &c->as[p];
	}
	c->ct.assignments = c->asp;
	c->ct.n_assignments = (size_t)parts;
	for (int i = 0; i < 2; i++) {
		chronik__meta__config_entry__init(&c->ce[i]);
		c->cep[i] = &c->ce[i];
	}
	c->ct.configs = c->cep;
}

static void create_config(create_t *c, const char *k, const char *v)
{
	c->ce[c->ct.n_configs].name = (char *)k;
	c->ce[c->ct.n_configs].value = (char *)v;
	c->ct.n_configs++;
}

/* ---- applying ---- */

/* Applies one packed command at INDEX in its own committed transaction;
 * returns the result code and copies the message. */
static int apply_buf(uint64_t index, const uint8_t *data, size_t len, char *msg)
{
	raftd_apply_result_t res;
	MDB_txn *txn;

	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	ck_assert_int_eq(raftd_apply_entry(&ap, txn, index, data, len, &fx, &res), 0);
	ck_assert_int_eq(ck_meta_applied_index_put(meta, txn, index), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	ck_assert(res.message[0] != '\0');
	if (msg)
		snprintf(msg, RAFTD_APPLY_MSG_MAX, "%s", res.message);
	return res.result;
}

static int apply_msg(uint64_t index, const Chronik__Meta__MetadataCommand *cmd, char *msg)
{
	const ck_buf_t *b = pack(cmd);
	return apply_buf(index, b->data, b->len, msg);
}

static int apply(uint64_t index, const Chronik__Meta__MetadataCommand *cmd)
{
	return apply_msg(index, cmd, NULL);
}

static Chronik__Meta__TopicRecord *topic(const char *name)
{
	Chronik__Meta__TopicRecord *t = NULL;
	MDB_txn *txn;
	int r;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	r = ck_meta_topic_get(meta, txn, name, &t);
	ck_meta_read_end(txn);
	ck_assert(r == 0 || r == CK_E_NOT_FOUND);
	return r == 0 ? t : NULL;
}

static Chronik__Meta__PartitionRecord *partition(const char *name, int32_t p)
{
	Chronik__Meta__PartitionRecord *rec = NULL;
	MDB_txn *txn;
	int r;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	r = ck_meta_partition_get(meta, txn, name, p, &rec);
	ck_meta_read_end(txn);
	ck_assert(r == 0 || r == CK_E_NOT_FOUND);
	return r == 0 ? rec : NULL;
}

static bool topic_exists(const char *name)
{
	Chronik__Meta__TopicRecord *t = topic(name);

	chronik__meta__topic_record__free_unpacked(t, NULL);
	return t != NULL;
}

static const char *config_of(const Chronik__Meta__TopicRecord *t, const char *k)
{
	for (size_t i = 0; i < t->n_configs; i++) {
		if (!strcmp(t->configs[i]->name, k))
			return t->configs[i]->value;
	}
	return NULL;
}

/* ---- CreateTopic ---- */

START_TEST(test_create_topic)
{
	Chronik__Meta__TopicRecord *t;
	Chronik__Meta__PartitionRecord *p;
	create_t c;

	create_init(&c, "orders", 3, 2, 1);
	create_config(&c, "retention.ms", "60000");
	create_config(&c, "cleanup.policy", "compact,delete");
	ck_assert_int_eq(apply(7, &c.cmd), 0);
	t = topic("orders");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->name, "orders");
	ck_assert_int_eq(t->partitions, 3);
	ck_assert_uint_eq(t->created_index, 7);
	ck_assert_uint_eq(t->topic_id.len, 16);
	ck_assert_mem_eq(t->topic_id.data, c.id, 16);
	ck_assert_str_eq(config_of(t, "retention.ms"), "60000");
	ck_assert_str_eq(config_of(t, "cleanup.policy"), "compact,delete");
	chronik__meta__topic_record__free_unpacked(t, NULL);
	for (int i = 0; i < 3; i++) {
		p = partition("orders", i);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(p->n_replicas, 2);
		ck_assert_int_eq(p->replicas[0], c.replicas[i][0]);
		ck_assert_int_eq(p->leader, c.replicas[i][0]);
		ck_assert_uint_eq(p->n_isr, 2);
		ck_assert_int_eq(p->isr[1], c.replicas[i][1]);
		ck_assert_int_eq(p->leader_epoch, 0);
		ck_assert_int_eq(p->partition_epoch, 0);
		chronik__meta__partition_record__free_unpacked(p, NULL);
	}
	ck_assert_ptr_null(partition("orders", 3));
	/* Replicas {1,2}, {2,3}, {3,1}: broker 1 holds partitions 0 and 2. */
	ck_assert_uint_eq(fx.n, 2);
	ck_assert_int_eq(fx.v[0].kind, RAFTD_EFFECT_CREATE_LOG);
	ck_assert_str_eq(fx.v[0].topic, "orders");
	ck_assert_int_eq(fx.v[0].partition, 0);
	ck_assert_int_eq(fx.v[1].partition, 2);
	ck_assert_int_eq(fx.v[0].cfg.retention_ms, 60000);
	ck_assert_int_eq(fx.v[0].cfg.segment_bytes, 0);
	ck_assert_int_eq(fx.v[0].cfg.retention_bytes, 0);
	/* Each names the topic's incarnation. */
	for (size_t i = 0; i < fx.n; i++) {
		ck_assert(fx.v[i].has_topic_id);
		ck_assert_mem_eq(fx.v[i].topic_id, c.id, 16);
	}
}
END_TEST

/* Which alterations may change a log setting (and so need the topic's
 * settings before and after): a log key set or deleted, or a replace. */
START_TEST(test_alter_touches_log)
{
	Chronik__Meta__AlterTopicConfigs c = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__ConfigEntry e = CHRONIK__META__CONFIG_ENTRY__INIT;
	Chronik__Meta__ConfigEntry *ev[1] = {&e};
	char *del[1] = {"flush.ms"};

	c.name = "t";
	e.name = "min.insync.replicas";
	e.value = "2";
	c.set = ev;
	c.n_set = 1;
	c.delete_ = del;
	c.n_delete_ = 1;
	ck_assert(!raftd_apply_alter_touches_log(&c));
	c.replace_all = true;
	ck_assert(raftd_apply_alter_touches_log(&c));
	c.replace_all = false;
	e.name = "retention.ms";
	ck_assert(raftd_apply_alter_touches_log(&c));
	e.name = "min.insync.replicas";
	del[0] = "segment.bytes";
	ck_assert(raftd_apply_alter_touches_log(&c));
	del[0] = "cleanup.policy"; /* retention may come back */
	ck_assert(raftd_apply_alter_touches_log(&c));
	c.n_set = c.n_delete_ = 0;
	ck_assert(!raftd_apply_alter_touches_log(&c));
}
END_TEST

/* Every log setting maps from its Kafka key; 0 retention stays "delete
 * at once" rather than LogConfig's "default". */
START_TEST(test_create_topic_log_config)
{
	Chronik__Meta__ConfigEntry e[6];
	Chronik__Meta__ConfigEntry *ev[6];
	static const char *const kv[6][2] = {
	    {"segment.bytes", "1048576"},     {"segment.ms", "3600000"},
	    {"retention.bytes", "0"},         {"retention.ms", "-1"},
	    {"max.message.bytes", "2000000"}, {"index.interval.bytes", "8192"},
	};
	raftd_log_config_t cfg;
	const char *bad = NULL;

	for (int i = 0; i < 6; i++) {
		chronik__meta__config_entry__init(&e[i]);
		e[i].name = (char *)kv[i][0];
		e[i].value = (char *)kv[i][1];
		ev[i] = &e[i];
	}
	ck_assert_int_eq(raftd_apply_log_config(ev, 6, &cfg, &bad), 0);
	ck_assert_int_eq(cfg.segment_bytes, 1048576);
	ck_assert_int_eq(cfg.segment_ms, 3600000);
	ck_assert_int_eq(cfg.retention_bytes, 1);
	ck_assert_int_eq(cfg.retention_ms, -1);
	ck_assert_int_eq(cfg.max_message_bytes, 2000000);
	ck_assert_int_eq(cfg.index_interval_bytes, 8192);
	e[0].value = "12";
	ck_assert_int_eq(raftd_apply_log_config(ev, 6, &cfg, &bad), CK_E_INVALID);
	ck_assert_str_eq(bad, "segment.bytes");
	e[0].value = "1048576";
	e[3].value = "-2";
	ck_assert_int_eq(raftd_apply_log_config(ev, 6, &cfg, &bad), CK_E_INVALID);
	ck_assert_str_eq(bad, "retention.ms");
	e[3].value = " 5";
	ck_assert_int_eq(raftd_apply_log_config(ev, 6, &cfg, &bad), CK_E_INVALID);
	e[3].value = "99999999999999999999";
	ck_assert_int_eq(raftd_apply_log_config(ev, 6, &cfg, &bad), CK_E_INVALID);
	e[3].value = "5";
	e[4].value = "3000000000";
	ck_assert_int_eq(raftd_apply_log_config(ev, 6, &cfg, &bad), CK_E_INVALID);
	ck_assert_str_eq(bad, "max.message.bytes");
}
END_TEST

/* A compact-only topic keeps every record: both retentions unlimited,
 * whatever it sets; "compact,delete" keeps them. */
START_TEST(test_compact_policy_turns_retention_off)
{
	Chronik__Meta__ConfigEntry e[3];
	Chronik__Meta__ConfigEntry *ev[3] = {&e[0], &e[1], &e[2]};
	raftd_log_config_t cfg;
	const char *bad = NULL;
	Chronik__Meta__AlterTopicConfigs a = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__ConfigEntry *set[1] = {&e[0]};

	for (int i = 0; i < 3; i++)
		chronik__meta__config_entry__init(&e[i]);
	e[0].name = "cleanup.policy";
	e[0].value = "compact";
	e[1].name = "retention.ms";
	e[1].value = "1000";
	e[2].name = "retention.bytes";
	e[2].value = "4096";
	ck_assert_int_eq(raftd_apply_log_config(ev, 3, &cfg, &bad), 0);
	ck_assert_int_eq(cfg.retention_ms, -1);
	ck_assert_int_eq(cfg.retention_bytes, -1);
	e[0].value = "compact, delete";
	ck_assert_int_eq(raftd_apply_log_config(ev, 3, &cfg, &bad), 0);
	ck_assert_int_eq(cfg.retention_ms, 1000);
	ck_assert_int_eq(cfg.retention_bytes, 4096);
	e[0].value = "compact";
	ck_assert_int_eq(raftd_apply_log_config(ev, 1, &cfg, &bad), 0);
	ck_assert_int_eq(cfg.retention_ms, -1); /* not the node default either */
	/* Changing the policy changes the log's settings. */
	a.n_set = 1;
	a.set = set;
	ck_assert(raftd_apply_alter_touches_log(&a));
}
END_TEST

START_TEST(test_create_topic_exists)
{
	Chronik__Meta__TopicRecord *t;
	create_t c;

	create_init(&c, "orders", 2, 1, 1);
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	raftd_effects_reset(&fx);
	/* Another topic id: a different topic of the same name. */
	create_init(&c, "orders", 5, 1, 1);
	c.id[15] ^= 0xff;
	ck_assert_int_eq(apply(2, &c.cmd), CK_E_EXISTS);
	ck_assert_uint_eq(fx.n, 0);
	t = topic("orders");
	ck_assert_int_eq(t->partitions, 2);
	ck_assert_uint_eq(t->created_index, 1);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	ck_assert_ptr_null(partition("orders", 2));
}
END_TEST

/* Kafka's rule: a name equal to an existing topic's once '.' and '_' are
 * equated is refused (INVALID_TOPIC_EXCEPTION at the client), by a
 * command that asks for it; an entry from before the field still creates,
 * so a log replayed gives the state it gave. */
START_TEST(test_create_topic_collision)
{
	char msg[RAFTD_APPLY_MSG_MAX];
	const ck_buf_t *b;
	create_t c;

	create_init(&c, "metrics.cpu_load", 1, 1, 1);
	c.ct.refuse_collision = true;
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	raftd_effects_reset(&fx);
	create_init(&c, "metrics_cpu.load", 1, 1, 1);
	c.id[15] ^= 0x11;
	c.ct.refuse_collision = true;
	b = pack(&c.cmd);
	ck_assert_int_eq(apply_buf(2, b->data, b->len, msg), CK_E_COLLISION);
	ck_assert_str_eq(msg, "Topic 'metrics_cpu.load' collides with existing topic: "
	                      "metrics.cpu_load");
	ck_assert_uint_eq(fx.n, 0);
	ck_assert(!topic_exists("metrics_cpu.load"));
	/* Not a collision: another length, another character, itself. */
	create_init(&c, "metrics.cpu_load2", 1, 1, 1);
	c.id[15] ^= 0x22;
	c.ct.refuse_collision = true;
	ck_assert_int_eq(apply(3, &c.cmd), 0);
	create_init(&c, "metrics-cpu_load", 1, 1, 1);
	c.id[15] ^= 0x33;
	c.ct.refuse_collision = true;
	ck_assert_int_eq(apply(4, &c.cmd), 0);
	create_init(&c, "metrics.cpu_load", 1, 1, 1);
	c.ct.refuse_collision = true;
	ck_assert_int_eq(apply(5, &c.cmd), 0); /* the same id again: a retry */
	/* Without the field (an entry from before it): created. */
	create_init(&c, "metrics_cpu_load", 1, 1, 1);
	c.id[15] ^= 0x44;
	ck_assert_int_eq(apply(6, &c.cmd), 0);
	ck_assert(topic_exists("metrics_cpu_load"));
}
END_TEST

/* The collision walk: the least colliding name, none for names without
 * '.' or '_', and a walk bounded by the names stored (a name of 249 '.'
 * has 2^249 spellings). */
START_TEST(test_topic_collision_walk)
{
	static const char *stored[] = {"a_b_c", "a.b.c", "a_b", "x.y", "x_yz", "q", "k_"};
	char dots[250], other[256], unders[80];
	MDB_txn *txn;
	create_t c;

	for (size_t i = 0; i < CK_ARRAY_LEN(stored); i++) {
		create_init(&c, stored[i], 1, 1, 1);
		c.id[14] = (uint8_t)(i + 1);
		ck_assert_int_eq(apply(i + 1, &c.cmd), 0);
	}
	memset(unders, '_', 79);
	unders[79] = '\0';
	create_init(&c, unders, 1, 1, 1);
	ck_assert_int_eq(apply(20, &c.cmd), 0);
	memset(dots, '.', 249);
	dots[249] = '\0';
	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	dots[79] = '\0'; /* 79 choices deep, one branch held at each */
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, dots, other, sizeof(other)), 1);
	ck_assert_str_eq(other, unders);
	dots[79] = '.';
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "a_b.c", other, sizeof(other)), 1);
	ck_assert_str_eq(other, "a.b.c");
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "a_b_c", other, sizeof(other)), 1);
	ck_assert_str_eq(other, "a.b.c");
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "a.b", other, sizeof(other)), 1);
	ck_assert_str_eq(other, "a_b");
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "a_b", other, sizeof(other)), 0);
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "x_y", other, sizeof(other)), 1);
	ck_assert_str_eq(other, "x.y");
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "x.y.z", other, sizeof(other)), 0);
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "q", other, sizeof(other)), 0);
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, "k.", other, sizeof(other)), 1);
	ck_assert_str_eq(other, "k_");
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, dots, other, sizeof(other)), 0);
	dots[0] = '_';
	ck_assert_int_eq(ck_meta_topic_collision(meta, txn, dots, other, sizeof(other)), 0);
	ck_meta_read_end(txn);
}
END_TEST

/* A CreateTopic applied again (a retry after a lost answer, forwarded
 * twice) is a success that changes nothing. */
START_TEST(test_create_topic_retry_same_id)
{
	Chronik__Meta__TopicRecord *t;
	const ck_buf_t *b;
	create_t c;
	char msg[RAFTD_APPLY_MSG_MAX];

	create_init(&c, "orders", 2, 1, 1);
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	ck_assert_uint_eq(fx.n, 1);
	raftd_effects_reset(&fx);
	b = pack(&c.cmd);
	ck_assert_int_eq(apply_buf(7, b->data, b->len, msg), 0);
	ck_assert_str_eq(msg, "created already");
	ck_assert_uint_eq(fx.n, 0);
	t = topic("orders");
	ck_assert_int_eq(t->partitions, 2);
	ck_assert_uint_eq(t->created_index, 1);
	chronik__meta__topic_record__free_unpacked(t, NULL);
}
END_TEST

/* Every malformed CreateTopic is CK_E_INVALID and writes nothing. */
START_TEST(test_create_topic_invalid)
{
	create_t c;
	char msg[RAFTD_APPLY_MSG_MAX];
	const ck_buf_t *b;
	int n = 0;

	for (int k = 0; k < 13; k++, n++) {
		create_init(&c, "t", 3, 2, 1);
		switch (k) {
		case 0:
			c.ct.name = "bad name";
			break;
		case 1:
			c.ct.name = RAFTD_METADATA_TOPIC;
			break;
		case 2:
			c.ct.name = "..";
			break;
		case 3:
			c.ct.topic_id.len = 15;
			break;
		case 4:
			memset(c.id, 0, sizeof(c.id));
			break;
		case 5:
			c.ct.n_assignments = 0;
			break;
		case 6:
			c.as[2].partition = 3;
			break;
		case 7:
			c.as[2].partition = 1;
			break;
		case 8:
			c.as[1].n_replicas = 0;
			break;
		case 9:
			c.replicas[1][1] = c.replicas[1][0];
			break;
		case 10:
			c.replicas[0][1] = -4;
			break;
		case 11:
			create_config(&c, "retention.ms", "1");
			create_config(&c, "retention.ms", "2");
			break;
		default:
			create_config(&c, "retention.bytes", "lots");
			break;
		}
		b = pack(&c.cmd);
		ck_assert_int_eq(apply_buf((uint64_t)k + 1, b->data, b->len, msg), CK_E_INVALID);
		if (k == 12)
			ck_assert_msg(strstr(msg, "retention.bytes"), "message: %s", msg);
		ck_assert(!topic_exists(c.ct.name));
		ck_assert_ptr_null(partition("t", 0));
		ck_assert_uint_eq(fx.n, 0);
	}
	ck_assert_int_eq(n, 13);
}
END_TEST

/* ---- DeleteTopic ---- */

static Chronik__Meta__MetadataCommand *delete_cmd(const char *name)
{
	static Chronik__Meta__MetadataCommand cmd;
	static Chronik__Meta__DeleteTopic dt;

	chronik__meta__metadata_command__init(&cmd);
	chronik__meta__delete_topic__init(&dt);
	dt.name = (char *)name;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC;
	cmd.delete_topic = &dt;
	return &cmd;
}

START_TEST(test_delete_topic)
{
	uint8_t a_id[16];
	create_t c;

	create_init(&c, "a", 3, 2, 1);
	memcpy(a_id, c.id, 16);
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	create_init(&c, "a.b", 1, 1, 1);
	ck_assert_int_eq(apply(2, &c.cmd), 0);
	raftd_effects_reset(&fx);
	ck_assert_int_eq(apply(3, delete_cmd("a")), 0);
	ck_assert(!topic_exists("a"));
	ck_assert_ptr_null(partition("a", 0));
	ck_assert_ptr_null(partition("a", 2));
	ck_assert(topic_exists("a.b"));
	/* The local partitions' logs go (broker 1 holds 0 and 2). */
	ck_assert_uint_eq(fx.n, 2);
	ck_assert_int_eq(fx.v[0].kind, RAFTD_EFFECT_DELETE_LOG);
	ck_assert_str_eq(fx.v[0].topic, "a");
	ck_assert_int_eq(fx.v[0].partition, 0);
	ck_assert_int_eq(fx.v[1].partition, 2);
	/* ... naming the incarnation deleted ("a.b" has another id). */
	ck_assert_int_ne(memcmp(a_id, c.id, 16), 0);
	for (size_t i = 0; i < fx.n; i++) {
		ck_assert(fx.v[i].has_topic_id);
		ck_assert_mem_eq(fx.v[i].topic_id, a_id, 16);
	}
	raftd_effects_reset(&fx);
	ck_assert_int_eq(apply(4, delete_cmd("a")), CK_E_NOT_FOUND);
	ck_assert_int_eq(apply(5, delete_cmd("bad name")), CK_E_NOT_FOUND);
	ck_assert_int_eq(apply(6, delete_cmd(RAFTD_METADATA_TOPIC)), CK_E_NOT_FOUND);
	ck_assert_uint_eq(fx.n, 0);
	/* And it can be created again, fresh. */
	create_init(&c, "a", 1, 1, 1);
	ck_assert_int_eq(apply(7, &c.cmd), 0);
	ck_assert_ptr_null(partition("a", 1));
}
END_TEST

/* A name deleted and created again is a new incarnation: the effects of
 * each command name the id of the record they act on, so the old
 * DeleteTopic, replayed later, names the old id (walwriter spares the new
 * incarnation's log). */
START_TEST(test_effects_name_incarnation)
{
	uint8_t first[16], second[16];
	create_t c;

	create_init(&c, "x", 1, 1, LOCAL_BROKER);
	memcpy(first, c.id, 16);
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	ck_assert_uint_eq(fx.n, 1);
	ck_assert_int_eq(fx.v[0].kind, RAFTD_EFFECT_CREATE_LOG);
	ck_assert(fx.v[0].has_topic_id);
	ck_assert_mem_eq(fx.v[0].topic_id, first, 16);
	raftd_effects_reset(&fx);
	ck_assert_int_eq(apply(2, delete_cmd("x")), 0);
	ck_assert_uint_eq(fx.n, 1);
	ck_assert_int_eq(fx.v[0].kind, RAFTD_EFFECT_DELETE_LOG);
	ck_assert(fx.v[0].has_topic_id);
	ck_assert_mem_eq(fx.v[0].topic_id, first, 16);
	raftd_effects_reset(&fx);
	create_init(&c, "x", 1, 1, LOCAL_BROKER);
	c.id[15] ^= 0xff; /* another incarnation */
	memcpy(second, c.id, 16);
	ck_assert_int_ne(memcmp(first, second, 16), 0);
	ck_assert_int_eq(apply(3, &c.cmd), 0);
	ck_assert_uint_eq(fx.n, 1);
	ck_assert_int_eq(fx.v[0].kind, RAFTD_EFFECT_CREATE_LOG);
	ck_assert(fx.v[0].has_topic_id);
	ck_assert_mem_eq(fx.v[0].topic_id, second, 16);
	raftd_effects_reset(&fx);
	ck_assert_int_eq(apply(4, delete_cmd("x")), 0);
	ck_assert_uint_eq(fx.n, 1);
	ck_assert_int_eq(fx.v[0].kind, RAFTD_EFFECT_DELETE_LOG);
	ck_assert(fx.v[0].has_topic_id);
	ck_assert_mem_eq(fx.v[0].topic_id, second, 16);
}
END_TEST

/* ---- CreatePartitions ---- */

typedef struct {
	Chronik__Meta__MetadataCommand cmd;
	Chronik__Meta__CreatePartitions cp;
	Chronik__Meta__PartitionAssignment as[4];
	Chronik__Meta__PartitionAssignment *asp[4];
	int32_t replicas[4][1];
} grow_t;

static void grow_init(grow_t *g, const char *name, int32_t first, int k)
{
	memset(g, 0, sizeof(*g));
	chronik__meta__metadata_command__init(&g->cmd);
	chronik__meta__create_partitions__init(&g->cp);
	g->cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_CREATE_PARTITIONS;
	g->cmd.create_partitions = &g->cp;
	g->cp.name = (char *)name;
	for (int i = 0; i < k; i++) {
		chronik__meta__partition_assignment__init(&g->as[i]);
		g->as[i].partition = first + i;
		g->replicas[i][0] = LOCAL_BROKER;
		g->as[i].replicas = g->replicas[i];
		g->as[i].n_replicas = 1;
		g->asp[i] = &g->as[i];
	}
	g->cp.assignments = g->asp;
	g->cp.n_assignments = (size_t)k;
}

START_TEST(test_create_partitions)
{
	Chronik__Meta__TopicRecord *t;
	Chronik__Meta__PartitionRecord *p;
	char msg[RAFTD_APPLY_MSG_MAX];
	create_t c;
	grow_t g;

	create_init(&c, "t", 2, 1, 1);
	create_config(&c, "segment.bytes", "100000");
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	raftd_effects_reset(&fx);
	grow_init(&g, "t", 2, 2);
	ck_assert_int_eq(apply(2, &g.cmd), 0);
	t = topic("t");
	ck_assert_int_eq(t->partitions, 4);
	ck_assert_uint_eq(t->created_index, 1);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	p = partition("t", 3);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p->leader, LOCAL_BROKER);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	/* New logs get the topic's settings. */
	ck_assert_uint_eq(fx.n, 2);
	ck_assert_int_eq(fx.v[0].kind, RAFTD_EFFECT_CREATE_LOG);
	ck_assert_int_eq(fx.v[0].partition, 2);
	ck_assert_int_eq(fx.v[1].partition, 3);
	ck_assert_int_eq(fx.v[1].cfg.segment_bytes, 100000);
	/* ... and its incarnation. */
	ck_assert(fx.v[0].has_topic_id && fx.v[1].has_topic_id);
	ck_assert_mem_eq(fx.v[0].topic_id, c.id, 16);
	ck_assert_mem_eq(fx.v[1].topic_id, c.id, 16);
	raftd_effects_reset(&fx);
	/* No growth: invalid. */
	grow_init(&g, "t", 4, 0);
	ck_assert_int_eq(apply(3, &g.cmd), CK_E_INVALID);
	/* Numbered from another count than the topic's (another growth
	 * committed first): out of order, saying what the count is. */
	grow_init(&g, "t", 5, 1);
	ck_assert_int_eq(apply_msg(4, &g.cmd, msg), CK_E_OUT_OF_ORDER);
	ck_assert_str_eq(msg, "topic currently has 4 partitions, not the 5 the new ones were "
	                      "numbered from");
	grow_init(&g, "t", 3, 2);
	ck_assert_int_eq(apply_msg(5, &g.cmd, msg), CK_E_OUT_OF_ORDER);
	ck_assert_str_eq(msg, "topic currently has 4 partitions, not the 3 the new ones were "
	                      "numbered from");
	grow_init(&g, "t", 2, 2);
	ck_assert_int_eq(apply_msg(5, &g.cmd, msg), CK_E_OUT_OF_ORDER);
	ck_assert_str_eq(msg, "topic already has 4 partitions");
	grow_init(&g, "t", 1, 2);
	ck_assert_int_eq(apply_msg(5, &g.cmd, msg), CK_E_OUT_OF_ORDER);
	ck_assert_str_eq(msg, "topic currently has 4 partitions, which is higher than the "
	                      "requested 3");
	grow_init(&g, "t", 4, 2);
	g.as[1].partition = 4;
	ck_assert_int_eq(apply(6, &g.cmd), CK_E_INVALID);
	grow_init(&g, "nope", 0, 1);
	ck_assert_int_eq(apply(7, &g.cmd), CK_E_NOT_FOUND);
	ck_assert_uint_eq(fx.n, 0);
	t = topic("t");
	ck_assert_int_eq(t->partitions, 4);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	ck_assert_ptr_null(partition("t", 4));
}
END_TEST

/* ---- AlterTopicConfigs ---- */

/* An AlterTopicConfigs of topic "t" (created at index 1 with PARTS
 * partitions, retention.ms=1000 and file.delete.delay.ms=5) setting K0=V0
 * and K1=V1 and deleting file.delete.delay.ms. */
typedef struct {
	Chronik__Meta__MetadataCommand cmd;
	Chronik__Meta__AlterTopicConfigs ac;
	Chronik__Meta__ConfigEntry e[2], *ev[2];
	char *del[1];
} alter_t;

static void alter_init(alter_t *a, int parts, const char *k0, const char *v0, const char *k1,
                       const char *v1)
{
	create_t c;

	create_init(&c, "t", parts, 1, 1);
	create_config(&c, "retention.ms", "1000");
	create_config(&c, "file.delete.delay.ms", "5");
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	chronik__meta__metadata_command__init(&a->cmd);
	chronik__meta__alter_topic_configs__init(&a->ac);
	a->cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
	a->cmd.alter_topic_configs = &a->ac;
	a->ac.name = "t";
	for (int i = 0; i < 2; i++) {
		chronik__meta__config_entry__init(&a->e[i]);
		a->ev[i] = &a->e[i];
	}
	a->e[0].name = (char *)k0;
	a->e[0].value = (char *)v0;
	a->e[1].name = (char *)k1;
	a->e[1].value = (char *)v1;
	a->ac.set = a->ev;
	a->ac.n_set = 2;
	a->del[0] = "file.delete.delay.ms";
	a->ac.delete_ = a->del;
	a->ac.n_delete_ = 1;
}

START_TEST(test_alter_configs)
{
	Chronik__Meta__TopicRecord *t;
	alter_t a;

	alter_init(&a, 1, "retention.ms", "2000", "flush.ms", "5");
	ck_assert_int_eq(apply(2, &a.cmd), 0);
	t = topic("t");
	ck_assert_uint_eq(t->n_configs, 2);
	ck_assert_str_eq(config_of(t, "retention.ms"), "2000");
	ck_assert_str_eq(config_of(t, "flush.ms"), "5");
	ck_assert_ptr_null(config_of(t, "file.delete.delay.ms"));
	chronik__meta__topic_record__free_unpacked(t, NULL);
	/* replace_all: the set is everything. */
	a.ac.n_set = 1;
	a.e[0].name = "segment.ms";
	a.e[0].value = "100";
	a.ac.n_delete_ = 0;
	a.ac.replace_all = true;
	ck_assert_int_eq(apply(3, &a.cmd), 0);
	t = topic("t");
	ck_assert_uint_eq(t->n_configs, 1);
	ck_assert_str_eq(config_of(t, "segment.ms"), "100");
	chronik__meta__topic_record__free_unpacked(t, NULL);
	/* Bad value, duplicate key, empty key, unknown topic. */
	a.e[0].name = "retention.ms";
	a.e[0].value = "soon";
	ck_assert_int_eq(apply(4, &a.cmd), CK_E_INVALID);
	a.e[0].value = "1";
	a.e[1].name = "retention.ms";
	a.ac.n_set = 2;
	ck_assert_int_eq(apply(5, &a.cmd), CK_E_INVALID);
	a.e[1].name = "";
	ck_assert_int_eq(apply(6, &a.cmd), CK_E_INVALID);
	a.ac.name = "nope";
	a.ac.n_set = 1;
	ck_assert_int_eq(apply(7, &a.cmd), CK_E_NOT_FOUND);
	t = topic("t");
	ck_assert_uint_eq(t->n_configs, 1);
	ck_assert_str_eq(config_of(t, "segment.ms"), "100");
	chronik__meta__topic_record__free_unpacked(t, NULL);
	ck_assert_uint_eq(fx.n, 1); /* only the CreateTopic's log */
}
END_TEST

/* An alteration of settings that are not the log's takes the packed
 * path (raftd_cfgedit.h): the same records and results as the long way,
 * and a stored record that does not parse still fails as corrupt. */
START_TEST(test_alter_configs_packed)
{
	Chronik__Meta__TopicRecord *t;
	raftd_apply_result_t res;
	MDB_txn *txn;
	alter_t a;

	alter_init(&a, 2, "min.insync.replicas", "2", "flush.messages", "7");
	ck_assert(!raftd_apply_alter_touches_log(&a.ac));
	ck_assert_int_eq(apply(2, &a.cmd), 0);
	t = topic("t");
	ck_assert_uint_eq(t->n_configs, 3);
	ck_assert_str_eq(t->configs[0]->name, "retention.ms"); /* kept, in order */
	ck_assert_str_eq(t->configs[0]->value, "1000");
	ck_assert_str_eq(t->configs[1]->name, "min.insync.replicas");
	ck_assert_str_eq(t->configs[1]->value, "2");
	ck_assert_str_eq(t->configs[2]->value, "7");
	ck_assert_int_eq(t->partitions, 2);
	ck_assert_uint_eq(t->created_index, 1);
	ck_assert_uint_eq(t->topic_id.len, 16);
	chronik__meta__topic_record__free_unpacked(t, NULL);
	/* Duplicate and empty keys, unknown and invalid topic names. */
	a.e[1].name = "min.insync.replicas";
	ck_assert_int_eq(apply(3, &a.cmd), CK_E_INVALID);
	a.e[1].name = "";
	ck_assert_int_eq(apply(4, &a.cmd), CK_E_INVALID);
	a.ac.n_set = 1;
	a.ac.name = "nope";
	ck_assert_int_eq(apply(5, &a.cmd), CK_E_NOT_FOUND);
	a.ac.name = "bad/name";
	ck_assert_int_eq(apply(6, &a.cmd), CK_E_NOT_FOUND);
	/* A stored record that does not parse. */
	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_topic_put_raw(meta, txn, "t", "\x0b\x01", 2), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
	a.ac.name = "t";
	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	ck_assert_int_eq(raftd_apply_entry_cmd(&ap, txn, 7, &a.cmd, &fx, &res), CK_E_CORRUPT);
	mdb_txn_abort(txn);
}
END_TEST

/* ---- brokers ---- */

static int register_broker_data(uint64_t index, int32_t id, uint64_t incarnation, int32_t port,
                                uint64_t data_id, char *msg)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__RegisterBroker rb = CHRONIK__META__REGISTER_BROKER__INIT;
	Chronik__Meta__BrokerRecord b = CHRONIK__META__BROKER_RECORD__INIT;

	b.id = id;
	b.kafka_host = "127.0.0.1";
	b.kafka_port = port;
	b.incarnation = incarnation;
	b.data_id = data_id;
	rb.broker = &b;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER;
	cmd.register_broker = &rb;
	return apply_msg(index, &cmd, msg);
}

static int register_broker(uint64_t index, int32_t id, uint64_t incarnation, int32_t port)
{
	return register_broker_data(index, id, incarnation, port, 0, NULL);
}

static int fence_broker(uint64_t index, int32_t id, uint64_t incarnation, bool fenced)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__FenceBroker fb = CHRONIK__META__FENCE_BROKER__INIT;

	fb.id = id;
	fb.incarnation = incarnation;
	fb.fenced = fenced;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_FENCE_BROKER;
	cmd.fence_broker = &fb;
	return apply(index, &cmd);
}

static Chronik__Meta__BrokerRecord *broker(int32_t id)
{
	Chronik__Meta__BrokerRecord *b = NULL;
	MDB_txn *txn;
	int r;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	r = ck_meta_broker_get(meta, txn, id, &b);
	ck_meta_read_end(txn);
	return r == 0 ? b : NULL;
}

static uint64_t parts_index(void)
{
	MDB_txn *txn;
	uint64_t v = 99;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_parts_index(meta, txn, &v), 0);
	ck_meta_read_end(txn);
	return v;
}

/* "parts_index" moves with the entries that change partition records, not
 * with config changes or rejected commands (the replicator skips re-reads
 * on it). */
START_TEST(test_parts_index)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AlterTopicConfigs ac = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__ConfigEntry e = CHRONIK__META__CONFIG_ENTRY__INIT;
	Chronik__Meta__ConfigEntry *ev[1] = {&e};
	Chronik__Meta__DeleteTopic dt = CHRONIK__META__DELETE_TOPIC__INIT;
	create_t c;

	ck_assert_uint_eq(parts_index(), 0);
	create_init(&c, "t", 1, 1, 1);
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	ck_assert_uint_eq(parts_index(), 1);
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
	cmd.alter_topic_configs = &ac;
	ac.name = "t";
	e.name = "min.insync.replicas";
	e.value = "1";
	ac.set = ev;
	ac.n_set = 1;
	ck_assert_int_eq(apply(2, &cmd), 0);
	ck_assert_uint_eq(parts_index(), 1);
	ac.name = "missing";
	ck_assert_int_eq(apply(3, &cmd), CK_E_NOT_FOUND);
	ck_assert_uint_eq(parts_index(), 1);
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_TOPIC;
	cmd.delete_topic = &dt;
	dt.name = "missing";
	ck_assert_int_eq(apply(4, &cmd), CK_E_NOT_FOUND); /* rejected: no change */
	ck_assert_uint_eq(parts_index(), 1);
	create_init(&c, "u", 2, 1, 1);
	ck_assert_int_eq(apply(5, &c.cmd), 0);
	ck_assert_uint_eq(parts_index(), 5);
	dt.name = "t";
	ck_assert_int_eq(apply(6, &cmd), 0);
	ck_assert_uint_eq(parts_index(), 6);
}
END_TEST

START_TEST(test_brokers)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__RegisterBroker rb = CHRONIK__META__REGISTER_BROKER__INIT;
	Chronik__Meta__BrokerRecord *b;

	ck_assert_int_eq(fence_broker(1, 3, 0, true), CK_E_NOT_FOUND);
	ck_assert_int_eq(register_broker(2, 3, 77, 9092), 0);
	b = broker(3);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->incarnation, 77);
	ck_assert_int_eq(b->kafka_port, 9092);
	ck_assert(!b->fenced);
	chronik__meta__broker_record__free_unpacked(b, NULL);
	/* A fence naming an older incarnation is stale. */
	ck_assert_int_eq(fence_broker(3, 3, 76, true), CK_E_INVALID);
	ck_assert_int_eq(fence_broker(4, 3, 77, true), 0);
	b = broker(3);
	ck_assert(b->fenced);
	chronik__meta__broker_record__free_unpacked(b, NULL);
	ck_assert_int_eq(fence_broker(5, 3, 0, false), 0);
	b = broker(3);
	ck_assert(!b->fenced);
	chronik__meta__broker_record__free_unpacked(b, NULL);
	/* Re-registration replaces the record (new incarnation). */
	ck_assert_int_eq(register_broker(6, 3, 78, 9093), 0);
	b = broker(3);
	ck_assert_uint_eq(b->incarnation, 78);
	ck_assert_int_eq(b->kafka_port, 9093);
	chronik__meta__broker_record__free_unpacked(b, NULL);
	ck_assert_int_eq(register_broker(7, -1, 1, 9092), CK_E_INVALID);
	ck_assert_int_eq(register_broker(8, 4, 1, 70000), CK_E_INVALID);
	ck_assert_ptr_null(broker(4));
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER;
	cmd.register_broker = &rb;
	ck_assert_int_eq(apply(9, &cmd), CK_E_INVALID);
	ck_assert_uint_eq(fx.n, 0);
}
END_TEST

/* ---- UpdatePartition ---- */

static int update(uint64_t index, const char *t, int32_t p, int32_t leader, int32_t *isr,
                  size_t n_isr, int32_t leader_epoch, int32_t partition_epoch)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__UpdatePartition up = CHRONIK__META__UPDATE_PARTITION__INIT;

	up.topic = (char *)t;
	up.partition = p;
	up.leader = leader;
	up.isr = isr;
	up.n_isr = n_isr;
	up.leader_epoch = leader_epoch;
	up.partition_epoch = partition_epoch;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_UPDATE_PARTITION;
	cmd.update_partition = &up;
	return apply(index, &cmd);
}

/* New partitions start with the replicas that are not fenced as ISR and
 * the first of them as leader (a manual assignment may name a broker that
 * is down); all replicas when none is live. */
START_TEST(test_create_topic_fenced_replicas)
{
	static const int32_t want_leader[3] = {1, 3, 3}, want_isr[3] = {1, 1, 2};
	Chronik__Meta__PartitionRecord *p;
	create_t c;

	for (int32_t b = 1; b <= 3; b++)
		ck_assert_int_eq(register_broker((uint64_t)b, b, 5, 9092), 0);
	ck_assert_int_eq(fence_broker(4, 2, 5, true), 0);
	create_init(&c, "f", 3, 2, 1); /* {1,2}, {2,3}, {3,1} */
	ck_assert_int_eq(apply(5, &c.cmd), 0);
	for (int i = 0; i < 3; i++) {
		p = partition("f", i);
		ck_assert_uint_eq(p->n_replicas, 2);
		ck_assert_int_eq(p->leader, want_leader[i]);
		ck_assert_uint_eq(p->n_isr, (size_t)want_isr[i]);
		for (size_t j = 0; j < p->n_isr; j++)
			ck_assert_int_ne(p->isr[j], 2);
		chronik__meta__partition_record__free_unpacked(p, NULL);
	}
	ck_assert_int_eq(fence_broker(6, 1, 5, true), 0);
	ck_assert_int_eq(fence_broker(7, 3, 5, true), 0);
	create_init(&c, "gg", 1, 2, 2);
	ck_assert_int_eq(apply(8, &c.cmd), 0);
	p = partition("gg", 0);
	ck_assert_uint_eq(p->n_isr, 2);
	ck_assert_int_eq(p->leader, p->replicas[0]);
	chronik__meta__partition_record__free_unpacked(p, NULL);
}
END_TEST

START_TEST(test_update_partition)
{
	Chronik__Meta__PartitionRecord *p;
	int32_t isr2[2] = {2, 3}, isr1[1] = {3}, bad[2] = {3, 9}, dup[2] = {3, 3};
	create_t c;

	create_init(&c, "t", 1, 3, 1); /* replicas {1, 2, 3} */
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	ck_assert_int_eq(update(2, "t", 0, 2, isr2, 2, 1, 0), 0);
	p = partition("t", 0);
	ck_assert_int_eq(p->leader, 2);
	ck_assert_uint_eq(p->n_isr, 2);
	ck_assert_int_eq(p->isr[1], 3);
	ck_assert_int_eq(p->leader_epoch, 1);
	ck_assert_int_eq(p->partition_epoch, 1);
	ck_assert_uint_eq(p->n_replicas, 3);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	/* The CAS: epoch 0 is stale now. */
	ck_assert_int_eq(update(3, "t", 0, 3, isr1, 1, 2, 0), CK_E_AGAIN);
	ck_assert_int_eq(update(4, "t", 0, 2, isr1, 1, 2, 1), CK_E_INVALID); /* leader not in isr */
	ck_assert_int_eq(update(5, "t", 0, 3, bad, 2, 2, 1), CK_E_INVALID);  /* 9 no replica */
	ck_assert_int_eq(update(6, "t", 0, 3, dup, 2, 2, 1), CK_E_INVALID);  /* duplicate */
	ck_assert_int_eq(update(7, "t", 0, 3, isr1, 1, 0, 1), CK_E_INVALID); /* epoch back */
	ck_assert_int_eq(update(8, "t", 1, 3, isr1, 1, 2, 1), CK_E_NOT_FOUND);
	ck_assert_int_eq(update(9, "u", 0, 3, isr1, 1, 2, 1), CK_E_NOT_FOUND);
	p = partition("t", 0);
	ck_assert_int_eq(p->leader, 2);
	ck_assert_int_eq(p->partition_epoch, 1);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	/* No leader at all, empty ISR: allowed (the partition is offline). */
	ck_assert_int_eq(update(10, "t", 0, -1, NULL, 0, 2, 1), 0);
	p = partition("t", 0);
	ck_assert_int_eq(p->leader, -1);
	ck_assert_uint_eq(p->n_isr, 0);
	ck_assert_int_eq(p->partition_epoch, 2);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	/* The ISR grows only by registered brokers that are not fenced
	 * (KIP-841): 3 is unknown, then fenced, then live. */
	ck_assert_int_eq(update(11, "t", 0, 3, isr1, 1, 3, 2), CK_E_INVALID);
	ck_assert_int_eq(register_broker(12, 3, 7, 9092), 0);
	ck_assert_int_eq(fence_broker(13, 3, 7, true), 0);
	ck_assert_int_eq(update(14, "t", 0, 3, isr1, 1, 3, 2), CK_E_INVALID);
	ck_assert_int_eq(fence_broker(15, 3, 7, false), 0);
	ck_assert_int_eq(update(16, "t", 0, 3, isr1, 1, 3, 2), 0);
	/* A fenced member may stay (the controller takes it out itself). */
	ck_assert_int_eq(fence_broker(17, 3, 7, true), 0);
	ck_assert_int_eq(update(18, "t", 0, 3, isr1, 1, 3, 3), 0);
	p = partition("t", 0);
	ck_assert_int_eq(p->leader, 3);
	ck_assert_int_eq(p->partition_epoch, 4);
	chronik__meta__partition_record__free_unpacked(p, NULL);
}
END_TEST

/* ---- "changes" ---- */

/* "changes" as "index:topic,..." and its floor. */
static int changes_collect(void *arg, uint64_t index, const char *t)
{
	ck_buf_t *out = arg;
	char one[64];
	int n = snprintf(one, sizeof(one), "%s%llu:%s", out->len ? "," : "",
	                 (unsigned long long)index, t);

	ck_assert_int_eq(ck_buf_append(out, one, (size_t)n), 0);
	return 0;
}

static const char *changes(uint64_t *ret_floor)
{
	static ck_buf_t out;
	MDB_txn *txn;

	ck_buf_reset(&out);
	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_changes_foreach(meta, txn, 0, changes_collect, &out), 0);
	ck_assert_int_eq(ck_meta_changes_floor(meta, txn, ret_floor), 0);
	ck_meta_read_end(txn);
	ck_assert_int_eq(ck_buf_append(&out, "", 1), 0);
	return (const char *)out.data;
}

/* A broker that registers with another data id than its record's (its data
 * dir was wiped: its logs are empty) leaves every ISR that has another
 * member in that entry; the partitions it led get the first other live ISR
 * member in replica order (leader epoch + 1), or none when the others are
 * fenced; a sole ISR member stays. The same data id, or 0 on either side
 * (unknown), changes nothing. */
START_TEST(test_register_with_new_data_leaves_isrs)
{
	static const int32_t want_leader[3] = {3, 2, 3};
	int32_t isr1[1] = {1};
	Chronik__Meta__PartitionRecord *p;
	char msg[RAFTD_APPLY_MSG_MAX];
	uint64_t floor = 0;
	create_t c;

	for (int32_t b = 1; b <= 3; b++)
		ck_assert_int_eq(
		    register_broker_data((uint64_t)b, b, 5, 9092, 100 + (uint64_t)b, NULL), 0);
	create_init(&c, "w", 3, 3, 1); /* {1,2,3}, {2,3,1}, {3,1,2} */
	ck_assert_int_eq(apply(4, &c.cmd), 0);
	create_init(&c, "solo", 1, 3, 1);
	ck_assert_int_eq(apply(5, &c.cmd), 0);
	ck_assert_int_eq(update(6, "solo", 0, 1, isr1, 1, 0, 0), 0);
	/* Same data, or unknown: nothing moves. */
	ck_assert_int_eq(register_broker_data(7, 1, 6, 9092, 101, msg), 0);
	ck_assert_int_eq(register_broker_data(8, 1, 7, 9092, 0, msg), 0);
	ck_assert_uint_eq(parts_index(), 6);
	p = partition("w", 0);
	ck_assert_int_eq(p->leader, 1);
	ck_assert_uint_eq(p->n_isr, 3);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	/* 0 recorded (an older raftd): unknown too. */
	ck_assert_int_eq(register_broker_data(9, 1, 8, 9092, 555, msg), 0);
	ck_assert_uint_eq(parts_index(), 6);
	/* New data: broker 2 fenced, so "w"-2 ({3,1,2}) has no live other. */
	ck_assert_int_eq(fence_broker(10, 2, 5, true), 0);
	ck_assert_int_eq(register_broker_data(13, 1, 9, 9092, 556, msg), 0);
	ck_assert_str_eq(msg, "broker 1 registered with new data: left 3 isrs");
	ck_assert_uint_eq(parts_index(), 13);
	ck_assert_str_eq(changes(&floor), "4:w,5:solo,6:solo,13:");
	for (int i = 0; i < 3; i++) {
		p = partition("w", i);
		ck_assert_int_eq(p->leader, want_leader[i]);
		ck_assert_uint_eq(p->n_isr, 2);
		for (size_t j = 0; j < p->n_isr; j++)
			ck_assert_int_ne(p->isr[j], 1);
		ck_assert_int_eq(p->leader_epoch, i == 0 ? 1 : 0);
		ck_assert_int_eq(p->partition_epoch, 1);
		chronik__meta__partition_record__free_unpacked(p, NULL);
	}
	p = partition("solo", 0); /* the sole ISR member stays */
	ck_assert_int_eq(p->leader, 1);
	ck_assert_uint_eq(p->n_isr, 1);
	ck_assert_int_eq(p->partition_epoch, 1);
	chronik__meta__partition_record__free_unpacked(p, NULL);
	/* A leader whose only other ISR member is fenced: no leader. */
	ck_assert_int_eq(register_broker_data(14, 3, 6, 9092, 999, msg), 0);
	ck_assert_str_eq(msg, "broker 3 registered with new data: left 3 isrs");
	for (int i = 0; i < 3; i++) {
		p = partition("w", i); /* ISRs {2,3}, {2,3}, {3,2}; 2 fenced */
		ck_assert_int_eq(p->leader, i == 1 ? 2 : -1);
		ck_assert_uint_eq(p->n_isr, 1);
		ck_assert_int_eq(p->isr[0], 2);
		ck_assert_int_eq(p->leader_epoch, i == 0 ? 2 : i == 2 ? 1 : 0);
		chronik__meta__partition_record__free_unpacked(p, NULL);
	}
}
END_TEST

/* Every entry that changed partition records, and only those, is in
 * "changes" under its index with its topic: CreateTopic, CreatePartitions,
 * UpdatePartition and DeleteTopic; config changes, broker commands,
 * rejected commands and no-ops are not. */
START_TEST(test_changes_listed)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AlterTopicConfigs ac = CHRONIK__META__ALTER_TOPIC_CONFIGS__INIT;
	Chronik__Meta__ConfigEntry e = CHRONIK__META__CONFIG_ENTRY__INIT;
	Chronik__Meta__ConfigEntry *ev[1] = {&e};
	int32_t isr[1] = {1};
	uint64_t floor = 99;
	create_t c;
	grow_t g;

	ck_assert_str_eq(changes(&floor), "");
	ck_assert_uint_eq(floor, 0);
	create_init(&c, "orders", 2, 1, 1);
	ck_assert_int_eq(apply(1, &c.cmd), 0);
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALTER_TOPIC_CONFIGS;
	cmd.alter_topic_configs = &ac;
	ac.name = "orders";
	e.name = "retention.ms";
	e.value = "1000";
	ac.set = ev;
	ac.n_set = 1;
	ck_assert_int_eq(apply(2, &cmd), 0);
	grow_init(&g, "orders", 2, 1);
	ck_assert_int_eq(apply(3, &g.cmd), 0);
	ck_assert_int_eq(register_broker(4, 2, 1, 9092), 0);
	create_init(&c, "pay", 1, 1, 1);
	ck_assert_int_eq(apply(5, &c.cmd), 0);
	ck_assert_int_eq(update(6, "orders", 0, 1, isr, 1, 1, 0), 0);
	ck_assert_int_eq(update(7, "orders", 0, 1, isr, 1, 1, 0), CK_E_AGAIN); /* rejected */
	ck_assert_int_eq(apply_buf(8, NULL, 0, NULL), 0);                      /* no-op */
	ck_assert_int_eq(apply(9, delete_cmd("orders")), 0);
	ck_assert_int_eq(apply(10, delete_cmd("orders")), CK_E_NOT_FOUND);
	ck_assert_str_eq(changes(&floor), "1:orders,3:orders,5:pay,6:orders,9:orders");
	ck_assert_uint_eq(floor, 1);
	ck_assert_uint_eq(parts_index(), 9);
}
END_TEST

/* At every index that is a multiple of 1024, whatever the entry holds,
 * "changes" drops what is more than 8192 entries back and its floor
 * follows; the newest records stay. */
START_TEST(test_changes_trimmed)
{
	uint64_t floor = 0;
	create_t c;

	create_init(&c, "a", 1, 1, 1);
	ck_assert_int_eq(apply(100, &c.cmd), 0);
	create_init(&c, "b", 1, 1, 1);
	ck_assert_int_eq(apply(5000, &c.cmd), 0);
	create_init(&c, "c", 1, 1, 1);
	ck_assert_int_eq(apply(9000, &c.cmd), 0);
	ck_assert_int_eq(apply(9100, delete_cmd("a")), 0);
	ck_assert_str_eq(changes(&floor), "100:a,5000:b,9000:c,9100:a");
	ck_assert_uint_eq(floor, 100);
	ck_assert_int_eq(apply_buf(9215, NULL, 0, NULL), 0); /* not a multiple */
	ck_assert_str_eq(changes(&floor), "100:a,5000:b,9000:c,9100:a");
	ck_assert_int_eq(apply_buf(9216, NULL, 0, NULL), 0); /* 9 * 1024: keep from 1024 */
	ck_assert_str_eq(changes(&floor), "5000:b,9000:c,9100:a");
	ck_assert_uint_eq(floor, 1024);
	/* A partition-changing entry at a trim index is recorded as well. */
	create_init(&c, "d", 1, 1, 1);
	ck_assert_int_eq(apply(14 * 1024, &c.cmd), 0); /* keep from 6144 */
	ck_assert_str_eq(changes(&floor), "9000:c,9100:a,14336:d");
	ck_assert_uint_eq(floor, 6144);
	ck_assert_uint_eq(parts_index(), 14336);
}
END_TEST

/* ---- AllocateProducerIds ---- */

static int allocate(uint64_t index, int32_t broker_id, int64_t size)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AllocateProducerIds a = CHRONIK__META__ALLOCATE_PRODUCER_IDS__INIT;

	a.broker_id = broker_id;
	a.block_size = size;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS;
	cmd.allocate_producer_ids = &a;
	return apply(index, &cmd);
}

START_TEST(test_producer_ids)
{
	int64_t start = -1, size = -1, next = -1;
	MDB_txn *txn;

	ck_assert_int_eq(allocate(1, 1, 1000), CK_E_NOT_FOUND);
	ck_assert_int_eq(register_broker(2, 1, 5, 9092), 0);
	ck_assert_int_eq(register_broker(3, 2, 5, 9092), 0);
	ck_assert_int_eq(allocate(4, 1, 0), CK_E_INVALID);
	ck_assert_int_eq(allocate(5, 1, RAFTD_PRODUCER_BLOCK_MAX + 1), CK_E_INVALID);
	ck_assert_int_eq(allocate(6, 1, 1000), 0);
	ck_assert_int_eq(allocate(7, 2, 10), 0);
	ck_assert_int_eq(allocate(8, 1, 1000), 0);
	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_producer_block_get(meta, txn, 1, &start, &size), 0);
	ck_assert_int_eq(start, 1010);
	ck_assert_int_eq(size, 1000);
	ck_assert_int_eq(ck_meta_producer_block_get(meta, txn, 2, &start, &size), 0);
	ck_assert_int_eq(start, 1000);
	ck_assert_int_eq(size, 10);
	ck_assert_int_eq(ck_meta_producer_id_next(meta, txn, &next), 0);
	ck_assert_int_eq(next, 2010);
	ck_meta_read_end(txn);
}
END_TEST

/* ---- consumer groups: CommitOffsets, DeleteGroup ---- */

#define COMMIT_MAX 8

/* Creates NAME with PARTS partitions (on broker 1) at INDEX. */
static void created(uint64_t index, const char *name, int parts)
{
	create_t c;

	create_init(&c, name, parts, 1, 1);
	ck_assert_int_eq(apply(index, &c.cmd), 0);
}

typedef struct {
	Chronik__Meta__MetadataCommand cmd;
	Chronik__Meta__CommitOffsets co;
	Chronik__Meta__GroupOffset o[COMMIT_MAX];
	Chronik__Meta__GroupOffset *op[COMMIT_MAX];
} commit_t;

static void commit_init(commit_t *c, const char *group, int64_t commit_ms)
{
	memset(c, 0, sizeof(*c));
	chronik__meta__metadata_command__init(&c->cmd);
	chronik__meta__commit_offsets__init(&c->co);
	c->cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_COMMIT_OFFSETS;
	c->cmd.commit_offsets = &c->co;
	c->co.group = (char *)group;
	c->co.commit_ms = commit_ms;
	c->co.offsets = c->op;
}

/* Adds TOPIC/P at OFFSET, leader epoch OFFSET % 5 (4: none), metadata
 * "m<offset>" (kept in the caller's static buffer pool). */
static void commit_add(commit_t *c, const char *topic, int32_t p, int64_t offset)
{
	static char meta_buf[64][16];
	static size_t next;
	Chronik__Meta__GroupOffset *o = &c->o[c->co.n_offsets];

	ck_assert_uint_lt(c->co.n_offsets, COMMIT_MAX);
	chronik__meta__group_offset__init(o);
	o->topic = (char *)topic;
	o->partition = p;
	o->offset = offset;
	o->leader_epoch = offset % 5 == 4 ? -1 : (int32_t)(offset % 5);
	snprintf(meta_buf[next % 64], 16, "m%lld", (long long)offset);
	o->metadata.data = (uint8_t *)meta_buf[next % 64];
	o->metadata.len = strlen(meta_buf[next++ % 64]);
	c->op[c->co.n_offsets++] = o;
}

/* A DeleteGroup of GROUP (valid until the next call). */
static Chronik__Meta__MetadataCommand *delete_group_cmd(const char *group)
{
	static Chronik__Meta__DeleteGroup dg = CHRONIK__META__DELETE_GROUP__INIT;
	static Chronik__Meta__MetadataCommand cmd = {
	    .base = PROTOBUF_C_MESSAGE_INIT(&chronik__meta__metadata_command__descriptor),
	    .cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_GROUP,
	    .delete_group = &dg};

	dg.group = (char *)group;
	dg.view_index = 0;
	return &cmd;
}

/* The committed offset of G at T/P (-1: none); with it, checks the rest
 * of the record against what commit_add and COMMIT_MS give. */
static int64_t committed(const char *g, const char *t, int32_t p, int64_t commit_ms)
{
	Chronik__Meta__GroupOffsetRecord *rec = NULL;
	char want[16];
	MDB_txn *txn;
	int64_t off;
	int r;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	r = ck_meta_group_offset_get(meta, txn, g, t, p, &rec);
	ck_meta_read_end(txn);
	ck_assert(r == 0 || r == CK_E_NOT_FOUND);
	if (r == CK_E_NOT_FOUND)
		return -1;
	off = rec->offset;
	snprintf(want, sizeof(want), "m%lld", (long long)off);
	ck_assert_uint_eq(rec->metadata.len, strlen(want));
	ck_assert_mem_eq(rec->metadata.data, want, rec->metadata.len);
	ck_assert_int_eq(rec->leader_epoch, off % 5 == 4 ? -1 : off % 5);
	ck_assert_int_eq(rec->commit_ms, commit_ms);
	chronik__meta__group_offset_record__free_unpacked(rec, NULL);
	return off;
}

/* The protocol type stored with G's offset of T/P (static buffer). */
static const char *committed_type(const char *g, const char *t, int32_t p)
{
	static char type[32];
	Chronik__Meta__GroupOffsetRecord *rec = NULL;
	MDB_txn *txn;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_group_offset_get(meta, txn, g, t, p, &rec), 0);
	ck_meta_read_end(txn);
	snprintf(type, sizeof(type), "%s", rec->protocol_type);
	chronik__meta__group_offset_record__free_unpacked(rec, NULL);
	return type;
}

/* Applies CMD packed, with the first AT in it turned into a NUL byte. */
static int apply_with_nul(uint64_t index, const Chronik__Meta__MetadataCommand *cmd, char at)
{
	const ck_buf_t *b = pack(cmd);
	uint8_t *p = memchr(b->data, at, b->len);

	ck_assert_ptr_nonnull(p);
	*p = 0;
	return apply_buf(index, b->data, b->len, NULL);
}

/* The offsets of partitions that exist are stored, with the command's
 * commit time; the others are skipped; a commit replaces. No partition
 * record changes, no local effect. */
START_TEST(test_commit_offsets)
{
	char msg[RAFTD_APPLY_MSG_MAX];
	commit_t co;

	created(1, "orders", 3);
	created(2, "a", 1);
	raftd_effects_reset(&fx);
	commit_init(&co, "g", 1700000000001);
	commit_add(&co, "orders", 0, 10);
	commit_add(&co, "orders", 3, 13);  /* past the last partition */
	commit_add(&co, "orders", -1, 9);  /* no such partition */
	commit_add(&co, "missing", 0, 20); /* no such topic */
	commit_add(&co, "orders", 2, 14);
	commit_add(&co, "a", 0, 5);
	commit_add(&co, "bad name", 0, 6); /* no topic can have it */
	ck_assert_int_eq(apply_msg(3, &co.cmd, msg), 0);
	ck_assert_str_eq(msg, "committed 3 offsets of group g");
	ck_assert_int_eq(committed("g", "orders", 0, 1700000000001), 10);
	ck_assert_int_eq(committed("g", "orders", 1, 0), -1);
	ck_assert_int_eq(committed("g", "orders", 2, 1700000000001), 14);
	ck_assert_int_eq(committed("g", "orders", 3, 0), -1);
	ck_assert_int_eq(committed("g", "missing", 0, 0), -1);
	ck_assert_int_eq(committed("g", "a", 0, 1700000000001), 5);
	ck_assert_int_eq(committed("h", "a", 0, 0), -1);
	ck_assert_uint_eq(parts_index(), 2);
	ck_assert_uint_eq(fx.n, 0);
	/* Again, later: replaced, the others kept. */
	commit_init(&co, "g", 1700000000002);
	commit_add(&co, "orders", 0, 11);
	ck_assert_int_eq(apply(4, &co.cmd), 0);
	ck_assert_int_eq(committed("g", "orders", 0, 1700000000002), 11);
	ck_assert_int_eq(committed("g", "orders", 2, 1700000000001), 14);
	/* Nothing that exists: still fine. */
	commit_init(&co, "h", 1);
	commit_add(&co, "missing", 0, 1);
	ck_assert_int_eq(apply_msg(5, &co.cmd, msg), 0);
	ck_assert_str_eq(msg, "committed 0 offsets of group h");
	ck_assert_uint_eq(parts_index(), 2);
	/* A member's commit stores the group's protocol type with each offset
	 * (a simple commit's have none). */
	commit_init(&co, "g", 1700000000003);
	co.co.protocol_type = "consumer";
	commit_add(&co, "orders", 1, 12);
	ck_assert_int_eq(apply(6, &co.cmd), 0);
	ck_assert_str_eq(committed_type("g", "orders", 1), "consumer");
	ck_assert_str_eq(committed_type("g", "orders", 0), "");
}
END_TEST

/* A commit proposed from metadata older than the last broker registration,
 * fence or unfence is refused, leaving the offsets as they were: its
 * proposer judged itself the group's coordinator by brokers that changed
 * since (a deposed coordinator's late commit must not overwrite its
 * successor's). view_index 0 (not said) is taken as before. */
START_TEST(test_commit_offsets_stale_view)
{
	char msg[RAFTD_APPLY_MSG_MAX];
	commit_t co;

	ck_assert_int_eq(register_broker(1, 1, 11, 9092), 0);
	ck_assert_int_eq(register_broker(2, 2, 22, 9093), 0);
	created(3, "t", 1);
	commit_init(&co, "g", 1);
	co.co.view_index = 3;
	commit_add(&co, "t", 0, 10);
	ck_assert_int_eq(apply(4, &co.cmd), 0);
	ck_assert_int_eq(committed("g", "t", 0, 1), 10);
	/* Broker 2 fenced at 5: a commit from a view at 4 goes no more. */
	ck_assert_int_eq(fence_broker(5, 2, 22, true), 0);
	commit_init(&co, "g", 2);
	co.co.view_index = 4;
	commit_add(&co, "t", 0, 20);
	ck_assert_int_eq(apply_msg(6, &co.cmd, msg), CK_E_STALE);
	ck_assert_str_eq(msg, "proposed from metadata at 4, brokers changed at 5");
	ck_assert_int_eq(committed("g", "t", 0, 1), 10);
	/* From a view that saw the fence: taken. */
	commit_init(&co, "g", 3);
	co.co.view_index = 6;
	commit_add(&co, "t", 0, 500);
	ck_assert_int_eq(apply(7, &co.cmd), 0);
	ck_assert_int_eq(committed("g", "t", 0, 3), 500);
	/* Unfenced at 8, a registration at 9: the old view stays refused. */
	ck_assert_int_eq(fence_broker(8, 2, 22, false), 0);
	commit_init(&co, "g", 4);
	co.co.view_index = 4;
	commit_add(&co, "t", 0, 20);
	ck_assert_int_eq(apply(9, &co.cmd), CK_E_STALE);
	ck_assert_int_eq(register_broker(10, 3, 33, 9094), 0);
	co.co.view_index = 9;
	ck_assert_int_eq(apply(11, &co.cmd), CK_E_STALE);
	ck_assert_int_eq(committed("g", "t", 0, 3), 500);
	/* A refused fence changes no broker: views after it still count. */
	ck_assert_int_eq(fence_broker(12, 3, 999, true), CK_E_INVALID);
	co.co.view_index = 10;
	ck_assert_int_eq(apply(13, &co.cmd), 0);
	ck_assert_int_eq(committed("g", "t", 0, 4), 20);
	/* Not said: as before. */
	commit_init(&co, "g", 5);
	commit_add(&co, "t", 0, 21);
	ck_assert_int_eq(apply(14, &co.cmd), 0);
	ck_assert_int_eq(committed("g", "t", 0, 5), 21);
}
END_TEST

/* A bad group, or a NUL byte in a group or topic name (protobuf-c would
 * cut the name short: "a@" would become "a", which exists), refuses the
 * whole command before it writes anything. The empty group is a group
 * (Kafka's OffsetCommit takes it). */
START_TEST(test_commit_offsets_invalid)
{
	char g257[258];
	commit_t co;

	memset(g257, 'g', 257);
	g257[257] = '\0';
	created(1, "a", 1);
	commit_init(&co, "", 1);
	commit_add(&co, "a", 0, 1);
	ck_assert_int_eq(apply(2, &co.cmd), 0);
	ck_assert_int_eq(committed("", "a", 0, 1), 1);
	co.co.group = g257;
	ck_assert_int_eq(apply(3, &co.cmd), CK_E_INVALID);
	g257[256] = '\0';
	ck_assert_int_eq(apply(4, &co.cmd), 0); /* 256 bytes fit */
	ck_assert_int_eq(committed(g257, "a", 0, 1), 1);
	commit_init(&co, "g@", 2);
	commit_add(&co, "a", 0, 2);
	ck_assert_int_eq(apply_with_nul(5, &co.cmd, '@'), CK_E_INVALID);
	commit_init(&co, "g", 3);
	commit_add(&co, "a", 0, 3);
	commit_add(&co, "a@", 0, 8);
	ck_assert_int_eq(apply_with_nul(6, &co.cmd, '@'), CK_E_INVALID);
	ck_assert_int_eq(committed("g", "a", 0, 0), -1);
	ck_assert_uint_eq(fx.n, 1); /* the CreateTopic's log */
}
END_TEST

/* Entries 1-4: topics "a" (2 partitions) and "a.b" (1), and offsets
 * a/0 = 1, a/1 = 2, a.b/0 = 3 committed at COMMIT_MS by "g" and by G2. */
static void two_groups(const char *g2, int64_t commit_ms)
{
	commit_t co;

	created(1, "a", 2);
	created(2, "a.b", 1);
	commit_init(&co, "g", commit_ms);
	commit_add(&co, "a", 0, 1);
	commit_add(&co, "a", 1, 2);
	commit_add(&co, "a.b", 0, 3);
	ck_assert_int_eq(apply(3, &co.cmd), 0);
	co.co.group = (char *)g2;
	ck_assert_int_eq(apply(4, &co.cmd), 0);
}

START_TEST(test_delete_group)
{
	char msg[RAFTD_APPLY_MSG_MAX];

	two_groups("g.x", 7);
	ck_assert_int_eq(apply(5, delete_group_cmd("g")), 0);
	ck_assert_int_eq(committed("g", "a", 0, 0), -1);
	ck_assert_int_eq(committed("g", "a", 1, 0), -1);
	ck_assert_int_eq(committed("g", "a.b", 0, 0), -1);
	ck_assert_int_eq(committed("g.x", "a", 1, 7), 2);
	ck_assert_int_eq(apply_msg(6, delete_group_cmd("g"), msg), CK_E_NOT_FOUND);
	ck_assert_str_eq(msg, "no offsets");
	ck_assert_int_eq(apply_msg(7, delete_group_cmd(""), msg), CK_E_NOT_FOUND);
	/* "g.x" with its '.' made a NUL: not "g" (gone anyway) nor "g.x". */
	ck_assert_int_eq(apply_with_nul(8, delete_group_cmd("g.x"), '.'), CK_E_INVALID);
	ck_assert_int_eq(committed("g.x", "a", 0, 7), 1);
	ck_assert_uint_eq(parts_index(), 2);
}
END_TEST

/* A DeleteOffsets of group G for the N partitions in TP ("topic", p). */
static const Chronik__Meta__MetadataCommand *
delete_offsets_cmd(const char *g, size_t n, const char *const *topics, const int32_t *parts)
{
	static Chronik__Meta__GroupPartition gp[8], *gpp[8];
	static Chronik__Meta__DeleteOffsets d;
	static Chronik__Meta__MetadataCommand cmd;

	ck_assert_uint_le(n, 8);
	chronik__meta__delete_offsets__init(&d);
	chronik__meta__metadata_command__init(&cmd);
	for (size_t i = 0; i < n; i++) {
		chronik__meta__group_partition__init(&gp[i]);
		gp[i].topic = (char *)topics[i];
		gp[i].partition = parts[i];
		gpp[i] = &gp[i];
	}
	d.group = (char *)g;
	d.n_partitions = n;
	d.partitions = gpp;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_DELETE_OFFSETS;
	cmd.delete_offsets = &d;
	return &cmd;
}

/* OffsetDelete: only the named partitions' offsets of that group go;
 * partitions without one (or names no topic has) are no error; a bad
 * group, or a NUL byte in a name, refuses the whole command. */
START_TEST(test_delete_offsets)
{
	static const char *const t1[] = {"a", "a.b", "a", "nope", "a"};
	static const int32_t p1[] = {1, 0, 7, 0, -1};
	static const char *const t2[] = {"a"}, *const t3[] = {"a@"};
	static const int32_t p2[] = {0};
	char msg[RAFTD_APPLY_MSG_MAX];

	two_groups("g.x", 7);
	ck_assert_int_eq(apply_msg(5, delete_offsets_cmd("g", 5, t1, p1), msg), 0);
	ck_assert_str_eq(msg, "deleted 2 offsets of group g");
	ck_assert_int_eq(committed("g", "a", 0, 7), 1);
	ck_assert_int_eq(committed("g", "a", 1, 0), -1);
	ck_assert_int_eq(committed("g", "a.b", 0, 0), -1);
	ck_assert_int_eq(committed("g.x", "a", 1, 7), 2);
	ck_assert_int_eq(committed("g.x", "a.b", 0, 7), 3);
	/* Again: nothing left to delete, still fine. */
	ck_assert_int_eq(apply_msg(6, delete_offsets_cmd("g", 5, t1, p1), msg), 0);
	ck_assert_str_eq(msg, "deleted 0 offsets of group g");
	ck_assert_int_eq(apply_msg(7, delete_offsets_cmd("", 1, t2, p2), msg), 0);
	ck_assert_str_eq(msg, "deleted 0 offsets of group ");
	ck_assert_int_eq(apply_with_nul(8, delete_offsets_cmd("g.x", 1, t2, p2), '.'),
	                 CK_E_INVALID);
	ck_assert_int_eq(committed("g.x", "a", 0, 7), 1);
	/* "a@" with its '@' made a NUL would be "a". */
	ck_assert_int_eq(apply_with_nul(9, delete_offsets_cmd("g", 1, t3, p2), '@'), CK_E_INVALID);
	ck_assert_int_eq(committed("g", "a", 0, 7), 1);
	ck_assert_uint_eq(parts_index(), 2);
}
END_TEST

/* Offset expiry: a DeleteOffsets with expired_before_ms takes only the
 * offsets committed before it; one committed again since (the race with
 * a consumer coming back) stays, and so do the group's other offsets. */
START_TEST(test_expire_offsets)
{
	static const char *const t1[] = {"a", "a", "a.b", "nope"};
	static const int32_t p1[] = {0, 1, 0, 0};
	Chronik__Meta__MetadataCommand *cmd;
	char msg[RAFTD_APPLY_MSG_MAX];
	commit_t co;

	two_groups("g.x", 1000);
	commit_init(&co, "g", 5000); /* a/1 committed again, later */
	commit_add(&co, "a", 1, 2);
	ck_assert_int_eq(apply(5, &co.cmd), 0);
	cmd = (Chronik__Meta__MetadataCommand *)delete_offsets_cmd("g", 4, t1, p1);
	cmd->delete_offsets->expired_before_ms = 5000;
	ck_assert_int_eq(apply_msg(6, cmd, msg), 0);
	ck_assert_str_eq(msg, "expired 2 offsets of group g");
	ck_assert_int_eq(committed("g", "a", 0, 0), -1);
	ck_assert_int_eq(committed("g", "a", 1, 5000), 2); /* committed at the cutoff */
	ck_assert_int_eq(committed("g", "a.b", 0, 0), -1);
	ck_assert_int_eq(committed("g.x", "a", 0, 1000), 1); /* not named */
	/* A cutoff after the last commit takes it too. */
	cmd = (Chronik__Meta__MetadataCommand *)delete_offsets_cmd("g", 4, t1, p1);
	cmd->delete_offsets->expired_before_ms = 5001;
	ck_assert_int_eq(apply_msg(7, cmd, msg), 0);
	ck_assert_str_eq(msg, "expired 1 offsets of group g");
	ck_assert_int_eq(committed("g", "a", 1, 0), -1);
	ck_assert_uint_eq(parts_index(), 2);
}
END_TEST

/* A DeleteGroup or DeleteOffsets (OffsetDelete, expiry) proposed from
 * metadata older than the last broker change is refused like a commit: a
 * deposed coordinator saw the group empty while its successor's members
 * use its offsets. From a current view, or not said, it is taken. */
START_TEST(test_group_deletes_stale_view)
{
	static const char *const t[] = {"t"};
	static const int32_t p[] = {0};
	char msg[RAFTD_APPLY_MSG_MAX];
	Chronik__Meta__MetadataCommand *cmd;
	commit_t co;

	ck_assert_int_eq(register_broker(1, 1, 11, 9092), 0);
	ck_assert_int_eq(register_broker(2, 2, 22, 9093), 0);
	created(3, "t", 1);
	commit_init(&co, "g", 1);
	commit_add(&co, "t", 0, 10);
	ck_assert_int_eq(apply(4, &co.cmd), 0);
	ck_assert_int_eq(fence_broker(5, 2, 22, true), 0);
	cmd = delete_group_cmd("g");
	cmd->delete_group->view_index = 4;
	ck_assert_int_eq(apply_msg(6, cmd, msg), CK_E_STALE);
	ck_assert_str_eq(msg, "proposed from metadata at 4, brokers changed at 5");
	cmd = (Chronik__Meta__MetadataCommand *)delete_offsets_cmd("g", 1, t, p);
	cmd->delete_offsets->view_index = 4;
	ck_assert_int_eq(apply(7, cmd), CK_E_STALE);
	cmd->delete_offsets->expired_before_ms = 2;
	ck_assert_int_eq(apply(8, cmd), CK_E_STALE);
	ck_assert_int_eq(committed("g", "t", 0, 1), 10);
	/* Current views. */
	cmd->delete_offsets->view_index = 5;
	ck_assert_int_eq(apply_msg(9, cmd, msg), 0);
	ck_assert_str_eq(msg, "expired 1 offsets of group g");
	ck_assert_int_eq(committed("g", "t", 0, 0), -1);
	ck_assert_int_eq(apply(10, &co.cmd), 0);
	cmd = delete_group_cmd("g");
	cmd->delete_group->view_index = 10;
	ck_assert_int_eq(apply_msg(11, cmd, msg), 0);
	ck_assert_str_eq(msg, "group g deleted");
	ck_assert_int_eq(committed("g", "t", 0, 0), -1);
	/* Not said: as before. */
	ck_assert_int_eq(apply(12, &co.cmd), 0);
	cmd->delete_group->view_index = 0;
	ck_assert_int_eq(apply(13, cmd), 0);
	ck_assert_int_eq(committed("g", "t", 0, 0), -1);
}
END_TEST

/* A StoreGroup of G with NMEMBERS members ("m-0", ...) at GEN. */
static Chronik__Meta__MetadataCommand *store_group_cmd(const char *g, int32_t gen, size_t nmembers)
{
	static Chronik__Meta__GroupMemberRecord ms[4], *msp[4];
	static Chronik__Meta__GroupStateRecord st;
	static Chronik__Meta__StoreGroup sg;
	static Chronik__Meta__MetadataCommand cmd;
	static const char *const ids[] = {"m-0", "m-1", "m-2", "m-3"};

	ck_assert_uint_le(nmembers, 4);
	chronik__meta__group_state_record__init(&st);
	chronik__meta__store_group__init(&sg);
	chronik__meta__metadata_command__init(&cmd);
	for (size_t i = 0; i < nmembers; i++) {
		chronik__meta__group_member_record__init(&ms[i]);
		ms[i].member_id = (char *)ids[i];
		ms[i].session_ms = 10000;
		ms[i].assignment = (ProtobufCBinaryData){2, (uint8_t *)"A1"};
		msp[i] = &ms[i];
	}
	st.generation = gen;
	st.protocol_type = "consumer";
	st.protocol = "range";
	st.leader = "m-0";
	st.n_members = nmembers;
	st.members = msp;
	sg.group = (char *)g;
	sg.state = &st;
	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_STORE_GROUP;
	cmd.store_group = &sg;
	return &cmd;
}

/* The stored generation of G (-1: none) and its member count. */
static int32_t stored_gen(const char *g, size_t *nmembers)
{
	Chronik__Meta__GroupStateRecord *rec = NULL;
	MDB_txn *txn;
	int32_t gen;
	int r;

	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	r = ck_meta_group_state_get(meta, txn, g, &rec);
	ck_meta_read_end(txn);
	ck_assert(r == 0 || r == CK_E_NOT_FOUND);
	if (r == CK_E_NOT_FOUND)
		return -1;
	gen = rec->generation;
	*nmembers = rec->n_members;
	ck_assert_str_eq(rec->leader, "m-0");
	ck_assert_uint_eq(rec->members[0]->assignment.len, 2);
	chronik__meta__group_state_record__free_unpacked(rec, NULL);
	return gen;
}

/* StoreGroup keeps a group's membership (the last one applied), drops it
 * when the group empties, is refused from a view older than the last
 * broker change, and DeleteGroup drops it with the offsets (a group with
 * a state and no offsets is deleted, not "no offsets"). */
START_TEST(test_store_group)
{
	char msg[RAFTD_APPLY_MSG_MAX];
	Chronik__Meta__MetadataCommand *cmd;
	size_t n = 0;

	ck_assert_int_eq(register_broker(1, 1, 11, 9092), 0);
	ck_assert_int_eq(apply_msg(2, store_group_cmd("g", 3, 2), msg), 0);
	ck_assert_str_eq(msg, "group g generation 3 stored");
	ck_assert_int_eq(stored_gen("g", &n), 3);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(apply(3, store_group_cmd("g", 5, 1)), 0);
	ck_assert_int_eq(stored_gen("g", &n), 5);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(apply(4, store_group_cmd("h", 1, 1)), 0);
	ck_assert_int_eq(apply_msg(5, store_group_cmd("g", 6, 0), msg), 0);
	ck_assert_str_eq(msg, "group g empty");
	ck_assert_int_eq(stored_gen("g", &n), -1);
	ck_assert_int_eq(apply(6, store_group_cmd("g", 7, 0)), 0); /* nothing to drop */
	/* Stale view. */
	ck_assert_int_eq(fence_broker(7, 1, 11, true), 0);
	cmd = store_group_cmd("g", 8, 1);
	cmd->store_group->view_index = 6;
	ck_assert_int_eq(apply_msg(8, cmd, msg), CK_E_STALE);
	ck_assert_int_eq(stored_gen("g", &n), -1);
	cmd->store_group->view_index = 7;
	ck_assert_int_eq(apply(9, cmd), 0);
	ck_assert_int_eq(stored_gen("g", &n), 8);
	ck_assert_int_eq(apply(10, store_group_cmd("", 1, 1)), CK_E_INVALID);
	ck_assert_int_eq(apply_with_nul(11, store_group_cmd("g.x", 1, 1), '.'), CK_E_INVALID);
	ck_assert_int_eq(stored_gen("g", &n), 8);
	/* DeleteGroup: "h" has a state and no offsets. */
	ck_assert_int_eq(apply_msg(12, delete_group_cmd("h"), msg), 0);
	ck_assert_str_eq(msg, "group h deleted");
	ck_assert_int_eq(stored_gen("h", &n), -1);
	ck_assert_int_eq(apply_msg(13, delete_group_cmd("h"), msg), CK_E_NOT_FOUND);
	ck_assert_int_eq(stored_gen("g", &n), 8);
}
END_TEST

/* DeleteTopic drops the topic's offsets in every group, so the topic
 * created again starts without them; other topics' offsets stay. */
START_TEST(test_delete_topic_drops_offsets)
{

	two_groups("h", 9);
	ck_assert_int_eq(apply(5, delete_cmd("a")), 0);
	ck_assert_int_eq(committed("g", "a", 0, 0), -1);
	ck_assert_int_eq(committed("h", "a", 1, 0), -1);
	ck_assert_int_eq(committed("g", "a.b", 0, 9), 3);
	ck_assert_int_eq(committed("h", "a.b", 0, 9), 3);
	created(6, "a", 2);
	ck_assert_int_eq(committed("g", "a", 0, 0), -1);
	/* A DeleteTopic refused leaves the offsets alone. */
	ck_assert_int_eq(apply(7, delete_cmd("zz")), CK_E_NOT_FOUND);
	ck_assert_int_eq(committed("g", "a.b", 0, 9), 3);
}
END_TEST

/* ---- Noop, empty and garbage entries ---- */

START_TEST(test_noop_and_garbage)
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__Noop noop = CHRONIK__META__NOOP__INIT;
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x07};
	/* A message holding only an unknown field (15, varint 1): no command. */
	static const uint8_t unknown[] = {0x78, 0x01};
	MDB_txn *txn;
	uint64_t applied;

	cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_NOOP;
	cmd.noop = &noop;
	ck_assert_int_eq(apply(1, &cmd), 0);
	ck_assert_int_eq(apply_buf(2, NULL, 0, NULL), 0);
	ck_assert_int_eq(apply_buf(3, garbage, sizeof(garbage), NULL), CK_E_INVALID);
	ck_assert_int_eq(apply_buf(4, unknown, sizeof(unknown), NULL), CK_E_INVALID);
	ck_assert_int_eq(ck_meta_read_begin(meta, &txn), 0);
	ck_assert_int_eq(ck_meta_applied_index(meta, txn, &applied), 0);
	ck_assert_uint_eq(applied, 4);
	ck_meta_read_end(txn);
	ck_assert_uint_eq(fx.n, 0);
}
END_TEST

/* ---- determinism and replay ---- */

#define LOG_LEN 40

/* Entry I of the log when it is about neither topics nor partitions:
 * brokers, producer ids, group offsets (of the topics in NAME). */
static const ck_buf_t *log_other(int i, char name[LOG_LEN][16])
{
	Chronik__Meta__MetadataCommand cmd = CHRONIK__META__METADATA_COMMAND__INIT;
	Chronik__Meta__AllocateProducerIds a = CHRONIK__META__ALLOCATE_PRODUCER_IDS__INIT;
	Chronik__Meta__RegisterBroker rb = CHRONIK__META__REGISTER_BROKER__INIT;
	Chronik__Meta__BrokerRecord br = CHRONIK__META__BROKER_RECORD__INIT;
	commit_t co;

	switch (i % 4) {
	case 0:
		br.id = 1;
		br.incarnation = (uint64_t)i;
		rb.broker = &br;
		cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_REGISTER_BROKER;
		cmd.register_broker = &rb;
		return pack(&cmd);
	case 1:
		a.broker_id = 1;
		a.block_size = i;
		cmd.cmd_case = CHRONIK__META__METADATA_COMMAND__CMD_ALLOCATE_PRODUCER_IDS;
		cmd.allocate_producer_ids = &a;
		return pack(&cmd);
	case 2:
		commit_init(&co, i < LOG_LEN / 2 ? "g" : "h", i);
		for (int k = 0; k < 6; k++)
			commit_add(&co, name[(i + k) % LOG_LEN], k % 3, i * 10 + k);
		return pack(&co.cmd);
	default:
		return pack(delete_group_cmd("g"));
	}
}

/* A log exercising every command, including ones that fail. */
static void log_build(ck_buf_t bufs[LOG_LEN])
{
	char name[LOG_LEN][16];

	for (int i = 0; i < LOG_LEN; i++)
		snprintf(name[i], sizeof(name[i]), "t%d", i % 7);
	for (int i = 0; i < LOG_LEN; i++) {
		create_t c;
		grow_t g;
		const ck_buf_t *b;

		switch (i % 5) {
		case 0:
		case 1:
			create_init(&c, name[i], 1 + i % 3, 2, 1 + i % 2);
			create_config(&c, "retention.ms", i % 2 ? "1000" : "-1");
			b = pack(&c.cmd);
			break;
		case 2:
			b = pack(delete_cmd(name[i]));
			break;
		case 3:
			grow_init(&g, name[i], 1 + (i / 5) % 3, 1);
			b = pack(&g.cmd);
			break;
		default:
			b = log_other(i, name);
			break;
		}
		ck_buf_init(&bufs[i]);
		ck_assert_int_eq(ck_buf_append(&bufs[i], b->data, b->len), 0);
	}
}

/* Applies entries [LO, HI) in one transaction; commits unless ABORT.
 * Results go to RES, effects (kind, partition) are hashed into *FX_SUM. */
static void apply_round(ck_buf_t *log, int lo, int hi, bool abort, int *res, uint64_t *fx_sum)
{
	MDB_txn *txn;

	raftd_effects_reset(&fx);
	ck_assert_int_eq(ck_meta_write_begin(meta, &txn), 0);
	for (int i = lo; i < hi; i++) {
		raftd_apply_result_t r;

		ck_assert_int_eq(
		    raftd_apply_entry(&ap, txn, (uint64_t)i + 1, log[i].data, log[i].len, &fx, &r),
		    0);
		res[i] = r.result;
	}
	for (size_t k = 0; k < fx.n; k++)
		*fx_sum = *fx_sum * 31 + (uint64_t)fx.v[k].kind * 1000 +
		          (uint64_t)fx.v[k].partition + fx.v[k].topic[1];
	if (abort) {
		mdb_txn_abort(txn);
		return;
	}
	ck_assert_int_eq(ck_meta_applied_index_put(meta, txn, (uint64_t)hi), 0);
	ck_assert_int_eq(ck_meta_write_commit(txn), 0);
}

static int dump_partition(void *arg, const Chronik__Meta__PartitionRecord *rec)
{
	ck_buf_t *out = arg;
	size_t len = chronik__meta__partition_record__get_packed_size(rec);
	uint8_t *p = ck_buf_extend(out, len);

	(void)chronik__meta__partition_record__pack(rec, p);
	return 0;
}

static int dump_broker(void *arg, const Chronik__Meta__BrokerRecord *rec)
{
	ck_buf_t *out = arg;
	size_t len = chronik__meta__broker_record__get_packed_size(rec);
	uint8_t *p = ck_buf_extend(out, len);

	(void)chronik__meta__broker_record__pack(rec, p);
	return 0;
}

typedef struct {
	ck_buf_t *out;
	MDB_txn *txn;
} dump_t;

static int dump_topic_parts(void *arg, const Chronik__Meta__TopicRecord *t)
{
	dump_t *d = arg;
	size_t len = chronik__meta__topic_record__get_packed_size(t);
	uint8_t *p = ck_buf_extend(d->out, len);

	(void)chronik__meta__topic_record__pack(t, p);
	return ck_meta_partitions_foreach(meta, d->txn, t->name, dump_partition, d->out);
}

static int dump_change(void *arg, uint64_t index, const char *t)
{
	ck_buf_t *out = arg;

	ck_assert_int_eq(ck_buf_append(out, &index, sizeof(index)), 0);
	ck_assert_int_eq(ck_buf_append(out, t, strlen(t) + 1), 0);
	return 0;
}

static int dump_offset(void *arg, const char *t, int32_t p,
                       const Chronik__Meta__GroupOffsetRecord *rec)
{
	ck_buf_t *out = arg;
	size_t len = chronik__meta__group_offset_record__get_packed_size(rec);

	ck_assert_int_eq(ck_buf_append(out, t, strlen(t) + 1), 0);
	ck_assert_int_eq(ck_buf_append(out, &p, sizeof(p)), 0);
	(void)chronik__meta__group_offset_record__pack(rec, ck_buf_extend(out, len));
	return 0;
}

static int dump_group(void *arg, const char *g)
{
	dump_t *d = arg;

	ck_assert_int_eq(ck_buf_append(d->out, g, strlen(g) + 1), 0);
	return ck_meta_group_offsets_foreach(meta, d->txn, g, dump_offset, d->out);
}

/* Everything in LMDB as bytes, in key order. */
static void dump(ck_buf_t *out)
{
	dump_t d = {out, NULL};
	int64_t next = 0;
	uint64_t applied = 0, floor = 0;

	ck_assert_int_eq(ck_meta_read_begin(meta, &d.txn), 0);
	ck_assert_int_eq(ck_meta_topics_foreach(meta, d.txn, dump_topic_parts, &d), 0);
	ck_assert_int_eq(ck_meta_brokers_foreach(meta, d.txn, dump_broker, out), 0);
	ck_assert_int_eq(ck_meta_groups_foreach(meta, d.txn, dump_group, &d), 0);
	ck_assert_int_eq(ck_meta_changes_foreach(meta, d.txn, 0, dump_change, out), 0);
	ck_assert_int_eq(ck_meta_changes_floor(meta, d.txn, &floor), 0);
	ck_assert_int_eq(ck_buf_append(out, &floor, sizeof(floor)), 0);
	ck_assert_int_eq(ck_meta_producer_id_next(meta, d.txn, &next), 0);
	ck_assert_int_eq(ck_meta_applied_index(meta, d.txn, &applied), 0);
	ck_assert_int_eq(ck_buf_append(out, &next, sizeof(next)), 0);
	ck_assert_int_eq(ck_buf_append(out, &applied, sizeof(applied)), 0);
	ck_meta_read_end(d.txn);
}

/*
 * The same log, applied (a) one entry per round, (b) in one round, (c) in
 * rounds of 7 where each round first runs as a dry run that is aborted
 * (raftd's side-effect pass, or a crash before the commit) and then for
 * real: the same results, the same effects, byte-identical LMDB.
 */
START_TEST(test_replay_deterministic)
{
	ck_buf_t log[LOG_LEN], dumps[3];
	int res[3][LOG_LEN], dry[LOG_LEN];
	uint64_t sums[3] = {0, 0, 0}, dry_sum = 0;
	int created = 0, failed = 0;

	log_build(log);
	for (int run = 0; run < 3; run++) {
		if (run) {
			ck_meta_close(meta);
			open_env("replay");
		}
		if (run == 0) {
			for (int i = 0; i < LOG_LEN; i++)
				apply_round(log, i, i + 1, false, res[0], &sums[0]);
		} else if (run == 1) {
			apply_round(log, 0, LOG_LEN, false, res[1], &sums[1]);
		} else {
			for (int lo = 0; lo < LOG_LEN; lo += 7) {
				int hi = CK_MIN(lo + 7, LOG_LEN);
				apply_round(log, lo, hi, true, dry, &dry_sum);
				apply_round(log, lo, hi, false, res[2], &sums[2]);
				for (int i = lo; i < hi; i++)
					ck_assert_int_eq(dry[i], res[2][i]);
			}
		}
		ck_buf_init(&dumps[run]);
		dump(&dumps[run]);
	}
	ck_assert_uint_eq(dry_sum, sums[2]);
	ck_assert_uint_eq(sums[0], sums[1]);
	ck_assert_uint_eq(sums[1], sums[2]);
	for (int i = 0; i < LOG_LEN; i++) {
		ck_assert_int_eq(res[0][i], res[1][i]);
		ck_assert_int_eq(res[0][i], res[2][i]);
		created += res[0][i] == 0 && i % 5 < 2;
		failed += res[0][i] != 0;
	}
	/* The log is not trivial: some creates succeed, some commands fail. */
	ck_assert_int_gt(created, 3);
	ck_assert_int_gt(failed, 3);
	/* Offsets were committed and deleted; one is left (the others went
	 * with their topics, or their partitions never existed). */
	ck_assert_int_eq(res[0][19], 0);
	ck_assert_int_eq(res[0][39], CK_E_NOT_FOUND);
	ck_assert_int_eq(committed("h", "t3", 1, 34), 344);
	ck_assert_uint_gt(dumps[0].len, 100);
	ck_assert_uint_eq(dumps[0].len, dumps[1].len);
	ck_assert_uint_eq(dumps[0].len, dumps[2].len);
	ck_assert_mem_eq(dumps[0].data, dumps[1].data, dumps[0].len);
	ck_assert_mem_eq(dumps[0].data, dumps[2].data, dumps[0].len);
	for (int i = 0; i < LOG_LEN; i++)
		ck_buf_free(&log[i]);
	for (int i = 0; i < 3; i++)
		ck_buf_free(&dumps[i]);
}
END_TEST

/* An aborted round leaves LMDB exactly as it was. */
START_TEST(test_aborted_round_leaves_nothing)
{
	ck_buf_t log[LOG_LEN], before, after;
	int res[LOG_LEN];
	uint64_t sum = 0;

	log_build(log);
	apply_round(log, 0, 10, false, res, &sum);
	ck_buf_init(&before);
	dump(&before);
	apply_round(log, 10, LOG_LEN, true, res, &sum);
	ck_buf_init(&after);
	dump(&after);
	ck_assert_uint_eq(before.len, after.len);
	ck_assert_mem_eq(before.data, after.data, before.len);
	for (int i = 0; i < LOG_LEN; i++)
		ck_buf_free(&log[i]);
	ck_buf_free(&before);
	ck_buf_free(&after);
}
END_TEST

static Suite *apply_suite(void)
{
	Suite *s = suite_create("raftd_apply");
	TCase *tc = tcase_create("apply");

	ck_test_add_root(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create_topic);
	tcase_add_test(tc, test_create_topic_log_config);
	tcase_add_test(tc, test_compact_policy_turns_retention_off);
	tcase_add_test(tc, test_parts_index);
	tcase_add_test(tc, test_changes_listed);
	tcase_add_test(tc, test_changes_trimmed);
	tcase_add_test(tc, test_create_topic_exists);
	tcase_add_test(tc, test_create_topic_collision);
	tcase_add_test(tc, test_topic_collision_walk);
	tcase_add_test(tc, test_create_topic_retry_same_id);
	tcase_add_test(tc, test_create_topic_invalid);
	tcase_add_test(tc, test_delete_topic);
	tcase_add_test(tc, test_effects_name_incarnation);
	tcase_add_test(tc, test_create_partitions);
	tcase_add_test(tc, test_alter_configs);
	tcase_add_test(tc, test_alter_configs_packed);
	tcase_add_test(tc, test_brokers);
	tcase_add_test(tc, test_create_topic_fenced_replicas);
	tcase_add_test(tc, test_update_partition);
	tcase_add_test(tc, test_register_with_new_data_leaves_isrs);
	tcase_add_test(tc, test_producer_ids);
	tcase_add_test(tc, test_noop_and_garbage);
	tcase_add_test(tc, test_commit_offsets);
	tcase_add_test(tc, test_commit_offsets_stale_view);
	tcase_add_test(tc, test_commit_offsets_invalid);
	tcase_add_test(tc, test_delete_group);
	tcase_add_test(tc, test_delete_offsets);
	tcase_add_test(tc, test_group_deletes_stale_view);
	tcase_add_test(tc, test_store_group);
	tcase_add_test(tc, test_expire_offsets);
	tcase_add_test(tc, test_delete_topic_drops_offsets);
	tcase_add_test(tc, test_alter_touches_log);
	tcase_add_test(tc, test_replay_deterministic);
	tcase_add_test(tc, test_aborted_round_leaves_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int r = ck_test_run(apply_suite());

	ck_buf_free(&packed);
	return r;
}
