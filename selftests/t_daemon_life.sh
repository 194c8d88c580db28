#!/usr/bin/env bash
# The daemon's life cycle and command line, for each daemon binary:
# -t (idle exit), files in /run, -p (pid file), single instance, SIGTERM,
# -V, -h, -d.
# Each check runs in a fresh mount namespace and prints why it failed, or
# nothing.
source "$(dirname "$0")/lib.sh"

PIDFILE=/run/lw-test.pid

# Field N (1-based, after the command name) of /proc/PID/stat: 2 is ppid,
# 4 the session.
stat_field() {
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	echo "$stat" | cut -d' ' -f"$2"
}

ms_now() {
	echo $(($(date +%s%N) / 1000000))
}

# The harness on stdin; prints why the transcript is not $1, or nothing.
harness_says() {
	local got

	got=$("$HARNESS" 2>&1)
	[ "$got" = "$1" ] || echo "harness said: $(echo "$got" | tr '\n' ';')"
}

# -t 2 with no client: exits by itself, status 0, after about 2 s.
life_timeout() {
	local t0 ms rc

	t0=$(ms_now)
	daemon_start "$1" -t 2 || { echo "$DAEMON_ERR"; return; }
	if ! wait_gone "$DAEMON_PID" 60; then
		echo "still running 6 s after starting with -t 2"
		return
	fi
	ms=$(($(ms_now) - t0))
	wait "$DAEMON_PID"
	rc=$?
	[ "$rc" -eq 0 ] || echo "exited with status $rc"
	[ "$ms" -ge 1500 ] && [ "$ms" -le 4500 ] || echo "exited after $ms ms, not about 2 s"
}

# -t 2 while a VM holds a lock: still serving after 3 s; once the VM is
# gone (the harness kills it at exit) it exits by itself.
life_timeout_held() {
	daemon_start "$1" -t 2 || { echo "$DAEMON_ERR"; return; }
	harness_says "image: ok
start A: ok
sleep 3: ok
start B: ok" <<-EOF
		image /srv/img/a.img /srv/img/b.img
		start A disk=/srv/img/a.img
		sleep 3
		start B disk=/srv/img/b.img
	EOF
	wait_gone "$DAEMON_PID" 60 || echo "still running 6 s after its last client left"
}

