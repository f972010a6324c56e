#!/bin/bash
# The "data" filter dialect end to end (herald + PostgreSQL + receiver): the
# README's examples run verbatim (the changed-fields case delivered to the
# address subscriber only), exact comparison of integers beyond 2^53 kept
# through storage, PATCH and GET, data filters inside all/any/not, events
# without JSON data, replay of a data-filtered subscription, and invalid
# filters refused with the path of the fault.
# shellcheck disable=SC2016,SC2317
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CE=(-H 'Content-Type: application/cloudevents+json')

pg_use_shared_or_start
db_create
receiver_start
herald_start
R=$RECEIVER_URL

# publish DESC JSON: a structured event (202); sets PUB_SEQ.
publish() {
	api POST /v1/events "$2" "${CE[@]}"
	expect_status 202 "$1: published"
	PUB_SEQ=$(printf '%s' "$RESP" | jq -r '.seq // empty')
}

# seqs SUB: the seqs of SUB's deliveries, in order, space separated.  They
# are made in the publishing transaction: no waiting needed.
seqs() {
	db_psql "SELECT coalesce(string_agg(seq::text, ' ' ORDER BY seq), '')
		 FROM delivery WHERE subscription_id = '$1'"
}

# delivered_ids PATH: the ids of the events PATH received, in order.
delivered_ids() {
	receiver_requests "$1" | jq -r '[.[] | .headers["ce-id"]] | join(" ")'
}

# expect_invalid DESC BODY FIELD: creating BODY is 400 invalid_filter at FIELD.
expect_invalid() {
	api POST /v1/subscriptions "$2"
	expect_status 400 "$1: refused"
	expect_json '.error + " " + .field' "invalid_filter $3" "$1: field $3"
}

# ------------------------------------------------ the README, verbatim

