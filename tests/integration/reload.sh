#!/bin/bash
# Request ids and SIGHUP: X-Request-Id is echoed (when safe) or made on every
# response and logged; a reload switches to debug JSON lines whose access
# line names the same id; a bad file keeps every setting; a changed listen
# needs a restart; a lowered api_rate brings 429s; without -c, nothing to do.
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

pg_use_shared_or_start
db_create
HERALD_LOG=$TEST_TMPDIR/herald.log
CONF=$TEST_TMPDIR/herald.conf
PORT=$(free_port) || die "no free port"
OTHER_PORT=$(free_port) || die "no free port"
while [[ $OTHER_PORT == "$PORT" ]]; do OTHER_PORT=$(free_port) || die "no free port"; done

# write_conf KEY=VALUE...: the config file with these lines after the
# fixed ones (database, key, port).
write_conf() {
	{
		printf 'database_url = "%s"\n' "$DATABASE_URL"
		printf 'admin_key = "%s"\n' "$ADMIN_KEY"
		printf 'allow_private_sinks = true\n'
		printf '%s\n' "$@"
	} >"$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
}

# mark: remember where the log ends; since_mark: what came after.
mark() { MARK=$(wc -l <"$HERALD_LOG"); }
since_mark() { tail -n +"$((MARK + 1))" "$HERALD_LOG"; }
logged() { since_mark | grep -qF -- "$1"; }

# hup: send SIGHUP and wait for herald to say how it went (one line).
hup() {
	mark
	kill -HUP "$HERALD_PID"
	wait_until 10 "$1: the reload is logged" logged "$2"
}

# access_json ID: the JSON access line of request ID, after the mark.
access_json() {
	since_mark | grep '^{' | jq -c --arg id "$1" \
		'select(.request_id == $id and (.msg | startswith("access: ")))' 2>/dev/null | tail -n 1
}
has_access() { [[ -n $(access_json "$1") ]]; }

request_id() { resp_header X-Request-Id; }
is_new_id() { [[ $1 =~ ^[0-9a-f]{32}$ ]]; }

# ------------------------------------------------------------ no -c

herald_start --log-level debug
kill -HUP "$HERALD_PID"
wait_until 10 "without -c, SIGHUP says there is no file to re-read" \
	grep -qF "no configuration file to re-read" "$HERALD_LOG"
api GET /healthz
expect_status 200 "still serving after a SIGHUP without -c"
check "herald without -c exits 0 on SIGTERM" herald_stop

# ------------------------------------------------------------ start with -c

write_conf "listen = 127.0.0.1:$PORT" "log_level = info" "log_format = text"
wrapper=()
if [[ -n ${HERALD_WRAPPER:-} ]]; then
	read -r -a wrapper <<<"$HERALD_WRAPPER"
fi
HERALD_URL=http://127.0.0.1:$PORT
printf '=== %s herald start with -c %s\n' "$(date +%T)" "$CONF" >>"$HERALD_LOG"
"${wrapper[@]}" "$HERALD_BIN" -c "$CONF" >>"$HERALD_LOG" 2>&1 &
HERALD_PID=$!
HERALD_PIDS+=("$HERALD_PID")
healthy() { [[ $(_http_code "$HERALD_URL/healthz") == 200 ]]; }
poll_until "$HERALD_START_TIMEOUT" healthy || die "herald -c did not start"
mark
START_MARK=$MARK

# ------------------------------------------------------------ request ids

api GET /v1/subscriptions '' -H 'X-Request-Id: abc-123.x:y_z'
expect_status 200 "a request with a valid X-Request-Id"
expect_eq "$(request_id)" "abc-123.x:y_z" "a valid X-Request-Id is echoed"

api GET /v1/subscriptions
GEN_A=$(request_id)
check "without X-Request-Id, one is made: 32 hex digits ($GEN_A)" is_new_id "$GEN_A"
api GET /v1/subscriptions
check "each request gets its own id" test "$(request_id)" != "$GEN_A"

LONG=$(printf 'a%.0s' {1..65})
api GET /v1/subscriptions '' -H "X-Request-Id: $LONG"
check "a 65-character X-Request-Id is replaced by a new one" is_new_id "$(request_id)"
api GET /v1/subscriptions '' -H 'X-Request-Id: has space'
check "an X-Request-Id with a space is replaced by a new one" is_new_id "$(request_id)"
api GET /v1/subscriptions '' -H 'X-Request-Id: a"b'
check "an X-Request-Id with a quote is replaced by a new one" is_new_id "$(request_id)"

