#!/usr/bin/env bash
# make bench: figures, measured side by side in one run, as ratios.
# Not tests: nothing here passes or fails. Each section runs its daemons in
# a private mount namespace (tmpfs /run and /srv), one daemon at a time.
#
#   BUILD=... selftests/bench.sh [SECTION...]   (default: all)
#   env: BENCH_SECONDS per measurement (5)
set -u

if [ -z "${BENCH_NS:-}" ]; then
	exec unshare -m -- env BENCH_NS=1 bash -c 'mount -t tmpfs lw-run /run &&
		mount -t tmpfs lw-srv /srv && exec bash "$0" "$@"' "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

SECONDS_EACH=${BENCH_SECONDS:-5}
T=$BUILD/selftests
CONF=$OUT/bench.conf
printf 'audit_log = "%s/audit.jsonl"\nmax_clients = 4096\nlog_outputs = "3:stderr"\n' \
	"$OUT" >"$CONF"

# A daemon of NAME (null, lockwardend, virtlockd) serving the lock socket.
bench_start() {
	rm -f "$LOCKD_SOCK"
	case $1 in
	null)
		"$T/nullresponder" >"$OUT/null.log" 2>&1 &
		DAEMON_PID=$!
		TRACKED_PIDS+=("$DAEMON_PID")
		wait_listening "$DAEMON_PID"
		;;
	lockwardend) daemon_start "$LOCKWARDEND" -f "$CONF" ;;
	lockwardend-nomon)
		{ cat "$CONF"; echo 'guard_monitors = []'; } >"$OUT/nomon.conf"
		daemon_start "$LOCKWARDEND" -f "$OUT/nomon.conf" ;;
	virtlockd) daemon_start "$VIRTLOCKD" -f "$CONF" ;;
	esac
}

bench_stop() {
	daemon_stop "$DAEMON_PID" >/dev/null 2>&1
	rm -rf /srv/bench /srv/lockspace
}

field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

# Full VM lock cycles through lockd.so: connect, register, acquire 2 disks,
# (close), connect, register, release 2 disks, close. lockwardend-nomon is
# lockwardend with its kernel monitors off: the lock service and its audit
# trail alone.
section_cycles() {
	local d j out
	local daemons=(null lockwardend lockwardend-nomon virtlockd)
	declare -A rate cpu

	echo "== lock cycles through lockd.so (${SECONDS_EACH}s each)"
	for j in 1 32; do
		for d in "${daemons[@]}"; do
			bench_start $d || { echo "$d: $DAEMON_ERR"; continue; }
			out=$("$T/lockbench" -t "$SECONDS_EACH" -j $j -P "$DAEMON_PID")
			rate[$d.$j]=$(field "$out" cycles_per_s)
			cpu[$d.$j]=$(field "$out" daemon_cpu_us_per_cycle)
			bench_stop
		done
		printf '%-3s VMs: %-18s %9s %s\n' $j daemon cycles/s "of ceiling   daemon CPU us/cycle"
		for d in "${daemons[@]}"; do
			printf '         %-18s %9s %10s   %s\n' $d "${rate[$d.$j]:-}" \
				"$(ratio "${rate[$d.$j]:-0}" "${rate[null.$j]:-0}")" "${cpu[$d.$j]:-}"
		done
		printf '         CPU per cycle / virtlockd: lockwardend %s, lockwardend-nomon %s\n' \
			"$(ratio "${cpu[lockwardend.$j]:-0}" "${cpu[virtlockd.$j]:-0}")" \
			"$(ratio "${cpu[lockwardend-nomon.$j]:-0}" "${cpu[virtlockd.$j]:-0}")"
	done
}

