#!/usr/bin/env bash
# Live upgrade: SIGUSR1 re-exec keeping every lock and connection, taking
# over a running virtlockd, and every way it can fail loudly (a damaged
# state, a refused re-exec: t_reexec_trust.sh).
# Each check runs in a fresh mount namespace and prints why it failed, or
# nothing. The daemon runs through a symlink in $OUT/bin, so a test can
# repoint what its re-exec runs, as a package upgrade would.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/reexec_lib.sh"

# VMs holding disks stay holders across 10 re-execs; a newcomer stays busy
# throughout; the holders release afterwards.
reexec_holders() {
	local i

	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	for ((i = 1; i <= 10; i++)); do
		upgrade || return
		vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	done
	vm_expect "alive A: yes" alive A
	vm_expect "stop A: ok" stop A
	vm_expect "stop B: ok" stop B
	vm_expect "start X: ok" start X disk=/srv/img/a.img disk=/srv/img/c.img
	[ -e "$STATE" ] && echo "the state file was left behind"
	[ "$(restores)" -eq 10 ] || echo "$(restores) restores logged, not 10"
}

# 20 clients acquiring and releasing while the daemon re-execs 10 times:
# no request fails, no lock is lost or doubled (loadgen checks each grant
# and probes every held lock file with F_OFD_GETLK).
reexec_load() {
	local load=$BUILD/selftests/loadgen lg i

	[ -x "$load" ] || { echo "$load is not built"; return; }
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	# each new image starts its heap afresh: RSS is no measure here
	"$load" run -n 20 -k 2 -t 8 -c 2 -p "$DAEMON_PID" -m 1000000 -l /srv/lockspace \
		>"$OUT/load.out" 2>&1 &
	lg=$!
	for ((i = 0; i < 10; i++)); do
		sleep 0.5
		upgrade || return
	done
	wait "$lg" || echo "loadgen failed: $(tail -n 3 "$OUT/load.out" | tr '\n' ' ')"
}

# A VM killed while the daemon re-execs still frees its disks afterwards.
reexec_vm_killed() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	kill -USR1 "$DAEMON_PID"
	vm_expect "kill A: killed by SIGKILL" kill A
	vm_expect "start X: ok" start X disk=/srv/img/a.img retry=5s
	vm_expect "alive B: yes" alive B
}

# lockd.so clients of a running virtlockd, then lockwardend installed in
# its place and SIGUSR1: every lock and client moves over, the adopted
# POSIX locks stay held by the same process and become OFD locks as they
# are released and taken again.
takeover() {
	local exe posix

	start_via "$VIRTLOCKD" || { echo "$DAEMON_ERR"; return; }
	two_vms
	vm_expect "plugin: ok" plugin file_lockspace_dir=/srv/lockspace
	vm_expect "start C: ok" start C disk=/srv/img/d.img
	ln -sfn "$LOCKWARDEND" "$OUT/bin/daemon"
	upgrade || return
	exe=$(readlink "/proc/$DAEMON_PID/exe")
	[ "$exe" = "$(readlink -f "$LOCKWARDEND")" ] || echo "the daemon runs $exe"
	# the resources' locks, not the pid file's
	posix=$(grep "POSIX  ADVISORY  [A-Z]* $DAEMON_PID " /proc/locks |
		grep -vc " $(printf '%02x:%02x:%s' $(stat -c '%Hd %Ld %i' /run/virtlockd.pid)) ")
	[ "$posix" -eq 4 ] || echo "$posix POSIX locks of the daemon after the takeover, not 4"
	grep -q 'restored virtlockd state: 4 resources (4 adopted POSIX locks), 3 lock clients' \
		"$DAEMON_LOG" || echo "no takeover log line: $(grep restored "$DAEMON_LOG")"
	vm_expect "start X: error: resource busy: Lockspace resource '$(printf %s /srv/img/d.img |
		sha256sum | cut -d' ' -f1)' is locked" start X disk=/srv/img/d.img
	vm_expect "plugin: ok" plugin
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	vm_expect "stop A: ok" stop A
	vm_expect "start X: ok" start X disk=/srv/img/a.img
	grep -q "OFDLCK ADVISORY  WRITE -1 .*:$(stat -c %i /srv/img/a.img) 0 0" /proc/locks ||
		echo "a.img is not OFD-locked after being taken again"
	# lockwardend re-execs itself with adopted locks still held
	upgrade || return
	vm_expect "start Y: error: resource busy: Lockspace resource '/srv/img/b.img' is locked" \
		start Y disk=/srv/img/b.img
	vm_expect "kill C: killed by SIGKILL" kill C
	vm_expect "plugin: ok" plugin file_lockspace_dir=/srv/lockspace
	vm_expect "start Y: ok" start Y disk=/srv/img/d.img retry=5s
}

