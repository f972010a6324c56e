#!/bin/bash
# POST and GET /v1/events against a real herald and PostgreSQL: structured,
# binary and batch ingest, dedup, validation, size limits, media types, auth,
# reading the log back, the CloudEvents format vectors and concurrent posts.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')
BATCH=(-H 'Content-Type: application/cloudevents-batch+json')

# ---------------------------------------------------------------- helpers

# ev ID SOURCE [EXTRA]: a minimal structured event; EXTRA is a jq object
# merged into it (e.g. '{"subject":"x"}').
ev() {
	jq -cn --arg id "$1" --arg src "$2" --argjson extra "${3:-{\}}" \
		'{specversion:"1.0", id:$id, source:$src, type:"test.event"} + $extra'
}

post_ce() {
	api POST /v1/events "$1" "${CE[@]}" "${@:2}"
}

post_batch() {
	api POST /v1/events "$1" "${BATCH[@]}" "${@:2}"
}

# The body of the last call is an error object: string error, non-empty
# string message.
is_error_json() {
	printf '%s' "$RESP" | jq -e '(.error | type) == "string" and (.error | length) > 0
		and (.message | type) == "string" and (.message | length) > 0' >/dev/null 2>&1
}

# expect_error CODE DESC: status CODE with an error object.
expect_error() {
	expect_status "$1" "$2"
	check "$2: JSON error body" is_error_json
}

# raw_get PATH: GET with the admin key, body on stdout (leaves RESP alone).
raw_get() {
	local f=$TEST_TMPDIR/raw.$BASHPID.$RANDOM code rc=0
	code=$(curl -sS --max-time "$API_TIMEOUT" -o "$f" -w '%{http_code}' \
		-H "Authorization: Bearer $ADMIN_KEY" "$HERALD_URL$1") || rc=$?
	openapi_record GET "$HERALD_URL$1" "${code:-000}" "$f"
	[[ ! -f $f ]] || cat "$f"
	rm -f "$f"
	return "$rc"
}

# count_events [QUERY]: how many events GET /v1/events lists (paged, bounded).
count_events() {
	local after=0 total=0 page n next i
	for ((i = 0; i < 100; i++)); do
		page=$(raw_get "/v1/events?limit=1000&after=$after${1:+&$1}") || return 1
		n=$(printf '%s' "$page" | jq -r '.items | length') || return 1
		next=$(printf '%s' "$page" | jq -r '.next_after') || return 1
		total=$((total + n))
		if [[ $next == null ]]; then
			echo "$total"
			return 0
		fi
		after=$next
	done
	return 1
}

# json_equal A B: jq equality of two JSON texts.
json_equal() {
	jq -en --argjson a "$1" --argjson b "$2" '$a == $b' >/dev/null 2>&1
}

resp_is_int_seq() {
	printf '%s' "$RESP" | jq -e '(.seq | type) == "number" and .seq == (.seq | floor) and .seq > 0' >/dev/null
}

# ---------------------------------------------------------------- set-up

pg_use_shared_or_start
db_create
herald_start --max-event-bytes 2048 --max-batch-bytes 4096

# ---------------------------------------------------------------- structured

post_ce "$(ev s-1 urn:structured)"
expect_status 202 "structured: new event is 202"
check "structured: seq is a positive JSON integer" resp_is_int_seq
expect_json '[.id, .source, .duplicate] | @json' '["s-1","urn:structured",false]' \
	"structured: id, source, duplicate false"
SEQ1=$(printf '%s' "$RESP" | jq -r .seq)

post_ce "$(ev s-1 urn:structured '{"subject":"again"}')"
expect_status 200 "structured: same source+id again is 200"
expect_json '.duplicate' true "structured: duplicate true"
expect_json '.seq' "$SEQ1" "structured: duplicate carries the first seq"
api GET "/v1/events/$SEQ1"
expect_json '.event | has("subject")' false "structured: the duplicate did not overwrite the stored event"

