package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// ofrepBenchEnv is a server with 20 flags (half with rules) and a client
// that may read them all.
func ofrepBenchEnv(b *testing.B) (*env, string) {
	e := newEnv(b, Config{})
	ctx := context.Background()
	pct := 30.0
	for i := range 20 {
		f := wire.Flag{Key: fmt.Sprintf("flag-%02d", i), Type: "boolean", Enabled: true, Default: []byte("false")}
		if i%2 == 0 {
			f.Rules = []wire.FlagRule{{Tags: []string{"env:prod"}, Value: []byte("true")}, {Percentage: &pct, Value: []byte("true")}}
		}
		if _, err := e.admin.SetFlag(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	c, err := e.admin.CreateFlagClient(ctx, wire.CreateFlagClientRequest{Name: "bench", RatePerMinute: 100_000_000})
	if err != nil {
		b.Fatal(err)
	}
	return e, c.Secret
}

// BenchmarkOFREPServer measures the server's side of client evaluation in
// process (handler, no network): authentication from the cache, the rate
// bucket, the flag snapshot, evaluation, encoding and usage counting.
// One op is one request; evals/s counts flags evaluated.
func BenchmarkOFREPServer(b *testing.B) {
	e, key := ofrepBenchEnv(b)
	h := e.api.Handler()
	for _, tc := range []struct {
		name, path string
		flags      int
		noUsage    bool
	}{
		{"single", "/ofrep/v1/evaluate/flags/flag-04", 1, false},
		{"bulk20", "/ofrep/v1/evaluate/flags", 20, false},
		{"bulk20/uncounted", "/ofrep/v1/evaluate/flags", 20, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e.api.ofrep.noUsage = tc.noUsage
			body := `{"context":{"targetingKey":"user-1","tags":["env:prod"]}}`
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+key)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N*tc.flags)/time.Since(start).Seconds(), "evals/s")
		})
	}
}

// BenchmarkOFREPAtRate sends single evaluations over real HTTP (loopback,
// keep-alive) at a fixed rate for 5 s — a ticker hands out send times to
// 64 workers, each with its own connection, and each request's latency
// is counted from its send time (so a late worker shows as latency) —
// and reports the percentiles: run with -benchtime 1x.
func BenchmarkOFREPAtRate(b *testing.B) {
	e, key := ofrepBenchEnv(b)
	for _, rate := range []int{5000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			const dur, workers = 5 * time.Second, 64
			n := rate * int(dur/time.Second)
			due := make(chan time.Time, n)
			lat := make([]time.Duration, 0, n)
			var mu sync.Mutex
			fails := 0
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
					var mine []time.Duration
					bad := 0
					for at := range due {
						if d := time.Until(at); d > 0 {
							time.Sleep(d)
						}
						req, _ := http.NewRequest(http.MethodPost, e.url+"/ofrep/v1/evaluate/flags/flag-04", strings.NewReader(`{"context":{"targetingKey":"u"}}`))
						req.Header.Set("Authorization", "Bearer "+key)
						resp, err := hc.Do(req)
						if err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
						}
						if err != nil || resp.StatusCode != http.StatusOK {
							bad++
						}
						mine = append(mine, time.Since(at))
					}
					mu.Lock()
					lat, fails = append(lat, mine...), fails+bad
					mu.Unlock()
				}()
			}
			start := time.Now()
			for i := range n {
				due <- start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			}
			close(due)
			wg.Wait()
			took := time.Since(start)
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(n)/took.Seconds(), "req/s")
			b.ReportMetric(float64(lat[n/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[n*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(fails), "failed")
		})
	}
}

// BenchmarkFlagPayload reports what an agent downloads with 500 flags in
// 20 teams: the whole set (what every agent received before flags were
// scoped, and still receives when no flag has a team) and a team's share.
func BenchmarkFlagPayload(b *testing.B) {
	e := newEnv(b, Config{})
	ctx := context.Background()
	for t := range 20 {
		if _, err := e.admin.PutTeam(ctx, fmt.Sprintf("team-%02d", t), wire.PutTeamRequest{Tags: []string{fmt.Sprintf("t%02d", t)}}); err != nil {
			b.Fatal(err)
		}
	}
	pct := 25.0
	set := func(scoped bool) {
		for i := range 500 {
			f := wire.Flag{Key: fmt.Sprintf("flag-%03d", i), Type: "boolean", Enabled: true, Default: []byte("false"), Description: "a flag of the benchmark",
				Rules: []wire.FlagRule{{Tags: []string{"env:prod"}, Value: []byte("true")}, {Percentage: &pct, Value: []byte("true")}}}
			if scoped {
				f.Team = fmt.Sprintf("team-%02d", i%20)
			}
			if _, err := e.admin.SetFlag(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	}
	_, en := e.agent(b, e.token(b, wire.CreateTokenRequest{Tags: []string{"t03"}}), "payload")
	size := func() int {
		req, _ := http.NewRequest(http.MethodGet, e.url+wire.PathAgentFlags, nil)
		req.Header.Set("Authorization", "Bearer "+en.Credential)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return int(n)
	}
	set(false)
	whole := size()
	set(true)
	scoped := size()
	for range b.N {
		_ = size()
	}
	b.ReportMetric(float64(whole), "bytes-all-flags")
	b.ReportMetric(float64(scoped), "bytes-own-team")
}
