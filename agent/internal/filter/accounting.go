package filter

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Flow accounting, for flow logs: while it is on, every flow the filter
// records counts its packets and bytes each way, and every refused
// connection attempt is counted per (source, destination, protocol,
// port). Collect hands out what happened since the previous collection.
// Off (the default), the packet path pays one atomic load per flow
// creation and a nil check per packet.

// MaxDenials bounds the refused attempts kept between two collections,
// and MaxClosed the flows that ended meanwhile; beyond them, attempts
// and flows are counted as overflow, never kept.
const (
	MaxDenials = 4096
	MaxClosed  = 4096
)

// counter is one direction's counts, on a cache line of its own: the two
// directions of a busy flow are counted by different goroutines.
type counter struct {
	packets, bytes atomic.Uint64
	_              [48]byte
}

// flowAcct is a flow's accounting: when it began, the rule that let it
// in (inbound), its counters, and what was already collected (written by
// the collector only, under accMu).
type flowAcct struct {
	opened  int64
	rule    string
	out, in counter
	sent    [4]uint64 // out packets, out bytes, in packets, in bytes already collected
}

type denyKey struct {
	proto    uint8
	src, dst netip.Addr
	port     uint16
}

type denial struct {
	first, last    int64
	packets, bytes uint64
	why            string
}

type acctState struct {
	on       atomic.Bool
	mu       sync.Mutex // the collector, the closed list and the denials
	closed   []FlowStat
	denials  map[denyKey]*denial
	overflow uint64
}

// SetAccounting turns flow accounting on or off. Flows opened while it
// was off are not counted.
func (f *Filter) SetAccounting(on bool) { f.acct.on.Store(on) }

func (f *Filter) newAcct(now int64, rule string) *flowAcct {
	if !f.acct.on.Load() {
		return nil
	}
	return &flowAcct{opened: now, rule: rule}
}

func (fl *flow) countOut(n int) {
	if a := fl.acct; a != nil {
		a.out.packets.Add(1)
		a.out.bytes.Add(uint64(n))
	}
}

func (fl *flow) countIn(n int) {
	if a := fl.acct; a != nil {
		a.in.packets.Add(1)
		a.in.bytes.Add(uint64(n))
	}
}

// FlowStat is what a flow did since the previous collection, from this
// machine's side: Local is this machine's address (or, forwarded, the
// destination it routes for), Remote the peer's. Out counts what this
// machine sent, In what it received.
type FlowStat struct {
	Proto         uint8
	Local, Remote netip.Addr
	LPort, RPort  uint16
	Inbound       bool // opened by Remote
	Opened, Last  time.Time
	OutPackets    uint64
	OutBytes      uint64
	InPackets     uint64
	InBytes       uint64
	Rule          string // inbound: the rule that let it in
	Closed        bool   // the flow ended (idle, or evicted) before this collection
}

// Denial is a refused connection attempt, counted since the previous
// collection.
type Denial struct {
	Proto       uint8
	Src, Dst    netip.Addr
	Port        uint16 // 0 for ICMP
	First, Last time.Time
	Packets     uint64
	Bytes       uint64
	Why         string
}

// active reports whether the flow sent or received a packet since the
// last collection. accMu is held.
func (a *flowAcct) active() bool {
	return a.out.packets.Load() != a.sent[0] || a.in.packets.Load() != a.sent[2]
}

// delta returns the counts since the last collection and marks them
// collected. accMu is held.
func (a *flowAcct) delta() (op, ob, ip, ib uint64) {
	cur := [4]uint64{a.out.packets.Load(), a.out.bytes.Load(), a.in.packets.Load(), a.in.bytes.Load()}
	op, ob, ip, ib = cur[0]-a.sent[0], cur[1]-a.sent[1], cur[2]-a.sent[2], cur[3]-a.sent[3]
	a.sent = cur
	return
}

