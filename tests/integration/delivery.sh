#!/bin/bash
# Webhook delivery end to end (herald + PostgreSQL + receiver): binary and
# structured mode, ce-* headers, Standard Webhooks signatures checked with the
# openssl CLI, exact binary bytes, protocolsettings headers and credentials,
# types and filters, dedup, secret rotation, pause/resume, delete while in
# flight, the connect-time SSRF guard, redirects and 2xx statuses.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

command -v openssl >/dev/null || skip "openssl is not installed"
command -v base64 >/dev/null || skip "base64 is not installed"

CE=(-H 'Content-Type: application/cloudevents+json')

# ---------------------------------------------------------------- helpers

SUB_ID=
SUB_SECRET=
PUB_SEQ=

# create_sub DESC JSON: create a subscription (201); sets SUB_ID, SUB_SECRET.
create_sub() {
	api POST /v1/subscriptions "$2"
	expect_status 201 "$1: subscription created"
	SUB_ID=$(printf '%s' "$RESP" | jq -r '.id // empty')
	SUB_SECRET=$(printf '%s' "$RESP" | jq -r '.secret // empty')
	[[ -n $SUB_ID && $SUB_SECRET == whsec_* ]] ||
		die "$1: create answer lacks id or secret: $RESP"
}

# publish DESC JSON: publish a structured event (202); sets PUB_SEQ.
publish() {
	api POST /v1/events "$2" "${CE[@]}"
	expect_status 202 "$1: published"
	PUB_SEQ=$(printf '%s' "$RESP" | jq -r '.seq // empty')
}

# ev ID SOURCE [EXTRA]: a structured event; EXTRA is a jq object merged in.
ev() {
	jq -cn --arg id "$1" --arg src "$2" --argjson extra "${3:-{\}}" \
		'{specversion:"1.0", id:$id, source:$src, type:"test.event"} + $extra'
}

# req_json PATH INDEX: the INDEXth (from 0) request PATH received.
req_json() {
	receiver_requests "$1" | jq -c ".[$2] // empty"
}

# hdr REQ NAME: a header of a recorded request (names are lower-case).
hdr() {
	printf '%s' "$1" | jq -r --arg n "$2" '.headers[$n] // empty'
}

# body_to_file REQ FILE: the exact body bytes of a recorded request.
body_to_file() {
	if printf '%s' "$1" | jq -e 'has("body_base64")' >/dev/null; then
		printf '%s' "$1" | jq -r '.body_base64' | base64 -d >"$2"
	else
		printf '%s' "$1" | jq -j '.body' >"$2"
	fi
}

