package routes

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Check is a router's health check of the networks it carries
// (--route-check TCP:10.20.0.5:443): a TCP connection to a host there.
// While it fails, the server makes the router a standby, so clients use
// another router of the same prefix where there is one.
type Check struct {
	Addr netip.AddrPort
}

func (c Check) String() string { return "tcp:" + c.Addr.String() }

// ParseCheck parses TCP:HOST:PORT (an address, not a name: a check must
// not depend on the DNS it may be checking).
func ParseCheck(s string) (Check, error) {
	proto, rest, ok := strings.Cut(s, ":")
	if !ok || !strings.EqualFold(proto, "tcp") {
		return Check{}, fmt.Errorf("route check %q: write TCP:ADDRESS:PORT, e.g. TCP:10.20.0.5:443", s)
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil || ap.Port() == 0 {
		return Check{}, fmt.Errorf("route check %q: write TCP:ADDRESS:PORT with an IP address (IPv6 in brackets), e.g. TCP:10.20.0.5:443", s)
	}
	return Check{Addr: ap}, nil
}

// Checker runs checks and reports when they start or stop failing.
type Checker struct {
	Checks []Check
	Every  time.Duration // between rounds (default 2 s)
	// Failures is how many rounds in a row must fail (default 3): one
	// lost SYN is not an outage.
	Failures int
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Run checks until ctx ends, calling report with the reason the checks
// fail ("" when they pass again) whenever that changes.
func (c *Checker) Run(ctx context.Context, report func(failing string)) {
	every, need := c.Every, c.Failures
	if every <= 0 {
		every = 2 * time.Second
	}
	if need <= 0 {
		need = 3
	}
	dial := c.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failed, reported := 0, ""
	for {
		reason := ""
		for _, ch := range c.Checks {
			cctx, cancel := context.WithTimeout(ctx, min(every, time.Second))
			conn, err := dial(cctx, "tcp", ch.Addr.String())
			cancel()
			if err != nil {
				reason = fmt.Sprintf("%s: %v", ch, err)
				break
			}
			conn.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if reason == "" {
			failed = 0
		} else {
			failed++
		}
		now := reported
		switch {
		case reason == "":
			now = ""
		case failed >= need:
			now = fmt.Sprintf("%s (%d checks in a row)", reason, failed)
			if reported != "" {
				now = reported // still failing: no new report for each round
			}
		}
		if now != reported {
			reported = now
			report(now)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
