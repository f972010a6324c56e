#!/usr/bin/env bash
# The relay: events emitted in a producer database's transactions (a second cluster, wal_level = logical) reach subscribers once, in commit order, across crashes.
set -euo pipefail
. "$HERALD_SRCDIR/tests/integration/lib.sh"

SLOT=herald_t

pg_use_shared_or_start
db_create
pg_start_producer
producer_psql "$(cat "$HERALD_SRCDIR/sql/producer/herald_publish.sql")" >/dev/null
# the README's set-up: herald connects as a role with REPLICATION only
producer_psql "CREATE ROLE herald_relay LOGIN REPLICATION PASSWORD 'change-me';
	CREATE PUBLICATION herald_relay;
	CREATE TABLE ctr (k text PRIMARY KEY, n int NOT NULL DEFAULT 0);
	INSERT INTO ctr SELECT 'k' || i, 0 FROM generate_series(0, 19) i;" >/dev/null
receiver_start
RELAY_ARGS=(--relay-from "${PRODUCER_URL/user=postgres/user=herald_relay}" --relay-slot "$SLOT")
herald_start "${RELAY_ARGS[@]}"
RELAY_NAME="127.0.0.1:$PRODUCER_PORT/postgres"

# ev ID TYPE [PARTITIONKEY]: a CloudEvent as JSON text
ev() {
	jq -cn --arg id "$1" --arg t "$2" --arg k "${3:-}" '{specversion: "1.0",
		id: $id, source: "/test/relay", type: $t,
		datacontenttype: "application/json", data: {id: $id}}
		+ (if $k != "" then {partitionkey: $k} else {} end)'
}

# ce_ids PATH: the ce-id of every request PATH received, in arrival order
ce_ids() {
	receiver_requests "$1" | jq -c '[.[] | .headers["ce-id"]]'
}

# distinct_ids PATH N: true once PATH received N distinct events
distinct_ids() {
	local n
	n=$(receiver_requests "$1" | jq '[.[] | .headers["ce-id"]] | unique | length') || return 1
	[[ $n == "$2" ]]
}

relay_field() {
	api GET /v1/relays
	printf '%s' "$RESP" | jq -r ".relays[0].$1"
}

relay_is_owner() {
	[[ $(relay_field owner) == true ]]
}

for s in basic rej ord k9 pr fo cust; do
	t=relay.$s
	[[ $s == rej ]] && t=herald.relay.rejected
	[[ $s == cust ]] && t=customerProfileUpdated
	extra='{}'
	[[ $s == ord ]] && extra='{"delivery":{"ordering":"partitionkey","max_in_flight":8}}'
	sub_create "$s" "$(jq -cn --arg u "$RECEIVER_URL/$s" --arg t "$t" \
		--argjson x "$extra" '{sink: $u, types: [$t]} + $x')"
done

wait_until 20 "GET /v1/relays: this instance owns the relay" relay_is_owner
expect_eq "$(relay_field slot)" "$SLOT" "GET /v1/relays names the slot"
expect_eq "$(relay_field name)" "$RELAY_NAME" "GET /v1/relays names the producer"
expect_eq "$(producer_psql "SELECT plugin FROM pg_replication_slots WHERE slot_name = '$SLOT'")" \
	pgoutput "the slot was created, with pgoutput"

# ---------------------------------------------------------------- commit, rollback

log "a committed transaction's event is delivered, a rolled-back one never"
producer_psql "BEGIN; SELECT herald_publish('$(ev c1 relay.basic)'); COMMIT;" >/dev/null
producer_psql "BEGIN; SELECT herald_publish('$(ev r1 relay.basic)'); ROLLBACK;" >/dev/null
producer_psql "SELECT herald_publish('$(ev c2 relay.basic)')" >/dev/null
wait_until 20 "basic: both committed events delivered" distinct_ids /basic 2
expect_eq "$(ce_ids /basic)" '["c1","c2"]' \
	"basic: c1 then c2, each once, and never the rolled-back r1 (emitted between them)"
