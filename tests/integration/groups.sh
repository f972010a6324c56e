#!/bin/bash
# Consumer groups ("sinks"): validation, one member per event under load,
# a key on one member while the members stay, order per key across a
# member removed by PATCH and a member killed mid-run (nothing lost,
# nothing stuck), a killed member put back in rotation once it answers,
# the member recorded in the attempt log, and two herald
# instances choosing the same member for a key.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

BATCH=(-H 'Content-Type: application/cloudevents-batch+json')

# events TYPE PREFIX N NKEYS [FIRST]: a JSON array of N structured events;
# event i has partitionkey k<i % NKEYS> (NKEYS 0: none) and data {i}.
events() {
	jq -cn --arg t "$1" --arg p "$2" --argjson n "$3" --argjson nk "$4" \
		--argjson first "${5:-0}" '
		[range($first; $first + $n) as $i
		 | {specversion: "1.0", id: "\($p)-\($i)", source: "/test/groups",
		    type: $t, data: {i: $i}}
		   + (if $nk > 0 then {partitionkey: "k\($i % $nk)"} else {} end)]'
}

publish() {
	api POST /v1/events "$1" "${BATCH[@]}"
	[[ $STATUS == 202 ]] || die "batch refused: $STATUS ${RESP:0:300}"
}

# A second receiver process, to be killed: R2_URL, R2_PID.
R2_PID=
# r2_start [PORT]: the second receiver, on PORT (default: any free one)
r2_start() {
	local pf=$TEST_TMPDIR/r2.port i
	rm -f "$pf"
	"$HERALD_RECEIVER" --port "${1:-0}" --portfile "$pf" >>"$TEST_TMPDIR/r2.log" 2>&1 &
	R2_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $pf ]] && break
		sleep 0.1
	done
	[[ -s $pf ]] || die "second receiver did not start"
	R2_URL=http://127.0.0.1:$(<"$pf")
}
r2_stop() {
	[[ -n $R2_PID ]] || return 0
	kill -KILL "$R2_PID" 2>/dev/null
	wait "$R2_PID" 2>/dev/null
	R2_PID=
}
at_exit r2_stop

