package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"

	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/mapview"
	"github.com/wirefleet/wirefleet/agent/internal/netpath"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func TestGenerateKeyIsAValidX25519Pair(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if priv[0]&7 != 0 || priv[31]&128 != 0 || priv[31]&64 == 0 {
		t.Fatal("private key not clamped")
	}
	want, _ := curve25519.X25519(priv[:], curve25519.Basepoint)
	if pub != base64.StdEncoding.EncodeToString(want) || wire.ValidatePublicKey(pub) != nil {
		t.Fatalf("public key %s does not match the private key", pub)
	}
	_, pub2, _ := GenerateKey()
	if pub == pub2 {
		t.Fatal("two key pairs are equal")
	}
}

func TestBackoffGrowsIsCappedAndJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for n := range 20 {
		d := Backoff(n)
		base := time.Second << min(n, 6)
		if base > time.Minute {
			base = time.Minute
		}
		if d < base/2 || d >= base/2+base {
			t.Fatalf("Backoff(%d) = %v outside [%v, %v)", n, d, base/2, base/2+base)
		}
		seen[d] = true
	}
	if len(seen) < 15 {
		t.Fatal("backoff is not jittered")
	}
}

func TestEnrollRefusesToOverwriteAndRunStopsWhenRevokedOrNotEnrolled(t *testing.T) {
	dir := t.TempDir()
	p := paths.In(dir)
	ks, _ := keystore.NewFileStore(filepath.Join(dir, "secrets"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &Engine{Paths: p, Store: ks, Log: log}
	if err := e.Run(context.Background()); !errors.Is(err, state.ErrNotEnrolled) {
		t.Fatalf("Run without enrollment = %v, want ErrNotEnrolled", err)
	}
	state.SaveConfig(p.ConfigFile(), state.Config{Server: "https://x", Name: "m"})
	if _, err := Enroll(context.Background(), p, ks, EnrollOptions{Server: "https://x", Token: "t"}); err == nil {
		t.Fatal("enroll over an existing enrollment without --force succeeded")
	}
	state.SaveConfig(p.ConfigFile(), state.Config{Server: "https://x", Name: "m", Revoked: true})
	if err := e.Run(context.Background()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Run when revoked = %v, want ErrRevoked", err)
	}
	state.SaveConfig(p.ConfigFile(), state.Config{Server: "https://x", Name: "m"})
	if err := e.Run(context.Background()); err == nil || !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("Run with secrets missing = %v, want a keystore error", err)
	}
}

func TestCorruptCacheIsReportedNotFatal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "netmap.json")
	os.WriteFile(path, []byte(`{"map":{"version":3,"full":tr`), 0o600)
	if _, ok, err := state.LoadCache(path); ok || err == nil {
		t.Fatalf("torn cache: ok=%v err=%v, want an error and no map", ok, err)
	}
	good := state.Cache{Map: wire.NetMap{Version: 4, Full: true, Self: &wire.Self{ID: "me"}, Peers: []wire.Peer{}}}
	if err := state.SaveCache(path, good); err != nil {
		t.Fatal(err)
	}
	c, ok, err := state.LoadCache(path)
	if !ok || err != nil || c.Map.Version != 4 {
		t.Fatalf("rewritten cache: %+v %v %v", c, ok, err)
	}
}