# hmac_sig SECRET ID TS FILE: base64 HMAC-SHA256 of "ID.TS.<file bytes>"
# under the key of SECRET ("whsec_<base64 key>"), computed by openssl.
hmac_sig() {
	local hex
	hex=$(printf '%s' "${1#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	[[ -n $hex ]] || return 1
	{
		printf '%s.%s.' "$2" "$3"
		cat "$4"
	} | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hex" -binary | base64
}

# sig_entries HEADER: the "v1," signatures of a webhook-signature value,
# one per line, without the prefix.
sig_entries() {
	local e
	for e in $1; do
		[[ $e == v1,* ]] && printf '%s\n' "${e#v1,}"
	done
}

# has_line TEXT LINE: TEXT holds LINE as one of its lines.
has_line() {
	grep -qxF -- "$2" <<<"$1"
}

# delivery_field SUB SEQ COLUMN: a column of one delivery row.
delivery_field() {
	db_psql "SELECT $3 FROM delivery WHERE subscription_id = '$1' AND seq = $2"
}

delivery_is() {
	[[ $(delivery_field "$1" "$2" "$3") == "$4" ]]
}

delivery_has_error() {
	[[ -n $(delivery_field "$1" "$2" last_error) ]]
}

# json_equal A B: jq equality of two JSON texts.
json_equal() {
	jq -en --argjson a "$1" --argjson b "$2" '$a == $b' >/dev/null 2>&1
}

# webhook_ids PATH: the webhook-id of each request to PATH, in arrival order.
webhook_ids() {
	receiver_requests "$1" | jq -r '[.[] | .headers["webhook-id"]] | join(" ")'
}

# has_no_header REQ NAME: the recorded request has no header NAME at all.
has_no_header() {
	printf '%s' "$1" | jq -e --arg n "$2" '.headers | has($n) | not' >/dev/null
}

# json_file_lacks FILE KEY: FILE holds a JSON object without member KEY.
json_file_lacks() {
	jq -e --arg k "$2" 'has($k) | not' "$1" >/dev/null
}

# ---------------------------------------------------------------- set-up

pg_use_shared_or_start
db_create
receiver_start
herald_start
R=$RECEIVER_URL
STRAGGLER_S=2

# ---------------------------------------------------------------- binary mode

create_sub "binary" '{"sink":"'"$R"'/bin","source":"urn:bin"}'
BIN_SECRET=$SUB_SECRET
publish "binary" "$(ev b-1 urn:bin '{"subject":"s é","tenantid":"t1","count":5,"data":{"a":1}}')"
BIN_SEQ=$PUB_SEQ
PUB_AT=$(date +%s)
wait_until 15 "binary: delivered" receiver_has /bin 1
REQ=$(req_json /bin 0)
expect_eq "$(printf '%s' "$REQ" | jq -r .method)" POST "binary: method POST"
expect_eq "$(printf '%s' "$REQ" | jq -r '.body // "(no text body)"')" '{"a":1}' "binary: body is exactly the JSON data"
check "binary: no content-type for an event without datacontenttype" has_no_header "$REQ" content-type
expect_eq "$(hdr "$REQ" ce-specversion)" 1.0 "binary: ce-specversion"
expect_eq "$(hdr "$REQ" ce-id)" b-1 "binary: ce-id"
expect_eq "$(hdr "$REQ" ce-source)" urn:bin "binary: ce-source"
expect_eq "$(hdr "$REQ" ce-type)" test.event "binary: ce-type"
expect_eq "$(hdr "$REQ" ce-subject)" 's%20%C3%A9' "binary: ce-subject percent-encoded"
expect_eq "$(hdr "$REQ" ce-tenantid)" t1 "binary: ce-tenantid extension"
expect_eq "$(hdr "$REQ" ce-count)" 5 "binary: integer extension ce-count as 5"
check "binary: no ce-datacontenttype header" test -z "$(hdr "$REQ" ce-datacontenttype)"
check "binary: no ce-data header" test -z "$(hdr "$REQ" ce-data)"
expect_eq "$(hdr "$REQ" webhook-id)" "msg_$BIN_SEQ" "binary: webhook-id is msg_<seq>"
WH_TS=$(hdr "$REQ" webhook-timestamp)
if [[ $WH_TS =~ ^[0-9]+$ ]] && ((WH_TS - PUB_AT <= 60 && PUB_AT - WH_TS <= 60)); then
	_ok "binary: webhook-timestamp within 60 s of now"
else
	_not_ok "binary: webhook-timestamp within 60 s of now" "timestamp '$WH_TS', now $PUB_AT"
fi
UA=$(hdr "$REQ" user-agent)
check "binary: user-agent herald/... ($UA)" test "${UA#herald/}" != "$UA" -a -n "${UA#herald/}"

# The signature, computed independently.
body_to_file "$REQ" "$TEST_TMPDIR/bin.body"
SIG_HDR=$(hdr "$REQ" webhook-signature)
SIGS=$(sig_entries "$SIG_HDR")
expect_eq "$(printf '%s\n' "$SIGS" | grep -c .)" 1 "signature: one v1 entry ($SIG_HDR)"
WANT=$(hmac_sig "$BIN_SECRET" "msg_$BIN_SEQ" "$WH_TS" "$TEST_TMPDIR/bin.body")
check "signature: openssl HMAC over id.timestamp.body matches" has_line "$SIGS" "$WANT"
printf '{"a":2}' >"$TEST_TMPDIR/bin.tampered"
BAD=$(hmac_sig "$BIN_SECRET" "msg_$BIN_SEQ" "$WH_TS" "$TEST_TMPDIR/bin.tampered")
check "signature: a tampered body does not verify" test -n "$BAD" -a "$BAD" != "$WANT"
check "signature: tampered signature not in the header" eval '! has_line "$SIGS" "$BAD"'
BAD=$(hmac_sig "$BIN_SECRET" "msg_$BIN_SEQ" "$((WH_TS + 1))" "$TEST_TMPDIR/bin.body")
check "signature: another timestamp does not verify" eval '! has_line "$SIGS" "$BAD"'

# Dedup: the same source+id again is not delivered again.
api POST /v1/events "$(ev b-1 urn:bin '{"subject":"again","data":{"a":9}}')" "${CE[@]}"
expect_status 200 "dedup: same source+id is 200"
expect_json '.duplicate' true "dedup: duplicate true"
sleep "$STRAGGLER_S"
expect_eq "$(receiver_count /bin)" 1 "dedup: the duplicate is not delivered"
check "binary: delivery row succeeded" delivery_is "$SUB_ID" "$BIN_SEQ" state succeeded

# ---------------------------------------------------------------- structured mode

create_sub "structured" '{"sink":"'"$R"'/struct","source":"urn:struct","delivery":{"mode":"structured"}}'
EV_S=$(ev st-1 urn:struct '{"subject":"s é","tenantid":"t1","count":5,"datacontenttype":"application/json","data":{"a":[1,"x",null]}}')
publish "structured" "$EV_S"
ST_SEQ=$PUB_SEQ
wait_until 15 "structured: delivered" receiver_has /struct 1
REQ=$(req_json /struct 0)
expect_eq "$(hdr "$REQ" content-type)" application/cloudevents+json "structured: content-type application/cloudevents+json"
GOT=$(printf '%s' "$REQ" | jq -c '.body | fromjson' 2>&1)
check "structured: body is the event's attributes and data ($GOT)" json_equal "$EV_S" "$GOT"
expect_eq "$(hdr "$REQ" webhook-id)" "msg_$ST_SEQ" "structured: webhook-id"
body_to_file "$REQ" "$TEST_TMPDIR/st.body"
WANT=$(hmac_sig "$SUB_SECRET" "msg_$ST_SEQ" "$(hdr "$REQ" webhook-timestamp)" "$TEST_TMPDIR/st.body")
check "structured: signature over the JSON body verifies" has_line "$(sig_entries "$(hdr "$REQ" webhook-signature)")" "$WANT"

# ---------------------------------------------------------------- binary data

create_sub "bytes" '{"sink":"'"$R"'/bytes","source":"urn:bytes"}'
printf 'a\000b\377c\000\000\376\r\nend\377' >"$TEST_TMPDIR/bytes.in"
api POST /v1/events '' -H 'ce-specversion: 1.0' -H 'ce-source: urn:bytes' \
	-H 'ce-type: test.bytes' -H 'ce-id: by-1' -H 'Content-Type: application/octet-stream' \
	--data-binary "@$TEST_TMPDIR/bytes.in"
expect_status 202 "bytes: binary-mode event with NUL and 0xFF published"
BY_SEQ=$(printf '%s' "$RESP" | jq -r .seq)
wait_until 15 "bytes: delivered" receiver_has /bytes 1
REQ=$(req_json /bytes 0)
expect_eq "$(hdr "$REQ" content-type)" application/octet-stream "bytes: content-type application/octet-stream"
body_to_file "$REQ" "$TEST_TMPDIR/bytes.out"
check "bytes: the receiver got the identical bytes" cmp -s "$TEST_TMPDIR/bytes.in" "$TEST_TMPDIR/bytes.out"
WANT=$(hmac_sig "$SUB_SECRET" "msg_$BY_SEQ" "$(hdr "$REQ" webhook-timestamp)" "$TEST_TMPDIR/bytes.in")
check "bytes: signature over the raw bytes verifies" has_line "$(sig_entries "$(hdr "$REQ" webhook-signature)")" "$WANT"

# ---------------------------------------------------------------- no content type

# Published in binary mode without Content-Type, the event has no
# datacontenttype: the binary delivery must carry no Content-Type (a
# receiver would read one as datacontenttype), the structured one no
# datacontenttype member.
create_sub "noct binary" '{"sink":"'"$R"'/noct-bin","source":"urn:noct"}'
create_sub "noct structured" '{"sink":"'"$R"'/noct-st","source":"urn:noct","delivery":{"mode":"structured"}}'
printf 'a=1&b=2' >"$TEST_TMPDIR/noct.in"
api POST /v1/events '' -H 'ce-specversion: 1.0' -H 'ce-source: urn:noct' \
	-H 'ce-type: test.noct' -H 'ce-id: nc-1' -H 'Content-Type:' \
	--data-binary "@$TEST_TMPDIR/noct.in"
expect_status 202 "noct: binary-mode event without Content-Type published"
wait_until 15 "noct: binary delivered" receiver_has /noct-bin 1
wait_until 15 "noct: structured delivered" receiver_has /noct-st 1
REQ=$(req_json /noct-bin 0)
check "noct: the binary request has no content-type header" has_no_header "$REQ" content-type
check "noct: nor a ce-datacontenttype header" has_no_header "$REQ" ce-datacontenttype
expect_eq "$(hdr "$REQ" ce-id)" nc-1 "noct: ce-id"
body_to_file "$REQ" "$TEST_TMPDIR/noct.out"
check "noct: the binary body is the data" cmp -s "$TEST_TMPDIR/noct.in" "$TEST_TMPDIR/noct.out"
REQ=$(req_json /noct-st 0)
body_to_file "$REQ" "$TEST_TMPDIR/noct.st"
check "noct: the structured event has no datacontenttype" \
	json_file_lacks "$TEST_TMPDIR/noct.st" datacontenttype
expect_eq "$(jq -r .data_base64 "$TEST_TMPDIR/noct.st")" "$(base64 <"$TEST_TMPDIR/noct.in")" "noct: the structured event carries the data"

# ---------------------------------------------------------------- headers, credential

create_sub "headers" '{"sink":"'"$R"'/hdr","source":"urn:hdr","protocolsettings":{"headers":{"X-Team":"billing"}},"sinkcredential":{"credential_type":"ACCESSTOKEN","access_token":"tok123"}}'
publish "headers" "$(ev h-1 urn:hdr)"
wait_until 15 "headers: delivered" receiver_has /hdr 1
REQ=$(req_json /hdr 0)
expect_eq "$(hdr "$REQ" x-team)" billing "headers: x-team: billing"
expect_eq "$(hdr "$REQ" authorization)" "Bearer tok123" "headers: authorization: Bearer tok123"
check "headers: no event data, empty body" test "$(printf '%s' "$REQ" | jq -r '.body')" = ""
# without a credential there is no authorization header
check "headers: no authorization without sinkcredential" test -z "$(hdr "$(req_json /bin 0)" authorization)"

# ---------------------------------------------------------------- types and filters

create_sub "filtered" '{"sink":"'"$R"'/filt","source":"urn:filt","types":["a.b"],"filters":[{"prefix":{"subject":"eu/"}}]}'
create_sub "catch-all" '{"sink":"'"$R"'/all","source":"urn:filt"}'
publish "filter: non-matching type" "$(ev f-1 urn:filt '{"type":"a.c","subject":"eu/x"}')"
publish "filter: non-matching subject" "$(ev f-2 urn:filt '{"type":"a.b","subject":"us/x"}')"
publish "filter: no subject" "$(ev f-3 urn:filt '{"type":"a.b"}')"
publish "filter: matching" "$(ev f-4 urn:filt '{"type":"a.b","subject":"eu/de"}')"
F_MATCH=$PUB_SEQ
publish "filter: another matching" "$(ev f-5 urn:filt '{"type":"a.b","subject":"eu/"}')"
F_MATCH2=$PUB_SEQ
wait_until 15 "filter: matching events arrived" receiver_has /filt 2
wait_until 15 "filter: catch-all got all five" receiver_has /all 5
sleep "$STRAGGLER_S"
expect_eq "$(receiver_requests /filt | jq -r '[.[] | .headers["ce-id"]] | sort | join(" ")')" "f-4 f-5" \
	"filter: exactly the matching events delivered"
expect_eq "$(receiver_requests /filt | jq -r '[.[] | .headers["webhook-id"]] | sort | join(" ")')" \
	"$(printf '%s\n' "msg_$F_MATCH" "msg_$F_MATCH2" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"filter: their webhook-ids"
expect_eq "$(receiver_requests /all | jq -r '[.[] | .headers["ce-id"]] | sort | join(" ")')" "f-1 f-2 f-3 f-4 f-5" \
	"filter: a subscription without types gets everything"

# ---------------------------------------------------------------- secret rotation

create_sub "rotate" '{"sink":"'"$R"'/rot","source":"urn:rot"}'
ROT_ID=$SUB_ID
OLD_SECRET=$SUB_SECRET
api POST "/v1/subscriptions/$ROT_ID/rotate-secret"
expect_status 200 "rotate: rotate-secret answers 200"
NEW_SECRET=$(printf '%s' "$RESP" | jq -r '.secret // empty')
check "rotate: a new whsec_ secret" test "${NEW_SECRET#whsec_}" != "$NEW_SECRET" -a "$NEW_SECRET" != "$OLD_SECRET"
publish "rotate" "$(ev r-1 urn:rot '{"data":"x"}')"
ROT_SEQ=$PUB_SEQ
wait_until 15 "rotate: delivered" receiver_has /rot 1
REQ=$(req_json /rot 0)
body_to_file "$REQ" "$TEST_TMPDIR/rot.body"
SIG_HDR=$(hdr "$REQ" webhook-signature)
SIGS=$(sig_entries "$SIG_HDR")
expect_eq "$(printf '%s\n' "$SIGS" | grep -c .)" 2 "rotate: two v1 entries ($SIG_HDR)"
RTS=$(hdr "$REQ" webhook-timestamp)
W_OLD=$(hmac_sig "$OLD_SECRET" "msg_$ROT_SEQ" "$RTS" "$TEST_TMPDIR/rot.body")
W_NEW=$(hmac_sig "$NEW_SECRET" "msg_$ROT_SEQ" "$RTS" "$TEST_TMPDIR/rot.body")
check "rotate: one entry verifies with the old secret" has_line "$SIGS" "$W_OLD"
check "rotate: one entry verifies with the new secret" has_line "$SIGS" "$W_NEW"
check "rotate: old and new signatures differ" test "$W_OLD" != "$W_NEW"

# ---------------------------------------------------------------- pause / resume

create_sub "pause" '{"sink":"'"$R"'/pause","source":"urn:pause","delivery":{"ordering":"partitionkey"}}'
PAUSE_ID=$SUB_ID
api PATCH "/v1/subscriptions/$PAUSE_ID" '{"status":"paused"}'
expect_status 200 "pause: PATCH paused"
expect_json '.status' paused "pause: status paused"
P_SEQS=()
for i in 1 2 3; do
	publish "pause: event $i" "$(ev p-$i urn:pause '{"partitionkey":"pk1","data":{"i":'"$i"'}}')"
	P_SEQS+=("msg_$PUB_SEQ")
done
sleep "$STRAGGLER_S"
expect_eq "$(receiver_count /pause)" 0 "pause: nothing delivered while paused"
api PATCH "/v1/subscriptions/$PAUSE_ID" '{"status":"active"}'
expect_status 200 "pause: PATCH active"
wait_until 15 "pause: all three arrive after resume" receiver_has /pause 3
expect_eq "$(webhook_ids /pause)" "${P_SEQS[*]}" "pause: in seq order"
expect_eq "$(receiver_requests /pause | jq -r '[.[] | .headers["ce-id"]] | join(" ")')" "p-1 p-2 p-3" \
	"pause: ce-ids in publish order"

# ---------------------------------------------------------------- delete while in flight

create_sub "delete" '{"sink":"'"$R"'/slow?delay_ms=3000","source":"urn:del","delivery":{"ordering":"global"}}'
DEL_ID=$SUB_ID
for i in 1 2 3 4; do
	publish "delete: event $i" "$(ev d-$i urn:del)"
done
wait_until 15 "delete: first request in flight" receiver_has /slow 1
api DELETE "/v1/subscriptions/$DEL_ID"
expect_status 204 "delete: DELETE answers 204"
sleep 5
expect_eq "$(receiver_count /slow)" 1 "delete: no request after the one in flight"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$DEL_ID' AND state = 'pending'")" 0 \
	"delete: its pending deliveries are dropped"
api GET "/v1/subscriptions/$DEL_ID"
expect_status 404 "delete: the subscription is gone"
# the attempt log goes with its subscription (a statement trigger, not a
# foreign key)
wait_until 10 "delete: the pause subscription's three attempts are logged" \
	test "$(db_psql "SELECT count(*) FROM attempt WHERE subscription_id = '$PAUSE_ID'")" -eq 3
api DELETE "/v1/subscriptions/$PAUSE_ID"
expect_status 204 "delete: DELETE of a subscription with logged attempts answers 204"
expect_eq "$(db_psql "SELECT count(*) FROM attempt WHERE subscription_id = '$PAUSE_ID'")" 0 \
	"delete: its attempt log is gone with it"
expect_eq "$(db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$PAUSE_ID'")" 0 \
	"delete: its deliveries are gone with it"

