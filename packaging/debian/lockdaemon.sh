# lockdaemon_reload WHEN: make the running lock daemon (virtlockd, or
# lockwardend in its place or from its own units) re-execute its argv[0],
# as `systemctl reload` does: it keeps every lock, listening socket and
# client across the exec. Without systemd too: the pid file is the
# daemon's own. WHEN names the step, for the messages.
lockdaemon_reload() {
	pid=$(cat /run/virtlockd.pid 2>/dev/null) || return 0
	case "$pid" in '' | *[!0-9]*) return 0 ;; esac
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
	case "$exe" in
	/usr/sbin/virtlockd* | /usr/sbin/lockwardend*) ;;
	*) return 0 ;;
	esac
	argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
	sbin=/usr/sbin
	case "$argv0" in
	virtlockd) argv0=$sbin/virtlockd ;;
	"$sbin/virtlockd" | "$sbin/lockwardend") ;;
	*)
		echo "lockwarden: the lock daemon (pid $pid) was started as $argv0," \
			"which the package does not install: not reloaded $1" >&2
		return 0
		;;
	esac
	want=$(readlink -f "$argv0")
	echo "lockwarden: reloading the lock daemon (pid $pid) $1: $exe -> $want"
	kill -USR1 "$pid"
	i=0
	while [ $i -lt 300 ]; do
		if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$want" ] &&
			[ ! -e /run/virtlockd-restart-exec.json ]; then
			return 0
		fi
		[ -d "/proc/$pid" ] || break
		sleep 0.1
		i=$((i + 1))
	done
	echo "lockwarden: WARNING: the lock daemon (pid $pid) did not re-execute $want" \
		"$1; it runs $(readlink "/proc/$pid/exe" 2>/dev/null || echo nothing): see its log" >&2
	return 0
}
