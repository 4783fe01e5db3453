package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// doctor against a healthy installation (exit 0, every check ok but the
// agent's skewed clock, which it names), then against a broken one: the
// server stopped, the certificate expired, the database written by a newer
// server (exit 1, each named with what to do).
func TestDoctor(t *testing.T) {
	data := t.TempDir()
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t))
	var tr wire.CreateTokenResponse
	json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--reusable", "--json")), &tr)
	anon, _ := client.New(p.url, client.WithPin(p.pin))
	report := func(host string, at time.Time) {
		en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := client.New(p.url, client.WithPin(p.pin), client.WithToken(en.Credential))
		if _, err := a.ReportHealth(context.Background(), wire.HealthReport{At: at, AgentVersion: "1", OS: "linux"}); err != nil {
			t.Fatal(err)
		}
		rec := wire.FlowRecord{Start: at, End: at, Proto: "udp", Src: en.IPv4, Dst: "100.64.99.1", DstPort: 53, TxPackets: 1, TxBytes: 80, Verdict: wire.FlowAllowed}
		if err := a.ReportFlows(context.Background(), wire.FlowReport{Records: []wire.FlowRecord{rec, rec}}); err != nil {
			t.Fatal(err)
		}
	}
	report("punctual", time.Now())
	time.Sleep(1500 * time.Millisecond) // the health writer's batch
	out, err := cli(t, "doctor", "--data-dir", data)
	if err != nil {
		t.Fatalf("doctor on a healthy installation: %v\n%s", err, out)
	}
	for _, name := range []string{"server", "database", "audit log", "flow logs", "disk", "certificate", "release keys", "descriptors", "clock"} {
		if st := status(out, name); st != "ok" {
			t.Errorf("healthy: %s is %q in\n%s", name, st, out)
		}
	}
	if !strings.Contains(out, "quick_check ok") || !strings.Contains(out, "1 of 1 agents' clocks within 1m0s") || !regexp.MustCompile(`[1-9]\d* events, the oldest of \d{4}-\d\d-\d\d`).MatchString(out) ||
		!regexp.MustCompile(`2 records, the oldest of \d{4}-\d\d-\d\d, [\d.]+ MiB with their indexes`).MatchString(out) {
		t.Errorf("healthy:\n%s", out)
	}
	report("late", time.Now().Add(-10*time.Minute))
	time.Sleep(1500 * time.Millisecond)
	out, err = cli(t, "doctor", "--data-dir", data)
	if err != nil || status(out, "clock") != "WARN" || !strings.Contains(out, "late") || !strings.Contains(out, "NTP") {
		t.Fatalf("a skewed agent clock: %v\n%s", err, out)
	}

	// Release keys: public ones may be readable, a private one may not.
	keys := filepath.Join(data, "release-keys")
	os.MkdirAll(keys, 0o700)
	os.WriteFile(filepath.Join(keys, "signing.pub"), []byte("pub"), 0o644)
	os.WriteFile(filepath.Join(keys, "signing.key"), []byte("secret"), 0o600)
	if out, _ := cli(t, "doctor", "--data-dir", data); status(out, "release keys") != "ok" {
		t.Fatalf("owner-only private key, public public key:\n%s", out)
	}
	os.Chmod(filepath.Join(keys, "signing.key"), 0o644)
	if out, _ := cli(t, "doctor", "--data-dir", data); status(out, "release keys") != "WARN" || !strings.Contains(out, "signing.key") {
		t.Fatalf("a readable private key:\n%s", out)
	}

	// Broken: the server stopped, the certificate expired, a newer schema.
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	writeExpiredCert(t, filepath.Join(data, "tls.crt"))
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(data, "wirefleet.db"))
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err = cli(t, "doctor", "--data-dir", data)
	if err == nil {
		t.Fatalf("doctor on a broken installation exited 0:\n%s", out)
	}
	for _, name := range []string{"server", "database", "certificate"} {
		if st := status(out, name); st != "FAIL" {
			t.Errorf("broken: %s is %q in\n%s", name, st, out)
		}
	}
	for _, want := range []string{"systemctl start", "schema version 999", "expired on 2020-01-02", "renew it"} {
		if !strings.Contains(out, want) {
			t.Errorf("broken: no %q in\n%s", want, out)
		}
	}
}

// status is the mark doctor printed for a check.
func status(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, f[0])), name+":") {
			return f[0]
		}
	}
	return ""
}

func writeExpiredCert(t *testing.T, path string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old"},
		NotBefore: time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
