#!/usr/bin/env bash
# The guard on real VMs (issue 11, item 4), under guard_policy "audit" and
# "deny-write": over a VM's whole life as libvirt runs it (start paused and
# registered, resume, hotplug, a disk-only snapshot and its blockcommit,
# managedsave and restore) and for two VMs on one shareable disk, no record
# at all but libvirtd's own management records, and nothing refused; a stray dd on a running VM's disk recorded,
# and refused under deny-write, but not while its VM is paused (no lease,
# as lockwardend(8) says); a conflicting VM's QEMU opening a running VM's
# disk recorded naming both VMs, and refused under deny-write.
LV_TEST=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/guard_lib.sh"

POLICIES=(audit deny-write)

# The guard's records (violations, warnings, management, denials) written
# after seq MARK, one per line.
since() {
	records ".seq > $1"
}

# mark: the last seq in the audit log, once the daemon has caught up.
mark() {
	sleep 0.5
	jq -s 'map(.seq) | max // 0' "$AUDIT" 2>/dev/null || echo 0
}

# silent NAME MARK WHAT: no violation, warning or denial since MARK (WHAT
# says what ran).  libvirtd's own opens (the allowlisted management stack:
# hotplug, snapshot overlays, blockcommit) are info-level "management"
# records by design; they are counted, not failed.
silent() {
	local recs

	sleep 0.5
	recs=$(since "$2" | jq -c 'select(.event != "management")')
	result "$1" "$([ -z "$recs" ] || echo "$(wc -l <<<"$recs") records during $3:" \
		"$(head -n 2 <<<"$recs" | jq -c '{event, pid, comm, path, flags, vm_name}' | tr '\n' ' ')")"
	echo "# $3: $(since "$2" | jq -c 'select(.event == "management")' | wc -l)" \
		"management records of libvirtd's own opens"
}

# steps NAME: the transcript's steps went as wanted (a refusal of anything
# a legitimate VM does fails it).
steps() {
	result "$1" "$(head -n 3 "$TRANSCRIPT.why" 2>/dev/null | tr '\n' ';')"
}

# stray_dd: dd opens a's disk for writing (and writes nothing); sets
# OPENER_PID, OPENER_OUT and dd_rc.
stray_dd() {
	dd if=/dev/zero of="$IMAGES/a.qcow2" bs=512 count=0 conv=notrunc status=none \
		2>"$OUT/$ARM.dd.err" &
	OPENER_PID=$!
	wait "$OPENER_PID"
	dd_rc=$?
	OPENER_OUT=$(cat "$OUT/$ARM.dd.err")
}

uuid() {
	"${VIRSH[@]}" domuuid "$1"
}

