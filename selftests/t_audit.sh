#!/usr/bin/env bash
# The audit log: the records a lock service writes, the hash chain across
# rotated gzip segments, `lockwarden-audit verify` naming the first broken
# record after each kind of tampering, retention, --follow across
# rotations, and the chain going on across a restart and a re-exec.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/audit_lib.sh"

SMALL_SEGMENTS=('audit_rotate_size = 4096' 'audit_rotate_keep = 0')

# What a VM's life and a few lock cycles leave in the log.
audit_records() {
	local ev why

	lw_start || { echo "$DAEMON_ERR"; return; }
	why=$(lock_cycles 3)
	"$HARNESS" >/dev/null 2>&1 <<-EOF
		image /srv/img/a.img
		start A disk=/srv/img/a.img
		stop A
	EOF
	daemon_stop || why+="daemon exited with status $?; "
	for ev in daemon_start client_connect lock_acquire lock_release client_disconnect \
		daemon_stop; do
		has_event $ev || why+="no $ev record; "
	done
	"$AUDITCMD" -l "$AUDIT" -j -e lock_acquire -m A | grep -q '"path":"/srv/img/a.img"' ||
		why+="no lock_acquire of /srv/img/a.img by VM A; "
	"$AUDITCMD" -l "$AUDIT" -j >"$OUT/records.jsonl"
	why+=$(seqs_contiguous "$OUT/records.jsonl")
	[ "$(verify_says "$AUDIT")" = "OK: the chain is intact and ends at the tip" ] ||
		why+="verify: $(verify_says "$AUDIT")"
	echo "$why"
}

# The chain goes on where it was after a restart.
audit_restart() {
	local before why

	before=$(last_seq)
	lw_restart || { echo "$DAEMON_ERR"; return; }
	why=$(lock_cycles 1)
	daemon_stop
	"$AUDITCMD" -l "$AUDIT" -j -e daemon_start | tail -n 1 | grep -q "^{\"seq\":$((before + 1))," ||
		why+="the restarted daemon's first record is not seq $((before + 1)); "
	why+=$(verify_says "$AUDIT" | grep -v '^OK')
	echo "$why"
}

# ... and across a re-exec (SIGUSR1): a "reexec" record, then the new image's.
audit_reexec() {
	local pid why

	lw_start || { echo "$DAEMON_ERR"; return; }
	pid=$DAEMON_PID
	why=$(lock_cycles 1)
	kill -USR1 "$pid"
	wait_for 50 has_event reexec || why+="no reexec record; "
	wait_for 50 eval '[ "$("$AUDITCMD" -l "$AUDIT" -j -e daemon_start | wc -l)" -eq 2 ]' ||
		why+="no daemon_start record from the new image; "
	why+=$(lock_cycles 1 after)
	proc_alive "$pid" || why+="the daemon is gone after SIGUSR1; "
	daemon_stop "$pid"
	# The new image keys its records with the same key.
	why+=$(verify_says "$AUDIT" --key "$KEY" | grep -v '^OK')
	echo "$why"
}

# Rotation into gzip segments while a follower reads; returns with the
# log in $LOGDIR for the tampering tests.
audit_rotation() {
	local follower n seg why=""

	lw_start "${SMALL_SEGMENTS[@]}" || { echo "$DAEMON_ERR"; return; }
	"$AUDITCMD" -l "$AUDIT" -f -j >"$OUT/follow.jsonl" 2>"$OUT/follow.err" &
	follower=$!
	why+=$(lock_cycles 60 one)
	why+=$(lock_cycles 60 two)
	daemon_stop
	n=$(last_seq)
	wait_for 50 eval '[ "$(tail -n 1 "$OUT/follow.jsonl" | cut -d, -f1)" = "{\"seq\":$n" ]' ||
		why+="the follower stopped at $(tail -n 1 "$OUT/follow.jsonl" | cut -d, -f1), not seq $n; "
	kill "$follower"
	wait "$follower" 2>/dev/null
	why+=$(seqs_contiguous "$OUT/follow.jsonl")
	[ "$(find "$LOGDIR" -name 'audit.jsonl.*.gz' | wc -l)" -ge 5 ] ||
		why+="fewer than 5 segments: $(ls "$LOGDIR" | tr '\n' ' '); "
	for seg in "$LOGDIR"/audit.jsonl.*; do
		case $seg in
		*.gz) gzip -t "$seg" 2>/dev/null || why+="$seg is not gzip; " ;;
		*.tip) ;;
		*) why+="$seg left uncompressed; " ;;
		esac
	done
	why+=$(verify_says "$AUDIT" | grep -v '^OK')
	echo "$why"
}

