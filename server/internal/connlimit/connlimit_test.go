package connlimit

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestCapPerSource: a source over its cap gets its connection closed at
// once; closing one of its connections makes room; counts go back to 0.
func TestCapPerSource(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	ln := New(raw, 3, func() { refused.Add(1) }).(*Listener)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closedByServer := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		ne, timeout := err.(net.Error)
		return err != nil && !(timeout && ne.Timeout())
	}
	var server []net.Conn
	for range 3 {
		dial()
		server = append(server, <-accepted)
	}
	if over := dial(); !closedByServer(over) {
		t.Fatal("the fourth connection from one address was kept open")
	}
	if refused.Load() != 1 || ln.Open(netip.MustParseAddr("127.0.0.1")) != 3 {
		t.Fatalf("refused %d, open %d; want 1 and 3", refused.Load(), ln.Open(netip.MustParseAddr("127.0.0.1")))
	}
	server[0].Close()
	server[0].Close() // twice: released once
	next := dial()
	select {
	case c := <-accepted:
		server = append(server[1:], c)
	case <-time.After(2 * time.Second):
		t.Fatal("no room after a connection closed")
	}
	if closedByServer(next) {
		t.Fatal("the connection made after one closed was refused")
	}
	for _, c := range server {
		c.Close()
	}
	if n := ln.Open(netip.MustParseAddr("127.0.0.1")); n != 0 {
		t.Fatalf("open = %d after every connection closed", n)
	}
}

func TestNoCap(t *testing.T) {
	raw, _ := net.Listen("tcp", "127.0.0.1:0")
	defer raw.Close()
	if New(raw, 0, nil) != raw {
		t.Fatal("a cap of 0 must leave the listener as it is")
	}
}
