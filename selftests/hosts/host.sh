#!/usr/bin/env bash
# One host of the two-host bed (run by selftests/hosts/run.sh in a guest,
# LWHOST=a or b). Both hosts run this file in lockstep; each section says
# which host does what. Host b is also the NFS server. VMs are vmharness
# processes going through libvirt's lockd.so to this host's daemon.
#
# Phase 1, lockwardend on both hosts: exclusive and shared disks across
# hosts both ways, an indirect lockspace on NFS, owner death, a re-exec,
# the NFS server restarted within grace, then a lost lock: host a is cut
# off, the server expires its state, host b takes the disk, a's link
# returns and a's VMs must be fenced within 2 NFS leases.
# Phase 2, virtlockd on host a: exclusion both ways, and the same lost-lock
# case, where a's VM runs on (printed as a GAP line, which is expected).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../audit_lib.sh"
source "$(dirname "$0")/lib.sh"

IMG=/srv/img
a() { [ "$ME" = a ]; }
b() { [ "$ME" = b ]; }

# expect_busy NAME CMD...: refused as busy (the name differs by lockspace).
expect_busy() {
	local name=$1 got
	shift

	got=$(vm "$@")
	[[ $got == "$1 $2: error: resource busy: Lockspace resource "*" is locked" ]]
	result "hosts/$ME/$name" "$([ $? -eq 0 ] || echo "'$*' said '$got', not busy")"
}

setup() {
	if b; then
		net_up 10.0.0.2 || { echo "FAIL hosts/b/net: cannot configure eth0"; return 1; }
		nfs_server_start || { echo "FAIL hosts/b/nfsd: cannot start the NFS server"; return 1; }
	else
		net_up 10.0.0.1 || { echo "FAIL hosts/a/net: cannot configure eth0"; return 1; }
		await b nfsd 180 || return 1
	fi
	b && mark nfsd
	nfs_mount || { echo "FAIL hosts/$ME/mount: NFSv4.2 mount of $NFS_SERVER:/ failed"; return 1; }
	mkdir -p "$IMG"
	host_daemon "$LOCKWARDEND" || { echo "FAIL hosts/$ME/daemon: $DAEMON_ERR"; return 1; }
	harness_open
	echo "# host $ME: $(hostname), NFS lease ${NFS_LEASE}s, $(grep ' /srv ' /proc/mounts | cut -d' ' -f3,4)"
	mark ready
	await a ready && await b ready
}

# both_ways NAME N DISK1 DISK2: on a, A<N> holds DISK1, which b is refused;
# on b, B<N> holds DISK2, which a is refused.
both_ways() {
	local name=$1 n=$2 d1=$3 d2=$4

	if a; then
		expect "$name/a-holds" "start A$n: ok" start "A$n" disk="$d1"
		mark "$name-a"
	fi
	if b; then
		await a "$name-a" || return
		expect_busy "$name/b-refused" start "BX$n" disk="$d1"
		expect "$name/b-holds" "start B$n: ok" start "B$n" disk="$d2"
		mark "$name-b"
	fi
	if a; then
		await b "$name-b" || return
		expect_busy "$name/a-refused" start "AX$n" disk="$d2"
		mark "$name-a2"
	fi
	b && { await a "$name-a2" || return; }
	return 0
}

# Exclusive disks both ways, then a disk shared by both hosts, which
# neither can then have exclusively.
exclusion() {
	if a; then
		vm_expect "image: ok" image $IMG/a.img $IMG/b.img $IMG/s.img $IMG/c.img \
			$IMG/d.img $IMG/l.img $IMG/m.img $IMG/n.img $IMG/p.img >/dev/null
		mark images
	fi
	b && { await a images || return; }
	both_ways direct 1 $IMG/a.img $IMG/b.img || return
	if a; then
		expect shared/a-shares "start A3: ok" start A3 disk=$IMG/s.img:shared
		mark a3
	fi
	if b; then
		await a a3 || return
		expect shared/b-shares "start B3: ok" start B3 disk=$IMG/s.img:shared
		expect shared/b-stops "stop B3: ok" stop B3
		expect_busy shared/b-exclusive-refused start B4 disk=$IMG/s.img
		mark b4
	fi
	if a; then
		await b b4 || return
		expect shared/a-stops "stop A3: ok" stop A3
		mark a3stop
	fi
	if b; then
		await a a3stop || return
		expect shared/b-exclusive-after "start B4: ok" start B4 disk=$IMG/s.img retry=5s
	fi
}

