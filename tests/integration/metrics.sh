#!/bin/bash
# GET /metrics: what a user does shows in the counters, the gauges read
# from the database follow the backlog (cached, and kept while the
# database does not answer), per-subscription series come and go with
# their subscriptions, metrics_listen serves them without a key, and the
# exposition passes promtool (Debian's prometheus package: .ci/run
# installs it; without it that check is reported skipped).
# shellcheck disable=SC2016
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')

pg_use_shared_or_start
db_create
receiver_start
MPORT=$(free_port)
T_START=$(now_ms)
herald_start --metrics-per-subscription true --metrics-listen "127.0.0.1:$MPORT"
R=$RECEIVER_URL
M=http://127.0.0.1:$MPORT
# metrics_listen is not the API that doc/openapi.yaml describes
OPENAPI_OTHER_ORIGIN=$M

ev() { # ID TYPE: a structured event
	jq -cn --arg id "$1" --arg type "$2" \
		'{specversion:"1.0", id:$id, source:"/metrics", type:$type}'
}

# scrape: GET /metrics as the admin, into SCRAPE.
scrape() {
	api GET /metrics
	SCRAPE=$RESP
}

# metric SAMPLE: its value in the last scrape ("" when absent).
metric() {
	awk -v m="$1" '$1 == m { print $2 }' <<<"$SCRAPE"
}

# num_cmp A OP B: a comparison of two decimal numbers (false when one is
# not a number).
num_cmp() {
	[[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ && $3 =~ ^-?[0-9]+(\.[0-9]+)?$ ]] &&
		awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"
}

# --------------------------------------------------------------- access

KEY= api GET /metrics
expect_status 401 "no key: 401"
api POST /v1/keys '{"name":"publisher","scopes":["publish"]}'
PUB_KEY=$(jq -r .key <<<"$RESP")
KEY=$PUB_KEY api GET /metrics
expect_status 403 "a publish key: 403"
scrape
expect_status 200 "the admin key: 200"
expect_eq "$(resp_header content-type)" "text/plain; version=0.0.4; charset=utf-8" \
	"in Prometheus's text format"
expect_eq "$(metric 'herald_build_info{version="'"$(sed -n 's/^AC_INIT(\[herald\], \[\([^]]*\)\].*/\1/p' "$HERALD_SRCDIR/configure.ac")"'"}')" 1 \
	"herald_build_info names the version"
expect_eq "$(metric herald_partitions_owned)" 64 "one instance owns the 64 partitions"
expect_eq "$(metric 'herald_events_ingested_total{result="accepted"}')" 0 "nothing ingested yet"
expect_eq "$(metric herald_db_pool_size)" 4 "herald_db_pool_size: db_pool_size's default"
check "herald_http_connections counts the scrape's own connection" \
	num_cmp "$(metric herald_http_connections)" '>=' 1

# --------------------------------------------------------------- metrics_listen

KEY= api GET "$M/metrics"
expect_status 200 "metrics_listen: GET /metrics without a key"
expect_eq "$(resp_header content-type)" "text/plain; version=0.0.4; charset=utf-8" \
	"metrics_listen: in Prometheus's text format"
check "metrics_listen: the same exposition" grep -q '^herald_partitions_owned 64$' <<<"$RESP"
KEY= api GET "$M/v1/subscriptions"
expect_status 404 "metrics_listen: the API is not there"
expect_json .error not_found "metrics_listen: a JSON error"
KEY= api GET "$M/healthz"
expect_status 404 "metrics_listen: nor /healthz"
KEY= api POST "$M/metrics" '{}'
expect_status 405 "metrics_listen: POST /metrics is refused"
expect_eq "$(resp_header allow)" GET "metrics_listen: Allow: GET"
KEY=$ADMIN_KEY api GET "$M/v1/subscriptions"
expect_status 404 "metrics_listen: a key opens nothing more"

# --------------------------------------------------------------- one of each

