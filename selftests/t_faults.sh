#!/usr/bin/env bash
# Faults, against lockwardend.  After each, the lock table must be exactly
# what the surviving clients hold: every lock file is probed with
# F_OFD_GETLK from another process (loadgen), and where the daemon's own
# table matters a newcomer asks for every disk.
#   client-sigkill   VM processes SIGKILLed in mid-request
#   half-frame       clients that send part of a request and stall
#   audit-disk-full  the audit log's file system full
#   daemon-sigkill   the daemon SIGKILLed: the kernel drops its locks, the
#                    next start is clean and says which leases were lost
#   sigusr1-storm    20 re-execs one after the other under the full load
#                    (1000 VMs, 4000 locks), then a burst of 10 SIGUSR1
#   state-full, state-readonly
#                    the re-exec state cannot be written: the re-exec is
#                    called off and everything is kept; once it can, it works
source "$(dirname "$0")/lib.sh"

LOADGEN=$BUILD/selftests/loadgen
LS=/srv/lockspace
STATE=/run/virtlockd-restart-exec.json
# Info level: re-execs are logged there.
REEXEC_CONF_TEXT="log_level = 2
log_outputs = \"2:stderr\"
audit_log = \"$OUT/audit.jsonl\""

# figure KEY FILE: the value of KEY=VALUE in loadgen's output.
figure() {
	grep -o "\b$1=[^ ]*" "$2" | head -n 1 | cut -d= -f2
}

# loadgen_ok NAME OUT ARGS...: run loadgen; prints why it failed, or nothing.
loadgen_ok() {
	local out=$1
	shift

	"$LOADGEN" "$@" >"$out" 2>&1 && return
	echo "loadgen $1: $(grep -m1 '^error:' "$out" || tail -n 1 "$out")"
}

# The daemon must still serve, and stop cleanly (not in a subshell: it
# waits for the daemon).
daemon_ok() {
	proc_alive "$DAEMON_PID" || { echo "the daemon died: $(tail -n 1 "$DAEMON_LOG")"; return; }
	daemon_stop || echo "the daemon exited with status $? on SIGTERM"
}

# 60 VM processes with 4 disks each, registered with their own pids as
# lockd.so does, cycling; 25 of them are SIGKILLed at random moments.
fault_client_sigkill() {
	local out=$OUT/sigkill.out why

	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	why=$(loadgen_ok "$out" procs -n 60 -k 4 -t 2 -x 25 -l $LS)
	[ -n "$why" ] || [ $(($(figure mid_frame "$out") + $(figure awaiting_reply "$out"))) -gt 0 ] ||
		why="no victim was killed in mid-request"
	echo "$why"
	daemon_ok
}

# 100 connections each send part of a REGISTER (cut anywhere) and stall
# while 200 VMs run; then they finish it and must be answered.
fault_half_frame() {
	local out=$OUT/stall.out

	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	loadgen_ok "$out" run -n 200 -k 4 -t 6 -c 3 -S 100 -l $LS
	daemon_ok
}

# The audit log on a file system that is full from the start of the load
# to its end; then space comes back.
fault_audit_full() {
	local out=$OUT/auditfull.out conf=$OUT/auditfull.conf

	mkdir -p /srv/audit
	mount -t tmpfs -o size=64k lw-audit /srv/audit || { echo "cannot mount a tiny tmpfs"; return; }
	printf 'log_outputs = "3:stderr"\naudit_log = "/srv/audit/audit.jsonl"\n' >"$conf"
	daemon_start "$LOCKWARDEND" -f "$conf" || { echo "$DAEMON_ERR"; return; }
	dd if=/dev/zero of=/srv/audit/fill bs=4k 2>/dev/null
	loadgen_ok "$out" run -n 100 -k 4 -t 4 -c 2 -l $LS
	rm -f /srv/audit/fill
	loadgen_ok "$out.after" run -n 10 -k 4 -t 1 -c 1 -l $LS
	daemon_ok
	umount /srv/audit
}

