#!/usr/bin/python3
"""Consumer groups as admin tools see them on three nodes (suite cluster).

CoordinatorsStay: a node stopped and started again moves only the groups
it coordinates; every other group keeps its coordinator throughout.

GroupTakenOver: the groups it coordinated go on at their generation on the
broker that takes them over, and again on it when it is back: members keep
heartbeating and committing, their assignments stay (no rebalance), as
after Kafka's coordinator loads a group from __consumer_offsets.

Views: after offsets are committed for several groups (each commit a
metadata change on every node), every node names the same coordinator for
each group; ListGroups lists a group on its coordinator only (as Kafka: a
broker lists the groups it coordinates); Metadata on every node still lists
the three brokers; OffsetFetch answers the committed offsets on every node.
A node once answered as if it were alone after a ListGroups or an offset
expiry walk right after a metadata change (its broker list read inside
another read transaction failed and was kept as empty), so it listed other
nodes' groups and named itself their coordinator.

librdkafka's C Admin API (rdk_admin, as in the kafka_rdkafka suite) against
the three nodes: groups listed and described while a member is in and after
it left, offsets listed, altered, deleted, records deleted, configs,
partitions added, groups and topics deleted; a NOT_COORDINATOR answer to
its ListConsumerGroupOffsets crashes librdkafka 2.0 (issue 5040), which the
view mix-up above caused.
"""
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration', 'kafka'))
from kharness import (NodeTestCase, built, create_topic_retrying, kproto, main,  # noqa: E402
                      require_module, wait_for)
from test_groups import (assignment, heartbeat_raw, join_raw, subscription,  # noqa: E402
                         sync_raw)

LIST_GROUPS, OFFSET_FETCH = 16, 9
kproto.FLEXIBLE_FROM.setdefault(LIST_GROUPS, 3)
kproto.FLEXIBLE_FROM.setdefault(OFFSET_FETCH, 6)
GROUPS = 8


def list_groups(conn):
    """ListGroups v4 (no state filter): {group: state}."""
    body = conn.call(LIST_GROUPS, 4, bytes(kproto.W().uvarint(1).tags()),
                     flexible_response=True)
    r = kproto.R(body)
    r.i32()
    err = r.i16()
    if err:
        raise AssertionError('ListGroups error %d' % err)
    out = {}
    for _ in range(r.uvarint() - 1):
        gid = r.cstring()
        r.cstring()  # protocol type
        state = r.cstring()
        r.skip_tags()
        out[gid] = state
    return out


def find_coordinator(conn, group):
    err, _msg, node, _host, _port = kproto.parse_find_coordinator(
        conn.call(kproto.FIND_COORDINATOR, 1, kproto.find_coordinator_body(1, group)), 1)
    return node if err == 0 else -err


def offset_fetch(conn, group, topic, parts):
    """OffsetFetch v7: (group error, {partition: (offset, error)})."""
    w = kproto.W().cstring(group)
    kproto.topic_partitions(w, [(topic, parts)], True)
    w.bool(False).tags()
    r = kproto.R(conn.call(OFFSET_FETCH, 7, bytes(w), flexible_response=True))
    r.i32()
    got = {}
    for _ in range(r.uvarint() - 1):
        r.cstring()
        for _ in range(r.uvarint() - 1):
            p, off = r.i32(), r.i64()
            r.i32()
            r.cstring()
            got[p] = (off, r.i16())
            r.skip_tags()
        r.skip_tags()
    return r.i16(), got


def broker_count(conn):
    brokers, _ctl, _topics = kproto.parse_metadata(
        conn.call(kproto.METADATA, 1, kproto.metadata_body(1, [])), 1)
    return len(brokers)


