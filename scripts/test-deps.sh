#!/usr/bin/env bash
# Lists, and with `install` installs, the Debian packages the test suites
# need: network namespaces and WireGuard tools for the end-to-end tests,
# Chromium for the admin page, PostgreSQL for the store suite and the
# replica test, Wine and mingw-w64 for the Windows tests, msitools/wixl and
# dpkg for the packages, Mono's C# compiler for install.ps1's C# block. Shared by .ci/run and `make test`.
#
#   scripts/test-deps.sh missing   print the missing packages (one line)
#   scripts/test-deps.sh install   apt-get install them (needs root and apt)
set -euo pipefail

need=()
command -v make >/dev/null || need+=(make)
command -v gcc  >/dev/null || need+=(gcc)                      # cgo for -race
command -v ip   >/dev/null || need+=(iproute2)                 # ip netns, veth, bridge
command -v ping >/dev/null || need+=(iputils-ping)
command -v curl >/dev/null || need+=(curl ca-certificates)     # the installer one-liner
command -v wg   >/dev/null || need+=(wireguard-tools)          # `wg show` against our UAPI socket
command -v nft  >/dev/null || need+=(nftables)                 # NAT routers in the namespace tests
command -v service >/dev/null || need+=(init-system-helpers)   # the SysV install fallback test
command -v unshare >/dev/null || need+=(util-linux)
command -v nc >/dev/null || need+=(netcat-openbsd)           # the access-policy test's TCP ports
command -v tcpdump >/dev/null || need+=(tcpdump)               # what a peer relay sees of the packets it forwards
{ command -v ssh && command -v scp && command -v sftp && command -v ssh-keygen; } >/dev/null || need+=(openssh-client) # OpenSSH's client against the agents' SSH server
command -v pgrep >/dev/null || need+=(procps)                  # a revoked session's process, gone
command -v systemd-creds >/dev/null || need+=(systemd)        # the sealed secrets' systemd credential
command -v openssl >/dev/null || need+=(openssl)               # install.sh verifies release signatures with it
command -v busybox >/dev/null || need+=(busybox)               # install.sh under busybox ash
command -v promtool >/dev/null || need+=(prometheus)            # promtool check rules on docs/monitoring
{ command -v wine64 >/dev/null || [ -x /usr/lib/wine/wine64 ]; } || need+=(wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64-win32)
command -v chromium >/dev/null || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v wixl >/dev/null || need+=(wixl msitools)
command -v osslsigncode >/dev/null || need+=(osslsigncode)
{ command -v mcs >/dev/null && [ -e /usr/lib/mono/4.5/System.Numerics.dll ]; } || need+=(mono-mcs mono-runtime libmono-system-numerics4.0-cil) # install.ps1's C#

case "${1:-missing}" in
missing)
	echo "${need[*]:-}"
	;;
install)
	[ "${#need[@]}" -eq 0 ] && exit 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "test-deps: cannot install ${need[*]} (needs root and apt-get)" >&2
		exit 1
	fi
	# A fresh machine often runs an unattended upgrade at first boot: wait
	# for its dpkg lock (up to 5 minutes) instead of failing at once.
	echo "test-deps: installing ${need[*]} (waits up to 5 minutes for another apt to finish)"
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	;;
*)
	echo "usage: $0 missing|install" >&2
	exit 2
	;;
esac
