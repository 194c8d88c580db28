#!/usr/bin/env bash
# make test-package: the Debian package from `make deb`, checked by lintian
# and by reading its maintainer scripts, then installed, upgraded, removed
# and purged in a throwaway root (an overlay of / with a tmpfs upper,
# chrooted, in its own mount and pid namespaces) where /usr/sbin/virtlockd
# runs and holds the locks of VMs driven through libvirt's lockd.so.
# Throughout, an outsider asking for a VM's disk is refused: no lock is
# released at any moment.
#
# Usage: selftests/package.sh   (env: BUILD; make test-package builds first)
source "$(dirname "$0")/lib.sh"

VERSION=$(dpkg-parsechangelog -l "$ROOT/packaging/debian/changelog" -S Version)
UPGRADE_VERSION=$VERSION+test1
DEB=$BUILD/deb/lockwarden_${VERSION}_$(dpkg --print-architecture).deb
DEB2=$BUILD/deb/lockwarden_${UPGRADE_VERSION}_$(dpkg --print-architecture).deb
BUSY_A="start X: error: resource busy: Lockspace resource '/srv/img/a.img' is locked"

# ---- the package itself, before installing it ----

# What lintian says of each .deb: errors fail, warnings are listed.
check_lintian() {
	local out

	out=$(lintian "$BUILD"/deb/lockwarden*_"$VERSION"_*.deb 2>&1 |
		grep -v '^running with root privileges')
	[ -z "$out" ] || echo "$out" >&2
	grep '^E: ' <<<"$out" | head -n 3 | tr '\n' ' '
}

# scripts_act_on_units FILE...: each line of a maintainer script that
# starts, stops, restarts, reloads or enables a unit or an init script.
# Re-enabling what the admin had enabled (debhelper's was-enabled guard)
# only keeps the admin's choice and is allowed.
scripts_act_on_units() {
	awk '
	/^[ \t]*#/ { next }
	/deb-systemd-invoke|invoke-rc\.d|update-rc\.d|(^|[ \t;|&])service[ \t]/ { print FILENAME ":" FNR ": " $0; next }
	/systemctl/ && !/systemctl( --[a-z]+)* daemon-reload/ { print FILENAME ":" FNR ": " $0; next }
	/deb-systemd-helper[^|;&]* (enable|reenable)/ && prev !~ /was-enabled/ { print FILENAME ":" FNR ": " $0; next }
	NF { prev = $0 }' "$@"
}

check_scripts() {
	local dir=$OUT/control why=

	rm -rf "$dir" && mkdir -p "$dir"
	dpkg-deb -e "$DEB" "$dir" || { echo "cannot extract the control part of $DEB"; return; }
	why=$(scripts_act_on_units "$dir"/preinst "$dir"/postinst "$dir"/prerm "$dir"/postrm 2>&1)
	[ -z "$why" ] || { echo "$why" | head -n 3 | tr '\n' ' '; return; }
	# The check itself sees what debhelper adds without --no-start.
	[ -n "$(scripts_act_on_units /usr/share/debhelper/autoscripts/postinst-systemd-start \
		/usr/share/debhelper/autoscripts/postinst-systemd-enable)" ] ||
		echo "the check does not catch debhelper's start and enable snippets"
}

# ---- the throwaway root ----

T=$OUT/ns		# a tmpfs: the overlay's upper and work directories
R=$T/root		# the overlay, chrooted into
in_root() {
	chroot "$R" "$@"
}

# Mounted here, in this script's own namespaces (see the end of the file).
make_root() {
	mkdir -p "$T" &&
	mount -t tmpfs lw-pkg "$T" &&
	mkdir -p "$T/upper" "$T/work" "$R" &&
	mount -t overlay lw-pkg -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$R" &&
	mount -t proc proc "$R/proc" &&
	mount --rbind /dev "$R/dev" &&
	mount --rbind /sys "$R/sys" &&
	mount -t bpf lw-bpf "$R/sys/fs/bpf" &&
	mount -t tmpfs lw-run "$R/run" &&
	mount -t tmpfs lw-tmp "$R/tmp" &&
	mount -t tmpfs lw-srv "$R/srv" &&
	mkdir -p "$R$BUILD" && mount --bind "$BUILD" "$R$BUILD"
}

