#!/usr/bin/env bash
# Security review, one test per rule:
#   sockets      only root reaches the system sockets (0700); a user cannot
#   peer-creds   even through a socket opened to all, a user is refused:
#                root only on the system socket, the daemon's own user on a
#                session socket (both daemons alike)
#   names        no resource name leaves its lockspace directory: '..',
#                '.', '/' in names, absolute names, for acquire, create and
#                delete (lockwardend; virtlockd creates ../x)
#   symlinks     a symlink planted in the lockspace directory is never
#                followed, dangling or not; a lockspace directory replaced
#                by a symlink after its creation is not followed either
#   limits       65536-byte strings decode and 65537 do not, leaving the
#                connection usable (both daemons alike); frames above
#                CLIENT_FRAME_MAX or below a header close the connection;
#                max_clients holds back the next connection until one
#                leaves (both alike); a client that never reads its replies
#                costs bounded memory and stalls no one else
# The users are created here, in this test's mount namespace (bind-mounted
# copies of /etc/passwd and /etc/group), never on the host.
source "$(dirname "$0")/lib.sh"

RPCPROBE=$BUILD/selftests/rpcprobe
LOADGEN=$BUILD/selftests/loadgen
USER1=lwsec1
USER2=lwsec2
REG="call 1 uuid:00112233445566778899aabbccddeeff s:vm1 u:1 u:4242 u:0"
ADMIN_SOCK=/run/libvirt/virtlockd-admin-sock

add_users() {
	cp /etc/passwd "$OUT/passwd" && cp /etc/group "$OUT/group" || return 1
	echo "$USER1:x:4711:4711:lockwarden test:/nonexistent:/usr/sbin/nologin" >>"$OUT/passwd"
	echo "$USER2:x:4712:4712:lockwarden test:/nonexistent:/usr/sbin/nologin" >>"$OUT/passwd"
	printf '%s:x:4711:\n%s:x:4712:\n' $USER1 $USER2 >>"$OUT/group"
	chmod 644 "$OUT/passwd" "$OUT/group"
	mount --bind "$OUT/passwd" /etc/passwd && mount --bind "$OUT/group" /etc/group
}

# as USER CMD...: CMD as USER (root: as is).
as() {
	local user=$1
	shift

	if [ "$user" = root ]; then
		"$@"
	else
		setpriv --reuid="$user" --regid="$user" --clear-groups -- "$@"
	fi
}

# probe_as USER [SOCKET]: rpcprobe as USER on SOCKET: connect, register.
# SIGPIPE ignored: a send to a daemon that closed first is then reported.
probe_as() {
	printf 'connect %s\n%s\n' "${2:-$LOCKD_SOCK}" "$REG" |
		(trap '' PIPE && as "$1" "$RPCPROBE" 2>&1)
}

# expect WHAT GOT WANT: prints why GOT (first line) does not start with WANT.
# WANT "closed": the daemon closed the connection, before or after the
# probe's request went out.
expect() {
	local first=${2%%$'\n'*}

	[[ $first == "$3"* ]] && return
	[ "$3" = closed ] && [[ $first == "send failed: "* ]] && return
	echo "$1: got '$first', expected '$3'; "
}

# The sockets and their directory admit root alone.
sec_sockets() {
	local why="" s mode

	daemon_start "$1" || { echo "$DAEMON_ERR"; return; }
	for s in $LOCKD_SOCK $ADMIN_SOCK; do
		mode=$(stat -c '%a %U' "$s")
		[ "$mode" = "700 root" ] || why+="$s is '$mode', not '700 root'; "
		why+=$(expect "$USER1 on $s" "$(probe_as $USER1 "$s")" "connect failed: Permission denied")
	done
	echo "$why"
	daemon_stop
}

# Sockets opened to all: a user still gets nothing, root is served.
sec_peer_creds_system() {
	local why="" s

	daemon_start "$1" || { echo "$DAEMON_ERR"; return; }
	chmod 777 $LOCKD_SOCK $ADMIN_SOCK
	why+=$(expect "$USER1 on $LOCKD_SOCK" "$(probe_as $USER1)" "closed")
	why+=$(expect "$USER1 on $ADMIN_SOCK" "$(probe_as $USER1 $ADMIN_SOCK)" "closed")
	why+=$(expect "root on $LOCKD_SOCK" "$(probe_as root)" "reply serial=0 proc=1 OK")
	echo "$why"
	daemon_stop
}

