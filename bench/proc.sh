# proc.sh: process bookkeeping of the benchmark scripts, sourced by
# run.sh, kafka.sh and meta.sh (bench/lib.sh is the smoke tests' library).
#
#   . "$(dirname "$0")/proc.sh"
#   proc_workdir PREFIX    # in main: $work, a fresh dir under $base
#
# The sourcing script owns these globals, and the EXIT trap set here reads
# them: pids (array: its own children not yet reaped, oldest first; it
# appends every child it starts right after starting it), orphans (array:
# children of a node's supervisor, not ours, to SIGKILL if they outlive it),
# work, base and created_base (set by proc_workdir), and log MESSAGE (its
# stderr line). proc_stop_fn may name a function PID TIMEOUT_S that the
# cleanup calls instead of proc_stop (for a child that needs more).
# Invariants: only PIDs in pids or orphans are ever signalled; a PID in pids
# is signalled only before it is reaped (so it cannot have been reused), one
# in orphans only while it still runs a chronik binary.
# Not for: measuring, or anything a bench prints on stdout.

# proc_running PID: PID is alive and not a zombie waiting to be reaped.
proc_running() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
		[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# proc_forget PID: drops a reaped PID from pids.
proc_forget() {
	local p keep=()
	for p in "${pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	pids=("${keep[@]}")
}

# proc_wait PID: waits for our child PID (already in pids) and forgets it;
# returns its exit status. A signal to the script is handled during the wait.
proc_wait() {
	local rc
	wait "$1"
	rc=$?
	proc_forget "$1"
	return "$rc"
}

# proc_run OUT ERR CMD...: runs CMD in the background (so that a signal to
# the script is handled at once), stdout to OUT, stderr appended to ERR, and
# waits for it; returns its exit status.
proc_run() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>>"$err" &
	pids+=("$!")
	proc_wait "$!"
}

# proc_stop PID [TIMEOUT_S] [SIGNAL]: stops our child PID: SIGNAL (TERM),
# SIGKILL after TIMEOUT_S (10), then reaps and forgets it. Sets stop_status
# to its exit status, or "killed".
proc_stop() {
	local pid=$1 timeout=${2:-10} sig=${3:-TERM} i
	stop_status=
	if proc_running "$pid"; then
		kill -"$sig" "$pid" 2>/dev/null
		for ((i = 0; i < timeout * 10; i++)); do
			proc_running "$pid" || break
			sleep 0.1
		done
		if proc_running "$pid"; then
			log "pid $pid did not stop after ${timeout}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
			stop_status=killed
		fi
	fi
	wait "$pid" 2>/dev/null
	stop_status=${stop_status:-$?}
	proc_forget "$pid"
}

# proc_kill_orphans: SIGKILL for every PID in orphans that still runs a
# chronik binary (its supervisor is gone: nothing else will stop it); empties
# orphans.
proc_kill_orphans() {
	local p cmd
	for p in "${orphans[@]}"; do
		cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
		[[ "$cmd" == *chronik-* ]] && kill -KILL "$p" 2>/dev/null
	done
	orphans=()
}

# proc_workdir PREFIX: work := a new dir $base/PREFIX.XXXXXX, creating $base
# (created_base=1) when missing. Exits 2 when that fails or the path is too
# long for the Unix sockets below it.
proc_workdir() {
	if [ ! -d "$base" ]; then
		mkdir -p -- "$base" || exit 2
		created_base=1
	fi
	work=$(mktemp -d "$base/$1.XXXXXX") || exit 2
	if [ ${#work} -gt 70 ]; then
		log "bench dir path too long for a Unix socket: $work (set BENCH_DIR)"
		exit 2
	fi
}

# proc_cleanup: the EXIT trap. Stops every child in pids, newest first
# (clients before the servers they talk to), SIGKILLs orphans, removes $work
# and $base when this run created it.
proc_cleanup() {
	local i
	trap - EXIT INT TERM HUP
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		"${proc_stop_fn:-proc_stop}" "${pids[i]}" 10
	done
	proc_kill_orphans
	[ -n "$work" ] && [ -d "$work" ] && rm -rf -- "$work"
	[ "$created_base" = 1 ] && rmdir -- "$base" 2>/dev/null
	return 0
}

trap proc_cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP
