package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildAgent builds the agent at version; patch, when set, rewrites
// agent/main.go for this build only (go build -overlay), to make a broken
// release out of the real code.
func buildAgent(t *testing.T, dir, version string, patch func(string) string) string {
	t.Helper()
	out := filepath.Join(dir, "agent-"+version)
	args := []string{"build", "-ldflags", "-X main.Version=" + version, "-o", out}
	if patch != nil {
		src, _ := filepath.Abs("../../agent/main.go")
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		patched := patch(string(b))
		if patched == string(b) {
			t.Fatalf("patching %s for %s changed nothing: the anchor moved", src, version)
		}
		alt := filepath.Join(dir, "main-"+version+".go")
		os.WriteFile(alt, []byte(patched), 0o644)
		ov, _ := json.Marshal(map[string]any{"Replace": map[string]string{src: alt}})
		os.WriteFile(alt+".json", ov, 0o644)
		args = append(args, "-overlay", alt+".json")
	}
	b, err := exec.Command("go", append(args, "../../agent")...).CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", version, err, b)
	}
	return out
}

// publisher makes release keys in work/keys and returns a function that
// publishes bin as version for this platform (extra: more publish flags).
func (f *fleet) publisher(t *testing.T, work string) func(version, bin string, extra ...string) {
	t.Helper()
	keys := filepath.Join(work, "keys")
	run(t, f.server, "releases", "keygen", "--keys", keys)
	target := runtime.GOOS + "/" + runtime.GOARCH
	return func(version, bin string, extra ...string) {
		run(t, f.server, append([]string{"releases", "publish", "--keys", keys, "--data-dir", f.data, "--version", version, "--file", target + "=" + bin}, extra...)...)
	}
}

// installAgent copies bin to DIR/bin/wirefleet-agent and enrolls it from
// host h with state in DIR/state.
func (f *fleet) installAgent(t *testing.T, h host, bin string) (dir, exe, state string) {
	t.Helper()
	dir = t.TempDir()
	exe, state = filepath.Join(dir, "bin", "wirefleet-agent"), filepath.Join(dir, "state")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(exe), 0o755)
	os.WriteFile(exe, b, 0o755)
	h.run(t, exe, "enroll", "--server", f.serverURL, "--token", f.token(), "--pin", f.pin, "--state-dir", state)
	return dir, exe, state
}

// supervisor returns what starts the agent installed in dir the way a
// service manager runs it — started again whenever it exits, on interface
// iface, self-updating with gate as --update-gate; the test's cleanup
// stops the loop and the agent.
func supervisor(t *testing.T, h host, dir, exe, state, iface string, gate time.Duration) func() *proc {
	stop := filepath.Join(dir, "stop")
	t.Cleanup(func() {
		os.WriteFile(stop, nil, 0o644)
		exec.Command("pkill", "-f", dir).Run()
	})
	return func() *proc {
		return startProc(t, h.cmd("sh", "-c", fmt.Sprintf(
			"while [ ! -e %s ]; do %s run --state-dir %s --interface %s --update-interval 1h --update-gate %s --health-interval 1s; sleep 0.5; done",
			stop, exe, state, iface, gate)))
	}
}

// The line of runAgent a broken release replaces.
const engineRunLine = "\t\terr = eng.Run(ctx)\n"

