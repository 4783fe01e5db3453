#!/usr/bin/env bash
# `make test`: what CI runs. Installs what the suites need when it can (root
# with apt), runs vet for every OS, the Go test suite with the race detector,
# the store suite and the replica test on PostgreSQL, and the Windows tests
# under Wine; fails if the run left files in the source tree; and ends with a
# line naming every suite that could not run here and why.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -n "$(scripts/test-deps.sh missing)" ]; then
	scripts/test-deps.sh install || echo "test: could not install every test dependency; the summary names what is skipped"
fi

skipped=()
have() { command -v "$1" >/dev/null; }
if [ "$(id -u)" != 0 ] || ! have ip || ! have ping || ! have wg || [ ! -e /dev/net/tun ]; then
	skipped+=("namespace end-to-end tests (need root, iproute2, ping, wireguard-tools and /dev/net/tun)")
fi
have chromium || skipped+=("admin page in Chromium (needs chromium)")
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || skipped+=("store suite and replica test on PostgreSQL (need postgresql)")
{ have wine64 || [ -x /usr/lib/wine/wine64 ]; } && have x86_64-w64-mingw32-gcc || skipped+=("Windows tests under Wine (need wine64 and gcc-mingw-w64-x86-64-win32)")
have wixl || skipped+=("MSI build and table checks (need wixl and msitools)")
have mcs && have mono || skipped+=("install.ps1's TLS pinning and release verification (need mono-mcs)")
{ [ "$(id -u)" = 0 ] && have dpkg; } || skipped+=("deb install/upgrade/remove (needs root and dpkg)")

untracked() { git ls-files --others --exclude-standard 2>/dev/null | sort; }
before=$(mktemp); untracked > "$before"
trap 'rm -f "$before"' EXIT

status=0
step() { echo "=== $*"; "$@" || status=1; }
step make --no-print-directory vet
step make --no-print-directory unit
step make --no-print-directory wine

# A test that writes into the source tree (a mangled database URL once did)
# is a bug: the tree must be as clean after the run as before it.
left=$(comm -13 "$before" <(untracked))
if [ -n "$left" ]; then
	echo "test: FAIL — the test run left files in the source tree:"
	echo "$left" | sed 's/^/  /'
	status=1
fi

echo
if [ "${#skipped[@]}" -gt 0 ]; then
	echo "test: skipped here (run as root on Debian, or via .ci/run, to include them):"
	printf '  - %s\n' "${skipped[@]}"
else
	echo "test: every suite ran (namespaces, Chromium, PostgreSQL, Wine, packages)"
fi
[ "$status" = 0 ] && echo "test: PASS" || echo "test: FAIL"
exit "$status"
