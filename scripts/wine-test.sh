#!/usr/bin/env bash
# Runs the agent's Windows-only tests as real Windows binaries under Debian's
# Wine 8. Go's Windows runtime needs ProcessPrng from bcryptprimitives.dll,
# which Wine 8 lacks; a ten-line shim built with mingw-w64 forwards it to
# RtlGenRandom (SystemFunction036).
#
# Usage: scripts/wine-test.sh [packages…]   (default: keystore, secdir and update)
# Needs: wine64, gcc-mingw-w64-x86-64-win32 (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

WINE=${WINE:-$(command -v wine64 || echo /usr/lib/wine/wine64)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree=;mshtml="

cat > "$work/shim.c" <<'C'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return SystemFunction036(data, (ULONG)len);
}
C
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" "$work/shim.c" -ladvapi32
"$WINE" wineboot -i >/dev/null 2>&1 || true
cp "$work/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

cat > "$work/exec" <<SH
#!/bin/sh
exec "$WINE" "\$@"
SH
chmod +x "$work/exec"

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./agent/internal/keystore/ ./agent/internal/secdir/ ./agent/internal/update/ ./agent/internal/dnsconfig/)
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -count=1 -exec "$work/exec" -v "${pkgs[@]}"
