#!/bin/bash
# Storage by partitions: herald opens a partition every partition_interval
# and drops whole partitions once past the retention; a paused
# subscription's backlog is kept across many drops, the partitions it is
# in compacted to it, and then delivered in order; a duplicate is recognised across a partition boundary, from many
# connections and two instances at once, and stored and delivered once.
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')

pg_use_shared_or_start
db_create
receiver_start
herald_start --partition-interval 1s --retention 2s
URL1=$HERALD_URL

# ev ID TYPE [KEY]: a structured event of source /ret.
ev() {
	jq -cn --arg id "$1" --arg type "$2" --arg key "${3:-}" \
		'{specversion:"1.0", id:$id, source:"/ret", type:$type}
		 + (if $key == "" then {} else {partitionkey:$key} end)'
}

# head: the number of the partition the seq sequence is in.
head_partition() {
	db_psql "SELECT n FROM herald_partition
		WHERE (SELECT last_value FROM event_seq_seq) < hi ORDER BY n LIMIT 1"
}

# opened_after N: true once a partition after N is open.
opened_after() {
	local h
	h=$(head_partition) || return 1
	[[ $h =~ ^[0-9]+$ ]] && ((h > $1))
}

dropped() {
	grep -c 'partition: partition [0-9]* dropped' "$HERALD_LOG" || true
}

# ------------------------------------------------------------ settings

check "herald --help names retention" \
	bash -c "'$HERALD_BIN' --help | grep -q -- '--retention DURATION'"
out=$("$HERALD_BIN" --retention d 2>&1 || true)
check "a duration without a number is refused" \
	grep -q 'expected a duration' <<<"$out"
out=$("$HERALD_BIN" --partition-interval 0s 2>&1 || true)
check "partition_interval 0 is out of range" \
	grep -q 'out of range (1s..365d)' <<<"$out"
out=$("$HERALD_BIN" --retention 5x 2>&1 || true)
check "a duration with an unknown unit is refused" \
	grep -q 'expected a duration' <<<"$out"

# ------------------------------------------------------------ a paused backlog kept

sub_create "all of t.b" '{"sink":"'"$RECEIVER_URL"'/b","types":["t.b"]}'
SUB_B=$SUB_ID
sub_create "t.a, ordered by partitionkey" '{"sink":"'"$RECEIVER_URL"'/a","types":["t.a"]}'
SUB_A=$SUB_ID
api PATCH "/v1/subscriptions/$SUB_A" '{"status":"paused"}'
expect_status 200 "t.a paused"

# Each round: a t.a event (kept: its delivery waits) and t.b events
# (delivered) in one partition, which is compacted to the t.a event once
# past the retention; then t.b events only in the next, which is dropped.
ROUNDS=4
first_b_seq=
for ((r = 1; r <= ROUNDS; r++)); do
	# one batch, one transaction: (almost always) one partition
	api POST /v1/events "$(jq -cs . <(ev "a-$r" t.a k) <(ev "m-$r-1" t.b) \
		<(ev "m-$r-2" t.b) <(ev "m-$r-3" t.b))" \
		-H 'Content-Type: application/cloudevents-batch+json'
	expect_status 202 "round $r: t.a and 3 t.b published together"
	a_seq[r]=$(printf '%s' "$RESP" | jq -r '.results[0].seq')
	m_seq[r]=$(printf '%s' "$RESP" | jq -r '.results[3].seq')
	h=$(head_partition)
	wait_until 10 "round $r: the next partition opens" opened_after "$h"
	for i in 1 2 3; do
		api POST /v1/events "$(ev "b-$r-$i" t.b)" "${CE[@]}"
		expect_status 202 "round $r: t.b $i published alone"
		[[ -n $first_b_seq ]] || first_b_seq=$(printf '%s' "$RESP" | jq -r .seq)
	done
	h=$(head_partition)
	wait_until 10 "round $r: the partition after the t.b events opens" opened_after "$h"
done
wait_until 20 "every t.b event delivered" receiver_has /b $((ROUNDS * 6))

# partitions of t.b only go; those holding t.a's pending deliveries are
# compacted to them
enough_drops() { (($(dropped) >= ROUNDS)); }
wait_until 30 "at least $ROUNDS partitions dropped" enough_drops
# (a t.a event alone in its partition, should a partition have opened
# within the batch, is not worth compacting: its partition stays whole)
only_backlog_left() {
	[[ $(db_psql "SELECT count(*) FROM event WHERE source = '/ret'") == "$ROUNDS" ]]
}
wait_until 30 "the partitions holding the backlog are compacted to it" only_backlog_left
check "compactions are logged" grep -qE \
	'partition: partition [0-9]+ compacted past the retention: 1 of its [2-4] deliveries kept' "$HERALD_LOG"
api GET "/v1/events/$first_b_seq"
expect_status 404 "a delivered event past the retention is gone"
for ((r = 1; r <= ROUNDS; r++)); do
	api GET "/v1/events/${m_seq[r]}"
	expect_status 404 "round $r: a delivered event beside the backlog is gone too"
