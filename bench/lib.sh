# lib.sh: helpers sourced by the smoke tests of the bench scripts
# (smoke_test.sh for run.sh, kafka_smoke.sh for kafka.sh).
#
#   here=$(cd "$(dirname "$0")" && pwd)
#   . "$here/lib.sh"
#   smoke_build "${1:-${CHRONIK_BUILD_ROOT:-}}"
#   smoke_init PREFIX "$build/some/binary"...
#
# It owns the test's temp dir and its exit: the temp dir is removed and
# every process the test left behind is killed (by PID) on every exit path.
# The sourcing script defines leftovers() (the PIDs of the processes it
# started that still run, found its own way) and check_clean LABEL (asserts
# nothing is left), both called only after smoke_init.
# Not for: running on its own, or anything about what a bench prints.

# smoke_build DIR: sets build to DIR made absolute; exits 2 without it.
smoke_build() {
	build=$(cd "$1" && pwd) || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
}

# smoke_init PREFIX BINARY...: exits 77 (skipped) when a BINARY is not
# built; else sets tmp (a new /tmp/PREFIX.* dir), fails=0 and bg= (the PID
# of a background run) and arms the exit trap.
smoke_init() {
	local prefix=$1 b
	shift
	for b in "$@"; do
		if [ ! -x "$b" ]; then
			echo "SKIP: $b is not built"
			exit 77
		fi
	done
	tmp=$(mktemp -d "/tmp/$prefix.XXXXXX")
	fails=0
	bg=
	trap smoke_finish EXIT
}

smoke_finish() {
	[ -n "$bg" ] && kill -TERM "$bg" 2>/dev/null && wait "$bg" 2>/dev/null
	for p in $(leftovers); do kill -KILL "$p" 2>/dev/null; done
	rm -rf -- "$tmp"
}

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# smoke_wait_for PATTERN: until one of leftovers() has PATTERN (a grep
# regex) on its command line; 1 when none has after 60 s.
smoke_wait_for() {
	local i p
	for ((i = 0; i < 600; i++)); do
		for p in $(leftovers); do
			{ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "$1" && return 0
		done
		sleep 0.1
	done
	return 1
}

# smoke_failed_run RC LABEL MESSAGE ERR_FILE: a run whose processes could
# not start must exit 1 (its status RC), say MESSAGE (a grep regex) on its
# stderr (ERR_FILE) and leave nothing behind (check_clean LABEL).
smoke_failed_run() {
	[ "$1" = 1 ] && ok "$2 -> exit 1" || fail "$2: exit $1"
	grep -q -- "$3" "$4" && ok "failure reported" || fail "failure not reported"
	check_clean "$2"
}

# smoke_sigterm LABEL: half a second later, SIGTERM to the background run
# $bg, which must exit 130 and leave nothing behind (check_clean LABEL).
smoke_sigterm() {
	local rc
	sleep 0.5
	kill -TERM "$bg"
	wait "$bg"
	rc=$?
	bg=
	[ "$rc" = 130 ] && ok "$1 -> exit 130" || fail "$1: exit $rc"
	check_clean "$1"
}

# smoke_exit: the summary line; the status is 0 when nothing failed.
smoke_exit() {
	echo "$fails failure(s)"
	[ "$fails" = 0 ]
}
