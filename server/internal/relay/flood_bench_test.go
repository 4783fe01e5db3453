package relay

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
)

// BenchmarkHeaderOnlyFlood: one sender writes header-only frames (no
// payload) as fast as it can for 3 s against a 2,000 B/s budget, as the
// hostile run of issue 32 did. It reports the frames the relay forwarded
// per second and the CPU the process's Go code spent per second of flood
// (sender, relay and receiver together: they share the process).
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
		cpu0 := cpuSeconds()
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
		cpu := cpuSeconds() - cpu0
		b.ReportMetric(float64(sent)/secs, "written/s")
		b.ReportMetric(testutil.ToFloat64(r.srv.packets)/secs, "forwarded/s")
		b.ReportMetric(cpu/secs, "cores")
	}
}

// cpuSeconds is the CPU the process's Go code has used (the runtime's own
// accounting: user code, GC and scavenging), on every OS.
func cpuSeconds() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/user:cpu-seconds"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/scavenge/total:cpu-seconds"}}
	metrics.Read(s)
	var total float64
	for _, x := range s {
		total += x.Value.Float64()
	}
	return total
}