post_ce "$(ev s-1 urn:structured-other)"
expect_status 202 "structured: same id, another source is a new event"
SEQ2=$(printf '%s' "$RESP" | jq -r .seq)
check "structured: the other source gets another seq" test "$SEQ2" != "$SEQ1"
expect_json '.duplicate' false "structured: other source not a duplicate"

api POST /v1/events "$(ev s-charset urn:structured)" \
	-H 'Content-Type: application/cloudevents+json; charset=utf-8'
expect_status 202 "structured: content type with charset parameter accepted"

api POST /v1/events "$(ev s-case urn:structured)" \
	-H 'Content-Type: Application/CloudEvents+JSON'
expect_status 202 "structured: media type matched case-insensitively"

post_ce "$(ev s-data urn:structured '{"datacontenttype":"application/json","data":{"k":[1,"two",null]}}')"
expect_status 202 "structured: event with JSON data"
api GET "/v1/events/$(printf '%s' "$RESP" | jq -r .seq)"
expect_json '.event.data | @json' '{"k":[1,"two",null]}' "structured: JSON data round-trips"

# ---------------------------------------------------------------- binary

BIN_H=(-H 'ce-specversion: 1.0' -H 'ce-source: urn:binary' -H 'ce-type: test.binary')

api POST /v1/events '{"n":1}' "${BIN_H[@]}" -H 'ce-id: b-1' \
	-H 'ce-subject: caf%C3%A9 au lait' -H 'Content-Type: application/json'
expect_status 202 "binary: ce-* headers event is 202"
expect_json '[.id, .source, .duplicate] | @json' '["b-1","urn:binary",false]' \
	"binary: id, source, duplicate false"
BSEQ=$(printf '%s' "$RESP" | jq -r .seq)
api GET "/v1/events/$BSEQ"
expect_status 200 "binary: GET the event"
expect_json '.event.subject' 'café au lait' "binary: ce-subject percent-decoded to UTF-8"
expect_json '.event.specversion + " " + .event.type' '1.0 test.binary' "binary: attributes from headers"
expect_json '.event.data | @json' '{"n":1}' "binary: application/json body comes back as data (parsed)"
expect_json '.event | has("data_base64")' false "binary: JSON body has no data_base64"
expect_json '.event.datacontenttype' 'application/json' "binary: datacontenttype from Content-Type"

api POST /v1/events 'x' "${BIN_H[@]}" -H 'ce-id: b-bad' -H 'ce-subject: %FF' \
	-H 'Content-Type: text/plain'
expect_error 400 "binary: %FF (invalid UTF-8 after decoding) is 400"
api POST /v1/events 'x' "${BIN_H[@]}" -H 'ce-id: b-bad2' -H 'ce-subject: 100%' \
	-H 'Content-Type: text/plain'
expect_error 400 "binary: malformed percent-escape is 400"

api POST /v1/events 'x' "${BIN_H[@]}" -H 'ce-id: 	b-ows  ' \
	-H 'ce-subject:  two%20words%20 ' -H 'Content-Type: text/plain'
expect_status 202 "binary: header values with surrounding whitespace"
expect_json '.id' b-ows "binary: whitespace around a header value is not part of it"
api GET "/v1/events/$(printf '%s' "$RESP" | jq -r .seq)"
expect_json '.event.subject' 'two words ' "binary: percent-encoded spaces are kept"

printf 'a\000b\377c\000\000\376\r\nend\377' >"$TEST_TMPDIR/bin.in"
api POST /v1/events '' "${BIN_H[@]}" -H 'ce-id: b-bytes' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$TEST_TMPDIR/bin.in"
expect_status 202 "binary: NUL and 0xFF body is 202"
api GET "/v1/events/$(printf '%s' "$RESP" | jq -r .seq)"
expect_json '.event | has("data")' false "binary: octet-stream comes back without data"
expect_json '.event.datacontenttype' 'application/octet-stream' "binary: octet-stream datacontenttype"
printf '%s' "$RESP" | jq -r '.event.data_base64' | base64 -d >"$TEST_TMPDIR/bin.out" 2>/dev/null
check "binary: data_base64 decodes to the identical bytes" cmp -s "$TEST_TMPDIR/bin.in" "$TEST_TMPDIR/bin.out"

