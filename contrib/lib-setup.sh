# Set-up steps shared by the contrib scripts: packages, build, a private PostgreSQL.
# shellcheck shell=bash
#
# Source from the repository root.  Functions:
#   setup_packages             install the missing Debian packages (as root),
#                              or name them and exit 1
#   setup_configure [ARGS...]  autoreconf when needed; ./configure ARGS when
#                              there is no Makefile or ARGS changed since the
#                              last run (then also make clean)
#   setup_configure_once       ./configure (no args) only if never configured
#   setup_make [TARGETS...]    make -j$(nproc) TARGETS
#   setup_private_cluster      load the test harness's functions and stop
#                              (and remove) the PostgreSQL cluster it starts
#                              on exit, Ctrl-C and TERM included

# Everything the build, contrib/quickstart.sh, contrib/test.sh and the tests
# run, beyond what every Debian system has (bash, coreutils, sed, grep, mawk,
# findutils, diffutils, util-linux's runuser): the build tools and
# libraries, PostgreSQL (server, psql, pg_dump), jq and curl (every
# integration test), openssl (delivery.sh, tls.sh), procps (pgrep in outage.sh),
# python3 (edge.sh's raw sockets, contrib/saga), valgrind (.ci/run) and clang with its
# runtimes (contrib/fuzz.sh).
SETUP_PACKAGES=(build-essential autoconf automake libtool pkg-config
	libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libcjson-dev libpq-dev libssl-dev
	check postgresql jq curl openssl procps python3 valgrind clang
	libclang-rt-dev)
SETUP_ARGS_STAMP=build-aux/configure-args.stamp

setup_say() {
	printf '==> %s\n' "$*" >&2
}

setup_packages() {
	local p missing=()
	if ! command -v dpkg-query >/dev/null 2>&1; then
		setup_say "not a Debian system: make sure these are installed: ${SETUP_PACKAGES[*]}"
		return 0
	fi
	for p in "${SETUP_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	if [[ $(id -u) -ne 0 ]]; then
		setup_say "missing packages: ${missing[*]}"
		setup_say "install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
		exit 1
	fi
	setup_say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
}

_setup_autoreconf() {
	if [[ ! -x configure || configure.ac -nt configure || Makefile.am -nt configure ]]; then
		setup_say "autoreconf -fi"
		autoreconf -fi
	fi
}

setup_configure() {
	local args old=
	_setup_autoreconf
	args=
	[[ $# -eq 0 ]] || args=$(printf '%q ' "$@")
	[[ -f $SETUP_ARGS_STAMP ]] && old=$(<"$SETUP_ARGS_STAMP")
	if [[ -f Makefile && $args == "$old" ]]; then
		return 0
	fi
	setup_say "./configure $*"
	./configure "$@"
	if [[ -n $old || -f src/herald ]]; then
		# Objects built with other flags must not be mixed in.
		make clean >/dev/null
	fi
	printf '%s' "$args" >"$SETUP_ARGS_STAMP"
}

setup_configure_once() {
	_setup_autoreconf
	if [[ ! -f Makefile ]]; then
		setup_say "./configure"
		./configure
		printf '%s' "" >"$SETUP_ARGS_STAMP"
	fi
}

setup_make() {
	setup_say "make $*"
	make -j"$(nproc)" "$@"
}

setup_private_cluster() {
	# shellcheck disable=SC2034 # read by lib.sh
	HERALD_LIB_FUNCTIONS_ONLY=1
	# shellcheck source=tests/integration/lib.sh
	. tests/integration/lib.sh
	trap _setup_stop_cluster EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# shellcheck disable=SC2317 # called by the EXIT trap
_setup_stop_cluster() {
	if [[ -n $PG_DIR ]]; then
		pg_running && pg_stop
		rm -rf "$PG_DIR"
		PG_DIR=
	fi
}
