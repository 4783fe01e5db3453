package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/control"
	"github.com/wirefleet/wirefleet/agent/internal/flags"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

func TestCheckPeerIdle(t *testing.T) {
	for _, c := range []struct {
		d  time.Duration
		ok bool
	}{{0, false}, {-time.Minute, false}, {time.Millisecond, false}, {time.Second, true}, {5 * time.Minute, true}} {
		if err := checkPeerIdle(c.d); (err == nil) != c.ok {
			t.Errorf("checkPeerIdle(%v) = %v, want ok=%v", c.d, err, c.ok)
		}
	}
}

type idleAgent struct{}

func (idleAgent) Status() any                      { return map[string]bool{"running": true} }
func (idleAgent) Down() error                      { return nil }
func (idleAgent) Up() error                        { return nil }
func (idleAgent) Logout(ctx context.Context) error { return nil }
func (idleAgent) Wake()                            {}
func (idleAgent) Reroute() error                   { return nil }

// TestFlagsCLIAsksTheAgentOfItsStateDir: `flags list --state-dir S` gets
// its answer from the agent of S (its control socket) or, when that agent
// is not running, from S's cache — never from whatever program listens on
// the OFREP port (before, a decoy on 127.0.0.1:8016 answered).
func TestFlagsCLIAsksTheAgentOfItsStateDir(t *testing.T) {
	decoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"flags":[{"key":"decoy","value":true,"reason":"STATIC","metadata":{}}]}`)
	}))
	defer decoy.Close()
	dir := t.TempDir()
	g := &globals{stateDir: dir, flagsListen: strings.TrimPrefix(decoy.URL, "http://")}
	quiet := slog.New(slog.DiscardHandler)
	st := flags.NewStore(g.paths().FlagCache(), quiet)
	st.Update(wire.FlagSet{Version: 3, Flags: []wire.Flag{{Key: "mine", Type: wire.FlagString, Enabled: true, Default: json.RawMessage(`"from-S"`)}}}, `"3-x"`)

	// Not running: S's cache.
	evs, err := fetchFlags(g, "")
	if err != nil || len(evs) != 1 || evs[0].Key != "mine" || evs[0].Reason != flags.ReasonCached {
		t.Fatalf("agent not running: %+v (%v), want S's cached flag", evs, err)
	}
	// Running: its control socket.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, g.paths().ControlSocket(), idleAgent{}, flags.Handler(st)) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, err = fetchFlags(g, "mine")
		if err == nil && len(evs) == 1 && evs[0].Reason != flags.ReasonCached || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || len(evs) != 1 || evs[0].Key != "mine" || string(evs[0].Value) != `"from-S"` || evs[0].Metadata["source"] != "server" {
		t.Fatalf("agent running: %+v (%v), want its own flag from the server", evs, err)
	}
	if _, err := fetchFlags(g, "decoy"); err == nil {
		t.Fatal("the decoy on the OFREP port answered")
	}
}

// TestStatusAsAnotherUserSaysPermissionDenied: a user the control socket
// does not admit is told to use sudo (or an elevated Administrator), not
// that the agent is not running.
func TestStatusAsAnotherUserSaysPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the CLI as another user (CI runs as root)")
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		t.Skip("needs runuser (util-linux)")
	}
	dir, err := os.MkdirTemp("", "wirefleet-denied-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // others may look in, the socket itself is 0600
	bin := filepath.Join(dir, "wirefleet-agent")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	os.Chmod(bin, 0o755)
	g := &globals{stateDir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.Serve(ctx, g.paths().ControlSocket(), idleAgent{}, nil) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(g.paths().ControlSocket()); err == nil {
			break
		}
	}
	out, err := exec.Command(runuser, "-u", "nobody", "--", bin, "status", "--state-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), "sudo") {
		t.Fatalf("status as nobody: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "not running") {
		t.Fatalf("told a user without access that the agent is not running:\n%s", out)
	}
}

func TestShellArgs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"--state-dir", "/srv/wf a"}, ` --state-dir '/srv/wf a'`},
		{[]string{"--interface", "wf1"}, " --interface wf1"},
		{[]string{"--x", "it's"}, ` --x 'it'\''s'`},
		{[]string{"--x", "$(id)"}, ` --x '$(id)'`},
		{[]string{"--x", ""}, ` --x ''`},
	} {
		if got := shellArgs(tc.in); got != tc.want {
			t.Errorf("shellArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
