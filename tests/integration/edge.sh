#!/bin/bash
# The HTTP edge against hostile framing, over raw sockets: a body is cut at
# its limit whatever its framing (413, connection closed, little read), an
# unsupported transfer coding is 501, a missing Host, whitespace before a
# colon, differing Content-Lengths and Content-Length beside
# Transfer-Encoding are 400, each closing the connection and storing
# nothing; a storm of such requests is answered in full.
# shellcheck source=tests/integration/lib.sh disable=SC1091
. "$HERALD_SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || die "python3 is needed (contrib/lib-setup.sh installs it)"
RAW=$HERALD_SRCDIR/tests/integration/rawhttp.py
GIB=$((1024 * 1024 * 1024))
# what the kernel holds between the two ends (the client's small send
# buffer, the server's receive buffer) plus the limit: far below 1 GiB
MAX_READ=$((8 * 1024 * 1024))

pg_use_shared_or_start
db_create
herald_start

api POST /v1/keys '{"name":"edge","scopes":["publish","subscribe"]}'
expect_status 201 "key created"
KEY_E=$(jq -r .key <<<"$RESP")
KEY=$KEY_E api POST /v1/subscriptions '{"sink":"http://127.0.0.1:9/hook"}'
expect_status 201 "subscription created"
SUB=$(jq -r .id <<<"$RESP")

EVENT='{"specversion":"1.0","id":"ok-1","source":"/edge","type":"t"}'
CE='Content-Type: application/cloudevents+json'

# req_head NAME METHOD PATH [HEADER...]: write a request head (CRLFs, Host
# and the key unless a header given is "-host"/"-key") to
# $TEST_TMPDIR/NAME.head
req_head() {
	local name=$1 method=$2 path=$3 h host=1 key=1 out
	shift 3
	out="$method $path HTTP/1.1\r\n"
	for h in "$@"; do
		case $h in
		-host) host=0 ;;
		-key) key=0 ;;
		esac
	done
	((host)) && out+="Host: 127.0.0.1\r\n"
	((key)) && out+="Authorization: Bearer $KEY_E\r\n"
	for h in "$@"; do
		[[ $h == -host || $h == -key ]] || out+="$h\r\n"
	done
	printf "%b\r\n" "$out" >"$TEST_TMPDIR/$name.head"
}

# raw MODE NAME [ARG]: run rawhttp.py; sets OUT (its JSON), STATUS, RESP
# (the answer's body), and records the answer for doc/openapi.yaml when
# it is JSON (herald's own; the HTTP layer's are HTML).
raw() {
	local mode=$1 name=$2 method path
	OUT=$(python3 "$RAW" "$HERALD_PORT" "$mode" "$TEST_TMPDIR/$name.head" "${@:3}") ||
		OUT='{"status":0,"body":"rawhttp.py failed"}'
	STATUS=$(jq -r '.status' <<<"$OUT")
	RESP=$(jq -r '.body' <<<"$OUT")
	read -r method path _ <"$TEST_TMPDIR/$name.head"
	if [[ $(jq -r '.content_type' <<<"$OUT") == application/json ]]; then
		printf '%s' "$RESP" >"$TEST_TMPDIR/$name.answer"
		openapi_record "$method" "$HERALD_URL$path" "$STATUS" "$TEST_TMPDIR/$name.answer"
	fi
}

field() {
	jq -r ".$1" <<<"$OUT"
}

# expect_refused STATUS CODE DESC: the last raw answer was STATUS with the
# JSON error CODE, and the connection closed after it
expect_refused() {
	expect_status "$1" "$3: $1"
	expect_json .error "$2" "$3: error $2"
	expect_eq "$(field closed)" true "$3: connection closed"
}

log "a 1 GiB chunked body is cut at the limit"
for route in "/v1/events|$CE|262144" "/v1/subscriptions|Content-Type: application/json|65536" \
	"/v1/keys|Content-Type: application/json|65536" \
	"/v1/subscriptions/$SUB/replay|Content-Type: application/json|65536"; do
	IFS='|' read -r path ct limit <<<"$route"
	key=()
	[[ $path == /v1/keys ]] && key=(-key "Authorization: Bearer $ADMIN_KEY")
	req_head big POST "$path" "$ct" 'Transfer-Encoding: chunked' "${key[@]}"
	raw stream big "$GIB"
	expect_refused 413 too_large "POST $path, 1 GiB chunked"
	expect_json .message "the body exceeds the limit of $limit bytes" "POST $path: the limit named"
	sent=$(field sent)
	check "POST $path: herald took $sent bytes before closing (limit $limit, bound $MAX_READ)" \
		test "$sent" -gt "$limit" -a "$sent" -lt "$MAX_READ"
	expect_eq "$(field stalled)" false "POST $path: never left hanging"
