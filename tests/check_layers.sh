#!/usr/bin/env bash
# check_layers.sh - the module graph, from the #include lines, held against
# docs/ARCHITECTURE.md.
#
#   tests/check_layers.sh SOURCE_DIR           check (a ctest, label lint)
#   tests/check_layers.sh SOURCE_DIR --print   print the graph's lines
#
# A module is a top-level folder of C sources (common/ and every folder
# with a CMakeLists.txt, less tests/, bench/ and fuzz/).  Module A uses B
# when a file of A includes "B/..." (or "../B/...").  It fails when:
#   - the graph has a cycle;
#   - a library (anything but service/ and cli/) includes libevent;
#   - the lines between the "module-graph" markers of
#     docs/ARCHITECTURE.md differ from the graph of the code.
set -euo pipefail

src=${1:?usage: check_layers.sh SOURCE_DIR [--print]}
mode=${2:-check}
cd "$src"

modules() {
	echo common
	for d in */; do
		d=${d%/}
		case $d in tests | bench | fuzz | build | docs | scripts) continue ;; esac
		[ -f "$d/CMakeLists.txt" ] && echo "$d"
	done
}

# "A: B C" lines, modules in the order of modules(), uses sorted.
graph() {
	local m uses
	for m in $(modules); do
		uses=$(grep -hoE '^#include "(\.\./)?[a-z_]+/' "$m"/*.[ch] 2>/dev/null |
			sed -E 's,#include "(\.\./)?,,; s,/$,,' | sort -u |
			grep -vx "$m" | tr '\n' ' ' | sed 's/ $//' || true)
		echo "$m:${uses:+ $uses}"
	done
}

if [ "$mode" = --print ]; then
	graph
	exit 0
fi

fail=0
g=$(graph)

# Cycles: tsort names a loop on stderr.
pairs=$(echo "$g" | awk -F': ' '{ n = split($2, u, " "); print $1, $1;
	for (i = 1; i <= n; i++) print u[i], $1 }')
if ! echo "$pairs" | tsort >/dev/null 2>/tmp/check_layers.$$; then
	echo "check_layers: the module graph has a cycle:" >&2
	cat /tmp/check_layers.$$ >&2
	fail=1
fi
rm -f /tmp/check_layers.$$

# libevent stays in the executables.
for m in $(modules); do
	case $m in service | cli) continue ;; esac
	if grep -lE '^#include <event2/' "$m"/*.[ch] 2>/dev/null; then
		echo "check_layers: library $m/ includes libevent (above)" >&2
		fail=1
	fi
done

# The document's copy of the graph.
doc=docs/ARCHITECTURE.md
if [ ! -f "$doc" ]; then
	echo "check_layers: $doc is missing" >&2
	fail=1
else
	documented=$(awk '/<!-- module-graph:end -->/ { on = 0 }
		on && /^[a-z_]+:/ { print }
		/<!-- module-graph:begin -->/ { on = 1 }' "$doc")
	if [ "$documented" != "$g" ]; then
		echo "check_layers: $doc's module graph differs from the code" >&2
		echo "--- documented" >&2
		echo "$documented" >&2
		echo "+++ from the #include lines (tests/check_layers.sh . --print)" >&2
		echo "$g" >&2
		fail=1
	fi
fi

[ $fail = 0 ] && echo "check_layers: $(echo "$g" | wc -l) modules, acyclic, libevent only in service and cli, $doc matches"
exit $fail
