#!/usr/bin/python3
"""test_groups.py: consumer groups (JoinGroup, SyncGroup, Heartbeat,
LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
DeleteGroups, FindCoordinator) as a Kafka user sees them through
confluent-kafka (librdkafka 2.0.2), kafka-python 2.0.2 and kcat -G.

Owned by the Kafka integration tests. Each case starts its own node (the
last case a three-node cluster) and first checks that ApiVersions
advertises the group APIs it needs. Records carry their id ("<id>:grp-..."),
are produced with acks=all to partition id % partitions, and every record a
group consumer gets back is checked against what was acknowledged: value,
partition, offset, never twice, none missing, none from before a committed
offset.
  GroupsConfluent.test_static_member_restart_keeps_assignment: a static
    member (group.instance.id) closed and started again within its session
    gets its partitions back; the other member is not rebalanced.
  GroupsConfluent.test_static_member_replaced_is_fenced_raw: raw requests:
    once a JoinGroup with no member id and instance id "X" replaced the
    member of "X", the old member id's Heartbeat, SyncGroup, JoinGroup,
    OffsetCommit and LeaveGroup naming "X" are FENCED_INSTANCE_ID (82), not
    UNKNOWN_MEMBER_ID; the new member keeps the old one's assignment.
  GroupsConfluent.test_static_member_duplicate_stops_fenced: of two
    confluent-kafka consumers with one group.instance.id the first stops
    with librdkafka's fatal "fenced" error (before, the two replaced each
    other every second, both reading the same partitions); the second keeps
    all partitions and reads the later records exactly once.
  GroupsConfluent.test_commit_and_resume: 1,000 records over 4 partitions
    consumed by a subscribed consumer, committed synchronously; committed()
    from another consumer of the group equals each partition's end offset;
    500 more records: a new member gets exactly those.
  GroupsConfluent.test_two_members_split_and_takeover: two members of one
    group on 6 partitions get disjoint, non-empty assignments covering all
    6, and together read 600 records exactly once; both commit; one closes
    (LeaveGroup) and the other gets all 6 partitions within 30 s and reads
    exactly the 600 records produced after.
  GroupsConfluent.test_offsets_survive_kill9_restart: committed offsets
    (the last of two commits of a partition wins) are the same after kill -9
    of the whole node and a restart, and a new member resumes from them.
  GroupsConfluent.test_simple_consumer_commit_list_delete: a consumer with
    group.id that only assign()s commits offset 5 (Kafka accepts commits of
    a group without members); committed() gives 5, an assign() without an
    offset starts there; kafka-python's admin lists the group, describes it
    Empty, lists its offsets; DeleteGroups of a group with a member is
    NON_EMPTY_GROUP, of the emptied group succeeds (offsets gone, the group
    no longer listed, committed() back to none), of a deleted group is
    GROUP_ID_NOT_FOUND.
  GroupsConfluent.test_offsets_expire: with offsets_retention_ms 4 s, a
    memberless group's offsets expire no sooner than the retention after its
    commit and the group is no longer listed; a subscribed member's group
    keeps its offsets of the topic subscribed past the retention (not that
    of another topic) and loses them a retention after the member leaves; an offset committed again stays until its own
    retention has passed.
  GroupsConfluent.test_commit_errors_raw: OffsetCommit (raw request, the
    highest version of 2-7 served) against a Stable group is refused with
    UNKNOWN_MEMBER_ID for an unknown member and for a memberless commit,
    ILLEGAL_GENERATION for the real member at a wrong generation, and the
    committed offsets stay as they were.
  GroupsKafkaPython.test_commit_resume_and_admin: KafkaConsumer with
    group_id consumes and commit()s; while it is a member, ListGroups has
    the group (protocol type "consumer") and DescribeGroups says Stable with
    one member holding all partitions; list_consumer_group_offsets gives
    the commits; after close the group is Empty; a new KafkaConsumer of the
    group gets only the records produced after.
  GroupsKcat.test_balanced_consumer_resumes: kcat -G reads exactly the
    records, commits on exit (auto commit), and a second kcat -G run of the
    group reads exactly the records produced since.
  GroupsCluster.test_offsets_survive_coordinator_kill: three nodes, a topic
    with replication factor 3; a group commits through node 1; the group's
    coordinator (FindCoordinator) is killed with kill -9 of its whole node;
    FindCoordinator then names a live node, committed() through the
    surviving nodes gives the offsets, a new member reads exactly the later
    records and commits; the killed node restarts and a consumer bootstrapped
    from it alone sees the latest commit.
Session timeouts are 6-10 s, heartbeats 1 s; every wait has a timeout and
every client is closed, also when a case fails.
"""
import collections
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kharness import (NodeTestCase, admin_client, create_topic, kproto, main,  # noqa: E402
                      require_module, topic_name, wait_for, wait_topic)

ck = require_module('confluent_kafka')
kafka = require_module('kafka')
from kafka import KafkaConsumer, TopicPartition  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402
from kafka import errors as kerr  # noqa: E402

KCAT = '/usr/bin/kcat'

# API keys of the group protocol.
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 15, 16, 42, 47
GROUP_APIS = {OFFSET_COMMIT: 'OffsetCommit', OFFSET_FETCH: 'OffsetFetch',
              FIND_COORDINATOR: 'FindCoordinator', JOIN_GROUP: 'JoinGroup',
              HEARTBEAT: 'Heartbeat', LEAVE_GROUP: 'LeaveGroup', SYNC_GROUP: 'SyncGroup',
              DESCRIBE_GROUPS: 'DescribeGroups', LIST_GROUPS: 'ListGroups'}

# Kafka error codes a case expects.
ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID = 22, 25, 82
UNKNOWN_TOPIC_OR_PARTITION, INVALID_GROUP_ID, GROUP_ID_NOT_FOUND = 3, 24, 69
INVALID_COMMIT_OFFSET_SIZE = 28
GROUP_SUBSCRIBED_TO_TOPIC = 86

JOIN_S = 45       # a first member joins, gets its assignment and reads what is there
REBALANCE_S = 30  # a rebalance after a member left
SETTLE_S = 2.0    # polling on after the last expected record, to catch extra ones
COMMITTED_S = 30  # committed() retried while it answers with an error

Rec = collections.namedtuple('Rec', 'who id partition offset value')


# ---------------------------------------------------------------- records

def val(i):
    return b'%d:grp-%d' % (i, (i * 7919) % 100000)


def id_of(value):
    head, sep, _ = (value or b'').partition(b':')
    return int(head) if sep and head.isdigit() else None


def bootstrap_of(nodes):
    return ','.join(n.bootstrap for n in nodes)


def produce_ids(bootstrap, topic, ids, partitions):
    """Produces val(i) for each i of IDS to partition i % PARTITIONS with
    acks=all; returns {id: (partition, offset)} of the acknowledged ones,
    failing unless every one was acknowledged."""
    acked, errors = {}, []

    def done(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[id_of(msg.value())] = (msg.partition(), msg.offset())
    p = ck.Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'linger.ms': 5,
                     'message.timeout.ms': 60000})
    for i in ids:
        p.produce(topic, val(i), partition=i % partitions, on_delivery=done)
        p.poll(0)
    left = p.flush(90)
    ids = list(ids)
    if left or errors or len(acked) != len(ids):
        raise AssertionError('produced %d records, %d acknowledged, %d still queued, errors %s'
                             % (len(ids), len(acked), left, errors[:5]))
    return acked


def ends_of(expected, partitions):
    """{partition: end offset} after the records of EXPECTED ({id: (p, o)})."""
    ends = {p: 0 for p in range(partitions)}
    for p, o in expected.values():
        ends[p] = max(ends[p], o + 1)
    return ends


def describe_got(got, expected):
    """What went wrong between GOT (Recs) and EXPECTED ({id: (p, o)}), or
    None when GOT is exactly EXPECTED, each record once, intact."""
    ids = [r.id for r in got]
    seen = set(ids)
    dups = len(ids) - len(seen)
    missing = sorted(set(expected) - seen)
    extra = sorted(i for i in seen if i not in expected)
    bad = [r for r in got if r.id in expected and
           (r.value != val(r.id) or (r.partition, r.offset) != expected[r.id])]
    if not (dups or missing or extra or bad):
        return None
    return ('%d records back (%d distinct), %d expected: %d missing %s, %d unexpected %s, '
            '%d duplicates, %d altered or misplaced %s'
            % (len(got), len(seen), len(expected), len(missing), missing[:10], len(extra),
               extra[:10], dups, len(bad), [tuple(r) for r in bad[:3]]))


