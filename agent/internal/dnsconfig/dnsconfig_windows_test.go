package dnsconfig

import (
	"errors"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/windows/registry"
)

// The NRPT rule is written where the DNS Client reads it, with the values
// it needs, and deleted on restore (under a test key: Wine's registry in
// CI, a real one on Windows).
func TestNRPTRule(t *testing.T) {
	base := `SOFTWARE\WirefleetTest\DnsPolicyConfig`
	defer registry.DeleteKey(registry.LOCAL_MACHINE, `SOFTWARE\WirefleetTest\DnsPolicyConfig`)
	dir, err := os.MkdirTemp("", "dnsconfig")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir) // not t.TempDir: Wine cannot unlinkat its way through it
	m := &Manager{Dir: dir, NRPTKey: base}
	rec, err := m.Apply(Config{Interface: "wf0", Nameserver: netip.MustParseAddr("100.64.0.7"), Domain: "fleet.internal"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Mode != ModeNRPT || rec.Key != base+`\`+nrptRule {
		t.Fatalf("record %+v", rec)
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, rec.Key, registry.QUERY_VALUE)
	if err != nil {
		t.Fatalf("rule key: %v", err)
	}
	names, _, _ := k.GetStringsValue("Name")
	servers, _, _ := k.GetStringValue("GenericDNSServers")
	opts, _, _ := k.GetIntegerValue("ConfigOptions")
	ver, _, _ := k.GetIntegerValue("Version")
	k.Close()
	if len(names) != 1 || names[0] != ".fleet.internal" || servers != "100.64.0.7" || opts != 8 || ver != 2 {
		t.Fatalf("rule: Name %q, GenericDNSServers %q, ConfigOptions %d, Version %d", names, servers, opts, ver)
	}
	// A new process (after a crash) restores from the record.
	if err := (&Manager{Dir: m.Dir, NRPTKey: base}).Restore(); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.OpenKey(registry.LOCAL_MACHINE, rec.Key, registry.QUERY_VALUE); !errors.Is(err, registry.ErrNotExist) {
		t.Fatalf("rule still there after restore: %v", err)
	}
	if err := m.Restore(); err != nil {
		t.Fatalf("second restore: %v", err)
	}
}