# hold_start N [-r]: N VMs with 4 disks each take them and keep them until
# hold_stop (with -r they release them first).  Both set HOLD_WHY to what
# went wrong, or empty; call them in the test's own shell, not in $(...):
# hold_stop waits for the process hold_start started.
hold_start() {
	local i

	HOLD_WHY=""
	# Not a word of an earlier holder's output may count.
	rm -f "$OUT/release" "$OUT/hold.out"
	"$LOADGEN" hold -n "$1" -k 4 -l $LS ${2:-} >"$OUT/hold.out" 2>&1 \
		< <(until [ -e "$OUT/release" ]; do sleep 0.1; done) &
	HOLD_PID=$!
	for ((i = 0; i < 300; i++)); do
		grep -qs '^held' "$OUT/hold.out" && return
		sleep 0.1
	done
	HOLD_WHY="the VMs did not get their disks: $(head -n 1 "$OUT/hold.out")"
}

hold_stop() {
	touch "$OUT/release"
	wait "$HOLD_PID" || HOLD_WHY="the holders failed: $(grep -m1 '^error' "$OUT/hold.out")"
}

# The lock files of VMs 0..N-1, 4 disks each.
hold_files() {
	local vm k

	for ((vm = 0; vm < $1; vm++)); do
		for k in 0 1 2 3; do
			printf '%s/vm%05d-disk%d\n' $LS $vm $k
		done
	done
}

# FILE...: every one of them W (held) or, with -u, present and unlocked.
probe_says() {
	local want=W line

	[ "$1" = -u ] && { want=unlocked; shift; }
	"$LOADGEN" probe "$@" | while read -r line; do
		[ "${line##* }" = $want ] || { echo "$line, expected $want"; break; }
	done
}

# 50 VMs hold 200 disks; the daemon is SIGKILLed: every lock is gone (the
# files stay), the next start records the 200 leases lost, serves at once
# and lets a newcomer take every disk, and logs no other error.
fault_daemon_sigkill() {
	local files why

	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	mapfile -t files < <(hold_files 50)
	hold_start 50
	why=$HOLD_WHY
	[ -n "$why" ] || why=$(probe_says "${files[@]}")
	CRASH_AFTER=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
	kill -KILL "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
	[ -n "$why" ] || why=$(probe_says -u "${files[@]}")
	if [ -z "$why" ]; then
		if ! daemon_start "$LOCKWARDEND"; then
			why="the next start failed: $DAEMON_ERR"
		else
			# It says what the killed daemon held: its 200 leases.
			why=$(crash_record_says 200)
			# The newcomer holds exactly the 200 disks, then releases them.
			[ -n "$why" ] || why=$("$LOADGEN" hold -r -n 50 -k 4 -l $LS </dev/null 2>&1 |
				grep -m1 -v '^held$')
			[ -n "$why" ] || why=$(grep ': error : ' "$DAEMON_LOG" |
				grep -m1 -v 'did not stop cleanly')
		fi
	fi
	hold_stop	# its connections died with the daemon: it fails
	echo "$why"
	[ -n "$why" ] || daemon_ok
}

# crash_record_says N: the audit log's daemon_crashed record (within 3 s)
# names N lost leases, each with its owners; prints why not, or nothing.
crash_record_says() {
	local log=$OUT/audit.jsonl got i

	for ((i = 0; i < 30; i++)); do
		got=$(jq -r 'select(.event == "daemon_crashed" and .time > "'"$CRASH_AFTER"'") |
			"\(.severity) \(.leases_lost) \(.leases | length) \([.leases[] |
			select((.owner_pids | length) > 0)] | length)"' "$log" 2>/dev/null | tail -n 1)
		[ -n "$got" ] && break
		sleep 0.1
	done
	[ "$got" = "critical $1 $1 $1" ] ||
		echo "daemon_crashed record: '$got', not 'critical $1 $1 $1' (severity, lost, listed, with owners)"
}

count_in_log() {
	grep -c "$1" "$DAEMON_LOG"
}

# reexec_expect WHAT: SIGUSR1, then until the log says WHAT once more
# (30 s); prints why not, or nothing.
reexec_expect() {
	local n i

	n=$(count_in_log "$1")
	kill -USR1 "$DAEMON_PID"
	for ((i = 0; i < 300; i++)); do
		[ "$(count_in_log "$1")" -gt "$n" ] && return
		proc_alive "$DAEMON_PID" || break
		sleep 0.1
	done
	echo "after SIGUSR1 the log did not say '$1': $(tail -n 1 "$DAEMON_LOG")"
}

