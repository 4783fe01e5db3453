package stun

import (
	"errors"
	"net/netip"
	"testing"

	pionstun "github.com/pion/stun/v3"
)

func TestRequestAnswerRoundTrip(t *testing.T) {
	for _, from := range []string{"203.0.113.7:41641", "[2001:db8::1]:3478", "[::ffff:198.51.100.2]:9"} {
		tx := NewTxID()
		req := Request(tx)
		if len(req) != RequestSize || !Is(req) {
			t.Fatalf("request: %d bytes, Is=%v", len(req), Is(req))
		}
		ans, err := Answer(req, netip.MustParseAddrPort(from))
		if err != nil {
			t.Fatalf("%s: %v", from, err)
		}
		if len(ans) > len(req) {
			t.Fatalf("answer %d bytes > request %d", len(ans), len(req))
		}
		gotTx, addr, err := ParseAnswer(ans)
		if err != nil {
			t.Fatal(err)
		}
		want := netip.MustParseAddrPort(from)
		want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
		if gotTx != tx || addr != want {
			t.Fatalf("got %x %v, want %x %v", gotTx, addr, tx, want)
		}
	}
}

func TestAnswerRefuses(t *testing.T) {
	from := netip.MustParseAddrPort("203.0.113.7:1")
	// A bare 20-byte Binding request, as most STUN clients send it: the
	// answer (32 bytes) would be larger, so none is sent.
	bare := pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest)
	if _, err := Answer(bare.Raw, from); !errors.Is(err, ErrTooSmall) {
		t.Errorf("bare request: %v, want ErrTooSmall", err)
	}
	ind := pionstun.MustBuild(pionstun.TransactionID, pionstun.NewType(pionstun.MethodBinding, pionstun.ClassIndication))
	ind.Add(attrPadding, make([]byte, 60))
	ind.WriteLength()
	if _, err := Answer(ind.Raw, from); !errors.Is(err, ErrNotBinding) {
		t.Errorf("indication: %v, want ErrNotBinding", err)
	}
	for _, b := range [][]byte{nil, []byte("hello"), {1, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 64)} {
		if _, err := Answer(b, from); err == nil {
			t.Errorf("%x answered", b)
		}
	}
	// A header that claims more attributes than it carries.
	torn := Request(NewTxID())
	if _, err := Answer(torn[:40], from); err == nil {
		t.Error("torn request answered")
	}
}

func TestParseAnswerRefuses(t *testing.T) {
	if _, _, err := ParseAnswer(Request(NewTxID())); err == nil {
		t.Error("a request parsed as an answer")
	}
	ok := pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingSuccess)
	if _, _, err := ParseAnswer(ok.Raw); !errors.Is(err, ErrNoAddress) {
		t.Errorf("answer without address: %v", err)
	}
}

func FuzzAnswer(f *testing.F) {
	f.Add(Request(NewTxID()))
	f.Add(pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest).Raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		ans, err := Answer(b, netip.MustParseAddrPort("[2001:db8::1]:1"))
		if err == nil && len(ans) > len(b) {
			t.Fatalf("answer of %d bytes to a %d-byte request", len(ans), len(b))
		}
	})
}

func FuzzParseAnswer(f *testing.F) {
	ans, _ := Answer(Request(NewTxID()), netip.MustParseAddrPort("203.0.113.7:41641"))
	f.Add(ans)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, addr, err := ParseAnswer(b)
		if err == nil && !addr.IsValid() {
			t.Fatal("invalid address accepted")
		}
	})
}
