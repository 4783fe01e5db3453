package keystore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

// fakeSecurity is /usr/bin/security over an in-memory keychain, as far
// as the keystore uses it; it records every command line.
type fakeSecurity struct {
	items map[string]string // account → password
	lines []string
}

func (f *fakeSecurity) Run(c oscmd.Cmd) (oscmd.Result, error) {
	f.lines = append(f.lines, c.String())
	arg := func(flag string) string {
		if i := slices.Index(c.Args, flag); i >= 0 && i+1 < len(c.Args) {
			return c.Args[i+1]
		}
		return ""
	}
	if c.Name != "/usr/bin/security" || arg("-s") != service || c.Args[len(c.Args)-1] != "/Library/Keychains/System.keychain" && c.Args[len(c.Args)-1] != "-w" {
		return oscmd.Result{Exit: 1, Stderr: []byte("bad command")}, nil
	}
	acct := arg("-a")
	switch c.Args[0] {
	case "find-generic-password":
		v, ok := f.items[acct]
		if !ok {
			return oscmd.Result{Exit: errSecItemNotFound}, nil
		}
		return oscmd.Result{Stdout: []byte(v + "\n")}, nil
	case "add-generic-password":
		lines := strings.Split(strings.TrimSuffix(string(c.Stdin), "\n"), "\n")
		if len(lines) != 2 || lines[0] != lines[1] {
			return oscmd.Result{Exit: 1, Stderr: []byte("passwords do not match")}, nil
		}
		f.items[acct] = lines[0]
		return oscmd.Result{}, nil
	case "delete-generic-password":
		if _, ok := f.items[acct]; !ok {
			return oscmd.Result{Exit: errSecItemNotFound}, nil
		}
		delete(f.items, acct)
		return oscmd.Result{}, nil
	}
	return oscmd.Result{Exit: 1}, nil
}

// The macOS keychain store round-trips secrets through security's
// commands, maps its "not found" status, and never puts a secret on a
// command line.
func TestKeychainCommands(t *testing.T) {
	f := &fakeSecurity{items: map[string]string{}}
	k := &keychain{path: "/Library/Keychains/System.keychain", run: f}
	secret := []byte("\x00\x01wireguard-private-key-bytes\xff")
	if _, err := k.Get(PrivateKey); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Put: %v", err)
	}
	if err := k.Put(PrivateKey, secret); err != nil {
		t.Fatal(err)
	}
	got, err := k.Get(PrivateKey)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Get = %q %v", got, err)
	}
	if err := k.Delete(PrivateKey); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(PrivateKey); err != nil {
		t.Fatalf("deleting a missing item: %v", err)
	}
	if _, err := k.Get(PrivateKey); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	for _, l := range f.lines {
		if strings.Contains(l, base64.StdEncoding.EncodeToString(secret)) || strings.Contains(l, string(secret)) {
			t.Fatalf("a secret on a command line: %s", l)
		}
	}
	if err := k.Put("../evil", secret); err == nil {
		t.Fatal("a bad name reached security")
	}
	f.items = nil // the fake fails: an error that says what failed
	k.run = oscmdFailing{}
	if err := k.Put(PrivateKey, secret); err == nil || !strings.Contains(err.Error(), "keychain write") || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("a failing security: %v", err)
	}
}

type oscmdFailing struct{}

func (oscmdFailing) Run(oscmd.Cmd) (oscmd.Result, error) {
	return oscmd.Result{Exit: 51, Stderr: []byte("The keychain is locked.")}, nil
}
