#!/bin/bash
# Delivery order: per-key FIFO under random failures, keys that do not block
# each other, one global FIFO, unordered events, ordering by subject, and a
# key that moves on once its head delivery has failed for good.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

BATCH=(-H 'Content-Type: application/cloudevents-batch+json')

# ---------------------------------------------------------------- helpers

# events TYPE PREFIX N NKEYS [FIRST]: a JSON array of N structured events of
# TYPE; event i has partitionkey k<i % NKEYS> and data {key, seq, i}, seq
# being its number within its key (i / NKEYS).  NKEYS 0: no partitionkey
# (key "-"); FIRST offsets i.
events() {
	jq -cn --arg t "$1" --arg p "$2" --argjson n "$3" --argjson nk "$4" \
		--argjson first "${5:-0}" '
		[range($first; $first + $n) as $i
		 | (if $nk > 0 then "k\($i % $nk)" else "-" end) as $k
		 | {specversion: "1.0", id: "\($p)-\($i)", source: "/test/ordering",
		    type: $t, datacontenttype: "application/json",
		    data: {key: $k, seq: (if $nk > 0 then ($i / $nk | floor) else $i end), i: $i}}
		   + (if $nk > 0 then {partitionkey: $k} else {} end)]'
}

# publish DESC JSON_ARRAY: POST a batch, expecting 202 with one result each.
publish() {
	local n
	n=$(printf '%s' "$2" | jq 'length')
	api POST /v1/events "$2" "${BATCH[@]}"
	expect_status 202 "$1: batch of $n accepted"
	if [[ $STATUS == 202 ]]; then
		expect_json '[.results[].seq] | (length == '"$n"' and . == sort and (unique | length) == '"$n"')' \
			true "$1: $n results whose seqs increase in input order"
	fi
}

# reqs PATH: the receiver's requests to PATH, each reduced to
# {t, st (0: dropped), key, seq, i} from its JSON body, in arrival order.
reqs() {
	receiver_requests "$1" | jq -c '[.[] | (.body // "{}" | fromjson? // {}) as $d
		| {t: .time_ms, st: (.response.status // 0),
		   key: $d.key, seq: $d.seq, i: $d.i}]'
}

stat_field() {
	curl -sS --max-time 10 "$RECEIVER_URL/_stats?path=$1" | jq -r ".$2"
}

# FIFO violations in a reqs list, one line each (none: in order):
#  - per key, the successful (2xx) requests carry seq 0, 1, ..., n-1 in
#    that order (strictly increasing, each event once);
#  - no request for seq k+1 of a key arrives before the successful request
#    of seq k of that key arrived.
FIFO_JQ='
  group_by(.key)[] | . as $r | $r[0].key as $k
  | [$r[] | select(.st >= 200 and .st < 300)] as $ok
  | ($ok | map(.seq)) as $s
  | (if $s != [range(0; $n)] then "key \($k): successful seqs \($s), want 0..\($n - 1)" else empty end),
    (range(1; $n) as $q
     | ([$ok[] | select(.seq == $q - 1) | .t] | min) as $done
     | ([$r[] | select(.seq == $q) | .t] | min) as $first
     | select($done == null or $first == null or $first <= $done)
     | "key \($k): seq \($q) first arrived at \($first), seq \($q - 1) succeeded at \($done)")'

# fifo_violations REQS N: print the violations (N events per key).
fifo_violations() {
	printf '%s' "$1" | jq -r --argjson n "$2" "$FIFO_JQ"
}

# ---------------------------------------------------------------- set-up

pg_use_shared_or_start
db_create
receiver_start
herald_start

# ---------------------------------------------------------------- FIFO per key under random failures

log "per-key FIFO: 150 events over 10 keys, the sink failing 30% at random"
sub_create "fifo" "$(jq -cn --arg s "$RECEIVER_URL/fifo?fail_rate=0.3&seed=7" '{
	sink: $s, types: ["ord.fifo"],
	delivery: {ordering: "partitionkey",
	  retry: {initial_ms: 50, multiplier: 1.5, max_ms: 400, jitter: 0.2, max_attempts: 100}}}')"
