package fleet

import (
	"context"
	"net/netip"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/routing"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// ReportFlows stores the flow records machine m reports. Every record is
// checked (fields, and that m is one of its ends) before any is stored:
// a report with one forged record is refused whole, so that a machine
// cannot slip flows it took no part in among its own.
func (s *Service) ReportFlows(ctx context.Context, m wire.Machine, rep wire.FlowReport) error {
	if len(rep.Records) > wire.MaxFlowRecords {
		return wire.Errorf(wire.CodeInvalidArgument, "%d flow records in one report; at most %d", len(rep.Records), wire.MaxFlowRecords)
	}
	var mine []netip.Addr
	for _, a := range []string{m.IPv4, m.IPv6} {
		if ip, err := netip.ParseAddr(a); err == nil {
			mine = append(mine, ip)
		}
	}
	// What it routes: it may report the flows it forwards there.
	pol, _ := s.hub.Policy()
	serves, exit := routing.Enabled(m, pol)
	if exit {
		serves = append(serves, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
	}
	for i, r := range rep.Records {
		// Addresses in their canonical form, as machines hold them.
		if a, err := netip.ParseAddr(r.Src); err == nil {
			rep.Records[i].Src = a.String()
		}
		if a, err := netip.ParseAddr(r.Dst); err == nil {
			rep.Records[i].Dst = a.String()
		}
		if err := r.ValidateFrom(mine, serves); err != nil {
			return wire.Errorf(wire.ErrorCode(err), "record %d: %v", i+1, err)
		}
	}
	// The machines at each end, as the server knows them: an agent's
	// naming of its peers is not trusted.
	seen := map[string]bool{}
	var addrs []string
	for _, r := range rep.Records {
		for _, a := range []string{r.Src, r.Dst} {
			if !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
	}
	ids, err := s.db.MachineIDsByAddr(ctx, addrs)
	if err != nil {
		return err
	}
	for i := range rep.Records {
		r := &rep.Records[i]
		r.SrcMachine, r.DstMachine = ids[r.Src], ids[r.Dst]
		if r.SrcMachine != m.ID && r.DstMachine != m.ID && r.DstMachine != "" {
			// Forwarded, yet to a machine: an exit node's default routes
			// cover the overlay too, and a router must not write flows
			// between other machines.
			return wire.Errorf(wire.CodeForbidden, "record %d: flow %s → %s: the reporting machine is neither end", i+1, r.Src, r.Dst)
		}
	}
	if rep.Dropped > 0 {
		s.log.Warn("an agent dropped flow records (over its interval cap, or queued too long)", "machine", m.ID, "dropped", rep.Dropped)
	}
	if err := s.db.InsertFlows(ctx, m.ID, rep.Records); err != nil {
		return err
	}
	if s.cfg.FlowExport != nil {
		for i := range rep.Records {
			rep.Records[i].Reporter = m.ID
		}
		if err := s.cfg.FlowExport.Export(ctx, rep.Records); err != nil {
			s.log.Warn("exporting flow records (they are stored)", "err", err)
		}
	}
	return nil
}

// FlowQuery is what an admin asks of the flow records.
type FlowQuery struct {
	Machine      string // name or ID, at either end
	Addr         string
	Port         uint16
	Verdict      string
	Since, Until time.Time
	Cursor       int64
	Limit        int
}

// Flows returns a page of flow records, newest first, and the cursor of
// the next page (0: the last page).
func (s *Service) Flows(ctx context.Context, q FlowQuery) ([]wire.FlowRecord, int64, error) {
	sq := store.FlowQuery{Port: q.Port, Verdict: q.Verdict, Since: q.Since, Until: q.Until, Before: q.Cursor, Limit: q.Limit}
	switch q.Verdict {
	case "", wire.FlowAllowed, wire.FlowDenied:
	default:
		return nil, 0, wire.Errorf(wire.CodeInvalidArgument, "verdict %q: allowed or denied", q.Verdict)
	}
	if q.Addr != "" {
		a, err := netip.ParseAddr(q.Addr)
		if err != nil {
			return nil, 0, wire.Errorf(wire.CodeInvalidArgument, "addr %q is not an address", q.Addr)
		}
		sq.Addr = a.String()
	}
	if q.Machine != "" {
		m, err := s.db.Machine(ctx, q.Machine)
		if err != nil {
			return nil, 0, err
		}
		sq.Machine = m.ID
	}
	return s.db.Flows(ctx, sq)
}

// PruneFlows applies the retention: records older than keepFor, then the
// oldest beyond keep.
func (s *Service) PruneFlows(ctx context.Context, now time.Time, keepFor time.Duration, keep int64) (int64, error) {
	return s.db.PruneFlows(ctx, now.Add(-keepFor), keep)
}
