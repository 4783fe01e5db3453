package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// sshTools skips without OpenSSH's client (.ci/run installs it).
func sshTools(t *testing.T) {
	for _, tool := range []string{"ssh", "scp", "sftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (.ci/run installs openssh-client)", tool)
		}
	}
}

// localUser gives namespace ns a passwd and group of its own (the host's
// plus user NAME with uid/gid), which `ip netns exec` mounts over /etc:
// the test adds a login to the machine without touching the host's.
func localUser(t testing.TB, ns, name string, id int) string {
	t.Helper()
	home, err := os.MkdirTemp("", "wf-home-"+name+"-") // a test's temp dir is 0700: the user could not enter
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	os.Chown(home, id, id)
	for file, line := range map[string]string{
		"passwd": fmt.Sprintf("%s:x:%d:%d:test user:%s:/bin/sh\n", name, id, id, home),
		"group":  fmt.Sprintf("%s:x:%d:\n", name, id),
	} {
		b, err := os.ReadFile("/etc/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("/etc/netns", ns, file), append(b, line...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// sshArgs are OpenSSH client options for a test: no user config, host
// keys not kept, quiet, and a bound on the connect.
func sshArgs(extra ...string) []string {
	args := []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5"}
	for _, a := range extra {
		if strings.HasPrefix(a, "LogLevel=") {
			return append(args, extra...) // ssh takes an option's first value: the caller's
		}
	}
	return append(append(args, "-o", "LogLevel=ERROR"), extra...)
}

// TestSSHInNamespaces: OpenSSH's ssh, scp and sftp against the agents'
// SSH server, by the policy's ssh rules alone: an allowed user gets a
// shell and runs commands, files go both ways, a denied user, a denied
// source and a password or key are refused; a check rule refuses until
// the owner confirms and admits after; a recorded session replays the
// bytes the client saw; revoking the client machine ends its session.
func TestSSHInNamespaces(t *testing.T) {
	sshTools(t)
	f := newFleet(t, 4)
	var alice wire.CreateAdminResponse
	if err := json.Unmarshal([]byte(run(t, f.server, "admin", "create", "alice", "--data-dir", f.data, "--json")), &alice); err != nil {
		t.Fatal(err)
	}
	f.nextOwner = "alice"
	opsArgs := []string{"--ssh-check-wait", "4s"}
	client, srvHost := f.hosts[1], f.hosts[2]
	os.Chmod(bins, 0o755)                            // the sftp server is the agent's binary, run as the user: installed where users can run it
	home := localUser(t, srvHost.ns, "deploy", 4242) // before the agent starts: `ip netns exec` mounts it then
	ops := f.enrollWith(client, 1, nil, "ops")
	srv := f.enrollWith(srvHost, 2, opsArgs, "srv")
	f.enroll(f.hosts[3], 3, "other")

	setPolicy := func(record bool) {
		t.Helper()
		text := `{
  "tags": ["tag:ops", "tag:srv", "tag:other"],
  // other reaches port 22 of srv, but no ssh rule names it.
  "rules": [{"src": ["tag:other"], "dst": ["tag:srv"], "proto": "tcp", "ports": ["22"]}],
  "ssh": [
    {"action": "accept", "src": ["tag:ops"], "dst": ["tag:srv"], "users": ["deploy"]},
    {"action": "check", "src": ["tag:ops"], "dst": ["tag:srv"], "users": ["root"], "checkPeriod": "1h"},
    {"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:srv"], "users": ["deploy", "ghost"]},
  ],
` + fmt.Sprintf(`  "recordSessions": %v,`, record) + "\n}\n"
		pol := filepath.Join(t.TempDir(), "ssh.hujson")
		os.WriteFile(pol, []byte(text), 0o644)
		run(t, f.server, "policy", "set", pol, "--data-dir", f.data)
	}
	setPolicy(false)
	name := srv.name() + ".fleet.internal"
	sshOut := func(h host, args ...string) (string, error) {
		c := h.cmd("ssh", sshArgs(args...)...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := c.CombinedOutput()
		return string(out), err
	}
	took := eventually(t, 20*time.Second, "a login over the overlay", func() bool {
		out, err := sshOut(client, "-o", "BatchMode=yes", "deploy@"+name, "true")
		if err != nil {
			t.Logf("not yet: %v %s", err, strings.TrimSpace(out))
		}
		return err == nil
	})
	t.Logf("ssh deploy@%s works %v after the policy was set", name, took.Round(time.Millisecond))
	st := srvHost.run(t, bins+"/wirefleet-agent", "status", "--state-dir", srv.dir)
	if !regexp.MustCompile(`ssh:\s+listening on .*` + regexp.QuoteMeta(srv.ipv4()+":22")).MatchString(st) {
		t.Errorf("status:\n%s", st)
	}

	t.Run("a command as the allowed user", func(t *testing.T) {
		out, err := sshOut(client, "-o", "BatchMode=yes", "deploy@"+name, "id -un; echo $HOME; pwd; echo $SSH_CONNECTION")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || lines[0] != "deploy" || lines[1] != home || lines[2] != home ||
			!strings.HasPrefix(lines[3], ops.ipv4()+" ") && !strings.HasPrefix(lines[3], ops.ipv6()+" ") {
			t.Errorf("got %q", lines)
		}
		if out, err := sshOut(client, "-o", "BatchMode=yes", "deploy@"+name, "exit 7"); err == nil || !strings.Contains(err.Error(), "exit status 7") {
			t.Errorf("exit status: %v %s", err, out)
		}
		// The agent's convenience: the bare name, host keys kept in its
		// state directory, the command's exit status passed on.
		c := client.cmd(bins+"/wirefleet-agent", "ssh", "--state-dir", ops.dir, "deploy@"+srv.name(), "echo via-agent; exit 4")
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		o, err := c.CombinedOutput()
		if out := string(o); !strings.Contains(out, "via-agent") || err == nil || !strings.Contains(err.Error(), "exit status 4") {
			t.Errorf("wirefleet-agent ssh: %v\n%s", err, out)
		}
		if b, _ := os.ReadFile(filepath.Join(ops.dir, "ssh_known_hosts")); !strings.Contains(string(b), "ssh-ed25519") {
			t.Errorf("known hosts: %q", b)
		}
	})
	t.Run("a shell on a terminal", func(t *testing.T) {
		c := client.cmd("ssh", sshArgs("-tt", "-o", "BatchMode=yes", "deploy@"+name)...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		c.Stdin = strings.NewReader("echo tty-$(tty | cut -c1-8) $((6*7)); exit\n")
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "tty-/dev/pts 42") {
			t.Errorf("%v\n%s", err, out)
		}
	})
	t.Run("scp and sftp both ways", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "up.bin")
		data := make([]byte, 3<<20)
		rand.Read(data)
		os.WriteFile(src, data, 0o644)
		scp := func(args ...string) {
			t.Helper()
			c := client.cmd("scp", append(sshArgs("-o", "BatchMode=yes"), args...)...)
			c.Env = append(os.Environ(), "HOME="+t.TempDir())
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("scp %v: %v\n%s", args, err, out)
			}
		}
		scp(src, "deploy@"+name+":up.bin")
		got, err := os.ReadFile(filepath.Join(home, "up.bin"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the uploaded file differs (%d bytes, %v)", len(got), err)
		}
		if uid := strings.TrimSpace(run(t, "stat", "-c", "%u", filepath.Join(home, "up.bin"))); uid != "4242" {
			t.Errorf("the uploaded file belongs to uid %s, not the user's", uid)
		}
		back := filepath.Join(dir, "down.bin")
		scp("deploy@"+name+":up.bin", back)
		if got, _ := os.ReadFile(back); sha256.Sum256(got) != sha256.Sum256(data) {
			t.Error("the downloaded file differs")
		}
		batch := filepath.Join(dir, "batch")
		os.WriteFile(batch, []byte("put "+src+" via-sftp.bin\nls -l\nrm up.bin\n"), 0o644)
		c := client.cmd("sftp", append(sshArgs("-o", "BatchMode=yes", "-b", batch), "deploy@"+name)...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := c.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "via-sftp.bin") {
			t.Errorf("sftp: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(home, "up.bin")); !os.IsNotExist(err) {
			t.Errorf("sftp rm: %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		key := filepath.Join(t.TempDir(), "id_ed25519")
		run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
		for _, tc := range []struct {
			what string
			h    host
			args []string
		}{
			{"a user no rule names", client, []string{"-o", "BatchMode=yes", "alice@" + name, "true"}},
			{"a machine no ssh rule names", f.hosts[3], []string{"-o", "BatchMode=yes", "deploy@" + srv.ipv4(), "true"}},
			// "none" is the only way in: a user no rule admits gets nowhere
			// with a password or a key either.
			{"a password", client, []string{"-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "alice@" + name, "true"}},
			{"a public key", client, []string{"-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey", "-i", key, "alice@" + name, "true"}},
		} {
			out, err := sshOut(tc.h, tc.args...)
			if err == nil || !strings.Contains(out, "Permission denied") {
				t.Errorf("%s: %v\n%s", tc.what, err, out)
			}
		}
		// The server offers no password and no public key.
		out, _ := sshOut(client, "-v", "-o", "BatchMode=yes", "alice@"+name, "true")
		m := regexp.MustCompile(`Authentications that can continue: (\S+)`).FindStringSubmatch(out)
		if m == nil || m[1] != "keyboard-interactive" {
			t.Errorf("methods offered: %q", m)
		}
	})
	t.Run("check: refused until the owner confirms", func(t *testing.T) {
		// LogLevel INFO (ssh's default): ssh shows the server's message.
		out, err := sshOut(client, "-o", "LogLevel=INFO", "-o", "PreferredAuthentications=keyboard-interactive", "root@"+name, "true")
		if err == nil || !strings.Contains(out, "/ssh/check/sc_") {
			t.Fatalf("without a confirmation: %v\n%s", err, out)
		}
		c := client.cmd("ssh", sshArgs("-o", "LogLevel=INFO", "-o", "PreferredAuthentications=keyboard-interactive", "root@"+name, "id -u")...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		stderr, _ := c.StderrPipe()
		var stdout bytes.Buffer
		c.Stdout = &stdout
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		id := ""
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`/ssh/check/(sc_[0-9a-f]+)`).FindStringSubmatch(sc.Text()); m != nil {
				id = m[1]
				break
			}
		}
		go io.Copy(io.Discard, stderr)
		if id == "" {
			c.Process.Kill()
			t.Fatal("no check link")
		}
		// Someone else cannot confirm it, alice can.
		if out, err := f.hosts[0].cmd(f.server, "ssh", "confirm", id, "--data-dir", f.data).CombinedOutput(); err == nil {
			t.Errorf("the local operator confirmed alice's check:\n%s", out)
		}
		f.hosts[0].run(t, f.server, "ssh", "confirm", id, "--server", f.serverURL, "--api-key", alice.APIKey, "--pin", f.pin)
		if err := c.Wait(); err != nil || strings.TrimSpace(stdout.String()) != "0" {
			t.Fatalf("after confirming: %v %q", err, stdout.String())
		}
		// Within the period, no question asked.
		if out, err := sshOut(client, "-o", "BatchMode=yes", "root@"+name, "true"); err != nil {
			t.Errorf("within the check period: %v\n%s", err, out)
		}
	})
	t.Run("recorded sessions replay the bytes the client saw", func(t *testing.T) {
		setPolicy(true)
		time.Sleep(time.Second) // the map reaches the agent
		c := client.cmd("ssh", sshArgs("-tt", "-o", "BatchMode=yes", "deploy@"+name)...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		c.Stdin = strings.NewReader("printf 'recorded: %s\\n' \"$((7*6))\" 'héllo wörld'; exit 3\n")
		var stderr bytes.Buffer
		c.Stderr = &stderr
		out, err := c.Output()
		if err == nil || !strings.Contains(string(out), "recorded: héllo wörld") {
			t.Fatalf("%v\n%s%s", err, out, stderr.String())
		}
		var list wire.SSHSessionList
		json.Unmarshal([]byte(run(t, f.server, "ssh", "sessions", "--data-dir", f.data, "--json")), &list)
		if len(list.Sessions) == 0 || !list.Sessions[0].Recorded || list.Sessions[0].User != "deploy" || list.Sessions[0].ExitStatus == nil || *list.Sessions[0].ExitStatus != 3 {
			t.Fatalf("sessions: %+v", list.Sessions)
		}
		s := list.Sessions[0]
		if s.SrcName != ops.name() || s.Owner != "alice" || s.Kind != "shell" {
			t.Errorf("session: %+v", s)
		}
		cast := run(t, f.server, "ssh", "recording", s.ID, "--data-dir", f.data)
		lines := strings.Split(strings.TrimSpace(cast), "\n")
		var h struct{ Version, Width, Height int }
		if err := json.Unmarshal([]byte(lines[0]), &h); err != nil || h.Version != 2 {
			t.Fatalf("header %q: %v", lines[0], err)
		}
		var replay strings.Builder
		for _, l := range lines[1:] {
			var ev []any
			if err := json.Unmarshal([]byte(l), &ev); err != nil || len(ev) != 3 {
				t.Fatalf("event %q: %v", l, err)
			}
			if ev[1] == "o" {
				replay.WriteString(ev[2].(string))
			}
		}
		if replay.String() != string(out) {
			t.Errorf("the recording does not replay what the client saw:\nclient: %q\nreplay: %q", out, replay.String())
		}
		// File transfer cannot be recorded: refused while recording is on.
		c = client.cmd("sftp", append(sshArgs("-o", "BatchMode=yes", "-b", "-"), "deploy@"+name)...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		c.Stdin = strings.NewReader("ls\n")
		if out, err := c.CombinedOutput(); err == nil {
			t.Errorf("sftp under recordSessions: %s", out)
		}
		audit := run(t, f.server, "audit", "--data-dir", f.data, "--action", "ssh.", "--json")
		for _, want := range []string{`"ssh.session.start"`, `"ssh.session.end"`, `"ssh.login.deny"`, `"ssh.check.confirm"`} {
			if !strings.Contains(audit, want) {
				t.Errorf("audit lacks %s", want)
			}
		}
		setPolicy(false)
	})
	t.Run("the console's terminal", func(t *testing.T) {
		pw := regexp.MustCompile(`admin password: (\S+)`).FindStringSubmatch(f.srv.output())
		if pw == nil {
			t.Fatal("no admin password in the server's output")
		}
		exe, _ := os.Executable()
		browse := func(login, command string) string {
			c := f.hosts[0].cmd(exe)
			c.Env = append(os.Environ(), "WF_E2E_CONSOLE="+strings.Join([]string{f.serverURL, "admin", pw[1], srv.name(), login, command}, "|"))
			out, err := c.CombinedOutput()
			if err != nil {
				return fmt.Sprintf("%s\n(the helper: %v)", out, err)
			}
			return string(out)
		}
		t0 := time.Now()
		out := browse("deploy", `echo console-$((40+2)) $(id -un); echo END-OF""-TEST`) // the echo of the typed line does not end it
		if !strings.Contains(out, "console-42 deploy") {
			t.Fatalf("the terminal showed:\n%s", out)
		}
		t.Logf("console terminal: a command's output %v after the page asked", time.Since(t0).Round(time.Millisecond))
		if out := browse("root", "id"); !strings.Contains(out, "no ssh rule lets admins log in") {
			t.Errorf("root from the console:\n%s", out)
		}
		// The machine's own refusal (no such user) reaches the terminal.
		if out := browse("ghost", "id"); !strings.Contains(out, `there is no user "ghost" on this machine`) {
			t.Errorf("a user the machine lacks, from the console:\n%s", out)
		}
		var list wire.SSHSessionList
		json.Unmarshal([]byte(run(t, f.server, "ssh", "sessions", "--data-dir", f.data, "--json")), &list)
		found := false
		for _, s := range list.Sessions {
			found = found || s.Console == "admin" && s.User == "deploy" && s.Src == ""
		}
		if !found {
			t.Errorf("no console session among %+v", list.Sessions)
		}
	})
	t.Run("revoking the source ends its session", func(t *testing.T) {
		c := client.cmd("ssh", sshArgs("-o", "BatchMode=yes", "deploy@"+name, "echo started; exec sleep 300")...)
		c.Env = append(os.Environ(), "HOME="+t.TempDir())
		p := startProc(t, c)
		eventually(t, 10*time.Second, "the session", func() bool { return strings.Contains(p.output(), "started") })
		running := func() bool { return exec.Command("pgrep", "-u", "4242", "-f", "sleep 300").Run() == nil }
		if !running() {
			t.Fatal("no remote process")
		}
		run(t, f.server, "machines", "revoke", ops.name(), "--data-dir", f.data)
		t0 := time.Now()
		eventually(t, 10*time.Second, "the session's process gone", func() bool { return !running() })
		t.Logf("revocation: the session's process ended %v after `machines revoke` returned", time.Since(t0).Round(time.Millisecond))
		var list wire.SSHSessionList
		eventually(t, 10*time.Second, "the session's end reported", func() bool {
			json.Unmarshal([]byte(run(t, f.server, "ssh", "sessions", "--data-dir", f.data, "--json")), &list)
			return len(list.Sessions) > 0 && list.Sessions[0].End != nil
		})
		if s := list.Sessions[0]; !strings.Contains(s.Reason, "revoked") {
			t.Errorf("end: %+v", s)
		}
	})
}