FIFO_SUB=$SUB_ID
publish "fifo" "$(events ord.fifo f 150 10)"
wait_until 60 "fifo: all 150 deliveries succeeded" state_is "$FIFO_SUB" succeeded 150
expect_eq "$(count_state "$FIFO_SUB" failed)" 0 "fifo: no delivery failed"
R=$(reqs /fifo)
expect_eq "$(printf '%s' "$R" | jq '[.[] | select(.st != 204)] | length > 0')" true \
	"fifo: the sink did answer 500 to some requests (the test exercises retries)"
expect_eq "$(printf '%s' "$R" | jq '[.[] | select(.st == 204)] | length')" 150 \
	"fifo: exactly 150 successful requests (each event once)"
expect_eq "$(printf '%s' "$R" | jq -c '[group_by(.key)[] | {(.[0].key): ([.[] | select(.st == 204) | .seq] | length)}] | add')" \
	"$(jq -cn '[range(0;10) | {("k\(.)"): 15}] | add')" "fifo: every key has its 15 events succeeded"
V=$(fifo_violations "$R" 15)
expect_eq "$V" "" "fifo: per key, successes in seq order and no event sent before its predecessor succeeded"
expect_eq "$(printf '%s' "$R" | jq '[.[] | select(.st == 0)] | length')" 0 "fifo: no request without an answer"

# ---------------------------------------------------------------- one key's failure does not block other keys

# (a long backoff: keys b, c, d have 8 s to go through on a slow machine)
log "key isolation: key a's head waits 8 s for its retry while keys b, c, d flow"
sub_create "iso" "$(jq -cn --arg s "$RECEIVER_URL/iso?fail=1" '{
	sink: $s, types: ["ord.iso"],
	delivery: {ordering: "partitionkey",
	  retry: {initial_ms: 8000, multiplier: 1, max_ms: 8000, jitter: 0, max_attempts: 5}}}')"
ISO_SUB=$SUB_ID
# a0 alone first, so that it is the request that fails
publish "iso: a0" "$(jq -cn '[{specversion: "1.0", id: "iso-a0", source: "/test/ordering",
	type: "ord.iso", partitionkey: "a", datacontenttype: "application/json",
	data: {key: "a", seq: 0}}]')"
wait_until 10 "iso: a0 reached the sink" receiver_has /iso 1
publish "iso: the rest" "$(jq -cn '[range(1;3) as $q | {key: "a", seq: $q}] +
	[("b", "c", "d") as $k | range(0;3) as $q | {key: $k, seq: $q}]
	| map({specversion: "1.0", id: "iso-\(.key)\(.seq)", source: "/test/ordering",
	       type: "ord.iso", partitionkey: .key, datacontenttype: "application/json",
	       data: .})')"
wait_until 40 "iso: all 12 deliveries succeeded" state_is "$ISO_SUB" succeeded 12
R=$(reqs /iso)
A0_FIRST=$(printf '%s' "$R" | jq '[.[] | select(.key == "a" and .seq == 0) | .t] | min')
A0_OK=$(printf '%s' "$R" | jq '[.[] | select(.key == "a" and .seq == 0 and .st == 204) | .t] | min')
expect_eq "$(printf '%s' "$R" | jq -c '.[0] | [.key, .seq, .st]')" '["a",0,500]' \
	"iso: the first request was a0 and it failed"
expect_eq "$(jq -n --argjson a "$A0_FIRST" --argjson b "$A0_OK" '$b - $a >= 7950')" true \
	"iso: a0's retry came after its 8 s backoff ($A0_FIRST -> $A0_OK)"
expect_eq "$(printf '%s' "$R" | jq --argjson ok "$A0_OK" \
	'[.[] | select(.key != "a" and .st == 204 and .t < $ok)] | length')" 9 \
	"iso: all 9 events of keys b, c, d succeeded while a0 waited for its retry"
