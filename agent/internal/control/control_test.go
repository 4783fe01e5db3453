//go:build !windows

package control

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAgent records what the socket asked of it.
type fakeAgent struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (f *fakeAgent) note(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return f.fail
}
func (f *fakeAgent) Status() any                  { return map[string]string{"machine": "web-1"} }
func (f *fakeAgent) Down() error                  { return f.note("down") }
func (f *fakeAgent) Up() error                    { return f.note("up") }
func (f *fakeAgent) Logout(context.Context) error { return f.note("logout") }
func (f *fakeAgent) Wake()                        { f.note("wake") }
func (f *fakeAgent) Reroute() error               { f.note("reroute"); return nil }

// The CLI reaches the running agent over the socket: status, the actions
// (an agent's refusal comes back as the error), the flags endpoint; with
// no agent, ErrNotRunning; the socket is 0600 and gone after the agent.
func TestControlSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "wfctl") // short: a Unix socket path is at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	ctx := context.Background()
	var st map[string]string
	if err := Status(ctx, sock, &st); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no agent: %v, want ErrNotRunning", err)
	}
	a := &fakeAgent{}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Serve(sctx, sock, a, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"flags":[]}`)) }))
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if Status(ctx, sock, &st) == nil || time.Now().After(deadline) {
			break
		}
	}
	if st["machine"] != "web-1" {
		t.Fatalf("status: %v", st)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	for _, action := range []string{"down", "up", "wake", "logout"} {
		if err := Call(ctx, sock, action); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	a.mu.Lock()
	calls := strings.Join(a.calls, ",")
	a.fail = errors.New("the tunnel is already down")
	a.mu.Unlock()
	if calls != "down,up,wake,logout" {
		t.Fatalf("calls %v", calls)
	}
	if err := Call(ctx, sock, "down"); err == nil || !strings.Contains(err.Error(), "already down") {
		t.Fatalf("a refused action: %v", err)
	}
	if code, body, err := Post(ctx, sock, "/ofrep/v1/evaluate/flags", []byte(`{}`)); err != nil || code != 200 || string(body) != `{"flags":[]}` {
		t.Fatalf("flags: %d %s %v", code, body, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the socket outlived the agent: %v", err)
	}
}
