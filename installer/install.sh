#!/bin/sh
# Wirefleet agent installer for Linux and macOS.
#
#   curl -fsSL https://SERVER/install.sh | sudo sh -s -- --server https://SERVER --token wfe_… [--pin sha256/…]
#
# Downloads the agent for this OS and architecture from the server, verifies
# the release chain before running anything — the signing-key list against
# the release root key (--release-key, from the one-liner), the channel's
# manifest against a live signing key, the download against the manifest's
# SHA-256 — with OpenSSL 3's Ed25519 (minisign's format), installs it,
# enrolls this machine, and installs and starts the system service. Running
# it again upgrades the binary and keeps the enrollment.
#
# Options:
#   --server URL      the Wirefleet server (required)
#   --token wfe_…     enrollment token (required unless already enrolled)
#   --pin sha256/…    the server's TLS key pin (self-signed servers)
#   --release-key RW… the release root public key (minisign); default: the server's root.pub, with a warning
#   --name NAME       machine name (default: from the hostname)
#   --channel NAME    release channel to install from and follow (default: stable; stored, so updates come from it)
#   --prefix DIR      where to put the binary (default: /usr/local/bin)
#   --state-dir DIR   agent state directory (default: the OS default)
#   --no-service      install and enroll only; do not install the service
#   --uninstall       stop and remove the service, leave the fleet, remove the binary
set -eu

SERVER="" TOKEN="" PIN="" RELEASE_KEY="" NAME="" CHANNEL="stable" CHANNEL_SET="" PREFIX="/usr/local/bin" STATE_DIR="" NO_SERVICE="" UNINSTALL=""

say() { printf 'wirefleet: %s\n' "$*"; }
die() { printf 'wirefleet install: error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--server) SERVER="${2:-}"; shift 2 ;;
	--token) TOKEN="${2:-}"; shift 2 ;;
	--pin) PIN="${2:-}"; shift 2 ;;
	--release-key) RELEASE_KEY="${2:-}"; shift 2 ;;
	--name) NAME="${2:-}"; shift 2 ;;
	--channel) CHANNEL="${2:-}"; CHANNEL_SET=1; shift 2 ;;
	--prefix) PREFIX="${2:-}"; shift 2 ;;
	--state-dir) STATE_DIR="${2:-}"; shift 2 ;;
	--no-service) NO_SERVICE=1; shift ;;
	--uninstall) UNINSTALL=1; shift ;;
	-h|--help) sed -n '2,27p' "$0" 2>/dev/null || true; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "this installer must run as root: pipe it to 'sudo sh -s -- …'"

AGENT="$PREFIX/wirefleet-agent"
STATE_ARGS=""
[ -n "$STATE_DIR" ] && STATE_ARGS="--state-dir $STATE_DIR"

if [ -n "$UNINSTALL" ]; then
	if [ -x "$AGENT" ]; then
		# shellcheck disable=SC2086
		"$AGENT" uninstall $STATE_ARGS >/dev/null 2>&1 || true
		# shellcheck disable=SC2086
		"$AGENT" logout $STATE_ARGS || say "could not tell the server; ask an admin to revoke this machine"
		rm -f "$AGENT"
	fi
	say "uninstalled"
	exit 0
fi

[ -n "$SERVER" ] || die "--server is required"
case "$SERVER" in https://*|http://*) ;; *) die "--server must be a URL such as https://wirefleet.example.com:8443" ;; esac
SERVER="${SERVER%/}"

case "$(uname -s)" in
Linux) OS=linux ;;
Darwin) OS=darwin ;;
*) die "unsupported operating system $(uname -s); use the MSI on Windows" ;;
esac
case "$(uname -m)" in
x86_64|amd64) ARCH=amd64 ;;
aarch64|arm64) ARCH=arm64 ;;
*) die "unsupported architecture $(uname -m) (amd64 and arm64 are built)" ;;
esac

