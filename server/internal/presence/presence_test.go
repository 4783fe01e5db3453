package presence

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func TestHeldPollsAndLastSeen(t *testing.T) {
	tr := New(nil, slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tr.now = func() time.Time { return t0 }
	rel1 := tr.Connect("m1")
	rel2 := tr.Connect("m1") // a second poll of the same machine
	if tr.Connected() != 2 || !tr.IsConnected("m1") || tr.IsConnected("m2") {
		t.Fatalf("two polls of m1: connected %d", tr.Connected())
	}
	rel1()
	if !tr.IsConnected("m1") {
		t.Fatal("m1 lost its second poll with the first")
	}
	rel2()
	if tr.Connected() != 0 || tr.IsConnected("m1") {
		t.Fatal("released polls still counted")
	}
	// Released at t0: heard since just before, not since after.
	for _, tc := range []struct {
		since time.Time
		want  bool
	}{{t0.Add(-time.Second), true}, {t0, false}, {t0.Add(time.Second), false}} {
		if got := tr.HeardSince("m1", tc.since); got != tc.want {
			t.Errorf("HeardSince(%v) = %v, want %v", tc.since, got, tc.want)
		}
	}
	ago := func(d time.Duration) *time.Time { at := t0.Add(-d); return &at }
	for _, tc := range []struct {
		name string
		m    wire.Machine
		poll bool
		want bool
	}{
		{"holding a poll", wire.Machine{ID: "p", State: wire.MachineActive}, true, true},
		{"heard a minute ago", wire.Machine{ID: "a", State: wire.MachineActive, LastSeen: ago(time.Minute)}, false, true},
		{"heard three minutes ago", wire.Machine{ID: "b", State: wire.MachineActive, LastSeen: ago(3 * time.Minute)}, false, false},
		{"never heard", wire.Machine{ID: "c", State: wire.MachineActive}, false, false},
		{"revoked, holding a poll", wire.Machine{ID: "r", State: wire.MachineRevoked}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.poll {
				defer tr.Connect(tc.m.ID)()
			}
			if got := tr.Online(tc.m, t0); got != tc.want {
				t.Fatalf("Online = %v, want %v", got, tc.want)
			}
		})
	}
}

// Last-seen times reach the database in one batch per flush, and a
// flush with nothing pending writes nothing.
func TestSeenTimesAreFlushedInBatches(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateToken(ctx, store.Actor{Name: "t"}, store.NewToken{Prefix: "wfe_t", Hash: "tok", Reusable: true}); err != nil {
		t.Fatal(err)
	}
	m, _, err := db.Enroll(ctx, store.Actor{}, store.Enrollment{TokenHash: "tok", CredentialHash: "c", PublicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		Hostname: "h", Name: "m", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingStore{Store: db}
	tr := New(counting, slog.New(slog.DiscardHandler))
	at := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	tr.Seen(m.ID, at)
	tr.Flush(ctx)
	tr.Flush(ctx)
	got, err := db.Machine(ctx, m.ID)
	if err != nil || got.LastSeen == nil || !got.LastSeen.Equal(at) {
		t.Fatalf("last seen = %v (%v), want %v", got.LastSeen, err, at)
	}
	if counting.writes != 1 {
		t.Fatalf("%d writes for one pending time", counting.writes)
	}
}

type countingStore struct {
	Store
	writes int
}

func (c *countingStore) TouchLastSeen(ctx context.Context, seen map[string]time.Time) error {
	c.writes++
	return c.Store.TouchLastSeen(ctx, seen)
}
