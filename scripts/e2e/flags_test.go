package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFlagsEndToEnd: a flag changed on the server reaches the agent's local
// OFREP endpoint within 2 s; with the server stopped the last value is
// still served and marked stale; after a reboot with no server the cached
// value is served; a corrupt cache is survived and replaced.
func TestFlagsEndToEnd(t *testing.T) {
	f := newFleet(t, 2)
	a := f.enroll(f.hosts[1], 1)
	get := func() (string, map[string]any, bool) {
		out, err := a.h.cmd(bins+"/wirefleet-agent", "flags", "get", "greeting", "--json", "--state-dir", a.dir).Output()
		if err != nil {
			return "", nil, false
		}
		var ev struct {
			Value    json.RawMessage
			Reason   string
			Metadata map[string]any
		}
		if json.Unmarshal(out, &ev) != nil {
			return "", nil, false
		}
		ev.Metadata["reason"] = ev.Reason
		return strings.Trim(string(ev.Value), `"`), ev.Metadata, true
	}
	set := func(value string) time.Time {
		run(t, f.server, "flags", "set", "greeting", "--type", "string", "--default", value, "--data-dir", f.data)
		return time.Now()
	}

	set("hello")
	eventually(t, 5*time.Second, "first flag value", func() bool { v, _, _ := get(); return v == "hello" })
	t0 := set("bonjour")
	d := eventually(t, 2*time.Second, "changed flag reaches the local endpoint within 2 s", func() bool { v, _, _ := get(); return v == "bonjour" })
	t.Logf("flag change reached the agent's OFREP endpoint in %v (including one CLI round trip per check)", time.Since(t0).Round(time.Millisecond))
	_ = d

	// Server stopped: the value is still served, and says it is stale.
	f.srv.cmd.Process.Signal(syscall.SIGTERM)
	f.srv.cmd.Wait()
	eventually(t, 10*time.Second, "value served as STALE while the server is down", func() bool {
		v, md, ok := get()
		return ok && v == "bonjour" && md["reason"] == "STALE" && md["stale"] == true
	})

	// Reboot with no server: the cached value is served, marked CACHED.
	restart := func() {
		a.proc.cmd.Process.Signal(syscall.SIGTERM)
		a.proc.cmd.Wait()
		a.proc = startProc(t, a.h.cmd(bins+"/wirefleet-agent", "run", "--state-dir", a.dir, "--interface", a.iface, "--health-interval", "1s"))
	}
	restart()
	eventually(t, 10*time.Second, "cached value after a reboot without server", func() bool {
		v, md, ok := get()
		return ok && v == "bonjour" && md["reason"] == "CACHED"
	})

	// A corrupt cache: the agent starts, says so, serves nothing it cannot
	// trust, and replaces the cache once the server is back.
	cache := filepath.Join(a.dir, "flags.json")
	a.proc.cmd.Process.Signal(syscall.SIGTERM)
	a.proc.cmd.Wait()
	os.WriteFile(cache, []byte(`{"saved_at":"2026-01-01T00:00:00Z","sha256":"00","set":{"flags":[{"key":"greeting","default":"evil"`), 0o600)
	a.proc = startProc(t, a.h.cmd(bins+"/wirefleet-agent", "run", "--state-dir", a.dir, "--interface", a.iface, "--health-interval", "1s"))
	eventually(t, 10*time.Second, "agent reports the corrupt cache", func() bool { return strings.Contains(a.proc.output(), "flag cache unusable") })
	if v, _, ok := get(); ok && v == "evil" {
		t.Fatal("a corrupt cache was trusted")
	}
	f.srv = f.startServer()
	eventually(t, 30*time.Second, "flags recovered from the server", func() bool {
		v, md, ok := get()
		return ok && v == "bonjour" && md["reason"] == "STATIC"
	})
	b, _ := os.ReadFile(cache)
	if !strings.Contains(string(b), `"sha256"`) || strings.Contains(string(b), "evil") {
		t.Fatalf("cache not replaced: %s", b)
	}
}
