#!/bin/bash
# Retries: backoff timing, Retry-After (delta-seconds and HTTP-date) that
# defers without using up an attempt and holds back the whole subscriber,
# 410 Gone disabling the subscription until it is re-activated, timeouts,
# refused and dropped connections, and giving up after max_attempts.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')

# ---------------------------------------------------------------- helpers

# sub_body SINK TYPE [DELIVERY_JSON]: a subscription body.
sub_body() {
	jq -cn --arg s "$1" --arg t "$2" --argjson d "${3:-{\}}" \
		'{sink: $s, types: [$t], delivery: $d}'
}

# publish1 DESC TYPE ID [PARTITIONKEY]: one structured event; sets SEQ.
publish1() {
	local ev
	ev=$(jq -cn --arg t "$2" --arg id "$3" --arg pk "${4:-}" '
		{specversion: "1.0", id: $id, source: "/test/retries", type: $t,
		 datacontenttype: "application/json", data: {id: $id}}
		+ (if $pk != "" then {partitionkey: $pk} else {} end)')
	api POST /v1/events "$ev" "${CE[@]}"
	expect_status 202 "$1: event $3 accepted"
	SEQ=$(printf '%s' "$RESP" | jq -r '.seq // empty')
	[[ -n $SEQ ]] || die "$1: no seq in: ${RESP:0:500}"
}

# reqs PATH: requests to PATH as [{t, st (0: dropped), id}], arrival order.
reqs() {
	receiver_requests "$1" | jq -c '[.[] | (.body // "{}" | fromjson? // {}) as $d
		| {t: .time_ms, st: (.response.status // 0), id: $d.id}]'
}

# The timing checks use herald's own attempt log (table attempt), not the
# receiver's arrival stamps: `at` is when an attempt started (the clock read
# in dispatch.c start_job(), in whole ms) and latency_ms how long it took,
# up to herald reading the answer.  A backoff delay or a Retry-After runs
# from that answer (the write-back that follows sets next_attempt_at, the
# Retry-After block starts at the answer), so the wait between two attempts
# is at[k+1] - (at[k] + latency_ms[k]).  TOL_MS covers the ms truncation of
# both and the wall clock (at) against the monotonic one (the block).
TOL_MS=5

# attempts SUB [SEQ]: herald's attempt log of SUB (of one delivery), by
# start time, as [{seq, at (start, Unix ms), end (at + latency_ms), st (HTTP
# status; 0: none)}].
attempts() {
	db_psql "SELECT coalesce(json_agg(json_build_object('seq', seq, 'at', t, 'end', t + latency_ms,
			'st', coalesce(status, 0)) ORDER BY t, id), '[]')
		FROM (SELECT *, round(extract(epoch FROM at) * 1000)::bigint AS t
			FROM attempt WHERE subscription_id = '$1' AND seq = coalesce(${2:-NULL}, seq)) a"
}

# jqn EXPR [--argjson ...]: evaluate a jq expression with no input.
jqn() {
	local e=$1
	shift
	jq -cn "$@" "$e"
}

# ---------------------------------------------------------------- set-up

pg_use_shared_or_start
db_create
receiver_start
herald_start

# ---------------------------------------------------------------- backoff

log "fail=2: delivered on the 3rd attempt, gaps ~300 ms then ~600 ms"
sub_create "backoff" "$(sub_body "$RECEIVER_URL/backoff?fail=2" r.backoff \
	'{"retry": {"initial_ms": 300, "multiplier": 2, "max_ms": 10000, "jitter": 0, "max_attempts": 5}}')"
BO_SUB=$SUB_ID
publish1 "backoff" r.backoff bo-1 k
BO_SEQ=$SEQ
wait_until 15 "backoff: delivered" delivery_is "$BO_SUB" "$BO_SEQ" '.state == "succeeded"'
D=$(delivery_json "$BO_SUB" "$BO_SEQ")
expect_eq "$(printf '%s' "$D" | jq -c '[.attempts, .last_status]')" '[3,204]' \
	"backoff: 3 attempts, the last answered 204 ($D)"