# Every file of the throwaway root that differs from the host's, but for
# dpkg's own records and what the test itself writes.
root_changes() {
	(cd "$T/upper" && find . -mindepth 1 ! -type d) | sed 's|^\.||' |
		grep -vE '^/(var/lib/dpkg|var/log/dpkg\.log|var/log/apt|var/cache|srv|tmp|run)(/|$)' |
		sort | while read -r f; do
			if [ -c "$T/upper$f" ]; then
				echo "$f (removed)"
			elif ! cmp -s "$T/upper$f" "$f" 2>/dev/null; then
				echo "$f"
			fi
		done
}

# The kernel's locks on a file: lines of /proc/locks naming its inode.
kernel_locks() {
	local dev

	dev=$(printf '%02x:%02x:%s' $(in_root stat -c '%Hd %Ld %i' "$1"))
	grep -c " $dev " "$R/proc/locks"
}

# Why the VMs' locks are not all held by the daemon, or nothing.
locks_held() {
	local f

	for f in a b c; do
		[ "$(kernel_locks /srv/img/$f.img)" -ge 1 ] || echo "no kernel lock on $f.img"
	done
	vm_expect "$BUSY_A" start X disk=/srv/img/a.img
	vm_expect "start Y: error: resource busy: Lockspace resource '/srv/img/c.img' is locked" \
		start Y disk=/srv/img/c.img
	vm_expect "alive A: yes" alive A
	vm_expect "alive B: yes" alive B
}

# Why the daemon is not pid $DPID running $1, or nothing.
runs() {
	local exe

	proc_alive "$DPID" || { echo "the daemon (pid $DPID) is gone: $(tail -n 2 "$DAEMON_LOG")"; return; }
	exe=$(in_root readlink "/proc/$DPID/exe")
	[ "$exe" = "$1" ] || echo "pid $DPID runs '$exe', not $1"
}

# watch_start STEP: the outsider asks for A's disk again and again while
# the package changes hands, each answer one line in $OUT/watch-STEP.log.
watch_start() {
	WATCH_LOG=$OUT/watch-$1.log
	: >"$WATCH_LOG"
	touch "$OUT/watch.on"
	(
		while [ -e "$OUT/watch.on" ]; do
			echo "start W disk=/srv/img/a.img" | "$HARNESS" >>"$WATCH_LOG" 2>&1
		done
	) &
	WATCH_PID=$!
}

# Why the outsider was not refused every time, or nothing.
watch_stop() {
	local n bad

	rm -f "$OUT/watch.on"
	wait "$WATCH_PID"
	n=$(wc -l <"$WATCH_LOG")
	bad=$(grep -vxF "${BUSY_A/X/W}" "$WATCH_LOG" | sort | uniq -c | head -n 2 | tr '\n' ' ')
	[ -z "$bad" ] || echo "the outsider got: $bad"
	[ "$n" -ge 3 ] || echo "the outsider asked only $n times"
}

# dpkg ACTION... in the root, with its output kept; why it failed, or nothing.
dpkg_in_root() {
	in_root dpkg "$@" >>"$OUT/dpkg.log" 2>&1 ||
		echo "dpkg $* failed: $(tail -n 2 "$OUT/dpkg.log" | tr '\n' ' ')"
}

step_install() {
	local why

	watch_start install
	why=$(dpkg_in_root -i "$DEB")
	why+=$(runs /usr/sbin/lockwardend)
	why+=$(locks_held)
	why+=$(watch_stop)
	[ "$(in_root dpkg-divert --truename /usr/sbin/virtlockd)" = /usr/sbin/virtlockd.libvirt ] ||
		why+="virtlockd is not diverted; "
	[ "$(in_root readlink /usr/sbin/virtlockd)" = lockwardend ] ||
		why+="/usr/sbin/virtlockd is not a link to lockwardend; "
	cmp -s "$R/usr/sbin/virtlockd.libvirt" /usr/sbin/virtlockd ||
		why+="the diverted virtlockd is not libvirt's; "
	[ "$(stat -c %a "$R/var/log/lockwarden" 2>/dev/null)" = 750 ] ||
		why+="/var/log/lockwarden is not there with mode 750; "
	cmp -s "$R/etc/libvirt/virtlockd.conf" "$OUT/virtlockd.conf" ||
		why+="/etc/libvirt/virtlockd.conf was changed; "
	[ -f "$R/etc/libvirt/lockwardend.conf.sample" ] || why+="no configuration sample; "
	[ -z "$(find "$R/etc/systemd/system" -name 'lockwardend*' 2>/dev/null)" ] ||
		why+="lockwarden's units were enabled; "
	# a disk locked while lockwardend runs is an OFD lock, given back later
	vm_expect "stop B: ok" stop B
	vm_expect "start B: ok" start B disk=/srv/img/b.img disk=/srv/img/c.img:shared
	echo "$why"
}

