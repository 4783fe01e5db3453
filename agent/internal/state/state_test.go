package state

import "testing"

func TestEffectiveChannel(t *testing.T) {
	for _, c := range []struct{ stored, override, want string }{
		{"", "", "stable"}, {"beta", "", "beta"}, {"beta", "edge", "edge"}, {"", "edge", "edge"},
	} {
		if got := (Config{Channel: c.stored}).EffectiveChannel(c.override); got != c.want {
			t.Errorf("stored %q, override %q: %q, want %q", c.stored, c.override, got, c.want)
		}
	}
	for _, bad := range []string{"", "Beta", "../x", "beta channel", "-x", "a234567890123456789012345678901234"} {
		if ValidateChannel(bad) == nil {
			t.Errorf("channel %q accepted", bad)
		}
	}
	if ValidateChannel("beta-2") != nil {
		t.Error("beta-2 refused")
	}
}
