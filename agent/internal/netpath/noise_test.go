package netpath

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/tuntest"
)

// recordBind is a conn.Bind that hands every packet wireguard-go sends to
// a channel, so a test can read a real handshake initiation.
type recordBind struct {
	sent   chan []byte
	closed chan struct{}
}

func (r *recordBind) Open(uint16) ([]conn.ReceiveFunc, uint16, error) {
	r.closed = make(chan struct{})
	closed := r.closed
	return []conn.ReceiveFunc{func([][]byte, []int, []conn.Endpoint) (int, error) {
		<-closed
		return 0, net.ErrClosed
	}}, 1, nil
}
func (r *recordBind) Close() error {
	if r.closed != nil {
		close(r.closed)
		r.closed = nil
	}
	return nil
}
func (r *recordBind) SetMark(uint32) error { return nil }
func (r *recordBind) Send(bufs [][]byte, _ conn.Endpoint) error {
	for _, b := range bufs {
		select {
		case r.sent <- append([]byte(nil), b...):
		default:
		}
	}
	return nil
}
func (r *recordBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	return conn.NewDefaultBind().ParseEndpoint(s)
}
func (r *recordBind) BatchSize() int { return 1 }

func newKey(t *testing.T) (priv, pub [32]byte) {
	t.Helper()
	rand.Read(priv[:])
	priv[0] &= 248
	priv[31] = priv[31]&127 | 64
	p, err := publicKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, p
}

// initiationFrom makes wireguard-go send a real handshake initiation
// from a device with key priv to the peer pub.
func initiationFrom(t *testing.T, priv, peer [32]byte) []byte {
	t.Helper()
	tt := tuntest.NewChannelTUN()
	rb := &recordBind{sent: make(chan []byte, 8)}
	dev := device.NewDevice(tt.TUN(), rb, device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(dev.Close)
	cfg := fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=127.0.0.1:9\nallowed_ip=10.9.0.2/32\n", hex.EncodeToString(priv[:]), hex.EncodeToString(peer[:]))
	if err := dev.IpcSet(cfg); err != nil {
		t.Fatal(err)
	}
	if err := dev.Up(); err != nil {
		t.Fatal(err)
	}
	tt.Outbound <- tuntest.Ping(netip.MustParseAddr("10.9.0.2"), netip.MustParseAddr("10.9.0.1"))
	for {
		select {
		case b := <-rb.sent:
			if isHandshake(b, 1, initLen) {
				return b
			}
		case <-time.After(5 * time.Second):
			t.Fatal("wireguard-go sent no handshake initiation")
		}
	}
}

// The sender of a real wireguard-go initiation is recognised by the
// responder it is meant for, and by no one else; tampering is refused.
func TestInitiatorOfRealHandshake(t *testing.T) {
	aPriv, aPub := newKey(t)
	bPriv, bPub := newKey(t)
	msg := initiationFrom(t, aPriv, bPub)

	got, ok := newResponder(bPriv, bPub).initiator(msg)
	if !ok || got != aPub {
		t.Fatalf("initiator = %x, %v; want a's key %x", got, ok, aPub)
	}
	cPriv, cPub := newKey(t)
	if _, ok := newResponder(cPriv, cPub).initiator(msg); ok {
		t.Fatal("a responder the initiation is not for recognised its sender")
	}
	for _, off := range []int{offEphemeral, offStatic + 3, offMAC1 - 1} {
		bad := append([]byte(nil), msg...)
		bad[off] ^= 1
		if _, ok := newResponder(bPriv, bPub).initiator(bad); ok {
			t.Fatalf("a tampered initiation (byte %d) was accepted", off)
		}
	}
	if _, ok := newResponder(bPriv, bPub).initiator(msg[:100]); ok {
		t.Fatal("a short packet was accepted")
	}
}

func FuzzInitiator(f *testing.F) {
	var priv [32]byte
	priv[0] = 1
	pub, _ := publicKey(priv)
	r := newResponder(priv, pub)
	f.Add(make([]byte, initLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		r.initiator(b)
	})
}