api POST /v1/events 'hello wörld, "quoted"' "${BIN_H[@]}" -H 'ce-id: b-text' \
	-H 'Content-Type: text/plain; charset=utf-8'
expect_status 202 "binary: text/plain body is 202"
api GET "/v1/events/$(printf '%s' "$RESP" | jq -r .seq)"
expect_json '.event.data' 'hello wörld, "quoted"' "binary: text/plain comes back as a data string"
expect_json '.event.data | type' string "binary: text data is a JSON string"
expect_json '.event.datacontenttype' 'text/plain; charset=utf-8' "binary: datacontenttype exactly as sent"

api POST /v1/events '{"n":1}' "${BIN_H[@]}" -H 'ce-id: b-1' -H 'Content-Type: application/json'
expect_status 200 "binary: same source+id again is 200"
expect_json '[.duplicate, .seq] | @json' "[true,$BSEQ]" "binary: duplicate with the first seq"

# ---------------------------------------------------------------- batch

post_ce "$(ev early urn:batch)"
EARLY=$(printf '%s' "$RESP" | jq -r .seq)
post_batch "[$(ev b1 urn:batch),$(ev b2 urn:batch),$(ev b1 urn:batch),$(ev early urn:batch),$(ev b3 urn:batch)]"
expect_status 202 "batch: 202"
expect_json '[.results[] | .id] | @json' '["b1","b2","b1","early","b3"]' "batch: results in input order"
expect_json '[.results[] | .duplicate] | @json' '[false,false,true,true,false]' \
	"batch: duplicates inside the batch and of an earlier event"
expect_json '[.results[] | .source] | unique | @json' '["urn:batch"]' "batch: results carry the source"
expect_json '.results[2].seq == .results[0].seq' true "batch: in-batch duplicate has the first seq"
expect_json '.results[3].seq' "$EARLY" "batch: duplicate of an earlier event has its seq"
expect_json '.results[0].seq < .results[1].seq and .results[1].seq < .results[4].seq' true \
	"batch: new events get ascending seqs in input order"
expect_json '[.results[] | .seq | type] | unique | @json' '["number"]' "batch: seqs are integers"
expect_eq "$(count_events source=urn:batch)" 4 "batch: 4 distinct events stored"

post_batch "[$(ev bad0 urn:batch-bad),$(ev bad1 urn:batch-bad),{\"specversion\":\"1.0\",\"id\":\"bad2\",\"source\":\"urn:batch-bad\"},$(ev bad3 urn:batch-bad)]"
expect_error 400 "batch: one invalid member rejects the batch"
expect_json '.index' 2 "batch: index names the invalid member"
expect_eq "$(count_events source=urn:batch-bad)" 0 "batch: nothing from the rejected batch stored"

post_batch '[]'
expect_status 202 "batch: empty batch is 202"
expect_json '.results | @json' '[]' "batch: empty batch has empty results"

post_batch "$(ev notarray urn:batch)"
expect_error 400 "batch: an object instead of an array is 400"

# ---------------------------------------------------------------- validation

