// Package stunserver answers STUN Binding requests on UDP so that agents
// learn their reflexive address (where their WireGuard socket appears on
// the far side of a NAT). Answers are never larger than the request
// (pkg/stun), and anything else is dropped and counted.
package stunserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirefleet/wirefleet/pkg/stun"
)

// Server is a STUN responder on one UDP socket.
type Server struct {
	conn     *net.UDPConn
	log      *slog.Logger
	answered prometheus.Counter
	dropped  prometheus.Counter
}

// Listen opens the UDP socket at addr (":3478") and registers the
// server's metrics with reg (when not nil).
func Listen(addr string, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("stun: listen address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("stun: listen on %s: %w", addr, err)
	}
	s := &Server{conn: conn, log: log,
		answered: prometheus.NewCounter(prometheus.CounterOpts{Name: "wirefleet_stun_answered_total", Help: "STUN Binding requests answered."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "wirefleet_stun_dropped_total",
			Help: "UDP datagrams on the STUN port not answered (not a Binding request, or smaller than the answer)."}),
	}
	if reg != nil {
		reg.MustRegister(s.answered, s.dropped)
	}
	return s, nil
}

// Addr returns the socket's address.
func (s *Server) Addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close closes the socket (Serve returns).
func (s *Server) Close() error { return s.conn.Close() }

// Serve answers requests until ctx ends.
func (s *Server) Serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.conn.Close()
	}()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("stun: read", "err", err)
			continue
		}
		ans, err := stun.Answer(buf[:n], from)
		if err != nil {
			s.dropped.Inc()
			continue
		}
		if _, err := s.conn.WriteToUDPAddrPort(ans, from); err != nil {
			s.dropped.Inc()
			continue
		}
		s.answered.Inc()
	}
}