CLOSED=$(free_port) # nothing listens there
one_try='"delivery":{"retry":{"max_attempts":1}}'
sub_create "ok" '{"sink":"'"$R"'/ok","types":["m.ok"]}'
OK_SUB=$SUB_ID
sub_create "5xx" '{"sink":"'"$R"'/bad?status=500","types":["m.bad"],'"$one_try"'}'
BAD_SUB=$SUB_ID
sub_create "4xx" '{"sink":"'"$R"'/missing?status=404","types":["m.missing"],'"$one_try"'}'
MISSING_SUB=$SUB_ID
sub_create "Retry-After" '{"sink":"'"$R"'/later?status=429&retry_after=1&retry_after_times=1","types":["m.later"]}'
LATER_SUB=$SUB_ID
sub_create "connect" '{"sink":"http://127.0.0.1:'"$CLOSED"'/x","types":["m.conn"],'"$one_try"'}'
CONN_SUB=$SUB_ID

OK1_SEQ=
for e in "ok1 m.ok" "ok2 m.ok" "ok3 m.ok" "bad1 m.bad" "missing1 m.missing" \
	"later1 m.later" "conn1 m.conn" "ok1 m.ok"; do
	read -r id type <<<"$e"
	api POST /v1/events "$(ev "$id" "$type")" "${CE[@]}"
	[[ -n $OK1_SEQ ]] || OK1_SEQ=$(jq -r .seq <<<"$RESP")
done
expect_json .duplicate true "the last ok1 was a duplicate"
api POST /v1/events '{"specversion":"1.0","id":"x"}' "${CE[@]}"
expect_status 400 "an invalid event is refused"

wait_until 20 "ok: 3 delivered" state_is "$OK_SUB" succeeded 3
wait_until 20 "5xx: given up" state_is "$BAD_SUB" failed 1
wait_until 20 "4xx: given up" state_is "$MISSING_SUB" failed 1
wait_until 20 "Retry-After: delivered after it" state_is "$LATER_SUB" succeeded 1
wait_until 20 "connect: given up" state_is "$CONN_SUB" failed 1
# the counters are bumped before the write-back the states above show
idle() {
	scrape
	[[ $(metric herald_inflight_requests) == 0 &&
		$(metric herald_deliveries_failed_total) == 3 ]]
}
wait_until 10 "nothing in flight, three given up" idle

expect_eq "$(metric 'herald_events_ingested_total{result="accepted"}')" 7 "7 events accepted"
expect_eq "$(metric 'herald_events_ingested_total{result="duplicate"}')" 1 "1 duplicate"
expect_eq "$(metric 'herald_events_ingested_total{result="rejected"}')" 1 "1 request rejected"
expect_eq "$(metric herald_ingest_duration_seconds_count)" 9 "9 publish requests timed"
expect_eq "$(metric 'herald_ingest_duration_seconds_bucket{le="+Inf"}')" 9 "+Inf bucket = count"
# the three given up are reported as operational events, which the outbox
# publishes through the same writers
writer_sum() { scrape; [[ $(metric herald_writer_batch_events_sum) == 11.000000 ]]; }
wait_until 10 "8 events and 3 operational events went through the writers" writer_sum
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="success"}')" 4 "4 successes (3 ok, 1 after Retry-After)"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="http_5xx"}')" 1 "1 http_5xx"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="http_4xx"}')" 1 "1 http_4xx"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="retry_after"}')" 1 "1 retry_after"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="connect"}')" 1 "1 connect"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="timeout"}')" 0 "no timeout"
expect_eq "$(metric herald_delivery_duration_seconds_count)" 8 "8 attempts timed"
expect_eq "$(metric herald_deliveries_failed_total)" 3 "3 deliveries given up"

# end to end: the four first successes, the one after Retry-After (>= 1 s)
# among them; bounded by how long this test has run
expect_eq "$(metric herald_end_to_end_latency_seconds_count)" 4 "4 end-to-end latencies"
expect_eq "$(metric 'herald_end_to_end_latency_seconds_bucket{le="+Inf"}')" 4 "+Inf bucket = count"
check "the Retry-After one took a second at least" \
	num_cmp "$(metric 'herald_end_to_end_latency_seconds_bucket{le="0.5"}')" '<=' 3
check "end-to-end latencies sum to less than the test's age" \
	num_cmp "$(metric herald_end_to_end_latency_seconds_sum)" '<' "$((($(now_ms) - T_START) * 4 / 1000 + 1))"

