#!/bin/bash
# Start-up: concurrent first starts migrate once, restarts migrate nothing,
# an unreachable database and a taken port make herald exit non-zero.
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE='Content-Type: application/cloudevents+json'
RUN=$$-$RANDOM

event_json() {
	printf '{"specversion":"1.0","source":"%s","id":"%s","type":"com.example.startup"}' "$1" "$2"
}

# spawn LOG ARGS...: start herald in the background with the lib's wrapper;
# sets SPAWNED and registers it so finish/cleanup stop it.
spawn() {
	local logf=$1 wrapper=()
	shift
	if [[ -n ${HERALD_WRAPPER:-} ]]; then
		read -r -a wrapper <<<"$HERALD_WRAPPER"
	fi
	"${wrapper[@]}" "$HERALD_BIN" "$@" >>"$logf" 2>&1 &
	SPAWNED=$!
	HERALD_PIDS+=("$SPAWNED")
}

healthy() {
	[[ $(_http_code "$1/healthz") == 200 && $(_http_code "$1/readyz") == 200 ]]
}

# wait_exit PID TIMEOUT_S: wait for PID to end; sets EXITED (0/1) and RC.
wait_exit() {
	local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
	EXITED=0
	RC=
	while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		return 0
	fi
	EXITED=1
	wait "$pid" 2>/dev/null && RC=0 || RC=$?
	_herald_forget "$pid"
}

pg_use_shared_or_start
db_create
HERALD_LOG=$TEST_TMPDIR/herald.log

# ------------------------------------------------------------ bad database_url
# herald retries the connection for about 30 s before it gives up, so this
# runs in the background while the rest of the script goes on.

NOPG_PORT=$(free_port) || die "no free port"
BAD_LOG=$TEST_TMPDIR/herald-baddb.log
bad_t0=$(now_ms)
timeout 45 "$HERALD_BIN" --listen "127.0.0.1:$(free_port)" \
	--database-url "host=127.0.0.1 port=$NOPG_PORT dbname=nothing user=postgres" \
	--admin-key "$ADMIN_KEY" >"$BAD_LOG" 2>&1 &
BAD_PID=$!

# ------------------------------------------------------------ two at once

PORT_A=$(free_port) || die "no free port"
PORT_B=$(free_port) || die "no free port"
while [[ $PORT_B == "$PORT_A" ]]; do PORT_B=$(free_port) || die "no free port"; done
URL_A=http://127.0.0.1:$PORT_A
URL_B=http://127.0.0.1:$PORT_B
common=(--database-url "$DATABASE_URL" --admin-key "$ADMIN_KEY" --allow-private-sinks true)
spawn "$HERALD_LOG" --listen "127.0.0.1:$PORT_A" "${common[@]}"
PID_A=$SPAWNED
spawn "$HERALD_LOG" --listen "127.0.0.1:$PORT_B" "${common[@]}"
PID_B=$SPAWNED
log "started herald $PID_A on $PORT_A and $PID_B on $PORT_B against one fresh database"

wait_until 20 "herald A started together with B becomes healthy" healthy "$URL_A"
wait_until 20 "herald B started together with A becomes healthy" healthy "$URL_B"

expected_versions=$(cd "$HERALD_SRCDIR/sql" && ls [0-9]*.sql | sed -E 's/^0*([0-9]+).*/\1/' | sort -n | paste -sd, -)
expected_names=$(cd "$HERALD_SRCDIR/sql" && ls [0-9]*.sql | sort | paste -sd, -)
n_files=$(cd "$HERALD_SRCDIR/sql" && ls [0-9]*.sql | wc -l)
expect_eq "$(db_psql "SELECT string_agg(version::text, ',' ORDER BY version) FROM herald_migration")" \
	"$expected_versions" "herald_migration has one row per file in sql/ (versions $expected_versions)"
expect_eq "$(db_psql "SELECT string_agg(name, ',' ORDER BY version) FROM herald_migration")" \
	"$expected_names" "herald_migration names the files of sql/"
expect_eq "$(grep -c 'applying migration' "$HERALD_LOG")" "$n_files" \
	"the two instances applied each migration once between them"

SRC=/startup/$RUN
declare -A SEQ=()
for who in A B; do
	url_var=URL_$who
	api POST "${!url_var}/v1/events" "$(event_json "$SRC" "from-$who")" -H "$CE"
	expect_status 202 "herald $who accepts an event"
	SEQ[$who]=$(printf '%s' "$RESP" | jq -r '.seq')
done
api POST "$URL_B/v1/events" "$(event_json "$SRC" from-A)" -H "$CE"
expect_status 200 "the event published on A is a duplicate on B"
expect_json '.seq' "${SEQ[A]}" "with A's seq"

# ------------------------------------------------------------ port in use

spawn "$TEST_TMPDIR/herald-port.log" --listen "127.0.0.1:$PORT_A" "${common[@]}"
pid=$SPAWNED
wait_exit "$pid" 20
expect_eq "$EXITED:$RC" "1:1" "a second herald on a port in use exits 1"
check "its message names the address 127.0.0.1:$PORT_A" \
	grep -q "127.0.0.1:$PORT_A" "$TEST_TMPDIR/herald-port.log"
[[ $EXITED -eq 1 ]] || herald_kill9 "$pid"
check "herald A still answers" healthy "$URL_A"

# ------------------------------------------------------------ restart: nothing to apply

herald_stop "$PID_A"
expect_eq "$HERALD_EXIT_STATUS" 0 "herald A exits 0 on SIGTERM"
herald_stop "$PID_B"
expect_eq "$HERALD_EXIT_STATUS" 0 "herald B exits 0 on SIGTERM"
lines_before=$(wc -l <"$HERALD_LOG")
herald_start
check "herald restarts on the migrated database" healthy "$HERALD_URL"
check "the restart applies no migration" \
	bash -c '! tail -n +$(('"$lines_before"' + 1)) "$1" | grep -q "applying migration"' _ "$HERALD_LOG"
expect_eq "$(db_psql "SELECT count(*) FROM herald_migration")" "$n_files" \
	"herald_migration still has one row per file"
for who in A B; do
	api GET "/v1/events/${SEQ[$who]}"
	expect_status 200 "the event published on $who is kept across the restart"
	expect_json '(.event // .) | .id' "from-$who" "and it is that event"
done
api POST /v1/events "$(event_json "$SRC" after-restart)" -H "$CE"
expect_status 202 "the restarted herald accepts events"

# ------------------------------------------------------------ bad database_url: the verdict

wait_exit "$BAD_PID" 45
bad_took=$(($(now_ms) - bad_t0))
log "herald with an unreachable database ended after ${bad_took} ms (exited=$EXITED status=$RC)"
check "herald with an unreachable database_url exits by itself (not killed by timeout 45)" \
	test "$EXITED" -eq 1 -a "${RC:-124}" -ne 124
check "with a non-zero status ($RC)" test "${RC:-0}" -ne 0
check "and says it cannot connect to PostgreSQL" grep -qi 'cannot connect' "$BAD_LOG"
[[ $EXITED -eq 1 ]] || kill -KILL "$BAD_PID" 2>/dev/null

finish
