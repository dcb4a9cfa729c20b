#!/usr/bin/python3
"""kafka_idle_conns.py: holds N idle Kafka client connections open (bench/kafka.sh).

    kafka_idle_conns.py HOST PORT N [--hold-secs S]

Owned by bench/. Opens N TCP connections to a Kafka broker and sends one
ApiVersions v0 request on each, reading its response, so every connection is
a real, served Kafka client (as an idle librdkafka client is after its
handshake), not just an accepted socket. Then it prints "idle-conns open=N"
on stdout and keeps them idle for S seconds (default: until SIGTERM/SIGINT).
After the hold it sends one more ApiVersions on every connection and prints
"idle-conns served=K" (K = connections still answered), so a broker that
drops idle clients shows up; a signal skips that check. Exit 0 when all N
opened and all N were served again, 1 otherwise (also after a signal), 2 for
bad usage. Not for: load; the connections carry nothing else.
"""
import resource
import signal
import socket
import struct
import sys
import time

API_VERSIONS = 18
TIMEOUT_S = 10.0


def api_versions_request(corr):
    client = b"chronik-idle"
    body = struct.pack(">hhih", API_VERSIONS, 0, corr, len(client)) + client
    return struct.pack(">i", len(body)) + body


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the broker")
        buf += chunk
    return buf


def round_trip(sock, corr):
    """Sends ApiVersions v0 and checks the response's correlation id and error code."""
    sock.sendall(api_versions_request(corr))
    (size,) = struct.unpack(">i", read_exact(sock, 4))
    if size < 6 or size > 1 << 20:
        raise ValueError("bad response size %d" % size)
    resp = read_exact(sock, size)
    got_corr, err = struct.unpack(">ih", resp[:6])
    if got_corr != corr or err != 0:
        raise ValueError("correlation %d error %d" % (got_corr, err))


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            want = hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv):
    if len(argv) not in (4, 6) or (len(argv) == 6 and argv[4] != "--hold-secs"):
        print("usage: kafka_idle_conns.py HOST PORT N [--hold-secs S]", file=sys.stderr)
        return 2
    try:
        host, port, n = argv[1], int(argv[2]), int(argv[3])
        hold_s = float(argv[5]) if len(argv) == 6 else float("inf")
    except ValueError:
        print("usage: kafka_idle_conns.py HOST PORT N [--hold-secs S]", file=sys.stderr)
        return 2
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    raise_fd_limit(n)
    socks = []
    try:
        for i in range(n):
            if stop:
                break
            s = socket.create_connection((host, port), timeout=TIMEOUT_S)
            socks.append(s)
            round_trip(s, i + 1)
    except (OSError, ValueError) as e:
        print("kafka_idle_conns: connection %d: %s" % (len(socks), e), file=sys.stderr)
    print("idle-conns open=%d" % len(socks), flush=True)
    deadline = time.monotonic() + hold_s
    while not stop and time.monotonic() < deadline:
        time.sleep(0.05)
    served = 0
    for i, s in enumerate(socks):
        try:
            if not stop:
                round_trip(s, n + i + 1)
                served += 1
        except (OSError, ValueError):
            pass
        s.close()
    if not stop:
        print("idle-conns served=%d" % served, flush=True)
    return 0 if not stop and len(socks) == n and served == n else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
