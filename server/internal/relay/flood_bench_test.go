package relay

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
)

// BenchmarkHeaderOnlyFlood: one sender writes header-only frames (no
// payload) as fast as it can for 3 s against a 2,000 B/s budget, as the
// hostile run of issue 32 did. It reports the frames the relay forwarded
// per second and the CPU the process spent per second of flood (sender,
// relay and receiver together: they share the process).
func BenchmarkHeaderOnlyFlood(b *testing.B) {
	for range b.N {
		r := newRig(b, Config{Rate: 2000, Burst: 1})
		a, recv := r.dial("m_a"), r.dial("m_b")
		go func() {
			for {
				if _, _, err := recv.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		frame := relayframe.Append(nil, relayframe.TypeSend, key(2), nil)
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		t0 := time.Now()
		sent := 0
		for ctx.Err() == nil {
			if a.Write(ctx, websocket.MessageBinary, frame) != nil {
				break
			}
			sent++
		}
		cancel()
		secs := time.Since(t0).Seconds()
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
		b.ReportMetric(float64(sent)/secs, "written/s")
		b.ReportMetric(testutil.ToFloat64(r.srv.packets)/secs, "forwarded/s")
		b.ReportMetric(cpu.Seconds()/secs, "cores")
	}
}
