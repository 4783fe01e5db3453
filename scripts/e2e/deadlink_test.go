package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDeadLinkIsNoticedInSeconds drops every packet between an agent and
// the server in the agent's namespace (nftables: no FIN, no RST, as when
// a link goes down or a replica behind a load balancer dies). The agent
// must notice within seconds — its map poll fails and status says so,
// its flags turn stale — not when the kernel's TCP retries give up
// (~15.8 minutes before). A revocation made during the outage reaches it
// once the link is back.
func TestDeadLinkIsNoticedInSeconds(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (apt-get install nftables; .ci/run installs it)")
	}
	f := newFleet(t, 2)
	a := f.enroll(f.hosts[1], 1)
	type st struct {
		LastError string `json:"last_error"`
		Revoked   bool   `json:"revoked"`
		Flags     struct {
			Stale bool `json:"stale"`
		} `json:"flags"`
	}
	status := func() st {
		var s st
		out, err := a.h.cmd(bins+"/wirefleet-agent", "status", "--json", "--state-dir", a.dir).Output()
		if err == nil {
			json.Unmarshal(out, &s)
		}
		return s
	}
	eventually(t, 20*time.Second, "flags fresh and no error", func() bool { s := status(); return !s.Flags.Stale && s.LastError == "" })
	time.Sleep(2 * time.Second) // the polls are held now

	srv := f.hosts[0].addr
	a.h.nft(t, `table inet deadlink {
	chain out { type filter hook output priority 0; ip daddr `+srv+` drop; }
	chain in { type filter hook input priority 0; ip saddr `+srv+` drop; }
}`)
	cut := time.Now()
	d := eventually(t, 45*time.Second, "the agent notices the dead link", func() bool {
		s := status()
		return s.LastError != "" && s.Flags.Stale
	})
	t.Logf("dead link noticed after %v (map poll failed, flags stale): %s", d.Round(100*time.Millisecond), status().LastError)

	// Revoked while unreachable; the revocation arrives after the link.
	run(t, f.server, "machines", "revoke", a.name(), "--data-dir", f.data)
	time.Sleep(2 * time.Second)
	if s := status(); s.Revoked {
		t.Fatal("the agent learned of the revocation through a dead link")
	}
	a.h.run(t, "nft", "delete", "table", "inet", "deadlink")
	back := time.Now()
	eventually(t, 60*time.Second, "the revocation reaches the agent after the link is back", func() bool {
		return a.h.cmd("ip", "link", "show", a.iface).Run() != nil
	})
	t.Logf("revocation applied %v after the link came back (outage %v)", time.Since(back).Round(100*time.Millisecond), back.Sub(cut).Round(time.Second))
}

// TestInterfaceNameTakenInAnotherNamespace: two agents given the same
// interface name in different network namespaces share the UAPI socket
// directory; the second must say plainly that the name is taken and how
// to fix it (in status and on the server), keep running and retrying,
// and leave the first agent's device alone.
func TestInterfaceNameTakenInAnotherNamespace(t *testing.T) {
	f := newFleet(t, 3)
	a := f.enroll(f.hosts[1], 1)
	b := &agent{h: f.hosts[2], dir: t.TempDir(), iface: a.iface}
	b.h.run(t, bins+"/wirefleet-agent", "enroll", "--server", f.serverURL, "--token", f.token(), "--pin", f.pin, "--state-dir", b.dir)
	b.start(t)
	var tunErr string
	eventually(t, 20*time.Second, "the second agent reports the name as taken", func() bool {
		out, _ := b.h.cmd(bins+"/wirefleet-agent", "status", "--json", "--state-dir", b.dir).Output()
		var s struct {
			Running     bool   `json:"running"`
			TunnelError string `json:"tunnel_error"`
		}
		json.Unmarshal(out, &s)
		tunErr = s.TunnelError
		return s.Running && strings.Contains(s.TunnelError, a.iface+" is taken") && strings.Contains(s.TunnelError, "--interface")
	})
	t.Logf("second agent: %s", tunErr)
	if b.proc.cmd.ProcessState != nil {
		t.Fatal("the second agent exited")
	}
	// The first agent's tunnel is untouched.
	if a.h.cmd("ip", "link", "show", a.iface).Run() != nil {
		t.Fatal("the first agent's interface is gone")
	}
}
