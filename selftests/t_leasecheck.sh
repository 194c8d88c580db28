#!/usr/bin/env bash
# Lost-lock detection (userspace/lockd/leasecheck.c), on this host: the
# keys are checked; a lock really taken away from the daemon (lockyank
# releases it through the daemon's own open file and holds it elsewhere, as
# a server that expired this host's state and the host that took the disk
# over) gets its VM killed, stopped or only reported, as lease_lost_action
# says, within the check interval, with a critical record naming resource,
# VM and action; the lock stays marked lost across a re-exec. /srv is
# tmpfs here, so tmpfs is listed as a shared filesystem;
# by default only network filesystems are probed. The NFS case itself runs
# in the two-host guests (make test-hosts).
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/audit_lib.sh"

YANK=$BUILD/selftests/lockyank
IMG=/srv/img/a.img

# refused TEXT WANT: the daemon exits non-zero at once, saying WANT.
refused() {
	local conf=$OUT/bad.conf out rc

	printf '%s\n' "$1" >"$conf"
	out=$(timeout 10 "$LOCKWARDEND" -f "$conf" 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || echo "exit status $rc"
	[[ $out == *"$2"* ]] || echo "said '$out', not '$2'"
}

# The record of the lost lock, as JSON lines.
lost_records() {
	"$AUDITCMD" -l "$AUDIT" -j -e lease_lost 2>/dev/null
}

# yanked ACTION [FILESYSTEMS]: VM A holds $IMG; its lock is taken away.
# Leaves the VM's pid in VM_PID and the time of the yank in YANK_NS.
yanked() {
	local action=$1 fs=${2:-tmpfs} line

	lw_start "lease_check_interval = 1" "lease_check_filesystems = [ \"$fs\" ]" \
		"lease_lost_action = \"$action\"" || { echo "$DAEMON_ERR"; return 1; }
	harness_open
	vm_expect "image: ok" image "$IMG" || return 1
	vm_expect "start A: ok" start A disk="$IMG" || return 1
	line=$(vm open A "$IMG")
	VM_PID=${line##* pid }
	[[ $VM_PID =~ ^[0-9]+$ ]] || { echo "open A: $line"; return 1; }
	"$YANK" "$DAEMON_PID" "$IMG" >"$OUT/yank.out" 2>&1 &
	YANK_PID=$!
	TRACKED_PIDS+=("$YANK_PID")
	wait_for 30 grep -qs yanked "$OUT/yank.out" ||
		{ echo "lockyank: $(cat "$OUT/yank.out")"; return 1; }
	YANK_NS=$(date +%s%N)
}

# record_says ACTION: one critical lease_lost record for $IMG, VM A, ACTION.
record_says() {
	local rec

	wait_for 50 eval '[ -n "$(lost_records)" ]' || { echo "no lease_lost record"; return; }
	rec=$(lost_records)
	[ "$(wc -l <<<"$rec")" -eq 1 ] || echo "$(wc -l <<<"$rec") lease_lost records, not 1"
	for want in '"severity":"critical"' "\"path\":\"$IMG\"" '"vm_name":"A"' \
		"\"action\":\"$1\"" '"probe":"lock test"' "\"pid\":$VM_PID"; do
		[[ $rec == *"$want"* ]] || echo "record lacks $want: $rec"
	done
}

# The VM is killed within 2 intervals of the loss.
lost_kill() {
	local ms

	yanked kill || return
	vm_expect "wait A: killed by SIGKILL" wait A 3 || return
	ms=$((($(date +%s%N) - YANK_NS) / 1000000))
	FENCE_MS=$ms
	[ "$ms" -le 2500 ] || echo "killed after $ms ms, more than 2 intervals"
	record_says kill
	grep -q '"fenced":true' <<<"$(lost_records)" || echo "the record does not say it was fenced"
}

process_state() {
	local stat

	stat=$(cat "/proc/$1/stat") || return
	stat=${stat##*) }
	echo "${stat%% *}"
}

# pause: SIGSTOP; the VM is still there, stopped, its lock still in the table.
lost_pause() {
	yanked pause || return
	wait_for 30 eval '[ "$(process_state $VM_PID)" = T ]' ||
		{ echo "VM not stopped: state $(process_state "$VM_PID")"; return; }
	record_says pause
	kill -CONT "$VM_PID"
	vm_expect "alive A: yes" alive A
}

# alert: the record and nothing else; reported once, not every interval.
lost_alert() {
	yanked alert || return
	record_says alert
	sleep 2.5
	[ "$(process_state "$VM_PID")" = S ] || echo "VM state $(process_state "$VM_PID"), not S"
	[ "$(lost_records | wc -l)" -eq 1 ] || echo "$(lost_records | wc -l) records after 3 intervals"
	grep -qs 'lockwarden alert\|lease_lost\|lost:' "$DAEMON_LOG" ||
		echo "the daemon's log does not say it: $(tail -n 2 "$DAEMON_LOG")"
}

# reexec: SIGUSR1, then until the new image has started.
reexec() {
	local n

	n=$("$AUDITCMD" -l "$AUDIT" -j -e daemon_start 2>/dev/null | wc -l)
	kill -USR1 "$DAEMON_PID"
	# shellcheck disable=SC2016 # expanded by eval
	wait_for 100 eval '[ "$("$AUDITCMD" -l "$AUDIT" -j -e daemon_start 2>/dev/null | wc -l)" -gt '"$n"' ]' ||
		{ echo "no re-exec: $(tail -n 2 "$DAEMON_LOG")"; return 1; }
}

# The status' lines for locks found lost, or nothing.
status_lost() {
	"$CTL" -j status | python3 -c 'import json, sys
print("\n".join(json.load(sys.stdin).get("lost_locks", [])))'
}

# byte0_free PATH: no one holds a lock on byte 0 of PATH (a POSIX lock
# taken and given back at once conflicts with any OFD lock there).
byte0_free() {
	python3 -c 'import fcntl, sys
with open(sys.argv[1], "rb+") as f:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)' "$1" 2>/dev/null
}

# reexec ACTION: a lost lock stays marked lost across a SIGUSR1 re-exec:
# the new image does not take it again though the other holder let go
# first (a server may have granted it to another host meanwhile), lists
# it in the status, does not probe it, so neither reports nor fences it
# again when the other holder takes it once more; a paused VM stays
# stopped.
lost_reexec() {
	local action=$1

	yanked "$action" || return
	record_says "$action"
	[[ $(status_lost) == *"lock on $IMG lost"*"action: $action"* ]] ||
		echo "the status does not list the lost lock: '$(status_lost)'"
	kill -KILL "$YANK_PID"
	wait "$YANK_PID" 2>/dev/null
	reexec || return
	[[ $(status_lost) == *"lock on $IMG lost"*"action: $action"* ]] ||
		echo "after the re-exec the status does not list the lost lock: '$(status_lost)'"
	byte0_free "$IMG" || echo "the new image took the lost lock on $IMG again"
	"$YANK" "$DAEMON_PID" "$IMG" >"$OUT/yank.out" 2>&1 &
	YANK_PID=$!
	TRACKED_PIDS+=("$YANK_PID")
	wait_for 30 grep -qs yanked "$OUT/yank.out" ||
		{ echo "lockyank again: $(cat "$OUT/yank.out")"; return; }
	sleep 2.5
	proc_alive "$DAEMON_PID" || { echo "the daemon exited after the re-exec"; return; }
	[ "$(lost_records | wc -l)" -eq 1 ] ||
		echo "$(lost_records | wc -l) lease_lost records across the re-exec, not 1"
	[ "$action" != pause ] || [ "$(process_state "$VM_PID")" = T ] ||
		echo "VM state $(process_state "$VM_PID") after the re-exec, not stopped"
	kill -CONT "$VM_PID"
}

# A malformed mark in the state the new image reads: said, and the rest
# restored (the lock held, its VM running), the lock probed afresh.
bad_mark() {
	local bin=$LOCKWARDEND

	mkdir -p "$OUT/bin"
	ln -sfn "$bin" "$OUT/bin/daemon"
	LOCKWARDEND=$OUT/bin/daemon yanked alert || return
	record_says alert
	kill -KILL "$YANK_PID"
	wait "$YANK_PID" 2>/dev/null
	cat >"$OUT/wrapper" <<-EOF2
		#!/bin/bash
		case " \$* " in *" --check-config "*) ;;
		*) sed -i 's/"lost":\[/"lost":[7,/' /run/virtlockd-restart-exec.json ;; esac
		exec "$bin" "\$@"
	EOF2
	chmod +x "$OUT/wrapper"
	ln -sfn "$OUT/wrapper" "$OUT/bin/daemon"
	reexec || return
	grep -q 'cannot restore the locks found lost (lockwarden.leasecheck)' "$DAEMON_LOG" ||
		echo "the log does not say the marks were malformed: $(tail -n 2 "$DAEMON_LOG")"
	"$CTL" -j status | python3 -c 'import json, sys
d = json.load(sys.stdin)
assert d["locks"]["held"] == 1 and d["locks"]["unrestored"] == 0, d["locks"]
assert "lost_locks" not in d, d["lost_locks"]' 2>&1 | tail -n 1
	vm_expect "alive A: yes" alive A
}

