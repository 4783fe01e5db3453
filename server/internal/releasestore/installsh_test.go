package releasestore

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/installer"
	"github.com/wirefleet/wirefleet/pkg/release"
)

// TestInstallSHVerifiesTheReleaseChain runs install.sh under dash and
// busybox ash against a real release store: a good release installs; a
// tampered key list, a tampered manifest, a binary swapped behind the same
// index line, another root key and a manifest signed by a retired key are
// refused before anything downloaded runs. The agent is a stand-in script
// (what is tested is the installer's verification) that records each run.
func TestInstallSHVerifiesTheReleaseChain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("install.sh refuses to run as non-root (CI runs as root)")
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("install.sh builds are linux/amd64 and arm64")
	}
	if out, _ := exec.Command("openssl", "pkeyutl", "-help").CombinedOutput(); !strings.Contains(string(out), "-rawin") {
		t.Skip("needs OpenSSL 3 (Debian's openssl; .ci/run installs it)")
	}
	shells := [][]string{{"dash"}, {"busybox", "ash"}}
	for _, sh := range shells {
		if _, err := exec.LookPath(sh[0]); err != nil {
			t.Skipf("needs %s (.ci/run installs dash and busybox)", sh[0])
		}
	}
	script := filepath.Join(t.TempDir(), "install.sh")
	b, _ := installer.Files.ReadFile("install.sh")
	os.WriteFile(script, b, 0o755)

	work := t.TempDir()
	marker := filepath.Join(work, "ran")
	agent := filepath.Join(work, "agent")
	os.WriteFile(agent, []byte(fmt.Sprintf(`#!/bin/sh
echo "$1" >> %s
case "$1" in
--version|self-test) echo "wirefleet-agent 1.0.0 linux/%s" ;;
status) echo '{"enrolled": false}' ;;
enroll) echo enrolled ;;
esac
`, marker, runtime.GOARCH)), 0o755)
	keys := filepath.Join(work, "keys")
	if err := release.Keygen(keys, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	root, _ := release.RootPublicKey(keys)
	s := NewStore(filepath.Join(work, "store"))
	if _, err := Publish(s, keys, "", PublishOptions{Channel: "stable", Version: "1.0.0", Files: map[string]string{"linux/" + runtime.GOARCH: agent}, Rollout: 100}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	run := func(sh []string, rootKey string) (string, bool) {
		os.Remove(marker)
		prefix := t.TempDir()
		args := append(append([]string{}, sh...), script, "--server", srv.URL, "--token", "wfe_x", "--prefix", prefix, "--no-service", "--state-dir", t.TempDir())
		if rootKey != "" {
			args = append(args, "--release-key", rootKey)
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		_, ran := os.Stat(marker)
		return string(out), err == nil && ran == nil
	}
	// tamper changes one file of the store and returns how to undo it.
	tamper := func(rel string, change func([]byte) []byte) func() {
		p := filepath.Join(work, "store", rel)
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, change(orig), 0o644)
		return func() { os.WriteFile(p, orig, 0o644) }
	}
	otherKeys := filepath.Join(work, "other")
	release.Keygen(otherKeys, "", time.Hour)
	otherRoot, _ := release.RootPublicKey(otherKeys)

	for _, sh := range shells {
		name := strings.Join(sh, " ")
		t.Run(name, func(t *testing.T) {
			t0 := time.Now()
			out, ok := run(sh, root)
			if !ok || !strings.Contains(out, "enrolled") {
				t.Fatalf("a good release: ok=%v\n%s", ok, out)
			}
			t.Logf("%s: a verified install took %s", name, time.Since(t0).Round(time.Millisecond))
			if out, ok := run(sh, ""); !ok || !strings.Contains(out, "no --release-key given") {
				t.Errorf("without --release-key: ok=%v, want a warning and the install\n%s", ok, out)
			}
			for _, tc := range []struct {
				name, want string
				undo       func() func()
				root       string
			}{
				{"tampered key list", "not signed by the release root key", func() func() {
					return tamper("keys.json", func(b []byte) []byte { return []byte(strings.Replace(string(b), "20", "21", 1)) })
				}, root},
				{"tampered manifest", "manifest is not signed by a live release signing key", func() func() {
					return tamper("channels/stable/manifest.json", func(b []byte) []byte { return []byte(strings.Replace(string(b), `"rollout": 100`, `"rollout": 99`, 1)) })
				}, root},
				{"binary swapped behind the same line", "SHA-256 mismatch", func() func() {
					return tamper("files/wirefleet-agent-1.0.0-linux-"+runtime.GOARCH, func(b []byte) []byte { return append(b, "\necho evil\n"...) })
				}, root},
				{"another root key", "not signed by the release root key " + otherRoot, func() func() { return func() {} }, otherRoot},
			} {
				t.Run(tc.name, func(t *testing.T) {
					undo := tc.undo()
					defer undo()
					out, ok := run(sh, tc.root)
					if ok || !strings.Contains(out, tc.want) || !strings.Contains(out, "nothing was installed") {
						t.Errorf("ok=%v, want refused with %q\n%s", ok, tc.want, out)
					}
					if _, err := os.Stat(marker); err == nil {
						t.Error("the downloaded agent ran")
					}
				})
			}
		})
	}

	// A signing-key rotation whose key list is published while the
	// manifest is still signed by the retired key: refused. Once the
	// releases are signed again with the new key, installs go on.
	if err := release.RotateSigningKey(keys, "", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(filepath.Join(keys, release.KeySetFile))
	sig, _ := os.ReadFile(filepath.Join(keys, release.KeySetFile+release.SigSuffix))
	if err := s.PutKeys(root, body, sig); err != nil {
		t.Fatal(err)
	}
	if out, ok := run(shells[0], root); ok || !strings.Contains(out, "not signed by a live release signing key") {
		t.Errorf("a manifest signed by the retired key: ok=%v\n%s", ok, out)
	}
	signer, _ := release.LoadSigner(keys, "")
	if n, err := s.Resign(signer); err != nil || n != 2 {
		t.Fatalf("Resign = %d, %v (want the channel's and the version's manifests)", n, err)
	}
	if out, ok := run(shells[0], root); !ok {
		t.Errorf("after re-signing with the new key: \n%s", out)
	}
}
