#!/usr/bin/env bash
# Run the saga of contrib/saga against a running herald: one order shipped, one compensated, and the story of each.
#
# Usage: contrib/saga/run.sh
#
# Starts the four services (contrib/saga/service.py: order, payment,
# inventory, shipping) on free ports of 127.0.0.1, subscribes each to the
# events it handles, places order 1 (2 x book, in stock) and order 2 (1 x
# lamp, out of stock), waits until both sagas have ended and nothing is left
# to deliver, prints the story of each order, and removes what it made: the
# services, their subscriptions and the key they used.
#
# herald must accept sinks on 127.0.0.1: allow_private_sinks = true
# (contrib/quickstart.sh starts it so).
#
# Environment:
#   HERALD_URL    herald's address (default http://127.0.0.1:8080)
#   HERALD_KEY    an admin key (default $HERALD_ADMIN_KEY, else the
#                 ./.herald/admin_key of contrib/quickstart.sh)
#   SAGA_DIR      where the services keep their state, journals and logs
#                 (default: a temporary directory, removed at the end)
#   SAGA_CRASH    services that crash once per order, after handling the
#                 order's first delivery and before answering, and that
#                 this script then restarts (e.g. "payment shipping")
#   SAGA_TIMEOUT  seconds to wait for both sagas (default 30)
#
# Exit status: 0 when order 1 completed and order 2 was cancelled, else 1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HERALD_URL=${HERALD_URL:-http://127.0.0.1:8080}
HERALD_URL=${HERALD_URL%/}
SAGA_TIMEOUT=${SAGA_TIMEOUT:-30}
ROLES=(order payment inventory shipping)
# what each service handles
declare -A TYPES=(
	[order]='["com.example.shipping.scheduled","com.example.payment.refunded"]'
	[payment]='["com.example.order.placed","com.example.inventory.out_of_stock"]'
	[inventory]='["com.example.payment.charged"]'
	[shipping]='["com.example.inventory.reserved"]'
)

say() {
	printf '==> %s\n' "$*" >&2
}

die() {
	say "$*"
	exit 1
}

for tool in curl jq python3; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
if [[ -z ${HERALD_KEY:-} ]]; then
	HERALD_KEY=${HERALD_ADMIN_KEY:-}
	if [[ -z $HERALD_KEY && -s $HERE/../../.herald/admin_key ]]; then
		HERALD_KEY=$(<"$HERE/../../.herald/admin_key")
	fi
fi
[[ -n $HERALD_KEY ]] || die "set HERALD_KEY to an admin key of herald"

# call METHOD PATH KEY [BODY]: sets STATUS and BODY; never fails.
call() {
	local args=(-sS -X "$1" --max-time 10 -o "$WORK/answer" -w '%{http_code}'
		-H "Authorization: Bearer $3")
	[[ $# -lt 4 ]] || args+=(-H 'Content-Type: application/json' --data-binary "$4")
	STATUS=$(curl "${args[@]}" "$HERALD_URL$2" 2>"$WORK/curl.err") || STATUS=000
	BODY=$(cat "$WORK/answer" "$WORK/curl.err" 2>/dev/null)
}

# ---------------------------------------------------------------- clean-up

WORK=$(mktemp -d "${TMPDIR:-/tmp}/herald-saga.XXXXXX")
if [[ -n ${SAGA_DIR:-} ]]; then
	mkdir -p "$SAGA_DIR"
	DIR=$(cd "$SAGA_DIR" && pwd)
else
	DIR=$WORK/state
	mkdir "$DIR"
fi
declare -A PIDS=() PORTS=() SUBS=() RESTARTS=()
KEY_ID=
SAGA_KEY=

# shellcheck disable=SC2317 # called by the EXIT trap
clean_up() {
	local role id
	trap - EXIT
	set +e
	for id in "${SUBS[@]}"; do
		call DELETE "/v1/subscriptions/$id" "$SAGA_KEY"
		[[ $STATUS == 204 ]] || say "could not delete subscription $id ($STATUS): $BODY"
	done
	if [[ -n $KEY_ID ]]; then
		call DELETE "/v1/keys/$KEY_ID" "$HERALD_KEY"
		[[ $STATUS == 204 ]] || say "could not revoke key $KEY_ID ($STATUS): $BODY"
	fi
	for role in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$role]}" 2>/dev/null
		wait "${PIDS[$role]}" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap clean_up EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- services

# start ROLE PORT: start a service (PORT 0: any free port).
start() {
	local flags=()
	[[ " ${SAGA_CRASH:-} " != *" $1 "* ]] || flags+=(--crash-once)
	rm -f "$DIR/$1.port"
	SAGA_PUBLISH_KEY=$SAGA_KEY python3 "$HERE/service.py" "$1" --dir "$DIR" \
		--herald "$HERALD_URL" --port "$2" "${flags[@]}" 2>>"$DIR/$1.log" &
	PIDS[$1]=$!
}

# supervise: restart any service that exited, on its own port.
supervise() {
	local role st
	for role in "${ROLES[@]}"; do
		kill -0 "${PIDS[$role]}" 2>/dev/null && continue
		st=0
		wait "${PIDS[$role]}" || st=$?
		RESTARTS[$role]=$((${RESTARTS[$role]:-0} + 1))
		((RESTARTS[$role] <= 10)) || die "$role keeps exiting: see $DIR/$role.log"
		say "$role exited with status $st: restarting it on port ${PORTS[$role]:-any}"
		start "$role" "${PORTS[$role]:-0}"
	done
}

# until_true SECONDS COMMAND...: run COMMAND every 0.2 s, restarting
# crashed services in between, until it succeeds (0) or SECONDS passed (1).
until_true() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.2
		supervise
	done
}

