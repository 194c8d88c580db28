#!/usr/bin/env bash
# systemd socket activation: the daemon serves on the sockets it is passed
# (LISTEN_FDS) without binding its own, including connections made before
# it started, and refuses a passed socket that is none of its own.
source "$(dirname "$0")/lib.sh"

ADMIN_SOCK=/run/libvirt/virtlockd-admin-sock

# The daemon under sockact; a VM starts while the sockets exist but the
# daemon is not running yet, and is served once it is.
activated() {
	local ino pid

	mkdir -p /run/libvirt
	"$BUILD/selftests/sockact" -w 1000 "$LOCKD_SOCK" "$ADMIN_SOCK" -- \
		"$LOCKWARDEND" -f "$(daemon_conf)" >"$OUT/activated.log" 2>&1 &
	pid=$!
	TRACKED_PIDS+=("$pid")
	sleep 0.2
	ino=$(stat -c %i "$LOCKD_SOCK")
	harness_says "image: ok
start A: ok
start B: error: resource busy: Lockspace resource '/srv/img/a.img' is locked" <<-EOF2
		image /srv/img/a.img
		start A disk=/srv/img/a.img
		start B disk=/srv/img/a.img
	EOF2
	[ "$(stat -c %i "$LOCKD_SOCK")" = "$ino" ] || echo "the daemon bound a socket of its own"
	[ "$(stat -c %a "$LOCKD_SOCK")" = 600 ] || echo "socket mode changed"
	wait_listening "$pid" "$ADMIN_SOCK" || echo "not serving the admin socket passed to it"
	daemon_stop "$pid" || echo "did not stop cleanly"
}

# A passed socket that is neither of the daemon's: a clear error, exit 1.
foreign_socket() {
	local rc

	"$BUILD/selftests/sockact" /run/elsewhere-sock -- \
		"$LOCKWARDEND" -f "$(daemon_conf)" >"$OUT/foreign.log" 2>&1
	rc=$?
	[ "$rc" -ne 0 ] || echo "started with a foreign socket"
	grep -q "systemd passed a socket for /run/elsewhere-sock, which is none of ours" \
		"$OUT/foreign.log" || echo "said: $(tail -n 1 "$OUT/foreign.log")"
}

harness_says() {
	local got

	got=$("$HARNESS" 2>&1)
	[ "$got" = "$1" ] || echo "harness said: $(echo "$got" | tr '\n' ';')"
}

export -f activated foreign_socket harness_says
export ADMIN_SOCK

why=$(missing_daemon "$LOCKWARDEND")
[ -z "$why" ] || { fail activation "$why"; exit 0; }
result activation/serves-passed-sockets "$(fresh_ns activated)"
result activation/foreign-socket "$(fresh_ns foreign_socket)"
exit 0
