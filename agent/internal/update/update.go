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
//     OldSavePath keeping the previous binary), write the trial record
//     (trial.go), start a watchdog — a copy of the old binary running
//     `update-watch`, outside the service's process group (systemd-run on
//     Linux, a detached process elsewhere) so the restart cannot kill it —
//     and exit so the service manager starts the new version.
//  4. The new version is on trial: it counts its starts and commits once
//     it has reported to the server. A version that does not commit within
//     its starts or before a start's deadline is rolled back by the next
//     start, by itself at the deadline, or by the watchdog, whichever comes
//     first; the old version then reports the failed update and never
//     tries that version again.
package update

import (
	"bytes"
	"context"
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

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/rollout"
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
	Gate      time.Duration // how long each start of the new version has to report (default 2 min)
	MaxStarts int           // starts the new version gets to report (default 3)
	// Pin, when set, returns the version an admin pinned this machine to
	// ("" = follow the channel). A pinned version is installed even when it
	// is older, whatever the channel's rollout or pause.
	Pin func() string
	Log *slog.Logger
	Now func() time.Time
	// Watch starts the watchdog; the default uses systemd-run or a detached
	// process (watch_*.go).
	Watch func(old string, args []string) error
	// OnOutcome is told of a release refused before the swap (failed
	// verification or self-test), once per version, for the server.
	OnOutcome func(wire.UpdateStatus)

	reported map[string]bool
}

func (u *Updater) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

func (u *Updater) dir() string        { return updateDir(u.StateDir) }
func (u *Updater) markerPath() string { return MarkerPath(u.StateDir) }

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

// keysIssuedName keeps when the newest key list this agent accepted was
// signed (in the update directory).
const keysIssuedName = "keys-issued"

// checkKeysIssued refuses a key list signed before the newest one this
// agent accepted: a server (or whoever controls it) replaying an older
// list, still signed by the root and unexpired, would bring back a
// signing key that was retired — TUF's rule against rollback of metadata.
// A newer list moves the mark forward.
func (u *Updater) checkKeysIssued(ks release.KeySet) error {
	p := filepath.Join(u.dir(), keysIssuedName)
	var seen time.Time
	if b, err := os.ReadFile(p); err == nil {
		seen, _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	}
	if ks.Issued.Before(seen) {
		return fmt.Errorf("%w: keys.json was signed %s, before the key list this agent accepted (%s): an older list would bring back retired signing keys",
			release.ErrSignature, ks.Issued.Format(time.RFC3339), seen.Format(time.RFC3339))
	}
	if ks.Issued.After(seen) {
		if err := os.MkdirAll(u.dir(), 0o700); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		if err := atomicfile.WriteFile(p, []byte(ks.Issued.UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
			return fmt.Errorf("update: remember the key list: %w", err)
		}
	}
	return nil
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
	if err := u.checkKeysIssued(keys); err != nil {
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
	case m.Rollout < 100 && rollout.Bucket("release:"+m.Channel, u.MachineID) >= m.Rollout: // 0: nobody
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

func (u *Updater) failedBefore(version string) bool { return failedBefore(u.StateDir, version) }

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
	// Closed before the file is read and removed: Windows refuses to
	// remove a file that is open.
	if err := f.Close(); err != nil {
		return nil, err
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
	to := o.Manifest.Version
	u.Log.Info("update available", "from", u.Current, "to", to, "channel", o.Manifest.Channel)
	bin, err := u.download(ctx, o)
	if err != nil {
		if errors.Is(err, release.ErrDigest) || errors.Is(err, release.ErrSignature) {
			u.refused(to, err)
		}
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
	if err != nil || !strings.Contains(string(out), " "+to+" ") {
		err := fmt.Errorf("update: %s fails its self-test (%v, %q); not installed", to, err, strings.TrimSpace(string(out)))
		recordFailure(u.StateDir, to)
		u.refused(to, err)
		return err
	}
	old := u.Exe + ".old"
	gate := u.Gate
	if gate <= 0 {
		gate = DefaultGate
	}
	m := Marker{From: u.Current, To: to, Exe: u.Exe, Old: old, Deadline: u.now().Add(gate), Gate: gate, MaxStarts: u.MaxStarts}
	if err := withLock(u.StateDir, func() error { return writeMarker(u.markerPath(), m) }); err != nil {
		return err
	}
	err = selfupdate.Apply(bytes.NewReader(bin), selfupdate.Options{TargetPath: u.Exe, OldSavePath: old})
	if err != nil {
		os.Remove(u.markerPath())
		if rerr := selfupdate.RollbackError(err); rerr != nil {
			return fmt.Errorf("update: swap failed and so did restoring the old binary: %v (%w)", rerr, err)
		}
		return fmt.Errorf("update: swap: %w", err)
	}
	m.Swapped = true
	if err := withLock(u.StateDir, func() error { return writeMarker(u.markerPath(), m) }); err != nil {
		_ = restore(m)
		os.Remove(u.markerPath())
		return fmt.Errorf("update: record the trial, update undone: %w", err)
	}
	watch := u.Watch
	if watch == nil {
		watch = startWatchdog
	}
	if err := watch(old, []string{"update-watch", "--state-dir", u.StateDir}); err != nil {
		// The trial record alone would still roll a broken version back
		// at its next start; without the watchdog a hung one would wait
		// for a restart. Keep it simple: no watchdog, no update.
		_ = restore(m)
		os.Remove(u.markerPath())
		return fmt.Errorf("update: cannot start the watchdog, update undone: %w", err)
	}
	u.Log.Info("update installed; restarting into the new version", "to", to)
	return ErrRestart
}

// refused reports, once per version, a release this machine will not
// install (failed verification or self-test).
func (u *Updater) refused(version string, err error) {
	if u.reported[version] {
		return
	}
	if u.reported == nil {
		u.reported = map[string]bool{}
	}
	u.reported[version] = true
	st := wire.UpdateStatus{From: u.Current, To: version, State: "failed", Reason: wire.ClipFact(err.Error(), wire.MaxUpdateReasonLen), At: u.now().UTC()}
	RecordOutcome(u.StateDir, st)
	if u.OnOutcome != nil {
		u.OnOutcome(st)
	}
}

// Watch is the watchdog (the old binary's `update-watch`): it waits for the
// new version to commit; when the deadline passes first it restores the
// old binary and stops the new one, so the service manager starts the old.
// It is a second line: the trial record rolls back without it.
func Watch(ctx context.Context, stateDir string, log *slog.Logger, restart func() error) error {
	path := MarkerPath(stateDir)
	for {
		var done, rolled bool
		var pid int
		err := withLock(stateDir, func() error {
			m, ok := ReadMarker(path)
			switch {
			case !ok:
				done = true // committed (record removed) or resolved by a start
			case m.Committed:
				_ = os.Remove(m.Old)
				if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				log.Info("update committed", "to", m.To)
				done = true
			case m.Failed:
				done = true // rolled back by the new version's own start or deadline
			case time.Now().After(m.Deadline):
				log.Error("new version did not report in time; rolling back", "from", m.To, "to", m.From)
				if _, err := rollback(stateDir, m, gateReason(m)); err != nil {
					return err
				}
				done, rolled, pid = true, true, m.PID
			}
			return nil
		})
		if err != nil {
			return err
		}
		if rolled {
			if pid > 0 {
				stopProcess(pid)
			}
			if restart != nil {
				return restart()
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
