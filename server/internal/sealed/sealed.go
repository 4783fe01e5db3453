// Package sealed keeps the server's own secrets — its TLS keys, the
// release keys of a single-box setup, the ACME account and certificate
// keys, the SSO client secret, the metrics token and the relay mesh key —
// encrypted at rest with age under one key-encryption key (KEK) that is not
// in the data directory: a systemd credential, a key file elsewhere, or a
// passphrase. Whoever copies the data directory or a backup gets
// ciphertext; the server decrypts each secret when it needs it.
//
// A store is plain (the files the server always kept, for installs made
// before sealing) or sealed (secrets/NAME.age plus secrets/index.json,
// which says to which KEK they are sealed and when each secret was made
// and rotated — readable without the KEK, so status and doctor need no
// key). Seal converts a plain store in place; RotateKEK re-encrypts
// everything under a new KEK, crash-safe at every step.
package sealed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// Names of the secrets the server keeps. Names with a slash or a ".key"
// suffix were files in a plain data directory; ACME's cache entries are
// "acme/" + autocert's key.
const (
	TLSKey          = "tls.key"
	TLSNextKey      = "tls-next.key"
	ReleaseRoot     = "release-keys/root.key"
	ReleaseSigning  = "release-keys/signing.key"
	SSOClientSecret = "sso-client-secret"
	MetricsToken    = "metrics-token"
	RelayMeshKey    = "relay-mesh-key"
	ACMEPrefix      = "acme/"
)

// dirName is the sealed store's directory inside the data directory.
const dirName = "secrets"

const indexName = "index.json"

// Mode is how the store keeps secrets.
type Mode string

const (
	Plain  Mode = "plain"
	Sealed Mode = "sealed"
	// Auto seals new data directories and those already sealed, and keeps
	// an existing plain one plain (until --plain-fallback-until).
	Auto Mode = "auto"
)

// ParseMode checks --secrets.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Plain, Sealed, Auto:
		return m, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("secrets: --secrets %q: want sealed, plain or auto", s)
}

// Options open a store.
type Options struct {
	Mode Mode
	KEK  KEKOptions
	// PlainFallbackUntil, when set, is the day after which a plain secret
	// is refused: a plain store does not open, and plain files found in a
	// sealed one are not sealed but refused.
	PlainFallbackUntil time.Time
	Now                func() time.Time
}

// Meta is what the index says about one secret.
type Meta struct {
	Created time.Time `json:"created"`
	Rotated time.Time `json:"rotated"`
	// Origin says how it came: generated, sealed from a plain file,
	// imported from a flag's file, set by an admin.
	Origin string `json:"origin"`
}

// index is secrets/index.json.
type index struct {
	Format int `json:"format"`
	// Recipient is the KEK's public half: every file opens with it.
	Recipient string `json:"recipient"`
	// Previous is the KEK being replaced while a rotation runs: files
	// are sealed to both until it ends.
	Previous   string          `json:"previous,omitempty"`
	Source     string          `json:"source"`
	KEKCreated time.Time       `json:"kek_created"`
	Secrets    map[string]Meta `json:"secrets"`
}

// Store is the server's secret store. Its methods are safe for
// concurrent use.
type Store struct {
	dir string // the data directory
	now func() time.Time

	mu  sync.Mutex
	src source
	kek *age.X25519Identity // nil while plain
	idx index
	// created says this Open made the KEK (the first sealed start).
	created bool
}

// Entry is one secret as Status lists it.
type Entry struct {
	Name   string `json:"name"`
	Sealed bool   `json:"sealed"`
	Meta
}

// Status is what `secrets status` shows.
type Status struct {
	Mode       Mode      `json:"mode"`
	Source     string    `json:"source,omitempty"`
	Recipient  string    `json:"recipient,omitempty"`
	KEKCreated time.Time `json:"kek_created,omitzero"`
	Secrets    []Entry   `json:"secrets"`
}

// Overdue is a secret (or the KEK) not rotated for longer than a bound.
type Overdue struct {
	Name string // the secret's name, or KEKName
	Age  time.Duration
}

// KEKName names the key-encryption key in Overdue.
const KEKName = "the key-encryption key"

// Overdue lists the secrets, and the KEK, last rotated more than maxAge
// before now — what status and doctor warn about. ACME's entries renew
// themselves and are left out.
func (st Status) Overdue(maxAge time.Duration, now time.Time) []Overdue {
	var out []Overdue
	for _, e := range st.Secrets {
		if !e.Rotated.IsZero() && now.Sub(e.Rotated) > maxAge && !strings.HasPrefix(e.Name, ACMEPrefix) {
			out = append(out, Overdue{e.Name, now.Sub(e.Rotated)})
		}
	}
	if !st.KEKCreated.IsZero() && now.Sub(st.KEKCreated) > maxAge {
		out = append(out, Overdue{KEKName, now.Sub(st.KEKCreated)})
	}
	return out
}

