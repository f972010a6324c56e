#!/bin/bash
# Scale-out: two herald instances (A and B) share one database and split the
# 64 dispatch partitions.  Events are published through both, alternately;
# A is killed with SIGKILL in the middle of the delivery, B takes its
# partitions over and delivers everything: nothing lost, per key in order,
# and never two requests of one key in flight at once.
#
# Replay a run with HERALD_TEST_SEED=<the seed printed at the start>: the
# moment A is killed derives from it.
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

SEED=${HERALD_TEST_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000000))}
[[ $SEED =~ ^[0-9]+$ ]] || die "HERALD_TEST_SEED must be a non-negative integer"
log "seed $SEED (replay with HERALD_TEST_SEED=$SEED)"

NEVENTS=300
NKEYS=30
DELAY_MS=100
SPLIT_S=10      # partitions split between A and B within this
TAKEOVER_S=10   # B owns everything within this after A's death
DRAIN_S=60
KILL_SPREAD=150 # A dies after 60 + [0, this) successful deliveries
if [[ ${HERALD_FAULT_PROFILE:-short} == long ]]; then
	# contrib/faults.sh: more events and keys, a later kill, a longer drain
	NEVENTS=1200
	NKEYS=40
	KILL_SPREAD=600
	DRAIN_S=120
fi
RUN=$$-$SEED
SOURCE=/scaleout/$RUN
LOCK_NS=1751478884   # src/dispatch.c PART_LOCK_NS

RNG_STATE=$SEED
rng() { # rng N: a number in [0, N)
	RNG_STATE=$(((RNG_STATE * 1103515245 + 12345) % 2147483648))
	RNG=$(((RNG_STATE >> 8) % $1))
}
rng "$KILL_SPREAD"
KILL_AFTER=$((60 + RNG))   # kill A once this many requests were answered 2xx
log "A is killed after $KILL_AFTER successful deliveries (of $NEVENTS)"

pg_use_shared_or_start
db_create
receiver_start

# A is started by the lib (log: herald.log).  The lib tracks one log, so B
# is started here the same way (same flags, a free port, /healthz), with a
# log of its own, and registered in HERALD_PIDS so finish/cleanup stop it.
herald_start
A_PID=$HERALD_PID
A_URL=$HERALD_URL
A_LOG=$HERALD_LOG

start_b() {
	local port deadline wrapper=()
	if [[ -n ${HERALD_WRAPPER:-} ]]; then
		read -r -a wrapper <<<"$HERALD_WRAPPER"
	fi
	B_LOG=$TEST_TMPDIR/herald-B.log
	port=$(free_port) || die "no free port"
	printf '=== %s herald B start on port %s\n' "$(date +%T)" "$port" >>"$B_LOG"
	"${wrapper[@]}" "$HERALD_BIN" --listen "127.0.0.1:$port" \
		--database-url "$DATABASE_URL" --admin-key "$ADMIN_KEY" \
		--allow-private-sinks true >>"$B_LOG" 2>&1 &
	B_PID=$!
	HERALD_PIDS+=("$B_PID")
	B_URL=http://127.0.0.1:$port
	deadline=$(($(now_ms) + HERALD_START_TIMEOUT * 1000))
	while (($(now_ms) < deadline)); do
		[[ $(_http_code "$B_URL/healthz") == 200 ]] && return 0
		kill -0 "$B_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 30 "$B_LOG" | sed 's/^/# herald B: /'
	die "herald B did not come up"
}
start_b
log "A: pid $A_PID at $A_URL; B: pid $B_PID at $B_URL"

# ------------------------------------------------------------ the split

# Partition locks held per session in this test's database (other tests may
# run beside it on the same cluster): "n n" (sorted), from pg_locks.
lock_holders() {
	db_psql "SELECT coalesce(string_agg(c::text, ' ' ORDER BY c), '') FROM
		(SELECT count(*) AS c FROM pg_locks WHERE locktype = 'advisory'
		   AND classid = $LOCK_NS AND objsubid = 2 AND granted
		   AND database = (SELECT oid FROM pg_database
		                   WHERE datname = current_database())
		 GROUP BY pid) x"
}
split_even() {
	[[ $(lock_holders 2>/dev/null) == "32 32" ]] &&
		grep -q 'owning 32 of 64 partitions (2 instances)' "$B_LOG" &&
		[[ $(grep -c 'released partition' "$A_LOG") -eq 32 ]]
}
wait_until "$SPLIT_S" "A and B own 32 partitions each" split_even
log "partition locks per session: $(lock_holders)"
log "A: $(grep -m1 -o 'owning [0-9]* of 64 partitions ([0-9]* instances)' "$A_LOG"), then released $(grep -c 'released partition' "$A_LOG")"
log "B: $(grep -o 'owning [0-9]* of 64 partitions ([0-9]* instances)' "$B_LOG" | tail -n 1)"