// TestRollbackSurvivesWatchdogAndReboot: the rollback of a broken release
// does not depend on the watchdog process. A 2.0.0 that crashes at every
// start is rolled back after the watchdog is kill -9ed; a 3.0.0 that starts
// but never reaches the server is rolled back after a simulated reboot
// (every agent process killed, the service started again).
func TestRollbackSurvivesWatchdogAndReboot(t *testing.T) {
	f := newFleet(t, 2)
	h := f.hosts[1]
	work := t.TempDir()
	v1 := buildAgent(t, work, "1.0.0", nil)
	crash := buildAgent(t, work, "2.0.0", func(s string) string {
		return strings.Replace(s, engineRunLine, "\t\tpanic(\"2.0.0 crashes at start\")\n", 1)
	})
	hang := buildAgent(t, work, "3.0.0", func(s string) string {
		return strings.Replace(s, engineRunLine, "\t\t<-ctx.Done() // 3.0.0 never reaches the server\n\t\terr = ctx.Err()\n", 1)
	})
	publish := f.publisher(t, work)
	publish("1.0.0", v1)
	dir, exe, state := f.installAgent(t, h, v1)

	// The service manager: restart the agent whenever it exits.
	service := supervisor(t, h, dir, exe, state, "wfr", 6*time.Second)
	sup := service()
	machine := f.soleMachine
	eventually(t, 20*time.Second, "agent 1.0.0 reports", func() bool { return machine().AgentVersion == "1.0.0" })
	pending := filepath.Join(state, "update", "pending.json")
	trialStarts := func() int {
		var m struct {
			Swapped bool `json:"swapped"`
			Starts  int  `json:"starts"`
		}
		b, err := os.ReadFile(pending)
		if err != nil || json.Unmarshal(b, &m) != nil || !m.Swapped {
			return -1
		}
		return m.Starts
	}

	// 2.0.0 crashes at start; its watchdog is killed as soon as the swap
	// is done, long before its deadline.
	t0 := time.Now()
	publish("2.0.0", crash)
	eventually(t, 60*time.Second, "2.0.0 swapped in", func() bool { return trialStarts() >= 0 })
	if out, err := exec.Command("pkill", "-9", "-f", "update-watch --state-dir "+state).CombinedOutput(); err != nil {
		t.Fatalf("no watchdog to kill: %v %s", err, out)
	}
	eventually(t, 60*time.Second, "crashing 2.0.0 rolled back without its watchdog", func() bool {
		m := machine()
		return m.AgentVersion == "1.0.0" && m.LastUpdate != nil && m.LastUpdate.To == "2.0.0" && m.LastUpdate.State == "rolled_back"
	})
	t.Logf("crashing 2.0.0 rolled back %v after publishing (watchdog killed)", time.Since(t0).Round(time.Millisecond))
	if r := machine().LastUpdate.Reason; !strings.Contains(r, "started 3 times") {
		t.Fatalf("rollback reason: %q", r)
	}
	if n := strings.Count(sup.output(), "2.0.0 crashes at start"); n != 3 {
		t.Fatalf("2.0.0 ran %d times, want 3 (its trial's starts)", n)
	}
	if _, err := os.Stat(exe + ".old"); !os.IsNotExist(err) {
		t.Fatalf("the previous binary is still beside the agent: %v", err)
	}
	if out, _ := exec.Command(exe, "--version").Output(); !strings.Contains(string(out), "1.0.0") {
		t.Fatalf("binary after the rollback: %s", out)
	}

	// 3.0.0 starts but never reaches the server. During its trial the
	// machine "reboots": every agent process dies at once, the watchdog
	// included, and the service starts again.
	t0 = time.Now()
	publish("3.0.0", hang)
	eventually(t, 60*time.Second, "3.0.0 on trial", func() bool { return trialStarts() >= 1 })
	exec.Command("pkill", "-9", "-f", dir).Run()
	sup.cmd.Wait()
	if out, _ := exec.Command(exe, "--version").Output(); !strings.Contains(string(out), "3.0.0") {
		t.Fatalf("binary after the reboot: %s", out)
	}
	sup = service()
	eventually(t, 10*time.Second, "status shows the trial", func() bool {
		st, _ := h.cmd(exe, "status", "--state-dir", state).Output()
		return strings.Contains(string(st), "on trial: 1.0.0 → 3.0.0, start 2 of 3")
	})
	eventually(t, 60*time.Second, "hanging 3.0.0 rolled back after a reboot", func() bool {
		m := machine()
		return m.AgentVersion == "1.0.0" && m.LastUpdate != nil && m.LastUpdate.To == "3.0.0" && m.LastUpdate.State == "rolled_back"
	})
	t.Logf("hanging 3.0.0 rolled back %v after publishing (reboot during its trial)", time.Since(t0).Round(time.Millisecond))
	if r := machine().LastUpdate.Reason; !strings.Contains(r, "health gate") {
		t.Fatalf("rollback reason: %q", r)
	}
	st := h.run(t, exe, "status", "--state-dir", state)
	if !strings.Contains(st, "last update:") || !strings.Contains(st, "3.0.0 failed and was rolled back") {
		t.Fatalf("status does not show the last update:\n%s", st)
	}
	if _, err := os.Stat(exe + ".old"); !os.IsNotExist(err) {
		t.Fatalf("the previous binary is still beside the agent: %v", err)
	}
	// Neither is taken again.
	time.Sleep(3 * time.Second)
	if m := machine(); m.AgentVersion != "1.0.0" {
		t.Fatalf("a rolled-back version was taken again: %s", m.AgentVersion)
	}
}

