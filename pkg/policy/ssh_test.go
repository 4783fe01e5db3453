package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// An ssh rule makes its ends peers, opens port 22 of the destination to
// its sources and nothing else, and is compiled for the destinations
// only; its mistakes are positioned problems.
func TestSSHRules(t *testing.T) {
	p, err := Parse([]byte(`{
  "tags": ["tag:ops", "tag:srv", "tag:db"],
  "rules": [],
  "ssh": [
    {"action": "accept", "src": ["tag:ops"], "dst": ["tag:srv"], "users": ["deploy", "autogroup:nonroot"]},
    {"action": "check", "src": ["tag:ops"], "dst": ["tag:srv"], "users": ["root"], "checkPeriod": "1h", "allowForwarding": true},
  ],
  "recordSessions": true,
}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ops, srv, db := machine("ops-1", "100.64.0.1", "ops"), machine("srv-1", "100.64.0.2", "srv"), machine("db-1", "100.64.0.3", "db")
	if !p.Peers(ops, srv) {
		t.Error("an ssh rule's ends are not peers")
	}
	if p.Peers(ops, db) || p.Peers(srv, db) {
		t.Error("machines no rule names are peers")
	}
	in := p.Inbound(p.ClassOf(srv))
	if len(in) != 2 || in[0].Proto != "tcp" || !slices.Equal(in[0].Ports, []string{"22"}) || !slices.Equal(in[0].Src, []string{"tag:ops"}) {
		t.Errorf("srv's filter: %+v", in)
	}
	if got := p.Inbound(p.ClassOf(ops)); len(got) != 0 {
		t.Errorf("the source's filter admits: %+v", got)
	}
	if p.SSHFor(p.ClassOf(ops), 7) != nil {
		t.Error("a source's SSH server is on")
	}
	sp := p.SSHFor(p.ClassOf(srv), 7)
	if sp == nil || sp.Policy != 7 || !sp.Record || len(sp.Rules) != 2 {
		t.Fatalf("srv's SSH policy: %+v", sp)
	}
	if r := sp.Rules[0]; r.Action != wire.SSHActionAccept || r.CheckPeriod != 0 || r.Forwarding || r.Rule != 0 || !slices.Equal(r.Users, []string{"deploy", "autogroup:nonroot"}) {
		t.Errorf("rule 1: %+v", r)
	}
	if r := sp.Rules[1]; r.Action != wire.SSHActionCheck || r.CheckPeriod != 3600 || !r.Forwarding || r.Rule != 1 {
		t.Errorf("rule 2: %+v", r)
	}
	def, err := Parse([]byte(`{"tags": ["tag:srv"], "rules": [], "ssh": [{"action": "check", "src": ["*"], "dst": ["tag:srv"], "users": ["*"]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sp := def.SSHFor(def.ClassOf(srv), 1); sp == nil || sp.Record || sp.Rules[0].CheckPeriod != 43200 {
		t.Errorf("defaults: %+v", sp)
	}

	for _, tc := range []struct{ text, at, msg string }{
		{`{"rules": [], "ssh": [{"src": ["*"], "dst": ["*"], "users": ["root"]}]}`, `{"src"`, "has no action"},
		{`{"rules": [], "ssh": [{"action": "allow", "src": ["*"], "dst": ["*"], "users": ["root"]}]}`, `"allow"`, `use "accept" or "check"`},
		{`{"rules": [], "ssh": [{"action": "accept", "src": ["*"], "dst": ["*"], "users": []}]}`, `{"action"`, "has no users"},
		{`{"rules": [], "ssh": [{"action": "accept", "src": ["*"], "dst": ["*"], "users": ["ro ot"]}]}`, `"ro ot"`, "a local user name"},
		{`{"rules": [], "ssh": [{"action": "accept", "src": ["tag:x"], "dst": ["*"], "users": ["a"]}]}`, `"tag:x"`, "unknown tag"},
		{`{"rules": [], "ssh": [{"action": "accept", "src": ["*"], "dst": ["autogroup:internet"], "users": ["a"]}]}`, `"autogroup:internet"`, "not a machine to log in to"},
		{`{"rules": [], "ssh": [{"action": "accept", "src": ["*"], "dst": ["*"], "users": ["a"], "checkPeriod": "1h"}]}`, `"1h"`, `for "check" rules`},
		{`{"rules": [], "ssh": [{"action": "check", "src": ["*"], "dst": ["*"], "users": ["a"], "checkPeriod": "5s"}]}`, `"5s"`, "from 1m to 168h"},
		{`{"rules": [], "recordSessions": true}`, `true`, "no ssh rules"},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			_, err := Parse([]byte(tc.text), nil)
			pe, ok := err.(*Error)
			if !ok {
				t.Fatalf("%s: %v", tc.text, err)
			}
			line, col := position([]byte(tc.text), strings.Index(tc.text, tc.at))
			if p := pe.Problems[0]; p.Line != line || p.Col != col || !strings.Contains(p.Msg, tc.msg) {
				t.Errorf("%d:%d %q, want %d:%d %q", p.Line, p.Col, p.Msg, line, col, tc.msg)
			}
		})
	}
}

// autogroup:admin admits the console's admins: no machine becomes a
// peer by it, and only the rules that name it admit the console.
func TestSSHConsoleRules(t *testing.T) {
	p, err := Parse([]byte(`{"tags": ["tag:srv", "tag:ops"], "rules": [], "ssh": [
  {"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:srv"], "users": ["deploy"]},
  {"action": "check", "src": ["tag:ops", "autogroup:admin"], "dst": ["tag:srv"], "users": ["root"]},
]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, ops := machine("srv-1", "100.64.0.2", "srv"), machine("ops-1", "100.64.0.1", "ops")
	other := machine("x-1", "100.64.0.9")
	if p.Peers(other, srv) || !p.Peers(ops, srv) {
		t.Error("autogroup:admin made peers, or the second rule did not")
	}
	sp := p.SSHFor(p.ClassOf(srv), 1)
	for _, tc := range []struct {
		login  string
		rule   int
		action string
	}{{"deploy", 0, wire.SSHActionAccept}, {"root", 1, wire.SSHActionCheck}, {"alice", -1, ""}} {
		r, ok := ConsoleRule(sp, tc.login)
		if ok != (tc.rule >= 0) || ok && (r.Rule != tc.rule || r.Action != tc.action) {
			t.Errorf("%s: %+v %v", tc.login, r, ok)
		}
	}
	if _, ok := ConsoleRule(p.SSHFor(p.ClassOf(ops), 1), "root"); ok {
		t.Error("a machine no rule names admits the console")
	}
}

func TestSSHUserAllowed(t *testing.T) {
	for _, tc := range []struct {
		users []string
		login string
		want  bool
	}{
		{[]string{"deploy"}, "deploy", true},
		{[]string{"deploy"}, "root", false},
		{[]string{"deploy"}, "Deploy", false},
		{[]string{wire.SSHUserNonRoot}, "alice", true},
		{[]string{wire.SSHUserNonRoot}, "root", false},
		{[]string{"*"}, "root", true},
		{[]string{"*"}, "", false},
		{[]string{"*"}, "../etc", false},
		{[]string{"*"}, "-oProxyCommand", false},
		{nil, "root", false},
	} {
		t.Run(strings.Join(tc.users, ",")+"/"+tc.login, func(t *testing.T) {
			if got := SSHUserAllowed(tc.users, tc.login); got != tc.want {
				t.Errorf("got %v", got)
			}
		})
	}
}

// FuzzSSHUserAllowed: whatever a client asks for, a login is admitted
// only as a valid name, root never by autogroup:nonroot, and a named
// user only as exactly that name.
func FuzzSSHUserAllowed(f *testing.F) {
	for _, s := range []string{"root", "deploy", "", "a b", "ROOT", "root\x00", "user$", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, login string) {
		if SSHUserAllowed([]string{wire.SSHUserNonRoot}, login) && (login == "root" || !validUser(login)) {
			t.Errorf("nonroot admitted %q", login)
		}
		if SSHUserAllowed([]string{"deploy"}, login) != (login == "deploy") {
			t.Errorf("named user: %q", login)
		}
		if SSHUserAllowed([]string{"*"}, login) && strings.ContainsAny(login, " /:\x00\n") {
			t.Errorf("* admitted %q", login)
		}
	})
}

// FuzzSSHPolicy: whatever "ssh" rules a policy holds, parsing never
// panics, and an accepted policy compiles for any machine into rules
// whose actions and users the agents understand.
func FuzzSSHPolicy(f *testing.F) {
	for _, s := range []string{
		`{"tags": ["tag:a"], "rules": [], "ssh": [{"action": "accept", "src": ["tag:a"], "dst": ["*"], "users": ["root"]}]}`,
		`{"rules": [], "ssh": [{"action": "check", "src": ["autogroup:admin", "100.64.0.0/10"], "dst": ["*"], "users": ["autogroup:nonroot", "*"], "checkPeriod": "2h", "allowForwarding": true}], "recordSessions": true}`,
		`{"rules": [], "ssh": [{"action": "check", "src": [], "dst": ["autogroup:internet"], "users": ["a b"], "checkPeriod": "1s"}]}`,
		`{"rules": [], "ssh": [{"action": 5}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := Load(text)
		if err != nil {
			return
		}
		for _, m := range []Machine{machine("a-1", "100.64.0.1", "a"), machine("b-1", "100.64.0.2")} {
			sp := p.SSHFor(p.ClassOf(m), 1)
			if sp == nil {
				continue
			}
			for _, r := range sp.Rules {
				if r.Action != wire.SSHActionAccept && r.Action != wire.SSHActionCheck {
					t.Fatalf("action %q compiled", r.Action)
				}
				for _, u := range r.Users {
					if u != "*" && u != wire.SSHUserNonRoot && !validUser(u) {
						t.Fatalf("user %q compiled", u)
					}
				}
				if r.Action == wire.SSHActionCheck && (r.CheckPeriod < 60 || r.CheckPeriod > 7*24*3600) {
					t.Fatalf("check period %d", r.CheckPeriod)
				}
			}
			ConsoleRule(sp, "root")
		}
	})
}
