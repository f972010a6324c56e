#!/bin/bash
# Several writer threads (writers = 4): concurrent publishes lose nothing, a
# duplicate published concurrently gets the first one's seq, per key the
# deliveries follow seq order (sequential publishers: publish order too),
# one writer's lost connection fails only requests, and SIGTERM drains them.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE='Content-Type: application/cloudevents+json'
BATCH='Content-Type: application/cloudevents-batch+json'
OUT=$TEST_TMPDIR/out
mkdir -p "$OUT"

# ---------------------------------------------------------------- helpers

# ev ID SOURCE TYPE [KEY [N]]: one structured event; data {key, n, id}.
# (printf, not jq: the publishers should be quick; no value needs escaping)
ev() {
	local pk=
	[[ -n ${4:-} ]] && pk=',"partitionkey":"'$4'"'
	printf '{"specversion":"1.0","id":"%s","source":"%s","type":"%s"%s,"datacontenttype":"application/json","data":{"key":"%s","n":%d,"id":"%s"}}' \
		"$1" "$2" "$3" "$pk" "${4:-}" "${5:-0}" "$1"
}

# post LEDGER CONTENT_TYPE BODY: POST, then append one line per event to
# LEDGER: "id http seconds seq duplicate" (seq and duplicate "-" when not
# 2xx).  A curl failure counts as http 000.
post() {
	local code secs
	API_TIMEOUT=20 api POST /v1/events "$3" -H "$2"
	code=$STATUS
	secs=$ELAPSED
	if [[ $code == 2* ]]; then
		jq -r --arg c "$code" --arg s "$secs" '(.results // [.])[]
			| "\(.id) \($c) \($s) \(.seq) \(.duplicate)"' <<<"$RESP" >>"$1"
	else
		jq -r --arg c "$code" --arg s "$secs" '(if type == "array" then . else [.] end)[]
			| "\(.id) \($c) \($s) - -"' <<<"$3" >>"$1"
	fi
}

