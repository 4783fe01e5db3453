package main

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
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
	if !strings.Contains(p.stderr.String(), "secrets seal") {
		t.Errorf("a plain start does not suggest sealing:\n%s", p.stderr.String())
	}
	st := mustCLI(t, "secrets", "status", "--data-dir", data)
	if !regexp.MustCompile(`mode:\s+plain`).MatchString(st) || !strings.Contains(st, "WARNING") || !strings.Contains(st, "tls.key") {
		t.Fatalf("status of a plain server:\n%s", st)
	}
	backupTo := filepath.Join(t.TempDir(), "before-seal.tar.gz")
	out := mustCLI(t, "secrets", "seal", "--data-dir", data, "--backup-to", backupTo)
	if !strings.Contains(out, "backup written to "+backupTo) || !strings.Contains(out, "sealed 2 secrets with the key file "+data+".kek") {
		t.Fatalf("seal:\n%s", out)
	}
	if _, err := os.Stat(backupTo); err != nil {
		t.Fatalf("no backup before sealing: %v", err)
	}
	noSecretsInClear(t, data)
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
