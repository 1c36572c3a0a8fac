#!/bin/sh
# Checks that every project static library exports only names carrying its
# module's prefix (STYLE.md, "Names"): an unprefixed global in one static
# archive is one link away from a clash with another's, or with a system
# library's (mpz_digits sat in GMP's namespace).
#
#   tests/check_symbols.sh TABLE NAME=ARCHIVE...
#
# TABLE is tests/symbol-prefixes: "NAME PREFIX..." lines, '#' comments,
# and an [allow-unprefixed] section for libraries not yet clean.  Each
# NAME=ARCHIVE is a library target and its archive (CMake passes every
# static library of the project; see tests/lint.cmake).  The defined
# global symbols (nm -g --defined-only, any type but U) must start with
# one of NAME's prefixes.
#
# Exit 1, naming the library, symbol and object, when a symbol of a listed
# library lacks its prefix or a library has no line (a new library must
# choose its prefix); allowed libraries' symbols are printed, not failed.
# Exit 2 on bad usage or an unreadable table or archive.
set -eu

NM=${NM:-nm}

if [ $# -lt 1 ]; then
	echo "usage: check_symbols.sh TABLE NAME=ARCHIVE..." >&2
	exit 2
fi
table=$1
shift
if [ ! -r "$table" ]; then
	echo "check_symbols.sh: cannot read $table" >&2
	exit 2
fi

# The line of library $1: "strict|allowed PREFIX...", or nothing.
lookup() {
	awk -v want="$1" '
		{ sub(/#.*/, "") }
		$1 == "[allow-unprefixed]" { section = "allowed"; next }
		NF >= 2 && $1 == want {
			out = section == "" ? "strict" : section
			for (i = 2; i <= NF; i++)
				out = out " " $i
			print out
			exit
		}' "$table"
}

# "OBJECT SYMBOL" for every defined global of archive $1 whose name starts
# with none of the prefixes $2 (space-separated).
unprefixed() {
	"$NM" -g --defined-only "$1" | awk -v prefixes="$2" '
		BEGIN { n = split(prefixes, p, " ") }
		/:$/ { obj = substr($0, 1, length($0) - 1); next }
		NF == 3 && $2 != "U" {
			# AddressSanitizer adds __odr_asan.NAME beside each
			# global variable NAME: judge NAME.
			sym = $3
			sub(/^__odr_asan\./, "", sym)
			for (i = 1; i <= n; i++)
				if (index(sym, p[i]) == 1)
					next
			print obj, sym
		}' | sort -u
}

status=0
checked=0
given=" "
for arg in "$@"; do
	name=${arg%%=*}
	lib=${arg#*=}
	if [ "$name" = "$arg" ] || [ -z "$name" ] || [ ! -r "$lib" ]; then
		echo "check_symbols.sh: expected NAME=ARCHIVE, got '$arg'" \
			"(or the archive is missing)" >&2
		exit 2
	fi
	given="$given$name "
	line=$(lookup "$name")
	if [ -z "$line" ]; then
		echo "FAIL $name ($lib): no line in $table; give the library" \
			"its prefix there"
		status=1
		continue
	fi
	mode=${line%% *}
	prefixes=${line#* }
	bad=$(unprefixed "$lib" "$prefixes") || {
		echo "check_symbols.sh: $NM failed on $lib" >&2
		exit 2
	}
	count=$(printf '%s' "$bad" | grep -c . || true)
	checked=$((checked + 1))
	if [ "$count" -eq 0 ] && [ "$mode" = strict ]; then
		echo "ok   $name: every symbol starts with $prefixes"
	elif [ "$count" -eq 0 ]; then
		echo "note $name: clean (prefixes $prefixes); move it out of" \
			"[allow-unprefixed]"
	elif [ "$mode" = strict ]; then
		printf '%s\n' "$bad" | while read -r obj sym; do
			echo "FAIL $name: '$sym' ($obj) does not start with" \
				"$prefixes"
		done
		status=1
	else
		echo "allowed $name: $count unprefixed (not failed until it" \
			"leaves [allow-unprefixed]):"
		printf '%s\n' "$bad" | while read -r obj sym; do
			echo "    $sym ($obj)"
		done
	fi
done
# Lines for libraries this build does not have (left out with MM_SKIP,
# renamed, or still to come) are noted, not failed.
awk '{ sub(/#.*/, "") }
	$1 == "[allow-unprefixed]" { next }
	NF >= 2 { print $1 }' "$table" |
	while read -r name; do
		case "$given" in
		*" $name "*) ;;
		*) echo "note $name: listed, not built" ;;
		esac
	done
if [ "$checked" -eq 0 ] && [ "$status" -eq 0 ]; then
	echo "check_symbols.sh: no library given" >&2
	exit 2
fi
exit "$status"
