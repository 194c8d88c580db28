#!/usr/bin/env bash
# make bench: figures, measured side by side in one run, as ratios.
# Not tests: nothing here passes or fails. Each section runs its daemons in
# a private mount namespace (tmpfs /run and /srv), one daemon at a time.
#
#   BUILD=... selftests/bench.sh [SECTION...]   (default: all)
#   env: BENCH_SECONDS per measurement (5)
#        LOCKWARDEND_BASE a baseline lockwardend (make bench BASE=<rev>): the
#        daemon sections measure it too, in turn with ours, and print
#        after / before
#        BENCH_ROUNDS how many times each daemon section measures every
#        daemon, in turn, keeping the best (1; 3 with a baseline)
set -u

if [ -z "${BENCH_NS:-}" ]; then
	exec unshare -m -- env BENCH_NS=1 bash -c 'mount -t tmpfs lw-run /run &&
		mount -t tmpfs lw-srv /srv && exec bash "$0" "$@"' "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

SECONDS_EACH=${BENCH_SECONDS:-5}
LOCKWARDEND_BASE=${LOCKWARDEND_BASE:-}
ROUNDS=${BENCH_ROUNDS:-$([ -n "$LOCKWARDEND_BASE" ] && echo 3 || echo 1)}
# The lockwardend binaries measured: ours, and the baseline if any.
LW=(lockwardend)
[ -z "$LOCKWARDEND_BASE" ] || LW+=(lockwardend-base)
T=$BUILD/selftests
CONF=$OUT/bench.conf
printf 'audit_log = "%s/audit.jsonl"\nmax_clients = 4096\nlog_outputs = "3:stderr"\n' \
	"$OUT" >"$CONF"

# The binary of daemon NAME: lockwardend[-nomon], lockwardend-base[-nomon]
# (the baseline), virtlockd.
daemon_bin() {
	case $1 in
	lockwardend-base*) echo "$LOCKWARDEND_BASE" ;;
	lockwardend*) echo "$LOCKWARDEND" ;;
	virtlockd) echo "$VIRTLOCKD" ;;
	esac
}

# A daemon of NAME (null, or as daemon_bin) serving the lock socket; a
# -nomon one has its kernel monitors off.
bench_start() {
	rm -f "$LOCKD_SOCK"
	case $1 in
	null)
		"$T/nullresponder" >"$OUT/null.log" 2>&1 &
		DAEMON_PID=$!
		TRACKED_PIDS+=("$DAEMON_PID")
		DAEMON_ERR="nullresponder never listened"
		wait_listening "$DAEMON_PID"
		;;
	*-nomon)
		{ cat "$CONF"; echo 'guard_monitors = []'; } >"$OUT/nomon.conf"
		daemon_start "$(daemon_bin "$1")" -f "$OUT/nomon.conf" ;;
	*) daemon_start "$(daemon_bin "$1")" -f "$CONF" ;;
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

# keep ARRAY KEY VALUE max|min: the best of the rounds in ARRAY[KEY].
keep() {
	local -n arr=$1

	[ -n "$3" ] || return 0
	if [ -z "${arr[$2]:-}" ] || awk -v a="$3" -v b="${arr[$2]}" -v m="$4" \
		'BEGIN { exit !(m == "max" ? a > b : a < b) }'; then
		arr[$2]=$3
	fi
}

# vs_base WHAT OURS BEFORE: "after / before" of a figure, with a baseline.
vs_base() {
	[ -n "$LOCKWARDEND_BASE" ] || return 0
	printf '  after / before, %s: %s\n' "$1" "$(ratio "${2:-0}" "${3:-0}")"
}

# Said by the sections that measure no lockwardend binary (or not as a
# daemon), when a baseline is given.
no_base() {
	[ -z "$LOCKWARDEND_BASE" ] || echo "  (no baseline here: $1)"
}

# The rounds of a daemon section, for its header: [WHAT] ("best of").
rounds_said() {
	[ "$ROUNDS" -gt 1 ] && echo ", ${1:-best of} $ROUNDS rounds, daemons in turn"
}

