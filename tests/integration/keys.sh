#!/bin/bash
# API keys: the bootstrap admin key (generated once, or from
# $HERALD_ADMIN_KEY), POST/GET/DELETE /v1/keys, validation, scopes, the
# Authorization header, and keys stored only as SHA-256 hashes.
# shellcheck source=tests/integration/lib.sh disable=SC1091
. "$HERALD_SRCDIR/tests/integration/lib.sh"

pg_use_shared_or_start
db_create
unset HERALD_ADMIN_KEY

# up_or_dead: herald answers /healthz, or its process is gone.
up_or_dead() {
	[[ $(_http_code "$HERALD_URL/healthz") == 200 ]] || ! kill -0 "$HERALD_PID" 2>/dev/null
}

# herald_start_plain: like herald_start but without --admin-key, so herald
# falls back to $HERALD_ADMIN_KEY or generates a key.
herald_start_plain() {
	local port
	port=$(free_port) || die "no free port"
	HERALD_LOG=$TEST_TMPDIR/herald.log
	printf '=== %s herald start (no --admin-key) on port %s\n' "$(date +%T)" "$port" >>"$HERALD_LOG"
	"$HERALD_BIN" --listen "127.0.0.1:$port" --database-url "$DATABASE_URL" \
		--allow-private-sinks true >>"$HERALD_LOG" 2>&1 &
	HERALD_PID=$!
	HERALD_PIDS+=("$HERALD_PID")
	HERALD_URL=http://127.0.0.1:$port
	poll_until "$HERALD_START_TIMEOUT" up_or_dead || true
	[[ $(_http_code "$HERALD_URL/healthz") == 200 ]] || {
		tail -n 30 "$HERALD_LOG" | sed 's/^/# herald: /'
		die "herald (no --admin-key) did not start"
	}
}

# The log lines of the latest start only.
log_since_start() {
	awk '/^=== .* herald start/ { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$HERALD_LOG"
}

expect_error() { # STATUS DESC: status and a JSON {"error","message"} body
	if [[ $STATUS == "$1" ]] &&
		printf '%s' "$RESP" | jq -e '(.error|type) == "string" and (.message|type) == "string"' >/dev/null 2>&1; then
		_ok "$2"
	else
		_not_ok "$2" "expected $1 with a JSON error body" "$(_last_http)"
	fi
}

# ------------------------------------------------------------ bootstrap

herald_start_plain
GEN_LINES=$(grep -c 'generated admin key' "$HERALD_LOG")
expect_eq "$GEN_LINES" 1 "first start without an admin key logs exactly one generated key"
BOOT_KEY=$(grep 'generated admin key' "$HERALD_LOG" | grep -Eo 'hk_[0-9A-Za-z_]+' | head -n 1)
check "the generated key is printed (hk_...)" test -n "$BOOT_KEY"
KEY=$BOOT_KEY api GET /v1/keys
expect_status 200 "the generated key works as admin"
expect_json '[.[].scopes | index("admin")] | map(select(. != null)) | length' 1 "one admin key is stored"
KEY=$BOOT_KEY api POST /v1/keys '{"name":"made-by-bootstrap","scopes":["subscribe"]}'
expect_status 201 "the generated key can create keys"
KEY=$ADMIN_KEY api GET /v1/keys
expect_error 401 "the test suite's admin key is unknown to this instance"
expect_eq "$(db_psql "SELECT count(*) FROM api_key WHERE encode(key_hash, 'hex') = '$(printf %s "$BOOT_KEY" | sha256sum | cut -d' ' -f1)' AND 'admin' = ANY (scopes)")" \
	1 "the generated key is stored as its SHA-256 hash with the admin scope"

herald_stop || true
herald_start_plain
expect_eq "$(log_since_start | grep -c 'generated admin key')" 0 "a restart on the same database generates no new key"
expect_eq "$(grep -c 'generated admin key' "$HERALD_LOG")" 1 "still exactly one generated-key line in the log"
KEY=$BOOT_KEY api GET /v1/keys
expect_status 200 "the generated key still works after the restart"

# $HERALD_ADMIN_KEY is the admin key when --admin-key is not given.
ENV_KEY=hk_env_admin_$RANDOM$RANDOM$RANDOM
herald_stop || true
HERALD_ADMIN_KEY=$ENV_KEY herald_start_plain
KEY=$ENV_KEY api GET /v1/keys
expect_status 200 "HERALD_ADMIN_KEY works as the admin key"
KEY=$ENV_KEY api POST /v1/keys '{"name":"made-by-env","scopes":["publish"]}'
expect_status 201 "HERALD_ADMIN_KEY can create keys"
expect_eq "$(log_since_start | grep -c 'generated admin key')" 0 "no key is generated when HERALD_ADMIN_KEY is set"
expect_eq "$(log_since_start | grep -c -- "$ENV_KEY")" 0 "the configured key is not logged"
herald_stop || true

