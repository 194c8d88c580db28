# shellcheck shell=bash
# Helpers for the end-to-end tests (selftests/libvirt/t_*.sh): Debian's real
# libvirtd in system mode and QEMU guests under TCG with no OS, against a
# lock daemon under test.  Source it; it sources selftests/lib.sh.
#
# Each run ("arm") lives in a nested mount namespace (lv_ns) with its own
# tmpfs /run and /srv and bind mounts over libvirt's directories, so the
# host's libvirt, users and sockets are never touched.  Inside it the lock
# daemon serves /run/libvirt/virtlockd-sock and libvirtd's lockd.so talks to
# it unchanged.  A test records each virsh command's outcome in a transcript
# (step), one line per command, so two arms can be compared line by line.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Everything the arm writes that libvirt sees, on the arm's own tmpfs.
LV=/srv/lv
IMAGES=/var/lib/libvirt/images
LOCKSPACE_DIR=/var/lib/libvirt/lockd/files
VIRSH=(virsh -q -c qemu:///system)
# Lock daemons started so far in this arm: numbers their audit logs.
LV_DAEMONS=0

# lv_ns CMD [ARGS...]: CMD (a function of the test file) in a fresh nested
# mount namespace with empty tmpfs on /run and /srv.
lv_ns() {
	unshare -m -- bash -c 'mount -t tmpfs lw-run /run && mount -t tmpfs lw-srv /srv &&
		source "$0" && "$@"' "$LV_TEST" "$@"
}

# lv_setup: libvirt's directories, users and config for this namespace.
#   LV_LOCK_MANAGER  qemu.conf's lock_manager ("lockd"; empty: none)
#   LV_INDIRECT=1    an indirect lockspace (lv_lockd_conf)
lv_setup() {
	local d

	# The mount points come with libvirt-daemon-system, which the tests do
	# not install (it would start daemons): empty ones on a host without it.
	for d in etc/libvirt var/lib/libvirt var/log/libvirt; do
		mkdir -p "$LV/$d" "/$d" && mount --bind "$LV/$d" "/$d" ||
			{ note "cannot bind-mount over /$d"; return 1; }
	done
	# QEMU's probed capabilities, kept across the libvirtd starts of one
	# arm (arms may run at once): probing takes seconds of each start.
	mkdir -p "$OUT/$ARM.cache" /var/cache/libvirt &&
		mount --bind "$OUT/$ARM.cache" /var/cache/libvirt ||
		{ note "cannot bind-mount over /var/cache/libvirt"; return 1; }
	mkdir -p /etc/libvirt/qemu "$IMAGES" /run/libvirt "$LV/bin" "$LOCKSPACE_DIR"
	# The QEMU driver looks up its built-in libvirt-qemu user and kvm group
	# at start, whatever qemu.conf says: copies with them added, for this
	# namespace only.
	cp /etc/passwd "$LV/passwd" && cp /etc/group "$LV/group" || return 1
	grep -q '^kvm:' "$LV/group" || echo 'kvm:x:64054:' >>"$LV/group"
	grep -q '^libvirt-qemu:' "$LV/group" || echo 'libvirt-qemu:x:64055:' >>"$LV/group"
	grep -q '^libvirt-qemu:' "$LV/passwd" ||
		echo 'libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin' >>"$LV/passwd"
	mount --bind "$LV/passwd" /etc/passwd && mount --bind "$LV/group" /etc/group ||
		{ note "cannot bind-mount copies of /etc/passwd and /etc/group"; return 1; }
	{
		[ -n "${LV_LOCK_MANAGER-lockd}" ] && echo "lock_manager = \"${LV_LOCK_MANAGER-lockd}\""
		echo 'user = "root"'
		echo 'group = "root"'
		echo 'security_driver = "none"'
		echo 'stdio_handler = "file"'
		echo 'cgroup_controllers = [ ]'
	} >/etc/libvirt/qemu.conf
	lv_lockd_conf
	echo 'log_outputs = "3:stderr"' >/etc/libvirt/libvirtd.conf
}

# lv_lockd_conf: lockd.so's config; with LV_INDIRECT=1 an indirect
# lockspace (file_lockspace_dir = $LOCKSPACE_DIR).  libvirtd reads it at
# start.
lv_lockd_conf() {
	if [ "${LV_INDIRECT:-0}" = 1 ]; then
		echo "file_lockspace_dir = \"$LOCKSPACE_DIR\"" >/etc/libvirt/qemu-lockd.conf
	else
		: >/etc/libvirt/qemu-lockd.conf
	fi
}

# lv_daemon TARGET [CONFIG LINE...]: the lock daemon, run as $LV/bin/daemon
# -> TARGET so that a re-exec can be pointed elsewhere (a takeover), with
# its config in $LV/daemon.conf (audit log $AUDIT).  Sets DAEMON_PID.
lv_daemon() {
	local target=$1 line
	shift

	AUDIT=$OUT/$ARM.$((++LV_DAEMONS)).audit.jsonl
	rm -f "$AUDIT"
	{
		echo 'log_level = 2'
		echo 'log_outputs = "2:stderr"'
		echo "audit_log = \"$AUDIT\""
		for line in "$@"; do echo "$line"; done
	} >"$LV/daemon.conf"
	ln -sfn "$target" "$LV/bin/daemon"
	daemon_start "$LV/bin/daemon" -f "$LV/daemon.conf"
}

# lv_reexec [TARGET]: point $LV/bin/daemon at TARGET (if given) and SIGUSR1
# the daemon; wait until the new image runs (its auxv differs: a fresh
# exec) and listens.
lv_reexec() {
	local before i

	[ -n "${1:-}" ] && ln -sfn "$1" "$LV/bin/daemon"
	before=$(od -An -tx8 "/proc/$DAEMON_PID/auxv")
	kill -USR1 "$DAEMON_PID"
	for ((i = 0; i < 250; i++)); do
		[ "$(od -An -tx8 "/proc/$DAEMON_PID/auxv" 2>/dev/null)" != "$before" ] &&
			wait_listening "$DAEMON_PID" && return 0
		proc_alive "$DAEMON_PID" || break
		sleep 0.02
	done
	note "re-exec of the lock daemon did not complete: $(tail -n 1 "$DAEMON_LOG")"
	return 1
}

# lv_libvirtd_start / lv_libvirtd_stop: libvirtd in the foreground, its log
# in $OUT; started once it answers virsh.
lv_libvirtd_start() {
	local i

	"${LIBVIRTD:-/usr/sbin/libvirtd}" -f /etc/libvirt/libvirtd.conf \
		>>"$OUT/$ARM.libvirtd.log" 2>&1 &
	LIBVIRTD_PID=$!
	for ((i = 0; i < 300; i++)); do
		"${VIRSH[@]}" uri >/dev/null 2>&1 && return 0
		proc_alive "$LIBVIRTD_PID" || break
		sleep 0.1
	done
	note "libvirtd did not start: $(tail -n 1 "$OUT/$ARM.libvirtd.log")"
	return 1
}

lv_libvirtd_stop() {
	daemon_stop "$LIBVIRTD_PID" || note "libvirtd exited with status $? on SIGTERM"
}

# lv_image NAME...: a 16 MiB image in $IMAGES, qcow2 or raw by its suffix.
lv_image() {
	local name

	for name in "$@"; do
		qemu-img create -q -f "${name##*.}" "$IMAGES/$name" 16M || return 1
	done
}

# disk_xml NAME[:shared] TARGET: a virtio disk of $IMAGES/NAME.
disk_xml() {
	local name=${1%%:*} shared=''

	[[ $1 == *:shared ]] && shared='<shareable/>'
	echo "<disk type='file' device='disk'><driver name='qemu' type='${name##*.}'/>" \
		"<source file='$IMAGES/$name'/><target dev='$2' bus='virtio'/>$shared</disk>"
}

# lv_define VM DISK[:shared]...: a 64 MiB q35 guest with no OS, these virtio
# disks and free pcie-root-ports for hotplug; no NIC, no display.
lv_define() {
	local vm=$1 disks='' targets=(vda vdb vdc vdd) i=0 d
	shift

	for d in "$@"; do
		disks+=$(disk_xml "$d" "${targets[i]}")
		i=$((i + 1))
	done
	cat >"$LV/$vm.xml" <<-EOF
	<domain type='qemu'>
	  <name>$vm</name>
	  <memory unit='MiB'>64</memory>
	  <vcpu>1</vcpu>
	  <os><type arch='x86_64' machine='q35'>hvm</type></os>
	  <devices>
	    <emulator>/usr/bin/qemu-system-x86_64</emulator>
	    $disks
	    <controller type='pci' index='0' model='pcie-root'/>
	    <controller type='pci' index='1' model='pcie-root-port'/>
	    <controller type='pci' index='2' model='pcie-root-port'/>
	    <controller type='pci' index='3' model='pcie-root-port'/>
	    <controller type='pci' index='4' model='pcie-root-port'/>
	    <controller type='pci' index='5' model='pcie-root-port'/>
	    <video><model type='none'/></video>
	    <memballoon model='none'/>
	  </devices>
	</domain>
	EOF
	"${VIRSH[@]}" define "$LV/$vm.xml" >/dev/null 2>>"$OUT/$ARM.virsh.err" ||
		note "cannot define $vm: $(tail -n 1 "$OUT/$ARM.virsh.err")"
}

# hotplug WANT VM NAME[:shared] TARGET: a live attach-disk of $IMAGES/NAME,
# as a step.
hotplug() {
	local want=$1 vm=$2 name=${3%%:*} mode=()

	[[ $3 == *:shared ]] && mode=(--mode shareable)
	step "$want" attach-disk "$vm" "$IMAGES/$name" "$4" --live --targetbus virtio \
		--driver qemu --subdriver "${name##*.}" "${mode[@]}"
}

# The transcript of the current scenario is $TRANSCRIPT; what went against
# expectations is collected in $TRANSCRIPT.why.
note() {
	echo "$*" >>"${TRANSCRIPT:-$OUT/$ARM.notes}.why"
}

# outcome MESSAGE: how a virsh failure reads in a transcript: libvirt's
# error code, told by the fixed text virErrorMsg puts before the detail,
# and whether the lock manager said it (lockd.so's or the daemon's words).
outcome() {
	local msg=$1 code origin=qemu/libvirt

	case $msg in
	"resource busy"*) code=VIR_ERR_RESOURCE_BUSY ;;
	"internal error"*) code=VIR_ERR_INTERNAL_ERROR ;;
	"operation failed"*) code=VIR_ERR_OPERATION_FAILED ;;
	"Requested operation is not valid"*) code=VIR_ERR_OPERATION_INVALID ;;
	"unsupported configuration"*) code=VIR_ERR_CONFIG_UNSUPPORTED ;;
	"Failed to connect socket"*) code=VIR_ERR_SYSTEM_ERROR ;;
	*) code="unknown(${msg%%:*})" ;;
	esac
	case $msg in
	*"Lockspace resource"* | *virtlockd* | *"lock manager"* | *lockspace*) origin=lockmgr ;;
	esac
	echo "error $code $origin"
}