# ledger_json FILE...: the ledgers as [{id, http, secs, seq, dup}].
ledger_json() {
	cat "$@" | jq -Rsc '[split("\n")[] | select(length > 0) | split(" ")
		| {id: .[0], http: .[1], secs: (.[2] | tonumber),
		   seq: (.[3] | tonumber? // null), dup: .[4]}]'
}

# stored SOURCE: {id: seq} of the events stored under SOURCE.
stored() {
	db_psql "SELECT coalesce(json_object_agg(id, seq), '{}') FROM event WHERE source = '$1'"
}

# every_2xx_stored: in the ledger $L, each 2xx is stored under its seq, as
# $S (from stored) says.
every_2xx_stored() {
	# (on stdin and from a file: too long for one argument)
	printf '%s' "$S" >"$OUT/stored.json"
	jq -e --slurpfile s "$OUT/stored.json" \
		'[.[] | select(.http | startswith("2")) | select($s[0][.id] != .seq)] | length == 0' \
		<<<"$L" >/dev/null
}

# delivered PATH: the successful requests to PATH in arrival order, each
# {seq (from webhook-id), key, n, id}.
delivered() {
	receiver_requests "$1" | jq -c '[.[] | select(.response.status // 0 | . >= 200 and . < 300)
		| (.body // "{}" | fromjson? // {}) as $d
		| {seq: (.headers["webhook-id"] | ltrimstr("msg_") | tonumber),
		   key: $d.key, n: $d.n, id: $d.id}]'
}

wait_all() {
	local p
	for p in "$@"; do
		wait "$p"
	done
}

# start_workers FN N: FN 0 .. FN N-1 in the background, their pids in pids.
start_workers() {
	local fn=$1 n=$2 w
	pids=()
	for ((w = 0; w < n; w++)); do
		"$fn" "$w" &
		pids+=($!)
	done
}

# ---------------------------------------------------------------- set-up

pg_use_shared_or_start
db_create
receiver_start
# small groups, so that the four writers work side by side
herald_start --writers 4 --writer-batch-max 16
check "herald started 4 writer threads" grep -q 'writer: 4 threads' "$HERALD_LOG"

# ---------------------------------------------------------------- no event lost

log "8 concurrent publishers, 30 single events and 2 batches of 10 each"
SRC_U=urn:writers:unique
uniq_worker() {
	local w=$1 j b
	for ((j = 0; j < 30; j++)); do
		post "$OUT/u.$w" "$CE" "$(ev "u-$w-$j" "$SRC_U" w.plain)"
		if ((j % 15 == 7)); then
			b=$(for ((k = 0; k < 10; k++)); do ev "u-$w-$j-$k" "$SRC_U" w.plain; done | jq -sc .)
			post "$OUT/u.$w" "$BATCH" "$b"
		fi
	done
}
start_workers uniq_worker 8
wait_all "${pids[@]}"
L=$(ledger_json "$OUT"/u.*)
expect_eq "$(jq -c '[.[].http] | group_by(.) | map({(.[0]): length}) | add' <<<"$L")" \
	'{"202":400}' "unique: 400 events, all 202"
expect_eq "$(jq '[.[].seq] | unique | length' <<<"$L")" 400 "unique: 400 distinct seqs"
S=$(stored "$SRC_U")
expect_eq "$(jq length <<<"$S")" 400 "unique: 400 rows stored"
check "unique: each stored under the seq it was answered with" every_2xx_stored
expect_eq "$(jq '[group_by(.id | split("-")[1])[] | select(map(.seq) != (map(.seq) | sort))] | length' <<<"$L")" 0 \
	"unique: each publisher's seqs increase in its publish order"

# ---------------------------------------------------------------- duplicates across writers

log "duplicates: 8 publishers post the same 300 events at once, in opposite orders, 4 rounds"
SRC_D=urn:writers:dup
# body ROUND W: publisher W's request of round R, written beforehand so that
# the publishers start together: a batch of all 300, forward or backward
# (in arrival order, two such groups would deadlock), or one event alone
dup_body() {
	local r=$1 w=$2 i
	if ((w < 6)); then
		if ((w % 2 == 0)); then i=$(seq 0 299); else i=$(seq 299 -1 0); fi
		for i in $i; do ev "d-$r-$i" "$SRC_D" w.plain; done | jq -sc . >"$OUT/dbody.$r.$w"
	else
		ev "d-$r-$((w * 7))" "$SRC_D" w.plain >"$OUT/dbody.$r.$w"
	fi
}
dup_worker() {
	local r=$1 w=$2 ct=$CE
	((w < 6)) && ct=$BATCH
	while [[ ! -e $OUT/dgo.$r ]]; do sleep 0.01; done
	post "$OUT/d.$r.$w" "$ct" "$(<"$OUT/dbody.$r.$w")"
}
for r in 0 1 2 3; do
	pids=()
	for w in 0 1 2 3 4 5 6 7; do
		dup_body "$r" "$w"
		dup_worker "$r" "$w" &
		pids+=($!)
	done
	touch "$OUT/dgo.$r"
	wait_all "${pids[@]}"
done
L=$(ledger_json "$OUT"/d.*)
expect_eq "$(jq -c '[.[].http] | unique - ["200", "202"]' <<<"$L")" '[]' \
	"duplicates: every publish answered 200 or 202 (no 503: no deadlock between writers)"
expect_eq "$(jq '[map(select(.seq != null)) | group_by(.id)[] | select((map(.seq) | unique | length) != 1)] | length' <<<"$L")" 0 \
	"duplicates: every answer for one identity carries the same seq"
expect_eq "$(jq '[group_by(.id)[] | select(([.[] | select(.dup == "false")] | length) != 1)] | length' <<<"$L")" 0 \
	"duplicates: exactly one answer per identity says new, the others duplicate"
expect_eq "$(jq '[.[] | select(.http == "200" and .dup != "true")] | length' <<<"$L")" 0 \
	"duplicates: a single event answered 200 is a duplicate"
S=$(stored "$SRC_D")
expect_eq "$(jq length <<<"$S")" 1200 "duplicates: 1200 events stored once each"
check "duplicates: stored under the seq every answer gave" every_2xx_stored

# ---------------------------------------------------------------- order per key

log "order: 6 keys, each published one event at a time by its own publisher, all at once"
sub_create "sequential" "$(jq -cn --arg s "$RECEIVER_URL/seq" '{sink: $s, types: ["w.seq"],
	delivery: {ordering: "partitionkey", max_in_flight: 16}}')"
SEQ_SUB=$SUB_ID
sub_create "concurrent" "$(jq -cn --arg s "$RECEIVER_URL/hot?delay_ms=5" '{sink: $s, types: ["w.hot"],
	delivery: {ordering: "partitionkey", max_in_flight: 16}}')"
