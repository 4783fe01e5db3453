package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestClientsCLI: a team, a team flag and a client made on the command
// line; the client evaluates over OFREP; `clients` lists, disables and
// rotates; `flags usage` says who read the flag once the server wrote it
// (at its stop).
func TestClientsCLI(t *testing.T) {
	data := t.TempDir()
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--insecure-http")
	mustCLI(t, "teams", "set", "payments", "--tag", "payments", "--data-dir", data)
	mustCLI(t, "flags", "set", "new-checkout", "--type", "boolean", "--default", "true", "--team", "payments", "--data-dir", data)
	var r wire.FlagClientKeyResponse
	if err := json.Unmarshal([]byte(mustCLI(t, "clients", "create", "checkout-api", "--team", "payments", "--kind", "backend", "--data-dir", data, "--json")), &r); err != nil || !strings.HasPrefix(r.Secret, wire.PrefixFlagClientKey) {
		t.Fatalf("clients create: %+v %v", r, err)
	}
	eval := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, p.url+"/ofrep/v1/evaluate/flags/new-checkout", strings.NewReader(`{"context":{"targetingKey":"o-1"}}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := eval(r.Secret); code != http.StatusOK {
		t.Fatalf("evaluation: %d", code)
	}
	if out := mustCLI(t, "clients", "list", "--data-dir", data); !strings.Contains(out, "checkout-api") || !strings.Contains(out, "payments") || !strings.Contains(out, "active") {
		t.Fatalf("clients list:\n%s", out)
	}
	mustCLI(t, "clients", "bulk", "disable", "checkout-api", "--data-dir", data)
	if code := eval(r.Secret); code != http.StatusUnauthorized {
		t.Fatalf("a disabled client: %d", code)
	}
	mustCLI(t, "clients", "set", "checkout-api", "--active=true", "--data-dir", data)
	if out := mustCLI(t, "clients", "rotate", "checkout-api", "--data-dir", data); !strings.Contains(out, "key:") || !strings.Contains(out, wire.PrefixFlagClientKey) {
		t.Fatalf("clients rotate:\n%s", out)
	}
	if code := eval(r.Secret); code != http.StatusOK {
		t.Fatalf("the first key while rotating: %d", code)
	}
	if out, err := cli(t, "clients", "create", "x", "--team", "nope", "--data-dir", data); err == nil || !strings.Contains(out, "no team is named") {
		t.Fatalf("a client of no team: %v\n%s", err, out)
	}
	// A clean stop writes the counted usage.
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	start(t, nil, "--data-dir", data, "--listen", freePort(t), "--insecure-http")
	if out := mustCLI(t, "flags", "usage", "new-checkout", "--data-dir", data); !strings.Contains(out, "client:checkout-api") || !strings.Contains(out, "2") {
		t.Fatalf("flags usage:\n%s", out)
	}
}