# ---------------------------------------------------------------- raw requests

def api_versions(node):
    c = kproto.Conn(node.host, node.kafka_port, timeout=10)
    try:
        err, keys = kproto.parse_api_versions(c.call(kproto.API_VERSIONS, 0, b''))
    finally:
        c.close()
    if err != 0:
        raise AssertionError('ApiVersions error %d' % err)
    return keys


def find_coordinator(node, group):
    """FindCoordinator v0 to NODE: (error, node id, host, port)."""
    c = kproto.Conn(node.host, node.kafka_port, timeout=15)
    try:
        r = kproto.R(c.call(FIND_COORDINATOR, 0, bytes(kproto.W().string(group))))
    finally:
        c.close()
    return r.i16(), r.i32(), r.string(), r.i32()


def offset_commit_raw(node, group, generation, member, topic, partition, offset, metadata='',
                      instance=None):
    """One OffsetCommit (the highest version of 2-7 NODE serves) of TOPIC
    PARTITION (or each of a list of them) at OFFSET with METADATA, of group
    instance INSTANCE (None: none; it needs v7); returns {(topic,
    partition): error code}."""
    lo, hi = api_versions(node).get(OFFSET_COMMIT, (1, 0))
    ver = min(hi, 7)
    if ver < max(lo, 2):
        raise AssertionError('OffsetCommit versions %d-%d: none of 2-7 served' % (lo, hi))
    if instance is not None and ver < 7:
        raise AssertionError('OffsetCommit v%d has no group_instance_id' % ver)
    w = kproto.W().string(group).i32(generation).string(member)
    if ver >= 7:
        w.string(instance)  # group_instance_id
    if ver <= 4:
        w.i64(-1)  # retention_time_ms: the broker's
    parts = partition if isinstance(partition, list) else [partition]
    w.i32(1).string(topic).i32(len(parts))
    for p in parts:
        w.i32(p).i64(offset)
        if ver >= 6:
            w.i32(-1)  # committed_leader_epoch
        w.string(metadata)
    c = kproto.Conn(node.host, node.kafka_port, timeout=30)
    try:
        r = kproto.R(c.call(OFFSET_COMMIT, ver, bytes(w)))
    finally:
        c.close()
    if ver >= 3:
        r.i32()  # throttle_time_ms
    topics = r.array(lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i16()))))
    return {(t, p): e for t, parts in topics or [] for p, e in parts or []}


def subscription(topic):
    """Consumer protocol v0 metadata subscribing to TOPIC."""
    return bytes(kproto.W().i16(0).i32(1).string(topic).bytes_(None))


def assignment(topic, partitions):
    """Consumer protocol v0 assignment of PARTITIONS of TOPIC."""
    w = kproto.W().i16(0).i32(1).string(topic).i32(len(partitions))
    for p in partitions:
        w.i32(p)
    return bytes(w.bytes_(None))


def join_raw(conn, group, member, instance, meta):
    """JoinGroup v5 (the last version before flexible ones, the first with
    group_instance_id) of MEMBER ('' for a new one) with instance id
    INSTANCE and one protocol "range" of metadata META: (error,
    generation, leader, member id, [member ids listed])."""
    w = (kproto.W().string(group).i32(10000).i32(10000).string(member).string(instance)
         .string('consumer').i32(1).string('range').bytes_(meta))
    r = kproto.R(conn.call(JOIN_GROUP, 5, bytes(w)))
    r.i32()  # throttle_time_ms
    err, gen = r.i16(), r.i32()
    r.string()  # protocol_name
    leader, mid = r.string(), r.string()
    members = r.array(lambda x: (x.string(), x.string(), x.bytes_())) or []
    return err, gen, leader, mid, [m[0] for m in members]


def sync_raw(conn, group, gen, member, instance, assignments=()):
    """SyncGroup v3 of MEMBER (ASSIGNMENTS: [(member id, bytes)], the
    leader's): (error, assignment)."""
    w = kproto.W().string(group).i32(gen).string(member).string(instance).i32(len(assignments))
    for mid, data in assignments:
        w.string(mid).bytes_(data)
    r = kproto.R(conn.call(SYNC_GROUP, 3, bytes(w)))
    r.i32()  # throttle_time_ms
    return r.i16(), r.bytes_()


def heartbeat_raw(conn, group, gen, member, instance):
    """Heartbeat v3 of MEMBER with instance id INSTANCE: the error code."""
    w = kproto.W().string(group).i32(gen).string(member).string(instance)
    r = kproto.R(conn.call(HEARTBEAT, 3, bytes(w)))
    r.i32()  # throttle_time_ms
    return r.i16()


def leave_raw(conn, group, members):
    """LeaveGroup v3 of MEMBERS ([(member id, instance id)]): (error,
    [(member id, instance id, error)])."""
    w = kproto.W().string(group).i32(len(members))
    for mid, inst in members:
        w.string(mid).string(inst)
    r = kproto.R(conn.call(LEAVE_GROUP, 3, bytes(w)))
    r.i32()  # throttle_time_ms
    err = r.i16()
    return err, r.array(lambda x: (x.string(), x.string(), x.i16())) or []


def offset_delete_raw(node, group, parts):
    """OffsetDelete v0 of PARTS ([(topic, partition)]) of GROUP: (group
    error, {(topic, partition): error code})."""
    by_topic = collections.OrderedDict()
    for t, p in parts:
        by_topic.setdefault(t, []).append(p)
    w = kproto.W().string(group).i32(len(by_topic))
    for t, ps in by_topic.items():
        w.string(t).i32(len(ps))
        for p in ps:
            w.i32(p)
    c = kproto.Conn(node.host, node.kafka_port, timeout=30)
    try:
        r = kproto.R(c.call(OFFSET_DELETE, 0, bytes(w)))
    finally:
        c.close()
    err = r.i16()
    r.i32()  # throttle_time_ms
    topics = r.array(lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i16()))))
    return err, {(t, p): e for t, ps in topics or [] for p, e in ps or []}


def error_summary(errors):
    """ERRORS ({text: count}) in a line."""
    return '; '.join('%s (x%d)' % (k, n) for k, n in list(errors.items())[:8]) or 'none'


def call_within(fn, timeout):
    """Runs FN in a daemon thread; (True, exception or None) when it
    returned within TIMEOUT s, else (False, None) (the thread is left)."""
    box = {}

    def run():
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - handed to the caller
            box['exc'] = e
        box['done'] = True
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    return bool(box.get('done')), box.get('exc')


# ---------------------------------------------------------------- cases

