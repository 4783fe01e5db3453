package wire_test

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages that pkg imports, transitively, for goos.
func deps(t *testing.T, goos, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
	cmd.Env = append(cmd.Environ(), "GOOS="+goos)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestDependencyRules keeps the layering of ARCHITECTURE.md true: the wire
// protocol imports only the standard library, and agent and server never
// import each other.
func TestDependencyRules(t *testing.T) {
	const mod = "github.com/wirefleet/wirefleet/"
	for _, goos := range []string{"linux", "windows", "darwin"} {
		for _, d := range deps(t, goos, "../../pkg/wire") {
			if d != mod+"pkg/wire" {
				t.Errorf("GOOS=%s: pkg/wire imports %s; it may use only the standard library", goos, d)
			}
		}
		for _, rule := range []struct{ pkg, banned string }{
			{"../../agent/...", mod + "server/"},
			{"../../server/...", mod + "agent/"},
			{"../../pkg/...", mod + "server/"},
			{"../../pkg/...", mod + "agent/"},
			// The page and the API are sibling adapters over the fleet
			// service; neither builds on the other.
			{"../../server/internal/web", mod + "server/internal/api"},
		} {
			for _, d := range deps(t, goos, rule.pkg) {
				if strings.HasPrefix(d, rule.banned) {
					t.Errorf("GOOS=%s: %s depends on %s", goos, rule.pkg, d)
				}
			}
		}
	}
}

// TestBinariesDoNotLinkTesting keeps test helpers out of what we ship: a
// helper that imports "testing" belongs in a *test package (storetest).
func TestBinariesDoNotLinkTesting(t *testing.T) {
	for _, bin := range []string{"../../server", "../../agent"} {
		for _, goos := range []string{"linux", "windows"} {
			cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", bin)
			cmd.Env = append(cmd.Environ(), "GOOS="+goos)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list %s: %v", bin, err)
			}
			for _, d := range strings.Fields(string(out)) {
				if d == "testing" || strings.HasSuffix(d, "/storetest") {
					t.Errorf("GOOS=%s: %s links %s", goos, bin, d)
				}
			}
		}
	}
}
