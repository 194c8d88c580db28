#!/usr/bin/env bash
# The new image finds its restart state damaged, or none at all while it
# holds inherited locks: it serves, every lock kept, the unrestored ones
# logged, recorded and listed by lockwardenctl status, and kept across the
# next re-exec. Helpers in reexec_lib.sh.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/reexec_lib.sh"

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
	held_after "a damaged state"
	status_unrestored "$n" /srv/img/a.img
	audit_has 1 '"event":"lock_unrestored"' || echo "no lock_unrestored record"
	# a later re-exec keeps the orphans
	ln -sfn "$LOCKWARDEND" "$OUT/bin/daemon"
	upgrade || return
	held_after "the next re-exec"
	status_unrestored "$n" /srv/img/a.img
}

# A lock handed over with no state at all (not a re-exec): kept, listed,
# not let go when the daemon is idle (-t).
inherited_lock_no_state() {
	echo "$CONF_TEXT" >"$OUT/reexec.conf"
	: >/srv/held
	exec 7<>/srv/held
	flock -n 7 || { echo "cannot take a lock for the test"; return; }
	daemon_start "$LOCKWARDEND" -f "$OUT/reexec.conf" -t 1 || { echo "$DAEMON_ERR"; return; }
	exec 7>&-
	sleep 2
	proc_alive "$DAEMON_PID" || echo "the daemon exited holding an inherited lock"
	flock -n /srv/held true && echo "the inherited lock was dropped"
	status_unrestored 1 /srv/held
	grep -q "handed inherited sockets or locks, but its restart state .* is unusable" \
		"$DAEMON_LOG" || echo "said: $(tail -n 1 "$DAEMON_LOG")"
}

export -f status_unrestored damaged inherited_lock_no_state

result reexec-state/state-entry-broken "$(fresh_ns damaged \
	"sed -i 's|\\\"path\\\":\\\"/srv/img/a.img\\\",\\\"fd\\\":\\([0-9]*\\),\\\"lockHeld\\\":true,\\\"flags\\\":[0-9]*|\\\"path\\\":\\\"/srv/img/a.img\\\",\\\"fd\\\":\\1,\\\"lockHeld\\\":true,\\\"flags\\\":\\\"x\\\"|' $STATE" \
	"kept but NOT restored" 1)"
result reexec-state/state-missing "$(fresh_ns damaged "rm -f $STATE" \
	"unusable: there is no state file" 3)"
result reexec-state/state-truncated "$(fresh_ns damaged \
	"truncate -s \$((\$(stat -c %s $STATE) / 2)) $STATE" "unusable: not valid JSON: truncated" 3)"
result reexec-state/state-corrupt "$(fresh_ns damaged "echo '{\"magic\" 12}' >$STATE" \
	"unusable: not valid JSON" 3)"
result reexec-state/state-foreign "$(fresh_ns damaged \
	"sed -i 's/\"magic\":\"[0-9]*\"/\"magic\":\"1\"/' $STATE" "its magic 1 is not this process" 3)"
result reexec-state/state-fd-swapped "$(fresh_ns damaged \
	"a=\$(grep -o '\"path\":\"/srv/img/a.img\",\"fd\":[0-9]*' $STATE | grep -o '[0-9]*\$')
	b=\$(grep -o '\"path\":\"/srv/img/b.img\",\"fd\":[0-9]*' $STATE | grep -o '[0-9]*\$')
	sed -i \"s|a.img\\\",\\\"fd\\\":\$a,|a.img\\\",\\\"fd\\\":\$b,|;s|b.img\\\",\\\"fd\\\":\$b,|b.img\\\",\\\"fd\\\":\$a,|\" $STATE" \
	"is not the file of resource" 2)"
# a lock's fd named as a client's socket: the client fails, the lock stays
result reexec-state/state-lock-fd-as-client "$(fresh_ns damaged \
	"a=\$(grep -o '\"path\":\"/srv/img/a.img\",\"fd\":[0-9]*' $STATE | grep -o '[0-9]*\$')
	sed -i \"0,/\\\"sock\\\":{\\\"fd\\\":[0-9]*/s//\\\"sock\\\":{\\\"fd\\\":\$a/\" $STATE" \
	"kept but NOT restored" 1)"
result reexec-state/inherited-lock-no-state "$(fresh_ns inherited_lock_no_state)"
exit 0
