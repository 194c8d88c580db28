#!/usr/bin/env bash
# The guard follows a VM's life as libvirt runs it (issue 11, item 3).
# libvirt starts QEMU paused and only registers it; QEMU opens its disks
# before it holds a lease. A VM registered that way opening a disk others
# hold shared is a prospective owner: nothing recorded, nothing refused.
# Opening a disk another VM holds exclusive is the real conflict: a record
# naming both VMs, refused under deny-write. A paused VM (leases released,
# its QEMU still registered) is judged the same way: its own disk, now
# held by nobody, is free; once another VM holds it exclusive, the paused
# VM's QEMU opening it is that conflict. A stray process is a violation as
# ever, also on a disk held shared.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/guard_lib.sh"

SHARED=/srv/img/shared.img
EXCL=/srv/img/excl.img
OWN=/srv/img/own.img

# vm_opens NAME VM PATH [rw]: VM's process opens PATH; passes if it may.
vm_opens() {
	local name=$1
	shift

	h open "$@"
	result "$name" "$([[ $REPLY == "open $1: ok "* ]] || echo "$REPLY")"
	VM_PID=${REPLY##* }
}

# vm_refused NAME VM PATH rw: VM's process is refused PATH.
vm_refused() {
	local name=$1
	shift

	h open "$@"
	result "$name" "$([[ $REPLY == "open $1: error: "*"not permitted"* ]] || echo "$REPLY")"
}

# both_vms: the record names the owner's VM and the opener's.
both_vms() {
	echo ".vm_name == \"$1\" and (.vm_uuid | length) == 36 and .opener_vm_name == \"$2\"
	      and (.opener_vm_uuid | length) == 36 and .opener_vm_uuid != .vm_uuid"
}

# conflict NAME VM PID PATH OWNER_VM: VM (process PID) opens PATH, which
# OWNER_VM holds exclusive, for writing: recorded naming both VMs, and
# under deny-write refused.
conflict() {
	local name=$1 vm=$2 pid=$3 path=$4 owner=$5

	if [ "$policy" = audit ]; then
		vm_opens "$name-opens" "$vm" "$path" rw
		OPENER_PID=$pid OPENER_OUT=$REPLY expect_one "$name-recorded" true \
			".event == \"violation\" and .severity == \"critical\" and $(both_vms "$owner" "$vm")"
	else
		vm_refused "$name-refused" "$vm" "$path" rw
		OPENER_PID=$pid OPENER_OUT=$REPLY expect_one "$name-recorded" true \
			".event == \"denied\" and $(both_vms "$owner" "$vm")"
	fi
}

for policy in audit deny-write; do
	t=guard-life/$policy
	if ! guard_daemon "guard_policy = \"$policy\""; then
		fail "$t/start" "$DAEMON_ERR"
		continue
	fi
	harness_start
	h image $SHARED $EXCL $OWN
	h start A disk=$SHARED:shared
	[ "$REPLY" = "start A: ok" ] || { fail "$t/start-A" "$REPLY"; harness_stop; daemon_stop; continue; }
	h start C disk=$EXCL
	[ "$REPLY" = "start C: ok" ] || { fail "$t/start-C" "$REPLY"; harness_stop; daemon_stop; continue; }

	# B as libvirt starts it: registered only, then QEMU opens its disk.
	h start B disk=$SHARED:shared paused
	result "$t/register-only" "$([ "$REPLY" = "start B: ok" ] || echo "$REPLY")"
	vm_opens "$t/prospect-opens-shared" B $SHARED rw
	B_PID=$VM_PID
	expect_none "$t/prospect-silent" ".pid == $B_PID"
	h resume B
	result "$t/prospect-joins" "$([ "$REPLY" = "resume B: ok" ] || echo "$REPLY")"

	# A stray process on the shared disk is still a violation.
	opener "$GUARDOPEN" openat $SHARED
	expect_one "$t/stray-on-shared" true '.event == "violation" and .opener_vm_name == null'

	# B's QEMU opening the disk C holds exclusive: both VMs named.
	conflict "$t/conflict" B "$B_PID" $EXCL C
	[ "$policy" = audit ] || vm_opens "$t/conflict-read-passes" B $EXCL

	# D paused: its leases released, its QEMU still registered.
	h start D disk=$OWN
	vm_opens "$t/running-opens-own" D $OWN rw
	D_PID=$VM_PID
	h pause D
	result "$t/pause" "$([ "$REPLY" = "pause D: ok" ] || echo "$REPLY")"
	vm_opens "$t/paused-opens-own" D $OWN rw
	expect_none "$t/paused-silent" ".pid == $D_PID"
	# Meanwhile E takes D's disk: legal for the lock daemon, and now
	# D's QEMU opening it is the conflict.
	h start E disk=$OWN
	result "$t/other-takes-paused-disk" "$([ "$REPLY" = "start E: ok" ] || echo "$REPLY")"
	conflict "$t/paused-conflict" D "$D_PID" $OWN E
	h resume D
	result "$t/paused-resume-busy" "$([[ $REPLY == "resume D: error: "*"busy"* ]] || echo "$REPLY")"

	harness_stop
	daemon_stop
done
exit 0
