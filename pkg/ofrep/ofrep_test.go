package ofrep

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadContext(t *testing.T) {
	for _, tc := range []struct {
		name, body, code, tk string
	}{
		{"empty", "", "", ""},
		{"targeting key", `{"context":{"targetingKey":"u-1","tags":["a"]}}`, "", "u-1"},
		{"null context", `{"context":null}`, "", ""},
		{"not JSON", `{`, CodeParse, ""},
		{"a key twice", `{"context":{},"context":{"targetingKey":"x"}}`, CodeParse, ""},
		{"context not an object", `{"context":[1]}`, CodeInvalidContext, ""},
		{"targeting key not a string", `{"context":{"targetingKey":7}}`, CodeInvalidContext, ""},
		{"too large", `{"context":{"x":"` + strings.Repeat("a", MaxBody) + `"}}`, CodeParse, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadContext(httptest.NewRequest(http.MethodPost, PathBulk, strings.NewReader(tc.body)))
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && (err == nil || err.Code != tc.code):
				t.Fatalf("got %v, want %s", err, tc.code)
			case tc.code == "" && c.TargetingKey != tc.tk:
				t.Fatalf("targeting key %q", c.TargetingKey)
			}
		})
	}
	c, _ := ReadContext(httptest.NewRequest(http.MethodPost, PathBulk, strings.NewReader(`{"context":{"tags":["a","b",3],"os":"linux"}}`)))
	if strings.Join(c.Strings("tags"), ",") != "a,b" || c.String("os") != "linux" || c.Strings("os")[0] != "linux" {
		t.Fatalf("attributes: %v %q", c.Strings("tags"), c.String("os"))
	}
}

func TestETagMatches(t *testing.T) {
	for h, want := range map[string]bool{`"a"`: true, `W/"a"`: true, `"b", "a"`: true, `*`: true, `"b"`: false} {
		if ETagMatches(h, `"a"`) != want {
			t.Errorf("If-None-Match %s: %v", h, !want)
		}
	}
}

func FuzzReadContext(f *testing.F) {
	f.Add(`{"context":{"targetingKey":"u-1","tags":["a"]}}`)
	f.Add(`{"context":{"targetingKey":null}}`)
	f.Fuzz(func(t *testing.T, body string) {
		c, err := ReadContext(httptest.NewRequest(http.MethodPost, PathBulk, strings.NewReader(body)))
		if err == nil {
			_ = c.Strings("tags")
		} else if err.Code != CodeParse && err.Code != CodeInvalidContext {
			t.Fatalf("code %q", err.Code)
		}
	})
}
