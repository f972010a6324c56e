#!/bin/bash
# Bulk operations over a 40,000-event history: a replay is answered at
# once (202, the operation) whatever the history's size, publishes go on
# during it, a dry run counts what a run enqueues, at most 2 per
# subscription (409 beyond), cancel, kill -9 and SIGTERM mid-way (SIGTERM
# within the drain bound), each resumed to every delivery enqueued once,
# and tenant isolation.
#
# Mid-way is made certain, not hoped for: the last 20,000 events have the
# partitionkey "late", and the test holds that key's advisory lock (the
# one every change to its deliveries takes, src/keyhead.c) from a session
# of its own, so the operation stops after exactly 20,000.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

N=40000
HALF=20000
BATCH=(-H 'Content-Type: application/cloudevents-batch+json')
HOLDER=bulkops_key_lock

# ---------------------------------------------------------------- helpers

# lock_id SUB KEY: the advisory lock of (SUB, KEY), as src/keyhead.c
# computes it (FNV-1a with herald's basis over SUB, 0x1f, KEY).
lock_id() {
	local s="$1"$'\x1f'"$2" h=1469598103934665603 i c
	for ((i = 0; i < ${#s}; i++)); do
		printf -v c '%d' "'${s:i:1}"
		h=$(((h ^ c) * 1099511628211))
	done
	echo $((h & 0x7fffffffffffffff))
}

# hold_key SUB KEY: hold the key's lock from a session of our own until
# release_key.
hold_key() {
	local id
	id=$(lock_id "$1" "$2")
	PGAPPNAME=$HOLDER "$(_psql_bin)" -X -q -d "$DATABASE_URL" \
		-c "SELECT pg_advisory_lock($id)" -c "SELECT pg_sleep(600)" \
		>/dev/null 2>&1 &
	HOLDER_PID=$!
	poll_until 10 held "$id" || die "the test could not take the key lock"
}
held() {
	[[ $(db_psql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND ((classid::bigint << 32) | objid::bigint) = $1") == 1 ]]
}
release_key() {
	db_psql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$HOLDER'" >/dev/null
	wait "$HOLDER_PID" 2>/dev/null || true
}

# op_field SUB OP FIELD: one field of the operation, from the table.
op_field() {
	db_psql "SELECT $3 FROM bulk_operation WHERE id = $2 AND subscription_id = '$1'"
}
op_enqueued_is() { [[ $(op_field "$1" "$2" enqueued) == "$3" ]]; }
op_row_state_is() { [[ $(op_field "$1" "$2" state) == "$3" ]]; }
# op_state_is SUB OP STATE: through the API (RESP is the operation).
op_state_is() {
	api GET "/v1/subscriptions/$1/operations/$2"
	[[ $STATUS == 200 ]] && [[ $(printf '%s' "$RESP" | jq -r '.state') == "$3" ]]
}
rows_of() {
	db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$1'"
}
# a runner waits for a lock (the one the test holds)
runner_waits() {
	[[ $(db_psql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") -ge 1 ]]
}

# a cancel waits for the row the chunk in progress holds
cancel_waits() {
	[[ $(db_psql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND wait_event_type = 'Lock' AND query LIKE 'UPDATE bulk_operation o SET state = ''cancelled''%'") -ge 1 ]]
}

# start_replay DESC SUB: POST a from_seq replay over the history; 202 with
# the operation; sets OP.
start_replay() {
	api POST "/v1/subscriptions/$2/replay" '{"from_seq":'"$FIRST"'}'
	expect_status 202 "$1: 202"
	OP=$(printf '%s' "$RESP" | jq -r '.id')
	[[ $OP =~ ^[0-9]+$ ]] || die "$1: no operation id in ${RESP:0:300}"
}

# blocked_at_half DESC SUB OP: the operation re-queued the first half and
# waits for the held key.
blocked_at_half() {
	wait_until 60 "$1: the first $HALF are enqueued" op_enqueued_is "$2" "$3" "$HALF"
	wait_until 10 "$1: then the runner waits for the held key" runner_waits
	expect_eq "$(op_field "$2" "$3" enqueued)" "$HALF" "$1: and no more were enqueued"
}

# ---------------------------------------------------------------- setup

pg_use_shared_or_start
db_create
receiver_start
herald_start

api POST /v1/keys '{"name":"other-tenant","scopes":["subscribe"]}'
expect_status 201 "another tenant's key"
KEY_B=$(printf '%s' "$RESP" | jq -r '.key')

# 40,000 events in batches of 1,000: keys k0..k3, then "late"
FIRST=
for ((c = 0; c < N; c += 1000)); do
	body=$(jq -cn --argjson c "$c" --argjson half "$HALF" '[range($c; $c + 1000) as $i
		| {specversion: "1.0", id: "b-\($i)", source: "/test/bulk", type: "t.bulk",
		   partitionkey: (if $i < $half then "k\($i % 4)" else "late" end)}]')
	api POST /v1/events "$body" "${BATCH[@]}"
	[[ $STATUS == 202 ]] || die "batch refused: $STATUS ${RESP:0:300}"
	[[ -n $FIRST ]] || FIRST=$(printf '%s' "$RESP" | jq -r '.results[0].seq')
done
_ok "$N events published"

# every subscription is paused (nothing is sent) and made after the events
# (the replay makes every delivery row)
SUB_BODY='{"sink":"'"$RECEIVER_URL"'/bulk","types":["t.bulk"],"status":"paused"}'

# ---------------------------------------------------------------- dry run, then the run

sub_create "A" "$SUB_BODY"
SUB_A=$SUB_ID
api POST "/v1/subscriptions/$SUB_A/replay" '{"from_seq":'"$FIRST"',"dry_run":true}'
expect_status 200 "dry run: 200"
expect_json '.selected' "$N" "dry run: $N would be enqueued"
check "dry run over $N events answered within 2 s ($ELAPSED s)" awk -v t="$ELAPSED" 'BEGIN { exit !(t < 2) }'
api GET "/v1/subscriptions/$SUB_A/operations"
expect_json '.items | length' 0 "dry run: no operation recorded"
expect_eq "$(rows_of "$SUB_A")" 0 "dry run: nothing enqueued"

# the baseline: the slowest of 5 single publishes (one short transaction
# each, as recording the operation is) on this machine, now
BASE=0
for i in 1 2 3 4 5; do
	api POST /v1/events '{"specversion":"1.0","id":"before-'"$i"'","source":"/test/bulk","type":"t.other"}' \
		-H 'Content-Type: application/cloudevents+json'
	[[ $STATUS == 202 ]] || die "publish before the replay: $STATUS"
	BASE=$(awk -v a="$BASE" -v b="$ELAPSED" 'BEGIN { print (b > a ? b : a) }')
done
start_replay "replay of $N" "$SUB_A"
OP_A=$OP
# 100 ms above what a one-row write takes now: the answer does not wait for
# the 40,000 (the dry run that counts them is allowed 2 s)
check "the replay is answered within 100 ms of a single publish ($ELAPSED s; publish $BASE s), whatever the history" \
	awk -v t="$ELAPSED" -v b="$BASE" 'BEGIN { exit !(t < b + 0.1) }'
expect_json '.kind' replay "kind replay"
expect_json '.subscription' "$SUB_A" "names its subscription"
expect_json '.params.from_seq' "$FIRST" "params as given"
expect_json '.enqueued | type' number "enqueued is a number"
expect_json '.error' null "no error"
expect_eq "$(resp_header Location)" "/v1/subscriptions/$SUB_A/operations/$OP_A" "Location names it"

# publishes while it runs are answered as usual
slow=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	api POST /v1/events '{"specversion":"1.0","id":"during-'"$i"'","source":"/test/bulk","type":"t.other"}' \
		-H 'Content-Type: application/cloudevents+json'
	[[ $STATUS == 202 ]] || die "publish during the replay: $STATUS"
	awk -v t="$ELAPSED" -v b="$BASE" 'BEGIN { exit !(t < b + 1) }' || slow=$((slow + 1))
done
expect_eq "$slow" 0 "10 publishes during the replay, each answered within 1 s of the slowest before it ($BASE s)"
log "operation A was $(op_field "$SUB_A" "$OP_A" state) at the last publish"

wait_until 120 "replay of $N: succeeded" op_state_is "$SUB_A" "$OP_A" succeeded
expect_json '.enqueued' "$N" "replay of $N: enqueued $N, the dry run's count"
expect_json '.selected' "$N" "replay of $N: selected $N"
expect_json '.started_at != null and .finished_at != null' true "started and finished times"
expect_eq "$(rows_of "$SUB_A")" "$N" "replay of $N: $N delivery rows"

# the requeue of failed deliveries: dry run and run agree
db_psql "UPDATE delivery SET state = 'failed', ready = false WHERE subscription_id = '$SUB_A' AND seq % 7 = 0" >/dev/null
NFAILED=$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$SUB_A' AND state = 'failed'")
api POST "/v1/subscriptions/$SUB_A/replay" '{"state":"failed","dry_run":true}'
expect_status 200 "requeue dry run: 200"
expect_json '.selected' "$NFAILED" "requeue dry run: $NFAILED"
api POST "/v1/subscriptions/$SUB_A/replay" '{"state":"failed"}'
expect_status 202 "requeue: 202"
expect_json '.kind' requeue_failed "kind requeue_failed"
OP_R=$(printf '%s' "$RESP" | jq -r '.id')
wait_until 60 "requeue: succeeded" op_state_is "$SUB_A" "$OP_R" succeeded
expect_json '.enqueued' "$NFAILED" "requeue: enqueued the dry run's count"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$SUB_A' AND state = 'failed'")" 0 \
	"requeue: nothing failed any more"

# list, newest first, paged
api GET "/v1/subscriptions/$SUB_A/operations"
expect_status 200 "list: 200"
expect_json '[.items[].id] | join(",")' "$OP_R,$OP_A" "list: newest first"
api GET "/v1/subscriptions/$SUB_A/operations?limit=1"
expect_json '.next_before' "$OP_R" "list: a full page names the next"
api GET "/v1/subscriptions/$SUB_A/operations?before=$OP_R"
expect_json '[.items[].id] | join(",")' "$OP_A" "list: the next page"
expect_json '.next_before' null "list: the last page"
api POST "/v1/subscriptions/$SUB_A/operations/$OP_A/cancel"
expect_status 409 "cancel a finished one: 409"
expect_json '.error' conflict "its error is conflict"

# another tenant's: 404, as for the subscription
KEY=$KEY_B api GET "/v1/subscriptions/$SUB_A/operations/$OP_A"
expect_status 404 "another tenant's operation is 404"
KEY=$KEY_B api GET "/v1/subscriptions/$SUB_A/operations"
expect_status 404 "another tenant's list is 404"
KEY=$KEY_B api POST "/v1/subscriptions/$SUB_A/operations/$OP_A/cancel"
expect_status 404 "another tenant's cancel is 404"
KEY=$KEY_B api POST "/v1/subscriptions/$SUB_A/replay" '{"state":"failed"}'
expect_status 404 "another tenant's replay is 404"
api GET "/v1/subscriptions/$SUB_A/operations/999999"
expect_status 404 "an unknown operation is 404"
api GET "/v1/subscriptions/$SUB_A/operations/x1"
expect_status 404 "a malformed operation id is 404"
api POST "/v1/subscriptions/$SUB_A/replay" '{"from_seq":1,"dry_run":"yes"}'
expect_status 400 "dry_run not a boolean: 400"
api POST "/v1/subscriptions/$SUB_A/replay" '{"dry_run":true}'
expect_status 400 "dry_run without a selector: 400"

# ---------------------------------------------------------------- four at once, kill -9 mid-way

sub_create "B" "$SUB_BODY"
SUB_B=$SUB_ID
hold_key "$SUB_B" late
FOUR=()
for i in 1 2 3 4; do
	curl -sS -o /dev/null -w '%{http_code}\n' --max-time 5 -H "Authorization: Bearer $ADMIN_KEY" \
		-H 'Content-Type: application/json' -d '{"from_seq":'"$FIRST"'}' \
		"$HERALD_URL/v1/subscriptions/$SUB_B/replay" >"$TEST_TMPDIR/four.$i" &
	FOUR+=($!)
done
for p in "${FOUR[@]}"; do wait "$p" || true; done
expect_eq "$(cat "$TEST_TMPDIR"/four.* | sort | tr '\n' ' ')" "202 202 409 409 " \
	"four at once: 2 recorded, 2 refused with 409"
api POST "/v1/subscriptions/$SUB_B/replay" '{"from_seq":'"$FIRST"'}'
expect_status 409 "a third while 2 are unfinished: 409"
expect_json '.error' conflict "its error is conflict"
read -r OP_B OP_B2 < <(db_psql "SELECT string_agg(id::text, ' ' ORDER BY id) FROM bulk_operation WHERE subscription_id = '$SUB_B'")
blocked_at_half "kill -9" "$SUB_B" "$OP_B"
# the second waits its turn; cancelled while queued
api POST "/v1/subscriptions/$SUB_B/operations/$OP_B2/cancel"
expect_status 200 "cancel the queued one: 200"
expect_json '.state' cancelled "it is cancelled"
herald_kill9
release_key
expect_eq "$(op_field "$SUB_B" "$OP_B" "state || ' ' || enqueued")" "running $HALF" \
	"after kill -9: running, $HALF enqueued, as committed"
herald_start
wait_until 120 "after the restart it resumes and succeeds" op_state_is "$SUB_B" "$OP_B" succeeded
expect_json '.enqueued' "$N" "resumed: $N enqueued in all, none twice"
expect_eq "$(rows_of "$SUB_B")" "$N" "resumed: $N delivery rows, one per event"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$SUB_B' AND state <> 'pending'")" 0 \
	"resumed: every one pending"
expect_eq "$(op_field "$SUB_B" "$OP_B2" "state || ' ' || enqueued")" "cancelled 0" \
	"the cancelled one never ran"

# ---------------------------------------------------------------- cancel mid-way

sub_create "C" "$SUB_BODY"
SUB_C=$SUB_ID
hold_key "$SUB_C" late
start_replay "cancel" "$SUB_C"
OP_C=$OP
blocked_at_half "cancel" "$SUB_C" "$OP_C"
# the cancel waits for the chunk in progress, which waits for the key
api POST "/v1/subscriptions/$SUB_C/operations/$OP_C/cancel" >/dev/null &
CANCEL_PID=$!
wait_until 10 "cancel: the cancel waits for the chunk" cancel_waits
release_key
wait "$CANCEL_PID" || true
wait_until 10 "cancel: the operation is cancelled" op_row_state_is "$SUB_C" "$OP_C" cancelled
CANCELLED_AT=$(op_field "$SUB_C" "$OP_C" enqueued)
check "cancel: stopped before the end ($CANCELLED_AT of $N)" test "$CANCELLED_AT" -lt "$N"
# the one runner takes a later operation only once it has left this one
api POST "/v1/subscriptions/$SUB_C/replay" '{"state":"failed"}'
expect_status 202 "cancel: a later operation recorded"
OP_C2=$(printf '%s' "$RESP" | jq -r '.id')
wait_until 30 "cancel: the runner went on to the later operation" op_row_state_is "$SUB_C" "$OP_C2" succeeded
expect_eq "$(op_field "$SUB_C" "$OP_C" enqueued)" "$CANCELLED_AT" "cancel: nothing more is enqueued"
expect_eq "$(rows_of "$SUB_C")" "$CANCELLED_AT" "cancel: what was enqueued stays enqueued"

# ---------------------------------------------------------------- SIGTERM mid-way

sub_create "D" "$SUB_BODY"
SUB_D=$SUB_ID
hold_key "$SUB_D" late
start_replay "SIGTERM" "$SUB_D"
OP_D=$OP
blocked_at_half "SIGTERM" "$SUB_D" "$OP_D"
T0=$(now_ms)
kill -TERM "$HERALD_PID"
poll_until 15 eval '! kill -0 '"$HERALD_PID"' 2>/dev/null'
T1=$(now_ms)
wait "$HERALD_PID" && RC=0 || RC=$?
_herald_forget "$HERALD_PID"
HERALD_PID=
check "SIGTERM with a chunk waiting: exit within 12 s (the 10 s drain and a margin; took $((T1 - T0)) ms)" \
	test $((T1 - T0)) -lt 12000
expect_eq "$RC" 0 "SIGTERM: exit status 0"
expect_eq "$(op_field "$SUB_D" "$OP_D" "state || ' ' || enqueued")" "interrupted $HALF" \
	"SIGTERM: the operation is interrupted at $HALF"
release_key
herald_start
wait_until 120 "SIGTERM: resumed at the next start, and succeeded" op_state_is "$SUB_D" "$OP_D" succeeded
expect_json '.enqueued' "$N" "SIGTERM: $N enqueued in all"
expect_eq "$(rows_of "$SUB_D")" "$N" "SIGTERM: $N delivery rows"

finish
