#!/usr/bin/env bash
# Enforcement in the kernel (issue 10) and truncates (issue 12 item 5), with
# the BPF monitor alone. On lsm/file_open (make test-kernels), deny-write:
# a stray write open and truncate(2) of a locked image get EPERM from the
# program itself, a read open passes, the owner's write open passes, an
# allowed helper passes, a deny-all prefix refuses a read, and each is
# recorded with its hook. Where the BPF hook cannot refuse (fexit,
# tp_btf), the daemon warns that the policy is not enforced and status
# says so; on tp_btf/sys_exit truncate(2) and ftruncate(2) are recorded.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/guard_lib.sh"

IMG=/srv/img/a.img
# On /srv (a tmpfs): on overlayfs (the guest's root) the inode stat()
# gives and the one the kernel runs differ, and executables match by inode.
HELPER=/srv/bin/allowed-helper
CTL=$BUILD/lockwardenctl
mkdir -p /srv/bin
cp "$GUARDOPEN" "$HELPER"

# try_open MODE PATH [rw]: guardopen as a stray process; OPENER_OUT is what it said.
try_open() {
	opener "$GUARDOPEN" "$@"
}

if ! guard_daemon 'guard_monitors = [ "bpf" ]' 'guard_policy = "deny-write"' \
		  "guard_allow_exes = [ \"$HELPER\" ]" \
		  'guard_policy_paths = [ "deny-all:/srv/secure" ]'; then
	fail guard-kernel/start "$DAEMON_ERR"
	exit 0
fi
if [ "$GUARD_HOOK" = "no BPF hook" ]; then
	skip guard-kernel "$(grep -m1 'no BPF open monitor' "$DAEMON_LOG")"
	exit 0
fi
harness_start
h image $IMG /srv/secure/c.img
h start A disk=$IMG
[ "$REPLY" = "start A: ok" ] || { fail guard-kernel/lock "$REPLY"; exit 0; }
open_as_vm A $IMG && A_PID=$VM_PID

if [ "$GUARD_HOOK" = lsm/file_open ]; then
	result guard-kernel/enforced-status "$("$CTL" -j status |
		jq -e '.guard.enforced_by == "lsm/file_open"' >/dev/null ||
		echo "status: $("$CTL" -j status | jq -c .guard)")"

	try_open openat $IMG rw
	result guard-kernel/rw-refused "$([ "$OPENER_OUT" = "error: EPERM" ] ||
		echo "open gave: $OPENER_OUT")"
	expect_one guard-kernel/rw-recorded true '.event == "denied" and .source == "bpf"
		and .hook == "lsm/file_open" and .flags == "O_RDWR" and .policy == "deny-write"'

	size=$(stat -c %s $IMG)
	try_open truncate $IMG
	result guard-kernel/truncate-refused "$([ "$OPENER_OUT" = "error: EPERM" ] &&
		[ "$(stat -c %s $IMG)" = "$size" ] || echo "truncate gave: $OPENER_OUT")"
	expect_one guard-kernel/truncate-recorded true '.event == "denied" and .op == "truncate"
		and .hook == "lsm/path_truncate"'

	try_open openat2 $IMG
	result guard-kernel/ro-passes "$([ "$OPENER_OUT" = ok ] || echo "open gave: $OPENER_OUT")"
	expect_one guard-kernel/ro-recorded true '.event == "violation" and .flags == "O_RDONLY"
		and .hook == "lsm/file_open"'

	try_open uring $IMG rw
	result guard-kernel/uring-rw-refused "$([ "$OPENER_OUT" = "error: EPERM" ] ||
		echo "open gave: $OPENER_OUT")"

	open_as_vm A $IMG rw thread
	result guard-kernel/owner-rw-passes "$([[ $REPLY == *": ok "* ]] || echo "$REPLY")"
	expect_none guard-kernel/owner-silent ".pid == $A_PID"

	opener "$HELPER" openat $IMG rw
	result guard-kernel/allowed-helper-passes "$([ "$OPENER_OUT" = ok ] ||
		echo "open gave: $OPENER_OUT")"
	# Its uid is 65534, not 0 with no uid list: the executable alone is
	# not enough (the file's mode lets that uid write, so only the
	# program can refuse).
	chmod 0666 $IMG
	opener setpriv --reuid=65534 --regid=65534 --clear-groups "$HELPER" openat $IMG rw
	result guard-kernel/helper-exe-alone-refused "$([ "$OPENER_OUT" = "error: EPERM" ] ||
		echo "open gave: $OPENER_OUT")"

	h start B disk=/srv/secure/c.img
	try_open openat /srv/secure/c.img
	result guard-kernel/prefix-deny-all "$([ "$OPENER_OUT" = "error: EPERM" ] ||
		echo "open gave: $OPENER_OUT")"
	h stop B
else
	# Nothing loaded can refuse: said at start and in status.
	result guard-kernel/not-enforced-warning "$(grep -q 'deny policy is NOT enforced' \
		"$DAEMON_LOG" || echo "no warning in $DAEMON_LOG")"
	result guard-kernel/not-enforced-status "$("$CTL" -j status |
		jq -e '.guard | has("enforced_by") and .enforced_by == null' >/dev/null ||
		echo "status: $("$CTL" -j status | jq -c .guard)")"
	skip guard-kernel/refusals "$GUARD_HOOK cannot refuse an open"
	if [ "$GUARD_HOOK" = tp_btf/sys_exit ]; then
		try_open truncate $IMG
		expect_one guard-kernel/truncate-recorded true '.op == "truncate" and
			.hook == "tp_btf/sys_exit" and .path == "/srv/img/a.img"'
		try_open ftruncate $IMG
		expect_one guard-kernel/ftruncate-recorded '.op == "truncate"' \
			'.hook == "tp_btf/sys_exit"'
	else
		skip guard-kernel/truncate-recorded "$GUARD_HOOK has no truncate hook"
	fi
fi

harness_stop
daemon_stop || fail guard-kernel/stop "daemon exited with status $?"
exit 0