// ErrPlainRefused is returned for plain secrets after PlainFallbackUntil.
var ErrPlainRefused = errors.New("plain secrets are refused after --plain-fallback-until")

// IsSealed reports whether dataDir holds a sealed store.
func IsSealed(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, dirName, indexName))
	return err == nil
}

// Open opens the store of dataDir as o says, sealing plain files when the
// mode is sealed (the migration at start). It fails, naming the source it
// tried, when a sealed store's KEK cannot be had.
func Open(dataDir string, o Options) (*Store, error) {
	s := &Store{dir: dataDir, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	plain := s.PlainFiles()
	pastFallback := !o.PlainFallbackUntil.IsZero() && s.now().After(o.PlainFallbackUntil)
	mode := o.Mode
	if mode == "" || mode == Auto {
		mode = Sealed
		if !IsSealed(dataDir) && len(plain) > 0 {
			mode = Plain
		}
	}
	if mode == Plain {
		if IsSealed(dataDir) {
			return nil, fmt.Errorf("secrets: %s is sealed; --secrets=plain cannot open it (give the KEK instead: --secrets-key-file, --secrets-passphrase-env or a systemd credential)", filepath.Join(dataDir, dirName))
		}
		if pastFallback && len(plain) > 0 {
			return nil, fmt.Errorf("secrets: %s: %w (%s); seal them: wirefleet-server serve --secrets=sealed, or secrets seal", strings.Join(plain, ", "), ErrPlainRefused, o.PlainFallbackUntil.Format(time.DateOnly))
		}
		return s, nil
	}
	if err := s.openKEK(o.KEK); err != nil {
		return nil, err
	}
	if len(plain) > 0 {
		if pastFallback {
			return nil, fmt.Errorf("secrets: plain files %s in a sealed data directory: %w (%s); remove them, or seal them before that day", strings.Join(plain, ", "), ErrPlainRefused, o.PlainFallbackUntil.Format(time.DateOnly))
		}
		if err := s.sealPlain(plain); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// openKEK loads (or, for a store not sealed yet, creates) the KEK and
// checks it is the one the index names, finishing a KEK rotation a crash
// interrupted.
func (s *Store) openKEK(o KEKOptions) error {
	src, err := pickSource(s.dir, o)
	if err != nil {
		return err
	}
	s.src = src
	sealed := IsSealed(s.dir)
	if sealed {
		if s.idx, err = readIndex(s.dir); err != nil {
			return err
		}
	}
	kek, err := src.load()
	if errors.Is(err, fs.ErrNotExist) && !sealed && src.canWrite() {
		if kek, err = age.GenerateX25519Identity(); err != nil {
			return err
		}
		if err = src.write(src.path, kek, s.now()); err != nil {
			return err
		}
		s.created = true
	}
	if err != nil {
		if sealed {
			return fmt.Errorf("%w (the secrets in %s are sealed to %s; give its KEK: --secrets-key-file, --secrets-passphrase-env/-file, or the systemd credential %s)", err, filepath.Join(s.dir, dirName), s.idx.Recipient, DefaultCredential)
		}
		return err
	}
	s.kek = kek
	if !sealed {
		s.idx = index{Format: 1, Recipient: kek.Recipient().String(), Source: src.String(), KEKCreated: s.now().UTC(), Secrets: map[string]Meta{}}
		return s.writeIndex()
	}
	next := src.path + ".next"
	switch got := kek.Recipient().String(); {
	case got == s.idx.Recipient:
		// A rotation that stopped after the new key was in place: drop
		// what is left of it.
		os.Remove(next)
		if s.idx.Previous != "" {
			s.idx.Previous = ""
			if err := s.writeIndex(); err != nil {
				return err
			}
		}
	case got == s.idx.Previous:
		// Stopped before the new key replaced the old at the source: the
		// files open with either; put the new one in place.
		nk, err := source{kind: src.kind, path: next, pass: src.pass}.load()
		if err != nil || nk.Recipient().String() != s.idx.Recipient {
			return fmt.Errorf("secrets: a KEK rotation was interrupted and its new key (%s) is lost: the secrets still open with the old one; run secrets rotate kek again", next)
		}
		if err := os.Rename(next, src.path); err != nil {
			return fmt.Errorf("secrets: finish the KEK rotation: %w", err)
		}
		s.kek, s.idx.Previous = nk, ""
		if err := s.writeIndex(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("secrets: %s holds the key %s, but the secrets in %s are sealed to %s", src, got, filepath.Join(s.dir, dirName), s.idx.Recipient)
	}
	if s.idx.Source != src.String() {
		s.idx.Source = src.String()
		return s.writeIndex()
	}
	return nil
}

// Created reports whether Open made a new KEK (its first start sealed):
// the server says where it is and how to keep it.
func (s *Store) Created() bool { return s.created }

// Source names where the KEK came from ("" while plain).
func (s *Store) Source() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kek == nil {
		return ""
	}
	return s.src.String()
}

// Mode is the store's mode now.
func (s *Store) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kek == nil {
		return Plain
	}
	return Sealed
}

// fileName is the sealed file of a secret.
func fileName(name string) string { return url.PathEscape(name) + ".age" }

// plainPath is where a plain data directory keeps a secret ("" for the
// ones that were never files in it).
func (s *Store) plainPath(name string) string {
	if name == SSOClientSecret || name == MetricsToken || name == RelayMeshKey {
		return ""
	}
	return filepath.Join(s.dir, filepath.FromSlash(name))
}

// PlainFiles lists the secrets kept as plain files in the data
// directory: the TLS keys, the release private keys, ACME's cache.
func (s *Store) PlainFiles() []string {
	var out []string
	for _, n := range []string{TLSKey, TLSNextKey, ReleaseRoot, ReleaseSigning} {
		if _, err := os.Stat(s.plainPath(n)); err == nil {
			out = append(out, n)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "acme"))
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, ACMEPrefix+e.Name())
		}
	}
	return out
}

