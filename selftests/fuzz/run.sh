#!/usr/bin/env bash
# Run every libFuzzer target in $BUILD/fuzz for FUZZ_SECONDS (default 60)
# and print PASS/FAIL per target, as the selftests do.  Each starts from the
# seeds in selftests/fuzz/corpus/NAME plus what earlier runs found, kept in
# $BUILD/fuzz/work/NAME/corpus (never in git).  Any crash, leak, timeout or
# sanitizer report fails the target; its input is left in
# $BUILD/fuzz/work/NAME/ (reproduce: $BUILD/fuzz/fuzz_NAME FILE).
#
# Usage: selftests/fuzz/run.sh [PATTERN]   only targets whose name has PATTERN
set -u

here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$(dirname "$(dirname "$here")")/build}
seconds=${FUZZ_SECONDS:-60}
pattern=${1:-}
npass=0
nfail=0

for bin in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	[[ $name == *"$pattern"* ]] || continue
	work=$BUILD/fuzz/work/$name
	seeds=$here/corpus/$name
	mkdir -p "$work/corpus" "$seeds"
	rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
	# -timeout: an input that takes seconds is a hang (a client that stops
	# being served); the RSS limit catches unbounded buffering.
	(cd "$work" && LW_FUZZ_WRITABLE=$work \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" \
		>"$work/log" 2>&1)
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	found=$(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -n 1)
	if [ $rc -eq 0 ] && [ -z "$found" ]; then
		echo "PASS fuzz/$name (${runs:-?} inputs in ${seconds}s)"
		npass=$((npass + 1))
	else
		why=$(grep -m1 -E 'ERROR: |runtime error:|SUMMARY:' "$work/log")
		echo "FAIL fuzz/$name: exit $rc: ${why:-see $work/log}${found:+; input $found}"
		nfail=$((nfail + 1))
	fi
done

echo "wall time: $SECONDS s"
echo "$npass passed, $nfail failed"
[ $npass -gt 0 ] && [ $nfail -eq 0 ]
