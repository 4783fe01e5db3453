package client

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/pin"
)

// freezer forwards TCP between a client and a server until frozen; then it
// stops forwarding without closing anything, like a link that went down
// or a load balancer whose replica died.
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	frozen chan struct{}
}

// closeAll closes every forwarded connection (the test's end; the server
// would otherwise wait for its held request).
func (f *freezer) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, frozen: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, s)
			f.mu.Unlock()
			go f.pipe(c, s)
			go f.pipe(s, c)
		}
	}()
	return f
}

// pipe copies until frozen; a frozen pipe holds its sockets open and
// reads nothing more.
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			return // stop forwarding; the sockets stay open until closeAll
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { close(f.frozen) }

// TestVanishedServerIsNoticedWithinSeconds: a long-poll held on a
// connection whose server goes silent (no FIN, no RST) fails within the
// HTTP/2 ping timeout, not when the kernel's TCP retries give up (~16 min
// on Linux; here the handler would answer after 30 s).
func TestVanishedServerIsNoticedWithinSeconds(t *testing.T) {
	oldAfter, oldTimeout := pingAfter, pingTimeout
	pingAfter, pingTimeout = 300*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { pingAfter, pingTimeout = oldAfter, oldTimeout })

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if w := r.URL.Query().Get("wait"); w != "" && w != "0" {
			select { // a long-poll that nothing wakes
			case <-time.After(30 * time.Second):
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"version":1}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	f := newFreezer(t, srv.Listener.Addr().String())
	defer f.closeAll()
	c, err := New("https://"+f.ln.Addr().String(), WithPin(pin.Format(pin.SPKIHash(srv.Certificate()))), WithToken("wfm_x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Netmap(context.Background(), 0, NoWait); err != nil {
		t.Fatal(err)
	}
	if tr := c.http.Transport.(*http.Transport); tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
		t.Fatal("the pinned transport allows TLS below 1.2")
	}
	done := make(chan error, 1)
	go func() { _, err := c.Netmap(context.Background(), 1, 25*time.Second); done <- err }()
	time.Sleep(500 * time.Millisecond) // the poll is held, pings answered
	select {
	case err := <-done:
		t.Fatalf("the held poll ended before the link froze: %v", err)
	default:
	}
	frozeAt := time.Now()
	f.freeze()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the poll on a frozen link succeeded")
		}
		t.Logf("noticed after %v: %v", time.Since(frozeAt).Round(time.Millisecond), err)
	case <-time.After(10 * time.Second):
		t.Fatal("a poll on a frozen link was still held after 10 s (no liveness check)")
	}
}
