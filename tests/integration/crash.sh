#!/bin/bash
# Crash safety: herald is killed with SIGKILL in the middle of a publish and
# delivery load, three times, and restarted each time.  Afterwards every
# event it acknowledged (2xx) has reached both subscribers with a 2xx answer,
# per key in publish order; redeliveries are counted, never allowed to break
# the order.
#
# Replay a run with HERALD_TEST_SEED=<the seed printed at the start>: the
# kill moments and the failing sink's answers derive from it.
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

SEED=${HERALD_TEST_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000000))}
[[ $SEED =~ ^[0-9]+$ ]] || die "HERALD_TEST_SEED must be a non-negative integer"
log "seed $SEED (replay with HERALD_TEST_SEED=$SEED)"

ROUNDS=${CRASH_ROUNDS:-3}
LOOPS=4
NKEYS=20
MAX_PER_LOOP=400   # events one publisher may send in one round, at most
LOAD_MAX_S=8       # a round's publishers stop after this long, kill or not
DRAIN_S=60         # bounded wait for the last deliveries
KILL_SPREAD_MS=2000  # a kill comes [0, this) ms after the later of 600 ms
                     # into a round's load and the round's first 2xx
FIRST_2XX_S=$LOAD_MAX_S  # bounded wait for a round's first 2xx
if [[ ${HERALD_FAULT_PROFILE:-short} == long ]]; then
	# contrib/faults.sh: more rounds, longer loads before each kill
	ROUNDS=${CRASH_ROUNDS:-10}
	MAX_PER_LOOP=1500
	LOAD_MAX_S=12
	DRAIN_S=120
	KILL_SPREAD_MS=5000
fi
CE='Content-Type: application/cloudevents+json'
RUN=$$-$SEED
SOURCE=/crash/$RUN

# Our own PRNG (the lib's RANDOM draws would shift the sequence).
RNG_STATE=$SEED
rng() { # rng N: a number in [0, N)
	RNG_STATE=$(((RNG_STATE * 1103515245 + 12345) % 2147483648))
	RNG=$(((RNG_STATE >> 8) % $1))
}

pg_use_shared_or_start
db_create
receiver_start
herald_start
PORT=$HERALD_PORT

# ------------------------------------------------------------ subscriptions

FAST_SINK="$RECEIVER_URL/fast"
SLOW_SINK="$RECEIVER_URL/slow?delay_ms=20&fail_rate=0.1&seed=$SEED"
api POST /v1/subscriptions '{"sink":"'"$FAST_SINK"'","source":"'"$SOURCE"'","delivery":{"ordering":"partitionkey"}}'
expect_status 201 "fast subscription created"
SUB_FAST=$(printf '%s' "$RESP" | jq -r '.id')
api POST /v1/subscriptions '{"sink":"'"$SLOW_SINK"'","source":"'"$SOURCE"'","delivery":{"ordering":"partitionkey","retry":{"initial_ms":50,"multiplier":1.5,"max_ms":300,"max_attempts":100}}}'
expect_status 201 "slow, failing subscription created"
SUB_SLOW=$(printf '%s' "$RESP" | jq -r '.id')
[[ -n $SUB_FAST && $SUB_FAST != null && -n $SUB_SLOW && $SUB_SLOW != null ]] ||
	die "cannot create the subscriptions"

# ------------------------------------------------------------ publishers

PUBLOG=$TEST_TMPDIR/publish.tsv   # round loop key n id http curl_rc seq
: >"$PUBLOG"