# per subscription, attempts by outcome, only the outcomes seen
ps() { metric "herald_subscription_attempts_total{subscription=\"$1\",outcome=\"$2\"}"; }
expect_eq "$(ps "$OK_SUB" success)" 3 "per subscription: ok, 3 successes"
expect_eq "$(ps "$OK_SUB" http_5xx)" "" "per subscription: no series of an outcome not seen"
expect_eq "$(ps "$LATER_SUB" retry_after)" 1 "per subscription: Retry-After, 1 retry_after"
expect_eq "$(ps "$LATER_SUB" success)" 1 "per subscription: Retry-After, 1 success"
expect_eq "$(ps "$BAD_SUB" http_5xx)" 1 "per subscription: 5xx, 1 http_5xx"
expect_eq "$(ps "$CONN_SUB" connect)" 1 "per subscription: connect, 1 connect"

# sending a delivered one again is an attempt, not a new end-to-end latency
api POST "/v1/subscriptions/$OK_SUB/deliveries/$OK1_SEQ/retry"
expect_status 202 "retry a delivered one"
wait_until 20 "it is delivered again" receiver_has /ok 4
# the attempt's counters are bumped before its write-back (the attempt log
# row): once the row is there, one scrape shows all of them
resent() {
	[[ $(db_psql "SELECT count(*) FROM attempt WHERE subscription_id = '$OK_SUB'") == 4 ]]
}
wait_until 10 "its attempt is written back" resent
scrape
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="success"}')" 5 "a fifth success"
expect_eq "$(metric herald_end_to_end_latency_seconds_count)" 4 "still 4 end-to-end latencies"
expect_eq "$(ps "$OK_SUB" success)" 4 "per subscription: ok, 4 successes"

# --------------------------------------------------------------- backlog

sub_create "paused" '{"sink":"'"$R"'/paused","types":["m.paused"],"status":"paused"}'
PAUSED_SUB=$SUB_ID
sub_create "retrying" '{"sink":"'"$R"'/retrying?status=500","types":["m.retry"],"delivery":{"retry":{"max_attempts":3,"initial_ms":600000}}}'
RETRY_SUB=$SUB_ID
T_PAUSED=$(now_ms)
for i in 1 2 3; do
	api POST /v1/events "$(ev "p$i" m.paused)" "${CE[@]}"
done
api POST /v1/events "$(ev r1 m.retry)" "${CE[@]}"
wait_until 20 "retrying: its first attempt failed" receiver_has /retrying 1

bl() { metric "herald_subscription_backlog_deliveries{subscription=\"$1\"}"; }
backlog_shows() {
	scrape
	[[ $(metric 'herald_backlog_deliveries{state="due"}') == 3 &&
		$(metric 'herald_backlog_deliveries{state="not_due"}') == 1 ]]
}
wait_until 20 "the sampled backlog: 3 due (paused), 1 not due (a retry)" backlog_shows
expect_eq "$(metric 'herald_subscriptions{status="active"}')" 6 "6 active subscriptions"
expect_eq "$(metric 'herald_subscriptions{status="paused"}')" 1 "1 paused"
expect_eq "$(metric 'herald_subscriptions{status="disabled"}')" 0 "none disabled"
expect_eq "$(bl "$PAUSED_SUB")" 3 "per subscription: paused, 3 pending"
expect_eq "$(bl "$RETRY_SUB")" 1 "per subscription: retrying, 1 pending"
expect_eq "$(bl "$OK_SUB")" 0 "per subscription: ok, none pending"
SAMPLED=$(metric herald_backlog_sampled_timestamp_seconds)
OLDEST=$(metric herald_backlog_oldest_seconds)
check "sampled during this test" \
	num_cmp "$SAMPLED" '>=' "$((T_START / 1000))"
check "sampled no later than now" \
	num_cmp "$SAMPLED" '<=' "$(($(now_ms) / 1000 + 1))"
check "the oldest due delivery has waited some time" num_cmp "$OLDEST" '>' 0
check "... not longer than since it was published" \
	num_cmp "$OLDEST" '<=' "$(awk -v s="$SAMPLED" -v t="$T_PAUSED" 'BEGIN { printf "%.3f", s - t / 1000 + 0.01 }')"
aged() {
	scrape
	num_cmp "$(metric herald_backlog_oldest_seconds)" '>' "$OLDEST"
}
wait_until 15 "it ages with the next sample" aged

# --------------------------------------------------------------- the database does not answer