class GroupCase(NodeTestCase):
    """Helpers: clients closed at the end of the case (before its nodes
    stop), consuming with checks, committed() with retries, admin calls."""

    def setUp(self):
        super().setUp()
        self._closed = set()

    def require_group_apis(self, node, extra=()):
        """ApiVersions of NODE lists every group API (and EXTRA)."""
        keys = api_versions(node)
        want = dict(GROUP_APIS)
        for k in extra:
            want[k] = {DELETE_GROUPS: 'DeleteGroups'}.get(k, str(k))
        missing = ['%s(%d)' % (n, k) for k, n in sorted(want.items()) if k not in keys]
        if missing:
            self.fail('the broker does not advertise %s (ApiVersions lists keys %s)'
                      % (', '.join(missing), sorted(keys)))

    # -- clients

    def ck_consumer(self, bootstrap, group, **extra):
        conf = {'bootstrap.servers': bootstrap, 'group.id': group,
                'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
                'session.timeout.ms': 6000, 'heartbeat.interval.ms': 1000,
                'fetch.wait.max.ms': 100, 'client.id': 'grp-' + self.id().split('.')[-1][:30]}
        conf.update(extra)
        c = ck.Consumer(conf)
        self.addCleanup(self.close, c, 20, False)
        return c

    def kp_consumer(self, node, group, topic=None, **extra):
        kw = dict(bootstrap_servers=node.bootstrap, group_id=group,
                  auto_offset_reset='earliest', enable_auto_commit=False,
                  session_timeout_ms=10000, heartbeat_interval_ms=1000,
                  request_timeout_ms=40000)
        kw.update(extra)
        c = KafkaConsumer(*([topic] if topic else []), **kw)
        self.addCleanup(self.close, c, 20, False)
        return c

    def admin(self, node):
        a = admin_client(node)
        self.addCleanup(self.close, a, 20, False)
        return a

    def close(self, client, timeout=30, check=True):
        """Closes CLIENT once (a group member leaves its group). With CHECK
        the case fails when close() does not return within TIMEOUT s or
        raises."""
        if id(client) in self._closed:
            return
        self._closed.add(id(client))
        done, exc = call_within(client.close, timeout)
        if check and not done:
            self.fail('%s.close() did not return within %ds' % (type(client).__name__, timeout))
        if check and exc is not None:
            self.fail('%s.close() raised %r' % (type(client).__name__, exc))

    # -- consuming

    def pump(self, consumers, got, errors, secs):
        """Polls every consumer of CONSUMERS ({name: confluent Consumer}) for
        about SECS s in all, appending Recs to GOT and counting error events
        (other than partition EOF) in ERRORS ({text: count})."""
        end = time.monotonic() + secs
        while True:
            for name, c in consumers.items():
                for m in c.consume(num_messages=1000, timeout=0.05):
                    err = m.error()
                    if err is not None:
                        if err.code() != ck.KafkaError._PARTITION_EOF:
                            key = '%s: %s' % (name, err.str())
                            errors[key] = errors.get(key, 0) + 1
                        continue
                    got.append(Rec(name, id_of(m.value()), m.partition(), m.offset(),
                                   m.value()))
            if time.monotonic() >= end:
                return

    def consume_expect(self, consumers, expected, timeout=JOIN_S, what='records'):
        """Polls CONSUMERS until every id of EXPECTED ({id: (p, o)}) came back
        (at most TIMEOUT s), then SETTLE_S more; fails unless exactly
        EXPECTED came back. Returns the Recs."""
        got, errors = [], {}
        want = set(expected)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want <= {r.id for r in got}:
            self.pump(consumers, got, errors, 0.2)
        self.pump(consumers, got, errors, SETTLE_S)
        wrong = describe_got(got, expected)
        if wrong:
            self.fail('%s within %ds: %s; consumer errors: %s'
                      % (what, timeout, wrong, error_summary(errors)))
        return got

    def wait_assignment(self, consumers, topic, pred, timeout, what, quiet=True):
        """Polls CONSUMERS until PRED({name: set of partitions of TOPIC
        assigned}) holds (at most TIMEOUT s); returns those sets. QUIET: no
        record may arrive meanwhile."""
        got, errors = [], {}
        deadline = time.monotonic() + timeout
        while True:
            self.pump(consumers, got, errors, 0.2)
            asg = {n: {tp.partition for tp in c.assignment() if tp.topic == topic}
                   for n, c in consumers.items()}
            if pred(asg):
                break
            if time.monotonic() >= deadline:
                self.fail('no %s within %ds: assignments %s, consumer errors %s'
                          % (what, timeout, {n: sorted(a) for n, a in asg.items()},
                             error_summary(errors)))
        if quiet:
            self.assertEqual(got, [], 'records arrived while waiting for %s' % what)
        return asg

    def committed(self, consumer, topic, partitions, timeout=COMMITTED_S):
        """{partition: committed offset} from CONSUMER.committed(), retried
        while it raises or gives a partition error; the first clean answer
        counts."""
        tps = [ck.TopicPartition(topic, p) for p in range(partitions)]
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                res = consumer.committed(tps, timeout=10)
            except ck.KafkaException as e:
                last = e
                time.sleep(0.5)
                continue
            errs = [str(r.error) for r in res if r.error is not None]
            if errs:
                last = errs
                time.sleep(0.5)
                continue
            return {r.partition: r.offset for r in res}
        self.fail('committed() gave no answer without errors within %ds (last: %s)'
                  % (timeout, last))

    def commit_sync(self, consumer, offsets=None, timeout=60):
        """Consumer.commit(asynchronous=False) (it waits for a coordinator
        without a bound, so in a thread); fails on an exception, any
        partition error, or no answer within TIMEOUT s."""
        kw = {'asynchronous': False}
        if offsets is not None:
            kw['offsets'] = offsets
        box = {}
        done, exc = call_within(lambda: box.setdefault('res', consumer.commit(**kw)), timeout)
        if not done:
            self.fail('commit(asynchronous=False) did not return within %ds' % timeout)
        if exc is not None:
            self.fail('commit(asynchronous=False) raised %s' % exc)
        res = box.get('res')
        bad = [(r.topic, r.partition, str(r.error)) for r in res or [] if r.error is not None]
        self.assertEqual(bad, [], 'commit refused for some partitions')
        return res

    # -- admin (kafka-python)

    def group_state(self, admin, group):
        """(state, members) of GROUP from DescribeGroups."""
        d = admin.describe_consumer_groups([group])
        self.assertEqual(len(d), 1, 'describe_consumer_groups answered %r' % (d,))
        self.assertEqual(d[0].group, group)
        return d[0].state, d[0].members

    def wait_state(self, admin, group, state, timeout=REBALANCE_S):
        last = {}

        def ok():
            last['v'] = self.group_state(admin, group)
            return last['v'] if last['v'][0] == state else None
        try:
            return wait_for(ok, timeout, 'group %s %s' % (group, state), interval=0.5)
        except AssertionError:
            self.fail('group %s not %s within %ds: %s' % (group, state, timeout, last.get('v')))

    def group_offsets(self, admin, group, topic):
        """{partition: offset} of TOPIC that GROUP has committed
        (kafka-python list_consumer_group_offsets)."""
        offs = admin.list_consumer_group_offsets(group)
        other = [tp for tp in offs if tp.topic != topic]
        self.assertEqual(other, [], 'offsets listed for topics never committed')
        return {tp.partition: om.offset for tp, om in offs.items()}


