// Package relayframe is the frame format of Wirefleet's packet relay: agents
// that cannot reach each other directly (symmetric NAT, UDP blocked) send
// their WireGuard packets to the server over one WebSocket on the HTTPS
// port, addressed by the destination's WireGuard public key, and the
// server forwards them to the destination's WebSocket. Packets are
// WireGuard ciphertext; the relay never holds a key that opens them.
//
// Agents open the WebSocket at wire.PathRelay with their machine
// credential. Each WebSocket binary message is one frame: a type byte,
// a WireGuard public key (32 bytes), and a payload.
//
//   - Send (agent → server): key is the destination; payload the packet.
//   - Recv (server → agent): key is the source; payload the packet.
//   - NoPeer (server → agent): the destination named by key has no relay
//     session; no payload. The agent stops relaying to it for a while.
//   - Present (server → agent): the machine named by key, which had no
//     session when this agent last sent to it, has one now; no payload.
//     The agent resends the handshake that was lost, instead of waiting
//     for WireGuard's five-second retry.
package relayframe

import (
	"errors"
	"fmt"
)

// Frame types.
const (
	TypeSend    byte = 1
	TypeRecv    byte = 2
	TypeNoPeer  byte = 3
	TypePresent byte = 4
)

// KeyLen is the length of a WireGuard public key.
const KeyLen = 32

// HeaderLen is the length of a frame's header.
const HeaderLen = 1 + KeyLen

// MaxPayload is the largest packet a frame carries: WireGuard's overhead
// on the largest tunnel MTU agents use (9000-byte jumbo frames) fits.
const MaxPayload = 9216

// MaxFrame is the largest frame on the wire.
const MaxFrame = HeaderLen + MaxPayload

// Key is a WireGuard public key.
type Key [KeyLen]byte

// Frame is one decoded frame. Payload aliases the buffer it was parsed
// from.
type Frame struct {
	Type    byte
	Key     Key
	Payload []byte
}

// Errors from Parse. Callers count them by kind; none is fatal to a
// session.
var (
	ErrShort     = errors.New("relay: frame shorter than its header")
	ErrType      = errors.New("relay: unknown frame type")
	ErrOversized = errors.New("relay: frame payload too large")
	ErrPayload   = errors.New("relay: frame of this type carries no payload")
)

// Parse decodes one frame.
func Parse(b []byte) (Frame, error) {
	if len(b) < HeaderLen {
		return Frame{}, ErrShort
	}
	f := Frame{Type: b[0], Payload: b[HeaderLen:]}
	copy(f.Key[:], b[1:HeaderLen])
	switch f.Type {
	case TypeSend, TypeRecv:
		if len(f.Payload) > MaxPayload {
			return Frame{}, ErrOversized
		}
	case TypeNoPeer, TypePresent:
		if len(f.Payload) != 0 {
			return Frame{}, ErrPayload
		}
	default:
		return Frame{}, fmt.Errorf("%w %d", ErrType, f.Type)
	}
	return f, nil
}

// Append appends a frame to dst and returns the result.
func Append(dst []byte, typ byte, key Key, payload []byte) []byte {
	dst = append(dst, typ)
	dst = append(dst, key[:]...)
	return append(dst, payload...)
}
