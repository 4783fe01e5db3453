// Package secret mints and hashes the high-entropy secrets Wirefleet hands
// out: enrollment tokens, machine credentials and admin API keys.
//
// Each secret is 256 random bits, so it is looked up by its SHA-256 — a slow
// password hash would add tens of milliseconds to every request (as
// headscale's bcrypt'd API keys do) and buy nothing against a secret that
// cannot be guessed. The server stores only the hash.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// encoding is lowercase RFC 4648 base32 without padding: case-insensitive to
// type, no ambiguous symbols, safe in URLs and shells.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// bodyLen is the length of the encoded 32-byte body.
var bodyLen = encoding.EncodedLen(32)

// PrefixLen is how much of a secret is kept in clear to recognise it in
// listings: the kind prefix plus 6 characters (30 bits, far from enough to
// help an attacker).
const PrefixLen = 4 + 6

// New returns a fresh secret with the given kind prefix ("wfe_", "wfm_",
// "wfa_") and its hash.
func New(prefix string) (secret, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("secret: crypto/rand failed: " + err.Error()) // never happens on supported OSes
	}
	secret = prefix + encoding.EncodeToString(b[:])
	return secret, Hash(secret)
}

// Hash returns the hex SHA-256 of s, the form stored and looked up.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// WellFormed reports whether s looks like a secret of the given kind, so
// that garbage is rejected before touching the database.
func WellFormed(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+bodyLen {
		return false
	}
	_, err := encoding.DecodeString(s[len(prefix):])
	return err == nil
}

// Display returns the part of a secret that is safe to show.
func Display(s string) string {
	if len(s) < PrefixLen {
		return s
	}
	return s[:PrefixLen]
}
