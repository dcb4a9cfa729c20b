#!/bin/bash
# run.sh: chronik's storage benchmark (`make bench` runs `bench/run.sh BUILD_DIR`).
#
# In one run, on one filesystem (a fresh directory under $BENCH_DIR, default
# ./bench-data, deleted afterwards) it measures:
#   1. raw 4 KiB pwrite+fdatasync latency on a preallocated, zero-filled file
#   2. raw sequential bandwidth (1 MiB writes, fdatasync every 16 MiB)
#   3. walwriter ack latency with one appender (one 1 KiB batch in flight)
#   4. walwriter appends/s and MB/s for 16 and 256 appenders x 1 KiB and 64 KiB
#      batches, for every WAL profile (CHRONIK_WAL_PROFILE)
#   5. walwriter VmRSS idle and after writing $BENCH_MEM_MB, and the VmRSS sum
#      of a whole idle node (supervisor + 4 children) when chronik-server exists
# then prints a table and the project's target ratios computed from this run.
# It starts chronik-walwriter / chronik-server itself, stops exactly the
# processes it started (by PID) and removes its data on every exit path.
#
# Knobs (environment): BENCH_DIR, BENCH_SECS (measured seconds per throughput
# run, 8), BENCH_LAT_SECS (one-appender run, 5), BENCH_WARMUP_SECS (1),
# BENCH_SYNC_ITERS (2000), BENCH_SEQ_MB (2048), BENCH_MEM_MB (2048),
# BENCH_MEM_PROFILE (high), BENCH_PROFILES ("ultra high medium low"),
# BENCH_APPENDERS ("16 256"), BENCH_BATCHES ("1024 65536"), BENCH_CONNS (16),
# BENCH_PARTITIONS (1), BENCH_NODE_SETTLE_SECS (3), BENCH_NODE (auto|0),
# BENCH_WALWRITER / BENCH_SERVER (binaries; default from BUILD_DIR).
# At the end it runs bench/kafka.sh BUILD_DIR (the Kafka produce/consume
# benchmark, its own knobs BENCH_KAFKA_*); BENCH_KAFKA=0 skips it. Then
# bench/meta.sh BUILD_DIR (the metadata benchmark, knobs BENCH_META_*);
# BENCH_META=0 skips it.
# MB = 10^6 bytes. Exit status: 0 every stage measured, 1 a stage failed,
# 2 usage error.
set -uo pipefail
export LC_ALL=C

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || { echo "run.sh: no build dir '$1'" >&2; exit 2; }

SECS=${BENCH_SECS:-8}
LAT_SECS=${BENCH_LAT_SECS:-5}
WARMUP=${BENCH_WARMUP_SECS:-1}
SYNC_ITERS=${BENCH_SYNC_ITERS:-2000}
RESYNC_ITERS=$((SYNC_ITERS / 4 > 20 ? SYNC_ITERS / 4 : 20))
SEQ_MB=${BENCH_SEQ_MB:-2048}
MEM_MB=${BENCH_MEM_MB:-2048}
MEM_PROFILE=${BENCH_MEM_PROFILE:-high}
PROFILES=${BENCH_PROFILES:-ultra high medium low}
APPENDERS=${BENCH_APPENDERS:-16 256}
BATCHES=${BENCH_BATCHES:-1024 65536}
CONNS=${BENCH_CONNS:-16}
PARTITIONS=${BENCH_PARTITIONS:-1}
SETTLE=${BENCH_NODE_SETTLE_SECS:-3}
CLK_TCK=$(getconf CLK_TCK)
walbench=$build/bench/chronik-walbench
walwriter=${BENCH_WALWRITER:-$build/walwriter/chronik-walwriter}
server=${BENCH_SERVER:-$build/supervisor/chronik-server}

base=${BENCH_DIR:-$PWD/bench-data}
created_base=0
work=
pids=()          # every process this script started and has not reaped
failures=0
declare -A R     # results: R[stage.key]=value

log() { echo "run.sh: $*" >&2; }

# --- process control (bench/proc.sh) ---------------------------------------

orphans=() # the idle node's children, SIGKILLed if they outlive it
. "$(dirname "$0")/proc.sh"
. "$(dirname "$0")/results.sh"

