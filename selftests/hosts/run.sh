#!/usr/bin/env bash
# make test-hosts: two guests on Debian's kernel (selftests/guest/) as two
# hosts sharing NFSv4.2 storage, joined by a QEMU socket network over
# loopback; host b is also the NFS server. Each runs selftests/hosts/host.sh;
# their PASS/FAIL/GAP lines are printed as they come, then the counts and
# the wall time. A GAP line is a known gap of virtlockd, not a failure.
set -u
HOSTS_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$(dirname "$HOSTS_DIR")")
BUILD=${BUILD:-$ROOT/build}
GUEST=$ROOT/selftests/guest/guest.sh
start=$(date +%s)

work=$(mktemp -d /tmp/lwhosts.XXXXXX)
mkdir -p "$work/sync"
pids=()
tailer=
cleanup() {
	local p

	[ -z "$tailer" ] || kill "$tailer" 2>/dev/null
	# each guest's guest.sh, whose own trap stops its QEMU
	for p in "${pids[@]}"; do
		pkill -P "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A free loopback port for the guests' network.
port=
for ((i = 0; i < 50; i++)); do
	p=$((20000 + RANDOM % 20000))
	if ! ss -Htln "sport = :$p" | grep -q .; then
		port=$p
		break
	fi
done
[ -n "$port" ] || { echo "FAIL hosts/setup: no free loopback port"; echo "0 passed, 1 failed"; exit 1; }

# guest NAME NETDEV MAC: one host, its output in $work/NAME.out.
guest() {
	local name=$1 netdev=$2 mac=$3

	"$GUEST" -n "lwhost-$name" -m 768 -c 1 -t "${HOSTS_TIMEOUT:-540}" -w "$work/sync" \
		-o "$work/$name.console" \
		-q "-netdev socket,id=n0,$netdev -device virtio-net-pci,netdev=n0,mac=$mac" \
		-e "LWHOST=$name" -e "SYNC=$work/sync" -e "OUT=$work/sync/out-$name" \
		-e "BUILD=$BUILD" -e "NFS_LEASE=${NFS_LEASE:-10}" \
		${NFS_MOUNT_OPTS:+-e "NFS_MOUNT_OPTS=$NFS_MOUNT_OPTS"} ${CUT_HOLD:+-e "CUT_HOLD=$CUT_HOLD"} \
		-- bash "$HOSTS_DIR/host.sh" >"$work/$name.out" 2>&1
	echo $? >"$work/$name.rc"
}

"$GUEST" -P || { echo "FAIL hosts/setup: the guest harness cannot prepare its kernel"; exit 1; }
# b listens: it starts first, and QEMU listens before the guest boots.
guest b "listen=127.0.0.1:$port" 52:54:00:00:00:02 &
pids+=($!)
for ((i = 0; i < 100; i++)); do
	ss -Htln "sport = :$port" | grep -q . && break
	sleep 0.1
done
guest a "connect=127.0.0.1:$port" 52:54:00:00:00:01 &
pids+=($!)

# Lines as they come, each host's prefixed by nothing (they name their host).
touch "$work/a.out" "$work/b.out"
tail -q -n +1 -F "$work/a.out" "$work/b.out" 2>/dev/null &
tailer=$!
wait "${pids[@]}"
pids=()
sleep 0.5
kill "$tailer" 2>/dev/null
wait "$tailer" 2>/dev/null

npass=$(cat "$work"/{a,b}.out | grep -c '^PASS ')
nfail=$(cat "$work"/{a,b}.out | grep -c '^FAIL ')
ngap=$(cat "$work"/{a,b}.out | grep -c '^GAP ')
for h in a b; do
	rc=$(cat "$work/$h.rc" 2>/dev/null || echo none)
	if [ "$rc" != 0 ]; then
		echo "FAIL hosts/$h/guest: exit status $rc; console tail:"
		tail -n 15 "$work/$h.console" 2>/dev/null | sed 's/^/#   /'
		nfail=$((nfail + 1))
	fi
done
if [ "$nfail" -gt 0 ]; then
	keep=$BUILD/selftests/out/hosts
	rm -rf "$keep"
	mkdir -p "$keep"
	cp -r "$work"/. "$keep/" 2>/dev/null
	echo "# logs kept in $keep"
fi
rm -rf "$work"
echo "$ngap expected gaps"
echo "$npass passed, $nfail failed"
echo "wall time: $(($(date +%s) - start)) s"
[ "$nfail" -eq 0 ]
