package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store/storetest"
)

// TestTwoReplicasOnPostgres runs two wirefleet-server processes on one
// PostgreSQL database: a revocation made on replica B answers the revoked
// agent's long-poll held on replica A within a second, a single-use token
// stays single-use across replicas, and both start on one migrated schema.
func TestTwoReplicasOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	db := storetest.FreshPostgres(t, dsn)
	dataA, dataB := t.TempDir(), t.TempDir()
	var a, b *proc
	var wg sync.WaitGroup
	wg.Add(2) // start together: migrations must run once
	go func() {
		defer wg.Done()
		a = start(t, nil, "--data-dir", dataA, "--db", db, "--listen", freePort(t), "--insecure-http")
	}()
	go func() {
		defer wg.Done()
		b = start(t, nil, "--data-dir", dataB, "--db", db, "--listen", freePort(t), "--insecure-http")
	}()
	wg.Wait()
	if strings.Contains(a.output(), "First start") == strings.Contains(b.output(), "First start") {
		t.Fatalf("exactly one replica must create the first admin:\nA:\n%s\nB:\n%s", a.output(), b.output())
	}

	var tr wire.CreateTokenResponse
	json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", dataA, "--json")), &tr)
	ctx := context.Background()
	enroll := func(url, host string) (wire.EnrollResponse, error) {
		c, _ := client.New(url)
		return c.Enroll(ctx, wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "1"})
	}
	// The single-use token, raced on both replicas.
	type res struct {
		en  wire.EnrollResponse
		err error
	}
	results := make(chan res, 10)
	for i := range 10 {
		url := a.url
		if i%2 == 1 {
			url = b.url
		}
		go func() { en, err := enroll(url, "racer"); results <- res{en, err} }()
	}
	var winner wire.EnrollResponse
	ok := 0
	for range 10 {
		r := <-results
		if r.err == nil {
			ok++
			winner = r.en
		} else if wire.ErrorCode(r.err) != wire.CodeTokenExhausted {
			t.Fatalf("unexpected error: %v", r.err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d enrollments with one single-use token across two replicas, want 1", ok)
	}

	// The agent long-polls replica A; the admin revokes on replica B.
	agent, _ := client.New(a.url, client.WithToken(winner.Credential))
	done := make(chan error, 1)
	go func() { _, err := agent.Netmap(ctx, winner.Netmap.Version, 60*time.Second); done <- err }()
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	mustCLI(t, "machines", "revoke", winner.Name, "--data-dir", dataB)
	select {
	case err := <-done:
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != wire.CodeMachineRevoked {
			t.Fatalf("held poll on A answered %v, want machine_revoked", err)
		}
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("revocation on B reached A's poll after %v, want < 1 s", d)
		}
		t.Logf("revocation on replica B reached a poll held on replica A in %v", time.Since(t0).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("revocation on replica B never reached the poll on replica A")
	}
}
