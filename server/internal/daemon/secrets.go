package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/releasestore"
	"github.com/wirefleet/wirefleet/server/internal/sealed"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/sso"
)

// DefaultMaxSecretAge is the age past which status and doctor warn about
// a secret that was never rotated.
const DefaultMaxSecretAge = 365 * 24 * time.Hour

// serverSecrets is the server's secret store with what uses each secret:
// the fleet service's Secrets.
type serverSecrets struct {
	store   *sealed.Store
	kek     sealed.KEKOptions
	dataDir string
	maxAge  time.Duration
	log     *slog.Logger

	metrics atomic.Pointer[string]       // the metrics token ("" none)
	sso     atomic.Pointer[sso.Provider] // set once single sign-on is up
	rel     *releasestore.Store          // set with the release store

	mu sync.Mutex // orders rotations of one secret against each other
}

// openSecrets opens the data directory's secret store as o says and
// tells the operator, on the first sealed start, where the KEK is.
func openSecrets(o Options, out io.Writer, log *slog.Logger) (*serverSecrets, error) {
	mode, err := sealed.ParseMode(o.Secrets)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	st, err := sealed.Open(o.DataDir, sealed.Options{Mode: mode, KEK: o.SecretsKEK, PlainFallbackUntil: o.PlainFallbackUntil})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	s := &serverSecrets{store: st, kek: o.SecretsKEK, dataDir: o.DataDir, maxAge: o.MaxSecretAge, log: log}
	if s.maxAge == 0 {
		s.maxAge = DefaultMaxSecretAge
	}
	empty := ""
	s.metrics.Store(&empty)
	switch {
	case st.Mode() == sealed.Plain:
		log.Warn("the server's secrets are plain files in the data directory: whoever copies it can impersonate the server; seal them with `wirefleet-server secrets seal`",
			"files", strings.Join(st.PlainFiles(), " "))
	case st.Created():
		fmt.Fprintf(out, "\nSecrets: sealed with the key-encryption key in %s (made now).\n"+
			"  Keep a copy of it apart from this server and its backups (a password manager, another volume):\n"+
			"  without it this data directory cannot be opened, and with it anyone holding a backup can.\n", st.Source())
	}
	log.Info("secrets", "mode", st.Mode(), "source", st.Source(), "took", time.Since(t0).Round(time.Microsecond))
	return s, nil
}

// fromFlag returns the secret name: the flag's file when one is given —
// sealed into the store at once when it is sealed (the file may then go)
// — else the sealed copy ("" when there is none).
func (s *serverSecrets) fromFlag(name, flag, path string, fallbackUntil time.Time) (string, error) {
	if path == "" {
		b, err := s.store.Get(name)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return string(b), err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("daemon: %s: %w", flag, err)
	}
	v := strings.TrimSpace(string(b))
	if s.store.Mode() != sealed.Sealed {
		return v, nil
	}
	if !fallbackUntil.IsZero() && time.Now().After(fallbackUntil) {
		return "", fmt.Errorf("daemon: %s %s: %w (%s): the secret is sealed in the data directory; drop the flag and remove the file",
			flag, path, sealed.ErrPlainRefused, fallbackUntil.Format(time.DateOnly))
	}
	if cur, err := s.store.Get(name); err != nil || string(cur) != v {
		if err := s.store.Set(name, []byte(v), "imported from "+flag); err != nil {
			return "", err
		}
		s.log.Warn("sealed a secret given as a plain file: remove the file and drop the flag (the sealed copy is used without it)", "flag", flag, "file", path)
	}
	return v, nil
}

// Status is the store's status with warnings: plain secrets, and secrets
// older than maxAge.
func (s *serverSecrets) Status() wire.SecretsStatus {
	return statusWithWarnings(s.store.Status(), s.maxAge, time.Now())
}

func statusWithWarnings(st sealed.Status, maxAge time.Duration, now time.Time) wire.SecretsStatus {
	out := wire.SecretsStatus{Mode: string(st.Mode), Source: st.Source, Recipient: st.Recipient, KEKCreated: st.KEKCreated, Secrets: []wire.SecretInfo{}, MaxAge: maxAge.String()}
	if st.Mode == sealed.Plain && len(st.Secrets) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d secret(s) are plain files in the data directory: seal them (wirefleet-server secrets seal)", len(st.Secrets)))
	}
	for _, e := range st.Secrets {
		out.Secrets = append(out.Secrets, wire.SecretInfo{Name: e.Name, Sealed: e.Sealed, Created: e.Created, Rotated: e.Rotated, Origin: e.Origin})
		if st.Mode == sealed.Sealed && !e.Sealed {
			out.Warnings = append(out.Warnings, e.Name+" is a plain file in a sealed data directory: the next start seals it")
		}
	}
	for _, o := range st.Overdue(maxAge, now) {
		if o.Name == sealed.KEKName {
			out.Warnings = append(out.Warnings, fmt.Sprintf("the key-encryption key is %s old: rotate it (secrets rotate kek)", o.Age.Round(24*time.Hour)))
			continue
		}
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s was last rotated %s ago (more than %s): rotate it", o.Name, o.Age.Round(24*time.Hour), maxAge))
	}
	return out
}

