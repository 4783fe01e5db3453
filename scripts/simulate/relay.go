package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/relayframe"
)

// relayStats is what -relay measures: the server's RSS before and after
// every agent opened its relay session, and the frames that crossed.
type relayStats struct {
	sessions        atomic.Int64
	dialErrors      atomic.Int64
	sent, received  atomic.Int64
	rssBefore       float64
	rssAfter        float64
	openSeconds     float64
	firstDialErrMsg atomic.Pointer[string]
}

// openRelays opens every agent's relay session (32 at a time), measures
// the server's RSS before and after, and keeps each session busy like an
// idle agent's: a 32-byte frame to a random other agent every
// -relay-every, spread over the interval.
func (s *sim) openRelays(ctx context.Context) *relayStats {
	rs := &relayStats{rssBefore: rssMiB(s.o.pid)}
	t0 := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s.relayAgent(ctx, rs, i)
			}
		}()
	}
	for i := range s.agents {
		work <- i
		if i%100 == 99 {
			fmt.Fprintf(os.Stderr, "\rrelay sessions %d/%d", rs.sessions.Load(), len(s.agents))
		}
	}
	close(work)
	wg.Wait()
	rs.openSeconds = time.Since(t0).Seconds()
	fmt.Fprintf(os.Stderr, "\rrelay sessions %d/%d in %.1f s (%d dial errors)\n", rs.sessions.Load(), len(s.agents), rs.openSeconds, rs.dialErrors.Load())
	sleep(ctx, 2*time.Second) // let the server settle its buffers
	rs.rssAfter = rssMiB(s.o.pid)
	return rs
}

// relayAgent dials agent i's session and starts its reader and sender.
func (s *sim) relayAgent(ctx context.Context, rs *relayStats, i int) {
	a := s.agents[i]
	opts := []client.Option{client.WithToken(a.cred)}
	if s.o.pin != "" {
		opts = append(opts, client.WithPin(s.o.pin))
	}
	cl, err := client.New(s.o.server, opts...)
	if err != nil {
		rs.dialErrors.Add(1)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := cl.DialRelay(dctx)
	cancel()
	if err != nil {
		if rs.dialErrors.Add(1) == 1 {
			msg := err.Error()
			rs.firstDialErrMsg.Store(&msg)
		}
		return
	}
	conn.SetReadLimit(relayframe.MaxFrame)
	rs.sessions.Add(1)
	go func() {
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
			rs.received.Add(1)
		}
	}()
	go func() {
		defer conn.CloseNow()
		offset := time.Duration(rand.Int64N(int64(s.o.relayEvery)))
		t := time.NewTimer(offset)
		defer t.Stop()
		payload := make([]byte, 32)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			dst := s.agents[rand.IntN(len(s.agents))]
			if err := conn.Write(ctx, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, dst.key, payload)); err != nil {
				return
			}
			rs.sent.Add(1)
			t.Reset(s.o.relayEvery)
		}
	}()
}

func (rs *relayStats) add(sum map[string]any) {
	sum["relay_sessions"] = rs.sessions.Load()
	sum["relay_dial_errors"] = rs.dialErrors.Load()
	if p := rs.firstDialErrMsg.Load(); p != nil {
		sum["relay_first_dial_error"] = *p
	}
	sum["relay_open_s"] = round(rs.openSeconds)
	sum["relay_rss_before_mib"] = rs.rssBefore
	sum["relay_rss_after_mib"] = rs.rssAfter
	if n := rs.sessions.Load(); n > 0 {
		sum["relay_kib_per_session"] = round((rs.rssAfter - rs.rssBefore) * 1024 / float64(n))
	}
	sum["relay_frames_sent"] = rs.sent.Load()
	sum["relay_frames_received"] = rs.received.Load()
}
