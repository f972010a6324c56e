#!/bin/bash
# Statements PostgreSQL refuses, made to fail on purpose in the test's own
# database: the route answers 500 {"error":"internal"} without any SQL, the
# log has the statement, the message and the SQLSTATE once at error level,
# and the route works again once the cause is gone.  A refused ingest
# stores nothing; a deadlock is a 503, worth retrying; a time PostgreSQL
# cannot take, or text that is not UTF-8, is the caller's 400 and no
# error in the log.
# shellcheck disable=SC2016
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')

pg_use_shared_or_start
db_create
# one database worker: which statements it has prepared is known
herald_start --db-pool-size 1 --writers 1

# log_lines REGEX: how many lines of herald's log match.
log_lines() {
	grep -cE "$1" "$HERALD_LOG" || true
}

# resp_is JQ: the last reply's body passes the jq test.
resp_is() {
	jq -e "$1" <<<"$RESP" >/dev/null
}

# expect_internal DESC: a 500 whose JSON error is "internal" and whose
# message tells where the detail is and holds nothing of the database's.
expect_internal() {
	expect_status 500 "$1"
	expect_json '.error' internal "$1: error is internal"
	check "$1: the message points to the server log" \
		resp_is '.message | test("server log")'
	check "$1: the message holds no SQL, constraint or SQLSTATE" \
		resp_is '.message | test("herald_test|SQLSTATE|INSERT|SELECT|column|constraint"; "i") | not'
}

ev() { # ID TYPE: a structured event
	jq -cn --arg id "$1" --arg type "$2" \
		'{specversion:"1.0", id:$id, source:"/dberrors", type:$type}'
}

# ------------------------------------------------------------ a write refused

db_psql "ALTER TABLE api_key ADD CONSTRAINT herald_test_refuse CHECK (name <> 'refused')"
api POST /v1/keys '{"name":"refused","scopes":["publish"]}'
expect_internal "a key the database refuses"
expect_eq "$(log_lines 'error: keys_insert: .*herald_test_refuse.*\(SQLSTATE 23514\)( request_id=[0-9a-f]{32})?$')" 1 \
	"the refusal is logged once, at error level, with the statement and SQLSTATE 23514"
expect_eq "$(db_psql "SELECT count(*) FROM api_key WHERE name = 'refused'")" 0 \
	"the refused key was not stored"
api POST /v1/keys '{"name":"accepted","scopes":["publish"]}'
expect_status 201 "another key is stored meanwhile"
db_psql "ALTER TABLE api_key DROP CONSTRAINT herald_test_refuse"
api POST /v1/keys '{"name":"refused","scopes":["publish"]}'
expect_status 201 "the same key is stored once the constraint is gone"

# ------------------------------------------------------------ a read refused

api GET /v1/keys
expect_status 200 "keys listed (the statement is now prepared)"
db_psql "ALTER TABLE api_key RENAME COLUMN revoked_at TO herald_test_revoked"
api GET /v1/keys
expect_internal "a prepared statement over a renamed column"
expect_eq "$(log_lines 'error: keys_list: .*\(SQLSTATE 42703\)( request_id=[0-9a-f]{32})?$')" 1 \
	"the failed list is logged with SQLSTATE 42703"
api DELETE /v1/keys/1
expect_internal "a statement that cannot even be prepared"
expect_eq "$(log_lines 'error: keys_revoke: .*\(SQLSTATE 42703\)( request_id=[0-9a-f]{32})?$')" 1 \
	"the failed PREPARE is logged once, under the statement's name"
db_psql "ALTER TABLE api_key RENAME COLUMN herald_test_revoked TO revoked_at"
api GET /v1/keys
expect_status 200 "keys listed again once the column is back"
expect_json 'map(select(.name == "refused")) | length' 1 "the list has the key stored earlier"

# ------------------------------------------------------------ an ingest refused

db_psql "ALTER TABLE event ADD CONSTRAINT herald_test_refuse CHECK (type <> 'test.refused') NOT VALID"
api POST /v1/events "$(ev r1 test.refused)" "${CE[@]}"
expect_internal "an event the database refuses"
expect_eq "$(log_lines 'error: writer_insert_events: .*herald_test_refuse.*\(SQLSTATE 23514\)( request_id=[0-9a-f]{32})?$')" 1 \
	"the refused insert is logged once with SQLSTATE 23514"
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE id = 'r1'")" 0 "nothing of it was stored"
api POST /v1/events "$(ev ok1 test.ok)" "${CE[@]}"
expect_status 202 "another event is stored meanwhile"
db_psql "ALTER TABLE event DROP CONSTRAINT herald_test_refuse"
api POST /v1/events "$(ev r1 test.refused)" "${CE[@]}"
expect_status 202 "the same event is stored once the constraint is gone"
expect_json '.duplicate' false "and it is new"

# ------------------------------------------------------------ a conflict

db_psql "CREATE FUNCTION herald_test_deadlock() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.type = 'test.deadlock' THEN
		RAISE EXCEPTION 'herald_test: a deadlock' USING ERRCODE = 'deadlock_detected';
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER herald_test_deadlock BEFORE INSERT ON event
	FOR EACH ROW EXECUTE FUNCTION herald_test_deadlock()"
