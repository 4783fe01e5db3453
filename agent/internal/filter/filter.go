// Package filter is the agent's stateful packet filter: under the fleet's
// access policy it lets peers open only the connections the policy allows
// to this machine, and lets through the replies to connections this
// machine opened. It sits in the userspace WireGuard packet path (the TUN
// device wireguard-go reads and writes), so it works the same on Linux,
// macOS and Windows.
//
// Outbound packets (from this machine into the tunnel) record their flow;
// inbound packets pass when they belong to a recorded flow (a reply, or a
// connection allowed before), and otherwise only when a rule lets their
// source open that connection, which is then recorded. ICMP errors pass
// when the packet they quote belongs to a flow. New rules apply at once:
// inbound-opened flows they no longer allow are forgotten, so access
// closes without restarting the tunnel, and everything they still allow
// continues undisturbed.
package filter

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Idle times after which a flow is forgotten.
const (
	TCPIdle   = 15 * time.Minute
	UDPIdle   = 3 * time.Minute
	OtherIdle = 30 * time.Second
)

// MaxFlows bounds the flow table; when it is full, the oldest flow of a
// shard makes room.
const MaxFlows = 1 << 16

const shards = 16

type flowKey struct {
	proto         uint8
	local, remote netip.Addr
	lport, rport  uint16
}

type flow struct {
	key     flowKey
	last    atomic.Int64 // unix nanoseconds, refreshed at most every refreshEvery
	inbound bool         // opened by the peer (allowed by a rule)
	dead    atomic.Bool  // removed from the table (a cached pointer must not use it)
	acct    *flowAcct    // counters, when flow accounting was on at its start (accounting.go)
}

// refreshEvery: a flow's last-use time is written at most this often, so
// that the two directions of a busy flow do not fight over its cache line.
const refreshEvery = int64(time.Second)

func (fl *flow) touch(now int64) {
	if now-fl.last.Load() > refreshEvery {
		fl.last.Store(now)
	}
}

type shard struct {
	mu    sync.RWMutex
	flows map[flowKey]*flow
}

type rule struct {
	proto  policy.Proto
	ports  []policy.PortRange // nil: all
	any    bool
	addrs  map[netip.Addr]bool
	ranges []netip.Prefix
	text   string
	// What the rule lets traffic reach: this machine (forward false), or,
	// forwarded by a subnet router or exit node, these ranges, the
	// machine's routes, the internet.
	forward  bool
	dst      []netip.Prefix
	routes   bool
	internet bool
	// posture: the rule admits only sources that are peers holding one of
	// its postures (fitting, their addresses), whatever else matches.
	posture bool
	fitting map[netip.Addr]bool
}

type ruleSet struct {
	policy int64
	rules  []rule
	// own are the machine's overlay addresses: what a rule without Dst
	// admits (none known: any destination, as before routes existed).
	// serves and exit are what it routes for the fleet.
	own    map[netip.Addr]bool
	serves []netip.Prefix
	exit   bool
}

// Filter is safe for concurrent use; the zero value is not: use New.
type Filter struct {
	rules atomic.Pointer[ruleSet] // nil: no policy, everything passes
	// The flow each direction saw last: a bulk transfer hits it on almost
	// every packet and skips the table.
	lastIn, lastOut atomic.Pointer[flow]
	seed            maphash.Seed
	tab             [shards]shard
	now             func() time.Time

	dropped   atomic.Uint64
	denied    atomic.Uint64 // no rule allows the new connection
	unmatched atomic.Uint64 // a reply or ICMP error with no flow
	full      atomic.Uint64

	acct acctState // flow accounting for flow logs (accounting.go)

	lastMu sync.Mutex
	last   []string     // the latest drops, for status…
	lastAt atomic.Int64 // …described at most every 100 ms (a flood costs no formatting)
}

