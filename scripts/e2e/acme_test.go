package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/pin"
)

// pebbleHelper runs Let's Encrypt's test CA, pebble, when the test binary
// is started as one (WF_E2E_PEBBLE=listen-addr,tls-port,dir): its ACME
// directory is served over TLS with a certificate written to
// dir/directory.pem, its root to dir/root.pem. Validation is real: pebble
// resolves each name and connects to it on tls-port (TLS-ALPN-01).
func pebbleHelper() bool {
	spec := os.Getenv("WF_E2E_PEBBLE")
	if spec == "" {
		return false
	}
	fail := func(err error) { fmt.Println("pebble:", err); os.Exit(1) }
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		fail(fmt.Errorf("WF_E2E_PEBBLE=%q: want listen,tls-port,dir", spec))
	}
	var tlsPort int
	fmt.Sscan(parts[1], &tlsPort)
	dir := parts[2]
	logger := log.New(os.Stdout, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, tlsPort, false, "", store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), authority.GetRootCert(0).PEM(), 0o644); err != nil {
		fail(err)
	}
	// The directory's own certificate, for --acme-ca-file.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	host, _, _ := net.SplitHostPort(parts[0])
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(host)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "directory.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		fail(err)
	}
	ln, err := tls.Listen("tcp", parts[0], &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		fail(err)
	}
	fmt.Println("pebble listening")
	fail(http.Serve(ln, front.Handler()))
	return true
}

