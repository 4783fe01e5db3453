package fleet

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLastSeenPostures: the sweep records which machines were seen within
// the policy's last_seen durations; a machine that falls silent loses the
// posture (and, here, its peer) at the sweep after the duration passes,
// without a change of its own; clearing the policy clears the records.
func TestLastSeenPostures(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	a, b := enroll(t, s, "fresh-1"), enroll(t, s, "quiet-1")
	pol := `{"postures": {"fresh": ["last_seen < 10m"]}, "rules": [{"src": ["*"], "dst": ["*"], "srcPosture": ["fresh"]}]}`
	if _, err := s.SetPolicy(ctx, admin, pol, false); err != nil {
		t.Fatal(err)
	}
	// Both were seen at enrollment; fresh-1 again 5 minutes later. The
	// sweeps below run 12 minutes after enrollment and later.
	now := time.Now()
	if err := s.db.TouchLastSeen(ctx, map[string]time.Time{a.Machine.ID: now.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(12 * time.Minute)
	peersOf := func(id string) string {
		t.Helper()
		nm, ok := s.hub.Map(id, 0)
		if !ok {
			t.Fatalf("%s is not in the map", id)
		}
		var out []string
		for _, p := range nm.Peers {
			out = append(out, p.Name+"["+strings.Join(p.Postures, ",")+"]")
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	sweep := func(at time.Time, want int) {
		t.Helper()
		n, err := s.SweepSeen(ctx, at)
		if err != nil || n != want {
			t.Fatalf("sweep at +%v: %d machines moved (%v), want %d", at.Sub(now).Round(time.Minute), n, err, want)
		}
	}
	if got := peersOf(b.Machine.ID); got != "" {
		t.Fatalf("before any sweep nobody is fresh; quiet-1 sees %q", got)
	}
	sweep(now, 1)
	sweep(now, 0) // nothing moved since
	if got := peersOf(b.Machine.ID); got != "fresh-1[fresh]" {
		t.Fatalf("quiet-1 sees %q, want fresh-1 with its posture", got)
	}
	if m, _ := s.db.Machine(ctx, a.Machine.ID); !slices.Equal(m.SeenWithin, []string{"10m0s"}) {
		t.Fatalf("fresh-1 seen within %v", m.SeenWithin)
	}
	sweep(now.Add(4*time.Minute), 1) // fresh-1 last seen 11 minutes ago
	if got := peersOf(b.Machine.ID); got != "" {
		t.Fatalf("fresh-1 fell silent; quiet-1 still sees %q", got)
	}
	if _, err := s.SetPolicy(ctx, admin, pol, false); err != nil { // unchanged: no new version
		t.Fatal(err)
	}
	if err := s.db.TouchLastSeen(ctx, map[string]time.Time{a.Machine.ID: now.Add(4 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	sweep(now.Add(4*time.Minute), 1) // back
	if _, err := s.SetPolicy(ctx, admin, "", false); err != nil {
		t.Fatal(err)
	}
	sweep(now.Add(4*time.Minute), 1) // the record no policy asks for is cleared
	if m, _ := s.db.Machine(ctx, a.Machine.ID); m.SeenWithin != nil {
		t.Fatalf("after the policy was cleared fresh-1 keeps %v", m.SeenWithin)
	}
}
