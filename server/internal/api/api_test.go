package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/relay"
	"github.com/wirefleet/wirefleet/server/internal/releasestore"
	"github.com/wirefleet/wirefleet/server/internal/store"
	"github.com/wirefleet/wirefleet/server/internal/tlsutil"
)

type env struct {
	url   string
	db    *store.DB
	path  string // the SQLite file
	fl    *fleet.Service
	hub   *netmap.Hub
	admin *client.Client
	key   string
	srv   *httptest.Server
	reg   *prometheus.Registry
	api   *Server
	// stopHub closes the hub as the daemon does first on SIGTERM.
	stopHub context.CancelFunc
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, fleet.Config{BcryptCost: bcrypt.MinCost})
}

// newEnvWith starts the API over a real SQLite file, the hub and the fleet
// service configured by fcfg, on an httptest server.
func newEnvWith(t testing.TB, cfg Config, fcfg fleet.Config) *env {
	return newEnvOpts(t, cfg, fcfg, netmap.Options{DNSDomain: "fleet.internal"})
}

// newEnvOpts is newEnvWith with the hub's options.
func newEnvOpts(t testing.TB, cfg Config, fcfg fleet.Config, hopts netmap.Options) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "api.db")
	db, err := store.Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := netmap.New(ctx, db, hopts)
	if err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { hub.Run(hctx); close(done) }()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := fleet.New(db, hub, log, fcfg)
	reg := prometheus.NewRegistry()
	a := New(svc, log, reg, cfg)
	hdone := make(chan struct{})
	go func() { a.RunHealthWriter(hctx); close(hdone) }()
	// Every request and answer of the suite is held against the OpenAPI
	// document (docCheck reports what does not match when the test ends).
	srv := httptest.NewServer(newDocCheck(t).wrap(a.Handler()))
	t.Cleanup(func() { cancel(); srv.Close(); <-done; <-hdone; db.Close() })
	resp, err := svc.CreateAdmin(ctx, store.Actor{Name: "test"}, "root")
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := client.New(srv.URL, client.WithToken(resp.APIKey))
	return &env{url: srv.URL, db: db, path: path, fl: svc, hub: hub, admin: admin, key: resp.APIKey, srv: srv, stopHub: cancel, reg: reg, api: a}
}

func pubkey() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func (e *env) token(t testing.TB, req wire.CreateTokenRequest) string {
	t.Helper()
	resp, err := e.admin.CreateToken(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Secret
}

func enrollReq(tok, host string) wire.EnrollRequest {
	return wire.EnrollRequest{Token: tok, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "0.1.0"}
}

// agent enrolls a machine and returns a client holding its credential.
func (e *env) agent(t testing.TB, tok, host string) (*client.Client, wire.EnrollResponse) {
	t.Helper()
	anon, _ := client.New(e.url)
	resp, err := anon.Enroll(context.Background(), enrollReq(tok, host))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client.New(e.url, client.WithToken(resp.Credential))
	return c, resp
}

func code(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return ""
}

func TestEnrollAndNetmapOverHTTP(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true, Tags: []string{"env:test"}})
	a, ra := e.agent(t, tok, "Alice's Laptop.local")
	if ra.Name != "alices-laptop" || !strings.HasPrefix(ra.Credential, "wfm_") || !strings.HasPrefix(ra.IPv4, "100.") {
		t.Fatalf("enroll response = %+v", ra)
	}
	if !ra.Netmap.Full || len(ra.Netmap.Peers) != 0 || ra.Netmap.Self == nil || ra.Netmap.Self.IPv6 != ra.IPv6 {
		t.Fatalf("first map = %+v, want full, empty, with self", ra.Netmap)
	}
	// a waits; b enrolls; a's poll returns with b added.
	got := make(chan wire.NetMap, 1)
	go func() {
		nm, err := a.Netmap(ctx, ra.Netmap.Version, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- nm
	}()
	time.Sleep(100 * time.Millisecond)
	_, rb := e.agent(t, tok, "bob")
	select {
	case nm := <-got:
		if nm.Full || len(nm.Added) != 1 || nm.Added[0].PublicKey == "" || nm.Added[0].ID != rb.MachineID {
			t.Fatalf("delta = %+v, want b added", nm)
		}
		if nm.Added[0].AllowedIPs[0] != rb.IPv4+"/32" {
			t.Fatalf("allowed IPs = %v", nm.Added[0].AllowedIPs)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll not woken by an enrollment")
	}
	// The server's view: tags from the token, online while polling.
	m, err := e.admin.Machine(ctx, rb.Name)
	if err != nil || len(m.Tags) != 1 || m.Tags[0] != "env:test" {
		t.Fatalf("machine = %+v (%v)", m, err)
	}
}

func TestRevocationAnswersHeldPollsAtOnce(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	a, ra := e.agent(t, tok, "a")
	b, rb := e.agent(t, tok, "b")
	v := e.hub.Version()
	type res struct {
		nm  wire.NetMap
		err error
		at  time.Time
	}
	ca, cb := make(chan res, 1), make(chan res, 1)
	go func() { nm, err := a.Netmap(ctx, v, 60*time.Second); ca <- res{nm, err, time.Now()} }()
	go func() { nm, err := b.Netmap(ctx, v, 60*time.Second); cb <- res{nm, err, time.Now()} }()
	time.Sleep(100 * time.Millisecond)
	if e.fl.Presence().Connected() != 2 {
		t.Fatalf("connected = %d, want 2 held polls", e.fl.Presence().Connected())
	}
	revokedAt := time.Now()
	if _, err := e.admin.RevokeMachine(ctx, rb.Name); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]chan res{"a": ca, "b": cb} {
		select {
		case r := <-c:
			if d := r.at.Sub(revokedAt); d > time.Second {
				t.Errorf("%s answered %v after the revocation, want < 1s", name, d)
			}
			if name == "b" {
				if code(r.err) != wire.CodeMachineRevoked {
					t.Errorf("revoked agent got %v, want machine_revoked", r.err)
				}
			} else if r.err != nil || len(r.nm.Removed) != 1 || r.nm.Removed[0] != rb.MachineID {
				t.Errorf("peer got %+v (%v), want b removed", r.nm, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s's poll was not answered", name)
		}
	}
	// Every agent endpoint now refuses b.
	if _, err := b.Netmap(ctx, 0, 0); code(err) != wire.CodeMachineRevoked {
		t.Fatalf("netmap after revoke: %v", err)
	}
	if _, err := b.ReportEndpoints(ctx, wire.EndpointsRequest{}); code(err) != wire.CodeMachineRevoked {
		t.Fatalf("endpoints after revoke: %v", err)
	}
	if _, err := b.Rekey(ctx, pubkey()); code(err) != wire.CodeMachineRevoked {
		t.Fatalf("rekey after revoke: %v", err)
	}
	_ = ra
}

func TestDeleteAndRekeyWakePeers(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	a, _ := e.agent(t, tok, "a")
	b, rb := e.agent(t, tok, "b")
	v := e.hub.Version()
	got := make(chan wire.NetMap, 1)
	go func() { nm, _ := a.Netmap(ctx, v, 30*time.Second); got <- nm }()
	time.Sleep(50 * time.Millisecond)
	newKey := pubkey()
	if _, err := b.Rekey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	select {
	case nm := <-got:
		if len(nm.Changed) != 1 || nm.Changed[0].PublicKey != newKey {
			t.Fatalf("after rekey peer sees %+v", nm)
		}
		v = nm.Version
	case <-time.After(3 * time.Second):
		t.Fatal("rekey did not wake the peer")
	}
	go func() { nm, _ := a.Netmap(ctx, v, 30*time.Second); got <- nm }()
	time.Sleep(50 * time.Millisecond)
	if _, err := e.admin.DeleteMachine(ctx, rb.MachineID); err != nil {
		t.Fatal(err)
	}
	select {
	case nm := <-got:
		if len(nm.Removed) != 1 || nm.Removed[0] != rb.MachineID {
			t.Fatalf("after delete peer sees %+v", nm)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("delete did not wake the peer")
	}
	if _, err := b.Netmap(ctx, 0, 0); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("deleted machine's credential: %v, want unauthenticated", err)
	}
}

func TestEndpointsIncludeObservedAddress(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.token(t, wire.CreateTokenRequest{})
	a, _ := e.agent(t, tok, "a")
	got, err := a.ReportEndpoints(context.Background(), wire.EndpointsRequest{Endpoints: []string{"192.0.2.7:51820"}, ListenPort: 51820})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Endpoints) != "[192.0.2.7:51820 127.0.0.1:51820]" {
		t.Fatalf("endpoints = %v, want reported + observed", got.Endpoints)
	}
}

// raw posts body to path and returns status and decoded error code.
func raw(t *testing.T, method, url, auth string, body io.Reader) (int, wire.Code) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er wire.ErrorResponse
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &er); err != nil || er.Error == nil {
			t.Fatalf("%s %s: %d with non-JSON error body %q", method, url, resp.StatusCode, b)
		}
		return resp.StatusCode, er.Error.Code
	}
	return resp.StatusCode, ""
}

