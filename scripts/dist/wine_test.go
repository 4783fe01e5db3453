package dist

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// wine is a Wine prefix with what Go programs need (Wine 8 lacks
// ProcessPrng: a shim built with mingw forwards it to RtlGenRandom, as in
// scripts/wine-test.sh, here registered as a DLL override in the prefix so
// that processes msiexec starts load it too).
type wine struct {
	t      *testing.T
	bin    string
	prefix string
}

func newWine(t *testing.T) *wine {
	t.Helper()
	bin, err := exec.LookPath("wine64")
	if err != nil {
		bin = "/usr/lib/wine/wine64"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("needs wine64 (.ci/run installs it)")
		}
	}
	w := &wine{t: t, bin: bin, prefix: filepath.Join(t.TempDir(), "prefix")}
	shim := filepath.Join(t.TempDir(), "shim.c")
	os.WriteFile(shim, []byte(`#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) { return SystemFunction036(data, (ULONG)len); }
`), 0o644)
	dll := filepath.Join(filepath.Dir(shim), "bcryptprimitives.dll")
	if b, err := exec.Command("x86_64-w64-mingw32-gcc", "-shared", "-O2", "-o", dll, shim, "-ladvapi32").CombinedOutput(); err != nil {
		t.Fatalf("shim: %v\n%s", err, b)
	}
	w.run("wineboot", "-i")
	b, _ := os.ReadFile(dll)
	if err := os.WriteFile(filepath.Join(w.prefix, "drive_c/windows/system32/bcryptprimitives.dll"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	w.run("reg", "add", `HKCU\Software\Wine\DllOverrides`, "/v", "bcryptprimitives", "/d", "native,builtin", "/f")
	t.Cleanup(func() {
		ws, err := exec.LookPath("wineserver")
		if err != nil {
			ws = filepath.Join(filepath.Dir(bin), "wineserver")
		}
		k := exec.Command(ws, "-k")
		k.Env = append(os.Environ(), "WINEPREFIX="+w.prefix)
		k.Run()
	})
	return w
}

func (w *wine) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(w.bin, args...)
	cmd.Env = append(os.Environ(), "WINEPREFIX="+w.prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree=;mshtml=")
	// Helper processes Wine starts on demand (winedevice.exe for the
	// network stack) can inherit the output pipe and keep it open after
	// the program exits: stop waiting for them.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs a Wine program and returns its output; rc is its exit code.
func (w *wine) run(args ...string) (out string, rc int) {
	w.t.Helper()
	b, err := w.cmd(args...).CombinedOutput()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(b), ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("wine %v: %v\n%s", args, err, b)
	}
	return string(b), 0
}

func (w *wine) path(winPath string) string {
	return filepath.Join(w.prefix, "drive_c", filepath.FromSlash(strings.ReplaceAll(strings.TrimPrefix(winPath, `C:\`), `\`, "/")))
}

// newToken creates a single-use enrollment token on the server of data.
func newToken(t *testing.T, server, data string) string {
	t.Helper()
	out, err := exec.Command(server, "tokens", "create", "--data-dir", data, "--json").Output()
	if err != nil {
		t.Fatalf("tokens create: %v", err)
	}
	var resp struct {
		Secret string `json:"secret"`
	}
	json.Unmarshal(out, &resp)
	return resp.Secret
}

// startServer runs a real wirefleet-server on a loopback port (Wine's
// processes share the host's network) and returns its URL, pin, data
// directory and binary.
func startServer(t *testing.T) (url, pin, data, bin string) {
	t.Helper()
	bin = filepath.Join(t.TempDir(), "wirefleet-server")
	if b, err := exec.Command("go", "build", "-o", bin, "../../server").CombinedOutput(); err != nil {
		t.Fatalf("build server: %v\n%s", err, b)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	data = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", data, "--listen", addr, "--external-url", "https://"+addr, "--stun-listen", "off")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := regexp.MustCompile(`pin (sha256/\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case pin = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("server printed no pin")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server not listening")
		}
	}
	return "https://" + addr, pin, data, bin
}

// TestMSIUnderWine installs the MSI with Wine's msiexec as an admin would
// and checks what Wine can run: files in Program Files (the exe and
// wintun.dll), the service registered with its arguments, the Event Log
// source, enrollment done once (a second install with TOKEN keeps it), an
// upgrade to a newer build (one product left, enrollment kept), uninstall
// removing secrets and state without revoking the machine, and a failed
// install (bad TOKEN) that leaves no enrollment and no secrets. Wine's
// service manager cannot start the agent's service (1053), so the
// installs pass NOSTART=1; the agent's own steps are the ones
// TestInstallerSteps (scripts/e2e) runs against a real server on Linux.
func TestMSIUnderWine(t *testing.T) {
	for _, tool := range []string{"wixl", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (.ci/run installs it)", tool)
		}
	}
	w := newWine(t)
	work := t.TempDir()
	exe := filepath.Join(work, "wirefleet-agent.exe")
	buildAgent(t, "windows", "1.0.0-dev.1", exe)
	dll := stubWintun(t, work)
	v1, v2 := filepath.Join(w.path(`C:\`), "v1.msi"), filepath.Join(w.path(`C:\`), "v2.msi")
	buildMSI(t, exe, dll, "1.0.0-dev.1", "1", v1)
	buildMSI(t, exe, dll, "1.0.0-dev.2", "2", v2)
	url, pin, data, server := startServer(t)

	token := func() string { return newToken(t, server, data) }
	install := func(msi string, props ...string) (string, int) {
		args := append([]string{"msiexec", "/i", `C:\` + filepath.Base(msi), "/qn", "NOSTART=1"}, props...)
		return w.run(args...)
	}
	stateDir := w.path(`C:\ProgramData\Wirefleet`)
	machineID := func() string {
		var cfg struct {
			MachineID string `json:"machine_id"`
		}
		b, err := os.ReadFile(filepath.Join(stateDir, "config.json"))
		if err != nil {
			return ""
		}
		json.Unmarshal(b, &cfg)
		return cfg.MachineID
	}
	secretsLeft := func() int {
		e, _ := os.ReadDir(filepath.Join(stateDir, "secrets"))
		return len(e)
	}
	products := func() int {
		out, _ := w.run("reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall`, "/s")
		return strings.Count(out, "Wirefleet agent")
	}
	enrollArgs := func(tok string) []string {
		return []string{"SERVER=" + url, "TOKEN=" + tok, "PIN=" + pin}
	}

	// A failed install (bad token) leaves no enrollment and no secrets.
	if out, rc := install(v1, enrollArgs("wfe_bogus")...); rc == 0 {
		t.Fatalf("install with a bad token succeeded:\n%s", out)
	}
	if machineID() != "" || secretsLeft() != 0 {
		t.Fatalf("a failed install left an enrollment (%q) or %d secrets", machineID(), secretsLeft())
	}
	if _, err := os.Stat(w.path(`C:\Program Files\Wirefleet\wirefleet-agent.exe`)); err == nil {
		t.Fatal("a failed install left the agent installed")
	}

	// Install with a token.
	if out, rc := install(v1, enrollArgs(token())...); rc != 0 {
		t.Fatalf("install: exit %d\n%s", rc, out)
	}
	for _, f := range []string{`C:\Program Files\Wirefleet\wirefleet-agent.exe`, `C:\Program Files\Wirefleet\wintun.dll`} {
		if _, err := os.Stat(w.path(f)); err != nil {
			t.Errorf("%s not installed: %v", f, err)
		}
	}
	id := machineID()
	if id == "" || secretsLeft() == 0 {
		t.Fatalf("install did not enroll: id %q, %d secrets", id, secretsLeft())
	}
	if _, err := os.Stat(filepath.Join(stateDir, "installer-enrolled")); err == nil {
		t.Error("the commit step did not run: the rollback marker is left")
	}
	svc, _ := w.run("reg", "query", `HKLM\System\CurrentControlSet\Services\wirefleet-agent`)
	if !strings.Contains(svc, `wirefleet-agent.exe run`) || !strings.Contains(svc, "LocalSystem") {
		t.Errorf("service not registered with its arguments:\n%s", svc)
	}
	if ev, _ := w.run("reg", "query", `HKLM\System\CurrentControlSet\Services\EventLog\Application\wirefleet-agent`); !strings.Contains(ev, "EventCreate.exe") {
		t.Errorf("Event Log source not registered:\n%s", ev)
	}
	if n := products(); n != 1 {
		t.Errorf("%d products registered after the install", n)
	}

	// The one-liner run again: same MSI, new token; the enrollment stays.
	if out, rc := install(v1, enrollArgs(token())...); rc != 0 || machineID() != id {
		t.Fatalf("second install: exit %d, machine %q → %q\n%s", rc, id, machineID(), out)
	}
	// Upgrade to the next build with a token: one product left. Wine's
	// RemoveExistingProducts removes the old product with plain REMOVE=ALL
	// (MsiConfigureProductEx), without the UPGRADINGPRODUCTCODE Windows
	// sets, so there the old product's uninstall wipes the state and the
	// new one enrolls again; the next step shows the condition that keeps
	// it on Windows.
	if out, rc := install(v2, enrollArgs(token())...); rc != 0 {
		t.Fatalf("upgrade: exit %d\n%s", rc, out)
	}
	if n := products(); n != 1 || machineID() == "" || secretsLeft() == 0 {
		t.Fatalf("after the upgrade: %d products, machine %q, %d secrets", n, machineID(), secretsLeft())
	}
	// The old product's removal as Windows runs it in an upgrade keeps the
	// enrollment, and the new build installed without a token uses it.
	id = machineID()
	if out, rc := w.run("msiexec", "/x", `C:\v2.msi`, "/qn", "UPGRADINGPRODUCTCODE={5EB6F3A0-0000-4000-8000-000000000001}"); rc != 0 {
		t.Fatalf("removal during an upgrade: exit %d\n%s", rc, out)
	}
	if machineID() != id || secretsLeft() == 0 {
		t.Fatalf("the removal of an upgraded product wiped the enrollment: %q → %q, %d secrets", id, machineID(), secretsLeft())
	}
	if out, rc := install(v2); rc != 0 || machineID() != id || products() != 1 {
		t.Fatalf("install without a token after an upgrade: exit %d, machine %q (was %q)\n%s", rc, machineID(), id, out)
	}

	// Uninstall: files, secrets and state gone.
	if out, rc := w.run("msiexec", "/x", `C:\v2.msi`, "/qn"); rc != 0 {
		t.Fatalf("uninstall: exit %d\n%s", rc, out)
	}
	if _, err := os.Stat(w.path(`C:\Program Files\Wirefleet\wirefleet-agent.exe`)); err == nil {
		t.Error("uninstall left the exe")
	}
	if machineID() != "" || secretsLeft() != 0 {
		t.Errorf("uninstall left the enrollment (%q) or %d secrets", machineID(), secretsLeft())
	}
	if n := products(); n != 0 {
		t.Errorf("%d products registered after uninstall", n)
	}
}

// TestAgentUnderWine runs the Windows agent as a Windows program: enroll
// against a real server, run (with the test-only wintun.dll beside it the
// adapter path runs, and Wine's named pipes stop wireguard-go's UAPI
// socket, so the tunnel cannot be created), status through the control
// pipe under ProtectedPrefix\Administrators showing the tunnel error while
// the agent stays up and retries, the same error in the server's health
// record, and logout through the pipe: the server revokes the machine and
// the secrets are gone.
func TestAgentUnderWine(t *testing.T) {
	w := newWine(t)
	dir := w.path(`C:\Program Files\Wirefleet`)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	buildAgent(t, "windows", "1.2.3", filepath.Join(dir, "wirefleet-agent.exe"))
	stubWintun(t, dir)
	url, pin, data, server := startServer(t)

	exe := `C:\Program Files\Wirefleet\wirefleet-agent.exe`
	state := []string{"--state-dir", `C:\ProgramData\Wirefleet`, "--health-interval", "1s"}
	agent := func(args ...string) (string, int) {
		return w.run(append(append([]string{exe}, args...), state...)...)
	}
	if out, rc := agent("enroll", "--server", url, "--token", newToken(t, server, data), "--pin", pin, "--name", "win-1"); rc != 0 {
		t.Fatalf("enroll: exit %d\n%s", rc, out)
	}
	stateDir := w.path(`C:\ProgramData\Wirefleet`)
	for _, f := range []string{"config.json", `secrets\machine-credential.dpapi`, `secrets\wireguard-private-key.dpapi`} {
		if _, err := os.Stat(filepath.Join(stateDir, filepath.FromSlash(strings.ReplaceAll(f, `\`, "/")))); err != nil {
			t.Errorf("enroll left no %s: %v", f, err)
		}
	}

	// The agent's output goes to a file: Wine's helper processes inherit
	// its descriptors, so a pipe would never report EOF.
	logFile := filepath.Join(t.TempDir(), "agent.log")
	lf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	run := w.cmd(append([]string{exe, "run"}, state...)...)
	run.Stdout, run.Stderr = lf, lf
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	t.Cleanup(func() { run.Process.Kill(); <-exited })
	logs := logText(logFile)

	type status struct {
		Running     bool   `json:"running"`
		Tunnel      string `json:"tunnel"`
		TunnelError string `json:"tunnel_error"`
		Machine     string `json:"machine"`
	}
	var st status
	deadline := time.Now().Add(60 * time.Second)
	for ; ; time.Sleep(500 * time.Millisecond) {
		out, _ := agent("status", "--json")
		st = status{}
		json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &st)
		if st.Running && st.TunnelError != "" {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the agent exited (%v) instead of retrying the tunnel:\n%s", err, logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed a running agent with a tunnel error: %+v\n%s", st, logs())
		}
	}
	t.Logf("status: tunnel %s: %s", st.Tunnel, st.TunnelError)
	if st.Tunnel != "down" || st.Machine != "win-1" {
		t.Errorf("status %+v", st)
	}
	text, _ := agent("status")
	if !strings.Contains(text, "cannot be created (retrying)") {
		t.Errorf("status text does not show the tunnel error:\n%s", text)
	}

	// The server learns the error from the health report.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, _ := exec.Command(server, "machines", "health", "win-1", "--data-dir", data).CombinedOutput()
		if strings.Contains(string(out), "tunnel error:") && strings.Contains(string(out), "agent 1.2.3") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's health record has no tunnel error:\n%s", out)
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("the agent exited: %v\n%s", err, logs())
	default:
	}
	if n := strings.Count(logs(), "the tunnel cannot be created"); n != 1 {
		t.Errorf("%d ERROR lines for the tunnel; retries should warn once per attempt after the first error", n)
	}

	// Logout through the pipe.
	if out, rc := agent("logout"); rc != 0 || !strings.Contains(out, "the server was told") {
		t.Fatalf("logout: exit %d\n%s", rc, out)
	}
	list, _ := exec.Command(server, "machines", "list", "--data-dir", data).CombinedOutput()
	if !strings.Contains(string(list), "revoked") {
		t.Errorf("the server did not revoke the machine:\n%s", list)
	}
	if e, _ := os.ReadDir(filepath.Join(stateDir, "secrets")); len(e) != 0 {
		t.Errorf("logout left %d secrets", len(e))
	}
	if _, err := os.Stat(filepath.Join(stateDir, "config.json")); err == nil {
		t.Error("logout left config.json")
	}
}

func logText(path string) func() string {
	return func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
}