// New returns a filter that lets everything through until Update gives it
// rules.
func New() *Filter {
	f := &Filter{seed: maphash.MakeSeed(), now: time.Now}
	for i := range f.tab {
		f.tab[i].flows = map[flowKey]*flow{}
	}
	return f
}

// Update installs the rules of fl (nil: no policy), resolving tags and
// machine names against peers; self, when given, says which destinations
// are this machine's own and what it routes (Self.Serves), so that rules
// for the machine never admit traffic it would forward, and forwarding
// rules only what they name. Inbound-opened flows the new rules do not
// allow are forgotten.
func (f *Filter) Update(fl *wire.Filter, peers map[string]wire.Peer, self *wire.Self) error {
	if fl == nil {
		f.rules.Store(nil)
		return nil
	}
	rs := &ruleSet{policy: fl.Policy}
	if self != nil {
		rs.own = map[netip.Addr]bool{}
		for _, s := range []string{self.IPv4, self.IPv6} {
			if a, err := netip.ParseAddr(s); err == nil {
				rs.own[a] = true
			}
		}
		for _, s := range self.Serves {
			p, err := netip.ParsePrefix(s)
			switch {
			case err != nil:
			case p.Bits() == 0:
				rs.exit = true
			default:
				rs.serves = append(rs.serves, p)
			}
		}
	}
	var bad []string
	for i, fr := range fl.Rules {
		r, err := compile(fr, peers)
		if err != nil {
			bad = append(bad, fmt.Sprintf("rule %d: %v", i+1, err))
			continue // the rest still apply; a bad rule allows nothing
		}
		rs.rules = append(rs.rules, r)
	}
	f.rules.Store(rs)
	f.recheck(rs)
	if len(bad) > 0 {
		return fmt.Errorf("filter: %s", strings.Join(bad, "; "))
	}
	return nil
}

func compile(fr wire.FilterRule, peers map[string]wire.Peer) (rule, error) {
	r := rule{addrs: map[netip.Addr]bool{}}
	var err error
	if r.proto, err = policy.ParseProto(fr.Proto); err != nil {
		return r, err
	}
	for _, s := range fr.Ports {
		pr, err := policy.ParsePorts(s)
		if err != nil {
			return r, err
		}
		if pr.First == 0 && pr.Last == 65535 {
			r.ports = nil
			break
		}
		r.ports = append(r.ports, pr)
	}
	for _, s := range fr.Src {
		switch {
		case s == "*":
			r.any = true
		case strings.HasPrefix(s, "tag:"):
			tag := s[len("tag:"):]
			for _, p := range peers {
				for _, t := range p.Tags {
					if t == tag {
						r.addPeer(p)
						break
					}
				}
			}
		case strings.HasPrefix(s, "machine:"):
			name := s[len("machine:"):]
			for _, p := range peers {
				if p.Name == name || p.ID == name {
					r.addPeer(p)
				}
			}
		case strings.HasPrefix(s, policy.Directory):
			group := s[len(policy.Directory):]
			for _, p := range peers {
				if slices.Contains(p.Groups, group) {
					r.addPeer(p)
				}
			}
		default:
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return r, fmt.Errorf("source %q: %v", s, err)
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			r.ranges = append(r.ranges, pfx)
		}
	}
	if len(fr.SrcPosture) > 0 {
		r.posture, r.fitting = true, map[netip.Addr]bool{}
		for _, p := range peers {
			if slices.ContainsFunc(p.Postures, func(ps string) bool { return slices.Contains(fr.SrcPosture, ps) }) {
				for _, s := range []string{p.IPv4, p.IPv6} {
					if a, err := netip.ParseAddr(s); err == nil {
						r.fitting[a] = true
					}
				}
			}
		}
	}
	for _, s := range fr.Dst {
		r.forward = true
		switch s {
		case policy.DstRoutes:
			r.routes = true
		case policy.DstInternet:
			r.internet = true
		default:
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return r, fmt.Errorf("destination %q: %v", s, err)
			}
			r.dst = append(r.dst, pfx)
		}
	}
	r.text = policy.Describe(fr)
	return r, nil
}

