// Package update keeps the agent current from signed releases, with a
// health-gated commit and rollback:
//
//  1. Check: fetch keys.json (verified against the root key pinned at
//     enrollment) and the channel manifest (signed by a current signing
//     key, not expired — an expired manifest blocks updates, never the
//     agent); honour pause and the rollout percentage; refuse versions not
//     newer than the running one (anti-rollback) and versions that already
//     failed here.
//  2. Download with resume into the state dir; verify size, SHA-256 and
//     signature; run the new binary's self-test.
//  3. Swap with github.com/minio/selfupdate (TargetPath set explicitly,
//     OldSavePath keeping the previous binary), write a pending-update
//     marker, start a watchdog — a copy of the old binary running
//     `update-watch`, outside the service's process group (systemd-run on
//     Linux, a detached process elsewhere) so the restart cannot kill it —
//     and exit so the service manager starts the new version.
//  4. The new version commits by marking the update healthy once it has
//     reported to the server. If that does not happen before the deadline
//     (it crashes, hangs or cannot reach the server), the watchdog puts the
//     old binary back, restarts it, and the old version reports the failed
//     update and never tries that version again.
package update

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/minio/selfupdate"

	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/flags"
	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/version"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// ExitForUpdate is the exit code the agent uses after swapping its binary,
// so that the service manager starts the new version.
const ExitForUpdate = 75

// errPaused: the server says the channel's rollout is paused.
var errPaused = errors.New("update: rollout paused")

// ErrRestart is returned by Check after a successful swap: the caller exits
// with ExitForUpdate.
var ErrRestart = errors.New("update: new version installed; restarting")

