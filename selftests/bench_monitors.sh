# shellcheck shell=bash
# Sourced by bench.sh: what the guard's monitors cost every other process,
# in ns per getppid() (a syscall that does nothing: the price of a hook on
# every syscall) and per open+close, as ratios of figures measured side by
# side (guardbench interleaves the states it compares, round by round).
# Uses bench.sh's helpers (bench_stop, ratio) and lib.sh's daemon_start.

GB=$T/guardbench
PLAIN=/srv/bench/plain
IMAGE=/srv/bench/image

# guard_daemon_start NAME [CONFIG LINE...]: lockwardend with these lines.
guard_daemon_start() {
	local conf=$OUT/guard-$1.conf
	shift

	printf 'audit_log = "%s/audit-guard.jsonl"\nmax_clients = 4096\nlog_level = 2\n' \
		"$OUT" >"$conf"
	printf 'log_outputs = "2:stderr"\n' >>"$conf"
	printf '%s\n' "$@" >>"$conf"
	mkdir -p /srv/bench
	: >"$PLAIN"
	: >"$IMAGE"
	daemon_start "$LOCKWARDEND" -f "$conf" || { echo "  $1: $DAEMON_ERR"; return 1; }
}

# gb PREFIX ARGS...: guardbench's "STATE=NS" lines into ns[PREFIX.STATE],
# keeping the lowest of several runs.
gb() {
	local prefix=$1 k v
	shift

	while IFS='=' read -r k v; do
		if [ -z "${ns[$prefix.$k]:-}" ] ||
		   awk -v a="$v" -v b="${ns[$prefix.$k]}" 'BEGIN { exit !(a < b) }'; then
			ns[$prefix.$k]=$v
		fi
	done < <("$GB" "$@")
}

section_monitors() {
	local hook='' i s op k m mode lines
	declare -A ns

	# Three times in turn: no daemon at all, then the daemon's states,
	# so that all of them meet the same moments of a shared machine.
	for ((i = 0; i < 3; i++)); do
		mkdir -p /srv/bench
		: >"$PLAIN"
		gb getppid -r 7 plain getppid
		gb open -r 7 plain open $PLAIN
		guard_daemon_start bpf 'guard_monitors = [ "bpf" ]' || break
		# The same loop with the daemon up and nothing guarded: the
		# like-for-like check that an idle daemon costs nothing.
		gb idle.getppid -r 7 plain getppid
		gb idle.open -r 7 plain open $PLAIN
		gb getppid -r 7 compare $IMAGE /srv/bench/ls getppid
		gb open -r 7 compare $IMAGE /srv/bench/ls open $PLAIN
		gb own -r 7 compare $IMAGE /srv/bench/ls open $IMAGE
		hook=$(sed -n 's/.*BPF open monitor on \([^ ]*\).*/\1/p' "$DAEMON_LOG" | head -n 1)
		bench_stop
	done
	echo "== guard, BPF open monitor on ${hook:-(not available)}: CPU ns per operation" \
	     "(ratio to nothing attached)"
	printf '  %-36s %15s %15s %15s\n' "" getppid "open+close" "owner's image"
	for s in none:"daemon, nothing guarded" empty:"empty program on tp_btf/sys_exit" \
		 guard1:"1 image guarded" guard10001:"10001 images guarded"; do
		printf '  %-36s' "${s#*:}"
		for op in getppid open own; do
			k=$op.${s%%:*}
			printf ' %9s %5s' "${ns[$k]:--}" "$(ratio "${ns[$k]:-0}" "${ns[$op.none]:-0}")"
		done
		echo
	done
	for op in getppid open; do
		printf '  %s, no daemon %s ns, daemon up and nothing guarded %s ns (the same loop): %s\n' \
			"$op" "${ns[$op.plain]:--}" "${ns[idle.$op.plain]:--}" \
			"$(ratio "${ns[idle.$op.plain]:-0}" "${ns[$op.plain]:-0}")"
	done
	printf '  our program / an empty one on the same hook: getppid %s (1 guarded), %s (10001);' \
		"$(ratio "${ns[getppid.guard1]:-0}" "${ns[getppid.empty]:-0}")" \
		"$(ratio "${ns[getppid.guard10001]:-0}" "${ns[getppid.empty]:-0}")"
	printf ' open+close %s, %s\n' \
		"$(ratio "${ns[open.guard1]:-0}" "${ns[open.empty]:-0}")" \
		"$(ratio "${ns[open.guard10001]:-0}" "${ns[open.empty]:-0}")"

	for mode in none:'guard_monitors = [ ]' audit:'guard_monitors = [ "fanotify" ]' \
		    deny:'guard_monitors = [ "fanotify" ]|guard_policy = "deny-write"'; do
		IFS='|' read -r -a lines <<<"${mode#*:}"
		guard_daemon_start "fan-${mode%%:*}" "${lines[@]}" || continue
		gb "fan${mode%%:*}.own" -w owner $IMAGE open $IMAGE
		gb "fan${mode%%:*}.open" -w owner $IMAGE open $PLAIN
		bench_stop
	done
	echo "== guard, fanotify monitor (1 image guarded): wall ns per open+close, answer included" \
	     "(ratio to no monitor)"
	printf '  %-36s %15s %15s\n' "" "owner's image" "unguarded file"
	for m in none:"daemon without monitors" audit:"fanotify, policy audit" \
		 deny:"fanotify, policy deny-write"; do
		printf '  %-36s' "${m#*:}"
		for op in own open; do
			k=fan${m%%:*}.$op.owner
			printf ' %9s %5s' "${ns[$k]:--}" "$(ratio "${ns[$k]:-0}" "${ns[fannone.$op.owner]:-0}")"
		done
		echo
	done
}