step_upgrade() {
	local why ino

	ino=$(stat -L -c %i "/proc/$DPID/exe")
	watch_start upgrade
	why=$(dpkg_in_root -i "$DEB2")
	why+=$(runs /usr/sbin/lockwardend)
	[ "$(stat -L -c %i "/proc/$DPID/exe")" != "$ino" ] || why+="the daemon still runs the old image; "
	[ "$(in_root dpkg-query -W -f='${Version}' lockwarden)" = "$UPGRADE_VERSION" ] ||
		why+="lockwarden $UPGRADE_VERSION is not installed; "
	why+=$(locks_held)
	why+=$(watch_stop)
	echo "$why"
}

# prerm refuses a removal while lockwarden's own units run the daemon
# (argv[0] /usr/sbin/lockwardend): played by a stand-in named in the pid
# file for the time of the dpkg run.
step_remove_refused() {
	local why pidtext stand

	pidtext=$(cat "$R/run/virtlockd.pid")
	chroot "$R" bash -c 'exec -a /usr/sbin/lockwardend sleep 60' &
	stand=$!
	sleep 0.2
	echo "$stand" >"$R/run/virtlockd.pid"
	if in_root dpkg -r lockwarden >"$OUT/dpkg-refused.log" 2>&1; then
		why="dpkg -r went ahead; "
	elif ! grep -q "switch back to virtlockd's units" "$OUT/dpkg-refused.log"; then
		why="dpkg -r failed without prerm's word: $(tail -n 1 "$OUT/dpkg-refused.log"); "
	fi
	echo "$pidtext" >"$R/run/virtlockd.pid"
	kill "$stand"
	wait "$stand" 2>/dev/null
	# (selected for removal, still installed)
	[ "$(in_root dpkg-query -W -f='${db:Status-Status}' lockwarden)" = installed ] ||
		why+="lockwarden is $(in_root dpkg-query -W -f='${Status}' lockwarden); "
	why+=$(runs /usr/sbin/lockwardend)
	why+=$(locks_held)
	echo "$why"
}

step_remove() {
	local why

	watch_start remove
	why=$(dpkg_in_root -r lockwarden)
	why+=$(runs /usr/sbin/virtlockd)
	why+=$(locks_held)
	why+=$(watch_stop)
	[ -z "$(in_root dpkg-divert --list '*virtlockd*')" ] || why+="a diversion is left; "
	cmp -s "$R/usr/sbin/virtlockd" /usr/sbin/virtlockd ||
		why+="/usr/sbin/virtlockd is not libvirt's again; "
	[ ! -e "$R/usr/sbin/virtlockd.libvirt" ] || why+="/usr/sbin/virtlockd.libvirt is left; "
	[ -s "$R/var/log/lockwarden/audit.jsonl" ] ||
		why+="lockwardend's audit log is not in /var/log/lockwarden (kept until purge); "
	# virtlockd serves: a disk given up is taken by another
	vm_expect "stop A: ok" stop A
	vm_expect "start X: ok" start X disk=/srv/img/a.img
	echo "$why"
}

step_purge() {
	local why

	# the audit key the daemon creates on a host whose log is keyed
	mkdir -p "$R/var/lib/lockwarden"
	[ -e "$R/var/lib/lockwarden/audit.key" ] || echo key >"$R/var/lib/lockwarden/audit.key"
	why=$(dpkg_in_root -P lockwarden)
	root_changes >"$OUT/changes.after"
	why+=$(diff "$OUT/changes.before" "$OUT/changes.after" | grep '^[<>]' | head -n 4 | tr '\n' ' ')
	why+=$(runs /usr/sbin/virtlockd)
	vm_expect "start Z: error: resource busy: Lockspace resource '/srv/img/b.img' is locked" \
		start Z disk=/srv/img/b.img
	echo "$why"
}