R=$(reqs /backoff)
expect_eq "$(printf '%s' "$R" | jq -c '[.[].st]')" '[500,500,204]' "backoff: the sink saw 500, 500, 204"
A=$(attempts "$BO_SUB" "$BO_SEQ")
expect_eq "$(printf '%s' "$A" | jq -c '[.[].st]')" '[500,500,204]' "backoff: herald logged 500, 500, 204"
# the waits: from the end of one attempt to the start of the next
G1=$(printf '%s' "$A" | jq '.[1].at - .[0].end')
G2=$(printf '%s' "$A" | jq '.[2].at - .[1].end')
log "backoff: waits $G1 ms, $G2 ms; attempts $(printf '%s' "$A" | jq -c '[.[] | .end - .at]') ms long"
check "backoff: first wait $G1 ms >= $((300 - TOL_MS)) ms (300 ms, jitter 0)" test "$G1" -ge $((300 - TOL_MS))
check "backoff: second wait $G2 ms >= $((600 - TOL_MS)) ms (300 * 2)" test "$G2" -ge $((600 - TOL_MS))
check "backoff: the wait grew with the multiplier ($G1 -> $G2 ms, by >= 200 ms)" test "$G2" -ge $((G1 + 200))
check "backoff: first wait $G1 ms <= 800 ms (due after 300 ms)" test "$G1" -le 800
check "backoff: second wait $G2 ms <= 1100 ms (due after 600 ms)" test "$G2" -le 1100

# ---------------------------------------------------------------- Retry-After: delta-seconds

log "429 with Retry-After: 2: deferred, not an attempt; the subscriber gets nothing meanwhile"
sub_create "429" "$(sub_body "$RECEIVER_URL/ra?status=429&retry_after=2&retry_after_times=1" r.ra \
	'{"retry": {"initial_ms": 100, "multiplier": 1, "max_ms": 100, "jitter": 0, "max_attempts": 5}}')"
RA_SUB=$SUB_ID
publish1 "429" r.ra ra-1 a
RA_SEQ1=$SEQ
wait_until 10 "429: the first request reached the sink" receiver_has /ra 1
# herald logs the 429 after it read it, so from then on it holds back
ra_logged() {
	[[ $(db_psql "SELECT count(*) FROM attempt WHERE subscription_id = '$RA_SUB' AND status = 429") == 1 ]]
}
wait_until 10 "429: herald logged the 429" ra_logged
publish1 "429: another key, right after" r.ra ra-2 b
RA_SEQ2=$SEQ
wait_until 15 "429: both delivered" state_is "$RA_SUB" succeeded 2
R=$(reqs /ra)
expect_eq "$(printf '%s' "$R" | jq -c '[.[] | [.id, .st]] | .[0], (.[1:] | sort)')" \
	"$(printf '%s\n%s' '["ra-1",429]' '[["ra-1",204],["ra-2",204]]')" \
	"429: ra-1 got 429, then ra-1 and ra-2 got 204 each, nothing else"
A=$(attempts "$RA_SUB")
expect_eq "$(printf '%s' "$A" | jq -c --argjson s1 "$RA_SEQ1" '[.[0].seq == $s1, [.[].st]]')" '[true,[429,204,204]]' \
	"429: herald logged ra-1's 429 first, then two 204s"
# ra-2 must have been waiting during the Retry-After, or holding it back proves nothing
RA2_IN=$(db_psql "SELECT round(extract(epoch FROM received_at) * 1000)::bigint FROM event WHERE seq = $RA_SEQ2")
RA2_IN=$((RA2_IN - $(printf '%s' "$A" | jq '.[0].end')))
check "429: ra-2 was accepted while the Retry-After ran ($RA2_IN ms after the 429 < 2000 ms)" test "$RA2_IN" -lt 2000
# from the end of the 429 attempt (when herald read the Retry-After) to the starts of the later ones
GAPS=$(printf '%s' "$A" | jq -c '.[0].end as $e | [.[1:][] | .at - $e]')
log "429: later attempts started $GAPS ms after the 429"
expect_eq "$(printf '%s' "$GAPS" | jq --argjson m $((2000 - TOL_MS)) 'length == 2 and min >= $m')" true \
	"429: no attempt for the subscriber within $((2000 - TOL_MS)) ms of the 429 ($GAPS ms)"
expect_eq "$(printf '%s' "$GAPS" | jq 'length == 2 and max < 4500')" true \
	"429: sent again soon after the Retry-After passed (< 4.5 s)"
D=$(delivery_json "$RA_SUB" "$RA_SEQ1")
expect_eq "$(printf '%s' "$D" | jq -c '[.state, .attempts]')" '["succeeded",1]' \
	"429: the deferral did not count as an attempt ($D)"
D=$(delivery_json "$RA_SUB" "$RA_SEQ2")
expect_eq "$(printf '%s' "$D" | jq -c '[.state, .attempts]')" '["succeeded",1]' "429: the other key's event took 1 attempt ($D)"

