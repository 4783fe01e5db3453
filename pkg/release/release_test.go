package release

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func setup(t *testing.T) (dir string, root string, s *Signer) {
	dir = t.TempDir()
	if err := Keygen(dir, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := Keygen(dir, "", time.Hour); err == nil {
		t.Fatal("keygen replaced existing keys")
	}
	root, err := RootPublicKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err = LoadSigner(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, SigningKeyFile))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("signing key mode %v", st.Mode().Perm())
	}
	return dir, root, s
}

func TestPasswordProtectedKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt key sealing takes seconds; skipped with -short")
	}
	dir := t.TempDir()
	if err := Keygen(dir, "pw", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(dir, "wrong"); err == nil {
		t.Fatal("signing key opened with a wrong password")
	}
	if _, err := LoadSigner(dir, "pw"); err != nil {
		t.Fatal(err)
	}
}

func keyset(t *testing.T, dir, root string) KeySet {
	t.Helper()
	pk, _ := ParsePublicKey(root)
	body, _ := os.ReadFile(filepath.Join(dir, KeySetFile))
	sig, _ := os.ReadFile(filepath.Join(dir, KeySetFile+SigSuffix))
	ks, err := VerifyKeySet(pk, body, sig, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestSignedReleaseVerifiesAndTamperingIsCaught(t *testing.T) {
	dir, root, s := setup(t)
	ks := keyset(t, dir, root)
	bin := []byte("agent binary v2")
	a := s.Artifact("linux", "amd64", "wirefleet-agent-2-linux-amd64", bin)
	m := Manifest{Channel: "stable", Version: "2.0.0", Published: time.Now(), Expires: time.Now().Add(time.Hour), Rollout: 100, Artifacts: []Artifact{a}}
	body, sig, err := s.Manifest(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyManifest(ks, body, sig, time.Now())
	if err != nil || got.Version != "2.0.0" {
		t.Fatalf("manifest: %+v %v", got, err)
	}
	if err := VerifyArtifact(ks, a, bin, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Every tampering is refused with a distinct reason.
	if err := VerifyArtifact(ks, a, []byte("agent binary v3"), time.Now()); !errors.Is(err, ErrDigest) {
		t.Fatalf("other binary: %v", err)
	}
	forged := a
	forged.SHA256, forged.Size = s.Artifact("", "", "", []byte("evil")).SHA256, 4
	forged.Signature = a.Signature
	if err := VerifyArtifact(ks, forged, []byte("evil"), time.Now()); !errors.Is(err, ErrSignature) {
		t.Fatalf("binary with a wrong signature: %v", err)
	}
	if _, err := VerifyManifest(ks, bytes.Replace(body, []byte("2.0.0"), []byte("9.0.0"), 1), sig, time.Now()); !errors.Is(err, ErrSignature) {
		t.Fatalf("edited manifest: %v", err)
	}
	if _, err := VerifyManifest(ks, body, sig, time.Now().Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired manifest: %v", err)
	}
	// A different root does not vouch for these keys.
	other := t.TempDir()
	Keygen(other, "", time.Hour)
	otherRoot, _ := RootPublicKey(other)
	opk, _ := ParsePublicKey(otherRoot)
	kb, _ := os.ReadFile(filepath.Join(dir, KeySetFile))
	ksig, _ := os.ReadFile(filepath.Join(dir, KeySetFile+SigSuffix))
	if _, err := VerifyKeySet(opk, kb, ksig, time.Now()); !errors.Is(err, ErrSignature) {
		t.Fatalf("key set under another root: %v", err)
	}
}

func TestSigningKeyRotationNeedsNoNewRoot(t *testing.T) {
	dir, root, s := setup(t)
	if err := RotateSigningKey(dir, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ks := keyset(t, dir, root) // same pinned root still verifies
	s2, _ := LoadSigner(dir, "")
	bin := []byte("v3")
	if err := VerifyArtifact(ks, s2.Artifact("linux", "arm64", "f", bin), bin, time.Now()); err != nil {
		t.Fatalf("artifact by the rotated key: %v", err)
	}
	if err := VerifyArtifact(ks, s.Artifact("linux", "arm64", "f", bin), bin, time.Now()); !errors.Is(err, ErrSignature) {
		t.Fatalf("artifact by the retired key must be refused: %v", err)
	}
}
