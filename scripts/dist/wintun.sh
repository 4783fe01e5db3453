#!/usr/bin/env bash
# Takes the official Wintun release zip (https://www.wintun.net/builds/
# wintun-0.14.1.zip, which this build environment cannot download), checks
# it, and puts the DLLs where `make dist` packages them:
#   - the zip's SHA-256 must be WINTUN_SHA256 (default: the 0.14.1 digest
#     that independent build scripts — wireguard-windows' and others' —
#     quote: 07c25618…);
#   - each DLL must carry a valid Authenticode signature by WireGuard LLC
#     (osslsigncode verify).
# Usage: scripts/dist/wintun.sh wintun-0.14.1.zip OUTDIR   → OUTDIR/{amd64,arm64}/wintun.dll
#        scripts/dist/wintun.sh --check-dll wintun.dll     → the signature check alone
set -euo pipefail
WINTUN_SHA256=${WINTUN_SHA256:-07c256185d6ee3652e09fa55c0b673e2624b565e02c4b9091c79ca7d2f24ef51}

check_dll() {
	local dll=$1 out
	if ! out=$(osslsigncode verify -in "$dll" 2>&1); then
		echo "wintun: $dll has no valid Authenticode signature; refusing it" >&2
		echo "$out" | tail -5 >&2
		return 1
	fi
	if ! grep -q "Signature verification: ok" <<<"$out" || ! grep -q "WireGuard LLC" <<<"$out"; then
		echo "wintun: $dll is not signed by WireGuard LLC; refusing it" >&2
		return 1
	fi
}

if [ "${1:-}" = --check-dll ]; then
	check_dll "$2"
	exit
fi
[ $# -eq 2 ] || { echo "usage: $0 wintun-0.14.1.zip OUTDIR | --check-dll DLL" >&2; exit 2; }
zip=$1 out=$2
sum=$(sha256sum "$zip" | cut -d' ' -f1)
if [ "$sum" != "$WINTUN_SHA256" ]; then
	echo "wintun: $zip has SHA-256 $sum, want $WINTUN_SHA256 (the official wintun-0.14.1.zip); refusing it" >&2
	exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m zipfile -e "$zip" "$work"
for arch in amd64 arm64; do
	dll=$work/wintun/bin/$arch/wintun.dll
	[ -f "$dll" ] || { echo "wintun: $zip lacks wintun/bin/$arch/wintun.dll" >&2; exit 1; }
	check_dll "$dll"
	mkdir -p "$out/$arch"
	cp "$dll" "$out/$arch/wintun.dll"
done
echo "wintun: $zip verified (SHA-256 and Authenticode); DLLs in $out"
