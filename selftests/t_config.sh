#!/usr/bin/env bash
# The configuration file: every key virtlockd.conf may hold is read; an
# unknown key is a warning naming file and line; a malformed file or value
# is an error naming file and line, and the daemon does not start.
source "$(dirname "$0")/lib.sh"

CONF=$OUT/test.conf

# starts TEXT [WANT_LOG]: the daemon starts with TEXT as config (and logs WANT_LOG).
starts() {
	printf '%s\n' "$1" >"$CONF"
	daemon_start "$LOCKWARDEND" -f "$CONF" || { echo "$DAEMON_ERR"; return; }
	[ -z "${2:-}" ] || grep -qF -- "$2" "$DAEMON_LOG" ||
		echo "did not log '$2': $(head -n 3 "$DAEMON_LOG" | tr '\n' ' ')"
	daemon_stop || echo "did not stop cleanly"
}

# refused TEXT WANT: the daemon exits non-zero at once, saying WANT.
refused() {
	local out rc

	printf '%s\n' "$1" >"$CONF"
	out=$(timeout 10 "$LOCKWARDEND" -f "$CONF" 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || echo "exit status $rc"
	[[ $out == *"$2"* ]] || echo "said '$out', not '$2'"
}

ALL_KEYS='# every key of virtlockd.conf, libvirt 9.0
log_level = 3
log_filters="1:locking 4:object 4:json 4:event 1:util"
log_outputs="3:stderr 4:syslog:virtlockd"
max_clients = 1024
admin_max_clients = 5'

export -f starts refused
export CONF ALL_KEYS

result config/all-virtlockd-keys "$(fresh_ns starts "$ALL_KEYS
audit_log = \"$OUT/audit.jsonl\"")"
result config/unknown-key "$(fresh_ns starts "audit_log = \"$OUT/audit.jsonl\"
# a comment
max_disks_per_vm = 4" "$CONF:3: unknown key 'max_disks_per_vm' ignored")"
result config/list-and-quotes "$(fresh_ns starts "audit_log = '$OUT/audit.jsonl'
log_filters = \"\"\"1:lockspace
 2:state\"\"\"
unknown_list = [ \"a\",
  \"b\", ]" "$CONF:4: unknown key 'unknown_list' ignored")"
result config/missing-equals "$(fresh_ns refused "log_level 3" "$CONF:1: expected '=' after log_level")"
result config/unterminated-string "$(fresh_ns refused "max_clients = 2
log_outputs = \"3:stderr" "$CONF:2: unterminated string")"
result config/trailing-text "$(fresh_ns refused "max_clients = 2 3" \
	"$CONF:1: unexpected text after the value of max_clients")"
result config/bad-number "$(fresh_ns refused "max_clients = 12abc" "$CONF:1: malformed number")"
result config/wrong-type "$(fresh_ns refused "

log_level = \"debug\"" "$CONF:3: log_level must be an unsigned integer")"
result config/negative "$(fresh_ns refused "max_clients = -1" "$CONF:1: max_clients must be an unsigned integer")"
result config/too-large "$(fresh_ns refused "max_clients = 99999999999" \
	"$CONF:1: max_clients must be an unsigned integer")"
result config/zero-clients "$(fresh_ns refused "max_clients = 0" "$CONF:1: max_clients must be at least 1")"
result config/log-level-range "$(fresh_ns refused "log_level = 7" "$CONF:1: log_level must be 1 (debug) to 4 (error)")"
result config/bad-output "$(fresh_ns refused "log_outputs = \"3:printer\"" \
	"$CONF:1: log_outputs must be LEVEL:stderr, LEVEL:syslog:IDENT")"
result config/bad-filter "$(fresh_ns refused "log_filters = \"debug:all\"" \
	"$CONF:1: log_filters must be LEVEL:match entries, LEVEL 1 to 4")"
result config/list-for-string "$(fresh_ns refused "log_outputs = [ \"3:stderr\" ]" \
	"$CONF:1: log_outputs must be a \"string\"")"
result config/relative-audit-log "$(fresh_ns refused "audit_log = \"audit.jsonl\"" \
	"$CONF:1: audit_log must be an absolute path")"
result config/nul-byte "$(fresh_ns refused "$(printf 'max_clients = 2\001')" "$CONF:1: unexpected text")"
result config/missing-file "$(fresh_ns bash -c "out=\$(timeout 10 '$LOCKWARDEND' -f /nonexistent.conf 2>&1);
	rc=\$?; [ \$rc -eq 1 ] || echo \"status \$rc\";
	[[ \$out == *'/nonexistent.conf: cannot read: No such file or directory'* ]] || echo \"said \$out\"")"
result config/directory "$(fresh_ns bash -c "out=\$(timeout 10 '$LOCKWARDEND' -f /run 2>&1);
	[[ \$out == *'/run: cannot read: Is a directory'* ]] || echo \"said \$out\"")"
exit 0
