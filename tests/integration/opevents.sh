#!/bin/bash
# Operational events: herald.delivery.failed and herald.subscription.disabled
# published through herald's own event log to ordinary subscriptions, once
# each, with their data; none about a delivery of an operational event; only
# to the tenant concerned and admins; never forged by a publisher; nothing
# lost when herald is killed before it publishes one, nothing doubled when
# it publishes one again.
# shellcheck disable=SC2016
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')
# the outbox drain's advisory lock (src/outbox.c), held by a test session
# to keep herald from publishing
LOCK_NS=1869968482

# sub_body SINK TYPES_JSON [DELIVERY_JSON]
sub_body() {
	jq -cn --arg s "$1" --argjson t "$2" --argjson d "${3:-{\}}" \
		'{sink: $s, types: $t, delivery: $d}'
}

# publish1 DESC TYPE ID: one structured event (as $KEY); sets SEQ.
publish1() {
	local ev
	ev=$(jq -cn --arg t "$2" --arg id "$3" \
		'{specversion: "1.0", id: $id, source: "/test/opevents", type: $t,
		  datacontenttype: "application/json", data: {id: $id}}')
	api POST /v1/events "$ev" "${CE[@]}"
	expect_status 202 "$1: event $3 accepted"
	SEQ=$(printf '%s' "$RESP" | jq -r '.seq // empty')
	[[ -n $SEQ ]] || die "$1: no seq in: ${RESP:0:500}"
}

# ops PATH: the operational events PATH received, as [{type, source,
# subject, id, pk, ct, data}], in arrival order.
ops() {
	receiver_requests "$1" | jq -c '[.[] | {type: .headers["ce-type"],
		source: .headers["ce-source"], subject: .headers["ce-subject"],
		id: .headers["ce-id"], pk: .headers["ce-partitionkey"],
		ct: .headers["content-type"], data: (.body | fromjson)}]'
}

# op_events TYPE SUB: how many operational events of TYPE about SUB the
# event log holds.
op_events() {
	db_psql "SELECT count(*) FROM event WHERE source = '/herald'
		AND type = '$1' AND attrs->>'subject' = '$2'"
}

op_events_is() {
	[[ $(op_events "$1" "$2") == "$3" ]]
}

outbox_empty() {
	[[ $(db_psql "SELECT count(*) FROM opevent") == 0 ]]
}

sub_status_is() {
	[[ $(db_psql "SELECT status FROM subscription WHERE id = '$1'") == "$2" ]]
}

RETRY2='{"retry": {"max_attempts": 2, "initial_ms": 100, "multiplier": 1, "max_ms": 100, "jitter": 0}}'
RETRY1='{"retry": {"max_attempts": 1}}'

pg_use_shared_or_start
db_create
receiver_start
herald_start

# ---------------------------------------------------------------- delivery.failed

sub_create "listener" "$(sub_body "$RECEIVER_URL/ops" \
	'["herald.delivery.failed", "herald.subscription.disabled"]')"
OPS_SUB=$SUB_ID
sub_create "failing" "$(sub_body "$RECEIVER_URL/fail?status=500" '["o.fail"]' "$RETRY2")"
FAIL_SUB=$SUB_ID

publish1 "failed" o.fail f-1
F1=$SEQ
wait_until 15 "failed: the delivery is given up after 2 attempts" state_is "$FAIL_SUB" failed 1
wait_until 15 "failed: the listener got an operational event" receiver_has /ops 1
wait_until 15 "failed: the outbox is drained" outbox_empty
wait_until 15 "failed: the listener's delivery succeeded" state_is "$OPS_SUB" succeeded 1
R=$(ops /ops)
expect_eq "$(printf '%s' "$R" | jq 'length')" 1 "failed: exactly one request to the listener"
expect_eq "$(printf '%s' "$R" | jq -c '.[0] | [.type, .source, .subject, .pk, .ct]')" \
	"$(jq -cn --arg s "$FAIL_SUB" '["herald.delivery.failed", "/herald", $s, $s, "application/json"]')" \
	"failed: type, source, subject, partitionkey and content type"
