package netmap

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

type fixture struct {
	db  *store.DB
	hub *Hub
	tok string
	n   int
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hub, err := New(ctx, db, opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { hub.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	f := &fixture{db: db, hub: hub, tok: "hub-token"}
	if _, err := db.CreateToken(ctx, store.Actor{Name: "test"}, store.NewToken{Prefix: "wfe_test", Hash: f.tok, Reusable: true}); err != nil {
		t.Fatal(err)
	}
	return f
}

func key() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func (f *fixture) enroll(t testing.TB) wire.Machine {
	t.Helper()
	f.n++
	m, ch, err := f.db.Enroll(context.Background(), store.Actor{}, store.Enrollment{
		TokenHash: f.tok, CredentialHash: fmt.Sprintf("c%d-%d", f.n, time.Now().UnixNano()), PublicKey: key(),
		Hostname: "h", Name: fmt.Sprintf("m%d", f.n), OS: "linux", Arch: "amd64", AgentVersion: "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t, ch)
	return m
}

func (f *fixture) sync(t testing.TB, ch store.Change) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.hub.Sync(ctx, ch.Version); err != nil {
		t.Fatal(err)
	}
}

// view is an agent's picture of its peers, maintained by applying maps the
// way an agent must.
type view struct{ wire.View }

// apply checks the shapes the protocol promises, then merges with the
// agent's own rule (wire.View.Apply).
func (v *view) apply(t *testing.T, nm wire.NetMap) {
	t.Helper()
	if nm.Full && nm.Peers == nil {
		t.Fatalf("full map with nil peers: zero peers must be an empty list")
	}
	if err := v.View.Apply(nm); err != nil {
		t.Fatalf("map %+v: %v", nm, err)
	}
}

func (v *view) String() string {
	ids := make([]string, 0, len(v.Peers))
	for id, p := range v.Peers {
		ids = append(ids, id+"/"+p.Name+"/"+p.PublicKey[:6]+"/"+fmt.Sprint(p.Endpoints))
	}
	sort.Strings(ids)
	return fmt.Sprint(ids)
}

// TestDeltasReproduceFullMaps applies random changes to the fleet and checks
// that an agent that follows deltas always ends up with exactly the peer
// list a fresh full map gives.
func TestDeltasReproduceFullMaps(t *testing.T) {
	f := newFixture(t, Options{LogSize: 64})
	ctx := context.Background()
	admin := store.Actor{Name: "admin:t"}
	var live []wire.Machine
	for range 5 {
		live = append(live, f.enroll(t))
	}
	watcher := live[0]
	nm, ok := f.hub.Map(watcher.ID, 0)
	if !ok || !nm.Full || len(nm.Peers) != 4 || nm.Self == nil || nm.Self.IPv4 != watcher.IPv4 {
		t.Fatalf("first map = %+v, want full with 4 peers and self", nm)
	}
	v := &view{}
	v.apply(t, nm)
	rng := mrand.New(mrand.NewPCG(1, 2))
	deltas := 0
	for step := range 300 {
		switch op := rng.IntN(6); {
		case op == 0 || len(live) < 3:
			live = append(live, f.enroll(t))
		case op == 1:
			i := 1 + rng.IntN(len(live)-1)
			_, ch, err := f.db.RevokeMachine(ctx, admin, live[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
			live = append(live[:i], live[i+1:]...)
		case op == 2:
			i := 1 + rng.IntN(len(live)-1)
			_, ch, err := f.db.DeleteMachine(ctx, admin, live[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
			live = append(live[:i], live[i+1:]...)
		case op == 3:
			i := rng.IntN(len(live))
			name := fmt.Sprintf("renamed-%d", step)
			_, ch, err := f.db.UpdateMachine(ctx, admin, live[i].ID, &name, nil)
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
		case op == 4:
			i := rng.IntN(len(live))
			ch, _, err := f.db.SetEndpoints(ctx, live[i].ID, []string{fmt.Sprintf("192.0.2.%d:51820", step%250+1)})
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
		default:
			i := 1 + rng.IntN(len(live)-1)
			_, ch, err := f.db.Rekey(ctx, admin, live[i].ID, key())
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
		}
		if rng.IntN(3) == 0 { // let changes pile up between polls sometimes
			continue
		}
		nm, ok := f.hub.Map(watcher.ID, v.Version)
		if !ok {
			t.Fatal("watcher dropped out of the map")
		}
		if !nm.Full && !nm.Unchanged {
			deltas++
		}
		v.apply(t, nm)
		full, _ := f.hub.Map(watcher.ID, 0)
		want := &view{}
		want.apply(t, full)
		if v.String() != want.String() {
			t.Fatalf("step %d: delta-built view\n%s\n!= full map\n%s", step, v, want)
		}
		if v.Self.Name != want.Self.Name {
			t.Fatalf("step %d: self name %q, full map says %q", step, v.Self.Name, want.Self.Name)
		}
	}
	if deltas < 100 {
		t.Fatalf("only %d polls were answered with deltas; the test did not exercise them", deltas)
	}
}

func TestUnchangedAndZeroPeersAreDistinct(t *testing.T) {
	f := newFixture(t, Options{})
	m := f.enroll(t)
	nm, _ := f.hub.Map(m.ID, 0)
	if !nm.Full || nm.Peers == nil || len(nm.Peers) != 0 {
		t.Fatalf("lone machine map = %+v, want full with an empty peer list", nm)
	}
	again, _ := f.hub.Map(m.ID, nm.Version)
	if !again.Unchanged || again.Full {
		t.Fatalf("same version map = %+v, want unchanged", again)
	}
}

func TestTooOldVersionGetsFullMap(t *testing.T) {
	f := newFixture(t, Options{LogSize: 4})
	m := f.enroll(t)
	nm, _ := f.hub.Map(m.ID, 0)
	for range 20 {
		f.enroll(t)
	}
	old, _ := f.hub.Map(m.ID, nm.Version)
	if !old.Full || len(old.Peers) != 20 {
		t.Fatalf("map for a version older than the log: full=%v peers=%d, want full with 20", old.Full, len(old.Peers))
	}
	recent := f.hub.Version()
	f.enroll(t)
	d, _ := f.hub.Map(m.ID, recent)
	if d.Full || len(d.Added)+len(d.Changed) != 1 {
		t.Fatalf("map for a recent version: %+v, want a one-peer delta", d)
	}
}

func TestWaitWakesOnChangeAndOnRevocation(t *testing.T) {
	f := newFixture(t, Options{})
	a, b := f.enroll(t), f.enroll(t)
	v := f.hub.Version()
	type result struct {
		who string
		v   uint64
	}
	res := make(chan result, 2)
	for _, m := range []wire.Machine{a, b} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res <- result{m.ID, f.hub.Wait(ctx, m.ID, v)}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	_, ch, err := f.db.RevokeMachine(context.Background(), store.Actor{}, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t, ch)
	for range 2 {
		select {
		case r := <-res:
			if r.v != ch.Version {
				t.Fatalf("%s woke at version %d, want %d", r.who, r.v, ch.Version)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("a waiter was not woken by the revocation")
		}
	}
	if _, ok := f.hub.Map(b.ID, v); ok {
		t.Fatal("revoked machine still gets a map")
	}
	nm, ok := f.hub.Map(a.ID, v)
	if !ok || len(nm.Removed) != 1 || nm.Removed[0] != b.ID {
		t.Fatalf("peer's delta = %+v, want b removed", nm)
	}
}

func TestRestartedHubAnswersDeltasFromTheLog(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.enroll(t)
	nm, _ := f.hub.Map(a.ID, 0)
	b := f.enroll(t)
	h2, err := New(context.Background(), f.db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := h2.Map(a.ID, nm.Version)
	if !ok || d.Full || len(d.Added)+len(d.Changed) != 1 || append(d.Added, d.Changed...)[0].ID != b.ID {
		t.Fatalf("restarted hub map = %+v, want a delta with b", d)
	}
}

func TestFullMapsShareOneEncodingAndLeaveOutTheReceiver(t *testing.T) {
	f := newFixture(t, Options{})
	var ms []wire.Machine
	for range 5 {
		ms = append(ms, f.enroll(t))
	}
	var snap *snapshot
	for _, m := range ms {
		r, ok := f.hub.Reply(m.ID, 0)
		if !ok || !r.Full {
			t.Fatalf("%s: reply %+v, want a full map", m.Name, r)
		}
		if snap != nil && r.snap != snap {
			t.Fatal("two full maps of one version were encoded separately")
		}
		snap = r.snap
		var buf bytes.Buffer
		r.WriteTo(&buf)
		var nm wire.NetMap
		dec := json.NewDecoder(&buf)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&nm); err != nil {
			t.Fatalf("%s: full map is not a wire.NetMap: %v", m.Name, err)
		}
		if len(nm.Peers) != 4 || nm.Self == nil || nm.Self.ID != m.ID {
			t.Fatalf("%s: %d peers, self %+v; want 4 and itself", m.Name, len(nm.Peers), nm.Self)
		}
		for _, p := range nm.Peers {
			if p.ID == m.ID {
				t.Fatalf("%s is its own peer", m.Name)
			}
		}
	}
}

func TestDeltaNamingMostOfTheFleetIsSentFull(t *testing.T) {
	f := newFixture(t, Options{})
	m := f.enroll(t)
	v := f.hub.Version()
	for range minFullDelta + 8 {
		f.enroll(t)
	}
	nm, _ := f.hub.Map(m.ID, v)
	if !nm.Full || len(nm.Peers) != minFullDelta+8 {
		t.Fatalf("map after %d enrollments: full=%v peers=%d added=%d, want full", minFullDelta+8, nm.Full, len(nm.Peers), len(nm.Added))
	}
	// A few changes in a large fleet stay a delta.
	v = f.hub.Version()
	f.enroll(t)
	if d, _ := f.hub.Map(m.ID, v); d.Full || len(d.Added) != 1 {
		t.Fatalf("one enrollment: %+v, want a one-peer delta", d)
	}
}

// TestWakeUpsAreCoalesced: the first change after a quiet spell wakes the
// pollers at once; a burst right after it is held for the next wake-up and
// then arrives as one delta.
func TestWakeUpsAreCoalesced(t *testing.T) {
	f := newFixture(t, Options{Coalesce: time.Hour})
	a := f.enroll(t) // wakes at once: nothing was published before
	v0 := f.hub.Version()
	wait := func(since uint64, d time.Duration) uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return f.hub.Wait(ctx, a.ID, since)
	}
	if got := wait(0, 10*time.Second); got != v0 {
		t.Fatalf("first change published %d, want %d", got, v0)
	}
	for range 5 {
		f.enroll(t)
	}
	if got := wait(v0, 200*time.Millisecond); got != v0 {
		t.Fatalf("a burst within the interval woke the pollers (published %d)", got)
	}
	if f.hub.Version() <= v0 {
		t.Fatal("the burst did not reach the hub")
	}
	if d, _ := f.hub.Map(a.ID, v0); d.Full || len(d.Added) != 5 {
		t.Fatalf("held changes: %+v, want one delta with 5 peers", d)
	}

	g := newFixture(t, Options{Coalesce: 50 * time.Millisecond})
	b := g.enroll(t)
	for range 5 {
		g.enroll(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pub uint64
	for pub != g.hub.Version() && ctx.Err() == nil {
		pub = g.hub.Wait(ctx, b.ID, pub)
	}
	if pub != g.hub.Version() {
		t.Fatalf("the last change of a burst was never published: %d of %d", pub, g.hub.Version())
	}
}

// A server restarted with other settings (here the DNS domain) tells them
// to agents that follow deltas from before the restart, with or without a
// policy.
func TestSettingsReachReadersAcrossARestart(t *testing.T) {
	for _, withPolicy := range []bool{false, true} {
		f := newFixture(t, Options{DNSDomain: "old.internal"})
		ctx := context.Background()
		if withPolicy {
			if _, ch, _, err := f.db.SetPolicy(ctx, store.Actor{Name: "admin:t"}, `{"rules": [{"src": ["*"], "dst": ["*"]}]}`, ""); err != nil {
				t.Fatal(err)
			} else {
				f.sync(t, ch)
			}
		}
		r := f.enroll(t)
		nm, _ := f.hub.Map(r.ID, 0)
		if nm.Self == nil || nm.Self.DNSDomain != "old.internal" {
			t.Fatalf("first map's self: %+v", nm.Self)
		}
		f.enroll(t)
		hub, err := New(ctx, f.db, Options{DNSDomain: "new.internal"})
		if err != nil {
			t.Fatal(err)
		}
		nm2, _ := hub.Map(r.ID, nm.Version)
		if nm2.Full || nm2.Self == nil || nm2.Self.DNSDomain != "new.internal" {
			t.Fatalf("policy %v: after the restart the reader got %s with self %+v; want a delta with the new domain", withPolicy, mapKind(nm2), nm2.Self)
		}
		// Readers that started after the restart are not sent it again.
		if nm3, _ := hub.Map(r.ID, nm2.Version); nm3.Self != nil {
			t.Fatalf("self sent again: %+v", nm3)
		}
	}
}

// A change of the fleet's DNS records reaches every reader as a delta with
// its Self (which carries them), with or without a policy, and is never
// mistaken for a machine.
func TestDNSRecordsReachEveryReader(t *testing.T) {
	for _, withPolicy := range []bool{false, true} {
		f := newFixture(t, Options{DNSDomain: "fleet.internal"})
		ctx := context.Background()
		a, b := f.enroll(t), f.enroll(t)
		if withPolicy {
			// a and b do not see each other: the change concerns no peer.
			if _, ch, _, err := f.db.SetPolicy(ctx, store.Actor{Name: "admin:t"}, `{"rules": []}`, ""); err != nil {
				t.Fatal(err)
			} else {
				f.sync(t, ch)
			}
		}
		views := map[string]*view{}
		for _, m := range []wire.Machine{a, b} {
			v := &view{}
			nm, _ := f.hub.Map(m.ID, 0)
			v.apply(t, nm)
			views[m.ID] = v
		}
		ch, err := f.db.AddDNSRecord(ctx, store.Actor{Name: "admin:t"}, wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.5"})
		if err != nil {
			t.Fatal(err)
		}
		f.sync(t, ch)
		for id, v := range views {
			r, _ := f.hub.Reply(id, v.Version)
			if r.Empty() {
				t.Fatalf("policy %v: the record change is an empty answer", withPolicy)
			}
			nm, _ := f.hub.Map(id, v.Version)
			if nm.Full || nm.Self == nil || len(nm.Self.DNSRecords) != 1 || nm.Self.DNSRecords[0] != (wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.5"}) {
				t.Fatalf("policy %v: got %s with self %+v", withPolicy, mapKind(nm), nm.Self)
			}
			if len(nm.Removed)+len(nm.Added)+len(nm.Changed) != 0 {
				t.Fatalf("policy %v: the record change moved peers: %+v", withPolicy, nm)
			}
			v.apply(t, nm)
		}
		// A restarted hub loads them.
		hub, err := New(ctx, f.db, Options{DNSDomain: "fleet.internal"})
		if err != nil {
			t.Fatal(err)
		}
		if nm, _ := hub.Map(a.ID, 0); len(nm.Self.DNSRecords) != 1 {
			t.Fatalf("after a restart: %+v", nm.Self)
		}
	}
}
