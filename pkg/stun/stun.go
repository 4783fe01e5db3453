// Package stun is the little of STUN (RFC 8489) that Wirefleet speaks:
// Binding requests from agents and the server's answers, which tell an
// agent the address and port its UDP socket has on the far side of its
// NAT (the "reflexive" address). Messages are built and parsed with
// github.com/pion/stun.
//
// Answers carry only XOR-MAPPED-ADDRESS and are never larger than the
// request they answer, so the server cannot be used to amplify a spoofed
// flood: agents pad their requests to RequestSize.
package stun

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	pionstun "github.com/pion/stun/v3"
)

// DefaultPort is STUN's registered UDP port.
const DefaultPort = 3478

// RequestSize is the size of an agent's Binding request: room for the
// largest answer (an IPv6 XOR-MAPPED-ADDRESS, 44 bytes) with margin.
const RequestSize = 64

// TxID identifies a request and its answer.
type TxID [pionstun.TransactionIDSize]byte

// NewTxID returns a random transaction ID.
func NewTxID() TxID { return pionstun.NewTransactionID() }

// Errors.
var (
	ErrNotSTUN    = errors.New("stun: not a STUN message")
	ErrNotBinding = errors.New("stun: not a Binding request")
	ErrTooSmall   = errors.New("stun: request smaller than its answer (amplification guard)")
	ErrNoAddress  = errors.New("stun: answer without XOR-MAPPED-ADDRESS")
)

// padding is a comprehension-optional attribute (0x8000-0xFFFF range),
// ignored by servers that do not know it.
const attrPadding pionstun.AttrType = 0x8077

// Request returns a Binding request padded to RequestSize.
func Request(tx TxID) []byte {
	m := pionstun.New()
	m.TransactionID = tx
	m.SetType(pionstun.BindingRequest)
	m.WriteHeader()
	m.Add(attrPadding, make([]byte, RequestSize-20-4)) // header 20, attribute header 4
	m.WriteLength()
	return append([]byte(nil), m.Raw...)
}

// Is reports whether b looks like a STUN message (the magic cookie), as
// opposed to WireGuard or probe traffic sharing the socket.
func Is(b []byte) bool { return pionstun.IsMessage(b) }

// Answer returns the Binding success response telling from its own
// address, or an error when req is not a Binding request or is smaller
// than the answer would be.
func Answer(req []byte, from netip.AddrPort) ([]byte, error) {
	if !pionstun.IsMessage(req) {
		return nil, ErrNotSTUN
	}
	in := pionstun.New()
	if err := pionstun.Decode(req, in); err != nil {
		return nil, fmt.Errorf("stun: %w", err)
	}
	if in.Type != pionstun.BindingRequest {
		return nil, ErrNotBinding
	}
	out := pionstun.New()
	out.TransactionID = in.TransactionID
	out.SetType(pionstun.BindingSuccess)
	out.WriteHeader()
	addr := pionstun.XORMappedAddress{IP: net.IP(from.Addr().Unmap().AsSlice()), Port: int(from.Port())}
	if err := addr.AddTo(out); err != nil {
		return nil, fmt.Errorf("stun: %w", err)
	}
	if len(out.Raw) > len(req) {
		return nil, ErrTooSmall
	}
	return out.Raw, nil
}

// ParseAnswer returns the transaction ID and the reflexive address of a
// Binding success response.
func ParseAnswer(b []byte) (TxID, netip.AddrPort, error) {
	if !pionstun.IsMessage(b) {
		return TxID{}, netip.AddrPort{}, ErrNotSTUN
	}
	m := pionstun.New()
	if err := pionstun.Decode(b, m); err != nil {
		return TxID{}, netip.AddrPort{}, fmt.Errorf("stun: %w", err)
	}
	if m.Type != pionstun.BindingSuccess {
		return TxID{}, netip.AddrPort{}, fmt.Errorf("stun: unexpected %s", m.Type)
	}
	var xa pionstun.XORMappedAddress
	if err := xa.GetFrom(m); err != nil {
		return TxID{}, netip.AddrPort{}, ErrNoAddress
	}
	ip, ok := netip.AddrFromSlice(xa.IP)
	if !ok || xa.Port <= 0 || xa.Port > 65535 {
		return TxID{}, netip.AddrPort{}, ErrNoAddress
	}
	return m.TransactionID, netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port)), nil
}
