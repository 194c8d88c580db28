#!/usr/bin/env bash
# The guest harness: boot a Debian kernel package under QEMU (TCG, no KVM
# needed) on this host's own root filesystem and run one command in it.
#
# Usage: selftests/guest/guest.sh [OPTION]... -- COMMAND [ARG]...
#   -k PKG     kernel package (default: the one linux-image-amd64 depends on;
#              env LWGUEST_KERNEL)
#   -a ARGS    extra kernel command line, e.g. "lsm=landlock,yama" (appended)
#   -q ARGS    extra QEMU arguments, split on blanks, e.g. "-netdev socket,..."
#              (repeatable)
#   -m MiB     memory (1024)          -c N   cpus (2)
#   -t SECS    timeout for the whole run, boot included (600)
#   -o FILE    kernel console output (default: $JOBDIR/console)
#   -e VAR=VAL environment for COMMAND (repeatable); COMMAND also gets LWGUEST=1
#   -w DIR     also share host directory DIR read-write, at the same path
#   -n NAME    guest hostname (lwguest)
#   -C DIR     cache of kernels and initramfs (env LWGUEST_CACHE,
#              /var/cache/lockwarden/guest)
#   -P         only prepare the cache (download, extract, initramfs), no boot
#
# The guest sees the host's / (but not /tmp, /run: fresh tmpfs; the working
# directory if under /tmp) read-only over 9p under a tmpfs overlay, so every
# binary and script of the host (the build tree included) runs there as is and
# nothing it writes reaches the host, except under -w DIRs.
# The kernel's modules are at /lib/modules/$(uname -r) and `modprobe` is
# busybox's.  COMMAND runs as root in the host's working directory, its
# stdout and stderr go to ours; the exit status is COMMAND's, 124 on timeout,
# 125 when the harness or the boot failed (the console tail is printed).
# Runs in parallel are independent: each has its own job directory.
set -euo pipefail

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LWGUEST_CACHE:-/var/cache/lockwarden/guest}
kpkg=${LWGUEST_KERNEL:-}
append='' mem=1024 cpus=2 timeout_s=600 console='' hostname=lwguest prepare_only=0
qemu_extra=() envs=() shares=()

die() {
	echo "guest: $*" >&2
	exit 125
}

while getopts 'k:a:q:m:c:t:o:e:w:n:C:P' opt; do
	case $opt in
	k) kpkg=$OPTARG ;;
	a) append+=" $OPTARG" ;;
	q) read -ra words <<<"$OPTARG" && qemu_extra+=("${words[@]}") ;;
	m) mem=$OPTARG ;;
	c) cpus=$OPTARG ;;
	t) timeout_s=$OPTARG ;;
	o) console=$OPTARG ;;
	e) [[ $OPTARG == [A-Za-z_]*=* ]] || die "-e wants VAR=VALUE, got '$OPTARG'"
	   envs+=("$OPTARG") ;;
	w) [ -d "$OPTARG" ] || die "-w $OPTARG: not a directory"
	   shares+=("$(cd "$OPTARG" && pwd)") ;;
	n) hostname=$OPTARG ;;
	C) cache=$OPTARG ;;
	P) prepare_only=1 ;;
	*) die "bad option (see the header of $0)" ;;
	esac
