#!/usr/bin/env bash
# No failure after a re-exec may drop a lock: the old image refuses a
# re-exec whose new image would not start (a bad config, a bad binary);
# the new image keeps every inherited lock, restored or not (a renamed
# image in a virtlockd takeover, a broken state entry, no usable state);
# two names of one file adopted from virtlockd keep their POSIX lock while
# either is held. Helpers as in t_reexec.sh.
source "$(dirname "$0")/lib.sh"

STATE=/run/virtlockd-restart-exec.json
BUSY_A="start X: error: resource busy: Lockspace resource '/srv/img/a.img' is locked"
CONF_TEXT="log_level = 2
log_outputs = \"2:stderr\"
log_filters = \"3:object 3:event 3:rpc 3:util 3:locking 3:conf 3:daemon\"
audit_log = \"$OUT/audit.jsonl\""

start_via() {
	mkdir -p "$OUT/bin"
	echo "$CONF_TEXT" >"$OUT/reexec.conf"
	ln -sfn "$1" "$OUT/bin/daemon"
	daemon_start "$OUT/bin/daemon" -f "$OUT/reexec.conf"
}

restores() {
	grep -c 'restored .* state' "$DAEMON_LOG"
}

upgrade() {
	local n i

	n=$(restores)
	kill -USR1 "$DAEMON_PID"
	for ((i = 0; i < 200; i++)); do
		[ "$(restores)" -gt "$n" ] && return 0
		proc_alive "$DAEMON_PID" || break
		sleep 0.05
	done
	echo "re-exec did not complete: $(tail -n 1 "$DAEMON_LOG")"
	return 1
}

# log_has TEXT: the daemon's log says TEXT within 10 s.
log_has() {
	local i

	for ((i = 0; i < 100; i++)); do
		grep -qF -- "$1" "$DAEMON_LOG" && return 0
		sleep 0.1
	done
	return 1
}

audit_has() {
	local i

	for ((i = 0; i < 30; i++)); do
		grep -q -- "$1" "$OUT/audit.jsonl" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

two_vms() {
	harness_open
	vm_expect "image: ok" image /srv/img/a.img /srv/img/b.img /srv/img/c.img
	vm_expect "start A: ok" start A disk=/srv/img/a.img disk=/srv/img/c.img:shared
	vm_expect "start B: ok" start B disk=/srv/img/b.img disk=/srv/img/c.img:shared
}

# held_after WHAT: every lock still held and the daemon serving.
held_after() {
	proc_alive "$DAEMON_PID" || { echo "the daemon exited after $1: $(tail -n 1 "$DAEMON_LOG")"; return; }
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	vm_expect "start Y: error: resource busy: Lockspace resource '/srv/img/b.img' is locked" \
		start Y disk=/srv/img/b.img
	vm_expect "alive A: yes" alive A
}

# refused WHY_TEXT: SIGUSR1 is refused saying WHY_TEXT; nothing is lost.
refused() {
	kill -USR1 "$DAEMON_PID"
	log_has "SIGUSR1: re-exec refused: " || echo "no refusal logged: $(tail -n 1 "$DAEMON_LOG")"
	grep "re-exec refused" "$DAEMON_LOG" | tail -n 1 | grep -qF -- "$1" ||
		echo "the refusal does not say '$1': $(grep "re-exec refused" "$DAEMON_LOG" | tail -n 1)"
	audit_has '"event":"reexec_failed"' || echo "no reexec_failed record"
	held_after "a refused re-exec"
}

# A typo in the config, then SIGUSR1 (systemctl reload): refused, serving.
config_typo() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	echo 'guard_policy = "deny_write"' >>"$OUT/reexec.conf"
	refused 'guard_policy must be'
	echo "$CONF_TEXT" >"$OUT/reexec.conf"
	upgrade || return
	held_after "the fixed config's re-exec"
}

