// Package dist tests the agent's packages as users get them: the .deb is
// built with nfpm, installed, upgraded and removed with dpkg (the upgrade
// must keep the service unit, unlike Orbit #18534), the .rpm is built, and
// the MSI built by wixl is checked table by table.
package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const nfpm = "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.43.0"

func buildAgent(t *testing.T, goos, version, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-ldflags", "-X main.Version="+version, "-o", out, "../../agent")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
}

func pkg(t *testing.T, format, version, bin, outDir string) string {
	t.Helper()
	// nfpm expands ${VARS} in version and arch but not in file sources, so
	// the binary's path is put into a copy of the config, as make dist does.
	conf, err := os.ReadFile("../../installer/nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(outDir, "nfpm.yaml")
	os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(conf), "${NFPM_BINARY}", bin)), 0o644)
	cmd := exec.Command("go", "run", nfpm, "package", "--config", cfgPath, "--packager", format, "--target", outDir+"/")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "NFPM_ARCH=amd64", "NFPM_VERSION="+version)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nfpm %s: %v\n%s", format, err, b)
	}
	m, _ := filepath.Glob(filepath.Join(outDir, "*."+format))
	if len(m) != 1 {
		t.Fatalf("nfpm made %v", m)
	}
	return m[0]
}

func TestDebInstallUpgradeRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installs a package with dpkg: needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("needs dpkg (Debian)")
	}
	work := t.TempDir()
	var debs []string
	for _, v := range []string{"1.0.0", "1.1.0"} {
		bin := filepath.Join(work, "agent-"+v)
		buildAgent(t, "linux", v, bin)
		out := filepath.Join(work, v)
		os.MkdirAll(out, 0o755)
		debs = append(debs, pkg(t, "deb", v, bin, out))
	}
	contents, _ := exec.Command("dpkg-deb", "-c", debs[0]).CombinedOutput()
	for _, want := range []string{"./usr/bin/wirefleet-agent", "./lib/systemd/system/wirefleet-agent.service"} {
		if !strings.Contains(string(contents), want) {
			t.Fatalf("deb lacks %s:\n%s", want, contents)
		}
	}
	dpkg := func(args ...string) string {
		b, err := exec.Command("dpkg", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "wirefleet-agent").Run() })
	dpkg("-i", debs[0])
	version := func() string {
		b, _ := exec.Command("/usr/bin/wirefleet-agent", "self-test").Output()
		return string(b)
	}
	if !strings.Contains(version(), "1.0.0") {
		t.Fatalf("installed agent: %s", version())
	}
	dpkg("-i", debs[1]) // upgrade
	if !strings.Contains(version(), "1.1.0") {
		t.Fatalf("upgraded agent: %s", version())
	}
	if _, err := os.Stat("/lib/systemd/system/wirefleet-agent.service"); err != nil {
		t.Fatalf("the upgrade lost the service unit: %v", err)
	}
	dpkg("--purge", "wirefleet-agent")
	for _, p := range []string{"/usr/bin/wirefleet-agent", "/lib/systemd/system/wirefleet-agent.service"} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s left after removal", p)
		}
	}
}

func TestRpmAndMSI(t *testing.T) {
	work := t.TempDir()
	bin := filepath.Join(work, "agent")
	buildAgent(t, "linux", "1.0.0", bin)
	rpm := pkg(t, "rpm", "1.0.0", bin, work)
	if st, err := os.Stat(rpm); err != nil || st.Size() < 1<<20 {
		t.Fatalf("rpm: %v", err)
	}
	if _, err := exec.LookPath("wixl"); err != nil {
		t.Skip("needs wixl (apt-get install wixl msitools; .ci/run installs them)")
	}
	exe := filepath.Join("bin", "test-windows-amd64", "wirefleet-agent.exe") // wixl wants a relative path
	os.MkdirAll(filepath.Join("..", "..", filepath.Dir(exe)), 0o755)
	t.Cleanup(func() { os.RemoveAll(filepath.Join("..", "..", "bin", "test-windows-amd64")) })
	buildAgent(t, "windows", "1.0.0", filepath.Join("..", "..", exe))
	msi := filepath.Join(work, "agent.msi")
	cmd := exec.Command("wixl", "-a", "x64", "-D", "Version=1.0.0", "-D", "AgentExe="+exe, "-o", msi, "wix/wirefleet-agent.wxs")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wixl: %v\n%s", err, b)
	}
	table := func(name string) string {
		b, err := exec.Command("msiinfo", "export", msi, name).CombinedOutput()
		if err != nil {
			t.Fatalf("msiinfo %s: %v\n%s", name, err, b)
		}
		return string(b)
	}
	if s := table("ServiceInstall"); !strings.Contains(s, "wirefleet-agent") || !strings.Contains(s, "LocalSystem") || !strings.Contains(s, "run") {
		t.Fatalf("ServiceInstall:\n%s", s)
	}
	if s := table("CustomAction"); !strings.Contains(s, `enroll --server "[SERVER]" --token "[TOKEN]" --pin "[PIN]"`) || !strings.Contains(s, "service-recovery") {
		t.Fatalf("CustomAction:\n%s", s)
	}
	seq := table("InstallExecuteSequence")
	if !strings.Contains(seq, "Enroll\tTOKEN AND NOT Installed\t4001") {
		t.Fatalf("enrollment must run after InstallFiles, on first install with a token:\n%s", seq)
	}
	if s := table("Upgrade"); !strings.Contains(s, "WIX_UPGRADE_DETECTED") {
		t.Fatalf("no major upgrade:\n%s", s)
	}
}
