#!/usr/bin/env bash
# libvirt's own admin client against both daemons: `virt-admin -c
# virtlockd:///system` must print the same for lockwardend as for
# virtlockd (client ids and times aside) for srv-list, srv-threadpool-info,
# srv-clients-info, client-list, daemon-log-filters, daemon-log-outputs and
# their errors; client-disconnect must cost a VM its leases and its life
# on both; client-info, which virtlockd cannot answer, must give the
# client's credentials on lockwardend.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/audit_lib.sh"

VA=(virt-admin -c virtlockd:///system)

if ! command -v virt-admin >/dev/null; then
	skip virt-admin "virt-admin is not installed (libvirt-clients)"
	exit 0
fi

# What virt-admin prints, with client ids and connection times masked.
va() {
	echo "\$ virt-admin $*"
	"${VA[@]}" "$@" 2>&1 | sed -E 's/^ +[0-9]+ +unix +[0-9-]+ [0-9:]+[+-][0-9]{4}$/ ID unix TIME/;
		s/^(id +: )[0-9]+$/\1ID/; s/Client '"'"'[0-9]+'"'"'/Client ID/'
	echo "exit ${PIPESTATUS[0]}"
}

# Everything both daemons must answer alike, into $OUT/NAME.va.
transcript() {
	local name=$1 bin=$2 id vms

	daemon_start "$bin" || { echo "$DAEMON_ERR" >"$OUT/$name.va"; return; }
	{
		# virtlockd lists its servers in hash order: compare the names.
		echo "\$ virt-admin srv-list"
		"${VA[@]}" srv-list | awk 'NR > 2 && NF == 2 { print $2 }' | sort
		va srv-threadpool-info virtlockd
		va srv-threadpool-info admin
		va srv-clients-info virtlockd
		va srv-clients-info admin
		va client-list virtlockd
		va daemon-log-outputs
		va daemon-log-filters
		va version
		va srv-threadpool-info nosuch
		va client-info virtlockd 999
		va client-disconnect virtlockd 999
		va client-list nosuch
	} >"$OUT/$name.va"
	# A VM: it is listed; disconnecting it costs it its leases and its life.
	"$HARNESS" >"$OUT/$name.vm" 2>&1 <<-EOF &
		image /srv/img/a.img
		start A disk=/srv/img/a.img
		wait A 15
	EOF
	vms=$!
	wait_for 50 grep -qs 'start A: ok' "$OUT/$name.vm"
	va client-list virtlockd >>"$OUT/$name.va"
	va srv-clients-info virtlockd >>"$OUT/$name.va"
	id=$("${VA[@]}" client-list virtlockd | awk 'NR > 2 && $1 ~ /^[0-9]+$/ { print $1; exit }')
	echo "\$ virt-admin client-disconnect virtlockd (the VM's)" >>"$OUT/$name.va"
	"${VA[@]}" client-disconnect virtlockd "$id" 2>&1 | sed "s/'$id'/ID/" >>"$OUT/$name.va"
	wait "$vms"
	cat "$OUT/$name.vm" >>"$OUT/$name.va"
	[ "$name" = lockwardend ] && return	# keep it for the checks below
	daemon_stop
}

differential() {
	transcript virtlockd "$VIRTLOCKD"
	transcript lockwardend "$LOCKWARDEND"
	differs "$OUT/virtlockd.va" "$OUT/lockwardend.va"
}

# client-info: virtlockd has "No identity information"; we give the peer's.
client_info() {
	local out id vms

	"$HARNESS" >"$OUT/info.vm" 2>&1 <<-EOF &
		image /srv/img/b.img
		start B disk=/srv/img/b.img
		sleep 5
	EOF
	vms=$!
	wait_for 50 grep -qs 'start B: ok' "$OUT/info.vm" || { echo "the VM did not start"; return; }
	id=$("${VA[@]}" client-list virtlockd | awk 'NR > 2 && $1 ~ /^[0-9]+$/ { print $1; exit }')
	out=$("${VA[@]}" client-info virtlockd "$id" 2>&1)
	grep -q "^id             : $id\$" <<<"$out" || echo "no id line: $out"
	grep -q '^transport      : unix$' <<<"$out" || echo "no transport line"
	grep -q '^readonly       : no$' <<<"$out" || echo "no readonly line"
	grep -q '^unix_user_id   : 0$' <<<"$out" || echo "no unix_user_id line"
	grep -q '^unix_user_name : root$' <<<"$out" || echo "no unix_user_name line"
	grep -Eq '^unix_process_id: [0-9]+$' <<<"$out" || echo "no unix_process_id line"
	"${VA[@]}" client-info admin 999 2>&1 | grep -q "Client not found: No client with matching ID '999'" ||
		echo "client-info of a missing client does not say so"
	kill "$vms" 2>/dev/null
	wait "$vms"
}

# daemon-log-filters and -outputs set, then read back.
log_settings() {
	local out

	"${VA[@]}" daemon-log-filters "1:rpc 3:audit" >/dev/null 2>&1 || echo "setting filters failed"
	out=$("${VA[@]}" daemon-log-filters 2>&1)
	grep -q 'Logging filters: 1:rpc 3:audit' <<<"$out" || echo "filters read back: $out"
	"${VA[@]}" daemon-log-filters "" >/dev/null 2>&1
	"${VA[@]}" daemon-log-outputs "2:stderr" >/dev/null 2>&1 || echo "setting outputs failed"
	out=$("${VA[@]}" daemon-log-outputs 2>&1)
	grep -q 'Logging outputs: 2:stderr' <<<"$out" || echo "outputs read back: $out"
	out=$("${VA[@]}" daemon-log-outputs "9:nowhere" 2>&1)
	grep -q 'invalid argument' <<<"$out" || echo "a bad output is not refused: $out"
}

check virt-admin/differential differential
check virt-admin/client-info client_info
check virt-admin/log-settings log_settings
daemon_stop
exit 0
