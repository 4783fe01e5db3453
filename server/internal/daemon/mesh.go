package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/wirefleet/wirefleet/server/internal/relay"
	"github.com/wirefleet/wirefleet/server/internal/sealed"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// joinMesh joins the relay to the other replicas' when
// --relay-mesh-key-file is given, and warns when replicas share a
// database without it (their relays are then islands).
func joinMesh(ctx context.Context, o Options, db *store.DB, rel *relay.Server, addr net.Addr, id served, sec *serverSecrets, log *slog.Logger, bg *sync.WaitGroup) error {
	var keys [][]byte
	if o.RelayMeshKeyFile != "" {
		if _, err := readMeshKeys(o.RelayMeshKeyFile); err != nil { // checks the file's mode and lines
			return err
		}
	}
	text, err := sec.fromFlag(sealed.RelayMeshKey, "--relay-mesh-key-file", o.RelayMeshKeyFile, o.PlainFallbackUntil)
	if err != nil {
		return err
	}
	if text != "" {
		src := o.RelayMeshKeyFile
		if src == "" {
			src = "the sealed relay mesh key"
		}
		if keys, err = parseMeshKeys([]byte(text), src); err != nil {
			return err
		}
	}
	if keys == nil {
		if db.IsShared() {
			log.Warn("relay sessions stay on each replica: two machines behind NAT whose sessions are on different replicas cannot reach each other; " +
				"give every replica the same --relay-mesh-key-file")
		}
		return nil
	}
	if !db.IsShared() {
		return errors.New("daemon: --relay-mesh-key-file joins the relays of replicas sharing a PostgreSQL database (--db postgres://…); on SQLite there is one server")
	}
	u, err := replicaURL(o, addr, systemHost)
	if err != nil {
		return err
	}
	cfg := relay.MeshConfig{URL: u, Keys: keys, Dir: db, Pin: func() string {
		if id.keys != nil {
			return id.keys.Pin() // also what an address gets beside ACME names
		}
		return id.certPin
	}}
	bg.Add(1)
	go func() {
		defer bg.Done()
		if err := rel.RunMesh(ctx, cfg); err != nil {
			log.Error("relay: left the mesh", "err", err)
		}
	}()
	return nil
}

// readMeshKeys reads the relay mesh's shared keys: one per line, base64,
// at least 16 bytes each (the first proves this replica; any is accepted
// from another, so a key is rotated by adding the new one as a second
// line everywhere, then swapping, then removing the old). The file must
// be readable by its owner only, like an SSH key.
func readMeshKeys(path string) ([][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("daemon: --relay-mesh-key-file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("daemon: --relay-mesh-key-file %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("daemon: --relay-mesh-key-file: %w", err)
	}
	return parseMeshKeys(b, path)
}

// parseMeshKeys reads the keys, one per line in base64 (path names the
// file in errors).
func parseMeshKeys(b []byte, path string) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) < 16 {
			// The line is a secret: never echo it.
			return nil, fmt.Errorf("daemon: --relay-mesh-key-file %s line %d: want a key of at least 16 bytes in base64 (make one with: head -c 32 /dev/urandom | base64)", path, n)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("daemon: --relay-mesh-key-file " + path + " holds no key (make one with: head -c 32 /dev/urandom | base64)")
	}
	return keys, nil
}

// replicaURL is where the other replicas reach this one directly: --replica-url,
// else the listener's own address when it names one, else this
// machine's first global unicast address (the load balancer's address in
// --external-url would reach any replica, not this one).
func replicaURL(o Options, addr net.Addr, env hostEnv) (string, error) {
	if o.ReplicaURL != "" {
		u, err := url.Parse(o.ReplicaURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("daemon: --replica-url %q: want https://ADDRESS:PORT", o.ReplicaURL)
		}
		return strings.TrimRight(o.ReplicaURL, "/"), nil
	}
	scheme := "https"
	if o.InsecureHTTP {
		scheme = "http"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsUnspecified() {
		ip = netip.Addr{}
		own, _ := env.addrs()
		for _, want4 := range []bool{true, false} {
			for _, a := range own {
				if a = a.Unmap(); !ip.IsValid() && a.Is4() == want4 && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast() {
					ip = a
				}
			}
		}
		if !ip.IsValid() {
			return "", errors.New("daemon: this machine has no address other replicas could reach it at: give --replica-url")
		}
	}
	return scheme + "://" + net.JoinHostPort(ip.String(), port), nil
}
