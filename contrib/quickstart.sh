#!/usr/bin/env bash
# Install what is missing, build, start a private PostgreSQL under ./.herald and run herald.
#
# Usage: contrib/quickstart.sh
# herald listens on 127.0.0.1:8080; Ctrl-C stops herald and the cluster.  The
# cluster (./.herald/pgdata) and the admin key (./.herald/admin_key, unless
# $HERALD_ADMIN_KEY is set) are kept for the next run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=contrib/lib-setup.sh
. contrib/lib-setup.sh

setup_packages
setup_configure_once
setup_make all

HERALD_LIB_FUNCTIONS_ONLY=1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

STATE=$PWD/.herald
PGDATA_DIR=$STATE/pgdata
PGSOCK_PORT=5432
LISTEN=127.0.0.1:8080
URL=http://$LISTEN

pg_find_bin || {
	setup_say "PostgreSQL server binaries not found (install postgresql or set HERALD_PG_BINDIR)"
	exit 1
}
if ((${#STATE} + 20 > 107)); then
	setup_say "$STATE is too long a path for a PostgreSQL socket; run from a shorter directory"
	exit 1
fi

mkdir -p "$STATE"
if [[ $(id -u) -eq 0 ]]; then
	chown postgres: "$STATE"
	if ! runuser -u postgres -- test -w "$STATE"; then
		setup_say "the postgres user cannot reach $STATE; a parent directory is closed to it"
		setup_say "(e.g. chmod o+x on it) or clone herald somewhere else, such as /srv or /opt"
		exit 1
	fi
fi

if [[ ! -f $PGDATA_DIR/PG_VERSION ]]; then
	if [[ -e $PGDATA_DIR ]] && [[ -n $(ls -A "$PGDATA_DIR" 2>/dev/null) ]]; then
		setup_say "$PGDATA_DIR exists but holds no cluster; remove it and run again"
		exit 1
	fi
	setup_say "initializing PostgreSQL in $PGDATA_DIR"
	pg_initdb "$PGDATA_DIR" \
		"listen_addresses = ''" \
		"unix_socket_directories = '$STATE'" \
		"port = $PGSOCK_PORT"
fi

started_pg=0
pg_ctl_q() {
	pg_as "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR" "$@"
}
# shellcheck disable=SC2317 # called by the EXIT trap
stop_all() {
	if [[ $started_pg -eq 1 ]]; then
		setup_say "stopping PostgreSQL"
		pg_ctl_q -m fast -w -t 30 stop >/dev/null || true
		started_pg=0
	fi
}
trap stop_all EXIT

if ! pg_ctl_q status >/dev/null 2>&1; then
	setup_say "starting PostgreSQL (log: $STATE/postgres.log)"
	started_pg=1
	# The log is written by the server, so it must belong to its user.
	touch "$STATE/postgres.log"
	[[ $(id -u) -ne 0 ]] || chown postgres: "$STATE/postgres.log"
	pg_ctl_q -l "$STATE/postgres.log" -w -t 60 start >/dev/null
else
	setup_say "PostgreSQL is already running in $PGDATA_DIR"
fi

PG_HOST=$STATE
PG_PORT=$PGSOCK_PORT
if [[ -z $(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'herald'") ]]; then
	setup_say "creating database herald"
	psql_admin "CREATE DATABASE herald"
fi

if [[ -z ${HERALD_ADMIN_KEY:-} ]]; then
	if [[ ! -s $STATE/admin_key ]]; then
		(
			umask 077
			printf 'hk_%s\n' "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" >"$STATE/admin_key"
		)
	fi
	chmod 600 "$STATE/admin_key"
	HERALD_ADMIN_KEY=$(<"$STATE/admin_key")
fi
export HERALD_ADMIN_KEY

cat <<EOF

herald will listen on $URL
Admin key: $HERALD_ADMIN_KEY

Try it from another terminal:

  export HERALD_KEY=$HERALD_ADMIN_KEY

  # subscribe a webhook
  curl -sS -X POST $URL/v1/subscriptions \\
    -H "Authorization: Bearer \$HERALD_KEY" -H 'Content-Type: application/json' \\
    -d '{"sink":"http://127.0.0.1:9000/hook","types":["com.example.order.placed"]}'

  # publish an event
  curl -sS -X POST $URL/v1/events \\
    -H "Authorization: Bearer \$HERALD_KEY" -H 'Content-Type: application/cloudevents+json' \\
    -d '{"specversion":"1.0","id":"order-1","source":"/shop","type":"com.example.order.placed","data":{"total":42}}'

  # its deliveries (<id> is the "id" the first call returned)
  curl -sS $URL/v1/subscriptions/<id>/deliveries -H "Authorization: Bearer \$HERALD_KEY"

Ctrl-C stops herald and PostgreSQL.

EOF

# herald runs as a child so that this script can stop the cluster after it.
# A background job ignores SIGINT, so Ctrl-C is passed on as SIGTERM.
./src/herald --listen "$LISTEN" \
	--database-url "host=$STATE port=$PGSOCK_PORT dbname=herald user=postgres" \
	--allow-private-sinks true &
herald_pid=$!
trap 'kill -TERM "$herald_pid" 2>/dev/null || true' INT TERM

rc=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	if wait "$herald_pid"; then
		rc=0
	else
		rc=$?
	fi
	kill -0 "$herald_pid" 2>/dev/null || break
done
if kill -0 "$herald_pid" 2>/dev/null; then
	kill -KILL "$herald_pid" 2>/dev/null || true
	wait "$herald_pid" 2>/dev/null || true
fi
setup_say "herald exited with status $rc"
exit "$rc"