command -v curl >/dev/null 2>&1 || die "curl is required"
if command -v sha256sum >/dev/null 2>&1; then
	sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
	sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
	die "sha256sum or shasum is required"
fi

# With a pin, curl trusts exactly the server's key (checked even with -k).
fetch() {
	if [ -n "$PIN" ]; then
		curl -fsSL --retry 3 -k --pinnedpubkey "sha256//${PIN#sha256/}" "$@"
	else
		curl -fsSL --retry 3 "$@"
	fi
}
explain() {
	case "$1" in
	6|7) die "cannot reach $SERVER (DNS or connection failed); is the server running and the URL right?" ;;
	28) die "timed out talking to $SERVER" ;;
	35|60) die "TLS with $SERVER failed; for a self-signed server pass the --pin printed by 'wirefleet-server serve'" ;;
	90) die "the server's TLS key does not match --pin $PIN: wrong server, or a man in the middle" ;;
	22) die "$SERVER answered with an error for $2" ;;
	*) die "download of $2 failed (curl exit $1)" ;;
	esac
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- Signatures (minisign's format, Ed25519, checked with OpenSSL 3) ---
# A public key is base64("Ed" | key id (8) | key (32)); a signature file is
# an untrusted comment, base64(algorithm "Ed" or "ED" | key id | signature
# (64)), "trusted comment: TEXT", and base64(the key's signature of the
# signature and TEXT). "ED" signs the BLAKE2b-512 of the file, "Ed" the file.
openssl pkeyutl -help 2>&1 | grep -q -- -rawin ||
	die "cannot verify the release's signatures: OpenSSL 3 (with pkeyutl -rawin, for Ed25519) is needed; install it (apt-get install openssl, apk add openssl, brew install openssl@3) and run this again; nothing was installed"
b64dec() { printf '%s' "$1" | openssl base64 -d -A > "$2" 2>/dev/null; }
hexof() { od -An -v -tx1 | tr -d ' \n'; }
size() { wc -c < "$1" | tr -d ' '; }
# verify_sig FILE SIGFILE PUBKEY: the signature is by that key and good.
verify_sig() {
	v="$TMP/verify"
	rm -rf "$v" && mkdir "$v" || return 1
	b64dec "$3" "$v/pk" && [ "$(size "$v/pk")" = 42 ] || return 1
	case "$(sed -n 3p "$2")" in "trusted comment: "*) ;; *) return 1 ;; esac
	comment=$(sed -n 3p "$2") && comment=${comment#trusted comment: }
	b64dec "$(sed -n 2p "$2")" "$v/sig" && [ "$(size "$v/sig")" = 74 ] || return 1
	b64dec "$(sed -n 4p "$2")" "$v/global" && [ "$(size "$v/global")" = 64 ] || return 1
	[ "$(dd if="$v/sig" bs=1 skip=2 count=8 2>/dev/null | hexof)" = "$(dd if="$v/pk" bs=1 skip=2 count=8 2>/dev/null | hexof)" ] || return 1
	{ printf '\060\052\060\005\006\003\053\145\160\003\041\000'; tail -c 32 "$v/pk"; } > "$v/pk.der"
	tail -c 64 "$v/sig" > "$v/s64"
	case "$(dd if="$v/sig" bs=1 count=2 2>/dev/null | hexof)" in
	4564) cp "$1" "$v/msg" ;;
	4544) openssl dgst -blake2b512 -binary "$1" > "$v/msg" || return 1 ;;
	*) return 1 ;;
	esac
	openssl pkeyutl -verify -pubin -keyform DER -inkey "$v/pk.der" -rawin -in "$v/msg" -sigfile "$v/s64" >/dev/null 2>&1 || return 1
	{ cat "$v/s64"; printf '%s' "$comment"; } > "$v/gmsg"
	openssl pkeyutl -verify -pubin -keyform DER -inkey "$v/pk.der" -rawin -in "$v/gmsg" -sigfile "$v/global" >/dev/null 2>&1
}
# json_str FILE KEY: the first "KEY": "value" in an indented JSON file.
json_str() { sed -n "s/^ *\"$2\": *\"\([^\"]*\)\".*/\1/p" "$1" | head -n 1; }
NOW=$(date -u +%Y-%m-%dT%H:%M:%S)
later() { [ "$(expr "$(printf '%.19s' "$1")" \> "$NOW")" = 1 ]; }

