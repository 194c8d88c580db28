#!/usr/bin/env bash
# The fanotify monitor and the policy (issue 5): io_uring opens, which no
# syscall hook sees, are reported (by both where the BPF hook sees files); when both monitors see one open there is
# one record naming both; deny-write refuses a non-owner's write open but
# not its read; deny-all both; the owner always passes, and so do
# allowlisted executables; a path prefix overrides the global policy;
# after release nothing is refused; a burst of 1000 refused opens is all
# answered and recorded; marks and policy survive a SIGUSR1 re-exec.
# Issue 12: an openat2 whose struct open_how a second thread rewrites to
# O_RDONLY is refused under deny-write, and no record calls it O_RDONLY; so
# is an io_uring open run under the registers of an openat(O_RDONLY);
# an allowlisted executable run by nobody is no helper; an opener whose
# open_how lies in a FUSE page that never comes back stalls nobody else,
# nor SIGUSR1, nor SIGTERM.
source "$(dirname "$0")/lib.sh"
source "$SELFTESTS/guard_lib.sh"

IMG=/srv/img/a.img
# On /srv (a tmpfs): on overlayfs (the guest's root) the inode stat()
# gives and the one the kernel runs differ, and executables match by inode.
HELPER=/srv/bin/allowed-helper

# start_guarded NAME POLICY [CONFIG LINE...]: a daemon with this policy and
# VM A holding $IMG; false (after a FAIL) if that cannot be had.
start_guarded() {
	local name=$1 policy=$2
	shift 2

	if ! guard_daemon "guard_policy = \"$policy\"" "$@"; then
		fail "$name" "$DAEMON_ERR"
		return 1
	fi
	if grep -q 'no fanotify monitor' "$DAEMON_LOG"; then
		skip "$name" "$(grep -m1 'no fanotify monitor' "$DAEMON_LOG")"
		return 1
	fi
	harness_start
	h image $IMG /srv/img/b.img /srv/secure/c.img
	h start A disk=$IMG
	[ "$REPLY" = "start A: ok" ] || { fail "$name" "$REPLY"; return 1; }
	open_as_vm A $IMG && A_PID=$VM_PID
}

stop_guarded() {
	harness_stop
	daemon_stop
}

# refused NAME MODE PATH [rw]: the open fails with EPERM.
refused() {
	opener "$GUARDOPEN" "$2" "$3" ${4:-}
	result "$1" "$([ "$OPENER_OUT" = "error: EPERM" ] || echo "open gave: $OPENER_OUT")"
}

# allowed NAME MODE PATH [rw]: the open succeeds.
allowed() {
	opener "$GUARDOPEN" "$2" "$3" ${4:-}
	result "$1" "$([ "$OPENER_OUT" = ok ] || echo "open gave: $OPENER_OUT")"
}

# folded_count JQ_FILTER: the opens the "repeated" records it selects count.
folded_count() {
	[ -f "$AUDIT" ] || { echo 0; return; }
	jq -s "[.[] | select($1) | .count] | add // 0" "$AUDIT"
}

mkdir -p /srv/bin
cp "$GUARDOPEN" "$HELPER"

# ---- audit: what syscall hooks miss, and one record for two sightings ----
if start_guarded guard-fan/audit audit; then
	allowed guard-fan/uring-opens uring $IMG
	# A hook on the file (lsm, fexit) sees io_uring's opens too, with their
	# flags; a syscall hook does not, and fanotify alone reports them.
	if guard_hook_sees_files; then
		expect_one guard-fan/uring-reported true '.event == "violation" and
			.source == "bpf+fanotify" and .vm_name == "A" and .flags == "O_RDONLY"'
	else
		expect_one guard-fan/uring-reported true '.event == "violation" and
			.source == "fanotify" and .vm_name == "A" and .flags == null'
	fi
	# Under audit the flipped openat2 passes; its record must not take
	# O_RDONLY from the opener's memory.
	allowed guard-fan/audit/openat2-flip-passes flip $IMG
	expect_one guard-fan/audit/openat2-flip-not-rdonly true \
		'.event == "violation" and .flags != "O_RDONLY" and .flags != "O_RDONLY|O_TRUNC"'
	dd if=/dev/zero of=$IMG bs=5 count=1 conv=notrunc status=none
	allowed guard-fan/merged-opens openat $IMG
	if grep -q 'BPF open monitor on' "$DAEMON_LOG"; then
		expect_one guard-fan/merged-one-record true \
			'.source == "bpf+fanotify" and .flags == "O_RDONLY" and .exe != null'
	else
		skip guard-fan/merged-one-record "no BPF open monitor here"
	fi
	stop_guarded
