#!/usr/bin/env bash
# Differential, end to end: each scenario drives real VMs through Debian's
# libvirtd with lock_manager = "lockd", once against virtlockd and once
# against lockwardend (guard_policy = "audit"); every virsh command's
# outcome (success, or libvirt's error code and whether the lock manager
# said it) and the daemon's hold on each disk must be identical, and as
# each scenario expects.  A control run with no lock manager shows that the
# refusals counted for the lock daemon are its own.
LV_TEST=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
source "$(dirname "$0")/lib.sh"

ARMS=(virtlockd lockwardend)

# Two running VMs: a on a.qcow2, b on b.raw.
two_vms() {
	lv_image a.qcow2 b.raw
	lv_define a a.qcow2
	lv_define b b.raw
	step ok start a
	step ok start b
}

# held IMAGE [TARGET]: a VM holds IMAGE: locked, and b cannot hotplug it.
held() {
	expect_lock "$1" write
	hotplug busy b "$1" "${2:-vdb}"
}

# passes_to_b IMAGE [TARGET]: its VM gone, IMAGE is free and b hotplugs it.
passes_to_b() {
	expect_lock "$1" free
	hotplug ok b "$1" "${2:-vdb}"
	expect_lock "$1" write
}

scn_start() {
	lv_image a.qcow2
	lv_define a a.qcow2
	step ok start a
	expect_lock a.qcow2 write
}

# On one host QEMU's own image lock refuses the second QEMU before libvirt
# asks the lock daemon (leases are acquired when the CPUs start): a failure
# either way, not counted for the daemon.
scn_second_vm() {
	two_vms
	lv_define c a.qcow2
	step fail start c
	expect_lock a.qcow2 write
	step ok domstate a
}

# A live attach-disk acquires the lease before QEMU opens the file: here
# the lock daemon answers first.
scn_attach() {
	two_vms
	held a.qcow2
	lv_image h.qcow2
	hotplug ok a h.qcow2 vdb
	lv_define c h.qcow2
	step fail start c
	held h.qcow2 vdc
	step ok destroy a
	passes_to_b h.qcow2 vdc
}

# Paused, a VM holds no lease (libvirt releases them); resumed, it takes
# them again.
scn_suspend() {
	two_vms
	step ok suspend a
	expect_lock a.qcow2 free
	step ok resume a
	held a.qcow2
}

scn_managedsave() {
	two_vms
	step ok managedsave a
	expect_lock a.qcow2 free
	step ok start a
	held a.qcow2
}

# The daemon re-executes itself (SIGUSR1) under running VMs: every lease
# stays held, and is freed when its VM goes.
scn_reexec() {
	two_vms
	lv_reexec
	held a.qcow2
	step ok destroy a
	passes_to_b a.qcow2
}

scn_libvirtd_restart() {
	two_vms
	lv_libvirtd_stop
	lv_libvirtd_start
	step ok domstate a
	held a.qcow2
	step ok destroy a
	passes_to_b a.qcow2
}

# A QEMU SIGKILLed: its connection closes and its leases go with it.
scn_qemu_killed() {
	two_vms
	kill -KILL "$(qemu_pid a)"
	wait_state a "shut off"
	passes_to_b a.qcow2
}

# Two VMs on one <shareable/> disk share its lease; a third may join it
# shared, never take it exclusive (the lock daemon answers a hotplug first).
scn_shareable() {
	lv_image s.raw a.qcow2 b.raw c.raw
	lv_define a a.qcow2 s.raw:shared
	lv_define b b.raw s.raw:shared
	lv_define c c.raw
	lv_define d s.raw
	step ok start a
	step ok start b
	expect_lock s.raw read
	step fail start d
	step ok start c
	hotplug busy c s.raw vdb
	hotplug ok c s.raw:shared vdb
	step ok destroy a
	step ok destroy b
	expect_lock s.raw read
	step ok destroy c
	expect_lock s.raw free
}

scn_destroy() {
	two_vms
	step ok destroy a
	passes_to_b a.qcow2
}

