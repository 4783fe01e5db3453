package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// rekeyer records the keys it is asked to register and the credentials
// it hands out; it fails while fail is set.
type rekeyer struct {
	fail   bool
	got    []string
	issued []string
	token  string
}

func (r *rekeyer) NextCredential(context.Context) (string, error) {
	if r.fail {
		return "", errors.New("server down")
	}
	c := fmt.Sprintf("wfm_next%d", len(r.issued))
	r.issued = append(r.issued, c)
	return c, nil
}

func (r *rekeyer) SetToken(t string) { r.token = t }

func (r *rekeyer) Rekey(_ context.Context, pub string) (wire.Machine, error) {
	r.got = append(r.got, pub)
	if r.fail {
		return wire.Machine{}, errors.New("server down")
	}
	now := time.Now().UTC()
	return wire.Machine{PublicKey: pub, KeyCreatedAt: &now}, nil
}

// swapTunnel is a tunnel double that records keys swapped in.
type swapTunnel struct {
	Tunnel
	keys []wgtypes.Key
}

func (s *swapTunnel) SetPrivateKey(k wgtypes.Key) error { s.keys = append(s.keys, k); return nil }

func rotationEngine(t *testing.T) (*Engine, wgtypes.Key) {
	t.Helper()
	dir := t.TempDir()
	ks, err := keystore.NewFileStore(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := wgtypes.GeneratePrivateKey()
	if err := ks.Put(keystore.PrivateKey, old[:]); err != nil {
		t.Fatal(err)
	}
	cfg := state.Config{Server: "https://x", Name: "m", EnrolledAt: time.Now().Add(-100 * 24 * time.Hour).UTC()}
	p := paths.In(dir)
	if err := state.SaveConfig(p.ConfigFile(), cfg); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Paths: p, Store: ks, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), KeyRotation: DefaultKeyRotation, cfg: cfg}
	e.link.cfg.PrivateKey = old
	return e, old
}

func stored(t *testing.T, ks keystore.Store, name string) (wgtypes.Key, bool) {
	var k wgtypes.Key
	b, err := ks.Get(name)
	if errors.Is(err, keystore.ErrNotFound) {
		return k, false
	}
	if err != nil {
		t.Fatal(err)
	}
	copy(k[:], b)
	return k, true
}

// A rotation the server does not take keeps the old key in use and the new
// one aside; the retry sends that same key, and only then does it replace
// the old one, everywhere: keystore, config date, running tunnel.
func TestKeyRotationSurvivesAFailedRegistration(t *testing.T) {
	e, old := rotationEngine(t)
	tun := &swapTunnel{}
	e.link.tun = tun
	if why := e.keyDue(time.Now()); why == "" {
		t.Fatal("a 100-day-old key is not due under a 90-day rotation")
	}
	srv := &rekeyer{fail: true}
	if err := e.rotateKey(context.Background(), srv, "test"); err == nil {
		t.Fatal("rotation with the server down succeeded")
	}
	if k, _ := stored(t, e.Store, keystore.PrivateKey); k != old || len(tun.keys) != 0 {
		t.Fatal("a key the server never registered was put in use")
	}
	next, ok := stored(t, e.Store, keystore.NextPrivateKey)
	if !ok || next == old {
		t.Fatal("the new key was not kept aside")
	}
	if e.keyDue(time.Now()) != "finishing an interrupted rotation" {
		t.Fatalf("due: %q", e.keyDue(time.Now()))
	}
	srv.fail = false
	if err := e.rotateKey(context.Background(), srv, "test"); err != nil {
		t.Fatal(err)
	}
	if len(srv.got) != 2 || srv.got[0] != srv.got[1] || srv.got[1] != next.PublicKey().String() {
		t.Fatalf("keys sent: %v, want the same new key twice", srv.got)
	}
	if k, _ := stored(t, e.Store, keystore.PrivateKey); k != next {
		t.Fatal("the keystore does not hold the new key")
	}
	if _, ok := stored(t, e.Store, keystore.NextPrivateKey); ok {
		t.Fatal("the spare key was left behind")
	}
	if len(tun.keys) != 1 || tun.keys[0] != next || e.link.cfg.PrivateKey != next {
		t.Fatal("the running tunnel did not get the new key")
	}
	cfg, err := state.LoadConfig(e.Paths.ConfigFile())
	if err != nil || time.Since(cfg.KeyCreatedAt) > time.Minute {
		t.Fatalf("the key's date was not recorded: %v %v", cfg.KeyCreatedAt, err)
	}
	if why := e.keyDue(time.Now()); why != "" {
		t.Fatalf("a fresh key is due: %s", why)
	}
	// An admin's request made after the key was registered makes it due.
	later := time.Now().Add(time.Second)
	e.view.Apply(wire.NetMap{Self: &wire.Self{RotateKeyBefore: &later}})
	if why := e.keyDue(time.Now()); why != "an admin asked for it" {
		t.Fatalf("due after a request: %q", why)
	}
}