// Marker is the pending-update record shared by the new version (which
// commits it) and the watchdog (which rolls back when it is not committed).
type Marker struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	Exe       string    `json:"exe"`
	Old       string    `json:"old"`
	Deadline  time.Time `json:"deadline"`
	Committed bool      `json:"committed,omitempty"`
	PID       int       `json:"pid,omitempty"` // the new version's process, for the watchdog
	Failed    bool      `json:"failed,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// Updater checks for and applies updates.
type Updater struct {
	Server    string
	HTTP      *http.Client // pinned to the server's TLS key
	Root      string       // release root public key pinned at enrollment
	Channel   string
	Current   string // running version
	MachineID string
	Exe       string // the binary to replace (resolved once at start)
	StateDir  string
	Gate      time.Duration // how long the new version has to report (default 2 min)
	// Pin, when set, returns the version an admin pinned this machine to
	// ("" = follow the channel). A pinned version is installed even when it
	// is older, whatever the channel's rollout or pause.
	Pin func() string
	Log *slog.Logger
	Now func() time.Time
	// Watch starts the watchdog; the default uses systemd-run or a detached
	// process (watch_*.go).
	Watch func(old string, args []string) error
}

func (u *Updater) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

func (u *Updater) dir() string        { return paths.In(u.StateDir).UpdateDir() }
func (u *Updater) markerPath() string { return filepath.Join(u.dir(), "pending.json") }
func (u *Updater) failedPath() string { return filepath.Join(u.dir(), "failed.json") }

// MarkerPath returns the marker location for a state dir.
func MarkerPath(stateDir string) string {
	return filepath.Join(paths.In(stateDir).UpdateDir(), "pending.json")
}

func (u *Updater) get(ctx context.Context, path string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u.Server, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := u.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		return nil, errPaused
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("GET %s: larger than %d bytes", path, max)
	}
	return b, err
}

// Offer is what Check found.
type Offer struct {
	Manifest release.Manifest
	Artifact release.Artifact
	Keys     release.KeySet
}

// Find returns the release this machine should move to, or nil when there
// is none (up to date, paused, outside the rollout, refused before).
func (u *Updater) Find(ctx context.Context) (*Offer, error) {
	if u.Root == "" {
		return nil, errors.New("update: no release root key pinned at enrollment; updates are off")
	}
	root, err := release.ParsePublicKey(u.Root)
	if err != nil {
		return nil, err
	}
	kb, err := u.get(ctx, "/releases/keys.json", 1<<20)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	ks, err := u.get(ctx, "/releases/keys.json.minisig", 4<<10)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	keys, err := release.VerifyKeySet(root, kb, ks, u.now())
	if err != nil {
		return nil, err
	}
	pin := ""
	if u.Pin != nil {
		pin = u.Pin()
	}
	if pin != "" {
		return u.findPinned(ctx, keys, pin)
	}
	mb, err := u.get(ctx, "/releases/channel/"+u.Channel+"/manifest.json", 1<<20)
	if errors.Is(err, errPaused) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	ms, err := u.get(ctx, "/releases/channel/"+u.Channel+"/manifest.json.minisig", 4<<10)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	m, err := release.VerifyManifest(keys, mb, ms, u.now())
	if err != nil {
		return nil, err
	}
	switch {
	case m.Paused:
		return nil, nil
	case version.Compare(m.Version, u.Current) <= 0:
		return nil, nil // not newer: never downgrade
	case m.Rollout < 100 && flags.Bucket("release:"+m.Channel, u.MachineID) >= m.Rollout: // 0: nobody
		return nil, nil
	case u.failedBefore(m.Version):
		return nil, nil
	}
	a, ok := m.Artifact(runtime.GOOS, runtime.GOARCH)
	if !ok {
		return nil, nil
	}
	return &Offer{Manifest: m, Artifact: a, Keys: keys}, nil
}

// findPinned offers the pinned version, older or newer, from its own signed
// manifest (which must still verify and not have expired).
func (u *Updater) findPinned(ctx context.Context, keys release.KeySet, pin string) (*Offer, error) {
	if pin == u.Current || u.failedBefore(pin) {
		return nil, nil
	}
	if err := version.Validate(pin); err != nil {
		return nil, fmt.Errorf("update: the server pins a malformed version: %w", err)
	}
	base := "/releases/channel/" + u.Channel + "/versions/" + pin + "/manifest.json"
	mb, err := u.get(ctx, base, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("update: pinned version %s: %w", pin, err)
	}
	ms, err := u.get(ctx, base+".minisig", 4<<10)
	if err != nil {
		return nil, fmt.Errorf("update: pinned version %s: %w", pin, err)
	}
	m, err := release.VerifyManifest(keys, mb, ms, u.now())
	if err != nil {
		return nil, fmt.Errorf("update: pinned version %s: %w", pin, err)
	}
	if m.Version != pin {
		return nil, fmt.Errorf("update: the manifest served for pinned version %s is for %s", pin, m.Version)
	}
	a, ok := m.Artifact(runtime.GOOS, runtime.GOARCH)
	if !ok {
		return nil, fmt.Errorf("update: pinned version %s has no %s/%s build", pin, runtime.GOOS, runtime.GOARCH)
	}
	return &Offer{Manifest: m, Artifact: a, Keys: keys}, nil
}

func (u *Updater) failedBefore(version string) bool {
	var failed []string
	b, err := os.ReadFile(u.failedPath())
	if err == nil {
		_ = json.Unmarshal(b, &failed)
	}
	for _, f := range failed {
		if f == version {
			return true
		}
	}
	return false
}

func (u *Updater) recordFailure(version string) {
	var failed []string
	if b, err := os.ReadFile(u.failedPath()); err == nil {
		_ = json.Unmarshal(b, &failed)
	}
	failed = append(failed, version)
	b, _ := json.Marshal(failed)
	_ = os.MkdirAll(u.dir(), 0o700)
	_ = atomicfile.WriteFile(u.failedPath(), b, 0o600)
}

// download fetches the artifact into the update dir, resuming a partial
// download, and verifies it completely before returning its bytes.
func (u *Updater) download(ctx context.Context, o *Offer) ([]byte, error) {
	if err := os.MkdirAll(u.dir(), 0o700); err != nil {
		return nil, err
	}
	part := filepath.Join(u.dir(), filepath.Base(o.Artifact.File)+".part")
	// Downloads of other versions (superseded, or taken and done with)
	// are never resumed: they would only fill the disk.
	if stale, _ := filepath.Glob(filepath.Join(u.dir(), "*.part")); len(stale) > 0 {
		for _, p := range stale {
			if p != part {
				_ = os.Remove(p)
			}
		}
	}
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	have, _ := f.Seek(0, io.SeekEnd)
	if have > o.Artifact.Size {
		_ = f.Truncate(0)
		have, _ = f.Seek(0, io.SeekStart)
	}
	if have < o.Artifact.Size {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(u.Server, "/")+"/releases/files/"+o.Artifact.File, nil)
		if have > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		}
		resp, err := u.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("update: download: %w", err)
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusPartialContent:
		case http.StatusOK: // server ignored the range: start over
			_ = f.Truncate(0)
			_, _ = f.Seek(0, io.SeekStart)
		default:
			return nil, fmt.Errorf("update: download: HTTP %d", resp.StatusCode)
		}
		if _, err := io.Copy(f, io.LimitReader(resp.Body, o.Artifact.Size)); err != nil {
			return nil, fmt.Errorf("update: download interrupted (will resume): %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	bin, err := os.ReadFile(part)
	if err != nil {
		return nil, err
	}
	// Verified or corrupt, the file has served its purpose: the bytes are
	// in memory, and a corrupt download is fetched afresh next time.
	os.Remove(part)
	if err := release.VerifyArtifact(o.Keys, o.Artifact, bin, u.now()); err != nil {
		return nil, err
	}
	return bin, nil
}

// Check finds, downloads, verifies, self-tests and installs an update.
// It returns ErrRestart when the new binary is in place.
func (u *Updater) Check(ctx context.Context) error {
	o, err := u.Find(ctx)
	if err != nil || o == nil {
		return err
	}
	u.Log.Info("update available", "from", u.Current, "to", o.Manifest.Version, "channel", o.Manifest.Channel)
	bin, err := u.download(ctx, o)
	if err != nil {
		return err
	}
	candidate := filepath.Join(u.dir(), "candidate"+filepath.Ext(u.Exe))
	if err := atomicfile.WriteFile(candidate, bin, 0o755); err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	out, err := exec.CommandContext(tctx, candidate, "self-test").Output()
	cancel()
	os.Remove(candidate)
	if err != nil || !strings.Contains(string(out), " "+o.Manifest.Version+" ") {
		u.recordFailure(o.Manifest.Version)
		return fmt.Errorf("update: %s fails its self-test (%v, %q); not installed", o.Manifest.Version, err, strings.TrimSpace(string(out)))
	}
	old := u.Exe + ".old"
	gate := u.Gate
	if gate <= 0 {
		gate = 2 * time.Minute
	}
	m := Marker{From: u.Current, To: o.Manifest.Version, Exe: u.Exe, Old: old, Deadline: u.now().Add(gate)}
	if err := writeMarker(u.markerPath(), m); err != nil {
		return err
	}
	err = selfupdate.Apply(strings.NewReader(string(bin)), selfupdate.Options{TargetPath: u.Exe, OldSavePath: old})
	if err != nil {
		os.Remove(u.markerPath())
		if rerr := selfupdate.RollbackError(err); rerr != nil {
			return fmt.Errorf("update: swap failed and so did restoring the old binary: %v (%w)", rerr, err)
		}
		return fmt.Errorf("update: swap: %w", err)
	}
	watch := u.Watch
	if watch == nil {
		watch = startWatchdog
	}
	if err := watch(old, []string{"update-watch", "--state-dir", u.StateDir}); err != nil {
		// Without a watchdog there is no rollback: put the old binary back.
		_ = os.Rename(old, u.Exe)
		os.Remove(u.markerPath())
		return fmt.Errorf("update: cannot start the watchdog, update undone: %w", err)
	}
	u.Log.Info("update installed; restarting into the new version", "to", o.Manifest.Version)
	return ErrRestart
}

func writeMarker(path string, m Marker) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	return atomicfile.WriteFile(path, b, 0o600)
}

// ReadMarker reads the pending-update marker (ok=false when none).
func ReadMarker(path string) (Marker, bool) {
	var m Marker
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &m) != nil {
		return m, false
	}
	return m, true
}

// Started is called by a starting agent: when it is the version a pending
// update installed, it records its PID for the watchdog.
func Started(stateDir, version string) {
	path := MarkerPath(stateDir)
	if m, ok := ReadMarker(path); ok && m.To == version && !m.Failed {
		m.PID = os.Getpid()
		_ = writeMarker(path, m)
	}
}

// Commit is called once the running version has reported to the server:
// a pending update to this version is healthy. It returns the marker it
// committed (nil when there was none).
func Commit(stateDir, version string) *Marker {
	path := MarkerPath(stateDir)
	m, ok := ReadMarker(path)
	if !ok || m.To != version || m.Failed || m.Committed {
		return nil
	}
	m.Committed = true
	if err := writeMarker(path, m); err != nil {
		return nil
	}
	return &m
}

// Outcome reports, once, what became of the last update: the old version
// calls it at start to learn that a newer one failed and was rolled back.
func Outcome(stateDir, version string) *wire.UpdateStatus {
	path := MarkerPath(stateDir)
	m, ok := ReadMarker(path)
	if !ok {
		return nil
	}
	switch {
	case m.Failed && m.From == version:
		os.Remove(path)
		u := &Updater{StateDir: stateDir}
		u.recordFailure(m.To)
		return &wire.UpdateStatus{From: m.From, To: m.To, State: "rolled_back", Reason: wire.ClipFact(m.Reason, wire.MaxUpdateReasonLen), At: time.Now().UTC()}
	case m.Committed && m.To == version:
		os.Remove(path)
		return &wire.UpdateStatus{From: m.From, To: m.To, State: "ok", At: time.Now().UTC()}
	}
	return nil
}

// Watch is the watchdog (the old binary's `update-watch`): it waits for the
// new version to commit; when the deadline passes first it restores the
// old binary and stops the new one, so the service manager starts the old.
func Watch(ctx context.Context, stateDir string, log *slog.Logger, restart func() error) error {
	path := MarkerPath(stateDir)
	for {
		m, ok := ReadMarker(path)
		if !ok {
			return nil
		}
		if m.Committed {
			_ = os.Remove(m.Old)
			log.Info("update committed", "to", m.To)
			return nil
		}
		if time.Now().After(m.Deadline) {
			log.Error("new version did not report in time; rolling back", "from", m.To, "to", m.From)
			if err := os.Rename(m.Old, m.Exe); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("update: restore %s: %w", m.Old, err)
			}
			m.Failed, m.Reason = true, fmt.Sprintf("version %s did not report to the server within the health gate", m.To)
			if err := writeMarker(path, m); err != nil {
				return err
			}
			if m.PID > 0 {
				stopProcess(m.PID)
			}
			if restart != nil {
				return restart()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
