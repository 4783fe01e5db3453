package update

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/rollout"
)

// releaseServer is a fake server that publishes what a real one would:
// keys.json signed by the root, a signed channel manifest and signed
// per-version manifests. The signatures are real; only the HTTP side is
// small.
type releaseServer struct {
	t      *testing.T
	signer *release.Signer
	root   string
	// keysFile is the keys directory's keys.json (its root.key signs
	// other lists).
	keysFile string
	keys     []byte
	keySig   []byte

	mu       sync.Mutex
	channel  release.Manifest
	versions map[string]release.Manifest
	pausedAt bool // answer 409 (paused) for the channel manifest
	srv      *httptest.Server
}

func newReleaseServer(t *testing.T) *releaseServer {
	dir := testDir(t)
	if err := release.Keygen(dir, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	root, _ := release.RootPublicKey(dir)
	signer, err := release.LoadSigner(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := os.ReadFile(filepath.Join(dir, release.KeySetFile))
	keySig, _ := os.ReadFile(filepath.Join(dir, release.KeySetFile+release.SigSuffix))
	rs := &releaseServer{t: t, signer: signer, root: root, keysFile: filepath.Join(dir, release.KeySetFile), keys: keys, keySig: keySig, versions: map[string]release.Manifest{}}
	rs.srv = httptest.NewServer(http.HandlerFunc(rs.serve))
	t.Cleanup(rs.srv.Close)
	return rs
}

// publish makes m the channel's current release (and keeps it by version).
func (rs *releaseServer) publish(m release.Manifest) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if m.Channel == "" {
		m.Channel = "stable"
	}
	if m.Artifacts == nil {
		m.Artifacts = []release.Artifact{rs.signer.Artifact(runtime.GOOS, runtime.GOARCH, "agent-"+m.Version, []byte("binary "+m.Version))}
	}
	rs.channel = m
	rs.versions[m.Version] = m
}

func (rs *releaseServer) serve(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	signed := func(m release.Manifest, sig bool) {
		body, s, err := rs.signer.Manifest(m)
		if err != nil {
			rs.t.Error(err)
		}
		if sig {
			w.Write(s)
		} else {
			w.Write(body)
		}
	}
	p := r.URL.Path
	switch {
	case p == "/releases/keys.json":
		w.Write(rs.keys)
	case p == "/releases/keys.json.minisig":
		w.Write(rs.keySig)
	case strings.HasPrefix(p, "/releases/channel/stable/manifest.json"):
		if rs.pausedAt {
			w.WriteHeader(http.StatusConflict)
			return
		}
		if rs.channel.Version == "" {
			http.NotFound(w, r)
			return
		}
		signed(rs.channel, strings.HasSuffix(p, ".minisig"))
	case strings.HasPrefix(p, "/releases/channel/stable/versions/"):
		v := strings.TrimPrefix(p, "/releases/channel/stable/versions/")
		isSig := strings.HasSuffix(p, ".minisig")
		v = strings.TrimSuffix(strings.TrimSuffix(v, ".minisig"), "/manifest.json")
		m, ok := rs.versions[v]
		if !ok {
			http.NotFound(w, r)
			return
		}
		signed(m, isSig)
	case strings.HasPrefix(p, "/releases/files/agent-"):
		w.Write([]byte("binary " + strings.TrimPrefix(p, "/releases/files/agent-")))
	default:
		http.NotFound(w, r)
	}
}

// machineIn returns a machine ID whose rollout bucket is below (in=true)
// or at/above (in=false) pct.
func machineIn(t *testing.T, pct float64, in bool) string {
	for i := range 10000 {
		id := "m_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
		if (rollout.Bucket("release:stable", id) < pct) == in {
			return id
		}
	}
	t.Fatalf("no machine ID with bucket %v %v", map[bool]string{true: "<", false: ">="}[in], pct)
	return ""
}

// TestFindDecisions covers what Find offers: the decision logic behind
// anti-rollback, rollout buckets, pause, pins, expiry and earlier failures.
func TestFindDecisions(t *testing.T) {
	now := time.Now().Add(time.Hour) // a fake clock within the keys' validity
	fresh, expired := now.Add(30*24*time.Hour), now.Add(-time.Minute)
	for _, tc := range []struct {
		name      string
		current   string
		channel   release.Manifest
		versions  []release.Manifest // extra versions kept by the server (for pins)
		paused409 bool
		machine   string // default: inside any rollout
		pin       string
		failed    []string
		want      string // offered version; "" = nothing
		wantErr   string
	}{
		{name: "newer release", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 100, Expires: fresh}, want: "1.1.0"},
		{name: "same version", current: "1.1.0", channel: release.Manifest{Version: "1.1.0", Rollout: 100, Expires: fresh}},
		{name: "older release refused (anti-rollback)", current: "2.0.0", channel: release.Manifest{Version: "1.9.9", Rollout: 100, Expires: fresh}},
		{name: "pre-releases compare numerically: beta.3 is older than beta.11", current: "2.0.0-beta.11", channel: release.Manifest{Version: "2.0.0-beta.3", Rollout: 100, Expires: fresh}},
		{name: "beta.12 is newer than beta.11", current: "2.0.0-beta.11", channel: release.Manifest{Version: "2.0.0-beta.12", Rollout: 100, Expires: fresh}, want: "2.0.0-beta.12"},
		{name: "the release is newer than its pre-release", current: "2.0.0-rc.1", channel: release.Manifest{Version: "2.0.0", Rollout: 100, Expires: fresh}, want: "2.0.0"},
		{name: "a dev build takes any release", current: "dev", channel: release.Manifest{Version: "0.1.0", Rollout: 100, Expires: fresh}, want: "0.1.0"},
		{name: "paused in the manifest", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 100, Paused: true, Expires: fresh}},
		{name: "paused by the server (409)", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 100, Expires: fresh}, paused409: true},
		{name: "outside the rollout", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 30, Expires: fresh}, machine: machineIn(t, 30, false)},
		{name: "inside the rollout", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 30, Expires: fresh}, machine: machineIn(t, 30, true), want: "1.1.0"},
		{name: "a 0% rollout reaches nobody", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 0, Expires: fresh}, machine: machineIn(t, 1, true)},
		{name: "failed here before", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 100, Expires: fresh}, failed: []string{"1.1.0"}},
		{name: "expired manifest blocks the update, not the agent", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 100, Expires: expired}, wantErr: "expired"},
		{name: "no build for this OS", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 100, Expires: fresh, Artifacts: []release.Artifact{{OS: "plan9", Arch: "mips"}}}},
		{name: "pin to an older version", current: "2.0.0", channel: release.Manifest{Version: "2.0.0", Rollout: 100, Expires: fresh},
			versions: []release.Manifest{{Version: "1.5.0", Rollout: 100, Expires: fresh}}, pin: "1.5.0", want: "1.5.0"},
		{name: "a pin ignores pause and rollout", current: "1.0.0", channel: release.Manifest{Version: "1.1.0", Rollout: 0, Paused: true, Expires: fresh}, pin: "1.1.0", want: "1.1.0"},
		{name: "pinned to the running version", current: "1.5.0", channel: release.Manifest{Version: "2.0.0", Rollout: 100, Expires: fresh},
			versions: []release.Manifest{{Version: "1.5.0", Expires: fresh}}, pin: "1.5.0"},
		{name: "pinned version failed before", current: "2.0.0", channel: release.Manifest{Version: "2.0.0", Rollout: 100, Expires: fresh},
			versions: []release.Manifest{{Version: "1.5.0", Expires: fresh}}, pin: "1.5.0", failed: []string{"1.5.0"}},
		{name: "pinned manifest expired", current: "2.0.0", channel: release.Manifest{Version: "2.0.0", Rollout: 100, Expires: fresh},
			versions: []release.Manifest{{Version: "1.5.0", Expires: expired}}, pin: "1.5.0", wantErr: "expired"},
		{name: "pin to a version never published", current: "2.0.0", channel: release.Manifest{Version: "2.0.0", Rollout: 100, Expires: fresh}, pin: "1.4.0", wantErr: "404"},
		{name: "malformed pin", current: "2.0.0", channel: release.Manifest{Version: "2.0.0", Rollout: 100, Expires: fresh}, pin: "1.5.0garbage", wantErr: "semantic version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := newReleaseServer(t)
			for _, v := range tc.versions {
				rs.publish(v)
			}
			rs.publish(tc.channel)
			rs.pausedAt = tc.paused409
			machine := tc.machine
			if machine == "" {
				machine = "m_any"
			}
			u := &Updater{Server: rs.srv.URL, HTTP: rs.srv.Client(), Root: rs.root, Channel: "stable", Current: tc.current,
				MachineID: machine, StateDir: testDir(t), Now: func() time.Time { return now }, Pin: func() string { return tc.pin }}
			for _, f := range tc.failed {
				recordFailure(u.StateDir, f)
			}
			o, err := u.Find(context.Background())
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Find = %+v, %v; want an error mentioning %q", o, err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("Find: %v", err)
			case tc.want == "" && o != nil:
				t.Fatalf("offered %s, want nothing", o.Manifest.Version)
			case tc.want != "" && (o == nil || o.Manifest.Version != tc.want):
				t.Fatalf("offered %+v, want %s", o, tc.want)
			}
		})
	}
}

