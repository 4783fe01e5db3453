package keystore

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

// keychain stores secrets as generic passwords in the macOS System
// keychain, through /usr/bin/security (no cgo). Values are passed on
// standard input, never on the command line where other processes could
// see them. It is built on every OS (Open uses it on macOS) so that its
// commands are tested anywhere, against a fake security.
type keychain struct {
	path string
	run  oscmd.Runner
}

const (
	service  = "com.wirefleet.agent"
	security = "/usr/bin/security"
	// errSecItemNotFound is security's exit status for a missing item.
	errSecItemNotFound = 44
)

func (k *keychain) Backend() string { return "keychain" }

func (k *keychain) Get(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	res, err := k.run.Run(oscmd.Cmd{Name: security, Args: []string{"find-generic-password", "-s", service, "-a", name, "-w", k.path}})
	switch {
	case err != nil:
		return nil, fmt.Errorf("keystore: keychain read %s: %w", name, err)
	case res.Exit == errSecItemNotFound:
		return nil, ErrNotFound
	case res.Exit != 0:
		return nil, fmt.Errorf("keystore: keychain read %s: exit status %d: %s", name, res.Exit, strings.TrimSpace(string(res.Stderr)))
	}
	return base64.StdEncoding.DecodeString(strings.TrimSpace(string(res.Stdout)))
}

func (k *keychain) Put(name string, value []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	// -w as the last argument makes security read the password, twice,
	// from standard input.
	enc := base64.StdEncoding.EncodeToString(value)
	res, err := k.run.Run(oscmd.Cmd{Name: security, Args: []string{"add-generic-password", "-U", "-s", service, "-a", name, "-T", "", k.path, "-w"},
		Stdin: []byte(enc + "\n" + enc + "\n")})
	if err == nil && res.Exit != 0 {
		err = fmt.Errorf("exit status %d: %s", res.Exit, strings.TrimSpace(string(res.Stderr)+" "+string(res.Stdout)))
	}
	if err != nil {
		return fmt.Errorf("keystore: keychain write %s: %w", name, err)
	}
	return nil
}

func (k *keychain) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	res, err := k.run.Run(oscmd.Cmd{Name: security, Args: []string{"delete-generic-password", "-s", service, "-a", name, k.path}})
	if err == nil && res.Exit != 0 && res.Exit != errSecItemNotFound {
		err = fmt.Errorf("exit status %d: %s", res.Exit, strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return fmt.Errorf("keystore: keychain delete %s: %w", name, err)
	}
	return nil
}
