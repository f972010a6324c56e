#!/bin/bash
# Configuration: --version, --help against etc/herald.conf and the README,
# config file and flag errors, flags overriding the file, the shipped file.
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

CONF=$HERALD_SRCDIR/etc/herald.conf
README=$HERALD_SRCDIR/README

# run_herald ARGS...: run herald to completion (bounded); sets RC, OUT, ERR.
run_herald() {
	timeout 10 "$HERALD_BIN" "$@" >"$TEST_TMPDIR/out" 2>"$TEST_TMPDIR/err" && RC=0 || RC=$?
	OUT=$(<"$TEST_TMPDIR/out")
	ERR=$(<"$TEST_TMPDIR/err")
}

answers_200() {
	[[ $(_http_code "$1") == 200 ]]
}

# expect_rc CODE DESC
expect_rc() {
	if [[ $RC == "$1" ]]; then
		_ok "$2"
	else
		_not_ok "$2" "expected exit status $1, got $RC" "stdout: ${OUT:0:500}" "stderr: ${ERR:0:500}"
	fi
}

# expect_err_has TEXT DESC: stderr of the last run_herald contains TEXT.
expect_err_has() {
	if [[ $ERR == *"$1"* ]]; then
		_ok "$2"
	else
		_not_ok "$2" "stderr lacks '$1'" "stderr: ${ERR:0:500}"
	fi
}

# ------------------------------------------------------------ --version, --help

version=$(sed -nE 's/^AC_INIT\(\[herald\], *\[([^]]*)\].*/\1/p' "$HERALD_SRCDIR/configure.ac")
run_herald --version
expect_rc 0 "herald --version exits 0"
expect_eq "$OUT" "herald ${version:-?}" "herald --version prints 'herald <version>' (configure.ac: ${version:-not found})"

run_herald --help
expect_rc 0 "herald --help exits 0"
HELP=$OUT
check "--help prints a usage line" grep -q '^usage: herald' <<<"$HELP"

# keys of the shipped config file: "key =" lines, commented out or not
mapfile -t CONF_KEYS < <(sed -nE 's/^#? *([a-z_][a-z0-9_]*) *=.*/\1/p' "$CONF" | sort -u)
check "etc/herald.conf names some keys (${#CONF_KEYS[@]})" test "${#CONF_KEYS[@]}" -ge 6
for key in listen database_url admin_key allow_private_sinks max_event_bytes log_level; do
	check "etc/herald.conf has the documented key $key" \
		grep -qx "$key" < <(printf '%s\n' "${CONF_KEYS[@]}")
done

