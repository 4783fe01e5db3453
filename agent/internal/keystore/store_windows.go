package keystore

import (
	"fmt"
	"log/slog"
	"os/exec"
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
// the directory ACL, which admits only SYSTEM and Administrators; DPAPI
// protects the files when they are copied off the machine (a backup, a
// disk image) since the machine key does not travel with them. Each secret
// is sealed with its own entropy so one blob cannot stand in for another.
func Open(stateDir string, log *slog.Logger) (Store, error) {
	dir := filepath.Join(stateDir, "secrets")
	s, err := newSealedStore(dir, ".dpapi", "dpapi-machine", dpapiSeal, dpapiOpen)
	if err != nil {
		return nil, err
	}
	if err := restrictACL(dir); err != nil {
		log.Warn("keystore: could not restrict the secrets directory to SYSTEM and Administrators", "dir", dir, "err", err)
	}
	return s, nil
}

func entropy(name string) []byte { return []byte("wirefleet/" + name) }

func dpapiSeal(name string, plain []byte) ([]byte, error) {
	return dpapi.EncryptBytesMachineLocalEntropy(plain, entropy(name))
}

func dpapiOpen(name string, sealed []byte) ([]byte, error) {
	return dpapi.DecryptBytesEntropy(sealed, entropy(name))
}

// restrictACL replaces the directory's ACL with full control for SYSTEM
// (S-1-5-18) and Administrators (S-1-5-32-544) only, without inheritance.
func restrictACL(dir string) error {
	out, err := exec.Command("icacls", dir, "/inheritance:r", "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F").CombinedOutput()
	if err != nil {
		return fmt.Errorf("icacls: %w: %s", err, out)
	}
	return nil
}
