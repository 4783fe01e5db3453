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
	if err := db.SaveHealth(ctx, []HealthEntry{report(m.ID, failed), report(m.ID, failed)}, 10); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveHealth(ctx, []HealthEntry{report(m.ID, ok), report(other.ID, ok), report(m.ID, failed)}, 10); err != nil {
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
		if err := db.SaveHealth(ctx, []HealthEntry{report(m.ID, u)}, 10); err != nil {
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
