#!/usr/bin/env bash
# Every lockwardenctl verb against a daemon where VM A holds a.img and,
# shared with VM B, b.img: status, locks, clients, violations (an intruder
# writes a.img), test-alert, reexec, and its errors.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/audit_lib.sh"

# py EXPR: evaluate EXPR with `d` the JSON on stdin; prints why not true.
py() {
	python3 -c 'import json, sys
d = json.load(sys.stdin)
if not eval("(" + sys.argv[1] + ")"):
    print("not true:", sys.argv[1], "in", json.dumps(d)[:400])' "$1" 2>&1 | tail -n 1
}

setup() {
	lw_start || { echo "$DAEMON_ERR"; return 1; }
	"$HARNESS" >"$OUT/vms.out" 2>&1 <<-EOF &
		image /srv/img/a.img /srv/img/b.img
		start A disk=/srv/img/a.img disk=/srv/img/b.img:shared
		start B disk=/srv/img/b.img:shared
		sleep 20
	EOF
	VMS=$!
	wait_for 50 grep -qs 'start B: ok' "$OUT/vms.out" || { cat "$OUT/vms.out"; return 1; }
}

ctl_status() {
	local out

	out=$("$CTL" status) || { echo "status failed"; return; }
	grep -q '^version: 0.1.0$' <<<"$out" || echo "no version line"
	grep -q "^  lock: $LOCKD_SOCK\$" <<<"$out" || echo "no lock socket line"
	grep -q '^  held: 2$' <<<"$out" || echo "locks held is not 2"
	grep -q '^  policy: ' <<<"$out" || echo "no guard policy"
	"$CTL" -j status | py 'd["clients"]["lock"] == 2 and d["audit"]["writable"] and
		"monitors" in d["guard"] and d["uptime_seconds"] >= 0 and d["pid"] > 0'
}

ctl_locks() {
	local out

	out=$("$CTL" locks) || { echo "locks failed"; return; }
	grep -Eq '^/srv/img/a.img +- +exclusive +[0-9]+ A$' <<<"$out" || echo "a.img row wrong: $out"
	grep -Eq '^/srv/img/b.img +- +shared +[0-9]+ [AB] [0-9]+ [AB]$' <<<"$out" || echo "b.img row wrong: $out"
	"$CTL" -j locks | py 'sorted((l["resource"], l["mode"], sorted(o["vm_name"] for o in l["owners"]))
		for l in d) == [("/srv/img/a.img", "exclusive", ["A"]), ("/srv/img/b.img", "shared", ["A", "B"])]'
}

ctl_clients() {
	"$CTL" clients | grep -Eq '^ +[0-9]+ lock +[0-9]+ +0 .* [0-9]+ A \(restricted\)$' ||
		echo "no row for VM A: $("$CTL" clients)"
	"$CTL" -j clients | py 'sorted(c.get("vm_name") for c in d if c["socket"] == "lock") == ["A", "B"]
		and any(c["socket"] == "admin" for c in d)'
}

monitors_running() {
	"$CTL" -j status | python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(not any(m.get("state") in ("attached", "active")
		 for m in d["guard"].get("monitors", {}).values()))'
}

# An intruder writes a.img: the daemon lists it, newest kept, --since, --limit.
ctl_violations() {
	local future

	dd if=/dev/zero of=/srv/img/a.img bs=512 count=1 conv=notrunc 2>/dev/null
	wait_for 30 eval '"$CTL" violations | grep -q " dd "' ||
		{ echo "no violation by dd listed: $("$CTL" violations)"; return; }
	"$CTL" violations | grep -Eq ' violation +critical +[0-9]+ dd +A +/srv/img/a.img$' ||
		echo "dd's row is wrong: $("$CTL" violations | grep ' dd ')"
	"$CTL" -j violations --since 1h | py 'any(v["comm"] == "dd" and v["vm_name"] == "A" for v in d)'
	future=$(($(date +%s) + 3600))
	"$CTL" -j violations --since "@$future" | py 'd == []'
	"$CTL" -j violations --limit 1 | py 'len(d) == 1'
}

ctl_test_alert() {
	[ "$("$CTL" test-alert)" = "test-alert: done" ] || echo "test-alert did not say done"
	wait_for 30 has_event alert_test || echo "no alert_test record"
	[ "$(status_field alerts.raised)" -ge 1 ] || echo "no alert counted"
}

ctl_reexec() {
	local pid=$DAEMON_PID

	[ "$("$CTL" reexec)" = "reexec: done" ] || echo "reexec did not say done"
	wait_for 50 has_event reexec || echo "no reexec record"
	wait_for 50 eval '[ "$("$AUDITCMD" -l "$AUDIT" -j -e daemon_start | wc -l)" -eq 2 ]' ||
		echo "the new image did not start"
	proc_alive "$pid" || echo "the daemon is gone"
	"$CTL" -j locks | py 'len(d) == 2' | sed 's/^/after re-exec: /'
}