BEFORE=$(count_events)
post_ce '{"specversion":"1.0","id":"x",'
expect_error 400 "invalid JSON is 400"
expect_json '.error' invalid_json "invalid JSON: error invalid_json"
post_ce '{"specversion":"1.0","source":"urn:v","type":"t"}'
expect_error 400 "missing id is 400"
post_ce '{"specversion":"1.0","id":"v","type":"t"}'
expect_error 400 "missing source is 400"
post_ce '{"specversion":"1.0","id":"v","source":"urn:v"}'
expect_error 400 "missing type is 400"
post_ce '{"id":"v","source":"urn:v","type":"t"}'
expect_error 400 "missing specversion is 400"
post_ce "$(ev v urn:v '{"specversion":"0.3"}')"
expect_error 400 'specversion "0.3" is 400'
post_ce "$(ev v urn:v '{"Upper":"x"}')"
expect_error 400 "upper-case attribute name is 400"
post_ce "$(ev v urn:v '{"data":"x","data_base64":"eA=="}')"
expect_error 400 "data and data_base64 together is 400"
post_ce "$(ev v urn:v '{"time":"2018-04-05 17:31:00"}')"
expect_error 400 "time without T is 400"
post_ce "$(ev v urn:v '{"time":"2018-02-30T10:00:00Z"}')"
expect_error 400 "time on 30 February is 400"
post_ce "$(ev v urn:v '{"dataschema":"/schemas/v1"}')"
expect_error 400 "relative dataschema is 400"
post_ce "$(ev v urn:v '{"subject":"bell\u0007"}')"
expect_error 400 "escaped control character in a string is 400"
post_ce "$(printf '{"specversion":"1.0","id":"v","source":"urn:v","type":"t","subject":"a\001b"}')"
expect_error 400 "raw control character in a string is 400"
post_ce ''
expect_error 400 "empty structured body is 400"
expect_eq "$(count_events)" "$BEFORE" "validation: no 400 stored anything"

# ---------------------------------------------------------------- 413

pad=$(head -c 2900 /dev/zero | tr '\0' 'x')
ev big urn:big "{\"data\":\"$pad\"}" | tr -d '\n' >"$TEST_TMPDIR/big.json"
big_size=$(wc -c <"$TEST_TMPDIR/big.json")
check "413: the big event is over 2048 bytes ($big_size)" test "$big_size" -gt 2048
api POST /v1/events '' "${CE[@]}" --data-binary "@$TEST_TMPDIR/big.json"
expect_error 413 "413: structured body over max_event_bytes (Content-Length)"
api POST /v1/events '' "${CE[@]}" -H 'Expect:' --data-binary "@$TEST_TMPDIR/big.json"
expect_error 413 "413: over max_event_bytes without Expect: 100-continue"
api POST /v1/events '' "${CE[@]}" -H 'Transfer-Encoding: chunked' \
	--data-binary "@$TEST_TMPDIR/big.json"
expect_error 413 "413: structured body over max_event_bytes (chunked)"
head -c 3000 /dev/urandom >"$TEST_TMPDIR/big.bin"
api POST /v1/events '' "${BIN_H[@]}" -H 'ce-id: big-bin' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$TEST_TMPDIR/big.bin"
expect_error 413 "413: binary body over max_event_bytes"
{
	printf '['
	for ((i = 0; i < 40; i++)); do
		((i > 0)) && printf ','
		ev "bb-$i" urn:big '{"subject":"padding padding padding padding padding"}' | tr -d '\n'
	done
	printf ']'
} >"$TEST_TMPDIR/bigbatch.json"
check "413: the big batch is over 4096 bytes" test "$(wc -c <"$TEST_TMPDIR/bigbatch.json")" -gt 4096
api POST /v1/events '' "${BATCH[@]}" --data-binary "@$TEST_TMPDIR/bigbatch.json"
expect_error 413 "413: batch over max_batch_bytes"
api POST /v1/events '' "${BATCH[@]}" -H 'Transfer-Encoding: chunked' \
	--data-binary "@$TEST_TMPDIR/bigbatch.json"
expect_error 413 "413: chunked batch over max_batch_bytes"
expect_eq "$(count_events source=urn:big)" 0 "413: nothing stored"
post_ce "$(ev after-413 urn:big)"
expect_status 202 "413: the server still answers normally afterwards"
api GET /healthz
expect_status 200 "413: healthz still 200"

# ---------------------------------------------------------------- media types, methods, paths

api POST /v1/events "$(ev m1 urn:media)"
expect_error 415 "415: application/json without ce- headers"
api POST /v1/events '<event/>' -H 'Content-Type: application/cloudevents+xml'
expect_error 415 "415: application/cloudevents+xml"
api POST /v1/events "$(ev m2 urn:media)" -H 'Content-Type: text/plain'
expect_error 415 "415: text/plain without ce- headers"
expect_eq "$(count_events source=urn:media)" 0 "415: nothing stored"

