#!/bin/bash
# The guest harness, second stage: pid 1 on the overlay of the host's root.
# Mount what a Debian system has, make the kernel package's modules visible,
# run the job guest.sh wrote (its output and exit status go back to the host
# through the job directory), power off.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

mount -t proc proc /proc
for a in $(</proc/cmdline); do
	case $a in
	lwguest.job=*) job=${a#*=} ;;
	lwguest.kmods=*) kmods=${a#*=} ;;
	lwguest.host=*) hostname "${a#*=}" ;;
	lwguest.keep=*) keep=${a#*=} ;;
	esac
done
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 run /run
# The fresh /tmp would hide a working directory there (a checkout under
# /tmp): it is put back as the overlay shows it, the host's files read-only.
if [ -n "${keep:-}" ]; then
	mkdir -p /run/lwkeep
	mount --bind "$keep" /run/lwkeep
fi
mount -t tmpfs -o mode=1777 tmp /tmp
if [ -n "${keep:-}" ]; then
	mkdir -p "$keep"
	mount --move /run/lwkeep "$keep"
fi
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs securityfs /sys/kernel/security
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# /tmp is a fresh tmpfs: put the job directory (a host path under /tmp) back.
mkdir -p "$job"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 lwjob "$job"
kver=$(uname -r)
mkdir -p "/lib/modules/$kver"
mount --bind "$kmods" "/lib/modules/$kver"
for t in modprobe insmod rmmod lsmod; do ln -sf /bin/busybox "/usr/sbin/$t"; done
echo /usr/sbin/modprobe >/proc/sys/kernel/modprobe
busybox ip link set lo up
if [ -e "$job/shares" ]; then
	while read -r tag path; do
		mkdir -p "$path"
		mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 "$tag" "$path"
	done <"$job/shares"
fi

bash "$job/job.sh" >"$job/output" 2>&1 </dev/null
echo $? >"$job/rc"
sync
busybox poweroff -f
