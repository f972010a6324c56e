#!/bin/bash
# Upgrading a populated database of the previous layout (migrations 001 to
# 008: unpartitioned event, delivery and attempt) to partitions: nothing
# stored is lost, the pending backlog is delivered in order, the finished
# deliveries keep their attempt logs, a duplicate of an old event is still
# recognised, and new events go to the partitions that follow; past the
# retention, the old tables are compacted to what a paused subscription
# still waits for.
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')
OLD=8       # the last migration of the previous layout
N_DONE=100  # finished deliveries, each with one attempt
N_PEND=100  # pending deliveries of one key, after them

pg_use_shared_or_start
receiver_start

# A subscription as the current release stores it, taken from a scratch
# database: its row is copied into the old one.
db_create
herald_start
sub_create "scratch" '{"sink":"'"$RECEIVER_URL"'/old","types":["t.old"]}'
SUB=$SUB_ID
row=$(db_psql "SELECT row_to_json(s) FROM subscription s WHERE id = '$SUB'")
[[ -n $row ]] || die "cannot read the scratch subscription"
sub_create "scratch, paused" '{"sink":"'"$RECEIVER_URL"'/paused","types":["t.none"],"status":"paused"}'
SUBP=$SUB_ID
rowp=$(db_psql "SELECT row_to_json(s) FROM subscription s WHERE id = '$SUBP'")
herald_stop || die "the scratch herald did not stop"

# The old database: migrations 001 to 007 applied as herald applies them.
db_create
db_psql "CREATE TABLE herald_migration (version integer PRIMARY KEY,
	name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
for f in "$HERALD_SRCDIR"/sql/00[1-$OLD]_*.sql; do
	"$(_psql_bin)" -X -q -v ON_ERROR_STOP=1 -1 -d "$DATABASE_URL" -f "$f" >/dev/null ||
		die "cannot apply $f"
	v=$(basename "$f" | cut -c1-3)
	db_psql "INSERT INTO herald_migration (version, name) VALUES ($((10#$v)), '$(basename "$f")')"
done
for r in "$row" "$rowp"; do
	db_psql "INSERT INTO subscription SELECT * FROM json_populate_record(NULL::subscription, '$r'::json)" ||
		die "cannot copy the subscription"
done
db_psql "
INSERT INTO event (source, id, type, attrs, data_kind, data)
SELECT '/old', 'e-' || g, 't.old',
       jsonb_build_object('specversion', '1.0', 'id', 'e-' || g,
                          'source', '/old', 'type', 't.old',
                          'partitionkey', 'k'),
       1, convert_to('{\"n\":' || g || '}', 'UTF8')
  FROM generate_series(1, $((N_DONE + N_PEND))) g;
INSERT INTO delivery (subscription_id, seq, ordering_key, part, ready, state,
                      attempts, last_status)
SELECT '$SUB', seq, 'k', 0, false, 'succeeded', 1, 204
  FROM event WHERE seq <= $N_DONE;
INSERT INTO attempt (subscription_id, seq, status, latency_ms)
SELECT '$SUB', seq, 204, 3 FROM event WHERE seq <= $N_DONE;
INSERT INTO delivery (subscription_id, seq, ordering_key, part, ready)
SELECT '$SUB', seq, 'k', 0, seq = $((N_DONE + 1))
  FROM event WHERE seq > $N_DONE;
INSERT INTO delivery (subscription_id, seq, ordering_key, part, ready)
VALUES ('$SUBP', 1, NULL, 0, true);" >/dev/null || die "cannot fill the old database"
expect_eq "$(db_psql "SELECT relkind FROM pg_class WHERE relname = 'event'")" r \
	"the old database has a plain event table"

# ------------------------------------------------------------ the upgrade

herald_start --partition-interval 1s --retention 1h
expect_eq "$(db_psql "SELECT count(*) FROM herald_migration WHERE version = 9")" 1 \
	"herald applied the partition migration"
