package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
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

// TestInventoryFiltersAndExport: machines are listed by any fact, a fact
// filter with an unknown key is refused, and the inventory exports as CSV
// with a header row of every fact and formula-like cells defused.
func TestInventoryFiltersAndExport(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	yes, no := true, false
	for _, m := range []struct {
		name string
		f    wire.Facts
	}{
		{"gce-1", wire.Facts{Hostname: "=cmd|' /C calc'!A0", OS: wire.OSFacts{Name: "debian", Version: "12"},
			Disks: []wire.DiskFacts{{Mount: "/", SizeBytes: 10, Encrypted: &yes}}, Cloud: wire.CloudFacts{Provider: "gcp", Region: "europe-west1"}}},
		{"office-1", wire.Facts{OS: wire.OSFacts{Name: "ubuntu", Version: "24.04"},
			Disks: []wire.DiskFacts{{Mount: "/", SizeBytes: 10, Encrypted: &no}}, Cloud: wire.CloudFacts{Provider: "none"}}},
	} {
		a, ra := e.agent(t, tok, m.name)
		if _, err := a.ReportHealth(ctx, wire.HealthReport{OS: "linux", Facts: &m.f}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if got, _ := e.admin.Machine(ctx, ra.MachineID); got.Facts != nil || time.Now().After(deadline) {
				break
			}
		}
	}
	for _, tc := range []struct {
		facts []string
		want  string
	}{
		{[]string{"cloud.provider=gcp"}, "gce-1"},
		{[]string{"disk.encrypted=false"}, "office-1"},
		{[]string{"os.name=debian", "cloud.region=europe-west1"}, "gce-1"},
		{[]string{"os.name=debian", "cloud.region=us-east1"}, ""},
	} {
		ms, err := e.admin.ListMachines(ctx, client.MachineFilter{Facts: tc.facts})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Name)
		}
		if strings.Join(names, ",") != tc.want {
			t.Errorf("machines with %v: %v, want %q", tc.facts, names, tc.want)
		}
	}
	if _, err := e.admin.ListMachines(ctx, client.MachineFilter{Facts: []string{"os.nmae=debian"}}); code(err) != wire.CodeInvalidArgument {
		t.Errorf("an unknown fact key: %v", err)
	}
	csv, err := e.admin.InventoryCSV(ctx, client.MachineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "name,id,ipv4,ipv6,state,online,tags,facts_at,hostname,os.name") {
		t.Fatalf("csv:\n%s", csv)
	}
	if !strings.Contains(string(csv), `'=cmd|' /C calc'!A0`) || !strings.Contains(lines[1]+lines[2], "europe-west1") {
		t.Fatalf("csv does not defuse a formula or lacks a fact:\n%s", csv)
	}
}

// TestPosturesGateThePolicy: a rule with srcPosture makes a machine a peer
// of the protected one only while its reported facts satisfy the posture;
// a fact report that satisfies it answers the protected machine's held
// poll with the newcomer (carrying its postures, for its filter); `policy
// test` says which posture stands in the way, and --src-facts asks what
// other facts would change.
func TestPosturesGateThePolicy(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	pol := `{"tags": ["tag:eng", "tag:db"],
  "postures": {"current": ["agent.version >= 1.4.0", "os.version >= 12"]},
  "rules": [{"src": ["tag:eng"], "dst": ["tag:db"], "ports": ["5432"], "srcPosture": ["current"]}]}`
	if _, err := e.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: pol}); err != nil {
		t.Fatal(err)
	}
	db, rdb := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"db"}}), "db-1")
	eng, reng := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"eng"}}), "eng-1")
	facts := func(agent string) *wire.Facts {
		return &wire.Facts{OS: wire.OSFacts{Name: "debian", Version: "12.7"}, Agent: agent}
	}
	if _, err := eng.ReportHealth(ctx, wire.HealthReport{OS: "linux", Facts: facts("1.3.0")}); err != nil {
		t.Fatal(err)
	}
	waitFacts := func(agent string) {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if m, _ := e.admin.Machine(ctx, reng.MachineID); m.Facts != nil && m.Facts.Agent == agent {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("facts with agent %s never stored", agent)
			}
		}
	}
	waitFacts("1.3.0")
	nm, err := db.Netmap(ctx, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(nm.Peers) != 0 {
		t.Fatalf("db-1 sees %+v; eng-1 runs an agent older than the posture wants", nm.Peers)
	}
	a, err := e.admin.QueryPolicy(ctx, wire.PolicyQuery{Src: "machine:eng-1", Dst: "machine:db-1:5432"})
	if err != nil || a.Allowed || !strings.Contains(a.Reason, "posture current: agent.version is 1.3.0; the posture wants agent.version >= 1.4.0") {
		t.Fatalf("policy test: %+v %v", a, err)
	}
	a, err = e.admin.QueryPolicy(ctx, wire.PolicyQuery{Src: "machine:eng-1", Dst: "machine:db-1:5432", SrcFacts: []string{"agent.version=1.4.1"}})
	if err != nil || !a.Allowed {
		t.Fatalf("policy test --src-facts agent.version=1.4.1: %+v %v", a, err)
	}
	if _, err := e.admin.QueryPolicy(ctx, wire.PolicyQuery{Src: "machine:eng-1", Dst: "machine:db-1:5432", SrcFacts: []string{"machine.serial=X"}}); code(err) != wire.CodeInvalidArgument {
		t.Fatalf("a fact no posture tests: %v", err)
	}

	held := make(chan wire.NetMap, 1)
	go func() {
		nm, err := db.Netmap(ctx, nm.Version, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		held <- nm
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := eng.ReportHealth(ctx, wire.HealthReport{OS: "linux", Facts: facts("1.4.0")}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-held:
		if got.Full || len(got.Added) != 1 || got.Added[0].ID != reng.MachineID || strings.Join(got.Added[0].Postures, ",") != "current" {
			t.Fatalf("db-1's held poll got %+v, want a delta adding eng-1 with posture current", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fact report that satisfies the posture did not reach db-1")
	}
	nm, err = eng.Netmap(ctx, 0, time.Second)
	if err != nil || len(nm.Peers) != 1 || nm.Peers[0].ID != rdb.MachineID {
		t.Fatalf("eng-1's map: %+v %v", nm.Peers, err)
	}
	if nm.Self == nil || nm.Self.Filter == nil {
		t.Fatalf("eng-1 has no filter: %+v", nm.Self)
	}
	dbMap, _ := db.Netmap(ctx, 0, time.Second)
	if f := dbMap.Self.Filter; f == nil || len(f.Rules) != 1 || strings.Join(f.Rules[0].SrcPosture, ",") != "current" {
		t.Fatalf("db-1 enforces %+v, want the rule with its posture", dbMap.Self.Filter)
	}
}