class GroupsConfluent(GroupCase):

    def test_static_member_restart_keeps_assignment(self):
        """KIP-345: a static member (group.instance.id) that restarts within
        its session comes back to its partitions without a rebalance: the
        other member keeps its own, with no revocation (before, the
        coordinator removed the old entry and rebalanced the group)."""
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-static'), topic_name('g-static')
        create_topic(node, topic, 4)
        events = []

        def member(name):
            c = self.ck_consumer(node.bootstrap, group, **{'group.instance.id': name,
                                                           'session.timeout.ms': 10000})
            c.subscribe([topic],
                        on_assign=lambda _, ps: events.append(
                            (name, 'assign', sorted(p.partition for p in ps))),
                        on_revoke=lambda _, ps: events.append(
                            (name, 'revoke', sorted(p.partition for p in ps))))
            return c

        def pump(cs, secs, until=None):
            end = time.monotonic() + secs
            while time.monotonic() < end and not (until and until()):
                for c in cs:
                    c.poll(0.05)

        def owned():
            got = {}
            for name, what, ps in events:
                got[name] = ps if what == 'assign' else []
            return got
        a, b = member('static-a'), member('static-b')
        pump([a, b], 45, lambda: sorted(sum(owned().values(), [])) == [0, 1, 2, 3]
             and all(owned().get(n) for n in ('static-a', 'static-b')))
        before = owned()
        self.assertEqual(sorted(sum(before.values(), [])), [0, 1, 2, 3], events)
        self.close(b, check=False)  # a static member sends no LeaveGroup
        mark = len(events)
        pump([a], 1)
        b = member('static-b')
        pump([a, b], 30, lambda: any(e[0] == 'static-b' and e[1] == 'assign'
                                     for e in events[mark:]))
        pump([a, b], 3)  # a rebalance would revoke static-a's partitions now
        after = events[mark:]
        self.assertEqual([e for e in after if e[0] == 'static-a'], [],
                         'static-a was rebalanced: %r' % (after,))
        self.assertIn(('static-b', 'assign', before['static-b']), after)

    def test_static_member_replaced_is_fenced_raw(self):
        """KIP-345 fencing, raw requests: member MA of instance "X" is
        replaced by a JoinGroup with no member id and instance "X" (member
        MB); from then on MA's Heartbeat, SyncGroup, JoinGroup, OffsetCommit
        and LeaveGroup naming "X" are FENCED_INSTANCE_ID, which clients
        take as fatal (before, UNKNOWN_MEMBER_ID, on which librdkafka joins
        again with no member id and replaces MB in turn), each with a log
        line naming the group, the member and the instance id, and none of
        them disturbs MB, which keeps MA's assignment."""
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-fence'), topic_name('g-fence')
        create_topic(node, topic, 1)
        a = kproto.Conn(node.host, node.kafka_port, timeout=30)
        self.addCleanup(a.close)
        b = kproto.Conn(node.host, node.kafka_port, timeout=30)
        self.addCleanup(b.close)
        sub, asg = subscription(topic), assignment(topic, [0])
        err, gen, leader, ma, listed = join_raw(a, group, '', 'X', sub)
        self.assertEqual(err, 0, 'JoinGroup of the first member of instance X')
        self.assertEqual((leader, listed), (ma, [ma]))
        self.assertEqual(sync_raw(a, group, gen, ma, 'X', [(ma, asg)]), (0, asg))
        self.assertEqual(heartbeat_raw(a, group, gen, ma, 'X'), 0)

        err, gen_b, _, mb, _ = join_raw(b, group, '', 'X', sub)
        self.assertEqual(err, 0, 'JoinGroup with no member id of instance X again')
        self.assertNotEqual(mb, ma)
        self.assertEqual(gen_b, gen, 'a static member back in a Stable group: no rebalance')

        self.assertEqual(heartbeat_raw(a, group, gen, ma, 'X'), FENCED_INSTANCE_ID,
                         'Heartbeat of the replaced member')
        self.assertEqual(sync_raw(a, group, gen, ma, 'X')[0], FENCED_INSTANCE_ID,
                         'SyncGroup of the replaced member')
        self.assertEqual(join_raw(a, group, ma, 'X', sub)[0], FENCED_INSTANCE_ID,
                         'JoinGroup of the replaced member with its member id')
        self.assertEqual(offset_commit_raw(node, group, gen, ma, topic, 0, 3, instance='X'),
                         {(topic, 0): FENCED_INSTANCE_ID}, 'OffsetCommit of the replaced member')
        self.assertEqual(leave_raw(a, group, [(ma, 'X')]), (0, [(ma, 'X', FENCED_INSTANCE_ID)]),
                         'LeaveGroup of the replaced member')
        # An unknown member of an unknown instance: UNKNOWN_MEMBER_ID as before.
        self.assertEqual(heartbeat_raw(a, group, gen, 'nobody', 'Y'), UNKNOWN_MEMBER_ID)
        # The operator can find the duplicated group.instance.id in the log.
        fenced = node.log_grep('answered FENCED_INSTANCE_ID')
        self.assertEqual(sorted(ln.split(' of group')[0].split()[-1] for ln in fenced),
                         ['Heartbeat', 'JoinGroup', 'LeaveGroup', 'OffsetCommit', 'SyncGroup'])
        for ln in fenced:
            self.assertIn('group %s answered' % group, ln)
            self.assertIn('member %s ' % ma, ln)
            self.assertIn('group.instance.id X,', ln)

        # MB is the member of X, untouched, with MA's assignment.
        self.assertEqual(heartbeat_raw(b, group, gen, mb, 'X'), 0, 'Heartbeat of the new member')
        self.assertEqual(sync_raw(b, group, gen, mb, 'X'), (0, asg))
        self.assertEqual(offset_commit_raw(node, group, gen, mb, topic, 0, 3, instance='X'),
                         {(topic, 0): 0}, 'OffsetCommit of the new member')
        admin = self.admin(node)
        state, members = self.group_state(admin, group)
        self.assertEqual((state, [m.member_id for m in members]), ('Stable', [mb]))
        self.assertEqual(leave_raw(b, group, [(mb, 'X')]), (0, [(mb, 'X', 0)]))
        self.wait_state(admin, group, 'Empty')

    def test_static_member_duplicate_stops_fenced(self):
        """Two confluent-kafka consumers started with the same
        group.instance.id: the second replaces the first, and the first
        stops with librdkafka's fatal "fenced" error instead of the two
        replacing each other every heartbeat (each time reading the same
        partitions again); the second keeps all partitions, without another
        rebalance, and reads the later records exactly once."""
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-dup'), topic_name('g-dup')
        create_topic(node, topic, 4)
        events = []

        def member(name):
            c = self.ck_consumer(node.bootstrap, group, **{'group.instance.id': 'dup',
                                                           'session.timeout.ms': 10000,
                                                           'client.id': 'grp-dup-' + name})
            c.subscribe([topic],
                        on_assign=lambda _, ps: events.append(
                            (name, 'assign', sorted(p.partition for p in ps))),
                        on_revoke=lambda _, ps: events.append(
                            (name, 'revoke', sorted(p.partition for p in ps))))
            return c
        a = member('a')
        self.wait_assignment({'a': a}, topic, lambda x: x['a'] == {0, 1, 2, 3}, JOIN_S,
                             'all 4 partitions for the first member')
        b = member('b')
        fatal = []
        end = time.monotonic() + 30
        while time.monotonic() < end and not fatal:
            for name, c in (('a', a), ('b', b)):
                m = c.poll(0.05)
                err = m.error() if m is not None else None
                if err is not None and err.code() != ck.KafkaError._PARTITION_EOF:
                    fatal.append((name, err.code(), err.str()))
        self.assertTrue(fatal and fatal[0][0] == 'a' and fatal[0][1] == ck.KafkaError._FATAL,
                        'no fatal error of the replaced consumer within 30 s: errors %r, '
                        '%d group events, the last %r' % (fatal, len(events), events[-6:]))
        self.assertIn('fenced', fatal[0][2].lower(), fatal)
        mark = len(events)
        # Past a session timeout and many heartbeats: nothing moves any more.
        self.wait_assignment({'b': b}, topic, lambda x: x['b'] == {0, 1, 2, 3}, 15,
                             'all 4 partitions for the second member')
        recs = produce_ids(node.bootstrap, topic, range(200), 4)
        self.consume_expect({'a': a, 'b': b}, recs, what='records after the fencing')
        got, errors = [], {}
        self.pump({'b': b}, got, errors, 3)
        self.assertEqual([e for e in events[mark:] if e[0] == 'a' or e[1] == 'revoke'], [],
                         'the group rebalanced after the fencing: %r' % (events,))
        self.assertEqual(errors, {}, 'errors of the second member')

    def test_commit_and_resume(self):
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-resume'), topic_name('g-resume')
        create_topic(node, topic, 4)
        first = produce_ids(node.bootstrap, topic, range(1000), 4)
        c1 = self.ck_consumer(node.bootstrap, group)
        c1.subscribe([topic])
        self.consume_expect({'c1': c1}, first, what='the first 1,000 records')
        self.commit_sync(c1)
        self.close(c1)

        ends = ends_of(first, 4)
        self.assertEqual(ends, {p: 250 for p in range(4)})
        c2 = self.ck_consumer(node.bootstrap, group)
        self.assertEqual(self.committed(c2, topic, 4), ends,
                         'committed offsets seen by another consumer of the group')
        for p in range(4):
            lo, hi = c2.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10)
            self.assertEqual((lo, hi), (0, 250), 'watermarks of partition %d' % p)
        self.close(c2)

        later = produce_ids(node.bootstrap, topic, range(1000, 1500), 4)
        c3 = self.ck_consumer(node.bootstrap, group)
        c3.subscribe([topic])
        self.consume_expect({'c3': c3}, later, what='a new member after the commit')
        self.close(c3)

    def test_two_members_split_and_takeover(self):
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-split'), topic_name('g-split')
        create_topic(node, topic, 6)
        a = self.ck_consumer(node.bootstrap, group, **{'client.id': 'grp-member-a'})
        b = self.ck_consumer(node.bootstrap, group, **{'client.id': 'grp-member-b'})
        a.subscribe([topic])
        b.subscribe([topic])
        both = {'a': a, 'b': b}

        def split(asg):
            return (asg['a'] and asg['b'] and not asg['a'] & asg['b']
                    and asg['a'] | asg['b'] == set(range(6)))
        asg = self.wait_assignment(both, topic, split, JOIN_S,
                                   'disjoint non-empty assignments covering 6 partitions')

        first = produce_ids(node.bootstrap, topic, range(600), 6)
        got = self.consume_expect(both, first, what='600 records read by two members')
        wrong = [r for r in got if r.partition not in asg[r.who]]
        self.assertEqual(wrong, [], 'records of partitions not assigned to their reader '
                         '(assignments %s)' % asg)
        now = {n: {tp.partition for tp in c.assignment()} for n, c in both.items()}
        self.assertEqual(now, asg, 'assignments changed while reading')
        self.commit_sync(a)
        self.commit_sync(b)
        self.assertEqual(self.committed(b, topic, 6), {p: 100 for p in range(6)})

        self.close(a)  # LeaveGroup: b takes over a's partitions
        self.wait_assignment({'b': b}, topic, lambda x: x['b'] == set(range(6)), REBALANCE_S,
                             'all 6 partitions for the remaining member')
        later = produce_ids(node.bootstrap, topic, range(600, 1200), 6)
        self.consume_expect({'b': b}, later, timeout=REBALANCE_S,
                            what='the remaining member after the takeover')
        self.close(b)

    def test_offsets_survive_kill9_restart(self):
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-restart'), topic_name('g-restart')
        create_topic(node, topic, 2)
        first = produce_ids(node.bootstrap, topic, range(200), 2)
        c = self.ck_consumer(node.bootstrap, group)
        c.subscribe([topic])
        self.consume_expect({'c': c}, first, what='200 records')
        self.commit_sync(c)
        # The later commit of a partition replaces the earlier one.
        self.commit_sync(c, [ck.TopicPartition(topic, 0, 37)])
        want = {0: 37, 1: 100}
        self.assertEqual(self.committed(c, topic, 2), want, 'committed before the restart')
        self.close(c)

        node.kill9_all()
        node.start()
        c2 = self.ck_consumer(node.bootstrap, group)
        self.assertEqual(self.committed(c2, topic, 2, timeout=60), want,
                         'committed offsets after kill -9 and restart')
        self.close(c2)
        c3 = self.ck_consumer(node.bootstrap, group)
        c3.subscribe([topic])
        rest = {i: po for i, po in first.items() if po[0] == 0 and po[1] >= 37}
        self.assertEqual(len(rest), 63)
        self.consume_expect({'c3': c3}, rest, what='a member resuming after the restart')
        self.close(c3)

    def test_simple_consumer_commit_list_delete(self):
        node = self.node().start()
        self.require_group_apis(node, extra=(DELETE_GROUPS,))
        topic, group = topic_name('grp-simple'), topic_name('g-simple')
        create_topic(node, topic, 2)
        recs = produce_ids(node.bootstrap, topic, range(20), 2)
        s = self.ck_consumer(node.bootstrap, group)
        s.assign([ck.TopicPartition(topic, 0, 0)])
        self.commit_sync(s, [ck.TopicPartition(topic, 0, 5)])
        self.assertEqual(self.committed(s, topic, 2), {0: 5, 1: ck.OFFSET_INVALID},
                         'committed() of a group with no members')
        self.close(s)

        # assign() without an offset starts at the committed one.
        s2 = self.ck_consumer(node.bootstrap, group)
        s2.assign([ck.TopicPartition(topic, 0)])
        rest = {i: po for i, po in recs.items() if po[0] == 0 and po[1] >= 5}
        self.consume_expect({'s2': s2}, rest, what='assign() from the committed offset')
        self.close(s2)

        admin = self.admin(node)
        self.assertIn((group, ''), admin.list_consumer_groups(),
                      'ListGroups of a group that has only simple commits')
        state, members = self.group_state(admin, group)
        self.assertEqual((state, members), ('Empty', []))
        self.assertEqual(self.group_offsets(admin, group, topic), {0: 5})

        m = self.ck_consumer(node.bootstrap, group)
        m.subscribe([topic])
        self.wait_assignment({'m': m}, topic, lambda x: x['m'] == {0, 1}, JOIN_S,
                             'both partitions for a subscribed member', quiet=False)
        res = admin.delete_consumer_groups([group])
        self.assertEqual(res, [(group, kerr.NonEmptyGroupError)],
                         'DeleteGroups of a group with a member')
        self.assertEqual(self.group_offsets(admin, group, topic), {0: 5})
        self.close(m)
        self.wait_state(admin, group, 'Empty')

        res = admin.delete_consumer_groups([group])
        self.assertEqual(res, [(group, kerr.NoError)], 'DeleteGroups of an empty group')
        self.assertEqual(self.group_offsets(admin, group, topic), {},
                         'offsets of a deleted group')
        self.assertNotIn(group, [g[0] for g in admin.list_consumer_groups()],
                         'ListGroups after DeleteGroups')
        try:
            state, members = self.group_state(admin, group)
            self.assertEqual((state, members), ('Dead', []), 'DescribeGroups of a deleted group')
        except kerr.GroupIdNotFoundError:
            pass  # newer Kafka versions answer so
        c = self.ck_consumer(node.bootstrap, group)
        self.assertEqual(self.committed(c, topic, 2), {0: ck.OFFSET_INVALID,
                                                       1: ck.OFFSET_INVALID},
                         'committed() after DeleteGroups')
        self.close(c)
        res = admin.delete_consumer_groups([group])
        self.assertEqual(res, [(group, kerr.GroupIdNotFoundError)],
                         'DeleteGroups of a deleted group')
        # Groups nobody knows cost no metadata write each (a client naming
        # thousands wrote as many Raft entries and log lines).

        def applied():
            st = node.child('raftd')['status']
            return int(re.search(r'applied=(\d+)', st).group(1))
        time.sleep(3)
        before = applied()
        unknown = ['%s-none%d' % (group, i) for i in range(300)]
        res = admin.delete_consumer_groups(unknown)
        self.assertEqual(sorted(res), sorted((g, kerr.GroupIdNotFoundError) for g in unknown),
                         'DeleteGroups of 300 groups nobody knows')
        time.sleep(3)  # raftd's status line is refreshed every second or so
        self.assertLess(applied() - before, 10,
                        'metadata entries written for 300 unknown groups')

    def test_group_without_offsets_stays_empty(self):
        """A group whose only member leaves without committing is Empty
        (protocol type consumer) for ListGroups and DescribeGroups, as in
        Kafka until its next offsets retention walk (it was Dead at once:
        kafka-consumer-groups said it did not exist); DeleteGroups then
        deletes it."""
        node = self.node().start()
        topic, group = topic_name('grp-nocommit'), topic_name('g-nocommit')
        create_topic(node, topic, 1)
        m = self.ck_consumer(node.bootstrap, group)
        m.subscribe([topic])
        self.wait_assignment({'m': m}, topic, lambda x: x['m'] == {0}, JOIN_S,
                             'the partition for the member', quiet=False)
        self.close(m)
        admin = self.admin(node)
        self.wait_state(admin, group, 'Empty')
        time.sleep(1)
        self.assertEqual(self.group_state(admin, group), ('Empty', []))
        self.assertIn((group, 'consumer'), admin.list_consumer_groups())
        self.assertEqual(admin.delete_consumer_groups([group]), [(group, kerr.NoError)])
        self.assertNotIn(group, [g[0] for g in admin.list_consumer_groups()])

    def test_offsets_expire(self):
        """Offset expiry (Kafka's offsets.retention.minutes; here
        offsets_retention_ms = 4 s, checked every 0.3 s): the offsets of a
        group without members go once the retention has passed since both
        their commit and the last time the coordinator saw the group, and
        the group is no longer listed; a member that stays subscribed keeps
        its group's offsets of the topic it subscribes to however old their
        commit (not its offset of another topic), and they expire only a
        retention after it leaves; a group that commits again keeps its new offset."""
        ret = 4.0
        node = self.node(config_extra='[kafka]\noffsets_retention_ms = 4000\n'
                                      'offsets_retention_check_interval_ms = 300\n').start()
        self.require_group_apis(node)
        topic = topic_name('grp-exp')
        gone, live, again = (topic_name('g-exp-gone'), topic_name('g-exp-live'),
                             topic_name('g-exp-again'))
        other = topic_name('grp-exp-other')
        create_topic(node, topic, 2)
        create_topic(node, other, 1)
        produce_ids(node.bootstrap, topic, range(20), 2)
        admin = self.admin(node)

        s = self.ck_consumer(node.bootstrap, gone)
        s.assign([ck.TopicPartition(topic, 0, 0)])
        self.commit_sync(s, [ck.TopicPartition(topic, 0, 5), ck.TopicPartition(topic, 1, 3)])
        t_gone = time.monotonic()
        self.close(s)
        a = self.ck_consumer(node.bootstrap, again)
        a.assign([ck.TopicPartition(topic, 1, 0)])
        self.commit_sync(a, [ck.TopicPartition(topic, 1, 2)])
        m = self.ck_consumer(node.bootstrap, live)
        m.subscribe([topic])
        self.wait_assignment({'m': m}, topic, lambda x: x['m'] == {0, 1}, JOIN_S,
                             'both partitions for the subscribed member', quiet=False)
        self.commit_sync(m, [ck.TopicPartition(topic, 0, 7), ck.TopicPartition(topic, 1, 8),
                             ck.TopicPartition(other, 0, 1)])
        t_live = time.monotonic()
        self.assertEqual(self.group_offsets(admin, gone, topic), {0: 5, 1: 3})

        def live_offsets():
            offs = admin.list_consumer_group_offsets(live)
            return {(tp.topic, tp.partition): om.offset for tp, om in offs.items()}
        self.assertEqual(live_offsets(), {(topic, 0): 7, (topic, 1): 8, (other, 0): 1})

        # Well inside the retention nothing goes.
        time.sleep(1.0)
        self.assertEqual(self.group_offsets(admin, gone, topic), {0: 5, 1: 3},
                         'offsets expired before the retention passed')
        # "again" commits anew halfway; the member keeps polling.
        self.commit_sync(a, [ck.TopicPartition(topic, 1, 4)])
        t_again = time.monotonic()
        self.close(a)

        def expired():
            got, errors = [], {}
            self.pump({'m': m}, got, errors, 0.2)
            return self.group_offsets(admin, gone, topic) == {}
        wait_for(expired, ret + 10, 'the memberless group\'s offsets to expire', interval=0.3)
        waited = time.monotonic() - t_gone
        self.assertGreaterEqual(waited, ret - 0.5, 'expired %.1f s after the commit' % waited)
        self.assertNotIn(gone, [g[0] for g in admin.list_consumer_groups()],
                         'ListGroups of a group whose offsets all expired')
        c = self.ck_consumer(node.bootstrap, gone)
        self.assertEqual(self.committed(c, topic, 2), {0: ck.OFFSET_INVALID,
                                                       1: ck.OFFSET_INVALID},
                         'committed() after expiry')
        self.close(c)
        if time.monotonic() - t_again < ret - 0.5:
            self.assertEqual(self.group_offsets(admin, again, topic), {1: 4},
                             'a group\'s offset committed again expired early')
        # The member was seen live all along: its commits of the topic it
        # subscribes to, older than the retention by now, stay; that of the
        # topic it does not subscribe to goes (Kafka's rule for a Stable
        # consumer group).
        got, errors = [], {}
        self.pump({'m': m}, got, errors, max(0.0, ret + 1.5 - (time.monotonic() - t_live)))
        self.assertEqual(live_offsets(), {(topic, 0): 7, (topic, 1): 8},
                         'offsets of a group with a member')
        self.close(m)
        t_left = time.monotonic()
        wait_for(lambda: self.group_offsets(admin, live, topic) == {}, ret + 10,
                 'the offsets of the group its member left to expire', interval=0.3)
        self.assertGreaterEqual(time.monotonic() - t_left, ret - 0.5,
                                'expired sooner than the retention after the member left')
        wait_for(lambda: self.group_offsets(admin, again, topic) == {}, ret + 10,
                 'the offset committed again to expire too', interval=0.3)

    def test_offset_delete(self):
        """OffsetDelete (librdkafka's DeleteConsumerGroupOffsets) with Kafka's
        rules: a live consumer group keeps the offsets of topics it
        subscribes to (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others';
        once it is empty every named offset goes, the rest stay; unknown
        partitions, groups and bad group ids get their errors."""
        node = self.node().start()
        self.require_group_apis(node, extra=(OFFSET_DELETE,))
        topic, other = topic_name('grp-odel'), topic_name('grp-odel-o')
        group = topic_name('g-odel')
        create_topic(node, topic, 2)
        create_topic(node, other, 1)
        recs = produce_ids(node.bootstrap, topic, range(10), 2)
        c = self.ck_consumer(node.bootstrap, group)
        c.subscribe([topic])
        self.consume_expect({'c': c}, recs, what='10 records')
        self.commit_sync(c)
        # The member also commits an offset of a topic it does not read.
        self.commit_sync(c, [ck.TopicPartition(other, 0, 7)])
        admin = self.admin(node)
        self.wait_state(admin, group, 'Stable')
        ends = {p: len([r for r in recs.values() if r[0] == p]) for p in (0, 1)}

        def listed():
            return {(tp.topic, tp.partition): om.offset
                    for tp, om in admin.list_consumer_group_offsets(group).items()}
        self.assertEqual(listed(), {(topic, 0): ends[0], (topic, 1): ends[1], (other, 0): 7})

        err, res = offset_delete_raw(node, group, [(topic, 0), (other, 0), (topic, 9),
                                                   ('no-such-topic', 0)])
        self.assertEqual(err, 0, 'OffsetDelete of a live group')
        self.assertEqual(res, {(topic, 0): GROUP_SUBSCRIBED_TO_TOPIC, (other, 0): 0,
                               (topic, 9): UNKNOWN_TOPIC_OR_PARTITION,
                               ('no-such-topic', 0): UNKNOWN_TOPIC_OR_PARTITION})
        self.assertEqual(listed(), {(topic, 0): ends[0], (topic, 1): ends[1]},
                         'offsets after OffsetDelete of the topic not subscribed to')
        self.assertEqual(self.committed(c, other, 1), {0: ck.OFFSET_INVALID})
        self.close(c)
        self.wait_state(admin, group, 'Empty')

        err, res = offset_delete_raw(node, group, [(topic, 0)])
        self.assertEqual((err, res), (0, {(topic, 0): 0}), 'OffsetDelete of an empty group')
        self.assertEqual(listed(), {(topic, 1): ends[1]},
                         'offsets after deleting partition 0 of an empty group')
        # The consumer that comes back resumes partition 1 and starts
        # partition 0 anew (auto.offset.reset=earliest).
        again = {i: po for i, po in recs.items() if po[0] == 0}
        c2 = self.ck_consumer(node.bootstrap, group)
        c2.subscribe([topic])
        self.consume_expect({'c2': c2}, again, what='partition 0 again, nothing of 1')
        self.close(c2)

        self.assertEqual(offset_delete_raw(node, topic_name('g-none'), [(topic, 0)]),
                         (GROUP_ID_NOT_FOUND, {}), 'OffsetDelete of a group nobody knows')
        self.assertEqual(offset_delete_raw(node, '', [(topic, 0)]), (INVALID_GROUP_ID, {}),
                         'OffsetDelete of group ""')

    def test_commit_errors_raw(self):
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-errs'), topic_name('g-errs')
        create_topic(node, topic, 1)
        recs = produce_ids(node.bootstrap, topic, range(10), 1)
        c = self.ck_consumer(node.bootstrap, group)
        c.subscribe([topic])
        self.consume_expect({'c': c}, recs, what='10 records')
        self.commit_sync(c)
        admin = self.admin(node)
        state, members = self.wait_state(admin, group, 'Stable')
        self.assertEqual(len(members), 1, 'members of a group of one consumer')
        member = members[0].member_id
        self.assertTrue(member, 'DescribeGroups gave an empty member id')

        self.assertEqual(offset_commit_raw(node, group, 1, 'no-such-member', topic, 0, 3),
                         {(topic, 0): UNKNOWN_MEMBER_ID}, 'OffsetCommit of an unknown member')
        self.assertEqual(offset_commit_raw(node, group, -1, '', topic, 0, 3),
                         {(topic, 0): UNKNOWN_MEMBER_ID},
                         'OffsetCommit without a member while the group has one')
        self.assertEqual(offset_commit_raw(node, group, 1000000, member, topic, 0, 3),
                         {(topic, 0): ILLEGAL_GENERATION},
                         'OffsetCommit of the member at a wrong generation')
        self.assertEqual(self.group_offsets(admin, group, topic), {0: 10},
                         'offsets after refused commits')
        self.assertEqual(self.committed(c, topic, 1), {0: 10})
        self.close(c)

        # Metadata is a Kafka string: any UTF-8, NULs included, comes back
        # as committed (it was cut at the NUL before).
        meta = 'a\x00b \u20ac\x00'
        other = topic_name('g-meta')
        self.assertEqual(offset_commit_raw(node, other, -1, '', topic, 0, 7, metadata=meta),
                         {(topic, 0): 0}, 'OffsetCommit with a NUL in its metadata')
        offs = admin.list_consumer_group_offsets(other)
        self.assertEqual({(tp.topic, tp.partition): (om.offset, om.metadata)
                          for tp, om in offs.items()}, {(topic, 0): (7, meta)})

        # A commit over 1 MiB in all (300 partitions with 4,000 bytes of
        # metadata each, within offset.metadata.max.bytes) cannot be
        # stored: INVALID_COMMIT_OFFSET_SIZE, as Kafka answers when its
        # offsets topic refuses the batch, which clients raise instead of
        # retrying (before: COORDINATOR_NOT_AVAILABLE, retried for good).
        wide = topic_name('grp-wide')
        create_topic(node, wide, 300)
        res = offset_commit_raw(node, other, -1, '', wide, list(range(300)), 5,
                                metadata='m' * 4000)
        self.assertEqual(set(res.values()), {INVALID_COMMIT_OFFSET_SIZE})
        self.assertEqual(len(res), 300)
        self.assertEqual([tp for tp in admin.list_consumer_group_offsets(other)
                          if tp.topic == wide], [], 'offsets of the refused commit')


    def test_empty_and_long_group_ids(self):
        """The empty group id is taken by OffsetCommit, OffsetFetch,
        DescribeGroups and DeleteGroups, as Kafka's coordinator takes it
        "for backwards compatibility" (not by the group protocol's requests
        nor OffsetDelete: INVALID_GROUP_ID, 24); a 256-byte group id is a
        group like any other, a consumer in it reads and commits (both were
        INVALID_GROUP_ID); 257 bytes are over what a key holds, and bytes
        that are not UTF-8 are refused too."""
        node = self.node().start()
        self.require_group_apis(node)
        topic = topic_name('grp-ids')
        create_topic(node, topic, 1)

        def call(key, version, body):
            c = kproto.Conn(node.host, node.kafka_port, timeout=30)
            try:
                return kproto.R(c.call(key, version, bytes(body)))
            finally:
                c.close()

        def fetched(group):
            r = call(OFFSET_FETCH, 1, kproto.W().string(group).i32(1).string(topic).i32(1).i32(0))
            return r.array(lambda x: (x.string(), x.array(
                lambda y: (y.i32(), y.i64(), y.string(), y.i16()))))[0][1][0]
        self.assertEqual(offset_commit_raw(node, '', -1, '', topic, 0, 5), {(topic, 0): 0})
        self.assertEqual(fetched(''), (0, 5, '', 0))
        r = call(DESCRIBE_GROUPS, 0, kproto.W().i32(1).string(''))
        self.assertEqual(r.i32(), 1)
        self.assertEqual((r.i16(), r.string()), (0, ''), 'DescribeGroups of ""')
        self.assertEqual(offset_delete_raw(node, '', [(topic, 0)])[0], INVALID_GROUP_ID)
        r = call(DELETE_GROUPS, 0, kproto.W().i32(1).string(''))
        r.i32()  # throttle_time_ms
        self.assertEqual(r.array(lambda x: (x.string(), x.i16())), [('', 0)])
        self.assertEqual(fetched(''), (0, -1, '', 0))

        self.assertEqual(offset_commit_raw(node, 'x' * 257, -1, '', topic, 0, 5),
                         {(topic, 0): INVALID_GROUP_ID})
        # Not UTF-8: stored, it was listed by ListGroups to clients that
        # cannot read it (kafka-python's list_consumer_groups failed).
        self.assertEqual(offset_commit_raw(node, b'\xed\xa0\x80bad', -1, '', topic, 0, 5),
                         {(topic, 0): INVALID_GROUP_ID})
        group = 'g' * 256
        recs = produce_ids(node.bootstrap, topic, range(5), 1)
        c = self.ck_consumer(node.bootstrap, group)
        c.subscribe([topic])
        self.consume_expect({'c': c}, recs, what='5 records in a 256-byte group')
        self.commit_sync(c)
        self.close(c)
        self.assertEqual(fetched(group)[:2], (0, 5))


