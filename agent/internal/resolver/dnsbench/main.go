// Command dnsbench serves a fleet zone of -names machines with the agent's
// resolver, for measuring it with a DNS load tool (Debian's dnsperf):
//
//	GOMAXPROCS=1 taskset -c 0 go run ./agent/internal/resolver/dnsbench -names 10000 -listen 127.0.0.1:5300 -queries /tmp/q.txt &
//	taskset -c 1 dnsperf -s 127.0.0.1 -p 5300 -d /tmp/q.txt -l 20 -c 8 -q 200 -O latency-histogram
//
// It prints the heap the zone takes and writes a query file (-queries)
// naming its machines: A and AAAA lookups, reverse lookups and names that
// do not exist, in the proportions a fleet's applications would ask them.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/miekg/dns"

	"github.com/wirefleet/wirefleet/agent/internal/resolver"
)

func main() {
	n := flag.Int("names", 10000, "machines in the zone")
	listen := flag.String("listen", "127.0.0.1:5300", "address to answer on")
	queries := flag.String("queries", "", "write a dnsperf query file here")
	flag.Parse()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	hosts := make([]resolver.Host, *n)
	for i := range hosts {
		hosts[i] = resolver.Host{
			Name: fmt.Sprintf("host-%d", i),
			IPv4: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}),
			IPv6: netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 14: byte(i >> 8), 15: byte(i)}),
		}
	}
	z, err := resolver.NewZone("fleet.internal", []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("fd7a:115c:a1e0::/48")}, hosts)
	if err != nil {
		fatal(err)
	}
	hosts = nil
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	fmt.Printf("zone of %d names: %.1f MiB of heap\n", z.Len(), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))

	if *queries != "" {
		var b strings.Builder
		for i := range 10000 {
			k := (i * 7919) % *n
			switch i % 10 {
			case 0, 1, 2, 3, 4, 5:
				fmt.Fprintf(&b, "host-%d.fleet.internal A\n", k)
			case 6, 7:
				fmt.Fprintf(&b, "host-%d.fleet.internal AAAA\n", k)
			case 8:
				r, _ := dns.ReverseAddr(fmt.Sprintf("100.64.%d.%d", byte(k>>8), byte(k)))
				fmt.Fprintf(&b, "%s PTR\n", r)
			default:
				fmt.Fprintf(&b, "nobody-%d.fleet.internal A\n", k)
			}
		}
		if err := os.WriteFile(*queries, []byte(b.String()), 0o644); err != nil {
			fatal(err)
		}
	}

	var s resolver.Server
	s.SetZone(z)
	if err := s.Listen(netip.MustParseAddrPort(*listen)); err != nil {
		fatal(err)
	}
	fmt.Println("answering on", s.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Close()
	fmt.Printf("queries %d, answered %d, nxdomain %d, refused %d\n", s.Queries.Load(), s.Answered.Load(), s.NXDomain.Load(), s.Refused.Load())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "dnsbench:", err)
	os.Exit(1)
}
