#!/usr/bin/env bash
# Hostile and malformed input over a raw socket: each gets an error reply
# or a closed connection, and the daemon keeps serving everyone else with
# their locks held. The well-formed-but-wrong cases are also run against
# virtlockd: both must answer byte for byte alike.
source "$(dirname "$0")/lib.sh"

PROBE=$BUILD/selftests/rpcprobe
REG="call 1 uuid:00112233445566778899aabbccddeeff s:probe u:1 u:4000001 u:0"

# badinput NAME SCRIPT WANT: SCRIPT on a fresh connection must print WANT;
# a VM holding a disk on another connection must be unaffected.
check_input() {
	local script=$1 want=$2 got

	got=$(printf 'connect\n%s\n' "$script" | "$PROBE" 2>&1)
	[ "$got" = "$want" ] || echo "probe said '$(echo "$got" | tr '\n' ';' | cut -c1-300)'"
	vm_expect "start X: error: resource busy: Lockspace resource '/srv/img/a.img' is locked" \
		start X disk=/srv/img/a.img
	vm_expect "alive A: yes" alive A
}

with_holder() {
	local bin=$1
	shift

	daemon_start "$bin" || { echo "$DAEMON_ERR"; return; }
	harness_open
	vm_expect "image: ok" image /srv/img/a.img /srv/img/b.img
	vm_expect "start A: ok" start A disk=/srv/img/a.img
	check_input "$@"
	vm_expect "start B: ok" start B disk=/srv/img/b.img
	proc_alive "$DAEMON_PID" || echo "the daemon died"
}

E_RPC="ERROR code=39 domain=7"
DECODE="$E_RPC message=Unable to decode message payload str1=%s str2=Unable to decode message payload int1=-1 int2=-1"

# name|script|expected output (lines joined by ';' in the table)
CASES=(
"short-length|frame len=10;closed|closed"
"huge-length|frame len=40000000;closed|closed"
"over-frame-limit|frame len=300000;closed|closed"
"length-with-no-header|frame len=20 cut=20;closed|closed"
"truncated-body|frame proc=6 cut=30 s: s:/srv/img/a.img u:0;silence 300;close|silence"
"unknown-program|frame prog=0x12345 proc=1;reply|reply serial=0 proc=1 $E_RPC message=Cannot find program 74565 version 1 str1=%s str2=Cannot find program 74565 version 1 int1=-1 int2=-1"
"unknown-version|frame vers=7 proc=1;reply|reply serial=0 proc=1 $E_RPC message=Cannot find program 245874415 version 7 str1=%s str2=Cannot find program 245874415 version 7 int1=-1 int2=-1"
"unknown-procedure|call 99 u:0|reply serial=0 proc=99 $E_RPC message=unknown procedure: 99 str1=%s str2=unknown procedure: 99 int1=-1 int2=-1"
"negative-procedure|call -5 u:0|reply serial=0 proc=-5 $E_RPC message=unknown procedure: -5 str1=%s str2=unknown procedure: -5 int1=-1 int2=-1"
"string-over-65536|$REG;call 6 s: S:65537 u:0|reply serial=0 proc=1 OK;reply serial=1 proc=6 $DECODE"
"string-length-2G|$REG;call 6 raw:00000000 raw:80000000 raw:41414141|reply serial=0 proc=1 OK;reply serial=1 proc=6 $DECODE"
"garbage-xdr|call 1 raw:deadbeefdeadbeef|reply serial=0 proc=1 $DECODE"
"empty-body|call 6|reply serial=0 proc=6 $DECODE"
"reply-type|frame type=1 proc=1;silence 300|silence"
"stream-type|frame type=3 proc=1;silence 300|silence"
"bad-status|frame proc=6 status=2 s: s:/x u:0;reply|reply serial=0 proc=6 $E_RPC message=Unexpected message status 2 str1=%s str2=Unexpected message status 2 int1=-1 int2=-1"
"flood-10000|flood 10000 99 u:0|flood 10000: 0 ok, 10000 errors, 0 missing"
"release-not-held|$REG;call 7 s: s:/srv/img/a.img u:0|reply serial=0 proc=1 OK;reply serial=1 proc=7 ERROR code=1 domain=51 message=internal error: owner 4000001 does not hold the resource lock str1=internal error: %s str2=owner 4000001 does not hold the resource lock int1=-1 int2=-1"
)

# Cases where lockwardend is stricter than virtlockd by design.
STRICTER="over-frame-limit"

export -f check_input with_holder
export PROBE REG

for c in "${CASES[@]}"; do
	IFS='|' read -r name script want <<<"$c"
	script=${script//;/$'\n'}
	want=${want//;/$'\n'}
	result "badinput/lockwardend/$name" "$(fresh_ns with_holder "$LOCKWARDEND" "$script" "$want")"
	[[ " $STRICTER " == *" $name "* ]] && continue
	result "badinput/virtlockd/$name" "$(fresh_ns with_holder "$VIRTLOCKD" "$script" "$want")"
done
exit 0
