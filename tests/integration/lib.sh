# Integration test helpers: throwaway PostgreSQL, herald, receiver, HTTP calls and checks.
# shellcheck shell=bash
#
# Sourced by tests/integration/*.sh, which `make check` runs with HERALD_BIN,
# HERALD_RECEIVER, HERALD_SRCDIR and HERALD_TESTDATA set.  A script exits 0
# (pass), 1 (fail) or 77 (skip).  A typical script:
#
#	. "$HERALD_SRCDIR/tests/integration/lib.sh"
#	pg_use_shared_or_start
#	db_create
#	receiver_start
#	herald_start
#	api POST /v1/subscriptions '{"sink":"'"$RECEIVER_URL"'/hook","types":["t"]}'
#	expect_status 201 "subscription created"
#	wait_until 10 "event delivered" receiver_has /hook 1
#	finish
#
# Assertions count in the script's own shell: call them there, not in a
# subshell or a pipeline.  One EXIT trap stops herald, the receiver and a
# private cluster and removes the temporary directory, which is kept (and its
# path printed, with the herald log tail) when something failed.
#
# Knobs (environment): HERALD_TEST_PGHOST/HERALD_TEST_PGPORT (a shared cluster,
# see contrib/test.sh), HERALD_PG_BINDIR, HERALD_WRAPPER (command prefix for
# herald, e.g. "valgrind --error-exitcode=99"), HERALD_START_TIMEOUT (s, 15),
# HERALD_STOP_TIMEOUT (s, 15), API_TIMEOUT (s, 30), ADMIN_KEY, KEY,
# HERALD_OPENAPI (0: do not check answers against doc/openapi.yaml),
# HERALD_OPENAPI_MODULES (the node_modules the check uses, default
# tests/openapi/node_modules), HERALD_OPENAPI_REQUIRED (1: a check that
# cannot run fails), HERALD_OPENAPI_COVERAGE (a file listing what was
# checked).
#
# HTTPS: a script that starts herald with tls_cert_file sets HERALD_SCHEME=https
# and the curl arguments that make the certificate trusted in the array
# HERALD_CURL_ARGS (e.g. --cacert ca.pem); herald_start and api use both.
#
# contrib/test.sh and contrib/quickstart.sh source this file with
# HERALD_LIB_FUNCTIONS_ONLY=1 to reuse the PostgreSQL functions: then nothing
# runs and no trap is set.

: "${ADMIN_KEY:=hk_test_admin_0123456789abcdef0123456789}"
: "${HERALD_START_TIMEOUT:=15}"
: "${HERALD_STOP_TIMEOUT:=15}"
: "${API_TIMEOUT:=30}"

TESTS_RUN=0
TESTS_FAILED=0
TEST_NAME=$(basename "$0" .sh)

PG_BINDIR=
PG_DIR=
PG_HOST=
PG_PORT=
PG_PRIVATE=0
PRODUCER_DIR=
PRODUCER_PORT=
PRODUCER_URL=
DB_NAME=
DATABASE_URL=
HERALD_URL=
HERALD_SCHEME=${HERALD_SCHEME:-http}
HERALD_CURL_ARGS=()
HERALD_PID=
HERALD_PORT=
HERALD_LOG=
HERALD_EXIT_STATUS=
HERALD_PIDS=()
HERALD_LAST_ARGS=()
RECEIVER_URL=
RECEIVER_PID=
RECEIVER_LOG=
STATUS=
RESP=
RESP_HEADERS=

# ---------------------------------------------------------------- basics

log() {
	printf '# %s\n' "$*"
}

# Abort the script: a setup step failed.
die() {
	printf 'not ok - %s: %s\n' "$TEST_NAME" "$*"
	TESTS_FAILED=$((TESTS_FAILED + 1))
	exit 1
}

skip() {
	printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*"
	exit 77
}

