package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Every reported update attempt joins the machine's history: a failure
// followed by a success keeps both (the machine's last_update alone used
// to erase the failure); a report sent twice is kept once; the history is
// bounded.
func TestUpdateHistory(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true})
	m, _, err := db.Enroll(ctx, admin, enrollment(t, tok, "web-1"))
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := db.Enroll(ctx, admin, enrollment(t, tok, "web-2"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	report := func(id string, u wire.UpdateStatus) HealthEntry {
		return HealthEntry{MachineID: id, ReceivedAt: u.At.Add(time.Second), Report: wire.HealthReport{At: u.At, AgentVersion: u.From, Update: &u}}
	}
	failed := wire.UpdateStatus{From: "1.0.0", To: "2.0.0", State: "rolled_back", Reason: "version 2.0.0 started 3 times without reaching the server", At: t0}
	ok := wire.UpdateStatus{From: "1.0.0", To: "2.1.0", State: "ok", At: t0.Add(time.Hour)}
	if _, err := db.SaveHealth(ctx, []HealthEntry{report(m.ID, failed), report(m.ID, failed)}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveHealth(ctx, []HealthEntry{report(m.ID, ok), report(other.ID, ok), report(m.ID, failed)}, 10); err != nil {
		t.Fatal(err)
	}
	h, err := db.UpdateHistory(ctx, m.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0] != ok || h[1] != failed {
		t.Fatalf("history = %+v, want the success then the failure", h)
	}
	if got, _ := db.Machine(ctx, m.ID); got.LastUpdate == nil || got.LastUpdate.To != "2.0.0" {
		// The latest report carried the resent failure: last_update is
		// the latest report's, the history keeps order by time.
		t.Fatalf("last update = %+v", got.LastUpdate)
	}
	recent, err := db.RecentUpdates(ctx, 10)
	if err != nil || len(recent) != 3 || recent[0].State != "ok" || recent[2].Machine != "web-1" || recent[2].State != "rolled_back" {
		t.Fatalf("recent = %+v %v", recent, err)
	}

	for i := range KeepUpdates + 5 {
		u := wire.UpdateStatus{From: "2.1.0", To: "2.2.0", State: "failed", Reason: "self-test", At: t0.Add(time.Duration(i+2) * time.Hour)}
		if _, err := db.SaveHealth(ctx, []HealthEntry{report(m.ID, u)}, 10); err != nil {
			t.Fatal(err)
		}
	}
	if h, _ := db.UpdateHistory(ctx, m.ID, 1000); len(h) != KeepUpdates {
		t.Fatalf("history holds %d attempts, want the last %d", len(h), KeepUpdates)
	}
	if _, _, err := db.DeleteMachine(ctx, admin, m.ID); err != nil {
		t.Fatal(err)
	}
	if recent, _ := db.RecentUpdates(ctx, 1000); len(recent) != 1 || recent[0].MachineID != other.ID {
		t.Fatalf("a deleted machine's history stayed: %d attempts", len(recent))
	}
}

// The upgrade to the history schema carries each machine's last outcome
// over as its first history entry.
func TestUpdateHistoryMigrationCarriesLastOutcome(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("testdata", "sqlite", "schema-0006.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(string(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE machines SET update_status = '{"from":"1.0.0","to":"2.0.0","state":"rolled_back","reason":"gate","at":"2026-11-20T08:30:00.5Z"}' WHERE name = 'web-1'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := db.Machine(ctx, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	h, err := db.UpdateHistory(ctx, m.ID, 10)
	want := wire.UpdateStatus{From: "1.0.0", To: "2.0.0", State: "rolled_back", Reason: "gate", At: time.Date(2026, 11, 20, 8, 30, 0, 500e6, time.UTC)}
	if err != nil || len(h) != 1 || h[0].From != want.From || h[0].To != want.To || h[0].State != want.State || h[0].Reason != want.Reason || !h[0].At.Equal(want.At) {
		t.Fatalf("history after the upgrade = %+v %v, want [%+v]", h, err, want)
	}
}

// What postures test is part of the map: a report that changes a
// machine's facts (beyond free space) or whether its last update failed
// is a map change of the machine, returned for the hub; the same facts
// again, or with other free space, are not.
func TestFactsAreMapChanges(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true})
	m, _, err := db.Enroll(ctx, admin, enrollment(t, tok, "web-1"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	facts := func(osVersion string, free uint64) *wire.Facts {
		return &wire.Facts{OS: wire.OSFacts{Name: "debian", Version: osVersion}, Agent: "1.4.0",
			Disks: []wire.DiskFacts{{Mount: "/", SizeBytes: 100, FreeBytes: free}}}
	}
	save := func(f *wire.Facts, u *wire.UpdateStatus) []Change {
		t.Helper()
		t0 = t0.Add(time.Minute)
		ch, err := db.SaveHealth(ctx, []HealthEntry{{MachineID: m.ID, ReceivedAt: t0, Report: wire.HealthReport{At: t0, AgentVersion: "1.4.0", Facts: f, Update: u}}}, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	for _, step := range []struct {
		name   string
		facts  *wire.Facts
		update *wire.UpdateStatus
		change bool
	}{
		{"first facts", facts("12.7", 50), nil, true},
		{"the same facts again", facts("12.7", 50), nil, false},
		{"only free space moved", facts("12.7", 20), nil, false},
		{"a report without facts", nil, nil, false},
		{"the OS was upgraded", facts("12.8", 20), nil, true},
		{"an update failed", nil, &wire.UpdateStatus{From: "1.4.0", To: "1.5.0", State: "rolled_back", At: t0}, true},
		{"failed again", nil, &wire.UpdateStatus{From: "1.4.0", To: "1.5.0", State: "failed", At: t0.Add(time.Hour)}, false},
		{"and then succeeded", nil, &wire.UpdateStatus{From: "1.4.0", To: "1.5.0", State: "ok", At: t0.Add(2 * time.Hour)}, true},
	} {
		t.Run(step.name, func(t *testing.T) {
			ch := save(step.facts, step.update)
			if got := len(ch) == 1; got != step.change || len(ch) > 1 {
				t.Fatalf("changes %+v, want a change: %v", ch, step.change)
			}
			if !step.change {
				return
			}
			changes, machines, err := db.ChangesSince(ctx, ch[0].Version-1)
			if err != nil || len(changes) != 1 || changes[0] != ch[0] || len(machines) != 1 {
				t.Fatalf("ChangesSince = %+v %d machines, %v", changes, len(machines), err)
			}
			got := machines[0]
			if step.facts != nil && (got.Facts == nil || got.Facts.OS.Version != step.facts.OS.Version) {
				t.Fatalf("facts read with the change: %+v", got.Facts)
			}
			if step.update != nil && (got.LastUpdate == nil || got.LastUpdate.State != step.update.State) {
				t.Fatalf("update read with the change: %+v", got.LastUpdate)
			}
		})
	}
	if got, _ := db.Machine(ctx, m.ID); got.Facts == nil || got.Facts.Disks[0].FreeBytes != 20 {
		t.Fatalf("the latest facts are kept, free space too: %+v", got.Facts)
	}
}

// One machine cannot claim another's serial or SMBIOS UUID: the claim is
// dropped from its facts and audited; a revoked machine's identity is
// free again; firmware placeholders identify nobody.
func TestFactsCannotClaimAnothersHardware(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true})
	var ms []wire.Machine
	for _, name := range []string{"owner", "claimer", "clone-a", "clone-b"} {
		m, _, err := db.Enroll(ctx, admin, enrollment(t, tok, name))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	save := func(m wire.Machine, serial, uuid string) wire.Machine {
		t.Helper()
		f := &wire.Facts{OS: wire.OSFacts{Name: "debian"}, Serial: serial, MachineUUID: uuid}
		if _, err := db.SaveHealth(ctx, []HealthEntry{{MachineID: m.ID, ReceivedAt: time.Now(), Report: wire.HealthReport{AgentVersion: "1.0.0", Facts: f}}}, 10); err != nil {
			t.Fatal(err)
		}
		got, err := db.Machine(ctx, m.ID)
		if err != nil || got.Facts == nil {
			t.Fatalf("facts not stored: %+v %v", got.Facts, err)
		}
		return got
	}
	if got := save(ms[0], "PF3XYZ12", "4c4c4544-0036-3210-8058-b7c04f4e3232"); got.Facts.Serial != "PF3XYZ12" {
		t.Fatalf("the owner's serial: %+v", got.Facts)
	}
	got := save(ms[1], "PF3XYZ12", "4c4c4544-0036-3210-8058-b7c04f4e3232")
	if got.Facts.Serial != "" || got.Facts.MachineUUID != "" || got.Facts.OS.Name != "debian" {
		t.Fatalf("the claimer kept another's identity: %+v", got.Facts)
	}
	page, err := db.ListAudit(ctx, AuditFilter{Action: "machine.facts_conflict"})
	if err != nil || len(page.Events) != 2 || page.Events[0].Target != ms[1].ID {
		t.Fatalf("audit: %+v %v", page.Events, err)
	}
	for _, ph := range []string{"To Be Filled By O.E.M.", "0", "Not Specified"} {
		save(ms[2], ph, "")
		if got := save(ms[3], ph, ""); got.Facts.Serial != "" {
			t.Fatalf("placeholder %q kept as a serial", ph)
		}
	}
	if page, _ := db.ListAudit(ctx, AuditFilter{Action: "machine.facts_conflict"}); len(page.Events) != 2 {
		t.Fatalf("placeholders were audited as conflicts: %d events", len(page.Events))
	}
	if _, _, err := db.RevokeMachine(ctx, admin, ms[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := save(ms[1], "PF3XYZ12", ""); got.Facts.Serial != "PF3XYZ12" {
		t.Fatalf("a revoked machine's serial is still held: %+v", got.Facts)
	}
}
