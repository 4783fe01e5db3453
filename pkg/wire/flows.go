package wire

import (
	"net/netip"
	"time"
)

// Flow logs: agents report, per interval, a record of each connection their
// packet filter saw (and of each refused attempt); the server keeps them
// in their own table, never in the audit log. Records carry overlay
// addresses, ports and counts only, never payload.
const (
	// PathAgentFlows: POST a FlowReport (gzip-encoded body allowed).
	PathAgentFlows = "/api/v1/agent/flows"
	// PathFlows: GET FlowsResponse, filtered by machine, addr, port,
	// verdict, since, until; paged by cursor.
	PathFlows = "/api/v1/flows"
)

// Flow verdicts and paths.
const (
	FlowAllowed = "allowed"
	FlowDenied  = "denied"

	PathDirect    = "direct"
	PathPeerRelay = "peer-relay"
	PathRelayed   = "relay"
)

// Bounds of a flow report.
const (
	MaxFlowRecords = 10000 // per report
	MaxFlowRuleLen = 256
)

// FlowLogs is what the policy's "flowLogs" asks of a machine (Self): to
// log flows, sampling this share of them, every interval.
type FlowLogs struct {
	Sample          float64 `json:"sample"`           // 0 < sample ≤ 1
	IntervalSeconds int     `json:"interval_seconds"` // default 60
}

// FlowRecord is one flow (or refused attempt) in one interval, from the
// point of view of the machine that reports it, which is one of its ends.
// Src opened the connection; Tx counts what Src sent, Rx what it got back.
type FlowRecord struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Proto      string    `json:"proto"` // tcp, udp, icmp, or the IP protocol number
	Src        string    `json:"src"`   // overlay address
	Dst        string    `json:"dst"`
	SrcPort    uint16    `json:"src_port,omitempty"`
	DstPort    uint16    `json:"dst_port,omitempty"`
	SrcMachine string    `json:"src_machine,omitempty"` // machine ID, when a peer's or the reporter's
	DstMachine string    `json:"dst_machine,omitempty"`
	TxPackets  uint64    `json:"tx_packets"`
	TxBytes    uint64    `json:"tx_bytes"`
	RxPackets  uint64    `json:"rx_packets"`
	RxBytes    uint64    `json:"rx_bytes"`
	Path       string    `json:"path,omitempty"` // direct, peer-relay, relay
	Verdict    string    `json:"verdict"`        // allowed, denied
	// Rule is, for an allowed flow the peer opened, the rule that let it
	// in; for a denied attempt, why ("no rule allows it").
	Rule string `json:"rule,omitempty"`
	// Reporter is the machine that sent the record (set by the server).
	Reporter string `json:"reporter,omitempty"`
	ID       int64  `json:"id,omitempty"` // set by the server
}

// FlowReport is what an agent sends: records, and how many it had to drop
// (over the per-interval cap, or from a queue that waited too long).
type FlowReport struct {
	Records []FlowRecord `json:"records"`
	Dropped uint64       `json:"dropped,omitempty"`
}

// FlowsResponse is a page of flow records, newest first; Next is the
// cursor of the following page ("" at the end).
type FlowsResponse struct {
	Records []FlowRecord `json:"records"`
	Next    string       `json:"next,omitempty"`
}

// Validate checks a record an agent sent, field by field. mine are the
// reporting machine's overlay addresses: it must be one end of every
// record, so that a machine cannot write flows it took no part in.
func (r FlowRecord) Validate(mine []netip.Addr) error { return r.ValidateFrom(mine, nil) }

// ValidateFrom is Validate for a machine that also routes serves (subnet
// routes in force; an exit node's default routes): it may report the
// flows it forwards into them, whose destination is not its own. (That
// the destination is no machine's is the server's to check.)
func (r FlowRecord) ValidateFrom(mine []netip.Addr, serves []netip.Prefix) error {
	src, err1 := netip.ParseAddr(r.Src)
	dst, err2 := netip.ParseAddr(r.Dst)
	if err1 != nil || err2 != nil {
		return Errorf(CodeInvalidArgument, "flow: src and dst are addresses (%q, %q)", clipped(r.Src), clipped(r.Dst))
	}
	ours := false
	for _, a := range mine {
		ours = ours || a == src || a == dst
	}
	for _, p := range serves {
		ours = ours || p.Contains(dst)
	}
	if !ours {
		return Errorf(CodeForbidden, "flow %s → %s: the reporting machine is neither end, nor routes to %s", src, dst, dst)
	}
	switch r.Proto {
	case "tcp", "udp", "icmp", "ipv6-icmp":
	default:
		return Errorf(CodeInvalidArgument, "flow: proto %q", clipped(r.Proto))
	}
	switch r.Path {
	case "", PathDirect, PathPeerRelay, PathRelayed:
	default:
		return Errorf(CodeInvalidArgument, "flow: path %q", clipped(r.Path))
	}
	switch r.Verdict {
	case FlowAllowed, FlowDenied:
	default:
		return Errorf(CodeInvalidArgument, "flow: verdict %q", clipped(r.Verdict))
	}
	if r.Start.IsZero() || r.End.Before(r.Start) || r.End.Sub(r.Start) > 24*time.Hour {
		return Errorf(CodeInvalidArgument, "flow: start %v and end %v", r.Start, r.End)
	}
	for _, f := range []struct{ name, val string }{{"flow.src_machine", r.SrcMachine}, {"flow.dst_machine", r.DstMachine}} {
		if err := ValidateFact(f.name, f.val, 64, false); err != nil {
			return err
		}
	}
	if err := ValidateFact("flow.rule", r.Rule, MaxFlowRuleLen, false); err != nil {
		return err
	}
	const maxCount = 1 << 50
	if r.TxBytes > maxCount || r.RxBytes > maxCount || r.TxPackets > maxCount || r.RxPackets > maxCount {
		return Errorf(CodeInvalidArgument, "flow: counts out of range")
	}
	return nil
}

func clipped(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
