#!/usr/bin/env bash
# Run the fault-injection scripts in their long profile, N times, and sum up
# their ledgers: crash (kill -9 rounds), scaleout (two instances, one killed),
# outage (PostgreSQL stopped and frozen) and faults (PostgreSQL outage under
# load, PostgreSQL crash mid-drain, SIGTERM with deliveries in flight,
# misbehaving receivers).
#
# Usage: contrib/faults.sh [N] [configure args...]
#   N (default 1): how many times each script runs.
#   Without HERALD_BUILD_DIR, it installs and builds in the tree like
#   contrib/test.sh (the configure args go to ./configure).  With
#   HERALD_BUILD_DIR=DIR it uses DIR/src/herald and DIR/tests/receiver (make
#   them first: make -C DIR all tests/receiver).
# Environment: HERALD_TEST_SEED (the same seed for every run; default: each
#   script draws its own and prints it), HERALD_FAULT_OUT (where the logs and
#   ledgers go; default a new /tmp/herald-faults.XXXXXX), FAULT_SCRIPTS
#   (default "crash scaleout outage faults"), FAULT_SCRIPT_TIMEOUT (s, 1200).
# Prints every LEDGER line and a summary table; exits 1 if any run failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRCDIR=$PWD
RUNS=${1:-1}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N] [configure args...]" >&2; exit 2; }
[[ $# -gt 0 ]] && shift
# shellcheck source=contrib/lib-setup.sh
. contrib/lib-setup.sh

if [[ -n ${HERALD_BUILD_DIR:-} ]]; then
	BUILD=$(cd "$HERALD_BUILD_DIR" && pwd)
else
	setup_packages
	setup_configure "$@"
	setup_make all tests/receiver
	BUILD=$SRCDIR
fi
[[ -x $BUILD/src/herald ]] || { setup_say "no $BUILD/src/herald"; exit 2; }
[[ -x $BUILD/tests/receiver ]] || { setup_say "no $BUILD/tests/receiver (make tests/receiver)"; exit 2; }

OUT=${HERALD_FAULT_OUT:-$(mktemp -d /tmp/herald-faults.XXXXXX)}
mkdir -p "$OUT"
read -r -a SCRIPTS <<<"${FAULT_SCRIPTS:-crash scaleout outage faults}"
SCRIPT_TIMEOUT=${FAULT_SCRIPT_TIMEOUT:-1200}

# One cluster for crash and scaleout; outage and faults run their own.
setup_private_cluster

pg_find_bin || { setup_say "no PostgreSQL server binaries: nothing to run"; exit 1; }
pg_start_private
export HERALD_TEST_PGHOST=$PG_HOST HERALD_TEST_PGPORT=$PG_PORT
export HERALD_BIN=$BUILD/src/herald HERALD_RECEIVER=$BUILD/tests/receiver HERALD_SRCDIR=$SRCDIR
export HERALD_FAULT_PROFILE=long
setup_say "PostgreSQL on $PG_HOST:$PG_PORT; herald $HERALD_BIN; logs and ledgers in $OUT"

# field LINE NAME: the value of NAME=value in a LEDGER line (empty if absent).
field() {
	local re="(^| )$2=([^ ]*)"
	[[ $1 =~ $re ]] && printf '%s' "${BASH_REMATCH[2]}"
}

declare -A S_RUNS=() S_FAILED=() S_ROUNDS=() S_ACC=() S_LOST=() S_VIOL=() S_DUPS=()
SCENARIOS=()
# add SCENARIO OK ROUNDS ACCEPTED LOST VIOLATIONS DUPLICATES ("-": not measured)
add() {
	local s=$1
	set -- "$1" "$2" "${3:-0}" "${4:-0}" "${5:--}" "${6:--}" "${7:--}"
	if [[ -z ${S_RUNS[$s]:-} ]]; then
		SCENARIOS+=("$s")
		S_RUNS[$s]=0 S_FAILED[$s]=0 S_ROUNDS[$s]=0 S_ACC[$s]=0 S_LOST[$s]=0 S_VIOL[$s]=- S_DUPS[$s]=-
	fi
	S_RUNS[$s]=$((S_RUNS[$s] + 1))
	[[ $2 -eq 1 ]] || S_FAILED[$s]=$((S_FAILED[$s] + 1))
	S_ROUNDS[$s]=$((S_ROUNDS[$s] + $3))
	S_ACC[$s]=$((S_ACC[$s] + $4))
	if [[ $5 == - || ${S_LOST[$s]} == - ]]; then S_LOST[$s]=-; else S_LOST[$s]=$((S_LOST[$s] + $5)); fi
	if [[ $6 != - ]]; then S_VIOL[$s]=$(( ${S_VIOL[$s]/-/0} + $6 )); fi
	if [[ $7 != - ]]; then S_DUPS[$s]=$(( ${S_DUPS[$s]/-/0} + $7 )); fi
}

failures=0
t_start=$(date +%s)
for ((i = 1; i <= RUNS; i++)); do
	for script in "${SCRIPTS[@]}"; do
		log_file=$OUT/$script.$i.log
		ledger_dir=$OUT/ledgers.$script.$i
		setup_say "run $i/$RUNS: $script (long profile)"
		t0=$(date +%s)
		rc=0
		HERALD_FAULT_LEDGER_DIR=$ledger_dir timeout -k 30 "$SCRIPT_TIMEOUT" \
			bash "$SRCDIR/tests/integration/$script.sh" >"$log_file" 2>&1 || rc=$?
		took=$(($(date +%s) - t0))
		grep -h '^# seed ' "$log_file" | head -n 1 || true
		ok=1
		[[ $rc -eq 0 ]] || ok=0
		if [[ $ok -eq 0 ]]; then
			failures=$((failures + 1))
			setup_say "$script run $i FAILED (exit $rc, ${took}s); log: $log_file"
			grep -E '^not ok|^#   ' "$log_file" | head -n 40 || true
		else
			setup_say "$script run $i passed (${took}s): $(tail -n 1 "$log_file")"
		fi
		found=0
		while IFS= read -r line; do
			found=1
			printf '%s\n' "$line"
			name=${line#LEDGER }
			name=${name%% *}
			add "$name" "$ok" "$(field "$line" rounds || echo 1)" "$(field "$line" accepted)" \
				"$(field "$line" lost)" "$(field "$line" order_violations)" "$(field "$line" duplicates)"
		done < <(grep '^LEDGER ' "$log_file" || true)
		if [[ $script == outage ]]; then
			# outage.sh has no LEDGER line: its figures come from its checks.
			acc=$(sed -n 's/^# under load: \([0-9]*\) accepted.*/\1/p' "$log_file" | head -n 1)
			lost=-
			if grep -q '^ok .* - every event acknowledged with 2xx under load is in the database' "$log_file"; then
				lost=0
			fi
			printf 'LEDGER outage (from its checks) accepted=%s lost=%s rc=%s\n' "${acc:-?}" "$lost" "$rc"
			add outage "$ok" 1 "${acc:-0}" "$lost" - -
			found=1
		fi
		if [[ $found -eq 0 ]]; then
			add "$script" 0 0 0 - - -
		fi
	done
done

total=$(($(date +%s) - t_start))
printf '\nSummary: %d run(s) of %s, long profile, %d s; logs and ledgers in %s\n\n' \
	"$RUNS" "${SCRIPTS[*]}" "$total" "$OUT"
printf '%-22s %6s %7s %16s %5s %17s %11s\n' scenario runs rounds "events accepted" lost "order violations" duplicates
for s in "${SCENARIOS[@]}"; do
	status=ok
	[[ ${S_FAILED[$s]} -eq 0 ]] || status="FAILED ${S_FAILED[$s]}"
	printf '%-22s %6s %7s %16s %5s %17s %11s  %s\n' "$s" "${S_RUNS[$s]}" "${S_ROUNDS[$s]}" \
		"${S_ACC[$s]}" "${S_LOST[$s]}" "${S_VIOL[$s]}" "${S_DUPS[$s]}" "$status"
done
if [[ $failures -gt 0 ]]; then
	printf '\n%d script run(s) failed\n' "$failures"
	exit 1
fi
printf '\nall fault runs passed\n'