done
shift $((OPTIND - 1))
[ "$prepare_only" = 1 ] || [ $# -gt 0 ] || die "no COMMAND (usage in the header of $0)"

if [ -z "$kpkg" ]; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$kpkg" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-get update?)"
fi

# The modules the initramfs needs to reach the 9p root; the rest are loaded
# from the package after switch_root.
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"

# prepare: download and extract $kpkg into $kdir once, build its initramfs.
prepare() {
	local deb kver mods m

	mkdir -p "$kdir"
	if [ ! -e "$kdir/.extracted" ]; then
		rm -rf "$kdir/root" "$kdir"/*.deb
		(cd "$kdir" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" >&2) ||
			die "cannot download kernel package $kpkg"
		deb=$(ls "$kdir"/*.deb)
		dpkg-deb -x "$deb" "$kdir/root" || die "cannot extract $deb"
		rm -f "$deb"
		kver=$(ls "$kdir/root/lib/modules")
		# busybox's depmod: the format its modprobe reads, in the
		# initramfs and in the guest alike.
		busybox depmod -b "$kdir/root" "$kver" || die "depmod failed for $kver"
		touch "$kdir/.extracted"
	fi
	kver=$(ls "$kdir/root/lib/modules")
	if [ ! -e "$kdir/initramfs.cpio.gz" ] ||
		[ "$kdir/initramfs.cpio.gz" -ot "$GUEST_DIR/init" ]; then
		local ird=$kdir/initramfs.d moddir=lib/modules/$kver

		rm -rf "$ird"
		mkdir -p "$ird"/{bin,dev,proc,sys,mnt,newroot,"$moddir"}
		cp /bin/busybox "$ird/bin/busybox"
		cp "$GUEST_DIR/init" "$ird/init"
		chmod 0755 "$ird/init"
		cp "$kdir/root/$moddir"/modules.{dep,alias,symbols,builtin} "$ird/$moddir/" 2>/dev/null
		# Each boot module with what it depends on, by modules.dep.
		mods=$(for m in $BOOT_MODULES; do
			awk -v m="/$m.ko:" 'index($1, m) || $1 == substr(m, 2) {
				sub(":", "", $1); for (i = 1; i <= NF; i++) print $i }' \
				"$kdir/root/$moddir/modules.dep"
		done | sort -u)
		[ -n "$mods" ] || die "no boot modules found in $kpkg"
		for m in $mods; do
			mkdir -p "$ird/$moddir/$(dirname "$m")"
			cp "$kdir/root/$moddir/$m" "$ird/$moddir/$m"
		done
		echo "$BOOT_MODULES" >"$ird/boot-modules"
		(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) \
			>"$kdir/initramfs.cpio.gz.tmp"
		mv "$kdir/initramfs.cpio.gz.tmp" "$kdir/initramfs.cpio.gz"
		rm -rf "$ird"
	fi
}

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/deps.sh)"
command -v busybox >/dev/null || die "busybox missing (scripts/deps.sh: busybox-static)"
kdir=$cache/$kpkg
mkdir -p "$cache"
# Guests booted at once share the cache: one prepares, the others wait.
exec 9>"$cache/.lock"
flock 9
prepare
flock -u 9
exec 9>&-
[ "$prepare_only" = 1 ] && exit 0

kver=$(ls "$kdir/root/lib/modules")
job=$(mktemp -d /tmp/lwguest.XXXXXX)
console=${console:-$job/console}
qemu_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	rm -rf "$job"
}
trap cleanup EXIT
trap 'exit 125' INT TERM

# The job: what stage2.sh runs after switch_root, by the host's bash.
{
	printf 'cd %q || exit 125\n' "$PWD"
	printf 'export LWGUEST=1\n'
	for e in "${envs[@]}"; do printf 'export %q\n' "$e"; done
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$job/job.sh"

virtfs=(-virtfs "local,path=/,mount_tag=lwroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$job,mount_tag=lwjob,security_model=none,multidevs=remap")
i=0
for s in "${shares[@]}"; do
	virtfs+=(-virtfs "local,path=$s,mount_tag=lwshare$i,security_model=none,multidevs=remap")
	printf '%s %s\n' "lwshare$i" "$s" >>"$job/shares"
	i=$((i + 1))
done

# A working directory under /tmp stays visible in the guest (see stage2.sh).
keep=
case $PWD in
/tmp/*[[:space:]]*) die "working directory '$PWD': a path under /tmp with blanks cannot be kept" ;;
/tmp/*) keep=" lwguest.keep=$PWD" ;;
esac

qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m "$mem" -smp "$cpus" \
	-kernel "$kdir/root/boot/vmlinuz-$kver" -initrd "$kdir/initramfs.cpio.gz" \
	-append "console=ttyS0 panic=-1 loglevel=4 lwguest.stage2=$GUEST_DIR/stage2.sh lwguest.job=$job lwguest.kmods=$kdir/root/lib/modules/$kver lwguest.host=$hostname$keep$append" \
	-display none -monitor none -no-reboot -serial "file:$console" \
	-nic none "${virtfs[@]}" "${qemu_extra[@]}" </dev/null &
qemu_pid=$!
# COMMAND's output is written by the guest to $job/output; follow it here.
touch "$job/output"
tail -n +1 -F --pid="$qemu_pid" "$job/output" 2>/dev/null &
tail_pid=$!
deadline=$((SECONDS + timeout_s))
while kill -0 "$qemu_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
	sleep 0.2
done
if kill -0 "$qemu_pid" 2>/dev/null; then
	kill "$qemu_pid"
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=
	wait "$tail_pid" 2>/dev/null || true
	echo "guest: timed out after ${timeout_s}s ($kpkg$append); console: $console" >&2
	exit 124
fi
wait "$qemu_pid" || true
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
if [ ! -s "$job/rc" ]; then
	echo "guest: $kpkg$append ended without COMMAND's status; console tail:" >&2
	tail -n 30 "$console" >&2
	exit 125
fi
exit "$(cat "$job/rc")"