class GroupViews(NodeTestCase):

    def setUp(self):
        super().setUp()
        self.ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        self.nodes3 = self.cluster('gv')
        self.bootstrap = ','.join(n.bootstrap for n in self.nodes3)
        self.admin = AdminClient({'bootstrap.servers': self.bootstrap})
        wait_for(lambda: len(self.admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = 'gv%d' % int(time.time() * 1000)
        create_topic_retrying(self.admin, NewTopic(self.topic, 2, 3))

    def conns(self):
        out = [kproto.Conn('127.0.0.1', n.ports['kafka']) for n in self.nodes3]
        for c in out:
            self.addCleanup(c.close)
        return out

    def commit(self, group, offset):
        c = self.ck.Consumer({'bootstrap.servers': self.bootstrap, 'group.id': group,
                              'enable.auto.commit': False})
        try:
            c.commit(offsets=[self.ck.TopicPartition(self.topic, p, offset + p)
                              for p in (0, 1)], asynchronous=False)
        finally:
            c.close()

    def test_every_node_agrees_on_groups(self):
        groups = ['%s-g%d' % (self.topic, i) for i in range(GROUPS)]
        for i, g in enumerate(groups):
            self.commit(g, 10 * i + 5)
        conns = self.conns()
        for rnd in range(2):
            if rnd:
                self.commit(groups[0], 5)  # one more metadata change
            # ListGroups first, right after the change: the case that failed.
            listed = [list_groups(c) for c in conns]
            self.assertEqual([broker_count(c) for c in conns], [3, 3, 3],
                             'brokers in Metadata on nodes 1-3 after ListGroups')
            for i, g in enumerate(groups):
                coord = {find_coordinator(c, g) for c in conns}
                self.assertEqual(len(coord), 1, 'nodes name coordinators %s for %s' % (coord, g))
                coord = coord.pop()
                self.assertIn(coord, (1, 2, 3), 'coordinator of %s' % g)
                where = [n.node_id for n, got in zip(self.nodes3, listed) if g in got]
                self.assertEqual(where, [coord], '%s listed by nodes %s, coordinator %d'
                                 % (g, where, coord))
                self.assertEqual(listed[coord - 1][g], 'Empty')
                for n, c in zip(self.nodes3, conns):
                    err, got = offset_fetch(c, g, self.topic, [0, 1])
                    self.assertEqual((err, got), (0, {0: (10 * i + 5, 0), 1: (10 * i + 6, 0)}),
                                     'OffsetFetch of %s on node %d' % (g, n.node_id))

    def test_librdkafka_admin_api(self):
        exe = built('CHRONIK_RDK_ADMIN', 'tests/integration/kafka/rdk_admin')
        if not exe:
            raise unittest.SkipTest('rdk_admin not built (librdkafka-dev missing)')
        for i in range(3):
            topic = '%s-adm%d' % (self.topic, i)
            p = subprocess.run([exe, self.bootstrap, topic], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=600)
            out = p.stdout.decode('utf-8', 'replace')
            sys.stderr.write(out)
            if p.returncode != 0 or 'result failed=0' not in out:
                self.fail('rdk_admin run %d exited %d\n%s\n%s' % (
                    i, p.returncode, out, p.stderr.decode('utf-8', 'replace')[-3000:]))


class CoordinatorsStay(NodeTestCase):
    """A broker stopping and starting again moves only the groups it
    coordinates (rendezvous hashing): the others keep their coordinator
    and their members (Kafka moves a group only with its __consumer_offsets
    partition's leadership). The pick was the group's hash modulo the
    unfenced brokers, so one broker's fencing re-dealt most groups between
    the healthy ones, and every member of those rebalanced, twice."""

    def test_restart_moves_only_its_groups(self):
        nodes = self.cluster('stay')
        probe = kproto.Conn('127.0.0.1', nodes[0].ports['kafka'], timeout=15)
        self.addCleanup(probe.close)
        wait_for(lambda: broker_count(probe) == 3, 30, 'three brokers registered')
        groups = ['stay-g%d' % i for i in range(60)]

        def coordinators():
            return {g: find_coordinator(probe, g) for g in groups}
        before = coordinators()
        self.assertEqual(set(before.values()), {1, 2, 3}, 'groups spread: %s' % before)
        kept = {g: c for g, c in before.items() if c != 3}
        moved = []

        def check(now, want_on_3):
            changed = {g: (kept[g], now[g]) for g in kept if now[g] != kept[g]}
            self.assertEqual(changed, {}, 'groups of nodes 1-2 moved (from, to)')
            on3 = [g for g in groups if now[g] == 3]
            moved.append(len(on3))
            return on3 == want_on_3
        nodes[2].stop()
        wait_for(lambda: check(coordinators(), []), 30, 'node 3\'s groups moved away')
        nodes[2].start()
        wait_for(lambda: check(coordinators(), [g for g in groups if before[g] == 3]), 60,
                 'node 3\'s groups back on it')
        self.assertEqual(coordinators(), before)


class GroupTakenOver(NodeTestCase):
    """A group's coordinator stopping (or coming back) moved the group to a
    broker that did not know its members: every member's heartbeat got
    UNKNOWN_MEMBER_ID, its commit failed, and the whole group rebalanced
    (records since the last commit delivered again). The membership is now
    stored at each completed rebalance and loaded by the next coordinator."""

    def setUp(self):
        super().setUp()
        require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        self.nodes3 = self.cluster('takeover')
        self.bootstrap = ','.join(n.bootstrap for n in self.nodes3)
        admin = AdminClient({'bootstrap.servers': self.bootstrap})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        self.topic = 'to%d' % int(time.time() * 1000)
        create_topic_retrying(admin, NewTopic(self.topic, 2, 3))
        self.probe = self.conn(self.nodes3[0])

    def conn(self, node):
        c = kproto.Conn('127.0.0.1', node.ports['kafka'], timeout=60)
        self.addCleanup(c.close)
        return c

    def group_on(self, node_id, prefix):
        for i in range(500):
            g = '%s-%d' % (prefix, i)
            if find_coordinator(self.probe, g) == node_id:
                return g
        self.fail('no group of node %d' % node_id)

    def lone_member(self, conn, group):
        """Joins GROUP through CONN as its only member, which takes both
        partitions: (generation, member id, assignment)."""
        err, gen, _, mid, _ = join_raw(conn, group, '', None, subscription(self.topic))
        if err == 79:  # MEMBER_ID_REQUIRED
            err, gen, _, mid, _ = join_raw(conn, group, mid, None, subscription(self.topic))
        self.assertEqual(err, 0)
        mine = assignment(self.topic, [0, 1])
        self.assertEqual(sync_raw(conn, group, gen, mid, None, [(mid, mine)]), (0, mine))
        return gen, mid, mine

    def test_member_keeps_its_generation(self):
        group = self.group_on(3, 'to-raw')
        c3 = self.conn(self.nodes3[2])
        gen, mid, mine = self.lone_member(c3, group)

        def commit(c, offset):
            key, ver, body = commit_request(group, gen, mid, self.topic, offset)
            return commit_error(c.call(key, ver, body))
        self.assertEqual(commit(c3, 10), 0)
        self.nodes3[2].stop()
        wait_for(lambda: find_coordinator(self.probe, group) in (1, 2), 30,
                 'the group moved off the stopped node')
        cn = self.conn(self.nodes3[find_coordinator(self.probe, group) - 1])
        self.assertEqual(list_groups(cn).get(group), 'Stable',
                         'the group as ListGroups on the new coordinator shows it')
        self.assertEqual(heartbeat_raw(cn, group, gen, mid, None), 0,
                         'heartbeat of the member on the new coordinator')
        self.assertEqual(sync_raw(cn, group, gen, mid, None), (0, mine),
                         'SyncGroup of the generation on the new coordinator')
        self.assertEqual(commit(cn, 20), 0, 'commit of the generation on the new coordinator')
        self.assertEqual(offset_fetch(cn, group, self.topic, [0]), (0, {0: (20, 0)}))
        self.nodes3[2].start()
        wait_for(lambda: find_coordinator(self.probe, group) == 3, 60,
                 'the group back on node 3')
        c3 = self.conn(self.nodes3[2])
        self.assertEqual(heartbeat_raw(c3, group, gen, mid, None), 0,
                         'heartbeat of the member on node 3 after its restart')
        self.assertEqual(commit(c3, 30), 0)
        self.assertTrue(self.nodes3[2].log_grep('group %s taken over at generation %d'
                                                % (group, gen)), self.nodes3[2].log_tail())

    def test_static_member_back_then_moved(self):
        """A static member that came back under a new member id (KIP-345,
        no rebalance) is stored with it: on the next coordinator its
        heartbeat is answered, not FENCED_INSTANCE_ID (fatal in clients)
        because the stored membership still named its old id."""
        group = self.group_on(3, 'to-static')
        c3 = self.conn(self.nodes3[2])
        meta = subscription(self.topic)
        err, gen, _, mid, _ = join_raw(c3, group, '', 'inst-a', meta)
        self.assertEqual(err, 0)
        mine = assignment(self.topic, [0, 1])
        self.assertEqual(sync_raw(c3, group, gen, mid, 'inst-a', [(mid, mine)]), (0, mine))
        # The consumer restarts: a join with no member id, same protocols.
        c3b = self.conn(self.nodes3[2])
        err, gen2, _, mid2, _ = join_raw(c3b, group, '', 'inst-a', meta)
        self.assertEqual((err, gen2), (0, gen))
        self.assertNotEqual(mid2, mid)
        self.assertEqual(sync_raw(c3b, group, gen, mid2, 'inst-a'), (0, mine))
        self.nodes3[2].stop()
        wait_for(lambda: find_coordinator(self.probe, group) in (1, 2), 30,
                 'the group moved off the stopped node')
        cn = self.conn(self.nodes3[find_coordinator(self.probe, group) - 1])
        self.assertEqual(heartbeat_raw(cn, group, gen, mid2, 'inst-a'), 0,
                         'heartbeat of the static member\'s new id on the new coordinator')
        self.assertEqual(heartbeat_raw(cn, group, gen, mid, 'inst-a'), 82,
                         'its old id is fenced')

    def test_gone_member_expires(self):
        """A group taken over whose member is gone (nobody asks the new
        coordinator about it) is loaded anyway: its member's session runs
        out and the group empties, its stored membership dropped."""
        group = self.group_on(3, 'to-gone')
        c3 = self.conn(self.nodes3[2])
        gen, mid, mine = self.lone_member(c3, group)
        key, ver, body = commit_request(group, gen, mid, self.topic, 10)
        self.assertEqual(commit_error(c3.call(key, ver, body)), 0)  # listed once Empty
        self.nodes3[2].stop()
        wait_for(lambda: find_coordinator(self.probe, group) in (1, 2), 30,
                 'the group moved off the stopped node')
        new = self.nodes3[find_coordinator(self.probe, group) - 1]
        time.sleep(13)  # the member's session (10 s) from the load, and more
        self.assertEqual(list_groups(self.conn(new)).get(group), 'Empty')
        self.assertTrue(new.log_grep('group %s taken over at generation %d' % (group, gen)),
                        new.log_tail())

    def test_consumer_not_rebalanced(self):
        """A confluent-kafka consumer keeps its assignment (on_assign once)
        and its place while its coordinator's node stops and comes back."""
        import confluent_kafka as ck
        group = self.group_on(2, 'to-ck')
        p = ck.Producer({'bootstrap.servers': self.bootstrap, 'acks': 'all'})
        for i in range(200):
            p.produce(self.topic, value=b'r%d' % i, partition=i % 2)
        self.assertEqual(p.flush(30), 0)
        assigned = []
        c = ck.Consumer({'bootstrap.servers': self.bootstrap, 'group.id': group,
                         'auto.offset.reset': 'earliest', 'session.timeout.ms': 10000,
                         'heartbeat.interval.ms': 500})
        self.addCleanup(c.close)
        c.subscribe([self.topic], on_assign=lambda _c, ps: assigned.append(len(ps)))
        seen = set()

        def consume(secs):
            end = time.time() + secs
            while time.time() < end:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    seen.add(m.value())
                    c.commit(message=m, asynchronous=True)
        wait_for(lambda: consume(0.5) or len(seen) == 200, 60, 'the first 200 records')
        self.assertEqual(assigned, [2])
        self.nodes3[1].stop()
        wait_for(lambda: find_coordinator(self.probe, group) in (1, 3), 30,
                 'the group moved off the stopped node')
        for i in range(200, 300):
            p.produce(self.topic, value=b'r%d' % i, partition=i % 2)
        self.assertEqual(p.flush(30), 0)
        wait_for(lambda: consume(0.5) or len(seen) == 300, 60, 'records after the move')
        consume(3)  # heartbeats to the new coordinator
        self.nodes3[1].start()
        wait_for(lambda: consume(0.5) or find_coordinator(self.probe, group) == 2, 60,
                 'the group back on node 2')
        consume(5)
        self.assertEqual(assigned, [2], 'assignments (a rebalance assigns again)')
        self.assertEqual(len(seen), 300)


def commit_request(group, gen, member, topic, offset):
    """OffsetCommit v5 of partition 0 of TOPIC at OFFSET, by MEMBER of
    generation GEN: (api key, version, body)."""
    w = kproto.W().string(group).i32(gen).string(member).i32(1).string(topic)
    w.i32(1).i32(0).i64(offset).string('')
    return 8, 5, bytes(w)  # OffsetCommit


def commit_error(body):
    """Partition 0's error in an OffsetCommit v5 response."""
    r = kproto.R(body)
    r.i32()  # throttle_time_ms
    topics = r.array(lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i16()))))
    return topics[0][1][0][1]