# What the exec path holds is not a lockwardend: refused, serving.
bad_binary() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	head -c 4096 /dev/urandom >"$OUT/garbage"
	chmod +x "$OUT/garbage"
	ln -sfn "$OUT/garbage" "$OUT/bin/daemon"
	refused "not an ELF executable for this machine"
	ln -sfn /bin/true "$OUT/bin/daemon"
	refused "did not say the configuration is OK"
	ln -sfn /bin/false "$OUT/bin/daemon"
	refused "exited with status 1"
}

# virtlockd holds the locks; one image is renamed; lockwardend takes over:
# every lock held, the renamed one adopted by its fd, with a warning.
takeover_renamed() {
	local ino

	start_via "$VIRTLOCKD" || { echo "$DAEMON_ERR"; return; }
	two_vms
	mv /srv/img/b.img /srv/img/b-renamed.img
	ino=$(stat -c %i /srv/img/b-renamed.img)
	ln -sfn "$LOCKWARDEND" "$OUT/bin/daemon"
	upgrade || return
	held_after "the takeover"
	grep -q "POSIX  ADVISORY  WRITE $DAEMON_PID .*:$ino 0 0" /proc/locks ||
		echo "the renamed image is not locked by the daemon"
	grep -q "resource /srv/img/b.img: No such file or directory; its lock is kept" \
		"$DAEMON_LOG" || echo "no warning for the renamed image"
}

# status_unrestored N: lockwardenctl status says N unrestored locks.
status_unrestored() {
	local st

	st=$("$BUILD/lockwardenctl" status 2>&1)
	grep -q "^  unrestored: $1\$" <<<"$st" || echo "status does not say unrestored: $1"
	[ "$1" = 0 ] || grep -q "^unrestored_locks:.*$2" <<<"$st" ||
		echo "status does not list $2 as unrestored"
}

# The new image finds the state changed by CMD (run only by the real
# re-exec, not by its --check-config), then must serve with every lock.
damaged() {
	local cmd=$1 want=$2 n=$3

	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	cat >"$OUT/wrapper" <<-EOF2
		#!/bin/bash
		case " \$* " in *" --check-config "*) ;; *) $cmd ;; esac
		exec "$LOCKWARDEND" "\$@"
	EOF2
	chmod +x "$OUT/wrapper"
	ln -sfn "$OUT/wrapper" "$OUT/bin/daemon"
	kill -USR1 "$DAEMON_PID"
	log_has "$want" || echo "did not say '$want': $(grep -i error "$DAEMON_LOG" | tail -n 1)"
	log_has "lockwardend $LW_VERSION serving" >/dev/null
	sleep 0.3
	held_after "a damaged state"
	status_unrestored "$n" /srv/img/a.img
	audit_has '"event":"lock_unrestored"' || echo "no lock_unrestored record"
	# a later re-exec keeps the orphans
	ln -sfn "$LOCKWARDEND" "$OUT/bin/daemon"
	upgrade || return
	held_after "the next re-exec"
	status_unrestored "$n" /srv/img/a.img
}

# A lock handed over with no state at all (not a re-exec): kept, listed.
inherited_lock_no_state() {
	echo "$CONF_TEXT" >"$OUT/reexec.conf"
	: >/srv/held
	exec 7<>/srv/held
	flock -n 7 || { echo "cannot take a lock for the test"; return; }
	daemon_start "$LOCKWARDEND" -f "$OUT/reexec.conf" || { echo "$DAEMON_ERR"; return; }
	exec 7>&-
	flock -n /srv/held true && echo "the inherited lock was dropped"
	status_unrestored 1 /srv/held
	grep -q "handed inherited sockets or locks, but its restart state .* is unusable" \
		"$DAEMON_LOG" || echo "said: $(tail -n 1 "$DAEMON_LOG")"
}

