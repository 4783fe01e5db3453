package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestSealARunningFleet: a fleet whose server keeps its secrets plain
// (an install from before sealing) is sealed while it serves; the agents
// keep their tunnels and pins, also across a restart and a TLS rotation.
// Releases come from the offline ceremony (the root never on the server);
// after the signing key is rotated, an update signed by the new key
// installs, and one signed by the old key is refused — by the server, and
// by the agent when the old-key manifest is put behind the server's back.
func TestSealARunningFleet(t *testing.T) {
	f := newFleetWith(t, 3, "--secrets", "plain")
	work := t.TempDir()
	v1, v2, v3 := buildAgent(t, work, "1.0.0", nil), buildAgent(t, work, "2.0.0", nil), buildAgent(t, work, "3.0.0", nil)

	// The offline ceremony: root alone, a signing key where releases are
	// published, its list signed by the root.
	root, keys := filepath.Join(work, "root"), filepath.Join(work, "keys")
	run(t, f.server, "releases", "root", "init", "--out", root)
	run(t, f.server, "releases", "keygen", "--signing-only", "--keys", keys)
	run(t, f.server, "releases", "root", "sign-keys", "--root", root, "--key", filepath.Join(keys, release.SigningPubFile), "--out", keys)
	target := runtime.GOOS + "/" + runtime.GOARCH
	publish := func(dir, version, bin string) (string, error) {
		out, err := exec.Command(f.server, "releases", "publish", "--keys", dir, "--data-dir", f.data, "--version", version, "--file", target+"="+bin).CombinedOutput()
		return string(out), err
	}
	if out, err := publish(keys, "1.0.0", v1); err != nil {
		t.Fatalf("publish 1.0.0: %v\n%s", err, out)
	}

	// Machine "updater" runs 1.0.0 under a restarting supervisor; "peer"
	// runs this tree's agent.
	h := f.hosts[1]
	dir, exe, state := f.installAgent(t, h, v1)
	sup := supervisor(t, h, dir, exe, state, "wfs", 6*time.Second)()
	peer := f.enrollWith(f.hosts[2], 2, []string{"--update-interval", "0"}) // stays on this tree's agent
	machines := func() map[string]wire.Machine {
		var ms []wire.Machine
		json.Unmarshal([]byte(run(t, f.server, "machines", "list", "--data-dir", f.data, "--json")), &ms)
		out := map[string]wire.Machine{}
		for _, m := range ms {
			out[m.ID] = m
		}
		return out
	}
	var updater wire.Machine
	eventually(t, 20*time.Second, "the 1.0.0 agent reports", func() bool {
		for _, m := range machines() {
			if m.AgentVersion == "1.0.0" {
				updater = m
				return true
			}
		}
		return false
	})
	tunnel := func(what string) {
		t.Helper()
		t0 := time.Now()
		defer func() { t.Logf("%s: ping after %v", what, time.Since(t0).Round(time.Millisecond)) }()
		// WireGuard re-handshakes with a restarted peer within about 15 s
		// of unanswered traffic (keepalive + rekey timeout).
		deadline := time.Now().Add(40 * time.Second)
		for !peer.h.ping(updater.IPv4) {
			if time.Now().After(deadline) {
				a, _ := h.cmd("wg", "show").CombinedOutput()
				b, _ := peer.h.cmd("wg", "show").CombinedOutput()
				t.Fatalf("%s: no ping within 40s\nupdater's wg:\n%s\npeer's wg:\n%s\nmachines: %+v", what, a, b, machines())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	tunnel("peer reaches the updater before sealing")

	// Seal while serving: same keys, so same pin; no PEM left behind.
	if _, err := os.Stat(filepath.Join(f.data, "tls.key")); err != nil {
		t.Fatalf("the plain server keeps no tls.key: %v", err)
	}
	out := run(t, f.server, "secrets", "seal", "--data-dir", f.data, "--backup-to", filepath.Join(work, "before-seal.tar.gz"))
	if !strings.Contains(out, "sealed") {
		t.Fatalf("seal:\n%s", out)
	}
	noPEM(t, f.data)
	tunnel("peer reaches the updater after sealing")

	// Restarted on the default settings: sealed, the same pin, the agents
	// back without re-enrolling.
	f.srv.stop()
	f.serverArgs = nil
	f.srv = f.startServer()
	if !strings.Contains(f.srv.output(), "pin "+f.pin) {
		t.Fatalf("the sealed server serves another pin (want %s):\n%s", f.pin, f.srv.output())
	}
	eventually(t, 30*time.Second, "both agents poll the sealed server", func() bool { return connected(f.data) == 2 })
	tunnel("peer reaches the updater after the sealed restart")

	// TLS rotation: refused until every agent confirmed the next key
	// (health every second), then done; agents keep reaching the server.
	eventually(t, 30*time.Second, "secrets rotate tls", func() bool {
		_, err := exec.Command(f.server, "secrets", "rotate", "tls", "--data-dir", f.data).CombinedOutput()
		return err == nil
	})
	noPEM(t, f.data)
	// Every connection after a restart gets the rotated key: both agents
	// come back with the pin they learned, no re-enrollment.
	f.srv.stop()
	f.srv = f.startServer()
	if strings.Contains(f.srv.output(), "pin "+f.pin) {
		t.Fatal("the rotated server still serves the first key")
	}
	eventually(t, 30*time.Second, "both agents poll the server on its rotated key", func() bool { return connected(f.data) == 2 })
	tunnel("peer reaches the updater after the TLS rotation")

	// The signing key rotated offline: the old key and its list kept
	// aside (what a thief of the old key would have).
	old := filepath.Join(work, "old-keys")
	os.CopyFS(old, os.DirFS(keys))
	run(t, f.server, "releases", "keygen", "--signing-only", "--keys", keys)
	run(t, f.server, "releases", "root", "sign-keys", "--root", root, "--key", filepath.Join(keys, release.SigningPubFile), "--out", keys)
	t0 := time.Now()
	if out, err := publish(keys, "2.0.0", v2); err != nil {
		t.Fatalf("publish 2.0.0 with the new key: %v\n%s", err, out)
	}
	eventually(t, 60*time.Second, "the agent updates to 2.0.0 signed by the new key", func() bool {
		m := machines()[updater.ID]
		return m.AgentVersion == "2.0.0" && m.LastUpdate != nil && m.LastUpdate.State == "ok"
	})
	t.Logf("2.0.0 (new signing key) committed %v after publishing", time.Since(t0).Round(time.Millisecond))

	// The old key and its older list: the server refuses them.
	if out, err := publish(old, "3.0.0", v3); err == nil || !strings.Contains(out, "bring back retired signing keys") {
		t.Fatalf("publishing with the retired key: %v\n%s", err, out)
	}
	// Behind the server's back (whoever can write its disk): a 3.0.0
	// manifest signed by the old key. The agent refuses it.
	signer, err := release.LoadSigner(old, "")
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := os.ReadFile(v3)
	name := fmt.Sprintf("wirefleet-agent-3.0.0-%s-%s", runtime.GOOS, runtime.GOARCH)
	os.WriteFile(filepath.Join(f.data, "releases", "files", name), bin, 0o644)
	m := release.Manifest{Channel: "stable", Version: "3.0.0", Published: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Rollout: 100,
		Artifacts: []release.Artifact{signer.Artifact(runtime.GOOS, runtime.GOARCH, name, bin)}}
	body, sig, err := signer.Manifest(m)
	if err != nil {
		t.Fatal(err)
	}
	ch := filepath.Join(f.data, "releases", "channels", "stable")
	os.WriteFile(filepath.Join(ch, "manifest.json"), body, 0o644)
	os.WriteFile(filepath.Join(ch, "manifest.json.minisig"), sig, 0o644)
	eventually(t, 30*time.Second, "the agent refuses the old key's manifest", func() bool {
		return regexp.MustCompile(`manifest is not signed by a current signing key`).MatchString(sup.output())
	})
	if m := machines()[updater.ID]; m.AgentVersion != "2.0.0" {
		t.Fatalf("an update signed by the retired key was applied: %s", m.AgentVersion)
	}
	tunnel("peer reaches the updater at the end")
	f.srv.cmd.Process.Signal(syscall.SIGTERM)
}

// noPEM fails when a file under dir holds a private key or an age
// identity in the clear.
func noPEM(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".sock") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, n := range []string{"PRIVATE KEY", "AGE-SECRET-KEY"} {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds %q in the clear", p, n)
			}
		}
		return nil
	})
}
