#!/bin/bash
# The sql filter dialect (CESQL) end to end: subscriptions whose sql filters,
# alone and inside all/any/not, decide which published events reach the
# receiver; a filter that does not parse is a 400 naming the filter and the
# column; a PATCH changes the expression for the next event.
# shellcheck disable=SC2016
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')

pg_use_shared_or_start
db_create
receiver_start
herald_start

list_len() {
	api GET /v1/subscriptions
	printf '%s' "$RESP" | jq -r 'length'
}

# ev ID TYPE EXTRA: a structured event; EXTRA is a jq object merged in.
ev() {
	jq -cn --arg id "$1" --arg type "$2" --argjson extra "$3" \
		'{specversion:"1.0", id:$id, source:"/cesql", type:$type} + $extra'
}

publish() {
	api POST /v1/events "$(ev "$1" "$2" "$3")" "${CE[@]}"
	expect_status 202 "event $1 published"
}

# ids PATH: the ce-id of every request PATH received, sorted, space-separated.
ids() {
	receiver_requests "$1" | jq -r '[.[].headers["ce-id"]] | sort | join(" ")'
}

# deliveries SUB: the event ids of SUB's deliveries in the database.
deliveries() {
	db_psql "SELECT coalesce(string_agg(e.id, ' ' ORDER BY e.id), '')
		FROM delivery d JOIN event e ON e.seq = d.seq
		WHERE d.subscription_id = '$1'"
}

# ------------------------------------------------------------ subscriptions

sub_create "sql alone" '{"sink":"'"$RECEIVER_URL"'/a","filters":[{"sql":"type LIKE '"'com.example.%'"' AND EXISTS partitionkey"}]}'
SUB_A=$SUB_ID
expect_json '.filters[0].sql' "type LIKE 'com.example.%' AND EXISTS partitionkey" \
	"the expression is shown as given"
sub_create "sql on an integer extension and functions" \
	'{"sink":"'"$RECEIVER_URL"'/b","filters":[{"sql":"priority > 5 AND lower(region) IN (\"eu\", \"us\")"}]}'
SUB_B=$SUB_ID
sub_create "sql inside any and not" \
	'{"sink":"'"$RECEIVER_URL"'/c","filters":[{"any":[{"exact":{"type":"x.other"}},{"sql":"subject LIKE '"'eu/%'"'"}]},{"not":{"sql":"urgent"}}]}'
SUB_C=$SUB_ID
sub_create "sql inside all, with a guarded division" \
	'{"sink":"'"$RECEIVER_URL"'/d","filters":[{"all":[{"prefix":{"source":"/cesql"}},{"sql":"EXISTS priority AND 100 / priority >= 10"}]}]}'
SUB_D=$SUB_ID

# The body of the README's example is accepted as it is written there.
readme_body=$(sed -n 's/^      -d '"'"'\(.*"sql":"type LIKE.*\)'"'"' \\$/\1/p' "$HERALD_SRCDIR/README")
[[ -n $readme_body ]] || die "the README's sql example was not found"
api POST /v1/subscriptions "$readme_body"
expect_status 201 "the README's sql subscription is accepted"
expect_json '.filters[0].sql' 'type LIKE "com.example.%" AND EXISTS partitionkey' \
	"the README's expression is kept"
README_SUB=$(printf '%s' "$RESP" | jq -r .id)
api DELETE "/v1/subscriptions/$README_SUB"
expect_status 204 "the README's subscription deleted"

# ------------------------------------------------------------ events

#        A: com.example.% with a key   B: priority > 5, region eu/us
#        C: (type x.other or subject eu/...) and not urgent
#        D: 100 / priority >= 10 (priority 0 is a division by zero)
publish e1 com.example.order.placed '{"partitionkey":"k1","subject":"eu/1","priority":7,"region":"EU","urgent":false}'
publish e2 com.example.order.placed '{"subject":"us/1","priority":3,"region":"us","urgent":true}'
publish e3 other.thing '{"partitionkey":"k3","subject":"eu/3","priority":9,"region":"us","urgent":false}'
publish e4 com.example.x '{"partitionkey":"k4","subject":"eu/4","urgent":true}'
publish e5 x.other '{"priority":"50","region":"asia","urgent":"FALSE"}'
publish e6 com.example.y '{"partitionkey":"k6","priority":0,"region":"eu","urgent":"maybe","subject":"eu/6"}'
# A: e1 e4 e6.  B: e1 e3 (e5's "50" is cast to 50, but asia is not in the
# set; e4 has no priority: an error).  C: e1 e3 e5 e6 (e5 and e6 carry
# urgent as a string, which is not a boolean, so "urgent" does not pass
# and not of it does).  D: e1 e2 e3 (e4 lacks priority, e5's 100/50 is 2,
# e6 divides by zero: an error, which does not pass).