// TestFindRefusesAForeignRoot: manifests signed under another root are
// never offered.
func TestFindRefusesAForeignRoot(t *testing.T) {
	rs, other := newReleaseServer(t), newReleaseServer(t)
	rs.publish(release.Manifest{Version: "9.0.0", Rollout: 100, Expires: time.Now().Add(time.Hour)})
	u := &Updater{Server: rs.srv.URL, HTTP: rs.srv.Client(), Root: other.root, Channel: "stable", Current: "1.0.0", MachineID: "m", StateDir: testDir(t)}
	if o, err := u.Find(context.Background()); err == nil || o != nil {
		t.Fatalf("Find under a foreign root = %+v, %v; want a signature error", o, err)
	}
}

// TestFindRefusesAnOlderKeyList: once the agent accepted a key list, a
// list signed before it — root-signed and unexpired, but bringing back a
// retired signing key — is refused, also after a restart (the mark is in
// the state directory).
func TestFindRefusesAnOlderKeyList(t *testing.T) {
	rs := newReleaseServer(t)
	rs.publish(release.Manifest{Version: "9.0.0", Rollout: 100, Expires: time.Now().Add(time.Hour)})
	dir := testDir(t)
	keysDir := filepath.Dir(rs.keysFile)
	older, olderSig := rs.keys, rs.keySig
	newer := testDir(t)
	time.Sleep(5 * time.Millisecond)
	if err := release.SignKeySet(keysDir, "", []string{filepath.Join(keysDir, release.SigningPubFile)}, 24*time.Hour, newer); err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	rs.keys, _ = os.ReadFile(filepath.Join(newer, release.KeySetFile))
	rs.keySig, _ = os.ReadFile(filepath.Join(newer, release.KeySetFile+release.SigSuffix))
	rs.mu.Unlock()
	u := &Updater{Server: rs.srv.URL, HTTP: rs.srv.Client(), Root: rs.root, Channel: "stable", Current: "1.0.0", MachineID: "m", StateDir: dir}
	if o, err := u.Find(context.Background()); err != nil || o == nil {
		t.Fatalf("Find with the newer list = %+v, %v", o, err)
	}
	rs.mu.Lock()
	rs.keys, rs.keySig = older, olderSig
	rs.mu.Unlock()
	u2 := &Updater{Server: rs.srv.URL, HTTP: rs.srv.Client(), Root: rs.root, Channel: "stable", Current: "1.0.0", MachineID: "m", StateDir: dir}
	if o, err := u2.Find(context.Background()); !errors.Is(err, release.ErrSignature) || o != nil || !strings.Contains(err.Error(), "retired signing keys") {
		t.Fatalf("Find with an older list after a newer one = %+v, %v; want refused", o, err)
	}
}

