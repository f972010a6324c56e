#!/usr/bin/env bash
# Build the Debian package from a clone of HEAD, lint it, and prove it installs and runs on a fresh Debian 12.
#
# Usage: contrib/deb-check.sh [--build-only]
# As root, on Debian with dpkg-dev, debhelper, fakeroot, lintian, the build
# dependencies (debian/control) and systemd-container (systemd-nspawn).
#
# 1. git clone of HEAD (uncommitted changes are not in it), then
#    dpkg-buildpackage -us -uc -b;
# 2. lintian on the .changes and the .debs: any error fails;
# 3. a fresh Debian 12 minbase (the debootstrap tarball $HERALD_DEB_BASE,
#    default /srv/chroot-base.tar) gets, with apt-get from the Debian
#    archive, ./herald_*.deb, postgresql and systemd;
# 4. it boots under systemd-nspawn, with a network of its own (nothing on
#    the host's ports); PostgreSQL starts, a role and a database named herald
#    are made for the herald user, and the packaged unit is enabled and
#    started with the packaged /etc/herald/herald.conf unchanged, so herald
#    reaches PostgreSQL over /run/postgresql as the unit's user, under the
#    unit's hardening;
# 5. /healthz and /readyz answer, an event published with the admin key
#    herald logged is accepted, systemctl reload makes the same process
#    re-read its file, and systemctl stop ends herald cleanly;
# 6. the container is powered off and everything is removed.
# --build-only stops after step 2.  Each step's time is printed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

base=${HERALD_DEB_BASE:-/srv/chroot-base.tar}
build_only=0
case ${1:-} in
--build-only) build_only=1 ;;
'') ;;
*)
	echo "usage: contrib/deb-check.sh [--build-only]" >&2
	exit 2
	;;
esac

say() {
	printf '==> %s\n' "$*" >&2
}
fail() {
	say "FAILED: $*"
	exit 1
}
step_start=$SECONDS
step_done() {
	say "$1 ($((SECONDS - step_start)) s)"
	step_start=$SECONDS
}

[[ $(id -u) -eq 0 ]] || fail "run as root (chroot, systemd-nspawn)"
for tool in git dpkg-buildpackage lintian; do
	command -v "$tool" >/dev/null || fail "$tool is not installed"
done
if [[ $build_only -eq 0 ]]; then
	command -v systemd-nspawn >/dev/null || fail "systemd-nspawn is not installed (systemd-container)"
	[[ -f $base ]] || fail "no Debian 12 root file system tarball at $base (set HERALD_DEB_BASE)"
fi
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
	say "note: uncommitted changes are not in the package (it is built from HEAD)"
fi

work=$(mktemp -d /var/tmp/herald-deb-check.XXXXXX)
root=$work/root
nspawn_pid=
init_pid=

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$?
	if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
		if [[ -n $init_pid ]]; then
			in_ct systemctl poweroff >/dev/null 2>&1 || true
		fi
		for _ in $(seq 1 60); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			say "the container did not power off: killing it"
			kill -KILL "$nspawn_pid" 2>/dev/null || true
		fi
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	# The only mounts are systemd-nspawn's own, inside its namespace; make
	# sure none is left under the root before removing it.
	if findmnt -rn -o TARGET | grep -qF "$work/"; then
		say "mounts are left under $work: not removing it"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command in the booted container (all its namespaces, a clean env).
in_ct() {
	nsenter -t "$init_pid" -a /usr/bin/env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}
# Run a host binary (curl) in the container's network only.
in_ct_net() {
	nsenter -t "$init_pid" -n "$@"
}

# 1. Build
say "building the package from a clone of HEAD ($(git rev-parse --short HEAD))"
git clone -q . "$work/src/herald"
if ! (cd "$work/src/herald" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log" >&2
	fail "dpkg-buildpackage"
fi
arch=$(dpkg --print-architecture)
debs=("$work"/src/herald_*_"$arch".deb)
[[ -f ${debs[0]} ]] || fail "no herald_*_$arch.deb built"
deb=${debs[0]}
step_done "built ${deb##*/}"

# 2. Lint
if ! lintian --allow-root --fail-on error -I "$work"/src/herald_*_"$arch".changes \
	"$work"/src/*.deb >"$work/lintian.log" 2>&1; then
	cat "$work/lintian.log" >&2
	fail "lintian reports errors"
fi
sed 's/^/    /' "$work/lintian.log" >&2
step_done "lintian: no errors"
if [[ $build_only -eq 1 ]]; then
	say "package built and linted; --build-only: not installed"
	exit 0
fi

# 3. A fresh Debian 12 with the package, PostgreSQL and systemd
mkdir "$root"
tar -xf "$base" -C "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
chmod 644 "$root/tmp/${deb##*/}"
# No service starts during installation: the system boots afterwards.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# apt-get runs in a mount namespace of its own: its /proc and /dev vanish
# with it, whatever happens.
# shellcheck disable=SC2016 # the inner script expands its own arguments
if ! unshare --mount --propagation private --fork /bin/bash -euc '
	r=$1 deb=$2
	mount -t proc proc "$r/proc"
	mount --bind /dev "$r/dev"
	chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 /bin/bash -euc "
		cd /tmp
		apt-get update -q
		apt-get install -y -q --no-install-recommends ./$deb postgresql systemd systemd-sysv
	"' bash "$root" "${deb##*/}" >"$work/apt.log" 2>&1; then
	tail -n 40 "$work/apt.log" >&2
	fail "apt-get install ./${deb##*/} postgresql"
fi
rm -f "$root/usr/sbin/policy-rc.d"
step_done "installed ${deb##*/}, postgresql and systemd with apt-get"

# 4. Boot it and start the service
systemd-nspawn -q --register=no --keep-unit --private-network \
	--machine="herald-check-$$" -b -D "$root" </dev/null >"$work/boot.log" 2>&1 &
nspawn_pid=$!
# The container's init is the child of systemd-nspawn that runs systemd.
for _ in $(seq 1 150); do
	for pid in $(pgrep -P "$nspawn_pid"); do
		if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == systemd ]]; then
			init_pid=$pid
		fi
	done
	[[ -z $init_pid ]] || break
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.2
done
if [[ -z $init_pid ]]; then
	cat "$work/boot.log" >&2
	fail "systemd-nspawn -b did not start systemd"
