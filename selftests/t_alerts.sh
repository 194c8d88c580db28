#!/usr/bin/env bash
# Alerts and metrics: a critical event goes to syslog at LOG_ALERT at once
# and to the hook command as JSON on its stdin; a hook that hangs stalls
# nothing and is killed; hook runs are rate-limited; failures are counted;
# the Prometheus metrics file says what happened.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/audit_lib.sh"

HOOKS=$OUT/hooks
mkdir -p "$HOOKS"

# A /dev of our own (this test's mount namespace) with /dev/log a socket
# we read: syslog(3) writes there. Lines go to $SYSLOG.
SYSLOG=$OUT/syslog.txt
private_syslog() {
	local real=$OUT/realdev n

	mkdir -p "$real"
	mount --bind /dev "$real" && mount -t tmpfs lw-dev /dev || return 1
	for n in null zero full random urandom tty; do
		[ -e "$real/$n" ] || continue
		touch "/dev/$n" && mount --bind "$real/$n" "/dev/$n"
	done
	ln -s /proc/self/fd /dev/fd
	: >"$SYSLOG"
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
out = open(sys.argv[1], "ab", 0)
print("ready", flush=True)
while True:
    out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")' "$SYSLOG" >"$OUT/syslogd.out" &
	TRACKED_PIDS+=($!)
	disown $!
	wait_for 50 grep -qs ready "$OUT/syslogd.out"
}

# hook NAME BODY: an executable hook script.
hook() {
	printf '#!/bin/sh\n%s\n' "$2" >"$HOOKS/$1"
	chmod +x "$HOOKS/$1"
	echo "$HOOKS/$1"
}

test_alert() {
	"$CTL" test-alert >/dev/null || echo "lockwardenctl test-alert failed"
}

# The JSON the hook got is the alert: event, severity, message.
alert_to_syslog_and_hook() {
	private_syslog || { echo "cannot set up a private /dev/log"; return; }
	lw_start "alert_hook = \"$(hook save 'cat >"'"$HOOKS"'/alert.$$.json"')\"" ||
		{ echo "$DAEMON_ERR"; return; }
	test_alert
	wait_for 30 grep -qs 'lockwarden alert: alert_test' "$SYSLOG" ||
		echo "nothing in syslog: $(head -c 300 "$SYSLOG")"
	grep -Eq '^<25>.* lockwardend(\[[0-9]+\])?: lockwarden alert: alert_test: a test alert' "$SYSLOG" ||
		echo "not at LOG_ALERT|LOG_DAEMON (<25>) from lockwardend: $(head -n 1 "$SYSLOG")"
	wait_for 30 eval 'ls "$HOOKS"/alert.*.json >/dev/null 2>&1' || echo "the hook never ran"
	sleep 0.2
	python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))
assert a["event"] == "alert_test" and a["severity"] == "critical" and "message" in a, a' \
		"$(ls "$HOOKS"/alert.*.json | head -n 1)" 2>&1 | tail -n 1
	[ "$(status_field alerts.hook_runs)" = 1 ] || echo "hook_runs is not 1"
	[ "$(status_field alerts.hook_failures)" = 0 ] || echo "hook_failures is not 0"
	daemon_stop
	has_event alert_test || echo "no alert_test record in the audit log"
}

ms_now() {
	echo $(($(date +%s%N) / 1000000))
}

# Hooks that never read their stdin and never exit: locks are served as
# fast as ever, and each hook (with its children) is killed at the timeout.
hanging_hook() {
	local t0 ms

	lw_start "alert_hook = \"$(hook hang 'sleep 1000')\"" 'alert_hook_timeout = 2' ||
		{ echo "$DAEMON_ERR"; return; }
	test_alert
	test_alert
	test_alert
	t0=$(ms_now)
	lock_cycles 50
	ms=$(($(ms_now) - t0))
	[ "$ms" -lt 1500 ] || echo "50 lock cycles took $ms ms with hooks hanging"
	[ "$(status_field alerts.hooks_running)" = 3 ] ||
		echo "$(status_field alerts.hooks_running) hooks running, not 3"
	wait_for 50 eval '[ "$(status_field alerts.hooks_running)" = 0 ]' ||
		echo "the hooks were not killed"
	[ "$(status_field alerts.hook_timeouts)" = 3 ] || echo "hook_timeouts is not 3"
	[ "$(status_field alerts.hook_failures)" = 3 ] || echo "hook_failures is not 3"
	pgrep -f 'sleep 1000' >/dev/null && echo "a hook's child survived"
	grep -q "killed after running for 2 s" "$DAEMON_LOG" || echo "the daemon's log does not say so"
	daemon_stop
}