func TestANewReleaseTagWakesTheUpdateChecker(t *testing.T) {
	e := &Engine{upd: updates{changed: make(chan struct{}, 1)}}
	woken := func() bool {
		select {
		case <-e.upd.changed:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		ack  wire.HealthAck
		want bool
	}{
		{wire.HealthAck{}, false},               // server without releases
		{wire.HealthAck{Releases: "aa"}, false}, // first tag: the start-up check covers it
		{wire.HealthAck{Releases: "aa"}, false},
		{wire.HealthAck{}, false}, // an answer without a tag forgets nothing
		{wire.HealthAck{Releases: "bb"}, true},
		{wire.HealthAck{Releases: "bb"}, false},
		{wire.HealthAck{Releases: "bb", Pin: "1.5.0"}, true}, // an admin pins a version
		{wire.HealthAck{Releases: "bb", Pin: "1.5.0"}, false},
		{wire.HealthAck{Releases: "bb"}, true}, // and lifts the pin
	}
	for i, s := range steps {
		e.noteReleases(s.ack)
		if got := woken(); got != s.want {
			t.Fatalf("step %d (%+v): woken=%v, want %v", i, s.ack, got, s.want)
		}
	}
}

// Full maps are cached at once; deltas mark the cache stale and are
// written together by saveCache (CacheEvery later, or when Run returns).
func TestDeltasAreCachedTogether(t *testing.T) {
	p := paths.In(t.TempDir())
	e := &Engine{Paths: p, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), cache: mapCache{dirty: make(chan struct{}, 1)}}
	cached := func() uint64 {
		c, ok, err := state.LoadCache(p.NetmapCache())
		if !ok || err != nil {
			t.Fatalf("cache: ok=%v err=%v", ok, err)
		}
		return c.Map.Version
	}
	e.applyMap(wire.NetMap{Version: 1, Full: true, Self: &wire.Self{ID: "me"}, Peers: []wire.Peer{{ID: "a"}}})
	if v := cached(); v != 1 {
		t.Fatalf("after a full map the cache has version %d", v)
	}
	e.applyMap(wire.NetMap{Version: 2, Added: []wire.Peer{{ID: "b"}}})
	e.applyMap(wire.NetMap{Version: 3, Removed: []string{"a"}})
	if v := cached(); v != 1 {
		t.Fatalf("deltas were written at once: cache version %d", v)
	}
	select {
	case <-e.cache.dirty:
	default:
		t.Fatal("deltas did not wake the cache writer")
	}
	e.saveCache()
	c, _, _ := state.LoadCache(p.NetmapCache())
	if c.Map.Version != 3 || len(c.Map.Peers) != 1 || c.Map.Peers[0].ID != "b" {
		t.Fatalf("cache after saveCache: %+v", c.Map)
	}
}

// fakeTunnel stands in for a created tunnel and records what it is asked
// to sync.
type fakeTunnel struct {
	maps   int
	syncs  []fakeSync
	fail   error // the next Sync's answer
	closed bool
}

type fakeSync struct {
	before map[string]wire.Peer
	whole  bool
}

func (f *fakeTunnel) Sync(before map[string]wire.Peer, whole bool, _ wire.NetMap) error {
	f.maps++
	f.syncs = append(f.syncs, fakeSync{maps.Clone(before), whole})
	err := f.fail
	f.fail = nil
	return err
}
func (f *fakeTunnel) Peers() ([]tunnel.PeerStatus, error) { return nil, nil }
func (f *fakeTunnel) Name() string                        { return "wf-test" }
func (f *fakeTunnel) Mode() string                        { return tunnel.ModeUserspace }
func (f *fakeTunnel) Close() error                        { f.closed = true; return nil }
func (f *fakeTunnel) SetServer(wire.Self)                 {}
func (f *fakeTunnel) Reflexive() netip.AddrPort           { return netip.AddrPort{} }
func (f *fakeTunnel) PathStatus() *netpath.Status         { return nil }