api PUT /v1/events "$(ev m3 urn:media)" "${CE[@]}"
expect_error 405 "405: PUT /v1/events"
ALLOW=$(resp_header allow)
check "405: Allow header lists GET and POST ($ALLOW)" \
	bash -c '[[ $1 == *GET* && $1 == *POST* && $1 != *PUT* ]]' _ "$ALLOW"
api DELETE /v1/events
expect_error 405 "405: DELETE /v1/events"

api GET /v1/no-such-thing
expect_error 404 "404: unknown path"
api POST /v1/event "$(ev m4 urn:media)" "${CE[@]}"
expect_error 404 "404: POST to a near-miss path"

# ---------------------------------------------------------------- auth

KEY='' post_ce "$(ev a1 urn:auth)"
expect_error 401 "auth: no key is 401"
KEY=hk_this_key_does_not_exist_0000000000 post_ce "$(ev a2 urn:auth)"
expect_error 401 "auth: unknown key is 401"
KEY='' post_ce "$(ev a3 urn:auth)" -H 'Authorization: Basic YWRtaW46c2VjcmV0'
expect_error 401 "auth: Basic scheme is 401"
KEY='' post_ce "$(ev a3b urn:auth)" -H "Authorization: Token $ADMIN_KEY"
expect_error 401 "auth: admin key under another scheme is 401"

api POST /v1/keys '{"name":"s","scopes":["subscribe"]}'
expect_status 201 "auth: subscribe-only key created"
SUB_KEY=$(printf '%s' "$RESP" | jq -r '.key // empty')
api POST /v1/keys '{"name":"p","scopes":["publish"]}'
expect_status 201 "auth: publish key created"
PUB_KEY=$(printf '%s' "$RESP" | jq -r '.key // empty')

KEY=$SUB_KEY post_ce "$(ev a4 urn:auth)"
expect_error 403 "auth: subscribe-only key is 403 on POST /v1/events"
KEY=$PUB_KEY post_ce "$(ev a5 urn:auth)"
expect_status 202 "auth: publish key is 202"
ASEQ=$(printf '%s' "$RESP" | jq -r .seq)
KEY=$PUB_KEY api GET "/v1/events/$ASEQ"
expect_status 200 "auth: publish key may GET /v1/events/{seq}"
KEY=$PUB_KEY api GET /v1/events
expect_error 403 "auth: publish key may not list /v1/events (admin)"
KEY='' api GET "/v1/events/$ASEQ"
expect_error 401 "auth: GET /v1/events/{seq} without a key is 401"
expect_eq "$(count_events source=urn:auth)" 1 "auth: only the publish key's event stored"

# ---------------------------------------------------------------- GET /v1/events/{seq}

api GET "/v1/events/$SEQ1"
expect_status 200 "get: 200"
expect_json '[.seq, .event.id, .event.source, .event.type, .event.specversion] | @json' \
	"[$SEQ1,\"s-1\",\"urn:structured\",\"test.event\",\"1.0\"]" "get: seq and the CloudEvent"
expect_json '.received_at | type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' true \
	"get: received_at is an RFC 3339 string"
expect_json '.deliveries | [.pending, .succeeded, .failed] | @json' '[0,0,0]' \
	"get: deliveries summary (no subscriptions)"
expect_json 'keys | @json' '["deliveries","event","received_at","seq"]' "get: exactly the documented fields"
api GET /v1/events/987654321
expect_error 404 "get: unknown seq is 404"
api GET /v1/events/abc
expect_error 404 "get: non-numeric seq is 404"
api GET /v1/events/99999999999999999999
expect_error 404 "get: seq beyond the 64-bit range is 404"
api GET /v1/events/0
expect_error 404 "get: seq 0 is 404"
api GET /v1/events/-1
expect_error 404 "get: negative seq is 404"

# ---------------------------------------------------------------- GET /v1/events (paging)

PAGE_SEQS=()
for i in 1 2 3 4 5; do
	t=page.a
	((i % 2 == 0)) && t=page.b
	post_ce "$(jq -cn --arg i "p$i" --arg t "$t" '{specversion:"1.0",id:$i,source:"urn:page",type:$t}')"
	PAGE_SEQS+=("$(printf '%s' "$RESP" | jq -r .seq)")
