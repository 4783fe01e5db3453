package releasestore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/installer"
	"github.com/wirefleet/wirefleet/pkg/pin"
	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/server/internal/oneliner"
	"github.com/wirefleet/wirefleet/server/internal/tlsutil"
)

// trustHarness compiles the C# block of install.ps1 (the code that pins
// TLS and verifies the release chain on Windows) with Mono, together with
// a small command-line harness, and returns a function that runs it.
// PowerShell itself does not run here; the C# is what PowerShell's
// Add-Type compiles, under the same language version (C# 5, what Windows
// PowerShell 5.1's compiler accepts).
func trustHarness(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	for _, tool := range []string{"mcs", "mono"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to compile and run install.ps1's C# (Debian's mono-mcs; .ci/run installs it)", tool)
		}
	}
	ps1, err := installer.Files.ReadFile("install.ps1")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(ps1), "$trust = @'\n")
	src, _, ok2 := strings.Cut(rest, "\n'@\n")
	if !ok1 || !ok2 {
		t.Fatal("install.ps1 has no $trust = @' … '@ block")
	}
	dir := t.TempDir()
	cs := filepath.Join(dir, "trust.cs")
	if err := os.WriteFile(cs, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "harness.exe")
	if out, err := exec.Command("mcs", "-langversion:5", "-warnaserror+", "-r:System.Numerics", "-out:"+exe, cs, "testdata/trust_harness.cs").CombinedOutput(); err != nil {
		t.Fatalf("mcs: %v\n%s", err, out)
	}
	return func(args ...string) (string, error) {
		out, err := exec.Command("mono", append([]string{exe}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
}

func TestInstallPS1IsASCII(t *testing.T) {
	// The one-liner for self-signed servers hashes the script as .NET's
	// WebClient decodes it; ASCII makes that the bytes the server sends.
	b, _ := installer.Files.ReadFile("install.ps1")
	for i, c := range b {
		if c >= 0x80 || c == '\r' {
			t.Fatalf("install.ps1 byte %d is %#x: keep it ASCII with LF line ends", i, c)
		}
	}
}

// TestInstallPS1Ed25519 checks the C# Ed25519 verifier against Go's
// crypto/ed25519 on random keys and messages, and that it rejects altered
// signatures, messages and a non-canonical S.
func TestInstallPS1Ed25519(t *testing.T) {
	run := trustHarness(t)
	for i, n := range []int{0, 1, 31, 64, 65, 300} {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		msg := make([]byte, n)
		rand.Read(msg)
		sig := ed25519.Sign(priv, msg)
		check := func(what string, p, m, s []byte, want string) {
			t.Helper()
			out, _ := run("ed", hex.EncodeToString(p), hex.EncodeToString(m)+"", hex.EncodeToString(s))
			if out != want {
				t.Errorf("case %d (%d bytes) %s: %q, want %s", i, n, what, out, want)
			}
		}
		if n == 0 {
			// An empty hex argument is an empty message.
			check("good signature", pub, msg, sig, "valid")
			continue
		}
		check("good signature", pub, msg, sig, "valid")
		bad := bytes.Clone(sig)
		bad[i%64] ^= 1
		check("flipped signature bit", pub, msg, bad, "invalid")
		other := bytes.Clone(msg)
		other[0] ^= 0x80
		check("altered message", pub, other, sig, "invalid")
		high := bytes.Clone(sig)
		high[63] |= 0xf0 // S >= L
		check("S out of range", pub, msg, high, "invalid")
		pub2, _, _ := ed25519.GenerateKey(rand.Reader)
		check("another key", pub2, msg, sig, "invalid")
	}
}

// TestInstallPS1Pin: the SPKI pin the C# computes from a DER certificate
// equals the one the server prints (ECDSA, the self-signed default) and
// the agent checks (RSA, an operator's certificate).
func TestInstallPS1Pin(t *testing.T) {
	run := trustHarness(t)
	cert, selfPin, err := tlsutil.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "wirefleet.example.com"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"wirefleet.example.com"}}
	rsaDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert, _ := x509.ParseCertificate(rsaDER)
	for name, c := range map[string]struct {
		der []byte
		pin string
	}{
		"self-signed ECDSA": {cert.Certificate[0], selfPin},
		"RSA":               {rsaDER, pin.Format(pin.SPKIHash(rsaCert))},
	} {
		f := filepath.Join(t.TempDir(), "cert.der")
		os.WriteFile(f, c.der, 0o644)
		if out, err := run("pin", f); err != nil || out != c.pin {
			t.Errorf("%s: C# pin %q (%v), want %s", name, out, err, c.pin)
		}
	}
}

