#!/bin/bash
# Per-subscriber rate limits: the token bucket (rate, burst) is never
# exceeded, max_in_flight caps concurrency, a slow subscriber does not slow
# another, and a subscriber that comes back after an outage is not flooded.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

BATCH=(-H 'Content-Type: application/cloudevents-batch+json')

# ---------------------------------------------------------------- helpers

# sub_body SINK TYPE DELIVERY_JSON
sub_body() {
	jq -cn --arg s "$1" --arg t "$2" --argjson d "$3" '{sink: $s, types: [$t], delivery: $d}'
}

# publish DESC TYPE N: a batch of N events of TYPE without partitionkey;
# sets PUBLISHED_MS to the time (Unix ms) taken right before the POST.
publish() {
	local body
	body=$(jq -cn --arg t "$2" --argjson n "$3" '[range(0; $n) as $i
		| {specversion: "1.0", id: "\($t)-\($i)", source: "/test/ratelimit", type: $t,
		   datacontenttype: "application/json", data: {i: $i}}]')
	PUBLISHED_MS=$(now_ms)
	api POST /v1/events "$body" "${BATCH[@]}"
	expect_status 202 "$1: batch of $3 accepted"
}

# times PATH: the sorted arrival times (ms) of the requests to PATH, as the
# receiver stamped them.  Used for what reached the receiver (counts), not
# for timing: the receiver's own scheduling can bunch or delay its stamps.
times() {
	receiver_requests "$1" | jq -c '[.[].time_ms] | sort'
}

stat_field() {
	curl -sS --max-time 10 "$RECEIVER_URL/_stats?path=$1" | jq -r ".$2"
}

# The timing checks use herald's own attempt log (table attempt): its `at`
# is the start of an attempt, read from the clock in dispatch.c start_job()
# right after the attempt took its rate-limit token, stored in whole ms.
# TOL_MS is what such a time may be off by from the moment the token was
# taken: the ms truncation, the few microseconds from the token to the clock
# read, and the wall clock (at) against the monotonic one (the bucket).
TOL_MS=5

# attempt_times SUB [SQL_CONDITION]: the sorted start times (Unix ms) of
# SUB's attempts (those matching the condition), as a JSON array.
attempt_times() {
	db_psql "SELECT coalesce(json_agg(t ORDER BY t), '[]')
		FROM (SELECT round(extract(epoch FROM at) * 1000)::bigint AS t
			FROM attempt WHERE subscription_id = '$1' AND (${2:-true})) a"
}

# bucket_violations TIMES RATE BURST: the pairs i < j of attempt start times
# with more attempts than the bucket allows: the j - i + 1 attempts from i to
# j started within dt = t[j] - t[i] must be <= BURST + RATE * (dt + TOL_MS),
# counted in integer ms here (no rounding).  That is: over any window of
# length T at most BURST + RATE * T attempts start (src/ratelimit.h).
# Prints at most 5 offending pairs; nothing when the bound holds.
bucket_violations() {
	printf '%s' "$1" | jq -c --argjson r "$2" --argjson b "$3" --argjson tol "$TOL_MS" '. as $t
		| [range(0; $t | length) as $i | range($i + 1; $t | length) as $j
		   | ($t[$j] - $t[$i]) as $dt
		   | select(($j - $i + 1) * 1000 > $b * 1000 + $r * ($dt + $tol))
		   | {i: $i, j: $j, dt_ms: $dt}]
		| .[:5][]'
}

# span TIMES A B: ms from time A to time B (indexes; negative from the end).
span() {
	printf '%s' "$1" | jq --argjson a "$2" --argjson b "$3" '.[$b] - .[$a] | floor'
}

# gaps TIMES: the ms between consecutive times; from0 TIMES: ms from the first.
gaps() {
	printf '%s' "$1" | jq -c '[range(1; length) as $i | .[$i] - .[$i - 1] | floor]'
}
from0() {
	printf '%s' "$1" | jq -c '.[0] as $z | map(. - $z | floor)'
}

# ---------------------------------------------------------------- set-up

pg_use_shared_or_start
db_create
receiver_start
herald_start

# ---------------------------------------------------------------- rate 5, burst 1

