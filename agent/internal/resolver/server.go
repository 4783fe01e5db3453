package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Server answers queries from the zone it was last given, over UDP and
// TCP. Only this machine's own queries are answered (from loopback or
// from one of its own addresses): a peer must not learn, through our
// resolver, names its own map does not give it.
type Server struct {
	zone atomic.Pointer[Zone]

	mu      sync.Mutex
	servers []*dns.Server
	addr    netip.AddrPort

	// Counters for status and metrics.
	Queries  atomic.Uint64
	Answered atomic.Uint64 // NOERROR with an answer
	NXDomain atomic.Uint64
	Refused  atomic.Uint64 // outside the fleet's domain, or not from this machine
}

// SetZone replaces the zone queries are answered from (nil: refuse all).
func (s *Server) SetZone(z *Zone) { s.zone.Store(z) }

// Zone returns the zone in force (nil when none).
func (s *Server) Zone() *Zone { return s.zone.Load() }

// Addr is the address the server listens on (invalid when it does not).
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Listen starts answering on addr over UDP and TCP. It returns once both
// sockets are bound, or the error binding them.
func (s *Server) Listen(addr netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.servers) > 0 {
		return errors.New("resolver: already listening")
	}
	pc, err := net.ListenPacket("udp", addr.String())
	if err != nil {
		return fmt.Errorf("resolver: listen on udp %s: %w", addr, err)
	}
	// TCP on the same port: the UDP socket may have picked it (port 0).
	tcpAddr := netip.AddrPortFrom(addr.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	ln, err := net.Listen("tcp", tcpAddr.String())
	if err != nil {
		pc.Close()
		return fmt.Errorf("resolver: listen on tcp %s: %w", tcpAddr, err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: s, UDPSize: dns.DefaultMsgSize}
	tcp := &dns.Server{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
	for _, srv := range []*dns.Server{udp, tcp} {
		go func() { _ = srv.ActivateAndServe() }()
	}
	s.servers = []*dns.Server{udp, tcp}
	s.addr = tcpAddr
	return nil
}

// Close stops listening. The server can Listen again afterwards.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(); err != nil && !strings.Contains(err.Error(), "not started") {
			errs = append(errs, err)
		}
	}
	s.servers, s.addr = nil, netip.AddrPort{}
	return errors.Join(errs...)
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	var resp *dns.Msg
	if local(w.RemoteAddr(), w.LocalAddr()) {
		resp = s.Answer(req)
	} else {
		s.Queries.Add(1)
		s.Refused.Add(1)
		resp = new(dns.Msg)
		resp.SetRcode(req, dns.RcodeRefused)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		resp.Truncate(size) // sets TC when the answer does not fit: the client retries over TCP
	}
	_ = w.WriteMsg(resp)
}

// local reports whether a query comes from this machine: over loopback,
// or from the address it was sent to (a query to our overlay address from
// this machine carries that address as its source).
func local(remote, localAddr net.Addr) bool {
	ra, ok := addrOf(remote)
	if !ok {
		return false
	}
	if ra.IsLoopback() {
		return true
	}
	la, ok := addrOf(localAddr)
	return ok && la == ra
}

func addrOf(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}

// Answer computes the response to req from the zone in force. It is the
// whole of the resolver's logic, without sockets.
func (s *Server) Answer(req *dns.Msg) *dns.Msg {
	s.Queries.Add(1)
	resp := answer(s.zone.Load(), req)
	switch {
	case resp.Rcode == dns.RcodeNameError:
		s.NXDomain.Add(1)
	case resp.Rcode == dns.RcodeRefused:
		s.Refused.Add(1)
	case resp.Rcode == dns.RcodeSuccess && len(resp.Answer) > 0:
		s.Answered.Add(1)
	}
	return resp
}

func answer(z *Zone, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = false
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(dns.DefaultMsgSize, false)
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if z == nil || (q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY) {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	hdr := func(t uint16) dns.RR_Header {
		// The question's spelling, not ours: resolvers that randomise
		// letter case (0x20) check that the answer matches it.
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
	}
	switch {
	case dns.IsSubDomain(z.domain, name):
		resp.Authoritative = true
		if name == z.domain {
			if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
				resp.Answer = append(resp.Answer, z.soa)
			} else {
				resp.Ns = append(resp.Ns, z.soa)
			}
			return resp
		}
		v4, v6, cname, ok := z.lookup(name)
		if !ok {
			resp.Rcode = dns.RcodeNameError
			resp.Ns = append(resp.Ns, z.soa)
			return resp
		}
		owner := q.Name
		if cname != "" {
			resp.Answer = append(resp.Answer, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: cname})
			if q.Qtype == dns.TypeCNAME {
				return resp
			}
			// Follow it within the zone; a target elsewhere is the
			// client's to resolve (through its other resolvers).
			v4, v6, _, _ = z.lookup(cname)
			owner = cname
		}
		for _, a := range v4 {
			if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
				resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: TTL}, A: a.AsSlice()})
			}
		}
		for _, a := range v6 {
			if q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY {
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: TTL}, AAAA: a.AsSlice()})
			}
		}
		if len(resp.Answer) == 0 {
			resp.Ns = append(resp.Ns, z.soa) // the name exists, not with this type (NODATA)
		}
		return resp
	default:
		addr, ok := reverseAddr(name)
		if !ok || !z.ours(addr) {
			resp.Rcode = dns.RcodeRefused // not ours: the OS asks its own resolvers
			return resp
		}
		resp.Authoritative = true
		target, ok := z.ptr[addr]
		if !ok {
			resp.Rcode = dns.RcodeNameError
			resp.Ns = append(resp.Ns, z.soa)
			return resp
		}
		if q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY {
			resp.Answer = append(resp.Answer, &dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: target})
		} else {
			resp.Ns = append(resp.Ns, z.soa)
		}
		return resp
	}
}

// lookup finds a name (canonical FQDN) among the machines and the admin's
// records.
func (z *Zone) lookup(name string) (v4, v6 []netip.Addr, cname string, ok bool) {
	x, ok := z.names[name]
	if !ok {
		return nil, nil, "", false
	}
	return x.v4, x.v6, x.cname, true
}
