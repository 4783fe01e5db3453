package wire

import (
	"strings"
	"testing"
)

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"web-1":                         "web-1",
		"Alice's MacBook Pro.local":     "alices-macbook-pro",
		"DESKTOP-7QK2M1L":               "desktop-7qk2m1l",
		"<script>alert(1)</script>":     "script-alert-1-script",
		"---":                           "",
		"ünïcödé-host":                  "n-c-d-host",
		"a..b":                          "a",
		strings.Repeat("x", 300):        strings.Repeat("x", 63),
		strings.Repeat("ab-", 30) + "z": strings.TrimRight(strings.Repeat("ab-", 30)[:63], "-"),
	} {
		got := SanitizeName(in)
		if got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
		if got != "" {
			if err := ValidateName(got); err != nil {
				t.Errorf("SanitizeName(%q) = %q is not a valid name: %v", in, got, err)
			}
		}
	}
}

func TestValidateName(t *testing.T) {
	for in, ok := range map[string]bool{
		"a": true, "web-01": true, strings.Repeat("a", 63): true,
		"": false, strings.Repeat("a", 64): false, "-a": false, "a-": false, "A": false, "a_b": false, "a.b": false, "<b>": false,
	} {
		if err := ValidateName(in); (err == nil) != ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

func TestValidateEndpoints(t *testing.T) {
	got, err := ValidateEndpoints([]string{"192.0.2.1:51820", "[2001:db8::1]:51820", "[::ffff:192.0.2.1]:1"})
	if err != nil || len(got) != 3 {
		t.Fatalf("valid endpoints refused: %v", err)
	}
	for _, bad := range []string{"host:51820", "192.0.2.1", "192.0.2.1:0", "0.0.0.0:51820", "[::]:1", "1.2.3.4:99999"} {
		if _, err := ValidateEndpoints([]string{bad}); ErrorCode(err) != CodeInvalidArgument {
			t.Errorf("ValidateEndpoints(%q) = %v, want invalid_argument", bad, err)
		}
	}
	if _, err := ValidateEndpoints(make([]string, MaxEndpoints+1)); err == nil {
		t.Error("too many endpoints accepted")
	}
}

func TestValidateTags(t *testing.T) {
	got, err := ValidateTags([]string{"env:prod", "team_a", "env:prod"})
	if err != nil || len(got) != 2 {
		t.Fatalf("ValidateTags = %v, %v", got, err)
	}
	for _, bad := range []string{"", "Env", "a b", "<x>", strings.Repeat("t", 64)} {
		if _, err := ValidateTags([]string{bad}); err == nil {
			t.Errorf("tag %q accepted", bad)
		}
	}
}

func TestEveryCodeHasAClientErrorOrServerStatus(t *testing.T) {
	for _, c := range []Code{CodeInvalidJSON, CodeUnknownField, CodeBodyTooLarge, CodeInvalidArgument, CodeInvalidPublicKey,
		CodeInvalidName, CodeUnauthenticated, CodeForbidden, CodeNotFound, CodeConflict, CodeNameTaken, CodePublicKeyInUse,
		CodeRateLimited, CodeTokenInvalid, CodeTokenExpired, CodeTokenRevoked, CodeTokenExhausted, CodeMachineRevoked, CodeMachineExpired, CodeEnrollmentDenied, CodeEnrollmentExpired} {
		if s := c.Status(); s < 400 || s > 499 {
			t.Errorf("%s → %d, want 4xx", c, s)
		}
	}
	if CodeInternal.Status() != 500 || Code("made_up").Status() != 500 {
		t.Error("unknown codes must map to 500")
	}
}

func TestClipFact(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"fine", 10, "fine"},
		{"a\r\nb\x00c", 10, "a  b c"},
		{"bad \xff byte", 20, "bad   byte"},
		{"ééééé", 7, "éé…"}, // cut at a character boundary, room for the ellipsis
		{strings.Repeat("x", 300), 256, strings.Repeat("x", 253) + "…"},
	} {
		got := ClipFact(c.in, c.max)
		if got != c.want || len(got) > c.max || ValidateFact("f", got, c.max, false) != nil {
			t.Errorf("ClipFact(%q, %d) = %q, want %q (valid, ≤ max)", c.in, c.max, got, c.want)
		}
	}
}

// Free text accepts what people type and refuses what is not text.
func TestValidateFactAcceptsWhatPeopleType(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		ok      bool
	}{
		{"plain", "web-01", true},
		{"no-break space", "Größe\u00a0≤ 32 — fine", true},
		{"emoji ZWJ sequence", "laptop-🏳️‍🌈", true},
		{"family emoji", "👩‍👩‍👧", true},
		{"ZWNJ in Persian", "می\u200cخواهم", true},
		{"CJK", "東京サーバー", true},
		{"combining marks", "e\u0301te\u0301", true},
		{"private use", "icon \ue000", true},
		{"CR LF", "fine\r\nforged", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"C1 control", "a\u0085b", false},
		{"line separator", "a\u2028b", false},
		{"RLO", "\u202etxt.exe", false},
		{"LRI", "a\u2066b", false},
		{"RLM", "a\u200fb", false},
		{"unassigned", "a\U000e0080b", false},
		{"noncharacter", "a\uffffb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateFact("f", tc.s, 1000, false)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateFact(%q) = %v, want ok=%v", tc.s, err, tc.ok)
			}
			if c := ClipFact(tc.s, 1000); ValidateFact("f", c, 1000, false) != nil {
				t.Fatalf("ClipFact(%q) = %q is not valid", tc.s, c)
			}
		})
	}
}
