package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkTunnel records the agent figures of docs/BENCHMARKS.md in real
// network namespaces: time from `enroll` to the first ping over the
// overlay, the idle agent's RSS and CPU, and TCP throughput through the
// tunnel versus the bare veth in the same run. Run it once:
//
//	go test -run '^$' -bench Tunnel -benchtime 1x ./scripts/e2e/
//
// WIREFLEET_IDLE sets the idle sampling window (default 60s).
func BenchmarkTunnel(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	f := newFleet(b, 3)
	a := f.enroll(f.hosts[1], 1)
	c := f.enroll(f.hosts[2], 2)
	toPing := eventually(b, 20*time.Second, "first ping", func() bool { return a.h.ping(c.ipv4()) })
	b.ReportMetric(float64(time.Since(c.enrolledAt).Milliseconds()), "enroll-to-ping-ms")
	b.Logf("enroll → first ping: %v (ping succeeded %v after the check started)", time.Since(c.enrolledAt).Round(time.Millisecond), toPing.Round(time.Millisecond))

	window := 60 * time.Second
	if v := os.Getenv("WIREFLEET_IDLE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			window = d
		}
	}
	pid := a.proc.cmd.Process.Pid
	cpu0 := cpuTicks(b, pid)
	time.Sleep(window)
	cpu1 := cpuTicks(b, pid)
	rss := rssKiB(b, pid)
	cpuPct := float64(cpu1-cpu0) / 100 / window.Seconds() * 100 // USER_HZ = 100
	b.ReportMetric(float64(rss)/1024, "idle-rss-MiB")
	b.ReportMetric(cpuPct, "idle-cpu-%")
	b.Logf("idle agent over %v: RSS %.1f MiB, CPU %.2f%% (health every 1 s in this run)", window, float64(rss)/1024, cpuPct)

	startProc(b, c.h.cmd("iperf3", "-s"))
	eventually(b, 5*time.Second, "iperf3 server", func() bool {
		return c.h.cmd("ss", "-ltn", "sport = :5201").Run() == nil && strings.Contains(c.h.run(b, "ss", "-ltn"), ":5201")
	})
	for _, target := range []struct{ name, addr string }{{"veth", c.h.addr}, {"tunnel", c.ipv4()}} {
		out := a.h.run(b, "iperf3", "-c", target.addr, "-t", "5", "-J")
		var res struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			b.Fatalf("iperf3 output: %v\n%s", err, out)
		}
		gbps := res.End.SumReceived.BitsPerSecond / 1e9
		b.ReportMetric(gbps, target.name+"-Gbit/s")
		b.Logf("TCP over %s: %.2f Gbit/s", target.name, gbps)
	}
}

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(b testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + st
}

// rssKiB returns the resident set size of pid.
func rssKiB(b testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
