# shellcheck shell=bash
# Inside each guest of the two-host bed (selftests/hosts/run.sh): the
# network, the NFS server and mount, the daemons, and the lockstep between
# the two hosts. Source after selftests/lib.sh.
#
# Host b (10.0.0.2) is also the NFSv4.2 server; both mount its export on
# /srv. The hosts keep in step through marker files in $SYNC, a host
# directory both share over 9p: it works while a host's network is down.

SYNC=${SYNC:?}
ME=${LWHOST:?}			# a or b
NFS_LEASE=${NFS_LEASE:-10}	# seconds: nfsd's lease and grace time
NFS_SERVER=10.0.0.2
NFS_MOUNT_OPTS=${NFS_MOUNT_OPTS:-hard}
CLIENTS=/proc/fs/nfsd/clients

# mark NAME: tell the other host NAME happened here.
mark() {
	: >"$SYNC/$ME.$1"
}

# await HOST NAME [SECONDS]: until HOST marked NAME (default 120 s).
await() {
	local i

	for ((i = 0; i < ${3:-120} * 10; i++)); do
		[ -e "$SYNC/$1.$2" ] && return 0
		sleep 0.1
	done
	echo "FAIL hosts/$ME/sync: host $1 never reached '$2'"
	return 1
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

net_up() {
	local addr=$1

	modprobe virtio_net || return 1
	for ((i = 0; i < 50; i++)); do
		ip link show eth0 >/dev/null 2>&1 && break
		sleep 0.1
	done
	ip addr add "$addr/24" dev eth0 && ip link set eth0 up
}

# The server: nfsd with a short lease and grace, exporting a tmpfs (a path
# under the 9p+overlay root cannot be exported).
nfs_server_start() {
	modprobe nfsd || return 1
	mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd || return 1
	mkdir -p /export /var/lib/nfs/v4recovery /var/lib/nfs/rpc_pipefs
	mountpoint -q /export || mount -t tmpfs -o mode=0755 export /export
	nfsd_up
}

nfsd_up() {
	echo "$NFS_LEASE" >/proc/fs/nfsd/nfsv4leasetime || return 1
	echo "$NFS_LEASE" >/proc/fs/nfsd/nfsv4gracetime || return 1
	: >/etc/exports
	exportfs -i -o rw,no_root_squash,no_subtree_check,insecure,fsid=0 "10.0.0.0/24:/export" ||
		return 1
	pgrep -x rpc.mountd >/dev/null || rpc.mountd -N 3 --no-udp || return 1
	rpc.nfsd -N 3 -V 4.2 --no-udp 4
}

# A server restart as after a reboot: nfsd stopped, state gone, then up
# again in its grace period, where clients reclaim their locks.
nfsd_restart() {
	rpc.nfsd 0 && nfsd_up
}

# The mount both hosts use, at /srv: hard, as libvirt's images are
# (NFS_MOUNT_OPTS).
nfs_mount() {
	local i

	modprobe nfsv4 || return 1
	mkdir -p /srv
	for ((i = 0; i < 30; i++)); do
		mount -t nfs4 -o "vers=4.2,$NFS_MOUNT_OPTS" "$NFS_SERVER:/" /srv 2>"$OUT/mount.err" &&
			return 0
		sleep 1
	done
	echo "mount: $(cat "$OUT/mount.err")"
	return 1
}

# On the server: the nfsd client directory of the host at address $1.
nfsd_client_of() {
	grep -l "address: \"$1:" "$CLIENTS"/*/info 2>/dev/null | head -n 1 | xargs -r dirname
}

# Each host's daemon: lockwardend probing its NFS locks every 2 s, or
# virtlockd; its pid in DAEMON_PID, its audit log in $AUDIT.
host_daemon() {
	local bin=$1

	AUDIT=$OUT/audit.$ME.jsonl
	printf '%s\n' 'log_outputs = "3:stderr"' "audit_log = \"$AUDIT\"" \
		"lease_check_interval = ${LEASE_CHECK:-2}" "lease_lost_action = \"kill\"" \
		>"$OUT/daemon.$ME.conf"
	daemon_start "$bin" -f "$OUT/daemon.$ME.conf"
}

# expect NAME WANT CMD...: one harness command, PASS when it says WANT.
expect() {
	local name=$1 want=$2
	shift 2

	result "hosts/$ME/$name" "$(vm_expect "$want" "$@")"
}

busy_line() {
	echo "start $1: error: resource busy: Lockspace resource '$2' is locked"
}
