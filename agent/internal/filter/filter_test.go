package filter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Crafted packets: real IPv4 and IPv6 headers with TCP, UDP and ICMP.

func ip4(proto uint8, src, dst string, l4 []byte) []byte {
	b := make([]byte, 20, 20+len(l4))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], uint16(20+len(l4)))
	b[8] = 64
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	return append(b, l4...)
}

func ip6(next uint8, src, dst string, l4 []byte) []byte {
	b := make([]byte, 40, 40+len(l4))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:6], uint16(len(l4)))
	b[6] = next
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return append(b, l4...)
}

func ports(sport, dport uint16, n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	return b
}

func tcp(src string, sport uint16, dst string, dport uint16) []byte {
	l4 := ports(sport, dport, 20)
	l4[12], l4[13] = 5<<4, 0x02 // SYN
	if strings.Contains(src, ":") {
		return ip6(protoTCP, src, dst, l4)
	}
	return ip4(protoTCP, src, dst, l4)
}

func udp(src string, sport uint16, dst string, dport uint16) []byte {
	if strings.Contains(src, ":") {
		return ip6(protoUDP, src, dst, ports(sport, dport, 8))
	}
	return ip4(protoUDP, src, dst, ports(sport, dport, 8))
}

func echo(src, dst string, reply bool, id uint16) []byte {
	l4 := make([]byte, 16)
	binary.BigEndian.PutUint16(l4[4:6], id)
	if strings.Contains(src, ":") {
		l4[0] = 128
		if reply {
			l4[0] = 129
		}
		return ip6(protoICMPv6, src, dst, l4)
	}
	l4[0] = 8
	if reply {
		l4[0] = 0
	}
	return ip4(protoICMP, src, dst, l4)
}

// unreachable is a destination-unreachable from src quoting orig's first bytes.
func unreachable(src, dst string, orig []byte) []byte {
	l4 := make([]byte, 8, 8+28)
	l4[0], l4[1] = 3, 3
	l4 = append(l4, orig[:28]...)
	return ip4(protoICMP, src, dst, l4)
}

const (
	me       = "100.64.0.1"
	me6      = "fd00::1"
	laptop   = "100.64.0.2"
	laptop6  = "fd00::2"
	web      = "100.64.0.3"
	ops      = "100.64.0.4"
	labHost  = "100.64.9.7"
	stranger = "100.64.8.1"
)

var peers = map[string]wire.Peer{
	"m_laptop": {ID: "m_laptop", Name: "laptop-1", IPv4: laptop, IPv6: laptop6, Tags: []string{"laptop"}},
	"m_web":    {ID: "m_web", Name: "web-1", IPv4: web, IPv6: "fd00::3", Tags: []string{"web"}},
	"m_ops":    {ID: "m_ops", Name: "ops-1", IPv4: ops, IPv6: "fd00::4"},
}

var rules = &wire.Filter{Policy: 3, Rules: []wire.FilterRule{
	{Src: []string{"tag:laptop"}, Proto: "tcp", Ports: []string{"22", "8000-8100"}},
	{Src: []string{"100.64.9.0/24"}, Proto: "udp", Ports: []string{"53"}},
	{Src: []string{"machine:ops-1"}, Proto: "icmp"},
	{Src: []string{"machine:m_web"}, Ports: []string{"5432"}},
}}

func newFilter(t *testing.T) (*Filter, *time.Time) {
	t.Helper()
	f := New()
	clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return clock }
	if err := f.Update(rules, peers, nil); err != nil {
		t.Fatal(err)
	}
	return f, &clock
}

// TestInboundRules: new connections pass only as a rule says.
func TestInboundRules(t *testing.T) {
	f, _ := newFilter(t)
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"laptop tcp 22", tcp(laptop, 40000, me, 22), true},
		{"laptop tcp 22 over IPv6", tcp(laptop6, 40000, me6, 22), true},
		{"laptop tcp in a range", tcp(laptop, 40001, me, 8050), true},
		{"laptop tcp past the range", tcp(laptop, 40002, me, 8101), false},
		{"laptop udp 22: the rule is tcp", udp(laptop, 40003, me, 22), false},
		{"web tcp 22: not a laptop", tcp(web, 40004, me, 22), false},
		{"web tcp 5432 (machine by ID, any proto)", tcp(web, 40005, me, 5432), true},
		{"web udp 5432", udp(web, 40006, me, 5432), true},
		{"web icmp: its rule has ports", echo(web, me, false, 1), false},
		{"range udp 53", udp(labHost, 5000, me, 53), true},
		{"outside the range", udp(stranger, 5000, me, 53), false},
		{"ops ping", echo(ops, me, false, 7), true},
		{"ops ping over IPv6", echo("fd00::4", me6, false, 7), true},
		{"laptop ping", echo(laptop, me, false, 7), false},
		{"ops tcp: its rule is icmp only", tcp(ops, 1, me, 22), false},
		{"unsolicited echo reply", echo(web, me, true, 99), false},
		{"truncated", tcp(laptop, 40000, me, 22)[:22], false},
		{"garbage", []byte{0x99, 1, 2}, false},
	} {
		if got := f.Inbound(tc.pkt); got != tc.want {
			t.Errorf("%s: passed=%v, want %v", tc.name, got, tc.want)
		}
	}
	st := f.Status()
	if !st.Enforced || st.Policy != 3 || len(st.Rules) != 4 || st.Dropped != 10 || st.Denied != 9 || st.Unmatched != 1 {
		t.Fatalf("status = %+v", st)
	}
	if st.Rules[0] != "from tag:laptop: tcp ports 22,8000-8100" || st.Rules[2] != "from machine:ops-1: icmp" {
		t.Fatalf("rules shown = %q", st.Rules)
	}
}

