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

// Keygen creates a root key and a signing key in dir (refusing to replace
// existing keys) and writes keys.json signed by the root, valid for
// keysValid. password encrypts the private keys (minisign's scrypt box);
// empty is allowed for unattended single-box setups.
func Keygen(dir, password string, keysValid time.Duration) error {
	if _, err := os.Stat(filepath.Join(dir, RootKeyFile)); err == nil {
		return fmt.Errorf("release: %s already holds keys; refusing to replace them", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	rootPub, rootPriv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKeyPair(dir, RootKeyFile, RootPubFile, rootPub, rootPriv, password); err != nil {
		return err
	}
	return RotateSigningKey(dir, password, keysValid)
}

// RotateSigningKey makes a new signing key and re-signs keys.json with the
// root. Agents trust the new key at their next check; no reinstall.
func RotateSigningKey(dir, password string, keysValid time.Duration) error {
	root, err := loadPrivate(filepath.Join(dir, RootKeyFile), password)
	if err != nil {
		return err
	}
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKeyPair(dir, SigningKeyFile, SigningPubFile, pub, priv, password); err != nil {
		return err
	}
	pubText, _ := pub.MarshalText()
	ks := KeySet{Keys: []SigningKey{{PublicKey: string(pubText), NotAfter: time.Now().Add(keysValid).UTC()}}, Expires: time.Now().Add(keysValid).UTC()}
	body, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, KeySetFile), body, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, KeySetFile+SigSuffix), minisign.Sign(root, body), 0o644)
}

func writeKeyPair(dir, keyFile, pubFile string, pub minisign.PublicKey, priv minisign.PrivateKey, password string) error {
	// With a password the key is sealed with minisign's scrypt box (slow by
	// design: about a second); without one it is stored in the clear, 0600.
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
	if err := atomicfile.WriteFile(filepath.Join(dir, keyFile), enc, 0o600); err != nil {
		return err
	}
	pubText, _ := pub.MarshalText()
	return atomicfile.WriteFile(filepath.Join(dir, pubFile), append(pubText, '\n'), 0o644)
}

func loadPrivate(path, password string) (minisign.PrivateKey, error) {
	b, err := os.ReadFile(path)
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
		return k, fmt.Errorf("release: read %s: %w", filepath.Base(path), err)
	}
	return k, nil
}

// RootPublicKey returns the root public key text in dir.
func RootPublicKey(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, RootPubFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("release: no root key in %s (run releases keygen)", dir)
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
func LoadSigner(dir, password string) (*Signer, error) {
	k, err := loadPrivate(filepath.Join(dir, SigningKeyFile), password)
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