# --- helpers ----------------------------------------------------------------

# bench STAGE ARGS...: runs chronik-walbench, stores its result line. It runs
# in the background so that a signal to this script is handled at once.
bench() {
	local stage=$1 out=$work/walbench.out rc
	shift
	proc_run "$out" "$work/walbench.err" "$walbench" "$@"
	rc=$?
	if [ "$rc" = 0 ] && [ -s "$out" ]; then
		parse "$stage" "$(cat "$out")"
		R[$stage.ok]=1
		return 0
	fi
	log "stage $stage failed (status $rc): chronik-walbench $*"
	tail -n 5 "$work/walbench.err" >&2
	failures=$((failures + 1))
	return 1
}

rss_kb() { awk -v k="${2:-VmRSS}:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }

# fmt_mb KB -> MB with one decimal ("-" passes through).
fmt_mb() { [ "$1" = - ] && echo - || awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }

machine_info() {
	machine_lines "$base"
	echo "settings: BENCH_SECS=$SECS BENCH_LAT_SECS=$LAT_SECS BENCH_WARMUP_SECS=$WARMUP" \
		"BENCH_SYNC_ITERS=$SYNC_ITERS BENCH_SEQ_MB=$SEQ_MB BENCH_MEM_MB=$MEM_MB" \
		"BENCH_CONNS=$CONNS BENCH_PARTITIONS=$PARTITIONS"
	echo "load at start: $(pressure)"
}

# --- walwriter --------------------------------------------------------------

# start_walwriter PROFILE DIR: starts chronik-walwriter on DIR and waits for
# its socket. Sets wal_pid. Returns 1 (process stopped again) on failure.
start_walwriter() {
	local profile=$1 dir=$2 i
	mkdir -p "$dir"
	CHRONIK_WAL_PROFILE=$profile "$walwriter" --data-dir "$dir" >"$dir.log" 2>&1 &
	wal_pid=$!
	pids+=("$wal_pid")
	for ((i = 0; i < 300; i++)); do
		[ -S "$dir/run/walwriter.sock" ] && return 0
		proc_running "$wal_pid" || break
		sleep 0.1
	done
	log "walwriter (profile $profile) did not come up; its log:"
	tail -n 20 "$dir.log" >&2
	proc_stop "$wal_pid" 5
	return 1
}

# wal_bench STAGE ARGS...: a walbench wal run against the running walwriter;
# also records the CPU share (% of one CPU) of the walwriter and the client.
wal_bench() {
	local stage=$1 c0 t0
	shift
	if ! proc_running "$wal_pid"; then
		log "stage $stage skipped: walwriter is not running"
		failures=$((failures + 1))
		return 1
	fi
	c0=$(cpu_ticks "$wal_pid")
	t0=$EPOCHREALTIME
	bench "$stage" wal --socket "$sock" --partitions "$PARTITIONS" \
		--warmup-secs "$WARMUP" "$@" || return 1
	R[$stage.srv_cpu]=$(awk -v a="$c0" -v b="$(cpu_ticks "$wal_pid")" -v hz="$CLK_TCK" \
		-v t="$t0" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / (now - t) }')
	R[$stage.cli_cpu]=$(awk -v c="$(get "$stage" client_cpu_s)" -v t="$t0" -v now="$EPOCHREALTIME" \
		'BEGIN { printf "%.0f", 100 * c / (now - t) }')
}

# measure_memory: writes MEM_MB in two halves (kept stored) and samples the
# walwriter's VmRSS after each: a flat second half means no growth with data.
measure_memory() {
	local half=$((MEM_MB / 2))
	R[mem.before_kb]=$(rss_kb "$wal_pid")
	wal_bench mem1 --topic mem --appenders 16 --batch-bytes 65536 --total-mb "$half" &&
		R[mem.half_kb]=$(rss_kb "$wal_pid")
	wal_bench mem2 --topic mem --appenders 16 --batch-bytes 65536 \
		--total-mb "$((MEM_MB - half))" && R[mem.full_kb]=$(rss_kb "$wal_pid")
	R[mem.hwm_kb]=$(rss_kb "$wal_pid" VmHWM)
}

run_profile() {
	local profile=$1 dir=$work/wal-$1 n b c
	sock=$dir/run/walwriter.sock
	log "profile $profile"
	# The disk's sync latency drifts on a shared VM: measure it again right
	# before each profile so the latency target compares neighbours in time.
	bench "$profile.sync" disk-sync --dir "$work" --iters "$RESYNC_ITERS" --block-bytes 4096
	if ! start_walwriter "$profile" "$dir"; then
		failures=$((failures + 1))
		return
	fi
	if [ "$profile" = "$MEM_PROFILE" ]; then
		sleep 1
		R[mem.idle_kb]=$(rss_kb "$wal_pid")
	fi
	wal_bench "$profile.1.1024" --topic lat --appenders 1 --batch-bytes 1024 \
		--secs "$LAT_SECS" --delete
	for b in $BATCHES; do
		for n in $APPENDERS; do
			c=$((n < CONNS ? n : CONNS))
			wal_bench "$profile.$n.$b" --topic "load-$n-$b" --appenders "$n" \
				--conns "$c" --batch-bytes "$b" --secs "$SECS" --delete
		done
	done
	[ "$profile" = "$MEM_PROFILE" ] && measure_memory
	proc_stop "$wal_pid" 30
	R[$profile.stop]=$stop_status
	if [ "$stop_status" != 0 ]; then
		log "walwriter (profile $profile) ended with status $stop_status on SIGTERM; its log:"
		tail -n 20 "$dir.log" >&2
	fi
	rm -rf -- "$dir" "$dir.log"
}

# --- a whole idle node ------------------------------------------------------

node_children() { cat /proc/"$1"/task/*/children 2>/dev/null; }

write_node_config() {
	local ports
	ports=($("$walbench" free-ports 4)) && [ "${#ports[@]}" = 4 ] || return 1
	cat >"$work/node.toml" <<EOF
# generated by bench/run.sh
[node]
data_dir = "$work/node"

[listeners]
kafka = "127.0.0.1:${ports[0]}"
replication = "127.0.0.1:${ports[1]}"
raft = "127.0.0.1:${ports[2]}"
admin = "127.0.0.1:${ports[3]}"
EOF
}

run_node() {
	local i kids=() k total comm rss
	if [ "${BENCH_NODE:-auto}" = 0 ]; then R[node.skip]="disabled (BENCH_NODE=0)"; return; fi
	if [ ! -x "$server" ]; then R[node.skip]="not built ($server missing)"; return; fi
	log "idle node"
	mkdir -p "$work/node"
	write_node_config || { log "no free ports"; failures=$((failures + 1)); return; }
	"$server" start --config "$work/node.toml" >"$work/node.log" 2>&1 &
	node_pid=$!
	pids+=("$node_pid")
	for ((i = 0; i < 600; i++)); do
		kids=($(node_children "$node_pid"))
		[ "${#kids[@]}" -ge 4 ] && break
		proc_running "$node_pid" || break
		sleep 0.1
	done
	orphans+=("${kids[@]}")
	if [ "${#kids[@]}" -lt 4 ]; then
		R[node.skip]="did not start 4 children (found ${#kids[@]})"
		log "node did not start 4 children; its log:"
		tail -n 30 "$work/node.log" >&2
		failures=$((failures + 1))
	else
		sleep "$SETTLE"
		kids=($(node_children "$node_pid"))
		orphans+=("${kids[@]}")
		total=$(rss_kb "$node_pid")
		R[node.detail]="chronik-server=$(fmt_mb "$total")"
		for k in "${kids[@]}"; do
			rss=$(rss_kb "$k")
			comm=$(cat "/proc/$k/comm" 2>/dev/null)
			total=$((total + ${rss:-0}))
			R[node.detail]+=" $comm=$(fmt_mb "${rss:-0}")"
		done
		R[node.count]=$((1 + ${#kids[@]}))
		R[node.total_kb]=$total
	fi
	proc_stop "$node_pid" 40
	R[node.stop]=$stop_status
	proc_kill_orphans
	rm -rf -- "$work/node"
}

# --- report -----------------------------------------------------------------

batch_name() { [ "$1" -ge 1024 ] && [ $(($1 % 1024)) = 0 ] && echo "$(($1 / 1024)) KiB" || echo "$1 B"; }

report_raw() {
	local p row='%-52s %10s %10s %10s %12s\n'
	echo
	echo "== raw disk (same filesystem) =="
	printf "$row" "" "p50 us" "p99 us" "p99.9 us" "rate"
	printf "$row" "4 KiB pwrite + fdatasync, preallocated file" \
		"$(get sync p50_us)" "$(get sync p99_us)" "$(get sync p999_us)" \
		"$(get sync ops_per_s) op/s"
	for p in $PROFILES; do
		printf "$row" "  again, just before profile $p ($RESYNC_ITERS writes)" \
			"$(get "$p.sync" p50_us)" "$(get "$p.sync" p99_us)" \
			"$(get "$p.sync" p999_us)" "$(get "$p.sync" ops_per_s) op/s"
	done
	printf "$row" "sequential 1 MiB writes, fdatasync every 16 MiB" \
		- - - "$(get seq mb_per_s) MB/s"
	for p in sync $(for p in $PROFILES; do echo "$p.sync"; done); do
		if [ "$(verdict 'a > 1000' "$(get "$p" p50_us)")" = MET ]; then
			echo "warning: fdatasync p50 above 1 ms ($p): the disk was in a slow mode;" \
				"latency ratios of this run are unreliable"
			break
		fi
	done
}

report_wal() {
	local p n b s
	echo
	echo "== walwriter: $PARTITIONS partition(s); each appender keeps one Append in flight," \
		"appenders share min(N,$CONNS) connections =="
	echo "(wal cpu / cli cpu: CPU time of the walwriter, all threads, and of the load client over" \
		"the run's wall time, in % of one CPU; this machine has $(nproc))"
	printf "%-8s %9s %8s %12s %9s %9s %9s %9s %8s %8s\n" profile appenders batch appends/s \
		MB/s "p50 us" "p99 us" "p99.9 us" "wal cpu" "cli cpu"
	for p in $PROFILES; do
		for s in "1.1024" $(for b in $BATCHES; do for n in $APPENDERS; do echo "$n.$b"; done; done); do
			n=${s%%.*}
			b=${s#*.}
			printf "%-8s %9s %8s %12s %9s %9s %9s %9s %7s%% %7s%%\n" "$p" "$n" \
				"$(batch_name "$b")" "$(get "$p.$s" appends_per_s)" \
				"$(get "$p.$s" mb_per_s)" "$(get "$p.$s" p50_us)" "$(get "$p.$s" p99_us)" \
				"$(get "$p.$s" p999_us)" "$(get "$p.$s" srv_cpu)" "$(get "$p.$s" cli_cpu)"
		done
	done
}

report_memory() {
	echo
	echo "== memory (VmRSS) =="
	echo "walwriter (profile $MEM_PROFILE): idle $(fmt_mb "$(get mem idle_kb)") MB," \
		"after the load runs $(fmt_mb "$(get mem before_kb)") MB," \
		"after $((MEM_MB / 2)) MiB stored $(fmt_mb "$(get mem half_kb)") MB," \
		"after $MEM_MB MiB stored $(fmt_mb "$(get mem full_kb)") MB, peak (VmHWM) $(fmt_mb "$(get mem hwm_kb)") MB"
	if [ -n "${R[node.total_kb]:-}" ]; then
		echo "idle node, ${R[node.count]} processes: ${R[node.detail]}" \
			"-> total $(fmt_mb "${R[node.total_kb]}") MB"
	else
		echo "idle node: not measured: ${R[node.skip]:-unknown}"
	fi
}

best_64k_mbps() {
	local p=$1 n v best=-
	for n in $APPENDERS; do
		v=$(get "$p.$n.65536" mb_per_s)
		[ "$v" = - ] && continue
		best=$(awk -v a="$v" -v b="$best" 'BEGIN { print (b == "-" || a + 0 > b + 0) ? a : b }')
	done
	echo "$best"
}

report_targets() {
	local p lat sync seq=$(get seq mb_per_s) ap bw half full node
	echo
	echo "== targets (ratios within this run; fdatasync p50 = the one measured just before the profile) =="
	printf "%-8s %-44s %-36s %s\n" profile target measured result
	for p in $PROFILES; do
		lat=$(get "$p.1.1024" p50_us)
		sync=$(get "$p.sync" p50_us)
		printf "%-8s %-44s %-36s %s\n" "$p" "1-appender p50 ack <= fdatasync p50 + 100us" \
			"$lat <= $sync + 100" "$(verdict 'a <= b + 100' "$lat" "$sync")"
		ap=$(get "$p.256.1024" appends_per_s)
		printf "%-8s %-44s %-36s %s\n" "$p" "256 appenders x 1 KiB >= 100,000 appends/s" \
			"$ap appends/s" "$(verdict 'a >= 100000' "$ap")"
		bw=$(best_64k_mbps "$p")
		printf "%-8s %-44s %-36s %s\n" "$p" "64 KiB batches >= 70% of raw sequential" \
			"$bw / $seq MB/s = $(awk -v a="$bw" -v b="$seq" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.0f%%", 100 * a / b }')" \
			"$(verdict 'a >= 0.7 * b' "$bw" "$seq")"
	done
	half=$(get mem half_kb)
	full=$(get mem full_kb)
	printf "%-8s %-44s %-36s %s\n" "$MEM_PROFILE" "walwriter RSS flat as data grows (<2 MB)" \
		"$(awk -v a="$full" -v b="$half" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%+.1f", (a - b) / 1024 }') MB over the 2nd half" \
		"$(verdict '(a - b) < 2048' "$full" "$half")"
	node=${R[node.total_kb]:--}
	printf "%-8s %-44s %-36s %s\n" node "idle node total VmRSS <= 30 MB" \
		"$(fmt_mb "$node") MB" "$(verdict 'a <= 30 * 1024' "$node")"
	echo "note: medium and low hold a lone append for their group window before syncing, by"
	echo "design, so the one-appender latency target is the latency profiles' (ultra, high)."
}

# --- the Kafka benchmark ----------------------------------------------------

# run_kafka: bench/kafka.sh against a whole node (BENCH_KAFKA=0 skips it). A
# failed Kafka stage counts as a failed stage here; 77 (not built) does not.
# It runs in the background (named chronik-kafka-bench in ps), so that the
# cleanup (bench/proc.sh) stops it, and it its node, on SIGTERM like any
# other child.
run_kafka() { [ "${BENCH_KAFKA:-1}" = 0 ] || run_chained kafka.sh "kafka benchmark"; }

# run_meta: bench/meta.sh, the metadata benchmark (BENCH_META=0 skips it).
run_meta() { [ "${BENCH_META:-1}" = 0 ] || run_chained meta.sh "metadata benchmark"; }

# run_chained SCRIPT LABEL: one of the chained benchmarks, run as described
# above run_kafka; a failure counts as a failed stage, 77 (not built) not.
run_chained() {
	local rc
	echo
	(exec -a "chronik-${1%.sh}-bench" /bin/bash "$(dirname "$0")/$1" "$build") &
	pids+=("$!")
	proc_wait "$!"
	rc=$?
	case $rc in
	0) ;;
	77) echo "$2 skipped: not built (see stderr)" ;;
	*) log "$2 failed (status $rc)"; failures=$((failures + 1)) ;;
	esac
}

# --- main -------------------------------------------------------------------

main() {
	local p t0=$SECONDS
	for p in "$walbench"; do
		[ -x "$p" ] || { log "missing $p: build it first (ninja -C $build)"; exit 2; }
	done
	proc_workdir run
	echo "chronik storage benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
	machine_info
	log "raw disk: $SYNC_ITERS x 4 KiB synced writes, $SEQ_MB MiB sequential"
	bench sync disk-sync --dir "$work" --iters "$SYNC_ITERS" --block-bytes 4096
	bench seq disk-seq --dir "$work" --total-mb "$SEQ_MB" --write-kb 1024 --sync-mb 16
	if [ -x "$walwriter" ]; then
		for p in $PROFILES; do run_profile "$p"; done
	else
		log "missing $walwriter: walwriter stages skipped"
		failures=$((failures + 1))
	fi
	run_node
	report_raw
	report_wal
	report_memory
	report_targets
	echo
	echo "load at end: $(pressure)"
	echo "elapsed $((SECONDS - t0)) s; failed stages: $failures"
	run_kafka
	run_meta
	[ "$failures" = 0 ]
}

main
