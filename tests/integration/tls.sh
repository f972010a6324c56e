#!/bin/bash
# HTTPS on the API listener: a certificate made here for 127.0.0.1 serves
# /healthz and the keyed API to a client that trusts its CA, and nothing to
# plain HTTP or another CA; TLS below 1.2 is refused; wrong files stop the
# start with a clear message; SIGHUP hands a replaced certificate to new
# connections while an open one finishes on the old; a bad replacement keeps
# the one in use.
set -u
. "$HERALD_SRCDIR/tests/integration/lib.sh"

command -v openssl >/dev/null || skip "openssl is not installed"

pg_use_shared_or_start
db_create

D=$TEST_TMPDIR/pki
mkdir -p "$D"

# ca NAME: a self-signed CA in $D/NAME.{key,pem}.
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$D/$1.key" -out "$D/$1.pem" -days 2 -subj "/CN=herald test $1" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>>"$D/openssl.log"
}

# server NAME CA SERIAL: a certificate for 127.0.0.1 (an IP SAN) signed by
# CA, in $D/NAME.{key,pem}, with the given hex serial.
server() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$D/$1.key" -out "$D/$1.csr" -subj "/CN=$1" 2>>"$D/openssl.log" &&
		printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' >"$D/$1.ext" &&
		openssl x509 -req -in "$D/$1.csr" -CA "$D/$2.pem" -CAkey "$D/$2.key" \
			-set_serial "0x$3" -days 2 -extfile "$D/$1.ext" -out "$D/$1.pem" \
			2>>"$D/openssl.log"
}