func TestFailuresAreRemembered(t *testing.T) {
	u := &Updater{StateDir: testDir(t)}
	recordFailure(u.StateDir, "1.1.0")
	recordFailure(u.StateDir, "1.2.0")
	recordFailure(u.StateDir, "1.1.0") // once only
	if !u.failedBefore("1.1.0") || !u.failedBefore("1.2.0") || u.failedBefore("1.3.0") {
		t.Fatal("failure record lost or invented entries")
	}
	b, _ := os.ReadFile(failedPath(u.StateDir))
	var list []string
	if json.Unmarshal(b, &list) != nil || len(list) != 2 {
		t.Fatalf("failed.json = %s", b)
	}
}

// TestDownloadsAreCleanedUp: a verified download leaves no .part file, and
// partial downloads of other versions are removed (before, every version
// taken left a ~9 MB .part file behind).
func TestDownloadsAreCleanedUp(t *testing.T) {
	rs := newReleaseServer(t)
	rs.publish(release.Manifest{Version: "2.0.0", Rollout: 100, Expires: time.Now().Add(time.Hour)})
	u := &Updater{Server: rs.srv.URL, HTTP: rs.srv.Client(), Root: rs.root, Channel: "stable", Current: "1.0.0",
		MachineID: "m_any", StateDir: testDir(t), Pin: func() string { return "" }}
	o, err := u.Find(context.Background())
	if err != nil || o == nil {
		t.Fatalf("Find: %+v %v", o, err)
	}
	os.MkdirAll(u.dir(), 0o700)
	stale := filepath.Join(u.dir(), "agent-1.5.0.part")
	os.WriteFile(stale, make([]byte, 1<<20), 0o600)
	bin, err := u.download(context.Background(), o)
	if err != nil || string(bin) != "binary 2.0.0" {
		t.Fatalf("download: %q %v", bin, err)
	}
	if left, _ := filepath.Glob(filepath.Join(u.dir(), "*.part")); len(left) != 0 {
		t.Fatalf("downloads left behind: %v", left)
	}
}
