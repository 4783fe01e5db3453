package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Flow records are stored per report, found by machine, address, port,
// verdict and time, paged newest first, and pruned by age and by count.
func TestFlowRecords(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var recs []wire.FlowRecord
	for i := range 30 {
		r := wire.FlowRecord{Start: t0.Add(time.Duration(i) * time.Minute), End: t0.Add(time.Duration(i)*time.Minute + 30*time.Second),
			Proto: "tcp", Src: "100.64.0.1", Dst: "100.64.0.2", SrcPort: uint16(40000 + i), DstPort: 80,
			SrcMachine: "m_a", DstMachine: "m_b", TxPackets: 10, TxBytes: uint64(1000 * i), RxPackets: 10, RxBytes: 5000, Path: wire.PathDirect, Verdict: wire.FlowAllowed}
		if i%10 == 9 {
			r.Src, r.SrcMachine, r.Dst, r.DstMachine, r.DstPort, r.Verdict, r.Rule = "100.64.0.3", "m_c", "100.64.0.1", "m_a", 22, wire.FlowDenied, "no rule allows it"
		}
		recs = append(recs, r)
	}
	if err := db.InsertFlows(ctx, "m_a", recs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    FlowQuery
		want int
	}{
		{"everything", FlowQuery{Limit: 1000}, 30},
		{"a machine at either end", FlowQuery{Machine: "m_c", Limit: 1000}, 3},
		{"an address at either end", FlowQuery{Addr: "100.64.0.2", Limit: 1000}, 27},
		{"a port", FlowQuery{Port: 22, Limit: 1000}, 3},
		{"denied", FlowQuery{Verdict: wire.FlowDenied, Limit: 1000}, 3},
		{"a time range", FlowQuery{Since: t0.Add(10 * time.Minute), Until: t0.Add(20 * time.Minute), Limit: 1000}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := db.Flows(ctx, tc.q)
			if err != nil || len(got) != tc.want {
				t.Fatalf("%d records (%v), want %d", len(got), err, tc.want)
			}
		})
	}
	top, err := db.TopTalkers(ctx, FlowQuery{}, 5)
	if err != nil || len(top) != 1 || top[0].Src != "m_a" || top[0].Dst != "m_b" || top[0].Flows != 27 || top[0].Bytes <= 27*5000 {
		t.Fatalf("top talkers: %+v %v", top, err)
	}
	var pages [][]wire.FlowRecord
	for cursor := int64(0); ; {
		page, next, err := db.Flows(ctx, FlowQuery{Limit: 12, Before: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
		if next == 0 {
			break
		}
		cursor = next
	}
	if len(pages) != 3 || len(pages[2]) != 6 || pages[0][0].SrcPort != 40029 || pages[0][0].Reporter != "m_a" || pages[0][0].TxBytes != 29000 || !pages[0][0].Start.Equal(t0.Add(29*time.Minute)) {
		t.Fatalf("pages %d, first %+v", len(pages), pages[0][0])
	}
	n, err := db.PruneFlows(ctx, t0.Add(10*time.Minute), 0)
	if err != nil || n != 10 {
		t.Fatalf("pruned by age %d, %v", n, err)
	}
	n, err = db.PruneFlows(ctx, t0, 5)
	if c, _ := db.FlowCount(ctx); err != nil || n != 15 || c != 5 {
		t.Fatalf("pruned by count %d (%v), %d left", n, err, c)
	}
	got, _, _ := db.Flows(ctx, FlowQuery{Limit: 1000})
	if fmt.Sprint(got[len(got)-1].SrcPort) != "40025" {
		t.Fatalf("the oldest were not the ones pruned: %d", got[len(got)-1].SrcPort)
	}
}
