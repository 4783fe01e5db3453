package secret

import (
	"strings"
	"testing"
)

func TestNewSecretsAreWellFormedUniqueAndHashed(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s, h := New("wfe_")
		if !WellFormed(s, "wfe_") || WellFormed(s, "wfm_") {
			t.Fatalf("%q: WellFormed disagrees with its prefix", s)
		}
		if h != Hash(s) || len(h) != 64 || strings.Contains(h, s[4:]) {
			t.Fatalf("hash %q of %q is not its SHA-256", h, s)
		}
		if seen[s] {
			t.Fatal("duplicate secret")
		}
		seen[s] = true
		if d := Display(s); len(d) != PrefixLen || !strings.HasPrefix(s, d) {
			t.Fatalf("Display(%q) = %q", s, d)
		}
	}
	for _, bad := range []string{"", "wfe_", "wfe_short", "wfe_" + strings.Repeat("A", 52), "wfe_" + strings.Repeat("1", 52), "wfe_" + strings.Repeat("a", 53)} {
		if WellFormed(bad, "wfe_") {
			t.Errorf("WellFormed(%q) = true", bad)
		}
	}
}