# In the namespaces: the root, virtlockd with two VMs, then each step.
in_namespaces() {
	local why

	make_root || { fail package/root "cannot build the throwaway root"; return; }
	# The harness and the daemons live in the root; this script drives them.
	printf '#!/bin/sh\nexec chroot %q %q "$@"\n' "$R" "$BUILD/selftests/vmharness" >"$OUT/harness"
	chmod +x "$OUT/harness"
	HARNESS=$OUT/harness
	printf 'log_level = 2\nlog_outputs = "2:stderr"\n' >"$R/etc/libvirt/virtlockd.conf"
	cp "$R/etc/libvirt/virtlockd.conf" "$OUT/virtlockd.conf"
	DAEMON_LOG=$OUT/daemon.log
	chroot "$R" /usr/sbin/virtlockd >"$DAEMON_LOG" 2>&1 &
	DPID=$!
	TRACKED_PIDS+=("$DPID")
	if ! wait_listening "$DPID" "$LOCKD_SOCK"; then
		fail package/virtlockd "virtlockd did not start in the root: $(tail -n 1 "$DAEMON_LOG")"
		return
	fi
	harness_open
	vm_expect "image: ok" image /srv/img/a.img /srv/img/b.img /srv/img/c.img
	vm_expect "start A: ok" start A disk=/srv/img/a.img disk=/srv/img/c.img:shared
	vm_expect "start B: ok" start B disk=/srv/img/b.img disk=/srv/img/c.img:shared
	why=$(runs /usr/sbin/virtlockd)$(locks_held)
	[ -z "$why" ] || { fail package/virtlockd-holds "$why"; return; }
	# as on a host that never ran lockwarden (another test may have run
	# a daemon on this one)
	rm -rf "$R/var/lib/lockwarden" "$R/var/log/lockwarden"
	# and no man-db index rebuilt at each dpkg run: seconds, and not ours
	rm -f "$R/var/lib/man-db/auto-update"
	root_changes >"$OUT/changes.before"

	result package/install-takes-over-live "$(step_install)"
	result package/upgrade-reexecs "$(step_upgrade)"
	result package/remove-refused-under-own-units "$(step_remove_refused)"
	result package/remove-gives-back-live "$(step_remove)"
	result package/purge-leaves-nothing "$(step_purge)"
}

# ---- main ----

if [ "${1:-}" = --in-namespaces ]; then
	in_namespaces
	exit 0
fi

start=$(date +%s.%N)
if [ "$(id -u)" -ne 0 ]; then
	fail package "must run as root (namespaces, dpkg in the throwaway root)"
elif [ ! -f "$DEB" ]; then
	fail package "$DEB is missing: make deb"
else
	# the upgrade: a second build with a higher version, made meanwhile
	rm -f "$DEB2"
	make -s -C "$ROOT" BUILD="$BUILD" DEB_VERSION="$UPGRADE_VERSION" deb >"$OUT/deb2.log" 2>&1 &
	deb2=$!
	result package/lintian-no-errors "$(check_lintian)"
	result package/scripts-touch-no-unit "$(check_scripts)"
	if wait "$deb2"; then
		rm -rf "$OUT/dpkg.log"
		unshare -m -p -f --mount-proc -- bash "$0" --in-namespaces
	else
		fail package/upgrade-build "make deb DEB_VERSION=$UPGRADE_VERSION: $(tail -n 2 "$OUT/deb2.log")"
	fi
fi 2>&1 | tee "$OUT/package.log"
echo "wall time: $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
npass=$(grep -cs '^PASS ' "$OUT/package.log")
nfail=$(grep -cs '^FAIL ' "$OUT/package.log")
# No result at all (the log gone, the run cut short) is a failure too.
if [ "${npass:-0}" -eq 0 ] && [ "${nfail:-0}" -eq 0 ]; then
	echo "FAIL package: no result recorded in $OUT/package.log"
	nfail=1
fi
echo "${npass:-0} passed, $nfail failed"
[ "$nfail" -eq 0 ]
