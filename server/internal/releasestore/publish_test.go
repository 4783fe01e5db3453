package releasestore

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestPublishRefusesNonSemverVersions: anti-rollback compares versions, so
// a version that is not a semantic version never gets published.
func TestPublishRefusesNonSemverVersions(t *testing.T) {
	s := NewStore(t.TempDir())
	for _, v := range []string{"1.2.3garbage", "v1.2.3", "1.2", "latest", "1.2.3-", "../1.2.3"} {
		_, err := Publish(s, t.TempDir(), "", PublishOptions{Channel: "stable", Version: v, Files: map[string]string{"linux/amd64": "/bin/true"}})
		if err == nil || !strings.Contains(err.Error(), "version") {
			t.Errorf("Publish(version %q) = %v, want a version error", v, err)
		}
	}
}

// TestPublishMSI: `make dist`'s directory is published as one release, the
// MSI under windows/amd64-msi where install.ps1 asks for it (the
// -nowintun MSI and other versions' files left out), and an MSI is never
// accepted as an agent executable or the other way round.
func TestPublishMSI(t *testing.T) {
	dist := t.TempDir()
	for name, body := range map[string]string{
		"wirefleet-agent-1.4.0-linux-amd64":                "elf",
		"wirefleet-agent-1.4.0-windows-amd64.exe":          "pe",
		"wirefleet-agent-1.4.0-windows-amd64.msi":          "msi",
		"wirefleet-agent-1.4.0-windows-arm64.msi":          "arm64 msi",
		"wirefleet-agent-1.4.0-windows-amd64-nowintun.msi": "msi without wintun",
		"wirefleet-agent-1.3.0-linux-amd64":                "old",
		"wirefleet-agent_1.4.0_amd64.deb":                  "deb",
	} {
		if err := os.WriteFile(filepath.Join(dist, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := DistFiles(dist, "1.4.0")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"linux/amd64":       "wirefleet-agent-1.4.0-linux-amd64",
		"windows/amd64":     "wirefleet-agent-1.4.0-windows-amd64.exe",
		"windows/amd64-msi": "wirefleet-agent-1.4.0-windows-amd64.msi",
		"windows/arm64-msi": "wirefleet-agent-1.4.0-windows-arm64.msi",
	}
	if len(files) != len(want) {
		t.Errorf("DistFiles = %v, want %v", files, want)
	}
	for k, v := range want {
		if filepath.Base(files[k]) != v {
			t.Errorf("DistFiles[%s] = %q, want %s", k, files[k], v)
		}
	}
	if _, err := DistFiles(dist, "9.9.9"); err == nil {
		t.Error("DistFiles found files of a version that is not there")
	}

	keys := t.TempDir()
	if err := release.Keygen(keys, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	s := NewStore(t.TempDir())
	for target, path := range map[string]string{
		"windows/amd64":     files["windows/amd64-msi"],
		"windows/amd64-msi": files["windows/amd64"],
		"linux/amd64-msi":   files["windows/amd64-msi"],
	} {
		if _, err := Publish(s, keys, "", PublishOptions{Channel: "stable", Version: "1.4.0", Files: map[string]string{target: path}}); err == nil || !strings.Contains(err.Error(), "MSI") {
			t.Errorf("Publish(%s=%s) = %v, want an MSI error", target, filepath.Base(path), err)
		}
	}
	if _, err := Publish(s, keys, "", PublishOptions{Channel: "stable", Version: "1.4.0", Files: files}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/releases/channel/stable/windows/amd64-msi")
	if err != nil {
		t.Fatal(err)
	}
	line, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	f := strings.Fields(string(line))
	if resp.StatusCode != 200 || len(f) != 4 || f[0] != "1.4.0" || !strings.HasSuffix(f[3], ".msi") {
		t.Fatalf("index: %d %q", resp.StatusCode, line)
	}
	resp, err = http.Get(srv.URL + "/releases/files/" + f[3])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "msi" {
		t.Errorf("the MSI served is %q", body)
	}
}

// TestRolloutMeansWhatItSays: a 0 % rollout is published as 0 (it was
// turned into 100 %), out-of-range rollouts are refused, and a version
// older than the channel's current one needs AllowOlder.
func TestRolloutMeansWhatItSays(t *testing.T) {
	keys := t.TempDir()
	if err := release.Keygen(keys, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wirefleet-agent")
	os.WriteFile(bin, []byte("agent"), 0o755)
	s := NewStore(t.TempDir())
	pub := func(v string, rollout float64, older bool) (release.Manifest, error) {
		return Publish(s, keys, "", PublishOptions{Channel: "stable", Version: v, Rollout: rollout, AllowOlder: older, Files: map[string]string{"linux/amd64": bin}})
	}
	m, err := pub("1.5.0", 0, false)
	if err != nil || m.Rollout != 0 {
		t.Fatalf("--rollout 0 published as %v (%v), want 0", m.Rollout, err)
	}
	for _, bad := range []float64{-1, 100.5, math.NaN()} {
		if _, err := pub("1.5.1", bad, false); err == nil || !strings.Contains(err.Error(), "0–100") {
			t.Errorf("rollout %v: %v, want refused", bad, err)
		}
	}
	if m, err := pub("1.5.0", 37.5, false); err != nil || m.Rollout != 37.5 {
		t.Fatalf("republishing with 37.5 %%: %v (%v)", m.Rollout, err)
	}
	if _, err := pub("1.4.9", 100, false); err == nil || !strings.Contains(err.Error(), "--allow-older") {
		t.Fatalf("an older version without AllowOlder: %v", err)
	}
	if m, err := pub("1.4.9", 100, true); err != nil || m.Version != "1.4.9" {
		t.Fatalf("an older version with AllowOlder: %+v (%v)", m, err)
	}
}

// A published release cannot be broken afterwards: the files its
// manifest names are immutable (409; the same bytes again are fine), and
// a signed manifest with no artifacts is refused rather than becoming the
// channel's current release.
func TestPublishedReleasesStayWhole(t *testing.T) {
	keys := t.TempDir()
	if err := release.Keygen(keys, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wirefleet-agent")
	os.WriteFile(bin, []byte("agent 1.5.0"), 0o755)
	s := NewStore(t.TempDir())
	if _, err := Publish(s, keys, "", PublishOptions{Channel: "stable", Version: "1.5.0", Files: map[string]string{"linux/amd64": bin}}); err != nil {
		t.Fatal(err)
	}
	const name = "wirefleet-agent-1.5.0-linux-amd64"
	if _, _, err := s.PutFile(name, strings.NewReader("agent 1.5.0")); err != nil {
		t.Errorf("the same bytes again: %v", err)
	}
	if _, _, err := s.PutFile(name, strings.NewReader("something else")); wire.ErrorCode(err) != wire.CodeConflict || !strings.Contains(err.Error(), "stable 1.5.0") {
		t.Errorf("replacing a published file: %v, want conflict naming the release", err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.dir, "files", name)); string(b) != "agent 1.5.0" {
		t.Errorf("the published file now holds %q", b)
	}
	if _, _, err := s.PutFile("wirefleet-agent-1.5.1-linux-amd64", strings.NewReader("agent 1.5.1")); err != nil {
		t.Errorf("a new file: %v", err)
	}

	signer, err := release.LoadSigner(keys, "")
	if err != nil {
		t.Fatal(err)
	}
	body, sig, err := signer.Manifest(release.Manifest{Channel: "stable", Version: "1.6.0", Published: time.Now().UTC(), Expires: time.Now().Add(time.Hour).UTC(), Rollout: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutManifest("stable", body, sig, false); wire.ErrorCode(err) != wire.CodeInvalidArgument || !strings.Contains(err.Error(), "no artifacts") {
		t.Fatalf("a manifest with no artifacts: %v", err)
	}
	if chs, _ := s.Channels(); len(chs) != 1 || chs[0].Version != "1.5.0" {
		t.Fatalf("channels after the refusal: %+v", chs)
	}
}