# Full VM lock cycles through lockd.so: connect, register, acquire 2 disks,
# (close), connect, register, release 2 disks, close. A -nomon daemon is
# lockwardend with its kernel monitors off: the lock service and its audit
# trail alone.
section_cycles() {
	local d j r out
	local daemons=(null lockwardend lockwardend-nomon virtlockd)
	declare -A rate cpu

	[ -z "$LOCKWARDEND_BASE" ] ||
		daemons=(null lockwardend lockwardend-base lockwardend-nomon lockwardend-base-nomon
			 virtlockd)
	echo "== lock cycles through lockd.so (${SECONDS_EACH}s each$(rounds_said))"
	for j in 1 32; do
		for ((r = 0; r < ROUNDS; r++)); do
			for d in "${daemons[@]}"; do
				bench_start $d || { echo "$d: $DAEMON_ERR"; continue; }
				out=$("$T/lockbench" -t "$SECONDS_EACH" -j $j -P "$DAEMON_PID")
				keep rate $d.$j "$(field "$out" cycles_per_s)" max
				keep cpu $d.$j "$(field "$out" daemon_cpu_us_per_cycle)" min
				bench_stop
			done
		done
		printf '%-3s VMs: %-22s %9s %s\n' $j daemon cycles/s "of ceiling   daemon CPU us/cycle"
		for d in "${daemons[@]}"; do
			printf '         %-22s %9s %10s   %s\n' $d "${rate[$d.$j]:-}" \
				"$(ratio "${rate[$d.$j]:-0}" "${rate[null.$j]:-0}")" "${cpu[$d.$j]:-}"
		done
		printf '         CPU per cycle / virtlockd: lockwardend %s, lockwardend-nomon %s\n' \
			"$(ratio "${cpu[lockwardend.$j]:-0}" "${cpu[virtlockd.$j]:-0}")" \
			"$(ratio "${cpu[lockwardend-nomon.$j]:-0}" "${cpu[virtlockd.$j]:-0}")"
		for d in lockwardend lockwardend-nomon; do
			vs_base "$d cycles/s" "${rate[$d.$j]:-}" "${rate[${d/lockwardend/lockwardend-base}.$j]:-}"
			vs_base "$d CPU per cycle" "${cpu[$d.$j]:-}" \
				"${cpu[${d/lockwardend/lockwardend-base}.$j]:-}"
		done
	done
}

