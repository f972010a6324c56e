#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz/, replay the saved regressions, then fuzz each target for a while.
#
# Usage: contrib/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  how long each target fuzzes (default 60; 0 = build and replay only)
#   TARGET   structured, batch, binary, filter, cesql, config, httpcheck,
#            pgoutput (default: all)
# Environment:
#   HERALD_FUZZ_DIR  build and scratch directory (default /tmp/herald-fuzz);
#                    never inside the source tree
#   FUZZ_JOBS        targets fuzzed at the same time (default 1)
#   FUZZ_NICE        niceness of the fuzzers (default 19)
#   FUZZ_REQUIRED=1  fail instead of skipping when clang's libFuzzer is missing
#   CC               the clang to use (default clang)
# Exits 1 on a build failure, a failing regression or any crash; the
# reproducer is kept under $HERALD_FUZZ_DIR/run/TARGET/ and its path printed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRCDIR=$PWD

ALL_TARGETS=(structured batch binary filter cesql config httpcheck pgoutput)
LIB_SOURCES=(xalloc base64 log text mediatype cloudevent decimal jsonexact datafilter
	cesql_lex cesql_parse cesql_eval filter sinkurl subscription config httpcheck
	pgoutput)
FUZZ_FLAGS=(-max_len=65536 -timeout=10 -rss_limit_mb=2048)

say() {
	printf '==> %s\n' "$*" >&2
}

die() {
	say "$*"
	exit 1
}

skip_or_fail() {
	if [[ ${FUZZ_REQUIRED:-0} == 1 ]]; then
		die "$* (FUZZ_REQUIRED=1)"
	fi
	say "$*: skipping fuzzing"
	exit 0
}

usage() {
	sed -n '4,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# ---- arguments ----
SECS=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
	SECS=$1
	shift
fi
TARGETS=()
for t in "$@"; do
	case " ${ALL_TARGETS[*]} " in
	*" $t "*) TARGETS+=("$t") ;;
	*) say "unknown target \"$t\""; usage ;;
	esac
done
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL_TARGETS[@]}")

JOBS=${FUZZ_JOBS:-1}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "FUZZ_JOBS must be a positive integer"
NICE=${FUZZ_NICE:-19}
[[ $NICE =~ ^-?[0-9]+$ ]] || die "FUZZ_NICE must be an integer"
CC=${CC:-clang}
OUT=$(realpath -m "${HERALD_FUZZ_DIR:-/tmp/herald-fuzz}")
case $OUT/ in
"$(pwd -P)"/*) die "HERALD_FUZZ_DIR must be outside the source tree" ;;
esac
mkdir -p "$OUT"

# ---- is libFuzzer there? ----
command -v "$CC" >/dev/null 2>&1 || skip_or_fail "$CC not found"
command -v pkg-config >/dev/null 2>&1 || skip_or_fail "pkg-config not found"
DEPS_CFLAGS=$(pkg-config --cflags libcjson libcrypto libcurl) ||
	die "pkg-config does not know libcjson, libcrypto and libcurl"
DEPS_LIBS=$(pkg-config --libs libcjson libcrypto libcurl)
SANITIZE=address,undefined
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
	>"$OUT/probe.c"
if ! "$CC" -fsanitize=fuzzer,$SANITIZE "$OUT/probe.c" -o "$OUT/probe" \
	>"$OUT/probe.log" 2>&1; then
	skip_or_fail "$CC cannot build libFuzzer targets (see $OUT/probe.log; on Debian install clang and libclang-rt-dev)"
fi

# ---- build ----
# shellcheck disable=SC2206 # pkg-config output is a list of flags
CFLAGS=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra
	-fno-sanitize-recover=undefined -D_GNU_SOURCE '-DPACKAGE_VERSION="fuzz"'
	-I"$SRCDIR/src" $DEPS_CFLAGS)
# shellcheck disable=SC2206
LIBS=($DEPS_LIBS -lm)
mkdir -p "$OUT/obj" "$OUT/bin"
say "building in $OUT with $("$CC" --version | head -n 1)"
objs=()
for s in "${LIB_SOURCES[@]}"; do
	"$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link,$SANITIZE \
		-c "src/$s.c" -o "$OUT/obj/$s.o" || die "build failed: src/$s.c"
	objs+=("$OUT/obj/$s.o")
done
for t in "${TARGETS[@]}"; do
	"$CC" "${CFLAGS[@]}" -fsanitize=fuzzer,$SANITIZE \
		"tests/fuzz/fuzz_$t.c" "${objs[@]}" "${LIBS[@]}" \
		-o "$OUT/bin/fuzz_$t" || die "build failed: tests/fuzz/fuzz_$t.c"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ---- replay the regressions ----
failed=0
for f in tests/fuzz/regressions/*; do
	[[ -f $f ]] || continue
	t=${f##*/}
	t=${t%%-*}
	case " ${TARGETS[*]} " in
	*" $t "*) ;;
	*) continue ;;
	esac
	if timeout -k 5 60 "$OUT/bin/fuzz_$t" "${FUZZ_FLAGS[@]}" "$f" \
		>"$OUT/replay.log" 2>&1; then
		say "regression ok: $f"
	else
		cat "$OUT/replay.log" >&2
		say "REGRESSION FAILS: $f (fuzz_$t)"
		failed=1
	fi
