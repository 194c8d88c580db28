#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Each layer of userspace/ includes only its own and lower layers' headers
# (lowest first below). Prints every include that reaches up and how many,
# and fails if there is one. Headers of include/, bpf/ and build/ belong to
# no layer.
set -euo pipefail
cd "$(dirname "$0")/../userspace"
layers=(lib rpc audit lockd guard daemon)
declare -A rank_of
for i in "${!layers[@]}"; do
	for h in "${layers[$i]}"/*.h; do
		rank_of[${h#*/}]=$i
	done
done

bad=0
for i in "${!layers[@]}"; do
	for f in "${layers[$i]}"/*.[ch]; do
		while read -r h; do
			r=${rank_of[$h]:-}
			if [ -n "$r" ] && [ "$r" -gt "$i" ]; then
				echo "$f includes ${layers[$r]}/$h"
				bad=$((bad + 1))
			fi
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
	done
done
echo "$bad includes of a higher layer"
[ "$bad" -eq 0 ]
