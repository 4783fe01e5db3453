package release

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"aead.dev/minisign"
)

// The offline ceremony (TUF's model, which Fleet's Orbit follows): the
// root key never touches a machine that serves or publishes. RootInit
// makes it on an admin's offline machine; SigningKeygen makes a signing
// key where releases are published; SignKeySet, back on the offline
// machine, signs the list of signing keys agents should trust. Publishing
// needs the signing key, root.pub and the signed list — never root.key.

// RootInit creates a root key pair alone in dir (refusing to replace one).
func RootInit(dir, password string) (string, error) {
	f := Dir(dir)
	if _, err := f.ReadFile(RootKeyFile); err == nil {
		return "", fmt.Errorf("release: %s already holds a root key; refusing to replace it (agents pin it)", dir)
	}
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	if err := writeKeyPair(f, RootKeyFile, RootPubFile, pub, priv, password); err != nil {
		return "", err
	}
	return RootPublicKeyIn(f)
}

// SigningKeygen creates (or replaces) the signing key pair in dir and
// returns its public key, to be signed into a key list by the root.
func SigningKeygen(dir, password string) (string, error) {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	if err := writeKeyPair(Dir(dir), SigningKeyFile, SigningPubFile, pub, priv, password); err != nil {
		return "", err
	}
	return pub.String(), nil
}

// SignKeySet signs a key list of the given signing public keys (key text,
// or .pub files) with the root key in rootDir, valid for valid, and writes
// it with root.pub into out — the files `releases publish` reads.
func SignKeySet(rootDir, password string, keys []string, valid time.Duration, out string) error {
	if len(keys) == 0 {
		return errors.New("release: name at least one signing public key (--key)")
	}
	root, err := loadPrivate(Dir(rootDir), RootKeyFile, password)
	if err != nil {
		return err
	}
	rootPub, err := os.ReadFile(filepath.Join(rootDir, RootPubFile))
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	now := time.Now().UTC()
	ks := KeySet{Expires: now.Add(valid), Issued: now}
	for _, k := range keys {
		text := k
		if b, err := os.ReadFile(k); err == nil {
			text = string(b)
		}
		pk, err := ParsePublicKey(text)
		if err != nil {
			return fmt.Errorf("release: --key %s: %w", k, err)
		}
		full, _ := pk.MarshalText()
		ks.Keys = append(ks.Keys, SigningKey{PublicKey: string(full), NotAfter: ks.Expires})
	}
	body, err := json.MarshalIndent(ks, "", "  ")
	if err != nil {
		return err
	}
	o := Dir(out)
	if err := o.WriteFile(RootPubFile, rootPub, false); err != nil {
		return err
	}
	if err := o.WriteFile(KeySetFile, body, false); err != nil {
		return err
	}
	return o.WriteFile(KeySetFile+SigSuffix, minisign.Sign(root, body), false)
}