# ---------------------------------------------------------------- redirects

create_sub "redirect" '{"sink":"'"$R"'/redir?redirect='"$R"'/redir-target","source":"urn:redir"}'
RD_ID=$SUB_ID
publish "redirect" "$(ev rd-1 urn:redir)"
RD_SEQ=$PUB_SEQ
wait_until 15 "redirect: the 302 was seen" delivery_is "$RD_ID" "$RD_SEQ" last_status 302
expect_eq "$(delivery_field "$RD_ID" "$RD_SEQ" state)" pending "redirect: the delivery is retried (pending)"
check "redirect: it counts as an attempt" test "$(delivery_field "$RD_ID" "$RD_SEQ" attempts)" -ge 1
expect_eq "$(receiver_count /redir-target)" 0 "redirect: the Location is not followed"

# ---------------------------------------------------------------- 2xx

for st in 200 202 204 299; do
	create_sub "status $st" '{"sink":"'"$R"'/ok'"$st"'?status='"$st"'","source":"urn:ok'"$st"'"}'
	publish "status $st" "$(ev ok-$st urn:ok$st)"
	wait_until 15 "status $st: delivery succeeded" delivery_is "$SUB_ID" "$PUB_SEQ" state succeeded
	expect_eq "$(receiver_count /ok$st)" 1 "status $st: sent once"