# A session daemon of USER1: USER2 and root are refused, USER1 served.
sec_peer_creds_session() {
	local why="" rt=/run/user/4711 sock pid

	mkdir -p $rt && chown $USER1: $rt && chmod 700 $rt
	printf 'log_outputs = "3:stderr"\naudit_log = "%s/audit.jsonl"\n' $rt >$rt/daemon.conf
	setpriv --reuid=$USER1 --regid=$USER1 --clear-groups -- env XDG_RUNTIME_DIR=$rt HOME=$rt \
		"$1" -f $rt/daemon.conf >"$OUT/session.log" 2>&1 &
	pid=$!
	TRACKED_PIDS+=("$pid")
	sock=$rt/libvirt/virtlockd-sock
	wait_listening $pid $sock || { echo "the session daemon did not listen on $sock"; return; }
	chmod 755 $rt $rt/libvirt && chmod 777 "$sock"
	why+=$(expect "$USER2" "$(probe_as $USER2 "$sock")" "closed")
	why+=$(expect "root" "$(probe_as root "$sock")" "closed")
	why+=$(expect "$USER1" "$(probe_as $USER1 "$sock")" "reply serial=0 proc=1 OK")
	echo "$why"
	daemon_stop $pid
}

# rpc_lines SCRIPT: rpcprobe as root on SCRIPT (after connect and register),
# its replies only.
rpc_lines() {
	printf 'connect\n%s\n%s\n' "$REG" "$1" | "$RPCPROBE" 2>&1 | tail -n +2
}

# Each of NAME... is refused by acquire (AUTOCREATE), create and delete in
# lockspace /srv/ls; prints what was not.
refused_names() {
	local name op

	for name in "$@"; do
		for op in "6 s:/srv/ls s:$name u:2" "4 s:/srv/ls s:$name u:0" "5 s:/srv/ls s:$name u:0"; do
			rpc_lines "call $op" | grep -v ' ERROR ' | sed "s|^|'$name' (proc ${op%% *}): |"
		done
	done
}

# The victims outside the lockspace are as they were: present, unlocked,
# and nothing new next to them.
victims_intact() {
	local f

	for f in /srv/victim /srv/victim.img; do
		[ "$("$LOADGEN" probe $f)" = "$f unlocked" ] || echo "$f: $("$LOADGEN" probe $f); "
	done
	[ "$(ls /srv)" = "$(printf 'ls\nvictim\nvictim.img')" ] ||
		echo "/srv now holds: $(ls /srv | tr '\n' ' '); "
}

sec_names() {
	local why

	mkdir /srv/ls && touch /srv/victim /srv/victim.img
	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	rpc_lines "call 8 s:/srv/ls" | grep -v ' OK$'
	why=$(refused_names .. . ../victim ../victim.new /srv/victim /srv/victim.img sub/x "")
	why+=$(victims_intact)
	[ -z "$(ls /srv/ls)" ] || why+="/srv/ls holds: $(ls /srv/ls | tr '\n' ' ')"
	echo "$why"
	daemon_stop
}

sec_symlinks() {
	local why

	mkdir /srv/ls /srv/elsewhere && touch /srv/victim /srv/victim.img
	ln -s /srv/victim /srv/ls/to-file
	ln -s /srv/victim.new /srv/ls/dangling
	ln -s /srv /srv/ls/to-dir
	ln -s ../victim.img /srv/ls/relative
	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	rpc_lines "call 8 s:/srv/ls" | grep -v ' OK$'
	# Acquire and create refuse them; delete removes the link, not its target.
	why=$(refused_names to-file dangling to-dir relative | grep -v 'proc 5)')
	[ -e /srv/ls/to-file ] && why+="delete left the symlink to-file; "
	rmdir /srv/elsewhere
	why+=$(victims_intact)
	# A lockspace directory swapped for a symlink after its creation: the
	# daemon keeps the directory it opened.
	mv /srv/ls /srv/ls.old && mkdir /srv/elsewhere && ln -s /srv/elsewhere /srv/ls
	rpc_lines "call 6 s:/srv/ls s:new u:2" | grep -v ' OK$'
	[ -z "$(ls /srv/elsewhere)" ] || why+="the swapped-in symlink was followed; "
	[ -e /srv/ls.old/new ] || why+="the lock file is not in the directory the daemon opened; "
	echo "$why"
	daemon_stop
}

