package netmap

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// teamPolicy is the simulator's policy (scripts/simulate -team-size): per
// team, laptops reach servers; with icmp, ping too.
func teamPolicy(teams int, icmp bool) string {
	var tags, rules []string
	for k := range teams {
		tags = append(tags, fmt.Sprintf(`"tag:t%d-laptop", "tag:t%d-server"`, k, k))
		rules = append(rules, fmt.Sprintf(`{"src": ["tag:t%d-laptop"], "dst": ["tag:t%d-server"], "proto": "tcp", "ports": ["22", "443"]}`, k, k))
		if icmp {
			rules = append(rules, fmt.Sprintf(`{"src": ["tag:t%d-laptop"], "dst": ["tag:t%d-server"], "proto": "icmp"}`, k, k))
		}
	}
	return `{"tags": [` + strings.Join(tags, ",") + `], "rules": [` + strings.Join(rules, ",\n") + `]}`
}

// BenchmarkPolicyChange measures what a policy change costs the server:
// n machines in teams of 200 (each sees 100 peers), every machine's next
// map computed and encoded after a change that gives every server a new
// rule. One op is one change answered to all n machines, on one core.
//
//	go test -run '^$' -bench PolicyChange -benchtime 4x ./server/internal/netmap/
func BenchmarkPolicyChange(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("machines=%d", n), func(b *testing.B) {
			f, ids := teamFleet(b, n)
			ctx := context.Background()
			teams := n / 200
			set := func(text string) {
				_, ch, _, err := f.db.SetPolicy(ctx, store.Actor{}, text, "")
				if err != nil {
					b.Fatal(err)
				}
				f.sync(b, ch)
			}
			set(teamPolicy(teams, false))
			for _, id := range ids { // warm the per-class caches, as a running server has them
				f.hub.Reply(id, 0)
			}
			b.ResetTimer()
			bytes := 0
			for i := range b.N {
				b.StopTimer()
				v := f.hub.Version()
				set(teamPolicy(teams, i%2 == 0))
				b.StartTimer()
				for _, id := range ids {
					r, _ := f.hub.Reply(id, v)
					n, _ := r.WriteTo(io.Discard)
					bytes += int(n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/change")
			b.ReportMetric(float64(bytes)/float64(b.N*n), "bytes/answer")
		})
	}
}

// teamFleet enrolls n machines in teams of 200 (100 laptops tagged
// tK-laptop, 100 servers tagged tK-server); machine i is a laptop when
// i%200 < 100.
func teamFleet(b *testing.B, n int) (*fixture, []string) {
	f := newFixture(b, Options{})
	ctx := context.Background()
	teams := n / 200
	toks := map[string]string{}
	for k := range teams {
		for _, role := range []string{"laptop", "server"} {
			tag := fmt.Sprintf("t%d-%s", k, role)
			toks[tag] = "tok-" + tag
			if _, err := f.db.CreateToken(ctx, store.Actor{Name: "t"}, store.NewToken{Prefix: "wfe_" + tag, Hash: toks[tag], Reusable: true, Tags: []string{tag}}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var ids []string
	for i := range n {
		role := "server"
		if i%200 < 100 {
			role = "laptop"
		}
		m, ch, err := f.db.Enroll(ctx, store.Actor{}, store.Enrollment{TokenHash: toks[fmt.Sprintf("t%d-%s", i/200, role)],
			CredentialHash: fmt.Sprintf("c%d-%d", i, time.Now().UnixNano()), PublicKey: key(), Hostname: "h", Name: fmt.Sprintf("m%d", i), OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, m.ID)
		if i == n-1 {
			f.sync(b, ch)
		}
	}
	return f, ids
}

// BenchmarkFactChange measures what a burst of fact reports costs the
// server under postures: n machines in teams of 200, every team's rule
// requiring one of 20 postures of its laptops; 1,000 laptops (20 per
// team) report facts that fail, or again satisfy, every posture. One op
// is the batch stored (as the health writer stores it), applied by the
// hub, and every machine's next map computed and encoded. postures=0 is
// the same burst under the same rules without postures: the facts change,
// the classes do not.
//
//	go test -run '^$' -bench FactChange -benchtime 4x ./server/internal/netmap/
func BenchmarkFactChange(b *testing.B) {
	const n, movers = 10000, 1000
	for _, postures := range []int{0, 20} {
		b.Run(fmt.Sprintf("machines=%d/postures=%d", n, postures), func(b *testing.B) {
			f, ids := teamFleet(b, n)
			ctx := context.Background()
			teams := n / 200
			var defs []string
			for j := range postures {
				defs = append(defs, fmt.Sprintf(`"p%d": ["os.version >= 12", "agent.version >= 1.0.0", "disk.encrypted", "cpu.cores >= %d"]`, j, 1+j%4))
			}
			text := teamPolicy(teams, false)
			if postures > 0 {
				for k := range teams {
					text = strings.Replace(text, fmt.Sprintf(`"dst": ["tag:t%d-server"], "proto": "tcp", "ports": ["22", "443"]}`, k),
						fmt.Sprintf(`"dst": ["tag:t%d-server"], "proto": "tcp", "ports": ["22", "443"], "srcPosture": ["p%d"]}`, k, k%postures), 1)
				}
				text = strings.Replace(text, `{"tags":`, `{"postures": {`+strings.Join(defs, ",")+`}, "tags":`, 1)
			}
			if _, ch, _, err := f.db.SetPolicy(ctx, store.Actor{}, text, ""); err != nil {
				b.Fatal(err)
			} else {
				f.sync(b, ch)
			}
			yes := true
			facts := func(osVersion string) *wire.Facts {
				return &wire.Facts{OS: wire.OSFacts{Name: "debian", Version: osVersion}, CPU: wire.CPUFacts{Cores: 4}, Agent: "1.0.0",
					Disks: []wire.DiskFacts{{Mount: "/", SizeBytes: 100, Encrypted: &yes}}}
			}
			report := func(who []string, osVersion string) {
				batch := make([]store.HealthEntry, 0, len(who))
				for _, id := range who {
					batch = append(batch, store.HealthEntry{MachineID: id, ReceivedAt: time.Now(), Report: wire.HealthReport{AgentVersion: "1.0.0", Facts: facts(osVersion)}})
				}
				changes, err := f.db.SaveHealth(ctx, batch, 10)
				if err != nil {
					b.Fatal(err)
				}
				if len(changes) > 0 {
					f.sync(b, changes[len(changes)-1])
				}
			}
			for i := 0; i < n; i += 2000 { // every machine's first facts, as agents send them at start
				report(ids[i:min(i+2000, n)], "12.7")
			}
			var moving []string
			for i, id := range ids {
				if i%200 < 20 { // 20 laptops per team
					moving = append(moving, id)
				}
			}
			if len(moving) != movers {
				b.Fatalf("%d movers", len(moving))
			}
			for _, id := range ids {
				f.hub.Reply(id, 0)
			}
			b.ResetTimer()
			bytes := 0
			for i := range b.N {
				v := f.hub.Version()
				report(moving, []string{"11", "12.7"}[i%2])
				for _, id := range ids {
					r, _ := f.hub.Reply(id, v)
					n, _ := r.WriteTo(io.Discard)
					bytes += int(n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/burst")
			b.ReportMetric(float64(bytes)/float64(b.N*n), "bytes/answer")
		})
	}
}
