package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// SSHRuleDoc is one of the policy's "ssh" rules: the machines of Src may
// open login sessions on the machines of Dst (the agent's SSH server on
// their overlay address, port 22) as one of Users. Action "check" also
// asks the person who owns the connecting machine to have confirmed
// through the console within CheckPeriod (Tailscale's check mode).
//
//	"ssh": [
//	  {"action": "accept", "src": ["tag:ops"], "dst": ["tag:server"], "users": ["deploy", "autogroup:nonroot"]},
//	  {"action": "check", "src": ["tag:ops"], "dst": ["tag:server"], "users": ["root"], "checkPeriod": "1h"},
//	],
//	"recordSessions": true,
//
// "autogroup:admin" in src admits the fleet's admins through the
// console's terminal (checked against their sign-in for a check rule).
// An ssh rule lets its sources reach port 22 of its destinations (they
// become peers, and their filters admit it) as a network rule would.
type SSHRuleDoc struct {
	Action     string   `json:"action"`
	Src        []string `json:"src"`
	Dst        []string `json:"dst"`
	Users      []string `json:"users"`
	SrcPosture []string `json:"srcPosture,omitempty"`
	// CheckPeriod ("12h" by default) is for "check" rules only.
	CheckPeriod string `json:"checkPeriod,omitempty"`
	// AllowForwarding allows local port forwarding (ssh -L) in sessions
	// the rule admits; off by default.
	AllowForwarding bool `json:"allowForwarding,omitempty"`
}

// SSH check periods: the default, and the bounds.
const (
	DefaultCheckPeriod = 12 * time.Hour
	MinCheckPeriod     = time.Minute
	MaxCheckPeriod     = 7 * 24 * time.Hour
	// SSHPort is where the agents' SSH server listens.
	SSHPort = 22
)

type sshRule struct {
	net     rule // src, dst, posture; tcp port 22
	console bool // src names autogroup:admin: the console's admins
	action  string
	users   []string
	period  time.Duration
	fwd     bool
}

// validUser reports whether s is a name a local account can have
// (POSIX portable names, as useradd accepts them; '$' ends machine
// accounts).
func validUser(s string) bool {
	if s == "" || len(s) > 32 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_', ch == '-', ch == '.':
		case ch == '$' && i == len(s)-1:
		default:
			return false
		}
	}
	return true
}

// compileSSH checks and compiles the "ssh" rules. Their selectors are
// the rules' atoms, as a network rule's: an ssh rule makes peers.
func (c *checker) compileSSH(p *Policy) {
	doc := &p.Doc
	if len(doc.SSH) > MaxRules {
		c.add("/ssh", "%d ssh rules; the limit is %d", len(doc.SSH), MaxRules)
		return
	}
	if doc.RecordSessions && len(doc.SSH) == 0 {
		c.add("/recordSessions", "recordSessions is set, but there are no ssh rules")
	}
	for i, r := range doc.SSH {
		path := fmt.Sprintf("/ssh/%d", i)
		sr := sshRule{net: rule{index: i, proto: TCP, ports: []PortRange{{SSHPort, SSHPort}}}, action: r.Action}
		switch r.Action {
		case wire.SSHActionAccept, wire.SSHActionCheck:
		case "":
			c.add(path, "ssh rule %d has no action: \"accept\" or \"check\"", i+1)
		default:
			c.add(path+"/action", "action %q: use \"accept\" or \"check\"", r.Action)
		}
		if len(r.Src) == 0 {
			c.add(path, "ssh rule %d has no src", i+1)
		}
		if len(r.Dst) == 0 {
			c.add(path, "ssh rule %d has no dst", i+1)
		}
		for j, s := range r.Src {
			if s == Internet {
				c.add(fmt.Sprintf("%s/src/%d", path, j), "%s is not a source", Internet)
				continue
			}
			if s == wire.SSHConsoleSrc {
				sr.console = true // people at the console, not a machine
				continue
			}
			for _, a := range c.selector(fmt.Sprintf("%s/src/%d", path, j), s, doc) {
				sr.net.src.set(a)
			}
		}
		for j, s := range r.Dst {
			at := fmt.Sprintf("%s/dst/%d", path, j)
			if s == Internet {
				c.add(at, "%s is not a machine to log in to", Internet)
				continue
			}
			for _, a := range c.selector(at, s, doc) {
				sr.net.dst.set(a)
			}
		}
		sr.net.posture = c.srcPosture(p, path, r.SrcPosture)
		if len(r.Users) == 0 {
			c.add(path, "ssh rule %d has no users: name local users, %q or \"*\"", i+1, wire.SSHUserNonRoot)
		}
		for j, u := range r.Users {
			if u != "*" && u != wire.SSHUserNonRoot && !validUser(u) {
				c.add(fmt.Sprintf("%s/users/%d", path, j), "user %q: a local user name (letters, digits, '.', '_', '-'), %q or \"*\"", u, wire.SSHUserNonRoot)
				continue
			}
			sr.users = append(sr.users, u)
		}
		sr.period = DefaultCheckPeriod
		if r.CheckPeriod != "" {
			d, err := time.ParseDuration(r.CheckPeriod)
			switch {
			case r.Action != wire.SSHActionCheck:
				c.add(path+"/checkPeriod", "checkPeriod is for \"check\" rules")
			case err != nil || d < MinCheckPeriod || d > MaxCheckPeriod || d%time.Second != 0:
				c.add(path+"/checkPeriod", "checkPeriod %q: a whole number of seconds from 1m to 168h", r.CheckPeriod)
			default:
				sr.period = d
			}
		}
		sr.fwd = r.AllowForwarding
		p.ssh = append(p.ssh, sr)
	}
}

