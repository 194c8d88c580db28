#!/usr/bin/env bash
# make test-kernels: the guard's tests (selftests/*guard*) on the BPF hooks
# this host cannot load, in guests of Debian's own kernel (selftests/guest/):
#   lsm    its default command line, whose LSM list has bpf: lsm/file_open
#   fexit  lsm= without bpf: fexit/vfs_open
# (make test covers tp_btf/sys_exit on the host.)  The legs boot at once and
# each checks that the daemon chose the hook it is meant to test.  Every
# result line carries its leg; ends with "N passed, N failed" and the wall
# time.  Exit status 1 if anything failed.
#
# Usage: selftests/kernels.sh [PATTERN]   (default: guard)
#   env: BUILD (./build), LWGUEST_KERNEL, KERNELS_TIMEOUT per leg (900 s),
#        TEST_TIMEOUT per test file in the guest (600 s: TCG is slow);
#        each leg's scratch files are kept in $BUILD/selftests/kernels/LEG/
set -u

SELFTESTS=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$(dirname "$SELFTESTS")/build}
pattern=${1:-guard}
GUEST=$SELFTESTS/guest/guest.sh
t0=$SECONDS
npass=0 nfail=0 nskip=0

# LEG HOOK KERNEL-CMDLINE
legs=(
	"lsm lsm/file_open "
	"fexit fexit/vfs_open lsm=lockdown,capability,landlock,yama,apparmor,tomoyo"
)

"$GUEST" -P || { echo "FAIL kernels/prepare: cannot prepare the guest kernel"; echo "0 passed, 1 failed"; exit 1; }
rm -rf "$BUILD/selftests/kernels"
pids=()
for leg in "${legs[@]}"; do
	read -r name hook cmdline <<<"$leg"
	dir=$BUILD/selftests/kernels/$name
	mkdir -p "$dir/out"
	# The guest's own build/selftests/out is on its tmpfs overlay: copy
	# it out before it powers off.
	"$GUEST" -t "${KERNELS_TIMEOUT:-900}" ${cmdline:+-a "$cmdline"} -o "$dir/console" \
		-w "$dir/out" -e "BUILD=$BUILD" -e "TEST_TIMEOUT=${TEST_TIMEOUT:-600}" -- bash -c '
			bash "$0/run.sh" "$1"; rc=$?
			cp -a "$BUILD/selftests/out/." "$2/"
			exit $rc' "$SELFTESTS" "$pattern" "$dir/out" >"$dir/log" 2>&1 &
	pids+=($!)
done

i=0
for leg in "${legs[@]}"; do
	read -r name hook cmdline <<<"$leg"
	dir=$BUILD/selftests/kernels/$name
	wait "${pids[$i]}"
	rc=$?
	i=$((i + 1))
	# The result lines, named by leg; run.sh's own totals as comments.
	sed -E -n "s/^(PASS|FAIL|SKIP) /\\1 $name:/p; s/^([0-9]+ (passed|skipped).*)/# $name: \\1/p" \
		"$dir/log"
	npass=$((npass + $(grep -c '^PASS ' "$dir/log")))
	nfail=$((nfail + $(grep -c '^FAIL ' "$dir/log")))
	nskip=$((nskip + $(grep -c '^SKIP ' "$dir/log")))
	if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$dir/log"; then
		echo "FAIL $name: the guest ended with status $rc: $(tail -n 3 "$dir/log" | tr '\n' ' ')"
		nfail=$((nfail + 1))
	fi
	# The leg tested the hook it is for, and no other.
	ran=$(grep -oE '^(PASS|FAIL|SKIP) .* \[[a-z_]+/[a-z_]+\]' "$dir/log" |
		sed -E 's/.*\[(.*)\]$/\1/' | sort -u | tr '\n' ' ')
	if [ "$ran" = "$hook " ]; then
		echo "PASS $name:kernels/hook [$hook]"
		npass=$((npass + 1))
	else
		echo "FAIL $name:kernels/hook: the daemon ran on '${ran% }', not $hook"
		nfail=$((nfail + 1))
	fi
done

echo "# tp_btf/sys_exit runs in make test, on the host"
echo "wall time: $((SECONDS - t0)) s"
echo "$nskip skipped"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
