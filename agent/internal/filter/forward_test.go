package filter

import (
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// On a subnet router or exit node the filter decides what is forwarded,
// not only what reaches the machine: a rule for the router itself never
// admits traffic through it, and a forwarding rule only what it names.
func TestForwardedTraffic(t *testing.T) {
	const (
		laptop = "100.64.0.1"
		ops    = "100.64.0.2"
		me     = "100.64.0.10"
	)
	peers := map[string]wire.Peer{
		"l": {ID: "l", Name: "laptop-1", IPv4: laptop, Tags: []string{"laptop"}},
		"o": {ID: "o", Name: "ops-1", IPv4: ops, Tags: []string{"ops"}},
	}
	rules := &wire.Filter{Policy: 3, Rules: []wire.FilterRule{
		{Src: []string{"tag:laptop"}, Dst: []string{"10.20.0.5/32"}, Proto: "tcp", Ports: []string{"80"}},
		{Src: []string{"tag:laptop"}, Ports: []string{"22"}},
		{Src: []string{"tag:ops"}, Dst: []string{"routes"}},
		{Src: []string{"tag:ops"}, Dst: []string{"autogroup:internet"}, Proto: "tcp", Ports: []string{"443"}},
	}}
	for _, tc := range []struct {
		name   string
		serves []string
		pkt    []byte
		want   bool
	}{
		{"a granted host and port", []string{"10.20.0.0/16"}, tcp(laptop, 40000, "10.20.0.5", 80), true},
		{"another port of it", []string{"10.20.0.0/16"}, tcp(laptop, 40000, "10.20.0.5", 22), false},
		{"another host", []string{"10.20.0.0/16"}, tcp(laptop, 40000, "10.20.0.6", 80), false},
		{"the router itself", []string{"10.20.0.0/16"}, tcp(laptop, 40000, me, 22), true},
		{"a rule for the router does not forward", []string{"10.20.0.0/16"}, tcp(laptop, 40000, "10.20.0.9", 22), false},
		{"routes: every subnet it serves", []string{"10.20.0.0/16"}, udp(ops, 5000, "10.20.99.1", 53), true},
		{"routes: not what it does not serve", []string{"10.20.0.0/16"}, udp(ops, 5000, "10.30.0.1", 53), false},
		{"internet through an exit node", []string{"10.20.0.0/16", "0.0.0.0/0", "::/0"}, tcp(ops, 40000, "8.8.8.8", 443), true},
		{"internet: only the granted port", []string{"0.0.0.0/0", "::/0"}, tcp(ops, 40000, "8.8.8.8", 80), false},
		{"internet is not the exit node's LAN", []string{"0.0.0.0/0", "::/0"}, tcp(ops, 40000, "192.168.1.1", 443), false},
		{"internet needs an exit node", []string{"10.20.0.0/16"}, tcp(ops, 40000, "8.8.8.8", 443), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			if err := f.Update(rules, peers, &wire.Self{IPv4: me, Serves: tc.serves}); err != nil {
				t.Fatal(err)
			}
			if got := f.Inbound(tc.pkt); got != tc.want {
				t.Fatalf("passed %v, want %v (last drops %v)", got, tc.want, f.Status().LastDrops)
			}
		})
	}
	// A policy change that stops forwarding closes the forwarded flows.
	f := New()
	self := &wire.Self{IPv4: me, Serves: []string{"10.20.0.0/16"}}
	f.Update(rules, peers, self)
	if !f.Inbound(tcp(laptop, 40001, "10.20.0.5", 80)) {
		t.Fatal("not admitted")
	}
	f.Update(&wire.Filter{Policy: 4, Rules: rules.Rules[1:]}, peers, self)
	if f.Inbound(tcp(laptop, 40001, "10.20.0.5", 80)) {
		t.Fatal("a forwarded flow outlived the rule that admitted it")
	}
}
