package netmap

import (
	"context"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// TestPeerRelaysInSelf: the policy's "relays" makes a machine a relay
// (Self.PeerRelay) and puts it, with its addresses, in every other
// machine's Self.Relays, also for a reader following deltas; a relay that
// moves or loses its tag reaches every reader; the relay may relay only
// between machines the policy lets reach each other.
func TestPeerRelaysInSelf(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	admin := store.Actor{Name: "admin:t"}
	r, a, b, c := f.enroll(t), f.enroll(t), f.enroll(t), f.enroll(t)
	tag := func(m wire.Machine, tags ...string) {
		_, ch, err := f.db.UpdateMachine(ctx, admin, m.ID, nil, &tags)
		if err != nil {
			t.Fatal(err)
		}
		f.sync(t, ch)
	}
	tag(r, "relay")
	tag(a, "web")
	tag(b, "web")
	_, ch, _, err := f.db.SetPolicy(ctx, admin, `{"tags": ["tag:relay", "tag:web"], "relays": ["tag:relay"],
		"rules": [{"src": ["tag:web"], "dst": ["tag:web"]}]}`, "")
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t, ch)
	nm, _ := f.hub.Map(a.ID, 0)
	since := nm.Version
	if nm.Self.PeerRelay || len(nm.Self.Relays) != 1 || nm.Self.Relays[0].ID != r.ID || nm.Self.Relays[0].PublicKey != r.PublicKey {
		t.Fatalf("a's Self: relay %v, relays %+v; want r listed", nm.Self.PeerRelay, nm.Self.Relays)
	}
	if nm, _ := f.hub.Map(r.ID, 0); !nm.Self.PeerRelay || len(nm.Self.Relays) != 0 {
		t.Fatalf("r's Self: relay %v, relays %+v; want a relay listing none", nm.Self.PeerRelay, nm.Self.Relays)
	}
	// The relay's address changes: a reader of deltas gets it.
	ch, _, err = f.db.SetEndpoints(ctx, r.ID, []string{"203.0.113.7:51820"})
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t, ch)
	nm, _ = f.hub.Map(a.ID, since)
	if nm.Self == nil || len(nm.Self.Relays) != 1 || len(nm.Self.Relays[0].Endpoints) != 1 || nm.Self.Relays[0].Endpoints[0] != "203.0.113.7:51820" {
		t.Fatalf("a's delta after the relay moved: %+v", nm.Self)
	}
	since = nm.Version
	for _, tc := range []struct {
		relay, a, b string
		isRelay, ok bool
	}{
		{r.ID, a.PublicKey, b.PublicKey, true, true},
		{r.ID, a.PublicKey, c.PublicKey, true, false}, // c is no web machine
		{r.ID, a.PublicKey, key(), true, false},       // not in the map
		{r.ID, a.PublicKey, a.PublicKey, true, false},
		{a.ID, a.PublicKey, b.PublicKey, false, false}, // a is no relay
	} {
		isRelay, ok := f.hub.PeerRelayAllowed(tc.relay, tc.a, tc.b)
		if isRelay != tc.isRelay || ok != tc.ok {
			t.Errorf("PeerRelayAllowed(%s, %.6s, %.6s) = %v, %v; want %v, %v", tc.relay, tc.a, tc.b, isRelay, ok, tc.isRelay, tc.ok)
		}
	}
	// r loses its tag: no relay any more, for every reader.
	tag(r)
	nm, _ = f.hub.Map(a.ID, since)
	if nm.Self == nil || len(nm.Self.Relays) != 0 {
		t.Fatalf("a's delta after r stopped relaying: %+v", nm.Self)
	}
	if isRelay, _ := f.hub.PeerRelayAllowed(r.ID, a.PublicKey, b.PublicKey); isRelay {
		t.Fatal("r still a relay")
	}
}
