package dnsconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// macOS's /etc/resolver/<domain>, tested everywhere: written, refused
// over someone else's file, removed only when it is the agent's.
func TestResolverFile(t *testing.T) {
	dir, err := os.MkdirTemp("", "dnsconfig")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir) // not t.TempDir: under Wine (make wine runs this package) its cleanup fails
	p := filepath.Join(dir, "resolver", "fleet.internal")
	if err := applyResolverFile(p, "100.64.0.7"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), resolverMarker) || !strings.HasSuffix(string(b), "\nnameserver 100.64.0.7\n") {
		t.Fatalf("file:\n%s", b)
	}
	if err := applyResolverFile(p, "100.64.0.8"); err != nil { // the agent's own: replaced
		t.Fatal(err)
	}
	if err := undoResolverFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("not removed")
	}
	if err := undoResolverFile(p); err != nil {
		t.Fatalf("second undo: %v", err)
	}
	os.WriteFile(p, []byte("nameserver 10.0.0.53\n"), 0o644) // an admin's own
	if err := applyResolverFile(p, "100.64.0.7"); err == nil || !strings.Contains(err.Error(), "not the agent's") {
		t.Fatalf("someone else's file overwritten: %v", err)
	}
	if err := undoResolverFile(p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "nameserver 10.0.0.53\n" {
		t.Fatalf("someone else's file changed: %q", b)
	}
}