# The audit log's, the key's and the metrics' directories may be writable
# by others: symlinks planted at the names the daemon writes (the live log,
# the tip, a segment's and the metrics' and the key's temporary files) are
# never followed, so nobody makes root write or truncate another file.
sec_audit_symlinks() {
	local why="" f conf=/srv/audit.conf

	mkdir -p /srv/log /srv/metrics /srv/key /srv/img /srv/log2
	for f in tip gz prom key log; do echo precious >/srv/victim-$f; done
	ln -s /srv/victim-tip /srv/log/audit.jsonl.tip
	echo '{"seq":1}' >/srv/log/audit.jsonl.000000000001
	ln -s /srv/victim-gz /srv/log/audit.jsonl.000000000001.gz.tmp
	ln -s /srv/victim-prom /srv/metrics/lw.prom.tmp
	ln -s /srv/victim-key /srv/key/audit.key.tmp
	printf '%s\n' 'log_outputs = "3:stderr"' 'audit_log = "/srv/log/audit.jsonl"' \
		'audit_key = "/srv/key/audit.key"' 'metrics_file = "/srv/metrics/lw.prom"' \
		'metrics_interval = 1' >$conf
	daemon_start "$LOCKWARDEND" -f $conf || { echo "$DAEMON_ERR"; return; }
	rpc_lines "call 6 s: s:/srv/img/a u:2" | grep -v ' OK$'
	sleep 1.5
	daemon_stop
	for f in tip gz prom key; do
		[ "$(cat /srv/victim-$f)" = precious ] || why+="victim-$f was written through a symlink; "
	done
	[ -f /srv/metrics/lw.prom ] && [ ! -L /srv/metrics/lw.prom ] || why+="no metrics file; "
	grep -qx '[0-9a-f]\{64\}' /srv/key/audit.key || why+="no key made; "
	[ -f /srv/log/audit.jsonl.000000000001.gz ] || why+="the segment was not compressed; "
	grep -q '"event":"lock_acquire"' /srv/log/audit.jsonl || why+="no lock_acquire record; "
	# The live log itself a symlink: not followed; the locks are served.
	ln -s /srv/victim-log /srv/log2/audit.jsonl
	sed -i 's|/srv/log/|/srv/log2/|' $conf
	daemon_start "$LOCKWARDEND" -f $conf || { echo "$DAEMON_ERR"; return; }
	why+=$(rpc_lines "call 6 s: s:/srv/img/b u:2" | grep -v ' OK$')
	daemon_stop
	[ "$(cat /srv/victim-log)" = precious ] || why+="the live log was written through a symlink; "
	grep -q 'cannot open the audit log: Too many levels of symbolic links' "$DAEMON_LOG" ||
		why+="the daemon's log does not say the live log is a symlink; "
	echo "$why"
}

