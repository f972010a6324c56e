#!/usr/bin/env bash
# The web console: its files as herald serves them (types, CSP, ETag, no key
# needed), GET /v1/keys/self, and a real browser (Debian's chromium through
# puppeteer-core, tests/browser) signing in, creating a subscription to a
# failing sink, reading the attempt log, fixing the sink, replaying, making
# and editing a consumer group, and checking tenant isolation, with no
# console error and no CSP violation;
# the subscriptions' recent attempts, GET /v1/stats and the overview's
# charts and failing subscriptions.
#
# Skips (77) without chromium or the npm modules (`npm ci` in tests/browser),
# unless HERALD_BROWSER_REQUIRED=1, when that fails instead.  Screenshots go
# to $HERALD_CONSOLE_SHOTS when set (doc/console to refresh the README's),
# else into the test's temporary directory.
. "$HERALD_SRCDIR/tests/integration/lib.sh"

browser_missing() {
	if [[ ${HERALD_BROWSER_REQUIRED:-0} == 1 ]]; then
		die "browser test cannot run: $1"
	fi
	skip "$1"
}

CHROMIUM=${HERALD_CHROMIUM:-}
if [[ -z $CHROMIUM ]]; then
	for c in chromium chromium-browser; do
		if command -v "$c" >/dev/null 2>&1; then
			CHROMIUM=$(command -v "$c")
			break
		fi
	done
fi
[[ -n $CHROMIUM && -x $CHROMIUM ]] ||
	browser_missing "chromium is not installed (apt-get install chromium)"
command -v node >/dev/null 2>&1 || browser_missing "node is not installed"
MODULES=${HERALD_BROWSER_MODULES:-$HERALD_SRCDIR/tests/browser/node_modules}
[[ -d $MODULES/puppeteer-core ]] ||
	browser_missing "puppeteer-core is not installed (npm ci in tests/browser, or set HERALD_BROWSER_MODULES)"

pg_use_shared_or_start
db_create
receiver_start
herald_start

# ---------------------------------------------------------------- the files

api GET /ui
expect_status 301 "/ui redirects"
expect_eq "$(resp_header location)" "/ui/" "to /ui/"

KEY= api GET /ui/
expect_status 200 "/ui/ needs no key"
expect_eq "$(resp_header content-type)" "text/html; charset=utf-8" "/ui/ is HTML"
check "/ui/ is the console's page" grep -q '<script type="module" src="app.js"></script>' <<<"$RESP"
expect_eq "$(resp_header content-security-policy)" \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" \
	"a strict Content-Security-Policy"
expect_eq "$(resp_header x-content-type-options)" nosniff "nosniff"
expect_eq "$(resp_header referrer-policy)" no-referrer "no referrer"
expect_eq "$(resp_header cache-control)" no-cache "revalidated on every load"
check "no inline script or style in the page" \
	bash -c '! grep -qiE "<script>|<script [^>]*>[^<]|<style|style=|onclick=|onload=" <<<"$1"' _ "$RESP"

for f in index.html style.css app.js api.js ui.js subscriptions.js deliveries.js events.js keys.js \
	overview.js chart.js; do
	KEY= api GET "/ui/$f"
	expect_status 200 "/ui/$f served"
	case $f in
	*.html) want='text/html; charset=utf-8' ;;
	*.css) want='text/css; charset=utf-8' ;;
	*.js) want='text/javascript; charset=utf-8' ;;
	esac
	expect_eq "$(resp_header content-type)" "$want" "/ui/$f: $want"
	check "/ui/$f is the file, byte for byte" cmp -s <(printf '%s' "$RESP") \
		<(printf '%s' "$(<"$HERALD_SRCDIR/ui/$f")")
done

KEY= api GET /ui/app.js
etag=$(resp_header etag)
check "an ETag" test -n "$etag"
KEY= api GET /ui/app.js '' -H "If-None-Match: $etag"
expect_status 304 "If-None-Match with its ETag: 304"
check "304 has no body" test -z "$RESP"
KEY= api GET /ui/app.js '' -H 'If-None-Match: "other"'
expect_status 200 "another ETag: the file"

