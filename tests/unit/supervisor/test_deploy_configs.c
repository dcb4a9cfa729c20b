/*
 * test_deploy_configs.c: the files under deploy/ are usable as shipped.
 *
 * Every example config loads with ck_config_load (the same loader each
 * process uses); the three local-cluster node files agree on the [peer.N]
 * tables, each node's listeners match its own peer entry, and no two nodes
 * share a port or a data dir; chronik.service is a notify unit with a
 * watchdog that starts chronik-server with the installed cluster.toml.
 * DEPLOY_DIR (set by meson) is the source deploy/ folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "ck_config.h"
#include "ck_testlib.h"

static ck_config_t node_cfg[3];

static void load(const char *name, ck_config_t *cfg)
{
	const char *dir = getenv("DEPLOY_DIR");
	char path[1024], err[1024];
	int r;

	ck_assert_msg(dir && *dir, "DEPLOY_DIR not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/configs/%s", dir, name);
	r = ck_config_load(cfg, path, err, sizeof(err));
	ck_assert_msg(r == 0, "%s does not load: %s", path, err);
}

/* The peer entry of node ID in CFG, or NULL. */
static const ck_config_peer_t *peer_of(const ck_config_t *cfg, int32_t id)
{
	for (int i = 0; i < cfg->peer_count; i++) {
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	}
	return NULL;
}

static void assert_self_peer(const ck_config_t *cfg)
{
	const ck_config_peer_t *self = peer_of(cfg, cfg->node_id);

	ck_assert_ptr_nonnull(self);
	ck_assert_str_eq(self->raft, cfg->raft_listen);
	ck_assert_str_eq(self->replication, cfg->replication_listen);
	ck_assert_str_eq(self->kafka, cfg->kafka_listen);
}

START_TEST(test_single_and_cluster_load)
{
	static ck_config_t cfg;

	load("single.toml", &cfg);
	ck_assert_int_eq(cfg.node_id, 1);
	ck_assert_int_eq(cfg.peer_count, 1);
	assert_self_peer(&cfg);
	load("cluster.toml", &cfg);
	ck_assert_str_eq(cfg.data_dir, "/var/lib/chronik");
	assert_self_peer(&cfg);
}
END_TEST

START_TEST(test_three_nodes_agree)
{
	const char *addrs[12], *dirs[3];
	int n = 0;

	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "node%d.toml", i + 1);
		load(name, &node_cfg[i]);
		ck_assert_int_eq(node_cfg[i].node_id, i + 1);
		ck_assert_int_eq(node_cfg[i].peer_count, 3);
		ck_assert_str_eq(node_cfg[i].cluster_id, node_cfg[0].cluster_id);
		assert_self_peer(&node_cfg[i]);
		for (int p = 0; p < 3; p++) {
			const ck_config_peer_t *a = &node_cfg[i].peers[p],
			                       *b = &node_cfg[0].peers[p];
			ck_assert_int_eq(a->id, b->id);
			ck_assert_str_eq(a->raft, b->raft);
			ck_assert_str_eq(a->replication, b->replication);
			ck_assert_str_eq(a->kafka, b->kafka);
		}
		addrs[n++] = node_cfg[i].kafka_listen;
		addrs[n++] = node_cfg[i].replication_listen;
		addrs[n++] = node_cfg[i].raft_listen;
		addrs[n++] = node_cfg[i].admin_listen;
		dirs[i] = node_cfg[i].data_dir;
	}
	for (int i = 0; i < n; i++) {
		for (int k = i + 1; k < n; k++)
			ck_assert_msg(strcmp(addrs[i], addrs[k]), "%s used twice", addrs[i]);
	}
	for (int i = 0; i < 3; i++) {
		for (int k = i + 1; k < 3; k++)
			ck_assert_str_ne(dirs[i], dirs[k]);
	}
}
END_TEST

START_TEST(test_service_unit)
{
	const char *dir = getenv("DEPLOY_DIR");
	char path[1024], text[8192];
	size_t n;
	FILE *f;

	ck_assert_ptr_nonnull(dir);
	snprintf(path, sizeof(path), "%s/systemd/chronik.service.in", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	ck_assert_ptr_nonnull(strstr(text, "\nType=notify\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nWatchdogSec="));
	ck_assert_ptr_nonnull(strstr(text, "\nRestart=on-failure\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nRestartPreventExitStatus=2\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nKillMode=mixed\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nExecStart=@BINDIR@/chronik-server start --config "
	                                   "@SYSCONFDIR@/chronik/cluster.toml\n"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deploy_configs");
	TCase *tc = tcase_create("deploy");

	tcase_add_test(tc, test_single_and_cluster_load);
	tcase_add_test(tc, test_three_nodes_agree);
	tcase_add_test(tc, test_service_unit);
	suite_add_tcase(s, tc);
	return ck_test_run(s);
}