expect_eq "$(deliveries "$SUB_A")" "e1 e4 e6" "A: deliveries for exactly its events"
expect_eq "$(deliveries "$SUB_B")" "e1 e3" "B: deliveries for exactly its events"
expect_eq "$(deliveries "$SUB_C")" "e1 e3 e5 e6" "C: deliveries for exactly its events"
expect_eq "$(deliveries "$SUB_D")" "e1 e2 e3" "D: deliveries for exactly its events"

wait_until 30 "A's receiver got its 3 events" receiver_has /a 3
wait_until 30 "B's receiver got its 2 events" receiver_has /b 2
wait_until 30 "C's receiver got its 4 events" receiver_has /c 4
wait_until 30 "D's receiver got its 3 events" receiver_has /d 3
expect_eq "$(ids /a)" "e1 e4 e6" "A received e1 e4 e6"
expect_eq "$(ids /b)" "e1 e3" "B received e1 e3"
expect_eq "$(ids /c)" "e1 e3 e5 e6" "C received e1 e3 e5 e6"
expect_eq "$(ids /d)" "e1 e2 e3" "D received e1 e2 e3"

# ------------------------------------------------------------ PATCH

api PATCH "/v1/subscriptions/$SUB_A" '{"filters":[{"sql":"partitionkey = '"'k9'"'"}]}'
expect_status 200 "A's expression patched"
publish e7 com.example.order.placed '{"partitionkey":"k9"}'
publish e8 com.example.order.placed '{"partitionkey":"k8"}'
expect_eq "$(deliveries "$SUB_A")" "e1 e4 e6 e7" "A: the patched expression decides the next events"
wait_until 30 "A's receiver got e7" receiver_has /a 4
expect_eq "$(ids /a)" "e1 e4 e6 e7" "A received e7 and not e8"

# ------------------------------------------------------------ refused

COUNT_BEFORE=$(list_len)
S='"sink":"'"$RECEIVER_URL"'/x"'
refused=(
	'filters[0].sql|column 11:|{'"$S"',"filters":[{"sql":"type LIKE 123"}]}|a LIKE pattern that is not a string'
	'filters[0].all[1].not.sql|column 12:|{'"$S"',"filters":[{"all":[{"exact":{"type":"t"}},{"not":{"sql":"(type = '"'a'"'"}}]}]}|an unclosed parenthesis inside all and not'
	'filters[1].any[0].sql|column 2:|{'"$S"',"filters":[{"exact":{"type":"t"}},{"any":[{"sql":"+"}]}]}|a lone operator inside any'
	'filters[0].sql|column 10:|{'"$S"',"filters":[{"sql":"TRUE AND nope(type)"}]}|an unknown function'
	'filters[0].sql|column 1:|{'"$S"',"filters":[{"sql":"1 + 1"}]}|an expression that cannot be a boolean'
	'filters[0].sql|column 6:|{'"$S"',"filters":[{"sql":"type # 1"}]}|a character that is no token'
	'filters[0].sql|string|{'"$S"',"filters":[{"sql":["type"]}]}|sql not a string'
)
for row in "${refused[@]}"; do
	IFS='|' read -r field says body desc <<<"$row"
	api POST /v1/subscriptions "$body"
	expect_status 400 "$desc: 400"
	expect_json '.error' invalid_filter "$desc: invalid_filter"
	expect_json '.field' "$field" "$desc: field $field"
	expect_json "(.message | contains(\"$says\"))" true "$desc: the message says \"$says\""
done
deep=$(printf '(%.0s' {1..70})TRUE$(printf ')%.0s' {1..70})
api POST /v1/subscriptions '{'"$S"',"filters":[{"sql":"'"$deep"'"}]}'
expect_status 400 "an expression nested 70 deep: 400"
expect_json '.message | contains("64 levels")' true "the message names the depth limit"
long=$(head -c 5000 /dev/zero | tr '\0' 'a')
api POST /v1/subscriptions '{'"$S"',"filters":[{"sql":"'"$long"' = 1"}]}'
expect_status 400 "an expression over 4096 bytes: 400"
expect_eq "$(list_len)" "$COUNT_BEFORE" "nothing created by the refused bodies"
api PATCH "/v1/subscriptions/$SUB_B" '{"filters":[{"sql":"priority >"}]}'
expect_status 400 "a PATCH with a bad expression: 400"
api GET "/v1/subscriptions/$SUB_B"
expect_json '.filters[0].sql' "priority > 5 AND lower(region) IN (\"eu\", \"us\")" \
	"the refused PATCH changed nothing"

finish
