#!/usr/bin/env python3
"""make_corpus.py: writes the fuzzers' seed corpora.

tests/fuzz/corpus/ (fuzz_kfk_request): one seed per distinct request API and
version in tests/unit/protocol/golden/*.frames (the frame after its 4-byte
size, exactly what fuzz_kfk_request takes).
tests/fuzz/corpus-records/ (fuzz_records): record sets as a Produce carries
them, made with the integration tests' encoder (kproto.py): one uncompressed
batch with keys, null values and headers, a gzip batch, two batches in a row,
an idempotent producer's batch; and a consumer subscription.
Run by hand after a new capture; the corpora are committed. Python 3
standard library only.
"""
import glob
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


def records_corpus():
    sys.path.insert(0, os.path.join(HERE, "..", "integration", "kafka"))
    import kproto  # noqa: E402  (the tests' own encoder)
    out = os.path.join(HERE, "corpus-records")
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "*.bin")):
        os.unlink(old)
    recs = [(b"k1", b"value one", [("h", b"x"), ("n", None)]), (None, None, []),
            (b"", b"v" * 40, [])]
    seeds = {
        "plain": kproto.record_batch(recs, base_ts=1700000000000),
        "gzip": kproto.gzip_batch(recs, base_ts=1700000000000),
        "two": kproto.record_batch(recs[:1], base_ts=1700000000000) +
               kproto.record_batch(recs[1:], base_offset=1, base_ts=1700000000001),
        "idempotent": kproto.record_batch(recs, base_ts=1700000000000, producer_id=7,
                                          producer_epoch=0, base_sequence=0),
        # ConsumerProtocolSubscription v1: topics "t" and "orders", null
        # user data, no owned partitions.
        "subscription": bytes(kproto.W().i16(1).i32(2).string("t").string("orders")
                              .i32(-1).i32(0)),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as g:
            g.write(data)
    print("%d seeds in %s" % (len(seeds), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
