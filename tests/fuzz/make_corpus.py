#!/usr/bin/env python3
"""make_corpus.py: writes the fuzzers' seed corpora.

tests/fuzz/corpus/ (fuzz_kfk_request): one seed per distinct request API and
version in tests/unit/protocol/golden/*.frames (the frame after its 4-byte
size, exactly what fuzz_kfk_request takes).
tests/fuzz/corpus-records/ (fuzz_records): record sets as a Produce carries
them, made with the integration tests' encoder (kproto.py): one uncompressed
batch with keys, null values and headers, a gzip batch, two batches in a row,
an idempotent producer's batch; and a consumer subscription.
tests/fuzz/corpus-raft/ (fuzz_raft): programs in fuzz_raft.c's op code: a
node elected that replicates and commits (both commit modes), a follower
taking entries, heartbeats, a compaction and a restart, and a follower
installing a snapshot.
tests/fuzz/corpus-apply/ (fuzz_apply): programs in fuzz_apply.c's op code:
a topic created, grown, altered, its partition moved, offsets committed and
deleted, a broker registered, producer ids allocated, the topic deleted.
tests/fuzz/corpus-group/ (fuzz_group): a member joins group g0, syncs,
heartbeats and commits; a second one joins, both rejoin and sync; one
leaves; time passes until the other's session expires.
tests/fuzz/corpus-pids/ (fuzz_pids): a producer's batches, one of them
sent again, a new epoch, a replica's batch of another producer, the log
cut back, time passing until producers expire.
tests/fuzz/corpus-repl/ (fuzz_repl): a partition led here on three
replicas, appends made durable, both followers fetching, time passing,
the ISR shrunk and expanded.
tests/fuzz/corpus-topic-cfg/ (fuzz_topic_cfg): a key byte (kfk_topic_cfg.h's
order) and a value: retention.ms, retention.bytes, segment.bytes,
max.message.bytes, cleanup.policy, message.timestamp.type, an unknown key.
Run by hand after a new capture; the corpora are committed. Python 3
standard library only.
"""
import glob
import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "unit", "protocol", "golden")


def main():
    out = os.path.join(HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "*.bin")):
        os.unlink(old)
    seen = set()
    for path in sorted(glob.glob(os.path.join(GOLDEN, "*.frames"))):
        client = os.path.basename(path).split(".")[0]
        with open(path, encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) != 4 or parts[0] != "req":
                    continue
                kind = (parts[1], parts[2])
                if kind in seen:
                    continue
                seen.add(kind)
                name = "req-%s-v%s-%s.bin" % (parts[1], parts[2], client)
                with open(os.path.join(out, name), "wb") as g:
                    g.write(bytes.fromhex(parts[3]))
    print("%d seeds in %s" % (len(seen), out))
    return records_corpus()


def write_seeds(corpus, seeds):
    """Replaces the seeds of tests/fuzz/CORPUS with SEEDS (name: bytes)."""
    out = os.path.join(HERE, corpus)
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "*.bin")):
        os.unlink(old)
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as g:
            g.write(data)
    print("%d seeds in %s" % (len(seeds), out))


def records_corpus():
    sys.path.insert(0, os.path.join(HERE, "..", "integration", "kafka"))
    import kproto  # noqa: E402  (the tests' own encoder)
    recs = [(b"k1", b"value one", [("h", b"x"), ("n", None)]), (None, None, []),
            (b"", b"v" * 40, [])]
    seeds = {
        "plain": kproto.record_batch(recs, base_ts=1700000000000),
        "gzip": kproto.gzip_batch(recs, base_ts=1700000000000),
        "two": kproto.record_batch(recs[:1], base_ts=1700000000000) +
               kproto.record_batch(recs[1:], base_offset=1, base_ts=1700000000001),
        "idempotent": kproto.record_batch(recs, base_ts=1700000000000, producer_id=7,
                                          producer_epoch=0, base_sequence=0),
        # Produce v0-2's message sets (kfk_legacy.h): magic 1, and magic 0
        # in a gzip wrapper.
        "legacy": kproto.legacy_message(0, b"k", b"v") +
                  kproto.legacy_message(1, None, b"w", ts=1700000000001),
        "legacy-gzip": kproto.legacy_message(
            0, None, gzip.compress(kproto.legacy_message(0, b"k", b"v", magic=0) +
                                   kproto.legacy_message(1, b"k2", None, magic=0), mtime=0),
            magic=0, attr=1),
        # ConsumerProtocolSubscription v1: topics "t" and "orders", null
        # user data, no owned partitions.
        "subscription": bytes(kproto.W().i16(1).i32(2).string("t").string("orders")
                              .i32(-1).i32(0)),
    }
    write_seeds("corpus-records", seeds)
    return raft_corpus()


