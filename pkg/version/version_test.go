package version

import "testing"

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"1.0.0", "1.0.1", -1},
		{"1.10.0", "1.9.0", 1},
		{"v1.2.3", "1.2.3", 0},
		{"1.2", "1.2.0", 0},
		// numeric pre-release identifiers compare as numbers
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"2.0.0-beta.11", "2.0.0-beta.3", 1},
		// a pre-release sorts before its release
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-1", "1.0.0-alpha", -1}, // numeric < alphanumeric
		// build metadata is ignored
		{"1.0.0+build.1", "1.0.0+build.2", 0},
		{"1.0.0+zzz", "1.0.0", 0},
		// garbage is not a version and sorts first
		{"1.2.3garbage", "1.2.3", -1},
		{"1.2.3garbage", "0.0.1", -1},
		{"dev", "0.0.1", -1},
		{"0.0.1", "dev", 1},
		{"", "1.0.0", -1},
		{"dev", "dev", 0},
		{"01.2.3", "1.2.3", -1}, // leading zeros are invalid
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Compare(tc.b, tc.a); got != -tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d (antisymmetry)", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for v, ok := range map[string]bool{
		"1.2.3":                             true,
		"0.1.0-dev.6415746":                 true,
		"2.0.0-beta.11":                     true,
		"1.4.0+build.7":                     true,
		"1.4.0-rc.1+linux.arm":              true,
		"v1.2.3":                            false, // releases are named without the v
		"1.2":                               false, // shorthand is fine in a flag rule, not as a release
		"1":                                 false,
		"1.2.3garbage":                      false,
		"1.2.3-":                            false,
		"1.2.3-beta..1":                     false,
		"01.2.3":                            false,
		"dev":                               false,
		"":                                  false,
		"1.2.3/../x":                        false,
		"1.2.3-" + string(make([]byte, 80)): false,
	} {
		if err := Validate(v); (err == nil) != ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}