done
[[ $failed == 0 ]] || exit 1
[[ $SECS -gt 0 ]] || exit 0

# ---- fuzz ----
corpus_stats() {
	find "$1" -type f -printf '%s\n' |
		awk '{ n++; b += $1 } END { printf "%d files, %d bytes", n, b }'
}

stat_of() {
	sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

# Fuzz one target; the summary goes to RUN/summary, the log to RUN/fuzz.log.
fuzz_one() {
	local t=$1 run=$OUT/run/$1 dict=() start rc=0 dur
	rm -rf "$run"
	mkdir -p "$run/corpus" "$run/artifacts"
	cp tests/fuzz/corpus/"$t"/* "$run/corpus/" 2>/dev/null || true
	[[ -f tests/fuzz/$t.dict ]] && dict=(-dict="$SRCDIR/tests/fuzz/$t.dict")
	printf '%s\n' "$(corpus_stats "$run/corpus")" >"$run/seeds"
	start=$(date +%s)
	timeout -k 10 $((SECS + 120)) nice -n "$NICE" "$OUT/bin/fuzz_$t" \
		"${FUZZ_FLAGS[@]}" "${dict[@]}" -max_total_time="$SECS" \
		-print_final_stats=1 -artifact_prefix="$run/artifacts/" \
		"$run/corpus" >"$run/fuzz.log" 2>&1 || rc=$?
	dur=$(($(date +%s) - start))
	{
		printf 'target:     %s\n' "$t"
		printf 'time:       %ss\n' "$dur"
		printf 'executions: %s (%s/s)\n' \
			"$(stat_of number_of_executed_units "$run/fuzz.log")" \
			"$(stat_of average_exec_per_sec "$run/fuzz.log")"
		printf 'new units:  %s\n' "$(stat_of new_units_added "$run/fuzz.log")"
		printf 'peak rss:   %s MB\n' "$(stat_of peak_rss_mb "$run/fuzz.log")"
		printf 'corpus:     %s -> %s\n' "$(<"$run/seeds")" \
			"$(corpus_stats "$run/corpus")"
		printf 'log:        %s\n' "$run/fuzz.log"
		if [[ $rc != 0 ]]; then
			printf 'RESULT:     FAILED (exit %s)\n' "$rc"
			sed -n 's/.*Test unit written to /reproducer: /p' "$run/fuzz.log"
			printf 'replay:     %s %s\n' "$OUT/bin/fuzz_$t" \
				"$(find "$run/artifacts" -type f | head -n 1)"
		else
			printf 'RESULT:     ok\n'
		fi
	} >"$run/summary"
	return "$rc"
}

say "fuzzing ${TARGETS[*]} for ${SECS}s each, $JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
	if [[ $running -ge $JOBS ]]; then
		wait -n || true
		running=$((running - 1))
	fi
	fuzz_one "$t" &
	running=$((running + 1))
done
wait || true

for t in "${TARGETS[@]}"; do
	echo
	if [[ -f $OUT/run/$t/summary ]]; then
		cat "$OUT/run/$t/summary"
		grep -q '^RESULT: *ok' "$OUT/run/$t/summary" || failed=1
	else
		printf 'target:     %s\nRESULT:     FAILED (no summary)\n' "$t"
		failed=1
	fi
done
echo
if [[ $failed != 0 ]]; then
	say "fuzzing found a problem: see the reproducers above"
	exit 1
fi
say "fuzzing: no crash"