# fuzz_raft.c's program: ops (byte % 12) and a built message's operands.
CAMPAIGN, PROPOSE, BUILT, COMPACT, CRASH = 7, 1, 2, 10, 11
VOTE_RESP, APPEND, APPEND_RESP, HEARTBEAT, SNAPSHOT = 4, 5, 6, 7, 9
SAME = 3  # a "near" operand: 3 = the node's own value, 4 = one more


def built(mtype, sender, term=SAME, index=SAME, log_term=SAME, commit=SAME, flags=0,
          snap_index=SAME, snap_term=SAME, entries=b""):
    # type, from, to (0: this node), term, index, log_term, commit,
    # reject_hint, flags (bit 0 reject, bits 4-7 entry count), snapshot
    # index and term, then a byte per entry (its length).
    return bytes([BUILT, mtype, sender, 0, term, index, log_term, commit, SAME, flags,
                  snap_index, snap_term]) + entries


def raft_corpus():
    lead = (bytes([CAMPAIGN]) + built(VOTE_RESP, 2) + bytes([PROPOSE] * 3) +
            built(APPEND_RESP, 2, index=SAME) + bytes([0xf0]))
    seeds = {
        # mode 2: quorum commit, no pre-vote (one vote answer elects it)
        "leader-quorum": bytes([2]) + lead,
        "leader-leader-mode": bytes([3]) + lead,
        # mode 0: a follower of node 2 at term 1, three entries, commit 2
        "follower": bytes([0]) + built(APPEND, 2, term=4, commit=5, flags=0x30,
                                       entries=b"\x05\x05\x05") +
        built(HEARTBEAT, 2) + bytes([COMPACT, CRASH]),
        "snapshot": bytes([0]) + built(APPEND, 2, term=4) +
        built(SNAPSHOT, 2, snap_index=7, snap_term=SAME) + bytes([0xf0]),
    }
    write_seeds("corpus-raft", seeds)
    return apply_corpus()


# fuzz_apply.c's program: an op byte >= 0x10 builds command kind op % 12;
# names are indexes into its list (0 "a", 1 "b", 5 "", 6 "x-1"), "small"
# numbers a byte b meaning b % 8 - 1.
def apply_program():
    create = bytes([0x18, 0]) + bytes(range(1, 17)) + bytes([3, 3, 3, 3, 1, 0, 2])
    grow = bytes([0x1a, 0, 4, 2, 3, 3])            # partitions 3 and 4
    move = bytes([0x1e, 0, 1, 2, 2, 2, 3, 2, 1])    # a-0: leader 1, ISR {1, 2}
    commit = bytes([0x20, 1, 1, 0, 1, 0, 0, 0, 5, 0, 5, 0, 0, 0, 9])
    drop = bytes([0x22, 1, 1, 0, 1])                # group b: a-0
    alter = bytes([0x1b, 0, 1, 1, 2, 1, 0])         # set segment.bytes, delete retention.ms
    broker = bytes([0x1c, 2, 6, 6, 6, 1])
    ids = bytes([0x1f, 2])
    delete = bytes([0x19, 0])
    return create + grow + move + commit + drop + alter + broker + ids + delete


def apply_corpus():
    seeds = {
        "lifecycle": apply_program(),
        "raw-noop": bytes([0x00, 0]),  # an empty entry: a leader's no-op
    }
    write_seeds("corpus-apply", seeds)
    return group_corpus()


