// Package connlimit caps how many connections one source address may hold
// open at once, so that one host cannot take every file descriptor of the
// server by opening connections and leaving them idle.
//
// The cap applies before TLS: a connection over it is accepted and closed
// at once (the client sees the connection reset or closed, which agents
// treat as "server unreachable, retry with backoff"). Set it well above
// the number of agents behind one NAT: an agent holds one HTTP/2
// connection (two while a self-update downloads).
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Listener wraps a listener with a per-source-address connection cap.
type Listener struct {
	net.Listener
	max     int
	refused func() // called for each refused connection (a metric)

	mu  sync.Mutex
	per map[netip.Addr]int
}

// New caps each source address of ln at max open connections; max ≤ 0
// means no cap. refused, when not nil, is called for each connection
// closed for being over the cap.
func New(ln net.Listener, max int, refused func()) net.Listener {
	if max <= 0 {
		return ln
	}
	return &Listener{Listener: ln, max: max, refused: refused, per: map[netip.Addr]int{}}
}

// Accept returns the next connection whose source is under its cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := source(c)
		l.mu.Lock()
		if l.per[ip] >= l.max {
			l.mu.Unlock()
			if l.refused != nil {
				l.refused() // before the close, which the client may see at once
			}
			c.Close()
			continue
		}
		l.per[ip]++
		l.mu.Unlock()
		return &conn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

// Open returns how many connections addr holds now.
func (l *Listener) Open(addr netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.per[addr]
}

func (l *Listener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.per[ip] <= 1 {
		delete(l.per, ip)
	} else {
		l.per[ip]--
	}
}

func source(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{} // not IP (tests): one shared bucket
}

type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
