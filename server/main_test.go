package main

// These tests build the real wirefleet-server binary and drive it the way an
// operator does: serve on a real port with TLS, the CLI over the admin
// socket and over HTTPS, kill -9, restart.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wirefleet-server-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "wirefleet-server")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	url    string
	pin    string
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs `wirefleet-server serve` and waits until it answers /healthz.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, append([]string{"serve"}, args...)...)}
	// Tests run side by side: the STUN responder takes any free port.
	p.cmd.Env = append(append(os.Environ(), "WIREFLEET_STUN_LISTEN=127.0.0.1:0"), env...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	urlRE := regexp.MustCompile(`listening" url=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := urlRE.FindStringSubmatch(p.output()); m != nil {
			p.url = m[1]
			// The pin is printed on stdout before the log line on stderr,
			// but the two pipes are copied apart: give stdout a moment.
			pinRE := regexp.MustCompile(`pin (sha256/\S+)`)
			for wait := time.Now().Add(2 * time.Second); strings.HasPrefix(p.url, "https") && time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
				if pinRE.MatchString(p.output()) {
					break
				}
			}
			if pm := pinRE.FindStringSubmatch(p.output()); pm != nil {
				p.pin = pm[1]
			}
			return p
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("server did not start:\n%s", p.output())
	return nil
}

func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(binary, args...).CombinedOutput()
	return string(out), err
}

// cliRun is cli for closures that shadow its name.
func cliRun(t *testing.T, args ...string) (string, error) { return cli(t, args...) }

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatalf("wirefleet-server %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func pubkey() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func TestServerLifecycleTLSPinCLIAndKill9(t *testing.T) {
	data := t.TempDir()
	addr := freePort(t)
	p := start(t, nil, "--data-dir", data, "--listen", addr, "--bootstrap-token")
	out := p.output()

	// First start prints the admin credential and a one-liner with the pin.
	key := regexp.MustCompile(`admin API key:\s+(wfa_\S+)`).FindStringSubmatch(out)
	tok := regexp.MustCompile(`--token (wfe_\S+)`).FindStringSubmatch(out)
	if key == nil || tok == nil || p.pin == "" || !strings.Contains(out, "--pinnedpubkey 'sha256//") {
		t.Fatalf("first-start banner lacks the admin key, token or pin:\n%s", out)
	}
	// The server listens on loopback: the banner says other machines
	// cannot use these commands as they are.
	if !strings.Contains(out, "NOTE: These commands send machines to "+addr+", a loopback address") {
		t.Errorf("a loopback one-liner carries no warning:\n%s", out)
	}
	// Secrets go to stdout once, never into the log (stderr).
	if strings.Contains(p.stderr.String(), key[1]) || strings.Contains(p.stderr.String(), tok[1]) {
		t.Fatal("a secret was written to the log")
	}
	if st, _ := os.Stat(data); st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v, want 0700", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Join(data, "wirefleet.sock")); st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want 0600", st.Mode().Perm())
	}

	ctx := context.Background()
	// The agent's view: pinned TLS works, a wrong pin and no pin do not.
	good, _ := client.New(p.url, client.WithPin(p.pin))
	en, err := good.Enroll(ctx, wire.EnrollRequest{Token: tok[1], PublicKey: pubkey(), Hostname: "durable", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatalf("enroll over pinned TLS: %v", err)
	}
	wrong, _ := client.New(p.url, client.WithPin("sha256/"+base64.StdEncoding.EncodeToString(make([]byte, 32))))
	if _, err := wrong.Enroll(ctx, wire.EnrollRequest{}); err == nil || !strings.Contains(err.Error(), "does not match pin") {
		t.Fatalf("wrong pin: %v, want a pin mismatch", err)
	}
	unpinned, _ := client.New(p.url)
	if _, err := unpinned.Enroll(ctx, wire.EnrollRequest{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("no pin: %v, want a certificate error", err)
	}

	// CLI over the admin socket.
	var created wire.CreateTokenResponse
	if err := json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--reusable", "--max-uses", "2", "--tag", "env:ci", "--json")), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "wfe_") || created.Token.MaxUses != 2 {
		t.Fatalf("tokens create = %+v", created)
	}
	listing := mustCLI(t, "tokens", "list", "--data-dir", data)
	if strings.Contains(listing, created.Secret) || !strings.Contains(listing, created.Token.Prefix) {
		t.Fatalf("token list must show the prefix and never the secret:\n%s", listing)
	}
	// And over HTTPS with the API key and pin.
	remote := mustCLI(t, "machines", "list", "--server", p.url, "--api-key", key[1], "--pin", p.pin)
	if !strings.Contains(remote, "durable") || !strings.Contains(remote, en.IPv4) {
		t.Fatalf("remote machines list:\n%s", remote)
	}
	mustCLI(t, "machines", "revoke", "durable", "--data-dir", data)
	agent, _ := client.New(p.url, client.WithPin(p.pin), client.WithToken(en.Credential))
	var we *wire.Error
	if _, err := agent.Netmap(ctx, 0, 0); !errors.As(err, &we) || we.Code != wire.CodeMachineRevoked {
		t.Fatalf("revoked credential: %v", err)
	}
	if out, err := cli(t, "machines", "show", "nope", "--data-dir", data); err == nil || !strings.Contains(out, "(not_found)") {
		t.Fatalf("show missing machine: %v\n%s", err, out)
	}

	// kill -9: every acknowledged write must survive.
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()

	// Restart with settings from a YAML file and the environment.
	cfg := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(cfg, []byte("listen: "+addr+"\nlong-poll: 2s\n"), 0o600)
	p2 := start(t, []string{"WIREFLEET_DATA_DIR=" + data}, "--config", cfg)
	if strings.Contains(p2.output(), "First start") {
		t.Fatal("restart created a second first admin")
	}
	if p2.pin != p.pin {
		t.Fatalf("pin changed across restart: %s → %s (handed-out one-liners would break)", p.pin, p2.pin)
	}
	var ms []wire.Machine
	json.Unmarshal([]byte(mustCLI(t, "machines", "list", "--data-dir", data, "--json")), &ms)
	if len(ms) != 1 || ms[0].State != wire.MachineRevoked {
		t.Fatalf("after kill -9 machines = %+v, want the revoked machine", ms)
	}
	good, _ = client.New(p2.url, client.WithPin(p2.pin))
	_, err = good.Enroll(ctx, wire.EnrollRequest{Token: tok[1], PublicKey: pubkey(), Hostname: "again", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if !errors.As(err, &we) || we.Code != wire.CodeTokenExhausted {
		t.Fatalf("reusing the single-use token after kill -9: %v, want token_exhausted", err)
	}
	if _, err := agent.Netmap(ctx, 0, 0); err == nil {
		t.Fatal("revoked credential works again after restart")
	}
	audit := mustCLI(t, "audit", "--data-dir", data)
	for _, a := range []string{"admin.create", "token.create", "machine.enroll", "machine.revoke", "machine.enroll_refused"} {
		if !strings.Contains(audit, a) {
			t.Errorf("audit log lacks %s:\n%s", a, audit)
		}
	}

	// Health, readiness and metrics (with the admin key).
	hc := &http.Client{Transport: mustTransport(t, p2.pin)}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "wirefleet_machines{state=\"revoked\"} 1"} {
		req, _ := http.NewRequest(http.MethodGet, p2.url+path, nil)
		if path == "/metrics" {
			req.Header.Set("Authorization", "Bearer "+key[1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d, lacks %q", path, resp.StatusCode, want)
		}
	}

	// A second server on the same data dir is refused.
	second := exec.Command(binary, "serve", "--data-dir", data, "--listen", freePort(t), "--stun-listen", "127.0.0.1:0")
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "already running") {
		t.Fatalf("second server on the same data dir: %v\n%s", err, out)
	}
}

func mustTransport(t *testing.T, pin string) http.RoundTripper {
	c, err := client.New("https://x", client.WithPin(pin))
	if err != nil {
		t.Fatal(err)
	}
	// The client's transport is what WithPin installed; borrow it.
	return c.HTTPClient().Transport
}

func TestGracefulShutdownAnswersHeldPolls(t *testing.T) {
	data := t.TempDir()
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--insecure-http")
	if p.pin != "" || !strings.HasPrefix(p.url, "http://") {
		t.Fatalf("--insecure-http: url %s pin %q", p.url, p.pin)
	}
	var tr wire.CreateTokenResponse
	json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--json")), &tr)
	anon, _ := client.New(p.url)
	en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: "h", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := client.New(p.url, client.WithToken(en.Credential))
	done := make(chan error, 1)
	go func() {
		nm, err := agent.Netmap(context.Background(), en.Netmap.Version, 60*time.Second)
		if err == nil && !nm.Unchanged {
			err = fmt.Errorf("held poll answered with %+v, want unchanged", nm)
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("held long-poll not answered on shutdown")
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("server exit: %v\n%s", err, p.output())
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if _, err := os.Stat(filepath.Join(data, "wirefleet.sock")); !os.IsNotExist(err) {
		t.Fatalf("socket left behind after clean shutdown: %v", err)
	}
}

func TestCLIErrorsAreClear(t *testing.T) {
	out, err := cli(t, "machines", "list", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(out, "no running server found") {
		t.Fatalf("CLI without a server: %v\n%s", err, out)
	}
	out, err = cli(t, "machines", "list", "--server", "https://127.0.0.1:1")
	if err == nil || !strings.Contains(out, "--api-key") {
		t.Fatalf("--server without --api-key: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("lisen: :1\n"), 0o600)
	out, err = cli(t, "serve", "--config", cfg, "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(out, `unknown setting "lisen"`) {
		t.Fatalf("typo in config: %v\n%s", err, out)
	}
	out, err = cli(t, "serve", "--data-dir", t.TempDir(), "--db", "mysql://x")
	if err == nil || !strings.Contains(out, "unsupported database URL") {
		t.Fatalf("bad --db: %v\n%s", err, out)
	}
}

func TestEphemeralMachinesAreRemovedOnceOffline(t *testing.T) {
	data := t.TempDir()
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--insecure-http", "--ephemeral-ttl", "2s")
	var tr wire.CreateTokenResponse
	json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--reusable", "--ephemeral", "--json")), &tr)
	anon, _ := client.New(p.url)
	enroll := func(host string) wire.EnrollResponse {
		en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		return en
	}
	gone, online := enroll("gone"), enroll("online")
	// "online" holds a long-poll the whole time; "gone" never polls.
	agent, _ := client.New(p.url, client.WithToken(online.Credential))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		v := online.Netmap.Version
		for ctx.Err() == nil {
			nm, err := agent.Netmap(ctx, v, 60*time.Second)
			if err == nil {
				v = nm.Version
			}
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ms []wire.Machine
		json.Unmarshal([]byte(mustCLI(t, "machines", "list", "--data-dir", data, "--json")), &ms)
		names := map[string]bool{}
		for _, m := range ms {
			names[m.Name] = true
		}
		if !names["online"] {
			t.Fatal("an ephemeral machine holding a long-poll was removed")
		}
		if !names["gone"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offline ephemeral machine %s not removed after 15s", gone.Name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if audit := mustCLI(t, "audit", "--data-dir", data, "--actor", "system:ephemeral-gc"); !strings.Contains(audit, gone.MachineID) {
		t.Fatalf("removal not audited:\n%s", audit)
	}
}

// TestMetricsAreNotPublicAndTLSSetsHSTS: /metrics on the main port answers
// only the metrics token or an admin key; --metrics-listen serves it
// without authentication on its own address; every TLS answer carries
// Strict-Transport-Security.
func TestMetricsAreNotPublicAndTLSSetsHSTS(t *testing.T) {
	data := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "metrics-token")
	const token = "scrape-token-0123456789"
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	metricsAddr := freePort(t)
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--metrics-listen", metricsAddr, "--metrics-token-file", tokenFile)
	key := regexp.MustCompile(`admin API key:\s+(wfa_\S+)`).FindStringSubmatch(p.output())
	if key == nil {
		t.Fatalf("no admin key printed:\n%s", p.output())
	}
	hc := &http.Client{Transport: mustTransport(t, p.pin)}
	get := func(url, auth string) (int, string, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), resp.Header
	}
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"wrong-token-0123456789", 401}, {"wfa_" + strings.Repeat("a", 40), 401}, {token, 200}, {key[1], 200}} {
		code, body, _ := get(p.url+"/metrics", c.auth)
		if code != c.want || (code == 200) != strings.Contains(body, "wirefleet_machines") {
			t.Errorf("GET /metrics with %q: %d, want %d\n%.200s", c.auth, code, c.want, body)
		}
		if code == 401 && !strings.Contains(body, `"code":"unauthenticated"`) {
			t.Errorf("401 without the stable code: %s", body)
		}
	}
	if code, body, _ := get("http://"+metricsAddr+"/metrics", ""); code != 200 || !strings.Contains(body, "wirefleet_machines") {
		t.Errorf("--metrics-listen: %d\n%.200s", code, body)
	}
	for _, path := range []string{"/healthz", "/login", "/api/v1/info"} {
		if _, _, h := get(p.url+path, ""); h.Get("Strict-Transport-Security") != "max-age=31536000" {
			t.Errorf("GET %s over TLS: Strict-Transport-Security %q", path, h.Get("Strict-Transport-Security"))
		}
	}
	// Plain HTTP (behind a TLS proxy) sends none: the proxy decides.
	ph := start(t, nil, "--data-dir", t.TempDir(), "--listen", freePort(t), "--insecure-http")
	resp, err := http.Get(ph.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("plain HTTP sent Strict-Transport-Security")
	}
}

// TestConnectionCapPerIP: one address opening 200 idle connections holds
// at most --max-conns-per-ip of the server's descriptors (before: one per
// connection); the rest are closed at accept and counted.
func TestConnectionCapPerIP(t *testing.T) {
	metricsAddr := freePort(t)
	p := start(t, nil, "--data-dir", t.TempDir(), "--listen", freePort(t), "--insecure-http", "--max-conns-per-ip", "20", "--metrics-listen", metricsAddr)
	fds := func() int {
		e, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
		return len(e)
	}
	before := fds()
	host := strings.TrimPrefix(p.url, "http://")
	var conns []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(500 * time.Millisecond)
	if after := fds(); after > before+25 {
		t.Errorf("200 connections from one address took %d descriptors (cap 20)", after-before)
	} else {
		t.Logf("200 idle connections from one address: %d more descriptors", after-before)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^wirefleet_connections_refused_total (\d+)`).FindSubmatch(b)
	if m == nil || string(m[1]) != "180" {
		t.Errorf("wirefleet_connections_refused_total: %q, want 180", m)
	}
	for _, c := range conns {
		c.Close()
	}
	// The address is welcome again once its connections are gone.
	var code int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.url + "/healthz"); err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			if code == 200 {
				break
			}
		}
	}
	if code != 200 {
		t.Fatalf("after closing its connections the address is still refused (%d)", code)
	}
}

// Every flag's help names its value by its type: pflag takes a word in
// backquotes in the usage text as the value's name, which once printed
// "--oidc-member-domains wirefleet-agent enroll".
func TestFlagHelpHasNoBackquotedPlaceholders(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " -/") {
				t.Errorf("%s --%s: help shows the value as %q (backquotes in the usage text)", c.CommandPath(), f.Name, name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd())
}
