package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Kill9 starts the server binary on loopback with its data in dir, and
// rounds times: writes enrollment tokens from eight writers, kills the
// server with SIGKILL after 0.2–0.6 s, restarts it and checks that every
// token it acknowledged is there.
func Kill9(ctx context.Context, bin, dir string, rounds int, rep *Report) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	url := "http://" + addr
	var (
		keyMu  sync.Mutex
		apiKey string // printed on the first start only
	)
	key := func() string { keyMu.Lock(); defer keyMu.Unlock(); return apiKey }
	start := func() (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", dir, "--listen", addr, "--insecure-http", "--stun-listen", "off", "--log-level", "warn")
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		keyRE := regexp.MustCompile(`admin API key:\s+(wfa_\S+)`)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if m := keyRE.FindStringSubmatch(sc.Text()); m != nil {
					keyMu.Lock()
					apiKey = m[1]
					keyMu.Unlock()
				}
			}
		}()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if resp, err := http.Get(url + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 && key() != "" {
					return cmd, nil
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				return nil, fmt.Errorf("server did not start (API key seen: %v)", key() != "")
			}
		}
	}
	acked := map[string]bool{}
	for round := range rounds {
		cmd, err := start()
		if err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		admin, _ := client.New(url, client.WithToken(key()))
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					t, err := admin.CreateToken(ctx, wire.CreateTokenRequest{ExpiresIn: "1h", Tags: []string{"kill9"}})
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					acked[t.Token.ID] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(200+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL: no shutdown, no flush
		cmd.Wait()
		close(stop)
		wg.Wait()
		rep.Kill9Rounds++
	}
	cmd, err := start()
	if err != nil {
		return fmt.Errorf("restart after the last kill: %w", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	admin, _ := client.New(url, client.WithToken(key()))
	ts, err := admin.ListTokens(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, t := range ts {
		have[t.ID] = true
	}
	rep.Acked += len(acked)
	for id := range acked {
		if have[id] {
			rep.Found++
		}
	}
	return nil
}