indirect() {
	vm_expect "plugin: ok" plugin file_lockspace_dir=/srv/lockspace >/dev/null
	both_ways indirect 5 $IMG/c.img $IMG/d.img
	vm_expect "plugin: ok" plugin >/dev/null
}

owner_death() {
	if a; then
		expect death/a-killed "kill A1: killed by SIGKILL" kill A1
		mark a1dead
	fi
	if b; then
		await a a1dead || return
		expect death/b-takes-over "start BD1: ok" start BD1 disk=$IMG/a.img retry=10s
		mark b1
	fi
	a && { await b b1 || return; }
}

reexec() {
	if b; then
		kill -USR1 "$DAEMON_PID"
		# the new image's start comes after the old one's "reexec" record
		wait_for 150 eval '[ "$(grep -c "\"event\":\"daemon_start\"" "$AUDIT")" -ge 2 ]'
		result hosts/b/reexec/done "$(proc_alive "$DAEMON_PID" &&
			grep -q '"event":"reexec"' "$AUDIT" &&
			[ "$(grep -c '"event":"daemon_start"' "$AUDIT")" -ge 2 ] ||
			echo "no re-exec in the audit log: $(tail -n 1 "$DAEMON_LOG")")"
		mark reexec
	fi
	if a; then
		await b reexec || return
		expect_busy reexec/a-refused-a start A7 disk=$IMG/a.img
		expect_busy reexec/a-refused-b start A8 disk=$IMG/b.img
		mark reexec-checked
	fi
	b && { await a reexec-checked || return; }
}

# The server restarts: every client reclaims in grace; no lock changes
# hands, nothing is fenced.
server_restart() {
	if b; then
		result hosts/b/restart/nfsd "$(nfsd_restart 2>&1 || echo "nfsd restart failed")"
		mark restarted
	fi
	a && { await b restarted || return; }
	# Past the grace period and one lease: reclaims are done.
	sleep $((NFS_LEASE * 2 + 2))
	if a; then
		expect_busy restart/a-refused start A9 disk=$IMG/b.img
		expect restart/a-vm-alive "alive A5: yes" alive A5
		mark restart-a
	fi
	if b; then
		vm_expect "plugin: ok" plugin file_lockspace_dir=/srv/lockspace >/dev/null
		expect_busy restart/b-refused-indirect start B9 disk=$IMG/c.img
		vm_expect "plugin: ok" plugin >/dev/null
		expect restart/b-vm-alive "alive B1: yes" alive B1
		mark restart-b
	fi
	await a restart-a && await b restart-b || return
	result "hosts/$ME/restart/nothing-fenced" "$(! grep -qs lease_lost "$AUDIT" ||
		echo "lease_lost recorded: $(grep lease_lost "$AUDIT" | head -c 300)")"
}

# When each of leaseprobe's probes first said the lock was gone, from the
# moment the link returned (a figure, not a check: the daemon is checked).
probe_report() {
	local p line

	for p in read getlk fstat; do
		line=$(awk -v p="$p" -v t="$2" '$1 == p && $2 >= t && $3 != "ok" {
			$1 = ""; $2 = sprintf("+%d ms:", $2 - t); print; exit }' "$1")
		echo "# probe $p after the link returned: ${line:-no loss seen}"
	done
}

