package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// The trial: a swapped-in version is on probation until it reaches the
// server. The record (pending.json) lives in the state directory, so the
// rollback does not depend on any one process staying alive — like an A/B
// boot counter:
//
//   - every start of the new version counts itself (Begin); the start that
//     finds MaxStarts used up puts the previous binary back and exits, so
//     a version that crashes at start is rolled back by whatever starts it
//     next: the service manager's restart, the watchdog, or a reboot;
//   - every start has Gate to commit (Commit, after its first successful
//     exchange with the server); when the deadline passes first, the new
//     version rolls itself back (Expire), and so does the watchdog if it
//     is still alive — whichever comes first, under one lock;
//   - the previous version, started again, finds the failed record,
//     remembers never to take that version again, and reports the outcome.
//
// Deadlines are per start rather than one wall-clock deadline from the
// swap: a laptop closed right after an update would otherwise roll back a
// good version it never had the chance to run.

// Defaults for the trial.
const (
	DefaultGate      = 2 * time.Minute
	DefaultMaxStarts = 3
)

// Marker is the trial record shared by the new version (which counts its
// starts and commits), the watchdog and the previous version.
type Marker struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Exe      string    `json:"exe"`
	Old      string    `json:"old"`
	Deadline time.Time `json:"deadline"` // the current start's deadline to commit
	// Swapped: the new binary is in place (the record is written just
	// before the swap; a record without it means the swap never happened).
	Swapped   bool          `json:"swapped,omitempty"`
	Starts    int           `json:"starts,omitempty"` // starts of the new version so far
	MaxStarts int           `json:"max_starts,omitempty"`
	Gate      time.Duration `json:"gate,omitempty"` // time each start has to commit
	Committed bool          `json:"committed,omitempty"`
	PID       int           `json:"pid,omitempty"` // the new version's process, for the watchdog
	Failed    bool          `json:"failed,omitempty"`
	Reason    string        `json:"reason,omitempty"`
}

func (m Marker) gate() time.Duration {
	if m.Gate > 0 {
		return m.Gate
	}
	return DefaultGate
}

func (m Marker) maxStarts() int {
	if m.MaxStarts > 0 {
		return m.MaxStarts
	}
	return DefaultMaxStarts
}

func updateDir(stateDir string) string { return paths.In(stateDir).UpdateDir() }

// MarkerPath returns the trial record's location for a state dir.
func MarkerPath(stateDir string) string {
	return filepath.Join(updateDir(stateDir), "pending.json")
}

func lastPath(stateDir string) string   { return filepath.Join(updateDir(stateDir), "last.json") }
func failedPath(stateDir string) string { return filepath.Join(updateDir(stateDir), "failed.json") }

// withLock runs f holding the trial lock, so that a commit and a rollback
// (by the new version, the watchdog or the next start) never interleave.
func withLock(stateDir string, f func() error) error {
	if err := os.MkdirAll(updateDir(stateDir), 0o700); err != nil {
		return err
	}
	l := flock.New(filepath.Join(updateDir(stateDir), "trial.lock"))
	if err := l.Lock(); err != nil {
		return fmt.Errorf("update: lock the trial record: %w", err)
	}
	defer l.Unlock()
	return f()
}

func writeMarker(path string, m Marker) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	return atomicfile.WriteFile(path, b, 0o600)
}

// ReadMarker reads the trial record (ok=false when there is none).
func ReadMarker(path string) (Marker, bool) {
	var m Marker
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &m) != nil {
		return m, false
	}
	return m, true
}

// Pending returns the trial in progress, if any (for status).
func Pending(stateDir string) (Marker, bool) {
	m, ok := ReadMarker(MarkerPath(stateDir))
	if !ok || m.Failed || m.Committed || !m.Swapped {
		return Marker{}, false
	}
	return m, true
}

// Last returns the outcome of the last update attempt on this machine
// (nil when there was none).
func Last(stateDir string) *wire.UpdateStatus {
	var st wire.UpdateStatus
	b, err := os.ReadFile(lastPath(stateDir))
	if err != nil || json.Unmarshal(b, &st) != nil {
		return nil
	}
	return &st
}

func writeLast(stateDir string, st wire.UpdateStatus) {
	b, _ := json.Marshal(st)
	_ = atomicfile.WriteFile(lastPath(stateDir), b, 0o600)
}

func failedBefore(stateDir, version string) bool {
	var failed []string
	if b, err := os.ReadFile(failedPath(stateDir)); err == nil {
		_ = json.Unmarshal(b, &failed)
	}
	for _, f := range failed {
		if f == version {
			return true
		}
	}
	return false
}

func recordFailure(stateDir, version string) {
	if failedBefore(stateDir, version) {
		return
	}
	var failed []string
	if b, err := os.ReadFile(failedPath(stateDir)); err == nil {
		_ = json.Unmarshal(b, &failed)
	}
	failed = append(failed, version)
	b, _ := json.Marshal(failed)
	_ = os.MkdirAll(updateDir(stateDir), 0o700)
	_ = atomicfile.WriteFile(failedPath(stateDir), b, 0o600)
}

// restore puts the previous binary back at m.Exe. Where the running new
// binary cannot be replaced (Windows), it is first moved aside to
// Exe+".failed", which the previous version removes when it starts.
func restore(m Marker) error {
	err := os.Rename(m.Old, m.Exe)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil // restored, or restored before (by another process)
	}
	if aside := os.Rename(m.Exe, m.Exe+".failed"); aside != nil {
		return fmt.Errorf("update: restore %s: %w", m.Old, err)
	}
	if err := os.Rename(m.Old, m.Exe); err != nil {
		_ = os.Rename(m.Exe+".failed", m.Exe)
		return fmt.Errorf("update: restore %s: %w", m.Old, err)
	}
	return nil
}