# every reply carries one, errors included
api GET /v1/nowhere '' -H 'X-Request-Id: err-404'
expect_status 404 "an unknown path"
expect_eq "$(request_id)" "err-404" "a 404 carries X-Request-Id"
api DELETE /v1/events '' -H 'X-Request-Id: err-405'
expect_status 405 "a wrong method"
expect_eq "$(request_id)" "err-405" "a 405 carries X-Request-Id"
KEY='' api GET /v1/subscriptions '' -H 'X-Request-Id: err-401'
expect_status 401 "no key"
expect_eq "$(request_id)" "err-401" "a 401 carries X-Request-Id"
BIG=$(head -c 300000 /dev/zero | tr '\0' 'x')
api POST /v1/events "$BIG" -H 'Content-Type: application/cloudevents+json' \
	-H 'X-Request-Id: err-413'
expect_status 413 "a body over max_event_bytes"
expect_eq "$(request_id)" "err-413" "a 413 carries X-Request-Id"
api GET /healthz '' -H 'X-Request-Id: health-1'
expect_eq "$(request_id)" "health-1" "a route without a key carries X-Request-Id"

hup "nothing changed yet" "reloaded: no live setting changed"
MARK=$START_MARK
check "at info, no access line is logged" test "$(since_mark | grep -c 'access: ')" -eq 0

# ------------------------------------------------------------ reload to debug json

# lowered rate not yet in force: a quick run of requests passes
n429=0
for i in 1 2 3 4 5 6; do
	api GET /v1/subscriptions
	[[ $STATUS == 429 ]] && n429=$((n429 + 1))
done
expect_eq "$n429" 0 "with api_rate = 0, six quick requests get no 429"

write_conf "listen = 127.0.0.1:$PORT" "log_level = debug" "log_format = json"
hup "debug and json" "reloaded: log_level info -> debug, log_format text -> json"

api GET "/v1/subscriptions?limit=5&token=s3cr3t" '' -H 'X-Request-Id: after-reload-1'
expect_status 200 "a request after the reload"
wait_until 10 "its access line is a JSON line with its request_id" has_access after-reload-1
line=$(access_json after-reload-1)
expect_eq "$(jq -r '.level' <<<"$line")" "debug" "the access line is at debug"
check "the access line names method, path, status, bytes, ms and key: $line" \
	grep -qE '^access: GET /v1/subscriptions status=200 bytes=[0-9]+ ms=[0-9.]+ key=0$' \
	<<<"$(jq -r '.msg' <<<"$line")"
check "the time is RFC 3339 UTC with milliseconds" \
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' \
	<<<"$(jq -r '.time' <<<"$line")"

api GET /v1/subscriptions
GEN_B=$(request_id)
check "a made id after the reload: $GEN_B" is_new_id "$GEN_B"
wait_until 10 "the made X-Request-Id is the one logged" has_access "$GEN_B"

# every line since the reload is a JSON object with time, level and msg
# (the summary itself is the last line in the old format)
since_reload=$(since_mark | sed '1,/reloaded: log_level info -> debug/d')
check "lines follow the reload" test -n "$since_reload"
bad=$(printf '%s\n' "$since_reload" | while IFS= read -r l; do
	jq -e 'type == "object" and has("time") and has("level") and has("msg")' \
		<<<"$l" >/dev/null 2>&1 || printf '%s\n' "$l"
done)
expect_eq "$bad" "" "every line after the reload is JSON"
check "the query is not logged" test "$(grep -c s3cr3t "$HERALD_LOG")" -eq 0
check "the API key is not logged" test "$(grep -cF "$ADMIN_KEY" "$HERALD_LOG")" -eq 0

# ------------------------------------------------------------ a bad file

write_conf "listen = 127.0.0.1:$PORT" "log_level = loud" "api_rate = 1"
hup "a bad value" "reload failed: $CONF:5: invalid value \\\"loud\\\" for log_level"
check "the failure is logged as an error" \
	test "$(since_mark | grep -F 'reload failed' | jq -r .level)" = error
