package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInstallerOneLiner runs the one-liner the admin page prints — curl
// pinned to the server's key, piped to sh — inside a namespace host, and
// checks the refusals a user can meet: wrong pin, bad token, a binary that
// does not match the signed manifest.
func TestInstallerOneLiner(t *testing.T) {
	f := newFleet(t, 2)
	h := f.hosts[1]
	keys := filepath.Join(t.TempDir(), "keys")
	run(t, f.server, "releases", "keygen", "--keys", keys)
	run(t, f.server, "releases", "publish", "--keys", keys, "--data-dir", f.data, "--version", "1.2.3",
		"--file", "linux/amd64="+bins+"/wirefleet-agent", "--file", "linux/arm64="+bins+"/wirefleet-agent")
	listing := run(t, f.server, "releases", "list", "--data-dir", f.data)
	if !strings.Contains(listing, "1.2.3") {
		t.Fatalf("releases list:\n%s", listing)
	}
	dir := t.TempDir()
	oneliner := func(pin, token, extra string) (string, error) {
		pinB64 := strings.TrimPrefix(pin, "sha256/")
		script := fmt.Sprintf("curl -fsSL -k --pinnedpubkey 'sha256//%s' %s/install.sh | sh -s -- --server %s --token %s --pin %s --no-service --prefix %s/bin --state-dir %s/state %s",
			pinB64, f.serverURL, f.serverURL, token, pin, dir, dir, extra)
		out, err := h.cmd("sh", "-c", script).CombinedOutput()
		return string(out), err
	}

	// A wrong pin: curl refuses the server and says so; sh then gets an
	// empty script, so nothing is installed.
	badPin := "sha256/" + strings.Repeat("A", 43) + "="
	out, _ := oneliner(badPin, "wfe_x", "")
	if !strings.Contains(out, "pinned public key") {
		t.Fatalf("wrong pin, no clear message:\n%s", out)
	}
	// The installer fetched with the right pin but told a wrong --pin: its
	// own downloads are refused with an explanation.
	script := fmt.Sprintf("curl -fsSL -k --pinnedpubkey 'sha256//%s' %s/install.sh | sh -s -- --server %s --token wfe_x --pin %s --no-service --prefix %s/bin --state-dir %s/state",
		strings.TrimPrefix(f.pin, "sha256/"), f.serverURL, f.serverURL, badPin, dir, dir)
	o, err := h.cmd("sh", "-c", script).CombinedOutput()
	if err == nil || !strings.Contains(string(o), "does not match --pin") {
		t.Fatalf("installer with a wrong --pin: %v\n%s", err, o)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "wirefleet-agent")); err == nil {
		t.Fatal("a wrong pin still installed the binary")
	}

	// A bad token: a clear message, no enrollment.
	out, err = oneliner(f.pin, "wfe_"+strings.Repeat("a", 52), "")
	if err == nil || !strings.Contains(out, "enrollment failed") || !strings.Contains(out, "token_invalid") {
		t.Fatalf("install with a bad token: %v\n%s", err, out)
	}

	// The real thing.
	t0 := time.Now()
	out, err = oneliner(f.pin, f.token(), "")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	t.Logf("one-liner installed and enrolled in %v", time.Since(t0).Round(time.Millisecond))
	if !strings.Contains(out, "downloading wirefleet-agent 1.2.3") {
		t.Fatalf("installer output:\n%s", out)
	}
	cfgb, err := os.ReadFile(filepath.Join(dir, "state", "config.json"))
	if err != nil {
		t.Fatalf("not enrolled: %v\n%s", err, out)
	}
	root, _ := os.ReadFile(filepath.Join(keys, "root.pub"))
	lines := strings.Split(strings.TrimSpace(string(root)), "\n")
	if !strings.Contains(string(cfgb), lines[len(lines)-1]) {
		t.Fatalf("the agent did not pin the release root key at enrollment:\n%s", cfgb)
	}
	ag := startProc(t, h.cmd(dir+"/bin/wirefleet-agent", "run", "--state-dir", dir+"/state", "--interface", "wfi"))
	eventually(t, 15*time.Second, "installed agent brings its tunnel up", func() bool { return h.cmd("ip", "link", "show", "wfi").Run() == nil })
	_ = ag

	// Re-running is safe: the enrollment is kept (no token needed).
	out, err = oneliner(f.pin, "wfe_unused", "")
	if err != nil || !strings.Contains(out, "already enrolled") {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	if ch := h.run(t, dir+"/bin/wirefleet-agent", "channel", "--state-dir", dir+"/state"); strings.TrimSpace(ch) != "stable" {
		t.Fatalf("channel after a plain install: %q", ch)
	}
	// --channel beta is stored and followed (before, it chose only the
	// download, and the agent went on following stable).
	run(t, f.server, "releases", "publish", "--keys", keys, "--data-dir", f.data, "--channel", "beta", "--version", "1.2.3",
		"--file", "linux/amd64="+bins+"/wirefleet-agent", "--file", "linux/arm64="+bins+"/wirefleet-agent")
	out, err = oneliner(f.pin, "wfe_unused", "--channel beta")
	if err != nil || !strings.Contains(out, "following the beta channel") {
		t.Fatalf("re-run with --channel beta: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state", "config.json")); !strings.Contains(string(b), `"channel": "beta"`) {
		t.Fatalf("config.json does not store the channel:\n%s", b)
	}
	ag.cmd.Process.Signal(syscall.SIGTERM)
	ag.cmd.Wait()
	ag = startProc(t, h.cmd(dir+"/bin/wirefleet-agent", "run", "--state-dir", dir+"/state", "--interface", "wfi"))
	eventually(t, 15*time.Second, "the restarted agent follows beta", func() bool {
		st, _ := h.cmd(dir+"/bin/wirefleet-agent", "status", "--json", "--state-dir", dir+"/state").Output()
		return strings.Contains(string(st), `"channel": "beta"`) && strings.Contains(string(st), `"running": true`)
	})

	// A binary that does not match the signed manifest is never installed.
	files, _ := filepath.Glob(filepath.Join(f.data, "releases", "files", "wirefleet-agent-1.2.3-linux-amd64"))
	if len(files) != 1 {
		t.Fatalf("published file not found: %v", files)
	}
	os.WriteFile(files[0], []byte("#!/bin/sh\necho pwned\n"), 0o644)
	dir2 := t.TempDir()
	script = fmt.Sprintf("curl -fsSL -k --pinnedpubkey 'sha256//%s' %s/install.sh | sh -s -- --server %s --token %s --pin %s --no-service --prefix %s/bin --state-dir %s/state",
		strings.TrimPrefix(f.pin, "sha256/"), f.serverURL, f.serverURL, f.token(), f.pin, dir2, dir2)
	o2, err := h.cmd("sh", "-c", script).CombinedOutput()
	if err == nil || !strings.Contains(string(o2), "SHA-256 mismatch") {
		t.Fatalf("tampered binary: %v\n%s", err, o2)
	}
	if _, err := os.Stat(filepath.Join(dir2, "bin", "wirefleet-agent")); err == nil {
		t.Fatal("a tampered binary was installed")
	}
}
