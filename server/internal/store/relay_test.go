package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRelayDirectory: a replica's sessions are found while its lease
// runs and not after; a session that moved to another replica is not
// taken back by the old one's close; prune removes dead replicas' rows.
func TestRelayDirectory(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	now := time.Unix(1_800_000_000, 0)
	db.Now = func() time.Time { return now }
	for _, r := range []Replica{{ID: "a", URL: "https://10.0.0.1:8443", Pin: "sha256/a", Expires: now.Add(6 * time.Second)},
		{ID: "b", URL: "https://10.0.0.2:8443", Expires: now.Add(6 * time.Second)}} {
		if err := db.RenewReplica(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PublishRelaySessions(ctx, "a", []RelaySession{{"K1", "m1"}, {"K2", "m2"}}, nil); err != nil {
		t.Fatal(err)
	}
	locate := func(key string) string {
		t.Helper()
		r, err := db.LocateRelaySession(ctx, key)
		if errors.Is(err, ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return r.ID + " " + r.URL + " " + r.Pin
	}
	if got := locate("K1"); got != "a https://10.0.0.1:8443 sha256/a" {
		t.Fatalf("K1 on %q", got)
	}
	// K1 reconnects to b; a's close of its old session comes later.
	if err := db.PublishRelaySessions(ctx, "b", []RelaySession{{"K1", "m1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.PublishRelaySessions(ctx, "a", nil, []string{"K1"}); err != nil {
		t.Fatal(err)
	}
	if got := locate("K1"); got != "b https://10.0.0.2:8443 " {
		t.Fatalf("K1 after moving to b: %q", got)
	}
	// b keeps renewing; a dies.
	now = now.Add(7 * time.Second)
	if err := db.RenewReplica(ctx, Replica{ID: "b", URL: "https://10.0.0.2:8443", Expires: now.Add(6 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got := locate("K2"); got != "" {
		t.Fatalf("K2 on a dead replica found: %q", got)
	}
	live, err := db.LiveReplicas(ctx)
	if err != nil || len(live) != 1 || live[0].ID != "b" {
		t.Fatalf("live replicas %+v, %v", live, err)
	}
	n, err := db.PruneRelay(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d sessions, %v; want a's one", n, err)
	}
	if err := db.LeaveRelay(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got := locate("K1"); got != "" {
		t.Fatalf("K1 after b left: %q", got)
	}
}
