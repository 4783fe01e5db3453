package filter

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// packet is what the filter reads from an IP packet's headers.
type packet struct {
	proto    uint8 // transport protocol; ICMPv6 is reported as protoICMP
	src, dst netip.Addr
	sport    uint16 // for ICMP echo: the identifier (in both ports)
	dport    uint16
	icmpType uint8 // normalised: see icmp* below
	hasPorts bool  // ports were read (not a later fragment, not another protocol)
	fragment bool  // a fragment after the first: no transport header
	l4       []byte
}

// ICMP messages the filter tells apart.
const (
	icmpOther = iota
	icmpEchoRequest
	icmpEchoReply
	icmpError // destination unreachable, time exceeded, parameter problem, packet too big
)

// parse reads an IPv4 or IPv6 packet's addresses, protocol and ports. It
// never allocates; ok is false for anything too short to be a packet.
func parse(b []byte) (p packet, ok bool) {
	if len(b) < 1 {
		return p, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return p, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return p, false
		}
		p.proto = b[9]
		p.src = netip.AddrFrom4([4]byte(b[12:16]))
		p.dst = netip.AddrFrom4([4]byte(b[16:20]))
		if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			p.fragment = true
			return p, true
		}
		p.l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return p, false
		}
		p.src = netip.AddrFrom16([16]byte(b[8:24]))
		p.dst = netip.AddrFrom16([16]byte(b[24:40]))
		next, rest := b[6], b[40:]
		for hops := 0; ; hops++ {
			if hops > 8 {
				return p, false
			}
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(rest) < 8 {
					return p, false
				}
				n := (int(rest[1]) + 1) * 8
				if len(rest) < n {
					return p, false
				}
				next, rest = rest[0], rest[n:]
				continue
			case 44: // fragment
				if len(rest) < 8 {
					return p, false
				}
				if binary.BigEndian.Uint16(rest[2:4])&0xfff8 != 0 {
					p.proto, p.fragment = rest[0], true
					if p.proto == protoICMPv6 {
						p.proto = protoICMP
					}
					return p, true
				}
				next, rest = rest[0], rest[8:]
				continue
			}
			break
		}
		p.proto, p.l4 = next, rest
		if p.proto == protoICMPv6 {
			p.proto = protoICMP
		}
	default:
		return p, false
	}
	switch p.proto {
	case protoTCP, protoUDP:
		if len(p.l4) < 4 {
			return p, false
		}
		p.sport = binary.BigEndian.Uint16(p.l4[0:2])
		p.dport = binary.BigEndian.Uint16(p.l4[2:4])
		p.hasPorts = true
	case protoICMP:
		if len(p.l4) < 8 {
			return p, false
		}
		v6 := b[0]>>4 == 6
		switch t := p.l4[0]; {
		case !v6 && t == 8, v6 && t == 128:
			p.icmpType = icmpEchoRequest
		case !v6 && t == 0, v6 && t == 129:
			p.icmpType = icmpEchoReply
		case !v6 && (t == 3 || t == 11 || t == 12), v6 && t >= 1 && t <= 4:
			p.icmpType = icmpError
		}
		if p.icmpType == icmpEchoRequest || p.icmpType == icmpEchoReply {
			id := binary.BigEndian.Uint16(p.l4[4:6])
			p.sport, p.dport, p.hasPorts = id, id, true
		}
	}
	return p, true
}

// quoted returns the packet an ICMP error quotes (its first bytes), which
// this side sent.
func (p packet) quoted() (packet, bool) {
	if p.icmpType != icmpError || len(p.l4) < 8 {
		return packet{}, false
	}
	return parse(p.l4[8:])
}