// A tunnel that cannot be created (no wintun.dll, a name in use) leaves
// the engine running: the error is in status and health until a retry
// succeeds, and the retry applies the map the engine kept meanwhile.
func TestTunnelFailureIsRetriedAndReported(t *testing.T) {
	fails := 3
	var created *fakeTunnel
	attempts := make(chan struct{}, 10)
	ks, err := keystore.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Paths: paths.In(t.TempDir()), Store: ks, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetryWait: func(int) time.Duration { return time.Millisecond },
		NewTunnel: func(tunnel.Config) (Tunnel, error) {
			defer func() { attempts <- struct{}{} }()
			if fails > 0 {
				fails--
				return nil, errors.New("Error loading wintun.dll: the specified module could not be found\r\n")
			}
			created = &fakeTunnel{}
			return created, nil
		}}
	e.view.Apply(wire.NetMap{Version: 1, Full: true, Self: &wire.Self{ID: "me", IPv4: "100.64.0.1"}})
	if err := e.bringUp(); err == nil {
		t.Fatal("bringUp succeeded with a failing tunnel")
	}
	<-attempts
	st, th := e.Status(), e.tunnelHealth()
	if !strings.Contains(st.TunnelError, "wintun.dll") || st.Tunnel != "down" || th.Up || !strings.Contains(th.Error, "wintun.dll") || strings.ContainsAny(th.Error, "\r\n") {
		t.Fatalf("while failing: status %q %q, health %+v", st.Tunnel, st.TunnelError, th)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.mu.Lock()
	e.runCtx = ctx
	e.mu.Unlock()
	e.retryTunnel()
	e.retryTunnel() // one retry loop, however often asked
	deadline := time.After(10 * time.Second)
	for e.tunName() == "" {
		select {
		case <-attempts:
		case <-deadline:
			t.Fatal("the tunnel was not retried")
		}
	}
	if st := e.Status(); st.TunnelError != "" || st.Tunnel != "up" || created.maps != 1 {
		t.Fatalf("after the retry: %+v, maps applied %d", st, created.maps)
	}
	if th := e.tunnelHealth(); !th.Up || th.Error != "" {
		t.Fatalf("health after the retry: %+v", th)
	}
}

