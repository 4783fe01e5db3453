package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// regression is one defect an earlier hostile run found, checked against
// the live server: it returns "" when the server behaves, else what it
// did instead.
type regression struct {
	name  string
	check func(ctx context.Context, r *rig) string
}

// rig is what the regression checks use: the server's URL, an admin
// client and a machine credential.
type rig struct {
	server, key string // the admin API key
	admin       *client.Client
	machine     string
}

// raw sends a request and returns its status and decoded error code.
func (r *rig) raw(ctx context.Context, method, path, cred, body string) (int, string) {
	st, b, err := send(ctx, r.admin.HTTPClient(), method, r.server+path, cred, []byte(body))
	if err != nil {
		return 0, err.Error()
	}
	var er wire.ErrorResponse
	if json.Unmarshal(b, &er) == nil && er.Error != nil {
		return st, string(er.Error.Code)
	}
	return st, ""
}

// regressions are the defects of issue 32's hostile run.
var regressions = []regression{
	{"a policy with a second rules key hides nothing", func(ctx context.Context, r *rig) string {
		before, err := r.admin.Policy(ctx)
		if err != nil {
			return err.Error()
		}
		for _, text := range []string{
			`{"rules":[],"rules":[{"src":["*"],"dst":["*"]}]}`,
			`{"rules":[{"src":["tag:a"],"dst":["tag:a"],"src":["*"]}]}`,
			`{"RULES":[{"src":["*"],"dst":["*"]}]}`,
		} {
			_, err := r.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: text})
			if wire.ErrorCode(err) != wire.CodePolicyInvalid {
				return fmt.Sprintf("%s: %v, want policy_invalid", text, err)
			}
		}
		if after, err := r.admin.Policy(ctx); err != nil || after.Text != before.Text {
			return fmt.Sprintf("the policy changed: %v", err)
		}
		return ""
	}},
	{"API bodies refuse a field given twice or in another case", func(ctx context.Context, r *rig) string {
		for body, want := range map[string]string{
			`{"tags":["a"],"tags":["b"]}`: string(wire.CodeDuplicateField),
			`{"Tags":["a"]}`:              string(wire.CodeUnknownField),
		} {
			if st, code := r.raw(ctx, "POST", wire.PathTokens, r.adminKey(), body); st != 400 || code != want {
				return fmt.Sprintf("POST %s %s: %d %s, want 400 %s", wire.PathTokens, body, st, code, want)
			}
		}
		return ""
	}},
	{"the sign-in page keeps no outside return address", func(ctx context.Context, r *rig) string {
		for _, next := range []string{"/%25255Cevil.example", "//evil.example", "/%5Cevil.example"} {
			_, body, err := send(ctx, r.admin.HTTPClient(), "GET", r.server+"/login?next="+url.QueryEscape(next), "", nil)
			if err != nil {
				return err.Error()
			}
			if strings.Contains(string(body), "evil.example") {
				return "the sign-in page carries next=" + next
			}
		}
		return ""
	}},
	{"a full DNS name is not nested in the fleet domain", func(ctx context.Context, r *rig) string {
		rec, err := r.admin.AddDNSRecord(ctx, wire.DNSRecord{Name: "hostile-full.fleet.internal", Type: "A", Value: "10.0.0.9"})
		if err != nil || rec.Name != "hostile-full" {
			return fmt.Sprintf("added %+v (%v), want the name hostile-full", rec, err)
		}
		if _, err := r.admin.AddDNSRecord(ctx, wire.DNSRecord{Name: "db.example.com", Type: "A", Value: "10.0.0.9"}); wire.ErrorCode(err) != wire.CodeInvalidArgument {
			return fmt.Sprintf("a name in another domain: %v, want invalid_argument", err)
		}
		return ""
	}},
	{"free text takes a no-break space, not a bidi override", func(ctx context.Context, r *rig) string {
		f := wire.Flag{Key: "hostile-text", Type: wire.FlagBoolean, Default: json.RawMessage(`true`), Description: "Größe\u00a0≤ 32 🏳️‍🌈"}
		if _, err := r.admin.SetFlag(ctx, f); err != nil {
			return fmt.Sprintf("a no-break space and an emoji sequence: %v", err)
		}
		f.Description = "\u202etxt.exe"
		if _, err := r.admin.SetFlag(ctx, f); wire.ErrorCode(err) != wire.CodeInvalidArgument {
			return fmt.Sprintf("a bidi override: %v, want invalid_argument", err)
		}
		f.Description, f.Type, f.Default = "", wire.FlagObject, json.RawMessage(`{"mode":"safe","mode":"unsafe"}`)
		if _, err := r.admin.SetFlag(ctx, f); wire.ErrorCode(err) == "" {
			return "a flag value with a key twice was accepted"
		}
		return ""
	}},
	{"refusals outside the API's handlers carry a code", func(ctx context.Context, r *rig) string {
		if st, code := r.raw(ctx, "GET", wire.PathRelay, r.machine, ""); st != http.StatusUpgradeRequired || code != string(wire.CodeUpgradeRequired) {
			return fmt.Sprintf("relay without an upgrade: %d %q", st, code)
		}
		if st, code := r.raw(ctx, "GET", wire.PathRelayMesh, "", ""); st != 404 || code != string(wire.CodeNotFound) {
			return fmt.Sprintf("the relay mesh of a server in no mesh: %d %q", st, code)
		}
		if st, code := r.raw(ctx, "GET", "/debug/pprof/nonesuch", r.adminKey(), ""); st != 404 || code != string(wire.CodeNotFound) {
			return fmt.Sprintf("an unknown profile: %d %q", st, code)
		}
		return ""
	}},
	{"routes a machine may not advertise are refused and change nothing", func(ctx context.Context, r *rig) string {
		rs, err := r.admin.Routes(ctx)
		if err != nil {
			return err.Error()
		}
		for _, body := range []string{`{"routes":["10.20.0.1/16"]}`, `{"routes":["100.64.0.0/10"]}`, `{"routes":["10.0.0.0/8","10.20.0.0/16"]}`,
			`{"routes":["0.0.0.0/0"]}`, `{"routes":["224.0.0.0/4"]}`, `{"routes":["10.0.0.0/8"],"routes":[]}`} {
			st, code := r.raw(ctx, "POST", wire.PathAgentRoutes, r.machine, body)
			if st != http.StatusBadRequest || code == "" {
				return fmt.Sprintf("%s: %d %q, want 400 with a code", body, st, code)
			}
		}
		after, err := r.admin.Routes(ctx)
		if err != nil {
			return err.Error()
		}
		if len(after.Routes) != len(rs.Routes) {
			return fmt.Sprintf("refused advertisements changed the routes: %d before, %d after", len(rs.Routes), len(after.Routes))
		}
		return ""
	}},
}

func (r *rig) adminKey() string { return r.key }

// Regressions runs every regression check against the server.
func Regressions(ctx context.Context, server, apiKey string, admin *client.Client, machine string, rep *Report) {
	r := &rig{server: server, key: apiKey, admin: admin, machine: machine}
	for _, g := range regressions {
		rep.RegressionsRun++
		if why := g.check(ctx, r); why != "" {
			rep.Regressions = append(rep.Regressions, g.name+": "+why)
		}
	}
}