# Hold a lock that the sampler and the subscription listing wait for,
# until its session is ended.
LOCK_PID=
unlock() {
	[[ -n $LOCK_PID ]] || return 0
	db_psql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'metrics-lock'" >/dev/null
	wait "$LOCK_PID" 2>/dev/null
	LOCK_PID=
}
at_exit unlock
PGAPPNAME=metrics-lock db_psql "BEGIN; LOCK TABLE subscription IN ACCESS EXCLUSIVE MODE;
	SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
LOCK_PID=$!
blocked() {
	[[ $(db_psql "SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND query LIKE '%FROM subscription s LEFT JOIN%'") -ge 1 ]]
}
wait_until 15 "the sampler waits for the lock" blocked
scrape
SAMPLED=$(metric herald_backlog_sampled_timestamp_seconds)
expect_status 200 "a scrape still answers"
check "... at once (${ELAPSED} s)" num_cmp "$ELAPSED" '<' 1
expect_eq "$(metric 'herald_backlog_deliveries{state="due"}')" 3 "... with the last sample's values"
# a request that needs a database worker: it waits for the lock too
curl -s -o /dev/null --max-time 10 -H "Authorization: Bearer $ADMIN_KEY" \
	"$HERALD_URL/v1/subscriptions" &
WAITER=$!
busy() {
	scrape
	[[ $(metric herald_db_pool_in_use) == 1 ]] &&
		num_cmp "$(metric herald_http_connections)" '>=' 2
}
wait_until 3 "herald_db_pool_in_use 1, two connections open, while it waits" busy
wait "$WAITER"
failed_sample() { grep -q 'backlog: no sample from postgresql' "$HERALD_LOG"; }
wait_until 15 "the sample gives up, and says so" failed_sample
scrape
expect_eq "$(metric herald_backlog_sampled_timestamp_seconds)" "$SAMPLED" \
	"the timestamp shows the values are stale"
expect_eq "$(metric 'herald_backlog_deliveries{state="due"}')" 3 "the values stay"
unlock
fresh() {
	scrape
	num_cmp "$(metric herald_backlog_sampled_timestamp_seconds)" '>' "$SAMPLED"
}
wait_until 20 "once the database answers, a new sample" fresh
released() {
	scrape
	[[ $(metric herald_db_pool_in_use) == 0 ]]
}
wait_until 5 "no database worker busy" released

# --------------------------------------------------------------- deleted subscriptions

api DELETE "/v1/subscriptions/$BAD_SUB"
expect_status 204 "delete the 5xx subscription"
forgotten() {
	scrape
	[[ -z $(ps "$BAD_SUB" http_5xx) && -z $(bl "$BAD_SUB") ]]
}
wait_until 20 "its per-subscription series go with it" forgotten
expect_eq "$(ps "$OK_SUB" success)" 4 "the others stay"
expect_eq "$(metric 'herald_subscriptions{status="active"}')" 5 "5 active subscriptions"

# --------------------------------------------------------------- the real tool

printf '%s\n' "$SCRAPE" >"$TEST_TMPDIR/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
	check "promtool check metrics finds nothing to say" \
		eval 'out=$(promtool check metrics <"$TEST_TMPDIR/metrics.txt" 2>&1) && [[ -z $out ]] || { printf "# %s\n" "$out"; false; }'
	check "... and it saw per-subscription series" \
		grep -q '^herald_subscription_backlog_deliveries{subscription="' "$TEST_TMPDIR/metrics.txt"
else
	log "skip: no promtool (Debian's prometheus package)"
fi

# --------------------------------------------------------------- shutdown

# A sample waiting for PostgreSQL does not hold up a SIGTERM.
PGAPPNAME=metrics-lock db_psql "BEGIN; LOCK TABLE subscription IN ACCESS EXCLUSIVE MODE;
	SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
LOCK_PID=$!
wait_until 15 "the sampler waits for the lock again" blocked
t0=$(now_ms)
herald_stop
took=$(($(now_ms) - t0))
expect_eq "$HERALD_EXIT_STATUS" 0 "herald exits 0 on SIGTERM meanwhile"
check "... within 3 s, not after the sample's 10 s timeout (${took} ms)" test "$took" -lt 3000
_herald_forget "$HERALD_PID"
unlock

finish
