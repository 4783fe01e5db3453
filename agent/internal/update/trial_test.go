package update

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// trialFixture is the state right after a swap from 1.0.0 to 2.0.0: the new
// binary at exe, the previous one at exe.old, the trial record written.
type trialFixture struct {
	state, exe, old string
	t0              time.Time
}

// testDir is t.TempDir without its failure on cleanup: under Wine (which
// scripts/wine-test.sh runs these tests in) Go's RemoveAll fails on files
// replaced by rename with "Invalid function".
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wirefleet-update-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newTrial(t *testing.T, edit func(*Marker)) trialFixture {
	t.Helper()
	dir := testDir(t)
	f := trialFixture{state: filepath.Join(dir, "state"), exe: filepath.Join(dir, "wirefleet-agent"), t0: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	f.old = f.exe + ".old"
	os.WriteFile(f.exe, []byte("binary 2.0.0"), 0o755)
	os.WriteFile(f.old, []byte("binary 1.0.0"), 0o755)
	m := Marker{From: "1.0.0", To: "2.0.0", Exe: f.exe, Old: f.old, Deadline: f.t0.Add(time.Minute), Swapped: true, MaxStarts: 3, Gate: time.Minute}
	if edit != nil {
		edit(&m)
	}
	if err := writeMarker(MarkerPath(f.state), m); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f trialFixture) binary(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.exe)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f trialFixture) begin(t *testing.T, version string, at time.Time) Start {
	t.Helper()
	s, err := Begin(f.state, version, at)
	if err != nil {
		t.Fatalf("Begin(%s): %v", version, err)
	}
	return s
}

// The previous version, started after a rollback, reports it once,
// remembers the version as failed and clears the record.
func (f trialFixture) expectRolledBackReported(t *testing.T, reason string) {
	t.Helper()
	if got := f.binary(t); got != "binary 1.0.0" {
		t.Fatalf("after the rollback the binary is %q", got)
	}
	s := f.begin(t, "1.0.0", f.t0.Add(time.Hour))
	if s.Outcome == nil || s.Outcome.State != "rolled_back" || s.Outcome.To != "2.0.0" || !strings.Contains(s.Outcome.Reason, reason) {
		t.Fatalf("outcome reported by 1.0.0 = %+v, want rolled_back mentioning %q", s.Outcome, reason)
	}
	if !failedBefore(f.state, "2.0.0") {
		t.Fatal("2.0.0 not remembered as failed: it would be taken again")
	}
	if _, ok := ReadMarker(MarkerPath(f.state)); ok {
		t.Fatal("the trial record outlived the rollback")
	}
	if l := Last(f.state); l == nil || l.State != "rolled_back" {
		t.Fatalf("last outcome = %+v", l)
	}
	if s := f.begin(t, "1.0.0", f.t0.Add(2*time.Hour)); s.Outcome != nil {
		t.Fatalf("the outcome was reported twice: %+v", s.Outcome)
	}
}

// A version that crashes at every start uses up its starts; the start after
// the last one (whoever runs it) puts the previous binary back.
func TestTrialCrashLoopRollsBackAfterMaxStarts(t *testing.T) {
	f := newTrial(t, nil)
	for i := 1; i <= 3; i++ {
		at := f.t0.Add(time.Duration(i) * 5 * time.Second)
		s := f.begin(t, "2.0.0", at)
		if s.RolledBack || s.Trial == nil {
			t.Fatalf("start %d: %+v, want a trial", i, s)
		}
		if s.Trial.Starts != i || !s.Trial.Deadline.Equal(at.Add(time.Minute)) {
			t.Fatalf("start %d: starts=%d deadline=%v", i, s.Trial.Starts, s.Trial.Deadline)
		}
		if got := f.binary(t); got != "binary 2.0.0" {
			t.Fatalf("start %d: binary %q", i, got)
		}
	}
	s := f.begin(t, "2.0.0", f.t0.Add(20*time.Second))
	if !s.RolledBack || !strings.Contains(s.Reason, "started 3 times") {
		t.Fatalf("fourth start: %+v, want a rollback", s)
	}
	if _, err := os.Stat(f.old); !os.IsNotExist(err) {
		t.Fatalf("the previous binary is still beside the restored one: %v", err)
	}
	f.expectRolledBackReported(t, "started 3 times")
}

