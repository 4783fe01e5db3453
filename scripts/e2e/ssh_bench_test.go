package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkSSH records the SSH figures of docs/BENCHMARKS.md in network
// namespaces, side by side with Debian's OpenSSH server on the same
// machine and overlay path (port 2222, public-key login): the time of
// `ssh USER@NAME true` on an established tunnel, scp's throughput both
// ways, and what recording a session costs a command that prints 64 MiB.
//
//	go test -run '^$' -bench SSH -benchtime 1x ./scripts/e2e/
func BenchmarkSSH(b *testing.B) {
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		b.Skip("needs OpenSSH's server to compare with (apt-get install openssh-server)")
	}
	f := newFleet(b, 3)
	client, srvHost := f.hosts[1], f.hosts[2]
	home := localUser(b, srvHost.ns, "deploy", 4242)
	os.Chmod(bins, 0o755)
	ops := f.enroll(client, 1, "ops")
	srv := f.enroll(srvHost, 2, "srv")
	_ = ops
	setPol := func(record bool) {
		pol := filepath.Join(b.TempDir(), "p.hujson")
		os.WriteFile(pol, []byte(fmt.Sprintf(`{"tags": ["tag:ops", "tag:srv"],
  "rules": [{"src": ["tag:ops"], "dst": ["tag:srv"], "proto": "tcp", "ports": ["2222"]}],
  "ssh": [{"action": "accept", "src": ["tag:ops"], "dst": ["tag:srv"], "users": ["deploy"]}],
  "recordSessions": %v}`, record)), 0o644)
		run(b, f.server, "policy", "set", pol, "--data-dir", f.data)
		time.Sleep(500 * time.Millisecond)
	}
	setPol(false)

	// OpenSSH beside it: a key for deploy, sshd on the overlay address.
	dir := b.TempDir()
	key := filepath.Join(dir, "id")
	run(b, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
	run(b, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host"))
	pub, _ := os.ReadFile(key + ".pub")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "authorized_keys"), pub, 0o600)
	exec.Command("chown", "-R", "4242:4242", filepath.Join(home, ".ssh")).Run()
	os.MkdirAll("/run/sshd", 0o755)
	cfg := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Port 2222\nListenAddress %s\nHostKey %s\nPidFile none\nUsePAM no\nStrictModes no\nSubsystem sftp /usr/lib/openssh/sftp-server\nPasswordAuthentication no\n",
		srv.ipv4(), filepath.Join(dir, "host"))), 0o600)
	sshd := startProc(b, srvHost.cmd("/usr/sbin/sshd", "-D", "-e", "-f", cfg))
	name := srv.name() + ".fleet.internal"
	ours := []string{"-o", "BatchMode=yes", "deploy@" + name}
	theirs := []string{"-o", "BatchMode=yes", "-i", key, "-p", "2222", "deploy@" + srv.ipv4()}
	ssh := func(args []string, command string) error {
		c := client.cmd("ssh", sshArgs(append(slices.Clone(args), command)...)...)
		c.Env = append(os.Environ(), "HOME="+dir)
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	eventually(b, 20*time.Second, "both servers answer", func() bool { return ssh(ours, "true") == nil && ssh(theirs, "true") == nil })
	_ = sshd

	median := func(n int, fn func() error) time.Duration {
		var ds []time.Duration
		for range n {
			t0 := time.Now()
			if err := fn(); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	for _, s := range []struct {
		name string
		args []string
	}{{"wirefleet", ours}, {"openssh", theirs}} {
		d := median(21, func() error { return ssh(s.args, "true") })
		b.ReportMetric(float64(d.Microseconds())/1000, s.name+"-login-ms")
		b.Logf("%s: ssh … true, median of 21: %v", s.name, d.Round(100*time.Microsecond))
	}

	// scp both ways, 256 MiB.
	src := filepath.Join(dir, "big")
	run(b, "dd", "if=/dev/urandom", "of="+src, "bs=1M", "count=256", "status=none")
	scp := func(args ...string) error {
		c := client.cmd("scp", append(sshArgs("-o", "BatchMode=yes"), args...)...)
		c.Env = append(os.Environ(), "HOME="+dir)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	for _, s := range []struct {
		name string
		up   []string
		down []string
	}{
		{"wirefleet", append(cipher(), src, "deploy@"+name+":big"), append(cipher(), "deploy@"+name+":big", filepath.Join(dir, "back"))},
		{"openssh", []string{"-i", key, "-P", "2222", src, "deploy@" + srv.ipv4() + ":big"}, []string{"-i", key, "-P", "2222", "deploy@" + srv.ipv4() + ":big", filepath.Join(dir, "back")}},
	} {
		up := median(3, func() error { return scp(s.up...) })
		down := median(3, func() error { return scp(s.down...) })
		b.ReportMetric(256/up.Seconds(), s.name+"-scp-up-MiB/s")
		b.ReportMetric(256/down.Seconds(), s.name+"-scp-down-MiB/s")
		b.Logf("%s: scp 256 MiB up %v (%.0f MiB/s), down %v (%.0f MiB/s)", s.name, up.Round(time.Millisecond), 256/up.Seconds(), down.Round(time.Millisecond), 256/down.Seconds())
	}

	// Recording: a command that prints 64 MiB (base64 of zeros), off and on.
	const print = "head -c 50331648 /dev/zero | base64 -w 120"
	for _, record := range []bool{false, true} {
		setPol(record)
		d := median(3, func() error { return ssh(ours, print+" > /dev/null; "+print) })
		b.ReportMetric(d.Seconds(), fmt.Sprintf("print-64MiB-recorded-%v-s", record))
		b.Logf("recordSessions %v: printing 64 MiB took %v", record, d.Round(time.Millisecond))
	}
}

func cipher() []string {
	if c := os.Getenv("WF_SSH_CIPHER"); c != "" {
		return []string{"-c", c}
	}
	return nil
}
