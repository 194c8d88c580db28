#!/usr/bin/env bash
# Run one scenario by hand and print its transcript:
#   selftests/scenario.sh DAEMON_BINARY SCENARIO.scn
# e.g. selftests/scenario.sh /usr/sbin/virtlockd selftests/scenarios/exclusive.scn
# The daemon runs in a fresh mount namespace (tmpfs /run and /srv); its log
# and the harness's stderr are kept under build/selftests/out/scenario/.
set -u

[ $# -eq 2 ] || { echo "usage: $0 DAEMON_BINARY SCENARIO.scn" >&2; exit 2; }
source "$(dirname "$0")/lib.sh"

out=$OUT/$(basename "$2" .scn).$(basename "$1").out
scenario_run "$1" "$(realpath "$2")" "$out"
rc=$?
cat "$out"
cat "$out.err" >&2
exit $rc