# ---- tampering, each on a copy of the rotated log ----

# seg K: the K-th oldest segment of the copy in $T.
seg() {
	find "$T" -name 'audit.jsonl.*.gz' | sort | sed -n "${1}p"
}

# The seq of line L of file F (gzip or not).
seq_of() {
	zcat -f "$1" | sed -n "${2}p" | sed 's/^{"seq":\([0-9]*\),.*/\1/'
}

# gz_edit F SED...: rewrite a segment through sed.
gz_edit() {
	local f=$1
	shift

	zcat "$f" | sed "$@" | gzip >"$f.new" && mv "$f.new" "$f"
}

# tamper NAME EXPECTED-PREFIX: verify of the tampered copy must name that.
tamper_check() {
	local got

	got=$(verify_says "$T/audit.jsonl")
	[[ $got == "$1"* ]] || echo "expected '$1...', verify said: $got"
}

tamper() {
	local name=$1 s1 s2 n

	T=$OUT/tamper-$name
	rm -rf "$T"
	cp -a "$LOGDIR" "$T"
	case $name in
	edit-live)
		n=$(seq_of "$T/audit.jsonl" 1)
		sed -i '1s/"severity":"info"/"severity":"low"/' "$T/audit.jsonl"
		tamper_check "$T/audit.jsonl:1: seq $n: altered"
		;;
	edit-segment)
		s1=$(seg 3)
		n=$(seq_of "$s1" 2)
		gz_edit "$s1" '2s/"pid":3999999/"pid":1/'
		tamper_check "$s1:2: seq $n: altered"
		;;
	delete)
		s1=$(seg 2)
		n=$(seq_of "$s1" 3)
		gz_edit "$s1" '3d'
		tamper_check "$s1:3: seq $((n + 1)): record $n is missing"
		;;
	insert)
		s1=$(seg 4)
		gz_edit "$s1" '2{h};5{G}'
		tamper_check "$s1:6: seq $(seq_of "$s1" 6): out of order"
		;;
	truncate)
		n=$(last_seq "$T/audit.jsonl")
		head -n -2 "$T/audit.jsonl" >"$T/cut" && mv "$T/cut" "$T/audit.jsonl"
		tamper_check "after $T/audit.jsonl:"
		verify_says "$T/audit.jsonl" | grep -q "records $((n - 1))..$n are missing (cut off the end)" ||
			echo "verify does not name records $((n - 1))..$n: $(verify_says "$T/audit.jsonl")"
		;;
	truncate-mid)
		n=$(zcat -f "$T/audit.jsonl" | wc -l)
		truncate -s -20 "$T/audit.jsonl"
		tamper_check "$T/audit.jsonl:$n: an incomplete record at the end"
		;;
	swap)
		s1=$(seg 2)
		s2=$(seg 3)
		mv "$s1" "$T/x" && mv "$s2" "$s1" && mv "$T/x" "$s2"
		tamper_check "$s1:1: seq $(seq_of "$s1" 1): past the end of its segment"
		;;
	truncate-gz)
		s1=$(seg 2)
		truncate -s -60 "$s1"
		n=$(zcat "$s1" 2>/dev/null | wc -l)
		tamper_check "$s1:$((n + 1)): compressed data truncated or corrupt: unexpected end of file"
		;;
	drop-oldest)
		s1=$(seg 1)
		s2=$(seg 2)
		rm "$s1"
		tamper_check "$s2:1: seq $(seq_of "$s2" 1): the chain starts here, but no audit_segment_removed"
		;;
	esac
}

# Retention: only audit_rotate_keep segments stay, and the chain still
# verifies, anchored by the removal records.
audit_retention() {
	local why

	lw_start 'audit_rotate_size = 4096' 'audit_rotate_keep = 3' || { echo "$DAEMON_ERR"; return; }
	why=$(lock_cycles 80)
	daemon_stop
	[ "$(find "$LOGDIR" -name 'audit.jsonl.*.gz' | wc -l)" -eq 3 ] ||
		why+="not 3 segments: $(ls "$LOGDIR" | tr '\n' ' '); "
	has_event audit_segment_removed || why+="no audit_segment_removed record; "
	why+=$(verify_says "$AUDIT" | grep -v '^OK')
	echo "$why"
}

