package releasestore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/release"
)

// The offline ceremony end to end: the root made alone, a signing key
// where releases are published, its key list signed by the root, a
// release published from a directory without root.key; then a new
// signing key, and an older key list (which would bring back the retired
// key) refused.
func TestOfflineRootCeremony(t *testing.T) {
	work := t.TempDir()
	root, keys := filepath.Join(work, "root"), filepath.Join(work, "keys")
	rootPub, err := release.RootInit(root, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := release.RootInit(root, ""); err == nil {
		t.Fatal("RootInit replaced a root key")
	}
	signPub, err := release.SigningKeygen(keys, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := release.SignKeySet(root, "", []string{filepath.Join(keys, release.SigningPubFile)}, 24*time.Hour, keys); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(keys, release.RootKeyFile)); err == nil {
		t.Fatal("the root key reached the publishing directory")
	}
	old := filepath.Join(work, "old")
	os.CopyFS(old, os.DirFS(keys))

	bin := filepath.Join(work, "agent")
	os.WriteFile(bin, []byte("agent 1.0.0"), 0o755)
	s := NewStore(filepath.Join(work, "store"))
	publish := func(dir, version string) error {
		_, err := Publish(s, dir, "", PublishOptions{Channel: "stable", Version: version, Files: map[string]string{"linux/amd64": bin}, Rollout: 100})
		return err
	}
	if err := publish(keys, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if s.RootKey() != rootPub {
		t.Errorf("the store pins %s, want the offline root %s", s.RootKey(), rootPub)
	}
	ks, _ := s.KeySet()
	if len(ks.Keys) != 1 || !strings.Contains(ks.Keys[0].PublicKey, signPub) {
		t.Fatalf("key set %+v, want the signing key %s", ks, signPub)
	}

	// A new signing key, signed into a new list: the old list is refused
	// from then on, and with it the old key's releases.
	time.Sleep(10 * time.Millisecond)
	if _, err := release.SigningKeygen(keys, ""); err != nil {
		t.Fatal(err)
	}
	if err := release.SignKeySet(root, "", []string{filepath.Join(keys, release.SigningPubFile)}, 24*time.Hour, keys); err != nil {
		t.Fatal(err)
	}
	if err := publish(keys, "2.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := publish(old, "3.0.0"); err == nil || !strings.Contains(err.Error(), "bring back retired signing keys") {
		t.Fatalf("publishing with the retired key and its older list: %v", err)
	}
	if err := release.SignKeySet(root, "", []string{"RWnot-a-key"}, time.Hour, t.TempDir()); err == nil {
		t.Error("SignKeySet took a malformed key")
	}
}
