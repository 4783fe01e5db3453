// Package control is the local channel between the agent's CLI and the
// running service: HTTP over a root-only Unix socket (Linux, macOS) or a
// named pipe only SYSTEM and Administrators may open (Windows).
package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve answers GET /status with status() until ctx ends.
func Serve(ctx context.Context, addr string, status func() any) error {
	ln, err := listen(addr)
	if err != nil {
		return fmt.Errorf("control: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err = srv.Serve(ln)
	cleanup(addr)
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// Status fetches the running agent's status into v. It fails when no agent
// is running.
func Status(ctx context.Context, addr string, v any) error {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx, addr) },
	}, Timeout: 5 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://agent/status", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("control: the agent is not running (%w)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("control: status: HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