done

# ---------------------------------------------------------------- a damaged stored event

# read back when its attempt starts: a row that no longer reads is a
# failed attempt, logged and retried, and nothing is sent
create_sub "damaged" '{"sink":"'"$R"'/damaged","source":"urn:damaged","status":"paused"}'
DMG_ID=$SUB_ID
publish "damaged: event" "$(ev dmg-1 urn:damaged '{"data":{"a":1}}')"
DMG_SEQ=$PUB_SEQ
# as a hand edit or a broken disk might leave it: unbalanced JSON
db_psql "UPDATE event SET data = convert_to('{\"a\":', 'UTF8') WHERE seq = $DMG_SEQ" >/dev/null
api PATCH "/v1/subscriptions/$DMG_ID" '{"status":"active"}'
expect_status 200 "damaged: subscription resumed"
wait_until 15 "damaged: the attempt failed with an error" delivery_has_error "$DMG_ID" "$DMG_SEQ"
expect_eq "$(delivery_field "$DMG_ID" "$DMG_SEQ" last_error)" "the stored event is damaged" \
	"damaged: last_error says so"
expect_eq "$(delivery_field "$DMG_ID" "$DMG_SEQ" state)" pending "damaged: pending, for a retry"
expect_eq "$(delivery_field "$DMG_ID" "$DMG_SEQ" attempts)" 1 "damaged: it counts as an attempt"
expect_eq "$(receiver_count /damaged)" 0 "damaged: nothing was sent"

