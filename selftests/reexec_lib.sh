# shellcheck shell=bash
# Helpers for the live upgrade's tests (t_reexec*.sh): a daemon started
# through a symlink in $OUT/bin, so a test can repoint what its re-exec
# runs, as a package upgrade would; re-exec and wait for it; the audit log.
# Source after lib.sh.

STATE=/run/virtlockd-restart-exec.json
BUSY_A="start X: error: resource busy: Lockspace resource '/srv/img/a.img' is locked"
# virtlockd is verbose at info level; its categories are quieted here.
CONF_TEXT="log_level = 2
log_outputs = \"2:stderr\"
log_filters = \"3:object 3:event 3:rpc 3:util 3:locking 3:conf 3:daemon\"
audit_log = \"$OUT/audit.jsonl\""

# start_via TARGET [ARGS...]: the daemon, started as $OUT/bin/daemon -> TARGET.
start_via() {
	local target=$1
	shift

	mkdir -p "$OUT/bin"
	printf '%s\n%s\n' "$CONF_TEXT" "${EXTRA_CONF:-}" >"$OUT/reexec.conf"
	ln -sfn "$target" "$OUT/bin/daemon"
	daemon_start "$OUT/bin/daemon" -f "$OUT/reexec.conf" "$@"
}

restores() {
	grep -c 'restored .* state' "$DAEMON_LOG"
}

# upgrade: SIGUSR1, then wait until the new image has restored its state.
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

# Two VMs holding disks, one shared between them.
two_vms() {
	harness_open
	vm_expect "image: ok" image /srv/img/a.img /srv/img/b.img /srv/img/c.img /srv/img/d.img
	vm_expect "start A: ok" start A disk=/srv/img/a.img disk=/srv/img/c.img:shared
	vm_expect "start B: ok" start B disk=/srv/img/b.img disk=/srv/img/c.img:shared
}

# held_after WHAT: two_vms' locks still held and the daemon serving.
held_after() {
	proc_alive "$DAEMON_PID" || { echo "the daemon exited after $1: $(tail -n 1 "$DAEMON_LOG")"; return; }
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	vm_expect "start Y: error: resource busy: Lockspace resource '/srv/img/b.img' is locked" \
		start Y disk=/srv/img/b.img
	vm_expect "alive A: yes" alive A
}

# audit_has N TEXT: the audit log gets N lines with TEXT within 3 s.
audit_has() {
	local i

	for ((i = 0; i < 30; i++)); do
		[ "$(grep -c -- "$2" "$OUT/audit.jsonl" 2>/dev/null)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# log_has TEXT [N]: the daemon's log says TEXT (N times) within 10 s.
log_has() {
	local i

	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cF -- "$1" "$DAEMON_LOG")" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}

export -f start_via restores upgrade two_vms held_after audit_has log_has
export STATE BUSY_A CONF_TEXT