# ------------------------------------------------------------ subscription

SINK="$RECEIVER_URL/slow?delay_ms=$DELAY_MS"
api POST /v1/subscriptions '{"sink":"'"$SINK"'","source":"'"$SOURCE"'","delivery":{"ordering":"partitionkey"}}'
expect_status 201 "subscription created"

# ------------------------------------------------------------ publish

PUBLOG=$TEST_TMPDIR/publish.tsv   # i key n id via http curl_rc "seq duplicate"
: >"$PUBLOG"

# Events go in batches of BATCH consecutive events (keys i % NKEYS),
# batch b through A when b is even and B when odd, one batch after the
# other, so every key gets a backlog that the two instances share.  A batch
# without an answer (A dead) is sent again, same ids, to the other instance:
# herald deduplicates what was stored.  Every attempt is logged, per event.
BATCH=50
publisher() {
	local b i k key n body code rc try via url seqs out=$TEST_TMPDIR/pub.body
	for ((b = 0; b * BATCH < NEVENTS; b++)); do
		body='['
		for ((i = b * BATCH; i < (b + 1) * BATCH && i < NEVENTS; i++)); do
			k=$((i % NKEYS))
			key=$(printf 'k%02d' "$k")
			n=$((i / NKEYS + 1))
			((i > b * BATCH)) && body+=','
			body+='{"specversion":"1.0","source":"'"$SOURCE"'","id":"e'"$i"'","type":"com.example.scaleout","partitionkey":"'"$key"'","datacontenttype":"application/json","data":{"key":"'"$key"'","n":'"$n"'}}'
		done
		body+=']'
		for ((try = 0; try < 3; try++)); do
			if (((b + try) % 2 == 0)); then via=A url=$A_URL; else via=B url=$B_URL; fi
			code=$(curl -s -o "$out" -w '%{http_code}' --max-time 5 \
				-H "Authorization: Bearer $ADMIN_KEY" \
				-H 'Content-Type: application/cloudevents-batch+json' \
				--data-binary "$body" "$url/v1/events" 2>/dev/null)
			rc=$?
			[[ -n $code ]] || code=000
			seqs=()
			if [[ $code == 2?? && -f $out ]]; then
				mapfile -t seqs < <(jq -r '.results[] | "\(.seq) \(.duplicate)"' "$out" 2>/dev/null)
			fi
			rm -f "$out"
			for ((i = b * BATCH; i < (b + 1) * BATCH && i < NEVENTS; i++)); do
				k=$((i % NKEYS))
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$(printf 'k%02d' "$k")" \
					"$((i / NKEYS + 1))" "e$i" "$via" "$code" "$rc" \
					"${seqs[i - b * BATCH]:--}" >>"$PUBLOG"
			done
			[[ $code == 000 ]] || break
		done
	done
}

succeeded_requests() {
	receiver_requests /slow | jq '[.[] | select(.response.status >= 200 and .response.status < 300)] | length'
}
enough_delivered() {
	local n
	n=$(succeeded_requests 2>/dev/null) || return 1
	[[ $n =~ ^[0-9]+$ ]] && ((n >= KILL_AFTER))
}

T0=$(now_ms)
publisher &
PUB_PID=$!
poll_until 60 enough_delivered || die "not $KILL_AFTER deliveries within 60 s"
herald_kill9 "$A_PID"
KILL_MS=$(now_ms)
log "killed A (pid $A_PID) at +$((KILL_MS - T0)) ms, after $(succeeded_requests) successful deliveries; $(wc -l <"$PUBLOG") publishes so far"

b_owns_all() {
	[[ $(lock_holders 2>/dev/null) == "64" ]] &&
		grep -q 'owning 64 of 64 partitions (1 instances)' "$B_LOG"
}
wait_until "$TAKEOVER_S" "B takes A's partitions over (owns 64 of 64)" b_owns_all
log "takeover: partition locks per session: $(lock_holders); at +$(($(now_ms) - KILL_MS)) ms after the kill at the latest"

