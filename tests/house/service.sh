#!/usr/bin/env bash
# contrib/herald.service is a valid systemd unit (systemd-analyze verify,
# its Documentation= resolved against our own man pages), it keeps its
# hardening (systemd-analyze security: exposure at most 2.0 of 10), and it
# still lets herald reach PostgreSQL's Unix socket.  Skipped without
# systemd-analyze.
# shellcheck source=tests/house/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unit=$HERALD_SRCDIR/contrib/herald.service
# directive NAME=VALUE: the unit has exactly that line
directive() {
	if grep -qxF -- "$1" "$unit"; then
		ok "$1"
	else
		not_ok "$1" "$(grep -- "^${1%%=*}=" "$unit" || echo "(absent)")"
	fi
}

directive "ExecStart=/usr/bin/herald -c /etc/herald/herald.conf"
# shellcheck disable=SC2016 # systemd's $MAINPID, literally
directive 'ExecReload=/bin/kill -HUP $MAINPID'
directive "User=herald"
directive "Restart=on-failure"
directive "NoNewPrivileges=yes"
directive "ProtectSystem=strict"
directive "ProtectHome=yes"
directive "PrivateTmp=yes"
directive "PrivateDevices=yes"
directive "CapabilityBoundingSet="
directive "SystemCallFilter=@system-service"
# AF_UNIX for libpq's socket in /run/postgresql, which ProtectSystem=strict
# leaves reachable: connecting to a socket is not a write to the file system.
directive "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
if grep -qE '^(InaccessiblePaths|TemporaryFileSystem)=.*/run' "$unit"; then
	not_ok "/run/postgresql stays visible" "$(grep -E '^(InaccessiblePaths|TemporaryFileSystem)=' "$unit")"
else
	ok "/run/postgresql stays visible"
fi

if ! command -v systemd-analyze >/dev/null; then
	echo "# systemd-analyze is not installed: the unit is not verified"
	echo "$((n - failed)) passed, $failed failed"
	[[ $failed -eq 0 ]] || exit 1
	exit 77
fi

# verify wants ExecStart's binary to exist: point it at the built one, and
# man:herald(8) at our pages.
mkdir -p "$work/man/man8" "$work/man/man5"
cp "$HERALD_SRCDIR/doc/herald.8" "$work/man/man8/"
cp "$HERALD_SRCDIR/doc/herald.conf.5" "$work/man/man5/"
sed "s|^ExecStart=/usr/bin/herald |ExecStart=$HERALD_BIN |" "$unit" >"$work/herald.service"
if out=$(MANPATH=$work/man systemd-analyze verify "$work/herald.service" 2>&1) &&
	[[ -z $out ]]; then
	ok "systemd-analyze verify"
else
	not_ok "systemd-analyze verify" "$out"
fi
if out=$(systemd-analyze security --offline=true --threshold=20 \
	"$work/herald.service" 2>&1); then
	ok "systemd-analyze security: $(printf '%s\n' "$out" | grep -o 'exposure level.*' | head -n1)"
else
	not_ok "systemd-analyze security --threshold=20" \
		"$(printf '%s\n' "$out" | grep -E '^- |Overall|Failed|rror')"
fi

house_summary