missing=()
for key in "${CONF_KEYS[@]}"; do
	flag=--${key//_/-}
	grep -qE -- "(^|[[:space:]])${flag}([[:space:]=]|\$)" <<<"$HELP" || missing+=("$flag")
done
expect_eq "${missing[*]}" "" "--help lists the flag of every key in etc/herald.conf"

# settings --help lists (not -c/--config, -h/--help, -V/--version)
mapfile -t HELP_KEYS < <(sed -nE 's/^  --([a-z][a-z0-9-]*).*/\1/p' <<<"$HELP" | tr - _ | sort -u)
check "--help lists some settings (${#HELP_KEYS[@]})" test "${#HELP_KEYS[@]}" -ge 6
missing=()
for key in "${HELP_KEYS[@]}"; do
	grep -qx "$key" < <(printf '%s\n' "${CONF_KEYS[@]}") || missing+=("$key")
done
expect_eq "${missing[*]}" "" "every setting --help lists is a key in etc/herald.conf"

if [[ -f $README ]] && grep -q 'herald\.conf' "$README"; then
	missing=()
	for key in "${HELP_KEYS[@]}"; do
		grep -qw -- "$key" "$README" || missing+=("$key")
	done
	expect_eq "${missing[*]}" "" "every setting --help lists is documented in README"
else
	log "NOTE: README has no configuration section yet (it does not mention herald.conf): skipping the README check"
fi

# ------------------------------------------------------------ config file errors

printf '# a comment\nlisten = 127.0.0.1:1\nno_such_key = 1\n' >"$TEST_TMPDIR/bad.conf"
run_herald -c "$TEST_TMPDIR/bad.conf"
expect_rc 1 "a config file with an unknown key: exit 1"
expect_err_has "bad.conf:3:" "stderr names the file and line 3"
expect_err_has "no_such_key" "stderr names the unknown key"

printf 'log_level = info\nlisten 127.0.0.1:1\n' >"$TEST_TMPDIR/noeq.conf"
run_herald -c "$TEST_TMPDIR/noeq.conf"
expect_rc 1 "a config line without '=': exit 1"
expect_err_has "noeq.conf:2:" "stderr names the file and line 2"

printf '\n\nmax_event_bytes = abc\n' >"$TEST_TMPDIR/badval.conf"
run_herald -c "$TEST_TMPDIR/badval.conf"
expect_rc 1 "max_event_bytes = abc: exit 1"
expect_err_has "badval.conf:3:" "stderr names the file and line 3"
expect_err_has "max_event_bytes" "stderr names the key"

printf 'max_event_bytes = 1\n' >"$TEST_TMPDIR/range.conf"
run_herald -c "$TEST_TMPDIR/range.conf"
expect_rc 1 "max_event_bytes out of range: exit 1"

printf 'allow_private_sinks = maybe\n' >"$TEST_TMPDIR/bool.conf"
run_herald -c "$TEST_TMPDIR/bool.conf"
expect_rc 1 "a bad boolean: exit 1"

run_herald --max-event-bytes abc
expect_rc 1 "--max-event-bytes abc: exit 1"
expect_err_has "max-event-bytes" "stderr names the flag"

run_herald --no-such-flag 1
expect_rc 1 "an unknown flag: exit 1"
expect_err_has "try herald --help" "stderr says: try herald --help"

run_herald -c "$TEST_TMPDIR/does-not-exist.conf"
expect_rc 1 "-c of a missing file: exit 1"
expect_err_has "does-not-exist.conf" "stderr names the missing file"

# ------------------------------------------------------------ running (PostgreSQL)

pg_use_shared_or_start
db_create

FILE_PORT=$(free_port) || die "no free port"
cat >"$TEST_TMPDIR/override.conf" <<EOF
# the file says one port, the flag another
listen = 127.0.0.1:$FILE_PORT
database_url = "host=127.0.0.1 port=1 dbname=nowhere"
max_event_bytes = 2048
EOF
# herald_start gives --listen and --database-url as flags; they must win
herald_start -c "$TEST_TMPDIR/override.conf"
api GET /healthz
expect_status 200 "--listen overrides the file's listen: herald answers on the flag's port $HERALD_PORT"
check "and nothing listens on the file's port $FILE_PORT" \
	test "$(_http_code "http://127.0.0.1:$FILE_PORT/healthz")" = 000
api GET /readyz
expect_status 200 "--database-url overrides the file's database_url"
big=$(head -c 3000 /dev/zero | tr '\0' x)
api POST /v1/events "{\"specversion\":\"1.0\",\"source\":\"/config\",\"id\":\"big\",\"type\":\"t\",\"data\":\"$big\"}" \
	-H 'Content-Type: application/cloudevents+json'
expect_status 413 "the file's max_event_bytes = 2048 applies where no flag overrides it"
herald_stop
expect_eq "$HERALD_EXIT_STATUS" 0 "herald exits 0 on SIGTERM"

# the shipped file, exactly as documented
PORT=$(free_port) || die "no free port"
HERALD_LOG=$TEST_TMPDIR/herald.log
"$HERALD_BIN" -c "$CONF" --database-url "$DATABASE_URL" --listen "127.0.0.1:$PORT" \
	--admin-key x >>"$HERALD_LOG" 2>&1 &
HERALD_PID=$!
HERALD_PIDS+=("$HERALD_PID")
HERALD_URL=http://127.0.0.1:$PORT
wait_until 15 "herald -c etc/herald.conf starts and /healthz answers" answers_200 "$HERALD_URL/healthz"
KEY=x api GET /v1/subscriptions
expect_status 200 "and the --admin-key given as a flag works"

finish
