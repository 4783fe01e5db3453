package netmap

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// BenchmarkRouteChange measures what a route change costs the server in
// a fleet of n machines of which 200 routers carry 5 subnets each (1,000
// routes), without a policy, so every machine may use every route: one
// op is one route rejected or approved again, answered to all n machines
// (each gets its Self with the route table again), on one core.
//
//	go test -run '^$' -bench RouteChange -benchtime 4x ./server/internal/netmap/
func BenchmarkRouteChange(b *testing.B) {
	const routers, perRouter = 200, 5
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("machines=%d,routes=%d", n, routers*perRouter), func(b *testing.B) {
			f := newFixture(b, Options{})
			ctx := context.Background()
			var ids, gws []string
			for i := range n {
				m, ch, err := f.db.Enroll(ctx, store.Actor{}, store.Enrollment{TokenHash: f.tok,
					CredentialHash: fmt.Sprintf("c%d-%d", i, time.Now().UnixNano()), PublicKey: key(), Hostname: "h", Name: fmt.Sprintf("m%d", i), OS: "linux", Arch: "amd64", AgentVersion: "1"})
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, m.ID)
				if i < routers {
					var adv []string
					for k := range perRouter {
						adv = append(adv, fmt.Sprintf("10.%d.%d.0/24", i, k))
					}
					if _, _, _, err := f.db.SetAdvertisedRoutes(ctx, store.Actor{}, m.ID, adv, ""); err != nil {
						b.Fatal(err)
					}
					if _, ch, err = f.db.DecideRoutes(ctx, store.Actor{}, m.ID, wire.RouteDecision{}, true); err != nil {
						b.Fatal(err)
					}
					gws = append(gws, m.ID)
				}
				if i == n-1 {
					f.sync(b, ch)
				}
			}
			for _, id := range ids {
				f.hub.Reply(id, 0)
			}
			b.ResetTimer()
			bytes := 0
			for i := range b.N {
				b.StopTimer()
				v := f.hub.Version()
				_, ch, err := f.db.DecideRoutes(ctx, store.Actor{}, gws[i%len(gws)], wire.RouteDecision{Routes: []string{fmt.Sprintf("10.%d.0.0/24", i%len(gws))}}, i%2 == 1)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				f.sync(b, ch)
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
