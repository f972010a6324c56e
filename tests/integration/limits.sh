#!/bin/bash
# Limits against abuse: per-key API rate limits (429 + Retry-After), header
# size, per-address connection limit, idle (slowloris) connections, JSON
# nesting depth; none of them lets a 2xx through for an uncommitted event.
# shellcheck source=tests/integration/lib.sh disable=SC1091
. "$HERALD_SRCDIR/tests/integration/lib.sh"

pg_use_shared_or_start
db_create
herald_start --api-rate 5 --api-burst 5 --max-connections-per-ip 6 \
	--connection-timeout 2

event() {
	printf '{"specversion":"1.0","id":"%s","source":"/limits","type":"t"}' "$1"
}

# Two keys, each with its own bucket.
api POST /v1/keys '{"name":"a","scopes":["publish","subscribe"]}'
expect_status 201 "key a created"
KEY_A=$(jq -r .key <<<"$RESP")
api POST /v1/keys '{"name":"b","scopes":["publish","subscribe"]}'
expect_status 201 "key b created"
KEY_B=$(jq -r .key <<<"$RESP")

log "per-key rate limit: 5/s, burst 5"
# One curl sends all twelve over one connection, so that the time they take
# (and with it what the bucket may refill) is small and measured.
segs=()
for i in $(seq 1 12); do
	event "rl-$i" >"$TEST_TMPDIR/rl.$i.req"
	((i > 1)) && segs+=(--next)
	segs+=(-sS -X POST --max-time "$API_TIMEOUT" -H "Authorization: Bearer $KEY_A"
		-H 'Content-Type: application/cloudevents+json'
		--data-binary "@$TEST_TMPDIR/rl.$i.req" -o "$TEST_TMPDIR/rl.$i.body"
		-D "$TEST_TMPDIR/rl.$i.headers" -w '%{http_code}\n' "$HERALD_URL/v1/events")
done
t0=$(now_ms)
mapfile -t codes < <(curl "${segs[@]}")
elapsed=$(($(now_ms) - t0))
accepted=0
for i in "${!codes[@]}"; do
	openapi_record POST "$HERALD_URL/v1/events" "${codes[i]}" "$TEST_TMPDIR/rl.$((i + 1)).body"
	if [[ ${codes[i]} == 202 ]]; then
		accepted=$((accepted + 1))
	elif [[ ${codes[i]} == 429 ]]; then
		last429=$(<"$TEST_TMPDIR/rl.$((i + 1)).body")
		RESP_HEADERS=$(tr -d '\r' <"$TEST_TMPDIR/rl.$((i + 1)).headers")
		ra=$(resp_header Retry-After)
	fi
done
log "statuses in $elapsed ms: ${codes[*]}"
check "twelve answers" test "${#codes[@]}" -eq 12
check "at least the burst was accepted" test "$accepted" -ge 5
check "no more than burst + rate * elapsed accepted ($accepted)" \
	test "$accepted" -le $((5 + (5 * elapsed + 999) / 1000))
check "the rest were refused with 429" test "$(printf '%s\n' "${codes[@]}" | grep -c '^429$')" -eq $((12 - accepted))
RESP=$last429
expect_json '.error' rate_limited "429 body is a JSON error"
check "429 carries Retry-After in whole seconds (>= 1)" test "${ra:-0}" -ge 1
stored=$(db_psql "SELECT count(*) FROM event WHERE source = '/limits'")
expect_eq "$stored" "$accepted" "only the accepted events were stored"

KEY=$KEY_B api GET /v1/subscriptions
expect_status 200 "another key has its own bucket"
sleep "${ra:-1}"
KEY=$KEY_A api GET /v1/subscriptions
expect_status 200 "after Retry-After the key works again"

log "header size is bounded"
big=$(head -c 100000 /dev/zero | tr '\0' 'a')
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
	-H "Authorization: Bearer $ADMIN_KEY" -H "X-Big: $big" "$HERALD_URL/v1/subscriptions")
check "a 100 KB header is refused with a 4xx (got $code)" test "$code" -ge 400 -a "$code" -lt 500
big=$(head -c 8000 /dev/zero | tr '\0' 'a')
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
	-H "Authorization: Bearer $ADMIN_KEY" -H "X-Big: $big" "$HERALD_URL/v1/subscriptions")
expect_eq "$code" 200 "an 8 KB header is served"
api GET /healthz
expect_status 200 "still serving after an oversized header"

log "JSON nesting depth is bounded"
deep=$(printf '%.0s[' $(seq 1 200))1$(printf '%.0s]' $(seq 1 200))
api POST /v1/events "{\"specversion\":\"1.0\",\"id\":\"deep\",\"source\":\"/limits\",\"type\":\"t\",\"data\":$deep}" \
	-H 'Content-Type: application/cloudevents+json'
expect_status 400 "200 levels of nesting are refused"
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE id = 'deep'")" 0 "nothing stored"

log "idle connections are closed after connection_timeout (2 s)"
exec {idle}<>/dev/tcp/127.0.0.1/"$HERALD_PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&"$idle" # never finished
start=$(now_ms)
# read to the end: 1 at EOF (closed), above 128 if still open after 8 s
rc=0
while :; do read -r -t 8 -u "$idle" _ || { rc=$?; break; }; done
elapsed=$(($(now_ms) - start))
exec {idle}>&-
check "a half-sent request is dropped after about 2 s (${elapsed} ms, read status $rc)" \
	test "$rc" -le 128 -a "$elapsed" -ge 1000 -a "$elapsed" -lt 8000

log "per-address connection limit (6)"
# Each of the six answers a request before the seventh connects: the API's
# threads accept in parallel, so a connection merely opened may not be counted
# yet when the next one arrives.
fds=()
answered=0
for i in 1 2 3 4 5 6; do
	exec {fd}<>/dev/tcp/127.0.0.1/"$HERALD_PORT"
	fds+=("$fd")
	printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd"
	line=
	read -r -t 5 -u "$fd" line || true
	[[ $line == "HTTP/1.1 200"* ]] && answered=$((answered + 1))
done
check "six kept-alive connections from one address are served" test "$answered" -eq 6
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$HERALD_URL/healthz" || true)
check "a 7th connection from the same address is refused (got ${code:-none})" test "${code:-000}" = 000
for fd in "${fds[@]}"; do
	exec {fd}>&-
done
wait_until 5 "serving again once connections close" \
	test "$(_http_code "$HERALD_URL/healthz")" = 200

finish
