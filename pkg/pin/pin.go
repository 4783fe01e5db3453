// Package pin is how Wirefleet names a TLS key: "sha256/" and the base64
// SHA-256 of the certificate's SubjectPublicKeyInfo, as curl's
// --pinnedpubkey and HPKP spell it. The server announces its pins, the
// one-liners carry one, and the agent checks the server's certificate
// against them.
package pin

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// SPKIHash returns the SHA-256 of a certificate's SubjectPublicKeyInfo.
func SPKIHash(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return sum[:]
}

// Format renders an SPKI hash as "sha256/<base64>".
func Format(h []byte) string { return "sha256/" + base64.StdEncoding.EncodeToString(h) }

// Parse parses "sha256/<base64>" into the hash bytes.
func Parse(pin string) ([]byte, error) {
	b64, ok := strings.CutPrefix(pin, "sha256/")
	if !ok {
		return nil, fmt.Errorf("pin %q must start with sha256/", pin)
	}
	h, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(h) != sha256.Size {
		return nil, fmt.Errorf("pin %q is not a base64 SHA-256 hash", pin)
	}
	return h, nil
}