wait "$PUB_PID"
log "publisher finished (seen at +$(($(now_ms) - T0)) ms)"

nothing_pending() {
	[[ $(db_psql "SELECT count(*) FROM delivery WHERE state <> 'succeeded'" 2>/dev/null) == 0 ]]
}
wait_until "$DRAIN_S" "every delivery succeeded (nothing pending or failed)" nothing_pending

# ------------------------------------------------------------ ledgers

PUBS=$TEST_TMPDIR/publish.json
jq -R -s '[split("\n")[] | select(length > 0) | split("\t") |
	{i: (.[0]|tonumber), key: .[1], n: (.[2]|tonumber), id: .[3], via: .[4],
	 http: .[5], rc: (.[6]|tonumber),
	 seq: (if .[7] == "-" then null else (.[7] | split(" ")[0] | tonumber) end),
	 duplicate: (.[7] | split(" ")[1] == "true")}]' "$PUBLOG" >"$PUBS" ||
	die "cannot read the publish ledger"
STORED=$TEST_TMPDIR/stored.json
db_psql "SELECT coalesce(json_agg(json_build_object('seq', seq, 'id', id, 'key', attrs->>'partitionkey') ORDER BY seq), '[]') FROM event WHERE source = '$SOURCE'" >"$STORED" ||
	die "cannot read the stored events"
REQS=$TEST_TMPDIR/requests.json
receiver_requests /slow >"$REQS" || die "cannot read the receiver's requests"

# the final answer per event: the last attempt
ACKED=$TEST_TMPDIR/acked.json
jq '[group_by(.i)[] | last | select(.http | startswith("2"))]' "$PUBS" >"$ACKED"
n_acc=$(jq length "$ACKED")
log "publish ledger ($PUBLOG): $(jq length "$PUBS") attempts for $NEVENTS events: $n_acc events 2xx (A $(jq '[.[] | select(.via == "A")] | length' "$ACKED"), B $(jq '[.[] | select(.via == "B")] | length' "$ACKED"); $(jq '[.[] | select(.duplicate)] | length' "$ACKED") as duplicates), $(jq '[.[] | select(.http == "000")] | length' "$PUBS") attempts unanswered, $(jq '[.[] | select(.http != "000" and (.http | startswith("2") | not))] | length' "$PUBS") error answers"
expect_eq "$n_acc" "$NEVENTS" "every event was accepted (2xx) by A or B"
expect_eq "$(jq -n --slurpfile a "$ACKED" --slurpfile s "$STORED" '
	($s[0] | map({key: .id, value: .seq}) | from_entries) as $by_id |
	[$a[0][] | select($by_id[.id] != .seq) | .id]' | jq -c .)" "[]" \
	"every 2xx publish is stored under the seq it was answered with"
expect_eq "$(jq length "$STORED")" "$NEVENTS" "the database holds each event once"
expect_eq "$(jq -c '[group_by(.key)[] | sort_by(.n) | select([.[].seq] != ([.[].seq] | sort)) | .[0].key]' "$ACKED")" "[]" \
	"per key, seq order is publish order"