class GroupsKafkaPython(GroupCase):

    def test_client_id_not_utf8(self):
        """A client id that is not UTF-8 is read as Kafka's decoder reads it,
        each bad byte U+FFFD: the member id made from it and DescribeGroups
        are strings kafka-python can read (the bytes were echoed and
        describe_consumer_groups failed to decode them)."""
        node = self.node().start()
        self.require_group_apis(node)
        group = topic_name('g-cid')
        c = kproto.Conn(node.host, node.kafka_port, timeout=30)
        self.addCleanup(c.close)
        err = 79  # MEMBER_ID_REQUIRED: JoinGroup again with the id given
        mid = ''
        while err == 79:
            body = (kproto.W().string(group).i32(30000).i32(30000).string(mid).string(None)
                    .string('consumer').i32(1).string('range').bytes_(b''))
            c.corr += 1
            c.send_raw(kproto.request(JOIN_GROUP, 5, c.corr, bytes(body),
                                      client_id=b'cid\xff\xc0\xed\xa0\x80-\xc3\xa9'))
            r = kproto.R(c.recv_frame()[1])
            r.i32()  # throttle_time_ms
            err = r.i16()
            r.i32()  # generation
            r.string()  # protocol name
            r.string()  # leader
            mid = r.take(r.i16()).decode('utf-8')  # strict
        self.assertEqual(err, 0)
        bad = 'cid' + '\ufffd' * 5 + '-\u00e9'
        self.assertTrue(mid.startswith(bad + '-'), 'member id %r' % mid)
        d = self.admin(node).describe_consumer_groups([group])[0]
        self.assertEqual([(m.member_id, m.client_id) for m in d.members], [(mid, bad)])

    def test_commit_resume_and_admin(self):
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-kp'), topic_name('g-kp')
        create_topic(node, topic, 3)
        first = produce_ids(node.bootstrap, topic, range(300), 3)
        c = self.kp_consumer(node, group, topic, client_id='grp-kp-1')
        got = self.kp_collect(c, first, 'kafka-python, the first 300 records')
        self.assertEqual(len(got), 300)
        self.kp_commit(c)

        admin = self.admin(node)
        self.assertIn((group, 'consumer'), admin.list_consumer_groups(),
                      'ListGroups while a member is active')
        state, members = self.wait_state(admin, group, 'Stable')
        self.assertEqual(len(members), 1, 'members: %r' % (members,))
        m = members[0]
        self.assertEqual(m.client_id, 'grp-kp-1')
        self.assertIn('127.0.0.1', m.client_host)
        asg = {t: sorted(ps) for t, ps in m.member_assignment.assignment}
        self.assertEqual(asg, {topic: [0, 1, 2]}, 'the member\'s assignment')
        self.assertEqual(self.group_offsets(admin, group, topic), {0: 100, 1: 100, 2: 100})
        self.close(c)
        state, members = self.wait_state(admin, group, 'Empty')
        self.assertEqual(members, [])
        # Kafka keeps an Empty group's protocol type: listed and described
        # as a consumer group, also once the coordinator holds nothing of
        # it but the offsets (here after a restart), and after commits
        # without members (AlterConsumerGroupOffsets, a consumer that
        # assigns) rewrote them.
        time.sleep(0.5)
        for when in ('after its member left', 'after a restart', 'after simple commits'):
            self.assertIn((group, 'consumer'), admin.list_consumer_groups(),
                          'ListGroups of the group %s' % when)
            d = admin.describe_consumer_groups([group])[0]
            self.assertEqual((d.state, d.protocol_type), ('Empty', 'consumer'),
                             'DescribeGroups %s' % when)
            if when == 'after its member left':
                node.stop()
                node.start()
                admin = self.admin(node)
            elif when == 'after a restart':
                simple = KafkaConsumer(bootstrap_servers=node.bootstrap, group_id=group,
                                       enable_auto_commit=False)
                try:
                    for part in (2, 1, 0):
                        simple.commit({TopicPartition(topic, part): OffsetAndMetadata(100, '')})
                finally:
                    simple.close()

        later = produce_ids(node.bootstrap, topic, range(300, 450), 3)
        c2 = self.kp_consumer(node, group, topic, client_id='grp-kp-2')
        self.kp_collect(c2, later, 'kafka-python, a new member after the commit')
        self.close(c2)

    def kp_collect(self, consumer, expected, what, timeout=JOIN_S):
        """Polls the KafkaConsumer until every id of EXPECTED came back (at
        most TIMEOUT s), then SETTLE_S more; fails unless exactly EXPECTED
        came back. kafka-python's poll() blocks without a bound while it has
        no coordinator or cannot join, so it runs in a thread of its own."""
        got = []
        want = set(expected)
        stop = threading.Event()
        deadline = time.monotonic() + timeout

        def poll(secs):
            end = time.monotonic() + secs
            while time.monotonic() < end and not stop.is_set():
                for recs in consumer.poll(timeout_ms=200).values():
                    got.extend(Rec('kp', id_of(r.value), r.partition, r.offset, r.value)
                               for r in recs)

        def run():
            while (time.monotonic() < deadline and not stop.is_set()
                   and not want <= {r.id for r in got}):
                poll(0.2)
            poll(SETTLE_S)
        done, exc = call_within(run, timeout + SETTLE_S + 5)
        stop.set()
        if not done:
            self.fail('%s: KafkaConsumer.poll() blocked past %ds (%d records back)'
                      % (what, timeout, len(got)))
        if exc is not None:
            raise exc
        wrong = describe_got(list(got), expected)
        if wrong:
            self.fail('%s within %ds: %s' % (what, timeout, wrong))
        return got

    def kp_commit(self, consumer, timeout=30):
        """KafkaConsumer.commit() (synchronous; it retries without a bound,
        so in a thread)."""
        done, exc = call_within(consumer.commit, timeout)
        if not done:
            self.fail('KafkaConsumer.commit() did not return within %ds' % timeout)
        if exc is not None:
            raise exc