# The way back, as the package's removal goes: lockwardend holding OFD
# locks and adopted POSIX ones re-execs into virtlockd, which takes every
# lock and client over (and the pid file, locked by the same process).
giveback() {
	start_via "$VIRTLOCKD" || { echo "$DAEMON_ERR"; return; }
	two_vms
	ln -sfn "$LOCKWARDEND" "$OUT/bin/daemon"
	upgrade || return
	vm_expect "stop B: ok" stop B
	vm_expect "start B: ok" start B disk=/srv/img/b.img
	ln -sfn "$VIRTLOCKD" "$OUT/bin/daemon"
	kill -USR1 "$DAEMON_PID"
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	[ "$(readlink "/proc/$DAEMON_PID/exe")" = "$(readlink -f "$VIRTLOCKD")" ] ||
		echo "the daemon runs $(readlink "/proc/$DAEMON_PID/exe"): $(tail -n 1 "$DAEMON_LOG")"
	vm_expect "start Y: error: resource busy: Lockspace resource '/srv/img/b.img' is locked" \
		start Y disk=/srv/img/b.img
	vm_expect "stop A: ok" stop A
	vm_expect "start X: ok" start X disk=/srv/img/a.img
	vm_expect "alive B: yes" alive B
}

# The way back with a configuration virtlockd would not start with: the
# re-exec is refused (virtlockd has no --check-config, so lockwardend reads
# it with its own parser) and lockwardend serves on with every lock.
giveback_bad_config() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	echo 'max_clients = "many' >>"$OUT/reexec.conf"
	ln -sfn "$VIRTLOCKD" "$OUT/bin/daemon"
	kill -USR1 "$DAEMON_PID"
	log_has 'virtlockd would not start' ||
		echo "no refusal logged: $(tail -n 1 "$DAEMON_LOG")"
	[ "$(readlink "/proc/$DAEMON_PID/exe")" = "$(readlink -f "$LOCKWARDEND")" ] ||
		echo "the daemon runs $(readlink "/proc/$DAEMON_PID/exe")"
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	vm_expect "alive B: yes" alive B
}

# The way back with a client whose process is gone but whose hangup is
# not read yet: virtlockd would look its process up and exit with every
# lock, so lockwardend ends such a client before the exec.
giveback_dead_client() {
	local probe

	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	ln -sfn "$VIRTLOCKD" "$OUT/bin/daemon"
	"$BUILD/selftests/rpcprobe" < <(echo connect; sleep 30) >/dev/null 2>&1 &
	probe=$!
	sleep 0.5
	kill -STOP "$DAEMON_PID"
	kill -USR1 "$DAEMON_PID"
	kill -KILL "$probe"
	wait "$probe" 2>/dev/null
	kill -CONT "$DAEMON_PID"
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	[ "$(readlink "/proc/$DAEMON_PID/exe")" = "$(readlink -f "$VIRTLOCKD")" ] ||
		echo "the daemon runs '$(readlink "/proc/$DAEMON_PID/exe")': $(grep error "$DAEMON_LOG" | tail -n 1)"
	vm_expect "alive B: yes" alive B
}

# The binary to exec is gone or not executable: the re-exec is refused,
# logged, and the daemon serves on with every lock.
exec_fails() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	rm "$OUT/bin/daemon"
	kill -USR1 "$DAEMON_PID"
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	grep -q "re-exec refused: $OUT/bin/daemon: No such file or directory" \
		"$DAEMON_LOG" || echo "no error logged for a missing binary"
	echo '#!/bin/sh' >"$OUT/noexec"
	ln -sfn "$OUT/noexec" "$OUT/bin/daemon"
	kill -USR1 "$DAEMON_PID"
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	grep -q "re-exec refused: $OUT/bin/daemon: not an executable file" "$DAEMON_LOG" ||
		echo "no error logged for a binary that is not executable"
	[ -e "$STATE" ] && echo "the state file of a failed exec was left behind"
	audit_has 2 '"event":"reexec_failed"' || echo "no two reexec_failed records in the audit log"
	ln -sfn "$LOCKWARDEND" "$OUT/bin/daemon"
	upgrade || return
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	vm_expect "alive A: yes" alive A
}