ca ca || die "cannot make the CA: $(tail -n 5 "$D/openssl.log")"
ca otherca || die "cannot make the second CA"
server first ca 1a2b01 || die "cannot make the first server certificate"
server second ca 1a2b02 || die "cannot make the second server certificate"
chmod 600 "$D"/*.key

# The files herald is given; SIGHUP re-reads them.
CERT=$TEST_TMPDIR/server.pem
KEYF=$TEST_TMPDIR/server.key
cp "$D/first.pem" "$CERT"
cp "$D/first.key" "$KEYF"
chmod 600 "$KEYF"
chmod 644 "$CERT"

# ------------------------------------------------------------ start-up errors

# refused MSG ARGS...: herald, given ARGS, exits 1 before serving and says
# MSG on stderr.
refused() {
	local msg=$1 rc out port
	shift
	port=$(free_port) || die "no free port"
	out=$(timeout 30 "$HERALD_BIN" --listen "127.0.0.1:$port" \
		--database-url "$DATABASE_URL" --admin-key "$ADMIN_KEY" "$@" 2>&1 >/dev/null) &&
		rc=0 || rc=$?
	printf '%s\n' "$out" >>"$TEST_TMPDIR/refused.log"
	if [[ $rc == 1 ]] && grep -qF -- "$msg" <<<"$out"; then
		_ok "refused at start-up: $msg"
	else
		_not_ok "refused at start-up: $msg" "exit status $rc" "output: ${out:0:1000}"
	fi
}

refused "tls_cert_file and tls_key_file go together" --tls-cert-file "$CERT"
refused "tls_cert_file and tls_key_file go together" --tls-key-file "$KEYF"
refused "tls_key_file $TEST_TMPDIR/missing.key: cannot open: No such file" \
	--tls-cert-file "$CERT" --tls-key-file "$TEST_TMPDIR/missing.key"
refused "tls_key_file $D/second.key is not the key of the certificate in tls_cert_file $CERT" \
	--tls-cert-file "$CERT" --tls-key-file "$D/second.key"
refused "tls_cert_file $KEYF: no usable PEM certificate" \
	--tls-cert-file "$KEYF" --tls-key-file "$KEYF"
refused "tls_key_file $CERT: not a usable PEM private key" \
	--tls-cert-file "$CERT" --tls-key-file "$CERT"
check "a key file every user may read is warned about" \
	grep -qF "tls_key_file $CERT can be read by every user of this machine" "$TEST_TMPDIR/refused.log"
refused "tls_priorities: invalid at \"+VERS-NONE" \
	--tls-cert-file "$CERT" --tls-key-file "$KEYF" --tls-priorities "NORMAL:+VERS-NONE"

# ------------------------------------------------------------ serving HTTPS

HERALD_SCHEME=https
HERALD_CURL_ARGS=(--cacert "$D/ca.pem")
herald_start --tls-cert-file "$CERT" --tls-key-file "$KEYF" --log-level debug
check "the start is logged as HTTPS" grep -qF "listening on 127.0.0.1:$HERALD_PORT (HTTPS)" "$HERALD_LOG"
check "a key file only its owner may read is not warned about" \
	test "$(grep -cF "tls_key_file $KEYF can be read" "$HERALD_LOG")" -eq 0

api GET /healthz
expect_status 200 "GET /healthz over HTTPS with --cacert"
api POST /v1/events '{"specversion":"1.0","id":"tls-1","source":"/tls","type":"t.tls","data":{"n":1}}' \
	-H 'Content-Type: application/cloudevents+json'
expect_status 202 "an authenticated publish over HTTPS"
SEQ=$(jq -r '.seq // empty' <<<"$RESP")
api GET "/v1/events/$SEQ"
expect_status 200 "the event read back over HTTPS"
expect_json .event.id tls-1 "the event read back is the one published"
KEY='' api GET /v1/subscriptions
expect_status 401 "no key over HTTPS is still 401"

# curl_rc ARGS...: curl's exit status (0: an answer came) and its time.
curl_rc() {
	local t0
	t0=$(now_ms)
	curl -sS -o /dev/null --max-time 10 "$@" 2>"$TEST_TMPDIR/curl.err" && CURL_RC=0 || CURL_RC=$?
	CURL_MS=$(($(now_ms) - t0))
}

curl_rc "http://127.0.0.1:$HERALD_PORT/healthz"
check "plain HTTP to the HTTPS port gets no answer (curl $CURL_RC: $(head -c 200 "$TEST_TMPDIR/curl.err"))" \
	test "$CURL_RC" -ne 0
check "... and the connection is closed at once, not left to time out (${CURL_MS} ms)" \
	test "$CURL_MS" -lt 5000

curl_rc --cacert "$D/otherca.pem" "https://127.0.0.1:$HERALD_PORT/healthz"
expect_eq "$CURL_RC" 60 "a client trusting another CA refuses the certificate (curl 60)"
curl_rc --cacert "$D/ca.pem" "https://127.0.0.1:$HERALD_PORT/healthz"
expect_eq "$CURL_RC" 0 "the same call trusting the right CA succeeds"

api GET /healthz
expect_status 200 "still serving after the refused handshakes"
check "libmicrohttpd's messages are lines of herald's log, not bare ones" \
	test "$(grep -c '^Error: ' "$HERALD_LOG")" -eq 0
check "... a failed handshake logged at debug" grep -qF "debug: tls: a handshake failed" "$HERALD_LOG"

# served_cert [s_client args...]: serial and subject of what a new
# connection is shown, as "serial=... subject=..." (empty when the
# handshake fails).
served_cert() {
	openssl s_client -connect "127.0.0.1:$HERALD_PORT" -CAfile "$D/ca.pem" \
		-verify_return_error "$@" </dev/null 2>/dev/null |
		openssl x509 -noout -serial -subject -nameopt compat 2>/dev/null | tr '\n' ' ' |
		sed 's/ $//'
}
FIRST="serial=1A2B01 subject=/CN=first"
SECOND="serial=1A2B02 subject=/CN=second"

expect_eq "$(served_cert -tls1_3)" "$FIRST" "TLS 1.3 is served, with the first certificate"
expect_eq "$(served_cert -tls1_2)" "$FIRST" "TLS 1.2 is served"
expect_eq "$(served_cert -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')" "" \
	"TLS 1.1 is refused (tls_priorities)"

# ------------------------------------------------------------ SIGHUP

# mark: remember where the log ends; logged TEXT: it came after the mark.
mark() { MARK=$(wc -l <"$HERALD_LOG"); }
logged() { tail -n +"$((MARK + 1))" "$HERALD_LOG" | grep -qF -- "$1"; }

# A connection opened before the reload: its handshake is done with the
# first certificate; it sends its request after the swap.
OPEN_OUT=$TEST_TMPDIR/open.out
OPEN_ERR=$TEST_TMPDIR/open.err
mkfifo "$TEST_TMPDIR/open.in"
openssl s_client -quiet -connect "127.0.0.1:$HERALD_PORT" -CAfile "$D/ca.pem" \
	-verify_return_error <"$TEST_TMPDIR/open.in" >"$OPEN_OUT" 2>"$OPEN_ERR" &
OPEN_PID=$!
exec 7>"$TEST_TMPDIR/open.in"
stop_open() { exec 7>&- 2>/dev/null; kill "$OPEN_PID" 2>/dev/null; wait "$OPEN_PID" 2>/dev/null; }
at_exit stop_open
wait_until 10 "a connection is open with the first certificate" \
	grep -qE '^depth=0 .*CN ?= ?first' "$OPEN_ERR"

mark
cp "$D/second.pem" "$CERT"
cp "$D/second.key" "$KEYF"
kill -HUP "$HERALD_PID"
wait_until 10 "SIGHUP: the replaced certificate is loaded" \
	logged "tls: serving CN=second (serial 1a2b02"
expect_eq "$(served_cert)" "$SECOND" "a new connection is shown the second certificate"
api GET /healthz
expect_status 200 "curl with the CA succeeds after the swap"

check "the first certificate is kept while that connection is open" \
	test "$(tail -n +"$((MARK + 1))" "$HERALD_LOG" | grep -c 'use serial 1a2b01 any more')" -eq 0
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&7
exec 7>&-
wait_until 10 "the connection opened before the swap is answered on it" \
	grep -q '^HTTP/1.1 200' "$OPEN_OUT"
wait "$OPEN_PID" 2>/dev/null
check "... and the connection was not made again (one handshake, with the first)" \
	test "$(grep -c '^depth=0' "$OPEN_ERR")" -eq 1
wait_until 10 "once it closed, the first certificate is freed" \
	logged "no connection can use serial 1a2b01 any more; freed"

mark
kill -HUP "$HERALD_PID"
wait_until 10 "SIGHUP with the same files: nothing to change" \
	logged "the TLS certificate and key are unchanged"

# a certificate whose key is not beside it: refused, the one in use kept
mark
cp "$D/first.pem" "$CERT"
kill -HUP "$HERALD_PID"
wait_until 10 "SIGHUP with a mismatched key: refused and said" \
	logged "is not the key of the certificate in tls_cert_file $CERT; the certificate in use is kept"
expect_eq "$(served_cert)" "$SECOND" "... and the second certificate is still served"

# with a configuration file, the paths themselves can change
CONF=$TEST_TMPDIR/herald.conf
{
	printf 'database_url = "%s"\n' "$DATABASE_URL"
	printf 'admin_key = "%s"\n' "$ADMIN_KEY"
	printf 'tls_cert_file = "%s"\ntls_key_file = "%s"\n' "$D/second.pem" "$D/second.key"
	printf 'tls_priorities = "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1"\n'
} >"$CONF"
herald_stop || _not_ok "herald exits 0 on SIGTERM" "exit status $HERALD_EXIT_STATUS"
herald_start -c "$CONF"
expect_eq "$(served_cert)" "$SECOND" "-c: the file's certificate is served"
# the client refused above can do TLS 1.1: the server decided
expect_eq "$(served_cert -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')" "$SECOND" \
	"TLS 1.1 is served when tls_priorities allows it"
mark
sed -i "s|second\\.|first.|g" "$CONF"
kill -HUP "$HERALD_PID"
wait_until 10 "SIGHUP: tls_cert_file and tls_key_file now name other files" \
	logged "tls: serving CN=first (serial 1a2b01"
expect_eq "$(served_cert)" "$FIRST" "... whose certificate new connections are shown"
api GET /v1/subscriptions
expect_status 200 "an authenticated call after the reload"

mark
printf 'tls_cert_file = ""\ntls_key_file = ""\n' >>"$CONF"
kill -HUP "$HERALD_PID"
wait_until 10 "SIGHUP: emptied TLS keys need a restart, said so" \
	logged "turning TLS off needs a restart, and the certificate in use is kept"
expect_eq "$(served_cert)" "$FIRST" "... and HTTPS goes on"

finish
