#!/bin/bash
# kafka_smoke.sh: integration test of bench/kafka.sh (the Kafka benchmark).
#
#   bench/kafka_smoke.sh BUILD_DIR
#
# Runs the benchmark with tiny durations against the built node and checks
# what a user sees: every row of the table has numbers, the consumer read
# what the producer delivered, the targets are printed with ratios; and that
# afterwards no process it started is left and its data dir is gone: after a
# normal run, after a node that cannot start, after SIGTERM in the middle of
# a produce run (of kafka.sh, and of bench/run.sh while it runs kafka.sh).
# When perf is installed the normal run is also a profiled run
# (BENCH_KAFKA_PERF), whose per-process profiles are checked too. The
# failure and SIGTERM cases skip the idle-connection stage (BENCH_KAFKA_CONNS=0,
# ~10 s; the normal run measures it). Exits 77 (skipped) when chronik-server
# or chronik-bench is not built.
#
# Every process the bench starts inherits CHRONIK_KSMOKE_TAG in its
# environment; leftovers are found by that tag, so even an orphan whose
# parent died is found (and killed, by PID, so the machine stays clean).
# Registered in bench/meson.build as bench_kafka_smoke (the chronik-bench
# binary alone is tested by tests/integration/kafka/test_bench.py).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
smoke_build "${1:-${CHRONIK_BUILD_ROOT:-}}"
smoke_init kafka-smoke "$build/supervisor/chronik-server" "$build/bench/chronik-bench"
export CHRONIK_KSMOKE_TAG=$tmp

# PIDs of processes carrying our tag (excluding this script). Bash builtins
# only (no process per PID): smoke_wait_for polls it every 0.1 s.
leftovers() {
	local f pid env IFS=$'\n'
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[ "$pid" = $$ ] && continue
		{ mapfile -t -d '' env <"$f"; } 2>/dev/null || continue
		[[ $'\n'"${env[*]}"$'\n' == *$'\n'"CHRONIK_KSMOKE_TAG=$tmp"$'\n'* ]] && echo "$pid"
	done
}

check_clean() { # label
	local left
	left=$(leftovers)
	[ -z "$left" ] && ok "$1: no process left" ||
		fail "$1: processes left: $(for p in $left; do { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null; echo; done)"
	[ -z "$(ls -A "$tmp/data" 2>/dev/null)" ] && ok "$1: data removed" ||
		fail "$1: $tmp/data not empty: $(ls "$tmp/data")"
}

export BENCH_DIR=$tmp/data BENCH_KAFKA_SECS=1 BENCH_KAFKA_SEQ_MB=16 BENCH_KAFKA_CONNS=100 \
	BENCH_KAFKA_SETTLE_SECS=0.5 BENCH_KAFKA_SAMPLE_MS=100
num='[0-9]+(\.[0-9]+)?'
out=$tmp/out.txt

# 0. The idle-connection helper rejects bad usage.
/usr/bin/python3 "$here/kafka_idle_conns.py" 127.0.0.1 >/dev/null 2>&1
[ $? = 2 ] && ok "idle-conns helper: usage -> 2" || fail "idle-conns helper: bad usage accepted"

# 1. A full (tiny) run; profiled when perf is installed. 3 s of profile: in
# 1 s under perf a process may see no sample at all on a busy 2-core machine.
perf=
command -v perf >/dev/null && perf=$tmp/perf
BENCH_KAFKA_PERF=$perf BENCH_KAFKA_PERF_SECS=3 "$here/kafka.sh" "$build" >"$out" 2>"$tmp/err.txt"
rc=$?
[ "$rc" = 0 ] && ok "run exits 0" || { fail "run exited $rc"; cat "$tmp/err.txt"; }
grep -Eq "^sequential 1 MiB writes, fdatasync every 16 MiB: $num MB/s" "$out" && ok "disk row" ||
	fail "no disk row"