func TestBadInputIsRefusedWithStableCodesAndWritesNothing(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.token(t, wire.CreateTokenRequest{})
	good := func(mut func(m map[string]any)) string {
		m := map[string]any{"token": tok, "public_key": pubkey(), "hostname": "h", "os": "linux", "arch": "amd64", "agent_version": "1"}
		if mut != nil {
			mut(m)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	huge := `{"token":"` + strings.Repeat("a", 10<<20) + `"}`
	cases := []struct {
		name, body string
		status     int
		code       wire.Code
	}{
		{"empty body", "", 400, wire.CodeInvalidJSON},
		{"not json", "hello", 400, wire.CodeInvalidJSON},
		{"truncated", `{"token":`, 400, wire.CodeInvalidJSON},
		{"two values", good(nil) + good(nil), 400, wire.CodeInvalidJSON},
		{"unknown field", good(func(m map[string]any) { m["admin"] = true }), 400, wire.CodeUnknownField},
		{"wrong type", good(func(m map[string]any) { m["hostname"] = 42 }), 400, wire.CodeInvalidJSON},
		{"a field twice", strings.TrimSuffix(good(nil), "}") + `,"hostname":"other"}`, 400, wire.CodeDuplicateField},
		{"a field in upper case", strings.Replace(good(nil), `"hostname"`, `"HOSTNAME"`, 1), 400, wire.CodeUnknownField},
		{"10 MB body", huge, 413, wire.CodeBodyTooLarge},
		{"malformed token", good(func(m map[string]any) { m["token"] = "wfe_short" }), 401, wire.CodeTokenInvalid},
		{"unknown token", good(func(m map[string]any) { m["token"] = "wfe_" + strings.Repeat("a", 52) }), 401, wire.CodeTokenInvalid},
		{"bad key", good(func(m map[string]any) { m["public_key"] = "not-a-key" }), 400, wire.CodeInvalidPublicKey},
		{"short key", good(func(m map[string]any) { m["public_key"] = base64.StdEncoding.EncodeToString([]byte("short")) }), 400, wire.CodeInvalidPublicKey},
		{"zero key", good(func(m map[string]any) { m["public_key"] = base64.StdEncoding.EncodeToString(make([]byte, 32)) }), 400, wire.CodeInvalidPublicKey},
		{"script name", good(func(m map[string]any) { m["name"] = "<script>alert(1)</script>" }), 400, wire.CodeInvalidName},
		{"500-char name", good(func(m map[string]any) { m["name"] = strings.Repeat("a", 500) }), 400, wire.CodeInvalidName},
		{"500-char hostname", good(func(m map[string]any) { m["hostname"] = strings.Repeat("a", 500) }), 400, wire.CodeInvalidArgument},
		{"control chars", good(func(m map[string]any) { m["hostname"] = "a\x00b" }), 400, wire.CodeInvalidArgument},
		{"missing os", good(func(m map[string]any) { delete(m, "os") }), 400, wire.CodeInvalidArgument},
		{"bad endpoint", good(func(m map[string]any) { m["endpoints"] = []string{"example.com:80"} }), 400, wire.CodeInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, c := raw(t, "POST", e.url+wire.PathEnroll, "", strings.NewReader(tc.body))
			if st != tc.status || c != tc.code {
				t.Fatalf("got %d %s, want %d %s", st, c, tc.status, tc.code)
			}
		})
	}
	ms, _ := e.db.ListMachines(context.Background(), store.MachineFilter{})
	toks, _ := e.db.ListTokens(context.Background())
	if len(ms) != 0 || toks[0].Uses != 0 {
		t.Fatalf("bad input wrote state: %d machines, token uses %d", len(ms), toks[0].Uses)
	}
	// The hostile hostname is accepted as data (it is a fact, escaped where
	// shown) but never becomes part of the DNS name.
	_, r := e.agent(t, tok, "<img src=x onerror=alert(1)>")
	if r.Name != "img-src-x-onerror-alert-1" {
		t.Fatalf("name from hostile hostname = %q", r.Name)
	}
}

func TestAuthIsRequiredWithStableCodes(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct {
		method, path, auth string
		status             int
		code               wire.Code
	}{
		{"GET", wire.PathNetmap, "", 401, wire.CodeUnauthenticated},
		{"GET", wire.PathNetmap, "wfm_garbage", 401, wire.CodeUnauthenticated},
		{"GET", wire.PathNetmap, "wfm_" + strings.Repeat("a", 52), 401, wire.CodeUnauthenticated},
		{"GET", wire.PathNetmap, e.key, 401, wire.CodeUnauthenticated}, // admin key is not a machine credential
		{"GET", wire.PathMachines, "", 401, wire.CodeUnauthenticated},
		{"GET", wire.PathMachines, "wfa_" + strings.Repeat("b", 52), 401, wire.CodeUnauthenticated},
		{"POST", wire.PathTokens, "", 401, wire.CodeUnauthenticated},
		{"GET", "/api/v1/nope", e.key, 404, wire.CodeNotFound},
		{"GET", wire.PathMachines + "/m_nothere", e.key, 404, wire.CodeNotFound},
		{"GET", "/debug/pprof/heap", "", 401, wire.CodeUnauthenticated},
		{"GET", "/debug/pprof/heap", "wfm_" + strings.Repeat("a", 52), 401, wire.CodeUnauthenticated},
	} {
		st, c := raw(t, tc.method, e.url+tc.path, tc.auth, nil)
		if st != tc.status || c != tc.code {
			t.Errorf("%s %s auth=%.8q: got %d %s, want %d %s", tc.method, tc.path, tc.auth, st, c, tc.status, tc.code)
		}
	}
	// Profiles are for admins.
	req, _ := http.NewRequest("GET", e.url+"/debug/pprof/goroutine?debug=1", nil)
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("admin pprof: %d %.80s", resp.StatusCode, body)
	}
	// A revoked API key stops working.
	keys, _ := e.admin.ListAPIKeys(context.Background())
	if err := e.admin.RevokeAPIKey(context.Background(), keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.ListMachines(context.Background(), client.MachineFilter{}); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("revoked API key: %v", err)
	}
}

func TestEnrollmentIsRateLimitedPerIP(t *testing.T) {
	e := newEnv(t, Config{EnrollRate: 5, EnrollBurst: 5})
	limited := 0
	for range 8 {
		st, c := raw(t, "POST", e.url+wire.PathEnroll, "", strings.NewReader(`{}`))
		if st == 429 && c == wire.CodeRateLimited {
			limited++
		}
	}
	if limited != 3 {
		t.Fatalf("%d of 8 attempts rate-limited with burst 5, want 3", limited)
	}
}

