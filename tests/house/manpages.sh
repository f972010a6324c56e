#!/usr/bin/env bash
# The manual pages lint clean, and document exactly the settings herald has:
# the keys of the config table (as herald --help prints them), the keys of
# herald.conf(5) and the keys set in etc/herald.conf are one set, and each
# key's default, range and reload in herald.conf(5) are the table's.
# Without mandoc the key checks still run, and the test reports a skip.
# shellcheck source=tests/house/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
page8=$HERALD_SRCDIR/doc/herald.8
page5=$HERALD_SRCDIR/doc/herald.conf.5
conf=$HERALD_SRCDIR/etc/herald.conf
# compare NAME FILE_A FILE_B: the two sorted lists are equal
compare() {
	local out
	if out=$(diff "$2" "$3"); then
		ok "$1"
	else
		not_ok "$1 (< only in the first, > only in the second)" "$out"
	fi
}

# 1. lint
skipped_lint=0
if command -v mandoc >/dev/null; then
	for page in "$page8" "$page5"; do
		if out=$(mandoc -Tlint -Wwarning "$page" 2>&1); then
			ok "mandoc -Tlint -Wwarning ${page##*/}"
		else
			not_ok "mandoc -Tlint -Wwarning ${page##*/}" "$out"
		fi
	done
else
	echo "# mandoc is not installed: lint skipped"
	skipped_lint=1
fi

# 2. The table, from --help: "key<TAB>default<TAB>min..max or -<TAB>live|restart".
# A setting starts with a line "  --flag-name PLACEHOLDER"; the last line of
# its block is "(MIN..MAX, default: VALUE; reloads on SIGHUP)", range and
# reload part optional; a duration's bounds carry their unit (1s..365d).
"$HERALD_BIN" --help >"$work/help"
awk '
	/^Settings:/ { on = 1; next }
	!on { next }
	/^  --/ {
		if (key != "" && !done) bad = bad " " key
		key = substr($1, 3); gsub(/-/, "_", key); done = 0; next
	}
	key != "" && /^ +\(.*default: .*\)$/ {
		line = $0; sub(/^ +\(/, "", line); sub(/\)$/, "", line)
		range = "-"
		if (match(line, /^-?[0-9]+[smhd]?\.\.-?[0-9]+[smhd]?, /)) {
			range = substr(line, 1, RLENGTH - 2); line = substr(line, RLENGTH + 1)
		}
		reload = "restart"
		if (sub(/; reloads on SIGHUP$/, "", line)) reload = "live"
		sub(/^default: /, "", line)
		if (line == "empty") line = ""
		printf "%s\t%s\t%s\t%s\n", key, line, range, reload
		done = 1
	}
	END {
		if (key != "" && !done) bad = bad " " key
		if (bad != "") { print "settings without a default line:" bad > "/dev/stderr"; exit 1 }
	}
' "$work/help" 2>"$work/table.err" | sort >"$work/table" ||
	not_ok "herald --help has a default line for every setting" "$(cat "$work/table.err")"
cut -f1 "$work/table" >"$work/table.keys"
count=$(wc -l <"$work/table.keys")
if [[ $count -ge 17 ]] && [[ -z $(uniq -d "$work/table.keys") ]]; then
	ok "herald --help lists $count settings, each once"
else
	not_ok "herald --help lists $count settings (at least 17, each once)" \
		"$(uniq -d "$work/table.keys")"
fi

# 3. herald.conf(5): the entries ".It Cm KEY" of section KEYS, each with one
# "Default: ..." line.
awk '
	/^\.Sh / { on = ($2 == "KEYS"); next }
	!on { next }
	/^\.It Cm / {
		if (key != "" && ndef != 1) bad = bad " " key "(" ndef " Default lines)"
		key = $3; ndef = 0; next
	}
	/^Default: / {
		if (key == "") { bad = bad " Default-line-outside-an-entry"; next }
		ndef++
		line = $0
		if (!match(line, /; (reloads on SIGHUP|a change needs a restart)\.$/)) {
			bad = bad " " key "(malformed Default line)"; next
		}
		reload = (substr(line, RSTART) ~ /SIGHUP/) ? "live" : "restart"
		line = substr(line, 10, RSTART - 10)
		range = "-"
		if (match(line, /; range -?[0-9]+[smhd]? to -?[0-9]+[smhd]?$/)) {
			range = substr(line, RSTART + 8); sub(/ to /, "..", range)
			line = substr(line, 1, RSTART - 1)
		}
		if (line == "empty") line = ""
		printf "%s\t%s\t%s\t%s\n", key, line, range, reload
	}
	END {
		if (key != "" && ndef != 1) bad = bad " " key "(" ndef " Default lines)"
		if (bad != "") { print "herald.conf(5):" bad > "/dev/stderr"; exit 1 }
	}
' "$page5" 2>"$work/page.err" | sort >"$work/page" ||
	not_ok "herald.conf(5) has one well-formed Default line per key" "$(cat "$work/page.err")"
cut -f1 "$work/page" >"$work/page.keys"
compare "the config table's keys are the keys of herald.conf(5)" \
	"$work/table.keys" "$work/page.keys"
compare "each key's default, range and reload in herald.conf(5) are the table's" \
	"$work/table" "$work/page"

# 4. etc/herald.conf: the keys it sets (not those in comments), each once.
sed -n 's/^[[:space:]]*\([A-Za-z0-9_]*\)[[:space:]]*=.*/\1/p' "$conf" | sort >"$work/conf.all"
if [[ -z $(uniq -d "$work/conf.all") ]]; then
	ok "etc/herald.conf sets each key once"
else
	not_ok "etc/herald.conf sets a key twice" "$(uniq -d "$work/conf.all")"
fi
compare "the config table's keys are the keys set in etc/herald.conf" \
	"$work/table.keys" "$work/conf.all"

# 5. herald(8) documents the options --help shows.
missing=
for opt in -c -h -V --config --help --version; do
	grep -q -- "^  .*${opt}[ ,]" "$work/help" || missing+=" $opt(--help)"
	grep -q "^\.It .*Fl ${opt#-}\( \|$\)" "$page8" || missing+=" $opt(herald.8)"
done
if [[ -z $missing ]]; then
	ok "herald(8) and --help document -c, -h and -V and their long forms"
else
	not_ok "options not documented:$missing"
fi

echo "$((n - failed)) passed, $failed failed"
if [[ $failed -ne 0 ]]; then
	exit 1
fi
if [[ $skipped_lint -ne 0 ]]; then
	exit 77
fi
exit 0