# Indirect lockspace (file_lockspace_dir): the lock is on a file named by
# the image path's hash.  Then a running virtlockd is replaced by
# lockwardend (the lockwardend arm) or by itself (the virtlockd arm) with
# SIGUSR1: every lease stays held through the takeover.
scn_indirect_takeover() {
	two_vms
	held a.qcow2
	lv_reexec "$TAKEOVER_TO"
	[ "$(readlink "/proc/$DAEMON_PID/exe")" = "$(readlink -f "$TAKEOVER_TO")" ] ||
		note "the daemon runs $(readlink "/proc/$DAEMON_PID/exe"), not $TAKEOVER_TO"
	held a.qcow2
	step ok destroy a
	passes_to_b a.qcow2
	step ok destroy b
	expect_lock a.qcow2 free
}

DIRECT=(start second_vm attach suspend managedsave reexec libvirtd_restart
	qemu_killed shareable destroy)

# arm NAME DAEMON [DAEMON TO TAKE OVER WITH]: every direct scenario on one
# libvirtd, then the indirect one on another (libvirt reads
# qemu-lockd.conf at start).
arm() {
	ARM=$1
	local bin=$2 scn t0
	TAKEOVER_TO=$3

	scenario setup
	lv_setup || return 1
	lv_daemon "$bin" 'guard_policy = "audit"' || { note "$DAEMON_ERR"; return 1; }
	lv_libvirtd_start || return 1
	for scn in "${DIRECT[@]}"; do
		scenario "$scn"
		t0=$SECONDS
		"scn_$scn"
		lv_teardown
		echo "$ARM $scn $((SECONDS - t0))" >>"$OUT/timings"
	done
	lv_libvirtd_stop
	daemon_stop || note "the lock daemon exited with status $? on SIGTERM"

	LV_INDIRECT=1 arm_indirect
}

# The second libvirtd of an arm: indirect lockspace, and the daemon
# started as virtlockd for the takeover.
arm_indirect() {
	lv_lockd_conf
	scenario indirect_takeover
	lv_daemon "$VIRTLOCKD" 'guard_policy = "audit"' || { note "$DAEMON_ERR"; return 1; }
	lv_libvirtd_start || return 1
	scn_indirect_takeover
	lv_teardown
	lv_libvirtd_stop
	daemon_stop || note "the lock daemon exited with status $? on SIGTERM"
}

# Control: the attach that the daemon refuses, with no lock manager at all,
# is refused by nobody or by QEMU, never as the lock manager's busy.
control() {
	ARM=control
	scenario control
	LV_LOCK_MANAGER='' lv_setup || return 1
	lv_libvirtd_start || return 1
	two_vms
	hotplug - b a.qcow2 vdb
	grep -q 'VIR_ERR_RESOURCE_BUSY lockmgr' "$TRANSCRIPT" &&
		note "refused as the lock manager's without one: the control proves nothing"
	lv_teardown
	lv_libvirtd_stop
}

if [ "${LV_INNER:-0}" != 1 ]; then
	export LV_INNER=1
	for d in "$VIRTLOCKD" "$LOCKWARDEND"; do
		why=$(missing_daemon "$d")
		[ -z "$why" ] || { fail libvirt/lifecycle "$why"; exit 1; }
	done
	rm -rf "${ARMS[@]/#/$OUT/}" "$OUT/control" "$OUT/timings"
	# The arms share nothing (each its own namespaces, files and QEMUs):
	# both at once.
	lv_ns arm virtlockd "$VIRTLOCKD" "$VIRTLOCKD" &
	lv_ns arm lockwardend "$LOCKWARDEND" "$LOCKWARDEND" &
	wait
	for scn in setup "${DIRECT[@]}" indirect_takeover; do
		lv_result "$scn" "${ARMS[@]}"
	done
	sort "$OUT/timings" 2>/dev/null | awk '{ t[$2] = t[$2] " " $1 " " $3 " s" }
		END { for (s in t) print "# " s ":" t[s] }' | sort
	lv_ns control
	result libvirt/control "$(cat "$OUT/control/control.why" 2>/dev/null)"
	echo "control, with no lock manager: $(tail -n 1 "$OUT/control/control")"
fi
