#!/bin/bash
# kafka.sh: chronik's Kafka produce/consume benchmark against one node
# (`make bench` runs it after the storage benchmark; alone: bench/kafka.sh BUILD_DIR).
#
# In one run, in a fresh directory under $BENCH_DIR (default ./bench-data, so
# on the repository's filesystem; deleted afterwards) it measures:
#   1. raw sequential disk bandwidth (chronik-walbench disk-seq), so that the
#      produce MB/s can be read as a share of what the disk does in this run
#   2. a single node (chronik-server + its 4 children) started from a
#      generated config on free loopback ports; kafka-frontend's VmRSS before
#      and while BENCH_KAFKA_CONNS (1,000) idle, served client connections are
#      open (bench/kafka_idle_conns.py)
#   3. chronik-bench produce, 100-byte messages, linger.ms 5, for acks=1 and
#      acks=all: msg/s, MB/s, latency p50/p95/p99/p99.9; meanwhile the VmRSS
#      of every node process is sampled, their VmHWM reset before and read
#      after the run (/proc/PID/clear_refs), and their CPU time recorded
#   3b. with BENCH_KAFKA_RATE_PCT (50) > 0: one more produce run, with the last
#      acks mode, paced at that share of the slowest full-speed rate above
#      (chronik-bench --rate: each message's latency runs from its due time),
#      so the latencies are the broker's at a load it keeps up with rather
#      than the client's queue at saturation
#   4. chronik-bench consume of the acks=1 topic from its beginning to its
#      end (the count must equal what was delivered), and the same with kcat
#      and queued.min.messages=1000000: librdkafka 2.0's default (100,000)
#      makes its fetcher back off ~0.5-1 s whenever the local queue is full,
#      so the second figure shows what the broker serves, the first what a
#      default-configured client gets
#   5. with BENCH_KAFKA_PERF=DIR: one more acks=1 produce run with
#      `perf record -g -e cpu-clock` attached to every node process and the
#      client; top functions per process printed, data and reports kept in DIR
# then prints a table and the targets as ratios from this same run.
# It stops exactly the processes it started (by PID; the node's children are
# killed by PID only if they outlive their supervisor) and removes its data on
# every exit path, also after SIGINT/SIGTERM.
#
# Knobs (environment): BENCH_DIR; BENCH_KAFKA_SECS (produce seconds per acks
# mode; default BENCH_SECS, else 8); BENCH_KAFKA_SEQ_MB (raw sequential MiB;
# default BENCH_SEQ_MB, else 1024); BENCH_KAFKA_PARTITIONS (1);
# BENCH_KAFKA_SIZE (100); BENCH_KAFKA_LINGER_MS (5); BENCH_KAFKA_ACKS
# ("1 all"); BENCH_KAFKA_CONNS (1000; 0 skips); BENCH_KAFKA_SETTLE_SECS (2);
# BENCH_KAFKA_SAMPLE_MS (200); BENCH_KAFKA_RATE_PCT (50; 0 skips the paced run);
# BENCH_KAFKA_CONFIG_EXTRA (TOML appended to the node's config, e.g.
# $'[wal]\npreallocate_bytes = 0' for an A/B); BENCH_KAFKA_PERF (DIR: profile; default off);
# BENCH_KAFKA_PERF_SECS (8); BENCH_KAFKA_PERF_CALLGRAPH (fp|dwarf, fp);
# BENCH_SERVER / BENCH_KAFKA_CLIENT / BENCH_PYTHON / BENCH_KAFKA_KCAT
# (binaries; BENCH_KAFKA_KCAT=0 skips the kcat consume).
# MB = 10^6 bytes everywhere in this script's tables.
# Exit status: 0 every stage measured, 1 a stage failed, 2 usage error,
# 77 skipped (chronik-server or chronik-bench not built). Unmet targets do
# not change the exit status.
set -uo pipefail
export LC_ALL=C

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || { echo "kafka.sh: no build dir '$1'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

SECS=${BENCH_KAFKA_SECS:-${BENCH_SECS:-8}}
SEQ_MB=${BENCH_KAFKA_SEQ_MB:-${BENCH_SEQ_MB:-1024}}
PARTITIONS=${BENCH_KAFKA_PARTITIONS:-1}
SIZE=${BENCH_KAFKA_SIZE:-100}
LINGER_MS=${BENCH_KAFKA_LINGER_MS:-5}
ACKS=${BENCH_KAFKA_ACKS:-1 all}
CONNS=${BENCH_KAFKA_CONNS:-1000}
SETTLE=${BENCH_KAFKA_SETTLE_SECS:-2}
SAMPLE_MS=${BENCH_KAFKA_SAMPLE_MS:-200}
CONFIG_EXTRA=${BENCH_KAFKA_CONFIG_EXTRA:-}
RATE_PCT=${BENCH_KAFKA_RATE_PCT:-50}
PERF_DIR=${BENCH_KAFKA_PERF:-}
PERF_SECS=${BENCH_KAFKA_PERF_SECS:-8}
PERF_CG=${BENCH_KAFKA_PERF_CALLGRAPH:-fp}
CLK_TCK=$(getconf CLK_TCK)
server=${BENCH_SERVER:-$build/supervisor/chronik-server}
client=${BENCH_KAFKA_CLIENT:-$build/bench/chronik-bench}
walbench=$build/bench/chronik-walbench
python=${BENCH_PYTHON:-/usr/bin/python3}
kcat=${BENCH_KAFKA_KCAT:-$(command -v kcat || echo 0)}

# The node's processes, in the order of the tables; P[name] = pid.
PROCS="chronik-server walwriter raftd replicator kafka-frontend"
declare -A P

base=${BENCH_DIR:-$PWD/bench-data}
created_base=0
work=
pids=()      # our own children that have not been reaped, oldest first
failures=0
declare -A R # results: R[stage.key]=value

log() { echo "kafka.sh: $*" >&2; }
fail() { log "$*"; failures=$((failures + 1)); }

# --- process control (bench/proc.sh) ---------------------------------------

orphans=() # the node's children, SIGKILLed if they outlive the supervisor
. "$here/proc.sh"
. "$here/results.sh"

# stop_node: stops the node's supervisor, then any child it left behind.
stop_node() {
	local name
	[ -n "${P[chronik-server]:-}" ] || return 0
	proc_stop "${P[chronik-server]}" 8
	R[node.stop]=$stop_status
	for name in $PROCS; do
		[ "$name" = chronik-server ] || [ -z "${P[$name]:-}" ] || orphans+=("${P[$name]}")
	done
	proc_kill_orphans
	P[chronik-server]=
}

# stop_at_exit PID TIMEOUT_S: proc_cleanup's stop: the node as a whole, the
# rest (clients, profilers) within 5 s.
stop_at_exit() {
	if [ "$1" = "${P[chronik-server]:-}" ]; then stop_node; else proc_stop "$1" 5; fi
}
proc_stop_fn=stop_at_exit

# run_bg OUT ERR CMD...: proc_run; also sets child_cpu_s to the CPU time CMD
# used (this shell's children's times grow by it when it is reaped).
run_bg() {
	local rc c0
	c0=$(children_ticks)
	proc_run "$@"
	rc=$?
	child_cpu_s=$(awk -v a="$c0" -v b="$(children_ticks)" -v hz="$CLK_TCK" \
		'BEGIN { printf "%.2f", (b - a) / hz }')
	return "$rc"
}

# --- /proc readings (bash builtins only: they run while the node is busy) ----

# children_ticks: cutime + cstime of this shell (its reaped children).
children_ticks() {
	local stat f
	read -r stat <"/proc/$$/stat"
	read -ra f <<<"${stat##*) }"
	echo $((f[13] + f[14]))
}

# status_kb PID KEY: a field of /proc/PID/status in kB (VmRSS, VmHWM), "-"
# when the process is gone. The file is read whole, in one read(): a loop of
# `read` builtins lseeks back after each line, and the kernel renders the file
# again for the next read(); when a field's width changed in between (State
# "S (sleeping)" vs "R (running)", a counter gaining a digit) lines come out
# cut, and about one read in 200 of a busy process missed VmRSS.
status_kb() {
	local s
	{ s=$(<"/proc/$1/status"); } 2>/dev/null
	[[ $s =~ (^|$'\n')$2:[[:space:]]+([0-9]+) ]] && echo "${BASH_REMATCH[2]}" || echo -
}

mb() { [ "$1" = - ] && echo - || awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

machine_info() {
	machine_lines "$base"
	echo "settings: BENCH_KAFKA_SECS=$SECS BENCH_KAFKA_SEQ_MB=$SEQ_MB BENCH_KAFKA_PARTITIONS=$PARTITIONS" \
		"BENCH_KAFKA_SIZE=$SIZE BENCH_KAFKA_LINGER_MS=$LINGER_MS BENCH_KAFKA_ACKS=\"$ACKS\"" \
		"BENCH_KAFKA_CONNS=$CONNS BENCH_KAFKA_RATE_PCT=$RATE_PCT BENCH_KAFKA_PERF=${PERF_DIR:-off}"
	[ -z "$CONFIG_EXTRA" ] || echo "config appended: ${CONFIG_EXTRA//$'\n'/; }"
	echo "load at start: $(pressure)"
}

# --- the node ---------------------------------------------------------------

write_config() {
	local ports
	read -ra ports < <("$walbench" free-ports 4)
	[ "${#ports[@]}" = 4 ] || return 1
	kafka_port=${ports[0]}
	admin_port=${ports[3]}
	cat >"$work/node.toml" <<EOF
# generated by bench/kafka.sh
[node]
data_dir = "$work/node"

[listeners]
kafka = "127.0.0.1:${ports[0]}"
replication = "127.0.0.1:${ports[1]}"
raft = "127.0.0.1:${ports[2]}"
admin = "127.0.0.1:${ports[3]}"

[supervisor]
stop_timeout_ms = 5000
${CONFIG_EXTRA:+
$CONFIG_EXTRA}
EOF
}

# node_healthy: the admin endpoint answers /health with 200 (every child ready).
node_healthy() {
	local fd line
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$admin_port"; } 2>/dev/null || return 1
	printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&"$fd"
	read -r -t 2 line <&"$fd"
	exec {fd}>&-
	[[ "$line" == *" 200"* ]]
}

# node_children: sets P[name] for the supervisor's children; returns 1
# unless all four are there.
node_children() {
	local k name n=0
	for k in $(cat /proc/"${P[chronik-server]}"/task/*/children 2>/dev/null); do
		name=$({ tr '\0' '\n' <"/proc/$k/cmdline"; } 2>/dev/null | head -n 1)
		name=${name##*/}
		name=${name#chronik-}
		[[ " $PROCS " == *" $name "* ]] && P[$name]=$k && n=$((n + 1))
	done
	[ "$n" = 4 ]
}

start_node() {
	local i name
	log "starting a node"
	mkdir -p "$work/node"
	write_config || { fail "no free ports"; return 1; }
	"$server" start --config "$work/node.toml" >"$work/node.log" 2>&1 &
	P[chronik-server]=$!
	pids+=("$!")
	for ((i = 0; i < 600; i++)); do
		node_healthy && node_children && break
		proc_running "${P[chronik-server]}" || break
		sleep 0.1
	done
	if ! node_healthy || ! node_children; then
		fail "the node did not become healthy; its log:"
		tail -n 30 "$work/node.log" >&2
		stop_node
		return 1
	fi
	node_pids=$(for name in $PROCS; do echo -n "${P[$name]} "; done)
}

# node_check STAGE: the node still runs with the same processes (no child
# restarted, which would make every reading after it meaningless).
node_check() {
	local now name
	now=$(
		for name in $PROCS; do [ "$name" = chronik-server ] || P[$name]=; done
		node_children
		for name in $PROCS; do echo -n "${P[$name]:-gone} "; done
	)
	[ "$now" = "$node_pids" ] && proc_running "${P[chronik-server]}" && return 0
	fail "after $1: node processes changed (were $node_pids, now $now); node log tail:"
	tail -n 20 "$work/node.log" >&2
	node_pids=$now
	return 1
}

# --- measurements -----------------------------------------------------------

# cpu_mark STAGE / cpu_done STAGE: CPU of every node process over the stage,
# in % of one CPU (R[STAGE.cpu_NAME]).
cpu_mark() {
	local name
	R[$1.t0]=$EPOCHREALTIME
	for name in $PROCS; do R[$1.ticks_$name]=$(cpu_ticks "${P[$name]}"); done
}
cpu_done() {
	local name wall
	wall=$(awk -v a="${R[$1.t0]}" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	R[$1.wall]=$wall
	for name in $PROCS; do
		R[$1.cpu_$name]=$(awk -v a="${R[$1.ticks_$name]}" -v b="$(cpu_ticks "${P[$name]}")" \
			-v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / w }')
	done
	R[$1.cpu_client]=$(awk -v c="$child_cpu_s" -v w="$wall" 'BEGIN { printf "%.0f", 100 * c / w }')
}

# sampler FILE: appends "name VmRSS_kB" for every node process every SAMPLE_MS.
sampler() {
	local name pause
	pause=$(awk -v m="$SAMPLE_MS" 'BEGIN { printf "%.3f", m / 1000 }')
	trap 'exit 0' TERM
	while :; do
		for name in $PROCS; do echo "$name $(status_kb "${P[$name]}" VmRSS)"; done >>"$1"
		sleep "$pause"
	done
}

# reset_hwm: VmHWM := VmRSS for every node process ("5" to clear_refs), so
# the VmHWM read after a stage is that stage's peak.
reset_hwm() {
	local name
	for name in $PROCS; do
		{ echo 5 >"/proc/${P[$name]}/clear_refs"; } 2>/dev/null || R[hwm.noreset]=1
	done
}

# client STAGE ARGS...: one chronik-bench run; its result line -> R[STAGE.*].
client() {
	local stage=$1 rc
	shift
	run_bg "$work/$stage.out" "$work/$stage.err" "$client" "$@" --brokers "127.0.0.1:$kafka_port"
	rc=$?
	parse "$stage" "$(grep '^result ' "$work/$stage.out")"
	if [ "$rc" != 0 ] || [ -z "${R[$stage.msgs]:-}" ]; then
		fail "stage $stage failed (status $rc): chronik-bench $*"
		tail -n 5 "$work/$stage.out" "$work/$stage.err" >&2
		return 1
	fi
	# MB = 10^6 bytes, the unit of the raw disk figure.
	R[$stage.mbps]=$(awk -v b="${R[$stage.bytes]}" -v s="${R[$stage.seconds]}" \
		'BEGIN { printf "%.1f", (s > 0 ? b / s / 1e6 : 0) }')
}

produce_run() {
	local acks=$1 stage=p$1 name spid ok
	log "produce acks=$acks for ${SECS}s"
	R[$stage.load]=$(pressure)
	reset_hwm
	: >"$work/$stage.rss"
	sampler "$work/$stage.rss" &
	spid=$!
	pids+=("$spid")
	cpu_mark "$stage"
	client "$stage" produce --topic "bench-acks$acks" --partitions "$PARTITIONS" \
		--duration "$SECS" --acks "$acks" --linger-ms "$LINGER_MS" --size "$SIZE"
	ok=$?
	cpu_done "$stage"
	proc_stop "$spid" 3
	# Memory of a failed run is not memory "at full-speed produce".
	[ "$ok" = 0 ] || { node_check "produce acks=$acks"; return 1; }
	for name in $PROCS; do
		R[$stage.hwm_$name]=$(status_kb "${P[$name]}" VmHWM)
		R[$stage.rss_$name]=$(awk -v n="$name" '$1 == n && $2 + 0 > m { m = $2 } END { print m + 0 }' \
			"$work/$stage.rss")
	done
	node_check "produce acks=$acks"
}

# paced_run: the last acks mode at RATE_PCT % of the slowest full-speed run.
paced_run() {
	local a acks=${ACKS##* } min=
	for a in $ACKS; do
		[ -n "${R[p$a.msg_per_s]:-}" ] || return 0
		min=$(awk -v m="$min" -v v="${R[p$a.msg_per_s]}" 'BEGIN { print (m == "" || v < m) ? v : m }')
	done
	R[paced.rate]=$(awk -v m="$min" -v p="$RATE_PCT" 'BEGIN { r = int(m * p / 100 / 1000) * 1000; print (r < 1000 ? 1000 : r) }')
	R[paced.acks]=$acks
	log "produce acks=$acks paced at ${R[paced.rate]} msg/s for ${SECS}s"
	cpu_mark paced
	client paced produce --topic bench-paced --partitions "$PARTITIONS" --duration "$SECS" \
		--acks "$acks" --linger-ms "$LINGER_MS" --size "$SIZE" --rate "${R[paced.rate]}"
	cpu_done paced
	node_check "paced produce"
}

# consume_run ACKS: reads topic bench-acksACKS from its beginning to its end.
consume_run() {
	local acks=$1 stage=consume want=${R[p$1.msgs]:-} name
	R[consume.topic]=bench-acks$acks
	log "consume bench-acks$acks from the beginning to the end"
	cpu_mark "$stage"
	client "$stage" consume --topic "bench-acks$acks" || { cpu_done "$stage"; return 1; }
	cpu_done "$stage"
	for name in $PROCS; do R[$stage.rss_$name]=$(status_kb "${P[$name]}" VmRSS); done
	if [ -n "$want" ] && [ "${R[$stage.msgs]}" != "$want" ]; then
		fail "consume read ${R[$stage.msgs]} messages, the acks=$acks producer delivered $want"
	fi
	node_check consume
}

# consume_kcat ACKS: the same topic read by kcat with a deeper fetch queue;
# the rate is over kcat's whole wall time (start-up included).
consume_kcat() {
	local acks=$1 stage=kcat want=${R[p$1.msgs]:-} t0 n rc
	if [ "$kcat" = 0 ] || [ ! -x "$kcat" ]; then R[kcat.skip]=1; return 0; fi
	log "consume bench-acks$acks with kcat"
	cpu_mark "$stage"
	t0=$EPOCHREALTIME
	run_bg "$work/kcat.out" "$work/kcat.err" "$kcat" -C -b "127.0.0.1:$kafka_port" \
		-t "bench-acks$acks" -o beginning -e -q -f . -X queued.min.messages=1000000
	rc=$?
	cpu_done "$stage"
	n=$(stat -c %s "$work/kcat.out")
	R[kcat.msgs]=$n
	R[kcat.msg_per_s]=$(awk -v n="$n" -v a="$t0" -v b="$EPOCHREALTIME" \
		'BEGIN { printf "%.1f", n / (b - a) }')
	R[kcat.mbps]=$(awk -v n="$n" -v s="$SIZE" -v a="$t0" -v b="$EPOCHREALTIME" \
		'BEGIN { printf "%.1f", n * s / (b - a) / 1e6 }')
	rm -f -- "$work/kcat.out"
	if [ "$rc" != 0 ] || [ "$n" != "$want" ]; then
		fail "kcat consume: status $rc, read $n messages, the producer delivered $want"
		tail -n 3 "$work/kcat.err" >&2
	fi
	node_check "kcat consume"
}

# measure_conns: kafka-frontend's VmRSS before / while CONNS idle clients
# are connected / after they closed.
measure_conns() {
	local fe=${P[kafka-frontend]} out=$work/conns.out cpid rc i name
	if [ "$CONNS" = 0 ]; then R[conns.skip]="disabled (BENCH_KAFKA_CONNS=0)"; return; fi
	if [ ! -x "$python" ]; then R[conns.skip]="no $python"; fail "$python is missing"; return; fi
	log "$CONNS idle connections"
	R[conns.before_kb]=$(status_kb "$fe" VmRSS)
	"$python" "$here/kafka_idle_conns.py" 127.0.0.1 "$kafka_port" "$CONNS" \
		--hold-secs "$(awk -v s="$SETTLE" 'BEGIN { print s + 10 }')" >"$out" 2>>"$work/conns.err" &
	cpid=$!
	pids+=("$cpid")
	for ((i = 0; i < 1200; i++)); do
		grep -qs '^idle-conns open=' "$out" && break
		proc_running "$cpid" || break
		sleep 0.1
	done
	if grep -q "^idle-conns open=$CONNS\$" "$out"; then
		sleep "$SETTLE"
		R[conns.open_kb]=$(status_kb "$fe" VmRSS)
	fi
	proc_wait "$cpid"
	rc=$?
	parse conns "$(cat "$out")"
	if [ "$rc" != 0 ] || [ -z "${R[conns.open_kb]:-}" ]; then
		fail "idle connections: status $rc, $(tr '\n' ' ' <"$out")"
		tail -n 3 "$work/conns.err" >&2
		return 1
	fi
	sleep "$SETTLE"
	R[conns.after_kb]=$(status_kb "$fe" VmRSS)
	node_check "idle connections"
}

# --- profile (BENCH_KAFKA_PERF=DIR) -----------------------------------------

# perf_top NAME: the top functions (self time) of NAME's profile, kept in
# DIR/NAME.top.txt, with callers in DIR/NAME.callers.txt.
perf_top() {
	local pf=$PERF_DIR/$1
	perf report -i "$pf.data" --stdio --no-children -g none --sort dso,sym \
		--percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' >"$pf.top.txt"
	perf report -i "$pf.data" --stdio --no-children -G --percent-limit 3 \
		2>/dev/null >"$pf.callers.txt"
	R[perf.samples_$1]=$(perf report -i "$pf.data" --stdio 2>/dev/null |
		awk '/^# Samples:/ { print $3; exit }')
}

profile_run() {
	local name pid cpid cg perf_pids=() p
	[ -n "$PERF_DIR" ] || return 0
	if ! command -v perf >/dev/null; then
		fail "BENCH_KAFKA_PERF is set but perf is missing (apt-get install linux-perf)"
		return 1
	fi
	mkdir -p "$PERF_DIR" && PERF_DIR=$(cd "$PERF_DIR" && pwd) || { fail "no dir $PERF_DIR"; return 1; }
	cg=(-g)
	[ "$PERF_CG" = dwarf ] && cg=(--call-graph "dwarf,16384")
	log "profile: acks=1 produce for ${PERF_SECS}s under perf record, data in $PERF_DIR"
	for name in $PROCS; do
		perf record -e cpu-clock -F 999 "${cg[@]}" -p "${P[$name]}" -o "$PERF_DIR/$name.data" \
			>"$PERF_DIR/$name.log" 2>&1 &
		perf_pids+=("$!")
		pids+=("$!")
	done
	"$client" produce --brokers "127.0.0.1:$kafka_port" --topic bench-perf \
		--partitions "$PARTITIONS" --duration "$PERF_SECS" --acks 1 --linger-ms "$LINGER_MS" \
		--size "$SIZE" >"$work/perf.out" 2>"$work/perf.err" &
	cpid=$!
	pids+=("$cpid")
	perf record -e cpu-clock -F 999 "${cg[@]}" -p "$cpid" -o "$PERF_DIR/chronik-bench.data" \
		>"$PERF_DIR/chronik-bench.log" 2>&1 &
	perf_pids+=("$!")
	pids+=("$!")
	proc_wait "$cpid" || fail "the profiled produce run failed"
	parse perf "$(grep '^result ' "$work/perf.out")"
	for p in "${perf_pids[@]}"; do proc_stop "$p" 60 INT; done
	for name in $PROCS chronik-bench; do perf_top "$name"; done
	node_check profile
}

# --- report -----------------------------------------------------------------

ratio() { # A B -> A/B with 2 decimals, or -
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || a == "" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}
k() { [ "$1" = - ] && echo - || awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }

report_produce() {
	local a s row='%-16s %10s %8s %7s %8s %8s %8s %8s %8s %10s %8s\n'
	echo
	echo "== raw disk (same filesystem, same run) =="
	echo "sequential 1 MiB writes, fdatasync every 16 MiB: $(get seq mb_per_s) MB/s"
	echo
	echo "== produce: ${SIZE}-byte messages, linger.ms=$LINGER_MS, one chronik-bench producer," \
		"$PARTITIONS partition(s), ${SECS} s per run =="
	echo "(latency = producev() to delivery report, at full speed: it includes the time a message"
	echo " waits in librdkafka's queue (up to 1,000,000 messages), not only the broker's ack)"
	printf "$row" "" msgs/s MB/s "% disk" "p50 ms" "p95 ms" "p99 ms" "p99.9 ms" "max ms" delivered failed
	for a in $ACKS; do
		s=p$a
		printf "$row" "produce acks=$a" "$(k "$(get $s msg_per_s)")" "$(get $s mbps)" \
			"$(awk -v a="$(get $s mbps)" -v b="$(get seq mb_per_s)" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.0f%%", 100 * a / b }')" \
			"$(get $s p50_ms)" "$(get $s p95_ms)" "$(get $s p99_ms)" "$(get $s p999_ms)" \
			"$(get $s max_ms)" "$(get $s msgs)" "$(get $s failed)"
	done
	[ -z "${R[paced.msg_per_s]:-}" ] || printf "$row" "acks=${R[paced.acks]} paced" \
		"$(k "$(get paced msg_per_s)")" "$(get paced mbps)" - "$(get paced p50_ms)" \
		"$(get paced p95_ms)" "$(get paced p99_ms)" "$(get paced p999_ms)" "$(get paced max_ms)" \
		"$(get paced msgs)" "$(get paced failed)"
	printf "$row" "consume" "$(k "$(get consume msg_per_s)")" "$(get consume mbps)" - - - - - - \
		"$(get consume msgs)" -
	[ -n "${R[kcat.skip]:-}" ] || printf "$row" "consume (kcat)" "$(k "$(get kcat msg_per_s)")" \
		"$(get kcat mbps)" - - - - - - "$(get kcat msgs)" -
	echo "(consume: ${R[consume.topic]:-the first topic} from the beginning to its end, one consumer;" \
		"chronik-bench: queued.min.messages=1000000, batches of 1,024, rate from the first to the last message;"
	echo " kcat: -X queued.min.messages=1000000, rate over its whole run)"
	[ -z "${R[paced.msg_per_s]:-}" ] ||
		echo "(paced: --rate ${R[paced.rate]}, ${RATE_PCT}% of the slowest full-speed run; latency from each message's due time)"
}

report_cpu() {
	local s name row='%-16s %15s %10s %8s %11s %15s %8s %7s\n'
	echo
	echo "== CPU time over each stage's wall time, % of one CPU (this machine has $(nproc)) =="
	printf "$row" "" chronik-server walwriter raftd replicator kafka-frontend client wall
	for s in $(for a in $ACKS; do echo "p$a"; done) paced consume kcat; do
		[ -n "${R[$s.wall]:-}" ] || continue
		printf "$row" "$(case $s in consume) echo consume ;; kcat) echo "consume (kcat)" ;;
			paced) echo "acks=${R[paced.acks]} paced" ;;
			*) echo "produce acks=${s#p}" ;; esac)" \
			"$(get $s cpu_chronik-server)%" "$(get $s cpu_walwriter)%" "$(get $s cpu_raftd)%" \
			"$(get $s cpu_replicator)%" "$(get $s cpu_kafka-frontend)%" "$(get $s cpu_client)%" \
			"$(awk -v w="${R[$s.wall]}" 'BEGIN { printf "%.1fs", w }')"
	done
}

report_memory() {
	local name a line row='%-16s %8s'
	echo
	echo "== memory of the node's processes, MB (VmRSS; during produce: the largest sample every" \
		"${SAMPLE_MS} ms / VmHWM, the peak, reset right before the run) =="
	line=$(printf "%-16s %8s" process idle)
	for a in $ACKS; do line+=$(printf " %24s" "produce acks=$a max/peak"); done
	echo "$line$(printf " %14s" "after consume")"
	for name in $PROCS; do
		line=$(printf "%-16s %8s" "$name" "$(mb "$(get idle rss_$name)")")
		for a in $ACKS; do
			line+=$(printf " %24s" "$(mb "$(get p$a rss_$name)") / $(mb "$(get p$a hwm_$name)")")
		done
		echo "$line$(printf " %14s" "$(mb "$(get consume rss_$name)")")"
	done
	[ -n "${R[hwm.noreset]:-}" ] && echo "note: /proc/PID/clear_refs refused: VmHWM is the peak since start"
	echo
	if [ -n "${R[conns.skip]:-}" ]; then
		echo "idle connections: not measured: ${R[conns.skip]}"
	else
		echo "kafka-frontend VmRSS: $(mb "$(get conns before_kb)") MB before," \
			"$(mb "$(get conns open_kb)") MB with $(get conns open) idle connections open" \
			"($(get conns served) of them served again after ${SETTLE}+ s idle)," \
			"$(mb "$(get conns after_kb)") MB after they closed"
	fi
}

# max_peak_kb: "kB name" of the largest resident size of any node process
# during any produce run: the larger of its VmHWM and its sampled VmRSS (the
# kernel syncs per-thread RSS counters lazily, so either can be the higher).
max_peak_kb() {
	local a name v key best=- who=-
	for a in $ACKS; do
		for name in $PROCS; do
			for key in hwm rss; do
				v=$(get p$a ${key}_$name)
				[ "$v" = - ] && continue
				if [ "$best" = - ] || [ "$v" -gt "$best" ]; then best=$v who="$name (acks=$a)"; fi
			done
		done
	done
	echo "$best $who"
}

report_targets() {
	local a v d peak who row='%-60s %-34s %7s  %s\n'
	echo
	echo "== targets (ratio = measured / target, from this run) =="
	printf "$row" target measured ratio result
	for a in $ACKS; do
		v=$(get p$a msg_per_s)
		printf "$row" "produce acks=$a >= 1,000,000 msg/s ($SIZE B, linger ${LINGER_MS} ms)" \
			"$(k "$v") msg/s" "$(ratio "$v" 1000000)" "$(verdict 'a >= 1000000' "$v")"
	done
	v=$(get consume msg_per_s)
	printf "$row" "consume >= 2,000,000 msg/s (chronik-bench)" "$(k "$v") msg/s" \
		"$(ratio "$v" 2000000)" "$(verdict 'a >= 2000000' "$v")"
	v=$(get kcat msg_per_s)
	[ -n "${R[kcat.skip]:-}" ] || printf "$row" "consume >= 2,000,000 msg/s (kcat, deeper fetch queue)" \
		"$(k "$v") msg/s" "$(ratio "$v" 2000000)" "$(verdict 'a >= 2000000' "$v")"
	d=-
	[ -n "${R[conns.open_kb]:-}" ] && d=$(("${R[conns.open_kb]}" - "${R[conns.before_kb]}"))
	printf "$row" "$((CONNS > 0 ? CONNS : 1000)) idle connections add <= 20 MB to kafka-frontend" \
		"$([ "$d" = - ] && echo - || echo "+$(mb "$d") MB")" "$(ratio "$d" 20480)" \
		"$(verdict 'a <= 20 * 1024' "$d")"
	read -r peak who <<<"$(max_peak_kb)"
	printf "$row" "every process <= 256 MB resident at full-speed produce" \
		"max $(mb "$peak") MB: $who" "$(ratio "$peak" 262144)" "$(verdict 'a <= 256 * 1024' "$peak")"
	[ "$CONNS" = 1000 ] || [ "$CONNS" = 0 ] ||
		echo "note: BENCH_KAFKA_CONNS=$CONNS, the target is for 1,000"
}

report_profile() {
	local name
	[ -n "$PERF_DIR" ] || return 0
	echo
	echo "== where the time goes: perf record -e cpu-clock -F 999 ($PERF_CG call graphs) during" \
		"one more acks=1 produce run: $(k "$(get perf msg_per_s)") msg/s under the profiler =="
	for name in $PROCS chronik-bench; do
		echo "-- $name: ${R[perf.samples_$name]:-0} samples; self time, top functions" \
			"(callers in $PERF_DIR/$name.callers.txt)"
		head -n "${BENCH_KAFKA_PERF_TOP:-8}" "$PERF_DIR/$name.top.txt" 2>/dev/null
	done
}

# --- main -------------------------------------------------------------------

main() {
	local p a t0=$SECONDS first
	for p in "$server" "$client" "$walbench"; do
		[ -x "$p" ] || { log "skipped: $p is not built (chronik-bench needs librdkafka-dev)"; exit 77; }
	done
	proc_workdir kafka
	echo "chronik Kafka benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
	machine_info
	log "raw disk: $SEQ_MB MiB sequential"
	if run_bg "$work/seq.out" "$work/seq.err" "$walbench" disk-seq --dir "$work" \
		--total-mb "$SEQ_MB" --write-kb 1024 --sync-mb 16; then
		parse seq "$(cat "$work/seq.out")"
	else
		fail "raw sequential disk test failed"
		tail -n 5 "$work/seq.err" >&2
	fi
	if start_node; then
		sleep "$SETTLE"
		for p in $PROCS; do R[idle.rss_$p]=$(status_kb "${P[$p]}" VmRSS); done
		measure_conns
		for a in $ACKS; do produce_run "$a"; done
		[ "$RATE_PCT" = 0 ] || paced_run
		first=${ACKS%% *}
		if [ -n "${R[p$first.msgs]:-}" ]; then
			consume_run "$first"
			consume_kcat "$first"
		fi
		profile_run
		log "stopping the node"
		stop_node
		[ "${R[node.stop]}" = 0 ] || fail "the node ended with status ${R[node.stop]} on SIGTERM"
	fi
	report_produce
	report_cpu
	report_memory
	report_targets
	report_profile
	echo
	echo "load at end: $(pressure)"
	echo "elapsed $((SECONDS - t0)) s; failed stages: $failures"
	[ "$failures" = 0 ]
}

main
