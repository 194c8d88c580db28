#!/usr/bin/env bash
# Owners are processes, not pids (issue 12, item 8). An owner registers and
# acquires a disk, then exits while its connection lives on (a child keeps
# it); its pid is given to another process (ns_last_pid, in this file's own
# pid namespace), which opens the disk: a violation, refused under
# deny-write, never exempt as the owner. When the connection then closes,
# the reaper signals nobody: the pid is not the owner's any more. The
# daemon runs as on a kernel before 6.5 (no SO_PEERPIDFD: oldkernel.so),
# where a pidfd taken at disconnect named whichever process had the pid.
# The identity survives a SIGUSR1 re-exec: taken again after the exec it
# would be the newcomer's. An owner that drops its own connection while
# alive is still SIGTERMed.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/guard_lib.sh"

RPCPROBE=$BUILD/selftests/rpcprobe
# The daemon as on a kernel before 6.5 (an ASan build tolerates the preload).
OLD_KERNEL="$(command -v env) LD_PRELOAD=$BUILD/selftests/oldkernel.so
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0"
NS_LAST_PID=/proc/sys/kernel/ns_last_pid
UUID=6f776e65726964656e74697479000001

# probe_start NAME: an rpcprobe on fifos; PROBE_PID is its pid, probe CMD
# sends a line and sets REPLY to its answer (connect and close give none
# unless they fail).
probe_start() {
	rm -f "$OUT/$1.in" "$OUT/$1.out"
	mkfifo "$OUT/$1.in" "$OUT/$1.out"
	"$RPCPROBE" <"$OUT/$1.in" >"$OUT/$1.out" 2>&1 &
	PROBE_PID=$!
	exec {PROBE_TO}>"$OUT/$1.in" {PROBE_FROM}<"$OUT/$1.out"
}

probe() {
	echo "$*" >&$PROBE_TO
	REPLY=
	case $1 in connect|close) ;; *) read -r -t 10 REPLY <&$PROBE_FROM ;; esac
}

probe_stop() {
	exec {PROBE_TO}>&- {PROBE_FROM}<&-
}

# own IMG: the probe registers its own pid as VM "owned" and takes IMG.
own() {
	probe connect
	probe call 1 uuid:$UUID s:owned u:1 u:$PROBE_PID u:0
	[[ $REPLY == "reply "*" OK" ]] || return 1
	probe call 6 s: s:"$1" u:0
	[[ $REPLY == "reply "*" OK" ]]
}

# recycle PID CMD...: run CMD in the background as process PID, once the
# pid is free; sets NEW_PID ($! whatever it got).
recycle() {
	local want=$1 i
	shift

	for ((i = 0; i < 20; i++)); do
		echo $((want - 1)) >"$NS_LAST_PID"
		"$@" &
		NEW_PID=$!
		[ "$NEW_PID" -eq "$want" ] && return 0
		kill -KILL "$NEW_PID" 2>/dev/null
		wait "$NEW_PID" 2>/dev/null
	done
	return 1
}

# newcomer GATE IMG: a process that waits for a line on fifo GATE, opens
# IMG for reading and writing itself ("ok" or the error in
# $OUT/newcomer.out), then sleeps: alive when the connection closes.
newcomer() {
	exec bash -c 'read -r _ <"$1"; { : 3<>"$2"; } 2>/dev/null && r=ok || r=refused
		 echo $r >"$3"; exec sleep 30' newcomer "$1" "$2" "$OUT/newcomer.out"
}

