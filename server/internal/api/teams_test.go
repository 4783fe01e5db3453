package api

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// expectedScopes is every admin route and who may use it. A route added
// without a line here fails TestEveryRouteHasAScopeDecision: deciding
// whether team roles may use it is part of adding it.
var expectedScopes = map[string]string{
	"GET " + wire.PathServer:                                     "owner",
	"GET " + wire.PathEnrollments:                                "owner",
	"POST " + wire.PathEnrollments + "/{code}/{decision}":        "owner",
	"POST " + wire.PathTLSRotate:                                 "owner",
	"GET " + wire.PathSecrets:                                    "owner",
	"POST " + wire.PathSecrets + "/seal":                         "owner",
	"POST " + wire.PathSecrets + "/rotate":                       "owner",
	"POST " + wire.PathTokens:                                    "team",
	"GET " + wire.PathTokens:                                     "team",
	"DELETE " + wire.PathTokens + "/{id}":                        "team",
	"GET " + wire.PathMachines:                                   "team",
	"GET " + wire.PathMachines + "/{id}":                         "team",
	"PATCH " + wire.PathMachines + "/{id}":                       "team",
	"POST " + wire.PathMachines + "/{id}/revoke":                 "team",
	"POST " + wire.PathMachines + "/{id}/rotate-key":             "team",
	"POST " + wire.PathRotateKeys:                                "owner",
	"DELETE " + wire.PathMachines + "/{id}":                      "team",
	"GET " + wire.PathMachines + "/{id}/health":                  "team",
	"GET " + wire.PathRoutes:                                     "owner",
	"GET " + wire.PathFlows:                                      "owner",
	"GET " + wire.PathSSHSessions:                                "owner",
	"GET " + wire.PathSSHSessions + "/{id}/recording":            "owner",
	"GET " + wire.PathSSHChecks + "/{id}":                        "team",
	"POST " + wire.PathSSHChecks + "/{id}/confirm":               "team",
	"POST " + wire.PathRoutes + "/{machine}/{decision}":          "team",
	"GET " + wire.PathAudit:                                      "team",
	"GET " + wire.PathReleases:                                   "owner",
	"PUT " + wire.PathReleases + "/files/{name}":                 "owner",
	"PUT " + wire.PathReleases + "/keys":                         "owner",
	"PUT " + wire.PathReleases + "/channels/{channel}":           "owner",
	"POST " + wire.PathReleases + "/channels/{channel}/{action}": "owner",
	"GET " + wire.PathFlags:                                      "team",
	"GET " + wire.PathFlags + "/{key}":                           "team",
	"PUT " + wire.PathFlags + "/{key}":                           "team",
	"DELETE " + wire.PathFlags + "/{key}":                        "team",
	"GET " + wire.PathPolicy:                                     "owner",
	"PUT " + wire.PathPolicy:                                     "owner",
	"POST " + wire.PathPolicyQuery:                               "owner",
	"GET " + wire.PathDNSRecords:                                 "owner",
	"POST " + wire.PathDNSRecords:                                "owner",
	"DELETE " + wire.PathDNSRecords + "/{name}":                  "owner",
	"POST " + wire.PathAPIKeys:                                   "team",
	"GET " + wire.PathAPIKeys:                                    "team",
	"DELETE " + wire.PathAPIKeys + "/{id}":                       "team",
	"POST " + wire.PathAdmins:                                    "owner",
	"GET " + wire.PathAdmins:                                     "owner",
	"GET " + wire.PathTeams:                                      "team",
	"PUT " + wire.PathTeams + "/{name}":                          "owner",
	"DELETE " + wire.PathTeams + "/{name}":                       "owner",
	"DELETE " + wire.PathAdmins + "/{id}":                        "owner",
	"POST " + wire.PathAdmins + "/{id}/password":                 "owner",
	"GET " + wire.PathDirectory:                                  "owner",
	"POST " + wire.PathSCIMTokens:                                "owner",
	"GET " + wire.PathSCIMTokens:                                 "owner",
	"DELETE " + wire.PathSCIMTokens + "/{id}":                    "owner",
	"GET " + wire.PathFlags + "/{key}/usage":                     "team",
	"POST " + wire.PathFlagClients:                               "team",
	"GET " + wire.PathFlagClients:                                "team",
	"POST " + wire.PathFlagClientsBulk:                           "team",
	"PATCH " + wire.PathFlagClients + "/{name}":                  "team",
	"DELETE " + wire.PathFlagClients + "/{name}":                 "team",
	"POST " + wire.PathFlagClients + "/{name}/keys":              "team",
	"DELETE " + wire.PathFlagClients + "/{name}/keys/{key}":      "team",
	"GET /debug/pprof/":                                          "owner",
	"GET /debug/pprof/cmdline":                                   "owner",
	"GET /debug/pprof/profile":                                   "owner",
	"GET /debug/pprof/symbol":                                    "owner",
	"GET /debug/pprof/trace":                                     "owner",
}

