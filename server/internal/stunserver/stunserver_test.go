package stunserver

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wirefleet/wirefleet/pkg/stun"
)

// TestAnswersOverUDP sends real datagrams: a padded request gets the
// sender's address back; garbage and bare requests get nothing and are
// counted.
func TestAnswersOverUDP(t *testing.T) {
	s, err := Listen("127.0.0.1:0", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, junk := range [][]byte{[]byte("garbage"), make([]byte, 20), stun.Request(stun.NewTxID())[:20]} {
		c.Write(junk)
	}
	tx := stun.NewTxID()
	c.Write(stun.Request(tx))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	got, addr, err := stun.ParseAnswer(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if got != tx || addr != c.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("answer %x %v, want %x %v", got, addr, tx, c.LocalAddr())
	}
	// The server counts an answer after sending it, so the client can
	// read it before the counter moves: wait for the count, not a moment.
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(s.answered) < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d := testutil.ToFloat64(s.dropped); d != 3 {
		t.Errorf("dropped %v, want 3", d)
	}
	if a := testutil.ToFloat64(s.answered); a != 1 {
		t.Errorf("answered %v, want 1", a)
	}
}