ctl_errors() {
	local out rc

	out=$("$CTL" bogus 2>&1)
	rc=$?
	[ $rc -eq 2 ] && grep -q "unknown command 'bogus'" <<<"$out" || echo "bogus: $rc $out"
	out=$("$CTL" locks extra 2>&1)
	[ $? -eq 2 ] && grep -q "locks takes no arguments" <<<"$out" || echo "locks extra: $out"
	out=$("$CTL" violations --since yesterday 2>&1)
	[ $? -eq 2 ] && grep -q "invalid time 'yesterday'" <<<"$out" || echo "bad time: $out"
	out=$("$CTL" -s /nonexistent status 2>&1)
	[ $? -eq 1 ] && grep -q "cannot connect to /nonexistent" <<<"$out" || echo "no socket: $out"
	# The lock socket does not speak our program: a clear error, not a hang.
	out=$("$CTL" -s "$LOCKD_SOCK" status 2>&1)
	[ $? -eq 1 ] && grep -q "Cannot find program" <<<"$out" || echo "lock socket: $out"
}

# Malformed calls to both admin programs get libvirt's error replies.
ctl_bad_rpc() {
	local out

	out=$(printf '%s\n' "connect /run/libvirt/virtlockd-admin-sock" \
		"frame prog=0x06900690 vers=1 proc=5 type=0 serial=1 status=0 raw:000000" reply \
		"frame prog=0x4C574144 vers=1 proc=4 type=0 serial=2 status=0 u:1" reply \
		"frame prog=0x4C574144 vers=1 proc=99 type=0 serial=3 status=0" reply \
		"frame prog=0x06900690 vers=1 proc=1 type=0 serial=4 status=0 u:7" reply | "$PROBE")
	grep -q '^reply serial=1 proc=5 ERROR code=39 .*message=Unable to decode message payload' \
		<<<"$out" || echo "short lookup-server: $out"
	grep -q '^reply serial=2 proc=4 ERROR code=39 .*Unable to decode' <<<"$out" ||
		echo "short violations call: $out"
	grep -q '^reply serial=3 proc=99 ERROR code=39 .*unknown procedure: 99' <<<"$out" ||
		echo "unknown procedure: $out"
	grep -q '^reply serial=4 proc=1 ERROR code=8 .*unsupported flags (0x7) in function adminDispatchConnectOpen' \
		<<<"$out" || echo "bad flags: $out"
}

# SET_THREADPOOL_PARAMETERS whose parameter name fails to decode, as the
# first and as the second of two: an error reply each, the daemon serving on
# and the leases held (a double free there once cost every lock).
ctl_bad_params() {
	local out

	out=$(printf '%s\n' "connect /run/libvirt/virtlockd-admin-sock" \
		"frame prog=0x06900690 vers=1 proc=7 type=0 serial=1 status=0 s:virtlockd u:1 u:4294967295" reply \
		"frame prog=0x06900690 vers=1 proc=7 type=0 serial=2 status=0 s:virtlockd u:2 s:minWorkers u:2 u:0 u:4294967295" reply \
		"frame prog=0x06900690 vers=1 proc=7 type=0 serial=3 status=0 s:virtlockd u:2 s:minWorkers u:2 u:0 s:bogus u:2 u:0 u:0" reply |
		"$PROBE")
	grep -q '^reply serial=1 proc=7 ERROR code=39 .*Unable to decode' <<<"$out" ||
		echo "bad first name: $out"
	grep -q '^reply serial=2 proc=7 ERROR code=39 .*Unable to decode' <<<"$out" ||
		echo "bad second name: $out"
	grep -q "^reply serial=3 proc=7 ERROR code=8 .*parameter 'bogus' not supported" <<<"$out" ||
		echo "unknown name: $out"
	proc_alive "$DAEMON_PID" || { echo "daemon $DAEMON_PID died"; return; }
	"$CTL" status | grep -q '^  held: 2$' || echo "leases not held after the calls"
}

if ! setup >"$OUT/setup.why" 2>&1; then
	fail ctl/setup "$(tr '\n' ' ' <"$OUT/setup.why")"
	exit 0
fi
check ctl/status ctl_status
check ctl/locks ctl_locks
check ctl/clients ctl_clients
if monitors_running; then
	check ctl/violations ctl_violations
else
	skip ctl/violations "no guard monitor runs here"
fi
check ctl/test-alert ctl_test_alert
check ctl/reexec ctl_reexec
check ctl/errors ctl_errors
check ctl/bad-rpc ctl_bad_rpc
check ctl/bad-threadpool-params ctl_bad_params
kill "$VMS" 2>/dev/null
daemon_stop
exit 0