api POST /v1/events "$(ev d1 test.deadlock)" "${CE[@]}"
expect_status 503 "an ingest that lost a deadlock is a 503, worth retrying"
expect_json '.error' unavailable "its error is unavailable"
expect_eq "$(log_lines 'warn: writer_insert_events: herald_test: a deadlock \(SQLSTATE 40P01\)( request_id=[0-9a-f]{32})?$')" 1 \
	"the deadlock is logged once, at warn, with SQLSTATE 40P01"
expect_eq "$(log_lines 'error: .*40P01')" 0 "and not as an error"
db_psql "DROP TRIGGER herald_test_deadlock ON event"
api POST /v1/events "$(ev d1 test.deadlock)" "${CE[@]}"
expect_status 202 "the retry succeeds"

# ------------------------------------------------------------ slow, not down

# Each statement of an ingest's transaction well within the timeout, the
# whole transaction not (two of them sleep 2.5 s): the publisher is
# answered 503 at the deadline, and nothing is stored.
sub_create "slow" '{"sink":"http://127.0.0.1:9/none","types":["test.slow"]}'
db_psql "CREATE FUNCTION herald_test_slow() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	-- (NEW.type exists only on event: test the table first; the row
	-- trigger runs on the partition, event_pN)
	IF TG_TABLE_NAME LIKE 'event%' THEN
		IF NEW.type = 'test.slow' THEN
			PERFORM pg_sleep(2.5);
		END IF;
	ELSIF EXISTS (SELECT 1 FROM event e
		      WHERE e.seq = NEW.seq AND e.type = 'test.slow') THEN
		PERFORM pg_sleep(2.5);
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER herald_test_slow BEFORE INSERT ON event
	FOR EACH ROW EXECUTE FUNCTION herald_test_slow();
CREATE TRIGGER herald_test_slow BEFORE INSERT ON delivery
	FOR EACH ROW EXECUTE FUNCTION herald_test_slow()"
api POST /v1/events "$(ev s1 test.slow)" "${CE[@]}"
expect_status 503 "an ingest whose transaction outlasts the timeout is a 503"
check "it is answered within 5 s, not after the 5 s of sleep ($ELAPSED s)" \
	eval '[[ $(awk -v t="$ELAPSED" "BEGIN { print (t < 5) }") == 1 ]]'
none_sleeping() {
	[[ $(db_psql "SELECT count(*) FROM pg_stat_activity
		WHERE wait_event = 'PgSleep' AND datname = current_database()") == 0 ]]
}
wait_until 10 "the abandoned transaction has ended" none_sleeping
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE id = 's1'")" 0 \
	"nothing of the slow ingest was stored"
db_psql "DROP TRIGGER herald_test_slow ON event; DROP TRIGGER herald_test_slow ON delivery"
api POST /v1/events "$(ev s1 test.slow)" "${CE[@]}"
expect_status 202 "the same event is stored once the database is quick again"
expect_json '.duplicate' false "and it is new"

# ------------------------------------------------------------ a slow client, a quick database

# A body that takes longer than the timeout to arrive is the client's
# time, not the database's: the deadline runs from when it is whole.
slow_key() {
	local body='{"name":"slowly","scopes":["publish"]}' fd reply
	exec {fd}<>"/dev/tcp/127.0.0.1/$HERALD_PORT"
	printf 'POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"$ADMIN_KEY" "${#body}" "${body:0:10}" >&"$fd"
	sleep 4.5
	printf '%s' "${body:10}" >&"$fd"
	reply=$(timeout 10 cat <&"$fd")
	exec {fd}<&-
	printf '%s' "$reply" | head -n 1 | tr -d '\r'
}
expect_eq "$(slow_key)" "HTTP/1.1 201 Created" \
	"a body sent over 4.5 s still gets its key (201), not a 503"
expect_eq "$(db_psql "SELECT count(*) FROM api_key WHERE name = 'slowly'")" 1 \
	"and the key is stored"

# ------------------------------------------------------------ the caller's mistake

sub_create "replay target" '{"sink":"http://127.0.0.1:9/none","types":["test.none"]}'
api POST "/v1/subscriptions/$SUB_ID/replay" '{"since":"0000-01-01T00:00:00Z"}'
expect_status 400 "a time PostgreSQL cannot take is the caller's 400"
expect_json '.field' since "naming the field"
api POST /v1/keys $'{"name":"\xff","scopes":["publish"]}'
expect_status 400 "a body that is not UTF-8 is the caller's 400"
expect_json '.error' invalid_json "its error is invalid_json"
api GET '/v1/events?type=%ff'
expect_status 400 "a query parameter that is not UTF-8 is the caller's 400"
expect_json '.error' invalid_parameter "its error is invalid_parameter"
expect_eq "$(log_lines 'error: .*SQLSTATE 22')" 0 "and no error in the log"

# every query error above was logged once: no line more
expect_eq "$(log_lines 'error: .*SQLSTATE')" 4 "four query errors in the log, no more"
grep -E 'SQLSTATE' "$HERALD_LOG" | sed 's/^/# herald: /'

finish
