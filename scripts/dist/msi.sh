#!/usr/bin/env bash
# Builds the agent's MSI with Debian's wixl, then fixes with msibuild what
# wixl cannot express (see wix/wirefleet-agent.wxs):
#   - custom action types: EnrollRollback runs in the rollback script,
#     EnrollCommit in the commit script, Enroll/EnrollForce hide their
#     target (the token) from logs;
#   - RemoveExistingProducts right after InstallInitialize (before
#     InstallFiles, ICE63), so a major upgrade removes the old product in
#     the same transaction;
#   - SERVER, TOKEN, PIN, FORCE, UNENROLL and NOSTART are Secure properties;
#   - StartServices is skipped with NOSTART=1.
#
# Usage: scripts/dist/msi.sh AGENT.exe WINTUN.dll|none VERSION OUT.msi [amd64|arm64]
# The exe and the DLL must be built for ARCH (default amd64; checked in
# their PE headers). wixl knows only x86 and x64: an arm64 package is built
# as x64 (64-bit components, ProgramFiles64Folder) and its summary's
# Template is set to Arm64, which is what makes it an Arm64 package for
# Windows Installer 5.
# The MSI's ProductVersion is VERSION's MAJOR.MINOR.PATCH; pre-release and
# dev builds add a fourth field, MSI_BUILD (default: the commit count), so
# builds are told apart in Programs and Features.
set -euo pipefail
[ $# -eq 4 ] || [ $# -eq 5 ] || { echo "usage: $0 AGENT.exe WINTUN.dll|none VERSION OUT.msi [amd64|arm64]" >&2; exit 2; }
exe=$1 dll=$2 version=$3 out=$4 arch=${5:-amd64}
case $arch in
amd64) machine=8664 template="x64;1033" ;;
arm64) machine=aa64 template="Arm64;1033" ;;
*) echo "msi: architecture $arch: want amd64 or arm64" >&2; exit 2 ;;
esac
# pe_machine prints a PE file's machine field (hex): the uint16 after the
# "PE\0\0" signature, whose offset is at 0x3c.
pe_machine() {
	local off
	off=$(od -An -tu4 -j60 -N4 "$1" 2>/dev/null | tr -d ' ')
	[ -n "$off" ] || { echo none; return; }
	[ "$(od -An -c -j"$off" -N2 "$1" 2>/dev/null | tr -d ' ')" = PE ] || { echo none; return; }
	od -An -tx2 -j$((off + 4)) -N2 "$1" | tr -d ' '
}
for f in "$exe" $([ "$dll" != none ] && echo "$dll"); do
	m=$(pe_machine "$f")
	[ "$m" = "$machine" ] || { echo "msi: $f is not a windows/$arch PE file (machine $m, want $machine)" >&2; exit 1; }
done
root=$(cd "$(dirname "$0")/../.." && pwd)

core=${version%%[-+]*}
if ! [[ $core =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || (( BASH_REMATCH[1] > 255 || BASH_REMATCH[2] > 255 || BASH_REMATCH[3] > 65535 )); then
	echo "msi: version $version: want MAJOR.MINOR.PATCH within 255.255.65535" >&2
	exit 1
fi
msiver=$core
if [ "$core" != "$version" ]; then
	build=${MSI_BUILD:-$(git -C "$root" rev-list --count HEAD 2>/dev/null || echo 0)}
	msiver=$core.$((build % 65536))
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$exe" "$work/wirefleet-agent.exe"
cp "$root/wix/wirefleet-agent.wxs" "$work/"
wintun=no
if [ "$dll" != none ]; then
	cp "$dll" "$work/wintun.dll"
	wintun=yes
fi
# wixl resolves sources relative to the working directory.
(cd "$work" && wixl -a x64 -D Version="$msiver" -D Wintun=$wintun -o agent.msi wirefleet-agent.wxs)
msi=$work/agent.msi

q() { msibuild "$msi" -q "$1"; }
settype() { q "UPDATE \`CustomAction\` SET \`Type\` = $2 WHERE \`Action\` = '$1'"; }
# 18 exe from an installed file, +1024 in script (deferred), +256 rollback,
# +512 commit, +2048 no impersonation, +64 ignore the exit code,
# +8192 hide the target (command line) from logs.
settype EnrollRollback $((18 + 1024 + 256 + 2048 + 64))
settype Enroll $((18 + 1024 + 2048 + 8192))
settype EnrollForce $((18 + 1024 + 2048 + 8192))
settype EnrollCommit $((18 + 1024 + 512 + 2048 + 64))
# wixl ignores Schedule and After for these: every position is set here.
seq() { q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = $2 WHERE \`Action\` = '$1'"; }
seq RemoveExistingProducts 1501 # InstallInitialize 1500
seq RemoveState 1901            # StopServices 1900: the exe is still there
seq RemoveStateUnenroll 1902
seq EnrollRollback 4001 # InstallFiles 4000
seq Enroll 4002
seq EnrollForce 4003
seq EnrollCommit 4004
seq Recovery 5801 # InstallServices 5800, StartServices 5900: enrolled before the start
q "UPDATE \`Property\` SET \`Value\` = 'WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;SAMEVERSIONDETECTED;SERVER;TOKEN;PIN;FORCE;UNENROLL;NOSTART' WHERE \`Property\` = 'SecureCustomProperties'"
# NOSTART=1 installs the service without starting it (images that enroll
# later; Wine, whose service manager cannot run it).
q "UPDATE \`InstallExecuteSequence\` SET \`Condition\` = 'VersionNT AND NOT NOSTART' WHERE \`Action\` = 'StartServices'"
if [ "$arch" = arm64 ]; then
	msibuild "$msi" -s "Wirefleet agent" "Wirefleet" "$template" "{$(tr a-z A-Z </proc/sys/kernel/random/uuid)}"
fi
mv "$msi" "$out"
echo "msi: $out ($arch, ProductVersion $msiver, wintun.dll: $wintun)"
