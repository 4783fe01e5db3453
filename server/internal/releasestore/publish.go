package releasestore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/release"
	"github.com/wirefleet/wirefleet/pkg/version"
)

// Target is where Publish puts a release: the local Store, or a remote
// server through the admin API.
type Target interface {
	PutFile(name string, r io.Reader) (string, int64, error)
	PutKeys(rootPub string, keys, sig []byte) error
	PutManifest(channel string, body, sig []byte, allowOlder bool) (release.Manifest, error)
}

// PublishOptions describe one release.
type PublishOptions struct {
	Channel string
	Version string
	Files   map[string]string // "linux/amd64" → path of the binary
	Rollout float64           // percent of machines offered it: 0 (nobody yet) to 100
	// AllowOlder publishes a version older than the channel's current one.
	AllowOlder bool
	Expires    time.Duration // manifest lifetime, default 30 days
	Notes      string
}

// Publish signs the binaries and a manifest with the signing key in
// keysDir and uploads keys, binaries and manifest to t.
func Publish(t Target, keysDir, password string, o PublishOptions) (release.Manifest, error) {
	return PublishWith(t, release.Dir(keysDir), password, o)
}

// PublishWith is Publish with the keys in any release.KeyFiles (the
// server's sealed store for its single-box keys).
func PublishWith(t Target, keysDir release.KeyFiles, password string, o PublishOptions) (release.Manifest, error) {
	if err := version.Validate(o.Version); err != nil {
		return release.Manifest{}, fmt.Errorf("releases: %w", err)
	}
	if len(o.Files) == 0 {
		return release.Manifest{}, fmt.Errorf("releases: no binaries given (--file linux/amd64=PATH)")
	}
	if !(o.Rollout >= 0 && o.Rollout <= 100) { // also NaN
		return release.Manifest{}, fmt.Errorf("releases: rollout must be 0–100 percent, not %v", o.Rollout)
	}
	if o.Expires == 0 {
		o.Expires = 30 * 24 * time.Hour
	}
	signer, err := release.LoadSignerIn(keysDir, password)
	if err != nil {
		return release.Manifest{}, err
	}
	root, err := release.RootPublicKeyIn(keysDir)
	if err != nil {
		return release.Manifest{}, err
	}
	keys, err1 := keysDir.ReadFile(release.KeySetFile)
	sig, err2 := keysDir.ReadFile(release.KeySetFile + release.SigSuffix)
	if err1 != nil || err2 != nil {
		return release.Manifest{}, fmt.Errorf("releases: %s lacks keys.json and its signature (run releases keygen)", keysDir)
	}
	if err := t.PutKeys(root, keys, sig); err != nil {
		return release.Manifest{}, fmt.Errorf("releases: publish keys: %w", err)
	}
	m := release.Manifest{Channel: o.Channel, Version: strings.TrimPrefix(o.Version, "v"), Published: time.Now().UTC(),
		Expires: time.Now().Add(o.Expires).UTC(), Rollout: o.Rollout, Notes: o.Notes}
	for target, path := range o.Files {
		goos, goarch, ok := strings.Cut(target, "/")
		if !ok || goos == "" || goarch == "" {
			return m, fmt.Errorf("releases: %q must be os/arch=PATH", target)
		}
		// An MSI under an agent's own target would be downloaded by its
		// self-update as the new executable, and an exe under -msi would
		// be handed to msiexec by install.ps1.
		if isMSI, msiTarget := strings.HasSuffix(strings.ToLower(path), ".msi"), strings.HasSuffix(goarch, "-msi"); isMSI != msiTarget || (msiTarget && goos != "windows") {
			return m, fmt.Errorf("releases: %s=%s: MSI packages are published as windows/ARCH-msi, and only MSI packages are", target, path)
		}
		bin, err := os.ReadFile(path)
		if err != nil {
			return m, fmt.Errorf("releases: %w", err)
		}
		name := fmt.Sprintf("wirefleet-agent-%s-%s-%s", m.Version, goos, goarch)
		switch {
		case strings.HasSuffix(path, ".msi"):
			name += ".msi" // published as windows/<arch>-msi for install.ps1
		case goos == "windows":
			name += ".exe"
		}
		a := signer.Artifact(goos, goarch, name, bin)
		if _, _, err := t.PutFile(name, bytes.NewReader(bin)); err != nil {
			return m, fmt.Errorf("releases: upload %s: %w", name, err)
		}
		m.Artifacts = append(m.Artifacts, a)
	}
	body, msig, err := signer.Manifest(m)
	if err != nil {
		return m, err
	}
	return t.PutManifest(m.Channel, body, msig, o.AllowOlder)
}

// distName matches what `make dist` writes: the agent per OS/arch and the
// Windows MSI (the -nowintun MSI has no tunnel driver and is never
// offered to installers).
var distName = regexp.MustCompile(`^wirefleet-agent-(.+)-(linux|darwin|windows)-(amd64|arm64)(\.exe|\.msi)?$`)

// DistFiles lists the agent binaries and MSI packages of one version in a
// `make dist` directory as Publish's Files: "linux/amd64" → path, and
// "windows/amd64-msi" → the MSI that install.ps1 downloads.
func DistFiles(dir, version string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	files := map[string]string{}
	for _, e := range entries {
		m := distName.FindStringSubmatch(e.Name())
		if m == nil || m[1] != strings.TrimPrefix(version, "v") || e.IsDir() {
			continue
		}
		goos, goarch, ext := m[2], m[3], m[4]
		switch {
		case ext == ".msi" && goos == "windows":
			goarch += "-msi"
		case ext == ".msi", (ext == ".exe") != (goos == "windows"):
			continue
		}
		files[goos+"/"+goarch] = filepath.Join(dir, e.Name())
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("releases: no wirefleet-agent-%s-OS-ARCH files in %s (run make dist VERSION=%s)", version, dir, version)
	}
	return files, nil
}