// A version that starts but never reaches the server rolls itself back at
// its deadline; a commit after that is refused.
func TestTrialDeadlineRollsBack(t *testing.T) {
	f := newTrial(t, nil)
	s := f.begin(t, "2.0.0", f.t0)
	if s.Trial == nil {
		t.Fatal("no trial")
	}
	if rolled, _, err := Expire(f.state, "2.0.0", f.t0.Add(59*time.Second)); rolled || err != nil {
		t.Fatalf("rolled back before the deadline: %v %v", rolled, err)
	}
	rolled, reason, err := Expire(f.state, "2.0.0", f.t0.Add(61*time.Second))
	if !rolled || err != nil || !strings.Contains(reason, "health gate") {
		t.Fatalf("Expire after the deadline = %v %q %v", rolled, reason, err)
	}
	if m := Commit(f.state, "2.0.0", f.t0.Add(62*time.Second)); m != nil {
		t.Fatal("a version committed after it was rolled back")
	}
	f.expectRolledBackReported(t, "health gate")
}

// Each start has its own deadline: a machine switched off for a day in
// the middle of a trial does not roll back a version it never ran.
func TestTrialDeadlineIsPerStart(t *testing.T) {
	f := newTrial(t, nil)
	f.begin(t, "2.0.0", f.t0)
	later := f.t0.Add(24 * time.Hour) // "reboot" the next day
	s := f.begin(t, "2.0.0", later)
	if s.RolledBack || s.Trial == nil || s.Trial.Starts != 2 || !s.Trial.Deadline.Equal(later.Add(time.Minute)) {
		t.Fatalf("start after a long power-off: %+v", s)
	}
	if rolled, _, _ := Expire(f.state, "2.0.0", later.Add(30*time.Second)); rolled {
		t.Fatal("rolled back within the new start's gate")
	}
}

// A commit ends the trial: the previous binary and the record go, the
// outcome is kept for status, and later starts are not trials.
func TestTrialCommit(t *testing.T) {
	f := newTrial(t, nil)
	f.begin(t, "2.0.0", f.t0)
	m := Commit(f.state, "2.0.0", f.t0.Add(3*time.Second))
	if m == nil || m.To != "2.0.0" {
		t.Fatalf("Commit = %+v", m)
	}
	if _, err := os.Stat(f.old); !os.IsNotExist(err) {
		t.Fatalf("previous binary kept after the commit: %v", err)
	}
	if _, on := Pending(f.state); on {
		t.Fatal("still on trial after the commit")
	}
	if l := Last(f.state); l == nil || l.State != "ok" || l.To != "2.0.0" {
		t.Fatalf("last outcome = %+v", l)
	}
	if rolled, _, _ := Expire(f.state, "2.0.0", f.t0.Add(time.Hour)); rolled {
		t.Fatal("a committed version was rolled back")
	}
	if s := f.begin(t, "2.0.0", f.t0.Add(time.Hour)); s.Trial != nil || s.RolledBack || s.Outcome != nil {
		t.Fatalf("start after the commit: %+v", s)
	}
	if got := f.binary(t); got != "binary 2.0.0" {
		t.Fatalf("binary %q", got)
	}
}

// Stopped between writing the record and swapping: the previous version
// still runs and must not blame the new one.
func TestTrialSwapThatNeverHappened(t *testing.T) {
	f := newTrial(t, func(m *Marker) { m.Swapped = false })
	os.WriteFile(f.exe, []byte("binary 1.0.0"), 0o755)
	os.Remove(f.old)
	if s := f.begin(t, "1.0.0", f.t0); s.Outcome != nil || s.RolledBack {
		t.Fatalf("start of 1.0.0: %+v", s)
	}
	if failedBefore(f.state, "2.0.0") {
		t.Fatal("2.0.0 recorded as failed though it never ran")
	}
	if _, ok := ReadMarker(MarkerPath(f.state)); ok {
		t.Fatal("stale record kept")
	}
}

// A rollback whose process died after restoring the binary but before
// recording the failure is recognised by the previous version.
func TestTrialInterruptedRollback(t *testing.T) {
	f := newTrial(t, nil)
	f.begin(t, "2.0.0", f.t0)
	if err := os.Rename(f.old, f.exe); err != nil { // restored, then killed
		t.Fatal(err)
	}
	f.expectRolledBackReported(t, "interrupted")
}