# fuzz_group.c's program: op % 8 (0/1 join, 2 sync, 3 heartbeat, 4 leave,
# 5 commit, 6 time), bit 7 the group; join and sync read a flags byte
# first. A member byte below 0xc0 picks an id
# the core answered with (in the order they came), 0xc1 is "" (new); an
# instance byte 0 is null; a generation byte 2 is the group's own.
def group_program():
    def join(member):  # protocol type "consumer", one protocol "range", 6 s
        return bytes([0x00, 6, member, 0, 0x40, 1, 1])

    def sync(member, assign_to=None):
        if assign_to is None:
            return bytes([0x02, 0x00, member, 0, 2])
        return bytes([0x02, 0x20 * len(assign_to), member, 0, 2]) + b"".join(
            bytes([m, 13]) for m in assign_to)
    heartbeat = bytes([0x03, 0, 0, 2])
    commit = bytes([0x05, 0, 0, 2])
    return (join(0xc1) + sync(0, [0]) + heartbeat + commit +     # m0 alone
            join(0xc1) + join(0) + sync(0, [0, 1]) + sync(1) +   # m1 joins
            bytes([0x04, 1, 0]) +                                # m1 leaves
            bytes([0x06, 100, 0x06, 255]))                       # m0 expires


def group_corpus():
    seeds = {
        "members": bytes([0]) + group_program(),
        "members-delayed-max2": bytes([3]) + group_program(),
    }
    write_seeds("corpus-group", seeds)
    return pids_corpus()


# fuzz_pids.c's program: op % 8 (0-3 a leader append, 4 a replica append,
# 5 a cut, 6 time); a leader append's bytes: producer (a % 5; bits 3-5: 1 a
# newer epoch), then b (bits 5-7: records - 1; bits 3-4: 0 the next
# sequence, 1 a kept batch again, the kept one's index in bits 0-2).
def pids_corpus():
    def leader(a, b):
        return bytes([0x00, a, b])
    program = (leader(0, 0x20) + leader(0, 0x00) + leader(0, 0x40) +
               leader(0, 0x08) + leader(0, 0x09) +        # the first two again
               leader(0x08, 0x00) +                       # epoch 1, sequence 0
               bytes([0x04, 0x21, 0, 0]) +                # a replica's batch, producer 2
               bytes([0x05, 2, 0x06, 255, 0x06, 255]))    # cut back; a day goes by
    write_seeds("corpus-pids", {"producer": program})
    return repl_corpus()


# fuzz_repl.c's program: op % 10 (0/1 a log update, 2 metadata, 3/4 a
# follower's fetch, 6 time, 7 an ISR shrink, 0x87 an expand, 9 drain).
def repl_corpus():
    meta = bytes([0x02, 0x0e, 0x07])       # replicas 1, 2, 3; all in the ISR; leader 1
    grow = bytes([0x00, 0x53, 2])          # 5 records appended and durable
    fetch2 = bytes([0x03, 1, 2, 2, 1])     # broker 2 fetches from HW + 4
    fetch3 = bytes([0x03, 2, 2, 2, 1])     # broker 3 too
    program = (meta + grow + fetch2 + fetch3 + bytes([0x09]) + grow + fetch2 +
               bytes([0x06, 200, 0x07, 0x09]) + fetch3 + fetch3 + bytes([0x87, 0x09]))
    write_seeds("corpus-repl", {"leader": program})
    return topic_cfg_corpus()


def topic_cfg_corpus():
    # Keys in kfk_tcfg_key_t's order; 7 = a name of its own before '='.
    seeds = {
        "retention-ms": b"\x05604800000",
        "retention-bytes": b"\x04-1",
        "segment-bytes": b"\x061048576",
        "max-message-bytes": b"\x011000000",
        "cleanup-policy": b"\x00delete",
        "timestamp-type": b"\x02LogAppendTime",
        "unknown-key": b"\x07flush.ms=1000",
    }
    write_seeds("corpus-topic-cfg", seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
