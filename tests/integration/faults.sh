#!/bin/bash
# Fault injection under load, with an exact ledger per scenario:
#
#   a. PostgreSQL crashes (odd rounds) or is shut down (even rounds) and is
#      started again while events are published and delivered: herald
#      answers 503 (never 2xx) and /readyz fails while it is down, and
#      recovers by itself once it is back.
#   d. PostgreSQL crashes while a keyed backlog drains, with no publisher
#      running: per key, no redelivery comes after a later event.
#   b. SIGTERM while deliveries are in flight (a sink answering after
#      1.5 s): herald exits 0 within 15 s; after a restart nothing is lost.
#   c. Misbehaving receivers at once, one subscription each, same events:
#      timeouts, a refused port, dropped connections, slow answers, random
#      500s, 429 with Retry-After, 410 Gone; plus a healthy one that none of
#      them may slow down.
#
# Throughout, a storage partition opens every second (partition_interval),
# so partition maintenance runs through every fault.
#
# The ledger: every publish (id, key, per-key counter, HTTP status, seq,
# times) and every request the receiver saw (webhook-id msg_<seq>,
# ce-partitionkey, the status it answered, or a dropped connection).  At the
# end of each scenario, for every subscription: every event answered 2xx is
# delivered at least once with a 2xx answer (lost = 0), per key the first
# successful deliveries come in publish order (order violations = 0), and the
# duplicates are counted and printed (at least once allows them).
#
# HERALD_FAULT_PROFILE=long runs more rounds, more events and longer loads
# (the default, short, fits in about 90 s).  HERALD_FAULT_LEDGER_DIR, when
# set, keeps the ledger files there.  Replay a run with HERALD_TEST_SEED=<the
# seed printed at the start>: the fault moments and the failing sinks'
# answers derive from it.
# shellcheck disable=SC2317,SC2119 # helpers called through poll_until/wait_until
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

SEED=${HERALD_TEST_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000000))}
[[ $SEED =~ ^[0-9]+$ ]] || die "HERALD_TEST_SEED must be a non-negative integer"
PROFILE=${HERALD_FAULT_PROFILE:-short}
log "seed $SEED (replay with HERALD_TEST_SEED=$SEED), profile $PROFILE"

case $PROFILE in
short)
	A_ROUNDS=1 A_AFTER_S=2 A_LOOPS=3 A_KEYS=12
	D_KEYS=8 D_PER_LOOP=60
	B_ROUNDS=1 B_LOAD_S=4
	C_EVENTS=120 C_KEYS=8 C_PATCH_S=5
	;;
long)
	A_ROUNDS=4 A_AFTER_S=4 A_LOOPS=4 A_KEYS=20
	D_KEYS=16 D_PER_LOOP=150
	B_ROUNDS=4 B_LOAD_S=6
	C_EVENTS=480 C_KEYS=16 C_PATCH_S=10
	;;
*) die "HERALD_FAULT_PROFILE must be short or long, not '$PROFILE'" ;;
esac
DRAIN_S=${FAULT_DRAIN_S:-90}   # bounded wait for the last deliveries
STOP_LIMIT_S=15                 # SIGTERM to exit, at most
HEALTHY_MAX_MS=3000             # a healthy subscriber's worst delivery latency
CE='Content-Type: application/cloudevents+json'
RUN=$$-$SEED
LEDGER_DIR=${HERALD_FAULT_LEDGER_DIR:-$TEST_TMPDIR}
mkdir -p "$LEDGER_DIR" || die "cannot create $LEDGER_DIR"

RNG_STATE=$SEED
rng() { # rng N: a number in [0, N), in RNG
	RNG_STATE=$(((RNG_STATE * 1103515245 + 12345) % 2147483648))
	RNG=$(((RNG_STATE >> 8) % $1))
}

# A private cluster: scenario a stops and starts it.  Storage partitions
# open every second, so that partition maintenance runs through every
# fault (the retention stays long: the ledger reads the stored events).
HERALD_ARGS=(--partition-interval 1s)
pg_start_private
db_create
receiver_start
herald_start "${HERALD_ARGS[@]}"
PORT=$HERALD_PORT

# ------------------------------------------------------------ helpers

# sub_body SINK SOURCE [DELIVERY_JSON]
sub_body() {
	jq -cn --arg s "$1" --arg src "$2" --argjson d "${3:-{\}}" \
		'{sink: $s, source: $src, delivery: ({ordering: "partitionkey"} + $d)}'
}

