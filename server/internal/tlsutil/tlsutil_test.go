package tlsutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/pin"
)

func served(t *testing.T, k *Keys) string {
	t.Helper()
	c, _ := k.GetCertificate(nil)
	return pin.Format(pin.SPKIHash(c.Leaf))
}

// The next key is announced before it serves: a rotation serves exactly
// the key announced as next, announces a new one, and survives a reopen.
func TestKeysRotateToTheAnnouncedKey(t *testing.T) {
	dir := t.TempDir()
	k, err := OpenKeys(dir, []string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	pins := k.Pins()
	if len(pins) != 2 || pins[0] == pins[1] || served(t, k) != pins[0] {
		t.Fatalf("pins %v, served %s", pins, served(t, k))
	}
	again, err := OpenKeys(dir, []string{"10.0.0.1"})
	if err != nil || again.Pin() != pins[0] || again.NextPin() != pins[1] {
		t.Fatalf("reopened: %v %v", again.Pins(), err)
	}
	if err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if k.Pin() != pins[1] || served(t, k) != pins[1] || k.NextPin() == pins[0] || k.NextPin() == pins[1] {
		t.Fatalf("after a rotation: pins %v, served %s (before %v)", k.Pins(), served(t, k), pins)
	}
	after, err := OpenKeys(dir, nil)
	if err != nil || after.Pin() != k.Pin() || after.NextPin() != k.NextPin() {
		t.Fatalf("reopened after the rotation: %v, want %v (%v)", after.Pins(), k.Pins(), err)
	}
	if c, _ := after.GetCertificate(nil); c.Leaf.IPAddresses[0].String() != "127.0.0.1" && len(c.Leaf.IPAddresses) == 0 {
		t.Fatal("no addresses in the certificate")
	}
}

// A rotation stopped after its first file (the current key replaced, the
// certificate and the next key not yet) opens serving the announced key
// with a certificate for it, and a fresh next key.
func TestKeysRecoverFromAnInterruptedRotation(t *testing.T) {
	dir := t.TempDir()
	k, err := OpenKeys(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pins := k.Pins()
	next, err := os.ReadFile(filepath.Join(dir, NextKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), next, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenKeys(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pin() != pins[1] || served(t, r) != pins[1] || r.NextPin() == pins[1] || r.NextPin() == pins[0] {
		t.Fatalf("after the interrupted rotation: %v, served %s (before %v)", r.Pins(), served(t, r), pins)
	}
}
