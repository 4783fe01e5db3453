package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// flowRecordsFor makes n records of a 1,000-machine fleet spread over the
// 30 days before end, as agents report them.
func flowRecordsFor(rng *rand.Rand, n int, end time.Time) []wire.FlowRecord {
	out := make([]wire.FlowRecord, n)
	for i := range out {
		src, dst := rng.IntN(1000), rng.IntN(1000)
		at := end.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		out[i] = wire.FlowRecord{Start: at.Add(-30 * time.Second), End: at, Proto: "tcp",
			Src: fmt.Sprintf("100.64.%d.%d", src/250, 1+src%250), Dst: fmt.Sprintf("100.64.%d.%d", dst/250, 1+dst%250),
			SrcPort: uint16(30000 + rng.IntN(30000)), DstPort: uint16([]int{22, 80, 443, 5432}[rng.IntN(4)]),
			SrcMachine: fmt.Sprintf("m_%05d", src), DstMachine: fmt.Sprintf("m_%05d", dst),
			TxPackets: uint64(rng.IntN(1000)), TxBytes: uint64(rng.IntN(1 << 20)), RxPackets: uint64(rng.IntN(1000)), RxBytes: uint64(rng.IntN(1 << 24)),
			Path: wire.PathDirect, Verdict: wire.FlowAllowed, Rule: "from tag:laptop: tcp ports 22,443"}
	}
	return out
}

// BenchmarkFlowInserts measures storing agents' reports on SQLite: one op
// is one report of 100 records (a busy machine's minute), in its own
// transaction as the API stores it. It reports records per second and
// the database's growth per million records.
//
//	go test -run '^$' -bench FlowInserts -benchtime 2000x ./server/internal/store/
func BenchmarkFlowInserts(b *testing.B) {
	path := filepath.Join(b.TempDir(), "flows.db")
	db, err := Open(context.Background(), "sqlite://"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	reports := make([][]wire.FlowRecord, 64)
	for i := range reports {
		reports[i] = flowRecordsFor(rng, 100, time.Now())
	}
	size := func() int64 {
		var n int64
		for _, f := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(f); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	before := size()
	b.ResetTimer()
	for i := range b.N {
		if err := db.InsertFlows(ctx, "m_00001", reports[i%len(reports)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(size()-before)/float64(b.N*100)*1e6/(1<<20), "MiB/million-records")
}

// BenchmarkFlowQuery measures the Flows page's first query, a machine's
// last day, newest 100 first, at WIREFLEET_FLOW_RECORDS records (default
// 1,000,000; the figure is at 10,000,000) on SQLite.
//
//	WIREFLEET_FLOW_RECORDS=10000000 go test -run '^$' -bench FlowQuery -benchtime 50x -timeout 30m ./server/internal/store/
func BenchmarkFlowQuery(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("WIREFLEET_FLOW_RECORDS")); err == nil && v > 0 {
		n = v
	}
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "flows.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Now()
	t0 := time.Now()
	for done := 0; done < n; done += 10000 {
		if err := db.InsertFlows(ctx, "m_00001", flowRecordsFor(rng, min(10000, n-done), now)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d records stored in %v", n, time.Since(t0).Round(time.Second))
	b.ResetTimer()
	for i := range b.N {
		recs, _, err := db.Flows(ctx, FlowQuery{Machine: fmt.Sprintf("m_%05d", i%1000), Since: now.Add(-24 * time.Hour), Limit: 100})
		if err != nil || len(recs) == 0 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
	t1 := time.Now()
	top, err := db.TopTalkers(ctx, FlowQuery{Machine: "m_00007", Since: now.Add(-24 * time.Hour)}, 10)
	if err != nil || len(top) == 0 {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(t1).Milliseconds()), "top-talkers-ms")
}