# At most alert_hook_max_per_minute runs; every alert still in syslog and the log.
rate_limit() {
	local i

	lw_start "alert_hook = \"$(hook ok 'cat >/dev/null')\"" 'alert_hook_max_per_minute = 2' ||
		{ echo "$DAEMON_ERR"; return; }
	for i in 1 2 3 4 5; do
		test_alert
	done
	[ "$(status_field alerts.raised)" = 5 ] || echo "raised is not 5"
	[ "$(status_field alerts.hook_runs)" = 2 ] || echo "hook_runs is $(status_field alerts.hook_runs), not 2"
	[ "$(status_field alerts.hook_dropped)" = 3 ] || echo "hook_dropped is not 3"
	daemon_stop
	[ "$("$AUDITCMD" -l "$AUDIT" -j -e alert_test | wc -l)" = 5 ] || echo "not 5 alert_test records"
}

failing_hook() {
	lw_start "alert_hook = \"$(hook fail 'cat >/dev/null; exit 3')\"" ||
		{ echo "$DAEMON_ERR"; return; }
	test_alert
	wait_for 30 eval '[ "$(status_field alerts.hook_failures)" = 1 ]' || echo "no hook failure counted"
	grep -q "failed with exit status 3" "$DAEMON_LOG" || echo "the daemon's log does not say so"
	daemon_stop
}

# metric NAME: its value in the metrics file.
metric() {
	awk -v m="$1" '$1 == m { print $2 }' "$OUT/lw.prom"
}

# Metrics that match what happened: a VM holding two disks, three alerts
# with the hook allowed twice, and the audit log as it is on disk.
metrics_match() {
	local hold

	lw_start "metrics_file = \"$OUT/lw.prom\"" 'metrics_interval = 1' \
		"alert_hook = \"$(hook ok 'cat >/dev/null')\"" 'alert_hook_max_per_minute = 2' ||
		{ echo "$DAEMON_ERR"; return; }
	"$HARNESS" >"$OUT/hold.out" 2>&1 <<-EOF &
		image /srv/img/a.img /srv/img/b.img
		start A disk=/srv/img/a.img disk=/srv/img/b.img
		sleep 6
	EOF
	hold=$!
	test_alert
	test_alert
	test_alert
	wait_for 30 grep -qs 'start A: ok' "$OUT/hold.out" || echo "the VM did not start"
	# Quiet for two intervals: the file must then say exactly this.
	sleep 2.5
	[ "$(metric lockwarden_locks_held)" = 2 ] || echo "locks_held $(metric lockwarden_locks_held)"
	[ "$(metric 'lockwarden_clients{socket="lock"}')" = 1 ] || echo "lock clients not 1"
	[ "$(metric lockwarden_alerts_total)" = 3 ] || echo "alerts_total $(metric lockwarden_alerts_total)"
	[ "$(metric lockwarden_alert_hook_runs_total)" = 2 ] || echo "hook runs not 2"
	[ "$(metric lockwarden_alert_hook_dropped_total)" = 1 ] || echo "hook dropped not 1"
	[ "$(metric lockwarden_audit_last_seq)" = "$(last_seq)" ] ||
		echo "audit_last_seq $(metric lockwarden_audit_last_seq), the log ends at $(last_seq)"
	[ "$(metric lockwarden_audit_records_total)" = "$(last_seq)" ] ||
		echo "audit_records_total $(metric lockwarden_audit_records_total), the log has $(last_seq)"
	[ "$(metric lockwarden_audit_writable)" = 1 ] || echo "audit_writable not 1"
	[ "$(metric 'lockwarden_violations_total{severity="critical"}')" = 0 ] ||
		echo "critical violations counted"
	grep -q '^lockwarden_info{version="' "$OUT/lw.prom" || echo "no lockwarden_info"
	awk '/^lockwarden_/ { sub(/[{ ].*/, "", $1); seen[$1] = 1 }
		/^# TYPE / { typed[$3] = 1 }
		END { for (m in seen) if (!typed[m]) print m " has no TYPE" }' "$OUT/lw.prom"
	wait "$hold"
	wait_for 50 eval '[ "$(metric lockwarden_locks_held)" = 0 ]' ||
		echo "locks_held stays $(metric lockwarden_locks_held) after the VM is gone"
	daemon_stop
	[ ! -e "$OUT/lw.prom.tmp" ] || echo "the temporary file is left behind"
}

check alert/syslog-and-hook alert_to_syslog_and_hook
check alert/hanging-hook hanging_hook
check alert/rate-limit rate_limit
check alert/failing-hook failing_hook
check metrics/match metrics_match
exit 0