func TestTokenOptionsValidation(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	for _, tc := range []struct {
		req  wire.CreateTokenRequest
		code wire.Code
	}{
		{wire.CreateTokenRequest{ExpiresIn: "soon"}, wire.CodeInvalidArgument},
		{wire.CreateTokenRequest{ExpiresIn: "-1h"}, wire.CodeInvalidArgument},
		{wire.CreateTokenRequest{ExpiresIn: "100000h"}, wire.CodeInvalidArgument},
		{wire.CreateTokenRequest{MaxUses: 5}, wire.CodeInvalidArgument},
		{wire.CreateTokenRequest{Tags: []string{"Bad Tag"}}, wire.CodeInvalidArgument},
		{wire.CreateTokenRequest{Reusable: true, MaxUses: 5, ExpiresIn: "2h", Tags: []string{"a", "a"}}, ""},
	} {
		resp, err := e.admin.CreateToken(ctx, tc.req)
		if code(err) != tc.code {
			t.Errorf("%+v: %v, want %q", tc.req, err, tc.code)
		}
		if err == nil && (len(resp.Token.Tags) != 1 || resp.Token.MaxUses != 5 || !strings.HasPrefix(resp.Secret, resp.Token.Prefix)) {
			t.Errorf("token = %+v", resp.Token)
		}
	}
}

