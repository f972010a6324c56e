# Shared by the checks under tests/house/ (sourced): the environment make
# check gives them, a temporary directory removed at exit, and TAP lines.
set -euo pipefail
export LC_ALL=C

if [[ -z ${HERALD_BIN:-} || -z ${HERALD_SRCDIR:-} ]]; then
	echo "HERALD_BIN or HERALD_SRCDIR is not set (run through make check): skipped"
	exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

# ok DESC; not_ok DESC [DETAIL]: one TAP line each
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[[ -z ${2:-} ]] || printf '%s\n' "$2" | sed 's/^/#   /'
}

# house_summary: the count line; true when nothing failed
house_summary() {
	echo "$((n - failed)) passed, $failed failed"
	[[ $failed -eq 0 ]]
}
