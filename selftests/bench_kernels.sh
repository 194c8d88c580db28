# shellcheck shell=bash
# Sourced by bench.sh: what refusing in the kernel costs, on Debian's
# kernel in a guest (selftests/guest/), where lsm/file_open loads. The
# owner's open+close of its own image (guardbench owner, CPU ns, best of
# its rounds) with nothing guarded (and, in rounds between, under an empty
# lsm/file_open program: the hook's own price, the floor), guarded under lsm
# deny-write (the BPF monitor alone), guarded under fanotify deny-write
# (fanotify alone); and a stray process's denied write open (wall ns per
# open of 2000) against the same opens of an unguarded file. Ratios to the
# unguarded figure. env KB_BASE (default: make bench BASE='s): another
# build's lockwardend, its lsm deny-write measured in the same rounds.
# env KB_ICOUNT=1: one vCPU whose clock counts instructions (QEMU -icount),
# so the figures are instructions, which the host's load does not move.
# Run on the host it boots the guest and runs itself there (LWGUEST=1).

section_kernels() {
	local clock=TCG guest=(-t 900) base=${KB_BASE:-${LOCKWARDEND_BASE:-}}

	[ -n "${KB_ICOUNT:-}" ] && clock='TCG -icount' guest=(-t 2400 -c 1 -q "-icount shift=0")
	echo "== guard enforcement on $(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" { print $2; exit }') (guest, $clock): ns per operation"
	"$SELFTESTS/guest/guest.sh" "${guest[@]}" -e "BUILD=$BUILD" ${base:+-e "KB_BASE=$base"} \
		-- unshare -m -- bash -c '
		mount -t tmpfs lw-run /run && mount -t tmpfs lw-srv /srv &&
		exec bash "$0"' "$SELFTESTS/bench_kernels.sh" ||
		echo "  (the guest failed: status $?)"
}

# guardbench owner's "owner=NS" lines (and with -e "empty_lsm=NS").
kb_owner() {
	"$BUILD/selftests/guardbench" -r 7 "$@" owner "$IMAGE" open "$IMAGE"
}

# Wall ns per open of 2000 write opens of PATH by one stray process (a VM
# of vmharness holds the image meanwhile).
kb_stray() {
	local t0 t1

	t0=$(date +%s%N)
	"$BUILD/selftests/guardopen" burst "$1" 2000 1 rw >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 2000))
}

kb_min() {
	awk -v a="$1" -v b="${2:-}" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }'
}

kernels_in_guest() {
	local i name out hook='' owner_records=0
	declare -A ns

	IMAGE=/srv/bench/image
	mkdir -p /srv/bench
	: >"$IMAGE"
	: >/srv/bench/plain
	for ((i = 0; i < 3; i++)); do
		for name in none lsm ${KB_BASE:+base} fan; do
			case $name in
			none) guard_daemon 'guard_monitors = [ ]' ;;
			base) LOCKWARDEND=$KB_BASE guard_daemon 'guard_monitors = [ "bpf" ]' \
				'guard_policy = "deny-write"' ;;
			lsm) guard_daemon 'guard_monitors = [ "bpf" ]' 'guard_policy = "deny-write"' ;;
			fan) guard_daemon 'guard_monitors = [ "fanotify" ]' 'guard_policy = "deny-write"' ;;
			esac || { echo "  $name: $DAEMON_ERR"; return; }
			[ "$name" = lsm ] && hook=$GUARD_HOOK
			if [ "$name" = none ]; then
				out=$(kb_owner -e)
				ns[empty]=$(kb_min "$(sed -n 's/^empty_lsm=//p' <<<"$out")" "${ns[empty]:-}")
			else
				out=$(kb_owner)
			fi
			ns[$name]=$(kb_min "$(sed -n 's/^owner=//p' <<<"$out")" "${ns[$name]:-}")
			# Owner and stray alike in the initial pid namespace here
			# (the program's fast path): the owner's opens must pass
			# unrecorded.
			[ "$name" = lsm ] && owner_records=$((${owner_records:-0} +
				$(records '.comm == "guardbench"' | wc -l)))
			if [ "$name" = lsm ]; then
				harness_start
				h image "$IMAGE"
				h start S disk="$IMAGE"
				ns[stray]=$(kb_min "$(kb_stray "$IMAGE")" "${ns[stray]:-}")
				ns[plain]=$(kb_min "$(kb_stray /srv/bench/plain)" "${ns[plain]:-}")
				h stop S
				harness_stop
			fi
			daemon_stop "$DAEMON_PID" >/dev/null 2>&1
		done
	done
	printf '  %-52s %10s %7s\n' "" "ns" "ratio"
	printf '  %-52s %10s %7s\n' "owner's open+close, nothing guarded" "${ns[none]}" 1.00
	printf '  %-52s %10s %7s\n' "owner's open+close, nothing guarded, empty lsm prog" \
		"${ns[empty]}" "$(ratio "${ns[empty]}" "${ns[none]}")"
	printf '  %-52s %10s %7s\n' "owner's open+close, guarded, ${hook:-lsm?} deny-write" \
		"${ns[lsm]}" "$(ratio "${ns[lsm]}" "${ns[none]}")"
	[ -n "${KB_BASE:-}" ] && printf '  %-52s %10s %7s\n' "  the same, $KB_BASE" \
		"${ns[base]}" "$(ratio "${ns[base]}" "${ns[none]}")"
	printf '  %-52s %10s %7s\n' "owner's open+close, guarded, fanotify deny-write" \
		"${ns[fan]}" "$(ratio "${ns[fan]}" "${ns[none]}")"
	printf '  %-52s %10s %7s\n' "stray write open, unguarded file (wall)" "${ns[plain]}" 1.00
	printf '  %-52s %10s %7s\n' "stray write open refused by ${hook:-lsm?} (wall)" \
		"${ns[stray]}" "$(ratio "${ns[stray]}" "${ns[plain]}")"
	echo "  owner's opens recorded under ${hook:-lsm?}: ${owner_records:-?} (0 when right)"
}

if [ "${LWGUEST:-}" = 1 ]; then
	source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
	source "$SELFTESTS/guard_lib.sh"
	ratio() {
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
	}
	kernels_in_guest
fi