KEY= api GET /ui/nope.js
expect_status 404 "an unknown file under /ui/ is 404"
expect_json .error not_found "not_found"
KEY= api GET /ui/../v1/keys
[[ $STATUS != 200 ]] && _ok "no way out of /ui/ (status $STATUS)" || _not_ok "no way out of /ui/"
KEY= api POST /ui/
expect_status 405 "POST /ui/ is 405"

# ---------------------------------------------------------------- keys/self

api GET /v1/keys/self
expect_status 200 "the admin key asks who it is"
expect_json '[.id, (.scopes|join(","))]|join(" ")' "0 publish,subscribe,admin" "the bootstrap key: id 0, every scope"
api POST /v1/keys '{"name":"tenant-a","scopes":["subscribe","publish"]}'
expect_status 201 "tenant A's key"
KEY_A=$(jq -r .key <<<"$RESP")
ID_A=$(jq -r .id <<<"$RESP")
api POST /v1/keys '{"name":"tenant-b","scopes":["subscribe"]}'
KEY_B=$(jq -r .key <<<"$RESP")
api POST /v1/keys '{"name":"publisher","scopes":["publish"]}'
KEY_P=$(jq -r .key <<<"$RESP")
KEY=$KEY_A api GET /v1/keys/self
expect_json '[.id, (.scopes|join(","))]|join(" ")' "$ID_A publish,subscribe" "tenant A's key: its id and scopes"
KEY=$KEY_P api GET /v1/keys/self
expect_json '.scopes|join(",")' publish "a publish key may ask too"
expect_json '.sources' null "a key without sources: null"
api POST /v1/keys '{"name":"team","scopes":["publish"],"sources":["/team","/shared/"]}'
expect_status 201 "a key limited to two sources"
KEY=$(jq -r .key <<<"$RESP") api GET /v1/keys/self
expect_json '.sources|join(",")' "/team,/shared/" "a key with sources: its prefixes"
KEY= api GET /v1/keys/self
expect_status 401 "no key: 401"
KEY=hk_nobody api GET /v1/keys/self
expect_status 401 "an unknown key: 401"

KEY=$KEY_B sub_create "tenant B" '{"sink":"'"$RECEIVER_URL"'/tenant-b","types":["t.other"]}'
B_SUB=$SUB_ID

# The list carries each subscription's backlog from the sampler's last
# sample (null until a sample has it): the console's Backlog column.
b_backlog_is() {
	KEY=$KEY_B api GET /v1/subscriptions
	jq -e "length == 1 and (.[0].backlog | $1)" <<<"$RESP" >/dev/null
}
KEY=$KEY_B api PATCH "/v1/subscriptions/$B_SUB" '{"status":"paused"}'
expect_status 200 "tenant B's subscription paused"
api POST /v1/events '{"specversion":"1.0","id":"b-1","source":"/b","type":"t.other"}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "an event for it"
wait_until 20 "the list shows tenant B's paused backlog of one" \
	b_backlog_is '.pending == 1 and .due == 1 and .oldest_due_seconds >= 0'

# ------------------------------------------------- recent attempts, /v1/stats

# An admin's subscription whose sink always fails: the overview lists it
# first.  The list tells its recent attempts (this instance's, from
# memory); tenant B's paused one has none.
sub_create "failing" '{"sink":"'"$RECEIVER_URL"'/down?status=500","types":["t.down"],"delivery":{"retry":{"max_attempts":2,"initial_ms":100,"max_ms":100}}}'
DOWN_SUB=$SUB_ID
api POST /v1/events '{"specversion":"1.0","id":"down-1","source":"/down","type":"t.down"}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "an event for the failing sink"
down_attempts_are() {
	api GET /v1/subscriptions
	jq -e --arg id "$DOWN_SUB" '.[] | select(.id == $id) | .attempts |
		. != null and .recent == 2 and .recent_failed == 2 and
		.last_success_at == null and (.last_failure_at | test("Z$")) and
		.last_failure == {"outcome":"http_5xx","status":500}' <<<"$RESP" >/dev/null
}
wait_until 20 "the list shows the failing sink's two failed attempts" down_attempts_are
api GET /v1/subscriptions
expect_json "[.[] | select(.id == \"$B_SUB\") | .attempts] | .[0]" null \
	"a subscription with no attempt: attempts null"