# String limits, and a connection that survives a string too long.
sec_string_limits() {
	local got

	daemon_start "$1" || { echo "$DAEMON_ERR"; return; }
	got=$(rpc_lines "call 8 s:/srv/ls
call 6 s:/srv/ls S:65536 u:2
call 6 s:/srv/ls S:65537 u:2
call 6 s:/srv/ls s:ok u:2" | cut -d' ' -f4-6)
	[ "$got" = "OK
ERROR code=38 domain=51
ERROR code=39 domain=7
OK" ] || echo "replies: $(echo "$got" | tr '\n' ';') (65536: a system error, 65537: cannot decode)"
	daemon_stop
}

# Frame lengths: the largest frame is served; one byte more, less than a
# header, or 4 GiB close the connection at once; others are still served.
sec_frame_limits() {
	local why="" len got

	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	got=$(rpc_lines "frame proc=1 S:262112
reply")
	[[ $got == "reply serial="* ]] || why+="a frame of 262144 bytes: '$got'; "
	for len in 262145 27 0 4294967295; do
		got=$(rpc_lines "frame proc=1 len=$len
closed")
		[ "$got" = closed ] || why+="length word $len: '$got'; "
	done
	why+=$(expect "then" "$(probe_as root)" "reply serial=0 proc=1 OK")
	echo "$why"
	daemon_stop
}

sec_client_limit() {
	local conf=$OUT/limit.conf got

	printf 'log_outputs = "3:stderr"\nmax_clients = 3\naudit_log = "%s"\n' \
		"$OUT/audit.jsonl" >"$conf"
	daemon_start "$1" -f "$conf" || { echo "$DAEMON_ERR"; return; }
	got=$(printf 'connect\nconnect\nconnect\nconnect\nuse 3\nframe proc=1 %s\n%s\n' \
		"${REG#call 1 }" "silence 1000
use 0
close
use 3
reply" | "$RPCPROBE" 2>&1)
	[ "$got" = "silence
reply serial=0 proc=1 OK" ] || echo "the 4th connection: $(echo "$got" | tr '\n' ';')" \
		"(expected: silence, then served once one of 3 closed)"
	daemon_stop
}

# A client writes 300000 calls and never reads: the daemon stops reading it
# at CLIENT_TX_HIGH of replies, so its RSS stays within a few MiB of what
# the same load without it took, and a load of 50 VMs meanwhile sees no
# error.
sec_reply_backlog() {
	local why rss0 rss1 pid

	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	# The same load first: the audit log's buffers reach their high-water
	# marks before the measure starts.
	"$LOADGEN" run -n 50 -k 4 -t 4 -c 2 -l /srv/ls >/dev/null 2>&1
	rss0=$(awk '/^VmRSS/ { print $2 }' /proc/$DAEMON_PID/status)
	{ echo connect; yes "frame proc=1 ${REG#call 1 }" | head -n 300000; } |
		timeout 20 "$RPCPROBE" >/dev/null 2>&1 &
	pid=$!
	why=$("$LOADGEN" run -n 50 -k 4 -t 4 -c 2 -l /srv/ls 2>&1 | grep -m1 '^error:')
	rss1=$(awk '/^VmRSS/ { print $2 }' /proc/$DAEMON_PID/status)
	# Not under SAN=1: ASan's quarantine holds on to freed memory.
	[ "${SAN:-0}" = 1 ] || [ $((rss1 - rss0)) -lt 8192 ] ||
		why+="RSS grew from $rss0 to $rss1 KiB; "
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "$why"
	daemon_stop
}

# 200 clients each write 1 MiB of calls whose replies are four times their
# size and never read: the daemon reads a client only while its queued
# replies are under CLIENT_TX_HIGH and no read is left unserved, so it grows
# by less than 192 KiB a client (about 100 measured; 1.7 MiB before).
sec_many_backlogs() {
	local rss0 rss1 n=200 pid

	daemon_start "$LOCKWARDEND" || { echo "$DAEMON_ERR"; return; }
	rss0=$(awk '/^VmRSS/ { print $2 }' /proc/$DAEMON_PID/status)
	coproc BACKLOG { python3 "$SELFTESTS/backlog.py" "$LOCKD_SOCK" "$n" 1048576; }
	pid=$BACKLOG_PID
	read -r -t 120 _ <&"${BACKLOG[0]}" || echo "the clients did not finish writing; "
	rss1=$(awk '/^VmRSS/ { print $2 }' /proc/$DAEMON_PID/status)
	echo >&"${BACKLOG[1]}"
	wait "$pid" 2>/dev/null
	[ "${SAN:-0}" = 1 ] || [ $((rss1 - rss0)) -lt $((n * 192)) ] ||
		echo "RSS grew from $rss0 to $rss1 KiB with $n clients not reading"
	proc_alive "$DAEMON_PID" || echo "the daemon died"
	daemon_stop
}

for t in "$RPCPROBE" "$LOADGEN"; do
	[ -x "$t" ] || { fail security "$t is missing (make)"; exit 0; }
done
add_users || { fail security "cannot create the test users"; exit 0; }
export RPCPROBE LOADGEN USER1 USER2 REG ADMIN_SOCK
export -f as probe_as expect rpc_lines refused_names victims_intact sec_sockets \
	sec_peer_creds_system sec_peer_creds_session sec_names sec_symlinks sec_audit_symlinks \
	sec_string_limits sec_frame_limits sec_client_limit sec_reply_backlog sec_many_backlogs
for d in "${DAEMONS[@]}"; do
	name=${d%%=*}
	bin=${d#*=}
	result "security/$name/sockets" "$(fresh_ns sec_sockets "$bin")"
	result "security/$name/peer-creds-system" "$(fresh_ns sec_peer_creds_system "$bin")"
	result "security/$name/peer-creds-session" "$(fresh_ns sec_peer_creds_session "$bin")"
	result "security/$name/string-limits" "$(fresh_ns sec_string_limits "$bin")"
	result "security/$name/client-limit" "$(fresh_ns sec_client_limit "$bin")"
done
result security/lockwardend/names "$(fresh_ns sec_names)"
result security/lockwardend/symlinks "$(fresh_ns sec_symlinks)"
result security/lockwardend/audit-symlinks "$(fresh_ns sec_audit_symlinks)"
result security/lockwardend/frame-limits "$(fresh_ns sec_frame_limits)"
result security/lockwardend/reply-backlog "$(fresh_ns sec_reply_backlog)"
result security/lockwardend/many-backlogs "$(fresh_ns sec_many_backlogs)"
exit 0
