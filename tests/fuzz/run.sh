#!/bin/sh
# run.sh BUILD SECONDS: runs the Kafka request-decoding fuzzer for SECONDS
# (default 30) from the committed seed corpus (tests/fuzz/corpus, made from
# the golden client frames by make_corpus.py). BUILD must be configured with
#   CC=clang meson setup BUILD -Dfuzz=true
# New inputs go to a temporary directory that is removed afterwards; crash
# reproducers land in BUILD/fuzz-artifacts/. Exit status: 0 clean, 1 the
# fuzzer found a failure, 2 usage or missing binary.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD [SECONDS]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
secs=${2:-30}
exe=$build/tests/fuzz/fuzz_kfk_request
if [ ! -x "$exe" ]; then
	echo "run.sh: $exe missing; configure with: CC=clang meson setup BUILD -Dfuzz=true" >&2
	exit 2
fi
ninja -C "$build" tests/fuzz/fuzz_kfk_request >/dev/null

work=$(mktemp -d /tmp/kfk-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$build/fuzz-artifacts"
cp "$here"/corpus/* "$work"/

status=0
"$exe" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/" "$work" || status=1
if [ "$status" -ne 0 ]; then
	echo "run.sh: fuzz_kfk_request failed; reproducers in $build/fuzz-artifacts/" >&2
fi
exit $status