# Host a is cut off; the server expires its state; b takes the disk; a's
# link returns. $1: the name of this round, $2: what a's VM must do.
lost_lock() {
	local round=$1 vm=$2 t_down t_up dir ms got probe

	if a; then
		expect "$round/a-holds" "start $vm: ok" start "$vm" disk=$IMG/l.img
		# Beside the daemon, each probe on a lock of its own (p.img).
		"$BUILD/selftests/leaseprobe" $IMG/p.img $((NFS_LEASE * 4 + 30)) >"$OUT/probe.$round" 2>&1 &
		probe=$!
		wait_for 50 grep -q '^locked' "$OUT/probe.$round"
		ip link set eth0 down
		t_down=$(now_ms)
		mark "$round-down"
		await b "$round-took" 120 || return
		# Cut off a while longer, as a host believed dead is: its
		# transport's retransmissions back off meanwhile.
		sleep "${CUT_HOLD:-$NFS_LEASE}"
		ip link set eth0 up
		t_up=$(now_ms)
		echo "# host a cut off for $(((t_up - t_down) / 1000)) s"
		got=$(vm wait "$vm" $((NFS_LEASE * 2 + 15)))
		ms=$(($(now_ms) - t_up))
		probe_report "$OUT/probe.$round" "$t_up"
		kill "$probe" 2>/dev/null
		if [ "$DAEMON_NAME" = virtlockd ]; then
			if [ "$got" = "wait $vm: still alive" ]; then
				echo "GAP hosts/a/$round/virtlockd: VM $vm runs on $((ms / 1000)) s after its lock was lost and taken by host b"
			else
				echo "FAIL hosts/a/$round/virtlockd: expected the gap, got '$got'"
			fi
			vm kill "$vm" >/dev/null
		else
			result "hosts/a/$round/fenced" "$([ "$got" = "wait $vm: killed by SIGKILL" ] ||
				echo "'$got' $ms ms after the link returned")"
			echo "# lost lock: VM killed $ms ms after host a's link returned (NFS lease ${NFS_LEASE}s, probe every ${LEASE_CHECK:-2}s)"
			result "hosts/a/$round/within-bound" "$([ "$ms" -le $((NFS_LEASE * 2000)) ] ||
				echo "$ms ms, over 2 leases")"
			result "hosts/a/$round/recorded" "$(grep lease_lost "$AUDIT" | grep -F "\"path\":\"$IMG/l.img\"" |
				grep -q "\"vm_name\":\"$vm\".*\"action\":\"kill\"\|\"action\":\"kill\".*\"vm_name\":\"$vm\"" ||
				echo "no lease_lost record for $vm: $(grep lease_lost "$AUDIT" | head -c 300)")"
		fi
		mark "$round-done"
	fi
	if b; then
		await a "$round-down" || return
		sleep 1
		dir=$(nfsd_client_of 10.0.0.1)
		result "hosts/b/$round/expire" "$([ -n "$dir" ] && echo expire >"$dir/ctl" ||
			echo "no nfsd client for 10.0.0.1: $(cat $CLIENTS/*/info 2>/dev/null | tr '\n' ' ')")"
		expect "$round/b-takes" "start B$vm: ok" start "B$vm" disk=$IMG/l.img retry=20s
		vm_expect "start BP$vm: ok" start "BP$vm" disk=$IMG/p.img retry=20s >/dev/null
		mark "$round-took"
		await a "$round-done" 180 || return
		expect "$round/b-still-holds" "alive B$vm: yes" alive "B$vm"
		vm_expect "stop B$vm: ok" stop "B$vm" >/dev/null
		vm_expect "stop BP$vm: ok" stop "BP$vm" >/dev/null
	fi
}

# Host a swaps its daemon for virtlockd: mixed fleet.
mixed() {
	if a; then
		daemon_stop
		host_daemon "$VIRTLOCKD" || { echo "FAIL hosts/a/virtlockd: $DAEMON_ERR"; return 1; }
		DAEMON_NAME=virtlockd
	fi
	both_ways mixed 11 $IMG/m.img $IMG/n.img
}

DAEMON_NAME=lockwardend
setup || exit 0
exclusion
indirect
owner_death
reexec
server_restart
lost_lock lost A10
if a; then
	expect lost/a-indirect-vm-fenced-too "wait A5: killed by SIGKILL" wait A5 5
fi
mixed
lost_lock lost-virtlockd A13
mark end
await a end 300
await b end 300
exit 0
