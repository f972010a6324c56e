#!/bin/bash
# PostgreSQL outages: herald answers 503 quickly, never a false 2xx, reconnects
# by itself, and every event it acknowledged is in the database afterwards.
# With PostgreSQL stopped and frozen, 40 concurrent requests over every kind
# of route (reads, PATCH, keys, a key not in the cache) all answer 503 within
# 5 s while /healthz answers at once; all works again afterwards.
# Runs its own PostgreSQL cluster, since it stops, freezes and starts it.
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE='Content-Type: application/cloudevents+json'
RUN=$$-$RANDOM

pg_start_private
db_create
herald_start --db-pool-size 4

# event_json SOURCE ID
event_json() {
	printf '{"specversion":"1.0","source":"%s","id":"%s","type":"com.example.outage","datacontenttype":"application/json","data":{"n":1}}' "$1" "$2"
}

# publish SOURCE ID: POST one structured event (sets STATUS, RESP, ELAPSED).
publish() {
	api POST /v1/events "$(event_json "$1" "$2")" -H "$CE"
}

# is_error_json: RESP is {"error": string, "message": string}.
is_error_json() {
	printf '%s' "$RESP" | jq -e '(.error|type) == "string" and (.message|type) == "string"' >/dev/null 2>&1
}

readyz_is() {
	api GET /readyz
	[[ $STATUS == "$1" ]]
}

# The requests of a storm: "NAME METHOD PATH BODY KEY" (BODY and KEY may be
# "-": none, the admin key).  Set up below, before the outage.
STORM_KINDS=()

# storm_one KIND_INDEX OUT BODY: one request of the storm; writes
# "<status> <seconds> <name>" to OUT and the answer's body to BODY.
storm_one() {
	local name method path body key args
	read -r name method path body key <<<"${STORM_KINDS[$1]}"
	[[ $key != - ]] || key=$ADMIN_KEY
	args=(-s -X "$method" --max-time 15 -o "$3" -w "%{http_code} %{time_total} $name\n"
		-H "Authorization: Bearer $key")
	[[ $body == - ]] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
	curl "${args[@]}" "$HERALD_URL$path" >"$2" 2>/dev/null || true
	local code=000
	read -r code _ <"$2" 2>/dev/null || true
	openapi_record "$method" "$HERALD_URL$path" "$code" "$3"
}

