#!/usr/bin/env bash
# Run the selftests: every selftests/t_*.sh, each in its own mount and pid
# namespaces with tmpfs on /run and /srv and a bpffs of its own (so that runs
# in parallel never share pins), and every
# $BUILD/selftests/test_* program.
# Each prints PASS/FAIL/SKIP lines; this counts them and ends with
# "N passed, N failed".  Exit status 1 if anything failed.
#
# Usage: selftests/run.sh [PATTERN]   only test files whose name has PATTERN
#   env: BUILD (default ./build), TEST_TIMEOUT seconds per file (300),
#        SUITE=libvirt for the files of selftests/libvirt/ instead (make test-libvirt),
#        SCN=PATTERN to pick scenarios in t_scenarios.sh
# With a build made with SAN=1, every ASan, LSan or UBSan report of any
# process fails the test file it came from.
set -u

source "$(dirname "$0")/lib.sh"

pattern=${1:-}
start_s=$SECONDS
timeout_s=${TEST_TIMEOUT:-300}
npass=0
nfail=0
nskip=0

# run_file NAME CMD...: run one test file with its timeout, count its lines.
run_file() {
	local name=$1 log=$OUT/$1.log rc
	shift

	mkdir -p "$OUT"
	# SAN=1: ASan and LSan write their reports next to the log; UBSan
	# stops the process with "runtime error:" on its stderr, which ends
	# up in a daemon log or this file's log, all in $OUT.
	ASAN_OPTIONS=log_path=$OUT/asan:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		timeout -k 5 "$timeout_s" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	for report in "$OUT"/asan.* $(grep -rl 'runtime error:' "$OUT" | head -n 1); do
		[ -f "$report" ] || continue
		fail "$name" "sanitizer report in $report: $(grep -m1 -E 'SUMMARY|runtime error' "$report")"
		nfail=$((nfail + 1))
	done
	npass=$((npass + $(grep -c '^PASS ' "$log")))
	nskip=$((nskip + $(grep -c '^SKIP ' "$log")))
	nfail=$((nfail + $(grep -c '^FAIL ' "$log")))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "$name" "timed out after ${timeout_s}s"
		nfail=$((nfail + 1))
	elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
		fail "$name" "exited with status $rc"
		nfail=$((nfail + 1))
	fi
}

if [ "$(id -u)" -ne 0 ]; then
	fail run.sh "must run as root (mount namespaces, the daemons' /run)"
	nfail=1
else
	rm -rf "$BUILD/selftests/out${SUITE:+-$SUITE}"
	mkdir -p "$OUT"
	if [ -n "${SUITE:-}" ]; then
		tests=("$SELFTESTS/$SUITE"/t_*.sh)
	else
		tests=("$SELFTESTS"/t_*.sh "$BUILD"/selftests/test_*)
	fi
	for t in "${tests[@]}"; do
		[ -f "$t" ] || continue
		name=$(basename "$t")
		[[ $name == *"$pattern"* ]] || continue
		case $name in
		t_*.sh)
			# A pid namespace too: whatever the file leaves running
			# (even a daemonized daemon) dies with it.
			OUT=$BUILD/selftests/out${SUITE:+-$SUITE}/${name%.sh} run_file "$name" \
				unshare -m -p -f --mount-proc -- bash -c '
					mount -t tmpfs lw-run /run &&
					mount -t tmpfs lw-srv /srv &&
					mkdir -p /var/lib/lockwarden &&
					mount -t tmpfs -o mode=0700 lw-state /var/lib/lockwarden &&
					mount -t bpf lw-bpf /sys/fs/bpf && exec bash "$0"' "$t"
			;;
		*)
			[ -x "$t" ] && run_file "$name" "$t"
			;;
		esac
	done
fi

echo "$nskip skipped"
echo "wall time: $((SECONDS - start_s)) s"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
