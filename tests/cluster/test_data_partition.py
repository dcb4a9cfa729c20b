#!/usr/bin/python3
"""test_data_partition.py: partition data on a 3-node cluster whose nodes are
cut off from each other by the network while a real client produces with
acks=all (suite cluster: cluster_data_partition).

Owned by the cluster suite. The script makes a network namespace of its own
(`ckdp-<pid>`), runs itself again inside it, and deletes it at the end, with
whatever still runs in it (all of it started here); without root, `ip` or
working iptables in a namespace it exits 77 (SKIP). Inside: three nodes on
127.0.0.2-4 (every listener; each node's outbound raft and replication
connections come from its own address), a topic of 3 partitions,
replication factor 3, min.insync.replicas 2, and a confluent-kafka producer
(acks=all, retries) on 127.0.0.1 sending about 2,000 numbered messages a
second. Iptables rules drop every packet between one node's address and the
other nodes' (the clients, on 127.0.0.1, still reach every node: the case
where a leader keeps taking writes it can no longer replicate):

  1. the node leading partition 0 is cut off for 8 s
     (CHRONIK_DATA_PARTITION_CUT_SECS), then healed;
  2. once every ISR is whole again, the node of the Raft leader (the
     controller) is cut off as long, then healed.

A cut-off leader must not acknowledge what it appended alone: its high
watermark cannot move, and once it hears that another node leads (after
the heal) the writes still waiting there are refused as
NOT_LEADER_OR_FOLLOWER (the producer retries them on the new leader),
never acknowledged because its follower high watermark passed their
offsets (which then hold other records). Then, with the producer stopped, it
checks what a user would: every acknowledged message is read back, every
ISR is whole, the three nodes' logs hold the same batches.
Not for: random faults (test_data_chaos.py), metadata under partitions
(test_cluster_partition.c).
"""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import main, require_module, wait_for  # noqa: E402
import test_data_chaos  # noqa: E402

NS_ENV = 'CHRONIK_DATA_PARTITION_NETNS'
HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']
CUT_SECS = float(os.environ.get('CHRONIK_DATA_PARTITION_CUT_SECS', '8'))


def _sh(cmd, timeout=30):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout)


def _skip(why):
    print('SKIP: %s' % why)
    print('0 passed, 0 failed, 1 skipped')
    sys.exit(77)


def run_in_netns():
    """Outside the namespace: makes it, runs this script in it, deletes it;
    exits with the inner run's code. Inside: returns."""
    if os.environ.get(NS_ENV):
        return
    if os.geteuid() != 0 or not shutil.which('ip') or not shutil.which('iptables'):
        _skip('needs root, ip and iptables for a network namespace')
    ns = 'ckdp-%d' % os.getpid()
    r = _sh(['ip', 'netns', 'add', ns])
    if r.returncode != 0:
        _skip('ip netns add: %s' % r.stdout.decode(errors='replace').strip())
    rc = 1
    try:
        for cmd in (['ip', 'link', 'set', 'lo', 'up'], ['iptables', '-w', '-L', 'INPUT', '-n']):
            r = _sh(['ip', 'netns', 'exec', ns] + cmd)
            if r.returncode != 0:
                _skip('%s in a namespace: %s' % (' '.join(cmd),
                                                  r.stdout.decode(errors='replace').strip()))
        env = dict(os.environ)
        env[NS_ENV] = ns
        try:
            rc = subprocess.run(['ip', 'netns', 'exec', ns, sys.executable,
                                 os.path.abspath(__file__)] + sys.argv[1:], env=env).returncode
        except KeyboardInterrupt:
            rc = 1
    finally:
        # Whatever still runs in the namespace was started by the run above.
        out = _sh(['ip', 'netns', 'pids', ns]).stdout.decode(errors='replace').split()
        for pid in out:
            try:
                os.kill(int(pid), 9)
            except (ValueError, OSError):
                pass
        _sh(['ip', 'netns', 'del', ns])
    sys.exit(rc)


