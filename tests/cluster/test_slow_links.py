#!/usr/bin/python3
"""test_slow_links.py: a 3-node cluster whose links between nodes are slow,
lossy and unreliable while real clients write data and metadata (suite
cluster: cluster_slow_links; a longer run in the slow suite).

Owned by the cluster suite. Every raft and replication connection from one
node to another goes through a proxy of its own (netproxy.py; six directed
links per kind), so each node's [peer.N] table names the proxies; clients
reach the nodes directly. The links get a delay of 5-20 ms each way, and
1 % of chunks are held 250 ms more (what TCP does behind a lost segment).
Meanwhile, every 1-3 s, one fault: every connection of one link reset
(mid-frame, both sides see it die); every link out of one node reset;
one direction of one link cut for 3 s (an asymmetric partition: A reaches
B, B does not reach A); the Raft leader's outbound links slowed to
1.5-2.5 s of delay for 4 s (past the election timeout of 1-2 s).

Clients: the confluent-kafka producer of test_data_chaos.py (acks=all,
about 4,000 numbered messages a second), here idempotent
(enable.idempotence), into a topic of 6 partitions, replication factor 3,
min.insync.replicas 2; and confluent-kafka AdminClients creating topics
(2 partitions, replication factor 3) one at a time through a random node
(quorum commit; a write reaching a follower is forwarded over the slow
raft links).

What a user should see, after the links heal:
  - every acknowledged message is read back, none twice, every partition
    has all three replicas in its ISR again, and the three logs of every
    partition hold the same batches;
  - writes kept being acknowledged while the links were bad (some in
    every third of the fault phase);
  - every topic whose CreateTopics was acknowledged is listed by all three
    nodes with the same replica assignment, and the three nodes' metadata
    (topics, partitions, replicas) is the same.

Environment: CHRONIK_SLOW_LINKS_SECS (fault phase, default 30),
CHRONIK_SLOW_LINKS_SEED (printed; repeats the choices, not the timing).
Not for: whole-node faults (test_data_chaos.py), packet drops in a network
namespace (test_data_partition.py).
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import assign_ports, kproto, main, require_module, wait_for  # noqa: E402
from netproxy import Link  # noqa: E402
import test_data_chaos  # noqa: E402

SECS = float(os.environ.get('CHRONIK_SLOW_LINKS_SECS', '30'))
KINDS = ('raft', 'replication')


class SlowLinks(test_data_chaos.DataChaos):

    test_acked_data_under_faults = None  # the chaos case is test_data_chaos.py's
    PRODUCER_EXTRA = {'enable.idempotence': True}

    def proxied_cluster(self, name, seed, extra=''):
        """Three nodes whose peer links run through proxies: self.links
        maps (from id, to id, kind) to its Link; EXTRA is more config."""
        nodes = [self.node(node_id=i, name='%s%d' % (name, i)) for i in (1, 2, 3)]
        assign_ports(nodes)
        self.links = {}
        for a in nodes:
            for b in nodes:
                if a is b:
                    continue
                for kind in KINDS:
                    lk = Link(b.ports[kind], seed=seed * 100 + a.node_id * 10 + b.node_id,
                              name='%d->%d %s' % (a.node_id, b.node_id, kind))
                    self.links[(a.node_id, b.node_id, kind)] = lk
                    self.addCleanup(lk.close)
        for a in nodes:
            peers = ''
            for b in nodes:
                addr = {k: b.ports[k] if a is b else self.links[(a.node_id, b.node_id, k)].port
                        for k in KINDS}
                peers += ('[peer.%d]\nraft = "127.0.0.1:%d"\nreplication = "127.0.0.1:%d"\n'
                          'kafka = "127.0.0.1:%d"\n'
                          % (b.node_id, addr['raft'], addr['replication'], b.ports['kafka']))
            a.config_extra = ('[metadata]\ncommit = "quorum"\n[wal]\nprofile = "high"\n' + extra +
                              peers)
            a.start(wait=False)
        for n in nodes:
            n.wait_ready()
        return nodes

    def shape_all(self, **kw):
        for lk in self.links.values():
            lk.shape(**kw)

    def creating(self, nodes, created, refused, stop, rnd):
        """CreateTopics of one topic at a time through a random node until
        STOP; acknowledged names go to CREATED, error codes to REFUSED."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admins = [AdminClient({'bootstrap.servers': n.bootstrap}) for n in nodes]
        i = 0
        while not stop.is_set():
            name = '%s-t%d' % (self.topic, i)
            i += 1
            f = rnd.choice(admins).create_topics([NewTopic(name, 2, 3)], request_timeout=35,
                                                  operation_timeout=25)[name]
            try:
                f.result(40)
                created.append(name)
            except Exception as e:  # noqa: BLE001 - a refusal or a timeout: recorded
                refused.append(str(e)[:120])
                time.sleep(0.2)

    def raft_leader_id(self, nodes):
        n = self.raft_leader(nodes)
        return n.node_id if n else None

    def fault(self, nodes, rnd):
        kind = rnd.randrange(4)
        ids = [n.node_id for n in nodes]
        if kind == 0:
            key = rnd.choice(sorted(self.links))
            got = self.links[key].reset()
            what = 'reset of link %d->%d %s (%d connections)' % (key + (got,))
        elif kind == 1:
            a = rnd.choice(ids)
            got = sum(lk.reset() for k, lk in self.links.items() if k[0] == a)
            what = 'reset of every link out of node %d (%d connections)' % (a, got)
        elif kind == 2:
            a, b = rnd.sample(ids, 2)
            what = 'cut of %d->%d (both kinds) for 3 s' % (a, b)
            self.note(what)
            cut = [self.links[(a, b, k)] for k in KINDS]
            for lk in cut:
                lk.set_cut(True)
            time.sleep(3)
            for lk in cut:
                lk.set_cut(False)
            return
        else:
            a = self.raft_leader_id(nodes) or rnd.choice(ids)
            what = 'links out of node %d (raft leader) slowed to 1.5-2.5 s for 4 s' % a
            self.note(what)
            slow = [lk for k, lk in self.links.items() if k[0] == a]
            for lk in slow:
                lk.shape(delay_ms=1500, jitter_ms=1000)
            time.sleep(4)
            for lk in slow:
                lk.shape(**self.base_shape)
            return
        self.note(what)

    def note(self, what):
        sys.stderr.write('%.1f fault: %s\n' % (time.monotonic() - self.t0, what))

    def topic_view(self, node):
        """{topic: [replicas of each partition]} in NODE's Metadata, the
        producer's topic and this test's created topics only."""
        from confluent_kafka.admin import AdminClient
        md = AdminClient({'bootstrap.servers': node.bootstrap}).list_topics(timeout=10)
        return {t: [sorted(p.replicas) for _, p in sorted(v.partitions.items())]
                for t, v in md.topics.items() if t.startswith(self.topic)}

    def test_acked_writes_over_bad_links(self):
        self.ck = require_module('confluent_kafka')
        seed = int(os.environ.get('CHRONIK_SLOW_LINKS_SEED', str(random.randrange(1 << 30))))
        sys.stderr.write('slow links seed %d, %.0f s of faults\n' % (seed, SECS))
        rnd = random.Random(seed)
        nodes = self.proxied_cluster('slow', seed)
        self.base_shape = {'delay_ms': 5, 'jitter_ms': 15, 'loss': 0.01, 'loss_stall_ms': 250}
        acked, errors, stop, t = self.start_producing(nodes, 'slow')
        created, refused, cstop = [], [], threading.Event()
        ct = threading.Thread(target=self.creating,
                              args=(nodes, created, refused, cstop, random.Random(seed + 1)))
        try:
            wait_for(lambda: len(acked) >= 1000, 60, 'the first acknowledgements')
            self.shape_all(**self.base_shape)
            ct.start()
            thirds = []
            faults = 0
            for third in range(3):
                before = len(acked)
                end = self.t0 + SECS * (third + 1) / 3
                while time.monotonic() < end:
                    self.fault(nodes, rnd)
                    faults += 1
                    time.sleep(rnd.uniform(1, 3))
                thirds.append(len(acked) - before)
        finally:
            cstop.set()
            if ct.ident:
                ct.join(60)
            self.shape_all()
            for lk in self.links.values():
                lk.set_cut(False)
            stop.set()
            t.join(200)
        stalls = sum(lk.stalls for lk in self.links.values())
        resets = sum(lk.resets for lk in self.links.values())
        sys.stderr.write('%d faults; %d chunks held as lost, %d connections reset; acknowledged '
                         'per third of the fault phase: %s; topics created %d, refused %d (%s)\n'
                         % (faults, stalls, resets, thirds, len(created), len(refused),
                            refused[:3]))
        dups = self.producer_done(nodes, acked, errors, t)
        self.assertEqual(dups, 0, 'an idempotent producer\'s messages written twice')
        self.assertTrue(all(x > 0 for x in thirds),
                        'no write acknowledged in a third of the fault phase: %s' % thirds)
        self.assertGreater(len(created), 0, 'no CreateTopics acknowledged over the bad links')
        want = set(created)
        wait_for(lambda: all(want <= set(self.topic_view(n)) for n in nodes), 30,
                 'every acknowledged topic on every node')
        views = []

        def alike():
            views[:] = [self.topic_view(n) for n in nodes]
            return all(v == views[0] for v in views[1:])
        wait_for(alike, 30, 'the same topics and replicas on the three nodes')
        for name in created:
            self.assertEqual(len(views[0][name]), 2, name)
            self.assertTrue(all(len(r) == 3 for r in views[0][name]), name)