expect_eq "$(printf '%s' "$R" | jq -c '.[0].data')" \
	"$(jq -cn --arg s "$FAIL_SUB" --argjson q "$F1" '{subscription: $s,
		delivery: {seq: $q, event: {source: "/test/opevents", id: "f-1", type: "o.fail"}},
		attempts: 2, last_status: 500, last_error: "HTTP 500"}')" \
	"failed: the data names the subscription, the delivery, its attempts and last error"
expect_eq "$(printf '%s' "$R" | jq --arg p "delivery.failed/$FAIL_SUB/$F1/" '.[0].id | startswith($p)')" true \
	"failed: the id is derived from the subscription and seq"
expect_eq "$(op_events herald.delivery.failed "$FAIL_SUB")" 1 "failed: one event in the log"

# ---------------------------------------------------------------- subscription.disabled

sub_create "gone" "$(sub_body "$RECEIVER_URL/gone?status=410" '["o.gone"]')"
GONE_SUB=$SUB_ID
publish1 "disabled" o.gone g-1
G1=$SEQ
wait_until 15 "disabled: the 410 disabled the subscription" sub_status_is "$GONE_SUB" disabled
wait_until 15 "disabled: the listener got a second event" receiver_has /ops 2
wait_until 15 "disabled: the outbox is drained" outbox_empty
R=$(ops /ops)
expect_eq "$(printf '%s' "$R" | jq 'length')" 2 "disabled: two requests to the listener in all"
expect_eq "$(printf '%s' "$R" | jq -c '.[1] | [.type, .source, .subject, .pk]')" \
	"$(jq -cn --arg s "$GONE_SUB" '["herald.subscription.disabled", "/herald", $s, $s]')" \
	"disabled: type, source, subject and partitionkey"
expect_eq "$(printf '%s' "$R" | jq -c '.[1].data')" \
	"$(jq -cn --arg s "$GONE_SUB" --argjson q "$G1" '{subscription: $s, status: "disabled",
		reason: "the sink answered 410 Gone",
		delivery: {seq: $q, event: {source: "/test/opevents", id: "g-1", type: "o.gone"}},
		attempts: 0, last_status: 410, last_error: "HTTP 410"}')" \
	"disabled: the data names the subscription, the reason and the delivery"
expect_eq "$(op_events herald.subscription.disabled "$GONE_SUB")" 1 "disabled: one event in the log"
expect_eq "$(op_events herald.delivery.failed "$GONE_SUB")" 0 "disabled: the pending delivery is not reported failed"

# ---------------------------------------------------------------- no loop

log "a subscription to operational events whose sink fails: its failures are not reported"
sub_create "failing listener" "$(sub_body "$RECEIVER_URL/opsfail?status=500" \
	'["herald.delivery.failed"]' "$RETRY1")"
LOOP_SUB=$SUB_ID
publish1 "no loop" o.fail f-2
F2=$SEQ
wait_until 15 "no loop: f-2 failed" state_is "$FAIL_SUB" failed 2
wait_until 15 "no loop: the failing listener's delivery was given up" state_is "$LOOP_SUB" failed 1
wait_until 15 "no loop: the listener got the report of f-2" receiver_has /ops 3
# the failure of the failing listener's delivery and any event about it
# are committed together: now in the outbox or in the log, if anywhere
wait_until 15 "no loop: the outbox is drained" outbox_empty
expect_eq "$(op_events herald.delivery.failed "$LOOP_SUB")" 0 \
	"no loop: no operational event about a delivery of an operational event"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$LOOP_SUB'")" 1 \
	"no loop: the failing listener got one delivery, the report of f-2"
expect_eq "$(op_events herald.delivery.failed "$FAIL_SUB")" 2 "no loop: f-1 and f-2 reported, once each"
R=$(ops /ops)
expect_eq "$(printf '%s' "$R" | jq -c '[.[].type]')" \
	'["herald.delivery.failed","herald.subscription.disabled","herald.delivery.failed"]' \
	"no loop: the listener got exactly three events"
expect_eq "$(printf '%s' "$R" | jq -c '.[2].data.delivery.seq')" "$F2" "no loop: the third is about f-2"