fi

# ---- deny-write, with an allowlisted helper and a stricter prefix ----
if start_guarded guard-fan/deny-write deny-write "guard_allow_exes = [ \"$HELPER\" ]" \
		 'guard_repeat_window = 1' \
		 'guard_policy_paths = [ "deny-all:/srv/secure" ]'; then
	refused guard-fan/deny-write/rw-refused openat $IMG rw
	# lsm/file_open refuses first, in the kernel: fanotify never sees it.
	if [ "$GUARD_HOOK" = lsm/file_open ]; then
		refuser='.source == "bpf" and .hook == "lsm/file_open"'
	else
		refuser='(.source | contains("fanotify"))'
	fi
	expect_one guard-fan/deny-write/rw-recorded true \
		".event == \"denied\" and $refuser and .flags == \"O_RDWR\"
		 and .severity == \"critical\" and .policy == \"deny-write\""
	allowed guard-fan/deny-write/ro-passes openat $IMG
	expect_one guard-fan/deny-write/ro-recorded true \
		'.event == "violation" and .flags == "O_RDONLY" and .severity == "medium"'
	refused guard-fan/deny-write/uring-rw-refused uring $IMG rw
	# A second thread sets the open_how to O_RDONLY once the kernel has
	# copied O_RDWR; the open must be refused, not write into the image.
	refused guard-fan/deny-write/openat2-flip-refused flip $IMG
	result guard-fan/deny-write/openat2-flip-unwritten \
		"$(! head -c 5 $IMG | grep -q PWNED || echo "PWNED written into the locked image")"
	expect_one guard-fan/deny-write/openat2-flip-recorded true \
		'.event == "denied" and (.flags == null or .flags == "O_RDWR") and .severity != "medium"'
	# io_uring's open run as task work on the way out of an
	# openat(fifo, O_RDONLY): the registers tell that openat, not this open.
	refused guard-fan/deny-write/uring-taskwork-refused uringtw $IMG
	result guard-fan/deny-write/uring-taskwork-unwritten \
		"$(! head -c 5 $IMG | grep -q PWNED || echo "PWNED written into the locked image")"
	# fanotify cannot tell its mode (so: a write, high); lsm/file_open
	# refuses it itself, from the file's real mode.
	expect_one guard-fan/deny-write/uring-taskwork-recorded true \
		'.event == "denied" and ((.flags == null and .severity == "high") or
		 (.hook == "lsm/file_open" and .flags == "O_RDWR" and .severity == "critical"))'
	open_as_vm A $IMG rw thread
	result guard-fan/deny-write/owner-rw-passes "$([[ $REPLY == *": ok "* ]] || echo "$REPLY")"
	expect_none guard-fan/deny-write/owner-silent ".pid == $A_PID"
	opener "$HELPER" openat $IMG rw
	result guard-fan/allowlist/passes "$([ "$OPENER_OUT" = ok ] || echo "open gave: $OPENER_OUT")"
	expect_one guard-fan/allowlist/management true \
		'.event == "management" and .severity == "info" and .flags == "O_RDWR"'
	# The allowlisted executable as nobody: no helper (LD_PRELOAD would
	# make it anything), a violation refused.
	chmod o+rw $IMG
	opener setpriv --reuid=65534 --regid=65534 --clear-groups "$HELPER" openat $IMG rw
	chmod o-rw $IMG
	result guard-fan/allowlist/exe-as-nobody-refused \
		"$([ "$OPENER_OUT" = "error: EPERM" ] || echo "open gave: $OPENER_OUT")"
	expect_one guard-fan/allowlist/exe-as-nobody-violation true \
		'.event == "denied" and .uid == 65534 and .severity == "critical"'

	h start B disk=/srv/secure/c.img
	refused guard-fan/prefix/deny-all openat /srv/secure/c.img
	expect_one guard-fan/prefix/recorded true '.event == "denied" and .policy == "deny-all"'

	# 1000 refused write opens at once from 10 processes: all answered;
	# each process's first recorded, the rest folded into "repeated"
	# records (guard_repeat_window = 1 s here) whose counts make up the
	# 1000, so a flood cannot push older evidence out of the log.
	burst='.event == "denied" and .comm == "guardopen" and .resource == "/srv/img/a.img"'
	folded='.event == "repeated" and .of == "denied" and .comm == "guardopen"'
	n0=$(records "$burst" | wc -l)
	f0=$(folded_count "$folded")
	"$GUARDOPEN" burst $IMG 1000 10 rw >"$OUT/burst.out" 2>&1
	out=$(cat "$OUT/burst.out")
	result guard-fan/burst/all-refused "$([ "$out" = "ok 0 denied 1000 failed 0" ] ||
		echo "$out")"
	for ((i = 0; i < 50; i++)); do
		n=$(($(records "$burst" | wc -l) - n0))
		f=$(($(folded_count "$folded") - f0))
		((n + f >= 1000)) && break
		sleep 0.1
	done
	result guard-fan/burst/all-accounted "$([ $((n + f)) -eq 1000 ] ||
		echo "$n records and $f folded: not 1000")"
	result guard-fan/burst/folded "$( ((n < 1000 && f > 0)) ||
		echo "$n records of 1000 written one by one, $f folded")"
	echo "# burst: $n of 1000 records written, $f counted in repeated records"
	# lockwarden-audit summary counts what the repeated records counted.
	# (By its name when refused in the kernel: the opener may be gone
	# before its executable is looked up.)
	n=$("$BUILD/lockwarden-audit" -l "$AUDIT" summary -j | jq '[.offender[] |
		select(.offender | test("(^|/)guardopen ")) | .count] | add')
	result guard-fan/burst/summary-counts-folded "$( ((n >= 1000)) ||
		echo "summary counts $n opens by guardopen")"

	# Re-exec: marks and policy survive; an open meanwhile waits for the
	# new image's answer, which is the gap.
	kill -USR1 "$DAEMON_PID"
	max=0
	why=
	for ((i = 0; i < 20; i++)); do
		t0=$(date +%s%N)
		out=$("$GUARDOPEN" openat $IMG rw)
		t=$((($(date +%s%N) - t0) / 1000000))
		[ "$out" = "error: EPERM" ] || why+="open $i: $out; "
		((t > max)) && max=$t
		sleep 0.01
	done
	echo "# fanotify across re-exec: every write open refused; the longest wait for an answer was $max ms"
	result guard-fan/reexec/refused-throughout "$why"
	wait_listening "$DAEMON_PID"
	result guard-fan/reexec/restored "$(grep -q 'restored lockwarden state' "$DAEMON_LOG" ||
		echo "no re-exec in the daemon's log")"
	refused guard-fan/reexec/rw-refused-after openat $IMG rw
	allowed guard-fan/reexec/ro-passes-after openat $IMG

	h stop A
	allowed guard-fan/released/rw-passes openat $IMG rw
	expect_none guard-fan/released/silent ".pid == $OPENER_PID"
	stop_guarded