// Replies to this machine's own connections pass whatever the rules; the
// rest of what the peer sends does not.
func TestRepliesPass(t *testing.T) {
	f, _ := newFilter(t)
	f.Outbound(tcp(me, 51000, web, 443))
	f.Outbound(udp(me6, 51001, "fd00::3", 4500))
	f.Outbound(echo(me, web, false, 42))
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"tcp reply", tcp(web, 443, me, 51000), true},
		{"tcp to another port", tcp(web, 443, me, 51002), false},
		{"udp reply over IPv6", udp("fd00::3", 4500, me6, 51001), true},
		{"echo reply", echo(web, me, true, 42), true},
		{"echo reply, other id", echo(web, me, true, 43), false},
		{"icmp error about our tcp flow", unreachable(web, me, tcp(me, 51000, web, 443)), true},
		{"icmp error about nothing we sent", unreachable(web, me, tcp(me, 51999, web, 443)), false},
	} {
		if got := f.Inbound(tc.pkt); got != tc.want {
			t.Errorf("%s: passed=%v, want %v", tc.name, got, tc.want)
		}
	}
}

// A flow allowed by a rule continues while the rule stands; new rules
// close it at once and keep the connections they still allow.
func TestRuleChangeClosesAndKeeps(t *testing.T) {
	f, _ := newFilter(t)
	if !f.Inbound(tcp(laptop, 40000, me, 22)) || !f.Inbound(tcp(web, 40001, me, 5432)) {
		t.Fatal("setup: flows not admitted")
	}
	f.Outbound(tcp(me, 51000, laptop, 443))     // ours: survives any rule change
	if !f.Inbound(tcp(laptop, 40000, me, 22)) { // the last flow seen: the fast path holds it
		t.Fatal("setup: ssh flow dropped")
	}
	narrower := &wire.Filter{Policy: 4, Rules: []wire.FilterRule{{Src: []string{"machine:web-1"}, Ports: []string{"5432"}}}}
	if err := f.Update(narrower, peers, nil); err != nil {
		t.Fatal(err)
	}
	if f.Inbound(tcp(laptop, 40000, me, 22)) {
		t.Error("the ssh flow the new rules no longer allow still passes")
	}
	if !f.Inbound(tcp(web, 40001, me, 5432)) {
		t.Error("a flow the new rules still allow was cut")
	}
	if !f.Inbound(tcp(laptop, 443, me, 51000)) {
		t.Error("a reply to this machine's own connection was cut by a rule change")
	}
	if err := f.Update(nil, peers, nil); err != nil || !f.Inbound(tcp(stranger, 1, me, 1)) {
		t.Fatalf("no policy: everything passes (%v)", err)
	}
}

// Peers gained or lost by a tag are resolved on each update.
func TestTagsResolveAgainstPeers(t *testing.T) {
	f, _ := newFilter(t)
	more := map[string]wire.Peer{}
	for k, v := range peers {
		more[k] = v
	}
	more["m_new"] = wire.Peer{ID: "m_new", Name: "laptop-2", IPv4: "100.64.0.9", Tags: []string{"laptop"}}
	if f.Inbound(tcp("100.64.0.9", 1, me, 22)) {
		t.Fatal("an unknown peer passed")
	}
	f.Update(rules, more, nil)
	if !f.Inbound(tcp("100.64.0.9", 2, me, 22)) {
		t.Fatal("a new laptop peer is not allowed after the update")
	}
}

