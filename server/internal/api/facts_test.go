package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestFactsAreKeptOnTheMachine: facts sent in a health report become the
// machine's (in its listing, with when), the next report without facts
// keeps them, the history does not repeat them, and malformed facts are
// refused with the field named.
func TestFactsAreKeptOnTheMachine(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a, ra := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "inventoried")
	yes := true
	facts := &wire.Facts{Hostname: "db-1", OS: wire.OSFacts{Name: "debian", Version: "12.7", Kernel: "6.1.0-26-amd64", Arch: "amd64"},
		CPU: wire.CPUFacts{Model: "AMD EPYC 7B13", Cores: 2}, MemoryBytes: 4 << 30,
		Disks:    []wire.DiskFacts{{Mount: "/", SizeBytes: 40 << 30, FreeBytes: 30 << 30, Encrypted: &yes}},
		Firewall: wire.FirewallFacts{Enabled: &yes, Name: "nftables"}, MachineUUID: "4c4c4544-0036-3210-8058-b7c04f4e3232",
		Cloud: wire.CloudFacts{Provider: "gcp", Region: "europe-west1", Zone: "europe-west1-b", InstanceType: "e2-medium", InstanceID: "1234567890"},
		Agent: "1.4.0"}
	if _, err := a.ReportHealth(ctx, wire.HealthReport{At: time.Now(), OS: "linux", CPUPercent: 1, Facts: facts}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReportHealth(ctx, wire.HealthReport{At: time.Now(), OS: "linux", CPUPercent: 2}); err != nil {
		t.Fatal(err)
	}
	var m wire.Machine
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if m, err = e.admin.Machine(ctx, ra.MachineID); err != nil {
			t.Fatal(err)
		}
		if m.Health != nil && m.Health.CPUPercent == 2 || time.Now().After(deadline) {
			break
		}
	}
	if m.Facts == nil || m.FactsAt == nil || m.Facts.Cloud.Region != "europe-west1" || m.Facts.Disks[0].Encrypted == nil || !*m.Facts.Disks[0].Encrypted {
		t.Fatalf("machine facts %+v at %v", m.Facts, m.FactsAt)
	}
	h, err := e.admin.Health(ctx, ra.Name, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range h.History {
		if r.Facts != nil {
			t.Fatal("the report history repeats the facts")
		}
	}
	for _, tc := range []struct {
		f     wire.Facts
		field string
	}{
		{wire.Facts{Hostname: "db\r\nforged"}, "facts.hostname"},
		{wire.Facts{Cloud: wire.CloudFacts{Region: strings.Repeat("r", wire.MaxFactLen+1)}}, "facts.cloud.region"},
		{wire.Facts{CPU: wire.CPUFacts{Cores: -1}}, "cpu cores"},
		{wire.Facts{Disks: []wire.DiskFacts{{Mount: "/", SizeBytes: 1, FreeBytes: 2}}}, "facts.disks"},
		{wire.Facts{Disks: make([]wire.DiskFacts, wire.MaxDisks+1)}, "facts.disks"},
	} {
		_, err := a.ReportHealth(ctx, wire.HealthReport{OS: "linux", Facts: &tc.f})
		if code(err) != wire.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("facts %+v: %v, want invalid_argument naming %s", tc.f, err, tc.field)
		}
	}
}
