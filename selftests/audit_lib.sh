# shellcheck shell=bash
# Helpers for the audit log, alert, metrics and admin tests: source after
# lib.sh.  The daemon's audit log lives in $LOGDIR (default $OUT/log).

CTL=$BUILD/lockwardenctl
AUDITCMD=$BUILD/lockwarden-audit
PROBE=$BUILD/selftests/rpcprobe

# lw_start [CONFIG LINE...]: a fresh lockwardend whose audit log is
# $AUDIT (in an emptied $LOGDIR), its key $KEY (made afresh unless
# KEEP_KEY=1), with the extra config lines.
lw_start() {
	LOGDIR=${LOGDIR:-$OUT/log}
	AUDIT=$LOGDIR/audit.jsonl
	KEY=${KEY:-$OUT/key/audit.key}
	LW_CONF=$OUT/lw.conf
	rm -rf "$LOGDIR"
	[ "${KEEP_KEY:-}" = 1 ] || rm -rf "$KEY"
	mkdir -p "$LOGDIR" 2>/dev/null
	printf '%s\n' 'log_outputs = "3:stderr"' "audit_log = \"$AUDIT\"" "audit_key = \"$KEY\"" \
		"$@" >"$LW_CONF"
	daemon_start "$LOCKWARDEND" -f "$LW_CONF"
}

# lw_restart: the same daemon again, keeping $LOGDIR.
lw_restart() {
	daemon_start "$LOCKWARDEND" -f "$LW_CONF"
}

# lock_cycles N [NAME]: one lock connection (owner "vmN", a pid that does
# not exist, so nobody is killed) acquiring and releasing /srv/img/NAME N
# times: 2N + 2 records.  Prints why it failed, or nothing.
lock_cycles() {
	local n=$1 name=${2:-disk} out i

	mkdir -p /srv/img
	out=$({
		echo connect
		echo "call 1 uuid:00112233445566778899aabbccddeeff s:vm-$name u:1 u:3999999 u:0"
		for ((i = 0; i < n; i++)); do
			echo "call 6 s: s:/srv/img/$name u:2"
			echo "call 7 s: s:/srv/img/$name u:0"
		done
		echo close
	} | "$PROBE" 2>&1)
	[ "$(grep -c ' OK$' <<<"$out")" -eq $((2 * n + 1)) ] ||
		echo "lock cycles failed: $(grep -v ' OK$' <<<"$out" | head -n 2 | tr '\n' ' ')"
}

# wait_for TENTHS CMD...: until CMD succeeds; false after TENTHS/10 s.
wait_for() {
	local _i _tenths=$1
	shift

	for ((_i = 0; _i < _tenths; _i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# check NAME FUNCTION [ARGS...]: run a check function in this shell (its
# variables stay for the next one) and report what it printed as the
# reason it failed; that is also left in CHECK_WHY.
check() {
	local name=$1
	shift

	"$@" >"$OUT/why" 2>&1
	CHECK_WHY=$(cat "$OUT/why")
	CHECK_WHY=${CHECK_WHY//$'\n'/ }
	result "$name" "$CHECK_WHY"
}

# The newest seq in the log (every segment), or 0.
last_seq() {
	"$AUDITCMD" -l "${1:-$AUDIT}" -j 2>/dev/null | tail -n 1 | sed -n 's/^{"seq":\([0-9]*\),.*/\1/p' |
		grep . || echo 0
}

# has_event EVENT: a record of that kind is in the log.
has_event() {
	"$AUDITCMD" -l "$AUDIT" -j -e "$1" 2>/dev/null | grep -q .
}

# seqs_contiguous FILE: the "seq"s in FILE (JSON lines) are 1..N, each once.
# Prints why not, or nothing.
seqs_contiguous() {
	awk -F'[:,]' '/^{"seq":/ { n++; if ($2 != n) { printf "record %d has seq %s\n", n, $2; exit } }
		END { if (!n) print "no records" }' "$1"
}

# The verify command's verdict line ("OK: ..." or the first broken record).
verify_says() {
	"$AUDITCMD" -l "$1" verify "${@:2}" 2>&1 | sed -n 's/^  //p; /^OK/p'
}

# status_field PATH: a value from `lockwardenctl -j status`, by dotted path.
status_field() {
	"$CTL" -j status | python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(str(v).lower() if isinstance(v, bool) else v)' "$1"
}

# rechain FILE [strip]: what someone who can write the log directory but
# not read the key can do: rewrite every lock_acquire of the live log FILE
# as "management", recompute every hash after it and the tip file. The old
# MACs stay (they cannot be made anew), or with strip are removed.
rechain() {
	python3 - "$@" <<-'PY'
		import hashlib, re, sys
		path, strip = sys.argv[1], sys.argv[2:] == ["strip"]
		prev, out, seq = None, [], 0
		for line in open(path):
		    body = line.rstrip("\n")
		    body = body[:body.rindex(',"hash":"')]
		    body = body.replace('"event":"lock_acquire"', '"event":"management"')
		    if strip:
		        body = re.sub(r',"mac":"[0-9a-f]{64}"$', "", body)
		    if prev:
		        body = re.sub(r'("prev":")[0-9a-f]{64}(")((?:,"mac":"[0-9a-f]{64}")?)$',
		                      r"\g<1>" + prev + r"\g<2>\g<3>", body)
		    prev = hashlib.sha256(body.encode()).hexdigest()
		    seq = int(re.match(r'\{"seq":(\d+)', body).group(1))
		    out.append(body + ',"hash":"' + prev + '"}\n')
		open(path, "w").write("".join(out))
		open(path + ".tip", "w").write("%020d %s\n" % (seq, prev))
	PY
}

# journal_tip: the newest tip the daemon's log gave, as SEQ:HASH.
journal_tip() {
	sed -n 's/.*(for lockwarden-audit verify --tip \([0-9]*:[0-9a-f]*\))$/\1/p' "$DAEMON_LOG" |
		tail -n 1
}
