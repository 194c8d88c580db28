#!/usr/bin/env bash
# Run one scenario by hand and print its transcript:
#   selftests/scenario.sh SCENARIO.scn DAEMON_BINARY [DAEMON_BINARY...]
# e.g. selftests/scenario.sh selftests/scenarios/exclusive.scn /usr/sbin/virtlockd
# Several daemons are hosts a, b, ... sharing /srv (selftests/scenarios/two_hosts/).
# Everything runs in a fresh mount namespace (tmpfs /run and /srv); daemon
# logs and the harness's stderr stay under build/selftests/out/scenario/.
set -u

[ $# -ge 2 ] || { echo "usage: $0 SCENARIO.scn DAEMON_BINARY [DAEMON_BINARY...]" >&2; exit 2; }
source "$(dirname "$0")/lib.sh"

scn=$(realpath "$1")
shift
out=$OUT/$(basename "$scn" .scn).out
scenario_run "$scn" "$out" "$@"
rc=$?
cat "$out"
cat "$out.err" >&2
exit $rc
