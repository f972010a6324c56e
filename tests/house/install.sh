#!/usr/bin/env bash
# make install puts every file where a packager expects it, honouring
# prefix, sysconfdir and DESTDIR, and make uninstall takes them all away.
# shellcheck source=tests/house/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$(cd "$(dirname "$HERALD_BIN")/.." && pwd)
if [[ ! -f $build/Makefile ]]; then
	echo "no Makefile in $build: skipped"
	exit 77
fi
dest=$work/root

# The layout of the Debian package; the test's own make, not the caller's
# job server.
vars=(DESTDIR="$dest" prefix=/usr sysconfdir=/etc/herald)
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$build" "$@" "${vars[@]}"
}

if out=$(mk install 2>&1); then
	ok "make install DESTDIR=... prefix=/usr sysconfdir=/etc/herald"
else
	not_ok "make install" "$out"
fi

expected=(
	usr/bin/herald
	etc/herald/herald.conf
	usr/share/man/man8/herald.8
	usr/share/man/man5/herald.conf.5
	usr/share/herald/producer/herald_publish.sql
)
for f in "$HERALD_SRCDIR"/sql/[0-9]*.sql; do
	expected+=("usr/share/herald/${f##*/}")
done
printf '%s\n' "${expected[@]}" | sort >"$work/expected"
(cd "$dest" && find . -type f | sed 's|^\./||' | sort) >"$work/installed"
if out=$(diff "$work/expected" "$work/installed"); then
	ok "installed exactly the binary, herald.conf, the SQL and the man pages"
else
	not_ok "installed files differ (< expected, > installed)" "$out"
fi

if [[ -x $dest/usr/bin/herald ]] && out=$("$dest/usr/bin/herald" --version) &&
	[[ $out == "herald "* ]]; then
	ok "the installed herald runs: $out"
else
	not_ok "the installed herald runs" "${out:-}"
fi
if cmp -s "$HERALD_SRCDIR/etc/herald.conf" "$dest/etc/herald/herald.conf" &&
	cmp -s "$HERALD_SRCDIR/doc/herald.conf.5" "$dest/usr/share/man/man5/herald.conf.5"; then
	ok "herald.conf and herald.conf(5) installed unchanged"
else
	not_ok "herald.conf or herald.conf(5) changed on the way"
fi

if out=$(mk uninstall 2>&1); then
	left=$(cd "$dest" && find . -type f)
	if [[ -z $left ]]; then
		ok "make uninstall removes every installed file"
	else
		not_ok "make uninstall left files behind" "$left"
	fi
else
	not_ok "make uninstall" "$out"
fi

house_summary