ports_known() {
	local role
	for role in "${ROLES[@]}"; do
		[[ -s $DIR/$role.port ]] || return 1
		PORTS[$role]=$(<"$DIR/$role.port")
	done
}

# ---------------------------------------------------------------- set-up

RUN=$(od -An -tx1 -N4 /dev/urandom | tr -d ' \n')
ORDER_1=order-$RUN-1
ORDER_2=order-$RUN-2

[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$HERALD_URL/healthz") == 200 ]] ||
	die "herald does not answer at $HERALD_URL/healthz (set HERALD_URL)"

# The services publish with a key of their own, limited to the sources
# /saga/...; their subscriptions, made with it, see only those events.
call POST /v1/keys "$HERALD_KEY" \
	'{"name":"saga-'"$RUN"'","scopes":["publish","subscribe"],"sources":["/saga"]}'
[[ $STATUS == 201 ]] || die "creating the saga's key: $STATUS $BODY (is HERALD_KEY an admin key?)"
KEY_ID=$(jq -r .id <<<"$BODY")
SAGA_KEY=$(jq -r .key <<<"$BODY")

say "run $RUN: starting the services (state in $DIR)"
for role in "${ROLES[@]}"; do
	start "$role" 0
done
until_true 15 ports_known || die "the services did not start: see $DIR/*.log"

for role in "${ROLES[@]}"; do
	# structured mode, so a service reads the whole event from the body;
	# ordered by partitionkey, the order id; only this run's orders
	call POST /v1/subscriptions "$SAGA_KEY" "$(jq -cn \
		--arg sink "http://127.0.0.1:${PORTS[$role]}/hook" \
		--argjson types "${TYPES[$role]}" --arg orders "order-$RUN-" '{
		sink: $sink, types: $types,
		filters: [{prefix: {partitionkey: $orders}}],
		delivery: {mode: "structured", ordering: "partitionkey",
		  retry: {max_attempts: 15, initial_ms: 250, multiplier: 2,
		          max_ms: 2000, jitter: 0.2}}}')"
	if [[ $STATUS != 201 ]]; then
		[[ $BODY != *sink* ]] || say "herald refuses sinks on 127.0.0.1 unless allow_private_sinks = true"
		die "subscribing $role: $STATUS $BODY"
	fi
	SUBS[$role]=$(jq -r .id <<<"$BODY")
	(umask 077 && jq -r .secret <<<"$BODY" >"$DIR/$role.secret")
done

# place ORDER ITEM QTY: ask the order service; prints herald's seq.
place() {
	local ans
	ans=$(curl -sS --max-time 30 -H 'Content-Type: application/json' \
		-d "{\"order\":\"$1\",\"item\":\"$2\",\"qty\":$3}" \
		"http://127.0.0.1:${PORTS[order]}/orders") || die "placing $1 failed"
	jq -er .seq <<<"$ans" || die "placing $1: $ans"
}

say "placing $ORDER_1 (2 x book) and $ORDER_2 (1 x lamp, out of stock)"
FIRST_SEQ=$(place "$ORDER_1" book 2)
place "$ORDER_2" lamp 1 >/dev/null

# ---------------------------------------------------------------- the sagas

# fetch_events: this run's events, in seq order, into $WORK/events.json.
fetch_events() {
	local after=$((FIRST_SEQ - 1)) pages=()
	while [[ $after != null ]]; do
		call GET "/v1/events?after=$after&limit=1000" "$SAGA_KEY"
		[[ $STATUS == 200 ]] || return 1
		printf '%s' "$BODY" >"$WORK/page.$after.json"
		pages+=("$WORK/page.$after.json")
		after=$(jq -r .next_after <<<"$BODY")
	done
	jq -s --arg p "order-$RUN-" \
		'[.[].items[] | select(.event.partitionkey // "" | startswith($p))]' \
		"${pages[@]}" >"$WORK/events.json"
	rm -f "${pages[@]}"
}

# ended: both orders completed or cancelled, and no delivery left pending.
ended() {
	local role
	fetch_events || return 1
	[[ $(jq '[.[].event.type | select(. == "com.example.order.completed"
		or . == "com.example.order.cancelled")] | length' "$WORK/events.json") == 2 ]] ||
		return 1
	for role in "${ROLES[@]}"; do
		call GET "/v1/subscriptions/${SUBS[$role]}/deliveries?state=pending&limit=1" "$SAGA_KEY"
		[[ $STATUS == 200 && $(jq '.items | length' <<<"$BODY") == 0 ]] || return 1
	done
}

if ! until_true "$SAGA_TIMEOUT" ended; then
	say "the sagas did not end within ${SAGA_TIMEOUT}s; so far:"
	python3 "$HERE/story.py" "$WORK/events.json" "$DIR" "$ORDER_1" "$ORDER_2" >&2 || true
	exit 1
fi

python3 "$HERE/story.py" "$WORK/events.json" "$DIR" "$ORDER_1" "$ORDER_2"
[[ $(jq -r --arg o "$ORDER_1" --arg o2 "$ORDER_2" '[
	(.[] | select(.event.partitionkey == $o and .event.type == "com.example.order.completed")),
	(.[] | select(.event.partitionkey == $o2 and .event.type == "com.example.order.cancelled"))
	] | length' "$WORK/events.json") == 2 ]] || die "the sagas did not end as expected"