expect_eq "$(printf '%s' "$R" | jq --argjson ok "$A0_OK" \
	'[.[] | select(.key == "a" and .seq > 0 and .t < $ok)] | length')" 0 \
	"iso: a1 and a2 were not sent before a0 succeeded"
expect_eq "$(fifo_violations "$R" 3)" "" "iso: every key in order"

log "key isolation across subscriptions: one sink always failing, another healthy"
sub_create "two: failing" "$(jq -cn --arg s "$RECEIVER_URL/two-fail?status=500" '{
	sink: $s, types: ["ord.two"],
	delivery: {retry: {initial_ms: 200, multiplier: 1, max_ms: 200, jitter: 0, max_attempts: 100}}}')"
TWO_FAIL=$SUB_ID
sub_create "two: healthy" "$(jq -cn --arg s "$RECEIVER_URL/two-ok" '{sink: $s, types: ["ord.two"]}')"
TWO_OK=$SUB_ID
T0=$(now_ms)
publish "two" "$(events ord.two t 20 4)"
wait_until 10 "two: the healthy subscription has all 20 delivered" state_is "$TWO_OK" succeeded 20
log "healthy subscription done $(($(now_ms) - T0)) ms after publishing"
R=$(reqs /two-ok)
expect_eq "$(fifo_violations "$R" 5)" "" "two: healthy subscription in order per key"
expect_eq "$(count_state "$TWO_FAIL" pending)" 20 "two: the failing subscription still has all 20 pending"
# (the healthy one may finish before the failing one has sent every head)
two_fail_heads() {
	[[ $(reqs /two-fail | jq -c '[.[].key] | unique') == '["k0","k1","k2","k3"]' ]]
}
wait_until 10 "two: the failing sink saw the head of each of the 4 keys" two_fail_heads
check "two: the failing sink is being retried (>= 5 requests)" poll_until 10 receiver_has /two-fail 5
expect_eq "$(reqs /two-fail | jq -c '[.[].seq] | unique')" '[0]' \
	"two: the failing sink saw only each key's first event (the rest wait behind it)"
api DELETE "/v1/subscriptions/$TWO_FAIL"
expect_status 204 "two: failing subscription deleted"

# ---------------------------------------------------------------- global

log "ordering global: one FIFO for the whole subscription"
sub_create "global" "$(jq -cn --arg s "$RECEIVER_URL/global?delay_ms=50" '{
	sink: $s, types: ["ord.global"], delivery: {ordering: "global", max_in_flight: 8}}')"
GLOBAL_SUB=$SUB_ID
publish "global" "$(events ord.global g 12 4)"
wait_until 20 "global: all 12 delivered" state_is "$GLOBAL_SUB" succeeded 12
expect_eq "$(reqs /global | jq -c '[.[] | select(.st == 204) | .i]')" "$(jq -cn '[range(0;12)]')" \
	"global: every event once, in publish order across keys"
expect_eq "$(stat_field /global max_concurrent)" 1 "global: never two requests in flight at once"

# ---------------------------------------------------------------- unordered events

log "events without a partitionkey are unordered; with one they are not"
sub_create "unordered" "$(jq -cn --arg s "$RECEIVER_URL/nokey?delay_ms=200" '{
	sink: $s, types: ["ord.nokey"], delivery: {ordering: "partitionkey", max_in_flight: 8}}')"
NOKEY_SUB=$SUB_ID
sub_create "same key" "$(jq -cn --arg s "$RECEIVER_URL/samekey?delay_ms=200" '{
	sink: $s, types: ["ord.samekey"], delivery: {ordering: "partitionkey", max_in_flight: 8}}')"
SAME_SUB=$SUB_ID
publish "unordered" "$(events ord.nokey n 8 0)"
publish "same key" "$(events ord.samekey s 8 1)"
wait_until 15 "unordered: all 8 delivered" state_is "$NOKEY_SUB" succeeded 8
wait_until 15 "same key: all 8 delivered" state_is "$SAME_SUB" succeeded 8
MC=$(stat_field /nokey max_concurrent)
log "unordered: max_concurrent $MC"
check "unordered: requests overlapped (max_concurrent $MC > 1)" test "$MC" -gt 1
expect_eq "$(stat_field /samekey max_concurrent)" 1 "same key: one request at a time"
R=$(reqs /samekey)
expect_eq "$(fifo_violations "$R" 8)" "" "same key: in order, each after the previous succeeded"