# Locks on filesystems not listed are not probed: nothing happens to A.
not_listed() {
	yanked kill nfs || return
	sleep 2.5
	vm_expect "alive A: yes" alive A
	[ -z "$(lost_records)" ] || echo "a record for an unprobed filesystem"
}

# A released and retaken disk is probed afresh, and a probe never holds
# the lock beyond its release (another VM takes it at once).
release_retake() {
	local i

	lw_start "lease_check_interval = 1" 'lease_check_filesystems = [ "tmpfs" ]' ||
		{ echo "$DAEMON_ERR"; return; }
	harness_open
	vm_expect "image: ok" image "$IMG"
	for ((i = 0; i < 30; i++)); do
		vm_expect "start A$i: ok" start "A$i" disk="$IMG" || return
		vm_expect "stop A$i: ok" stop "A$i" || return
		sleep 0.1
	done
	[ -z "$(lost_records)" ] || echo "a lease_lost record for locks never lost"
}

# Between two checks: no harness, VM, lock holder or daemon left.
reset() {
	if [ -n "${HARNESS_CO_PID:-}" ]; then
		exec {HARNESS_CO[1]}>&-
		wait "$HARNESS_CO_PID" 2>/dev/null
	fi
	[ -z "${YANK_PID:-}" ] || { kill -KILL "$YANK_PID"; wait "$YANK_PID"; } 2>/dev/null
	YANK_PID=
	daemon_stop
	rm -rf /srv/img
}

export -f refused

result leasecheck/config-bad-action "$(fresh_ns refused 'lease_lost_action = "reboot"' \
	'lease_lost_action must be "kill", "pause" or "alert"')"
result leasecheck/config-bad-fs "$(fresh_ns refused 'lease_check_filesystems = [ "nfs", "zfs" ]' \
	'lease_check_filesystems entries must be among nfs')"
result leasecheck/config-interval-type "$(fresh_ns refused 'lease_check_interval = "5s"' \
	'lease_check_interval must be an unsigned integer')"
if [ ! -x "$YANK" ] || [ ! -x "$HARNESS" ]; then
	fail leasecheck/lost "$YANK or $HARNESS is not built"
	exit 0
fi
for t in kill:lost_kill pause:lost_pause alert:lost_alert fs-not-listed:not_listed \
	release-retake:release_retake reexec-pause:"lost_reexec pause" \
	reexec-alert:"lost_reexec alert" reexec-bad-mark:bad_mark; do
	# shellcheck disable=SC2086 # the function and its argument
	check "leasecheck/${t%%:*}" ${t#*:}
	reset
done
[ -z "${FENCE_MS:-}" ] || echo "# a lost lock's VM was killed ${FENCE_MS} ms after the loss (interval 1 s)"
exit 0