R=$(receiver_requests /basic)
expect_eq "$(printf '%s' "$R" | jq -r '.[0].headers["ce-source"]')" /test/relay \
	"basic: the event is delivered as published"

log "the README's worked example, run as written"
# the example's SQL, between the first "CREATE TABLE customer" and "COMMIT;"
EXAMPLE=$(awk '/^    CREATE TABLE customer/ {on = 1} on {print} on && /^    COMMIT;/ {exit}' \
	"$HERALD_SRCDIR/README")
[[ -n $EXAMPLE ]] || die "the worked example is not in the README"
printf '%s\n' "$EXAMPLE" |
	"$(_psql_bin)" -X -q -A -t -v ON_ERROR_STOP=1 -d "$PRODUCER_URL" >/dev/null ||
	die "the worked example failed"
wait_until 20 "example: customerProfileUpdated delivered" receiver_has /cust 1
R=$(receiver_requests /cust)
expect_eq "$(printf '%s' "$R" | jq -r '.[0].body')" '{"changed": ["address"], "customer": 42}' \
	"example: the data as the README says"
expect_eq "$(producer_psql "SELECT address FROM customer WHERE id = 42")" "7 New Street" \
	"example: the address changed in the same transaction"

# ---------------------------------------------------------------- invalid event

log "an invalid event between two valid ones is reported and skipped"
producer_psql "SELECT herald_publish('$(ev v1 relay.basic)')" >/dev/null
producer_psql "SELECT pg_logical_emit_message(true, 'herald', '{\"specversion\":\"1.0\",\"id\":\"bad\",\"source\":\"/test/relay\"}')" >/dev/null
producer_psql "SELECT herald_publish('$(ev v2 relay.basic)')" >/dev/null
wait_until 20 "invalid: both valid events delivered" distinct_ids /basic 4
expect_eq "$(ce_ids /basic | jq -c '.[2:]')" '["v1","v2"]' "invalid: v1 then v2, the bad one skipped"
wait_until 20 "invalid: herald.relay.rejected delivered" receiver_has /rej 1
R=$(receiver_requests /rej)
expect_eq "$(printf '%s' "$R" | jq -r '.[0].body | fromjson | .relay')" "$RELAY_NAME" \
	"invalid: the rejection names the relay"
expect_eq "$(printf '%s' "$R" | jq -r '.[0].body | fromjson | .lsn | test("^[0-9A-F]+/[0-9A-F]+$")')" true \
	"invalid: the rejection gives the producer's LSN"
expect_eq "$(printf '%s' "$R" | jq -r '.[0].body | fromjson | .error | startswith("missing_attribute") or startswith("invalid")')" true \
	"invalid: the rejection says why ($(printf '%s' "$R" | jq -r '.[0].body'))"
api GET /metrics
expect_eq "$(printf '%s\n' "$RESP" | grep -c "^herald_relay_rejected_total{relay=\"$RELAY_NAME\"} 1$" || true)" 1 \
	"invalid: herald_relay_rejected_total counts it"
expect_eq "$(printf '%s\n' "$RESP" | grep -c "^herald_relay_lag_bytes{relay=\"$RELAY_NAME\"} " || true)" 1 \
	"herald_relay_lag_bytes is exposed"
expect_eq "$(printf '%s\n' "$RESP" | grep -c "^herald_relay_lag_seconds{relay=\"$RELAY_NAME\"} " || true)" 1 \
	"herald_relay_lag_seconds is exposed"

# ---------------------------------------------------------------- commit order per key

# load PREFIX TYPE CONNS PER: CONNS connections in parallel, each PER
# transactions; transaction i of connection c bumps key k((c + CONNS*i) %
# 20) and emits an event carrying the key's new count (the row lock makes
# the counts the key's commit order).
load() {
	local prefix=$1 type=$2 conns=$3 per=$4 c i k pids=()
	for ((c = 0; c < conns; c++)); do
		for ((i = 0; i < per; i++)); do
			k=k$(((c + conns * i) % 20))
			printf "BEGIN;
WITH u AS (UPDATE ctr SET n = n + 1 WHERE k = '%s' RETURNING k, n)
SELECT herald_publish(jsonb_build_object('specversion', '1.0',
	'id', '%s-' || k || '-' || n, 'source', '/test/relay', 'type', '%s',
	'partitionkey', k, 'datacontenttype', 'application/json',
	'data', jsonb_build_object('key', k, 'n', n))) FROM u;
COMMIT;\n" "$k" "$prefix" "$type"
		done | "$(_psql_bin)" -X -q -A -t -v ON_ERROR_STOP=1 -d "$PRODUCER_URL" >/dev/null &
		pids+=($!)
	done
	for c in "${pids[@]}"; do
		wait "$c" || return 1
	done
}

