package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// BenchmarkPeers records the agent-at-scale figures of docs/BENCHMARKS.md
// (issue 13): one real agent (a) in a namespace with N peers, of which
// one (b) is a second real agent and the rest are enrolled through the
// server's API with random keys; half of those report an unreachable
// endpoint (192.0.2.x, a documentation range routed nowhere), half none.
// After the ramp, a is restarted so it applies the whole map at once;
// then it idles and the benchmark measures its RSS, CPU and log lines,
// and finally the first ping to b (idle until then) against later ones.
//
//	sudo go test -run '^$' -bench Peers -benchtime 1x ./scripts/e2e/                       # N=500
//	sudo WIREFLEET_PEERS=5000 go test -run '^$' -bench Peers -benchtime 1x -timeout 30m ./scripts/e2e/
//
// WIREFLEET_NOCACHE=1 removes a's cached map before the restart, so the
// full map comes from the server. WIREFLEET_IDLE sets the idle window
// (default 60s); WIREFLEET_EAGER=1
// runs the agents with --eager-peers (every peer configured, as before
// lazy peers) for comparison.
func BenchmarkPeers(b *testing.B) {
	n := 500
	if v := os.Getenv("WIREFLEET_PEERS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	window := 60 * time.Second
	if v := os.Getenv("WIREFLEET_IDLE"); v != "" {
		window, _ = time.ParseDuration(v)
	}
	b.Setenv("WIREFLEET_ENROLL_RATE", "0")
	f := newFleet(b, 3)
	a := f.enroll(f.hosts[1], 1)
	peer := f.enroll(f.hosts[2], 2)
	eventually(b, 20*time.Second, "ping a → b", func() bool { return a.h.ping(peer.ipv4()) })

	sim := n - 1 // b is one of the N
	t0 := time.Now()
	enrollSimulated(b, f.data, sim)
	b.Logf("%d simulated peers enrolled in %v", sim, time.Since(t0).Round(time.Millisecond))
	eventually(b, 5*time.Minute, fmt.Sprintf("a's map has %d peers", n), func() bool {
		return len(a.status(b).Peers) == n
	})

	// Restart both (so no WireGuard session is left between them, and b
	// is an idle peer of a's until the last step) with the agent's
	// defaults (health every 30 s), as on a user's machine. a brings the
	// tunnel up from the cached map with every peer, then takes the
	// server's full map.
	for _, x := range []*agent{peer, a} {
		x.proc.cmd.Process.Signal(syscall.SIGTERM)
		x.proc.cmd.Wait()
		eventually(b, 10*time.Second, x.iface+" gone", func() bool { return x.h.cmd("ip", "link", "show", x.iface).Run() != nil })
	}
	run := func(x *agent) *proc {
		args := []string{"run", "--state-dir", x.dir, "--interface", x.iface}
		if os.Getenv("WIREFLEET_EAGER") == "1" {
			args = append(args, "--eager-peers")
		}
		return startProc(b, x.h.cmd(bins+"/wirefleet-agent", args...))
	}
	if os.Getenv("WIREFLEET_NOCACHE") == "1" {
		// a starts without its cached map and takes the full map from the server.
		filepath.WalkDir(a.dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "netmap.json" {
				os.Remove(p)
			}
			return nil
		})
	}
	peer.proc = run(peer)
	start := time.Now()
	a.proc = run(a)
	eventually(b, time.Minute, "a up again", func() bool { return strings.Contains(a.proc.output(), "tunnel up") })
	up := time.Since(start)
	pid := a.proc.cmd.Process.Pid
	m := regexp.MustCompile(`msg="tunnel up".* peers=(\d+) peers_took=(\S+)`).FindStringSubmatch(a.proc.output())
	if m == nil {
		b.Fatalf("no tunnel-up line:\n%s", a.proc.output())
	}
	from := "the cached map"
	if os.Getenv("WIREFLEET_NOCACHE") == "1" {
		from = "the server's full map"
	}
	b.Logf("restart with %s peers from %s: tunnel up %v after run, peers configured in %s", m[1], from, up.Round(time.Millisecond), m[2])
	time.Sleep(5 * time.Second) // the full map from the server, start-up handshakes
	if m := regexp.MustCompile(`msg="network map applied".* full=true .*peers=(\d+) took=(\S+)`).FindStringSubmatch(a.proc.output()); m != nil {
		// The tunnel comes up with the first map; this is the map's apply.
		took, _ := time.ParseDuration(m[2])
		b.ReportMetric(float64(took.Microseconds())/1000, "full-map-apply-ms")
		b.Logf("full map from the server (%s peers) applied in %s", m[1], m[2])
	} else {
		b.Logf("no further full map within 5 s of the restart (the agent polls from its cached version)")
	}

	lines0 := strings.Count(a.proc.output(), "\n")
	cpu0 := cpuTicks(b, pid)
	time.Sleep(window)
	cpu1 := cpuTicks(b, pid)
	lines := strings.Count(a.proc.output(), "\n") - lines0
	rss := rssKiB(b, pid)
	cpuPct := float64(cpu1-cpu0) / 100 / window.Seconds() * 100
	perMin := float64(lines) / window.Minutes()
	b.ReportMetric(float64(rss)/1024, "idle-rss-MiB")
	b.ReportMetric(cpuPct, "idle-cpu-%")
	b.ReportMetric(perMin, "log-lines/min")
	b.Logf("%d peers, idle %v: RSS %.1f MiB, CPU %.2f%% of a core, %d log lines (%.1f/min)", n, window, float64(rss)/1024, cpuPct, lines, perMin)
	if lines > 0 {
		all := strings.Split(strings.TrimSpace(a.proc.output()), "\n")
		b.Logf("log lines in the idle window:\n%s", strings.Join(all[len(all)-min(lines, 20):], "\n"))
	}
	for _, p := range a.status(b).Peers {
		if p.Name == peer.name() && p.State != "idle" {
			b.Logf("b is %q before the first ping, not idle: the figure below is not an idle peer's", p.State)
		}
	}

	// First ping to b after the idle window, then ten more.
	rtt := regexp.MustCompile(`time=([\d.]+) ms`)
	out := a.h.run(b, "ping", "-n", "-c", "11", "-i", "0.2", peer.ipv4())
	ts := rtt.FindAllStringSubmatch(out, -1)
	if len(ts) < 2 {
		b.Fatalf("ping a → b after idling:\n%s", out)
	}
	first, _ := strconv.ParseFloat(ts[0][1], 64)
	var rest float64
	for _, t := range ts[1:] {
		v, _ := strconv.ParseFloat(t[1], 64)
		rest += v
	}
	rest /= float64(len(ts) - 1)
	b.ReportMetric(first-rest, "first-packet-added-ms")
	b.Logf("ping a → b after idling: first %.2f ms, next %d average %.2f ms", first, len(ts)-1, rest)
}

// enrollSimulated enrolls n machines with random keys through the
// server's admin socket, 16 at a time.
func enrollSimulated(b testing.TB, data string, n int) {
	cl, err := client.New("http://local", client.WithUnixSocket(filepath.Join(data, "wirefleet.sock")))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tok, err := cl.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, ExpiresIn: "2h", Tags: []string{"sim"}})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				var k [32]byte
				rand.Read(k[:])
				req := wire.EnrollRequest{Token: tok.Secret, PublicKey: base64.StdEncoding.EncodeToString(k[:]),
					Hostname: fmt.Sprintf("sim-%d", i), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}
				if i%2 == 0 {
					req.Endpoints = []string{fmt.Sprintf("192.0.2.%d:51820", i%250+1)}
				}
				if _, err := cl.Enroll(ctx, req); err != nil {
					select {
					case errs <- fmt.Errorf("enroll %d: %w", i, err):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}
