#!/bin/bash
# meta.sh: chronik's metadata (Raft) benchmark, a 3-node cluster beside a
# 3-member etcd on the same machine (`make bench-meta`; `make bench` runs it
# after the storage and Kafka benchmarks; alone: bench/meta.sh BUILD_DIR).
#
# In one run, in a fresh directory under $BENCH_DIR (default ./bench-data,
# deleted afterwards), for each commit mode in $BENCH_META_MODES:
#   1. a 3-node chronik cluster from generated configs on free loopback ports
#      ([metadata] commit = MODE), its Raft leader found with
#      `chronik-server status --json`
#   2. chronik-metabench (Kafka protocol on raw TCP), each request checked:
#      sequential single-topic CreateTopics to the leader's Kafka port and
#      once through a follower's (p50/p95/p99/max, topics/s); 16 clients x one
#      CreateTopics in flight for BENCH_META_SECS (topics/s, latency); 16
#      clients of IncrementalAlterConfigs on existing topics, SET retention.ms
#      (a log setting) and SET min.insync.replicas (metadata only)
#      (writes/s); the CPU time of the leader's processes in each stage
#   3. the cluster is stopped by PID and its data deleted
# raw 4 KiB pwrite+fdatasync latency (chronik-walbench disk-sync, same
# filesystem) before the clusters and again before etcd; a 3-member etcd
# cluster (Debian etcd-server, installed with apt-get when missing) driven by
# bench/meta_etcd.py through its JSON gateway: sequential puts to the
# leader, and 16 concurrent clients.
# Prints one table and the targets as ratios within this run.
# Every process it starts is stopped by PID on every exit path (also on
# SIGINT/SIGTERM), every data dir removed.
#
# Knobs (environment): BENCH_DIR; BENCH_META_SEQ (sequential requests;
# default BENCH_SYNC_ITERS, else 2000); BENCH_META_SECS (seconds per
# concurrent stage; default BENCH_SECS, else 10); BENCH_META_CLIENTS (16);
# BENCH_META_TOPICS (topics the alter stage rewrites, 1000);
# BENCH_META_MODES ("quorum leader"); BENCH_META_WAL_PROFILE (high);
# BENCH_META_SYNC_ITERS (default BENCH_SYNC_ITERS, else 2000);
# BENCH_META_ETCD (1; 0 skips etcd);
# BENCH_SERVER / BENCH_PYTHON (binaries).
# Exit status: 0 every stage measured, 1 a stage failed, 2 usage error,
# 77 skipped (chronik-server or chronik-metabench not built). Unmet targets
# do not change the exit status.
set -uo pipefail
export LC_ALL=C

usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || { echo "meta.sh: no build dir '$1'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

# Under bench/run.sh the storage knobs shorten this run too (its smoke test).
SEQ=${BENCH_META_SEQ:-${BENCH_SYNC_ITERS:-2000}}
SECS=${BENCH_META_SECS:-${BENCH_SECS:-10}}
CLIENTS=${BENCH_META_CLIENTS:-16}
TOPICS=${BENCH_META_TOPICS:-1000}
MODES=${BENCH_META_MODES:-quorum leader}
PROFILE=${BENCH_META_WAL_PROFILE:-high}
SYNC_ITERS=${BENCH_META_SYNC_ITERS:-${BENCH_SYNC_ITERS:-2000}}
ETCD=${BENCH_META_ETCD:-1}
CLK_TCK=$(getconf CLK_TCK)
server=${BENCH_SERVER:-$build/supervisor/chronik-server}
metabench=$build/bench/chronik-metabench
walbench=$build/bench/chronik-walbench
python=${BENCH_PYTHON:-/usr/bin/python3}
NODE_PROCS="walwriter raftd replicator kafka-frontend"

base=${BENCH_DIR:-$PWD/bench-data}
created_base=0
work=
pids=()       # our own children not yet reaped, oldest first
orphans=()    # node children to SIGKILL if they outlive their supervisor
failures=0
declare -A R  # results: R[stage.key]=value
declare -A N  # the running cluster: N[sup.I], N[kafka.I], N[leader], ...

log() { echo "meta.sh: $*" >&2; }
fail() { log "$*"; failures=$((failures + 1)); }

# --- processes (bench/proc.sh) ---------------------------------------------

. "$here/proc.sh"

# run_bg OUT CMD...: proc_run with stderr appended to $work/stderr.
run_bg() { proc_run "$1" "$work/stderr" "${@:2}"; }

# parse STAGE LINE: "result k=v k=v" -> R[STAGE.k]=v
parse() {
	local tok
	for tok in $2; do [[ "$tok" == *=* ]] && R[$1.${tok%%=*}]=${tok#*=}; done
}

get() { echo "${R[$1.$2]:--}"; }

cpu_ticks() {
	local stat f
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
	read -ra f <<<"${stat##*) }"
	echo $((f[11] + f[12]))
}

pressure() {
	echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" \
		"cpu-pressure $(awk '/^some/ {print $3}' /proc/pressure/cpu 2>/dev/null)" \
		"io-pressure $(awk '/^some/ {print $3}' /proc/pressure/io 2>/dev/null)"
}

# --- the chronik cluster ----------------------------------------------------

# write_configs MODE: node1..3.toml in $work, every node on free ports.
write_configs() {
	local ports i j peers=
	read -ra ports < <("$walbench" free-ports 12)
	[ "${#ports[@]}" = 12 ] || return 1
	for i in 1 2 3; do
		j=$(((i - 1) * 4))
		N[kafka.$i]=127.0.0.1:${ports[j]}
		peers+="
[peer.$i]
kafka = \"127.0.0.1:${ports[j]}\"
replication = \"127.0.0.1:${ports[j + 1]}\"
raft = \"127.0.0.1:${ports[j + 2]}\"
"
	done
	for i in 1 2 3; do
		j=$(((i - 1) * 4))
		cat >"$work/node$i.toml" <<EOF
# generated by bench/meta.sh
[node]
id = $i
cluster_id = "metabench"
data_dir = "$work/node$i"

[listeners]
kafka = "127.0.0.1:${ports[j]}"
replication = "127.0.0.1:${ports[j + 1]}"
raft = "127.0.0.1:${ports[j + 2]}"
admin = "127.0.0.1:${ports[j + 3]}"

[wal]
profile = "$PROFILE"

[metadata]
commit = "$1"

[supervisor]
stop_timeout_ms = 5000
$peers
EOF
	done
}

node_status() { "$server" status --config "$work/node$1.toml" --json 2>/dev/null; }

# raftd_field N FIELD: from node N's raftd status text, e.g. leader -> 3.
raftd_field() {
	node_status "$1" | grep -o '"name":"raftd"[^}]*' | grep -o "[ \"]$2=[0-9]*" | head -n 1 |
		cut -d= -f2
}

# cluster_ready: every node has 4 ready children and one agreed leader whose
# raftd says so. Sets N[leader] (node number).
cluster_ready() {
	local i st l= li
	for i in 1 2 3; do
		st=$(node_status "$i") || return 1
		[ "$(grep -o '"state":"ready"' <<<"$st" | wc -l)" = 4 ] || return 1
		li=$(grep -o '"name":"raftd"[^}]*' <<<"$st" | grep -o ' leader=[0-9]*' | cut -d= -f2)
		[ -n "$li" ] && [ "$li" != 0 ] || return 1
		[ -z "$l" ] || [ "$l" = "$li" ] || return 1
		l=$li
	done
	node_status "$l" | grep -o '"name":"raftd"[^}]*' | grep -q '"role":"leader"' || return 1
	N[leader]=$l
}

start_cluster() {
	local mode=$1 i k
	log "starting a 3-node cluster, commit=$mode"
	write_configs "$mode" || { fail "no free ports"; return 1; }
	for i in 1 2 3; do
		mkdir -p "$work/node$i"
		"$server" start --config "$work/node$i.toml" >"$work/node$i.log" 2>&1 &
		N[sup.$i]=$!
		pids+=("$!")
	done
	for ((k = 0; k < 300; k++)); do
		cluster_ready && break
		for i in 1 2 3; do proc_running "${N[sup.$i]}" || break 2; done
		sleep 0.2
	done
	for i in 1 2 3; do orphans+=($(cat /proc/"${N[sup.$i]}"/task/*/children 2>/dev/null)); done
	if ! cluster_ready; then
		fail "commit=$mode: the cluster did not become ready with a leader; node logs:"
		for i in 1 2 3; do tail -n 8 "$work/node$i.log" >&2; done
		stop_cluster
		return 1
	fi
	N[follower]=$((N[leader] % 3 + 1))
	# The brokers register and unfence through Raft after their raftd is
	# ready: retry one replicated create until the cluster takes it.
	for ((k = 0; k < 50; k++)); do
		"$metabench" create --seq 1 --prefix "warmup$k" --bootstrap "${N[kafka.${N[leader]}]}" \
			>/dev/null 2>>"$work/warmup.err" && return 0
		sleep 0.2
	done
	fail "commit=$mode: no topic could be created in 10 s: $(tail -n 1 "$work/warmup.err")"
	stop_cluster
	return 1
}

# node_pid N NAME: the pid of a child of node N (walwriter, raftd, ...).
node_pid() {
	node_status "$1" | grep -o "\"name\":\"$2\",\"pid\":[0-9]*" | grep -o '[0-9]*$'
}

stop_cluster() {
	local i
	for i in 1 2 3; do
		[ -n "${N[sup.$i]:-}" ] || continue
		proc_stop "${N[sup.$i]}" 15
		[ "$stop_status" = 0 ] || fail "node $i ended with status $stop_status on SIGTERM"
		N[sup.$i]=
	done
	proc_kill_orphans
	rm -rf -- "$work"/node[123] "$work"/node[123].toml
}

# --- chronik stages ---------------------------------------------------------

# chronik STAGE ARGS...: one chronik-metabench run; R[STAGE.*] from its
# result line, and the CPU share of every leader process over the stage.
chronik() {
	local stage=$1 rc name t0 wall
	shift
	declare -A c0
	for name in $NODE_PROCS; do
		N[pid.$name]=$(node_pid "${N[leader]}" "$name")
		c0[$name]=$(cpu_ticks "${N[pid.$name]:-0}")
	done
	t0=$EPOCHREALTIME
	run_bg "$work/$stage.out" "$metabench" "$@"
	rc=$?
	wall=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	for name in $NODE_PROCS; do
		R[$stage.cpu_$name]=$(awk -v a="${c0[$name]}" -v b="$(cpu_ticks "${N[pid.$name]:-0}")" \
			-v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / w }')
	done
	parse "$stage" "$(grep '^result ' "$work/$stage.out")"
	grep '^# ' "$work/$stage.out" >&2
	if [ "$rc" != 0 ] || [ -z "${R[$stage.p50_us]:-}" ]; then
		fail "stage $stage failed (status $rc): chronik-metabench $*"
		tail -n 3 "$work/stderr" >&2
		return 1
	fi
}

run_mode() {
	local m=$1 lead fol l1
	start_cluster "$m" || return
	lead=${N[kafka.${N[leader]}]}
	fol=${N[kafka.${N[follower]}]}
	R[$m.leader]=${N[leader]}
	R[$m.follower]=${N[follower]}
	log "commit=$m: leader node ${N[leader]} ($lead), follower node ${N[follower]} ($fol)"
	chronik "$m.seq" create --seq "$SEQ" --prefix seq --bootstrap "$lead"
	chronik "$m.fseq" create --seq "$SEQ" --prefix fseq --bootstrap "$fol"
	chronik "$m.conc" create --clients "$CLIENTS" --secs "$SECS" --prefix conc --bootstrap "$lead"
	chronik "$m.alter" alter --clients "$CLIENTS" --secs "$SECS" --topics "$TOPICS" \
		--prefix alter --bootstrap "$lead"
	chronik "$m.malter" alter --clients "$CLIENTS" --secs "$SECS" --topics "$TOPICS" \
		--prefix malter --config min.insync.replicas --bootstrap "$lead"
	l1=$(raftd_field "${N[leader]}" leader)
	[ "$l1" = "${N[leader]}" ] || fail "commit=$m: the Raft leader moved during the run (${N[leader]} -> ${l1:-none})"
	log "commit=$m: stopping the cluster"
	stop_cluster
}

# --- raw disk and etcd ------------------------------------------------------

# run_sync STAGE: raw fdatasync latency now (it drifts on a shared VM: it
# is measured before the chronik clusters and again before etcd).
run_sync() {
	log "raw disk: $SYNC_ITERS x 4 KiB pwrite+fdatasync"
	if run_bg "$work/$1.out" "$walbench" disk-sync --dir "$work" --iters "$SYNC_ITERS" \
		--block-bytes 4096; then
		parse "$1" "$(cat "$work/$1.out")"
	else
		fail "raw fdatasync stage failed"
	fi
}

etcd_install() {
	command -v etcd >/dev/null && command -v etcdctl >/dev/null && return 0
	[ "$(id -u)" = 0 ] || return 1
	log "installing etcd-server etcd-client with apt-get"
	{ DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client ||
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client; }
	} >"$work/apt.log" 2>&1
	command -v etcd >/dev/null && command -v etcdctl >/dev/null
}

# etcd_leader EPS: the client endpoint of the etcd leader, or nothing.
etcd_leader() {
	ETCDCTL_API=3 etcdctl --endpoints "$1" endpoint status -w json 2>/dev/null | "$python" -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
        print(s["Endpoint"])' 2>/dev/null
}

run_etcd() {
	local ports i cluster= eps= lead= k
	[ "$ETCD" = 0 ] && { R[etcd.skip]="disabled (BENCH_META_ETCD=0)"; return; }
	etcd_install || { R[etcd.skip]="etcd missing"; fail "etcd is missing and could not be installed"; return; }
	R[etcd.version]=$(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}')
	read -ra ports < <("$walbench" free-ports 6)
	[ "${#ports[@]}" = 6 ] || { fail "no free ports for etcd"; return; }
	for i in 0 1 2; do
		cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[i + 3]}"
		eps+="${eps:+,}127.0.0.1:${ports[i]}"
	done
	log "starting a 3-member etcd ${R[etcd.version]}"
	for i in 0 1 2; do
		etcd --name "m$i" --data-dir "$work/etcd$i" \
			--listen-client-urls "http://127.0.0.1:${ports[i]}" \
			--advertise-client-urls "http://127.0.0.1:${ports[i]}" \
			--listen-peer-urls "http://127.0.0.1:${ports[i + 3]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${ports[i + 3]}" \
			--initial-cluster "$cluster" --initial-cluster-state new \
			--initial-cluster-token metabench --logger zap --log-level warn \
			--log-outputs "$work/etcd$i.log" >/dev/null 2>&1 &
		N[etcd.$i]=$!
		pids+=("$!")
	done
	for ((k = 0; k < 150; k++)); do
		lead=$(etcd_leader "$eps")
		[ -n "$lead" ] && break
		sleep 0.2
	done
	if [ -z "$lead" ]; then
		fail "etcd: no leader after 30 s"
		tail -n 5 "$work/etcd0.log" >&2
	else
		R[etcd.leader]=$lead
		log "etcd leader $lead: $SEQ sequential puts, then $CLIENTS clients for ${SECS}s"
		etcd_stage etcd.seq "$lead" seq "$SEQ"
		etcd_stage etcd.conc "$lead" conc "$CLIENTS" "$SECS"
	fi
	for i in 2 1 0; do
		proc_stop "${N[etcd.$i]}" 10
		rm -rf -- "$work/etcd$i"
	done
}

etcd_stage() {
	local stage=$1 rc
	shift
	run_bg "$work/$stage.out" "$python" "$here/meta_etcd.py" "$@"
	rc=$?
	parse "$stage" "$(grep '^result ' "$work/$stage.out")"
	grep '^# ' "$work/$stage.out" >&2
	if [ "$rc" != 0 ] || [ -z "${R[$stage.p50_us]:-}" ]; then
		fail "stage $stage failed (status $rc)"
		tail -n 3 "$work/stderr" >&2
	fi
}

# --- report -----------------------------------------------------------------

# verdict EXPR A [B]: awk-evaluates EXPR over a, b -> MET / NOT MET / n/a.
verdict() {
	local v
	for v in "${@:2}"; do [ -z "$v" ] || [ "$v" = - ] && { echo "n/a"; return; }; done
	awk -v a="$2" -v b="${3:-0}" "BEGIN { exit !($1) }" && echo MET || echo "NOT MET"
}

# calc EXPR A [B]: EXPR over a, b with 2 decimals, or - when a value is missing.
calc() {
	local v
	for v in "${@:2}"; do [ -z "$v" ] || [ "$v" = - ] && { echo -; return; }; done
	awk -v a="$2" -v b="${3:-1}" "BEGIN { if (b + 0 == 0) print \"-\"; else printf \"%.2f\", $1 }"
}

row() { printf '%-48s %10s %9s %9s %9s %9s %7s\n' "$@"; }

report() {
	local m s label
	echo
	echo "== metadata writes: 3-node chronik cluster, wal profile $PROFILE; 3-member etcd" \
		"${R[etcd.version]:-}; all on this machine =="
	row "" "per s" "p50 us" "p95 us" "p99 us" "max us" errors
	for m in $MODES; do
		for s in seq fseq conc alter malter; do
			case $s in
			seq) label="CreateTopics seq, to leader (node $(get "$m" leader))" ;;
			fseq) label="CreateTopics seq, via follower (node $(get "$m" follower))" ;;
			conc) label="CreateTopics, $CLIENTS clients" ;;
			alter) label="AlterConfigs retention.ms, $CLIENTS clients" ;;
			malter) label="AlterConfigs metadata-only, $CLIENTS clients" ;;
			esac
			row "$m: $label" "$(get "$m.$s" items_per_s)" "$(get "$m.$s" p50_us)" \
				"$(get "$m.$s" p95_us)" "$(get "$m.$s" p99_us)" "$(get "$m.$s" max_us)" \
				"$(get "$m.$s" errors)"
		done
	done
	if [ -n "${R[etcd.skip]:-}" ]; then
		echo "etcd: not measured: ${R[etcd.skip]}"
	else
		row "etcd: put seq, to leader" "$(get etcd.seq puts_per_s)" "$(get etcd.seq p50_us)" \
			"$(get etcd.seq p95_us)" "$(get etcd.seq p99_us)" "$(get etcd.seq max_us)" \
			"$(get etcd.seq errors)"
		row "etcd: put, $CLIENTS clients, to leader" "$(get etcd.conc puts_per_s)" \
			"$(get etcd.conc p50_us)" "$(get etcd.conc p95_us)" "$(get etcd.conc p99_us)" \
			"$(get etcd.conc max_us)" "$(get etcd.conc errors)"
	fi
	row "raw 4 KiB pwrite+fdatasync (same filesystem)" "$(get sync ops_per_s)" \
		"$(get sync p50_us)" - "$(get sync p99_us)" - -
	row "  again, before etcd" "$(get sync2 ops_per_s)" "$(get sync2 p50_us)" - \
		"$(get sync2 p99_us)" - -
	echo "(seq: $SEQ requests one at a time on one connection; clients: one request in flight each"
	echo " for ${SECS}s; CreateTopics: 1 new topic, 1 partition, replication 3 per request;"
	echo " AlterConfigs: IncrementalAlterConfigs SET on one of $TOPICS existing topics per request,"
	echo " retention.ms (a log setting: each replica rewrites its log's settings file, fsync'd) or"
	echo " min.insync.replicas (metadata only); etcd: 100-byte values, JSON gateway)"
	echo
	echo "== CPU of the leader node's processes during each stage, % of one CPU (nproc=$(nproc)) =="
	printf '%-48s %10s %9s %11s %15s\n' "" walwriter raftd replicator kafka-frontend
	for m in $MODES; do
		for s in seq fseq conc alter malter; do
			[ -n "${R[$m.$s.cpu_raftd]:-}" ] || continue
			printf '%-48s %9s%% %8s%% %10s%% %14s%%\n' "$m: $s" "$(get "$m.$s" cpu_walwriter)" \
				"$(get "$m.$s" cpu_raftd)" "$(get "$m.$s" cpu_replicator)" \
				"$(get "$m.$s" cpu_kafka-frontend)"
		done
	done
	report_targets
}

report_targets() {
	local m p50 ep50 alt eput ct trow='%-8s %-52s %-36s %s\n'
	ep50=$(get etcd.seq p50_us)
	eput=$(get etcd.conc puts_per_s)
	echo
	echo "== targets (ratios within this run) =="
	printf "$trow" mode target measured result
	for m in $MODES; do
		p50=$(get "$m.seq" p50_us)
		alt=$(get "$m.malter" items_per_s)
		ct=$(get "$m.conc" items_per_s)
		printf "$trow" "$m" "CreateTopics p50 <= 1 ms" "$p50 us" "$(verdict 'a <= 1000' "$p50")"
		printf "$trow" "$m" "CreateTopics p50 <= 0.4 x etcd put p50" \
			"$p50 / $ep50 us = $(calc 'a / b' "$p50" "$ep50")" "$(verdict 'a <= 0.4 * b' "$p50" "$ep50")"
		printf "$trow" "$m" "$CLIENTS-client metadata-only writes >= 10 x etcd puts/s" \
			"$alt / $eput = $(calc 'a / b' "$alt" "$eput") x" "$(verdict 'a >= 10 * b' "$alt" "$eput")"
		printf "$trow" "$m" "CreateTopics >= 5,000 topics/s ($CLIENTS clients)" "$ct topics/s" \
			"$(verdict 'a >= 5000' "$ct")"
	done
	echo "(the targets are quorum mode's; leader mode is shown for comparison)"
}

# --- main -------------------------------------------------------------------

main() {
	local p m t0=$SECONDS
	for p in "$server" "$metabench" "$walbench"; do
		[ -x "$p" ] || { log "skipped: $p is not built"; exit 77; }
	done
	proc_workdir meta
	echo "chronik metadata benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)," \
		"commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "machine: nproc=$(nproc) cpu=\"$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)\"" \
		"kernel=$(uname -r); bench dir $work ($(df -T "$base" | awk 'NR == 2 {print $2}'))"
	echo "settings: BENCH_META_SEQ=$SEQ BENCH_META_SECS=$SECS BENCH_META_CLIENTS=$CLIENTS" \
		"BENCH_META_TOPICS=$TOPICS BENCH_META_MODES=\"$MODES\" BENCH_META_WAL_PROFILE=$PROFILE"
	echo "load at start: $(pressure)"
	run_sync sync
	for m in $MODES; do run_mode "$m"; done
	run_sync sync2
	run_etcd
	report
	echo
	echo "load at end: $(pressure)"
	echo "elapsed $((SECONDS - t0)) s; failed stages: $failures"
	[ "$failures" = 0 ]
}

main
