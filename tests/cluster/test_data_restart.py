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

A kill -9 keeps the page cache, so this checks what the nodes do when they
all come back (recovery points, high watermarks, leaders and ISRs from the
metadata, followers truncating to the leaders), not the disk's flushes.
Environment: CHRONIK_DATA_RESTART_SEED (the start orders; printed).
Not for: one fault at a time (test_data_chaos.py), network cuts
(test_data_partition.py).
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import main, require_module, wait_for  # noqa: E402
import test_data_chaos  # noqa: E402

ROUNDS = 3


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


if __name__ == '__main__':
    main()
