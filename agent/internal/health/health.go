// Package health collects the agent's periodic health report (CPU, memory,
// disk, uptime, OS, tunnel peers) and delivers it to the server. Reports
// made while the server is unreachable wait in a bounded on-disk queue —
// oldest dropped first, and counted — and are sent in order when it
// returns.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Collect returns a report of this machine now. tunnel supplies the tunnel
// part (the engine knows it); the rest comes from gopsutil. Fields that
// cannot be read on this OS are left zero rather than failing the report.
func Collect(ctx context.Context, version string, tunnel wire.TunnelHealth) wire.HealthReport {
	r := wire.HealthReport{At: time.Now().UTC(), AgentVersion: version, OS: runtime.GOOS, Tunnel: tunnel}
	if pct, err := cpu.PercentWithContext(ctx, 0, false); err == nil && len(pct) == 1 {
		r.CPUPercent = min(max(pct[0], 0), 100) // since the previous call: the reporting interval
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		r.MemTotal, r.MemUsed = vm.Total, vm.Used
	}
	if du, err := disk.UsageWithContext(ctx, rootPath()); err == nil {
		r.DiskTotal, r.DiskUsed = du.Total, du.Used
	}
	if hi, err := host.InfoWithContext(ctx); err == nil {
		r.UptimeSec = hi.Uptime
		// ClipFact, not a byte cut: the server refuses control characters
		// and split UTF-8, and a refused report would be retried forever.
		r.Platform = wire.ClipFact(strings.TrimSpace(hi.Platform+" "+hi.PlatformVersion), wire.MaxFactLen)
		r.Kernel = wire.ClipFact(hi.KernelVersion, wire.MaxFactLen)
	}
	return r
}

// TopPeers keeps the MaxHealthPeers peers with the most recent handshakes
// and counts the ones that handshook in the last three minutes.
func TopPeers(peers []wire.PeerHealth, now time.Time) (top []wire.PeerHealth, connected int) {
	for _, p := range peers {
		if p.LastHandshake != nil && now.Sub(*p.LastHandshake) < 3*time.Minute {
			connected++
		}
	}
	sorted := append([]wire.PeerHealth(nil), peers...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i].LastHandshake, sorted[j].LastHandshake
		return a != nil && (b == nil || a.After(*b))
	})
	if len(sorted) > wire.MaxHealthPeers {
		sorted = sorted[:wire.MaxHealthPeers]
	}
	return sorted, connected
}

// Sender delivers one report.
type Sender interface {
	ReportHealth(ctx context.Context, r wire.HealthReport) (wire.HealthAck, error)
}

// Queue is the on-disk queue of undelivered reports.
type Queue struct {
	Dropped int                 `json:"dropped"`
	Reports []wire.HealthReport `json:"reports"`
}

// Reporter collects a report every Interval and delivers the queue.
type Reporter struct {
	Sender   Sender
	Path     string // queue file
	Max      int    // queue bound (default 240: two hours at 30 s)
	Interval time.Duration
	Collect  func(ctx context.Context) wire.HealthReport
	OnAck    func(wire.HealthAck) // optional: called with each acknowledgement
	Log      *slog.Logger
}

// LoadQueue reads the queue file; a missing or corrupt one yields an empty
// queue (a corrupt one is reported, and overwritten on the next save).
func LoadQueue(path string) (Queue, error) {
	var q Queue
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return q, fmt.Errorf("health: read queue: %w", err)
	}
	if err := json.Unmarshal(b, &q); err != nil {
		return Queue{}, fmt.Errorf("health: queue %s is corrupt; starting a new one: %w", path, err)
	}
	return q, nil
}

func saveQueue(path string, q Queue) error {
	b, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// Run reports until ctx ends.
func (r *Reporter) Run(ctx context.Context) {
	if r.Max <= 0 {
		r.Max = 240
	}
	if r.Interval <= 0 {
		r.Interval = 30 * time.Second
	}
	q, err := LoadQueue(r.Path)
	if err != nil {
		r.Log.Warn("health queue", "err", err)
	}
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		q = r.Step(ctx, q)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step collects one report, queues it, and delivers the queue in order
// until the first failure. It returns the queue left over.
func (r *Reporter) Step(ctx context.Context, q Queue) Queue {
	before := len(q.Reports)
	q.Reports = append(q.Reports, r.Collect(ctx))
	if over := len(q.Reports) - r.Max; over > 0 {
		q.Reports = q.Reports[over:]
		q.Dropped += over
	}
	sent := 0
	for _, rep := range q.Reports {
		rep.Dropped = q.Dropped
		ack, err := r.Sender.ReportHealth(ctx, rep)
		if err != nil {
			if ctx.Err() == nil {
				r.Log.Debug("health report not delivered; queued", "queued", len(q.Reports)-sent, "err", err)
			}
			break
		}
		if r.OnAck != nil {
			r.OnAck(ack)
		}
		sent++
		q.Dropped = 0 // the server has been told
	}
	q.Reports = q.Reports[sent:]
	if sent > 0 && before > 0 {
		r.Log.Info("delivered queued health reports", "reports", sent)
	}
	if len(q.Reports) > 0 || before > 0 || sent == 0 {
		if err := saveQueue(r.Path, q); err != nil {
			r.Log.Warn("saving the health queue", "err", err)
		}
	}
	return q
}
