#!/usr/bin/env bash
# lockwardend under valgrind (memcheck) for the whole scenario suite: each
# transcript must still be the scenario's .expected, and valgrind must
# report no invalid access, no use of uninitialised memory and no leak
# (definite, indirect or possible) in any daemon run.  SCN=PATTERN picks
# scenarios, as in t_scenarios.sh.
# The suite runs with the fanotify monitor only: under valgrind the BPF
# monitor takes seconds to load and half a minute to close, so it runs
# for one scenario.  Valgrind 3.19 does not know pidfd_send_signal(), so
# the daemon cannot kill a VM there: "wait" lines are not compared.
# Not with SAN=1: valgrind cannot run ASan binaries.
source "$(dirname "$0")/lib.sh"

# Valgrind slows the daemon's start and exit down.
export DAEMON_WAIT_S=60

# The daemon as the scenarios start it, run by valgrind; one log per process.
valgrind_wrapper() {
	local w=$OUT/lockwardend-valgrind

	cat >"$w" <<-EOF
		#!/bin/sh
		exec valgrind --quiet --error-exitcode=99 --leak-check=full \\
			--suppressions="$SELFTESTS/valgrind.supp" \\
			--show-leak-kinds=definite,indirect,possible \\
			--errors-for-leak-kinds=definite,indirect,possible \\
			--log-file="$OUT/valgrind.%p.log" "$LOCKWARDEND" "\$@"
	EOF
	chmod +x "$w"
	echo "$w"
}

# The first error valgrind reported in a run, or nothing.
valgrind_says() {
	local log err

	for log in "$OUT"/valgrind.*.log; do
		[ -f "$log" ] || continue
		err=$(grep -m1 -E '^==[0-9]+== .*(Invalid|uninitialised|unaddressable|lost in loss|overlap|free\(\))' "$log")
		[ -n "$err" ] && echo "$log: $err"
	done
}

# run_one NAME SCN MONITORS: one scenario under valgrind, its result line.
run_one() {
	local name=$1 scn=$2 out=$OUT/$1.out why=""

	rm -f "$OUT"/valgrind.*.log
	printf '%s\nguard_monitors = [ %s ]\n' "$DAEMON_CONF_TEXT" "$3" >"$OUT/daemon.conf"
	scenario_run "$scn" "$out" "$wrapper" || why="run failed: $(tail -n 1 "$out.err")"
	grep -q 'exited with status' "$out.err" && why+="$(grep -m1 'exited with status' "$out.err"); "
	if [ -z "$why" ]; then
		grep -v '^wait ' "${scn%.scn}.expected" >"$out.expected"
		grep -v '^wait ' "$out" >"$out.compared"
		why=$(differs "$out.expected" "$out.compared")
	fi
	why+=$(valgrind_says)
	result "valgrind/$name" "$why"
}

if ! command -v valgrind >/dev/null; then
	skip valgrind "valgrind is not installed"
	exit 0
fi
if [ "${SAN:-0}" = 1 ]; then
	skip valgrind "an ASan build (SAN=1) does not run under valgrind"
	exit 0
fi
why=$(missing_daemon "$LOCKWARDEND")
[ -z "$why" ] || { fail valgrind "$why"; exit 0; }
wrapper=$(valgrind_wrapper)
for scn in "$SELFTESTS"/scenarios/*.scn; do
	name=$(basename "$scn" .scn)
	[[ $name == *"${SCN:-}"* ]] || continue
	run_one "$name" "$scn" '"fanotify"'
done
if [[ exclusive == *"${SCN:-}"* ]]; then
	run_one exclusive-with-bpf "$SELFTESTS/scenarios/exclusive.scn" '"bpf", "fanotify"'
fi
exit 0