// Flows are forgotten after their idle time; the table stays bounded.
func TestExpiryAndBound(t *testing.T) {
	f, clock := newFilter(t)
	f.Outbound(udp(me, 5000, web, 9999))
	*clock = clock.Add(UDPIdle - time.Second)
	if !f.Inbound(udp(web, 9999, me, 5000)) {
		t.Fatal("udp reply within the idle time dropped")
	}
	*clock = clock.Add(UDPIdle + time.Second)
	if f.Inbound(udp(web, 9999, me, 5000)) {
		t.Fatal("udp reply after the idle time passed")
	}
	for i := range MaxFlows + 5000 {
		f.Outbound(tcp(me, uint16(i%60000+1), fmt.Sprintf("100.64.%d.%d", 1+i/60000, 200), 80))
	}
	if n := f.Status().Flows; n > MaxFlows {
		t.Fatalf("%d flows, the bound is %d", n, MaxFlows)
	}
}

// IPv6 extension headers are walked; later fragments are judged by source.
func TestIPv6ExtensionsAndFragments(t *testing.T) {
	f, _ := newFilter(t)
	hop := append([]byte{protoTCP, 0, 0, 0, 0, 0, 0, 0}, ports(40000, 22, 20)...)
	if !f.Inbound(ip6(0, laptop6, me6, hop)) {
		t.Error("tcp 22 behind a hop-by-hop header dropped")
	}
	hop = append([]byte{protoTCP, 0, 0, 0, 0, 0, 0, 0}, ports(40000, 23, 20)...)
	if f.Inbound(ip6(0, laptop6, me6, hop)) {
		t.Error("tcp 23 behind a hop-by-hop header passed")
	}
	later := ip4(protoTCP, laptop, me, make([]byte, 16))
	binary.BigEndian.PutUint16(later[6:8], 100) // fragment offset 800
	if !f.Inbound(later) {
		t.Error("a later fragment from a source allowed tcp dropped")
	}
	later = ip4(protoTCP, stranger, me, make([]byte, 16))
	binary.BigEndian.PutUint16(later[6:8], 100)
	if f.Inbound(later) {
		t.Error("a later fragment from a stranger passed")
	}
}

// FuzzInbound: no packet makes the filter panic.
func FuzzInbound(fz *testing.F) {
	for _, p := range [][]byte{tcp(laptop, 1, me, 22), udp(laptop6, 1, me6, 53), echo(ops, me, false, 1), unreachable(web, me, tcp(me, 1, web, 2)), {0x60}, {0x45, 0}} {
		fz.Add(p)
	}
	f := New()
	f.Update(rules, peers, nil)
	fz.Fuzz(func(t *testing.T, b []byte) {
		f.Outbound(b)
		f.Inbound(b)
	})
}

