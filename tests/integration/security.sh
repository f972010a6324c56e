#!/bin/bash
# Security properties: keys, secrets and credentials never reach the log
# (even at debug level), SQL is never built from strings, a key is refused
# unless it is exactly a live key, and a revoked key is refused at once.
# shellcheck source=tests/integration/lib.sh disable=SC1091
. "$HERALD_SRCDIR/tests/integration/lib.sh"

SRC=$HERALD_SRCDIR/src

log "static checks on the sources"
# Every SQL value is a parameter: no statement text is formatted.
formatted=$(grep -nE '(s?n?printf|strcat|strcpy)\(.*"[^"]*\b(SELECT|INSERT|UPDATE|DELETE|WITH|NOTIFY)\b' "$SRC"/*.c || true)
expect_eq "$formatted" "" "no SQL statement is formatted with printf/strcat"
# Queries go through store.c: its prepared statements, or, on the relay's
# sessions with a producer that it does not manage, store_exec_unmanaged.
raw=$(grep -nE '\bPQexec(Params)?\(' "$SRC"/*.c | grep -v '^.*/store\.c:' || true)
expect_eq "$raw" "" "no module but store.c calls PQexec/PQexecParams"
# Secrets, hashes and MACs are never compared with plain memcmp (the
# behaviour is checked below and in tests/unit/check_signature, which proves
# signature_verify compares the whole MAC with CRYPTO_memcmp).
plain=$(grep -nE '(^|[^_[:alnum:]])(memcmp|bcmp)\(.*(hash|mac|expect|got|secret|sig|token)' \
	"$SRC"/*.c || true)
expect_eq "$plain" "" "no secret, hash or MAC is compared with plain memcmp"

pg_use_shared_or_start
db_create
receiver_start
herald_start --log-level debug

log "a scenario that handles every kind of secret"
api POST /v1/keys '{"name":"pub","scopes":["publish","subscribe"]}'
expect_status 201 "key created"
KEY_P=$(jq -r .key <<<"$RESP")
TOKEN=tok_$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
KEY=$KEY_P api POST /v1/subscriptions \
	'{"sink":"'"$RECEIVER_URL"'/sec","sinkcredential":{"credential_type":"ACCESSTOKEN","access_token":"'"$TOKEN"'"}}'
expect_status 201 "subscription with a credential"
SUB=$(jq -r .id <<<"$RESP")
SECRET1=$(jq -r .secret <<<"$RESP")
KEY=$KEY_P api POST "/v1/subscriptions/$SUB/rotate-secret"
expect_status 200 "secret rotated"
SECRET2=$(jq -r .secret <<<"$RESP")
KEY=$KEY_P api POST /v1/events '{"specversion":"1.0","id":"s1","source":"/sec","type":"t"}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "event published"
wait_until 10 "delivered with the credential" receiver_has /sec 1
expect_eq "$(receiver_requests /sec | jq -r '.[0].headers.authorization')" "Bearer $TOKEN" \
	"the sink got the access token"
KEY=wrong_$KEY_P api GET /v1/subscriptions
expect_status 401 "a wrong key is refused"
KEY=$KEY_P api DELETE "/v1/keys/1"
expect_status 403 "a non-admin cannot revoke keys"

log "keys are checked whole: a near miss of a cached or configured key fails"
# The last character changed: the hash differs, not the prefix the cache
# lookup might stop at.
near_miss() {
	local k=$1 last=${1: -1}
	[[ $last == 0 ]] && last=1 || last=0
	printf '%s%s' "${k%?}" "$last"
}
KEY=$KEY_P api GET /v1/subscriptions
expect_status 200 "the key works (and is now cached)"
KEY=$(near_miss "$KEY_P") api GET /v1/subscriptions
expect_status 401 "the key with its last character changed is refused"
KEY=${KEY_P%?} api GET /v1/subscriptions
expect_status 401 "the key without its last character is refused"
KEY=${KEY_P}0 api GET /v1/subscriptions
expect_status 401 "the key with one more character is refused"
KEY=$(near_miss "$ADMIN_KEY") api GET /v1/keys
expect_status 401 "the configured admin key with its last character changed is refused"
api GET /v1/keys
expect_status 200 "the configured admin key itself works"

log "a revoked key is refused at once, even when cached"
api POST /v1/keys '{"name":"gone","scopes":["subscribe"]}'
expect_status 201 "key to revoke created"
KEY_R=$(jq -r .key <<<"$RESP")
ID_R=$(jq -r .id <<<"$RESP")
KEY=$KEY_R api GET /v1/subscriptions
expect_status 200 "the key works before its revocation (and is now cached)"
api DELETE "/v1/keys/$ID_R"
expect_status 204 "the key is revoked"
KEY=$KEY_R api GET /v1/subscriptions
expect_status 401 "the revoked key is refused"
KEY=$KEY_P api GET /v1/subscriptions
expect_status 200 "another key still works"

# Stop herald so every line it will write is in the log.
herald_stop
for s in "$ADMIN_KEY" "$KEY_P" "$KEY_R" "wrong_$KEY_P" "$(near_miss "$KEY_P")" "$TOKEN" "$SECRET1" "$SECRET2" \
	"${SECRET1#whsec_}" "${SECRET2#whsec_}"; do
	check "the log never shows a secret (${s:0:6}...)" \
		bash -c '! grep -qF -- "$1" "$2"' _ "$s" "$HERALD_LOG"
done
check "the log is not empty (debug level was on)" test "$(wc -l <"$HERALD_LOG")" -gt 5

finish
