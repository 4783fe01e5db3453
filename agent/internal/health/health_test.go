package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

type sender struct {
	down bool
	got  []wire.HealthReport
}

func (s *sender) ReportHealth(_ context.Context, r wire.HealthReport) (wire.HealthAck, error) {
	if s.down {
		return wire.HealthAck{}, errors.New("connection refused")
	}
	s.got = append(s.got, r)
	return wire.HealthAck{}, nil
}

func TestCollectReadsThisMachine(t *testing.T) {
	r := Collect(context.Background(), "1.2.3", wire.TunnelHealth{Up: true})
	if r.MemTotal == 0 || r.DiskTotal == 0 || r.UptimeSec == 0 || r.AgentVersion != "1.2.3" || r.OS == "" || !r.Tunnel.Up {
		t.Fatalf("report = %+v", r)
	}
}

func TestQueueKeepsOrderDropsOldestAndCountsDrops(t *testing.T) {
	s := &sender{down: true}
	n := 0
	r := &Reporter{
		Sender: s, Path: filepath.Join(t.TempDir(), "q.json"), Max: 3, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Collect: func(context.Context) wire.HealthReport { n++; return wire.HealthReport{UptimeSec: uint64(n)} },
	}
	var q Queue
	for range 5 {
		q = r.Step(context.Background(), q)
	}
	if len(q.Reports) != 3 || q.Dropped != 2 || q.Reports[0].UptimeSec != 3 {
		t.Fatalf("queue while offline = %d reports (first %d), dropped %d; want 3 from #3, 2 dropped", len(q.Reports), q.Reports[0].UptimeSec, q.Dropped)
	}
	// The queue is on disk: a restarted agent picks it up.
	onDisk, err := LoadQueue(r.Path)
	if err != nil || len(onDisk.Reports) != 3 || onDisk.Dropped != 2 {
		t.Fatalf("queue on disk = %+v, %v", onDisk, err)
	}
	s.down = false
	q = r.Step(context.Background(), onDisk)
	// The new report pushed the oldest queued one out: #4, #5, #6 are sent.
	if len(q.Reports) != 0 || len(s.got) != 3 {
		t.Fatalf("after reconnect: %d left, %d sent; want 0 left, 3 sent", len(q.Reports), len(s.got))
	}
	for i, rep := range s.got {
		if rep.UptimeSec != uint64(i+4) {
			t.Fatalf("sent out of order: %v", s.got)
		}
	}
	if s.got[0].Dropped != 3 || s.got[2].Dropped != 0 {
		t.Fatalf("drop count not reported once: %d then %d", s.got[0].Dropped, s.got[2].Dropped)
	}
	// A corrupt queue file is reported and replaced, never fatal.
	os.WriteFile(r.Path, []byte("{torn"), 0o600)
	if _, err := LoadQueue(r.Path); err == nil {
		t.Fatal("corrupt queue not reported")
	}
}

func TestTopPeersKeepsMostRecentAndCounts(t *testing.T) {
	now := time.Now()
	var peers []wire.PeerHealth
	for i := range 50 {
		hs := now.Add(-time.Duration(i) * time.Minute)
		peers = append(peers, wire.PeerHealth{ID: string(rune('A' + i)), LastHandshake: &hs})
	}
	peers = append(peers, wire.PeerHealth{ID: "never"})
	top, connected := TopPeers(peers, now)
	if len(top) != wire.MaxHealthPeers || top[0].ID != "A" || connected != 3 {
		t.Fatalf("top %d (first %s), connected %d; want %d, A, 3", len(top), top[0].ID, connected, wire.MaxHealthPeers)
	}
}
