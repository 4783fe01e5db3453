package doctor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/server/internal/sealed"
)

// An ACME certificate close to expiry means renewals fail: doctor says
// so, and how to fix it; account keys and challenge tokens are no
// certificates.
func TestCheckACME(t *testing.T) {
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	data := t.TempDir()
	if got := checkACME(Input{DataDir: data, Now: now}); got != nil {
		t.Fatalf("without ACME: %v", got)
	}
	dir := filepath.Join(data, "acme")
	os.MkdirAll(dir, 0o700)
	write := func(name string, notAfter time.Time) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		kd, _ := x509.MarshalECPrivateKey(k)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, Issuer: pkix.Name{CommonName: "Test CA"},
			NotBefore: now.Add(-60 * 24 * time.Hour), NotAfter: notAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		b := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	write("fresh.example.org", now.Add(80*24*time.Hour))
	write("stale.example.org", now.Add(10*24*time.Hour))
	write("gone.example.org", now.Add(-24*time.Hour))
	os.WriteFile(filepath.Join(dir, "acme_account+key"), []byte("-----BEGIN EC PRIVATE KEY-----\n-----END EC PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "x+token"), []byte("t"), 0o600)
	got := map[string]Check{}
	for _, c := range checkACME(Input{DataDir: data, Now: now}) {
		got[strings.TrimPrefix(c.Name, "ACME certificate ")] = c
	}
	if len(got) != 3 {
		t.Fatalf("checks: %v", got)
	}
	for name, want := range map[string]string{"fresh.example.org": OK, "stale.example.org": Warn, "gone.example.org": Fail} {
		if c := got[name]; c.Status != want || want != OK && !strings.Contains(c.Fix, "port 443") {
			t.Errorf("%s: %+v, want %s with a fix", name, c, want)
		}
	}
}

func TestCheckExternalURL(t *testing.T) {
	lookup := map[string][]netip.Addr{
		"wf":     {netip.MustParseAddr("127.0.1.1")},
		"wf-lan": {netip.MustParseAddr("127.0.1.1"), netip.MustParseAddr("10.1.2.3")},
	}
	resolve := func(h string) ([]netip.Addr, error) {
		if a, ok := lookup[h]; ok {
			return a, nil
		}
		return nil, errors.New("no such host")
	}
	for _, tc := range []struct{ url, status string }{
		{"https://wf:8443", Warn},
		{"https://127.0.0.1:8443", Warn},
		{"https://[::1]:8443", Warn},
		{"https://nowhere:8443", Warn},
		{"https://wf-lan:8443", OK},
		{"https://10.1.2.3:8443", OK},
	} {
		t.Run(tc.url, func(t *testing.T) {
			if c := checkExternalURL(tc.url, resolve); c.Status != tc.status || c.Status == Warn && !strings.Contains(c.Fix, "--external-url") {
				t.Fatalf("%+v, want %s", c, tc.status)
			}
		})
	}
}

func TestCheckSecrets(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, dir string)
		now    time.Time
		status string
		detail string
	}{
		{"nothing kept", func(*testing.T, string) {}, now, OK, "none kept"},
		{"plain TLS key", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "tls.key"), []byte("k"), 0o600)
		}, now, Warn, "in the clear in the data directory: tls.key"},
		{"sealed", func(t *testing.T, dir string) {
			s, err := sealed.Open(dir, sealed.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Put(sealed.TLSKey, []byte("k"))
		}, now, OK, "1 sealed with the key file"},
		{"sealed, old", func(t *testing.T, dir string) {
			s, _ := sealed.Open(dir, sealed.Options{})
			s.Put(sealed.TLSKey, []byte("k"))
		}, now.Add(400*24*time.Hour + time.Hour), Warn, "tls.key (400 days), the key-encryption key (400 days)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			os.Mkdir(dir, 0o700)
			tc.setup(t, dir)
			c := checkSecrets(Input{DataDir: dir, Now: tc.now})
			if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("got %s %q, want %s containing %q", c.Status, c.Detail, tc.status, tc.detail)
			}
		})
	}
}