# Records cut off the end while the daemon was down: it says so, and the
# chain goes on from the tip so that verify names the gap.
audit_damage_at_start() {
	local n why

	lw_start || { echo "$DAEMON_ERR"; return; }
	why=$(lock_cycles 3)
	daemon_stop
	n=$(last_seq)
	head -n -3 "$AUDIT" >"$OUT/cut" && mv "$OUT/cut" "$AUDIT"
	lw_restart || { echo "$DAEMON_ERR"; return; }
	wait_for 50 has_event audit_damaged || why+="no audit_damaged record; "
	grep -q "the log ends at seq $((n - 3)) but the tip file says seq $n" "$DAEMON_LOG" ||
		why+="the daemon's log does not say what was cut; "
	daemon_stop
	verify_says "$AUDIT" | grep -q "records $((n - 2))..$n are missing" ||
		why+="verify: $(verify_says "$AUDIT")"
	echo "$why"
}

# ---- the key and the exported tip (issue 12, item 9) ----

# A log written with a key: the key stays outside the log and out of it,
# verify --key vouches for every record, and the tip in the daemon's log
# (every audit_tip_every records and at the stop) is the log's.
audit_keyed() {
	local why="" sum tip

	lw_start 'audit_tip_every = 5' || { echo "$DAEMON_ERR"; return; }
	why+=$(lock_cycles 6)
	# 14 records and more: at least one tip given while it runs
	wait_for 30 eval '[ -n "$(journal_tip)" ]' || why+="no tip in the daemon's log while it runs; "
	daemon_stop
	[ "$(stat -c %a "$KEY")" = 600 ] || why+="key mode $(stat -c %a "$KEY" 2>&1); "
	grep -rqF "$(cat "$KEY")" "$LOGDIR" "$DAEMON_LOG" && why+="the key is in the log; "
	has_event audit_key_created || why+="no audit_key_created record; "
	tip=$(journal_tip)
	[ "$tip" = "$(last_seq):$(zcat -f "$AUDIT" | tail -n 1 | sed 's/.*"hash":"\([0-9a-f]*\)"}$/\1/')" ] ||
		why+="the daemon's log's last tip '$tip' is not the log's end; "
	"$AUDITCMD" -l "$AUDIT" verify --key "$KEY" --tip "$tip" >"$OUT/keyed.out" 2>&1
	grep -q '^OK' "$OUT/keyed.out" || why+="verify --key --tip: $(cat "$OUT/keyed.out"); "
	grep -q "^MAC: $(last_seq) records checked against the key (from seq 1)" "$OUT/keyed.out" ||
		why+="verify --key does not say every record was checked: $(cat "$OUT/keyed.out"); "
	grep -q '^exported tip: found' "$OUT/keyed.out" || why+="verify --tip did not find it; "
	# The same key after a restart: the chain goes on under it.
	sum=$(sha256sum <"$KEY")
	lw_restart || { echo "$DAEMON_ERR"; return; }
	why+=$(lock_cycles 1)
	daemon_stop
	[ "$(sha256sum <"$KEY")" = "$sum" ] || why+="the key changed at a restart; "
	has_event audit_key_failed && why+="audit_key_failed after a restart; "
	verify_says "$AUDIT" --key "$KEY" | grep -q '^OK' ||
		why+="after a restart: $(verify_says "$AUDIT" --key "$KEY")"
	echo "$why"
}

