package keystore

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// These run as real Windows code: natively, or under Wine in CI (see
// scripts/wine-test.sh), where DPAPI's CryptProtectData round-trips.

func TestDPAPIRoundTripAndCiphertextHidesPlaintext(t *testing.T) {
	// Not t.TempDir: under Wine, removing the ACL-restricted directory fails
	// with "Invalid function", which t.TempDir reports as a test failure.
	state, err := os.MkdirTemp("", "wirefleet-keystore-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(state)
	s, err := Open(state, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Backend() != "dpapi-machine" {
		t.Fatalf("backend = %s", s.Backend())
	}
	secret := []byte("wfm_plaintext-that-must-not-appear-on-disk")
	if err := s.Put(Credential, secret); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(Credential)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	raw, err := os.ReadFile(filepath.Join(state, "secrets", Credential+".dpapi"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, secret) || bytes.Contains(raw, []byte("plaintext-that")) {
		t.Fatal("DPAPI blob contains the plaintext")
	}
	// The per-secret entropy binds each blob to its name.
	os.WriteFile(filepath.Join(state, "secrets", PrivateKey+".dpapi"), raw, 0o600)
	if _, err := s.Get(PrivateKey); err == nil {
		t.Fatal("a blob sealed for another name was accepted")
	}
	if err := WipeAll(s); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(Credential); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after wipe: %v", err)
	}
}