api GET /v1/subscriptions '' -H 'X-Request-Id: after-bad-1'
wait_until 10 "after a failed reload, lines are still debug JSON" has_access after-bad-1
n429=0
for i in 1 2 3 4 5 6; do
	api GET /v1/subscriptions
	[[ $STATUS == 429 ]] && n429=$((n429 + 1))
done
expect_eq "$n429" 0 "the api_rate of the failed file is not applied"

printf 'listen = 127.0.0.1:%s\nlog_level = debug\nbogus line\n' "$PORT" >"$CONF"
hup "a syntax error" "reload failed: $CONF:3: missing \\\"=\\\" after \\\"bogus\\\""

# ------------------------------------------------------------ a restart key

write_conf "listen = 127.0.0.1:$OTHER_PORT" "log_level = debug" "log_format = json"
hup "listen changed" "listen changed and needs a restart"
check "the needs-restart line is a warning" \
	test "$(since_mark | grep -F 'needs a restart' | jq -r .level)" = warn
check "the summary says no live setting changed" logged "reloaded: no live setting changed"
api GET /healthz
expect_status 200 "still serving on the old port"
expect_eq "$(_http_code "http://127.0.0.1:$OTHER_PORT/healthz")" 000 "nothing on the new port"

# ------------------------------------------------------------ api_rate

write_conf "listen = 127.0.0.1:$PORT" "log_level = debug" "log_format = json" \
	"api_rate = 1" "api_burst = 2"
hup "api_rate lowered" "reloaded: api_rate 0 -> 1, api_burst 0 -> 2"
# at most burst + rate * T requests pass in T seconds: 2 + T here
n429=0
t0=$(now_ms)
for i in $(seq 10); do
	api GET /v1/subscriptions
	if [[ $STATUS == 429 ]]; then
		n429=$((n429 + 1))
		RA=$(resp_header Retry-After)
		RID=$(request_id)
	fi
done
elapsed=$(($(now_ms) - t0))
passed=$((10 - n429))
check "after lowering api_rate, at most 2 + T requests pass: $passed in $elapsed ms" \
	test $((passed * 1000)) -le $((2000 + elapsed))
check "429s appear ($n429 of 10)" test "$n429" -ge 1
expect_eq "${RA:-}" 1 "a 429 says Retry-After: 1"
check "a 429 carries a made X-Request-Id" is_new_id "${RID:-}"

write_conf "listen = 127.0.0.1:$PORT" "log_level = info" "log_format = text"
hup "back to text" "reloaded: log_level debug -> info, log_format json -> text, api_rate 1 -> 0, api_burst 2 -> 0"
n429=0
for i in 1 2 3 4 5 6; do
	api GET /v1/subscriptions
	[[ $STATUS == 429 ]] && n429=$((n429 + 1))
done
expect_eq "$n429" 0 "with api_rate back to 0, no 429"
MARK0=$(wc -l <"$HERALD_LOG")
api GET /v1/subscriptions '' -H 'X-Request-Id: quiet-1'
# a reload with nothing to change: a line after the request's completion
hup "nothing changed" "reloaded: no live setting changed"
MARK=$MARK0
check "at info again, no access line" test "$(since_mark | grep -c 'access: ')" -eq 0
check "text lines again" grep -qE '^[0-9-]{10}T[0-9:.]{12}Z info: reloaded: no live' <<<"$(since_mark)"


# ------------------------------------------------------------ metrics_per_subscription

sub_create "a paused subscription" '{"sink":"http://127.0.0.1:9/","status":"paused"}'
api POST /v1/events '{"specversion":"1.0","id":"r1","source":"/reload","type":"t"}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "an event for its backlog"
api GET /metrics
expect_status 200 "metrics answer"
check "per-subscription series are off by default" \
	test "$(grep -c '^herald_subscription_' <<<"$RESP")" -eq 0
write_conf "listen = 127.0.0.1:$PORT" "metrics_per_subscription = true"
hup "per-subscription metrics on" "reloaded: metrics_per_subscription false -> true"
per_sub_series() {
	api GET /metrics
	grep -q "^herald_subscription_backlog_deliveries{subscription=\"$SUB_ID\"" <<<"$RESP"
}
wait_until 15 "after the reload, the subscription has its own backlog series" per_sub_series

finish