func TestEnrollConcurrentlyOverHTTP(t *testing.T) {
	e := newEnv(t, Config{})
	tok := e.token(t, wire.CreateTokenRequest{})
	anon, _ := client.New(e.url)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[wire.Code]int{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := anon.Enroll(context.Background(), enrollReq(tok, fmt.Sprint("h", i)))
			mu.Lock()
			codes[code(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[""] != 1 || codes[wire.CodeTokenExhausted] != 19 {
		t.Fatalf("results = %v, want 1 success and 19 token_exhausted", codes)
	}
	page, _ := e.admin.Audit(context.Background(), client.AuditFilter{Action: "machine.enroll_refused"})
	if len(page.Events) != 19 {
		t.Fatalf("audit has %d refused enrollments, want 19", len(page.Events))
	}
}

func TestMachineAdminOperations(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	e.agent(t, tok, "one")
	_, r2 := e.agent(t, tok, "two")
	name := "renamed"
	m, err := e.admin.UpdateMachine(ctx, r2.MachineID, wire.UpdateMachineRequest{Name: &name, Tags: &[]string{"x", "y"}})
	if err != nil || m.Name != "renamed" || len(m.Tags) != 2 {
		t.Fatalf("update = %+v (%v)", m, err)
	}
	bad := "one"
	if _, err := e.admin.UpdateMachine(ctx, r2.MachineID, wire.UpdateMachineRequest{Name: &bad}); code(err) != wire.CodeNameTaken {
		t.Fatalf("rename to taken name: %v", err)
	}
	bad = "UPPER"
	if _, err := e.admin.UpdateMachine(ctx, r2.MachineID, wire.UpdateMachineRequest{Name: &bad}); code(err) != wire.CodeInvalidName {
		t.Fatalf("rename to invalid name: %v", err)
	}
	ms, err := e.admin.ListMachines(ctx, client.MachineFilter{Tag: "x"})
	if err != nil || len(ms) != 1 || ms[0].Name != "renamed" {
		t.Fatalf("filter by tag = %+v (%v)", ms, err)
	}
	ms, _ = e.admin.ListMachines(ctx, client.MachineFilter{State: "online"})
	if len(ms) != 2 {
		t.Fatalf("online machines = %d, want 2 (just enrolled)", len(ms))
	}
	page, err := e.admin.Audit(ctx, client.AuditFilter{Target: r2.MachineID})
	if err != nil || len(page.Events) != 2 || page.Events[0].Actor != "admin:root" || page.Events[0].SourceIP != "127.0.0.1" {
		t.Fatalf("audit = %+v (%v)", page, err)
	}
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hub, _ := netmap.New(ctx, db, netmap.Options{})
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := New(fleet.New(db, hub, log, fleet.Config{}), log, reg, Config{})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	http.Post(srv.URL+wire.PathEnroll, "application/json", bytes.NewReader([]byte(`{}`)))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
		if mf.GetName() == "wirefleet_http_requests_total" {
			l := mf.GetMetric()[0].GetLabel()
			if l[0].GetValue() != "401" || l[1].GetValue() != "POST "+wire.PathEnroll {
				t.Fatalf("labels = %v", l)
			}
		}
	}
	for _, n := range []string{"wirefleet_http_requests_total", "wirefleet_enrollments_total", "wirefleet_longpolls_connected", "wirefleet_machines"} {
		if !found[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}

func TestHealthReportsAreStoredWithBoundedHistory(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{})
	a, ra := e.agent(t, tok, "healthy")
	for i := range healthHistory + 10 {
		rep := wire.HealthReport{At: time.Now(), AgentVersion: "1", OS: "linux", CPUPercent: float64(i) / 2, MemTotal: 100, MemUsed: 50,
			Tunnel: wire.TunnelHealth{Up: true, Interface: "wf0", PeerCount: 1, Peers: []wire.PeerHealth{{ID: "m_x", Name: "peer", RxBytes: int64(i), Path: "direct", LatencyMS: 1.5}}}}
		if _, err := a.ReportHealth(ctx, rep); err != nil {
			t.Fatal(err)
		}
	}
	var h wire.MachineHealth
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		h, err = e.admin.Health(ctx, ra.Name, healthHistory)
		if err != nil {
			t.Fatal(err)
		}
		if h.Latest != nil && h.Latest.CPUPercent == float64(healthHistory+9)/2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h.Latest == nil || h.Latest.CPUPercent != float64(healthHistory+9)/2 || !h.Online || h.ReceivedAt == nil {
		t.Fatalf("latest = %+v online=%v, want the last report and online", h.Latest, h.Online)
	}
	if len(h.History) != healthHistory || h.History[0].CPUPercent != float64(healthHistory+9)/2 || h.History[healthHistory-1].CPUPercent != 5 {
		t.Fatalf("history has %d entries from %v to %v; want the newest %d", len(h.History), h.History[0].CPUPercent, h.History[len(h.History)-1].CPUPercent, healthHistory)
	}
	if p := h.Latest.Tunnel.Peers; len(p) != 1 || p[0].Path != "direct" || p[0].LatencyMS != 1.5 {
		t.Fatalf("peer path not kept: %+v", p)
	}
	m, _ := e.admin.Machine(ctx, ra.MachineID)
	if m.Health == nil || m.Health.MemUsed != 50 {
		t.Fatalf("machine listing lacks the latest health: %+v", m.Health)
	}
	// A peer reached through a peer relay.
	viaRelay := wire.HealthReport{OS: "linux", Tunnel: wire.TunnelHealth{Peers: []wire.PeerHealth{{ID: "m_x", Name: "peer", Path: "peer-relay", LatencyMS: 0.9}}}}
	if _, err := a.ReportHealth(ctx, viaRelay); err != nil {
		t.Fatalf("a report naming a peer-relay path: %v", err)
	}
	// Hostile or oversized reports are refused and nothing is stored.
	for _, bad := range []wire.HealthReport{
		{OS: "linux\x00"},
		{Kernel: strings.Repeat("k", 500)},
		{Tunnel: wire.TunnelHealth{Peers: make([]wire.PeerHealth, wire.MaxHealthPeers+1)}},
		{Tunnel: wire.TunnelHealth{Peers: []wire.PeerHealth{{Path: "direct\u202e"}}}},
		{Tunnel: wire.TunnelHealth{Peers: []wire.PeerHealth{{Path: "relay", LatencyMS: -1}}}},
		{Tunnel: wire.TunnelHealth{Peers: []wire.PeerHealth{{Path: "direct", LatencyMS: 1e23}}}},
		{Tunnel: wire.TunnelHealth{Error: "Error loading wintun.dll\r\nforged: line"}},
		{Tunnel: wire.TunnelHealth{Error: strings.Repeat("e", wire.MaxTunnelErrorLen+1)}},
	} {
		if _, err := a.ReportHealth(ctx, bad); code(err) != wire.CodeInvalidArgument {
			t.Errorf("bad report accepted: %v", err)
		}
	}
}

func TestFlagsCRUDETagAndLongPoll(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Tags: []string{"env:prod"}})
	a, _ := e.agent(t, tok, "flaggy")
	set, et, nm, err := a.AgentFlags(ctx, "", 0)
	if err != nil || nm || len(set.Flags) != 0 || et == "" || set.Machine.Tags[0] != "env:prod" {
		t.Fatalf("first fetch = %+v %q %v %v", set, et, nm, err)
	}
	if _, _, nm, err := a.AgentFlags(ctx, et, 0); err != nil || !nm {
		t.Fatalf("conditional fetch: notModified=%v err=%v, want 304", nm, err)
	}
	// Bad definitions are refused with a stable code and change nothing.
	for _, bad := range []wire.Flag{
		{Key: "x", Type: "boolean", Default: json.RawMessage(`"yes"`)},
		{Key: "<b>", Type: "boolean", Default: json.RawMessage(`true`)},
	} {
		if _, err := e.admin.SetFlag(ctx, bad); code(err) != wire.CodeInvalidArgument {
			t.Fatalf("bad flag %+v: %v", bad, err)
		}
	}
	// A held poll returns as soon as a flag changes.
	type res struct {
		set wire.FlagSet
		nm  bool
		at  time.Time
	}
	got := make(chan res, 1)
	go func() {
		s, _, nm, _ := a.AgentFlags(ctx, et, 30*time.Second)
		got <- res{s, nm, time.Now()}
	}()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	f, err := e.admin.SetFlag(ctx, wire.Flag{Key: "new-ui", Type: "boolean", Enabled: true, Default: json.RawMessage(`false`),
		Rules: []wire.FlagRule{{Tags: []string{"env:prod"}, Value: json.RawMessage(`true`)}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.nm || len(r.set.Flags) != 1 || r.set.Flags[0].Key != "new-ui" || r.at.Sub(t0) > time.Second {
			t.Fatalf("held poll = %+v after %v", r, r.at.Sub(t0))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("flag change did not wake the held poll")
	}
	if got, _ := e.admin.Flag(ctx, "new-ui"); got.Version != f.Version || got.UpdatedBy != "admin:root" {
		t.Fatalf("stored flag = %+v", got)
	}
	if err := e.admin.DeleteFlag(ctx, "new-ui"); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.DeleteFlag(ctx, "new-ui"); code(err) != wire.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}
	page, _ := e.admin.Audit(ctx, client.AuditFilter{Action: "flag."})
	if len(page.Events) != 2 {
		t.Fatalf("flag audit events = %d, want set + delete", len(page.Events))
	}
}

// TestRevocationEndsHeldFlagPolls: a revoked or deleted machine holding a
// flags long-poll gets machine_revoked at once — and never the flag set,
// even when an admin changes a flag right after the revocation (before,
// the poll slept on the flags alone and then answered 200 with every
// flag). The same for a poll still held when the server stops: it is
// answered at once.
func TestRevocationEndsHeldFlagPolls(t *testing.T) {
	for _, how := range []string{"revoke", "delete", "revoke then change a flag", "delete then change a flag"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, Config{})
			ctx := context.Background()
			tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
			a, ra := e.agent(t, tok, "a")
			peer, _ := e.agent(t, tok, "peer")
			_, et, _, err := a.AgentFlags(ctx, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			_, pet, _, _ := peer.AgentFlags(ctx, "", 0)
			type res struct {
				set wire.FlagSet
				nm  bool
				err error
				at  time.Time
			}
			ca, cp := make(chan res, 1), make(chan res, 1)
			go func() { s, _, nm, err := a.AgentFlags(ctx, et, 30*time.Second); ca <- res{s, nm, err, time.Now()} }()
			go func() { s, _, nm, err := peer.AgentFlags(ctx, pet, 30*time.Second); cp <- res{s, nm, err, time.Now()} }()
			time.Sleep(150 * time.Millisecond)
			t0 := time.Now()
			if strings.HasPrefix(how, "revoke") {
				_, err = e.admin.RevokeMachine(ctx, ra.Name)
			} else {
				_, err = e.admin.DeleteMachine(ctx, ra.Name)
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(how, "change a flag") {
				if _, err := e.admin.SetFlag(ctx, wire.Flag{Key: "secret-feature", Type: "string", Enabled: true, Default: json.RawMessage(`"internal-url"`)}); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case r := <-ca:
				if code(r.err) != wire.CodeMachineRevoked || len(r.set.Flags) != 0 {
					t.Fatalf("the revoked machine's poll got %d flags, not-modified=%v, err %v; want machine_revoked", len(r.set.Flags), r.nm, r.err)
				}
				if d := r.at.Sub(t0); d > 2*time.Second {
					t.Errorf("answered %v after the revocation", d)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the revoked machine's flags poll was still held")
			}
			if strings.HasSuffix(how, "change a flag") { // the peer, still active, gets the change
				select {
				case r := <-cp:
					if r.err != nil || len(r.set.Flags) != 1 {
						t.Fatalf("the active peer's poll: %+v", r)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the active peer's poll was not woken by the flag change")
				}
			}
		})
	}
}

// TestShutdownAnswersHeldFlagPolls: when the server stops (the daemon
// closes the hub first), held flag polls are answered at once, so
// Shutdown does not wait for them (before: up to the whole hold).
func TestShutdownAnswersHeldFlagPolls(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "a")
	_, et, _, err := a.AgentFlags(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		nm  bool
		err error
	}
	got := make(chan res, 1)
	go func() { _, _, nm, err := a.AgentFlags(ctx, et, 30*time.Second); got <- res{nm, err} }()
	time.Sleep(150 * time.Millisecond)
	e.stopHub()
	select {
	case r := <-got:
		if r.err != nil || !r.nm {
			t.Fatalf("held poll at shutdown: not-modified=%v err=%v, want 304", r.nm, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held flags poll outlived the hub's close")
	}
}

// TestHealthReportFieldsAreValidated: every figure and string an agent
// sends is checked; a bad report is refused with invalid_argument and
// stores nothing (before, negative or 1e23 CPU, CR/LF and U+202E in update
// reasons and any update fields were stored and shown on the page).
func TestHealthReportFieldsAreValidated(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a, ra := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "hostile")
	good := func() wire.HealthReport {
		return wire.HealthReport{At: time.Now(), AgentVersion: "1.2.3", OS: "linux", CPUPercent: 12.5, MemTotal: 100, MemUsed: 50, DiskTotal: 10, DiskUsed: 1,
			Tunnel: wire.TunnelHealth{Up: true, Interface: "wf0", PeerCount: 2, Connected: 1, Peers: []wire.PeerHealth{{ID: "m_x", Name: "peer", RxBytes: 1, Path: "direct"}}},
			Update: &wire.UpdateStatus{From: "1.2.2", To: "1.2.3", State: "rolled_back", Reason: "crashed at start"}}
	}
	for name, mutate := range map[string]func(*wire.HealthReport){
		"negative cpu":             func(r *wire.HealthReport) { r.CPUPercent = -5 },
		"cpu 1e23":                 func(r *wire.HealthReport) { r.CPUPercent = 1e23 },
		"memory used > total":      func(r *wire.HealthReport) { r.MemUsed = 101 },
		"disk used > total":        func(r *wire.HealthReport) { r.DiskUsed = 11 },
		"uptime of 1000 years":     func(r *wire.HealthReport) { r.UptimeSec = 1000 * 365 * 24 * 3600 },
		"negative dropped":         func(r *wire.HealthReport) { r.Dropped = -1 },
		"connected > peers":        func(r *wire.HealthReport) { r.Tunnel.Connected = 3 },
		"negative peer count":      func(r *wire.HealthReport) { r.Tunnel.PeerCount, r.Tunnel.Connected = -1, -1 },
		"negative rx":              func(r *wire.HealthReport) { r.Tunnel.Peers[0].RxBytes = -1 },
		"update reason with CR/LF": func(r *wire.HealthReport) { r.Update.Reason = "ok\r\nFAKE LOG LINE" },
		"update reason with RLO":   func(r *wire.HealthReport) { r.Update.Reason = "\u202eevil" },
		"update reason 300 bytes":  func(r *wire.HealthReport) { r.Update.Reason = strings.Repeat("x", 300) },
		"update from not a version": func(r *wire.HealthReport) {
			r.Update.From = "<script>"
		},
		"update to empty":       func(r *wire.HealthReport) { r.Update.To = "" },
		"update state unknown":  func(r *wire.HealthReport) { r.Update.State = "pwned" },
		"platform with newline": func(r *wire.HealthReport) { r.Platform = "debian\n12" },
	} {
		rep := good()
		mutate(&rep)
		if _, err := a.ReportHealth(ctx, rep); code(err) != wire.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", name, err)
		}
	}
	time.Sleep(2 * healthEvery)
	if h, err := e.admin.Health(ctx, ra.Name, 10); err != nil || h.Latest != nil {
		t.Fatalf("a refused report was stored: %+v (%v)", h.Latest, err)
	}
	if _, err := a.ReportHealth(ctx, good()); err != nil {
		t.Fatalf("the good report: %v", err)
	}
}

func TestReleasePublishingRefusesBadInput(t *testing.T) {
	e := newEnvWith(t, Config{}, fleet.Config{Releases: releasestore.NewStore(t.TempDir())})
	ctx := context.Background()
	if err := e.admin.UploadReleaseFile(ctx, ".hidden", strings.NewReader("x")); code(err) != wire.CodeInvalidArgument {
		t.Fatalf("disallowed file name: %v", err)
	}
	if err := e.admin.PublishKeys(ctx, wire.PublishKeysRequest{RootPublicKey: "not a key", KeysJSON: "{}", Signature: "x"}); code(err) != wire.CodeInvalidArgument {
		t.Fatalf("bad root key: %v", err)
	}
	// No keys yet: a manifest cannot be accepted.
	if err := e.admin.PublishManifest(ctx, "stable", wire.PublishManifestRequest{Manifest: "{}", Signature: "x"}, nil); code(err) != wire.CodeNotFound {
		t.Fatalf("manifest before keys: %v", err)
	}
	if err := e.admin.PublishManifest(ctx, "Bad Channel", wire.PublishManifestRequest{}, nil); code(err) == "" {
		t.Fatal("bad channel name accepted")
	}
	if err := e.admin.PauseRollout(ctx, "stable", true); code(err) != wire.CodeNotFound {
		t.Fatalf("pausing a channel with no release: %v", err)
	}
	st, c := raw(t, "PUT", e.url+wire.PathReleases+"/files/x", "", strings.NewReader("x"))
	if st != 401 || c != wire.CodeUnauthenticated {
		t.Fatalf("upload without an API key: %d %s", st, c)
	}
}

// TestCachedCredentialsFollowMachineChanges: agent requests are
// authenticated from memory, but an admin's change to the machine is seen
// by its very next request.
func TestCachedCredentialsFollowMachineChanges(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a, ra := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "a")
	_, etag, _, err := a.AgentFlags(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, notMod, err := a.AgentFlags(ctx, etag, 0); err != nil || !notMod {
		t.Fatalf("same facts: notModified=%v err=%v, want 304", notMod, err)
	}
	tags := []string{"moved"}
	if _, err := e.admin.UpdateMachine(ctx, ra.MachineID, wire.UpdateMachineRequest{Tags: &tags}); err != nil {
		t.Fatal(err)
	}
	set, etag2, notMod, err := a.AgentFlags(ctx, etag, 0)
	if err != nil || notMod || etag2 == etag || !slices.Contains(set.Machine.Tags, "moved") {
		t.Fatalf("after a tag change: notModified=%v etag %q→%q tags=%v err=%v; want the new tag at once", notMod, etag, etag2, set.Machine.Tags, err)
	}
}

func TestPinnedVersionReachesTheAgentWithItsNextHealthReport(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a, ra := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "a")
	rep := wire.HealthReport{At: time.Now(), AgentVersion: "2.0.0", OS: "linux"}
	if ack, err := a.ReportHealth(ctx, rep); err != nil || ack.Pin != "" {
		t.Fatalf("unpinned: ack %+v, %v", ack, err)
	}
	for _, bad := range []string{"../../etc/passwd", "1.0 beta", strings.Repeat("9", 65), "-rc1"} {
		if _, err := e.admin.UpdateMachine(ctx, ra.MachineID, wire.UpdateMachineRequest{PinnedVersion: &bad}); code(err) != wire.CodeInvalidArgument {
			t.Errorf("pin %q: %v, want invalid_argument", bad, err)
		}
	}
	v := "1.5.0"
	m, err := e.admin.UpdateMachine(ctx, ra.MachineID, wire.UpdateMachineRequest{PinnedVersion: &v})
	if err != nil || m.PinnedVersion != v {
		t.Fatalf("pin: %+v, %v", m, err)
	}
	if ack, err := a.ReportHealth(ctx, rep); err != nil || ack.Pin != v {
		t.Fatalf("pinned: ack %+v, %v; want pin %s at once", ack, err, v)
	}
	none := ""
	if _, err := e.admin.UpdateMachine(ctx, ra.MachineID, wire.UpdateMachineRequest{PinnedVersion: &none}); err != nil {
		t.Fatal(err)
	}
	if ack, _ := a.ReportHealth(ctx, rep); ack.Pin != "" {
		t.Fatalf("unpinned again: ack %+v", ack)
	}
	page, err := e.db.ListAudit(ctx, store.AuditFilter{Action: "machine.pin_version"})
	if err != nil || len(page.Events) != 2 {
		t.Fatalf("audit: %d pin events (%v), want 2", len(page.Events), err)
	}
}

// Under an access policy a held poll is answered only by changes that
// concern the machine: an enrollment in another team keeps it held; one
// in its own team answers it at once; the policy change that makes them
// peers does too. (Before, every change answered every poll with an empty
// delta, which each agent then polled again after.)
func TestPolicyPollsHoldThroughOtherMachinesChanges(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	policy := `{"tags": ["tag:a", "tag:b"], "rules": [{"src": ["tag:a"], "dst": ["tag:a"]}, {"src": ["tag:b"], "dst": ["tag:b"]}]}`
	if _, err := e.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: policy}); err != nil {
		t.Fatal(err)
	}
	ta := e.token(t, wire.CreateTokenRequest{Reusable: true, Tags: []string{"a"}})
	tb := e.token(t, wire.CreateTokenRequest{Reusable: true, Tags: []string{"b"}})
	a, _ := e.agent(t, ta, "a1")
	poll := func() chan wire.NetMap {
		ch := make(chan wire.NetMap, 1)
		v := e.hub.Version()
		go func() {
			nm, err := a.Netmap(ctx, v, 60*time.Second)
			if err != nil {
				t.Error(err)
			}
			ch <- nm
		}()
		time.Sleep(100 * time.Millisecond)
		return ch
	}
	ch := poll()
	e.agent(t, tb, "b1") // another team: a1 does not see it
	select {
	case nm := <-ch:
		t.Fatalf("a1's poll was answered by a change it cannot see: %+v", nm)
	case <-time.After(time.Second):
	}
	_, a2 := e.agent(t, ta, "a2") // a1's peer
	select {
	case nm := <-ch:
		if len(nm.Added) != 1 || nm.Added[0].ID != a2.MachineID {
			t.Fatalf("a1 got %+v, want a2 added", nm)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a peer's enrollment did not answer the held poll")
	}
	ch = poll()
	open := `{"tags": ["tag:a", "tag:b"], "rules": [{"src": ["*"], "dst": ["*"]}]}`
	if _, err := e.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: open}); err != nil {
		t.Fatal(err)
	}
	select {
	case nm := <-ch:
		if len(nm.Added) != 1 || nm.Added[0].Name != "b1" || nm.Self == nil || nm.Self.Filter == nil || nm.Self.Filter.Policy != 2 {
			t.Fatalf("after the policy change a1 got %+v, want b1 added and its new rules", nm)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the policy change did not answer the held poll")
	}
}