done

log "a body on a route that takes none is cut at its first byte"
req_head getbody GET /v1/subscriptions 'Transfer-Encoding: chunked'
raw stream getbody "$GIB"
expect_refused 413 too_large "GET with a 1 GiB chunked body"
check "GET: herald took $(field sent) bytes (bound $MAX_READ)" test "$(field sent)" -lt "$MAX_READ"

log "a Content-Length above the limit is refused before any body"
req_head bigcl POST /v1/events "$CE" "Content-Length: $GIB"
raw stream bigcl "$GIB"
expect_refused 413 too_large "Content-Length of 1 GiB"
check "Content-Length of 1 GiB: $(field sent) bytes taken (bound $MAX_READ)" \
	test "$(field sent)" -lt "$MAX_READ"

log "a Content-Length that lies (small, then 1 GiB follows) reads no more than it said"
req_head lie POST /v1/events "$CE" 'Content-Length: 100'
raw stream lie "$GIB"
check "the lie answered (got $STATUS)" test "$STATUS" -ge 400 -a "$STATUS" -lt 500
expect_eq "$(field closed)" true "the lie: connection closed"
check "the lie: $(field sent) bytes taken (bound $MAX_READ)" test "$(field sent)" -lt "$MAX_READ"

log "transfer codings other than chunked are 501"
printf '%x\r\n%s\r\n0\r\n\r\n' "${#EVENT}" "${EVENT/ok-1/bad-te}" >"$TEST_TMPDIR/event.chunked"
for te in 'gzip, chunked' 'identity' 'x-unknown' 'chunked, chunked'; do
	req_head te POST /v1/events "$CE" "Transfer-Encoding: $te"
	raw send te "$TEST_TMPDIR/event.chunked"
	expect_refused 501 unsupported_transfer_coding "Transfer-Encoding: $te"
done
req_head te2 POST /v1/events "$CE" 'Transfer-Encoding: chunked' 'Transfer-Encoding: chunked'
raw send te2 "$TEST_TMPDIR/event.chunked"
expect_refused 501 unsupported_transfer_coding "two Transfer-Encoding fields"
req_head teget GET /healthz 'Transfer-Encoding: gzip'
raw send teget
expect_refused 501 unsupported_transfer_coding "GET with Transfer-Encoding: gzip"

log "ambiguous framing is 400"
printf '%s' "${EVENT/ok-1/bad-cl}" >"$TEST_TMPDIR/event.json"
len=$(stat -c %s "$TEST_TMPDIR/event.json")
req_head clte POST /v1/events "$CE" "Content-Length: $len" 'Transfer-Encoding: chunked'
raw send clte "$TEST_TMPDIR/event.json"
expect_refused 400 malformed_request "Content-Length and Transfer-Encoding"
req_head tecl POST /v1/events "$CE" 'Transfer-Encoding: chunked' "Content-Length: $len"
raw send tecl "$TEST_TMPDIR/event.chunked"
expect_refused 400 malformed_request "Transfer-Encoding and Content-Length"
req_head dupcl POST /v1/events "$CE" "Content-Length: $len" 'Content-Length: 5'
raw send dupcl "$TEST_TMPDIR/event.json"
expect_refused 400 malformed_request "two Content-Lengths that differ"
req_head nohost GET /healthz -host
raw send nohost
expect_refused 400 malformed_request "HTTP/1.1 without Host"
req_head twohost GET /healthz 'Host: other'
raw send twohost
expect_refused 400 malformed_request "two Host fields"
req_head spc GET /healthz 'X-Probe : 1'
raw send spc
expect_refused 400 malformed_request "a space before a colon"
req_head tab GET /healthz 'X-Probe\t: 1'
raw send tab
expect_refused 400 malformed_request "a tab before a colon"
req_head hostspc GET /healthz -host 'Host : 127.0.0.1'
raw send hostspc
expect_refused 400 malformed_request "Host with a space before its colon"
req_head clspc POST /v1/events "$CE" "Content-Length : $len"
raw send clspc "$TEST_TMPDIR/event.json"
expect_refused 400 malformed_request "Content-Length with a space before its colon"
req_head fold GET /healthz 'X-Probe: 1' ' X-Folded: 2'
raw send fold
expect_refused 400 malformed_request "a folded header line"

