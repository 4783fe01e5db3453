package keystore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// keychain stores secrets as generic passwords in the System keychain,
// through /usr/bin/security (no cgo). Values are passed on standard input,
// never on the command line where other processes could see them.
type keychain struct {
	path string
}

const service = "com.wirefleet.agent"

// Open returns the System keychain store. stateDir is unused on macOS.
func Open(stateDir string, log *slog.Logger) (Store, error) {
	return &keychain{path: "/Library/Keychains/System.keychain"}, nil
}

func (k *keychain) Backend() string { return "keychain" }

func (k *keychain) Get(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	cmd := exec.Command("/usr/bin/security", "find-generic-password", "-s", service, "-a", name, "-w", k.path)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 44 { // errSecItemNotFound
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("keystore: keychain read %s: %w: %s", name, err, strings.TrimSpace(errb.String()))
	}
	return base64.StdEncoding.DecodeString(strings.TrimSpace(out.String()))
}

func (k *keychain) Put(name string, value []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	// -w as the last argument makes security read the password from stdin.
	cmd := exec.Command("/usr/bin/security", "add-generic-password", "-U", "-s", service, "-a", name, "-T", "", k.path, "-w")
	enc := base64.StdEncoding.EncodeToString(value)
	cmd.Stdin = strings.NewReader(enc + "\n" + enc + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("keystore: keychain write %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (k *keychain) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	out, err := exec.Command("/usr/bin/security", "delete-generic-password", "-s", service, "-a", name, k.path).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 44) {
		return fmt.Errorf("keystore: keychain delete %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