log "rate 5, burst 1: 20 events"
sub_create "rate5" "$(sub_body "$RECEIVER_URL/rate5" rl.rate5 '{"ordering": "none", "rate": 5, "burst": 1}')"
R5_SUB=$SUB_ID
publish "rate5" rl.rate5 20
wait_until 20 "rate5: all 20 delivered" state_is "$R5_SUB" succeeded 20
expect_eq "$(times /rate5 | jq length)" 20 "rate5: exactly 20 requests"
T=$(attempt_times "$R5_SUB")
expect_eq "$(printf '%s' "$T" | jq length)" 20 "rate5: herald logged 20 attempts"
expect_eq "$(bucket_violations "$T" 5 1)" "" "rate5: over any window T at most 1 + 5*T attempts started"
S=$(span "$T" 0 -1)
log "rate5: first to last attempt start $S ms; gaps $(gaps "$T")"
check "rate5: 20 attempts took >= $((3800 - TOL_MS)) ms ($S ms; 19 intervals of 200 ms)" test "$S" -ge $((3800 - TOL_MS))
check "rate5: and not much longer than needed ($S ms <= 6500 ms)" test "$S" -le 6500

# ---------------------------------------------------------------- rate 4, burst 5

# (a slow rate, so that "together" has 250 ms to happen in on a busy machine)
log "rate 4, burst 5: a burst of 5, then 4/s"
sub_create "burst" "$(sub_body "$RECEIVER_URL/burst" rl.burst '{"ordering": "none", "rate": 4, "burst": 5}')"
B_SUB=$SUB_ID
publish "burst" rl.burst 20
wait_until 20 "burst: all 20 delivered" state_is "$B_SUB" succeeded 20
expect_eq "$(times /burst | jq length)" 20 "burst: exactly 20 requests"
T=$(attempt_times "$B_SUB")
log "burst: attempt starts (ms from the first) $(from0 "$T")"
expect_eq "$(printf '%s' "$T" | jq length)" 20 "burst: herald logged 20 attempts"
expect_eq "$(bucket_violations "$T" 4 5)" "" "burst: over any window T at most 5 + 4*T attempts started"
# Without a burst of 5 the 5th would wait >= 250 ms (one token at 4/s).
S=$(span "$T" 0 4)
check "burst: the first 5 started together ($S ms < $((250 - TOL_MS)) ms, before a 6th token)" test "$S" -lt $((250 - TOL_MS))
S=$(span "$T" 0 5)
check "burst: the 6th waited for a token ($S ms >= $((250 - TOL_MS)) ms after the first)" test "$S" -ge $((250 - TOL_MS))
S=$(span "$T" 0 -1)
check "burst: 20 attempts took >= $((3750 - TOL_MS)) ms ($S ms; 15 tokens at 4/s after the burst)" test "$S" -ge $((3750 - TOL_MS))
S=$(span "$T" 4 -1)
check "burst: then about 4/s (15 more in $S ms <= 7500 ms)" test "$S" -le 7500

# ---------------------------------------------------------------- max_in_flight

log "max_in_flight 2 with a sink taking 300 ms"
sub_create "inflight" "$(sub_body "$RECEIVER_URL/inflight?delay_ms=300" rl.inflight '{"ordering": "none", "max_in_flight": 2}')"
IF_SUB=$SUB_ID
publish "inflight" rl.inflight 10
wait_until 20 "inflight: all 10 delivered" state_is "$IF_SUB" succeeded 10
MC=$(stat_field /inflight max_concurrent)
check "inflight: at most 2 at once at the receiver (max_concurrent $MC)" test "$MC" -le 2
check "inflight: and the 2 were used (max_concurrent $MC >= 2; 300 ms each to overlap in)" test "$MC" -ge 2
T=$(times /inflight)
S=$(span "$T" 0 -1)
check "inflight: 10 requests, 2 at a time, 300 ms each: >= 1150 ms from first to last ($S ms)" test "$S" -ge 1150

# ---------------------------------------------------------------- a slow subscriber does not slow another

