#!/bin/sh
# The lint's own test: check_symbols.sh with the real prefix table must fail
# on an archive (lint_planted.c) that exports an unprefixed symbol under
# every library's name, naming the symbol (the real table allows nothing);
# and fail for a library the table does not know.  The [allow-unprefixed]
# mechanism is checked on a copy of the table with one allowed library
# added: there the symbol is reported but passes.
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
allowed_table=$(mktemp)
trap 'rm -f "$allowed_table"' EXIT
cat "$table" >"$allowed_table"
printf '\n[allow-unprefixed]\nlint_allowed lint_allowed_\n' >>"$allowed_table"

# expect WANT-STATUS PATTERN NAME [TABLE]: runs the check on the planted
# archive as library NAME (with the real table unless TABLE is given) and
# wants that exit status and PATTERN (grep -E) in the output.
expect() {
	st=0
	out=$(sh "$check" "${4:-$table}" "$3=$planted" 2>&1) || st=$?
	if [ "$st" -ne "$1" ] || ! printf '%s\n' "$out" | grep -Eq "$2"; then
		echo "FAILED: as '$3' wanted status $1 and /$2/, got $st:"
		printf '%s\n' "$out"
		failed=1
	else
		echo "ok: as '$3': status $st, /$2/"
	fi
}

for lib in mmcommon ledger tokens policies anonymizer market intake edge; do
	expect 1 "^FAIL $lib: 'planted_unprefixed' \(lint_planted.c.o\)" "$lib"
done
expect 0 "^    planted_unprefixed " lint_allowed "$allowed_table"
expect 1 "^FAIL no_such_lib .*no line" no_such_lib
# The prefixed symbol is never reported.
if sh "$check" "$table" "ledger=$planted" 2>&1 | grep -q ledger_planted_ok
then
	echo "FAILED: a prefixed symbol was reported"
	failed=1
fi
exit "$failed"
