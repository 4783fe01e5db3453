package netpath

import (
	"crypto/hmac"
	"crypto/subtle"
	"hash"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"
)

// A peer that is not configured in wireguard-go (idle, see the tunnel's
// lazy peers) and starts talking first sends a handshake initiation that
// wireguard-go would drop: it knows no such key. initiator reads the
// sender's static key out of the initiation — the first steps of the
// Noise IK handshake as WireGuard's paper (section 5.4.2) gives them — so
// the peer can be configured before the packet reaches the device.
// wireguard-go then runs the whole handshake (timestamps, replay, cookies)
// as usual; nothing here accepts a session.

const (
	noiseConstruction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
	wgIdentifier      = "WireGuard v1 zx2c4 Jason@zx2c4.com"
	labelMAC1         = "mac1----"
	// Offsets in the 148-byte initiation.
	offEphemeral = 8
	offStatic    = 40
	offMAC1      = 116
	staticSealed = 32 + chacha20poly1305.Overhead
)

// responder holds what the first steps need of our own key, computed once.
type responder struct {
	priv    [32]byte
	mac1Key [32]byte // HASH(LABEL_MAC1 || our public key)
	hash0   [32]byte // HASH(HASH(CONSTRUCTION) || IDENTIFIER) then || our public key
	chain0  [32]byte // HASH(CONSTRUCTION)
}

func newResponder(priv [32]byte, pub [32]byte) *responder {
	r := &responder{priv: priv}
	r.chain0 = blake2s.Sum256([]byte(noiseConstruction))
	h := blake2s.Sum256(append(r.chain0[:], wgIdentifier...))
	r.hash0 = blake2s.Sum256(append(h[:], pub[:]...))
	r.mac1Key = blake2s.Sum256(append([]byte(labelMAC1), pub[:]...))
	return r
}

// initiator returns the static public key of the peer that sent the
// handshake initiation msg to us. It checks MAC1 first (a keyed hash:
// cheap, and only senders that know our public key pass it), then does
// one X25519 and opens the sealed static key.
func (r *responder) initiator(msg []byte) ([32]byte, bool) {
	var key [32]byte
	if !isHandshake(msg, 1, initLen) {
		return key, false
	}
	mac, _ := blake2s.New128(r.mac1Key[:])
	mac.Write(msg[:offMAC1])
	if subtle.ConstantTimeCompare(mac.Sum(nil), msg[offMAC1:offMAC1+16]) != 1 {
		return key, false
	}
	eph := msg[offEphemeral:offStatic]
	chain := kdf1(r.chain0[:], eph)
	h := blake2s.Sum256(append(r.hash0[:], eph...))
	ss, err := curve25519.X25519(r.priv[:], eph)
	if err != nil {
		return key, false
	}
	_, k := kdf2(chain[:], ss)
	aead, err := chacha20poly1305.New(k[:])
	if err != nil {
		return key, false
	}
	var nonce [chacha20poly1305.NonceSize]byte
	out, err := aead.Open(key[:0], nonce[:], msg[offStatic:offStatic+staticSealed], h[:])
	if err != nil || len(out) != 32 {
		return [32]byte{}, false
	}
	return key, true
}

func newBlake2s() hash.Hash { h, _ := blake2s.New256(nil); return h }

func hmacBlake2s(key []byte, in ...[]byte) (sum [32]byte) {
	m := hmac.New(newBlake2s, key)
	for _, b := range in {
		m.Write(b)
	}
	m.Sum(sum[:0])
	return sum
}

// kdf1 and kdf2 are WireGuard's HKDF over HMAC-BLAKE2s.
func kdf1(key, in []byte) [32]byte {
	t0 := hmacBlake2s(key, in)
	return hmacBlake2s(t0[:], []byte{1})
}

func kdf2(key, in []byte) (t1, t2 [32]byte) {
	t0 := hmacBlake2s(key, in)
	t1 = hmacBlake2s(t0[:], []byte{1})
	t2 = hmacBlake2s(t0[:], t1[:], []byte{2})
	return t1, t2
}
