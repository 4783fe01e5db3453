// Package keystore keeps the agent's secrets — its WireGuard private key and
// its machine credential — in the operating system's secret store, behind
// one small interface:
//
//   - Windows: DPAPI (machine scope, with per-secret entropy) in a state
//     directory only SYSTEM and Administrators can read (store_windows.go);
//   - macOS: the System keychain through /usr/bin/security (store_darwin.go);
//   - Linux: systemd credentials (TPM2 or the host key) where systemd-creds
//     works, else a root-only 0600 file, named as such in status and logged
//     as a warning (store_linux.go).
//
// Secrets never appear in config.json, logs or status output.
package keystore

import (
	"errors"
	"fmt"
	"regexp"
)

// Names of the secrets the agent keeps.
const (
	PrivateKey = "wireguard-private-key"
	Credential = "machine-credential"
	// NextPrivateKey is a rotation's new WireGuard key between the moment
	// it is made and the moment the server has it and it replaces
	// PrivateKey: a crash in between leaves both, and the agent finishes.
	NextPrivateKey = "wireguard-private-key-next"
	// SSHHostKey is the seed of the SSH server's ed25519 host key.
	SSHHostKey = "ssh-host-key"
)

// ErrNotFound is returned by Get for a secret that was never stored or has
// been deleted.
var ErrNotFound = errors.New("keystore: secret not found")

// Store is a secret store.
type Store interface {
	// Get returns the secret called name, or ErrNotFound.
	Get(name string) ([]byte, error)
	// Put stores (or replaces) the secret called name.
	Put(name string, value []byte) error
	// Delete removes the secret; deleting a missing secret is not an error.
	Delete(name string) error
	// Backend names the mechanism, for status output ("dpapi-machine",
	// "systemd-creds", "keychain", "file").
	Backend() string
}

var validName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("keystore: invalid secret name %q", name)
	}
	return nil
}

// WipeAll deletes every secret the agent keeps (logout, revocation).
func WipeAll(s Store) error {
	return errors.Join(s.Delete(PrivateKey), s.Delete(NextPrivateKey), s.Delete(Credential), s.Delete(SSHHostKey))
}
