/*
 * raftd_rebal.c: the controller's preferred-leader rebalance, decided
 * (see raftd_rebal.h). Pure.
 */
#include "raftd_rebal.h"

static bool raftd_rebal_in(const int32_t *v, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] == id)
			return true;
	}
	return false;
}

static raftd_rebal_count_t *raftd_rebal_slot(raftd_rebal_t *t, int32_t broker)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].broker == broker)
			return &t->v[i];
	}
	if (t->n == CK_CONFIG_PEERS_MAX)
		return NULL;
	t->v[t->n] = (raftd_rebal_count_t){broker, 0, 0};
	return &t->v[t->n++];
}

void raftd_rebal_count(raftd_rebal_t *t, const int32_t *replicas, size_t n_replicas, int32_t leader)
{
	raftd_rebal_count_t *c;

	if (n_replicas == 0 || leader < 0)
		return;
	c = raftd_rebal_slot(t, replicas[0]);
	if (!c)
		return;
	c->preferred++;
	if (leader != replicas[0])
		c->elsewhere++;
}

bool raftd_rebal_over(const raftd_rebal_t *t, int32_t broker, int32_t percent)
{
	for (size_t i = 0; i < t->n; i++) {
		const raftd_rebal_count_t *c = &t->v[i];

		if (c->broker == broker)
			return c->elsewhere > 0 && (uint64_t)c->elsewhere * 100 >
			                               (uint64_t)c->preferred * (uint64_t)percent;
	}
	return false;
}

int32_t raftd_rebal_candidate(int32_t leader, const int32_t *replicas, size_t n_replicas,
                              const int32_t *isr, size_t n_isr, const int32_t *eligible,
                              size_t n_eligible)
{
	if (n_replicas == 0 || leader < 0 || leader == replicas[0])
		return -1;
	if (!raftd_rebal_in(isr, n_isr, replicas[0]) ||
	    !raftd_rebal_in(eligible, n_eligible, replicas[0]))
		return -1;
	return replicas[0];
}