// Seal seals the store in place; the keys in memory do not change.
func (s *serverSecrets) Seal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.Seal(s.kek); err != nil {
		return err
	}
	// Flags' secrets now live in the store too.
	if m := *s.metrics.Load(); m != "" {
		if err := s.store.Set(sealed.MetricsToken, []byte(m), "imported from --metrics-token-file"); err != nil {
			return err
		}
	}
	return nil
}

func (s *serverSecrets) RotateKEK() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.RotateKEK()
}

// RotateSigning replaces the single-box signing key: keys.json is signed
// by the root kept here, published, and every release re-signed, so that
// nothing signed by the old key verifies any more.
func (s *serverSecrets) RotateSigning() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rel == nil {
		return 0, wire.Errorf(wire.CodeConflict, "this server keeps no releases")
	}
	keys := s.releaseKeys()
	if _, err := keys.ReadFile(release.SigningKeyFile); errors.Is(err, fs.ErrNotExist) {
		return 0, wire.Errorf(wire.CodeConflict, "this server holds no release signing key (releases are published from elsewhere): rotate it there with `wirefleet-server releases rotate --keys DIR`")
	}
	if _, err := keys.ReadFile(release.RootKeyFile); errors.Is(err, fs.ErrNotExist) {
		return 0, wire.Errorf(wire.CodeConflict, "the release root key is not on this server (kept offline): make the new key list there (releases root sign-keys) and publish it")
	}
	if err := release.RotateSigningKeyIn(keys, "", 10*365*24*time.Hour); err != nil {
		return 0, err
	}
	return s.publishKeys(keys)
}

// publishKeys hands the key list in keys to the release store and signs
// the published releases with the signing key in keys.
func (s *serverSecrets) publishKeys(keys release.KeyFiles) (int, error) {
	root, err := release.RootPublicKeyIn(keys)
	if err != nil {
		return 0, err
	}
	body, err1 := keys.ReadFile(release.KeySetFile)
	sig, err2 := keys.ReadFile(release.KeySetFile + release.SigSuffix)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	if err := s.rel.PutKeys(root, body, sig); err != nil {
		return 0, err
	}
	signer, err := release.LoadSignerIn(keys, "")
	if err != nil {
		return 0, err
	}
	return s.rel.Resign(signer)
}

func (s *serverSecrets) RotateMetrics() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, _ := secret.New("wfp_")
	if s.store.Mode() == sealed.Sealed {
		if err := s.store.Set(sealed.MetricsToken, []byte(tok), "rotated"); err != nil {
			return "", err
		}
	} else {
		return "", wire.Errorf(wire.CodeConflict, "the secrets are plain: the metrics token comes from --metrics-token-file; change that file, or seal the secrets first (secrets seal)")
	}
	s.metrics.Store(&tok)
	return tok, nil
}

func (s *serverSecrets) SetSSOSecret(v string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store.Mode() != sealed.Sealed {
		return wire.Errorf(wire.CodeConflict, "the secrets are plain: the client secret comes from --oidc-client-secret-file; change that file, or seal the secrets first (secrets seal)")
	}
	if err := s.store.Set(sealed.SSOClientSecret, []byte(v), "set by an admin"); err != nil {
		return err
	}
	if p := s.sso.Load(); p != nil {
		p.SetClientSecret(v)
	}
	return nil
}

// metricsToken is the token /metrics accepts now.
func (s *serverSecrets) metricsToken() string { return *s.metrics.Load() }

// releaseKeys are the single-box release keys: private ones in the store,
// public ones in the data directory's release-keys.
func (s *serverSecrets) releaseKeys() release.KeyFiles {
	return releaseFiles{store: s.store, dir: filepath.Join(s.dataDir, "release-keys")}
}

type releaseFiles struct {
	store *sealed.Store
	dir   string
}

func private(name string) bool { return strings.HasSuffix(name, ".key") }

func (f releaseFiles) ReadFile(name string) ([]byte, error) {
	if private(name) {
		return f.store.Get("release-keys/" + name)
	}
	return os.ReadFile(filepath.Join(f.dir, name))
}

func (f releaseFiles) WriteFile(name string, data []byte, priv bool) error {
	if priv || private(name) {
		return f.store.Put("release-keys/"+name, data)
	}
	return release.Dir(f.dir).WriteFile(name, data, false)
}

func (f releaseFiles) String() string { return f.dir }

// acmeCache keeps autocert's account key and certificates in the store.
type acmeCache struct{ store *sealed.Store }

func (c acmeCache) Get(_ context.Context, key string) ([]byte, error) {
	b, err := c.store.Get(sealed.ACMEPrefix + key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, autocert.ErrCacheMiss
	}
	return b, err
}

func (c acmeCache) Put(_ context.Context, key string, data []byte) error {
	return c.store.Put(sealed.ACMEPrefix+key, data)
}

func (c acmeCache) Delete(_ context.Context, key string) error {
	return c.store.Delete(sealed.ACMEPrefix + key)
}
