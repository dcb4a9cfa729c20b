#!/bin/bash
# run-tests.sh: runs every test suite and prints one closing line
# "N passed, M failed" counted over all of them.
#
#   tests/run-tests.sh BUILD [ASAN_BUILD]   unit + integration (+ unit and the
#                                          Kafka client tests under ASan+UBSan)
#   tests/run-tests.sh --slow BUILD         the slow suite (soaks)
#
# Check binaries report how many test cases they ran; each of their cases
# counts. Any other test (a script, a non-check program) counts as one.
set -uo pipefail
cd "$(dirname "$0")/.."

slow=0
if [ "${1:-}" = "--slow" ]; then slow=1; shift; fi
build=${1:-build}
asan=${2:-}
logs=()

run_suite() { # build-dir suite [extra meson test args...]
	local dir=$1 suite=$2; shift 2
	local name="${dir//\//_}-$suite"
	echo "=== suite $suite ($dir) ==="
	rm -f "$dir/meson-logs/$name.json"
	meson test -C "$dir" --suite "$suite" --print-errorlogs --no-rebuild "$@" \
		--logbase "$name" || true
	if [ -f "$dir/meson-logs/$name.json" ]; then
		logs+=("$dir/meson-logs/$name.json")
	else
		echo "(suite $suite: no tests ran)"
	fi
}

if [ "$slow" = 1 ]; then
	run_suite "$build" slow --num-processes 1 --timeout-multiplier 4
else
	run_suite "$build" unit
	run_suite "$build" sim
	run_suite "$build" integration --num-processes 1
	run_suite "$build" cluster --num-processes 1
	if [ -n "$asan" ]; then
		echo "=== building with ASan+UBSan ($asan) ==="
		if [ ! -f "$asan/build.ninja" ]; then
			meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false \
				-Dbuildtype=debug >/dev/null
		fi
		if ninja -C "$asan" >"$asan.ninja.log" 2>&1; then
			export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
			export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
			run_suite "$asan" unit --timeout-multiplier 3
			# Whole nodes under the sanitizers, driven by real Kafka
			# clients: each case stops its nodes with SIGTERM (leaks are
			# reported at exit) and fails on any report in a node log.
			export CHRONIK_KTEST_SANITIZE=1
			run_suite "$asan" integration --num-processes 1 --timeout-multiplier 3 \
				kafka_python kafka_bad_input kafka_kcat kafka_rdkafka kafka_durability kafka_groups \
				kafka_idempotence kafka_producer_id
			unset CHRONIK_KTEST_SANITIZE
			# Three sanitized nodes under kills, partitions and wipes; a
			# report in any node's log fails the test (cluster_harness.c).
			CHRONIK_KTEST_SANITIZE=1 run_suite "$asan" cluster --num-processes 1 \
				--timeout-multiplier 4
		else
			tail -50 "$asan.ninja.log"
			echo "asan build failed"
			logs+=("EXTRA:asan build:FAIL")
		fi
	fi
	# Short libFuzzer runs (clang only): the Kafka request decoder, the
	# record bytes of a Produce with a member's subscription, the Raft core
	# under what another raftd may send, raftd's metadata state machine, the
	# consumer group coordinator, walwriter's idempotent producer state, the
	# replicator's high-watermark rule, and topic config values as
	# kafka-frontend and raftd read them.
	if [ -n "$asan" ] && command -v clang >/dev/null; then
		fuzz=build-fuzz
		if { [ -f "$fuzz/build.ninja" ] || CC=clang meson setup "$fuzz" -Dfuzz=true \
			>"$fuzz.setup.log" 2>&1; } &&
			ninja -C "$fuzz" tests/fuzz/fuzz_kfk_request tests/fuzz/fuzz_records tests/fuzz/fuzz_raft \
				tests/fuzz/fuzz_apply tests/fuzz/fuzz_group tests/fuzz/fuzz_pids \
				tests/fuzz/fuzz_repl tests/fuzz/fuzz_topic_cfg \
				>"$fuzz.ninja.log" 2>&1; then
			fuzz_built=1
		else
			fuzz_built=
			tail -30 "$fuzz.setup.log" "$fuzz.ninja.log" 2>/dev/null
		fi
		# Two at a time (each fuzzer is one process on one core); results
		# are reported in the listed order.
		fuzz_targets=(fuzz_kfk_request fuzz_records fuzz_raft fuzz_apply fuzz_group
			fuzz_pids fuzz_repl fuzz_topic_cfg)
		for ((i = 0; i < ${#fuzz_targets[@]}; i += 2)); do
			pair=("${fuzz_targets[@]:i:2}")
			fpids=()
			for target in "${pair[@]}"; do
				if [ -n "$fuzz_built" ]; then
					FUZZ_NO_BUILD=1 tests/fuzz/run.sh "$fuzz" "${FUZZ_SECS:-30}" "$target" \
						>"$fuzz.$target.log" 2>&1 &
					fpids+=($!)
				else
					fpids+=("")
				fi
			done
			for j in "${!pair[@]}"; do
				target=${pair[$j]}
				echo "=== fuzzing: $target ($fuzz, ${FUZZ_SECS:-30} s) ==="
				if [ -n "${fpids[$j]}" ] && wait "${fpids[$j]}"; then
					tail -3 "$fuzz.$target.log"
					logs+=("EXTRA:$target:OK")
				else
					tail -30 "$fuzz.$target.log" 2>/dev/null
					logs+=("EXTRA:$target:FAIL")
				fi
			done
		done
	fi
fi

python3 - "${logs[@]}" <<'PY'
import json, re, sys
passed = failed = skipped = 0
bad = []
details = []
summary = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
check_fail = re.compile(r"^([^ :]+\.c:\d+:[FE]:|FAIL: |FAILED: )")
for path in sys.argv[1:]:
    if path.startswith("EXTRA:"):
        _, name, res = path.split(":", 2)
        if res == "OK":
            passed += 1
        else:
            failed += 1; bad.append(name)
        continue
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1; bad.append(path + " (no log)"); continue
    for line in lines:
        t = json.loads(line)
        res, out = t.get("result"), t.get("stdout") or ""
        if res == "SKIP":
            skipped += 1; continue
        m = summary.findall(out)
        if m:
            n = sum(int(a) for a, _, _ in m); f = sum(int(b) + int(c) for _, b, c in m)
            if res != "OK" and f == 0:
                f = 1  # crashed or leaked after its checks passed
                n += 1
            passed += n - f; failed += f
        elif res == "OK":
            passed += 1
        else:
            failed += 1
        if res != "OK":
            bad.append("%s (%s)" % (t.get("name"), res))
            # The check lines that failed (file:line:F|E:...) and the end of
            # the output, so the reason is in the last lines CI keeps.
            why = [l for l in out.splitlines() if check_fail.search(l)]
            why += (out + (t.get("stderr") or "")).splitlines()[-6:]
            details.append((t.get("name"), why[:20]))
for name, why in details:
    print("--- why %s failed:" % name)
    for l in why:
        print("   ", l[:300])
for b in bad:
    print("FAILED:", b)
tail = ", %d skipped" % skipped if skipped else ""
print("%d passed, %d failed%s" % (passed, failed, tail))
sys.exit(1 if failed or passed == 0 else 0)
PY
