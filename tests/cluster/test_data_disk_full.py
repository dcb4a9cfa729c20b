#!/usr/bin/python3
"""test_data_disk_full.py: one node's data disk fills up while a real client
produces with acks=all to a 3-node cluster (suite cluster:
cluster_data_disk_full).

Owned by the cluster suite. Three nodes, each with its data directory on
a 64 MB tmpfs of its own; a topic of 6 partitions, replication factor 3,
min.insync.replicas 2, and the confluent-kafka producer of
test_data_chaos.py (acks=all, about 4,000 numbered messages a second).
Twice, first on a node that is not the Raft leader, then on the Raft
leader (the controller itself), a ballast file fills the node's disk past
walwriter's reserve, as another program would. What a user should see, as
with Kafka, whose controller fences a broker whose log directory failed:
  - within 15 s the full node leads no partition and is in no ISR (its
    raftd reports the full disk in its broker heartbeats, or to itself as
    the controller, and the broker is fenced; its GET /metrics says
    chronik_node_data_disk_full 1), and every partition, those
    it led included, takes acks=all writes again (a second producer's
    message to each partition is acknowledged);
  - the ballast deleted, the node is unfenced and back in every ISR within
    60 s;
  - with the producer stopped: every acknowledged message is read back and
    the three nodes' logs hold the same batches; no process restarted;
  - while the node is fenced, every node, the full one too, names the same
    coordinator for a consumer group, never the full node (two nodes
    claiming one group would split its members).
Needs root (the tmpfs; else SKIP).
Not for: a single node's full disk (kafka_durability test_disk_full),
random faults (test_data_chaos.py).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import main, require_module, wait_for  # noqa: E402
import kproto  # noqa: E402
import test_data_chaos  # noqa: E402

TMPFS_MB = 64


class DataDiskFull(test_data_chaos.DataChaos):

    test_acked_data_under_faults = None  # the chaos case is test_data_chaos.py's

    def fill(self, path, leave):
        """Writes a ballast file at PATH until LEAVE bytes are free."""
        chunk = b'\0' * (1 << 20)
        with open(path, 'wb') as f:
            while True:
                st = os.statvfs(os.path.dirname(path))
                free = st.f_bfree * st.f_frsize
                if free <= leave:
                    break
                try:
                    f.write(chunk[:min(len(chunk), free - leave)])
                    f.flush()
                except OSError:
                    break

    def coordinators(self, nodes, groups):
        """{node id: [coordinator of each group in GROUPS]} as each of NODES
        answers FindCoordinator v1."""
        out = {}
        for n in nodes:
            ids = []
            for g in groups:
                err, msg, node, _, _ = kproto.parse_find_coordinator(
                    kproto.call_once(n.kafka_port, kproto.FIND_COORDINATOR, 1,
                                     kproto.find_coordinator_body(1, g), 5000), 1)
                self.assertEqual(err, 0, 'FindCoordinator %s on node %d: %s' %
                                 (g, n.node_id, msg))
                ids.append(node)
            out[n.node_id] = ids
        return out

    def full_round(self, nodes, victim, acked, why):
        """Fills VICTIM's disk, checks that it is fenced out and that every
        partition takes writes, frees the disk, waits for whole ISRs."""
        others = [n for n in nodes if n is not victim]
        vid = victim.node_id
        ballast = os.path.join(victim.data, 'ballast')
        self.ballasts.append(ballast)
        wait_for(lambda: any(lead == vid for lead, _ in self.placement(others).values()), 30,
                 'node %d leading a partition' % vid)
        # Full: 2 MB less free than walwriter's reserve (5 % of the tmpfs).
        self.fill(ballast, TMPFS_MB * (1 << 20) // 20 - (2 << 20))
        sys.stderr.write('%.1f node %d (%s) full: %s\n' % (time.monotonic() - self.t0, vid, why,
                                                          self.placement(others)))

        def fenced_out():
            pl = self.placement(others)
            return all(lead != vid and vid not in isr for lead, isr in pl.values())
        wait_for(fenced_out, 15, 'node %d leading nothing and in no ISR' % vid)
        sys.stderr.write('%.1f node %d out: %s\n' % (time.monotonic() - self.t0, vid,
                                                     self.placement(others)))
        self.assertTrue(victim.log_grep('data disk full'))
        self.assertEqual(victim.metrics().get('chronik_node_data_disk_full'), 1)
        groups = ['group-%d' % i for i in range(24)]
        coord = {}

        def coordinators_agree():
            coord.update(self.coordinators(nodes, groups))
            views = list(coord.values())
            return all(v == views[0] for v in views) and vid not in views[0]
        try:
            wait_for(coordinators_agree, 10, 'every node naming one coordinator per group, '
                     'never node %d' % vid)
        except AssertionError as e:
            raise AssertionError('%s: %s' % (e, coord))
        sys.stderr.write('%.1f coordinators: %s\n' % (time.monotonic() - self.t0, coord))
        self.each_partition_acked(others, 30)
        before = len(acked)
        wait_for(lambda: len(acked) > before + 2000, 30,
                 'acknowledgements while node %d is full' % vid)
        os.unlink(ballast)
        sys.stderr.write('%.1f ballast deleted\n' % (time.monotonic() - self.t0))
        wait_for(lambda: self.whole(nodes), 60, 'node %d back in every ISR' % vid)
        self.assertEqual(victim.metrics().get('chronik_node_data_disk_full'), 0)
        sys.stderr.write('%.1f every ISR whole\n' % (time.monotonic() - self.t0))

    def test_one_node_disk_full(self):
        self.ck = require_module('confluent_kafka')
        self.ballasts = []
        nodes = self.cluster('dfull', tmpfs={1: TMPFS_MB, 2: TMPFS_MB, 3: TMPFS_MB})
        acked, errors, stop, t = self.start_producing(nodes, 'full')
        try:
            wait_for(lambda: len(acked) >= 2000, 60, 'the first acknowledgements')
            wait_for(lambda: self.raft_leader(nodes) is not None, 30, 'a Raft leader')
            ctl = self.raft_leader(nodes)
            self.full_round(nodes, [n for n in nodes if n is not ctl][0], acked, 'a follower')
            ctl = self.raft_leader(nodes)
            self.full_round(nodes, ctl, acked, 'the Raft leader')
        finally:
            stop.set()
            t.join(200)
            for b in self.ballasts:
                if os.path.exists(b):
                    os.unlink(b)
        for n in nodes:
            st = n.status()
            self.assertEqual({c['name']: c['restarts'] for c in st['children']},
                             {c['name']: 0 for c in st['children']},
                             'a process of node %d restarted' % n.node_id)
        self.producer_done(nodes, acked, errors, t)


if __name__ == '__main__':
    main()