class PausedCoordinator(NodeTestCase):
    """A coordinator whose node is stopped (SIGSTOP of every process: a VM
    pause, a stall) past broker_session_ms is fenced, and its groups move to
    another broker, where they go on with new members and commits. When it
    runs again, the commit a member of before the pause had sent it must
    not be stored over them: Kafka's new coordinator owns the group's log
    (the old one cannot append); here the old one drops its groups'
    members and syncs its metadata before it handles a request. It stored
    the stale commit through Raft (answered 0), and every node then
    fetched it: records skipped or read again."""

    def test_stale_member_cannot_commit_after_the_pause(self):
        nodes = self.cluster('paused-coord')
        require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({'bootstrap.servers': ','.join(n.bootstrap for n in nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        topic, group = 'pc%d' % int(time.time() * 1000), 'pc-group'
        create_topic_retrying(admin, NewTopic(topic, 1, 3))
        probe = kproto.Conn('127.0.0.1', nodes[0].ports['kafka'], timeout=15)
        self.addCleanup(probe.close)
        old_id = find_coordinator(probe, group)
        self.assertIn(old_id, (1, 2, 3))
        old = nodes[old_id - 1]
        others = [n for n in nodes if n is not old]

        def member(node):
            c = kproto.Conn('127.0.0.1', node.ports['kafka'], timeout=60)
            self.addCleanup(c.close)
            err, gen, _, mid, _ = join_raw(c, group, '', None, subscription(topic))
            if err == 79:  # MEMBER_ID_REQUIRED: join again with the id given
                err, gen, _, mid, _ = join_raw(c, group, mid, None, subscription(topic))
            self.assertEqual(err, 0)
            self.assertEqual(sync_raw(c, group, gen, mid, None,
                                      [(mid, assignment(topic, [0]))])[0], 0)
            return c, gen, mid

        def commit(c, gen, mid, offset):
            key, ver, body = commit_request(group, gen, mid, topic, offset)
            return commit_error(c.call(key, ver, body))
        c_old, gen_old, mid_old = member(old)
        self.assertEqual(commit(c_old, gen_old, mid_old, 50), 0)
        pids = old.pids()
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            c2 = kproto.Conn('127.0.0.1', others[0].ports['kafka'], timeout=15)
            self.addCleanup(c2.close)
            wait_for(lambda: find_coordinator(c2, group) not in (old_id, -15), 30,
                     'the group moved off the stopped node')
            new = nodes[find_coordinator(c2, group) - 1]
            c_new, gen_new, mid_new = member(new)
            self.assertEqual(commit(c_new, gen_new, mid_new, 100), 0)
            # The stale member's commit waits in the stopped node's socket.
            key, ver, body = commit_request(group, gen_old, mid_old, topic, 500)
            c_old.send_raw(kproto.request(key, ver, 77, body))
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)
        corr, body = c_old.recv_frame()
        self.assertEqual(corr, 77)
        self.assertNotEqual(commit_error(body), 0, 'the stale member\'s commit was accepted')
        for n in others:
            c = kproto.Conn('127.0.0.1', n.ports['kafka'], timeout=15)
            self.addCleanup(c.close)
            self.assertEqual(offset_fetch(c, group, topic, [0]), (0, {0: (100, 0)}),
                             'offsets on node %d' % n.node_id)
        self.assertTrue(old.log_grep('did not run for'), old.log_tail())

class PausedRaftd(NodeTestCase):
    """The same with only the coordinator's raftd stopped: its
    kafka-frontend runs on, still finds itself the coordinator in its
    metadata (which nothing updates) and takes a member's commit, whose
    proposal waits in raftd's socket. The node is fenced, the group moves
    and a newer offset is committed there. When raftd runs again the held
    commit reached the log after the fence and was stored over the newer
    one (answered 0: the committed offset went back, a consumer-group
    helper found); it is now answered REQUEST_TIMED_OUT after Kafka's
    offsets.commit.timeout.ms, and refused when raftd proposes it. A commit now says which metadata its coordinator looked
    at, and is refused (NOT_COORDINATOR) when a broker was fenced,
    unfenced or registered after it. Meanwhile the old coordinator went on
    answering its member's heartbeats (two coordinators handing out the
    same partitions): once raftd has not answered for a session less a
    second, kafka-frontend drops its groups and takes no group request
    until raftd is back."""

    def test_held_commit_of_a_deposed_coordinator_refused(self):
        nodes = self.cluster('paused-raftd')
        require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({'bootstrap.servers': ','.join(n.bootstrap for n in nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        topic, group = 'pr%d' % int(time.time() * 1000), 'pr-group'
        create_topic_retrying(admin, NewTopic(topic, 1, 3))
        probe = kproto.Conn('127.0.0.1', nodes[0].ports['kafka'], timeout=15)
        self.addCleanup(probe.close)
        old_id = find_coordinator(probe, group)
        self.assertIn(old_id, (1, 2, 3))
        old = nodes[old_id - 1]
        others = [n for n in nodes if n is not old]
        c_old = kproto.Conn('127.0.0.1', old.ports['kafka'], timeout=60)
        self.addCleanup(c_old.close)
        err, gen, _, mid, _ = join_raw(c_old, group, '', None, subscription(topic))
        if err == 79:  # MEMBER_ID_REQUIRED: join again with the id given
            err, gen, _, mid, _ = join_raw(c_old, group, mid, None, subscription(topic))
        self.assertEqual(err, 0)
        self.assertEqual(sync_raw(c_old, group, gen, mid, None,
                                  [(mid, assignment(topic, [0]))])[0], 0)
        key, ver, body = commit_request(group, gen, mid, topic, 10)
        self.assertEqual(commit_error(c_old.call(key, ver, body)), 0)
        raftd = old.child('raftd')['pid']
        os.kill(raftd, signal.SIGSTOP)
        try:
            key, ver, body = commit_request(group, gen, mid, topic, 20)
            c_old.send_raw(kproto.request(key, ver, 77, body))
            sent = time.time()
            c2 = kproto.Conn('127.0.0.1', others[0].ports['kafka'], timeout=15)
            self.addCleanup(c2.close)
            wait_for(lambda: find_coordinator(c2, group) not in (old_id, -15), 30,
                     'the group moved off the node whose raftd is stopped')
            new = nodes[find_coordinator(c2, group) - 1]
            c_new = kproto.Conn('127.0.0.1', new.ports['kafka'], timeout=15)
            self.addCleanup(c_new.close)
            # The new coordinator took the group over with its member, who
            # commits there at its generation.
            key, ver, body = commit_request(group, gen, mid, topic, 500)
            self.assertEqual(commit_error(c_new.call(key, ver, body)), 0)
            # The old coordinator keeps its member no more: no answer while
            # raftd is stopped, or an error.
            c_hb = kproto.Conn('127.0.0.1', old.ports['kafka'], timeout=3)
            self.addCleanup(c_hb.close)
            try:
                hb = heartbeat_raw(c_hb, group, gen, mid, None)
            except (OSError, kproto.Closed):
                hb = None
            self.assertNotEqual(hb, 0, 'the deposed coordinator still answers heartbeats')
            # The held commit is answered after offsets.commit.timeout.ms
            # (5 s), REQUEST_TIMED_OUT, while raftd is still stopped: not
            # held for the request timeout (30 s) with its member.
            corr, body = c_old.recv_frame()
            self.assertEqual(corr, 77)
            self.assertEqual(commit_error(body), 7, 'the held commit\'s answer')
            self.assertLess(time.time() - sent, 15, 'seconds until the held commit\'s answer')
        finally:
            os.kill(raftd, signal.SIGCONT)
        for n in nodes:
            c = kproto.Conn('127.0.0.1', n.ports['kafka'], timeout=15)
            self.addCleanup(c.close)
            wait_for(lambda: offset_fetch(c, group, topic, [0]) == (0, {0: (500, 0)}), 15,
                     'offset 500 on node %d' % n.node_id)


class CutOffNode(NodeTestCase):
    """Any node answers OffsetFetch after one sync through the Raft leader,
    so that a commit acknowledged anywhere is there first. A node that
    cannot sync (its raftd stopped here; cut off from the others, as an
    exploratory helper found it) answered, once the sync had timed out,
    the offsets it held with no error: older than the commit acknowledged
    meanwhile, which takes a consumer that reads its committed offsets
    (assign(), lag tools) back. It is COORDINATOR_NOT_AVAILABLE now, which
    clients retry."""

    def test_offset_fetch_without_sync_is_an_error(self):
        nodes = self.cluster('cut-off', '[kafka]\nrequest_timeout_ms = 3000\n')
        ck = require_module('confluent_kafka')
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({'bootstrap.servers': ','.join(n.bootstrap for n in nodes)})
        wait_for(lambda: len(admin.list_topics(timeout=5).brokers) == 3, 30,
                 'three brokers registered')
        topic, group = 'co%d' % int(time.time() * 1000), 'co-group'
        create_topic_retrying(admin, NewTopic(topic, 1, 3))
        cut, others = nodes[2], nodes[:2]

        def commit(offset, bootstrap):
            c = ck.Consumer({'bootstrap.servers': bootstrap, 'group.id': group,
                             'enable.auto.commit': False})
            try:
                c.commit(offsets=[ck.TopicPartition(topic, 0, offset)], asynchronous=False)
                return True
            except ck.KafkaException:
                return False
            finally:
                c.close()

        wait_for(lambda: commit(100, ','.join(n.bootstrap for n in nodes)), 30, 'commit 100')
        c_cut = kproto.Conn('127.0.0.1', cut.ports['kafka'], timeout=30)
        self.addCleanup(c_cut.close)
        wait_for(lambda: offset_fetch(c_cut, group, topic, [0]) == (0, {0: (100, 0)}), 15,
                 'offset 100 on node 3')
        raftd = cut.child('raftd')['pid']
        os.kill(raftd, signal.SIGSTOP)
        try:
            wait_for(lambda: commit(200, ','.join(n.bootstrap for n in others)), 60,
                     'commit 200 through nodes 1 and 2')
            err, got = offset_fetch(c_cut, group, topic, [0])
            self.assertEqual((err, got), (15, {0: (-1, 0)}),
                             'OffsetFetch on the node that cannot sync')
            self.assertTrue(cut.log_grep('metadata sync failed'), cut.log_tail())
        finally:
            os.kill(raftd, signal.SIGCONT)
        wait_for(lambda: offset_fetch(c_cut, group, topic, [0]) == (0, {0: (200, 0)}), 30,
                 'offset 200 on node 3 once its raftd runs')


if __name__ == '__main__':
    main()
