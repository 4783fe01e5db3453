package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

var overlay = []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("fd7a:115c:a1e0::/48")}

func testZone(t testing.TB) *Zone {
	t.Helper()
	z, err := NewZone("Fleet.Internal", overlay, []Host{
		{Name: "web-1", IPv4: netip.MustParseAddr("100.64.0.1"), IPv6: netip.MustParseAddr("fd7a:115c:a1e0::1")},
		{Name: "db", IPv4: netip.MustParseAddr("100.64.0.2")},
		{Name: "Alice's MacBook Pro.local", IPv4: netip.MustParseAddr("100.64.0.3")},
		{Name: "web-1", IPv4: netip.MustParseAddr("100.64.0.9")}, // duplicate: the first wins
		{Name: "<script>", IPv4: netip.MustParseAddr("100.64.0.4")},
		{Name: "\u202e\x00..", IPv4: netip.MustParseAddr("100.64.0.5")}, // nothing usable left
		{Name: strings.Repeat("x", 300), IPv4: netip.MustParseAddr("100.64.0.6")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// summary renders a response as "RCODE answer;answer|authority".
func summary(m *dns.Msg) string {
	var ans, ns []string
	for _, rr := range m.Answer {
		ans = append(ans, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	for _, rr := range m.Ns {
		ns = append(ns, dns.TypeToString[rr.Header().Rrtype])
	}
	return dns.RcodeToString[m.Rcode] + " " + strings.Join(ans, ";") + "|" + strings.Join(ns, ",")
}

func TestAnswers(t *testing.T) {
	var s Server
	s.SetZone(testZone(t))
	long := strings.Repeat("x", 63)
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"web-1.fleet.internal.", dns.TypeA, "NOERROR web-1.fleet.internal. 5 IN A 100.64.0.1|"},
		{"web-1.fleet.internal.", dns.TypeAAAA, "NOERROR web-1.fleet.internal. 5 IN AAAA fd7a:115c:a1e0::1|"},
		{"web-1.fleet.internal.", dns.TypeANY, "NOERROR web-1.fleet.internal. 5 IN A 100.64.0.1;web-1.fleet.internal. 5 IN AAAA fd7a:115c:a1e0::1|"},
		// Any case; the answer keeps the question's spelling (0x20).
		{"WeB-1.FLEET.internal.", dns.TypeA, "NOERROR WeB-1.FLEET.internal. 5 IN A 100.64.0.1|"},
		// A name without an IPv6 address: NODATA, with the SOA for caching.
		{"db.fleet.internal.", dns.TypeAAAA, "NOERROR |SOA"},
		{"db.fleet.internal.", dns.TypeMX, "NOERROR |SOA"},
		{"nope.fleet.internal.", dns.TypeA, "NXDOMAIN |SOA"},
		{"a.web-1.fleet.internal.", dns.TypeA, "NXDOMAIN |SOA"},
		// Hostile hostnames are normalised to labels.
		{"alices-macbook-pro.fleet.internal.", dns.TypeA, "NOERROR alices-macbook-pro.fleet.internal. 5 IN A 100.64.0.3|"},
		{"script.fleet.internal.", dns.TypeA, "NOERROR script.fleet.internal. 5 IN A 100.64.0.4|"},
		{long + ".fleet.internal.", dns.TypeA, "NOERROR " + long + ".fleet.internal. 5 IN A 100.64.0.6|"},
		{"fleet.internal.", dns.TypeSOA, "NOERROR fleet.internal. 5 IN SOA ns.fleet.internal. hostmaster.fleet.internal. 1 3600 600 86400 5|"},
		{"fleet.internal.", dns.TypeA, "NOERROR |SOA"},
		// Reverse names of overlay addresses.
		{"1.0.64.100.in-addr.arpa.", dns.TypePTR, "NOERROR 1.0.64.100.in-addr.arpa. 5 IN PTR web-1.fleet.internal.|"},
		{"3.0.64.100.IN-ADDR.ARPA.", dns.TypePTR, "NOERROR 3.0.64.100.IN-ADDR.ARPA. 5 IN PTR alices-macbook-pro.fleet.internal.|"},
		{"9.0.64.100.in-addr.arpa.", dns.TypePTR, "NXDOMAIN |SOA"}, // the duplicate's address is nobody's
		{mustReverse("fd7a:115c:a1e0::1"), dns.TypePTR, "NOERROR " + mustReverse("fd7a:115c:a1e0::1") + " 5 IN PTR web-1.fleet.internal.|"},
		{mustReverse("fd7a:115c:a1e0::77"), dns.TypePTR, "NXDOMAIN |SOA"},
		// Everything else is the OS's resolvers' business.
		{"example.com.", dns.TypeA, "REFUSED |"},
		{"fleet.internal.example.com.", dns.TypeA, "REFUSED |"},
		{"notfleet.internal.", dns.TypeA, "REFUSED |"},
		{"1.1.168.192.in-addr.arpa.", dns.TypePTR, "REFUSED |"},
		{"64.100.in-addr.arpa.", dns.TypePTR, "REFUSED |"},
		{"01.0.64.100.in-addr.arpa.", dns.TypePTR, "REFUSED |"},
		{"256.0.64.100.in-addr.arpa.", dns.TypePTR, "REFUSED |"},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.name, dns.TypeToString[tc.qtype]), func(t *testing.T) {
			resp := s.Answer(query(tc.name, tc.qtype))
			if got := summary(resp); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if resp.RecursionAvailable {
				t.Error("RA set: the resolver answers only its zone")
			}
			if resp.Rcode != dns.RcodeRefused && !resp.Authoritative {
				t.Error("answers from the zone must be authoritative")
			}
		})
	}
	if z := s.Zone(); z.Domain() != "fleet.internal" || z.Len() != 5 {
		t.Errorf("zone %s with %d names; want fleet.internal with 5", z.Domain(), z.Len())
	}
}

func mustReverse(a string) string {
	r, err := dns.ReverseAddr(a)
	if err != nil {
		panic(err)
	}
	return r
}

func TestMalformedQueries(t *testing.T) {
	var s Server
	s.SetZone(testZone(t))
	two := query("web-1.fleet.internal.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	notify := query("web-1.fleet.internal.", dns.TypeA)
	notify.Opcode = dns.OpcodeNotify
	chaos := query("web-1.fleet.internal.", dns.TypeA)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	for name, tc := range map[string]struct {
		m    *dns.Msg
		want int
	}{
		"two questions": {two, dns.RcodeFormatError},
		"no questions":  {&dns.Msg{}, dns.RcodeFormatError},
		"notify":        {notify, dns.RcodeNotImplemented},
		"chaos class":   {chaos, dns.RcodeRefused},
	} {
		if got := s.Answer(tc.m).Rcode; got != tc.want {
			t.Errorf("%s: %s, want %s", name, dns.RcodeToString[got], dns.RcodeToString[tc.want])
		}
	}
	var none Server // no zone yet (before the first map)
	if got := none.Answer(query("web-1.fleet.internal.", dns.TypeA)).Rcode; got != dns.RcodeRefused {
		t.Errorf("without a zone: %s, want REFUSED", dns.RcodeToString[got])
	}
}

func TestBadDomains(t *testing.T) {
	for _, d := range []string{"", ".", "fleet..internal", "fleet.internal\x00", "flee t.internal", "under_score.internal", strings.Repeat("a.", 120) + "internal", "-x.internal"} {
		if _, err := NewZone(d, overlay, nil); err == nil {
			t.Errorf("domain %q accepted", d)
		}
	}
}

// Over real sockets: UDP with truncation and the retry over TCP, and
// queries from another machine refused.
func TestOverSockets(t *testing.T) {
	var hosts []Host
	for i := range 200 {
		hosts = append(hosts, Host{Name: fmt.Sprintf("h%d", i), IPv4: netip.AddrFrom4([4]byte{100, 64, 1, byte(i)})})
	}
	z, err := NewZone("fleet.internal", overlay, append(hosts, Host{Name: "web-1", IPv4: netip.MustParseAddr("100.64.0.1")}))
	if err != nil {
		t.Fatal(err)
	}
	var s Server
	s.SetZone(z)
	if err := s.Listen(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.Addr().String()

	udp := &dns.Client{Net: "udp"}
	resp, _, err := udp.Exchange(query("web-1.fleet.internal.", dns.TypeA), addr)
	if err != nil || summary(resp) != "NOERROR web-1.fleet.internal. 5 IN A 100.64.0.1|" {
		t.Fatalf("udp: %v %v", resp, err)
	}
	tcp := &dns.Client{Net: "tcp"}
	resp, _, err = tcp.Exchange(query("h7.fleet.internal.", dns.TypeA), addr)
	if err != nil || summary(resp) != "NOERROR h7.fleet.internal. 5 IN A 100.64.1.7|" {
		t.Fatalf("tcp: %v %v", resp, err)
	}

	// An answer larger than 512 bytes as built (names are not compressed)
	// still reaches a plain-DNS client over UDP within 512 bytes (made to
	// fit, or truncated with TC for the client to retry over TCP), and
	// whole over TCP. Long labels make one.
	longDomain := strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + ".internal"
	bigZone, err := NewZone(longDomain, overlay, []Host{{Name: strings.Repeat("n", 63), IPv4: netip.MustParseAddr("100.64.0.1"), IPv6: netip.MustParseAddr("fd7a:115c:a1e0::1")}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetZone(bigZone)
	big := query(strings.Repeat("n", 63)+"."+longDomain+".", dns.TypeANY)
	if m, _ := s.Answer(big).Pack(); len(m) <= dns.MinMsgSize {
		t.Fatalf("the answer is %d bytes as built: too small to test the UDP limit", len(m))
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wireQ, _ := big.Pack()
	conn.Write(wireQ)
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var got dns.Msg
	if err := got.Unpack(buf[:n]); err != nil || n > dns.MinMsgSize || (!got.Truncated && len(got.Answer) != 2) {
		t.Fatalf("big answer over udp: %d bytes, TC %v, %d answers, %v", n, got.Truncated, len(got.Answer), err)
	}
	resp, _, err = tcp.Exchange(big, addr)
	if err != nil || resp.Truncated || len(resp.Answer) != 2 {
		t.Fatalf("big answer over tcp: want both records, got %v %v", resp, err)
	}
	s.SetZone(z)

	// Queries that arrive from elsewhere than this machine are refused.
	if !local(&net.UDPAddr{IP: net.ParseIP("127.0.0.1")}, &net.UDPAddr{IP: net.ParseIP("100.64.0.1")}) ||
		!local(&net.UDPAddr{IP: net.ParseIP("100.64.0.1")}, &net.UDPAddr{IP: net.ParseIP("100.64.0.1")}) ||
		local(&net.UDPAddr{IP: net.ParseIP("100.64.0.2")}, &net.UDPAddr{IP: net.ParseIP("100.64.0.1")}) ||
		local(&net.TCPAddr{IP: net.ParseIP("100.64.0.2")}, &net.TCPAddr{IP: net.ParseIP("100.64.0.1")}) {
		t.Fatal("local() misjudges where a query comes from")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := udp.Exchange(query("web-1.fleet.internal.", dns.TypeA), addr); err == nil {
		t.Fatal("still answering after Close")
	}
	if err := s.Listen(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
		t.Fatalf("listen again after Close: %v", err)
	}
	s.Close()
}

// A zone swap is seen by the next query: a rename or revocation takes
// effect with the next network map.
func TestZoneSwap(t *testing.T) {
	var s Server
	s.SetZone(testZone(t))
	z2, _ := NewZone("fleet.internal", overlay, []Host{{Name: "web-2", IPv4: netip.MustParseAddr("100.64.0.1")}})
	s.SetZone(z2)
	if got := summary(s.Answer(query("web-1.fleet.internal.", dns.TypeA))); got != "NXDOMAIN |SOA" {
		t.Errorf("old name after the swap: %s", got)
	}
	if got := summary(s.Answer(query("1.0.64.100.in-addr.arpa.", dns.TypePTR))); !strings.Contains(got, "web-2.fleet.internal.") {
		t.Errorf("PTR after the swap: %s", got)
	}
}

// BenchmarkAnswer is the resolver's logic alone, over a zone of 10,000
// names: go test -run '^$' -bench Answer ./agent/internal/resolver/
func BenchmarkAnswer(b *testing.B) {
	var hosts []Host
	for i := range 10000 {
		hosts = append(hosts, Host{Name: fmt.Sprintf("host-%d", i), IPv4: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})})
	}
	z, err := NewZone("fleet.internal", overlay, hosts)
	if err != nil {
		b.Fatal(err)
	}
	var s Server
	s.SetZone(z)
	q := query("host-4711.fleet.internal.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if r := s.Answer(q); len(r.Answer) != 1 {
			b.Fatal(r)
		}
	}
}

// The admin's records: addresses, a CNAME followed inside the zone and
// left to the client outside it, and a record a machine's name shadows.
func TestRecords(t *testing.T) {
	z, err := NewZone("fleet.internal", overlay, []Host{{Name: "web-1", IPv4: netip.MustParseAddr("100.64.0.1"), IPv6: netip.MustParseAddr("fd7a:115c:a1e0::1")}},
		wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.5"},
		wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.6"},
		wire.DNSRecord{Name: "db", Type: "AAAA", Value: "fd00::5"},
		wire.DNSRecord{Name: "api.prod", Type: "CNAME", Value: "web-1.fleet.internal"},
		wire.DNSRecord{Name: "docs", Type: "CNAME", Value: "docs.example.com."},
		wire.DNSRecord{Name: "web-1", Type: "A", Value: "192.0.2.66"},  // a machine's name: the machine wins
		wire.DNSRecord{Name: "bad name", Type: "A", Value: "10.0.0.1"}, // skipped
	)
	if err != nil {
		t.Fatal(err)
	}
	var s Server
	s.SetZone(z)
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"db.fleet.internal.", dns.TypeA, "NOERROR db.fleet.internal. 5 IN A 10.0.0.5;db.fleet.internal. 5 IN A 10.0.0.6|"},
		{"db.fleet.internal.", dns.TypeAAAA, "NOERROR db.fleet.internal. 5 IN AAAA fd00::5|"},
		{"api.prod.fleet.internal.", dns.TypeA, "NOERROR api.prod.fleet.internal. 5 IN CNAME web-1.fleet.internal.;web-1.fleet.internal. 5 IN A 100.64.0.1|"},
		{"api.prod.fleet.internal.", dns.TypeAAAA, "NOERROR api.prod.fleet.internal. 5 IN CNAME web-1.fleet.internal.;web-1.fleet.internal. 5 IN AAAA fd7a:115c:a1e0::1|"},
		{"api.prod.fleet.internal.", dns.TypeCNAME, "NOERROR api.prod.fleet.internal. 5 IN CNAME web-1.fleet.internal.|"},
		{"docs.fleet.internal.", dns.TypeA, "NOERROR docs.fleet.internal. 5 IN CNAME docs.example.com.|"},
		{"web-1.fleet.internal.", dns.TypeA, "NOERROR web-1.fleet.internal. 5 IN A 100.64.0.1|"},
		{"prod.fleet.internal.", dns.TypeA, "NXDOMAIN |SOA"},
	} {
		if got := summary(s.Answer(query(tc.name, tc.qtype))); got != tc.want {
			t.Errorf("%s %s:\ngot  %s\nwant %s", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
		}
	}
	if z.Len() != 4 {
		t.Errorf("%d names, want 4 (web-1, db, api.prod, docs)", z.Len())
	}
}
