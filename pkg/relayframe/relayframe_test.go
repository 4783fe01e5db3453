package relayframe

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	var k Key
	for i := range k {
		k[i] = byte(i)
	}
	for _, tc := range []struct {
		typ     byte
		payload []byte
	}{
		{TypeSend, []byte("ciphertext")},
		{TypeRecv, bytes.Repeat([]byte{7}, MaxPayload)},
		{TypeSend, nil},
		{TypeNoPeer, nil},
		{TypePresent, nil},
	} {
		b := Append(nil, tc.typ, k, tc.payload)
		f, err := Parse(b)
		if err != nil {
			t.Fatalf("type %d: %v", tc.typ, err)
		}
		if f.Type != tc.typ || f.Key != k || !bytes.Equal(f.Payload, tc.payload) {
			t.Fatalf("type %d: round trip gave %+v", tc.typ, f)
		}
	}
}

func TestParseRejects(t *testing.T) {
	var k Key
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header cut", make([]byte, HeaderLen-1), ErrShort},
		{"unknown type", Append(nil, 9, k, nil), ErrType},
		{"type zero", Append(nil, 0, k, []byte("x")), ErrType},
		{"oversized", Append(nil, TypeSend, k, make([]byte, MaxPayload+1)), ErrOversized},
		{"nopeer with payload", Append(nil, TypeNoPeer, k, []byte("x")), ErrPayload},
		{"present with payload", Append(nil, TypePresent, k, []byte("x")), ErrPayload},
	} {
		if _, err := Parse(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	var k Key
	f.Add(Append(nil, TypeSend, k, []byte("hello")))
	f.Add(Append(nil, TypeNoPeer, k, nil))
	f.Add([]byte{3})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			return
		}
		// What parses re-encodes to the same bytes.
		if got := Append(nil, fr.Type, fr.Key, fr.Payload); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding %x gave %x", b, got)
		}
		if len(fr.Payload) > MaxPayload {
			t.Fatalf("payload of %d bytes accepted", len(fr.Payload))
		}
	})
}