# publisher SCEN ROUND LOOP NKEYS LOOPS MAX GAP_MS DEADLINE_MS SOURCE:
# publish one structured event at a time, keys k with k % LOOPS == LOOP in
# turn, until $TEST_TMPDIR/stop.SCEN.ROUND exists, MAX events or the
# deadline.  A key is published by one loop only, so its counter order is
# its publish order; counters survive rounds in ctr.SCEN.LOOP.  One line per
# publish: scen round loop key n id http curl_rc seq t_start t_end.
publisher() {
	local scen=$1 round=$2 loop=$3 nkeys=$4 loops=$5 max=$6 gap=$7 deadline=$8 source=$9
	local out=$TEST_TMPDIR/pub.$scen.$round.$loop i k key n id body rc code seq t0 t1
	local keys=() ctr=()
	for ((k = loop; k < nkeys; k += loops)); do
		keys+=("$(printf '%s%02d' "$scen" "$k")")
		ctr+=(0)
	done
	if [[ -f $TEST_TMPDIR/ctr.$scen.$loop ]]; then
		read -r -a ctr <"$TEST_TMPDIR/ctr.$scen.$loop"
	fi
	: >"$out"
	for ((i = 0; i < max; i++)); do
		[[ -e $TEST_TMPDIR/stop.$scen.$round ]] && break
		t0=$(now_ms)
		((t0 < deadline)) || break
		k=$((i % ${#keys[@]}))
		key=${keys[$k]}
		ctr[k]=$((ctr[k] + 1))
		n=${ctr[$k]}
		id="$scen-r$round-l$loop-$i"
		body='{"specversion":"1.0","source":"'"$source"'","id":"'"$id"'","type":"com.example.fault","partitionkey":"'"$key"'","datacontenttype":"application/json","data":{"key":"'"$key"'","n":'"$n"'}}'
		code=$(curl -s -o "$out.body" -w '%{http_code}' --max-time 10 \
			-H "Authorization: Bearer $ADMIN_KEY" -H "$CE" \
			--data-binary "$body" "http://127.0.0.1:$PORT/v1/events" 2>/dev/null)
		rc=$?
		t1=$(now_ms)
		[[ -n $code ]] || code=000
		seq=-
		if [[ $code == 2?? && -f $out.body && $(<"$out.body") =~ \"seq\":([0-9]+) ]]; then
			seq=${BASH_REMATCH[1]}
		fi
		rm -f "$out.body"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$round" "$loop" \
			"$key" "$n" "$id" "$code" "$rc" "$seq" "$t0" "$t1" >>"$out"
		((gap > 0)) && sleep "$(printf '0.%03d' "$gap")"
	done
	echo "${ctr[*]}" >"$TEST_TMPDIR/ctr.$scen.$loop"
}

# start_publishers SCEN ROUND NKEYS LOOPS MAX GAP_MS LOAD_S SOURCE: sets PUB_PIDS.
start_publishers() {
	local l deadline=$(($(now_ms) + $7 * 1000))
	PUB_PIDS=()
	for ((l = 0; l < $4; l++)); do
		publisher "$1" "$2" "$l" "$3" "$4" "$5" "$6" "$deadline" "$8" &
		PUB_PIDS+=($!)
	done
}

# stop_publishers SCEN ROUND: stop them, wait, append to the publish ledger.
stop_publishers() {
	local p
	touch "$TEST_TMPDIR/stop.$1.$2"
	for p in "${PUB_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	cat "$TEST_TMPDIR"/pub."$1"."$2".* >>"$LEDGER_DIR/publish.$1.tsv"
}

# pubs_json SCEN: the publish ledger of a scenario as a JSON array.
pubs_json() {
	jq -R -s '[split("\n")[] | select(length > 0) | split("\t") |
		{scen: .[0], round: (.[1]|tonumber), loop: (.[2]|tonumber), key: .[3],
		 n: (.[4]|tonumber), id: .[5], http: .[6], rc: (.[7]|tonumber),
		 seq: (if .[8] == "-" then null else (.[8]|tonumber) end),
		 t0: (.[9]|tonumber), t1: (.[10]|tonumber),
		 ok: (.[6] | startswith("2"))}]' "$LEDGER_DIR/publish.$1.tsv"
}

pending_in() { # pending_in SOURCE: deliveries of SOURCE's events not succeeded
	db_psql "SELECT count(*) FROM delivery d JOIN event e USING (seq)
		WHERE e.source = '$1' AND d.state <> 'succeeded'"
}
settled() {
	[[ $(pending_in "$1" 2>/dev/null) == 0 ]]
}

readyz_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$PORT/readyz" 2>/dev/null || true
}
readyz_is_200() {
	[[ $(readyz_code) == 200 ]]
}

# analyse_scenario SCEN SOURCE CUTS_JSON LABEL:SUB_ID:PATH=TIMEOUT_MS[,PATH=TIMEOUT_MS...] ...
# Checks the receiver ledger of each subscription against the publish
# ledger and the stored events; sets the SCEN_* figures for the LEDGER line.
# A receiver request counts as answered 2xx only if the receiver answered
# 2xx within the timeout_ms herald used for that path (a sink and its
# timeout_ms change together, in one PATCH).  A request in flight at one of
# the CUTS (ms; SIGTERM moments) may have been abandoned by herald: it counts
# only when herald logged a 2xx attempt of that delivery.
analyse_scenario() {
	local scen=$1 source=$2 cuts=$3 spec label sub paths a
	shift 3
	PUBS=$LEDGER_DIR/publish.$scen.json
	pubs_json "$scen" >"$PUBS" || die "cannot read the $scen publish ledger"
	STORED=$LEDGER_DIR/stored.$scen.json
	db_psql "SELECT coalesce(json_agg(json_build_object('seq', seq, 'id', id,
		'key', attrs->>'partitionkey') ORDER BY seq), '[]') FROM event
		WHERE source = '$source'" >"$STORED" || die "cannot read the stored events"
	REQS=$LEDGER_DIR/requests.$scen.json
	receiver_requests | jq '[to_entries[] | .value + {i: .key}]' >"$REQS" ||
		die "cannot read the receiver's requests"
	SCEN_PUBLISHED=$(jq length "$PUBS")
	SCEN_ACCEPTED=$(jq '[.[] | select(.ok)] | length' "$PUBS")
	SCEN_STORED=$(jq length "$STORED")
	expect_eq "$(jq -n --slurpfile p "$PUBS" --slurpfile s "$STORED" -c '
		($s[0] | map({key: .id, value: .seq}) | from_entries) as $by_id |
		[$p[0][] | select(.ok) | select($by_id[.id] != .seq) | .id]')" "[]" \
		"$scen: every 2xx publish is stored under the seq it was answered with"
	expect_eq "$(jq -c '[group_by(.key)[] | map(select(.seq != null)) | sort_by(.n) |
		select([.[].seq] != ([.[].seq] | sort)) | .[0].key]' "$PUBS")" "[]" \
		"$scen: per key, seq order is publish order"
	SCEN_LOST=0 SCEN_VIOL=0 SCEN_DUPS=0 SCEN_DUPS_DETAIL=
	for spec in "$@"; do
		IFS=: read -r label sub paths <<<"$spec"
		db_psql "SELECT coalesce(json_agg(DISTINCT a.seq), '[]') FROM attempt a
			JOIN event e USING (seq) WHERE e.source = '$source'
			AND a.subscription_id = '$sub' AND a.status BETWEEN 200 AND 299" \
			>"$LEDGER_DIR/dbok.$scen.$label.json" || die "cannot read the attempts"
		a=$(jq --slurpfile p "$PUBS" --slurpfile s "$STORED" \
			--slurpfile dbok "$LEDGER_DIR/dbok.$scen.$label.json" \
			--argjson cuts "$cuts" --arg paths "$paths" '
			($paths | split(",") | map(split("=") | {key: .[0], value: (.[1] | tonumber)}) |
			 from_entries) as $tmo |
			($dbok[0] | map({key: tostring, value: true}) | from_entries) as $herald_ok |
			[.[] | select($tmo[.path] != null) |
			 (.response.delay_ms // 0) as $d |
			 {i, id: .headers["webhook-id"], key: .headers["ce-partitionkey"],
			  seq: (.headers["webhook-id"] // "" | ltrimstr("msg_") | tonumber? // null),
			  t: .time_ms, path, delay: $d,
			  status: (if .response.dropped then 0 else (.response.status // 0) end),
			  cut: ([$cuts[] as $c | select(.time_ms <= $c and $c < .time_ms + $d + 5)] | length > 0)} |
			 .ok = (.status >= 200 and .status < 300 and .delay < $tmo[.path] and
				((.cut | not) or $herald_ok[.seq | tostring] == true))] as $reqs |
			($reqs | map(select(.ok))) as $oks |
			($oks | group_by(.seq) | map(min_by(.i))) as $first |
			($first | map({key: (.seq | tostring), value: .}) | from_entries) as $got |
			($s[0] | map({key: (.seq | tostring), value: .}) | from_entries) as $known |
			($p[0] | map(select(.ok) | {key: (.seq | tostring), value: .}) | from_entries) as $pubby |
			{
			  requests: ($reqs | length),
			  answered_2xx: ($oks | length),
			  answered_other: ($reqs | map(select(.ok | not)) | length),
			  dropped: ($reqs | map(select(.status == 0)) | length),
			  cut: ($reqs | map(select(.cut)) | length),
			  delivered: ($first | length),
			  lost: [$p[0][] | select(.ok) | select($got[.seq | tostring] == null) | {id, seq, key}],
			  stored_lost: [$s[0][] | select($got[.seq | tostring] == null) | .seq],
			  not_logged_by_herald: [$first[] | select($herald_ok[.seq | tostring] != true) | .seq],
			  unknown: [$reqs[] | select(.seq == null or $known[.seq | tostring] == null) | .id] | unique,
			  key_mismatch: [$reqs[] | select(.seq != null and $known[.seq | tostring] != null) |
				select($known[.seq | tostring].key != .key) | .id] | unique,
			  duplicates: ($oks | group_by(.seq) | map(select(length > 1) | length - 1) | add // 0),
			  order_violations: [$first | group_by(.key)[] | sort_by(.i) |
				. as $l | range(1; length) as $j | ([$l[:$j][].seq] | max) as $max |
				select($l[$j].seq < $max) | {key: $l[$j].key, seq: $l[$j].seq, after: $max}],
			  dup_order_violations: [$oks | group_by(.key)[] | sort_by(.i) |
				. as $l | range(1; length) as $j | ([$l[:$j][].seq] | max) as $max |
				select($l[$j].seq < $max and
				       ([$l[:$j][] | select(.seq == $l[$j].seq)] | length) > 0) |
				{key: $l[$j].key, seq: $l[$j].seq, after: $max}],
			  last_done_t: ([$first[] | .t + .delay] | max // 0 | floor),
			  last_ok_i: ([$first[].i] | max // 0),
			  max_latency_ms: ([$first[] | select($pubby[.seq | tostring] != null) |
				.t - $pubby[.seq | tostring].t1] | max // 0 | floor)
			}' "$REQS") || die "cannot analyse the $scen/$label ledger"
		printf '%s\n' "$a" >"$LEDGER_DIR/analysis.$scen.$label.json"
		# the request ledger of this subscription, one line per request
		jq -r --arg l "$label" --arg paths "$paths" '($paths | split(",") | map(split("=")[0])) as $ps |
			.[] | select(.path as $x | $ps | index($x)) |
			[$l, .i, (.time_ms | floor), .path, .headers["webhook-id"], .headers["ce-partitionkey"],
			 (if .response.dropped then "dropped" else (.response.status | tostring) end),
			 (.response.delay_ms // 0)] | @tsv' "$REQS" >>"$LEDGER_DIR/requests.$scen.tsv"
		log "$scen/$label ledger: $(printf '%s' "$a" | jq -r '"\(.requests) requests (\(.answered_2xx) answered 2xx, \(.answered_other) other of which \(.dropped) dropped, \(.cut) in flight at SIGTERM), \(.delivered) events delivered, \(.duplicates) duplicates, worst latency \(.max_latency_ms) ms"')"
		expect_eq "$(printf '%s' "$a" | jq -c '.lost')" "[]" \
			"$scen/$label: every 2xx event delivered with a 2xx answer (lost = 0)"
		expect_eq "$(printf '%s' "$a" | jq -c '.stored_lost')" "[]" \
			"$scen/$label: every stored event delivered, acknowledged or not"
		expect_eq "$(printf '%s' "$a" | jq -c '.not_logged_by_herald')" "[]" \
			"$scen/$label: herald logged a 2xx attempt for every delivered event"
		expect_eq "$(printf '%s' "$a" | jq -c '.unknown')" "[]" \
			"$scen/$label: every request carries the webhook-id of a stored event"
		expect_eq "$(printf '%s' "$a" | jq -c '.key_mismatch')" "[]" \
			"$scen/$label: ce-partitionkey is the event's partitionkey"
		expect_eq "$(printf '%s' "$a" | jq -c '.order_violations')" "[]" \
			"$scen/$label: per key, first successful deliveries in publish order"
		expect_eq "$(printf '%s' "$a" | jq -c '.dup_order_violations')" "[]" \
			"$scen/$label: no redelivery arrives after a later event of its key"
		SCEN_LOST=$((SCEN_LOST + $(printf '%s' "$a" | jq '.lost | length')))
		SCEN_VIOL=$((SCEN_VIOL + $(printf '%s' "$a" | jq '(.order_violations + .dup_order_violations) | length')))
		SCEN_DUPS=$((SCEN_DUPS + $(printf '%s' "$a" | jq '.duplicates')))
		SCEN_DUPS_DETAIL+="$label $(printf '%s' "$a" | jq '.duplicates'), "
	done
	expect_eq "$(db_psql "SELECT count(*) FROM delivery d JOIN event e USING (seq)
		WHERE e.source = '$source' AND d.state <> 'succeeded'")" 0 \
		"$scen: every delivery of the scenario succeeded (none pending or failed)"
	expect_eq "$(db_psql "SELECT count(*) FROM delivery d JOIN event e USING (seq)
		WHERE e.source = '$source'")" "$((SCEN_STORED * $#))" \
		"$scen: one delivery per stored event and subscription ($SCEN_STORED x $#)"
}

# ============================================================ a. PostgreSQL outage

SRC_A=/faults/a/$RUN
sub_create "a/fast" "$(sub_body "$RECEIVER_URL/a-fast" "$SRC_A")"
A_FAST=$SUB_ID
sub_create "a/flaky" "$(sub_body "$RECEIVER_URL/a-flaky?delay_ms=20&fail_rate=0.1&seed=$SEED" "$SRC_A" \
	'{"retry": {"initial_ms": 50, "multiplier": 1.5, "max_ms": 500, "max_attempts": 100}}')"
A_FLAKY=$SUB_ID

A_WINDOWS=()       # "stopped_ms started_ms" per round: PostgreSQL surely down in between
for ((r = 1; r <= A_ROUNDS; r++)); do
	rng 1500
	down_at=$((1000 + RNG))
	rng 2500
	down_for=$((2000 + RNG))
	# odd rounds crash it (immediate: unflushed WAL lost, recovery at the
	# start), even rounds shut it down (fast)
	mode=fast
	((r % 2 == 1)) && mode=immediate
	log "a: round $r: PostgreSQL stops ($mode) ${down_at} ms into the load, for ${down_for} ms"
	# the load runs until A_AFTER_S after the recovery (60 s at most)
	start_publishers a "$r" "$A_KEYS" "$A_LOOPS" 3000 0 60 "$SRC_A"
	sleep "$((down_at / 1000)).$(printf '%03d' $((down_at % 1000)))"
	pg_stop "$mode" || die "a: cannot stop PostgreSQL ($mode)"
	stopped=$(now_ms)
	ready_seen=()
	while (($(now_ms) - stopped < down_for)); do
		ready_seen+=("$(readyz_code)")
		sleep 0.2
	done
	check "a: round $r: herald still runs with PostgreSQL down" kill -0 "$HERALD_PID"
	started=$(now_ms)
	pg_start || die "a: cannot start PostgreSQL again"
	log "a: round $r: PostgreSQL was down for $((started - stopped)) ms; /readyz answered: $(printf '%s\n' "${ready_seen[@]}" | sort | uniq -c | awk '{printf "%sx%s ", $2, $1}')"
	A_WINDOWS+=("$stopped $started")
	expect_eq "$(printf '%s\n' "${ready_seen[@]}" | grep -c '^200$')" 0 \
		"a: round $r: /readyz never answers 200 while PostgreSQL is down (${#ready_seen[@]} probes)"
	wait_until 20 "a: round $r: /readyz is 200 again, herald not restarted" readyz_is_200
	check "a: round $r: the same herald process recovered" kill -0 "$HERALD_PID"
	stop_publishers_at=$(($(now_ms) + A_AFTER_S * 1000))
	while (($(now_ms) < stop_publishers_at)); do sleep 0.1; done
	stop_publishers a "$r"
done

# publishes that started after the stop and ended before the start
windows_json=$(printf '%s\n' "${A_WINDOWS[@]}" | jq -R -s -c '[split("\n")[] | select(length > 0) | split(" ") | map(tonumber)]')
pubs_json a >"$TEST_TMPDIR/a.pubs.json"
A_DOWN_PUBS=$(jq -c --argjson w "$windows_json" '[.[] | . as $p | select([$w[] | select($p.t0 >= .[0] and $p.t1 <= .[1])] | length > 0)]' "$TEST_TMPDIR/a.pubs.json")
A_N_DOWN=$(printf '%s' "$A_DOWN_PUBS" | jq length)
log "a: $A_N_DOWN publishes fell entirely inside an outage: $(printf '%s' "$A_DOWN_PUBS" | jq -r 'group_by(.http) | map("\(.[0].http)x\(length)") | join(" ")')"
check "a: some publishes fell inside an outage ($A_N_DOWN)" test "$A_N_DOWN" -gt 0
expect_eq "$(printf '%s' "$A_DOWN_PUBS" | jq -c '[.[] | select(.http != "503") | {id, http, t0, t1}]')" "[]" \
	"a: every publish made while PostgreSQL was down answered 503 (never 2xx)"
expect_eq "$(jq -c '[.[] | select(.http != "503" and (.ok | not)) | {id, http, rc}]' "$TEST_TMPDIR/a.pubs.json")" "[]" \
	"a: every publish answered 2xx or 503"
expect_eq "$(jq -c '[.[] | select(.http == "503" and .t1 - .t0 > 5000) | {id, ms: (.t1 - .t0)}]' "$TEST_TMPDIR/a.pubs.json")" "[]" \
	"a: every 503 came within 5 s"

wait_until "$DRAIN_S" "a: every delivery settled after the outages" settled "$SRC_A"
analyse_scenario a "$SRC_A" '[]' "fast:$A_FAST:/a-fast=10000" "flaky:$A_FLAKY:/a-flaky=10000"
check "a: events were accepted before and after the outages ($SCEN_ACCEPTED)" \
	test "$(jq --argjson w "$windows_json" '[.[] | select(.ok)] | [(map(select(.t1 < $w[0][0])) | length), (map(select(.t0 > $w[-1][1])) | length)] | min' "$PUBS")" -gt 0
printf 'LEDGER faults-pg-outage seed=%s rounds=%s published=%s accepted=%s refused_503=%s stored=%s lost=%s order_violations=%s duplicates=%s (%s)\n' \
	"$SEED" "$A_ROUNDS" "$SCEN_PUBLISHED" "$SCEN_ACCEPTED" \
	"$(jq '[.[] | select(.http == "503")] | length' "$PUBS")" "$SCEN_STORED" \
	"$SCEN_LOST" "$SCEN_VIOL" "$SCEN_DUPS" "${SCEN_DUPS_DETAIL%, }"

# ============================================================ d. PostgreSQL crash mid-drain

# A keyed backlog drains with no publisher running, so that no ingest
# commit flushes the WAL for the dispatcher; PostgreSQL then crashes
# (immediate) with keys half way through.  The dispatcher's write-backs
# that do not move a key's head are committed without waiting for the
# disk and may be lost; those that do must have reached it before the
# key's next delivery went out, or the crash brings a redelivery after a
# later event of its key.
SRC_D=/faults/d/$RUN
sub_create "d/keyed" "$(sub_body "$RECEIVER_URL/d-keyed?delay_ms=20" "$SRC_D" '{"max_in_flight": 16}')"
D_SUB=$SUB_ID
api PATCH "/v1/subscriptions/$D_SUB" '{"status":"paused"}'
expect_status 200 "d: subscription paused while its backlog is published"
start_publishers d 1 "$D_KEYS" 4 "$D_PER_LOOP" 0 60 "$SRC_D"
for p in "${PUB_PIDS[@]}"; do
	wait "$p" 2>/dev/null || true
done
stop_publishers d 1
D_TOTAL=$(db_psql "SELECT count(*) FROM event WHERE source = '$SRC_D'")
api PATCH "/v1/subscriptions/$D_SUB" '{"status":"active"}'
expect_status 200 "d: subscription resumed: $D_TOTAL events to drain"
rng 200
sleep "0.$(printf '%03d' $((150 + RNG)))"
pg_stop immediate || die "d: cannot crash PostgreSQL"
D_BEFORE=$(receiver_count /d-keyed)
log "d: PostgreSQL crashed with $D_BEFORE of $D_TOTAL events delivered"
check "d: the crash came mid-drain ($D_BEFORE of $D_TOTAL delivered)" \
	test "$D_BEFORE" -gt 0 -a "$D_BEFORE" -lt "$D_TOTAL"
sleep 1
pg_start || die "d: cannot start PostgreSQL again"
wait_until 20 "d: /readyz is 200 again, herald not restarted" readyz_is_200
wait_until "$DRAIN_S" "d: every delivery settled after the crash" settled "$SRC_D"
analyse_scenario d "$SRC_D" '[]' "keyed:$D_SUB:/d-keyed=10000"
printf 'LEDGER faults-pg-crash-drain seed=%s rounds=1 published=%s accepted=%s stored=%s delivered_before_crash=%s lost=%s order_violations=%s duplicates=%s (%s)\n' \
	"$SEED" "$SCEN_PUBLISHED" "$SCEN_ACCEPTED" "$SCEN_STORED" "$D_BEFORE" \
	"$SCEN_LOST" "$SCEN_VIOL" "$SCEN_DUPS" "${SCEN_DUPS_DETAIL%, }"

# ============================================================ b. SIGTERM in flight

SRC_B=/faults/b/$RUN
B_DELAY=1500
sub_create "b/slow" "$(sub_body "$RECEIVER_URL/b-slow?delay_ms=$B_DELAY" "$SRC_B" '{"max_in_flight": 8}')"
B_SLOW=$SUB_ID
sub_create "b/fast" "$(sub_body "$RECEIVER_URL/b-fast" "$SRC_B")"
B_FAST=$SUB_ID

in_flight_b() {
	curl -sS --max-time 5 "$RECEIVER_URL/_stats?path=/b-slow" | jq -r '.concurrent'
}
enough_in_flight() {
	local c
	c=$(in_flight_b 2>/dev/null) || return 1
	[[ $c =~ ^[0-9]+$ ]] && ((c >= 3))
}

B_CUTS=()
B_TOOK=()
for ((r = 1; r <= B_ROUNDS; r++)); do
	start_publishers b "$r" 8 2 400 100 "$B_LOAD_S" "$SRC_B"
	rng 1000
	sleep "1.$(printf '%03d' "$RNG")"
	poll_until 15 enough_in_flight || die "b: round $r: never 3 deliveries in flight"
	inflight=$(in_flight_b)
	t_sig=$(now_ms)
	HERALD_STOP_TIMEOUT=$((STOP_LIMIT_S + 10)) herald_stop
	took=$(($(now_ms) - t_sig))
	B_CUTS+=("$t_sig")
	B_TOOK+=("$took")
	log "b: round $r: SIGTERM with $inflight requests in flight to /b-slow; herald exited $HERALD_EXIT_STATUS after $took ms"
	expect_eq "$HERALD_EXIT_STATUS" 0 "b: round $r: herald exits 0 on SIGTERM with deliveries in flight"
	check "b: round $r: and within ${STOP_LIMIT_S} s ($took ms)" test "$took" -le $((STOP_LIMIT_S * 1000))
	stop_publishers b "$r"
	rng 1000
	sleep "0.$(printf '%03d' "$RNG")"
	HERALD_LISTEN_PORT=$PORT herald_start "${HERALD_ARGS[@]}"
done
wait_until "$DRAIN_S" "b: every delivery settled after the restarts" settled "$SRC_B"
cuts_json=$(printf '%s\n' "${B_CUTS[@]}" | jq -s -c .)
analyse_scenario b "$SRC_B" "$cuts_json" "slow:$B_SLOW:/b-slow=10000" "fast:$B_FAST:/b-fast=10000"
B_CUT=$(jq '.cut' "$LEDGER_DIR/analysis.b.slow.json")
check "b: some requests were in flight at SIGTERM ($B_CUT)" test "$B_CUT" -gt 0
expect_eq "$(jq -c '[.[] | select((.ok | not) and .http != "000" and .http != "503") | {id, http}]' "$PUBS")" "[]" \
	"b: publishes answered 2xx, or not at all / 503 while herald was stopping"
printf 'LEDGER faults-sigterm seed=%s rounds=%s published=%s accepted=%s stored=%s in_flight_at_sigterm=%s exit_ms=%s lost=%s order_violations=%s duplicates=%s (%s)\n' \
	"$SEED" "$B_ROUNDS" "$SCEN_PUBLISHED" "$SCEN_ACCEPTED" "$SCEN_STORED" "$B_CUT" \
	"$(IFS=,; echo "${B_TOOK[*]}")" "$SCEN_LOST" "$SCEN_VIOL" "$SCEN_DUPS" "${SCEN_DUPS_DETAIL%, }"

# ============================================================ c. misbehaving receivers

SRC_C=/faults/c/$RUN
RETRY='"retry": {"initial_ms": 100, "multiplier": 2, "max_ms": 1000, "jitter": 0.2, "max_attempts": 100}'
CLOSED_PORT=$(free_port) || die "no free port"
C_TIMEOUT_MS=300   # the timeout sink answers after 700 ms
C_DROP=$((C_KEYS + 5))
sub_create "c/healthy" "$(sub_body "$RECEIVER_URL/c-healthy" "$SRC_C")"
C_HEALTHY=$SUB_ID
sub_create "c/timeout" "$(sub_body "$RECEIVER_URL/c-timeout?delay_ms=700" "$SRC_C" "{\"timeout_ms\": $C_TIMEOUT_MS, \"max_in_flight\": 16, $RETRY}")"
C_TIMEOUT=$SUB_ID
sub_create "c/refused" "$(sub_body "http://127.0.0.1:$CLOSED_PORT/c-refused" "$SRC_C" "{$RETRY}")"
C_REFUSED=$SUB_ID
sub_create "c/drop" "$(sub_body "$RECEIVER_URL/c-drop?drop=$C_DROP" "$SRC_C" "{$RETRY}")"
C_DROPSUB=$SUB_ID
sub_create "c/slow" "$(sub_body "$RECEIVER_URL/c-slow?delay_ms=300" "$SRC_C" "{\"max_in_flight\": 4, $RETRY}")"
C_SLOW=$SUB_ID
sub_create "c/random500" "$(sub_body "$RECEIVER_URL/c-500?fail_rate=0.3&seed=$SEED" "$SRC_C" "{$RETRY}")"
C_500=$SUB_ID
sub_create "c/429" "$(sub_body "$RECEIVER_URL/c-429?retry_after=1&retry_after_times=3&status=429" "$SRC_C" "{$RETRY}")"
C_429=$SUB_ID
sub_create "c/gone" "$(sub_body "$RECEIVER_URL/c-gone?status=410" "$SRC_C" "{$RETRY}")"
C_GONE=$SUB_ID

C_LOOPS=2
C_GAP=40
C_T0=$(now_ms)
start_publishers c 1 "$C_KEYS" "$C_LOOPS" $((C_EVENTS / C_LOOPS)) "$C_GAP" 120 "$SRC_C"
for p in "${PUB_PIDS[@]}"; do
	wait "$p"
done
stop_publishers c 1
C_PUBLISHED=$(now_ms)
log "c: publishers done at +$((C_PUBLISHED - C_T0)) ms"
# The sinks that cannot succeed are fixed only once the load is over (and
# no earlier than C_PATCH_S), so they surely finish after the healthy one.
while (($(now_ms) - C_T0 < C_PATCH_S * 1000)); do sleep 0.1; done
sub_status() {
	api GET "/v1/subscriptions/$1"
	[[ $STATUS == 200 ]] && printf '%s' "$RESP" | jq -r '.status'
}
expect_eq "$(sub_status "$C_GONE")" disabled "c/gone: the 410 disabled the subscription"
check "c/refused: its attempts failed without a status" \
	test "$(db_psql "SELECT count(*) FROM attempt WHERE subscription_id = '$C_REFUSED' AND status IS NULL")" -gt 0
check "c/timeout: its attempts timed out" \
	test "$(db_psql "SELECT count(*) FROM attempt WHERE subscription_id = '$C_TIMEOUT' AND status IS NULL")" -gt 0
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$C_TIMEOUT' AND state = 'succeeded'")" 0 \
	"c/timeout: nothing succeeded while the sink answered after timeout_ms"
api PATCH "/v1/subscriptions/$C_TIMEOUT" "$(jq -cn --arg s "$RECEIVER_URL/c-timeout-ok?delay_ms=700" '{sink: $s, delivery: {timeout_ms: 3000}}')"
expect_status 200 "c/timeout: PATCH timeout_ms 3000 (the sink answers after 700 ms)"
expect_json '[.delivery.timeout_ms, .delivery.retry.max_attempts] | map(tostring) | join(",")' 3000,100 \
	"c/timeout: the PATCH answer has timeout_ms 3000 and kept the retry policy"
api PATCH "/v1/subscriptions/$C_REFUSED" "$(jq -cn --arg s "$RECEIVER_URL/c-refused-ok" '{sink: $s}')"
expect_status 200 "c/refused: PATCH the sink to a working path"
api PATCH "/v1/subscriptions/$C_GONE" "$(jq -cn --arg s "$RECEIVER_URL/c-gone-ok" '{sink: $s, status: "active"}')"
expect_status 200 "c/gone: PATCH active with a healthy sink"
log "c: patched timeout, refused and gone at +$(($(now_ms) - C_T0)) ms"
wait_until "$DRAIN_S" "c: every delivery settled" settled "$SRC_C"
analyse_scenario c "$SRC_C" '[]' \
	"healthy:$C_HEALTHY:/c-healthy=10000" \
	"timeout:$C_TIMEOUT:/c-timeout=$C_TIMEOUT_MS,/c-timeout-ok=3000" \
	"refused:$C_REFUSED:/c-refused=10000,/c-refused-ok=10000" \
	"drop:$C_DROPSUB:/c-drop=10000" \
	"slow:$C_SLOW:/c-slow=10000" \
	"random500:$C_500:/c-500=10000" \
	"429:$C_429:/c-429=10000" \
	"gone:$C_GONE:/c-gone=10000,/c-gone-ok=10000"
expect_eq "$SCEN_ACCEPTED" "$SCEN_PUBLISHED" "c: every publish was accepted"

# Each misbehaviour was really seen.
an() { jq "$2" "$LEDGER_DIR/analysis.c.$1.json"; }
check "c/timeout: requests outlived timeout_ms ($(an timeout .answered_other))" test "$(an timeout .answered_other)" -gt 0
expect_eq "$(an drop .dropped)" "$C_DROP" "c/drop: the first $C_DROP connections were closed without an answer"
check "c/random500: some 500s ($(an random500 .answered_other))" test "$(an random500 .answered_other)" -gt 0
expect_eq "$(jq -c '[.[] | select(.path == "/c-429" and .response.status == 429)] | length' "$REQS")" 3 \
	"c/429: three 429 answers with Retry-After"
n_gone=$(jq -c '[.[] | select(.path == "/c-gone")] | length' "$REQS")
check "c/gone: after the 410, at most the requests already in flight reached the gone sink ($n_gone <= 8)" \
	test "$n_gone" -ge 1 -a "$n_gone" -le 8
expect_eq "$(jq -c '[.[] | select(.path == "/c-refused")] | length' "$REQS")" 0 \
	"c/refused: the receiver never saw the refused sink's path"

# No subscriber slowed the healthy one: its worst latency is bounded, and it
# was done before every subscriber whose fault outlasted the load.
H_DONE=$(an healthy .last_done_t)
H_LAT=$(an healthy .max_latency_ms)
finish_line=
slower=()
for l in timeout refused drop slow random500 429 gone; do
	finish_line+="$l +$(($(an "$l" .last_done_t) - H_DONE)) ms, "
done
log "c: the healthy subscription was done at +$((H_DONE - C_T0)) ms; the others finished after it by: ${finish_line%, }"
for l in timeout refused slow gone; do
	[[ $(an "$l" .last_done_t) -gt $H_DONE ]] || slower+=("$l")
done
expect_eq "${slower[*]}" "" \
	"c: the healthy subscription's events all arrived before the timeout, refused, slow and gone ones finished"
check "c: the healthy subscription got every event within ${HEALTHY_MAX_MS} ms of its 2xx (worst $H_LAT ms)" \
	test "$H_LAT" -le "$HEALTHY_MAX_MS"
check "c: the healthy subscription was done within ${HEALTHY_MAX_MS} ms of the last publish" \
	test "$((H_DONE - C_PUBLISHED))" -le "$HEALTHY_MAX_MS"
printf 'LEDGER faults-receivers seed=%s rounds=1 published=%s accepted=%s stored=%s subscriptions=8 lost=%s order_violations=%s duplicates=%s (%s) healthy_worst_latency_ms=%s\n' \
	"$SEED" "$SCEN_PUBLISHED" "$SCEN_ACCEPTED" "$SCEN_STORED" "$SCEN_LOST" "$SCEN_VIOL" \
	"$SCEN_DUPS" "${SCEN_DUPS_DETAIL%, }" "$H_LAT"

finish
