#!/bin/bash
# A real Prometheus (Debian's prometheus package; the test is skipped
# without it) scrapes herald's metrics_listen every second; rates,
# counts and the README's operator queries computed by Prometheus
# agree with what the test did.
. "$HERALD_SRCDIR/tests/integration/lib.sh"

command -v prometheus >/dev/null 2>&1 ||
	skip "no prometheus server (Debian's prometheus package)"

CE=(-H 'Content-Type: application/cloudevents+json')

pg_use_shared_or_start
db_create
receiver_start
MPORT=$(free_port)
herald_start --metrics-listen "127.0.0.1:$MPORT"

PROM_PID=
stop_prometheus() {
	[[ -n $PROM_PID ]] || return 0
	kill "$PROM_PID" 2>/dev/null
	wait "$PROM_PID" 2>/dev/null
	PROM_PID=
}
at_exit stop_prometheus
PROM_PORT=$(free_port)
cat >"$TEST_TMPDIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: herald
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
prometheus --config.file="$TEST_TMPDIR/prometheus.yml" \
	--storage.tsdb.path="$TEST_TMPDIR/prometheus" \
	--web.listen-address="127.0.0.1:$PROM_PORT" \
	>"$TEST_TMPDIR/prometheus.log" 2>&1 &
PROM_PID=$!
P=http://127.0.0.1:$PROM_PORT

# promql QUERY: the first result's value of an instant query ("" when
# there is none, or the query failed).
promql() {
	curl -sS --max-time 5 --get --data-urlencode "query=$1" "$P/api/v1/query" 2>/dev/null |
		jq -r 'select(.status == "success") | .data.result[0].value[1] // empty' 2>/dev/null
}
positive() { [[ -n $1 ]] && awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }

up() {
	kill -0 "$PROM_PID" 2>/dev/null || return 1
	[[ $(promql 'up{job="herald"}') == 1 ]]
}
wait_until 60 "Prometheus scrapes herald's metrics_listen (up == 1)" up
if ! kill -0 "$PROM_PID" 2>/dev/null; then
	sed 's/^/# prometheus: /' "$TEST_TMPDIR/prometheus.log" | tail -n 20
	die "prometheus exited"
fi
health() {
	curl -sS --max-time 5 "$P/api/v1/targets" |
		jq -e '.data.activeTargets[] | select(.labels.job == "herald") | .health == "up"' >/dev/null
}
check "the target is healthy in Prometheus's own list" health

# events while it scrapes, delivered to a subscription
sub_create "hook" '{"sink":"'"$RECEIVER_URL"'/hook","types":["p.t"]}'
for i in $(seq 1 10); do
	api POST /v1/events "$(jq -cn --arg id "e$i" \
		'{specversion:"1.0", id:$id, source:"/prom", type:"p.t"}')" "${CE[@]}"
	[[ $STATUS == 202 ]] || die "publish e$i: $STATUS $RESP"
	sleep 0.2
done
wait_until 20 "the 10 events are delivered" receiver_has /hook 10

rising() {
	positive "$(promql 'sum(rate(herald_events_ingested_total{result="accepted"}[1m]))')"
}
wait_until 30 "Prometheus computes a positive ingest rate" rising
total() { [[ $(promql 'herald_events_ingested_total{result="accepted"}') == 10 ]]; }
wait_until 15 "Prometheus has the 10 accepted events" total
latencies() { [[ $(promql 'herald_end_to_end_latency_seconds_count') == 10 ]]; }
wait_until 15 "... and 10 end-to-end latencies" latencies

# the README's four queries, as an operator runs them
ratio() {
	[[ $(promql 'sum(rate(herald_delivery_attempts_total{outcome="success"}[1m])) / sum(rate(herald_delivery_attempts_total[1m]))') == 1 ]]
}
wait_until 15 "delivery success ratio: 1" ratio
p99() {
	local v
	v=$(promql 'histogram_quantile(0.99, sum by (le) (rate(herald_end_to_end_latency_seconds_bucket[1m])))')
	positive "$v" && awk -v v="$v" 'BEGIN { exit !(v <= 30) }'
}
wait_until 15 "p99 end-to-end latency: positive, within the buckets seen" p99
backlog_age() {
	[[ $(promql 'max(herald_backlog_oldest_seconds)') == 0 ]] &&
		positive "$(promql 'herald_backlog_sampled_timestamp_seconds')"
}
wait_until 15 "backlog age: 0, from a sample" backlog_age

stop_prometheus
finish
