package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store/storetest"
)

// openTest opens a fresh store: a SQLite file, or, when
// WIREFLEET_TEST_POSTGRES names a server (make test starts one), a new
// PostgreSQL database — so the whole suite runs against both.
func openTest(t testing.TB) *DB {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "test.db")
	if dsn := os.Getenv("WIREFLEET_TEST_POSTGRES"); dsn != "" {
		url = storetest.FreshPostgres(t, dsn)
	}
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var admin = Actor{Name: "admin:test", SourceIP: "127.0.0.1"}

func pubkey(t testing.TB) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

var seq atomic.Int64

func token(t testing.TB, db *DB, nt NewToken) string {
	t.Helper()
	n := seq.Add(1)
	hash := fmt.Sprintf("tokenhash-%d-%d", n, time.Now().UnixNano())
	nt.Hash = hash
	nt.Prefix = fmt.Sprintf("wfe_%06d", n)
	if _, err := db.CreateToken(context.Background(), admin, nt); err != nil {
		t.Fatal(err)
	}
	return hash
}

func enrollment(t testing.TB, tokenHash, name string) Enrollment {
	return Enrollment{
		TokenHash: tokenHash, CredentialHash: fmt.Sprintf("cred-%d-%d", seq.Add(1), time.Now().UnixNano()), PublicKey: pubkey(t),
		Hostname: name, Name: name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0",
	}
}

func TestSingleUseTokenIsConsumedExactlyOnceUnderConcurrency(t *testing.T) {
	db := openTest(t)
	tok := token(t, db, NewToken{})
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = db.Enroll(context.Background(), Actor{SourceIP: "10.0.0.1"}, enrollment(t, tok, fmt.Sprintf("host%d", i)))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch wire.ErrorCode(err) {
		case "":
			ok++
		case wire.CodeTokenExhausted:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d enrollments succeeded with one single-use token, want exactly 1", ok)
	}
	ms, err := db.ListMachines(context.Background(), MachineFilter{})
	if err != nil || len(ms) != 1 {
		t.Fatalf("machines = %d (%v), want 1", len(ms), err)
	}
	toks, _ := db.ListTokens(context.Background())
	if toks[0].Uses != 1 || toks[0].State != "exhausted" {
		t.Fatalf("token uses=%d state=%s, want 1 exhausted", toks[0].Uses, toks[0].State)
	}
}