# --admin-key wins over $HERALD_ADMIN_KEY.
HERALD_ADMIN_KEY=$ENV_KEY herald_start
KEY=$ENV_KEY api GET /v1/keys
expect_error 401 "with --admin-key given, HERALD_ADMIN_KEY is not an admin key"
api GET /v1/keys
expect_status 200 "the --admin-key key is"

# ------------------------------------------------------------ create, list

api POST /v1/keys '{"name":"publisher","scopes":["publish"]}'
expect_status 201 "POST /v1/keys -> 201"
expect_json 'keys | sort | map(select(. == "id" or . == "name" or . == "scopes" or . == "key")) | join(",")' \
	"id,key,name,scopes" "the answer has id, name, scopes and key"
expect_json '[.name, (.scopes | join(","))] | join(" ")' "publisher publish" "name and scopes echoed"
expect_json 'has("key_hash") or has("hash")' "false" "no hash in the create answer"
PUB_KEY=$(printf '%s' "$RESP" | jq -r '.key')
PUB_ID=$(printf '%s' "$RESP" | jq -r '.id')
check "the key starts with hk_" grep -q '^hk_.' <<<"$PUB_KEY"

api POST /v1/keys '{"name":"subscriber","scopes":["subscribe"]}'
expect_status 201 "create a subscribe key"
SUB_KEY=$(printf '%s' "$RESP" | jq -r '.key')
SUB_ID=$(printf '%s' "$RESP" | jq -r '.id')
check "two keys differ" test "$PUB_KEY" != "$SUB_KEY"

api POST /v1/keys '{"name":"both","scopes":["publish","subscribe"]}'
expect_status 201 "create a key with two scopes"
expect_json '.scopes | sort | join(",")' "publish,subscribe" "both scopes kept"

EVENT='{"specversion":"1.0","id":"keys-1","source":"/keys/test","type":"com.example.k"}'
KEY=$PUB_KEY api POST /v1/events "$EVENT" -H 'Content-Type: application/cloudevents+json'
expect_status 202 "the new publish key works at once"
KEY=$SUB_KEY api GET /v1/subscriptions
expect_status 200 "the new subscribe key works at once"
KEY=$PUB_KEY api GET /v1/subscriptions
expect_error 403 "the publish key lacks subscribe (403)"
KEY=$SUB_KEY api POST /v1/events '{"specversion":"1.0","id":"keys-2","source":"/keys/test","type":"t"}' \
	-H 'Content-Type: application/cloudevents+json'
expect_error 403 "the subscribe key lacks publish (403)"

api GET /v1/keys
expect_status 200 "GET /v1/keys"
expect_json 'type' "array" "the key list is an array"
expect_json "[.[] | select(.id == \"$PUB_ID\") | .name] | join(\",\")" "publisher" "the list holds the new key"
expect_json '[.[] | has("key")] | any' "false" "no entry has a key field"
check "the raw list does not contain the publish key" test "${RESP/"$PUB_KEY"/}" == "$RESP"
check "the raw list does not contain the subscribe key" test "${RESP/"$SUB_KEY"/}" == "$RESP"
PUB_HASH=$(printf %s "$PUB_KEY" | sha256sum | cut -d' ' -f1)
check "the raw list shows no hash field" test "$(printf '%s' "$RESP" | grep -ci hash)" = 0
check "the raw list does not contain the key's SHA-256 (hex)" test "${RESP/"$PUB_HASH"/}" == "$RESP"
check "the raw list does not contain the key's SHA-256 (base64)" \
	test "${RESP/"$(db_psql "SELECT encode(key_hash, 'base64') FROM api_key WHERE id = $PUB_ID")"/}" == "$RESP"

# ------------------------------------------------------------ stored as hashes

DUMP=$(db_psql "COPY api_key TO STDOUT")
check "api_key has rows" test -n "$DUMP"
for k in "$PUB_KEY" "$SUB_KEY" "$BOOT_KEY"; do
	check "the table dump does not contain key ${k:0:8}..." test "${DUMP/"$k"/}" == "$DUMP"
	check "the table dump does not contain the hex of key ${k:0:8}..." test "${DUMP/"$(printf %s "$k" | od -An -tx1 | tr -d ' \n')"/}" == "$DUMP"