# ---------------------------------------------------------------- Retry-After: HTTP-date

log "503 with Retry-After as an HTTP-date"
WHEN=$(($(date +%s) + 3))
WHEN_TEXT=$(date -u -d "@$WHEN" '+%a, %d %b %Y %H:%M:%S GMT')
WHEN_ENC=$(jq -rn --arg v "$WHEN_TEXT" '$v | @uri')
sub_create "503" "$(sub_body "$RECEIVER_URL/radate?status=503&retry_after=$WHEN_ENC&retry_after_times=1" r.radate \
	'{"retry": {"initial_ms": 100, "multiplier": 1, "max_ms": 100, "jitter": 0, "max_attempts": 5}}')"
RD_SUB=$SUB_ID
publish1 "503" r.radate rd-1 a
RD_SEQ=$SEQ
wait_until 15 "503: delivered" delivery_is "$RD_SUB" "$RD_SEQ" '.state == "succeeded"'
R=$(reqs /radate)
expect_eq "$(printf '%s' "$R" | jq -c '[.[].st]')" '[503,204]' "503: the sink saw 503 ($WHEN_TEXT), then 204"
expect_eq "$(printf '%s' "$R" | jq --argjson w "$WHEN" '.[0].t < $w * 1000')" true \
	"503: the first request came before the date"
expect_eq "$(printf '%s' "$R" | jq --argjson w "$WHEN" '.[1].t >= $w * 1000 - 50')" true \
	"503: the retry came at or after $WHEN_TEXT (at $(printf '%s' "$R" | jq --argjson w "$WHEN" '.[1].t - $w * 1000 | floor') ms from it)"
D=$(delivery_json "$RD_SUB" "$RD_SEQ")
expect_eq "$(printf '%s' "$D" | jq -c '[.state, .attempts]')" '["succeeded",1]' \
	"503: the deferral did not count as an attempt ($D)"

# ---------------------------------------------------------------- 410 Gone

log "410 Gone disables the subscription; re-activating delivers what accumulated"
sub_create "410" "$(sub_body "$RECEIVER_URL/gone?status=410" r.gone)"
GONE_SUB=$SUB_ID
publish1 "410" r.gone gone-1 a
sub_status_is() {
	api GET "/v1/subscriptions/$1"
	[[ $STATUS == 200 ]] && printf '%s' "$RESP" | jq -e --arg s "$2" '.status == $s' >/dev/null
}
wait_until 10 "410: the subscription became disabled" sub_status_is "$GONE_SUB" disabled
expect_json '.status_reason | type == "string" and length > 0' true "410: with a status_reason"
log "status_reason: $(printf '%s' "$RESP" | jq -r '.status_reason')"
publish1 "410: while disabled" r.gone gone-2 a
publish1 "410: while disabled" r.gone gone-3 b
sleep 1.5
expect_eq "$(receiver_count /gone)" 1 "410: nothing more was sent while disabled"
expect_eq "$(count_state "$GONE_SUB" pending)" 3 "410: the 3 deliveries exist and are pending"
api PATCH "/v1/subscriptions/$GONE_SUB" "$(jq -cn --arg s "$RECEIVER_URL/gone-ok" '{status: "active", sink: $s}')"
expect_status 200 "410: PATCH status active with a healthy sink"
expect_json '.status' active "410: the PATCH answer says active"
wait_until 15 "410: the 3 accumulated deliveries succeeded" state_is "$GONE_SUB" succeeded 3
expect_eq "$(reqs /gone-ok | jq -c '[.[].id] | sort')" '["gone-1","gone-2","gone-3"]' \
	"410: the healthy sink got each of the 3 events once"
expect_eq "$(receiver_count /gone)" 1 "410: the gone sink got nothing more"

# ---------------------------------------------------------------- timeout

log "timeout_ms 500 against a sink answering after 1.5 s"
sub_create "timeout" "$(sub_body "$RECEIVER_URL/slow?delay_ms=1500" r.slow \
	'{"timeout_ms": 500, "retry": {"initial_ms": 100, "multiplier": 1, "max_ms": 100, "jitter": 0, "max_attempts": 2}}')"
TO_SUB=$SUB_ID
publish1 "timeout" r.slow to-1 a
TO_SEQ=$SEQ
wait_until 15 "timeout: the delivery failed after its attempts" delivery_is "$TO_SUB" "$TO_SEQ" '.state == "failed"'
D=$(delivery_json "$TO_SUB" "$TO_SEQ")
expect_eq "$(printf '%s' "$D" | jq -c '[.attempts, .last_status]')" '[2,null]' "timeout: 2 attempts, no HTTP status ($D)"
expect_eq "$(printf '%s' "$D" | jq '.last_error // "" | test("time.?out|timed out"; "i")')" true \
	"timeout: last_error mentions a timeout"