def cut(host, others, on):
    """Drops (ON) or stops dropping every packet between HOST and OTHERS."""
    for a, b in [(host, o) for o in others] + [(o, host) for o in others]:
        r = _sh(['iptables', '-w', '-A' if on else '-D', 'INPUT', '-s', a, '-d', b, '-j', 'DROP'])
        if r.returncode != 0:
            raise AssertionError('iptables: %s' % r.stdout.decode(errors='replace'))


class DataPartition(test_data_chaos.DataChaos):

    PARTS = 3
    test_acked_data_under_faults = None  # the chaos case is test_data_chaos.py's

    def setUp(self):
        super().setUp()
        self.cuts = []

    def tearDown(self):
        for host in self.cuts:
            try:
                cut(host, [h for h in HOSTS if h != host], False)
            except AssertionError:
                pass
        super().tearDown()

    def isolate(self, nodes, n, why, secs=CUT_SECS):
        """Cuts N off for SECS; returns partition 0's leader as the
        other two nodes saw it at the end of the cut."""
        others = [h for h in HOSTS if h != n.host]
        rest = [m for m in nodes if m is not n]
        sys.stderr.write('%.1f cut off node %d (%s) for %.0f s\n'
                         % (time.monotonic() - self.t0, n.node_id, why, secs))
        cut(n.host, others, True)
        self.cuts.append(n.host)
        time.sleep(secs)
        p0 = self.metadata(rest)[0]
        sys.stderr.write('%.1f the majority sees partition 0 led by %d, ISR %s\n'
                         % (time.monotonic() - self.t0, p0.leader, p0.isrs))
        cut(n.host, others, False)
        self.cuts.remove(n.host)
        sys.stderr.write('%.1f healed node %d\n' % (time.monotonic() - self.t0, n.node_id))
        return p0

    def test_acked_data_across_cuts(self):
        self.ck = require_module('confluent_kafka')
        test_data_chaos.PARTS = self.PARTS
        test_data_chaos.RATE = 2000
        nodes = self.cluster('dpart', hosts=HOSTS)
        acked, errors, stop, t = self.start_producing(nodes, 'cut')
        try:
            wait_for(lambda: len(acked) >= 1000, 60, 'the first acknowledgements')
            lead = nodes[self.metadata(nodes)[0].leader - 1]
            t_cut = time.monotonic()
            p0 = self.isolate(nodes, lead, 'leads partition 0', max(CUT_SECS, 12))
            t_heal = time.monotonic()
            self.assertNotEqual(p0.leader, lead.node_id,
                                'no new leader of partition 0 while its leader was cut off')
            self.assertNotIn(lead.node_id, p0.isrs)
            # The producer, which still reaches the cut-off node, finds the
            # new leader before the heal: the cut-off node refuses produce
            # and names no leader once it lost the controller (about 6 s
            # into the cut; before, nothing until the heal).
            during = [t for p, t in list(self.ack_times) if p == 0 and t_cut + 1 < t < t_heal]
            sys.stderr.write('%.1f partition 0: %d acknowledgements during the cut, the first '
                             '%.1f s into it\n' % (time.monotonic() - self.t0, len(during),
                                                    during[0] - t_cut if during else -1))
            self.assertTrue(during, 'partition 0 acknowledged nothing while its old leader was '
                            'cut off (the producer still reaches that node)')
            wait_for(lambda: self.whole(nodes), 90,
                     'every partition with three replicas in its ISR after the first heal')
            before = len(acked)
            wait_for(lambda: self.raft_leader(nodes) is not None, 30, 'a Raft leader')
            ctl = self.raft_leader(nodes)
            self.isolate(nodes, ctl, 'the Raft leader')
            wait_for(lambda: len(acked) > before + 2000, 60, 'acknowledgements after the cuts')
        finally:
            stop.set()
            t.join(200)
        self.producer_done(nodes, acked, errors, t)


if __name__ == '__main__':
    run_in_netns()
    main()
