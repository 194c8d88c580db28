#!/usr/bin/env bash
# Load.  loadgen: 1000 VMs with 4 disks each in an indirect lockspace (4000
# lock files live), acquiring and releasing through the lock protocol for
# LOAD_SECONDS (60), while some VMs try to take disks others hold; every
# 10 s the VMs pause holding every disk and each lock file is probed with
# F_OFD_GETLK from another process.  Fails on any error but "busy" for
# those tries, any lost or doubled lock, or RSS growth of more than 2 MiB
# from the third pause (30 s: the audit log has rotated several times and
# its queue seen its high-water mark) to the last (not judged under SAN=1:
# ASan's quarantine grows by design).
# Then a smaller run end to end through libvirt's lockd.so (vmharness),
# whose transcript must be virtlockd's.
source "$(dirname "$0")/lib.sh"

LOADGEN=$BUILD/selftests/loadgen
seconds=${LOAD_SECONDS:-60}

# figure KEY FILE: the value of KEY=VALUE in loadgen's output.
figure() {
	grep -o "\b$1=[^ ]*" "$2" | head -n 1 | cut -d= -f2
}

load_protocol() {
	local out=$OUT/load.out growth=2048

	[ "${SAN:-0}" = 1 ] && growth=1000000000
	daemon_start "$LOCKWARDEND" || { fail load/protocol "$DAEMON_ERR"; return; }
	"$LOADGEN" run -n 1000 -k 4 -t "$seconds" -c 10 -w 3 -p "$DAEMON_PID" -m "$growth" \
		>"$out" 2>&1
	rc=$?
	cat "$out"
	if [ $rc -ne 0 ]; then
		fail load/protocol "$(grep -m1 '^error:' "$out" || tail -n 1 "$out")"
	elif ! proc_alive "$DAEMON_PID"; then
		fail load/protocol "the daemon died"
	else
		pass "load/protocol ($(figure ops_per_s "$out") requests/s, p99 $(($(figure p99 \
			"$out") / 1000)) ms, RSS $(printf %+d "$(figure rss_growth_kb "$out")") KiB after warm-up)"
	fi
	daemon_stop || fail load/protocol-stop "daemon exited with status $? on SIGTERM"
}

# ROUNDS rounds of 100 VMs, 4 disks each, started and stopped together.
harness_script() {
	echo "plugin file_lockspace_dir=/srv/lockspace"
	for ((r = 1; r <= $1; r++)); do
		echo "parallel 100 start r${r}vm%d disk=/srv/img/%d-a.img disk=/srv/img/%d-b.img" \
			"disk=/srv/img/%d-c.img disk=/srv/img/%d-d.img"
		echo "parallel 100 start late${r}vm%d disk=/srv/img/%d-c.img"
		echo "parallel 100 kill late${r}vm%d"
		echo "parallel 100 stop r${r}vm%d"
	done
	echo "ls /srv/lockspace"
}

load_lockd() {
	local scn=$OUT/lockd.scn outs=() d name bin out

	harness_script 5 >"$scn"
	for d in "${DAEMONS[@]}"; do
		name=${d%%=*}
		bin=${d#*=}
		out=$OUT/lockd.$name.out
		outs+=("$out")
		SECONDS=0
		if scenario_run "$scn" "$out" "$bin"; then
			pass "load/lockd.so/$name (500 VM starts, 2000 disks, ${SECONDS}s)"
		else
			fail "load/lockd.so/$name" "run failed: $(tail -n 1 "$out.err")"
		fi
	done
	result load/lockd.so/differential "$(differs "${outs[@]}")"
}

if [ ! -x "$LOADGEN" ] || [ ! -x "$HARNESS" ]; then
	fail load "$LOADGEN or $HARNESS is missing (make)"
	exit 0
fi
load_protocol
load_lockd
exit 0