// Health reports are acknowledged before they are written: a batch the
// database refuses for a moment (a deadlock, a failover) is written again,
// not dropped.
func TestHealthBatchIsRetriedAfterAFailedWrite(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a, ra := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "retried")
	raw, err := sql.Open("sqlite", "file:"+e.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{
		`CREATE TABLE fail_health (on_ INTEGER)`, `INSERT INTO fail_health VALUES (1)`,
		`CREATE TRIGGER fail_health BEFORE INSERT ON health_reports WHEN (SELECT on_ FROM fail_health) = 1 BEGIN SELECT RAISE(ABORT, 'refused for the test'); END`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.ReportHealth(ctx, wire.HealthReport{At: time.Now(), AgentVersion: "1", OS: "linux", CPUPercent: 42}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(healthEvery + 100*time.Millisecond) // the first write has failed
	if _, err := raw.Exec(`UPDATE fail_health SET on_ = 0`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		h, err := e.admin.Health(ctx, ra.Name, 10)
		if err != nil {
			t.Fatal(err)
		}
		if h.Latest != nil && h.Latest.CPUPercent == 42 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the acknowledged report was not written after the database recovered")
		}
	}
}

// An admin's key-rotation request reaches the machine's agent in its Self;
// the rotation (a rekey) registers a dated key, ends the request, reaches
// peers, and is audited. A retried rekey of the same key changes nothing;
// a revoked machine cannot be asked.
func TestKeyRotationRequest(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	a, ra := e.agent(t, tok, "a")
	b, _ := e.agent(t, tok, "b")
	first, err := e.admin.Machine(ctx, ra.Name)
	if err != nil || first.KeyCreatedAt == nil || first.RotateKeyBefore != nil {
		t.Fatalf("fresh machine: key created %v, rotation %v (%v)", first.KeyCreatedAt, first.RotateKeyBefore, err)
	}
	nm, err := a.Netmap(ctx, 0, 0)
	if err != nil || nm.Self.PublicKey != first.PublicKey || nm.Self.RotateKeyBefore != nil {
		t.Fatalf("self before the request: %+v (%v)", nm.Self, err)
	}
	v := nm.Version
	time.Sleep(2 * time.Millisecond) // the request is dated after the key
	asked, err := e.admin.RotateKey(ctx, ra.Name)
	if err != nil || asked.RotateKeyBefore == nil {
		t.Fatalf("rotate-key: %+v %v", asked, err)
	}
	nm, err = a.Netmap(ctx, v, 5*time.Second)
	if err != nil || nm.Self == nil || nm.Self.RotateKeyBefore == nil || !nm.Self.RotateKeyBefore.Equal(*asked.RotateKeyBefore) {
		t.Fatalf("the request did not reach the agent: %+v (%v)", nm.Self, err)
	}
	v = nm.Version
	bv := e.hub.Version()
	got := make(chan wire.NetMap, 1)
	go func() { nm, _ := b.Netmap(ctx, bv, 30*time.Second); got <- nm }()
	time.Sleep(50 * time.Millisecond)
	newKey := pubkey()
	done, err := a.Rekey(ctx, newKey)
	if err != nil || done.PublicKey != newKey || done.RotateKeyBefore != nil || !done.KeyCreatedAt.After(*first.KeyCreatedAt) {
		t.Fatalf("rekey: %+v %v", done, err)
	}
	select {
	case nm := <-got:
		if len(nm.Changed) != 1 || nm.Changed[0].PublicKey != newKey {
			t.Fatalf("the peer sees %+v", nm)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the rotation did not reach the peer")
	}
	nm, err = a.Netmap(ctx, v, 5*time.Second)
	if err != nil || nm.Self == nil || nm.Self.PublicKey != newKey || nm.Self.RotateKeyBefore != nil {
		t.Fatalf("self after the rotation: %+v (%v)", nm.Self, err)
	}
	v = e.hub.Version()
	again, err := a.Rekey(ctx, newKey)
	if err != nil || !again.KeyCreatedAt.Equal(*done.KeyCreatedAt) || e.hub.Version() != v {
		t.Fatalf("a retried rekey changed something: %+v %v (version %d → %d)", again, err, v, e.hub.Version())
	}
	ev, err := e.admin.Audit(ctx, client.AuditFilter{Target: ra.MachineID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, x := range ev.Events {
		actions = append(actions, x.Action)
	}
	if s := strings.Join(actions, " "); !strings.Contains(s, "machine.rekey") || !strings.Contains(s, "machine.rotate_key") || strings.Count(s, "machine.rekey") != 1 {
		t.Fatalf("audit: %s", s)
	}
	n, err := e.admin.RotateAllKeys(ctx)
	if err != nil || n.Machines != 2 {
		t.Fatalf("rotate all: %+v %v", n, err)
	}
	if _, err := e.admin.RevokeMachine(ctx, ra.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.RotateKey(ctx, ra.Name); code(err) != wire.CodeConflict {
		t.Fatalf("rotate a revoked machine: %v, want conflict", err)
	}
	if n, err := e.admin.RotateAllKeys(ctx); err != nil || n.Machines != 1 {
		t.Fatalf("rotate all after a revocation: %+v %v", n, err)
	}
}

// Credential rotation: the next credential works beside the current one
// until its first use, which retires the current one (a crash between
// issuing and storing it leaves the current one working). An unused next
// credential is replaced by the next issue; a revoked machine's is refused.
func TestCredentialRotation(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a, ra := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "rotating")
	with := func(cred string) *client.Client { c, _ := client.New(e.url, client.WithToken(cred)); return c }
	lost, err := a.NextCredential(ctx)
	if err != nil || lost == ra.Credential || !strings.HasPrefix(lost, wire.PrefixMachineCred) {
		t.Fatalf("next credential: %q %v", lost, err)
	}
	// The agent "crashed" before storing it: the current one still works,
	// and asking again replaces the lost one.
	if _, err := a.Netmap(ctx, 0, 0); err != nil {
		t.Fatalf("the current credential after an issue: %v", err)
	}
	next, err := a.NextCredential(ctx)
	if err != nil || next == lost {
		t.Fatalf("second issue: %q %v", next, err)
	}
	if _, err := with(lost).Netmap(ctx, 0, 0); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("a replaced, never-used next credential: %v, want unauthenticated", err)
	}
	if _, err := a.Netmap(ctx, 0, 0); err != nil {
		t.Fatalf("the current credential before the next one is used: %v", err)
	}
	a.SetToken(next)
	if _, err := a.Netmap(ctx, 0, 0); err != nil {
		t.Fatalf("the next credential's first use: %v", err)
	}
	if _, err := with(ra.Credential).Netmap(ctx, 0, 0); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("the retired credential: %v, want unauthenticated", err)
	}
	if _, err := a.ReportHealth(ctx, wire.HealthReport{At: time.Now(), AgentVersion: "1", OS: "linux"}); err != nil {
		t.Fatalf("the new credential afterwards: %v", err)
	}
	page, err := e.admin.Audit(ctx, client.AuditFilter{Target: ra.MachineID, Action: "machine.credential_rotate"})
	if err != nil || len(page.Events) != 1 {
		t.Fatalf("audit: %+v %v", page.Events, err)
	}
	third, err := a.NextCredential(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.RevokeMachine(ctx, ra.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := with(third).Netmap(ctx, 0, 0); code(err) != wire.CodeMachineRevoked {
		t.Fatalf("a revoked machine's next credential: %v, want machine_revoked", err)
	}
	if _, err := a.NextCredential(ctx); code(err) != wire.CodeMachineRevoked {
		t.Fatalf("issue for a revoked machine: %v, want machine_revoked", err)
	}
}

// Machine expiry: machines get the server's lifetime or their token's; a
// machine past its expiry is refused with machine_expired (not revoked: its
// agent keeps its secrets) and leaves its peers' maps; a held poll learns it
// the same way; a token brings it back with its name and addresses; an
// admin can turn expiry off; a revoked machine cannot come back.
func TestMachineExpiry(t *testing.T) {
	e := newEnvWith(t, Config{}, fleet.Config{BcryptCost: bcrypt.MinCost, MachineExpiry: time.Hour})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	a, ra := e.agent(t, tok, "a")
	b, _ := e.agent(t, tok, "b")
	ma, _ := e.admin.Machine(ctx, ra.Name)
	if ma.ExpiresAt == nil || time.Until(*ma.ExpiresAt) < 59*time.Minute || time.Until(*ma.ExpiresAt) > time.Hour {
		t.Fatalf("expiry with --machine-expiry 1h: %v", ma.ExpiresAt)
	}
	long, err := e.admin.CreateToken(ctx, wire.CreateTokenRequest{MachineExpiry: "720h"})
	if err != nil || long.Token.MachineExpiry != "720h0m0s" {
		t.Fatalf("token with a machine expiry: %+v %v", long.Token, err)
	}
	_, rc := e.agent(t, long.Secret, "c")
	if mc, _ := e.admin.Machine(ctx, rc.Name); mc.ExpiresAt == nil || time.Until(*mc.ExpiresAt) < 719*time.Hour {
		t.Fatalf("the token's lifetime did not win: %v", mc.ExpiresAt)
	}
	if _, err := e.admin.CreateToken(ctx, wire.CreateTokenRequest{MachineExpiry: "1m"}); code(err) != wire.CodeInvalidArgument {
		t.Fatalf("a 1-minute machine expiry: %v, want invalid_argument", err)
	}

	// a expires while it holds a poll (the janitor's path) …
	in1ms, soon := "1ms", "300ms"
	if _, err := e.admin.UpdateMachine(ctx, ra.Name, wire.UpdateMachineRequest{Expiry: &soon}); err != nil {
		t.Fatal(err)
	}
	nm, err := b.Netmap(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	va, err := a.Netmap(ctx, 0, 0) // before its time
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, err := a.Netmap(ctx, va.Version, 30*time.Second); held <- err }()
	time.Sleep(350 * time.Millisecond)
	if ok, err := e.fl.ExpireMachine(ctx, store.Actor{Name: "system:expiry"}, ra.MachineID); err != nil || !ok {
		t.Fatalf("expire: %v %v", ok, err)
	}
	select {
	case err := <-held:
		if code(err) != wire.CodeMachineExpired {
			t.Fatalf("a's held poll: %v, want machine_expired", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a's held poll did not end")
	}
	nm, err = b.Netmap(ctx, nm.Version, 0)
	if err != nil || len(nm.Removed) != 1 || nm.Removed[0] != ra.MachineID {
		t.Fatalf("b's map after a expired: %+v %v", nm, err)
	}
	for _, err := range []error{
		func() error { _, err := a.Netmap(ctx, 0, 0); return err }(),
		func() error {
			_, err := a.ReportHealth(ctx, wire.HealthReport{At: time.Now(), OS: "linux", AgentVersion: "1"})
			return err
		}(),
	} {
		if code(err) != wire.CodeMachineExpired {
			t.Fatalf("an expired machine's request: %v, want machine_expired", err)
		}
	}
	if m, _ := e.admin.Machine(ctx, ra.Name); m.State != wire.MachineExpired {
		t.Fatalf("state %q, want expired", m.State)
	}

	// … and comes back with a token, as itself.
	if _, err := a.Reauth(ctx, "wfe_notatoken"); code(err) != wire.CodeTokenInvalid {
		t.Fatalf("reauth with garbage: %v, want token_invalid", err)
	}
	back, err := a.Reauth(ctx, tok)
	if err != nil || back.State != wire.MachineActive || back.Name != ra.Name || back.IPv4 != ra.IPv4 || back.IPv6 != ra.IPv6 ||
		back.ExpiresAt == nil || time.Until(*back.ExpiresAt) < 59*time.Minute {
		t.Fatalf("reauth: %+v %v", back, err)
	}
	nm, err = b.Netmap(ctx, nm.Version, 0)
	if err != nil || len(nm.Added) != 1 || nm.Added[0].ID != ra.MachineID || nm.Added[0].IPv4 != ra.IPv4 {
		t.Fatalf("b's map after a came back: %+v %v", nm, err)
	}
	if _, err := a.Netmap(ctx, 0, 0); err != nil {
		t.Fatalf("a after reauth: %v", err)
	}

	// A request after the time expires the machine at once (no janitor).
	if _, err := e.admin.UpdateMachine(ctx, ra.Name, wire.UpdateMachineRequest{Expiry: &in1ms}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := a.Netmap(ctx, 0, 0); code(err) != wire.CodeMachineExpired {
		t.Fatalf("a request past the expiry: %v, want machine_expired", err)
	}
	// An admin turning expiry off brings it back, and it stays.
	off := "off"
	m, err := e.admin.UpdateMachine(ctx, ra.Name, wire.UpdateMachineRequest{Expiry: &off})
	if err != nil || !m.ExpiryDisabled || m.State != wire.MachineActive {
		t.Fatalf("expiry off: %+v %v", m, err)
	}
	if _, err := a.Netmap(ctx, 0, 0); err != nil {
		t.Fatalf("a with expiry off: %v", err)
	}
	page, _ := e.admin.Audit(ctx, client.AuditFilter{Target: ra.MachineID})
	var actions []string
	for _, ev := range page.Events {
		actions = append(actions, ev.Action)
	}
	for _, want := range []string{"machine.expire", "machine.reauth", "machine.expiry"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
	// A revoked machine cannot come back.
	if _, err := e.admin.RevokeMachine(ctx, ra.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reauth(ctx, tok); code(err) != wire.CodeMachineRevoked {
		t.Fatalf("reauth of a revoked machine: %v, want machine_revoked", err)
	}
}

// A TLS key rotation waits until every active agent holds the next key
// (from its map, confirmed in its health report), then serves it and
// announces a new next key to every agent's Self; --force skips the wait.
func TestTLSRotationWaitsForEveryAgent(t *testing.T) {
	keys, err := tlsutil.OpenKeys(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOpts(t, Config{TLS: keys}, fleet.Config{BcryptCost: bcrypt.MinCost}, netmap.Options{ServerPins: keys.Pins})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	a, _ := e.agent(t, tok, "a")
	_, rb := e.agent(t, tok, "b")
	nm, err := a.Netmap(ctx, 0, 0)
	if err != nil || !slices.Equal(nm.Self.ServerPins, keys.Pins()) {
		t.Fatalf("the map's pins %v, want %v (%v)", nm.Self.ServerPins, keys.Pins(), err)
	}
	first := keys.Pins()
	report := func(c *client.Client, pins []string) {
		t.Helper()
		if _, err := c.ReportHealth(ctx, wire.HealthReport{At: time.Now(), AgentVersion: "1", OS: "linux", ServerPins: pins}); err != nil {
			t.Fatal(err)
		}
	}
	report(a, first)
	waitHealth := func(name string, pins []string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if m, _ := e.admin.Machine(ctx, name); m.Health != nil && slices.Equal(m.Health.ServerPins, pins) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's report with %v not stored", name, pins)
			}
		}
	}
	waitHealth("a", first)
	_, err = e.admin.RotateTLS(ctx, false)
	if code(err) != wire.CodeConflict || !strings.Contains(err.Error(), "1 active machine(s)") || !strings.Contains(err.Error(), rb.Name) {
		t.Fatalf("rotation with b unconfirmed: %v, want conflict naming b", err)
	}
	if keys.Pin() != first[0] {
		t.Fatal("a refused rotation rotated")
	}
	b, _ := client.New(e.url, client.WithToken(rb.Credential))
	report(b, first)
	waitHealth("b", first)
	v := nm.Version
	r, err := e.admin.RotateTLS(ctx, false)
	if err != nil || r.Pin != first[1] || r.NextPin == first[0] || r.NextPin == first[1] || keys.Pin() != first[1] {
		t.Fatalf("rotation: %+v %v (before %v)", r, err, first)
	}
	nm, err = a.Netmap(ctx, v, 5*time.Second)
	if err != nil || nm.Self == nil || !slices.Equal(nm.Self.ServerPins, []string{r.Pin, r.NextPin}) {
		t.Fatalf("after the rotation a's map carries %+v (%v)", nm.Self, err)
	}
	page, _ := e.admin.Audit(ctx, client.AuditFilter{Action: "tls.rotate"})
	if len(page.Events) != 1 || page.Events[0].Details["pin"] != r.Pin {
		t.Fatalf("audit: %+v", page.Events)
	}
	// Nobody confirmed the new next key yet: only --force rotates.
	if _, err := e.admin.RotateTLS(ctx, false); code(err) != wire.CodeConflict {
		t.Fatalf("second rotation before anyone confirmed: %v, want conflict", err)
	}
	if r2, err := e.admin.RotateTLS(ctx, true); err != nil || r2.Pin != r.NextPin {
		t.Fatalf("forced rotation: %+v %v", r2, err)
	}
}

// Without a self-signed key set (the operator's certificate) there is
// nothing to rotate: a clear conflict.
func TestTLSRotationNeedsTheServersOwnKey(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.admin.RotateTLS(context.Background(), false); code(err) != wire.CodeConflict || !strings.Contains(err.Error(), "--tls-cert") {
		t.Fatalf("rotate without keys: %v", err)
	}
}

// Interactive enrollment: a machine without a token asks, waits, and is
// enrolled (owned by the approver) once an admin approves its code; a
// denial, an expiry, a second use and a wrong secret are refused with
// their own codes.
func TestInteractiveEnrollment(t *testing.T) {
	e := newEnv(t, Config{Info: func() wire.ServerInfo { return wire.ServerInfo{URL: "https://fleet.example:8443"} }})
	ctx := context.Background()
	anon, _ := client.New(e.url)
	req := enrollReq("", "laptop-7")
	ir, err := anon.RequestEnrollment(ctx, req)
	if err != nil || len(ir.Code) != 9 || ir.URL != "https://fleet.example:8443/e/"+ir.Code || !strings.HasPrefix(ir.Secret, wire.PrefixPendingSecret) {
		t.Fatalf("request: %+v %v", ir, err)
	}
	waiter, _ := client.New(e.url, client.WithToken(ir.Secret))
	if _, done, err := waiter.WaitEnrollment(ctx, 0); err != nil || done {
		t.Fatalf("before a decision: done=%v %v", done, err)
	}
	list, err := e.admin.Enrollments(ctx)
	if err != nil || len(list) != 1 || list[0].Code != ir.Code || list[0].Hostname != "laptop-7" || list[0].State != "pending" {
		t.Fatalf("list: %+v %v", list, err)
	}
	// The waiting agent's poll is answered by the approval.
	got := make(chan error, 1)
	var resp wire.EnrollResponse
	go func() {
		var done bool
		var err error
		resp, done, err = waiter.WaitEnrollment(ctx, 10*time.Second)
		if err == nil && !done {
			err = errors.New("not done")
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if p, err := e.admin.DecideEnrollment(ctx, strings.ToLower(ir.Code), true); err != nil || p.State != "approved" {
		t.Fatalf("approve: %+v %v", p, err)
	}
	if err := <-got; err != nil {
		t.Fatalf("wait after approval: %v", err)
	}
	m, err := e.admin.Machine(ctx, resp.MachineID)
	if err != nil || m.Owner != "root" || m.Name != "laptop-7" || m.PublicKey != req.PublicKey {
		t.Fatalf("enrolled machine: %+v %v", m, err)
	}
	agent, _ := client.New(e.url, client.WithToken(resp.Credential))
	if _, err := agent.Netmap(ctx, 0, 0); err != nil {
		t.Fatalf("the new credential: %v", err)
	}
	if _, _, err := waiter.WaitEnrollment(ctx, 0); code(err) != wire.CodeConflict {
		t.Fatalf("a second collection: %v, want conflict", err)
	}
	if _, err := e.admin.DecideEnrollment(ctx, ir.Code, false); code(err) != wire.CodeConflict {
		t.Fatalf("deciding again: %v, want conflict", err)
	}

	ir2, _ := anon.RequestEnrollment(ctx, enrollReq("", "stranger"))
	w2, _ := client.New(e.url, client.WithToken(ir2.Secret))
	e.admin.DecideEnrollment(ctx, ir2.Code, false)
	if _, _, err := w2.WaitEnrollment(ctx, 0); code(err) != wire.CodeEnrollmentDenied {
		t.Fatalf("denied: %v, want enrollment_denied", err)
	}
	ir3, _ := anon.RequestEnrollment(ctx, enrollReq("", "late"))
	w3, _ := client.New(e.url, client.WithToken(ir3.Secret))
	e.db.Now = func() time.Time { return time.Now().Add(16 * time.Minute) }
	if _, _, err := w3.WaitEnrollment(ctx, 0); code(err) != wire.CodeEnrollmentExpired {
		t.Fatalf("expired: %v, want enrollment_expired", err)
	}
	if _, err := e.admin.DecideEnrollment(ctx, ir3.Code, true); code(err) != wire.CodeConflict {
		t.Fatalf("approving an expired request: %v, want conflict", err)
	}
	e.db.Now = time.Now
	bogus, _ := client.New(e.url, client.WithToken(wire.PrefixPendingSecret+strings.Repeat("a", 52)))
	if _, _, err := bogus.WaitEnrollment(ctx, 0); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("wrong secret: %v, want unauthenticated", err)
	}
	bad := enrollReq("", "x")
	bad.PublicKey = "nope"
	if _, err := anon.RequestEnrollment(ctx, bad); code(err) != wire.CodeInvalidPublicKey {
		t.Fatalf("bad key: %v, want invalid_public_key", err)
	}
}

// A revoked machine keeps its name, tags and pin (only deleting it frees
// the name), and only a published version can be pinned.
func TestRevokedMachinesAndUnpublishedVersionsAreRefused(t *testing.T) {
	e := newEnvWith(t, Config{}, fleet.Config{Releases: releasestore.NewStore(t.TempDir())})
	ctx := context.Background()
	_, ra := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "a")
	v := "9.9.9"
	if _, err := e.admin.UpdateMachine(ctx, ra.MachineID, wire.UpdateMachineRequest{PinnedVersion: &v}); code(err) != wire.CodeNotFound {
		t.Errorf("pinning a version never published: %v, want not_found", err)
	}
	if _, err := e.admin.RevokeMachine(ctx, ra.MachineID); err != nil {
		t.Fatal(err)
	}
	name, tags, none := "b", []string{"web"}, ""
	for what, u := range map[string]wire.UpdateMachineRequest{"rename": {Name: &name}, "retag": {Tags: &tags}, "unpin": {PinnedVersion: &none}} {
		if _, err := e.admin.UpdateMachine(ctx, ra.MachineID, u); code(err) != wire.CodeConflict {
			t.Errorf("%s a revoked machine: %v, want conflict", what, err)
		}
	}
}

// Refusals the API does not write itself — the relay's before its
// WebSocket upgrade, net/http/pprof's — still carry a JSON error with a
// stable code.
func TestRelayAndProfileRefusalsAreJSON(t *testing.T) {
	e := newEnv(t, Config{})
	log := slog.New(slog.DiscardHandler)
	a := New(e.fl, log, prometheus.NewRegistry(), Config{Relay: relay.New(e.hub, log, nil, relay.Config{})})
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	_, enr := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "h")
	for _, tc := range []struct {
		path, auth string
		status     int
		code       wire.Code
	}{
		{wire.PathRelay, enr.Credential, http.StatusUpgradeRequired, wire.CodeUpgradeRequired},
		{"/debug/pprof/nonesuch", e.key, http.StatusNotFound, wire.CodeNotFound},
	} {
		st, c := raw(t, "GET", srv.URL+tc.path, tc.auth, nil)
		if st != tc.status || c != tc.code {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, st, c, tc.status, tc.code)
		}
	}
}
