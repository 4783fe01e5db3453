//go:build !windows

package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The init scripts we give kardianos/service are valid shell once
// rendered (their actions run in TestInstallWithoutSystemd for SysV; no
// OpenRC here, so its script is at least parsed), and the SysV one runs
// the agent under its supervisor.
func TestInitScriptsParse(t *testing.T) {
	render := func(tmpl string) string {
		s := strings.ReplaceAll(tmpl, "{{range Arguments}} {{. | cmd}}{{end}}", ` "run" "--state-dir" "/srv/wf"`)
		s = strings.ReplaceAll(s, "{{range Arguments}}{{. | cmd}} {{end}}", `"run" "--state-dir" "/srv/wf" `)
		s = strings.ReplaceAll(s, "{{Path | cmd}}", `"/usr/local/bin/wirefleet-agent"`)
		s = strings.ReplaceAll(s, "{{Path | cmdEscape}}", `/usr/local/bin/wirefleet-agent`)
		return regexp.MustCompile(`\{\{[^}]*\}\}`).ReplaceAllString(s, "x")
	}
	for name, tmpl := range map[string]string{"sysv": initScript, "openrc": openRCScript} {
		out := render(tmpl)
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, []byte(out), 0o755)
		if b, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s script does not parse: %v\n%s\n%s", name, err, b, out)
		}
	}
	if !strings.Contains(render(initScript), `exec "/usr/local/bin/wirefleet-agent" supervise -- "run" "--state-dir" "/srv/wf"`) {
		t.Errorf("the SysV script does not run the agent under its supervisor:\n%s", render(initScript))
	}
	if !strings.Contains(openRCScript, "respawn_max=0") {
		t.Error("the OpenRC script keeps supervise-daemon's respawn limit")
	}
}
