package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestFailoverToAnotherReplica: two replicas on one PostgreSQL behind one
// address, as behind an L4 load balancer (nftables DNAT in the agent's
// namespace: new connections to the address go to the live replica,
// established ones stay with the replica they were made to). The replica
// serving the agent vanishes without closing anything (its link goes
// down), the balancer sends new connections to the other one, and an
// admin revokes the machine there meanwhile. The agent must notice within seconds, reconnect to the other
// replica and apply the revocation — before, its requests hung on the
// dead connection for ~15.8 minutes. Runs with WIREFLEET_TEST_POSTGRES
// (make test starts one).
func TestFailoverToAnotherReplica(t *testing.T) {
	dsn := os.Getenv("WIREFLEET_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("needs PostgreSQL: WIREFLEET_TEST_POSTGRES (make test starts one with scripts/postgres.sh)")
	}
	requireNetns(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft for the load balancer (.ci/run installs nftables)")
	}
	db := freshDatabase(t, dsn)
	hosts := network(t, 3)
	repA, repB, ah := hosts[0], hosts[1], hosts[2]
	const vip = "10.77.0.100"
	balance := func(to host) {
		ah.cmd("nft", "delete", "table", "ip", "lb").Run()
		ah.nft(t, `table ip lb {
	chain out { type nat hook output priority -100; ip daddr `+vip+` tcp dport 8443 dnat to `+to.addr+`:8443; }
}`)
	}
	balance(repA)
	url := "https://" + vip + ":8443"
	dataA, dataB := t.TempDir(), t.TempDir()
	server := bins + "/wirefleet-server"
	// A keeps its secrets plain: B is handed its key file as an operator's
	// --tls-key (replicas behind one name share an operator's certificate).
	a := startProc(t, repA.cmd(server, "serve", "--data-dir", dataA, "--db", db, "--listen", ":8443", "--external-url", url, "--stun-listen", "off", "--secrets", "plain"))
	eventually(t, 20*time.Second, "replica A listening", func() bool { return strings.Contains(a.output(), "listening") })
	pin := regexp.MustCompile(`pin (sha256/\S+)`).FindStringSubmatch(a.output())
	if pin == nil {
		t.Fatalf("no pin:\n%s", a.output())
	}
	// B serves the same certificate, as replicas behind one name do.
	b := startProc(t, repB.cmd(server, "serve", "--data-dir", dataB, "--db", db, "--listen", ":8443", "--external-url", url, "--stun-listen", "off",
		"--tls-cert", filepath.Join(dataA, "tls.crt"), "--tls-key", filepath.Join(dataA, "tls.key")))
	eventually(t, 20*time.Second, "replica B listening", func() bool { return strings.Contains(b.output(), "listening") })

	var tok struct {
		Secret string `json:"secret"`
	}
	json.Unmarshal([]byte(run(t, server, "tokens", "create", "--data-dir", dataA, "--json")), &tok)
	ag := &agent{h: ah, dir: t.TempDir(), iface: "wf1"}
	ah.run(t, bins+"/wirefleet-agent", "enroll", "--server", url, "--token", tok.Secret, "--pin", pin[1], "--state-dir", ag.dir, "--name", "failover-agent")
	ag.start(t)
	eventually(t, 15*time.Second, "tunnel up", func() bool { return ah.cmd("ip", "link", "show", "wf1").Run() == nil })
	eventually(t, 15*time.Second, "the agent polls replica A", func() bool { return connected(dataA) == 1 })
	time.Sleep(2 * time.Second)

	// Replica A vanishes: its link goes down (nothing is closed, no RST
	// ever comes); the balancer sends new connections to B.
	repA.run(t, "ip", "link", "set", "eth0", "down")
	balance(repB)
	run(t, server, "machines", "revoke", "failover-agent", "--data-dir", dataB)

	d := eventually(t, 60*time.Second, "the revocation, made on B, reaches the agent", func() bool {
		return ah.cmd("ip", "link", "show", "wf1").Run() != nil
	})
	t.Logf("replica A vanished; the agent reached B and applied the revocation %v later", d.Round(100*time.Millisecond))
}

// freshDatabase creates an empty database on the PostgreSQL of dsn and
// returns its URL.
func freshDatabase(t testing.TB, dsn string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("wf_failover_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	return strings.Replace(dsn, "/postgres?", "/"+name+"?", 1)
}