done
expect_eq "${#PAGE_SEQS[@]}" 5 "list: 5 events posted"

got=()
after=0
pages=0
ascending=1
fullpages_have_next=1
while ((pages < 10)); do
	api GET "/v1/events?source=urn:page&limit=2&after=$after"
	[[ $STATUS == 200 ]] || break
	pages=$((pages + 1))
	mapfile -t seqs < <(printf '%s' "$RESP" | jq -r '.items[].seq')
	printf '%s' "$RESP" | jq -e '[.items[].seq] | . == sort' >/dev/null || ascending=0
	got+=("${seqs[@]}")
	next=$(printf '%s' "$RESP" | jq -r .next_after)
	if ((${#seqs[@]} == 2)) && [[ $next != "${seqs[1]}" ]]; then
		fullpages_have_next=0
	fi
	[[ $next == null ]] && break
	after=$next
done
expect_eq "$STATUS" 200 "list: pages answer 200"
expect_eq "${got[*]}" "${PAGE_SEQS[*]}" "list: paging returns every event once, in seq order"
expect_eq "$pages" 3 "list: 5 events at limit 2 make 3 pages"
expect_eq "$ascending" 1 "list: items ascending within a page"
expect_eq "$fullpages_have_next" 1 "list: a full page sets next_after to its last seq"
expect_json '.next_after' null "list: next_after null at the end"
expect_json '.items[0].event.id' p5 "list: items carry the event"

api GET "/v1/events?source=urn:page&type=page.b"
expect_status 200 "list: type filter 200"
expect_json '[.items[].event.id] | @json' '["p2","p4"]' "list: type and source filters"
expect_json '.next_after' null "list: short page has next_after null"
api GET "/v1/events?type=page.a&limit=1000"
expect_json '[.items[].event.id] | @json' '["p1","p3","p5"]' "list: type filter alone"
api GET "/v1/events?source=urn:nobody"
expect_json '.items | length' 0 "list: unknown source gives no items"
api GET "/v1/events?source=urn:page&after=${PAGE_SEQS[3]}"
expect_json '[.items[].event.id] | @json' '["p5"]' "list: after excludes seqs up to it"
api GET "/v1/events?limit=0"
expect_error 400 "list: limit=0 is 400"
api GET "/v1/events?limit=abc"
expect_error 400 "list: limit=abc is 400"
api GET "/v1/events?after=-5"
expect_error 400 "list: negative after is 400"

# ---------------------------------------------------------------- conformance vectors

VEC=${HERALD_TESTDATA:-}/cloudevents-format
if [[ -n ${HERALD_TESTDATA:-} && -d $VEC ]]; then
	# every valid event, exactly as given: 2xx
	n=$(jq '.tests | length' "$VEC/valid-events.json")
	for ((i = 0; i < n; i++)); do
		name=$(jq -r ".tests[$i].id" "$VEC/valid-events.json")
		post_ce "$(jq -c ".tests[$i].event" "$VEC/valid-events.json")"
		check "vector $name: accepted ($STATUS)" bash -c '[[ $1 == 202 || $1 == 200 ]]' _ "$STATUS"
	done
	# several vectors share an id; give each its own to check the round trip
	for ((i = 0; i < n; i++)); do
		name=$(jq -r ".tests[$i].id" "$VEC/valid-events.json")
		input=$(jq -c --arg n "$name" ".tests[$i].event | .id = \"rt-\" + \$n" "$VEC/valid-events.json")
		post_ce "$input"
		expect_status 202 "vector $name (own id): 202"
		api GET "/v1/events/$(printf '%s' "$RESP" | jq -r .seq)"
		want=$(printf '%s' "$input" | jq -cS 'with_entries(select(.value != null))')
		have=$(printf '%s' "$RESP" | jq -cS '.event')
		if json_equal "$want" "$have"; then
			_ok "vector $name: round-trips"
		else
			_not_ok "vector $name: round-trips" "want $want" "have $have"
		fi
	done
	n=$(jq '.tests | length' "$VEC/valid-batches.json")
	for ((i = 0; i < n; i++)); do
		name=$(jq -r ".tests[$i].id" "$VEC/valid-batches.json")
		input=$(jq -c ".tests[$i].batch" "$VEC/valid-batches.json")
		post_batch "$input"
		expect_status 202 "vector $name: 202"
		expect_json '.results | length' "$(printf '%s' "$input" | jq length)" \
			"vector $name: one result per member"
	done
	BEFORE=$(count_events)
	n=$(jq '.tests | length' "$VEC/invalid-events.json")
	for ((i = 0; i < n; i++)); do
		name=$(jq -r ".tests[$i].id" "$VEC/invalid-events.json")
		post_ce "$(jq -c ".tests[$i].event" "$VEC/invalid-events.json")"
		check "vector $name: rejected with 4xx ($STATUS)" bash -c '[[ $1 == 4[0-9][0-9] ]]' _ "$STATUS"
	done
	n=$(jq '.tests | length' "$VEC/invalid-batches.json")
	for ((i = 0; i < n; i++)); do
		name=$(jq -r ".tests[$i].id" "$VEC/invalid-batches.json")
		post_batch "$(jq -c ".tests[$i].batch" "$VEC/invalid-batches.json")"
		check "vector $name: rejected with 4xx ($STATUS)" bash -c '[[ $1 == 4[0-9][0-9] ]]' _ "$STATUS"
	done
	expect_eq "$(count_events)" "$BEFORE" "vectors: invalid events and batches stored nothing"
else
	log "conformance vectors not found (HERALD_TESTDATA=${HERALD_TESTDATA:-unset}): vector part skipped"
fi

# ---------------------------------------------------------------- concurrency

CONC=$TEST_TMPDIR/conc
mkdir -p "$CONC"
conc_worker() {
	local w=$1 j body code
	for ((j = 0; j < 25; j++)); do
		body=$(printf '{"specversion":"1.0","id":"c-%d-%d","source":"urn:conc","type":"test.conc"}' "$w" "$j")
		code=$(curl -sS --max-time 20 -o "$CONC/$w.$j.json" -w '%{http_code}' \
			-H "Authorization: Bearer $ADMIN_KEY" \
			-H 'Content-Type: application/cloudevents+json' \
			--data-binary "$body" "$HERALD_URL/v1/events" 2>>"$CONC/$w.err") || true
		printf '%s\n' "$code" >>"$CONC/$w.status"
		openapi_record POST "$HERALD_URL/v1/events" "$code" "$CONC/$w.$j.json"
	done
}
t0=$(now_ms)
pids=()
for w in 0 1 2 3 4 5 6 7; do
	conc_worker "$w" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p"
done
log "200 concurrent posts took $(($(now_ms) - t0)) ms"
expect_eq "$(cat "$CONC"/*.status | grep -c '^202$')" 200 "concurrency: 200 posts all 202"
expect_eq "$(cat "$CONC"/*.json | jq -r '.seq' | sort -u | grep -cE '^[1-9][0-9]*$')" 200 \
	"concurrency: 200 distinct seqs"
expect_eq "$(cat "$CONC"/*.json | jq -r '.duplicate' | sort -u | tr '\n' ' ')" "false " \
	"concurrency: none reported duplicate"
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE source = 'urn:conc'")" 200 \
	"concurrency: 200 rows in the database"
expect_eq "$(count_events source=urn:conc)" 200 "concurrency: GET /v1/events lists 200"

log "JSON data keeps every digit"
api POST /v1/events '{"specversion":"1.0","id":"bigint","source":"/exact","type":"t","data":{"id":9007199254740993,"x":0.30000000000000004}}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "event with a 64-bit integer in its data"
seq_big=$(jq -r .seq <<<"$RESP")
api GET "/v1/events/$seq_big"
check "GET shows the integer as sent" grep -qF '"data":{"id":9007199254740993,"x":0.30000000000000004}' <<<"$RESP"

finish