rss_kib() {
	awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

# Memory per held lock: RSS with 1000 VMs x 10 disks held, minus idle RSS
# (the round with the least).
section_memory() {
	local d r before after
	declare -A per said

	echo "== memory per held lock (1000 VMs x 10 disks$(rounds_said "least of"))"
	for ((r = 0; r < ROUNDS; r++)); do
		for d in "${LW[@]}" virtlockd; do
			bench_start $d || { echo "$d: $DAEMON_ERR"; continue; }
			before=$(rss_kib "$DAEMON_PID")
			hold_locks 1000 10 || { bench_stop; continue; }
			after=$(rss_kib "$DAEMON_PID")
			release_locks
			bench_stop
			if [ -z "${per[$d]:-}" ] || [ $(((after - before) * 1024 / 10000)) -lt "${per[$d]}" ]; then
				per[$d]=$(((after - before) * 1024 / 10000))
				said[$d]=$(printf 'idle %6s KiB, holding %6s KiB' "$before" "$after")
			fi
		done
	done
	for d in "${LW[@]}" virtlockd; do
		printf '  %-16s %s: %5s bytes per lock\n' $d "${said[$d]:-}" "${per[$d]:-}"
	done
	printf '  lockwardend / virtlockd: %s\n' "$(ratio "${per[lockwardend]:-0}" "${per[virtlockd]:-0}")"
	vs_base "bytes per lock" "${per[lockwardend]:-}" "${per[lockwardend-base]:-}"
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
# 10000 locks held by 1000 clients; 3 re-execs a start, a start a round.
# A single pause swings with the machine's load: the median of them all.
section_reexec() {
	local d r
	declare -A pauses med

	echo "== re-exec pause (10000 locks, 1000 clients, 3 re-execs a start$(rounds_said "median of"))"
	mkdir -p "$OUT/bin"
	for ((r = 0; r < ROUNDS; r++)); do
		for d in "${LW[@]}" virtlockd; do
			ln -sfn "$(daemon_bin $d)" "$OUT/bin/$d"
			daemon_start "$OUT/bin/$d" -f "$CONF" || { echo "$d: $DAEMON_ERR"; continue; }
			hold_locks 1000 10 || { bench_stop; continue; }
			for _ in 1 2 3; do
				# registered first: virtlockd cannot save an unregistered
				# client's state and exits, dropping every lock
				pauses[$d]+=" $(printf 'connect\n%s\nupgrade %s 8 s:/srv/lockspace\n' \
					"call 1 uuid:00112233445566778899aabbccddeeff s:probe u:1 u:4000001 u:0" \
					"$DAEMON_PID" | "$T/rpcprobe" | sed -n 's/^pause_ms=//p')"
				sleep 1
			done
			release_locks
			bench_stop
		done
	done
	for d in "${LW[@]}" virtlockd; do
		# shellcheck disable=SC2086 # the pauses, a word each
		med[$d]=$(printf '%s\n' ${pauses[$d]:-} | sort -g |
			awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		printf '  %-16s median %s ms of: %s\n' $d "${med[$d]:--}" "${pauses[$d]:-}"
	done
	printf '  lockwardend / virtlockd (medians): %s\n' \
		"$(ratio "${med[lockwardend]:-0}" "${med[virtlockd]:-0}")"
	vs_base "median pause" "${med[lockwardend]:-}" "${med[lockwardend-base]:-}"
}

# The load test's workload as a figure: 1000 VMs with 4 disks each
# acquiring and releasing over their own connections (loadgen, the lock
# protocol directly), throughput and latency percentiles, per daemon (the
# latencies of its round with the best throughput).
section_load() {
	local d r out v
	declare -A ops p99 lat

	echo "== load: 1000 VMs x 4 disks acquiring and releasing (${SECONDS_EACH}s x 4 each$(rounds_said))"
	for ((r = 0; r < ROUNDS; r++)); do
		for d in "${LW[@]}" virtlockd; do
			bench_start $d || { echo "  $d: $DAEMON_ERR"; continue; }
			out=$("$T/loadgen" run -n 1000 -k 4 -t $((SECONDS_EACH * 4)) \
				-c $((SECONDS_EACH * 4)) -p "$DAEMON_PID" 2>&1)
			v=$(echo "$out" | grep -o 'ops_per_s=[0-9]*' | cut -d= -f2)
			if [ -z "${ops[$d]:-}" ] || [ "${v:-0}" -gt "${ops[$d]}" ]; then
				ops[$d]=$v
				p99[$d]=$(echo "$out" | grep -o ' p99=[0-9]*' | cut -d= -f2)
				lat[$d]=$(echo "$out" | grep '^latency_us' || echo "$out" | tail -n 1)
			fi
			bench_stop
		done
	done
	for d in "${LW[@]}" virtlockd; do
		printf '  %-16s %8s requests/s  %s\n' $d "${ops[$d]:--}" "${lat[$d]:-}"
	done
	printf '  lockwardend / virtlockd: throughput %s, p99 latency %s\n' \
		"$(ratio "${ops[lockwardend]:-0}" "${ops[virtlockd]:-0}")" \
		"$(ratio "${p99[lockwardend]:-0}" "${p99[virtlockd]:-0}")"
	vs_base "throughput" "${ops[lockwardend]:-}" "${ops[lockwardend-base]:-}"
	vs_base "p99 latency" "${p99[lockwardend]:-}" "${p99[lockwardend-base]:-}"
}

# The hand-written xdr.c and hashmap.c against libtirpc and glib.
section_libs() {
	echo "== hand-written pieces against the libraries (ours / library)"
	no_base "libbench links this tree's code, not a daemon"
	"$T/libbench"
}

# Each bench_NAME.sh defines section_NAME.
for f in "$SELFTESTS"/bench_*.sh; do
	# shellcheck disable=SC1090 # the sections, found by name
	source "$f"
done
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(cycles memory reexec load libs audit kernels monitors)
for s in "${sections[@]}"; do
	if [ "$(type -t "section_$s")" != function ]; then
		echo "bench: no section '$s' (sections: $(declare -F | sed -n 's/.*section_//p' |
			tr '\n' ' '))" >&2
		exit 1
	fi
done
start=$SECONDS
for s in "${sections[@]}"; do
	t0=$SECONDS
	"section_$s"
	echo "  (section $s: $((SECONDS - t0)) s)"
done
echo "wall time: $((SECONDS - start)) s"
exit 0