// reaches reports whether the rule lets traffic go to dst.
func (r *rule) reaches(dst netip.Addr, rs *ruleSet) bool {
	if !r.forward {
		return rs.own == nil || rs.own[dst]
	}
	if inRanges(r.dst, dst) {
		return true
	}
	if r.routes && inRanges(rs.serves, dst) {
		return true
	}
	return r.internet && rs.exit && policy.IsInternet(dst)
}

func (r *rule) addPeer(p wire.Peer) {
	for _, s := range []string{p.IPv4, p.IPv6} {
		if a, err := netip.ParseAddr(s); err == nil {
			r.addrs[a] = true
		}
	}
}

func (r *rule) allows(src, dst netip.Addr, proto uint8, port uint16, hasPort bool, rs *ruleSet) bool {
	if !r.reaches(dst, rs) {
		return false
	}
	switch {
	case r.proto == policy.Any:
	case uint8(r.proto) != proto:
		return false
	}
	if r.ports != nil {
		if !hasPort || proto == protoICMP {
			return false
		}
		in := false
		for _, pr := range r.ports {
			if port >= pr.First && port <= pr.Last {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	if r.posture && !r.fitting[src] {
		return false
	}
	if r.any || r.addrs[src] {
		return true
	}
	for _, p := range r.ranges {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

func (rs *ruleSet) allows(src, dst netip.Addr, proto uint8, port uint16, hasPort bool) bool {
	return rs.rule(src, dst, proto, port, hasPort) >= 0
}

// rule returns the index of the first rule that allows the connection, or -1.
func (rs *ruleSet) rule(src, dst netip.Addr, proto uint8, port uint16, hasPort bool) int {
	for i := range rs.rules {
		if rs.rules[i].allows(src, dst, proto, port, hasPort, rs) {
			return i
		}
	}
	return -1
}

func (f *Filter) shardOf(k flowKey) *shard {
	return &f.tab[maphash.Comparable(f.seed, k)%shards]
}

func idle(proto uint8) time.Duration {
	switch proto {
	case protoTCP:
		return TCPIdle
	case protoUDP:
		return UDPIdle
	}
	return OtherIdle
}

// Outbound records the flow of a packet this machine sends.
func (f *Filter) Outbound(b []byte) { f.outbound(b, f.now().UnixNano()) }

// Outbounds records the flows of the first n packets of a batch (a TUN read).
func (f *Filter) Outbounds(bufs [][]byte, sizes []int, offset, n int) {
	if f.rules.Load() == nil || n == 0 {
		return
	}
	now := f.now().UnixNano()
	for i := 0; i < n; i++ {
		f.outbound(bufs[i][offset:offset+sizes[i]], now)
	}
}

func (f *Filter) outbound(b []byte, now int64) {
	if f.rules.Load() == nil {
		return
	}
	p, ok := parse(b)
	if !ok || !p.hasPorts && p.proto != protoICMP {
		return
	}
	if p.proto == protoICMP && p.icmpType != icmpEchoRequest && p.icmpType != icmpEchoReply {
		return // errors and others open nothing
	}
	k := flowKey{proto: p.proto, local: p.src, remote: p.dst, lport: p.sport, rport: p.dport}
	if fl := f.lastOut.Load(); fl != nil && fl.key == k && !fl.dead.Load() {
		fl.touch(now)
		fl.countOut(len(b))
		return
	}
	s := f.shardOf(k)
	s.mu.RLock()
	fl := s.flows[k]
	s.mu.RUnlock()
	if fl == nil {
		s.mu.Lock()
		if fl = s.flows[k]; fl == nil {
			fl = &flow{key: k, acct: f.newAcct(now, "")}
			fl.last.Store(now)
			f.insert(s, fl, now)
		}
		s.mu.Unlock()
	}
	fl.touch(now)
	fl.countOut(len(b))
	f.lastOut.Store(fl)
}

// insert adds a flow, making room when the table is full. s.mu is held.
func (f *Filter) insert(s *shard, fl *flow, now int64) {
	if len(s.flows) >= MaxFlows/shards {
		var oldest *flow
		for k, of := range s.flows {
			if now-of.last.Load() > int64(idle(k.proto)) {
				f.remove(s, of)
				continue
			}
			if oldest == nil || of.last.Load() < oldest.last.Load() {
				oldest = of
			}
		}
		if len(s.flows) >= MaxFlows/shards && oldest != nil {
			f.remove(s, oldest)
			f.full.Add(1)
		}
	}
	s.flows[fl.key] = fl
}

// remove takes a flow out of the table. s.mu is held.
func (f *Filter) remove(s *shard, fl *flow) {
	fl.dead.Store(true)
	delete(s.flows, fl.key)
	f.closed(fl)
}

// Inbound reports whether a packet a peer sent may reach this machine.
func (f *Filter) Inbound(b []byte) bool { return f.inbound(b, f.now().UnixNano()) }

// Inbounds filters a batch of packets peers sent (a TUN write): it returns
// bufs compacted in place to the packets that may pass.
func (f *Filter) Inbounds(bufs [][]byte, offset int) [][]byte {
	if f.rules.Load() == nil {
		return bufs
	}
	now := f.now().UnixNano()
	kept := bufs[:0]
	for _, b := range bufs {
		if f.inbound(b[offset:], now) {
			kept = append(kept, b)
		}
	}
	return kept
}

func (f *Filter) inbound(b []byte, now int64) bool {
	rs := f.rules.Load()
	if rs == nil {
		return true
	}
	p, ok := parse(b)
	if !ok {
		return f.drop(&f.denied, now, func() string { return "malformed packet" })
	}
	if p.fragment {
		// No transport header: let it through when the source may reach
		// this machine with that protocol at all.
		for i := range rs.rules {
			r := &rs.rules[i]
			if (r.proto == policy.Any || uint8(r.proto) == p.proto) && (r.any || r.addrs[p.src] || inRanges(r.ranges, p.src)) && r.reaches(p.dst, rs) {
				return true
			}
		}
		return f.drop(&f.denied, now, func() string { return fmt.Sprintf("fragment from %s", p.src) })
	}
	if p.proto == protoICMP && p.icmpType == icmpError {
		q, ok := p.quoted()
		if ok && q.hasPorts && f.known(flowKey{proto: q.proto, local: q.src, remote: q.dst, lport: q.sport, rport: q.dport}, now) != nil {
			return true
		}
		return f.drop(&f.unmatched, now, func() string { return fmt.Sprintf("icmp error from %s about no known flow", p.src) })
	}
	k := flowKey{proto: p.proto, local: p.dst, remote: p.src, lport: p.dport, rport: p.sport}
	if p.hasPorts {
		if fl := f.lastIn.Load(); fl != nil && fl.key == k && !fl.dead.Load() && now-fl.last.Load() <= int64(idle(k.proto)) {
			fl.touch(now)
			fl.countIn(len(b))
			return true
		}
		if fl := f.known(k, now); fl != nil {
			fl.countIn(len(b))
			f.lastIn.Store(fl)
			return true
		}
	}
	if p.proto == protoICMP && p.icmpType == icmpEchoReply {
		return f.drop(&f.unmatched, now, func() string { return fmt.Sprintf("icmp echo reply from %s to no request", p.src) })
	}
	ri := rs.rule(p.src, p.dst, p.proto, p.dport, p.hasPorts)
	if ri < 0 {
		f.noteDenied(p, len(b), now)
		return f.drop(&f.denied, now, func() string {
			what := fmt.Sprintf("proto %d", p.proto)
			switch p.proto {
			case protoTCP:
				what = fmt.Sprintf("tcp port %d", p.dport)
			case protoUDP:
				what = fmt.Sprintf("udp port %d", p.dport)
			case protoICMP:
				what = "icmp"
			}
			if rs.own != nil && !rs.own[p.dst] {
				return fmt.Sprintf("%s from %s to %s (forwarded): no rule allows it", what, p.src, p.dst)
			}
			return fmt.Sprintf("%s from %s: no rule allows it", what, p.src)
		})
	}
	if p.hasPorts {
		s := f.shardOf(k)
		s.mu.Lock()
		fl := s.flows[k]
		if fl == nil {
			fl = &flow{key: k, inbound: true, acct: f.newAcct(now, rs.rules[ri].text)}
			fl.last.Store(now)
			f.insert(s, fl, now)
		}
		s.mu.Unlock()
		fl.countIn(len(b))
		f.lastIn.Store(fl)
	}
	return true
}

func inRanges(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// known returns k's flow when it is live, refreshing it.
func (f *Filter) known(k flowKey, now int64) *flow {
	s := f.shardOf(k)
	s.mu.RLock()
	fl := s.flows[k]
	s.mu.RUnlock()
	if fl == nil {
		return nil
	}
	if now-fl.last.Load() > int64(idle(k.proto)) {
		s.mu.Lock()
		if s.flows[k] == fl {
			f.remove(s, fl)
		}
		s.mu.Unlock()
		return nil
	}
	fl.touch(now)
	return fl
}

func (f *Filter) drop(counter *atomic.Uint64, now int64, why func() string) bool {
	f.dropped.Add(1)
	counter.Add(1)
	if prev := f.lastAt.Load(); now-prev < int64(100*time.Millisecond) || !f.lastAt.CompareAndSwap(prev, now) {
		return false
	}
	line := why()
	f.lastMu.Lock()
	if len(f.last) >= 8 {
		copy(f.last, f.last[1:])
		f.last = f.last[:7]
	}
	f.last = append(f.last, line)
	f.lastMu.Unlock()
	return false
}

// recheck forgets the inbound-opened flows rs no longer allows.
func (f *Filter) recheck(rs *ruleSet) {
	for i := range f.tab {
		s := &f.tab[i]
		s.mu.Lock()
		for k, fl := range s.flows {
			if fl.inbound && !rs.allows(k.remote, k.local, k.proto, k.lport, true) {
				f.remove(s, fl)
			}
		}
		s.mu.Unlock()
	}
}

// Status is what `wirefleet-agent status` shows of the filter.
type Status struct {
	Enforced  bool     `json:"enforced"`         // a policy is in force here
	Policy    int64    `json:"policy,omitempty"` // its version
	Rules     []string `json:"rules"`            // who may connect to this machine
	Flows     int      `json:"flows"`
	Dropped   uint64   `json:"dropped"`
	Denied    uint64   `json:"denied"`    // new connections no rule allows
	Unmatched uint64   `json:"unmatched"` // replies and ICMP errors with no flow
	LastDrops []string `json:"last_drops,omitempty"`
}

// Status reports the rules in force and what was dropped.
func (f *Filter) Status() Status {
	st := Status{Rules: []string{}, Dropped: f.dropped.Load(), Denied: f.denied.Load(), Unmatched: f.unmatched.Load()}
	if rs := f.rules.Load(); rs != nil {
		st.Enforced, st.Policy = true, rs.policy
		for _, r := range rs.rules {
			st.Rules = append(st.Rules, r.text)
		}
	}
	for i := range f.tab {
		f.tab[i].mu.RLock()
		st.Flows += len(f.tab[i].flows)
		f.tab[i].mu.RUnlock()
	}
	f.lastMu.Lock()
	st.LastDrops = append([]string(nil), f.last...)
	f.lastMu.Unlock()
	return st
}
