package keystore

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

// roundTrip exercises the Store contract on any backend.
func roundTrip(t *testing.T, s Store, dir string) {
	t.Helper()
	secret := []byte("wfm_this-is-a-very-secret-credential-value")
	if _, err := s.Get(Credential); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Put = %v, want ErrNotFound", err)
	}
	if err := s.Put(Credential, secret); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(Credential)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := s.Put(Credential, []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(Credential); string(got) != "replaced" {
		t.Fatalf("Put did not replace: %q", got)
	}
	if err := s.Put("../escape", secret); err == nil {
		t.Fatal("a path-like secret name was accepted")
	}
	if err := s.Delete(Credential); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(Credential); err != nil {
		t.Fatalf("deleting a missing secret: %v", err)
	}
	if _, err := s.Get(Credential); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("secrets dir mode = %v (%v), want 0700", st.Mode().Perm(), err)
	}
}

func TestFileStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s, err := NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s, dir)
	s.Put(PrivateKey, []byte("k"))
	st, _ := os.Stat(filepath.Join(dir, PrivateKey))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	if err := WipeAll(s); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("WipeAll left %d files", len(ents))
	}
}

func TestOpenPicksSystemdCredsWhenItWorksAndSealsTheSecrets(t *testing.T) {
	if !systemdCredsWorks() {
		t.Skip("systemd-creds cannot encrypt here (no systemd-creds binary or no host key/TPM); the file store is tested above")
	}
	state := t.TempDir()
	s, err := Open(state, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Backend() != "systemd-creds" {
		t.Fatalf("backend = %s, want systemd-creds", s.Backend())
	}
	roundTrip(t, s, filepath.Join(state, "secrets"))
	secret := []byte("wfm_plaintext-that-must-not-appear-on-disk")
	if err := s.Put(Credential, secret); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(state, "secrets", Credential+".cred"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, secret) || bytes.Contains(raw, []byte("plaintext-that")) {
		t.Fatal("sealed file contains the plaintext")
	}
	// A sealed credential cannot be passed off as the private key: the
	// name is bound into the ciphertext.
	os.WriteFile(filepath.Join(state, "secrets", PrivateKey+".cred"), raw, 0o600)
	if _, err := s.Get(PrivateKey); err == nil {
		t.Fatal("a blob sealed for another name was accepted")
	}
}

func TestOpenFallsBackToFileWhenForced(t *testing.T) {
	t.Setenv("WIREFLEET_KEYSTORE", "file")
	var logs bytes.Buffer
	s, err := Open(t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Backend() != "file" || !bytes.Contains(logs.Bytes(), []byte("level=WARN")) {
		t.Fatalf("backend %s, logs %q: want file with a warning", s.Backend(), logs.String())
	}
}

type recordingRunner struct{ cmds []oscmd.Cmd }

func (r *recordingRunner) Run(c oscmd.Cmd) (oscmd.Result, error) {
	r.cmds = append(r.cmds, c)
	return oscmd.Result{Stdout: append([]byte("sealed:"), c.Stdin...)}, nil
}

// The systemd-creds command lines: the credential's name is bound into
// the ciphertext, and the secret goes on standard input only.
func TestSystemdCredsCommands(t *testing.T) {
	r := &recordingRunner{}
	old := credsRunner
	credsRunner = r
	defer func() { credsRunner = old }()
	secret := []byte("wireguard private key")
	if _, err := credsEncrypt(PrivateKey, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := credsDecrypt(Credential, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	want := []string{"systemd-creds encrypt --name=wirefleet-" + PrivateKey + " - -", "systemd-creds decrypt --name=wirefleet-" + Credential + " - -"}
	for i, c := range r.cmds {
		if c.String() != want[i] {
			t.Errorf("command %d: %q, want %q", i, c.String(), want[i])
		}
		if strings.Contains(c.String(), string(secret)) {
			t.Errorf("a secret on the command line: %s", c)
		}
	}
	if !bytes.Equal(r.cmds[0].Stdin, secret) {
		t.Errorf("the secret did not go on standard input: %q", r.cmds[0].Stdin)
	}
}
