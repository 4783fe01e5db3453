package paths

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStateDirHoldsEverything: with --state-dir every file the agent keeps
// is under that directory (so tests, and two agents on one machine, do not
// share state), and no two share a name.
func TestStateDirHoldsEverything(t *testing.T) {
	dir := t.TempDir()
	p := In(dir)
	files := map[string]string{
		"config": p.ConfigFile(), "netmap": p.NetmapCache(), "flags": p.FlagCache(),
		"health": p.HealthQueue(), "update": p.UpdateDir(),
	}
	if !strings.HasPrefix(p.ControlSocket(), `\\.\pipe\`) { // Windows uses a named pipe
		files["control"] = p.ControlSocket()
	}
	seen := map[string]string{}
	for what, f := range files {
		if rel, err := filepath.Rel(dir, f); err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("%s file %s is outside the state dir %s", what, f, dir)
		}
		if other, dup := seen[f]; dup {
			t.Errorf("%s and %s share %s", what, other, f)
		}
		seen[f] = what
	}
}