# ---------------------------------------------------------------- tenants

log "an operational event goes to its subscription's tenant and to admins only"
api POST /v1/keys '{"name":"t1","scopes":["publish","subscribe"]}'
expect_status 201 "tenants: key t1 created"
T1_KEY=$(printf '%s' "$RESP" | jq -r .key)
api POST /v1/keys '{"name":"t2","scopes":["publish","subscribe"]}'
expect_status 201 "tenants: key t2 created"
T2_KEY=$(printf '%s' "$RESP" | jq -r .key)
KEY=$T1_KEY sub_create "tenants: t1 failing" "$(sub_body "$RECEIVER_URL/t1fail?status=500" '["o.t1"]' "$RETRY1")"
T1_FAIL=$SUB_ID
KEY=$T1_KEY sub_create "tenants: t1 listener" "$(sub_body "$RECEIVER_URL/t1ops" '["herald.delivery.failed"]')"
T1_OPS=$SUB_ID
KEY=$T2_KEY sub_create "tenants: t2 listener" "$(sub_body "$RECEIVER_URL/t2ops" '[]')"
T2_OPS=$SUB_ID
KEY=$T1_KEY publish1 "tenants" o.t1 t1-1
T1_SEQ=$SEQ
wait_until 15 "tenants: t1's delivery failed" state_is "$T1_FAIL" failed 1
wait_until 15 "tenants: t1's listener got the report" receiver_has /t1ops 1
wait_until 15 "tenants: the admin's listener got it too" receiver_has /ops 4
OP_SEQ=$(db_psql "SELECT seq FROM event WHERE source = '/herald' AND attrs->>'subject' = '$T1_FAIL'")
check "tenants: the report is in the log" test -n "$OP_SEQ"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$T2_OPS' AND seq = ${OP_SEQ:-0}")" 0 \
	"tenants: t2's catch-all subscription got no delivery of t1's report"
expect_eq "$(ops /t1ops | jq -c '.[0].data.delivery.seq')" "$T1_SEQ" "tenants: t1's listener got its own delivery's report"
# a replay matches the log again: under the same rule
tenant_op_done() {
	api GET "/v1/subscriptions/$1/operations/$2"
	[[ $STATUS == 200 && $(jq -r .state <<<"$RESP") == succeeded ]]
}
KEY=$T2_KEY api POST "/v1/subscriptions/$T2_OPS/replay" "{\"from_seq\":$((OP_SEQ - 1))}"
expect_status 202 "tenants: t2 replays its catch-all from before t1's report"
KEY=$T2_KEY wait_until 20 "tenants: the replay finishes" tenant_op_done "$T2_OPS" "$(jq -r .id <<<"$RESP")"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$T2_OPS' AND seq = ${OP_SEQ:-0}")" 0 \
	"tenants: t2's replay did not pick up t1's report either"
KEY=$T1_KEY api POST "/v1/subscriptions/$T1_OPS/replay" "{\"from_seq\":$((OP_SEQ - 1)),\"dry_run\":true}"
expect_json '.selected' 1 "tenants: t1's dry run counts its own report (and only it)"

# ---------------------------------------------------------------- forging

log "publishers cannot send events as herald"
api POST /v1/events '{"specversion":"1.0","id":"forged-1","source":"/herald","type":"herald.delivery.failed","subject":"x"}' "${CE[@]}"
expect_status 400 "forging: structured mode refused"
expect_json '[.error, .field]|@json' '["reserved_source","source"]' "forging: a clear error on source"
api POST /v1/events '[{"specversion":"1.0","id":"ok-1","source":"/shop","type":"t"},{"specversion":"1.0","id":"forged-2","source":"/herald","type":"t"}]' \
	-H 'Content-Type: application/cloudevents-batch+json'
expect_status 400 "forging: a batch with one such member refused"
expect_json '[.error, .index]|@json' '["reserved_source",1]' "forging: the batch error names the member"
api POST /v1/events '{}' -H 'ce-specversion: 1.0' -H 'ce-id: forged-3' -H 'ce-source: /herald' \
	-H 'ce-type: herald.subscription.disabled'