// Get returns a secret; os.ErrNotExist (wrapped) when there is none.
func (s *Store) Get(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get(name)
}

func (s *Store) get(name string) ([]byte, error) {
	if s.kek == nil {
		p := s.plainPath(name)
		if p == "" {
			return nil, fmt.Errorf("secrets: %s: %w", name, fs.ErrNotExist)
		}
		return os.ReadFile(p)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, dirName, fileName(name)))
	if err != nil {
		return nil, fmt.Errorf("secrets: %s: %w", name, err)
	}
	r, err := age.Decrypt(bytes.NewReader(b), s.kek)
	if err != nil {
		return nil, fmt.Errorf("secrets: open %s: %w", name, err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("secrets: open %s (damaged?): %w", name, err)
	}
	return out, nil
}

// Put stores a secret the server made (a new TLS key, an ACME
// certificate): a rotation when it existed.
func (s *Store) Put(name string, data []byte) error { return s.Set(name, data, "generated") }

// Set stores a secret, saying where it came from.
func (s *Store) Set(name string, data []byte, origin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set(name, data, origin, time.Time{})
}

// set writes one secret; created, when not zero, is its creation time
// (a plain file's when sealing it).
func (s *Store) set(name string, data []byte, origin string, created time.Time) error {
	if s.kek == nil {
		p := s.plainPath(name)
		if p == "" {
			return fmt.Errorf("secrets: %s is kept only in a sealed store (the server reads it from its flag's file while plain)", name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		return atomicfile.WriteFile(p, data, 0o600)
	}
	if err := s.writeSealed(name, data); err != nil {
		return err
	}
	now := s.now().UTC()
	m, ok := s.idx.Secrets[name]
	switch {
	case !created.IsZero():
		m = Meta{Created: created.UTC(), Rotated: created.UTC(), Origin: origin}
	case !ok:
		m = Meta{Created: now, Rotated: now, Origin: origin}
	default:
		m.Rotated, m.Origin = now, origin
	}
	s.idx.Secrets[name] = m
	return s.writeIndex()
}

// writeSealed encrypts data to the KEK (and, during a rotation, to the
// previous one too) and replaces the secret's file atomically.
func (s *Store) writeSealed(name string, data []byte) error {
	recips := []age.Recipient{s.kek.Recipient()}
	if s.idx.Previous != "" {
		if r, err := age.ParseX25519Recipient(s.idx.Previous); err == nil {
			recips = append(recips, r)
		}
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recips...)
	if err != nil {
		return fmt.Errorf("secrets: seal %s: %w", name, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("secrets: seal %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("secrets: seal %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Join(s.dir, dirName), 0o700); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, dirName, fileName(name)), buf.Bytes(), 0o600)
}

// Delete removes a secret (an ACME cache entry autocert drops).
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kek == nil {
		if p := s.plainPath(name); p != "" {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	if err := os.Remove(filepath.Join(s.dir, dirName, fileName(name))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	delete(s.idx.Secrets, name)
	return s.writeIndex()
}

// Seal converts a plain store to a sealed one in place, with the KEK
// from o (created when absent). Each plain file is sealed, read back and
// compared, and only then removed: a crash leaves every secret in one
// form or the other, and Seal (or a start with --secrets=sealed) resumes.
func (s *Store) Seal(o KEKOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kek == nil {
		if err := s.openKEK(o); err != nil {
			return err
		}
	}
	return s.sealPlainLocked(s.PlainFiles())
}

func (s *Store) sealPlain(names []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealPlainLocked(names)
}

func (s *Store) sealPlainLocked(names []string) error {
	for _, n := range names {
		p := s.plainPath(n)
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("secrets: seal %s: %w", n, err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("secrets: seal %s: %w", n, err)
		}
		if err := s.set(n, data, "sealed from the plain file", fi.ModTime()); err != nil {
			return err
		}
		back, err := s.get(n)
		if err != nil || !bytes.Equal(back, data) {
			return fmt.Errorf("secrets: seal %s: the sealed copy does not read back (%v); the plain file is kept", n, err)
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("secrets: seal %s: remove the plain file: %w", n, err)
		}
	}
	return nil
}

// RotateKEK makes a new KEK and seals every secret to it. The order
// keeps every step recoverable: the new key is written beside the old
// (".next"); every file is re-sealed to both; the index names the new one
// (the old as Previous); the new key replaces the old at the source; the
// files are re-sealed to the new one alone. Open completes a rotation
// interrupted after the index changed.
func (s *Store) RotateKEK() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kek == nil {
		return "", errors.New("secrets: the store is plain: seal it first (secrets seal)")
	}
	if !s.src.canWrite() {
		return "", fmt.Errorf("secrets: the KEK is the %s, which only the host can make: make a new credential (systemd-creds encrypt), then rotate by restarting with it after `secrets rotate kek` from a key file; not done here", s.src)
	}
	nk, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	next := s.src.path + ".next"
	if err := s.src.write(next, nk, s.now()); err != nil {
		return "", err
	}
	old := s.kek
	names := slices.Sorted(maps.Keys(s.idx.Secrets))
	plain := map[string][]byte{}
	for _, n := range names {
		b, err := s.get(n)
		if err != nil {
			return "", err
		}
		plain[n] = b
	}
	// Sealed to both while the source still holds the old key.
	s.idx.Previous = old.Recipient().String()
	s.kek = nk
	for _, n := range names {
		if err := s.writeSealed(n, plain[n]); err != nil {
			s.kek, s.idx.Previous = old, ""
			return "", err
		}
	}
	s.idx.Recipient = nk.Recipient().String()
	s.idx.KEKCreated = s.now().UTC()
	if err := s.writeIndex(); err != nil {
		return "", err
	}
	if err := os.Rename(next, s.src.path); err != nil {
		return "", fmt.Errorf("secrets: put the new KEK in place: %w", err)
	}
	s.idx.Previous = ""
	for _, n := range names {
		if err := s.writeSealed(n, plain[n]); err != nil {
			return "", err
		}
	}
	return s.idx.Recipient, s.writeIndex()
}

// Status lists the secrets: the sealed ones from the index, the plain
// files of a plain store with their files' times.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kek == nil {
		st := Status{Mode: Plain}
		for _, n := range s.PlainFiles() {
			fi, err := os.Stat(s.plainPath(n))
			if err != nil {
				continue
			}
			st.Secrets = append(st.Secrets, Entry{Name: n, Meta: Meta{Created: fi.ModTime().UTC(), Rotated: fi.ModTime().UTC(), Origin: "plain file"}})
		}
		return st
	}
	return statusOf(s.idx)
}

func statusOf(idx index) Status {
	st := Status{Mode: Sealed, Source: idx.Source, Recipient: idx.Recipient, KEKCreated: idx.KEKCreated}
	for _, n := range slices.Sorted(maps.Keys(idx.Secrets)) {
		st.Secrets = append(st.Secrets, Entry{Name: n, Sealed: true, Meta: idx.Secrets[n]})
	}
	return st
}

// ReadStatus reads a data directory's status without its KEK (doctor).
func ReadStatus(dataDir string) (Status, error) {
	if !IsSealed(dataDir) {
		s := &Store{dir: dataDir, now: time.Now}
		return s.Status(), nil
	}
	idx, err := readIndex(dataDir)
	if err != nil {
		return Status{}, err
	}
	st := statusOf(idx)
	s := &Store{dir: dataDir}
	for _, n := range s.PlainFiles() {
		st.Secrets = append(st.Secrets, Entry{Name: n, Meta: Meta{Origin: "plain file in a sealed store"}})
	}
	return st, nil
}

func readIndex(dataDir string) (index, error) {
	var idx index
	p := filepath.Join(dataDir, dirName, indexName)
	b, err := os.ReadFile(p)
	if err != nil {
		return idx, fmt.Errorf("secrets: %w", err)
	}
	if err := json.Unmarshal(b, &idx); err != nil || idx.Recipient == "" {
		return idx, fmt.Errorf("secrets: %s is damaged (%v): restore it from a backup", p, err)
	}
	if idx.Secrets == nil {
		idx.Secrets = map[string]Meta{}
	}
	return idx, nil
}

func (s *Store) writeIndex() error {
	b, err := json.MarshalIndent(s.idx, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.dir, dirName), 0o700); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, dirName, indexName), b, 0o600)
}