now_ms() {
	local t=${EPOCHREALTIME//[.,]/}
	echo $((10#$t / 1000))
}

# A TCP port on 127.0.0.1 nobody listens on, below the ephemeral range.
free_port() {
	local i p
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# ---------------------------------------------------------------- PostgreSQL

# Find the PostgreSQL server binaries; sets PG_BINDIR.  Returns 1 if absent.
pg_find_bin() {
	local d
	if [[ -n ${HERALD_PG_BINDIR:-} && -x ${HERALD_PG_BINDIR}/initdb ]]; then
		PG_BINDIR=$HERALD_PG_BINDIR
		return 0
	fi
	# Newest major version first.
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr); do
		if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
			PG_BINDIR=$d
			return 0
		fi
	done
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		PG_BINDIR=$(dirname "$(command -v pg_ctl)")
		return 0
	fi
	return 1
}

# Run a command as the cluster owner: postgres when we are root.
pg_as() {
	if [[ $(id -u) -eq 0 ]]; then
		# (from a directory postgres may enter, such as / rather than a
		# checkout under /root)
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# pg_initdb DATADIR [conf line...]: initialize a trust-auth cluster owned by
# pg_as's user and append the conf lines to its postgresql.conf.
pg_initdb() {
	local data=$1 line
	shift
	pg_as "$PG_BINDIR/initdb" -D "$data" -A trust -U postgres -E UTF8 \
		--locale=C --no-sync >"$data.initdb.log" 2>&1 || {
		cat "$data.initdb.log" >&2
		return 1
	}
	for line in "$@"; do
		printf '%s\n' "$line"
	done | pg_as tee -a "$data/postgresql.conf" >/dev/null
}

# _pg_cluster_new DIR_VAR PORT_VAR NAME [conf line...]: initialize a
# trust-auth cluster in a fresh /tmp/herald-NAME.* directory (a short path:
# the socket path must stay under 107 bytes, and the postgres user must be
# able to reach it), listening on 127.0.0.1 and a free port, with the conf
# lines, and start it.  Sets the variables named DIR_VAR and PORT_VAR (the
# directory as soon as it exists, so the exit trap can remove it).  Exits
# 77 when PostgreSQL is not installed.
_pg_cluster_new() {
	local dir_var=$1 port_var=$2 name=$3 dir port attempt
	shift 3
	pg_find_bin || skip "PostgreSQL server binaries not found (set HERALD_PG_BINDIR)"
	if [[ $(id -u) -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
		skip "running as root but there is no postgres user to own the cluster"
	fi
	dir=$(mktemp -d "/tmp/herald-$name.XXXXXX") || die "mktemp failed"
	printf -v "$dir_var" '%s' "$dir"
	if [[ $(id -u) -eq 0 ]]; then
		chown postgres: "$dir"
	fi
	pg_initdb "$dir/data" \
		"listen_addresses = '127.0.0.1'" \
		"unix_socket_directories = '$dir'" \
		"log_min_messages = warning" "$@" || die "initdb of the $name cluster failed"
	for attempt in 1 2 3 4 5; do
		port=$(free_port) || die "no free port"
		printf -v "$port_var" '%s' "$port"
		printf 'port = %s\n' "$port" | pg_as tee "$dir/data/postgresql.auto.conf" >/dev/null
		if pg_as "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
			-w -t 30 start >/dev/null; then
			return 0
		fi
		log "the $name cluster did not start on port $port (attempt $attempt)"
	done
	tail -n 20 "$dir/postgres.log" >&2 || true
	die "cannot start the $name cluster"
}

# Start a throwaway cluster on 127.0.0.1 and a free port; sets PG_HOST,
# PG_PORT, PG_DIR.  Exits 77 when PostgreSQL is not installed.
pg_start_private() {
	PG_HOST=127.0.0.1
	PG_PRIVATE=1
	_pg_cluster_new PG_DIR PG_PORT pg \
		"max_connections = 200" \
		"shared_buffers = 32MB"
}

# (Re)start the private cluster on its port, waiting until it accepts.
pg_start() {
	[[ $PG_PRIVATE -eq 1 ]] || die "pg_start needs a private cluster (pg_start_private)"
	pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" \
		-w -t 30 start >/dev/null
}

# pg_stop [MODE]: fast (default: sessions ended, WAL flushed) or immediate
# (a crash: whatever was not flushed is lost, recovery at the next start).
pg_stop() {
	[[ $PG_PRIVATE -eq 1 ]] || die "pg_stop needs a private cluster (pg_start_private)"
	pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w -t 30 stop >/dev/null
}

pg_restart() {
	pg_stop && pg_start
}

# proc_children PID: the pids whose parent is PID, read from /proc (no
# procps needed).
proc_children() {
	local f line pid fields
	for f in /proc/[0-9]*/stat; do
		read -r line <"$f" 2>/dev/null || continue
		# the command name, in parentheses, may hold spaces
		read -r -a fields <<<"${line##*) }"
		if [[ ${fields[1]:-} == "$1" ]]; then
			pid=${f#/proc/}
			echo "${pid%/stat}"
		fi
	done
}

PG_FROZEN=()

# pg_freeze: SIGSTOP the private cluster's postmaster, then every child it
# had: the sockets stay open and nothing answers (a frozen host).  Returns
# 1 when the postmaster is not found.
pg_freeze() {
	local pm
	[[ $PG_PRIVATE -eq 1 ]] || die "pg_freeze needs a private cluster (pg_start_private)"
	read -r pm <"$PG_DIR/data/postmaster.pid" 2>/dev/null || return 1
	[[ $pm =~ ^[0-9]+$ ]] || return 1
	kill -STOP "$pm" || return 1
	PG_FROZEN=("$pm")
	mapfile -t -O 1 PG_FROZEN < <(proc_children "$pm")
	((${#PG_FROZEN[@]} < 2)) || kill -STOP "${PG_FROZEN[@]:1}"
}

# pg_thaw: undo pg_freeze.
pg_thaw() {
	((${#PG_FROZEN[@]} == 0)) || kill -CONT "${PG_FROZEN[@]}" 2>/dev/null
	PG_FROZEN=()
	return 0
}

# pg_start_producer: a second private cluster, as a producer's database
# for the relay (wal_level = logical, replication slots and senders);
# sets PRODUCER_DIR, PRODUCER_PORT and PRODUCER_URL (its postgres
# database, as the postgres superuser).  Stopped and removed at exit.
pg_start_producer() {
	_pg_cluster_new PRODUCER_DIR PRODUCER_PORT prod \
		"max_connections = 50" \
		"shared_buffers = 16MB" \
		"wal_level = logical" \
		"max_replication_slots = 8" \
		"max_wal_senders = 8"
	PRODUCER_URL="host=127.0.0.1 port=$PRODUCER_PORT dbname=postgres user=postgres"
}

producer_start() {
	pg_as "$PG_BINDIR/pg_ctl" -D "$PRODUCER_DIR/data" -l "$PRODUCER_DIR/postgres.log" \
		-w -t 30 start >/dev/null
}

# producer_stop [MODE]: as pg_stop, for the producer's cluster.
producer_stop() {
	pg_as "$PG_BINDIR/pg_ctl" -D "$PRODUCER_DIR/data" -m "${1:-fast}" -w -t 30 stop >/dev/null
}

# producer_psql SQL: run SQL in the producer's database; prints unaligned rows.
producer_psql() {
	"$(_psql_bin)" -X -q -A -t -v ON_ERROR_STOP=1 -d "$PRODUCER_URL" -c "$1"
}

# True while the private cluster's postmaster runs.
pg_running() {
	[[ $PG_PRIVATE -eq 1 && -n $PG_DIR && -d $PG_DIR/data ]] &&
		pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1
}

# Use the cluster of contrib/test.sh if it exported one, else start one.
pg_use_shared_or_start() {
	if [[ -n ${HERALD_TEST_PGHOST:-} && -n ${HERALD_TEST_PGPORT:-} ]]; then
		PG_HOST=$HERALD_TEST_PGHOST
		PG_PORT=$HERALD_TEST_PGPORT
		PG_PRIVATE=0
		pg_find_bin || true
	else
		pg_start_private
	fi
}

_psql_bin() {
	if [[ -n $PG_BINDIR && -x $PG_BINDIR/psql ]]; then
		echo "$PG_BINDIR/psql"
	else
		command -v psql || echo psql
	fi
}

# psql_admin SQL: run SQL in the maintenance database.
psql_admin() {
	"$(_psql_bin)" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c "$1"
}

# db_psql SQL: run SQL in the test's database; prints unaligned rows.
db_psql() {
	"$(_psql_bin)" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"
}

# Create a database of this script's own; sets DB_NAME and DATABASE_URL.
db_create() {
	local base
	[[ -n $PG_PORT ]] || die "db_create: no cluster (call pg_use_shared_or_start)"
	base=$(printf '%s' "${TEST_NAME,,}" | tr -c 'a-z0-9' '_' | cut -c1-30)
	DB_NAME="t_${base}_$$_${RANDOM}"
	psql_admin "CREATE DATABASE \"$DB_NAME\"" ||
		die "cannot create database $DB_NAME"
	DATABASE_URL="host=$PG_HOST port=$PG_PORT dbname=$DB_NAME user=postgres"
	export DATABASE_URL
}

# ---------------------------------------------------------------- herald

# _http_code URL: the status of a GET (000: no answer); herald's curl
# arguments apply to herald's URLs.
_http_code() {
	local extra=()
	[[ -z $HERALD_URL || $1 != "$HERALD_URL"/* ]] || extra=("${HERALD_CURL_ARGS[@]}")
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${extra[@]}" "$1" 2>/dev/null || true
}

# herald_start [extra args...]: start herald on a free port (or on
# HERALD_LISTEN_PORT when set) and wait for /healthz; sets HERALD_URL,
# HERALD_PID, HERALD_PORT, HERALD_LOG.
herald_start() {
	local attempt port deadline wrapper=()
	[[ -x ${HERALD_BIN:-} ]] || die "HERALD_BIN is not an executable: ${HERALD_BIN:-unset}"
	[[ -n $DATABASE_URL ]] || die "herald_start: no database (call db_create)"
	if [[ -n ${HERALD_WRAPPER:-} ]]; then
		read -r -a wrapper <<<"$HERALD_WRAPPER"
	fi
	HERALD_LAST_ARGS=("$@")
	HERALD_LOG=$TEST_TMPDIR/herald.log
	for attempt in 1 2 3; do
		port=${HERALD_LISTEN_PORT:-}
		[[ -n $port ]] || port=$(free_port) || die "no free port"
		printf '=== %s herald start on port %s: %s\n' "$(date +%T)" "$port" "$*" >>"$HERALD_LOG"
		"${wrapper[@]}" "$HERALD_BIN" --listen "127.0.0.1:$port" \
			--database-url "$DATABASE_URL" --admin-key "$ADMIN_KEY" \
			--allow-private-sinks true "$@" >>"$HERALD_LOG" 2>&1 &
		HERALD_PID=$!
		HERALD_PIDS+=("$HERALD_PID")
		HERALD_PORT=$port
		HERALD_URL=$HERALD_SCHEME://127.0.0.1:$port
		deadline=$(($(now_ms) + HERALD_START_TIMEOUT * 1000))
		while (($(now_ms) < deadline)); do
			if [[ $(_http_code "$HERALD_URL/healthz") == 200 ]]; then
				return 0
			fi
			kill -0 "$HERALD_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$HERALD_PID" 2>/dev/null; then
			tail -n 30 "$HERALD_LOG" | sed 's/^/# herald: /'
			die "herald did not answer /healthz within ${HERALD_START_TIMEOUT}s"
		fi
		wait "$HERALD_PID" 2>/dev/null || true
		_herald_forget "$HERALD_PID"
		# Only a port race is worth another attempt.
		if [[ -n ${HERALD_LISTEN_PORT:-} ]] ||
			! tail -n 5 "$HERALD_LOG" | grep -qiE 'in use|bind'; then
			break
		fi
	done
	tail -n 30 "$HERALD_LOG" | sed 's/^/# herald: /'
	die "herald exited during start-up"
}

_herald_forget() {
	local p keep=()
	for p in "${HERALD_PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	HERALD_PIDS=("${keep[@]}")
}

# herald_stop [PID]: SIGTERM, wait up to HERALD_STOP_TIMEOUT s, then SIGKILL.
# Sets HERALD_EXIT_STATUS; returns 0 if herald exited 0.
herald_stop() {
	local pid=${1:-$HERALD_PID} deadline
	[[ -n $pid ]] || return 0
	HERALD_EXIT_STATUS=
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(now_ms) + HERALD_STOP_TIMEOUT * 1000))
	while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "herald $pid ignored SIGTERM for ${HERALD_STOP_TIMEOUT}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null && HERALD_EXIT_STATUS=0 || HERALD_EXIT_STATUS=$?
	_herald_forget "$pid"
	[[ $pid == "$HERALD_PID" ]] && HERALD_PID=
	[[ $HERALD_EXIT_STATUS -eq 0 ]]
}

# herald_kill9 [PID]: crash it.
herald_kill9() {
	local pid=${1:-$HERALD_PID}
	[[ -n $pid ]] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	_herald_forget "$pid"
	[[ $pid == "$HERALD_PID" ]] && HERALD_PID=
	return 0
}

# herald_restart [args...]: stop, then start on the same port with the same
# arguments (or the given ones).
herald_restart() {
	local port=$HERALD_PORT
	herald_stop || true
	if [[ $# -eq 0 ]]; then
		set -- "${HERALD_LAST_ARGS[@]}"
	fi
	HERALD_LISTEN_PORT=$port herald_start "$@"
}

# ---------------------------------------------------------------- receiver

receiver_start() {
	local pf i
	[[ -x ${HERALD_RECEIVER:-} ]] || die "HERALD_RECEIVER is not an executable: ${HERALD_RECEIVER:-unset}"
	pf=$TEST_TMPDIR/receiver.port
	rm -f "$pf"
	RECEIVER_LOG=$TEST_TMPDIR/receiver.log
	"$HERALD_RECEIVER" --port 0 --portfile "$pf" >>"$RECEIVER_LOG" 2>&1 &
	RECEIVER_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $pf ]] && break
		kill -0 "$RECEIVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	[[ -s $pf ]] || die "receiver did not start: $(tail -n 5 "$RECEIVER_LOG")"
	RECEIVER_URL=http://127.0.0.1:$(<"$pf")
	[[ $(_http_code "$RECEIVER_URL/_health") == 200 ]] || die "receiver does not answer"
}

receiver_stop() {
	local i
	[[ -n $RECEIVER_PID ]] || return 0
	kill -TERM "$RECEIVER_PID" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$RECEIVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$RECEIVER_PID" 2>/dev/null || true
	wait "$RECEIVER_PID" 2>/dev/null || true
	RECEIVER_PID=
}

# receiver_requests [PATH]: print the recorded requests (JSON array).
receiver_requests() {
	local q=
	[[ $# -gt 0 ]] && q="?path=$1"
	curl -sS --max-time 10 "$RECEIVER_URL/_requests$q"
}

# receiver_count PATH: print how many requests PATH received.
receiver_count() {
	curl -sS --max-time 10 "$RECEIVER_URL/_stats?path=$1" | jq -r '.count'
}

# receiver_has PATH N: true once PATH received at least N requests.
receiver_has() {
	local n
	n=$(receiver_count "$1" 2>/dev/null) || return 1
	[[ $n =~ ^[0-9]+$ ]] && ((n >= $2))
}

# count_state SUB STATE: how many deliveries of SUB are in STATE.
count_state() {
	db_psql "SELECT count(*) FROM delivery WHERE subscription_id = '$1' AND state = '$2'"
}

# state_is SUB STATE N: true when exactly N deliveries of SUB are in STATE.
state_is() {
	local n
	n=$(count_state "$1" "$2") || return 1
	[[ $n == "$3" ]]
}

# delivery_json SUB SEQ: one delivery as the API shows it
# (GET /v1/subscriptions/{id}/deliveries/{seq}).
delivery_json() {
	api GET "/v1/subscriptions/$1/deliveries/$2"
	if [[ $STATUS == 200 ]]; then
		printf '%s\n' "$RESP"
	else
		printf '{"http_status": %s}\n' "$STATUS"
	fi
}

# delivery_is SUB SEQ JQ: true when the delivery satisfies the jq test.
delivery_is() {
	delivery_json "$1" "$2" | jq -e "$3" >/dev/null 2>&1
}

receiver_reset() {
	curl -sS --max-time 10 -o /dev/null -X POST "$RECEIVER_URL/_reset"
}

# ---------------------------------------------------------------- HTTP

# api METHOD PATH [BODY] [extra curl args...]: call herald (or PATH when it is
# a full URL; HERALD_CURL_ARGS go with herald's URLs).  Authorization uses $KEY (default $ADMIN_KEY; KEY= sends
# none); a body defaults to Content-Type application/json.  Sets STATUS
# (000 when no answer), RESP, RESP_HEADERS and ELAPSED (seconds, curl's
# time_total); waits API_TIMEOUT seconds at most; never fails.
api() {
	local method=$1 path=$2 body='' have_body=0 url key a ct_given=0 f
	shift 2
	if [[ $# -gt 0 ]]; then
		body=$1
		shift
		[[ -n $body ]] && have_body=1
	fi
	for a in "$@"; do
		if [[ ${a,,} == content-type:* ]]; then
			ct_given=1
		fi
	done
	case $path in
	http://* | https://*) url=$path ;;
	*) url=$HERALD_URL$path ;;
	esac
	key=${KEY-$ADMIN_KEY}
	f=$TEST_TMPDIR/api.$BASHPID.$RANDOM
	local args=(-sS -X "$method" --max-time "$API_TIMEOUT" -o "$f.body" -D "$f.headers"
		-w '%{http_code} %{time_total} %{content_type}') out rest ctype
	[[ -n $key ]] && args+=(-H "Authorization: Bearer $key")
	[[ $url != "$HERALD_URL"/* ]] || args+=("${HERALD_CURL_ARGS[@]}")
	if [[ $have_body -eq 1 ]]; then
		printf '%s' "$body" >"$f.req"
		args+=(--data-binary "@$f.req")
		[[ $ct_given -eq 1 ]] || args+=(-H 'Content-Type: application/json')
	fi
	out=$(curl "${args[@]}" "$@" "$url" 2>"$f.err") || true
	STATUS=${out%% *}
	rest=${out#* }
	ELAPSED=${rest%% *}
	ctype=${rest#* }
	[[ -n $STATUS ]] || STATUS=000
	[[ -n $ELAPSED && $rest != "$out" ]] || ELAPSED=0
	[[ $ctype != "$rest" ]] || ctype=
	RESP=
	RESP_HEADERS=
	[[ -f $f.body ]] && RESP=$(<"$f.body")
	[[ -f $f.headers ]] && RESP_HEADERS=$(tr -d '\r' <"$f.headers")
	if [[ $STATUS == 000 ]]; then
		RESP=$(<"$f.err")
	else
		# kept for the check against doc/openapi.yaml at finish, unless
		# it came from a listener that is not the API
		[[ -f $f.body ]] || : >"$f.body"
		[[ -n ${OPENAPI_OTHER_ORIGIN:-} && $url == "$OPENAPI_OTHER_ORIGIN"/* ]] ||
			_openapi_log "$method" "$STATUS" "$ctype" "$f.body" "$url"
	fi
	rm -f "$f.body" "$f.headers" "$f.req" "$f.err"
	return 0
}

# ---------------------------------------------------------------- API document

# Every answer herald gives through `api` (and openapi_record) is checked
# at finish against doc/openapi.yaml by tests/openapi/validate.mjs: an
# undocumented status, content type or body fails the test.  Without node
# or its npm modules (`npm ci` in tests/openapi, or HERALD_OPENAPI_MODULES
# naming a node_modules directory) the check says it is skipped.
# HERALD_OPENAPI=0 turns it off.  A test sets OPENAPI_OTHER_ORIGIN to the
# http://host:port of a listener that doc/openapi.yaml does not describe
# (metrics_listen's), whose answers are then not checked.

# _openapi_log METHOD STATUS CONTENT_TYPE BODY_FILE URL: keep the body (the
# file is moved) and append a record.
_openapi_log() {
	local keep
	[[ ${HERALD_OPENAPI:-1} != 0 && -n ${TEST_TMPDIR:-} ]] || return 0
	mkdir -p "$TEST_TMPDIR/openapi"
	# a name of its own: $RANDOM repeats within a test, and pids are reused
	keep=$(mktemp "$TEST_TMPDIR/openapi/body.XXXXXXXX") || return 0
	mv -f "$4" "$keep" 2>/dev/null || return 0
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${3//[$'\t\r\n']/ }" "$keep" \
		"${5//[$'\t\r\n']/ }" >>"$TEST_TMPDIR/openapi.log"
}

# openapi_record METHOD URL STATUS BODY_FILE [CONTENT_TYPE]: have an answer
# that a test got from herald with its own curl checked like those of `api`
# (the body file is copied; content type default application/json).
openapi_record() {
	local tmp
	[[ ${HERALD_OPENAPI:-1} != 0 && -n ${TEST_TMPDIR:-} && $3 != 000 ]] || return 0
	tmp=$TEST_TMPDIR/api.rec.$BASHPID.$RANDOM.body
	cp "$4" "$tmp" 2>/dev/null || : >"$tmp"
	_openapi_log "$1" "$3" "${5-application/json}" "$tmp" "$2"
}

# A check that could not run is a note, or a failure when
# HERALD_OPENAPI_REQUIRED=1 (CI, which installs what it needs).
_openapi_skipped() {
	if [[ ${HERALD_OPENAPI_REQUIRED:-0} == 1 ]]; then
		_not_ok "responses match doc/openapi.yaml" "not checked: $1"
	else
		log "responses not checked against doc/openapi.yaml: $1"
	fi
}

# _openapi_check: the check itself (called by finish).
_openapi_check() {
	local out rc line details=()
	[[ ${HERALD_OPENAPI:-1} != 0 && -s ${TEST_TMPDIR:-}/openapi.log ]] || return 0
	if ! command -v node >/dev/null 2>&1; then
		_openapi_skipped "node is not installed"
		return 0
	fi
	out=$(node "$HERALD_SRCDIR/tests/openapi/validate.mjs" "$HERALD_SRCDIR/doc/openapi.yaml" \
		"$TEST_NAME" "$TEST_TMPDIR/openapi.log" 2>&1) && rc=0 || rc=$?
	case $rc in
	0) _ok "responses match doc/openapi.yaml (${out##*$'\n'})" ;;
	77) _openapi_skipped "${out##*$'\n'}" ;;
	*)
		while IFS= read -r line; do
			details+=("$line")
		done <<<"$out"
		_not_ok "responses match doc/openapi.yaml" "${details[@]}"
		;;
	esac
}

# resp_header NAME: print the value of a response header of the last api call.
resp_header() {
	printf '%s\n' "$RESP_HEADERS" | awk -v n="${1,,}" '
		{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) {
			v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }' | tail -n 1
}

# ---------------------------------------------------------------- checks

_ok() {
	TESTS_RUN=$((TESTS_RUN + 1))
	printf 'ok %d - %s\n' "$TESTS_RUN" "$1"
}

# _not_ok DESC [detail lines...]
_not_ok() {
	local line
	TESTS_RUN=$((TESTS_RUN + 1))
	TESTS_FAILED=$((TESTS_FAILED + 1))
	printf 'not ok %d - %s\n' "$TESTS_RUN" "$1"
	shift
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /'
	done
}

_last_http() {
	printf 'last HTTP status: %s\nlast body: %.2000s' "$STATUS" "$RESP"
}

# check DESC COMMAND...: passes when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then
		_ok "$desc"
	else
		_not_ok "$desc" "command failed: $*" "$(_last_http)"
	fi
}

# expect_status CODE DESC
expect_status() {
	if [[ $STATUS == "$1" ]]; then
		_ok "$2"
	else
		_not_ok "$2" "expected status $1, got $STATUS" "body: ${RESP:0:2000}"
	fi
}

# expect_json JQ_FILTER EXPECTED DESC: compares `jq -r FILTER` of RESP.
expect_json() {
	local got
	got=$(printf '%s' "$RESP" | jq -r "$1" 2>&1) || got="(jq failed) $got"
	if [[ $got == "$2" ]]; then
		_ok "$3"
	else
		_not_ok "$3" "jq '$1': expected '$2', got '${got:0:2000}'" "$(_last_http)"
	fi
}

# expect_eq ACTUAL EXPECTED DESC
expect_eq() {
	if [[ $1 == "$2" ]]; then
		_ok "$3"
	else
		_not_ok "$3" "expected '${2:0:2000}', got '${1:0:2000}'"
	fi
}

# sub_create DESC BODY: create a subscription (as $KEY, see api); a check
# that it answered 201; sets SUB_ID.
sub_create() {
	api POST /v1/subscriptions "$2"
	expect_status 201 "$1: subscription created"
	SUB_ID=$(printf '%s' "$RESP" | jq -r '.id // empty')
	[[ -n $SUB_ID ]] || die "$1: no subscription id in: ${RESP:0:500}"
}

# poll_until TIMEOUT_S COMMAND...: run the command every 0.1 s until it
# succeeds (return 0) or TIMEOUT_S seconds passed (return 1).  Not a check.
poll_until() {
	local deadline
	deadline=$(($(now_ms) + $1 * 1000))
	shift
	while true; do
		"$@" && return 0
		(($(now_ms) < deadline)) || return 1
		sleep 0.1
	done
}

# wait_until TIMEOUT_S DESC COMMAND...: a check that the command succeeds
# within TIMEOUT_S seconds (polled every 0.1 s).  Returns 0 either way, so it
# is safe under set -e; use poll_until to branch on the outcome.
wait_until() {
	local timeout=$1 desc=$2 start
	shift 2
	start=$(now_ms)
	if poll_until "$timeout" "$@"; then
		_ok "$desc ($(($(now_ms) - start)) ms)"
	else
		_not_ok "$desc" "still false after ${timeout}s: $*" "$(_last_http)"
	fi
}

# Fail on sanitizer reports in herald's log.
_check_sanitizers() {
	[[ -n $HERALD_LOG && -f $HERALD_LOG ]] || return 0
	if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|==[0-9]+== (Invalid|Conditional|Mismatched)' "$HERALD_LOG"; then
		_not_ok "no sanitizer or valgrind reports in the herald log" \
			"$(grep -m 20 -E 'Sanitizer|runtime error:|==[0-9]+==' "$HERALD_LOG")"
	fi
}

# finish: stop herald (it must exit 0 on SIGTERM), print the summary, exit.
finish() {
	local p
	for p in "${HERALD_PIDS[@]}"; do
		if herald_stop "$p"; then
			_ok "herald $p exits 0 on SIGTERM"
		else
			_not_ok "herald $p exits 0 on SIGTERM" "exit status $HERALD_EXIT_STATUS"
		fi
	done
	_check_sanitizers
	_openapi_check
	printf '%d passed, %d failed\n' "$((TESTS_RUN - TESTS_FAILED))" "$TESTS_FAILED"
	[[ $TESTS_FAILED -eq 0 ]] && exit 0
	exit 1
}

# ---------------------------------------------------------------- cleanup

# at_exit COMMAND: run COMMAND (a function name) on exit, before herald and
# the database are stopped; its status does not change the test's.
_AT_EXIT=()
at_exit() {
	_AT_EXIT+=("$1")
}

_cleanup() {
	local rc=$? p failed=0
	trap - EXIT INT TERM
	set +e
	for p in "${_AT_EXIT[@]}"; do
		"$p"
	done
	if [[ $rc -ne 0 && $rc -ne 77 ]] || [[ $TESTS_FAILED -gt 0 ]]; then
		failed=1
	fi
	for p in "${HERALD_PIDS[@]}"; do
		herald_stop "$p" >/dev/null
	done
	receiver_stop
	if [[ $failed -eq 1 ]]; then
		[[ $TESTS_FAILED -gt 0 ]] || log "$TEST_NAME ended with status $rc before finish"
		if [[ -n $HERALD_LOG && -f $HERALD_LOG ]]; then
			log "last lines of $HERALD_LOG:"
			tail -n 60 "$HERALD_LOG" | sed 's/^/# herald: /'
		fi
	fi
	if [[ -n $PRODUCER_DIR ]]; then
		pg_as "$PG_BINDIR/pg_ctl" -D "$PRODUCER_DIR/data" status >/dev/null 2>&1 &&
			producer_stop immediate
		[[ -f $PRODUCER_DIR/postgres.log ]] &&
			cp "$PRODUCER_DIR/postgres.log" "$TEST_TMPDIR/producer.log"
		rm -rf "$PRODUCER_DIR"
	fi
	if [[ $PG_PRIVATE -eq 1 && -n $PG_DIR ]]; then
		pg_thaw
		pg_running && pg_stop
		[[ -f $PG_DIR/postgres.log ]] && cp "$PG_DIR/postgres.log" "$TEST_TMPDIR/postgres.log"
		rm -rf "$PG_DIR"
	elif [[ -n $DB_NAME && $failed -eq 0 ]]; then
		psql_admin "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1
	fi
	if [[ $failed -eq 1 ]]; then
		log "kept $TEST_TMPDIR for debugging"
	else
		rm -rf "$TEST_TMPDIR"
	fi
	exit "$rc"
}

if [[ -z ${HERALD_LIB_FUNCTIONS_ONLY:-} ]]; then
	command -v curl >/dev/null || skip "curl is not installed"
	command -v jq >/dev/null || skip "jq is not installed"
	TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/herald-$TEST_NAME.XXXXXX") ||
		die "mktemp failed"
	trap _cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi
