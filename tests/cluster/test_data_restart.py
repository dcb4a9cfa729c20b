#!/usr/bin/python3
"""test_data_restart.py: partition data on a 3-node cluster whose nodes are
all killed at once, again and again, while a real client produces with
acks=all (suite cluster: cluster_data_restart).

Owned by the cluster suite. Three nodes, a topic of 6 partitions,
replication factor 3, min.insync.replicas 2, and a confluent-kafka producer
(acks=all, retries) sending about 4,000 numbered messages a second, as in
test_data_chaos.py. Three rounds: kill -9 of every process of every node
at the same moment, then a start of all three in a random order; in the
second round two nodes start first and the third 5 s later (the two must
serve every partition, some of whose leaders were on the third, before it
comes back). After each round the producer must be acknowledged again
within 60 s. Then, with the producer stopped, what a user would check:
every acknowledged message is read back, every ISR is whole, the three
nodes' logs hold the same batches.

A second case kills only the replicator of the node leading partition 0,
REPL_KILLS times, while acks=all writes go to the partitions it leads: no
write may wait WAIT_MAX_S or more across a kill (followers whose fetches
were in flight to the dead replicator fetch again once reconnected), and
every acknowledged write is read back.

A kill -9 keeps the page cache, so this checks what the nodes do when they
all come back (recovery points, high watermarks, leaders and ISRs from the
metadata, followers truncating to the leaders), not the disk's flushes.
Environment: CHRONIK_DATA_RESTART_SEED (the start orders; printed).
Not for: one fault at a time (test_data_chaos.py), network cuts
(test_data_partition.py).
"""
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import (SANITIZE, create_topic_retrying, main, pid_is_chronik,  # noqa: E402
                      require_module, wait_for)
import test_data_chaos  # noqa: E402

ROUNDS = 3
# kill -9s of the leader node's replicator; about 6 in 10 stalled before
# the fix, so 5 miss them all one time in ten. Under the sanitizers the
# processes start too slowly for the bound below: fewer kills, and only
# what was acknowledged is checked there (the bound is the plain build's).
REPL_KILLS = 2 if SANITIZE else 5
REPL_KILL_S = 4   # apart: a stall of the 3 s a lost follower fetch waited shows in each
# The longest an acks=all write may wait across one of them: the
# supervisor's restart delay (doubling to the harness's 1 s, the kills come
# faster than its restart_stable_ms) and the restart, with room for a
# loaded machine; a follower fetch left to the 3 s timer makes it 3 s or more.
WAIT_MAX_S = 2.5