# storm LABEL N: N requests at once, cycling through STORM_KINDS, while
# PostgreSQL is unavailable: every one must answer 503 with
# {"error":"unavailable","message":...} within 5 s, and /healthz must
# answer at once while they wait.
storm() {
	local label=$1 n=$2 dir=$TEST_TMPDIR/storm-$1 i pids=() slow bad code secs name
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do
		storm_one $((i % ${#STORM_KINDS[@]})) "$dir/r$i" "$dir/b$i" &
		pids+=($!)
	done
	# the storm holds every worker and fills the queue by now
	sleep 1
	api GET /healthz
	expect_status 200 "$label: /healthz answers 200 during a storm of $n requests"
	check "$label: and within 1 s (${ELAPSED}s)" awk -v t="$ELAPSED" 'BEGIN { exit !(t < 1) }'
	for i in "${pids[@]}"; do
		wait "$i"
	done
	bad=
	for ((i = 0; i < n; i++)); do
		read -r code secs name <"$dir/r$i" 2>/dev/null || code=none
		if [[ $code != 503 ]] ||
			! jq -e '.error == "unavailable" and (.message|type) == "string"' "$dir/b$i" >/dev/null 2>&1; then
			bad+="$name:$code "
		fi
	done
	expect_eq "$bad" "" "$label: all $n concurrent requests answer 503 {\"error\":\"unavailable\"}"
	slow=$(cat "$dir"/r* | sort -k2,2 -g | tail -n 1)
	log "$label: slowest answer: $slow"
	check "$label: every answer comes within 5 s (slowest: $slow)" \
		awk -v t="$(cut -d' ' -f2 <<<"$slow")" 'BEGIN { exit !(t < 5) }'
}

# works_again LABEL: each kind of request of the storm succeeds, and what
# the storm tried to change did not change.
works_again() {
	local label=$1
	api GET /v1/subscriptions
	expect_status 200 "$label: GET /v1/subscriptions answers 200"
	api GET "/v1/subscriptions/$STORM_SUB"
	expect_status 200 "$label: GET /v1/subscriptions/{id} answers 200"
	expect_json '.status' paused "$label: the PATCH refused with 503 changed nothing"
	KEY=$STORM_VICTIM_KEY api GET /v1/subscriptions
	expect_status 200 "$label: the key whose DELETE was refused with 503 still works"
	KEY=$STORM_FRESH_KEY api GET /v1/subscriptions
	expect_status 200 "$label: the key never used before (looked up in the database) answers 200"
	api GET /v1/keys
	expect_status 200 "$label: GET /v1/keys answers 200"
	api GET '/v1/events?limit=1'
	expect_status 200 "$label: GET /v1/events answers 200"
	api PATCH "/v1/subscriptions/$STORM_SUB" '{"status":"active"}'
	expect_status 200 "$label: PATCH /v1/subscriptions/{id} answers 200"
	api PATCH "/v1/subscriptions/$STORM_SUB" '{"status":"paused"}'
	expect_status 200 "$label: and again, back to paused"
}

# ------------------------------------------------------------ before the outage

wait_until 10 "/readyz is 200 with PostgreSQL up" readyz_is 200

SRC_BEFORE=/outage/before/$RUN
declare -A BEFORE_SEQ=()
all_202=1
for i in $(seq 1 10); do
	publish "$SRC_BEFORE" "b$i"
	if [[ $STATUS != 202 ]]; then
		all_202=0
		log "event b$i answered $STATUS: $RESP"
		continue
	fi
	BEFORE_SEQ[b$i]=$(printf '%s' "$RESP" | jq -r '.seq')
done
expect_eq "$all_202" 1 "10 events published before the outage answer 202"

# What the storms below ask for: a subscription, a key to revoke, and a
# key never used (so never in herald's key cache: checking it takes the
# database).
api POST /v1/subscriptions '{"sink":"http://127.0.0.1:9/outage","types":["com.example.none"],"status":"paused"}'
expect_status 201 "a subscription for the storms"
STORM_SUB=$(printf '%s' "$RESP" | jq -r '.id // empty')
api POST /v1/keys '{"name":"storm-victim","scopes":["subscribe"]}'
expect_status 201 "a key for the storms to try to revoke"
STORM_VICTIM_ID=$(printf '%s' "$RESP" | jq -r '.id // empty')
STORM_VICTIM_KEY=$(printf '%s' "$RESP" | jq -r '.key // empty')
api POST /v1/keys '{"name":"storm-fresh","scopes":["subscribe"]}'
expect_status 201 "a key that is first used during the outage"
STORM_FRESH_KEY=$(printf '%s' "$RESP" | jq -r '.key // empty')
[[ -n $STORM_SUB && -n $STORM_VICTIM_ID && -n $STORM_FRESH_KEY ]] || die "storm fixtures missing"
STORM_KINDS=(
	"list-subscriptions GET /v1/subscriptions - -"
	"get-subscription GET /v1/subscriptions/$STORM_SUB - -"
	'patch-subscription PATCH /v1/subscriptions/'"$STORM_SUB"' {"status":"active"} -'
	"list-keys GET /v1/keys - -"
	'create-key POST /v1/keys {"name":"storm","scopes":["publish"]} -'
	"revoke-key DELETE /v1/keys/$STORM_VICTIM_ID - -"
	"uncached-key GET /v1/subscriptions - $STORM_FRESH_KEY"
	"list-events GET /v1/events?limit=1 - -"
	"get-event GET /v1/events/1 - -"
	"readyz GET /readyz - -"
)
STORM_N=40

# ------------------------------------------------------------ PostgreSQL down

pg_stop || die "cannot stop PostgreSQL"
log "PostgreSQL stopped"

SRC_DOWN=/outage/down/$RUN
slowest=0
statuses=()
bodies_ok=1
for i in 1 2 3; do
	publish "$SRC_DOWN" "d$i"
	statuses+=("$STATUS")
	is_error_json || bodies_ok=0
	log "POST during outage: $STATUS in ${ELAPSED}s"
	if awk -v a="$ELAPSED" -v b="$slowest" 'BEGIN { exit !(a > b) }'; then
		slowest=$ELAPSED
	fi
done
expect_eq "${statuses[*]}" "503 503 503" "POST /v1/events answers 503 while PostgreSQL is down"
check "the 503 answers are JSON {error, message}" test "$bodies_ok" -eq 1
check "the 503 comes within 5 s (slowest ${slowest}s)" \
	awk -v a="$slowest" 'BEGIN { exit !(a < 5) }'

readyz_is 200
check "/readyz is not 200 while PostgreSQL is down (got $STATUS)" test "$STATUS" != 200
api GET /healthz
expect_status 200 "/healthz stays 200 while PostgreSQL is down"
api GET /v1/subscriptions
expect_status 503 "GET /v1/subscriptions answers 503 while PostgreSQL is down"
check "its body is JSON {error, message}" is_error_json
api POST /v1/events "[$(event_json "$SRC_DOWN" batch1),$(event_json "$SRC_DOWN" batch2)]" \
	-H 'Content-Type: application/cloudevents-batch+json'
expect_status 503 "a batch answers 503 while PostgreSQL is down"
check "its body is JSON {error, message}" is_error_json
KEY=$STORM_FRESH_KEY api GET /v1/subscriptions
expect_status 503 "a key not in the cache answers 503 (not 401) while PostgreSQL is down"
check "its body is JSON {error, message}" is_error_json

storm stopped "$STORM_N"

# ------------------------------------------------------------ PostgreSQL back

pg_start || die "cannot restart PostgreSQL"
log "PostgreSQL started again"
wait_until 20 "/readyz is 200 again after PostgreSQL is back, without restarting herald" readyz_is 200
check "herald kept running through the outage" kill -0 "$HERALD_PID"

publish "$SRC_BEFORE" after1
expect_status 202 "the first POST /v1/events after the outage answers 202"

# GET /v1/events/{seq} is checked for its shape by events.sh; here only that
# the event is there: its id and source, at the top or under "event".
missing=()
for id in "${!BEFORE_SEQ[@]}"; do
	api GET "/v1/events/${BEFORE_SEQ[$id]}"
	if [[ $STATUS != 200 ]] ||
		[[ $(printf '%s' "$RESP" | jq -r '(.event // .) | .id + " " + .source') != "$id $SRC_BEFORE" ]]; then
		missing+=("$id:${BEFORE_SEQ[$id]}:$STATUS")
	fi
done
expect_eq "${missing[*]}" "" "every event accepted before the outage is still stored (GET by seq)"

api GET "/v1/events?source=$(jq -rn --arg s "$SRC_DOWN" '$s|@uri')&limit=100"
expect_status 200 "list the events of the refused source"
expect_json '.items | length' 0 "no event that got a 503 was stored"
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE source = '$SRC_DOWN'")" 0 \
	"the database has no row of the refused events"

publish "$SRC_DOWN" d1
expect_status 202 "re-posting an event that got a 503 now answers 202 (it was never stored)"
expect_json '.duplicate' false "and it is not a duplicate"
works_again "after the stop"

# A quick restart with no traffic while it is down: herald's idle
# connections are stale now, and the next requests must still succeed.
pg_restart || die "cannot restart PostgreSQL"
log "PostgreSQL restarted (no traffic while down)"
wait_until 20 "/readyz is 200 after a quick PostgreSQL restart" readyz_is 200
publish "$SRC_BEFORE" after2
expect_status 202 "the first POST /v1/events after a quick restart answers 202"
stale_503=0
for i in 1 2 3 4 5 6; do
	api GET /v1/subscriptions
	[[ $STATUS == 200 ]] || stale_503=$((stale_503 + 1))
done
expect_eq "$stale_503" 0 "authenticated reads after a quick restart answer 200 (no stale pooled connection)"

# ------------------------------------------------------------ outage under load

SRC_LOAD=/outage/load/$RUN
LOAD_DIR=$TEST_TMPDIR/load
mkdir -p "$LOAD_DIR"
LOAD_SECONDS=60
WORKERS=8

# worker K: publish until told to stop (or the deadline); one line per
# request: "<status> <id> <body>".
worker() {
	local k=$1 deadline=$2 i=0 id out code body
	while [[ ! -e $LOAD_DIR/stop ]] && (($(now_ms) < deadline && i < 5000)); do
		i=$((i + 1))
		id=w$k-$i
		out=$(curl -s --max-time 10 -w '\n%{http_code}' \
			-H "Authorization: Bearer $ADMIN_KEY" -H "$CE" \
			--data-binary "$(event_json "$SRC_LOAD" "$id")" \
			"$HERALD_URL/v1/events" 2>/dev/null) || true
		code=${out##*$'\n'}
		body=${out%$'\n'*}
		[[ $out == *$'\n'* ]] || body=
		[[ -n $code ]] || code=000
		printf '%s %s %s\n' "$code" "$id" "${body//$'\n'/ }" >>"$LOAD_DIR/w$k"
	done
}

deadline=$(($(now_ms) + LOAD_SECONDS * 1000))
wpids=()
for k in $(seq 1 $WORKERS); do
	worker "$k" "$deadline" &
	wpids+=($!)
done
# load_saw PATTERN: some request of the load got a status matching PATTERN
load_saw() {
	cat "$LOAD_DIR"/w* 2>/dev/null | awk -v p="$1" '$1 ~ p { f = 1 } END { exit !f }'
}
# stop PostgreSQL once the load is being accepted, and the load once it
# has been refused: both sides of the outage are seen, however slow
poll_until 30 load_saw '^2' || log "no publish of the load accepted in 30 s"
pg_stop || die "cannot stop PostgreSQL under load"
log "PostgreSQL stopped under load"
poll_until 30 load_saw '^[^2]' || log "no publish of the load refused in 30 s"
touch "$LOAD_DIR/stop"
for p in "${wpids[@]}"; do
	wait "$p"
done
pg_start || die "cannot restart PostgreSQL after the load"
log "PostgreSQL started again"
wait_until 20 "/readyz is 200 again after the outage under load" readyz_is 200

cat "$LOAD_DIR"/w* >"$LOAD_DIR/all"
accepted=$(awk '$1 ~ /^2/' "$LOAD_DIR/all" | wc -l)
refused=$(awk '$1 !~ /^2/' "$LOAD_DIR/all" | wc -l)
other=$(awk '$1 !~ /^2/ && $1 != 503' "$LOAD_DIR/all" | awk '{ print $1 }' | sort | uniq -c | tr '\n' ' ')
log "under load: $accepted accepted (2xx), $refused refused"
[[ -z $other ]] || log "refusals other than 503: $other"
check "the load published some events while PostgreSQL was up ($accepted)" test "$accepted" -gt 0
check "the load saw refusals while PostgreSQL was down ($refused)" test "$refused" -gt 0
expect_eq "$other" "" "every refusal under load is a 503"

awk '$1 ~ /^2/ { print $2 }' "$LOAD_DIR/all" | sort >"$LOAD_DIR/acked"
db_psql "SELECT id FROM event WHERE source = '$SRC_LOAD'" | sort >"$LOAD_DIR/stored"
lost=$(comm -23 "$LOAD_DIR/acked" "$LOAD_DIR/stored" | wc -l)
expect_eq "$lost" 0 "every event acknowledged with 2xx under load is in the database"
[[ $lost -eq 0 ]] || log "lost: $(comm -23 "$LOAD_DIR/acked" "$LOAD_DIR/stored" | head -n 20 | tr '\n' ' ')"

# the seq in each 2xx answer is the stored seq of that event
sed -n 's/^2[0-9][0-9] [^ ]* //p' "$LOAD_DIR/all" |
	jq -r 'select(type == "object") | "\(.id) \(.seq)"' 2>/dev/null | sort >"$LOAD_DIR/acked_seq"
db_psql "SELECT id || ' ' || seq FROM event WHERE source = '$SRC_LOAD'" | sort >"$LOAD_DIR/stored_seq"
expect_eq "$(comm -23 "$LOAD_DIR/acked_seq" "$LOAD_DIR/stored_seq" | wc -l)" 0 \
	"the seq of every 2xx answer under load is the stored seq"
expect_eq "$(wc -l <"$LOAD_DIR/acked_seq")" "$accepted" "every 2xx answer under load carried an id and a seq"

publish "$SRC_LOAD" after-load
expect_status 202 "POST /v1/events works after the outage under load"

# Every pooled connection is open now.  Restart PostgreSQL with no traffic,
# then hit herald with concurrent requests: none may fail on a stale session.
pg_restart || die "cannot restart PostgreSQL"
log "PostgreSQL restarted (no traffic while down, pool warm)"
api GET /readyz
expect_status 200 "the first /readyz after a quick restart is 200"
burst_pids=()
for k in 1 2 3 4 5 6 7 8; do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 \
		-H "Authorization: Bearer $ADMIN_KEY" \
		"$HERALD_URL/v1/subscriptions" >"$LOAD_DIR/burst-get-$k" 2>/dev/null &
	burst_pids+=($!)
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 \
		-H "Authorization: Bearer $ADMIN_KEY" -H "$CE" \
		--data-binary "$(event_json "$SRC_LOAD" "burst-$k")" \
		"$HERALD_URL/v1/events" >"$LOAD_DIR/burst-post-$k" 2>/dev/null &
	burst_pids+=($!)
done
for p in "${burst_pids[@]}"; do
	wait "$p"
done
expect_eq "$(cat "$LOAD_DIR"/burst-get-* | sort | uniq -c | awk '{ print $2 "x" $1 }' | tr '\n' ' ')" \
	"200x8 " "8 concurrent GET /v1/subscriptions after a quick restart all answer 200"
expect_eq "$(cat "$LOAD_DIR"/burst-post-* | sort | uniq -c | awk '{ print $2 "x" $1 }' | tr '\n' ' ')" \
	"202x8 " "8 concurrent POST /v1/events after a quick restart all answer 202"

# ------------------------------------------------------------ PostgreSQL hung
# An unreachable server that does not refuse (a partition, a frozen host)
# is simulated by stopping every process of the cluster with SIGSTOP: the
# sockets stay open and nothing answers.  The 5 s promise holds here too.

if pg_freeze; then
	log "PostgreSQL frozen (SIGSTOP ${PG_FROZEN[*]})"
	API_TIMEOUT=8 publish "$SRC_DOWN" hung1
	out="$STATUS $ELAPSED"
	API_TIMEOUT=6 api GET /readyz
	ready_status=$STATUS
	storm frozen "$STORM_N"
	pg_thaw
	log "PostgreSQL thawed; POST answered ${out:-nothing} (status, seconds)"
	check "POST /v1/events answers 503 within 5 s while PostgreSQL hangs (got ${out:-nothing})" \
		awk -v s="${out%% *}" -v t="${out#* }" 'BEGIN { exit !(s == 503 && t < 5) }'
	check "/readyz is not 200 while PostgreSQL hangs (got $ready_status; 000: no answer in 6 s)" \
		test "$ready_status" != 200
	wait_until 20 "/readyz is 200 again once PostgreSQL runs again" readyz_is 200
	publish "$SRC_LOAD" after-freeze
	expect_status 202 "POST /v1/events works once PostgreSQL runs again"
	works_again "after the freeze"
else
	_not_ok "find the postmaster of the private cluster" "no pid in $PG_DIR/data/postmaster.pid"
fi

# ------------------------------------------------------------ SIGTERM

port=$HERALD_PORT
pid=$HERALD_PID
t0=$(now_ms)
HERALD_STOP_TIMEOUT=10 herald_stop "$pid"
took=$(($(now_ms) - t0))
expect_eq "$HERALD_EXIT_STATUS" 0 "herald exits 0 on SIGTERM"
check "and within 10 s (${took} ms)" test "$took" -lt 10000
HERALD_START_TIMEOUT=5 HERALD_LISTEN_PORT=$port herald_start --db-pool-size 4
expect_eq "$HERALD_PORT" "$port" "herald restarts at once on the same port (SO_REUSEADDR)"
publish "$SRC_LOAD" after-restart
expect_status 202 "and accepts events"

finish