# ---------------------------------------------------------------- subject

log "ordering subject: keyed by subject, not by partitionkey"
sub_create "subject" "$(jq -cn --arg s "$RECEIVER_URL/subj?delay_ms=150" '{
	sink: $s, types: ["ord.subj"], delivery: {ordering: "subject", max_in_flight: 8}}')"
SUBJ_SUB=$SUB_ID
# every event has the same partitionkey; the subject alternates s0, s1
publish "subject" "$(jq -cn '[range(0;10) as $i | {specversion: "1.0", id: "subj-\($i)",
	source: "/test/ordering", type: "ord.subj", subject: "s\($i % 2)", partitionkey: "same",
	datacontenttype: "application/json", data: {key: "s\($i % 2)", seq: ($i / 2 | floor), i: $i}}]')"
wait_until 15 "subject: all 10 delivered" state_is "$SUBJ_SUB" succeeded 10
R=$(reqs /subj)
expect_eq "$(fifo_violations "$R" 5)" "" "subject: in order per subject"
# one request per subject at a time is the bound; that the two subjects
# overlapped at all is what keying by the shared partitionkey would forbid
MC=$(stat_field /subj max_concurrent)
check "subject: at most one request per subject in flight (max_concurrent $MC <= 2)" test "$MC" -le 2
check "subject: the two subjects went in parallel (max_concurrent $MC >= 2), though the partitionkey is shared" \
	test "$MC" -ge 2
expect_eq "$(printf '%s' "$R" | jq -c '[group_by(.key)[] | [range(1; length) as $j | .[$j].t - .[$j - 1].t] | min >= 140] | all')" \
	true "subject: within a subject each request came after the previous one's 150 ms answer"

# ---------------------------------------------------------------- max_attempts: failed, the key moves on

log "max_attempts 2, sink failing 3 times: the head fails, the next event is delivered"
sub_create "maxatt" "$(jq -cn --arg s "$RECEIVER_URL/maxatt?fail=3" '{
	sink: $s, types: ["ord.max"],
	delivery: {retry: {initial_ms: 50, multiplier: 1, max_ms: 50, jitter: 0, max_attempts: 2}}}')"
MAX_SUB=$SUB_ID
publish "maxatt" "$(events ord.max m 2 1)"
MAX_SEQ0=$(printf '%s' "$RESP" | jq -r '.results[0].seq')
MAX_SEQ1=$(printf '%s' "$RESP" | jq -r '.results[1].seq')
wait_until 15 "maxatt: nothing pending any more" state_is "$MAX_SUB" pending 0
D=$(delivery_json "$MAX_SUB" "$MAX_SEQ0")
expect_eq "$(printf '%s' "$D" | jq -c '[.state, .attempts, .last_status]')" '["failed",2,500]' \
	"maxatt: the first event failed after 2 attempts ($D)"
D=$(delivery_json "$MAX_SUB" "$MAX_SEQ1")
expect_eq "$(printf '%s' "$D" | jq -c '[.state, .attempts]')" '["succeeded",2]' \
	"maxatt: the next event of the key was then delivered (3rd request failed, 4th succeeded) ($D)"
api GET "/v1/subscriptions/$MAX_SUB/deliveries?state=failed"
expect_status 200 "maxatt: GET deliveries?state=failed"
FAILED=$(printf '%s' "$RESP" | jq -c '[.items[]?.seq]')
expect_eq "$FAILED" "[$MAX_SEQ0]" "maxatt: the failed deliveries are exactly the first event"
sleep 0.5
expect_eq "$(reqs /maxatt | jq -c '[.[] | [.seq, .st]]')" '[[0,500],[0,500],[1,500],[1,204]]' \
	"maxatt: the sink saw e0, e0, e1, e1 and nothing more"

finish