rss_kib() {
	awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

# Memory per held lock: RSS with 1000 VMs x 10 disks held, minus idle RSS.
section_memory() {
	local d before after
	declare -A per

	echo "== memory per held lock (1000 VMs x 10 disks)"
	for d in lockwardend virtlockd; do
		bench_start $d || { echo "$d: $DAEMON_ERR"; continue; }
		before=$(rss_kib "$DAEMON_PID")
		hold_locks 1000 10 || { bench_stop; continue; }
		after=$(rss_kib "$DAEMON_PID")
		release_locks
		per[$d]=$(((after - before) * 1024 / 10000))
		printf '  %-12s idle %6s KiB, holding %6s KiB: %5s bytes per lock\n' $d "$before" \
			"$after" "${per[$d]}"
		bench_stop
	done
	printf '  lockwardend / virtlockd: %s\n' "$(ratio "${per[lockwardend]:-0}" "${per[virtlockd]:-0}")"
}

# hold_locks VMS DISKS: loadgen holds them (in /srv/lockspace) until release_locks.
hold_locks() {
	local line

	coproc HOLD { "$T/loadgen" hold -n "$1" -k "$2" -p "$DAEMON_PID" -r 2>"$OUT/hold.err"; }
	while read -r -t 120 line <&"${HOLD[0]}"; do
		[ "$line" = held ] && return 0
	done
	echo "loadgen hold failed: $(tail -n 2 "$OUT/hold.err" | tr '\n' ' ')"
	return 1
}

release_locks() {
	local pid=$HOLD_PID

	eval "exec ${HOLD[1]}>&-"
	wait "$pid" 2>/dev/null
}

# Live upgrade pause: SIGUSR1 until a request is answered again, with
# 10000 locks held by 1000 clients.
section_reexec() {
	local d p
	declare -A pause

	echo "== re-exec pause (10000 locks, 1000 clients)"
	mkdir -p "$OUT/bin"
	for d in lockwardend virtlockd; do
		ln -sfn "$([ $d = lockwardend ] && echo "$LOCKWARDEND" || echo "$VIRTLOCKD")" \
			"$OUT/bin/$d"
		daemon_start "$OUT/bin/$d" -f "$CONF" || { echo "$d: $DAEMON_ERR"; continue; }
		hold_locks 1000 10 || { bench_stop; continue; }
		for p in 1 2 3; do
			# registered first: virtlockd cannot save an unregistered
			# client's state and exits, dropping every lock
			pause[$d.$p]=$(printf 'connect\n%s\nupgrade %s 8 s:/srv/lockspace\n' \
				"call 1 uuid:00112233445566778899aabbccddeeff s:probe u:1 u:4000001 u:0" \
				"$DAEMON_PID" | "$T/rpcprobe" | sed -n 's/^pause_ms=//p')
			sleep 1
		done
		release_locks
		printf '  %-12s %s ms, %s ms, %s ms\n' $d "${pause[$d.1]:-}" "${pause[$d.2]:-}" \
			"${pause[$d.3]:-}"
		bench_stop
	done
	printf '  lockwardend / virtlockd (first): %s\n' \
		"$(ratio "${pause[lockwardend.1]:-0}" "${pause[virtlockd.1]:-0}")"
}

# The load test's workload as a figure: 1000 VMs with 4 disks each
# acquiring and releasing over their own connections (loadgen, the lock
# protocol directly), throughput and latency percentiles, per daemon.
section_load() {
	local d out
	declare -A ops p99

	echo "== load: 1000 VMs x 4 disks acquiring and releasing (${SECONDS_EACH}s x 4 each)"
	for d in lockwardend virtlockd; do
		bench_start $d || { echo "  $d: $DAEMON_ERR"; continue; }
		out=$("$T/loadgen" run -n 1000 -k 4 -t $((SECONDS_EACH * 4)) -c $((SECONDS_EACH * 4)) \
			-p "$DAEMON_PID" 2>&1)
		ops[$d]=$(echo "$out" | grep -o 'ops_per_s=[0-9]*' | cut -d= -f2)
		p99[$d]=$(echo "$out" | grep -o ' p99=[0-9]*' | cut -d= -f2)
		printf '  %-12s %8s requests/s  %s\n' $d "${ops[$d]:--}" \
			"$(echo "$out" | grep '^latency_us' || echo "$out" | tail -n 1)"
		bench_stop
	done
	printf '  lockwardend / virtlockd: throughput %s, p99 latency %s\n' \
		"$(ratio "${ops[lockwardend]:-0}" "${ops[virtlockd]:-0}")" \
		"$(ratio "${p99[lockwardend]:-0}" "${p99[virtlockd]:-0}")"
}

# The hand-written xdr.c and hashmap.c against libtirpc and glib.
section_libs() {
	echo "== hand-written pieces against the libraries (ours / library)"
	"$T/libbench"
}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(cycles memory reexec load libs)
for s in "${sections[@]}"; do
	"section_$s"
done
for f in "$SELFTESTS"/bench_*.sh; do
	[ -f "$f" ] && [ $# -eq 0 ] && source "$f"
done
exit 0
