package fleet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

var admin = Actor{Name: "admin:test", SourceIP: "127.0.0.1"}

// newService returns the service over a real SQLite file and a running hub.
func newService(t *testing.T) *Service {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	hub, err := netmap.New(ctx, db, netmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { hub.Run(hctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; db.Close() })
	return New(db, hub, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{BcryptCost: bcrypt.MinCost})
}

func pubkey() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func enroll(t *testing.T, s *Service, host string) Enrolled {
	t.Helper()
	_, tok, err := s.CreateToken(context.Background(), admin, TokenSpec{})
	if err != nil {
		t.Fatal(err)
	}
	en, err := s.Enroll(context.Background(), netip.MustParseAddr("198.51.100.7"), wire.EnrollRequest{
		Token: tok, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0", ListenPort: 51820,
	})
	if err != nil {
		t.Fatal(err)
	}
	return en
}

func code(err error) wire.Code { return wire.ErrorCode(err) }

// TestTokenRules is the one place token rules are checked, whichever
// adapter (API, page, start-up) asks.
func TestTokenRules(t *testing.T) {
	s := newService(t)
	for name, tc := range map[string]struct {
		spec TokenSpec
		want wire.Code
	}{
		"default single-use":       {TokenSpec{}, ""},
		"reusable with a limit":    {TokenSpec{Reusable: true, MaxUses: 5, Tags: []string{"env:prod"}}, ""},
		"negative uses":            {TokenSpec{MaxUses: -1}, wire.CodeInvalidArgument},
		"too many uses":            {TokenSpec{Reusable: true, MaxUses: MaxTokenUses + 1}, wire.CodeInvalidArgument},
		"several uses, single-use": {TokenSpec{MaxUses: 2}, wire.CodeInvalidArgument},
		"negative expiry":          {TokenSpec{TTL: -time.Hour}, wire.CodeInvalidArgument},
		"over a year":              {TokenSpec{TTL: MaxTokenTTL + time.Hour}, wire.CodeInvalidArgument},
		"hostile tag":              {TokenSpec{Tags: []string{"<script>"}}, wire.CodeInvalidArgument},
	} {
		tok, sec, err := s.CreateToken(context.Background(), admin, tc.spec)
		if code(err) != tc.want {
			t.Errorf("%s: %v, want code %q", name, err, tc.want)
			continue
		}
		if tc.want == "" && (len(sec) < 50 || tok.ExpiresAt == nil) {
			t.Errorf("%s: token %+v secret %d chars", name, tok, len(sec))
		}
	}
	if _, err := ParseTTL("soon"); code(err) != wire.CodeInvalidArgument {
		t.Errorf("ParseTTL(soon) = %v", err)
	}
}

// TestMutationsReachTheHubBeforeReturning: when a change returns, the hub
// already answers with it, so an agent polling right after sees it.
func TestMutationsReachTheHubBeforeReturning(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	a, b := enroll(t, s, "a"), enroll(t, s, "b")
	if _, ok := s.Hub().Reply(a.Machine.ID, 0); !ok {
		t.Fatal("enrolled machine not in the hub")
	}
	if want := "198.51.100.7:51820"; a.Machine.Endpoints[len(a.Machine.Endpoints)-1] != want {
		t.Errorf("endpoints %v: the observed address %s is missing", a.Machine.Endpoints, want)
	}
	name := "renamed"
	m, err := s.UpdateMachine(ctx, admin, b.Machine.ID, MachineUpdate{Name: &name})
	if err != nil || m.Name != name {
		t.Fatalf("rename: %+v %v", m, err)
	}
	if _, err := s.RevokeMachine(ctx, admin, a.Machine.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Hub().Reply(a.Machine.ID, 0); ok {
		t.Fatal("revoked machine still gets a map")
	}
	page, err := s.Reader().ListAudit(ctx, store.AuditFilter{Target: a.Machine.ID})
	if err != nil || len(page.Events) == 0 || page.Events[0].Action != "machine.revoke" {
		t.Fatalf("audit after revoke: %+v %v", page.Events, err)
	}
}

func TestUpdateMachineValidates(t *testing.T) {
	s := newService(t)
	m := enroll(t, s, "a").Machine
	bad := "<b>"
	badTags := []string{"UPPER CASE"}
	badPin := "1.2.3garbage"
	for name, tc := range map[string]struct {
		u    MachineUpdate
		want wire.Code
	}{
		"nothing": {MachineUpdate{}, wire.CodeInvalidArgument},
		"name":    {MachineUpdate{Name: &bad}, wire.CodeInvalidName},
		"tags":    {MachineUpdate{Tags: &badTags}, wire.CodeInvalidArgument},
		"pin":     {MachineUpdate{PinnedVersion: &badPin}, wire.CodeInvalidArgument},
	} {
		if _, err := s.UpdateMachine(context.Background(), admin, m.ID, tc.u); code(err) != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
	pin := "2.0.0-beta.11"
	if got, err := s.UpdateMachine(context.Background(), admin, m.ID, MachineUpdate{PinnedVersion: &pin}); err != nil || got.PinnedVersion != pin {
		t.Fatalf("pin: %+v %v", got, err)
	}
}

func TestFlagChangesWakeWatchers(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	v0, wake := s.Flags().Current()
	f, err := s.SetFlag(ctx, admin, wire.Flag{Key: "new-ui", Type: "BOOLEAN", Enabled: true, Default: []byte(`false`)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	default:
		t.Fatal("setting a flag did not wake waiters")
	}
	if v, _ := s.Flags().Current(); v <= v0 || v != f.Version {
		t.Fatalf("watch at %d after set (was %d, flag version %d)", v, v0, f.Version)
	}
	_, wake = s.Flags().Current()
	if f, err := s.ToggleFlag(ctx, admin, "new-ui"); err != nil || f.Enabled {
		t.Fatalf("toggle: %+v %v", f, err)
	}
	<-wake
	_, wake = s.Flags().Current()
	if err := s.DeleteFlag(ctx, admin, "new-ui"); err != nil {
		t.Fatal(err)
	}
	<-wake
	if _, err := s.ToggleFlag(ctx, admin, "new-ui"); code(err) != wire.CodeNotFound {
		t.Fatalf("toggle a deleted flag: %v", err)
	}
}

func TestAPIKeysNeedAnOwner(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	if _, err := s.CreateAdmin(ctx, admin, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx, Actor{Name: "local:cli"}, "", 0); code(err) != wire.CodeInvalidArgument {
		t.Fatalf("local operator without an owner: %v", err)
	}
	k, err := s.CreateAPIKey(ctx, Actor{Name: "admin:alice"}, "", time.Hour)
	if err != nil || k.Key.ExpiresAt == nil {
		t.Fatalf("own key: %+v %v", k, err)
	}
	if _, err := s.CreateAdmin(ctx, admin, "bad name!"); code(err) != wire.CodeInvalidName {
		t.Fatalf("bad admin name: %v", err)
	}
}

func TestParseTTLRefusesNonPositiveDurations(t *testing.T) {
	for _, s := range []string{"0s", "-1h", "soon", ""} {
		if _, err := ParseTTL(s); code(err) != wire.CodeInvalidArgument {
			t.Errorf("ParseTTL(%q) = %v, want invalid_argument", s, err)
		}
	}
	if d, err := ParseTTL("90m"); err != nil || d != 90*time.Minute {
		t.Errorf("ParseTTL(90m) = %v, %v", d, err)
	}
}

// Reading a machine by its next credential changes nothing; only
// authenticating with it promotes it (one audit event), and then the old
// credential stops working.
func TestNextCredentialIsPromotedOnlyByAuthentication(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	a := enroll(t, s, "h")
	old := secret.Hash(a.Credential)
	if err := s.db.IssueNextCredential(ctx, a.Machine.ID, "next-hash"); err != nil {
		t.Fatal(err)
	}
	rotations := func() int {
		page, err := s.Reader().ListAudit(ctx, store.AuditFilter{Action: "machine.credential_rotate"})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Events)
	}
	if m, err := s.db.MachineByCredential(ctx, "next-hash"); err != nil || m.ID != a.Machine.ID || rotations() != 0 {
		t.Fatalf("read by the next credential: %+v %v, %d rotations", m, err, rotations())
	}
	if _, err := s.db.MachineByCredential(ctx, old); err != nil {
		t.Fatalf("the old credential stopped working on a read: %v", err)
	}
	if m, err := s.AuthenticateMachine(ctx, "next-hash"); err != nil || m.ID != a.Machine.ID || rotations() != 1 {
		t.Fatalf("authenticate with the next credential: %+v %v, %d rotations", m, err, rotations())
	}
	if _, err := s.AuthenticateMachine(ctx, old); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the old credential after the promotion: %v", err)
	}
}

// An admin's change of several fields is one transaction: one map
// version, one audit event naming every field; and when one part is
// refused (the name is taken), no other part happens.
func TestUpdateMachineIsOneTransaction(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	a, b := enroll(t, s, "a"), enroll(t, s, "b")
	v0 := s.Hub().Version()
	name, tags, pin, expiry := "renamed", []string{"prod"}, "1.5.0", "720h"
	m, err := s.UpdateMachine(ctx, admin, a.Machine.ID, MachineUpdate{Name: &name, Tags: &tags, PinnedVersion: &pin, Expiry: &expiry})
	if err != nil || m.Name != name || len(m.Tags) != 1 || m.PinnedVersion != pin || m.ExpiresAt == nil {
		t.Fatalf("update: %+v %v", m, err)
	}
	if v := s.Hub().Version(); v != v0+1 {
		t.Errorf("map version moved %d times, want once", v-v0)
	}
	page, _ := s.Reader().ListAudit(ctx, store.AuditFilter{Target: a.Machine.ID})
	var updates []wire.AuditEvent
	for _, e := range page.Events {
		if e.Action != "machine.enroll" {
			updates = append(updates, e)
		}
	}
	if len(updates) != 1 || updates[0].Action != "machine.update" || updates[0].Details["name"] != name ||
		updates[0].Details["version"] != pin || updates[0].Details["expires_at"] == nil {
		t.Fatalf("audit events for one update: %+v", updates)
	}
	// b's new name is taken: its tags and pin do not change either.
	other := []string{"other"}
	if _, err := s.UpdateMachine(ctx, admin, b.Machine.ID, MachineUpdate{Name: &name, Tags: &other, PinnedVersion: &pin}); code(err) != wire.CodeNameTaken {
		t.Fatalf("a taken name: %v", err)
	}
	if got, _ := s.Reader().Machine(ctx, b.Machine.ID); len(got.Tags) != 0 || got.PinnedVersion != "" {
		t.Fatalf("half an update happened: %+v", got)
	}
}