// TestACMECertificateFromPebble runs the server with --acme-domain against
// pebble, Let's Encrypt's test CA, in the server's namespace: the server
// obtains a certificate (pebble validates over TLS-ALPN-01 against the
// server's own listener), the one-liners carry no pin, an agent enrolled
// without a pin trusts the CA and never starts pinning the self-signed
// key the server announces for other names, and a new certificate with a
// new key (the ACME cache emptied: what a renewal serves) keeps the agent
// connected.
func TestACMECertificateFromPebble(t *testing.T) {
	requireNetns(t)
	f := &fleet{t: t, hosts: network(t, 2), data: t.TempDir(), server: bins + "/wirefleet-server"}
	const domain = "wf.test"
	for _, h := range f.hosts {
		dir := filepath.Join("/etc/netns", h.ns)
		os.MkdirAll(dir, 0o755)
		t.Cleanup(func() { os.Remove(filepath.Join(dir, "hosts")); os.Remove(dir) })
		hosts := fmt.Sprintf("127.0.0.1 localhost\n::1 localhost\n%s %s\n", f.hosts[0].addr, domain)
		if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pdir := t.TempDir()
	pc := f.hosts[0].cmd(os.Args[0])
	pc.Env = append(os.Environ(), "WF_E2E_PEBBLE=127.0.0.1:14000,8443,"+pdir, "PEBBLE_VA_NOSLEEP=1")
	peb := startProc(t, pc)
	eventually(t, 10*time.Second, "pebble listening", func() bool { return strings.Contains(peb.output(), "pebble listening") })
	root := filepath.Join(pdir, "root.pem")

	f.serverURL = "https://" + domain + ":8443"
	start := func() time.Duration {
		t0 := time.Now()
		f.srv = startProc(t, f.hosts[0].cmd(f.server, "serve", "--data-dir", f.data, "--listen", f.hosts[0].addr+":8443", "--bootstrap-token",
			"--acme-domain", domain, "--acme-directory", "https://127.0.0.1:14000/dir", "--acme-ca-file", filepath.Join(pdir, "directory.pem"),
			"--acme-email", "ops@example.org"))
		eventually(t, 60*time.Second, "the server has its ACME certificate", func() bool {
			if strings.Contains(f.srv.output(), "no ACME certificate yet") {
				t.Fatalf("the server got no certificate:\n%s\npebble:\n%s", f.srv.output(), peb.output())
			}
			return strings.Contains(f.srv.output(), "ACME certificate ready")
		})
		return time.Since(t0)
	}
	took := start()
	t.Logf("server start to ACME certificate (account, order, TLS-ALPN-01 validation, issuance): %v", took.Round(time.Millisecond))
	out := f.srv.output()
	if !strings.Contains(out, "TLS: certificate for "+domain+" from the ACME CA") {
		t.Errorf("the server does not say where its certificate comes from:\n%s", out)
	}
	oneliner := regexp.MustCompile(`curl[^\n]*install\.sh[^\n]*`).FindString(out)
	if oneliner == "" || !strings.Contains(oneliner, f.serverURL) || strings.Contains(oneliner, "pin") || strings.Contains(oneliner, " -k ") {
		t.Errorf("the Linux one-liner should name %s and carry no pin:\n%s", f.serverURL, out)
	}

	// A client trusting only pebble's root reaches the server by name; by
	// IP address it gets the self-signed certificate agents that pin
	// keep using.
	curl := func(args ...string) error {
		return f.hosts[1].cmd("curl", append([]string{"-fsS", "-o", "/dev/null"}, args...)...).Run()
	}
	if err := curl("--cacert", root, f.serverURL+"/healthz"); err != nil {
		t.Fatalf("curl --cacert pebble's root %s: %v", f.serverURL, err)
	}
	selfPin := pinOf(t, filepath.Join(f.data, "tls.crt"))
	if err := curl("-k", "--pinnedpubkey", "sha256//"+strings.TrimPrefix(selfPin, "sha256/"), "https://"+f.hosts[0].addr+":8443/healthz"); err != nil {
		t.Errorf("by IP address the server should serve its self-signed key (%s): %v", selfPin, err)
	}

	// An agent enrolled with no pin, trusting the system roots (pebble's
	// root through SSL_CERT_FILE).
	a := &agent{h: f.hosts[1], dir: t.TempDir(), iface: "wf1"}
	env := append(os.Environ(), "SSL_CERT_FILE="+root)
	enroll := a.h.cmd(bins+"/wirefleet-agent", "enroll", "--server", f.serverURL, "--token", f.token(), "--state-dir", a.dir)
	enroll.Env = env
	if b, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll without a pin: %v\n%s", err, b)
	}
	run := func() {
		c := a.h.cmd(bins+"/wirefleet-agent", "run", "--state-dir", a.dir, "--interface", a.iface, "--health-interval", "1s")
		c.Env = env
		a.proc = startProc(t, c)
	}
	run()
	eventually(t, 20*time.Second, "the agent polls", func() bool { return connected(f.data) == 1 })
	pins := func() []string {
		var cfg struct{ Pins []string }
		b, _ := os.ReadFile(filepath.Join(a.dir, "config.json"))
		json.Unmarshal(b, &cfg)
		return cfg.Pins
	}
	time.Sleep(2 * time.Second) // maps and health reports go by
	if p := pins(); len(p) > 0 {
		t.Fatalf("the agent took up the self-signed pins %v: after a restart it would refuse the ACME certificate", p)
	}

	// A new certificate with a new key: the server restarted with its ACME
	// cache emptied, and the agent restarted too, so that it dials anew.
	// The cache is sealed (secrets/acme%2FNAME.age): read it the way the
	// README's disaster recovery does, age with the key file.
	sealedCert := filepath.Join(f.data, "secrets", url.PathEscape("acme/"+domain)+".age")
	cached := func() string {
		b := openSealed(t, sealedCert, f.data+".kek")
		for rest := b; ; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				return ""
			}
			if blk.Type == "CERTIFICATE" {
				c, err := x509.ParseCertificate(blk.Bytes)
				if err != nil {
					return ""
				}
				return c.SerialNumber.String() + " " + pin.Format(pin.SPKIHash(c))
			}
		}
	}
	before := cached()
	if before == "" {
		t.Fatalf("no certificate in the sealed ACME cache %s", sealedCert)
	}
	f.srv.cmd.Process.Signal(syscall.SIGTERM)
	f.srv.cmd.Wait()
	if err := os.Remove(sealedCert); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	start()
	eventually(t, 30*time.Second, "the agent polls the server with its new certificate", func() bool { return connected(f.data) == 1 })
	back := time.Since(t0)
	after := cached()
	if after == before || strings.Fields(after)[1] == strings.Fields(before)[1] {
		t.Fatalf("the certificate did not change (%s → %s)", before, after)
	}
	a.proc.cmd.Process.Signal(syscall.SIGTERM)
	a.proc.cmd.Wait()
	run()
	eventually(t, 20*time.Second, "the restarted agent polls again", func() bool { return connected(f.data) == 1 })
	t.Logf("new certificate (%s → %s): the agent polling again %v after the server's start (certificate included); restarted, it dials anew and trusts it",
		strings.Fields(before)[1], strings.Fields(after)[1], back.Round(time.Millisecond))
	for _, bad := range []string{"does not match pin", "x509:", "certificate"} {
		if strings.Contains(a.proc.output(), bad) {
			t.Errorf("the agent's log mentions %q:\n%s", bad, a.proc.output())
		}
	}
	cl, err := client.New("http://local", client.WithUnixSocket(filepath.Join(f.data, "wirefleet.sock")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if info, err := cl.ServerInfo(ctx); err != nil || info.Pin != "" || info.URL != f.serverURL {
		t.Errorf("server info: URL %q pin %q (%v); want %s and no pin", info.URL, info.Pin, err, f.serverURL)
	}
}

// pinOf is the SPKI pin of the PEM certificate in path.
func pinOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pin.Format(pin.SPKIHash(c))
}

// openSealed decrypts a sealed secret with the key file, as `age -d -i
// KEYFILE FILE` does ("" when it cannot).
func openSealed(t *testing.T, file, keyFile string) []byte {
	t.Helper()
	k, err := os.Open(keyFile)
	if err != nil {
		return nil
	}
	defer k.Close()
	ids, err := age.ParseIdentities(k)
	if err != nil {
		t.Fatalf("the key file %s: %v", keyFile, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	r, err := age.Decrypt(f, ids...)
	if err != nil {
		t.Fatalf("open %s with %s: %v", file, keyFile, err)
	}
	b, _ := io.ReadAll(r)
	return b
}