func TestReusableTokenWithMaxUses(t *testing.T) {
	db := openTest(t)
	tok := token(t, db, NewToken{Reusable: true, MaxUses: 3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := db.Enroll(context.Background(), Actor{}, enrollment(t, tok, fmt.Sprintf("h%d", i)))
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if wire.ErrorCode(err) != wire.CodeTokenExhausted {
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 {
		t.Fatalf("%d enrollments succeeded, want 3", ok)
	}
}

func TestTokenRefusalsHaveDistinctCodes(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Minute)
	expired := token(t, db, NewToken{ExpiresAt: &past})
	revoked := token(t, db, NewToken{Reusable: true})
	toks, _ := db.ListTokens(ctx)
	for _, tk := range toks {
		if tk.Reusable {
			if _, err := db.RevokeToken(ctx, admin, tk.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	used := token(t, db, NewToken{})
	if _, _, err := db.Enroll(ctx, Actor{}, enrollment(t, used, "first")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, hash string
		want       wire.Code
	}{
		{"unknown", "no-such-hash", wire.CodeTokenInvalid},
		{"expired", expired, wire.CodeTokenExpired},
		{"revoked", revoked, wire.CodeTokenRevoked},
		{"used", used, wire.CodeTokenExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := db.Enroll(ctx, Actor{}, enrollment(t, tc.hash, "x"))
			if got := wire.ErrorCode(err); got != tc.want {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	ms, _ := db.ListMachines(ctx, MachineFilter{})
	if len(ms) != 1 {
		t.Fatalf("refused enrollments wrote machines: have %d, want 1", len(ms))
	}
}

func TestEnrollAllocatesUniqueNamesAndAddresses(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true, Tags: []string{"env:prod"}})
	ula, err := db.ULA(ctx)
	if err != nil || ula.Bits() != 48 || ula.Addr().As16()[0] != 0xfd {
		t.Fatalf("ULA = %v (%v), want an fd00::/8 /48", ula, err)
	}
	seen4, seen6, names := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for range 300 {
		m, _, err := db.Enroll(ctx, Actor{}, enrollment(t, tok, "web"))
		if err != nil {
			t.Fatal(err)
		}
		v4, v6 := netip.MustParseAddr(m.IPv4), netip.MustParseAddr(m.IPv6)
		if !OverlayPrefix4().Contains(v4) || !ula.Contains(v6) {
			t.Fatalf("addresses %s %s outside the overlay prefixes", v4, v6)
		}
		if seen4[m.IPv4] || seen6[m.IPv6] || names[m.Name] {
			t.Fatalf("duplicate allocation: %+v", m)
		}
		seen4[m.IPv4], seen6[m.IPv6], names[m.Name] = true, true, true
		if len(m.Tags) != 1 || m.Tags[0] != "env:prod" {
			t.Fatalf("machine tags = %v, want the token's", m.Tags)
		}
	}
	if !names["web"] || !names["web-2"] || !names["web-300"] {
		t.Fatalf("names not numbered as expected: web, web-2 … web-300")
	}
	// Addresses 256 apart cross a byte boundary; all stay valid.
	if !seen4["100.64.1.44"] {
		t.Fatalf("expected sequential IPv4 allocation to reach 100.64.1.44")
	}
}

func TestPublicKeyInUseIsRefused(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true})
	e := enrollment(t, tok, "a")
	if _, _, err := db.Enroll(ctx, Actor{}, e); err != nil {
		t.Fatal(err)
	}
	e2 := enrollment(t, tok, "b")
	e2.PublicKey = e.PublicKey
	if _, _, err := db.Enroll(ctx, Actor{}, e2); wire.ErrorCode(err) != wire.CodePublicKeyInUse {
		t.Fatalf("err = %v, want public_key_in_use", err)
	}
	toks, _ := db.ListTokens(ctx)
	if toks[0].Uses != 1 {
		t.Fatalf("refused enrollment used the token: uses = %d", toks[0].Uses)
	}
}

func TestMutationsMoveVersionAndLogAndAudit(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true})
	m, c1, err := db.Enroll(ctx, Actor{}, enrollment(t, tok, "alpha"))
	if err != nil {
		t.Fatal(err)
	}
	name := "beta"
	_, c2, err := db.UpdateMachine(ctx, admin, m.ID, &name, nil)
	if err != nil {
		t.Fatal(err)
	}
	rm, c3, err := db.RevokeMachine(ctx, admin, "beta")
	if err != nil {
		t.Fatal(err)
	}
	if rm.State != wire.MachineRevoked || rm.RevokedAt == nil {
		t.Fatalf("revoked machine = %+v", rm)
	}
	_, c4, err := db.DeleteMachine(ctx, admin, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !(c1.Version < c2.Version && c2.Version < c3.Version && c3.Version < c4.Version) {
		t.Fatalf("versions not increasing: %d %d %d %d", c1.Version, c2.Version, c3.Version, c4.Version)
	}
	changes, machines, err := db.ChangesSince(ctx, c1.Version-1)
	if err != nil || len(changes) != 4 || len(machines) != 0 {
		t.Fatalf("ChangesSince = %d changes, %d machines (%v); want 4 and 0 (deleted)", len(changes), len(machines), err)
	}
	if _, err := db.Machine(ctx, m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted machine still readable: %v", err)
	}
	page, err := db.ListAudit(ctx, AuditFilter{Target: m.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range page.Events {
		actions = append(actions, e.Action)
	}
	want := []string{"machine.delete", "machine.revoke", "machine.update", "machine.enroll"}
	if fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Fatalf("audit actions = %v, want %v", actions, want)
	}
}

func TestRenameToTakenNameIsConflict(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true})
	db.Enroll(ctx, Actor{}, enrollment(t, tok, "one"))
	m2, _, _ := db.Enroll(ctx, Actor{}, enrollment(t, tok, "two"))
	v0, _ := db.NetmapVersion(ctx)
	name := "one"
	if _, _, err := db.UpdateMachine(ctx, admin, m2.ID, &name, nil); wire.ErrorCode(err) != wire.CodeNameTaken {
		t.Fatalf("err = %v, want name_taken", err)
	}
	if v1, _ := db.NetmapVersion(ctx); v1 != v0 {
		t.Fatalf("failed rename moved the map version %d → %d", v0, v1)
	}
}

func TestReopenKeepsStateAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	first := "sqlite://" + path
	if dsn := os.Getenv("WIREFLEET_TEST_POSTGRES"); dsn != "" {
		path = storetest.FreshPostgres(t, dsn)
		first = path
	}
	ctx := context.Background()
	db, err := Open(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	ula1, _ := db.ULA(ctx)
	tok := token(t, db, NewToken{})
	if _, _, err := db.Enroll(ctx, Actor{}, enrollment(t, tok, "keep")); err != nil {
		t.Fatal(err)
	}
	v1, _ := db.NetmapVersion(ctx)
	db.Close()
	db, err = Open(ctx, path) // bare path form (for SQLite)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ula2, _ := db.ULA(ctx)
	v2, _ := db.NetmapVersion(ctx)
	if ula1 != ula2 || v1 != v2 {
		t.Fatalf("state changed across reopen: ULA %v→%v, version %d→%d", ula1, ula2, v1, v2)
	}
	if _, err := db.Machine(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	var n int
	db.r.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n)
	files, _ := migrations.ReadDir("migrations/sqlite")
	if n != len(files) {
		t.Fatalf("schema_migrations rows = %d, want one per migration file (%d)", n, len(files))
	}
}

func TestOpenRejectsUnknownScheme(t *testing.T) {
	for _, u := range []string{"mysql://x", "postgres://u:secret@127.0.0.1:1/db", "postgres:/postgres@/wf_test_x", "mysql:db"} {
		_, err := Open(context.Background(), u)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", u)
		}
		if s := err.Error(); contains(s, "secret") {
			t.Fatalf("error leaks the password: %s", s)
		}
	}
	if _, err := os.Stat("postgres:"); err == nil {
		t.Fatal("a URL-shaped path was created as a SQLite file")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestListMachinesFilters(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	prod := token(t, db, NewToken{Reusable: true, Tags: []string{"env:prod"}})
	dev := token(t, db, NewToken{Reusable: true, Tags: []string{"env:dev"}})
	db.Enroll(ctx, Actor{}, enrollment(t, prod, "web-1"))
	db.Enroll(ctx, Actor{}, enrollment(t, prod, "db-1"))
	m, _, _ := db.Enroll(ctx, Actor{}, enrollment(t, dev, "web-dev"))
	db.RevokeMachine(ctx, admin, m.ID)
	for _, tc := range []struct {
		f    MachineFilter
		want int
	}{
		{MachineFilter{}, 3},
		{MachineFilter{Tag: "env:prod"}, 2},
		{MachineFilter{Tag: "env"}, 0},
		{MachineFilter{Name: "web"}, 2},
		{MachineFilter{Name: "%"}, 0},
		{MachineFilter{State: wire.MachineRevoked}, 1},
		{MachineFilter{State: wire.MachineActive, Name: "web"}, 1},
	} {
		ms, err := db.ListMachines(ctx, tc.f)
		if err != nil || len(ms) != tc.want {
			t.Errorf("ListMachines(%+v) = %d (%v), want %d", tc.f, len(ms), err, tc.want)
		}
	}
}

func TestAuditPaging(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for i := range 25 {
		if err := db.Audit(ctx, admin, "test.event", fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	var all []wire.AuditEvent
	f := AuditFilter{Limit: 10, Action: "test."}
	for {
		p, err := db.ListAudit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Events...)
		if p.Next == 0 {
			break
		}
		f.Before = p.Next
	}
	if len(all) != 25 || all[0].Target != "24" || all[24].Target != "0" {
		t.Fatalf("paged %d events, first %q last %q; want 25 newest first", len(all), all[0].Target, all[len(all)-1].Target)
	}
}

// Last-seen times are written in chunks of transactions; every one lands.
func TestTouchLastSeenInChunks(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	defer func(n int) { touchChunk = n }(touchChunk)
	touchChunk = 2
	tok := token(t, db, NewToken{Reusable: true})
	seen := map[string]time.Time{}
	at := time.Now().Add(time.Minute).Truncate(time.Millisecond) // later than the enrollments' own
	for i := range 5 {
		m, _, err := db.Enroll(ctx, admin, enrollment(t, tok, fmt.Sprintf("m%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		seen[m.ID] = at.Add(time.Duration(i) * time.Second)
	}
	if err := db.TouchLastSeen(ctx, seen); err != nil {
		t.Fatal(err)
	}
	for id, want := range seen {
		m, _ := db.Machine(ctx, id)
		if m.LastSeen == nil || !m.LastSeen.Equal(want) {
			t.Fatalf("%s last seen %v, want %v", id, m.LastSeen, want)
		}
	}
}

// QuietMachines (the offline-machines metric) lists the active machines
// not heard from since a cutoff, never the revoked ones.
func TestQuietMachines(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Now()
	db.Now = func() time.Time { return t0.Add(-time.Hour) }
	if _, err := db.CreateToken(ctx, admin, NewToken{Prefix: "wfe_q", Hash: "q", Reusable: true}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		m, _, err := db.Enroll(ctx, Actor{}, Enrollment{TokenHash: "q", CredentialHash: fmt.Sprintf("q%d", i), PublicKey: fmt.Sprintf("%043dA=", i), Hostname: "h", Name: fmt.Sprintf("q%d", i), OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	db.Now = time.Now
	if err := db.TouchLastSeen(ctx, map[string]time.Time{ids[0]: t0}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.RevokeMachine(ctx, admin, ids[2]); err != nil {
		t.Fatal(err)
	}
	quiet, err := db.QuietMachines(ctx, t0.Add(-2*time.Minute))
	if err != nil || len(quiet) != 1 || quiet[0] != ids[1] {
		t.Fatalf("quiet = %v %v, want only %s", quiet, err, ids[1])
	}
}

// Health batches and last-seen batches write the same machine rows from
// two goroutines of one server (and from every replica). On PostgreSQL,
// rows locked in different orders deadlock and one batch is rolled back:
// acknowledged health reports were lost that way in an upgrade run with 1,000
// agents. Both now lock rows in machine-ID order.
func TestHealthAndLastSeenBatchesDoNotDeadlock(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true})
	var ids []string
	for i := range 60 {
		m, _, err := db.Enroll(ctx, admin, enrollment(t, tok, fmt.Sprintf("m-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for round := range 40 {
		wg.Add(2)
		go func() { // health in one shuffled order
			defer wg.Done()
			batch := make([]HealthEntry, len(ids))
			for i, j := range mrand.Perm(len(ids)) {
				batch[i] = HealthEntry{MachineID: ids[j], ReceivedAt: time.Now(), Report: wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", CPUPercent: float64(round)}}
			}
			if _, err := db.SaveHealth(ctx, batch, 10); err != nil {
				errs <- err
			}
		}()
		go func() { // last seen in the map's order
			defer wg.Done()
			seen := map[string]time.Time{}
			for _, id := range ids {
				seen[id] = time.Now().Add(time.Duration(round) * time.Second)
			}
			if err := db.TouchLastSeen(ctx, seen); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The audit log keeps what is younger than the retention: TrimAudit
// removes the older events in batches, oldest first, records the trim,
// and AuditSize reports what is left.
func TestTrimAudit(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		db.Now = func() time.Time { return t0.Add(time.Duration(i) * 24 * time.Hour) }
		if err := db.Audit(ctx, Actor{Name: "t"}, "test.event", fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	db.Now = func() time.Time { return t0.Add(30 * 24 * time.Hour) }
	cut := t0.Add(5 * 24 * time.Hour) // events 0-4 are older
	for _, want := range []int64{3, 2, 0} {
		n, err := db.TrimAudit(ctx, Actor{Name: "system:audit-retention"}, cut, 3)
		if err != nil || n != want {
			t.Fatalf("TrimAudit = %d, %v; want %d", n, err, want)
		}
	}
	n, oldest, err := db.AuditSize(ctx)
	// Events 5-9 and the two trims.
	if err != nil || n != 7 || !oldest.Equal(t0.Add(5*24*time.Hour)) {
		t.Fatalf("AuditSize = %d, %v, %v; want 7 events from %v", n, oldest, err, t0.Add(5*24*time.Hour))
	}
	page, err := db.ListAudit(ctx, AuditFilter{Action: "audit.trimmed"})
	if err != nil || len(page.Events) != 2 {
		t.Fatalf("trims recorded: %+v %v", page, err)
	}
}