// A record written by an agent from before the trial counter (no swapped
// flag, no limits) still gives the new version a bounded trial.
func TestTrialLegacyRecord(t *testing.T) {
	f := newTrial(t, func(m *Marker) { m.Swapped, m.MaxStarts, m.Gate = false, 0, 0 })
	for i := 1; i <= DefaultMaxStarts; i++ {
		s := f.begin(t, "2.0.0", f.t0)
		if s.Trial == nil || !s.Trial.Deadline.Equal(f.t0.Add(DefaultGate)) {
			t.Fatalf("start %d: %+v", i, s)
		}
	}
	if s := f.begin(t, "2.0.0", f.t0); !s.RolledBack {
		t.Fatalf("start %d: %+v, want a rollback", DefaultMaxStarts+1, s)
	}
}

// The watchdog rolls back at the deadline and stops; it leaves alone a
// trial someone else already ended.
func TestWatchdog(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	f := newTrial(t, func(m *Marker) { m.Deadline = time.Now().Add(-time.Second) })
	restarted := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Watch(ctx, f.state, log, func() error { restarted++; return nil }); err != nil {
		t.Fatal(err)
	}
	if restarted != 1 {
		t.Fatalf("restarted %d times", restarted)
	}
	f.expectRolledBackReported(t, "health gate")

	// Already rolled back by the new version itself: nothing more to do.
	g := newTrial(t, func(m *Marker) { m.Deadline = time.Now().Add(-time.Second) })
	g.begin(t, "2.0.0", time.Now().Add(-2*time.Minute))
	if rolled, _, _ := Expire(g.state, "2.0.0", time.Now()); !rolled {
		t.Fatal("no rollback")
	}
	if err := Watch(ctx, g.state, log, func() error { restarted++; return nil }); err != nil || restarted != 1 {
		t.Fatalf("watchdog after the rollback: err=%v restarts=%d", err, restarted)
	}

	// Committed while the watchdog waits: it returns without touching the binary.
	h := newTrial(t, func(m *Marker) { m.Deadline = time.Now().Add(time.Hour) })
	go func() {
		time.Sleep(300 * time.Millisecond)
		Commit(h.state, "2.0.0", time.Now())
	}()
	if err := Watch(ctx, h.state, log, func() error { restarted++; return nil }); err != nil || restarted != 1 {
		t.Fatalf("watchdog after a commit: err=%v restarts=%d", err, restarted)
	}
	if got := h.binary(t); got != "binary 2.0.0" {
		t.Fatalf("binary after a commit: %q", got)
	}
}

// TestMain lets the test binary stand in for a running agent: with
// WIREFLEET_TEST_SLEEP set it only sleeps.
func TestMain(m *testing.M) {
	if os.Getenv("WIREFLEET_TEST_SLEEP") != "" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The rollback restores the previous binary over a new one that is still
// running — which Windows does not allow to be replaced, only renamed: it
// is moved aside and removed by the previous version's next start.
func TestRestoreOverARunningBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := newTrial(t, nil)
	f.exe += filepath.Ext(self)
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	m, _ := ReadMarker(MarkerPath(f.state))
	m.Exe = f.exe
	writeMarker(MarkerPath(f.state), m)
	cmd := exec.Command(f.exe)
	cmd.Env = append(os.Environ(), "WIREFLEET_TEST_SLEEP=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	time.Sleep(500 * time.Millisecond) // the image is mapped
	for range 3 {
		f.begin(t, "2.0.0", f.t0)
	}
	if s := f.begin(t, "2.0.0", f.t0); !s.RolledBack {
		t.Fatalf("no rollback: %+v", s)
	}
	if got := f.binary(t); got != "binary 1.0.0" {
		t.Fatalf("binary after restoring over a running one: %.20q", got)
	}
	cmd.Process.Kill()
	cmd.Wait()
	s := f.begin(t, "1.0.0", f.t0.Add(time.Hour))
	if s.Outcome == nil || s.Outcome.State != "rolled_back" {
		t.Fatalf("outcome: %+v", s.Outcome)
	}
	if _, err := os.Stat(f.exe + ".failed"); !os.IsNotExist(err) {
		t.Fatalf("the failed binary was left aside: %v", err)
	}
}