# virtlockd holds one file under two names (a hard link) for two VMs; after
# the takeover, releasing one name keeps the POSIX lock the other uses.
hard_link() {
	local ino

	start_via "$VIRTLOCKD" || { echo "$DAEMON_ERR"; return; }
	harness_open
	vm_expect "image: ok" image /srv/img/a.img
	ln /srv/img/a.img /srv/img/a2.img
	ino=$(stat -c %i /srv/img/a.img)
	vm_expect "start A: ok" start A disk=/srv/img/a.img
	vm_expect "start B: ok" start B disk=/srv/img/a2.img
	ln -sfn "$LOCKWARDEND" "$OUT/bin/daemon"
	upgrade || return
	vm_expect "stop A: ok" stop A
	grep -q "POSIX  ADVISORY  WRITE $DAEMON_PID .*:$ino 0 0" /proc/locks ||
		{ echo "releasing a.img dropped the lock B holds through a2.img"; return; }
	vm_expect "start X: error: resource busy: Lockspace resource '/srv/img/a.img' is locked" \
		start X disk=/srv/img/a.img
	# across our own re-exec too
	upgrade || return
	grep -q "POSIX  ADVISORY  WRITE $DAEMON_PID .*:$ino 0 0" /proc/locks ||
		echo "a re-exec dropped the lock B holds through a2.img"
	vm_expect "stop B: ok" stop B
	grep -q "POSIX  ADVISORY  WRITE $DAEMON_PID .*:$ino 0 0" /proc/locks &&
		echo "the lock outlived both names' release"
	vm_expect "start X: ok" start X disk=/srv/img/a.img
}

LW_VERSION=$("$LOCKWARDEND" -V | awk '{print $3}')
export -f start_via restores upgrade log_has audit_has two_vms held_after refused config_typo \
	bad_binary takeover_renamed status_unrestored damaged inherited_lock_no_state hard_link
export STATE BUSY_A CONF_TEXT LW_VERSION

result reexec-trust/config-typo-refused "$(fresh_ns config_typo)"
result reexec-trust/bad-binary-refused "$(fresh_ns bad_binary)"
result reexec-trust/takeover-renamed-image "$(fresh_ns takeover_renamed)"
result reexec-trust/state-entry-broken "$(fresh_ns damaged \
	"sed -i 's|\\\"path\\\":\\\"/srv/img/a.img\\\",\\\"fd\\\":\\([0-9]*\\),\\\"lockHeld\\\":true,\\\"flags\\\":[0-9]*|\\\"path\\\":\\\"/srv/img/a.img\\\",\\\"fd\\\":\\1,\\\"lockHeld\\\":true,\\\"flags\\\":\\\"x\\\"|' $STATE" \
	"kept but NOT restored" 1)"
result reexec-trust/state-missing "$(fresh_ns damaged "rm -f $STATE" \
	"unusable: there is no state file" 3)"
result reexec-trust/state-truncated "$(fresh_ns damaged \
	"truncate -s \$((\$(stat -c %s $STATE) / 2)) $STATE" "unusable: not valid JSON: truncated" 3)"
result reexec-trust/state-fd-swapped "$(fresh_ns damaged \
	"a=\$(grep -o '\"path\":\"/srv/img/a.img\",\"fd\":[0-9]*' $STATE | grep -o '[0-9]*\$')
	b=\$(grep -o '\"path\":\"/srv/img/b.img\",\"fd\":[0-9]*' $STATE | grep -o '[0-9]*\$')
	sed -i \"s|a.img\\\",\\\"fd\\\":\$a,|a.img\\\",\\\"fd\\\":\$b,|;s|b.img\\\",\\\"fd\\\":\$b,|b.img\\\",\\\"fd\\\":\$a,|\" $STATE" \
	"is not the file of resource" 2)"
result reexec-trust/inherited-lock-no-state "$(fresh_ns inherited_lock_no_state)"
result reexec-trust/hard-link-takeover "$(fresh_ns hard_link)"
exit 0