expect_status 400 "forging: binary mode refused"
KEY=$T1_KEY api POST /v1/events '{"specversion":"1.0","id":"forged-4","source":"/herald","type":"t"}' "${CE[@]}"
expect_status 400 "forging: refused for a publish key too"
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE id IN ('forged-1', 'ok-1', 'forged-2', 'forged-3', 'forged-4')")" 0 \
	"forging: nothing was stored"

# ---------------------------------------------------------------- crash

log "herald killed with an operational event recorded but not published"
LOCK_APP=opevents-test-lock
lock_held() {
	[[ $(db_psql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.classid = $LOCK_NS AND l.objid = 1
		AND l.granted AND a.application_name = '$LOCK_APP'") == 1 ]]
}
PGAPPNAME=$LOCK_APP "$(_psql_bin)" -X -q -d "$DATABASE_URL" \
	-c "SELECT pg_advisory_lock($LOCK_NS, 1)" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
LOCK_PID=$!
release_lock() {
	db_psql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$LOCK_APP'" >/dev/null
	wait "$LOCK_PID" 2>/dev/null || true
}
at_exit release_lock
wait_until 15 "crash: a test session holds the outbox lock" lock_held

publish1 "crash" o.fail f-3
F3=$SEQ
wait_until 15 "crash: f-3 failed" state_is "$FAIL_SUB" failed 3
# recorded with the failure, in the same transaction
expect_eq "$(db_psql "SELECT count(*) FROM opevent WHERE kind = 'delivery.failed' AND seq = $F3")" 1 \
	"crash: the report of f-3 is in the outbox"
ROW=$(db_psql "SELECT row_to_json(o) FROM opevent o WHERE seq = $F3")
expect_eq "$(op_events herald.delivery.failed "$FAIL_SUB")" 2 "crash: not published while the lock is held"
herald_kill9
release_lock
herald_restart
wait_until 15 "crash: after the restart the listener got the report of f-3" receiver_has /ops 5
wait_until 15 "crash: the outbox is drained" outbox_empty
expect_eq "$(op_events herald.delivery.failed "$FAIL_SUB")" 3 "crash: f-3 reported once in the log"
expect_eq "$(ops /ops | jq -c '[.[] | select(.data.delivery.seq == '"$F3"')] | length')" 1 \
	"crash: the listener got it once"

log "published, but the outbox row survived (a crash before its delete): published again, stored once"
db_psql "INSERT INTO opevent SELECT * FROM json_populate_record(NULL::opevent, '$ROW'::json);
	NOTIFY herald_opevent" >/dev/null
wait_until 15 "redrain: the outbox is drained again" outbox_empty
expect_eq "$(op_events herald.delivery.failed "$FAIL_SUB")" 3 "redrain: still one event for f-3 in the log"
# a second event would have had its deliveries inserted with it
expect_eq "$(db_psql "SELECT count(*) FROM delivery d JOIN event e ON e.seq = d.seq
	WHERE d.subscription_id = '$OPS_SUB' AND e.source = '/herald'")" 5 \
	"redrain: the listener has five deliveries of operational events, no more"
wait_until 15 "redrain: every delivery to the listener succeeded" state_is "$OPS_SUB" succeeded 5
expect_eq "$(receiver_count /ops)" 5 "redrain: the listener got nothing more"

# ---------------------------------------------------------------- backlog

log "a backlog crossing, as the sampler reports it, is published once per crossing"
sub_create "backlog listener" "$(sub_body "$RECEIVER_URL/backlog" '["herald.subscription.backlog"]')"
sample() {
	db_psql "SELECT herald_opevent_backlog('$FAIL_SUB', $1, 10)"
}
expect_eq "$(sample 9)" f "backlog: 9 of 10: nothing"
expect_eq "$(sample 10)" t "backlog: 10 of 10: recorded"
expect_eq "$(sample 12)" f "backlog: still above: nothing more"
expect_eq "$(sample 3)" f "backlog: below again: nothing, but armed"
expect_eq "$(sample 11)" t "backlog: above again: recorded"
expect_eq "$(db_psql "SELECT herald_opevent_backlog('$FAIL_SUB', 50, 0)")" f "backlog: threshold 0: never"
wait_until 15 "backlog: the listener got two events" receiver_has /backlog 2
wait_until 15 "backlog: the outbox is drained" outbox_empty
expect_eq "$(ops /backlog | jq -c '[.[] | [.type, .subject, .data]]')" \
	"$(jq -cn --arg s "$FAIL_SUB" '[["herald.subscription.backlog", $s, {subscription: $s, backlog: 10, threshold: 10}],
		["herald.subscription.backlog", $s, {subscription: $s, backlog: 11, threshold: 10}]]')" \
	"backlog: two crossings, in order, with their data"


log "the backlog sampler reports a crossing of backlog_alert by itself, once"
herald_restart --backlog-alert 3
sub_create "sampled" "$(jq -cn --arg s "$RECEIVER_URL/sampled" \
	'{sink: $s, types: ["o.sampled"], status: "paused"}')"
SAMPLED_SUB=$SUB_ID
for i in 1 2; do publish1 "sampled" o.sampled "s-$i"; done
# two pending: below the threshold for a sample or more
backlog_sampled_at() {
	api GET /metrics
	grep '^herald_backlog_sampled_timestamp_seconds ' <<<"$RESP" | awk '{print $2}'
}
T0=$(backlog_sampled_at)
sampled_since() { [[ $(backlog_sampled_at) != "$T0" ]]; }
wait_until 15 "sampled: a sample with 2 of 3 pending" sampled_since
expect_eq "$(op_events herald.subscription.backlog "$SAMPLED_SUB")" 0 "sampled: 2 of 3: nothing"
publish1 "sampled" o.sampled s-3
publish1 "sampled" o.sampled s-4
wait_until 20 "sampled: 3 or more of 3: one event" \
	op_events_is herald.subscription.backlog "$SAMPLED_SUB" 1
wait_until 15 "sampled: the listener got it" receiver_has /backlog 3
expect_eq "$(ops /backlog | jq -c --arg s "$SAMPLED_SUB" '[.[] | select(.subject == $s) | .data.threshold]')" \
	"[3]" "sampled: its data names the threshold"
T0=$(backlog_sampled_at)
wait_until 15 "sampled: one more sample" sampled_since
T0=$(backlog_sampled_at)
wait_until 15 "sampled: and another" sampled_since
expect_eq "$(op_events herald.subscription.backlog "$SAMPLED_SUB")" 1 \
	"sampled: still above after two more samples: still one event"


log "a user disabling a subscription: herald.subscription.disabled, once per change"
sub_create "manual" "$(sub_body "$RECEIVER_URL/manual" '["o.manual"]')"
MANUAL_SUB=$SUB_ID
N_OPS=$(receiver_count /ops)
api PATCH "/v1/subscriptions/$MANUAL_SUB" '{"status":"disabled"}'
expect_status 200 "manual: disabled through the API"
wait_until 15 "manual: one event in the log" \
	op_events_is herald.subscription.disabled "$MANUAL_SUB" 1
wait_until 15 "manual: the listener got it" receiver_has /ops $((N_OPS + 1))
expect_eq "$(ops /ops | jq -c --arg s "$MANUAL_SUB" \
	'[.[] | select(.subject == $s) | .data | [.status, .reason, .delivery]]')" \
	'[["disabled","disabled through the API",null]]' \
	"manual: the data says who disabled it, and names no delivery"
api PATCH "/v1/subscriptions/$MANUAL_SUB" '{"status":"disabled","delivery":{"rate":3}}'
expect_status 200 "manual: an update that keeps it disabled"
api PATCH "/v1/subscriptions/$MANUAL_SUB" '{"status":"active"}'
api PATCH "/v1/subscriptions/$MANUAL_SUB" '{"status":"disabled"}'
wait_until 15 "manual: disabled again after a resume: a second event" \
	op_events_is herald.subscription.disabled "$MANUAL_SUB" 2
wait_until 15 "manual: the outbox is drained" outbox_empty
expect_eq "$(op_events herald.subscription.disabled "$MANUAL_SUB")" 2 \
	"manual: staying disabled published nothing"

finish
