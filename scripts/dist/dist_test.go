// Package dist tests the agent's packages as users get them: the .deb is
// built with nfpm, installed, upgraded and removed with dpkg (the upgrade
// must keep the service unit, unlike Orbit #18534), the .rpm is built, and
// the MSI built by wixl is checked table by table.
package dist

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
}

// stubWintun builds the test-only wintun.dll stand-in (never shipped; see
// testdata/wintun-stub) with mingw.
func stubWintun(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("x86_64-w64-mingw32-gcc"); err != nil {
		t.Skip("needs gcc-mingw-w64-x86-64-win32 for the wintun.dll stand-in (.ci/run installs it)")
	}
	out := filepath.Join(dir, "wintun.dll")
	if b, err := exec.Command("x86_64-w64-mingw32-gcc", "-shared", "-O2", "-o", out, "../../testdata/wintun-stub/wintun.c").CombinedOutput(); err != nil {
		t.Fatalf("mingw: %v\n%s", err, b)
	}
	return out
}

// buildMSI runs scripts/dist/msi.sh as make dist does.
func buildMSI(t *testing.T, exe, dll, version, build, out string) {
	t.Helper()
	cmd := exec.Command("scripts/dist/msi.sh", exe, dll, version, out)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "MSI_BUILD="+build)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msi.sh: %v\n%s", err, b)
	}
}

func msiTable(t *testing.T, msi, name string) string {
	t.Helper()
	b, err := exec.Command("msiinfo", "export", msi, name).CombinedOutput()
	if err != nil {
		t.Fatalf("msiinfo %s: %v\n%s", name, err, b)
	}
	return string(b)
}

