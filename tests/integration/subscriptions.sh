#!/bin/bash
# Subscriptions API: create with defaults and secrets, get/list/PUT/PATCH/
# DELETE, validation, SSRF classification at create time, tenant isolation,
# secret rotation, scopes, body limit.
# shellcheck disable=SC2016
# shellcheck source=tests/integration/lib.sh disable=SC1091
. "$HERALD_SRCDIR/tests/integration/lib.sh"

pg_use_shared_or_start
db_create
herald_start

# A sink on loopback: nothing is ever published here, so nothing is sent.
SINK=http://127.0.0.1:9/hooks/herald
TOKEN=tok-sinkcred-7f3a9c2e51
NOSUCH=00000000-0000-4000-8000-000000000000

# body_lacks TEXT: the last response body does not contain TEXT.
body_lacks() {
	[[ $RESP != *"$1"* ]]
}

# list_len: number of subscriptions the current KEY sees.
list_len() {
	api GET /v1/subscriptions
	printf '%s' "$RESP" | jq -r 'length'
}

# expect_error STATUS FIELD DESC: status, JSON error body and (unless FIELD
# is empty) the offending field.
expect_error() {
	local want=$1 field=$2 desc=$3 ok=1
	[[ $STATUS == "$want" ]] || ok=0
	printf '%s' "$RESP" | jq -e '(.error|type) == "string" and (.message|type) == "string"' >/dev/null 2>&1 || ok=0
	if [[ -n $field ]]; then
		[[ $(printf '%s' "$RESP" | jq -r '.field' 2>/dev/null) == "$field" ]] || ok=0
	fi
	if [[ $ok -eq 1 ]]; then
		_ok "$desc"
	else
		_not_ok "$desc" "expected $want with a JSON error${field:+ and field \"$field\"}" "$(_last_http)"
	fi
}

# ------------------------------------------------------------ create

api POST /v1/subscriptions '{"sink":"'"$SINK"'"}'
expect_status 201 "create a minimal subscription"
ID1=$(printf '%s' "$RESP" | jq -r '.id')
SECRET1=$(printf '%s' "$RESP" | jq -r '.secret')
expect_eq "$(resp_header Location)" "/v1/subscriptions/$ID1" "Location names the new subscription"
check "id is a uuid" grep -Eqx '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$ID1"
expect_json '.sink' "$SINK" "create echoes the sink"
expect_json '.protocol' "HTTP" "protocol defaults to HTTP"
expect_json '.status' "active" "a new subscription is active"
expect_json '.delivery | [.mode, .ordering, .rate, .max_in_flight, .timeout_ms] | map(tostring) | join(",")' \
	"binary,partitionkey,0,8,10000" "delivery defaults: mode, ordering, rate, max_in_flight, timeout_ms"
expect_json '.delivery.retry | [.max_attempts, .initial_ms, .multiplier, .max_ms, .jitter] | map(tostring) | join(",")' \
	"10,5000,4,36000000,0.2" "delivery.retry defaults"