# An alert hook still running at a re-exec is reaped by the new image
# when it exits: no zombie is left behind.
hook_across_reexec() {
	local zombies

	printf '#!/bin/sh\ncat >/dev/null\nsleep 1\n' >"$OUT/hook"
	chmod +x "$OUT/hook"
	EXTRA_CONF="alert_hook = \"$OUT/hook\"" start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	"$BUILD/lockwardenctl" test-alert >/dev/null || { echo "test-alert failed"; return; }
	sleep 0.3
	pgrep -P "$DAEMON_PID" >/dev/null || { echo "the hook is not running"; return; }
	upgrade || return
	sleep 2
	zombies=$(ps -o pid=,stat= --ppid "$DAEMON_PID" | awk '$2 ~ /Z/' | wc -l)
	[ "$zombies" -eq 0 ] || echo "$zombies zombie children of the daemon"
	grep -q "will be reaped when it exits" "$DAEMON_LOG" || echo "the hook was not adopted"
}

# Unknown keys, as a future version might write, are ignored.
state_future_keys() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	cat >"$OUT/wrapper" <<-EOF
		#!/bin/bash
		sed -i 's/^{/{"zz_future":{"a":[1,{"b":null}]},/;s/"lockwarden":{/"lockwarden":{"zz":1.5,/g' $STATE
		exec "$LOCKWARDEND" "\$@"
	EOF
	chmod +x "$OUT/wrapper"
	ln -sfn "$OUT/wrapper" "$OUT/bin/daemon"
	upgrade || return
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	vm_expect "stop A: ok" stop A
	vm_expect "start X: ok" start X disk=/srv/img/a.img
}

# A state file left by another process does not block a fresh start; it
# is set aside with a warning.
stale_state() {
	echo '{"magic":"1","defaultLockspace":{"resources":[]},"lockspaces":[]}' >"$STATE"
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	grep -q "ignoring the restart state file $STATE" "$DAEMON_LOG" || echo "no warning"
	[ -e "$STATE.stale" ] || echo "not set aside"
	harness_open
	vm_expect "image: ok" image /srv/img/a.img
	vm_expect "start A: ok" start A disk=/srv/img/a.img
}

# Across a re-exec, a connection that never registered, and one whose
# request is half sent, are both carried over: the request, completed
# after the exec, is answered. (virtlockd cannot save an unregistered
# client: its re-exec fails and it exits, dropping every lock.)
reexec_half_frame() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	local w r line got=

	# a second coprocess is not possible in bash: fifos instead
	mkfifo "$OUT/probe.in" "$OUT/probe.out"
	"$BUILD/selftests/rpcprobe" <"$OUT/probe.in" >"$OUT/probe.out" 2>&1 &
	exec {w}>"$OUT/probe.in" {r}<"$OUT/probe.out"
	printf 'connect\nconnect\nframe proc=8 cut=30 s:/srv/newspace\n' >&$w
	sleep 0.2
	upgrade || return
	printf 'rest\nreply\nuse 0\ncall 8 s:/srv/other\n' >&$w
	while read -r -t 10 line <&$r; do
		got="$got$line;"
		[[ $got == *"serial=1 proc=8 OK;"* ]] && break
	done
	exec {w}>&- {r}<&-
	[ "$got" = "reply serial=0 proc=8 OK;reply serial=1 proc=8 OK;" ] ||
		echo "probe said '$got'"
	[ -d /srv/newspace ] || echo "the half-sent request was not carried out"
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
}

export -f reexec_holders reexec_half_frame hook_across_reexec reexec_load reexec_vm_killed \
	takeover giveback giveback_bad_config giveback_dead_client exec_fails state_future_keys stale_state

result reexec/holders-10-times "$(fresh_ns reexec_holders)"
result reexec/under-load "$(fresh_ns reexec_load)"
result reexec/half-frame-unregistered "$(fresh_ns reexec_half_frame)"
result reexec/vm-killed-during-exec "$(fresh_ns reexec_vm_killed)"
result reexec/takeover-virtlockd "$(fresh_ns takeover)"
result reexec/giveback-virtlockd "$(fresh_ns giveback)"
result reexec/giveback-bad-config "$(fresh_ns giveback_bad_config)"
result reexec/giveback-dead-client "$(fresh_ns giveback_dead_client)"
result reexec/exec-fails "$(fresh_ns exec_fails)"
result reexec/hook-across-reexec "$(fresh_ns hook_across_reexec)"
result reexec/state-future-keys "$(fresh_ns state_future_keys)"
result reexec/stale-state-fresh-start "$(fresh_ns stale_state)"
exit 0