# ---------------------------------------------------------------- connect-time SSRF guard

create_sub "ssrf" '{"sink":"'"$R"'/ssrf","source":"urn:ssrf"}'
SSRF_ID=$SUB_ID
HERALD_A=$HERALD_PID
if herald_stop "$HERALD_A"; then
	_ok "ssrf: herald A exits 0 on SIGTERM"
else
	_not_ok "ssrf: herald A exits 0 on SIGTERM" "exit status $HERALD_EXIT_STATUS"
fi
herald_start --allow-private-sinks false
publish "ssrf: via herald B" "$(ev ss-1 urn:ssrf)"
SS_SEQ=$PUB_SEQ
wait_until 15 "ssrf: the attempt failed with an error" delivery_has_error "$SSRF_ID" "$SS_SEQ"
ERR=$(delivery_field "$SSRF_ID" "$SS_SEQ" last_error)
check "ssrf: last_error says the loopback connection was refused ($ERR)" \
	eval '[[ ${ERR,,} == *refused* && ${ERR,,} == *loopback* ]]'
expect_eq "$(delivery_field "$SSRF_ID" "$SS_SEQ" state)" pending "ssrf: the delivery stays pending for a retry"
expect_eq "$(receiver_count /ssrf)" 0 "ssrf: the receiver got nothing"

finish
