#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Each layer of userspace/ includes only its own and lower layers' headers
# (lowest first below). Prints every include that reaches up, and fails if
# there is one.
set -eu
cd "$(dirname "$0")/../userspace"
layers="lib rpc audit lockd guard daemon"
bad=0
rank() {
	i=0
	for l in $layers; do
		[ "$l" = "$1" ] && { echo $i; return; }
		i=$((i + 1))
	done
	echo -1
}
for dir in $layers; do
	mine=$(rank "$dir")
	for f in "$dir"/*.[ch]; do
		for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
			owner=$(ls */"$h" 2>/dev/null | cut -d/ -f1 | head -n1)
			[ -n "$owner" ] || continue	# include/, bpf/ or generated
			if [ "$(rank "$owner")" -gt "$mine" ]; then
				echo "$f includes $owner/$h"
				bad=$((bad + 1))
			fi
		done
	done
done
echo "$bad includes of a higher layer"
[ "$bad" -eq 0 ]
