package routes

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseCheck(t *testing.T) {
	for s, ok := range map[string]bool{
		"TCP:10.20.0.5:443": true, "tcp:[fd00::5]:22": true,
		"udp:10.20.0.5:53": false, "TCP:nas.office:443": false, "TCP:10.20.0.5": false, "TCP:10.20.0.5:0": false, "10.20.0.5:443": false,
	} {
		if _, err := ParseCheck(s); (err == nil) != ok {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// A real listener: the checks pass, fail three rounds in a row once it
// closes (one report), and pass again when it is back.
func TestCheckerAgainstAListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ch, err := ParseCheck("TCP:" + addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reports []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &Checker{Checks: []Check{ch}, Every: 20 * time.Millisecond}
	go c.Run(ctx, func(f string) { mu.Lock(); reports = append(reports, f); mu.Unlock() })
	got := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string{}, reports...) }
	time.Sleep(100 * time.Millisecond)
	if len(got()) != 0 {
		t.Fatalf("reports while passing: %q", got())
	}
	ln.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // more failing rounds: no more reports
	r := got()
	if len(r) != 1 || !strings.Contains(r[0], addr) || !strings.Contains(r[0], "3 checks in a row") {
		t.Fatalf("reports after the listener closed: %q", r)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer ln2.Close()
	go func() {
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	deadline = time.Now().Add(5 * time.Second)
	for len(got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r := got(); len(r) != 2 || r[1] != "" {
		t.Fatalf("reports after it came back: %q", r)
	}
}