fi

# ---- deny-all ----
if start_guarded guard-fan/deny-all deny-all; then
	refused guard-fan/deny-all/ro-refused openat $IMG
	refused guard-fan/deny-all/rw-refused openat $IMG rw
	open_as_vm A $IMG rw
	result guard-fan/deny-all/owner-passes "$([[ $REPLY == *": ok "* ]] || echo "$REPLY")"
	allowed guard-fan/deny-all/other-file-passes openat /srv/img/b.img rw
	stop_guarded
fi
# ---- an opener the monitor could wait on forever ----
# Its openat2's struct open_how and path sit in a page of a FUSE file that
# it drops while its open walks to the image; paging it in again waits on a
# FUSE server that never answers. Opens by others must still be answered
# at once, and SIGTERM must still stop the daemon.
FUSEBLOCK=$BUILD/selftests/fuseblock
MNT=$OUT/fuse

# stall: an opener whose openat2 arguments sit in fuseblock's page;
# fuseblock's slow lookup takes 1 s, the open reaches the image after.
stall() {
	timeout 10 "$GUARDOPEN" mapped "$MNT/how" >"$OUT/mapped.out" 2>&1 &
	MAPPED_PID=$!
	sleep 1.5
}

# stalled NAME: it was refused (openat2 counts as a write), with its page
# dropped while it waited.
stalled() {
	local out

	wait "$MAPPED_PID"
	out=$(tr '\n' ' ' <"$OUT/mapped.out")
	result "$1/stalling-opener-refused" \
		"$([ "$out" = "evicted error: EPERM " ] || echo "mapped opener gave: $out")"
}

