package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostileShort is the CI form of the command: a real server binary,
// three kill -9 rounds under concurrent writes, then a 1,500-request
// hostile sweep over every API route, a 50-way single-use-token race and
// the checks of the defects earlier hostile runs found (regressions.go)
// against the restarted server.
func TestHostileShort(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wirefleet-server")
	if out, err := exec.Command("go", "build", "-o", bin, "../../server").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var rep Report
	dir := t.TempDir()
	if err := Kill9(ctx, bin, dir, 3, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Acked == 0 {
		t.Fatal("no write was acknowledged before the kills")
	}

	// The sweep against a fresh server (TLS, self-signed, pinned).
	cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--stun-listen", "off", "--enroll-rate", "0")
	var out syncBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var url, pin, key string
	for deadline := time.Now().Add(20 * time.Second); url == "" || pin == "" || key == ""; time.Sleep(50 * time.Millisecond) {
		s := out.String()
		if m := regexp.MustCompile(`listening" url=(\S+)`).FindStringSubmatch(s); m != nil {
			url = m[1]
		}
		if m := regexp.MustCompile(`pin (sha256/\S+)`).FindStringSubmatch(s); m != nil {
			pin = m[1]
		}
		if m := regexp.MustCompile(`admin API key:\s+(wfa_\S+)`).FindStringSubmatch(s); m != nil {
			key = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", s)
		}
	}
	url = strings.Replace(url, "0.0.0.0", "127.0.0.1", 1)
	if err := Sweep(ctx, url, pin, key, 1500, 50, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep.Summary())
	if why := rep.Failed(); why != "" {
		t.Fatal(why)
	}
	if rep.Requests != 1500 || rep.ByStatus[400] == 0 || rep.ByStatus[401] == 0 {
		t.Fatalf("the sweep did not exercise refusals: %v", rep.ByStatus)
	}
	if rep.RegressionsRun != len(regressions) {
		t.Fatalf("%d of %d checks of earlier defects ran", rep.RegressionsRun, len(regressions))
	}
}

// syncBuf collects a process's output for a reader in another goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
