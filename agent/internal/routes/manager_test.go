package routes

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fakeSystem records what it is asked, and checks that each change was
// recorded on disk before it was made.
type fakeSystem struct {
	t        *testing.T
	m        *Manager
	routes   map[string]bool // iface|prefix
	fwd      bool
	failAdd  netip.Prefix
	undone   []Undo
	forwards int
	exit     bool
}

func (f *fakeSystem) AddRoute(iface string, p netip.Prefix) error {
	if p == f.failAdd {
		return errors.New("RTNETLINK answers: no such device")
	}
	if r, _ := f.m.Applied(); !slices.Contains(r.Routes, p.String()) {
		f.t.Errorf("route %s added before it was recorded", p)
	}
	f.routes[iface+"|"+p.String()] = true
	return nil
}

func (f *fakeSystem) DelRoute(iface string, p netip.Prefix) error {
	delete(f.routes, iface+"|"+p.String())
	return nil
}

func (f *fakeSystem) Existing(string, netip.Prefix) bool { return false }

func (f *fakeSystem) Forward(iface string, snat bool) (Undo, error) {
	f.fwd = true
	f.forwards++
	return Undo{IPv4Forward: "0", Table: "wirefleet"}, nil
}

func (f *fakeSystem) Exit(iface string, allowLAN bool, keep []netip.Addr) error {
	if r, _ := f.m.Applied(); r.Exit == nil {
		f.t.Error("exit node used before it was recorded")
	}
	f.exit = true
	return nil
}

func (f *fakeSystem) Unexit() error { f.exit = false; return nil }

func (f *fakeSystem) Unforward(u Undo) error {
	f.fwd = false
	f.undone = append(f.undone, u)
	return nil
}

func newManager(t *testing.T, dir string) (*Manager, *fakeSystem) {
	m := &Manager{Dir: dir}
	f := &fakeSystem{t: t, m: m, routes: map[string]bool{}}
	m.Sys = f
	return m, f
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestManagerRecordsAndRestores(t *testing.T) {
	dir := t.TempDir()
	m, sys := newManager(t, dir)
	if err := m.Routes("wf0", prefixes("10.20.0.0/16", "10.30.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward("wf0", true, true); err != nil {
		t.Fatal(err)
	}
	if len(sys.routes) != 2 || !sys.fwd {
		t.Fatalf("routes %v forwarding %v", sys.routes, sys.fwd)
	}
	// The plan moves: one route goes, one comes.
	if err := m.Routes("wf0", prefixes("10.30.0.0/24", "10.40.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if sys.routes["wf0|10.20.0.0/16"] || !sys.routes["wf0|10.40.0.0/24"] {
		t.Fatalf("after the change: %v", sys.routes)
	}
	// Forwarding again with the same settings changes nothing.
	if err := m.Forward("wf0", true, true); err != nil || sys.forwards != 1 {
		t.Fatalf("forward again: %v, %d setups", err, sys.forwards)
	}

	// A crash: the next start's Manager finds the record and undoes it.
	m2, sys2 := newManager(t, dir)
	sys2.routes = sys.routes
	if err := m2.Restore(); err != nil {
		t.Fatal(err)
	}
	if len(sys2.routes) != 0 || len(sys2.undone) != 1 || sys2.undone[0].Table != "wirefleet" {
		t.Fatalf("after restore: routes %v, undone %+v", sys2.routes, sys2.undone)
	}
	if _, err := os.Stat(filepath.Join(dir, "routes.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the record outlived the restore: %v", err)
	}
	if err := m2.Restore(); err != nil {
		t.Fatalf("a second restore: %v", err)
	}
}

func TestManagerFailedRouteIsNotRecorded(t *testing.T) {
	m, sys := newManager(t, t.TempDir())
	sys.failAdd = netip.MustParsePrefix("10.30.0.0/24")
	err := m.Routes("wf0", prefixes("10.20.0.0/16", "10.30.0.0/24"))
	if err == nil {
		t.Fatal("a failed route went unreported")
	}
	r, _ := m.Applied()
	if !slices.Equal(r.Routes, []string{"10.20.0.0/16"}) {
		t.Fatalf("recorded %v, want only the installed route", r.Routes)
	}
}

func TestManagerMovesToAnotherInterface(t *testing.T) {
	m, sys := newManager(t, t.TempDir())
	m.Routes("wf0", prefixes("10.20.0.0/16"))
	m.Routes("wf1", prefixes("10.20.0.0/16"))
	if sys.routes["wf0|10.20.0.0/16"] || !sys.routes["wf1|10.20.0.0/16"] {
		t.Fatalf("routes %v", sys.routes)
	}
	// Forwarding stops when the machine no longer carries routes.
	m.Forward("wf1", true, false)
	m.Forward("wf1", false, false)
	if sys.fwd || len(sys.undone) != 1 {
		t.Fatalf("forwarding %v, undone %v", sys.fwd, sys.undone)
	}
}

// A torn or foreign routes.json (a crash mid-write on a file system
// without atomic rename, a hand edit) is no record: nothing is undone on
// its word, and the next change writes a whole one over it.
func TestManagerTornRecord(t *testing.T) {
	for _, torn := range []string{`{"interface":"wf0","routes":["10.20`, `null`, `{"routes":["10.20.0.0/16"]}`, "\x00\xff"} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "routes.json"), []byte(torn), 0o600)
		m, sys := newManager(t, dir)
		if _, ok := m.Applied(); ok {
			t.Fatalf("%q read as a record", torn)
		}
		if err := m.Restore(); err != nil || len(sys.undone) != 0 {
			t.Fatalf("%q: restore %v, undone %v", torn, err, sys.undone)
		}
		if err := m.Routes("wf0", prefixes("10.30.0.0/24")); err != nil {
			t.Fatal(err)
		}
		if r, ok := m.Applied(); !ok || !slices.Equal(r.Routes, []string{"10.30.0.0/24"}) {
			t.Fatalf("%q: after a change the record is %+v", torn, r)
		}
	}
}
