package oneliner

import (
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	for raw, want := range map[string][]string{
		"https://wf.example.org:8443": nil,
		"https://wf.example.org":      nil,
		"http://10.0.0.1:8080":        {"plain HTTP"},
		"https://127.0.0.1:8443":      {"loopback"},
		"https://[::1]:8443":          {"loopback"},
		"http://localhost:8443":       {"loopback", "plain HTTP"},
	} {
		got := Warnings(raw)
		if len(got) != len(want) {
			t.Errorf("%s: %d warnings %q, want %d", raw, len(got), got, len(want))
			continue
		}
		for i, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: warning %q does not say %q", raw, got[i], w)
			}
		}
	}
}