# step WANT VIRSH-ARGS...: run virsh, write "ARGS: ok" or "ARGS: error CODE
# ORIGIN" to the transcript (image paths shortened); WANT is ok, busy (the
# lock manager's resource busy), fail (any failure) or "-" (anything).
step() {
	local want=$1 out msg line bad=
	shift

	if out=$("${VIRSH[@]}" "$@" 2>&1); then
		line="$*: ok"
	else
		msg=$(grep '^error: ' <<<"$out" | tail -n 1)
		msg=${msg#error: }
		line="$*: $(outcome "$msg")"
		echo "$*: $msg" >>"$TRANSCRIPT.msg"
	fi
	line=${line//$IMAGES\//}
	echo "$line" >>"$TRANSCRIPT"
	case $want in
	ok) [[ $line == *": ok" ]] || bad=1 ;;
	busy) [[ $line == *": error VIR_ERR_RESOURCE_BUSY lockmgr" ]] || bad=1 ;;
	fail) [[ $line == *": ok" ]] && bad=1 ;;
	esac
	[ -z "$bad" ] || note "'$*' wanted $want, got '${line##*: }' ${msg:+($msg)}"
}

# lock_file IMAGE: the file the lock daemon locks for $IMAGES/IMAGE: the
# image itself, or in an indirect lockspace the file named by its path's
# SHA-256.
lock_file() {
	if [ "${LV_INDIRECT:-0}" = 1 ]; then
		echo "$LOCKSPACE_DIR/$(printf %s "$IMAGES/$1" | sha256sum | cut -d' ' -f1)"
	else
		echo "$IMAGES/$1"
	fi
}