HOT_SUB=$SUB_ID
key_worker() {
	local k=$1 n
	for ((n = 0; n < 15; n++)); do
		post "$OUT/k.$k" "$CE" "$(ev "k-$k-$n" urn:writers:seq w.seq "key$k" "$n")"
	done
}
start_workers key_worker 6
wait_all "${pids[@]}"
L=$(ledger_json "$OUT"/k.*)
expect_eq "$(jq -c '[.[].http] | unique' <<<"$L")" '["202"]' "sequential: 90 publishes all 202"
expect_eq "$(jq '[group_by(.id | split("-")[1])[] | select(map(.seq) != (map(.seq) | sort))] | length' <<<"$L")" 0 \
	"sequential: per key, seq order is publish order"
wait_until 30 "sequential: all 90 delivered" state_is "$SEQ_SUB" succeeded 90
D=$(delivered /seq)
expect_eq "$(jq length <<<"$D")" 90 "sequential: each event delivered once"
expect_eq "$(jq -c '[group_by(.key)[] | select(map(.n) != [range(0; 15)]) | .[0].key]' <<<"$D")" '[]' \
	"sequential: per key, delivered in publish order"

log "order: 8 publishers post to the same 2 keys at once"
hot_worker() {
	local w=$1 n
	for ((n = 0; n < 12; n++)); do
		post "$OUT/h.$w" "$CE" "$(ev "h-$w-$n" urn:writers:hot w.hot "hot$((n % 2))" "$n")"
	done
}
start_workers hot_worker 8
wait_all "${pids[@]}"
L=$(ledger_json "$OUT"/h.*)
expect_eq "$(jq -c '[.[].http] | unique' <<<"$L")" '["202"]' "concurrent: 96 publishes all 202"
wait_until 30 "concurrent: all 96 delivered" state_is "$HOT_SUB" succeeded 96
D=$(delivered /hot)
expect_eq "$(jq length <<<"$D")" 96 "concurrent: each event delivered once"
expect_eq "$(jq -c '[group_by(.key)[] | select(map(.seq) != (map(.seq) | sort)) | .[0].key]' <<<"$D")" '[]' \
	"concurrent: per key, delivered in seq order"
expect_eq "$(jq '[group_by(.key)[] | group_by(.id | split("-")[1])[] | select(map(.n) != (map(.n) | sort))] | length' <<<"$D")" 0 \
	"concurrent: per key, each publisher's events delivered in its publish order"