# (the receiver records a request once it has read it whole, which on a busy
# machine may come after herald gave up waiting for the answer)
wait_until 10 "timeout: the sink saw the retry (>= 2 requests)" receiver_has /slow 2

# ---------------------------------------------------------------- connection refused

log "connection refused, then the sink works"
PORT=$(free_port) || die "no free port"
sub_create "refused" "$(sub_body "http://127.0.0.1:$PORT/nobody" r.refused \
	'{"retry": {"initial_ms": 200, "multiplier": 1, "max_ms": 200, "jitter": 0, "max_attempts": 50}}')"
RF_SUB=$SUB_ID
publish1 "refused" r.refused rf-1 a
RF_SEQ=$SEQ
wait_until 15 "refused: retried (>= 2 attempts)" delivery_is "$RF_SUB" "$RF_SEQ" '.state == "pending" and .attempts >= 2'
D=$(delivery_json "$RF_SUB" "$RF_SEQ")
expect_eq "$(printf '%s' "$D" | jq '.last_status == null and (.last_error // "" | test("connect|refused"; "i"))')" true \
	"refused: no status, last_error names the connection failure ($D)"
api PATCH "/v1/subscriptions/$RF_SUB" "$(jq -cn --arg s "$RECEIVER_URL/back" '{sink: $s}')"
expect_status 200 "refused: sink changed to a working one"
wait_until 15 "refused: delivered once the sink works" delivery_is "$RF_SUB" "$RF_SEQ" '.state == "succeeded"'
expect_eq "$(reqs /back | jq -c '[.[] | [.id, .st]]')" '[["rf-1",204]]' "refused: the working sink got it once"

# ---------------------------------------------------------------- dropped connection

log "drop=1: the first connection closes without an answer"
sub_create "drop" "$(sub_body "$RECEIVER_URL/drop?drop=1" r.drop \
	'{"retry": {"initial_ms": 200, "multiplier": 1, "max_ms": 200, "jitter": 0, "max_attempts": 5}}')"
DR_SUB=$SUB_ID
publish1 "drop" r.drop dr-1 a
DR_SEQ=$SEQ
wait_until 15 "drop: delivered" delivery_is "$DR_SUB" "$DR_SEQ" '.state == "succeeded"'
D=$(delivery_json "$DR_SUB" "$DR_SEQ")
expect_eq "$(printf '%s' "$D" | jq -c '[.attempts, .last_status]')" '[2,204]' "drop: 2 attempts ($D)"
expect_eq "$(reqs /drop | jq -c '[.[] | [.id, .st]]')" '[["dr-1",0],["dr-1",204]]' \
	"drop: the sink saw a dropped request, then a 204"
A=$(attempts "$DR_SUB" "$DR_SEQ")
expect_eq "$(printf '%s' "$A" | jq -c '[.[].st]')" '[0,204]' "drop: herald logged no answer, then a 204"
DG=$(printf '%s' "$A" | jq '.[1].at - .[0].end')
log "drop: the second attempt started $DG ms after the dropped one ended"
check "drop: the retry waited for the backoff ($DG ms >= $((200 - TOL_MS)) ms, initial_ms 200)" test "$DG" -ge $((200 - TOL_MS))

# ---------------------------------------------------------------- max_attempts

log "max_attempts 3 against a sink that always answers 500"
sub_create "max" "$(sub_body "$RECEIVER_URL/max?status=500" r.max \
	'{"retry": {"initial_ms": 100, "multiplier": 1, "max_ms": 100, "jitter": 0, "max_attempts": 3}}')"
MX_SUB=$SUB_ID
publish1 "max" r.max mx-1 a
MX_SEQ=$SEQ
wait_until 15 "max: the delivery failed" delivery_is "$MX_SUB" "$MX_SEQ" '.state == "failed"'
D=$(delivery_json "$MX_SUB" "$MX_SEQ")
expect_eq "$(printf '%s' "$D" | jq -c '[.attempts, .last_status, (.last_error | type)]')" '[3,500,"string"]' \
	"max: attempts == max_attempts, last status 500 ($D)"
sleep 1.2
expect_eq "$(receiver_count /max)" 3 "max: the sink saw exactly 3 requests, none after giving up"

finish
