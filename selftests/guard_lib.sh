# shellcheck shell=bash
# Helpers for the guard's tests (t_guard_*.sh): a lockwardend with its own
# config and audit log, a vmharness driven line by line, and waiting for
# audit records.  Source after lib.sh.

GUARDOPEN=$BUILD/selftests/guardopen
GUARD_RUNS=0

# guard_daemon [CONFIG LINE...]: start lockwardend with an audit log of its
# own ($AUDIT, kept for a look after a failure) and these extra config
# lines; through $GUARD_WRAP (a command and its options) if set.  Sets
# DAEMON_PID (see daemon_start).
guard_daemon() {
	local conf=$OUT/guard.conf line i

	AUDIT=$OUT/audit.$((++GUARD_RUNS)).jsonl
	{
		echo 'log_level = 2'
		echo 'log_outputs = "2:stderr"'
		echo "audit_log = \"$AUDIT\""
		for line in "$@"; do echo "$line"; done
	} >"$conf"
	# shellcheck disable=SC2086
	daemon_start ${GUARD_WRAP:-} "$LOCKWARDEND" -f "$conf" || return 1
	# The guard says what watches once, maybe just after the socket listens.
	for ((i = 0; i < 50; i++)); do
		grep -q ' : guard: ' "$DAEMON_LOG" && break
		sleep 0.1
	done
	GUARD_HOOK=$(sed -n 's/.*guard: the BPF open monitor on \([^ ]*\) .*/\1/p' "$DAEMON_LOG" |
		head -n 1)
	GUARD_HOOK=${GUARD_HOOK:-no BPF hook}
}

# The BPF hook the last daemon runs on, in every result line: the same test
# runs on each (make test-kernels).
GUARD_HOOK=
pass() { echo "PASS $1${GUARD_HOOK:+ [$GUARD_HOOK]}"; }
fail() { echo "FAIL $1${GUARD_HOOK:+ [$GUARD_HOOK]}: $2"; }
skip() { echo "SKIP $1${GUARD_HOOK:+ [$GUARD_HOOK]}: $2"; }

# True when the BPF hook sees every open, not only the open syscalls'.
guard_hook_sees_files() {
	[[ $GUARD_HOOK == lsm/* || $GUARD_HOOK == fexit/* ]]
}

# harness_start: vmharness reading commands from us; h CMD... sends one
# and sets REPLY to its transcript line.
harness_start() {
	coproc HARNESS_CO { "$HARNESS" 2>"$OUT/harness.err"; }
}

h() {
	echo "$*" >&"${HARNESS_CO[1]}"
	REPLY=
	read -r -t 30 REPLY <&"${HARNESS_CO[0]}"
}

harness_stop() {
	exec {HARNESS_CO[1]}>&-
	wait "$HARNESS_CO_PID" 2>/dev/null
}

# open_as_vm VM PATH [rw] [thread]: the VM opens PATH; sets VM_PID, VM_FD.
open_as_vm() {
	h open "$@"
	read -r _ _ _ _ VM_FD _ VM_PID <<<"$REPLY"
	[[ $REPLY == "open $1: ok fd "* ]]
}

# records JQ_FILTER: the guard's audit records it selects, one per line.
records() {
	[ -f "$AUDIT" ] || return 0
	jq -c "select((.event | IN(\"violation\", \"warning\", \"management\", \"denied\"))
		and ($1))" "$AUDIT" 2>/dev/null
}

# wait_records JQ_FILTER N [TENTHS]: until N records match (default 1 s);
# prints how many there are then.
wait_records() {
	local i n=0

	for ((i = 0; i <= ${3:-10}; i++)); do
		n=$(records "$1" | wc -l)
		[ "$n" -ge "$2" ] && break
		sleep 0.1
	done
	echo "$n"
}

# opener CMD...: run CMD in the background as a non-owner; sets OPENER_PID
# and OPENER_OUT (its output) once it has finished.
opener() {
	"$@" >"$OUT/opener.out" 2>&1 &
	OPENER_PID=$!
	wait "$OPENER_PID"
	OPENER_OUT=$(cat "$OUT/opener.out")
}

# expect_one NAME FILTER CHECK: exactly one record of OPENER_PID matching
# FILTER within 1 s, and CHECK (a jq boolean expression) true of it.
expect_one() {
	local name=$1 filter=".pid == $OPENER_PID and ($2)" n rec

	n=$(wait_records "$filter" 1)
	# A second record would come at once after the first.
	sleep 0.3
	n=$(records "$filter" | wc -l)
	if [ "$n" -ne 1 ]; then
		fail "$name" "$n records for pid $OPENER_PID (want 1); opener said: $OPENER_OUT"
		return
	fi
	rec=$(records "$filter")
	if [ "$(jq "$3" <<<"$rec")" != true ]; then
		fail "$name" "record does not satisfy $3: $rec"
		return
	fi
	pass "$name"
}

# expect_none NAME FILTER: no record matches FILTER within 0.5 s.
expect_none() {
	local n

	sleep 0.5
	n=$(records "$2" | wc -l)
	result "$1" "$([ "$n" -eq 0 ] || echo "$n unexpected records: $(records "$2" | head -n 1)")"
}

# BPF links the daemon holds (its open monitor attached).
daemon_links() {
	grep -l '^link_type:' "/proc/$DAEMON_PID"/fdinfo/* 2>/dev/null | wc -l
}

# stat_dev PATH: "MAJOR:MINOR" of the filesystem, as the records give it.
stat_dev() {
	stat -c '%Hd:%Ld' "$1"
}