# lock_state IMAGE: how the lock daemon holds IMAGE, probed on byte 0 of
# its lock file with F_OFD_GETLK from another process (loadgen probe; it
# sees virtlockd's POSIX locks and lockwardend's OFD locks alike, and not
# QEMU's image locks, which start at byte 100): write, read or free.
# /proc/locks will not do: read in pages while other locks come and go, it
# can skip a line.
lock_state() {
	case $("$BUILD/selftests/loadgen" probe "$(lock_file "$1")") in
	*" W") echo write ;;
	*" R") echo read ;;
	*" unlocked" | *" absent") echo free ;;
	*) echo "unknown" ;;
	esac
}

# expect_lock IMAGE WANT: the lock daemon's hold on IMAGE, in the transcript
# and checked against WANT (write, read or free); while the daemon is
# lockwardend, its own view too (lockwardenctl locks).
expect_lock() {
	local got listed

	got=$(lock_state "$1")
	echo "lock $1: $got" >>"$TRANSCRIPT"
	[ "$got" = "$2" ] || note "lock of $1 is $got, not $2"
	[ "$(readlink "/proc/$DAEMON_PID/exe")" = "$(readlink -f "$LOCKWARDEND")" ] || return 0
	listed=$("$BUILD/lockwardenctl" locks | awk -v r="$(lock_file "$1")" \
		'$1 == r || "'"$LOCKSPACE_DIR"'/" $1 == r' | wc -l)
	[ "$listed" -eq "$([ "$2" = free ] && echo 0 || echo 1)" ] ||
		note "lockwardenctl locks lists $1 $listed times with the lock $got"
}

