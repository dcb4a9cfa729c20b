#!/usr/bin/env python3
"""make_corpus.py: writes tests/fuzz/corpus/ from the golden client frames.

One seed per distinct request API and version in
tests/unit/protocol/golden/*.frames (the frame after its 4-byte size, exactly
what fuzz_kfk_request takes). Run by hand after a new capture; the corpus is
committed. Python 3 standard library only.
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
