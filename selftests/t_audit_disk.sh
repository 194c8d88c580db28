#!/usr/bin/env bash
# A full disk or an unwritable audit log costs no lock: the daemon serves
# on, counts what it cannot write, says so (a critical record, the daemon's
# log, the status), and writes again once it can, with the chain intact
# and the loss marked in it.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/audit_lib.sh"

# The VMs' view must not change whatever the audit log's disk does.
VM_SCRIPT='image /srv/img/a.img /srv/img/b.img /srv/img/c.img
start A disk=/srv/img/a.img disk=/srv/img/b.img
start B disk=/srv/img/b.img
start C disk=/srv/img/c.img
stop A
start B disk=/srv/img/a.img disk=/srv/img/b.img
alive C'
VM_EXPECTED="image: ok
start A: ok
start B: error: resource busy: Lockspace resource '/srv/img/b.img' is locked
start C: ok
stop A: ok
start B: ok
alive C: yes"

vms_unaffected() {
	local got

	got=$("$HARNESS" 2>&1 <<<"$VM_SCRIPT")
	[ "$got" = "$VM_EXPECTED" ] || echo "the VMs saw: $(echo "$got" | tr '\n' ';')"
}

# The records the writer leaves about its trouble, and a chain that verifies.
after_recovery() {
	local ev

	for ev in "$@"; do
		has_event "$ev" || echo "no $ev record"
	done
	verify_says "$AUDIT" | grep -v '^OK'
}

disk_full() {
	local small=$OUT/small

	mkdir -p "$small"
	mount -t tmpfs -o size=256k lw-small "$small" || { echo "cannot mount a small tmpfs"; return; }
	LOGDIR=$small/log lw_start 'audit_queue_size = 65536' || { echo "$DAEMON_ERR"; return; }
	lock_cycles 2
	dd if=/dev/zero of="$small/filler" bs=4k 2>/dev/null
	vms_unaffected
	# More than the queue holds: some records must be lost, and counted.
	lock_cycles 200
	wait_for 30 eval '[ "$(status_field audit.writable)" = false ]' ||
		echo "status does not say the log is unwritable"
	[ "$(status_field audit.write_errors)" -gt 0 ] || echo "no write error counted"
	[ "$(status_field audit.lost)" -gt 0 ] || echo "no lost record counted"
	grep -q "cannot write the audit log: No space left on device" "$DAEMON_LOG" ||
		echo "the daemon's log does not say the disk is full"
	rm "$small/filler"
	lock_cycles 1
	wait_for 50 eval '[ "$(status_field audit.writable)" = true ]' ||
		echo "the log is not written again after space came back"
	daemon_stop
	after_recovery audit_failed audit_lost audit_resumed
	umount "$small"
}

unwritable_at_start() {
	local ro=$OUT/ro

	mkdir -p "$ro"
	mount -t tmpfs -o ro lw-ro "$ro" || { echo "cannot mount a read-only tmpfs"; return; }
	LOGDIR=$ro/log lw_start || { echo "$DAEMON_ERR"; return; }
	vms_unaffected
	[ "$(status_field audit.writable)" = false ] || echo "status does not say the log is unwritable"
	[ "$(status_field audit.error)" = "Read-only file system" ] ||
		echo "status says the error is '$(status_field audit.error)'"
	mount -o remount,rw "$ro"
	wait_for 50 has_event daemon_start || echo "nothing written once the disk is writable"
	daemon_stop
	after_recovery audit_failed audit_resumed lock_acquire
	umount "$ro"
}

# bad_key NAME SETUP EXPECTED: with the key file made bad by SETUP (run
# with the key's path), the daemon serves as ever, says EXPECTED in its
# log and in an audit_key_failed record, and writes its records on,
# without a MAC; once the key is good again a reload (SIGUSR1) brings the
# MACs back.
bad_key() {
	local setup=$1 expected=$2 pid

	KEY=$OUT/badkey/audit.key
	rm -rf "$OUT/badkey" && mkdir -p "$OUT/badkey"
	eval "$setup" || { echo "cannot set up: $setup"; return; }
	KEEP_KEY=1 lw_start || { echo "$DAEMON_ERR"; return; }
	pid=$DAEMON_PID
	vms_unaffected
	lock_cycles 2
	grep -qF "$expected" "$DAEMON_LOG" || echo "the daemon's log does not say '$expected'"
	wait_for 30 has_event audit_key_failed || echo "no audit_key_failed record"
	"$AUDITCMD" -l "$AUDIT" -j -e lock_acquire | grep -q . || echo "no lock_acquire record"
	grep -q '"mac":' "$AUDIT" && echo "records with a MAC without a key"
	[ "$(status_field audit.writable)" = true ] || echo "the log is not written"
	# Fixed, and reloaded: the new image reads the key again.
	rm -rf "$KEY" && umount "$OUT/badkey" 2>/dev/null
	kill -USR1 "$pid"
	wait_for 50 eval '[ "$("$AUDITCMD" -l "$AUDIT" -j -e daemon_start | wc -l)" -eq 2 ]' ||
		echo "no daemon_start record from the new image"
	lock_cycles 1 after
	daemon_stop "$pid"
	"$AUDITCMD" -l "$AUDIT" -j | tail -n 1 | grep -q '"mac":' ||
		echo "no MAC after the key was fixed and the daemon reloaded"
	KEY=
}

check audit-disk/full "disk_full"
check audit-disk/unwritable-at-start "unwritable_at_start"
check audit-disk/key-mode bad_key 'printf "%064d\\n" 0 >"$KEY" && chmod 0644 "$KEY"' \
	"has mode 0644: others may have read it, so it is not used"
check audit-disk/key-damaged bad_key 'echo not-a-key >"$KEY" && chmod 0600 "$KEY"' \
	"is damaged: it does not hold 64 hex digits"
check audit-disk/key-not-a-file bad_key 'mkdir "$KEY"' "is not a regular file"
check audit-disk/key-symlink bad_key 'ln -s "$OUT/lw.conf" "$KEY"' "is a symbolic link: not followed"
check audit-disk/key-disk-full bad_key \
	'mount -t tmpfs -o size=4k lw-key "$OUT/badkey" && dd if=/dev/zero of="$OUT/badkey/fill" bs=4k 2>/dev/null; true' \
	"cannot create the audit key $OUT/badkey/audit.key: No space left on device"
exit 0
