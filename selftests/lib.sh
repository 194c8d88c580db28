# shellcheck shell=bash
# Helpers shared by selftests/run.sh and selftests/t_*.sh: source it.
#
# Tests run as root inside a private mount namespace with tmpfs on /run and
# /srv (run.sh sets that up), so a daemon started here owns
# /run/libvirt/virtlockd-sock without touching the host's.
set -u

SELFTESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$SELFTESTS")
BUILD=${BUILD:-$ROOT/build}
VIRTLOCKD=${VIRTLOCKD:-/usr/sbin/virtlockd}
LOCKWARDEND=${LOCKWARDEND:-$BUILD/lockwardend}
HARNESS=${HARNESS:-$BUILD/selftests/vmharness}
# Scratch files of the running test file, kept for a look after a failure.
OUT=${OUT:-$BUILD/selftests/out/$(basename "$0" .sh)}
export BUILD VIRTLOCKD LOCKWARDEND HARNESS OUT

LOCKD_SOCK=/run/libvirt/virtlockd-sock
# Both daemons get this config: with -d virtlockd otherwise logs to
# /var/log/libvirt/virtlockd.log and fails to start where that is missing.
# lockwardend's audit log stays in the test's scratch dir (virtlockd
# ignores the key).
DAEMON_CONF_TEXT="log_outputs = \"3:stderr\"
audit_log = \"$OUT/audit.jsonl\""
# The daemons under test, as NAME=BINARY.
# shellcheck disable=SC2034 # for the test files
DAEMONS=("virtlockd=$VIRTLOCKD" "lockwardend=$LOCKWARDEND")

mkdir -p "$OUT"

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

# result NAME WHY: PASS when WHY is empty, else FAIL with it.
result() {
	if [ -z "$2" ]; then pass "$1"; else fail "$1" "$2"; fi
}

# Why BIN cannot be tested, or nothing: a daemon not built yet is a failure.
missing_daemon() {
	[ -x "$1" ] || echo "$1 does not exist (daemon not built?)"
}

daemon_conf() {
	local conf=$OUT/daemon.conf

	[ -e "$conf" ] || echo "$DAEMON_CONF_TEXT" >"$conf"
	echo "$conf"
}

# True while PID exists and is not a zombie.
proc_alive() {
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# True once process PID holds a listening unix socket bound to PATH.  Looked
# up by socket inode: /proc/net/unix also lists other namespaces' sockets.
sock_listening() {
	local pid=$1 path=$2 inodes

	inodes=$(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null |
		tr -dc '0-9\n')
	[ -n "$inodes" ] || return 1
	awk -v p="$path" '$8 == p && $4 == "00010000" { print $7 }' /proc/net/unix |
		grep -qxF "$inodes"
}

# wait_listening PID [PATH]: until PID listens on PATH (DAEMON_WAIT_S, 5 s),
# or dies.
wait_listening() {
	local pid=$1 path=${2:-$LOCKD_SOCK} i

	for ((i = 0; i < ${DAEMON_WAIT_S:-5} * 50; i++)); do
		sock_listening "$pid" "$path" && return 0
		proc_alive "$pid" || return 1
		sleep 0.02
	done
	return 1
}

# wait_gone PID [TENTHS]: until PID is gone (default DAEMON_WAIT_S, 5 s).
wait_gone() {
	local i

	for ((i = 0; i < ${2:-${DAEMON_WAIT_S:-5} * 10}; i++)); do
		proc_alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

# Daemons started here, killed at exit whatever happens to the test.
TRACKED_PIDS=()
kill_tracked() {
	local pid

	for pid in "${TRACKED_PIDS[@]}"; do
		proc_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}
trap kill_tracked EXIT

# daemon_start BIN [ARGS...]: run BIN in the background (config from
# daemon_conf unless ARGS has -f) and wait until it listens on $LOCKD_SOCK.
# Sets DAEMON_PID and DAEMON_LOG; on failure returns 1 with DAEMON_ERR set.
# With OWN_RUN=1 it gets a nested mount namespace with its own /run: another
# host, sharing /srv with this one; its namespace is /proc/$DAEMON_PID/ns/mnt.
daemon_start() {
	local bin=$1
	shift

	DAEMON_ERR=$(missing_daemon "$bin")
	[ -z "$DAEMON_ERR" ] || return 1
	case " $* " in *" -f "*) ;; *) set -- -f "$(daemon_conf)" "$@" ;; esac
	DAEMON_LOG=$(mktemp "$OUT/$(basename "$bin").XXXXXX.log")
	if [ "${OWN_RUN:-0}" = 1 ]; then
		unshare -m -- bash -c 'mount -t tmpfs lw-run /run && exec "$@"' \
			own_run "$bin" "$@" >"$DAEMON_LOG" 2>&1 &
	else
		"$bin" "$@" >"$DAEMON_LOG" 2>&1 &
	fi
	DAEMON_PID=$!
	TRACKED_PIDS+=("$DAEMON_PID")
	wait_listening "$DAEMON_PID" && return 0
	DAEMON_ERR="$bin $* never listened on $LOCKD_SOCK: $(tail -n 1 "$DAEMON_LOG")"
	daemon_stop "$DAEMON_PID"
	return 1
}

