#!/usr/bin/env bash
# The guard with indirect leases (lockd.so's file_lockspace_dir): the lock
# file is named by the SHA-256 of the disk's path, so the guard maps it
# back to the image under guard_image_dirs and watches the image itself.
# An intruder opening the image is reported with the VM's name and the
# image's path, refused under deny-write, and nothing is reported once the
# VM lets go, and still refused after a re-exec; an image outside guard_image_dirs leaves the lock file watched.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/guard_lib.sh"

IMG=/srv/img/a.img
OUTSIDE=/srv/elsewhere/b.img
LS=/srv/lockspace

if ! guard_daemon 'guard_policy = "deny-write"' 'guard_image_dirs = [ "/srv/img" ]'; then
	fail guard-indirect "$DAEMON_ERR"
	exit 0
fi
harness_start
h image $IMG $OUTSIDE
h plugin file_lockspace_dir=$LS
h start A disk=$IMG disk=$OUTSIDE
if [ "$REPLY" != "start A: ok" ]; then
	fail guard-indirect "$REPLY"
	exit 0
fi
hash_a=$(printf %s $IMG | sha256sum | cut -d' ' -f1)

opener cat $IMG
result guard-indirect/read-allowed "$([ "$OPENER_OUT" = "" ] || echo "cat said: $OPENER_OUT")"
expect_one guard-indirect/read-reported true \
	".resource == \"$hash_a\" and .resource_path == \"$IMG\" and .path == \"$IMG\" and
	 .vm_name == \"A\" and .lock_mode == \"exclusive\""

opener "$GUARDOPEN" openat $IMG rw
result guard-indirect/write-refused "$([ "$OPENER_OUT" = "error: EPERM" ] ||
	echo "open gave: $OPENER_OUT")"
expect_one guard-indirect/write-denied '.event == "denied"' ".resource_path == \"$IMG\""

# Not under guard_image_dirs: only its lock file is watched, not the image.
opener cat $OUTSIDE
expect_none guard-indirect/outside-not-mapped ".pid == $OPENER_PID"

# Across a re-exec the image is mapped again from the restored lease.
kill -USR1 "$DAEMON_PID"
sleep 0.2
if wait_listening "$DAEMON_PID"; then
	opener "$GUARDOPEN" openat $IMG rw
	result guard-indirect/reexec-refused "$([ "$OPENER_OUT" = "error: EPERM" ] ||
		echo "open gave: $OPENER_OUT")"
else
	fail guard-indirect/reexec "the daemon did not come back: $(tail -n 2 "$DAEMON_LOG")"
fi

h stop A
opener "$GUARDOPEN" openat $IMG rw
result guard-indirect/released-allowed "$([ "$OPENER_OUT" = ok ] || echo "open gave: $OPENER_OUT")"
expect_none guard-indirect/released-silent ".pid == $OPENER_PID"

harness_stop
daemon_stop || fail guard-indirect/stop "daemon exited with status $?"
exit 0