done
api GET /metrics
expect_status 200 "metrics scraped"
metric_of() { awk -v m="$1" '$1 == m { print $2 }' <<<"$RESP"; }
drops_metric=$(metric_of herald_storage_partitions_dropped_total)
check "the metrics count the drops ($drops_metric)" test "${drops_metric:-0}" -ge "$ROUNDS"
compact_metric=$(metric_of herald_storage_partitions_compacted_total)
check "and the compactions ($compact_metric)" test "${compact_metric:-0}" -ge 1
kept_metric=$(metric_of herald_storage_partitions)
check "and the partitions kept ($kept_metric)" test "${kept_metric:-0}" -ge "$ROUNDS"
for ((r = 1; r <= ROUNDS; r++)); do
	api GET "/v1/events/${a_seq[r]}"
	expect_status 200 "round $r: the paused subscription's event is kept"
done
expect_eq "$(count_state "$SUB_A" pending)" "$ROUNDS" \
	"the paused backlog is whole: $ROUNDS pending deliveries"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$SUB_B'")" 0 \
	"no delivery of t.b is left"

api PATCH "/v1/subscriptions/$SUB_A" '{"status":"active"}'
expect_status 200 "t.a resumed"
wait_until 20 "the kept backlog is delivered" receiver_has /a "$ROUNDS"
got=$(receiver_requests /a | jq -r '[.[].headers["ce-id"]] | join(" ")')
expect_eq "$got" "$(for ((r = 1; r <= ROUNDS; r++)); do printf 'a-%d ' "$r"; done | sed 's/ $//')" \
	"the backlog arrives in order"
expect_eq "$(receiver_count /a)" "$ROUNDS" "and once each"

# once delivered, its partitions go too
all_a_gone() {
	api GET "/v1/events/${a_seq[1]}"
	[[ $STATUS == 404 ]]
}
wait_until 30 "the delivered backlog's partitions go in turn" all_a_gone

# ------------------------------------------------------------ dedup across a boundary

# (a retention of an hour from here: what is counted below stays)
herald_restart --partition-interval 1s --retention 1h
URL1=$HERALD_URL
api POST /v1/events "$(ev dup-1 t.b)" "${CE[@]}"
expect_status 202 "dup-1 published"
dup_seq=$(printf '%s' "$RESP" | jq -r .seq)
h=$(head_partition)
wait_until 10 "a new partition opens after dup-1" opened_after "$h"
h=$(head_partition)

herald_start --partition-interval 1s --retention 1h
URL2=$HERALD_URL

# publish_as URL ID OUT: POST one event, write "status seq duplicate" to OUT
mkdir -p "$TEST_TMPDIR/race" "$TEST_TMPDIR/answers"
publish_as() {
	local tmp=$TEST_TMPDIR/race/$3
	curl -sS --max-time 20 -o "$tmp.body" -w '%{http_code}' \
		-H "Authorization: Bearer $ADMIN_KEY" "${CE[@]}" \
		--data-binary "$(ev "$2" t.b)" "$1/v1/events" >"$tmp.code" 2>/dev/null
	printf '%s %s\n' "$(<"$tmp.code")" \
		"$(jq -r '"\(.seq) \(.duplicate)"' "$tmp.body" 2>/dev/null)" \
		>"$TEST_TMPDIR/answers/$3"
}

pids=()
for i in $(seq 1 8); do
	url=$URL1
	((i % 2 == 0)) && url=$URL2
	publish_as "$url" dup-1 "old.$i" &
	pids+=($!)
	publish_as "$url" new-1 "new.$i" &
	pids+=($!)
done
wait "${pids[@]}"
old=$(cat "$TEST_TMPDIR"/answers/old.* | sort | uniq -c | sed 's/^ *//')
expect_eq "$old" "8 200 $dup_seq true" \
	"8 publishes of dup-1 over two instances, a partition later: 200, duplicate, the first seq"
new_dups=$(cat "$TEST_TMPDIR"/answers/new.* | awk '$1 == 200 && $3 == "true"' | wc -l)
new_first=$(cat "$TEST_TMPDIR"/answers/new.* | awk '$1 == 202 && $3 == "false"' | wc -l)
new_seqs=$(cat "$TEST_TMPDIR"/answers/new.* | awk '{print $2}' | sort -u | wc -l)
expect_eq "$new_first $new_dups $new_seqs" "1 7 1" \
	"8 racing publishes of new-1: one accepted, seven duplicates, one seq"
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE source = '/ret' AND id IN ('dup-1', 'new-1')")" 2 \
	"one stored event each"
expect_eq "$(db_psql "SELECT count(*) FROM delivery d JOIN event e ON e.seq = d.seq
		WHERE e.source = '/ret' AND e.id IN ('dup-1', 'new-1')")" 2 \
	"one delivery each"
wait_until 20 "new-1 delivered" bash -c \
	"curl -sS '$RECEIVER_URL/_requests?path=/b' | jq -e '[.[] | select(.headers[\"ce-id\"] == \"new-1\")] | length == 1' >/dev/null"
finish
