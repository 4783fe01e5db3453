package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// LetsEncrypt is the default ACME directory.
const LetsEncrypt = acme.LetsEncryptURL

// ACMEOptions configure certificates from an ACME CA.
type ACMEOptions struct {
	// Domains the certificate is for; the first is the server's name in
	// one-liners. The CA validates each over TLS-ALPN-01: it connects to
	// port 443 of the name, which must reach this server's listener.
	Domains []string
	// Email is given to the CA for expiry notices ("" for none).
	Email string
	// DirectoryURL is the CA's ACME directory (default Let's Encrypt).
	DirectoryURL string
	// CAFile holds PEM roots the directory's own certificate is checked
	// against (a private ACME CA such as step-ca or pebble); default the
	// system's.
	CAFile string
	// CacheDir keeps the account key and the certificates across restarts,
	// as plain files; Cache, when set, keeps them instead (the sealed
	// store).
	CacheDir string
	Cache    autocert.Cache
}

// ACME serves certificates an ACME CA issues for its domains, renewing
// them before they expire (golang.org/x/crypto/acme/autocert). Connections
// for any other name (an IP address, the name agents enrolled with before)
// get the fallback certificate, so agents that pin the self-signed key
// keep reaching the server.
type ACME struct {
	m        *autocert.Manager
	domains  []string
	fallback func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	leaf     atomic.Pointer[x509.Certificate] // the last ACME certificate served
}

// NewACME checks o and returns the certificate source; nothing is asked
// of the CA until Obtain or the first connection.
func NewACME(o ACMEOptions, fallback func(*tls.ClientHelloInfo) (*tls.Certificate, error)) (*ACME, error) {
	if len(o.Domains) == 0 {
		return nil, errors.New("tls: --acme-domain: give the server's public DNS name")
	}
	domains := make([]string, 0, len(o.Domains))
	for _, d := range o.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if err := checkDomain(d); err != nil {
			return nil, err
		}
		domains = append(domains, d)
	}
	dir := o.DirectoryURL
	if dir == "" {
		dir = LetsEncrypt
	}
	if !strings.HasPrefix(dir, "https://") {
		return nil, fmt.Errorf("tls: --acme-directory %q: want an https:// URL", dir)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: --acme-ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: --acme-ca-file %s holds no PEM certificate", o.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	cache := o.Cache
	if cache == nil {
		if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("tls: ACME cache: %w", err)
		}
		cache = autocert.DirCache(o.CacheDir)
	}
	a := &ACME{domains: domains, fallback: fallback}
	a.m = &autocert.Manager{
		// Asking for a certificate (--acme-domain) accepts the CA's terms.
		Prompt:     autocert.AcceptTOS,
		Cache:      cache,
		HostPolicy: autocert.HostWhitelist(domains...),
		Email:      o.Email,
		Client: &acme.Client{
			DirectoryURL: dir,
			HTTPClient:   &http.Client{Transport: tr, Timeout: time.Minute},
			UserAgent:    "wirefleet-server",
		},
	}
	return a, nil
}

// checkDomain refuses what no CA issues for: IP addresses, wildcards,
// single labels that are not localhost, and malformed names.
func checkDomain(d string) error {
	switch {
	case d == "":
		return errors.New("tls: --acme-domain: empty name")
	case net.ParseIP(d) != nil:
		return fmt.Errorf("tls: --acme-domain %q: an IP address; give the DNS name that points at it", d)
	case strings.Contains(d, "*"):
		return fmt.Errorf("tls: --acme-domain %q: wildcards need a DNS-01 challenge, which the server does not do; name the host", d)
	case len(d) > 253:
		return fmt.Errorf("tls: --acme-domain: %d characters, at most 253", len(d))
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("tls: --acme-domain %q: not a host name", d)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("tls: --acme-domain %q: not a host name (letters, digits, '-' and '.' only)", d)
			}
		}
	}
	return nil
}

// Domains are the names certificates are obtained for.
func (a *ACME) Domains() []string { return a.domains }

// ALPNProto is the protocol TLS-ALPN-01 validation connects with: the
// listener must offer it.
const ALPNProto = acme.ALPNProto

// GetCertificate serves the ACME certificate to connections for its
// domains (and the CA's validation connections), the fallback to others.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello == nil || !a.mine(hello.ServerName) {
		return a.fallback(hello)
	}
	c, err := a.m.GetCertificate(hello)
	if err == nil && c.Leaf != nil {
		for _, p := range hello.SupportedProtos {
			if p == acme.ALPNProto {
				return c, nil // a validation certificate, not the served one
			}
		}
		a.leaf.Store(c.Leaf)
	}
	return c, err
}

func (a *ACME) mine(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, d := range a.domains {
		if d == name {
			return true
		}
	}
	return false
}

// Obtain makes sure a certificate is at hand for every domain (from the
// cache, or from the CA: validation connects back to the listener, which
// must be serving) and returns the first domain's. Renewals then happen
// by themselves, 30 days before expiry.
func (a *ACME) Obtain(ctx context.Context) (*x509.Certificate, error) {
	var first *x509.Certificate
	for _, d := range a.domains {
		// An ECDSA-capable hello: without one autocert obtains an RSA
		// certificate besides.
		hello := &tls.ClientHelloInfo{
			ServerName:        d,
			SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:   []tls.CurveID{tls.CurveP256},
			CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		}
		type result struct {
			c   *tls.Certificate
			err error
		}
		done := make(chan result, 1)
		go func() { c, err := a.GetCertificate(hello); done <- result{c, err} }()
		var r result
		select {
		case r = <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.err != nil {
			return nil, fmt.Errorf("tls: ACME certificate for %s: %w", d, r.err)
		}
		if first == nil {
			first = r.c.Leaf
		}
	}
	return first, nil
}

// NotAfter is when the certificate served last expires (zero before the
// first).
func (a *ACME) NotAfter() time.Time {
	if l := a.leaf.Load(); l != nil {
		return l.NotAfter
	}
	return time.Time{}
}
