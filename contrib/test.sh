#!/usr/bin/env bash
# Install what is missing, build, start a throwaway PostgreSQL and run make check.
#
# Usage: contrib/test.sh [--distcheck] [configure args...]
#        e.g. contrib/test.sh --enable-werror
# The arguments go to ./configure, which runs again only when they change.
# --distcheck runs `make distcheck` instead of `make check`: the release
# tarball is made, then built out of tree and tested (configured with the
# same arguments), with the same throwaway PostgreSQL.
# Environment: TESTS="tests/integration/a.sh tests/unit/check_b" runs only those.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=contrib/lib-setup.sh
. contrib/lib-setup.sh

target=check
if [[ ${1:-} == --distcheck ]]; then
	target=distcheck
	shift
fi

setup_packages
setup_configure "$@"
setup_make all

# One cluster for the whole run; each test script makes its own database.
setup_private_cluster

if pg_find_bin; then
	setup_say "starting a throwaway PostgreSQL"
	pg_start_private
	export HERALD_TEST_PGHOST=$PG_HOST HERALD_TEST_PGPORT=$PG_PORT
	setup_say "PostgreSQL on $PG_HOST:$PG_PORT ($PG_DIR)"
else
	setup_say "no PostgreSQL server binaries: integration tests will skip"
fi

# The integration tests check herald's answers against doc/openapi.yaml
# when node and the npm modules of tests/openapi are installed (there:
# npm ci); neither is needed to run them.  The path is exported for
# --distcheck, whose tarball carries no node_modules.
if command -v node >/dev/null 2>&1 && [[ -d tests/openapi/node_modules/ajv ]]; then
	export HERALD_OPENAPI_MODULES=$PWD/tests/openapi/node_modules
	setup_say "answers checked against doc/openapi.yaml"
else
	setup_say "answers not checked against doc/openapi.yaml: no node or no npm modules (cd tests/openapi && npm ci)"
fi
# Likewise the web console's browser test (tests/integration/console.sh):
# chromium and the npm modules of tests/browser.
if [[ -d tests/browser/node_modules/puppeteer-core ]]; then
	export HERALD_BROWSER_MODULES=$PWD/tests/browser/node_modules
fi

rc=0
started=$(mktemp)
check_args=("$target")
[[ -z ${TESTS:-} ]] || check_args+=("TESTS=$TESTS")
if [[ $target == distcheck ]]; then
	check_args+=("DISTCHECK_CONFIGURE_FLAGS=$*")
fi
setup_make "${check_args[@]}" || rc=$?

if [[ $rc -ne 0 ]]; then
	setup_say "make check failed; logs of the failed tests follow"
	while IFS= read -r trs; do
		if grep -qE '^:test-result: (FAIL|ERROR|XPASS)' "$trs"; then
			log_file=${trs%.trs}.log
			printf '\n========== %s ==========\n' "$log_file"
			cat "$log_file" 2>/dev/null || echo "(no log)"
		fi
	done < <(find . -name '*.trs' -newer "$started" -not -path './.herald/*' | sort)
	rm -f "$started"
	exit "$rc"
fi
rm -f "$started"
setup_say "all tests passed"
