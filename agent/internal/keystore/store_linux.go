package keystore

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

// Open returns the best store available on this machine: systemd
// credentials (encrypted with the TPM2 and/or the host key in
// /var/lib/systemd/credential.secret) when systemd-creds works, else a
// root-only file store. WIREFLEET_KEYSTORE=file forces the file store.
func Open(stateDir string, log *slog.Logger) (Store, error) {
	dir := filepath.Join(stateDir, "secrets")
	if os.Getenv("WIREFLEET_KEYSTORE") != "file" && systemdCredsWorks() {
		return newSealedStore(dir, ".cred", "systemd-creds", credsEncrypt, credsDecrypt)
	}
	log.Warn("keystore: systemd credentials unavailable; secrets are kept in root-only 0600 files", "dir", dir)
	return NewFileStore(dir)
}

func systemdCredsWorks() bool {
	if _, err := exec.LookPath("systemd-creds"); err != nil {
		return false
	}
	probe := []byte("wirefleet-probe")
	sealed, err := credsEncrypt("probe", probe)
	if err != nil {
		return false
	}
	back, err := credsDecrypt("probe", sealed)
	return err == nil && bytes.Equal(back, probe)
}

// The credential name is bound into the ciphertext, so a sealed private key
// cannot be swapped in as the credential.
func credsEncrypt(name string, plain []byte) ([]byte, error) {
	return credsRun(plain, "encrypt", "--name=wirefleet-"+name, "-", "-")
}

func credsDecrypt(name string, sealed []byte) ([]byte, error) {
	return credsRun(sealed, "decrypt", "--name=wirefleet-"+name, "-", "-")
}

// credsRunner runs systemd-creds; tests replace it.
var credsRunner oscmd.Runner = oscmd.System

// credsRun runs systemd-creds with in on standard input (never a secret
// on the command line).
func credsRun(in []byte, args ...string) ([]byte, error) {
	res, err := credsRunner.Run(oscmd.Cmd{Name: "systemd-creds", Args: args, Stdin: in})
	if err == nil && res.Exit != 0 {
		err = fmt.Errorf("exit status %d", res.Exit)
	}
	if err != nil {
		return nil, fmt.Errorf("systemd-creds %s: %w: %s", args[0], err, bytes.TrimSpace(res.Stderr))
	}
	return res.Stdout, nil
}