log "1000 transactions over 20 keys from 8 connections"
producer_psql "UPDATE ctr SET n = 0" >/dev/null
load ord relay.ord 8 125 || die "the producers failed"
wait_until 120 "ord: 1000 distinct events delivered" distinct_ids /ord 1000
R=$(receiver_requests /ord | jq -c '[.[] | .body | fromjson]')
expect_eq "$(printf '%s' "$R" | jq 'length')" 1000 "ord: 1000 requests, none twice"
expect_eq "$(printf '%s' "$R" | jq -c '[group_by(.key)[] | select([.[].n] != [range(1; 51)]) | .[0].key]')" \
	'[]' "ord: each key's events arrive in its commit order (n = 1..50)"

# ---------------------------------------------------------------- kill -9

log "herald killed with -9 mid-stream, then restarted"
PORT=$HERALD_PORT
producer_psql "UPDATE ctr SET n = 0" >/dev/null
load k9 relay.k9 8 50 &
LOAD=$!
poll_until 60 receiver_has /k9 20 || true
herald_kill9
wait "$LOAD" || die "the producers failed"
log "k9: at the kill, herald had delivered $(receiver_requests /k9 | jq '[.[] | .headers["ce-id"]] | unique | length') of 400"
HERALD_LISTEN_PORT=$PORT herald_start "${RELAY_ARGS[@]}"
wait_until 90 "k9: all 400 committed events delivered" distinct_ids /k9 400
R=$(receiver_requests /k9)
expect_eq "$(printf '%s' "$R" | jq '[.[] | .headers["webhook-id"]] | unique | length')" 400 \
	"k9: none twice: one webhook-id per event"
expect_eq "$(printf '%s' "$R" | jq '[.[] | [.headers["ce-id"], .headers["webhook-id"]]] | unique | length')" 400 \
	"k9: every event under one webhook-id"

# ---------------------------------------------------------------- producer restart

log "the producer database restarted mid-stream"
producer_psql "UPDATE ctr SET n = 0" >/dev/null
load pr relay.pr 4 25 || die "the producers failed"
producer_stop fast
producer_start
load pr2 relay.pr 4 25 || die "the producers failed after the restart"
wait_until 60 "pr: all 200 events delivered after the producer's restart" distinct_ids /pr 200
wait_until 20 "pr: this instance owns the relay again" relay_is_owner

# ---------------------------------------------------------------- failover

log "two instances: one relays, the other takes over when it is killed"
A_PID=$HERALD_PID
A_URL=$HERALD_URL
herald_start "${RELAY_ARGS[@]}"
B_PID=$HERALD_PID
B_URL=$HERALD_URL
expect_eq "$(relay_field owner)" false "failover: the second instance does not relay"
HERALD_URL=$A_URL
expect_eq "$(relay_field owner)" true "failover: the first one does"
producer_psql "SELECT herald_publish('$(ev f1 relay.fo)')" >/dev/null
wait_until 20 "failover: f1 delivered" distinct_ids /fo 1
herald_kill9 "$A_PID"
HERALD_URL=$B_URL
HERALD_PID=$B_PID
wait_until 20 "failover: the second instance takes the relay over" relay_is_owner
producer_psql "SELECT herald_publish('$(ev f2 relay.fo)')" >/dev/null
wait_until 20 "failover: f2 delivered by the second instance" distinct_ids /fo 2
expect_eq "$(ce_ids /fo)" '["f1","f2"]' "failover: each once"

finish
