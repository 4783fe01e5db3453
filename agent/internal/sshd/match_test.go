package sshd

import (
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

var (
	opsPeer = wire.Peer{ID: "m_ops", Name: "ops-1", IPv4: "100.64.0.1", IPv6: "fd7a::1", Tags: []string{"ops"}, Groups: []string{"Eng"}}
	webPeer = wire.Peer{ID: "m_web", Name: "web-1", IPv4: "100.64.0.2", Tags: []string{"web"}, Postures: []string{"patched"}}
)

func TestMatch(t *testing.T) {
	pol := &wire.SSHPolicy{Rules: []wire.SSHRule{
		{Action: wire.SSHActionAccept, Src: []string{"tag:ops"}, Users: []string{"deploy"}, Rule: 0},
		{Action: wire.SSHActionCheck, Src: []string{"tag:ops", "directory:Eng"}, Users: []string{"root"}, CheckPeriod: 60, Rule: 1},
		{Action: wire.SSHActionAccept, Src: []string{"100.64.0.2/32"}, SrcPosture: []string{"patched"}, Users: []string{wire.SSHUserNonRoot}, Rule: 2},
		{Action: "someday", Src: []string{"*"}, Users: []string{"*"}, Rule: 3},
		{Action: wire.SSHActionAccept, Src: []string{"machine:web-1"}, Users: []string{"backup"}, Rule: 4},
	}}
	for _, tc := range []struct {
		name  string
		peer  wire.Peer
		login string
		rule  int // -1: refused
	}{
		{"tag and user", opsPeer, "deploy", 0},
		{"check rule for root", opsPeer, "root", 1},
		{"no rule for this user", opsPeer, "alice", -1},
		{"range with posture", webPeer, "alice", 2},
		{"nonroot is not root", webPeer, "root", -1},
		{"range without the posture", wire.Peer{ID: "m_x", IPv4: "100.64.0.2"}, "alice", -1},
		{"unknown action grants nothing", wire.Peer{ID: "m_y", IPv4: "100.64.0.9"}, "root", -1},
		{"machine by name", webPeer, "backup", 2}, // rule 2 comes first: nonroot
		{"invalid login", opsPeer, "de ploy", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := Match(pol, tc.peer, tc.login)
			switch {
			case tc.rule < 0 && ok:
				t.Errorf("admitted by rule %d", r.Rule)
			case tc.rule >= 0 && (!ok || r.Rule != tc.rule):
				t.Errorf("rule %d (%v), want %d", r.Rule, ok, tc.rule)
			}
		})
	}
	if _, ok := Match(nil, opsPeer, "root"); ok {
		t.Error("no policy admits")
	}
}

// FuzzMatch: whatever the peer and login, a match is a rule that names
// the peer and admits the user — never a rule for another source, never
// root through autogroup:nonroot.
func FuzzMatch(f *testing.F) {
	f.Add("ops", "100.64.0.1", "root", "deploy")
	f.Add("web", "100.64.0.2", "root", "autogroup:nonroot")
	f.Add("", "::1", "alice", "*")
	f.Fuzz(func(t *testing.T, tag, addr, login, user string) {
		pol := &wire.SSHPolicy{Rules: []wire.SSHRule{
			{Action: wire.SSHActionAccept, Src: []string{"tag:ops"}, Users: []string{user}},
			{Action: wire.SSHActionCheck, Src: []string{"100.64.0.0/24"}, Users: []string{wire.SSHUserNonRoot}, Rule: 1},
		}}
		p := wire.Peer{ID: "m", Name: "n", IPv4: addr, Tags: []string{tag}}
		r, ok := Match(pol, p, login)
		if !ok {
			return
		}
		switch r.Rule {
		case 0:
			if tag != "ops" {
				t.Fatalf("tag rule admitted tag %q", tag)
			}
			if user != "*" && user != wire.SSHUserNonRoot && user != login {
				t.Fatalf("user %q admitted as %q", user, login)
			}
		case 1:
			if login == "root" {
				t.Fatal("nonroot admitted root")
			}
		}
	})
}
