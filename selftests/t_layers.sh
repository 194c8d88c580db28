#!/usr/bin/env bash
# The layers of userspace/ (lib rpc audit lockd guard daemon, lowest first)
# include only their own and lower layers' headers (scripts/layers.sh), and
# the check itself catches an include that reaches up.
source "$(dirname "$0")/lib.sh"

ROOT=$SELFTESTS/..

clean() {
	local out

	out=$(bash "$ROOT/scripts/layers.sh" 2>&1) || echo "$out"
}

# A copy of the tree where lib/ includes the daemon's header: refused.
caught() {
	local tmp=$OUT/layers out

	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp -r "$ROOT/scripts" "$ROOT/userspace" "$tmp/"
	sed -i '0,/^#include "/s//#include "daemon.h"\n&/' "$tmp/userspace/lib/util.c"
	if out=$(bash "$tmp/scripts/layers.sh" 2>&1); then
		echo "an include of daemon.h from lib/ passed: $out"
	elif [[ $out != *"lib/util.c includes daemon/daemon.h"* ]]; then
		echo "the violation is not named: $out"
	fi
}

result layers/no-include-reaches-up "$(clean)"
result layers/check-catches-one "$(caught)"
