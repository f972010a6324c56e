#!/bin/bash
# GET /metrics: what a user does shows in the counters, the exposition
# passes promtool, and a real Prometheus scrapes it and computes a rate
# (those two checks need Debian's prometheus package: .ci/run installs
# it; without it they are reported skipped).
# shellcheck disable=SC2016
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')

pg_use_shared_or_start
db_create
receiver_start
herald_start
R=$RECEIVER_URL

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

for e in "ok1 m.ok" "ok2 m.ok" "ok3 m.ok" "bad1 m.bad" "missing1 m.missing" \
	"later1 m.later" "conn1 m.conn" "ok1 m.ok"; do
	read -r id type <<<"$e"
	api POST /v1/events "$(ev "$id" "$type")" "${CE[@]}"
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
expect_eq "$(metric herald_writer_batch_events_sum)" 8.000000 "8 events went through the writers"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="success"}')" 4 "4 successes (3 ok, 1 after Retry-After)"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="http_5xx"}')" 1 "1 http_5xx"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="http_4xx"}')" 1 "1 http_4xx"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="retry_after"}')" 1 "1 retry_after"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="connect"}')" 1 "1 connect"
expect_eq "$(metric 'herald_delivery_attempts_total{outcome="timeout"}')" 0 "no timeout"
expect_eq "$(metric herald_delivery_duration_seconds_count)" 8 "8 attempts timed"
expect_eq "$(metric herald_deliveries_failed_total)" 3 "3 deliveries given up"

# --------------------------------------------------------------- the real tools

printf '%s\n' "$SCRAPE" >"$TEST_TMPDIR/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
	check "promtool check metrics finds nothing to say" \
		eval 'out=$(promtool check metrics <"$TEST_TMPDIR/metrics.txt" 2>&1) && [[ -z $out ]] || { printf "# %s\n" "$out"; false; }'
else
	log "skip: no promtool (Debian's prometheus package)"
fi

PROM_PID=
stop_prometheus() {
	[[ -n $PROM_PID ]] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
	PROM_PID=
}
if command -v prometheus >/dev/null 2>&1; then
	at_exit stop_prometheus
	PROM_PORT=$(free_port)
	cat >"$TEST_TMPDIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: herald
    authorization:
      credentials: $ADMIN_KEY
    static_configs:
      - targets: ['${HERALD_URL#http://}']
EOF
	prometheus --config.file="$TEST_TMPDIR/prometheus.yml" \
		--storage.tsdb.path="$TEST_TMPDIR/prometheus" \
		--web.listen-address="127.0.0.1:$PROM_PORT" \
		>"$TEST_TMPDIR/prometheus.log" 2>&1 &
	PROM_PID=$!
	P=http://127.0.0.1:$PROM_PORT
	# promql QUERY: the first result's value of an instant query
	promql() {
		curl -sS --max-time 5 --get --data-urlencode "query=$1" "$P/api/v1/query" |
			jq -r '.data.result[0].value[1] // empty' 2>/dev/null
	}
	up() { [[ $(promql 'up{job="herald"}') == 1 ]]; }
	wait_until 30 "Prometheus scrapes herald (up == 1)" up
	# more events while it scrapes, then a rate over them
	for i in 1 2 3 4 5; do
		api POST /v1/events "$(ev "more$i" m.ok)" "${CE[@]}"
		sleep 0.3
	done
	rising() {
		local v
		v=$(promql 'increase(herald_events_ingested_total{result="accepted"}[1m])')
		[[ -n $v ]] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'
	}
	wait_until 30 "Prometheus computes a rising accepted rate" rising
	total() { [[ $(promql 'herald_events_ingested_total{result="accepted"}') == 12 ]]; }
	wait_until 10 "Prometheus has the 12 accepted events" total
	stop_prometheus
else
	log "skip: no prometheus server (Debian's prometheus package)"
fi

finish