class DataRestart(test_data_chaos.DataChaos):

    test_acked_data_under_faults = None  # the chaos case is test_data_chaos.py's

    def test_acked_data_across_whole_cluster_kills(self):
        self.ck = require_module('confluent_kafka')
        seed = int(os.environ.get('CHRONIK_DATA_RESTART_SEED', str(random.randrange(1 << 30))))
        sys.stderr.write('data restart seed %d\n' % seed)
        rnd = random.Random(seed)
        nodes = self.cluster('drestart')
        acked, errors, stop, t = self.start_producing(nodes, 'rall')
        try:
            wait_for(lambda: len(acked) >= 3000, 60, 'the first acknowledgements')
            for rd in range(ROUNDS):
                time.sleep(2)
                sys.stderr.write('%.1f round %d: kill -9 of every node (%d acknowledged)\n'
                                 % (time.monotonic() - self.t0, rd, len(acked)))
                for n in nodes:
                    n.kill9_all()
                time.sleep(1)
                order = list(nodes)
                rnd.shuffle(order)
                if rd == 1:
                    for n in order[:2]:
                        n.start()
                    before = len(acked)
                    wait_for(lambda: len(acked) > before + 2000, 60,
                             'acknowledgements from two nodes of three')
                    sys.stderr.write('%.1f acknowledged again by nodes %s; starting %d\n'
                                     % (time.monotonic() - self.t0,
                                        [n.node_id for n in order[:2]], order[2].node_id))
                    order[2].start()
                else:
                    for n in order:
                        n.start()
                before = len(acked)
                wait_for(lambda: len(acked) > before + 2000, 60,
                         'acknowledgements after the restart')
                sys.stderr.write('%.1f acknowledged again\n' % (time.monotonic() - self.t0))
        finally:
            stop.set()
            t.join(200)
        self.producer_done(nodes, acked, errors, t)

    def timed_producing(self, nodes, parts, acked, waits, errors, stop):
        """Produces about 1,000 numbered messages a second with acks=all to
        the partitions PARTS until STOP; every acknowledged message goes to
        ACKED and (its send time, how long it waited) to WAITS."""
        ck = self.ck
        p = ck.Producer({'bootstrap.servers': self.bootstrap(nodes), 'acks': 'all',
                         'message.timeout.ms': 120000, 'linger.ms': 2})
        sent = {}

        def done(err, msg):
            t_sent = sent.pop(msg.value(), None)
            if err is not None:
                errors.append(str(err))
            elif t_sent is not None:
                acked.add(msg.value())
                waits.append((t_sent, time.monotonic() - t_sent))
        i, t0 = 0, time.monotonic()
        while not stop.is_set():
            while i < 1000 * (time.monotonic() - t0):
                v = b'r%08d' % i
                sent[v] = time.monotonic()
                p.produce(self.topic, v, partition=parts[i % len(parts)], on_delivery=done)
                i += 1
            p.poll(0.01)
        p.flush(150)

    def test_acks_all_through_leader_replicator_kills(self):
        """kill -9 of the replicator of the node leading partition 0 (the
        supervisor restarts it at once), REPL_KILLS times, while acks=all
        writes go to the partitions that node leads: no write waits
        WAIT_MAX_S or more (a follower whose fetch was in flight to the
        killed replicator fetches again as soon as it has reconnected, not
        after the 3 s it gives a fetch a live connection never answers),
        and every acknowledged write is read back."""
        self.ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        nodes = self.cluster('drrepl')
        admin = AdminClient({'bootstrap.servers': self.bootstrap(nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = 'rkill%d' % int(time.time() * 1000)
        create_topic_retrying(admin, NewTopic(self.topic, test_data_chaos.PARTS, 3,
                                              config={'min.insync.replicas': '2'}))
        md = wait_for(lambda: all(p.leader > 0 for p in self.metadata(nodes).values())
                      and self.metadata(nodes), 30, 'a leader for every partition')
        lead = nodes[md[0].leader - 1]
        parts = sorted(k for k, v in md.items() if v.leader == lead.node_id)
        acked, waits, errors, stop = set(), [], [], threading.Event()
        t = threading.Thread(target=self.timed_producing,
                             args=(nodes, parts, acked, waits, errors, stop))
        t.start()
        kills = []
        try:
            wait_for(lambda: len(acked) >= 2000, 60, 'the first acknowledgements')
            for _ in range(REPL_KILLS):
                pid = lead.child('replicator')['pid']
                self.assertTrue(pid > 0 and pid_is_chronik(pid), 'no replicator to kill')
                kills.append(time.monotonic())
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda: lead.child('replicator')['pid'] not in (0, pid), 30,
                         'the replicator restarted')
                time.sleep(max(0.0, kills[-1] + REPL_KILL_S - time.monotonic()))
            kills.append(time.monotonic())
        finally:
            stop.set()
            t.join(200)
        # The longest wait of a write sent from just before each kill (a
        # follower's fetch then in flight holds it back) to the next kill.
        worst = [max([w for ts, w in list(waits) if a - 0.5 <= ts < b] or [0.0])
                 for a, b in zip(kills, kills[1:])]
        sys.stderr.write('node %d leads partitions %s; longest acks=all waits per replicator '
                         'kill: %s s\n' % (lead.node_id, parts,
                                            ' '.join('%.2f' % w for w in worst)))
        self.assertEqual(errors, [], 'the producer was refused')
        if not SANITIZE:
            self.assertLess(max(worst), WAIT_MAX_S,
                            'an acks=all write waited %.2f s across a kill of the leader '
                            'node\'s replicator' % max(worst))
        self.check_acked(nodes, acked)


if __name__ == '__main__':
    main()
