# shellcheck shell=bash
# Sourced by bench.sh: the audit log. How many violation records per second
# the writer keeps up with (hash chain on, for each fsync policy), what is
# lost when ten times that arrive, and what the records of a VM lock cycle
# cost the daemon next to virtlockd's whole cycle, measured in this run.
# Uses bench.sh's helpers (bench_start, bench_stop, field, ratio, no_base).

AB=$T/auditbench
# On the build directory's disk, not tmpfs: fsync must reach a disk.
AUDIT_DIR=$BUILD/bench-audit

# ab ARGS...: auditbench, its log (the writer's closing tip line) in
# $OUT/auditbench.log, shown only when it printed no figure.
ab() {
	local out

	out=$("$AB" "$@" 2>"$OUT/auditbench.log")
	[ -n "$out" ] || echo "  auditbench $1 failed: $(tail -n 1 "$OUT/auditbench.log")" >&2
	echo "$out"
}

section_audit() {
	local f out sustained offered cyc vl
	declare -A rate

	echo "== audit log: violations/s written with the hash chain and MACs (${SECONDS_EACH}s each, $AUDIT_DIR)"
	no_base "auditbench links this tree's audit writer, not a daemon"
	for f in always critical never; do
		out=$(ab sustained "$AUDIT_DIR" "$SECONDS_EACH" $f)
		rate[$f]=$(field "$out" records_per_s)
		printf '  fsync %-9s %9s records/s\n' $f "${rate[$f]}"
	done
	sustained=${rate[always]:-0}
	offered=$((sustained * 10))
	out=$(ab offered "$AUDIT_DIR" "$SECONDS_EACH" always "$offered")
	printf '  at 10x (%s/s offered, fsync always): %s offered, %s written, %s lost: %s%% loss\n' \
		"$offered" "$(field "$out" offered)" "$(field "$out" written)" "$(field "$out" lost)" \
		"$(field "$out" loss_pct)"
	printf '  (the producer serializes each record as the daemon does, so it offers what one\n'
	printf '   thread can: loss is measured against that)\n'

	# The records of one lock cycle (connect, acquire x2, release x2,
	# disconnect x2 ... 8 records) against virtlockd's CPU for the cycle.
	out=$(ab cost "$AUDIT_DIR" 200000)
	cyc=$(awk -v r="$(field "$out" cpu_us_per_record)" 'BEGIN { printf "%.1f", r * 8 }')
	if bench_start virtlockd; then
		vl=$(field "$("$T/lockbench" -t "$SECONDS_EACH" -j 1 -P "$DAEMON_PID")" \
			daemon_cpu_us_per_cycle)
		bench_stop
	fi
	printf '  audit records of a lock cycle: %s us CPU per record, %s us per cycle (8 records)\n' \
		"$(field "$out" cpu_us_per_record)" "$cyc"
	printf '  virtlockd CPU per cycle: %s us; audit records / virtlockd cycle: %s\n' \
		"${vl:-}" "$(ratio "$cyc" "${vl:-0}")"
	rm -rf "$AUDIT_DIR"
	# SHA-256 of a disk path: an indirect lockspace's lock-file name.
	out=$("$T/hashbench" "$SECONDS_EACH")
	printf '  lease-name hashing (SHA-256 of a disk path): %s names/s, %s ns each\n' \
		"$(field "$out" names_per_s)" "$(field "$out" ns_per_name)"
}
