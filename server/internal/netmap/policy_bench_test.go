package netmap

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

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