// rollback restores the previous binary and marks the trial failed. The
// caller holds the lock.
func rollback(stateDir string, m Marker, reason string) (Marker, error) {
	if err := restore(m); err != nil {
		return m, err
	}
	m.Failed, m.Reason = true, reason
	return m, writeMarker(MarkerPath(stateDir), m)
}

// Start is what Begin decided for this start of the agent.
type Start struct {
	// Trial is the record when this version is on trial: it must commit
	// before Trial.Deadline.
	Trial *Marker
	// RolledBack: this start found the trial used up and put the previous
	// version back; the caller exits with ExitForUpdate so the service
	// manager starts it.
	RolledBack bool
	// Reason says why it rolled back.
	Reason string
	// Outcome is what became of the last update, for the next health
	// report (nil: nothing new).
	Outcome *wire.UpdateStatus
}

// Begin is called first thing when the agent starts as a service (`run`),
// by version running from the binary at its usual path.
func Begin(stateDir, version string, now time.Time) (Start, error) {
	var s Start
	if _, err := os.Stat(MarkerPath(stateDir)); errors.Is(err, fs.ErrNotExist) {
		return s, nil // no update in progress (nothing created: the state dir may not exist yet)
	}
	err := withLock(stateDir, func() error {
		path := MarkerPath(stateDir)
		m, ok := ReadMarker(path)
		if !ok {
			return nil
		}
		switch {
		case m.To == version && m.Committed:
			// Committed, but the record stayed: the previous binary could
			// not be removed then (Windows), or an older agent committed.
			os.Remove(m.Old)
			os.Remove(path)
			if last := Last(stateDir); last == nil || last.To != m.To || last.State != "ok" {
				st := wire.UpdateStatus{From: m.From, To: m.To, State: "ok", At: now.UTC()}
				writeLast(stateDir, st)
				s.Outcome = &st
			}
		case m.To == version && m.Failed:
			// Marked failed, yet the new version runs: the restore did not
			// happen. Try again while the previous binary is there.
			if _, err := os.Stat(m.Old); err != nil {
				os.Remove(path) // nothing to go back to: keep running this one
				return nil
			}
			if err := restore(m); err != nil {
				return err
			}
			s.RolledBack, s.Reason = true, m.Reason
		case m.To == version:
			m.Swapped = true // records from older agents lack it; we run, so the swap happened
			m.Starts++
			m.PID = os.Getpid()
			if m.Starts > m.maxStarts() {
				reason := fmt.Sprintf("version %s started %d times without reaching the server", m.To, m.Starts-1)
				m, err := rollback(stateDir, m, reason)
				if err != nil {
					return err
				}
				s.RolledBack, s.Reason = true, m.Reason
				return nil
			}
			m.Deadline = now.Add(m.gate())
			if err := writeMarker(path, m); err != nil {
				return err
			}
			s.Trial = &m
		case m.From == version && (m.Failed || m.Swapped):
			// Back on the previous version after a trial that failed (or
			// was rolled back by a process that died before saying so).
			reason := m.Reason
			if !m.Failed {
				reason = fmt.Sprintf("the trial of version %s was interrupted and version %s restored", m.To, m.From)
			}
			recordFailure(stateDir, m.To)
			st := wire.UpdateStatus{From: m.From, To: m.To, State: "rolled_back", Reason: wire.ClipFact(reason, wire.MaxUpdateReasonLen), At: now.UTC()}
			writeLast(stateDir, st)
			s.Outcome = &st
			os.Remove(path)
			os.Remove(m.Exe + ".failed")
		default:
			// The swap never happened (stopped between writing the record
			// and swapping), or another version was installed meanwhile.
			os.Remove(path)
		}
		return nil
	})
	return s, err
}

// Expire is called by the new version when its start's deadline passes
// without a commit: it rolls back (true) unless the trial has ended.
func Expire(stateDir, version string, now time.Time) (bool, string, error) {
	var rolled bool
	var reason string
	err := withLock(stateDir, func() error {
		m, ok := ReadMarker(MarkerPath(stateDir))
		if !ok || m.To != version || m.Committed {
			return nil
		}
		if m.Failed { // the watchdog was first
			rolled, reason = true, m.Reason
			return nil
		}
		if now.Before(m.Deadline) {
			return nil
		}
		m, err := rollback(stateDir, m, gateReason(m))
		if err != nil {
			return err
		}
		rolled, reason = true, m.Reason
		return nil
	})
	return rolled, reason, err
}

func gateReason(m Marker) string {
	return fmt.Sprintf("version %s did not report to the server within the health gate (%s)", m.To, m.gate())
}

// Commit is called once the running version has reported to the server:
// a trial of this version is over. It removes the previous binary and the
// record, remembers the outcome, and returns the record it committed (nil
// when there was none).
func Commit(stateDir, version string, now time.Time) *Marker {
	var done *Marker
	_ = withLock(stateDir, func() error {
		path := MarkerPath(stateDir)
		m, ok := ReadMarker(path)
		if !ok || m.To != version || m.Failed {
			return nil
		}
		if err := os.Remove(m.Old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Windows: the watchdog may still run from it; the watchdog
			// removes it when it sees the commit.
			m.Committed = true
			if err := writeMarker(path, m); err != nil {
				return err
			}
		} else if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		writeLast(stateDir, wire.UpdateStatus{From: m.From, To: m.To, State: "ok", At: now.UTC()})
		done = &m
		return nil
	})
	return done
}

// RecordOutcome remembers the outcome of an update that never reached the
// swap (a release that failed verification or its self-test).
func RecordOutcome(stateDir string, st wire.UpdateStatus) {
	_ = withLock(stateDir, func() error {
		writeLast(stateDir, st)
		return nil
	})
}