# qemu_pid VM: the pid of VM's QEMU, from libvirt's pid file.
qemu_pid() {
	cat "/run/libvirt/qemu/$1.pid" 2>/dev/null
}

# wait_state VM STATE: until virsh domstate says STATE (5 s).
wait_state() {
	local i

	for ((i = 0; i < 50; i++)); do
		[ "$("${VIRSH[@]}" domstate "$1" 2>/dev/null | head -n 1)" = "$2" ] && return 0
		sleep 0.1
	done
	note "$1 is $("${VIRSH[@]}" domstate "$1" 2>&1 | head -n 1), not $2"
}

# scenario NAME: start recording NAME's transcript under $OUT/$ARM/.
scenario() {
	mkdir -p "$OUT/$ARM"
	TRANSCRIPT=$OUT/$ARM/$1
	: >"$TRANSCRIPT"
	rm -f "$TRANSCRIPT.why" "$TRANSCRIPT.msg"
}

# lv_teardown: every domain destroyed and undefined with its managed save,
# images removed: the next scenario starts from nothing.
lv_teardown() {
	local vm

	for vm in $("${VIRSH[@]}" list --all --name 2>/dev/null); do
		"${VIRSH[@]}" destroy "$vm" >/dev/null 2>&1
		"${VIRSH[@]}" undefine "$vm" --managed-save --snapshots-metadata >/dev/null 2>&1
	done
	rm -f "$IMAGES"/* "$LOCKSPACE_DIR"/*
}

# lv_result NAME ARM...: PASS when the arms' transcripts of NAME are
# identical and none went against its expectations.
lv_result() {
	local name=$1 arm why='' first

	shift
	first=$OUT/$1/$name
	for arm in "$@"; do
		[ -f "$OUT/$arm/$name.why" ] && why+="$arm: $(head -n 3 "$OUT/$arm/$name.why" | tr '\n' ';') "
		[ "$arm" = "$1" ] || why+=$(differs "$first" "$OUT/$arm/$name")
	done
	result "libvirt/$name" "$why"
}
