// Package releasestore hosts signed agent releases and the installers. The
// server never signs: it stores what a publisher signed elsewhere (or, on a
// single box, with keys in its data dir), checks on upload that it verifies
// against the pinned root, and serves it — manifests, keys, binaries with
// Range support so downloads resume, and install.sh / install.ps1.
package releasestore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/installer"
	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/version"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// MaxFile bounds an uploaded binary.
const MaxFile = 512 << 20

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	channelRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

// Store keeps releases under dir.
type Store struct {
	dir string
	mu  sync.Mutex
	now func() time.Time

	tagMu sync.Mutex
	tag   string
	tagAt time.Time
}

// Tag is a short digest of what every channel offers (version, publication
// time, paused). Agents get it with each health acknowledgement and look
// for an update as soon as it changes, rather than at their next daily
// check. It is recomputed at most once a second.
func (s *Store) Tag() string {
	s.tagMu.Lock()
	defer s.tagMu.Unlock()
	if now := s.now(); now.Sub(s.tagAt) >= time.Second || now.Before(s.tagAt) {
		s.tagAt = now
		s.tag = ""
		if ms, err := s.Channels(); err == nil && len(ms) > 0 {
			h := sha256.New()
			for _, m := range ms {
				fmt.Fprintf(h, "%s %s %d %v\n", m.Channel, m.Version, m.Published.UnixNano(), m.Paused)
			}
			s.tag = hex.EncodeToString(h.Sum(nil)[:8])
		}
	}
	return s.tag
}

// NewStore returns the store rooted at dir (created on first write).
func NewStore(dir string) *Store { return &Store{dir: dir, now: time.Now} }

func (s *Store) path(parts ...string) string {
	return filepath.Join(append([]string{s.dir}, parts...)...)
}

func write(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, mode)
}

// PutFile stores a binary and returns its SHA-256 and size.
func (s *Store) PutFile(name string, r io.Reader) (string, int64, error) {
	if !nameRE.MatchString(name) {
		return "", 0, wire.Errorf(wire.CodeInvalidArgument, "file name %q not allowed", name)
	}
	if err := os.MkdirAll(s.path("files"), 0o755); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(s.path("files"), ".upload-")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, MaxFile+1))
	if err == nil && n > MaxFile {
		err = wire.Errorf(wire.CodeBodyTooLarge, "binary larger than %d bytes", MaxFile)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return "", 0, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// A file a published manifest names is immutable: replaced bytes
	// would fail every agent's hash check, silently, at update time.
	s.mu.Lock()
	defer s.mu.Unlock()
	if by, a, ok := s.publishedArtifact(name); ok {
		if a.SHA256 == sum {
			return sum, n, nil // the same bytes again: nothing changes
		}
		return "", 0, wire.Errorf(wire.CodeConflict, "%s is part of the published release %s and cannot be replaced (agents check its SHA-256): upload the new build under a new name and publish a new version", name, by)
	}
	if err := os.Rename(tmp.Name(), s.path("files", name)); err != nil {
		return "", 0, err
	}
	return sum, n, nil
}

// publishedArtifact finds a published release ("stable 1.4.0") whose
// manifest lists the file, with the artifact as signed (its SHA-256).
// Every version's manifest counts, since machines may be pinned to any of
// them. The caller holds s.mu.
func (s *Store) publishedArtifact(name string) (string, release.Artifact, bool) {
	manifests, _ := filepath.Glob(s.path("channels", "*", "versions", "*", "manifest.json"))
	for _, p := range manifests {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var m release.Manifest
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		for _, a := range m.Artifacts {
			if filepath.Base(a.File) == name {
				return m.Channel + " " + m.Version, a, true
			}
		}
	}
	return "", release.Artifact{}, false
}