// TestInstallPS1Release publishes a release with an MSI through the real
// release store, serves it over TLS with the server's self-signed
// certificate, downloads every file as install.ps1 does (TLS 1.2, the
// pinning callback) and verifies the chain with install.ps1's C#; then the
// ways it must refuse: another pin, another root key, a tampered manifest
// or keys.json, expiry, another channel or version, a missing package.
func TestInstallPS1Release(t *testing.T) {
	run := trustHarness(t)
	keys := t.TempDir()
	if err := release.Keygen(keys, "", 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	msi := filepath.Join(work, "wirefleet-agent-2.1.0-windows-amd64.msi")
	body := make([]byte, 300_000)
	rand.Read(body)
	os.WriteFile(msi, body, 0o644)
	store := NewStore(t.TempDir())
	m, err := Publish(store, keys, "", PublishOptions{Channel: "stable", Version: "2.1.0", Files: map[string]string{"windows/amd64-msi": msi}})
	if err != nil {
		t.Fatal(err)
	}
	art, _ := m.Artifact("windows", "amd64-msi")

	cert, pin, err := tlsutil.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(store.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()

	get := func(path, pin string) (string, error) {
		out := filepath.Join(t.TempDir(), filepath.Base(path))
		res, err := run("get", srv.URL+path, pin, out)
		if err != nil {
			return res, err
		}
		return out, nil
	}
	files := map[string]string{}
	for name, path := range map[string]string{
		"root": "/releases/root.pub", "keys": "/releases/keys.json", "keysSig": "/releases/keys.json.minisig",
		"index":    "/releases/channel/stable/windows/amd64-msi",
		"manifest": "/releases/channel/stable/versions/2.1.0/manifest.json", "manifestSig": "/releases/channel/stable/versions/2.1.0/manifest.json.minisig",
		"msi": "/releases/files/" + art.File,
	} {
		f, err := get(path, pin)
		if err != nil {
			t.Fatalf("GET %s through the pinning callback: %s", path, f)
		}
		files[name] = f
	}
	if got, _ := os.ReadFile(files["msi"]); !bytes.Equal(got, body) {
		t.Error("the MSI downloaded differs from the one published")
	}
	if idx, _ := os.ReadFile(files["index"]); !strings.HasPrefix(string(idx), "2.1.0 "+art.SHA256) {
		t.Errorf("index %q", idx)
	}
	otherCert, otherPin, _ := tlsutil.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	_ = otherCert
	if out, err := get("/releases/keys.json", otherPin); err == nil {
		t.Errorf("a download with another server's pin succeeded: %s", out)
	}
	if out, err := get("/releases/keys.json", ""); err == nil {
		t.Errorf("without a pin a self-signed certificate was accepted: %s", out)
	}

	// The PowerShell one-liner for a self-signed server runs the script
	// only if its SHA-256 as .NET decodes it is the one the line carries.
	line := oneliner.For(oneliner.Server{URL: srv.URL, Pin: pin, ReleaseKey: store.RootKey()}, "wfe_x")[1].Command
	if sum, err := run("script", srv.URL+"/install.ps1"); err != nil || !strings.Contains(line, "-ne '"+sum+"'") {
		t.Errorf("the served install.ps1 hashes to %q (%v); the one-liner checks for another value:\n%s", sum, err, line)
	}
	if !strings.Contains(line, "-Pin "+pin) || store.RootKey() == "" || !strings.Contains(line, "-ReleaseKey "+store.RootKey()) {
		t.Errorf("the one-liner lacks the pin or the release key:\n%s", line)
	}

	now := time.Now().UTC().Format(time.RFC3339)
	verify := func(root, keysFile, keysSig, manifest, manifestSig, channel, version, arch, now string) (string, error) {
		return run("release", root, keysFile, keysSig, manifest, manifestSig, channel, version, "windows", arch, now)
	}
	start := time.Now()
	out, err := verify(files["root"], files["keys"], files["keysSig"], files["manifest"], files["manifestSig"], "stable", "2.1.0", "amd64-msi", now)
	t.Logf("release chain verified by the C# in %v (one mono process: start, JIT, 4 Ed25519 verifications)", time.Since(start).Round(time.Millisecond))
	if want := strings.Join([]string{"2.1.0", art.File, art.SHA256, "300000"}, " "); err != nil || out != want {
		t.Fatalf("verify: %q (%v), want %q", out, err, want)
	}

	// Refusals.
	otherKeys := t.TempDir()
	release.Keygen(otherKeys, "", time.Hour)
	tamper := func(path, old, new string) string {
		b, _ := os.ReadFile(path)
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%s has no %q", path, old)
		}
		out := filepath.Join(t.TempDir(), filepath.Base(path))
		os.WriteFile(out, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
		return out
	}
	later := time.Now().Add(60 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name                                                  string
		root, keysFile, manifest, channel, version, arch, now string
		want                                                  string
	}{
		{"another root key", filepath.Join(otherKeys, release.RootPubFile), files["keys"], files["manifest"], "stable", "2.1.0", "amd64-msi", now, "not signed by the release root key"},
		{"tampered keys.json", files["root"], tamper(files["keys"], `"keys"`, `"keys" `), files["manifest"], "stable", "2.1.0", "amd64-msi", now, "not signed by the release root key"},
		{"tampered manifest", files["root"], files["keys"], tamper(files["manifest"], art.SHA256[:8], "00000000"), "stable", "2.1.0", "amd64-msi", now, "not signed by a current release signing key"},
		{"expired", files["root"], files["keys"], files["manifest"], "stable", "2.1.0", "amd64-msi", later, "expired"},
		{"another channel", files["root"], files["keys"], files["manifest"], "beta", "2.1.0", "amd64-msi", now, "not beta 2.1.0"},
		{"another version", files["root"], files["keys"], files["manifest"], "stable", "2.2.0", "amd64-msi", now, "not stable 2.2.0"},
		{"no arm64 MSI", files["root"], files["keys"], files["manifest"], "stable", "2.1.0", "arm64-msi", now, "has no windows/arm64-msi package"},
	} {
		out, err := verify(c.root, c.keysFile, files["keysSig"], c.manifest, files["manifestSig"], c.channel, c.version, c.arch, c.now)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: %q (%v), want an error containing %q", c.name, out, err, c.want)
		}
	}
}