// The engine holds the one map; the tunnel is told what each map changed
// (the named peers as they were), and a tunnel that fails to follow is
// replaced by one configured from the whole map.
func TestMapsReachTheTunnelAsChanges(t *testing.T) {
	ks, err := keystore.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	made := make(chan *fakeTunnel, 4)
	var shared *mapview.View
	e := &Engine{Paths: paths.In(t.TempDir()), Store: ks, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetryWait: func(int) time.Duration { return time.Millisecond },
		NewTunnel: func(c tunnel.Config) (Tunnel, error) {
			shared = c.View
			f := &fakeTunnel{}
			made <- f
			return f, nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.runCtx = ctx
	a, b := wire.Peer{ID: "a", PublicKey: "ka"}, wire.Peer{ID: "b", PublicKey: "kb"}
	e.view.Apply(wire.NetMap{Version: 1, Full: true, Self: &wire.Self{ID: "me", IPv4: "100.64.0.1"}, Peers: []wire.Peer{a, b}})
	if err := e.bringUp(); err != nil {
		t.Fatal(err)
	}
	first := <-made
	if shared != &e.view {
		t.Fatal("the tunnel was not given the engine's view")
	}
	b2 := wire.Peer{ID: "b", PublicKey: "kb2"}
	e.applyMap(wire.NetMap{Version: 2, Changed: []wire.Peer{b2}})
	e.mu.Lock()
	syncs := slices.Clone(first.syncs)
	e.mu.Unlock()
	if len(syncs) != 2 || !syncs[0].whole || len(syncs[0].before) != 0 {
		t.Fatalf("syncs %+v: want the new device filled, then one delta", syncs)
	}
	if d := syncs[1]; d.whole || len(d.before) != 1 || d.before["b"].PublicKey != "kb" {
		t.Fatalf("the delta reached the tunnel as %+v, want b as it was", d)
	}
	if p, _ := e.view.Peer("b"); p.PublicKey != "kb2" {
		t.Fatalf("the view has b as %+v", p)
	}

	e.mu.Lock()
	first.fail = errors.New("configure device: no buffer space")
	e.mu.Unlock()
	e.applyMap(wire.NetMap{Version: 3, Removed: []string{"a"}})
	var second *fakeTunnel
	select {
	case second = <-made:
	case <-time.After(10 * time.Second):
		t.Fatal("a tunnel that failed to sync was not recreated")
	}
	for e.tunName() == "" {
		time.Sleep(time.Millisecond)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !first.closed || len(second.syncs) != 1 || !second.syncs[0].whole || e.view.Len() != 1 {
		t.Fatalf("after a failed sync: old closed %v, new syncs %+v, view %d peers", first.closed, second.syncs, e.view.Len())
	}
}

func TestSameServer(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"https://fleet.example.com:8443", "https://FLEET.example.com:8443/", true},
		{"https://fleet.example.com", "https://fleet.example.com:443", true},
		{"https://fleet.example.com:8443", "https://fleet.example.com:9443", false},
		{"https://fleet.example.com:8443", "http://fleet.example.com:8443", false},
		{"https://a.example.com", "https://b.example.com", false},
		{"https://[2001:db8::1]:8443", "https://[2001:DB8::1]:8443", true},
	} {
		if got := SameServer(c.a, c.b); got != c.same {
			t.Errorf("SameServer(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

// mapServer answers every poll with one full map.
type mapServer struct{ nm wire.NetMap }

func (m mapServer) Netmap(context.Context, uint64, time.Duration) (wire.NetMap, error) {
	return m.nm, nil
}

// A missing or torn cache is rewritten from the first map the server
// sends, so that the next start without the server still has a map.
// Before, the cache was written only when a later map changed something.
func TestMissingOrTornCacheIsRewrittenFromTheServer(t *testing.T) {
	for name, content := range map[string]*string{"missing": nil, "empty": ptr(""), "torn": ptr(`{"map":{"version":3,"fu`), "null": ptr("null")} {
		t.Run(name, func(t *testing.T) {
			p := paths.In(t.TempDir())
			if content != nil {
				os.WriteFile(p.NetmapCache(), []byte(*content), 0o600)
			}
			e := &Engine{Paths: p, Log: slog.New(slog.DiscardHandler)}
			nm := wire.NetMap{Version: 7, Full: true, Self: &wire.Self{ID: "me", IPv4: "100.64.0.1"}, Peers: []wire.Peer{{ID: "a"}}}
			if err := e.loadStartingMap(context.Background(), mapServer{nm}); err != nil {
				t.Fatal(err)
			}
			c, ok, err := state.LoadCache(p.NetmapCache())
			if !ok || err != nil || c.Map.Version != 7 || len(c.Map.Peers) != 1 {
				t.Fatalf("cache after the first map: %+v ok=%v err=%v", c.Map, ok, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// Damaged state is one clear error naming what is damaged and the fix
// (enroll again), and Run stops on it (the service then idles) instead of
// running with a truncated key or sending a broken credential.
func TestDamagedStateIsNamedWithItsFix(t *testing.T) {
	goodKey := bytes.Repeat([]byte{7}, 32)
	goodCred := []byte("wfm_" + strings.Repeat("a", 52))
	for _, tc := range []struct {
		name       string
		config     string // "" for a good one
		key, cred  []byte
		wantInText string
	}{
		{name: "config of null", config: "null", key: goodKey, cred: goodCred, wantInText: "config.json is damaged"},
		{name: "torn config", config: `{"server":"https://x","na`, key: goodKey, cred: goodCred, wantInText: "config.json is damaged"},
		{name: "truncated key", key: goodKey[:20], cred: goodCred, wantInText: "20 bytes, want 32"},
		{name: "zero key", key: make([]byte, 32), cred: goodCred, wantInText: "all zeros"},
		{name: "credential with a newline", key: goodKey, cred: []byte("wfm_" + strings.Repeat("a", 30) + "\n\x00"), wantInText: "machine credential"},
		{name: "empty credential", key: goodKey, cred: []byte{}, wantInText: "machine credential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := paths.In(dir)
			ks, _ := keystore.NewFileStore(filepath.Join(dir, "secrets"))
			if tc.config == "" {
				state.SaveConfig(p.ConfigFile(), state.Config{Server: "https://127.0.0.1:1", Name: "m"})
			} else {
				os.WriteFile(p.ConfigFile(), []byte(tc.config), 0o644)
			}
			ks.Put(keystore.PrivateKey, tc.key)
			ks.Put(keystore.Credential, tc.cred)
			e := &Engine{Paths: p, Store: ks, Log: slog.New(slog.DiscardHandler)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := e.Run(ctx)
			if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), tc.wantInText) || !strings.Contains(err.Error(), "wirefleet-agent enroll --force") {
				t.Fatalf("Run = %v, want a damaged-state error saying %q and how to enroll again", err, tc.wantInText)
			}
		})
	}
}
