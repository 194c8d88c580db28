#!/usr/bin/env bash
# Two hosts on shared storage: two daemons, each in its own mount namespace
# with its own /run, sharing /srv (images and file_lockspace_dir).  Every
# selftests/scenarios/two_hosts/*.scn runs for each pairing of virtlockd and
# lockwardend as hosts a and b, and must give the .expected transcript: a
# disk held on one host is busy on the other, both ways, whichever daemon
# runs where.
source "$(dirname "$0")/lib.sh"

if [ ! -x "$HARNESS" ]; then
	fail two_hosts "$HARNESS is missing (make $HARNESS)"
	exit 0
fi

for scn in "$SELFTESTS"/scenarios/two_hosts/*.scn; do
	name=$(basename "$scn" .scn)
	for a in "${DAEMONS[@]}"; do
		for b in "${DAEMONS[@]}"; do
			pair=${a%%=*}+${b%%=*}
			out=$OUT/$name.$pair.out
			rm -f "$out"
			why=$(missing_daemon "${a#*=}")
			[ -n "$why" ] || why=$(missing_daemon "${b#*=}")
			if [ -z "$why" ] && ! scenario_run "$scn" "$out" "${a#*=}" "${b#*=}"; then
				why="run failed: $(tail -n 1 "$out.err")"
			fi
			[ -n "$why" ] || why=$(differs "${scn%.scn}.expected" "$out")
			result "two_hosts/$name/$pair" "$why"
		done
	done
done
exit 0