# scenario NAME POLICY REEXEC MONITOR: the whole story once, watched by
# MONITOR alone.
scenario() {
	local name=$1 policy=$2 reexec=$3 monitor=$4 img=/srv/img/${1##*/}.img gate=$OUT/${1##*/}.gate
	local owner kid i out missing

	mkdir -p /srv/img && : >"$img"
	if ! GUARD_WRAP=$OLD_KERNEL guard_daemon "guard_policy = \"$policy\"" \
			"guard_monitors = [ \"$monitor\" ]"; then
		fail "$name/start" "$DAEMON_ERR"
		return
	fi
	missing="no fanotify monitor"
	[ "$monitor" = bpf ] && missing="no BPF open monitor"
	if grep -q "$missing" "$DAEMON_LOG"; then
		skip "$name" "$(grep -m1 "$missing" "$DAEMON_LOG")"
		daemon_stop
		return
	fi
	probe_start "${name##*/}"
	owner=$PROBE_PID
	if ! own "$img"; then
		fail "$name/own" "$REPLY"
		probe_stop
		daemon_stop
		return
	fi
	# Start times tick at 10 ms: a newcomer in the owner's own tick would
	# be taken for it (README). No real owner lives that short.
	sleep 0.05
	probe handoff
	kid=${REPLY#handoff }
	wait "$owner"
	rm -f "$gate" "$OUT/newcomer.out" && mkfifo "$gate"
	if ! recycle "$owner" newcomer "$gate" "$img"; then
		skip "$name" "pid $owner never came back (got $NEW_PID)"
		probe_stop
		daemon_stop
		return
	fi
	if [ "$reexec" = reexec ]; then
		kill -USR1 "$DAEMON_PID"
		sleep 0.5
		wait_listening "$DAEMON_PID"
		result "$name/reexec" "$(grep -q 'restored lockwarden state' "$DAEMON_LOG" ||
			echo "no re-exec in the daemon's log")"
	fi
	echo go >"$gate"
	for ((i = 0; i < 50; i++)); do
		[ -s "$OUT/newcomer.out" ] && break
		sleep 0.1
	done
	out=$(cat "$OUT/newcomer.out")
	OPENER_PID=$owner OPENER_OUT=$out
	if [ "$policy" = deny-write ]; then
		result "$name/refused" "$([ "$out" = refused ] || echo "open gave: $out")"
		expect_one "$name/recorded" true \
			".event == \"denied\" and .owner_pids == [$owner] and .vm_name == \"owned\""
	else
		result "$name/opens" "$([ "$out" = ok ] || echo "open gave: $out")"
		expect_one "$name/recorded" true \
			".event == \"violation\" and .owner_pids == [$owner] and .severity == \"critical\"
			 and .source == \"$monitor\""
	fi

	# The connection goes with leases held: the owner would be killed;
	# the newcomer with its pid must not be.
	probe close
	sleep 2.5
	result "$name/newcomer-not-signalled" "$(proc_alive "$NEW_PID" ||
		echo "pid $NEW_PID was killed: $(grep -m1 -E 'SIGTERM|SIGKILL' "$DAEMON_LOG")")"
	result "$name/said" "$(grep -q "pid $owner dropped its connection while holding leases; it has exited" \
		"$DAEMON_LOG" || echo "no word of it in the log")"
	probe_stop
	kill -KILL "$NEW_PID" "$kid" 2>/dev/null
	wait "$NEW_PID" 2>/dev/null
	daemon_stop
}

scenario guard-owner/recycled deny-write none fanotify
scenario guard-owner/recycled-reexec audit reexec fanotify
# The BPF programs tell the owner from the newcomer in the kernel.
scenario guard-owner/recycled-bpf audit reexec bpf

# The owner itself dropping its connection while alive is still killed.
if GUARD_WRAP=$OLD_KERNEL guard_daemon; then
	mkdir -p /srv/img && : >/srv/img/own.img
	probe_start own
	if own /srv/img/own.img; then
		probe close
		wait_gone "$PROBE_PID" 30
		result guard-owner/owner-killed "$(! proc_alive "$PROBE_PID" ||
			echo "pid $PROBE_PID still alive")"
	else
		fail guard-owner/owner-killed "$REPLY"
	fi
	probe_stop
	daemon_stop
else
	fail guard-owner/start "$DAEMON_ERR"
fi
exit 0
