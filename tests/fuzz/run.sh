#!/bin/sh
# run.sh BUILD [SECONDS [TARGET]]: runs a fuzzer for SECONDS (default 30)
# from its committed seed corpus (made by make_corpus.py): TARGET
# fuzz_kfk_request (the default; the Kafka request decoder, tests/fuzz/corpus
# from the golden client frames), fuzz_records (a Produce's record bytes
# and a member's subscription, tests/fuzz/corpus-records), fuzz_raft
# (what another raftd may send, tests/fuzz/corpus-raft), fuzz_apply
# (raftd's metadata state machine, tests/fuzz/corpus-apply; its LMDB goes
# under the temporary directory), fuzz_group (the consumer group
# coordinator, tests/fuzz/corpus-group), fuzz_pids (idempotent
# producers' state in walwriter, tests/fuzz/corpus-pids) or fuzz_repl (the
# replicator's HW rule and ISR decisions, tests/fuzz/corpus-repl) or
# fuzz_topic_cfg (a topic config value as kafka-frontend and raftd read it,
# tests/fuzz/corpus-topic-cfg). BUILD must be
# configured with
#   CC=clang meson setup BUILD -Dfuzz=true
# New inputs go to a temporary directory that is removed afterwards; crash
# reproducers land in BUILD/fuzz-artifacts/. Exit status: 0 clean, 1 the
# fuzzer found a failure, 2 usage or missing binary.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD [SECONDS [fuzz_kfk_request|fuzz_records|fuzz_raft|fuzz_apply|fuzz_group|fuzz_pids|fuzz_repl|fuzz_topic_cfg]]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
secs=${2:-30}
target=${3:-fuzz_kfk_request}
case $target in
fuzz_kfk_request) corpus=$here/corpus ;;
fuzz_records) corpus=$here/corpus-records ;;
fuzz_raft) corpus=$here/corpus-raft ;;
fuzz_apply) corpus=$here/corpus-apply ;;
fuzz_group) corpus=$here/corpus-group ;;
fuzz_pids) corpus=$here/corpus-pids ;;
fuzz_repl) corpus=$here/corpus-repl ;;
fuzz_topic_cfg) corpus=$here/corpus-topic-cfg ;;
*)
	echo "run.sh: unknown target $target" >&2
	exit 2
	;;
esac
exe=$build/tests/fuzz/$target
if [ ! -x "$exe" ]; then
	echo "run.sh: $exe missing; configure with: CC=clang meson setup BUILD -Dfuzz=true" >&2
	exit 2
fi
# FUZZ_NO_BUILD=1: the caller built it (two ninjas must not share a build dir).
[ "${FUZZ_NO_BUILD:-}" = 1 ] || ninja -C "$build" "tests/fuzz/$target" >/dev/null

work=$(mktemp -d /tmp/kfk-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$build/fuzz-artifacts" "$work/corpus" "$work/tmp"
cp "$corpus"/* "$work/corpus"/

status=0
TMPDIR=$work/tmp "$exe" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/" "$work/corpus" || status=1
if [ "$status" -ne 0 ]; then
	echo "run.sh: $target failed; reproducers in $build/fuzz-artifacts/" >&2
fi
exit $status