class GroupsKcat(GroupCase):

    def kcat_group(self, node, group, topic, count, timeout=JOIN_S):
        """kcat -G GROUP TOPIC stopping after COUNT records (or at the end of
        every partition): the Recs it printed. kcat commits what it printed
        through librdkafka's auto commit (enable.auto.commit, the default),
        at the latest when it closes the consumer on exit. (Its -X puts
        enable.auto.commit and auto.commit.interval.ms on the legacy topic
        config, so they are not given.)"""
        cmd = [KCAT, '-b', node.bootstrap, '-G', group, '-e', '-c', str(count),
               '-f', '%p %o %s\n',
               '-X', 'auto.offset.reset=earliest', '-X', 'enable.partition.eof=true',
               '-X', 'session.timeout.ms=6000', '-X', 'heartbeat.interval.ms=1000', topic]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail('kcat -G did not finish within %ds; %d bytes out; stderr: %s'
                      % (timeout, len(e.stdout or b''),
                         (e.stderr or b'').decode('utf-8', 'replace')[-2000:]))
        err = p.stderr.decode('utf-8', 'replace')
        if p.returncode != 0:
            self.fail('kcat -G exited %d: %s' % (p.returncode, err[-2000:]))
        got = []
        for line in p.stdout.splitlines():
            part, off, value = line.split(b' ', 2)
            got.append(Rec('kcat', id_of(value), int(part), int(off), value))
        return got

    def test_balanced_consumer_resumes(self):
        node = self.node().start()
        self.require_group_apis(node)
        topic, group = topic_name('grp-kcat'), topic_name('g-kcat')
        create_topic(node, topic, 3)
        first = produce_ids(node.bootstrap, topic, range(300), 3)
        got = self.kcat_group(node, group, topic, 300)
        wrong = describe_got(got, first)
        self.assertIsNone(wrong, 'first kcat -G run: %s' % wrong)
        admin = self.admin(node)
        self.assertEqual(self.group_offsets(admin, group, topic), {0: 100, 1: 100, 2: 100},
                         'offsets kcat committed')

        later = produce_ids(node.bootstrap, topic, range(300, 450), 3)
        got = self.kcat_group(node, group, topic, 150)
        wrong = describe_got(got, later)
        self.assertIsNone(wrong, 'second kcat -G run of the group: %s' % wrong)
        self.assertEqual(self.group_offsets(admin, group, topic), {0: 150, 1: 150, 2: 150},
                         'offsets after the second run')


class GroupsCluster(GroupCase):

    def test_offsets_survive_coordinator_kill(self):
        nodes = self.cluster('grp')
        by_id = {n.node_id: n for n in nodes}
        for n in nodes:
            self.require_group_apis(n)

        def brokers(n):
            c = kproto.Conn(n.host, n.kafka_port)
            try:
                return len(kproto.parse_metadata_v1(
                    c.call(kproto.METADATA, 1, kproto.metadata_body(1, [])))[0])
            finally:
                c.close()
        # Every node lists the other two as registered (each lists itself
        # from its configuration before its registration is applied).
        wait_for(lambda: all(brokers(n) == 3 for n in nodes), 30, 'three brokers registered')
        topic, group = topic_name('grp-cl'), topic_name('g-cl')
        admin = self.admin(nodes[0])
        deadline = time.monotonic() + 30
        while True:
            resp = admin.create_topics([NewTopic(topic, 3, 3)], timeout_ms=30000)
            errs = [e[1] for e in resp.topic_errors]
            # INVALID_REPLICATION_FACTOR (38) while a registration is
            # still being applied on the node that took the creation.
            if errs != [38] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(errs, [0], str(resp))
        for n in nodes:
            wait_topic(n, topic, 3)
        first = produce_ids(bootstrap_of(nodes), topic, range(300), 3)

        c1 = self.ck_consumer(nodes[0].bootstrap, group)
        c1.subscribe([topic])
        self.consume_expect({'c1': c1}, first, what='300 records through node 1')
        self.commit_sync(c1)
        self.close(c1)
        later = produce_ids(bootstrap_of(nodes), topic, range(300, 450), 3)

        err, coord, host, port = find_coordinator(nodes[0], group)
        self.assertEqual(err, 0, 'FindCoordinator error')
        self.assertIn(coord, by_id, 'FindCoordinator named node %d' % coord)
        dead = by_id[coord]
        self.assertEqual((host, port), (dead.host, dead.kafka_port),
                         'the coordinator\'s address')
        sys.stderr.write('group %s: coordinator node %d, killing it\n' % (group, coord))
        dead.kill9_all()
        alive = [n for n in nodes if n is not dead]

        def moved():
            try:
                e, cid, _, _ = find_coordinator(alive[0], group)
            except (OSError, kproto.Closed, kproto.ShortRead):
                return None
            return (e, cid) if e == 0 and cid != coord else None
        e, cid = wait_for(moved, 60, 'FindCoordinator naming a live node', interval=0.5)
        self.assertIn(cid, [n.node_id for n in alive])

        c2 = self.ck_consumer(bootstrap_of(alive), group)
        self.assertEqual(self.committed(c2, topic, 3, timeout=60), {0: 100, 1: 100, 2: 100},
                         'committed offsets after the coordinator\'s node was killed')
        self.close(c2)
        c3 = self.ck_consumer(bootstrap_of(alive), group)
        c3.subscribe([topic])
        self.consume_expect({'c3': c3}, later, timeout=90,
                            what='a new member after the coordinator was killed')
        self.commit_sync(c3)
        self.close(c3)

        dead.start()
        c4 = self.ck_consumer(dead.bootstrap, group)
        self.assertEqual(self.committed(c4, topic, 3, timeout=60), {0: 150, 1: 150, 2: 150},
                         'committed offsets through the restarted node')
        self.close(c4)


if __name__ == '__main__':
    main()