# publisher ROUND LOOP: publish events of the keys k with k % LOOPS == LOOP,
# in turn, one at a time, until the round's stop file appears.  Each key's
# events are published by this one loop only, so a key's publish order is
# its counter order.  Counters survive rounds in $TEST_TMPDIR/ctr.LOOP.
publisher() {
	local round=$1 loop=$2 out=$TEST_TMPDIR/pub.$1.$2 i k key n id body rc code seq
	local keys=() ctr=() deadline
	for ((k = loop; k < NKEYS; k += LOOPS)); do
		keys+=("$(printf 'k%02d' "$k")")
		ctr+=(0)
	done
	if [[ -f $TEST_TMPDIR/ctr.$loop ]]; then
		read -r -a ctr <"$TEST_TMPDIR/ctr.$loop"
	fi
	deadline=$(($(now_ms) + LOAD_MAX_S * 1000))
	: >"$out"
	for ((i = 0; i < MAX_PER_LOOP; i++)); do
		[[ -e $TEST_TMPDIR/stop.$round ]] && break
		(($(now_ms) < deadline)) || break
		k=$((i % ${#keys[@]}))
		key=${keys[$k]}
		ctr[k]=$((ctr[k] + 1))
		n=${ctr[$k]}
		id="r$round-l$loop-$i"
		body='{"specversion":"1.0","source":"'"$SOURCE"'","id":"'"$id"'","type":"com.example.crash","partitionkey":"'"$key"'","datacontenttype":"application/json","data":{"key":"'"$key"'","n":'"$n"'}}'
		code=$(curl -s -o "$out.body" -w '%{http_code}' --max-time 5 \
			-H "Authorization: Bearer $ADMIN_KEY" -H "$CE" \
			--data-binary "$body" "http://127.0.0.1:$PORT/v1/events" 2>/dev/null)
		rc=$?
		[[ -n $code ]] || code=000
		seq=-
		if [[ $code == 2?? && -f $out.body && $(<"$out.body") =~ \"seq\":([0-9]+) ]]; then
			seq=${BASH_REMATCH[1]}
		fi
		rm -f "$out.body"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$loop" "$key" "$n" \
			"$id" "$code" "$rc" "$seq" >>"$out"
	done
	echo "${ctr[*]}" >"$TEST_TMPDIR/ctr.$loop"
}

# ------------------------------------------------------------ rounds

# round_has_2xx ROUND: a publisher of the round was answered 2xx
# shellcheck disable=SC2317 # (called through poll_until)
round_has_2xx() {
	cat "$TEST_TMPDIR/pub.$1".* 2>/dev/null | awk -F'\t' '$6 ~ /^2/ { ok = 1; exit } END { exit !ok }'
}

declare -a KILL_AT
for ((r = 1; r <= ROUNDS; r++)); do
	rng "$KILL_SPREAD_MS"
	KILL_AT[r]=$RNG   # ms after the round's load had 600 ms and a 2xx
done
log "kill moments (ms after 600 ms of each round's load and its first 2xx): ${KILL_AT[*]}"

for ((r = 1; r <= ROUNDS; r++)); do
	pids=()
	start=$(now_ms)
	for ((l = 0; l < LOOPS; l++)); do
		publisher "$r" "$l" &
		pids+=($!)
	done
	# a restarted herald under load may be slow to answer its first 2xx:
	# the kill waits for one (bounded), then KILL_AT[r] more
	if poll_until "$FIRST_2XX_S" round_has_2xx "$r"; then
		first_2xx=$(now_ms)
		seen="first 2xx seen at +$((first_2xx - start)) ms"
	else
		first_2xx=$(now_ms)
		seen="no 2xx within ${FIRST_2XX_S}s"
	fi
	kill_from=$((first_2xx > start + 600 ? first_2xx : start + 600))
	while (($(now_ms) - kill_from < KILL_AT[r])); do
		sleep 0.02
	done
	victim=$HERALD_PID
	herald_kill9
	killed_at=$(now_ms)
	touch "$TEST_TMPDIR/stop.$r"
	for p in "${pids[@]}"; do
		wait "$p"
	done
	cat "$TEST_TMPDIR"/pub."$r".* >>"$PUBLOG"
	acc=$(awk -F'\t' -v r="$r" '$1 == r && $6 ~ /^2/' "$PUBLOG" | wc -l)
	tot=$(awk -F'\t' -v r="$r" '$1 == r' "$PUBLOG" | wc -l)
	log "round $r: $seen, killed herald $victim at +$((killed_at - start)) ms; $tot publishes, $acc answered 2xx"
	HERALD_LISTEN_PORT=$PORT herald_start
	# let the restarted instance take over and deliver for a moment
	rng 400
	sleep "0.$(printf '%03d' "$RNG")"
done

# ------------------------------------------------------------ drain

pending() {
	db_psql "SELECT count(*) FROM delivery WHERE state = 'pending'"
}
nothing_pending() {
	[[ $(pending 2>/dev/null) == 0 ]]
}
wait_until "$DRAIN_S" "every delivery is settled (nothing pending)" nothing_pending
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE state = 'failed'")" 0 \
	"no delivery ended failed"

# ------------------------------------------------------------ ledgers

PUBS=$TEST_TMPDIR/publish.json
jq -R -s '[split("\n")[] | select(length > 0) | split("\t") |
	{round: (.[0]|tonumber), loop: (.[1]|tonumber), key: .[2], n: (.[3]|tonumber),
	 id: .[4], http: .[5], rc: (.[6]|tonumber),
	 seq: (if .[7] == "-" then null else (.[7]|tonumber) end)}]' "$PUBLOG" >"$PUBS" ||
	die "cannot read the publish ledger"
STORED=$TEST_TMPDIR/stored.json
db_psql "SELECT coalesce(json_agg(json_build_object('seq', seq, 'id', id, 'key', attrs->>'partitionkey') ORDER BY seq), '[]') FROM event WHERE source = '$SOURCE'" >"$STORED" ||
	die "cannot read the stored events"
receiver_requests /fast >"$TEST_TMPDIR/fast.json" || die "cannot read the receiver's requests"
receiver_requests /slow >"$TEST_TMPDIR/slow.json" || die "cannot read the receiver's requests"

n_pub=$(jq length "$PUBS")
n_acc=$(jq '[.[] | select(.http | startswith("2"))] | length' "$PUBS")
n_refused=$(jq '[.[] | select(.http == "000" and .rc == 7)] | length' "$PUBS")
n_noanswer=$(jq '[.[] | select(.http == "000" and .rc != 7)] | length' "$PUBS")
n_other=$(jq '[.[] | select(.http != "000" and (.http | startswith("2") | not))] | length' "$PUBS")
n_stored=$(jq length "$STORED")
n_noanswer_stored=$(jq -n --slurpfile p "$PUBS" --slurpfile s "$STORED" '
	($s[0] | map({key: .id, value: .seq}) | from_entries) as $by_id |
	[$p[0][] | select(.http | startswith("2") | not) | select($by_id[.id] != null)] | length')
log "publish ledger ($PUBLOG): $n_pub publishes: $n_acc 2xx, $n_refused refused (not stored), $n_noanswer reset/no answer, $n_other other status; of the non-2xx, $n_noanswer_stored were stored"
jq -r 'group_by(.round)[] | "#   round \(.[0].round): \(length) publishes, \([.[] | select(.http | startswith("2"))] | length) 2xx, \([.[] | select(.http == "000")] | length) unanswered (refused or cut off)"' "$PUBS"

# The acknowledged events are stored, under the seq they were answered with.
expect_eq "$(jq -n --slurpfile p "$PUBS" --slurpfile s "$STORED" '
	($s[0] | map({key: .id, value: .seq}) | from_entries) as $by_id |
	[$p[0][] | select(.http | startswith("2")) | select($by_id[.id] != .seq) | .id]')" "[]" \
	"every 2xx publish is stored under the seq it was answered with"
expect_eq "$n_other" 0 "no publish was answered with an error status"
expect_eq "$(jq '[.[] | select(.http == "000" and .rc == 7)] | map(.id)' "$PUBS" |
	jq --slurpfile s "$STORED" '[.[] as $i | $s[0][] | select(.id == $i)] | length')" 0 \
	"no refused publish was stored"
# Per key, the acknowledged seqs follow the per-key counters.
expect_eq "$(jq '[group_by(.key)[] | map(select(.seq != null)) | sort_by(.n) |
	select([.[].seq] != ([.[].seq] | sort)) | .[0].key]' "$PUBS")" "[]" \
	"per key, seq order is publish (counter) order"

# analyse SINK_FILE: the receiver's ledger of one sink against the events.
analyse() {
	jq --slurpfile p "$PUBS" --slurpfile s "$STORED" '
		[.[] | {id: .headers["webhook-id"], key: .headers["ce-partitionkey"],
			seq: (.headers["webhook-id"] | ltrimstr("msg_") | tonumber? // null),
			n: .n, t: .time_ms, status: (.response.status // 0),
			ok: ((.response.status // 0) >= 200 and (.response.status // 0) < 300)}] as $reqs |
		($reqs | map(select(.ok))) as $oks |
		($oks | group_by(.seq) | map(min_by(.n))) as $first |
		($first | map({key: (.seq | tostring), value: .}) | from_entries) as $got |
		($s[0] | map({key: (.seq | tostring), value: .}) | from_entries) as $known |
		[$p[0][] | select(.http | startswith("2"))] as $acked |
		{
		  requests: ($reqs | length),
		  answered_2xx: ($oks | length),
		  answered_other: ($reqs | map(select(.ok | not)) | length),
		  delivered: ($first | length),
		  lost: [$acked[] | select($got[.seq | tostring] == null) | {id, seq, key}],
		  stored_lost: [$s[0][] | select($got[.seq | tostring] == null) | .seq],
		  unknown: [$reqs[] | select(.seq == null or $known[.seq | tostring] == null) | .id] | unique,
		  key_mismatch: [$reqs[] | select(.seq != null and $known[.seq | tostring] != null) |
			select($known[.seq | tostring].key != .key) | .id] | unique,
		  duplicates: ($oks | group_by(.seq) | map(select(length > 1) | length - 1) | add // 0),
		  duplicated_events: ($oks | group_by(.seq) | map(select(length > 1)) | length),
		  order_violations: [$first | group_by(.key)[] | sort_by(.n) |
			. as $l | range(1; length) as $i | ([$l[:$i][].seq] | max) as $max |
			select($l[$i].seq < $max) | {key: $l[$i].key, seq: $l[$i].seq, after: $max}],
		  dup_order_violations: [$oks | group_by(.key)[] | sort_by(.n) |
			. as $l | range(1; length) as $i | ([$l[:$i][].seq] | max) as $max |
			select($l[$i].seq < $max and
			       ([$l[:$i][] | select(.seq == $l[$i].seq)] | length) > 0) |
			{key: $l[$i].key, seq: $l[$i].seq, after: $max, n: $l[$i].n}]
		}' "$1"
}

for sink in fast slow; do
	A=$(analyse "$TEST_TMPDIR/$sink.json") || die "cannot analyse the $sink ledger"
	printf '%s\n' "$A" >"$TEST_TMPDIR/$sink.analysis.json"
	log "receiver ledger /$sink: $(printf '%s' "$A" | jq -r '"\(.requests) requests (\(.answered_2xx) answered 2xx, \(.answered_other) other), \(.delivered) events delivered, \(.duplicates) duplicate deliveries of \(.duplicated_events) events"')"
	expect_eq "$(printf '%s' "$A" | jq -c '.lost')" "[]" \
		"/$sink: every 2xx event delivered with a 2xx answer (lost = 0)"
	expect_eq "$(printf '%s' "$A" | jq -c '.stored_lost')" "[]" \
		"/$sink: every stored event delivered, acknowledged or not"
	expect_eq "$(printf '%s' "$A" | jq -c '.unknown')" "[]" \
		"/$sink: every request carries the webhook-id of a stored event"
	expect_eq "$(printf '%s' "$A" | jq -c '.key_mismatch')" "[]" \
		"/$sink: ce-partitionkey is the event's partitionkey"
	expect_eq "$(printf '%s' "$A" | jq -c '.order_violations')" "[]" \
		"/$sink: per key, first successful deliveries in seq order"
	expect_eq "$(printf '%s' "$A" | jq -c '.dup_order_violations')" "[]" \
		"/$sink: no redelivery arrives after a later event of its key"
done

# ------------------------------------------------------------ summary

fa=$TEST_TMPDIR/fast.analysis.json
sa=$TEST_TMPDIR/slow.analysis.json
lost=$(jq -s '[.[].lost[].seq] | unique | length' "$fa" "$sa")
viol=$(jq -s '[.[].order_violations | length] | add' "$fa" "$sa")
dups=$(jq -s '[.[].duplicates] | add' "$fa" "$sa")
printf 'LEDGER crash seed=%s rounds=%s published=%s accepted=%s no_answer=%s (stored %s) refused=%s stored=%s lost=%s order_violations=%s duplicates=%s (fast %s, slow %s)\n' \
	"$SEED" "$ROUNDS" "$n_pub" "$n_acc" "$n_noanswer" "$n_noanswer_stored" "$n_refused" \
	"$n_stored" "$lost" "$viol" "$dups" "$(jq .duplicates "$fa")" "$(jq .duplicates "$sa")"
check "events were accepted in every round" \
	test "$(jq '[.[] | select(.http | startswith("2")) | .round] | unique | length' "$PUBS")" -eq "$ROUNDS"

finish
