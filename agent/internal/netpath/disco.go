package netpath

import (
	"crypto/subtle"
	"errors"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/curve25519"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
)

// Probe messages ("disco", after Tailscale's name for the idea) share the
// WireGuard UDP socket. They start with a magic that no WireGuard message
// starts with (WireGuard's first byte is 1–4, followed by three zeros)
// and are authenticated with a key both peers derive from their
// WireGuard keys (static Diffie-Hellman), so nobody else can make a peer
// believe a path works. They carry no user data.
//
//	magic "WFD1" | type | sender public key (32) | txid (12) | MAC (16)
const (
	discoPing byte = 1 // "are you there?" — sent to each candidate address
	discoPong byte = 2 // "yes" — sent back to the ping's source
	discoCall byte = 3 // "probe me now" — sent through the relay
)

const (
	discoMagic   = "WFD1"
	txidLen      = 12
	macLen       = 16
	discoBodyLen = len(discoMagic) + 1 + relayframe.KeyLen + txidLen
	discoLen     = discoBodyLen + macLen
)

type txid [txidLen]byte

type discoMsg struct {
	typ    byte
	sender relayframe.Key
	tx     txid
}

var errDisco = errors.New("netpath: not a probe message")

// isDisco reports whether b is a probe message (by its magic).
func isDisco(b []byte) bool {
	return len(b) >= len(discoMagic) && string(b[:len(discoMagic)]) == discoMagic
}

// discoKey derives the MAC key two peers share: both compute the same
// X25519 result from their own private and the other's public key.
func discoKey(priv, peerPub relayframe.Key) ([32]byte, error) {
	shared, err := curve25519.X25519(priv[:], peerPub[:])
	if err != nil {
		return [32]byte{}, err // a low-order public key
	}
	return blake2s.Sum256(append([]byte("wirefleet disco v1 "), shared...)), nil
}

func discoMAC(key [32]byte, body []byte) [macLen]byte {
	h, _ := blake2s.New128(key[:]) // fails only for keys over 32 bytes
	h.Write(body)
	var mac [macLen]byte
	copy(mac[:], h.Sum(nil))
	return mac
}

// appendDisco appends a signed probe message to dst.
func appendDisco(dst []byte, m discoMsg, key [32]byte) []byte {
	start := len(dst)
	dst = append(dst, discoMagic...)
	dst = append(dst, m.typ)
	dst = append(dst, m.sender[:]...)
	dst = append(dst, m.tx[:]...)
	mac := discoMAC(key, dst[start:])
	return append(dst, mac[:]...)
}

// parseDisco decodes a probe message without checking its MAC (the key
// depends on the sender it names); verifyDisco checks it.
func parseDisco(b []byte) (discoMsg, error) {
	if len(b) != discoLen || !isDisco(b) {
		return discoMsg{}, errDisco
	}
	m := discoMsg{typ: b[len(discoMagic)]}
	if m.typ < discoPing || m.typ > discoCall {
		return discoMsg{}, errDisco
	}
	copy(m.sender[:], b[len(discoMagic)+1:])
	copy(m.tx[:], b[len(discoMagic)+1+relayframe.KeyLen:])
	return m, nil
}

func verifyDisco(b []byte, key [32]byte) bool {
	if len(b) != discoLen {
		return false
	}
	mac := discoMAC(key, b[:discoBodyLen])
	return subtle.ConstantTimeCompare(mac[:], b[discoBodyLen:]) == 1
}

func curve25519X25519Base(priv [32]byte) ([]byte, error) {
	return curve25519.X25519(priv[:], curve25519.Basepoint)
}
