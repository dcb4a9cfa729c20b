#!/usr/bin/python3
"""meta_etcd.py: etcd put load for bench/meta.sh (the metadata benchmark).

    meta_etcd.py HOST:PORT seq N        one connection, N puts one after another
    meta_etcd.py HOST:PORT conc C SECS  C worker processes, one connection and
                                        one put in flight each, for SECS seconds

Talks to etcd's JSON gateway (POST /v3/kv/put, base64 key and value) over
keep-alive HTTP/1.1 connections (http.client), so that every put is one
request on an open connection, like the Kafka client on the chronik side.
Workers are processes, not threads, so that the GIL does not cap the rate.
Every answer must be HTTP 200 with a JSON "header"; anything else counts
as an error. Prints one "result key=value ..." line and one "# ..." line.
Exit status: 0 no error, 1 an error, 2 usage.
Not for: starting etcd (meta.sh does that) or anything chronik.
"""
import base64
import http.client
import json
import multiprocessing
import os
import sys
import time

VALUE = base64.b64encode(b"v" * 100).decode()


def put_body(key):
    return json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": VALUE})


def put(conn, key):
    """One put; returns its latency in microseconds or raises."""
    body = put_body(key)
    t0 = time.perf_counter_ns()
    conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    t1 = time.perf_counter_ns()
    if resp.status != 200 or "header" not in json.loads(data):
        raise RuntimeError("put %s: HTTP %d %r" % (key, resp.status, data[:200]))
    return (t1 - t0) // 1000


def quantile(sorted_us, q):
    if not sorted_us:
        return 0
    i = min(len(sorted_us) - 1, max(0, int(q * len(sorted_us) + 0.5) - 1))
    return sorted_us[i]


def report(mode, clients, lats, errors, secs, first_error):
    lats.sort()
    rate = len(lats) / secs if secs > 0 else 0
    print("result mode=%s clients=%d items=%d errors=%d secs=%.3f items_per_s=%.0f p50_us=%d "
          "p95_us=%d p99_us=%d max_us=%d" % (mode, clients, len(lats), errors, secs, rate,
                                             quantile(lats, 0.5), quantile(lats, 0.95),
                                             quantile(lats, 0.99), lats[-1] if lats else 0))
    print("# etcd %s: %d client(s), %d puts in %.2f s = %.0f/s; p50 %d us, p99 %d us; %d error(s)"
          % (mode, clients, len(lats), secs, rate, quantile(lats, 0.5), quantile(lats, 0.99),
             errors))
    if first_error:
        print("meta_etcd.py: first error: %s" % first_error, file=sys.stderr)
    sys.stdout.flush()
    return 1 if errors else 0


def connect(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=30)


def worker(addr, idx, start_at, end_at, out):
    """One concurrent client: puts until END_AT; sends (lats, errors, first)."""
    lats, errors, first = [], 0, None
    try:
        conn = connect(addr)
        while time.time() < start_at:
            time.sleep(0.001)
        n = 0
        while time.time() < end_at:
            lats.append(put(conn, "mb/c%d/%d" % (idx, n)))
            n += 1
    except Exception as e:  # noqa: BLE001 - any failure is a counted error
        errors, first = 1, str(e)
    out.send((lats, errors, first))
    out.close()


def run_seq(addr, n):
    conn = connect(addr)
    lats, errors, first = [], 0, None
    t0 = time.perf_counter()
    for i in range(n):
        try:
            lats.append(put(conn, "mb/seq/%d" % i))
        except Exception as e:  # noqa: BLE001
            errors, first = errors + 1, first or str(e)
            break
    return report("seq", 1, lats, errors, time.perf_counter() - t0, first)


def run_conc(addr, clients, secs):
    start_at = time.time() + 0.5 + 0.05 * clients  # every worker connected by then
    end_at = start_at + secs
    procs, pipes = [], []
    for i in range(clients):
        rd, wr = multiprocessing.Pipe(duplex=False)
        p = multiprocessing.Process(target=worker, args=(addr, i, start_at, end_at, wr))
        p.start()
        wr.close()
        procs.append(p)
        pipes.append(rd)
    lats, errors, first = [], 0, None
    for rd in pipes:
        try:
            l, e, f = rd.recv()
        except EOFError:
            l, e, f = [], 1, "a worker died"
        lats += l
        errors += e
        first = first or f
    for p in procs:
        p.join()
    return report("conc", clients, lats, errors, secs, first)


def main(argv):
    try:
        addr, mode = argv[1], argv[2]
        if mode == "seq" and len(argv) == 4:
            return run_seq(addr, int(argv[3]))
        if mode == "conc" and len(argv) == 5:
            return run_conc(addr, int(argv[3]), float(argv[4]))
    except (IndexError, ValueError):
        pass
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv))