expect_eq "$(db_psql "SELECT max(version) FROM herald_migration")" \
	"$(ls "$HERALD_SRCDIR"/sql/[0-9][0-9][0-9]_*.sql | sed 's|.*/||' | sort | tail -n 1 | cut -c1-3 | sed 's/^0*//')" \
	"and every later one"
expect_eq "$(db_psql "SELECT relkind FROM pg_class WHERE relname = 'event'")" p \
	"event is partitioned"
expect_eq "$(db_psql "SELECT count(*) FROM event")" $((N_DONE + N_PEND)) \
	"every stored event is kept"
expect_eq "$(db_psql "SELECT count(*) FROM attempt WHERE seq <= $N_DONE")" "$N_DONE" \
	"every attempt is kept"

wait_until 30 "the pending backlog is delivered" receiver_has /old "$N_PEND"
got=$(receiver_requests /old | jq -r '[.[].headers["ce-id"]] | join(" ")')
want=$(seq -f 'e-%g' $((N_DONE + 1)) $((N_DONE + N_PEND)) | paste -sd' ')
expect_eq "$got" "$want" "in order, once each"
wait_until 10 "every delivery is finished" state_is "$SUB" succeeded $((N_DONE + N_PEND))

api GET /v1/events/5
expect_status 200 "an old event is read by its seq"
expect_json '.event.id' e-5 "it is e-5"
api GET "/v1/subscriptions/$SUB/deliveries/5"
expect_status 200 "an old finished delivery is read"
expect_json '.attempt_log | length' 1 "with its attempt log"

api POST /v1/events '{"specversion":"1.0","id":"e-3","source":"/old","type":"t.old"}' "${CE[@]}"
expect_status 200 "a duplicate of an old event"
expect_json '"\(.duplicate) \(.seq)"' "true 3" "is answered with its old seq"

# new events: in partition 0 until the next one opens, then beyond
h0=$(db_psql "SELECT hi FROM herald_partition WHERE n = 0")
opened() {
	[[ $(db_psql "SELECT count(*) FROM herald_partition WHERE opened_at IS NOT NULL") -ge 2 ]]
}
wait_until 10 "the next partition opens" opened
api POST /v1/events '{"specversion":"1.0","id":"e-new","source":"/old","type":"t.old","partitionkey":"k"}' "${CE[@]}"
expect_status 202 "a new event"
seq_new=$(printf '%s' "$RESP" | jq -r .seq)
check "it lands after partition 0 (seq $seq_new >= $h0)" test "$seq_new" -ge "$h0"
wait_until 10 "it is delivered after the old ones" receiver_has /old $((N_PEND + 1))
expect_eq "$(receiver_requests /old | jq -r '.[-1].headers["ce-id"]')" e-new "last"

# ------------------------------------------------------------ compacted

# With a retention of seconds, partition 0 (the old tables) is past it;
# the paused subscription's one pending delivery keeps it, compacted.
herald_restart --partition-interval 1s --retention 2s
compacted() {
	grep -qE "partition 0 compacted past the retention: [0-9]+ of its $((N_DONE + N_PEND + 1)) deliveries kept" "$HERALD_LOG"
}
wait_until 30 "partition 0 is compacted to what must stay" compacted
api GET /v1/events/5
expect_status 404 "a delivered old event is gone"
api GET /v1/events/1
expect_status 200 "the paused subscription's old event is kept"
api POST /v1/events '{"specversion":"1.0","id":"e-5","source":"/old","type":"t.old"}' "${CE[@]}"
expect_status 202 "an identity whose event is gone is accepted again"
expect_json .duplicate false "as new"
api PATCH "/v1/subscriptions/$SUBP" '{"status":"active"}'
expect_status 200 "the paused subscription resumed"
wait_until 20 "its kept delivery goes out" receiver_has /paused 1
expect_eq "$(receiver_requests /paused | jq -r '.[0].headers["ce-id"]')" e-1 "it is e-1"

finish