# daemon_stop [PID]: SIGTERM (SIGKILL after 5 s); returns its exit status if
# it is our child, 0 otherwise, 1 if it had to be killed.
daemon_stop() {
	local pid=${1:-$DAEMON_PID} st

	kill -TERM "$pid" 2>/dev/null
	if ! wait_gone "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 1
	fi
	wait "$pid" 2>/dev/null
	st=$?
	# 127: not our child (e.g. daemonized), its status is not ours to see
	[ $st -eq 127 ] && return 0
	return $st
}

# fresh_ns CMD [ARGS...]: CMD (a command or a function of this file) in a
# nested mount namespace with empty tmpfs on /run and /srv, so every run
# sees identical paths and no state from the one before.
fresh_ns() {
	unshare -m -- bash -c 'source "$0" && mount -t tmpfs lw-run /run &&
		mount -t tmpfs lw-srv /srv && "$@"' "$SELFTESTS/lib.sh" "$@"
}

# scenario_run SCN OUT BIN [BIN...]: in a fresh namespace, the harness on
# SCN with its transcript in OUT (errors in OUT.err).  One BIN runs in that
# namespace itself; several are hosts a, b, ... each with its own /run,
# their namespaces passed as $HOST_A, $HOST_B, ...  Returns non-zero if a
# daemon did not start or the harness failed.
scenario_run() {
	fresh_ns scenario_in_ns "$@"
}

scenario_in_ns() {
	local scn=$1 out=$2 pids=() env=() letters=(A B C D) bin pid rc=0
	shift 2

	: >"$out"
	: >"$out.err"
	for bin in "$@"; do
		if ! OWN_RUN=$(($# > 1)) daemon_start "$bin"; then
			echo "$DAEMON_ERR" >>"$out.err"
			rc=1
			break
		fi
		env+=("HOST_${letters[${#pids[@]}]}=/proc/$DAEMON_PID/ns/mnt")
		pids+=("$DAEMON_PID")
	done
	if [ $rc -eq 0 ]; then
		env "${env[@]}" "$HARNESS" "$scn" >"$out" 2>>"$out.err"
		rc=$?
	fi
	for pid in "${pids[@]}"; do
		daemon_stop "$pid" || echo "daemon exited with status $? on SIGTERM" >>"$out.err"
	done
	return $rc
}

# Why two files differ, or nothing: the first differing lines.
differs() {
	local f

	for f in "$1" "$2"; do
		[ -f "$f" ] || { echo "$f is missing"; return; }
	done
	cmp -s "$1" "$2" && return
	echo "$(basename "$1") vs $(basename "$2"):" \
		"$(diff -u "$1" "$2" | sed '1,3d' | grep '^[-+]' | head -n 2 | tr '\n' ' ')"
}

# harness_open: the harness as a coprocess, fed one command at a time by
# vm(), so a test can act on the daemon between two commands.
harness_open() {
	coproc HARNESS_CO { "$HARNESS" 2>>"$OUT/harness.err"; }
}

# vm CMD...: one harness command; prints its transcript line.
vm() {
	local line

	echo "$*" >&"${HARNESS_CO[1]}"
	read -r -t 60 line <&"${HARNESS_CO[0]}" || line="(no answer to '$*')"
	echo "$line"
}

# vm_expect WANT CMD...: prints why the transcript line is not WANT, or nothing.
vm_expect() {
	local want=$1 got
	shift

	got=$(vm "$@")
	[ "$got" = "$want" ] || echo "'$*' said '$got', not '$want'"
}