done
expect_eq "$(db_psql "SELECT encode(key_hash, 'hex') FROM api_key WHERE id = $PUB_ID")" "$PUB_HASH" \
	"key_hash is the SHA-256 of the key"
expect_eq "$(db_psql "SELECT count(*) FROM subscription")" 0 "(no subscriptions were created)"

# ------------------------------------------------------------ revoke

KEY=$SUB_KEY api GET /v1/subscriptions
expect_status 200 "the subscribe key works just before its revocation (and is cached)"
api DELETE "/v1/keys/$SUB_ID"
expect_status 204 "DELETE /v1/keys/{id} -> 204"
expect_eq "$RESP" "" "204 has no body"
KEY=$SUB_KEY api GET /v1/subscriptions
expect_error 401 "the revoked key is refused at once by the same instance"
api DELETE "/v1/keys/$SUB_ID"
expect_error 404 "DELETE of a revoked key again -> 404"
api DELETE /v1/keys/abc
expect_error 404 "DELETE /v1/keys/abc -> 404"
api DELETE /v1/keys/987654321
expect_error 404 "DELETE of an unknown numeric id -> 404"
KEY=$PUB_KEY api POST /v1/events '{"specversion":"1.0","id":"keys-3","source":"/keys/test","type":"t"}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "other keys keep working"

# ------------------------------------------------------------ validation

COUNT=$(db_psql "SELECT count(*) FROM api_key")
for row in \
	'{"scopes":["publish"]}|missing name' \
	'{"name":"","scopes":["publish"]}|empty name' \
	'{"name":7,"scopes":["publish"]}|name not a string' \
	'{"name":"x"}|missing scopes' \
	'{"name":"x","scopes":[]}|empty scopes' \
	'{"name":"x","scopes":["root"]}|unknown scope root' \
	'{"name":"x","scopes":"admin"}|scopes not an array' \
	'{"name":"x","scopes":["publish"],"tenant":1}|unknown field' \
	'{"name":"x",|body not JSON' \
	'[{"name":"x","scopes":["publish"]}]|body a JSON array'; do
	api POST /v1/keys "${row%|*}"
	expect_error 400 "${row##*|} -> 400"
done
expect_eq "$(db_psql "SELECT count(*) FROM api_key")" "$COUNT" "no refused body created a key"

# ------------------------------------------------------------ scopes, Authorization

for who in publish subscribe; do
	if [[ $who == publish ]]; then k=$PUB_KEY; else
		api POST /v1/keys '{"name":"sub2","scopes":["subscribe"]}'
		k=$(printf '%s' "$RESP" | jq -r '.key')
	fi
	KEY=$k api POST /v1/keys '{"name":"escalate","scopes":["admin"]}'
	expect_error 403 "a $who key cannot create keys (403)"
	KEY=$k api GET /v1/keys
	expect_error 403 "a $who key cannot list keys (403)"
	KEY=$k api DELETE "/v1/keys/$PUB_ID"
	expect_error 403 "a $who key cannot delete keys (403)"
done
KEY=$PUB_KEY api POST /v1/events '{"specversion":"1.0","id":"keys-4","source":"/keys/test","type":"t"}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "the publish key survived the refused DELETE"

for m in POST GET DELETE; do
	path=/v1/keys
	[[ $m == DELETE ]] && path=/v1/keys/$PUB_ID
	KEY='' api "$m" "$path" "$([[ $m == POST ]] && echo '{"name":"x","scopes":["publish"]}')"
	expect_error 401 "$m $path without a key -> 401"
done
KEY=hk_wrong_0000000000000000000000000000 api GET /v1/keys
expect_error 401 "an unknown key -> 401"
KEY='' api GET /v1/keys "" -H "Authorization: Basic $(printf 'admin:%s' "$ADMIN_KEY" | base64 -w0)"
expect_error 401 "Authorization: Basic -> 401"
KEY='' api GET /v1/keys "" -H "Authorization: $ADMIN_KEY"
expect_error 401 "a key without a scheme -> 401"
KEY='' api GET /v1/keys "" -H "Authorization: Bearer"
expect_error 401 "Bearer without a key -> 401"
KEY='' api GET /v1/keys "" -H "Authorization: bearer $ADMIN_KEY"
expect_status 200 "lower-case bearer scheme is accepted"

finish
