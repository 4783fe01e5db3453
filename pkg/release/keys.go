package release

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"aead.dev/minisign"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// Key files in a keys directory (releases keygen).
const (
	RootKeyFile    = "root.key"
	RootPubFile    = "root.pub"
	SigningKeyFile = "signing.key"
	SigningPubFile = "signing.pub"
	KeySetFile     = "keys.json"
	SigSuffix      = ".minisig"
)

// KeyFiles is where a keys directory's files are: a directory (Dir), or
// — for the server's single-box keys — a store that keeps the private
// keys sealed and the public files plain.
type KeyFiles interface {
	ReadFile(name string) ([]byte, error)
	// WriteFile replaces name; private says it is a private key.
	WriteFile(name string, data []byte, private bool) error
	// String names the place in messages.
	String() string
}

// Dir is a keys directory on disk: private keys 0600, public files 0644.
type Dir string

// ReadFile reads name in the directory.
func (d Dir) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), name))
}

// WriteFile replaces name in the directory atomically.
func (d Dir) WriteFile(name string, data []byte, private bool) error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if private {
		mode = 0o600
	}
	return atomicfile.WriteFile(filepath.Join(string(d), name), data, mode)
}

func (d Dir) String() string { return string(d) }

// Keygen creates a root key and a signing key in dir (refusing to replace
// existing keys) and writes keys.json signed by the root, valid for
// keysValid. password encrypts the private keys (minisign's scrypt box);
// empty is allowed for unattended single-box setups.
func Keygen(dir, password string, keysValid time.Duration) error {
	return KeygenIn(Dir(dir), password, keysValid)
}

// KeygenIn is Keygen for any KeyFiles.
func KeygenIn(f KeyFiles, password string, keysValid time.Duration) error {
	if _, err := f.ReadFile(RootKeyFile); err == nil {
		return fmt.Errorf("release: %s already holds keys; refusing to replace them", f)
	}
	rootPub, rootPriv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKeyPair(f, RootKeyFile, RootPubFile, rootPub, rootPriv, password); err != nil {
		return err
	}
	return RotateSigningKeyIn(f, password, keysValid)
}

// RotateSigningKey makes a new signing key and re-signs keys.json with the
// root. Agents trust the new key at their next check; no reinstall.
func RotateSigningKey(dir, password string, keysValid time.Duration) error {
	return RotateSigningKeyIn(Dir(dir), password, keysValid)
}

// RotateSigningKeyIn is RotateSigningKey for any KeyFiles.
func RotateSigningKeyIn(f KeyFiles, password string, keysValid time.Duration) error {
	root, err := loadPrivate(f, RootKeyFile, password)
	if err != nil {
		return err
	}
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKeyPair(f, SigningKeyFile, SigningPubFile, pub, priv, password); err != nil {
		return err
	}
	pubText, _ := pub.MarshalText()
	now := time.Now().UTC()
	ks := KeySet{Keys: []SigningKey{{PublicKey: string(pubText), NotAfter: now.Add(keysValid)}}, Expires: now.Add(keysValid), Issued: now}
	body, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return err
	}
	if err := f.WriteFile(KeySetFile, body, false); err != nil {
		return err
	}
	return f.WriteFile(KeySetFile+SigSuffix, minisign.Sign(root, body), false)
}

func writeKeyPair(f KeyFiles, keyFile, pubFile string, pub minisign.PublicKey, priv minisign.PrivateKey, password string) error {
	// With a password the key is sealed with minisign's scrypt box (slow by
	// design: about a second); without one it is stored as the KeyFiles
	// keeps private keys (a directory: in the clear, 0600).
	var enc []byte
	var err error
	if password != "" {
		enc, err = minisign.EncryptKey(password, priv)
	} else {
		enc, err = priv.MarshalText()
	}
	if err != nil {
		return err
	}
	if err := f.WriteFile(keyFile, enc, true); err != nil {
		return err
	}
	pubText, _ := pub.MarshalText()
	return f.WriteFile(pubFile, append(pubText, '\n'), false)
}

func loadPrivate(f KeyFiles, name, password string) (minisign.PrivateKey, error) {
	b, err := f.ReadFile(name)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("release: %w", err)
	}
	var k minisign.PrivateKey
	if minisign.IsEncrypted(b) {
		k, err = minisign.DecryptKey(password, b)
	} else {
		err = k.UnmarshalText(b)
	}
	if err != nil {
		return k, fmt.Errorf("release: read %s: %w", name, err)
	}
	return k, nil
}

// RootPublicKey returns the root public key text in dir.
func RootPublicKey(dir string) (string, error) { return RootPublicKeyIn(Dir(dir)) }

// RootPublicKeyIn is RootPublicKey for any KeyFiles.
func RootPublicKeyIn(f KeyFiles) (string, error) {
	b, err := f.ReadFile(RootPubFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("release: no root key in %s (run releases keygen)", f)
	}
	if err != nil {
		return "", err
	}
	pk, err := ParsePublicKey(string(b))
	if err != nil {
		return "", err
	}
	return pk.String(), nil
}

// Signer signs artifacts and manifests with the signing key in a keys dir.
type Signer struct {
	key minisign.PrivateKey
}

// LoadSigner reads the signing key from dir.
func LoadSigner(dir, password string) (*Signer, error) { return LoadSignerIn(Dir(dir), password) }

// LoadSignerIn is LoadSigner for any KeyFiles.
func LoadSignerIn(f KeyFiles, password string) (*Signer, error) {
	k, err := loadPrivate(f, SigningKeyFile, password)
	if err != nil {
		return nil, err
	}
	return &Signer{key: k}, nil
}

// Artifact describes and signs a binary.
func (s *Signer) Artifact(goos, goarch, file string, bin []byte) Artifact {
	sum := sha256.Sum256(bin)
	return Artifact{OS: goos, Arch: goarch, File: file, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(bin)), Signature: string(minisign.Sign(s.key, bin))}
}

// Manifest serialises and signs a manifest.
func (s *Signer) Manifest(m Manifest) (body, sig []byte, err error) {
	body, err = json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return body, minisign.Sign(s.key, body), nil
}
