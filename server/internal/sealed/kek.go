package sealed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// KEKOptions say where the key-encryption key comes from. The first that
// applies is used: an explicit KeyFile; a passphrase (PassphraseEnv or
// PassphraseFile); a systemd credential named Credential in
// $CREDENTIALS_DIRECTORY (LoadCredentialEncrypted=, TPM-bound where the
// host has one); else the default key file beside the data directory.
type KEKOptions struct {
	KeyFile        string
	PassphraseEnv  string
	PassphraseFile string
	Credential     string // default DefaultCredential
}

// DefaultCredential is the systemd credential the server looks for.
const DefaultCredential = "wirefleet-kek"

// passphraseKEK is where a passphrase-wrapped KEK lives: in the data
// directory (and so in backups), useless without the passphrase.
const passphraseKEK = "kek.age"

// minPassphrase is the shortest passphrase accepted (age's scrypt makes
// each guess cost about a second, but a short one is still guessed).
const minPassphrase = 12

// DefaultKeyFile is the key file used when none is named: beside the data
// directory, never inside it, so that a copy of the directory (a backup,
// a snapshot of its volume) does not carry the key that opens it.
func DefaultKeyFile(dataDir string) string {
	return filepath.Clean(dataDir) + ".kek"
}

// source is one place a KEK can come from.
type source struct {
	kind string // "key file", "passphrase", "systemd credential"
	path string // the file read (and, for a key file or passphrase, written)
	pass string // the passphrase (kind "passphrase")
}

// String names the source in messages and in the index.
func (s source) String() string {
	if s.kind == "passphrase" {
		return "passphrase (" + s.path + ")"
	}
	return s.kind + " " + s.path
}

// pickSource applies KEKOptions' order of preference.
func pickSource(dataDir string, o KEKOptions) (source, error) {
	if o.KeyFile != "" {
		return keyFileSource(dataDir, o.KeyFile)
	}
	if o.PassphraseEnv != "" || o.PassphraseFile != "" {
		pass, err := readPassphrase(o)
		if err != nil {
			return source{}, err
		}
		return source{kind: "passphrase", path: filepath.Join(dataDir, dirName, passphraseKEK), pass: pass}, nil
	}
	cred := o.Credential
	if cred == "" {
		cred = DefaultCredential
	}
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, cred)
		if _, err := os.Stat(p); err == nil {
			return source{kind: "systemd credential", path: p}, nil
		}
	}
	return keyFileSource(dataDir, DefaultKeyFile(dataDir))
}

func keyFileSource(dataDir, p string) (source, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return source{}, fmt.Errorf("secrets: key file %s: %w", p, err)
	}
	data, err := filepath.Abs(dataDir)
	if err != nil {
		return source{}, fmt.Errorf("secrets: data dir %s: %w", dataDir, err)
	}
	if rel, err := filepath.Rel(data, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return source{}, fmt.Errorf("secrets: the key file %s is inside the data directory %s: backups and copies of the directory would carry the key that opens it; keep it elsewhere (another volume is best)", p, dataDir)
	}
	return source{kind: "key file", path: abs}, nil
}

func readPassphrase(o KEKOptions) (string, error) {
	var pass, from string
	if o.PassphraseEnv != "" {
		pass, from = os.Getenv(o.PassphraseEnv), "$"+o.PassphraseEnv
	} else {
		b, err := os.ReadFile(o.PassphraseFile)
		if err != nil {
			return "", fmt.Errorf("secrets: --secrets-passphrase-file: %w", err)
		}
		pass, from = strings.TrimRight(string(b), "\r\n"), o.PassphraseFile
	}
	if len(pass) < minPassphrase {
		return "", fmt.Errorf("secrets: the passphrase in %s must be at least %d characters", from, minPassphrase)
	}
	return pass, nil
}

// load reads the KEK from the source. A missing key is os.ErrNotExist
// (wrapped with the source's name).
func (s source) load() (*age.X25519Identity, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("secrets: read the key-encryption key from %s: %w", s, err)
	}
	if s.kind == "passphrase" {
		id, err := age.NewScryptIdentity(s.pass)
		if err != nil {
			return nil, err
		}
		r, err := age.Decrypt(bytes.NewReader(b), id)
		if err != nil {
			return nil, fmt.Errorf("secrets: open %s with the passphrase: %w (wrong passphrase?)", s.path, err)
		}
		if b, err = io.ReadAll(r); err != nil {
			return nil, fmt.Errorf("secrets: open %s: %w", s.path, err)
		}
	} else if s.kind == "key file" && runtime.GOOS != "windows" {
		if fi, err := os.Stat(s.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("secrets: the key file %s is readable by others (mode %04o): chmod 600 it", s.path, fi.Mode().Perm())
		}
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("secrets: %s holds no age identity: %w", s, err)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok || len(ids) != 1 {
		return nil, fmt.Errorf("secrets: %s must hold exactly one X25519 age identity (AGE-SECRET-KEY-1…)", s)
	}
	return id, nil
}

// canWrite reports whether the server can create or replace the KEK at
// the source (a systemd credential is made by the operator).
func (s source) canWrite() bool { return s.kind != "systemd credential" }

// write stores id at the source under name (the source's own path, or a
// ".next" beside it during a rotation), in age-keygen's format so that
// `age -d -i FILE` opens the sealed files in a disaster.
func (s source) write(p string, id *age.X25519Identity, now time.Time) error {
	body := []byte(fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", now.UTC().Format(time.RFC3339), id.Recipient(), id))
	if s.kind == "passphrase" {
		r, err := age.NewScryptRecipient(s.pass)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, r)
		if err != nil {
			return err
		}
		if _, err := w.Write(body); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		body = buf.Bytes()
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	if err := atomicfile.WriteFile(p, body, 0o600); err != nil {
		return fmt.Errorf("secrets: write the key-encryption key: %w", err)
	}
	return nil
}

// errNoKEK says a sealed store's key is missing at the source.
var errNoKEK = errors.New("no key-encryption key")
