package fleet

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// storeMutation matches a call of a store mutation or of the hub's Sync
// on anything named db or hub: what only this package may do.
var storeMutation = regexp.MustCompile(`\b(db|hub)\.(Enroll|RevokeMachine|DeleteMachine|UpdateMachine|PinVersion|Rekey|SetEndpoints|CreateToken|RevokeToken|SetFlag|DeleteFlag|SetPolicy|CreateAdmin|DeleteAdmin|SetAdminPassword|CreateAPIKey|RevokeAPIKey|Sync)\(`)

// TestAdaptersGoThroughTheService keeps the layering true where the
// compiler cannot: the API and the web page hold only a Reader and the
// Service, so they cannot write to the store at all; the daemon wires the
// store in and runs jobs over it, so its calls are checked here — it too
// changes the fleet only through this package, so that no caller can
// forget validation, the audit event or the hub sync.
func TestAdaptersGoThroughTheService(t *testing.T) {
	for _, dir := range []string{"../daemon"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue // tests may set up state directly
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				if m := storeMutation.FindString(line); m != "" {
					t.Errorf("%s:%d calls %s directly; go through fleet.Service", f, i+1, strings.TrimSuffix(m, "("))
				}
			}
		}
	}
}