// SSHFor returns what the SSH server of machines of class c enforces
// (nil: no ssh rule names them; the server stays off).
func (p *Policy) SSHFor(c Class, version int64) *wire.SSHPolicy {
	self, _ := c.split()
	var out *wire.SSHPolicy
	for _, r := range p.ssh {
		if !r.net.dst.intersects(self) {
			continue
		}
		if out == nil {
			out = &wire.SSHPolicy{Policy: version, Record: p.Doc.RecordSessions}
		}
		fr := p.filterRule(r.net, nil)
		if r.console {
			fr.Src = append(fr.Src, wire.SSHConsoleSrc)
		}
		sr := wire.SSHRule{Action: r.action, Src: fr.Src, SrcPosture: fr.SrcPosture, Users: slices.Clone(r.users), Forwarding: r.fwd, Rule: r.net.index}
		if r.action == wire.SSHActionCheck {
			sr.CheckPeriod = int(r.period / time.Second)
		}
		out.Rules = append(out.Rules, sr)
	}
	return out
}

// ConsoleRule returns the first rule of sp that lets the console's
// admins log in as login (server and agent both ask it).
func ConsoleRule(sp *wire.SSHPolicy, login string) (wire.SSHRule, bool) {
	if sp == nil {
		return wire.SSHRule{}, false
	}
	for _, r := range sp.Rules {
		if (r.Action == wire.SSHActionAccept || r.Action == wire.SSHActionCheck) && slices.Contains(r.Src, wire.SSHConsoleSrc) && SSHUserAllowed(r.Users, login) {
			return r, true
		}
	}
	return wire.SSHRule{}, false
}

// SSHRules returns the number of ssh rules.
func (p *Policy) SSHRules() int { return len(p.ssh) }

// SSHRuleText describes ssh rule i for people.
func (p *Policy) SSHRuleText(i int) string {
	r := p.Doc.SSH[i]
	return fmt.Sprintf("ssh %s: %s → %s as %s", r.Action, strings.Join(r.Src, ", "), strings.Join(r.Dst, ", "), strings.Join(r.Users, ", "))
}

// SSHUserAllowed reports whether login may be used under a rule's users
// (the agent's check; here so that server and agent agree and one fuzz
// test covers it). "*" admits every user, SSHUserNonRoot every user but
// root; anything else must be the user's exact name.
func SSHUserAllowed(users []string, login string) bool {
	if !validUser(login) {
		return false
	}
	for _, u := range users {
		switch u {
		case "*":
			return true
		case wire.SSHUserNonRoot:
			if login != "root" {
				return true
			}
		default:
			if u == login {
				return true
			}
		}
	}
	return false
}
