// Package tlsutil provides the server's certificate: the operator's, or a
// self-signed one generated on first start and kept in the data directory.
// A self-signed certificate is trusted by pinning the SHA-256 of its public
// key (SPKI), which every enrollment one-liner carries.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/pin"
)

// Files in the data directory.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// Load reads an operator-provided certificate and key.
func Load(certPath, keyPath string) (tls.Certificate, string, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return cert, "", fmt.Errorf("tls: load %s and %s: %w", certPath, keyPath, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return cert, "", fmt.Errorf("tls: parse %s: %w", certPath, err)
	}
	cert.Leaf = leaf
	return cert, pin.Format(pin.SPKIHash(leaf)), nil
}

// LoadOrCreate returns the self-signed certificate in dir, creating it (valid
// for ten years, for the given host names and IPs plus localhost) when it
// does not exist yet. The key stays the same across restarts, so the pin in
// one-liners handed out earlier stays valid.
func LoadOrCreate(dir string, hosts []string) (tls.Certificate, string, error) {
	k, err := OpenKeys(dir, hosts)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	cert, _ := k.GetCertificate(nil)
	return *cert, k.Pin(), nil
}

// NextKeyFile holds the key the server will serve with after the next
// rotation: announced to agents in advance, so that a rotation breaks no
// pin.
const NextKeyFile = "tls-next.key"

// Keys is a self-signed serving identity and its announced successor.
// Agents pin both (Pins); Rotate makes the successor current and announces
// a new one. A crash at any point of a rotation leaves files that open to
// a consistent state.
type Keys struct {
	dir   string
	sec   Secrets
	hosts []string

	mu   sync.Mutex // orders rotations
	cur  atomic.Pointer[tls.Certificate]
	next atomic.Pointer[ecdsa.PrivateKey]
	pins atomic.Pointer[[]string] // Pins, computed once per rotation (every agent's Self carries them)
}

// Secrets keeps the private keys: the server's sealed store, or plain
// files in the data directory (PlainFiles). Get's error for a key not
// made yet satisfies errors.Is(err, os.ErrNotExist).
type Secrets interface {
	Get(name string) ([]byte, error)
	Put(name string, data []byte) error
}

// PlainFiles keeps keys as files in dir, mode 0600 (installs made before
// sealing, and tests).
type PlainFiles string

// Get reads the file name in the directory.
func (d PlainFiles) Get(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}

// Put replaces the file name in the directory atomically.
func (d PlainFiles) Put(name string, data []byte) error {
	return atomicfile.WriteFile(filepath.Join(string(d), name), data, 0o600)
}

// OpenKeys loads (or creates) the current key, its certificate and the
// next key, all plain files in dir.
func OpenKeys(dir string, hosts []string) (*Keys, error) {
	return OpenKeysIn(dir, PlainFiles(dir), hosts)
}

// OpenKeysIn loads (or creates) the current key and the next key in sec,
// and the certificate (public) in dir.
func OpenKeysIn(dir string, sec Secrets, hosts []string) (*Keys, error) {
	k := &Keys{dir: dir, sec: sec, hosts: hosts}
	cur, err := k.loadKey(KeyFile)
	if errors.Is(err, os.ErrNotExist) {
		if cur, err = newKey(); err == nil {
			err = k.writeKey(KeyFile, cur)
		}
	}
	if err != nil {
		return nil, err
	}
	cert, err := k.loadCert(cur)
	if err != nil {
		// No certificate yet, or one of a key a crash replaced: issue it.
		if cert, err = k.issue(cur); err != nil {
			return nil, err
		}
	}
	if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
		return nil, fmt.Errorf("tls: parse %s: %w", CertFile, err)
	}
	k.cur.Store(&cert)
	next, err := k.loadKey(NextKeyFile)
	if err == nil && next.Equal(cur) {
		err = os.ErrNotExist // a rotation stopped after making it current
	}
	if errors.Is(err, os.ErrNotExist) {
		if next, err = newKey(); err == nil {
			err = k.writeKey(NextKeyFile, next)
		}
	}
	if err != nil {
		return nil, err
	}
	k.next.Store(next)
	k.notePins()
	return k, nil
}

func (k *Keys) notePins() {
	p := []string{pin.Format(pin.SPKIHash(k.cur.Load().Leaf)), keyPin(k.next.Load())}
	k.pins.Store(&p)
}

// GetCertificate serves the current certificate (tls.Config.GetCertificate):
// connections made before a rotation keep theirs.
func (k *Keys) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.cur.Load(), nil
}

// Pin is the current key's pin.
func (k *Keys) Pin() string { return (*k.pins.Load())[0] }

// NextPin is the pin of the key the next rotation will serve with.
func (k *Keys) NextPin() string { return (*k.pins.Load())[1] }

// Pins are the pins agents should accept: the current key's and the next.
// The slice is shared: do not modify it.
func (k *Keys) Pins() []string { return *k.pins.Load() }

// IssuedAt is when the current certificate was made (its rotation).
func (k *Keys) IssuedAt() time.Time { return k.cur.Load().Leaf.NotBefore.Add(time.Hour) }

// NotAfter is when the current certificate expires.
func (k *Keys) NotAfter() time.Time { return k.cur.Load().Leaf.NotAfter }

// Rotate makes the next key current (with a new certificate) and makes a
// new next key. Files are replaced one at a time, each atomically, in an
// order OpenKeys recovers from: current key, its certificate, next key.
func (k *Keys) Rotate() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	next := k.next.Load()
	after, err := newKey()
	if err != nil {
		return err
	}
	if err := k.writeKey(KeyFile, next); err != nil {
		return err
	}
	cert, err := k.issue(next)
	if err != nil {
		return err
	}
	if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
		return err
	}
	if err := k.writeKey(NextKeyFile, after); err != nil {
		return err
	}
	k.cur.Store(&cert)
	k.next.Store(after)
	k.notePins()
	return nil
}

// loadCert reads the certificate file and pairs it with key (an error
// when it is of another key: a crash between a rotation's writes).
func (k *Keys) loadCert(key *ecdsa.PrivateKey) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(filepath.Join(k.dir, CertFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func (k *Keys) loadKey(name string) (*ecdsa.PrivateKey, error) {
	b, err := k.sec.Get(name)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("tls: %s holds no PEM key", name)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if ec, err2 := x509.ParseECPrivateKey(blk.Bytes); err2 == nil {
			return ec, nil
		}
		return nil, fmt.Errorf("tls: parse %s: %w", name, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("tls: %s is not an ECDSA key", name)
	}
	return ec, nil
}

// issue writes a self-signed certificate for key (valid for ten years, for
// the hosts plus localhost) and returns it with the key.
func (k *Keys) issue(key *ecdsa.PrivateKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wirefleet-server", Organization: []string{"Wirefleet self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range append(append([]string{}, k.hosts...), "localhost", "127.0.0.1", "::1") {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: create certificate: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(k.dir, CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: generate key: %w", err)
	}
	return key, nil
}

func (k *Keys) writeKey(name string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: encode key: %w", err)
	}
	if err := k.sec.Put(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return fmt.Errorf("tls: store %s: %w", name, err)
	}
	return nil
}

// keyPin is the pin of key's public half.
func keyPin(key *ecdsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return pin.Format(sum[:])
}