if [ -z "$RELEASE_KEY" ]; then
	fetch -o "$TMP/root.pub" "$SERVER/releases/root.pub" || explain $? "the release root key"
	RELEASE_KEY=$(tail -n 1 "$TMP/root.pub")
	say "warning: no --release-key given: trusting the release root key the server sends ($RELEASE_KEY); pass the one-liner's --release-key to check it independently"
fi
fetch -o "$TMP/keys.json" "$SERVER/releases/keys.json" || explain $? "the signing-key list"
fetch -o "$TMP/keys.json.minisig" "$SERVER/releases/keys.json.minisig" || explain $? "the signing-key list's signature"
verify_sig "$TMP/keys.json" "$TMP/keys.json.minisig" "$RELEASE_KEY" ||
	die "the signing-key list (keys.json) is not signed by the release root key $RELEASE_KEY: a wrong server, a tampered file, or a root key the server replaced; nothing was installed"
later "$(json_str "$TMP/keys.json" expires)" || die "the signing-key list expired on $(json_str "$TMP/keys.json" expires): the admin must sign a new one (releases rotate); nothing was installed"
fetch -o "$TMP/manifest.json" "$SERVER/releases/channel/$CHANNEL/manifest.json" || explain $? "the $CHANNEL release manifest"
fetch -o "$TMP/manifest.json.minisig" "$SERVER/releases/channel/$CHANNEL/manifest.json.minisig" || explain $? "the manifest's signature"
# Each key with its expiry: the lines alternate "public_key" and "not_after".
sed -n -e 's/^ *"public_key": *"\([^"]*\)".*/\1/p' -e 's/^ *"not_after": *"\([^"]*\)".*/\1/p' "$TMP/keys.json" > "$TMP/keys"
SIGNED=""
while read -r KEY && read -r NOT_AFTER; do
	KEY=${KEY##*\\n} # the key's line after its comment
	later "$NOT_AFTER" || continue
	if verify_sig "$TMP/manifest.json" "$TMP/manifest.json.minisig" "$KEY"; then SIGNED=1; break; fi
done < "$TMP/keys"
[ -n "$SIGNED" ] || die "the $CHANNEL manifest is not signed by a live release signing key: a tampered manifest, or one signed by a retired key; nothing was installed"
later "$(json_str "$TMP/manifest.json" expires)" || die "the $CHANNEL manifest expired on $(json_str "$TMP/manifest.json" expires): the admin must publish again; nothing was installed"
# The signed SHA-256 of this OS/arch's build ("os", "arch", … "sha256" in order).
SIGNED_SUM=$(awk -v os="$OS" -v arch="$ARCH" '
	/"os":/ { o = $0; sub(/.*"os": *"/, "", o); sub(/".*/, "", o) }
	/"arch":/ { a = $0; sub(/.*"arch": *"/, "", a); sub(/".*/, "", a) }
	/"sha256":/ { if (o == os && a == arch) { s = $0; sub(/.*"sha256": *"/, "", s); sub(/".*/, "", s); print s; exit } }' "$TMP/manifest.json")

say "looking up the $CHANNEL release for $OS/$ARCH"
fetch -o "$TMP/index" "$SERVER/releases/channel/$CHANNEL/$OS/$ARCH" || explain $? "the release index"
read -r VERSION SUM SIZE FILE < "$TMP/index" || die "the release index is malformed"
[ -n "$FILE" ] || die "the release index is malformed"
[ -n "$SIGNED_SUM" ] && [ "$SUM" = "$SIGNED_SUM" ] && [ "$VERSION" = "$(json_str "$TMP/manifest.json" version)" ] ||
	die "the release index ($VERSION $SUM) does not match the signed $CHANNEL manifest ($(json_str "$TMP/manifest.json" version) ${SIGNED_SUM:-no $OS/$ARCH build}); nothing was installed"

if [ -x "$AGENT" ] && "$AGENT" --version 2>/dev/null | grep -q " $VERSION\$"; then
	say "wirefleet-agent $VERSION is already installed"
else
	say "downloading wirefleet-agent $VERSION ($SIZE bytes)"
	fetch -C - -o "$TMP/wirefleet-agent" "$SERVER/releases/files/$FILE" || explain $? "the agent binary"
	GOT=$(sha256 "$TMP/wirefleet-agent")
	[ "$GOT" = "$SUM" ] || die "SHA-256 mismatch: the download does not match the signed release manifest (got $GOT, want $SUM); nothing was installed"
	chmod 0755 "$TMP/wirefleet-agent"
	"$TMP/wirefleet-agent" self-test >/dev/null || die "the downloaded agent does not run on this machine"
	mkdir -p "$PREFIX"
	WAS_RUNNING=""
	if [ -x "$AGENT" ] && [ -z "$NO_SERVICE" ]; then
		# shellcheck disable=SC2086
		"$AGENT" stop $STATE_ARGS >/dev/null 2>&1 && WAS_RUNNING=1
	fi
	mv -f "$TMP/wirefleet-agent" "$AGENT"
	say "installed $AGENT"
	if [ -n "$WAS_RUNNING" ]; then
		# shellcheck disable=SC2086
		"$AGENT" start $STATE_ARGS >/dev/null 2>&1 || true
	fi
fi

# shellcheck disable=SC2086
if "$AGENT" status --json $STATE_ARGS 2>/dev/null | grep -q '"enrolled": true'; then
	say "this machine is already enrolled; keeping its enrollment"
	if [ -n "$CHANNEL_SET" ]; then
		# shellcheck disable=SC2086
		"$AGENT" channel "$CHANNEL" $STATE_ARGS >/dev/null || die "could not store the release channel $CHANNEL"
		say "following the $CHANNEL channel"
	fi
else
	[ -n "$TOKEN" ] || die "--token is required to enroll"
	set -- enroll --server "$SERVER" --token "$TOKEN"
	[ -n "$PIN" ] && set -- "$@" --pin "$PIN"
	[ -n "$NAME" ] && set -- "$@" --name "$NAME"
	[ -n "$CHANNEL_SET" ] && set -- "$@" --channel "$CHANNEL"
	[ -n "$STATE_DIR" ] && set -- "$@" --state-dir "$STATE_DIR"
	"$AGENT" "$@" || die "enrollment failed (see the message above: an expired, used or revoked token needs a new one from the admin page)"
fi

if [ -n "$NO_SERVICE" ]; then
	say "done; start the agent with: $AGENT run${STATE_DIR:+ --state-dir $STATE_DIR}"
	exit 0
fi
# `install` says which service manager runs the agent and what restarts it
# after it exits (a self-update ends with an exit); on SysV init, which
# restarts nothing, the init script runs it under `wirefleet-agent supervise`.
# shellcheck disable=SC2086
if OUT=$("$AGENT" install $STATE_ARGS 2>&1); then
	say "$OUT"
	say "check it with: wirefleet-agent status"
elif "$AGENT" restart $STATE_ARGS >/dev/null 2>&1; then
	say "service restarted with the new version"
else
	die "could not install or start the service: $OUT
run the agent under your init system with: $AGENT supervise -- run${STATE_DIR:+ --state-dir $STATE_DIR}"
fi
