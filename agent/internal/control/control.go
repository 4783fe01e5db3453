// Package control is the local channel between the agent's CLI and the
// running service: HTTP over a root-only Unix socket (Linux, macOS) or a
// named pipe only SYSTEM and Administrators may open (Windows).
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Agent is what the control socket exposes of the running agent.
type Agent interface {
	Status() any
	Down() error
	Up() error
	Logout(ctx context.Context) error
	// Wake makes the agent ask the server again now (after a
	// re-authentication), instead of at its next retry.
	Wake()
	// Reroute makes the agent read its routing choices again from its
	// config (`wirefleet-agent set`).
	Reroute() error
}

// Serve answers the CLI until ctx ends: GET /status, POST /down, /up,
// /logout and /wake, and, when flags is not nil, the agent's OFREP endpoint under
// /ofrep/ (so `flags list --state-dir S` asks the agent of S, not
// whatever listens on a TCP port).
func Serve(ctx context.Context, addr string, a Agent, flags http.Handler) error {
	ln, err := listen(addr)
	if err != nil {
		return fmt.Errorf("control: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.Status())
	})
	for name, fn := range map[string]func(context.Context) error{
		"down":    func(context.Context) error { return a.Down() },
		"up":      func(context.Context) error { return a.Up() },
		"logout":  a.Logout,
		"wake":    func(context.Context) error { a.Wake(); return nil },
		"reroute": func(context.Context) error { return a.Reroute() },
	} {
		mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	if flags != nil {
		mux.Handle("/ofrep/", flags)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err = srv.Serve(ln)
	cleanup(addr)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ErrNotRunning means no agent answers on the control socket.
var ErrNotRunning = errors.New("the agent is not running")

// ErrDenied means the control socket exists but refuses this user: it
// admits root (SYSTEM and Administrators on Windows) only.
var ErrDenied = errors.New("permission denied: the agent's control socket admits only root (an elevated Administrator on Windows); run this command with sudo or as Administrator")

func dialErr(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (%v)", ErrDenied, err)
	}
	return fmt.Errorf("%w (%v)", ErrNotRunning, err)
}

func httpClient(addr string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx, addr) },
	}, Timeout: 30 * time.Second}
}

// Call asks the running agent to act: "down", "up" or "logout".
func Call(ctx context.Context, addr, action string) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://agent/"+action, nil)
	resp, err := httpClient(addr).Do(req)
	if err != nil {
		return dialErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", action, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Status fetches the running agent's status into v. It fails when no agent
// is running.
func Status(ctx context.Context, addr string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://agent/status", nil)
	resp, err := httpClient(addr).Do(req)
	if err != nil {
		return dialErr(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control: status: HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Post sends body to path on the running agent and returns the answer's
// status and body. It fails with ErrNotRunning when no agent answers.
func Post(ctx context.Context, addr, path string, body []byte) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://agent"+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient(addr).Do(req)
	if err != nil {
		return 0, nil, dialErr(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	return resp.StatusCode, b, err
}