A=$(jq --slurpfile a "$ACKED" --slurpfile s "$STORED" --argjson kill "$KILL_MS" '
	[.[] | {id: .headers["webhook-id"], key: .headers["ce-partitionkey"],
		seq: (.headers["webhook-id"] | ltrimstr("msg_") | tonumber? // null),
		n: .n, t: .time_ms, end: (.time_ms + (.response.delay_ms // 0)),
		status: (.response.status // 0),
		ok: ((.response.status // 0) >= 200 and (.response.status // 0) < 300)}] as $reqs |
	($reqs | map(select(.ok))) as $oks |
	($oks | group_by(.seq) | map(min_by(.n))) as $first |
	($first | map({key: (.seq | tostring), value: .}) | from_entries) as $got |
	($s[0] | map({key: (.seq | tostring), value: .}) | from_entries) as $known |
	# every pair of requests of one key whose [arrival, arrival + delay] overlap
	[$reqs | group_by(.key)[] | sort_by(.t) | . as $l |
	 range(0; length) as $i | range($i + 1; length) as $j |
	 select($l[$j].t < $l[$i].end) |
	 {key: $l[$i].key, a: $l[$i].id, b: $l[$j].id, a_t: $l[$i].t, b_t: $l[$j].t,
	  same: ($l[$i].id == $l[$j].id),
	  both_alive: ($l[$j].t < $kill),
	  cut_off: (($l[$i].t <= $kill and $l[$i].end >= $kill) or
		    ($l[$j].t <= $kill and $l[$j].end >= $kill))}] as $ov |
	{
	  requests: ($reqs | length),
	  answered_2xx: ($oks | length),
	  answered_other: ($reqs | map(select(.ok | not)) | length),
	  delivered: ($first | length),
	  before_kill: ($reqs | map(select(.t < $kill)) | length),
	  lost: [$a[0][] | select($got[.seq | tostring] == null) | {id, seq, key}],
	  unknown: [$reqs[] | select(.seq == null or $known[.seq | tostring] == null) | .id] | unique,
	  key_mismatch: [$reqs[] | select(.seq != null and $known[.seq | tostring] != null) |
		select($known[.seq | tostring].key != .key) | .id] | unique,
	  duplicates: ($oks | group_by(.seq) | map(select(length > 1) | length - 1) | add // 0),
	  redelivered: [$reqs | group_by(.seq)[] | select(length > 1) | .[0].id],
	  order_violations: [$first | group_by(.key)[] | sort_by(.n) |
		. as $l | range(1; length) as $i | ([$l[:$i][].seq] | max) as $max |
		select($l[$i].seq < $max) | {key: $l[$i].key, seq: $l[$i].seq, after: $max}],
	  overlaps: ($ov | length),
	  overlaps_same_cut_off: [$ov[] | select(.same and .cut_off)],
	  overlaps_same_other: [$ov[] | select(.same and (.cut_off | not))],
	  overlaps_diff_alive: [$ov[] | select((.same | not) and .both_alive)],
	  overlaps_diff_after: [$ov[] | select((.same | not) and (.both_alive | not))]
	}' "$REQS") || die "cannot analyse the receiver ledger"
printf '%s\n' "$A" >"$TEST_TMPDIR/analysis.json"
get() { printf '%s' "$A" | jq -c "$1"; }

log "receiver ledger ($REQS): $(get .requests) requests ($(get .before_kill) before the kill; $(get .answered_2xx) answered 2xx, $(get .answered_other) other), $(get .delivered) events delivered, $(get .duplicates) duplicate deliveries; redelivered: $(get .redelivered)"
log "overlapping requests of one key: $(get .overlaps) ($(get '.overlaps_same_cut_off | length') redeliveries overlapping the request A left in flight)"
expect_eq "$(get .lost)" "[]" "every 2xx event delivered with a 2xx answer (lost = 0)"
expect_eq "$(get .unknown)" "[]" "every request carries the webhook-id of a stored event"
expect_eq "$(get .key_mismatch)" "[]" "ce-partitionkey is the event's partitionkey"
expect_eq "$(get .order_violations)" "[]" "per key, first successful deliveries in seq order across the takeover"
expect_eq "$(get .overlaps_diff_alive)" "[]" \
	"while A and B were alive, no two events of one key were in flight at once"
expect_eq "$(get .overlaps_diff_after)" "[]" \
	"after A died, no two events of one key were in flight at once"
expect_eq "$(get .overlaps_same_other)" "[]" \
	"a redelivery overlaps only the request A left in flight when killed"
check "some deliveries happened before the kill and some after" \
	test "$(get .before_kill)" -gt 0 -a "$(get .before_kill)" -lt "$(get .requests)"

printf 'LEDGER scaleout seed=%s events=%s accepted=%s lost=%s order_violations=%s duplicates=%s overlaps=%s (same event across the kill %s, different events %s) kill_after=%s\n' \
	"$SEED" "$NEVENTS" "$n_acc" "$(get '.lost | length')" "$(get '.order_violations | length')" \
	"$(get .duplicates)" "$(get .overlaps)" "$(get '.overlaps_same_cut_off | length')" \
	"$(get '(.overlaps_diff_alive + .overlaps_diff_after) | length')" "$KILL_AFTER"

# The lib checks one log for sanitizer reports: check A's here, B's in finish.
if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|==[0-9]+== (Invalid|Conditional|Mismatched)' "$A_LOG"; then
	_not_ok "no sanitizer or valgrind reports in A's log" "$(grep -m 20 -E 'Sanitizer|runtime error:|==[0-9]+==' "$A_LOG")"
fi
if [[ $TESTS_FAILED -gt 0 ]]; then
	log "last lines of B's log:"
	tail -n 40 "$B_LOG" | sed 's/^/# herald B: /'
fi
HERALD_LOG=$B_LOG
finish
