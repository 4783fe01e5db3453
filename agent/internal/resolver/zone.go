// Package resolver answers DNS queries for the fleet's domain from the
// network map: NAME.<domain> gives a machine's overlay addresses, PTR
// queries for overlay addresses give names back, and every other name is
// REFUSED, so the operating system keeps its own resolvers for the rest of
// the world (split DNS; see package dnsconfig for how the OS is told).
//
// A Zone is an immutable snapshot built from one network map; the Server
// swaps zones atomically, so a rename or revocation takes effect with the
// next map and a query never sees half of one.
package resolver

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TTL is the time to live of every answer, in seconds: short, so that a
// rename or revocation is not hidden by a cache for long.
const TTL = 5

// Host is one machine as the zone names it.
type Host struct {
	Name string // machine name; normalised to a DNS label
	IPv4 netip.Addr
	IPv6 netip.Addr
}

// Zone is the fleet's names at one network-map version.
type Zone struct {
	domain   string                // canonical FQDN: lowercase, trailing dot
	names    map[string]*answers   // by FQDN: machines' names and the admin's records
	ptr      map[netip.Addr]string // address → FQDN
	prefixes []netip.Prefix        // overlay ranges: reverse names inside are ours
	soa      *dns.SOA
}

// answers is what one name resolves to: addresses, or a CNAME.
type answers struct {
	v4, v6  []netip.Addr
	cname   string // FQDN
	machine bool   // a machine's name (an admin's record of the same name is left out)
}

// NewZone builds a zone for domain (e.g. "fleet.internal") from hosts and
// the admin's records (wire.DNSRecord, names relative to the domain; a
// record whose name a machine has is left out: the machine wins).
// Names are normalised to DNS labels (wire.SanitizeName); a host whose
// name normalises to nothing is left out, and of two hosts with the same
// name the first wins. prefixes are the overlay ranges whose reverse
// names the zone answers for (NXDOMAIN for unknown addresses in them).
func NewZone(domain string, prefixes []netip.Prefix, hosts []Host, records ...wire.DNSRecord) (*Zone, error) {
	d, err := CanonicalDomain(domain)
	if err != nil {
		return nil, err
	}
	z := &Zone{
		domain:   d,
		names:    make(map[string]*answers, len(hosts)+len(records)),
		ptr:      make(map[netip.Addr]string, 2*len(hosts)),
		prefixes: prefixes,
		soa: &dns.SOA{
			Hdr:     dns.RR_Header{Name: d, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
			Ns:      "ns." + d,
			Mbox:    "hostmaster." + d,
			Serial:  1,
			Refresh: 3600, Retry: 600, Expire: 86400,
			Minttl: TTL, // negative answers are cached no longer than positive ones
		},
	}
	for _, h := range hosts {
		label := wire.SanitizeName(h.Name)
		if label == "" {
			continue
		}
		fqdn := label + "." + d
		if _, dup := z.names[fqdn]; dup {
			continue
		}
		x := &answers{machine: true}
		if h.IPv4.IsValid() {
			x.v4 = []netip.Addr{h.IPv4.Unmap()}
		}
		if h.IPv6.IsValid() {
			x.v6 = []netip.Addr{h.IPv6}
		}
		z.names[fqdn] = x
		for _, a := range []netip.Addr{h.IPv4, h.IPv6} {
			if a.IsValid() {
				z.ptr[a.Unmap()] = fqdn
			}
		}
	}
	for _, r := range records {
		r, err := wire.NormalizeDNSRecord(r)
		if err != nil {
			continue // the server checked it; a newer server's kind is skipped
		}
		fqdn := r.Name + "." + d
		x := z.names[fqdn]
		if x == nil {
			x = &answers{}
			z.names[fqdn] = x
		} else if x.machine {
			continue
		}
		switch r.Type {
		case "A", "AAAA":
			a := netip.MustParseAddr(r.Value) // normalised above
			if a.Is4() {
				x.v4 = append(x.v4, a)
			} else {
				x.v6 = append(x.v6, a)
			}
		case "CNAME":
			x.cname = r.Value + "."
		}
	}
	for _, x := range z.names {
		if x.cname != "" && len(x.v4)+len(x.v6) > 0 {
			x.v4, x.v6 = nil, nil // a CNAME stands alone
		}
	}
	return z, nil
}

// CanonicalDomain checks a fleet domain and returns it lowercase with a
// trailing dot.
func CanonicalDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if err := wire.ValidateDomain(d); err != nil {
		return "", fmt.Errorf("resolver: %w", err)
	}
	return d + ".", nil
}

// Domain is the zone's domain without the trailing dot.
func (z *Zone) Domain() string { return strings.TrimSuffix(z.domain, ".") }

// Len is the number of names in the zone: machines and the admin's.
func (z *Zone) Len() int { return len(z.names) }

// ours reports whether addr is in an overlay range of the zone.
func (z *Zone) ours(addr netip.Addr) bool {
	for _, p := range z.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// reverseAddr parses a full reverse name (d.c.b.a.in-addr.arpa. or the 32
// nibbles of ip6.arpa.). ok is false for anything else, including partial
// names.
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, l := range labels {
			var n int
			if len(l) == 0 || len(l) > 3 || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, false
			}
			for _, c := range l {
				if c < '0' || c > '9' {
					return netip.Addr{}, false
				}
				n = n*10 + int(c-'0')
			}
			if n > 255 {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		if len(rest) != 63 { // 32 nibbles and 31 dots
			return netip.Addr{}, false
		}
		var b [16]byte
		for i := 0; i < 32; i++ {
			c := rest[2*i]
			if i < 31 && rest[2*i+1] != '.' {
				return netip.Addr{}, false
			}
			var v byte
			switch {
			case c >= '0' && c <= '9':
				v = c - '0'
			case c >= 'a' && c <= 'f':
				v = c - 'a' + 10
			default:
				return netip.Addr{}, false
			}
			pos := 31 - i // nibbles come least significant first
			if pos%2 == 0 {
				b[pos/2] |= v << 4
			} else {
				b[pos/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
