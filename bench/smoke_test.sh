#!/bin/bash
# smoke_test.sh: integration test of bench/run.sh (meson test walbench_smoke).
#
#   bench/smoke_test.sh BUILD_DIR
#
# Runs the benchmark with tiny durations against the built walwriter and
# checks what a user sees: every stage prints numbers, the target table is
# there, and afterwards no process it started is left and its data dir is
# gone: after a normal run, after a walwriter that cannot start, and after
# SIGTERM in the middle of a walwriter stage. Exits 77 (skipped) when
# chronik-walwriter is not built. BENCH_WALWRITER overrides the walwriter
# binary, as for run.sh. The chained benchmarks are off (BENCH_KAFKA=0,
# BENCH_META=0): kafka.sh and meta.sh have their own smoke tests, and
# kafka_smoke.sh also runs run.sh into kafka.sh. The failure and SIGTERM
# cases shorten what comes before the point they test.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
smoke_build "${1:-${CHRONIK_BUILD_ROOT:-}}"
smoke_init walbench-smoke "${BENCH_WALWRITER:-$build/walwriter/chronik-walwriter}"

# PIDs of processes whose command line mentions $tmp (excluding ourselves):
# anything still running with it is a leak of the bench under test. Bash
# builtins only (no process per PID): smoke_wait_for polls it every 0.1 s.
leftovers() {
	local f pid args
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[ "$pid" = $$ ] && continue
		{ mapfile -t -d '' args <"$f"; } 2>/dev/null || continue
		[[ "${args[*]}" == *"$tmp/data"* ]] && echo "$pid"
	done
}

check_clean() { # label
	local left
	left=$(leftovers)
	[ -z "$left" ] && ok "$1: no process left" || fail "$1: processes left: $left"
	[ ! -e "$tmp/data" ] && ok "$1: data dir removed" || fail "$1: $tmp/data still exists"
}

export BENCH_DIR=$tmp/data BENCH_SECS=0.5 BENCH_LAT_SECS=0.5 BENCH_WARMUP_SECS=0.1 \
	BENCH_SYNC_ITERS=200 BENCH_SEQ_MB=32 BENCH_MEM_MB=32 BENCH_PROFILES="high low" \
	BENCH_NODE_SETTLE_SECS=0.5 BENCH_KAFKA=0 BENCH_META=0

# 1. A full (tiny) run.
"$here/run.sh" "$build" >"$tmp/out.txt" 2>"$tmp/err.txt"
rc=$?
[ "$rc" = 0 ] && ok "run exits 0" || { fail "run exited $rc"; cat "$tmp/err.txt"; }
num='[0-9]+(\.[0-9]+)?'
grep -Eq "^4 KiB pwrite \+ fdatasync, preallocated file +$num +$num +$num +$num op/s" "$tmp/out.txt" &&
	ok "fdatasync row" || fail "no fdatasync row"
grep -Eq "^sequential 1 MiB writes.* $num MB/s" "$tmp/out.txt" && ok "sequential row" ||
	fail "no sequential row"
for p in high low; do
	for row in "1 +1 KiB" "16 +1 KiB" "256 +1 KiB" "16 +64 KiB" "256 +64 KiB"; do
		grep -Eq "^$p +$row +[1-9][0-9]* +$num +$num +$num +$num" "$tmp/out.txt" &&
			ok "row $p $row" || fail "no numbers in row $p $row"
	done
	[ "$(grep -Ec "^$p +(1-appender|256 appenders|64 KiB).*(MET|NOT MET)$" "$tmp/out.txt")" = 3 ] &&
		ok "targets $p" || fail "targets of $p missing"
done
grep -Eq "^walwriter \(profile high\): idle $num MB,.* after 32 MiB stored $num MB" "$tmp/out.txt" &&
	ok "walwriter memory" || fail "walwriter memory line"
if [ -x "$build/supervisor/chronik-server" ]; then
	grep -Eq "^idle node, 5 processes: .* -> total $num MB" "$tmp/out.txt" && ok "node memory" ||
		fail "node memory line"
else
	grep -q "^idle node: not measured: not built" "$tmp/out.txt" && ok "node skipped" ||
		fail "node line"
fi
check_clean "normal run"

# 2. A walwriter that cannot start: the run fails and still cleans up (the
# raw disk stages before it short, the idle node after it off).
BENCH_WALWRITER=/bin/false BENCH_SYNC_ITERS=20 BENCH_SEQ_MB=4 BENCH_NODE=0 \
	"$here/run.sh" "$build" >"$tmp/out2.txt" 2>"$tmp/err2.txt"
smoke_failed_run $? "failed walwriter" "did not come up" "$tmp/err2.txt"

# 3. SIGTERM while a walwriter stage runs (every walwriter stage 30 s long,
# so whichever one smoke_wait_for sees still runs when the signal comes).
BENCH_SECS=30 BENCH_LAT_SECS=30 BENCH_SYNC_ITERS=20 BENCH_SEQ_MB=4 \
	"$here/run.sh" "$build" >"$tmp/out3.txt" 2>&1 &
bg=$!
smoke_wait_for "chronik-walbench wal --socket $tmp/data" || fail "no walwriter stage started"
smoke_sigterm "SIGTERM"

smoke_exit
