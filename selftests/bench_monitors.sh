# shellcheck shell=bash
# Sourced by bench.sh: what the guard's monitors cost every other process,
# in ns per getppid() (a syscall that does nothing: the price of a hook on
# every syscall) and per open+close, as ratios of figures measured side by
# side (guardbench interleaves the states it compares, round by round).
# With a baseline, each lockwardend in turn (bench.sh's LW), and after /
# before. Uses bench.sh's helpers (bench_stop, daemon_bin, ratio, vs_base)
# and lib.sh's daemon_start.

GB=$T/guardbench
PLAIN=/srv/bench/plain
IMAGE=/srv/bench/image

# guard_daemon_start DAEMON NAME [CONFIG LINE...]: lockwardend or
# lockwardend-base (daemon_bin) with these lines.
guard_daemon_start() {
	local bin name=$2 conf=$OUT/guard-$2.conf

	bin=$(daemon_bin "$1")
	shift 2
	printf 'audit_log = "%s/audit-guard.jsonl"\nmax_clients = 4096\nlog_level = 2\n' \
		"$OUT" >"$conf"
	printf 'log_outputs = "2:stderr"\n' >>"$conf"
	printf '%s\n' "$@" >>"$conf"
	mkdir -p /srv/bench
	: >"$PLAIN"
	: >"$IMAGE"
	daemon_start "$bin" -f "$conf" || { echo "  $name: $DAEMON_ERR"; return 1; }
}

# The prefix of a daemon's figures in ns[]: none for ours.
px() {
	[ "$1" = lockwardend ] || echo "$1."
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
	local i s op k m mode lines lw p
	declare -A ns hook

	# Three times in turn: no daemon at all, then each daemon's states,
	# so that all of them meet the same moments of a shared machine.
	for ((i = 0; i < 3; i++)); do
		mkdir -p /srv/bench
		: >"$PLAIN"
		gb getppid -r 7 plain getppid
		gb open -r 7 plain open $PLAIN
		for lw in "${LW[@]}"; do
			p=$(px "$lw")
			guard_daemon_start "$lw" bpf 'guard_monitors = [ "bpf" ]' || break 2
			# The same loop with the daemon up and nothing guarded: the
			# like-for-like check that an idle daemon costs nothing.
			gb "${p}idle.getppid" -r 7 plain getppid
			gb "${p}idle.open" -r 7 plain open $PLAIN
			gb "${p}getppid" -r 7 compare $IMAGE /srv/bench/ls getppid
			gb "${p}open" -r 7 compare $IMAGE /srv/bench/ls open $PLAIN
			gb "${p}own" -r 7 compare $IMAGE /srv/bench/ls open $IMAGE
			hook[$lw]=$(sed -n 's/.*BPF open monitor on \([^ ]*\).*/\1/p' "$DAEMON_LOG" |
				head -n 1)
			bench_stop
		done
	done
	for lw in "${LW[@]}"; do
		p=$(px "$lw")
		echo "== guard, $lw's BPF open monitor on ${hook[$lw]:-(not available)}: CPU ns per" \
		     "operation (ratio to nothing attached)"
		printf '  %-36s %15s %15s %15s\n' "" getppid "open+close" "owner's image"
		for s in none:"daemon, nothing guarded" empty:"empty program on tp_btf/sys_exit" \
			 guard1:"1 image guarded" guard10001:"10001 images guarded"; do
			printf '  %-36s' "${s#*:}"
			for op in getppid open own; do
				k=$p$op.${s%%:*}
				printf ' %9s %5s' "${ns[$k]:--}" \
					"$(ratio "${ns[$k]:-0}" "${ns[$p$op.none]:-0}")"
			done
			echo
		done
		for op in getppid open; do
			printf '  %s, no daemon %s ns, daemon up and nothing guarded %s ns (the same loop): %s\n' \
				"$op" "${ns[$op.plain]:--}" "${ns[${p}idle.$op.plain]:--}" \
				"$(ratio "${ns[${p}idle.$op.plain]:-0}" "${ns[$op.plain]:-0}")"
		done
		printf '  our program / an empty one on the same hook: getppid %s (1 guarded), %s (10001);' \
			"$(ratio "${ns[${p}getppid.guard1]:-0}" "${ns[${p}getppid.empty]:-0}")" \
			"$(ratio "${ns[${p}getppid.guard10001]:-0}" "${ns[${p}getppid.empty]:-0}")"
		printf ' open+close %s, %s\n' \
			"$(ratio "${ns[${p}open.guard1]:-0}" "${ns[${p}open.empty]:-0}")" \
			"$(ratio "${ns[${p}open.guard10001]:-0}" "${ns[${p}open.empty]:-0}")"
	done
	for k in getppid.guard1 getppid.guard10001 open.guard1 open.guard10001 own.guard1; do
		vs_base "$k ns" "${ns[$k]:-}" "${ns[lockwardend-base.$k]:-}"
	done

	for mode in none:'guard_monitors = [ ]' audit:'guard_monitors = [ "fanotify" ]' \
		    deny:'guard_monitors = [ "fanotify" ]|guard_policy = "deny-write"'; do
		IFS='|' read -r -a lines <<<"${mode#*:}"
		for lw in "${LW[@]}"; do
			p=$(px "$lw")
			guard_daemon_start "$lw" "fan-${mode%%:*}" "${lines[@]}" || continue
			gb "${p}fan${mode%%:*}.own" -w owner $IMAGE open $IMAGE
			gb "${p}fan${mode%%:*}.open" -w owner $IMAGE open $PLAIN
			bench_stop
		done
	done
	for lw in "${LW[@]}"; do
		p=$(px "$lw")
		echo "== guard, $lw's fanotify monitor (1 image guarded): wall ns per open+close," \
		     "answer included (ratio to no monitor)"
		printf '  %-36s %15s %15s\n' "" "owner's image" "unguarded file"
		for m in none:"daemon without monitors" audit:"fanotify, policy audit" \
			 deny:"fanotify, policy deny-write"; do
			printf '  %-36s' "${m#*:}"
			for op in own open; do
				k=${p}fan${m%%:*}.$op.owner
				printf ' %9s %5s' "${ns[$k]:--}" \
					"$(ratio "${ns[$k]:-0}" "${ns[${p}fannone.$op.owner]:-0}")"
			done
			echo
		done
	done
	for k in fanaudit.own.owner fandeny.own.owner; do
		vs_base "$k ns" "${ns[$k]:-}" "${ns[lockwardend-base.$k]:-}"
	done
}
