# lib.sh: what start.sh, stop.sh and restart.sh share (sourced, not run).
#
# A node is one `chronik-server start --config tests/cluster/nodeN.toml`
# run from this directory, its output appended to logs/nodeN.log, its pid
# in run/nodeN.pid. Only a pid that still is that command is ever
# signalled (a stale pid file, or a pid the kernel gave to someone else, is
# ignored). The server binary: $CHRONIK_SERVER, else
# ${CHRONIK_BUILD_DIR:-<repo>/build}/supervisor/chronik-server, else PATH.

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$CLUSTER_DIR/../.." && pwd)
ALL_NODES="1 2 3"

find_server() {
	local b=${CHRONIK_BUILD_DIR:-$REPO_DIR/build}

	b=$(cd "$b" 2>/dev/null && pwd) || b=${CHRONIK_BUILD_DIR:-$REPO_DIR/build}
	if [ -n "${CHRONIK_SERVER:-}" ]; then
		echo "$CHRONIK_SERVER"
	elif [ -x "$b/supervisor/chronik-server" ]; then
		echo "$b/supervisor/chronik-server"
	elif command -v chronik-server >/dev/null; then
		command -v chronik-server
	else
		echo "chronik-server not found: build it (make) or set CHRONIK_BUILD_DIR" >&2
		return 1
	fi
}

check_node() {
	case "$1" in
	1 | 2 | 3) return 0 ;;
	*) echo "no such node: '$1' (1, 2 or 3)" >&2; return 1 ;;
	esac
}

pid_file() { echo "$CLUSTER_DIR/run/node$1.pid"; }

# Prints the pid of node N when it runs as started here; fails otherwise.
node_pid() {
	local f pid
	f=$(pid_file "$1")
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "start --config $CLUSTER_DIR/node$1.toml" ||
		return 1
	echo "$pid"
}

# The node's status as `chronik-server status` prints it.
node_status() {
	local server
	server=$(find_server) || return 1
	(cd "$CLUSTER_DIR" && "$server" status --config "$CLUSTER_DIR/node$1.toml")
}

start_node() {
	local n=$1 server pid
	server=$(find_server) || return 1
	if pid=$(node_pid "$n"); then
		echo "node $n runs already (pid $pid)"
		return 0
	fi
	mkdir -p "$CLUSTER_DIR/data" "$CLUSTER_DIR/logs" "$CLUSTER_DIR/run"
	(cd "$CLUSTER_DIR" &&
		exec nohup "$server" start --config "$CLUSTER_DIR/node$n.toml" \
			>>"$CLUSTER_DIR/logs/node$n.log" 2>&1 </dev/null) &
	echo $! >"$(pid_file "$n")"
	echo "node $n started (pid $!, log tests/cluster/logs/node$n.log)"
}

# Waits until node N reports every child ready; fails after TIMEOUT seconds.
wait_ready() {
	local n=$1 timeout=${2:-30} i out
	for ((i = 0; i < timeout * 5; i++)); do
		if ! node_pid "$n" >/dev/null; then
			echo "node $n exited; see tests/cluster/logs/node$n.log:" >&2
			tail -5 "$CLUSTER_DIR/logs/node$n.log" >&2
			return 1
		fi
		out=$(node_status "$n" 2>/dev/null) &&
			[ "$(grep -c ' ready ' <<<"$out")" -ge 4 ] && return 0
		sleep 0.2
	done
	echo "node $n not ready after ${timeout}s" >&2
	return 1
}

# Waits (up to 10 s) until node N's raftd knows a leader and has applied
# what the leader committed, then prints its metadata status line.
wait_metadata() {
	local n=$1 i line
	for ((i = 0; i < 50; i++)); do
		line=$(node_status "$n" 2>/dev/null | grep -o 'metadata service[^;]*' | head -1)
		if grep -q 'leader=[0-9]' <<<"$line" && grep -q 'applied=[1-9]' <<<"$line" &&
			grep -q 'lag=0' <<<"$line"; then
			break
		fi
		sleep 0.2
	done
	echo "node $n: ${line:-no status}"
}

stop_node() {
	local n=$1 pid i
	if ! pid=$(node_pid "$n"); then
		rm -f "$(pid_file "$n")"
		echo "node $n is not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		echo "node $n still runs after 30s: SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$(pid_file "$n")"
	echo "node $n stopped"
}
