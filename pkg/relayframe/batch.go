package relayframe

// Batches: several frames in one WebSocket message, and so in one TLS
// record, where one frame per message cost the server ~28 µs of CPU per
// packet whatever its size. A batch is TypeBatch followed by frames, each
// preceded by its length (two bytes, big-endian):
//
//	0x05 | len₁ | frame₁ | len₂ | frame₂ | …
//
// Batches are spoken only on a WebSocket whose subprotocol is Protocol2:
// an agent offers it, a server that knows it accepts it, and either side
// then may send batches (it still may send lone frames). With an older
// peer neither side sends them, so old agents and old servers keep
// working.

import (
	"encoding/binary"
	"errors"
)

// TypeBatch is a message of several frames.
const TypeBatch byte = 5

// Protocol2 is the WebSocket subprotocol of relays that speak batches.
const Protocol2 = "wirefleet-relay-2"

// MaxBatch is the largest batch message either side writes (and the read
// limit a Protocol2 session sets): about 40 full-size WireGuard packets.
const MaxBatch = 64 << 10

// ErrBatch is a batch whose lengths do not add up.
var ErrBatch = errors.New("relay: malformed batch")

// AppendBatched appends one frame to a batch being built in dst (which
// must start with TypeBatch; see NewBatch).
func AppendBatched(dst []byte, typ byte, key Key, payload []byte) []byte {
	n := HeaderLen + len(payload)
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	return Append(dst, typ, key, payload)
}

// AppendFrame appends an encoded frame to a batch.
func AppendFrame(dst, frame []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(frame)))
	return append(dst, frame...)
}

// NewBatch starts a batch in dst.
func NewBatch(dst []byte) []byte { return append(dst[:0], TypeBatch) }

// IsBatch reports whether a message is a batch.
func IsBatch(b []byte) bool { return len(b) > 0 && b[0] == TypeBatch }

// Split calls fn with each frame of batch b (the bytes of the frame, not
// yet parsed; they alias b). It stops at the first malformed length and
// returns ErrBatch; the frames before it were delivered.
func Split(b []byte, fn func(frame []byte)) error {
	if !IsBatch(b) {
		return ErrBatch
	}
	b = b[1:]
	for len(b) > 0 {
		if len(b) < 2 {
			return ErrBatch
		}
		n := int(binary.BigEndian.Uint16(b))
		if n < HeaderLen || n > MaxFrame || len(b)-2 < n {
			return ErrBatch
		}
		fn(b[2 : 2+n])
		b = b[2+n:]
	}
	return nil
}
