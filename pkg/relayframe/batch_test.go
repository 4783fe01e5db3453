package relayframe

import (
	"bytes"
	"errors"
	"testing"
)

func TestBatchRoundTrip(t *testing.T) {
	var k1, k2 Key
	k1[0], k2[0] = 1, 2
	b := NewBatch(nil)
	b = AppendBatched(b, TypeSend, k1, []byte("one"))
	b = AppendBatched(b, TypeSend, k2, bytes.Repeat([]byte{9}, MaxPayload))
	b = AppendFrame(b, Append(nil, TypeNoPeer, k1, nil))
	var got []Frame
	if err := Split(b, func(fr []byte) {
		f, err := Parse(fr)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != k1 || string(got[0].Payload) != "one" || len(got[1].Payload) != MaxPayload || got[2].Type != TypeNoPeer {
		t.Fatalf("split: %+v", got)
	}
}

func TestSplitRejects(t *testing.T) {
	good := AppendBatched(NewBatch(nil), TypeSend, Key{}, []byte("x"))
	for name, b := range map[string][]byte{
		"not a batch":             Append(nil, TypeSend, Key{}, nil),
		"a length past the end":   append(NewBatch(nil), 0, 200, 1),
		"a length under a header": append(NewBatch(nil), 0, 3, 1, 2, 3),
		"a torn length":           append(append([]byte{}, good...), 0),
		"a length over a frame":   append(NewBatch(nil), 0xff, 0xff),
	} {
		n := 0
		err := Split(b, func([]byte) { n++ })
		if !errors.Is(err, ErrBatch) {
			t.Errorf("%s: %v", name, err)
		}
		if name == "a torn length" && n != 1 {
			t.Errorf("the good frame before a torn one was not delivered")
		}
	}
	if err := Split(NewBatch(nil), func([]byte) { t.Fatal("a frame from an empty batch") }); err != nil {
		t.Errorf("an empty batch: %v", err)
	}
}

// Split never reads outside its batch, whatever the bytes.
func FuzzSplit(f *testing.F) {
	f.Add(AppendBatched(NewBatch(nil), TypeSend, Key{}, []byte("x")))
	f.Add([]byte{TypeBatch, 0, 33})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = Split(b, func(fr []byte) {
			if len(fr) < HeaderLen || len(fr) > MaxFrame {
				t.Fatalf("a frame of %d bytes", len(fr))
			}
			_, _ = Parse(fr)
		})
	})
}