# recs URL TYPE: the requests a receiver recorded for events of TYPE, each
# as {t, path, seq, key, i, st}, in arrival order.
recs() {
	curl -sS --max-time 10 "$1/_requests" | jq -c --arg t "$2" '[.[]
		| (.body // "{}" | fromjson? // {}) as $e
		| select($e.type == $t)
		| {t: .time_ms, path, st: (.response.status // 0),
		   seq: (.headers["webhook-id"] | ltrimstr("msg_") | tonumber),
		   key: ($e.partitionkey // null), i: $e.data.i}]'
}

succeeded_is() {
	state_is "$1" succeeded "$2"
}

delivered_atleast() {
	local n
	n=$(count_state "$1" succeeded) || return 1
	((n >= $2))
}

pg_use_shared_or_start
db_create
receiver_start
r2_start
herald_start --group-max-failures 3 --group-refused-seconds 2
R=$RECEIVER_URL

# ---------------------------------------------------------------- validation

api POST /v1/subscriptions '{"sink":"'"$R"'/a","sinks":["'"$R"'/b"]}'
expect_status 400 "sink and sinks together refused"
expect_json .field sinks "... naming sinks"
api POST /v1/subscriptions '{"sinks":[]}'
expect_status 400 "an empty group refused"
many=$(jq -cn --arg r "$R" '[range(17) | "\($r)/m\(.)"]')
api POST /v1/subscriptions '{"sinks":'"$many"'}'
expect_status 400 "17 members refused"
api POST /v1/subscriptions '{"sinks":["'"$R"'/a","HTTP://127.0.0.1:'"${R##*:}"'/a"]}'
expect_status 400 "a member given twice (as libcurl renders it) refused"
expect_json .field 'sinks[1]' "... naming the second"
api POST /v1/subscriptions '{"sinks":["'"$R"'/a","ftp://x.example/"]}'
expect_status 400 "a member that is not an http URL refused"
expect_json .field 'sinks[1]' "... naming it"

# the SSRF guard judges every member
MAIN_URL=$HERALD_URL MAIN_PID=$HERALD_PID
herald_start --allow-private-sinks false
api POST /v1/subscriptions '{"sinks":["http://93.184.215.14/x","http://127.0.0.1:9/x"]}'
expect_status 400 "a private member refused by the SSRF guard"
expect_json .field 'sinks[1]' "... naming the private member"
herald_stop || die "the second herald did not stop"
HERALD_URL=$MAIN_URL HERALD_PID=$MAIN_PID

# ------------------------------------------- one member per event, under load

sub_create "group of 3" '{"sinks":["'"$R"'/a","'"$R"'/b","'"$R"'/c"],"types":["t.a"],
  "delivery":{"mode":"structured","max_in_flight":4}}'
A=$SUB_ID
expect_json '.sinks | length' 3 "the subscription shows its 3 members"
expect_json 'has("sink")' false "... and no sink"
for ((b = 0; b < 6; b++)); do
	publish "$(events t.a a 100 40 $((b * 100)))"
done
publish "$(events t.a u 90 0)"
wait_until 60 "690 deliveries succeeded" succeeded_is "$A" 690
RA=$(recs "$R" t.a)
expect_eq "$(jq 'length' <<<"$RA")" 690 "690 requests: each event delivered once"
expect_eq "$(jq '[.[].seq] | unique | length' <<<"$RA")" 690 "... each to one member"
expect_eq "$(jq '[.[] | select(.key) | {key, path}] | group_by(.key)
	| map(map(.path) | unique | length) | max' <<<"$RA")" 1 \
	"each of the 40 keys went to one member"
expect_eq "$(jq '[.[] | select(.key) | .path] | unique | length' <<<"$RA")" 3 \
	"the keys are spread over the 3 members"
expect_eq "$(jq '[.[] | select(.key == null) | .path] | unique | length' <<<"$RA")" 3 \
	"unkeyed events went to every member"
expect_eq "$(jq '[group_by(.key)[] | select(.[0].key) | map(.seq) | . == sort] | all' <<<"$RA")" \
	true "each key in seq order"
# the attempt log and the delivery say which member it was
one=$(jq -c '.[0]' <<<"$RA")
api GET "/v1/subscriptions/$A/deliveries/$(jq .seq <<<"$one")"
expect_json '.attempt_log[0].sink' "$R$(jq -r .path <<<"$one")" "the attempt log names the member"
expect_json '.last_sink' "$R$(jq -r .path <<<"$one")" "... and so does the delivery"
api GET "/v1/subscriptions/$A/deliveries?limit=5"
expect_json '[.items[].last_sink | startswith("'"$R"'/")] | all' true "the listing shows last_sink"

# ------------------- order per key across a member removed and a member killed

receiver_reset
sub_create "group of 3, one on a second receiver" '{"sinks":["'"$R"'/p","'"$R"'/q","'"$R2_URL"'/r?delay_ms=300"],
  "types":["t.b"],"delivery":{"mode":"structured","max_in_flight":4,
  "retry":{"max_attempts":100,"initial_ms":100,"multiplier":2,"max_ms":400,"jitter":0}}}'
B=$SUB_ID
N=600
(
	for ((b = 0; b < N / 20; b++)); do
		api POST /v1/events "$(events t.b b 20 30 $((b * 20)))" "${BATCH[@]}"
		[[ $STATUS == 202 ]] || echo "batch $b: $STATUS" >>"$TEST_TMPDIR/publish.err"
		sleep 0.05
	done
) &
PUB=$!
wait_until 30 "100 delivered before the change" delivered_atleast "$B" 100
api PATCH "/v1/subscriptions/$B" '{"sinks":["'"$R"'/p","'"$R2_URL"'/r?delay_ms=300"]}'
expect_status 200 "PATCH removes member q mid-run"
expect_json '.sinks | length' 2 "... leaving 2 members"
done_at_patch=$(count_state "$B" succeeded)
wait_until 30 "60 more delivered after the PATCH" delivered_atleast "$B" $((done_at_patch + 60))
q_count=$(receiver_count /q)

wait_until 30 "300 delivered before the kill" delivered_atleast "$B" 300
# (r answers after 300 ms: what it recorded before the kill is all it
# answered; what it had not answered yet is sent again elsewhere)
R2_RECS=$(recs "$R2_URL" t.b)
r2_stop
log "member r killed after $(jq length <<<"$R2_RECS") requests"
wait "$PUB"
check "every batch accepted" test ! -s "$TEST_TMPDIR/publish.err"
wait_until 90 "all $N delivered: nothing lost, nothing stuck" succeeded_is "$B" "$N"
check "member r taken out of rotation" grep -q "group member $R2_URL/r?delay_ms=300 is out of rotation" "$HERALD_LOG"
expect_eq "$(receiver_count /q)" "$q_count" "the removed member got nothing more"
RB=$(jq -c -s 'add | sort_by(.t, .seq)' <(recs "$R" t.b) <(printf '%s' "$R2_RECS"))
expect_eq "$(jq '[.[] | select(.st >= 200 and .st < 300) | .seq] | unique | length' <<<"$RB")" "$N" \
	"every event answered 2xx by a member"
# per key, in arrival order: seqs never go back (a redelivery repeats one)
expect_eq "$(jq '[group_by(.key)[] | map(.seq) | . as $s
	| [range(1; length) | select($s[.] < $s[. - 1])] | length] | add' <<<"$RB")" 0 \
	"each key in seq order across the removal and the kill"
# a key leaves a member only for good (q removed, r dead): it never
# comes back to one; and p, which stayed, kept every key it had
expect_eq "$(jq '[group_by(.key)[] | map(.path)
	| reduce .[] as $p ([]; if .[-1] == $p then . else . + [$p] end)
	| select(length != (unique | length))] | length' <<<"$RB")" 0 \
	"no key went back to a member it had left"