func statOf(fl *flow, op, ob, ip, ib uint64) FlowStat {
	return FlowStat{Proto: fl.key.proto, Local: fl.key.local, Remote: fl.key.remote, LPort: fl.key.lport, RPort: fl.key.rport,
		Inbound: fl.inbound, Opened: time.Unix(0, fl.acct.opened), Last: time.Unix(0, fl.last.Load()),
		OutPackets: op, OutBytes: ob, InPackets: ip, InBytes: ib, Rule: fl.acct.rule}
}

// closed keeps the uncollected counts of a flow leaving the table. The
// shard's lock is held; accMu is taken after it, as Collect takes them.
func (f *Filter) closed(fl *flow) {
	if fl.acct == nil {
		return
	}
	f.acct.mu.Lock()
	defer f.acct.mu.Unlock()
	op, ob, ip, ib := fl.acct.delta()
	if op+ip == 0 {
		return
	}
	if len(f.acct.closed) >= MaxClosed {
		f.acct.overflow++
		return
	}
	st := statOf(fl, op, ob, ip, ib)
	st.Closed = true
	f.acct.closed = append(f.acct.closed, st)
}

// noteDenied counts a refused attempt (accounting on).
func (f *Filter) noteDenied(p packet, size int, now int64) {
	if !f.acct.on.Load() {
		return
	}
	k := denyKey{proto: p.proto, src: p.src, dst: p.dst}
	if p.hasPorts && p.proto != protoICMP {
		k.port = p.dport
	}
	f.acct.mu.Lock()
	defer f.acct.mu.Unlock()
	d := f.acct.denials[k]
	if d == nil {
		if len(f.acct.denials) >= MaxDenials {
			f.acct.overflow++
			return
		}
		if f.acct.denials == nil {
			f.acct.denials = map[denyKey]*denial{}
		}
		why := "no rule allows it"
		if rs := f.rules.Load(); rs != nil && rs.own != nil && !rs.own[p.dst] {
			why = "no rule allows it (forwarded)"
		}
		d = &denial{first: now, why: why}
		f.acct.denials[k] = d
	}
	d.last = now
	d.packets++
	d.bytes += uint64(size)
}

// Collect returns every counted flow's activity since the previous
// collection (those that ended meanwhile too), the refused attempts, and
// how many of either did not fit (their bounds), and starts the next
// interval. At most max flows are returned; the rest are counted in
// overflow and collected next time.
func (f *Filter) Collect(max int) (flows []FlowStat, denials []Denial, overflow uint64) {
	f.acct.mu.Lock()
	flows = f.acct.closed
	f.acct.closed = nil
	for k, d := range f.acct.denials {
		denials = append(denials, Denial{Proto: k.proto, Src: k.src, Dst: k.dst, Port: k.port,
			First: time.Unix(0, d.first), Last: time.Unix(0, d.last), Packets: d.packets, Bytes: d.bytes, Why: d.why})
	}
	f.acct.denials = nil
	overflow, f.acct.overflow = f.acct.overflow, 0
	f.acct.mu.Unlock()
	for i := range f.tab {
		s := &f.tab[i]
		s.mu.RLock()
		f.acct.mu.Lock()
		for _, fl := range s.flows {
			if fl.acct == nil || !fl.acct.active() {
				continue
			}
			if len(flows) >= max {
				overflow++
				continue // counted again next time: its counts stay
			}
			op, ob, ip, ib := fl.acct.delta()
			flows = append(flows, statOf(fl, op, ob, ip, ib))
		}
		f.acct.mu.Unlock()
		s.mu.RUnlock()
	}
	return flows, denials, overflow
}

// String describes a stat for logs and tests.
func (s FlowStat) String() string {
	return fmt.Sprintf("%d %s:%d→%s:%d in=%v out %d/%dB in %d/%dB", s.Proto, s.Local, s.LPort, s.Remote, s.RPort, s.Inbound, s.OutPackets, s.OutBytes, s.InPackets, s.InBytes)
}