api GET /v1/stats
expect_status 200 "an admin reads the last hour"
expect_json '[.interval_seconds, .window_seconds] | join(" ")' "10 3600" "every 10 s, an hour by default"
KEY=$KEY_A api GET /v1/stats
expect_status 403 "a tenant's key may not read the instance's figures"
for w in 9 3601 abc -10; do
	api GET "/v1/stats?window=$w"
	expect_status 400 "window=$w is refused"
	expect_json .error invalid_parameter "window=$w: invalid_parameter"
done
# The history takes a sample every 10 s: wait for one that holds the two
# events and the failed attempts above.
stats_show_traffic() {
	api GET /v1/stats
	jq -e '[.intervals[].ingested.accepted] | add >= 2' <<<"$RESP" >/dev/null &&
		jq -e '[.intervals[].attempts.http_5xx] | add >= 2' <<<"$RESP" >/dev/null
}
wait_until 30 "the history holds the events and the failed attempts" stats_show_traffic
check "the intervals follow one another, each longer than nothing" jq -e '
	.intervals as $v | ($v | length) >= 1 and
	all($v[]; .seconds > 0 and .backlog != null) and
	([range(1; $v | length) | $v[.].at > $v[. - 1].at] | all)' <<<"$RESP"
check "the backlog in the last interval counts tenant B's paused delivery" \
	jq -e '.intervals[-1].backlog.due >= 1' <<<"$RESP"
api GET "/v1/stats?window=10"
expect_status 200 "the last 10 s"
check "a 10 s window holds at most two intervals" jq -e '.intervals | length <= 2' <<<"$RESP"

# ---------------------------------------------------------------- the browser

SHOTS=${HERALD_CONSOLE_SHOTS:-$TEST_TMPDIR/screenshots}
RESULTS=$TEST_TMPDIR/browser.results
: >"$RESULTS"
log "chromium: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"
HERALD_URL=$HERALD_URL RECEIVER_URL=$RECEIVER_URL ADMIN_KEY=$ADMIN_KEY KEY_A=$KEY_A \
	KEY_P=$KEY_P B_SUB=$B_SUB DOWN_SUB=$DOWN_SUB CHROMIUM=$CHROMIUM RESULTS=$RESULTS SHOTS=$SHOTS \
	HERALD_BROWSER_MODULES=$MODULES \
	timeout 300 node "$HERALD_SRCDIR/tests/browser/console.mjs" >"$TEST_TMPDIR/browser.log" 2>&1 &&
	rc=0 || rc=$?
while IFS=$'\t' read -r verdict what detail; do
	if [[ $verdict == ok ]]; then
		_ok "browser: $what"
	else
		_not_ok "browser: $what" "$detail"
	fi
done <"$RESULTS"
if [[ $rc -ne 0 ]] && ! grep -q '^not ok' "$RESULTS"; then
	_not_ok "the browser script ran to its end" "exit $rc: $(tail -n 20 "$TEST_TMPDIR/browser.log")"
fi
check "the browser made its checks" test "$(grep -c '^ok' "$RESULTS")" -ge 33

# What the browser did, as the database and the receiver saw it: the
# receiver got each of the three events twice at the failing URL, once
# after the fix, and one of them once more (the retry); the group's one
# event reached one member; tenant A's subscriptions were deleted.
check "the sink got 6 failed attempts, 3 replayed and 1 retried" test "$(receiver_count /hook)" -eq 10
check "6 of them answered 500" test "$(receiver_requests /hook | jq '[.[] | select(.response.status == 500)] | length')" -eq 6
groups=0
for m in 1 2 3 4; do
	groups=$((groups + $(receiver_count "/group-$m")))
done
check "the consumer group's one event went to one member" test "$groups" -eq 1
check "the console deleted tenant A's subscriptions" \
	test "$(db_psql "SELECT count(*) FROM subscription WHERE tenant = $ID_A")" -eq 0
KEY=$KEY_B api GET "/v1/subscriptions/$B_SUB"
expect_status 200 "tenant B's subscription is untouched"
check "the key made in the console is revoked" \
	test "$(db_psql "SELECT count(*) FROM api_key WHERE name = 'made-in-console' AND revoked_at IS NOT NULL")" -eq 1

finish
