package keystore

import (
	"log/slog"
	"path/filepath"

	"github.com/billgraziano/dpapi"
)

// Open returns a DPAPI store in stateDir\secrets.
//
// Scope: machine scope (CRYPTPROTECT_LOCAL_MACHINE). The agent runs as
// LocalSystem, and user scope for SYSTEM would work as well, but machine
// scope keeps the secrets readable after the service account is changed
// (some sites run agents under a dedicated service account) and by an
// administrator repairing the install. What keeps other local users out is
// the state directory's ACL, which admits only SYSTEM and Administrators
// and which the agent sets before opening the store (package secdir); DPAPI
// protects the files when they are copied off the machine (a backup, a
// disk image) since the machine key does not travel with them. Each secret
// is sealed with its own entropy so one blob cannot stand in for another.
func Open(stateDir string, log *slog.Logger) (Store, error) {
	dir := filepath.Join(stateDir, "secrets")
	return newSealedStore(dir, ".dpapi", "dpapi-machine", dpapiSeal, dpapiOpen)
}

func entropy(name string) []byte { return []byte("wirefleet/" + name) }

func dpapiSeal(name string, plain []byte) ([]byte, error) {
	return dpapi.EncryptBytesMachineLocalEntropy(plain, entropy(name))
}

func dpapiOpen(name string, sealed []byte) ([]byte, error) {
	return dpapi.DecryptBytesEntropy(sealed, entropy(name))
}