log "libmicrohttpd's own refusals: a Content-Length not plain digits"
for cl in "+$len" "$len, $len"; do
	req_head badcl POST /v1/events "$CE" "Content-Length: $cl"
	raw send badcl "$TEST_TMPDIR/event.json"
	expect_status 400 "Content-Length: $cl is 400"
	expect_eq "$(field closed)" true "Content-Length: $cl: connection closed"
done

# The README names this as the library's: a fold whose text is a token is
# joined to the previous name, and herald sees a field "X-ProbeZz".  Should
# the library change, this fails and the README's paragraph is due.
req_head tabfold GET /healthz 'X-Probe: 1' '\tZz'
raw send tabfold
expect_status 200 "a line folded with a token is joined by libmicrohttpd (README)"

expect_eq "$(db_psql "SELECT count(*) FROM event WHERE id LIKE 'bad-%'")" 0 \
	"nothing of a refused request was stored"

log "sound framing is served"
printf '%x\r\n%s\r\n0\r\n\r\n' "${#EVENT}" "$EVENT" >"$TEST_TMPDIR/ok.chunked"
req_head okchunk POST /v1/events "$CE" 'Transfer-Encoding: chunked'
raw send okchunk "$TEST_TMPDIR/ok.chunked"
expect_status 202 "a chunked publish below the limit is accepted"
expect_json .id ok-1 "its answer names the event"
expect_eq "$(field closed)" false "the connection stays open"
expect_eq "$(db_psql "SELECT count(*) FROM event WHERE id = 'ok-1'")" 1 "the event is stored"
printf '%s' "${EVENT/ok-1/ok-2}" >"$TEST_TMPDIR/ok2.json"
len=$(stat -c %s "$TEST_TMPDIR/ok2.json")
req_head samecl POST /v1/events "$CE" "Content-Length: $len" "Content-Length: $len"
raw send samecl "$TEST_TMPDIR/ok2.json"
expect_status 202 "two equal Content-Lengths are accepted"
printf 'GET /healthz HTTP/1.0\r\n\r\n' >"$TEST_TMPDIR/http10.head"
raw send http10
expect_status 200 "HTTP/1.0 needs no Host"
# exactly one chunk of 64 KiB: a body at the limit, not over it
body=$(head -c 65536 /dev/zero | tr '\0' ' ')
printf '%x\r\n%s\r\n0\r\n\r\n' 65536 "$body" >"$TEST_TMPDIR/atlimit.chunked"
req_head atlimit POST /v1/subscriptions 'Content-Type: application/json' 'Transfer-Encoding: chunked'
raw send atlimit "$TEST_TMPDIR/atlimit.chunked"
expect_status 400 "a chunked body of exactly the limit is read (and judged: not JSON)"
expect_json .error invalid_json "it was parsed, not refused for its size"

log "a storm of bad requests: every one answered"
heads=(te nohost spc clte dupcl teget)
want_501=0 want_400=0
N=2000
for ((i = 0; i < N; i++)); do
	case ${heads[i % ${#heads[@]}]} in
	te | teget) want_501=$((want_501 + 1)) ;;
	*) want_400=$((want_400 + 1)) ;;
	esac
done
start=$(now_ms)
files=()
for h in "${heads[@]}"; do
	files+=("$TEST_TMPDIR/$h.head")
done
counts=$(RAWHTTP_TIMEOUT=10 timeout 120 python3 "$RAW" "$HERALD_PORT" storm 8 "$N" "${files[@]}") ||
	counts=
elapsed=$(($(now_ms) - start))
log "storm: $(tr '\n' ' ' <<<"$counts")in $elapsed ms"
got_400=$(awk '$2 == "400" { print $1 }' <<<"$counts")
got_501=$(awk '$2 == "501" { print $1 }' <<<"$counts")
expect_eq "${got_400:-0}" "$want_400" "storm: every framing error answered 400"
expect_eq "${got_501:-0}" "$want_501" "storm: every unsupported coding answered 501"
check "storm: $N requests answered within 60 s ($elapsed ms)" test "$elapsed" -lt 60000
api GET /healthz
expect_status 200 "still serving after the storm"

finish
