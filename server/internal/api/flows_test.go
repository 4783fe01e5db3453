package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestFlowReports: an agent's gzip-compressed records are stored as its
// and found by the admin's filters, paged; a report with one record the
// machine took no part in is refused whole; a gzip bomb stops at the
// bound; a bad filter is refused with its name.
func TestFlowReports(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	a, ra := e.agent(t, tok, "web-1")
	_, rb := e.agent(t, tok, "db-1")
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var recs []wire.FlowRecord
	for i := range 25 {
		recs = append(recs, wire.FlowRecord{Start: t0, End: t0.Add(time.Second), Proto: "tcp", Src: ra.IPv4, Dst: rb.IPv4, SrcPort: uint16(40000 + i), DstPort: 5432,
			SrcMachine: ra.MachineID, DstMachine: rb.MachineID, TxPackets: 3, TxBytes: 180, RxPackets: 2, RxBytes: 120, Path: wire.PathDirect, Verdict: wire.FlowAllowed})
	}
	recs = append(recs, wire.FlowRecord{Start: t0, End: t0, Proto: "tcp", Src: rb.IPv4, Dst: ra.IPv4, DstPort: 22, TxPackets: 1, TxBytes: 60, Verdict: wire.FlowDenied, Rule: "no rule allows it"})
	if err := a.ReportFlows(ctx, wire.FlowReport{Records: recs}); err != nil {
		t.Fatal(err)
	}
	page, err := e.admin.Flows(ctx, client.FlowFilter{Machine: "db-1", Limit: 10})
	if err != nil || len(page.Records) != 10 || page.Next == "" || page.Records[0].Reporter != ra.MachineID || page.Records[1].DstPort != 5432 || page.Records[0].SrcMachine != rb.MachineID {
		t.Fatalf("first page: %+v %v", page, err)
	}
	all := len(page.Records)
	for page.Next != "" {
		if page, err = e.admin.Flows(ctx, client.FlowFilter{Machine: "db-1", Limit: 10, Cursor: page.Next}); err != nil {
			t.Fatal(err)
		}
		all += len(page.Records)
	}
	if all != 26 {
		t.Fatalf("paged through %d records, want 26", all)
	}
	denied, err := e.admin.Flows(ctx, client.FlowFilter{Verdict: wire.FlowDenied, Since: t0.Add(-time.Minute)})
	if err != nil || len(denied.Records) != 1 || denied.Records[0].Rule != "no rule allows it" {
		t.Fatalf("denied: %+v %v", denied, err)
	}

	forged := append([]wire.FlowRecord{}, recs[0], recs[0])
	forged[1].Src, forged[1].Dst = rb.IPv4, "100.64.99.99" // db-1 and a stranger: web-1 is neither
	if err := a.ReportFlows(ctx, wire.FlowReport{Records: forged}); code(err) != wire.CodeForbidden || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("a forged record: %v", err)
	}
	if page, _ := e.admin.Flows(ctx, client.FlowFilter{Limit: 1000}); len(page.Records) != 26 {
		t.Fatalf("the report with a forged record was partly stored: %d records", len(page.Records))
	}

	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"records": [`))
	zw.Write(bytes.Repeat([]byte(" "), 64<<20))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.url+wire.PathAgentFlows, &bomb)
	req.Header.Set("Authorization", "Bearer "+ra.Credential)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a gzip bomb (%d bytes compressed): HTTP %d", bomb.Len(), resp.StatusCode)
	}
	for _, f := range []client.FlowFilter{{Verdict: "maybe"}, {Addr: "db-1"}, {Cursor: "-3"}, {Machine: "ghost"}} {
		if _, err := e.admin.Flows(ctx, f); err == nil {
			t.Errorf("filter %+v accepted", f)
		}
	}
}

// A subnet router may report the flows it forwards into its approved
// routes — and only those: not a LAN it does not route, not a flow
// between two other machines.
func TestRouterFlowReports(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	gw, rgw := e.agent(t, tok, "gw-1")
	_, ra := e.agent(t, tok, "laptop-1")
	_, rb := e.agent(t, tok, "laptop-2")
	if _, err := gw.AdvertiseRoutes(ctx, wire.RoutesAdvert{Routes: []string{"10.20.0.0/16"}, ExitNode: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.DecideRoutes(ctx, "gw-1", wire.RouteDecision{Routes: []string{"10.20.0.0/16"}}, true); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute)
	rec := func(src, dst string) wire.FlowRecord {
		return wire.FlowRecord{Start: t0, End: t0, Proto: "tcp", Src: src, Dst: dst, DstPort: 443, TxPackets: 1, TxBytes: 60, Verdict: wire.FlowAllowed}
	}
	if err := gw.ReportFlows(ctx, wire.FlowReport{Records: []wire.FlowRecord{rec(ra.IPv4, "10.20.3.4")}}); err != nil {
		t.Fatalf("a flow forwarded into the approved route: %v", err)
	}
	page, err := e.admin.Flows(ctx, client.FlowFilter{Machine: "laptop-1"})
	if err != nil || len(page.Records) != 1 || page.Records[0].Reporter != rgw.MachineID || page.Records[0].SrcMachine != ra.MachineID || page.Records[0].DstMachine != "" {
		t.Fatalf("the forwarded record: %+v %v", page.Records, err)
	}
	refused := func(when string, recs map[string]wire.FlowRecord) {
		t.Helper()
		for name, r := range recs {
			if err := gw.ReportFlows(ctx, wire.FlowReport{Records: []wire.FlowRecord{r}}); code(err) != wire.CodeForbidden {
				t.Errorf("%s, %s: %v", when, name, err)
			}
		}
	}
	refused("a subnet router", map[string]wire.FlowRecord{
		"a LAN it does not route":    rec(ra.IPv4, "10.30.0.1"),
		"between two other machines": rec(ra.IPv4, rb.IPv4),
		"the internet":               rec(ra.IPv4, "198.51.100.7"),
	})
	// As an exit node it routes everything, the overlay's addresses too:
	// the internet, yes; another machine, still no.
	if _, err := e.admin.DecideRoutes(ctx, "gw-1", wire.RouteDecision{ExitNode: true}, true); err != nil {
		t.Fatal(err)
	}
	if err := gw.ReportFlows(ctx, wire.FlowReport{Records: []wire.FlowRecord{rec(ra.IPv4, "198.51.100.7")}}); err != nil {
		t.Fatalf("an exit node's flow to the internet: %v", err)
	}
	refused("an exit node", map[string]wire.FlowRecord{"between two other machines": rec(ra.IPv4, rb.IPv4)})
}
