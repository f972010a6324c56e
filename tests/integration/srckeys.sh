#!/bin/bash
# Source-scoped keys: a key limited to source prefixes publishes only those
# (403 and nothing stored otherwise: structured, binary, batch), its
# subscriptions match only those whatever their filters (herald's own
# events about them still reach it), and it reads only those from the log
# (404 by seq, left out of pages, paging intact); admin sees everything;
# keys without sources behave as before.
# shellcheck source=tests/integration/lib.sh disable=SC1091,SC2016
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')
BATCH=(-H 'Content-Type: application/cloudevents-batch+json')

pg_use_shared_or_start
db_create
receiver_start
herald_start

# ev SOURCE ID [TYPE]: a structured event.
ev() {
	jq -cn --arg s "$1" --arg id "$2" --arg t "${3:-com.example.team}" \
		'{specversion: "1.0", id: $id, source: $s, type: $t, data: {id: $id}}'
}

# newkey NAME SCOPES_JSON [SOURCES_JSON]: create a key; sets NEWKEY.
newkey() {
	local body
	body=$(jq -cn --arg n "$1" --argjson s "$2" '{name: $n, scopes: $s}')
	[[ $# -gt 2 ]] && body=$(jq -c --argjson src "$3" '. + {sources: $src}' <<<"$body")
	KEY=$ADMIN_KEY api POST /v1/keys "$body"
	expect_status 201 "key $1 created"
	NEWKEY=$(jq -r '.key' <<<"$RESP")
}

# publish DESC SOURCE ID [TYPE]: publish as $KEY, expect 202; sets SEQ.
publish() {
	api POST /v1/events "$(ev "$2" "$3" "${4:-}")" "${CE[@]}"
	expect_status 202 "$1"
	SEQ=$(jq -r '.seq // empty' <<<"$RESP")
	[[ -n $SEQ ]] || die "$1: no seq in: ${RESP:0:300}"
}

events_with_id() { # ID...: how many stored events have one of these ids
	local ids
	ids=$(printf "'%s'," "$@")
	db_psql "SELECT count(*) FROM event WHERE id IN (${ids%,})"
}

# non-herald deliveries of SUB, as "source,source" in seq order
sub_sources() {
	db_psql "SELECT coalesce(string_agg(e.source, ',' ORDER BY e.seq), '')
		FROM delivery d JOIN event e USING (seq)
		WHERE d.subscription_id = '$1' AND e.source <> '/herald'"
}

# every seq KEY reads through GET /v1/events?limit=N (following
# next_after), comma-separated; QUERY adds parameters
page_all() {
	local limit=$1 query=${2:-} after=0 seqs=() n=0
	while :; do
		api GET "/v1/events?limit=$limit&after=$after$query"
		[[ $STATUS == 200 ]] || {
			echo "status $STATUS"
			return
		}
		mapfile -t -O "${#seqs[@]}" seqs < <(jq -r '.items[].seq' <<<"$RESP")
		after=$(jq -r '.next_after' <<<"$RESP")
		[[ $after == null ]] && break
		((++n < 50)) || break
	done
	local IFS=,
	echo "${seqs[*]}"
}

# ---------------------------------------------------------------- keys

COUNT=$(db_psql "SELECT count(*) FROM api_key")
for row in \
	'[]|sources|an empty list' \
	'"/teamA"|sources|a string, not a list' \
	'["1","2","3","4","5","6","7","8","9"]|sources|nine prefixes' \
	'["/a",""]|sources[1]|an empty prefix' \
	'["/a",7]|sources[1]|a number' \
	'["/a b"]|sources[0]|a space' \
	"[\"/$(printf 'x%.0s' {1..255})\"]|sources[0]|256 bytes" \
	'["/caf\u00e9"]|sources[0]|non-ASCII'; do
	IFS='|' read -r src field desc <<<"$row"
	api POST /v1/keys "{\"name\":\"bad\",\"scopes\":[\"publish\"],\"sources\":$src}"
	expect_status 400 "sources as $desc -> 400"
	expect_json '[.error, .field] | join(" ")' "invalid_field $field" "$desc: invalid_field, field $field"
done
api POST /v1/keys '{"name":"bad","scopes":["admin"],"sources":["/teamA"]}'
expect_status 400 "an admin key with sources -> 400"
expect_json '.field' sources "... field sources"
api POST /v1/keys '{"name":"bad","scopes":["subscribe","admin"],"sources":["/teamA"]}'
expect_status 400 "admin among other scopes with sources -> 400"
expect_eq "$(db_psql "SELECT count(*) FROM api_key")" "$COUNT" "no refused body created a key"

newkey team-a '["publish","subscribe"]' '["/teamA"]'
expect_json '.sources | join(",")' "/teamA" "the create answer shows the sources"
TEAM_A=$NEWKEY
TEAM_A_ID=$(jq -r '.id' <<<"$RESP")
newkey team-b '["publish","subscribe"]' '["/teamB","urn:b:"]'
TEAM_B=$NEWKEY
TEAM_B_ID=$(jq -r '.id' <<<"$RESP")
newkey reader-a '["subscribe"]' '["/teamA"]'
READER_A=$NEWKEY
newkey open '["publish"]' 'null'
expect_json '.sources' null "sources null: no limit, shown as null"
OPEN=$NEWKEY
newkey open-sub '["subscribe"]'
expect_json '.sources' null "no sources: shown as null"
OPEN_SUB=$NEWKEY
api GET /v1/keys
expect_json "[.[] | select(.id == \"$TEAM_B_ID\") | .sources | join(\",\")] | join(\"\")" \
	"/teamB,urn:b:" "the key list shows a key's sources"
expect_json '[.[] | select(.name == "open") | .sources] | .[0]' null "... and null for a key without"
expect_eq "$(db_psql "SELECT array_to_string(sources, ',') FROM api_key WHERE id = $TEAM_A_ID")" \
	"/teamA" "the sources are stored with the key"

# ---------------------------------------------------------------- subscriptions

KEY=$ADMIN_KEY sub_create "admin, no filter" "{\"sink\":\"$RECEIVER_URL/admin\"}"
ADMIN_SUB=$SUB_ID
KEY=$TEAM_A sub_create "team A, no filter" "{\"sink\":\"$RECEIVER_URL/a-all\"}"
A_ALL=$SUB_ID
KEY=$TEAM_A sub_create "team A, filtered on team B's source" \
	"{\"sink\":\"$RECEIVER_URL/a-b\",\"source\":\"/teamB\"}"
A_B=$SUB_ID
KEY=$TEAM_A sub_create "team A, a broad prefix filter" \
	"{\"sink\":\"$RECEIVER_URL/a-pfx\",\"filters\":[{\"prefix\":{\"source\":\"/\"}}]}"
A_PFX=$SUB_ID
KEY=$TEAM_B sub_create "team B, no filter" "{\"sink\":\"$RECEIVER_URL/b-all\"}"
B_ALL=$SUB_ID

# ---------------------------------------------------------------- publish

KEY=$TEAM_A publish "team A publishes its own source" /teamA a-1
S_A1=$SEQ
KEY=$TEAM_A publish "team A publishes under its prefix" /teamA/orders a-2
S_A2=$SEQ
KEY=$TEAM_A api POST /v1/events "" -H 'ce-specversion: 1.0' -H 'ce-id: a-3' \
	-H 'ce-source: /teamA:eu' -H 'ce-type: com.example.team' -H 'Content-Type: text/plain' \
	--data-binary 'x'
expect_status 202 "team A publishes in binary mode"
S_A3=$(jq -r '.seq' <<<"$RESP")

STORED=$(db_psql "SELECT count(*) FROM event")
for row in '/teamB|another team' '/teamAB|a longer name' '/teamA-x|a name going on with -' \
	'/teamA.x|a name going on with .' '/team|a shorter name' '/TEAMA|another case'; do
	src=${row%|*}
	KEY=$TEAM_A api POST /v1/events "$(ev "$src" forged-1)" "${CE[@]}"
	expect_status 403 "structured: team A publishing $src (${row#*|}) -> 403"
	expect_json '[.error, .field] | join(" ")' "forbidden_source source" "... forbidden_source, field source"
	check "... the message names $src" grep -qF "source $src" <<<"$(jq -r .message <<<"$RESP")"
done
KEY=$TEAM_A api POST /v1/events "" -H 'ce-specversion: 1.0' -H 'ce-id: forged-2' \
	-H 'ce-source: /teamB/x' -H 'ce-type: com.example.team' -H 'Content-Type: text/plain' \
	--data-binary 'x'
expect_status 403 "binary: team A publishing /teamB/x -> 403"
expect_json '[.error, .field, (has("index") | tostring)] | join(" ")' \
	"forbidden_source source false" "... forbidden_source, no index"
BATCH_BODY=$(jq -cn --argjson a "$(ev /teamA/b forged-b0)" --argjson b "$(ev /teamA/b forged-b1)" \
	--argjson c "$(ev urn:b:x forged-b2)" --argjson d "$(ev /teamB forged-b3)" '[$a, $b, $c, $d]')
KEY=$TEAM_A api POST /v1/events "$BATCH_BODY" "${BATCH[@]}"
expect_status 403 "batch: one member of another source -> 403"
expect_json '[.error, .field, .index] | map(tostring) | join(" ")' "forbidden_source source 2" \
	"... the index of the first foreign member"
KEY=$TEAM_A api POST /v1/events "$(ev /herald forged-h)" "${CE[@]}"
expect_status 400 "team A publishing /herald: still 400"
expect_json '.error' reserved_source "... reserved_source"
expect_eq "$(events_with_id forged-1 forged-2 forged-b0 forged-b1 forged-b2 forged-b3 forged-h)" 0 \
	"no refused event was stored, not even the batch's allowed members"
expect_eq "$(db_psql "SELECT count(*) FROM event")" "$STORED" "the log did not grow"

KEY=$TEAM_B api POST /v1/events "$(jq -cn --argjson a "$(ev /teamB b-1)" \
	--argjson b "$(ev urn:b:1 b-2)" '[$a, $b]')" "${BATCH[@]}"
expect_status 202 "team B: a batch of its two prefixes"
S_B1=$(jq -r '.results[0].seq' <<<"$RESP")
S_B2=$(jq -r '.results[1].seq' <<<"$RESP")
KEY=$OPEN publish "a key without sources publishes any source (team A's)" /teamA/open o-1
S_OA=$SEQ
KEY=$OPEN publish "... and another's" /teamAB o-2
S_OAB=$SEQ
KEY=$OPEN publish "... and a third" /other o-3
S_OTHER=$SEQ

# ---------------------------------------------------------------- fan-out

# deliveries are committed with their events: no waiting
expect_eq "$(sub_sources "$A_ALL")" "/teamA,/teamA/orders,/teamA:eu,/teamA/open" \
	"team A's subscription without filter matched only team A's sources"
expect_eq "$(sub_sources "$A_B")" "" "team A's subscription filtered on /teamB matched nothing"
expect_eq "$(sub_sources "$A_PFX")" "/teamA,/teamA/orders,/teamA:eu,/teamA/open" \
	"team A's subscription with a broad prefix filter matched only team A's sources"
expect_eq "$(sub_sources "$B_ALL")" "/teamB,urn:b:1" "team B's matched only team B's"
expect_eq "$(sub_sources "$ADMIN_SUB")" "/teamA,/teamA/orders,/teamA:eu,/teamB,urn:b:1,/teamA/open,/teamAB,/other" \
	"the admin's subscription matched every event"
wait_until 15 "team A's events reach its sink" receiver_has /a-all 4
expect_eq "$(receiver_requests /a-all | jq -r '[.[].headers["ce-source"]] | sort | join(",")')" \
	"/teamA,/teamA/open,/teamA/orders,/teamA:eu" "its sink received team A's sources only"

# a replay walks the log again: still only the owner's sources
wait_until 15 "team A's deliveries succeeded" state_is "$A_ALL" succeeded 4
# op_done SUB OP: the operation succeeded (RESP is it)
op_done() {
	api GET "/v1/subscriptions/$1/operations/$2"
	[[ $STATUS == 200 && $(jq -r .state <<<"$RESP") == succeeded ]]
}
KEY=$TEAM_A api POST "/v1/subscriptions/$A_ALL/replay" '{"from_seq":1,"dry_run":true}'
expect_json '.selected' 4 "team A's dry run counts its own 4 events"
KEY=$TEAM_A api POST "/v1/subscriptions/$A_ALL/replay" '{"from_seq":1}'
expect_status 202 "team A replays its subscription from the start"
OP=$(jq -r .id <<<"$RESP")
KEY=$TEAM_A wait_until 20 "... the replay finishes" op_done "$A_ALL" "$OP"
expect_json '.enqueued' 4 "... requeuing its own 4 events"
api POST "/v1/subscriptions/$A_B/replay" '{"from_seq":1,"dry_run":true}'
expect_json '.selected' 0 "the admin's dry run of team A's /teamB subscription: none"
api POST "/v1/subscriptions/$A_B/replay" '{"from_seq":1}'
expect_status 202 "the admin replays team A's /teamB subscription"
OP=$(jq -r .id <<<"$RESP")
wait_until 20 "... the replay finishes" op_done "$A_B" "$OP"
expect_json '.enqueued' 0 "... which still gets none of team B's events"
expect_eq "$(sub_sources "$A_ALL"),$(sub_sources "$A_B")" "/teamA,/teamA/orders,/teamA:eu,/teamA/open," \
	"after the replays, no foreign event is delivered to team A"

# ---------------------------------------------------------------- reading

for s in "$S_A1" "$S_A2" "$S_A3" "$S_OA"; do
	KEY=$TEAM_A api GET "/v1/events/$s"
	expect_status 200 "team A reads event $s of its sources"
done
KEY=$TEAM_A api GET "/v1/events/$S_A2"
expect_json '.event.source' /teamA/orders "... with its content"
for s in "$S_B1" "$S_B2" "$S_OAB" "$S_OTHER"; do
	KEY=$TEAM_A api GET "/v1/events/$s"
	expect_status 404 "team A reading event $s of another source -> 404"
	expect_json '.error' not_found "... not_found"
done
KEY=$TEAM_A api GET /v1/events/999999
expect_status 404 "team A: an event that does not exist -> 404 alike"
KEY=$TEAM_B api GET "/v1/events/$S_A1"
expect_status 404 "team B reading team A's event -> 404"
KEY=$TEAM_B api GET "/v1/events/$S_B2"
expect_status 200 "team B reads its urn:b: event"
KEY=$READER_A api GET "/v1/events/$S_A1"
expect_status 200 "a subscribe-only key with sources reads its sources' events"
KEY=$READER_A api GET "/v1/events/$S_B1"
expect_status 404 "... not another's"
KEY=$OPEN api GET "/v1/events/$S_B1"
expect_status 200 "a publish key without sources reads any event by seq, as before"
KEY=$OPEN_SUB api GET "/v1/events/$S_A1"
expect_status 403 "a subscribe key without sources cannot read events, as before"
KEY=$OPEN api GET /v1/events
expect_status 403 "a key without sources cannot list the log, as before"
expect_json '.error' forbidden "... forbidden"

EXPECT_A="$S_A1,$S_A2,$S_A3,$S_OA"
KEY=$TEAM_A api GET /v1/events
expect_status 200 "team A lists the log"
expect_json '[.items[].seq] | map(tostring) | join(",")' "$EXPECT_A" "... and sees exactly its events"
expect_json '[.items[].event.source] | map(select(startswith("/teamA") | not)) | length' 0 \
	"... none of another source"
for limit in 1 2 3; do
	expect_eq "$(KEY=$TEAM_A page_all $limit)" "$EXPECT_A" "team A's pages of $limit hold each of its events once, in order"
done
expect_eq "$(KEY=$TEAM_A page_all 2 '&source=/teamB')" "" "team A asking for /teamB's events gets none"
expect_eq "$(KEY=$TEAM_A page_all 2 '&source=/teamA/orders')" "$S_A2" "... and its own source filter works"
expect_eq "$(KEY=$TEAM_B page_all 1)" "$S_B1,$S_B2" "team B's pages hold only its events"
expect_eq "$(KEY=$READER_A page_all 100)" "$EXPECT_A" "a subscribe-only key with sources lists its sources' events"
KEY=$TEAM_A api GET "/v1/events?after=$S_A2&limit=1"
expect_json '[.items[].seq, .next_after] | map(tostring) | join(",")' "$S_A3,$S_A3" \
	"a page after one of team A's events starts at its next"
ALL=$(KEY=$ADMIN_KEY page_all 3)
expect_eq "$(tr ',' '\n' <<<"$ALL" | wc -l)" "$(db_psql "SELECT count(*) FROM event")" \
	"the admin lists every event"

# ---------------------------------------------------------------- herald's own events

# team A's failing subscription: its given-up delivery is reported to team
# A's listener (source /herald, not among team A's sources), never to
# team B's
KEY=$TEAM_A sub_create "team A, herald's events" \
	"{\"sink\":\"$RECEIVER_URL/a-ops\",\"source\":\"/herald\"}"
KEY=$TEAM_B sub_create "team B, herald's events" \
	"{\"sink\":\"$RECEIVER_URL/b-ops\",\"source\":\"/herald\"}"
B_OPS=$SUB_ID
KEY=$TEAM_A sub_create "team A, failing" \
	"{\"sink\":\"$RECEIVER_URL/fail?status=500\",\"types\":[\"a.fail\"],\"delivery\":{\"retry\":{\"max_attempts\":1}}}"
A_FAIL=$SUB_ID
KEY=$TEAM_A publish "team A: an event its failing sink refuses" /teamA f-1 a.fail
wait_until 20 "team A's listener receives herald.delivery.failed about its subscription" receiver_has /a-ops 1
OP=$(receiver_requests /a-ops | jq -c '.[0].headers | {t: .["ce-type"], s: .["ce-source"], sub: .["ce-subject"]}')
expect_eq "$OP" "{\"t\":\"herald.delivery.failed\",\"s\":\"/herald\",\"sub\":\"$A_FAIL\"}" \
	"... the event names team A's failing subscription"
OP_SEQ=$(db_psql "SELECT seq FROM event WHERE source = '/herald' AND attrs->>'subject' = '$A_FAIL'")
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$B_OPS'")" 0 \
	"team B's listener got no delivery of it"
KEY=$TEAM_A api GET "/v1/events/$OP_SEQ"
expect_status 200 "team A reads herald's event about its subscription"
KEY=$TEAM_B api GET "/v1/events/$OP_SEQ"
expect_status 404 "team B cannot (404)"
expect_eq "$(KEY=$TEAM_A page_all 2)" "$EXPECT_A,$(db_psql "SELECT seq FROM event WHERE id = 'f-1'"),$OP_SEQ" \
	"team A's listing holds herald's event about its subscription"
expect_eq "$(KEY=$TEAM_B page_all 2)" "$S_B1,$S_B2" "team B's does not"

# ---------------------------------------------------------------- revocation

KEY=$TEAM_B api GET /v1/events
expect_status 200 "team B's key works (and is cached)"
api DELETE "/v1/keys/$TEAM_B_ID"
expect_status 204 "team B's key revoked"
KEY=$TEAM_B api GET /v1/events
expect_status 401 "a revoked key with sources is refused at once"
KEY=$TEAM_B api POST /v1/events "$(ev /teamB b-late)" "${CE[@]}"
expect_status 401 "... publishing too"

finish
