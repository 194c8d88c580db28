#!/usr/bin/env bash
# A re-exec the new image could not survive is refused by the old one (a
# bad config, a bad binary), and the new image keeps every lock it cannot
# restore as it should: a config broken after the check, an image renamed
# before virtlockd's SIGUSR1, two names of one file adopted from virtlockd.
# (A damaged state: t_reexec_state.sh.) Helpers in reexec_lib.sh.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/reexec_lib.sh"

# refused WHY_TEXT: SIGUSR1 is refused saying WHY_TEXT; nothing is lost.
refused() {
	local n

	n=$(grep -c "SIGUSR1: re-exec refused: " "$DAEMON_LOG")
	kill -USR1 "$DAEMON_PID"
	log_has "SIGUSR1: re-exec refused: " $((n + 1)) ||
		echo "no refusal logged: $(tail -n 1 "$DAEMON_LOG")"
	grep "re-exec refused" "$DAEMON_LOG" | tail -n 1 | grep -qF -- "$1" ||
		echo "the refusal does not say '$1': $(grep "re-exec refused" "$DAEMON_LOG" | tail -n 1)"
	audit_has $((n + 1)) '"event":"reexec_failed"' || echo "no reexec_failed record"
	held_after "a refused re-exec"
}

# A typo in the config, then SIGUSR1 (systemctl reload): refused, serving.
config_typo() {
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	echo 'guard_policy = "deny_write"' >>"$OUT/reexec.conf"
	refused 'guard_policy must be'
	"$BUILD/lockwardenctl" reexec >"$OUT/ctl.out" 2>&1 && echo "lockwardenctl reexec succeeded"
	grep -q "re-exec refused: .*guard_policy must be" "$OUT/ctl.out" ||
		echo "lockwardenctl reexec said: $(head -n 1 "$OUT/ctl.out")"
	held_after "a refused lockwardenctl reexec"
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

# The config breaks between the check and the exec: the new image serves
# the inherited locks with the defaults (whose audit log is under
# /var/log: a tmpfs here) and says so.
config_broken_after_check() {
	local st

	mount -t tmpfs lw-log /var/log || { echo "cannot mount a tmpfs on /var/log"; return; }
	start_via "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	two_vms
	cat >"$OUT/wrapper" <<-EOF2
		#!/bin/bash
		case " \$* " in *" --check-config "*) ;;
		*) echo 'guard_policy = "deny_write"' >>"$OUT/reexec.conf" ;; esac
		exec "$LOCKWARDEND" "\$@"
	EOF2
	chmod +x "$OUT/wrapper"
	ln -sfn "$OUT/wrapper" "$OUT/bin/daemon"
	kill -USR1 "$DAEMON_PID"
	log_has "serving the inherited locks with the default configuration" ||
		echo "no error logged for the config"
	held_after "a config broken after the check"
	st=$("$BUILD/lockwardenctl" status 2>&1)
	grep -q "^config_error: .*guard_policy must be" <<<"$st" ||
		echo "status has no config_error"
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

export -f refused config_typo bad_binary config_broken_after_check takeover_renamed hard_link

result reexec-trust/config-typo-refused "$(fresh_ns config_typo)"
result reexec-trust/bad-binary-refused "$(fresh_ns bad_binary)"
result reexec-trust/config-broken-after-check "$(fresh_ns config_broken_after_check)"
result reexec-trust/takeover-renamed-image "$(fresh_ns takeover_renamed)"
result reexec-trust/hard-link-takeover "$(fresh_ns hard_link)"
exit 0