# the README's curl commands of the section, one per array entry
mapfile -t -d '' README_CMDS < <(
	awk '/^### Filtering on the event.s data/ { on = 1; next }
	     on && /^In the list, `backlog`/ { exit }
	     on && /^    curl / { cmd = ""; inc = 1 }
	     on && inc { line = substr($0, 5); cmd = cmd line "\n";
	                 if (line !~ /\\$/) { printf "%s%c", cmd, 0; inc = 0 } }' \
		"$HERALD_SRCDIR/README")
expect_eq "${#README_CMDS[@]}" 6 "the README shows six curl commands for data filters"

# readme N: run the Nth command as a reader would, against this herald
# and this receiver; prints its output.
readme() {
	local cmd=${README_CMDS[$1]}
	cmd=${cmd//http:\/\/127.0.0.1:8080/$HERALD_URL}
	cmd=${cmd//http:\/\/127.0.0.1:9000/$R}
	HERALD_KEY=$ADMIN_KEY bash -c "$cmd"
}

ADDR=$(readme 0 | jq -r '.id // empty')
BIG=$(readme 1 | jq -r '.id // empty')
HUGE=$(readme 2 | jq -r '.id // empty')
check "README: three subscriptions with data filters created" \
	test -n "$ADDR" -a -n "$BIG" -a -n "$HUGE"
api GET "/v1/subscriptions/$HUGE"
check "README: the stored filter keeps 9007199254740992 digit for digit" \
	grep -qF '"gt":9007199254740992}' <<<"$RESP"

# the consumer of e-mail changes, and one taking every profile update
sub_create "email changes" '{"sink":"'"$R"'/emails","types":["com.example.customerProfileUpdated"],"filters":[{"data":{"/changed":{"contains":"email"}}}]}'
EMAIL=$SUB_ID
sub_create "all profile updates" '{"sink":"'"$R"'/all","types":["com.example.customerProfileUpdated"]}'
ALL=$SUB_ID

OUT=$(readme 3)
P1=$(jq -r '.seq // empty' <<<"$OUT")
check "README: the profile update is published" test -n "$P1"
OUT=$(readme 4)
T1=$(jq -r '.seq // empty' <<<"$OUT")
check "README: the transfer is published" test -n "$T1"
publish "an e-mail change" '{"specversion":"1.0","id":"profile-2","source":"/crm","type":"com.example.customerProfileUpdated","data":{"customer":"c-7","changed":["email"]}}'
P2=$PUB_SEQ

expect_eq "$(seqs "$ADDR")" "$P1" "changed address: only the address change goes to the address subscriber"
expect_eq "$(seqs "$EMAIL")" "$P2" "changed email: only the e-mail change goes to the e-mail subscriber"
expect_eq "$(seqs "$ALL")" "$P1 $P2" "a subscriber without data filter gets both"
expect_eq "$(seqs "$BIG")" "" "the order subscriber gets no profile update"
expect_eq "$(seqs "$HUGE")" "$T1" "9007199254740993 > 9007199254740992: the transfer goes to the third"
wait_until 15 "the address subscriber received the address change" receiver_has /addresses 1
wait_until 15 "the e-mail subscriber received the e-mail change" receiver_has /emails 1
wait_until 15 "the catch-all received both" receiver_has /all 2
expect_eq "$(delivered_ids /addresses)" "profile-1" "the address subscriber received profile-1 and nothing else"
expect_eq "$(delivered_ids /emails)" "profile-2" "the e-mail subscriber received profile-2 and nothing else"
wait_until 15 "the transfer reached /huge" receiver_has /huge 1
REQ=$(receiver_requests /huge | jq -c '.[0]')
check "the transfer's amount is delivered digit for digit" \
	grep -qF '9007199254740993' <<<"$(jq -r '.body' <<<"$REQ")"

OUT=$(readme 5)
expect_eq "$(jq -r '.error + " " + .field' <<<"$OUT")" \
	"invalid_filter filters[0].data./customer/tier.in" \
	"README: the malformed filter is refused with its path"

# orders: tier in a set and a total bound, in one data object
publish "gold order of 100" '{"specversion":"1.0","id":"o-1","source":"/shop","type":"com.example.order.placed","data":{"customer":{"tier":"gold"},"total":100}}'
O1=$PUB_SEQ
publish "silver order of 500" '{"specversion":"1.0","id":"o-2","source":"/shop","type":"com.example.order.placed","data":{"customer":{"tier":"silver"},"total":500}}'
O2=$PUB_SEQ
publish "platinum order of 99.99" '{"specversion":"1.0","id":"o-3","source":"/shop","type":"com.example.order.placed","data":{"customer":{"tier":"platinum"},"total":99.99}}'
publish "platinum order of 1e3" '{"specversion":"1.0","id":"o-4","source":"/shop","type":"com.example.order.placed","data":{"customer":{"tier":"platinum"},"total":1e3}}'
O4=$PUB_SEQ
expect_eq "$(seqs "$BIG")" "$O1 $O4" "orders: every pointer of the object must hold"

# ------------------------------------------------ large integers, exactly

sub_create "gte 2^53+1" '{"sink":"'"$R"'/ge","filters":[{"data":{"/n":{"gte":9007199254740993}}}]}'
GE=$SUB_ID
sub_create "eq a 30-digit integer" '{"sink":"'"$R"'/eq","filters":[{"data":{"/n":{"eq":123456789012345678901234567890}}}]}'
EQ=$SUB_ID
sub_create "lt -2^63 - 1 (any of two)" '{"sink":"'"$R"'/lt","filters":[{"any":[{"data":{"/n":{"lt":-9223372036854775809}}},{"data":{"/m":{"lte":0.1}}}]}]}'
LT=$SUB_ID
api GET "/v1/subscriptions/$GE"
check "GET shows the operand 9007199254740993 exactly" grep -qF '"gte":9007199254740993}' <<<"$RESP"
api GET "/v1/subscriptions/$EQ"
check "GET shows the 30-digit operand exactly" grep -qF '"eq":123456789012345678901234567890}' <<<"$RESP"

# jq would round the numbers: build the events as text
ev_num() {
	printf '{"specversion":"1.0","id":"%s","source":"/nums","type":"num","data":%s}' "$1" "$2"
}
publish "n = 2^53" "$(ev_num n1 '{"n":9007199254740992}')"
N1=$PUB_SEQ
publish "n = 2^53 + 1" "$(ev_num n2 '{"n":9007199254740993}')"
N2=$PUB_SEQ
publish "n = 2^53 + 0.5" "$(ev_num n3 '{"n":9007199254740992.5}')"
N3=$PUB_SEQ
publish "n = 1e16" "$(ev_num n4 '{"n":1e16}')"
N4=$PUB_SEQ
publish "n as a string" "$(ev_num n5 '{"n":"9007199254740999"}')"
N5=$PUB_SEQ
publish "n = 30 digits" "$(ev_num n6 '{"n":123456789012345678901234567890}')"
N6=$PUB_SEQ
publish "n = 30 digits + 1" "$(ev_num n7 '{"n":123456789012345678901234567891}')"
N7=$PUB_SEQ
publish "n = 1.2345...e29" "$(ev_num n8 '{"n":1.2345678901234567890123456789e29}')"
N8=$PUB_SEQ
publish "n = -2^63 - 1" "$(ev_num n9 '{"n":-9223372036854775809}')"
N9=$PUB_SEQ
publish "n = -2^63 - 2" "$(ev_num n10 '{"n":-9223372036854775810}')"
N10=$PUB_SEQ
publish "m = 0.1000000000000000000001" "$(ev_num n11 '{"m":0.1000000000000000000001}')"
publish "m = 0.09999999999999999999" "$(ev_num n12 '{"m":0.09999999999999999999}')"
N12=$PUB_SEQ
expect_eq "$(seqs "$GE")" "$N2 $N4 $N6 $N7 $N8" "gte 9007199254740993: 2^53 and 2^53 + 0.5 fall short, a string never matches"
expect_eq "$(seqs "$EQ")" "$N6 $N8" "eq a 30-digit integer: by exact value, in any spelling"
expect_eq "$(seqs "$LT")" "$N10 $N12" "lt below int64 and lte 0.1: exact beyond doubles"

# an unrelated PATCH keeps the operand's digits, and the cache reloads it
api PATCH "/v1/subscriptions/$GE" '{"delivery":{"rate":50}}'
expect_status 200 "PATCH an unrelated field"
check "PATCH keeps the operand 9007199254740993" grep -qF '"gte":9007199254740993}' <<<"$RESP"
publish "n = 2^53 after the PATCH" "$(ev_num n13 '{"n":9007199254740992}')"
publish "n = 2^53 + 1 after the PATCH" "$(ev_num n14 '{"n":9007199254740993}')"
N14=$PUB_SEQ
expect_eq "$(seqs "$GE")" "$N2 $N4 $N6 $N7 $N8 $N14" "after the PATCH the comparison is still exact"

# ------------------------------------------------ what counts as JSON data

sub_create "total exists" '{"sink":"'"$R"'/kinds","source":"/kinds","filters":[{"data":{"/total":{"exists":true}}}]}'
KINDS=$SUB_ID
sub_create "no total" '{"sink":"'"$R"'/nokinds","source":"/kinds","filters":[{"not":{"data":{"/total":{"exists":true}}}}]}'
NOKINDS=$SUB_ID
kind_event() {
	printf '{"specversion":"1.0","id":"%s","source":"/kinds","type":"k"%s}' "$1" "$2"
}
publish "no datacontenttype" "$(kind_event k1 ',"data":{"total":1}')"
K1=$PUB_SEQ
publish "application/json" "$(kind_event k2 ',"datacontenttype":"application/json","data":{"total":1}')"
K2=$PUB_SEQ
publish "+json" "$(kind_event k3 ',"datacontenttype":"application/vnd.shop+json","data":{"total":1}')"
K3=$PUB_SEQ
publish "text/plain" "$(kind_event k4 ',"datacontenttype":"text/plain","data":"{\"total\":1}"')"
K4=$PUB_SEQ
publish "data_base64" "$(kind_event k5 ',"data_base64":"eyJ0b3RhbCI6MX0="')"
K5=$PUB_SEQ
publish "no data" "$(kind_event k6 '')"
K6=$PUB_SEQ
api POST /v1/events '{"total":1}' -H 'ce-specversion: 1.0' -H 'ce-id: k7' \
	-H 'ce-source: /kinds' -H 'ce-type: k' -H 'Content-Type: application/json'
expect_status 202 "binary mode, application/json: published"
K7=$(printf '%s' "$RESP" | jq -r '.seq')
api POST /v1/events '{"total":1}' -H 'ce-specversion: 1.0' -H 'ce-id: k8' \
	-H 'ce-source: /kinds' -H 'ce-type: k' -H 'Content-Type: application/octet-stream'
expect_status 202 "binary mode, application/octet-stream: published"
K8=$(printf '%s' "$RESP" | jq -r '.seq')
expect_eq "$(seqs "$KINDS")" "$K1 $K2 $K3 $K7" "JSON data: no datacontenttype, */json, +json, binary JSON"
expect_eq "$(seqs "$NOKINDS")" "$K4 $K5 $K6 $K8" "not JSON data: text, base64, none, binary bytes"

# ------------------------------------------------ replay reads the data

sub_create "late order subscriber" '{"sink":"'"$R"'/late","types":["com.example.order.placed"],"filters":[{"data":{"/total":{"gt":99.99}}}]}'
LATE=$SUB_ID
expect_eq "$(seqs "$LATE")" "" "a new subscription has no deliveries"
api POST "/v1/subscriptions/$LATE/replay" '{"from_seq":1,"dry_run":true}'
expect_json '.selected' 3 "a dry run counts the three orders above 99.99"
api POST "/v1/subscriptions/$LATE/replay" '{"from_seq":1}'
expect_status 202 "replay from the start"
LATE_OP=$(jq -r .id <<<"$RESP")
late_done() {
	api GET "/v1/subscriptions/$LATE/operations/$LATE_OP"
	[[ $(jq -r .state <<<"$RESP") == succeeded ]]
}
wait_until 20 "the replay finishes" late_done
expect_json '.enqueued' 3 "replay requeues the three orders above 99.99"
expect_eq "$(seqs "$LATE")" "$O1 $O2 $O4" "replay matched the stored data"

# ------------------------------------------------ invalid filters

S='"sink":"'"$R"'/x"'
expect_invalid "unknown operator" '{'"$S"',"filters":[{"data":{"/a":{"equals":1}}}]}' 'filters[0].data./a.equals'
expect_invalid "not a pointer" '{'"$S"',"filters":[{"data":{"a":{"eq":1}}}]}' 'filters[0].data.a'
expect_invalid "bad escape" '{'"$S"',"filters":[{"data":{"/a~2":{"eq":1}}}]}' 'filters[0].data./a~2'
expect_invalid "gt of a string" '{'"$S"',"filters":[{"data":{"/a":{"gt":"5"}}}]}' 'filters[0].data./a.gt'
expect_invalid "exists of a string" '{'"$S"',"filters":[{"data":{"/a":{"exists":"yes"}}}]}' 'filters[0].data./a.exists'
expect_invalid "empty in" '{'"$S"',"filters":[{"data":{"/a":{"in":[]}}}]}' 'filters[0].data./a.in'
expect_invalid "no tests" '{'"$S"',"filters":[{"data":{"/a":{}}}]}' 'filters[0].data./a'
expect_invalid "empty data" '{'"$S"',"filters":[{"data":{}}]}' 'filters[0].data'
expect_invalid "operand out of range" '{'"$S"',"filters":[{"data":{"/a":{"lt":1e1001}}}]}' 'filters[0].data./a.lt'
expect_invalid "nested" '{'"$S"',"filters":[{"exact":{"type":"t"}},{"any":[{"not":{"data":{"/a":{"suffix":""}}}}]}]}' 'filters[1].any[0].not.data./a.suffix'
api PATCH "/v1/subscriptions/$ADDR" '{"filters":[{"data":{"/changed":{"contains":"address","bad":1}}}]}'
expect_status 400 "PATCH with a bad data filter: refused"
expect_json '.field' 'filters[0].data./changed.bad' "PATCH: the field names the fault"
api GET "/v1/subscriptions/$ADDR"
expect_json '.filters[0].data["/changed"].contains' address "the refused PATCH changed nothing"

finish