// TestInstallWithoutSystemd: on a host whose init system restarts nothing
// (SysV init: the namespace host has no systemd), the one-liner installs an
// init script that runs the agent under `wirefleet-agent supervise`, and
// the agent survives two self-updates, following the beta channel it was
// installed with (a newer stable release is not taken).
func TestInstallWithoutSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("this machine runs systemd: the installer would install a systemd unit on the host, not the SysV fallback this test is about")
	}
	f := newFleet(t, 2)
	h := f.hosts[1]
	work := t.TempDir()
	v1, v2, v3, v9 := buildAgent(t, work, "1.0.0", nil), buildAgent(t, work, "2.0.0", nil), buildAgent(t, work, "3.0.0", nil), buildAgent(t, work, "9.0.0", nil)
	release := f.publisher(t, work)
	publish := func(channel, version, bin string) { release(version, bin, "--channel", channel) }
	publish("stable", "1.0.0", v1)
	publish("beta", "1.0.0", v1)

	dir := t.TempDir()
	exe := filepath.Join(dir, "bin", "wirefleet-agent")
	state := filepath.Join(dir, "state")
	t.Cleanup(func() {
		exec.Command("pkill", "-f", dir).Run()
		for _, f := range []string{"/var/run/wirefleet-agent.pid", "/var/log/wirefleet-agent.log", "/var/log/wirefleet-agent.err"} {
			os.Remove(f)
		}
	})
	// A private /etc/init.d and rc*.d for this host: the init script and
	// its links must not land on the machine running the test.
	script := fmt.Sprintf(`set -e
for d in /etc/init.d /etc/rc0.d /etc/rc1.d /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d /etc/rc6.d; do
	mkdir -p $d && mount -t tmpfs tmpfs $d
done
curl -fsSL -k --pinnedpubkey 'sha256//%s' %s/install.sh | sh -s -- --server %s --token %s --pin %s --prefix %s --state-dir %s --channel beta
head -20 /etc/init.d/wirefleet-agent
`, strings.TrimPrefix(f.pin, "sha256/"), f.serverURL, f.serverURL, f.token(), f.pin, filepath.Dir(exe), state)
	out, err := h.cmd("unshare", "--mount", "--propagation", "private", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SysV init script") || !strings.Contains(string(out), "supervise") {
		t.Fatalf("the installer does not say what it installed:\n%s", out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("exec %q supervise -- \"run\" \"--state-dir\" %q", exe, state)) {
		t.Fatalf("the init script does not run the agent under its supervisor:\n%s", out)
	}
	machine := f.soleMachine
	eventually(t, 30*time.Second, "the installed agent 1.0.0 reports", func() bool { return machine().AgentVersion == "1.0.0" })

	publish("stable", "9.0.0", v9) // not this machine's channel
	for _, next := range []struct{ version, bin string }{{"2.0.0", v2}, {"3.0.0", v3}} {
		t0 := time.Now()
		publish("beta", next.version, next.bin)
		eventually(t, 90*time.Second, "the agent updates itself to "+next.version, func() bool {
			m := machine()
			return m.AgentVersion == next.version && m.LastUpdate != nil && m.LastUpdate.State == "ok" && m.LastUpdate.To == next.version
		})
		t.Logf("beta %s taken and committed %v after publishing", next.version, time.Since(t0).Round(time.Millisecond))
	}
	st := h.run(t, exe, "status", "--state-dir", state)
	for _, want := range []string{`channel:\s+beta\n`, `version 3\.0\.0`, `last update:\s+2\.0\.0 → 3\.0\.0 succeeded`} {
		if !regexp.MustCompile(want).MatchString(st) {
			t.Fatalf("status lacks %q:\n%s", want, st)
		}
	}
	if out, _ := exec.Command("pgrep", "-f", exe+" supervise").Output(); len(strings.Fields(string(out))) != 1 {
		t.Fatalf("want one supervisor still running, pgrep says %q", out)
	}
}