// A stop after the server registered the new key but before the agent put
// it in use: the next start sees the key in the map's Self and finishes
// without the server; a map naming the old key leaves things as they are.
func TestKeyRotationFinishedAfterACrash(t *testing.T) {
	e, old := rotationEngine(t)
	next, _ := wgtypes.GeneratePrivateKey()
	if err := e.Store.Put(keystore.NextPrivateKey, next[:]); err != nil {
		t.Fatal(err)
	}
	e.view.Apply(wire.NetMap{Self: &wire.Self{PublicKey: old.PublicKey().String()}})
	e.finishRotation(old)
	if k, _ := stored(t, e.Store, keystore.PrivateKey); k != old || e.link.cfg.PrivateKey != old {
		t.Fatal("a key the map does not name was put in use")
	}
	e.view.Apply(wire.NetMap{Self: &wire.Self{PublicKey: next.PublicKey().String()}})
	e.finishRotation(old)
	if k, _ := stored(t, e.Store, keystore.PrivateKey); k != next || e.link.cfg.PrivateKey != next {
		t.Fatal("the registered key was not put in use")
	}
	if _, ok := stored(t, e.Store, keystore.NextPrivateKey); ok {
		t.Fatal("the spare key was left behind")
	}
}

// Each key rotation replaces the machine credential too: stored before the
// client uses it (the server keeps the current one valid until then), so a
// failure leaves the current one in place and the next try replaces it.
func TestCredentialRotatedAfterTheKey(t *testing.T) {
	e, _ := rotationEngine(t)
	if err := e.Store.Put(keystore.Credential, []byte("wfm_current")); err != nil {
		t.Fatal(err)
	}
	if e.credentialDue() {
		t.Fatal("a credential is due before any key rotation")
	}
	srv := &rekeyer{}
	if err := e.rotateKey(context.Background(), srv, "test"); err != nil {
		t.Fatal(err)
	}
	if !e.credentialDue() {
		t.Fatal("the credential is not due after a key rotation")
	}
	srv.fail = true
	if err := e.rotateCredential(context.Background(), srv); err == nil {
		t.Fatal("credential rotation with the server down succeeded")
	}
	if c, _ := e.Store.Get(keystore.Credential); string(c) != "wfm_current" || srv.token != "" {
		t.Fatalf("a failed rotation changed the credential: stored %q, client %q", c, srv.token)
	}
	srv.fail = false
	if err := e.rotateCredential(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Store.Get(keystore.Credential); string(c) != "wfm_next0" || srv.token != "wfm_next0" {
		t.Fatalf("after the rotation: stored %q, client %q", c, srv.token)
	}
	if e.credentialDue() {
		t.Fatal("the credential is still due")
	}
	cfg, _ := state.LoadConfig(e.Paths.ConfigFile())
	if !cfg.CredentialKeyAt.Equal(cfg.KeyCreatedAt) {
		t.Fatalf("the config does not record the rotation: %v vs %v", cfg.CredentialKeyAt, cfg.KeyCreatedAt)
	}
}

// The engine's clock decides when the key is due: with Now set, status
// says so from the day the key reaches --key-rotation, not before.
func TestKeyDueFollowsTheEngineClock(t *testing.T) {
	e, _ := rotationEngine(t)
	e.cancel = func() {} // running: status shows the key
	born := e.cfg.EnrolledAt
	for _, tc := range []struct {
		age  time.Duration
		want bool
	}{
		{89 * 24 * time.Hour, false},
		{DefaultKeyRotation, true},
		{DefaultKeyRotation + time.Hour, true},
	} {
		e.Now = func() time.Time { return born.Add(tc.age) }
		if st := e.Status(); st.Key == nil || (st.Key.Pending != "") != tc.want {
			t.Errorf("key %v old: status key %+v, want pending=%v", tc.age, st.Key, tc.want)
		}
	}
}
