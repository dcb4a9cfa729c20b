#!/usr/bin/python3
"""test_chaos.py: metadata writes from real Kafka clients on a 3-node
cluster while faults hit random nodes (the slow suite: cluster_chaos).

Owned by the cluster suite. Three nodes (kharness Nodes with ids 1-3 and
each other as peers, free loopback ports, quorum commit). Six kafka-python
KafkaAdminClient workers, two per node, each bootstrapped from one node
only, run CreateTopics (1-3 partitions, replication 1-3), DeleteTopics,
CreatePartitions and AlterConfigs (retention.ms) on topics of their own and
record every outcome: acknowledged, refused with an error code, or unknown
(timeout, lost connection). Meanwhile, every 2-6 s, one fault, half of them
on the Raft leader's node: kill -9 of the whole node and a start 1-4 s
later; SIGSTOP of raftd for 3 s; SIGSTOP of walwriter for 2 s; kill -9 of one
child (the supervisor restarts it); a SIGTERM restart.

Then, with every node up and the workers stopped, it checks what a user
would: the three nodes' Metadata answers converge to the same topics,
partitions, replicas, leaders and ISRs; every acknowledged creation is
there with at least its partition count (plus acknowledged
CreatePartitions) unless a delete of it had an unknown outcome; no
acknowledged deletion is there; every partition's leader is in its ISR and
no replica is listed twice; the last acknowledged retention.ms of each
topic whose last AlterConfigs was acknowledged is what DescribeConfigs
says on every node. Under the sanitized build (CHRONIK_KTEST_SANITIZE=1)
the harness fails the case on any sanitizer report in a node log.

Environment: CHRONIK_CHAOS_SECS (fault phase, default 240),
CHRONIK_CHAOS_SEED (the faults' and workers' random seed; printed, so a
run can be repeated with the same choices; timing still differs).
Not for: partition data (the replicator's), the exact-time targets of the
cluster suite (test_cluster*.c).
"""
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import (NodeTestCase, main, pause_pids, pid_is_chronik,  # noqa: E402
                      require_module)

SECS = float(os.environ.get('CHRONIK_CHAOS_SECS', '240'))
WORKERS = 6
REQUEST_TIMEOUT_MS = 12000


class Outcomes:
    """What the workers were told, in order, per topic."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []  # (op, topic, arg, outcome)

    def add(self, op, topic, arg, outcome):
        with self.lock:
            self.ops.append((op, topic, arg, outcome))

    def counts(self):
        c = {}
        for op, _, _, res in self.ops:
            # "alter error:7" keeps the Kafka error code; unknowns by kind only.
            k = '%s %s' % (op, res if res.startswith('error') else res.split(':')[0])
            c[k] = c.get(k, 0) + 1
        return dict(sorted(c.items()))


class ClusterChaos(NodeTestCase):

    def start_cluster(self):
        return self.cluster('chaos')

    def leader(self, nodes):
        for n in nodes:
            try:
                if n.proc.poll() is None and n.child('raftd')['role'] == 'leader':
                    return n
            except (AssertionError, KeyError):
                pass
        return None

    # -- the workers

    def worker(self, w, node, out, stop, rnd):
        kafka = require_module('kafka')
        from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
        errors = kafka.errors
        adm = None
        mine = []  # [topic, partitions]
        k = 0
        while not stop.is_set():
            try:
                if adm is None:
                    adm = kafka.KafkaAdminClient(bootstrap_servers=node.bootstrap,
                                                 request_timeout_ms=REQUEST_TIMEOUT_MS,
                                                 client_id='chaos%d' % w)
                r = rnd.random()
                if r < 0.6 or not mine:
                    name = 'chaos-%d-%d' % (w, k)
                    k += 1
                    np, rf = rnd.randint(1, 3), rnd.randint(1, 3)
                    try:
                        res = adm.create_topics([NewTopic(name, np, rf)], timeout_ms=10000)
                        errs = [e[1] for e in res.topic_errors if e[1] != 0]
                        if errs:
                            out.add('create', name, np, 'error:%d' % errs[0])
                        else:
                            out.add('create', name, np, 'ok')
                            mine.append([name, np])
                    except errors.TopicAlreadyExistsError:
                        # A retry of a creation that was taken: ours anyway.
                        out.add('create', name, np, 'exists')
                        mine.append([name, np])
                    except errors.KafkaError as e:
                        out.add('create', name, np, 'unknown:' + type(e).__name__)
                elif r < 0.8:
                    t = mine.pop(rnd.randrange(len(mine)))
                    try:
                        res = adm.delete_topics([t[0]], timeout_ms=10000)
                        errs = [e[1] for e in res.topic_error_codes if e[1] != 0]
                        out.add('delete', t[0], 0, 'error:%d' % errs[0] if errs else 'ok')
                    except errors.KafkaError as e:
                        out.add('delete', t[0], 0, 'unknown:' + type(e).__name__)
                elif r < 0.9:
                    t = rnd.choice(mine)
                    try:
                        adm.create_partitions({t[0]: NewPartitions(t[1] + 1)}, timeout_ms=10000)
                        t[1] += 1
                        out.add('partitions', t[0], t[1], 'ok')
                    except errors.KafkaError as e:
                        out.add('partitions', t[0], t[1] + 1, 'unknown:' + type(e).__name__)
                else:
                    t = rnd.choice(mine)
                    v = str(rnd.randint(100000, 999999))
                    try:
                        res = adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, t[0],
                                                                configs={'retention.ms': v})])
                        errs = [e[0] for e in res.resources if e[0] != 0]
                        out.add('alter', t[0], v, 'error:%d' % errs[0] if errs else 'ok')
                    except errors.KafkaError as e:
                        out.add('alter', t[0], v, 'unknown:' + type(e).__name__)
            except Exception as e:  # noqa: BLE001 - a client that broke is replaced
                out.add('client', '', 0, 'unknown:%s %s' % (type(e).__name__, str(e)[:100]))
                try:
                    if adm:
                        adm.close()
                except Exception:  # noqa: BLE001
                    pass
                adm = None
                time.sleep(0.3)
        if adm:
            adm.close()

    # -- the faults

    def fault(self, nodes, rnd):
        lead = self.leader(nodes)
        n = lead if lead is not None and rnd.random() < 0.5 else rnd.choice(nodes)
        kind = rnd.randrange(5)
        what = {0: 'kill -9 of the node', 1: 'SIGSTOP of raftd for 3 s',
                2: 'SIGSTOP of walwriter for 2 s', 3: 'kill -9 of one child',
                4: 'a SIGTERM restart'}[kind]
        sys.stderr.write('%.1f fault: %s %d%s\n' % (time.monotonic() - self.t0, what, n.node_id,
                                                    ' (leader)' if n is lead else ''))
        if kind == 0:
            n.kill9_all()
            time.sleep(rnd.uniform(1, 4))
            n.start()
        elif kind in (1, 2):
            # (a child restarting after an earlier fault is not paused)
            pause_pids([n.child('raftd' if kind == 1 else 'walwriter')['pid']],
                       3 if kind == 1 else 2)
        elif kind == 3:
            name = rnd.choice(['walwriter', 'raftd', 'replicator', 'kafka-frontend'])
            pid = n.child(name)['pid']
            sys.stderr.write('  child %s pid %d\n' % (name, pid))
            if pid > 0 and pid_is_chronik(pid):
                os.kill(pid, signal.SIGKILL)
        else:
            self.assertEqual(n.stop(), 0, 'node %d did not stop cleanly' % n.node_id)
            n.start()

    # -- the checks

    def views(self, nodes):
        """Each node's Metadata answer: {topic: [(p, replicas, leader, isr)]}."""
        kafka = require_module('kafka')
        out = []
        for n in nodes:
            adm = kafka.KafkaAdminClient(bootstrap_servers=n.bootstrap, request_timeout_ms=10000)
            try:
                v = {}
                for t in adm.describe_topics():
                    self.assertEqual(t['error_code'], 0, 'node %d: %s' % (n.node_id, t))
                    v[t['topic']] = sorted((p['partition'], tuple(p['replicas']), p['leader'],
                                            tuple(sorted(p['isr']))) for p in t['partitions'])
                out.append(v)
            finally:
                adm.close()
        return out

    def retention(self, node, topics):
        kafka = require_module('kafka')
        from kafka.admin import ConfigResource, ConfigResourceType
        adm = kafka.KafkaAdminClient(bootstrap_servers=node.bootstrap, request_timeout_ms=10000)
        got = {}
        try:
            for t in topics:
                res = adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])
                for r in res:
                    for x in r.resources:  # (error, message, type, name, entries)
                        for e in x[4]:
                            if e[0] == 'retention.ms':
                                got[x[3]] = e[1]
        finally:
            adm.close()
        return got

    def test_metadata_writes_under_faults(self):
        require_module('kafka')
        seed = int(os.environ.get('CHRONIK_CHAOS_SEED', random.randrange(1 << 31)))
        print('seed %d (CHRONIK_CHAOS_SEED=%d repeats its choices)' % (seed, seed))
        rnd = random.Random(seed)
        nodes = self.start_cluster()
        out = Outcomes()
        stop = threading.Event()
        workers = [threading.Thread(target=self.worker,
                                    args=(w, nodes[w % 3], out, stop, random.Random(seed + w)))
                   for w in range(WORKERS)]
        self.t0 = time.monotonic()
        for t in workers:
            t.start()
        faults = 0
        try:
            while time.monotonic() - self.t0 < SECS:
                time.sleep(rnd.uniform(2, 6))
                self.fault(nodes, rnd)
                faults += 1
            for n in nodes:
                if n.proc.poll() is not None:
                    n.start()
                n.wait_ready()
            time.sleep(5)  # writes go on with every node up
        finally:
            stop.set()
            for t in workers:
                t.join(60)
        print('faults %d; outcomes %s' % (faults, out.counts()))

        # Converged: every node answers the same.
        deadline = time.monotonic() + 30
        while True:
            views = self.views(nodes)
            if views[1] == views[0] and views[2] == views[0]:
                break
            if time.monotonic() > deadline:
                for i in (1, 2):
                    a, b = views[0], views[i]
                    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                    print('node %d differs from node 1 in %d topics, e.g. %s: %s vs %s'
                          % (i + 1, len(diff), diff[:1], a.get(diff[0]) if diff else None,
                             b.get(diff[0]) if diff else None))
                self.fail('the three nodes did not converge within 30 s of the faults')
            time.sleep(1)
        v = views[0]

        created, deleted, parts, altered = {}, {}, {}, {}
        for op, name, arg, res in out.ops:
            if op == 'create' and res in ('ok', 'exists'):
                created[name] = arg
            elif op == 'delete':
                deleted[name] = res
            elif op == 'partitions' and res == 'ok':
                parts[name] = max(parts.get(name, 0), arg)
            elif op == 'alter':
                altered[name] = (arg, res)
        self.assertGreater(len(created), 100, 'too few creations acknowledged: %s' % out.counts())
        problems = []
        for name, np in created.items():
            if name in deleted:
                if deleted[name] == 'ok' and name in v:
                    problems.append('%s: deleted (acknowledged) but listed' % name)
            elif name not in v:
                problems.append('%s: created (acknowledged) but missing' % name)
            elif len(v[name]) < max(np, parts.get(name, 0)):
                problems.append('%s: %d partitions, %d acknowledged'
                                % (name, len(v[name]), max(np, parts.get(name, 0))))
        for name, ps in v.items():
            for (p, replicas, leader, isr) in ps:
                if len(set(replicas)) != len(replicas):
                    problems.append('%s-%d: replicas %s' % (name, p, replicas))
                if leader != -1 and leader not in isr:
                    problems.append('%s-%d: leader %d not in ISR %s' % (name, p, leader, isr))
        want = {t: a[0] for t, a in altered.items()
                if a[1] == 'ok' and t in v and t not in deleted}
        sample = sorted(want)[:60]
        for n in nodes:
            got = self.retention(n, sample)
            for t in sample:
                if got.get(t) != want[t]:
                    problems.append('node %d: %s retention.ms %s, last acknowledged %s'
                                    % (n.node_id, t, got.get(t), want[t]))
        print('topics %d, creations acknowledged %d, deletions acknowledged %d, '
              'retention.ms checked on %d topics'
              % (len(v), len(created), sum(1 for r in deleted.values() if r == 'ok'),
                 len(sample)))
        self.assertEqual(problems, [], '\n'.join(problems[:30]))


if __name__ == '__main__':
    main()