// TestMSITables checks what msi.sh fixes after wixl, table by table.
func TestMSITables(t *testing.T) {
	if _, err := exec.LookPath("wixl"); err != nil {
		t.Skip("needs wixl (apt-get install wixl msitools; .ci/run installs them)")
	}
	work := t.TempDir()
	exe := filepath.Join(work, "wirefleet-agent.exe")
	buildAgent(t, "windows", "1.0.0", exe)
	dll := stubWintun(t, work)
	msi := filepath.Join(work, "agent.msi")
	buildMSI(t, exe, dll, "1.2.0-dev.7", "41", msi)
	table := func(name string) string { return msiTable(t, msi, name) }

	if s := table("File"); !strings.Contains(s, "\twirefleet-agent.exe\t") || !strings.Contains(s, "\twintun.dll\t") {
		t.Fatalf("File table lacks the exe or wintun.dll:\n%s", s)
	}
	if s := table("ServiceInstall"); !strings.Contains(s, "wirefleet-agent") || !strings.Contains(s, "LocalSystem") || !strings.Contains(s, "run") {
		t.Fatalf("ServiceInstall:\n%s", s)
	}
	props := table("Property")
	for _, want := range []string{"ProductVersion\t1.2.0.41", "MsiHiddenProperties\tTOKEN", "SecureCustomProperties\tWIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;SAMEVERSIONDETECTED;SERVER;TOKEN;PIN;FORCE;UNENROLL;NOSTART"} {
		if !strings.Contains(props, want) {
			t.Errorf("Property table lacks %q:\n%s", want, props)
		}
	}
	// Custom action types: 18 exe + 1024 deferred + 2048 no impersonation,
	// +256 rollback, +512 commit, +64 ignore exit, +8192 hidden target.
	ca := map[string]string{}
	for _, line := range strings.Split(strings.ReplaceAll(table("CustomAction"), "\r", ""), "\n") {
		if f := strings.Split(line, "\t"); len(f) >= 4 {
			ca[f[0]] = f[1] + " " + f[3]
		}
	}
	for name, want := range map[string]string{
		"EnrollRollback":      "3410 installer rollback",
		"Enroll":              `11282 installer enroll --server "[SERVER]" --token "[TOKEN]" --pin "[PIN]"`,
		"EnrollForce":         `11282 installer enroll --force --server "[SERVER]" --token "[TOKEN]" --pin "[PIN]"`,
		"EnrollCommit":        "3666 installer commit",
		"RemoveState":         "3154 installer uninstall",
		"RemoveStateUnenroll": "3154 installer uninstall --unenroll",
	} {
		if ca[name] != want {
			t.Errorf("custom action %s = %q, want %q", name, ca[name], want)
		}
	}
	seq := map[string]int{}
	for _, line := range strings.Split(strings.ReplaceAll(table("InstallExecuteSequence"), "\r", ""), "\n") {
		if f := strings.Split(line, "\t"); len(f) == 3 {
			n, _ := strconv.Atoi(f[2])
			seq[f[0]] = n
		}
	}
	for _, order := range [][2]string{
		{"InstallInitialize", "RemoveExistingProducts"}, {"RemoveExistingProducts", "InstallFiles"}, // ICE63
		{"StopServices", "RemoveState"}, {"RemoveStateUnenroll", "RemoveFiles"},
		{"InstallFiles", "EnrollRollback"}, {"EnrollRollback", "Enroll"}, {"Enroll", "EnrollForce"}, {"EnrollForce", "EnrollCommit"},
		{"EnrollCommit", "StartServices"}, {"InstallServices", "Recovery"}, {"Recovery", "StartServices"}, {"StartServices", "InstallFinalize"},
	} {
		if seq[order[0]] == 0 || seq[order[1]] == 0 || seq[order[0]] >= seq[order[1]] {
			t.Errorf("%s (%d) must come before %s (%d)", order[0], seq[order[0]], order[1], seq[order[1]])
		}
	}
	// A build replaces one of the same version (Windows compares three
	// fields); older ones are upgraded; newer ones stop the install.
	if s := table("Upgrade"); !strings.Contains(s, "\t1.2.0.41\t\t\t256\t\tSAMEVERSIONDETECTED") ||
		!strings.Contains(s, "\t\t1.2.0.41\t\t1\t\tWIX_UPGRADE_DETECTED") || !strings.Contains(s, "\t1.2.0.41\t\t\t2\t\tWIX_DOWNGRADE_DETECTED") {
		t.Fatalf("Upgrade table:\n%s", s)
	}
	if s := table("Registry"); !strings.Contains(s, `EventLog\Application\wirefleet-agent`) || !strings.Contains(s, "EventCreate.exe") {
		t.Fatalf("no Event Log source:\n%s", s)
	}

	if s, _ := exec.Command("msiinfo", "suminfo", msi).CombinedOutput(); !strings.Contains(string(s), "Template: x64;1033") {
		t.Errorf("the amd64 MSI's summary:\n%s", s)
	}

	// arm64: wixl builds x64; msi.sh makes it an Arm64 package, and
	// refuses an exe or DLL built for another architecture.
	armExe := filepath.Join(work, "arm64", "wirefleet-agent.exe")
	cmd := exec.Command("go", "build", "-o", armExe, "../../agent")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build arm64: %v\n%s", err, b)
	}
	armMSI := filepath.Join(work, "arm64.msi")
	msiSh := func(args ...string) (string, error) {
		cmd := exec.Command("scripts/dist/msi.sh", args...)
		cmd.Dir = "../.."
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := msiSh(armExe, "none", "1.2.0", armMSI, "arm64"); err != nil {
		t.Fatalf("arm64 MSI: %v\n%s", err, out)
	}
	if s, _ := exec.Command("msiinfo", "suminfo", armMSI).CombinedOutput(); !strings.Contains(string(s), "Template: Arm64;1033") || !strings.Contains(string(s), "Version: 500") {
		t.Errorf("the arm64 MSI's summary:\n%s", s)
	}
	if !strings.Contains(msiTable(t, armMSI, "File"), "\twirefleet-agent.exe\t") {
		t.Error("the arm64 MSI has no exe")
	}
	for _, c := range [][]string{{exe, "none"}, {armExe, dll}} {
		if out, err := msiSh(c[0], c[1], "1.2.0", filepath.Join(work, "mixed.msi"), "arm64"); err == nil || !strings.Contains(out, "is not a windows/arm64 PE file") {
			t.Errorf("msi.sh arm64 with %s and %s: %v\n%s", c[0], c[1], err, out)
		}
	}

	// The stand-in is never taken for the official DLL: it is unsigned,
	// and a zip that is not the official one is refused by its digest.
	if _, err := exec.LookPath("osslsigncode"); err == nil {
		cmd := exec.Command("scripts/dist/wintun.sh", "--check-dll", dll)
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "no valid Authenticode signature") {
			t.Errorf("the unsigned stand-in passed the Wintun check (%v):\n%s", err, b)
		}
	} else {
		t.Error("osslsigncode missing: the Wintun signature check cannot be tested (.ci/run installs it)")
	}
	zip := filepath.Join(work, "wintun-0.14.1.zip")
	zcmd := exec.Command("python3", "-m", "zipfile", "-c", zip, dll)
	if b, err := zcmd.CombinedOutput(); err != nil {
		t.Fatalf("zip: %v\n%s", err, b)
	}
	cmd = exec.Command("scripts/dist/wintun.sh", zip, filepath.Join(work, "wintun"))
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "want 07c256185d6ee3652e09fa55c0b673e2624b565e02c4b9091c79ca7d2f24ef51") {
		t.Errorf("a zip that is not the official one was accepted (%v):\n%s", err, b)
	}

	// Version checks: not semver or beyond MSI's range is refused.
	for _, v := range []string{"1.2", "256.0.0", "1.0.70000"} {
		cmd := exec.Command("scripts/dist/msi.sh", exe, "none", v, filepath.Join(work, "bad.msi"))
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("msi.sh accepted version %q:\n%s", v, b)
		}
	}
}
