package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The newcomer's path: the server started as `make run` starts it (every
// address, no --external-url) on a host whose name resolves to loopback
// (Debian's /etc/hosts: 127.0.1.1), and the enrollment line it prints,
// run as printed on another machine, enrolls it. Before, the line named
// the host name and other machines got "connection refused".
func TestPrintedOneLinerWorksWhenTheHostNameIsLoopback(t *testing.T) {
	requireNetns(t)
	hosts := network(t, 2)
	srv, other := hosts[0], hosts[1]
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hostsFile := "127.0.0.1\tlocalhost\n127.0.1.1\t" + name + "\n"
	if err := os.WriteFile(filepath.Join("/etc/netns", srv.ns, "hosts"), []byte(hostsFile), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	p := startProc(t, srv.cmd(bins+"/wirefleet-server", "serve", "--data-dir", data, "--listen", ":8443", "--bootstrap-token", "--stun-listen", "off"))
	eventually(t, 20*time.Second, "the enrollment line", func() bool { return strings.Contains(p.output(), "Agent binary:") })
	out := p.output()
	if !strings.Contains(out, "resolves only to 127.0.1.1") || !strings.Contains(out, "--external-url") {
		t.Errorf("the banner does not say why it chose the address:\n%s", out)
	}
	m := regexp.MustCompile(`Agent binary:\n\s+(wirefleet-agent enroll [^\n]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no agent line in:\n%s", out)
	}
	line := m[1]
	if !strings.Contains(line, "https://"+srv.addr+":8443") {
		t.Fatalf("the printed line does not name an address other machines reach (%s): %s", srv.addr, line)
	}
	dir := t.TempDir()
	args := append(strings.Fields(line)[1:], "--state-dir", dir)
	res := other.run(t, bins+"/wirefleet-agent", args...)
	if !strings.Contains(res, "enrolled") {
		t.Fatalf("enrolling with the printed line:\n%s", res)
	}
	// The next steps it prints reach this agent (its --state-dir).
	if !strings.Contains(res, "wirefleet-agent install --state-dir "+dir) || !strings.Contains(res, "wirefleet-agent run --state-dir "+dir) {
		t.Errorf("the next steps after enroll omit --state-dir:\n%s", res)
	}
	if st := other.run(t, bins+"/wirefleet-agent", "status", "--state-dir", t.TempDir()); !strings.Contains(st, "give it here too") {
		t.Errorf("status of an empty state dir gives no hint:\n%s", st)
	}
}
