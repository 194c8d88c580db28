#!/usr/bin/env bash
# Every selftests/scenarios/*.scn against each daemon: the transcript must
# equal the scenario's .expected (golden, from virtlockd, checked by hand),
# and a differential subtest requires virtlockd's and lockwardend's
# transcripts to be identical.  SCN=PATTERN picks scenarios by name.
source "$(dirname "$0")/lib.sh"

# The indirect scenario's first listing must hold the lock files named by
# the sha256 of the disk paths lockd.so was given (a, and b shared; c is
# read-only and gets none), with mode 0600.
check_sha256_names() {
	local transcript=$1 names=() want p

	for p in /srv/img/a.img /srv/img/b.img; do
		names+=("$(printf '%s' "$p" | sha256sum | cut -d' ' -f1):0600")
	done
	want="ls /srv/lockspace: $(printf '%s\n' "${names[@]}" | sort | tr '\n' ' ')"
	[ "$(grep -m1 '^ls /srv/lockspace:' "$transcript") " = "$want" ] ||
		echo "first 'ls /srv/lockspace' in $transcript is not: $want"
}

if [ ! -x "$HARNESS" ]; then
	fail scenarios "$HARNESS is missing (make $HARNESS)"
	exit 0
fi

for scn in "$SELFTESTS"/scenarios/*.scn; do
	name=$(basename "$scn" .scn)
	[[ $name == *"${SCN:-}"* ]] || continue
	expected=${scn%.scn}.expected
	outs=()
	nodiff=
	for d in "${DAEMONS[@]}"; do
		dname=${d%%=*}
		bin=${d#*=}
		out=$OUT/$name.$dname.out
		outs+=("$out")
		rm -f "$out"
		why=$(missing_daemon "$bin")
		if [ -z "$why" ] && ! scenario_run "$scn" "$out" "$bin"; then
			why="run failed: $(tail -n 1 "$out.err")"
		fi
		[ -z "$why" ] || nodiff="no transcript from $dname: $why"
		[ -n "$why" ] || why=$(differs "$expected" "$out")
		result "scenario/$name/$dname" "$why"
	done
	result "scenario/$name/differential" "${nodiff:-$(differs "${outs[@]}")}"
done

if [[ indirect == *"${SCN:-}"* ]]; then
	result scenario/indirect/sha256-names \
		"$(check_sha256_names "$SELFTESTS/scenarios/indirect.expected")"
fi
exit 0
