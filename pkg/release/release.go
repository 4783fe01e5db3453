// Package release defines Wirefleet's signed releases and verifies them.
//
// Two levels of ed25519 keys, as Tailscale's distsign does: an offline root
// key signs a short list of release-signing keys (keys.json); a signing
// key signs each channel's manifest and each binary. Agents pin the root
// public key, so a signing key can be rotated — publish a new keys.json —
// without reinstalling any agent. Signatures are minisign's format, which
// github.com/minio/selfupdate's Verifier also reads.
package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"aead.dev/minisign"
)

// KeySet is keys.json: the signing keys the root currently vouches for.
type KeySet struct {
	Keys    []SigningKey `json:"keys"`
	Expires time.Time    `json:"expires"`
	// Issued is when the root signed it: a server refuses a list issued
	// before the one it holds, which would bring back retired keys.
	// Lists from before it existed have none (the zero time).
	Issued time.Time `json:"issued,omitzero"`
}

// SigningKey is one release-signing public key (minisign text form).
type SigningKey struct {
	PublicKey string    `json:"public_key"`
	NotAfter  time.Time `json:"not_after"`
}

// Artifact is one binary of a release.
type Artifact struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	File      string `json:"file"` // name under /releases/files/
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	Signature string `json:"signature"` // minisign signature of the file by a signing key
}

// Manifest is a channel's current release.
type Manifest struct {
	Channel   string     `json:"channel"`
	Version   string     `json:"version"`
	Published time.Time  `json:"published"`
	Expires   time.Time  `json:"expires"`
	Rollout   float64    `json:"rollout"` // percent of machines offered it, by stable hash of machine ID
	Paused    bool       `json:"paused,omitempty"`
	Notes     string     `json:"notes,omitempty"`
	Artifacts []Artifact `json:"artifacts"`
}

// Artifact returns the artifact for an OS and architecture.
func (m Manifest) Artifact(goos, goarch string) (Artifact, bool) {
	for _, a := range m.Artifacts {
		if a.OS == goos && a.Arch == goarch {
			return a, true
		}
	}
	return Artifact{}, false
}

// Errors a verifier can return; callers refuse the update on any of them.
var (
	ErrSignature = errors.New("release: bad signature")
	ErrExpired   = errors.New("release: expired")
	ErrDigest    = errors.New("release: SHA-256 mismatch")
)

// ParsePublicKey reads a minisign public key (the base64 line of a .pub file).
func ParsePublicKey(s string) (minisign.PublicKey, error) {
	var pk minisign.PublicKey
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 { // a whole .pub file
		s = s[i+1:]
	}
	if err := pk.UnmarshalText([]byte(s)); err != nil {
		return pk, fmt.Errorf("release: public key: %w", err)
	}
	return pk, nil
}

// VerifyKeySet checks keys.json against the pinned root key and its expiry.
func VerifyKeySet(root minisign.PublicKey, body, sig []byte, now time.Time) (KeySet, error) {
	var ks KeySet
	if !minisign.Verify(root, body, sig) {
		return ks, fmt.Errorf("%w: keys.json is not signed by the pinned root key", ErrSignature)
	}
	if err := json.Unmarshal(body, &ks); err != nil {
		return ks, fmt.Errorf("release: keys.json: %w", err)
	}
	if !now.Before(ks.Expires) {
		return ks, fmt.Errorf("%w: keys.json expired at %s", ErrExpired, ks.Expires.Format(time.RFC3339))
	}
	return ks, nil
}

// verifyBy checks sig over body with any live key of ks.
func verifyBy(ks KeySet, body, sig []byte, now time.Time) error {
	for _, k := range ks.Keys {
		if !now.Before(k.NotAfter) {
			continue
		}
		pk, err := ParsePublicKey(k.PublicKey)
		if err != nil {
			continue
		}
		if minisign.Verify(pk, body, sig) {
			return nil
		}
	}
	return ErrSignature
}

// VerifyManifest checks a manifest's signature against the key set and its
// expiry. An expired manifest blocks updates, never the agent (Orbit #22687).
func VerifyManifest(ks KeySet, body, sig []byte, now time.Time) (Manifest, error) {
	var m Manifest
	if err := verifyBy(ks, body, sig, now); err != nil {
		return m, fmt.Errorf("%w: manifest is not signed by a current signing key", ErrSignature)
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return m, fmt.Errorf("release: manifest: %w", err)
	}
	if !now.Before(m.Expires) {
		return m, fmt.Errorf("%w: manifest expired at %s", ErrExpired, m.Expires.Format(time.RFC3339))
	}
	return m, nil
}

// VerifyArtifact checks a downloaded binary's size, SHA-256 and signature.
func VerifyArtifact(ks KeySet, a Artifact, bin []byte, now time.Time) error {
	if int64(len(bin)) != a.Size {
		return fmt.Errorf("%w: %d bytes, manifest says %d", ErrDigest, len(bin), a.Size)
	}
	sum := sha256.Sum256(bin)
	if hex.EncodeToString(sum[:]) != a.SHA256 {
		return fmt.Errorf("%w: %s", ErrDigest, a.File)
	}
	if err := verifyBy(ks, bin, []byte(a.Signature), now); err != nil {
		return fmt.Errorf("%w: %s is not signed by a current signing key", ErrSignature, a.File)
	}
	return nil
}