if start_guarded guard-fan/fuse deny-write; then
	# A guest of the kernel package has fuse as a module.
	[ -e /dev/fuse ] || modprobe fuse 2>/dev/null
	mkdir -p "$MNT"
	"$FUSEBLOCK" "$MNT" "$IMG" >"$OUT/fuseblock.out" 2>&1 &
	FUSE_PID=$!
	TRACKED_PIDS+=("$FUSE_PID")
	for ((i = 0; i < 50; i++)); do
		mountpoint -q "$MNT" && break
		sleep 0.1
	done
	if ! mountpoint -q "$MNT"; then
		fail guard-fan/fuse/mounted "fuseblock did not mount: $(cat "$OUT/fuseblock.out")"
	else
		stall
		t0=$(date +%s%N)
		out=$(timeout 5 "$GUARDOPEN" openat $IMG)
		t=$((($(date +%s%N) - t0) / 1000000))
		echo "# an open of a guarded image while a stalling opener waits: answered in $t ms"
		result guard-fan/fuse/others-answered \
			"$([ "$out" = ok ] && ((t < 2000)) || echo "open gave '$out' after $t ms")"
		stalled guard-fan/fuse
		kill -USR1 "$DAEMON_PID"
		for ((i = 0; i < 50; i++)); do
			grep -q 'restored lockwarden state' "$DAEMON_LOG" && break
			sleep 0.1
		done
		if grep -q 'restored lockwarden state' "$DAEMON_LOG"; then
			pass guard-fan/fuse/sigusr1-reexecs
			# The new image, stalled the same way.
			wait_listening "$DAEMON_PID"
			stall
			stalled guard-fan/fuse/again
		else
			fail guard-fan/fuse/sigusr1-reexecs "no re-exec 5 s after SIGUSR1"
		fi
		t0=$(date +%s%N)
		kill -TERM "$DAEMON_PID"
		wait_gone "$DAEMON_PID" 50
		gone=$?
		t=$((($(date +%s%N) - t0) / 1000000))
		echo "# SIGTERM with a stalling opener about: the daemon exited in $t ms"
		result guard-fan/fuse/sigterm-stops "$( ((gone == 0)) || echo "running $t ms after SIGTERM")"
	fi
	# The FUSE server's end fails every request still waiting on it: then
	# whatever it stalled can go.
	kill -KILL "$FUSE_PID" 2>/dev/null
	wait "$FUSE_PID" 2>/dev/null
	umount -l "$MNT" 2>/dev/null
	daemon_stop
	harness_stop
fi
exit 0
