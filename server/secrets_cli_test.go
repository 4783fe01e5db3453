package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/sealed"
)

// noSecretsInClear fails when a file under dir holds a PEM private key,
// an age identity or one of the given values.
func noSecretsInClear(t *testing.T, dir string, values ...string) {
	t.Helper()
	needles := append([]string{"PRIVATE KEY", "AGE-SECRET-KEY"}, values...)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == "wirefleet.sock" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds %q in the clear", p, n)
			}
		}
		return nil
	})
}

// A server whose data directory predates sealing runs plain; secrets seal
// seals it while it serves (the pin does not change, a backup is taken
// first); it restarts sealed on the same pin; rotations are audited; and
// after --plain-fallback-until a plain secret file is refused.
func TestSealARunningServer(t *testing.T) {
	data := t.TempDir()
	addr := freePort(t)
	p := start(t, nil, "--data-dir", data, "--listen", addr, "--secrets", "plain")
	if _, err := os.Stat(filepath.Join(data, "tls.key")); err != nil {
		t.Fatalf("--secrets=plain kept no plain TLS key: %v", err)
	}
	pinned, _ := client.New(p.url, client.WithPin(p.pin))
	ctx := context.Background()
	if _, err := pinned.Enroll(ctx, wire.EnrollRequest{}); err == nil || strings.Contains(err.Error(), "pin") {
		t.Fatalf("pinned request before sealing: %v", err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// An existing plain directory stays plain under the default (auto)
	// and says so.
	p = start(t, nil, "--data-dir", data, "--listen", addr)
	if !strings.Contains(p.output(), "secrets seal") {
		t.Errorf("a plain start does not suggest sealing:\n%s", p.output())
	}
	st := mustCLI(t, "secrets", "status", "--data-dir", data)
	if !regexp.MustCompile(`mode:\s+plain`).MatchString(st) || !strings.Contains(st, "WARNING") || !strings.Contains(st, "tls.key") {
		t.Fatalf("status of a plain server:\n%s", st)
	}
	var plainKeys []string
	for _, f := range []string{"tls.key", "tls-next.key"} {
		b, _ := os.ReadFile(filepath.Join(data, f))
		for _, k := range keyBytes(t, b) {
			plainKeys = append(plainKeys, string(k))
		}
	}
	backupTo := filepath.Join(t.TempDir(), "before-seal.tar.gz")
	out := mustCLI(t, "secrets", "seal", "--data-dir", data, "--backup-to", backupTo)
	if !strings.Contains(out, "backup written to "+backupTo) || !strings.Contains(out, "sealed 2 secrets with the key file "+data+".kek") {
		t.Fatalf("seal:\n%s", out)
	}
	if _, err := os.Stat(backupTo); err != nil {
		t.Fatalf("no backup before sealing: %v", err)
	}
	noSecretsInClear(t, data, plainKeys...)
	// Still serving, with the same key.
	if _, err := pinned.Enroll(ctx, wire.EnrollRequest{}); err == nil || strings.Contains(err.Error(), "pin") {
		t.Fatalf("pinned request after sealing: %v", err)
	}
	if out := mustCLI(t, "secrets", "seal", "--data-dir", data); !strings.Contains(out, "already sealed") {
		t.Errorf("sealing twice: %s", out)
	}

	// Rotations while it serves.
	out = mustCLI(t, "secrets", "rotate", "metrics", "--data-dir", data)
	tok := regexp.MustCompile(`(wfp_\S+)`).FindString(out)
	if tok == "" {
		t.Fatalf("rotate metrics printed no token:\n%s", out)
	}
	scrape := func(url, pin, token string) int {
		c, _ := client.New(url, client.WithPin(pin))
		req, _ := http.NewRequest("GET", url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := scrape(p.url, p.pin, tok); code != 200 {
		t.Fatalf("/metrics with the new token: %d", code)
	}
	if out, err := cli(t, "secrets", "rotate", "sso", "--data-dir", data); err == nil || !strings.Contains(out, "--value-file") {
		t.Errorf("rotate sso without a value: %v %s", err, out)
	}
	if out, err := cli(t, "secrets", "rotate", "nonsense", "--data-dir", data); err == nil || !strings.Contains(out, "(invalid_argument)") {
		t.Errorf("rotate an unknown secret: %v %s", err, out)
	}
	oldKEK, _ := os.ReadFile(data + ".kek")
	out = mustCLI(t, "secrets", "rotate", "kek", "--data-dir", data)
	if newKEK, _ := os.ReadFile(data + ".kek"); !strings.Contains(out, "age1") || bytes.Equal(oldKEK, newKEK) {
		t.Fatalf("rotate kek:\n%s", out)
	}
	audit := mustCLI(t, "audit", "--data-dir", data)
	for _, want := range []string{"secrets.seal", "secret.rotate"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
	pin := p.pin
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// Sealed at the next start, same pin, the rotated token still good.
	p = start(t, nil, "--data-dir", data, "--listen", addr)
	if p.pin != pin {
		t.Fatalf("pin changed by sealing: %s → %s", pin, p.pin)
	}
	if code := scrape(p.url, p.pin, tok); code != 200 {
		t.Fatalf("/metrics with the sealed token after restart: %d", code)
	}
	noSecretsInClear(t, data, append(plainKeys, tok)...)
	st = mustCLI(t, "secrets", "status", "--data-dir", data)
	if !regexp.MustCompile(`mode:\s+sealed`).MatchString(st) {
		t.Errorf("status after restart:\n%s", st)
	}
	for _, want := range []string{"tls.key", "tls-next.key", "metrics-token", "sealed from the plain file"} {
		if !strings.Contains(st, want) {
			t.Errorf("status lacks %q:\n%s", want, st)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	// Past the fallback day a plain secret file is refused.
	tokFile := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tokFile, []byte("a-plain-metrics-token-0123456789"), 0o600)
	if out, err := cli(t, "serve", "--data-dir", data, "--listen", addr, "--metrics-token-file", tokFile, "--plain-fallback-until", "2020-01-01"); err == nil || !strings.Contains(out, "refused after --plain-fallback-until") {
		t.Fatalf("a plain secret past the fallback day: %v\n%s", err, out)
	}
	if out, err := cli(t, "serve", "--data-dir", data, "--plain-fallback-until", "soon"); err == nil || !strings.Contains(out, "YYYY-MM-DD") {
		t.Errorf("a bad date: %v\n%s", err, out)
	}
}

// keyBytes are the forms a private key could leak in: its PEM body and
// DER (TLS) or its base64 text and raw bytes (minisign).
func keyBytes(t *testing.T, secret []byte) [][]byte {
	t.Helper()
	var out [][]byte
	if blk, _ := pem.Decode(secret); blk != nil {
		out = append(out, blk.Bytes, []byte(base64.StdEncoding.EncodeToString(blk.Bytes)[:40]))
		return out
	}
	line := strings.TrimSpace(string(secret))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(raw) < 40 {
		t.Fatalf("a release key in an unexpected form: %q", secret)
	}
	return append(out, []byte(line[:40]), raw[len(raw)/2:len(raw)/2+32])
}

// TestNothingInTheClearAfterMakeRun starts a server as make run does
// (bootstrap token, an agent published with keys kept on the server)
// plus single sign-on and a metrics token given as files, and searches
// the data directory — database and WAL included — and a backup for PEM
// markers, the raw bytes of every key (read back through the KEK) and the
// SSO secret's and metrics token's values.
func TestNothingInTheClearAfterMakeRun(t *testing.T) {
	issuer := oidcProvider(t)
	data := t.TempDir()
	dir := t.TempDir()
	agent := filepath.Join(dir, "wirefleet-agent")
	os.WriteFile(agent, []byte("#!/bin/sh\necho wirefleet-agent 1.0.0 linux/amd64\n"), 0o755)
	const ssoSecret, metricsToken = "sso-client-secret-value-4711", "metrics-token-value-0123456789"
	ssoFile, tokFile := filepath.Join(dir, "sso"), filepath.Join(dir, "metrics")
	os.WriteFile(ssoFile, []byte(ssoSecret+"\n"), 0o600)
	os.WriteFile(tokFile, []byte(metricsToken+"\n"), 0o600)
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--bootstrap-token", "--publish-agent", agent,
		"--oidc-issuer", issuer, "--oidc-client-id", "wirefleet", "--oidc-client-secret-file", ssoFile, "--oidc-allowed-domains", "corp.example",
		"--metrics-token-file", tokFile)
	if !strings.Contains(p.output(), "Secrets: sealed with the key-encryption key in key file "+data+".kek") {
		t.Fatalf("the first start does not say where the KEK is:\n%s", p.output())
	}
	if !strings.Contains(p.output(), "remove the file and drop the flag") {
		t.Errorf("no advice to remove the imported secret files:\n%s", p.output())
	}
	st := mustCLI(t, "secrets", "status", "--data-dir", data)
	for _, name := range []string{"tls.key", "tls-next.key", "release-keys/root.key", "release-keys/signing.key", "sso-client-secret", "metrics-token"} {
		if !strings.Contains(st, name) {
			t.Errorf("status lacks %s:\n%s", name, st)
		}
	}
	mustCLI(t, "tokens", "create", "--data-dir", data) // some writes in the WAL
	backupFile := filepath.Join(dir, "wf.backup")
	mustCLI(t, "backup", "--to", backupFile, "--data-dir", data)

	// The keys, read back the way the server does, to search their bytes.
	store, err := sealed.Open(data, sealed.Options{Mode: sealed.Sealed})
	if err != nil {
		t.Fatal(err)
	}
	needles := []string{ssoSecret, metricsToken}
	for _, name := range []string{sealed.TLSKey, sealed.TLSNextKey, sealed.ReleaseRoot, sealed.ReleaseSigning} {
		b, err := store.Get(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, k := range keyBytes(t, b) {
			needles = append(needles, string(k))
		}
	}
	if _, err := os.Stat(filepath.Join(data, "wirefleet.db-wal")); err != nil {
		t.Logf("no WAL file to search (%v)", err)
	}
	noSecretsInClear(t, data, needles...)
	archive := gunzip(t, backupFile)
	for _, n := range append(needles, "PRIVATE KEY", "AGE-SECRET-KEY") {
		if strings.Contains(archive, n) {
			t.Errorf("the backup holds %q in the clear", n[:min(len(n), 12)])
		}
	}
}

// oidcProvider runs an OpenID provider (zitadel's example OP) for the
// server's discovery at start.
func oidcProvider(t *testing.T) string {
	t.Helper()
	users := map[string]storage.User{"u-alice": {ID: "u-alice", Username: "alice", Password: "alice-pw", Email: "alice@corp.example", EmailVerified: true}}
	b, _ := json.Marshal(users)
	path := filepath.Join(t.TempDir(), "users.json")
	os.WriteFile(path, b, 0o600)
	us, err := storage.StoreFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	router := http.Handler(exampleop.SetupServer(srv.URL, storage.NewStorage(us), nil, false))
	h.Store(&router)
	return srv.URL
}