fault_sigusr1_storm() {
	local conf=$OUT/reexec.conf out=$OUT/storm.out lg why="" i

	echo "$REEXEC_CONF_TEXT" >"$conf"
	daemon_start "$LOCKWARDEND" -f "$conf" || { echo "$DAEMON_ERR"; return; }
	# Each re-exec starts a new heap: RSS is no measure here.
	"$LOADGEN" run -n 1000 -k 4 -t 60 -c 5 -m 1000000000 -l $LS >"$out" 2>&1 &
	lg=$!
	sleep 3
	for ((i = 1; i <= 20 && ! ${#why}; i++)); do
		why=$(reexec_expect 'restored lockwarden state')
		[ -z "$why" ] || why="re-exec $i: $why"
	done
	# A burst: signals pending across an exec stay pending (blocked), and
	# coalesce; none may find the daemon without its handler.
	for ((i = 0; i < 10; i++)); do
		kill -USR1 "$DAEMON_PID"
	done
	sleep 5
	wait "$lg" || why+="loadgen: $(grep -m1 '^error' "$out" || tail -n 1 "$out"); "
	grep -q 're-exec aborted' "$DAEMON_LOG" && why+="$(grep -m1 're-exec aborted' "$DAEMON_LOG"); "
	[ -e $STATE ] && why+="the state file was left behind; "
	echo "$why"
	daemon_ok
}

# fault_state_unwritable full|readonly: 100 VMs hold 400 disks while /run,
# where the state goes, is full or read-only: SIGUSR1 is refused and the
# daemon serves on with every lock; once /run is writable, it re-execs.
fault_state_unwritable() {
	local conf=$OUT/reexec.conf files why

	# A /run of its own, small enough to fill.
	mount -t tmpfs -o size=4m lw-run-small /run || { echo "cannot mount /run"; return; }
	echo "$REEXEC_CONF_TEXT" >"$conf"
	daemon_start "$LOCKWARDEND" -f "$conf" || { echo "$DAEMON_ERR"; return; }
	mapfile -t files < <(hold_files 100)
	hold_start 100 -r
	[ -n "$HOLD_WHY" ] && { echo "$HOLD_WHY"; hold_stop; return; }
	if [ "$1" = full ]; then
		dd if=/dev/zero of=/run/fill bs=64k 2>/dev/null
	else
		# A read-only bind on top: the daemon's open pid file does not
		# keep that one from turning read-only.
		mount --bind /run /run && mount -o remount,bind,ro /run
	fi
	why=$(reexec_expect 're-exec aborted: cannot write the state file')
	[ -n "$why" ] || why=$(probe_says "${files[@]}")
	if [ "$1" = full ]; then
		rm -f /run/fill
	else
		umount /run
	fi
	[ -n "$why" ] || why=$(reexec_expect 'restored lockwarden state')
	[ -n "$why" ] || why=$(probe_says "${files[@]}")
	hold_stop
	[ -n "$why" ] || why=$HOLD_WHY
	[ -n "$why" ] || why=$("$LOADGEN" probe "${files[@]}" | grep -v -m1 ' absent$')
	echo "$why"
	[ -n "$why" ] || daemon_ok
}

fault_state_full() {
	fault_state_unwritable full
}

fault_state_readonly() {
	fault_state_unwritable readonly
}

if [ ! -x "$LOADGEN" ]; then
	fail faults "$LOADGEN is missing (make)"
	exit 0
fi
export LOADGEN LS STATE REEXEC_CONF_TEXT
export -f figure loadgen_ok daemon_ok hold_start hold_stop hold_files probe_says count_in_log \
	reexec_expect crash_record_says fault_client_sigkill fault_half_frame fault_audit_full fault_daemon_sigkill \
	fault_sigusr1_storm fault_state_unwritable fault_state_full fault_state_readonly
for f in client_sigkill half_frame audit_full daemon_sigkill sigusr1_storm state_full \
	state_readonly; do
	result "faults/${f//_/-}" "$(fresh_ns "fault_$f")"
done
exit 0