expect_eq "$(jq '[group_by(.key)[] | select(.[0].path == "/p") | .[] | select(.path != "/p")] | length' <<<"$RB")" 0 \
	"the keys of the member that stayed never moved"
# a delivery that met the dead member and then went to another one
seq=$(db_psql "SELECT a.seq FROM attempt a WHERE a.subscription_id = '$B'
	AND a.sink LIKE '%/r?delay_ms=300' AND a.status IS NULL
	AND EXISTS (SELECT 1 FROM attempt o WHERE o.subscription_id = a.subscription_id
	  AND o.seq = a.seq AND o.id > a.id AND o.status = 204) ORDER BY a.seq LIMIT 1")
check "a delivery failed on the dead member and succeeded on another" test -n "$seq"
if [[ -n $seq ]]; then
	api GET "/v1/subscriptions/$B/deliveries/$seq"
	expect_json '[.attempt_log[] | select(.status == null) | .sink] | any(endswith("/r?delay_ms=300"))' true \
		"its attempt log names the dead member on the failure"
	expect_json '.last_sink' "$R/p" "... and the member that took it last"
fi

# ------------------------------------------------------ a member comes back

# r answers again on its address: a probe (one of the deliveries of its
# keys) puts it back in rotation, and its keys go back to it, in order.
r2_port=${R2_URL##*:}
r2_start "$r2_port"
[[ $R2_URL == "http://127.0.0.1:$r2_port" ]] || die "the second receiver took another port"
back_in_rotation() {
	grep -q "group member $R2_URL/r?delay_ms=300 is back in rotation" "$HERALD_LOG"
}
N2=200
i=$N
while ! back_in_rotation && ((i < N + 6000)); do
	api POST /v1/events "$(events t.b b 20 30 "$i")" "${BATCH[@]}"
	[[ $STATUS == 202 ]] || die "batch refused: $STATUS ${RESP:0:300}"
	i=$((i + 20))
	sleep 0.2
done
check "member r is back in rotation once it answers ($((i - N)) events later)" back_in_rotation
publish "$(events t.b b "$N2" 30 "$i")"
total=$((i + N2))
wait_until 60 "all $total delivered" succeeded_is "$B" "$total"
RR=$(recs "$R2_URL" t.b)
check "r took deliveries again ($(jq length <<<"$RR"))" test "$(jq length <<<"$RR")" -gt 0
RB2=$(jq -c -s 'add | sort_by(.t, .seq)' <(recs "$R" t.b) <(printf '%s' "$R2_RECS") <(printf '%s' "$RR"))
expect_eq "$(jq '[group_by(.key)[] | map(.seq) | . as $s
	| [range(1; length) | select($s[.] < $s[. - 1])] | length] | add' <<<"$RB2")" 0 \
	"each key still in seq order across the return"
expect_eq "$(jq --arg from "$i" '[.[] | select(.i >= ($from | tonumber))] | group_by(.key)
	| map(map(.path) | unique | length) | max' <<<"$RB2")" 1 \
	"after the return, each key stays on one member"

# ------------------------------------------------------ two herald instances

receiver_reset
FIRST_URL=$HERALD_URL
herald_start --group-max-failures 3 --group-refused-seconds 2
SECOND_URL=$HERALD_URL
owns_half() {
	local u n
	for u in "$FIRST_URL" "$SECOND_URL"; do
		HERALD_URL=$u api GET /metrics
		n=$(sed -n 's/^herald_partitions_owned //p' <<<"$RESP")
		[[ $n == 32 ]] || return 1
	done
}
wait_until 30 "each instance owns 32 partitions" owns_half
sub_create "the members of the first group, on two instances" '{"sinks":["'"$R"'/a","'"$R"'/b","'"$R"'/c"],
  "types":["t.d"],"delivery":{"mode":"structured","max_in_flight":4}}'
D=$SUB_ID
for ((b = 0; b < 4; b++)); do
	if ((b % 2)); then HERALD_URL=$SECOND_URL; else HERALD_URL=$FIRST_URL; fi
	publish "$(events t.d d 100 40 $((b * 100)))"
done
HERALD_URL=$FIRST_URL
wait_until 60 "400 delivered by two instances" succeeded_is "$D" 400
RD=$(recs "$R" t.d)
expect_eq "$(jq '[.[].seq] | unique | length' <<<"$RD")" 400 "each event delivered"
expect_eq "$(jq 'length' <<<"$RD")" 400 "... once"
# the same keys, the same members: each key where the first group put it
expect_eq "$(jq -n --argjson a "$RA" --argjson d "$RD" '
	([$a[] | select(.key) | {(.key): .path}] | add) as $home
	| [$d[] | select($home[.key] != .path)] | length')" 0 \
	"each key on the member one instance alone chose for it"
HERALD_URL=$SECOND_URL api GET /metrics
second_ok=$(sed -n 's/^herald_delivery_attempts_total{outcome="success"} //p' <<<"$RESP")
check "the second instance delivered some of them ($second_ok)" test "${second_ok:-0}" -gt 0
finish