# one request per key at a time: a key's next request can only have
# arrived after its previous one was answered, delay_ms after it arrived
# (whether the two keys' requests overlapped each other is up to the
# scheduler, so their number in flight together is only bounded)
OVERLAPS=$(receiver_requests /hot | jq '[.[]
	| {t: .time_ms, d: .response.delay_ms,
	   key: ((.body // "{}") | fromjson? // {} | .key)}]
	| group_by(.key)
	| map(sort_by(.t) | . as $r
		| [range(1; length) | select($r[.].t < $r[. - 1].t + $r[. - 1].d - 0.001)]
		| length)
	| add')
expect_eq "$OVERLAPS" 0 "concurrent: one request per key at a time (none sent before its predecessor was answered)"
MAXC=$(curl -sS --max-time 10 "$RECEIVER_URL/_stats?path=/hot" | jq .max_concurrent)
check "concurrent: at most 2 requests in flight for 2 keys (max_concurrent $MAXC)" \
	eval '[[ $MAXC -ge 1 && $MAXC -le 2 ]]'

# ---------------------------------------------------------------- one writer's connection lost

log "a writer's backend is terminated while its group waits, 8 publishers busy"
SRC_T=urn:writers:term
term_worker() {
	local w=$1 j=0
	while [[ ! -e $OUT/term.stop ]] && ((j < 2000)); do
		post "$OUT/t.$w" "$CE" "$(ev "t-$w-$j" "$SRC_T" w.plain)"
		j=$((j + 1))
	done
}
# holder_waits: the session holding t-held (uncommitted) is in its sleep
holder_waits() {
	[[ $(db_psql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND query LIKE '%t-held%pg_sleep%' AND wait_event = 'PgSleep'") -ge 1 ]]
}
# terminate_blocked_writer: end the herald backend whose insert waits for
# the holder
terminate_blocked_writer() {
	[[ $(db_psql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'herald'
		  AND wait_event_type = 'Lock' AND query LIKE '%herald_event_insert(%'") -ge 1 ]]
}
# ledger_has JQ_TEST: the jq test holds for the ledger $L.
ledger_has() {
	jq -e "$1" <<<"$L" >/dev/null
}
# holder_end: end the session holding t-held (its transaction rolls back)
# and reap its psql.  It runs on exit too (at_exit), so that no failure
# leaves the session behind.
HOLDER=
holder_end() {
	local i
	[[ -n $HOLDER ]] || return 0
	# until its psql is gone: it may not have reached pg_sleep yet
	for ((i = 0; i < 100; i++)); do
		kill -0 "$HOLDER" 2>/dev/null || break
		db_psql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			  AND query LIKE '%t-held%pg_sleep%'" >/dev/null 2>&1
		sleep 0.1
	done
	if kill -0 "$HOLDER" 2>/dev/null; then
		log "the session holding t-held did not end: $(cat "$OUT/holder.err")"
		kill "$HOLDER" 2>/dev/null
	fi
	wait "$HOLDER" 2>/dev/null
	HOLDER=
}
# holder_end_on_exit: holder_end, and the term workers told to stop (a
# failure may leave them running)
holder_end_on_exit() {
	holder_end
	touch "$OUT/term.stop" 2>/dev/null
}
at_exit holder_end_on_exit
start_workers term_worker 8
# another session inserts t-held and keeps it uncommitted (until holder_end),
# so the writer that takes t-held waits inside its transaction
db_psql "BEGIN; INSERT INTO event (source, id, type, attrs, data_kind)
	VALUES ('$SRC_T', 't-held', 'w.plain', '{}', 0); SELECT pg_sleep(600); ROLLBACK" \
	>/dev/null 2>"$OUT/holder.err" &
HOLDER=$!
poll_until 15 holder_waits || die "the session holding t-held did not start"
post "$OUT/t.held" "$CE" "$(ev t-held "$SRC_T" w.plain)" &
HELD=$!
check "the writer waiting for t-held was terminated" poll_until 10 terminate_blocked_writer
wait "$HELD"
# n_202 LEDGER...: how many 202 the ledgers hold
n_202() {
	cat "$@" 2>/dev/null | awk '$2 == 202 { n++ } END { print n + 0 }'
}
N_AT_TERM=$(n_202 "$OUT"/t.[0-9]*)
more_202() { (($(n_202 "$OUT"/t.[0-9]*) > N_AT_TERM)); }
wait_until 20 "terminated: the other writers went on answering 202 ($N_AT_TERM before)" more_202
touch "$OUT/term.stop"
wait_all "${pids[@]}"
holder_end
expect_eq "$(cut -d' ' -f2 "$OUT/t.held")" 503 "terminated: the terminated writer's request answered 503"
L=$(ledger_json "$OUT"/t.*)
log "publishes meanwhile: $(jq -c '[.[].http] | group_by(.) | map({(.[0]): length}) | add' <<<"$L")"
expect_eq "$(jq -c '[.[].http] | unique - ["202", "503"]' <<<"$L")" '[]' "terminated: every publish answered 202 or 503"
expect_eq "$(jq '[.[] | select(.secs > 5)] | length' <<<"$L")" 0 "terminated: every answer within 5 s"
S=$(stored "$SRC_T")
check "terminated: every 202 is stored under its seq" every_2xx_stored
post "$OUT/t.after" "$CE" "$(ev t-held "$SRC_T" w.plain)"
expect_eq "$(cut -d' ' -f2,5 "$OUT/t.after")" "202 false" "terminated: t-held published again is 202, new"

# ---------------------------------------------------------------- SIGTERM drains every writer

log "SIGTERM while 8 publishers are busy"
SRC_S=urn:writers:stop
stop_worker() {
	local w=$1 j=0
	while ((j < 2000)); do
		post "$OUT/s.$w" "$CE" "$(ev "s-$w-$j" "$SRC_S" w.plain)"
		[[ $(tail -n 1 "$OUT/s.$w" | cut -d' ' -f2) == 2* ]] || break
		j=$((j + 1))
	done
}
start_workers stop_worker 8
some_202() { (($(n_202 "$OUT"/s.*) > 0)); }
poll_until 20 some_202 || log "stop: no publish accepted in 20 s"
herald_stop
expect_eq "$HERALD_EXIT_STATUS" 0 "stop: herald exits 0 on SIGTERM under load"
wait_all "${pids[@]}"
L=$(ledger_json "$OUT"/s.*)
log "stop: $(jq -c '[.[].http] | group_by(.) | map({(.[0]): length}) | add' <<<"$L")"
check "stop: some publishes were accepted before the stop" \
	ledger_has '[.[] | select(.http == "202")] | length > 0'
S=$(stored "$SRC_S")
check "stop: every 202 is stored under its seq" every_2xx_stored

finish
