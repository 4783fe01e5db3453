package tlsutil

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestNewACMERefusesWhatNoCAIssues(t *testing.T) {
	fallback := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	for _, c := range []struct {
		o    ACMEOptions
		want string
	}{
		{ACMEOptions{}, "give the server's public DNS name"},
		{ACMEOptions{Domains: []string{"192.0.2.1"}}, "an IP address"},
		{ACMEOptions{Domains: []string{"*.example.org"}}, "wildcards"},
		{ACMEOptions{Domains: []string{"a..example.org"}}, "not a host name"},
		{ACMEOptions{Domains: []string{"wf.example.org/x"}}, "not a host name"},
		{ACMEOptions{Domains: []string{"-wf.example.org"}}, "not a host name"},
		{ACMEOptions{Domains: []string{"wf.example.org"}, DirectoryURL: "http://ca.example.org/dir"}, "want an https:// URL"},
		{ACMEOptions{Domains: []string{"wf.example.org"}, CAFile: "/nonexistent"}, "--acme-ca-file"},
	} {
		c.o.CacheDir = t.TempDir()
		if _, err := NewACME(c.o, fallback); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewACME(%+v) = %v, want an error saying %q", c.o, err, c.want)
		}
	}
}

// Only the ACME names get the CA's certificate: an IP address, another
// name or no name (agents that pin) get the self-signed key, without a
// word to the CA.
func TestACMEServesOtherNamesTheFallback(t *testing.T) {
	keys, err := OpenKeys(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewACME(ACMEOptions{Domains: []string{"WF.example.org"}, DirectoryURL: "https://127.0.0.1:1/dir", CacheDir: t.TempDir()}, keys.GetCertificate)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := keys.GetCertificate(nil)
	for _, name := range []string{"", "10.0.0.1", "wf.example.com", "other.wf.example.org"} {
		c, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil || c != self {
			t.Errorf("ServerName %q: got %v, %v; want the self-signed certificate", name, c, err)
		}
	}
	if !a.mine("wf.example.org.") || !a.mine("Wf.Example.Org") {
		t.Error("the ACME name is matched case-insensitively, with or without the root dot")
	}
	if !a.NotAfter().IsZero() {
		t.Error("NotAfter before any ACME certificate was served should be zero")
	}
}
