#!/usr/bin/env bash
# The modules under src/ use one another without a circle: a module may
# call into another only if that one does not call back into it, however
# indirectly.  Read from the built objects (nm): module A uses module B
# when an object of A needs a symbol that an object of B defines.
#
# A module is a .c file and its header, except the dispatcher's parts
# (dispatch*.c), which are one module, "dispatch", sharing dispatch_core.h.
set -euo pipefail
export LC_ALL=C

if [[ -z ${HERALD_BIN:-} ]]; then
	echo "HERALD_BIN is not set (run through make check): skipped"
	exit 77
fi
build=$(dirname "$HERALD_BIN")
lib=$build/libherald.a
if [[ ! -f $lib ]] || ! command -v nm >/dev/null; then
	echo "no $lib or no nm: skipped"
	exit 77
fi

module_of() {
	local stem=${1##*/}
	stem=${stem%.o}
	stem=${stem#libherald_a-}
	case $stem in
	dispatch | dispatch_*) echo dispatch ;;
	*) echo "$stem" ;;
	esac
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# "object kind symbol" for every defined (T, D, B, R...) and needed (U) symbol
nm -A "$lib" 2>/dev/null |
	sed -n 's/^[^:]*:\([^:]*\.o\): *[0-9a-f]* *\([A-Za-z]\) \(.*\)$/\1 \2 \3/p' \
		>"$work/syms"
while read -r obj kind sym; do
	case $kind in
	U) ;;
	[A-Z]) echo "$sym $(module_of "$obj")" ;;
	esac
done <"$work/syms" | sort -u >"$work/defs"
while read -r obj kind sym; do
	if [[ $kind == U ]]; then
		echo "$sym $(module_of "$obj")"
	fi
done <"$work/syms" | sort -u >"$work/uses"
# "user provider" for every symbol a module needs from another
join "$work/uses" "$work/defs" | awk '$2 != $3 { print $2, $3 }' | sort -u \
	>"$work/pairs"
edges=$(wc -l <"$work/pairs")

fail=0
if [[ $edges -lt 20 ]]; then
	echo "not ok 1 - only $edges dependencies found between modules in $lib"
	fail=1
else
	echo "ok 1 - $edges dependencies between modules in $lib"
fi
if out=$(tsort "$work/pairs" 2>&1 >/dev/null) && [[ -z $out ]]; then
	echo "ok 2 - no circle between modules"
else
	echo "not ok 2 - modules call one another in a circle:"
	printf '%s\n' "$out" | sed 's/^/#   /'
	fail=1
fi
if [[ $fail -eq 0 ]]; then
	echo "2 passed, 0 failed"
else
	echo "1 passed, 1 failed"
fi
exit "$fail"
