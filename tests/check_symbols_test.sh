#!/bin/sh
# The lint's own test: check_symbols.sh with the real prefix table must fail
# on an archive (lint_planted.c) that exports an unprefixed symbol under a
# strict library's name, naming the symbol; report but pass it under an
# allowed library's name; and fail for a library the table does not know.
#
#   tests/check_symbols_test.sh CHECK-SYMBOLS TABLE PLANTED-ARCHIVE
set -eu

if [ $# -ne 3 ]; then
	echo "usage: check_symbols_test.sh CHECK-SYMBOLS TABLE ARCHIVE" >&2
	exit 2
fi
check=$1
table=$2
planted=$3
failed=0

# expect WANT-STATUS PATTERN NAME: runs the check on the planted archive
# as library NAME and wants that exit status and PATTERN (grep -E) in the
# output.
expect() {
	st=0
	out=$(sh "$check" "$table" "$3=$planted" 2>&1) || st=$?
	if [ "$st" -ne "$1" ] || ! printf '%s\n' "$out" | grep -Eq "$2"; then
		echo "FAILED: as '$3' wanted status $1 and /$2/, got $st:"
		printf '%s\n' "$out"
		failed=1
	else
		echo "ok: as '$3': status $st, /$2/"
	fi
}

expect 1 "^FAIL ledger: 'planted_unprefixed' \(lint_planted.c.o\)" ledger
expect 0 "^    planted_unprefixed " market
expect 1 "^FAIL no_such_lib .*no line" no_such_lib
# The prefixed symbol is never reported.
if sh "$check" "$table" "ledger=$planted" 2>&1 | grep -q ledger_planted_ok
then
	echo "FAILED: a prefixed symbol was reported"
	failed=1
fi
exit "$failed"
