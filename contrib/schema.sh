#!/usr/bin/env bash
# Regenerate doc/schema.sql: the schema every migration in sql/ produces.
#
# Usage: contrib/schema.sh
# Installs what is missing, builds herald, starts it once against an empty
# database in a private PostgreSQL and writes pg_dump's view of the result
# to doc/schema.sql (tests/integration/schema.sh checks it stays current).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=contrib/lib-setup.sh
. contrib/lib-setup.sh

setup_packages
setup_configure_once
setup_make all tests/receiver

HERALD_BIN=$PWD/src/herald HERALD_RECEIVER=$PWD/tests/receiver \
	HERALD_SRCDIR=$PWD HERALD_SCHEMA_UPDATE=1 \
	bash tests/integration/schema.sh
setup_say "doc/schema.sql regenerated; git diff doc/schema.sql shows the change"