# With default paths: what virtlockd puts in /run, with these modes.
life_run_files() {
	local got want="/run/libvirt drwxr-xr-x
/run/libvirt/virtlockd-admin-sock srwx------
/run/libvirt/virtlockd-sock srwx------
/run/virtlockd.pid -rw-r--r--"

	daemon_start "$1" || { echo "$DAEMON_ERR"; return; }
	got=$(stat -c '%n %A' /run/libvirt /run/libvirt/* /run/*.pid 2>&1)
	[ "$got" = "$want" ] || echo "/run holds: $(echo "$got" | tr '\n' ';')"
	daemon_stop
}

# -p FILE: the file holds the daemon's pid.
life_pidfile() {
	local pid

	daemon_start "$1" -p "$PIDFILE" || { echo "$DAEMON_ERR"; return; }
	read -r pid <"$PIDFILE" 2>/dev/null
	[ "${pid:-}" = "$DAEMON_PID" ] || echo "$PIDFILE holds '${pid:-}', not $DAEMON_PID"
	daemon_stop
}

# SIGTERM: exit status 0, socket and pid file removed.
life_sigterm() {
	local rc f

	daemon_start "$1" -p "$PIDFILE" || { echo "$DAEMON_ERR"; return; }
	daemon_stop
	rc=$?
	[ "$rc" -eq 0 ] || echo "exited with status $rc on SIGTERM"
	for f in "$LOCKD_SOCK" "$PIDFILE"; do
		[ ! -e "$f" ] || echo "$f left behind"
	done
}

# A second daemon (same socket, same pid file: ARGS) refuses to start, and
# the first one keeps the socket and serves on.
life_second_instance() {
	local bin=$1 first rc pid
	shift

	daemon_start "$bin" "$@" || { echo "$DAEMON_ERR"; return; }
	first=$DAEMON_PID
	timeout -k 1 5 "$bin" -f "$(daemon_conf)" "$@" >"$OUT/second.log" 2>&1
	rc=$?
	case $rc in
	0) echo "second instance exited 0" ;;
	124 | 137) echo "second instance still running after 5 s" ;;
	esac
	proc_alive "$first" || echo "first instance died"
	sock_listening "$first" "$LOCKD_SOCK" || echo "first instance lost $LOCKD_SOCK"
	if [ $# -gt 0 ]; then
		read -r pid <"$PIDFILE" 2>/dev/null
		[ "${pid:-}" = "$first" ] || echo "$PIDFILE now holds '${pid:-}'"
	fi
	harness_says "image: ok
start A: ok" <<-EOF
		image /srv/img/a.img
		start A disk=/srv/img/a.img
	EOF
	daemon_stop "$first"
}

# -d: the command returns 0 once the daemon, a detached process in another
# session, serves; the pid file names it.
life_daemonize() {
	local rc pid

	timeout -k 1 5 "$1" -d -f "$(daemon_conf)" -p "$PIDFILE" >"$OUT/daemonize.log" 2>&1
	rc=$?
	read -r pid <"$PIDFILE" 2>/dev/null
	[ -n "${pid:-}" ] && TRACKED_PIDS+=("$pid")
	if [ "$rc" -ne 0 ] || [ -z "${pid:-}" ]; then
		echo "-d exited with status $rc, pid file '${pid:-}': $(tail -n 1 "$OUT/daemonize.log")"
		return
	fi
	wait_listening "$pid" || { echo "pid $pid from $PIDFILE does not serve"; return; }
	[ "$(stat_field "$pid" 2)" != $$ ] || echo "the daemon is still our child"
	[ "$(stat_field "$pid" 4)" != "$(stat_field $$ 4)" ] || echo "the daemon is in our session"
	harness_says "image: ok
start A: ok" <<-EOF
		image /srv/img/a.img
		start A disk=/srv/img/a.img
	EOF
	daemon_stop "$pid" || echo "did not exit on SIGTERM"
}

export -f stat_field ms_now harness_says life_timeout life_timeout_held \
	life_run_files life_pidfile life_sigterm life_second_instance life_daemonize
export PIDFILE

for d in "${DAEMONS[@]}"; do
	dname=${d%%=*}
	bin=${d#*=}
	why=$(missing_daemon "$bin")
	if [ -n "$why" ]; then
		fail "life/$dname" "$why"
		continue
	fi

	out=$("$bin" -V 2>&1)
	rc=$?
	why=
	[ "$rc" -eq 0 ] && [ -n "$out" ] || why="-V: status $rc, output '$out'"
	result "life/$dname/version" "$why"

	out=$("$bin" -h 2>&1)
	rc=$?
	why=
	[ "$rc" -eq 0 ] || why="-h: status $rc"
	for opt in --daemon --timeout --config --pid-file --version --help; do
		[[ $out == *"$opt"* ]] || why="${why:+$why; }-h does not mention $opt"
	done
	result "life/$dname/help" "$why"

	why=
	"$bin" --no-such-option >/dev/null 2>&1 && why="--no-such-option: status 0"
	result "life/$dname/bad-option" "$why"

	result "life/$dname/timeout" "$(fresh_ns life_timeout "$bin")"
	result "life/$dname/timeout-held" "$(fresh_ns life_timeout_held "$bin")"
	result "life/$dname/run-files" "$(fresh_ns life_run_files "$bin")"
	result "life/$dname/pidfile" "$(fresh_ns life_pidfile "$bin")"
	result "life/$dname/sigterm" "$(fresh_ns life_sigterm "$bin")"
	result "life/$dname/second-instance" \
		"$(fresh_ns life_second_instance "$bin" -p "$PIDFILE")"
	result "life/$dname/second-instance-default" \
		"$(fresh_ns life_second_instance "$bin")"
	result "life/$dname/daemonize" "$(fresh_ns life_daemonize "$bin")"
done
exit 0