// RootKey returns the release root public key (the base64 line of
// root.pub), or "" before anything was published.
func (s *Store) RootKey() string {
	b, err := os.ReadFile(s.path(release.RootPubFile))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// PutKeys stores the root public key (only the first time: it is the trust
// anchor; replacing it needs a new data dir) and a keys.json it signed.
func (s *Store) PutKeys(rootPub string, keys, sig []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := os.ReadFile(s.path(release.RootPubFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := release.ParsePublicKey(rootPub); err != nil {
			return wire.Errorf(wire.CodeInvalidArgument, "root public key: %v", err)
		}
		if err := write(s.path(release.RootPubFile), []byte(strings.TrimSpace(rootPub)+"\n"), 0o644); err != nil {
			return err
		}
		stored = []byte(rootPub)
	case err != nil:
		return err
	case rootPub != "" && strings.TrimSpace(rootPub) != strings.TrimSpace(string(stored)):
		return wire.Errorf(wire.CodeConflict, "this server already pins a different release root key")
	}
	pk, err := release.ParsePublicKey(string(stored))
	if err != nil {
		return err
	}
	ks, err := release.VerifyKeySet(pk, keys, sig, s.now())
	if err != nil {
		return wire.Errorf(wire.CodeInvalidArgument, "keys.json: %v", err)
	}
	if cur, err := s.keySetLocked(); err == nil && ks.Issued.Before(cur.Issued) {
		return wire.Errorf(wire.CodeConflict, "this keys.json was signed %s, before the one published (%s): an older key list would bring back retired signing keys; sign a new one with the root (releases rotate, or releases root sign-keys)",
			issued(ks.Issued), issued(cur.Issued))
	}
	if err := write(s.path(release.KeySetFile), keys, 0o644); err != nil {
		return err
	}
	return write(s.path(release.KeySetFile+release.SigSuffix), sig, 0o644)
}

func issued(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time (a list from before issue dates)"
	}
	return t.Format(time.RFC3339)
}

// KeySet returns the verified key set.
func (s *Store) KeySet() (release.KeySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keySetLocked()
}

func (s *Store) keySetLocked() (release.KeySet, error) {
	root, err := os.ReadFile(s.path(release.RootPubFile))
	if err != nil {
		return release.KeySet{}, wire.Errorf(wire.CodeNotFound, "no release keys published yet")
	}
	pk, err := release.ParsePublicKey(string(root))
	if err != nil {
		return release.KeySet{}, err
	}
	body, err1 := os.ReadFile(s.path(release.KeySetFile))
	sig, err2 := os.ReadFile(s.path(release.KeySetFile + release.SigSuffix))
	if err := errors.Join(err1, err2); err != nil {
		return release.KeySet{}, wire.Errorf(wire.CodeNotFound, "no release keys published yet")
	}
	return release.VerifyKeySet(pk, body, sig, s.now())
}

// PutManifest stores a channel's signed manifest after checking that it
// verifies and that every artifact it names is here with the right digest.
func (s *Store) PutManifest(channel string, body, sig []byte, allowOlder bool) (release.Manifest, error) {
	if !channelRE.MatchString(channel) {
		return release.Manifest{}, wire.Errorf(wire.CodeInvalidArgument, "channel must be a lowercase word")
	}
	ks, err := s.KeySet()
	if err != nil {
		return release.Manifest{}, err
	}
	m, err := release.VerifyManifest(ks, body, sig, s.now())
	if err != nil {
		return m, wire.Errorf(wire.CodeInvalidArgument, "manifest: %v", err)
	}
	if m.Channel != channel {
		return m, wire.Errorf(wire.CodeInvalidArgument, "manifest is for channel %q, not %q", m.Channel, channel)
	}
	if len(m.Artifacts) == 0 {
		// It would become the channel's current release, offer no
		// agent anything, and block republishing the same version.
		return m, wire.Errorf(wire.CodeInvalidArgument, "manifest %s lists no artifacts: a release needs at least one agent build", m.Version)
	}
	for _, a := range m.Artifacts {
		bin, err := os.ReadFile(s.path("files", filepath.Base(a.File)))
		if err != nil {
			return m, wire.Errorf(wire.CodeInvalidArgument, "artifact %s has not been uploaded", a.File)
		}
		if err := release.VerifyArtifact(ks, a, bin, s.now()); err != nil {
			return m, wire.Errorf(wire.CodeInvalidArgument, "artifact %s: %v", a.File, err)
		}
	}
	if err := version.Validate(m.Version); err != nil {
		return m, err
	}
	if !(m.Rollout >= 0 && m.Rollout <= 100) { // also NaN
		return m, wire.Errorf(wire.CodeInvalidArgument, "rollout must be 0–100 percent, not %v", m.Rollout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, err := os.ReadFile(s.path("channels", channel, "manifest.json")); err == nil && !allowOlder {
		var prev release.Manifest
		if json.Unmarshal(cur, &prev) == nil && version.Compare(m.Version, prev.Version) < 0 {
			return m, wire.Errorf(wire.CodeInvalidArgument, "%s is older than %s, the %s channel's current release: "+
				"machines on %s keep it (agents never downgrade) while new installs would get %s; "+
				"publish with --allow-older if that is what you want, or pin machines to a version instead",
				m.Version, prev.Version, channel, prev.Version, m.Version)
		}
	}
	// Every version's manifest is kept, so that an admin can pin a machine
	// to it later (older releases included).
	for _, dir := range [][]string{{"channels", channel, "versions", m.Version}, {"channels", channel}} {
		if err := write(s.path(append(dir, "manifest.json")...), body, 0o644); err != nil {
			return m, err
		}
		if err := write(s.path(append(dir, "manifest.json"+release.SigSuffix)...), sig, 0o644); err != nil {
			return m, err
		}
	}
	return m, nil
}

// SetPaused pauses or resumes a channel's rollout. A pause needs no
// signature: it can only stop agents from updating, never make them.
func (s *Store) SetPaused(channel string, paused bool) error {
	if !channelRE.MatchString(channel) {
		return wire.Errorf(wire.CodeInvalidArgument, "channel must be a lowercase word")
	}
	if _, err := os.Stat(s.path("channels", channel, "manifest.json")); err != nil {
		return wire.Errorf(wire.CodeNotFound, "no release in channel %q", channel)
	}
	p := s.path("channels", channel, "paused")
	if paused {
		return write(p, []byte("paused\n"), 0o644)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Paused reports whether a channel's rollout is paused.
func (s *Store) Paused(channel string) bool {
	_, err := os.Stat(s.path("channels", filepath.Base(channel), "paused"))
	return err == nil
}

// Channels returns every channel's manifest (unverified read for listing).
func (s *Store) Channels() ([]release.Manifest, error) {
	ents, err := os.ReadDir(s.path("channels"))
	if errors.Is(err, fs.ErrNotExist) {
		return []release.Manifest{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []release.Manifest{}
	for _, e := range ents {
		b, err := os.ReadFile(s.path("channels", e.Name(), "manifest.json"))
		if err != nil {
			continue
		}
		var m release.Manifest
		if json.Unmarshal(b, &m) == nil {
			m.Paused = m.Paused || s.Paused(e.Name())
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel < out[j].Channel })
	return out, nil
}

// HasVersion says whether version was published on some channel.
func (s *Store) HasVersion(version string) bool {
	ents, err := os.ReadDir(s.path("channels"))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if _, err := os.Stat(s.path("channels", e.Name(), "versions", version, "manifest.json")); err == nil {
			return true
		}
	}
	return false
}

// Handler serves the public release files and the installers.
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	static := func(pattern, file, ctype string) {
		mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			s.serve(w, r, s.path(file), ctype)
		})
	}
	static("/releases/root.pub", release.RootPubFile, "text/plain; charset=utf-8")
	static("/releases/keys.json", release.KeySetFile, "application/json")
	static("/releases/keys.json.minisig", release.KeySetFile+release.SigSuffix, "text/plain; charset=utf-8")
	mux.HandleFunc("GET /releases/channel/{channel}/manifest.json", func(w http.ResponseWriter, r *http.Request) {
		if s.Paused(r.PathValue("channel")) {
			http.Error(w, "rollout paused by an admin", http.StatusConflict) // agents: no update for now
			return
		}
		s.serve(w, r, s.path("channels", filepath.Base(r.PathValue("channel")), "manifest.json"), "application/json")
	})
	mux.HandleFunc("GET /releases/channel/{channel}/manifest.json.minisig", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, s.path("channels", filepath.Base(r.PathValue("channel")), "manifest.json"+release.SigSuffix), "text/plain; charset=utf-8")
	})
	// One version's manifest, for machines pinned to it. A pause does not
	// apply: a pin is an admin's explicit choice.
	versionFile := func(w http.ResponseWriter, r *http.Request, file, ctype string) {
		if version.Validate(r.PathValue("version")) != nil {
			http.Error(w, "bad version", http.StatusBadRequest)
			return
		}
		s.serve(w, r, s.path("channels", filepath.Base(r.PathValue("channel")), "versions", r.PathValue("version"), file), ctype)
	}
	mux.HandleFunc("GET /releases/channel/{channel}/versions/{version}/manifest.json", func(w http.ResponseWriter, r *http.Request) {
		versionFile(w, r, "manifest.json", "application/json")
	})
	mux.HandleFunc("GET /releases/channel/{channel}/versions/{version}/manifest.json.minisig", func(w http.ResponseWriter, r *http.Request) {
		versionFile(w, r, "manifest.json"+release.SigSuffix, "text/plain; charset=utf-8")
	})
	// A line-oriented index for the shell installer, which cannot parse
	// JSON: "version sha256 size file". Derived from the verified manifest.
	mux.HandleFunc("GET /releases/channel/{channel}/{os}/{arch}", func(w http.ResponseWriter, r *http.Request) {
		ks, err := s.KeySet()
		if err != nil {
			http.Error(w, "no releases published", http.StatusNotFound)
			return
		}
		ch := filepath.Base(r.PathValue("channel"))
		body, err1 := os.ReadFile(s.path("channels", ch, "manifest.json"))
		sig, err2 := os.ReadFile(s.path("channels", ch, "manifest.json"+release.SigSuffix))
		if errors.Join(err1, err2) != nil {
			http.Error(w, "no release in channel "+ch, http.StatusNotFound)
			return
		}
		m, err := release.VerifyManifest(ks, body, sig, s.now())
		if err != nil {
			http.Error(w, "the "+ch+" manifest does not verify: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		a, ok := m.Artifact(r.PathValue("os"), r.PathValue("arch"))
		if !ok {
			http.Error(w, fmt.Sprintf("no %s/%s build in channel %s", r.PathValue("os"), r.PathValue("arch"), ch), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s %d %s\n", m.Version, a.SHA256, a.Size, a.File)
	})
	mux.HandleFunc("GET /releases/files/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !nameRE.MatchString(name) {
			http.NotFound(w, r)
			return
		}
		s.serve(w, r, s.path("files", name), "application/octet-stream")
	})
	for _, f := range []string{"install.sh", "install.ps1"} {
		mux.HandleFunc("GET /"+f, func(w http.ResponseWriter, r *http.Request) {
			b, err := installer.Files.ReadFile(f)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(b)
		})
	}
	return mux
}

// serve sends a file with Range support (downloads resume).
func (s *Store) serve(w http.ResponseWriter, r *http.Request, path, ctype string) {
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ctype)
	http.ServeContent(w, r, filepath.Base(path), st.ModTime(), f)
}

// Resign signs every published manifest and its artifacts again with
// signer, after a signing-key rotation replaced keys.json: the releases
// already out verify against the new key list (agents updating, install.sh
// installing) and nothing signed by the old key does any more. It returns
// how many manifests it signed.
func (s *Store) Resign(signer *release.Signer) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	paths, err := filepath.Glob(s.path("channels", "*", "manifest.json"))
	if err != nil {
		return 0, err
	}
	more, _ := filepath.Glob(s.path("channels", "*", "versions", "*", "manifest.json"))
	paths = append(paths, more...)
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return n, err
		}
		var m release.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return n, fmt.Errorf("releases: %s: %w", p, err)
		}
		for i, a := range m.Artifacts {
			bin, err := os.ReadFile(s.path("files", filepath.Base(a.File)))
			if err != nil {
				return n, fmt.Errorf("releases: re-sign %s %s: %w", m.Channel, m.Version, err)
			}
			m.Artifacts[i] = signer.Artifact(a.OS, a.Arch, a.File, bin)
		}
		body, sig, err := signer.Manifest(m)
		if err != nil {
			return n, err
		}
		if err := write(p, body, 0o644); err != nil {
			return n, err
		}
		if err := write(p+release.SigSuffix, sig, 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
