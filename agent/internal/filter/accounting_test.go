package filter

import (
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Flow accounting counts each flow's packets and bytes each way per
// collection, the rule that let an inbound flow in, refused attempts per
// source and port, flows that ended between collections, and nothing
// while it is off.
func TestAccounting(t *testing.T) {
	f, clock := newFilter(t)
	ssh := tcp(laptop, 40000, me, 22)
	f.Inbound(ssh) // before accounting: not counted, ever
	f.SetAccounting(true)
	f.Outbound(tcp(me, 22, laptop, 40000))
	if flows, _, _ := f.Collect(100); len(flows) != 0 {
		t.Fatalf("a flow opened while accounting was off was counted: %v", flows)
	}
	dbConn := tcp(web, 50000, me, 5432)
	for range 3 {
		f.Inbound(dbConn)
	}
	f.Outbound(tcp(me, 5432, "100.64.0.3", 50000))
	f.Outbound(tcp(me, 41000, laptop, 443)) // this machine opens one
	f.Inbound(tcp(laptop, 443, me, 41000))
	for range 5 {
		f.Inbound(tcp(stranger, 1234, me, 22)) // refused
	}
	f.Inbound(udp(laptop, 999, me, 53)) // refused too
	flows, denials, overflow := f.Collect(100)
	if overflow != 0 || len(flows) != 2 || len(denials) != 2 {
		t.Fatalf("flows %v, denials %+v, overflow %d", flows, denials, overflow)
	}
	for _, st := range flows {
		switch {
		case st.Inbound && st.LPort == 5432:
			if st.InPackets != 3 || st.InBytes != uint64(3*len(dbConn)) || st.OutPackets != 1 || st.Rule == "" {
				t.Errorf("the inbound flow: %+v", st)
			}
		case !st.Inbound && st.RPort == 443:
			if st.OutPackets != 1 || st.InPackets != 1 || st.Rule != "" {
				t.Errorf("the outbound flow: %+v", st)
			}
		default:
			t.Errorf("unexpected flow %v", st)
		}
	}
	for _, d := range denials {
		if d.Src.String() == stranger && (d.Packets != 5 || d.Port != 22 || d.Why != "no rule allows it") {
			t.Errorf("refused ssh: %+v", d)
		}
	}
	// The next interval holds only what happened since.
	f.Inbound(dbConn)
	flows, denials, _ = f.Collect(100)
	if len(flows) != 1 || flows[0].InPackets != 1 || flows[0].OutPackets != 0 || len(denials) != 0 {
		t.Fatalf("second interval: %v %v", flows, denials)
	}
	// A flow that ends before the collection still reports its counts.
	f.Inbound(dbConn)
	*clock = clock.Add(TCPIdle + time.Second)
	if f.Inbound(tcp(web, 50000, me, 5433)) { // refused, and meanwhile the idle flow goes…
		t.Fatal("5433 allowed")
	}
	f.Update(&wire.Filter{Policy: 9, Rules: nil}, peers, nil) // …when rules change
	flows, _, _ = f.Collect(100)
	if len(flows) != 1 || !flows[0].Closed || flows[0].InPackets != 1 {
		t.Fatalf("the closed flow: %v", flows)
	}
	// Bounds: more flows than max wait for the next collection; more
	// refused sources than MaxDenials are overflow.
	f.Update(rules, peers, nil)
	for i := range 10 {
		f.Outbound(tcp(me, uint16(20000+i), laptop, 443))
	}
	flows, _, overflow = f.Collect(4)
	if len(flows) != 4 || overflow != 6 {
		t.Fatalf("capped: %d flows, overflow %d", len(flows), overflow)
	}
	if flows, _, _ = f.Collect(100); len(flows) != 6 {
		t.Fatalf("the rest, next time: %d", len(flows))
	}
	for i := range MaxDenials + 10 {
		f.Inbound(tcp(stranger, uint16(i), me, uint16(1000+i)))
	}
	_, denials, overflow = f.Collect(100)
	if len(denials) != MaxDenials || overflow != 10 {
		t.Fatalf("denials %d, overflow %d", len(denials), overflow)
	}
	f.SetAccounting(false)
	f.Inbound(tcp(stranger, 1, me, 1))
	if _, denials, _ = f.Collect(100); len(denials) != 0 {
		t.Fatal("refusals counted with accounting off")
	}
}