for a in 1 all; do
	grep -Eq "^produce acks=$a +[1-9][0-9]* +$num +[0-9]+% +$num +$num +$num +$num +$num +[1-9][0-9]* +0\$" \
		"$out" && ok "produce acks=$a row" ||
		fail "produce acks=$a row: '$(grep -E "^produce acks=$a " "$out" | head -n 1)'"
done
delivered=$(awk '/^produce acks=1 +[0-9]+ +[0-9.]+ +[0-9]+%/ { print $(NF - 1) }' "$out")
read_n=$(awk '/^consume +[0-9]+ +[0-9.]+ +- / { print $(NF - 1) }' "$out")
[ -n "$delivered" ] && [ "$read_n" = "$delivered" ] && ok "consume read all $delivered" ||
	fail "consume read '$read_n', produce delivered '$delivered'"
if command -v kcat >/dev/null; then
	[ "$(awk '/^consume \(kcat\) +[0-9]+ +[0-9.]+ +- / { print $(NF - 1) }' "$out")" = "$delivered" ] &&
		ok "kcat read all" || fail "kcat consume row"
fi
for p in chronik-server walwriter raftd replicator kafka-frontend; do
	grep -Eq "^$p +$num +$num / $num +$num / $num +$num\$" "$out" && ok "memory row $p" ||
		fail "memory row $p: '$(grep -E "^$p " "$out" | head -n 1)'"
done
grep -Eq "^produce acks=1 +[0-9]+% +[0-9]+% +[0-9]+% +[0-9]+% +[0-9]+% +[0-9]+% +$num"s "$out" &&
	ok "cpu row" || fail "cpu row"
grep -Eq "^kafka-frontend VmRSS: $num MB before, $num MB with 100 idle connections open \(100 of them served" \
	"$out" && ok "idle connections line" || fail "idle connections line"
[ "$(grep -Ec "^(produce acks=(1|all) >=|consume >=|1000 idle connections|every process).* ($num|-) +(MET|NOT MET|n/a)\$" "$out")" -ge 5 ] &&
	ok "targets" || fail "targets missing"
grep -Eq "^every process <= 256 MB .* $num +(MET|NOT MET)\$" "$out" && ok "memory target measured" ||
	fail "memory target not measured"
if [ -n "$perf" ]; then
	for p in walwriter kafka-frontend chronik-bench; do
		grep -Eq "^-- $p: [1-9][0-9]*K? samples" "$out" && [ -s "$perf/$p.top.txt" ] &&
			ok "profile of $p" || fail "no profile of $p"
	done
else
	echo "note: perf not installed, profile not checked"
fi
check_clean "normal run"

export BENCH_KAFKA_CONNS=0

# 2. A node that cannot start: the run fails and still cleans up.
BENCH_SERVER=/bin/false "$here/kafka.sh" "$build" >"$tmp/out2.txt" 2>"$tmp/err2.txt"
smoke_failed_run $? "failed node" "did not become healthy" "$tmp/err2.txt"

# 3. SIGTERM while a produce run is going on.
BENCH_KAFKA_SECS=60 "$here/kafka.sh" "$build" >"$tmp/out3.txt" 2>&1 &
bg=$!
smoke_wait_for "chronik-bench produce" || fail "produce run never started"
smoke_sigterm "SIGTERM"

# 4. SIGTERM to bench/run.sh while it runs kafka.sh.
BENCH_KAFKA_SECS=60 BENCH_SECS=0.3 BENCH_LAT_SECS=0.3 BENCH_WARMUP_SECS=0.1 BENCH_SYNC_ITERS=40 \
	BENCH_SEQ_MB=16 BENCH_MEM_MB=16 BENCH_PROFILES=high BENCH_APPENDERS=16 BENCH_BATCHES=1024 \
	BENCH_NODE=0 "$here/run.sh" "$build" >"$tmp/out4.txt" 2>&1 &
bg=$!
smoke_wait_for "chronik-bench produce" || fail "run.sh: kafka produce never started"
smoke_sigterm "run.sh SIGTERM during kafka.sh"

smoke_exit