guarded() {
	local policy=$1 m dd_rc rec a_uuid x_uuid n
	ARM=guard-$policy

	lv_setup || { fail "libvirt/guard/$policy" "$(cat "$OUT/$ARM.notes.why")"; return; }
	if ! lv_daemon "$LOCKWARDEND" "guard_policy = \"$policy\""; then
		fail "libvirt/guard/$policy" "$DAEMON_ERR"
		return
	fi
	lv_libvirtd_start || { fail "libvirt/guard/$policy" "$(cat "$OUT/$ARM.notes.why")"; return; }
	grep -q 'no fanotify monitor' "$DAEMON_LOG" && skip "libvirt/guard/$policy/fanotify" \
		"$(grep -m1 'no fanotify monitor' "$DAEMON_LOG")"

	# A VM's whole life.
	scenario life
	lv_image a.qcow2 h.qcow2
	lv_define a a.qcow2
	m=$(mark)
	step ok start a
	step ok suspend a
	step ok resume a
	hotplug ok a h.qcow2 vdb
	step ok snapshot-create-as a s1 --disk-only --no-metadata \
		--diskspec "vda,file=$IMAGES/a.s1.qcow2" --diskspec vdb,snapshot=no
	step ok blockcommit a vda --active --pivot --wait
	step ok managedsave a
	step ok start a
	steps "libvirt/guard/$policy/life-allowed"
	silent "libvirt/guard/$policy/life-silent" "$m" \
		"start, resume, hotplug, snapshot, blockcommit, managedsave, restore"

	# Two VMs on one shareable disk.
	scenario shareable
	lv_image s.raw b.raw c.raw
	lv_define b b.raw s.raw:shared
	lv_define c c.raw s.raw:shared
	m=$(mark)
	step ok start b
	step ok start c
	step ok suspend c
	step ok resume c
	steps "libvirt/guard/$policy/shareable-allowed"
	silent "libvirt/guard/$policy/shareable-silent" "$m" "two VMs starting on a shareable disk"

	# A stray dd opening a running VM's disk for writing (writing nothing).
	m=$(mark)
	stray_dd
	if [ "$policy" = audit ]; then
		result "libvirt/guard/$policy/dd-passes" "$([ "$dd_rc" -eq 0 ] || echo "dd: $OPENER_OUT")"
		expect_one "libvirt/guard/$policy/dd-recorded" ".seq > $m" \
			'.event == "violation" and .vm_name == "a" and .comm == "dd"'
	else
		result "libvirt/guard/$policy/dd-refused" "$([[ $dd_rc -ne 0 &&
			$OPENER_OUT == *"Operation not permitted"* ]] ||
			echo "dd exited $dd_rc: $OPENER_OUT")"
		expect_one "libvirt/guard/$policy/dd-recorded" ".seq > $m" \
			'.event == "denied" and .vm_name == "a" and .comm == "dd"'
	fi

	# Paused, a holds no lease: its disk is unguarded (no record, nothing
	# refused) until it resumes and takes the lease again.
	scenario paused
	step ok suspend a
	m=$(mark)
	stray_dd
	result "libvirt/guard/$policy/paused-unguarded" "$([ "$dd_rc" -eq 0 ] ||
		echo "dd exited $dd_rc: $OPENER_OUT")"
	silent "libvirt/guard/$policy/paused-silent" "$m" "a dd on a paused VM's disk"
	step ok resume a
	steps "libvirt/guard/$policy/paused-resumes"
	m=$(mark)
	stray_dd
	expect_one "libvirt/guard/$policy/resumed-guarded" ".seq > $m" '.vm_name == "a"'

	# A second VM on a's disk: its QEMU (registered with libvirt's lock
	# manager before it opens anything) opens a.qcow2, which a holds
	# exclusive.  The start fails (QEMU's own image lock, or the guard);
	# every record of that open names both VMs.
	scenario conflict
	lv_define x a.qcow2
	a_uuid=$(uuid a)
	x_uuid=$(uuid x)
	m=$(mark)
	step fail start x
	steps "libvirt/guard/$policy/conflict-refused"
	n=$(wait_records ".seq > $m and .comm == \"qemu-system-x86\"" 1 20)
	rec=$(records ".seq > $m and .comm == \"qemu-system-x86\"")
	result "libvirt/guard/$policy/conflict-names-both" "$(
		[ "$n" -ge 1 ] || echo "no record of x's QEMU opening a's disk"
		jq -c --arg a "$a_uuid" --arg x "$x_uuid" 'select((.vm_name == "a" and
			.vm_uuid == $a and .opener_vm_name == "x" and .opener_vm_uuid == $x) | not) |
			{event, pid, path, vm_name, vm_uuid, opener_vm_name, opener_vm_uuid}' \
			<<<"$rec" | head -n 2)"
	if [ "$policy" = deny-write ]; then
		result "libvirt/guard/$policy/conflict-denied" "$([ "$(jq -s 'any(.event == "denied")' \
			<<<"$rec")" = true ] || echo "x's QEMU's write open of a's disk was not refused")"
	fi
	step ok domstate a
	steps "libvirt/guard/$policy/owner-unharmed"

	lv_teardown
	lv_libvirtd_stop
	daemon_stop || fail "libvirt/guard/$policy/daemon-stop" "lockwardend exited with status $?"
}

if [ "${LV_INNER:-0}" != 1 ]; then
	export LV_INNER=1
	why=$(missing_daemon "$LOCKWARDEND")
	[ -z "$why" ] || { fail libvirt/guard "$why"; exit 1; }
	for p in "${POLICIES[@]}"; do
		lv_ns guarded "$p"
	done
fi
