#!/usr/bin/env bash
# Install the Debian packages lockwarden builds, runs and tests with.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail

pkgs=(
	make gcc clang llvm pkg-config
	libbpf-dev libelf-dev zlib1g-dev libjson-c-dev bpftool
	nettle-dev		# SHA-256 and HMAC: the audit chain, lockd.so's lock-file names
	libclang-rt-14-dev	# sanitizers and libFuzzer for the hardening runs
	liburing-dev		# io_uring opens in the fanotify tests
	fuse3 libfuse3-dev	# a filesystem that stops answering, in the fanotify tests
	libvirt-daemon libvirt-dev libvirt-clients	# virtlockd, lockd.so, virt-admin: the peers we test against
	libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils	# real libvirtd and QEMU guests (make test-libvirt)
	util-linux procps psmisc valgrind
	jq			# reading audit records in the guard tests
	libtirpc-dev libglib2.0-dev	# make bench: xdr.c and hashmap.c against the libraries
	build-essential debhelper dpkg-dev lintian	# make deb, make test-package
	busybox-static cpio	# the guest harness (selftests/guest/): Debian's kernels under QEMU
	nfs-kernel-server nfs-common iproute2	# the two-host bed (selftests/hosts/): nfsd and NFSv4 mounts in the guests
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
