package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// terraform runs the real terraform binary in dir with the provider
// installed through a dev_overrides CLI configuration (no registry).
type terraform struct {
	t   *testing.T
	dir string
	env []string
}

func (tf terraform) run(args ...string) (string, error) {
	cmd := exec.Command("terraform", args...)
	cmd.Dir, cmd.Env = tf.dir, append(os.Environ(), tf.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (tf terraform) must(args ...string) string {
	tf.t.Helper()
	out, err := tf.run(args...)
	if err != nil {
		tf.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// planExit is terraform plan -detailed-exitcode's verdict: 0 no changes,
// 2 changes, 1 an error.
func (tf terraform) planExit() (int, string) {
	out, err := tf.run("plan", "-detailed-exitcode", "-no-color", "-input=false")
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out
	}
	if err != nil {
		tf.t.Fatal(err)
	}
	return 0, out
}

const tfConfig = `
terraform {
  required_providers {
    wirefleet = { source = "wirefleet/wirefleet" }
  }
}

provider "wirefleet" {} # WIREFLEET_SERVER, WIREFLEET_API_KEY, WIREFLEET_PIN

resource "wirefleet_policy" "fleet" {
  document = file("policy.hujson")
}

resource "wirefleet_token" "servers" {
  tags     = ["tag:server"]
  reusable = true
  expires  = "720h"
}

resource "wirefleet_dns_record" "db" {
  name  = "db"
  type  = "A"
  value = "100.64.0.50"
}

resource "wirefleet_flag" "new_ui" {
  key     = "new-ui"
  type    = "boolean"
  enabled = true
  default = jsonencode(false)
  rules   = jsonencode([{ tags = ["tag:server"], value = true }])
}

resource "wirefleet_machine" "web" {
  machine = "adoptee"
  name    = "web-1"
  tags    = ["tag:server"]
}

resource "wirefleet_route_approval" "web" {
  machine   = wirefleet_machine.web.id
  routes    = ["10.1.0.0/24"]
  exit_node = true
}

resource "wirefleet_flag_client" "billing" {
  name            = "billing"
  kind            = "service"
  rate_per_minute = 600
  allow           = ["10.0.0.0/8"]
}

output "billing_key" {
  value     = wirefleet_flag_client.billing.key
  sensitive = true
}

resource "wirefleet_team" "platform" {
  name = "platform"
  tags = ["tag:server"]
}

data "wirefleet_machines" "servers" {
  tag        = "tag:server"
  depends_on = [wirefleet_machine.web]
}

data "wirefleet_machine" "web" {
  machine = wirefleet_machine.web.id
}

output "web_ipv4" {
  value = data.wirefleet_machine.web.ipv4
}

output "token" {
  value     = wirefleet_token.servers.secret
  sensitive = true
}

output "servers" {
  value = length(data.wirefleet_machines.servers.machines)
}
`

const tfPolicy = `{
  // Terraform keeps this file; the console shows the same text.
  "tags": ["tag:ops", "tag:server"],
  "groups": {"group:ops": ["tag:ops"]},
  "rules": [
    {"src": ["group:ops"], "dst": ["tag:server"], "proto": "tcp", "ports": ["22"]},
  ],
  "tests": [
    {"src": "tag:ops", "accept": ["tag:server:22"], "deny": ["tag:server:443"]},
  ],
}
`

// TestTerraformProvider drives the real terraform binary against a real
// server: apply creates every resource; a second plan has no changes;
// changes made with the CLI (as an admin in the console would) show as
// drift and the next apply puts them back; a policy whose tests fail
// fails the plan with the problem; import takes existing objects without
// a change; destroy removes everything.
func TestTerraformProvider(t *testing.T) {
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Skip("terraform is not installed (the CI image has terraform 1.11; https://developer.hashicorp.com/terraform/install)")
	}
	work := t.TempDir()
	plugins := filepath.Join(work, "plugins")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(plugins, "terraform-provider-wirefleet"), "./terraform-provider-wirefleet").CombinedOutput(); err != nil {
		t.Fatalf("build the provider: %v\n%s", err, out)
	}
	rc := filepath.Join(work, "terraformrc")
	os.WriteFile(rc, []byte(`provider_installation {
  dev_overrides {
    "wirefleet/wirefleet" = "`+plugins+`"
  }
  direct {}
}
`), 0o644)
	data := t.TempDir()
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t))
	key := regexp.MustCompile(`admin API key:\s+(wfa_\S+)`).FindStringSubmatch(p.output())
	if key == nil {
		t.Fatalf("no admin API key:\n%s", p.output())
	}
	dir := filepath.Join(work, "config")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tfConfig), 0o644)
	os.WriteFile(filepath.Join(dir, "policy.hujson"), []byte(tfPolicy), 0o644)
	// A machine enrolled the usual way, for wirefleet_machine to adopt.
	var tok wire.CreateTokenResponse
	json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--json")), &tok)
	anon, _ := client.New(p.url, client.WithPin(p.pin))
	en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "adoptee", Name: "adoptee", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	router, _ := client.New(p.url, client.WithPin(p.pin), client.WithToken(en.Credential))
	if _, err := router.AdvertiseRoutes(context.Background(), wire.RoutesAdvert{Routes: []string{"10.1.0.0/24"}, ExitNode: true}); err != nil {
		t.Fatal(err)
	}
	tf := terraform{t: t, dir: dir, env: []string{"TF_CLI_CONFIG_FILE=" + rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"WIREFLEET_SERVER=" + p.url, "WIREFLEET_API_KEY=" + key[1], "WIREFLEET_PIN=" + p.pin}}

	out := tf.must("apply", "-auto-approve", "-no-color", "-input=false")
	if !strings.Contains(out, "Apply complete! Resources: 8 added") {
		t.Fatalf("apply:\n%s", out)
	}
	if ip := strings.TrimSpace(tf.must("output", "-raw", "web_ipv4")); ip != en.IPv4 {
		t.Errorf("the machine data source's address %q, want %q", ip, en.IPv4)
	}
	if rs := mustCLI(t, "routes", "list", "--data-dir", data); !regexp.MustCompile(`10\.1\.0\.0/24\s+web-1\s+approved`).MatchString(rs) {
		t.Errorf("routes list after apply:\n%s", rs)
	}
	if ts := mustCLI(t, "teams", "list", "--data-dir", data); !strings.Contains(ts, "platform") {
		t.Errorf("teams list after apply:\n%s", ts)
	}
	if k := strings.TrimSpace(tf.must("output", "-raw", "billing_key")); !strings.HasPrefix(k, "wfc_") {
		t.Errorf("the flag client's key %q", k)
	}
	if ms := tf.must("output", "-raw", "servers"); ms != "1" {
		t.Errorf("wirefleet_machines with tag:server: %s, want the adopted machine", ms)
	}
	cli := func(args ...string) string { return mustCLI(t, append(args, "--data-dir", data)...) }
	tryCLI := func(args ...string) (string, error) { return cliRun(t, append(args, "--data-dir", data)...) }
	var pol wire.Policy
	json.Unmarshal([]byte(cli("policy", "get", "--json")), &pol)
	if pol.Text != tfPolicy || pol.Rules != 1 {
		t.Errorf("the server's policy: %d rules, text %q", pol.Rules, pol.Text)
	}
	if dns := cli("dns", "list"); !strings.Contains(dns, "db.fleet.internal") || !strings.Contains(dns, "100.64.0.50") {
		t.Errorf("dns list:\n%s", dns)
	}
	if f := cli("flags", "get", "new-ui"); !strings.Contains(f, "tag:server") {
		t.Errorf("flags get:\n%s", f)
	}
	secret := strings.TrimSpace(tf.must("output", "-raw", "token"))
	if !strings.HasPrefix(secret, "wfe_") || !strings.Contains(cli("tokens", "list"), secret[:10]) {
		t.Errorf("the token's secret %q is not a listed token", secret)
	}
	if code, out := tf.planExit(); code != 0 {
		t.Fatalf("a plan right after apply has changes (exit %d):\n%s", code, out)
	}

	// Drift: an admin removes the record and turns the flag off elsewhere.
	cli("dns", "remove", "db")
	cli("flags", "set", "new-ui", "--enabled=false")
	cli("machines", "rename", "web-1", "renamed-elsewhere")
	cli("routes", "reject", "renamed-elsewhere", "10.1.0.0/24")
	cli("teams", "set", "platform", "--tag", "tag:other")
	cli("clients", "set", "billing", "--active=false")
	code, out := tf.planExit()
	if code != 2 || !strings.Contains(out, "wirefleet_dns_record.db will be created") || !strings.Contains(out, "wirefleet_flag.new_ui will be updated") || !strings.Contains(out, "wirefleet_machine.web will be updated") ||
		!strings.Contains(out, "wirefleet_route_approval.web will be updated") || !strings.Contains(out, "wirefleet_team.platform will be updated") ||
		!strings.Contains(out, "wirefleet_flag_client.billing will be updated") {
		t.Fatalf("drift not shown (exit %d):\n%s\nthe flag now: %s", code, out, cli("flags", "get", "new-ui", "--json"))
	}
	tf.must("apply", "-auto-approve", "-no-color", "-input=false")
	if code, out := tf.planExit(); code != 0 {
		t.Fatalf("the apply did not put the drift back (exit %d):\n%s", code, out)
	}

	// A policy whose test fails: plan fails with the problem, nothing applied.
	broken := strings.Replace(tfPolicy, `"accept": ["tag:server:22"], "deny": ["tag:server:443"]`, `"accept": ["tag:server:443"]`, 1)
	os.WriteFile(filepath.Join(dir, "policy.hujson"), []byte(broken), 0o644)
	code, out = tf.planExit()
	if code != 1 || !strings.Contains(out, "The access policy has a problem") || !strings.Contains(out, "443") {
		t.Fatalf("a failing policy test did not fail the plan (exit %d):\n%s", code, out)
	}
	json.Unmarshal([]byte(cli("policy", "get", "--json")), &pol)
	if pol.Text != tfPolicy {
		t.Error("the plan changed the policy on the server")
	}
	os.WriteFile(filepath.Join(dir, "policy.hujson"), []byte(tfPolicy), 0o644)

	// Import: forget the record, flag and policy, then take them back.
	tf.must("state", "rm", "wirefleet_dns_record.db", "wirefleet_flag.new_ui", "wirefleet_policy.fleet", "wirefleet_machine.web", "wirefleet_team.platform", "wirefleet_route_approval.web", "wirefleet_flag_client.billing")
	tf.must("import", "-no-color", "-input=false", "wirefleet_dns_record.db", "db.fleet.internal/A/100.64.0.50")
	tf.must("import", "-no-color", "-input=false", "wirefleet_flag.new_ui", "new-ui")
	tf.must("import", "-no-color", "-input=false", "wirefleet_policy.fleet", "policy")
	tf.must("import", "-no-color", "-input=false", "wirefleet_machine.web", "web-1")
	tf.must("import", "-no-color", "-input=false", "wirefleet_team.platform", "platform")
	tf.must("import", "-no-color", "-input=false", "wirefleet_flag_client.billing", "billing")
	tf.must("import", "-no-color", "-input=false", "wirefleet_route_approval.web", "web-1")
	code, out = tf.planExit()
	if code == 1 || strings.Contains(out, "must be replaced") || strings.Contains(out, "will be created") || strings.Contains(out, "will be destroyed") {
		t.Fatalf("after import the plan replaces or creates (exit %d):\n%s", code, out)
	}
	tf.must("apply", "-auto-approve", "-no-color", "-input=false") // the names' and JSON's spelling, if any
	if code, out := tf.planExit(); code != 0 {
		t.Fatalf("after import and apply the plan has changes (exit %d):\n%s", code, out)
	}
	if _, err := tf.run("import", "-no-color", "-input=false", "wirefleet_policy.other", "nonsense"); err == nil {
		t.Error("importing the policy under another ID worked")
	}

	// Destroy removes what it made.
	out = tf.must("destroy", "-auto-approve", "-no-color", "-input=false")
	if !strings.Contains(out, "Destroy complete! Resources: 8 destroyed") {
		t.Fatalf("destroy:\n%s", out)
	}
	if m := cli("machines", "show", "web-1"); !strings.Contains(m, "active") {
		t.Errorf("destroy let go of the machine, which must stay enrolled:\n%s", m)
	}
	json.Unmarshal([]byte(cli("policy", "get", "--json")), &pol)
	if strings.TrimSpace(pol.Text) != "" {
		t.Errorf("the policy after destroy: %q", pol.Text)
	}
	if dns := cli("dns", "list"); strings.Contains(dns, "100.64.0.50") {
		t.Errorf("the record after destroy:\n%s", dns)
	}
	if out, err := tryCLI("flags", "get", "new-ui"); err == nil {
		t.Errorf("the flag after destroy:\n%s", out)
	}
	if !strings.Contains(cli("tokens", "list", "--json"), `"revoked"`) {
		t.Error("the token was not revoked")
	}
}
