//go:build !windows

package service

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The supervisor starts the agent again after every exit — at once after
// the self-update exit code, with a growing pause after failures — runs
// whatever binary is at the path at that moment, and stops it with
// SIGTERM when told to.
func TestSupervisorRestartsAndStops(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	exe := filepath.Join(dir, "agent")
	// Start 1 exits as after a self-update, start 2 fails, start 3 swaps
	// the binary for a "new version" and exits for the update; that one
	// runs until SIGTERM and records it.
	script := `#!/bin/sh
echo "v1 $*" >> ` + starts + `
n=$(wc -l < ` + starts + `)
case $n in
1) exit 75 ;;
2) exit 1 ;;
3) cp ` + exe + `.new ` + exe + `; exit 75 ;;
esac
sleep 60
`
	newer := `#!/bin/sh
echo "v2 $*" >> ` + starts + `
trap 'echo stopped >> ` + starts + `; exit 0' TERM
while :; do sleep 0.1; done
`
	os.WriteFile(exe, []byte(script), 0o755)
	os.WriteFile(exe+".new", []byte(newer), 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := &Supervisor{Exe: exe, Args: []string{"run", "--state-dir", dir}, Log: slog.New(slog.DiscardHandler), StopTimeout: 5 * time.Second}
	go func() { done <- s.Run(ctx) }()
	read := func() []string {
		b, _ := os.ReadFile(starts)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(read()) < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := read()
	want := []string{"v1 run --state-dir " + dir, "v1 run --state-dir " + dir, "v1 run --state-dir " + dir, "v2 run --state-dir " + dir}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("starts = %q, want %q", got, want)
	}
	time.Sleep(300 * time.Millisecond) // the trap is set
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor did not stop")
	}
	if got := read(); got[len(got)-1] != "stopped" {
		t.Fatalf("the agent was not stopped with SIGTERM: %q", got)
	}
}
