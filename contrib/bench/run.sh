#!/usr/bin/env bash
# herald benchmarks: ingest, delivery, end-to-end latency, memory, matching.
#
# Usage: contrib/bench/run.sh [--quick] [--out FILE] [--only LIST] [--keep]
#        contrib/bench/run.sh --callgrind [--out FILE]
#
#   --quick     short profile (under 3 minutes once herald is built):
#               10 s ingest runs, 10k-event delivery backlogs, 10 s of
#               latency, a 100k-event drain; the full profile (default)
#               takes under 20 minutes: 30 s runs, 100k backlogs, 30 s of
#               latency, a 1M-event drain
#   --out FILE  the results file (default contrib/bench/results/latest.txt);
#               the plot goes next to it, FILE with .png for .txt
#   --only LIST run only these figures, e.g. --only 1,2,4 (for working on
#               the script; the summary then has only those rows)
#   --keep      keep the work directory (logs, latency samples)
#   --callgrind instead of the figures: run herald under valgrind's
#               callgrind while it takes 300 single events/s for 20 s and
#               delivers each to one subscription; print where its CPU time
#               goes (inclusive and self cost per function) to stdout and
#               FILE (default contrib/bench/results/callgrind.txt), and keep
#               the callgrind.out next to it.  Needs valgrind.
#
# Environment: BENCH_BACKLOG (events in figure 3's backlogs, instead of the
# profile's), BENCH_MIF (max_in_flight of the benchmark subscriptions,
# default 64), HERALD_BIN (use this binary instead of building one),
# BENCH_BUILD_DIR (where herald is built, default /tmp/herald-bench-build;
# kept between runs so a rebuild is incremental), HERALD_PG_BINDIR (default:
# the newest /usr/lib/postgresql/*/bin), HERALD_EXTRA_ARGS (more herald
# flags, split on spaces, e.g. "--writers 4"; recorded in the results).
#
# Needs: bash, curl, jq, gcc, wrk, gnuplot, PostgreSQL 15+ server binaries
# with pgbench (postgresql-contrib), the herald build dependencies
# (libmicrohttpd, libcurl, cJSON, libpq, OpenSSL) and, when run as root, a
# `postgres` user to own the throwaway cluster.
#
# Everything it starts is private and bound to 127.0.0.1: a PostgreSQL
# cluster with the default settings (fsync and synchronous_commit on) in a
# temporary directory, herald (--allow-private-sinks true), and the receiver
# contrib/bench/sink.c.  Every load is bounded in time.  On exit, Ctrl-C
# included, it stops all of them and removes the temporary directory.
#
# It prints each figure as it is measured, then a summary table: figure,
# herald, baseline (measured in the same run), ratio herald/baseline.  The
# results file holds the same rows, tab-separated, after a header of
# key=value lines.  contrib/bench/README explains every figure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

# now_ms, free_port and pg_as come from the test harness.
HERALD_LIB_FUNCTIONS_ONLY=1
# shellcheck source=tests/integration/lib.sh
. "$SRC/tests/integration/lib.sh"

