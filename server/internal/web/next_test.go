package web

import (
	"slices"
	"testing"
)

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/machines", "/machines"},
		{"/e/KQ7X-M3PA", "/e/KQ7X-M3PA"},
		{"/machines?state=offline&per=500", "/machines?state=offline&per=500"},
		{"/machines?q=web+01", "/machines?q=web+01"},
		{"/machines/m-1", "/machines/m-1"},
		{"", ""},
		{"machines", ""},
		{"//evil.example", ""},
		{"/\\evil.example", ""},
		{"\\\\evil.example", ""},
		{"https://evil.example/", ""},
		{"javascript:alert(1)", ""},
		{"/%5Cevil.example", ""},               // once encoded
		{"/%255Cevil.example", ""},             // twice
		{"/%25255Cevil.example", ""},           // three times: the reported redirect
		{"/%2525255Cevil.example", ""},         // four
		{"/%252525255Cevil.example", ""},       // five: deeper than any link we make
		{"/%2Fevil.example", ""},               // "//evil.example" once decoded
		{"/%252Fevil.example", ""},             // twice
		{"/%09/evil.example", ""},              // a tab browsers strip
		{"/\t/evil.example", ""},               // raw
		{"/%0d%0aSet-Cookie:%20x=y", ""},       // header injection
		{"/%", ""},                             // not decodable
		{"/" + string(make([]byte, 3000)), ""}, // too long
		{"/a%20b", "/a%20b"},
		{"/machines?q=a%2Fb", "/machines?q=a%2Fb"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := safeNext(tc.in); got != tc.want {
				t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// The Releases page lists agent versions by semantic version, newest
// first: text order put 1.10.0 below 1.2.0 and a release candidate above
// its release.
func TestVersionsNewestFirst(t *testing.T) {
	got := versionsNewestFirst(map[string]int{"1.2.0-rc.1": 1, "1.2.0": 2, "1.10.0": 3, "1.0.0": 4, "0.9.5": 5, "dev": 6})
	var order []string
	for _, v := range got {
		order = append(order, v.Version)
	}
	want := []string{"1.10.0", "1.2.0", "1.2.0-rc.1", "1.0.0", "0.9.5", "dev"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}