fi
state=
for _ in $(seq 1 240); do
	state=$(in_ct systemctl is-system-running 2>/dev/null) || true
	case $state in
	running | degraded) break ;;
	esac
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.5
done
case $state in
running | degraded) ;;
*)
	tail -n 40 "$work/boot.log" >&2
	fail "the container did not finish booting (state: ${state:-none})"
	;;
esac
step_done "booted with systemd-nspawn ($state)"

[[ $(in_ct systemctl is-enabled herald.service || true) == disabled ]] ||
	fail "herald.service should be installed disabled"
user=$(in_ct getent passwd herald) || fail "no herald user"
say "user: $user"
perm=$(in_ct stat -c '%U:%G %a' /etc/herald/herald.conf)
[[ $perm == "root:herald 640" ]] || fail "/etc/herald/herald.conf is $perm, not root:herald 640"
# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
in_ct dpkg-query -W -f='${Conffiles}\n' herald | grep -q '/etc/herald/herald.conf' ||
	fail "/etc/herald/herald.conf is not a conffile"

for _ in $(seq 1 120); do
	in_ct runuser -u postgres -- pg_isready -q 2>/dev/null && break
	sleep 0.5
done
in_ct runuser -u postgres -- pg_isready -q || fail "PostgreSQL is not ready in the container"
in_ct runuser -u postgres -- createuser herald
in_ct runuser -u postgres -- createdb -O herald herald
in_ct systemctl enable --now herald.service
step_done "PostgreSQL up, role and database herald made, herald.service enabled and started"

# 5. It answers
health=
for _ in $(seq 1 100); do
	health=$(in_ct_net curl -fsS -m 2 http://127.0.0.1:8080/readyz 2>/dev/null) && break
	health=
	in_ct systemctl -q is-failed herald.service && break
	sleep 0.3
done
if [[ $health != '{"status":"ready"}' ]]; then
	in_ct systemctl status --no-pager herald.service >&2 || true
	in_ct journalctl -u herald.service --no-pager >&2 || true
	fail "/readyz did not answer ready"
fi
alive=$(in_ct_net curl -fsS -m 2 http://127.0.0.1:8080/healthz)
[[ $alive == '{"status":"ok"}' ]] || fail "/healthz answered $alive"
say "/healthz: $alive, /readyz: $health"

key=$(in_ct journalctl -u herald.service --no-pager -o cat |
	sed -n 's/.*generated admin key.*: \(hk_[0-9a-f]*\).*/\1/p' | head -n 1)
[[ -n $key ]] || fail "herald logged no generated admin key"
answer=$(in_ct_net curl -sS -m 5 -o /dev/stderr -w '%{http_code}' \
	-H "Authorization: Bearer $key" -H 'Content-Type: application/cloudevents+json' \
	-d '{"specversion":"1.0","id":"deb-check-1","source":"/deb-check","type":"com.example.check"}' \
	http://127.0.0.1:8080/v1/events 2>"$work/publish.out")
[[ $answer == 202 ]] || fail "publishing an event answered $answer: $(cat "$work/publish.out")"
say "published an event: 202 $(cat "$work/publish.out")"

# systemctl reload: the same process re-reads its file and keeps serving
pid=$(in_ct systemctl show -P MainPID herald.service)
in_ct systemctl reload herald.service
for _ in $(seq 50); do
	in_ct journalctl -u herald.service --no-pager -o cat | grep -q 'reloaded: ' && break
	sleep 0.2
done
in_ct journalctl -u herald.service --no-pager -o cat | grep -q 'reloaded: ' ||
	fail "systemctl reload: herald logged no reload"
[[ $(in_ct systemctl show -P MainPID herald.service) == "$pid" ]] ||
	fail "systemctl reload replaced the process"
in_ct_net curl -fsS -m 2 http://127.0.0.1:8080/healthz >/dev/null ||
	fail "herald does not answer after systemctl reload"
say "systemctl reload: re-read by process $pid, still serving"

in_ct systemctl stop herald.service
result=$(in_ct systemctl show -P Result herald.service)
status=$(in_ct systemctl show -P ExecMainStatus herald.service)
[[ $result == success && $status == 0 ]] ||
	fail "herald did not stop cleanly: Result=$result ExecMainStatus=$status"
in_ct journalctl -u herald.service --no-pager -o cat | grep -q '^.*stopped$' ||
	fail "herald did not log its orderly shutdown"
step_done "answered, accepted an event, stopped cleanly (status 0)"

# 6. Power off (the EXIT trap does it, and removes everything)
in_ct systemctl poweroff >/dev/null 2>&1 || true
for _ in $(seq 1 120); do
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.5
done
if kill -0 "$nspawn_pid" 2>/dev/null; then
	fail "the container did not power off"
fi
wait "$nspawn_pid" 2>/dev/null || true
nspawn_pid=
step_done "powered off"
say "the package installs and runs on Debian 12: all checks passed in $SECONDS s"
