#!/bin/bash
# The delivery routes of a subscription: list (paging, state filter), one
# delivery with its attempt log, retry (202/409/404), replay of failed
# deliveries, of stored events from a seq or a time (each a background
# operation, 202 at once, followed to its end), tenant isolation, and
# per-key order after a replay.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

BATCH=(-H 'Content-Type: application/cloudevents-batch+json')
RETRY='"retry":{"max_attempts":2,"initial_ms":100,"multiplier":1,"max_ms":100,"jitter":0}'

# ---------------------------------------------------------------- helpers

# evs PREFIX SPEC...: a JSON array of structured events; each SPEC is
# TYPE[:PARTITIONKEY]; ids are PREFIX-<index>.
evs() {
	local p=$1 i=0 s t k out='['
	shift
	for s in "$@"; do
		t=${s%%:*}
		k=
		[[ $s == *:* ]] && k=${s#*:}
		((i > 0)) && out+=','
		out+=$(jq -cn --arg id "$p-$i" --arg t "$t" --arg k "$k" --argjson i "$i" '
			{specversion: "1.0", id: $id, source: "/test/deliveries", type: $t,
			 datacontenttype: "application/json", data: {i: $i}}
			+ (if $k != "" then {partitionkey: $k} else {} end)')
		i=$((i + 1))
	done
	printf '%s]' "$out"
}

# publish DESC JSON_ARRAY: POST a batch; sets SEQS (array of seqs in order).
publish() {
	local n
	n=$(printf '%s' "$2" | jq 'length')
	api POST /v1/events "$2" "${BATCH[@]}"
	expect_status 202 "$1: batch of $n accepted"
	mapfile -t SEQS < <(printf '%s' "$RESP" | jq -r '.results[].seq')
	[[ ${#SEQS[@]} -eq $n ]] || die "$1: expected $n seqs in: ${RESP:0:500}"
}

# n_in_state SUB STATE N: true when GET deliveries?state=STATE lists N.
n_in_state() {
	api GET "/v1/subscriptions/$1/deliveries?state=$2&limit=1000"
	[[ $STATUS == 200 ]] && [[ $(printf '%s' "$RESP" | jq '.items | length') == "$3" ]]
}

# state_count_is SUB STATE N: N deliveries of SUB in STATE (from the table).
state_count_is() {
	[[ $(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$1' AND state = '$2'") == "$3" ]]
}

# delivery_state_is SUB SEQ STATE
delivery_state_is() {
	api GET "/v1/subscriptions/$1/deliveries/$2"
	[[ $STATUS == 200 ]] && [[ $(printf '%s' "$RESP" | jq -r '.state') == "$3" ]]
}

# ids PATH: the webhook-ids PATH received, in arrival order, one a line.
ids() {
	receiver_requests "$1" | jq -r '.[].headers["webhook-id"]'
}

# seqs_of PATH [KEY]: the seqs (from webhook-id) PATH received, in arrival
# order, as a JSON array; only requests with ce-partitionkey KEY when given.
seqs_of() {
	receiver_requests "$1" | jq -c --arg k "${2:-}" '[.[]
		| select($k == "" or .headers["ce-partitionkey"] == $k)
		| .headers["webhook-id"] | ltrimstr("msg_") | tonumber]'
}

# msg_ids SEQ...: the expected webhook-ids, sorted, one a line.
msg_ids() {
	local s
	for s in "$@"; do
		printf 'msg_%s\n' "$s"
	done | sort
}

# expect_error CODE ERROR DESC: status and the JSON error code.
expect_error() {
	expect_status "$1" "$3"
	expect_json '.error' "$2" "$3: error is $2"
}

# op_state_is SUB OP STATE: GET the operation; true when it is in STATE
# (RESP is the operation).
op_state_is() {
	api GET "/v1/subscriptions/$1/operations/$2"
	[[ $STATUS == 200 ]] && [[ $(printf '%s' "$RESP" | jq -r '.state') == "$3" ]]
}

# replay DESC SUB BODY: POST a replay: 202 with the operation and its
# Location; waits for it to succeed.  RESP is then the finished operation
# (.enqueued: the deliveries it put back in line).
replay() {
	local op
	api POST "/v1/subscriptions/$2/replay" "$3"
	expect_status 202 "$1: 202"
	op=$(printf '%s' "$RESP" | jq -r '.id')
	expect_eq "$(resp_header Location)" "/v1/subscriptions/$2/operations/$op" \
		"$1: Location names the operation"
	wait_until 30 "$1: the operation succeeds" op_state_is "$2" "$op" succeeded
}

# ---------------------------------------------------------------- setup

pg_use_shared_or_start
db_create
receiver_start
herald_start

api POST /v1/keys '{"name":"tenant-a","scopes":["publish","subscribe"]}'
expect_status 201 "tenant A key created"
KEY_A=$(printf '%s' "$RESP" | jq -r '.key // empty')
api POST /v1/keys '{"name":"tenant-b","scopes":["subscribe"]}'
expect_status 201 "tenant B key created"
KEY_B=$(printf '%s' "$RESP" | jq -r '.key // empty')
[[ -n $KEY_A && -n $KEY_B ]] || die "no tenant keys"
KEY=$KEY_A

# ---------------------------------------------------------------- failures

KEY=$KEY_A sub_create "failing" '{"sink":"'"$RECEIVER_URL"'/fail?status=500","types":["t.a"],
	"delivery":{"ordering":"none",'"$RETRY"'}}'
SUB_F=$SUB_ID
publish "failing" "$(evs fa t.a t.a t.a)"
F1=${SEQS[0]} F2=${SEQS[1]} F3=${SEQS[2]}

wait_until 20 "all 3 deliveries end failed" n_in_state "$SUB_F" failed 3
api GET "/v1/subscriptions/$SUB_F/deliveries?state=failed"
expect_status 200 "list failed deliveries"
expect_json '[.items[].seq] == ['"$F1,$F2,$F3"']' true "failed list holds the 3 seqs in order"
expect_json '[.items[] | .attempts == 2 and .last_status == 500 and .state == "failed"] | all' \
	true "each failed delivery made 2 attempts, last status 500"
expect_json '[.items[] | .event_id] == ["fa-0","fa-1","fa-2"]' true "event_id comes from the event"
expect_json '[.items[] | .source == "/test/deliveries"] | all' true "source comes from the event"
expect_json '[.items[] | .next_attempt_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")] | all' \
	true "next_attempt_at is RFC 3339 UTC"
expect_json '[.items[] | .last_error | (. == null or type == "string")] | all' true "last_error is a string or null"
expect_json '.next_after' null "a page that is not full has next_after null"
expect_eq "$(receiver_count /fail)" 6 "the sink saw 2 attempts of each of the 3 deliveries"

api GET "/v1/subscriptions/$SUB_F/deliveries/$F2"
expect_status 200 "GET one delivery"
expect_json '.seq' "$F2" "GET one: seq"
expect_json '.event_id' fa-1 "GET one: event_id"
expect_json '.state' failed "GET one: state"
expect_json '.attempt_log | length' 2 "GET one: attempt_log has 2 entries"
expect_json '[.attempt_log[] | .status == 500 and (.latency_ms | type == "number" and . >= 0)] | all' \
	true "GET one: each attempt has status 500 and latency_ms >= 0"
expect_json '[.attempt_log[] | .at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")] | all' \
	true "GET one: attempt times are RFC 3339"
expect_json '.attempt_log | (.[0].at <= .[1].at)' true "GET one: attempts in order"
expect_json '.attempt_log[0] | has("error") and has("response")' true "GET one: attempts carry error and response"

# ---------------------------------------------------------------- listing

api GET "/v1/subscriptions/$SUB_F/deliveries?limit=2"
expect_status 200 "list limit=2"
expect_json '[.items[].seq] == ['"$F1,$F2"']' true "limit=2: first two seqs"
expect_json '.next_after' "$F2" "limit=2: next_after is the last seq of the full page"
api GET "/v1/subscriptions/$SUB_F/deliveries?limit=2&after=$F2"
expect_json '[.items[].seq] == ['"$F3"']' true "after=next_after: the rest"
expect_json '.next_after' null "after=next_after: last page has next_after null"
api GET "/v1/subscriptions/$SUB_F/deliveries?after=$F3"
expect_json '.items | length' 0 "after the last seq: empty"
api GET "/v1/subscriptions/$SUB_F/deliveries?state=succeeded"
expect_json '.items | length' 0 "state=succeeded: none"
api GET "/v1/subscriptions/$SUB_F/deliveries?state=pending"
expect_json '.items | length' 0 "state=pending: none"

api GET "/v1/subscriptions/$SUB_F/deliveries?state=done"
expect_status 400 "state=done is 400"
api GET "/v1/subscriptions/$SUB_F/deliveries?limit=0"
expect_status 400 "limit=0 is 400"
api GET "/v1/subscriptions/$SUB_F/deliveries?limit=1001"
expect_status 400 "limit=1001 is 400"
api GET "/v1/subscriptions/$SUB_F/deliveries?limit=x"
expect_status 400 "limit=x is 400"
api GET "/v1/subscriptions/$SUB_F/deliveries?after=-1"
expect_status 400 "after=-1 is 400"
expect_json '(.error | type == "string") and (.message | type == "string")' true "400 has error and message"

KEY=$KEY_B api GET "/v1/subscriptions/$SUB_F/deliveries"
expect_error 404 not_found "another tenant's list is 404"
KEY=$KEY_B api GET "/v1/subscriptions/$SUB_F/deliveries/$F1"
expect_error 404 not_found "another tenant's delivery is 404"
KEY=$KEY_B api POST "/v1/subscriptions/$SUB_F/deliveries/$F1/retry"
expect_error 404 not_found "another tenant's retry is 404"
KEY=$KEY_B api POST "/v1/subscriptions/$SUB_F/replay" '{"state":"failed"}'
expect_error 404 not_found "another tenant's replay is 404"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$SUB_F' AND state = 'failed'")" 3 \
	"another tenant's retry and replay changed nothing"
KEY=$ADMIN_KEY api GET "/v1/subscriptions/$SUB_F/deliveries"
expect_status 200 "the admin sees any tenant's deliveries"
expect_json '.items | length' 3 "the admin sees all 3"
KEY='' api GET "/v1/subscriptions/$SUB_F/deliveries"
expect_status 401 "no key is 401"

api GET "/v1/subscriptions/$SUB_F/deliveries/999999999"
expect_error 404 not_found "unknown seq is 404"
api GET "/v1/subscriptions/$SUB_F/deliveries/abc"
expect_error 404 not_found "non-numeric seq is 404"
api GET "/v1/subscriptions/$SUB_F/deliveries/0"
expect_error 404 not_found "seq 0 is 404"
api GET "/v1/subscriptions/00000000-0000-0000-0000-000000000000/deliveries"
expect_error 404 not_found "unknown subscription is 404"
api GET "/v1/subscriptions/not-a-uuid/deliveries"
expect_error 404 not_found "malformed subscription id is 404"
api POST "/v1/subscriptions/$SUB_F/deliveries/999999999/retry"
expect_error 404 not_found "retry of an unknown seq is 404"

# ---------------------------------------------------------------- retry

api PATCH "/v1/subscriptions/$SUB_F" '{"sink":"'"$RECEIVER_URL"'/ok?status=204"}'
expect_status 200 "sink patched to a succeeding path"
api POST "/v1/subscriptions/$SUB_F/deliveries/$F1/retry"
expect_status 202 "retry of a failed delivery is 202"
expect_json '.seq' "$F1" "retry answers the seq"
expect_json '.state' pending "retry answers state pending"
wait_until 15 "retried delivery succeeds" delivery_state_is "$SUB_F" "$F1" succeeded
expect_json '.attempts' 1 "retried delivery: attempts counted afresh"
expect_json '.last_status' 204 "retried delivery: last_status 204"
expect_json '.attempt_log | length' 3 "retried delivery: attempt log keeps the 2 failures and adds 1"
expect_json '.attempt_log[2].status' 204 "retried delivery: last attempt 204"
expect_eq "$(ids /ok)" "msg_$F1" "the receiver got the retry with webhook-id msg_<seq>"

api POST "/v1/subscriptions/$SUB_F/deliveries/$F1/retry"
expect_status 202 "retry of a succeeded delivery is 202"
wait_until 15 "the succeeded delivery is sent again" receiver_has /ok 2
expect_eq "$(ids /ok | sort -u)" "msg_$F1" "a resend keeps webhook-id msg_<seq>"
# the receiver has it before herald writes the outcome back: wait for that
# (else the delivery would still count as pending below)
wait_until 15 "the resend is recorded: succeeded, 1 attempt, 4 in the attempt log, the last 204" \
	delivery_is "$SUB_F" "$F1" \
	'.state == "succeeded" and .attempts == 1 and (.attempt_log | length) == 4 and .attempt_log[3].status == 204'

# a delivery that stays pending: pause, publish
api PATCH "/v1/subscriptions/$SUB_F" '{"status":"paused"}'
expect_status 200 "subscription paused"
publish "paused" "$(evs fp t.a)"
F4=${SEQS[0]}
api POST "/v1/subscriptions/$SUB_F/deliveries/$F4/retry"
expect_error 409 conflict "retry of a pending delivery is 409"
expect_json '.message | type == "string"' true "409 has a message"
api GET "/v1/subscriptions/$SUB_F/deliveries/$F4"
expect_json '.state' pending "the pending delivery stays pending"
expect_json '.attempts' 0 "the pending delivery has no attempts"
expect_json '.last_status' null "the pending delivery has last_status null"

# ---------------------------------------------------------------- replay failed

replay "replay state=failed" "$SUB_F" '{"state":"failed"}'
expect_json '.enqueued' 2 "replay state=failed re-queues the 2 remaining failed deliveries"
REQUEUED=$(printf '%s' "$RESP" | jq -r '.enqueued')
check "replay: nothing is failed any more" n_in_state "$SUB_F" failed 0
check "replay: 3 pending while paused" n_in_state "$SUB_F" pending 3
api GET "/v1/subscriptions/$SUB_F/deliveries/$F2"
expect_json '.attempts' 0 "replayed delivery: attempts reset"
expect_json '.last_status' 500 "replayed delivery: last_status kept"
replay "a second replay state=failed finds nothing" "$SUB_F" '{"state":"failed"}'
expect_json '.enqueued' 0 "a second replay state=failed finds nothing"
sleep 0.5
expect_eq "$(receiver_count /ok)" 2 "nothing is sent while paused"
api PATCH "/v1/subscriptions/$SUB_F" '{"status":"active"}'
expect_status 200 "subscription resumed"
wait_until 15 "the replayed and the paused deliveries arrive" receiver_has /ok $((2 + REQUEUED + 1))
wait_until 15 "all deliveries of the subscription succeeded" n_in_state "$SUB_F" succeeded 4
expect_eq "$(ids /ok | sort -u)" "$(msg_ids "$F1" "$F2" "$F3" "$F4")" \
	"replayed deliveries keep webhook-id msg_<seq>"
expect_eq "$(receiver_count /ok)" $((2 + REQUEUED + 1)) "each requeued delivery arrived once"

# ---------------------------------------------------------------- replay from_seq / since

publish "old events" "$(evs old t.b t.b)"
OLD=("${SEQS[@]}")
sleep 1.1
T0=$(db_psql "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
sleep 0.1
publish "new events" "$(evs new t.b t.other t.b t.other t.b)"
NEW=("${SEQS[@]}")
NEW_B=("${NEW[0]}" "${NEW[2]}" "${NEW[4]}")

sub_create "replay from_seq" '{"sink":"'"$RECEIVER_URL"'/b","types":["t.b"],"delivery":{'"$RETRY"'}}'
SUB_B=$SUB_ID
sub_create "replay since" '{"sink":"'"$RECEIVER_URL"'/c","types":["t.b"],"delivery":{'"$RETRY"'}}'
SUB_C=$SUB_ID
api GET "/v1/subscriptions/$SUB_B/deliveries"
expect_json '.items | length' 0 "events stored before the subscription have no deliveries"

replay "replay from_seq" "$SUB_B" '{"from_seq":'"${NEW[0]}"'}'
expect_json '.enqueued' 3 "replay from_seq re-queues the 3 matching events"
wait_until 15 "replayed events arrive" receiver_has /b 3
wait_until 15 "replayed deliveries succeed" n_in_state "$SUB_B" succeeded 3
expect_eq "$(ids /b | sort)" "$(msg_ids "${NEW_B[@]}")" \
	"from_seq: exactly the matching events with seq >= N, webhook-id msg_<seq>"
expect_eq "$(receiver_requests /b | jq -r '[.[].headers["ce-type"]] | unique | join(",")')" t.b \
	"from_seq: non-matching types are not delivered"

replay "replay since" "$SUB_C" '{"since":"'"$T0"'"}'
expect_json '.enqueued' 3 "replay since re-queues the 3 matching events received since"
wait_until 15 "events since arrive" receiver_has /c 3
wait_until 15 "since: deliveries succeed" n_in_state "$SUB_C" succeeded 3
expect_eq "$(ids /c | sort)" "$(msg_ids "${NEW_B[@]}")" \
	"since: matching events received since the time, not the older ones"

replay "from_seq 1: the 2 older and 3 delivered events are (re)queued" "$SUB_C" '{"from_seq":1}'
expect_json '.enqueued' 5 "from_seq 1: the 2 older and 3 delivered events are (re)queued"
wait_until 15 "from_seq 1: all arrive" receiver_has /c 8
expect_eq "$(ids /c | sort -u)" "$(msg_ids "${OLD[@]}" "${NEW_B[@]}")" \
	"from_seq 1: every matching event, same webhook-ids"

replay "replay since a future time" "$SUB_C" '{"since":"2999-01-01T00:00:00Z"}'
expect_json '.enqueued' 0 "replay since a future time re-queues nothing"
replay "replay from beyond the last seq re-queues nothing" "$SUB_C" '{"from_seq":999999999}'
expect_json '.enqueued' 0 "replay from beyond the last seq re-queues nothing"

for body in '{}' '{"state":"failed","from_seq":1}' '{"state":"succeeded"}' '{"state":1}' \
	'{"from_seq":0}' '{"from_seq":-3}' '{"from_seq":"5"}' '{"from_seq":1.5}' '{"from_seq":null}' \
	'{"since":"yesterday"}' '{"since":"2024-01-01"}' '{"since":"2024-02-30T00:00:00Z"}' \
	'{"since":"2024-01-01T25:00:00Z"}' '{"since":12}' '{"foo":1}' '[]' '"failed"' \
	'{"from_seq":1,"since":"2024-01-01T00:00:00Z"}'; do
	api POST "/v1/subscriptions/$SUB_C/replay" "$body"
	expect_error 400 invalid_field "replay body $body is 400"
done
api POST "/v1/subscriptions/$SUB_C/replay" 'not json'
expect_status 400 "replay with a body that is not JSON is 400"
api POST "/v1/subscriptions/$SUB_C/replay"
expect_status 400 "replay without a body is 400"
expect_eq "$(receiver_count /c)" 8 "refused replays sent nothing"

# ---------------------------------------------------------------- order after a replay

# events stored before the subscription, two keys; the receiver is slow so
# that a key's next event would overtake if the order were not kept
publish "keyed events" "$(evs key t.k:p1 t.k:p2 t.k:p1 t.k:p1 t.k:p2 t.k:p1 t.k:p1 t.k:p2)"
K=("${SEQS[@]}")
sub_create "ordered replay" '{"sink":"'"$RECEIVER_URL"'/d?delay_ms=60","types":["t.k"],
	"delivery":{"ordering":"partitionkey","max_in_flight":8,'"$RETRY"'}}'
SUB_D=$SUB_ID
replay "ordered replay" "$SUB_D" '{"from_seq":'"${K[0]}"'}'
expect_json '.enqueued' 8 "ordered replay re-queues 8 events"
wait_until 20 "ordered replay: all arrive" receiver_has /d 8
expect_eq "$(seqs_of /d p1)" "[${K[0]},${K[2]},${K[3]},${K[5]},${K[6]}]" \
	"ordered replay: key p1 arrives in seq order"
expect_eq "$(seqs_of /d p2)" "[${K[1]},${K[4]},${K[7]}]" \
	"ordered replay: key p2 arrives in seq order"

# failed deliveries of one key, replayed: still in seq order
sub_create "ordered failures" '{"sink":"'"$RECEIVER_URL"'/e?status=500","types":["t.e"],
	"delivery":{"ordering":"partitionkey","max_in_flight":8,'"$RETRY"'}}'
SUB_E=$SUB_ID
publish "keyed failures" "$(evs kf t.e:q t.e:q t.e:q t.e:q)"
E=("${SEQS[@]}")
wait_until 20 "keyed failures all fail" n_in_state "$SUB_E" failed 4
api PATCH "/v1/subscriptions/$SUB_E" '{"sink":"'"$RECEIVER_URL"'/e2?delay_ms=60"}'
expect_status 200 "keyed failures: sink fixed"
# paused while the heads are counted: active, all 4 may be delivered before
api PATCH "/v1/subscriptions/$SUB_E" '{"status":"paused"}'
expect_status 200 "keyed failures: paused for the replay"
replay "keyed failures: 4 re-queued" "$SUB_E" '{"state":"failed"}'
expect_json '.enqueued' 4 "keyed failures: 4 re-queued"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$SUB_E' AND state = 'pending' AND ready")" 1 \
	"keyed failures: one ready head for the key"
api PATCH "/v1/subscriptions/$SUB_E" '{"status":"active"}'
expect_status 200 "keyed failures: resumed"
wait_until 20 "keyed failures: all arrive" receiver_has /e2 4
expect_eq "$(seqs_of /e2)" "[${E[0]},${E[1]},${E[2]},${E[3]}]" \
	"keyed failures: replayed in seq order"
wait_until 15 "keyed failures: all succeeded" n_in_state "$SUB_E" succeeded 4

# a retry of a failed delivery of a key that has another pending one waits
# behind it
api PATCH "/v1/subscriptions/$SUB_E" '{"status":"paused"}'
api POST "/v1/subscriptions/$SUB_E/deliveries/${E[0]}/retry"
expect_status 202 "keyed retry: 202"
publish "keyed after retry" "$(evs kg t.e:q)"
api POST "/v1/subscriptions/$SUB_E/deliveries/${E[1]}/retry"
expect_status 202 "keyed retry 2: 202"
expect_eq "$(db_psql "SELECT string_agg(seq::text || ':' || ready::text, ',' ORDER BY seq) FROM delivery WHERE subscription_id = '$SUB_E' AND state = 'pending'")" \
	"${E[0]}:true,${E[1]}:false,${SEQS[0]}:false" \
	"keyed retry: the first retried is the head, the others wait"

# ---------------------------------------------------------------- a replay larger than a page

# 2300 events (chunks of 500 inside herald): keys m0..m2, every 4th unordered
M_FIRST=
for ((chunk = 0; chunk < 2300; chunk += 460)); do
	body=$(jq -cn --argjson c "$chunk" '[range($c; $c + 460) as $i
		| {specversion: "1.0", id: "m-\($i)", source: "/test/deliveries", type: "t.m"}
		  + (if $i % 4 == 3 then {} else {partitionkey: "m\($i % 4)"} end)]')
	api POST /v1/events "$body" "${BATCH[@]}"
	[[ $STATUS == 202 ]] || die "large replay: batch refused: $STATUS ${RESP:0:300}"
	[[ -n $M_FIRST ]] || M_FIRST=$(printf '%s' "$RESP" | jq -r '.results[0].seq')
done
_ok "large replay: 2300 events published"
# subscribed after they were stored: the replay makes every row
sub_create "large replay" '{"sink":"'"$RECEIVER_URL"'/m","types":["t.m"],"status":"paused",
	"delivery":{"ordering":"partitionkey","max_in_flight":16,'"$RETRY"'}}'
SUB_M=$SUB_ID
replay "large replay from_seq" "$SUB_M" '{"from_seq":'"$M_FIRST"'}'
expect_json '.enqueued' 2300 "large replay from_seq re-queues all 2300, no cap"
M_HEADS="SELECT coalesce(ordering_key, '-') || ':' || count(*) FILTER (WHERE ready)
	FROM delivery WHERE subscription_id = '$SUB_M' AND state = 'pending'
	GROUP BY ordering_key ORDER BY 1"
expect_eq "$(db_psql "$M_HEADS" | tr '\n' ' ')" "-:575 m0:1 m1:1 m2:1 " \
	"large replay: one ready head per key, every unordered delivery ready"
expect_eq "$(db_psql "SELECT min(seq) FROM delivery WHERE subscription_id = '$SUB_M' AND ready AND ordering_key = 'm0'")" \
	"$M_FIRST" "large replay: a key's head is its oldest delivery"
# as if they had all failed
db_psql "UPDATE delivery SET state = 'failed', ready = false, attempts = 2 WHERE subscription_id = '$SUB_M'" >/dev/null
replay "large replay state=failed re-queues all 2300" "$SUB_M" '{"state":"failed"}'
expect_json '.enqueued' 2300 "large replay state=failed re-queues all 2300"
expect_eq "$(db_psql "$M_HEADS" | tr '\n' ' ')" "-:575 m0:1 m1:1 m2:1 " \
	"large replay state=failed: one ready head per key, every unordered delivery ready"
api PATCH "/v1/subscriptions/$SUB_M" '{"status":"active"}'
expect_status 200 "large replay: subscription resumed"
# 3 keys of 575 deliveries each, one at a time per key: room for a slow
# (sanitizer) build on a loaded machine
wait_until 120 "large replay: all 2300 delivered" state_count_is "$SUB_M" succeeded 2300
for k in m0 m1 m2; do
	expect_eq "$(seqs_of /m "$k" | jq '. == sort and length == 575')" true \
		"large replay: key $k arrived complete and in seq order"
done

finish