log "slow subscriber A (2 s per request, 1 at a time) next to a fast B"
sub_create "slow A" "$(sub_body "$RECEIVER_URL/slow-a?delay_ms=2000" rl.pair '{"ordering": "none", "max_in_flight": 1}')"
A_SUB=$SUB_ID
sub_create "fast B" "$(sub_body "$RECEIVER_URL/fast-b" rl.pair '{"ordering": "none"}')"
B2_SUB=$SUB_ID
publish "pair" rl.pair 10
P0=$PUBLISHED_MS
wait_until 10 "pair: B has all 10 delivered" state_is "$B2_SUB" succeeded 10
# from right before the POST to the end of B's last attempt (its answer
# read), as herald logged it
E=$(db_psql "SELECT count(*), coalesce(max(round(extract(epoch FROM at) * 1000)::bigint + latency_ms), 0)
	FROM attempt WHERE subscription_id = '$B2_SUB'")
expect_eq "${E%%|*}" 10 "pair: herald logged 10 attempts for B"
S=$((${E#*|} - P0))
check "pair: B's 10 attempts were all done within 3 s of publishing ($S ms)" test "$S" -le 3000
A_DONE=$(count_state "$A_SUB" succeeded)
A_SEEN=$(receiver_count /slow-a)
log "pair: A meanwhile: $A_SEEN requests received, $A_DONE succeeded"
check "pair: A is still working through its 10 ($A_DONE succeeded < 10)" test "$A_DONE" -lt 10
expect_eq "$(stat_field /slow-a max_concurrent)" 1 "pair: A one at a time"
api DELETE "/v1/subscriptions/$A_SUB"
expect_status 204 "pair: A deleted"

# ---------------------------------------------------------------- coming back after failing

log "rate 5: a sink failing its first 8 requests while 15 events accumulate"
sub_create "comeback" "$(sub_body "$RECEIVER_URL/comeback?fail=8" rl.back \
	'{"ordering": "none", "rate": 5, "burst": 1, "retry": {"initial_ms": 300, "multiplier": 1, "max_ms": 300, "jitter": 0, "max_attempts": 20}}')"
CB_SUB=$SUB_ID
publish "comeback" rl.back 15
wait_until 30 "comeback: all 15 delivered" state_is "$CB_SUB" succeeded 15
expect_eq "$(times /comeback | jq length)" 23 "comeback: 8 failed and 15 successful requests"
T=$(attempt_times "$CB_SUB")
expect_eq "$(printf '%s' "$T" | jq length)" 23 "comeback: herald logged 23 attempts"
expect_eq "$(bucket_violations "$T" 5 1)" "" \
	"comeback: failed and retried attempts together never exceed 1 + 5*T in any window T"

log "rate 5, burst 2: an unreachable sink for 2 s, then a working one"
PORT=$(free_port) || die "no free port"
sub_create "outage" "$(sub_body "http://127.0.0.1:$PORT/down" rl.down \
	'{"ordering": "none", "rate": 5, "burst": 2, "retry": {"initial_ms": 200, "multiplier": 1, "max_ms": 200, "jitter": 0, "max_attempts": 50}}')"
OUT_SUB=$SUB_ID
publish "outage" rl.down 15
sleep 2
expect_eq "$(count_state "$OUT_SUB" pending)" 15 "outage: 15 deliveries pending while the sink is unreachable"
api PATCH "/v1/subscriptions/$OUT_SUB" "$(jq -cn --arg s "$RECEIVER_URL/up" '{sink: $s}')"
expect_status 200 "outage: the sink now points at a working receiver"
wait_until 20 "outage: all 15 delivered" state_is "$OUT_SUB" succeeded 15
expect_eq "$(times /up | jq length)" 15 "outage: 15 requests to the working sink"
# answered: the attempts to the working sink (the unreachable one answers none)
T=$(attempt_times "$OUT_SUB" "status IS NOT NULL")
log "outage: attempt starts at the working sink (ms from the first) $(from0 "$T")"
expect_eq "$(printf '%s' "$T" | jq length)" 15 "outage: herald logged 15 answered attempts"
expect_eq "$(bucket_violations "$T" 5 2)" "" "outage: the backlog drained within 2 + 5*T per window T"
ALL=$(attempt_times "$OUT_SUB")
log "outage: $(printf '%s' "$ALL" | jq length) attempts in all"
expect_eq "$(bucket_violations "$ALL" 5 2)" "" \
	"outage: all attempts, unanswered ones and the backlog's, within 2 + 5*T per window T"
S=$(span "$T" 0 -1)
check "outage: the backlog of 15 took >= $((2600 - TOL_MS)) ms ($S ms; 13 tokens at 5/s after a burst of 2)" test "$S" -ge $((2600 - TOL_MS))

finish