// BenchmarkInbound measures the per-packet cost: a packet of a known flow
// (the common case), and a new connection judged against 100 rules.
func BenchmarkInbound(b *testing.B) {
	var many []wire.FilterRule
	for i := range 99 {
		many = append(many, wire.FilterRule{Src: []string{fmt.Sprintf("100.65.%d.0/24", i)}, Proto: "tcp", Ports: []string{fmt.Sprint(1000 + i)}})
	}
	many = append(many, rules.Rules[0])
	f := New()
	f.Update(&wire.Filter{Policy: 1, Rules: many}, peers, nil)
	known := tcp(laptop, 40000, me, 22)
	f.Inbound(known)
	b.Run("known-flow", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if !f.Inbound(known) {
				b.Fatal("dropped")
			}
		}
	})
	denied := tcp(stranger, 40000, me, 22)
	b.Run("new-denied-100-rules", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			f.Inbound(denied)
		}
	})
	b.Run("batch-of-64-known", func(b *testing.B) {
		b.ReportAllocs()
		batch := make([][]byte, 64)
		for range b.N {
			for i := range batch {
				batch[i] = known
			}
			if len(f.Inbounds(batch, 0)) != 64 {
				b.Fatal("dropped")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/packet")
	})
	b.Run("outbound", func(b *testing.B) {
		b.ReportAllocs()
		out := tcp(me, 51000, web, 443)
		for range b.N {
			f.Outbound(out)
		}
	})
	// The same with flow accounting on (flow logs): the flow is opened
	// again so that it counts.
	f.SetAccounting(true)
	f.Update(&wire.Filter{Policy: 2, Rules: nil}, peers, nil) // forgets the flows
	f.Update(&wire.Filter{Policy: 1, Rules: many}, peers, nil)
	f.Inbound(known)
	b.Run("known-flow-accounting", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if !f.Inbound(known) {
				b.Fatal("dropped")
			}
		}
	})
	b.Run("batch-of-64-known-accounting", func(b *testing.B) {
		b.ReportAllocs()
		batch := make([][]byte, 64)
		for range b.N {
			for i := range batch {
				batch[i] = known
			}
			if len(f.Inbounds(batch, 0)) != 64 {
				b.Fatal("dropped")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/packet")
	})
}

// BenchmarkCollect measures flow accounting with 10,000 concurrent flows:
// the memory they take, and one collection of all of them (the flow
// logger's work once per interval).
func BenchmarkCollect(b *testing.B) {
	f := New()
	f.Update(rules, peers, nil)
	f.SetAccounting(true)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pkts := make([][]byte, 10000)
	for i := range pkts {
		pkts[i] = tcp(me, uint16(10000+i%50000), fmt.Sprintf("100.64.%d.%d", 1+i/250, 1+i%250), 443)
		f.Outbound(pkts[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for _, p := range pkts {
			f.Outbound(p)
		}
		b.StartTimer()
		flows, _, _ := f.Collect(10000)
		if len(flows) != 10000 {
			b.Fatalf("%d flows", len(flows))
		}
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10000, "heap-bytes/flow")
}

// A srcPosture rule admits only peers that hold one of its postures: a
// peer that loses it is cut on the next update (its open flow too), and
// a source the rule names by range is no exception.
func TestSrcPosture(t *testing.T) {
	f := New()
	with := func(laptopPostures ...string) map[string]wire.Peer {
		m := map[string]wire.Peer{}
		for k, v := range peers {
			m[k] = v
		}
		p := m["m_laptop"]
		p.Postures = laptopPostures
		m["m_laptop"] = p
		web := m["m_web"]
		web.Postures = []string{"linux"}
		m["m_web"] = web
		return m
	}
	fl := &wire.Filter{Policy: 5, Rules: []wire.FilterRule{
		{Src: []string{"tag:laptop"}, Proto: "tcp", Ports: []string{"22"}, SrcPosture: []string{"healthy", "managed"}},
		{Src: []string{"fd00::/64"}, Proto: "tcp", Ports: []string{"443"}, SrcPosture: []string{"healthy"}},
		{Src: []string{"*"}, Proto: "icmp"},
	}}
	for _, tc := range []struct {
		name     string
		postures []string
		ssh      bool
		https    bool
	}{
		{"no posture", nil, false, false},
		{"another posture", []string{"linux"}, false, false},
		{"one of the rule's", []string{"managed"}, true, false},
		{"healthy", []string{"healthy"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.Update(fl, with(tc.postures...), nil); err != nil {
				t.Fatal(err)
			}
			if got := f.Inbound(tcp(laptop, 40000, me, 22)); got != tc.ssh {
				t.Errorf("ssh from the laptop: %v, want %v", got, tc.ssh)
			}
			if got := f.Inbound(tcp(laptop6, 40001, me6, 443)); got != tc.https {
				t.Errorf("https from the laptop (IPv6, by range): %v, want %v", got, tc.https)
			}
			if f.Inbound(tcp("fd00::99", 40002, me6, 443)) {
				t.Error("an address in the range that no peer holds passed a posture rule")
			}
			if !f.Inbound(echo(laptop, me, false, 7)) {
				t.Error("a rule without postures stopped applying")
			}
		})
	}
	// The laptop is healthy and connected; it loses the posture.
	f.Update(fl, with(), nil)
	if f.Inbound(tcp(laptop, 40000, me, 22)) {
		t.Error("the open ssh flow of a peer that lost its posture still passes")
	}
}

// A directory:NAME source admits the peers whose owner is in that group
// (Peer.Groups), as the map says on each update.
func TestDirectorySources(t *testing.T) {
	f, _ := newFilter(t)
	eng := wire.Peer{ID: "m_eng", Name: "laptop-eng", IPv4: "100.64.0.20", Groups: []string{"Engineering"}}
	other := wire.Peer{ID: "m_other", Name: "laptop-other", IPv4: "100.64.0.21", Groups: []string{"Sales"}}
	rs := &wire.Filter{Policy: 1, Rules: []wire.FilterRule{{Src: []string{"directory:Engineering"}, Proto: "tcp", Ports: []string{"5432"}}}}
	f.Update(rs, map[string]wire.Peer{eng.ID: eng, other.ID: other}, nil)
	if !f.Inbound(tcp("100.64.0.20", 1, me, 5432)) {
		t.Fatal("a peer in the group was refused")
	}
	if f.Inbound(tcp("100.64.0.21", 2, me, 5432)) {
		t.Fatal("a peer outside the group passed")
	}
	eng.Groups = nil // left the group in the directory
	f.Update(rs, map[string]wire.Peer{eng.ID: eng, other.ID: other}, nil)
	if f.Inbound(tcp("100.64.0.20", 3, me, 5432)) {
		t.Fatal("a peer that left the group still passes")
	}
}
