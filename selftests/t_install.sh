#!/usr/bin/env bash
# make install honours DESTDIR and PREFIX: the daemon, the tools, the
# systemd units (naming the installed daemon), the configuration sample and
# the man pages, each with its mode.
source "$(dirname "$0")/lib.sh"

install_into() {
	local dest=$OUT/dest-$1 prefix=$2 f why=

	rm -rf "$dest"
	make -s -C "$ROOT" BUILD="$BUILD" DESTDIR="$dest" PREFIX="$prefix" install \
		>"$OUT/install.log" 2>&1 || { echo "make install failed: $(tail -n 2 "$OUT/install.log")"; return; }
	for f in "$prefix/sbin/lockwardend:755" "$prefix/bin/lockwardenctl:755" \
		"$prefix/bin/lockwarden-audit:755" "$prefix/lib/systemd/system/lockwardend.service:644" \
		"$prefix/lib/systemd/system/lockwardend.socket:644" \
		"$prefix/lib/systemd/system/lockwardend-admin.socket:644" \
		"/etc/libvirt/lockwardend.conf.sample:644" "$prefix/share/man/man8/lockwardend.8:644" \
		"$prefix/share/man/man8/lockwardenctl.8:644" "$prefix/share/man/man8/lockwarden-audit.8:644" \
		"$prefix/share/man/man5/lockwarden.conf.5:644"; do
		[ "$(stat -c %a "$dest${f%:*}" 2>/dev/null)" = "${f##*:}" ] ||
			why="${why:+$why; }$dest${f%:*} missing or not mode ${f##*:}"
	done
	grep -q "^ExecStart=$prefix/sbin/lockwardend " "$dest$prefix/lib/systemd/system/lockwardend.service" ||
		why="${why:+$why; }the unit does not run $prefix/sbin/lockwardend"
	"$dest$prefix/sbin/lockwardend" -V >/dev/null || why="${why:+$why; }the installed daemon does not run"
	echo "$why"
}

result install/prefix-usr "$(install_into usr /usr)"
result install/prefix-usr-local "$(install_into local /usr/local)"
exit 0