func TestEveryRouteHasAScopeDecision(t *testing.T) {
	e := newEnv(t, Config{})
	a := New(e.fl, nil, nil, Config{})
	got := a.ScopeDecisions()
	var missing, extra []string
	for p, d := range got {
		if want, ok := expectedScopes[p]; !ok {
			missing = append(missing, fmt.Sprintf("%q: %q", p, d))
		} else if want != d {
			t.Errorf("%s is %s, expected %s", p, d, want)
		}
	}
	for p := range expectedScopes {
		if _, ok := got[p]; !ok {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes without a line in expectedScopes (decide who may use them):\n%s", strings.Join(missing, "\n"))
	}
	if len(extra) > 0 {
		t.Errorf("expectedScopes names routes the server lacks: %v", extra)
	}
}

// TestTeamScope: every scoped operation by every role, on a machine or
// token of the team and on one of another team: allowed, or refused with
// forbidden — the same code whichever route refuses. Owner-only routes
// refuse every team role.
func TestTeamScope(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	sys := store.Actor{Name: "test"}
	for _, n := range []string{"wendy@corp.example", "wes@corp.example", "dora@corp.example", "nobody@corp.example"} {
		if _, err := e.fl.CreatePerson(ctx, sys, store.PersonInput{UserName: n, Active: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.fl.CreateGroup(ctx, sys, store.GroupInput{Name: "Web Team"}); err != nil {
		t.Fatal(err)
	}
	// Wendy administers "web" (directly); Wes is in it; Dora administers
	// "db" through a directory group.
	if _, err := e.admin.PutTeam(ctx, "web", wire.PutTeamRequest{Tags: []string{"tag:web"}, Admins: []string{"wendy@corp.example"}, Members: []string{"wes@corp.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.PutTeam(ctx, "db", wire.PutTeamRequest{Tags: []string{"db"}, AdminGroups: []string{"DB Admins"}}); err != nil {
		t.Fatal(err)
	}
	dora, _ := e.db.People(ctx)
	var doraID string
	for _, p := range dora {
		if p.Name == "dora@corp.example" {
			doraID = p.ID
		}
	}
	if err := e.fl.SyncGroups(ctx, sys, doraID, []string{"DB Admins"}); err != nil {
		t.Fatal(err)
	}
	keyOf := func(name string) *client.Client {
		r, err := e.admin.CreateAPIKey(ctx, wire.CreateAPIKeyRequest{Admin: name})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := client.New(e.url, client.WithToken(r.Secret))
		return c
	}
	roles := map[string]*client.Client{"owner": e.admin, "web admin": keyOf("wendy@corp.example"), "web member": keyOf("wes@corp.example"), "db admin": keyOf("dora@corp.example")}
	nobody := keyOf("nobody@corp.example")
	if _, err := nobody.ListMachines(ctx, client.MachineFilter{}); code(err) != wire.CodeUnauthenticated {
		t.Fatalf("a member without a team: %v", err)
	}

	webTok := e.token(t, wire.CreateTokenRequest{Reusable: true, Tags: []string{"web"}})
	dbTok := e.token(t, wire.CreateTokenRequest{Reusable: true, Tags: []string{"db"}})
	fresh := func(tok, host string) string { _, en := e.agent(t, tok, host); return en.MachineID }
	tokens, _ := e.admin.ListTokens(ctx)
	tokenID := map[string]string{}
	for _, tk := range tokens {
		tokenID[tk.Tags[0]] = tk.ID
	}

	type op struct {
		name string
		do   func(c *client.Client, target string) error
	}
	machineOps := []op{
		{"read", func(c *client.Client, id string) error { _, err := c.Machine(ctx, id); return err }},
		{"health", func(c *client.Client, id string) error { _, err := c.Health(ctx, id, 1); return err }},
		{"rename", func(c *client.Client, id string) error {
			n := "r-" + id[len(id)-6:]
			_, err := c.UpdateMachine(ctx, id, wire.UpdateMachineRequest{Name: &n})
			return err
		}},
		{"rotate key", func(c *client.Client, id string) error { _, err := c.RotateKey(ctx, id); return err }},
		{"decide routes", func(c *client.Client, id string) error {
			_, err := c.DecideRoutes(ctx, id, wire.RouteDecision{}, true)
			return err
		}},
		{"revoke", func(c *client.Client, id string) error { _, err := c.RevokeMachine(ctx, id); return err }},
		{"delete", func(c *client.Client, id string) error { _, err := c.DeleteMachine(ctx, id); return err }},
	}
	// Who may do each kind of thing to a "web" and a "db" machine.
	may := map[string]map[string]string{ // role → op → "web,db" allowed
		"owner":      {"*": "web,db"},
		"web admin":  {"*": "web"},
		"web member": {"read": "web", "health": "web"},
		"db admin":   {"*": "db"},
	}
	allowed := func(role, opName, team string) bool {
		m := may[role]
		s, ok := m[opName]
		if !ok {
			s = m["*"]
		}
		return strings.Contains(s, team)
	}
	for role, c := range roles {
		for _, o := range machineOps {
			for _, team := range []string{"web", "db"} {
				t.Run(role+"/"+o.name+"/"+team, func(t *testing.T) {
					tok := webTok
					if team == "db" {
						tok = dbTok
					}
					id := fresh(tok, team)
					err := o.do(c, id)
					want := allowed(role, o.name, team)
					if o.name == "decide routes" && want {
						// Allowed, and refused for what it is: a machine
						// advertising nothing.
						if code(err) == wire.CodeForbidden {
							t.Fatalf("refused: %v", err)
						}
						return
					}
					if want && err != nil {
						t.Fatalf("refused: %v", err)
					}
					if !want && code(err) != wire.CodeForbidden {
						t.Fatalf("got %v, want forbidden", err)
					}
				})
			}
		}
	}
	t.Run("lists show the scope", func(t *testing.T) {
		for role, want := range map[string]string{"owner": "db,web", "web admin": "web", "web member": "web", "db admin": "db"} {
			ms, err := roles[role].ListMachines(ctx, client.MachineFilter{})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, m := range ms {
				seen[m.Tags[0]] = true
			}
			var got []string
			for tag := range seen {
				got = append(got, tag)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != want {
				t.Errorf("%s lists machines tagged %v, want %s", role, got, want)
			}
		}
	})
	t.Run("tokens", func(t *testing.T) {
		for _, tc := range []struct {
			role   string
			tags   []string
			create bool
		}{
			{"web admin", []string{"web"}, true},
			{"web admin", []string{"web", "db"}, false},
			{"web admin", nil, false},
			{"web member", []string{"web"}, false},
			{"db admin", []string{"db"}, true},
			{"owner", nil, true},
		} {
			_, err := roles[tc.role].CreateToken(ctx, wire.CreateTokenRequest{Tags: tc.tags})
			if tc.create != (err == nil) || err != nil && code(err) != wire.CodeForbidden {
				t.Errorf("%s creating a token tagged %v: %v", tc.role, tc.tags, err)
			}
		}
		if _, err := roles["web admin"].RevokeToken(ctx, tokenID["db"]); code(err) != wire.CodeForbidden {
			t.Errorf("web admin revoking db's token: %v", err)
		}
		ts, err := roles["db admin"].ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range ts {
			if tk.Tags[0] != "db" {
				t.Errorf("db admin lists a token tagged %v", tk.Tags)
			}
		}
		if _, err := roles["web admin"].RevokeToken(ctx, tokenID["web"]); err != nil {
			t.Errorf("web admin revoking web's token: %v", err)
		}
	})
	t.Run("re-tagging out of the team", func(t *testing.T) {
		id := fresh(dbTok, "db")
		tags := []string{"db", "web"}
		if _, err := roles["db admin"].UpdateMachine(ctx, id, wire.UpdateMachineRequest{Tags: &tags}); code(err) != wire.CodeForbidden {
			t.Fatalf("db admin adding web's tag: %v", err)
		}
	})
	t.Run("audit", func(t *testing.T) {
		page, err := roles["web admin"].Audit(ctx, client.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			t.Fatal("the web admin sees no audit event")
		}
		for _, ev := range page.Events {
			if strings.HasPrefix(ev.Action, "team.") || strings.HasPrefix(ev.Action, "person.") {
				t.Errorf("the web admin sees %s", ev.Action)
			}
		}
	})
	t.Run("flags", func(t *testing.T) {
		for _, f := range []wire.Flag{
			{Key: "web-feature", Type: "boolean", Default: []byte("true"), Team: "web"},
			{Key: "db-feature", Type: "boolean", Default: []byte("true"), Team: "db"},
			{Key: "everyone", Type: "boolean", Default: []byte("true")},
		} {
			if _, err := e.admin.SetFlag(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.admin.SetFlag(ctx, wire.Flag{Key: "x", Type: "boolean", Default: []byte("true"), Team: "nope"}); code(err) != wire.CodeInvalidArgument {
			t.Errorf("a flag of no team: %v", err)
		}
		// Machines receive the fleet's flags and their teams', no more.
		for tag, want := range map[string]string{"web": "everyone,web-feature", "db": "db-feature,everyone"} {
			agent, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{tag}}), tag+"-flags")
			set, _, _, err := agent.AgentFlags(ctx, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range set.Flags {
				got = append(got, f.Key)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != want {
				t.Errorf("a %s machine receives %v, want %s", tag, got, want)
			}
		}
		// A held poll ends with the machine's own set changing, not with
		// another team's flag.
		agent, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{Tags: []string{"web"}}), "web-held")
		_, tag, _, err := agent.AgentFlags(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(200 * time.Millisecond)
			e.admin.SetFlag(ctx, wire.Flag{Key: "db-feature", Type: "boolean", Default: []byte("false"), Team: "db"})
		}()
		if _, _, notMod, err := agent.AgentFlags(ctx, tag, 2*time.Second); err != nil || !notMod {
			t.Errorf("a web machine's poll after db's flag changed: not modified %v, %v", notMod, err)
		}
		web := roles["web admin"]
		go func() {
			time.Sleep(200 * time.Millisecond)
			if _, err := web.SetFlag(ctx, wire.Flag{Key: "web-feature", Type: "boolean", Default: []byte("false"), Team: "web"}); err != nil {
				t.Errorf("web admin changing web's flag: %v", err)
			}
		}()
		if set, _, notMod, err := agent.AgentFlags(ctx, tag, 5*time.Second); err != nil || notMod || len(set.Flags) != 2 {
			t.Errorf("a web machine's poll after web's flag changed: not modified %v, %d flags, %v", notMod, len(set.Flags), err)
		}
		for _, f := range []wire.Flag{
			{Key: "db-feature", Type: "boolean", Default: []byte("false"), Team: "web"}, // taking db's flag
			{Key: "db-feature", Type: "boolean", Default: []byte("false"), Team: "db"},
			{Key: "everyone", Type: "boolean", Default: []byte("false")},
		} {
			if _, err := web.SetFlag(ctx, f); code(err) != wire.CodeForbidden {
				t.Errorf("web admin setting %s (team %q): %v", f.Key, f.Team, err)
			}
		}
		if err := web.DeleteFlag(ctx, "db-feature"); code(err) != wire.CodeForbidden {
			t.Errorf("web admin deleting db's flag: %v", err)
		}
		if fs, err := roles["web member"].ListFlags(ctx); err != nil || len(fs) != 1 || fs[0].Key != "web-feature" {
			t.Errorf("web member's flags: %+v %v", fs, err)
		}
		if _, err := roles["web member"].SetFlag(ctx, wire.Flag{Key: "web-feature", Type: "boolean", Default: []byte("true"), Team: "web"}); code(err) != wire.CodeForbidden {
			t.Errorf("web member changing a flag: %v", err)
		}
		if err := e.admin.DeleteTeam(ctx, "db"); code(err) != wire.CodeConflict {
			t.Errorf("deleting a team with flags: %v", err)
		}
	})
	t.Run("owner-only routes", func(t *testing.T) {
		for role, c := range roles {
			if role == "owner" {
				continue
			}
			checks := map[string]error{}
			_, checks["policy"] = c.Policy(ctx)
			_, checks["a fleet-wide flag"] = c.SetFlag(ctx, wire.Flag{Key: "fleet-" + strings.ReplaceAll(role, " ", "-"), Type: "boolean", Default: []byte("false")})
			_, checks["teams put"] = c.PutTeam(ctx, "web", wire.PutTeamRequest{Tags: []string{"web", "db"}})
			_, checks["directory"] = c.Directory(ctx)
			_, checks["server"] = c.ServerInfo(ctx)
			_, checks["rotate all"] = c.RotateAllKeys(ctx)
			_, checks["an API key for another"] = c.CreateAPIKey(ctx, wire.CreateAPIKeyRequest{Admin: "root"})
			for what, err := range checks {
				if code(err) != wire.CodeForbidden {
					t.Errorf("%s: %s: %v, want forbidden", role, what, err)
				}
			}
		}
		if _, err := roles["web admin"].CreateAPIKey(ctx, wire.CreateAPIKeyRequest{}); err != nil {
			t.Errorf("a team admin's own key: %v", err)
		}
		if _, err := roles["web member"].CreateAPIKey(ctx, wire.CreateAPIKeyRequest{}); code(err) != wire.CodeForbidden {
			t.Errorf("a team member's own key: %v", err)
		}
		if ts, err := roles["web member"].Teams(ctx); err != nil || len(ts) != 1 || ts[0].Name != "web" {
			t.Errorf("web member's teams: %+v %v", ts, err)
		}
	})
}
