#!/bin/bash
# meta_smoke.sh: integration test of bench/meta.sh (meson test metabench_smoke).
#
#   bench/meta_smoke.sh BUILD_DIR
#
# Runs the metadata benchmark briefly (20 sequential requests, 0.3-second
# concurrent stages, no etcd) and checks what a user sees: every chronik
# stage of both commit modes prints numbers without errors, the raw
# fdatasync row and the target table are there; and afterwards no process it
# started is left and its data dir is gone, after a normal run and after
# SIGTERM in the middle of a stage. A process counts as ours when its
# environment carries this test's BENCH_DIR (every child inherits it).
# Exits 77 (skipped) when chronik-server or chronik-metabench is not built.
set -uo pipefail

build=$(cd "${1:-${CHRONIK_BUILD_ROOT:-}}" && pwd) || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
for b in supervisor/chronik-server bench/chronik-metabench bench/chronik-walbench; do
	if [ ! -x "$build/$b" ]; then
		echo "SKIP: $build/$b is not built"
		exit 77
	fi
done
tmp=$(mktemp -d /tmp/metabench-smoke.XXXXXX)
fails=0
bg=

# PIDs of processes (other than this shell) started with our BENCH_DIR.
# Bash builtins only (no process per PID).
leftovers() {
	local f pid env IFS=$'\n'
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[ "$pid" = $$ ] && continue
		{ mapfile -t -d '' env <"$f"; } 2>/dev/null || continue
		[[ $'\n'"${env[*]}"$'\n' == *$'\n'"BENCH_DIR=$tmp/data"$'\n'* ]] && echo "$pid"
	done
}

finish() {
	local p
	[ -n "$bg" ] && kill -TERM "$bg" 2>/dev/null && wait "$bg" 2>/dev/null
	# A leak of the benchmark under test: stop it by PID, keep the machine clean.
	for p in $(leftovers); do kill -KILL "$p" 2>/dev/null; done
	rm -rf -- "$tmp"
}
trap finish EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

check_clean() {
	local left
	left=$(leftovers)
	[ -z "$left" ] && ok "$1: no process left" || fail "$1: processes left: $left"
	[ ! -e "$tmp/data" ] && ok "$1: data dir removed" || fail "$1: $tmp/data still exists"
}

# Short stages also keep the clusters' topics few: a node's controlled
# shutdown moves the leadership of every partition it leads, and takes seconds
# per thousand partitions.
export BENCH_DIR=$tmp/data BENCH_META_SEQ=20 BENCH_META_SECS=0.3 BENCH_META_ETCD=0 \
	BENCH_META_TOPICS=50 BENCH_META_SYNC_ITERS=20

# 1. A short full run.
"$here/meta.sh" "$build" >"$tmp/out.txt" 2>"$tmp/err.txt"
rc=$?
[ "$rc" = 0 ] && ok "run exits 0" || { fail "run exited $rc"; tail -n 20 "$tmp/err.txt"; }
n='[0-9]+'
for m in quorum leader; do
	for label in "CreateTopics seq, to leader \(node [123]\)" \
		"CreateTopics seq, via follower \(node [123]\)" "CreateTopics, 16 clients" \
		"AlterConfigs retention.ms, 16 clients" "AlterConfigs metadata-only, 16 clients"; do
		grep -Eq "^$m: $label +[1-9][0-9]* +$n +$n +$n +$n +0 +$n$" "$tmp/out.txt" &&
			ok "$m: ${label//\\/}" || fail "no numbers (or errors) in row '$m: ${label//\\/}'"
	done
	[ "$(grep -Ec "^$m +.*(MET|NOT MET|n/a)$" "$tmp/out.txt")" = 4 ] && ok "$m: 4 targets" ||
		fail "$m: targets missing"
	grep -Eq "^$m: conc +$n% +$n% +$n% +$n%$" "$tmp/out.txt" && ok "$m: CPU row" ||
		fail "$m: no CPU row"
done
grep -Eq "^raw 4 KiB pwrite\+fdatasync .* +[1-9][0-9]* +$n(\.$n)? +- +$n(\.$n)?" "$tmp/out.txt" &&
	ok "fdatasync row" || fail "no fdatasync row"
grep -q "^etcd: not measured: disabled" "$tmp/out.txt" && ok "etcd skipped as asked" ||
	fail "no etcd skip line"
grep -q "failed stages: 0$" "$tmp/out.txt" && ok "no failed stage" || fail "failed stages"
check_clean "normal run"

# 2. SIGTERM while the 16-client stage runs (the sequential stages before it
# are 5 requests each).
BENCH_META_SECS=30 BENCH_META_SEQ=5 BENCH_META_MODES=quorum \
	"$here/meta.sh" "$build" >"$tmp/out2.txt" 2>&1 &
bg=$!
for ((i = 0; i < 1200; i++)); do
	compgen -G "$tmp/data/meta.*/quorum.conc.out" >/dev/null && break
	kill -0 "$bg" 2>/dev/null || break
	sleep 0.1
done
sleep 0.5
kill -TERM "$bg"
wait "$bg"
rc=$?
bg=
[ "$rc" = 130 ] && ok "SIGTERM -> exit 130" || { fail "SIGTERM: exit $rc"; tail -n 20 "$tmp/out2.txt"; }
check_clean "SIGTERM"

echo "$fails failure(s)"
[ "$fails" = 0 ]