QUICK=0
CALLGRIND=0
OUT=
ONLY=
KEEP=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 ;;
	--out)
		[[ $# -ge 2 ]] || { echo "--out needs a file" >&2; exit 2; }
		OUT=$2
		shift
		;;
	--only)
		[[ $# -ge 2 ]] || { echo "--only needs a list" >&2; exit 2; }
		ONLY=,$2,
		shift
		;;
	--keep) KEEP=1 ;;
	--callgrind) CALLGRIND=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "unknown argument: $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

if [[ -z $OUT ]]; then
	OUT=$HERE/results/latest.txt
	[[ $CALLGRIND -eq 1 ]] && OUT=$HERE/results/callgrind.txt
fi

if [[ $QUICK -eq 1 ]]; then
	PROFILE=quick
	T_INGEST=10      # s, figures 1 and 2
	T_MATCH=3        # s, figure 6, per subscription count
	T_RECV=3         # s, wrk against the receiver (figure 3 baseline)
	T_E2E=10         # s, figure 4
	T_DIRECT=5       # s, figure 4 baseline
	BACKLOG=${BENCH_BACKLOG:-10000} # events, figure 3
	DRAIN=100000     # events, figure 5
	UPGRADE_EVENTS=100000 # figure 8
	MAX_LOAD=30      # s, the most spent loading one backlog
	MAX_DRAIN=25     # s, the most spent waiting for one drain
else
	PROFILE=full
	T_INGEST=30
	T_MATCH=10
	T_RECV=10
	T_E2E=30
	T_DIRECT=30
	BACKLOG=${BENCH_BACKLOG:-100000}
	DRAIN=1000000
	UPGRADE_EVENTS=1000000
	MAX_LOAD=120
	MAX_DRAIN=150
fi
CLIENTS=64          # wrk connections and pgbench clients, figures 1, 2, 6
BATCH=100           # events per request / rows per transaction, figure 2
E2E_RATE=1000       # events/s, figure 4
E2E_CONNS=32        # publisher connections, figure 4
MAX_IN_FLIGHT=${BENCH_MIF:-64}    # delivery.max_in_flight of every benchmark subscription
MANY_SUBS=10000     # figures 5 and 6
ADMIN_KEY=hk_bench_admin_0123456789abcdef0123456789
RUN_ID=b$(date +%s)

# ---------------------------------------------------------------- plumbing

WORK=
PG_BINDIR=
PG_DIR=
PG_PORT=
PG_UP=0
DATABASE_URL=
HERALD_PID=
HERALD_URL=
SINK_PID=
SINK_URL=
CHILD_PID=
PUB_KEY=
R=
B=
P=
TEMPLATE_ATTRS=
TEMPLATE_DATA=
LOADED=
RATE=
DONE=
NOTE=
ROWS=()
WRAPPER=()

say() {
	printf '[%s] %s\n' "$(date +%T)" "$*" >&2
}

die() {
	say "error: $*"
	exit 1
}

wanted() {
	[[ -z $ONLY || $ONLY == *",$1,"* ]]
}

# run_child CMD...: run a load tool in the background and wait for it, so
# that the trap can stop it at once.
run_child() {
	local rc=0
	"$@" &
	CHILD_PID=$!
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=
	return "$rc"
}

stop_pid() { # PID [timeout s]: SIGTERM, then SIGKILL
	local pid=$1 i limit=$((${2:-15} * 10))
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < limit; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[[ -n $CHILD_PID ]] && stop_pid "$CHILD_PID" 5
	[[ -n $HERALD_PID ]] && stop_pid "$HERALD_PID" 15
	[[ -n $SINK_PID ]] && stop_pid "$SINK_PID" 5
	if [[ $PG_UP -eq 1 ]]; then
		# immediate: the cluster is thrown away, no shutdown checkpoint
		pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 60 stop >/dev/null 2>&1
	fi
	if [[ -n $WORK ]]; then
		if [[ $KEEP -eq 1 || ($rc -ne 0 && $rc -ne 130 && $rc -ne 143) ]]; then
			say "work directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- setup

check_tools() {
	local t missing=()
	for t in curl jq gcc wrk gnuplot awk sort; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	[[ ${#missing[@]} -eq 0 ]] || die "missing tools: ${missing[*]} (apt-get install wrk gnuplot-nox jq curl gcc)"
	if [[ -n ${HERALD_PG_BINDIR:-} ]]; then
		PG_BINDIR=$HERALD_PG_BINDIR
	else
		PG_BINDIR=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr | head -n 1)
	fi
	for t in initdb pg_ctl postgres psql pgbench; do
		[[ -x $PG_BINDIR/$t ]] || die "$PG_BINDIR/$t not found (install postgresql and postgresql-contrib, or set HERALD_PG_BINDIR)"
	done
	if [[ $(id -u) -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
		die "running as root, but there is no postgres user to own the cluster"
	fi
}

build_herald() {
	local b=${BENCH_BUILD_DIR:-/tmp/herald-bench-build} dir
	if [[ -n ${HERALD_BIN:-} ]]; then
		[[ -x $HERALD_BIN ]] || die "HERALD_BIN is not an executable: $HERALD_BIN"
		return 0
	fi
	mkdir -p "$b"
	if [[ -x $SRC/configure && ! -f $SRC/Makefile ]]; then
		dir=$b/vpath # a VPATH build: nothing is written to the source tree
		mkdir -p "$dir"
		if [[ ! -f $dir/Makefile ]]; then
			say "configuring herald in $dir"
			(cd "$dir" && "$SRC/configure" -q) >"$b/configure.log" 2>&1 ||
				die "configure failed, see $b/configure.log"
		fi
	else
		# no configure script (a fresh clone) or an in-tree build: build
		# a copy; tar keeps the times, so make stays incremental
		dir=$b/tree
		mkdir -p "$dir"
		(cd "$SRC" && tar --exclude=./.git --exclude=./contrib/bench/results \
			--exclude='*.o' --exclude='*.a' --exclude=./Makefile \
			--exclude=./config.status --exclude=./config.h -cf - .) |
			(cd "$dir" && tar -xpf -)
		if [[ ! -x $dir/configure ]]; then
			say "autoreconf in $dir"
			(cd "$dir" && autoreconf -fi) >"$b/autoreconf.log" 2>&1 ||
				die "autoreconf failed, see $b/autoreconf.log"
		fi
		if [[ ! -f $dir/Makefile ]]; then
			say "configuring herald in $dir"
			(cd "$dir" && ./configure -q) >"$b/configure.log" 2>&1 ||
				die "configure failed, see $b/configure.log"
		fi
	fi
	say "building herald ($dir)"
	make -C "$dir" -j"$(nproc)" src/herald >"$b/make.log" 2>&1 ||
		die "make failed, see $b/make.log"
	HERALD_BIN=$dir/src/herald
}

build_tools() {
	gcc -O2 -std=c11 -Wall -o "$WORK/sink" "$HERE/sink.c" -lmicrohttpd -lpthread ||
		die "cannot build sink.c (libmicrohttpd-dev)"
	gcc -O2 -std=c11 -Wall -o "$WORK/e2e" "$HERE/e2e.c" -lcurl -lpthread ||
		die "cannot build e2e.c (libcurl4-openssl-dev)"
}

pg_up() {
	local attempt
	PG_DIR=$WORK/pg
	mkdir -p "$PG_DIR"
	[[ $(id -u) -eq 0 ]] && chown postgres: "$PG_DIR"
	pg_as "$PG_BINDIR/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 \
		--locale=C >"$WORK/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$WORK/initdb.log")"
	# defaults (fsync, synchronous_commit, shared_buffers, max_connections
	# 100: enough for 64 pgbench clients plus an idle herald), private socket
	printf '%s\n' "listen_addresses = '127.0.0.1'" \
		"unix_socket_directories = '$PG_DIR'" "log_min_messages = warning" |
		pg_as tee -a "$PG_DIR/data/postgresql.conf" >/dev/null
	for attempt in 1 2 3 4 5; do
		PG_PORT=$(free_port) || die "no free port"
		printf 'port = %s\n' "$PG_PORT" | pg_as tee "$PG_DIR/data/postgresql.auto.conf" >/dev/null
		if pg_as "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" \
			-w -t 60 start >/dev/null 2>&1; then
			PG_UP=1
			return 0
		fi
		say "PostgreSQL did not start on port $PG_PORT (attempt $attempt)"
	done
	die "cannot start PostgreSQL: $(tail -n 5 "$PG_DIR/postgres.log")"
}

psql_db() { # SQL: one query in the current database, unaligned output
	"$PG_BINDIR/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "$1"
}

psql_admin() {
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres \
		-d postgres -c "$1" >/dev/null
}

# fresh_db NAME: drop the previous figure's database (a backlog left there
# would only keep autovacuum busy), create NAME, point DATABASE_URL at it
CUR_DB=
fresh_db() {
	[[ -n $CUR_DB ]] && psql_admin "DROP DATABASE IF EXISTS \"$CUR_DB\" WITH (FORCE)"
	# each figure starts on a settled cluster: the dirty pages and WAL a
	# figure leaves (a million deliveries) are written now, not during the
	# next figure's fsyncs
	psql_admin "CHECKPOINT"
	psql_admin "CREATE DATABASE \"$1\""
	CUR_DB=$1
	DATABASE_URL="host=127.0.0.1 port=$PG_PORT dbname=$1 user=postgres"
}

herald_up() {
	local port deadline extra=()
	port=$(free_port) || die "no free port"
	HERALD_URL=http://127.0.0.1:$port
	read -r -a extra <<<"${HERALD_EXTRA_ARGS:-}"
	"${WRAPPER[@]}" "$HERALD_BIN" --listen "127.0.0.1:$port" --database-url "$DATABASE_URL" \
		--admin-key "$ADMIN_KEY" --allow-private-sinks true --log-level warn \
		"${extra[@]}" >>"$WORK/herald.log" 2>&1 &
	HERALD_PID=$!
	deadline=$(($(now_ms) + ${HERALD_START_S:-30} * 1000))
	until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$HERALD_URL/readyz" || true) == 200 ]]; do
		kill -0 "$HERALD_PID" 2>/dev/null || die "herald exited: $(tail -n 5 "$WORK/herald.log")"
		(($(now_ms) < deadline)) || die "herald not ready within 30 s"
		sleep 0.1
	done
	# a publish-only key, like a real producer's
	PUB_KEY=$(api POST /v1/keys '{"name":"bench","scopes":["publish"]}' 201 | jq -r .key)
}

herald_down() {
	stop_pid "$HERALD_PID" 30
	HERALD_PID=
}

sink_up() { # [latency file]
	local pf=$WORK/sink.port i args=()
	rm -f "$pf"
	[[ $# -gt 0 ]] && args=(--lat "$1")
	"$WORK/sink" --port 0 --portfile "$pf" "${args[@]}" >>"$WORK/sink.log" 2>&1 &
	SINK_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $pf ]] && break
		sleep 0.05
	done
	[[ -s $pf ]] || die "the receiver did not start: $(tail -n 3 "$WORK/sink.log")"
	SINK_URL=http://127.0.0.1:$(<"$pf")
}

sink_down() {
	stop_pid "$SINK_PID" 10
	SINK_PID=
}

sink_count() { # prints "<requests> <stamped>"
	curl -s --max-time 5 "$SINK_URL/_count"
}

# api METHOD PATH BODY EXPECTED_STATUS: admin call; prints the body.
api() {
	local out status
	out=$(mktemp "$WORK/api.XXXXXX")
	status=$(curl -sS -X "$1" --max-time 60 -o "$out" -w '%{http_code}' \
		-H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
		${3:+--data-binary "$3"} "$HERALD_URL$2") || status=000
	if [[ $status != "$4" ]]; then
		say "$1 $2: expected $4, got $status: $(head -c 500 "$out")"
		rm -f "$out"
		return 1
	fi
	cat "$out"
	rm -f "$out"
}

# subscribe TYPE STATUS: a benchmark subscription to the receiver; prints its id.
subscribe() {
	api POST /v1/subscriptions "{\"sink\":\"$SINK_URL/hook\",\"types\":[\"$1\"],\"status\":\"$2\",\"delivery\":{\"max_in_flight\":$MAX_IN_FLIGHT}}" 201 |
		jq -r .id
}

# clone_subs TEMPLATE_ID N: N more subscriptions like TEMPLATE_ID, each for
# a type of its own (bench.nomatch.<i>), inserted in one statement.  Their
# config is herald's own normalized config of the template.
clone_subs() {
	psql_db "INSERT INTO subscription (tenant, config, status, secret)
		SELECT tenant, jsonb_set(config, '{types}',
			jsonb_build_array('bench.nomatch.' || g)), status, secret
		FROM subscription, generate_series(1, $2) g WHERE id = '$1'" >/dev/null
}

mib() { # KiB to MiB
	awk -v a="$1" 'BEGIN { print a / 1024 }'
}

vmhwm_kb() { # PID
	awk '/^VmHWM:/ {print $2}' "/proc/$1/status"
}

# pending_of SUB_IDS_SQL_LIST: pending deliveries of those subscriptions
pending_of() {
	psql_db "SELECT count(*) FROM delivery WHERE state = 'pending' AND subscription_id IN ($1)"
}

# ---------------------------------------------------------------- results

ratio() { # A B
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'
}

fmt() { # a number, rounded for the table
	awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else if (a >= 100) printf "%.0f", a; else printf "%.2f", a }'
}

# row ID DESCRIPTION HERALD BASELINE UNIT BASELINE_DESCRIPTION
row() {
	local r
	r=$(ratio "$3" "$4")
	ROWS+=("$1"$'\t'"$2"$'\t'"$(fmt "$3")"$'\t'"$(fmt "$4")"$'\t'"$r"$'\t'"$5"$'\t'"$6")
	printf '  %-44s %12s %-9s | baseline %12s (%s) | ratio %s\n' "$2" "$(fmt "$3")" "$5" \
		"$(fmt "$4")" "$6" "$r" >&2
}

kv() { # KEY=VALUE pairs of a line: print the value of KEY
	tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# pct FILE P: the P-th percentile (0..100) of the numbers in FILE (sorted)
pct() {
	awk -v p="$2" '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit }
		i = int((NR - 1) * p / 100) + 1; print a[i] }' "$1"
}

# wrk_ingest URL SECONDS CONNS BATCH TYPE TAG: sets R to wrk's RESULT line
# (the tools run in this shell, never in $(...), so the trap can stop them)
wrk_ingest() {
	local out=$WORK/wrk.$6.out
	run_child wrk -t2 -c"$3" -d"$2"s --timeout 10s --latency -s "$HERE/ingest.lua" "$1" \
		-- "${PUB_KEY:-none}" "$RUN_ID-$6" "$4" "$5" >"$out" 2>&1 || die "wrk failed: $(tail -n 5 "$out")"
	R=$(grep '^RESULT ' "$out" | tail -n 1 | sed 's/^RESULT //')
	[[ -n $R ]] || die "no result from wrk: $(tail -n 5 "$out")"
}

# pgbench_run SCRIPT SECONDS TAG: sets B to "tps=X p50_us=Y p99_us=Z"
pgbench_run() {
	local out=$WORK/pgbench.$3.out logs=$WORK/pgbench-log-$3 tps
	rm -rf "$logs"
	mkdir -p "$logs"
	run_child "$PG_BINDIR/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$2" \
		--random-seed=1 -l --log-prefix="$logs/tx" -D "run=$RUN_ID-$3" -D "attrs=$TEMPLATE_ATTRS" \
		-D "datahex=$TEMPLATE_DATA" -f "$1" "$DATABASE_URL" >"$out" 2>&1 ||
		die "pgbench failed: $(tail -n 5 "$out")"
	tps=$(awk '/^tps = / { print $3; exit }' "$out")
	cat "$logs"/tx.* | awk '{ print $3 }' | sort -n >"$logs.lat"
	B=$(printf 'tps=%s p50_us=%s p99_us=%s' "$tps" "$(pct "$logs.lat" 50)" "$(pct "$logs.lat" 99)")
	rm -rf "$logs" "$logs.lat"
}

# publish OUTFILE ARGS...: run the e2e publisher; sets P to its result line
publish() {
	local out=$1 rc=0
	shift
	run_child "$WORK/e2e" "$@" >"$out" 2>&1 || rc=$?
	P=$(grep '^mode=' "$out" | tail -n 1)
	[[ -n $P ]] || die "the publisher failed: $(tail -n 5 "$out")"
	[[ $rc -eq 0 ]] || say "warning: the publisher saw failures: $P"
}

# CPU time (seconds, user + system) of herald and of the cluster's
# processes (the postmaster's children alive at the time: herald's
# connections stay open across a run, so none of them is lost).
cpu_of() { # PID...
	local p
	for p in "$@"; do
		[[ -r /proc/$p/stat ]] && sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }'
	done | awk -v hz="$(getconf CLK_TCK)" '{ t += $1 } END { printf "%.2f\n", t / hz }'
}

pg_pids() {
	local pm
	pm=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	echo "$pm"
	pgrep -P "$pm" || true
}

CPU_H0=
CPU_P0=
cpu_mark() {
	CPU_H0=$(cpu_of "$HERALD_PID")
	# shellcheck disable=SC2046
	CPU_P0=$(cpu_of $(pg_pids))
}

# cpu_split EVENTS: herald's CPU per event (CPU_H) and PostgreSQL's
# (CPU_P), in microseconds, since cpu_mark
CPU_H=
CPU_P=
cpu_split() {
	CPU_H=$(awk -v a="$(cpu_of "$HERALD_PID")" -v b="$CPU_H0" -v n="$1" 'BEGIN { print (a - b) * 1e6 / n }')
	# shellcheck disable=SC2046
	CPU_P=$(awk -v a="$(cpu_of $(pg_pids))" -v b="$CPU_P0" -v n="$1" 'BEGIN { print (a - b) * 1e6 / n }')
}

# ---------------------------------------------------------------- figures

# ingest_run SECONDS BATCH NAME: wrk posting BATCH events per request to
# herald, CLIENTS connections; sets R (wrk's figures), EVENTS (events/s)
# and CPU_H, CPU_P (CPU per event, cpu_split)
EVENTS=
ingest_run() {
	cpu_mark
	wrk_ingest "$HERALD_URL/v1/events" "$1" "$CLIENTS" "$2" bench.ingest "$3"
	cpu_split "$(($(kv requests "$R") * $2))"
	[[ $(kv status_errors "$R") -eq 0 && $(kv socket_errors "$R") -eq 0 ]] ||
		say "warning: wrk saw errors: $R"
	EVENTS=$(awk -v n="$(kv requests "$R")" -v s="$(kv seconds "$R")" -v b="$2" 'BEGIN { print n * b / s }')
}

fig_ingest() { # figures 1 and 2
	local r p50 p99 b n cpu_h cpu_p
	fresh_db ingest
	herald_up

	say "figure 1: single-event ingest, $CLIENTS connections, $T_INGEST s"
	ingest_run "$T_INGEST" 1 single
	r=$R
	cpu_h=$CPU_H
	cpu_p=$CPU_P
	n=$(psql_db "SELECT count(*) FROM event WHERE type = 'bench.ingest'")
	say "herald stored $n events (wrk counted $(kv requests "$r") requests)"
	echo "$EVENTS" >"$WORK/ingest.herald_single"
	p50=$(kv p50_us "$r")
	p99=$(kv p99_us "$r")

	# the baseline inserts exactly what herald stored for one of these events
	TEMPLATE_ATTRS=$(psql_db "SELECT attrs::text FROM event WHERE type = 'bench.ingest' ORDER BY seq LIMIT 1")
	TEMPLATE_DATA=$(psql_db "SELECT encode(data, 'hex') FROM event WHERE type = 'bench.ingest' ORDER BY seq LIMIT 1")
	cat >"$WORK/single.sql" <<-'EOF'
		\set r random(1, 1000000000000000)
		INSERT INTO event (source, id, type, attrs, data_kind, data) VALUES ('/bench/pgbench', :run::text || '-' || :client_id::text || '-' || :r::text, 'bench.ingest', :attrs::jsonb, 1, decode(:datahex::text, 'hex')) ON CONFLICT (source, id) DO NOTHING RETURNING seq;
	EOF
	cat >"$WORK/batch.sql" <<-EOF
		\\set r random(1, 1000000000000000)
		INSERT INTO event (source, id, type, attrs, data_kind, data) SELECT '/bench/pgbench', :run::text || '-' || :client_id::text || '-' || :r::text || '-' || g, 'bench.ingest', :attrs::jsonb, 1, decode(:datahex::text, 'hex') FROM generate_series(1, $BATCH) g ON CONFLICT (source, id) DO NOTHING RETURNING seq;
	EOF
	say "figure 1 baseline: pgbench, one INSERT per transaction, $CLIENTS clients, $T_INGEST s"
	pgbench_run "$WORK/single.sql" "$T_INGEST" single
	b=$B
	n=$(psql_db "SELECT count(*) FROM event WHERE source = '/bench/pgbench'")
	say "pgbench stored $n rows"
	kv tps "$b" >"$WORK/ingest.pg_single"
	row 1a "single ingest throughput" "$EVENTS" "$(kv tps "$b")" events/s "pgbench 1 row/tx"
	row 1b "single ingest latency p50" "$(awk -v a="$p50" 'BEGIN{print a/1000}')" \
		"$(awk -v a="$(kv p50_us "$b")" 'BEGIN{print a/1000}')" ms "pgbench 1 row/tx"
	row 1c "single ingest latency p99" "$(awk -v a="$p99" 'BEGIN{print a/1000}')" \
		"$(awk -v a="$(kv p99_us "$b")" 'BEGIN{print a/1000}')" ms "pgbench 1 row/tx"
	row 1d "single ingest: CPU per event, herald" "$cpu_h" "$cpu_p" us/event "PostgreSQL processes, same run"

	say "figure 2: batch ingest, $BATCH events per request, $CLIENTS connections, $T_INGEST s"
	ingest_run "$T_INGEST" "$BATCH" batch
	r=$R
	echo "$EVENTS" >"$WORK/ingest.herald_batch"
	say "figure 2 baseline: pgbench, one $BATCH-row INSERT per transaction, $CLIENTS clients, $T_INGEST s"
	pgbench_run "$WORK/batch.sql" "$T_INGEST" batch
	b=$B
	awk -v t="$(kv tps "$b")" -v b="$BATCH" 'BEGIN { print t * b }' >"$WORK/ingest.pg_batch"
	row 2a "batch ingest throughput ($BATCH/request)" "$EVENTS" "$(<"$WORK/ingest.pg_batch")" rows/s "pgbench $BATCH rows/tx"
	row 2b "batch ingest latency p99 (per request)" "$(awk -v a="$(kv p99_us "$r")" 'BEGIN{print a/1000}')" \
		"$(awk -v a="$(kv p99_us "$b")" 'BEGIN{print a/1000}')" ms "pgbench $BATCH rows/tx"
	row 2c "batch ingest: CPU per event, herald" "$CPU_H" "$CPU_P" us/event "PostgreSQL processes, same run"
	herald_down
}

# load_backlog N TYPE: publish N events in batches of 100 (4 connections),
# for MAX_LOAD seconds at most; sets LOADED to the events published
load_backlog() {
	publish "$WORK/load.$2.out" --url "$HERALD_URL/v1/events" --key "$PUB_KEY" --count "$1" \
		--batch 100 --conns 4 --type "$2" --prefix "$RUN_ID-$2" --duration "$MAX_LOAD"
	[[ $(kv failures "$P") -eq 0 ]] || die "loading the backlog failed: $P"
	LOADED=$(kv events "$P")
	say "backlog: $P"
	[[ $LOADED -eq $1 ]] || say "warning: only $LOADED of $1 events published within $MAX_LOAD s"
}

# drain IDS_SQL_LIST EXPECTED: activate the subscriptions through the API,
# wait until none of their deliveries is pending, MAX_DRAIN seconds at most.
# Sets RATE: deliveries per second from the moment they were activated
# (their updated_at) to the last write-back of a succeeded delivery (its
# updated_at), both on the database clock; DONE: the succeeded deliveries;
# NOTE: empty, or what was left when the time ran out.
drain() {
	local id deadline n
	for id in ${1//,/ }; do
		api PATCH "/v1/subscriptions/${id//\'/}" '{"status":"active"}' 200 >/dev/null
	done
	deadline=$(($(now_ms) + MAX_DRAIN * 1000))
	NOTE=
	while true; do
		n=$(pending_of "$1")
		[[ $n -eq 0 ]] && break
		if (($(now_ms) >= deadline)); then
			NOTE="stopped after ${MAX_DRAIN} s with $n of $2 pending"
			say "warning: $NOTE"
			break
		fi
		sleep 0.2
	done
	DONE=$(psql_db "SELECT count(*) FROM delivery WHERE state = 'succeeded' AND subscription_id IN ($1)")
	RATE=$(psql_db "SELECT coalesce(round(count(*) / extract(epoch FROM max(d.updated_at) - (SELECT min(updated_at)
		FROM subscription WHERE id IN ($1)))::numeric, 1), 0)
		FROM delivery d WHERE d.subscription_id IN ($1) AND d.state = 'succeeded'")
}

fig_delivery() { # figure 3
	local ids=() list n want rate1 rate10 note1 note10 r c64 c8 i cpu1_h cpu1_p
	fresh_db delivery
	herald_up
	sink_up

	say "figure 3: delivery of a $BACKLOG-event backlog to 1 subscription (max_in_flight $MAX_IN_FLIGHT)"
	list="'$(subscribe bench.backlog paused)'"
	load_backlog "$BACKLOG" bench.backlog
	n=$(pending_of "$list")
	[[ $n -eq $LOADED ]] || say "warning: $n pending deliveries, expected $LOADED"
	cpu_mark
	drain "$list" "$n"
	cpu_split "$DONE"
	cpu1_h=$CPU_H
	cpu1_p=$CPU_P
	rate1=$RATE
	note1=${NOTE:+, $NOTE}
	say "1 subscription: $DONE succeeded, $rate1 deliveries/s; CPU per delivery: herald $cpu1_h us, PostgreSQL $cpu1_p us"

	say "figure 3: the same backlog to 10 subscriptions (fan-out)"
	for ((i = 0; i < 10; i++)); do
		ids+=("'$(subscribe bench.fanout paused)'")
	done
	list=$(IFS=,; echo "${ids[*]}")
	load_backlog "$BACKLOG" bench.fanout
	want=$((LOADED * 10))
	n=$(pending_of "$list")
	[[ $n -eq $want ]] || say "warning: $n pending deliveries, expected $want"
	drain "$list" "$n"
	rate10=$RATE
	note10=${NOTE:+, $NOTE}
	say "10 subscriptions: $DONE succeeded, $rate10 deliveries/s"
	herald_down

	say "figure 3 baseline: wrk POSTing ~1 KiB to the same receiver, 64 and 8 connections, $T_RECV s each"
	PUB_KEY=none
	wrk_ingest "$SINK_URL/hook" "$T_RECV" 64 1 bench.direct recv64
	r=$R
	c64=$(awk -v n="$(kv requests "$r")" -v s="$(kv seconds "$r")" 'BEGIN { print n / s }')
	wrk_ingest "$SINK_URL/hook" "$T_RECV" 8 1 bench.direct recv8
	r=$R
	c8=$(awk -v n="$(kv requests "$r")" -v s="$(kv seconds "$r")" 'BEGIN { print n / s }')
	sink_down
	row 3a "delivery, 1 subscription" "$rate1" "$c64" deliv/s "wrk -c64 to receiver$note1"
	row 3b "delivery, 1 subscription" "$rate1" "$c8" deliv/s "wrk -c8 to receiver$note1"
	row 3c "delivery, 10 subscriptions (fan-out)" "$rate10" "$c64" deliv/s "wrk -c64 to receiver$note10"
	row 3d "delivery: CPU per delivery, herald" "$cpu1_h" "$cpu1_p" us/deliv "PostgreSQL processes, 1 subscription"
}

fig_e2e() { # figure 4
	local r n sent deadline h b
	fresh_db e2e
	herald_up

	say "figure 4 baseline: the paced publisher straight to the receiver, $E2E_RATE/s for $T_DIRECT s"
	sink_up "$WORK/lat.direct"
	publish "$WORK/e2e.direct.out" --url "$SINK_URL/direct" --rate "$E2E_RATE" --duration "$T_DIRECT" \
		--conns "$E2E_CONNS" --direct --prefix "$RUN_ID-direct"
	say "direct: $P"
	sink_down

	say "figure 4: end-to-end latency through herald, $E2E_RATE events/s for $T_E2E s"
	sink_up "$WORK/lat.herald"
	subscribe bench.e2e active >/dev/null
	publish "$WORK/e2e.herald.out" --url "$HERALD_URL/v1/events" --key "$PUB_KEY" --rate "$E2E_RATE" \
		--duration "$T_E2E" --conns "$E2E_CONNS" --type bench.e2e --prefix "$RUN_ID-e2e"
	r=$P
	say "herald: $r"
	sent=$(kv events "$r")
	deadline=$(($(now_ms) + 60000))
	while true; do
		n=$(sink_count | awk '{ print $2 }')
		[[ ${n:-0} -ge $sent ]] && break
		(($(now_ms) < deadline)) || { say "warning: only $n of $sent events arrived"; break; }
		sleep 0.2
	done
	sink_down
	herald_down
	# nanoseconds to milliseconds, sorted
	for f in herald direct; do
		awk '{ printf "%.3f\n", $1 / 1e6 }' "$WORK/lat.$f" | sort -n >"$WORK/lat.$f.ms"
	done
	h=$WORK/lat.herald.ms
	b=$WORK/lat.direct.ms
	say "latency samples: herald $(wc -l <"$h"), direct $(wc -l <"$b")"
	row 4a "end-to-end latency p50 @${E2E_RATE}/s" "$(pct "$h" 50)" "$(pct "$b" 50)" ms "publisher->receiver direct"
	row 4b "end-to-end latency p99 @${E2E_RATE}/s" "$(pct "$h" 99)" "$(pct "$b" 99)" ms "publisher->receiver direct"
	row 4c "end-to-end latency p99.9 @${E2E_RATE}/s" "$(pct "$h" 99.9)" "$(pct "$b" 99.9)" ms "publisher->receiver direct"
	row 4d "publish round trip p99 (202 received)" "$(awk -v a="$(kv publish_p99_us "$r")" 'BEGIN{print a/1000}')" "-" ms "-"
}

fig_memory() { # figure 5
	local idle subs ingest start peak id list sink_kb n
	fresh_db memory
	sink_up
	herald_up
	sleep 1
	idle=$(vmhwm_kb "$HERALD_PID")
	sink_kb=$(vmhwm_kb "$SINK_PID")

	say "figure 5: $MANY_SUBS subscriptions"
	id=$(subscribe bench.mem active)
	clone_subs "$id" $((MANY_SUBS - 1))
	# a writer loads every subscription with its first event, and each
	# writer thread has a cache of its own: a burst of 2,000 events over
	# 32 connections reaches them all; their deliveries make the
	# dispatcher load the one that matches
	publish "$WORK/mem.out" --url "$HERALD_URL/v1/events" --key "$PUB_KEY" --rate 2000 \
		--duration 1 --conns 32 --type bench.mem --prefix "$RUN_ID-mem"
	for ((n = 0; n < 100; n++)); do
		[[ $(pending_of "'$id'") -eq 0 ]] && break
		sleep 0.1
	done
	sleep 1
	subs=$(vmhwm_kb "$HERALD_PID")
	herald_down

	say "figure 5: ingest of a $DRAIN-event backlog to 1 paused subscription"
	fresh_db drain
	herald_up
	list="'$(subscribe bench.drain paused)'"
	load_backlog "$DRAIN" bench.drain
	ingest=$(vmhwm_kb "$HERALD_PID")
	herald_down

	say "figure 5: draining it with a fresh herald (at most $MAX_DRAIN s)"
	herald_up
	sleep 1
	start=$(vmhwm_kb "$HERALD_PID")
	drain "$list" "$LOADED"
	peak=$(vmhwm_kb "$HERALD_PID")
	say "drained $DONE of $LOADED deliveries at $RATE deliveries/s"
	herald_down
	sink_down
	row 5a "peak RSS idle" "$(mib "$idle")" "$(mib "$sink_kb")" MiB "the receiver (bare libmicrohttpd)"
	row 5b "peak RSS, $MANY_SUBS subscriptions loaded" "$(mib "$subs")" "$(mib "$idle")" MiB "herald idle"
	row 5c "peak RSS, ingesting $LOADED events (batches)" "$(mib "$ingest")" "$(mib "$idle")" MiB "herald idle"
	row 5d "peak RSS, draining a $LOADED backlog" "$(mib "$peak")" "$(mib "$start")" MiB \
		"fresh herald, same backlog${NOTE:+; $NOTE}"
	row 5e "drain rate, $LOADED-event backlog" "$RATE" "-" deliv/s "${NOTE:--}"
}

fig_matching() { # figure 6
	local nsubs base id
	sink_up # named by the subscriptions, never called: they are paused
	for nsubs in 0 1 100 "$MANY_SUBS"; do
		fresh_db "match_$nsubs"
		herald_up
		if [[ $nsubs -gt 0 ]]; then
			# one paused subscription matches (its deliveries are written,
			# not sent), the others name other types
			id=$(subscribe bench.ingest paused)
			[[ $nsubs -gt 1 ]] && clone_subs "$id" $((nsubs - 1))
		fi
		say "figure 6: single-event ingest with $nsubs subscriptions, $T_MATCH s"
		ingest_run "$T_MATCH" 1 "match$nsubs"
		if [[ $nsubs -eq 0 ]]; then
			base=$EVENTS
			say "0 subscriptions: $(fmt "$EVENTS") events/s"
		else
			row "6-$nsubs" "ingest, $nsubs subscriptions (1 matches)" "$EVENTS" "$base" events/s "0 subscriptions"
		fi
		herald_down
	done
	sink_down
}

fig_storage() { # figure 7
	local list n bytes body
	fresh_db storage
	herald_up
	sink_up
	say "figure 7: disk per event: a $BACKLOG-event backlog delivered to 1 subscription"
	list="'$(subscribe bench.storage active)'"
	load_backlog "$BACKLOG" bench.storage
	drain "$list" "$LOADED"
	herald_down
	sink_down
	psql_db "CHECKPOINT" >/dev/null
	# every partition of the three tables, with their indexes and TOAST
	bytes=$(psql_db "SELECT sum(pg_total_relation_size(t.relid))
		FROM unnest(ARRAY['event', 'delivery', 'attempt']) AS p(name),
		     pg_partition_tree(p.name::regclass) AS t WHERE t.isleaf")
	n=$(psql_db "SELECT count(*) FROM event WHERE type = 'bench.storage'")
	body=$(psql_db "SELECT round(avg(octet_length(attrs::text) + octet_length(data)))
		FROM event WHERE type = 'bench.storage'")
	say "storage: $bytes bytes for $n events, $DONE deliveries (the event's attributes and data: $body bytes)"
	row 7a "disk per event, 1 delivery and its attempt" \
		"$(awk -v b="$bytes" -v n="$n" 'BEGIN { print b / n }')" "$body" bytes/event \
		"the event's attributes and data"
}

fig_upgrade() { # figure 8
	local f v n t0 t1 base ms
	n=$UPGRADE_EVENTS
	fresh_db upgrade
	say "figure 8: a database of the layout before partitions (migrations up to 008) with $n events"
	psql_db "CREATE TABLE herald_migration (version integer PRIMARY KEY,
		name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null
	for f in "$SRC"/sql/00[1-8]_*.sql; do
		"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -1 -d "$DATABASE_URL" -f "$f" >/dev/null ||
			die "cannot apply $f"
		v=$(basename "$f" | cut -c1-3)
		psql_db "INSERT INTO herald_migration (version, name) VALUES ($((10#$v)), '$(basename "$f")')" >/dev/null
	done
	# n events of about 1 KiB, one subscription, a delivery and an
	# attempt each; the last 1% pending
	psql_db "INSERT INTO subscription (id, tenant, config, secret)
		VALUES ('00000000-0000-0000-0000-000000000001', 0,
		        '{\"sink\": \"http://127.0.0.1:9/\", \"types\": [\"bench.upgrade\"]}', 'whsec_x');
	INSERT INTO event (source, id, type, attrs, data_kind, data)
	SELECT '/bench', 'u-' || g, 'bench.upgrade',
	       jsonb_build_object('specversion', '1.0', 'id', 'u-' || g,
	                          'source', '/bench', 'type', 'bench.upgrade'),
	       1, convert_to('{\"pad\":\"' || repeat('x', 1000) || '\"}', 'UTF8')
	  FROM generate_series(1, $n) g;
	INSERT INTO delivery (subscription_id, seq, ordering_key, part, ready, state, attempts)
	SELECT '00000000-0000-0000-0000-000000000001', seq, NULL, 0, true,
	       CASE WHEN seq > $n - $n / 100 THEN 'pending' ELSE 'succeeded' END, 1
	  FROM event;
	INSERT INTO attempt (subscription_id, seq, status, latency_ms)
	SELECT '00000000-0000-0000-0000-000000000001', seq, 204, 3 FROM event;" \
		>/dev/null || die "cannot fill the old database"
	psql_db "VACUUM ANALYZE" >/dev/null
	psql_db "CHECKPOINT" >/dev/null
	say "reading the three tables once (the baseline)"
	t0=$(now_ms)
	psql_db "SELECT (SELECT count(*) FROM event), (SELECT count(*) FROM delivery),
		(SELECT count(*) FROM attempt)" >/dev/null
	base=$(($(now_ms) - t0))
	say "migration 009 (partitions), in one transaction as herald applies it"
	t0=$(now_ms)
	"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -1 -d "$DATABASE_URL" \
		-f "$SRC/sql/009_partitions.sql" >/dev/null || die "migration 009 failed"
	t1=$(now_ms)
	ms=$((t1 - t0))
	[[ $(psql_db "SELECT count(*) FROM event") -eq $n ]] || die "events lost in the upgrade"
	say "upgrade: $ms ms for $n events (reading them: $base ms)"
	row 8a "upgrade to partitions, $n events" "$ms" "$base" ms \
		"count(*) of event, delivery and attempt"
}

plot() {
	local png=$1
	{
		printf '"herald\\nsingle" %s\n' "$(<"$WORK/ingest.herald_single")"
		printf '"pgbench\\n1 row/tx" %s\n' "$(<"$WORK/ingest.pg_single")"
		printf '"herald\\nbatch %s" %s\n' "$BATCH" "$(<"$WORK/ingest.herald_batch")"
		printf '"pgbench\\n%s rows/tx" %s\n' "$BATCH" "$(<"$WORK/ingest.pg_batch")"
	} >"$WORK/ingest.dat" 2>/dev/null || true
	for f in herald direct; do
		[[ -s $WORK/lat.$f.ms ]] || continue
		awk -v n="$(wc -l <"$WORK/lat.$f.ms")" '
			{ step = n > 2000 ? int(n / 2000) : 1 }
			NR % step == 0 || NR == n { print $1, NR / n }' "$WORK/lat.$f.ms" >"$WORK/cdf.$f"
	done
	cat >"$WORK/plot.gp" <<-EOF
		set terminal pngcairo size 1400,600 font ",10"
		set bmargin 5
		set output "$png"
		set multiplot layout 1,2 title "herald benchmarks ($PROFILE profile, $(date -u +%Y-%m-%d))"
		set title "Ingest throughput (events or rows per second)"
		set style fill solid 0.6 border -1
		set boxwidth 0.6
		set yrange [0:*]
		set grid ytics
		unset key
		plot "$WORK/ingest.dat" using 0:2:xtic(1) with boxes lc rgb "#3070b0", \
		     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.8
		set title "End-to-end latency at $E2E_RATE events/s (CDF)"
		set logscale x
		set xlabel "latency (ms, log scale)"
		set ylabel "fraction of events"
		set yrange [0:1]
		set xrange [*:*]
		set key bottom right
		set grid xtics ytics
		plot "$WORK/cdf.herald" using 1:2 with lines lw 2 title "publisher -> herald -> receiver", \
		     "$WORK/cdf.direct" using 1:2 with lines lw 2 title "publisher -> receiver (baseline)"
		unset multiplot
	EOF
	if [[ -s $WORK/ingest.dat && -s $WORK/cdf.herald && -s $WORK/cdf.direct ]]; then
		gnuplot "$WORK/plot.gp" 2>"$WORK/gnuplot.log" || say "warning: gnuplot failed: $(head -n 3 "$WORK/gnuplot.log")"
	else
		say "the plot needs figures 1, 2 and 4: none drawn"
	fi
}

profile_callgrind() {
	local cg=$WORK/callgrind.out
	if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
		die "valgrind is not installed (apt-get install valgrind)"
	fi
	fresh_db profile
	sink_up
	WRAPPER=(valgrind --tool=callgrind --callgrind-out-file="$cg" --dump-instr=no)
	HERALD_START_S=120 herald_up
	subscribe bench.e2e active >/dev/null
	say "callgrind: 300 events/s for 20 s, each delivered once"
	publish "$WORK/e2e.callgrind.out" --url "$HERALD_URL/v1/events" --key "$PUB_KEY" --rate 300 \
		--duration 20 --conns 16 --type bench.e2e --prefix "$RUN_ID-cg"
	say "publisher: $P"
	sleep 3
	say "sink: $(sink_count) (requests, stamped)"
	stop_pid "$HERALD_PID" 120
	HERALD_PID=
	WRAPPER=()
	sink_down
	mkdir -p "$(dirname "$OUT")"
	{
		printf '# herald under callgrind: 300 single events/s for 20 s, one subscription\n'
		printf '# publisher: %s\n\n' "$P"
		printf '## inclusive cost (the function and what it calls)\n'
		callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '4,70p' || true
		printf '\n## self cost\n'
		callgrind_annotate "$cg" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '4,45p' || true
		printf '\nNote: valgrind counts each iteration of a rep-prefixed instruction\n'
		printf '(rep stosb in memset, rep movsb in memcpy) as one instruction, so\n'
		printf 'large memsets and copies look far costlier here than on the CPU.\n'
	} >"$OUT"
	cp "$cg" "${OUT%.txt}.out"
	cat "$OUT"
	printf '\nresults: %s\ncallgrind data: %s (callgrind_annotate, kcachegrind)\n' "$OUT" "${OUT%.txt}.out"
}

# the commit of the tree run.sh lives in, "-dirty" when src/ or sql/ differ
# from it (what was built, unless HERALD_BIN was given)
tree_version() {
	local v
	v=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return 0; }
	git -C "$SRC" diff --quiet HEAD -- src sql 2>/dev/null || v=$v-dirty
	echo "$v"
}

# ---------------------------------------------------------------- main

main() {
	local started rowline png
	started=$(now_ms)
	check_tools
	WORK=$(mktemp -d /tmp/herald-bench.XXXXXX)
	chmod 755 "$WORK"
	build_herald
	build_tools
	pg_up
	say "profile $PROFILE; herald $HERALD_BIN; PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}') on port $PG_PORT; work $WORK"
	if [[ $CALLGRIND -eq 1 ]]; then
		profile_callgrind
		return 0
	fi

	wanted 1 || wanted 2 && fig_ingest
	wanted 3 && fig_delivery
	wanted 4 && fig_e2e
	wanted 5 && fig_memory
	wanted 6 && fig_matching
	wanted 7 && fig_storage
	wanted 8 && fig_upgrade

	mkdir -p "$(dirname "$OUT")"
	png=${OUT%.txt}.png
	[[ $png == "$OUT" ]] && png=$OUT.png
	{
		printf '# herald benchmark results\n'
		printf 'date=%s\nprofile=%s\nhost=%s\ncpus=%s\nloadavg_at_end=%s\n' "$(date -u +%FT%TZ)" \
			"$PROFILE" "$(uname -n)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
		printf 'herald_bin=%s\nherald_tree=%s\npostgresql=%s\n' "$HERALD_BIN" "$(tree_version)" \
			"$("$PG_BINDIR/postgres" --version | awk '{print $3}')"
		printf 'herald_extra_args=%s\n' "${HERALD_EXTRA_ARGS:-}"
		printf 'clients=%s\nbatch=%s\ne2e_rate=%s\nmax_in_flight=%s\nseconds=%s\n' "$CLIENTS" \
			"$BATCH" "$E2E_RATE" "$MAX_IN_FLIGHT" "$((($(now_ms) - started) / 1000))"
		printf 'id\tfigure\therald\tbaseline\tratio\tunit\tbaseline_is\n'
		printf '%s\n' "${ROWS[@]}"
	} >"$OUT"
	if wanted 1 && wanted 2 && wanted 4; then
		plot "$png"
	fi

	printf '\nherald benchmarks, %s profile, %d s (load average %s)\n\n' "$PROFILE" \
		"$((($(now_ms) - started) / 1000))" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%-8s %-44s %10s %10s %7s  %-9s %s\n' id figure herald baseline ratio unit "baseline is"
	for rowline in "${ROWS[@]}"; do
		IFS=$'\t' read -r a b c d e f g <<<"$rowline"
		printf '%-8s %-44s %10s %10s %7s  %-9s %s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g"
	done
	printf '\nresults: %s\n' "$OUT"
	[[ -s $png ]] && printf 'plot:    %s\n' "$png"
	return 0
}

main