class LeaderAgain(SlowLinks):
    """A node leading a partition again, longer than
    replica_lag_time_max_ms after it last did, shrank the ISR to itself at
    once (its followers counted as behind since its earlier leadership,
    when they could not reach it), then expanded it back: for that moment
    an acks=all write was acknowledged on one copy. Kafka gives every ISR
    member the whole lag time from the start of a leadership."""

    test_acked_writes_over_bad_links = None

    def test_no_shrink_when_leading_again(self):
        ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        nodes = self.proxied_cluster('again', 7, '[replication]\nreplica_lag_time_max_ms = 3000\n')
        boot = ','.join(n.bootstrap for n in nodes)
        admin = AdminClient({'bootstrap.servers': boot})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        topic = 'again%d' % int(time.time() * 1000)
        for f in admin.create_topics([NewTopic(topic, 1, replica_assignment=[[2, 1, 3]])]).values():
            f.result(30)
        p = ck.Producer({'bootstrap.servers': boot, 'acks': 'all', 'linger.ms': 5})
        stop = threading.Event()

        def load():
            while not stop.is_set():
                p.produce(topic, value=b'x')
                p.poll(0.01)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)

        def leader(node=nodes[0]):
            # Node 1's view: the cut node 2 answers its own, stale one.
            c = kproto.Conn('127.0.0.1', node.ports['kafka'], timeout=10)
            try:
                _, _, topics = kproto.parse_metadata(
                    c.call(kproto.METADATA, 1, kproto.metadata_body(1, [topic])), 1, isr=True)
            finally:
                c.close()
            _, lead, isr = topics[topic][1][0]
            return lead, isr
        wait_for(lambda: leader() == (2, [1, 2, 3]), 30, 'node 2 leads with the full ISR')
        cut = [lk for (a, b, _k), lk in self.links.items() if 2 in (a, b)]
        for lk in cut:
            lk.set_cut(True)
        wait_for(lambda: leader()[0] in (1, 3), 30, 'leadership moved off the cut node')
        time.sleep(1)
        for lk in cut:
            lk.set_cut(False)
        wait_for(lambda: leader()[1] == [1, 2, 3], 30, 'the ISR whole again')
        time.sleep(4)  # past replica_lag_time_max_ms
        mark = len(nodes[1].log_grep('ISR shrink partition=%s-0' % topic))
        err = kproto.elect_leaders(nodes[0].ports['kafka'], [(topic, [0])])
        self.assertEqual(err[0], 0, err)
        wait_for(lambda: leader()[0] == 2, 30, 'node 2 leads again')
        time.sleep(2)
        stop.set()
        p.flush(30)
        shrinks = nodes[1].log_grep('ISR shrink partition=%s-0' % topic)[mark:]
        self.assertEqual(shrinks, [], 'node 2 shrank the ISR on leading again')
        for n in nodes:
            wait_for(lambda: leader(n) == (2, [1, 2, 3]), 10, 'node %d sees it' % n.node_id)


if __name__ == '__main__':
    main()