# The reproduction: records rewritten as "management" with every hash and
# the tip recomputed. The hash chain alone cannot tell; the key can.
audit_rewrite() {
	local why="" first

	lw_start || { echo "$DAEMON_ERR"; return; }
	why+=$(lock_cycles 4)
	daemon_stop
	first=$("$AUDITCMD" -l "$AUDIT" -j -e lock_acquire | head -n 1 | sed 's/^{"seq":\([0-9]*\),.*/\1/')
	T=$OUT/rewrite
	rm -rf "$T" && cp -a "$LOGDIR" "$T"
	rechain "$T/audit.jsonl"
	grep -q '"event":"lock_acquire"' "$T/audit.jsonl" && why+="rechain left lock_acquire records; "
	[ "$(verify_says "$T/audit.jsonl")" = "OK: the chain is intact and ends at the tip" ] ||
		why+="the rewrite is not even a valid chain: $(verify_says "$T/audit.jsonl"); "
	[[ $(verify_says "$T/audit.jsonl" --key "$KEY") == "$T/audit.jsonl:$first: seq $first: its MAC does not match under the key"* ]] ||
		why+="verify --key after the rewrite: $(verify_says "$T/audit.jsonl" --key "$KEY"); "
	# With the MACs removed instead: no record has one the key vouches for.
	rm -rf "$T" && cp -a "$LOGDIR" "$T"
	rechain "$T/audit.jsonl" strip
	[[ $(verify_says "$T/audit.jsonl" --key "$KEY") == "none of the "*" records has a MAC the key vouches for"* ]] ||
		why+="verify --key after a rewrite without MACs: $(verify_says "$T/audit.jsonl" --key "$KEY"); "
	# ... and with another key, an untouched log fails too.
	echo 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef >"$OUT/other.key"
	verify_says "$AUDIT" --key "$OUT/other.key" | grep -q 'its MAC does not match' ||
		why+="another key passes: $(verify_says "$AUDIT" --key "$OUT/other.key"); "
	echo "$why"
}

# Records cut off the end, with the tip file rewritten to match: only a
# tip kept off the log's disk (the journal, the metrics) shows it.
audit_cut_with_tip() {
	local why="" tip n h

	mkdir -p "$OUT/metrics"
	lw_start "metrics_file = \"$OUT/metrics/lw.prom\"" 'metrics_interval = 1' ||
		{ echo "$DAEMON_ERR"; return; }
	why+=$(lock_cycles 4)
	wait_for 30 eval '[ "$(sed -n "s/^lockwarden_audit_tip{hash=\"[0-9a-f]*\"} //p" \
		"$OUT/metrics/lw.prom" 2>/dev/null)" = "$(last_seq)" ]' ||
		why+="the metrics do not give the tip seq $(last_seq): $(grep audit_tip "$OUT/metrics/lw.prom"); "
	daemon_stop
	cp "$OUT/metrics/lw.prom" "$OUT/metrics-copy.prom"
	tip=$(journal_tip)
	verify_says "$AUDIT" --key "$KEY" --metrics "$OUT/metrics-copy.prom" | grep -q '^OK' ||
		why+="verify --metrics: $(verify_says "$AUDIT" --key "$KEY" --metrics "$OUT/metrics-copy.prom"); "
	T=$OUT/cut
	rm -rf "$T" && cp -a "$LOGDIR" "$T"
	head -n -4 "$T/audit.jsonl" >"$T/x" && mv "$T/x" "$T/audit.jsonl"
	n=$(tail -n 1 "$T/audit.jsonl" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
	h=$(tail -n 1 "$T/audit.jsonl" | sed 's/.*"hash":"\([0-9a-f]*\)"}$/\1/')
	printf '%020d %s\n' "$n" "$h" >"$T/audit.jsonl.tip"
	verify_says "$T/audit.jsonl" --key "$KEY" | grep -q '^OK' ||
		why+="the cut log does not even pass without a tip: $(verify_says "$T/audit.jsonl" --key "$KEY"); "
	[[ $(verify_says "$T/audit.jsonl" --key "$KEY" --tip "$tip") == "the exported tip (seq ${tip%%:*}, hash ${tip#*:}) is not in the log"* ]] ||
		why+="verify --tip after the cut: $(verify_says "$T/audit.jsonl" --key "$KEY" --tip "$tip"); "
	verify_says "$T/audit.jsonl" --metrics "$OUT/metrics-copy.prom" | grep -q 'the exported tip' ||
		why+="verify --metrics after the cut: $(verify_says "$T/audit.jsonl" --metrics "$OUT/metrics-copy.prom"); "
	echo "$why"
}

check audit/records audit_records
check audit/restart audit_restart
check audit/reexec audit_reexec
check audit/rotation-gzip-follow audit_rotation
if [ -z "$CHECK_WHY" ]; then
	for t in edit-live edit-segment delete insert truncate truncate-mid truncate-gz swap \
		drop-oldest; do
		check "audit/tamper/$t" tamper $t
	done
else
	skip audit/tamper "no rotated log to tamper with"
fi
check audit/retention audit_retention
check audit/damage-at-start audit_damage_at_start
check audit/keyed audit_keyed
check audit/rewrite-detected audit_rewrite
check audit/cut-with-exported-tip audit_cut_with_tip
exit 0
