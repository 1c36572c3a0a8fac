#!/bin/sh
# Fails when a source, doc or build file of the tree refers to the folder
# beside the checkout that development once read (dot-dot slash "shared"):
# a clone has nothing beside it, so everything a build, a test, a benchmark
# or a reader needs must be inside the repository (vectors: tests/data).
#
#   tests/check_tree.sh [SOURCE_DIR]      (ctest runs it, label lint)
#
# Files: `git ls-files` when SOURCE_DIR is a git checkout, else every file
# under it but build/, var/ and .git; the vendored vectors of tests/data
# are skipped, their SOURCE.md and README.md are not.
set -eu
src=${1:-$(dirname "$0")/..}
cd "$src"
# Written so that this file does not match itself.
pattern='\.\.[/\\]shared([/\\]|$|[^A-Za-z0-9_.-])'

files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files
	else
		find . -path ./build -prune -o -path ./var -prune -o \
			-path ./.git -prune -o -type f -print | sed 's|^\./||'
	fi
}

hits=$(files | awk '!/^tests\/data\// || /\.md$/' | tr '\n' '\0' |
	xargs -0 -r grep -n -I -E "$pattern" -- 2>/dev/null || true)
if [ -n "$hits" ]; then
	echo "check_tree: these lines refer to a folder outside the repository;"
	echo "put what they need in the tree (test vectors: tests/data):"
	printf '%s\n' "$hits"
	exit 1
fi
echo "check_tree: no reference outside the repository"