check "secret starts with whsec_" grep -q '^whsec_' <<<"$SECRET1"
expect_eq "$(printf '%s' "${SECRET1#whsec_}" | base64 -d 2>/dev/null | wc -c)" 32 \
	"secret's base64 part decodes to 32 bytes"

FULL=$(jq -nc --arg sink "http://127.0.0.1:9/orders/hooks/herald" --arg tok "$TOKEN" '{
	sink: $sink, protocol: "HTTP", source: "/order/v1",
	types: ["com.example.orderPlaced", "com.example.orderCancelled"],
	filters: [{prefix: {subject: "eu/"}}, {not: {exact: {channel: "test"}}}],
	protocolsettings: {headers: {"X-Team": "billing"}},
	sinkcredential: {credential_type: "ACCESSTOKEN", access_token: $tok},
	delivery: {mode: "binary", ordering: "partitionkey", rate: 50, burst: 100,
		max_in_flight: 8, timeout_ms: 10000,
		retry: {max_attempts: 10, initial_ms: 5000, multiplier: 4.0,
			max_ms: 36000000, jitter: 0.2}}}')
api POST /v1/subscriptions "$FULL"
expect_status 201 "create with the full DESIGN.md example body"
ID2=$(printf '%s' "$RESP" | jq -r '.id')
SECRET2=$(printf '%s' "$RESP" | jq -r '.secret')
check "the two secrets differ" test "$SECRET1" != "$SECRET2"

api GET "/v1/subscriptions/$ID2"
expect_status 200 "GET the full subscription"
expect_json '.id' "$ID2" "GET: id"
expect_json '.sink' "http://127.0.0.1:9/orders/hooks/herald" "GET: sink"
expect_json '.source' "/order/v1" "GET: source"
expect_json '.types | join(",")' "com.example.orderPlaced,com.example.orderCancelled" "GET: types"
expect_json '.filters | tojson' '[{"prefix":{"subject":"eu/"}},{"not":{"exact":{"channel":"test"}}}]' "GET: filters"
expect_json '.protocolsettings.headers["X-Team"]' "billing" "GET: protocolsettings.headers"
expect_json '.delivery | [.rate, .burst, .max_in_flight] | map(tostring) | join(",")' "50,100,8" "GET: delivery rate, burst, max_in_flight"
expect_json '.status' "active" "GET: status"
expect_json 'has("sinkcredential") or has("secret")' "false" "GET: no sinkcredential and no secret fields"
check "GET one: no access token in the body" body_lacks "$TOKEN"
check "GET one: no whsec_ in the body" body_lacks whsec_
expect_eq "$(db_psql "SELECT config->'sinkcredential'->>'access_token' FROM subscription WHERE id = '$ID2'")" \
	"$TOKEN" "the access token is stored"

api GET /v1/subscriptions
expect_status 200 "list subscriptions"
expect_json 'type' "array" "the list is a JSON array"
expect_json '[.[].id] | sort | join(",")' "$(printf '%s\n' "$ID1" "$ID2" | sort | paste -sd,)" "the list holds both subscriptions"
check "list: no access token" body_lacks "$TOKEN"
check "list: no whsec_" body_lacks whsec_

api GET /v1/subscriptions/$NOSUCH
expect_error 404 "" "GET of an unknown id -> 404"
for m in GET PATCH PUT DELETE; do
	api "$m" /v1/subscriptions/not-a-uuid "$([[ $m == P* ]] && echo '{"status":"paused"}')"
	expect_error 404 "" "$m of a malformed id -> 404"
done

# ------------------------------------------------------------ PATCH

api PATCH "/v1/subscriptions/$ID2" '{"status":"paused"}'
expect_status 200 "PATCH status paused"
expect_json '.status' "paused" "PATCH answer shows paused"
check "PATCH: no access token" body_lacks "$TOKEN"
check "PATCH: no whsec_" body_lacks whsec_
expect_json '.source + " " + .sink' "/order/v1 http://127.0.0.1:9/orders/hooks/herald" "PATCH status keeps the other fields"
api GET "/v1/subscriptions/$ID2"
expect_json '.status' "paused" "GET after PATCH: paused"
expect_eq "$(db_psql "SELECT config->'sinkcredential'->>'access_token' FROM subscription WHERE id = '$ID2'")" \
	"$TOKEN" "PATCH keeps the stored access token"

api PATCH "/v1/subscriptions/$ID2" '{"status":"active"}'
expect_status 200 "PATCH status active"
expect_json '.status' "active" "resumed"

api PATCH "/v1/subscriptions/$ID2" '{"delivery":{"rate":5}}'
expect_status 200 "PATCH delivery.rate"
expect_json '.delivery | [.rate, .max_in_flight, .mode, .ordering, .timeout_ms, .retry.max_attempts, .retry.initial_ms] | map(tostring) | join(",")' \
	"5,8,binary,partitionkey,10000,10,5000" "PATCH delivery.rate keeps the other delivery fields"

api PATCH "/v1/subscriptions/$ID2" '{"status":"disabled"}'
expect_status 200 "PATCH status disabled: a user may disable"
expect_json '[.status, .status_reason] | join(" / ")' "disabled / disabled through the API" \
	"disabled, with the reason"
api PATCH "/v1/subscriptions/$ID2" '{"status":"active"}'
expect_status 200 "PATCH status active again"
expect_json '[.status, (.status_reason | tostring)] | join(" / ")' "active / null" \
	"active again, the reason cleared"

BEFORE=$RESP
api PATCH "/v1/subscriptions/$ID2" '{"sink":"ftp://x"}'
expect_error 400 sink "PATCH to an ftp sink -> 400 field sink"
api GET "/v1/subscriptions/$ID2"
expect_eq "$RESP" "$BEFORE" "a refused PATCH leaves the subscription unchanged"
api PATCH "/v1/subscriptions/$ID2" '{"delivery":{"retry":{"max_attempts":0}}}'
expect_error 400 delivery.retry.max_attempts "PATCH delivery.retry.max_attempts 0 -> 400"
api GET "/v1/subscriptions/$ID2"
expect_eq "$RESP" "$BEFORE" "still unchanged"

# ------------------------------------------------------------ PUT

api PATCH "/v1/subscriptions/$ID2" '{"status":"paused"}'
PUTBODY=$(jq -nc --arg tok "$TOKEN" '{sink: "http://127.0.0.1:9/replaced",
	types: ["t.replaced"],
	sinkcredential: {credential_type: "ACCESSTOKEN", access_token: $tok}}')
api PUT "/v1/subscriptions/$ID2" "$PUTBODY"
expect_status 200 "PUT replaces"
check "PUT: no access token in the answer" body_lacks "$TOKEN"
check "PUT: no whsec_ in the answer" body_lacks whsec_
expect_json '.sink + " " + (.types | join(","))' "http://127.0.0.1:9/replaced t.replaced" "PUT: new sink and types"
expect_json '[has("source"), has("filters"), has("protocolsettings")] | map(tostring) | join(",")' \
	"false,false,false" "PUT: fields dropped from the body are gone"
expect_json '.delivery.rate' "0" "PUT: delivery back to defaults"
expect_json '.status' "paused" "PUT without status keeps the status"
api GET "/v1/subscriptions/$ID2"
expect_json '[.sink, (has("source")|tostring), .status] | join(" ")' "http://127.0.0.1:9/replaced false paused" "GET after PUT"
api PUT "/v1/subscriptions/$ID2" '{"sink":"http://127.0.0.1:9/replaced","status":"active"}'
expect_status 200 "PUT with status active"
expect_json '.status' "active" "PUT sets an explicit status"
expect_eq "$(db_psql "SELECT config ? 'sinkcredential' FROM subscription WHERE id = '$ID2'")" \
	"f" "PUT without sinkcredential drops the stored credential"
api PUT "/v1/subscriptions/$ID2" '{"sink":"http://127.0.0.1:9/replaced","status":"disabled"}'
expect_status 200 "PUT status disabled"
expect_json '.status' "disabled" "PUT disables"
api PUT "/v1/subscriptions/$ID2" '{"sink":"http://127.0.0.1:9/replaced","status":"active"}'
expect_json '.status' "active" "PUT enables again"
api PATCH "/v1/subscriptions/$ID2" '["status","paused"]'
expect_error 400 "" "PATCH with a JSON array body -> 400"
api PATCH "/v1/subscriptions/$ID2" '{"status":"sleeping"}'
expect_error 400 status "PATCH with an unknown status -> 400 field status"
api GET "/v1/subscriptions/$ID2"
expect_json '.status' "active" "refused status changes leave it active"
api PUT "/v1/subscriptions/$ID2" '{"sink":"mailto:x@y"}'
expect_error 400 sink "PUT with a bad sink -> 400"
api PUT "/v1/subscriptions/$NOSUCH" '{"sink":"'"$SINK"'"}'
expect_error 404 "" "PUT of an unknown id -> 404"

# ------------------------------------------------------------ rotate-secret

api POST "/v1/subscriptions/$ID1/rotate-secret"
expect_status 200 "rotate-secret"
NEWSECRET=$(printf '%s' "$RESP" | jq -r '.secret')
check "rotated secret starts with whsec_" grep -q '^whsec_' <<<"$NEWSECRET"
expect_eq "$(printf '%s' "${NEWSECRET#whsec_}" | base64 -d 2>/dev/null | wc -c)" 32 "rotated secret decodes to 32 bytes"
check "rotated secret differs from the create-time one" test "$NEWSECRET" != "$SECRET1"
expect_json '.previous_secret_expires_at | type' "string" "previous_secret_expires_at is given"
check "previous_secret_expires_at is an RFC 3339 time" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}' \
	<<<"$(printf '%s' "$RESP" | jq -r '.previous_secret_expires_at')"
expect_eq "$(db_psql "SELECT secret = '$NEWSECRET' AND prev_secret = '$SECRET1' FROM subscription WHERE id = '$ID1'")" \
	"t" "the database holds the new secret and the previous one"
api POST "/v1/subscriptions/$NOSUCH/rotate-secret"
expect_error 404 "" "rotate-secret of an unknown id -> 404"

# ------------------------------------------------------------ validation

COUNT_BEFORE=$(list_len)
S='"sink":"'"$SINK"'"'
invalid=(
	'sink|{"types":["t"]}|missing sink'
	'sink|{"sink":"/relative/hook"}|relative sink'
	'sink|{"sink":"ftp://127.0.0.1/x"}|ftp sink'
	'sink|{"sink":"http://user:pw@127.0.0.1/x"}|sink with userinfo'
	'sink|{"sink":"http://127.0.0.1@example.com/x"}|sink with an address as userinfo'
	'sink|{"sink":"http://example.com@127.0.0.1/x"}|sink with a name as userinfo'
	'sink|{"sink":"http:///x"}|sink without a host'
	'sink|{"sink":"http://[fe80::1%25eth0]/x"}|sink with an IPv6 zone'
	'protocol|{'"$S"',"protocol":"MQTT"}|protocol MQTT'
	'bogus|{'"$S"',"bogus":1}|unknown top-level field'
	'delivery.bogus|{'"$S"',"delivery":{"bogus":1}}|unknown delivery field'
	'filters*|{'"$S"',"filters":[{"regex":{"type":"x"}}]}|filter with an unknown dialect'
	'filters*|{'"$S"',"filters":[{"exact":{}}]}|filter with an empty exact object'
	'filters*|{'"$S"',"filters":[{"sql":"type = "}]}|sql filter that does not parse'
	'types|{'"$S"',"types":"t"}|types not an array'
	'delivery.retry.max_attempts|{'"$S"',"delivery":{"retry":{"max_attempts":0}}}|delivery.retry.max_attempts 0'
	'delivery.rate|{'"$S"',"delivery":{"rate":-1}}|delivery.rate -1'
	'delivery.mode|{'"$S"',"delivery":{"mode":"x"}}|delivery.mode x'
	'delivery.ordering|{'"$S"',"delivery":{"ordering":"x"}}|delivery.ordering x'
	'protocolsettings.headers*|{'"$S"',"protocolsettings":{"headers":{"Content-Type":"text/plain"}}}|reserved header Content-Type'
	'status|{'"$S"',"status":"disabled"}|create with status disabled'
	'status|{'"$S"',"status":"gone"}|create with an unknown status'
	'sinkcredential.credential_type|{'"$S"',"sinkcredential":{"credential_type":"BASIC","access_token":"x"}}|credential_type other than ACCESSTOKEN'
	'|{"sink": |body not JSON'
	'|[{'"$S"'}]|body a JSON array'
)
for row in "${invalid[@]}"; do
	field=${row%%|*}
	rest=${row#*|}
	body=${rest%|*}
	desc=${rest##*|}
	api POST /v1/subscriptions "$body"
	if [[ $field == *'*' ]]; then
		# the field is a path below the named one
		expect_error 400 "" "$desc -> 400"
		got=$(printf '%s' "$RESP" | jq -r '.field' 2>/dev/null)
		check "$desc: field '$got' is under ${field%\*}" test "${got#"${field%\*}"}" != "$got"
	else
		expect_error 400 "$field" "$desc -> 400${field:+ field $field}"
	fi
done
expect_eq "$(list_len)" "$COUNT_BEFORE" "no refused body created a subscription"

api POST /v1/subscriptions '{'"$S"',"status":"paused"}'
expect_status 201 "create paused"
expect_json '.status' "paused" "a subscription may start paused"
api DELETE "/v1/subscriptions/$(printf '%s' "$RESP" | jq -r '.id')"
expect_status 204 "delete the paused one"

# ------------------------------------------------------------ body limit

BIG=$(jq -nc --arg pad "$(head -c 70000 /dev/zero | tr '\0' a)" --arg sink "$SINK" '{sink: $sink, config: {pad: $pad}}')
api POST /v1/subscriptions "$BIG"
expect_error 413 "" "a body over 64 KiB -> 413 with a JSON error"
api POST /v1/subscriptions "$BIG" -H 'Transfer-Encoding: chunked'
expect_error 413 "" "a chunked body over 64 KiB (no Content-Length) -> 413"
api PATCH "/v1/subscriptions/$ID2" "$BIG"
expect_error 413 "" "a PATCH body over 64 KiB -> 413"
expect_eq "$(list_len)" "$COUNT_BEFORE" "the oversized body created nothing"

# ------------------------------------------------------------ scopes, tenants

new_key() { # NAME SCOPES_JSON -> prints the key
	api POST /v1/keys '{"name":"'"$1"'","scopes":'"$2"'}'
	[[ $STATUS == 201 ]] || return 1
	printf '%s' "$RESP" | jq -r '.key'
}
KEY_A=$(new_key tenant-a '["subscribe"]') || die "cannot create key A: $STATUS $RESP"
KEY_B=$(new_key tenant-b '["subscribe"]') || die "cannot create key B: $STATUS $RESP"
KEY_P=$(new_key publisher '["publish"]') || die "cannot create the publish key: $STATUS $RESP"

KEY=$KEY_P api POST /v1/subscriptions '{"sink":"'"$SINK"'"}'
expect_error 403 "" "a publish-only key cannot create subscriptions (403)"
KEY=$KEY_P api GET /v1/subscriptions
expect_error 403 "" "a publish-only key cannot list subscriptions (403)"
KEY='' api POST /v1/subscriptions '{"sink":"'"$SINK"'"}'
expect_error 401 "" "no key -> 401"
KEY='' api GET /v1/subscriptions
expect_error 401 "" "no key, list -> 401"

KEY=$KEY_A api POST /v1/subscriptions '{"sink":"http://127.0.0.1:9/a"}'
expect_status 201 "tenant A creates a subscription"
ID_A=$(printf '%s' "$RESP" | jq -r '.id')
KEY=$KEY_B api POST /v1/subscriptions '{"sink":"http://127.0.0.1:9/b"}'
expect_status 201 "tenant B creates a subscription"
ID_B=$(printf '%s' "$RESP" | jq -r '.id')

KEY=$KEY_B api GET "/v1/subscriptions/$ID_A"
expect_error 404 "" "B cannot GET A's subscription (404)"
KEY=$KEY_B api PUT "/v1/subscriptions/$ID_A" '{"sink":"http://127.0.0.1:9/stolen"}'
expect_error 404 "" "B cannot PUT A's subscription (404)"
KEY=$KEY_B api PATCH "/v1/subscriptions/$ID_A" '{"status":"paused"}'
expect_error 404 "" "B cannot PATCH A's subscription (404)"
KEY=$KEY_B api POST "/v1/subscriptions/$ID_A/rotate-secret"
expect_error 404 "" "B cannot rotate A's secret (404)"
KEY=$KEY_B api DELETE "/v1/subscriptions/$ID_A"
expect_error 404 "" "B cannot DELETE A's subscription (404)"
KEY=$KEY_B api GET /v1/subscriptions
expect_json '[.[].id] | join(",")' "$ID_B" "B's list holds only B's subscription"
KEY=$KEY_A api GET /v1/subscriptions
expect_json '[.[].id] | join(",")' "$ID_A" "A's list holds only A's subscription"
KEY=$KEY_A api GET "/v1/subscriptions/$ID_A"
expect_json '[.sink, .status] | join(" ")' "http://127.0.0.1:9/a active" "A's subscription untouched by B"
expect_eq "$(db_psql "SELECT secret FROM subscription WHERE id = '$ID_A'" | grep -c whsec_)" 1 "A's secret still stored"
api GET /v1/subscriptions
expect_json "[.[].id] | (index(\"$ID_A\") != null) and (index(\"$ID_B\") != null) and (index(\"$ID1\") != null)" \
	"true" "admin's list holds every tenant's subscriptions"

# ------------------------------------------------------------ DELETE

api DELETE "/v1/subscriptions/$ID1"
expect_status 204 "DELETE -> 204"
expect_eq "$RESP" "" "204 has no body"
api GET "/v1/subscriptions/$ID1"
expect_error 404 "" "GET after DELETE -> 404"
api DELETE "/v1/subscriptions/$ID1"
expect_error 404 "" "DELETE again -> 404"
api GET /v1/subscriptions
expect_json "[.[].id] | index(\"$ID1\")" "null" "the deleted subscription is not listed"

# ------------------------------------------------------------ SSRF

# A second instance on the same database that refuses private sinks
# (the later flag wins over herald_start's --allow-private-sinks true).
MAIN_URL=$HERALD_URL
herald_start --allow-private-sinks=false
STRICT_URL=$HERALD_URL
HERALD_URL=$MAIN_URL
COUNT_BEFORE=$(list_len)
for sink in http://127.0.0.1/ http://localhost/ http://10.0.0.1/ 'http://[::1]/' \
	http://0x7f000001/ http://2130706433/ http://169.254.169.254/ \
	http://127.1/ http://017700000001/ 'http://[::ffff:127.0.0.1]/' \
	http://localhost./ http://0/ http://192.168.0.10:8080/x \
	http://%31%32%37.0.0.1/ 'http://[0:0:0:0:0:ffff:7f00:1]/'; do
	api POST "$STRICT_URL/v1/subscriptions" '{"sink":"'"$sink"'"}'
	expect_error 400 sink "private sink $sink refused at create time"
	# classified as an address, not refused for some other reason
	check "$sink: the message names its address class" \
		grep -Eq 'loopback|private|link-local|unspecified' <<<"$(printf '%s' "$RESP" | jq -r '.message')"
done
api PATCH "$STRICT_URL/v1/subscriptions/$ID2" '{"sink":"http://192.168.1.1/x"}'
expect_error 400 sink "PATCH to a private sink refused too"
expect_eq "$(list_len)" "$COUNT_BEFORE" "no private sink was stored"
# The same instance accepts a public address literal (nothing is ever sent:
# no events exist).
api POST "$STRICT_URL/v1/subscriptions" '{"sink":"http://93.184.216.34/hook"}'
expect_status 201 "a public address literal is accepted"
PUB=$(printf '%s' "$RESP" | jq -r '.id')
api DELETE "/v1/subscriptions/$PUB"
expect_status 204 "and deleted again"

# Defaults follow later changes: they are worked out from what was given.
log "defaults recomputed after PATCH"
api POST /v1/subscriptions '{"sink":"http://127.0.0.1:9/defaults","status":"paused"}'
expect_status 201 "create for the defaults checks"
ID_D=$(jq -r .id <<<"$RESP")
api PATCH "/v1/subscriptions/$ID_D" '{"delivery":{"rate":50}}'
expect_status 200 "PATCH rate"
expect_json '[.delivery.rate, .delivery.burst] | map(tostring) | join(" ")' "50 50" \
	"burst follows the new rate as on create"
api PATCH "/v1/subscriptions/$ID_D" '{"delivery":{"retry":{"initial_ms":40000000}}}'
expect_status 200 "PATCH an initial_ms above the default max_ms"
expect_json '.delivery.retry.max_ms' "40000000" "max_ms raised to initial_ms as on create"
api PATCH "/v1/subscriptions/$ID_D" '{"status":null}'
expect_status 200 "PATCH status null"
expect_json '.status' "paused" "a null status keeps the current one"

finish
